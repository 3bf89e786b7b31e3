/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring.c - the lock-free single-producer single-consumer byte ring.
 *
 * Storage.  Anonymous private memory: @cap bytes of storage (a page
 * multiple), then @cap bytes of overhang, aligned to a huge page:
 *
 *	base                 base + cap             base + 2 * cap
 *	| storage [0, cap)   | overhang             |
 *
 * The storage asks for transparent huge pages (MADV_HUGEPAGE), is
 * populated at once (a storage of at least a huge page, as far as the run
 * can reach; a smaller one, or what a run cannot reach, is faulted in by
 * its first use), and where it still got small pages (THP "never") is
 * collapsed into huge ones (MADV_COLLAPSE, which ignores that setting); the
 * overhang stays on small pages and gets memory only
 * where regions cross the end.  Why huge pages: the writer hands the ring's
 * pages straight to write(2) with O_DIRECT, and a block request is built of
 * one segment per physically contiguous run of pages: 4 MiB on small pages
 * are up to 1024 segments, on huge pages 2.  Measured on a virtio disk
 * (BENCHMARKS.md), 8 MiB O_DIRECT writes from 64 MiB of memory: 1.8-2.1
 * GB/s from small pages, 3.2-3.6 GB/s from huge ones.  (A memfd mapped
 * twice would make every region contiguous with no copy at all, but shmem
 * gets huge pages only where the administrator allows them, and hugetlbfs
 * only from a reserved pool.)
 *
 * Regions that cross the end.  The producer's region that starts at offset
 * o < cap and crosses the end is written at base[o .. o + n), partly in the
 * overhang; commit() copies the part in the overhang to the start of the
 * storage before it publishes the bytes, so the storage always holds the
 * stream.  The consumer's peek() stops at the end of the storage (the rest
 * follows from its start); peek_n(n), which must give n bytes in one piece,
 * copies the part at the start of the storage into the overhang when its n
 * bytes cross the end (at each such call).  Only bytes that cross the end
 * are copied: by the producer, the part of one region a lap; by peek_n, its
 * part after the end.  Regions that never cross the end (a ring whose
 * capacity is a multiple of the frame size, frames committed whole) are
 * never copied.  The copies cannot meet: the producer writes the overhang
 * for free space, the consumer for readable bytes, and the two are
 * disjoint; each side copies only bytes that are its own at that moment.
 *
 * Indices.  head (bytes ever committed) and tail (bytes ever released) are
 * monotonic 64-bit counters, never reduced modulo anything: fill is
 * head - tail, free space is cap - (head - tail).  Each side keeps its own
 * index and its own offset into the ring in private fields, plus a cached
 * copy of the other side's index, so the shared cache lines are touched only
 * when needed:
 *
 *	producer: reserve() reads tail only when the cached copy says "not
 *	          enough space"; commit() publishes head with a store-release.
 *	consumer: peek() loads head with a load-acquire (it promises every
 *	          readable byte up to the end of the storage); peek_n() reads
 *	          head only when the cached
 *	          copy says "not enough data"; release() publishes tail with a
 *	          store-release.
 *
 * The producer's and the consumer's calls are inline, in ring.h.
 *
 * The release/acquire pairs are the whole data protocol:
 *
 *	commit:  writes to the region  ->  store-release head
 *	peek:    load-acquire head     ->  reads of the region
 *	release: reads of the region   ->  store-release tail
 *	reserve: load-acquire tail     ->  writes to the region (next lap)
 *
 * Waiting.  Each direction has a 32-bit futex word (data_seq, space_seq)
 * and a "waiters" word: 0, or the bytes the sleeping side waits for.  A
 * waiter spins briefly, then:
 *
 *	waiter                          notifier (commit or release)
 *	W1 store waiters = n            N1 store-release the index
 *	   membarrier()                 N2 compiler barrier
 *	W2 seq = load seq (seq_cst)     N3 load waiters; if set and the fill
 *	W3 re-check the condition          (free space) may reach it:
 *	W4 FUTEX_WAIT(seq)              N3b  read the other index; if the
 *	                                     fill still reaches it:
 *	                                N4   fetch_add seq, FUTEX_WAKE
 *
 * N2 and the waiter's membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) form an
 * asymmetric fence: the system call makes every running thread of the
 * process execute a full barrier, so the pair orders W1 before W3 and N1
 * before N3 as two full fences would, and the notifier, which runs at every
 * commit and release, pays nothing for it.  So N3 sees W1, or W3 sees N1
 * (then the waiter does not sleep).  If N3 sees the waiter, N4 bumps the
 * word after N1: W2 either reads the new value (a release: W3 then sees
 * N1) or the old one, and then the kernel, which compares the word and
 * queues the waiter atomically with respect to the wake, returns EAGAIN or
 * wakes it.  No wakeup is lost, and a commit or release makes no locked
 * instruction and no system call unless a side sleeps and may be satisfied.
 * The notifier compares what the waiter waits for with an upper bound of
 * the fill (free space): first the one its cached copy of the other index
 * gives, which lags; only if that reaches the wish does it read the other
 * index (N3b) and wake if the fresh bound still does.  Any value of an index
 * read is at most the index (indices only grow), so the bound stays an
 * upper bound: no wake is missed, and a waiter is not woken in vain because
 * of a stale copy.  The waiter makes its heavy fence only on the way to a
 * sleep; after a sleep, a plain check ends the wait when it is over.
 * Without membarrier() (before Linux 4.14, or seccomp), both sides use
 * seq_cst fences instead.  (ThreadSanitizer models neither fences nor
 * membarrier; every access involved is atomic, so it reports no race.)
 *
 * ldq_ring_wake() bumps a wake counter, then both futex words, then wakes
 * both unconditionally.  Each side remembers the wake counter it last
 * reported; a wait that finds the counter moved past that value returns
 * -EINTR and takes the new value.  So a wake is reported exactly once to
 * each side: to the wait in progress, or else to that side's next wait
 * that does not find its condition true at once.  A wake that lands between
 * a caller's check of its own stop flag and its call to a wait is not lost.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25	/* Linux 6.1; glibc 2.36's headers lack it */
