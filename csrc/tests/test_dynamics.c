/* The neuron and op semantics of docs/format.md, on networks small enough to
 * reason about by hand. Every value is dyadic, so every sum is exact. */
#include "check.h"
#include "nets.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static snn_net *make(const snn_net_desc *d)
{
    snn_error e;
    snn_net *net = snn_net_create(d, &e);
    if (net == NULL) fprintf(stderr, "snn_net_create: %s\n", e.message);
    return net;
}

/* input [1] -dense w-> IF [1] (output): spike counts for a constant current. */
static void if_counts(float w, float theta, int32_t reset, float v_init, int32_t T,
                      float *rate_out)
{
    snn_population_desc pops[2] = {pop_vector(SNN_KIND_INPUT, 1), pop_vector(SNN_KIND_IF, 1)};
    snn_projection_desc pj = proj(SNN_OP_DENSE, 0, 1, &w, 1);
    snn_net_desc d = net_desc(pops, 2, &pj, 1, 1);
    snn_run_config cfg = run_config(T, SNN_ENCODING_ANALOG);
    snn_net *net;
    float x = 1.0f;
    pops[1].threshold = vec(&theta, 1);
    pops[1].reset = reset;
    pops[1].v_init = v_init;
    net = make(&d);
    CHECK(net != NULL);
    if (!net) return;
    CHECK_STATUS(snn_run_batch(net, &cfg, &x, 1, 0, rate_out, NULL, NULL, 1, NULL), SNN_OK);
    snn_net_free(net);
}

static void test_integrate_and_fire(void)
{
    float r;
    if_counts(0.25f, 1.0f, SNN_RESET_SUBTRACT, 0.0f, 16, &r);
    CHECK(r == 0.25f);                          /* spikes at steps 4, 8, 12, 16 */
    if_counts(0.375f, 1.0f, SNN_RESET_SUBTRACT, 0.0f, 8, &r);
    CHECK(r == 3.0f / 8.0f);                    /* 3 spikes: subtraction keeps the remainder */
    if_counts(0.375f, 1.0f, SNN_RESET_ZERO, 0.0f, 8, &r);
    CHECK(r == 2.0f / 8.0f);                    /* reset to zero loses it: 2 spikes */
    if_counts(0.25f, 1.0f, SNN_RESET_SUBTRACT, 0.5f, 2, &r);
    CHECK(r == 0.5f);                           /* half-threshold start fires at step 2 */
    if_counts(2.0f, 1.0f, SNN_RESET_SUBTRACT, 0.0f, 4, &r);
    CHECK(r == 1.0f);                           /* at most one spike per step */
}

/* Signed neuron, theta 1, theta_n 1/alpha = 8: the signed rate is leaky-ReLU. */
static void test_signed_neuron(void)
{
    const float theta = 1.0f, theta_neg = 8.0f;
    const float inputs[4] = {0.5f, 0.25f, -0.5f, -1.0f};
    const float expect[4] = {0.5f, 0.25f, -0.0625f, -0.125f};
    snn_population_desc pops[2] = {pop_vector(SNN_KIND_INPUT, 4), pop_vector(SNN_KIND_IF, 4)};
    snn_projection_desc pj = proj(SNN_OP_IDENTITY, 0, 1, NULL, 0);
    snn_net_desc d = net_desc(pops, 2, &pj, 1, 1);
    snn_run_config cfg = run_config(1024, SNN_ENCODING_ANALOG);
    float out[4];
    int k;
    snn_net *net;
    pops[1].threshold = vec(&theta, 1);
    pops[1].is_signed = 1;
    pops[1].threshold_neg = vec(&theta_neg, 1);
    net = make(&d);
    CHECK(net != NULL);
    if (!net) return;
    CHECK_STATUS(snn_run_batch(net, &cfg, inputs, 1, 0, out, NULL, NULL, 1, NULL), SNN_OK);
    for (k = 0; k < 4; k++) CHECK(fabsf(out[k] - expect[k]) <= 1.0f / 1024.0f);
    snn_net_free(net);
}

/* Conv (stride 2, padding 1, 3x2 kernel) then 2x2 avg pool into an accumulator:
 * after one analog step the output is the ANN's forward pass, checked against
 * direct loops. */
