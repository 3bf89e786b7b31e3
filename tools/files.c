// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * files.c - labdaq inspect and labdaq recover.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static const char inspect_usage[] =
	"Usage: labdaq inspect FILE.npy|FILE.csv\n"
	"\n"
	"Show what a run left: its status, the counts (acquired, written, dropped),\n"
	"the gaps, the rate, the channels, from FILE.npy (or a sweep's FILE.csv) and\n"
	"its FILE.json, and check that the data on disk matches the header.\n"
	"\n"
	"Exit status: 0 the file is consistent; 1 it is not (run 'labdaq recover')\n"
	"or cannot be read; 2 bad usage.\n";

static const char recover_usage[] =
	"Usage: labdaq recover FILE.npy|FILE.csv\n"
	"\n"
	"Complete a data file after a crash, kill -9 or power loss: the header is\n"
	"made to match the whole items on disk, a partial item at the end is cut\n"
	"(a sweep's last line, if cut short), and FILE.json is marked \"recovered\".\n"
	"A file that a live run writes is refused. Nothing is changed when the\n"
	"header and FILE.json disagree on the items' dtype or shape, or the header\n"
	"counts more items than are on disk: at most one partial item is ever cut.\n"
	"\n"
	"Exit status: 0 recovered; 1 the file cannot be read, is not a labdaq file,\n"
	"or its header and FILE.json disagree (nothing changed); 2 bad usage;\n"
	"4 a live run writes it.\n";

/* A string of the metadata, or "-". */
static const char *mstr(const labdaq_file *f, const char *key)
{
	const char *s = labdaq_file_meta_string(f, key);

	return s ? s : "-";
}

static unsigned long long mu64(const labdaq_file *f, const char *key)
{
	uint64_t v = 0;

	labdaq_file_meta_u64(f, key, &v);
	return (unsigned long long)v;
}

static void print_array(const labdaq_file *f, const char *path)
{
	unsigned long long ib = (unsigned long long)labdaq_file_item_bytes(f);
	double from = 0, to = 0, delay = 0;

	printf("file:      %s\n", path);
	if (labdaq_file_type(f) == LABDAQ_FILE_CSV) {
		printf("table:     CSV, %llu points\n", (unsigned long long)labdaq_file_items(f));
		if (!labdaq_file_meta_number(f, "sweep.from", &from) &&
		    !labdaq_file_meta_number(f, "sweep.to", &to)) {
			labdaq_file_meta_number(f, "sweep.delay_s", &delay);
			printf("sweep:     %s from %g to %g %s, %llu points, %llu passes, delay %g s\n",
			       mstr(f, "sweep.set"), from, to, mstr(f, "sweep.unit"),
			       mu64(f, "sweep.points"), mu64(f, "sweep.repeat"), delay);
		}
		return;
	}
	printf("array:     dtype %s, shape (%llu", labdaq_file_dtype(f),
	       (unsigned long long)labdaq_file_items(f));
	for (unsigned int d = 0; d < labdaq_file_item_ndim(f); d++)
		printf(", %llu", (unsigned long long)labdaq_file_item_dim(f, d));
	printf("), %llu bytes per item\n", ib);
	printf("on disk:   %llu whole items", (unsigned long long)labdaq_file_items_on_disk(f));
	if (labdaq_file_trailing_bytes(f))
		printf(" + %llu bytes", (unsigned long long)labdaq_file_trailing_bytes(f));
	printf("\n");
}

static void print_gaps(const labdaq_file *f)
{
	uint64_t n = labdaq_file_gap_count(f), index, count, said;
	const char *file = labdaq_file_meta_string(f, "gaps.file");

	printf("gaps:      %llu", (unsigned long long)n);
	if (file)
		printf(" (in %s)", file);
	printf("\n");
	/* labdaq-2: the sidecar counts them, the gaps' file lists them. */
	if (!labdaq_file_meta_u64(f, "gaps.count", &said) && said > n)
		printf("  the sidecar counts %llu gaps; %s %s: only %llu readable\n",
		       (unsigned long long)said, file ? file : "the gaps' file",
		       file ? "is missing or cut short" : "is not named", (unsigned long long)n);
	for (uint64_t i = 0; i < n && !labdaq_file_gap(f, i, &index, &count); i++) {
		if (i == 20) {
			printf("  ... %llu more\n", (unsigned long long)(n - 20));
			break;
		}
		printf("  items %llu..%llu (%llu)\n", (unsigned long long)index,
		       (unsigned long long)(index + count - 1), (unsigned long long)count);
	}
}

