/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_ring_ahead.c - reserving ahead in the SPSC byte ring
 * (ldq_ring_reserve_ahead(), lib/ring.c), as the v4l2 backend's USERPTR
 * path uses it: several frame-sized regions outstanding at once, filled in
 * any order, committed in order.
 *
 * Single-threaded: the bounds (NULL when the space is short), the pointer
 * of a region reserved ahead is the one ldq_ring_reserve() gives when the
 * committed position reaches it, and frames that do not divide the
 * capacity (regions across the end, in the overhang) come out whole and in
 * order.  Two threads: a producer that keeps several regions outstanding
 * and fills them in reverse order, a consumer that checks every byte.
 * Depends on ring.c only.  Built plain, with ASan+UBSan and with
 * ThreadSanitizer.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring.h"

/* The byte at stream offset @off: not periodic in any frame size used. */
static unsigned char pat(uint64_t off)
{
	uint64_t x = off * 0x9e3779b97f4a7c15ull;

	return (unsigned char)(x >> 56);
}

static void fill(unsigned char *p, uint64_t off, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(off + i);
}

/* The number of wrong bytes. */
static uint64_t check(const unsigned char *p, uint64_t off, size_t n)
{
	uint64_t bad = 0;

	for (size_t i = 0; i < n; i++)
		bad += p[i] != pat(off + i);
	return bad;
}

static void test_bounds(void **state)
{
	struct ldq_ring *r;
	size_t cap;

	(void)state;
	assert_int_equal(ldq_ring_new(4096, &r), 0);
	cap = ldq_ring_capacity(r);
	assert_null(ldq_ring_reserve_ahead(r, 0, 0));
	assert_null(ldq_ring_reserve_ahead(r, 0, cap + 1));
	assert_null(ldq_ring_reserve_ahead(r, cap, 1));
	assert_null(ldq_ring_reserve_ahead(r, SIZE_MAX, 1));
	assert_non_null(ldq_ring_reserve_ahead(r, cap - 100, 100));
	assert_null(ldq_ring_reserve_ahead(r, cap - 99, 100));
	/* 1000 bytes committed, none released: 1000 fewer free. */
	assert_non_null(ldq_ring_reserve(r, 1000));
	ldq_ring_commit(r, 1000);
	assert_non_null(ldq_ring_reserve_ahead(r, cap - 1100, 100));
	assert_null(ldq_ring_reserve_ahead(r, cap - 1099, 100));
	/* Released: free again (the cached tail is refreshed). */
	{
		size_t avail;

		ldq_ring_peek(r, &avail);
		assert_int_equal(avail, 1000);
		ldq_ring_release(r, 1000);
	}
	assert_non_null(ldq_ring_reserve_ahead(r, cap - 100, 100));
	ldq_ring_free(r);
}

/* Region k of @n bytes lies @k * @n past the committed position; when the
 * position reaches it, reserve() gives the same pointer. */
static void test_same_pointer_as_reserve(void **state)
{
	const size_t n = 3000;
	unsigned char *ahead[3];
	struct ldq_ring *r;
	size_t avail;

	(void)state;
	assert_int_equal(ldq_ring_new(16384, &r), 0);
	for (int lap = 0; lap < 20; lap++) {
		for (int k = 0; k < 3; k++)
			ahead[k] = ldq_ring_reserve_ahead(r, (size_t)k * n, n);
		for (int k = 0; k < 3; k++) {
			assert_ptr_equal(ldq_ring_reserve(r, n), ahead[k]);
			ldq_ring_commit(r, n);
		}
		ldq_ring_peek(r, &avail);
		ldq_ring_release(r, avail);
		ldq_ring_peek(r, &avail);
		ldq_ring_release(r, avail);
	}
	ldq_ring_free(r);
}

/*
 * Frames of @n bytes, @depth outstanding, each batch filled last to first,
 * committed in order; the consumer checks every byte.  A ring of 16 KiB
 * and frames of 3000 bytes: regions cross the end at most laps, some start
 * exactly at it.
 */
