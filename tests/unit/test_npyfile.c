/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_npyfile.c - the .npy header, the JSON sidecar (including a write on
 * a full file system) and labdaq_file_recover().
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "labdaq.h"
#include "npyfile.h"

#define PYTHON "/usr/bin/python3"

/*
 * fallocate() is interposed so that a test can pretend the file system
 * does not support it (the library then fills its spare with spaces).
 */
static int fake_no_fallocate;

int fallocate(int fd, int mode, off_t offset, off_t len)
{
	long r;

	if (fake_no_fallocate) {
		errno = EOPNOTSUPP;
		return -1;
	}
	r = syscall(SYS_fallocate, fd, mode, offset, len);
	return r < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------
 * Helpers
 */

struct fixture {
	char dir[64];      /* a fresh temporary directory */
	char mnt[64];      /* a mount point to unmount, or "" */
	char img[80];      /* a file system image to remove, or "" */
	char path[256];    /* scratch */
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup_dir(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->dir, "/tmp/labdaq-npy-XXXXXX");
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown_dir(void **state)
{
	struct fixture *fx = *state;

	fake_no_fallocate = 0;
	if (!fx)
		return 0;
	if (fx->mnt[0]) {
		if (umount2(fx->mnt, 0) < 0)
			umount2(fx->mnt, MNT_DETACH);
	}
	nftw(fx->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (fx->img[0])
		unlink(fx->img);
	free(fx);
	return 0;
}

static const char *in_dir(struct fixture *fx, const char *name)
{
	snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, name);
	return fx->path;
}

static void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file; NUL-terminated; *@len its size. */
static char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

static json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);

	if (!j)
		print_error("%s:%d: %s\n", path, err.line, err.text);
	assert_non_null(j);
	assert_true(json_is_object(j));
	return j;
}

static const char *jget_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static long long jget_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static void assert_jnull(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_null(v));
}

/* Names in @dir, other than "." and "..", joined by ' ', sorted. */
static void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **ents;
	int n, i;

	out[0] = '\0';
	n = scandir(dir, &ents, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			if (out[0])
				strncat(out, " ", size - strlen(out) - 1);
			strncat(out, ents[i]->d_name, size - strlen(out) - 1);
		}
		free(ents[i]);
	}
	free(ents);
}

static const struct ldq_npy_layout frames_u2 = { "<u2", 2, { 480, 640 } };
static const struct ldq_npy_layout samples_f8 = { "<f8", 1, { 4 } };

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

/* ------------------------------------------------------------------------
 * The sidecar
 */

static void test_meta_path(void **state)
{
	static const char *const cases[][2] = {
		{ "x.npy", "x.json" },           { "dir/run.npy", "dir/run.json" },
		{ "/a/b.c/run.npy", "/a/b.c/run.json" }, { "x.dat", "x.dat.json" },
		{ "x", "x.json" },               { "a.npy.npy", "a.npy.json" },
		{ "x.NPY", "x.NPY.json" },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *s = ldq_meta_path(cases[i][0]);

		assert_non_null(s);
		assert_string_equal(s, cases[i][1]);
		free(s);
	}
	assert_null(ldq_meta_path(NULL));
}

static const struct labdaq_channel chans[] = {
	{ "voltage0", "V", 0.1, LABDAQ_DTYPE_INT16, 0 },
	{ "current1", "A", 1.52587890625e-05, LABDAQ_DTYPE_INT16, 0 },
	{ "temp", "", 1.0, LABDAQ_DTYPE_INT16, 0 },
};

static void fill_meta(struct ldq_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->status = "running";
	m->device = "sim:adc?channels=3";
	m->backend = "sim";
	m->kind = "samples";
	m->command = "labdaq acquire sim:adc?channels=3 -o \"run.npy\"";
	m->started_utc = "2026-11-27T10:40:03.123Z";
	m->rate_hz = 1000.0;
	m->layout = (struct ldq_npy_layout){ "<i2", 1, { 3 } };
	m->channels = chans;
	m->nchannels = 3;
	m->ring_capacity_bytes = 64ull << 20;
	m->ring_policy = "drop";
}

