/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring_bulk.c - 64 KiB blocks through 64 MiB of queue, two threads pinned
 * to two CPUs, every byte checked.
 *
 * What "the device fills a block" and "the consumer uses a block" mean is
 * the same for every contender:
 *
 *   fill(b, k)  memset() of the 64 KiB with the byte k mod 256, then block
 *               number k as a little-endian uint64 in its first 8 bytes;
 *   use(b, k)   sum the block's 8192 64-bit words (four independent
 *               accumulators) and compare the sum with the one fill(k)
 *               must give: every byte is read once and checked.
 *
 * Contenders, interleaved in every repetition:
 *
 *   ldq-zerocopy  labdaq's ring of 64 MiB: the producer fills the region
 *                 ldq_ring_reserve(64K) returns and commits it; the consumer
 *                 peeks everything readable, uses each block where it lies
 *                 and releases it.  No copy.
 *   ck-copy       ck_ring (spsc) carrying pointers to 1024 buffers of 64 KiB
 *                 (64 MiB): the producer fills its own block (the device's),
 *                 copies it into a free buffer and enqueues the pointer; the
 *                 consumer dequeues, copies the buffer out into its own
 *                 block, hands the buffer back through a second ck_ring,
 *                 and uses its copy.
 *   mutex-copy    the same with two mutex + condition variable queues.
 *   memcpy        one thread copies the same number of bytes, 64 KiB at a
 *                 time, from a 64 MiB buffer to another (no fill, no use):
 *                 the machine's copy speed, for scale.
 *   ck-inplace    a reference, not a peer: ck-copy without its two copies
 *                 (the producer fills the free buffer, the consumer uses the
 *                 buffer where it lies, then hands it back).  What any ring
 *                 that passes blocks in place reaches here: the part of
 *                 ldq-zerocopy's lead that is the copies, not the ring.
 *
 * The lock-free contenders wait by spinning with a pause (see ring_small.c).
 * The value reported is GB/s (10^9 bytes per second) of blocks delivered.
 */
#include <ck_ring.h>
#include <stdatomic.h>

#include "bench.h"
#include "ring.h"

#define BLOCK (64u << 10)
#define QUEUE_BYTES (64u << 20)
#define NBUF (QUEUE_BYTES / BLOCK) /* 1024 */

enum kind { K_LDQ, K_CK, K_MUTEX, K_MEMCPY, K_CK_INPLACE, K_COUNT };

static const char *const kind_name[K_COUNT] = { "ldq-zerocopy", "ck-copy", "mutex-copy",
						"memcpy", "ck-inplace" };

struct trial {
	enum kind kind;
	uint64_t nblocks;
	struct ldq_ring *ring;
	/* ck-copy and mutex-copy */
	unsigned char *pool;	/* NBUF buffers of BLOCK bytes */
	ck_ring_t ck_full, ck_free;
	ck_ring_buffer_t *ck_full_buf, *ck_free_buf;
	struct mq mq_full, mq_free;
	unsigned char *src;	/* the producer's own block */
	unsigned char *dst;	/* the consumer's own block */

	atomic_int ready;
	uint64_t t0, t1;
	uint64_t bad;
	uint64_t first_bad;
};

static void fill(void *b, uint64_t k)
{
	memset(b, (int)(k & 0xff), BLOCK);
	memcpy(b, &k, sizeof(k));
}

static uint64_t expected_sum(uint64_t k)
{
	uint64_t word = (k & 0xff) * 0x0101010101010101ull;

	return k + word * (BLOCK / 8 - 1);
}

/* Returns 1 if block @b is what fill(@k) wrote. */
static int use(const void *b, uint64_t k)
{
	const uint64_t *w = b;
	uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;

	for (size_t i = 0; i < BLOCK / 8; i += 4) {
		s0 += w[i];
		s1 += w[i + 1];
		s2 += w[i + 2];
		s3 += w[i + 3];
	}
	return s0 + s1 + s2 + s3 == expected_sum(k) && w[0] == k;
}

static void check(struct trial *t, int ok, uint64_t k)
{
	if (!ok && !t->bad++)
		t->first_bad = k;
}

static void *producer(void *arg)
{
	struct trial *t = arg;
	const uint64_t n = t->nblocks;

	if (bench_pin(0))
		fprintf(stderr, "ring_bulk: cannot pin the producer\n");
	atomic_fetch_add(&t->ready, 1);
	while (atomic_load(&t->ready) < 2)
		bench_relax();
	t->t0 = bench_now_ns();

	switch (t->kind) {
	case K_LDQ:
		for (uint64_t k = 0; k < n; k++) {
			void *p;

			while (!(p = ldq_ring_reserve(t->ring, BLOCK)))
				bench_relax();
			fill(p, k);
			ldq_ring_commit(t->ring, BLOCK);
		}
		break;
	case K_CK:
	case K_CK_INPLACE:
		for (uint64_t k = 0; k < n; k++) {
			void *buf;

			if (t->kind == K_CK)
				fill(t->src, k);
			if (k < NBUF)
				buf = t->pool + k * BLOCK;
			else
				while (!ck_ring_dequeue_spsc(&t->ck_free, t->ck_free_buf, &buf))
					bench_relax();
			if (t->kind == K_CK)
				memcpy(buf, t->src, BLOCK);
			else
				fill(buf, k);
			while (!ck_ring_enqueue_spsc(&t->ck_full, t->ck_full_buf, buf))
				bench_relax();
		}
		break;
	case K_MUTEX:
		for (uint64_t k = 0; k < n; k++) {
			unsigned char *buf;

			fill(t->src, k);
			if (k < NBUF)
				buf = t->pool + k * BLOCK;
			else
				buf = (unsigned char *)(uintptr_t)mq_pop(&t->mq_free);
			memcpy(buf, t->src, BLOCK);
			mq_push(&t->mq_full, (uintptr_t)buf);
		}
		break;
	default:
		break;
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct trial *t = arg;
	const uint64_t n = t->nblocks;
	uint64_t k = 0;

	if (bench_pin(1))
		fprintf(stderr, "ring_bulk: cannot pin the consumer\n");
	atomic_fetch_add(&t->ready, 1);

	switch (t->kind) {
	case K_LDQ:
		while (k < n) {
			size_t avail;
			const unsigned char *p = ldq_ring_peek(t->ring, &avail);

			if (avail < BLOCK) {
				bench_relax();
				continue;
			}
			for (; avail >= BLOCK; avail -= BLOCK, p += BLOCK, k++) {
				check(t, use(p, k), k);
				ldq_ring_release(t->ring, BLOCK);
			}
		}
		break;
	case K_CK:
		for (; k < n; k++) {
			void *buf;

			while (!ck_ring_dequeue_spsc(&t->ck_full, t->ck_full_buf, &buf))
				bench_relax();
			memcpy(t->dst, buf, BLOCK);
			/* The free ring holds all NBUF buffers: never full. */
			while (!ck_ring_enqueue_spsc(&t->ck_free, t->ck_free_buf, buf))
				bench_relax();
			check(t, use(t->dst, k), k);
		}
		break;
	case K_CK_INPLACE:
		for (; k < n; k++) {
			void *buf;

			while (!ck_ring_dequeue_spsc(&t->ck_full, t->ck_full_buf, &buf))
				bench_relax();
			check(t, use(buf, k), k);
			while (!ck_ring_enqueue_spsc(&t->ck_free, t->ck_free_buf, buf))
				bench_relax();
		}
		break;
	case K_MUTEX:
		for (; k < n; k++) {
			void *buf = (void *)(uintptr_t)mq_pop(&t->mq_full);

			memcpy(t->dst, buf, BLOCK);
			mq_push(&t->mq_free, (uintptr_t)buf);
			check(t, use(t->dst, k), k);
		}
		break;
	default:
		break;
	}
	t->t1 = bench_now_ns();
	return NULL;
}

static unsigned char *big_src, *big_dst;

struct memcpy_trial {
	uint64_t nblocks;
	double gbps;
};

/* In a thread of its own, like the others: the main thread stays unpinned. */
static void *memcpy_main(void *arg)
{
	struct memcpy_trial *m = arg;
	uint64_t t0, t1;

	if (bench_pin(0))
		fprintf(stderr, "ring_bulk: cannot pin\n");
	t0 = bench_now_ns();
	for (uint64_t k = 0; k < m->nblocks; k++) {
		size_t off = (size_t)(k % NBUF) * BLOCK;

		memcpy(big_dst + off, big_src + off, BLOCK);
	}
	t1 = bench_now_ns();
	/* Keep the copies from being optimized away. */
	__asm__ __volatile__("" : : "r"(big_dst) : "memory");
	m->gbps = (double)m->nblocks * BLOCK / (double)(t1 - t0);
	return NULL;
}

static double run_memcpy(uint64_t nblocks)
{
	struct memcpy_trial m = { .nblocks = nblocks };
	pthread_t th;

	if (pthread_create(&th, NULL, memcpy_main, &m)) {
		fprintf(stderr, "ring_bulk: pthread_create failed\n");
		exit(2);
	}
	pthread_join(th, NULL);
	return m.gbps;
}

/* One trial: GB/s, or < 0 after a failed check. */
static double run_trial(enum kind kind, uint64_t nblocks)
{
	struct trial *t;
	pthread_t pt, ct;
	double gbps;
	int ret;

	if (kind == K_MEMCPY)
		return run_memcpy(nblocks);
	if (posix_memalign((void **)&t, 128, sizeof(*t)))
		exit(2);
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->nblocks = nblocks;
	if (kind == K_LDQ) {
		ret = ldq_ring_new(QUEUE_BYTES, &t->ring);
		if (ret) {
			fprintf(stderr, "ring_bulk: ldq_ring_new: %s\n", strerror(-ret));
			exit(2);
		}
	} else {
		t->pool = bench_alloc(QUEUE_BYTES);
		t->src = bench_alloc(BLOCK);
		t->dst = bench_alloc(BLOCK);
		if (kind == K_CK || kind == K_CK_INPLACE) {
			/* ck_ring holds size - 1 entries: 2 * NBUF is room for all. */
			t->ck_full_buf = bench_alloc(2 * NBUF * sizeof(ck_ring_buffer_t));
			t->ck_free_buf = bench_alloc(2 * NBUF * sizeof(ck_ring_buffer_t));
			ck_ring_init(&t->ck_full, 2 * NBUF);
			ck_ring_init(&t->ck_free, 2 * NBUF);
		} else {
			mq_init(&t->mq_full, NBUF);
			mq_init(&t->mq_free, NBUF);
		}
	}

	if (pthread_create(&ct, NULL, consumer, t) || pthread_create(&pt, NULL, producer, t)) {
		fprintf(stderr, "ring_bulk: pthread_create failed\n");
		exit(2);
	}
	pthread_join(pt, NULL);
	pthread_join(ct, NULL);

	gbps = (double)nblocks * BLOCK / (double)(t->t1 - t->t0);
	if (t->bad) {
		fprintf(stderr, "ring_bulk: %s: %llu blocks wrong, the first is block %llu\n",
			kind_name[kind], (unsigned long long)t->bad,
			(unsigned long long)t->first_bad);
		gbps = -1;
	}
	ldq_ring_free(t->ring);
	free(t->pool);
	free(t->src);
	free(t->dst);
	free(t->ck_full_buf);
	free(t->ck_free_buf);
	if (kind == K_MUTEX) {
		mq_destroy(&t->mq_full);
		mq_destroy(&t->mq_free);
	}
	free(t);
	return gbps;
}

static const char usage[] =
	"usage: ring_bulk [-r REPS] [-t SECONDS] [-q]\n"
	"  64 KiB blocks through 64 MiB, producer and consumer pinned to two CPUs;\n"
	"  prints 'trial ring_bulk CONTENDER REP GBPS GB/s' lines.\n"
	"  A trial lasts about -t seconds (0.3; -q or BENCH_QUICK=1: 0.1), from\n"
	"  256 MiB to 8 GiB, scaled to the rate of a first trial.\n";

int main(int argc, char **argv)
{
	const uint64_t most = (8ull << 30) / BLOCK, least = (256ull << 20) / BLOCK;
	uint64_t n[K_COUNT];
	struct bench_opts o;
	int failed = 0;

	bench_parse(argc, argv, &o, usage);
	if (bench_ncpus() < 2)
		fprintf(stderr, "ring_bulk: only one CPU: both threads share it\n");
	printf("# ring_bulk: %u KiB blocks, %u MiB of queue, %d repetitions%s\n", BLOCK >> 10,
	       QUEUE_BYTES >> 20, o.reps, o.quick ? " (quick)" : "");
	big_src = bench_alloc(QUEUE_BYTES);
	big_dst = bench_alloc(QUEUE_BYTES);

	/* Size the trials to last about -t seconds each (see ring_small.c);
	 * this first trial also warms up. */
	for (int k = 0; k < K_COUNT; k++) {
		double gbps = run_trial((enum kind)k, least);
		double want = gbps * 1e9 * o.trial_s / BLOCK;

		if (gbps < 0)
			return 1;
		n[k] = want > (double)most ? most : want < (double)least ? least : (uint64_t)want;
	}
	for (int rep = 0; rep < o.reps; rep++) {
		for (int i = 0; i < K_COUNT; i++) {
			enum kind kind = (enum kind)(rep % 2 ? K_COUNT - 1 - i : i);
			double v = run_trial(kind, n[kind]);

			if (v < 0)
				failed = 1;
			else
				bench_trial("ring_bulk", kind_name[kind], rep, v, "GB/s");
		}
	}
	return failed;
}
