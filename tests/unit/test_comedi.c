/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_comedi.c - the comedi backend's pure parts, without a board: the
 * translation of comedilib's errors, URI paths, range lists and sizes, the
 * conversions between raw values and physical units, the scan period and
 * the rate a command settles on, the sidecar's channel details; and that
 * opening a missing board fails cleanly.  The boards themselves are tested
 * in the VM (tests/vm/guest/6x-comedi-*.sh, against comedi_test).
 *
 * lib/backends/comedi.c is included to reach its statics; its ops table is
 * renamed so that the library's own copy (linked through device.c) stays
 * the one labdaq_device_open() uses.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#if __has_include(<comedilib.h>)
#define HAVE_COMEDILIB 1
#define ldq_backend_comedi ldq_backend_comedi_under_test
#include "../../lib/backends/comedi.c"
#undef ldq_backend_comedi
#include <jansson.h>
#else
#define HAVE_COMEDILIB 0
#endif

#if HAVE_COMEDILIB

static void test_errors(void **state)
{
	(void)state;
	assert_int_equal(comedi_error(EBUF_OVR), -EPIPE);
	assert_int_equal(comedi_error(EBUF_UNDR), -EPIPE);
	assert_int_equal(comedi_error(EINVAL_SUBD), -EINVAL);
	assert_int_equal(comedi_error(EINVAL_CHAN), -EINVAL);
	assert_int_equal(comedi_error(ECMDNOTSUPP), -EOPNOTSUPP);
	assert_int_equal(comedi_error(ENOTSUPPORTED), -EOPNOTSUPP);
	assert_int_equal(comedi_error(EBAD_CT), -EBADF);
	assert_int_equal(comedi_error(EUNKNOWN), -EIO);
	assert_int_equal(comedi_error(0), -EIO);
	assert_int_equal(comedi_error(COMEDI_NOERROR + 99), -EIO);
	/* Plain errno values pass through, negated. */
	assert_int_equal(comedi_error(EACCES), -EACCES);
	assert_int_equal(comedi_error(EBUSY), -EBUSY);
	assert_int_equal(comedi_error(ENODEV), -ENODEV);
	assert_int_equal(comedi_error(EPIPE), -EPIPE);
}

static void test_paths(void **state)
{
	char p[64];

	(void)state;
	assert_int_equal(device_path("/dev/comedi0", p, sizeof(p)), 0);
	assert_string_equal(p, "/dev/comedi0");
	assert_int_equal(device_path("0", p, sizeof(p)), 0);
	assert_string_equal(p, "/dev/comedi0");
	assert_int_equal(device_path("12", p, sizeof(p)), 0);
	assert_string_equal(p, "/dev/comedi12");
	assert_int_equal(device_path("comedi3", p, sizeof(p)), 0);
	assert_string_equal(p, "/dev/comedi3");
	assert_int_equal(device_path("/dev/daq-ni", p, sizeof(p)), 0);
	assert_string_equal(p, "/dev/daq-ni");
	assert_int_equal(device_path("", p, sizeof(p)), -EINVAL);
	assert_int_equal(device_path("comedi", p, sizeof(p)), -EINVAL);
	assert_int_equal(device_path("0x", p, sizeof(p)), -EINVAL);
	assert_int_equal(device_path("abc", p, sizeof(p)), -EINVAL);
	assert_int_equal(device_path("/dev/a-very-long-name", p, 8), -EINVAL);
}

static void test_board_nodes(void **state)
{
	(void)state;
	assert_true(is_board_node("/dev/comedi0"));
	assert_true(is_board_node("/dev/comedi15"));
	assert_false(is_board_node("/dev/comedi0_subd2"));
	assert_false(is_board_node("/dev/comedi"));
}

