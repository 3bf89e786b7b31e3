/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_npy.c - the .npy header (lib/npy.c): format, parse, read, and
 * numpy's view of a file.
 */
#include "file_fixture.h"

#include "labdaq.h"
#include "npy.h"


/* ------------------------------------------------------------------------
 * The .npy header
 */

static void check_prefix(const char *buf, const char *dict)
{
	size_t n = strlen(dict), i;

	/* "\x93NUMPY", version 1.0, header length 4086 little-endian. */
	assert_memory_equal(buf, "\x93NUMPY\x01\x00\xf6\x0f", 10);
	assert_memory_equal(buf + 10, dict, n);
	for (i = 10 + n; i < LDQ_NPY_HEADER_BYTES - 1; i++)
		assert_int_equal(buf[i], ' ');
	assert_int_equal(buf[LDQ_NPY_HEADER_BYTES - 1], '\n');
}

static void test_header_bytes(void **state)
{
	char buf[LDQ_NPY_HEADER_BYTES + 1];

	(void)state;
	buf[LDQ_NPY_HEADER_BYTES] = 'X';
	assert_int_equal(ldq_npy_format(buf, &frames_u2, 12), 0);
	check_prefix(buf, "{'descr': '<u2', 'fortran_order': False, 'shape': (12, 480, 640), }");
	assert_int_equal(buf[LDQ_NPY_HEADER_BYTES], 'X'); /* exactly 4096 bytes */

	assert_int_equal(ldq_npy_format(buf, &samples_f8, 0), 0);
	check_prefix(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4), }");

	assert_int_equal(ldq_npy_format(buf, &samples_f8, UINT64_MAX), 0);
	check_prefix(buf, "{'descr': '<f8', 'fortran_order': False, "
			  "'shape': (18446744073709551615, 4), }");

	assert_int_equal(ldq_npy_item_bytes(&frames_u2), 480 * 640 * 2);
	assert_int_equal(ldq_npy_item_bytes(&samples_f8), 32);
}

static void test_header_bad_layout(void **state)
{
	char buf[LDQ_NPY_HEADER_BYTES];
	struct ldq_npy_layout l = { "<u2", 3, { 1, 2 } };

	(void)state;
	assert_int_equal(ldq_npy_format(buf, &l, 1), -EINVAL);
	l.ndim = 0;
	assert_int_equal(ldq_npy_format(buf, &l, 1), -EINVAL);
	l = (struct ldq_npy_layout){ "<u3", 1, { 2 } };
	assert_int_equal(ldq_npy_format(buf, &l, 1), -EINVAL);
	l = (struct ldq_npy_layout){ "|O8", 1, { 2 } };
	assert_int_equal(ldq_npy_format(buf, &l, 1), -EINVAL);
	l = (struct ldq_npy_layout){ "<i4", 1, { 0 } };
	assert_int_equal(ldq_npy_format(buf, &l, 1), -EINVAL);
	assert_int_equal(ldq_npy_item_bytes(&l), 0);
	l = (struct ldq_npy_layout){ "<i4", 2, { UINT64_MAX / 2, 3 } };
	assert_int_equal(ldq_npy_item_bytes(&l), 0);
	/* A header of another length keeps the payload where it is. */
	assert_int_equal(ldq_npy_format_len(buf, 64, &frames_u2, 12), -EOVERFLOW);
	assert_int_equal(ldq_npy_format_len(buf, 128, &frames_u2, 12), 0);
	assert_memory_equal(buf, "\x93NUMPY\x01\x00\x76\x00", 10);
	assert_int_equal(buf[127], '\n');
}

static void test_header_roundtrip(void **state)
{
	static const struct ldq_npy_layout ls[] = {
		{ "<u2", 2, { 480, 640 } }, { "<i2", 1, { 1 } }, { "<f8", 1, { 16 } },
		{ "<i4", 2, { 1, 1 } },     { "<u4", 1, { 7 } }, { "<i8", 2, { 3, 100000 } },
	};
	static const uint64_t counts[] = { 0, 1, 12, 1ull << 40, UINT64_MAX };
	char buf[LDQ_NPY_HEADER_BYTES];
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl, i, j;

	(void)state;
	for (i = 0; i < sizeof(ls) / sizeof(ls[0]); i++) {
		for (j = 0; j < sizeof(counts) / sizeof(counts[0]); j++) {
			memset(&l, 0xaa, sizeof(l));
			assert_int_equal(ldq_npy_format(buf, &ls[i], counts[j]), 0);
			assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), 0);
			assert_string_equal(l.descr, ls[i].descr);
			assert_int_equal(l.ndim, ls[i].ndim);
			assert_int_equal(l.dims[0], ls[i].dims[0]);
			if (l.ndim == 2)
				assert_int_equal(l.dims[1], ls[i].dims[1]);
			assert_true(items == counts[j]);
			assert_int_equal(hl, LDQ_NPY_HEADER_BYTES);
			/* A longer buffer (header plus payload) is fine. */
		}
	}
}

