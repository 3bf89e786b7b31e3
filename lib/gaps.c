/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gaps.c - a run's gaps, kept in NAME.gaps.npy (gaps.h).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gaps.h"
#include "run.h"
#include "util.h"

static const struct ldq_npy_layout gaps_layout = { .descr = "<u8", .ndim = 1, .dims = { 2 } };

/* The file's size for @rows rows: with none, one byte more than the header,
 * or numpy.load(mmap_mode="r") refuses it (mmap at its end). */
static off_t gaps_size(uint64_t rows)
{
	return (off_t)(LDQ_NPY_HEADER_BYTES + (rows ? rows * 16 : 1));
}

char *ldq_path_beside(const char *npy_path, const char *suffix)
{
	size_t n = npy_path ? strlen(npy_path) : 0;
	size_t k = suffix ? strlen(suffix) : 0;
	char *s;

	if (!npy_path || !suffix)
		return NULL;
	s = malloc(n + k + 1);
	if (!s)
		return NULL;
	memcpy(s, npy_path, n + 1);
	if (n >= 4 && !strcmp(npy_path + n - 4, ".npy"))
		n -= 4;
	memcpy(s + n, suffix, k + 1);
	return s;
}

char *ldq_gaps_path(const char *npy_path)
{
	return ldq_path_beside(npy_path, ".gaps.npy");
}

int ldq_gapstore_init(struct ldq_gapstore *gs, const char *npy_path)
{
	const char *slash;

	memset(gs, 0, sizeof(*gs));
	gs->fd = -1;
	pthread_cond_init(&gs->room, NULL);
	gs->batch = malloc(LDQ_GAP_BATCH * sizeof(*gs->batch));
	gs->wbuf = malloc(LDQ_GAP_BATCH * sizeof(*gs->wbuf));
	gs->path = ldq_gaps_path(npy_path);
	if (!gs->batch || !gs->wbuf || !gs->path)
		return -ENOMEM;
	slash = strrchr(gs->path, '/');
	gs->name = slash ? slash + 1 : gs->path;
	return 0;
}

void ldq_gapstore_free(struct ldq_gapstore *gs)
{
	if (gs->fd >= 0)
		close(gs->fd);
	pthread_cond_destroy(&gs->room);
	free(gs->batch);
	free(gs->wbuf);
	free(gs->path);
	memset(gs, 0, sizeof(*gs));
	gs->fd = -1;
}

void ldq_run_add_gap(struct labdaq_run *run, uint64_t index, uint64_t count)
{
	struct ldq_gapstore *gs = &run->gaps;

	if (!count)
		return;
	pthread_mutex_lock(&run->lock);
	if (gs->open.count && gs->open.index + gs->open.count == index) {
		gs->open.count += count;
	} else {
		if (gs->open.count) {
			while (gs->nbatch == LDQ_GAP_BATCH) {
				/* The writer is behind: let it take the batch. */
				if (run->ring)
					ldq_ring_wake(run->ring);
				pthread_cond_wait(&gs->room, &run->lock);
			}
			gs->batch[gs->nbatch++] = gs->open;
		}
		gs->open.index = index;
		gs->open.count = count;
		gs->ngaps++;
	}
	atomic_store_explicit(&run->ngaps_pub, gs->ngaps, memory_order_relaxed);
	pthread_mutex_unlock(&run->lock);
	atomic_fetch_add_explicit(&run->dropped, count, memory_order_relaxed);
}

/* ---- the writer's side: no lock held during I/O ---- */

/* Keep LDQ_GAP_RESERVE bytes allocated beyond row @rows, so that a full
 * disk still takes the gaps of the failure (the sidecar's spare does the
 * same).  Best effort: without fallocate, or short of space, the writes
 * are attempted anyway. */
