/*
 * A runner: the engine's one way of running threads. Its workers and states
 * are kept between runs, since starting threads and allocating and clearing
 * states (about a megabyte each for a small CNN) on every call would be a large
 * part of each run in a stream of short runs (one image at a time, as a product
 * classifies what arrives). Between runs the
 * workers wait (sync.c: spinning about a millisecond, then sleeping). A run has
 * whole images per thread (batch.c) when there are at least as many images as
 * threads, else every thread on each image (team.c), or the calling thread
 * alone where that has been faster of late (snn_runner_set_team). snn_run_batch
 * is a runner made for one call. Same results, bit for bit, every way.
 */
#include "internal.h"

#include <pthread.h>
#include <string.h>
#include <time.h>

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
    int32_t team_policy;        /* SNN_TEAM_AUTO, _ALWAYS or _NEVER */
    snn__team_choice choice;    /* SNN_TEAM_AUTO: team or alone, from their times */
    /* futex words: the run's number (workers wait for it to change), the
     * workers still running it (the caller waits for 0), and sleepers on each */
    int32_t generation, busy, gen_sleepers, busy_sleepers;
};

/* ---- team or alone (SNN_TEAM_AUTO) --------------------------------------- */

void snn__team_choice_init(snn__team_choice *c)
{
    memset(c, 0, sizeof *c);
    c->use = 1;
    c->keep = SNN_CHOICE_KEEP;
}

int32_t snn__team_choice_next(const snn__team_choice *c)
{
    if (c->left > 0) return c->use;
    /* comparing: in turns, one thread first, so that every team run has a
     * time alone to be judged by */
    return c->n[1] < c->n[0];
}

/* The median of SNN_CHOICE_PROBES (odd) values. */
static double median_of_probes(const double *v)
{
    double s[SNN_CHOICE_PROBES];
    int i, j;
    for (i = 0; i < SNN_CHOICE_PROBES; i++) {     /* insertion sort of a handful */
        const double x = v[i];
        for (j = i; j > 0 && s[j - 1] > x; j--) s[j] = s[j - 1];
        s[j] = x;
    }
    return s[SNN_CHOICE_PROBES / 2];
}

/* The next comparison after SNN_CHOICE_KEEP batches if the team won the last
 * one, after twice as many as last time (at most SNN_CHOICE_KEEP_MAX) if it lost. */
static void keep_choice(snn__team_choice *c)
{
    if (c->use) c->keep = SNN_CHOICE_KEEP;
    else if (c->keep < SNN_CHOICE_KEEP_MAX) c->keep *= 2;
    c->left = c->keep;
    c->n[0] = c->n[1] = 0;
}

/* The time per step alone that a team run is judged by: the last comparison's
 * median, else the fastest of this comparison's runs so far (0: none). */
static double alone_reference(const snn__team_choice *c)
{
    double best = 0;
    int32_t i;
    if (c->alone > 0) return c->alone;
    for (i = 0; i < c->n[0]; i++)
        if (best == 0 || c->seconds[0][i] < best) best = c->seconds[0][i];
    return best;
}

void snn__team_choice_record(snn__team_choice *c, int32_t team, double seconds_per_step)
{
    const double alone = alone_reference(c);
    team = team != 0;
    if (team && alone > 0 && seconds_per_step > SNN_CHOICE_BAIL * alone) {
        c->use = 0;         /* a member waited for a core: no more team for a while */
        keep_choice(c);
        return;
    }
    if (c->left > 0) {
        c->left--;
        return;
    }
    if (c->n[team] < SNN_CHOICE_PROBES) c->seconds[team][c->n[team]++] = seconds_per_step;
    if (c->n[0] < SNN_CHOICE_PROBES || c->n[1] < SNN_CHOICE_PROBES) return;
    {
        const double current = median_of_probes(c->seconds[c->use]);
        const double other = median_of_probes(c->seconds[!c->use]);
        if (other < current * (1.0 - SNN_CHOICE_MARGIN)) c->use = !c->use;
        c->alone = median_of_probes(c->seconds[0]);
    }
    keep_choice(c);
}

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

/* A runner of n_threads (1..SNN_MAX_THREADS) members. If a worker cannot be
 * started: with `fewer_ok`, the runner has the members that could be (at least
 * the calling thread); else NULL with SNN_E_THREAD in *err. */
static snn_runner *runner_start(const snn_net *net, int32_t n_threads, int fewer_ok,
                                snn_error *err)
{
    const snn_allocator *a = &net->alloc;
    runner_worker *workers;
    snn_runner *r;
    int32_t k;
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
    r->team_policy = SNN_TEAM_AUTO;
    snn__team_choice_init(&r->choice);
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
            if (fewer_ok) {
                /* the workers read neither size nor anything sized by it
                 * before the first run */
                r->size = k;
                break;
            }
            snn_runner_free(r);
            snn__set_error(err, SNN_E_THREAD, -1, -1, "could not start thread %d of %d",
                           (int)k + 1, (int)n_threads);
            return NULL;
        }
        r->n_started++;
    }
    return r;
}

