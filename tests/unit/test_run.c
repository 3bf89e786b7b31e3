/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * test_run.c - a streaming run through the public API, on the sim: backend
 * (docs/sim.md gives the data every byte is checked against), in a fresh
 * temporary directory per test: start, progress, complete, stop, abort,
 * free, the latest tap, the ring's full policies, errors, failures of the
 * device and of the disk, and concurrent callers (built under TSan too).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "labdaq.h"
#include "small_tmpfs.h"

#define HDR 4096
#define LDQ_N(a) (sizeof(a) / sizeof((a)[0]))
#define DELAY_ENV "LABDAQ_TEST_WRITE_DELAY_US"
/* How long a run may take to end before a test calls it hung: generous,
 * since an fsync on a busy machine can take seconds. */
#define END_MS 30000

/* ---- fixture: a temporary directory ---- */

struct fixture {
	char dir[256];
	struct small_tmpfs tmpfs; /* a tmpfs over dir/mnt, or none */
	char path[512];  /* scratch for in_dir() */
	char path2[512];
	char other[300];  /* a second directory, removed at teardown */
};

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(p);
}

/* The library's messages, kept for failure messages.  Any thread. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char last_err[1024];

static void log_cb(int level, const char *msg, void *user)
{
	(void)user;
	if (level > LABDAQ_LOG_WARNING)
		return;
	pthread_mutex_lock(&log_lock);
	snprintf(last_err, sizeof(last_err), "%s", msg);
	pthread_mutex_unlock(&log_lock);
}

static const char *last_log(void)
{
	static char copy[1024];

	pthread_mutex_lock(&log_lock);
	memcpy(copy, last_err, sizeof(copy));
	pthread_mutex_unlock(&log_lock);
	return copy;
}

/*
 * Where the test directories go: $LABDAQ_TEST_TMPDIR, else /dev/shm (a
 * tmpfs: fsync is free there, so the tests' timing does not depend on a
 * disk shared with other work), else /tmp.
 */
static const char *base_dir(void)
{
	const char *d = getenv("LABDAQ_TEST_TMPDIR");
	struct statvfs sv;

	if (d && *d)
		return d;
	if (!access("/dev/shm", W_OK | X_OK) && !statvfs("/dev/shm", &sv) &&
	    (uint64_t)sv.f_bavail * sv.f_frsize > (256u << 20))
		return "/dev/shm";
	return "/tmp";
}

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	snprintf(fx->dir, sizeof(fx->dir), "%s/labdaq-run-XXXXXX", base_dir());
	if (!mkdtemp(fx->dir)) {
		free(fx);
		return -1;
	}
	fx->tmpfs.hold_fd = -1;
	unsetenv(DELAY_ENV);
	last_err[0] = '\0';
	*state = fx;
	return 0;
}

/* The configurations a test made: freed at teardown.  cfg_init() on a
 * variable that holds one replaces it. */
static labdaq_run_config *cfgs[8];
static unsigned int ncfgs;

static void cfgs_free(void)
{
	while (ncfgs)
		labdaq_run_config_free(cfgs[--ncfgs]);
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	unsetenv(DELAY_ENV);
	unsetenv("LABDAQ_NO_DIRECT");
	cfgs_free();
	if (!fx)
		return 0;
	small_tmpfs_umount(&fx->tmpfs);
	chmod(fx->dir, 0700);
	nftw(fx->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (fx->other[0])
		nftw(fx->other, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	free(fx);
	return 0;
}

static const char *in_dir(struct fixture *fx, const char *name)
{
	snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, name);
	return fx->path;
}

static const char *in_dir2(struct fixture *fx, const char *name)
{
	snprintf(fx->path2, sizeof(fx->path2), "%s/%s", fx->dir, name);
	return fx->path2;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in @dir, hidden ones too, sorted, separated by spaces. */
static void list_dir(const char *dir, char *out, size_t len)
{
	char *names[64];
	size_t n = 0, used = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	assert_non_null(d);
	while ((e = readdir(d)) && n < 64) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_str);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		used += (size_t)snprintf(out + used, used < len ? len - used : 0, "%s%s",
					 i ? " " : "", names[i]);
		free(names[i]);
	}
}

/* ---- time ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts))
		;
}

/* ---- devices and runs ---- */

static labdaq_device *open_dev(const char *uri)
{
	labdaq_device *dev = NULL;
	int ret = labdaq_device_open(uri, &dev);

	if (ret)
		fail_msg("open %s: %d (%s): %s", uri, ret, labdaq_strerror(ret), last_log());
	return dev;
}

static void cfg_init(labdaq_run_config **cfg, const char *path, uint64_t count, double rate)
{
	labdaq_run_config *c;
	unsigned int i;

	assert_int_equal(labdaq_run_config_new(&c), 0);
	if (path)
		assert_int_equal(labdaq_run_config_set_path(c, path), 0);
	assert_int_equal(labdaq_run_config_set_count(c, count), 0);
	assert_int_equal(labdaq_run_config_set_rate_hz(c, rate), 0);
	assert_int_equal(labdaq_run_config_set_ring_bytes(c, 1u << 20), 0);
	assert_int_equal(labdaq_run_config_set_checkpoint_ms(c, 100), 0);
	assert_int_equal(labdaq_run_config_set_command(c, "test_run"), 0);
	for (i = 0; i < ncfgs && cfgs[i] != *cfg; i++)
		;
	if (i < ncfgs) {
		labdaq_run_config_free(cfgs[i]);
	} else {
		assert_true(ncfgs < sizeof(cfgs) / sizeof(cfgs[0]));
		ncfgs++;
	}
	cfgs[i] = c;
	*cfg = c;
}

static labdaq_run *start_ok(labdaq_device *dev, const labdaq_run_config *cfg)
{
	labdaq_run *run = NULL;
	int ret = labdaq_run_start(dev, cfg, &run);

	if (ret)
		fail_msg("start: %d (%s): %s", ret, labdaq_strerror(ret), last_log());
	assert_non_null(run);
	return run;
}

/* Wait for the end, at most @ms; fail (after aborting) if it does not come. */
static void wait_end(labdaq_run *run, int ms)
{
	if (labdaq_run_wait(run, ms)) {
		labdaq_run_abort(run);
		labdaq_run_wait(run, -1);
		fail_msg("the run did not end within %d ms", ms);
	}
}

static struct labdaq_progress progress(labdaq_run *run)
{
	struct labdaq_progress p;

	assert_int_equal(labdaq_run_progress(run, &p), 0);
	return p;
}

/* Poll until @run has acquired at least @n items; fail after @ms. */
static void wait_acquired(labdaq_run *run, uint64_t n, int ms)
{
	uint64_t end = now_ns() + (uint64_t)ms * 1000000u;

	while (progress(run).acquired < n) {
		if (now_ns() > end)
			fail_msg("acquired %llu < %llu after %d ms",
				 (unsigned long long)progress(run).acquired, (unsigned long long)n,
				 ms);
		sleep_ms(5);
	}
}

/* ---- the documented sim data (docs/sim.md) ---- */

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Frame @i of sim:camera, @px pixels: 0 if it matches, else a message. */
static int cam_check(const uint8_t *fr, uint64_t i, size_t px, char *why, size_t len)
{
	if (le64(fr) != i) {
		snprintf(why, len, "frame %llu: index field %llu", (unsigned long long)i,
			 (unsigned long long)le64(fr));
		return -1;
	}
	for (size_t p = 4; p < px; p++) {
		uint16_t want = (uint16_t)(p + 7 * i);

		if (le16(fr + 2 * p) != want) {
			snprintf(why, len, "frame %llu pixel %zu: %u, want %u",
				 (unsigned long long)i, p, le16(fr + 2 * p), want);
			return -1;
		}
	}
	return 0;
}

static void cam_assert(const uint8_t *fr, uint64_t i, size_t px)
{
	char why[256];

	if (cam_check(fr, i, px, why, sizeof(why)))
		fail_msg("%s", why);
}

static int16_t adc_value(uint64_t s, unsigned int c)
{
	return (int16_t)(uint16_t)(s * (2 * c + 1) + 1000 * c);
}

