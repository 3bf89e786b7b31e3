/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_ring.c - the SPSC byte ring (lib/ring.c).
 *
 * Single-threaded tests of sizes, reserve/commit/peek/peek_n/release, the
 * high-water mark, regions across the end of the storage and the huge
 * pages; two-thread tests of the waits (timeouts, wake, wakeups by commit
 * and release, a ping-pong that hangs on a lost wakeup); 24-byte items one
 * at a time through peek_n, every item checked, across the end of the
 * storage too; a validator that streams 1 GiB through a 64 KiB ring and
 * checks every byte; and a check that an idle wait sleeps.  Depends on
 * ring.c only.  Built plain, with ASan+UBSan and with ThreadSanitizer.
 *
 * LDQ_RING_SEED=N changes the validator's seed (printed as a TAP comment).
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ring.h"

#define MS (1000000ll)

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ns(int64_t ns)
{
	struct timespec ts = { .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* CPU time of the calling thread, in ns. */
static uint64_t thread_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/*
 * Join @t, giving up after @secs: a thread stuck in a wait (a lost wakeup)
 * fails the test instead of hanging it.  On failure the thread and what it
 * uses are left alone; the process ends with the test run.
 */
static int join_within(pthread_t t, int secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += secs;
	return pthread_timedjoin_np(t, NULL, &ts);
}

/* Commit @n bytes of @byte through a fresh reservation. */
static void put(struct ldq_ring *r, size_t n, int byte)
{
	void *p = ldq_ring_reserve(r, n);

	assert_non_null(p);
	memset(p, byte, n);
	ldq_ring_commit(r, n);
}

/* Move both indices on by @n: commit @n bytes of @byte and release them. */
static void pass(struct ldq_ring *r, size_t n, int byte)
{
	size_t avail;

	put(r, n, byte);
	ldq_ring_peek(r, &avail);
	assert_true(ldq_ring_readable(r) >= n);
	ldq_ring_release(r, n);
}

/* ---- sizes ---- */

static void test_capacity_rounding(void **state)
{
	size_t pg = page_size();
	const struct {
		size_t ask, want;
	} cases[] = {
		{ 1, pg }, { pg - 1, pg }, { pg, pg }, { pg + 1, 2 * pg },
		{ 3 * pg, 3 * pg }, { 64 * 1024 + 7, ((64 * 1024 + 7 + pg - 1) / pg) * pg },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ldq_ring *r = NULL;

		assert_int_equal(ldq_ring_new(cases[i].ask, &r), 0);
		assert_non_null(r);
		assert_int_equal(ldq_ring_capacity(r), cases[i].want);
		assert_int_equal(ldq_ring_fill(r), 0);
		assert_int_equal(ldq_ring_high_water(r), 0);
		assert_int_equal(ldq_ring_committed(r), 0);
		assert_int_equal(ldq_ring_released(r), 0);
		ldq_ring_free(r);
	}
}

static void test_invalid_sizes(void **state)
{
	/* Not a ring: ldq_ring_new() must reset *out to NULL on failure. */
	struct ldq_ring *const junk = (struct ldq_ring *)(uintptr_t)1;
	struct ldq_ring *r;

	r = junk;
	assert_int_equal(ldq_ring_new(0, &r), -EINVAL);
	assert_null(r);
	r = junk;
	assert_int_equal(ldq_ring_new(SIZE_MAX, &r), -EINVAL);
	assert_null(r);
	/* Would overflow when rounded up to a page. */
	r = junk;
	assert_int_equal(ldq_ring_new(SIZE_MAX - 10, &r), -EINVAL);
	assert_null(r);
	/* Passes the size check, but is far beyond the address space. */
	r = junk;
	assert_true(ldq_ring_new((size_t)1 << 60, &r) < 0);
	assert_null(r);
	ldq_ring_free(NULL);
}

/* ---- basics ---- */

static void test_empty_peek(void **state)
{
	struct ldq_ring *r;
	size_t avail = 12345;
	const void *p;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	p = ldq_ring_peek(r, &avail);
	assert_non_null(p);
	assert_int_equal(avail, 0);
	/* Page-aligned storage. */
	assert_int_equal((uintptr_t)p % page_size(), 0);
	ldq_ring_release(r, 0);
	assert_int_equal(ldq_ring_released(r), 0);
	ldq_ring_free(r);
}

static void test_reserve_commit_peek_release(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail;
	const unsigned char *base, *q;
	unsigned char *p, *p2;
	size_t i;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);
	base = ldq_ring_peek(r, &avail);

	/* Invalid reservations. */
	assert_null(ldq_ring_reserve(r, 0));
	assert_null(ldq_ring_reserve(r, cap + 1));
	assert_null(ldq_ring_reserve(r, SIZE_MAX));

	/* Reserved but not committed: nothing readable. */
	p = ldq_ring_reserve(r, 100);
	assert_ptr_equal(p, base);
	for (i = 0; i < 100; i++)
		p[i] = (unsigned char)i;
	q = ldq_ring_peek(r, &avail);
	assert_int_equal(avail, 0);

	/* The latest reservation wins; it starts at the same place. */
	p2 = ldq_ring_reserve(r, 50);
	assert_ptr_equal(p2, p);
	ldq_ring_commit(r, 50);
	assert_int_equal(ldq_ring_committed(r), 50);
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base);
	assert_int_equal(avail, 50);
	for (i = 0; i < 50; i++)
		assert_int_equal(q[i], i);

	/* A reservation committed in two parts. */
	p = ldq_ring_reserve(r, 30);
	assert_ptr_equal(p, base + 50);
	memset(p, 0xaa, 30);
	ldq_ring_commit(r, 10);
	assert_int_equal(ldq_ring_committed(r), 60);
	ldq_ring_commit(r, 20);
	assert_int_equal(ldq_ring_committed(r), 80);
	q = ldq_ring_peek(r, &avail);
	assert_int_equal(avail, 80);
	assert_int_equal(q[79], 0xaa);

	/* Release part: peek moves on. */
	ldq_ring_release(r, 20);
	assert_int_equal(ldq_ring_released(r), 20);
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base + 20);
	assert_int_equal(avail, 60);
	assert_int_equal(q[0], 20);

	/* Fill up: 20 bytes were released, cap - 60 are free. */
	assert_null(ldq_ring_reserve(r, cap - 60 + 1));
	assert_null(ldq_ring_reserve(r, cap));
	p = ldq_ring_reserve(r, cap - 60);
	assert_non_null(p);
	memset(p, 0x55, cap - 60);
	ldq_ring_commit(r, cap - 60);
	assert_int_equal(ldq_ring_fill(r), cap);
	assert_null(ldq_ring_reserve(r, 1));
	/* A peek stops at the end of the storage; the rest follows. */
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base + 20);
	assert_int_equal(avail, cap - 20);
	assert_int_equal(ldq_ring_readable(r), cap);
	assert_int_equal(q[59], 0xaa);
	assert_int_equal(q[60], 0x55);
	assert_int_equal(q[cap - 21], 0x55);
	/* The bytes committed past the end are at the start of the storage. */
	for (i = 0; i < 20; i++)
		assert_int_equal(base[i], 0x55);

	/* Drain: head and tail are at cap + 20, offset 20; the whole
	 * capacity can then be reserved there. */
	ldq_ring_release(r, cap);
	assert_int_equal(ldq_ring_fill(r), 0);
	assert_int_equal(ldq_ring_released(r), cap + 20);
	q = ldq_ring_peek(r, &avail);
	assert_int_equal(avail, 0);
	assert_ptr_equal(q, base + 20);
	p = ldq_ring_reserve(r, cap);
	assert_ptr_equal(p, base + 20);
	ldq_ring_commit(r, 0);
	assert_int_equal(ldq_ring_committed(r), cap + 20);
	ldq_ring_free(r);
}

