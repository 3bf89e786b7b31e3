/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer.c - a stream's writer thread (writer.h): peeks what is readable
 * in the ring, writes it to the .npy file in large chunks, releases it;
 * keeps the page cache from filling memory; at every checkpoint rewrites
 * the header and the sidecar; at the end finalizes both.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gaps.h"
#include "util.h"
#include "writer.h"

/* ---- the plan: no I/O, no atomics ---- */

size_t ldq_writer_show_bytes(size_t readable, size_t chunk_max)
{
	return readable && readable < chunk_max ? readable : 0;
}

void ldq_writer_chunks(size_t capacity, size_t *chunk_min, size_t *chunk_max)
{
	size_t max = (capacity / 4 < WRITE_CHUNK_MAX ? capacity / 4 : WRITE_CHUNK_MAX);
	size_t min = (capacity / 8 < WRITE_CHUNK_MIN ? capacity / 8 : WRITE_CHUNK_MIN);

	max &= ~(size_t)(LDQ_PAGE - 1);
	min &= ~(size_t)(LDQ_PAGE - 1);
	*chunk_max = max < LDQ_PAGE ? LDQ_PAGE : max;
	*chunk_min = min < LDQ_PAGE ? LDQ_PAGE : min;
}

/*
 * How much to write now.  Whole pages while streaming, from page-aligned
 * offsets.  All of it once the producer is done, or when the producer
 * cannot reserve its next block (starving: a ring of a few items); then
 * the next write realigns to a page through the page cache.  A peek stops
 * at the end of the ring's storage (at_end: the rest follows from its
 * start): what is there is written at once.  0: nothing worth a write.
 */
static size_t plan_bytes(const struct ldq_wplan_in *in, int due)
{
	int at_end = in->avail < in->readable;
	int starving = in->readable + in->block_bytes > in->capacity;
	int urgent = in->producer_done || starving || at_end;
	size_t head = (size_t)(-in->written & (LDQ_PAGE - 1)), n;

	if (head)
		n = in->avail >= head ? head : (urgent || due) ? in->avail : 0;
	else
		n = (in->avail < in->chunk_max ? in->avail : in->chunk_max) &
		    ~(size_t)(LDQ_PAGE - 1);
	if (!n && urgent)
		n = in->avail;
	if (n && (n >= in->chunk_min || head || urgent || due))
		return n;
	return 0;
}

struct ldq_wplan ldq_writer_plan(const struct ldq_wplan_in *in)
{
	struct ldq_wplan pl = { .act = LDQ_WPLAN_WAIT };
	int due = in->ns_to_checkpoint <= 0;

	if (in->abort) {
		/* Discard what is readable; the producer ends soon. */
		pl.discard = in->avail > 0;
		pl.act = in->producer_done ? LDQ_WPLAN_END : LDQ_WPLAN_WAIT;
		pl.wait_bytes = 1;
		pl.wait_ns = WRITER_POLL_NS;
		return pl;
	}
	pl.n = plan_bytes(in, due);
	if (pl.n) {
		pl.act = LDQ_WPLAN_WRITE;
		pl.direct = in->direct && !(pl.n & (LDQ_PAGE - 1)) &&
			    !(in->written & (LDQ_PAGE - 1)) && !(in->addr & (LDQ_PAGE - 1));
		pl.checkpoint = due && !in->producer_done;
		return pl;
	}
	if (in->producer_done && !in->avail) {
		pl.act = LDQ_WPLAN_END;
		return pl;
	}
	if (due && !in->producer_done) {
		pl.act = LDQ_WPLAN_CHECKPOINT;
		return pl;
	}
	pl.wait_bytes = in->chunk_min;
	pl.wait_ns = in->ns_to_checkpoint > 0 ? in->ns_to_checkpoint : 0;
	if (pl.wait_ns > WRITER_POLL_NS)
		pl.wait_ns = WRITER_POLL_NS;
	return pl;
}

/* ---- the sidecar and the header ---- */

static void fill_meta(struct labdaq_run *run, struct ldq_meta *m, const char *status)
{
	ldq_run_fill_meta(run, m, status);
	m->kind = run->dev->kind == LABDAQ_KIND_FRAMES ? "frames" : "samples";
	m->layout = run->layout;
	m->ring_capacity_bytes = ldq_ring_capacity(run->ring);
	m->ring_policy = run->on_full == LABDAQ_ON_FULL_DROP ? "drop" : "block";
	m->ring_high_water_bytes = ldq_ring_high_water(run->ring);
}

