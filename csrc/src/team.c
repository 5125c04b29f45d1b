/*
 * One image on several threads: when a batch has fewer images than threads,
 * the threads form a team that runs each image together, sharing one state (see
 * run.c, "one timestep"). Members meet at a barrier a few times per population
 * and step; results are bit-identical to a run on one thread.
 */
#if defined(__linux__)
#define _GNU_SOURCE 1   /* syscall() for futex */
#endif
#include "internal.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* ---- barrier ------------------------------------------------------------- */

/* A sense-reversing barrier. Members spin (a step's phases last microseconds),
 * then sleep until the last one arrives. How long they spin depends on whether
 * the team fits the CPUs the process may use: if it does, a long spin (about a
 * millisecond) keeps members from sleeping between the phases of a step, since
 * waking a sleeping thread costs tens of microseconds (more in a virtual machine,
 * where it takes an interrupt to another virtual CPU): with a short spin, one
 * image on two cores ran slower than on one. If the team has more members than
 * CPUs, spinning would keep the member that is still working from running, so
 * they spin briefly. */
struct snn_barrier {
    int32_t size;
    int32_t arrived;
    int32_t sense;
    int32_t sleepers;
    int32_t spins;          /* before sleeping */
    int32_t member_sense[SNN_MAX_TEAM];
};

#define SPINS_FITTING 50000
#define SPINS_OVERSUBSCRIBED 2000

/* The CPUs this process may run on (at least 1). */
static int32_t usable_cpus(void)
{
#if defined(__linux__)
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
#if defined(_SC_NPROCESSORS_ONLN)
    {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        if (n > 0) return n > INT32_MAX ? INT32_MAX : (int32_t)n;
    }
#endif
    return 1;
}

static void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Sleeps while *word == value (or not at all if it has changed already). */
static void sleep_while(int32_t *word, int32_t value)
{
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
#else
    (void)word;
    (void)value;
    sched_yield();
#endif
}

static void wake_all(int32_t *word)
{
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

static void barrier_wait(snn_barrier *b, int32_t rank)
{
    const int32_t sense = !b->member_sense[rank];
    int spins = 0;
    b->member_sense[rank] = sense;
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == b->size) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, sense, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0) wake_all(&b->sense);
        return;
    }
    while (__atomic_load_n(&b->sense, __ATOMIC_ACQUIRE) != sense) {
        if (++spins < b->spins) {
            cpu_relax();
            continue;
        }
        /* announce the sleep before checking the sense once more (inside the
         * futex call), so the last member cannot miss us */
        __atomic_add_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sense, __ATOMIC_SEQ_CST) != sense) sleep_while(&b->sense, !sense);
        __atomic_sub_fetch(&b->sleepers, 1, __ATOMIC_SEQ_CST);
    }
}

void snn__team_sync(const snn_team *tm)
{
    if (tm->size > 1) barrier_wait(tm->barrier, tm->rank);
}

/* ---- the team's run of a batch ------------------------------------------ */

typedef struct team_job {
    const snn_net *net;
    const snn_run_config *cfg;
    const snn__batch_io *io;
    snn_state *state;
    snn_barrier barrier;
    int64_t *counts;        /* [2][n_pop][size]: see snn_team */
    int64_t *synops;        /* [size][n_proj]: each member's counters */
    int32_t size;
    int status;
    /* start gate: members wait until the lead knows how many threads started */
    pthread_mutex_t lock;
    pthread_cond_t go;
    int started;
} team_job;

typedef struct team_member {
    team_job *job;
    int32_t rank;
} team_member;

/* Adds every member's synaptic operations into the state's counters. */
static void fold_synops(team_job *job)
{
    const int32_t n_proj = job->net->n_proj;
    int32_t r, j;
    for (r = 0; r < job->size; r++)
        for (j = 0; j < n_proj; j++) {
            job->state->synops[j] += job->synops[(int64_t)r * n_proj + j];
            job->synops[(int64_t)r * n_proj + j] = 0;
        }
}

static void run_images(team_job *job, int32_t rank)
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

static void *member_main(void *arg)
{
    team_member *m = arg;
    team_job *job = m->job;
    pthread_mutex_lock(&job->lock);
    while (!job->started) pthread_cond_wait(&job->go, &job->lock);
    pthread_mutex_unlock(&job->lock);
    if (m->rank < job->size) run_images(job, m->rank);
    return NULL;
}

/* Allocates the team's shared scratch for up to `size` members. */
static int team_alloc(team_job *job, int32_t size)
{
    const snn_allocator *a = &job->net->alloc;
    job->state = snn_state_create(job->net, &job->status);
    job->counts = a->alloc(a->opaque, 2 * (size_t)job->net->n_pop * (size_t)size * sizeof(int64_t));
    job->synops = a->alloc(a->opaque, (size_t)size * (size_t)(job->net->n_proj + 1) * sizeof(int64_t));
    if (!job->state || !job->counts || !job->synops) return SNN_E_NOMEM;
    memset(job->synops, 0, (size_t)size * (size_t)(job->net->n_proj + 1) * sizeof(int64_t));
    return SNN_OK;
}

static void team_free(team_job *job)
{
    const snn_allocator *a = &job->net->alloc;
    snn_state_free(job->state);
    if (job->counts) a->free(a->opaque, job->counts);
    if (job->synops) a->free(a->opaque, job->synops);
}

int snn__run_team(const snn_net *net, const snn_run_config *cfg, const snn__batch_io *io,
                  int32_t n_threads)
{
    team_job job;
    pthread_t threads[SNN_MAX_TEAM];
    team_member members[SNN_MAX_TEAM];
    int32_t t, started = 0;
    int status;
    if (n_threads > SNN_MAX_TEAM) n_threads = SNN_MAX_TEAM;
    memset(&job, 0, sizeof job);
    job.net = net;
    job.cfg = cfg;
    job.io = io;
    status = team_alloc(&job, n_threads);
    if (status != SNN_OK) {
        team_free(&job);
        return status;
    }
    if (pthread_mutex_init(&job.lock, NULL) != 0) {
        team_free(&job);
        return SNN_E_THREAD;
    }
    if (pthread_cond_init(&job.go, NULL) != 0) {
        pthread_mutex_destroy(&job.lock);
        team_free(&job);
        return SNN_E_THREAD;
    }
    job.size = n_threads;   /* members read it only after the start gate opens */
    for (t = 1; t < n_threads; t++) {
        members[t].job = &job;
        members[t].rank = t;
        if (pthread_create(&threads[started], NULL, member_main, &members[t]) != 0) break;
        started++;
    }
    /* the team is whoever started, plus this thread as member 0 */
    pthread_mutex_lock(&job.lock);
    job.size = started + 1;
    job.barrier.size = job.size;
    job.barrier.spins = job.size <= usable_cpus() ? SPINS_FITTING : SPINS_OVERSUBSCRIBED;
    job.started = 1;
    pthread_cond_broadcast(&job.go);
    pthread_mutex_unlock(&job.lock);
    run_images(&job, 0);
    for (t = 0; t < started; t++) pthread_join(threads[t], NULL);
    pthread_cond_destroy(&job.go);
    pthread_mutex_destroy(&job.lock);
    status = job.status;
    team_free(&job);
    return status;
}