static void test_fill_high_water(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail, u;

	assert_int_equal(ldq_ring_new(4 * page_size(), &r), 0);
	cap = ldq_ring_capacity(r);
	u = cap / 16; /* steps larger than the mark's slack (cap / 64) */

	put(r, u, 1);
	assert_int_equal(ldq_ring_fill(r), u);
	assert_int_equal(ldq_ring_high_water(r), u);
	put(r, 2 * u, 2);
	assert_int_equal(ldq_ring_fill(r), 3 * u);
	assert_int_equal(ldq_ring_high_water(r), 3 * u);

	ldq_ring_peek(r, &avail);
	ldq_ring_release(r, 5 * u / 2);
	assert_int_equal(ldq_ring_fill(r), u / 2);
	assert_int_equal(ldq_ring_high_water(r), 3 * u);

	/* u/2 + u: the mark stays, although the producer's cached view of
	 * the consumer (tail 0) would say 4u. */
	put(r, u, 3);
	assert_int_equal(ldq_ring_fill(r), 3 * u / 2);
	assert_int_equal(ldq_ring_high_water(r), 3 * u);

	put(r, 2 * u, 4);
	assert_int_equal(ldq_ring_fill(r), 7 * u / 2);
	assert_int_equal(ldq_ring_high_water(r), 7 * u / 2);

	/* Full. */
	put(r, cap - 7 * u / 2, 5);
	assert_int_equal(ldq_ring_fill(r), cap);
	assert_int_equal(ldq_ring_high_water(r), cap);
	ldq_ring_peek(r, &avail);
	assert_int_equal(avail, cap - 5 * u / 2);
	assert_int_equal(ldq_ring_readable(r), cap);
	ldq_ring_release(r, cap);
	assert_int_equal(ldq_ring_fill(r), 0);
	assert_int_equal(ldq_ring_high_water(r), cap);
	assert_int_equal(ldq_ring_committed(r), 5 * u / 2 + cap);
	assert_int_equal(ldq_ring_released(r), 5 * u / 2 + cap);
	ldq_ring_free(r);

	/* A consumer that keeps up: items of 8 bytes, each released at once.
	 * The mark stays within the slack of the true largest fill (8). */
	assert_int_equal(ldq_ring_new(4 * page_size(), &r), 0);
	for (int i = 0; i < 10000; i++) {
		put(r, 8, (unsigned char)i);
		ldq_ring_peek(r, &avail);
		ldq_ring_release(r, 8);
	}
	assert_true(ldq_ring_high_water(r) <= 8);
	/* Then a fill above the slack is seen exactly. */
	put(r, cap / 8, 6);
	assert_int_equal(ldq_ring_high_water(r), cap / 8);
	ldq_ring_free(r);
}

/* peek_n: @n readable bytes or NULL, serving from the cached head. */
static void test_peek_n(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail, i;
	const unsigned char *base, *q;
	unsigned char *p;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);
	base = ldq_ring_peek(r, &avail);

	/* Invalid sizes, then an empty ring. */
	assert_null(ldq_ring_peek_n(r, 0));
	assert_null(ldq_ring_peek_n(r, cap + 1));
	assert_null(ldq_ring_peek_n(r, SIZE_MAX));
	assert_null(ldq_ring_peek_n(r, 1));

	/* Reserved, not committed: nothing. */
	p = ldq_ring_reserve(r, 24);
	assert_non_null(p);
	for (i = 0; i < 24; i++)
		p[i] = (unsigned char)(i + 1);
	assert_null(ldq_ring_peek_n(r, 1));

	/* 16 committed: up to 16 readable, from the start. */
	ldq_ring_commit(r, 16);
	assert_null(ldq_ring_peek_n(r, 17));
	q = ldq_ring_peek_n(r, 16);
	assert_ptr_equal(q, base);
	q = ldq_ring_peek_n(r, 8);
	assert_ptr_equal(q, base);
	assert_int_equal(q[0], 1);
	ldq_ring_release(r, 8);
	assert_int_equal(ldq_ring_released(r), 8);

	/* The next 8 from the cached head; then the last 8 committed later
	 * are found when the cache runs dry. */
	q = ldq_ring_peek_n(r, 8);
	assert_ptr_equal(q, base + 8);
	assert_int_equal(q[0], 9);
	ldq_ring_release(r, 8);
	assert_null(ldq_ring_peek_n(r, 8));
	ldq_ring_commit(r, 8);
	q = ldq_ring_peek_n(r, 8);
	assert_ptr_equal(q, base + 16);
	assert_int_equal(q[7], 24);
	ldq_ring_release(r, 8);
	assert_null(ldq_ring_peek_n(r, 1));
	assert_int_equal(ldq_ring_fill(r), 0);

	/* Across the end of the storage: one contiguous region. */
	put(r, cap - 24 - 4, 0x11);
	assert_non_null(ldq_ring_peek_n(r, cap - 24 - 4));
	ldq_ring_release(r, cap - 24 - 4);
	p = ldq_ring_reserve(r, 8);
	assert_ptr_equal(p, base + cap - 4);
	memcpy(p, "abcdefgh", 8);
	ldq_ring_commit(r, 8);
	q = ldq_ring_peek_n(r, 8);
	assert_ptr_equal(q, base + cap - 4);
	assert_memory_equal(q, "abcdefgh", 8);
	ldq_ring_release(r, 8);
	assert_ptr_equal(ldq_ring_peek(r, &avail), base + 4);
	assert_int_equal(avail, 0);
	ldq_ring_free(r);
}

/* ---- regions across the end of the storage ---- */

