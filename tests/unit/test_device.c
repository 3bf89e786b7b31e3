/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_device.c - opening devices by URI through the public API (lib/device.c
 * with the sim: backend), the channel and geometry getters, listing, the
 * error, state and dtype tables, and the library's logging rules: messages
 * go to the callback and nothing is ever printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "labdaq.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the log ---- */

struct logged {
	int n;
	int level;
	char msg[1024];
	void *user;
};

static struct logged logged;

static void log_cb(int level, const char *msg, void *user)
{
	logged.n++;
	logged.level = level;
	logged.user = user;
	snprintf(logged.msg, sizeof(logged.msg), "%s", msg);
}

static int setup(void **state)
{
	(void)state;
	memset(&logged, 0, sizeof(logged));
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, &logged);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	labdaq_set_log(NULL, LABDAQ_LOG_ERROR, NULL);
	return 0;
}

static labdaq_device *open_ok(const char *uri)
{
	labdaq_device *dev = NULL;
	int ret = labdaq_device_open(uri, &dev);

	if (ret)
		fail_msg("open %s: %d (%s): %s", uri, ret, labdaq_strerror(ret), logged.msg);
	assert_non_null(dev);
	return dev;
}

/* Opening @uri fails with @want, leaves *out NULL and logs why. */
static void open_fails(const char *uri, int want, const char *log_names)
{
	labdaq_device *dev = (labdaq_device *)&dev;
	int ret;

	logged.n = 0;
	logged.msg[0] = '\0';
	ret = labdaq_device_open(uri, &dev);
	if (ret != want) {
		if (!ret)
			labdaq_device_close(dev);
		fail_msg("open %s: %d (%s), want %d (%s)", uri ? uri : "(null)", ret,
			 labdaq_strerror(ret), want, labdaq_strerror(want));
	}
	if (dev)
		fail_msg("open %s failed but *out is %p", uri, (void *)dev);
	if (log_names && !strstr(logged.msg, log_names))
		fail_msg("open %s: the log \"%s\" does not name \"%s\"", uri, logged.msg,
			 log_names);
	if (uri && logged.n < 1)
		fail_msg("open %s: nothing logged", uri);
}

/* ---- opening ---- */

static void test_open_camera(void **state)
{
	labdaq_device *dev;
	struct labdaq_channel ch;
	uint32_t w = 0, h = 0;

	(void)state;
	dev = open_ok("sim:camera");
	assert_string_equal(labdaq_device_uri(dev), "sim:camera");
	assert_string_equal(labdaq_device_backend(dev), "sim");
	assert_true(strlen(labdaq_device_description(dev)) > 0);
	assert_int_equal(labdaq_device_kind(dev), LABDAQ_KIND_FRAMES);
	assert_int_equal(labdaq_device_frame_shape(dev, &w, &h), 0);
	assert_int_equal(w, 640);
	assert_int_equal(h, 480);
	assert_int_equal(labdaq_device_channel_count(dev), 1);
	assert_int_equal(labdaq_device_channel(dev, 0, &ch), 0);
	assert_string_equal(ch.name, "intensity");
	assert_string_equal(ch.unit, "");
	assert_true(ch.scale == 1.0);
	assert_int_equal(ch.dtype, LABDAQ_DTYPE_UINT16);
	assert_int_equal(ch.output, 0);
	assert_int_equal(labdaq_device_channel(dev, 1, &ch), -ERANGE);
	labdaq_device_close(dev);

	dev = open_ok("sim:camera?width=64&height=48");
	assert_string_equal(labdaq_device_uri(dev), "sim:camera?width=64&height=48");
	assert_int_equal(labdaq_device_frame_shape(dev, &w, &h), 0);
	assert_int_equal(w, 64);
	assert_int_equal(h, 48);
	assert_non_null(strstr(labdaq_device_description(dev), "64x48"));
	labdaq_device_close(dev);

	/* the extremes of the documented ranges */
	dev = open_ok("sim:camera?width=4&height=1");
	labdaq_device_close(dev);
	dev = open_ok("sim:camera?width=16384&height=1");
	labdaq_device_close(dev);
	assert_int_equal(logged.n, 0);
}

