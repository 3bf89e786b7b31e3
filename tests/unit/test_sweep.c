// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * test_sweep.c - labdaq_sweep_start() on the simulated Ohm's-law rig:
 * non-blocking, points counted, the latest point, stop keeping the points
 * done, errors, exclusivity with streams, replacing a file (overwrite)
 * and keeping it when the start fails.
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "labdaq.h"

static char dir[] = "/tmp/labdaq-sweep.XXXXXX";

static const char *in_dir(const char *name)
{
	static char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return path;
}

/* The configurations the tests make, freed by the group's teardown. */
static labdaq_sweep_config *sweep_cfgs[16];
static labdaq_run_config *run_cfgs[4];
static unsigned int nsweep_cfgs, nrun_cfgs;

static labdaq_sweep_config *sweep_cfg(void)
{
	assert_true(nsweep_cfgs < sizeof(sweep_cfgs) / sizeof(sweep_cfgs[0]));
	assert_int_equal(labdaq_sweep_config_new(&sweep_cfgs[nsweep_cfgs]), 0);
	return sweep_cfgs[nsweep_cfgs++];
}

static labdaq_run_config *run_cfg(void)
{
	assert_true(nrun_cfgs < sizeof(run_cfgs) / sizeof(run_cfgs[0]));
	assert_int_equal(labdaq_run_config_new(&run_cfgs[nrun_cfgs]), 0);
	return run_cfgs[nrun_cfgs++];
}

static void cfgs_free(void)
{
	while (nsweep_cfgs)
		labdaq_sweep_config_free(sweep_cfgs[--nsweep_cfgs]);
	while (nrun_cfgs)
		labdaq_run_config_free(run_cfgs[--nrun_cfgs]);
}

/* Data rows of a CSV (after its header row; every line whole), and
 * whether its sidecar's status is @st. */
static int count_rows(const char *path, const char *st, int *status_ok)
{
	char line[512];
	FILE *f = fopen(path, "r");
	labdaq_file *lf = NULL;
	int n = -1;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		assert_true(line[strlen(line) - 1] == '\n');
		if (n < 0)
			assert_memory_equal(line, "index,repeat,time_s,set_", 24);
		n++;
	}
	fclose(f);
	assert_int_equal(labdaq_file_open(path, &lf), 0);
	*status_ok = labdaq_file_meta_string(lf, "status") &&
		     !strcmp(labdaq_file_meta_string(lf, "status"), st);
	labdaq_file_close(lf);
	return n;
}

static void test_sweep_completes(void **state)
{
	labdaq_sweep_config *c = sweep_cfg();
	double from = 0, to = 0;
	char path[256] = "";
	struct labdaq_progress p;
	labdaq_device *dev;
	labdaq_run *run;
	double row[3];
	uint64_t index;
	int ok;

	assert_int_equal(labdaq_device_open("sim:ohm?r=2000&noise=0", &dev), 0);
	snprintf(path, sizeof(path), "%s", in_dir("a.csv"));
	labdaq_sweep_config_set_path(c, path);
	labdaq_sweep_config_set_output(c, "voltage0");
	labdaq_sweep_config_set_inputs(c, "voltage0,current0");
	from = -2;
	labdaq_sweep_config_set_range(c, from, to);
	to = 2;
	labdaq_sweep_config_set_range(c, from, to);
	labdaq_sweep_config_set_points(c, 11);
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	assert_int_equal(labdaq_run_wait(run, 10000), 0);
	labdaq_run_progress(run, &p);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 11);
	assert_int_equal(p.written, 11);
	assert_int_equal(p.target, 11);
	assert_int_equal(labdaq_run_latest(run, row, sizeof(row), &index, NULL), sizeof(row));
	assert_int_equal(index, 10);
	/* The last point: 2 V set, 2 V measured, 1 mA through 2 kOhm. */
	assert_true(row[0] == 2.0);
	assert_true(row[1] > 1.999 && row[1] < 2.001);
	assert_true(row[2] > 0.999e-3 && row[2] < 1.001e-3);
	assert_int_equal(count_rows(in_dir("a.csv"), "complete", &ok), 11);
	assert_true(ok);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* The feed hands every point in order and holds the sweep when full. */
