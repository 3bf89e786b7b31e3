/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring.c - the lock-free single-producer single-consumer byte ring.
 *
 * Storage.  A memfd of @cap bytes (a page multiple) is mapped twice, back
 * to back, into a 2 * @cap reservation of address space:
 *
 *	base                 base + cap             base + 2 * cap
 *	| memfd [0, cap)     | memfd [0, cap) again |
 *
 * so the byte at ring offset o is both at base[o] and base[o + cap], and any
 * region of at most @cap bytes that starts at an offset in [0, cap) is
 * contiguous.  The memfd is closed once mapped: the mappings keep it alive.
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
 *	          readable byte); release() publishes tail with a store-release.
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
 *	W4 FUTEX_WAIT(seq)              N4   fetch_add seq, FUTEX_WAKE
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
 * The notifier compares with an upper bound of what the waiter waits for
 * (its cached copy of the other index lags), so it may wake in vain, never
 * miss.  Without membarrier() (before Linux 4.14, or seccomp), both sides
 * use seq_cst fences instead.  (ThreadSanitizer models neither fences nor
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
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ring.h"

#define RING_CACHELINE 64

/* Iterations of the spin before a wait sleeps: a few microseconds. */
#define RING_SPIN 256

static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "the ring needs lock-free 64-bit atomics");
static_assert(sizeof(_Atomic uint32_t) == 4, "a futex word is 32 bits");

struct ldq_ring {
	/* Set by ldq_ring_new(), read-only afterwards. */
	unsigned char *base;		/* 2 * cap bytes: the storage, twice */
	size_t cap;

	/* Written by the producer, read by the consumer and observers. */
	alignas(RING_CACHELINE) _Atomic uint64_t head;	/* bytes ever committed */
	_Atomic uint32_t data_seq;	/* bumped at every commit: futex word */
	_Atomic size_t high_water;	/* largest fill seen at a commit */

	/* Producer-private. */
	alignas(RING_CACHELINE) uint64_t p_head;	/* == head */
	uint64_t p_tail;		/* cached tail, <= tail */
	size_t p_off;			/* p_head % cap */
	size_t p_reserved;		/* bytes reserved and not committed */
	size_t p_high;			/* == high_water */
	uint32_t p_wake_seen;		/* wake counter last reported to wait_space */

	/* Written by the consumer, read by the producer and observers. */
	alignas(RING_CACHELINE) _Atomic uint64_t tail;	/* bytes ever released */
	_Atomic uint32_t space_seq;	/* bumped at every release: futex word */

	/* Consumer-private. */
	alignas(RING_CACHELINE) uint64_t c_tail;	/* == tail */
	uint64_t c_head;		/* cached head, <= head */
	size_t c_off;			/* c_tail % cap */
	uint32_t c_wake_seen;		/* wake counter last reported to wait_data */

	/* Rarely written: only when a side goes to sleep, and by wake(). */
	alignas(RING_CACHELINE) _Atomic uint64_t data_waiters;	/* bytes the sleeping consumer wants */
	_Atomic uint64_t space_waiters;	/* bytes the sleeping producer wants */
	_Atomic uint32_t wake_seq;	/* bumped by ldq_ring_wake() */
	int heavy_fence;		/* membarrier() is available: see ring_notify() */
};

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

