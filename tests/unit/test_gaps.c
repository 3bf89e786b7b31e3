/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_gaps.c - the gap list (lib/gaps.c): appending and merging, sorting,
 * mapping file items to acquisition indexes, free room between gaps, the
 * checkpoint copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "gaps.h"

static void assert_gap(const struct ldq_gaplist *g, size_t i, uint64_t index, uint64_t count)
{
	assert_true(i < g->n);
	assert_int_equal(g->v[i].index, index);
	assert_int_equal(g->v[i].count, count);
}

static void test_add_merges_adjacent(void **state)
{
	struct ldq_gaplist g = { 0 };

	(void)state;
	assert_int_equal(ldq_gaplist_add(&g, 10, 5), 0);
	assert_int_equal(ldq_gaplist_add(&g, 15, 3), 0); /* follows: merged */
	assert_int_equal(ldq_gaplist_add(&g, 20, 1), 0); /* apart: new */
	assert_int_equal(g.n, 2);
	assert_gap(&g, 0, 10, 8);
	assert_gap(&g, 1, 20, 1);
	/* It grows as needed. */
	for (uint64_t i = 0; i < 100; i++)
		assert_int_equal(ldq_gaplist_add(&g, 100 + 2 * i, 1), 0);
	assert_int_equal(g.n, 102);
	assert_true(g.cap >= 102);
	ldq_gaplist_free(&g);
	assert_int_equal(g.n, 0);
}

static void test_sort_merges(void **state)
{
	struct ldq_gaplist g = { 0 };

	(void)state;
	ldq_gaplist_add(&g, 50, 10);
	ldq_gaplist_add(&g, 10, 5);
	ldq_gaplist_add(&g, 15, 5); /* merged on add with 10+5 */
	ldq_gaplist_add(&g, 60, 2); /* merged on add with 50+10 */
	ldq_gaplist_add(&g, 20, 30); /* fills 20..50: merged by the sort */
	ldq_gaplist_sort(&g);
	assert_int_equal(g.n, 1);
	assert_gap(&g, 0, 10, 52);
	ldq_gaplist_free(&g);
	ldq_gaplist_sort(&g); /* empty: nothing */
	assert_int_equal(g.n, 0);
}

static void test_index_of_and_next_free(void **state)
{
	struct ldq_gaplist g = { 0 };
	uint64_t room;

	(void)state;
	/* acquired 0..9 kept, 10..14 missing, 15..19 kept, 20..29 missing */
	ldq_gaplist_add(&g, 10, 5);
	ldq_gaplist_add(&g, 20, 10);
	assert_int_equal(ldq_gaplist_index_of(&g, 0), 0);
	assert_int_equal(ldq_gaplist_index_of(&g, 9), 9);
	assert_int_equal(ldq_gaplist_index_of(&g, 10), 15);
	assert_int_equal(ldq_gaplist_index_of(&g, 14), 19);
	assert_int_equal(ldq_gaplist_index_of(&g, 15), 30);
	/* from inside a gap to its end; room up to the next one */
	assert_int_equal(ldq_gaplist_next_free(&g, 12, &room), 15);
	assert_int_equal(room, 5);
	assert_int_equal(ldq_gaplist_next_free(&g, 3, &room), 3);
	assert_int_equal(room, 7);
	assert_int_equal(ldq_gaplist_next_free(&g, 25, &room), 30);
	assert_int_equal(room, UINT64_MAX);
	ldq_gaplist_free(&g);
}

static void test_copy(void **state)
{
	struct ldq_gaplist g = { 0 }, c = { 0 };

	(void)state;
	for (uint64_t i = 0; i < 40; i++)
		ldq_gaplist_add(&g, 3 * i, 1);
	assert_int_equal(ldq_gaplist_copy(&c, &g), 40);
	assert_int_equal(c.cap, g.cap);
	assert_gap(&c, 39, 117, 1);
	ldq_gaplist_add(&g, 1000, 7);
	assert_int_equal(ldq_gaplist_copy(&c, &g), 41);
	assert_gap(&c, 40, 1000, 7);
	ldq_gaplist_free(&g);
	ldq_gaplist_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_merges_adjacent),
		cmocka_unit_test(test_sort_merges),
		cmocka_unit_test(test_index_of_and_next_free),
		cmocka_unit_test(test_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
