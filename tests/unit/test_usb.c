/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_usb.c - the usb backend's pure parts, without a device: libusb's
 * errors as -errno, URI paths and keys, fx2lafw's rate table (nearest rate,
 * refusals) and START command (clock, delay, wide flag) for every rate, the
 * transfer plan, the firmware file parser (binary .fw and Intel HEX) and
 * the chunks the load request writes, the sidecar's logic channel details;
 * and that usb:fx2lafw without a board fails with a clear message.  The
 * devices themselves are tested in the VM against a FunctionFS gadget
 * (tests/vm, tests/usb).
 *
 * lib/backends/usb.c is included to reach its statics; its ops table is
 * renamed so that the library's own copy stays the one the core uses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if __has_include(<libusb-1.0/libusb.h>)
#define HAVE_LIBUSB 1
#define ldq_backend_usb ldq_backend_usb_under_test
#include "../../lib/backends/usb.c"
#undef ldq_backend_usb
#include <jansson.h>
#else
#define HAVE_LIBUSB 0
#endif

#if HAVE_LIBUSB

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(usb_error(LIBUSB_SUCCESS), 0);
	assert_int_equal(usb_error(LIBUSB_ERROR_ACCESS), -EACCES);
	assert_int_equal(usb_error(LIBUSB_ERROR_NO_DEVICE), -ENODEV);
	assert_int_equal(usb_error(LIBUSB_ERROR_NOT_FOUND), -ENODEV);
	assert_int_equal(usb_error(LIBUSB_ERROR_BUSY), -EBUSY);
	assert_int_equal(usb_error(LIBUSB_ERROR_TIMEOUT), -ETIMEDOUT);
	assert_int_equal(usb_error(LIBUSB_ERROR_PIPE), -EPIPE);
	assert_int_equal(usb_error(LIBUSB_ERROR_OVERFLOW), -EOVERFLOW);
	assert_int_equal(usb_error(LIBUSB_ERROR_NO_MEM), -ENOMEM);
	assert_int_equal(usb_error(LIBUSB_ERROR_NOT_SUPPORTED), -EOPNOTSUPP);
	assert_int_equal(usb_error(LIBUSB_ERROR_OTHER), -EIO);
	assert_int_equal(usb_error(-1234), -EIO);
}

static void test_targets(void **state)
{
	struct target t;

	(void)state;
	assert_int_equal(parse_target("fx2lafw", &t), 0);
	assert_int_equal(t.kind, T_FX2LAFW);
	assert_int_equal(parse_target("3.17", &t), 0);
	assert_int_equal(t.kind, T_BUSADDR);
	assert_int_equal(t.bus, 3);
	assert_int_equal(t.addr, 17);
	assert_int_equal(parse_target("001.005", &t), 0); /* lsusb's spelling */
	assert_int_equal(t.bus * 1000 + t.addr, 1005);
	assert_int_equal(parse_target("1d50:608C", &t), 0);
	assert_int_equal(t.kind, T_VIDPID);
	assert_int_equal(t.vid, 0x1d50);
	assert_int_equal(t.pid, 0x608c);
	const char *bad[] = { "", "fx2", "FX2LAFW", "0.5", "1.0", "1.128", "256.1", "1.", ".1",
			      "1.2.3", "1d50:608", "1d50:608cc", "1d5g:608c", "1d50-608c", "-1.2",
			      "1.2x", "0001.2" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_target(bad[i], &t) != -EINVAL)
			fail_msg("'%s' was taken", bad[i]);
	}
	assert_int_equal(parse_target(NULL, &t), -EINVAL);
}

