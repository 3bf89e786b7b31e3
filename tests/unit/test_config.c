/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_config.c - the configuration objects (lib/config.c) and the checks
 * that labdaq_run_check() and labdaq_sweep_check() make without starting
 * anything: every refusal names what is wrong, and no file is created.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
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

static char dir[] = "/tmp/labdaq-test-config-XXXXXX";
static char path[512];

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/a.npy", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* How many entries the test directory holds. */
static int dir_entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	closedir(d);
	return n;
}

static labdaq_device *open_dev(const char *uri)
{
	labdaq_device *dev = NULL;

	assert_int_equal(labdaq_device_open(uri, &dev), 0);
	return dev;
}

static void test_run_config_setters(void **state)
{
	labdaq_run_config *c = NULL;

	(void)state;
	assert_int_equal(labdaq_run_config_new(NULL), -EINVAL);
	assert_int_equal(labdaq_run_config_new(&c), 0);
	assert_int_equal(labdaq_run_config_get_ring_bytes(c), labdaq_default_ring_bytes());
	assert_int_equal(labdaq_default_ring_bytes(), 64u << 20);
	assert_int_equal(labdaq_run_config_set_ring_bytes(c, 4095), -EINVAL);
	assert_int_equal(labdaq_run_config_get_ring_bytes(c), 64u << 20);
	assert_int_equal(labdaq_run_config_set_ring_bytes(c, 1u << 20), 0);
	assert_int_equal(labdaq_run_config_get_ring_bytes(c), 1u << 20);
	assert_int_equal(labdaq_run_config_set_ring_bytes(c, 0), 0);
	assert_int_equal(labdaq_run_config_get_ring_bytes(c), 64u << 20);
	assert_int_equal(labdaq_run_config_set_rate_hz(c, -1), -EINVAL);
	assert_int_equal(labdaq_run_config_set_rate_hz(c, NAN), -EINVAL);
	assert_int_equal(labdaq_run_config_set_rate_hz(c, INFINITY), -EINVAL);
	assert_int_equal(labdaq_run_config_set_rate_hz(c, 1000), 0);
	assert_int_equal(labdaq_run_config_set_on_full(c, 7), -EINVAL);
	assert_int_equal(labdaq_run_config_set_on_full(c, LABDAQ_ON_FULL_DROP), 0);
	assert_int_equal(labdaq_run_config_set_path(c, NULL), -EINVAL);
	/* Strings are copied: the caller's buffer may change at once. */
	{
		char p[600];

		snprintf(p, sizeof(p), "%s", path);
		assert_int_equal(labdaq_run_config_set_path(c, p), 0);
		assert_int_equal(labdaq_run_config_set_channels(c, "voltage0"), 0);
		assert_int_equal(labdaq_run_config_set_channels(c, NULL), 0);
		memset(p, 'x', sizeof(p) - 1);
	}
	labdaq_run_config_free(c);
	labdaq_run_config_free(NULL);
}

static void test_sweep_config_setters(void **state)
{
	labdaq_sweep_config *c = NULL;

	(void)state;
	assert_int_equal(labdaq_sweep_config_new(&c), 0);
	assert_int_equal(labdaq_sweep_config_set_points(c, 0), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_repeat(c, 0), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_range(c, 0, NAN), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_range(c, -INFINITY, 1), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_output(c, NULL), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_output(c, "voltage0"), 0);
	assert_int_equal(labdaq_sweep_config_set_inputs(c, NULL), 0);
	assert_int_equal(labdaq_sweep_config_set_meta(c, "sample", "x"), 0);
	assert_int_equal(labdaq_sweep_config_set_meta(c, "", "x"), -EINVAL);
	assert_int_equal(labdaq_sweep_config_set_feed(c, 1u << 20), 0);
	assert_int_equal(labdaq_sweep_config_set_feed(c, (1u << 20) + 1), -EINVAL);
	labdaq_sweep_config_free(c);
	labdaq_sweep_config_free(NULL);
}

/* The user's metadata: keys checked, values any text, a key set again
 * replaced (the sidecar's "user", tests/cli/test_physical.sh). */
