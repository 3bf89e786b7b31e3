/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sweep.c - step scans: set an output, wait, read the inputs, one CSV row
 * per point, in a thread of their own.
 *
 * The CSV (docs/file-format.md) is plain: the header row, then one row per
 * point flushed as soon as it is read, each ending in a newline; nothing
 * else.  The metadata is in NAME.json beside it, the same sidecar as a
 * stream's (sidecar.c), replaced atomically at the start, at most once a
 * second while the sweep runs, and at the end.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outfile.h"
#include "run.h"
#include "util.h"

#define META_PERIOD_NS 1000000000ull

/* One allocation: the struct, then read_chans[nread], then row[1 + nread]. */
struct ldq_sweep {
	unsigned int set_chan;
	unsigned int *read_chans;
	unsigned int nread;
	double *row;           /* the value set, then each input's */
	double from, to;
	uint32_t points, repeat;
	uint64_t delay_ns;
	/* The CSV (run->fd): whole rows only.  A row is formatted in @line and
	 * written at @csv_bytes; a write that fails is cut off again, so the
	 * file ends with the last complete row. */
	char *line;
	size_t line_cap;
	off_t csv_bytes;
	/* the sidecar's sweep part: the CSV's columns and their units */
	struct ldq_meta_sweep meta;
	const char **columns;  /* 3 + 1 + nread names, then as many units */
	char *set_column;      /* "set_voltage0" */
	uint64_t meta_next_ns; /* the next sidecar refresh while running */
	/* the point feed (labdaq_run_next_point()), under run->lock */
	double *feed;          /* feed_cap rows of 1 + nread values; NULL: none */
	uint32_t feed_cap;
	uint64_t feed_head;    /* points put */
	uint64_t feed_tail;    /* points taken */
};

/* Points are between the limits: checking these two is enough, and
 * nothing is applied to the device out of its range. */
static int check_range(const struct labdaq_device *dev, unsigned int chan, double from,
		       double to)
{
	const struct ldq_channel *c = &dev->chans[chan];

	if (!isnan(c->min) && (fmin(from, to) < c->min || fmax(from, to) > c->max)) {
		ldq_err("%s: %s takes %g to %g %s; the sweep goes from %g to %g", dev->uri, c->name,
			c->min, c->max, c->unit, from, to);
		return -ERANGE;
	}
	return 0;
}

/* The output channel (*@set), the inputs (*@inputs, malloc'd, *@n of them)
 * and the range of @cfg on @dev: 0, or -errno with the reason logged. */
static int resolve(const struct labdaq_device *dev, const struct labdaq_sweep_config *cfg,
		   unsigned int *set, unsigned int **inputs, unsigned int *n)
{
	unsigned int *out, nout;
	int ret;

	if (!cfg->set) {
		ldq_err("%s: no output channel to sweep", dev->uri);
		return -EINVAL;
	}
	ret = ldq_device_channels(dev, cfg->set, 1, &out, &nout);
	if (ret)
		return ret;
	*set = out[0];
	free(out);
	if (nout != 1) {
		ldq_err("%s: a sweep steps one output channel, not '%s'", dev->uri, cfg->set);
		return -EINVAL;
	}
	ret = check_range(dev, *set, cfg->from, cfg->to);
	if (!ret)
		ret = ldq_device_channels(dev, cfg->read, 0, inputs, n);
	return ret;
}

void ldq_sweep_free(struct ldq_sweep *sw)
{
	if (!sw)
		return;
	free(sw->feed);
	free(sw->line);
	free(sw->columns);
	free(sw->set_column);
	free(sw);
}

static double point_value(const struct ldq_sweep *sw, uint32_t k)
{
	if (sw->points == 1)
		return sw->from;
	if (k == sw->points - 1)
		return sw->to; /* exactly, whatever the rounding */
	return sw->from + (sw->to - sw->from) * (double)k / (double)(sw->points - 1);
}

