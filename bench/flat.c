// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * flat.c - what a run's length could make grow, measured on the library's
 * own code (bench/flat.py runs it for growing lengths and draws the curves):
 *
 *   flat gaps N DIR    a run's gap store (lib/gaps.c) fed N alternating
 *                      gaps (index 2i, count 1: one item dropped, one kept)
 *                      by a producer thread as fast as it can, the writer
 *                      (this thread) flushing them and checkpointing (the
 *                      gaps' file, its header, fdatasync, the sidecar)
 *                      every 50,000 gaps, as a run does every second; then
 *                      the end (the last checkpoint, the files closed).
 *                      DIR/run.npy (sparse, N one-byte items), run.json and
 *                      run.gaps.npy are left for inspect and recover.
 *   flat file BYTES DIR
 *                      a data file of BYTES (sparse) and its sidecar, as a
 *                      run leaves them after BYTES of data: 9 checkpoints
 *                      (1 MiB written at its end, fdatasync, the header,
 *                      the sidecar) timed.  The files are left "running",
 *                      as after a kill, for recover.
 *
 * Prints one JSON object: the times in ms, memory in KiB (VmRSS when the
 * first checkpoint is done and at the end, VmHWM).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gaps.h"
#include "npy.h"
#include "run.h"
#include "sidecar.h"
#include "util.h"

#define CKPT_EVERY 50000u

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static long status_kib(const char *key)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 10);
	if (f)
		fclose(f);
	return v;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n ? v[n / 2] : 0;
}