/* The members of object @key of the metadata, "name: value" each. */
static void print_pairs(json_t *meta, const char *key, const char *label)
{
	json_t *o = json_object_get(meta, key), *v;
	const char *k;

	json_object_foreach(o, k, v) {
		if (json_is_string(v))
			printf("%-10s %s = %s\n", label, k, json_string_value(v));
	}
}

/* What only the JSON text has: each channel's conversion in words, the
 * time axis, the device attributes and the user's metadata. */
static void print_extra(const labdaq_file *f)
{
	json_t *meta = labdaq_file_meta_json(f) ?
			       json_loads(labdaq_file_meta_json(f), 0, NULL) : NULL;
	json_t *c;
	size_t i;

	if (!meta)
		return;
	json_array_foreach(json_object_get(meta, "channels"), i, c) {
		const char *conv = json_string_value(json_object_get(c, "conversion"));

		if (conv)
			printf("physical:  %s\n", conv);
	}
	if (json_is_string(json_object_get(meta, "time_axis")))
		printf("time axis: %s\n", json_string_value(json_object_get(meta, "time_axis")));
	print_pairs(meta, "attributes", "attribute:");
	print_pairs(meta, "user", "user:");
	json_decref(meta);
}

static void print_meta(const labdaq_file *f)
{
	struct labdaq_channel ch;
	double rate = 0, measured = 0, offset = 0;

	printf("status:    %s\n", mstr(f, "status"));
	printf("device:    %s (%s backend)\n", mstr(f, "device"), mstr(f, "backend"));
	printf("started:   %s\n", mstr(f, "started_utc"));
	printf("ended:     %s\n", mstr(f, "ended_utc"));
	if (labdaq_file_type(f) == LABDAQ_FILE_NPY) {
		labdaq_file_meta_number(f, "rate_hz", &rate);
		if (rate > 0)
			printf("rate:      %g items/s requested", rate);
		else
			printf("rate:      as fast as possible");
		if (!labdaq_file_meta_number(f, "measured_rate_hz", &measured) && measured > 0)
			printf(", %.6g items/s measured", measured);
		printf("\n");
	}
	printf("counts:    %llu acquired, %llu written, %llu dropped\n", mu64(f, "acquired"),
	       mu64(f, "written"), mu64(f, "dropped"));
	for (unsigned int i = 0; !labdaq_file_channel(f, i, &ch); i++) {
		labdaq_file_channel_offset(f, i, &offset);
		printf("channel:   %s [%s] scale %g offset %g%s\n", ch.name, ch.unit, ch.scale,
		       offset, ch.output ? " (output)" : "");
	}
	print_extra(f);
	print_gaps(f);
	if (labdaq_file_meta_string(f, "error.message"))
		printf("error:     %s\n", mstr(f, "error.message"));
	if (mu64(f, "written") != labdaq_file_items(f) && strcmp(mstr(f, "status"), "running"))
		printf("warning:   the metadata says %llu written, the header %llu\n",
		       mu64(f, "written"), (unsigned long long)labdaq_file_items(f));
}

/* Whether a run on this machine holds the device that @f names and writes
 * @path (the holder's record names its output). */
static int run_writes(const labdaq_file *f, const char *path)
{
	struct labdaq_holder h = { .size = sizeof(h) };
	const char *dev = labdaq_file_meta_string(f, "device");
	char *mine, *theirs;
	int same;

	if (!dev || labdaq_device_holder(dev, &h) != 1 || h.pid <= 0 || !h.output[0])
		return 0;
	mine = realpath(path, NULL);
	theirs = realpath(h.output, NULL);
	same = mine && theirs && !strcmp(mine, theirs);
	free(mine);
	free(theirs);
	return same;
}