/* The sidecar's content now, with @status. */
static int write_meta(struct labdaq_run *run, const char *status)
{
	struct ldq_meta m;

	ldq_run_fill_meta(run, &m, status);
	m.kind = "sweep";
	pthread_mutex_lock(&run->lock);
	snprintf(run->ckpt_errmsg, sizeof(run->ckpt_errmsg), "%s", run->errmsg);
	m.error_code = run->error;
	pthread_mutex_unlock(&run->lock);
	m.error = m.error_code ? run->ckpt_errmsg : NULL;
	m.sweep = &run->sweep->meta;
	return ldq_meta_write(run->meta, &m);
}

/* Append @len bytes of @sw->line to the CSV: 0, or -errno with the file
 * cut back to what it held before (no partial row). */
static int csv_put(struct labdaq_run *run, size_t len)
{
	struct ldq_sweep *sw = run->sweep;
	int ret = ldq_pwrite_all(run->fd, sw->line, len, sw->csv_bytes, NULL);

	if (ret) {
		if (ftruncate(run->fd, sw->csv_bytes))
			return -errno;
		return ret;
	}
	sw->csv_bytes += (off_t)len;
	return 0;
}

/* The header row.  0, or -errno if it cannot be written. */
static int write_header(struct labdaq_run *run)
{
	struct ldq_sweep *sw = run->sweep;
	size_t n = 0, len;

	for (unsigned int i = 0; i < sw->meta.ncolumns; i++)
		n += strlen(sw->columns[i]) + 1;
	if (n > sw->line_cap) {
		char *line = realloc(sw->line, n);

		if (!line)
			return -ENOMEM;
		sw->line = line;
		sw->line_cap = n;
	}
	n = 0;
	for (unsigned int i = 0; i < sw->meta.ncolumns; i++) {
		len = strlen(sw->columns[i]);
		memcpy(sw->line + n, sw->columns[i], len);
		n += len;
		sw->line[n++] = i + 1 < sw->meta.ncolumns ? ',' : '\n';
	}
	return csv_put(run, n);
}

static int request_state(int req)
{
	return req == REQ_ABORT ? LABDAQ_STATE_ABORTED : LABDAQ_STATE_STOPPED;
}

/* The CSV line of row @done (repeat @r, taken at @now): 0, or -errno with
 * the run's error set. */
static int append_row(struct labdaq_run *run, uint32_t r, uint64_t done, uint64_t now,
		      const double *row)
{
	struct ldq_sweep *sw = run->sweep;

	size_t n;
	int ret;

	n = (size_t)snprintf(sw->line, sw->line_cap, "%llu,%u,%.6f,%.10g",
			     (unsigned long long)done, r, (double)(now - run->t0_ns) / 1e9, row[0]);
	for (unsigned int i = 0; i < sw->nread; i++)
		n += (size_t)snprintf(sw->line + n, sw->line_cap - n, ",%.10g", row[1 + i]);
	sw->line[n++] = '\n';
	ret = csv_put(run, n);
	if (ret)
		ldq_run_set_error(run, ret, "writing %s: %s", run->path, labdaq_strerror(ret));
	return ret;
}

/* Set point @k, wait, read the inputs into @row, append the row @done.
 * 0, or the state the sweep ends in. */