static void test_wrap_is_contiguous(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail, i;
	const unsigned char *base, *q;
	unsigned char *p;
	const size_t pre = 96, n = 200; /* 96 bytes before the end, 104 after */

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);
	base = ldq_ring_peek(r, &avail);

	/* Move both indices to cap - pre. */
	pass(r, cap - pre, 0);

	/* The producer's region is one piece across the end. */
	p = ldq_ring_reserve(r, n);
	assert_ptr_equal(p, base + cap - pre);
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + 1);
	/* Committed in two parts, the first one crossing the end. */
	ldq_ring_commit(r, pre + 50);
	ldq_ring_commit(r, n - pre - 50);

	/* The bytes past the end are at the start of the storage. */
	for (i = 0; i < pre; i++)
		assert_int_equal(base[cap - pre + i], (unsigned char)(i * 7 + 1));
	for (i = pre; i < n; i++)
		assert_int_equal(base[i - pre], (unsigned char)(i * 7 + 1));

	/* peek_n gives all of it as one region. */
	q = ldq_ring_peek_n(r, n);
	assert_ptr_equal(q, base + cap - pre);
	for (i = 0; i < n; i++)
		assert_int_equal(q[i], (unsigned char)(i * 7 + 1));

	/* peek stops at the end; after a release, the rest is at the start. */
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base + cap - pre);
	assert_int_equal(avail, pre);
	assert_int_equal(ldq_ring_readable(r), n);
	ldq_ring_release(r, pre);
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base);
	assert_int_equal(avail, n - pre);
	for (i = pre; i < n; i++)
		assert_int_equal(q[i - pre], (unsigned char)(i * 7 + 1));
	ldq_ring_release(r, n - pre);
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base + n - pre);
	assert_int_equal(avail, 0);

	/* A region of the full capacity from there: the same. */
	p = ldq_ring_reserve(r, cap);
	assert_ptr_equal(p, base + n - pre);
	for (i = 0; i < cap; i++)
		p[i] = (unsigned char)(i % 251);
	ldq_ring_commit(r, cap);
	for (i = 0; i < cap; i++)
		assert_int_equal(base[(n - pre + i) % cap], (unsigned char)(i % 251));
	q = ldq_ring_peek_n(r, cap);
	assert_ptr_equal(q, base + n - pre);
	for (i = 0; i < cap; i++)
		assert_int_equal(q[i], (unsigned char)(i % 251));
	ldq_ring_free(r);
}

/*
 * A reservation across the end committed in parts, the first part ending
 * exactly at the end of the storage: the rest was written in the overhang
 * and must reach the start of the storage too.  Then the same with a
 * reservation given up half committed (the next one starts afresh).
 */
static void test_commit_parts_at_the_end(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail, i;
	const unsigned char *base, *q;
	unsigned char *p;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);
	base = ldq_ring_peek(r, &avail);

	pass(r, cap - 10, 0);
	p = ldq_ring_reserve(r, 30);
	assert_ptr_equal(p, base + cap - 10);
	for (i = 0; i < 30; i++)
		p[i] = (unsigned char)(100 + i);
	ldq_ring_commit(r, 10);	/* exactly to the end */
	ldq_ring_commit(r, 5);
	ldq_ring_commit(r, 0);
	ldq_ring_commit(r, 15);
	for (i = 0; i < 20; i++)
		assert_int_equal(base[i], 110 + i);
	q = ldq_ring_peek_n(r, 30);
	assert_ptr_equal(q, base + cap - 10);
	for (i = 0; i < 30; i++)
		assert_int_equal(q[i], 100 + i);
	q = ldq_ring_peek(r, &avail);
	assert_int_equal(avail, 10);
	ldq_ring_release(r, 10);
	q = ldq_ring_peek(r, &avail);
	assert_ptr_equal(q, base);
	assert_int_equal(avail, 20);
	for (i = 0; i < 20; i++)
		assert_int_equal(q[i], 110 + i);
	ldq_ring_release(r, 20);

	/* At offset 20: a region across the end, committed in part, given
	 * up; the next reservation starts where the commits ended. */
	pass(r, cap - 30, 0);
	p = ldq_ring_reserve(r, 40);
	assert_ptr_equal(p, base + cap - 10);
	memset(p, 0x11, 40);
	ldq_ring_commit(r, 25);	/* 10 before the end, 15 after */
	p = ldq_ring_reserve(r, 10);
	assert_ptr_equal(p, base + 15);
	memset(p, 0x22, 10);
	ldq_ring_commit(r, 10);
	q = ldq_ring_peek_n(r, 35);
	assert_ptr_equal(q, base + cap - 10);
	for (i = 0; i < 35; i++)
		assert_int_equal(q[i], i < 25 ? 0x11 : 0x22);
	ldq_ring_free(r);
}

/*
 * peek_n across the end when the bytes after the end were committed as a
 * region of their own, starting at offset 0: they are only at the start
 * of the storage, and peek_n must bring them to the overhang.
 */
static void test_peek_n_joins_two_regions(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail;
	const unsigned char *base, *q;
	unsigned char *p;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);
	base = ldq_ring_peek(r, &avail);

	/* Stale bytes in the overhang from a first lap. */
	pass(r, cap - 8, 0);
	put(r, 16, 0xee);	/* 8 before the end, 8 after */
	ldq_ring_peek_n(r, 16);
	ldq_ring_release(r, 16);
	/* Now to 12 bytes before the end, and a region exactly to the end. */
	pass(r, cap - 20, 0);
	p = ldq_ring_reserve(r, 12);
	assert_ptr_equal(p, base + cap - 12);
	memcpy(p, "0123456789ab", 12);
	ldq_ring_commit(r, 12);
	/* Then one from the start of the storage. */
	p = ldq_ring_reserve(r, 12);
	assert_ptr_equal(p, base);
	memcpy(p, "cdefghijklmn", 12);
	ldq_ring_commit(r, 12);

	q = ldq_ring_peek_n(r, 24);
	assert_ptr_equal(q, base + cap - 12);
	assert_memory_equal(q, "0123456789abcdefghijklmn", 24);
	ldq_ring_free(r);
}

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

/* Does this kernel take MADV_COLLAPSE (Linux 6.1)?  EINVAL: no. */
static int collapse_supported(void)
{
	size_t huge = 2u << 20;
	unsigned char *m = mmap(NULL, 2 * huge, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	unsigned char *b;
	int ret;

	assert_true(m != MAP_FAILED);
	b = (unsigned char *)(((uintptr_t)m + huge - 1) & ~(uintptr_t)(huge - 1));
	memset(b, 1, huge);
	ret = madvise(b, huge, MADV_COLLAPSE);
	ret = ret == 0 || errno != EINVAL;
	munmap(m, 2 * huge);
	return ret;
}

/* The storage is on huge pages where the system gives them: THP "always"
 * or "madvise", or any setting where the kernel collapses on request. */
static void test_huge_pages(void **state)
{
	char mode[128] = "", line[256];
	struct ldq_ring *r;
	const void *base;
	size_t avail;
	unsigned long long lo, hi, huge_kb = 0;
	int in_ring = 0;
	FILE *f;

	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (!fgets(mode, sizeof(mode), f))
			mode[0] = 0;
		fclose(f);
	}
	if (!strstr(mode, "[always]") && !strstr(mode, "[madvise]") && !collapse_supported())
		skip();

	assert_int_equal(ldq_ring_new(16u << 20, &r), 0);
	base = ldq_ring_peek(r, &avail);
	assert_int_equal((uintptr_t)base % (2u << 20), 0);
	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (sscanf(line, "%llx-%llx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in_ring = lo <= (uintptr_t)base && (uintptr_t)base < hi;
		else if (in_ring && sscanf(line, "AnonHugePages: %llu kB", &kb) == 1)
			huge_kb += kb;
	}
	fclose(f);
	printf("# THP %s# the ring's 16 MiB: %llu KiB on huge pages\n", mode, huge_kb);
	/* The kernel may not find a free huge page for every one (memory
	 * fragmented, defrag off), but it gives some where THP is on. */
	assert_true(huge_kb >= 2048);
	assert_true(huge_kb <= 16u << 10);
	ldq_ring_free(r);
}

/* Pages of [p, p + n) resident now (mincore). */
static size_t resident_pages(const void *p, size_t n)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), count = 0;
	unsigned char *vec = calloc(n / page, 1);

	assert_non_null(vec);
	assert_int_equal(mincore((void *)p, n, vec), 0);
	for (size_t i = 0; i < n / page; i++)
		count += vec[i] & 1;
	free(vec);
	return count;
}

