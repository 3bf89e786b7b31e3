/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring_small.c - 8-byte items through an SPSC queue, two threads pinned to
 * two CPUs, every item checked.
 *
 * Item k is the 64-bit number k; the consumer checks that it receives
 * 0, 1, 2, ... in order, none missing, none repeated.  Contenders, each run
 * with fresh queues of 8192 items (64 KiB), interleaved in every repetition:
 *
 *   ldq-one    labdaq's ring, one item at a time: ldq_ring_reserve(8) /
 *              commit(8); ldq_ring_peek_n(8) / read the item / release(8)
 *   ldq-batch  labdaq's ring in batches: reserve / commit BATCH items
 *              (64 unless -b) at once; peek everything readable, check it
 *              all, release it all
 *   ck         Concurrency Kit's ck_ring_enqueue_spsc / ck_ring_dequeue_spsc
 *              (one item per call: ck_ring has no batch operation)
 *   boost      Boost's lockfree::spsc_queue<uint64_t, capacity<8192>>, one
 *              push / pop per item (boost_spsc.cpp: the loops are in C++)
 *   boost-batch  the same queue's push(array, BATCH) / pop(array, BATCH):
 *              Boost's batch operations (they copy the items in and out)
 *   mutex      a mutex + condition variable bounded queue, one item per
 *              lock (it sleeps when full or empty: that is what it is)
 *
 * The lock-free contenders all wait the same way: when the queue is full
 * (empty) they call reserve (peek, dequeue) again after a pause instruction,
 * never sleeping, so that the protocols are compared and not the sleeping
 * strategies.  labdaq's own ldq_ring_wait_*() are not used here.
 *
 * The time of a trial runs from the producer's first item to the
 * consumer's last; the value reported is items per second.
 */
#include <ck_ring.h>
#include <stdatomic.h>

#include "bench.h"
#include "boost_spsc.h"
#include "ring.h"

#define QUEUE_ITEMS 8192u
#define ITEM 8u

enum kind { K_LDQ_ONE, K_LDQ_BATCH, K_CK, K_BOOST, K_BOOST_BATCH, K_MUTEX, K_COUNT };

static const char *const kind_name[K_COUNT] = { "ldq-one", "ldq-batch", "ck", "boost",
						 "boost-batch", "mutex" };

struct trial {
	enum kind kind;
	uint64_t n;
	unsigned int batch;
	struct ldq_ring *ring;
	ck_ring_t ck;
	ck_ring_buffer_t *ckbuf;
	struct boost_spsc *bq;
	struct mq mq;

	atomic_int ready;
	uint64_t t0, t1;
	uint64_t bad;		/* items that failed the check */
	uint64_t first_bad;	/* the index where it first failed */
};

static void *producer(void *arg)
{
	struct trial *t = arg;
	const uint64_t n = t->n;

	if (bench_pin(0))
		fprintf(stderr, "ring_small: cannot pin the producer\n");
	atomic_fetch_add(&t->ready, 1);
	while (atomic_load(&t->ready) < 2)
		bench_relax();
	t->t0 = bench_now_ns();

	switch (t->kind) {
	case K_LDQ_ONE:
		for (uint64_t i = 0; i < n; i++) {
			void *p;

			while (!(p = ldq_ring_reserve(t->ring, ITEM)))
				bench_relax();
			memcpy(p, &i, ITEM);
			ldq_ring_commit(t->ring, ITEM);
		}
		break;
	case K_LDQ_BATCH:
		for (uint64_t i = 0; i < n;) {
			uint64_t b = n - i < t->batch ? n - i : t->batch;
			uint64_t *p;

			while (!(p = ldq_ring_reserve(t->ring, b * ITEM)))
				bench_relax();
			for (uint64_t k = 0; k < b; k++)
				p[k] = i + k;
			ldq_ring_commit(t->ring, b * ITEM);
			i += b;
		}
		break;
	case K_CK:
		for (uint64_t i = 0; i < n; i++)
			while (!ck_ring_enqueue_spsc(&t->ck, t->ckbuf, (void *)(uintptr_t)i))
				bench_relax();
		break;
	case K_BOOST:
	case K_BOOST_BATCH:
		boost_spsc_produce(t->bq, n, t->kind == K_BOOST ? 1 : t->batch);
		break;
	case K_MUTEX:
		for (uint64_t i = 0; i < n; i++)
			mq_push(&t->mq, i);
		break;
	default:
		break;
	}
	return NULL;
}

static void check(struct trial *t, uint64_t got, uint64_t want)
{
	if (got != want && !t->bad++)
		t->first_bad = want;
}

static void *consumer(void *arg)
{
	struct trial *t = arg;
	const uint64_t n = t->n;
	uint64_t next = 0;

	if (bench_pin(1))
		fprintf(stderr, "ring_small: cannot pin the consumer\n");
	atomic_fetch_add(&t->ready, 1);

	switch (t->kind) {
	case K_LDQ_ONE:
		while (next < n) {
			const void *p = ldq_ring_peek_n(t->ring, ITEM);
			uint64_t v;

			if (!p) {
				bench_relax();
				continue;
			}
			memcpy(&v, p, ITEM);
			check(t, v, next++);
			ldq_ring_release(t->ring, ITEM);
		}
		break;
	case K_LDQ_BATCH:
		while (next < n) {
			size_t avail;
			const uint64_t *p = ldq_ring_peek(t->ring, &avail);
			size_t items = avail / ITEM;

			if (!items) {
				bench_relax();
				continue;
			}
			for (size_t k = 0; k < items; k++)
				check(t, p[k], next++);
			ldq_ring_release(t->ring, items * ITEM);
		}
		break;
	case K_CK:
		while (next < n) {
			void *v;

			if (!ck_ring_dequeue_spsc(&t->ck, t->ckbuf, &v)) {
				bench_relax();
				continue;
			}
			check(t, (uintptr_t)v, next++);
		}
		break;
	case K_BOOST:
	case K_BOOST_BATCH:
		t->bad = boost_spsc_consume(t->bq, n, t->kind == K_BOOST ? 1 : t->batch,
					    &t->first_bad);
		break;
	case K_MUTEX:
		while (next < n)
			check(t, mq_pop(&t->mq), next++);
		break;
	default:
		break;
	}
	t->t1 = bench_now_ns();
	return NULL;
}

