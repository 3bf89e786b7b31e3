/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stream.c - starting a streaming run (labdaq_run_start): the channels,
 * the file layout, the ring and the block size, the output files, then the
 * two threads; and the producer thread.
 *
 *   producer thread (here): reserves a block in the ring, lets the backend
 *     fill it in place, commits.  Full ring: waits (block) or reads the
 *     block into a scratch buffer and records it as a gap (drop).
 *   writer thread (writer.c): ring -> file, checkpoints.
 *   caller (run.c): never blocked; reads counters, the latest tap, stops,
 *     waits.
 *
 * Counters: every item the device's sequence passed through is acquired;
 * it is then either written or dropped (ring full with the drop policy, a
 * hardware overrun, an abort, a write failure).  At the end
 * acquired == written + dropped.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libgen.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "gaps.h"
#include "outfile.h"
#include "run.h"
#include "writer.h"

/* ---- the producer ---- */

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

struct producer {
	struct labdaq_run *run;
	uint64_t index;      /* items acquired */
	uint64_t rate_index; /* at rate_t */
	uint64_t rate_t;
};

static void update_rate(struct producer *pr, uint64_t now)
{
	if (now - pr->rate_t < RATE_PERIOD_NS)
		return;
	atomic_store_explicit(&pr->run->rate_now,
			      (double)(pr->index - pr->rate_index) * 1e9 / (double)(now - pr->rate_t),
			      memory_order_relaxed);
	pr->rate_index = pr->index;
	pr->rate_t = now;
}

/* The end state after a failed read (@got < 0), or 0 to go on. */
static int read_failed(struct producer *pr, long got)
{
	struct labdaq_run *run = pr->run;
	const char *why;

	if (got == -ECANCELED) {
		/* A stop, an abort, the time up or the writer failed: the
		 * loop's check ends it.  Nothing else cancels. */
		if (producer_should_end(run, pr->index, ldq_now_ns()))
			return 0;
		ldq_run_set_error(run, -ECANCELED, "%s: the device cancelled the stream",
				  run->dev->uri);
		return LABDAQ_STATE_FAILED;
	}
	/* The backend's own words, when it logged any. */
	why = ldq_last_error();
	ldq_run_set_error(run, (int)got, "%s: device failed after %llu items: %s", run->dev->uri,
			  (unsigned long long)pr->index, why ? why : labdaq_strerror((int)got));
	return LABDAQ_STATE_FAILED;
}

/* Acquire one block.  0 to go on (the loop checks the end conditions), or
 * the state the run ends in after a failure. */
static int produce_block(struct producer *pr, uint64_t now)
{
	struct labdaq_run *run = pr->run;
	struct labdaq_device *dev = run->dev;
	size_t n = run->block_items, bytes;
	uint64_t lost = 0;
	int dropping = 0;
	void *p;
	long got;

	if (run->count && run->count - pr->index < n)
		n = run->count - pr->index;
	bytes = n * run->item_bytes;
	p = ldq_ring_reserve(run->ring, bytes);
	if (!p) {
		if (run->on_full == LABDAQ_ON_FULL_BLOCK) {
			/* Backpressure.  Bounded waits so that the end
			 * conditions are checked again. */
			ldq_ring_wait_space(run->ring, bytes, WRITER_POLL_NS);
			return 0;
		}
		p = run->scratch;
		dropping = 1;
	}
	ldq_clear_last_error();
	got = dev->backend->stream_read(dev, p, n, &lost);
	if (got < 0)
		return read_failed(pr, got);
	if ((size_t)got > n)
		got = (long)n;
	if (lost) {
		ldq_warn("%s: hardware overrun: %llu items lost at item %llu", dev->uri,
			 (unsigned long long)lost, (unsigned long long)pr->index);
		ldq_run_add_gap(run, pr->index, lost);
		pr->index += lost;
	}
	ldq_run_tap(run, p, (size_t)got, pr->index, now);
	if (dropping)
		ldq_run_add_gap(run, pr->index, (uint64_t)got);
	else
		ldq_ring_commit(run->ring, (size_t)got * run->item_bytes);
	pr->index += (uint64_t)got;
	atomic_store_explicit(&run->acquired, pr->index, memory_order_relaxed);
	return 0;
}

