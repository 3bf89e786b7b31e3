/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.c - small helpers the library's files share: time, fsync, UTC
 * timestamps, whole-buffer pread/pwrite (util.h), and the names of the
 * public enums and the version.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util.h"

#define LDQ_STR(x) LDQ_STR2(x)
#define LDQ_STR2(x) #x

LABDAQ_API const char *labdaq_version(void)
{
	return LDQ_STR(LABDAQ_VERSION_MAJOR) "." LDQ_STR(LABDAQ_VERSION_MINOR) "."
		LDQ_STR(LABDAQ_VERSION_PATCH);
}

uint64_t ldq_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int ldq_open_regular(const char *path, int flags)
{
	struct stat st;
	int fd, fl;

	if (stat(path, &st))
		return -errno;
	if (S_ISDIR(st.st_mode))
		return -EISDIR;
	if (!S_ISREG(st.st_mode))
		goto refuse;
	/* Non-blocking: it may have been replaced by a fifo meanwhile. */
	fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		goto refuse;
	}
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
refuse:
	ldq_err("%s is not a regular file (a fifo, a device or a socket): refusing it", path);
	return -EINVAL;
}

int ldq_fsync(int fd)
{
	while (fsync(fd) < 0)
		if (errno != EINTR)
			return -errno;
	return 0;
}

/*
 * Days since 1970-01-01 to a civil date, by 400-year eras of 146097 days
 * counted from 0000-03-01, so that the leap day ends its year (the method
 * of H. Hinnant's "chrono-compatible low-level date algorithms").
 */
void ldq_utc_fields(long long t, struct tm *tm)
{
	long long days = t / 86400, secs = t % 86400, era, y;
	unsigned int doe, yoe, doy, mp, m;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468; /* from 0000-03-01 */
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = (unsigned int)(days - era * 146097);                    /* 0..146096 */
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365; /* 0..399 */
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);               /* from March 1 */
	mp = (5 * doy + 2) / 153;                                    /* March = 0 */
	m = mp < 10 ? mp + 3 : mp - 9;
	y = (long long)yoe + era * 400 + (m <= 2);
	tm->tm_year = (int)(y - 1900);
	tm->tm_mon = (int)m - 1;
	tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	tm->tm_hour = (int)(secs / 3600);
	tm->tm_min = (int)(secs / 60 % 60);
	tm->tm_sec = (int)(secs % 60);
}

void ldq_utc_now(char *buf, size_t len)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	ldq_utc_fields(ts.tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(ts.tv_nsec / 1000000) % 1000);
}

int ldq_pwrite_all(int fd, const void *buf, size_t len, off_t off, size_t *done)
{
	const char *p = buf;
	size_t dummy;

	if (!done)
		done = &dummy;
	*done = 0;
	while (*done < len) {
		ssize_t n = pwrite(fd, p + *done, len - *done, off + (off_t)*done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		*done += (size_t)n;
	}
	return 0;
}

int ldq_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EBADMSG;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

LABDAQ_API size_t labdaq_dtype_size(int dtype)
{
	switch (dtype) {
	case LABDAQ_DTYPE_UINT8:
		return 1;
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
		[LABDAQ_DTYPE_UINT8] = "|u1",
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