static void test_header_write_fd(void **state)
{
	struct fixture *fx = *state;
	char want[LDQ_NPY_HEADER_BYTES];
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl, len;
	char *got;
	int fd;

	fd = open(in_dir(fx, "h.npy"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "payload!", 8, LDQ_NPY_HEADER_BYTES), 8);
	assert_int_equal(ldq_npy_write_header(fd, &frames_u2, 0), 0);
	assert_int_equal(ldq_npy_write_header(fd, &frames_u2, 1234567), 0);
	assert_int_equal(ldq_npy_read_header(fd, &l, &items, &hl), 0);
	assert_true(items == 1234567);
	assert_int_equal(hl, LDQ_NPY_HEADER_BYTES);
	close(fd);

	got = read_file(fx->path, &len);
	assert_int_equal(len, LDQ_NPY_HEADER_BYTES + 8);
	assert_int_equal(ldq_npy_format(want, &frames_u2, 1234567), 0);
	assert_memory_equal(got, want, sizeof(want));
	assert_memory_equal(got + LDQ_NPY_HEADER_BYTES, "payload!", 8);
	free(got);

	assert_int_equal(ldq_npy_write_header(-1, &frames_u2, 1), -EBADF);
}

/* A v1 (or v2) header around @dict, padded like NumPy does, into @buf. */
static size_t make_header(char *buf, int major, const char *dict, size_t total)
{
	size_t prefix = major == 1 ? 10 : 12, hl = total - prefix, n = strlen(dict);

	memcpy(buf, "\x93NUMPY", 6);
	buf[6] = (char)major;
	buf[7] = 0;
	buf[8] = (char)(hl & 0xff);
	buf[9] = (char)(hl >> 8);
	if (major == 2) {
		buf[10] = (char)(hl >> 16);
		buf[11] = (char)(hl >> 24);
	}
	memcpy(buf + prefix, dict, n);
	memset(buf + prefix + n, ' ', total - prefix - n - 1);
	buf[total - 1] = '\n';
	return total;
}

static void test_parse_variants(void **state)
{
	char buf[256];
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl, n;

	(void)state;
	/* As numpy.save writes it. */
	n = make_header(buf, 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }", 128);
	assert_int_equal(ldq_npy_parse(buf, n, &l, &items, &hl), 0);
	assert_string_equal(l.descr, "<i4");
	assert_int_equal(l.ndim, 1);
	assert_int_equal(l.dims[0], 2);
	assert_int_equal(items, 3);
	assert_int_equal(hl, 128);

	/* Version 2.0, other key order, double quotes, trailing commas. */
	n = make_header(buf, 2,
			"{\"shape\": (5, 6, 7,), \"descr\": \">f8\", \"fortran_order\": False}",
			192);
	assert_int_equal(ldq_npy_parse(buf, n, &l, &items, &hl), 0);
	assert_string_equal(l.descr, ">f8");
	assert_int_equal(l.ndim, 2);
	assert_int_equal(l.dims[0], 6);
	assert_int_equal(l.dims[1], 7);
	assert_int_equal(items, 5);
	assert_int_equal(hl, 192);

	/* Python 2's long literals and single-byte types. */
	n = make_header(buf, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (4L, 3L), }",
			128);
	assert_int_equal(ldq_npy_parse(buf, n, &l, &items, &hl), 0);
	assert_string_equal(l.descr, "|u1");
	assert_int_equal(items, 4);
	assert_int_equal(ldq_npy_item_bytes(&l), 3);

	/* Bytes after the header (the payload) are not looked at. */
	memset(buf + 128, 0xff, 64);
	assert_int_equal(ldq_npy_parse(buf, 192, &l, &items, &hl), 0);
	assert_int_equal(hl, 128);
}

static void expect_bad(const char *dict)
{
	char buf[256];
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl, n;

	n = make_header(buf, 1, dict, 128);
	if (ldq_npy_parse(buf, n, &l, &items, &hl) != -EBADMSG)
		fail_msg("accepted: %s", dict);
}