static void test_open_adc(void **state)
{
	labdaq_device *dev;
	struct labdaq_channel ch;
	uint32_t w = 7, h = 7;

	(void)state;
	dev = open_ok("sim:adc");
	assert_int_equal(labdaq_device_kind(dev), LABDAQ_KIND_SAMPLES);
	assert_int_equal(labdaq_device_channel_count(dev), 4);
	assert_int_equal(labdaq_device_frame_shape(dev, &w, &h), -EOPNOTSUPP);
	assert_int_equal(w, 7);
	assert_int_equal(h, 7);
	labdaq_device_close(dev);

	dev = open_ok("sim:adc?channels=3");
	assert_int_equal(labdaq_device_channel_count(dev), 3);
	for (unsigned int i = 0; i < 3; i++) {
		char name[16];

		snprintf(name, sizeof(name), "voltage%u", i);
		assert_int_equal(labdaq_device_channel(dev, i, &ch), 0);
		assert_string_equal(ch.name, name);
		assert_string_equal(ch.unit, "V");
		assert_true(ch.scale == 0.001);
		assert_int_equal(ch.dtype, LABDAQ_DTYPE_INT16);
		assert_int_equal(ch.output, 0);
	}
	memset(&ch, 0x5a, sizeof(ch));
	assert_int_equal(labdaq_device_channel(dev, 3, &ch), -ERANGE);
	assert_int_equal(labdaq_device_channel(dev, UINT_MAX, &ch), -ERANGE);
	labdaq_device_close(dev);

	dev = open_ok("sim:adc?channels=64");
	assert_int_equal(labdaq_device_channel_count(dev), 64);
	assert_int_equal(labdaq_device_channel(dev, 63, &ch), 0);
	assert_string_equal(ch.name, "voltage63");
	labdaq_device_close(dev);
}

static void test_open_ohm(void **state)
{
	static const struct {
		const char *name, *unit;
		double scale;
		int output;
	} want[] = {
		{ "voltage0", "V", 1e-6, 0 },
		{ "current0", "A", 1e-9, 0 },
		{ "voltage0", "V", 1e-6, 1 },
	};
	labdaq_device *dev;
	struct labdaq_channel ch;
	uint32_t w, h;

	(void)state;
	dev = open_ok("sim:ohm?r=220&noise=0&seed=3");
	assert_int_equal(labdaq_device_kind(dev), LABDAQ_KIND_SAMPLES);
	assert_int_equal(labdaq_device_frame_shape(dev, &w, &h), -EOPNOTSUPP);
	assert_int_equal(labdaq_device_channel_count(dev), 3);
	for (unsigned int i = 0; i < N_OF(want); i++) {
		assert_int_equal(labdaq_device_channel(dev, i, &ch), 0);
		assert_string_equal(ch.name, want[i].name);
		assert_string_equal(ch.unit, want[i].unit);
		assert_true(ch.scale == want[i].scale);
		assert_int_equal(ch.dtype, LABDAQ_DTYPE_INT32);
		assert_int_equal(ch.output, want[i].output);
	}
	assert_int_equal(labdaq_device_channel(dev, 3, &ch), -ERANGE);
	labdaq_device_close(dev);

	/* the common fault knobs are accepted by every device */
	dev = open_ok("sim:ohm?stall_after=2&stall_ms=5&fail_after=9&overrun_after=1&"
		      "overrun_items=3");
	labdaq_device_close(dev);
	labdaq_device_close(NULL);
}

