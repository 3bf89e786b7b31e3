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

extern const struct command cmd_acquire, cmd_sweep, cmd_stop, cmd_queue, cmd_list, cmd_info, cmd_attr,
	cmd_inspect, cmd_recover;

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
int parse_rate(const char *s, double *hz);        /* 1000, 2.5k, 1M, 10mHz */
/* Why the last parse failed when a unit was written in the wrong case or
 * is ambiguous: " (units are case-sensitive: mHz (millihertz) or ...)", or "". */
const char *parse_hint(void);

/* --progress: auto (live on a terminal), bar/lines (live), json, none. */
enum progress_mode { PROGRESS_AUTO, PROGRESS_LIVE, PROGRESS_JSON, PROGRESS_NONE };
/* Parse --progress @arg into *@mode; 0 or the usage error. */
int parse_progress(const struct command *cmd, const char *arg, int *mode);
/* The options acquire and sweep share (-o, --progress, --force, --dry-run)
 * and their one DEVICE. */
struct run_opts {
	const char *device;
	const char *output;
	int progress;        /* enum progress_mode, AUTO resolved */
	int force;
	int dry_run;
	const char *meta[64]; /* --meta KEY=VALUE, as given */
	unsigned int nmeta;
	const char *attr[64]; /* --attr NAME=VALUE, as given */
	unsigned int nattr;
};
/* The long options acquire and sweep share beyond their letters. */
enum { OPT_META = 0x100, OPT_ATTR, OPT_META_FILE };
/* Split "KEY=VALUE" into @key (at most @len bytes) and *@value: 0, or
 * -EINVAL without '=' or with an empty or too long key. */
int split_pair(const char *arg, char *key, size_t len, const char **value);
/* A command's own option @opt with its argument: 0, or the exit status of
 * the usage error it printed. */
struct option;
typedef int (*option_fn)(const struct command *cmd, int opt, const char *arg, void *ctx);
/* Parse @argv with getopt_long(@short_opts, @opts): the shared options
 * into @ro, the others through @own(ctx); then the DEVICE (@example names
 * one of the right kind) and the output (@output_hint: "FILE.npy").  0, or
 * the exit status of the usage error printed. */
int parse_run_args(const struct command *cmd, int argc, char **argv, const char *short_opts,
		   const struct option *opts, option_fn own, void *ctx, const char *example,
		   const char *output_hint, struct run_opts *ro);

/* Human formatting into @buf. */
const char *fmt_bytes(double bytes, char *buf, size_t len);
const char *fmt_duration(double s, char *buf, size_t len);

/* Open @uri, with a message and the exit status to use on failure (or 0). */
int open_device(const char *uri, labdaq_device **dev);

/* Append @a to @w as a shell word, quoted where needed; returns the end. */
char *quote_arg(char *w, const char *a);
/* Check a run's (@rc) or a sweep's (@sc, when @rc is NULL) configuration
 * on @dev before anything starts: 0, or the exit status with the
 * library's reason printed once (EXIT_USAGE for what the user can fix). */
int check_config(const struct command *cmd, labdaq_device *dev, const labdaq_run_config *rc,
		 const labdaq_sweep_config *sc);
/* The command line, shell-quoted, for the metadata; malloc'd. */
int join_command(int argc, char **argv, char **out);

/* progress.c: --progress json, the contract of docs/progress.md. */
#include <stdarg.h>
struct json_t;
extern int json_mode;          /* every line on stderr is a JSON object */
/* In json mode, fd 2 through a relay that turns lines which are not JSON
 * (other libraries' own prints) into "message" objects: start it before
 * the command runs, end it after the final object.  0 or -errno. */
int json_relay_start(void);
void json_relay_end(void);
/* Whether @argv asks for --progress json. */
int json_scan_args(int argc, char **argv);
/* Print a JSON object (freed) as one line of stderr. */
void json_emit(struct json_t *o);
/* A "message" object. */
void json_message(const char *level, const char *fmt, va_list ap);
void json_message_text(const char *level, const char *text);
/* An object of @type with @p's counts, to complete and emit. */
struct json_t *json_counts(const char *type, const struct labdaq_progress *p);
/* The "final" object of a run that started. */
void json_final(const char *kind, labdaq_run *run, const char *file, int exit_status);
/* The "final" object when no run started (refused, or a dry run), unless
 * one was printed. */
void json_final_not_run(const char *kind, int exit_status);
/* Columns of the terminal on stderr ($COLUMNS, else 80). */
int terminal_width(void);

/* Route the library's log to stderr. */
void setup_log(void);

/* The status a data file's metadata records ("complete", ...: a stream's
 * sidecar or a sweep's CSV) into @status; 0, or -errno if there is none. */
int sidecar_status(const char *path, char *status, size_t len);

/* runloop.c: signals and the progress loop shared by acquire and sweep. */
/* Block @sigs (n of them) in this thread and those it starts, undo an
 * inherited SIG_IGN (an ignored signal never reaches a signalfd), ignore
 * SIGPIPE, and return a signalfd for them with @flags (or -1, said). */
int signalfd_for(const int *sigs, size_t n, int flags);
typedef void (*show_fn)(labdaq_run *run, void *ctx, int final);
/* Block SIGINT, SIGTERM, SIGHUP, SIGUSR1 and return a signalfd (or -1). */
int signals_take(void);
/* Until @run ends: call @show every @period_ms, stop on the first SIGINT or
 * SIGTERM, abort on a second SIGINT or a SIGUSR1; @show(final=1) at the end. */
void run_loop(labdaq_run *run, int sfd, int period_ms, int quiet, show_fn show, void *ctx);
int exit_status_of(int state, uint64_t dropped);
/* The message for a failed labdaq_run_start()/labdaq_sweep_start(), and the
 * exit status. */
int start_error(const struct command *cmd, const char *device, const char *output, int ret);
void describe_holder(const char *uri);

#endif
