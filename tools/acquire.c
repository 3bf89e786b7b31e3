// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * acquire.c - labdaq acquire: stream a device into a .npy file.
 *
 * The signals and the progress loop are in runloop.c.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"

struct config {
	struct run_opts ro;  /* DEVICE, -o, --progress, --force, --dry-run */
	uint64_t count;
	int count_is_frames; /* --frames (1), --samples (0), neither (-1) */
	uint64_t duration_ns;
	int continuous;
	double rate_hz;
	const char *channels;
	uint64_t ring_bytes;
	int on_full;
	int have_count;
	char *command;
	const char *range;      /* --range: the URI's range= */
	uint64_t kbuf_bytes;    /* --kernel-buffer: the URI's buffer= */
	char *device;           /* DEVICE with those keys added, or NULL */
};

static const char acquire_usage[] =
	"Usage: labdaq acquire DEVICE -o FILE.npy\n"
	"           {[--samples N | --frames N] [--time DURATION] | --continuous}\n"
	"           [--rate HZ] [--channels LIST] [--ring SIZE] [--on-full block|drop]\n"
	"           [--progress auto|bar|json|none] [--attr NAME=VALUE]...\n"
	"           [--meta KEY=VALUE]... [--range R[,R...]] [--kernel-buffer SIZE]\n"
	"           [--force] [--dry-run]\n"
	"\n"
	"Stream DEVICE into FILE.npy (a NumPy array, shape (samples, channels) or\n"
	"(frames, height, width)) with its metadata in FILE.json and the items\n"
	"it lost, if any, in FILE.gaps.npy.  The acquisition\n"
	"and the disk writer run in their own threads through a ring buffer of\n"
	"fixed size: memory never grows.  The file can be opened with\n"
	"numpy.load(FILE, mmap_mode='r') at any moment, during the run too.\n"
	"\n"
	"  -o, --output FILE.npy   the data file (required; never replaced unless --force;\n"
	"                          not '-': the message says how to pipe it instead)\n"
	"  -n, --samples N         acquire N samples (a samples device: sim:adc, sim:ohm)\n"
	"  -f, --frames N          acquire N frames (a frames device: sim:camera)\n"
	"  -t, --time DURATION     acquire for DURATION: 500ms, 2s, 5min, 1h; with\n"
	"                          --rate, exactly rate x DURATION items; with a\n"
	"                          count too, the run ends at whichever comes first\n"
	"  -c, --continuous        acquire until stopped (Ctrl-C, labdaq stop)\n"
	"  -r, --rate HZ           items per second (1000, 2.5k, 1M, 10mHz); 0 (the default):\n"
	"                          as fast as the device goes\n"
	"  -C, --channels LIST     comma-separated input channels, by name or number\n"
	"                          (0 is the first input; default: all)\n"
	"      --ring SIZE         ring capacity: 16M, 1G (default 64M, or less for a\n"
	"                          run of N frames/samples that fits: its size, >= 1M)\n"
	"      --on-full POLICY    when the ring is full: block (wait for the disk;\n"
	"                          default) or drop (discard blocks, record gaps)\n"
	"      --range R[,R...]    comedi boards: the range index of every input, or\n"
	"                          one per channel ('labdaq info' lists them); the\n"
	"                          device's range= key\n"
	"      --kernel-buffer SIZE  comedi boards: the kernel's buffer for the\n"
	"                          stream, 1M, 16M (default about 2 s of samples);\n"
	"                          the device's buffer= key\n"
	"      --progress MODE     auto (bar on a terminal, else none), bar (a live line\n"
	"                          with a bar, fitted to the terminal), json (only JSON\n"
	"                          objects on stderr, a final one last: docs/progress.md),\n"
	"                          none\n"
	"      --attr NAME=VALUE   set a device attribute first (labdaq attr DEVICE lists\n"
	"                          them); recorded in FILE.json; repeatable\n"
	"      --set-control NAME=VALUE  the same as --attr (a v4l2 camera's controls:\n"
	"                          exposure, gain, test_pattern)\n"
	"      --meta KEY=VALUE    your own metadata (sample, operator, notes), kept\n"
	"                          under \"user\" in FILE.json; repeatable\n"
	"      --force             replace FILE.npy and the files beside it (.json,\n"
	"                          .gaps.npy, .frames.npy) if they exist\n"
	"      --dry-run           check everything the run checks (the arguments, the\n"
	"                          device, the channels, the ring, the output path);\n"
	"                          start nothing, create no file (a busy device is\n"
	"                          not an error: it may be free later); print the\n"
	"                          items, bytes, duration and the free space, with a\n"
	"                          warning when the file will not fit\n"
	"  -h, --help              this help\n"
	"\n"
	"Units are case-sensitive (m milli, M mega): counts take k, M, G (3k = 3000);\n"
	"rates Hz, mHz, kHz, MHz, GHz or k, M, G; durations ns, us, ms, s, min, h (a\n"
	"bare number is seconds; 'm' alone is refused); sizes K, M, G (powers of 1024).\n"
	"Ctrl-C once: stop (drain the ring, finalize; nothing acquired is lost).\n"
	"Twice: abort (the unwritten rest is discarded and counted).  SIGTERM: stop\n"
	"(what 'labdaq stop' sends); SIGUSR1: abort ('labdaq stop --abort').\n"
	"Only one run at a time may use a device, across processes and users.\n"
	"\n"
	"Exit status:\n"
	"  0    complete, or stopped with nothing dropped\n"
	"  1    device or I/O failure (the file holds what was written before it)\n"
	"  2    bad usage: nothing was started\n"
	"  3    finished, but data was dropped (see the gaps in FILE.gaps.npy)\n"
	"  4    the device is busy with another run\n"
	"  130  aborted\n";

