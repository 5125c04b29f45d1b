/*
 * One image on several threads: when a batch has fewer images than threads, a
 * runner's threads (runner.c) form a team that runs each image together,
 * sharing one state (see run.c, "one timestep"). Members meet at a barrier
 * (sync.c) a few times per population and step; results are bit-identical to a
 * run on one thread.
 */
#include "internal.h"

#include <string.h>

/* What a team shares: the state of the image it runs, the barrier, each
 * member's event counts and synaptic operations; and the run (cfg, io). The
 * same job may run many batches (snn_runner). */
struct snn__team_job {
    const snn_net *net;
    const snn_run_config *cfg;
    const snn__batch_io *io;
    snn_state *state;
    snn_barrier barrier;
    int64_t *counts;        /* [2][n_pop][size]: see snn_team */
    int64_t *synops;        /* [size][n_proj]: each member's counters */
    int32_t size;
    int status;
};

void snn__team_job_free(snn__team_job *job)
{
    const snn_allocator *a;
    if (job == NULL) return;
    a = &job->net->alloc;
    snn_state_free(job->state);
    if (job->counts) a->free(a->opaque, job->counts);
    if (job->synops) a->free(a->opaque, job->synops);
    a->free(a->opaque, job);
}

snn__team_job *snn__team_job_create(const snn_net *net, int32_t size, int *status)
{
    const snn_allocator *a = &net->alloc;
    snn__team_job *job = a->alloc(a->opaque, sizeof *job);
    *status = SNN_E_NOMEM;
    if (job == NULL) return NULL;
    memset(job, 0, sizeof *job);
    job->net = net;
    job->size = size;
    snn__barrier_init(&job->barrier, size);
    job->state = snn_state_create(net, status);
    job->counts = a->alloc(a->opaque, 2 * (size_t)net->n_pop * (size_t)size * sizeof(int64_t));
    job->synops = a->alloc(a->opaque, (size_t)size * (size_t)(net->n_proj + 1) * sizeof(int64_t));
    if (!job->state || !job->counts || !job->synops) {
        snn__team_job_free(job);
        *status = SNN_E_NOMEM;
        return NULL;
    }
    memset(job->synops, 0, (size_t)size * (size_t)(net->n_proj + 1) * sizeof(int64_t));
    *status = SNN_OK;
    return job;
}

void snn__team_job_set(snn__team_job *job, const snn_run_config *cfg, const snn__batch_io *io)
{
    job->cfg = cfg;
    job->io = io;
    job->status = SNN_OK;
}

int snn__team_job_status(const snn__team_job *job) { return job->status; }

/* Adds every member's synaptic operations into the state's counters. */
static void fold_synops(snn__team_job *job)
{
    const int32_t n_proj = job->net->n_proj;
    int32_t r, j;
    for (r = 0; r < job->size; r++)
        for (j = 0; j < n_proj; j++) {
            job->state->synops[j] += job->synops[(int64_t)r * n_proj + j];
            job->synops[(int64_t)r * n_proj + j] = 0;
        }
}

void snn__team_job_member(snn__team_job *job, int32_t rank)
{
    const snn__batch_io *io = job->io;
    const snn_run_config *cfg = job->cfg;
    const int32_t n_cp = cfg->n_checkpoints ? cfg->n_checkpoints : 1;
    const int32_t *cps = cfg->n_checkpoints ? cfg->checkpoints : &cfg->timesteps;
    const int64_t n_out = job->net->pops[job->net->output].n;
    snn_team tm;
    int64_t i;
    tm.rank = rank;
    tm.size = job->size;
    tm.parity = 0;
    tm.barrier = &job->barrier;
    tm.counts = job->counts;
    tm.synops = job->synops + (int64_t)rank * job->net->n_proj;
    for (i = 0; i < io->n_images; i++) {
        int32_t c, now = 0, t;
        if (rank == 0)
            job->status = snn_state_reset(job->state, cfg, io->x + i * io->in_size,
                                          io->first_index + i);
        snn__team_sync(&tm);
        if (job->status != SNN_OK) return;
        tm.t = 0;
        for (c = 0; c < n_cp; c++) {
            for (t = now; t < cps[c]; t++) snn__step(job->state, &tm);
            now = cps[c];
            snn__team_sync(&tm);
            if (rank == 0) {
                fold_synops(job);
                snn_state_read_output(job->state, io->out + i * io->out_stride + c * n_out, n_out);
                snn_state_read_counters(
                    job->state,
                    io->spikes ? io->spikes + i * io->spikes_stride + c * job->net->n_pop : NULL,
                    job->net->n_pop,
                    io->synops ? io->synops + i * io->synops_stride + c * job->net->n_proj : NULL,
                    job->net->n_proj);
            }
            snn__team_sync(&tm);
        }
    }
}