static void gaps_reserve(struct ldq_gapstore *gs, uint64_t rows)
{
	uint64_t end = LDQ_NPY_HEADER_BYTES + rows * 16 + LDQ_GAP_RESERVE;

	if (end <= gs->reserved)
		return;
	end += LDQ_GAP_RESERVE; /* not at every row */
	if (!fallocate(gs->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)end))
		gs->reserved = end;
}

int ldq_gaps_create(struct ldq_gapstore *gs)
{
	int ret;

	/* 0666: the umask decides, as for the data file.  O_EXCL: the start
	 * set an old one aside or refused, so one there now is a racing run's. */
	gs->fd = open(gs->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (gs->fd < 0)
		return -errno;
	ret = ldq_npy_write_header(gs->fd, &gaps_layout, 0);
	if (!ret && ftruncate(gs->fd, gaps_size(0)))
		ret = -errno;
	if (ret) {
		close(gs->fd);
		gs->fd = -1;
		unlink(gs->path); /* ours: O_EXCL made it */
		return ret;
	}
	gaps_reserve(gs, 0);
	return 0;
}

void ldq_gaps_close(struct ldq_gapstore *gs)
{
	if (gs->fd < 0)
		return;
	/* Release the reservation beyond the end (a same-size truncate). */
	while (ftruncate(gs->fd, gaps_size(gs->synced)) < 0 && errno == EINTR)
		;
	close(gs->fd);
	gs->fd = -1;
}

/* Write @n rows of @v at row @row of the file (created on first use). */
static int gaps_write(struct labdaq_run *run, const struct ldq_gap *v, size_t n, uint64_t row)
{
	struct ldq_gapstore *gs = &run->gaps;
	uint64_t buf[2 * 256];
	int ret = gs->err;

	if (!ret && gs->fd < 0)
		ret = -EBADF;
	if (!ret)
		gaps_reserve(gs, row + n);
	for (size_t i = 0; !ret && i < n;) {
		size_t k = 0;

		/* Little-endian u8 pairs, whatever struct ldq_gap's layout. */
		for (; k < 256 && i + k < n; k++) {
			buf[2 * k] = htole64(v[i + k].index);
			buf[2 * k + 1] = htole64(v[i + k].count);
		}
		ret = ldq_pwrite_all(gs->fd, buf, k * 16, (off_t)(LDQ_NPY_HEADER_BYTES + (row + i) * 16),
				     NULL);
		i += k;
	}
	if (ret && !gs->err) {
		gs->err = ret;
		ldq_run_set_error(run, ret, "writing %s: %s", gs->path, labdaq_strerror(ret));
	}
	return ret;
}

void ldq_gaps_flush(struct labdaq_run *run, int all)
{
	struct ldq_gapstore *gs = &run->gaps;
	struct ldq_gap *v;
	size_t n;

	pthread_mutex_lock(&run->lock);
	n = gs->nbatch;
	if (!n || (!all && n < LDQ_GAP_BATCH / 2)) {
		pthread_mutex_unlock(&run->lock);
		return;
	}
	v = gs->batch;
	gs->batch = gs->wbuf;
	gs->wbuf = v;
	gs->nbatch = 0;
	pthread_cond_broadcast(&gs->room);
	pthread_mutex_unlock(&run->lock);

	gaps_write(run, v, n, gs->rows);
	gs->rows += n;
}

/* Write the batch and the open gap, the header counting them, fdatasync
 * if anything changed.  *@ngaps: the gaps recorded. */
static int gaps_sync(struct labdaq_run *run, uint64_t *ngaps)
{
	struct ldq_gapstore *gs = &run->gaps;
	struct ldq_gap open;
	uint64_t total;
	int ret;

	ldq_gaps_flush(run, 1);
	pthread_mutex_lock(&run->lock);
	/* A batch that filled meanwhile is written next time: rows only
	 * counts what is in the file, and open then is not the next row. */
	open = gs->nbatch ? (struct ldq_gap){ 0, 0 } : gs->open;
	*ngaps = gs->ngaps;
	pthread_mutex_unlock(&run->lock);
	if (gs->fd < 0)
		return open.count || *ngaps ? -EBADF : 0; /* a sweep's: none */
	total = gs->rows + (open.count ? 1 : 0);
	ret = open.count ? gaps_write(run, &open, 1, gs->rows) : gs->err;
	if (!ret)
		ret = ldq_npy_write_header(gs->fd, &gaps_layout, total);
	if (!ret && total != gs->synced && fdatasync(gs->fd) && errno != EINVAL)
		ret = -errno;
	if (!ret)
		gs->synced = total;
	if (ret && !gs->err) {
		gs->err = ret;
		ldq_run_set_error(run, ret, "writing %s: %s", gs->path, labdaq_strerror(ret));
	}
	return ret;
}

int ldq_run_copy_for_checkpoint(struct labdaq_run *run, struct ldq_meta *m)
{
	struct ldq_gapstore *gs = &run->gaps;
	int ret = gaps_sync(run, &m->ngaps);

	m->gaps_file = gs->fd >= 0 ? gs->name : NULL;
	pthread_mutex_lock(&run->lock);
	m->error_code = run->error;
	memcpy(run->ckpt_errmsg, run->errmsg, sizeof(run->errmsg));
	m->error = run->error ? run->ckpt_errmsg : NULL;
	pthread_mutex_unlock(&run->lock);
	return ret;
}

/* ---- the tail of an aborted or failed run (the producer has ended) ---- */

/* Read row @row of the file into @g. */
static int gaps_read_row(struct ldq_gapstore *gs, uint64_t row, struct ldq_gap *g)
{
	uint64_t v[2];
	ssize_t n = pread(gs->fd, v, sizeof(v), (off_t)(LDQ_NPY_HEADER_BYTES + row * 16));

	if (n != (ssize_t)sizeof(v))
		return n < 0 ? -errno : -EIO;
	g->index = le64toh(v[0]);
	g->count = le64toh(v[1]);
	return 0;
}

/*
 * Every gap is in the file (rows of them).  From @end (the acquisition's
 * end) back, find where the last @count items not in a gap begin: the gaps
 * after that point are dropped from the file (their items are counted in
 * the new gap).  Reads as many rows as the ring held items, at most.
 */
static uint64_t tail_start(struct ldq_gapstore *gs, uint64_t end, uint64_t count)
{
	uint64_t pos = end, remaining = count;
	struct ldq_gap g = { 0, 0 };

	while (gs->rows && !gs->err && !gaps_read_row(gs, gs->rows - 1, &g)) {
		uint64_t free_items = pos - (g.index + g.count);

		/* Strictly: a tail that starts where a gap ends joins it. */
		if (remaining < free_items)
			break;
		remaining -= free_items;
		pos = g.index;
		gs->rows--;
		gs->ngaps--;
	}
	return pos - remaining;
}

void ldq_run_add_tail_gaps(struct labdaq_run *run, uint64_t kept, uint64_t count)
{
	struct ldq_gapstore *gs = &run->gaps;
	uint64_t end = atomic_load(&run->acquired), start;
	struct ldq_gap tail;

	(void)kept; /* the items are found from the end of the acquisition */
	if (!count)
		return;
	/* Everything into the file, the open gap as a closed row. */
	ldq_gaps_flush(run, 1);
	if (gs->open.count && !gaps_write(run, &gs->open, 1, gs->rows))
		gs->rows++;
	gs->open.count = 0;
	start = tail_start(gs, end, count);
	tail = (struct ldq_gap){ start, end - start };
	if (gs->fd >= 0 && ftruncate(gs->fd, gaps_size(gs->rows)) &&
	    !gs->err)
		gs->err = -errno;
	/* The new gap stays open: the final checkpoint writes it. */
	gs->open = tail;
	gs->ngaps++;
	atomic_store_explicit(&run->ngaps_pub, gs->ngaps, memory_order_relaxed);
	atomic_fetch_add_explicit(&run->dropped, count, memory_order_relaxed);
}