static void test_open_errors(void **state)
{
	labdaq_device *dev;

	(void)state;
	/* backends */
	open_fails("bogus:camera", -EPROTONOSUPPORT, "bogus");
	open_fails("SIM:camera", -EPROTONOSUPPORT, NULL);
	/* devices */
	open_fails("sim:nope", -ENODEV, "nope");
	open_fails("sim:", -ENODEV, NULL);
	open_fails("sim:camera/x", -ENODEV, NULL);
	/* keys */
	open_fails("sim:camera?bogus=1", -EINVAL, "bogus");
	open_fails("sim:adc?width=4", -EINVAL, "width");
	open_fails("sim:camera?width=64&height=48&channels=2", -EINVAL, "channels");
	/* values */
	open_fails("sim:camera?width=abc", -EINVAL, "width");
	open_fails("sim:camera?width=0", -EINVAL, "width");
	open_fails("sim:camera?width=16385", -EINVAL, "width");
	open_fails("sim:camera?width=3&height=1", -EINVAL, NULL); /* < 8 bytes */
	open_fails("sim:adc?channels=0", -EINVAL, "channels");
	open_fails("sim:adc?channels=65", -EINVAL, "channels");
	open_fails("sim:ohm?r=0", -EINVAL, "r=0");
	open_fails("sim:ohm?noise=-1", -EINVAL, "noise");
	open_fails("sim:ohm?r=nan", -EINVAL, "r=nan");
	open_fails("sim:adc?stall_ms=5", -EINVAL, "stall_after");
	open_fails("sim:adc?overrun_items=5", -EINVAL, "overrun_after");
	/* syntax */
	open_fails("camera", -EINVAL, "camera");
	open_fails("sim:adc?channels", -EINVAL, "channels");
	open_fails("sim:adc?channels=2&channels=2", -EINVAL, "channels");
	open_fails("", -EINVAL, NULL);
	open_fails(NULL, -EINVAL, NULL);
	assert_int_equal(labdaq_device_open("sim:adc", NULL), -EINVAL);
	/* and a good one still opens after all that */
	dev = open_ok("sim:adc?channels=2");
	labdaq_device_close(dev);
}

/* ---- listing ---- */

struct list_ctx {
	int n, stop_at;
	int camera, adc, ohm;
};

static int list_cb(const char *uri, const char *desc, void *user)
{
	struct list_ctx *c = user;
	labdaq_device *dev = NULL;

	assert_non_null(uri);
	assert_non_null(desc);
	assert_true(strlen(desc) > 0);
	c->n++;
	c->camera += !strcmp(uri, "sim:camera");
	c->adc += !strcmp(uri, "sim:adc");
	c->ohm += !strcmp(uri, "sim:ohm");
	/* every listed URI opens */
	assert_int_equal(labdaq_device_open(uri, &dev), 0);
	labdaq_device_close(dev);
	return c->n == c->stop_at;
}

static void test_list(void **state)
{
	struct list_ctx c = { 0 };
	int n;

	(void)state;
	n = labdaq_list(list_cb, &c);
	assert_true(n >= 3);
	assert_int_equal(n, c.n);
	assert_int_equal(c.camera, 1);
	assert_int_equal(c.adc, 1);
	assert_int_equal(c.ohm, 1);

	/* a non-zero return stops the enumeration, across backends too */
	memset(&c, 0, sizeof(c));
	c.stop_at = 1;
	n = labdaq_list(list_cb, &c);
	assert_int_equal(c.n, 1);
	assert_int_equal(n, 1);
}

/* ---- tables ---- */

