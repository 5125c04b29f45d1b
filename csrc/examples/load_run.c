/*
 * load_run.c - load a network file and run it with no allocation during inference.
 *
 *   load_run NET.npz [TIMESTEPS]
 *
 * Reads NET.npz with the file loader, prints what the file says about its input,
 * then runs one image (a gradient from 0 to 1) with the file's default encoding on a
 * workspace the program allocates once (snn_state_size + snn_state_init_static):
 * snn_run_image itself never allocates. Prints the decoded output at each checkpoint
 * and the predicted class. Uses only <snn.h>.
 */
#include <snn.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    snn_error err;
    snn_file *file;
    const snn_file_info *info;
    snn_net *net;
    snn_state *state;
    snn_run_config cfg;
    void *workspace;
    size_t workspace_size;
    int32_t checkpoints[3], timesteps = argc > 2 ? atoi(argv[2]) : 32;
    int64_t n_in, n_out, i, k, best;
    float *image, *out;
    int c, status = 0;

    if (argc < 2 || timesteps < 4) {
        fprintf(stderr, "usage: load_run NET.npz [TIMESTEPS >= 4]\n");
        return 2;
    }
    file = snn_file_read(argv[1], NULL, &err);
    if (file == NULL) {
        fprintf(stderr, "%s: %s (%s)\n", argv[1], err.message, snn_strerror(err.status));
        return 1;
    }
    info = snn_file_get_info(file);
    net = snn_file_build(file, NULL, &err);
    if (net == NULL) {
        fprintf(stderr, "%s: %s\n", argv[1], err.message);
        snn_file_free(file);
        return 1;
    }
    n_in = snn_net_input_size(net);
    n_out = snn_net_output_size(net);
    printf("%s: %d populations, %d projections, input '%s' (%lld values), output '%s' (%lld)\n",
           argv[1], (int)snn_net_n_populations(net), (int)snn_net_n_projections(net),
           info->population_names[snn_file_desc(file)->input], (long long)n_in,
           info->population_names[snn_file_desc(file)->output], (long long)n_out);
    printf("default encoding %s, rate %g, uint8 images scaled by %g\n",
           snn_encoding_name(info->hints.encoding), info->hints.rate, info->hints.uint8_scale);

    /* Everything a run needs, allocated once, before inference. */
    workspace_size = snn_state_size(net);
    workspace = malloc(workspace_size);
    image = malloc((size_t)n_in * sizeof *image);
    out = malloc(3 * (size_t)n_out * sizeof *out);
    if (workspace == NULL || image == NULL || out == NULL) {
        fprintf(stderr, "out of memory\n");
        status = 1;
        goto done;
    }
    state = snn_state_init_static(net, workspace, workspace_size, &status);
    if (state == NULL) {
        fprintf(stderr, "snn_state_init_static: %s\n", snn_strerror(status));
        status = 1;
        goto done;
    }
    for (i = 0; i < n_in; i++) image[i] = (float)i / (float)(n_in > 1 ? n_in - 1 : 1);

    memset(&cfg, 0, sizeof cfg);
    cfg.timesteps = timesteps;
    cfg.encoding = info->hints.encoding;
    cfg.rate = info->hints.rate;
    cfg.readout_start = info->hints.readout_start < timesteps / 4 ? info->hints.readout_start : 1;
    checkpoints[0] = timesteps / 4;
    checkpoints[1] = timesteps / 2;
    checkpoints[2] = timesteps;
    cfg.checkpoints = checkpoints;
    cfg.n_checkpoints = 3;
    status = snn_run_image(state, &cfg, image, 0, out, NULL, NULL);   /* no allocation */
    if (status != SNN_OK) {
        fprintf(stderr, "snn_run_image: %s\n", snn_strerror(status));
        status = 1;
        goto done;
    }
    for (c = 0; c < 3; c++) {
        printf("t=%3d  output", (int)checkpoints[c]);
        for (k = 0; k < n_out && k < 10; k++) printf(" %+.4f", (double)out[c * n_out + k]);
        printf(n_out > 10 ? " ...\n" : "\n");
    }
    for (best = 0, k = 1; k < n_out; k++)
        if (out[2 * n_out + k] > out[2 * n_out + best]) best = k;
    printf("predicted class %lld (workspace of %lu bytes)\n", (long long)best,
           (unsigned long)workspace_size);
    snn_state_free(state);      /* a no-op for a static state; shown for symmetry */
    status = 0;
done:
    free(workspace);
    free(image);
    free(out);
    snn_net_free(net);
    snn_file_free(file);
    return status;
}
