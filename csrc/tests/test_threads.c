/* A batch gives bit-identical results on any number of threads, and equals
 * the same images run one call at a time with their image indices. */
#include "check.h"
#include "nets.h"
#include "../src/internal.h"    /* the runner's team-or-alone choice */

#include <stdlib.h>
#include <string.h>

enum { N = 13, T = 20, NCP = 3, IN = 2 * 9 * 9, HID = 6 * 9 * 9, OUT = 10 };

/* A team whose steps often have no events at all (one neuron firing every
 * fourth step): members that run ahead into the next step must not disturb the
 * ones still reading this step's event counts. Run many times, as a race shows
 * only now and then (ThreadSanitizer sees it at once). */
static void test_team_with_quiet_steps(void)
{
    const float one = 1.0f, w_in = 0.25f, w_out = 1.0f, x = 1.0f;
    snn_population_desc pops[3];
    snn_projection_desc pj[2];
    snn_net_desc d;
    snn_run_config cfg = run_config(16, SNN_ENCODING_ANALOG);
    snn_net *net;
    float out[2];
    int i;
    pops[0] = pop_vector(SNN_KIND_INPUT, 1);
    pops[1] = pop_vector(SNN_KIND_IF, 1);
    pops[1].threshold = vec(&one, 1);
    pops[2] = pop_vector(SNN_KIND_ACCUMULATE, 1);
    pj[0] = proj(SNN_OP_DENSE, 0, 1, &w_in, 1);
    pj[1] = proj(SNN_OP_DENSE, 1, 2, &w_out, 1);
    d = net_desc(pops, 3, pj, 2, 2);
    net = snn_net_create(&d, NULL);
    CHECK(net != NULL);
    if (!net) return;
    for (i = 0; i < 300; i++) {
        CHECK_STATUS(snn_run_batch(net, &cfg, &x, 1, 0, out, NULL, NULL, 2, NULL), SNN_OK);
        CHECK(out[0] == 0.25f);   /* 4 spikes in 16 steps */
    }
    snn_net_free(net);
}

/* A junction fed twice by one population (a conv and an identity from the same
 * source into the same target), one image on teams of 2 and 3: the members must
 * meet before the second projection, whose work is split otherwise. */
static void test_team_with_a_junction_fed_twice(void)
{
    static float w[4 * 4 * 3 * 3], x[4 * 6 * 6], out[3][4 * 6 * 6];
    const float theta = 0.75f;
    snn_population_desc pops[3];
    snn_projection_desc pj[3];
    snn_net_desc d;
    snn_run_config cfg = run_config(12, SNN_ENCODING_POISSON);
    snn_net *net;
    int i, k;
    for (i = 0; i < 4 * 4 * 9; i++) w[i] = (float)(i % 7 - 3) / 8.0f;
    for (i = 0; i < 4 * 36; i++) x[i] = (float)(i % 5) / 4.0f;
    pops[0] = pop_input(4, 6, 6);
    pops[1] = pop_if(4, 6, 6, &theta, 1, SNN_RESET_SUBTRACT);
    pops[2] = pop_if(4, 6, 6, &theta, 1, SNN_RESET_SUBTRACT);
    pj[0] = proj_window(SNN_OP_CONV2D, 0, 1, w, 4 * 4 * 9, 3, 3, 1, 1);
    pj[1] = proj_window(SNN_OP_CONV2D, 1, 2, w, 4 * 4 * 9, 3, 3, 1, 1);
    pj[2] = proj(SNN_OP_IDENTITY, 1, 2, NULL, 0);
    d = net_desc(pops, 3, pj, 3, 2);
    net = snn_net_create(&d, NULL);
    CHECK(net != NULL);
    if (!net) return;
    for (k = 0; k < 3; k++)   /* one image on 1, 2 and 3 threads: alone, then in teams */
        CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out[k], NULL, NULL, k + 1, NULL), SNN_OK);
    CHECK(memcmp(out[0], out[1], 4 * 36 * sizeof(float)) == 0);
    CHECK(memcmp(out[0], out[2], 4 * 36 * sizeof(float)) == 0);
    for (i = 0; i < 50; i++) {
        CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out[1], NULL, NULL, 2, NULL), SNN_OK);
        CHECK(memcmp(out[0], out[1], 4 * 36 * sizeof(float)) == 0);
    }
    snn_net_free(net);
}