static int sweep_point(struct labdaq_run *run, uint32_t r, uint32_t k, uint64_t done,
		       double *row)
{
	struct labdaq_device *dev = run->dev;
	struct ldq_sweep *sw = run->sweep;
	int req = atomic_load(&run->request), ret;
	uint64_t now;

	if (req)
		return request_state(req);
	if (sw->feed) {
		/* The reader has not taken the points yet: wait for it. */
		pthread_mutex_lock(&run->lock);
		while (!(req = atomic_load(&run->request)) &&
		       sw->feed_head - sw->feed_tail >= sw->feed_cap)
			pthread_cond_wait(&run->wake_cond, &run->lock);
		pthread_mutex_unlock(&run->lock);
		if (req)
			return request_state(req);
	}
	row[0] = point_value(sw, k);
	ret = dev->backend->write_output(dev, sw->set_chan, row[0]);
	if (ret) {
		ldq_run_set_error(run, ret, "%s: setting %s to %g failed: %s", dev->uri,
				  dev->chans[sw->set_chan].name, row[0], labdaq_strerror(ret));
		return LABDAQ_STATE_FAILED;
	}
	if (sw->delay_ns) {
		/* At a stop or an abort the point in progress is not kept. */
		req = ldq_run_wait_request(run, ldq_now_ns() + sw->delay_ns);
		if (req)
			return request_state(req);
	}
	ret = dev->backend->read_inputs(dev, sw->read_chans, sw->nread, row + 1);
	if (ret) {
		ldq_run_set_error(run, ret, "%s: reading the inputs failed: %s", dev->uri,
				  labdaq_strerror(ret));
		return LABDAQ_STATE_FAILED;
	}
	now = ldq_now_ns();
	if (append_row(run, r, done, now, row))
		return LABDAQ_STATE_FAILED;
	if (sw->feed) {
		pthread_mutex_lock(&run->lock);
		memcpy(sw->feed + (sw->feed_head % sw->feed_cap) * (1 + sw->nread), row,
		       run->item_bytes);
		sw->feed_head++;
		pthread_mutex_unlock(&run->lock);
	}
	ldq_run_tap(run, row, 1, done, now);
	if (now >= sw->meta_next_ns) {
		sw->meta_next_ns = now + META_PERIOD_NS;
		/* The counts are published by the caller: this point is not in
		 * them yet; a refresh that fails is retried at the end. */
		write_meta(run, "running");
	}
	return 0;
}

/* The last point into the tap, the final sidecar, the end of the run. */
static void sweep_end(struct labdaq_run *run, int state, uint64_t done, const double *row)
{
	int ret;

	/* Keep the last point in the tap even if it came within 1/30 s. */
	if (done) {
		pthread_mutex_lock(&run->tap_lock);
		memcpy(run->tap, row, run->item_bytes);
		run->tap_len = run->item_bytes;
		run->tap_index = done - 1;
		run->tap_time_ns = ldq_now_ns();
		pthread_mutex_unlock(&run->tap_lock);
	}
	ldq_utc_now(run->ended_utc, sizeof(run->ended_utc));
	atomic_store(&run->t_end_ns, ldq_now_ns());
	if (fsync(run->fd)) {
		if (state != LABDAQ_STATE_FAILED)
			ldq_run_set_error(run, -errno, "finalizing %s: %s", run->path,
					  labdaq_strerror(-errno));
		state = LABDAQ_STATE_FAILED;
	}
	close(run->fd);
	run->fd = -1;
	ret = write_meta(run, labdaq_state_name(state));
	if (ret && state != LABDAQ_STATE_FAILED) {
		ldq_run_set_error(run, ret, "finalizing the metadata of %s: %s", run->path,
				  labdaq_strerror(ret));
		state = LABDAQ_STATE_FAILED;
		write_meta(run, labdaq_state_name(state));
	}
	ldq_meta_close(run->meta);
	run->meta = NULL;
	ldq_run_finish(run, state);
}

static void *sweep_main(void *arg)
{
	struct labdaq_run *run = arg;
	struct ldq_sweep *sw = run->sweep;
	double *row = sw->row;
	uint64_t done = 0;
	int state = 0;

	for (uint32_t r = 0; r < sw->repeat && !state; r++) {
		for (uint32_t k = 0; k < sw->points && !state; k++) {
			state = sweep_point(run, r, k, done, row);
			if (state)
				break;
			done++;
			atomic_store(&run->acquired, done);
			atomic_store(&run->written, done);
		}
	}
	sweep_end(run, state ? state : LABDAQ_STATE_COMPLETE, done, row);
	return NULL;
}

static int check_config(const struct labdaq_device *dev, const struct labdaq_sweep_config *cfg)
{
	if (!dev->backend->write_output || !dev->backend->read_inputs) {
		ldq_err("%s: the %s backend cannot run sweeps on this device", dev->uri,
			dev->backend->name);
		return -EOPNOTSUPP;
	}
	if (!cfg->points || !isfinite(cfg->from) || !isfinite(cfg->to) ||
	    cfg->delay_ns > UINT64_MAX / 4) {
		ldq_err("a sweep needs at least one point and finite limits");
		return -EINVAL;
	}
	return 0;
}

/* The CSV's columns, named once for the header row and the sidecar:
 * index, repeat, time_s, set_OUTPUT, then each input. */
