/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_writer.c - the writer (lib/writer.c): its plan of what to write
 * next, decision by decision (ldq_writer_plan() is a pure function), and
 * the paths it takes on a real file system, observed through the summary
 * it logs at the end of a run: whole pages through O_DIRECT, a partial page
 * through the page cache at the end, partial pages shown at checkpoints,
 * and only buffered writes where O_DIRECT is off.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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

#include "labdaq.h"
#include "writer.h"

#define KiB 1024u
#define MiB (1024u * 1024u)
#define PG 4096u

/* ------------------------------------------------------------------------
 * The plan
 */

/* A writer streaming into a 64 MiB ring, page-aligned so far, nothing due. */
static struct ldq_wplan_in streaming(size_t avail)
{
	struct ldq_wplan_in in = {
		.avail = avail, .readable = avail, .capacity = 64 * MiB,
		.block_bytes = 64 * KiB, .chunk_min = 1 * MiB, .chunk_max = 8 * MiB,
		.written = 40 * PG, .addr = 0x7f0000000000u + 40 * PG,
		.ns_to_checkpoint = 500000000, .direct = 1,
	};

	return in;
}

static void test_chunks(void **state)
{
	size_t lo, hi;

	(void)state;
	ldq_writer_chunks(64 * MiB, &lo, &hi);
	assert_int_equal(lo, WRITE_CHUNK_MIN);
	assert_int_equal(hi, WRITE_CHUNK_MAX);
	/* A small ring: an eighth and a quarter of it, whole pages. */
	ldq_writer_chunks(64 * KiB, &lo, &hi);
	assert_int_equal(lo, 8 * KiB);
	assert_int_equal(hi, 16 * KiB);
	ldq_writer_chunks(100 * KiB, &lo, &hi);
	assert_int_equal(lo, 12 * KiB);
	assert_int_equal(hi, 24 * KiB);
	/* A tiny ring: never less than a page. */
	ldq_writer_chunks(8 * KiB, &lo, &hi);
	assert_int_equal(lo, PG);
	assert_int_equal(hi, PG);
}

static void test_plan_waits_for_a_chunk(void **state)
{
	struct ldq_wplan_in in = streaming(PG * 10);
	struct ldq_wplan pl = ldq_writer_plan(&in);

	(void)state;
	assert_int_equal(pl.act, LDQ_WPLAN_WAIT);
	assert_int_equal(pl.wait_bytes, 1 * MiB);
	assert_int_equal(pl.wait_ns, WRITER_POLL_NS); /* the checkpoint is further */
	in.ns_to_checkpoint = 1000;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WAIT);
	assert_int_equal(pl.wait_ns, 1000); /* no later than the checkpoint */
	in = streaming(0);
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WAIT);
	assert_false(pl.discard);
}

static void test_plan_direct_whole_pages(void **state)
{
	struct ldq_wplan_in in = streaming(1 * MiB + 100);
	struct ldq_wplan pl = ldq_writer_plan(&in);

	(void)state;
	/* A chunk: whole pages only, through O_DIRECT; the rest waits. */
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 1 * MiB);
	assert_true(pl.direct);
	assert_false(pl.checkpoint);
	/* Never more than chunk_max at once. */
	in = streaming(20 * MiB);
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.n, 8 * MiB);
	assert_true(pl.direct);
	/* No O_DIRECT descriptor: the same bytes, buffered. */
	in.direct = 0;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.n, 8 * MiB);
	assert_false(pl.direct);
	/* Data not page-aligned in memory: buffered. */
	in = streaming(2 * MiB);
	in.addr += 512;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_false(pl.direct);
}

static void test_plan_partial_page_tail_at_end(void **state)
{
	struct ldq_wplan_in in = streaming(PG + 904);
	struct ldq_wplan pl;

	(void)state;
	/* The producer is done: the whole page first, through O_DIRECT ... */
	in.producer_done = 1;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, PG);
	assert_true(pl.direct);
	assert_false(pl.checkpoint);
	/* ... then the partial page, buffered ... */
	in.written += PG;
	in.addr += PG;
	in.avail = in.readable = 904;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 904);
	assert_false(pl.direct);
	/* ... then the end. */
	in.written += 904;
	in.avail = in.readable = 0;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_END);
	/* A checkpoint due then changes nothing: the end rewrites all. */
	in.ns_to_checkpoint = -5;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_END);
}

