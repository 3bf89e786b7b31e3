/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * npyfile.h - NumPy .npy headers padded to 4096 bytes, and the JSON sidecar.
 *
 * Data file: a version 1.0 .npy header of exactly LDQ_NPY_HEADER_BYTES
 * bytes ("\x93NUMPY", 1, 0, a little-endian uint16 header length, the dict
 * padded with spaces, a final '\n'), then the payload, page-aligned.  The
 * shape is (items, *item_shape): (samples, channels) or
 * (frames, height, width).  The header can be rewritten in place at any
 * time since its length never changes.
 *
 * Sidecar: NAME.json beside NAME.npy, replaced atomically (temporary file,
 * fsync, rename, fsync of the directory).  The format is in
 * docs/file-format.md.  A spare temporary file is kept allocated so that
 * the sidecar can still be replaced when the disk has filled up.
 */
#ifndef LDQ_NPYFILE_H
#define LDQ_NPYFILE_H

#include <stddef.h>
#include <stdint.h>

#include "labdaq.h"

#define LDQ_NPY_HEADER_BYTES 4096

struct ldq_npy_layout {
	char descr[16];        /* "<u2", "<i2", "<f8", ... */
	unsigned int ndim;     /* of one item: 1 (channels) or 2 (height, width) */
	uint64_t dims[2];
};

/* Format the header for @items items into @buf (LDQ_NPY_HEADER_BYTES). */
int ldq_npy_format(char *buf, const struct ldq_npy_layout *l, uint64_t items);
/* pwrite the header at offset 0 of @fd.  0 or -errno. */
int ldq_npy_write_header(int fd, const struct ldq_npy_layout *l, uint64_t items);
/* Parse a header written by ldq_npy_format (or any v1/v2 .npy header with
 * a C-order shape of 2 or 3 dims).  Returns 0 or -EBADMSG; *@items and
 * *@header_len (the payload offset) are set. */
int ldq_npy_parse(const void *buf, size_t len, struct ldq_npy_layout *l, uint64_t *items,
		  size_t *header_len);
/* Bytes of one item of @l, or 0 if @l is not valid. */
size_t ldq_npy_item_bytes(const struct ldq_npy_layout *l);
/* Like ldq_npy_format() for a header of @header_len bytes (the length of
 * a header being rewritten in place; version 2.0 if it needs it).
 * -EOVERFLOW if the dict does not fit, -EINVAL for a bad layout. */
int ldq_npy_format_len(char *buf, size_t header_len, const struct ldq_npy_layout *l,
		       uint64_t items);
/* pwrite a header of @header_len bytes at offset 0 of @fd.  0 or -errno. */
int ldq_npy_write_header_len(int fd, size_t header_len, const struct ldq_npy_layout *l,
			     uint64_t items);
/* Read and parse the header of the .npy open as @fd (any length up to
 * 1 MiB).  0, -EBADMSG (not a valid header, or a short file), or -errno. */
int ldq_npy_read_header(int fd, struct ldq_npy_layout *l, uint64_t *items,
			size_t *header_len);

/* The sidecar's content. */
struct ldq_gap {
	uint64_t index; /* first missing item */
	uint64_t count; /* items missing */
};

struct ldq_meta {
	const char *status;         /* "running", "complete", ... */
	const char *device;         /* the URI */
	const char *backend;
	const char *kind;           /* "samples" or "frames" */
	const char *command;        /* may be NULL */
	const char *run_id;         /* may be NULL */
	const char *started_utc;    /* ISO 8601, "2026-11-27T10:40:03.123Z" */
	const char *ended_utc;      /* NULL while running */
	double rate_hz;             /* requested; 0: as fast as possible */
	struct ldq_npy_layout layout;
	const struct labdaq_channel *channels; /* the channels in the file */
	unsigned int nchannels;
	uint64_t acquired, written, dropped;
	const struct ldq_gap *gaps;
	size_t ngaps;
	uint64_t ring_capacity_bytes;
	const char *ring_policy;    /* "block" or "drop" */
	uint64_t ring_high_water_bytes;
	int error_code;             /* -errno, 0 for none */
	const char *error;          /* NULL for none */
};

struct ldq_meta_file;

/* Sidecar path of @npy_path: "x.npy" -> "x.json" (else @npy_path + ".json").
 * Returns a malloc'd string or NULL. */
char *ldq_meta_path(const char *npy_path);

/* Prepare writing the sidecar of @npy_path: opens its directory, replaces
 * a stale spare and creates the spare ".NAME.json.tmp" with its space
 * reserved.  NAME.json appears at the first ldq_meta_write().  0, or
 * -errno (-ENOENT, -EACCES, -ENOSPC, ...), and then nothing is left on
 * disk.  An ldq_meta_file is used by one thread at a time. */
int ldq_meta_open(const char *npy_path, struct ldq_meta_file **out);
/* Replace the sidecar atomically with @m.  0 or -errno. */
int ldq_meta_write(struct ldq_meta_file *f, const struct ldq_meta *m);
/* Replace the sidecar atomically with @len bytes of JSON @text, or with
 * @root serialized as the library does.  0 or -errno. */
int ldq_meta_write_text(struct ldq_meta_file *f, const char *text, size_t len);
struct json_t;
int ldq_meta_write_json(struct ldq_meta_file *f, const struct json_t *root);
/* Free @f; removes the spare temporary file and releases the space still
 * reserved beyond the end of the last sidecar written.  NULL is accepted. */
void ldq_meta_close(struct ldq_meta_file *f);

#endif
