// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * file.c - reading what a run left on disk: a stream's .npy header and its
 * JSON sidecar, or a sweep's CSV and its '#' lines.  The public face of
 * npy.c and the sidecar format for inspect, stop, the queue, and any
 * program of the user's.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "npy.h"
#include "sidecar.h"

struct labdaq_file {
	int type;                 /* enum labdaq_file_type */
	struct ldq_npy_layout layout;
	uint64_t items;           /* in the header; a CSV's data rows */
	uint64_t item_bytes;
	uint64_t header_len;
	uint64_t size;            /* bytes on disk */
	json_t *meta;             /* NULL if meta_err */
	char *meta_text;
	int meta_err;
	char meta_msg[200];
	struct labdaq_channel *chans;
	double *offsets;
	unsigned int nchans;
	/* labdaq-2: the gaps' file mapped (its rows from gaps_map + 512
	 * u64), NULL if none; labdaq-1: gaps listed in meta */
	const uint64_t *gaps_map;
	size_t gaps_map_len;
	uint64_t gaps_rows;
};

LABDAQ_API int labdaq_file_sidecar_path(const char *path, char *buf, size_t len)
{
	char *p = path ? ldq_meta_path(path) : NULL;
	size_t n;

	if (!p)
		return path ? -ENOMEM : -EINVAL;
	n = strlen(p);
	if (n >= len) {
		free(p);
		return -ENAMETOOLONG;
	}
	memcpy(buf, p, n + 1);
	free(p);
	return (int)n;
}

static int read_npy(labdaq_file *f, const char *path)
{
	struct stat st;
	size_t hlen;
	int fd = ldq_open_regular(path, O_RDONLY), ret;

	if (fd < 0)
		return fd;
	ret = fstat(fd, &st) ? -errno : 0;
	if (!ret)
		ret = ldq_npy_read_header(fd, &f->layout, &f->items, &hlen);
	close(fd);
	if (ret)
		return ret;
	f->item_bytes = ldq_npy_item_bytes(&f->layout);
	if (!f->item_bytes)
		return -EBADMSG;
	f->header_len = hlen;
	f->size = (uint64_t)st.st_size;
	return 0;
}

/* The sidecar's channels as struct labdaq_channel, strings owned by f->meta. */
static int sidecar_channels(labdaq_file *f)
{
	json_t *chans = json_object_get(f->meta, "channels"), *c;
	int dtype = -1;
	size_t i;

	for (int d = 0; labdaq_dtype_numpy(d); d++)
		if (!strcmp(labdaq_dtype_numpy(d), f->layout.descr))
			dtype = d;
	if (!json_array_size(chans))
		return 0;
	f->chans = calloc(json_array_size(chans), sizeof(*f->chans));
	f->offsets = calloc(json_array_size(chans), sizeof(*f->offsets));
	if (!f->chans || !f->offsets)
		return -ENOMEM;
	json_array_foreach(chans, i, c) {
		struct labdaq_channel *ch = &f->chans[f->nchans++];
		const char *unit = json_string_value(json_object_get(c, "unit"));

		ch->name = json_string_value(json_object_get(c, "name"));
		ch->unit = unit ? unit : "";
		ch->scale = json_number_value(json_object_get(c, "scale"));
		ch->output = json_is_true(json_object_get(c, "output"));
		f->offsets[i] = json_number_value(json_object_get(c, "offset"));
		ch->dtype = dtype;
		ch->min = NAN;
		ch->max = NAN;
		if (!ch->name)
			ch->name = "";
	}
	return 0;
}

static int read_sidecar(labdaq_file *f, const char *path)
{
	json_error_t jerr;
	char *jpath = ldq_meta_path(path);

	if (!jpath)
		return -ENOMEM;
	{
		int fd = ldq_open_regular(jpath, O_RDONLY);

		if (fd == -EINVAL || fd == -EISDIR) {
			f->meta_err = fd;
			snprintf(f->meta_msg, sizeof(f->meta_msg), "%s is not a regular file", jpath);
			free(jpath);
			return 0;
		}
		f->meta = fd < 0 ? NULL : ldq_json_load_fd(fd, JSON_DECODE_ANY, &jerr);
		if (fd < 0)
			snprintf(jerr.text, sizeof(jerr.text), "%s", labdaq_strerror(fd));
		if (fd >= 0)
			close(fd);
	}
	if (!f->meta) {
		struct stat st;

		f->meta_err = stat(jpath, &st) ? -errno : -EBADMSG;
		snprintf(f->meta_msg, sizeof(f->meta_msg), "%s", jerr.text);
	} else if (!json_is_object(f->meta)) {
		f->meta_err = -EBADMSG;
		snprintf(f->meta_msg, sizeof(f->meta_msg), "%s is not a JSON object", jpath);
		json_decref(f->meta);
		f->meta = NULL;
	}
	free(jpath);
	return f->meta ? sidecar_channels(f) : 0;
}

/* The gaps' file named by the sidecar ("gaps": {"file": NAME}), beside
 * @path: its whole rows, as many as its header counts, mapped.  A file
 * that is missing or not a gaps file leaves no gap readable (inspect says
 * how many the sidecar counts). */