#endif

/* Iterations of the spin before a wait sleeps: a few microseconds. */
#define RING_SPIN 256

static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the ring needs lock-free 64-bit atomics");
static_assert(sizeof(_Atomic uint32_t) == 4, "a futex word is 32 bits");


/* Can this process use membarrier() as the heavy half of the fence? */
static int heavy_fence_init(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);

	if (cmds < 0 || !(cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) ||
	    !(cmds & MEMBARRIER_CMD_GLOBAL))
		return 0;
	/* Idempotent; done at every ring_new(), which is rare. */
	return !syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0);
}

/*
 * The heavy half of the asymmetric fence (see the top of the file).  The
 * notifiers of this ring rely on it as soon as the ring exists, so it must
 * not fail: a process forked after the registration must register again,
 * and MEMBARRIER_CMD_GLOBAL (slow, but needs no registration) is the last
 * resort.
 */
static void heavy_fence(const struct ldq_ring *r)
{
	if (!r->heavy_fence) {
		atomic_thread_fence(memory_order_seq_cst);
		return;
	}
	if (!syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		return;
	if (!syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) &&
	    !syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		return;
	syscall(SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

static void futex_wait(_Atomic uint32_t *word, uint32_t val, const struct timespec *rel)
{
	/* EAGAIN (the word changed), EINTR (a signal), ETIMEDOUT: the caller
	 * re-checks everything in all cases. */
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, val, rel, NULL, 0);
}

static void futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The size of a transparent huge page (2 MiB on x86-64): where the
 * storage is aligned. */
static size_t huge_page_size(size_t page)
{
	unsigned long long v = 0;
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");

	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = 0;
		fclose(f);
	}
	/* A power of two that is a page multiple, or the usual size. */
	if (v < page || v > ((size_t)1 << 30) || (v & (v - 1)))
		v = (size_t)2 << 20;
	return (size_t)v;
}

/* Allocate the pages of [p, p + n) now, not on the first lap. */
static int populate(unsigned char *p, size_t n, size_t page)
{
#ifdef MADV_POPULATE_WRITE
	if (!madvise(p, n, MADV_POPULATE_WRITE))
		return 0;
	if (errno != EINVAL)
		return -errno;	/* ENOMEM, EFAULT: not enough memory */
#endif
	/* Before Linux 5.14: touch every page (the memory is committed, see
	 * ldq_ring_new(), so this fails only where the kernel overcommits). */
	for (size_t i = 0; i < n; i += page)
		((volatile unsigned char *)p)[i] = 0;
	return 0;
}

/*
 * How much of a storage of @cap bytes to populate at creation for a use
 * that passes at most @fill bytes through it (0: unknown).  A ring smaller
 * than a huge page is faulted in by its first lap (at most a few hundred
 * small pages): populating it would cost a short run more (0.3 ms for 1
 * MiB) than the faults cost a long one.  The same holds for a use of less
 * than a huge page.  What a use cannot reach is not populated either: a
 * 1-packet USB capture with a 16 MiB ring spent about 35 ms of CPU under
 * TCG populating and collapsing pages it never touched (BENCHMARKS.md).
 */
static size_t populated_bytes(size_t cap, size_t fill, size_t huge)
{
	size_t n;

	if (!fill || fill > cap)
		fill = cap;
	if (cap < huge || fill < huge)
		return 0;
	n = (fill + huge - 1) / huge * huge;	/* fill <= cap <= SIZE_MAX / 4 */
	return n < cap ? n : cap;
}

/*
 * Map @cap bytes of storage followed by a @cap-byte overhang at an address
 * aligned to @huge; the storage committed, on huge pages where the system
 * gives them, and as much of it populated as populated_bytes() says for
 * a use of @fill bytes.  0 and *@out, or -errno with nothing mapped.
 */
static int map_storage(size_t cap, size_t fill, size_t huge, size_t page, unsigned char **out)
{
	unsigned char *map, *base, *end;
	size_t len = 2 * cap + huge;
	int err;

	/* Address space for the storage and the overhang, aligned to a huge
	 * page; what the alignment leaves over on either side is returned.
	 * MAP_NORESERVE: the overhang gets memory only where regions cross
	 * the end. */
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		   -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	base = (unsigned char *)(((uintptr_t)map + huge - 1) & ~(uintptr_t)(huge - 1));
	end = base + 2 * cap;
	if (base > map)
		munmap(map, (size_t)(base - map));
	if (map + len > end)
		munmap(end, (size_t)(map + len - end));
	/* The storage itself is committed memory (accounted like any other
	 * allocation, so strict overcommit refuses it here), not NORESERVE. */
	if (mmap(base, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		 0) == MAP_FAILED) {
		err = -errno;
		munmap(base, 2 * cap);
		return err;
	}
	/* A child forked while a run streams gets no copy of the ring, and
	 * the parent's next writes to it no copy-on-write faults. */
	madvise(base, 2 * cap, MADV_DONTFORK);
	/* Huge pages where the system gives them on request (THP "always" or
	 * "madvise"); small pages otherwise.  The overhang never: it is
	 * touched a region at a time. */
	if (cap >= huge)
		madvise(base, cap, MADV_HUGEPAGE);
	madvise(base + cap, cap, MADV_NOHUGEPAGE);
#ifdef PR_SET_VMA
	/* "[anon:labdaq-ring]" in /proc/PID/maps, where the kernel can name it. */
	prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)base, 2 * cap,
	      (unsigned long)"labdaq-ring");
