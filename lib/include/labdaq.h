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

/* The one source of the version: the Makefile, the .pc file and
 * labdaq_version() take it from these three lines. */
#define LABDAQ_VERSION_MAJOR 0
#define LABDAQ_VERSION_MINOR 3
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

/**
 * labdaq_last_error() - the last error message the library logged in the
 * calling thread (whatever the log callback), e.g. why labdaq_device_open()
 * or labdaq_run_start() failed: "'sim:ohm' has no input channel 'x' (its
 * inputs: voltage0, current0)".  Returns a thread-local string, valid
 * until the next library call in this thread, or NULL if no error was
 * logged since labdaq_clear_error().  Thread-safe.
 */
LABDAQ_API const char *labdaq_last_error(void);
/** Forget the calling thread's last error message. Thread-safe. */
LABDAQ_API void labdaq_clear_error(void);

/* ------------------------------------------------------------------------
 * Backends
 *
 * The backends built into this library, in the order labdaq_list() asks
 * them: index 0 is "sim", always present.
 */

/** How many backends are built in. Thread-safe. */
LABDAQ_API unsigned int labdaq_backend_count(void);
/** The URI prefix of backend @index ("sim", "iio", ...), or NULL. Thread-safe. */
LABDAQ_API const char *labdaq_backend_name(unsigned int index);
/** One line on backend @index's URIs and keys, or NULL. Thread-safe. */
LABDAQ_API const char *labdaq_backend_help(unsigned int index);
/**
 * labdaq_backend_version() - the library backend @index is built on and
 * its version as loaded ("libiio 0.24 (v0.24)"), or "built into liblabdaq
 * X.Y.Z", into @buf (@len bytes).  Returns the length, -EINVAL, or
 * -ENAMETOOLONG.  Thread-safe.  Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_backend_version(unsigned int index, char *buf, size_t len);

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
	LABDAQ_DTYPE_UINT8 = 6,  /* mono 8-bit pixels, and the bytes of packed
				  * colour frames (v4l2) */
};

/** Size in bytes of one value of @dtype, or 0 if unknown. Thread-safe. */
LABDAQ_API size_t labdaq_dtype_size(int dtype);
/** NumPy descr of @dtype ("<u2", ...), or NULL if unknown. Thread-safe. */
LABDAQ_API const char *labdaq_dtype_numpy(int dtype);