/* Items the device lost that only the end of the stream revealed
 * (stream_lost, after stream_stop): dropped, one gap at the end. */
static void end_lost(struct producer *pr)
{
	struct labdaq_run *run = pr->run;
	uint64_t lost = run->dev->backend->stream_lost(run->dev);

	if (!lost)
		return;
	ldq_run_add_gap(run, pr->index, lost);
	pr->index += lost;
	atomic_store_explicit(&run->acquired, pr->index, memory_order_relaxed);
}

static void *producer_main(void *arg)
{
	struct producer pr = { .run = arg };
	struct labdaq_run *run = pr.run;
	struct labdaq_device *dev = run->dev;
	int end;

	pr.rate_t = run->t0_ns;
	for (;;) {
		uint64_t now = ldq_now_ns();

		end = producer_should_end(run, pr.index, now);
		if (end)
			break;
		update_rate(&pr, now);
		end = produce_block(&pr, now);
		if (end)
			break;
	}
	if (dev->backend->stream_stop)
		dev->backend->stream_stop(dev);
	if (dev->backend->stream_lost)
		end_lost(&pr);
	run->producer_end = end;
	/* Pairs with the writer's load-acquire: producer_end and the last
	 * commit are visible once producer_done is.  Under the lock: see
	 * ldq_run_cancel_device(). */
	pthread_mutex_lock(&run->lock);
	atomic_store_explicit(&run->producer_done, 1, memory_order_release);
	pthread_mutex_unlock(&run->lock);
	ldq_ring_wake(run->ring);
	return NULL;
}

/* ---- starting ---- */

/* The input channels of @list on @dev (*@idx malloc'd, *@n of them):
 * none to select on a frames device, one dtype for a samples file.  0, or
 * -errno with the reason logged. */
static int resolve_inputs(const struct labdaq_device *dev, const char *list,
			  unsigned int **idx, unsigned int *n)
{
	int ret;

	*idx = NULL;
	*n = 0;
	if (dev->kind == LABDAQ_KIND_FRAMES) {
		if (!list)
			return 0;
		ldq_err("%s streams frames: it has no channels to select", dev->uri);
		return -EINVAL;
	}
	ret = ldq_device_channels(dev, list, 0, idx, n);
	/* One file type: the channels' own, or int64 for integers of mixed
	 * widths (iio's timestamp with 32-bit samples: every value exact). */
	for (unsigned int j = 1; !ret && j < *n; j++)
		if (dev->chans[(*idx)[j]].dtype != dev->chans[(*idx)[0]].dtype &&
		    (dev->chans[(*idx)[j]].dtype == LABDAQ_DTYPE_FLOAT64 ||
		     dev->chans[(*idx)[0]].dtype == LABDAQ_DTYPE_FLOAT64)) {
			ldq_err("%s: channels of different types cannot share one file", dev->uri);
			ret = -EINVAL;
		}
	if (ret) {
		free(*idx);
		*idx = NULL;
	}
	return ret;
}

/* The run's channels, and the file's: a frames file lists the inputs. */
static int select_channels(struct labdaq_run *run, const char *list)
{
	struct labdaq_device *dev = run->dev;
	int ret = resolve_inputs(dev, list, &run->chans, &run->nchans);

	if (ret)
		return ret;
	if (ldq_run_alloc_chans(run, dev->nchans))
		return -ENOMEM;
	if (dev->kind == LABDAQ_KIND_FRAMES) {
		for (unsigned int i = 0; i < dev->nchans; i++)
			if (!dev->chans[i].output)
				ldq_run_add_file_chan(run, i);
		return 0;
	}
	for (unsigned int j = 0; j < run->nchans; j++)
		ldq_run_add_file_chan(run, run->chans[j]);
	return 0;
}

/* The file's layout for the inputs @chans (@n) of @dev, and its dtype. */
static int layout_of(const struct labdaq_device *dev, const unsigned int *chans, unsigned int n,
		     struct ldq_npy_layout *l, int *dtype_out)
{
	int dtype = dev->kind == LABDAQ_KIND_FRAMES ? dev->frame_dtype : dev->chans[chans[0]].dtype;
	const char *descr;

