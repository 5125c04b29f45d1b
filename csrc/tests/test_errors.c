/* Every way to hand the core a bad network or a bad run gets a named status. */
#include "check.h"
#include "nets.h"

#include <math.h>
#include <string.h>

static const float ONE = 1.0f;

/* input [2] -dense-> IF [2]: a valid starting point that each case breaks once. */
typedef struct fixture {
    snn_population_desc pops[3];
    snn_projection_desc projs[2];
    float w[4];
    snn_net_desc desc;
} fixture;

static void fixture_init(fixture *f)
{
    memset(f, 0, sizeof *f);
    f->w[0] = 1; f->w[1] = 0; f->w[2] = 0; f->w[3] = 1;
    f->pops[0] = pop_vector(SNN_KIND_INPUT, 2);
    f->pops[1] = pop_vector(SNN_KIND_IF, 2);
    f->pops[1].threshold = vec(&ONE, 1);
    f->projs[0] = proj(SNN_OP_DENSE, 0, 1, f->w, 4);
    f->desc = net_desc(f->pops, 2, f->projs, 1, 1);
}

static int create_status(const snn_net_desc *d, snn_error *e)
{
    snn_net *net = snn_net_create(d, e);
    int st = net ? SNN_OK : e->status;
    snn_net_free(net);
    return st;
}

static void test_null_arguments(void)
{
    snn_error e;
    int st = -1;
    snn_net_free(NULL);
    snn_state_free(NULL);
    CHECK(snn_net_create(NULL, &e) == NULL && e.status == SNN_E_INVALID_ARG);
    CHECK(snn_net_create(NULL, NULL) == NULL);
    CHECK(snn_state_create(NULL, &st) == NULL && st == SNN_E_INVALID_ARG);
    CHECK(snn_state_init_static(NULL, NULL, 0, &st) == NULL && st == SNN_E_INVALID_ARG);
    CHECK_STATUS(snn_state_step(NULL, 1), SNN_E_INVALID_ARG);
    CHECK_STATUS(snn_state_read_output(NULL, NULL, 0), SNN_E_INVALID_ARG);
    CHECK_STATUS(snn_run_batch(NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, 1, NULL), SNN_E_INVALID_ARG);
    CHECK(snn_net_population_size(NULL, 0) == -1);
    CHECK(strcmp(snn_strerror(SNN_OK), "no error") == 0);
    CHECK(strcmp(snn_strerror(-5), "unknown status") == 0);
    CHECK(strcmp(snn_strerror(SNN_STATUS_COUNT), "unknown status") == 0);
    CHECK(strcmp(snn_version_string(), SNN_VERSION_STRING) == 0);
}

static void test_bad_networks(void)
{
    fixture f;
    snn_error e;
    float bad;

    fixture_init(&f);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_OK);

    fixture_init(&f); bad = 0.0f; f.pops[1].threshold.data = &bad;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_VALUE);
    CHECK(e.population == 1 && e.projection == -1);

    fixture_init(&f); bad = -1.0f; f.pops[1].threshold.data = &bad;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_VALUE);

    fixture_init(&f); f.w[2] = NAN;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_VALUE);
    CHECK(e.projection == 0 && e.population == -1);

    fixture_init(&f); f.w[1] = INFINITY;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_VALUE);

    fixture_init(&f); f.projs[0].weight = vec(f.w, 3);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_SHAPE);

    fixture_init(&f); f.projs[0].groups = 2;     /* groups on a dense projection */
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_INVALID_ARG);
    CHECK(e.projection == 0 && strstr(e.message, "groups") != NULL);

    /* a depthwise 1x1 conv of 2 channels (weight (2, 1, 1, 1)) builds with groups 2
     * (and 0, "ordinary", refuses its weight); negative groups are refused */
    fixture_init(&f);
    f.pops[0] = pop_input(2, 1, 1);
    f.pops[1] = pop_if(2, 1, 1, &ONE, 1, SNN_RESET_SUBTRACT);
    f.projs[0] = proj_window(SNN_OP_CONV2D, 0, 1, f.w, 2, 1, 1, 1, 0);
    f.projs[0].weight.ndim = 4;
    f.projs[0].weight.shape[0] = 2;
    f.projs[0].weight.shape[1] = f.projs[0].weight.shape[2] = f.projs[0].weight.shape[3] = 1;
    f.projs[0].groups = 2;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_OK);
    f.projs[0].groups = 0;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_SHAPE);
    f.projs[0].groups = -2;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_SHAPE);
    CHECK(e.projection == 0 && strstr(e.message, "groups -2") != NULL);

    fixture_init(&f); f.projs[0].op = 42;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_UNSUPPORTED);

    fixture_init(&f); f.pops[1].kind = 9;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_UNSUPPORTED);

    fixture_init(&f); f.pops[1].reset = 7;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_UNSUPPORTED);

    fixture_init(&f); f.pops[1].v_init = 2.0f;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_VALUE);

    fixture_init(&f); f.projs[0].target = 5;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_GRAPH);

    fixture_init(&f); f.projs[0].target = 0;   /* into the input */
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_GRAPH);

    fixture_init(&f); f.pops[1].kind = SNN_KIND_INPUT; f.pops[1].threshold = vec(NULL, 0);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_GRAPH);  /* two inputs */

    fixture_init(&f); f.pops[1].kind = SNN_KIND_RELAY; f.pops[1].threshold = vec(NULL, 0);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_GRAPH);  /* relay output */

    fixture_init(&f); f.pops[1].shape[0] = (int64_t)1 << 40;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_LIMIT);

    fixture_init(&f); f.pops[1].ndim = 2;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_SHAPE);

    /* a 3-D population of 2^24 x 2^24 x 2^24 must not overflow the size check */
    fixture_init(&f);
    f.pops[1] = pop_if((int64_t)1 << 24, (int64_t)1 << 24, (int64_t)1 << 24, &ONE, 1, 0);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_LIMIT);

    /* dense weights larger than the memory limit, declared but never allocated */
    fixture_init(&f);
    f.pops[0] = pop_vector(SNN_KIND_INPUT, (int64_t)1 << 24);
    f.pops[1] = pop_vector(SNN_KIND_IF, (int64_t)1 << 24);
    f.pops[1].threshold = vec(&ONE, 1);
    f.projs[0].weight.data = NULL;
    f.projs[0].weight.ndim = 2;
    f.projs[0].weight.shape[0] = f.projs[0].weight.shape[1] = (int64_t)1 << 24;
    CHECK_STATUS(snn_net_check(&f.desc, NULL, &e), SNN_E_LIMIT);
    CHECK(e.projection == 0);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_INVALID_ARG);   /* no data */

    /* a cycle: IF a <-> IF b */
    fixture_init(&f);
    f.pops[2] = f.pops[1];
    f.projs[0] = proj(SNN_OP_IDENTITY, 1, 2, NULL, 0);
    f.projs[1] = proj(SNN_OP_IDENTITY, 2, 1, NULL, 0);
    f.desc = net_desc(f.pops, 3, f.projs, 2, 1);
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_GRAPH);
    CHECK(e.population == 1);

    /* a conv whose target shape is wrong */
    fixture_init(&f);
    f.pops[0] = pop_input(1, 4, 4);
    f.pops[1] = pop_if(1, 3, 3, &ONE, 1, 0);
    f.projs[0] = proj_window(SNN_OP_CONV2D, 0, 1, f.w, 4, 2, 2, 1, 1);
    f.desc = net_desc(f.pops, 2, f.projs, 1, 1);   /* the weight as (1, 1, 2, 2) */
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_SHAPE);
    f.pops[1].shape[1] = f.pops[1].shape[2] = 5;
    CHECK_STATUS(create_status(&f.desc, &e), SNN_OK);
    f.projs[0].padding[0] = 2;  /* padding >= kernel */
    CHECK_STATUS(create_status(&f.desc, &e), SNN_E_SHAPE);
}

