/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_sim.c - the sim: backend, through labdaq_device_open() and the
 * backend's ops table: every byte of the documented patterns (docs/sim.md),
 * the URI keys, pacing, cancel and the fault knobs.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include <cmocka.h>

#include "internal.h"

/* The table of lib/backends/sim.c, tested here without device.c. */
extern const struct ldq_backend ldq_backend_sim;

/* ---- helpers ---- */

static char last_log[1024];

static void log_cb(int level, const char *msg, void *user)
{
	(void)level;
	(void)user;
	snprintf(last_log, sizeof(last_log), "%s", msg);
}

static struct labdaq_device *open_ok(const char *uri)
{
	labdaq_device *dev = NULL;
	int ret = labdaq_device_open(uri, &dev);

	if (ret)
		fail_msg("open %s: %d (%s): %s", uri, ret, labdaq_strerror(ret), last_log);
	assert_non_null(dev);
	return dev;
}

static int start(struct labdaq_device *dev, double rate, const unsigned int *chans,
		 unsigned int nchans, size_t item_bytes, size_t block_items)
{
	struct ldq_stream_params p = {
		.rate_hz = rate,
		.chans = chans,
		.nchans = nchans,
		.item_bytes = item_bytes,
		.block_items = block_items,
	};

	return dev->backend->stream_start(dev, &p);
}

static long rd(struct labdaq_device *dev, void *dst, size_t items, uint64_t *lost)
{
	return dev->backend->stream_read(dev, dst, items, lost);
}

static double secs_since(uint64_t t0)
{
	return (double)(ldq_now_ns() - t0) / 1e9;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int32_t le32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
			 (uint32_t)p[3] << 24);
}

/* docs/sim.md: camera pixel p (= y * W + x) of frame i */
static uint16_t cam_pixel(uint64_t i, size_t p)
{
	if (p < 4)
		return (uint16_t)(i >> (16 * p));
	return (uint16_t)(p + 7 * i);
}

/* docs/sim.md: adc channel c at sample s */
static int16_t adc_value(uint64_t s, unsigned int c)
{
	return (int16_t)(uint16_t)(s * (2 * c + 1) + 1000 * c);
}

static void check_frames(const uint8_t *buf, uint64_t first, size_t n, size_t px)
{
	for (size_t f = 0; f < n; f++) {
		const uint8_t *fr = buf + f * px * 2;

		for (size_t p = 0; p < px; p++) {
			uint16_t want = cam_pixel(first + f, p);

			if (le16(fr + 2 * p) != want)
				fail_msg("frame %llu pixel %zu: %u, want %u",
					 (unsigned long long)(first + f), p, le16(fr + 2 * p),
					 want);
		}
	}
}

static void check_adc(const uint8_t *buf, uint64_t first, size_t n, const unsigned int *chans,
		      unsigned int nchans)
{
	for (size_t k = 0; k < n; k++) {
		for (unsigned int j = 0; j < nchans; j++) {
			int16_t got = (int16_t)le16(buf + (k * nchans + j) * 2);
			int16_t want = adc_value(first + k, chans[j]);

			if (got != want)
				fail_msg("sample %llu channel %u: %d, want %d",
					 (unsigned long long)(first + k), chans[j], got, want);
		}
	}
}

/* ---- listing and opening ---- */

struct list_ctx {
	char uris[8][64];
	int n;
	int stop_at;
};

static int list_cb(const char *uri, const char *desc, void *user)
{
	struct list_ctx *c = user;

	assert_non_null(desc);
	assert_true(strlen(desc) > 10);
	snprintf(c->uris[c->n], sizeof(c->uris[0]), "%s", uri);
	c->n++;
	return c->n == c->stop_at;
}

static void test_list(void **state)
{
	struct list_ctx c = { .n = 0 };

	(void)state;
	assert_int_equal(ldq_backend_sim.list(list_cb, &c), 3);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.uris[0], "sim:camera");
	assert_string_equal(c.uris[1], "sim:adc");
	assert_string_equal(c.uris[2], "sim:ohm");

	/* every listed URI opens */
	for (int i = 0; i < 3; i++)
		labdaq_device_close(open_ok(c.uris[i]));

	/* a non-zero return stops the enumeration */
	memset(&c, 0, sizeof(c));
	c.stop_at = 1;
	assert_int_equal(ldq_backend_sim.list(list_cb, &c), 1);
	assert_int_equal(c.n, 1);
}

