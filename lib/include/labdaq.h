/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * labdaq.h - the public API of liblabdaq.
 *
 * liblabdaq acquires data from DAQ devices without blocking its caller.
 * A device is opened by URI ("sim:camera?width=640&height=480", ...).  A run
 * streams the device's items (samples or frames) through a bounded,
 * lock-free single-producer single-consumer ring into a NumPy .npy file with
 * a JSON sidecar, in two threads of its own; the caller polls progress,
 * takes the newest block for a live view, stops, aborts or waits.
 *
 * Conventions
 *  - Functions that can fail return an int: >= 0 on success, -errno on
 *    failure.  labdaq_strerror() turns such a value into a message.  The
 *    library never sets errno for the caller, never prints and never
 *    installs signal handlers; diagnostics go to the log callback.
 *  - Constructors take an out-parameter and say who frees the result.
 *  - Strings returned by the library are owned by the object they came from
 *    and live as long as it does, unless stated otherwise.
 *
 * Thread safety
 *  A labdaq_device may be used by one thread at a time; while a run is
 *  active on it, only the run touches the device.  A labdaq_run may be
 *  queried (progress, latest, state), stopped and aborted from any thread,
 *  concurrently; labdaq_run_free() must not race with any other call on the
 *  same run.  Functions without an object argument are thread-safe, except
 *  labdaq_set_log() (call it before anything else).  No function is
 *  async-signal-safe: from a signal handler, write to a pipe or use a
 *  signalfd and call labdaq_run_stop() from a normal thread.
 */
#ifndef LABDAQ_H
#define LABDAQ_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define LABDAQ_API __attribute__((visibility("default")))
#else
#define LABDAQ_API
#endif

#define LABDAQ_VERSION_MAJOR 0
#define LABDAQ_VERSION_MINOR 1
#define LABDAQ_VERSION_PATCH 0

/** The library's version as "MAJOR.MINOR.PATCH". Thread-safe. */
LABDAQ_API const char *labdaq_version(void);

/* ------------------------------------------------------------------------
 * Errors and logging
 */

/**
 * labdaq_strerror() - a message for a negative errno value.
 * @err: a value returned by the library (negative) or an errno (positive).
 *
 * Returns a static string; never NULL. Thread-safe.
 */
LABDAQ_API const char *labdaq_strerror(int err);

enum labdaq_log_level {
	LABDAQ_LOG_ERROR = 0,
	LABDAQ_LOG_WARNING = 1,
	LABDAQ_LOG_INFO = 2,
	LABDAQ_LOG_DEBUG = 3,
};

/**
 * typedef labdaq_log_fn - receives the library's diagnostics.
 * @level: one of enum labdaq_log_level.
 * @msg: the message, without a trailing newline; valid during the call.
 * @user: the pointer given to labdaq_set_log().
 *
 * Called from whichever thread produced the message, including a run's
 * threads: the callback must be thread-safe and must not call back into
 * the run that logged.
 */
typedef void (*labdaq_log_fn)(int level, const char *msg, void *user);

/**
 * labdaq_set_log() - route the library's diagnostics to @fn.
 * @fn: the callback, or NULL to discard everything (the default).
 * @max_level: messages above this level are not delivered.
 * @user: passed to @fn.
 *
 * Not thread-safe: call it before opening devices.
 */
LABDAQ_API void labdaq_set_log(labdaq_log_fn fn, int max_level, void *user);

/* ------------------------------------------------------------------------
 * Devices
 *
 * A device is opened from a URI "BACKEND:REST".  The "sim" backend is always
 * built in: sim:camera?width=W&height=H, sim:adc?channels=N, sim:ohm?r=OHMS.
 * See labdaq(1) for every backend's keys.
 */

typedef struct labdaq_device labdaq_device;

enum labdaq_kind {
	LABDAQ_KIND_SAMPLES = 0, /* items are rows of channel values */
	LABDAQ_KIND_FRAMES = 1,  /* items are 2-D frames */
};

enum labdaq_dtype {
	LABDAQ_DTYPE_INT16 = 0,
	LABDAQ_DTYPE_UINT16 = 1,
	LABDAQ_DTYPE_INT32 = 2,
	LABDAQ_DTYPE_UINT32 = 3,
	LABDAQ_DTYPE_FLOAT64 = 4,
	LABDAQ_DTYPE_INT64 = 5,
};

/** Size in bytes of one value of @dtype, or 0 if unknown. Thread-safe. */
LABDAQ_API size_t labdaq_dtype_size(int dtype);
/** NumPy descr of @dtype ("<u2", ...), or NULL if unknown. Thread-safe. */
LABDAQ_API const char *labdaq_dtype_numpy(int dtype);