/* sim:ohm with the output at 0 V: the same operations as sim.c. */
static uint64_t splitmix64(uint64_t seed, uint64_t n)
{
	uint64_t z = seed + (n + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int32_t sat_round_i32(double x)
{
	x = floor(x + 0.5);
	if (x >= 2147483647.0)
		return INT32_MAX;
	if (x <= -2147483648.0)
		return INT32_MIN;
	return (int32_t)x;
}

static void ohm_raw(uint64_t seed, double r, double noise, uint64_t k, int32_t *rv, int32_t *ri)
{
	volatile double applied = 0.0;
	double u1 = (double)((splitmix64(seed, 2 * k) >> 11) + 1) * 0x1p-53;
	double u2 = (double)(splitmix64(seed, 2 * k + 1) >> 11) * 0x1p-53;
	double rad = sqrt(-2.0 * log(u1));
	double a = 6.283185307179586 * u2;
	double zv = rad * cos(a), zi = rad * sin(a);

	*rv = sat_round_i32((applied + noise * zv) * 1e6);
	*ri = sat_round_i32((applied + noise * zi) / r * 1e9);
}

/* ---- files ---- */

static uint8_t *read_all(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return buf;
}

struct npy {
	char descr[16];
	unsigned int ndim;  /* of the whole array */
	uint64_t shape[4];
};

/* A minimal reader of labdaq's 4096-byte version 1.0 header. */
static void parse_npy(const uint8_t *buf, size_t len, struct npy *n)
{
	const char *h = (const char *)buf + 10, *s;
	char dict[HDR];

	memset(n, 0, sizeof(*n));
	assert_true(len >= HDR);
	assert_memory_equal(buf, "\x93NUMPY\x01\x00", 8);
	assert_int_equal(le16(buf + 8), HDR - 10);
	assert_int_equal(buf[HDR - 1], '\n');
	memcpy(dict, h, HDR - 10);
	dict[HDR - 11] = '\0';
	s = strstr(dict, "'descr': '");
	assert_non_null(s);
	s += strlen("'descr': '");
	for (size_t i = 0; i < sizeof(n->descr) - 1 && s[i] != '\''; i++)
		n->descr[i] = s[i];
	assert_non_null(strstr(dict, "'fortran_order': False"));
	s = strstr(dict, "'shape': (");
	assert_non_null(s);
	s += strlen("'shape': (");
	while (*s && *s != ')') {
		char *end;

		assert_true(n->ndim < 4);
		n->shape[n->ndim++] = strtoull(s, &end, 10);
		assert_true(end != s);
		s = end;
		while (*s == ',' || *s == ' ')
			s++;
	}
	assert_int_equal(*s, ')');
}

/* The sidecar last loaded: json_gaps() reads the gaps of its data file. */
static char last_json[512];

static json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, 0, &err);

	snprintf(last_json, sizeof(last_json), "%s", path);
	if (!j)
		fail_msg("%s: %s (line %d)", path, err.text, err.line);
	assert_true(json_is_object(j));
	return j;
}

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("key '%s' is not a string", key);
	return json_string_value(v);
}

static uint64_t jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("key '%s' is not an integer", key);
	return (uint64_t)json_integer_value(v);
}

/* The gaps of the sidecar @j (the last loaded), read from its gaps' file
 * through labdaq_file_gaps(), checked in increasing order and against the
 * sidecar's count; returns their sum. */
static uint64_t json_gaps(json_t *j, uint64_t (*out)[2], size_t max, size_t *n)
{
	json_t *gaps = json_object_get(j, "gaps");
	uint64_t sum = 0, prev_end = 0, v[2];
	char npy[520];
	labdaq_file *f;
	size_t i;

	assert_true(json_is_object(gaps));
	snprintf(npy, sizeof(npy), "%.*s.npy", (int)strlen(last_json) - 5, last_json);
	assert_int_equal(labdaq_file_open(npy, &f), 0);
	*n = (size_t)labdaq_file_gap_count(f);
	assert_int_equal(*n, jint(gaps, "count"));
	if (*n)
		assert_string_equal(jstr(gaps, "file"), "run.gaps.npy");
	for (i = 0; i < *n; i++) {
		uint64_t idx, cnt;

		assert_int_equal(labdaq_file_gaps(f, i, 1, v), 1);
		idx = v[0];
		cnt = v[1];
		assert_true(cnt > 0);
		if (i) /* in order, adjacent ones merged */
			assert_true(idx > prev_end);
		prev_end = idx + cnt;
		if (i < max) {
			out[i][0] = idx;
			out[i][1] = cnt;
		}
		sum += cnt;
	}
	labdaq_file_close(f);
	return sum;
}

/*
 * Check a sim:camera file: the header, the size, and that its frames are
 * exactly the indexes 0, 1, ... that are not in @gaps, every pixel right.
 * Returns the number of frames.
 */
static uint64_t check_camera_file(const char *path, uint32_t w, uint32_t h,
				  const uint64_t (*gaps)[2], size_t ngaps)
{
	size_t len, px = (size_t)w * h, fb = px * 2;
	uint8_t *buf = read_all(path, &len);
	uint64_t items, idx = 0;
	size_t g = 0;
	struct npy n;

	parse_npy(buf, len, &n);
	assert_string_equal(n.descr, "<u2");
	assert_int_equal(n.ndim, 3);
	assert_int_equal(n.shape[1], h);
	assert_int_equal(n.shape[2], w);
	items = n.shape[0];
	/* No frame: one byte after the header, for numpy's mmap (npy.h). */
	if (len != HDR + (items ? items * fb : 1))
		fail_msg("%s: %zu bytes, the header says %llu frames of %zu", path, len,
			 (unsigned long long)items, fb);
	for (uint64_t k = 0; k < items; k++, idx++) {
		while (g < ngaps && idx == gaps[g][0])
			idx += gaps[g++][1];
		cam_assert(buf + HDR + k * fb, idx, px);
	}
	free(buf);
	return items;
}

static void check_adc_file(const char *path, const unsigned int *chans, unsigned int nchans,
			   uint64_t items)
{
	size_t len;
	uint8_t *buf = read_all(path, &len);
	struct npy n;

	parse_npy(buf, len, &n);
	assert_string_equal(n.descr, "<i2");
	assert_int_equal(n.ndim, 2);
	assert_int_equal(n.shape[0], items);
	assert_int_equal(n.shape[1], nchans);
	assert_int_equal(len, HDR + (items ? items * nchans * 2 : 1));
	for (uint64_t s = 0; s < items; s++) {
		for (unsigned int j = 0; j < nchans; j++) {
			int16_t got = (int16_t)le16(buf + HDR + (s * nchans + j) * 2);

			if (got != adc_value(s, chans[j]))
				fail_msg("sample %llu channel %u: %d, want %d",
					 (unsigned long long)s, chans[j], got,
					 adc_value(s, chans[j]));
		}
	}
	free(buf);
}

static void check_final_json(const char *json_path, labdaq_run *run, const char *status)
{
	struct labdaq_progress p = progress(run);
	json_t *j = load_json(json_path);

	assert_string_equal(jstr(j, "status"), status);
	assert_int_equal(jint(j, "acquired"), p.acquired);
	assert_int_equal(jint(j, "written"), p.written);
	assert_int_equal(jint(j, "dropped"), p.dropped);
	assert_true(json_is_string(json_object_get(j, "ended_utc")));
	json_decref(j);
}

/* ------------------------------------------------------------------------
 * Start, progress, completion
 */