#endif
	fill = populated_bytes(cap, fill, huge);
	err = fill ? populate(base, fill, page) : 0;
	if (err) {
		munmap(base, 2 * cap);
		return err;
	}
	/* Small pages (THP "never", no huge page free): MADV_COLLAPSE (Linux
	 * 6.1) makes them huge whatever the THP setting; a no-op where they
	 * are.  Best effort: small pages work, slower (BENCHMARKS.md). */
	if (fill)
		madvise(base, fill, MADV_COLLAPSE);
	*out = base;
	return 0;
}

int ldq_ring_new(size_t capacity, struct ldq_ring **out)
{
	return ldq_ring_new_fill(capacity, 0, out);
}

int ldq_ring_new_fill(size_t capacity, size_t fill, struct ldq_ring **out)
{
	long page = sysconf(_SC_PAGESIZE);
	struct ldq_ring *r;
	size_t cap;
	int err;

	*out = NULL;
	if (page <= 0)
		page = 4096;
	/* The storage and its overhang must fit in the address space. */
	if (!capacity || capacity > SIZE_MAX / 4 || capacity > (uint64_t)INT64_MAX / 4)
		return -EINVAL;
	cap = (capacity + (size_t)page - 1) & ~((size_t)page - 1);
	r = aligned_alloc(LDQ_RING_CACHELINE, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	err = map_storage(cap, fill, huge_page_size((size_t)page), (size_t)page, &r->base);
	if (err) {
		free(r);
		return err;
	}
	r->cap = cap;
	r->p_hw_slack = cap / 64;
	r->heavy_fence = heavy_fence_init();
	*out = r;
	return 0;
}

void ldq_ring_free(struct ldq_ring *r)
{
	if (!r)
		return;
	munmap(r->base, 2 * r->cap);
	free(r);
}

size_t ldq_ring_capacity(const struct ldq_ring *r)
{
	return r->cap;
}

/* N4 of the notifier, once it has seen a waiter that it may satisfy. */
static void wake_waiter(_Atomic uint32_t *seq, uint64_t *wakes)
{
	/* Pairs with W2; a release, so a waiter that reads the new value sees
	 * N1. */
	atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
	futex_wake(seq);
	(*wakes)++;
}

/*
 * The producer's cached tail says the sleeping consumer may have the @want
 * bytes it waits for.  That bound lags by what the consumer released since
 * the tail was last read (after the consumer's every large write, up to
 * the high-water slack): read the tail, and wake the consumer only if the
 * fill does reach @want.  Any tail read is at most the consumer's own (it
 * only grows, and the consumer does not release while it sleeps), so the
 * fill computed is still an upper bound of what the consumer will see: no
 * wake is missed, and none is made in vain that the real tail would have
 * spared (each cost the consumer a wakeup, its heavy fence and a sleep).
 */
void ldq_ring_notify_data_(struct ldq_ring *r, uint64_t want)
{
	/* Pairs with the store-release of tail in ldq_ring_release(). */
	r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (r->p_head - r->p_tail >= want)
		wake_waiter(&r->data_seq, &r->p_wakes);
}

/* The same for the consumer's release and a producer that waits for
 * space: the head read here is at most the real one, so the free space
 * computed is an upper bound.  The cached head is left alone (a peek sets
 * it: ldq_ring_readable() is as of the last peek). */
void ldq_ring_notify_space_(struct ldq_ring *r, uint64_t want)
{
	uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);

	if (r->cap - (head - r->c_tail) >= want)
		wake_waiter(&r->space_seq, &r->c_wakes);
}