struct labdaq_channel {
	const char *name;  /* as the kernel's IIO names it: "voltage0" */
	const char *unit;  /* SI unit of the scaled value: "V", "A", "" */
	double scale;      /* physical value = raw * scale */
	int dtype;         /* enum labdaq_dtype of the raw value */
	int output;        /* 1 for an output (a DAC), 0 for an input */
	double min, max;   /* the physical range, when known; NAN otherwise */
};

/**
 * labdaq_device_open() - open the device named by @uri.
 * @uri: "sim:camera?width=64&height=48", ...
 * @out: receives the device; free it with labdaq_device_close().
 *
 * Returns 0, -EINVAL for a malformed URI or an unknown key (the log says
 * which), -ENODEV for an unknown device, -EPROTONOSUPPORT for a backend
 * that is unknown or not built in, or another -errno from the backend.
 */
LABDAQ_API int labdaq_device_open(const char *uri, labdaq_device **out);

/** Close @dev. It must have no active run. NULL is accepted. */
LABDAQ_API void labdaq_device_close(labdaq_device *dev);

/** The URI @dev was opened with. */
LABDAQ_API const char *labdaq_device_uri(const labdaq_device *dev);
/** The backend's name: "sim", "iio", ... */
LABDAQ_API const char *labdaq_device_backend(const labdaq_device *dev);
/** A one-line human description of @dev. */
LABDAQ_API const char *labdaq_device_description(const labdaq_device *dev);
/** enum labdaq_kind of @dev. */
LABDAQ_API int labdaq_device_kind(const labdaq_device *dev);

/** The number of channels, inputs and outputs. */
LABDAQ_API unsigned int labdaq_device_channel_count(const labdaq_device *dev);

/**
 * labdaq_device_channel() - describe channel @index.
 * Returns 0 and fills @out (its strings belong to @dev), or -ERANGE.
 */
LABDAQ_API int labdaq_device_channel(const labdaq_device *dev, unsigned int index,
				     struct labdaq_channel *out);

/**
 * labdaq_device_frame_shape() - frame geometry of a frames device.
 * Returns 0 and sets @width and @height, or -EOPNOTSUPP for a samples
 * device.
 */
LABDAQ_API int labdaq_device_frame_shape(const labdaq_device *dev, uint32_t *width,
					 uint32_t *height);

/**
 * typedef labdaq_list_fn - called once per device found by labdaq_list().
 * @uri: the URI to open it with; @description: one line. Both valid during
 * the call only. Return non-zero to stop the enumeration.
 */
typedef int (*labdaq_list_fn)(const char *uri, const char *description, void *user);

/**
 * labdaq_list() - enumerate the devices every built-in backend can see.
 * Returns the number of devices reported, or -errno. Thread-safe.
 */
LABDAQ_API int labdaq_list(labdaq_list_fn fn, void *user);

/* ------------------------------------------------------------------------
 * Exclusivity
 *
 * A run (stream or sweep) holds its device's lock for its whole life: a
 * second run on the same device, in any process of any user, fails with
 * -EBUSY.  The lock is an flock() on a file in LABDAQ_LOCK_DIR (default
 * /run/lock/labdaq): the kernel releases it when the holder exits, crashes
 * or is killed.  The key is the URI without its parameters.
 */

struct labdaq_holder {
	int pid;                /* the process holding the device; -1: unknown
				 * (not a labdaq run, or its record is gone) */
	int stoppable;          /* it stops on SIGTERM, aborts on SIGUSR1:
				 * see labdaq_set_stop_signals() */
	unsigned long long start; /* the process's start time, in clock ticks */
	unsigned int uid;
	char user[64];
	char run_id[64];
	char since_utc[32];     /* "2026-11-27T10:40:03Z" */
	char device[256];       /* the URI it was opened with */
	char what[512];         /* the command line, or the API's description */
	char output[1024];      /* absolute path of its data file */
};

/**
 * labdaq_device_holder() - who holds the device of @uri.
 * Returns 1 and fills @out if it is held (@out->pid is -1 when the holder
 * cannot be told: another program, or a record left stale), 0 if it is
 * free, or -errno.  Thread-safe.
 */
LABDAQ_API int labdaq_device_holder(const char *uri, struct labdaq_holder *out);

/**
 * labdaq_set_stop_signals() - declare that this process stops its runs on
 * SIGTERM and aborts them on SIGUSR1 (it handles those signals itself, as
 * the labdaq command does), so that `labdaq stop` may signal it.  Without
 * it, `labdaq stop` refuses to signal this process's runs.  The library
 * itself never installs a handler.  Call it before starting runs.
 */
LABDAQ_API void labdaq_set_stop_signals(int enabled);

/** Called once per held device by labdaq_holders(); non-zero stops. */
typedef int (*labdaq_holder_fn)(const struct labdaq_holder *h, void *user);