static void test_start_returns_at_once(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p, q;
	labdaq_run *run;
	uint64_t t0, t;
	json_t *j;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 200);
	labdaq_run_config_set_duration_ns(cfg, 100ull * 1000000000u); /* 100 s */
	t0 = now_ns();
	run = start_ok(dev, cfg);
	t = now_ns() - t0;
	if (t > 1000000000u)
		fail_msg("labdaq_run_start took %.3f s", t / 1e9);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_RUNNING);
	assert_int_equal(labdaq_run_wait(run, 0), -ETIMEDOUT);
	t0 = now_ns();
	assert_int_equal(labdaq_run_wait(run, 50), -ETIMEDOUT);
	assert_true(now_ns() - t0 >= 45000000u);

	/* Both files exist from the start; the sidecar says running. */
	assert_int_equal(access(in_dir(fx, "run.npy"), F_OK), 0);
	j = load_json(in_dir(fx, "run.json"));
	assert_string_equal(jstr(j, "status"), "running");
	assert_true(json_is_null(json_object_get(j, "ended_utc")));
	json_decref(j);

	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_RUNNING);
	wait_acquired(run, p.acquired + 10, END_MS);
	/* written follows at the next checkpoint (100 ms) */
	t0 = now_ns();
	while ((q = progress(run)).written < 10 && now_ns() - t0 < (uint64_t)END_MS * 1000000u)
		sleep_ms(10);
	assert_true(q.written >= 10);
	assert_true(q.acquired > p.acquired);
	assert_true(q.elapsed_ns > p.elapsed_ns);
	assert_int_equal(q.dropped, 0);
	assert_int_equal(q.state, LABDAQ_STATE_RUNNING);
	assert_int_equal(labdaq_run_wait(run, 0), -ETIMEDOUT);
	/* the rate over the last second settles near 200/s */
	sleep_ms(600);
	q = progress(run);
	assert_true(q.rate_hz > 100 && q.rate_hz < 300);

	assert_int_equal(labdaq_run_stop(run), 0);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_STOPPED);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_counted_camera(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=64&height=48");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;
	const char *msg = "x";
	json_t *j, *ring, *shape;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 50, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 50);
	assert_int_equal(p.written, 50);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(p.gaps, 0);
	assert_int_equal(p.error, 0);
	assert_int_equal(labdaq_run_error(run, &msg), 0);
	assert_null(msg);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 64, 48, NULL, 0), 50);

	j = load_json(in_dir(fx, "run.json"));
	assert_string_equal(jstr(j, "format"), "labdaq-2");
	assert_string_equal(jstr(j, "status"), "complete");
	assert_string_equal(jstr(j, "file"), "run.npy");
	assert_string_equal(jstr(j, "device"), "sim:camera?width=64&height=48");
	assert_string_equal(jstr(j, "backend"), "sim");
	assert_string_equal(jstr(j, "kind"), "frames");
	assert_string_equal(jstr(j, "dtype"), "<u2");
	assert_string_equal(jstr(j, "command"), "test_run");
	shape = json_object_get(j, "shape");
	assert_int_equal(json_array_size(shape), 2);
	assert_int_equal(json_integer_value(json_array_get(shape, 0)), 48);
	assert_int_equal(json_integer_value(json_array_get(shape, 1)), 64);
	assert_int_equal(jint(j, "acquired"), 50);
	assert_int_equal(jint(j, "written"), 50);
	assert_int_equal(jint(j, "dropped"), 0);
	assert_int_equal(jint(json_object_get(j, "gaps"), "count"), 0);
	assert_true(json_is_null(json_object_get(j, "error")));
	assert_true(json_is_string(json_object_get(j, "started_utc")));
	assert_true(json_is_string(json_object_get(j, "ended_utc")));
	ring = json_object_get(j, "ring");
	assert_int_equal(jint(ring, "capacity_bytes"), p.ring_capacity_bytes);
	assert_string_equal(jstr(ring, "policy"), "block");
	assert_true(jint(ring, "high_water_bytes") <= p.ring_capacity_bytes);
	json_decref(j);

	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_counted_adc_channels(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:adc?channels=4");
	static const unsigned int chans[] = { 2, 0 };
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;
	json_t *j, *ch;

	cfg_init(&cfg, in_dir(fx, "adc.npy"), 100000, 0);
	labdaq_run_config_set_channels(cfg, "voltage2,voltage0");
	labdaq_run_config_set_ring_bytes(cfg, 64 << 10); /* the ring wraps many times */
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 100000);
	assert_int_equal(p.written, 100000);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(p.item_bytes, 4);
	check_adc_file(in_dir(fx, "adc.npy"), chans, 2, 100000);

	j = load_json(in_dir(fx, "adc.json"));
	assert_string_equal(jstr(j, "kind"), "samples");
	assert_string_equal(jstr(j, "dtype"), "<i2");
	ch = json_object_get(j, "channels");
	assert_int_equal(json_array_size(ch), 2);
	assert_string_equal(jstr(json_array_get(ch, 0), "name"), "voltage2");
	assert_string_equal(jstr(json_array_get(ch, 1), "name"), "voltage0");
	assert_string_equal(jstr(json_array_get(ch, 0), "unit"), "V");
	json_decref(j);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_counted_ohm(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:ohm?r=1000&noise=0.001&seed=7");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	uint8_t *buf;
	size_t len;
	struct npy n;

	cfg_init(&cfg, in_dir(fx, "ohm.npy"), 3000, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	buf = read_all(in_dir(fx, "ohm.npy"), &len);
	parse_npy(buf, len, &n);
	assert_string_equal(n.descr, "<i4");
	assert_int_equal(n.ndim, 2);
	assert_int_equal(n.shape[0], 3000);
	assert_int_equal(n.shape[1], 2);
	assert_int_equal(len, HDR + 3000 * 8);
	for (uint64_t k = 0; k < 3000; k++) {
		int32_t rv, ri, gv, gi;

		ohm_raw(7, 1000, 0.001, k, &rv, &ri);
		memcpy(&gv, buf + HDR + k * 8, 4);
		memcpy(&gi, buf + HDR + k * 8 + 4, 4);
		if (gv != rv || gi != ri)
			fail_msg("item %llu: (%d, %d), want (%d, %d)", (unsigned long long)k, gv,
				 gi, rv, ri);
	}
	free(buf);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_duration(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:adc?channels=1");
	static const unsigned int chans[] = { 0 };
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;

	/* paced: exactly the items due in the time (labdaq(1) --time) */
	cfg_init(&cfg, in_dir(fx, "d.npy"), 0, 1000);
	labdaq_run_config_set_duration_ns(cfg, 300000000u);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 300);
	assert_int_equal(p.written, 300);
	assert_true(p.elapsed_ns >= 250000000u);
	check_adc_file(in_dir(fx, "d.npy"), chans, 1, p.written);
	labdaq_run_free(run);

	/* unpaced: the clock ends it */
	cfg_init(&cfg, in_dir(fx, "e.npy"), 0, 0);
	labdaq_run_config_set_duration_ns(cfg, 200000000u);
	labdaq_run_config_set_ring_bytes(cfg, 64 << 10);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_true(p.acquired > 0);
	assert_int_equal(p.written, p.acquired);
	assert_true(p.elapsed_ns >= 200000000u);
	check_adc_file(in_dir(fx, "e.npy"), chans, 1, p.written);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* The target of @cfg's run, read at once after its start; the run is
 * then aborted. */
static uint64_t target_of(labdaq_device *dev, labdaq_run_config *cfg)
{
	labdaq_run *run = start_ok(dev, cfg);
	uint64_t t = progress(run).target;

	labdaq_run_abort(run);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	return t;
}

/* labdaq.h: the target is cfg->count, or for a paced timed run the items
 * due in its time if fewer; 0 for no count. */
static void test_progress_target(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:adc?channels=1");
	labdaq_run_config *cfg = NULL;

	/* a count */
	cfg_init(&cfg, in_dir(fx, "a.npy"), 5000, 1000);
	assert_int_equal(target_of(dev, cfg), 5000);
	/* paced and timed: the items due, 1000/s for 100 ms */
	cfg_init(&cfg, in_dir(fx, "b.npy"), 0, 1000);
	labdaq_run_config_set_duration_ns(cfg, 100000000u);
	assert_int_equal(target_of(dev, cfg), 100);
	/* both: the smaller */
	cfg_init(&cfg, in_dir(fx, "c.npy"), 40, 1000);
	labdaq_run_config_set_duration_ns(cfg, 100000000u);
	assert_int_equal(target_of(dev, cfg), 40);
	cfg_init(&cfg, in_dir(fx, "d.npy"), 5000, 1000);
	labdaq_run_config_set_duration_ns(cfg, 100000000u);
	assert_int_equal(target_of(dev, cfg), 100);
	/* timed but not paced, or neither: no count */
	cfg_init(&cfg, in_dir(fx, "e.npy"), 0, 0);
	labdaq_run_config_set_duration_ns(cfg, 100000000u);
	assert_int_equal(target_of(dev, cfg), 0);
	cfg_init(&cfg, in_dir(fx, "f.npy"), 0, 1000);
	assert_int_equal(target_of(dev, cfg), 0);
	labdaq_device_close(dev);
}

/* The duration holds while the device stalls in a read. */
static void test_duration_while_stalled(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:adc?channels=1&stall_after=2&stall_ms=20000");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;
	uint64_t t0 = now_ns();

	cfg_init(&cfg, in_dir(fx, "d.npy"), 0, 1000);
	labdaq_run_config_set_duration_ns(cfg, 300000000u);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_true(now_ns() - t0 < 10000000000ull);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_true(p.acquired > 0 && p.acquired < 100);
	assert_int_equal(p.written, p.acquired);
	check_adc_file(in_dir(fx, "d.npy"), (const unsigned int[]){ 0 }, 1, p.written);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* The sidecar's spare (".NAME.json.tmp") is gone when the run has ended. */
static void test_spare_removed_at_end(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	char names[512];

	cfg_init(&cfg, in_dir(fx, "run.npy"), 5, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	list_dir(fx->dir, names, sizeof(names));
	labdaq_run_free(run);
	labdaq_device_close(dev);
	/* docs/file-format.md: "It is removed when the run ends" */
	assert_string_equal(names, "run.gaps.npy run.json run.npy");
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "run.gaps.npy run.json run.npy");
}

/* The default ring of a short counted run is the run's size (at least
 * 1 MiB), not 64 MiB; an unbounded run keeps the default; a capacity set is
 * kept whatever the count; the data of the short run are all there. */
static void test_default_ring_sized_to_run(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=640&height=480");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;

	/* 3 frames of 600 KiB: 1.76 MiB, rounded up to a page */
	cfg_init(&cfg, in_dir(fx, "short.npy"), 3, 0);
	assert_int_equal(labdaq_run_config_set_ring_bytes(cfg, 0), 0);
	run = start_ok(dev, cfg);
	p = progress(run);
	assert_int_equal(p.ring_capacity_bytes, 3 * 640 * 480 * 2);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.written, 3);
	labdaq_run_free(run);

	/* one frame: the floor of 1 MiB */
	cfg_init(&cfg, in_dir(fx, "one.npy"), 1, 0);
	assert_int_equal(labdaq_run_config_set_ring_bytes(cfg, 0), 0);
	run = start_ok(dev, cfg);
	assert_int_equal(progress(run).ring_capacity_bytes, 1u << 20);
	wait_end(run, END_MS);
	labdaq_run_free(run);

	/* more than 64 MiB of frames: the default */
	cfg_init(&cfg, in_dir(fx, "long.npy"), 200, 0);
	assert_int_equal(labdaq_run_config_set_ring_bytes(cfg, 0), 0);
	run = start_ok(dev, cfg);
	assert_int_equal(progress(run).ring_capacity_bytes, labdaq_default_ring_bytes());
	labdaq_run_stop(run);
	wait_end(run, END_MS);
	labdaq_run_free(run);

	/* a capacity set is kept, even above the run's size */
	cfg_init(&cfg, in_dir(fx, "set.npy"), 1, 0);
	assert_int_equal(labdaq_run_config_set_ring_bytes(cfg, 8u << 20), 0);
	run = start_ok(dev, cfg);
	assert_int_equal(progress(run).ring_capacity_bytes, 8u << 20);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_progress_fields(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=64&height=48");
	long page = sysconf(_SC_PAGESIZE);
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 20, 0);
	labdaq_run_config_set_ring_bytes(cfg, 100000);
	run = start_ok(dev, cfg);
	p = progress(run);
	assert_int_equal(p.ring_capacity_bytes,
			 (100000 + (uint64_t)page - 1) / (uint64_t)page * (uint64_t)page);
	assert_int_equal(p.item_bytes, 64 * 48 * 2);
	assert_int_equal(p.target, 20);
	assert_true(p.ring_fill_bytes <= p.ring_capacity_bytes);
	assert_true(p.ring_high_water_bytes <= p.ring_capacity_bytes);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.target, 20);
	assert_int_equal(p.ring_fill_bytes, 0);
	assert_true(p.ring_high_water_bytes > 0);
	assert_true(p.ring_high_water_bytes <= p.ring_capacity_bytes);
	assert_int_equal(p.error, 0);
	labdaq_run_free(run);
	labdaq_device_close(dev);

	/* a samples device: item_bytes is channels x value size */
	dev = open_dev("sim:ohm");
	cfg_init(&cfg, in_dir(fx, "ohm.npy"), 0, 100);
	run = start_ok(dev, cfg);
	p = progress(run);
	assert_int_equal(p.item_bytes, 8);
	assert_int_equal(p.target, 0);
	assert_int_equal(p.ring_capacity_bytes, 1u << 20);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* ------------------------------------------------------------------------
 * Stop, abort, free
 */

struct stopper {
	labdaq_run *run;
	unsigned int after_ms;
	int abort;
	int ret;
};

static void *stopper_main(void *arg)
{
	struct stopper *s = arg;

	sleep_ms(s->after_ms);
	s->ret = s->abort ? labdaq_run_abort(s->run) : labdaq_run_stop(s->run);
	return NULL;
}

static void test_stop_from_thread(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	struct stopper s = { .after_ms = 300 };
	labdaq_run *run;
	pthread_t t;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 500);
	run = start_ok(dev, cfg);
	s.run = run;
	assert_int_equal(pthread_create(&t, NULL, stopper_main, &s), 0);
	wait_end(run, END_MS);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_STOPPED);
	assert_true(p.acquired > 10);
	assert_int_equal(p.written, p.acquired);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(labdaq_run_error(run, NULL), 0);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), p.written);
	check_final_json(in_dir(fx, "run.json"), run, "stopped");

	/* idempotent, and nothing changes after the end */
	assert_int_equal(labdaq_run_stop(run), 0);
	assert_int_equal(labdaq_run_stop(run), 0);
	assert_int_equal(labdaq_run_abort(run), 0);
	assert_int_equal(labdaq_run_wait(run, 0), 0);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_STOPPED);
	assert_int_equal(progress(run).written, p.written);
	check_final_json(in_dir(fx, "run.json"), run, "stopped");
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* A stop before the first item: an empty, valid file. */
static void test_stop_at_once(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32&stall_after=0&stall_ms=3000");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	uint64_t t0;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 100);
	run = start_ok(dev, cfg);
	assert_int_equal(labdaq_run_stop(run), 0);
	t0 = now_ns();
	wait_end(run, END_MS);
	/* the stall is cut short by the stop */
	assert_true(now_ns() - t0 < 2000000000u);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_STOPPED);
	assert_int_equal(progress(run).acquired, 0);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), 0);
	check_final_json(in_dir(fx, "run.json"), run, "stopped");
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* Abort with a slow writer and a full ring: the rest is dropped. */
static void run_abort(struct fixture *fx, struct labdaq_progress *out, uint64_t *gap_sum,
		      size_t *ngaps)
{
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	uint64_t gaps[64][2];
	labdaq_run *run;
	json_t *j;

	setenv(DELAY_ENV, "20000", 1);
	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 0);
	labdaq_run_config_set_ring_bytes(cfg, 64 << 10); /* 32 frames */
	run = start_ok(dev, cfg);
	wait_acquired(run, 40, END_MS);
	assert_int_equal(labdaq_run_abort(run), 0);
	assert_int_equal(labdaq_run_abort(run), 0);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_ABORTED);
	assert_int_equal(p.written + p.dropped, p.acquired);
	assert_true(p.dropped > 0);
	check_final_json(in_dir(fx, "run.json"), run, "aborted");
	j = load_json(in_dir(fx, "run.json"));
	*gap_sum = json_gaps(j, gaps, 64, ngaps);
	json_decref(j);
	/* block policy: the frames in the file are 0 .. written-1 */
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), p.written);
	*out = p;
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_abort(void **state)
{
	struct labdaq_progress p;
	uint64_t sum;
	size_t n;

	run_abort(*state, &p, &sum, &n);
}

