// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * boost_spsc.cpp - Boost's lockfree::spsc_queue as a contender of
 * ring_small.c, behind a C interface.
 *
 * ring.h is C11 (<stdatomic.h>), Boost is C++: the two cannot share a
 * translation unit.  So that Boost's push and pop are inlined in its loop as
 * labdaq's are in theirs, the whole per-item loop of each side is here, and
 * ring_small.c calls it once per trial.  The queue's capacity is a
 * compile-time constant (boost::lockfree::capacity<>: the storage is inside
 * the object, the variant Boost documents as the faster one).  It holds
 * 8191 items (one slot stays empty), labdaq's and ck_ring's queues 8192.
 *
 * Waits as the other lock-free contenders: call again after a pause.
 */
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <new>

#include "boost_spsc.h"

namespace {

typedef boost::lockfree::spsc_queue<uint64_t, boost::lockfree::capacity<BOOST_SPSC_ITEMS> >
	queue;

inline void relax()
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

} // namespace

extern "C" {

struct boost_spsc *boost_spsc_new(void)
{
	return reinterpret_cast<struct boost_spsc *>(new (std::nothrow) queue());
}

void boost_spsc_free(struct boost_spsc *q)
{
	delete reinterpret_cast<queue *>(q);
}

void boost_spsc_produce(struct boost_spsc *bq, uint64_t n, unsigned int batch)
{
	queue *q = reinterpret_cast<queue *>(bq);
	uint64_t buf[BOOST_SPSC_MAX_BATCH];

	if (batch <= 1) {
		for (uint64_t i = 0; i < n; i++)
			while (!q->push(i))
				relax();
		return;
	}
	// push(array, count) pushes as many as fit and returns how many.
	for (uint64_t i = 0; i < n;) {
		uint64_t b = n - i < batch ? n - i : batch;
		size_t done;

		for (uint64_t k = 0; k < b; k++)
			buf[k] = i + k;
		while (!(done = q->push(buf, b)))
			relax();
		i += done;
	}
}

uint64_t boost_spsc_consume(struct boost_spsc *bq, uint64_t n, unsigned int batch,
			    uint64_t *first_bad)
{
	queue *q = reinterpret_cast<queue *>(bq);
	uint64_t buf[BOOST_SPSC_MAX_BATCH];
	uint64_t next = 0, bad = 0;

	if (batch <= 1) {
		while (next < n) {
			uint64_t v;

			if (!q->pop(v)) {
				relax();
				continue;
			}
			if (v != next && !bad++)
				*first_bad = next;
			next++;
		}
		return bad;
	}
	while (next < n) {
		size_t got = q->pop(buf, batch);

		if (!got) {
			relax();
			continue;
		}
		for (size_t k = 0; k < got; k++, next++)
			if (buf[k] != next && !bad++)
				*first_bad = next;
	}
	return bad;
}

} // extern "C"