/* One of acquire's own options: 0 or the usage error. */
static int acquire_option(const struct command *cmd, int opt, const char *arg, void *ctx)
{
	struct config *c = ctx;

	switch (opt) {
	case 'n':
	case 'f':
		if (c->have_count)
			return usage_error(cmd, "give --samples or --frames once");
		if (parse_count(arg, &c->count) || !c->count)
			return usage_error(cmd, "bad count '%s': a positive whole number, "
					   "optionally with k, M or G (3k = 3000)%s", arg, parse_hint());
		c->count_is_frames = opt == 'f';
		c->have_count = 1;
		return 0;
	case 't':
		if (parse_duration(arg, &c->duration_ns) || !c->duration_ns)
			return usage_error(cmd, "bad duration '%s': e.g. 500ms, 2s, 5min, 1h%s", arg,
					   parse_hint());
		return 0;
	case 'c':
		c->continuous = 1;
		return 0;
	case 'r':
		if (parse_rate(arg, &c->rate_hz))
			return usage_error(cmd, "bad rate '%s': items per second, e.g. 1000, 2.5k, "
					   "1M, 10mHz; 0 for as fast as possible%s", arg, parse_hint());
		return 0;
	case 'C':
		c->channels = arg;
		return 0;
	case 'R':
		if (parse_size(arg, &c->ring_bytes) || !c->ring_bytes)
			return usage_error(cmd, "bad ring size '%s': at least 4k, e.g. 16M, 1G%s", arg,
					   parse_hint());
		return 0;
	case 'G':
		c->range = arg;
		return 0;
	case 'K':
		if (parse_size(arg, &c->kbuf_bytes) || !c->kbuf_bytes)
			return usage_error(cmd, "bad kernel buffer size '%s': e.g. 1M, 16M", arg);
		return 0;
	default: /* 'F' */
		if (strcmp(arg, "block") && strcmp(arg, "drop"))
			return usage_error(cmd, "bad --on-full '%s': block or drop", arg);
		c->on_full = strcmp(arg, "block") ? LABDAQ_ON_FULL_DROP : LABDAQ_ON_FULL_BLOCK;
		return 0;
	}
}

/* --range and --kernel-buffer are the device URI's range= and buffer= keys
 * (the backend checks them): DEVICE with them added, in c->device. */