/*
 * docs/file-format.md: "When a run has ended (any final status but
 * recovered), acquired == written + dropped and the gap counts add up to
 * dropped: nothing is lost without being recorded."
 */
static void test_abort_records_gaps(void **state)
{
	struct labdaq_progress p;
	uint64_t sum;
	size_t n;

	run_abort(*state, &p, &sum, &n);
	if (sum != p.dropped)
		fail_msg("aborted: dropped %llu but the gaps (%zu) add up to %llu",
			 (unsigned long long)p.dropped, n, (unsigned long long)sum);
	assert_int_equal(p.gaps, n);
}

/*
 * Abort a drop-policy run: the discarded ring contents interleave with the
 * gaps of the drops, and the file must still be exactly the frames that
 * are in no gap.
 */
static void test_abort_drop_gaps(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	uint64_t gaps[1024][2], sum;
	labdaq_run *run;
	size_t ngaps;
	json_t *j;

	setenv(DELAY_ENV, "20000", 1);
	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 2000);
	labdaq_run_config_set_ring_bytes(cfg, 32 << 10); /* 16 frames */
	labdaq_run_config_set_on_full(cfg, LABDAQ_ON_FULL_DROP);
	run = start_ok(dev, cfg);
	wait_acquired(run, 150, END_MS);
	assert_int_equal(labdaq_run_abort(run), 0);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_ABORTED);
	assert_int_equal(p.written + p.dropped, p.acquired);
	j = load_json(in_dir(fx, "run.json"));
	sum = json_gaps(j, gaps, 1024, &ngaps);
	assert_int_equal(jint(j, "acquired"), p.acquired);
	json_decref(j);
	assert_true(ngaps <= 1024);
	assert_int_equal(sum, p.dropped);
	assert_int_equal(ngaps, p.gaps);
	assert_true(gaps[ngaps - 1][0] + gaps[ngaps - 1][1] == p.acquired);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32,
					   (const uint64_t(*)[2])gaps, ngaps),
			 p.written);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_free_running(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	char names[512];
	json_t *j;
	uint64_t written, acquired, dropped;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 200);
	run = start_ok(dev, cfg);
	wait_acquired(run, 5, END_MS);
	labdaq_run_free(run); /* aborts, waits, frees */

	j = load_json(in_dir(fx, "run.json"));
	assert_string_equal(jstr(j, "status"), "aborted");
	written = jint(j, "written");
	acquired = jint(j, "acquired");
	dropped = jint(j, "dropped");
	json_decref(j);
	assert_true(acquired >= 5);
	assert_int_equal(written + dropped, acquired);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), written);
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "run.gaps.npy run.json run.npy");

	/* the device is free again */
	cfg_init(&cfg, in_dir(fx, "two.npy"), 3, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	labdaq_run_free(NULL);
	labdaq_device_close(dev);
}