/* A ring of a huge page or more is populated at creation (no fault in the
 * stream); a smaller one (a short run's) is faulted in by its first lap,
 * and works the same. */
static void test_populate(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), avail;
	struct ldq_ring *r;
	const unsigned char *base;
	unsigned char *w;

	assert_int_equal(ldq_ring_new(4u << 20, &r), 0);
	base = ldq_ring_peek(r, &avail);
	assert_int_equal(resident_pages(base, 4u << 20), (4u << 20) / page);
	ldq_ring_free(r);

	assert_int_equal(ldq_ring_new(1u << 20, &r), 0);
	base = ldq_ring_peek(r, &avail);
	assert_int_equal(resident_pages(base, 1u << 20), 0);
	w = ldq_ring_reserve(r, 3 * page);
	assert_non_null(w);
	memset(w, 0x5a, 3 * page);
	ldq_ring_commit(r, 3 * page);
	assert_int_equal(resident_pages(base, 1u << 20), 3);
	base = ldq_ring_peek(r, &avail);
	assert_int_equal(avail, 3 * page);
	for (size_t i = 0; i < avail; i++)
		assert_int_equal(base[i], 0x5a);
	ldq_ring_release(r, avail);
	ldq_ring_free(r);
}

/* Pages of a new ring of @cap bytes populated for @fill, resident at once. */
static size_t resident_after_fill(size_t cap, size_t fill)
{
	struct ldq_ring *r;
	const unsigned char *base;
	size_t avail, n;

	assert_int_equal(ldq_ring_new_fill(cap, fill, &r), 0);
	base = ldq_ring_peek(r, &avail);
	n = resident_pages(base, cap);
	ldq_ring_free(r);
	return n;
}

/* A ring for a use of known length: only what the use can reach is
 * populated (rounded up to a huge page); a use of less than a huge page
 * populates nothing; the rest works the same when it is used after all. */
static void test_populate_fill(void **state)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), avail;
	struct ldq_ring *r;
	const unsigned char *base;
	unsigned char *w;

	assert_int_equal(resident_after_fill(16u << 20, 3u << 20), (4u << 20) / page);
	assert_int_equal(resident_after_fill(16u << 20, 512), 0);
	/* A fill beyond the capacity, or 0 (unknown): all of it. */
	assert_int_equal(resident_after_fill(4u << 20, 64u << 20), (4u << 20) / page);
	assert_int_equal(resident_after_fill(4u << 20, 0), (4u << 20) / page);

	/* Beyond the fill: faulted in when used, the data intact. */
	assert_int_equal(ldq_ring_new_fill(4u << 20, 1, &r), 0);
	w = ldq_ring_reserve(r, 3u << 20);
	assert_non_null(w);
	memset(w, 0xa5, 3u << 20);
	ldq_ring_commit(r, 3u << 20);
	base = ldq_ring_peek(r, &avail);
	assert_int_equal(avail, 3u << 20);
	for (size_t i = 0; i < avail; i++)
		assert_int_equal(base[i], 0xa5);
	ldq_ring_release(r, avail);
	ldq_ring_free(r);
}

/* ---- waits ---- */

static void test_wait_timeouts(void **state)
{
	struct ldq_ring *r;
	size_t cap, avail;
	uint64_t t0, dt;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);

	assert_int_equal(ldq_ring_wait_data(r, cap + 1, -1), -EINVAL);
	assert_int_equal(ldq_ring_wait_space(r, cap + 1, -1), -EINVAL);

	/* Empty ring: no data, all space. */
	assert_int_equal(ldq_ring_wait_data(r, 1, 0), -ETIMEDOUT);
	t0 = now_ns();
	assert_int_equal(ldq_ring_wait_data(r, 1, 50 * MS), -ETIMEDOUT);
	dt = now_ns() - t0;
	assert_true(dt >= 50 * MS);
	assert_true(dt < 5000 * MS);
	assert_int_equal(ldq_ring_wait_data(r, 0, 0), 0);
	assert_int_equal(ldq_ring_wait_space(r, cap, 0), 0);
	assert_int_equal(ldq_ring_wait_space(r, cap, -1), 0);

	/* 100 bytes in. */
	put(r, 100, 1);
	assert_int_equal(ldq_ring_wait_data(r, 100, 0), 0);
	assert_int_equal(ldq_ring_wait_data(r, 100, -1), 0);
	assert_int_equal(ldq_ring_wait_data(r, 101, 10 * MS), -ETIMEDOUT);
	assert_int_equal(ldq_ring_wait_space(r, cap - 100, 10 * MS), 0);
	t0 = now_ns();
	assert_int_equal(ldq_ring_wait_space(r, cap - 99, 50 * MS), -ETIMEDOUT);
	dt = now_ns() - t0;
	assert_true(dt >= 50 * MS);
	assert_true(dt < 5000 * MS);

	/* Full ring. */
	put(r, cap - 100, 2);
	assert_int_equal(ldq_ring_wait_space(r, 1, 10 * MS), -ETIMEDOUT);
	assert_int_equal(ldq_ring_wait_data(r, cap, 10 * MS), 0);
	ldq_ring_peek(r, &avail);
	ldq_ring_release(r, 1);
	assert_int_equal(ldq_ring_wait_space(r, 1, 10 * MS), 0);
	assert_int_equal(ldq_ring_wait_space(r, 2, 0), -ETIMEDOUT);
	ldq_ring_free(r);
}

struct waiter {
	struct ldq_ring *r;
	int space;		/* wait_space, else wait_data */
	size_t n;
	int64_t timeout_ns;
	int ret;
	uint64_t ns;		/* how long the wait took */
	uint64_t cpu_ns;	/* CPU time the wait used */
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;
	uint64_t t0 = now_ns(), c0 = thread_cpu_ns();