static int setup_columns(struct labdaq_run *run)
{
	static const char *const fixed[] = { "index", "repeat", "time_s" };
	static const char *const fixed_units[] = { "", "", "s" };
	struct ldq_sweep *sw = run->sweep;
	const struct ldq_channel *set = &run->dev->chans[sw->set_chan];
	unsigned int n = 4 + sw->nread;

	sw->columns = calloc(2 * n, sizeof(*sw->columns));
	if (!sw->columns || asprintf(&sw->set_column, "set_%s", set->name) < 0) {
		sw->set_column = NULL;
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < 3; i++) {
		sw->columns[i] = fixed[i];
		sw->columns[n + i] = fixed_units[i];
	}
	sw->columns[3] = sw->set_column;
	sw->columns[n + 3] = set->unit;
	for (unsigned int i = 0; i < sw->nread; i++) {
		sw->columns[4 + i] = run->dev->chans[sw->read_chans[i]].name;
		sw->columns[n + 4 + i] = run->dev->chans[sw->read_chans[i]].unit;
	}
	sw->meta = (struct ldq_meta_sweep){
		.set = set->name, .unit = set->unit, .from = sw->from, .to = sw->to,
		.delay_s = (double)sw->delay_ns / 1e9, .points = sw->points, .repeat = sw->repeat,
		.columns = sw->columns, .units = sw->columns + n, .ncolumns = n,
	};
	return 0;
}

/* The sweep's settings, its channels, the counts and the tap. */
static int setup(struct labdaq_run *run, const struct labdaq_sweep_config *cfg)
{
	unsigned int set, *inputs, n;
	struct ldq_sweep *sw;
	int ret = resolve(run->dev, cfg, &set, &inputs, &n);

	if (ret)
		return ret;
	sw = calloc(1, sizeof(*sw) + n * sizeof(unsigned int) + (1 + n) * sizeof(double) + 8);
	if (!sw || ldq_run_alloc_chans(run, 1 + n) || ldq_run_copy_meta(run, cfg->meta, cfg->nmeta) ||
	    ldq_run_copy_attrs(run, cfg->attrs, cfg->nattrs)) {
		free(sw);
		free(inputs);
		return -ENOMEM;
	}
	run->sweep = sw;
	sw->set_chan = set;
	sw->read_chans = (unsigned int *)(sw + 1);
	memcpy(sw->read_chans, inputs, n * sizeof(unsigned int));
	free(inputs);
	sw->nread = n;
	/* The doubles after the indexes, 8-aligned. */
	sw->row = (double *)(((uintptr_t)(sw->read_chans + n) + 7) & ~(uintptr_t)7);
	sw->from = cfg->from;
	sw->to = cfg->to;
	sw->points = cfg->points;
	sw->repeat = cfg->repeat ? cfg->repeat : 1;
	sw->delay_ns = cfg->delay_ns;
	ldq_run_add_file_chan(run, set);
	for (unsigned int i = 0; i < n; i++)
		ldq_run_add_file_chan(run, sw->read_chans[i]);
	run->count = (uint64_t)sw->points * sw->repeat;
	run->item_bytes = sizeof(double) * (1 + sw->nread);
	/* A row: the index, the repeat and the time (< 24 bytes each), then
	 * 1 + nread values of %.10g (< 18 bytes each), commas, the newline
	 * (write_header() makes room for longer names). */
	sw->line_cap = 32 * (4 + (size_t)n) + 2;
	sw->line = malloc(sw->line_cap);
	if (!sw->line)
		return -ENOMEM;
	run->tap_cap = run->item_bytes;
	run->tap = malloc(run->tap_cap);
	if (!run->tap)
		return -ENOMEM;
	if (cfg->feed) {
		sw->feed_cap = cfg->feed;
		sw->feed = calloc(sw->feed_cap, run->item_bytes);
		if (!sw->feed)
			return -ENOMEM;
	}
	return setup_columns(run);
}

/* The device lock, then the CSV and its sidecar (old ones set aside with
 * overwrite), the header row and the first sidecar.  As a stream's data
 * file (stream.c, open_files()), the CSV has no name until its sidecar
 * exists: a kill -9 leaves nothing, the sidecar alone, or both. */