/* ------------------------------------------------------------------------
 * The latest tap
 */

static void test_latest(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32&stall_after=0&stall_ms=400");
	labdaq_run_config *cfg = NULL;
	uint8_t buf[4096];
	uint64_t index = 99, items = 99, end;
	labdaq_run *run;
	int ret;

	cfg_init(&cfg, in_dir(fx, "cam.npy"), 0, 100);
	run = start_ok(dev, cfg);
	/* the first read stalls 400 ms: nothing yet (the count read after the
	 * call: still none acquired, so none was there during it) */
	ret = labdaq_run_latest(run, buf, sizeof(buf), &index, &items);
	if (progress(run).acquired == 0) {
		assert_int_equal(ret, -EAGAIN);
		assert_int_equal(index, 99);
	}
	end = now_ns() + 5000000000u;
	while ((ret = labdaq_run_latest(run, buf, sizeof(buf), &index, &items)) == -EAGAIN &&
	       now_ns() < end)
		sleep_ms(5);
	assert_int_equal(ret, 2048);
	assert_int_equal(items, 1);
	cam_assert(buf, index, 1024);
	/* it moves on (100 frames a second: within 5 s on any machine) */
	{
		uint64_t first = index;

		end = now_ns() + 5000000000u;
		do {
			sleep_ms(5);
			assert_int_equal(labdaq_run_latest(run, buf, sizeof(buf), &index, NULL),
					 2048);
		} while (index == first && now_ns() < end);
		assert_true(index > first);
		assert_true(index < progress(run).acquired);
		cam_assert(buf, index, 1024);
	}
	/* a short buffer gets what fits: not a whole item */
	memset(buf, 0, sizeof(buf));
	assert_int_equal(labdaq_run_latest(run, buf, 100, &index, &items), 100);
	assert_int_equal(items, 0);
	assert_int_equal(le64(buf), index);
	assert_int_equal(buf[100], 0);
	labdaq_run_free(run);
	labdaq_device_close(dev);

	/* samples: a block of several items, each one right */
	dev = open_dev("sim:adc?channels=3");
	cfg_init(&cfg, in_dir(fx, "adc.npy"), 0, 2000);
	run = start_ok(dev, cfg);
	end = now_ns() + 5000000000u;
	while ((ret = labdaq_run_latest(run, buf, sizeof(buf), &index, &items)) == -EAGAIN &&
	       now_ns() < end)
		sleep_ms(5);
	assert_true(ret > 0);
	assert_int_equal(ret % 6, 0);
	assert_int_equal(items, (uint64_t)ret / 6);
	for (uint64_t k = 0; k < items; k++)
		for (unsigned int c = 0; c < 3; c++)
			assert_int_equal((int16_t)le16(buf + (k * 3 + c) * 2),
					 adc_value(index + k, c));
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* ------------------------------------------------------------------------
 * A full ring: drop or block
 */

static void test_drop_policy(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	uint64_t gaps[512][2], sum;
	labdaq_run *run;
	size_t ngaps;
	json_t *j;

	/* A writer of at most ~2 frames per 5 ms against 2000 frames/s. */
	setenv(DELAY_ENV, "5000", 1);
	cfg_init(&cfg, in_dir(fx, "run.npy"), 400, 2000);
	labdaq_run_config_set_ring_bytes(cfg, 8192); /* 4 frames */
	labdaq_run_config_set_on_full(cfg, LABDAQ_ON_FULL_DROP);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 400);
	assert_int_equal(p.written + p.dropped, 400);
	assert_true(p.dropped > 0);
	assert_true(p.gaps > 0);
	assert_true(p.ring_high_water_bytes <= p.ring_capacity_bytes);

	j = load_json(in_dir(fx, "run.json"));
	assert_string_equal(jstr(j, "status"), "complete");
	assert_string_equal(jstr(json_object_get(j, "ring"), "policy"), "drop");
	sum = json_gaps(j, gaps, 512, &ngaps);
	assert_true(ngaps <= 512);
	assert_int_equal(jint(j, "dropped"), p.dropped);
	assert_int_equal(jint(j, "written"), p.written);
	json_decref(j);
	assert_int_equal(sum, p.dropped);
	assert_int_equal(ngaps, p.gaps);
	for (size_t i = 0; i < ngaps; i++)
		assert_true(gaps[i][0] + gaps[i][1] <= 400);
	/* exactly the frames not in a gap, in order */
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32,
					   (const uint64_t(*)[2])gaps, ngaps),
			 p.written);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_block_policy(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	labdaq_run *run;
	json_t *j;

	setenv(DELAY_ENV, "5000", 1);
	cfg_init(&cfg, in_dir(fx, "run.npy"), 100, 2000);
	labdaq_run_config_set_ring_bytes(cfg, 8192);
	labdaq_run_config_set_on_full(cfg, LABDAQ_ON_FULL_BLOCK);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 100);
	assert_int_equal(p.written, 100);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(p.gaps, 0);
	/* the slow writer did fill the ring */
	assert_int_equal(p.ring_high_water_bytes, p.ring_capacity_bytes);
	j = load_json(in_dir(fx, "run.json"));
	assert_int_equal(jint(json_object_get(j, "gaps"), "count"), 0);
	assert_string_equal(jstr(json_object_get(j, "ring"), "policy"), "block");
	json_decref(j);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), 100);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/*
 * A ring just larger than one frame, block policy, no pacing: 10 frames
 * must not take seconds.  (7680-byte frames in an 8192-byte ring.)
 */
static void test_tiny_ring_throughput(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=64&height=60");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	uint64_t t0;
	int ret;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 10, 0);
	labdaq_run_config_set_ring_bytes(cfg, 8192);
	labdaq_run_config_set_checkpoint_ms(cfg, 1000);
	t0 = now_ns();
	run = start_ok(dev, cfg);
	ret = labdaq_run_wait(run, 3000);
	if (ret) {
		struct labdaq_progress p = progress(run);

		labdaq_run_abort(run);
		labdaq_run_free(run);
		labdaq_device_close(dev);
		fail_msg("10 frames of 7680 bytes through an 8192-byte ring: only %llu written "
			 "after %.1f s",
			 (unsigned long long)p.written, (now_ns() - t0) / 1e9);
	}
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 64, 60, NULL, 0), 10);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* A hardware overrun (sim overrun_after) is a gap too. */
static void test_overrun_gap(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev =
		open_dev("sim:camera?width=32&height=32&overrun_after=3&overrun_items=5");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	uint64_t gaps[4][2];
	labdaq_run *run;
	size_t ngaps;
	json_t *j;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 20, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_COMPLETE);
	assert_int_equal(p.acquired, 20);
	assert_int_equal(p.dropped, 5);
	assert_int_equal(p.written, 15);
	assert_int_equal(p.gaps, 1);
	j = load_json(in_dir(fx, "run.json"));
	assert_int_equal(json_gaps(j, gaps, 4, &ngaps), 5);
	json_decref(j);
	assert_int_equal(ngaps, 1);
	assert_int_equal(gaps[0][0], 3);
	assert_int_equal(gaps[0][1], 5);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32,
					   (const uint64_t(*)[2])gaps, ngaps),
			 15);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* ------------------------------------------------------------------------
 * Errors
 */

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void assert_file_text(const char *path, const char *text)
{
	size_t len;
	uint8_t *buf = read_all(path, &len);

	assert_int_equal(len, strlen(text));
	assert_memory_equal(buf, text, len);
	free(buf);
}

