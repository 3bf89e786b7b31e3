/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * common.h - what the labdaq subcommands share: exit statuses, argument
 * parsing with suffixes, messages.
 */
#ifndef LABDAQ_TOOLS_COMMON_H
#define LABDAQ_TOOLS_COMMON_H

#include <stdint.h>
#include <stdio.h>

#include "labdaq.h"

/* Exit statuses, documented in labdaq(1) and every --help. */
enum {
	EXIT_OK = 0,        /* complete, or stopped with nothing dropped */
	EXIT_FAILURE_IO = 1, /* device or I/O failure */
	EXIT_USAGE = 2,     /* bad usage: nothing was started */
	EXIT_DROPPED = 3,   /* finished, but data was dropped */
	EXIT_BUSY = 4,      /* the device is held by another run */
	EXIT_ABORTED = 130, /* aborted (second Ctrl-C, --abort) */
};

struct command {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
	const char *usage; /* the whole help page */
};

extern const struct command cmd_acquire, cmd_list, cmd_info, cmd_inspect, cmd_recover;

extern const char *progname;
extern int verbose;

void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int usage_error(const struct command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Handles --help / -h as the only argument check; returns 1 if printed. */
void print_help(const struct command *cmd, FILE *f);

/* Parsers: 0 on success, -EINVAL otherwise. */
int parse_size(const char *s, uint64_t *out);     /* bytes: 16M = 16 MiB */
int parse_count(const char *s, uint64_t *out);    /* items: 3k = 3000 */
int parse_duration(const char *s, uint64_t *ns);  /* 500ms, 2s, 5min, 1h */
int parse_rate(const char *s, double *hz);        /* 1000, 2.5k, 1M */

/* Human formatting into @buf. */
const char *fmt_bytes(double bytes, char *buf, size_t len);
const char *fmt_duration(double s, char *buf, size_t len);

/* Open @uri, with a message and the exit status to use on failure (or 0). */
int open_device(const char *uri, labdaq_device **dev);

/* Route the library's log to stderr. */
void setup_log(void);

#endif