snn_runner *snn_runner_create(const snn_net *net, int32_t n_threads, snn_error *err)
{
    if (err) { err->status = SNN_OK; err->population = err->projection = -1; err->message[0] = 0; }
    if (net == NULL) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "network is NULL");
        return NULL;
    }
    if (n_threads < 1 || n_threads > SNN_MAX_THREADS) {
        snn__set_error(err, SNN_E_INVALID_ARG, -1, -1, "a runner takes 1..%d threads, got %d",
                       SNN_MAX_THREADS, (int)n_threads);
        return NULL;
    }
    return runner_start(net, n_threads, 0, err);
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

int snn_runner_set_team(snn_runner *r, int32_t policy)
{
    if (r == NULL || (policy != SNN_TEAM_AUTO && policy != SNN_TEAM_ALWAYS &&
                      policy != SNN_TEAM_NEVER))
        return SNN_E_INVALID_ARG;
    pthread_mutex_lock(&r->lock);
    r->team_policy = policy;
    snn__team_choice_init(&r->choice);
    pthread_mutex_unlock(&r->lock);
    return SNN_OK;
}

static double seconds_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The current batch on the team (every member on each image). */
/* The team job, made on the first run that needs it. */
static int make_team(snn_runner *r)
{
    int status = SNN_OK;
    if (r->team == NULL) r->team = snn__team_job_create(r->net, r->size, &status);
    return r->team == NULL ? status : SNN_OK;
}

static int run_on_team(snn_runner *r)
{
    const int status = make_team(r);
    if (status != SNN_OK) return status;
    r->task = TASK_TEAM;
    snn__team_job_set(r->team, r->cfg, &r->io);
    run_task(r);
    return snn__team_job_status(r->team);
}

/* The current batch on the calling thread alone (the workers stay asleep). */
static int run_alone(snn_runner *r)
{
    int64_t next = 0;
    int status = make_states(r);
    if (status != SNN_OK) return status;
    snn__batch_images(r->states[0], r->cfg, &r->io, &next, &status);
    return status;
}

/* A batch smaller than the team: on the team or alone, as the policy says. */
static int run_small_batch(snn_runner *r, int64_t n_images)
{
    int32_t team;
    double start;
    int status;
    if (r->team_policy != SNN_TEAM_AUTO)
        return r->team_policy == SNN_TEAM_ALWAYS ? run_on_team(r) : run_alone(r);
    team = snn__team_choice_next(&r->choice);
    /* what the first run of each way makes is not part of its time */
    status = team ? make_team(r) : make_states(r);
    if (status != SNN_OK) return status;
    start = seconds_now();
    status = team ? run_on_team(r) : run_alone(r);
    if (status == SNN_OK)
        snn__team_choice_record(&r->choice, team, (seconds_now() - start) /
                                                      ((double)n_images * r->cfg->timesteps));
    return status;
}

/* The batch described by r->cfg and r->io (n_images > 0), on the members as
 * r->team_policy says. The caller holds r->lock or owns r alone. */
static int run_batch(snn_runner *r, int64_t n_images)
{
    int status;
    if (r->size > 1 && n_images < r->size) return run_small_batch(r, n_images);
    status = make_states(r);
    if (status != SNN_OK) return status;
    r->task = TASK_IMAGES;
    r->next = 0;
    r->status = SNN_OK;
    run_task(r);
    return r->status;
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
    if (status == SNN_OK && n_images > 0) {
        status = run_batch(r, n_images);
        if (status != SNN_OK)
            snn__set_error(err, status, -1, -1, "running the batch failed: %s",
                           snn_strerror(status));
    }
    pthread_mutex_unlock(&r->lock);
    return status;
}

int snn_run_batch(const snn_net *net, const snn_run_config *cfg, const float *x,
                  int64_t n_images, int64_t first_index, float *out, int64_t *spikes,
                  int64_t *synops, int32_t n_threads, snn_error *err)
{
    snn__batch_io io;
    snn_error mine;
    snn_runner *r;
    int status;
    /* the arguments are checked before any thread starts */
    FORWARD_IF_ERROR(snn__batch_prepare(net, cfg, x, n_images, first_index, out, spikes, synops,
                                        &io, err));
    if (n_images == 0) return SNN_OK;
    if (n_threads < 1) n_threads = 1;
    if (n_threads > SNN_MAX_THREADS) n_threads = SNN_MAX_THREADS;
    r = runner_start(net, n_threads, 1, err ? err : &mine);
    if (r == NULL) return err ? err->status : mine.status;
    r->team_policy = SNN_TEAM_ALWAYS;
    r->cfg = cfg;
    r->io = io;
    status = run_batch(r, n_images);
    snn_runner_free(r);
    if (status != SNN_OK)
        snn__set_error(err, status, -1, -1, "running the batch failed: %s", snn_strerror(status));
    return status;
}
