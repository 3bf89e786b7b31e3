/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_file.c - reading what a run left (lib/file.c): a stream's .npy
 * header and sidecar, a sweep's CSV, and files that are not ours or are
 * damaged.  The expected values come from the runs' own configuration
 * and from files written here byte by byte.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "labdaq.h"

static char dir[] = "/tmp/labdaq-test-file-XXXXXX";

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
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

static void in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", dir, name);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* Stream @count samples of sim:adc's @chans into @path; wait for the end. */
static void stream(const char *path, const char *chans, uint64_t count)
{
	labdaq_device *dev = NULL;
	labdaq_run_config *c = NULL;
	labdaq_run *run = NULL;

	assert_int_equal(labdaq_device_open("sim:adc?channels=4", &dev), 0);
	assert_int_equal(labdaq_run_config_new(&c), 0);
	assert_int_equal(labdaq_run_config_set_path(c, path), 0);
	assert_int_equal(labdaq_run_config_set_channels(c, chans), 0);
	assert_int_equal(labdaq_run_config_set_count(c, count), 0);
	assert_int_equal(labdaq_run_config_set_command(c, "test_file"), 0);
	assert_int_equal(labdaq_run_start(dev, c, &run), 0);
	assert_int_equal(labdaq_run_wait(run, 10000), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	labdaq_run_config_free(c);
	labdaq_device_close(dev);
}

static void test_stream_file(void **state)
{
	char npy[600], json[600];
	struct labdaq_channel ch;
	labdaq_file *f = NULL;
	const char *why;
	uint64_t v;
	double d;

	(void)state;
	in_dir(npy, sizeof(npy), "s.npy");
	stream(npy, "voltage3,voltage1", 1000);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_type(f), LABDAQ_FILE_NPY);
	assert_string_equal(labdaq_file_dtype(f), "<i2");
	assert_int_equal(labdaq_file_items(f), 1000);
	assert_int_equal(labdaq_file_items_on_disk(f), 1000);
	assert_int_equal(labdaq_file_trailing_bytes(f), 0);
	assert_int_equal(labdaq_file_item_ndim(f), 1);
	assert_int_equal(labdaq_file_item_dim(f, 0), 2);
	assert_int_equal(labdaq_file_item_dim(f, 1), 0);
	assert_int_equal(labdaq_file_item_bytes(f), 4);
	assert_int_equal(labdaq_file_data_offset(f), 4096);
	assert_int_equal(labdaq_file_meta_error(f, &why), 0);
	assert_null(why);
	assert_string_equal(labdaq_file_meta_string(f, "status"), "complete");
	assert_string_equal(labdaq_file_meta_string(f, "device"), "sim:adc?channels=4");
	assert_string_equal(labdaq_file_meta_string(f, "command"), "test_file");
	assert_null(labdaq_file_meta_string(f, "acquired")); /* a number, not a string */
	assert_null(labdaq_file_meta_string(f, "no_such_key"));
	assert_int_equal(labdaq_file_meta_u64(f, "acquired", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(labdaq_file_meta_u64(f, "written", &v), 0);
	assert_int_equal(v, 1000);
	assert_int_equal(labdaq_file_meta_number(f, "dropped", &d), 0);
	assert_true(d == 0);
	assert_int_equal(labdaq_file_meta_u64(f, "status", &v), -ENOENT);
	assert_int_equal(labdaq_file_meta_number(f, "ring.capacity_bytes", &d), 0);
	/* 1000 items of 8 bytes: the default ring shrinks to a short run's
	 * size, at least 1 MiB (labdaq_default_ring_bytes()). */
	assert_true(d == (double)(1u << 20));
	assert_int_equal(labdaq_file_gap_count(f), 0);
	assert_int_equal(labdaq_file_gap(f, 0, &v, &v), -ERANGE);
	assert_int_equal(labdaq_file_channel_count(f), 2);
	assert_int_equal(labdaq_file_channel(f, 0, &ch), 0);
	assert_string_equal(ch.name, "voltage3");
	assert_string_equal(ch.unit, "V");
	assert_int_equal(ch.dtype, LABDAQ_DTYPE_INT16);
	assert_int_equal(labdaq_file_channel(f, 1, &ch), 0);
	assert_string_equal(ch.name, "voltage1");
	assert_int_equal(labdaq_file_channel(f, 2, &ch), -ERANGE);
	assert_non_null(strstr(labdaq_file_meta_json(f), "\"status\":\"complete\""));
	labdaq_file_close(f);

	/* Half an item more on disk: counted, not an item. */
	{
		int fd = open(npy, O_WRONLY | O_APPEND);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "\1\2\3", 3), 3);
		close(fd);
	}
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_items_on_disk(f), 1000);
	assert_int_equal(labdaq_file_trailing_bytes(f), 3);
	labdaq_file_close(f);

	/* The sidecar gone, then damaged: the data is still read. */
	{
		int n = labdaq_file_sidecar_path(npy, json, sizeof(json));

		assert_int_equal(n, (int)strlen(json));
		assert_int_equal(n, (int)strlen(npy) - 3 + 4);
		assert_non_null(strstr(json, "/s.json"));
		assert_int_equal(labdaq_file_sidecar_path(npy, json, 5), -ENAMETOOLONG);
		assert_int_equal(labdaq_file_sidecar_path(npy, json, sizeof(json)), n);
	}
	assert_int_equal(unlink(json), 0);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_meta_error(f, &why), -ENOENT);
	assert_non_null(why);
	assert_null(labdaq_file_meta_string(f, "status"));
	assert_null(labdaq_file_meta_json(f));
	assert_int_equal(labdaq_file_items(f), 1000);
	labdaq_file_close(f);
	write_file(json, "{\"status\": \"compl", 17);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_meta_error(f, &why), -EBADMSG);
	assert_non_null(why);
	labdaq_file_close(f);
	write_file(json, "[1, 2]", 6);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_meta_error(f, NULL), -EBADMSG);
	labdaq_file_close(f);
}

