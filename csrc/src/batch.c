/*
 * A batch's arguments, and its images taken one at a time: each thread of a
 * runner (runner.c) owns one state and takes the next image from a shared
 * (atomic) counter; an image's result depends only on the image and its index,
 * so the output is the same for any thread count. Starts no thread itself.
 */
#include "internal.h"

#include <math.h>

/* Records the first failure of a batch. */
static void fail(int *status, int s)
{
    int expected = SNN_OK;
    __atomic_compare_exchange_n(status, &expected, s, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

void snn__batch_images(snn_state *s, const snn_run_config *cfg, const snn__batch_io *io,
                       int64_t *next, int *status)
{
    for (;;) {
        int64_t i;
        int st;
        if (__atomic_load_n(status, __ATOMIC_ACQUIRE) != SNN_OK) return;
        i = __atomic_fetch_add(next, 1, __ATOMIC_RELAXED);
        if (i >= io->n_images) return;
        st = snn_run_image(s, cfg, io->x + i * io->in_size, io->first_index + i,
                           io->out + i * io->out_stride,
                           io->spikes ? io->spikes + i * io->spikes_stride : NULL,
                           io->synops ? io->synops + i * io->synops_stride : NULL);
        if (st != SNN_OK) fail(status, st);
    }
}

/* Every value of x must be finite; checked up front so that the error reported
 * names the first bad image whatever the thread count. */
static int check_images(const snn__batch_io *io, snn_error *err)
{
    int64_t i, k;
    for (i = 0; i < io->n_images; i++)
        for (k = 0; k < io->in_size; k++)
            RETURN_ERROR_IF(!isfinite(io->x[i * io->in_size + k]), err, SNN_E_VALUE, -1, -1,
                            "image %lld holds a non-finite value at index %lld", (long long)i,
                            (long long)k);
    return SNN_OK;
}

/* Splitting an image between threads costs a few barriers per population and
 * step (microseconds when a thread has to be woken): below this many neurons
 * that emit (IF and relay), a step's work is too small to gain from it. */
#define SNN_TEAM_MIN_NEURONS 16384

int32_t snn_suggest_threads(const snn_net *net, int64_t n_images, int32_t max_threads)
{
    int64_t neurons = 0;
    int32_t i;
    if (max_threads < 1) max_threads = 1;
    if (net == NULL || n_images >= max_threads) return max_threads;
    for (i = 0; i < net->n_pop; i++)
        if (net->pops[i].kind == SNN_KIND_IF || net->pops[i].kind == SNN_KIND_RELAY)
            neurons += net->pops[i].n;
    if (neurons >= SNN_TEAM_MIN_NEURONS) return max_threads;
    return n_images > 1 ? (int32_t)n_images : 1;
}

int snn__batch_prepare(const snn_net *net, const snn_run_config *cfg, const float *x,
                       int64_t n_images, int64_t first_index, float *out, int64_t *spikes,
                       int64_t *synops, snn__batch_io *io, snn_error *err)
{
    int64_t n_cp;
    if (err) { err->status = SNN_OK; err->population = err->projection = -1; err->message[0] = 0; }
    FORWARD_IF_ERROR(snn__check_config(net, cfg, err));
    RETURN_ERROR_IF(n_images < 0 || first_index < 0, err, SNN_E_INVALID_ARG, -1, -1,
                    "n_images and first_index must be >= 0");
    io->n_images = n_images;
    if (n_images == 0) return SNN_OK;
    RETURN_ERROR_IF(x == NULL || out == NULL, err, SNN_E_INVALID_ARG, -1, -1, "x or out is NULL");
    n_cp = cfg->n_checkpoints ? cfg->n_checkpoints : 1;
    io->x = x;
    io->first_index = first_index;
    io->out = out;
    io->spikes = spikes;
    io->synops = synops;
    io->in_size = net->pops[net->input].n;
    io->out_stride = n_cp * net->pops[net->output].n;
    io->spikes_stride = n_cp * net->n_pop;
    io->synops_stride = n_cp * net->n_proj;
    return check_images(io, err);
}