static void test_camera_open(void **state)
{
	struct labdaq_device *dev = open_ok("sim:camera");
	struct labdaq_channel ch;
	uint32_t w, h;

	(void)state;
	assert_int_equal(labdaq_device_kind(dev), LABDAQ_KIND_FRAMES);
	assert_int_equal(labdaq_device_frame_shape(dev, &w, &h), 0);
	assert_int_equal(w, 640);
	assert_int_equal(h, 480);
	assert_int_equal(dev->frame_dtype, LABDAQ_DTYPE_UINT16);
	assert_string_equal(labdaq_device_backend(dev), "sim");
	assert_true(strlen(labdaq_device_description(dev)) > 0);
	assert_int_equal(labdaq_device_channel_count(dev), 1);
	assert_int_equal(labdaq_device_channel(dev, 0, &ch), 0);
	assert_string_equal(ch.name, "intensity");
	assert_string_equal(ch.unit, "");
	assert_true(ch.scale == 1.0);
	assert_int_equal(ch.dtype, LABDAQ_DTYPE_UINT16);
	assert_int_equal(ch.output, 0);
	labdaq_device_close(dev);

	dev = open_ok("sim:camera?width=64&height=2");
	assert_int_equal(dev->width, 64);
	assert_int_equal(dev->height, 2);
	labdaq_device_close(dev);
}

static void test_adc_open(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc");
	struct labdaq_channel ch;

	(void)state;
	assert_int_equal(labdaq_device_kind(dev), LABDAQ_KIND_SAMPLES);
	assert_int_equal(labdaq_device_channel_count(dev), 4);
	labdaq_device_close(dev);

	dev = open_ok("sim:adc?channels=64");
	assert_int_equal(labdaq_device_channel_count(dev), 64);
	for (unsigned int c = 0; c < 64; c++) {
		char name[16];

		snprintf(name, sizeof(name), "voltage%u", c);
		assert_int_equal(labdaq_device_channel(dev, c, &ch), 0);
		assert_string_equal(ch.name, name);
		assert_string_equal(ch.unit, "V");
		assert_true(ch.scale == 0.001);
		assert_int_equal(ch.dtype, LABDAQ_DTYPE_INT16);
		assert_int_equal(ch.output, 0);
	}
	labdaq_device_close(dev);
}

static void test_ohm_open(void **state)
{
	struct labdaq_device *dev = open_ok("sim:ohm");
	static const struct {
		const char *name, *unit;
		double scale;
		int output;
	} want[] = {
		{ "voltage0", "V", 1e-6, 0 },
		{ "current0", "A", 1e-9, 0 },
		{ "voltage0", "V", 1e-6, 1 },
	};
	struct labdaq_channel ch;

	(void)state;
	assert_int_equal(labdaq_device_kind(dev), LABDAQ_KIND_SAMPLES);
	assert_int_equal(labdaq_device_channel_count(dev), 3);
	for (unsigned int i = 0; i < 3; i++) {
		assert_int_equal(labdaq_device_channel(dev, i, &ch), 0);
		assert_string_equal(ch.name, want[i].name);
		assert_string_equal(ch.unit, want[i].unit);
		assert_true(ch.scale == want[i].scale);
		assert_int_equal(ch.dtype, LABDAQ_DTYPE_INT32);
		assert_int_equal(ch.output, want[i].output);
	}
	labdaq_device_close(dev);
}

static void expect_open_fails(const char *uri, int err)
{
	labdaq_device *dev = NULL;
	int ret;

	last_log[0] = '\0';
	ret = labdaq_device_open(uri, &dev);
	if (ret != err)
		fail_msg("open %s: %d, want %d", uri, ret, err);
	assert_null(dev);
	/* every refusal says why */
	if (!last_log[0])
		fail_msg("open %s: nothing logged", uri);
}

static void test_uri_errors(void **state)
{
	static const char *const bad[] = {
		"sim:camera?bogus=1",
		"sim:camera?width=abc",
		"sim:camera?width=-5",
		"sim:camera?width=0",
		"sim:camera?height=16385",
		"sim:camera?width=1&height=3",    /* 6 bytes < the 8-byte index */
		"sim:camera?channels=2",          /* another device's key */
		"sim:adc?channels=0",
		"sim:adc?channels=65",
		"sim:adc?channels=4.5",
		"sim:adc?width=4",
		"sim:ohm?r=0",
		"sim:ohm?r=-1000",
		"sim:ohm?r=1k",
		"sim:ohm?noise=-0.1",
		"sim:ohm?noise=11",
		"sim:ohm?stall_ms=5",             /* needs stall_after */
		"sim:adc?overrun_items=5",        /* needs overrun_after */
		"sim:adc?stall_after=1&stall_ms=0",
		"sim:adc?fail_after=x",
		"sim:adc?seed=",
	};

	(void)state;
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, NULL);
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(bad); i++)
		expect_open_fails(bad[i], -EINVAL);

	expect_open_fails("sim:foo", -ENODEV);
	assert_non_null(strstr(last_log, "camera, adc, ohm"));
	expect_open_fails("sim:", -ENODEV);
	expect_open_fails("sim:camera/x", -ENODEV);

	/* the edges of the ranges are accepted */
	labdaq_device_close(open_ok("sim:camera?width=2&height=2"));
	labdaq_device_close(open_ok("sim:camera?width=16384&height=1"));
	labdaq_device_close(open_ok("sim:adc?channels=1"));
	labdaq_device_close(open_ok("sim:ohm?r=0.001&noise=0"));
	labdaq_device_close(open_ok("sim:ohm?r=1e6&noise=10&seed=18446744073709551615"));
	labdaq_device_close(open_ok("sim:adc?stall_after=0&stall_ms=1&fail_after=0"));
	labdaq_device_close(open_ok("sim:adc?overrun_after=0&overrun_items=1&seed=0"));
}

