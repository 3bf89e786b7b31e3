/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_outfile.c - a run's output files (lib/outfile.c): refused when they
 * exist, set aside with overwrite, kept after a start that succeeds, put
 * back after one that fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "outfile.h"

static char dir[] = "/tmp/labdaq-outfile.XXXXXX";
static char p_data[64], p_side[64];
static const char *paths[2] = { p_data, p_side };

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* The file's text, or "-" if it does not exist. */
static const char *text_of(const char *path)
{
	static char buf[128];
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return "-";
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* Entries in dir (the set-aside copies included). */
static int entries(void)
{
	char cmd[128];
	FILE *p;
	int n = -1;

	snprintf(cmd, sizeof(cmd), "ls -A %s | wc -l", dir);
	p = popen(cmd, "r");
	assert_non_null(p);
	assert_int_equal(fscanf(p, "%d", &n), 1);
	pclose(p);
	return n;
}

static int setup(void **state)
{
	(void)state;
	snprintf(p_data, sizeof(p_data), "%s/run.npy", dir);
	snprintf(p_side, sizeof(p_side), "%s/run.json", dir);
	unlink(p_data);
	unlink(p_side);
	return 0;
}

static void test_refuses_existing(void **state)
{
	struct ldq_outfile of;

	(void)state;
	put(p_data, "old data");
	assert_int_equal(ldq_outfile_create(&of, paths, 2, 0), -EEXIST);
	ldq_outfile_undo(&of);
	assert_string_equal(text_of(p_data), "old data");
	unlink(p_data);
	put(p_side, "old side");
	assert_int_equal(ldq_outfile_create(&of, paths, 2, 0), -EEXIST);
	ldq_outfile_undo(&of);
	assert_string_equal(text_of(p_side), "old side");
	assert_int_equal(entries(), 1);
}

static void test_create_and_keep(void **state)
{
	struct ldq_outfile of;
	int fd;

	(void)state;
	fd = ldq_outfile_create(&of, paths, 2, 0);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "new", 3), 3);
	close(fd);
	ldq_outfile_keep(&of);
	assert_string_equal(text_of(p_data), "new");
	assert_int_equal(entries(), 1);
}

static void test_overwrite_keep_drops_old(void **state)
{
	struct ldq_outfile of;
	int fd;

	(void)state;
	put(p_data, "old data");
	put(p_side, "old side");
	fd = ldq_outfile_create(&of, paths, 2, 1);
	assert_true(fd >= 0);
	/* The old ones are aside, not gone, until the start is decided. */
	assert_string_equal(text_of(p_data), "");
	assert_string_equal(text_of(p_side), "-");
	assert_int_equal(entries(), 3);
	put(p_side, "new side");
	close(fd);
	ldq_outfile_keep(&of);
	assert_string_equal(text_of(p_side), "new side");
	assert_int_equal(entries(), 2);
}

static void test_overwrite_undo_restores(void **state)
{
	struct ldq_outfile of;
	int fd;

	(void)state;
	put(p_data, "old data");
	put(p_side, "old side");
	fd = ldq_outfile_create(&of, paths, 2, 1);
	assert_true(fd >= 0);
	put(p_side, "new side"); /* written beside it, then the start fails */
	close(fd);
	ldq_outfile_undo(&of);
	assert_string_equal(text_of(p_data), "old data");
	assert_string_equal(text_of(p_side), "old side");
	assert_int_equal(entries(), 2);
	/* Only a data file (a sweep's CSV): the same. */
	fd = ldq_outfile_create(&of, paths, 1, 1);
	assert_true(fd >= 0);
	close(fd);
	ldq_outfile_undo(&of);
	assert_string_equal(text_of(p_data), "old data");
	assert_int_equal(entries(), 2);
}

static void test_undo_when_nothing_created(void **state)
{
	struct ldq_outfile of;

	(void)state;
	/* A missing directory: nothing created, nothing to remove. */
	paths[0] = "/nonexistent-labdaq/run.npy";
	assert_int_equal(ldq_outfile_create(&of, paths, 1, 1), -ENOENT);
	ldq_outfile_undo(&of);
	paths[0] = p_data;
	assert_int_equal(ldq_outfile_create(&of, paths, 0, 0), -EINVAL);
	ldq_outfile_undo(&of);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_refuses_existing, setup),
		cmocka_unit_test_setup(test_create_and_keep, setup),
		cmocka_unit_test_setup(test_overwrite_keep_drops_old, setup),
		cmocka_unit_test_setup(test_overwrite_undo_restores, setup),
		cmocka_unit_test_setup(test_undo_when_nothing_created, setup),
	};
	int ret;

	if (!mkdtemp(dir))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(dir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
	return ret;
}
