/*
 * minimal_run.c - the smallest complete use of the public API.
 *
 * Builds a two-layer spiking network by hand (4 inputs -> 3 integrate-and-fire
 * neurons -> 2 read-out accumulators), runs one image for 32 timesteps with the
 * output recorded at steps 8, 16 and 32, and prints it. Uses only <snn.h>.
 */
#include <snn.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
    const float w_hidden[3 * 4] = {0.5f, 0.25f, 0.0f, 0.0f,
                                   0.0f, 0.5f, 0.5f, 0.0f,
                                   0.25f, 0.0f, 0.0f, 1.0f};
    const float w_out[2 * 3] = {1.0f, -1.0f, 0.5f,
                                -0.5f, 1.0f, 1.0f};
    const float threshold = 1.0f;
    const float image[4] = {0.8f, 0.4f, 0.1f, 0.6f};
    const int32_t checkpoints[3] = {8, 16, 32};
    snn_population_desc pops[3];
    snn_projection_desc projs[2];
    snn_net_desc desc;
    snn_run_config cfg;
    snn_error err;
    snn_net *net;
    float out[3 * 2];
    int64_t spikes[3 * 3], synops[3 * 2];
    int c;

    memset(pops, 0, sizeof pops);
    pops[0].kind = SNN_KIND_INPUT;
    pops[0].ndim = 1;
    pops[0].shape[0] = 4;
    pops[1].kind = SNN_KIND_IF;
    pops[1].ndim = 1;
    pops[1].shape[0] = 3;
    pops[1].threshold.data = &threshold;     /* one threshold for all: shape (1,) */
    pops[1].threshold.ndim = 1;
    pops[1].threshold.shape[0] = 1;
    pops[1].reset = SNN_RESET_SUBTRACT;
    pops[2].kind = SNN_KIND_ACCUMULATE;
    pops[2].ndim = 1;
    pops[2].shape[0] = 2;

    memset(projs, 0, sizeof projs);
    projs[0].op = SNN_OP_DENSE;
    projs[0].source = 0;
    projs[0].target = 1;
    projs[0].weight.data = w_hidden;         /* (out, in) = (3, 4) */
    projs[0].weight.ndim = 2;
    projs[0].weight.shape[0] = 3;
    projs[0].weight.shape[1] = 4;
    projs[1].op = SNN_OP_DENSE;
    projs[1].source = 1;
    projs[1].target = 2;
    projs[1].weight.data = w_out;            /* (2, 3) */
    projs[1].weight.ndim = 2;
    projs[1].weight.shape[0] = 2;
    projs[1].weight.shape[1] = 3;

    memset(&desc, 0, sizeof desc);
    desc.populations = pops;
    desc.n_populations = 3;
    desc.projections = projs;
    desc.n_projections = 2;
    desc.input = 0;
    desc.output = 2;

    net = snn_net_create(&desc, &err);
    if (net == NULL) {
        fprintf(stderr, "snn_net_create: %s (%s)\n", err.message, snn_strerror(err.status));
        return 1;
    }

    memset(&cfg, 0, sizeof cfg);
    cfg.timesteps = 32;
    cfg.encoding = SNN_ENCODING_ANALOG;
    cfg.rate = 1.0;
    cfg.checkpoints = checkpoints;
    cfg.n_checkpoints = 3;
    if (snn_run_batch(net, &cfg, image, 1, 0, out, spikes, synops, 1, &err) != SNN_OK) {
        fprintf(stderr, "snn_run_batch: %s\n", err.message);
        snn_net_free(net);
        return 1;
    }
    for (c = 0; c < 3; c++)
        printf("t=%2d  output=(%+.4f, %+.4f)  hidden spikes=%lld  synaptic ops=%lld\n",
               (int)checkpoints[c], out[2 * c], out[2 * c + 1], (long long)spikes[3 * c + 1],
               (long long)(synops[2 * c] + synops[2 * c + 1]));
    snn_net_free(net);
    return 0;
}
