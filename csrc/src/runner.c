/*
 * A runner: snn_run_batch's threads and states, kept between runs. Starting a
 * thread costs tens of microseconds on this kind of machine (more in a virtual
 * machine, where the thread's CPU may have to be woken), and a state is about a
 * megabyte to allocate and clear: for a stream of short runs (one image at a
 * time, as a product classifies what arrives) that is a large part of each
 * run. A runner's workers wait for the next run, spinning about a millisecond
 * and then sleeping, and its states are made once. Each run does what
 * snn_run_batch does with the runner's thread count: whole images per thread
 * when there are at least as many images as threads, else every thread on each
 * image (team.c). Same results, bit for bit.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>

/* What the members do in the current run. */
enum { TASK_IMAGES, TASK_TEAM, TASK_STOP };

struct snn_runner {
    const snn_net *net;
    int32_t size;               /* members: the workers and the calling thread */
    int32_t spins;              /* before a waiting member sleeps */
    pthread_t *threads;         /* size - 1 workers */
    int32_t n_started;
    pthread_mutex_t lock;       /* one run at a time */
    /* the current run, written by the caller before it bumps `generation` */
    int32_t task;
    const snn_run_config *cfg;
    snn__batch_io io;
    int64_t next;               /* TASK_IMAGES: the next image to take */
    int status;                 /* TASK_IMAGES: the first failure */
    snn_state **states;         /* TASK_IMAGES: one per member, made when first needed */
    snn__team_job *team;        /* TASK_TEAM: made when first needed */
    /* futex words: the run's number (workers wait for it to change), the
     * workers still running it (the caller waits for 0), and sleepers on each */
    int32_t generation, busy, gen_sleepers, busy_sleepers;
};

typedef struct runner_worker {
    snn_runner *runner;
    int32_t rank;
} runner_worker;

/* Member `rank`'s part of the current run. */
static void run_part(snn_runner *r, int32_t rank)
{
    if (r->task == TASK_TEAM) snn__team_job_member(r->team, rank);
    else snn__batch_images(r->states[rank], r->cfg, &r->io, &r->next, &r->status);
}

static void *worker_main(void *arg)
{
    runner_worker *w = arg;
    snn_runner *r = w->runner;
    int32_t seen = 0;
    for (;;) {
        seen = snn__wait_change(&r->generation, seen, &r->gen_sleepers, r->spins);
        if (r->task == TASK_STOP) return NULL;
        run_part(r, w->rank);
        if (__atomic_sub_fetch(&r->busy, 1, __ATOMIC_ACQ_REL) == 0 &&
            __atomic_load_n(&r->busy_sleepers, __ATOMIC_SEQ_CST) > 0)
            snn__wake_all(&r->busy);
    }
}

/* Starts the current task on the workers, does member 0's part, and waits for
 * the workers to finish theirs. */
static void run_task(snn_runner *r)
{
    int32_t busy;
    __atomic_store_n(&r->busy, r->n_started, __ATOMIC_RELAXED);
    /* only the caller, holding the lock, writes it: wrap without overflow */
    __atomic_store_n(&r->generation, (int32_t)((uint32_t)r->generation + 1u), __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&r->gen_sleepers, __ATOMIC_SEQ_CST) > 0) snn__wake_all(&r->generation);
    if (r->task == TASK_STOP) return;
    run_part(r, 0);
    while ((busy = __atomic_load_n(&r->busy, __ATOMIC_ACQUIRE)) != 0)
        snn__wait_change(&r->busy, busy, &r->busy_sleepers, r->spins);
}

void snn_runner_free(snn_runner *r)
{
    const snn_allocator *a;
    int32_t k;
    if (r == NULL) return;
    a = &r->net->alloc;
    if (r->n_started) {
        r->task = TASK_STOP;
        run_task(r);
        for (k = 0; k < r->n_started; k++) pthread_join(r->threads[k], NULL);
    }
    if (r->states)
        for (k = 0; k < r->size; k++) snn_state_free(r->states[k]);
    snn__team_job_free(r->team);
    pthread_mutex_destroy(&r->lock);
    if (r->states) a->free(a->opaque, r->states);
    if (r->threads) a->free(a->opaque, r->threads);
    a->free(a->opaque, r);
}