static void test_sweep_feed(void **state)
{
	labdaq_sweep_config *c = sweep_cfg();
	labdaq_device *dev;
	labdaq_run *run;
	double row[3], latest[3];
	uint64_t index, latest_index;
	struct labdaq_progress p;

	(void)state;
	assert_int_equal(labdaq_device_open("sim:ohm?r=1000&noise=0", &dev), 0);
	labdaq_sweep_config_set_path(c, in_dir("feed.csv"));
	labdaq_sweep_config_set_output(c, "voltage0");
	labdaq_sweep_config_set_range(c, 0, 1);
	labdaq_sweep_config_set_points(c, 101);
	assert_int_equal(labdaq_sweep_config_set_feed(c, (1u << 20) + 1), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_feed(c, 4), 0);
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	/* Nobody takes the points: the sweep holds at 4 (the 5th waits). */
	usleep(200000);
	labdaq_run_progress(run, &p);
	assert_int_equal(p.state, LABDAQ_STATE_RUNNING);
	assert_int_equal(p.written, 4);
	for (uint64_t k = 0; k < 101; k++) {
		int n;

		while ((n = labdaq_run_next_point(run, row, sizeof(row), &index)) == -EAGAIN)
			usleep(100);
		assert_int_equal(n, sizeof(row));
		assert_int_equal(index, k);
		assert_true(row[0] == (k == 100 ? 1.0 : (double)k / 100.0));
		assert_true(fabs(row[2] - row[0] / 1000.0) < 1e-8);
	}
	assert_int_equal(labdaq_run_wait(run, 10000), 0);
	assert_int_equal(labdaq_run_next_point(run, row, sizeof(row), &index), -ENODATA);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	assert_int_equal(labdaq_run_latest(run, latest, sizeof(latest), &latest_index, NULL),
			 sizeof(latest));
	assert_int_equal(latest_index, 100);
	labdaq_run_free(run);

	/* A stop ends a sweep that waits for its reader. */
	labdaq_sweep_config_set_path(c, in_dir("feed2.csv"));
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	usleep(100000);
	labdaq_run_stop(run);
	assert_int_equal(labdaq_run_wait(run, 5000), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_STOPPED);
	for (uint64_t k = 0; k < 4; k++) {
		assert_int_equal(labdaq_run_next_point(run, row, sizeof(row), &index), sizeof(row));
		assert_int_equal(index, k);
	}
	assert_int_equal(labdaq_run_next_point(run, row, sizeof(row), &index), -ENODATA);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* A stream has no feed. */
static void test_stream_has_no_feed(void **state)
{
	labdaq_run_config *rc = NULL;
	labdaq_device *dev;
	labdaq_run *run;
	double row[2];

	(void)state;
	assert_int_equal(labdaq_device_open("sim:adc?channels=2", &dev), 0);
	assert_int_equal(labdaq_run_config_new(&rc), 0);
	labdaq_run_config_set_path(rc, in_dir("nofeed.npy"));
	labdaq_run_config_set_count(rc, 10);
	assert_int_equal(labdaq_run_start(dev, rc, &run), 0);
	assert_int_equal(labdaq_run_next_point(run, row, sizeof(row), NULL), -EOPNOTSUPP);
	labdaq_run_free(run);
	labdaq_run_config_free(rc);
	labdaq_device_close(dev);
}

static void test_sweep_returns_at_once_and_stops(void **state)
{
	labdaq_sweep_config *c = sweep_cfg();
	double from = 0, to = 0;
	char path[256] = "";
	struct labdaq_progress p;
	labdaq_device *dev;
	labdaq_run *run;
	int ok, rows;

	assert_int_equal(labdaq_device_open("sim:ohm", &dev), 0);
	snprintf(path, sizeof(path), "%s", in_dir("b.csv"));
	labdaq_sweep_config_set_path(c, path);
	labdaq_sweep_config_set_output(c, "voltage0");
	from = 0;
	labdaq_sweep_config_set_range(c, from, to);
	to = 1;
	labdaq_sweep_config_set_range(c, from, to);
	labdaq_sweep_config_set_points(c, 1000);
	labdaq_sweep_config_set_delay_ns(c, 20000000); /* 20 s in all */
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	/* Running, not finished: the call did not wait for the sweep. */
	assert_int_equal(labdaq_run_wait(run, 0), -ETIMEDOUT);
	do {
		labdaq_run_progress(run, &p);
		usleep(10000);
	} while (p.written < 3);
	assert_int_equal(labdaq_run_stop(run), 0);
	/* The delay in progress is interrupted at once (generous bound). */
	assert_int_equal(labdaq_run_wait(run, 5000), 0);
	labdaq_run_progress(run, &p);
	assert_int_equal(p.state, LABDAQ_STATE_STOPPED);
	assert_true(p.written >= 3 && p.written < 1000);
	rows = count_rows(in_dir("b.csv"), "stopped", &ok);
	assert_int_equal((uint64_t)rows, p.written);
	assert_true(ok);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_sweep_errors(void **state)
{
	labdaq_sweep_config *c = sweep_cfg();
	double from = 0, to = 0;
	char path[256] = "";
	labdaq_device *dev, *cam;
	labdaq_run *run = (labdaq_run *)&c;

	assert_int_equal(labdaq_device_open("sim:ohm", &dev), 0);
	snprintf(path, sizeof(path), "%s", in_dir("e.csv"));
	labdaq_sweep_config_set_path(c, path);
	labdaq_sweep_config_set_output(c, "current0"); /* an input, not an output */
	from = 0;
	labdaq_sweep_config_set_range(c, from, to);
	to = 1;
	labdaq_sweep_config_set_range(c, from, to);
	labdaq_sweep_config_set_points(c, 3);
	assert_int_equal(labdaq_sweep_start(dev, c, &run), -EINVAL);
	assert_null(run);
	labdaq_sweep_config_set_output(c, "voltage0");
	labdaq_sweep_config_set_inputs(c, "nope");
	assert_int_equal(labdaq_sweep_start(dev, c, &run), -EINVAL);
	labdaq_sweep_config_set_inputs(c, NULL);
	assert_int_equal(labdaq_sweep_config_set_points(c, 0), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_repeat(c, 0), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_range(c, 0, NAN), -EINVAL);
	assert_int_equal(access(in_dir("e.csv"), F_OK), -1);
	labdaq_sweep_config_set_points(c, 3);
	to = 50;
	labdaq_sweep_config_set_range(c, from, to); /* the rig's output is +-10 V: refused, nothing set */
	assert_int_equal(labdaq_sweep_start(dev, c, &run), -ERANGE);
	assert_null(run);
	assert_int_equal(access(in_dir("e.csv"), F_OK), -1);
	from = -10;
	labdaq_sweep_config_set_range(c, from, to);
	to = 10;
	labdaq_sweep_config_set_range(c, from, to); /* both ends included */
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	assert_int_equal(labdaq_run_wait(run, 10000), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	/* Existing file. */
	from = 0;
	labdaq_sweep_config_set_range(c, from, to);
	to = 1;
	labdaq_sweep_config_set_range(c, from, to);
	assert_int_equal(labdaq_sweep_start(dev, c, &run), -EEXIST);
	labdaq_device_close(dev);

	assert_int_equal(labdaq_device_open("sim:camera?width=8&height=8", &cam), 0);
	snprintf(path, sizeof(path), "%s", in_dir("cam.csv"));
	labdaq_sweep_config_set_path(c, path);
	/* No output channel to set. */
	assert_int_equal(labdaq_sweep_start(cam, c, &run), -EINVAL);
	labdaq_device_close(cam);
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void assert_text(const char *path, const char *text)
{
	char buf[256] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	assert_string_equal(buf, text);
}

/* Overwrite replaces an old CSV; a start that fails after the old file
 * was set aside (its header cannot be written: a file size limit of 16
 * bytes, EFBIG) puts it back, as a stream's start does. */
static void test_sweep_overwrite_restores_on_failed_start(void **state)
{
	static const char old[] = "precious,data\n1,2\n";
	labdaq_sweep_config *c = sweep_cfg();
	double from = 0, to = 0;
	char path[256] = "";
	struct rlimit lim, small;
	labdaq_device *dev;
	labdaq_run *run = NULL;
	void (*prev)(int);
	int ret, ok;

	(void)state;
	assert_int_equal(labdaq_device_open("sim:ohm", &dev), 0);
	snprintf(path, sizeof(path), "%s", in_dir("keep.csv"));
	labdaq_sweep_config_set_path(c, path);
	labdaq_sweep_config_set_output(c, "voltage0");
	from = 0;
	labdaq_sweep_config_set_range(c, from, to);
	to = 1;
	labdaq_sweep_config_set_range(c, from, to);
	labdaq_sweep_config_set_points(c, 3);
	write_text(path, old);
	/* Without overwrite: refused, untouched. */
	assert_int_equal(labdaq_sweep_start(dev, c, &run), -EEXIST);
	assert_null(run);
	assert_text(path, old);

	labdaq_sweep_config_set_overwrite(c, 1);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim), 0);
	small = lim;
	small.rlim_cur = 16;
	prev = signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	ret = labdaq_sweep_start(dev, c, &run);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	signal(SIGXFSZ, prev);
	assert_int_equal(ret, -EFBIG);
	assert_null(run);
	/* The old file is back, and nothing else is left beside it. */
	assert_text(path, old);
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "test \"$(ls -A %s | grep -c keep)\" = 1", dir);
		assert_int_equal(system(cmd), 0);
	}

	/* A start that succeeds replaces it. */
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	assert_int_equal(labdaq_run_wait(run, 10000), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	assert_int_equal(count_rows(path, "complete", &ok), 3);
	assert_true(ok);
	labdaq_device_close(dev);
}

/* A stream and a sweep on one device: the second is refused, across
 * device handles (the lock is per device, not per handle). */
static void test_sweep_exclusive_with_stream(void **state)
{
	labdaq_run_config *rc = run_cfg();
	labdaq_sweep_config *c = sweep_cfg();
	double from = 0, to = 0;
	char path[256] = "";
	struct labdaq_holder h = { .size = sizeof(h) };
	labdaq_device *d1, *d2;
	labdaq_run *stream, *sweep;

	assert_int_equal(labdaq_device_open("sim:ohm", &d1), 0);
	assert_int_equal(labdaq_device_open("sim:ohm?r=50", &d2), 0);
	labdaq_run_config_set_path(rc, in_dir("s.npy"));
	labdaq_run_config_set_rate_hz(rc, 100);
	labdaq_run_config_set_ring_bytes(rc, 65536);
	assert_int_equal(labdaq_run_start(d1, rc, &stream), 0);
	assert_int_equal(labdaq_device_holder("sim:ohm?r=7", &h), 1);
	assert_int_equal(h.pid, getpid());
	snprintf(path, sizeof(path), "%s", in_dir("x.csv"));
	labdaq_sweep_config_set_path(c, path);
	labdaq_sweep_config_set_output(c, "voltage0");
	from = 0;
	labdaq_sweep_config_set_range(c, from, to);
	to = 1;
	labdaq_sweep_config_set_range(c, from, to);
	labdaq_sweep_config_set_points(c, 2);
	assert_int_equal(labdaq_sweep_start(d2, c, &sweep), -EBUSY);
	assert_int_equal(access(in_dir("x.csv"), F_OK), -1);
	labdaq_run_stop(stream);
	assert_int_equal(labdaq_run_wait(stream, 5000), 0);
	labdaq_run_free(stream);
	assert_int_equal(labdaq_device_holder("sim:ohm", &h), 0);
	assert_int_equal(labdaq_sweep_start(d2, c, &sweep), 0);
	assert_int_equal(labdaq_run_wait(sweep, 5000), 0);
	assert_int_equal(labdaq_run_state(sweep), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(sweep);
	labdaq_device_close(d1);
	labdaq_device_close(d2);
}

/* labdaq_run_fd(): not readable while the run goes on, readable once it
 * ended, for an event loop. */
static void test_run_fd(void **state)
{
	labdaq_sweep_config *c = sweep_cfg();
	double from = 0, to = 0;
	char path[256] = "";
	struct pollfd pfd;
	labdaq_device *dev;
	labdaq_run *run;

	assert_int_equal(labdaq_device_open("sim:ohm", &dev), 0);
	snprintf(path, sizeof(path), "%s", in_dir("fd.csv"));
	labdaq_sweep_config_set_path(c, path);
	labdaq_sweep_config_set_output(c, "voltage0");
	from = 0;
	labdaq_sweep_config_set_range(c, from, to);
	to = 1;
	labdaq_sweep_config_set_range(c, from, to);
	labdaq_sweep_config_set_points(c, 100);
	labdaq_sweep_config_set_delay_ns(c, 100000000); /* 10 s in all */
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	pfd.fd = labdaq_run_fd(run);
	pfd.events = POLLIN;
	assert_true(pfd.fd >= 0);
	assert_int_equal(poll(&pfd, 1, 200), 0);
	labdaq_run_stop(run);
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(pfd.revents & POLLIN);
	/* Ended by then: the state is final. */
	assert_int_equal(labdaq_run_wait(run, 0), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_STOPPED);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static int setup(void **state)
{
	static char locks[300];

	if (!mkdtemp(dir))
		return -1;
	snprintf(locks, sizeof(locks), "%s/locks", dir);
	setenv("LABDAQ_LOCK_DIR", locks, 1);
	return 0;
}

static int teardown(void **state)
{
	char cmd[300];

	cfgs_free();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) ? -1 : 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep_completes),
		cmocka_unit_test(test_sweep_feed),
		cmocka_unit_test(test_stream_has_no_feed),
		cmocka_unit_test(test_sweep_returns_at_once_and_stops),
		cmocka_unit_test(test_sweep_errors),
		cmocka_unit_test(test_sweep_overwrite_restores_on_failed_start),
		cmocka_unit_test(test_sweep_exclusive_with_stream),
		cmocka_unit_test(test_run_fd),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