static void test_meta_roundtrip(void **state)
{
	static const struct ldq_gap gaps[] = { { 10, 5 }, { 100, 1 }, { 1ull << 33, 123456 } };
	struct fixture *fx = *state;
	struct ldq_meta_file *mf;
	struct ldq_meta m;
	json_t *j, *a, *o;
	char *text;
	size_t i;

	fill_meta(&m);
	m.status = "failed";
	m.ended_utc = "2026-11-27T10:41:00.000Z";
	m.acquired = 5000000000ull;
	m.written = 4999876538ull;
	m.dropped = 123462;
	m.gaps = gaps;
	m.ngaps = 3;
	m.ring_high_water_bytes = 12345678;
	m.error_code = -ENOSPC;
	m.error = "writing run.npy: No space left on device";
	m.run_id = "1795776897-20914-4394";

	assert_int_equal(ldq_meta_open(in_dir(fx, "run.npy"), &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);

	j = load_json(in_dir(fx, "run.json"));
	assert_int_equal(json_object_size(j), 20);
	assert_string_equal(jget_str(j, "run_id"), "1795776897-20914-4394");
	assert_string_equal(jget_str(j, "format"), "labdaq-1");
	assert_string_equal(jget_str(j, "status"), "failed");
	assert_string_equal(jget_str(j, "file"), "run.npy");
	assert_string_equal(jget_str(j, "device"), "sim:adc?channels=3");
	assert_string_equal(jget_str(j, "backend"), "sim");
	assert_string_equal(jget_str(j, "kind"), "samples");
	assert_string_equal(jget_str(j, "dtype"), "<i2");
	a = json_object_get(j, "shape");
	assert_int_equal(json_array_size(a), 1);
	assert_int_equal(json_integer_value(json_array_get(a, 0)), 3);
	a = json_object_get(j, "channels");
	assert_int_equal(json_array_size(a), 3);
	for (i = 0; i < 3; i++) {
		o = json_array_get(a, i);
		assert_int_equal(json_object_size(o), 3);
		assert_string_equal(jget_str(o, "name"), chans[i].name);
		assert_string_equal(jget_str(o, "unit"), chans[i].unit);
		assert_true(json_is_real(json_object_get(o, "scale")));
		assert_true(json_real_value(json_object_get(o, "scale")) == chans[i].scale);
	}
	assert_true(json_real_value(json_object_get(j, "rate_hz")) == 1000.0);
	assert_string_equal(jget_str(j, "started_utc"), "2026-11-27T10:40:03.123Z");
	assert_string_equal(jget_str(j, "ended_utc"), "2026-11-27T10:41:00.000Z");
	assert_true(jget_int(j, "acquired") == 5000000000ll);
	assert_true(jget_int(j, "written") == 4999876538ll);
	assert_int_equal(jget_int(j, "dropped"), 123462);
	a = json_object_get(j, "gaps");
	assert_int_equal(json_array_size(a), 3);
	for (i = 0; i < 3; i++) {
		o = json_array_get(a, i);
		assert_int_equal(json_object_size(o), 2);
		assert_true(jget_int(o, "index") == (long long)gaps[i].index);
		assert_true(jget_int(o, "count") == (long long)gaps[i].count);
	}
	o = json_object_get(j, "ring");
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(jget_int(o, "capacity_bytes"), 64 << 20);
	assert_string_equal(jget_str(o, "policy"), "drop");
	assert_int_equal(jget_int(o, "high_water_bytes"), 12345678);
	o = json_object_get(j, "error");
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(jget_int(o, "code"), ENOSPC);
	assert_string_equal(jget_str(o, "message"), "writing run.npy: No space left on device");
	assert_string_equal(jget_str(j, "command"), m.command);
	json_decref(j);

	/* Readable text: indented, keys in order, short reals, a final
	 * newline. */
	text = read_file(fx->path, NULL);
	assert_memory_equal(text, "{\n  \"format\": \"labdaq-1\",\n  \"status\": \"failed\",\n",
			    47);
	assert_non_null(strstr(text, "\"scale\": 0.1\n"));
	assert_non_null(strstr(text, "\"scale\": 1.52587890625e-5\n"));
	assert_non_null(strstr(text, "\"rate_hz\": 1000.0,\n"));
	assert_int_equal(text[strlen(text) - 1], '\n');
	free(text);
}

static void test_meta_nulls(void **state)
{
	struct fixture *fx = *state;
	struct ldq_meta_file *mf;
	struct ldq_meta m;
	json_t *j, *o;

	memset(&m, 0, sizeof(m));
	m.layout = frames_u2;
	m.status = "running";
	m.kind = "frames";
	assert_int_equal(ldq_meta_open(in_dir(fx, "cam"), &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);

	j = load_json(in_dir(fx, "cam.json"));
	assert_string_equal(jget_str(j, "file"), "cam");
	assert_jnull(j, "device");
	assert_jnull(j, "backend");
	assert_jnull(j, "ended_utc");
	assert_jnull(j, "started_utc");
	assert_jnull(j, "error");
	assert_jnull(j, "command");
	assert_int_equal(json_array_size(json_object_get(j, "shape")), 2);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "shape"), 0)), 480);
	assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "shape"), 1)), 640);
	assert_int_equal(json_array_size(json_object_get(j, "channels")), 0);
	assert_int_equal(json_array_size(json_object_get(j, "gaps")), 0);
	assert_int_equal(jget_int(j, "acquired"), 0);
	json_decref(j);

	/* An error code without a message gets strerror's. */
	m.error_code = -EIO;
	assert_int_equal(ldq_meta_open(in_dir(fx, "cam"), &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);
	j = load_json(in_dir(fx, "cam.json"));
	o = json_object_get(j, "error");
	assert_int_equal(jget_int(o, "code"), EIO);
	assert_string_equal(jget_str(o, "message"), strerror(EIO));
	json_decref(j);

	assert_int_equal(ldq_meta_open(in_dir(fx, "nodir/x.npy"), &mf), -ENOENT);
	assert_null(mf);
	assert_int_equal(ldq_meta_open("", &mf), -EINVAL);
	assert_int_equal(ldq_meta_open("dir/", &mf), -EINVAL);
	ldq_meta_close(NULL);
}