static void test_stream_start_errors(void **state)
{
	struct labdaq_device *adc = open_ok("sim:adc?channels=2");
	struct labdaq_device *ohm = open_ok("sim:ohm");
	struct labdaq_device *cam = open_ok("sim:camera?width=8&height=4");
	static const unsigned int c01[] = { 0, 1 }, c2[] = { 2 }, c5[] = { 5 };
	uint8_t buf[64];
	uint64_t lost;

	(void)state;
	/* not started */
	assert_int_equal(rd(adc, buf, 1, &lost), -EINVAL);

	assert_int_equal(start(adc, 0, c01, 2, 2, 1), -EINVAL);      /* item size */
	assert_int_equal(start(adc, 0, c01, 0, 0, 1), -EINVAL);      /* no channel */
	assert_int_equal(start(adc, 0, c5, 1, 2, 1), -EINVAL);       /* no such channel */
	assert_int_equal(start(adc, -1, c01, 2, 4, 1), -EINVAL);     /* rate */
	assert_int_equal(start(adc, NAN, c01, 2, 4, 1), -EINVAL);
	assert_int_equal(start(adc, INFINITY, c01, 2, 4, 1), -EINVAL);
	assert_int_equal(start(adc, 0, c01, 2, 4, 0), -EINVAL);      /* block */
	assert_int_equal(start(adc, 0, c01, 2, 4, 1), 0);
	adc->backend->stream_stop(adc);
	assert_int_equal(rd(adc, buf, 1, &lost), -EINVAL);           /* stopped */

	assert_int_equal(start(ohm, 0, c2, 1, 4, 1), -EINVAL);       /* an output */
	assert_int_equal(start(ohm, 0, c01, 2, 4, 1), -EINVAL);      /* int32: 8 bytes */
	assert_int_equal(start(ohm, 0, c01, 2, 8, 1), 0);
	ohm->backend->stream_stop(ohm);

	assert_int_equal(start(cam, 0, NULL, 0, 63, 1), -EINVAL);
	assert_int_equal(start(cam, 0, NULL, 0, 64, 1), 0);
	assert_int_equal(rd(cam, buf, 1, &lost), 1);
	cam->backend->stream_stop(cam);

	labdaq_device_close(adc);
	labdaq_device_close(ohm);
	labdaq_device_close(cam);
}

/* ---- data, byte for byte ---- */

static void camera_frames(const char *uri, size_t w, size_t h, size_t block, int reads)
{
	struct labdaq_device *dev = open_ok(uri);
	size_t px = w * h;
	uint8_t *buf = malloc(block * px * 2);
	uint64_t next = 0, lost = 99;

	assert_non_null(buf);
	assert_int_equal(start(dev, 0, NULL, 0, px * 2, block), 0);
	for (int r = 0; r < reads; r++) {
		long n = rd(dev, buf, block, &lost);

		/* unpaced: every read returns all it was asked for */
		assert_int_equal(n, (long)block);
		assert_int_equal(lost, 0);
		check_frames(buf, next, (size_t)n, px);
		next += (uint64_t)n;
	}
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
	free(buf);
}

static void test_camera_data(void **state)
{
	(void)state;
	camera_frames("sim:camera?width=37&height=5", 37, 5, 4, 3);
	camera_frames("sim:camera?width=2&height=2", 2, 2, 7, 3);
	/* more than one period of the ramp (65536 pixels) per frame */
	camera_frames("sim:camera?width=300&height=300", 300, 300, 2, 3);
	/* the default geometry, many frames: the ramp's offset wraps */
	camera_frames("sim:camera", 640, 480, 1, 20);
}

