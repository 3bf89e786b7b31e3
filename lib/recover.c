/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * recover.c - labdaq_file_recover(): complete a .npy file and its sidecar
 * after the process that wrote them died (crash, kill -9, power loss).
 *
 * What is on disk after such an end: the payload as far as the writer got
 * (possibly ending in part of an item), a header that counts the items of
 * the last checkpoint, a sidecar that says "running" and perhaps a stale
 * spare ".NAME.json.tmp".  Recovery trusts the payload: every whole item
 * on disk is kept and described by the header, a partial item is cut off,
 * and the sidecar is marked "recovered" with the counts of what is kept.
 * A sweep's CSV is recovered the same way: whole lines are kept, a line cut
 * short is removed.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"
#include "internal.h"
#include "npy.h"
#include "sidecar.h"

/* enum labdaq_state of a status name, -1 if none ("recovered" is none). */
static int state_from_name(const char *s)
{
	for (int i = LABDAQ_STATE_QUEUED; s && i <= LABDAQ_STATE_FAILED; i++)
		if (!strcmp(s, labdaq_state_name(i)))
			return i;
	return -1;
}

/* Do the sidecar @root (NULL: none) and the header's @l agree on the
 * dtype and the item shape?  A sidecar without them agrees. */
static int layout_agrees(const json_t *root, const struct ldq_npy_layout *l)
{
	const json_t *dtype = json_object_get(root, "dtype"), *shape = json_object_get(root, "shape");
	size_t i;

	if (json_is_string(dtype) && strcmp(json_string_value(dtype), l->descr))
		return 0;
	if (!json_is_array(shape))
		return 1;
	if (json_array_size(shape) != l->ndim)
		return 0;
	for (i = 0; i < l->ndim; i++) {
		const json_t *d = json_array_get(shape, i);

		if (!json_is_integer(d) || (uint64_t)json_integer_value(d) != l->dims[i])
			return 0;
	}
	return 1;
}

/* Bring the .npy open as @fd to its whole items; fills @info.  Nothing is
 * changed (-ENOTRECOVERABLE) when the header and the sidecar @root
 * disagree on the items, or when the header counts more items than are on
 * disk and bytes would be cut: one of them is corrupt, and cutting by it
 * could cut good data.  So at most one partial item is ever cut. */
static int recover_npy(int fd, const json_t *root, struct labdaq_recover_info *info)
{
	struct ldq_npy_layout l;
	uint64_t hdr_items, payload, items, trailing;
	size_t header_len, item_bytes;
	struct stat st;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADMSG;
	ret = ldq_npy_read_header(fd, &l, &hdr_items, &header_len);
	if (ret)
		return ret;
	item_bytes = ldq_npy_item_bytes(&l);
	if (!item_bytes)
		return -EBADMSG;
	if ((uint64_t)st.st_size < header_len)
		return -EBADMSG;
	if (root && !layout_agrees(root, &l))
		return -ENOTRECOVERABLE;

	payload = (uint64_t)st.st_size - header_len;
	items = payload / item_bytes;
	trailing = payload % item_bytes;
	/* The byte after the header of an empty file is not data (npy.h). */
	if (!items && trailing == 1)
		trailing = 0;
	/* A header ahead of the data (never written so: the data is synced
	 * first) and bytes to cut: something is corrupt; cut nothing. */
	if (hdr_items > items && trailing)
		return -ENOTRECOVERABLE;

	if ((uint64_t)st.st_size != ldq_npy_file_size(header_len, item_bytes, items)) {
		while (ftruncate(fd, (off_t)ldq_npy_file_size(header_len, item_bytes, items)) < 0) {
			if (errno != EINTR)
				return -errno;
		}
	}
	/* The header keeps its length, so the payload does not move. */
	if (items != hdr_items) {
		ret = ldq_npy_write_header_len(fd, header_len, &l, items);
		if (ret)
			return ret;
	}
	ret = ldq_fsync(fd);
	if (ret)
		return ret;
	info->items = items;
	info->trailing = trailing;
	return 0;
}

/* Bring a sweep's CSV open as @fd to its whole lines: the header row and
 * one line per point; a last line without its newline is cut. */