/* Is the spare's space really reserved? (fallocate can be tested on the
 * file system of @dir.) */
static int fs_has_fallocate(const char *dir)
{
	char p[256];
	int fd, ok;

	snprintf(p, sizeof(p), "%s/.probe", dir);
	fd = open(p, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return 0;
	ok = fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096) == 0;
	close(fd);
	unlink(p);
	return ok;
}

static void test_meta_replace(void **state)
{
	struct fixture *fx = *state;
	struct ldq_meta_file *mf;
	struct ldq_meta m;
	struct stat st1, st2, sp;
	char names[256], spare[256], json_path[256];
	struct ldq_gap *gaps;
	json_t *j;
	size_t i;

	snprintf(json_path, sizeof(json_path), "%s/run.json", fx->dir);
	snprintf(spare, sizeof(spare), "%s/.run.json.tmp", fx->dir);

	/* A spare left by a killed run is replaced. */
	write_file(spare, "stale", 5);

	fill_meta(&m);
	assert_int_equal(ldq_meta_open(in_dir(fx, "run.npy"), &mf), 0);
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, ".run.json.tmp");
	assert_int_equal(stat(spare, &sp), 0);
	assert_int_equal(sp.st_size, 0);

	assert_int_equal(ldq_meta_write(mf, &m), 0);
	assert_int_equal(stat(json_path, &st1), 0);
	m.acquired = m.written = 42;
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	assert_int_equal(stat(json_path, &st2), 0);
	/* Replaced by rename: a new inode, never rewritten in place. */
	assert_true(st1.st_ino != st2.st_ino);
	j = load_json(json_path);
	assert_int_equal(jget_int(j, "written"), 42);
	json_decref(j);

	/* Only the sidecar and the hidden spare, empty but reserved. */
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, ".run.json.tmp run.json");
	assert_int_equal(stat(spare, &sp), 0);
	assert_int_equal(sp.st_size, 0);
	if (fs_has_fallocate(fx->dir))
		assert_true(sp.st_blocks * 512 >= 64 * 1024);
	else
		print_message("# no fallocate on %s: reservation not checked\n", fx->dir);

	/* A sidecar larger than the reservation: written, and the next
	 * spare grows to twice its size. */
	gaps = calloc(4000, sizeof(*gaps));
	assert_non_null(gaps);
	for (i = 0; i < 4000; i++)
		gaps[i] = (struct ldq_gap){ i * 1000, 7 };
	m.gaps = gaps;
	m.ngaps = 4000;
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	assert_int_equal(stat(json_path, &st1), 0);
	assert_true(st1.st_size > 64 * 1024);
	assert_int_equal(stat(spare, &sp), 0);
	if (fs_has_fallocate(fx->dir))
		assert_true(sp.st_blocks * 512 >= 2 * st1.st_size);
	j = load_json(json_path);
	assert_int_equal(json_array_size(json_object_get(j, "gaps")), 4000);
	json_decref(j);
	free(gaps);

	/* Closing removes the spare and trims the reservation. */
	m.ngaps = 0;
	m.gaps = NULL;
	m.status = "complete";
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "run.json");
	assert_int_equal(stat(json_path, &st1), 0);
	assert_true(st1.st_size < 4096);
	if (fs_has_fallocate(fx->dir))
		assert_true(st1.st_blocks * 512 <= 8192);
	j = load_json(json_path);
	assert_string_equal(jget_str(j, "status"), "complete");
	json_decref(j);
}