static void test_exists_and_overwrite(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run = (labdaq_run *)&run;
	char names[512];

	/* the data file exists */
	write_text(in_dir(fx, "run.npy"), "precious data\n");
	cfg_init(&cfg, in_dir(fx, "run.npy"), 3, 0);
	assert_int_equal(labdaq_run_start(dev, cfg, &run), -EEXIST);
	assert_null(run);
	assert_file_text(in_dir(fx, "run.npy"), "precious data\n");
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "run.npy");

	/* only the sidecar exists */
	write_text(in_dir(fx, "b.json"), "{\"precious\": 1}\n");
	cfg_init(&cfg, in_dir(fx, "b.npy"), 3, 0);
	assert_int_equal(labdaq_run_start(dev, cfg, &run), -EEXIST);
	assert_file_text(in_dir(fx, "b.json"), "{\"precious\": 1}\n");
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "b.json run.npy");

	/* overwrite replaces both */
	cfg_init(&cfg, in_dir(fx, "run.npy"), 3, 0);
	labdaq_run_config_set_overwrite(cfg, 1);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), 3);

	/* a longer file is cut to the new run's size */
	cfg_init(&cfg, in_dir(fx, "run.npy"), 1, 0);
	labdaq_run_config_set_overwrite(cfg, 1);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), 1);

	cfg_init(&cfg, in_dir(fx, "b.npy"), 2, 0);
	labdaq_run_config_set_overwrite(cfg, 1);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	check_camera_file(in_dir(fx, "b.npy"), 32, 32, NULL, 0);
	{
		json_t *j = load_json(in_dir(fx, "b.json"));

		assert_string_equal(jstr(j, "status"), "complete");
		json_decref(j);
	}
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "b.gaps.npy b.json b.npy run.gaps.npy run.json run.npy");
	labdaq_device_close(dev);
}

static void expect_einval(labdaq_device *dev, const labdaq_run_config *cfg,
			  const char *what)
{
	labdaq_run *run = NULL;
	int ret = labdaq_run_start(dev, cfg, &run);

	if (ret != -EINVAL)
		fail_msg("%s: %d (%s), want -EINVAL", what, ret, labdaq_strerror(ret));
	if (run)
		labdaq_run_free(run); /* not reached: -EINVAL starts nothing */
}

static void test_invalid_config(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *adc = open_dev("sim:adc?channels=4");
	labdaq_device *cam = open_dev("sim:camera?width=64&height=48");
	labdaq_device *ohm = open_dev("sim:ohm");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	char names[512];

	cfg_init(&cfg, in_dir(fx, "x.npy"), 10, 0);
	labdaq_run_config_set_channels(cfg, "voltage9");
	expect_einval(adc, cfg, "unknown channel");
	assert_non_null(strstr(last_log(), "voltage9"));
	labdaq_run_config_set_channels(cfg, "voltage0,nope");
	expect_einval(adc, cfg, "one unknown channel");
	labdaq_run_config_set_channels(cfg, "voltage1,voltage1");
	expect_einval(adc, cfg, "a channel twice");
	labdaq_run_config_set_channels(cfg, "");
	expect_einval(adc, cfg, "no channel");
	labdaq_run_config_set_channels(cfg, "voltage0");
	expect_einval(cam, cfg, "channels on a frames device");
	labdaq_run_config_set_channels(cfg, NULL);

	/* a ring smaller than one item (6144 bytes) */
	labdaq_run_config_set_ring_bytes(cfg, 4096);
	expect_einval(cam, cfg, "ring of 4096 for 6144-byte frames");
	labdaq_run_config_set_ring_bytes(cfg, 1u << 20);

	/* Values no run can take are refused by the setters, and the
	 * configuration keeps what it had. */
	assert_int_equal(labdaq_run_config_set_ring_bytes(cfg, 1), -EINVAL);
	assert_int_equal(labdaq_run_config_get_ring_bytes(cfg), 1u << 20);
	assert_int_equal(labdaq_run_config_set_on_full(cfg, 2), -EINVAL);
	assert_int_equal(labdaq_run_config_set_on_full(cfg, -1), -EINVAL);
	assert_int_equal(labdaq_run_config_set_rate_hz(cfg, -1), -EINVAL);
	assert_int_equal(labdaq_run_config_set_rate_hz(cfg, NAN), -EINVAL);
	assert_int_equal(labdaq_run_config_set_path(cfg, NULL), -EINVAL);
	labdaq_run_config_set_path(cfg, "");
	expect_einval(cam, cfg, "empty path");
	labdaq_run_config_set_path(cfg, in_dir(fx, "x.dat"));
	expect_einval(cam, cfg, "a path that does not end in .npy");
	{
		labdaq_run_config *nopath = NULL;

		cfg_init(&nopath, NULL, 10, 0);
		expect_einval(cam, nopath, "no path");
	}
	labdaq_run_config_set_path(cfg, in_dir(fx, "x.npy"));
	assert_int_equal(labdaq_run_start(cam, NULL, &run), -EINVAL);
	assert_int_equal(labdaq_run_start(NULL, cfg, &run), -EINVAL);
	assert_int_equal(labdaq_run_start(cam, cfg, NULL), -EINVAL);

	/* nothing on disk, and the devices are not left busy */
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "");
	run = start_ok(cam, cfg);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	labdaq_run_config_set_path(cfg, in_dir(fx, "y.npy"));
	labdaq_run_config_set_channels(cfg, "voltage3");
	run = start_ok(adc, cfg);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	/* sim:ohm: "voltage0" is the input, not the output of the same name */
	labdaq_run_config_set_path(cfg, in_dir(fx, "z.npy"));
	labdaq_run_config_set_channels(cfg, "current0,voltage0");
	run = start_ok(ohm, cfg);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	labdaq_device_close(adc);
	labdaq_device_close(cam);
	labdaq_device_close(ohm);
}

/* A failed start leaves *out NULL, whatever the error. */
static void test_start_error_clears_out(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *cam = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run;
	static const char *const paths[] = { "ok", "", NULL };
	char bad[256] = "";
	int ret;

	for (size_t i = 0; i < LDQ_N(paths); i++) {
		cfg_init(&cfg, paths[i] && *paths[i] ? in_dir(fx, "x.npy") : paths[i], 3, 0);
		if (!i)
			labdaq_run_config_set_channels(cfg, "nope");
		run = (labdaq_run *)&run; /* garbage from an earlier use */
		ret = labdaq_run_start(cam, cfg, &run);
		if (ret != -EINVAL)
			snprintf(bad, sizeof(bad), "path %s: %d", paths[i] ? paths[i] : "NULL",
				 ret);
		else if (run && !bad[0])
			snprintf(bad, sizeof(bad), "path %s%s%s: -EINVAL but *out was left %p",
				 paths[i] ? "\"" : "", paths[i] ? paths[i] : "NULL",
				 paths[i] ? "\"" : "", (void *)run);
	}
	labdaq_device_close(cam);
	if (bad[0])
		fail_msg("%s", bad);
}

static void test_busy(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL, *cfg2 = NULL;
	labdaq_run *run, *run2 = (labdaq_run *)&run2;
	char names[512];

	cfg_init(&cfg, in_dir(fx, "one.npy"), 0, 100);
	run = start_ok(dev, cfg);
	cfg_init(&cfg2, in_dir2(fx, "two.npy"), 3, 0);
	assert_int_equal(labdaq_run_start(dev, cfg2, &run2), -EBUSY);
	assert_null(run2);
	list_dir(fx->dir, names, sizeof(names));
	assert_null(strstr(names, "two"));
	/* still busy a moment later, and the first run is not disturbed */
	wait_acquired(run, 3, END_MS);
	assert_int_equal(labdaq_run_start(dev, cfg2, &run2), -EBUSY);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_RUNNING);
	/* the same device through another handle (the lock is per device) */
	{
		labdaq_device *other = open_dev("sim:camera?width=16&height=16");
		struct labdaq_holder h = { .size = sizeof(h) };

		assert_int_equal(labdaq_run_start(other, cfg2, &run2), -EBUSY);
		assert_int_equal(labdaq_device_holder("sim:camera", &h), 1);
		assert_int_equal(h.pid, getpid());
		/* Asked twice with the run's own URI: the second time from the
		 * cached lock key, the same answer. */
		for (int i = 0; i < 2; i++) {
			assert_int_equal(labdaq_device_holder("sim:camera?width=32&height=32", &h),
					 1);
			assert_int_equal(h.pid, getpid());
			assert_string_equal(h.device, "sim:camera?width=32&height=32");
		}
		labdaq_device_close(other);
	}
	list_dir(fx->dir, names, sizeof(names));
	assert_null(strstr(names, "two"));

	labdaq_run_stop(run);
	wait_end(run, END_MS);
	{
		struct labdaq_holder h = { .size = sizeof(h) };

		/* Free now, whatever was cached. */
		assert_int_equal(labdaq_device_holder("sim:camera?width=32&height=32", &h), 0);
		assert_int_equal(labdaq_device_holder("sim:camera", &h), 0);
	}
	/* ended: the device takes a new run, before the old one is freed */
	run2 = start_ok(dev, cfg2);
	wait_end(run2, END_MS);
	assert_int_equal(labdaq_run_state(run2), LABDAQ_STATE_COMPLETE);
	assert_int_equal(check_camera_file(in_dir2(fx, "two.npy"), 32, 32, NULL, 0), 3);
	labdaq_run_free(run2);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/*
 * labdaq_run_stop() is idempotent and "any thread, any time": stopping a
 * run that has already ended must not touch the device, which may be
 * streaming a newer run by then.
 */