/* An average pool folded into its IF source's threshold pass (2x2 windows, 8
 * rows into 4), one image on 1, 2 and 3 threads: alone and on 2 members the
 * pass applies the pool, on 3 (bands of 2, 3 and 3 rows) the pool gathers.
 * Same bits, and under ThreadSanitizer no member writes another's rows. */
static void test_team_with_a_folded_pool(void)
{
    static float w[16 * 2 * 3 * 3], gain[16], fc[5 * 16 * 4 * 4], x[2 * 8 * 8];
    static float out[3][5];
    static int64_t synops[3][3], spikes[3][4];
    const float theta = 0.6f;
    snn_population_desc pops[4];
    snn_projection_desc pj[3];
    snn_net_desc d;
    snn_run_config cfg = run_config(25, SNN_ENCODING_ANALOG);
    snn_net *net;
    int i, k;
    for (i = 0; i < 16 * 2 * 9; i++) w[i] = (float)(i % 11 - 4) / 7.0f;
    for (i = 0; i < 16; i++) gain[i] = 0.3f + (float)i / 9.0f;
    for (i = 0; i < 5 * 256; i++) fc[i] = (float)(i % 13 - 6) / 11.0f;
    for (i = 0; i < 2 * 64; i++) x[i] = (float)(i % 9) / 5.0f - 0.4f;
    pops[0] = pop_input(2, 8, 8);
    pops[1] = pop_if(16, 8, 8, &theta, 1, SNN_RESET_SUBTRACT);
    pops[2] = pop_input(16, 4, 4);
    pops[2].kind = SNN_KIND_RELAY;
    pops[3] = pop_vector(SNN_KIND_ACCUMULATE, 5);
    pj[0] = proj_window(SNN_OP_CONV2D, 0, 1, w, 16 * 2 * 9, 3, 3, 1, 1);
    pj[1] = proj_window(SNN_OP_AVGPOOL2D, 1, 2, gain, 16, 2, 2, 2, 0);
    pj[2] = proj(SNN_OP_DENSE, 2, 3, fc, 5 * 256);
    d = net_desc(pops, 4, pj, 3, 3);
    net = snn_net_create(&d, NULL);
    CHECK(net != NULL);
    if (!net) return;
    for (k = 0; k < 3; k++)
        CHECK_STATUS(
            snn_run_batch(net, &cfg, x, 1, 0, out[k], spikes[k], synops[k], k + 1, NULL),
            SNN_OK);
    CHECK(synops[0][1] > 0);   /* the pool saw spikes */
    CHECK(spikes[0][1] > 0);
    for (k = 1; k < 3; k++) {
        CHECK(memcmp(out[0], out[k], sizeof out[0]) == 0);
        CHECK(memcmp(synops[0], synops[k], sizeof synops[0]) == 0);
        /* on 2 members the IF population only counts its spikes (the pool is
         * its one reader), each member's count summed after a later meeting */
        CHECK(memcmp(spikes[0], spikes[k], sizeof spikes[0]) == 0);
    }
    snn_net_free(net);
}

/* A runner (threads and states kept between runs) gives snn_run_batch's bits
 * run after run: whole images per thread, one image on a team, the two modes
 * in turn on the same runner, profiled; a failing run leaves it usable; bad
 * arguments are refused. Under ThreadSanitizer the hand-offs between runs are
 * checked too. */