/*
 * Fill the file system of fx->dir, then replace the sidecar: it must work
 * and keep working, while a new file cannot get a single block.
 */
static int probe_full(const char *dir)
{
	char p[256], page[4096];
	ssize_t n;
	int fd;

	snprintf(p, sizeof(p), "%s/probe", dir);
	memset(page, 'p', sizeof(page));
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == ENOSPC;
	n = write(fd, page, sizeof(page));
	if (n == (ssize_t)sizeof(page) && fsync(fd) == 0)
		n = 0;
	else
		n = -1;
	close(fd);
	unlink(p);
	return n < 0;
}

static void fill_disk(const char *path)
{
	static char chunk[64 * 1024];
	size_t sz = sizeof(chunk);
	int fd, rounds;

	memset(chunk, 0x5a, sizeof(chunk));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	/* Several rounds: a file system may find a little more after a
	 * sync (ext4 commits freed and delayed-allocated blocks). */
	for (rounds = 0; rounds < 4; rounds++) {
		for (sz = sizeof(chunk); sz >= 512; sz /= 2) {
			ssize_t n;

			do
				n = write(fd, chunk, sz);
			while (n > 0);
			assert_int_equal(n, -1);
			assert_int_equal(errno, ENOSPC);
		}
		fsync(fd);
		syncfs(fd);
	}
	close(fd);
}

static void run_full_disk(struct fixture *fx)
{
	struct ldq_meta_file *mf;
	struct ldq_meta m;
	struct ldq_gap gaps[300];
	char npy[256], json_path[256], names[256];
	json_t *j;
	int i;

	snprintf(npy, sizeof(npy), "%s/run.npy", fx->dir);
	snprintf(json_path, sizeof(json_path), "%s/run.json", fx->dir);
	for (i = 0; i < 300; i++)
		gaps[i] = (struct ldq_gap){ (uint64_t)i * 1000000, 3 };

	fill_meta(&m);
	assert_int_equal(ldq_meta_open(npy, &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);

	/* The run's data fills the disk. */
	fill_disk(npy);
	assert_true(probe_full(fx->dir));

	/* The run fails: its sidecar says so, several times over, with a
	 * sidecar larger than the first (300 gaps, about 17 KiB). */
	m.status = "failed";
	m.error_code = -ENOSPC;
	m.error = "writing run.npy: No space left on device";
	m.ended_utc = "2026-11-27T10:41:00.000Z";
	m.gaps = gaps;
	for (i = 0; i < 5; i++) {
		m.ngaps = (size_t)(i + 1) * 60;
		m.written = (uint64_t)i;
		assert_int_equal(ldq_meta_write(mf, &m), 0);
		j = load_json(json_path);
		assert_string_equal(jget_str(j, "status"), "failed");
		assert_int_equal(jget_int(json_object_get(j, "error"), "code"), ENOSPC);
		assert_int_equal(jget_int(j, "written"), i);
		assert_int_equal(json_array_size(json_object_get(j, "gaps")), (i + 1) * 60);
		json_decref(j);
	}
	/* Still full: the writes used only the reserved space. */
	assert_true(probe_full(fx->dir));
	ldq_meta_close(mf);

	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "run.json run.npy");
	j = load_json(json_path);
	assert_string_equal(jget_str(j, "status"), "failed");
	json_decref(j);
}

static void skip_because(const char *why)
{
	print_message("# SKIP: %s\n", why);
	skip();
}

static int mount_tmpfs(struct fixture *fx)
{
	if (geteuid() != 0)
		return -1;
	if (mount("tmpfs", fx->dir, "tmpfs", 0, "size=1m,mode=0700") < 0)
		return -1;
	strcpy(fx->mnt, fx->dir);
	return 0;
}