static void test_conv_pool_against_loops(void)
{
    enum { CI = 2, H = 7, W = 6, CO = 3, KH = 3, KW = 2, S = 2, P = 1 };
    const int OH = (H + 2 * P - KH) / S + 1, OW = (W + 2 * P - KW) / S + 1;
    const int PH = OH / 2, PW = OW / 2;
    float x[CI * H * W], w[CO * CI * KH * KW], conv[CO * 4 * 4], expect[CO * 4 * 4], out[CO * 4 * 4];
    float bias[CO] = {0.5f, -0.25f, 0.125f};
    snn_population_desc pops[3];
    snn_projection_desc pj[2];
    snn_net_desc d;
    snn_run_config cfg = run_config(1, SNN_ENCODING_ANALOG);
    snn_net *net;
    int i, co, ci, oy, ox, ky, kx;
    srand(7);
    for (i = 0; i < CI * H * W; i++) x[i] = (float)(rand() % 9 - 4) / 8.0f;
    for (i = 0; i < CO * CI * KH * KW; i++) w[i] = (float)(rand() % 17 - 8) / 16.0f;
    for (co = 0; co < CO; co++)
        for (oy = 0; oy < OH; oy++)
            for (ox = 0; ox < OW; ox++) {
                float acc = 0.0f;
                for (ci = 0; ci < CI; ci++)
                    for (ky = 0; ky < KH; ky++)
                        for (kx = 0; kx < KW; kx++) {
                            int y = oy * S - P + ky, xx = ox * S - P + kx;
                            if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
                            acc += x[(ci * H + y) * W + xx] * w[((co * CI + ci) * KH + ky) * KW + kx];
                        }
                conv[(co * OH + oy) * OW + ox] = acc;
            }
    for (co = 0; co < CO; co++)
        for (oy = 0; oy < PH; oy++)
            for (ox = 0; ox < PW; ox++) {
                float acc = 0.0f;
                for (ky = 0; ky < 2; ky++)
                    for (kx = 0; kx < 2; kx++) acc += conv[(co * OH + 2 * oy + ky) * OW + 2 * ox + kx];
                expect[(co * PH + oy) * PW + ox] = acc / 4.0f + bias[co];
            }
    pops[0] = pop_input(CI, H, W);
    pops[1] = pop_input(CO, OH, OW);
    pops[1].kind = SNN_KIND_RELAY;
    pops[2] = pop_input(CO, PH, PW);
    pops[2].kind = SNN_KIND_ACCUMULATE;
    pops[2].bias = vec(bias, CO);
    pj[0] = proj_window(SNN_OP_CONV2D, 0, 1, w, CO * CI * KH * KW, KH, KW, S, P);
    pj[1] = proj_window(SNN_OP_AVGPOOL2D, 1, 2, NULL, 0, 2, 2, 2, 0);
    d = net_desc(pops, 3, pj, 2, 2);
    net = make(&d);
    CHECK(net != NULL);
    if (!net) return;
    CHECK(snn_net_output_size(net) == CO * PH * PW);
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, NULL), SNN_OK);
    for (i = 0; i < CO * PH * PW; i++) CHECK(out[i] == expect[i]);
    snn_net_free(net);
}

/* A small conv net with every kind; used by the chunking, reset and workspace tests. */
typedef struct small_net {
    float w1[4 * 1 * 3 * 3], w2[3 * 4 * 2 * 2], theta[4], bias[3];
    snn_population_desc pops[5];
    snn_projection_desc projs[5];
    snn_net_desc desc;
} small_net;