/**
 * labdaq_holders() - every device held now, on this machine.
 * Returns the count, or -errno.  Thread-safe.
 */
LABDAQ_API int labdaq_holders(labdaq_holder_fn fn, void *user);

/* ------------------------------------------------------------------------
 * Runs
 *
 * QUEUED -> RUNNING -> COMPLETE | STOPPED | ABORTED | FAILED
 */

typedef struct labdaq_run labdaq_run;

enum labdaq_state {
	LABDAQ_STATE_QUEUED = 0,
	LABDAQ_STATE_RUNNING = 1,
	LABDAQ_STATE_COMPLETE = 2, /* reached its count or duration */
	LABDAQ_STATE_STOPPED = 3,  /* stopped; everything acquired was written */
	LABDAQ_STATE_ABORTED = 4,  /* aborted; the unwritten rest was discarded */
	LABDAQ_STATE_FAILED = 5,   /* device or I/O failure; see the error */
};

/** Lower-case name of @state ("running", ...), or "unknown". Thread-safe. */
LABDAQ_API const char *labdaq_state_name(int state);

enum labdaq_on_full {
	LABDAQ_ON_FULL_BLOCK = 0, /* the producer waits for the writer */
	LABDAQ_ON_FULL_DROP = 1,  /* the block is discarded and recorded as a gap */
};

struct labdaq_run_config {
	const char *path;      /* the .npy file; the sidecar is the same name .json */
	uint64_t count;        /* items to acquire; 0: no limit */
	uint64_t duration_ns;  /* time to acquire; 0: no limit.  With rate_hz,
			        * exactly the items due in that time */
	double rate_hz;        /* items per second; 0: as fast as possible */
	const char *channels;  /* comma-separated input channel names; NULL: all */
	size_t ring_bytes;     /* ring capacity, rounded up to a page; 0: default */
	int on_full;           /* enum labdaq_on_full */
	int overwrite;         /* non-zero: replace an existing file */
	const char *command;   /* recorded in the metadata; may be NULL */
	uint32_t checkpoint_ms; /* header/metadata refresh period; 0: 1000 */
};

/** Fill @cfg with the defaults (block policy, 64 MiB ring). Thread-safe. */
LABDAQ_API void labdaq_run_config_init(struct labdaq_run_config *cfg);

/**
 * labdaq_run_start() - start streaming @dev into @cfg->path.
 * @dev: an open device; it must outlive the run.
 * @cfg: copied; its strings may be freed when this returns.
 * @out: receives the run; free it with labdaq_run_free().
 *
 * Returns at once, once the file and its sidecar exist and both threads
 * run.  Errors: -EINVAL (bad config or channel name), -EEXIST (the file
 * exists and @cfg->overwrite is 0), -EACCES/-ENOENT/... (the file cannot be
 * created), -EBUSY (@dev has a run), or a backend error.  On error nothing
 * is left on disk.
 */
LABDAQ_API int labdaq_run_start(labdaq_device *dev, const struct labdaq_run_config *cfg,
				labdaq_run **out);

struct labdaq_progress {
	int state;                 /* enum labdaq_state */
	uint64_t acquired;         /* items produced by the device */
	uint64_t written;          /* items on disk */
	uint64_t dropped;          /* items lost: ring full, hardware overrun, abort */
	uint64_t gaps;             /* number of gaps */
	uint64_t ring_fill_bytes;  /* bytes in the ring now */
	uint64_t ring_high_water_bytes;
	uint64_t ring_capacity_bytes;
	uint64_t item_bytes;       /* bytes per item */
	uint64_t target;           /* items the run will acquire: cfg->count, or
				    * for a paced timed run the items due in its
				    * time (rate x duration) if fewer; 0: no count */
	uint64_t elapsed_ns;       /* since the run started */
	double rate_hz;            /* items per second over the last quarter
				    * second; once ended, the run's mean */
	int error;                 /* -errno of a failure, or 0 */
};

/**
 * labdaq_run_progress() - a consistent-enough snapshot of @run's counters.
 * Any thread, any time; lock-free, never slows the run.
 */
LABDAQ_API int labdaq_run_progress(labdaq_run *run, struct labdaq_progress *out);

/**
 * labdaq_run_latest() - copy the newest acquired block for a live view.
 * @buf: receives up to @len bytes of it.
 * @index: receives the index of its first item (may be NULL).
 * @items: receives how many items were copied (may be NULL).
 *
 * The tap is refreshed at most 30 times a second and never makes the
 * producer wait.  Returns the bytes copied, or -EAGAIN if nothing was
 * acquired yet.  Any thread.
 */
LABDAQ_API int labdaq_run_latest(labdaq_run *run, void *buf, size_t len, uint64_t *index,
				 uint64_t *items);