	if (w->space)
		w->ret = ldq_ring_wait_space(w->r, w->n, w->timeout_ns);
	else
		w->ret = ldq_ring_wait_data(w->r, w->n, w->timeout_ns);
	w->cpu_ns = thread_cpu_ns() - c0;
	w->ns = now_ns() - t0;
	return NULL;
}

static void test_wake_interrupts_waits(void **state)
{
	struct ldq_ring *r;
	static struct waiter wd, ws; /* static: outlive a thread stuck in a failed test */
	pthread_t td, ts;
	size_t cap;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);
	/* Half full: a wait for a whole ring of data and one for a whole
	 * ring of space both block, with no time limit. */
	put(r, cap / 2, 1);
	wd = (struct waiter){ .r = r, .space = 0, .n = cap, .timeout_ns = -1 };
	ws = (struct waiter){ .r = r, .space = 1, .n = cap, .timeout_ns = -1 };
	assert_int_equal(pthread_create(&td, NULL, waiter_main, &wd), 0);
	assert_int_equal(pthread_create(&ts, NULL, waiter_main, &ws), 0);
	sleep_ns(100 * MS); /* long enough to be asleep in the futex */
	assert_int_equal(pthread_tryjoin_np(td, NULL), EBUSY);
	assert_int_equal(pthread_tryjoin_np(ts, NULL), EBUSY);
	ldq_ring_wake(r);
	assert_int_equal(join_within(td, 10), 0);
	assert_int_equal(join_within(ts, 10), 0);
	assert_int_equal(wd.ret, -EINTR);
	assert_int_equal(ws.ret, -EINTR);

	/* Each wake is reported once: the next waits time out. */
	assert_int_equal(ldq_ring_wait_data(r, cap, 10 * MS), -ETIMEDOUT);
	assert_int_equal(ldq_ring_wait_space(r, cap, 10 * MS), -ETIMEDOUT);

	/* A wait with a time limit is interrupted too. */
	wd = (struct waiter){ .r = r, .space = 0, .n = cap, .timeout_ns = 20000 * MS };
	assert_int_equal(pthread_create(&td, NULL, waiter_main, &wd), 0);
	sleep_ns(50 * MS);
	assert_int_equal(pthread_tryjoin_np(td, NULL), EBUSY);
	ldq_ring_wake(r);
	assert_int_equal(join_within(td, 10), 0);
	assert_int_equal(wd.ret, -EINTR);
	assert_true(wd.ns < 10000 * MS);
	ldq_ring_free(r);
}

static void test_wake_before_wait(void **state)
{
	struct ldq_ring *r;

	assert_int_equal(ldq_ring_new(1, &r), 0);

	/* A wake while nobody waits is reported to each side's next wait
	 * that cannot succeed at once, and only to that one. */
	ldq_ring_wake(r);
	assert_int_equal(ldq_ring_wait_space(r, 1, 0), 0); /* condition first */
	assert_int_equal(ldq_ring_wait_space(r, 1, -1), 0);
	assert_int_equal(ldq_ring_wait_data(r, 1, -1), -EINTR);
	assert_int_equal(ldq_ring_wait_data(r, 1, 10 * MS), -ETIMEDOUT);

	put(r, ldq_ring_capacity(r), 1);
	assert_int_equal(ldq_ring_wait_space(r, 1, -1), -EINTR);
	assert_int_equal(ldq_ring_wait_space(r, 1, 10 * MS), -ETIMEDOUT);

	/* Two wakes before a wait: one report. */
	ldq_ring_wake(r);
	ldq_ring_wake(r);
	assert_int_equal(ldq_ring_wait_space(r, 1, 0), -EINTR);
	assert_int_equal(ldq_ring_wait_space(r, 1, 0), -ETIMEDOUT);
	ldq_ring_free(r);
}

/* A waiter asleep in the futex is woken by commit / release. */
static void test_commit_release_wake_sleepers(void **state)
{
	struct ldq_ring *r;
	static struct waiter w; /* static: see test_wake_interrupts_waits() */
	pthread_t t;
	size_t cap, avail;

	assert_int_equal(ldq_ring_new(1, &r), 0);
	cap = ldq_ring_capacity(r);

	/* Data: wants 100 bytes; a commit of 50 is not enough. */
	w = (struct waiter){ .r = r, .space = 0, .n = 100, .timeout_ns = -1 };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	sleep_ns(50 * MS);
	put(r, 50, 1);
	sleep_ns(50 * MS);
	assert_int_equal(pthread_tryjoin_np(t, NULL), EBUSY);
	put(r, 50, 1);
	assert_int_equal(join_within(t, 10), 0);
	assert_int_equal(w.ret, 0);

	/* Space: fill up, wait for 100 bytes, release them in two steps. */
	put(r, cap - 100, 2);
	w = (struct waiter){ .r = r, .space = 1, .n = 100, .timeout_ns = -1 };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	sleep_ns(50 * MS);
	ldq_ring_peek(r, &avail);
	assert_int_equal(avail, cap);
	ldq_ring_release(r, 60);
	sleep_ns(50 * MS);
	assert_int_equal(pthread_tryjoin_np(t, NULL), EBUSY);
	ldq_ring_release(r, 40);
	assert_int_equal(join_within(t, 10), 0);
	assert_int_equal(w.ret, 0);
	ldq_ring_free(r);
}

/*
 * A stale cached index does not wake the other side in vain.  The producer
 * read the tail when the ring was nearly full (the high-water mark is
 * high); the consumer then releases everything and sleeps for 1024 bytes.
 * Small commits keep the producer's bound (head less its old copy of the
 * tail) above 1024 while it stays within the high-water slack: each of
 * them used to wake the consumer, which found 64 bytes, made its heavy
 * fence and slept again.  Now only the commit that reaches 1024 wakes it.
 */
static void test_no_wake_in_vain(void **state)
{
	struct ldq_ring *r;
	static struct waiter w; /* static: see test_wake_interrupts_waits() */
	pthread_t t;
	size_t cap, avail;

	assert_int_equal(ldq_ring_new(64 * 1024, &r), 0);
	cap = ldq_ring_capacity(r);
	put(r, cap - 4096, 1);
	ldq_ring_peek(r, &avail);
	ldq_ring_release(r, avail);
	w = (struct waiter){ .r = r, .space = 0, .n = 1024, .timeout_ns = -1 };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &w), 0);
	/* Asleep: the waiters word says so (W1). */
	for (int i = 0; i < 1000 && !atomic_load(&r->data_waiters); i++)
		sleep_ns(MS);
	assert_int_equal(atomic_load(&r->data_waiters), 1024);
	sleep_ns(20 * MS);
	for (int i = 0; i < 15; i++)
		put(r, 64, 2);
	sleep_ns(20 * MS);
	assert_int_equal(pthread_tryjoin_np(t, NULL), EBUSY);
	assert_int_equal(r->p_wakes, 0);
	put(r, 64, 2);
	assert_int_equal(join_within(t, 10), 0);
	assert_int_equal(w.ret, 0);
	assert_int_equal(r->p_wakes, 1);
	/* One heavy fence: the wait ended on the plain check after the wake. */
	assert_int_equal(r->c_fences, 1);
	ldq_ring_free(r);
}