static void test_strerror(void **state)
{
	static const int named[] = { EBUSY, ENODEV, EPROTONOSUPPORT, EEXIST, ENOSPC,
				     EOVERFLOW, ECANCELED, EBADMSG, EINVAL, ENOENT };
	int st;
	pid_t pid;

	(void)state;
	assert_string_equal(labdaq_strerror(0), "success");
	for (size_t i = 0; i < N_OF(named); i++) {
		/* the same message for -errno and errno, never empty */
		assert_string_equal(labdaq_strerror(-named[i]), labdaq_strerror(named[i]));
		assert_true(strlen(labdaq_strerror(-named[i])) > 3);
	}
	assert_non_null(strstr(labdaq_strerror(-EBUSY), "busy"));
	assert_non_null(strstr(labdaq_strerror(-ENOSPC), "space"));
	for (int e = -5000; e <= 5000; e++) {
		const char *s = labdaq_strerror(e);

		assert_non_null(s);
		assert_true(*s);
	}
	assert_non_null(labdaq_strerror(INT_MAX));
	assert_non_null(labdaq_strerror(INT_MIN + 1));

	/* INT_MIN: in a child, so that a sanitizer's abort is one failure */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *s = labdaq_strerror(INT_MIN);

		_exit(s && *s ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("labdaq_strerror(INT_MIN): %s %d", WIFEXITED(st) ? "exit" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void test_state_names(void **state)
{
	static const char *const names[] = { "queued",	 "running", "complete",
					     "stopped", "aborted", "failed" };

	(void)state;
	assert_int_equal(LABDAQ_STATE_QUEUED, 0);
	assert_int_equal(LABDAQ_STATE_FAILED, 5);
	for (int s = 0; s < (int)N_OF(names); s++)
		assert_string_equal(labdaq_state_name(s), names[s]);
	assert_string_equal(labdaq_state_name(-1), "unknown");
	assert_string_equal(labdaq_state_name(6), "unknown");
	assert_string_equal(labdaq_state_name(INT_MAX), "unknown");
	assert_string_equal(labdaq_state_name(INT_MIN), "unknown");
}

static void test_dtypes(void **state)
{
	static const struct {
		int dtype;
		size_t size;
		const char *numpy;
	} want[] = {
		{ LABDAQ_DTYPE_INT16, 2, "<i2" },   { LABDAQ_DTYPE_UINT16, 2, "<u2" },
		{ LABDAQ_DTYPE_INT32, 4, "<i4" },   { LABDAQ_DTYPE_UINT32, 4, "<u4" },
		{ LABDAQ_DTYPE_FLOAT64, 8, "<f8" }, { LABDAQ_DTYPE_INT64, 8, "<i8" },
		{ LABDAQ_DTYPE_UINT8, 1, "|u1" },
	};
	static const int bad[] = { -1, 7, 100, INT_MAX, INT_MIN };

	(void)state;
	for (size_t i = 0; i < N_OF(want); i++) {
		assert_int_equal(want[i].dtype, (int)i); /* explicit, stable values */
		assert_int_equal(labdaq_dtype_size(want[i].dtype), want[i].size);
		assert_string_equal(labdaq_dtype_numpy(want[i].dtype), want[i].numpy);
	}
	for (size_t i = 0; i < N_OF(bad); i++) {
		assert_int_equal(labdaq_dtype_size(bad[i]), 0);
		assert_null(labdaq_dtype_numpy(bad[i]));
	}
}

static void test_version(void **state)
{
	char v[32];

	(void)state;
	snprintf(v, sizeof(v), "%d.%d.%d", LABDAQ_VERSION_MAJOR, LABDAQ_VERSION_MINOR,
		 LABDAQ_VERSION_PATCH);
	assert_string_equal(labdaq_version(), v);
}

/* ---- the backend table ---- */

static void test_backends(void **state)
{
	unsigned int n = labdaq_backend_count();
	labdaq_device *dev = NULL;
	char want[512] = "";

	(void)state;
	assert_true(n >= 1);
	assert_string_equal(labdaq_backend_name(0), "sim");
	assert_null(labdaq_backend_name(n));
	assert_null(labdaq_backend_help(n));
	for (unsigned int i = 0; i < n; i++) {
		assert_non_null(labdaq_backend_help(i));
		/* The help names the backend's own URIs. */
		assert_non_null(strstr(labdaq_backend_help(i), labdaq_backend_name(i)));
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? ", " : "",
			 labdaq_backend_name(i));
	}
	/* The unknown-backend message lists exactly the table. */
	assert_int_equal(labdaq_device_open("nosuch:x", &dev), -EPROTONOSUPPORT);
	assert_non_null(strstr(logged.msg, want));
	assert_non_null(labdaq_last_error());
	assert_string_equal(labdaq_last_error(), logged.msg);
	labdaq_clear_error();
	assert_null(labdaq_last_error());
}

/* ---- channel lists ---- */

static void test_parse_channels(void **state)
{
	labdaq_device *dev = open_ok("sim:adc?channels=4");
	unsigned int idx[8];

	(void)state;
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage2,voltage0", 0, idx, 8), 2);
	assert_int_equal(idx[0], 2);
	assert_int_equal(idx[1], 0);
	/* NULL: every input, in device order. */
	assert_int_equal(labdaq_device_parse_channels(dev, NULL, 0, idx, 8), 4);
	for (unsigned int i = 0; i < 4; i++)
		assert_int_equal(idx[i], i);
	/* More than @max: the count, and only @max stored. */
	idx[1] = 99;
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage3,voltage1,voltage2", 0, idx,
						      1), 3);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 99);
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage1", 0, NULL, 0), 1);
	/* A number is the channel's position among the inputs. */
	assert_int_equal(labdaq_device_parse_channels(dev, "3,0", 0, idx, 8), 2);
	assert_int_equal(idx[0], 3);
	assert_int_equal(idx[1], 0);
	assert_int_equal(labdaq_device_parse_channels(dev, "1,voltage1", 0, idx, 8), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "twice"));
	assert_int_equal(labdaq_device_parse_channels(dev, "4", 0, idx, 8), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "no input channel '4'"));
	assert_int_equal(labdaq_device_parse_channels(dev, "1x", 0, idx, 8), -EINVAL);

	/* Refused, naming the channel. */
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage1,voltage1", 0, idx, 8),
			 -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "'voltage1' is given twice"));
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage1,bogus", 0, idx, 8), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "no input channel 'bogus'"));
	assert_non_null(strstr(labdaq_last_error(), "voltage0, voltage1, voltage2, voltage3"));
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage1,,voltage2", 0, idx, 8),
			 -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "empty channel name"));
	assert_int_equal(labdaq_device_parse_channels(dev, "", 0, idx, 8), -EINVAL);
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage0,", 0, idx, 8), -EINVAL);
	/* Outputs are looked up among the outputs only. */
	assert_int_equal(labdaq_device_parse_channels(dev, "voltage0", 1, idx, 8), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "no output channel 'voltage0' (its outputs: "
					     "none)"));
	labdaq_device_close(dev);
}