static void test_bad_runs(void)
{
    fixture f;
    snn_error e;
    snn_net *net;
    snn_state *s;
    snn_run_config cfg = run_config(4, SNN_ENCODING_ANALOG);
    float x[2] = {0.5f, 0.25f}, out[8];
    int32_t cps[2] = {3, 2};
    int st;
    unsigned char small[16];

    fixture_init(&f);
    net = snn_net_create(&f.desc, &e);
    CHECK(net != NULL);
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_OK);

    cfg.timesteps = 0;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_E_INVALID_ARG);
    cfg = run_config(4, 7);
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_E_UNSUPPORTED);
    cfg = run_config(4, SNN_ENCODING_POISSON);
    cfg.rate = 0.0;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_E_INVALID_ARG);
    cfg.rate = NAN;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_E_INVALID_ARG);
    cfg = run_config(4, SNN_ENCODING_ANALOG);
    cfg.checkpoints = cps;
    cfg.n_checkpoints = 2;   /* not increasing */
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_E_INVALID_ARG);
    cps[0] = 2; cps[1] = 5;  /* beyond T */
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, &e), SNN_E_INVALID_ARG);
    cfg = run_config(4, SNN_ENCODING_ANALOG);
    x[1] = NAN;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 2, &e), SNN_E_VALUE);
    CHECK(strstr(e.message, "image 0") != NULL);
    x[1] = 0.25f;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, -1, 0, out, NULL, NULL, 1, &e), SNN_E_INVALID_ARG);
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 0, 0, out, NULL, NULL, 1, &e), SNN_OK);

    /* capacities */
    CHECK(snn_state_init_static(net, small, sizeof small, &st) == NULL && st == SNN_E_CAPACITY);
    s = snn_state_create(net, &st);
    CHECK(s != NULL);
    CHECK_STATUS(snn_state_reset(s, &cfg, x, 0), SNN_OK);
    CHECK_STATUS(snn_state_read_output(s, out, 2), SNN_E_INVALID_ARG);  /* time 0: nothing yet */
    CHECK_STATUS(snn_state_step(s, 1), SNN_OK);
    CHECK_STATUS(snn_state_read_output(s, out, 1), SNN_E_CAPACITY);
    CHECK_STATUS(snn_state_read_output(s, out, 2), SNN_OK);
    CHECK_STATUS(snn_state_step(s, -1), SNN_E_INVALID_ARG);
    CHECK_STATUS(snn_state_reset(s, &cfg, x, -1), SNN_E_INVALID_ARG);
    {
        int64_t counters[1];
        CHECK_STATUS(snn_state_read_counters(s, counters, 1, counters, 0), SNN_E_CAPACITY);
    }
    snn_state_free(s);
    snn_net_free(net);
}

int main(void)
{
    test_null_arguments();
    test_bad_networks();
    test_bad_runs();
    CHECK_DONE();
}
