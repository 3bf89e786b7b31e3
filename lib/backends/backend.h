/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * backend.h - the contract between the library's core and a backend.
 *
 * A backend is one file under lib/backends/ that ends with its ops table,
 * `const struct ldq_backend ldq_backend_NAME`, plus one word in the
 * Makefile's BACKENDS (or OPTIONAL_BACKENDS, with the pkg-config package it
 * needs): the Makefile compiles the file and lib/device.c lists the table
 * (see docs/architecture.md, "Adding a backend").  Nothing else in the
 * library names a backend.
 *
 * Rules for every op:
 *  - Errors are -errno.  A backend translates its own library's errors
 *    (libiio, comedilib, libusb, ioctl) at this boundary, and logs the
 *    reason with ldq_err() (naming the device and what to do, never a CLI
 *    option): the caller turns the log into the user's message.
 *  - A NULL op means "not supported": the core answers -EOPNOTSUPP.
 *  - The core serializes the ops of one device: no two run at once, except
 *    stream_cancel, which may run at any time during stream_read.  A device
 *    has at most one run (streaming or sweeping) at a time; the device lock
 *    (lock.c) extends that across processes before stream_start or the
 *    first write_output.
 *  - dev->priv belongs to the backend: set in open, freed in close.
 */
#ifndef LDQ_BACKEND_H
#define LDQ_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "labdaq.h"

struct labdaq_device;
struct ldq_ring;
struct ldq_uri;

/* What a stream asks of the device, fixed for the stream's life. */
struct ldq_stream_params {
	double rate_hz;              /* items per second; 0: as fast as possible */
	const unsigned int *chans;   /* samples devices: enabled input channels,
				      * indexes into dev->chans, in file order */
	unsigned int nchans;
	size_t item_bytes;           /* bytes of one item as stored */
	size_t block_items;          /* the most items one stream_read asks for */
	int dtype;                   /* enum labdaq_dtype of the stored values:
				      * the widest of the channels' */
	const char *path;            /* the run's data file (FILE.npy), valid
				      * until stream_stop returns */
	const char *companion_path;  /* FILE + the backend's companion suffix
				      * (FILE.frames.npy), or NULL (no suffix,
				      * or a run without a file); valid until
				      * stream_stop returns.  The core has made
				      * sure nothing is there (or set the old one
				      * aside with overwrite): the backend creates
				      * it with O_EXCL and writes it from
				      * stream_read's and stream_stop's thread;
				      * a start that fails removes it (the
				      * core, as the run's other files) */
	struct ldq_ring *ring;       /* the run's ring, valid until stream_stop
				      * returns.  stream_read's @dst is always
				      * either the ring's region at the
				      * committed position or a scratch block
				      * (the run drops).  A backend whose device
				      * fills several items at once may place
				      * the later ones where they will be
				      * committed, with ldq_ring_reserve_ahead()
				      * (ring.h), from stream_read's thread
				      * only, and call nothing else of the ring;
				      * then stream_read finds them in place at
				      * @dst */
};

struct ldq_backend {
	/* The URI prefix before ':' ("sim", "iio"). */
	const char *name;
	/* One line on its URIs and what they reach, for labdaq_backend_help()
	 * and `labdaq --help`. */
	const char *uris;
	/* The keys its URIs take, for the "unknown parameter" message. */
	const char *keys_help;
	/* A backend that keeps per-item facts the data file cannot hold
	 * writes them to a companion file beside it: FILE.npy -> FILE +
	 * this suffix (".frames.npy"), named in its docs.  The core treats it
	 * as one of the run's files (never replaced without overwrite, the
	 * old one put back if the start fails).  NULL: none. */
	const char *companion;
	/*
	 * lib_version - the library it is built on and that library's
	 * version as found at run time ("libiio 0.24 (v0.24)") into @buf;
	 * its length, or -errno.  Any thread.  Optional: NULL for a backend
	 * that needs no library.
	 */
	int (*lib_version)(char *buf, size_t len);

	/*
	 * open - fill @dev from @uri: kind, channels (ldq_device_add_channel;
	 * then, optionally, a channel's min/max, its offset when physical =
	 * (raw + offset) * scale, and its meta: a JSON object of the
	 * backend's own details that the sidecar adds to the channel's entry),
	 * frame geometry, description, priv, and lock_key if two URIs can name
	 * the same device (otherwise the core uses the URI without its
	 * parameters).  Must look up every key it accepts through
	 * ldq_uri_get_*(): a key never looked up is refused after open.
	 * Called from the caller's thread of labdaq_device_open(); may block
	 * (a network context, a USB enumeration).
	 * On failure: returns -errno having freed everything it allocated;
	 * channels it added are freed by the core.  On success, close will be
	 * called exactly once (also when the core refuses an unknown key).
	 * Required.
	 */
	int (*open)(struct labdaq_device *dev, struct ldq_uri *uri);
	/*
	 * close - free dev->priv and release the device.  No stream is active
	 * (stream_stop has run).  The caller's thread of labdaq_device_close().
	 */
	void (*close)(struct labdaq_device *dev);
	/*
	 * list - report each device this backend can see, as fn(uri,
	 * description, user) with strings valid during the call; stop early
	 * when fn returns non-zero.  Returns the number reported or -errno (a
	 * failing backend does not stop the listing of the others).  Any
	 * thread, concurrently: keep no state between calls.  Must not crash
	 * when devices come and go while it lists them.
	 */
	int (*list)(labdaq_list_fn fn, void *user);