/* Every one of sim:adc's 64 channels, in reverse order (the parser has no
 * limit of its own: the sweep command once kept only 64 inputs). */
static void test_parse_many_channels(void **state)
{
	labdaq_device *dev = open_ok("sim:adc?channels=64");
	char list[64 * 12] = "";
	unsigned int idx[64];

	(void)state;
	for (int i = 63; i >= 0; i--)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%svoltage%d",
			 i == 63 ? "" : ",", i);
	assert_int_equal(labdaq_device_parse_channels(dev, list, 0, idx, 64), 64);
	for (unsigned int i = 0; i < 64; i++)
		assert_int_equal(idx[i], 63 - i);
	strcat(list, ",voltage7");
	assert_int_equal(labdaq_device_parse_channels(dev, list, 0, idx, 64), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "'voltage7' is given twice"));
	labdaq_device_close(dev);
}

/* struct labdaq_holder's size field: too small is refused, larger is fine. */
static void test_holder_size(void **state)
{
	struct {
		struct labdaq_holder h;
		char beyond[64];
	} big;
	struct labdaq_holder h;

	(void)state;
	memset(&h, 0, sizeof(h));
	assert_int_equal(labdaq_device_holder("sim:adc", &h), -EINVAL);
	/* The first version's struct ends with output[]: the least accepted. */
	h.size = offsetof(struct labdaq_holder, output) + sizeof(h.output) - 1;
	assert_int_equal(labdaq_device_holder("sim:adc", &h), -EINVAL);
	h.size = offsetof(struct labdaq_holder, output) + sizeof(h.output);
	assert_int_equal(labdaq_device_holder("sim:adc", &h), 0);
	h.size = sizeof(h);
	assert_int_equal(labdaq_device_holder("sim:adc", &h), 0);
	memset(&big, 0x5a, sizeof(big));
	big.h.size = sizeof(big);
	assert_int_equal(labdaq_device_holder("sim:adc", &big.h), 0);
	/* A newer caller's extra bytes are left alone, the size says how much
	 * was filled. */
	assert_int_equal(big.h.size, sizeof(h));
	for (size_t i = 0; i < sizeof(big.beyond); i++)
		assert_int_equal((unsigned char)big.beyond[i], 0x5a);
}

/* ---- logging ---- */

