/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring.h - a bounded, lock-free single-producer single-consumer byte ring.
 *
 * A producer reserves a whole frame as one contiguous region and fills it
 * in place, even where it crosses the end of the storage; the consumer
 * peeks what is readable up to the end of the storage (then the rest), or
 * exactly n bytes as one region.  The storage is anonymous memory on huge
 * pages where the system gives them (so that a write(2) with O_DIRECT from
 * it needs few segments), followed by an overhang that makes regions that
 * cross the end contiguous: only the bytes past the end are copied (ring.c).
 *
 * Exactly one producer thread and one consumer thread; every other thread
 * may only call ldq_ring_fill(), ldq_ring_high_water() and ldq_ring_wake().
 * reserve/commit/peek/release are wait-free, inline, and make no locked
 * instruction and no system call unless the other side sleeps in a wait
 * that they may satisfy; the wait functions spin briefly, then sleep on a
 * futex.  The protocol is described at the top of ring.c.
 */
#ifndef LDQ_RING_H
#define LDQ_RING_H

#include <assert.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define LDQ_RING_CACHELINE 64

/*
 * The ring's state is here only so that the producer's and the consumer's
 * calls below can be inlined (they run once per item); it is private to
 * ring.h and ring.c: use the functions.  Each group shares a cache line
 * with nothing the other side writes often.
 */
struct ldq_ring {
	/* Set by ldq_ring_new(), read-only afterwards. */
	unsigned char *base;		/* cap bytes of storage, then cap of overhang */
	size_t cap;

	/* Written by the producer, read by the consumer and observers. */
	alignas(LDQ_RING_CACHELINE) _Atomic uint64_t head;	/* bytes ever committed */
	_Atomic uint32_t data_seq;	/* bumped at every commit: futex word */
	_Atomic size_t high_water;	/* largest fill seen at a commit */

	/* Producer-private. */
	alignas(LDQ_RING_CACHELINE) uint64_t p_head;	/* == head */
	uint64_t p_tail;		/* cached tail, <= tail */
	size_t p_off;			/* p_head % cap */
	size_t p_reserved;		/* bytes reserved and not committed */
	size_t p_high;			/* == high_water */
	size_t p_hw_slack;		/* cap / 64: see ldq_ring_high_water() */
	uint32_t p_wake_seen;		/* wake counter last reported to wait_space */
	int p_carry;			/* the reservation's uncommitted bytes are in
					 * the overhang, at base + cap + p_off */

	/* Written by the consumer, read by the producer and observers. */
	alignas(LDQ_RING_CACHELINE) _Atomic uint64_t tail;	/* bytes ever released */
	_Atomic uint32_t space_seq;	/* bumped at every release: futex word */

	/* Consumer-private. */
	alignas(LDQ_RING_CACHELINE) uint64_t c_tail;	/* == tail */
	uint64_t c_head;		/* cached head, <= head */
	size_t c_off;			/* c_tail % cap */
	uint32_t c_wake_seen;		/* wake counter last reported to wait_data */

	/* Rarely written: only when a side goes to sleep, and by wake(). */
	alignas(LDQ_RING_CACHELINE) _Atomic uint64_t data_waiters;	/* bytes the sleeping consumer wants */
	_Atomic uint64_t space_waiters;	/* bytes the sleeping producer wants */
	_Atomic uint32_t wake_seq;	/* bumped by ldq_ring_wake() */
	int heavy_fence;		/* membarrier() is available: see ldq_ring_waiter_() */

	/* Statistics (tests): FUTEX_WAKEs the notifiers made, and the heavy
	 * fences of each side's waits; each written by one side only, read
	 * once the threads are joined. */
	alignas(LDQ_RING_CACHELINE) uint64_t p_wakes, p_fences;
	alignas(LDQ_RING_CACHELINE) uint64_t c_wakes, c_fences;
};

/* Out-of-line halves of the inline functions below (ring.c). */
void ldq_ring_notify_data_(struct ldq_ring *r, uint64_t want);
void ldq_ring_notify_space_(struct ldq_ring *r, uint64_t want);
void ldq_ring_high_water_(struct ldq_ring *r);
void ldq_ring_overhang_in_(struct ldq_ring *r, size_t n);
void ldq_ring_overhang_out_(struct ldq_ring *r, size_t n);

/*
 * Create a ring of @capacity bytes rounded up to the page size.  Returns 0
 * or -errno (-EINVAL for 0 or absurd sizes, -ENOMEM).  Free with
 * ldq_ring_free().  The storage is page-aligned.
 */