/* The frame index is the full 64-bit counter; frame 10000 wraps 7 * i. */
static void test_camera_far_frames(void **state)
{
	const char *uri = "sim:camera?width=16&height=16&overrun_after=0&overrun_items=10000";
	struct labdaq_device *dev = open_ok(uri);
	uint8_t buf[16 * 16 * 2 * 3];
	uint64_t lost = 0;

	(void)state;
	assert_int_equal(start(dev, 0, NULL, 0, sizeof(buf) / 3, 3), 0);
	assert_int_equal(rd(dev, buf, 3, &lost), 3);
	assert_int_equal(lost, 10000);
	check_frames(buf, 10000, 3, 256);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

static void test_adc_data(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=8");
	static const unsigned int chans[] = { 5, 0, 7 };
	const size_t block = 1000;
	uint8_t *buf = malloc(block * 3 * 2);
	uint64_t next = 0, lost;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(start(dev, 0, chans, 3, 6, block), 0);
	/* past 65536 samples: the pattern wraps */
	for (int r = 0; r < 70; r++) {
		long n = rd(dev, buf, block, &lost);

		assert_int_equal(n, (long)block);
		assert_int_equal(lost, 0);
		check_adc(buf, next, (size_t)n, chans, 3);
		next += (uint64_t)n;
	}
	/* fewer than a block */
	assert_int_equal(rd(dev, buf, 5, &lost), 5);
	check_adc(buf, next, 5, chans, 3);
	dev->backend->stream_stop(dev);

	/* a new stream starts again at sample 0 */
	assert_int_equal(start(dev, 0, chans + 1, 1, 2, block), 0);
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	check_adc(buf, 0, 10, chans + 1, 1);
	dev->backend->stream_stop(dev);

	labdaq_device_close(dev);
	free(buf);
}

/* Each channel takes every int16 value once in 65536 samples. */
static void test_adc_no_repeat(void **state)
{
	static uint8_t seen[65536];

	(void)state;
	for (unsigned int c = 0; c < 64; c += 9) {
		memset(seen, 0, sizeof(seen));
		for (uint64_t s = 123456; s < 123456 + 65536; s++) {
			uint16_t v = (uint16_t)adc_value(s, c);

			assert_int_equal(seen[v], 0);
			seen[v] = 1;
		}
	}
}

static void test_adc_read_inputs(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=3");
	static const unsigned int chans[] = { 2, 0 };
	double v[2];

	(void)state;
	for (uint64_t k = 0; k < 5; k++) {
		assert_int_equal(dev->backend->read_inputs(dev, chans, 2, v), 0);
		assert_true(v[0] == adc_value(k, 2) * 0.001);
		assert_true(v[1] == adc_value(k, 0) * 0.001);
	}
	assert_int_equal(dev->backend->write_output(dev, 0, 1.0), -EOPNOTSUPP);
	labdaq_device_close(dev);
}

/* ---- the Ohm's-law rig ---- */

static void test_ohm_law(void **state)
{
	struct labdaq_device *dev = open_ok("sim:ohm?r=1000");
	static const unsigned int chans[] = { 0, 1, 2 };
	const int n = 1000;
	double sv = 0, si = 0, v[3];

	(void)state;
	assert_int_equal(dev->backend->write_output(dev, 2, 1.0), 0);
	for (int k = 0; k < n; k++) {
		assert_int_equal(dev->backend->read_inputs(dev, chans, 3, v), 0);
		sv += v[0];
		si += v[1];
		assert_true(v[2] == 1.0);     /* the set value reads back */
	}
	sv /= n;
	si /= n;
	assert_true(fabs(sv - 1.0) < 0.01);
	assert_true(fabs(si - 1e-3) < 1e-5);
	assert_true(fabs(sv / si - 1000) < 10);

	/* a sweep's worth of points lies on V / R */
	for (double set = -5; set <= 5; set += 1.25) {
		assert_int_equal(dev->backend->write_output(dev, 2, set), 0);
		assert_int_equal(dev->backend->read_inputs(dev, chans, 3, v), 0);
		assert_true(fabs(v[0] - set) < 0.01);
		assert_true(fabs(v[1] - set / 1000) < 1e-5);
	}

	/* out of range, not an output, not a number */
	assert_int_equal(dev->backend->write_output(dev, 2, 10.0), 0);
	assert_int_equal(dev->backend->write_output(dev, 2, -10.0), 0);
	assert_int_equal(dev->backend->write_output(dev, 2, 10.001), -ERANGE);
	assert_int_equal(dev->backend->write_output(dev, 2, -11), -ERANGE);
	assert_int_equal(dev->backend->write_output(dev, 0, 1.0), -EINVAL);
	assert_int_equal(dev->backend->write_output(dev, 1, 1.0), -EINVAL);
	assert_int_equal(dev->backend->write_output(dev, 3, 1.0), -EINVAL);
	assert_int_equal(dev->backend->write_output(dev, 2, NAN), -EINVAL);
	{
		static const unsigned int bad[] = { 0, 3 };

		assert_int_equal(dev->backend->read_inputs(dev, bad, 2, v), -EINVAL);
	}
	labdaq_device_close(dev);
}

static void ohm_stream(const char *uri, double set, unsigned int nread, uint8_t *buf)
{
	struct labdaq_device *dev = open_ok(uri);
	static const unsigned int chans[] = { 1, 0 }; /* current first */
	uint64_t lost;

	assert_int_equal(dev->backend->write_output(dev, 2, set), 0);
	assert_int_equal(start(dev, 0, chans, 2, 8, nread), 0);
	assert_int_equal(rd(dev, buf, nread, &lost), (long)nread);
	assert_int_equal(lost, 0);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

static void test_ohm_stream(void **state)
{
	const unsigned int n = 20000;
	uint8_t *a = malloc(n * 8), *b = malloc(n * 8);
	double mi = 0, mv = 0, vv = 0;

	(void)state;
	assert_non_null(a);
	assert_non_null(b);
	ohm_stream("sim:ohm?r=1000&noise=0.01", 2.5, n, a);
	for (unsigned int k = 0; k < n; k++) {
		mi += le32(a + 8 * k) * 1e-9;
		mv += le32(a + 8 * k + 4) * 1e-6;
	}
	mi /= n;
	mv /= n;
	for (unsigned int k = 0; k < n; k++) {
		double d = le32(a + 8 * k + 4) * 1e-6 - mv;

		vv += d * d;
	}
	assert_true(fabs(mv - 2.5) < 0.001);
	assert_true(fabs(mi - 2.5e-3) < 2.5e-5);
	/* the noise has the asked standard deviation */
	assert_true(fabs(sqrt(vv / (n - 1)) - 0.01) < 0.0005);

	/* the same seed (the default is 1) gives the same data; another does not */
	ohm_stream("sim:ohm?r=1000&noise=0.01&seed=1", 2.5, n, b);
	assert_memory_equal(a, b, n * 8);
	ohm_stream("sim:ohm?r=1000&noise=0.01&seed=2", 2.5, n, b);
	assert_memory_not_equal(a, b, n * 8);

	/* without noise, exact counts of 1 nA and 1 uV */
	ohm_stream("sim:ohm?r=1000&noise=0", -2.5, 10, a);
	for (unsigned int k = 0; k < 10; k++) {
		assert_int_equal(le32(a + 8 * k), -2500000);
		assert_int_equal(le32(a + 8 * k + 4), -2500000);
	}
	/* a small R saturates the current at the int32 limit */
	ohm_stream("sim:ohm?r=1&noise=0", 10, 1, a);
	assert_int_equal(le32(a), INT32_MAX);
	free(a);
	free(b);
}

/* The k-th read_inputs() is item k of the stream: one formula. */
static void test_ohm_read_matches_stream(void **state)
{
	struct labdaq_device *dev = open_ok("sim:ohm?seed=77&noise=0.1");
	static const unsigned int chans[] = { 0, 1 };
	uint8_t buf[8 * 6];
	uint64_t lost;
	double v[2];

	(void)state;
	assert_int_equal(dev->backend->write_output(dev, 2, 0.5), 0);
	assert_int_equal(start(dev, 0, chans, 2, 8, 6), 0);
	assert_int_equal(rd(dev, buf, 6, &lost), 6);
	dev->backend->stream_stop(dev);
	for (int k = 0; k < 6; k++) {
		assert_int_equal(dev->backend->read_inputs(dev, chans, 2, v), 0);
		assert_true(v[0] == le32(buf + 8 * k) * 1e-6);
		assert_true(v[1] == le32(buf + 8 * k + 4) * 1e-9);
	}
	labdaq_device_close(dev);
}

static void test_camera_no_step_ops(void **state)
{
	struct labdaq_device *dev = open_ok("sim:camera");
	static const unsigned int c0[] = { 0 };
	double v;

	(void)state;
	assert_int_equal(dev->backend->write_output(dev, 0, 1.0), -EOPNOTSUPP);
	assert_int_equal(dev->backend->read_inputs(dev, c0, 1, &v), -EOPNOTSUPP);
	labdaq_device_close(dev);
}

/* ---- pacing ---- */

static void test_pacing(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=1");
	static const unsigned int c0[] = { 0 };
	uint8_t buf[2 * 100];
	uint64_t next = 0, lost, t0;
	long n;
	double dt;

	(void)state;
	/* 200 items at 1 kHz take about 0.2 s */
	assert_int_equal(start(dev, 1000, c0, 1, 2, 10), 0);
	t0 = ldq_now_ns();
	while (next < 200) {
		n = rd(dev, buf, 10, &lost);
		assert_true(n >= 1 && n <= 10);
		check_adc(buf, next, (size_t)n, c0, 1);
		next += (uint64_t)n;
	}
	dt = secs_since(t0);
	if (dt < 0.15 || dt > 1.5)
		fail_msg("200 items at 1 kHz took %.3f s", dt);
	dev->backend->stream_stop(dev);

	/*
	 * Slow rate, big block: a read returns what is due (at least one
	 * item) within about 10 ms rather than wait for the whole block.
	 */
	assert_int_equal(start(dev, 10, c0, 1, 2, 100), 0);
	t0 = ldq_now_ns();
	n = rd(dev, buf, 100, &lost);
	assert_int_equal(n, 1);                      /* item 0, due at once */
	n = rd(dev, buf, 100, &lost);                /* item 1, due at 0.1 s */
	assert_int_equal(n, 1);
	check_adc(buf, 1, 1, c0, 1);
	dt = secs_since(t0);
	if (dt < 0.09 || dt > 1.0)
		fail_msg("item 1 at 10 Hz came after %.3f s", dt);

	/* behind schedule: the due items come at once (catch-up) */
	sleep_ms(400);
	t0 = ldq_now_ns();
	n = rd(dev, buf, 100, &lost);
	dt = secs_since(t0);
	assert_true(n >= 4 && n <= 100);
	check_adc(buf, 2, (size_t)n, c0, 1);
	if (dt > 0.5)
		fail_msg("catching up took %.3f s", dt);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

/* ---- cancel ---- */

struct canceller {
	struct labdaq_device *dev;
	unsigned int after_ms;
	pthread_t thread;
};

static void *cancel_thread(void *arg)
{
	struct canceller *c = arg;

	sleep_ms(c->after_ms);
	c->dev->backend->stream_cancel(c->dev);
	return NULL;
}

static void cancel_later(struct canceller *c, struct labdaq_device *dev, unsigned int ms)
{
	c->dev = dev;
	c->after_ms = ms;
	assert_int_equal(pthread_create(&c->thread, NULL, cancel_thread, c), 0);
}

static void test_cancel(void **state)
{
	struct labdaq_device *dev = open_ok("sim:camera?width=4&height=4");
	struct canceller c;
	uint8_t buf[32];
	uint64_t lost, t0;
	double dt;

	(void)state;
	/* 0.5 Hz: frame 0 at once, frame 1 due in 2 s; cancel after 0.1 s */
	assert_int_equal(start(dev, 0.5, NULL, 0, 32, 1), 0);
	assert_int_equal(rd(dev, buf, 1, &lost), 1);
	check_frames(buf, 0, 1, 16);
	t0 = ldq_now_ns();
	cancel_later(&c, dev, 100);
	assert_int_equal(rd(dev, buf, 1, &lost), -ECANCELED);
	dt = secs_since(t0);
	pthread_join(c.thread, NULL);
	if (dt < 0.05 || dt > 1.0)
		fail_msg("cancel took %.3f s", dt);
	/* cancelled until the next stream_start() */
	assert_int_equal(rd(dev, buf, 1, &lost), -ECANCELED);
	dev->backend->stream_stop(dev);
	assert_int_equal(start(dev, 0, NULL, 0, 32, 1), 0);
	assert_int_equal(rd(dev, buf, 1, &lost), 1);
	check_frames(buf, 0, 1, 16);

	/* a cancel before the read, unpaced */
	dev->backend->stream_cancel(dev);
	assert_int_equal(rd(dev, buf, 1, &lost), -ECANCELED);
	dev->backend->stream_stop(dev);

	/*
	 * A cancel while idle is forgotten by stream_start(), and the
	 * eventfd left readable does not make the next wait spin.
	 */
	dev->backend->stream_cancel(dev);
	assert_int_equal(start(dev, 10, NULL, 0, 32, 1), 0);
	t0 = ldq_now_ns();
	assert_int_equal(rd(dev, buf, 1, &lost), 1);
	assert_int_equal(rd(dev, buf, 1, &lost), 1);
	dt = secs_since(t0);
	assert_true(dt > 0.08);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

/* ---- fault knobs ---- */

static void test_fail_after(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=2&fail_after=3");
	static const unsigned int chans[] = { 0, 1 };
	uint8_t buf[4 * 10];
	uint64_t lost;

	(void)state;
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, NULL);
	assert_int_equal(start(dev, 0, chans, 2, 4, 10), 0);
	for (int r = 0; r < 3; r++) {
		assert_int_equal(rd(dev, buf, 10, &lost), 10);
		check_adc(buf, (uint64_t)r * 10, 10, chans, 2);
	}
	last_log[0] = '\0';
	assert_int_equal(rd(dev, buf, 10, &lost), -ENODEV);
	assert_non_null(strstr(last_log, "lost"));
	assert_int_equal(rd(dev, buf, 10, &lost), -ENODEV);   /* gone for good */
	dev->backend->stream_stop(dev);

	/* a new stream: the device is back, counting blocks afresh */
	assert_int_equal(start(dev, 0, chans, 2, 4, 10), 0);
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	check_adc(buf, 0, 10, chans, 2);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);

	/* fail_after=0: the very first read */
	dev = open_ok("sim:camera?width=2&height=2&fail_after=0");
	assert_int_equal(start(dev, 0, NULL, 0, 8, 1), 0);
	assert_int_equal(rd(dev, buf, 1, &lost), -ENODEV);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

static void test_overrun(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=2&overrun_after=2&overrun_items=100");
	static const unsigned int chans[] = { 1, 0 };
	uint8_t buf[64 * 8 * 8];
	uint64_t lost = 99;

	(void)state;
	assert_int_equal(start(dev, 0, chans, 2, 4, 10), 0);
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_int_equal(lost, 0);
	check_adc(buf, 0, 10, chans, 2);
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_int_equal(lost, 0);
	check_adc(buf, 10, 10, chans, 2);
	/* samples 20..119 are lost: reported, and the data jumps */
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_int_equal(lost, 100);
	check_adc(buf, 120, 10, chans, 2);
	/* once per stream */
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_int_equal(lost, 0);
	check_adc(buf, 130, 10, chans, 2);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);

	/* the camera: by default one block's worth of frames is lost */
	dev = open_ok("sim:camera?width=8&height=8&overrun_after=1");
	assert_int_equal(start(dev, 0, NULL, 0, 128, 3), 0);
	assert_int_equal(rd(dev, buf, 3, &lost), 3);
	assert_int_equal(lost, 0);
	check_frames(buf, 0, 3, 64);
	assert_int_equal(rd(dev, buf, 3, &lost), 3);
	assert_int_equal(lost, 3);
	check_frames(buf, 6, 3, 64);
	assert_int_equal(le16(buf), 6);             /* the frame index skips */
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

/*
 * Lost items keep their time slots: a paced read after a gap waits for the
 * first item after it.
 */
static void test_overrun_paced(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=1&overrun_after=1&overrun_items=20");
	static const unsigned int c0[] = { 0 };
	uint8_t buf[2 * 10];
	uint64_t lost, t0;
	double dt;

	(void)state;
	assert_int_equal(start(dev, 100, c0, 1, 2, 1), 0);
	t0 = ldq_now_ns();
	assert_int_equal(rd(dev, buf, 1, &lost), 1);
	assert_int_equal(rd(dev, buf, 1, &lost), 1);
	assert_int_equal(lost, 20);
	check_adc(buf, 21, 1, c0, 1);
	dt = secs_since(t0);
	if (dt < 0.18 || dt > 1.5)
		fail_msg("item 21 at 100 Hz came after %.3f s", dt);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

static void test_stall(void **state)
{
	struct labdaq_device *dev = open_ok("sim:adc?channels=1&stall_after=2&stall_ms=300");
	static const unsigned int c0[] = { 0 };
	struct canceller c;
	uint8_t buf[2 * 10];
	uint64_t lost, t0;
	double dt;

	(void)state;
	assert_int_equal(start(dev, 0, c0, 1, 2, 10), 0);
	t0 = ldq_now_ns();
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_true(secs_since(t0) < 0.2);
	t0 = ldq_now_ns();
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	dt = secs_since(t0);
	if (dt < 0.28 || dt > 2.0)
		fail_msg("the 300 ms stall took %.3f s", dt);
	/* nothing is lost by a stall */
	assert_int_equal(lost, 0);
	check_adc(buf, 20, 10, c0, 1);
	/* once */
	t0 = ldq_now_ns();
	assert_int_equal(rd(dev, buf, 10, &lost), 10);
	assert_true(secs_since(t0) < 0.2);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);

	/* a long stall is interruptible */
	dev = open_ok("sim:camera?width=2&height=2&stall_after=0&stall_ms=60000");
	assert_int_equal(start(dev, 0, NULL, 0, 8, 1), 0);
	t0 = ldq_now_ns();
	cancel_later(&c, dev, 100);
	assert_int_equal(rd(dev, buf, 1, &lost), -ECANCELED);
	dt = secs_since(t0);
	pthread_join(c.thread, NULL);
	if (dt > 2.0)
		fail_msg("cancelling a stall took %.3f s", dt);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
}

/*
 * At rate 0, the camera is not the bottleneck: a rough floor, far below
 * what it does, only to catch an accidental slow path.
 */
static void test_camera_unpaced_fast(void **state)
{
	struct labdaq_device *dev = open_ok("sim:camera?width=1024&height=1024");
	const size_t fb = 1024 * 1024 * 2;
	uint8_t *buf = malloc(4 * fb);
	uint64_t lost, t0, bytes = 0;
	double dt;

	(void)state;
	assert_non_null(buf);
	assert_int_equal(start(dev, 0, NULL, 0, fb, 4), 0);
	t0 = ldq_now_ns();
	while (secs_since(t0) < 0.3)
		bytes += (uint64_t)rd(dev, buf, 4, &lost) * fb;
	dt = secs_since(t0);
	print_message("# camera, unpaced: %.2f GB/s\n", (double)bytes / dt / 1e9);
	assert_true((double)bytes / dt > 50e6);
	dev->backend->stream_stop(dev);
	labdaq_device_close(dev);
	free(buf);
}

static int setup(void **state)
{
	(void)state;
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, NULL);
	return 0;
}

static int count_attr(const struct labdaq_attr *a, void *user)
{
	char *names = user;

	strcat(names, a->name);
	strcat(names, a->available ? "* " : " ");
	return 0;
}

/* The sim's attributes: listed, read, written, checked; refused during a run. */
static void test_attrs(void **state)
{
	labdaq_device *dev = NULL;
	labdaq_run_config *rc = NULL;
	labdaq_run *run = NULL;
	char names[512] = "", buf[64];

	(void)state;
	assert_int_equal(labdaq_device_open("sim:ohm?r=1000", &dev), 0);
	assert_int_equal(labdaq_device_attrs(dev, count_attr, names), 4);
	assert_string_equal(names, "seed r* noise* out_voltage0* ");
	assert_int_equal(labdaq_device_attr_read(dev, "r", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "1000");
	assert_int_equal(labdaq_device_attr_write(dev, "r", "2500.5"), 0);
	assert_int_equal(labdaq_device_attr_read(dev, "r", buf, sizeof(buf)), 6);
	assert_string_equal(buf, "2500.5");
	assert_int_equal(labdaq_device_attr_write(dev, "r", "0"), -ERANGE);
	assert_int_equal(labdaq_device_attr_write(dev, "r", "12x"), -EINVAL);
	assert_int_equal(labdaq_device_attr_write(dev, "seed", "2"), -EACCES);
	assert_int_equal(labdaq_device_attr_read(dev, "width", buf, sizeof(buf)), -ENOENT);
	assert_int_equal(labdaq_device_attr_write(dev, "out_voltage0", "11"), -ERANGE);
	assert_int_equal(labdaq_device_attr_write(dev, "out_voltage0", "1.5"), 0);
	assert_int_equal(labdaq_device_attr_read(dev, "out_voltage0", buf, sizeof(buf)), 3);
	assert_string_equal(buf, "1.5");
	labdaq_device_close(dev);

	/* A run holds the device: attributes wait; --attr is checked and set. */
	assert_int_equal(labdaq_device_open("sim:adc?channels=2", &dev), 0);
	assert_int_equal(labdaq_run_config_new(&rc), 0);
	labdaq_run_config_set_path(rc, "/tmp/labdaq-test-sim-attrs.npy");
	labdaq_run_config_set_overwrite(rc, 1);
	labdaq_run_config_set_rate_hz(rc, 100);
	labdaq_run_config_set_count(rc, 20);
	assert_int_equal(labdaq_run_config_set_attr(rc, "colour", "red"), 0);
	assert_int_equal(labdaq_run_check(dev, rc), -EINVAL);
	assert_int_equal(labdaq_run_config_set_attr(rc, "bad name", "1"), -EINVAL);
	labdaq_run_config_free(rc);
	assert_int_equal(labdaq_run_config_new(&rc), 0);
	labdaq_run_config_set_path(rc, "/tmp/labdaq-test-sim-attrs.npy");
	labdaq_run_config_set_overwrite(rc, 1);
	labdaq_run_config_set_rate_hz(rc, 100);
	labdaq_run_config_set_count(rc, 20);
	assert_int_equal(labdaq_run_config_set_attr(rc, "offset", "-3"), 0);
	assert_int_equal(labdaq_run_start(dev, rc, &run), 0);
	assert_int_equal(labdaq_device_attr_read(dev, "offset", buf, sizeof(buf)), -EBUSY);
	{
		double off = 0;

		assert_int_equal(labdaq_run_channel_offset(run, 1, &off), 0);
		assert_true(off == -3);
	}
	assert_int_equal(labdaq_run_wait(run, 5000), 0);
	labdaq_run_free(run);
	assert_int_equal(labdaq_device_attr_read(dev, "offset", buf, sizeof(buf)), 2);
	assert_string_equal(buf, "-3");
	labdaq_run_config_free(rc);
	labdaq_device_close(dev);
	unlink("/tmp/labdaq-test-sim-attrs.npy");
	unlink("/tmp/labdaq-test-sim-attrs.json");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_list, setup),
		cmocka_unit_test_setup(test_attrs, setup),
		cmocka_unit_test_setup(test_camera_open, setup),
		cmocka_unit_test_setup(test_adc_open, setup),
		cmocka_unit_test_setup(test_ohm_open, setup),
		cmocka_unit_test_setup(test_uri_errors, setup),
		cmocka_unit_test_setup(test_stream_start_errors, setup),
		cmocka_unit_test_setup(test_camera_data, setup),
		cmocka_unit_test_setup(test_camera_far_frames, setup),
		cmocka_unit_test_setup(test_adc_data, setup),
		cmocka_unit_test_setup(test_adc_no_repeat, setup),
		cmocka_unit_test_setup(test_adc_read_inputs, setup),
		cmocka_unit_test_setup(test_ohm_law, setup),
		cmocka_unit_test_setup(test_ohm_stream, setup),
		cmocka_unit_test_setup(test_ohm_read_matches_stream, setup),
		cmocka_unit_test_setup(test_camera_no_step_ops, setup),
		cmocka_unit_test_setup(test_pacing, setup),
		cmocka_unit_test_setup(test_cancel, setup),
		cmocka_unit_test_setup(test_fail_after, setup),
		cmocka_unit_test_setup(test_overrun, setup),
		cmocka_unit_test_setup(test_overrun_paced, setup),
		cmocka_unit_test_setup(test_stall, setup),
		cmocka_unit_test_setup(test_camera_unpaced_fast, setup),
	};

	return cmocka_run_group_tests_name("sim", tests, NULL, NULL);
}
