/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_recover.c - labdaq_file_recover() (lib/recover.c): a file as a
 * killed run leaves it, completed from what is on disk.
 */
#include "file_fixture.h"

#include "labdaq.h"
#include "npy.h"

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
	/* No item: one byte after the header, for numpy's mmap (npy.h). */
	assert_int_equal(len, LDQ_NPY_HEADER_BYTES + (items ? items * 6 : 1));
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

	/* A header that counts more than is on disk is brought down when
	 * nothing is cut ... */
	make_crashed(npy, 10, 12);
	assert_int_equal(labdaq_file_recover(npy, NULL), 0);
	check_recovered_npy(npy, 2);
	/* ... and refused, nothing changed, when bytes would be cut: the
	 * header or the file is corrupt (issue 10, item 8). */
	make_crashed(npy, 10, 15);
	assert_int_equal(labdaq_file_recover(npy, NULL), -ENOTRECOVERABLE);
	{
		size_t len;
		char *buf = read_file(npy, &len);

		assert_int_equal(len, LDQ_NPY_HEADER_BYTES + 15);
		free(buf);
	}
	make_crashed(npy, 2, 12);
	assert_int_equal(labdaq_file_recover(npy, NULL), 0);

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

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* A gaps' file as a killed run leaves it: @hdr_rows in its header, then
 * @n rows of @rows, then @extra bytes of a row cut short. */
static void make_gaps(const char *path, uint64_t hdr_rows, const uint64_t (*rows)[2], size_t n,
		      size_t extra)
{
	static const struct ldq_npy_layout gl = { "<u8", 1, { 2 } };
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(ldq_npy_write_header(fd, &gl, hdr_rows), 0);
	assert_int_equal(pwrite(fd, rows, n * 16, LDQ_NPY_HEADER_BYTES), (ssize_t)(n * 16));
	assert_int_equal(pwrite(fd, "partial!", extra, LDQ_NPY_HEADER_BYTES + (off_t)n * 16),
			 (ssize_t)extra);
	close(fd);
}

/* labdaq-2: the gaps' file is brought to its whole rows, each after the
 * one before; the sidecar counts them; labdaq_file_gaps() reads them. */
static void test_recover_gaps(void **state)
{
	static const uint64_t rows[][2] = { { 2, 2 }, { 10, 3 }, { 12, 1 }, { 20, 1 } };
	struct fixture *fx = *state;
	struct ldq_meta_file *mf;
	struct ldq_meta m;
	char npy[256], gaps[256];
	uint64_t got[8];
	labdaq_file *f;
	json_t *j;

	snprintf(npy, sizeof(npy), "%s/run.npy", fx->dir);
	snprintf(gaps, sizeof(gaps), "%s/run.gaps.npy", fx->dir);
	make_crashed(npy, 2, 30);
	fill_meta(&m);
	m.layout = rec_layout;
	m.acquired = 7;
	m.written = 2;
	m.dropped = 2;
	m.ngaps = 1;
	m.gaps_file = "run.gaps.npy";
	assert_int_equal(ldq_meta_open(npy, &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);
	/* Row 3 starts inside row 2 (not written whole): it and the rest go. */
	make_gaps(gaps, 1, rows, 4, 5);
	assert_int_equal(labdaq_file_recover(npy, NULL), 0);
	assert_int_equal(file_size(gaps), LDQ_NPY_HEADER_BYTES + 2 * 16);
	j = load_json(in_dir(fx, "run.json"));
	assert_int_equal(jget_int(json_object_get(j, "gaps"), "count"), 2);
	assert_int_equal(jget_int(j, "dropped"), 5);       /* the rows' total */
	assert_int_equal(jget_int(j, "acquired"), 5 + 5);  /* written + dropped */
	json_decref(j);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_gap_count(f), 2);
	assert_int_equal(labdaq_file_gaps(f, 0, 4, got), 2);
	assert_memory_equal(got, rows, 2 * 16);
	assert_int_equal(labdaq_file_gaps(f, 2, 4, got), 0);
	assert_int_equal(labdaq_file_gaps(f, 3, 4, got), -ERANGE);
	labdaq_file_close(f);

	/* Nothing but part of a row: no row, one byte past the header (so
	 * that numpy can map it). */
	make_gaps(gaps, 0, rows, 0, 7);
	assert_int_equal(labdaq_file_recover(npy, NULL), 0);
	assert_int_equal(file_size(gaps), LDQ_NPY_HEADER_BYTES + 1);
	j = load_json(in_dir(fx, "run.json"));
	assert_int_equal(jget_int(json_object_get(j, "gaps"), "count"), 0);
	json_decref(j);

	/* A gaps' file gone: the data is still recovered, nothing readable. */
	assert_int_equal(unlink(gaps), 0);
	assert_int_equal(labdaq_file_recover(npy, NULL), 0);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	assert_int_equal(labdaq_file_gap_count(f), 0);
	labdaq_file_close(f);
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
		cmocka_unit_test_setup_teardown(test_recover, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recover_gaps, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recover_no_sidecar, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_recover_garbage, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_numpy_file_recover, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