static int inspect_main(int argc, char **argv)
{
	const char *why;
	labdaq_file *f;
	int ret, status = EXIT_OK;

	if (argc != 2)
		return usage_error(&cmd_inspect, argc < 2 ? "no FILE given" : "one FILE only");
	ret = labdaq_file_open(argv[1], &f);
	if (ret) {
		msg("cannot read '%s': %s", argv[1], labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	}
	print_array(f, argv[1]);
	if (labdaq_file_meta_error(f, &why)) {
		int err = labdaq_file_meta_error(f, NULL);

		printf("metadata:  none (%s)\n", why ? why : labdaq_strerror(err));
		/* No sidecar at all is a plain .npy; a broken one is an error. */
		if (err != -ENOENT)
			status = EXIT_FAILURE_IO;
	} else {
		print_meta(f);
		if (!strcmp(mstr(f, "status"), "running") && !run_writes(f, argv[1])) {
			printf("GONE:      the metadata says running, but no run on this machine "
			       "writes this file (it was killed or crashed): run 'labdaq recover "
			       "%s'\n", argv[1]);
			status = EXIT_FAILURE_IO;
		} else if (strcmp(mstr(f, "status"), "running") &&
			   mu64(f, "written") != labdaq_file_items(f)) {
			status = EXIT_FAILURE_IO; /* the warning above says why */
		}
	}
	if (labdaq_file_items_on_disk(f) < labdaq_file_items(f)) {
		printf("INCONSISTENT: the header promises %llu items, %llu are on disk; run "
		       "'labdaq recover %s'\n", (unsigned long long)labdaq_file_items(f),
		       (unsigned long long)labdaq_file_items_on_disk(f), argv[1]);
		status = EXIT_FAILURE_IO;
	}
	labdaq_file_close(f);
	return status;
}

static int recover_main(int argc, char **argv)
{
	struct labdaq_recover_info info;
	int ret;

	if (argc != 2)
		return usage_error(&cmd_recover, argc < 2 ? "no FILE given" : "one FILE only");
	ret = labdaq_file_recover(argv[1], &info);
	if (ret == -EBADMSG) {
		labdaq_file *f;

		/* The data may be fine and only the sidecar broken. */
		if (!labdaq_file_open(argv[1], &f)) {
			msg("recovered the data of '%s' (%llu items), but its metadata (.json) is not "
			    "a labdaq sidecar: it was left as it is", argv[1],
			    (unsigned long long)labdaq_file_items(f));
			labdaq_file_close(f);
			return EXIT_FAILURE_IO;
		}
	}
	if (ret == -ENOTRECOVERABLE) {
		msg("cannot recover '%s': its .npy header and its sidecar (.json) disagree on the "
		    "items' dtype or shape, or the header counts more items than are on disk; one "
		    "of them is corrupt and nothing was changed (compare them with 'labdaq inspect')",
		    argv[1]);
		return EXIT_FAILURE_IO;
	}
	if (ret == -EBUSY)
		return EXIT_BUSY; /* the library said which run */
	if (ret) {
		msg("cannot recover '%s': %s", argv[1], labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	}
	printf("recovered %s: %llu items", argv[1], (unsigned long long)info.items);
	if (info.trailing)
		printf(", cut %llu bytes of a partial item", (unsigned long long)info.trailing);
	if (info.previous_status >= 0)
		printf(" (it was %s)", labdaq_state_name(info.previous_status));
	printf("\n");
	return EXIT_OK;
}

const struct command cmd_inspect = {
	.name = "inspect",
	.main = inspect_main,
	.summary = "show a data file's status, counts, gaps and channels",
	.usage = inspect_usage,
};

const struct command cmd_recover = {
	.name = "recover",
	.main = recover_main,
	.summary = "complete a data file after a crash or kill -9",
	.usage = recover_usage,
};