static void test_ranges(void **state)
{
	(void)state;
	assert_int_equal(range_for(NULL, 0), 0);
	assert_int_equal(range_for(NULL, 7), 0);
	/* One value: every channel. */
	assert_int_equal(range_for("1", 0), 1);
	assert_int_equal(range_for("1", 5), 1);
	/* A list: channel k takes the k-th; the rest range 0. */
	assert_int_equal(range_for("0,1,3", 0), 0);
	assert_int_equal(range_for("0,1,3", 1), 1);
	assert_int_equal(range_for("0,1,3", 2), 3);
	assert_int_equal(range_for("0,1,3", 3), 0);
	assert_int_equal(range_for("", 0), -EINVAL);
	assert_int_equal(range_for("1,", 0), -EINVAL);
	assert_int_equal(range_for("1,,2", 0), -EINVAL);
	assert_int_equal(range_for("a", 0), -EINVAL);
	assert_int_equal(range_for("-1", 0), -EINVAL);
	assert_int_equal(range_for("5000", 0), -EINVAL);
}

static void test_sizes(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(parse_size("2M", &v), 0);
	assert_int_equal(v, 2u << 20);
	assert_int_equal(parse_size("1MiB", &v), 0);
	assert_int_equal(v, 1u << 20);
	assert_int_equal(parse_size("0", &v), -EINVAL);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("k", &v), -EINVAL);
	assert_int_equal(parse_size("12q", &v), -EINVAL);
	assert_int_equal(parse_size("3G", &v), -EINVAL); /* above 2 GiB */
}

static void test_linear(void **state)
{
	struct conv to, from;
	double scale, offset;
	lsampl_t raw;

	(void)state;
	/* comedi_test's +-10 V range over 16 bits. */
	linear_conv(-10, 10, 65535, &to, &from);
	assert_string_equal(to.source, "linear");
	assert_true(fabs(poly_eval(&to, 0) + 10) < 1e-12);
	assert_true(fabs(poly_eval(&to, 65535) - 10) < 1e-12);
	assert_true(fabs(poly_eval(&to, 32767) + 10.0 / 65535) < 1e-12);
	/* from(to(x)) == x, and (raw + offset) * scale == to(raw). */
	scale_offset(&to, &scale, &offset);
	for (lsampl_t x = 0; x <= 65535; x += 4369) {
		assert_true(fabs(poly_eval(&from, poly_eval(&to, x)) - x) < 1e-6);
		assert_true(fabs(((double)x + offset) * scale - poly_eval(&to, x)) < 1e-9);
	}
	/* To raw: the ends, rounding, and refusal outside the range. */
	assert_int_equal(to_raw(&from, 10, 65535, &raw), 0);
	assert_int_equal(raw, 65535);
	assert_int_equal(to_raw(&from, -10, 65535, &raw), 0);
	assert_int_equal(raw, 0);
	assert_int_equal(to_raw(&from, 9.5, 65535, &raw), 0);
	assert_true(fabs(poly_eval(&to, raw) - 9.5) <= 20.0 / 65535 / 2 + 1e-12);
	assert_int_equal(to_raw(&from, 10.001, 65535, &raw), -ERANGE);
	assert_int_equal(to_raw(&from, -10.001, 65535, &raw), -ERANGE);
	assert_int_equal(to_raw(&from, NAN, 65535, &raw), -ERANGE);
	/* A unipolar 0..5 V range over 12 bits. */
	linear_conv(0, 5, 4095, &to, &from);
	scale_offset(&to, &scale, &offset);
	assert_true(fabs(offset) < 1e-12);
	assert_true(fabs(scale - 5.0 / 4095) < 1e-15);
}

static void test_polynomial(void **state)
{
	struct conv c = { .coef = { 1, 2, 3 }, .order = 2, .origin = 1 };
	double scale, offset;

	(void)state;
	/* 1 + 2 (x - 1) + 3 (x - 1)^2 */
	assert_true(fabs(poly_eval(&c, 1) - 1) < 1e-12);
	assert_true(fabs(poly_eval(&c, 2) - 6) < 1e-12);
	assert_true(fabs(poly_eval(&c, 0) - 2) < 1e-12);
	/* The linear part: (x + offset) * scale = 1 + 2 (x - 1). */
	scale_offset(&c, &scale, &offset);
	assert_true(fabs(scale - 2) < 1e-12);
	assert_true(fabs(offset + 0.5) < 1e-12);
}

