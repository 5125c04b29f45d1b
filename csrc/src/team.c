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

int32_t snn__spins(int32_t members)
{
    return members <= usable_cpus() ? SPINS_FITTING : SPINS_OVERSUBSCRIBED;
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

void snn__wake_all(int32_t *word)
{
#if defined(__linux__)
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
#endif
}

int32_t snn__wait_change(int32_t *word, int32_t value, int32_t *sleepers, int32_t spins)
{
    int32_t seen, k = 0;
    while ((seen = __atomic_load_n(word, __ATOMIC_ACQUIRE)) == value) {
        if (++k < spins) {
            cpu_relax();
            continue;
        }
        /* announce the sleep before checking the word once more (inside the
         * futex call), so that the writer cannot miss us */
        __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == value) sleep_while(word, value);
        __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
    }
    return seen;
}

static void barrier_wait(snn_barrier *b, int32_t rank)
{
    const int32_t sense = !b->member_sense[rank];
    b->member_sense[rank] = sense;
    if (__atomic_add_fetch(&b->arrived, 1, __ATOMIC_ACQ_REL) == b->size) {
        __atomic_store_n(&b->arrived, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->sense, sense, __ATOMIC_SEQ_CST);
        if (__atomic_load_n(&b->sleepers, __ATOMIC_SEQ_CST) > 0) snn__wake_all(&b->sense);
        return;
    }
    snn__wait_change(&b->sense, !sense, &b->sleepers, b->spins);   /* sense is 0 or 1 */
}

void snn__team_sync(const snn_team *tm)
{
    if (tm->size > 1) barrier_wait(tm->barrier, tm->rank);
}

/* ---- the team's run of a batch ------------------------------------------ */

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
    job->barrier.size = size;
    job->barrier.spins = snn__spins(size);
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

/* ---- a team started for one batch (snn_run_batch) ------------------------ */

typedef struct team_start {
    snn__team_job *job;
    /* start gate: members wait until the lead knows how many threads started */
    pthread_mutex_t lock;
    pthread_cond_t go;
    int started;
} team_start;

typedef struct team_member {
    team_start *start;
    int32_t rank;
} team_member;

static void *member_main(void *arg)
{
    team_member *m = arg;
    team_start *st = m->start;
    pthread_mutex_lock(&st->lock);
    while (!st->started) pthread_cond_wait(&st->go, &st->lock);
    pthread_mutex_unlock(&st->lock);
    if (m->rank < st->job->size) snn__team_job_member(st->job, m->rank);
    return NULL;
}

int snn__run_team(const snn_net *net, const snn_run_config *cfg, const snn__batch_io *io,
                  int32_t n_threads)
{
    team_start st;
    pthread_t threads[SNN_MAX_TEAM];
    team_member members[SNN_MAX_TEAM];
    int32_t t, started = 0;
    int status;
    if (n_threads > SNN_MAX_TEAM) n_threads = SNN_MAX_TEAM;
    memset(&st, 0, sizeof st);
    st.job = snn__team_job_create(net, n_threads, &status);
    if (st.job == NULL) return status;
    snn__team_job_set(st.job, cfg, io);
    if (pthread_mutex_init(&st.lock, NULL) != 0) {
        snn__team_job_free(st.job);
        return SNN_E_THREAD;
    }
    if (pthread_cond_init(&st.go, NULL) != 0) {
        pthread_mutex_destroy(&st.lock);
        snn__team_job_free(st.job);
        return SNN_E_THREAD;
    }
    for (t = 1; t < n_threads; t++) {
        members[t].start = &st;
        members[t].rank = t;
        if (pthread_create(&threads[started], NULL, member_main, &members[t]) != 0) break;
        started++;
    }
    /* the team is whoever started, plus this thread as member 0; members read
     * the size only after the start gate opens */
    pthread_mutex_lock(&st.lock);
    st.job->size = started + 1;
    st.job->barrier.size = st.job->size;
    st.job->barrier.spins = snn__spins(st.job->size);
    st.started = 1;
    pthread_cond_broadcast(&st.go);
    pthread_mutex_unlock(&st.lock);
    snn__team_job_member(st.job, 0);
    for (t = 0; t < started; t++) pthread_join(threads[t], NULL);
    pthread_cond_destroy(&st.go);
    pthread_mutex_destroy(&st.lock);
    status = st.job->status;
    snn__team_job_free(st.job);
    return status;
}