static int add_device_keys(struct config *c)
{
	const char *d = c->ro.device;
	size_t len;

	if (!c->range && !c->kbuf_bytes)
		return 0;
	len = strlen(d) + (c->range ? strlen(c->range) : 0) + 64;
	c->device = malloc(len);
	if (!c->device)
		return EXIT_FAILURE_IO;
	snprintf(c->device, len, "%s%s%s%s", d, strchr(d, '?') ? "&" : "?",
		 c->range ? "range=" : "", c->range ? c->range : "");
	if (c->kbuf_bytes)
		snprintf(c->device + strlen(c->device), len - strlen(c->device), "%sbuffer=%llu",
			 c->range ? "&" : "", (unsigned long long)c->kbuf_bytes);
	c->ro.device = c->device;
	return 0;
}

static int parse_args(int argc, char **argv, struct config *c)
{
	static const struct option opts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "samples", required_argument, NULL, 'n' },
		{ "frames", required_argument, NULL, 'f' },
		{ "time", required_argument, NULL, 't' },
		{ "continuous", no_argument, NULL, 'c' },
		{ "rate", required_argument, NULL, 'r' },
		{ "channels", required_argument, NULL, 'C' },
		{ "ring", required_argument, NULL, 'R' },
		{ "on-full", required_argument, NULL, 'F' },
		{ "range", required_argument, NULL, 'G' },
		{ "kernel-buffer", required_argument, NULL, 'K' },
		{ "progress", required_argument, NULL, 'P' },
		{ "force", no_argument, NULL, 'y' },
		{ "dry-run", no_argument, NULL, 'D' },
		{ "meta", required_argument, NULL, OPT_META },
		{ "attr", required_argument, NULL, OPT_ATTR },
		/* v4l2's controls are its attributes: the camera users' word. */
		{ "set-control", required_argument, NULL, OPT_ATTR },
		{ NULL, 0, NULL, 0 },
	};
	const struct command *cmd = &cmd_acquire;
	int ret;

	memset(c, 0, sizeof(*c));
	c->count_is_frames = -1;
	c->on_full = LABDAQ_ON_FULL_BLOCK;
	ret = parse_run_args(cmd, argc, argv, ":o:n:f:t:cr:C:", opts, acquire_option, c,
			     "sim:camera", "FILE.npy", &c->ro);
	if (ret)
		return ret;
	if (c->continuous && (c->have_count || c->duration_ns))
		return usage_error(cmd, "--continuous cannot be combined with a count or --time");
	if (!c->continuous && !c->have_count && !c->duration_ns)
		return usage_error(cmd, "say how much to acquire: --samples N, --frames N, "
				   "--time DURATION or --continuous");
	return add_device_keys(c);
}

/* The library's configuration of @c: 0, or an exit status (said). */
static int make_config(const struct config *c, labdaq_run_config **out)
{
	const struct command *cmd = &cmd_acquire;
	labdaq_run_config *rc;

	if (labdaq_run_config_new(&rc))
		return EXIT_FAILURE_IO;
	*out = rc;
	if (labdaq_run_config_set_path(rc, c->ro.output) ||
	    labdaq_run_config_set_channels(rc, c->channels) ||
	    labdaq_run_config_set_command(rc, c->command))
		return EXIT_FAILURE_IO;
	labdaq_run_config_set_count(rc, c->count);
	labdaq_run_config_set_duration_ns(rc, c->duration_ns);
	labdaq_run_config_set_on_full(rc, c->on_full);
	labdaq_run_config_set_overwrite(rc, c->ro.force);
	for (unsigned int i = 0; i < c->ro.nattr; i++) {
		char key[256];
		const char *value;

		split_pair(c->ro.attr[i], key, sizeof(key), &value);
		if (labdaq_run_config_set_attr(rc, key, value))
			return usage_error(cmd, "bad --attr '%s': NAME=VALUE, the name as "
					   "'labdaq attr DEVICE' lists it", c->ro.attr[i]);
	}
	for (unsigned int i = 0; i < c->ro.nmeta; i++) {
		char key[256];
		const char *value;

		split_pair(c->ro.meta[i], key, sizeof(key), &value);
		if (labdaq_run_config_set_meta(rc, key, value))
			return usage_error(cmd, "bad --meta '%s': the name takes letters, digits "
					   "and _-.:/ (at most 128), the value at most 4096 bytes",
					   c->ro.meta[i]);
	}
	if (labdaq_run_config_set_rate_hz(rc, c->rate_hz))
		return usage_error(cmd, "bad rate %g", c->rate_hz);
	if (labdaq_run_config_set_ring_bytes(rc, c->ring_bytes))
		return usage_error(cmd, "bad ring size %llu bytes: at least 4k, e.g. 16M, 1G",
				   (unsigned long long)c->ring_bytes);
	return 0;
}