static void die(const char *what, int err)
{
	fprintf(stderr, "flat: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

struct bench {
	struct labdaq_run run;
	struct ldq_meta_file *mf;
	uint64_t n;
	char path[4096];
};

static void meta_of(struct bench *b, struct ldq_meta *m, const char *status, uint64_t items,
		    uint64_t item_bytes)
{
	memset(m, 0, sizeof(*m));
	m->status = status;
	m->device = "sim:camera?width=4096&height=1";
	m->backend = "sim";
	m->kind = "frames";
	m->started_utc = "2026-12-06T00:00:00.000Z";
	snprintf(m->layout.descr, sizeof(m->layout.descr), "|u1");
	m->layout.ndim = 1;
	m->layout.dims[0] = item_bytes;
	m->ring_policy = "drop";
	m->written = items;
	m->dropped = atomic_load(&b->run.dropped);
	m->acquired = m->written + m->dropped;
}

/* A checkpoint as the writer does it (lib/writer.c ldq_run_checkpoint):
 * the data durable, its header, the gaps' file, the sidecar. */
static double checkpoint(struct bench *b, int fd, uint64_t items, uint64_t item_bytes,
			 const char *status)
{
	struct ldq_meta m;
	double t0 = now_ms();
	int ret;

	if (fdatasync(fd))
		die("fdatasync", errno);
	ret = ldq_npy_write_header(fd, &(struct ldq_npy_layout){ .descr = "|u1", .ndim = 1,
								 .dims = { item_bytes } },
				   items);
	meta_of(b, &m, status, items, item_bytes);
	if (!ret)
		ret = ldq_run_copy_for_checkpoint(&b->run, &m);
	if (!ret)
		ret = ldq_meta_write(b->mf, &m);
	if (ret)
		die("checkpoint", ret);
	return now_ms() - t0;
}

static void *producer(void *arg)
{
	struct bench *b = arg;

	for (uint64_t i = 0; i < b->n; i++)
		ldq_run_add_gap(&b->run, 2 * i, 1);
	atomic_store(&b->run.producer_done, 1);
	return NULL;
}

static int open_files(struct bench *b, const char *dir, uint64_t size)
{
	int fd, ret;

	snprintf(b->path, sizeof(b->path), "%s/run.npy", dir);
	pthread_mutex_init(&b->run.lock, NULL);
	fd = open(b->path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0)
		die(b->path, errno);
	if (ftruncate(fd, (off_t)size))
		die("ftruncate", errno);
	ret = ldq_gapstore_init(&b->run.gaps, b->path);
	if (!ret)
		ret = ldq_gaps_create(&b->run.gaps);
	if (!ret)
		ret = ldq_meta_open(b->path, &b->mf);
	if (ret)
		die("opening the files", ret);
	return fd;
}

static void print_times(const char *mode, uint64_t arg, double *ck, size_t nck, double fin,
			long rss0)
{
	double last = nck ? ck[nck - 1] : 0, max = 0;

	for (size_t i = 0; i < nck; i++)
		if (ck[i] > max)
			max = ck[i];
	printf("{\"mode\": \"%s\", \"n\": %llu, \"checkpoints\": %zu, \"checkpoint_last_ms\": %.3f, "
	       "\"checkpoint_median_ms\": %.3f, \"checkpoint_max_ms\": %.3f, "
	       "\"finalize_ms\": %.3f, \"rss_first_kib\": %ld, \"rss_end_kib\": %ld, "
	       "\"hwm_kib\": %ld}\n",
	       mode, (unsigned long long)arg, nck, last, median(ck, nck), max, fin, rss0,
	       status_kib("VmRSS:"), status_kib("VmHWM:"));
}

static int bench_gaps(uint64_t n, const char *dir)
{
	struct bench b = { .n = n };
	size_t nck = 0, cap = n / CKPT_EVERY + 4;
	double *ck = calloc(cap, sizeof(*ck)), t0, fin;
	uint64_t next = CKPT_EVERY;
	long rss0 = -1;
	pthread_t t;
	int fd = open_files(&b, dir, LDQ_NPY_HEADER_BYTES + n);

	if (!ck || pthread_create(&t, NULL, producer, &b))
		die("starting", ENOMEM);
	while (!atomic_load(&b.run.producer_done)) {
		ldq_gaps_flush(&b.run, 0);
		if (atomic_load(&b.run.ngaps_pub) >= next && nck < cap) {
			ck[nck++] = checkpoint(&b, fd, n, 1, "running");
			next += CKPT_EVERY;
			if (rss0 < 0)
				rss0 = status_kib("VmRSS:");
		}
	}
	pthread_join(t, NULL);
	t0 = now_ms();
	checkpoint(&b, fd, n, 1, "complete");
	ldq_gaps_close(&b.run.gaps);
	ldq_meta_close(b.mf);
	close(fd);
	fin = now_ms() - t0;
	print_times("gaps", n, ck, nck, fin, rss0);
	ldq_gapstore_free(&b.run.gaps);
	free(ck);
	return 0;
}

static int bench_file(uint64_t bytes, const char *dir)
{
	struct bench b = { 0 };
	const uint64_t ib = 4096, items = (bytes - LDQ_NPY_HEADER_BYTES) / ib;
	static char mib[1 << 20];
	double ck[9];
	int fd = open_files(&b, dir, LDQ_NPY_HEADER_BYTES + items * ib);

	memset(mib, 0x5a, sizeof(mib));
	for (int i = 0; i < 9; i++) {
		off_t off = (off_t)(LDQ_NPY_HEADER_BYTES + items * ib) - (off_t)(9 - i) * (1 << 20);

		if (ldq_pwrite_all(fd, mib, sizeof(mib), off, NULL))
			die("pwrite", errno);
		ck[i] = checkpoint(&b, fd, items, ib, "running");
	}
	close(fd); /* left running, as after a kill */
	print_times("file", bytes, ck, 9, 0, status_kib("VmRSS:"));
	ldq_gapstore_free(&b.run.gaps);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t n;

	if (argc != 4 || (strcmp(argv[1], "gaps") && strcmp(argv[1], "file"))) {
		fprintf(stderr, "usage: flat gaps N DIR | flat file BYTES DIR\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	if (!strcmp(argv[1], "gaps"))
		return bench_gaps(n, argv[3]);
	if (n < LDQ_NPY_HEADER_BYTES + (16u << 20)) {
		fprintf(stderr, "flat: a file of at least 16 MiB\n");
		return 2;
	}
	return bench_file(n, argv[3]);
}