static void test_runner(const snn_net *net, const snn_run_config *base, const float *x)
{
    static float want[N * NCP * OUT], got[N * NCP * OUT];
    static int64_t want_sp[N * NCP * 3], got_sp[N * NCP * 3], want_sy[N * NCP * 2],
        got_sy[N * NCP * 2];
    const int32_t threads[4] = {1, 2, 3, 5};
    snn_run_config cfg = *base;
    snn_error e;
    int k, rep;
    float bad[IN];
    CHECK(snn_runner_create(NULL, 2, &e) == NULL && e.status == SNN_E_INVALID_ARG);
    CHECK(snn_runner_create(net, 0, &e) == NULL && e.status == SNN_E_INVALID_ARG);
    CHECK(snn_runner_create(net, SNN_MAX_THREADS + 1, &e) == NULL &&
          e.status == SNN_E_INVALID_ARG);
    CHECK_STATUS(snn_runner_run(NULL, &cfg, x, 1, 0, got, NULL, NULL, &e), SNN_E_INVALID_ARG);
    CHECK(snn_runner_threads(NULL) == 0);
    CHECK_STATUS(snn_runner_set_team(NULL, SNN_TEAM_AUTO), SNN_E_INVALID_ARG);
    snn_runner_free(NULL);
    for (k = 0; k < 4; k++) {
        snn_runner *r = snn_runner_create(net, threads[k], &e);
        CHECK(r != NULL && snn_runner_threads(r) == threads[k]);
        if (!r) continue;
        CHECK_STATUS(snn_runner_set_team(r, 3), SNN_E_INVALID_ARG);
        CHECK_STATUS(snn_runner_set_team(r, -1), SNN_E_INVALID_ARG);
        for (rep = 0; rep < 9; rep++) {
            /* all N images, then N images one call at a time (a team from 2
             * threads on, or the caller alone), alternately, each against
             * snn_run_batch, under each team policy in turn (AUTO, the
             * default, first: its first runs alternate team and alone) */
            const int64_t n = rep % 2 ? 1 : N;
            const int32_t policy[3] = {SNN_TEAM_AUTO, SNN_TEAM_ALWAYS, SNN_TEAM_NEVER};
            int64_t i;
            if (rep % 3 == 0) CHECK_STATUS(snn_runner_set_team(r, policy[rep / 3]), SNN_OK);
            memset(got, 0xff, sizeof got);   /* a run that skips an image shows */
            memset(got_sp, 0xff, sizeof got_sp);
            memset(got_sy, 0xff, sizeof got_sy);
            for (i = 0; i < N; i += n) {
                int64_t profile[3 + 2];
                memset(profile, 0, sizeof profile);
                cfg.profile_ns = rep == 3 ? profile : NULL;
                CHECK_STATUS(snn_run_batch(net, &cfg, x + i * IN, n, 100 + i, want + i * NCP * OUT,
                                           want_sp + i * NCP * 3, want_sy + i * NCP * 2,
                                           threads[k], &e), SNN_OK);
                CHECK_STATUS(snn_runner_run(r, &cfg, x + i * IN, n, 100 + i, got + i * NCP * OUT,
                                            got_sp + i * NCP * 3, got_sy + i * NCP * 2, &e),
                             SNN_OK);
                if (rep == 3) CHECK(profile[3] > 0);
            }
            CHECK(memcmp(want, got, sizeof want) == 0);
            CHECK(memcmp(want_sp, got_sp, sizeof want_sp) == 0);
            CHECK(memcmp(want_sy, got_sy, sizeof want_sy) == 0);
        }
        /* a non-finite image is refused, and the runner works on after it */
        memcpy(bad, x, sizeof bad);
        bad[7] = 0.0f / 0.0f;
        CHECK_STATUS(snn_runner_run(r, &cfg, bad, 1, 0, got, NULL, NULL, &e), SNN_E_VALUE);
        CHECK_STATUS(snn_runner_run(r, &cfg, x, 0, 0, got, NULL, NULL, &e), SNN_OK);
        CHECK_STATUS(snn_runner_run(r, &cfg, x, 1, -1, got, NULL, NULL, &e), SNN_E_INVALID_ARG);
        CHECK_STATUS(snn_runner_run(r, &cfg, x, 2, 100, got, NULL, NULL, &e), SNN_OK);
        CHECK(memcmp(want, got, 2 * NCP * OUT * sizeof(float)) == 0);
        snn_runner_free(r);
    }
    /* snn_run_batch runs on SNN_MAX_THREADS threads when asked for more (here a
     * team of them on each image), on the caller alone when asked for fewer
     * than 1: the same bits */
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 2, 100, want, NULL, NULL, 1, &e), SNN_OK);
    for (k = 0; k < 2; k++) {
        const int32_t n_threads[2] = {SNN_MAX_THREADS + 1000, 0};
        memset(got, 0xff, sizeof got);
        CHECK_STATUS(snn_run_batch(net, &cfg, x, 2, 100, got, NULL, NULL, n_threads[k], &e),
                     SNN_OK);
        CHECK(memcmp(want, got, 2 * NCP * OUT * sizeof(float)) == 0);
    }
}

