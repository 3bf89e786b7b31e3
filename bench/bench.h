/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * bench.h - what the in-process benchmarks share: the clock, pinning, the
 * spin pause, the trial line format, and the mutex + condition variable
 * bounded queue that stands for "the hand-written queue" of the peers.
 *
 * Every benchmark binary prints one line per trial:
 *
 *	trial <benchmark> <contender> <rep> <value> <unit>
 *
 * and bench.py computes medians, extremes and ratios from those lines, so
 * that one piece of code does the statistics for all six benchmarks.  A
 * binary exits 1 if any item failed its check (and says which), 2 on bad
 * usage or a setup failure.
 */
#ifndef LDQ_BENCH_H
#define LDQ_BENCH_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

/*
 * The CPUs the process may run on, taken once at start-up, before any
 * thread is pinned (a thread inherits its creator's mask).
 */
static cpu_set_t bench_allowed;

__attribute__((constructor)) static void bench_allowed_init(void)
{
	if (sched_getaffinity(0, sizeof(bench_allowed), &bench_allowed)) {
		CPU_ZERO(&bench_allowed);
		CPU_SET(0, &bench_allowed);
	}
}

static inline int bench_ncpus(void)
{
	return CPU_COUNT(&bench_allowed);
}

/*
 * Pin the calling thread to the @nth CPU the process may use (modulo their
 * number): the producer takes the first and the consumer the second, so
 * the two sides never share a core when there are two.
 */
static inline int bench_pin(int nth)
{
	int seen = 0, count = bench_ncpus();
	cpu_set_t one;

	if (count <= 0)
		return -EINVAL;
	nth %= count;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &bench_allowed))
			continue;
		if (seen++ == nth) {
			CPU_ZERO(&one);
			CPU_SET(c, &one);
			return -pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
		}
	}
	return -EINVAL;
}

static inline void bench_trial(const char *bench, const char *who, int rep, double value,
			       const char *unit)
{
	printf("trial %s %s %d %.6g %s\n", bench, who, rep, value, unit);
	fflush(stdout);
}

static inline void *bench_alloc(size_t n)
{
	void *p = NULL;

	if (posix_memalign(&p, 4096, n)) {
		fprintf(stderr, "bench: cannot allocate %zu bytes\n", n);
		exit(2);
	}
	/* Fault every page in now, outside the timed part. */
	memset(p, 0, n);
	return p;
}

/*
 * The mutex + condition variable bounded queue of 64-bit values, as people
 * write it: one lock, "not empty" and "not full" conditions, a signal at
 * every push and pop.  @cap is a power of two.
 */
struct mq {
	pthread_mutex_t lock;
	pthread_cond_t not_empty;
	pthread_cond_t not_full;
	uint64_t *slots;
	uint64_t mask;
	uint64_t head; /* pushed */
	uint64_t tail; /* popped */
};

static inline void mq_init(struct mq *q, uint64_t cap)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->not_empty, NULL);
	pthread_cond_init(&q->not_full, NULL);
	q->slots = calloc(cap, sizeof(*q->slots));
	if (!q->slots) {
		fprintf(stderr, "bench: out of memory\n");
		exit(2);
	}
	q->mask = cap - 1;
}

static inline void mq_destroy(struct mq *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->not_empty);
	pthread_cond_destroy(&q->not_full);
	free(q->slots);
}

static inline void mq_push(struct mq *q, uint64_t v)
{
	pthread_mutex_lock(&q->lock);
	while (q->head - q->tail > q->mask)
		pthread_cond_wait(&q->not_full, &q->lock);
	q->slots[q->head & q->mask] = v;
	q->head++;
	pthread_cond_signal(&q->not_empty);
	pthread_mutex_unlock(&q->lock);
}

static inline uint64_t mq_pop(struct mq *q)
{
	uint64_t v;

	pthread_mutex_lock(&q->lock);
	while (q->head == q->tail)
		pthread_cond_wait(&q->not_empty, &q->lock);
	v = q->slots[q->tail & q->mask];
	q->tail++;
	pthread_cond_signal(&q->not_full);
	pthread_mutex_unlock(&q->lock);
	return v;
}

/* The options every binary takes: -r REPS, -t SECONDS a trial, -q. */
struct bench_opts {
	int reps;
	int quick;
	double trial_s; /* how long a trial should last, seconds */
};

static inline void bench_parse(int argc, char **argv, struct bench_opts *o, const char *usage)
{
	int c;

	o->reps = 7;
	o->quick = getenv("BENCH_QUICK") && strcmp(getenv("BENCH_QUICK"), "0");
	o->trial_s = 0;
	while ((c = getopt(argc, argv, "r:t:qh")) != -1) {
		switch (c) {
		case 'r':
			o->reps = atoi(optarg);
			break;
		case 't':
			o->trial_s = atof(optarg);
			break;
		case 'q':
			o->quick = 1;
			break;
		default:
			fprintf(stderr, "%s", usage);
			exit(c == 'h' ? 0 : 2);
		}
	}
	if (o->trial_s <= 0)
		o->trial_s = o->quick ? 0.1 : 0.3;
	if (o->reps < 1) {
		fprintf(stderr, "%s", usage);
		exit(2);
	}
}

#endif
