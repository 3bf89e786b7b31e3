/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sidecar.c - the JSON sidecar NAME.json beside NAME.npy (sidecar.h),
 * replaced atomically even when the disk is full.  The format is described
 * in docs/file-format.md.
 *
 * The sidecar's spare
 * -------------------
 * A run that fills the disk must still be able to record "failed" in its
 * sidecar, and replacing a file atomically needs a second file.  So a
 * spare temporary file, ".NAME.json.tmp", is kept beside NAME.json, and
 * both hold disk blocks from the start of the run to its end:
 *
 *  - A spare is created empty and fallocate(FALLOC_FL_KEEP_SIZE) reserves
 *    LDQ_META_RESERVE bytes (or twice the last sidecar, if larger) beyond
 *    its end of file.  The first sidecar is renamed into place and a
 *    second spare reserved at once; a run that cannot reserve it does not
 *    start (ldq_meta_reserved).
 *  - An update writes the JSON at offset 0 of the spare and overwrites the
 *    rest of the old contents with spaces (JSON allows trailing white
 *    space): the file never shrinks, its end only moves into blocks that
 *    are already allocated (ext4 converts its unwritten extent in place,
 *    tmpfs reuses its pages).  No ftruncate on this path: it would free
 *    the blocks reserved beyond the end of file.
 *  - The spare is fsync'd and exchanged with NAME.json
 *    (renameat2(RENAME_EXCHANGE)); the old sidecar, blocks and all, is the
 *    next spare.  Nothing is freed, so no other writer (the data, another
 *    process) can take the sidecar's blocks between two updates.  Without
 *    the exchange (a file system that lacks it) the spare is renamed over
 *    NAME.json and the next spare reserved from the blocks just freed.
 *  - File systems without fallocate get a spare filled with spaces
 *    instead: the JSON overwrites the beginning, the rest stays spaces.
 *  - When the last sidecar has been written (ldq_meta_close), the blocks
 *    still reserved beyond its JSON are released with an ftruncate and
 *    the spare is removed.
 *
 * A sidecar larger than the reservation is still written, as a normal
 * write that may fail with -ENOSPC.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "internal.h"
#include "sidecar.h"
#include "util.h"

/* The spare's reservation: at least this, or twice the last sidecar. */
#define LDQ_META_RESERVE (64u * 1024u)

/* ------------------------------------------------------------------------
 * The sidecar: JSON
 */

static json_t *jstr(const char *s)
{
	return s ? json_string(s) : json_null();
}

/* JSON integers are long long; a count never reaches that. */
static json_t *ju64(uint64_t v)
{
	return json_integer(v > (uint64_t)LLONG_MAX ? LLONG_MAX : (json_int_t)v);
}