/* A .npy written here byte by byte: a frames-shaped uint16 array. */
static void test_handmade_npy(void **state)
{
	static const char dict[] = "{'descr': '<u2', 'fortran_order': False, "
				   "'shape': (3, 2, 5), }";
	unsigned char buf[128 + 3 * 2 * 5 * 2];
	char npy[600];
	labdaq_file *f = NULL;
	size_t hlen = 128, n = strlen(dict);

	(void)state;
	memset(buf, ' ', hlen);
	memcpy(buf, "\x93NUMPY\x01\x00", 8);
	buf[8] = (unsigned char)(hlen - 10);
	buf[9] = 0;
	memcpy(buf + 10, dict, n);
	buf[hlen - 1] = '\n';
	memset(buf + hlen, 7, sizeof(buf) - hlen);
	in_dir(npy, sizeof(npy), "h.npy");
	write_file(npy, buf, sizeof(buf) - 7); /* the last frame is cut short */
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_string_equal(labdaq_file_dtype(f), "<u2");
	assert_int_equal(labdaq_file_items(f), 3);
	assert_int_equal(labdaq_file_item_ndim(f), 2);
	assert_int_equal(labdaq_file_item_dim(f, 0), 2);
	assert_int_equal(labdaq_file_item_dim(f, 1), 5);
	assert_int_equal(labdaq_file_item_bytes(f), 20);
	assert_int_equal(labdaq_file_data_offset(f), 128);
	assert_int_equal(labdaq_file_items_on_disk(f), 2);
	assert_int_equal(labdaq_file_trailing_bytes(f), 13);
	assert_int_equal(labdaq_file_meta_error(f, NULL), -ENOENT);
	assert_int_equal(labdaq_file_channel_count(f), 0);
	labdaq_file_close(f);
}

static void test_not_ours(void **state)
{
	char path[600];
	labdaq_file *f = (labdaq_file *)&f;

	(void)state;
	in_dir(path, sizeof(path), "missing.npy");
	assert_int_equal(labdaq_file_open(path, &f), -ENOENT);
	assert_null(f);
	in_dir(path, sizeof(path), "text.npy");
	write_file(path, "hello, world\n", 13);
	assert_int_equal(labdaq_file_open(path, &f), -EBADMSG);
	in_dir(path, sizeof(path), "empty.npy");
	write_file(path, "", 0);
	assert_int_equal(labdaq_file_open(path, &f), -EBADMSG);
	in_dir(path, sizeof(path), "other.csv");
	write_file(path, "a,b\n1,2\n", 8);
	assert_int_equal(labdaq_file_open(path, &f), -EBADMSG);
	assert_int_equal(labdaq_file_open(NULL, &f), -EINVAL);
	labdaq_file_close(NULL);
}

