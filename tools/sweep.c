// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sweep.c - labdaq sweep: a step scan into a CSV file.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

struct sweep_cfg {
	const char *device;
	const char *output;
	const char *set;
	const char *read;
	double from, to;
	uint64_t points, repeat;
	uint64_t delay_ns;
	int have_from, have_to;
	int progress;
	int force;
	int dry_run;
	char *command;
	/* while running */
	labdaq_device *dev;
	char names[1 + 64][64];
	char units[1 + 64][16];
	unsigned int ncols;
	int64_t last_shown;
};

static const char sweep_usage[] =
	"Usage: labdaq sweep DEVICE --set CHANNEL [--read CH[,CH...]] --from V --to V\n"
	"           --points N [--delay DURATION] [--repeat N] -o FILE.csv\n"
	"           [--progress auto|lines|json|none] [--force] [--dry-run]\n"
	"\n"
	"A step scan: for each of N evenly spaced values from --from to --to (both\n"
	"included), set the output CHANNEL, wait --delay, read the input channels, and\n"
	"write one CSV row, flushed at once (a crash loses at most the point in\n"
	"progress).  The '#' lines of FILE.csv carry the metadata (device, channels,\n"
	"units, the sweep's parameters, start time, and at the end the status);\n"
	"numpy.loadtxt(FILE, delimiter=',') reads the rows: index, repeat, time_s,\n"
	"the value set, then each input in its physical unit.\n"
	"\n"
	"  -s, --set CHANNEL       the output channel to step (e.g. voltage0)\n"
	"  -R, --read LIST         comma-separated input channels (default: all inputs)\n"
	"      --from V, --to V    the first and last value, in the output's unit\n"
	"  -n, --points N          the number of points (>= 1)\n"
	"  -d, --delay DURATION    settling time after each set: 10ms, 1s (default 0)\n"
	"      --repeat N          passes over the points (default 1)\n"
	"  -o, --output FILE.csv   the data file (required; never replaced unless --force)\n"
	"      --progress MODE     auto (one line per point on a terminal), lines, json\n"
	"                          (one JSON object per point on stderr), none\n"
	"      --force             replace FILE.csv if it exists\n"
	"      --dry-run           check everything, start nothing, create no file\n"
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
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd = &cmd_sweep;
	int opt, ret;

	memset(c, 0, sizeof(*c));
	c->repeat = 1;
	c->progress = PROGRESS_AUTO;
	c->last_shown = -1;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":s:R:n:d:o:", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			c->set = optarg;
			break;
		case 'R':
			c->read = optarg;
			break;
		case 'F':
		case 'T':
			if (parse_value(optarg, opt == 'F' ? &c->from : &c->to))
				return usage_error(cmd, "bad --%s '%s': a number, e.g. -1.5 or 2e-3",
						   opt == 'F' ? "from" : "to", optarg);
			*(opt == 'F' ? &c->have_from : &c->have_to) = 1;
			break;
		case 'n':
			if (parse_count(optarg, &c->points) || !c->points || c->points > 100000000)
				return usage_error(cmd, "bad --points '%s': a whole number from 1 to "
						   "100M", optarg);
			break;
		case 'd':
			if (parse_duration(optarg, &c->delay_ns))
				return usage_error(cmd, "bad --delay '%s': e.g. 10ms, 0.5s, 2s", optarg);
			break;
		case 'r':
			if (parse_count(optarg, &c->repeat) || !c->repeat || c->repeat > 1000000)
				return usage_error(cmd, "bad --repeat '%s': a whole number from 1 to 1M",
						   optarg);
			break;
		default:
			ret = common_option(cmd, opt, argv, &c->output, &c->progress, &c->force,
					    &c->dry_run);
			if (ret)
				return ret;
			break;
		}
	}
	if (take_device(cmd, argc, argv, "sim:ohm", &c->device))
		return EXIT_USAGE;
	if (!c->set)
		return usage_error(cmd, "no output channel: add --set CHANNEL (e.g. voltage0)");
	if (!c->have_from || !c->have_to)
		return usage_error(cmd, "give the range with --from V --to V");
	if (!c->points)
		return usage_error(cmd, "give the number of points with --points N");
	if (!c->output)
		return usage_error(cmd, "no output file: add -o FILE.csv");
	if (c->progress == PROGRESS_AUTO)
		c->progress = isatty(STDERR_FILENO) ? PROGRESS_LIVE : PROGRESS_NONE;
	return check_output(&cmd_sweep, c->output, NULL, c->force);
}

static void show(labdaq_run *run, void *ctx, int final)
{
	struct sweep_cfg *c = ctx;
	struct labdaq_progress p;
	double row[1 + 64];
	uint64_t index;
	int n;

	if (c->progress == PROGRESS_NONE)
		return;
	labdaq_run_progress(run, &p);
	n = labdaq_run_latest(run, row, sizeof(row), &index, NULL);
	if (n <= 0 || (int64_t)index == c->last_shown)
		return;
	c->last_shown = (int64_t)index;
	if (c->progress == PROGRESS_JSON) {
		fprintf(stderr, "{\"state\":\"%s\",\"point\":%llu,\"points\":%llu,\"%s\":%.10g",
			labdaq_state_name(p.state), (unsigned long long)index + 1,
			(unsigned long long)p.target, c->names[0], row[0]);
		for (unsigned int i = 1; i < c->ncols; i++)
			fprintf(stderr, ",\"%s\":%.10g", c->names[i], row[i]);
		fprintf(stderr, ",\"final\":%s}\n", final ? "true" : "false");
	} else {
		fprintf(stderr, "point %llu/%llu  %s = %.6g %s  ->", (unsigned long long)index + 1,
			(unsigned long long)p.target, c->names[0], row[0], c->units[0]);
		for (unsigned int i = 1; i < c->ncols; i++)
			fprintf(stderr, "  %s = %.6g %s", c->names[i], row[i], c->units[i]);
		fputc('\n', stderr);
	}
	fflush(stderr);
}