static void test_keys(void **state)
{
	uint8_t ep = 0;
	int dt = -1;

	(void)state;
	assert_int_equal(parse_endpoint("0x81", &ep), 0);
	assert_int_equal(ep, 0x81);
	assert_int_equal(parse_endpoint("130", &ep), 0);
	assert_int_equal(ep, 0x82);
	assert_int_equal(parse_endpoint("0x8f", &ep), 0);
	assert_int_equal(ep, 0x8f);
	/* OUT endpoints, endpoint 0, numbers above 15, junk. */
	assert_int_equal(parse_endpoint("0x01", &ep), -EINVAL);
	assert_int_equal(parse_endpoint("0x80", &ep), -EINVAL);
	assert_int_equal(parse_endpoint("0x90", &ep), -EINVAL);
	assert_int_equal(parse_endpoint("0x81 ", &ep), -EINVAL);
	assert_int_equal(parse_endpoint("ep1", &ep), -EINVAL);
	assert_int_equal(parse_endpoint("", &ep), -EINVAL);
	assert_int_equal(parse_endpoint(NULL, &ep), -EINVAL);
	assert_int_equal(parse_dtype("u16", &dt), 0);
	assert_int_equal(dt, LABDAQ_DTYPE_UINT16);
	assert_int_equal(parse_dtype("uint8", &dt), 0);
	assert_int_equal(dt, LABDAQ_DTYPE_UINT8);
	assert_int_equal(parse_dtype("i32", &dt), 0);
	assert_int_equal(dt, LABDAQ_DTYPE_INT32);
	assert_int_equal(parse_dtype("f64", &dt), 0);
	assert_int_equal(dt, LABDAQ_DTYPE_FLOAT64);
	assert_int_equal(parse_dtype("f32", &dt), -EINVAL);
	assert_int_equal(parse_dtype("U16", &dt), -EINVAL);
	assert_int_equal(parse_dtype(NULL, &dt), -EINVAL);
}

static void test_rates(void **state)
{
	uint32_t r = 0;

	(void)state;
	/* 0: the fastest for the width. */
	assert_int_equal(fx2_pick_rate(0, 0, &r), 0);
	assert_int_equal(r, 24000000);
	assert_int_equal(fx2_pick_rate(0, 1, &r), 0);
	assert_int_equal(r, 12000000);
	/* Every rate of the table is itself. */
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_rates); i++) {
		assert_int_equal(fx2_pick_rate(fx2_rates[i], 0, &r), 0);
		assert_int_equal(r, fx2_rates[i]);
	}
	/* The nearest, as a ratio. */
	assert_int_equal(fx2_pick_rate(22500, 0, &r), 0);
	assert_int_equal(r, 25000);
	assert_int_equal(fx2_pick_rate(5e6, 0, &r), 0);
	assert_int_equal(r, 6000000);
	assert_int_equal(fx2_pick_rate(1.1e6, 0, &r), 0);
	assert_int_equal(r, 1000000);
	assert_int_equal(fx2_pick_rate(23e6, 0, &r), 0);
	assert_int_equal(r, 24000000);
	/* Outside the span: refused. */
	assert_int_equal(fx2_pick_rate(19999, 0, &r), -ERANGE);
	assert_int_equal(fx2_pick_rate(24000001, 0, &r), -ERANGE);
	assert_int_equal(fx2_pick_rate(16e6, 1, &r), -ERANGE);
	assert_int_equal(fx2_pick_rate(-1, 0, &r), -ERANGE);
	assert_int_equal(fx2_pick_rate(NAN, 0, &r), -ERANGE);
}

static void test_start_cmd(void **state)
{
	uint8_t c[3];

	(void)state;
	/* Every rate: the clock divides it exactly, the delay fits. */
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_rates); i++) {
		uint32_t rate = fx2_rates[i], base, delay;

		assert_int_equal(fx2_start_cmd(rate, 0, c), 0);
		base = c[0] & START_CLK48 ? 48000000u : 30000000u;
		delay = ((uint32_t)c[1] << 8) | c[2];
		assert_true(delay >= 1 && c[1] < 6);
		assert_int_equal(base / (delay + 1), rate);
		assert_int_equal(base % (delay + 1), 0);
		assert_int_equal(c[0] & ~START_CLK48, 0);
	}
	assert_int_equal(fx2_start_cmd(24000000, 0, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x40, 0x00, 0x01 }), 3);
	assert_int_equal(fx2_start_cmd(1000000, 0, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x40, 0x00, 0x2f }), 3);
	/* 20 kHz and 25 kHz need the 30 MHz clock (48 MHz needs delays
	 * above the firmware's six states). */
	assert_int_equal(fx2_start_cmd(20000, 0, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x00, 0x05, 0xdb }), 3);
	assert_int_equal(fx2_start_cmd(25000, 0, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x00, 0x04, 0xaf }), 3);
	assert_int_equal(fx2_start_cmd(50000, 0, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x40, 0x03, 0xbf }), 3);
	/* 16 channels: the wide flag, up to 12 MHz. */
	assert_int_equal(fx2_start_cmd(12000000, 1, c), 0);
	assert_memory_equal(c, ((uint8_t[]){ 0x60, 0x00, 0x03 }), 3);
	assert_int_equal(fx2_start_cmd(16000000, 1, c), -EINVAL);
	/* Rates neither clock makes, and 48 MHz (a delay of 0). */
	assert_int_equal(fx2_start_cmd(7000000, 0, c), -EINVAL);
	assert_int_equal(fx2_start_cmd(48000000, 0, c), -EINVAL);
	assert_int_equal(fx2_start_cmd(10000, 0, c), -EINVAL);
	assert_int_equal(fx2_start_cmd(0, 0, c), -EINVAL);
}