/* What only the command line knows: --frames or --samples for the kind. */
static int check_kind(const struct config *c, int kind)
{
	if (c->count_is_frames == 1 && kind != LABDAQ_KIND_FRAMES)
		return usage_error(&cmd_acquire, "'%s' streams samples: use --samples, not "
				   "--frames", c->ro.device);
	if (c->count_is_frames == 0 && kind == LABDAQ_KIND_FRAMES)
		return usage_error(&cmd_acquire, "'%s' streams frames: use --frames, not "
				   "--samples", c->ro.device);
	return 0;
}

/* Append @piece to the line @line (@len bytes) if it fits in @width
 * columns; 1 if it did. */
static int fit(char *line, size_t len, int width, const char *piece)
{
	size_t n = strlen(line), m = strlen(piece);

	if ((int)(n + m) > width || n + m >= len)
		return 0;
	memcpy(line + n, piece, m + 1);
	return 1;
}

/* "[#########---------]  47%" in @cols columns, or "" if too narrow. */
static void make_bar(char *buf, size_t len, double frac, int cols)
{
	int inner = cols - 7, full;

	buf[0] = '\0';
	if (inner < 5 || (size_t)cols >= len)
		return;
	frac = frac < 0 ? 0 : frac > 1 ? 1 : frac;
	full = (int)(frac * inner + 0.5);
	buf[0] = '[';
	memset(buf + 1, '#', (size_t)full);
	memset(buf + 1 + full, '-', (size_t)(inner - full));
	snprintf(buf + 1 + inner, len - 1 - (size_t)inner, "] %3.0f%%", frac * 100);
}

/*
 * The live line: it fits the terminal (its width read at each refresh, the
 * last column left free so that it never wraps), the most useful parts
 * first: time and count, a bar when the end is known, rate, ring, drops,
 * ETA; what does not fit is left out.
 */
