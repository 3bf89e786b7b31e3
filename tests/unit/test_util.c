/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_util.c - lib/util.c: ldq_utc_fields() against the C library's
 * gmtime_r() (the peer it replaces at a run's start), and ldq_utc_now()'s
 * format.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "internal.h"
#include "util.h"

static void same_as_gmtime(long long t)
{
	time_t tt = (time_t)t;
	struct tm want, got;

	assert_non_null(gmtime_r(&tt, &want));
	memset(&got, 0, sizeof(got));
	ldq_utc_fields(t, &got);
	if (got.tm_year != want.tm_year || got.tm_mon != want.tm_mon ||
	    got.tm_mday != want.tm_mday || got.tm_hour != want.tm_hour ||
	    got.tm_min != want.tm_min || got.tm_sec != want.tm_sec)
		fail_msg("t=%lld: %d-%d-%d %d:%d:%d, gmtime_r %d-%d-%d %d:%d:%d", t,
			 got.tm_year, got.tm_mon, got.tm_mday, got.tm_hour, got.tm_min,
			 got.tm_sec, want.tm_year, want.tm_mon, want.tm_mday, want.tm_hour,
			 want.tm_min, want.tm_sec);
}

/* The edges: the epoch and a second either side, leap days (2000 is a
 * leap year, 1900 and 2100 are not), year ends, years 1 and 9999. */
static void test_utc_fields_edges(void **state)
{
	static const long long t[] = {
		0, -1, 1, 86399, 86400, -86400, -86401,
		951782400, 951868799, 951868800,  /* 2000-02-29, its end, 03-01 */
		-2203977600, -2203891200,         /* 1900-02-28, 1900-03-01 */
		4107456000, 4107542400,           /* 2100-02-28, 2100-03-01 */
		946684799, 946684800,             /* 1999-12-31 23:59:59, 2000 */
		1796582012, 2147483647, 2147483648LL,
		-62135596800LL, 253402300799LL,   /* 0001-01-01, 9999-12-31 23:59:59 */
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		same_as_gmtime(t[i]);
}

/* Every day from 1600 to 2400 at a second that walks through the day, and
 * 200000 seconds spread over years 1 to 9999. */
static void test_utc_fields_sweep(void **state)
{
	uint64_t x = 88172645463325252ull;

	(void)state;
	for (long long d = -135140; d <= 157054; d++)
		same_as_gmtime(d * 86400 + (d * 7919) % 86400);
	for (int i = 0; i < 200000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		same_as_gmtime(-62135596800LL + (long long)(x % 315537897600ull));
	}
}

static void test_utc_now_format(void **state)
{
	char buf[40];
	struct tm tm;
	time_t before = time(NULL), after;
	int y, mo, d, h, mi, s, ms, n = 0;

	(void)state;
	ldq_utc_now(buf, sizeof(buf));
	after = time(NULL);
	assert_int_equal(strlen(buf), 24);
	assert_int_equal(sscanf(buf, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &y, &mo, &d, &h, &mi, &s,
				&ms, &n), 7);
	assert_int_equal(n, 24);
	/* the same moment as time() around it */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = s;
	assert_in_range(timegm(&tm), before, after);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc_fields_edges),
		cmocka_unit_test(test_utc_fields_sweep),
		cmocka_unit_test(test_utc_now_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
