/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_uri.c - "BACKEND:PATH?key=value&..." device URIs (lib/uri.c):
 * parsing, the typed getters with their ranges, and unknown keys.
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

#include "internal.h"

/* ---- the log ---- */

static char last_log[1024];
static int nlogs;

static void log_cb(int level, const char *msg, void *user)
{
	(void)user;
	assert_int_equal(level, LABDAQ_LOG_ERROR);
	snprintf(last_log, sizeof(last_log), "%s", msg);
	nlogs++;
}

static int setup(void **state)
{
	(void)state;
	last_log[0] = '\0';
	nlogs = 0;
	labdaq_set_log(log_cb, LABDAQ_LOG_DEBUG, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	labdaq_set_log(NULL, LABDAQ_LOG_ERROR, NULL);
	return 0;
}

/* The last log line contains each of the strings (NULL-terminated). */
static void log_has(const char *first, ...)
{
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		if (!strstr(last_log, s))
			fail_msg("the log \"%s\" does not name \"%s\"", last_log, s);
	va_end(ap);
}

static void parse_ok(const char *text, struct ldq_uri *u)
{
	int ret = ldq_uri_parse(text, u);

	if (ret)
		fail_msg("parse \"%s\": %d: %s", text, ret, last_log);
}

static void parse_bad(const char *text)
{
	struct ldq_uri u;
	int ret;

	nlogs = 0;
	ret = ldq_uri_parse(text, &u);
	if (ret != -EINVAL) {
		if (!ret)
			ldq_uri_free(&u);
		fail_msg("parse \"%s\": %d, want -EINVAL", text ? text : "(null)", ret);
	}
	/* a failed parse leaves nothing to free, and says why */
	assert_null(u.buf);
	assert_int_equal(u.nparams, 0);
	assert_int_equal(nlogs, 1);
}

/* ---- parsing ---- */

static void test_parse_good(void **state)
{
	struct ldq_uri u;
	char *copy;

	(void)state;
	parse_ok("sim:camera", &u);
	assert_string_equal(u.backend, "sim");
	assert_string_equal(u.path, "camera");
	assert_int_equal(u.nparams, 0);
	ldq_uri_free(&u);
	assert_null(u.buf);
	ldq_uri_free(&u); /* twice is harmless */

	/* the URI is copied: the caller's string may go away */
	copy = strdup("sim:camera?width=64&height=48");
	assert_non_null(copy);
	parse_ok(copy, &u);
	memset(copy, 'x', strlen(copy));
	free(copy);
	assert_string_equal(u.backend, "sim");
	assert_string_equal(u.path, "camera");
	assert_int_equal(u.nparams, 2);
	assert_string_equal(u.params[0].key, "width");
	assert_string_equal(u.params[0].value, "64");
	assert_int_equal(u.params[0].used, 0);
	assert_string_equal(u.params[1].key, "height");
	assert_string_equal(u.params[1].value, "48");
	ldq_uri_free(&u);

	/* the path keeps its own colons: the backend is before the first */
	parse_ok("iio:ip:192.168.1.10", &u);
	assert_string_equal(u.backend, "iio");
	assert_string_equal(u.path, "ip:192.168.1.10");
	assert_int_equal(u.nparams, 0);
	ldq_uri_free(&u);

	parse_ok("iio:local:labdaq-sim?buffer=4096", &u);
	assert_string_equal(u.path, "local:labdaq-sim");
	assert_string_equal(u.params[0].key, "buffer");
	ldq_uri_free(&u);

	/* an empty path and an empty query are the backend's business */
	parse_ok("sim:", &u);
	assert_string_equal(u.path, "");
	ldq_uri_free(&u);
	parse_ok("sim:adc?", &u);
	assert_string_equal(u.path, "adc");
	assert_int_equal(u.nparams, 0);
	ldq_uri_free(&u);

	/* a value may be empty or hold '=' (only the first splits) */
	parse_ok("sim:adc?a=&b=x=y", &u);
	assert_int_equal(u.nparams, 2);
	assert_string_equal(u.params[0].key, "a");
	assert_string_equal(u.params[0].value, "");
	assert_string_equal(u.params[1].key, "b");
	assert_string_equal(u.params[1].value, "x=y");
	ldq_uri_free(&u);

	/* keys are case-sensitive: these are two keys */
	parse_ok("sim:adc?seed=1&Seed=2", &u);
	assert_int_equal(u.nparams, 2);
	ldq_uri_free(&u);
	assert_int_equal(nlogs, 0);
}

static void test_parse_missing_backend(void **state)
{
	(void)state;
	parse_bad("camera");
	log_has("camera", "no backend", NULL);
	parse_bad(":camera");
	log_has(":camera", NULL);
	parse_bad("camera?width=1");
	parse_bad("");
	parse_bad(NULL);
}

static void test_parse_key_without_value(void **state)
{
	(void)state;
	parse_bad("sim:adc?channels");
	log_has("sim:adc?channels", "'channels'", "key=value", NULL);
	parse_bad("sim:adc?channels=4&seed");
	log_has("'seed'", NULL);
	parse_bad("sim:adc?=4");
	log_has("'=4'", NULL);
	parse_bad("sim:adc?channels=4&=1");
}

static void test_parse_duplicate_key(void **state)
{
	(void)state;
	parse_bad("sim:adc?channels=4&channels=4");
	log_has("'channels' given twice", NULL);
	parse_bad("sim:camera?width=4&height=4&width=8");
	log_has("'width'", NULL);
}

static void test_parse_too_many(void **state)
{
	char text[512];
	struct ldq_uri u;
	size_t len;

	(void)state;
	len = (size_t)snprintf(text, sizeof(text), "sim:adc?");
	for (int i = 0; i < LDQ_URI_MAX_PARAMS; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%sk%d=%d", i ? "&" : "",
					i, i);
	parse_ok(text, &u);
	assert_int_equal(u.nparams, LDQ_URI_MAX_PARAMS);
	assert_string_equal(u.params[LDQ_URI_MAX_PARAMS - 1].key, "k15");
	assert_string_equal(u.params[LDQ_URI_MAX_PARAMS - 1].value, "15");
	ldq_uri_free(&u);

	snprintf(text + len, sizeof(text) - len, "&k%d=1", LDQ_URI_MAX_PARAMS);
	parse_bad(text);
	log_has("more than 16 parameters", NULL);
}

/* ---- the getters ---- */

static void test_get_u64(void **state)
{
	struct ldq_uri u;
	uint64_t v;

	(void)state;
	parse_ok("sim:x?a=42&zero=0&max=18446744073709551615&lo=9&hi=101", &u);

	/* absent: 0, the default stays */
	v = 7;
	assert_int_equal(ldq_uri_get_u64(&u, "nope", 0, 100, &v), 0);
	assert_int_equal(v, 7);

	assert_int_equal(ldq_uri_get_u64(&u, "a", 0, 100, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(u.params[0].used, 1);
	assert_int_equal(ldq_uri_get_u64(&u, "a", 42, 42, &v), 0); /* bounds included */
	assert_int_equal(ldq_uri_get_u64(&u, "zero", 0, 1, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(ldq_uri_get_u64(&u, "max", 0, UINT64_MAX, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(nlogs, 0);

	/* out of range: -EINVAL, the value untouched, the log says why */
	v = 5;
	assert_int_equal(ldq_uri_get_u64(&u, "lo", 10, 100, &v), -EINVAL);
	assert_int_equal(v, 5);
	log_has("lo=9", "out of range", "[10, 100]", NULL);
	assert_int_equal(ldq_uri_get_u64(&u, "hi", 10, 100, &v), -EINVAL);
	log_has("hi=101", NULL);
	assert_int_equal(ldq_uri_get_u64(&u, "max", 0, UINT64_MAX - 1, &v), -EINVAL);
	assert_int_equal(v, 5);
	assert_int_equal(ldq_uri_get_u64(&u, "zero", 1, 10, &v), -EINVAL);
	/* a key read, even a bad one, counts as used */
	for (unsigned int i = 0; i < u.nparams; i++)
		assert_int_equal(u.params[i].used, 1);
	ldq_uri_free(&u);
}

static void test_get_u64_malformed(void **state)
{
	static const char *const bad[] = {
		"",   "abc", "12abc", "1.5", "1e3", "0x10", "-1", "-0", "4 ", "1,000", "+5",
		"18446744073709551616", "99999999999999999999999",
	};

	(void)state;
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(bad); i++) {
		char text[128];
		struct ldq_uri u;
		uint64_t v = 3;
		int ret;

		snprintf(text, sizeof(text), "sim:x?n=%s", bad[i]);
		parse_ok(text, &u);
		ret = ldq_uri_get_u64(&u, "n", 0, UINT64_MAX, &v);
		ldq_uri_free(&u);
		if (ret != -EINVAL || v != 3)
			fail_msg("n=\"%s\": %d, value %llu; want -EINVAL, 3", bad[i], ret,
				 (unsigned long long)v);
		log_has("n=", "not a whole number", NULL);
	}
}

/*
 * Numbers are plain digits: strtoull() skips leading blanks and accepts a
 * sign after them, so " -1" must not slip through as 2^64 - 1.
 */
static void test_numbers_leading_blank(void **state)
{
	static const char *const bad[] = { " -1", " 5", "\t7" };
	char why[256] = "";

	(void)state;
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(bad); i++) {
		char text[128];
		struct ldq_uri u;
		uint64_t v = 3;
		double d = 3;
		int ret, dret;

		snprintf(text, sizeof(text), "sim:x?n=%s&d=%s", bad[i], bad[i]);
		parse_ok(text, &u);
		ret = ldq_uri_get_u64(&u, "n", 0, UINT64_MAX, &v);
		dret = ldq_uri_get_double(&u, "d", -1e9, 1e9, &d);
		ldq_uri_free(&u);
		if ((ret != -EINVAL || dret != -EINVAL) && !why[0])
			snprintf(why, sizeof(why),
				 "n=\"%s\": %d (value %llu), d=\"%s\": %d (value %g); want -EINVAL",
				 bad[i], ret, (unsigned long long)v, bad[i], dret, d);
	}
	if (why[0])
		fail_msg("%s", why);
}

static void test_get_double(void **state)
{
	struct ldq_uri u;
	double v;

	(void)state;
	parse_ok("sim:x?a=1.5&b=-2&c=1e3&d=0.001&lo=-10.5&hi=1e12", &u);
	v = 9;
	assert_int_equal(ldq_uri_get_double(&u, "nope", 0, 1, &v), 0);
	assert_true(v == 9);
	assert_int_equal(ldq_uri_get_double(&u, "a", 0, 10, &v), 0);
	assert_true(v == 1.5);
	assert_int_equal(ldq_uri_get_double(&u, "b", -10, 10, &v), 0);
	assert_true(v == -2);
	assert_int_equal(ldq_uri_get_double(&u, "c", 1e3, 1e3, &v), 0); /* bounds included */
	assert_true(v == 1000);
	assert_int_equal(ldq_uri_get_double(&u, "d", 1e-3, 1, &v), 0);
	assert_true(v == 0.001);
	assert_int_equal(nlogs, 0);

	v = 9;
	assert_int_equal(ldq_uri_get_double(&u, "lo", -10, 10, &v), -EINVAL);
	assert_true(v == 9);
	log_has("lo=-10.5", "out of range", NULL);
	assert_int_equal(ldq_uri_get_double(&u, "hi", 0, 1e11, &v), -EINVAL);
	assert_true(v == 9);
	ldq_uri_free(&u);
}

static void test_get_double_malformed(void **state)
{
	static const char *const bad[] = { "",	  "abc",  "1.5x", "nan",   "NaN",   "inf",
					   "-inf", "1e999", "1..2", "1.5 ", "--1", "1,5",
					   "+1.5", "0x10", "0x1p3" };

	(void)state;
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(bad); i++) {
		char text[128];
		struct ldq_uri u;
		double v = 3;
		int ret;

		snprintf(text, sizeof(text), "sim:x?r=%s", bad[i]);
		parse_ok(text, &u);
		ret = ldq_uri_get_double(&u, "r", -1e300, 1e300, &v);
		ldq_uri_free(&u);
		if (ret != -EINVAL || v != 3)
			fail_msg("r=\"%s\": %d, value %g; want -EINVAL, 3", bad[i], ret, v);
		log_has("r=", "not a number", NULL);
	}
}

static void test_get_str(void **state)
{
	struct ldq_uri u;

	(void)state;
	parse_ok("sim:x?name=hello&empty=", &u);
	assert_null(ldq_uri_get_str(&u, "nope"));
	assert_string_equal(ldq_uri_get_str(&u, "name"), "hello");
	assert_int_equal(u.params[0].used, 1);
	assert_int_equal(u.params[1].used, 0);
	assert_string_equal(ldq_uri_get_str(&u, "empty"), "");
	assert_int_equal(u.params[1].used, 1);
	assert_null(ldq_uri_get_str(&u, "NAME"));
	ldq_uri_free(&u);
}

static void test_check_unused(void **state)
{
	struct ldq_uri u;
	uint64_t v;

	(void)state;
	/* no parameters at all */
	parse_ok("sim:camera", &u);
	assert_int_equal(ldq_uri_check_unused(&u, "sim:camera", "width, height"), 0);
	ldq_uri_free(&u);

	parse_ok("sim:camera?width=4&bogus=1&height=2", &u);
	assert_int_equal(ldq_uri_get_u64(&u, "width", 1, 100, &v), 0);
	assert_int_equal(ldq_uri_get_u64(&u, "height", 1, 100, &v), 0);
	nlogs = 0;
	assert_int_equal(ldq_uri_check_unused(&u, "sim:camera?width=4&bogus=1&height=2",
					      "width, height"),
			 -EINVAL);
	assert_int_equal(nlogs, 1);
	log_has("sim:camera?width=4&bogus=1&height=2", "unknown parameter 'bogus'",
		"width, height", NULL);
	assert_non_null(ldq_uri_get_str(&u, "bogus"));
	assert_int_equal(ldq_uri_check_unused(&u, "x", "width, height"), 0);
	ldq_uri_free(&u);

	/* no known keys */
	parse_ok("sim:x?a=1", &u);
	assert_int_equal(ldq_uri_check_unused(&u, "sim:x", NULL), -EINVAL);
	log_has("'a'", "none", NULL);
	assert_int_equal(ldq_uri_check_unused(&u, "sim:x", ""), -EINVAL);
	log_has("none", NULL);
	ldq_uri_free(&u);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_parse_good, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_missing_backend, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_key_without_value, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_duplicate_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_too_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_u64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_u64_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_numbers_leading_blank, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_double, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_double_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_str, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_unused, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