/* The producer's cached tail says the fill may exceed the high-water mark:
 * read the real tail and raise the mark if it does. */
void ldq_ring_high_water_(struct ldq_ring *r)
{
	size_t fill;

	/* Pairs with the store-release of tail in ldq_ring_release(). */
	r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	fill = (size_t)(r->p_head - r->p_tail);
	if (fill > r->p_high) {
		r->p_high = fill;
		/* A statistic, no ordering: readers use a relaxed load. */
		atomic_store_explicit(&r->high_water, fill, memory_order_relaxed);
	}
}

/*
 * Commit of @n bytes of a region that reaches past the end of the storage:
 * copy its part in the overhang to the start, before the bytes are
 * published (the caller's store-release of head comes after).  The bytes
 * start at base + p_off, or at base + cap + p_off when an earlier commit of
 * the same reservation crossed the end (p_carry: the rest of the
 * reservation lies in the overhang).  Called before p_off moves on.
 */
void ldq_ring_overhang_in_(struct ldq_ring *r, size_t n)
{
	size_t from = r->p_off + (r->p_carry ? r->cap : 0);
	size_t end = from + n;

	if (from < r->cap)
		from = r->cap;
	memcpy(r->base + from - r->cap, r->base + from, end - from);
	r->p_carry = r->p_reserved > n;
}

