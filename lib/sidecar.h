/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sidecar.h - the JSON sidecar (sidecar.c): NAME.json beside NAME.npy,
 * replaced atomically (spare file, fsync, exchanged with NAME.json or
 * renamed over it, fsync of the directory).  The format is in
 * docs/file-format.md.  The spare and the sidecar keep their disk blocks
 * for the whole run, so that the sidecar can still be replaced when the
 * disk has filled up.  Not installed.
 */
#ifndef LDQ_SIDECAR_H
#define LDQ_SIDECAR_H

#include <stddef.h>
#include <stdint.h>

#include "labdaq.h"
#include "npy.h"

/* The sidecar's "format": labdaq-2 keeps the gaps in NAME.gaps.npy
 * (labdaq-1 listed them inline; readers take both). */
#define LDQ_META_FORMAT "labdaq-2"

/* The sidecar's content. */
struct ldq_gap {
	uint64_t index; /* first missing item */
	uint64_t count; /* items missing */
};

/* A sweep's own part of the sidecar (kind "sweep"). */
struct ldq_meta_sweep {
	const char *set;            /* the output channel stepped */
	const char *unit;           /* its unit */
	double from, to, delay_s;
	uint32_t points, repeat;    /* per pass; passes */
	const char *const *columns; /* the CSV's header row, ncolumns names */
	const char *const *units;   /* and their units ("" for none) */
	unsigned int ncolumns;
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
	const char *const *channel_meta; /* NULL, or per channel: NULL or a
					  * JSON object merged into it */
	uint64_t acquired, written, dropped;
	uint64_t ngaps;             /* gaps recorded */
	const char *gaps_file;      /* the gaps' file, its base name; NULL: none */
	uint64_t ring_capacity_bytes;
	const char *ring_policy;    /* "block" or "drop" */
	uint64_t ring_high_water_bytes;
	int error_code;             /* -errno, 0 for none */
	const char *error;          /* NULL for none */
	const struct ldq_meta_sweep *sweep; /* a sweep's: no dtype, shape, ring */
	const double *offsets;      /* per channel, raw units; NULL: 0 */
	double measured_rate_hz;    /* acquired / elapsed; 0 before the first */
	double elapsed_s;           /* since the start, to the end or now */
	const char *const *user_meta; /* the caller's key, value pairs */
	unsigned int nuser_meta;
	const char *const *attrs;   /* device attributes set for the run: name, value */
	unsigned int nattrs;
};

struct ldq_meta_file;

/* Sidecar path of a data file: "x.npy" or "x.csv" -> "x.json" (else
 * @npy_path + ".json").
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
/* Whether the spare holds its reservation, so that the next sidecar can
 * be written on a full disk: 0, or the -errno of its creation or
 * reservation (-ENOSPC).  A run checks it after its first sidecar and
 * refuses to start without it. */
int ldq_meta_reserved(const struct ldq_meta_file *f);
/* The first sidecar written through @f fails with -EEXIST (logged) rather
 * than replace a NAME.json that exists (a run's: a racing run made it). */
void ldq_meta_set_noreplace(struct ldq_meta_file *f);
/* The first sidecar written through @f is renamed into place without an
 * fsync of its directory of its own: its name becomes durable with the
 * next sidecar's (every later write fsyncs the directory) or with
 * anything the file system commits after it.  Its content is still
 * fsync'd before the rename, so NAME.json, once it exists, is whole.  For
 * a stream's first sidecar, which claims no data: lib/stream.c says why
 * that keeps a crash's promises. */
void ldq_meta_set_lazy_first(struct ldq_meta_file *f);
/* Read the JSON text open as @fd to its end and parse it (json_loadb()
 * with @flags); NULL with @err set on failure.  Not byte by byte. */
struct json_error_t;
struct json_t *ldq_json_load_fd(int fd, size_t flags, struct json_error_t *err);
/* Free @f; removes the spare temporary file and releases the space still
 * reserved beyond the end of the last sidecar written.  NULL is accepted. */
void ldq_meta_close(struct ldq_meta_file *f);

#endif