static void map_gaps(labdaq_file *f, const char *path)
{
	const char *name = json_string_value(json_object_get(json_object_get(f->meta, "gaps"),
							     "file"));
	const char *slash = strrchr(path, '/');
	struct ldq_npy_layout l;
	uint64_t rows;
	size_t hlen;
	struct stat st;
	char *gpath;
	void *p;
	int fd;

	if (!name || !*name || strchr(name, '/') || !strcmp(name, "..") ||
	    asprintf(&gpath, "%.*s%s", slash ? (int)(slash - path + 1) : 0, path, name) < 0)
		return;
	fd = ldq_open_regular(gpath, O_RDONLY);
	free(gpath);
	if (fd < 0)
		return;
	if (!fstat(fd, &st) && !ldq_npy_read_header(fd, &l, &rows, &hlen) &&
	    hlen == LDQ_NPY_HEADER_BYTES && !strcmp(l.descr, "<u8") && l.ndim == 1 &&
	    l.dims[0] == 2 && (uint64_t)st.st_size >= hlen) {
		if (rows > ((uint64_t)st.st_size - hlen) / 16)
			rows = ((uint64_t)st.st_size - hlen) / 16;
		p = rows ? mmap(NULL, hlen + rows * 16, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
		if (p != MAP_FAILED) {
			f->gaps_map = p;
			f->gaps_map_len = hlen + rows * 16;
			f->gaps_rows = rows;
		}
	}
	close(fd);
}

/* "# key: value" of a sweep's CSV into f->meta (the last one of a key
 * wins: the status is written at the start and at the end). */
static int csv_meta_line(json_t *meta, const char *line)
{
	size_t klen = strcspn(line + 2, ":");
	char key[64], *end;
	const char *value;
	unsigned long long n;
	json_t *v;

	if (strncmp(line, "# ", 2) || line[2 + klen] != ':' || klen >= sizeof(key))
		return 0;
	snprintf(key, sizeof(key), "%.*s", (int)klen, line + 2);
	value = line + 2 + klen + 1 + (line[3 + klen] == ' ');
	errno = 0;
	n = strtoull(value, &end, 10);
	if (*value >= '0' && *value <= '9' && !*end && !errno)
		v = json_integer((json_int_t)n);
	else if (!strcmp(key, "error"))
		v = json_pack("{s:s}", "message", value);
	else
		v = json_string(value);
	return v && !json_object_set_new(meta, key, v) ? 0 : -ENOMEM;
}

/* A sweep of labdaq 0.2 and earlier: '#' lines with the metadata. */
static int read_old_csv(labdaq_file *f, FILE *in)
{
	char line[4096];
	int ret = 0;

	f->meta = json_object();
	if (!f->meta)
		return -ENOMEM;
	while (!ret && fgets(line, sizeof(line), in)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '#')
			ret = csv_meta_line(f->meta, line);
		else if (line[0] >= '0' && line[0] <= '9')
			f->items++;
	}
	return ret;
}

/* A sweep's CSV: the header row "index,repeat,time_s,...", then one
 * whole line per point (a last line without its newline is a point in
 * progress, or cut by a crash: not counted); the metadata in the sidecar. */
static int read_csv(labdaq_file *f, const char *path)
{
	int fd = ldq_open_regular(path, O_RDONLY);
	FILE *in = fd < 0 ? NULL : fdopen(fd, "re");
	char line[4096];
	int ret = 0;

	if (fd < 0)
		return fd;
	if (!in) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (!fgets(line, sizeof(line), in)) {
		ret = -EBADMSG;
	} else if (!strncmp(line, "# labdaq sweep", 14)) {
		ret = read_old_csv(f, in);
	} else if (strncmp(line, "index,repeat,time_s,", 20)) {
		ret = -EBADMSG;
	} else {
		while (fgets(line, sizeof(line), in))
			if (line[0] && line[strlen(line) - 1] == '\n')
				f->items++;
		ret = read_sidecar(f, path);
	}
	fclose(in);
	return ret;
}

LABDAQ_API int labdaq_file_open(const char *path, labdaq_file **out)
{
	labdaq_file *f;
	int ret;

	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	if (ldq_has_suffix(path, ".csv")) {
		f->type = LABDAQ_FILE_CSV;
		ret = read_csv(f, path);
	} else {
		ret = read_npy(f, path);
		if (!ret)
			ret = read_sidecar(f, path);
		if (!ret && f->meta)
			map_gaps(f, path);
	}
	if (!ret && f->meta)
		f->meta_text = json_dumps(f->meta, JSON_COMPACT);
	if (!ret && f->meta && !f->meta_text)
		ret = -ENOMEM;
	if (ret) {
		labdaq_file_close(f);
		return ret;
	}
	*out = f;
	return 0;
}

LABDAQ_API void labdaq_file_close(labdaq_file *f)
{
	if (!f)
		return;
	json_decref(f->meta);
	if (f->gaps_map)
		munmap((void *)f->gaps_map, f->gaps_map_len);
	free(f->meta_text);
	free(f->chans);
	free(f->offsets);
	free(f);
}