int ldq_ring_new(size_t capacity, struct ldq_ring **out);
/*
 * The same, for a use that will pass at most @fill bytes through the ring
 * (0: unknown, as ldq_ring_new()): only the storage those bytes can reach
 * is populated at creation; the rest is faulted in if it is ever used.
 */
int ldq_ring_new_fill(size_t capacity, size_t fill, struct ldq_ring **out);
void ldq_ring_free(struct ldq_ring *r);
size_t ldq_ring_capacity(const struct ldq_ring *r);

/*
 * The notifier's half of the wait protocol (N2 and N3 at the top of
 * ring.c), after the caller has published its index: the bytes the other
 * side sleeps waiting for, or 0.  The caller compares them with an upper
 * bound of the fill (free space) it has at hand, from its cached copy of
 * the other index, and only if that bound reaches them calls the slow
 * path, which reads the other index to see whether the wake is due (N4).
 */
static inline uint64_t ldq_ring_waiter_(const struct ldq_ring *r, _Atomic uint64_t *waiters)
{
	/* N2: the light half of an asymmetric fence; the heavy half is the
	 * waiter's membarrier() between W1 and W3.  Together they order N1
	 * before N3 as a full fence would, for nothing on this side. */
	if (r->heavy_fence)
		atomic_signal_fence(memory_order_seq_cst);
	else
		atomic_thread_fence(memory_order_seq_cst);
	/* N3: pairs with W1. */
	return atomic_load_explicit(waiters, memory_order_relaxed);
}

/*
 * Producer.  ldq_ring_reserve() returns a pointer to @n contiguous writable
 * bytes, or NULL if fewer than @n are free now (or @n is 0 or more than the
 * capacity).  The region becomes readable at ldq_ring_commit(@n) (n <= the
 * reserved size; a store-release); a reservation may be committed in parts.
 * Reserve may be called again without commit: the latest reservation wins.
 * Reserve reads the consumer's index only when its cached copy says there
 * is not enough space.  Commit copies the part of the region that lies past
 * the end of the storage (if any) to its start.
 */
static inline void *ldq_ring_reserve(struct ldq_ring *r, size_t n)
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
	/* No store unless needed: see ldq_ring_overhang_in_(). */
	if (r->p_carry)
		r->p_carry = 0;
	return r->base + r->p_off;
}

static inline void ldq_ring_commit(struct ldq_ring *r, size_t n)
{
	uint64_t want;

	assert(n <= r->p_reserved);
	if (!n)
		return;
	/* Also a commit that ends exactly at the end of the storage: the rest
	 * of its reservation, if any, is in the overhang (p_carry). */
	if (r->p_off + n >= r->cap || r->p_carry)
		ldq_ring_overhang_in_(r, n);
	r->p_reserved -= n;
	r->p_head += n;
	r->p_off += n;
	if (r->p_off >= r->cap)
		r->p_off -= r->cap;
	/* N1.  Pairs with the load-acquire of head in the consumer's peeks and
	 * waits: the bytes written are visible before the index. */
	atomic_store_explicit(&r->head, r->p_head, memory_order_release);
	/* The cached tail gives an upper bound of the fill: only when that
	 * bound is above the mark by more than the slack, or could be the
	 * whole ring, is the real tail read.  Without the slack a consumer
	 * that keeps up would make every commit read it (a cache miss). */
	if (r->p_head - r->p_tail > r->p_high + r->p_hw_slack ||
	    (r->p_head - r->p_tail >= r->cap && r->p_high < r->cap))
		ldq_ring_high_water_(r);
	want = ldq_ring_waiter_(r, &r->data_waiters);
	/* Below its wish the waiter would only re-check and sleep again. */
	if (want && r->p_head - r->p_tail >= want)
		ldq_ring_notify_data_(r, want);
}

/*
 * Consumer.  ldq_ring_peek() returns a pointer to what is readable up to
 * the end of the storage, as one region, and stores its length in @avail
 * (0: empty, the pointer is still valid; when it is less than all that is
 * readable, the rest follows at the next peek, from the start of the
 * storage).  It reads the producer's index every time.
 * ldq_ring_readable() is all that was readable at that peek, end or no end.
 * ldq_ring_peek_n() returns a pointer to @n readable bytes as one region,
 * across the end of the storage too, or NULL if fewer are readable (or @n
 * is 0 or more than the capacity); like reserve, it reads the producer's
 * index only when its cached copy says there are fewer than @n: the call
 * for a consumer that takes one item at a time.
 * ldq_ring_release(@n) hands @n bytes back to the producer (n <= what is
 * readable as of the last peek).
 */