static int recover_csv(int fd, struct labdaq_recover_info *info)
{
	static const char head[] = "index,repeat,time_s,";
	char buf[65536];
	uint64_t off = 0, last_nl = 0, lines = 0;
	int have_nl = 0;
	ssize_t n;

	for (;;) {
		n = pread(fd, buf, sizeof(buf), (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		if (off == 0 && ((size_t)n < sizeof(head) - 1 || memcmp(buf, head, sizeof(head) - 1)))
			return -EBADMSG;
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				lines++;
				last_nl = off + (uint64_t)i + 1;
				have_nl = 1;
			}
		}
		off += (uint64_t)n;
	}
	if (!have_nl)
		return -EBADMSG;
	if (off > last_nl) {
		while (ftruncate(fd, (off_t)last_nl) < 0) {
			if (errno != EINTR)
				return -errno;
		}
	}
	info->items = lines - 1;
	info->trailing = off - last_nl;
	return ldq_fsync(fd);
}

static int set_int(json_t *o, const char *key, uint64_t v)
{
	return json_object_set_new(o, key, json_integer(v > INT64_MAX ? INT64_MAX : (json_int_t)v));
}

/* Mark the sidecar's JSON @root recovered, with @info's counts. */
static int mark_recovered(json_t *root, struct labdaq_recover_info *info)
{
	const char *status = json_string_value(json_object_get(root, "status"));
	char now[40];
	uint64_t acquired;
	json_t *v;
	int bad = 0;

	info->previous_status = state_from_name(status);
	/* Recovering twice keeps the first recovery's origin. */
	if (!status || strcmp(status, "recovered"))
		bad |= json_object_set_new(root, "recovered_from", status ? json_string(status) :
										json_null());
	ldq_utc_now(now, sizeof(now));
	bad |= json_object_set_new(root, "status", json_string("recovered"));
	bad |= set_int(root, "written", info->items);
	if (json_object_get(root, "points"))
		bad |= set_int(root, "points", info->items);
	v = json_object_get(root, "acquired");
	acquired = json_is_integer(v) && json_integer_value(v) > 0 ?
			   (uint64_t)json_integer_value(v) :
			   0;
	if (acquired < info->items)
		acquired = info->items;
	bad |= set_int(root, "acquired", acquired);
	v = json_object_get(root, "ended_utc");
	if (!json_is_string(v))
		bad |= json_object_set_new(root, "ended_utc", json_string(now));
	bad |= json_object_set_new(root, "recovered_utc", json_string(now));
	return bad ? -ENOMEM : 0;
}

/*
 * The gaps' file open as @fd: whole rows only, each after the one before
 * (a row cut by the kill, or not written, ends it); the header counts
 * them.  *@rows and *@items (their sum).  Reads it once, 64 KiB at a time.
 */
static int recover_gaps_file(int fd, uint64_t *rows, uint64_t *items)
{
	static const struct ldq_npy_layout gl = { .descr = "<u8", .ndim = 1, .dims = { 2 } };
	struct ldq_npy_layout l;
	uint64_t hdr_rows, end = 0, n = 0, have, buf[2 * 4096];
	size_t hlen;
	struct stat st;
	int ret = ldq_npy_read_header(fd, &l, &hdr_rows, &hlen);

	if (!ret && (fstat(fd, &st) || strcmp(l.descr, gl.descr) || l.ndim != 1 || l.dims[0] != 2))
		ret = -EBADMSG;
	if (ret)
		return ret;
	have = (uint64_t)st.st_size > hlen ? ((uint64_t)st.st_size - hlen) / 16 : 0;
	*items = 0;
	while (n < have) {
		size_t k = have - n < 4096 ? (size_t)(have - n) : 4096, i;
		ssize_t got = pread(fd, buf, k * 16, (off_t)(hlen + n * 16));

		if (got != (ssize_t)(k * 16))
			return got < 0 ? -errno : -EIO;
		for (i = 0; i < k; i++) {
			uint64_t idx = le64toh(buf[2 * i]), cnt = le64toh(buf[2 * i + 1]);

			if (!cnt || idx < end || idx + cnt < idx)
				break;
			end = idx + cnt;
			*items += cnt;
		}
		n += i;
		if (i < k)
			break;
	}
	*rows = n;
	/* With no row, one byte more than the header: numpy's mmap needs it. */
	if ((uint64_t)st.st_size != hlen + (n ? n * 16 : 1) &&
	    ftruncate(fd, (off_t)(hlen + (n ? n * 16 : 1))))
		return -errno;
	if (n != hdr_rows && (ret = ldq_npy_write_header_len(fd, hlen, &l, n)))
		return ret;
	return ldq_fsync(fd);
}

