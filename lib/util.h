/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util.h - util.c's helpers that internal.h does not declare (the time,
 * fsync and UTC helpers are declared there).  Not installed.
 */
#ifndef LDQ_UTIL_H
#define LDQ_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* pwrite all @len bytes of @buf at @off, again after EINTR and short
 * writes.  0 or -errno (-EIO if a write wrote nothing); *@done (if not
 * NULL) receives the bytes written, on failure too. */
int ldq_pwrite_all(int fd, const void *buf, size_t len, off_t off, size_t *done);
/* pread exactly @len bytes at @off: 0, -EBADMSG if the file ends first, or
 * -errno. */
int ldq_pread_all(int fd, void *buf, size_t len, off_t off);

struct tm;
/* @t (seconds since the epoch) as UTC in @tm's year, month, day, hour,
 * minute and second (the other fields untouched), as gmtime_r() gives them
 * but without its first call's reading of the time zone file (glibc):
 * a run's start reads nothing it does not need.  Any @t. */
void ldq_utc_fields(long long t, struct tm *tm);

#endif
