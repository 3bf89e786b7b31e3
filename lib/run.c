/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run.c - a streaming run: device -> ring -> .npy file, in two threads.
 *
 *   producer thread: reserves a block in the ring, lets the backend fill it
 *     in place, commits.  Full ring: waits (block) or reads the block into a
 *     scratch buffer and records it as a gap (drop).
 *   writer thread: peeks what is readable, writes it to the file in large
 *     chunks, releases; keeps the page cache from filling memory; at every
 *     checkpoint rewrites the .npy header and the JSON sidecar.
 *   caller: never blocked; reads counters, the latest tap, stops, waits.
 *
 * Counters: every item the device's sequence passed through is acquired;
 * it is then either written or dropped (ring full with the drop policy, a
 * hardware overrun, an abort, a write failure).  At the end
 * acquired == written + dropped.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "run.h"

/* Record the first failure of @run; later ones only go to the log. */
void ldq_run_set_error(struct labdaq_run *run, int err, const char *fmt, ...)
{
	char msg[sizeof(run->errmsg)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ldq_err("%s", msg);
	pthread_mutex_lock(&run->lock);
	if (!run->error) {
		run->error = err;
		atomic_store_explicit(&run->error_pub, err, memory_order_relaxed);
		snprintf(run->errmsg, sizeof(run->errmsg), "%s", msg);
	}
	pthread_mutex_unlock(&run->lock);
}

/* Producer: items [index, index + count) are missing from the file. */
static void add_gap(struct labdaq_run *run, uint64_t index, uint64_t count)
{
	pthread_mutex_lock(&run->lock);
	if (run->ngaps && run->gaps[run->ngaps - 1].index + run->gaps[run->ngaps - 1].count ==
			  index) {
		run->gaps[run->ngaps - 1].count += count;
	} else {
		if (run->ngaps == run->gaps_cap) {
			size_t cap = run->gaps_cap ? run->gaps_cap * 2 : 16;
			struct ldq_gap *g = realloc(run->gaps, cap * sizeof(*g));

			if (!g) {
				/* Keep counting; merge into the last gap. */
				if (run->ngaps)
					run->gaps[run->ngaps - 1].count += count;
				pthread_mutex_unlock(&run->lock);
				atomic_fetch_add_explicit(&run->dropped, count,
							  memory_order_relaxed);
				return;
			}
			run->gaps = g;
			run->gaps_cap = cap;
		}
		run->gaps[run->ngaps].index = index;
		run->gaps[run->ngaps].count = count;
		run->ngaps++;
		atomic_store_explicit(&run->ngaps_pub, run->ngaps, memory_order_relaxed);
	}
	pthread_mutex_unlock(&run->lock);
	atomic_fetch_add_explicit(&run->dropped, count, memory_order_relaxed);
}

void ldq_run_tap(struct labdaq_run *run, const void *p, size_t items, uint64_t index,
		 uint64_t now)
{
	size_t len = items * run->item_bytes;

	/* The first block, then only when a reader asked since the last copy,
	 * at most 30 times a second: a run nobody watches copies nothing. */
	if (run->mode == LDQ_RUN_STREAM && run->tap_time_ns &&
	    (now - run->tap_time_ns < TAP_PERIOD_NS ||
	     !atomic_load_explicit(&run->tap_wanted, memory_order_relaxed)))
		return; /* (a sweep's point is small: every one is kept) */
	if (pthread_mutex_trylock(&run->tap_lock))
		return; /* a reader is copying: skip this one, never wait */
	if (len > run->tap_cap)
		len = run->tap_cap;
	memcpy(run->tap, p, len);
	run->tap_len = len;
	run->tap_index = index;
	run->tap_time_ns = now;
	atomic_store_explicit(&run->tap_wanted, 0, memory_order_relaxed);
	pthread_mutex_unlock(&run->tap_lock);
}

/*
 * Interrupt the producer's device read.  Never after the producer is done:
 * by then the device may serve the next run, which a late cancel would
 * break.  The producer sets producer_done under the same lock.
 */
static void cancel_device(struct labdaq_run *run)
{
	if (!run->dev->backend->stream_cancel || run->mode != LDQ_RUN_STREAM)
		return;
	pthread_mutex_lock(&run->lock);
	if (!atomic_load(&run->producer_done))
		run->dev->backend->stream_cancel(run->dev);
	pthread_mutex_unlock(&run->lock);
}

static int producer_should_end(struct labdaq_run *run, uint64_t index, uint64_t now)
{
	if (atomic_load_explicit(&run->request, memory_order_acquire) != REQ_NONE)
		return LABDAQ_STATE_STOPPED;
	if (atomic_load_explicit(&run->writer_failed, memory_order_acquire))
		return LABDAQ_STATE_FAILED;
	if (run->count && index >= run->count)
		return LABDAQ_STATE_COMPLETE;
	if (run->duration_ns && now - run->t0_ns >= run->duration_ns)
		return LABDAQ_STATE_COMPLETE;
	return 0;
}

static void *producer_main(void *arg)
{
	struct labdaq_run *run = arg;
	struct labdaq_device *dev = run->dev;
	uint64_t index = 0, rate_index = 0, rate_t = run->t0_ns;
	int end;

	for (;;) {
		uint64_t now = ldq_now_ns(), lost = 0;
		size_t n = run->block_items, bytes;
		int dropping = 0;
		void *p;
		long got;

		end = producer_should_end(run, index, now);
		if (end)
			break;
		if (now - rate_t >= RATE_PERIOD_NS) {
			atomic_store_explicit(&run->rate_now,
					      (double)(index - rate_index) * 1e9 / (double)(now - rate_t),
					      memory_order_relaxed);
			rate_index = index;
			rate_t = now;
		}
		if (run->count && run->count - index < n)
			n = run->count - index;
		bytes = n * run->item_bytes;
		p = ldq_ring_reserve(run->ring, bytes);
		if (!p) {
			if (run->on_full == LABDAQ_ON_FULL_BLOCK) {
				/* Backpressure.  Bounded waits so that the end
				 * conditions are checked again. */
				ldq_ring_wait_space(run->ring, bytes, WRITER_POLL_NS);
				continue;
			}
			p = run->scratch;
			dropping = 1;
		}
		ldq_clear_last_error();
		got = dev->backend->stream_read(dev, p, n, &lost);
		if (got == -ECANCELED) {
			/* A stop, an abort, the time up or the writer failed:
			 * the loop's check ends it.  Nothing else cancels. */
			if (producer_should_end(run, index, ldq_now_ns()))
				continue;
			ldq_run_set_error(run, -ECANCELED, "%s: the device cancelled the stream",
					  dev->uri);
			end = LABDAQ_STATE_FAILED;
			break;
		}
		if (got < 0) {
			const char *why = ldq_last_error();

			/* The backend's own words, when it logged any. */
			ldq_run_set_error(run, (int)got, "%s: device failed after %llu items: %s",
					  dev->uri, (unsigned long long)index,
					  why ? why : labdaq_strerror((int)got));
			end = LABDAQ_STATE_FAILED;
			break;
		}
		if ((size_t)got > n)
			got = (long)n;
		if (lost) {
			ldq_warn("%s: hardware overrun: %llu items lost at item %llu", dev->uri,
				 (unsigned long long)lost, (unsigned long long)index);
			add_gap(run, index, lost);
			index += lost;
		}
		ldq_run_tap(run, p, (size_t)got, index, now);
		if (dropping)
			add_gap(run, index, (uint64_t)got);
		else
			ldq_ring_commit(run->ring, (size_t)got * run->item_bytes);
		index += (uint64_t)got;
		atomic_store_explicit(&run->acquired, index, memory_order_relaxed);
	}
	if (dev->backend->stream_stop)
		dev->backend->stream_stop(dev);
	run->producer_end = end;
	/* Pairs with the writer's load-acquire: producer_end and the last
	 * commit are visible once producer_done is.  Under the lock: see
	 * cancel_device(). */
	pthread_mutex_lock(&run->lock);
	atomic_store_explicit(&run->producer_done, 1, memory_order_release);
	pthread_mutex_unlock(&run->lock);
	ldq_ring_wake(run->ring);
	return NULL;
}

static int write_all(int fd, const void *buf, size_t len, off_t off, size_t *done)
{
	const char *p = buf;

	*done = 0;
	while (*done < len) {
		ssize_t w = pwrite(fd, p + *done, len - *done, off + (off_t)*done);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		*done += (size_t)w;
	}
	return 0;
}

static void fill_meta(struct labdaq_run *run, struct ldq_meta *m, const char *status)
{
	memset(m, 0, sizeof(*m));
	m->status = status;
	m->device = run->dev->uri;
	m->backend = run->dev->backend->name;
	m->kind = run->dev->kind == LABDAQ_KIND_FRAMES ? "frames" : "samples";
	m->command = run->command;
	m->run_id = run->run_id;
	m->started_utc = run->started_utc;
	m->ended_utc = run->ended_utc[0] ? run->ended_utc : NULL;
	m->rate_hz = run->rate_hz;
	m->layout = run->layout;
	m->channels = run->file_chans;
	m->nchannels = run->nfile_chans;
	m->acquired = atomic_load(&run->acquired);
	m->written = atomic_load(&run->written);
	m->dropped = atomic_load(&run->dropped);
	m->ring_capacity_bytes = ldq_ring_capacity(run->ring);
	m->ring_policy = run->on_full == LABDAQ_ON_FULL_DROP ? "drop" : "block";
	m->ring_high_water_bytes = ldq_ring_high_water(run->ring);
}

/* Writer: publish the items on disk in the header and the sidecar. */
static int checkpoint(struct labdaq_run *run, const char *status, int sync)
{
	uint64_t items = atomic_load_explicit(&run->written, memory_order_relaxed);
	struct ldq_meta m;
	int ret;

	/* The data must be durable before a header that covers it. */
	if (sync && fdatasync(run->fd) && errno != EINVAL)
		return -errno;
	ret = ldq_npy_write_header(run->fd, &run->layout, items);
	if (ret)
		return ret;
	fill_meta(run, &m, status);
	/* Copy the gaps so that the producer never waits for the fsyncs of
	 * the sidecar's replacement. */
	pthread_mutex_lock(&run->lock);
	if (run->ngaps > run->ckpt_gaps_cap) {
		struct ldq_gap *g = realloc(run->ckpt_gaps, run->gaps_cap * sizeof(*g));

		if (g) {
			run->ckpt_gaps = g;
			run->ckpt_gaps_cap = run->gaps_cap;
		}
	}
	m.ngaps = run->ngaps <= run->ckpt_gaps_cap ? run->ngaps : run->ckpt_gaps_cap;
	if (m.ngaps)
		memcpy(run->ckpt_gaps, run->gaps, m.ngaps * sizeof(*run->gaps));
	m.gaps = run->ckpt_gaps;
	m.error_code = run->error;
	memcpy(run->ckpt_errmsg, run->errmsg, sizeof(run->errmsg));
	m.error = run->error ? run->ckpt_errmsg : NULL;
	pthread_mutex_unlock(&run->lock);
	return ldq_meta_write(run->meta, &m);
}

/*
 * Keep dirty pages bounded: start writeback of what was just written, and
 * once a window is more than one window behind, wait for it and drop it
 * from the page cache.
 */
static int write_behind(struct labdaq_run *run, uint64_t *wb_off, uint64_t end_off)
{
	if (sync_file_range(run->fd, (off_t)(end_off - WRITEBEHIND_WINDOW / 4),
			    WRITEBEHIND_WINDOW / 4, SYNC_FILE_RANGE_WRITE) && errno == EIO)
		return -EIO;
	while (end_off - *wb_off >= 2 * (uint64_t)WRITEBEHIND_WINDOW) {
		if (sync_file_range(run->fd, (off_t)*wb_off, WRITEBEHIND_WINDOW,
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER) &&
		    errno == EIO)
			return -EIO;
		posix_fadvise(run->fd, (off_t)*wb_off, WRITEBEHIND_WINDOW, POSIX_FADV_DONTNEED);
		*wb_off += WRITEBEHIND_WINDOW;
	}
	return 0;
}

/*
 * The writer's file state.  With O_DIRECT (where the filesystem takes it),
 * whole pages go straight from the ring to the disk, bypassing the page
 * cache: the ring is page-aligned and the payload starts at 4096, so a
 * page-multiple region of the ring lands on page-aligned file offsets.  A
 * partial page is written through the ordinary descriptor: at the end, and
 * at checkpoints (without releasing it from the ring: the next direct write
 * of that page replaces it), so the file shows every item at a checkpoint.
 */
struct wfile {
	int dfd;         /* O_DIRECT descriptor, or -1 */
	uint64_t bytes;  /* payload bytes written and released from the ring */
	uint64_t shown;  /* payload bytes in the file, >= bytes */
	uint64_t wb_off; /* write-behind: the page cache is clean before it */
};

static int direct_open(struct labdaq_run *run, struct wfile *w)
{
	char self[64];

	w->dfd = -1;
	if (getenv("LABDAQ_NO_DIRECT"))
		return 0;
	/* The same file as run->fd, whatever happened to its name since. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", run->fd);
	w->dfd = open(self, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (w->dfd < 0)
		ldq_dbg("%s: no O_DIRECT here (%s): buffered writes with write-behind",
			run->path, labdaq_strerror(-errno));
	return 0;
}

/* Write @n bytes at @p of the ring to the payload offset @off. */
static int wf_write(struct labdaq_run *run, struct wfile *w, const char *p, size_t n,
		    uint64_t off, size_t *done)
{
	int ret;

	if (w->dfd >= 0 && !(n & 4095) && !(off & 4095) && !((uintptr_t)p & 4095)) {
		ret = write_all(w->dfd, p, n, (off_t)(LDQ_NPY_HEADER_BYTES + off), done);
		if (ret != -EINVAL)
			return ret;
		/* The filesystem refuses this alignment: buffered from now on. */
		ldq_dbg("%s: O_DIRECT write refused: buffered writes", run->path);
		close(w->dfd);
		w->dfd = -1;
		if (*done)
			return 0;
	}
	ret = write_all(run->fd, p, n, (off_t)(LDQ_NPY_HEADER_BYTES + off), done);
	if (!ret && w->dfd < 0)
		ret = write_behind(run, &w->wb_off, LDQ_NPY_HEADER_BYTES + off + *done);
	return ret;
}

static void publish_written(struct labdaq_run *run, struct wfile *w)
{
	if (w->shown < w->bytes)
		w->shown = w->bytes;
	atomic_store_explicit(&run->written, w->shown / run->item_bytes, memory_order_relaxed);
}

static void writer_fail(struct labdaq_run *run, int ret)
{
	ldq_run_set_error(run, ret, "writing %s: %s", run->path, labdaq_strerror(ret));
	atomic_store_explicit(&run->writer_failed, 1, memory_order_release);
	cancel_device(run);
}

static int gap_cmp(const void *a, const void *b)
{
	const struct ldq_gap *x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

/*
 * After an abort or a failure: the @count items that followed the first
 * @kept items of the file were discarded.  Record them as gaps, at their
 * acquisition indexes (which skip the gaps already recorded), so that the
 * gaps always account for every dropped item.  The producer has ended.
 */
static void add_tail_gaps(struct labdaq_run *run, uint64_t kept, uint64_t count)
{
	uint64_t idx = kept;
	size_t i, j;

	pthread_mutex_lock(&run->lock);
	/* The acquisition index of file item @kept. */
	for (i = 0; i < run->ngaps && run->gaps[i].index <= idx; i++)
		idx += run->gaps[i].count;
	pthread_mutex_unlock(&run->lock);
	while (count) {
		uint64_t take = count;

		pthread_mutex_lock(&run->lock);
		for (j = 0; j < run->ngaps; j++) {
			if (run->gaps[j].index <= idx &&
			    idx < run->gaps[j].index + run->gaps[j].count)
				idx = run->gaps[j].index + run->gaps[j].count;
		}
		for (j = 0; j < run->ngaps; j++)
			if (run->gaps[j].index > idx && run->gaps[j].index - idx < take)
				take = run->gaps[j].index - idx;
		pthread_mutex_unlock(&run->lock);
		add_gap(run, idx, take);
		idx += take;
		count -= take;
	}
	/* Keep them in index order, adjacent ones merged. */
	pthread_mutex_lock(&run->lock);
	qsort(run->gaps, run->ngaps, sizeof(*run->gaps), gap_cmp);
	for (i = 1, j = 0; i < run->ngaps; i++) {
		if (run->gaps[j].index + run->gaps[j].count == run->gaps[i].index)
			run->gaps[j].count += run->gaps[i].count;
		else
			run->gaps[++j] = run->gaps[i];
	}
	if (run->ngaps)
		run->ngaps = j + 1;
	atomic_store_explicit(&run->ngaps_pub, run->ngaps, memory_order_relaxed);
	pthread_mutex_unlock(&run->lock);
}

static void *writer_main(void *arg)
{
	struct labdaq_run *run = arg;
	const size_t ib = run->item_bytes;
	const size_t block_bytes = run->block_items * ib;
	size_t cap = ldq_ring_capacity(run->ring);
	size_t chunk_max = (cap / 4 < WRITE_CHUNK_MAX ? cap / 4 : WRITE_CHUNK_MAX) & ~(size_t)4095;
	size_t chunk_min = (cap / 8 < WRITE_CHUNK_MIN ? cap / 8 : WRITE_CHUNK_MIN) & ~(size_t)4095;
	uint64_t next_ckpt = ldq_now_ns() + run->checkpoint_ns;
	struct wfile w = { .wb_off = LDQ_NPY_HEADER_BYTES };
	int aborted = 0, failed = 0, time_up = 0, state, ret;

	if (chunk_max < 4096)
		chunk_max = 4096;
	if (chunk_min < 4096)
		chunk_min = 4096;
	direct_open(run, &w);
	for (;;) {
		int pdone = atomic_load_explicit(&run->producer_done, memory_order_acquire);
		int req = atomic_load_explicit(&run->request, memory_order_acquire);
		uint64_t now = ldq_now_ns();
		int ckpt_due = now >= next_ckpt, starving, at_end;
		size_t avail, n, done, head;
		const char *p;
		int64_t wait_ns;

		/* The duration holds even while a device read blocks (a stalled
		 * device): the producer sees the time is up once cancelled. */
		if (run->duration_ns && !time_up && !pdone && now - run->t0_ns >= run->duration_ns) {
			time_up = 1;
			cancel_device(run);
		}
		if (req == REQ_ABORT || failed) {
			/* Discard what is readable; the producer ends soon. */
			aborted = !failed;
			p = ldq_ring_peek(run->ring, &avail);
			if (avail)
				ldq_ring_release(run->ring, ldq_ring_readable(run->ring));
			if (pdone)
				break;
			ldq_ring_wait_data(run->ring, 1, WRITER_POLL_NS);
			continue;
		}
		p = ldq_ring_peek(run->ring, &avail);
		/*
		 * Whole pages while streaming, from page-aligned offsets.  All
		 * of it once the producer is done, or when the producer cannot
		 * reserve its next block (a ring of a few items); then the next
		 * write realigns to a page through the page cache.  A peek
		 * stops at the end of the ring's storage (at_end: the rest
		 * follows from its start): what is there is written at once.
		 */
		at_end = avail < ldq_ring_readable(run->ring);
		starving = ldq_ring_readable(run->ring) + block_bytes > cap;
		head = (size_t)(-w.bytes & 4095);
		if (head)
			n = avail >= head ? head
			    : (pdone || starving || ckpt_due || at_end) ? avail : 0;
		else
			n = (avail < chunk_max ? avail : chunk_max) & ~(size_t)4095;
		if (!n && (pdone || starving || at_end))
			n = avail;
		if (n && (n >= chunk_min || head || pdone || ckpt_due || starving || at_end)) {
			ret = wf_write(run, &w, p, n, w.bytes, &done);
			w.bytes += done;
			ldq_ring_release(run->ring, done);
			publish_written(run, &w);
			if (ret) {
				writer_fail(run, ret);
				failed = 1;
				continue;
			}
			if (run->test_write_delay_us)
				usleep(run->test_write_delay_us);
			if (!ckpt_due)
				continue;
		} else if (pdone && !avail) {
			break;
		}
		if (ckpt_due && !pdone) {
			/* Show the partial page too, keeping it in the ring;
			 * as one piece where it crosses the end of the ring. */
			ldq_ring_peek(run->ring, &avail);
			avail = ldq_ring_readable(run->ring);
			if (avail && avail < chunk_max) {
				p = ldq_ring_peek_n(run->ring, avail);
				ret = write_all(run->fd, p, avail,
						(off_t)(LDQ_NPY_HEADER_BYTES + w.bytes), &done);
				if (ret) {
					writer_fail(run, ret);
					failed = 1;
					continue;
				}
				w.shown = w.bytes + done;
				publish_written(run, &w);
			}
			ret = checkpoint(run, "running", 1);
			if (ret)
				ldq_warn("%s: checkpoint failed: %s", run->path, labdaq_strerror(ret));
			next_ckpt = ldq_now_ns() + run->checkpoint_ns;
			continue;
		}
		wait_ns = next_ckpt > now ? (int64_t)(next_ckpt - now) : 0;
		ldq_ring_wait_data(run->ring, chunk_min,
				   wait_ns < WRITER_POLL_NS ? wait_ns : WRITER_POLL_NS);
	}
	if (w.dfd >= 0)
		close(w.dfd);

	/* Finalize: whole items only (an abort or a failed write may leave a
	 * partial one), then the header, then the sidecar. */
	if (w.shown < w.bytes)
		w.shown = w.bytes;
	w.shown -= w.shown % ib;
	if (aborted || failed) {
		/* Items committed but not in the file are dropped, as gaps. */
		uint64_t committed = ldq_ring_committed(run->ring) / ib;

		if (committed > w.shown / ib)
			add_tail_gaps(run, w.shown / ib, committed - w.shown / ib);
	}
	if (ftruncate(run->fd, (off_t)(LDQ_NPY_HEADER_BYTES + w.shown)))
		ldq_warn("%s: truncating: %s", run->path, labdaq_strerror(-errno));
	atomic_store(&run->written, w.shown / ib);
	if (run->error)
		state = LABDAQ_STATE_FAILED;
	else if (aborted)
		state = LABDAQ_STATE_ABORTED;
	else
		state = run->producer_end;
	ldq_utc_now(run->ended_utc, sizeof(run->ended_utc));
	atomic_store(&run->t_end_ns, ldq_now_ns());
	ret = checkpoint(run, labdaq_state_name(state), 1);
	if (ret) {
		ldq_run_set_error(run, ret, "finalizing %s: %s", run->path, labdaq_strerror(ret));
		state = LABDAQ_STATE_FAILED;
	}
	close(run->fd);
	run->fd = -1;
	/* Trims the sidecar's reservation and removes the spare. */
	ldq_meta_close(run->meta);
	run->meta = NULL;
	ldq_run_finish(run, state);
	return NULL;
}

LABDAQ_API void labdaq_run_config_init(struct labdaq_run_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->ring_bytes = DEFAULT_RING_BYTES;
	cfg->on_full = LABDAQ_ON_FULL_BLOCK;
	cfg->checkpoint_ms = 1000;
}

/* Resolve cfg->channels into input channel indexes sharing one dtype. */
static int select_channels(struct labdaq_run *run, const char *list)
{
	struct labdaq_device *dev = run->dev;
	char *copy = NULL, *tok, *save = NULL;
	int dtype = -1;

	run->chans = calloc(dev->nchans ? dev->nchans : 1, sizeof(*run->chans));
	run->file_chans = calloc(dev->nchans ? dev->nchans : 1, sizeof(*run->file_chans));
	if (!run->chans || !run->file_chans)
		return -ENOMEM;
	if (dev->kind == LABDAQ_KIND_FRAMES) {
		if (list) {
			ldq_err("%s: a frames device has no channels to select", dev->uri);
			return -EINVAL;
		}
		for (unsigned int i = 0; i < dev->nchans; i++)
			if (!dev->chans[i].output)
				labdaq_device_channel(dev, i, &run->file_chans[run->nfile_chans++]);
		return 0;
	}
	if (list) {
		copy = strdup(list);
		if (!copy)
			return -ENOMEM;
	}
	for (unsigned int i = 0; !list && i < dev->nchans; i++)
		if (!dev->chans[i].output)
			run->chans[run->nchans++] = i;
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int found = ldq_device_find_channel(dev, tok, 0);
		unsigned int i = (unsigned int)found;

		if (found < 0) {
			ldq_err("%s: no input channel '%s'", dev->uri, tok);
			free(copy);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < run->nchans; j++) {
			if (run->chans[j] == i) {
				ldq_err("%s: channel '%s' given twice", dev->uri, tok);
				free(copy);
				return -EINVAL;
			}
		}
		run->chans[run->nchans++] = i;
	}
	free(copy);
	if (!run->nchans) {
		ldq_err("%s: no input channel selected", dev->uri);
		return -EINVAL;
	}
	for (unsigned int j = 0; j < run->nchans; j++) {
		const struct ldq_channel *c = &dev->chans[run->chans[j]];

		if (dtype >= 0 && c->dtype != dtype) {
			ldq_err("%s: channels of different types cannot share one file", dev->uri);
			return -EINVAL;
		}
		dtype = c->dtype;
		labdaq_device_channel(dev, run->chans[j], &run->file_chans[run->nfile_chans++]);
	}
	return 0;
}

static int setup_layout(struct labdaq_run *run)
{
	struct labdaq_device *dev = run->dev;
	int dtype = dev->kind == LABDAQ_KIND_FRAMES ? dev->frame_dtype
						    : dev->chans[run->chans[0]].dtype;
	const char *descr = labdaq_dtype_numpy(dtype);

	if (!descr || !labdaq_dtype_size(dtype))
		return -EINVAL;
	snprintf(run->layout.descr, sizeof(run->layout.descr), "%s", descr);
	if (dev->kind == LABDAQ_KIND_FRAMES) {
		run->layout.ndim = 2;
		run->layout.dims[0] = dev->height;
		run->layout.dims[1] = dev->width;
	} else {
		run->layout.ndim = 1;
		run->layout.dims[0] = run->nchans;
	}
	run->item_bytes = ldq_npy_item_bytes(&run->layout);
	return run->item_bytes ? 0 : -EINVAL;
}

/* MemAvailable of /proc/meminfo, in bytes (all of RAM if unreadable). */
static uint64_t mem_available(void)
{
	unsigned long long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	if (!kb)
		return (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	return (uint64_t)kb * 1024;
}

static size_t choose_block_items(const struct labdaq_run *run, size_t ring_cap)
{
	size_t ib = run->item_bytes, n;

	if (run->dev->kind == LABDAQ_KIND_FRAMES)
		return 1;
	n = SAMPLE_BLOCK_BYTES / ib;
	/* Paced: about 10 ms of samples a block, for a lively progress. */
	if (run->rate_hz > 0 && run->rate_hz / 100 < (double)n)
		n = (size_t)(run->rate_hz / 100);
	if (n * ib > ring_cap / 4)
		n = ring_cap / 4 / ib;
	return n ? n : 1;
}

/*
 * Replacing files (overwrite): the old ones are first renamed aside, so
 * that a start that fails puts them back instead of leaving nothing.
 */
struct aside {
	char *path[2];  /* the .npy and its .json */
	char *moved[2]; /* where they are now, or NULL */
};

static void aside_name(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	snprintf(buf, len, "%.*s.%s.labdaq-old-%d", slash ? (int)(slash - path + 1) : 0, path,
		 slash ? slash + 1 : path, (int)getpid());
}

static int set_aside(struct aside *a, const char *npy, const char *json)
{
	char buf[4096];

	a->path[0] = strdup(npy);
	a->path[1] = strdup(json);
	if (!a->path[0] || !a->path[1])
		return -ENOMEM;
	for (int i = 0; i < 2; i++) {
		aside_name(a->path[i], buf, sizeof(buf));
		if (!rename(a->path[i], buf)) {
			a->moved[i] = strdup(buf);
			if (!a->moved[i])
				return -ENOMEM;
		} else if (errno != ENOENT) {
			return -errno;
		}
	}
	return 0;
}

/* @keep: the new files stay (drop the old ones), else the old come back. */
static void end_aside(struct aside *a, int keep)
{
	for (int i = 0; i < 2; i++) {
		if (a->moved[i] && (keep || rename(a->moved[i], a->path[i])))
			unlink(a->moved[i]);
		free(a->moved[i]);
		free(a->path[i]);
		a->moved[i] = a->path[i] = NULL;
	}
}

static int create_files(struct labdaq_run *run, int overwrite, struct aside *a)
{
	char *json = ldq_meta_path(run->path);
	struct stat st;
	int ret;

	if (!json)
		return -ENOMEM;
	if (!overwrite && !lstat(json, &st)) {
		ldq_err("%s exists; refusing to replace it", json);
		free(json);
		return -EEXIST;
	}
	if (overwrite) {
		ret = set_aside(a, run->path, json);
		if (ret) {
			ldq_err("cannot replace %s: %s", run->path, labdaq_strerror(ret));
			end_aside(a, 0);
			free(json);
			return ret;
		}
	}
	free(json);
	run->fd = open(run->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (run->fd < 0) {
		ret = -errno;
		ldq_err("cannot create %s: %s", run->path, labdaq_strerror(ret));
		return ret;
	}
	ret = ldq_npy_write_header(run->fd, &run->layout, 0);
	if (!ret)
		ret = ldq_meta_open(run->path, &run->meta);
	if (ret)
		ldq_err("cannot write %s: %s", run->path, labdaq_strerror(ret));
	return ret;
}

int ldq_run_new(struct labdaq_device *dev, int mode, const char *path, const char *command,
		struct labdaq_run **out)
{
	struct labdaq_run *run;
	pthread_condattr_t ca;

	*out = NULL;
	if (atomic_exchange(&dev->busy, 1)) {
		ldq_err("%s: a run is already active on this device", dev->uri);
		return -EBUSY;
	}
	run = calloc(1, sizeof(*run));
	if (!run) {
		atomic_store(&dev->busy, 0);
		return -ENOMEM;
	}
	run->mode = mode;
	run->fd = -1;
	run->lock_fd = -1;
	run->dev = dev;
	run->end_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (run->end_fd < 0) {
		int ret = -errno;

		atomic_store(&dev->busy, 0);
		free(run);
		return ret;
	}
	pthread_mutex_init(&run->lock, NULL);
	pthread_mutex_init(&run->tap_lock, NULL);
	pthread_mutex_init(&run->done_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&run->done_cond, &ca);
	pthread_cond_init(&run->wake_cond, &ca);
	pthread_condattr_destroy(&ca);
	atomic_init(&run->state, LABDAQ_STATE_QUEUED);
	run->path = strdup(path);
	run->command = command ? strdup(command) : NULL;
	if (!run->path || (command && !run->command)) {
		atomic_store(&dev->busy, 0);
		ldq_run_destroy(run);
		return -ENOMEM;
	}
	*out = run;
	return 0;
}

int ldq_run_lock_device(struct labdaq_run *run)
{
	struct labdaq_holder h;
	struct timespec ts;
	int ret;

	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(run->run_id, sizeof(run->run_id), "%lld-%d-%04x", (long long)ts.tv_sec,
		 (int)getpid(), (unsigned int)((uintptr_t)run >> 4) & 0xffff);
	ret = ldq_lock_acquire(run->dev->lock_key, run->dev->uri,
			       run->command ? run->command :
			       run->mode == LDQ_RUN_SWEEP ? "a sweep (liblabdaq)" :
							    "a stream (liblabdaq)",
			       run->path, run->run_id, &run->lock_fd);
	if (ret == -EBUSY && ldq_lock_holder(run->dev->lock_key, &h) == 1)
		ldq_info("%s is busy: run %s of %s (pid %d) since %s: %s", run->dev->uri, h.run_id,
			h.user, h.pid, h.since_utc, h.what);
	else if (ret == -EBUSY)
		ldq_info("%s is busy: another run holds it", run->dev->uri);
	return ret;
}

void ldq_run_finish(struct labdaq_run *run, int state)
{
	ldq_lock_release(run->lock_fd);
	run->lock_fd = -1;
	atomic_store(&run->dev->busy, 0);
	pthread_mutex_lock(&run->done_lock);
	atomic_store(&run->state, state);
	run->finished = 1;
	pthread_cond_broadcast(&run->done_cond);
	pthread_mutex_unlock(&run->done_lock);
	if (eventfd_write(run->end_fd, 1))
		ldq_warn("signalling the end of a run: %s", labdaq_strerror(-errno));
}

int ldq_run_wait_request(struct labdaq_run *run, uint64_t deadline_ns)
{
	struct timespec ts = { .tv_sec = (time_t)(deadline_ns / 1000000000u),
			       .tv_nsec = (long)(deadline_ns % 1000000000u) };
	int req;

	pthread_mutex_lock(&run->lock);
	while (!(req = atomic_load(&run->request)) && ldq_now_ns() < deadline_ns)
		pthread_cond_timedwait(&run->wake_cond, &run->lock, &ts);
	pthread_mutex_unlock(&run->lock);
	return req;
}

void ldq_run_destroy(struct labdaq_run *run)
{
	if (run->fd >= 0)
		close(run->fd);
	if (run->meta)
		ldq_meta_close(run->meta);
	ldq_lock_release(run->lock_fd);
	if (run->end_fd >= 0)
		close(run->end_fd);
	ldq_ring_free(run->ring);
	pthread_mutex_destroy(&run->lock);
	pthread_mutex_destroy(&run->tap_lock);
	pthread_mutex_destroy(&run->done_lock);
	pthread_cond_destroy(&run->done_cond);
	pthread_cond_destroy(&run->wake_cond);
	free(run->path);
	free(run->command);
	free(run->chans);
	free(run->file_chans);
	free(run->gaps);
	free(run->ckpt_gaps);
	free(run->scratch);
	free(run->tap);
	free(run->sweep);
	free(run);
}

static void remove_files(struct labdaq_run *run)
{
	char *json = ldq_meta_path(run->path);

	unlink(run->path);
	if (json)
		unlink(json);
	free(json);
}

LABDAQ_API int labdaq_run_start(labdaq_device *dev, const struct labdaq_run_config *cfg,
				labdaq_run **out)
{
	struct aside aside = { { NULL, NULL }, { NULL, NULL } };
	struct ldq_stream_params sp;
	struct labdaq_run *run;
	int ret, created = 0;
	size_t ring_bytes;

	if (out)
		*out = NULL;
	if (!dev || !cfg || !out || !cfg->path || !*cfg->path)
		return -EINVAL;
	if (!(cfg->rate_hz >= 0) || !isfinite(cfg->rate_hz) || cfg->rate_hz > 1e12 ||
	    cfg->duration_ns > UINT64_MAX / 2 || cfg->on_full < LABDAQ_ON_FULL_BLOCK ||
	    cfg->on_full > LABDAQ_ON_FULL_DROP) {
		ldq_err("invalid run configuration (rate or full-ring policy)");
		return -EINVAL;
	}
	if (!dev->backend->stream_start || !dev->backend->stream_read) {
		ldq_err("%s: streaming is not supported by the %s backend", dev->uri,
			dev->backend->name);
		return -EOPNOTSUPP;
	}
	ret = ldq_run_new(dev, LDQ_RUN_STREAM, cfg->path, cfg->command, &run);
	if (ret)
		return ret;
	run->count = cfg->count;
	run->duration_ns = cfg->duration_ns;
	run->rate_hz = cfg->rate_hz;
	if (cfg->rate_hz > 0 && cfg->duration_ns) {
		/* Paced: the duration is the items due within it, exactly (a
		 * device's schedule starts a little before the run's clock);
		 * the clock still ends a run whose device stalls, a second
		 * late. */
		double due = ceil(cfg->rate_hz * (double)cfg->duration_ns / 1e9 - 1e-6);
		uint64_t n = due < 1 ? 1 : (uint64_t)due;

		if (!run->count || n < run->count)
			run->count = n;
		run->duration_ns += 1000000000u;
	}
	run->on_full = cfg->on_full;
	/* A test knob: a slow disk, to exercise a full ring deterministically. */
	if (getenv("LABDAQ_TEST_WRITE_DELAY_US"))
		run->test_write_delay_us = (unsigned int)strtoul(getenv("LABDAQ_TEST_WRITE_DELAY_US"),
								 NULL, 10);
	run->checkpoint_ns = (uint64_t)(cfg->checkpoint_ms ? cfg->checkpoint_ms : 1000) * 1000000u;

	ret = select_channels(run, cfg->channels);
	if (!ret)
		ret = setup_layout(run);
	if (ret)
		goto fail;
	ring_bytes = cfg->ring_bytes ? cfg->ring_bytes : DEFAULT_RING_BYTES;
	if (ring_bytes < run->item_bytes) {
		ldq_err("a ring of %zu bytes cannot hold one item of %zu bytes", ring_bytes,
			run->item_bytes);
		ret = -EINVAL;
		goto fail;
	}
	if (ring_bytes > mem_available() / 10 * 8) {
		ldq_err("a ring of %zu MiB does not fit in the memory available (%llu MiB): "
			"choose a smaller one", ring_bytes >> 20,
			(unsigned long long)(mem_available() >> 20));
		ret = -ENOMEM;
		goto fail;
	}
	ret = ldq_ring_new(ring_bytes, &run->ring);
	if (ret) {
		ldq_err("cannot allocate a ring of %zu bytes: %s", ring_bytes,
			labdaq_strerror(ret));
		goto fail;
	}
	run->block_items = choose_block_items(run, ldq_ring_capacity(run->ring));
	run->tap_cap = run->block_items * run->item_bytes;
	run->tap = malloc(run->tap_cap);
	if (run->on_full == LABDAQ_ON_FULL_DROP)
		run->scratch = malloc(run->tap_cap);
	if (!run->tap || (run->on_full == LABDAQ_ON_FULL_DROP && !run->scratch)) {
		ret = -ENOMEM;
		goto fail;
	}

	/* Checks done: the device lock, then the files. */
	ret = ldq_run_lock_device(run);
	if (ret)
		goto fail;
	ret = create_files(run, cfg->overwrite, &aside);
	created = ret != -EEXIST && run->fd >= 0;
	if (ret)
		goto fail;

	/* The sidecar before the device starts: nothing slow (a first fsync,
	 * jansson seeding its hashes from /dev/urandom early in a boot) may
	 * happen while the device's FIFO fills. */
	ldq_utc_now(run->started_utc, sizeof(run->started_utc));
	ret = checkpoint(run, "running", 0);
	if (ret) {
		ldq_err("cannot write the metadata of %s: %s", run->path, labdaq_strerror(ret));
		goto fail;
	}
	memset(&sp, 0, sizeof(sp));
	sp.rate_hz = run->rate_hz;
	sp.chans = run->chans;
	sp.nchans = run->nchans;
	sp.item_bytes = run->item_bytes;
	sp.block_items = run->block_items;
	ret = dev->backend->stream_start(dev, &sp);
	if (ret) {
		ldq_err("%s: cannot start streaming: %s", dev->uri, labdaq_strerror(ret));
		goto fail;
	}
	run->t0_ns = ldq_now_ns();
	atomic_store(&run->state, LABDAQ_STATE_RUNNING);
	ret = -pthread_create(&run->writer, NULL, writer_main, run);
	if (ret)
		goto fail_stream;
	run->writer_started = 1;
	ret = -pthread_create(&run->producer, NULL, producer_main, run);
	if (ret) {
		/* The writer sees producer_done and finalizes an empty file. */
		atomic_store(&run->request, REQ_ABORT);
		atomic_store_explicit(&run->producer_done, 1, memory_order_release);
		ldq_ring_wake(run->ring);
		pthread_join(run->writer, NULL);
		run->writer_started = 0;
		created = 1;
		goto fail_stream;
	}
	run->producer_started = 1;
	end_aside(&aside, 1);
	*out = run;
	return 0;

fail_stream:
	if (dev->backend->stream_stop)
		dev->backend->stream_stop(dev);
fail:
	if (created)
		remove_files(run);
	end_aside(&aside, 0); /* the replaced files come back */
	atomic_store(&dev->busy, 0);
	ldq_run_destroy(run);
	return ret;
}

LABDAQ_API int labdaq_run_progress(labdaq_run *run, struct labdaq_progress *out)
{
	memset(out, 0, sizeof(*out));
	out->state = atomic_load(&run->state);
	out->acquired = atomic_load_explicit(&run->acquired, memory_order_relaxed);
	out->written = atomic_load_explicit(&run->written, memory_order_relaxed);
	out->dropped = atomic_load_explicit(&run->dropped, memory_order_relaxed);
	out->gaps = atomic_load_explicit(&run->ngaps_pub, memory_order_relaxed);
	if (run->ring) {
		out->ring_fill_bytes = ldq_ring_fill(run->ring);
		out->ring_high_water_bytes = ldq_ring_high_water(run->ring);
		out->ring_capacity_bytes = ldq_ring_capacity(run->ring);
	}
	out->item_bytes = run->item_bytes;
	out->target = run->count;
	out->elapsed_ns = (atomic_load(&run->t_end_ns) ?: ldq_now_ns()) - run->t0_ns;
	out->rate_hz = atomic_load_explicit(&run->rate_now, memory_order_relaxed);
	/* Once ended (or in the first quarter second): the mean rate. */
	if ((atomic_load(&run->t_end_ns) || out->rate_hz == 0) && out->elapsed_ns)
		out->rate_hz = (double)out->acquired * 1e9 / (double)out->elapsed_ns;
	out->error = atomic_load_explicit(&run->error_pub, memory_order_relaxed);
	return 0;
}

LABDAQ_API int labdaq_run_latest(labdaq_run *run, void *buf, size_t len, uint64_t *index,
				 uint64_t *items)
{
	int ret;

	atomic_store_explicit(&run->tap_wanted, 1, memory_order_relaxed);
	pthread_mutex_lock(&run->tap_lock);
	if (!run->tap_time_ns) {
		pthread_mutex_unlock(&run->tap_lock);
		return -EAGAIN;
	}
	if (len > run->tap_len)
		len = run->tap_len;
	memcpy(buf, run->tap, len);
	if (index)
		*index = run->tap_index;
	if (items)
		*items = len / run->item_bytes;
	ret = (int)len;
	pthread_mutex_unlock(&run->tap_lock);
	return ret;
}

static int request(struct labdaq_run *run, int req)
{
	int cur = atomic_load(&run->request);

	while (cur < req && !atomic_compare_exchange_weak(&run->request, &cur, req))
		;
	cancel_device(run);
	if (run->ring)
		ldq_ring_wake(run->ring);
	/* A sweep waiting out its delay. */
	pthread_mutex_lock(&run->lock);
	pthread_cond_broadcast(&run->wake_cond);
	pthread_mutex_unlock(&run->lock);
	return 0;
}

LABDAQ_API int labdaq_run_stop(labdaq_run *run)
{
	return request(run, REQ_STOP);
}

LABDAQ_API int labdaq_run_abort(labdaq_run *run)
{
	return request(run, REQ_ABORT);
}

LABDAQ_API int labdaq_run_wait(labdaq_run *run, int timeout_ms)
{
	struct timespec ts;
	int ret = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (timeout_ms > 0) {
		ts.tv_sec += timeout_ms / 1000;
		ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
	}
	pthread_mutex_lock(&run->done_lock);
	while (!run->finished && ret == 0) {
		if (timeout_ms < 0)
			pthread_cond_wait(&run->done_cond, &run->done_lock);
		else if (timeout_ms == 0)
			ret = ETIMEDOUT;
		else
			ret = pthread_cond_timedwait(&run->done_cond, &run->done_lock, &ts);
	}
	ret = run->finished ? 0 : -ETIMEDOUT;
	pthread_mutex_unlock(&run->done_lock);
	return ret;
}

LABDAQ_API int labdaq_run_fd(labdaq_run *run)
{
	return run->end_fd;
}

LABDAQ_API int labdaq_run_state(labdaq_run *run)
{
	return atomic_load(&run->state);
}

LABDAQ_API int labdaq_run_error(labdaq_run *run, const char **msg)
{
	int err;

	pthread_mutex_lock(&run->lock);
	err = run->error;
	if (msg)
		*msg = err ? run->errmsg : NULL;
	pthread_mutex_unlock(&run->lock);
	return err;
}

LABDAQ_API void labdaq_run_free(labdaq_run *run)
{
	if (!run)
		return;
	if (labdaq_run_wait(run, 0))
		labdaq_run_abort(run);
	if (run->producer_started)
		pthread_join(run->producer, NULL);
	if (run->writer_started)
		pthread_join(run->writer, NULL);
	ldq_run_destroy(run);
}