/* The gaps' file the sidecar @root names, beside @npy_path, brought to its
 * whole rows; the sidecar then counts them (and their items as dropped,
 * when they are more than the last checkpoint's). */
static int recover_gaps(const char *npy_path, json_t *root)
{
	json_t *g = json_object_get(root, "gaps");
	const char *name = json_string_value(json_object_get(g, "file"));
	const char *slash = strrchr(npy_path, '/');
	uint64_t rows, items, dropped, written;
	char *path;
	int fd, ret;

	if (!name) /* labdaq-1: the gaps are in the sidecar */
		return 0;
	if (!*name || strchr(name, '/') || !strcmp(name, ".."))
		return -EBADMSG;
	if (asprintf(&path, "%.*s%s", slash ? (int)(slash - npy_path + 1) : 0, npy_path, name) < 0)
		return -ENOMEM;
	fd = ldq_open_regular(path, O_RDWR);
	free(path);
	if (fd == -ENOENT) /* the sidecar's count stays: inspect says none is readable */
		return 0;
	if (fd < 0)
		return fd;
	ret = recover_gaps_file(fd, &rows, &items);
	close(fd);
	if (ret)
		return ret;
	dropped = (uint64_t)json_integer_value(json_object_get(root, "dropped"));
	written = (uint64_t)json_integer_value(json_object_get(root, "written"));
	if (items > dropped)
		dropped = items;
	if (set_int(g, "count", rows) || set_int(root, "dropped", dropped))
		return -ENOMEM;
	if ((uint64_t)json_integer_value(json_object_get(root, "acquired")) < written + dropped &&
	    set_int(root, "acquired", written + dropped))
		return -ENOMEM;
	return 0;
}

/* The sidecar of @npy_path into *@root: 0 (NULL if there is none),
 * -EBADMSG if it is not a JSON object, or -errno. */
static int load_meta(const char *npy_path, json_t **root)
{
	json_error_t jerr;
	char *path;
	int fd;

	*root = NULL;
	path = ldq_meta_path(npy_path);
	if (!path)
		return -ENOMEM;
	fd = ldq_open_regular(path, O_RDONLY);
	free(path);
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	*root = ldq_json_load_fd(fd, JSON_REJECT_DUPLICATES, &jerr);
	close(fd);
	if (!*root)
		return json_error_code(&jerr) == json_error_out_of_memory ? -ENOMEM : -EBADMSG;
	if (!json_is_object(*root)) {
		json_decref(*root);
		*root = NULL;
		return -EBADMSG;
	}
	return 0;
}

/* Mark the sidecar @root of @npy_path recovered (or, without one, remove
 * a spare left by the dead run). */
static int recover_meta(const char *npy_path, json_t *root, struct labdaq_recover_info *info)
{
	struct ldq_meta_file *mf = NULL;
	int ret;

	if (!root) {
		if (!ldq_meta_open(npy_path, &mf))
			ldq_meta_close(mf);
		return 0;
	}
	ret = mark_recovered(root, info);
	if (!ret)
		ret = recover_gaps(npy_path, root);
	/* Opening removes a stale spare, closing removes the new one. */
	if (!ret)
		ret = ldq_meta_open(npy_path, &mf);
	if (!ret) {
		ret = ldq_meta_write_json(mf, root);
		ldq_meta_close(mf);
	}
	return ret;
}

LABDAQ_API int labdaq_file_recover(const char *path, struct labdaq_recover_info *info)
{
	struct labdaq_recover_info tmp;
	json_t *root = NULL;
	int fd, ret, meta_ret = 0;

	if (!path || !*path)
		return -EINVAL;
	memset(&tmp, 0, sizeof(tmp));
	tmp.previous_status = -1;

	fd = ldq_open_regular(path, O_RDWR);
	if (fd < 0)
		return fd;
	/* Held until the end: no run writes it, none starts on it. */
	ret = ldq_file_claim(fd, path);
	if (!ret)
		meta_ret = load_meta(path, &root);
	if (!ret && ldq_has_suffix(path, ".csv"))
		ret = recover_csv(fd, &tmp);
	else if (!ret)
		ret = recover_npy(fd, root, &tmp);
	/* A sidecar that is not JSON is left as it is: -EBADMSG. */
	if (!ret)
		ret = meta_ret ? meta_ret : recover_meta(path, root, &tmp);
	close(fd);
	json_decref(root);
	if (info)
		*info = tmp;
	return ret;
}