/**
 * labdaq_run_stop() - ask @run to stop: the producer stops at the next
 * block, the writer drains the ring and finalizes; state STOPPED.
 * Returns at once.  Any thread; idempotent.
 */
LABDAQ_API int labdaq_run_stop(labdaq_run *run);

/**
 * labdaq_run_abort() - like stop, but the writer only finishes the write in
 * progress; the rest of the ring is discarded and counted as dropped;
 * state ABORTED.  Returns at once.  Any thread.
 */
LABDAQ_API int labdaq_run_abort(labdaq_run *run);

/**
 * labdaq_run_wait() - wait until @run has finalized its file.
 * @timeout_ms: < 0 waits forever.
 * Returns 0 when the run has ended, -ETIMEDOUT otherwise.  Any thread.
 */
LABDAQ_API int labdaq_run_wait(labdaq_run *run, int timeout_ms);

/**
 * labdaq_run_fd() - a file descriptor that becomes readable (POLLIN) when
 * @run has ended, for an event loop (poll, select, epoll, a GUI toolkit).
 * Owned by @run: do not read or close it.  Any thread.
 */
LABDAQ_API int labdaq_run_fd(labdaq_run *run);

/** enum labdaq_state of @run now. Any thread. */
LABDAQ_API int labdaq_run_state(labdaq_run *run);

/**
 * labdaq_run_error() - why @run failed.
 * Returns the -errno (0 if it did not fail) and, if @msg is non-NULL, points
 * it to a description owned by @run, valid until labdaq_run_free().  Only
 * meaningful after labdaq_run_wait() returned 0.
 */
LABDAQ_API int labdaq_run_error(labdaq_run *run, const char **msg);

/**
 * labdaq_run_free() - stop (as labdaq_run_abort() if still running), wait,
 * and free @run.  NULL is accepted.  Must not race with other calls on @run.
 */
LABDAQ_API void labdaq_run_free(labdaq_run *run);

/* ------------------------------------------------------------------------
 * Sweeps (step scans)
 *
 * A sweep sets one output channel to each of @points values from @from to
 * @to (evenly spaced, both included), waits @delay_ns, reads the input
 * channels, and writes one CSV row per point, flushed at once: a crash loses
 * at most the point in progress.  It runs in its own thread and is a
 * labdaq_run like a stream: labdaq_run_progress() counts points (acquired
 * == written == points done, target == points * repeat),
 * labdaq_run_latest() gives the newest row as doubles (the value set, then
 * each input's physical value), stop keeps the points done.  The CSV format
 * is in docs/file-format.md.
 */

struct labdaq_sweep_config {
	const char *path;    /* the .csv file */
	const char *set;     /* the output channel's name */
	const char *read;    /* comma-separated input channel names; NULL: all */
	double from, to;     /* in the output's physical unit */
	uint32_t points;     /* >= 1 */
	uint32_t repeat;     /* passes over the points; 0 counts as 1 */
	uint64_t delay_ns;   /* settling time after each set */
	int overwrite;       /* non-zero: replace an existing file */
	const char *command; /* recorded in the file; may be NULL */
};

/** Fill @cfg with the defaults (one pass, no delay). Thread-safe. */
LABDAQ_API void labdaq_sweep_config_init(struct labdaq_sweep_config *cfg);

/**
 * labdaq_sweep_start() - start a sweep on @dev; returns at once.
 * @out: receives the run; free it with labdaq_run_free().
 *
 * Errors: -EINVAL (no such output or input channel, points 0, a limit that
 * is not finite), -ERANGE (--from or --to outside the output's range, when
 * the device tells it: nothing is set), -EEXIST, -EBUSY (the device is
 * held: see labdaq_device_holder()), -EOPNOTSUPP (the backend cannot set
 * outputs or read inputs), -errno creating the file.  A value the device
 * refuses at run time ends the run FAILED with -ERANGE at that point.
 */
LABDAQ_API int labdaq_sweep_start(labdaq_device *dev, const struct labdaq_sweep_config *cfg,
				  labdaq_run **out);

/* ------------------------------------------------------------------------
 * Files
 */

struct labdaq_recover_info {
	uint64_t items;        /* whole items now described by the header */
	uint64_t trailing;     /* bytes of a partial item cut off the end */
	int previous_status;   /* what the sidecar said, or -1 */
};

/**
 * labdaq_file_recover() - complete @path after a crash or kill -9: rewrite
 * the .npy header to the whole items on disk, cut a partial item, and mark
 * the sidecar "recovered".  Returns 0, -EBADMSG for a file that is not a
 * labdaq .npy, or -errno.  Must not run while a run writes @path.
 */
LABDAQ_API int labdaq_file_recover(const char *path, struct labdaq_recover_info *info);

#ifdef __cplusplus
}
#endif

#endif /* LABDAQ_H */
