/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_gaps.c - a run's gaps in NAME.gaps.npy (lib/gaps.c): adjacent gaps
 * merged, the file exactly the gaps recorded (byte for byte, header
 * included) at checkpoints and at the end, memory bounded by the batch
 * whatever the number of gaps, a producer that outruns the writer waiting
 * instead of losing a gap, and an abort's tail against a brute-force model.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
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

#include "gaps.h"
#include "npy.h"
#include "run.h"

struct fixture {
	char dir[64];
	char path[128];
	struct labdaq_run run;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/labdaq-test-gaps.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/run.npy", fx->dir);
	pthread_mutex_init(&fx->run.lock, NULL);
	fx->run.fd = -1;
	assert_int_equal(ldq_gapstore_init(&fx->run.gaps, fx->path), 0);
	assert_int_equal(ldq_gaps_create(&fx->run.gaps), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	ldq_gapstore_free(&fx->run.gaps);
	pthread_mutex_destroy(&fx->run.lock);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

/* The gaps' file as rows; checks its header (4096 bytes, <u8, (rows, 2)). */
static uint64_t *read_gaps(struct fixture *fx, uint64_t *rows)
{
	char path[160];
	struct ldq_npy_layout l;
	size_t hlen;
	uint64_t *v;
	off_t size;
	int fd;

	snprintf(path, sizeof(path), "%s/run.gaps.npy", fx->dir);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_read_header(fd, &l, rows, &hlen), 0);
	assert_int_equal(hlen, LDQ_NPY_HEADER_BYTES);
	assert_string_equal(l.descr, "<u8");
	assert_int_equal(l.ndim, 1);
	assert_int_equal(l.dims[0], 2);
	size = lseek(fd, 0, SEEK_END);
	assert_true((uint64_t)size >= hlen + *rows * 16);
	v = malloc(*rows * 16 + 16);
	assert_non_null(v);
	assert_int_equal(pread(fd, v, *rows * 16, (off_t)hlen), (ssize_t)(*rows * 16));
	for (uint64_t i = 0; i < 2 * *rows; i++)
		v[i] = le64toh(v[i]);
	close(fd);
	return v;
}

static struct stat file_stat(struct fixture *fx)
{
	char path[160];
	struct stat st;