static void test_parse_rejects(void **state)
{
	char good[LDQ_NPY_HEADER_BYTES], buf[LDQ_NPY_HEADER_BYTES];
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl;

	(void)state;
	assert_int_equal(ldq_npy_format(good, &frames_u2, 3), 0);

	/* Magic, version, length. */
	memcpy(buf, good, sizeof(buf));
	buf[0] = (char)0x92;
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);
	memcpy(buf, good, sizeof(buf));
	buf[3] = 'n';
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);
	memcpy(buf, good, sizeof(buf));
	buf[6] = 3;
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);
	memcpy(buf, good, sizeof(buf));
	buf[7] = 1;
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);
	memcpy(buf, good, sizeof(buf));
	buf[9] = 0x10; /* longer than the buffer */
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);
	assert_int_equal(ldq_npy_parse(good, sizeof(good) - 1, &l, &items, &hl), -EBADMSG);
	assert_int_equal(ldq_npy_parse(good, 9, &l, &items, &hl), -EBADMSG);
	assert_int_equal(ldq_npy_parse("", 0, &l, &items, &hl), -EBADMSG);
	/* A corrupted dict. */
	memcpy(buf, good, sizeof(buf));
	buf[12] = 'x';
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);
	memcpy(buf, good, sizeof(buf));
	buf[200] = '}';
	assert_int_equal(ldq_npy_parse(buf, sizeof(buf), &l, &items, &hl), -EBADMSG);

	expect_bad("{'descr': '<u2', 'fortran_order': True, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': Falsey, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': 0, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, }");
	expect_bad("{'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3,), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2, 2, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, -2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 0), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2.5), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, "
		   "'shape': (3, 99999999999999999999), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': [3, 2], }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2), 'x': 1}");
	expect_bad("{'descr': '<u2', 'descr': '<u2', 'fortran_order': False, 'shape': (3, 2)}");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2), } x");
	expect_bad("{'descr': '<u2' 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2), ");
	expect_bad("{'descr': [('a', '<i4')], 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '|O', 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '<U8', 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u3', 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': 'u2', 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2\\x', 'fortran_order': False, 'shape': (3, 2), }");
	expect_bad("{'descr': '<u2', 'fortran_order': False, 'shape': (3, 2), }}");
	expect_bad("");
	expect_bad("garbage");
}

static void test_read_header_short(void **state)
{
	struct fixture *fx = *state;
	char buf[LDQ_NPY_HEADER_BYTES];
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl;
	int fd;

	assert_int_equal(ldq_npy_format(buf, &frames_u2, 3), 0);
	write_file(in_dir(fx, "short.npy"), buf, 4000);
	fd = open(fx->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_read_header(fd, &l, &items, &hl), -EBADMSG);
	close(fd);
	write_file(fx->path, buf, 5);
	fd = open(fx->path, O_RDONLY | O_CLOEXEC);
	assert_int_equal(ldq_npy_read_header(fd, &l, &items, &hl), -EBADMSG);
	close(fd);
}


static void test_numpy_load(void **state)
{
	struct fixture *fx = *state;
	static const struct ldq_npy_layout cam = { "<u2", 2, { 3, 5 } };
	static const struct ldq_npy_layout adc = { "<f8", 1, { 2 } };
	uint16_t px[4 * 15];
	double v[6 * 2];
	int fd, i;

	if (!have_numpy())
		skip_because(PYTHON " with numpy is not available");

	/* Frames: (4, 3, 5) uint16 holding 0..59. */
	for (i = 0; i < 60; i++)
		px[i] = (uint16_t)(i * 1000);
	fd = open(in_dir(fx, "cam.npy"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_write_header(fd, &cam, 4), 0);
	assert_int_equal(pwrite(fd, px, sizeof(px), LDQ_NPY_HEADER_BYTES), sizeof(px));
	close(fd);
	assert_int_equal(python("import numpy as np; a = np.load('%s', mmap_mode='r'); "
				"assert a.shape == (4, 3, 5), a.shape; "
				"assert a.dtype == np.dtype('<u2'), a.dtype; "
				"assert a.offset == 4096; "
				"assert (a.ravel() == np.arange(60, dtype=np.uint16) * 1000).all()",
				fx->path),
			 0);

	/* Samples mid-run: the header counts 4, the payload has 6 rows. */
	for (i = 0; i < 12; i++)
		v[i] = i * 0.5 - 1.0;
	fd = open(in_dir(fx, "adc.npy"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_write_header(fd, &adc, 4), 0);
	assert_int_equal(pwrite(fd, v, sizeof(v), LDQ_NPY_HEADER_BYTES), sizeof(v));
	close(fd);
	assert_int_equal(python("import numpy as np; a = np.load('%s', mmap_mode='r'); "
				"assert a.shape == (4, 2), a.shape; assert a.dtype == '<f8'; "
				"assert (a.ravel() == np.arange(8) * 0.5 - 1.0).all(); "
				"b = np.load('%s'); assert b.shape == (4, 2)",
				fx->path, fx->path),
			 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_bytes),
		cmocka_unit_test(test_header_bad_layout),
		cmocka_unit_test(test_header_roundtrip),
		cmocka_unit_test_setup_teardown(test_header_write_fd, setup_dir, teardown_dir),
		cmocka_unit_test(test_parse_variants),
		cmocka_unit_test(test_parse_rejects),
		cmocka_unit_test_setup_teardown(test_read_header_short, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_numpy_load, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