/* A wait that times out makes one heavy fence, none on the way out. */
static void test_timeout_sleeps_once(void **state)
{
	struct ldq_ring *r;

	assert_int_equal(ldq_ring_new(4096, &r), 0);
	assert_int_equal(ldq_ring_wait_data(r, 1, 20 * MS), -ETIMEDOUT);
	assert_int_equal(r->c_fences, 1);
	assert_int_equal(ldq_ring_wait_space(r, ldq_ring_capacity(r), 0), 0);
	put(r, ldq_ring_capacity(r), 1);
	assert_int_equal(ldq_ring_wait_space(r, 1, 20 * MS), -ETIMEDOUT);
	assert_int_equal(r->p_fences, 1);
	ldq_ring_free(r);
}

/* ---- a tiny PRNG (xorshift64*) ---- */

static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* 1..max */
static size_t rnd_len(uint64_t *s, size_t max)
{
	return (size_t)(rnd(s) % max) + 1;
}

/* Busy for @ns nanoseconds. */
static void busy_ns(uint64_t ns)
{
	uint64_t t0 = now_ns();

	while (now_ns() - t0 < ns)
		;
}

/*
 * Ping-pong: one byte goes round; each side waits with no time limit for
 * the other, so every hand-over is a potential sleep and wake.  A lost
 * wakeup hangs both sides, which join_within() reports.
 *
 * A wait spins for a few microseconds before it sleeps, and the race a
 * lost wakeup comes from is at the end of that spin: between the waiter's
 * last look at the index and its sleep in the kernel.  So half of the hand-
 * overs are delayed by a random time around the spin's length, measured
 * first (a wait with a 1 ns limit spins, then times out).
 */
#define PINGPONG_ROUNDS 50000

struct pingpong {
	struct ldq_ring *r;
	uint64_t spin_ns;	/* how long a wait spins, about */
	unsigned long bad;	/* unexpected results */
};

/* Before half of the hand-overs: 0 .. 2 * spin_ns. */
static void pingpong_delay(const struct pingpong *pp, uint64_t *seed)
{
	uint64_t x = rnd(seed);

	if (x & 1)
		busy_ns((x >> 1) % (2 * pp->spin_ns + 1));
}

static void *ping_main(void *arg)
{
	struct pingpong *pp = arg;
	size_t cap = ldq_ring_capacity(pp->r);
	uint64_t seed = 0x1234567;
	int i;

	for (i = 0; i < PINGPONG_ROUNDS; i++) {
		unsigned char *p;

		/* Wait until the consumer has taken the previous byte. */
		if (ldq_ring_wait_space(pp->r, cap, -1))
			pp->bad++;
		pingpong_delay(pp, &seed);
		p = ldq_ring_reserve(pp->r, 1);
		if (!p) {
			pp->bad++;
			break;
		}
		*p = (unsigned char)i;
		ldq_ring_commit(pp->r, 1);
	}
	return NULL;
}