static void test_rates(void **state)
{
	comedi_cmd cmd;

	(void)state;
	assert_int_equal(period_ns(100000), 10000);
	assert_int_equal(period_ns(300000), 3333);
	assert_int_equal(period_ns(0), 1);
	assert_int_equal(period_ns(0.1), 4000000000u);
	memset(&cmd, 0, sizeof(cmd));
	cmd.scan_begin_src = TRIG_TIMER;
	cmd.scan_begin_arg = 3000;
	assert_true(fabs(command_rate(&cmd) - 1e9 / 3000) < 1e-6);
	cmd.scan_begin_src = TRIG_FOLLOW;
	cmd.convert_src = TRIG_TIMER;
	cmd.convert_arg = 1000;
	cmd.chanlist_len = 2;
	assert_true(fabs(command_rate(&cmd) - 500000) < 1e-6);
	cmd.convert_src = TRIG_EXT;
	assert_true(command_rate(&cmd) == 0);
}

static void test_meta(void **state)
{
	struct cchan c = { .subdev = 0, .chan = 3, .range = 1, .aref = AREF_GROUND,
			   .maxdata = 65535, .min = -5, .max = 5 };
	json_t *j, *conv;
	char *text;

	(void)state;
	linear_conv(c.min, c.max, c.maxdata, &c.to_phys, &c.from_phys);
	text = chan_meta(&c, "V");
	assert_non_null(text);
	j = json_loads(text, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(j, "channel")), 3);
	assert_int_equal(json_integer_value(json_object_get(j, "maxdata")), 65535);
	assert_string_equal(json_string_value(json_object_get(j, "aref")), "ground");
	assert_int_equal(json_integer_value(
				 json_object_get(json_object_get(j, "range"), "index")), 1);
	assert_string_equal(json_string_value(
				    json_object_get(json_object_get(j, "range"), "unit")), "V");
	conv = json_object_get(j, "polynomial");
	assert_string_equal(json_string_value(json_object_get(conv, "source")), "linear");
	assert_int_equal(json_array_size(json_object_get(conv, "coefficients")), 2);
	assert_true(fabs(json_number_value(json_array_get(json_object_get(conv, "coefficients"),
							   1)) - 10.0 / 65535) < 1e-15);
	json_decref(j);
	free(text);
}

static void test_open_missing(void **state)
{
	labdaq_device *dev = NULL;
	int found = 0;

	(void)state;
	for (unsigned int i = 0; i < labdaq_backend_count(); i++)
		found |= !strcmp(labdaq_backend_name(i), "comedi");
	if (!found)
		skip();
	assert_int_equal(labdaq_device_open("comedi:/dev/labdaq-no-such-comedi", &dev), -ENODEV);
	assert_null(dev);
	assert_int_equal(labdaq_device_open("comedi:abc", &dev), -EINVAL);
	assert_int_equal(labdaq_device_open("comedi:0?buffer=12q", &dev), -EINVAL);
	assert_int_equal(labdaq_device_open("comedi:0?subdevice=x", &dev), -EINVAL);
	assert_null(dev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_errors),      cmocka_unit_test(test_paths),
		cmocka_unit_test(test_board_nodes), cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_sizes),       cmocka_unit_test(test_linear),
		cmocka_unit_test(test_polynomial),  cmocka_unit_test(test_rates),
		cmocka_unit_test(test_meta),        cmocka_unit_test(test_open_missing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#else

static void test_no_comedilib(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = { cmocka_unit_test(test_no_comedilib) };

	return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