static void live_line(const struct config *c, const struct labdaq_progress *p, int kind,
		      int final)
{
	double el = (double)p->elapsed_ns / 1e9, frac = -1;
	const char *unit = kind == LABDAQ_KIND_FRAMES ? "frames" : "samples";
	double mbps = p->rate_hz * (double)p->item_bytes / 1e6;
	double fill = p->ring_capacity_bytes ?
			      100.0 * (double)p->ring_fill_bytes / (double)p->ring_capacity_bytes : 0;
	int width = terminal_width() - 1;
	char line[512] = "", piece[256], t1[32], t2[32], bar[256];
	double left = -1;

	if (width < 8)
		width = 8;
	if (p->target) {
		frac = (double)p->acquired / (double)p->target;
		if (p->rate_hz > 0 && p->acquired < p->target)
			left = (double)(p->target - p->acquired) / p->rate_hz;
	} else if (c->duration_ns) {
		frac = el / ((double)c->duration_ns / 1e9);
		left = (double)c->duration_ns / 1e9 - el;
	}
	snprintf(piece, sizeof(piece), "%s %llu", fmt_duration(el, t1, sizeof(t1)),
		 (unsigned long long)p->acquired);
	if (!fit(line, sizeof(line), width, piece))
		snprintf(line, (size_t)width + 1 < sizeof(line) ? (size_t)width + 1 : sizeof(line),
			 "%s", piece);
	if (p->target) {
		snprintf(piece, sizeof(piece), "/%llu", (unsigned long long)p->target);
		fit(line, sizeof(line), width, piece);
	}
	snprintf(piece, sizeof(piece), " %s", unit);
	fit(line, sizeof(line), width, piece);
	if (frac >= 0 && c->ro.progress == PROGRESS_LIVE) {
		/* After the numbers, 12 to 40 columns, leaving room for the rate,
		 * the ring and the drops when there is some. */
		int room = width - (int)strlen(line) - 2, cols = room - 34;

		if (cols < 12)
			cols = room;
		make_bar(bar, sizeof(bar), final && p->state == LABDAQ_STATE_COMPLETE ? 1 : frac,
			 cols > 40 ? 40 : cols < 12 ? 0 : cols);
		if (bar[0]) {
			snprintf(piece, sizeof(piece), "  %s", bar);
			fit(line, sizeof(line), width, piece);
		}
	}
	snprintf(piece, sizeof(piece), "  %.1f MB/s", mbps);
	fit(line, sizeof(line), width, piece);
	snprintf(piece, sizeof(piece), "  ring %.0f%%", fill);
	fit(line, sizeof(line), width, piece);
	snprintf(piece, sizeof(piece), "  dropped %llu", (unsigned long long)p->dropped);
	fit(line, sizeof(line), width, piece);
	if (!final && left >= 0) {
		snprintf(piece, sizeof(piece), "  ETA %s", fmt_duration(left, t2, sizeof(t2)));
		fit(line, sizeof(line), width, piece);
	}
	fprintf(stderr, "\r%s\033[K%s", line, final ? "\n" : "");
	fflush(stderr);
}

static void show_progress(const struct config *c, const struct labdaq_progress *p,
			  int kind, int final)
{
	if (c->ro.progress == PROGRESS_JSON) {
		/* The final object is the report's. */
		if (!final) {
			json_t *o = json_counts("progress", p);

			if (o)
				json_object_set_new(o, "final", json_false());
			json_emit(o);
		}
		return;
	}
	if (c->ro.progress == PROGRESS_LIVE)
		live_line(c, p, kind, final);
}

struct show_ctx {
	const struct config *c;
	int kind;
};

static void show(labdaq_run *run, void *ctx, int final)
{
	struct show_ctx *sc = ctx;
	struct labdaq_progress p;

	labdaq_run_progress(run, &p);
	show_progress(sc->c, &p, sc->kind, final);
}

/* Parse, open the device, make and check the configuration: 0 or the
 * exit status (said); *@dev and *@rc are the caller's to free. */
static int prepare(int argc, char **argv, struct config *c, labdaq_device **dev,
		   labdaq_run_config **rc)
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
		status = open_device(c->ro.device, dev);
	if (!status)
		status = check_kind(c, labdaq_device_kind(*dev));
	if (!status)
		status = make_config(c, rc);
	if (!status)
		status = check_config(&cmd_acquire, *dev, *rc, NULL);
	return status;
}

/* How the run ended, on stderr; the exit status. */
static int report(labdaq_run *run, const struct config *c)
{
	struct labdaq_progress p;
	char b1[32], b2[32];

	labdaq_run_progress(run, &p);
	if (json_mode) {
		json_final("stream", run, c->ro.output, exit_status_of(p.state, p.dropped));
		return exit_status_of(p.state, p.dropped);
	}
	if (p.state == LABDAQ_STATE_FAILED) {
		const char *why = NULL;

		labdaq_run_error(run, &why);
		msg("run FAILED: %s", why ? why : "unknown error");
		if (p.error == -EPIPE)
			msg("--kernel-buffer SIZE raises the kernel's buffer (comedi boards)");
	}
	fprintf(stderr, "%s: %s: %llu acquired, %llu written (%s), %llu dropped in %llu gaps, "
		"%s -> %s\n", progname, labdaq_state_name(p.state),
		(unsigned long long)p.acquired, (unsigned long long)p.written,
		fmt_bytes((double)p.written * (double)p.item_bytes, b1, sizeof(b1)),
		(unsigned long long)p.dropped, (unsigned long long)p.gaps,
		fmt_duration((double)p.elapsed_ns / 1e9, b2, sizeof(b2)), c->ro.output);
	return exit_status_of(p.state, p.dropped);
}

