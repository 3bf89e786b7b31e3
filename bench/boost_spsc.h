/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * boost_spsc.h - the C interface of boost_spsc.cpp: Boost's
 * lockfree::spsc_queue of 64-bit items, whole trial loops per side.
 */
#ifndef LDQ_BENCH_BOOST_SPSC_H
#define LDQ_BENCH_BOOST_SPSC_H

#include <stdint.h>

#define BOOST_SPSC_ITEMS 8192u
#define BOOST_SPSC_MAX_BATCH 4096u

#ifdef __cplusplus
extern "C" {
#endif

struct boost_spsc;

struct boost_spsc *boost_spsc_new(void);
void boost_spsc_free(struct boost_spsc *q);
/* Push the numbers 0 .. n-1, one per push (batch <= 1) or batch at once. */
void boost_spsc_produce(struct boost_spsc *q, uint64_t n, unsigned int batch);
/* Pop n items, checking they are 0 .. n-1; returns how many were wrong and
 * stores the index of the first wrong one in *first_bad. */
uint64_t boost_spsc_consume(struct boost_spsc *q, uint64_t n, unsigned int batch,
			    uint64_t *first_bad);

#ifdef __cplusplus
}
#endif

#endif