static void test_xfer_plan(void **state)
{
	size_t size;
	unsigned int n;

	(void)state;
	/* 24 MB/s: 10 ms a transfer (a multiple of 512), half a second. */
	xfer_plan(24e6, 512, &size, &n);
	assert_int_equal(size, 240128);
	assert_int_equal(size % 512, 0);
	assert_int_equal(n, 50);
	/* Slow: at least 16 KiB each, at least 256 KiB in flight. */
	xfer_plan(20e3, 512, &size, &n);
	assert_int_equal(size, 16384);
	assert_int_equal(n, 16);
	/* Very fast: 1 MiB each, at most MAX_XFERS. */
	xfer_plan(1e9, 1024, &size, &n);
	assert_int_equal(size, 1u << 20);
	assert_int_equal(n, MAX_XFERS);
	/* Unknown rate (a raw streamer without --rate): 8 MB/s assumed. */
	xfer_plan(0, 64, &size, &n);
	assert_int_equal(size, 80000);
	assert_int_equal(n, 50);
	/* In flight: at least half a second, or the cap. */
	for (double bps = 1e3; bps < 1e10; bps *= 3.7) {
		xfer_plan(bps, 512, &size, &n);
		assert_true((double)size * n >= bps * 0.5 || n == MAX_XFERS);
		assert_true(size * n >= 256 * 1024);
	}
}

/* The loss check of a clocked stream (fx2lafw has no overrun flag): what
 * the clock made since the first transfer was reaped, taken 200 ppm slow,
 * less what arrived since, what may be on its way and the sample in the
 * making.  No allowance for latency. */
static void test_clock_deficit(void **state)
{
	/* 8 MHz for 0.5 s, taken 200 ppm slow: 3999200 samples. */
	const uint64_t made = 3999200, transit = 4096 + 80384;

	(void)state;
	/* All there, or more (data made before the first transfer). */
	assert_int_equal(clock_deficit(8e6, 0.5, made, transit), 0);
	assert_int_equal(clock_deficit(8e6, 0.5, made + 100000, transit), 0);
	/* Short by what may be on its way, plus the sample in the making. */
	assert_int_equal(clock_deficit(8e6, 0.5, made - transit - 1, transit), 0);
	assert_int_equal(clock_deficit(8e6, 0.5, made - transit - 2, transit), 1);
	assert_int_equal(clock_deficit(8e6, 0.5, made - transit - 1000, transit), 999);
	/* 27 ms of an 8 MHz board's samples (216000) lost: all but the FX2's
	 * FIFO and one partly filled transfer of 10 ms are found. */
	assert_int_equal(clock_deficit(8e6, 0.5, made - 216000, transit),
			 216000 - transit - 1);
	/* No time yet, or a clock that went back: nothing. */
	assert_int_equal(clock_deficit(8e6, 0, 0, 0), 0);
	assert_int_equal(clock_deficit(8e6, -1, 0, 0), 0);
	/* An hour at 24 MHz with a crystal 150 ppm slow: no loss ... */
	assert_int_equal(clock_deficit(24e6, 3600, (uint64_t)(24e6 * 3600 * (1 - 150e-6)), 65536),
			 0);
	/* ... but 300 ppm short is, by the 100 ppm past the allowance. */
	assert_true(clock_deficit(24e6, 3600, (uint64_t)(24e6 * 3600 * (1 - 300e-6)), 65536) >
		    8000000);
}

/* What stream_read reports of the deficit (all but the last 20 ms of the
 * clock, once) and what it leaves to the end of the run. */