static void *pong_main(void *arg)
{
	struct pingpong *pp = arg;
	uint64_t seed = 0x7654321;
	int i;

	for (i = 0; i < PINGPONG_ROUNDS; i++) {
		const unsigned char *p;
		size_t avail;

		if (ldq_ring_wait_data(pp->r, 1, -1))
			pp->bad++;
		p = ldq_ring_peek(pp->r, &avail);
		if (avail != 1 || *p != (unsigned char)i)
			pp->bad++;
		pingpong_delay(pp, &seed);
		ldq_ring_release(pp->r, avail);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void test_pingpong_no_lost_wakeup(void **state)
{
	static struct pingpong pp; /* static: see test_wake_interrupts_waits() */
	uint64_t t0, spins[21];
	pthread_t a, b;
	size_t i;

	pp = (struct pingpong){ 0 };
	assert_int_equal(ldq_ring_new(1, &pp.r), 0);
	for (i = 0; i < sizeof(spins) / sizeof(spins[0]); i++) {
		t0 = now_ns();
		assert_int_equal(ldq_ring_wait_data(pp.r, 1, 1), -ETIMEDOUT);
		spins[i] = now_ns() - t0;
	}
	qsort(spins, sizeof(spins) / sizeof(spins[0]), sizeof(spins[0]), cmp_u64);
	pp.spin_ns = spins[10] < 1000000 ? spins[10] : 1000000;

	t0 = now_ns();
	assert_int_equal(pthread_create(&a, NULL, ping_main, &pp), 0);
	assert_int_equal(pthread_create(&b, NULL, pong_main, &pp), 0);
	if (join_within(a, 120) || join_within(b, 120))
		fail_msg("ping-pong stuck after %llu rounds: a lost wakeup",
			 (unsigned long long)ldq_ring_committed(pp.r));
	printf("# ping-pong: %d rounds in %.2f s, delays up to %.1f us\n", PINGPONG_ROUNDS,
	       (double)(now_ns() - t0) / 1e9, 2 * (double)pp.spin_ns / 1e3);
	assert_int_equal(pp.bad, 0);
	assert_int_equal(ldq_ring_committed(pp.r), PINGPONG_ROUNDS);
	assert_int_equal(ldq_ring_released(pp.r), PINGPONG_ROUNDS);
	ldq_ring_free(pp.r);
}

/*
 * Items one at a time, as a queue of fixed-size items is used: the
 * producer commits items 0, 1, 2, ... each in its own reserve/commit; the
 * consumer takes them with peek_n/release and checks each.  Items of 24
 * bytes in a one-page ring: one in three laps, an item crosses the end of
 * the storage, on both sides.  Whoever finds the ring full (empty)
 * sometimes spins and sometimes waits, so that peek_n's cached head meets
 * the waits.
 */
#define ITEMS_TOTAL 3000000u
#define ITEM_WORDS 3

struct items {
	struct ldq_ring *r;
	unsigned long p_bad, c_bad, wrong;
	uint64_t first_wrong;
};

static void item_words(uint64_t i, uint64_t w[ITEM_WORDS])
{
	w[0] = i;
	w[1] = ~i;
	w[2] = i * 0x9e3779b97f4a7c15ull;
}

static void *items_producer(void *arg)
{
	struct items *it = arg;
	uint64_t s = 11;

	for (uint64_t i = 0; i < ITEMS_TOTAL;) {
		void *p = ldq_ring_reserve(it->r, sizeof(uint64_t[ITEM_WORDS]));
		uint64_t w[ITEM_WORDS];

		if (!p) {
			if (rnd(&s) % 4 == 0 &&
			    ldq_ring_wait_space(it->r, sizeof(w), -1))
				it->p_bad++;
			continue;
		}
		item_words(i, w);
		memcpy(p, w, sizeof(w));
		ldq_ring_commit(it->r, sizeof(w));
		i++;
	}
	return NULL;
}

static void *items_consumer(void *arg)
{
	struct items *it = arg;
	uint64_t s = 13;

	for (uint64_t i = 0; i < ITEMS_TOTAL;) {
		uint64_t v[ITEM_WORDS], w[ITEM_WORDS];
		const void *p = ldq_ring_peek_n(it->r, sizeof(v));

		if (!p) {
			if (rnd(&s) % 4 == 0 && ldq_ring_wait_data(it->r, sizeof(v), -1))
				it->c_bad++;
			continue;
		}
		memcpy(v, p, sizeof(v));
		item_words(i, w);
		if (memcmp(v, w, sizeof(v)) && !it->wrong++)
			it->first_wrong = i;
		ldq_ring_release(it->r, sizeof(v));
		i++;
	}
	return NULL;
}

static void test_items_one_at_a_time(void **state)
{
	static struct items it; /* static: see test_wake_interrupts_waits() */
	pthread_t tp, tc;

	it = (struct items){ 0 };
	/* A page: the producer finds it full often. */
	assert_int_equal(ldq_ring_new(1, &it.r), 0);
	assert_int_equal(pthread_create(&tc, NULL, items_consumer, &it), 0);
	assert_int_equal(pthread_create(&tp, NULL, items_producer, &it), 0);
	if (join_within(tp, 300) || join_within(tc, 300))
		fail_msg("items stuck after %llu committed, %llu released",
			 (unsigned long long)ldq_ring_committed(it.r),
			 (unsigned long long)ldq_ring_released(it.r));
	if (it.wrong)
		fail_msg("%lu wrong items, the first at %llu", it.wrong,
			 (unsigned long long)it.first_wrong);
	assert_int_equal(it.p_bad, 0);
	assert_int_equal(it.c_bad, 0);
	assert_int_equal(ldq_ring_committed(it.r), 8ull * ITEM_WORDS * ITEMS_TOTAL);
	assert_int_equal(ldq_ring_released(it.r), 8ull * ITEM_WORDS * ITEMS_TOTAL);
	ldq_ring_free(it.r);
}

/* ---- the validator ---- */

/*
 * The stream's content: byte o of the stream is byte (o % 8) of the
 * 64-bit word pattern_word(o / 8) as stored in memory.  The ring's storage
 * is page-aligned and its capacity a page multiple, so a byte at stream
 * offset o is at an address equal to o modulo 8: aligned words of the
 * stream are aligned words in memory.
 */
static uint64_t pattern_seed;

static uint64_t pattern_word(uint64_t w)
{
	uint64_t z = w + pattern_seed + 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned char pattern_byte(uint64_t off)
{
	uint64_t v = pattern_word(off >> 3);
	unsigned char b[8];

	memcpy(b, &v, 8);
	return b[off & 7];
}

static void pattern_fill(unsigned char *p, uint64_t off, size_t n)
{
	while (n && (off & 7)) {
		*p++ = pattern_byte(off++);
		n--;
	}
	while (n >= 8) {
		uint64_t v = pattern_word(off >> 3);

		memcpy(p, &v, 8);
		p += 8;
		off += 8;
		n -= 8;
	}
	while (n--) {
		*p++ = pattern_byte(off);
		off++;
	}
}

/* Returns the number of wrong bytes. */
static uint64_t pattern_check(const unsigned char *p, uint64_t off, size_t n)
{
	uint64_t bad = 0;

	while (n && (off & 7)) {
		bad += *p++ != pattern_byte(off++);
		n--;
	}
	while (n >= 8) {
		uint64_t v, want = pattern_word(off >> 3);

		memcpy(&v, p, 8);
		if (v != want) {
			unsigned int k;

			for (k = 0; k < 8; k++)
				bad += p[k] != pattern_byte(off + k);
		}
		p += 8;
		off += 8;
		n -= 8;
	}
	while (n--) {
		bad += *p++ != pattern_byte(off);
		off++;
	}
	return bad;
}

#define VALIDATOR_CAP (64u * 1024)
#define VALIDATOR_TOTAL ((1ull << 30) + 4093) /* not a multiple of anything */
#define VALIDATOR_REGION_MAX (16u * 1024)

struct validator {
	struct ldq_ring *r;
	uint64_t total;
	uint64_t seed;
	/* producer */
	uint64_t produced;
	unsigned long p_waits, p_bad, p_misaligned;
	/* consumer */
	uint64_t consumed;
	uint64_t mismatches, first_bad;
	unsigned long c_waits, c_bad, c_misaligned;
};

static void *producer_main(void *arg)
{
	struct validator *v = arg;
	uint64_t s = v->seed * 2 + 1;
	size_t cap = ldq_ring_capacity(v->r);

	while (v->produced < v->total) {
		uint64_t left = v->total - v->produced;
		uint64_t x = rnd(&s);
		size_t n, m, k;
		unsigned char *p;

		/* Mostly 1..16 KiB, one region in 8 of 1..16 bytes. */
		n = x % 8 == 0 ? rnd_len(&s, 16) : rnd_len(&s, VALIDATOR_REGION_MAX);
		if (n > left)
			n = (size_t)left;
		/* Sometimes reserve more than will be committed (<= 32 KiB). */
		m = (x >> 8) % 16 == 0 ? n + rnd_len(&s, n) - 1 : n;
		p = ldq_ring_reserve(v->r, m);
		if (!p) {
			/* Blocked: m <= 32 KiB, and the consumer never waits
			 * for more than 32 KiB, so they cannot both block. */
			v->p_waits++;
			if (ldq_ring_wait_space(v->r, m, -1))
				v->p_bad++;
			continue;
		}
		if (((uintptr_t)p ^ v->produced) & 7)
			v->p_misaligned++;
		if (m > cap)
			v->p_bad++;
		pattern_fill(p, v->produced, n);
		/* Sometimes commit in two parts. */
		if ((x >> 16) % 16 == 0 && n > 1) {
			k = rnd_len(&s, n - 1);
			ldq_ring_commit(v->r, k);
			ldq_ring_commit(v->r, n - k);
		} else {
			ldq_ring_commit(v->r, n);
		}
		v->produced += n;
	}
	return NULL;
}

static void *consumer_main(void *arg)
{
	struct validator *v = arg;
	uint64_t s = v->seed * 2 + 2;

	while (v->consumed < v->total) {
		uint64_t left = v->total - v->consumed;
		uint64_t x = rnd(&s);
		const unsigned char *p;
		size_t avail, n;
		uint64_t bad;

		p = ldq_ring_peek(v->r, &avail);
		if (!avail || x % 64 == 0) {
			/* Wait for 1 byte, or sometimes up to 32 KiB. */
			n = x % 64 == 0 ? rnd_len(&s, 2 * VALIDATOR_REGION_MAX) : 1;
			if (n > left)
				n = (size_t)left;
			if (avail < n) {
				v->c_waits++;
				if (ldq_ring_wait_data(v->r, n, -1))
					v->c_bad++;
			}
			continue;
		}
		if (avail > left)
			v->c_bad++;
		if (((uintptr_t)p ^ v->consumed) & 7)
			v->c_misaligned++;
		/* All of it, or a random part. */
		n = (x >> 8) % 4 == 0 ? avail : rnd_len(&s, avail);
		bad = pattern_check(p, v->consumed, n);
		if (bad && !v->mismatches)
			v->first_bad = v->consumed;
		v->mismatches += bad;
		ldq_ring_release(v->r, n);
		v->consumed += n;
	}
	return NULL;
}

static void test_validator(void **state)
{
	static struct validator v; /* static: see test_wake_interrupts_waits() */
	const char *env = getenv("LDQ_RING_SEED");
	pthread_t tp, tc;
	uint64_t t0;
	double secs;

	v = (struct validator){ .total = VALIDATOR_TOTAL, .seed = 1 };
	if (env && *env)
		v.seed = strtoull(env, NULL, 0);
	pattern_seed = v.seed * 0x9e3779b97f4a7c15ull;
	assert_int_equal(ldq_ring_new(VALIDATOR_CAP, &v.r), 0);
	assert_int_equal(ldq_ring_capacity(v.r), VALIDATOR_CAP);

	t0 = now_ns();
	assert_int_equal(pthread_create(&tc, NULL, consumer_main, &v), 0);
	assert_int_equal(pthread_create(&tp, NULL, producer_main, &v), 0);
	if (join_within(tp, 600) || join_within(tc, 600))
		fail_msg("validator stuck after %llu bytes produced, %llu consumed",
			 (unsigned long long)v.produced, (unsigned long long)v.consumed);
	secs = (double)(now_ns() - t0) / 1e9;
	printf("# validator: seed %llu, %llu bytes through %u bytes in %.2f s (%.0f MiB/s), "
	       "high water %zu, waits %lu producer %lu consumer\n",
	       (unsigned long long)v.seed, (unsigned long long)v.total, VALIDATOR_CAP, secs,
	       (double)v.total / secs / 1048576.0, ldq_ring_high_water(v.r), v.p_waits,
	       v.c_waits);

	if (v.mismatches)
		fail_msg("%llu wrong bytes, the first in the region at stream offset %llu",
			 (unsigned long long)v.mismatches, (unsigned long long)v.first_bad);
	assert_int_equal(v.produced, v.total);
	assert_int_equal(v.consumed, v.total);
	assert_int_equal(v.p_bad, 0);
	assert_int_equal(v.c_bad, 0);
	assert_int_equal(v.p_misaligned, 0);
	assert_int_equal(v.c_misaligned, 0);
	assert_int_equal(ldq_ring_committed(v.r), v.total);
	assert_int_equal(ldq_ring_released(v.r), v.total);
	assert_int_equal(ldq_ring_fill(v.r), 0);
	assert_true(ldq_ring_high_water(v.r) > 0);
	assert_true(ldq_ring_high_water(v.r) <= VALIDATOR_CAP);
	ldq_ring_free(v.r);
}

/* The pattern functions themselves must be able to see a wrong byte. */
static void test_validator_detects_corruption(void **state)
{
	unsigned char buf[64 + 3];
	uint64_t off;

	pattern_seed = 42;
	for (off = 0; off < 8; off++) {
		pattern_fill(buf, 1000 + off, sizeof(buf));
		assert_int_equal(pattern_check(buf, 1000 + off, sizeof(buf)), 0);
		buf[off * 5] ^= 0x10;
		buf[sizeof(buf) - 1] ^= 1;
		assert_int_equal(pattern_check(buf, 1000 + off, sizeof(buf)), 2);
		/* The same bytes at another offset are wrong. */
		assert_true(pattern_check(buf, 1008 + off, sizeof(buf)) > 0);
	}
}

/* ---- idle waits sleep ---- */

static void test_idle_wait_sleeps(void **state)
{
	struct ldq_ring *r;
	static struct waiter wd, ws; /* static: see test_wake_interrupts_waits() */
	pthread_t t;

	assert_int_equal(ldq_ring_new(1, &r), 0);

	/* A consumer on an empty ring. */
	wd = (struct waiter){ .r = r, .space = 0, .n = 1, .timeout_ns = 300 * MS };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &wd), 0);
	assert_int_equal(join_within(t, 10), 0);
	printf("# idle wait_data: %.1f ms CPU in %.1f ms\n", (double)wd.cpu_ns / 1e6,
	       (double)wd.ns / 1e6);
	assert_int_equal(wd.ret, -ETIMEDOUT);
	assert_true(wd.ns >= 300 * MS);
	assert_true(wd.cpu_ns < 50 * MS);

	/* A producer on a full ring. */
	put(r, ldq_ring_capacity(r), 1);
	ws = (struct waiter){ .r = r, .space = 1, .n = 1, .timeout_ns = 300 * MS };
	assert_int_equal(pthread_create(&t, NULL, waiter_main, &ws), 0);
	assert_int_equal(join_within(t, 10), 0);
	printf("# idle wait_space: %.1f ms CPU in %.1f ms\n", (double)ws.cpu_ns / 1e6,
	       (double)ws.ns / 1e6);
	assert_int_equal(ws.ret, -ETIMEDOUT);
	assert_true(ws.ns >= 300 * MS);
	assert_true(ws.cpu_ns < 50 * MS);
	ldq_ring_free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_capacity_rounding),
		cmocka_unit_test(test_invalid_sizes),
		cmocka_unit_test(test_empty_peek),
		cmocka_unit_test(test_reserve_commit_peek_release),
		cmocka_unit_test(test_fill_high_water),
		cmocka_unit_test(test_peek_n),
		cmocka_unit_test(test_wrap_is_contiguous),
		cmocka_unit_test(test_peek_n_joins_two_regions),
		cmocka_unit_test(test_commit_parts_at_the_end),
		cmocka_unit_test(test_huge_pages),
		cmocka_unit_test(test_populate),
		cmocka_unit_test(test_populate_fill),
		cmocka_unit_test(test_wait_timeouts),
		cmocka_unit_test(test_wake_interrupts_waits),
		cmocka_unit_test(test_wake_before_wait),
		cmocka_unit_test(test_commit_release_wake_sleepers),
		cmocka_unit_test(test_idle_wait_sleeps),
		cmocka_unit_test(test_no_wake_in_vain),
		cmocka_unit_test(test_timeout_sleeps_once),
		cmocka_unit_test(test_pingpong_no_lost_wakeup),
		cmocka_unit_test(test_items_one_at_a_time),
		cmocka_unit_test(test_validator_detects_corruption),
		cmocka_unit_test(test_validator),
	};

	/* The TAP comments above must not interleave with cmocka's lines. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