int ldq_ring_new(size_t capacity, struct ldq_ring **out)
{
	long page = sysconf(_SC_PAGESIZE);
	struct ldq_ring *r;
	unsigned char *base;
	size_t cap;
	int fd, err;

	*out = NULL;
	if (page <= 0)
		page = 4096;
	/* Two copies of the storage must fit in the address space, and the
	 * size in an off_t. */
	if (!capacity || capacity > SIZE_MAX / 4 || capacity > (uint64_t)INT64_MAX / 4)
		return -EINVAL;
	cap = (capacity + (size_t)page - 1) & ~((size_t)page - 1);

	r = aligned_alloc(RING_CACHELINE, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));

	fd = memfd_create("labdaq-ring", MFD_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto fail_free;
	}
	if (ftruncate(fd, (off_t)cap)) {
		err = -errno;
		goto fail_close;
	}
	/* Reserve the address space, then put the two views on top of it. */
	base = mmap(NULL, 2 * cap, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		goto fail_close;
	}
	/* MAP_POPULATE: allocate and map the pages now, not on the first lap. */
	if (mmap(base, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_POPULATE, fd,
		 0) == MAP_FAILED ||
	    mmap(base + cap, cap, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
		    MAP_FAILED) {
		err = -errno;
		goto fail_unmap;
	}
	close(fd);

	r->base = base;
	r->cap = cap;
	r->heavy_fence = heavy_fence_init();
	*out = r;
	return 0;

fail_unmap:
	munmap(base, 2 * cap);
fail_close:
	close(fd);
fail_free:
	free(r);
	return err;
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

/*
 * Wake a sleeping waiter of one direction after its condition may have
 * changed (the caller has just published its index; @have is an upper
 * bound of the waiter's fill or free space).  See the protocol at the top
 * of the file: this is N2 to N4.
 */
static void ring_notify(const struct ldq_ring *r, _Atomic uint32_t *seq,
			_Atomic uint64_t *waiters, uint64_t have)
{
	uint64_t want;

	/* N2: the light half of an asymmetric fence; the heavy half is the
	 * waiter's membarrier() between W1 and W3.  Together they order N1
	 * before N3 as a full fence would, for nothing on this side. */
	if (r->heavy_fence)
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
	/* N3: pairs with W1. */
	want = atomic_load_explicit(waiters, memory_order_relaxed);
	/* @have is an upper bound of what the waiter waits for: below its
	 * wish it would only re-check and sleep again. */
	if (want && have >= want) {
		/* N4: pairs with W2; a release, so a waiter that reads this
		 * value sees N1. */
		atomic_fetch_add_explicit(seq, 1, memory_order_seq_cst);
		futex_wake(seq);
	}
}

/* ---- producer ---- */

void *ldq_ring_reserve(struct ldq_ring *r, size_t n)
{
	r->p_reserved = 0;
	if (!n || n > r->cap)
		return NULL;
	if (r->cap - (r->p_head - r->p_tail) < n) {
		/* Pairs with the store-release of tail in ldq_ring_release():
		 * the consumer's reads of the space are done before we write. */
		r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (r->cap - (r->p_head - r->p_tail) < n)
			return NULL;
	}
	r->p_reserved = n;
	return r->base + r->p_off;
}

void ldq_ring_commit(struct ldq_ring *r, size_t n)
{
	size_t fill;

	assert(n <= r->p_reserved);
	if (!n)
		return;
	r->p_reserved -= n;
	r->p_head += n;
	r->p_off += n;
	if (r->p_off >= r->cap)
		r->p_off -= r->cap;
	/* N1.  Pairs with the load-acquire of head in ldq_ring_peek() and
	 * ring_wait(): the bytes written are visible before the index. */
	atomic_store_explicit(&r->head, r->p_head, memory_order_release);

	/* High-water mark: the cached tail gives an upper bound of the fill;
	 * read the real tail only when that bound would raise the mark. */
	fill = (size_t)(r->p_head - r->p_tail);
	if (fill > r->p_high) {
		/* Pairs with the store-release of tail in ldq_ring_release(). */
		r->p_tail = atomic_load_explicit(&r->tail, memory_order_acquire);
		fill = (size_t)(r->p_head - r->p_tail);
		if (fill > r->p_high) {
			r->p_high = fill;
			/* A statistic, no ordering: readers use a relaxed load. */
			atomic_store_explicit(&r->high_water, fill, memory_order_relaxed);
		}
	}

	ring_notify(r, &r->data_seq, &r->data_waiters, r->p_head - r->p_tail);
}

/* ---- consumer ---- */

const void *ldq_ring_peek(struct ldq_ring *r, size_t *avail)
{
	/* Pairs with the store-release of head in ldq_ring_commit(): the
	 * bytes below head are written before we read them. */
	r->c_head = atomic_load_explicit(&r->head, memory_order_acquire);
	*avail = (size_t)(r->c_head - r->c_tail);
	return r->base + r->c_off;
}

void ldq_ring_release(struct ldq_ring *r, size_t n)
{
	assert(n <= r->c_head - r->c_tail);
	if (!n)
		return;
	r->c_tail += n;
	r->c_off += n;
	if (r->c_off >= r->cap)
		r->c_off -= r->cap;
	/* N1.  Pairs with the load-acquire of tail in ldq_ring_reserve(),
	 * ldq_ring_commit() and ring_wait(): our reads of the region are
	 * done before the producer may overwrite it. */
	atomic_store_explicit(&r->tail, r->c_tail, memory_order_release);
	ring_notify(r, &r->space_seq, &r->space_waiters, r->cap - (r->c_head - r->c_tail));
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

static int ring_wait(struct ldq_ring *r, enum ring_dir dir, size_t n, int64_t timeout_ns)
{
	_Atomic uint32_t *seq = dir == RING_DATA ? &r->data_seq : &r->space_seq;
	_Atomic uint64_t *waiters = dir == RING_DATA ? &r->data_waiters : &r->space_waiters;
	uint64_t deadline = UINT64_MAX;
	int ret;
	int i;

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
	for (i = 0; i < RING_SPIN; i++) {
		cpu_relax();
		if (ring_ready(r, dir, n))
			return 0;
	}

	for (;;) {
		struct timespec rel, *relp = NULL;
		uint32_t val;

		/* W1: pairs with N3, the waiters load in ring_notify(). */
		atomic_store_explicit(waiters, n ? n : 1, memory_order_seq_cst);
		/* The heavy half of the fence of N2 in ring_notify(). */
		heavy_fence(r);
		/* W2: pairs with N2, the fetch_add in ring_notify(), and with
		 * the fetch_add of the same word in ldq_ring_wake(). */
		val = atomic_load_explicit(seq, memory_order_seq_cst);
		/* W3 */
		if (ring_ready(r, dir, n)) {
			ret = 0;
			break;
		}
		if (ring_woken(r, dir)) {
			ret = -EINTR;
			break;
		}
		if (deadline != UINT64_MAX) {
			uint64_t now = mono_ns();

			if (now >= deadline) {
				ret = -ETIMEDOUT;
				break;
			}
			rel.tv_sec = (time_t)((deadline - now) / 1000000000u);
			rel.tv_nsec = (long)((deadline - now) % 1000000000u);
			relp = &rel;
		}
		/* W4 */
		futex_wait(seq, val, relp);
	}
	/* Nobody to wake any more.  A notifier that still sees the flag
	 * makes one useless FUTEX_WAKE, nothing worse. */
	atomic_store_explicit(waiters, 0, memory_order_relaxed);
	return ret;
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