static int open_csv(struct labdaq_run *run, int overwrite, struct ldq_outfile *of)
{
	char *json = ldq_meta_path(run->path);
	const char *paths[2] = { run->path, json };
	int ret = json ? ldq_run_lock_device(run) : -ENOMEM;

	if (!ret)
		ret = ldq_outfile_create_unnamed(of, paths, 2, overwrite);
	free(json);
	if (ret < 0)
		return ret;
	run->fd = ret;
	ldq_utc_now(run->started_utc, sizeof(run->started_utc));
	ret = write_header(run);
	if (!ret)
		ret = ldq_meta_open(run->path, &run->meta);
	if (!ret)
		ret = write_meta(run, "running");
	if (!ret) {
		ldq_outfile_own(of, 1);
		ret = ldq_meta_reserved(run->meta);
	}
	if (ret)
		ldq_err("cannot write %s: %s", run->path, labdaq_strerror(ret));
	return ret ? ret : ldq_outfile_publish(of, run->fd);
}

LABDAQ_API int labdaq_sweep_check(labdaq_device *dev, const labdaq_sweep_config *cfg)
{
	unsigned int set, *inputs = NULL, n;
	int ret;

	if (!dev || !cfg)
		return -EINVAL;
	ret = check_config(dev, cfg);
	if (!ret) {
		char *json = cfg->path ? ldq_meta_path(cfg->path) : NULL;

		if (cfg->path && !json)
			return -ENOMEM;
		ret = ldq_check_output(cfg->path, ".csv", json, cfg->overwrite);
		free(json);
	}
	if (!ret)
		ret = resolve(dev, cfg, &set, &inputs, &n);
	free(inputs);
	if (!ret)
		ret = ldq_device_check_attrs(dev, cfg->attrs, cfg->nattrs);
	return ret;
}

LABDAQ_API int labdaq_sweep_start(labdaq_device *dev, const labdaq_sweep_config *cfg,
				  labdaq_run **out)
{
	struct ldq_outfile of = { 0 };
	struct labdaq_run *run;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = labdaq_sweep_check(dev, cfg);
	if (!ret)
		ret = ldq_run_new(dev, LDQ_RUN_SWEEP, cfg->path, cfg->command, &run);
	if (ret)
		return ret;
	ret = setup(run, cfg);
	if (!ret)
		ret = open_csv(run, cfg->overwrite, &of);
	if (!ret) {
		run->t0_ns = ldq_now_ns();
		run->sweep->meta_next_ns = run->t0_ns + META_PERIOD_NS;
		atomic_store(&run->state, LABDAQ_STATE_RUNNING);
		ret = -pthread_create(&run->producer, NULL, sweep_main, run);
	}
	if (!ret)
		run->producer_started = 1;
	else if (run->fd >= 0) {
		close(run->fd);
		run->fd = -1;
	}
	return ldq_run_start_end(run, &of, ret, out);
}

/* The point feed: a sweep started with a feed keeps its points until the
 * caller takes them here, and waits for the caller when the feed is full. */
LABDAQ_API int labdaq_run_next_point(labdaq_run *run, double *row, size_t len, uint64_t *index)
{
	struct ldq_sweep *sw;
	size_t n;
	int ret;

	if (!run || !row)
		return -EINVAL;
	sw = run->sweep;
	if (!sw || !sw->feed)
		return -EOPNOTSUPP;
	n = len < run->item_bytes ? len : run->item_bytes;
	pthread_mutex_lock(&run->lock);
	if (sw->feed_tail < sw->feed_head) {
		memcpy(row, sw->feed + (sw->feed_tail % sw->feed_cap) * (1 + sw->nread), n);
		if (index)
			*index = sw->feed_tail;
		sw->feed_tail++;
		pthread_cond_broadcast(&run->wake_cond);
		ret = (int)n;
	} else {
		ret = atomic_load(&run->state) > LABDAQ_STATE_RUNNING ? -ENODATA : -EAGAIN;
	}
	pthread_mutex_unlock(&run->lock);
	return ret;
}
