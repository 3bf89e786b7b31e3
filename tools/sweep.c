// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sweep.c - labdaq sweep: a step scan into a CSV file.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"

struct sweep_cfg {
	struct run_opts ro;    /* DEVICE, -o, --progress, --force, --dry-run */
	const char *set;
	const char *read;
	double from, to;
	uint64_t points, repeat;
	uint64_t delay_ns;
	int have_from, have_to;
	int progress;          /* ro.progress, or NONE if rows cannot be shown */
	char *command;
	/* while running */
	labdaq_device *dev;
	double *row;           /* the newest row: the value set, then each input */
	unsigned int ncols;
};

static const char sweep_usage[] =
	"Usage: labdaq sweep DEVICE --set CHANNEL [--read CH[,CH...]] --from V --to V\n"
	"           --points N [--delay DURATION] [--repeat N] -o FILE.csv\n"
	"           [--progress auto|lines|json|none] [--attr NAME=VALUE]...\n"
	"           [--meta KEY=VALUE]... [--force]\n"
	"           [--dry-run]\n"
	"\n"
	"A step scan: for each of N evenly spaced values from --from to --to (both\n"
	"included), set the output CHANNEL, wait --delay, read the input channels, and\n"
	"write one CSV row, flushed at once (a crash loses at most the point in\n"
	"progress).  FILE.csv is a plain CSV: the header row, then one row per\n"
	"point: index, repeat, time_s, the value set, then each input in its\n"
	"physical unit (pandas.read_csv(FILE) reads it).  The metadata (device,\n"
	"channels, units, the sweep's parameters, times, the status) is in\n"
	"FILE.json beside it.\n"
	"\n"
	"  -s, --set CHANNEL       the output channel to step (e.g. voltage0)\n"
	"  -R, --read LIST         comma-separated input channels (default: all inputs)\n"
	"      --from V, --to V    the first and last value, in the output's unit\n"
	"  -n, --points N          the number of points (>= 1)\n"
	"  -d, --delay DURATION    settling time after each set: 10ms, 1s (default 0)\n"
	"      --repeat N          passes over the points (default 1)\n"
	"  -o, --output FILE.csv   the data file (required; never replaced unless --force)\n"
	"      --progress MODE     auto (one line per point on a terminal), lines, json\n"
	"                          (one JSON object per point on stderr, then a final\n"
	"                          one: docs/progress.md), none\n"
	"      --attr NAME=VALUE   set a device attribute first (labdaq attr DEVICE lists\n"
	"                          them); recorded in FILE.json; repeatable\n"
	"      --meta KEY=VALUE    your own metadata (sample, operator, notes), kept\n"
	"                          under \"user\" in FILE.json; repeatable\n"
	"      --force             replace FILE.csv and FILE.json if they exist\n"
	"      --dry-run           check everything, start nothing, create no file;\n"
	"                          print the points, the least duration, the free space\n"
	"  -h, --help              this help\n"
	"\n"
	"Ctrl-C or SIGTERM ('labdaq stop'): stop after the point in progress, keeping\n"
	"every point done (status stopped).  A second Ctrl-C or SIGUSR1: abort.\n"
	"Only one run at a time may use a device, across processes and users.\n"
	"\n"
	"Exit status:\n"
	"  0    complete, or stopped\n"
	"  1    device or I/O failure (the file holds the points done)\n"
	"  2    bad usage: nothing was started\n"
	"  4    the device is busy with another run\n"
	"  130  aborted\n";

static int parse_value(const char *s, double *v)
{
	char *end;

	errno = 0;
	*v = strtod(s, &end);
	return !*s || *end || errno || !isfinite(*v) ? -EINVAL : 0;
}

/* One of sweep's own options: 0 or the usage error. */
static int sweep_option(const struct command *cmd, int opt, const char *arg, void *ctx)
{
	struct sweep_cfg *c = ctx;

	switch (opt) {
	case 's':
		c->set = arg;
		return 0;
	case 'R':
		c->read = arg;
		return 0;
	case 'F':
	case 'T':
		if (parse_value(arg, opt == 'F' ? &c->from : &c->to))
			return usage_error(cmd, "bad --%s '%s': a number, e.g. -1.5 or 2e-3",
					   opt == 'F' ? "from" : "to", arg);
		*(opt == 'F' ? &c->have_from : &c->have_to) = 1;
		return 0;
	case 'n':
		if (parse_count(arg, &c->points) || !c->points || c->points > 100000000)
			return usage_error(cmd, "bad --points '%s': a whole number from 1 to 100M%s",
					   arg, parse_hint());
		return 0;
	case 'd':
		if (parse_duration(arg, &c->delay_ns))
			return usage_error(cmd, "bad --delay '%s': e.g. 10ms, 0.5s, 2s%s", arg,
					   parse_hint());
		return 0;
	default: /* 'r' */
		if (parse_count(arg, &c->repeat) || !c->repeat || c->repeat > 1000000)
			return usage_error(cmd, "bad --repeat '%s': a whole number from 1 to 1M%s", arg,
					   parse_hint());
		return 0;
	}
}