/* Column names and units for the live lines. */
static void columns(struct sweep_cfg *c)
{
	int i = find_channel(c->dev, c->set, 1);
	struct labdaq_channel ch;
	char *copy, *tok, *save = NULL;

	labdaq_device_channel(c->dev, (unsigned int)i, &ch);
	snprintf(c->names[0], sizeof(c->names[0]), "set_%s", ch.name);
	snprintf(c->units[0], sizeof(c->units[0]), "%s", ch.unit);
	c->ncols = 1;
	if (!c->read) {
		for (unsigned int k = 0; k < labdaq_device_channel_count(c->dev) && c->ncols < 65;
		     k++) {
			labdaq_device_channel(c->dev, k, &ch);
			if (ch.output)
				continue;
			snprintf(c->names[c->ncols], sizeof(c->names[0]), "%s", ch.name);
			snprintf(c->units[c->ncols++], sizeof(c->units[0]), "%s", ch.unit);
		}
		return;
	}
	copy = strdup(c->read);
	for (tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && c->ncols < 65;
	     tok = strtok_r(NULL, ",", &save)) {
		i = find_channel(c->dev, tok, 0);
		labdaq_device_channel(c->dev, (unsigned int)i, &ch);
		snprintf(c->names[c->ncols], sizeof(c->names[0]), "%s", ch.name);
		snprintf(c->units[c->ncols++], sizeof(c->units[0]), "%s", ch.unit);
	}
	free(copy);
}

static int sweep_main(int argc, char **argv)
{
	struct labdaq_sweep_config sc;
	struct labdaq_progress p;
	labdaq_run *run = NULL;
	struct sweep_cfg c;
	int ret, sfd = -1, status;
	char *command = NULL, b[32];

	if (join_command(argc, argv, &command))
		return EXIT_FAILURE_IO;
	ret = parse_args(argc, argv, &c);
	if (ret) {
		free(command);
		return ret;
	}
	c.command = command;
	ret = open_device(c.device, &c.dev);
	if (ret) {
		free(command);
		return ret;
	}
	if (find_channel(c.dev, c.set, 1) < 0)
		status = check_channels(&cmd_sweep, c.dev, c.set, 1);
	else
		status = check_channels(&cmd_sweep, c.dev, c.read, 0);
	if (!status) {
		struct labdaq_channel ch;

		labdaq_device_channel(c.dev, (unsigned int)find_channel(c.dev, c.set, 1), &ch);
		if (!isnan(ch.min) && (fmin(c.from, c.to) < ch.min || fmax(c.from, c.to) > ch.max))
			status = usage_error(&cmd_sweep, "%s takes %g to %g %s; the sweep goes from "
					     "%g to %g", ch.name, ch.min, ch.max, ch.unit, c.from,
					     c.to);
	}
	if (status || c.dry_run)
		goto out;
	columns(&c);

	sfd = signals_take();
	if (sfd < 0) {
		status = EXIT_FAILURE_IO;
		goto out;
	}
	labdaq_sweep_config_init(&sc);
	sc.path = c.output;
	sc.set = c.set;
	sc.read = c.read;
	sc.from = c.from;
	sc.to = c.to;
	sc.points = (uint32_t)c.points;
	sc.repeat = (uint32_t)c.repeat;
	sc.delay_ns = c.delay_ns;
	sc.overwrite = c.force;
	sc.command = c.command;
	ret = labdaq_sweep_start(c.dev, &sc, &run);
	if (ret) {
		status = start_error(&cmd_sweep, c.device, c.output, ret);
		goto out;
	}
	run_loop(run, sfd, 50, c.progress == PROGRESS_JSON, show, &c);
	labdaq_run_progress(run, &p);
	status = exit_status_of(p.state, 0);
	if (p.state == LABDAQ_STATE_FAILED) {
		const char *why = NULL;

		labdaq_run_error(run, &why);
		msg("sweep FAILED: %s", why ? why : "unknown error");
	}
	fprintf(stderr, "%s: %s: %llu of %llu points in %s -> %s\n", progname,
		labdaq_state_name(p.state), (unsigned long long)p.written,
		(unsigned long long)p.target, fmt_duration((double)p.elapsed_ns / 1e9, b, sizeof(b)),
		c.output);
out:
	labdaq_run_free(run);
	labdaq_device_close(c.dev);
	if (sfd >= 0)
		close(sfd);
	free(c.command);
	return status;
}

const struct command cmd_sweep = {
	.name = "sweep",
	.main = sweep_main,
	.summary = "step an output and read inputs, point by point, into a CSV file",
	.usage = sweep_usage,
};