struct labdaq_channel {
	const char *name;  /* as the kernel's IIO names it: "voltage0" */
	const char *unit;  /* SI unit of the scaled value: "V", "A", "" */
	double scale;      /* physical value = (raw + offset) * scale: see
			    * labdaq_device_channel_offset() */
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
 * labdaq_device_channel_offset() - the offset of channel @index, in raw
 * units: physical value = (raw + offset) * scale (IIO's convention; 0 for
 * most devices).  Files keep the raw values and record the offset.
 * Returns 0 and sets *@offset, or -ERANGE.  Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_device_channel_offset(const labdaq_device *dev, unsigned int index,
					    double *offset);

/**
 * labdaq_device_parse_channels() - resolve a channel list of @dev.
 * @list: comma-separated channel names ("voltage0,current0") or numbers
 *        ("0,1": the first and second inputs, or outputs, in the device's
 *        order, as comedi and sigrok count them); NULL selects every input
 *        (or every output if @output).
 * @output: non-zero to look among the outputs, zero among the inputs.
 * @idx: receives the channel indexes in list order (may be NULL); at most
 *       @max of them are stored.
 *
 * Returns the number of channels in the list, which may exceed @max (call
 * again with a larger array), or -EINVAL for an empty list or name, an
 * unknown channel or one given twice (the log and labdaq_last_error() name
 * it and list the device's channels).  The same parser serves streams and
 * sweeps.  Same thread rules as @dev.
 */
LABDAQ_API int labdaq_device_parse_channels(const labdaq_device *dev, const char *list,
					    int output, unsigned int *idx, unsigned int max);

/**
 * labdaq_device_frame_shape() - frame geometry of a frames device.
 * Returns 0 and sets @width and @height, or -EOPNOTSUPP for a samples
 * device.
 */
LABDAQ_API int labdaq_device_frame_shape(const labdaq_device *dev, uint32_t *width,
					 uint32_t *height);

/* ------------------------------------------------------------------------
 * Device attributes (since LABDAQ_0.3)
 *
 * A device's settings beyond its channels: an IIO device's and its
 * channels' attributes, named as in sysfs ("sampling_frequency",
 * "in_voltage0_scale"); the simulated devices' parameters ("r", "noise",
 * ...).  Values are text, as the device reads and writes them.  A backend
 * without attributes answers -EOPNOTSUPP.  Same thread rules as @dev; not
 * while a run is active on it.
 */

struct labdaq_attr {
	const char *name;      /* "sampling_frequency" */
	const char *value;     /* its value now, or NULL if it cannot be read */
	const char *available; /* what it takes, as the device says ("[1 1 100000]",
				* "ohm counter"), or NULL */
};

/** Called once per attribute by labdaq_device_attrs(); the strings are
 * valid during the call.  Return non-zero to stop. */
typedef int (*labdaq_attr_fn)(const struct labdaq_attr *attr, void *user);

/**
 * labdaq_device_attrs() - list @dev's attributes with their values.
 * Returns how many were reported, -EOPNOTSUPP, or -errno.
 */
LABDAQ_API int labdaq_device_attrs(labdaq_device *dev, labdaq_attr_fn fn, void *user);
/**
 * labdaq_device_attr_read() - the value of attribute @name as text into
 * @buf (@len bytes, NUL-terminated; cut if longer).  Returns its length,
 * -ENOENT if @dev has no such attribute (the log names the device), -EBUSY
 * during a run, -EOPNOTSUPP, or -errno.
 */
LABDAQ_API int labdaq_device_attr_read(labdaq_device *dev, const char *name, char *buf,
				       size_t len);
/**
 * labdaq_device_attr_write() - set attribute @name to the text @value.
 * Returns 0, -ENOENT, -EINVAL or -ERANGE for a value the device refuses
 * (the log says what it takes when the device tells), -EACCES (read-only,
 * or no permission), -EBUSY during a run, -EOPNOTSUPP, or -errno.
 */
LABDAQ_API int labdaq_device_attr_write(labdaq_device *dev, const char *name,
					const char *value);

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
 * or is killed.  The key names the device, not the URI: the backend
 * chooses it (the sim device's name; an iio device's name whatever the
 * context it is reached through), so two URIs of one device share it.
 *
 * struct labdaq_holder is filled by the library: set @size to
 * sizeof(struct labdaq_holder) before the call, so that a later version
 * with more fields still fills an older caller's struct correctly.
 */

struct labdaq_holder {
	size_t size;            /* set by the caller: sizeof(struct labdaq_holder) */
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
 * @out: its @size set by the caller.
 * Returns 1 and fills @out if it is held (@out->pid is -1 when the holder
 * cannot be told: another program, or a record left stale), 0 if it is
 * free, -EINVAL if @out->size is smaller than the first version's struct,
 * or -errno.  Thread-safe.
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

/** Called once per held device by labdaq_holders() (@h->size set by the
 * library); non-zero stops. */
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

/*
 * A run's configuration: an object the library allocates, so that new
 * settings never change the ABI.  Create it, set what differs from the
 * defaults, start any number of runs with it, free it.  Setters copy their
 * strings and return 0 or -EINVAL for a value out of range (nothing is
 * changed then).  A configuration may be used by one thread at a time.
 */
typedef struct labdaq_run_config labdaq_run_config;

/** The ring capacity a run gets when none is set: 64 MiB, except that a
 * run of a count of items that fits in less gets its own size (at least
 * 1 MiB), so that a short run does not allocate 64 MiB.  A capacity set with
 * labdaq_run_config_set_ring_bytes() is always kept. Thread-safe. */
LABDAQ_API uint64_t labdaq_default_ring_bytes(void);

/**
 * labdaq_run_config_new() - a configuration with the defaults: no path,
 * no limit (count 0, duration 0), as fast as possible (rate 0), every
 * input, the default ring, block when full, never overwrite, checkpoints
 * every 1000 ms.  Free it with labdaq_run_config_free().  0 or -ENOMEM.
 */
LABDAQ_API int labdaq_run_config_new(labdaq_run_config **out);
/** Free @cfg; NULL is accepted.  Runs started with it keep their copy. */
LABDAQ_API void labdaq_run_config_free(labdaq_run_config *cfg);
/** The .npy file; its sidecar is the same name with .json.  Required. */
LABDAQ_API int labdaq_run_config_set_path(labdaq_run_config *cfg, const char *path);
/** Items to acquire; 0: no limit. */
LABDAQ_API int labdaq_run_config_set_count(labdaq_run_config *cfg, uint64_t items);
/** Time to acquire; 0: no limit.  With a rate, exactly the items due in it. */
LABDAQ_API int labdaq_run_config_set_duration_ns(labdaq_run_config *cfg, uint64_t ns);
/** Items per second; 0: as fast as possible.  -EINVAL if < 0 or not finite. */
LABDAQ_API int labdaq_run_config_set_rate_hz(labdaq_run_config *cfg, double hz);
/** Comma-separated input channel names (see labdaq_device_parse_channels());
 * NULL: every input. */
LABDAQ_API int labdaq_run_config_set_channels(labdaq_run_config *cfg, const char *list);
/** Ring capacity in bytes, rounded up to a page; 0: the default.  -EINVAL
 * below 4096. */
LABDAQ_API int labdaq_run_config_set_ring_bytes(labdaq_run_config *cfg, uint64_t bytes);
/** The ring capacity set in @cfg, or the default (64 MiB) if none was set;
 * a run of a small count may get less (see labdaq_default_ring_bytes()). */
LABDAQ_API uint64_t labdaq_run_config_get_ring_bytes(const labdaq_run_config *cfg);
/** enum labdaq_on_full; -EINVAL for another value. */
LABDAQ_API int labdaq_run_config_set_on_full(labdaq_run_config *cfg, int policy);
/** Non-zero: replace existing files (the old ones come back if the start
 * fails). */
LABDAQ_API int labdaq_run_config_set_overwrite(labdaq_run_config *cfg, int overwrite);
/** Recorded in the metadata as the command that started the run; may be NULL. */
LABDAQ_API int labdaq_run_config_set_command(labdaq_run_config *cfg, const char *command);
/** Header and metadata refresh period; 0: 1000 ms. */
LABDAQ_API int labdaq_run_config_set_checkpoint_ms(labdaq_run_config *cfg, uint32_t ms);
/**
 * labdaq_run_config_set_meta() - the caller's own metadata (sample,
 * operator, notes...), recorded under "user" in the sidecar.  @key: 1 to
 * 128 of letters, digits and _-.:/; @value: any text up to 4096 bytes.  A
 * key set again gets the new value.  0, -EINVAL, -ENOMEM.  Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_run_config_set_meta(labdaq_run_config *cfg, const char *key,
					  const char *value);
/**
 * labdaq_run_config_set_attr() - set device attribute @name to @value
 * before the run starts (the device lock held); the value the device then
 * reads back is recorded under "attributes" in the sidecar.  A name given
 * again takes the new value.  labdaq_run_check() checks that the device
 * has it.  0, -EINVAL, -ENOMEM.  Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_run_config_set_attr(labdaq_run_config *cfg, const char *name,
					  const char *value);

/**
 * labdaq_run_check() - check @cfg against @dev as labdaq_run_start() would,
 * without starting anything or creating a file: the path (set, ending in
 * .npy, not existing unless overwrite, in a writable directory), the
 * channels, the limits.  A busy device is not an error here (it may be free
 * later).  Returns 0 or the -errno labdaq_run_start() would return; the
 * log and labdaq_last_error() say what is wrong.  Same thread rules as @dev.
 */
LABDAQ_API int labdaq_run_check(labdaq_device *dev, const labdaq_run_config *cfg);

/* What a run of a configuration will do: labdaq_run_plan() fills it.  Set
 * @size to sizeof(struct labdaq_run_plan) first (fields are only
 * appended). */
struct labdaq_run_plan {
	size_t size;             /* set by the caller */
	uint64_t item_bytes;     /* one item (sample row or frame) in the file */
	uint64_t items;          /* the most it acquires; 0: not bounded (until
				  * stopped, or a duration at the device's pace) */
	uint64_t duration_ns;    /* how long it lasts at most; 0: not bounded
				  * (until stopped, or a count at the device's pace) */
	uint64_t file_bytes;     /* the data file at its largest (header and
				  * items); 0 when items is */
	uint64_t free_bytes;     /* free for this user on the output's file
				  * system now; UINT64_MAX if unknown */
};

/**
 * labdaq_run_plan() - labdaq_run_check(), and when @cfg passes, what the
 * run will do in *@out: its items, bytes, duration and the free space
 * where it writes.  Returns what labdaq_run_check() returns (-EINVAL also
 * for a NULL argument or @out->size too small).  Same thread rules as
 * @dev.  Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_run_plan(labdaq_device *dev, const labdaq_run_config *cfg,
			       struct labdaq_run_plan *out);

/**
 * labdaq_run_start() - start streaming @dev into @cfg->path.
 * @dev: an open device; it must outlive the run.
 * @cfg: copied; it may be changed or freed when this returns.
 * @out: receives the run; free it with labdaq_run_free().
 *
 * Returns at once, once the file and its sidecar exist and both threads
 * run.  Errors: -EINVAL (bad config or channel name), -EEXIST (the file
 * exists and @cfg->overwrite is 0), -EACCES/-ENOENT/... (the file cannot be
 * created), -EBUSY (@dev has a run), or a backend error.  On error nothing
 * is left on disk.
 */
LABDAQ_API int labdaq_run_start(labdaq_device *dev, const labdaq_run_config *cfg,
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
	uint64_t target;           /* items the run will acquire: the count, or
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
 * labdaq_run_channel_count() - the channels of @run's file, in file order:
 * a stream's columns, or a sweep's output followed by its inputs (the
 * values of labdaq_run_latest()'s row).  0 for a frames stream.  Any thread.
 */
LABDAQ_API unsigned int labdaq_run_channel_count(labdaq_run *run);
/** Describe channel @index of @run (strings owned by @run); 0 or -ERANGE. */
LABDAQ_API int labdaq_run_channel(labdaq_run *run, unsigned int index,
				  struct labdaq_channel *out);
/** The offset of @run's channel @index (see labdaq_device_channel_offset());
 * 0 or -ERANGE.  Any thread.  Since LABDAQ_0.3. */
LABDAQ_API int labdaq_run_channel_offset(labdaq_run *run, unsigned int index, double *offset);

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
 * each input's physical value), stop keeps the points done.  The CSV is
 * plain (a header row, one row per point); its metadata is in NAME.json
 * beside it, the same sidecar as a stream's.  The format is in
 * docs/file-format.md.
 */

/* A sweep's configuration: allocated by the library, like a run's. */
typedef struct labdaq_sweep_config labdaq_sweep_config;

/** Defaults: one point, one pass, no delay, never overwrite.  0 or -ENOMEM. */
LABDAQ_API int labdaq_sweep_config_new(labdaq_sweep_config **out);
/** Free @cfg; NULL is accepted. */
LABDAQ_API void labdaq_sweep_config_free(labdaq_sweep_config *cfg);
/** The .csv file.  Required. */
LABDAQ_API int labdaq_sweep_config_set_path(labdaq_sweep_config *cfg, const char *path);
/** The output channel stepped.  Required. */
LABDAQ_API int labdaq_sweep_config_set_output(labdaq_sweep_config *cfg, const char *channel);
/** Comma-separated input channels read at each point; NULL: every input. */
LABDAQ_API int labdaq_sweep_config_set_inputs(labdaq_sweep_config *cfg, const char *list);
/** The first and last values, in the output's physical unit; -EINVAL if
 * either is not finite. */
LABDAQ_API int labdaq_sweep_config_set_range(labdaq_sweep_config *cfg, double from, double to);
/** Points per pass, >= 1 (both ends included); -EINVAL for 0. */
LABDAQ_API int labdaq_sweep_config_set_points(labdaq_sweep_config *cfg, uint32_t points);
/** Passes over the points, >= 1; -EINVAL for 0. */
LABDAQ_API int labdaq_sweep_config_set_repeat(labdaq_sweep_config *cfg, uint32_t repeat);
/** Settling time after each set. */
LABDAQ_API int labdaq_sweep_config_set_delay_ns(labdaq_sweep_config *cfg, uint64_t ns);
/** Non-zero: replace an existing file (it comes back if the start fails). */
LABDAQ_API int labdaq_sweep_config_set_overwrite(labdaq_sweep_config *cfg, int overwrite);
/** Recorded in the file; may be NULL. */
LABDAQ_API int labdaq_sweep_config_set_command(labdaq_sweep_config *cfg, const char *command);
/** Like labdaq_run_config_set_meta(). Since LABDAQ_0.3. */
LABDAQ_API int labdaq_sweep_config_set_meta(labdaq_sweep_config *cfg, const char *key,
					    const char *value);
/** Like labdaq_run_config_set_attr(). Since LABDAQ_0.3. */
LABDAQ_API int labdaq_sweep_config_set_attr(labdaq_sweep_config *cfg, const char *name,
					    const char *value);
/**
 * labdaq_sweep_config_set_feed() - keep the points for the caller: a
 * sweep started with a feed of @points (1 to 1048576; 0, the default: no
 * feed) hands every point, in order, to labdaq_run_next_point(), none
 * skipped.  When @points of them wait untaken, the sweep waits for the
 * caller before it sets the next value (a stop or abort still ends it).
 * -EINVAL beyond 1048576.  Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_sweep_config_set_feed(labdaq_sweep_config *cfg, uint32_t points);

/**
 * labdaq_sweep_check() - check @cfg against @dev as labdaq_sweep_start()
 * would, starting nothing and creating no file; a busy device is not an
 * error.  0 or the -errno the start would return.  Same thread rules as @dev.
 */
LABDAQ_API int labdaq_sweep_check(labdaq_device *dev, const labdaq_sweep_config *cfg);

/**
 * labdaq_sweep_start() - start a sweep on @dev; returns at once.
 * @out: receives the run; free it with labdaq_run_free().
 *
 * Errors: -EINVAL (no path, no such output or input channel, a channel
 * given twice), -ERANGE (the first or last value outside the output's range, when
 * the device tells it: nothing is set), -EEXIST, -EBUSY (the device is
 * held: see labdaq_device_holder()), -EOPNOTSUPP (the backend cannot set
 * outputs or read inputs), -errno creating the file.  A value the device
 * refuses at run time ends the run FAILED with -ERANGE at that point.
 */
LABDAQ_API int labdaq_sweep_start(labdaq_device *dev, const labdaq_sweep_config *cfg,
				  labdaq_run **out);

/**
 * labdaq_run_next_point() - take the oldest point of a sweep's feed (see
 * labdaq_sweep_config_set_feed()): its values as labdaq_run_latest()'s
 * row (the value set, then each input), up to @len bytes into @row, and
 * its index (from 0, across passes) into @index (may be NULL).
 * Returns the bytes copied; -EAGAIN if no point is waiting yet; -ENODATA
 * once the sweep has ended and every point was taken; -EOPNOTSUPP for a
 * stream or a sweep without a feed.  Any thread, one taker at a time.
 * Since LABDAQ_0.3.
 */
LABDAQ_API int labdaq_run_next_point(labdaq_run *run, double *row, size_t len,
				     uint64_t *index);

/* ------------------------------------------------------------------------
 * Files
 *
 * What a run left on disk, read the way `labdaq inspect`, `labdaq stop`
 * and the queue read it: a stream's NAME.npy (its header) with its sidecar
 * NAME.json, or a sweep's NAME.csv with its NAME.json (a sweep of labdaq
 * 0.2: its '#' lines).  Opening reads
 * everything once; the object is a snapshot.  A labdaq_file may be used by
 * one thread at a time; its strings live as long as it does.
 */

typedef struct labdaq_file labdaq_file;

/**
 * labdaq_file_open() - read the data file @path and its metadata.
 * @out: receives the file; free it with labdaq_file_close().
 *
 * Returns 0, -ENOENT/-EACCES/... if @path cannot be read, or -EBADMSG if
 * it is not a .npy file (or, for a .csv, not a labdaq sweep).  A missing
 * or unreadable sidecar is not an error: see labdaq_file_meta_error().
 */
LABDAQ_API int labdaq_file_open(const char *path, labdaq_file **out);
/** Free @f; NULL is accepted. */
LABDAQ_API void labdaq_file_close(labdaq_file *f);

/** LABDAQ_FILE_NPY (a stream's data) or LABDAQ_FILE_CSV (a sweep's). */
enum labdaq_file_type {
	LABDAQ_FILE_NPY = 0,
	LABDAQ_FILE_CSV = 1,
};
LABDAQ_API int labdaq_file_type(const labdaq_file *f);

/**
 * labdaq_file_sidecar_path() - the metadata file of a data file @path
 * ("x.npy" -> "x.json"), whether or not it exists.  Writes it to @buf
 * (NUL-terminated).  Returns its length, or -ENAMETOOLONG if @len is too
 * small.  Thread-safe.
 */
LABDAQ_API int labdaq_file_sidecar_path(const char *path, char *buf, size_t len);

/* The .npy header (LABDAQ_FILE_NPY only; zeros and "" for a CSV). */
/** NumPy descr of the values: "<u2", "<i2", "<f8", ... */
LABDAQ_API const char *labdaq_file_dtype(const labdaq_file *f);
/** Items the header describes (the first dimension of the shape); for a
 * CSV, the data rows. */
LABDAQ_API uint64_t labdaq_file_items(const labdaq_file *f);
/** Dimensions of one item: 1 (channels) or 2 (height, width). */
LABDAQ_API unsigned int labdaq_file_item_ndim(const labdaq_file *f);
/** Dimension @i of one item, or 0. */
LABDAQ_API uint64_t labdaq_file_item_dim(const labdaq_file *f, unsigned int i);
/** Bytes of one item. */
LABDAQ_API uint64_t labdaq_file_item_bytes(const labdaq_file *f);
/** Offset of the first item (the header's length). */
LABDAQ_API uint64_t labdaq_file_data_offset(const labdaq_file *f);
/** Whole items on disk now: more than labdaq_file_items() during a run,
 * fewer after a crash (then labdaq_file_recover() completes the file). */
LABDAQ_API uint64_t labdaq_file_items_on_disk(const labdaq_file *f);
/** Bytes past the last whole item on disk (a partial item). */
LABDAQ_API uint64_t labdaq_file_trailing_bytes(const labdaq_file *f);

/**
 * labdaq_file_meta_error() - whether the metadata was read.
 * Returns 0 if it was, -ENOENT if there is none, -EBADMSG if it is not
 * valid (then @msg, if non-NULL, says where), or another -errno.
 */
LABDAQ_API int labdaq_file_meta_error(const labdaq_file *f, const char **msg);
/** The metadata as JSON text (a 0.2 sweep's '#' lines as an object), or NULL. */
LABDAQ_API const char *labdaq_file_meta_json(const labdaq_file *f);
/**
 * labdaq_file_meta_string() - a top-level string of the metadata: "status",
 * "device", "backend", "started_utc", "ended_utc", "run_id", "command", ...
 * or a member of an object with a dot: "error.message".  NULL if absent or
 * not a string.
 */
LABDAQ_API const char *labdaq_file_meta_string(const labdaq_file *f, const char *key);
/** A number of the metadata ("acquired", "rate_hz", "error.code", ...): 0
 * and *@out, or -ENOENT if absent or not a number. */
LABDAQ_API int labdaq_file_meta_number(const labdaq_file *f, const char *key, double *out);
/** Like labdaq_file_meta_number() for whole numbers (counts, indexes). */
LABDAQ_API int labdaq_file_meta_u64(const labdaq_file *f, const char *key, uint64_t *out);
/**
 * labdaq_file_gap_count() - the gaps readable: the rows of the gaps' file
 * NAME.gaps.npy that the sidecar names (as many as its header counts), or
 * those a labdaq-1 sidecar lists.  Fewer than the sidecar's "gaps.count"
 * when that file is missing or cut short.  O(1).
 */
LABDAQ_API uint64_t labdaq_file_gap_count(const labdaq_file *f);
/** Gap @i: its first missing item and how many; 0 or -ERANGE.  O(1). */
LABDAQ_API int labdaq_file_gap(const labdaq_file *f, uint64_t i, uint64_t *index,
			       uint64_t *count);
/**
 * labdaq_file_gaps() - gaps @first.. into @out, at most @n of them, as
 * (index, count) pairs: @out holds 2 * @n values.  Returns how many were
 * copied (0 at the end), -ERANGE if @first is beyond the end, -EINVAL.
 * Since LABDAQ_0.4.
 */
LABDAQ_API int64_t labdaq_file_gaps(const labdaq_file *f, uint64_t first, uint64_t n,
				    uint64_t *out);
/** The channels the metadata describes, in file order. */
LABDAQ_API unsigned int labdaq_file_channel_count(const labdaq_file *f);
/** Describe channel @index (strings owned by @f); 0 or -ERANGE. */
LABDAQ_API int labdaq_file_channel(const labdaq_file *f, unsigned int index,
				   struct labdaq_channel *out);
/** The offset the metadata records for channel @index (0 if none: files of
 * labdaq 0.2); 0 or -ERANGE.  Since LABDAQ_0.3. */
LABDAQ_API int labdaq_file_channel_offset(const labdaq_file *f, unsigned int index,
					  double *offset);

struct labdaq_recover_info {
	uint64_t items;        /* whole items now described by the header */
	uint64_t trailing;     /* bytes of a partial item cut off the end */
	int previous_status;   /* what the sidecar said, or -1 */
};

/**
 * labdaq_file_recover() - complete @path after a crash or kill -9: rewrite
 * the .npy header to the whole items on disk, cut a partial item (a
 * sweep's .csv: a line cut short), and mark the sidecar "recovered".
 * Returns 0, -EBADMSG for a file that is not a labdaq .npy (or a sidecar
 * that is not a JSON object: the data is fixed, the sidecar left as it is),
 * -ENOTRECOVERABLE when the header and the sidecar disagree on the dtype or
 * the item shape, or the header counts more items than are on disk (nothing
 * is changed: at most one partial item is ever cut), -EBUSY (logged, naming
 * the run) while a live run writes @path, or -errno.  Thread-safe.
 */
LABDAQ_API int labdaq_file_recover(const char *path, struct labdaq_recover_info *info);

#ifdef __cplusplus
}
#endif

#endif /* LABDAQ_H */