	/* One type for the file: the widest of the channels (iio's 64-bit
	 * timestamp widens every column; the values are kept exactly). */
	for (unsigned int j = 1; dev->kind != LABDAQ_KIND_FRAMES && j < n; j++)
		if (dev->chans[chans[j]].dtype != dtype)
			dtype = LABDAQ_DTYPE_INT64;
	descr = labdaq_dtype_numpy(dtype);
	if (!descr || !labdaq_dtype_size(dtype))
		return -EINVAL;
	memset(l, 0, sizeof(*l));
	snprintf(l->descr, sizeof(l->descr), "%s", descr);
	if (dev->kind == LABDAQ_KIND_FRAMES) {
		l->ndim = 2;
		l->dims[0] = dev->height;
		l->dims[1] = dev->width;
	} else {
		l->ndim = 1;
		l->dims[0] = n;
	}
	*dtype_out = dtype;
	return ldq_npy_item_bytes(l) ? 0 : -EINVAL;
}

static int setup_layout(struct labdaq_run *run)
{
	int ret = layout_of(run->dev, run->chans, run->nchans, &run->layout, &run->dtype);

	if (ret)
		return ret;
	run->item_bytes = ldq_npy_item_bytes(&run->layout);
	return 0;
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

/* The ring asked for must fit in memory. */
static int check_ring(uint64_t ring_bytes)
{
	uint64_t avail = mem_available();

	if (ring_bytes > avail / 10 * 8) {
		ldq_err("a ring of %llu MiB does not fit in the memory available (%llu MiB): "
			"choose a smaller one", (unsigned long long)(ring_bytes >> 20),
			(unsigned long long)(avail >> 20));
		return -ENOMEM;
	}
	return 0;
}

/* A ring that cannot hold one item, or beyond the memory available. */
static int check_ring_item(uint64_t ring_bytes, size_t item_bytes)
{
	if (ring_bytes < item_bytes) {
		ldq_err("a ring of %llu bytes cannot hold one item of %zu bytes: choose a ring of "
			"at least that (--ring %zuk)", (unsigned long long)ring_bytes, item_bytes,
			(item_bytes + 1023) / 1024);
		return -EINVAL;
	}
	return check_ring(ring_bytes);
}

/* The run's files beside its data file besides the sidecar (the gaps',
 * the backend's companion): none may exist unless @cfg overwrites. */
static int check_beside(struct labdaq_device *dev, const struct labdaq_run_config *cfg)
{
	const char *suffix[2] = { ".gaps.npy", dev->backend->companion };
	int ret = 0;

	for (unsigned int i = 0; i < 2 && !ret && suffix[i]; i++) {
		char *p = ldq_path_beside(cfg->path, suffix[i]);

		ret = p ? ldq_check_beside(p, cfg->overwrite) : -ENOMEM;
		free(p);
	}
	return ret;
}

/* Everything labdaq_run_start() checks before it takes the device; the
 * item size in *@item_bytes. */
static int check_config(struct labdaq_device *dev, const struct labdaq_run_config *cfg,
			size_t *item_bytes)
{
	struct ldq_npy_layout l;
	unsigned int *idx, n;
	char *json;
	int ret, dtype;

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
	json = cfg->path ? ldq_meta_path(cfg->path) : NULL;
	if (cfg->path && !json)
		return -ENOMEM;
	ret = ldq_check_output(cfg->path, ".npy", json, cfg->overwrite);
	free(json);
	if (!ret)
		ret = check_beside(dev, cfg);
	if (!ret)
		ret = ldq_check_text(cfg->command, "the command line");
	if (!ret)
		ret = resolve_inputs(dev, cfg->channels, &idx, &n);
	if (!ret) {
		ret = layout_of(dev, idx, n, &l, &dtype);
		free(idx);
	}
	if (!ret)
		ret = ldq_device_check_attrs(dev, cfg->attrs, cfg->nattrs);
	if (!ret)
		*item_bytes = ldq_npy_item_bytes(&l);
	return ret ? ret : check_ring_item(labdaq_run_config_get_ring_bytes(cfg), *item_bytes);
}

LABDAQ_API int labdaq_run_check(labdaq_device *dev, const labdaq_run_config *cfg)
{
	size_t ib;

	return dev && cfg ? check_config(dev, cfg, &ib) : -EINVAL;
}

/* The items a run of @cfg acquires at most (0: until stopped, or as many
 * as the device gives in the duration at rate 0), as set_limits() does. */
static uint64_t planned_items(const struct labdaq_run_config *cfg)
{
	uint64_t n = cfg->count;

	if (cfg->rate_hz > 0 && cfg->duration_ns) {
		double due = ceil(cfg->rate_hz * (double)cfg->duration_ns / 1e9 - 1e-6);
		uint64_t d = due < 1 ? 1 : (uint64_t)due;

		if (!n || d < n)
			n = d;
	}
	return n;
}

LABDAQ_API int labdaq_run_plan(labdaq_device *dev, const labdaq_run_config *cfg,
			       struct labdaq_run_plan *out)
{
	struct labdaq_run_plan p;
	struct statvfs vfs;
	size_t ib;
	char *copy;
	int ret;

	if (!dev || !cfg || !out || out->size < sizeof(size_t))
		return -EINVAL;
	ret = check_config(dev, cfg, &ib);
	if (ret)
		return ret;
	memset(&p, 0, sizeof(p));
	p.item_bytes = ib;
	p.items = planned_items(cfg);
	p.duration_ns = cfg->duration_ns;
	if (p.items && cfg->rate_hz > 0) {
		/* Paced: the items' time, if the count comes first. */
		double t = (double)p.items / cfg->rate_hz * 1e9;

		if (!p.duration_ns || t < (double)p.duration_ns)
			p.duration_ns = (uint64_t)t;
	}
	if (p.items)
		p.file_bytes = LDQ_NPY_HEADER_BYTES + p.items * ib;
	p.free_bytes = UINT64_MAX;
	copy = strdup(cfg->path);
	if (copy && !statvfs(dirname(copy), &vfs))
		p.free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	free(copy);
	p.size = out->size < sizeof(p) ? out->size : sizeof(p);
	memcpy(out, &p, p.size);
	return 0;
}

/* The count and duration at @rate_hz (the asked rate, then the one the
 * device runs at). */
static void set_limits(struct labdaq_run *run, double rate_hz)
{
	run->count = run->count_asked;
	run->duration_ns = run->duration_asked_ns;
	run->rate_hz = rate_hz;
	if (rate_hz > 0 && run->duration_ns) {
		/* Paced: the duration is the items due within it, exactly (a
		 * device's schedule starts a little before the run's clock);
		 * the clock still ends a run whose device stalls, a second
		 * late. */
		double due = ceil(rate_hz * (double)run->duration_ns / 1e9 - 1e-6);
		uint64_t n = due < 1 ? 1 : (uint64_t)due;

		if (!run->count || n < run->count)
			run->count = n;
		run->duration_ns += 1000000000u;
	}
}

static void apply_config(struct labdaq_run *run, const struct labdaq_run_config *cfg)
{
	const char *delay = getenv("LABDAQ_TEST_WRITE_DELAY_US");

	run->count_asked = cfg->count;
	run->duration_asked_ns = cfg->duration_ns;
	set_limits(run, cfg->rate_hz);
	run->on_full = cfg->on_full;
	/* A test knob: a slow disk, to exercise a full ring deterministically. */
	if (delay)
		run->test_write_delay_us = (unsigned int)strtoul(delay, NULL, 10);
	run->checkpoint_ns = (uint64_t)(cfg->checkpoint_ms ? cfg->checkpoint_ms :
				       LDQ_DEFAULT_CHECKPOINT_MS) * 1000000u;
}

/*
 * The ring a run gets: the capacity set, or by default LDQ_DEFAULT_RING_BYTES
 * or, for a run whose items are counted and fit in less, the run's whole
 * size (at least LDQ_SMALL_RING_BYTES): the ring is allocated and populated
 * at the start, and a short run would pay for 64 MiB it cannot fill.  A
 * capacity the caller set is kept as it is.
 */
static uint64_t ring_for_run(const struct labdaq_run *run, const struct labdaq_run_config *cfg)
{
	uint64_t bytes = labdaq_run_config_get_ring_bytes(cfg);
	uint64_t need;

	if (cfg->ring_bytes || !run->count || run->count > bytes / run->item_bytes)
		return bytes;
	need = run->count * run->item_bytes;
	if (need < LDQ_SMALL_RING_BYTES)
		need = LDQ_SMALL_RING_BYTES;
	return need < bytes ? need : bytes;
}

/* The ring, the block size, the tap and the drop policy's scratch block. */
static int setup_ring(struct labdaq_run *run, uint64_t ring_bytes)
{
	size_t fill = 0;
	int ret;

	if (ring_bytes < run->item_bytes) {
		ldq_err("a ring of %llu bytes cannot hold one item of %zu bytes",
			(unsigned long long)ring_bytes, run->item_bytes);
		return -EINVAL;
	}
	/* A run of a known length passes at most its own bytes through the
	 * ring: only they are populated (a short run with a large ring). */
	if (run->count && run->count <= ring_bytes / run->item_bytes)
		fill = run->count * run->item_bytes;
	ret = ldq_ring_new_fill(ring_bytes, fill, &run->ring);
	if (ret) {
		ldq_err("cannot allocate a ring of %llu bytes: %s", (unsigned long long)ring_bytes,
			labdaq_strerror(ret));
		return ret;
	}
	run->block_items = choose_block_items(run, ldq_ring_capacity(run->ring));
	run->tap_cap = run->block_items * run->item_bytes;
	run->tap = malloc(run->tap_cap);
	if (run->on_full == LABDAQ_ON_FULL_DROP)
		run->scratch = malloc(run->tap_cap);
	if (!run->tap || (run->on_full == LABDAQ_ON_FULL_DROP && !run->scratch))
		return -ENOMEM;
	return 0;
}

/* The device lock, then the .npy with an empty header and the sidecar,
 * written before the device starts: nothing slow (a first fsync, jansson
 * seeding its hashes from /dev/urandom early in a boot) may happen while
 * the device's FIFO fills.  The .npy gets its name only once the sidecar
 * exists (where the file system has O_TMPFILE): a kill at any moment never
 * leaves a .npy without its .json.
 *
 * The first sidecar is fsync'd (whole once it has its name), but its
 * rename is not followed by an fsync of the directory
 * (ldq_meta_set_lazy_first: a flush less in every run, BENCHMARKS.md
 * "Point 4").  It claims no data ("running", 0 written), so a power loss
 * before the names are durable loses nothing claimed: the run's first
 * checkpoint (or its end) makes the data durable, then fsyncs the directory
 * after its sidecar, and only then is anything claimed.  Until then the
 * names may be missing after a power loss, never the .npy alone on ext4
 * and xfs: their journal commits the sidecar's rename with or before the
 * .npy's link, which comes after it.  (A file system that commits a file's
 * new name on its own at that file's fdatasync, as btrfs's log may, can
 * leave the .npy without NAME.json in the few milliseconds between the
 * first checkpoint's fdatasync and its directory fsync: labdaq recover then
 * keeps every whole item on disk, without the metadata.) */
static int open_files(struct labdaq_run *run, int overwrite, struct ldq_outfile *of)
{
	const char *suffix = run->dev->backend->companion;
	char *json = ldq_meta_path(run->path);
	const char *paths[4] = { run->path, json, run->gaps.path };
	int ret;

	if (suffix) {
		run->companion = ldq_path_beside(run->path, suffix);
		paths[3] = run->companion;
	}
	if (!json || (suffix && !run->companion)) {
		free(json);
		return -ENOMEM;
	}
	ret = ldq_run_lock_device(run);
	if (!ret)
		ret = ldq_outfile_create_unnamed(of, paths, suffix ? 4 : 3, overwrite);
	free(json);
	if (ret < 0)
		return ret;
	run->fd = ret;
	ret = ldq_npy_write_header(run->fd, &run->layout, 0);
	/* The byte after the header of a file with no item yet (npy.h). */
	if (!ret && ftruncate(run->fd, (off_t)ldq_npy_file_size(LDQ_NPY_HEADER_BYTES,
								 run->item_bytes, 0)))
		ret = -errno;
	if (!ret)
		ret = ldq_gaps_create(&run->gaps);
	if (!ret) {
		ldq_outfile_own(of, 2);
		ret = ldq_meta_open(run->path, &run->meta);
	}
	if (ret) {
		ldq_err("cannot write %s: %s", run->path, labdaq_strerror(ret));
		return ret;
	}
	ldq_meta_set_noreplace(run->meta);
	ldq_meta_set_lazy_first(run->meta);
	ldq_utc_now(run->started_utc, sizeof(run->started_utc));
	ret = ldq_run_checkpoint(run, "running", 0);
	if (ret) {
		ldq_err("cannot write the metadata of %s: %s", run->path, labdaq_strerror(ret));
	} else {
		ldq_outfile_own(of, 1);
		ret = ldq_meta_reserved(run->meta);
		/* Without it a full disk could not be recorded. */
		if (ret)
			ldq_err("cannot reserve space for the metadata of %s: %s; free some "
				"space on its file system", run->path, labdaq_strerror(ret));
	}
	/* The sidecar exists: now the data file may have its name. */
	return ret ? ret : ldq_outfile_publish(of, run->fd);
}

/* Start the device, then the writer, then the producer. */
static int start_threads(struct labdaq_run *run)
{
	struct labdaq_device *dev = run->dev;
	struct ldq_stream_params sp = {
		.rate_hz = run->rate_hz, .chans = run->chans, .nchans = run->nchans,
		.item_bytes = run->item_bytes, .block_items = run->block_items,
		.dtype = run->dtype, .path = run->path, .companion_path = run->companion,
		.ring = run->ring,
	};
	int ret;

	ldq_clear_last_error();
	ret = dev->backend->stream_start(dev, &sp);
	if (ret) {
		/* A device the kernel says is busy: the backend named the
		 * holder as the device lock does; "another run holds it"
		 * would be wrong. */
		if (ret != -EBUSY || !ldq_last_error())
			ldq_err("%s: cannot start streaming: %s", dev->uri, labdaq_strerror(ret));
		return ret;
	}
	/* The rate the device settled on is the run's (metadata, limits). */
	if (dev->backend->stream_rate_hz) {
		double hz = dev->backend->stream_rate_hz(dev);

		if (hz > 0 && isfinite(hz))
			set_limits(run, hz);
	}
	run->t0_ns = ldq_now_ns();
	atomic_store(&run->state, LABDAQ_STATE_RUNNING);
	ret = -pthread_create(&run->writer, NULL, ldq_writer_main, run);
	if (!ret) {
		run->writer_started = 1;
		ret = -pthread_create(&run->producer, NULL, producer_main, run);
	}
	if (!ret) {
		run->producer_started = 1;
		return 0;
	}
	if (run->writer_started) {
		/* The writer sees producer_done and finalizes an empty file. */
		atomic_store(&run->request, REQ_ABORT);
		atomic_store_explicit(&run->producer_done, 1, memory_order_release);
		ldq_ring_wake(run->ring);
		pthread_join(run->writer, NULL);
		run->writer_started = 0;
	}
	if (dev->backend->stream_stop)
		dev->backend->stream_stop(dev);
	return ret;
}

LABDAQ_API int labdaq_run_start(labdaq_device *dev, const labdaq_run_config *cfg,
				labdaq_run **out)
{
	struct ldq_outfile of = { 0 };
	struct labdaq_run *run;
	size_t ib;
	int ret;

	if (out)
		*out = NULL;
	if (!dev || !cfg || !out)
		return -EINVAL;
	ret = check_config(dev, cfg, &ib);
	if (!ret)
		ret = ldq_run_new(dev, LDQ_RUN_STREAM, cfg->path, cfg->command, &run);
	if (ret)
		return ret;
	apply_config(run, cfg);
	ret = ldq_run_copy_meta(run, cfg->meta, cfg->nmeta);
	if (!ret)
		ret = ldq_run_copy_attrs(run, cfg->attrs, cfg->nattrs);
	if (!ret)
		ret = select_channels(run, cfg->channels);
	if (!ret)
		ret = setup_layout(run);
	if (!ret)
		ret = setup_ring(run, ring_for_run(run, cfg));
	/* Checks done: the device lock, then the files, then the threads. */
	if (!ret)
		ret = open_files(run, cfg->overwrite, &of);
	if (!ret)
		ret = start_threads(run);
	return ldq_run_start_end(run, &of, ret, out);
}