static void test_loss_reports(void **state)
{
	struct usb_priv p = { .rate_hz = 1e6, .mode = MODE_FX2LAFW };
	struct labdaq_device dev = { .uri = (char *)"usb:test", .priv = &p };

	(void)state;
	assert_int_equal(new_loss(&p), 0);
	p.deficit = 20000;              /* within the last 20 ms: later */
	assert_int_equal(new_loss(&p), 0);
	p.deficit = 100000;
	assert_int_equal(new_loss(&p), 80000);
	assert_int_equal(new_loss(&p), 0);       /* once */
	p.deficit = 150000;
	assert_int_equal(new_loss(&p), 50000);
	assert_int_equal(p.lost, 130000);
	/* The end: the rest, once the stream ended with the board there. */
	check_end(&dev, &p);
	assert_int_equal(p.end_lost, 20000);
	assert_int_equal(ldq_usb_stream_lost(&dev), 20000);
	assert_int_equal(ldq_usb_stream_lost(&dev), 0);
	/* A board that vanished made nothing after it went: no end report. */
	p.end_lost = 0;
	p.gone = 1;
	check_end(&dev, &p);
	assert_int_equal(p.end_lost, 0);
	p.gone = 0;
	p.dry = 1;                      /* the queue ran dry: the run failed */
	check_end(&dev, &p);
	assert_int_equal(p.end_lost, 0);
}

static struct fw_image *img_new(void)
{
	struct fw_image *img = malloc(sizeof(*img));

	assert_non_null(img);
	return img;
}

/* A binary .fw: one image at 0, written in 4 KiB chunks, as Debian's
 * 8120-byte files are (4096 + 4024). */
static void test_fw_binary(void **state)
{
	struct fw_image *img = img_new();
	uint8_t *buf = malloc(0x4001);
	const char *why;
	unsigned int at = 0, addr;
	size_t n;

	(void)state;
	for (int i = 0; i < 0x4001; i++)
		buf[i] = (uint8_t)(i * 7 + 2);
	assert_int_equal(fw_parse(buf, 8120, img, &why), 0);
	assert_int_equal(img->bytes, 8120);
	assert_int_equal(fw_next_chunk(img, &at, &addr, &n), 1);
	assert_int_equal(addr, 0);
	assert_int_equal(n, 4096);
	assert_memory_equal(img->data, buf, 4096);
	assert_int_equal(fw_next_chunk(img, &at, &addr, &n), 1);
	assert_int_equal(addr, 4096);
	assert_int_equal(n, 4024);
	assert_memory_equal(img->data + 4096, buf + 4096, 4024);
	assert_int_equal(fw_next_chunk(img, &at, &addr, &n), 0);
	/* The FX2LP's 16 KiB fit; one byte more does not; nothing is not. */
	assert_int_equal(fw_parse(buf, 0x4000, img, &why), 0);
	assert_int_equal(fw_parse(buf, 0x4001, img, &why), -EINVAL);
	assert_non_null(strstr(why, "16 KiB"));
	assert_int_equal(fw_parse(buf, 0, img, &why), -EINVAL);
	free(buf);
	free(img);
}

/* Intel HEX (sdcc's .ihx): records anywhere in RAM, out of order, CRLF. */
static void test_fw_ihex(void **state)
{
	static const char hex[] =
		":03E00000A1B2C307\r\n"
		":0400000002001234B4\r\n"
		":0200040055663F\r\n"
		":00000001FF\r\n"
		":010020007768\r\n"; /* after the end: ignored */
	struct fw_image *img = img_new();
	const char *why;
	unsigned int at = 0, addr;
	size_t n;

	(void)state;
	assert_int_equal(fw_parse((const uint8_t *)hex, strlen(hex), img, &why), 0);
	assert_int_equal(img->bytes, 9);
	/* 0x0000-0x0005 is one chunk (two records that touch), then 0xe000. */
	assert_int_equal(fw_next_chunk(img, &at, &addr, &n), 1);
	assert_int_equal(addr, 0);
	assert_int_equal(n, 6);
	assert_memory_equal(img->data, ((uint8_t[]){ 0x02, 0x00, 0x12, 0x34, 0x55, 0x66 }), 6);
	assert_int_equal(fw_next_chunk(img, &at, &addr, &n), 1);
	assert_int_equal(addr, 0xe000);
	assert_int_equal(n, 3);
	assert_memory_equal(img->data + 0xe000, ((uint8_t[]){ 0xa1, 0xb2, 0xc3 }), 3);
	assert_int_equal(fw_next_chunk(img, &at, &addr, &n), 0);
	free(img);
}

static void fw_refused(const char *text, const char *reason)
{
	struct fw_image *img = img_new();
	const char *why = NULL;

	if (fw_parse((const uint8_t *)text, strlen(text), img, &why) != -EINVAL)
		fail_msg("taken: %s", text);
	assert_non_null(why);
	if (!strstr(why, reason))
		fail_msg("'%s': the reason is '%s', not '%s'", text, why, reason);
	free(img);
}

