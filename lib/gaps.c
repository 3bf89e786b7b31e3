/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gaps.c - the gap list of a run (gaps.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gaps.h"
#include "run.h"

int ldq_gaplist_add(struct ldq_gaplist *g, uint64_t index, uint64_t count)
{
	if (g->n && g->v[g->n - 1].index + g->v[g->n - 1].count == index) {
		g->v[g->n - 1].count += count;
		return 0;
	}
	if (g->n == g->cap) {
		size_t cap = g->cap ? g->cap * 2 : 16;
		struct ldq_gap *v = realloc(g->v, cap * sizeof(*v));

		if (!v) {
			/* Keep counting; merge into the last gap. */
			if (g->n)
				g->v[g->n - 1].count += count;
			return -ENOMEM;
		}
		g->v = v;
		g->cap = cap;
	}
	g->v[g->n].index = index;
	g->v[g->n].count = count;
	g->n++;
	return 0;
}

static int gap_cmp(const void *a, const void *b)
{
	const struct ldq_gap *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

void ldq_gaplist_sort(struct ldq_gaplist *g)
{
	size_t i, j;

	if (!g->n)
		return;
	qsort(g->v, g->n, sizeof(*g->v), gap_cmp);
	for (i = 1, j = 0; i < g->n; i++) {
		if (g->v[j].index + g->v[j].count == g->v[i].index)
			g->v[j].count += g->v[i].count;
		else
			g->v[++j] = g->v[i];
	}
	g->n = j + 1;
}

uint64_t ldq_gaplist_index_of(const struct ldq_gaplist *g, uint64_t kept)
{
	uint64_t idx = kept;

	for (size_t i = 0; i < g->n && g->v[i].index <= idx; i++)
		idx += g->v[i].count;
	return idx;
}

uint64_t ldq_gaplist_next_free(const struct ldq_gaplist *g, uint64_t idx, uint64_t *room)
{
	size_t j;

	for (j = 0; j < g->n; j++)
		if (g->v[j].index <= idx && idx < g->v[j].index + g->v[j].count)
			idx = g->v[j].index + g->v[j].count;
	*room = UINT64_MAX;
	for (j = 0; j < g->n; j++)
		if (g->v[j].index > idx && g->v[j].index - idx < *room)
			*room = g->v[j].index - idx;
	return idx;
}

size_t ldq_gaplist_copy(struct ldq_gaplist *dst, const struct ldq_gaplist *src)
{
	if (src->n > dst->cap) {
		struct ldq_gap *v = realloc(dst->v, src->cap * sizeof(*v));

		if (v) {
			dst->v = v;
			dst->cap = src->cap;
		}
	}
	dst->n = src->n <= dst->cap ? src->n : dst->cap;
	if (dst->n)
		memcpy(dst->v, src->v, dst->n * sizeof(*dst->v));
	return dst->n;
}

void ldq_gaplist_free(struct ldq_gaplist *g)
{
	free(g->v);
	memset(g, 0, sizeof(*g));
}

void ldq_run_add_gap(struct labdaq_run *run, uint64_t index, uint64_t count)
{
	pthread_mutex_lock(&run->lock);
	ldq_gaplist_add(&run->gaps, index, count);
	atomic_store_explicit(&run->ngaps_pub, run->gaps.n, memory_order_relaxed);
	pthread_mutex_unlock(&run->lock);
	atomic_fetch_add_explicit(&run->dropped, count, memory_order_relaxed);
}

void ldq_run_add_tail_gaps(struct labdaq_run *run, uint64_t kept, uint64_t count)
{
	uint64_t idx, room;

	pthread_mutex_lock(&run->lock);
	idx = ldq_gaplist_index_of(&run->gaps, kept);
	while (count) {
		uint64_t take;

		idx = ldq_gaplist_next_free(&run->gaps, idx, &room);
		take = count < room ? count : room;
		ldq_gaplist_add(&run->gaps, idx, take);
		atomic_fetch_add_explicit(&run->dropped, take, memory_order_relaxed);
		idx += take;
		count -= take;
	}
	/* Keep them in index order, adjacent ones merged. */
	ldq_gaplist_sort(&run->gaps);
	atomic_store_explicit(&run->ngaps_pub, run->gaps.n, memory_order_relaxed);
	pthread_mutex_unlock(&run->lock);
}

void ldq_run_copy_for_checkpoint(struct labdaq_run *run, struct ldq_meta *m)
{
	pthread_mutex_lock(&run->lock);
	m->ngaps = ldq_gaplist_copy(&run->ckpt_gaps, &run->gaps);
	m->gaps = run->ckpt_gaps.v;
	m->error_code = run->error;
	memcpy(run->ckpt_errmsg, run->errmsg, sizeof(run->errmsg));
	m->error = run->error ? run->ckpt_errmsg : NULL;
	pthread_mutex_unlock(&run->lock);
}