/* A comparison: SNN_CHOICE_PROBES runs of each way in turns (one thread
 * first), the team's taking `team` seconds per step (its second run
 * team_outlier), one thread's `alone`. */
static void compare_ways(snn__team_choice *c, double team, double alone, double team_outlier)
{
    int i;
    for (i = 0; i < 2 * SNN_CHOICE_PROBES; i++) {
        const int32_t way = snn__team_choice_next(c);
        CHECK(way == (i % 2 == 1));      /* alone, team, alone, ... */
        snn__team_choice_record(c, way, way ? (i == 3 ? team_outlier : team) : alone);
    }
}

/* `n` batches kept on `way` (next says so), each taking `seconds` per step. */
static void keep_way(snn__team_choice *c, int32_t way, int n, double seconds)
{
    int i;
    for (i = 0; i < n; i++) {
        CHECK(snn__team_choice_next(c) == way);
        snn__team_choice_record(c, way, seconds);
    }
}

/* SNN_TEAM_AUTO's choice between a team and the caller alone: the first runs
 * alternate (one thread first) until each way has SNN_CHOICE_PROBES times; the way in
 * use changes only if the other's median is smaller by SNN_CHOICE_MARGIN; it
 * runs the next SNN_CHOICE_KEEP batches (whose times do not count unless a team
 * run is slower than SNN_CHOICE_BAIL times one thread), then the two are
 * compared again; an outlier does not decide; each time the team loses, the
 * batches kept double. */
static void test_team_choice(void)
{
    snn__team_choice c;
    int i;
    snn__team_choice_init(&c);
    /* team 3 us per step with one 11 us outlier (within SNN_CHOICE_BAIL x 4 us),
     * alone 4 us: the team stays */
    compare_ways(&c, 3e-6, 4e-6, 11e-6);
    keep_way(&c, 1, SNN_CHOICE_KEEP, 11e-6);    /* slower, within SNN_CHOICE_BAIL x 4 us */
    /* the next comparison: one thread 2 % faster, within the margin: the team stays */
    compare_ways(&c, 4.08e-6, 4e-6, 4.08e-6);
    keep_way(&c, 1, SNN_CHOICE_KEEP, 3e-6);
    /* then the team has become slower than one thread: alone for twice as long */
    compare_ways(&c, 7e-6, 4e-6, 7e-6);
    keep_way(&c, 0, 2 * SNN_CHOICE_KEEP, 4e-6);
    /* compared again, team first; the team 2 % faster is not enough to go back */
    compare_ways(&c, 3.92e-6, 4e-6, 3.92e-6);
    keep_way(&c, 0, 4 * SNN_CHOICE_KEEP, 1.0);
    compare_ways(&c, 3e-6, 4e-6, 3e-6);             /* 25 % faster: back to the team */
    CHECK(snn__team_choice_next(&c) == 1);
    /* a kept team run slower than SNN_CHOICE_BAIL x 4 us gives the team up at once */
    keep_way(&c, 1, 10, 3e-6);
    snn__team_choice_record(&c, 1, 13e-6);
    keep_way(&c, 0, 2 * SNN_CHOICE_KEEP, 4e-6);
    /* so does a slowed team probe, the comparison's first team run; the batches
     * kept double each time, up to SNN_CHOICE_KEEP_MAX */
    for (i = 4; i <= 2 * SNN_CHOICE_KEEP_MAX / SNN_CHOICE_KEEP; i *= 2) {
        const int keep = i * SNN_CHOICE_KEEP < SNN_CHOICE_KEEP_MAX ? i * SNN_CHOICE_KEEP
                                                                   : SNN_CHOICE_KEEP_MAX;
        CHECK(snn__team_choice_next(&c) == 0);
        snn__team_choice_record(&c, 0, 4e-6);
        CHECK(snn__team_choice_next(&c) == 1);
        snn__team_choice_record(&c, 1, 20e-6);
        keep_way(&c, 0, keep, 4e-6);
    }
    compare_ways(&c, 3e-6, 4e-6, 3e-6);             /* the load is gone: the team again */
    keep_way(&c, 1, SNN_CHOICE_KEEP, 3e-6);
    /* a new choice judges its first team run by the run alone before it */
    snn__team_choice_init(&c);
    CHECK(snn__team_choice_next(&c) == 0);
    snn__team_choice_record(&c, 0, 4e-6);
    CHECK(snn__team_choice_next(&c) == 1);
    snn__team_choice_record(&c, 1, 500e-6);
    keep_way(&c, 0, 2 * SNN_CHOICE_KEEP, 4e-6);
}

