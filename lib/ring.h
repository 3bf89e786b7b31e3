/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ring.h - a bounded, lock-free single-producer single-consumer byte ring.
 *
 * The storage is mapped twice, back to back, so any region of up to the
 * capacity that starts inside the ring is contiguous in memory: a producer
 * reserves a whole frame and fills it in place; the consumer peeks all that
 * is readable as one region.  Nothing is copied at the wrap.
 *
 * Exactly one producer thread and one consumer thread; every other thread
 * may only call ldq_ring_fill(), ldq_ring_high_water() and ldq_ring_wake().
 * reserve/commit/peek/release are wait-free; the wait functions spin
 * briefly, then sleep on a futex.
 */
#ifndef LDQ_RING_H
#define LDQ_RING_H

#include <stddef.h>
#include <stdint.h>

struct ldq_ring;

/*
 * Create a ring of @capacity bytes rounded up to the page size.  Returns 0
 * or -errno (-EINVAL for 0 or absurd sizes, -ENOMEM).  Free with
 * ldq_ring_free().  The storage is page-aligned.
 */
int ldq_ring_new(size_t capacity, struct ldq_ring **out);
void ldq_ring_free(struct ldq_ring *r);
size_t ldq_ring_capacity(const struct ldq_ring *r);

/*
 * Producer.  ldq_ring_reserve() returns a pointer to @n contiguous writable
 * bytes, or NULL if fewer than @n are free now (or @n > capacity).  The
 * region becomes readable at ldq_ring_commit(@n) (n <= the reserved size;
 * a store-release).  Reserve may be called again without commit: the latest
 * reservation wins.
 */
void *ldq_ring_reserve(struct ldq_ring *r, size_t n);
void ldq_ring_commit(struct ldq_ring *r, size_t n);

/*
 * Consumer.  ldq_ring_peek() returns a pointer to every readable byte as one
 * region and stores its length in @avail (0: empty, the pointer is still
 * valid).  ldq_ring_release(@n) hands @n bytes back to the producer.
 */
const void *ldq_ring_peek(struct ldq_ring *r, size_t *avail);
void ldq_ring_release(struct ldq_ring *r, size_t n);

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

/* Any thread: bytes in the ring now, and the most ever seen at a commit. */
size_t ldq_ring_fill(const struct ldq_ring *r);
size_t ldq_ring_high_water(const struct ldq_ring *r);

/* Total bytes ever committed / released (monotonic).  Any thread. */
uint64_t ldq_ring_committed(const struct ldq_ring *r);
uint64_t ldq_ring_released(const struct ldq_ring *r);

#endif