static void test_meta_disk_full_tmpfs(void **state)
{
	struct fixture *fx = *state;

	if (mount_tmpfs(fx))
		skip_because("full-disk test needs root to mount a 1 MiB tmpfs");
	run_full_disk(fx);
}

static void test_meta_disk_full_nofallocate(void **state)
{
	struct fixture *fx = *state;

	if (mount_tmpfs(fx))
		skip_because("full-disk test needs root to mount a 1 MiB tmpfs");
	fake_no_fallocate = 1;
	run_full_disk(fx);
	fake_no_fallocate = 0;
}

static void test_meta_disk_full_ext4(void **state)
{
	struct fixture *fx = *state;
	char cmd[512];

	if (geteuid() != 0)
		skip_because("full-disk ext4 test needs root (mkfs.ext4, a loop mount)");
	snprintf(fx->img, sizeof(fx->img), "%s.img", fx->dir);
	/* No blocks reserved for root (-m 0): root sees ENOSPC as users do. */
	snprintf(cmd, sizeof(cmd),
		 "truncate -s 8M %s && mkfs.ext4 -q -F -m 0 %s >/dev/null 2>&1 && "
		 "mount -o loop %s %s 2>/dev/null",
		 fx->img, fx->img, fx->img, fx->dir);
	if (system(cmd) != 0)
		skip_because("cannot make and loop-mount an ext4 image");
	strcpy(fx->mnt, fx->dir);
	rmdir(in_dir(fx, "lost+found"));
	run_full_disk(fx);
}

/* ------------------------------------------------------------------------
 * Recovery
 */

static const struct ldq_npy_layout rec_layout = { "<u2", 1, { 3 } }; /* 6 bytes/item */

/* A file as a killed run leaves it: the header says @hdr_items, the
 * payload holds @payload bytes of the pattern i & 0xff. */
static void make_crashed(const char *path, uint64_t hdr_items, size_t payload)
{
	unsigned char *data = malloc(payload + 1);
	size_t i;
	int fd;

	assert_non_null(data);
	for (i = 0; i < payload; i++)
		data[i] = (unsigned char)(i & 0xff);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_write_header(fd, &rec_layout, hdr_items), 0);
	assert_int_equal(pwrite(fd, data, payload, LDQ_NPY_HEADER_BYTES), (ssize_t)payload);
	close(fd);
	free(data);
}

static void check_recovered_npy(const char *path, uint64_t items)
{
	struct ldq_npy_layout l;
	uint64_t n;
	size_t hl, len, i;
	char *buf;

	buf = read_file(path, &len);
	assert_int_equal(len, LDQ_NPY_HEADER_BYTES + items * 6);
	assert_int_equal(ldq_npy_parse(buf, len, &l, &n, &hl), 0);
	assert_int_equal(n, items);
	assert_int_equal(hl, LDQ_NPY_HEADER_BYTES);
	assert_string_equal(l.descr, "<u2");
	for (i = 0; i < items * 6; i++)
		assert_int_equal((unsigned char)buf[LDQ_NPY_HEADER_BYTES + i], i & 0xff);
	free(buf);
}