static void run_single(size_t cap_req, size_t n, unsigned int depth, unsigned int frames)
{
	struct ldq_ring *r;
	uint64_t produced = 0, consumed = 0, bad = 0;

	assert_int_equal(ldq_ring_new(cap_req, &r), 0);
	assert_true(depth * n <= ldq_ring_capacity(r));
	for (unsigned int f = 0; f < frames; f += depth) {
		unsigned char *slot[16];
		size_t avail;

		for (unsigned int k = 0; k < depth; k++) {
			slot[k] = ldq_ring_reserve_ahead(r, k * n, n);
			assert_non_null(slot[k]);
		}
		for (unsigned int k = depth; k-- > 0;)
			fill(slot[k], produced + k * n, n);
		for (unsigned int k = 0; k < depth; k++) {
			assert_ptr_equal(ldq_ring_reserve(r, n), slot[k]);
			ldq_ring_commit(r, n);
		}
		produced += depth * n;
		for (int part = 0; part < 2; part++) {
			const unsigned char *p = ldq_ring_peek(r, &avail);

			bad += check(p, consumed, avail);
			consumed += avail;
			ldq_ring_release(r, avail);
		}
	}
	assert_int_equal(consumed, produced);
	assert_int_equal(bad, 0);
	ldq_ring_free(r);
}

static void test_frames_across_the_end(void **state)
{
	(void)state;
	run_single(16384, 3000, 4, 400);
	run_single(16384, 4096, 4, 64);  /* frames that divide the capacity */
	run_single(16384, 5461, 3, 300); /* the most frames that fit */
}

/* ---- two threads ---- */

#define T_FRAME 4099
#define T_DEPTH 6
#define T_FRAMES 7998 /* a multiple of T_DEPTH */

struct pair {
	struct ldq_ring *r;
	uint64_t bad;
	uint64_t consumed;
};

static void *producer_main(void *arg)
{
	struct pair *pp = arg;
	struct ldq_ring *r = pp->r;
	unsigned char *slot[T_DEPTH];
	uint64_t committed = 0;

	for (unsigned int f = 0; f < T_FRAMES; f += T_DEPTH) {
		for (unsigned int k = 0; k < T_DEPTH; k++) {
			while (!(slot[k] = ldq_ring_reserve_ahead(r, k * T_FRAME, T_FRAME)))
				ldq_ring_wait_space(r, (k + 1) * T_FRAME, 1000000);
		}
		/* The device fills them in any order. */
		for (unsigned int k = T_DEPTH; k-- > 0;)
			fill(slot[k], committed + k * T_FRAME, T_FRAME);
		for (unsigned int k = 0; k < T_DEPTH; k++) {
			unsigned char *p = ldq_ring_reserve(r, T_FRAME);

			if (p != slot[k])
				pp->bad++;
			ldq_ring_commit(r, T_FRAME);
			committed += T_FRAME;
		}
	}
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct pair *pp = arg;
	const uint64_t total = (uint64_t)T_FRAMES / T_DEPTH * T_DEPTH * T_FRAME;

	while (pp->consumed < total) {
		size_t avail;
		const unsigned char *p = ldq_ring_peek(pp->r, &avail);

		if (!avail) {
			ldq_ring_wait_data(pp->r, 1, 1000000);
			continue;
		}
		pp->bad += check(p, pp->consumed, avail);
		pp->consumed += avail;
		ldq_ring_release(pp->r, avail);
	}
	return NULL;
}

static void test_two_threads(void **state)
{
	struct pair prod = { 0 }, cons = { 0 };
	pthread_t tp, tc;

	(void)state;
	/* 64 KiB: 15 frames a lap, 6 outstanding; 32 MiB in all. */
	assert_int_equal(ldq_ring_new(65536, &prod.r), 0);
	cons.r = prod.r;
	assert_int_equal(pthread_create(&tc, NULL, consumer_main, &cons), 0);
	assert_int_equal(pthread_create(&tp, NULL, producer_main, &prod), 0);
	pthread_join(tp, NULL);
	pthread_join(tc, NULL);
	assert_int_equal(prod.bad, 0);
	assert_int_equal(cons.bad, 0);
	assert_int_equal(cons.consumed, (uint64_t)T_FRAMES / T_DEPTH * T_DEPTH * T_FRAME);
	ldq_ring_free(prod.r);
}

/* The checker finds a frame the producer wrote one byte wrong. */
static void test_check_detects(void **state)
{
	unsigned char buf[100];

	(void)state;
	fill(buf, 12345, sizeof(buf));
	assert_int_equal(check(buf, 12345, sizeof(buf)), 0);
	buf[57] ^= 1;
	assert_int_equal(check(buf, 12345, sizeof(buf)), 1);
	assert_int_not_equal(check(buf, 12346, sizeof(buf)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_same_pointer_as_reserve),
		cmocka_unit_test(test_frames_across_the_end),
		cmocka_unit_test(test_two_threads),
		cmocka_unit_test(test_check_detects),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
