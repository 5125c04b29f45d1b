/*
 * Waiting for other threads: the futex-backed wait and wake that a runner's
 * workers and a team's members use, and the team's barrier. Beneath run.c,
 * team.c and runner.c; calls none of them.
 */
#if defined(__linux__)
#define _GNU_SOURCE 1   /* syscall() for futex, sched_getaffinity */
#endif
#include "internal.h"

#include <limits.h>
#include <sched.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#include <unistd.h>

/* Spin steps before sleeping: about a millisecond when the group fits the
 * CPUs (waking a sleeping thread costs more than a phase of a step, so a short
 * spin would make a team slower than one thread), briefly when it does not (a
 * spinning thread would keep the one still working from running). */
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

/* ---- barrier ------------------------------------------------------------- */

void snn__barrier_init(snn_barrier *b, int32_t size)
{
    int32_t r;
    b->size = size;
    b->arrived = 0;
    b->sense = 0;
    b->sleepers = 0;
    b->spins = snn__spins(size);
    for (r = 0; r < SNN_MAX_THREADS; r++) b->member_sense[r] = 0;
}

/* Sense-reversing: the last member to arrive flips the sense, the others spin,
 * then sleep, until it has. */
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