/* A sweep's CSV: a header row and the rows; its metadata in NAME.json. */
static void test_sweep_csv(void **state)
{
	labdaq_device *dev = NULL;
	labdaq_sweep_config *c = NULL;
	labdaq_run *run = NULL;
	labdaq_file *f = NULL;
	char csv[600];
	uint64_t v;

	(void)state;
	in_dir(csv, sizeof(csv), "iv.csv");
	assert_int_equal(labdaq_device_open("sim:ohm?r=1000", &dev), 0);
	assert_int_equal(labdaq_sweep_config_new(&c), 0);
	assert_int_equal(labdaq_sweep_config_set_path(c, csv), 0);
	assert_int_equal(labdaq_sweep_config_set_output(c, "voltage0"), 0);
	assert_int_equal(labdaq_sweep_config_set_range(c, -1, 1), 0);
	assert_int_equal(labdaq_sweep_config_set_points(c, 7), 0);
	assert_int_equal(labdaq_sweep_config_set_repeat(c, 2), 0);
	assert_int_equal(labdaq_sweep_start(dev, c, &run), 0);
	assert_int_equal(labdaq_run_wait(run, 10000), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	labdaq_sweep_config_free(c);
	labdaq_device_close(dev);

	assert_int_equal(labdaq_file_open(csv, &f), 0);
	assert_int_equal(labdaq_file_type(f), LABDAQ_FILE_CSV);
	assert_int_equal(labdaq_file_items(f), 14);
	assert_int_equal(labdaq_file_meta_error(f, NULL), 0);
	assert_string_equal(labdaq_file_meta_string(f, "status"), "complete");
	assert_string_equal(labdaq_file_meta_string(f, "device"), "sim:ohm?r=1000");
	assert_int_equal(labdaq_file_meta_u64(f, "points", &v), 0);
	assert_int_equal(v, 14);
	assert_int_equal(labdaq_file_meta_u64(f, "sweep.points", &v), 0);
	assert_int_equal(v, 7);
	assert_string_equal(labdaq_file_meta_string(f, "kind"), "sweep");
	assert_string_equal(labdaq_file_meta_string(f, "file"), "iv.csv");
	assert_string_equal(labdaq_file_dtype(f), "");
	assert_int_equal(labdaq_file_channel_count(f), 3);
	labdaq_file_close(f);
	{
		char json[600];

		assert_int_equal(labdaq_file_sidecar_path(csv, json, sizeof(json)),
				 (int)strlen(csv) + 1);
		assert_string_equal(json + strlen(json) - 8, "/iv.json");
	}

	/* After a crash: a line cut short is removed, the sidecar marked. */
	{
		struct labdaq_recover_info info;
		FILE *fp = fopen(csv, "a");

		assert_non_null(fp);
		fputs("14,0,0.5,-1", fp);
		fclose(fp);
		assert_int_equal(labdaq_file_recover(csv, &info), 0);
		assert_int_equal(info.items, 14);
		assert_int_equal(info.trailing, 11);
		assert_int_equal(info.previous_status, LABDAQ_STATE_COMPLETE);
		assert_int_equal(labdaq_file_open(csv, &f), 0);
		assert_int_equal(labdaq_file_items(f), 14);
		assert_string_equal(labdaq_file_meta_string(f, "status"), "recovered");
		labdaq_file_close(f);
	}
	/* A CSV that is not a sweep's is not recovered. */
	in_dir(csv, sizeof(csv), "plain.csv");
	write_file(csv, "a,b\n1,2\n", 8);
	assert_int_equal(labdaq_file_recover(csv, NULL), -EBADMSG);
}

/* A sweep written by labdaq 0.2 ('#' lines) is still read. */
static void test_old_sweep_csv(void **state)
{
	static const char text[] = "# labdaq sweep (format labdaq-sweep-1)\n"
				   "# device: sim:ohm\n# status: running\n"
				   "# columns: index,repeat,time_s,set_voltage0,voltage0\n"
				   "0,0,0.0,1,1\n1,0,0.1,2,2\n# status: complete\n# points: 2\n";
	labdaq_file *f = NULL;
	char csv[600];

	(void)state;
	in_dir(csv, sizeof(csv), "old.csv");
	write_file(csv, text, sizeof(text) - 1);
	assert_int_equal(labdaq_file_open(csv, &f), 0);
	assert_int_equal(labdaq_file_items(f), 2);
	assert_string_equal(labdaq_file_meta_string(f, "status"), "complete");
	labdaq_file_close(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stream_file),
		cmocka_unit_test(test_handmade_npy),
		cmocka_unit_test(test_not_ours),
		cmocka_unit_test(test_sweep_csv),
		cmocka_unit_test(test_old_sweep_csv),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