static void test_plan_realigns_after_a_partial_page(void **state)
{
	struct ldq_wplan_in in = streaming(3 * MiB);
	struct ldq_wplan pl;

	(void)state;
	/* 6144 bytes written: 2048 more reach the next page, buffered. */
	in.written = 6144;
	in.addr = 0x7f0000000000u + 6144;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 2048);
	assert_false(pl.direct);
	/* Less than that readable: wait, unless something presses. */
	in.avail = in.readable = 1000;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WAIT);
	in.producer_done = 1;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 1000);
	assert_false(pl.direct);
}

static void test_plan_checkpoint(void **state)
{
	struct ldq_wplan_in in = streaming(3 * PG + 10);
	struct ldq_wplan pl;

	(void)state;
	/* Due: the whole pages now, however few, then the checkpoint. */
	in.ns_to_checkpoint = 0;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 3 * PG);
	assert_true(pl.direct);
	assert_true(pl.checkpoint);
	/* Less than a page: nothing to write, the checkpoint shows it. */
	in.avail = in.readable = 10;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_CHECKPOINT);
	in.avail = in.readable = 0;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_CHECKPOINT);
	/* What a checkpoint shows: what is readable, if less than a chunk. */
	assert_int_equal(ldq_writer_show_bytes(0, 8 * MiB), 0);
	assert_int_equal(ldq_writer_show_bytes(10, 8 * MiB), 10);
	assert_int_equal(ldq_writer_show_bytes(8 * MiB - 1, 8 * MiB), 8 * MiB - 1);
	assert_int_equal(ldq_writer_show_bytes(8 * MiB, 8 * MiB), 0);
}

static void test_plan_starving_and_ring_end(void **state)
{
	struct ldq_wplan_in in = streaming(100);
	struct ldq_wplan pl;

	(void)state;
	/* The producer cannot reserve its next block: write what there is. */
	in.capacity = 16 * KiB;
	in.chunk_min = in.chunk_max = PG;
	in.block_bytes = 16 * KiB - 50;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 100);
	assert_false(pl.direct);
	/* The peek stops at the end of the ring's storage: write it now. */
	in = streaming(300);
	in.readable = 300 + 5 * PG;
	pl = ldq_writer_plan(&in);
	assert_int_equal(pl.act, LDQ_WPLAN_WRITE);
	assert_int_equal(pl.n, 300);
	assert_false(pl.direct);
}

static void test_plan_abort_discards(void **state)
{
	struct ldq_wplan_in in = streaming(5 * MiB);
	struct ldq_wplan pl;

	(void)state;
	in.abort = 1;
	pl = ldq_writer_plan(&in);
	assert_true(pl.discard);
	assert_int_equal(pl.act, LDQ_WPLAN_WAIT);
	assert_int_equal(pl.wait_bytes, 1);
	assert_int_equal(pl.wait_ns, WRITER_POLL_NS);
	in.producer_done = 1;
	pl = ldq_writer_plan(&in);
	assert_true(pl.discard);
	assert_int_equal(pl.act, LDQ_WPLAN_END);
	in.avail = in.readable = 0;
	pl = ldq_writer_plan(&in);
	assert_false(pl.discard);
	assert_int_equal(pl.act, LDQ_WPLAN_END);
}

/* ------------------------------------------------------------------------
 * The paths on a real file system, observed
 */

struct stats {
	unsigned long long direct_bytes, direct_n, buf_bytes, buf_n, partial_n, show_bytes,
		show_n;
	int found, direct_opened;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[64 * 1024];

static void log_cb(int level, const char *msg, void *user)
{
	size_t n;

	(void)level;
	(void)user;
	pthread_mutex_lock(&log_lock);
	n = strlen(log_text);
	snprintf(log_text + n, sizeof(log_text) - n, "%s\n", msg);
	pthread_mutex_unlock(&log_lock);
}

/* The writer's summary for @path in the log. */
static struct stats read_stats(const char *path)
{
	struct stats s = { 0 };
	char key[600];
	const char *p;