int ldq_run_checkpoint(struct labdaq_run *run, const char *status, int sync)
{
	uint64_t items = atomic_load_explicit(&run->written, memory_order_relaxed);
	struct ldq_meta m;
	int ret, gret;

	/* The data must be durable before a header that covers it. */
	if (sync && fdatasync(run->fd) && errno != EINVAL)
		return -errno;
	ret = ldq_npy_write_header(run->fd, &run->layout, items);
	if (ret)
		return ret;
	/* A final sidecar must not be durable before the header it describes. */
	if (sync && strcmp(status, "running") && fdatasync(run->fd) && errno != EINVAL)
		return -errno;
	fill_meta(run, &m, status);
	/* The gaps' file too, before the sidecar that counts them. */
	gret = ldq_run_copy_for_checkpoint(run, &m);
	if (gret && strcmp(status, "running"))
		m.status = "failed";
	ret = ldq_meta_write(run->meta, &m);
	return ret ? ret : gret;
}

/* ---- the file ---- */

struct writer {
	struct labdaq_run *run;
	size_t chunk_min, chunk_max, block_bytes, capacity;
	uint64_t next_ckpt;
	int dfd;         /* O_DIRECT descriptor, or -1 */
	uint64_t bytes;  /* payload bytes written and released from the ring */
	uint64_t shown;  /* payload bytes in the file, >= bytes */
	uint64_t wb_off; /* write-behind: the page cache is clean before it */
	int aborted, failed, time_up;
	/* which paths ran, for the log */
	unsigned long long direct_n, direct_bytes, buf_n, buf_bytes, partial_n;
	unsigned long long show_n, show_bytes;
};

/*
 * Keep dirty pages bounded: start writeback of what was just written, and
 * once a window is more than one window behind, wait for it and drop it
 * from the page cache.
 */
static int write_behind(int fd, uint64_t *wb_off, uint64_t end_off)
{
	/* the last quarter window (from 0 in a file shorter than that) */
	uint64_t from = end_off > WRITEBEHIND_WINDOW / 4 ? end_off - WRITEBEHIND_WINDOW / 4 : 0;

	if (sync_file_range(fd, (off_t)from, (off_t)(end_off - from), SYNC_FILE_RANGE_WRITE) &&
	    errno == EIO)
		return -EIO;
	while (end_off - *wb_off >= 2 * (uint64_t)WRITEBEHIND_WINDOW) {
		if (sync_file_range(fd, (off_t)*wb_off, WRITEBEHIND_WINDOW,
				    SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					    SYNC_FILE_RANGE_WAIT_AFTER) &&
		    errno == EIO)
			return -EIO;
		posix_fadvise(fd, (off_t)*wb_off, WRITEBEHIND_WINDOW, POSIX_FADV_DONTNEED);
		*wb_off += WRITEBEHIND_WINDOW;
	}
	return 0;
}

static void direct_open(struct writer *w)
{
	char self[64];

	w->dfd = -1;
	if (getenv("LABDAQ_NO_DIRECT")) {
		ldq_dbg("%s: O_DIRECT off (LABDAQ_NO_DIRECT): buffered writes with write-behind",
			w->run->path);
		return;
	}
	/* The same file as run->fd, whatever happened to its name since. */
	snprintf(self, sizeof(self), "/proc/self/fd/%d", w->run->fd);
	w->dfd = open(self, O_WRONLY | O_DIRECT | O_CLOEXEC);
	if (w->dfd < 0)
		ldq_dbg("%s: no O_DIRECT here (%s): buffered writes with write-behind",
			w->run->path, labdaq_strerror(-errno));
	else
		ldq_dbg("%s: O_DIRECT: whole pages bypass the page cache", w->run->path);
}

static int write_direct(struct writer *w, const char *p, size_t n, size_t *done)
{
	int ret = ldq_pwrite_all(w->dfd, p, n, (off_t)(LDQ_NPY_HEADER_BYTES + w->bytes), done);

	if (!ret) {
		w->direct_n++;
		w->direct_bytes += n;
		return 0;
	}
	if (ret != -EINVAL)
		return ret;
	/* The file system refuses this alignment: buffered from now on. */
	ldq_dbg("%s: O_DIRECT write refused: buffered writes", w->run->path);
	close(w->dfd);
	w->dfd = -1;
	return *done ? 0 : -EINVAL;
}

