/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gaps.h - a run's list of gaps: the items missing from its file (dropped
 * on a full ring, lost by the device, discarded by an abort or a failed
 * write), as [index, index + count) ranges of acquisition indexes.
 *
 * The ldq_gaplist_* functions are plain data structure code (no locks, no
 * atomics); the ldq_run_* ones apply them to a run under its lock.  Not
 * installed.
 */
#ifndef LDQ_GAPS_H
#define LDQ_GAPS_H

#include <stddef.h>
#include <stdint.h>

#include "sidecar.h"

struct ldq_gaplist {
	struct ldq_gap *v;
	size_t n;
	size_t cap;
};

/* Append [index, index + count), merged into the last gap when it ends at
 * @index.  0, or -ENOMEM: then the items are merged into the last gap (if
 * any) so that the count still holds. */
int ldq_gaplist_add(struct ldq_gaplist *g, uint64_t index, uint64_t count);
/* Sort by index and merge adjacent gaps. */
void ldq_gaplist_sort(struct ldq_gaplist *g);
/* The acquisition index of the item @kept of the file: @kept plus the
 * items missing before it. */
uint64_t ldq_gaplist_index_of(const struct ldq_gaplist *g, uint64_t kept);
/* From acquisition index @idx, the first index not inside a gap, and in
 * *@room how many items follow it before the next gap (UINT64_MAX: none). */
uint64_t ldq_gaplist_next_free(const struct ldq_gaplist *g, uint64_t idx, uint64_t *room);
/* Copy @src into @dst (grown to src's capacity when it can be; on -ENOMEM
 * the first dst->cap gaps are copied).  Returns the number copied. */
size_t ldq_gaplist_copy(struct ldq_gaplist *dst, const struct ldq_gaplist *src);
void ldq_gaplist_free(struct ldq_gaplist *g);

struct labdaq_run;
struct ldq_meta;

/* Producer (or the writer once the producer ended): items [index, index +
 * count) are missing; counted as dropped. */
void ldq_run_add_gap(struct labdaq_run *run, uint64_t index, uint64_t count);
/*
 * After an abort or a failure: the @count items that followed the first
 * @kept items of the file were discarded.  Record them as gaps at their
 * acquisition indexes, so that the gaps account for every dropped item,
 * and leave the list sorted and merged.  The producer has ended.
 */
void ldq_run_add_tail_gaps(struct labdaq_run *run, uint64_t kept, uint64_t count);
/* The writer's copy of the gaps and of the error into @m, so that the
 * producer never waits for the fsyncs of the sidecar's replacement. */
void ldq_run_copy_for_checkpoint(struct labdaq_run *run, struct ldq_meta *m);

#endif