	/*
	 * stream_start - configure and start the acquisition of @p (rate,
	 * channels).  Called from labdaq_run_start()'s thread once the files
	 * exist and the device lock is held, before the run's threads start.
	 * May block briefly.  On failure: returns -errno with nothing left
	 * running (stream_stop is not called); the run fails to start and its
	 * files are removed.
	 */
	int (*stream_start)(struct labdaq_device *dev, const struct ldq_stream_params *p);
	/*
	 * stream_rate_hz - the rate the device really runs at, after a
	 * successful stream_start (a board rounds the period it is asked
	 * for): items per second, or 0 if unknown.  Optional.  The run then
	 * records this rate in its metadata, and a run limited by a duration
	 * acquires the items due at this rate.  Called from stream_start's
	 * thread, right after it.
	 */
	double (*stream_rate_hz)(struct labdaq_device *dev);
	/*
	 * stream_read - read up to @items items (item_bytes each, packed in
	 * the order of p->chans) into @dst, a region of the ring reserved for
	 * them.  Waits for the device (a paced device waits for its clock);
	 * must return within about 100 ms of a stream_cancel.  Returns the
	 * number of items read (>= 1), or -errno: -ECANCELED after
	 * stream_cancel, -ENODEV when the device is gone, -EIO, ...
	 * *@lost receives the items the device lost just before these (a
	 * hardware or kernel overrun), 0 normally: they count as dropped and
	 * as a gap.  Called only from the run's producer thread.
	 */
	long (*stream_read)(struct labdaq_device *dev, void *dst, size_t items, uint64_t *lost);
	/*
	 * stream_cancel - make a blocked or later stream_read return
	 * -ECANCELED.  Any thread, concurrently with stream_read (the only op
	 * that may be); never after the producer's last stream_read returned
	 * (the core guarantees it).  Must not block or free anything.
	 */
	void (*stream_cancel)(struct labdaq_device *dev);
	/*
	 * stream_stop - stop the acquisition and free what stream_start
	 * allocated, so that the device is idle for the next run (another
	 * process's, too).  Called once after a successful stream_start, from
	 * the producer thread after its last stream_read, or from
	 * labdaq_run_start()'s thread if the run fails to start.  Whatever
	 * the device did before (an error, a cancel, a vanished device), it
	 * must return and leave nothing running.
	 */
	void (*stream_stop)(struct labdaq_device *dev);
	/*
	 * stream_lost - the items the device lost that only the end of the
	 * stream revealed (a bound that needs every transfer back, as
	 * stream_stop leaves them), or 0.  The core counts them as acquired
	 * and dropped, as one gap at the end of the file (the backend's log
	 * says what is known of where they were lost).  Called once, from the
	 * producer thread right after stream_stop at the end of a run that
	 * streamed (not after a failed start).  Optional.
	 */
	uint64_t (*stream_lost)(struct labdaq_device *dev);

	/*
	 * write_output - set output channel @chan (an index into dev->chans)
	 * to @value in its physical unit.  -ERANGE if the device refuses the
	 * value, -ENODEV if it is gone.  Called from a sweep's thread, the
	 * device lock held.
	 */
	int (*write_output)(struct labdaq_device *dev, unsigned int chan, double value);
	/*
	 * read_inputs - read @n input channels (indexes into dev->chans) once
	 * each, as physical values, into @values.  From a sweep's thread,
	 * the device lock held; may block for one conversion.
	 */
	int (*read_inputs)(struct labdaq_device *dev, const unsigned int *chans, unsigned int n,
			   double *values);

	/*
	 * attr_list - report each attribute of the device (its own and its
	 * channels', named as the backend documents: iio uses the sysfs file
	 * names, "sampling_frequency", "in_voltage0_scale") as fn(a, user):
	 * a->name, a->value (the current value as text, NULL if it cannot be
	 * read), a->available (the values or range the device says it takes,
	 * NULL if it does not say), all valid during the call; stop early when
	 * fn returns non-zero.  Returns the number reported or -errno.  The
	 * caller's thread, no run active on @dev.  Optional, with attr_read
	 * and attr_write: a backend without attributes leaves all three NULL
	 * (the core answers -EOPNOTSUPP).
	 */
	int (*attr_list)(struct labdaq_device *dev, labdaq_attr_fn fn, void *user);
	/*
	 * attr_read - the value of attribute @name as text into @buf (@len
	 * bytes, NUL-terminated).  Returns its length, -ENOENT for no such
	 * attribute (logged with the device's URI), or -errno.  Same thread
	 * rules as attr_list; also called by labdaq_run_start() and
	 * labdaq_sweep_start(), the device lock held.
	 */
	int (*attr_read)(struct labdaq_device *dev, const char *name, char *buf, size_t len);
	/*
	 * attr_write - set attribute @name to the text @value.  0, -ENOENT,
	 * -EINVAL or -ERANGE for a value the device refuses (logged, with
	 * what it takes when known), -EACCES for a read-only one, or -errno.
	 * Same thread rules as attr_read.
	 */
	int (*attr_write)(struct labdaq_device *dev, const char *name, const char *value);
};

#endif
