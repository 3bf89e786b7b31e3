/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.h - small helpers that more than one labdaq subcommand uses: strings,
 * times, users and processes.  Nothing here knows a subcommand.
 */
#ifndef LABDAQ_TOOLS_UTIL_H
#define LABDAQ_TOOLS_UTIL_H

#include <stddef.h>
#include <sys/types.h>

/* Whether @s ends in @sfx (and is longer than it). */
int has_suffix(const char *s, const char *sfx);
/* @s with its control characters (and DEL) as \xNN and backslashes as
 * \\, in @buf (cut to fit): a name from a file that a terminal or a log
 * must not interpret. */
const char *escape_ctl(const char *s, char *buf, size_t len);
/* A malloc'd string, or NULL. */
char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Now, as "2026-11-27T10:52:01.660Z" (ISO 8601 UTC, milliseconds). */
void utc_now(char *buf, size_t len);
/* @uid's login name, or its number, in @buf. */
const char *user_name(uid_t uid, char *buf, size_t len);

/* A process's start time (clock ticks after boot, /proc/PID/stat field 22),
 * to tell it from a later process that reused its pid; -1 if it is gone or
 * a zombie. */
long long proc_start(pid_t pid);
/* Whether the process @pid that started at @start still runs. */
int same_process(long long pid, long long start);
/* Wait up to @secs for a process that is not our child to end: 1 if it
 * has, 0 if it still runs. */
int wait_gone(long long pid, long long start, int secs);

#endif