	snprintf(path, sizeof(path), "%s/run.gaps.npy", fx->dir);
	assert_int_equal(stat(path, &st), 0);
	return st;
}

static off_t file_size(struct fixture *fx)
{
	return file_stat(fx).st_size;
}

static blkcnt_t file_blocks(struct fixture *fx)
{
	return file_stat(fx).st_blocks;
}

static void checkpoint(struct fixture *fx, struct ldq_meta *m)
{
	memset(m, 0, sizeof(*m));
	assert_int_equal(ldq_run_copy_for_checkpoint(&fx->run, m), 0);
}

static void test_merge_and_file(void **state)
{
	struct fixture *fx = *state;
	static const uint64_t want[][2] = { { 3, 5 }, { 10, 1 }, { 1ull << 40, 7 } };
	struct ldq_meta m;
	uint64_t rows, *v;

	checkpoint(fx, &m);
	assert_int_equal(m.ngaps, 0);
	assert_string_equal(m.gaps_file, "run.gaps.npy");
	v = read_gaps(fx, &rows);
	assert_int_equal(rows, 0);
	free(v);
	assert_int_equal(file_size(fx), 4097); /* numpy's mmap needs a byte */
	ldq_run_add_gap(&fx->run, 3, 2);
	ldq_run_add_gap(&fx->run, 5, 3); /* continues the first: merged */
	ldq_run_add_gap(&fx->run, 10, 1);
	checkpoint(fx, &m);
	assert_int_equal(m.ngaps, 2);
	assert_string_equal(m.gaps_file, "run.gaps.npy");
	v = read_gaps(fx, &rows);
	assert_int_equal(rows, 2);
	assert_memory_equal(v, want, 2 * 16);
	free(v);
	/* The open gap at the last checkpoint grows: its row is rewritten. */
	ldq_run_add_gap(&fx->run, 11, 0);
	ldq_run_add_gap(&fx->run, 1ull << 40, 7);
	checkpoint(fx, &m);
	assert_int_equal(m.ngaps, 3);
	assert_int_equal(atomic_load(&fx->run.dropped), 13);
	v = read_gaps(fx, &rows);
	assert_int_equal(rows, 3);
	assert_memory_equal(v, want, sizeof(want));
	free(v);
	/* The end releases what was reserved beyond the rows. */
	ldq_gaps_close(&fx->run.gaps);
	assert_int_equal(file_size(fx), 4096 + 3 * 16);
	assert_true(file_blocks(fx) * 512 < 4096 + 3 * 16 + 64 * 1024);
}

/* Alternating drops: memory stays two batches whatever their number. */
static void test_many_gaps_bounded(void **state)
{
	struct fixture *fx = *state;
	const uint64_t n = 20 * LDQ_GAP_BATCH + 123;
	struct ldq_meta m;
	uint64_t rows, *v;

	for (uint64_t i = 0; i < n; i++) {
		ldq_run_add_gap(&fx->run, 2 * i, 1);
		assert_true(fx->run.gaps.nbatch <= LDQ_GAP_BATCH);
		if (i % 1000 == 0)
			ldq_gaps_flush(&fx->run, 0);
	}
	checkpoint(fx, &m);
	assert_int_equal(m.ngaps, n);
	v = read_gaps(fx, &rows);
	assert_int_equal(rows, n);
	for (uint64_t i = 0; i < n; i++)
		if (v[2 * i] != 2 * i || v[2 * i + 1] != 1)
			fail_msg("row %llu is (%llu, %llu)", (unsigned long long)i,
				 (unsigned long long)v[2 * i], (unsigned long long)v[2 * i + 1]);
	free(v);
}

static void *slow_writer(void *arg)
{
	struct fixture *fx = arg;

	for (int i = 0; i < 40; i++) {
		usleep(2000);
		ldq_gaps_flush(&fx->run, 0);
	}
	return NULL;
}

/* A producer faster than the writer waits for it: no gap is lost. */
static void test_full_batch_waits(void **state)
{
	struct fixture *fx = *state;
	const uint64_t n = 3 * LDQ_GAP_BATCH;
	struct ldq_meta m;
	uint64_t rows, *v;
	pthread_t t;

	assert_int_equal(pthread_create(&t, NULL, slow_writer, fx), 0);
	for (uint64_t i = 0; i < n; i++)
		ldq_run_add_gap(&fx->run, 3 * i, 2);
	pthread_join(t, NULL);
	checkpoint(fx, &m);
	v = read_gaps(fx, &rows);
	assert_int_equal(rows, n);
	for (uint64_t i = 0; i < n; i++)
		assert_true(v[2 * i] == 3 * i && v[2 * i + 1] == 2);
	free(v);
}

/* The model: @miss[i] for i < @end; the last @count kept items become
 * missing; the merged ranges into @out. */
static size_t model_tail(unsigned char *miss, uint64_t end, uint64_t count, uint64_t (*out)[2])
{
	size_t n = 0;

	for (uint64_t i = end; count && i-- > 0;)
		if (!miss[i]) {
			miss[i] = 1;
			count--;
		}
	for (uint64_t i = 0; i < end; i++) {
		if (!miss[i])
			continue;
		if (n && out[n - 1][0] + out[n - 1][1] == i) {
			out[n - 1][1]++;
		} else {
			out[n][0] = i;
			out[n][1] = 1;
			n++;
		}
	}
	return n;
}

/* An abort's tail against the model, for random gaps and tails. */
static void test_tail_model(void **state)
{
	struct fixture *fx = *state;
	enum { END = 3000 };
	static unsigned char miss[END];
	static uint64_t want[END][2];
	struct ldq_meta m;
	uint64_t rows, *v;

	srand(7);
	for (int round = 0; round < 60; round++) {
		uint64_t kept = 0, count, i = 0;
		size_t nwant;

		ldq_gapstore_free(&fx->run.gaps);
		assert_int_equal(ldq_gapstore_init(&fx->run.gaps, fx->path), 0);
		unlink(fx->run.gaps.path); /* the last round's: created O_EXCL */
		assert_int_equal(ldq_gaps_create(&fx->run.gaps), 0);
		atomic_store(&fx->run.dropped, 0);
		memset(miss, 0, sizeof(miss));
		while (i < END) {
			uint64_t run_len = 1 + (uint64_t)rand() % (round % 3 ? 3 : 40);

			if (i + run_len > END)
				run_len = END - i;
			if (rand() % 2) {
				ldq_run_add_gap(&fx->run, i, run_len);
				memset(miss + i, 1, run_len);
			} else {
				kept += run_len;
			}
			i += run_len;
			if (rand() % 50 == 0)
				ldq_gaps_flush(&fx->run, 1);
		}
		count = kept ? (uint64_t)rand() % (kept + 1) : 0;
		atomic_store(&fx->run.acquired, END);
		ldq_run_add_tail_gaps(&fx->run, kept - count, count);
		nwant = model_tail(miss, END, count, want);
		checkpoint(fx, &m);
		assert_int_equal(m.ngaps, nwant);
		v = read_gaps(fx, &rows);
		assert_int_equal(rows, nwant);
		if (memcmp(v, want, nwant * 16))
			fail_msg("round %d: the gaps after a tail of %llu differ from the model", round,
				 (unsigned long long)count);
		free(v);
		assert_int_equal(atomic_load(&fx->run.dropped),
				 END - (kept - count));
	}
}

/* The names beside a data file: ".npy" replaced, else the suffix added. */
static void test_path_beside(void **state)
{
	static const char *const cases[][3] = {
		{ "run.npy", ".gaps.npy", "run.gaps.npy" },
		{ "d/cam.npy", ".frames.npy", "d/cam.frames.npy" },
		{ "raw", ".gaps.npy", "raw.gaps.npy" },
		{ ".npy", ".frames.npy", ".frames.npy" },
		{ "a.npy.npy", ".gaps.npy", "a.npy.gaps.npy" },
	};
	char *p;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		p = ldq_path_beside(cases[i][0], cases[i][1]);
		assert_non_null(p);
		assert_string_equal(p, cases[i][2]);
		free(p);
	}
	p = ldq_gaps_path("x.npy");
	assert_string_equal(p, "x.gaps.npy");
	free(p);
	assert_null(ldq_path_beside(NULL, ".gaps.npy"));
	assert_null(ldq_path_beside("x.npy", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_path_beside),
		cmocka_unit_test_setup_teardown(test_merge_and_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_gaps_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_batch_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tail_model, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