/* peek_n(@n) across the end: the consumer's n bytes continue at the start
 * of the storage; copy them into the overhang so that they follow on. */
void ldq_ring_overhang_out_(struct ldq_ring *r, size_t n)
{
	memcpy(r->base + r->cap, r->base, r->c_off + n - r->cap);
}

/* ---- waiting ---- */

enum ring_dir { RING_DATA, RING_SPACE };

/*
 * Is the condition true now?  Loads the other side's index (load-acquire)
 * and refreshes the caller's cached copy of it.
 */
static bool ring_ready(struct ldq_ring *r, enum ring_dir dir, size_t n)
{
	if (dir == RING_DATA) {
		/* Pairs with the store-release of head in ldq_ring_commit(). */
		r->c_head = atomic_load_explicit(&r->head, memory_order_acquire);
		return r->c_head - r->c_tail >= n;
	}
	/* Pairs with the store-release of tail in ldq_ring_release(). */
	r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
	return r->cap - (r->p_head - r->p_tail) >= n;
}

/* Was ldq_ring_wake() called since this side last returned -EINTR? */
static bool ring_woken(struct ldq_ring *r, enum ring_dir dir)
{
	uint32_t *seen = dir == RING_DATA ? &r->c_wake_seen : &r->p_wake_seen;
	/* Pairs with the fetch_add in ldq_ring_wake(): what the waking
	 * thread did before the wake (set its stop flag) is visible. */
	uint32_t w = atomic_load_explicit(&r->wake_seq, memory_order_acquire);

	if (w == *seen)
		return false;
	*seen = w;
	return true;
}

/* Is the wait over without a sleep: ready (0), woken (-EINTR) or past
 * @deadline (-ETIMEDOUT)?  1: sleep, for @rel (NULL: no deadline). */
static int ring_over(struct ldq_ring *r, enum ring_dir dir, size_t n, uint64_t deadline,
		     struct timespec *rel)
{
	uint64_t now;

	if (ring_ready(r, dir, n))
		return 0;
	if (ring_woken(r, dir))
		return -EINTR;
	if (deadline == UINT64_MAX)
		return 1;
	now = mono_ns();
	if (now >= deadline)
		return -ETIMEDOUT;
	rel->tv_sec = (time_t)((deadline - now) / 1000000000u);
	rel->tv_nsec = (long)((deadline - now) % 1000000000u);
	return 1;
}

/* Sleep on the futex until ready, woken or @deadline (CLOCK_MONOTONIC ns,
 * UINT64_MAX: none): the wait protocol's waiting half.  The heavy fence is
 * made only on the way to a sleep: a wait that ends (ready, woken, timed
 * out) after a sleep returns on a plain check. */
static int ring_sleep(struct ldq_ring *r, enum ring_dir dir, size_t n, uint64_t deadline)
{
	_Atomic uint32_t *seq = dir == RING_DATA ? &r->data_seq : &r->space_seq;
	_Atomic uint64_t *waiters = dir == RING_DATA ? &r->data_waiters : &r->space_waiters;
	uint64_t *fences = dir == RING_DATA ? &r->c_fences : &r->p_fences;
	int ret;

	for (;;) {
		struct timespec rel;
		uint32_t val;

		/* W1: pairs with N3, the waiters load in ldq_ring_waiter_(). */
		atomic_store_explicit(waiters, n ? n : 1, memory_order_seq_cst);
		/* The heavy half of the fence of N2 in ldq_ring_waiter_(). */
		heavy_fence(r);
		(*fences)++;
		/* W2: pairs with N4, the fetch_add in wake_waiter(), and with
		 * the fetch_add of the same word in ldq_ring_wake(). */
		val = atomic_load_explicit(seq, memory_order_seq_cst);
		/* W3 */
		ret = ring_over(r, dir, n, deadline, &rel);
		if (ret < 1)
			break;
		/* W4 */
		futex_wait(seq, val, deadline == UINT64_MAX ? NULL : &rel);
		ret = ring_over(r, dir, n, deadline, &rel);
		if (ret < 1)
			break;
	}
	/* Nobody to wake any more.  A notifier that still sees the flag
	 * makes one useless FUTEX_WAKE, nothing worse. */
	atomic_store_explicit(waiters, 0, memory_order_relaxed);
	return ret;
}