LABDAQ_API int labdaq_file_type(const labdaq_file *f)
{
	return f->type;
}

LABDAQ_API const char *labdaq_file_dtype(const labdaq_file *f)
{
	return f->layout.descr;
}

LABDAQ_API uint64_t labdaq_file_items(const labdaq_file *f)
{
	return f->items;
}

LABDAQ_API unsigned int labdaq_file_item_ndim(const labdaq_file *f)
{
	return f->layout.ndim;
}

LABDAQ_API uint64_t labdaq_file_item_dim(const labdaq_file *f, unsigned int i)
{
	return i < f->layout.ndim ? f->layout.dims[i] : 0;
}

LABDAQ_API uint64_t labdaq_file_item_bytes(const labdaq_file *f)
{
	return f->item_bytes;
}

LABDAQ_API uint64_t labdaq_file_data_offset(const labdaq_file *f)
{
	return f->header_len;
}

LABDAQ_API uint64_t labdaq_file_items_on_disk(const labdaq_file *f)
{
	if (!f->item_bytes || f->size < f->header_len)
		return f->type == LABDAQ_FILE_CSV ? f->items : 0;
	return (f->size - f->header_len) / f->item_bytes;
}

LABDAQ_API uint64_t labdaq_file_trailing_bytes(const labdaq_file *f)
{
	if (!f->item_bytes || f->size < f->header_len)
		return 0;
	/* The byte after the header of a file with no item (npy.h). */
	if (f->size == ldq_npy_file_size(f->header_len, f->item_bytes, 0))
		return 0;
	return (f->size - f->header_len) % f->item_bytes;
}

LABDAQ_API int labdaq_file_meta_error(const labdaq_file *f, const char **msg)
{
	if (msg)
		*msg = f->meta_err ? f->meta_msg : NULL;
	return f->meta_err;
}

LABDAQ_API const char *labdaq_file_meta_json(const labdaq_file *f)
{
	return f->meta_text;
}

/* "error.message": the member of a member. */
static json_t *meta_get(const labdaq_file *f, const char *key)
{
	const char *dot = strchr(key, '.');
	char outer[64];

	if (!f->meta)
		return NULL;
	if (!dot)
		return json_object_get(f->meta, key);
	snprintf(outer, sizeof(outer), "%.*s", (int)(dot - key), key);
	return json_object_get(json_object_get(f->meta, outer), dot + 1);
}

LABDAQ_API const char *labdaq_file_meta_string(const labdaq_file *f, const char *key)
{
	return json_string_value(meta_get(f, key));
}

LABDAQ_API int labdaq_file_meta_number(const labdaq_file *f, const char *key, double *out)
{
	json_t *v = meta_get(f, key);

	if (!json_is_number(v))
		return -ENOENT;
	*out = json_number_value(v);
	return 0;
}

LABDAQ_API int labdaq_file_meta_u64(const labdaq_file *f, const char *key, uint64_t *out)
{
	json_t *v = meta_get(f, key);

	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -ENOENT;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

LABDAQ_API uint64_t labdaq_file_gap_count(const labdaq_file *f)
{
	/* labdaq-1 listed them in the sidecar. */
	return f->gaps_map ? f->gaps_rows : json_array_size(meta_get(f, "gaps"));
}

LABDAQ_API int labdaq_file_gap(const labdaq_file *f, uint64_t i, uint64_t *index,
			       uint64_t *count)
{
	json_t *g;

	if (f->gaps_map) {
		if (i >= f->gaps_rows)
			return -ERANGE;
		*index = le64toh(f->gaps_map[512 + 2 * i]);
		*count = le64toh(f->gaps_map[512 + 2 * i + 1]);
		return 0;
	}
	g = json_array_get(meta_get(f, "gaps"), (size_t)i);
	if (!g)
		return -ERANGE;
	*index = (uint64_t)json_integer_value(json_object_get(g, "index"));
	*count = (uint64_t)json_integer_value(json_object_get(g, "count"));
	return 0;
}

LABDAQ_API int64_t labdaq_file_gaps(const labdaq_file *f, uint64_t first, uint64_t n,
				    uint64_t *out)
{
	uint64_t total, i;

	if (!f || (n && !out))
		return -EINVAL;
	total = labdaq_file_gap_count(f);
	if (first > total)
		return -ERANGE;
	if (n > total - first)
		n = total - first;
	for (i = 0; i < n; i++)
		labdaq_file_gap(f, first + i, &out[2 * i], &out[2 * i + 1]);
	return (int64_t)n;
}

LABDAQ_API unsigned int labdaq_file_channel_count(const labdaq_file *f)
{
	return f->nchans;
}

LABDAQ_API int labdaq_file_channel(const labdaq_file *f, unsigned int index,
				   struct labdaq_channel *out)
{
	if (index >= f->nchans)
		return -ERANGE;
	*out = f->chans[index];
	return 0;
}

LABDAQ_API int labdaq_file_channel_offset(const labdaq_file *f, unsigned int index,
					  double *offset)
{
	if (!f || !offset)
		return -EINVAL;
	if (index >= f->nchans)
		return -ERANGE;
	*offset = f->offsets[index];
	return 0;
}