static void test_stop_ended_run_leaves_next_run_alone(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p, q;
	labdaq_run *old, *run;

	cfg_init(&cfg, in_dir(fx, "old.npy"), 3, 0);
	old = start_ok(dev, cfg);
	wait_end(old, END_MS);
	assert_int_equal(labdaq_run_state(old), LABDAQ_STATE_COMPLETE);

	cfg_init(&cfg, in_dir(fx, "new.npy"), 0, 200);
	run = start_ok(dev, cfg);
	wait_acquired(run, 3, END_MS);
	labdaq_run_stop(old); /* late: e.g. a Ctrl-C that arrives after the end */
	p = progress(run);
	sleep_ms(300);
	q = progress(run);
	labdaq_run_stop(run);
	wait_end(run, END_MS);
	labdaq_run_free(old);
	if (q.acquired < p.acquired + 20) {
		labdaq_run_free(run);
		labdaq_device_close(dev);
		fail_msg("stopping an ended run stalled the device's next run: %llu -> %llu items "
			 "in 300 ms at 200/s",
			 (unsigned long long)p.acquired, (unsigned long long)q.acquired);
	}
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_STOPPED);
	assert_int_equal(check_camera_file(in_dir(fx, "new.npy"), 32, 32, NULL, 0),
			 progress(run).written);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_unwritable_dir(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	labdaq_run *run = (labdaq_run *)&run;
	char names[512];
	int ret, st;
	pid_t pid;

	/* a directory that does not exist */
	cfg_init(&cfg, in_dir(fx, "nodir/run.npy"), 3, 0);
	assert_int_equal(labdaq_run_start(dev, cfg, &run), -ENOENT);
	assert_null(run);

	/* a directory without write permission (root: in a child as nobody) */
	assert_int_equal(chmod(fx->dir, 0755), 0);
	assert_int_equal(mkdir(in_dir(fx, "ro"), 0555), 0);
	assert_int_equal(chmod(in_dir(fx, "ro"), 0555), 0);
	cfg_init(&cfg, in_dir(fx, "ro/run.npy"), 3, 0);
	if (geteuid() == 0) {
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			labdaq_run *r = NULL;

			if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
				_exit(100);
			ret = labdaq_run_start(dev, cfg, &r);
			_exit(ret < 0 ? -ret : 101);
		}
		assert_int_equal(waitpid(pid, &st, 0), pid);
		assert_true(WIFEXITED(st));
		ret = -WEXITSTATUS(st);
	} else {
		ret = labdaq_run_start(dev, cfg, &run);
	}
	if (ret != -EACCES)
		fail_msg("unwritable directory: %d (%s), want -EACCES", ret, labdaq_strerror(ret));
	list_dir(in_dir(fx, "ro"), names, sizeof(names));
	assert_string_equal(names, "");
	list_dir(fx->dir, names, sizeof(names));
	assert_string_equal(names, "ro");

	/* the device is free after the failures */
	cfg_init(&cfg, in_dir(fx, "ok.npy"), 3, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

/* ------------------------------------------------------------------------
 * Failures during the run
 */

static void test_device_failure(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32&fail_after=5");
	labdaq_run_config *cfg = NULL;
	struct labdaq_progress p;
	const char *msg = NULL;
	labdaq_run *run;
	json_t *j, *err;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 100, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	p = progress(run);
	assert_int_equal(p.state, LABDAQ_STATE_FAILED);
	assert_int_equal(p.error, -ENODEV);
	assert_int_equal(labdaq_run_error(run, &msg), -ENODEV);
	assert_non_null(msg);
	assert_true(strlen(msg) > 0);
	assert_int_equal(p.acquired, 5);
	assert_int_equal(p.written, 5);
	assert_int_equal(p.dropped, 0);
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), 5);
	j = load_json(in_dir(fx, "run.json"));
	assert_string_equal(jstr(j, "status"), "failed");
	err = json_object_get(j, "error");
	assert_true(json_is_object(err));
	assert_int_equal(jint(err, "code"), ENODEV);
	assert_string_equal(jstr(err, "message"), msg);
	assert_int_equal(jint(j, "written"), 5);
	json_decref(j);
	labdaq_run_free(run);

	/* the device is usable again (the sim comes back at stream_start) */
	cfg_init(&cfg, in_dir(fx, "two.npy"), 3, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_COMPLETE);
	labdaq_run_free(run);
	labdaq_device_close(dev);

	/* a failure before the first item: an empty valid file */
	dev = open_dev("sim:adc?channels=2&fail_after=0");
	cfg_init(&cfg, in_dir(fx, "adc.npy"), 0, 0);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	assert_int_equal(labdaq_run_state(run), LABDAQ_STATE_FAILED);
	assert_int_equal(labdaq_run_error(run, NULL), -ENODEV);
	check_adc_file(in_dir(fx, "adc.npy"), (const unsigned int[]){ 0, 1 }, 2, 0);
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

struct disk_full {
	struct labdaq_progress p;
	uint64_t gap_sum;
	size_t ngaps;
};

/* Stream into a 2 MiB tmpfs (small_tmpfs.h: root or not) until it is
 * full.  0, or -1: skipped (fx->tmpfs.why says why). */
static int run_disk_full(struct fixture *fx, struct disk_full *out)
{
	labdaq_device *dev;
	labdaq_run_config *cfg = NULL;
	uint64_t gaps[64][2];
	const char *msg = NULL;
	char mnt[300], npy[512], json[512];
	labdaq_run *run;
	json_t *j, *err;

	snprintf(mnt, sizeof(mnt), "%s/mnt", fx->dir);
	assert_int_equal(mkdir(mnt, 0700), 0);
	if (small_tmpfs_mount(&fx->tmpfs, mnt, "size=2m,mode=0700"))
		return -1;
	snprintf(npy, sizeof(npy), "%s/run.npy", fx->tmpfs.path);
	snprintf(json, sizeof(json), "%s/run.json", fx->tmpfs.path);
	dev = open_dev("sim:camera?width=64&height=64"); /* 8 KiB frames */
	cfg_init(&cfg, npy, 2000, 0);
	labdaq_run_config_set_ring_bytes(cfg, 256 << 10);
	run = start_ok(dev, cfg);
	wait_end(run, END_MS);
	out->p = progress(run);
	assert_int_equal(out->p.state, LABDAQ_STATE_FAILED);
	assert_int_equal(out->p.error, -ENOSPC);
	assert_int_equal(labdaq_run_error(run, &msg), -ENOSPC);
	assert_non_null(msg);
	assert_true(out->p.written > 10 && out->p.written < 256);
	assert_int_equal(out->p.written + out->p.dropped, out->p.acquired);
	assert_int_equal(check_camera_file(npy, 64, 64, NULL, 0), out->p.written);
	j = load_json(json);
	assert_string_equal(jstr(j, "status"), "failed");
	err = json_object_get(j, "error");
	assert_true(json_is_object(err));
	assert_int_equal(jint(err, "code"), ENOSPC);
	assert_true(strlen(jstr(err, "message")) > 0);
	assert_int_equal(jint(j, "written"), out->p.written);
	assert_int_equal(jint(j, "dropped"), out->p.dropped);
	out->gap_sum = json_gaps(j, gaps, 64, &out->ngaps);
	json_decref(j);
	labdaq_run_free(run);
	labdaq_device_close(dev);
	return 0;
}

static void test_disk_full(void **state)
{
	struct disk_full r;

	if (run_disk_full(*state, &r)) {
		print_message("# SKIP: no 2 MiB tmpfs: %s\n", ((struct fixture *)*state)->tmpfs.why);
		skip();
	}
}

static void test_disk_full_records_gaps(void **state)
{
	struct disk_full r;

	if (run_disk_full(*state, &r)) {
		print_message("# SKIP: no 2 MiB tmpfs: %s\n", ((struct fixture *)*state)->tmpfs.why);
		skip();
	}
	if (r.gap_sum != r.p.dropped)
		fail_msg("failed (ENOSPC): dropped %llu but the gaps (%zu) add up to %llu",
			 (unsigned long long)r.p.dropped, r.ngaps, (unsigned long long)r.gap_sum);
}

