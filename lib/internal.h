/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * internal.h - what the library's files share: logging, URIs, the device
 * object and the backend contract.  Not installed.
 */
#ifndef LDQ_INTERNAL_H
#define LDQ_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "labdaq.h"

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

/* ---- devices (device.c) ---- */
struct ldq_channel {
	char *name;
	char *unit;
	double scale;
	int dtype;
	int output;
	double min, max;          /* the physical range, NAN if unknown; a
				   * backend's open may set it */
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
				   * backend's open, else the URI without its
				   * parameters */
};

/* The index of the channel @name (an output if @output), or -1. */
int ldq_device_find_channel(const struct labdaq_device *dev, const char *name, int output);
/* For backends' open(): append a channel; 0 or -ENOMEM. */
int ldq_device_add_channel(struct labdaq_device *dev, const char *name, const char *unit,
			   double scale, int dtype, int output);

/* ---- the backend contract ----
 * One file per backend under backends/, ending with its ops table; the
 * table is listed in device.c.  A NULL op means "not supported"
 * (-EOPNOTSUPP).  All ops but stream_cancel are called from one thread at a
 * time.  Errors are -errno, translated from the backend's own library.
 */
struct ldq_stream_params {
	double rate_hz;              /* items per second; 0: as fast as possible */
	const unsigned int *chans;   /* samples devices: enabled input channels,
				      * indexes into dev->chans, in file order */
	unsigned int nchans;
	size_t item_bytes;           /* bytes of one item as stored */
	size_t block_items;          /* the most items one stream_read asks for */
};

struct ldq_backend {
	const char *name;         /* the URI prefix before ':' */
	const char *keys_help;    /* one line for labdaq(1) and errors */

	/* Fill @dev (kind, channels, geometry, description, priv) from @uri.
	 * Must look up every key it accepts through ldq_uri_get_*. */
	int (*open)(struct labdaq_device *dev, struct ldq_uri *uri);
	void (*close)(struct labdaq_device *dev);
	/* Report each device: fn(uri, description, user); return the count. */
	int (*list)(labdaq_list_fn fn, void *user);

	/* Streaming, from the run's producer thread. */
	int (*stream_start)(struct labdaq_device *dev, const struct ldq_stream_params *p);
	/*
	 * Read up to @items items into @dst (item_bytes each), waiting for
	 * the device (a paced device waits for its clock).  Returns the
	 * number of items read (>= 1), or -errno: -ECANCELED after
	 * stream_cancel(), -ENODEV when the device is gone, -EIO...
	 * *@lost receives the items the device lost just before these (a
	 * hardware overrun), 0 normally; they count as dropped and as a gap.
	 */
	long (*stream_read)(struct labdaq_device *dev, void *dst, size_t items, uint64_t *lost);
	/* Any thread: make a blocked or later stream_read return -ECANCELED. */
	void (*stream_cancel)(struct labdaq_device *dev);
	void (*stream_stop)(struct labdaq_device *dev);

	/* Step scans (sweeps): set one output, read inputs as scaled values. */
	int (*write_output)(struct labdaq_device *dev, unsigned int chan, double value);
	int (*read_inputs)(struct labdaq_device *dev, const unsigned int *chans, unsigned int n,
			   double *values);
};

extern const struct ldq_backend ldq_backend_sim;
extern const struct ldq_backend ldq_backend_iio;

#endif