/* Start the run, follow it until it ends, report. */
static int acquire(const struct config *c, labdaq_device *dev, const labdaq_run_config *rc)
{
	struct show_ctx sc = { .c = c, .kind = labdaq_device_kind(dev) };
	int json = c->ro.progress == PROGRESS_JSON, sfd = signals_take(), ret, status;
	labdaq_run *run = NULL;

	if (sfd < 0)
		return EXIT_FAILURE_IO;
	ret = labdaq_run_start(dev, rc, &run);
	if (ret) {
		status = start_error(&cmd_acquire, c->ro.device, c->ro.output, ret);
	} else {
		run_loop(run, sfd, json ? 500 : 200, json, show, &sc);
		status = report(run, c);
	}
	labdaq_run_free(run);
	close(sfd);
	return status;
}

/* --dry-run: what the run will do, from the library's own plan; a warning
 * (not an error: space may be freed) when the file will not fit.  The
 * sidecar's reservation (two files of 64 KiB) is counted. */
static int dry_run_report(const struct config *c, labdaq_device *dev, const labdaq_run_config *rc)
{
	struct labdaq_run_plan p = { .size = sizeof(p) };
	const char *unit = labdaq_device_kind(dev) == LABDAQ_KIND_FRAMES ? "frames" : "samples";
	char b1[32], b2[32];
	int ret = labdaq_run_plan(dev, rc, &p);

	if (ret)
		return EXIT_FAILURE_IO;
	printf("dry run: nothing started, no file created\n");
	if (p.items)
		printf("items:     %llu %s of %llu bytes\n", (unsigned long long)p.items, unit,
		       (unsigned long long)p.item_bytes);
	else
		printf("items:     not bounded (%s of %llu bytes, until %s)\n", unit,
		       (unsigned long long)p.item_bytes, p.duration_ns ? "the time is up" : "stopped");
	if (p.file_bytes)
		printf("bytes:     %s (%llu) in %s, and its sidecar\n",
		       fmt_bytes((double)p.file_bytes, b1, sizeof(b1)),
		       (unsigned long long)p.file_bytes, c->ro.output);
	else
		printf("bytes:     not bounded\n");
	if (p.duration_ns)
		printf("duration:  %s at most\n", fmt_duration((double)p.duration_ns / 1e9, b2,
								sizeof(b2)));
	else
		printf("duration:  %s\n", p.items ? "as fast as the device goes" : "until stopped");
	if (p.free_bytes == UINT64_MAX) {
		printf("free:      unknown\n");
		return EXIT_OK;
	}
	printf("free:      %s where %s goes\n", fmt_bytes((double)p.free_bytes, b1, sizeof(b1)),
	       c->ro.output);
	if (p.file_bytes && p.file_bytes + 128 * 1024 > p.free_bytes)
		msg("warning: %s needs %s but only %s are free on its file system: the run will "
		    "fail when the disk is full", c->ro.output,
		    fmt_bytes((double)p.file_bytes, b2, sizeof(b2)), b1);
	return EXIT_OK;
}

static int acquire_main(int argc, char **argv)
{
	labdaq_run_config *rc = NULL;
	labdaq_device *dev = NULL;
	struct config c;
	int status = prepare(argc, argv, &c, &dev, &rc);

	if (!status && !c.ro.dry_run)
		status = acquire(&c, dev, rc);
	else if (!status)
		status = dry_run_report(&c, dev, rc);
	labdaq_run_config_free(rc);
	labdaq_device_close(dev);
	free(c.command);
	free(c.device);
	return status;
}

const struct command cmd_acquire = {
	.name = "acquire",
	.main = acquire_main,
	.summary = "stream a device into a .npy file, with progress",
	.usage = acquire_usage,
};