static void small_net_init(small_net *m)
{
    int i;
    srand(11);
    for (i = 0; i < 36; i++) m->w1[i] = (float)(rand() % 9 - 2) / 8.0f;
    for (i = 0; i < 48; i++) m->w2[i] = (float)(rand() % 9 - 4) / 4.0f;
    for (i = 0; i < 4; i++) m->theta[i] = 0.5f + 0.25f * (float)i;
    for (i = 0; i < 3; i++) m->bias[i] = 0.0625f * (float)i;
    m->pops[0] = pop_input(1, 8, 8);
    m->pops[1] = pop_if(4, 8, 8, m->theta, 4, SNN_RESET_SUBTRACT);
    m->pops[1].v_init = 0.5f;
    m->pops[2] = pop_input(4, 4, 4);
    m->pops[2].kind = SNN_KIND_RELAY;
    m->pops[3] = pop_if(3, 3, 3, m->theta, 1, SNN_RESET_ZERO);
    m->pops[3].bias = vec(m->bias, 3);
    m->pops[4] = pop_vector(SNN_KIND_ACCUMULATE, 27);
    m->projs[0] = proj_window(SNN_OP_CONV2D, 0, 1, m->w1, 36, 3, 3, 1, 1);
    m->projs[1] = proj_window(SNN_OP_AVGPOOL2D, 1, 2, NULL, 0, 2, 2, 2, 0);
    m->projs[2] = proj_window(SNN_OP_CONV2D, 2, 3, m->w2, 48, 2, 2, 1, 0);
    m->projs[3] = proj(SNN_OP_DENSE, 3, 4, NULL, 27 * 27);
    m->projs[4] = proj(SNN_OP_IDENTITY, 1, 1, NULL, 0);  /* replaced below */
    m->desc = net_desc(m->pops, 5, m->projs, 4, 4);
}

static float dense_w[27 * 27];

static void test_chunks_reset_workspace(void)
{
    small_net m;
    snn_net *net;
    snn_state *a, *b, *c;
    snn_run_config cfg = run_config(8, SNN_ENCODING_POISSON);
    float x1[64], x2[64], out_a[27], out_b[27];
    int64_t sp_a[5], sp_b[5], so_a[4], so_b[4];
    unsigned char *ws;
    int i, st;
    small_net_init(&m);
    for (i = 0; i < 27 * 27; i++) dense_w[i] = (float)(i % 7 - 3) / 8.0f;
    m.projs[3].weight.data = dense_w;
    for (i = 0; i < 64; i++) { x1[i] = (float)(i % 5) / 4.0f; x2[i] = (float)((i * 3) % 5) / 4.0f; }
    net = make(&m.desc);
    CHECK(net != NULL);
    if (!net) return;
    cfg.seed = 99;

    /* stepping 3 then 5 equals stepping 8 */
    a = snn_state_create(net, &st);
    b = snn_state_create(net, &st);
    CHECK(a && b);
    CHECK_STATUS(snn_state_reset(a, &cfg, x1, 5), SNN_OK);
    CHECK_STATUS(snn_state_step(a, 8), SNN_OK);
    CHECK_STATUS(snn_state_reset(b, &cfg, x1, 5), SNN_OK);
    CHECK_STATUS(snn_state_step(b, 3), SNN_OK);
    CHECK_STATUS(snn_state_step(b, 0), SNN_OK);
    CHECK_STATUS(snn_state_step(b, 5), SNN_OK);
    CHECK(snn_state_time(b) == 8);
    snn_state_read_output(a, out_a, 27);
    snn_state_read_output(b, out_b, 27);
    snn_state_read_counters(a, sp_a, 5, so_a, 4);
    snn_state_read_counters(b, sp_b, 5, so_b, 4);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0);
    CHECK(memcmp(sp_a, sp_b, sizeof sp_a) == 0 && memcmp(so_a, so_b, sizeof so_a) == 0);
    CHECK(sp_a[0] > 0 && sp_a[1] > 0 && so_a[3] > 0);

    /* a used state, reset, equals a fresh one */
    CHECK_STATUS(snn_state_reset(b, &cfg, x2, 1), SNN_OK);
    CHECK_STATUS(snn_state_step(b, 8), SNN_OK);
    CHECK_STATUS(snn_state_reset(b, &cfg, x1, 5), SNN_OK);
    CHECK_STATUS(snn_state_step(b, 8), SNN_OK);
    snn_state_read_output(b, out_b, 27);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0);

    /* a caller-provided, misaligned workspace behaves the same and allocates nothing */
    ws = malloc(snn_state_size(net) + 3);
    c = snn_state_init_static(net, ws + 3, snn_state_size(net), &st);
    CHECK(c != NULL && st == SNN_OK);
    CHECK_STATUS(snn_run_image(c, &cfg, x1, 5, out_b, sp_b, so_b), SNN_OK);
    CHECK(memcmp(out_a, out_b, sizeof out_a) == 0);
    snn_state_free(c);  /* a no-op for a static state */
    free(ws);

    /* a different image index changes the poisson input */
    CHECK_STATUS(snn_state_reset(b, &cfg, x1, 6), SNN_OK);
    CHECK_STATUS(snn_state_step(b, 8), SNN_OK);
    snn_state_read_counters(b, sp_b, 5, NULL, 0);
    CHECK(sp_b[0] != sp_a[0] || memcmp(out_a, out_b, sizeof out_a) != 0);

    snn_state_free(a);
    snn_state_free(b);
    snn_net_free(net);
}

