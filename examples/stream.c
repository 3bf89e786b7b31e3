// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * stream.c - the smallest complete use of liblabdaq: stream a device into a
 * .npy file without blocking, show progress and the newest value in its
 * physical unit, stop on count, and report how the run ended.  It works on
 * any device: the values' type and the item's size come from the run.
 *
 *   cc -Wall -Wextra stream.c $(pkg-config --cflags --libs labdaq) -o stream
 *   ./stream 'sim:adc?channels=2' out.npy [COUNT]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <labdaq.h>

static void log_cb(int level, const char *msg, void *user)
{
	(void)user;
	fprintf(stderr, "liblabdaq: %s%s\n", level == LABDAQ_LOG_ERROR ? "error: " : "", msg);
}

/* The value at @p, stored as @dtype, as a double. */
static double value_at(const unsigned char *p, int dtype)
{
	union {
		int16_t i16;
		uint16_t u16;
		int32_t i32;
		uint32_t u32;
		int64_t i64;
		double f64;
	} v;

	memcpy(&v, p, labdaq_dtype_size(dtype));
	switch (dtype) {
	case LABDAQ_DTYPE_INT16:
		return v.i16;
	case LABDAQ_DTYPE_UINT16:
		return v.u16;
	case LABDAQ_DTYPE_INT32:
		return v.i32;
	case LABDAQ_DTYPE_UINT32:
		return v.u32;
	case LABDAQ_DTYPE_INT64:
		return (double)v.i64;
	default:
		return v.f64;
	}
}

/* The first value of the newest item: "voltage0 = 0.123 V (raw 123)". */
static void show_latest(labdaq_run *run, labdaq_device *dev, unsigned char *item,
			size_t item_bytes, int dtype)
{
	struct labdaq_channel ch = { .name = "pixel0", .unit = "", .scale = 1 };
	double offset = 0, raw;
	uint64_t index;

	if (labdaq_run_latest(run, item, item_bytes, &index, NULL) < (int)item_bytes)
		return;
	/* A stream's first column; a frames device: its first pixel. */
	if (labdaq_run_channel(run, 0, &ch) == 0)
		labdaq_run_channel_offset(run, 0, &offset);
	else if (labdaq_device_channel(dev, 0, &ch) == 0)
		ch.name = "pixel0";
	raw = value_at(item, dtype);
	printf("item %llu: %s = %.9g %s (raw %.0f)\n", (unsigned long long)index, ch.name,
	       (raw + offset) * ch.scale, ch.unit, raw);
}

int main(int argc, char **argv)
{
	labdaq_run_config *cfg;
	struct labdaq_progress p;
	struct labdaq_channel ch;
	unsigned char *item = NULL;
	labdaq_device *dev;
	labdaq_run *run;
	unsigned long long count = argc > 3 ? strtoull(argv[3], NULL, 10) : 2000;
	int ret, dtype;

	if (argc < 3 || argc > 4 || !count) {
		fprintf(stderr, "usage: %s DEVICE FILE.npy [COUNT]\n", argv[0]);
		return 2;
	}
	labdaq_set_log(log_cb, LABDAQ_LOG_WARNING, NULL);
	ret = labdaq_device_open(argv[1], &dev);
	if (ret) {
		fprintf(stderr, "%s: %s\n", argv[1], labdaq_strerror(ret));
		return 1;
	}
	/* The configuration: an object with setters, so that it can grow. */
	ret = labdaq_run_config_new(&cfg);
	if (!ret)
		ret = labdaq_run_config_set_path(cfg, argv[2]);
	if (!ret)
		ret = labdaq_run_config_set_rate_hz(cfg, 1000);
	if (!ret)
		ret = labdaq_run_config_set_count(cfg, count);
	if (!ret)
		ret = labdaq_run_config_set_ring_bytes(cfg, 16 << 20);
	if (!ret)
		ret = labdaq_run_start(dev, cfg, &run);
	labdaq_run_config_free(cfg); /* the run keeps its own copy */
	if (ret) {
		fprintf(stderr, "start: %s\n", labdaq_last_error() ? labdaq_last_error() :
			labdaq_strerror(ret));
		labdaq_device_close(dev);
		return 1;
	}
	/* The values' type: the run's first column, or a frame's pixels. */
	if (labdaq_run_channel(run, 0, &ch) && labdaq_device_channel(dev, 0, &ch))
		ch.dtype = LABDAQ_DTYPE_UINT16;
	dtype = ch.dtype;
	labdaq_run_progress(run, &p);
	item = malloc(p.item_bytes);
	/* The caller is free: poll, draw, talk to other instruments... */
	while (labdaq_run_wait(run, 200) == -ETIMEDOUT) {
		labdaq_run_progress(run, &p);
		printf("%llu/%llu items\n", (unsigned long long)p.acquired,
		       (unsigned long long)p.target);
		if (item)
			show_latest(run, dev, item, p.item_bytes, dtype);
	}
	labdaq_run_progress(run, &p);
	if (item)
		show_latest(run, dev, item, p.item_bytes, dtype);
	printf("%s: %llu written, %llu dropped (%s, %llu bytes per item)\n",
	       labdaq_state_name(p.state), (unsigned long long)p.written,
	       (unsigned long long)p.dropped, labdaq_dtype_numpy(dtype),
	       (unsigned long long)p.item_bytes);
	ret = p.state == LABDAQ_STATE_COMPLETE ? 0 : 1;
	free(item);
	labdaq_run_free(run);
	labdaq_device_close(dev);
	return ret;
}