static void test_log_callback(void **state)
{
	labdaq_device *dev = NULL;
	int tag;

	(void)state;
	labdaq_set_log(log_cb, LABDAQ_LOG_ERROR, &tag);
	memset(&logged, 0, sizeof(logged));
	assert_int_equal(labdaq_device_open("sim:camera?widht=64", &dev), -EINVAL);
	assert_int_equal(logged.n, 1);
	assert_int_equal(logged.level, LABDAQ_LOG_ERROR);
	assert_ptr_equal(logged.user, &tag);
	assert_non_null(strstr(logged.msg, "widht"));
	assert_non_null(strstr(logged.msg, "sim:camera?widht=64"));
	assert_null(strchr(logged.msg, '\n'));

	memset(&logged, 0, sizeof(logged));
	assert_int_equal(labdaq_device_open("nope", &dev), -EINVAL);
	assert_int_equal(logged.n, 1);
	assert_non_null(strstr(logged.msg, "nope"));

	memset(&logged, 0, sizeof(logged));
	assert_int_equal(labdaq_device_open("zzz:camera", &dev), -EPROTONOSUPPORT);
	assert_non_null(strstr(logged.msg, "zzz"));

	/* below LABDAQ_LOG_ERROR nothing is delivered */
	labdaq_set_log(log_cb, -1, &tag);
	memset(&logged, 0, sizeof(logged));
	assert_int_equal(labdaq_device_open("sim:camera?widht=64", &dev), -EINVAL);
	assert_int_equal(logged.n, 0);

	/* no callback: discarded (and not printed: see the next test) */
	labdaq_set_log(NULL, LABDAQ_LOG_DEBUG, NULL);
	assert_int_equal(labdaq_device_open("sim:camera?widht=64", &dev), -EINVAL);
	assert_int_equal(logged.n, 0);

	/* a success logs no error */
	labdaq_set_log(log_cb, LABDAQ_LOG_WARNING, &tag);
	dev = open_ok("sim:camera?width=64&height=48");
	labdaq_device_close(dev);
	assert_int_equal(logged.n, 0);
}

/* Run @fn with fds 1 and 2 sent to a file; return what was written. */
static size_t captured(void (*fn)(void), char *out, size_t len)
{
	char path[] = "/tmp/labdaq-dev-out-XXXXXX";
	int fd = mkstemp(path), save1, save2;
	ssize_t n;

	assert_true(fd >= 0);
	unlink(path);
	fflush(stdout);
	fflush(stderr);
	save1 = dup(1);
	save2 = dup(2);
	assert_true(save1 >= 0 && save2 >= 0);
	dup2(fd, 1);
	dup2(fd, 2);
	fn();
	fflush(stdout);
	fflush(stderr);
	dup2(save1, 1);
	dup2(save2, 2);
	close(save1);
	close(save2);
	n = pread(fd, out, len - 1, 0);
	close(fd);
	assert_true(n >= 0);
	out[n] = '\0';
	return (size_t)n;
}

static int count_cb(const char *uri, const char *desc, void *user)
{
	(void)uri;
	(void)desc;
	++*(int *)user;
	return 0;
}

static void failing_calls(void)
{
	static const char *const uris[] = {
		"bogus:camera", "sim:nope", "sim:camera?bogus=1", "sim:camera?width=abc",
		"camera", "sim:adc?channels", "sim:adc?a=1&a=1", "sim:adc?stall_ms=1",
		"", NULL,
	};
	labdaq_device *dev;
	int n = 0;

	for (size_t i = 0; i < N_OF(uris); i++)
		labdaq_device_open(uris[i], &dev);
	labdaq_list(count_cb, &n);
	labdaq_strerror(-ENODEV);
	labdaq_strerror(-4095);
	labdaq_state_name(99);
	labdaq_dtype_numpy(99);
}

static void test_never_prints(void **state)
{
	char out[4096];
	size_t n;

	(void)state;
	/* no callback */
	labdaq_set_log(NULL, LABDAQ_LOG_DEBUG, NULL);
	n = captured(failing_calls, out, sizeof(out));
	if (n)
		fail_msg("the library printed (no log callback): \"%s\"", out);
	/* with a callback: everything goes to it, nothing to the fds */
	memset(&logged, 0, sizeof(logged));
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, NULL);
	n = captured(failing_calls, out, sizeof(out));
	if (n)
		fail_msg("the library printed (with a log callback): \"%s\"", out);
	assert_true(logged.n >= 9);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_camera, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_adc, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_ohm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strerror, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dtypes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backends, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_many_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_holder_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_never_prints, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