static void test_recover(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_recover_info info;
	struct ldq_meta_file *mf;
	struct ldq_meta m;
	char npy[256], json_path[256], spare[256], names[256];
	const char *ended;
	json_t *j, *o;

	snprintf(npy, sizeof(npy), "%s/run.npy", fx->dir);
	snprintf(json_path, sizeof(json_path), "%s/run.json", fx->dir);
	snprintf(spare, sizeof(spare), "%s/.run.json.tmp", fx->dir);

	/* Killed while running: header at 2 items, 5.5 items on disk. */
	make_crashed(npy, 2, 33);
	fill_meta(&m);
	m.layout = rec_layout;
	m.acquired = 4;
	m.written = 2;
	m.dropped = 1;
	assert_int_equal(ldq_meta_open(npy, &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);
	write_file(spare, "", 0); /* the dead run's spare */

	memset(&info, 0xaa, sizeof(info));
	assert_int_equal(labdaq_file_recover(npy, &info), 0);
	assert_int_equal(info.items, 5);
	assert_int_equal(info.trailing, 3);
	assert_int_equal(info.previous_status, LABDAQ_STATE_RUNNING);
	check_recovered_npy(npy, 5);

	j = load_json(json_path);
	assert_string_equal(jget_str(j, "status"), "recovered");
	assert_string_equal(jget_str(j, "recovered_from"), "running");
	assert_int_equal(jget_int(j, "written"), 5);
	assert_int_equal(jget_int(j, "acquired"), 5);
	assert_int_equal(jget_int(j, "dropped"), 1);
	ended = jget_str(j, "ended_utc");
	assert_int_equal(strlen(ended), 24);
	assert_int_equal(ended[23], 'Z');
	assert_string_equal(jget_str(j, "recovered_utc"), ended);
	/* The rest is kept as it was. */
	assert_string_equal(jget_str(j, "device"), "sim:adc?channels=3");
	assert_string_equal(jget_str(j, "started_utc"), "2026-11-27T10:40:03.123Z");
	o = json_array_get(json_object_get(j, "channels"), 0);
	assert_true(json_real_value(json_object_get(o, "scale")) == 0.1);
	json_decref(j);
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "run.json run.npy");

	/* Again: nothing to cut, the origin is kept, acquired is kept when
	 * it is larger. */
	j = load_json(json_path);
	json_object_set_new(j, "acquired", json_integer(9));
	json_object_set_new(j, "ended_utc", json_string("2026-11-27T10:41:00.000Z"));
	assert_int_equal(json_dump_file(j, json_path, 0), 0);
	json_decref(j);
	assert_int_equal(labdaq_file_recover(npy, &info), 0);
	assert_int_equal(info.items, 5);
	assert_int_equal(info.trailing, 0);
	assert_int_equal(info.previous_status, -1); /* "recovered" */
	check_recovered_npy(npy, 5);
	j = load_json(json_path);
	assert_string_equal(jget_str(j, "status"), "recovered");
	assert_string_equal(jget_str(j, "recovered_from"), "running");
	assert_int_equal(jget_int(j, "acquired"), 9);
	assert_int_equal(jget_int(j, "written"), 5);
	assert_string_equal(jget_str(j, "ended_utc"), "2026-11-27T10:41:00.000Z");
	json_decref(j);

	/* A header that counts more than is on disk is brought down. */
	make_crashed(npy, 10, 12);
	assert_int_equal(labdaq_file_recover(npy, NULL), 0);
	check_recovered_npy(npy, 2);

	/* Each previous status maps to its state. */
	{
		static const char *const names_[] = { "queued",  "running", "complete",
						      "stopped", "aborted", "failed" };
		int s;

		for (s = 0; s < 6; s++) {
			j = load_json(json_path);
			json_object_set_new(j, "status", json_string(names_[s]));
			assert_int_equal(json_dump_file(j, json_path, 0), 0);
			json_decref(j);
			assert_int_equal(labdaq_file_recover(npy, &info), 0);
			assert_int_equal(info.previous_status, s);
		}
	}
}

static void test_recover_no_sidecar(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_recover_info info;
	char names[256];

	make_crashed(in_dir(fx, "x.npy"), 0, 6 * 7 + 5);
	write_file(in_dir(fx, ".x.json.tmp"), "", 0);
	memset(&info, 0xaa, sizeof(info));
	assert_int_equal(labdaq_file_recover(in_dir(fx, "x.npy"), &info), 0);
	assert_int_equal(info.items, 7);
	assert_int_equal(info.trailing, 5);
	assert_int_equal(info.previous_status, -1);
	check_recovered_npy(in_dir(fx, "x.npy"), 7);
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "x.npy");

	/* Exactly whole items, header already right: unchanged. */
	make_crashed(in_dir(fx, "x.npy"), 7, 42);
	assert_int_equal(labdaq_file_recover(in_dir(fx, "x.npy"), &info), 0);
	assert_int_equal(info.items, 7);
	assert_int_equal(info.trailing, 0);
	check_recovered_npy(in_dir(fx, "x.npy"), 7);

	/* Only a header. */
	make_crashed(in_dir(fx, "x.npy"), 3, 0);
	assert_int_equal(labdaq_file_recover(in_dir(fx, "x.npy"), &info), 0);
	assert_int_equal(info.items, 0);
	check_recovered_npy(in_dir(fx, "x.npy"), 0);
}