/* Run one trial; returns items per second, or < 0 after a failed check. */
static double run_trial(enum kind kind, uint64_t n, unsigned int batch)
{
	struct trial *t;
	pthread_t pt, ct;
	double rate;
	int ret;

	if (posix_memalign((void **)&t, 128, sizeof(*t)))
		exit(2);
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->n = n;
	t->batch = batch;
	switch (kind) {
	case K_LDQ_ONE:
	case K_LDQ_BATCH:
		ret = ldq_ring_new(QUEUE_ITEMS * ITEM, &t->ring);
		if (ret) {
			fprintf(stderr, "ring_small: ldq_ring_new: %s\n", strerror(-ret));
			exit(2);
		}
		break;
	case K_CK:
		t->ckbuf = bench_alloc(QUEUE_ITEMS * sizeof(*t->ckbuf));
		ck_ring_init(&t->ck, QUEUE_ITEMS);
		break;
	case K_BOOST:
	case K_BOOST_BATCH:
		t->bq = boost_spsc_new();
		if (!t->bq)
			exit(2);
		break;
	case K_MUTEX:
		mq_init(&t->mq, QUEUE_ITEMS);
		break;
	default:
		break;
	}

	if (pthread_create(&ct, NULL, consumer, t) || pthread_create(&pt, NULL, producer, t)) {
		fprintf(stderr, "ring_small: pthread_create failed\n");
		exit(2);
	}
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);

	rate = (double)n * 1e9 / (double)(t->t1 - t->t0);
	if (t->bad) {
		fprintf(stderr, "ring_small: %s: %llu items wrong, the first at index %llu\n",
			kind_name[kind], (unsigned long long)t->bad,
			(unsigned long long)t->first_bad);
		rate = -1;
	}
	ldq_ring_free(t->ring);
	free(t->ckbuf);
	boost_spsc_free(t->bq);
	if (kind == K_MUTEX)
		mq_destroy(&t->mq);
	free(t);
	return rate;
}

static const char usage[] =
	"usage: ring_small [-r REPS] [-t SECONDS] [-q] [-b BATCH]\n"
	"  8-byte items, producer and consumer pinned to two CPUs; prints\n"
	"  'trial ring_small CONTENDER REP ITEMS_PER_S items/s' lines.\n"
	"  A trial lasts about -t seconds (0.3; -q or BENCH_QUICK=1: 0.1): its\n"
	"  items are scaled to the rate of a first short trial.\n";

int main(int argc, char **argv)
{
	/* The most items of a trial (several seconds at the rates of
	 * BENCHMARKS.md); see -t. */
	static const uint64_t items[K_COUNT] = {
		[K_LDQ_ONE] = 200000000, [K_LDQ_BATCH] = 2000000000,
		[K_CK] = 400000000,      [K_BOOST] = 400000000,
		[K_BOOST_BATCH] = 2000000000, [K_MUTEX] = 20000000,
	};
	uint64_t n[K_COUNT];
	struct bench_opts o;
	unsigned int batch = 64;
	int failed = 0;

	/* -b is ours; bench_parse() takes the rest. */
	for (int i = 1; i < argc - 1; i++) {
		if (!strcmp(argv[i], "-b")) {
			batch = (unsigned int)atoi(argv[i + 1]);
			memmove(&argv[i], &argv[i + 2], (size_t)(argc - i - 1) * sizeof(*argv));
			argc -= 2;
			break;
		}
	}
	bench_parse(argc, argv, &o, usage);
	if (!batch || batch > QUEUE_ITEMS / 2 || batch > BOOST_SPSC_MAX_BATCH) {
		fprintf(stderr, "%s", usage);
		return 2;
	}
	if (bench_ncpus() < 2)
		fprintf(stderr, "ring_small: only one CPU: both threads share it, "
			"the figures mean little\n");
	printf("# ring_small: queue %u items, batch %u, %d repetitions%s\n", QUEUE_ITEMS, batch,
	       o.reps, o.quick ? " (quick)" : "");

	/* Size each contender's trials to last about -t seconds on this machine
	 * now: a short trial measures its rate (and warms up: page faults,
	 * frequency ramps, thread creation).  A loaded machine thus costs
	 * fewer items, not more minutes. */
	for (int k = 0; k < K_COUNT; k++) {
		double rate = run_trial((enum kind)k, items[k] / 1000, batch);
		double want = rate * o.trial_s;

		if (rate < 0)
			return 1;
		n[k] = want > (double)items[k] ? items[k] :
		       want < (double)(items[k] / 1000) ? items[k] / 1000 : (uint64_t)want;
	}

	for (int rep = 0; rep < o.reps; rep++) {
		for (int k = 0; k < K_COUNT; k++) {
			/* Alternate the order so that no contender always
			 * follows the same one. */
			enum kind kind = (enum kind)(rep % 2 ? K_COUNT - 1 - k : k);
			double rate = run_trial(kind, n[kind], batch);

			if (rate < 0)
				failed = 1;
			else
				bench_trial("ring_small", kind_name[kind], rep, rate, "items/s");
		}
	}
	return failed;
}