static void test_fw_bad(void **state)
{
	(void)state;
	fw_refused(":0400000002001234B5\n:00000001FF\n", "checksum");
	fw_refused(":0400000002001234B4\n", "end-of-file");
	fw_refused(":0500000002001234B4\n:00000001FF\n", "length byte");
	fw_refused(":04000000020012G4B4\n:00000001FF\n", "hex digit");
	fw_refused(":040000000200123\n:00000001FF\n", "length");
	fw_refused(":0400000002001234B4\nhello\n:00000001FF\n", "not a record");
	/* Outside the FX2's RAM: 0x4000, and CPUCS itself. */
	fw_refused(":0140000011AE\n:00000001FF\n", "outside the FX2's RAM");
	fw_refused(":01E600000118\n:00000001FF\n", "outside the FX2's RAM");
	/* Extended addresses other than 0, unknown record types. */
	fw_refused(":020000040001F9\n:00000001FF\n", "above 64 KiB");
	fw_refused(":00000006FA\n:00000001FF\n", "record type");
	fw_refused(":00000001FF\n", "no data");
}

static void test_logic_meta(void **state)
{
	(void)state;
	for (unsigned int bits = 8; bits <= 16; bits += 8) {
		char *s = logic_meta(bits);
		json_error_t err;
		json_t *j = json_loads(s, 0, &err), *b;

		assert_non_null(j);
		b = json_object_get(json_object_get(j, "logic"), "bits");
		assert_int_equal(json_array_size(b), bits);
		for (unsigned int i = 0; i < bits; i++) {
			char want[8];

			snprintf(want, sizeof(want), "D%u", i);
			assert_string_equal(json_string_value(json_array_get(b, i)), want);
		}
		assert_non_null(strstr(json_string_value(json_object_get(
			json_object_get(j, "logic"), "bit_order")), "bit k"));
		json_decref(j);
		free(s);
	}
}

/* Every known board has its firmware file and a width. */
static void test_profiles(void **state)
{
	(void)state;
	assert_non_null(fx2_profile(0x04b4, 0x8613));
	assert_true(fx2_profile(0x04b4, 0x8613)->wide);
	assert_false(fx2_profile(0x0925, 0x3881)->wide);
	assert_string_equal(fx2_profile(0x1d50, 0x608c)->fw, "fx2lafw-sigrok-fx2-8ch.fw");
	assert_null(fx2_profile(0x1d50, 0x608e));
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_profiles); i++)
		assert_non_null(strstr(fx2_profiles[i].fw, "fx2lafw-"));
}

/* No board here (CI has no USB at all): a clear error, nothing left open. */
static void test_no_board(void **state)
{
	labdaq_device *dev = NULL;
	const char *msg;
	int ret;

	(void)state;
	ret = labdaq_device_open("usb:fx2lafw", &dev);
	if (ret == 0) {
		labdaq_device_close(dev);
		skip(); /* a real board is plugged in */
	}
	assert_int_equal(ret, -ENODEV);
	msg = labdaq_last_error();
	assert_non_null(msg);
	assert_non_null(strstr(msg, "no fx2lafw device found"));
	assert_int_equal(labdaq_device_open("usb:fx2lafw?serial=NOPE-42", &dev), -ENODEV);
	assert_non_null(strstr(labdaq_last_error(), "with serial NOPE-42"));
	assert_int_equal(labdaq_device_open("usb:7.77", &dev), -ENODEV);
	assert_non_null(strstr(labdaq_last_error(), "bus 7 address 77"));
	assert_int_equal(labdaq_device_open("usb:nothing", &dev), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "usb:BUS.ADDR"));
	assert_int_equal(labdaq_device_open("usb:fx2lafw?dry=maybe", &dev), -EINVAL);
	assert_non_null(strstr(labdaq_last_error(), "dry=maybe"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),     cmocka_unit_test(test_targets),
		cmocka_unit_test(test_keys),       cmocka_unit_test(test_rates),
		cmocka_unit_test(test_start_cmd),  cmocka_unit_test(test_xfer_plan),
		cmocka_unit_test(test_fw_binary),  cmocka_unit_test(test_fw_ihex),
		cmocka_unit_test(test_fw_bad),     cmocka_unit_test(test_logic_meta),
		cmocka_unit_test(test_profiles),   cmocka_unit_test(test_no_board),
		cmocka_unit_test(test_clock_deficit), cmocka_unit_test(test_loss_reports),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void test_no_libusb(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_no_libusb) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
