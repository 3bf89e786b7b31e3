/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.c - errors, logging, versions and small shared helpers.
 *
 * The library never prints: messages go to the callback set with
 * labdaq_set_log(), or nowhere.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static labdaq_log_fn log_fn;
static int log_max = LABDAQ_LOG_INFO;
static void *log_user;

LABDAQ_API void labdaq_set_log(labdaq_log_fn fn, int max_level, void *user)
{
	log_fn = fn;
	log_max = max_level;
	log_user = user;
}

/* The calling thread's last error message, for a run's error record. */
static __thread char last_error[512];

void ldq_log(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > LABDAQ_LOG_ERROR && (!log_fn || level > log_max))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level == LABDAQ_LOG_ERROR)
		snprintf(last_error, sizeof(last_error), "%.500s", msg);
	if (log_fn && level <= log_max)
		log_fn(level, msg, log_user);
}

const char *ldq_last_error(void)
{
	return last_error[0] ? last_error : NULL;
}

void ldq_clear_last_error(void)
{
	last_error[0] = '\0';
}

LABDAQ_API const char *labdaq_version(void)
{
	return "0.1.0";
}

LABDAQ_API const char *labdaq_strerror(int err)
{
	if (err == INT_MIN)
		return "unknown error";
	if (err < 0)
		err = -err;
	switch (err) {
	case 0:
		return "success";
	case EBUSY:
		return "device busy: another run holds it";
	case ENODEV:
		return "no such device, or the device is gone";
	case EPROTONOSUPPORT:
		return "unknown backend, or backend not built in";
	case EEXIST:
		return "file exists (use --force to replace it)";
	case ENOSPC:
		return "no space left on device";
	case EOVERFLOW:
		return "hardware overrun: the device lost data";
	case ECANCELED:
		return "cancelled";
	case EBADMSG:
		return "not a labdaq data file";
	default:
		/* strerror() of glibc is thread-safe for known values and
		 * returns a static string. */
		return strerror(err);
	}
}

uint64_t ldq_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ldq_fsync(int fd)
{
	while (fsync(fd) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

void ldq_utc_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;
	char tmp[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, len, "%.20s.%03dZ", tmp, (int)(ts.tv_nsec / 1000000) % 1000);
}

LABDAQ_API size_t labdaq_dtype_size(int dtype)
{
	switch (dtype) {
	case LABDAQ_DTYPE_INT16:
	case LABDAQ_DTYPE_UINT16:
		return 2;
	case LABDAQ_DTYPE_INT32:
	case LABDAQ_DTYPE_UINT32:
		return 4;
	case LABDAQ_DTYPE_FLOAT64:
	case LABDAQ_DTYPE_INT64:
		return 8;
	default:
		return 0;
	}
}

LABDAQ_API const char *labdaq_dtype_numpy(int dtype)
{
	static const char *const names[] = {
		[LABDAQ_DTYPE_INT16] = "<i2",  [LABDAQ_DTYPE_UINT16] = "<u2",
		[LABDAQ_DTYPE_INT32] = "<i4",  [LABDAQ_DTYPE_UINT32] = "<u4",
		[LABDAQ_DTYPE_FLOAT64] = "<f8", [LABDAQ_DTYPE_INT64] = "<i8",
	};

	if (dtype < 0 || (size_t)dtype >= LDQ_ARRAY_SIZE(names))
		return NULL;
	return names[dtype];
}

LABDAQ_API const char *labdaq_state_name(int state)
{
	static const char *const names[] = {
		[LABDAQ_STATE_QUEUED] = "queued",     [LABDAQ_STATE_RUNNING] = "running",
		[LABDAQ_STATE_COMPLETE] = "complete", [LABDAQ_STATE_STOPPED] = "stopped",
		[LABDAQ_STATE_ABORTED] = "aborted",   [LABDAQ_STATE_FAILED] = "failed",
	};

	if (state < 0 || (size_t)state >= LDQ_ARRAY_SIZE(names))
		return "unknown";
	return names[state];
}