static inline const void *ldq_ring_peek(struct ldq_ring *r, size_t *avail)
{
	size_t n;

	/* Pairs with the store-release of head in ldq_ring_commit(): the
	 * bytes below head are written before we read them. */
	r->c_head = atomic_load_explicit(&r->head, memory_order_acquire);
	n = (size_t)(r->c_head - r->c_tail);
	*avail = n < r->cap - r->c_off ? n : r->cap - r->c_off;
	return r->base + r->c_off;
}

static inline size_t ldq_ring_readable(const struct ldq_ring *r)
{
	return (size_t)(r->c_head - r->c_tail);
}

static inline const void *ldq_ring_peek_n(struct ldq_ring *r, size_t n)
{
	if (!n || n > r->cap)
		return NULL;
	if (r->c_head - r->c_tail < n) {
		/* As in ldq_ring_peek(). */
		r->c_head = atomic_load_explicit(&r->head, memory_order_acquire);
		if (r->c_head - r->c_tail < n)
			return NULL;
	}
	if (r->c_off + n > r->cap)
		ldq_ring_overhang_out_(r, n);
	return r->base + r->c_off;
}

static inline void ldq_ring_release(struct ldq_ring *r, size_t n)
{
	uint64_t want;

	assert(n <= r->c_head - r->c_tail);
	if (!n)
		return;
	r->c_tail += n;
	r->c_off += n;
	if (r->c_off >= r->cap)
		r->c_off -= r->cap;
	/* N1.  Pairs with the load-acquire of tail in ldq_ring_reserve(),
	 * the high-water update and the producer's waits: our reads of the
	 * region are done before the producer may overwrite it. */
	atomic_store_explicit(&r->tail, r->c_tail, memory_order_release);
	want = ldq_ring_waiter_(r, &r->space_waiters);
	if (want && r->cap - (r->c_head - r->c_tail) >= want)
		ldq_ring_notify_space_(r, want);
}

/*
 * Wait until @n bytes are free (producer) or readable (consumer), at most
 * @timeout_ns (< 0: no limit, 0: just check).  Returns 0 when the condition
 * holds (checked first), -EINVAL if @n > capacity, -ETIMEDOUT, or -EINTR
 * when ldq_ring_wake() was called.  Each side is told of each wake once:
 * a wake that happens while the side is not waiting makes its next wait
 * that cannot return 0 at once return -EINTR, so a wake that comes between
 * the caller's check of its stop flag and the wait is not lost.  After
 * -EINTR, what the waking thread did before ldq_ring_wake() is visible.
 */
int ldq_ring_wait_space(struct ldq_ring *r, size_t n, int64_t timeout_ns);
int ldq_ring_wait_data(struct ldq_ring *r, size_t n, int64_t timeout_ns);

/* Any thread: wake both sides' waits (they return -EINTR, see above). */
void ldq_ring_wake(struct ldq_ring *r);

/* Any thread: bytes in the ring now, and the most seen at a commit: never
 * more than the largest fill, at most capacity / 64 less, and the capacity
 * once the ring was full. */
size_t ldq_ring_fill(const struct ldq_ring *r);
size_t ldq_ring_high_water(const struct ldq_ring *r);

/* Total bytes ever committed / released (monotonic).  Any thread. */
uint64_t ldq_ring_committed(const struct ldq_ring *r);
uint64_t ldq_ring_released(const struct ldq_ring *r);

/*
 * Producer, reserve ahead: for a device that fills several frames at once
 * and hands them back in order (V4L2 USERPTR buffers), so that each lands
 * in the ring where it will be committed.  Returns a pointer to @n
 * contiguous writable bytes that start @ahead bytes past the committed
 * position, or NULL if fewer than @ahead + @n bytes are free now (or @n is
 * 0, or @ahead + @n is more than the capacity).  A region that crosses the
 * end of the storage lies partly in the overhang, contiguous in memory.
 * The bytes stay free space, so the consumer never reads them, until the
 * committed position reaches them: then ldq_ring_reserve(@n) returns the
 * same pointer and ldq_ring_commit(@n) publishes the region (copying its
 * part in the overhang, if any, to the start).  Several regions may be
 * outstanding, the device may fill them in any order; they are committed
 * in order, each whole (a reservation committed in parts is not one to
 * reserve ahead of).  Reads the consumer's index only when the cached copy
 * says there is not enough space; changes nothing else.  Producer thread
 * only; wait-free.
 */
void *ldq_ring_reserve_ahead(struct ldq_ring *r, size_t ahead, size_t n);

#endif
