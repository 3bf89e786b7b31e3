/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_v4l2.c - the parts of the v4l2 backend (lib/backends/v4l2.c) that
 * need no device: fourccs, stored frame layouts, the "far off" rule,
 * control names as v4l2-ctl spells them, sequence-number gaps, and opening
 * a path that is not a V4L2 device.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>

#include <cmocka.h>
#include <linux/videodev2.h>

#include "labdaq.h"
#include "backends/v4l2_pure.h"

static void test_fourcc(void **state)
{
	char s[8];
	uint32_t f = 0;

	(void)state;
	ldq_v4l2_fourcc_str(V4L2_PIX_FMT_YUYV, s);
	assert_string_equal(s, "YUYV");
	ldq_v4l2_fourcc_str(V4L2_PIX_FMT_Y16, s);
	assert_string_equal(s, "Y16");
	ldq_v4l2_fourcc_str(V4L2_PIX_FMT_Y16_BE, s);
	assert_string_equal(s, "Y16-BE");
	assert_int_equal(ldq_v4l2_fourcc_parse("Y16", &f), 0);
	assert_int_equal(f, V4L2_PIX_FMT_Y16);
	assert_int_equal(ldq_v4l2_fourcc_parse("GREY", &f), 0);
	assert_int_equal(f, V4L2_PIX_FMT_GREY);
	assert_int_equal(ldq_v4l2_fourcc_parse("", &f), -EINVAL);
	assert_int_equal(ldq_v4l2_fourcc_parse("YUYVX", &f), -EINVAL);
	assert_int_equal(ldq_v4l2_fourcc_parse("Y 6", &f), -EINVAL);
}

static void test_layout(void **state)
{
	struct ldq_v4l2_layout l;

	(void)state;
	assert_int_equal(ldq_v4l2_pixel_layout(V4L2_PIX_FMT_GREY, 640, 480, 640, 640 * 480, &l), 0);
	assert_true(l.mono);
	assert_int_equal(l.dtype, LABDAQ_DTYPE_UINT8);
	assert_int_equal(l.rows, 480);
	assert_int_equal(l.cols, 640);
	assert_int_equal(l.bytes, 640 * 480);
	/* 16-bit mono with row padding: the padding is kept as columns. */
	assert_int_equal(ldq_v4l2_pixel_layout(V4L2_PIX_FMT_Y16, 100, 10, 256, 2560, &l), 0);
	assert_int_equal(l.dtype, LABDAQ_DTYPE_UINT16);
	assert_int_equal(l.cols, 128);
	assert_int_equal(l.bytes, 2560);
	assert_int_equal(ldq_v4l2_pixel_layout(V4L2_PIX_FMT_Y12, 100, 10, 199, 1990, &l), -EINVAL);
	/* Packed colour: bytes, rows of bytesperline. */
	assert_int_equal(ldq_v4l2_pixel_layout(V4L2_PIX_FMT_YUYV, 640, 480, 1280, 1280 * 480, &l),
			 0);
	assert_false(l.mono);
	assert_int_equal(l.dtype, LABDAQ_DTYPE_UINT8);
	assert_int_equal(l.rows, 480);
	assert_int_equal(l.cols, 1280);
	/* NV12 in one buffer: 1.5 rows of luma per row. */
	assert_int_equal(ldq_v4l2_pixel_layout(V4L2_PIX_FMT_NV12, 64, 48, 64, 64 * 72, &l), 0);
	assert_int_equal(l.rows, 72);
	/* Compressed (no bytes per line): refused. */
	assert_int_equal(ldq_v4l2_pixel_layout(V4L2_PIX_FMT_MJPEG, 640, 480, 0, 100000, &l),
			 -EINVAL);
}

static void test_far_off(void **state)
{
	(void)state;
	assert_false(ldq_v4l2_far_off(0, 1234));
	assert_false(ldq_v4l2_far_off(640, 640));
	assert_false(ldq_v4l2_far_off(641, 640));
	assert_false(ldq_v4l2_far_off(30, 25));
	assert_true(ldq_v4l2_far_off(30, 20));
	assert_true(ldq_v4l2_far_off(100, 2000));
}

static void test_ctrl_name(void **state)
{
	char s[64];

	(void)state;
	ldq_v4l2_ctrl_name("Test Pattern", s, sizeof(s));
	assert_string_equal(s, "test_pattern");
	ldq_v4l2_ctrl_name("Exposure, Absolute", s, sizeof(s));
	assert_string_equal(s, "exposure_absolute");
	ldq_v4l2_ctrl_name("Percentage of Dropped Buffers", s, sizeof(s));
	assert_string_equal(s, "percentage_of_dropped_buffers");
	ldq_v4l2_ctrl_name("OSD Text Mode", s, sizeof(s));
	assert_string_equal(s, "osd_text_mode");
	ldq_v4l2_ctrl_name("abcdefgh", s, 4);
	assert_string_equal(s, "abc");
}

static void test_seq_lost(void **state)
{
	(void)state;
	assert_int_equal(ldq_v4l2_seq_lost(false, 0, 17), 0);
	assert_int_equal(ldq_v4l2_seq_lost(true, 5, 5), 0);
	assert_int_equal(ldq_v4l2_seq_lost(true, 5, 8), 3);
	assert_int_equal(ldq_v4l2_seq_lost(true, 0xffffffffu, 1), 2);
	assert_int_equal(ldq_v4l2_seq_lost(true, 100, 3), 0); /* a restart */
}

static void test_open_not_a_device(void **state)
{
	labdaq_device *d = NULL;

	(void)state;
	assert_true(labdaq_device_open("v4l2:/dev/null", &d) < 0);
	assert_null(d);
	assert_true(labdaq_device_open("v4l2:/nonexistent/video9", &d) < 0);
	assert_true(labdaq_device_open("v4l2:/dev/null?format=TOOLONG", &d) < 0);
	assert_true(labdaq_device_open("v4l2:/dev/null?bogus=1", &d) < 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fourcc),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_far_off),
		cmocka_unit_test(test_ctrl_name),
		cmocka_unit_test(test_seq_lost),
		cmocka_unit_test(test_open_not_a_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