snn_runner *snn_runner_create(const snn_net *net, int32_t n_threads, snn_error *err)
{
    const snn_allocator *a;
    runner_worker *workers;
    snn_runner *r;
    int32_t k;
    if (err) { err->status = SNN_OK; err->population = err->projection = -1; err->message[0] = 0; }
    if (net == NULL) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "network is NULL");
        return NULL;
    }
    if (n_threads < 1 || n_threads > SNN_MAX_TEAM) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "a runner takes 1..%d threads, got %d",
                       SNN_MAX_TEAM, (int)n_threads);
        return NULL;
    }
    a = &net->alloc;
    r = a->alloc(a->opaque, sizeof *r + (size_t)n_threads * sizeof *workers);
    if (r == NULL) {
        snn__set_error(err, SNN_E_NOMEM, -1, -1, "out of memory creating a runner");
        return NULL;
    }
    memset(r, 0, sizeof *r);
    workers = (runner_worker *)(void *)(r + 1);
    r->net = net;
    r->size = n_threads;
    r->spins = snn__spins(n_threads);
    if (pthread_mutex_init(&r->lock, NULL) != 0) {
        a->free(a->opaque, r);
        snn__set_error(err, SNN_E_THREAD, -1, -1, "could not create a mutex");
        return NULL;
    }
    r->threads = a->alloc(a->opaque, (size_t)n_threads * sizeof *r->threads);
    if (r->threads == NULL) {
        snn_runner_free(r);
        snn__set_error(err, SNN_E_NOMEM, -1, -1, "out of memory creating a runner");
        return NULL;
    }
    for (k = 1; k < n_threads; k++) {
        workers[k].runner = r;
        workers[k].rank = k;
        if (pthread_create(&r->threads[r->n_started], NULL, worker_main, &workers[k]) != 0) {
            snn_runner_free(r);
            snn__set_error(err, SNN_E_THREAD, -1, -1, "could not start thread %d of %d",
                           (int)k + 1, (int)n_threads);
            return NULL;
        }
        r->n_started++;
    }
    return r;
}

int32_t snn_runner_threads(const snn_runner *r) { return r ? r->size : 0; }

/* The states of TASK_IMAGES, made on the first run that needs them. */
static int make_states(snn_runner *r)
{
    const snn_allocator *a = &r->net->alloc;
    int32_t k;
    int status = SNN_OK;
    if (r->states) return SNN_OK;
    r->states = a->alloc(a->opaque, (size_t)r->size * sizeof *r->states);
    if (r->states == NULL) return SNN_E_NOMEM;
    memset(r->states, 0, (size_t)r->size * sizeof *r->states);
    for (k = 0; k < r->size && status == SNN_OK; k++)
        r->states[k] = snn_state_create(r->net, &status);
    if (status != SNN_OK) {     /* none or all: a later run tries again */
        for (k = 0; k < r->size; k++) snn_state_free(r->states[k]);
        a->free(a->opaque, r->states);
        r->states = NULL;
    }
    return status;
}

int snn_runner_run(snn_runner *r, const snn_run_config *cfg, const float *x, int64_t n_images,
                   int64_t first_index, float *out, int64_t *spikes, int64_t *synops,
                   snn_error *err)
{
    int status;
    if (r == NULL) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "runner is NULL");
        return SNN_E_INVALID_ARG;
    }
    pthread_mutex_lock(&r->lock);
    r->cfg = cfg;
    status = snn__batch_prepare(r->net, cfg, x, n_images, first_index, out, spikes, synops,
                                &r->io, err);
    if (status != SNN_OK || n_images == 0) {
        pthread_mutex_unlock(&r->lock);
        return status;
    }
    if (r->size > 1 && n_images < r->size) {
        if (r->team == NULL) r->team = snn__team_job_create(r->net, r->size, &status);
        if (r->team) {
            r->task = TASK_TEAM;
            snn__team_job_set(r->team, cfg, &r->io);
            run_task(r);
            status = snn__team_job_status(r->team);
        }
    } else {
        status = make_states(r);
        if (status == SNN_OK) {
            r->task = TASK_IMAGES;
            r->next = 0;
            r->status = SNN_OK;
            run_task(r);
            status = r->status;
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (status != SNN_OK)
        snn__set_error(err, status, -1, -1, "running the batch failed: %s", snn_strerror(status));
    return status;
}