/* Write @n bytes at @p of the ring to the payload offset w->bytes. */
static int write_data(struct writer *w, const char *p, size_t n, int direct, size_t *done)
{
	uint64_t off = w->bytes;
	int ret;

	if (direct && w->dfd >= 0) {
		ret = write_direct(w, p, n, done);
		if (ret != -EINVAL)
			return ret;
	}
	ret = ldq_pwrite_all(w->run->fd, p, n, (off_t)(LDQ_NPY_HEADER_BYTES + off), done);
	w->buf_n++;
	w->buf_bytes += *done;
	if ((n | off) & (LDQ_PAGE - 1))
		w->partial_n++;
	if (!ret && w->dfd < 0)
		ret = write_behind(w->run->fd, &w->wb_off, LDQ_NPY_HEADER_BYTES + off + *done);
	return ret;
}

static void publish_written(struct writer *w)
{
	if (w->shown < w->bytes)
		w->shown = w->bytes;
	atomic_store_explicit(&w->run->written, w->shown / w->run->item_bytes,
			      memory_order_relaxed);
}

static void writer_fail(struct writer *w, int ret)
{
	struct labdaq_run *run = w->run;

	ldq_run_set_error(run, ret, "writing %s: %s", run->path, labdaq_strerror(ret));
	atomic_store_explicit(&run->writer_failed, 1, memory_order_release);
	ldq_run_cancel_device(run);
	w->failed = 1;
}

/* ---- the thread ---- */

static void do_write(struct writer *w, const void *p, const struct ldq_wplan *pl)
{
	size_t done;
	int ret = write_data(w, p, pl->n, pl->direct, &done);

	w->bytes += done;
	ldq_ring_release(w->run->ring, done);
	publish_written(w);
	if (ret) {
		writer_fail(w, ret);
		return;
	}
	if (w->run->test_write_delay_us)
		usleep(w->run->test_write_delay_us);
}

/* Show the partial page too, keeping it in the ring (as one piece where it
 * crosses the end of the ring), then checkpoint. */
static void do_checkpoint(struct writer *w)
{
	struct labdaq_run *run = w->run;
	size_t avail, done, n;
	int ret;

	/* Refreshes the consumer's copy of head: readable() is as of it. */
	ldq_ring_peek(run->ring, &avail);
	n = ldq_writer_show_bytes(ldq_ring_readable(run->ring), w->chunk_max);
	if (n) {
		const void *p = ldq_ring_peek_n(run->ring, n);

		ret = ldq_pwrite_all(run->fd, p, n, (off_t)(LDQ_NPY_HEADER_BYTES + w->bytes), &done);
		if (ret) {
			writer_fail(w, ret);
			return;
		}
		w->show_bytes += done;
		w->shown = w->bytes + done;
		publish_written(w);
	}
	w->show_n++;
	ret = ldq_run_checkpoint(run, "running", 1);
	if (ret)
		ldq_warn("%s: checkpoint failed: %s", run->path, labdaq_strerror(ret));
	w->next_ckpt = ldq_now_ns() + run->checkpoint_ns;
}

/* Gather the plan's inputs; @p receives where the readable bytes start. */
static void plan_inputs(struct writer *w, int pdone, uint64_t now, const void **p,
			struct ldq_wplan_in *in)
{
	struct labdaq_run *run = w->run;
	int req = atomic_load_explicit(&run->request, memory_order_acquire);

	memset(in, 0, sizeof(*in));
	if (req == REQ_ABORT || w->failed) {
		w->aborted = !w->failed;
		in->abort = 1;
	}
	*p = ldq_ring_peek(run->ring, &in->avail);
	in->readable = ldq_ring_readable(run->ring);
	in->capacity = w->capacity;
	in->block_bytes = w->block_bytes;
	in->chunk_min = w->chunk_min;
	in->chunk_max = w->chunk_max;
	in->written = w->bytes;
	in->addr = (uintptr_t)*p;
	in->ns_to_checkpoint = (int64_t)(w->next_ckpt - now);
	in->producer_done = pdone;
	in->direct = w->dfd >= 0;
}

