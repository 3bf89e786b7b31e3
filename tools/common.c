// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * common.c - shared helpers of the labdaq subcommands.
 */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common.h"

const char *progname = "labdaq";
int verbose;

void msg(const char *fmt, ...)
{
	va_list ap;

	if (json_mode) {
		va_start(ap, fmt);
		json_message("error", fmt, ap);
		va_end(ap);
		return;
	}
	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int usage_error(const struct command *cmd, const char *fmt, ...)
{
	va_list ap;

	if (json_mode) {
		va_start(ap, fmt);
		json_message("error", fmt, ap);
		va_end(ap);
		return EXIT_USAGE;
	}
	fprintf(stderr, "%s %s: ", progname, cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s %s --help'.\n", progname, cmd->name);
	return EXIT_USAGE;
}

void print_help(const struct command *cmd, FILE *f)
{
	fputs(cmd->usage, f);
}

/* While a configuration is checked, its error is printed once, as a usage
 * error (check_error()), not also as it is logged. */
static int hold_errors;

static void log_to_stderr(int level, const char *m, void *user)
{
	static const char *const prefix[] = { "error: ", "warning: ", "", "debug: " };

	if (hold_errors && level == LABDAQ_LOG_ERROR)
		return;
	if (json_mode) {
		static const char *const names[] = { "error", "warning", "info", "debug" };

		json_message_text(names[level & 3], m);
		return;
	}
	fprintf(stderr, "%s: %s%s\n", progname, prefix[level & 3], m);
}

int check_config(const struct command *cmd, labdaq_device *dev, const labdaq_run_config *rc,
		 const labdaq_sweep_config *sc)
{
	int ret;

	labdaq_clear_error();
	hold_errors = 1;
	ret = rc ? labdaq_run_check(dev, rc) : labdaq_sweep_check(dev, sc);
	hold_errors = 0;
	if (!ret)
		return 0;
	if (ret == -EINVAL || ret == -ERANGE || ret == -EEXIST || ret == -ENOENT ||
	    ret == -EACCES || ret == -ENOTDIR || ret == -EROFS || ret == -ENAMETOOLONG ||
	    ret == -EILSEQ)
		return usage_error(cmd, "%s%s", labdaq_last_error() ? labdaq_last_error() :
				   labdaq_strerror(ret),
				   ret == -EEXIST ? " (--force replaces it)" : "");
	msg("cannot start on '%s': %s", labdaq_device_uri(dev),
	    labdaq_last_error() ? labdaq_last_error() : labdaq_strerror(ret));
	return EXIT_FAILURE_IO;
}

void setup_log(void)
{
	labdaq_set_log(log_to_stderr, verbose ? LABDAQ_LOG_DEBUG : LABDAQ_LOG_WARNING, NULL);
}

/*
 * A number, then an optional suffix from a table, matched exactly: SI
 * prefixes are case-sensitive (m milli, M mega, k kilo).  A suffix that
 * matches only in another case, or one the table marks ambiguous (mult 0),
 * is refused, and parse_hint() says what to write instead.
 */
struct suffix {
	const char *s;
	double mult;     /* 0: refused, @what says why */
	const char *what; /* "milli", "minutes", ... or the refusal's hint */
};

static char hint[256];

const char *parse_hint(void)
{
	return hint;
}

/* The hint for @end, a suffix not in @sfx: the entries it matches but for
 * the case. */
static void case_hint(const char *end, const struct suffix *sfx)
{
	size_t n = 0;
	int k = 0;

	for (const struct suffix *x = sfx; x->s; x++) {
		if (!*x->s || !x->mult || strcasecmp(end, x->s))
			continue;
		n += (size_t)snprintf(hint + n, sizeof(hint) - n, "%s%s (%s)",
				      k++ ? " or " : " (units are case-sensitive: ", x->s, x->what);
		if (n >= sizeof(hint))
			break;
	}
	if (k && n < sizeof(hint))
		snprintf(hint + n, sizeof(hint) - n, ")");
}

static int parse_scaled(const char *s, const struct suffix *sfx, double *out)
{
	char *end;
	double v;

	hint[0] = '\0';
	/* Plain decimal only: no sign, space, hex, "inf" or "nan". */
	if (!s || !((*s >= '0' && *s <= '9') || *s == '.') || strpbrk(s, "xX"))
		return -EINVAL;
	errno = 0;
	v = strtod(s, &end);
	if (end == s || errno || !isfinite(v) || v < 0)
		return -EINVAL;
	if (!*end && (!sfx->s || *sfx->s)) {
		*out = v;
		return 0;
	}
	for (const struct suffix *x = sfx; x->s; x++) {
		if (strcmp(end, x->s))
			continue;
		if (!x->mult) {
			snprintf(hint, sizeof(hint), " (%s)", x->what);
			return -EINVAL;
		}
		*out = v * x->mult;
		return 0;
	}
	case_hint(end, sfx);
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *out)
{
	static const struct suffix sfx[] = {
		{ "B", 1, "bytes" }, { "k", 1024.0, "KiB" }, { "K", 1024.0, "KiB" },
		{ "KiB", 1024.0, "KiB" }, { "kB", 1024.0, "KiB" },
		{ "M", 1048576.0, "MiB" }, { "MiB", 1048576.0, "MiB" }, { "MB", 1048576.0, "MiB" },
		{ "G", 1073741824.0, "GiB" }, { "GiB", 1073741824.0, "GiB" },
		{ "GB", 1073741824.0, "GiB" },
		{ NULL, 0, NULL },
	};
	double v;

	if (parse_scaled(s, sfx, &v) || v > 1e15 || v != floor(v))
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

int parse_count(const char *s, uint64_t *out)
{
	static const struct suffix sfx[] = {
		{ "k", 1e3, "kilo, 1000" }, { "M", 1e6, "mega, 1000000" }, { "G", 1e9, "giga" },
		{ "K", 0, "K is not an SI prefix: write k for kilo (1000)" },
		{ NULL, 0, NULL },
	};
	double v;

	if (parse_scaled(s, sfx, &v) || v > 1e18 || v != floor(v))
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

int parse_duration(const char *s, uint64_t *ns)
{
	static const struct suffix sfx[] = {
		{ "", 1e9, "seconds" }, /* a bare number is seconds */
		{ "ns", 1, "nanoseconds" }, { "us", 1e3, "microseconds" },
		{ "\xc2\xb5s", 1e3, "microseconds" }, { "ms", 1e6, "milliseconds" },
		{ "s", 1e9, "seconds" }, { "sec", 1e9, "seconds" }, { "min", 60e9, "minutes" },
		{ "h", 3600e9, "hours" },
		{ "m", 0, "m is ambiguous: write ms for milliseconds or min for minutes" },
		{ NULL, 0, NULL },
	};
	double v;

	if (parse_scaled(s, sfx, &v) || v > 1e18)
		return -EINVAL;
	*ns = (uint64_t)v;
	return 0;
}

int parse_rate(const char *s, double *hz)
{
	static const struct suffix sfx[] = {
		{ "Hz", 1, "hertz" }, { "mHz", 1e-3, "millihertz" }, { "k", 1e3, "kilo" },
		{ "kHz", 1e3, "kilohertz" }, { "M", 1e6, "mega" }, { "MHz", 1e6, "megahertz" },
		{ "G", 1e9, "giga" }, { "GHz", 1e9, "gigahertz" },
		{ "m", 0, "m is ambiguous: write mHz for millihertz or M for mega" },
		{ "K", 0, "K is not an SI prefix: write k for kilo" },
		{ "KHz", 0, "K is not an SI prefix: write kHz for kilohertz" },
		{ NULL, 0, NULL },
	};

	if (parse_scaled(s, sfx, hz) || *hz > 1e10)
		return -EINVAL;
	return 0;
}

int parse_progress(const struct command *cmd, const char *arg, int *mode)
{
	if (!strcmp(arg, "auto"))
		*mode = PROGRESS_AUTO;
	else if (!strcmp(arg, "bar") || !strcmp(arg, "lines"))
		*mode = PROGRESS_LIVE;
	else if (!strcmp(arg, "json"))
		*mode = PROGRESS_JSON;
	else if (!strcmp(arg, "none"))
		*mode = PROGRESS_NONE;
	else
		return usage_error(cmd, "bad --progress '%s': auto, %s, json or none", arg,
				   cmd == &cmd_sweep ? "lines" : "bar");
	return 0;
}

/* One of the shared options, or getopt's complaint: 0 or the usage error. */
int split_pair(const char *arg, char *key, size_t len, const char **value)
{
	const char *eq = strchr(arg, '=');

	if (!eq || eq == arg || (size_t)(eq - arg) >= len)
		return -EINVAL;
	memcpy(key, arg, (size_t)(eq - arg));
	key[eq - arg] = '\0';
	*value = eq + 1;
	return 0;
}

/* --meta or --attr: NAME=VALUE, kept in @list (at most 64). */
static int pair_option(const struct command *cmd, const char *what, const char **list,
		       unsigned int *n)
{
	char key[256];
	const char *value;

	if (split_pair(optarg, key, sizeof(key), &value))
		return usage_error(cmd, "bad --%s '%s': NAME=VALUE, e.g. --%s %s", what, optarg,
				   what, strcmp(what, "meta") ? "sampling_frequency=1000" :
				   "sample=GaAs-17");
	if (*n >= 64)
		return usage_error(cmd, "at most 64 --%s options", what);
	list[(*n)++] = optarg;
	return 0;
}

static int shared_option(const struct command *cmd, int opt, char **argv, struct run_opts *ro)
{
	switch (opt) {
	case OPT_META:
		return pair_option(cmd, "meta", ro->meta, &ro->nmeta);
	case OPT_ATTR:
		return pair_option(cmd, "attr", ro->attr, &ro->nattr);
	case 'o':
		ro->output = optarg;
		return 0;
	case 'P':
		return parse_progress(cmd, optarg, &ro->progress) ? EXIT_USAGE : 0;
	case 'y':
		ro->force = 1;
		return 0;
	case 'D':
		ro->dry_run = 1;
		return 0;
	case ':':
		return usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
	default:
		return usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
	}
}

int parse_run_args(const struct command *cmd, int argc, char **argv, const char *short_opts,
		   const struct option *opts, option_fn own, void *ctx, const char *example,
		   const char *output_hint, struct run_opts *ro)
{
	int opt, ret = 0;

	memset(ro, 0, sizeof(*ro));
	ro->progress = PROGRESS_AUTO;
	optind = 1;
	opterr = 0;
	while (!ret && (opt = getopt_long(argc, argv, short_opts, opts, NULL)) != -1) {
		if (opt == OPT_META || opt == OPT_ATTR || (opt > 0 && opt < 256 && strchr("oPyD:?", opt)))
			ret = shared_option(cmd, opt, argv, ro);
		else
			ret = own(cmd, opt, optarg, ctx);
	}
	if (ret)
		return ret;
	if (optind >= argc)
		return usage_error(cmd, "no DEVICE given (e.g. '%s'; see 'labdaq list')", example);
	ro->device = argv[optind++];
	if (optind < argc)
		return usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (!ro->output)
		return usage_error(cmd, "no output file: add -o %s", output_hint);
	if (!strcmp(ro->output, "-"))
		return usage_error(cmd, "'-o -' is not supported: a run writes a file that stays "
				   "valid during the run and after a crash (its header is rewritten "
				   "in place, the metadata beside it), which a pipe cannot be. To pipe "
				   "what is written, as it is written: labdaq %s DEVICE ... -o %s & "
				   "until %s; do sleep 0.1; done; "
				   "tail --pid=$! %s -f %s | PROGRAM%s", cmd->name,
				   cmd == &cmd_sweep ? "run.csv" : "run.npy",
				   cmd == &cmd_sweep ? "[ -e run.json ]" :
				   "[ \"$(stat -c %s run.npy 2>/dev/null)\" -gt 4097 ] 2>/dev/null",
				   cmd == &cmd_sweep ? "-n +1" : "-c +4097",
				   cmd == &cmd_sweep ? "run.csv" : "run.npy",
				   cmd == &cmd_sweep ? "" : " (the raw items from byte 4096 on, once the "
				   "first is written: a file with none has one byte 00 after its "
				   "header; their dtype and shape are in run.json)");
	if (ro->progress == PROGRESS_AUTO)
		ro->progress = isatty(STDERR_FILENO) ? PROGRESS_LIVE : PROGRESS_NONE;
	return 0;
}

const char *fmt_bytes(double b, char *buf, size_t len)
{
	if (b >= 1e9)
		snprintf(buf, len, "%.2f GB", b / 1e9);
	else if (b >= 1e6)
		snprintf(buf, len, "%.1f MB", b / 1e6);
	else if (b >= 1e3)
		snprintf(buf, len, "%.1f kB", b / 1e3);
	else
		snprintf(buf, len, "%.0f B", b);
	return buf;
}

const char *fmt_duration(double s, char *buf, size_t len)
{
	if (s >= 3600)
		snprintf(buf, len, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
	else if (s >= 60)
		snprintf(buf, len, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
	else
		snprintf(buf, len, "%.1fs", s);
	return buf;
}

int open_device(const char *uri, labdaq_device **dev)
{
	int ret = labdaq_device_open(uri, dev);

	if (!ret)
		return 0;
	switch (ret) {
	case -EINVAL:
	case -ENODEV:
	case -EPROTONOSUPPORT:
		msg("cannot open device '%s': %s. 'labdaq list' shows the devices, "
		    "'labdaq info DEVICE' their channels.", uri, labdaq_strerror(ret));
		return EXIT_USAGE;
	case -EACCES:
	case -EPERM:
		msg("cannot open device '%s': %s. Is your user in the group the udev rule "
		    "grants access to?", uri, labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	default:
		msg("cannot open device '%s': %s", uri, labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	}
}

/* Append @a to @w as a shell word (quoted where needed); returns the end. */
char *quote_arg(char *w, const char *a)
{
	int plain = *a != '\0';

	for (const char *q = a; *q; q++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789-_./:=,+%@", *q))
			plain = 0;
	if (plain)
		return stpcpy(w, a);
	*w++ = '\'';
	for (const char *q = a; *q; q++) {
		if (*q == '\'')
			w = stpcpy(w, "'\\''");
		else
			*w++ = *q;
	}
	*w++ = '\'';
	*w = '\0';
	return w;
}

/* The command line as a shell would take it back, for the metadata. */
int join_command(int argc, char **argv, char **out)
{
	size_t len = 8;
	char *s, *w;

	for (int i = 0; i < argc; i++)
		len += 4 * strlen(argv[i]) + 3;
	s = malloc(len);
	if (!s)
		return -ENOMEM;
	w = stpcpy(s, "labdaq");
	for (int i = 0; i < argc; i++) {
		*w++ = ' ';
		w = quote_arg(w, argv[i]);
	}
	*w = '\0';
	*out = s;
	return 0;
}

int sidecar_status(const char *path, char *status, size_t len)
{
	labdaq_file *f;
	const char *st;
	int ret = labdaq_file_open(path, &f);

	if (ret)
		return ret;
	st = labdaq_file_meta_string(f, "status");
	snprintf(status, len, "%s", st ? st : "");
	labdaq_file_close(f);
	return st ? 0 : -ENOENT;
}