/* Every allocation goes through the allocator, and every one is returned. The
 * counters are atomic: snn_run_batch allocates from its worker threads. */
static long live_blocks = 0, total_blocks = 0;
static void *counting_alloc(void *opaque, size_t n)
{
    (void)opaque;
    __atomic_add_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&total_blocks, 1, __ATOMIC_RELAXED);
    return malloc(n);
}
static void counting_free(void *opaque, void *p)
{
    (void)opaque;
    if (p) __atomic_sub_fetch(&live_blocks, 1, __ATOMIC_RELAXED);
    free(p);
}

static void test_allocator(void)
{
    small_net m;
    snn_allocator a;
    snn_net *net;
    snn_run_config cfg = run_config(4, SNN_ENCODING_REGULAR);
    float x[2 * 64], out[2 * 27];
    int i;
    small_net_init(&m);
    m.projs[3].weight.data = dense_w;
    a.alloc = counting_alloc; a.free = counting_free; a.opaque = NULL;
    m.desc.allocator = &a;
    for (i = 0; i < 128; i++) x[i] = (float)(i % 3) / 2.0f;
    net = make(&m.desc);
    CHECK(net != NULL && total_blocks > 0);
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 2, 0, out, NULL, NULL, 2, NULL), SNN_OK);
    snn_net_free(net);
    CHECK(live_blocks == 0);
}

/* avgpool2d's per-channel gain, and a delayed read-out: the output sums only the
 * steps from readout_start on, and reads 0 before it. */
static void test_pool_gain_and_delayed_readout(void)
{
    const float x[2 * 2 * 2] = {1, 1, 1, 1, 0.5f, 0.5f, 0.5f, 0.5f};
    const float gain[2] = {2.0f, 0.25f};
    const float bias[2] = {0.0f, 1.0f};
    const int32_t cps[4] = {1, 2, 3, 6};
    snn_population_desc pops[2] = {pop_input(2, 2, 2), pop_input(2, 1, 1)};
    snn_projection_desc pj = proj_window(SNN_OP_AVGPOOL2D, 0, 1, gain, 2, 2, 2, 2, 0);
    snn_net_desc d = net_desc(pops, 2, &pj, 1, 1);
    snn_run_config cfg = run_config(6, SNN_ENCODING_ANALOG);
    float out[4 * 2];
    snn_net *net;
    pops[1].kind = SNN_KIND_ACCUMULATE;
    pops[1].bias = vec(bias, 2);
    net = make(&d);
    CHECK(net != NULL);
    if (!net) return;
    cfg.checkpoints = cps;
    cfg.n_checkpoints = 4;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, NULL), SNN_OK);
    CHECK(out[0] == 2.0f && out[1] == 1.125f);           /* 2*1, 0.25*0.5 + 1 */
    cfg.readout_start = 3;
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, NULL), SNN_OK);
    CHECK(out[0] == 0.0f && out[1] == 0.0f && out[2] == 0.0f && out[3] == 0.0f);
    CHECK(out[4] == 2.0f && out[5] == 1.125f && out[6] == 2.0f && out[7] == 1.125f);
    cfg.readout_start = 7;                                  /* beyond T */
    CHECK_STATUS(snn_run_batch(net, &cfg, x, 1, 0, out, NULL, NULL, 1, NULL), SNN_E_INVALID_ARG);
    snn_net_free(net);
}

int main(void)
{
    test_pool_gain_and_delayed_readout();
    test_integrate_and_fire();
    test_signed_neuron();
    test_conv_pool_against_loops();
    test_chunks_reset_workspace();
    test_allocator();
    CHECK_DONE();
}
