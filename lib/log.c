/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * log.c - logging, the calling thread's last error, and error texts.
 *
 * The library never prints: messages go to the callback set with
 * labdaq_set_log(), or nowhere.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

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

LABDAQ_API const char *labdaq_last_error(void)
{
	return ldq_last_error();
}

LABDAQ_API void labdaq_clear_error(void)
{
	ldq_clear_last_error();
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
		return "file exists";
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
