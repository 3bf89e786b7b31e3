/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_sidecar.c - the JSON sidecar (lib/sidecar.c): its path, its
 * content, its atomic replacement, and a replacement on a full file system
 * (a small tmpfs, for root and other users alike; an ext4 image as root).
 */
#include <sys/syscall.h>

#include "file_fixture.h"

#include "labdaq.h"
#include "sidecar.h"

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
 * The sidecar
 */

static void test_meta_path(void **state)
{
	static const char *const cases[][2] = {
		{ "x.npy", "x.json" },           { "dir/run.npy", "dir/run.json" },
		{ "/a/b.c/run.npy", "/a/b.c/run.json" }, { "x.dat", "x.dat.json" },
		{ "x", "x.json" },               { "a.npy.npy", "a.npy.json" },
		{ "x.NPY", "x.NPY.json" },       { "iv.csv", "iv.json" },
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

static void test_meta_roundtrip(void **state)
{
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
	m.gaps_file = "run.gaps.npy";
	m.ngaps = 3;
	m.ring_high_water_bytes = 12345678;
	m.error_code = -ENOSPC;
	m.error = "writing run.npy: No space left on device";
	m.run_id = "1795776897-20914-4394";
	static const double offsets[] = { 0, -100, 0.5 };
	static const char *const user[] = { "sample", "GaAs-17", "notes", "a, b = \"c\"" };
	m.offsets = offsets;
	m.user_meta = user;
	m.nuser_meta = 2;
	m.measured_rate_hz = 999.5;
	m.elapsed_s = 60.25;

	assert_int_equal(ldq_meta_open(in_dir(fx, "run.npy"), &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	ldq_meta_close(mf);

	j = load_json(in_dir(fx, "run.json"));
	assert_int_equal(json_object_size(j), 25);
	assert_true(json_real_value(json_object_get(j, "measured_rate_hz")) == 999.5);
	assert_true(json_real_value(json_object_get(j, "elapsed_s")) == 60.25);
	assert_string_equal(jget_str(j, "time_axis"),
			    "t_s = numpy.arange(n) / rate_hz (paced by the clock; gaps keep their "
			    "indexes)");
	assert_int_equal(json_object_size(json_object_get(j, "attributes")), 0);
	o = json_object_get(j, "user");
	assert_int_equal(json_object_size(o), 2);
	assert_string_equal(jget_str(o, "sample"), "GaAs-17");
	assert_string_equal(jget_str(o, "notes"), "a, b = \"c\"");
	assert_string_equal(jget_str(j, "run_id"), "1795776897-20914-4394");
	assert_string_equal(jget_str(j, "format"), "labdaq-2");
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
		assert_int_equal(json_object_size(o), 5);
		assert_true(json_real_value(json_object_get(o, "offset")) == offsets[i]);
		assert_string_equal(jget_str(o, "name"), chans[i].name);
		assert_string_equal(jget_str(o, "unit"), chans[i].unit);
		assert_true(json_is_real(json_object_get(o, "scale")));
		assert_true(json_real_value(json_object_get(o, "scale")) == chans[i].scale);
	}
	assert_true(json_real_value(json_object_get(j, "rate_hz")) == 1000.0);
	{
		char want[3][160];

		snprintf(want[0], sizeof(want[0]), "%s in %s = raw * %.12g", chans[0].name,
			 *chans[0].unit ? chans[0].unit : "its unit", chans[0].scale);
		snprintf(want[1], sizeof(want[1]), "%s in %s = (raw - 100) * %.12g", chans[1].name,
			 *chans[1].unit ? chans[1].unit : "its unit", chans[1].scale);
		snprintf(want[2], sizeof(want[2]), "%s in %s = (raw + 0.5) * %.12g", chans[2].name,
			 *chans[2].unit ? chans[2].unit : "its unit", chans[2].scale);
		for (i = 0; i < 3; i++)
			assert_string_equal(jget_str(json_array_get(json_object_get(j, "channels"), i),
						     "conversion"), want[i]);
	}
	assert_string_equal(jget_str(j, "started_utc"), "2026-11-27T10:40:03.123Z");
	assert_string_equal(jget_str(j, "ended_utc"), "2026-11-27T10:41:00.000Z");
	assert_true(jget_int(j, "acquired") == 5000000000ll);
	assert_true(jget_int(j, "written") == 4999876538ll);
	assert_int_equal(jget_int(j, "dropped"), 123462);
	/* labdaq-2: the count and the gaps' file, not the gaps. */
	o = json_object_get(j, "gaps");
	assert_int_equal(json_object_size(o), 2);
	assert_int_equal(jget_int(o, "count"), 3);
	assert_string_equal(jget_str(o, "file"), "run.gaps.npy");
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
	assert_memory_equal(text, "{\n  \"format\": \"labdaq-2\",\n  \"status\": \"failed\",\n",
			    47);
	assert_non_null(strstr(text, "\"scale\": 0.1,\n"));
	assert_non_null(strstr(text, "\"scale\": 1.52587890625e-5,\n"));
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
	assert_int_equal(jget_int(json_object_get(j, "gaps"), "count"), 0);
	assert_jnull(json_object_get(j, "gaps"), "file");
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
	char names[256], spare[300], json_path[300];
	char *big;
	json_t *j;

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
	/* Replaced by a rename or an exchange: another inode, never the
	 * file a reader has open rewritten in place. */
	assert_true(st1.st_ino != st2.st_ino);
	j = load_json(json_path);
	assert_int_equal(jget_int(j, "written"), 42);
	json_decref(j);

	/* Only the sidecar and the hidden spare, reserved: after an exchange
	 * the spare is the previous sidecar (the first one's inode). */
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, ".run.json.tmp run.json");
	assert_int_equal(stat(spare, &sp), 0);
	if (sp.st_ino != st1.st_ino)
		print_message("# no RENAME_EXCHANGE on %s: a new spare\n", fx->dir);
	if (fs_has_fallocate(fx->dir))
		assert_true(sp.st_blocks * 512 >= 64 * 1024);
	else
		print_message("# no fallocate on %s: reservation not checked\n", fx->dir);
	/* A third write goes back to the first inode; the sidecar may have
	 * trailing spaces, which JSON allows. */
	m.acquired = m.written = 7;
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	j = load_json(json_path);
	assert_int_equal(jget_int(j, "written"), 7);
	json_decref(j);

	/* A sidecar larger than the reservation: written, and the next
	 * spare grows to twice its size. */
	big = malloc(80000);
	assert_non_null(big);
	memset(big, 'x', 79999);
	big[79999] = '\0';
	m.command = big;
	assert_int_equal(ldq_meta_write(mf, &m), 0);
	assert_int_equal(stat(json_path, &st1), 0);
	assert_true(st1.st_size > 64 * 1024);
	assert_int_equal(stat(spare, &sp), 0);
	if (fs_has_fallocate(fx->dir))
		assert_true(sp.st_blocks * 512 >= 2 * st1.st_size);
	j = load_json(json_path);
	assert_int_equal(strlen(jget_str(j, "command")), 79999);
	json_decref(j);
	free(big);

	/* Closing removes the spare and trims the reservation. */
	m.command = NULL;
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
	static char cmd[20000];
	char npy[300], json_path[300], names[256];
	json_t *j;
	int i;

	snprintf(npy, sizeof(npy), "%s/run.npy", fx->dir);
	snprintf(json_path, sizeof(json_path), "%s/run.json", fx->dir);

	fill_meta(&m);
	assert_int_equal(ldq_meta_open(npy, &mf), 0);
	assert_int_equal(ldq_meta_write(mf, &m), 0);

	/* The run's data fills the disk. */
	fill_disk(npy);
	assert_true(probe_full(fx->dir));

	/* The run fails: its sidecar says so, several times over, with a
	 * sidecar larger than the first (a command line of 17 KiB). */
	m.status = "failed";
	m.error_code = -ENOSPC;
	m.error = "writing run.npy: No space left on device";
	m.ended_utc = "2026-11-27T10:41:00.000Z";
	memset(cmd, 0, sizeof(cmd));
	m.command = cmd;
	for (i = 0; i < 5; i++) {
		memset(cmd, 'x', (size_t)(i + 1) * 3500);
		m.written = (uint64_t)i;
		assert_int_equal(ldq_meta_write(mf, &m), 0);
		j = load_json(json_path);
		assert_string_equal(jget_str(j, "status"), "failed");
		assert_int_equal(jget_int(json_object_get(j, "error"), "code"), ENOSPC);
		assert_int_equal(jget_int(j, "written"), i);
		assert_int_equal(strlen(jget_str(j, "command")), (i + 1) * 3500);
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

/* A 1 MiB tmpfs over the test's directory (small_tmpfs.h: root or not);
 * fx->dir then reaches it.  Skips, saying why, where the kernel refuses. */
static void mount_tmpfs(struct fixture *fx)
{
	char why[300];

	if (small_tmpfs_mount(&fx->tmpfs, fx->made, "size=1m,mode=0700")) {
		snprintf(why, sizeof(why), "no 1 MiB tmpfs: %s", fx->tmpfs.why);
		skip_because(why);
	}
	snprintf(fx->dir, sizeof(fx->dir), "%s", fx->tmpfs.path);
}

static void test_meta_disk_full_tmpfs(void **state)
{
	struct fixture *fx = *state;

	mount_tmpfs(fx);
	run_full_disk(fx);
}

static void test_meta_disk_full_nofallocate(void **state)
{
	struct fixture *fx = *state;

	mount_tmpfs(fx);
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
	snprintf(fx->img, sizeof(fx->img), "%s.img", fx->made);
	/* No blocks reserved for root (-m 0): root sees ENOSPC as users do. */
	snprintf(cmd, sizeof(cmd),
		 "truncate -s 8M %s && mkfs.ext4 -q -F -m 0 %s >/dev/null 2>&1 && "
		 "mount -o loop %s %s 2>/dev/null",
		 fx->img, fx->img, fx->img, fx->made);
	if (system(cmd) != 0)
		skip_because("cannot make and loop-mount an ext4 image");
	strcpy(fx->mnt, fx->made);
	rmdir(in_dir(fx, "lost+found"));
	run_full_disk(fx);
}

static int teardown_sidecar(void **state)
{
	fake_no_fallocate = 0;
	return teardown_dir(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta_path),
		cmocka_unit_test_setup_teardown(test_meta_roundtrip, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_nulls, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_replace, setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_meta_disk_full_tmpfs, setup_dir, teardown_sidecar),
		cmocka_unit_test_setup_teardown(test_meta_disk_full_nofallocate, setup_dir, teardown_sidecar),
		cmocka_unit_test_setup_teardown(test_meta_disk_full_ext4, setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
