// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * progress.c - `--progress json`: the machine-readable contract of
 * docs/progress.md.  In that mode every line on stderr is one JSON object
 * (progress, point, message) and the last one is always the one "final"
 * object, whether the run completed, stopped, aborted, failed, or never
 * started.  The progress line of a terminal is here too.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common.h"

int json_mode;
static int final_done;
static char last_error[2048]; /* the last error message, for a refusal */

int json_scan_args(int argc, char **argv)
{
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if (!strcmp(argv[i], "--progress=json") ||
		    (!strcmp(argv[i], "--progress") && i + 1 < argc && !strcmp(argv[i + 1], "json")))
			return 1;
	}
	return 0;
}

/* Print @o as one line (it is freed); lines from several threads never mix. */
void json_emit(json_t *o)
{
	char *s;

	if (!o)
		return;
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
	if (s) {
		flockfile(stderr);
		fputs(s, stderr);
		fputc('\n', stderr);
		fflush(stderr);
		funlockfile(stderr);
		free(s);
	}
	if (json_is_true(json_object_get(o, "final")))
		final_done = 1;
	json_decref(o);
}

void json_message_text(const char *level, const char *text)
{
	if (!strcmp(level, "error"))
		snprintf(last_error, sizeof(last_error), "%s", text);
	json_emit(json_pack("{s:s, s:s, s:s, s:b}", "type", "message", "level", level, "message",
			    text, "final", 0));
}

/*
 * Lines other programs' code writes on fd 2 (libiio 0.24 prints its own
 * warnings there: docs/iio.md) must not break the contract either: in json
 * mode fd 2 is a pipe, and a relay thread copies each line to the real
 * stderr, a JSON object as it is, anything else as a "message" object.
 */
static int relay_out = -1;     /* the real stderr */
static int relay_in = -1;      /* the pipe's read end */
static pthread_t relay_thread;

static void relay_line(char *line, size_t n)
{
	json_t *o;
	char *s;

	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	if (!n)
		return;
	if (line[0] == '{') {
		line[n] = '\n';
		if (write(relay_out, line, n + 1) < 0)
			return;
		return;
	}
	o = json_pack("{s:s, s:s, s:s%, s:b}", "type", "message", "level", "warning", "message",
		      line, n, "final", 0);
	s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	if (s && write(relay_out, s, strlen(s)) >= 0 && write(relay_out, "\n", 1) < 0)
		s[0] = '\0';
	free(s);
	json_decref(o);
}

static void *relay_main(void *arg)
{
	FILE *in = fdopen(relay_in, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;

	(void)arg;
	/* relay_line() strips the line's end, so line[n] stays inside. */
	while (in && (n = getline(&line, &cap, in)) > 0)
		relay_line(line, (size_t)n);
	free(line);
	if (in)
		fclose(in);
	return NULL;
}

int json_relay_start(void)
{
	sigset_t all, old;
	int p[2], ret;

	fflush(stderr);
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	relay_out = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (relay_out < 0 || dup2(p[1], STDERR_FILENO) < 0) {
		close(p[0]);
		close(p[1]);
		if (relay_out >= 0)
			close(relay_out);
		relay_out = -1;
		return -errno;
	}
	close(p[1]);
	relay_in = p[0];
	/* The relay takes no signal: they belong to the command's signalfd. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	ret = pthread_create(&relay_thread, NULL, relay_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		dup2(relay_out, STDERR_FILENO);
		close(relay_in);
		close(relay_out);
		relay_out = -1;
		return -EAGAIN;
	}
	return 0;
}

void json_relay_end(void)
{
	if (relay_out < 0)
		return;
	fflush(stderr);
	/* The pipe's last writer closes: the relay reads to its end, then
	 * stops. */
	dup2(relay_out, STDERR_FILENO);
	pthread_join(relay_thread, NULL);
	close(relay_out);
	relay_out = -1;
}

void json_message(const char *level, const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	json_message_text(level, buf);
}

json_t *json_counts(const char *type, const struct labdaq_progress *p)
{
	double mbps = p->rate_hz * (double)p->item_bytes / 1e6;

	return json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:I, s:I, s:I}",
			 "type", type, "state", labdaq_state_name(p->state),
			 "elapsed_s", (double)p->elapsed_ns / 1e9,
			 "acquired", (json_int_t)p->acquired, "written", (json_int_t)p->written,
			 "dropped", (json_int_t)p->dropped, "gaps", (json_int_t)p->gaps,
			 "target", (json_int_t)p->target, "rate_hz", isfinite(p->rate_hz) ? p->rate_hz : 0.0,
			 "mb_per_s", isfinite(mbps) ? mbps : 0.0,
			 "ring_fill_bytes", (json_int_t)p->ring_fill_bytes,
			 "ring_high_water_bytes", (json_int_t)p->ring_high_water_bytes,
			 "ring_capacity_bytes", (json_int_t)p->ring_capacity_bytes);
}

void json_final(const char *kind, labdaq_run *run, const char *file, int exit_status)
{
	struct labdaq_progress p;
	const char *why = NULL;
	json_t *o;

	labdaq_run_progress(run, &p);
	o = json_counts("final", &p);
	if (!o)
		return;
	json_object_set_new(o, "kind", json_string(kind));
	json_object_set_new(o, "file", json_string(file));
	json_object_set_new(o, "exit_status", json_integer(exit_status));
	if (labdaq_run_error(run, &why))
		json_object_set_new(o, "error", json_pack("{s:i, s:s}", "code",
							  -labdaq_run_error(run, NULL), "message",
							  why ? why : "unknown error"));
	else
		json_object_set_new(o, "error", json_null());
	json_object_set_new(o, "final", json_true());
	json_emit(o);
}

void json_final_not_run(const char *kind, int exit_status)
{
	if (!json_mode || final_done)
		return;
	json_emit(json_pack("{s:s, s:s, s:s, s:i, s:o, s:b}", "type", "final", "kind", kind,
			    "state", exit_status ? "refused" : "checked", "exit_status", exit_status,
			    "error", exit_status ? json_pack("{s:s}", "message",
							     last_error[0] ? last_error :
							     "nothing was started") : json_null(),
			    "final", 1));
}

int terminal_width(void)
{
	struct winsize ws;
	const char *cols = getenv("COLUMNS");

	if (!ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) && ws.ws_col > 0)
		return ws.ws_col;
	if (cols && atoi(cols) > 0)
		return atoi(cols);
	return 80;
}