/* An allocator that refuses the `states_left`-th and later states of
 * `state_bytes` bytes (when states_left >= 0). */
static size_t state_bytes;
static int states_left = -1;

static void *refusing_alloc(void *opaque, size_t n)
{
    (void)opaque;
    if (n == state_bytes && states_left >= 0) {
        if (states_left == 0) return NULL;
        states_left--;
    }
    return malloc(n);
}

static void plain_free(void *opaque, void *p)
{
    (void)opaque;
    free(p);
}

/* A runner whose states cannot all be made fails that run with SNN_E_NOMEM,
 * keeps no half-made set, and runs once memory is there again. */
static void test_runner_out_of_memory(snn_net_desc d, const snn_run_config *cfg, const float *x)
{
    static float want[3 * NCP * OUT], got[3 * NCP * OUT];
    snn_allocator a;
    snn_runner *r;
    snn_net *net;
    snn_error e;
    a.alloc = refusing_alloc;
    a.free = plain_free;
    a.opaque = NULL;
    d.allocator = &a;
    d.isa = SNN_ISA_AUTO;
    net = snn_net_create(&d, &e);
    CHECK(net != NULL);
    if (!net) return;
    state_bytes = snn_state_size(net);
    r = snn_runner_create(net, 3, &e);
    CHECK(r != NULL);
    if (r) {
        states_left = 1;     /* the second of three states fails */
        CHECK_STATUS(snn_runner_run(r, cfg, x, 3, 0, got, NULL, NULL, &e), SNN_E_NOMEM);
        states_left = -1;
        CHECK_STATUS(snn_runner_run(r, cfg, x, 3, 0, got, NULL, NULL, &e), SNN_OK);
        CHECK_STATUS(snn_run_batch(net, cfg, x, 3, 0, want, NULL, NULL, 3, &e), SNN_OK);
        CHECK(memcmp(want, got, sizeof want) == 0);
        snn_runner_free(r);
    }
    snn_net_free(net);
}