/* ------------------------------------------------------------------------
 * Concurrent callers (the ThreadSanitizer part)
 */

struct poller {
	labdaq_run *run;
	pthread_t thread;
	uint64_t polls, latest_ok;
	int saw_final;
	char err[256]; /* the first problem seen; cmocka asserts stay in main */
};

static void poll_err(struct poller *pl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Keep the first problem only. */
static void poll_err(struct poller *pl, const char *fmt, ...)
{
	va_list ap;

	if (pl->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(pl->err, sizeof(pl->err), fmt, ap);
	va_end(ap);
}

static void *poller_main(void *arg)
{
	struct poller *pl = arg;
	struct labdaq_progress prev = { 0 }, p;
	uint8_t buf[2048];
	uint64_t index, items, end = now_ns() + (uint64_t)END_MS * 2 * 1000000u;

	for (;;) {
		char why[200];
		int ret;

		labdaq_run_progress(pl->run, &p);
		pl->polls++;
		if (p.acquired < prev.acquired || p.written < prev.written ||
		    p.dropped < prev.dropped || p.gaps < prev.gaps)
			poll_err(pl, "a counter went back");
		if (p.ring_fill_bytes > p.ring_capacity_bytes ||
		    p.ring_high_water_bytes > p.ring_capacity_bytes ||
		    p.ring_high_water_bytes < prev.ring_high_water_bytes)
			poll_err(pl, "ring fill %llu high %llu cap %llu",
				 (unsigned long long)p.ring_fill_bytes,
				 (unsigned long long)p.ring_high_water_bytes,
				 (unsigned long long)p.ring_capacity_bytes);
		if (p.item_bytes != 2048 || p.state < LABDAQ_STATE_RUNNING ||
		    p.state > LABDAQ_STATE_FAILED)
			poll_err(pl, "item_bytes %llu state %d", (unsigned long long)p.item_bytes,
				 p.state);
		ret = labdaq_run_latest(pl->run, buf, sizeof(buf), &index, &items);
		if (ret >= 0 && (ret != 2048 || items != 1))
			poll_err(pl, "latest: %d bytes, %llu items", ret, (unsigned long long)items);
		else if (ret >= 0 && cam_check(buf, index, 1024, why, sizeof(why)))
			poll_err(pl, "latest: %s", why);
		else if (ret >= 0)
			pl->latest_ok++;
		else if (ret != -EAGAIN)
			poll_err(pl, "latest: %d", ret);
		if (p.state >= LABDAQ_STATE_COMPLETE) {
			/* a final state: the counters are final too */
			if (p.written + p.dropped != p.acquired)
				poll_err(pl, "final: written %llu + dropped %llu != acquired %llu",
					 (unsigned long long)p.written,
					 (unsigned long long)p.dropped,
					 (unsigned long long)p.acquired);
			pl->saw_final = 1;
			break;
		}
		if (now_ns() > end) {
			poll_err(pl, "no final state after %d s", END_MS * 2 / 1000);
			break;
		}
		prev = p;
		usleep(200);
	}
	return NULL;
}

struct waiter {
	labdaq_run *run;
	int waits, ended;
};

static void *waiter_main(void *arg)
{
	struct waiter *w = arg;

	for (int i = 0; i < END_MS * 2 / 20 && !w->ended; i++) {
		w->waits++;
		w->ended = labdaq_run_wait(w->run, 20) == 0;
	}
	return NULL;
}

static void concurrent(struct fixture *fx, int with_abort)
{
	labdaq_device *dev = open_dev("sim:camera?width=32&height=32");
	labdaq_run_config *cfg = NULL;
	struct poller pl[3];
	struct stopper st[2] = { { .after_ms = 300 }, { .after_ms = 300, .abort = with_abort } };
	struct waiter w = { 0 };
	struct labdaq_progress p;
	pthread_t stt[2], wt;
	labdaq_run *run;

	cfg_init(&cfg, in_dir(fx, "run.npy"), 0, 1000);
	labdaq_run_config_set_ring_bytes(cfg, 64 << 10);
	labdaq_run_config_set_checkpoint_ms(cfg, 50); /* checkpoints race with the pollers too */
	run = start_ok(dev, cfg);
	memset(pl, 0, sizeof(pl));
	for (int i = 0; i < 3; i++) {
		pl[i].run = run;
		assert_int_equal(pthread_create(&pl[i].thread, NULL, poller_main, &pl[i]), 0);
	}
	w.run = run;
	assert_int_equal(pthread_create(&wt, NULL, waiter_main, &w), 0);
	for (int i = 0; i < 2; i++) {
		st[i].run = run;
		assert_int_equal(pthread_create(&stt[i], NULL, stopper_main, &st[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(stt[i], NULL);
	pthread_join(wt, NULL);
	for (int i = 0; i < 3; i++)
		pthread_join(pl[i].thread, NULL);
	wait_end(run, END_MS);

	for (int i = 0; i < 3; i++) {
		if (pl[i].err[0])
			fail_msg("poller %d: %s", i, pl[i].err);
		assert_true(pl[i].saw_final);
		assert_true(pl[i].polls > 10);
		assert_true(pl[i].latest_ok > 0);
	}
	assert_true(w.ended);
	assert_int_equal(st[0].ret, 0);
	assert_int_equal(st[1].ret, 0);
	p = progress(run);
	assert_true(p.acquired > 0);
	assert_int_equal(p.written + p.dropped, p.acquired);
	if (with_abort) {
		assert_true(p.state == LABDAQ_STATE_STOPPED || p.state == LABDAQ_STATE_ABORTED);
	} else {
		assert_int_equal(p.state, LABDAQ_STATE_STOPPED);
		assert_int_equal(p.dropped, 0);
	}
	assert_int_equal(check_camera_file(in_dir(fx, "run.npy"), 32, 32, NULL, 0), p.written);
	check_final_json(in_dir(fx, "run.json"), run, labdaq_state_name(p.state));
	labdaq_run_free(run);
	labdaq_device_close(dev);
}

static void test_concurrent_callers(void **state)
{
	concurrent(*state, 0);
}

static void test_concurrent_stop_and_abort(void **state)
{
	concurrent(*state, 1);
}

/* Two devices, two runs at once, each in its own threads. */
static void test_two_runs_at_once(void **state)
{
	struct fixture *fx = *state;
	labdaq_device *cam = open_dev("sim:camera?width=32&height=32");
	labdaq_device *adc = open_dev("sim:adc?channels=2");
	static const unsigned int chans[] = { 0, 1 };
	labdaq_run_config *cfg = NULL;
	labdaq_run *r1, *r2;

	cfg_init(&cfg, in_dir(fx, "cam.npy"), 100, 1000);
	r1 = start_ok(cam, cfg);
	cfg_init(&cfg, in_dir(fx, "adc.npy"), 5000, 20000);
	r2 = start_ok(adc, cfg);
	wait_end(r1, END_MS);
	wait_end(r2, END_MS);
	assert_int_equal(labdaq_run_state(r1), LABDAQ_STATE_COMPLETE);
	assert_int_equal(labdaq_run_state(r2), LABDAQ_STATE_COMPLETE);
	assert_int_equal(check_camera_file(in_dir(fx, "cam.npy"), 32, 32, NULL, 0), 100);
	check_adc_file(in_dir(fx, "adc.npy"), chans, 2, 5000);
	labdaq_run_free(r1);
	labdaq_run_free(r2);
	labdaq_device_close(cam);
	labdaq_device_close(adc);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_start_returns_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counted_camera, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counted_adc_channels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counted_ohm, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duration, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_target, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duration_while_stalled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spare_removed_at_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_from_thread, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_records_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_drop_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_running, setup, teardown),
		cmocka_unit_test_setup_teardown(test_latest, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_block_policy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tiny_ring_throughput, setup, teardown),
		cmocka_unit_test_setup_teardown(test_default_ring_sized_to_run, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overrun_gap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exists_and_overwrite, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_start_error_clears_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_ended_run_leaves_next_run_alone, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_unwritable_dir, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_disk_full_records_gaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_callers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_stop_and_abort, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_runs_at_once, setup, teardown),
	};

	char lockdir[] = "/tmp/labdaq-run-locks-XXXXXX";
	int ret;

	/* Our own device locks: runs of other processes on sim: devices (the
	 * CLI tests, a demo) must not make ours busy, nor ours theirs. */
	if (!mkdtemp(lockdir) || chmod(lockdir, 01777))
		return 1;
	setenv("LABDAQ_LOCK_DIR", lockdir, 1);
	labdaq_set_log(log_cb, LABDAQ_LOG_WARNING, NULL);
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	nftw(lockdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return ret;
}
