/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run.h - the run object shared by streams (stream.c, writer.c) and sweeps
 * (sweep.c); its functions are in run.c.  Not installed.
 */
#ifndef LDQ_RUN_H
#define LDQ_RUN_H

#include <pthread.h>
#include <stdatomic.h>

#include "internal.h"
#include "gaps.h"
#include "npy.h"
#include "ring.h"
#include "sidecar.h"

#define SAMPLE_BLOCK_BYTES (64u << 10)
#define WRITE_CHUNK_MAX (8u << 20)
#define WRITE_CHUNK_MIN (1u << 20)
#define WRITEBEHIND_WINDOW (8u << 20)
#define TAP_PERIOD_NS (1000000000ull / 30)
#define RATE_PERIOD_NS (250000000ull)
#define WRITER_POLL_NS (50000000ll)

enum { REQ_NONE = 0, REQ_STOP = 1, REQ_ABORT = 2 };

enum { LDQ_RUN_STREAM = 0, LDQ_RUN_SWEEP = 1 };

struct ldq_sweep;

struct labdaq_run {
	int mode;                  /* LDQ_RUN_* */
	struct labdaq_device *dev;
	struct ldq_ring *ring;     /* streams only */
	struct ldq_sweep *sweep;   /* sweeps only */
	int lock_fd;               /* the device lock, held until the end */
	int end_fd;                /* eventfd, readable once the run ended */
	char run_id[64];

	/* configuration, fixed at start */
	char *path;
	char *companion;           /* a stream's companion file (backend.h), or NULL */
	char *command;
	uint64_t count;
	uint64_t duration_ns;
	double rate_hz;
	int on_full;
	uint64_t checkpoint_ns;
	unsigned int *chans;
	unsigned int nchans;
	struct labdaq_channel *file_chans;
	double *file_offsets;      /* each file channel's offset (raw units) */
	unsigned int *file_idx;    /* each file channel's index in dev->chans */
	unsigned int nfile_chans;
	const char **file_meta;    /* each file channel's backend details
				    * (ldq_channel.meta, owned by the device) */
	uint64_t count_asked;      /* the configuration's count and duration */
	uint64_t duration_asked_ns;
	char **user_meta;          /* the caller's key, value pairs */
	unsigned int nuser_meta;
	char **set_attrs;          /* device attributes to set: name, value pairs */
	unsigned int nset_attrs;
	char **attrs;              /* the same names, the values read back once set */
	struct ldq_npy_layout layout;
	int dtype;                 /* enum labdaq_dtype of a stream's file */
	size_t item_bytes;
	size_t block_items;
	char started_utc[40];
	char ended_utc[40];
	uint64_t t0_ns;
	_Atomic uint64_t t_end_ns;

	int fd;                    /* the data file (a sweep's CSV: see sweep) */
	unsigned int test_write_delay_us; /* LABDAQ_TEST_WRITE_DELAY_US */
	struct ldq_meta_file *meta;
	void *scratch;

	pthread_t producer;        /* the sweep's thread for a sweep */
	pthread_t writer;
	int producer_started;
	int writer_started;

	/* control */
	atomic_int request;        /* REQ_*: the caller's stop or abort */
	atomic_int writer_failed;  /* the writer asks the producer to end */
	atomic_int producer_done;  /* store-release after its last commit */
	int producer_end;          /* the state the producer ended in */
	atomic_int state;

	/* counters, written by one thread each, read by any */
	_Atomic uint64_t acquired; /* producer */
	_Atomic uint64_t written;  /* writer */
	_Atomic uint64_t dropped;  /* producer, then writer after producer_done */
	_Atomic uint64_t ngaps_pub;
	_Atomic double rate_now;

	/* the gaps (gaps.h: their batch under the lock, their file the
	 * writer's) and the error */
	pthread_mutex_t lock;
	struct ldq_gapstore gaps;
	int error;
	atomic_int error_pub;      /* run->error, for progress without the lock */
	char errmsg[512];
	/* the writer's copy for the sidecar */
	char ckpt_errmsg[512];

	/* the latest tap: the producer copies under trylock, never waits */
	pthread_mutex_t tap_lock;
	void *tap;
	size_t tap_cap;
	size_t tap_len;
	uint64_t tap_index;
	uint64_t tap_time_ns;
	atomic_int tap_wanted;     /* a reader asked since the last copy */

	/* wakes a sweep's delay at a stop or abort */
	pthread_cond_t wake_cond;

	/* end of the run */
	pthread_mutex_t done_lock;
	pthread_cond_t done_cond;
	int finished;
};

/* run.c, for stream.c, writer.c and sweep.c */
int ldq_run_new(struct labdaq_device *dev, int mode, const char *path, const char *command,
		struct labdaq_run **out);
/* Take the device's lock (-EBUSY, logged with the holder, if held), then
 * set the run's device attributes (set_attrs) and read them back (attrs). */
int ldq_run_lock_device(struct labdaq_run *run);
void ldq_run_set_error(struct labdaq_run *run, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The run thread's last act: release the device, publish @state. */
void ldq_run_finish(struct labdaq_run *run, int state);
struct ldq_outfile;
/* The end of labdaq_run_start() or labdaq_sweep_start(): with @ret 0 the
 * old files set aside in @of are dropped and *@out is @run; otherwise the
 * files created are removed, the old ones come back and @run is destroyed
 * (its threads must not be running).  Returns @ret. */
int ldq_run_start_end(struct labdaq_run *run, struct ldq_outfile *of, int ret,
		      struct labdaq_run **out);
/* Undo ldq_run_new() (and the lock); the threads must have ended. */
void ldq_run_destroy(struct labdaq_run *run);
/* Wait until a stop/abort request or @deadline_ns (CLOCK_MONOTONIC);
 * returns the request (REQ_*). */
int ldq_run_wait_request(struct labdaq_run *run, uint64_t deadline_ns);
/* Copy @items items at @p into the latest tap, at most 30 times a second,
 * never waiting. */
/* Interrupt the producer's device read (streams), unless it is done. */
void ldq_run_cancel_device(struct labdaq_run *run);
void ldq_run_tap(struct labdaq_run *run, const void *p, size_t items, uint64_t index,
		 uint64_t now);
/* Allocate room for @n file channels (file_chans, file_offsets) and copy
 * the configuration's user metadata (@kv: @n_kv pairs); 0 or -ENOMEM. */
int ldq_run_alloc_chans(struct labdaq_run *run, unsigned int n);
int ldq_run_copy_meta(struct labdaq_run *run, char *const *kv, unsigned int n_kv);
int ldq_run_copy_attrs(struct labdaq_run *run, char *const *kv, unsigned int n_kv);
/* Append device channel @index to the file's channels. */
void ldq_run_add_file_chan(struct labdaq_run *run, unsigned int index);
/* The sidecar's members common to streams and sweeps. */
void ldq_run_fill_meta(struct labdaq_run *run, struct ldq_meta *m, const char *status);
/* sweep.c: free a sweep's part of a run; NULL is accepted. */
void ldq_sweep_free(struct ldq_sweep *sw);

#endif