	pthread_mutex_lock(&log_lock);
	snprintf(key, sizeof(key), "%s: O_DIRECT: whole pages", path);
	s.direct_opened = strstr(log_text, key) != NULL;
	snprintf(key, sizeof(key), "%s: writer: ", path);
	p = strstr(log_text, key);
	if (p)
		s.found = sscanf(p + strlen(key) - strlen("writer: "), LDQ_WRITER_STATS_FMT,
				 &s.direct_bytes, &s.direct_n, &s.buf_bytes, &s.buf_n,
				 &s.partial_n, &s.show_bytes, &s.show_n) == 7;
	pthread_mutex_unlock(&log_lock);
	return s;
}

struct fixture {
	char dir[512];
	char path[600];
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* Does @dir take O_DIRECT writes of whole pages? */
static int takes_direct(const char *dir)
{
	char p[600];
	void *page = NULL;
	int fd, ok;

	snprintf(p, sizeof(p), "%s/probe", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC, 0644);
	if (fd < 0)
		return 0;
	ok = !posix_memalign(&page, PG, PG);
	if (ok) {
		memset(page, 0, PG);
		ok = pwrite(fd, page, PG, 0) == PG;
	}
	free(page);
	close(fd);
	unlink(p);
	return ok;
}

/* A directory on a file system that takes O_DIRECT: $LABDAQ_TEST_DIRECT_DIR,
 * the build directory, /var/tmp or /tmp. */
static int setup(void **state)
{
	static const char *const bases[] = { "build", "/var/tmp", "/tmp" };
	struct fixture *fx = calloc(1, sizeof(*fx));
	const char *env = getenv("LABDAQ_TEST_DIRECT_DIR");

	if (!fx)
		return -1;
	for (int i = env && *env ? -1 : 0; i < 3 && !fx->dir[0]; i++) {
		snprintf(fx->dir, sizeof(fx->dir), "%s/labdaq-writer-XXXXXX",
			 i < 0 ? env : bases[i]);
		if (!mkdtemp(fx->dir))
			fx->dir[0] = '\0';
		else if (!takes_direct(fx->dir))
			rmdir(fx->dir), fx->dir[0] = '\0';
	}
	pthread_mutex_lock(&log_lock);
	log_text[0] = '\0';
	pthread_mutex_unlock(&log_lock);
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, NULL);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	labdaq_set_log(NULL, LABDAQ_LOG_INFO, NULL);
	unsetenv("LABDAQ_NO_DIRECT");
	if (fx && fx->dir[0])
		nftw(fx->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static const char *need_direct_dir(struct fixture *fx)
{
	if (!fx->dir[0]) {
		print_message("# SKIP: no file system here takes O_DIRECT "
			      "(set LABDAQ_TEST_DIRECT_DIR)\n");
		skip();
	}
	return fx->dir;
}

/* Run @uri into @path to its end; returns its progress. */
static struct labdaq_progress run_to_end(const char *uri, const char *path, uint64_t count,
					 double rate, size_t ring, unsigned int ckpt_ms)
{
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_device *dev = NULL;
	labdaq_run *run = NULL;
	int ret;

	assert_int_equal(labdaq_device_open(uri, &dev), 0);
	assert_int_equal(labdaq_run_config_new(&cfg), 0);
	assert_int_equal(labdaq_run_config_set_path(cfg, path), 0);
	assert_int_equal(labdaq_run_config_set_count(cfg, count), 0);
	assert_int_equal(labdaq_run_config_set_rate_hz(cfg, rate), 0);
	assert_int_equal(labdaq_run_config_set_ring_bytes(cfg, ring), 0);
	assert_int_equal(labdaq_run_config_set_checkpoint_ms(cfg, ckpt_ms), 0);
	ret = labdaq_run_start(dev, cfg, &run);
	labdaq_run_config_free(cfg);
	if (ret)
		fail_msg("start %s: %s", path, labdaq_strerror(ret));
	if (labdaq_run_wait(run, 30000)) {
		labdaq_run_abort(run);
		labdaq_run_wait(run, -1);
		fail_msg("the run did not end within 30 s");
	}
	labdaq_run_progress(run, &p);
	labdaq_run_free(run);
	labdaq_device_close(dev);
	return p;
}

/* sim:camera frame @i of @px pixels (docs/sim.md): the index in the
 * first four pixels, then pixel k holds k + 7 i. */
static void check_camera_file(const char *path, uint64_t frames, size_t px)
{
	size_t fb = px * 2;
	uint8_t *fr = malloc(fb);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;

	assert_non_null(fr);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, LDQ_NPY_HEADER_BYTES + frames * fb);
	for (uint64_t i = 0; i < frames; i++) {
		uint64_t idx = 0;

		assert_int_equal(pread(fd, fr, fb, (off_t)(LDQ_NPY_HEADER_BYTES + i * fb)),
				 (ssize_t)fb);
		for (int b = 7; b >= 0; b--)
			idx = idx << 8 | fr[b];
		assert_int_equal(idx, i);
		for (size_t k = 4; k < px; k++)
			if ((uint16_t)(fr[2 * k] | fr[2 * k + 1] << 8) != (uint16_t)(k + 7 * i))
				fail_msg("frame %llu pixel %zu is wrong", (unsigned long long)i, k);
	}
	close(fd);
	free(fr);
}

/* 77 frames of 6144 bytes: 115.5 pages, so both paths must run. */
static void test_direct_pages_and_buffered_tail(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_progress p;
	struct stats s;

	snprintf(fx->path, sizeof(fx->path), "%s/run.npy", need_direct_dir(fx));
	p = run_to_end("sim:camera?width=64&height=48", fx->path, 77, 0, 64 * KiB, 1000);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.written, 77);
	s = read_stats(fx->path);
	assert_true(s.found);
	assert_true(s.direct_opened);
	if (!s.direct_n || !s.direct_bytes || s.direct_bytes % PG)
		fail_msg("O_DIRECT: %llu bytes in %llu writes", s.direct_bytes, s.direct_n);
	if (!s.partial_n)
		fail_msg("no buffered partial page (%llu bytes in %llu buffered writes)",
			 s.buf_bytes, s.buf_n);
	assert_int_equal(s.direct_bytes + s.buf_bytes, 77 * 6144);
	check_camera_file(fx->path, 77, 64 * 48);
}

/* LABDAQ_NO_DIRECT: the same run through the page cache only. */
static void test_buffered_only_without_direct(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_progress p;
	struct stats s;

	snprintf(fx->path, sizeof(fx->path), "%s/run.npy", need_direct_dir(fx));
	setenv("LABDAQ_NO_DIRECT", "1", 1);
	p = run_to_end("sim:camera?width=64&height=48", fx->path, 77, 0, 64 * KiB, 1000);
	unsetenv("LABDAQ_NO_DIRECT");
	assert_int_equal(p.written, 77);
	s = read_stats(fx->path);
	assert_true(s.found);
	assert_false(s.direct_opened);
	assert_int_equal(s.direct_n, 0);
	assert_int_equal(s.direct_bytes, 0);
	assert_int_equal(s.buf_bytes, 77 * 6144);
	check_camera_file(fx->path, 77, 64 * 48);
}

/* A slow run: each checkpoint shows the partial page that is not written
 * yet, and the header counts it. */
static void test_checkpoints_show_partial_pages(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_progress p;
	struct stats s;

	snprintf(fx->path, sizeof(fx->path), "%s/slow.npy", need_direct_dir(fx));
	/* 2 bytes an item, 1000 a second for 0.4 s, a checkpoint every 50 ms. */
	p = run_to_end("sim:adc?channels=1", fx->path, 400, 1000, 1 * MiB, 50);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.written, 400);
	s = read_stats(fx->path);
	assert_true(s.found);
	if (s.show_n < 3 || !s.show_bytes)
		fail_msg("%llu bytes shown at %llu checkpoints", s.show_bytes, s.show_n);
	/* 800 bytes in all: less than a page, so no O_DIRECT write. */
	assert_int_equal(s.direct_n, 0);
	assert_int_equal(s.buf_bytes, 800);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chunks),
		cmocka_unit_test(test_plan_waits_for_a_chunk),
		cmocka_unit_test(test_plan_direct_whole_pages),
		cmocka_unit_test(test_plan_partial_page_tail_at_end),
		cmocka_unit_test(test_plan_realigns_after_a_partial_page),
		cmocka_unit_test(test_plan_checkpoint),
		cmocka_unit_test(test_plan_starving_and_ring_end),
		cmocka_unit_test(test_plan_abort_discards),
		cmocka_unit_test_setup_teardown(test_direct_pages_and_buffered_tail, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_buffered_only_without_direct, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints_show_partial_pages, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