static int ring_wait(struct ldq_ring *r, enum ring_dir dir, size_t n, int64_t timeout_ns)
{
	uint64_t deadline = UINT64_MAX;

	if (n > r->cap)
		return -EINVAL;
	if (ring_ready(r, dir, n))
		return 0;
	if (ring_woken(r, dir))
		return -EINTR;
	if (timeout_ns == 0)
		return -ETIMEDOUT;
	if (timeout_ns > 0) {
		uint64_t now = mono_ns();

		deadline = (uint64_t)timeout_ns < UINT64_MAX - now ? now + (uint64_t)timeout_ns
								     : UINT64_MAX;
	}
	/* The other side is often a few microseconds away: spin first. */
	for (int i = 0; i < RING_SPIN; i++) {
		cpu_relax();
		if (ring_ready(r, dir, n))
			return 0;
	}
	return ring_sleep(r, dir, n, deadline);
}

int ldq_ring_wait_space(struct ldq_ring *r, size_t n, int64_t timeout_ns)
{
	return ring_wait(r, RING_SPACE, n, timeout_ns);
}

int ldq_ring_wait_data(struct ldq_ring *r, size_t n, int64_t timeout_ns)
{
	return ring_wait(r, RING_DATA, n, timeout_ns);
}

void ldq_ring_wake(struct ldq_ring *r)
{
	/* Pairs with the load-acquire in ring_woken(). */
	atomic_fetch_add_explicit(&r->wake_seq, 1, memory_order_seq_cst);
	/* Pair with W2 in ring_wait(): a waiter about to sleep on the old
	 * value gets EAGAIN, one that reads the new value sees wake_seq. */
	atomic_fetch_add_explicit(&r->data_seq, 1, memory_order_seq_cst);
	atomic_fetch_add_explicit(&r->space_seq, 1, memory_order_seq_cst);
	futex_wake(&r->data_seq);
	futex_wake(&r->space_seq);
}

/* ---- observers (any thread) ---- */

size_t ldq_ring_fill(const struct ldq_ring *r)
{
	/* Tail first: pairs with the store-release of tail in
	 * ldq_ring_release(), which the consumer made after it had seen a
	 * head >= that tail, so the head loaded next is >= tail. */
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t fill = h - t;

	/* Both sides may move between the two loads. */
	return fill > r->cap ? r->cap : (size_t)fill;
}

size_t ldq_ring_high_water(const struct ldq_ring *r)
{
	/* A statistic: relaxed, like its store in ldq_ring_commit(). */
	return atomic_load_explicit(&r->high_water, memory_order_relaxed);
}

uint64_t ldq_ring_committed(const struct ldq_ring *r)
{
	/* Pairs with the store-release of head in ldq_ring_commit(). */
	return atomic_load_explicit(&r->head, memory_order_acquire);
}

uint64_t ldq_ring_released(const struct ldq_ring *r)
{
	/* Pairs with the store-release of tail in ldq_ring_release(). */
	return atomic_load_explicit(&r->tail, memory_order_acquire);
}

/* ---- reserving ahead ---- */

void *ldq_ring_reserve_ahead(struct ldq_ring *r, size_t ahead, size_t n)
{
	size_t off;

	if (!n || n > r->cap || ahead > r->cap - n)
		return NULL;
	if (r->cap - (r->p_head - r->p_tail) < ahead + n) {
		/* As in ldq_ring_reserve(). */
		r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (r->cap - (r->p_head - r->p_tail) < ahead + n)
			return NULL;
	}
	/* p_off < cap and ahead < cap: one subtraction wraps it. */
	off = r->p_off + ahead;
	if (off >= r->cap)
		off -= r->cap;
	return r->base + off;
}