static void test_meta_setters(void **state)
{
	labdaq_run_config *c = NULL;
	char big[4098];

	(void)state;
	assert_int_equal(labdaq_run_config_new(&c), 0);
	assert_int_equal(labdaq_run_config_set_meta(c, "sample", "GaAs-17"), 0);
	assert_int_equal(labdaq_run_config_set_meta(c, "a.b-c_d:e/f9", ""), 0);
	assert_int_equal(labdaq_run_config_set_meta(c, "sample", "GaAs-18"), 0);
	assert_int_equal(labdaq_run_config_set_meta(c, "", "x"), -EINVAL);
	assert_int_equal(labdaq_run_config_set_meta(c, "two words", "x"), -EINVAL);
	assert_int_equal(labdaq_run_config_set_meta(c, "k=v", "x"), -EINVAL);
	assert_int_equal(labdaq_run_config_set_meta(c, NULL, "x"), -EINVAL);
	assert_int_equal(labdaq_run_config_set_meta(c, "k", NULL), -EINVAL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(labdaq_run_config_set_meta(c, "k", big), -EINVAL);
	big[4096] = '\0';
	assert_int_equal(labdaq_run_config_set_meta(c, "k", big), 0);
	memset(big, 'k', 129);
	big[129] = '\0';
	assert_int_equal(labdaq_run_config_set_meta(c, big, "x"), -EINVAL);
	assert_int_equal(labdaq_run_config_set_meta(NULL, "k", "x"), -EINVAL);
	labdaq_run_config_free(c);
}

/* @ret, a check's return, is @want, the message names @words, and the
 * check created nothing (@before: the directory's entries before it). */
static void check_is(const char *what, int ret, int before, int want, const char *words)
{
	if (ret != want)
		fail_msg("%s: %d (%s), want %d: %s", what, ret, labdaq_strerror(ret), want,
			 labdaq_last_error() ? labdaq_last_error() : "no message");
	if (words) {
		assert_non_null(labdaq_last_error());
		if (!strstr(labdaq_last_error(), words))
			fail_msg("'%s' does not say '%s'", labdaq_last_error(), words);
	}
	assert_int_equal(dir_entries(), before); /* the check created nothing */
}

static void run_check_is(labdaq_device *dev, const labdaq_run_config *c, int want,
			 const char *words)
{
	int before = dir_entries();

	labdaq_clear_error();
	check_is("run_check", labdaq_run_check(dev, c), before, want, words);
}

static void test_run_check(void **state)
{
	labdaq_device *adc = open_dev("sim:adc?channels=3"), *cam = open_dev("sim:camera");
	labdaq_run_config *c;
	char other[700];
	FILE *f;

	(void)state;
	assert_int_equal(labdaq_run_config_new(&c), 0);
	run_check_is(adc, c, -EINVAL, "no output file");
	labdaq_run_config_set_path(c, "relative-name.dat");
	run_check_is(adc, c, -EINVAL, "must end in .npy");
	snprintf(other, sizeof(other), "%s/no/such/dir/x.npy", dir);
	labdaq_run_config_set_path(c, other);
	run_check_is(adc, c, -ENOENT, "does not exist");
	labdaq_run_config_set_path(c, path);
	run_check_is(adc, c, 0, NULL);
	labdaq_run_config_set_channels(c, "voltage2,voltage9");
	run_check_is(adc, c, -EINVAL, "no input channel 'voltage9'");
	labdaq_run_config_set_channels(c, "voltage2,voltage2");
	run_check_is(adc, c, -EINVAL, "twice");
	labdaq_run_config_set_channels(c, "voltage2,voltage0");
	run_check_is(adc, c, 0, NULL);
	/* A frames device has no channels to select. */
	run_check_is(cam, c, -EINVAL, "frames");
	labdaq_run_config_set_channels(c, NULL);
	run_check_is(cam, c, 0, NULL);

	/* An existing file, or only its sidecar: refused unless overwrite. */
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	run_check_is(adc, c, -EEXIST, "exists");
	labdaq_run_config_set_overwrite(c, 1);
	assert_int_equal(labdaq_run_check(adc, c), 0);
	labdaq_run_config_set_overwrite(c, 0);
	unlink(path);
	snprintf(other, sizeof(other), "%s/a.json", dir);
	f = fopen(other, "w");
	assert_non_null(f);
	fclose(f);
	run_check_is(adc, c, -EEXIST, "a.json");
	unlink(other);
	assert_int_equal(labdaq_run_check(adc, c), 0);

	labdaq_run_config_free(c);
	labdaq_device_close(adc);
	labdaq_device_close(cam);
}

/* A busy device is not a check failure: it may be free when the run starts. */
static void test_run_check_busy(void **state)
{
	labdaq_device *a = open_dev("sim:adc"), *b = open_dev("sim:adc");
	labdaq_run_config *c;
	labdaq_run *run = NULL;
	char p2[600];

	(void)state;
	assert_int_equal(labdaq_run_config_new(&c), 0);
	labdaq_run_config_set_path(c, path);
	labdaq_run_config_set_rate_hz(c, 1000);
	assert_int_equal(labdaq_run_start(a, c, &run), 0);
	snprintf(p2, sizeof(p2), "%s/b.npy", dir);
	labdaq_run_config_set_path(c, p2);
	assert_int_equal(labdaq_run_check(b, c), 0);
	assert_int_equal(labdaq_run_start(b, c, &(labdaq_run *){ NULL }), -EBUSY);
	labdaq_run_stop(run);
	assert_int_equal(labdaq_run_wait(run, 5000), 0);
	labdaq_run_free(run);
	unlink(path);
	snprintf(p2, sizeof(p2), "%s/a.json", dir);
	unlink(p2);
	labdaq_run_config_free(c);
	labdaq_device_close(a);
	labdaq_device_close(b);
}

static void sweep_check_is(labdaq_device *dev, const labdaq_sweep_config *c, int want,
			   const char *words)
{
	int before = dir_entries();

	labdaq_clear_error();
	check_is("sweep_check", labdaq_sweep_check(dev, c), before, want, words);
}

static void test_sweep_check(void **state)
{
	labdaq_device *ohm = open_dev("sim:ohm"), *adc = open_dev("sim:adc");
	labdaq_sweep_config *c;
	char csv[600];

	(void)state;
	snprintf(csv, sizeof(csv), "%s/iv.csv", dir);
	assert_int_equal(labdaq_sweep_config_new(&c), 0);
	labdaq_sweep_config_set_points(c, 5);
	labdaq_sweep_config_set_range(c, -1, 1);
	labdaq_sweep_config_set_output(c, "voltage0");
	sweep_check_is(ohm, c, -EINVAL, "no output file");
	labdaq_sweep_config_set_path(c, path);
	sweep_check_is(ohm, c, -EINVAL, "must end in .csv");
	labdaq_sweep_config_set_path(c, csv);
	sweep_check_is(ohm, c, 0, NULL);
	sweep_check_is(adc, c, -EINVAL, "no output channel 'voltage0'");
	labdaq_sweep_config_set_inputs(c, "current0,current0");
	sweep_check_is(ohm, c, -EINVAL, "twice");
	labdaq_sweep_config_set_inputs(c, "current0,nope");
	sweep_check_is(ohm, c, -EINVAL, "no input channel 'nope'");
	labdaq_sweep_config_set_inputs(c, "current0");
	sweep_check_is(ohm, c, 0, NULL);
	labdaq_sweep_config_set_range(c, -1, 11);
	sweep_check_is(ohm, c, -ERANGE, "voltage0");
	labdaq_sweep_config_free(c);
	labdaq_device_close(ohm);
	labdaq_device_close(adc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_run_config_setters),
		cmocka_unit_test(test_sweep_config_setters),
		cmocka_unit_test(test_meta_setters),
		cmocka_unit_test(test_run_check),
		cmocka_unit_test(test_run_check_busy),
		cmocka_unit_test(test_sweep_check),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