int main(void)
{
    static float x[N * IN], w1[6 * 2 * 3 * 3], w2[OUT * HID];
    static float out[4][N * NCP * OUT];
    static int64_t spikes[4][N * NCP * 3], synops[4][N * NCP * 2];
    const float theta = 1.0f;
    const int32_t cps[NCP] = {5, 10, 20};
    const int32_t threads[4] = {1, 2, 3, 8};
    snn_population_desc pops[3];
    snn_projection_desc pj[2];
    snn_net_desc d;
    snn_run_config cfg = run_config(T, SNN_ENCODING_POISSON);
    snn_net *net;
    snn_error e;
    int i, k, enc;

    srand(3);
    for (i = 0; i < N * IN; i++) x[i] = (float)(rand() % 100) / 100.0f;
    for (i = 0; i < 6 * 2 * 9; i++) w1[i] = (float)(rand() % 200 - 80) / 100.0f;
    for (i = 0; i < OUT * HID; i++) w2[i] = (float)(rand() % 200 - 100) / 1000.0f;
    pops[0] = pop_input(2, 9, 9);
    pops[1] = pop_if(6, 9, 9, &theta, 1, SNN_RESET_SUBTRACT);
    pops[2] = pop_vector(SNN_KIND_ACCUMULATE, OUT);
    pj[0] = proj_window(SNN_OP_CONV2D, 0, 1, w1, 6 * 2 * 9, 3, 3, 1, 1);
    pj[1] = proj(SNN_OP_DENSE, 1, 2, w2, OUT * HID);
    d = net_desc(pops, 3, pj, 2, 2);
    net = snn_net_create(&d, &e);
    CHECK(net != NULL);
    if (!net) CHECK_DONE();
    cfg.checkpoints = cps;
    cfg.n_checkpoints = NCP;
    cfg.seed = 12345;

    for (enc = 0; enc < 3; enc++) {
        cfg.encoding = enc;
        for (k = 0; k < 4; k++)
            CHECK_STATUS(snn_run_batch(net, &cfg, x, N, 100, out[k], spikes[k], synops[k],
                                       threads[k], &e), SNN_OK);
        for (k = 1; k < 4; k++) {
            CHECK(memcmp(out[0], out[k], sizeof out[0]) == 0);
            CHECK(memcmp(spikes[0], spikes[k], sizeof spikes[0]) == 0);
            CHECK(memcmp(synops[0], synops[k], sizeof synops[0]) == 0);
        }
        /* image by image, with the same image indices */
        for (i = 0; i < N; i++)
            CHECK_STATUS(snn_run_batch(net, &cfg, x + i * IN, 1, 100 + i, out[1] + i * NCP * OUT,
                                       spikes[1] + i * NCP * 3, synops[1] + i * NCP * 2, 1, &e),
                         SNN_OK);
        CHECK(memcmp(out[0], out[1], sizeof out[0]) == 0);
        CHECK(memcmp(spikes[0], spikes[1], sizeof spikes[0]) == 0);
        CHECK(spikes[0][1] > 0);  /* the hidden layer is active */

        /* one image on a team of 2 or 5 threads (team.c), profiled: the same */
        {
            int64_t profile[3 + 2];
            memset(profile, 0, sizeof profile);
            cfg.profile_ns = profile;
            for (i = 0; i < N; i++)
                CHECK_STATUS(snn_run_batch(net, &cfg, x + i * IN, 1, 100 + i,
                                           out[3] + i * NCP * OUT, spikes[3] + i * NCP * 3,
                                           synops[3] + i * NCP * 2, i % 2 ? 2 : 5, &e),
                             SNN_OK);
            cfg.profile_ns = NULL;
            CHECK(memcmp(out[0], out[3], sizeof out[0]) == 0);
            CHECK(memcmp(spikes[0], spikes[3], sizeof spikes[0]) == 0);
            CHECK(memcmp(synops[0], synops[3], sizeof synops[0]) == 0);
            CHECK(profile[3] > 0 && profile[4] > 0);  /* both projections were timed */
        }

        /* the generic kernels give the same bits as the ones picked for this CPU */
        {
            snn_net *generic;
            d.isa = SNN_ISA_GENERIC;
            generic = snn_net_create(&d, &e);
            d.isa = SNN_ISA_AUTO;
            CHECK(generic != NULL && snn_net_isa(generic) == SNN_ISA_GENERIC);
            if (generic) {
                CHECK_STATUS(snn_run_batch(generic, &cfg, x, N, 100, out[2], spikes[2], synops[2],
                                           2, &e), SNN_OK);
                CHECK(memcmp(out[0], out[2], sizeof out[0]) == 0);
                CHECK(memcmp(spikes[0], spikes[2], sizeof spikes[0]) == 0);
                snn_net_free(generic);
            }
        }
    }
    printf("kernels picked for this CPU: %s\n",
           snn_net_isa(net) == SNN_ISA_AVX512 ? "avx512"
           : snn_net_isa(net) == SNN_ISA_AVX2 ? "avx2" : "generic");
    d.isa = 7;
    CHECK(snn_net_create(&d, &e) == NULL && e.status == SNN_E_UNSUPPORTED);
    cfg.encoding = SNN_ENCODING_POISSON;
    test_runner(net, &cfg, x);
    test_team_choice();
    test_runner_out_of_memory(d, &cfg, x);
    snn_net_free(net);
    test_team_with_quiet_steps();
    test_team_with_a_junction_fed_twice();
    test_team_with_a_folded_pool();
    CHECK_DONE();
}