static int parse_args(int argc, char **argv, struct sweep_cfg *c)
{
	static const struct option opts[] = {
		{ "set", required_argument, NULL, 's' },
		{ "read", required_argument, NULL, 'R' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "points", required_argument, NULL, 'n' },
		{ "delay", required_argument, NULL, 'd' },
		{ "repeat", required_argument, NULL, 'r' },
		{ "output", required_argument, NULL, 'o' },
		{ "progress", required_argument, NULL, 'P' },
		{ "force", no_argument, NULL, 'y' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "meta", required_argument, NULL, OPT_META },
		{ "attr", required_argument, NULL, OPT_ATTR },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd = &cmd_sweep;
	int ret;

	memset(c, 0, sizeof(*c));
	c->repeat = 1;
	ret = parse_run_args(cmd, argc, argv, ":s:R:n:d:o:", opts, sweep_option, c, "sim:ohm",
			     "FILE.csv", &c->ro);
	if (ret)
		return ret;
	c->progress = c->ro.progress;
	if (!c->set)
		return usage_error(cmd, "no output channel: add --set CHANNEL (e.g. voltage0)");
	if (!c->have_from || !c->have_to)
		return usage_error(cmd, "give the range with --from V --to V");
	if (!c->points)
		return usage_error(cmd, "give the number of points with --points N");
	return 0;
}

/* Column @i of the live lines: "set_voltage0" for the output, then the
 * inputs' names; its unit. */
static const char *column(labdaq_run *run, unsigned int i, const char **unit, char *buf,
			  size_t len)
{
	struct labdaq_channel ch = { .name = "?", .unit = "" };

	labdaq_run_channel(run, i, &ch);
	*unit = ch.unit;
	snprintf(buf, len, "%s%s", i ? "" : "set_", ch.name);
	return buf;
}

static void show_row(labdaq_run *run, const struct sweep_cfg *c, uint64_t index,
		     uint64_t target, int state)
{
	const char *unit;
	char name[160];

	if (c->progress == PROGRESS_JSON) {
		json_t *o = json_pack("{s:s, s:s, s:I, s:I, s:I}", "type", "point", "state",
				      labdaq_state_name(state), "index", (json_int_t)index,
				      "point", (json_int_t)index + 1, "points", (json_int_t)target);
		json_t *v = json_object();

		for (unsigned int i = 0; o && v && i < c->ncols; i++)
			json_object_set_new(v, column(run, i, &unit, name, sizeof(name)),
					    json_real(c->row[i]));
		if (o) {
			json_object_set_new(o, "values", v);
			json_object_set_new(o, "final", json_false());
		}
		json_emit(o);
		return;
	}
	fprintf(stderr, "point %llu/%llu ", (unsigned long long)index + 1,
		(unsigned long long)target);
	for (unsigned int i = 0; i < c->ncols; i++) {
		column(run, i, &unit, name, sizeof(name));
		fprintf(stderr, " %s%s = %.6g %s", i == 1 ? " ->  " : i ? " " : "", name,
			c->row[i], unit);
	}
	fputc('\n', stderr);
	fflush(stderr);
}

/* Every point the feed holds, in order; at the end, until the last. */
static void show(labdaq_run *run, void *ctx, int final)
{
	struct sweep_cfg *c = ctx;
	struct labdaq_progress p;
	uint64_t index;

	(void)final;
	if (c->progress == PROGRESS_NONE)
		return;
	labdaq_run_progress(run, &p);
	while (labdaq_run_next_point(run, c->row, c->ncols * sizeof(double), &index) > 0)
		show_row(run, c, index, p.target, p.state);
}

/* The library's configuration of @c: 0, or an exit status (said). */
static int make_config(const struct sweep_cfg *c, labdaq_sweep_config **out)
{
	labdaq_sweep_config *sc;

	if (labdaq_sweep_config_new(&sc))
		return EXIT_FAILURE_IO;
	*out = sc;
	if (labdaq_sweep_config_set_path(sc, c->ro.output) ||
	    labdaq_sweep_config_set_output(sc, c->set) ||
	    labdaq_sweep_config_set_inputs(sc, c->read) ||
	    labdaq_sweep_config_set_command(sc, c->command) ||
	    labdaq_sweep_config_set_range(sc, c->from, c->to) ||
	    labdaq_sweep_config_set_points(sc, (uint32_t)c->points) ||
	    labdaq_sweep_config_set_repeat(sc, (uint32_t)c->repeat))
		return EXIT_FAILURE_IO;
	for (unsigned int i = 0; i < c->ro.nattr; i++) {
		char key[256];
		const char *value;

		split_pair(c->ro.attr[i], key, sizeof(key), &value);
		if (labdaq_sweep_config_set_attr(sc, key, value))
			return usage_error(&cmd_sweep, "bad --attr '%s': NAME=VALUE, the name as "
					   "'labdaq attr DEVICE' lists it", c->ro.attr[i]);
	}
	for (unsigned int i = 0; i < c->ro.nmeta; i++) {
		char key[256];
		const char *value;

		split_pair(c->ro.meta[i], key, sizeof(key), &value);
		if (labdaq_sweep_config_set_meta(sc, key, value))
			return usage_error(&cmd_sweep, "bad --meta '%s': the name takes letters, "
					   "digits and _-.:/ (at most 128), the value at most 4096 "
					   "bytes", c->ro.meta[i]);
	}
	labdaq_sweep_config_set_delay_ns(sc, c->delay_ns);
	/* Every point is shown: the sweep waits for this process if it is
	 * 4096 points ahead. */
	if (c->progress != PROGRESS_NONE)
		labdaq_sweep_config_set_feed(sc, 4096);
	labdaq_sweep_config_set_overwrite(sc, c->ro.force);
	return 0;
}

/* Parse, open the device, make and check the configuration: 0 or the
 * exit status (said); c->dev and *@sc are the caller's to free. */
static int prepare(int argc, char **argv, struct sweep_cfg *c, labdaq_sweep_config **sc)
{
	char *command = NULL;
	int status;

	memset(c, 0, sizeof(*c));
	/* The command line as given, before getopt permutes @argv. */
	status = join_command(argc, argv, &command) ? EXIT_FAILURE_IO : 0;
	if (!status)
		status = parse_args(argc, argv, c);
	c->command = command;
	if (!status)
		status = open_device(c->ro.device, &c->dev);
	if (!status)
		status = make_config(c, sc);
	if (!status)
		status = check_config(&cmd_sweep, c->dev, NULL, *sc);
	return status;
}

/* How the sweep ended, on stderr; the exit status. */
static int report(labdaq_run *run, const struct sweep_cfg *c)
{
	struct labdaq_progress p;
	char b[32];

	labdaq_run_progress(run, &p);
	if (json_mode) {
		json_final("sweep", run, c->ro.output, exit_status_of(p.state, 0));
		return exit_status_of(p.state, 0);
	}
	if (p.state == LABDAQ_STATE_FAILED) {
		const char *why = NULL;

		labdaq_run_error(run, &why);
		msg("sweep FAILED: %s", why ? why : "unknown error");
	}
	fprintf(stderr, "%s: %s: %llu of %llu points in %s -> %s\n", progname,
		labdaq_state_name(p.state), (unsigned long long)p.written,
		(unsigned long long)p.target, fmt_duration((double)p.elapsed_ns / 1e9, b, sizeof(b)),
		c->ro.output);
	return exit_status_of(p.state, 0);
}

/* Start the sweep, show its points until it ends, report. */
static int sweep(struct sweep_cfg *c, const labdaq_sweep_config *sc)
{
	int sfd = signals_take(), ret, status;
	labdaq_run *run = NULL;

	if (sfd < 0)
		return EXIT_FAILURE_IO;
	ret = labdaq_sweep_start(c->dev, sc, &run);
	if (ret) {
		close(sfd);
		return start_error(&cmd_sweep, c->ro.device, c->ro.output, ret);
	}
	c->ncols = labdaq_run_channel_count(run);
	c->row = calloc(c->ncols ? c->ncols : 1, sizeof(double));
	if (!c->row) {
		/* The feed would wait for rows that are never shown. */
		msg("out of memory: aborting the sweep");
		labdaq_run_abort(run);
		c->progress = PROGRESS_NONE;
	}
	run_loop(run, sfd, 50, c->progress == PROGRESS_JSON, show, c);
	status = report(run, c);
	labdaq_run_free(run);
	close(sfd);
	return status;
}

/* --dry-run: what the sweep will do (points, the least time its delays
 * take) and the free space where its CSV goes. */
static void dry_run_report(const struct sweep_cfg *c)
{
	char *copy = strdup(c->ro.output), b[32];
	unsigned long long n = (unsigned long long)(c->points * c->repeat);
	struct statvfs vfs;

	printf("dry run: nothing started, no file created\n");
	printf("points:    %llu (%llu x %llu passes), a CSV row each\n", n,
	       (unsigned long long)c->points, (unsigned long long)c->repeat);
	printf("duration:  at least %s (the delays)\n",
	       fmt_duration((double)c->delay_ns * (double)n / 1e9, b, sizeof(b)));
	if (copy && !statvfs(dirname(copy), &vfs))
		printf("free:      %s where %s goes\n",
		       fmt_bytes((double)vfs.f_bavail * (double)vfs.f_frsize, b, sizeof(b)),
		       c->ro.output);
	free(copy);
}

static int sweep_main(int argc, char **argv)
{
	labdaq_sweep_config *sc = NULL;
	struct sweep_cfg c;
	int status = prepare(argc, argv, &c, &sc);

	if (!status && !c.ro.dry_run)
		status = sweep(&c, sc);
	else if (!status)
		dry_run_report(&c);
	labdaq_sweep_config_free(sc);
	labdaq_device_close(c.dev);
	free(c.row);
	free(c.command);
	return status;
}

const struct command cmd_sweep = {
	.name = "sweep",
	.main = sweep_main,
	.summary = "step an output and read inputs, point by point, into a CSV file",
	.usage = sweep_usage,
};
