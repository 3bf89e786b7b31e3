// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * progress.c - `--progress json`: the machine-readable contract of
 * docs/progress.md.  In that mode every line on stderr is one JSON object
 * (progress, point, message) and the last one is always the one "final"
 * object, whether the run completed, stopped, aborted, failed, or never
 * started.  The progress line of a terminal is here too.
 */
#include <jansson.h>
#include <math.h>
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
