/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * run.c - the run object, streams and sweeps alike, and its control API:
 * create and destroy it, the device lock, the error record, the latest tap,
 * progress, stop, abort, wait, and the end of a run.
 *
 * A stream is started in stream.c (its producer thread there, its writer
 * in writer.c), a sweep in sweep.c.  The caller's functions here never
 * block on the acquisition.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "gaps.h"
#include "outfile.h"
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
void ldq_run_cancel_device(struct labdaq_run *run)
{
	if (!run->dev->backend->stream_cancel || run->mode != LDQ_RUN_STREAM)
		return;
	pthread_mutex_lock(&run->lock);
	if (!atomic_load(&run->producer_done))
		run->dev->backend->stream_cancel(run->dev);
	pthread_mutex_unlock(&run->lock);
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
	if (ldq_gapstore_init(&run->gaps, path) || !run->path || (command && !run->command)) {
		atomic_store(&dev->busy, 0);
		ldq_run_destroy(run);
		return -ENOMEM;
	}
	*out = run;
	return 0;
}

int ldq_run_lock_device(struct labdaq_run *run)
{
	struct labdaq_holder h = { .pid = -1 };
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
	/* The one description of a busy device, for every front end
	 * (labdaq_last_error()). */
	if (ret == -EBUSY && ldq_lock_holder(run->dev->lock_key, &h) == 1 && h.pid > 0 &&
	    h.run_id[0])
		ldq_err("device '%s' is busy: pid %d of user %s has run %s on it since %s: %s",
			run->dev->uri, h.pid, h.user, h.run_id, h.since_utc, h.what);
	else if (ret == -EBUSY && h.pid > 0)
		ldq_err("device '%s' is busy: pid %d of user %s holds it (what it runs is not "
			"known: its lock record is missing or does not match it)", run->dev->uri,
			h.pid, h.user[0] ? h.user : "?");
	else if (ret == -EBUSY)
		ldq_err("device '%s' is busy: another program (not a labdaq run) uses it",
			run->dev->uri);
	/* The device is ours: its attributes, before anything else. */
	if (!ret)
		ret = ldq_device_apply_attrs(run->dev, run->set_attrs, run->nset_attrs, &run->attrs);
	/* An attribute may have changed a channel's scale or offset. */
	for (unsigned int i = 0; !ret && run->nset_attrs && i < run->nfile_chans; i++) {
		labdaq_device_channel(run->dev, run->file_idx[i], &run->file_chans[i]);
		run->file_offsets[i] = run->dev->chans[run->file_idx[i]].offset;
	}
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

int ldq_run_start_end(struct labdaq_run *run, struct ldq_outfile *of, int ret,
		      struct labdaq_run **out)
{
	if (ret) {
		ldq_outfile_undo(of); /* the replaced files come back */
		atomic_store(&run->dev->busy, 0);
		ldq_run_destroy(run);
		return ret;
	}
	ldq_outfile_keep(of);
	*out = run;
	return 0;
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
	free(run->companion);
	free(run->command);
	free(run->chans);
	free(run->file_chans);
	free(run->file_offsets);
	free(run->file_meta);
	free(run->file_idx);
	ldq_kv_free(run->set_attrs, run->nset_attrs);
	ldq_kv_free(run->attrs, run->nset_attrs);
	ldq_kv_free(run->user_meta, run->nuser_meta);
	ldq_gapstore_free(&run->gaps);
	free(run->scratch);
	free(run->tap);
	ldq_sweep_free(run->sweep);
	free(run);
}

LABDAQ_API unsigned int labdaq_run_channel_count(labdaq_run *run)
{
	return run->dev->kind == LABDAQ_KIND_FRAMES ? 0 : run->nfile_chans;
}

LABDAQ_API int labdaq_run_channel(labdaq_run *run, unsigned int index,
				  struct labdaq_channel *out)
{
	if (index >= labdaq_run_channel_count(run))
		return -ERANGE;
	*out = run->file_chans[index];
	return 0;
}

LABDAQ_API int labdaq_run_channel_offset(labdaq_run *run, unsigned int index, double *offset)
{
	if (!run || !offset)
		return -EINVAL;
	if (index >= labdaq_run_channel_count(run))
		return -ERANGE;
	*offset = run->file_offsets[index];
	return 0;
}

int ldq_run_alloc_chans(struct labdaq_run *run, unsigned int n)
{
	run->file_chans = calloc(n ? n : 1, sizeof(*run->file_chans));
	run->file_offsets = calloc(n ? n : 1, sizeof(*run->file_offsets));
	run->file_idx = calloc(n ? n : 1, sizeof(*run->file_idx));
	run->file_meta = calloc(n ? n : 1, sizeof(*run->file_meta));
	return run->file_chans && run->file_offsets && run->file_idx && run->file_meta ? 0 :
											  -ENOMEM;
}

void ldq_run_add_file_chan(struct labdaq_run *run, unsigned int index)
{
	labdaq_device_channel(run->dev, index, &run->file_chans[run->nfile_chans]);
	run->file_idx[run->nfile_chans] = index;
	run->file_meta[run->nfile_chans] = run->dev->chans[index].meta;
	run->file_offsets[run->nfile_chans++] = run->dev->chans[index].offset;
}

int ldq_run_copy_attrs(struct labdaq_run *run, char *const *kv, unsigned int n_kv)
{
	for (unsigned int i = 0; i < n_kv; i++) {
		int ret = ldq_kv_set(&run->set_attrs, &run->nset_attrs, kv[2 * i], kv[2 * i + 1]);

		if (ret)
			return ret;
	}
	return 0;
}

int ldq_run_copy_meta(struct labdaq_run *run, char *const *kv, unsigned int n_kv)
{
	for (unsigned int i = 0; i < n_kv; i++) {
		int ret = ldq_kv_set(&run->user_meta, &run->nuser_meta, kv[2 * i], kv[2 * i + 1]);

		if (ret)
			return ret;
	}
	return 0;
}

/* @v to 10 significant digits: it then prints back in 15 digits, so that
 * the sidecar's other reals (a scale of 0.1) keep their short form. */
static double digits10(double v)
{
	char s[32];

	snprintf(s, sizeof(s), "%.10g", v);
	return strtod(s, NULL);
}

void ldq_run_fill_meta(struct labdaq_run *run, struct ldq_meta *m, const char *status)
{
	struct labdaq_progress p;

	memset(m, 0, sizeof(*m));
	m->status = status;
	m->device = run->dev->uri;
	m->backend = run->dev->backend->name;
	m->command = run->command;
	m->run_id = run->run_id;
	m->started_utc = run->started_utc;
	m->ended_utc = run->ended_utc[0] ? run->ended_utc : NULL;
	m->rate_hz = run->rate_hz;
	m->channels = run->file_chans;
	m->offsets = run->file_offsets;
	m->channel_meta = run->file_meta;
	m->nchannels = run->nfile_chans;
	m->user_meta = (const char *const *)run->user_meta;
	m->nuser_meta = run->nuser_meta;
	m->attrs = (const char *const *)run->attrs;
	m->nattrs = run->attrs ? run->nset_attrs : 0;
	m->acquired = atomic_load(&run->acquired);
	m->written = atomic_load(&run->written);
	m->dropped = atomic_load(&run->dropped);
	/* The measured rate: items acquired per second, start to end (now). */
	if (run->t0_ns) {
		uint64_t end = atomic_load(&run->t_end_ns);

		p.elapsed_ns = (end ? end : ldq_now_ns()) - run->t0_ns;
		m->elapsed_s = digits10((double)p.elapsed_ns / 1e9);
		if (p.elapsed_ns && m->acquired)
			m->measured_rate_hz = digits10((double)m->acquired * 1e9 /
						       (double)p.elapsed_ns);
	}
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
	ldq_run_cancel_device(run);
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
