/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * internal.h - what the library's files share: logging (log.c), time and
 * fsync (util.c), URIs (uri.c), device locks (lock.c) and the device object
 * (device.c); it pulls in the backend contract (backends/backend.h) and the
 * configurations (config.h).  Not installed: docs/architecture.md has the
 * whole file map.
 */
#ifndef LDQ_INTERNAL_H
#define LDQ_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "labdaq.h"
#include "backends/backend.h"
#include "config.h"

#define LDQ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- logging (log.c) ---- */
void ldq_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The calling thread's last error message (NULL if none since cleared). */
const char *ldq_last_error(void);
void ldq_clear_last_error(void);
#define ldq_err(...) ldq_log(LABDAQ_LOG_ERROR, __VA_ARGS__)
#define ldq_warn(...) ldq_log(LABDAQ_LOG_WARNING, __VA_ARGS__)
#define ldq_info(...) ldq_log(LABDAQ_LOG_INFO, __VA_ARGS__)
#define ldq_dbg(...) ldq_log(LABDAQ_LOG_DEBUG, __VA_ARGS__)

/* ---- time (util.c) ---- */
uint64_t ldq_now_ns(void); /* CLOCK_MONOTONIC */
/* fsync(), again after EINTR; 0 or -errno. */
int ldq_fsync(int fd);
/* open(@path, @flags) of a regular file only: a fifo, a device or a socket
 * is refused (-EINVAL, logged) before it is opened, a directory is -EISDIR;
 * never blocks in open(). */
int ldq_open_regular(const char *path, int flags);
/* "2026-11-27T10:40:03.123Z" into @buf (at least 32 bytes). */
void ldq_utc_now(char *buf, size_t len);

/* ---- URIs (uri.c) ----
 * "BACKEND:PATH?key=value&key=value".  Keys are looked up by the backend;
 * a key never looked up is an error ("unknown parameter").
 */
#define LDQ_URI_MAX_PARAMS 16
struct ldq_uri {
	char *buf; /* owned copy, split in place */
	const char *backend;
	const char *path;
	unsigned int nparams;
	struct {
		const char *key;
		const char *value;
		int used;
	} params[LDQ_URI_MAX_PARAMS];
};
int ldq_uri_parse(const char *uri, struct ldq_uri *out); /* 0 or -EINVAL */
void ldq_uri_free(struct ldq_uri *u);
/* Return 0 and set *val (or leave the default when absent), -EINVAL if
 * malformed or out of [min, max]; logs what was wrong. */
int ldq_uri_get_u64(struct ldq_uri *u, const char *key, uint64_t min, uint64_t max,
		    uint64_t *val);
int ldq_uri_get_double(struct ldq_uri *u, const char *key, double min, double max,
		       double *val);
const char *ldq_uri_get_str(struct ldq_uri *u, const char *key); /* NULL if absent */
/* -EINVAL (and a log line naming it and @known) if a key was never used. */
int ldq_uri_check_unused(const struct ldq_uri *u, const char *what, const char *known);

/* ---- device locks (lock.c) ----
 * Take the exclusive lock of @uri's device and record the holder; 0 and
 * *@fd set, -EBUSY if another run holds it, or -errno. */
int ldq_lock_acquire(const char *key, const char *uri, const char *what, const char *output,
		     const char *run_id, int *fd);
void ldq_lock_release(int fd);
/* Who holds the lock of @key (a device's lock_key): 1 and @out, 0 free, or
 * -errno.  Thread-safe. */
int ldq_lock_holder(const char *key, struct labdaq_holder *out);
/* Claim the data file open as @fd (at @path) for writing it: an exclusive
 * flock held until @fd is closed.  0, or -EBUSY (logged, naming the run)
 * if a live run holds it.  A run claims its output file at its creation;
 * recover and an overwrite claim (or check) before touching a file. */
int ldq_file_claim(int fd, const char *path);
/* 0 if no live run writes @path (or it does not exist), -EBUSY (logged). */
int ldq_file_check_unused(const char *path);

/* ---- devices (device.c) ---- */
struct ldq_channel {
	char *name;
	char *unit;
	double scale;
	int dtype;
	int output;
	double min, max;          /* the physical range, NAN if unknown; a
				   * backend's open may set it */
	double offset;            /* physical = (raw + offset) * scale; 0 unless
				   * the backend's open sets it */
	int optional;             /* not in the default selection (NULL list):
				   * iio's timestamp, which widens the file */
	char *meta;               /* NULL, or a JSON object (malloc'd by the
				   * backend's open, freed by the core) whose
				   * members the sidecar adds to the channel's */
};

struct ldq_backend;

struct labdaq_device {
	const struct ldq_backend *backend;
	char *uri;
	char description[256];
	int kind;                 /* enum labdaq_kind */
	struct ldq_channel *chans;
	unsigned int nchans;
	uint32_t width, height;   /* frames devices */
	int frame_dtype;          /* frames devices */
	void *priv;               /* the backend's */
	atomic_int busy;          /* a run is active */
	char lock_key[256];       /* names the device for the lock: set by the
				   * backend's open when two URIs can name one
				   * device (iio: the context and the device's
				   * name), else the URI without its parameters */
};

/* Appended to a permission error on a device: what gives a user access. */
#define LDQ_UDEV_HINT \
	"; install the udev rules (sudo make install-udev) and add your user to the " \
	"labdaq group, or run as root"

/* The index of the channel @name (an output if @output), or -1. */
int ldq_device_find_channel(const struct labdaq_device *dev, const char *name, int output);
/* Resolve the comma-separated channel @list (NULL: every input, or every
 * output if @output) into *@idx (malloc'd, list order) and *@n.  0, or
 * -EINVAL for an empty list or name, an unknown channel or a duplicate,
 * logged with the channel and the device's channels; -ENOMEM. */
int ldq_device_channels(const struct labdaq_device *dev, const char *list, int output,
			unsigned int **idx, unsigned int *n);
/* Attributes @kv (@n name, value pairs) for a run: the check that @dev
 * has each (-EINVAL, logged, if not), and setting them (the device lock
 * held): *@readback receives name, value pairs as the device reads them
 * back (malloc'd, freed by the caller with ldq_kv_free(*readback, @n) even
 * on failure).  0 or -errno, logged. */
int ldq_device_check_attrs(struct labdaq_device *dev, char *const *kv, unsigned int n);
int ldq_device_apply_attrs(struct labdaq_device *dev, char *const *kv, unsigned int n,
			   char ***readback);
/* For backends' open(): append a channel; 0 or -ENOMEM. */
int ldq_device_add_channel(struct labdaq_device *dev, const char *name, const char *unit,
			   double scale, int dtype, int output);

#endif
