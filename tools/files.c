// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * files.c - labdaq inspect and labdaq recover.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"
#include "npy.h"
#include "sidecar.h"

static const char inspect_usage[] =
	"Usage: labdaq inspect FILE.npy\n"
	"\n"
	"Show what a run left: its status, the counts (acquired, written, dropped),\n"
	"the gaps, the rate, the channels, from FILE.npy and its FILE.json, and\n"
	"check that the data on disk matches the header.\n"
	"\n"
	"Exit status: 0 the file is consistent; 1 it is not (run 'labdaq recover')\n"
	"or cannot be read; 2 bad usage.\n";

static const char recover_usage[] =
	"Usage: labdaq recover FILE.npy\n"
	"\n"
	"Complete a data file after a crash, kill -9 or power loss: the header is\n"
	"made to match the whole items on disk, a partial item at the end is cut,\n"
	"and FILE.json is marked \"recovered\".  Do not run it on a file that a run\n"
	"is still writing.\n"
	"\n"
	"Exit status: 0 recovered; 1 the file cannot be read or is not a labdaq\n"
	"file; 2 bad usage.\n";

static int read_header(const char *path, struct ldq_npy_layout *l, uint64_t *items,
		       size_t *hlen, uint64_t *size)
{
	char buf[LDQ_NPY_HEADER_BYTES];
	struct stat st;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf));
	ret = n < 0 ? -errno : 0;
	if (!ret && fstat(fd, &st))
		ret = -errno;
	close(fd);
	if (ret)
		return ret;
	*size = (uint64_t)st.st_size;
	return ldq_npy_parse(buf, (size_t)n, l, items, hlen);
}

static const char *jstr(json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "-";
}

static long long jint(json_t *o, const char *key)
{
	return json_integer_value(json_object_get(o, key));
}

static int inspect_main(int argc, char **argv)
{
	struct ldq_npy_layout l;
	uint64_t items, size, on_disk;
	size_t hlen, ib;
	json_t *meta = NULL, *gaps, *chans, *v;
	json_error_t jerr;
	char *jpath;
	int ret, status = EXIT_OK;
	size_t i;

	if (argc != 2)
		return usage_error(&cmd_inspect, argc < 2 ? "no FILE given" : "one FILE only");
	ret = read_header(argv[1], &l, &items, &hlen, &size);
	if (ret) {
		msg("cannot read '%s': %s", argv[1], labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	}
	ib = ldq_npy_item_bytes(&l);
	on_disk = ib ? (size - hlen) / ib : 0;
	printf("file:      %s\n", argv[1]);
	printf("array:     dtype %s, shape (%llu", l.descr, (unsigned long long)items);
	for (unsigned int d = 0; d < l.ndim; d++)
		printf(", %llu", (unsigned long long)l.dims[d]);
	printf("), %zu bytes per item\n", ib);
	printf("on disk:   %llu whole items", (unsigned long long)on_disk);
	if ((size - hlen) % ib)
		printf(" + %llu bytes", (unsigned long long)((size - hlen) % ib));
	printf("\n");

	jpath = ldq_meta_path(argv[1]);
	if (jpath)
		meta = json_load_file(jpath, 0, &jerr);
	if (!meta) {
		printf("metadata:  none (%s)\n", jpath ? jerr.text : "out of memory");
	} else {
		printf("status:    %s\n", jstr(meta, "status"));
		printf("device:    %s (%s backend)\n", jstr(meta, "device"), jstr(meta, "backend"));
		printf("started:   %s\n", jstr(meta, "started_utc"));
		printf("ended:     %s\n", jstr(meta, "ended_utc"));
		v = json_object_get(meta, "rate_hz");
		if (json_number_value(v) > 0)
			printf("rate:      %g items/s\n", json_number_value(v));
		else
			printf("rate:      as fast as possible\n");
		printf("counts:    %lld acquired, %lld written, %lld dropped\n",
		       jint(meta, "acquired"), jint(meta, "written"), jint(meta, "dropped"));
		chans = json_object_get(meta, "channels");
		json_array_foreach(chans, i, v)
			printf("channel:   %s [%s] scale %g\n", jstr(v, "name"), jstr(v, "unit"),
			       json_number_value(json_object_get(v, "scale")));
		gaps = json_object_get(meta, "gaps");
		printf("gaps:      %zu\n", json_array_size(gaps));
		json_array_foreach(gaps, i, v) {
			if (i == 20) {
				printf("  ... %zu more\n", json_array_size(gaps) - 20);
				break;
			}
			printf("  items %lld..%lld (%lld)\n", jint(v, "index"),
			       jint(v, "index") + jint(v, "count") - 1, jint(v, "count"));
		}
		v = json_object_get(meta, "error");
		if (json_is_object(v))
			printf("error:     %s\n", jstr(v, "message"));
		if (jint(meta, "written") != (long long)items &&
		    strcmp(jstr(meta, "status"), "running"))
			printf("warning:   the metadata says %lld written, the header %llu\n",
			       jint(meta, "written"), (unsigned long long)items);
		json_decref(meta);
	}
	free(jpath);
	if (on_disk < items) {
		printf("INCONSISTENT: the header promises %llu items, %llu are on disk; run "
		       "'labdaq recover %s'\n", (unsigned long long)items,
		       (unsigned long long)on_disk, argv[1]);
		status = EXIT_FAILURE_IO;
	}
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
		struct ldq_npy_layout l;
		uint64_t items, size;
		size_t hlen;

		/* The data may be fine and only the sidecar broken. */
		if (!read_header(argv[1], &l, &items, &hlen, &size)) {
			msg("recovered the data of '%s' (%llu items), but its metadata (.json) is not "
			    "a labdaq sidecar: it was left as it is", argv[1],
			    (unsigned long long)items);
			return EXIT_FAILURE_IO;
		}
	}
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