static json_t *jreal(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

/* Set @key on @o, counting failures (jansson frees @v in every case). */
static void jset(json_t *o, const char *key, json_t *v, int *bad)
{
	if (!v || json_object_set_new(o, key, v))
		*bad = 1;
}

static void jappend(json_t *a, json_t *v, int *bad)
{
	if (!v || json_array_append_new(a, v))
		*bad = 1;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

static json_t *shape_json(const struct ldq_meta *m, int *bad)
{
	json_t *a = json_array();

	for (unsigned int i = 0; a && i < m->layout.ndim && i < 2; i++)
		jappend(a, ju64(m->layout.dims[i]), bad);
	return a;
}

/* A backend's details of a channel (a JSON object) into @o. */
static void merge_meta(json_t *o, const char *text, int *bad)
{
	json_t *extra = json_loads(text, 0, NULL);

	if (!json_is_object(extra) || json_object_update_missing(o, extra))
		*bad = 1;
	json_decref(extra);
}

/* The shortest "%g" of @v that reads back exactly. */
static void exact_g(char *buf, size_t len, double v)
{
	for (int prec = 6; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return;
	}
}

/* How a stored value becomes a physical one, in words. */
static json_t *conversion_json(const struct ldq_meta *m, const struct labdaq_channel *ch,
			       double offset)
{
	const char *unit = ch->unit && *ch->unit ? ch->unit : "its unit";
	char s[256], sc[40], off[40];

	exact_g(sc, sizeof(sc), ch->scale);
	exact_g(off, sizeof(off), fabs(offset));
	if (m->sweep)
		snprintf(s, sizeof(s), "the CSV holds %s in %s, already converted", ch->name, unit);
	else if (offset != 0)
		snprintf(s, sizeof(s), "%s in %s = (raw %c %s) * %s", ch->name, unit,
			 offset < 0 ? '-' : '+', off, sc);
	else
		snprintf(s, sizeof(s), "%s in %s = raw * %s", ch->name, unit, sc);
	return json_string(s);
}

static json_t *channels_json(const struct ldq_meta *m, int *bad)
{
	json_t *a = json_array(), *o;

	for (unsigned int i = 0; a && i < m->nchannels; i++) {
		const struct labdaq_channel *ch = &m->channels[i];
		double offset = m->offsets ? m->offsets[i] : 0;

		o = json_object();
		if (o) {
			jset(o, "name", jstr(ch->name), bad);
			jset(o, "unit", jstr(ch->unit), bad);
			jset(o, "scale", jreal(ch->scale), bad);
			jset(o, "offset", jreal(offset), bad);
			jset(o, "conversion", conversion_json(m, ch, offset), bad);
			if (ch->output)
				jset(o, "output", json_true(), bad);
			if (m->channel_meta && m->channel_meta[i])
				merge_meta(o, m->channel_meta[i], bad);
		}
		jappend(a, o, bad);
	}
	return a;
}

/* Pairs @kv (@n of them) as an object of strings. */
static json_t *pairs_json(const char *const *kv, unsigned int n, int *bad)
{
	json_t *o = json_object();

	for (unsigned int i = 0; o && i < n; i++)
		jset(o, kv[2 * i], jstr(kv[2 * i + 1]), bad);
	return o;
}

/* The index of the timestamp channel (iio's), or -1. */
static int timestamp_column(const struct ldq_meta *m)
{
	for (unsigned int i = 0; i < m->nchannels; i++)
		if (m->channels[i].name && !strcmp(m->channels[i].name, "timestamp") &&
		    m->channels[i].dtype == LABDAQ_DTYPE_INT64)
			return (int)i;
	return -1;
}

/* How to get each item's time, in seconds from the first: a recipe for
 * numpy, which works whatever the requested rate. */
static json_t *time_axis_json(const struct ldq_meta *m)
{
	char s[256];
	int ts = timestamp_column(m);

	if (ts >= 0)
		snprintf(s, sizeof(s), "t_s = (a[:, %d] - a[0, %d]) * 1e-9 (the device's timestamp "
			 "column, in ns)", ts, ts);
	else if (m->rate_hz > 0)
		snprintf(s, sizeof(s), "t_s = numpy.arange(n) / rate_hz (paced by the clock; gaps "
			 "keep their indexes)");
	else
		snprintf(s, sizeof(s), "t_s = numpy.arange(n) / measured_rate_hz (as fast as "
			 "possible: the mean rate, approximate)");
	return json_string(s);
}

/* The gaps' count and file (the rows themselves are in the file: gaps.h). */
static json_t *gaps_json(const struct ldq_meta *m, int *bad)
{
	json_t *o = json_object();

	if (o) {
		jset(o, "count", ju64(m->ngaps), bad);
		jset(o, "file", jstr(m->gaps_file), bad);
	}
	return o;
}

static json_t *ring_json(const struct ldq_meta *m, int *bad)
{
	json_t *o = json_object();

	if (o) {
		jset(o, "capacity_bytes", ju64(m->ring_capacity_bytes), bad);
		jset(o, "policy", jstr(m->ring_policy), bad);
		jset(o, "high_water_bytes", ju64(m->ring_high_water_bytes), bad);
	}
	return o;
}

/* {"code": errno, "message": ...}, or null for no error. */
static json_t *error_json(const struct ldq_meta *m, int *bad)
{
	int code = m->error_code < 0 ? -m->error_code : m->error_code;
	const char *msg = m->error;
	char ebuf[128];
	json_t *o;

	if (!m->error_code && !m->error)
		return json_null();
	if (!msg)
		msg = code ? strerror_r(code, ebuf, sizeof(ebuf)) : "unknown error";
	o = json_object();
	if (o) {
		jset(o, "code", json_integer(code), bad);
		jset(o, "message", json_string(msg), bad);
	}
	return o;
}

/* A sweep's CSV columns and its parameters. */
static void sweep_json(json_t *root, const struct ldq_meta_sweep *sw, int *bad)
{
	json_t *cols = json_array(), *o = json_object(), *c;

	for (unsigned int i = 0; cols && i < sw->ncolumns; i++) {
		c = json_object();
		if (c) {
			jset(c, "name", jstr(sw->columns[i]), bad);
			jset(c, "unit", jstr(sw->units[i]), bad);
		}
		jappend(cols, c, bad);
	}
	jset(root, "columns", cols, bad);
	if (o) {
		jset(o, "set", jstr(sw->set), bad);
		jset(o, "unit", jstr(sw->unit), bad);
		jset(o, "from", jreal(sw->from), bad);
		jset(o, "to", jreal(sw->to), bad);
		jset(o, "points", json_integer(sw->points), bad);
		jset(o, "repeat", json_integer(sw->repeat), bad);
		jset(o, "delay_s", jreal(sw->delay_s), bad);
	}
	jset(root, "sweep", o, bad);
}

static json_t *meta_to_json(const struct ldq_meta *m, const char *npy_name)
{
	json_t *root = json_object();
	int bad = 0;

	if (!root)
		return NULL;
	jset(root, "format", json_string(LDQ_META_FORMAT), &bad);
	jset(root, "status", jstr(m->status), &bad);
	jset(root, "file", jstr(npy_name), &bad);
	jset(root, "device", jstr(m->device), &bad);
	jset(root, "backend", jstr(m->backend), &bad);
	jset(root, "kind", jstr(m->kind), &bad);
	jset(root, "run_id", jstr(m->run_id), &bad);
	if (m->sweep) {
		sweep_json(root, m->sweep, &bad);
	} else {
		jset(root, "dtype", json_string(m->layout.descr), &bad);
		jset(root, "shape", shape_json(m, &bad), &bad);
	}
	jset(root, "channels", channels_json(m, &bad), &bad);
	if (!m->sweep) {
		jset(root, "rate_hz", jreal(m->rate_hz), &bad);
		jset(root, "measured_rate_hz", jreal(m->measured_rate_hz), &bad);
		jset(root, "time_axis", time_axis_json(m), &bad);
	}
	jset(root, "elapsed_s", jreal(m->elapsed_s), &bad);
	jset(root, "attributes", pairs_json(m->attrs, m->nattrs, &bad), &bad);
	jset(root, "user", pairs_json(m->user_meta, m->nuser_meta, &bad), &bad);
	jset(root, "started_utc", jstr(m->started_utc), &bad);
	jset(root, "ended_utc", jstr(m->ended_utc), &bad);
	if (m->sweep)
		jset(root, "points", ju64(m->written), &bad);
	jset(root, "acquired", ju64(m->acquired), &bad);
	jset(root, "written", ju64(m->written), &bad);
	jset(root, "dropped", ju64(m->dropped), &bad);
	jset(root, "gaps", gaps_json(m, &bad), &bad);
	if (!m->sweep)
		jset(root, "ring", ring_json(m, &bad), &bad);
	jset(root, "error", error_json(m, &bad), &bad);
	jset(root, "command", jstr(m->command), &bad);
	if (bad) {
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Does every real of @j print back to itself with @prec digits? */
static int reals_exact(const json_t *j, int prec)
{
	const char *key;
	json_t *v;
	size_t i;

	switch (json_typeof(j)) {
	case JSON_REAL: {
		char s[64];

		snprintf(s, sizeof(s), "%.*g", prec, json_real_value(j));
		return strtod(s, NULL) == json_real_value(j);
	}
	case JSON_OBJECT:
		json_object_foreach((json_t *)j, key, v) {
			if (!reals_exact(v, prec))
				return 0;
		}
		return 1;
	case JSON_ARRAY:
		json_array_foreach(j, i, v) {
			if (!reals_exact(v, prec))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* Serialize @root, indented, with a final newline; reals use the fewest
 * digits (15 to 17) that keep every one of them exact, so a scale of 0.1
 * reads "0.1". */
static char *dump_json(const json_t *root, size_t *len)
{
	int prec = 15;
	char *s, *t;
	size_t n;

	while (prec < 17 && !reals_exact(root, prec))
		prec++;
	s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(prec));
	if (!s)
		return NULL;
	n = strlen(s);
	t = realloc(s, n + 2);
	if (!t) {
		free(s);
		return NULL;
	}
	t[n++] = '\n';
	t[n] = '\0';
	*len = n;
	return t;
}

json_t *ldq_json_load_fd(int fd, size_t flags, json_error_t *err)
{
	size_t len = 0, cap = 1 << 16;
	char *buf = malloc(cap), *t;
	json_t *j = NULL;
	ssize_t n;

	/* jansson's json_loadfd() reads a byte at a time: 15 MB took 24 s. */
	while (buf) {
		if (len == cap) {
			t = cap < SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
			if (!t)
				break;
			buf = t;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err->text, sizeof(err->text), "%s", strerror(errno));
			free(buf);
			return NULL;
		}
		if (n == 0) {
			j = json_loadb(buf, len, flags, err);
			free(buf);
			return j;
		}
		len += (size_t)n;
	}
	free(buf);
	snprintf(err->text, sizeof(err->text), "out of memory");
	return NULL;
}

/* ------------------------------------------------------------------------
 * The sidecar: the file and its spare
 */

struct ldq_meta_file {
	int dirfd;             /* the directory of the .npy and .json */
	char *name;            /* "NAME.json" */
	char *tmpname;         /* ".NAME.json.tmp", the spare */
	char *npy_name;        /* "NAME.npy", recorded as "file" */
	int spare_fd;          /* -1: no spare */
	uint64_t spare_size;   /* the spare's size (0, or filled with spaces) */
	int no_fallocate;      /* fallocate unsupported: fill the spare instead */
	uint64_t reserve;      /* bytes the next spare reserves */
	int spare_err;         /* the last spare's creation and reservation */
	int no_exchange;       /* RENAME_EXCHANGE unsupported: rename */
	int noreplace;         /* the first sidecar never replaces a file */
	int lazy_first;        /* the first rename waits for the next fsync of the
				* directory (ldq_meta_set_lazy_first) */
	int cur_fd;            /* the file now named NAME.json, or -1 */
	uint64_t cur_size;     /* its JSON's length */
	uint64_t cur_file_size; /* its size: the JSON and trailing spaces */
};

char *ldq_meta_path(const char *npy_path)
{
	size_t n;
	char *s;

	if (!npy_path)
		return NULL;
	n = strlen(npy_path);
	s = malloc(n + 6);
	if (!s)
		return NULL;
	memcpy(s, npy_path, n + 1);
	if (n >= 4 && (!strcmp(npy_path + n - 4, ".npy") || !strcmp(npy_path + n - 4, ".csv")))
		n -= 4;
	memcpy(s + n, ".json", 6);
	return s;
}

/* Fill the spare with spaces up to @want bytes (no fallocate). */
static int spare_fill(struct ldq_meta_file *f, uint64_t want)
{
	char buf[4096];
	int ret = 0;

	memset(buf, ' ', sizeof(buf));
	while (f->spare_size < want) {
		size_t n = want - f->spare_size < sizeof(buf) ? (size_t)(want - f->spare_size) :
								  sizeof(buf);
		ssize_t w = pwrite(f->spare_fd, buf, n, (off_t)f->spare_size);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			ret = w < 0 ? -errno : -EIO;
			break;
		}
		f->spare_size += (uint64_t)w;
	}
	return ret;
}

/* Reserve blocks for the spare: f->reserve, or at least the minimum. */
static int spare_reserve(struct ldq_meta_file *f)
{
	uint64_t want = f->reserve;
	int ret;

	for (;;) {
		if (f->no_fallocate) {
			ret = spare_fill(f, want);
		} else if (fallocate(f->spare_fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)want) == 0) {
			ret = 0;
		} else if (errno == EOPNOTSUPP || errno == ENOSYS) {
			f->no_fallocate = 1;
			continue;
		} else if (errno == EINTR) {
			continue;
		} else {
			ret = -errno;
		}
		/* Short of space for a grown reservation: the minimum. */
		if (ret == -ENOSPC && want > LDQ_META_RESERVE) {
			want = LDQ_META_RESERVE;
			continue;
		}
		return ret;
	}
}

/* Create a fresh spare.  Returns -errno if it cannot be created (then
 * there is none), or the reservation's result (the spare exists). */
static int spare_create(struct ldq_meta_file *f)
{
	int fd, tries;

	for (tries = 0;; tries++) {
		fd = openat(f->dirfd, f->tmpname, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd >= 0)
			break;
		if (errno == EINTR)
			continue;
		/* A stale spare (a killed run): replace it once. */
		if (errno != EEXIST || tries > 0)
			return -errno;
		if (unlinkat(f->dirfd, f->tmpname, 0) < 0 && errno != ENOENT) {
			int err = -errno;

			/* Name it: the caller only knows the data file. */
			ldq_err("cannot replace '%s', the spare of the sidecar of %s: %s; remove it",
				f->tmpname, f->npy_name, labdaq_strerror(err));
			return err;
		}
	}
	f->spare_fd = fd;
	f->spare_size = 0;
	return spare_reserve(f);
}

static void spare_drop(struct ldq_meta_file *f)
{
	if (f->spare_fd < 0)
		return;
	close(f->spare_fd);
	f->spare_fd = -1;
	f->spare_size = 0;
	unlinkat(f->dirfd, f->tmpname, 0);
}

int ldq_meta_open(const char *npy_path, struct ldq_meta_file **out)
{
	struct ldq_meta_file *f;
	char *meta, *slash;
	const char *dir, *base;
	int ret;

	*out = NULL;
	if (!npy_path || !*npy_path || npy_path[strlen(npy_path) - 1] == '/')
		return -EINVAL;
	meta = ldq_meta_path(npy_path);
	f = calloc(1, sizeof(*f));
	if (!meta || !f) {
		free(meta);
		free(f);
		return -ENOMEM;
	}
	f->dirfd = -1;
	f->spare_fd = -1;
	f->cur_fd = -1;
	f->reserve = LDQ_META_RESERVE;

	slash = strrchr(meta, '/');
	if (slash) {
		base = slash + 1;
		*slash = '\0';
		dir = slash == meta ? "/" : meta;
	} else {
		base = meta;
		dir = ".";
	}
	f->name = strdup(base);
	f->npy_name = strdup(base_name(npy_path));
	if (f->name && asprintf(&f->tmpname, ".%s.tmp", base) < 0)
		f->tmpname = NULL;
	if (!f->name || !f->npy_name || !f->tmpname) {
		ret = -ENOMEM;
		goto fail;
	}
	f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (f->dirfd < 0) {
		ret = -errno;
		goto fail;
	}
	/* A spare left by a killed run is replaced by spare_create(). */
	ret = f->spare_err = spare_create(f);
	if (ret)
		goto fail;
	free(meta);
	*out = f;
	return 0;

fail:
	free(meta);
	ldq_meta_close(f);
	return ret;
}

/* Write @text at the start of the spare and overwrite the rest of its old
 * contents with spaces (JSON allows trailing white space): the file never
 * shrinks, so its blocks stay, and no block is needed that is not already
 * allocated or reserved (a spare filled with spaces, without fallocate,
 * keeps its size the same way). */
static int spare_fill_text(struct ldq_meta_file *f, const char *text, size_t len)
{
	static const char spaces[512] = { [0 ... 511] = ' ' };
	uint64_t off = len;
	int ret;

	ret = ldq_pwrite_all(f->spare_fd, text, len, 0, NULL);
	if (ret) {
		/* Its size is now unknown, at most this. */
		if (f->spare_size < len)
			f->spare_size = len;
		return ret;
	}
	while (off < f->spare_size) {
		size_t n = f->spare_size - off < sizeof(spaces) ? (size_t)(f->spare_size - off) :
								  sizeof(spaces);

		ret = ldq_pwrite_all(f->spare_fd, spaces, n, (off_t)off, NULL);
		if (ret)
			return ret;
		off += n;
	}
	if (f->spare_size < len)
		f->spare_size = len;
	return ldq_fsync(f->spare_fd);
}

/* The spare (fsync'd) becomes NAME.json.  With an exchange the old
 * NAME.json becomes the spare and keeps its blocks; with a plain rename
 * (the first sidecar, or a file system without RENAME_EXCHANGE) the old
 * one is freed and a new spare is reserved from that space. */
static int spare_commit(struct ldq_meta_file *f, size_t len)
{
	int old = f->cur_fd, ret;
	uint64_t old_size = f->cur_file_size;

	if (old >= 0 && !f->no_exchange &&
	    !renameat2(f->dirfd, f->tmpname, f->dirfd, f->name, RENAME_EXCHANGE)) {
		f->cur_fd = f->spare_fd;
		f->cur_file_size = f->spare_size;
		f->spare_fd = old;
		f->spare_size = old_size;
		f->cur_size = len;
		return ldq_fsync(f->dirfd);
	}
	if (old >= 0 && !f->no_exchange && errno != EINVAL && errno != ENOSYS &&
	    errno != EOPNOTSUPP)
		return -errno;
	f->no_exchange = old >= 0;
	ret = old < 0 && f->noreplace ?
		      renameat2(f->dirfd, f->tmpname, f->dirfd, f->name, RENAME_NOREPLACE) : -1;
	if (ret < 0 && (!f->noreplace || old >= 0 || errno == EINVAL || errno == ENOSYS))
		ret = renameat(f->dirfd, f->tmpname, f->dirfd, f->name);
	if (ret < 0) {
		ret = -errno;
		if (ret == -EEXIST)
			ldq_err("%s appeared meanwhile (another run?); refusing to replace it",
				f->name);
		spare_drop(f);
		return ret;
	}
	f->cur_fd = f->spare_fd;
	f->cur_size = len;
	f->cur_file_size = f->spare_size;
	f->spare_fd = -1;
	f->spare_size = 0;
	/* Closing the old one frees its blocks. */
	if (old >= 0)
		close(old);
	ret = old < 0 && f->lazy_first ? 0 : ldq_fsync(f->dirfd);
	f->lazy_first = 0;
	/* The next spare, from the space just freed.  Its result is
	 * ldq_meta_reserved()'s. */
	f->spare_err = spare_create(f);
	return ret;
}

int ldq_meta_write_text(struct ldq_meta_file *f, const char *text, size_t len)
{
	int ret;

	if (f->spare_fd < 0) {
		/* No spare since a failure: try a normal write. */
		ret = f->spare_err = spare_create(f);
		if (f->spare_fd < 0)
			return ret;
	}
	ret = spare_fill_text(f, text, len);
	if (ret)
		return ret;
	ret = spare_commit(f, len);
	/* A sidecar that grew: a larger reservation for the next one, taken
	 * while there is room (a failure is not this write's). */
	if (len < UINT64_MAX / 4 && 2 * len > f->reserve) {
		f->reserve = (2 * len + 4095) & ~(uint64_t)4095;
		if (f->spare_fd >= 0)
			spare_reserve(f);
	}
	return ret;
}

void ldq_meta_set_noreplace(struct ldq_meta_file *f)
{
	f->noreplace = 1;
}

void ldq_meta_set_lazy_first(struct ldq_meta_file *f)
{
	f->lazy_first = 1;
}

int ldq_meta_reserved(const struct ldq_meta_file *f)
{
	return f->spare_fd < 0 && !f->spare_err ? -ENOENT : f->spare_err;
}

int ldq_meta_write_json(struct ldq_meta_file *f, const struct json_t *root)
{
	size_t len;
	char *text;
	int ret;

	text = dump_json(root, &len);
	if (!text)
		return -ENOMEM;
	ret = ldq_meta_write_text(f, text, len);
	free(text);
	return ret;
}

int ldq_meta_write(struct ldq_meta_file *f, const struct ldq_meta *m)
{
	json_t *root;
	int ret;

	if (!f || !m || (m->nchannels > 0 && !m->channels))
		return -EINVAL;
	root = meta_to_json(m, f->npy_name);
	if (!root)
		return -ENOMEM;
	ret = ldq_meta_write_json(f, root);
	json_decref(root);
	return ret;
}

void ldq_meta_close(struct ldq_meta_file *f)
{
	if (!f)
		return;
	spare_drop(f);
	if (f->cur_fd >= 0) {
		/* Release what is left of the reservation beyond the end,
		 * and the spaces after the JSON. */
		if (!f->no_fallocate || f->cur_file_size != f->cur_size)
			while (ftruncate(f->cur_fd, (off_t)f->cur_size) < 0 && errno == EINTR)
				;
		close(f->cur_fd);
	}
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->name);
	free(f->tmpname);
	free(f->npy_name);
	free(f);
}