/* One step of the writer's loop; 0 once the file is to be finalized. */
static int writer_step(struct writer *w)
{
	struct labdaq_run *run = w->run;
	int pdone = atomic_load_explicit(&run->producer_done, memory_order_acquire);
	uint64_t now = ldq_now_ns();
	struct ldq_wplan_in in;
	struct ldq_wplan pl;
	const void *p;

	/* The producer's batch of gaps, when it is half full. */
	ldq_gaps_flush(run, 0);
	if (run->gaps.err && !w->failed)
		writer_fail(w, run->gaps.err);
	/* The duration holds even while a device read blocks (a stalled
	 * device): the producer sees the time is up once cancelled. */
	if (run->duration_ns && !w->time_up && !pdone && now - run->t0_ns >= run->duration_ns) {
		w->time_up = 1;
		ldq_run_cancel_device(run);
	}
	plan_inputs(w, pdone, now, &p, &in);
	pl = ldq_writer_plan(&in);
	if (pl.discard)
		ldq_ring_release(run->ring, in.readable);
	switch (pl.act) {
	case LDQ_WPLAN_END:
		return 0;
	case LDQ_WPLAN_WRITE:
		do_write(w, p, &pl);
		if (pl.checkpoint && !w->failed)
			do_checkpoint(w);
		return 1;
	case LDQ_WPLAN_CHECKPOINT:
		do_checkpoint(w);
		return 1;
	default:
		ldq_ring_wait_data(run->ring, pl.wait_bytes, pl.wait_ns);
		return 1;
	}
}

static int final_state(struct writer *w)
{
	struct labdaq_run *run = w->run;

	if (run->error)
		return LABDAQ_STATE_FAILED;
	if (w->aborted)
		return LABDAQ_STATE_ABORTED;
	return run->producer_end;
}

/* Whole items only (an abort or a failed write may leave a partial one),
 * then the header, then the sidecar. */
static void writer_finish(struct writer *w)
{
	struct labdaq_run *run = w->run;
	const size_t ib = run->item_bytes;
	int state, ret;

	if (w->dfd >= 0)
		close(w->dfd);
	if (w->shown < w->bytes)
		w->shown = w->bytes;
	w->shown -= w->shown % ib;
	if (w->aborted || w->failed) {
		/* Items committed but not in the file are dropped, as gaps. */
		uint64_t committed = ldq_ring_committed(run->ring) / ib;

		if (committed > w->shown / ib)
			ldq_run_add_tail_gaps(run, w->shown / ib, committed - w->shown / ib);
	}
	if (ftruncate(run->fd, (off_t)ldq_npy_file_size(LDQ_NPY_HEADER_BYTES, ib, w->shown / ib)))
		ldq_warn("%s: truncating: %s", run->path, labdaq_strerror(-errno));
	atomic_store(&run->written, w->shown / ib);
	state = final_state(w);
	ldq_utc_now(run->ended_utc, sizeof(run->ended_utc));
	atomic_store(&run->t_end_ns, ldq_now_ns());
	ret = ldq_run_checkpoint(run, labdaq_state_name(state), 1);
	if (ret) {
		ldq_run_set_error(run, ret, "finalizing %s: %s", run->path, labdaq_strerror(ret));
		state = LABDAQ_STATE_FAILED;
	}
	close(run->fd);
	run->fd = -1;
	ldq_gaps_close(&run->gaps);
	/* Trims the sidecar's reservation and removes the spare. */
	ldq_meta_close(run->meta);
	run->meta = NULL;
	ldq_dbg("%s: " LDQ_WRITER_STATS_FMT, run->path, w->direct_bytes, w->direct_n,
		w->buf_bytes, w->buf_n, w->partial_n, w->show_bytes, w->show_n);
	ldq_run_finish(run, state);
}

void *ldq_writer_main(void *arg)
{
	struct writer w = { .run = arg, .wb_off = LDQ_NPY_HEADER_BYTES };
	struct labdaq_run *run = w.run;

	w.capacity = ldq_ring_capacity(run->ring);
	w.block_bytes = run->block_items * run->item_bytes;
	ldq_writer_chunks(w.capacity, &w.chunk_min, &w.chunk_max);
	w.next_ckpt = ldq_now_ns() + run->checkpoint_ns;
	direct_open(&w);
	while (writer_step(&w))
		;
	writer_finish(&w);
	return NULL;
}