static void test_recover_garbage(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_recover_info info;
	char junk[8192], hdr[LDQ_NPY_HEADER_BYTES];
	size_t i, len;
	char *after;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 7 + 3);
	write_file(in_dir(fx, "g.npy"), junk, sizeof(junk));
	assert_int_equal(labdaq_file_recover(fx->path, &info), -EBADMSG);
	after = read_file(fx->path, &len);
	assert_int_equal(len, sizeof(junk));
	assert_memory_equal(after, junk, sizeof(junk)); /* untouched */
	free(after);

	write_file(fx->path, "", 0);
	assert_int_equal(labdaq_file_recover(fx->path, &info), -EBADMSG);
	write_file(fx->path, "{\"not\": \"npy\"}\n", 16);
	assert_int_equal(labdaq_file_recover(fx->path, &info), -EBADMSG);

	/* A header cut short by the crash. */
	assert_int_equal(ldq_npy_format(hdr, &rec_layout, 1), 0);
	write_file(fx->path, hdr, 100);
	assert_int_equal(labdaq_file_recover(fx->path, &info), -EBADMSG);

	assert_int_equal(labdaq_file_recover(in_dir(fx, "missing.npy"), &info), -ENOENT);
	assert_int_equal(labdaq_file_recover(fx->dir, &info), -EISDIR);
	assert_int_equal(labdaq_file_recover(NULL, &info), -EINVAL);

	/* The .npy is fine but its sidecar is not JSON: the data is fixed,
	 * the sidecar is left as it is and the error says so. */
	make_crashed(in_dir(fx, "s.npy"), 0, 13);
	write_file(in_dir(fx, "s.json"), "{\"status\": \"runn", 16);
	assert_int_equal(labdaq_file_recover(in_dir(fx, "s.npy"), &info), -EBADMSG);
	assert_int_equal(info.items, 2);
	check_recovered_npy(in_dir(fx, "s.npy"), 2);
	after = read_file(in_dir(fx, "s.json"), &len);
	assert_int_equal(len, 16);
	free(after);
}

/* ------------------------------------------------------------------------
 * NumPy itself
 */

static int have_numpy(void)
{
	if (access(PYTHON, X_OK) < 0)
		return 0;
	return system(PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0;
}

static int python(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int python(const char *fmt, ...)
{
	char script[2048], cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(script, sizeof(script), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), PYTHON " -c \"%s\"", script);
	return system(cmd);
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

static void test_numpy_file_recover(void **state)
{
	struct fixture *fx = *state;
	struct labdaq_recover_info info;
	struct ldq_npy_layout l;
	uint64_t items;
	size_t hl;
	int fd;

	if (!have_numpy())
		skip_because(PYTHON " with numpy is not available");

	/* A file numpy wrote (its own, shorter header) ... */
	assert_int_equal(python("import numpy as np; "
				"np.save('%s', np.arange(12, dtype='<i4').reshape(4, 3))",
				in_dir(fx, "np.npy")),
			 0);
	fd = open(fx->path, O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_read_header(fd, &l, &items, &hl), 0);
	assert_string_equal(l.descr, "<i4");
	assert_int_equal(l.ndim, 1);
	assert_int_equal(l.dims[0], 3);
	assert_int_equal(items, 4);
	assert_true(hl < LDQ_NPY_HEADER_BYTES && hl % 64 == 0);

	/* ... grown by two and a half rows is recovered in place. */
	{
		int32_t more[8] = { 12, 13, 14, 15, 16, 17, 18, 19 };

		assert_int_equal(pwrite(fd, more, 30, (off_t)(hl + 48)), 30);
	}
	close(fd);
	assert_int_equal(labdaq_file_recover(fx->path, &info), 0);
	assert_int_equal(info.items, 6);
	assert_int_equal(info.trailing, 6);
	assert_int_equal(python("import numpy as np; a = np.load('%s', mmap_mode='r'); "
				"assert a.shape == (6, 3), a.shape; "
				"assert (a.ravel() == np.arange(18)).all()",
				fx->path),
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
		cmocka_unit_test(test_meta_path),
		cmocka_unit_test_setup_teardown(test_meta_roundtrip, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_nulls, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_replace, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_disk_full_tmpfs, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_disk_full_nofallocate, setup_dir,
						teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_disk_full_ext4, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recover, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recover_no_sidecar, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recover_garbage, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_numpy_load, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_numpy_file_recover, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
