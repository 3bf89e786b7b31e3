/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * gaps.h - a run's gaps: the items missing from its file (dropped on a full
 * ring, lost by the device, discarded by an abort or a failed write), as
 * [index, index + count) ranges of acquisition indexes.
 *
 * They live in a companion file, NAME.gaps.npy beside NAME.npy: a .npy of
 * shape (gaps, 2) and dtype <u8 (index, count per row, in increasing index
 * order), with a 4096-byte header like the data file's.  The file is
 * created with the data file (0 rows), with 64 KiB of disk kept allocated
 * ahead of its end so that a full disk still takes the gaps of the
 * failure, and appended to; memory and the cost of a checkpoint do not
 * grow with the number of gaps:
 *
 *  - The producer (ldq_run_add_gap) merges a gap that continues the newest
 *    one into it, else closes the newest into a batch of at most
 *    LDQ_GAP_BATCH rows.  It never does I/O.  A full batch makes it wait
 *    for the writer to take it (the writer takes a batch half full at each
 *    of its steps, so this only happens when the writer is stalled).
 *  - The writer (ldq_gaps_flush) swaps the batch with a second one under
 *    the run's lock and appends it to the file outside the lock.  At a
 *    checkpoint it also writes the newest gap (still open: the next flush
 *    rewrites that row) and the header that counts them, then fdatasyncs
 *    the file, all before the sidecar that names it.
 *
 * The sidecar records the count and the file's name (docs/file-format.md).
 * Not installed.
 */
#ifndef LDQ_GAPS_H
#define LDQ_GAPS_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "sidecar.h"

/* Rows of a batch: 4096 rows, 64 KiB; two batches per run. */
#define LDQ_GAP_BATCH 4096u
/* Disk space kept allocated beyond the last row. */
#define LDQ_GAP_RESERVE (64u * 1024u)

struct ldq_gapstore {
	/* the producer's side, under run->lock */
	struct ldq_gap open;    /* the newest gap (count 0: none yet) */
	struct ldq_gap *batch;  /* closed gaps not yet taken by the writer */
	size_t nbatch;
	uint64_t ngaps;         /* all gaps, the open one included */
	pthread_cond_t room;    /* signalled when the writer takes the batch */
	/* the writer's side */
	struct ldq_gap *wbuf;   /* the batch being written */
	char *path;             /* NAME.gaps.npy */
	const char *name;       /* its base name, in path */
	int fd;                 /* -1 until the first gap is written */
	uint64_t rows;          /* closed gaps in the file */
	uint64_t synced;        /* rows + open at the last fdatasync */
	uint64_t reserved;      /* bytes allocated ahead (fallocate) */
	int err;                /* the first write error (-errno), then no more writes */
};

/* Set up @gs for the data file @npy_path ("x.npy" -> "x.gaps.npy").  0 or
 * -ENOMEM.  ldq_gapstore_free() in every case. */
int ldq_gapstore_init(struct ldq_gapstore *gs, const char *npy_path);
void ldq_gapstore_free(struct ldq_gapstore *gs);
/* Create the file (0 rows) and its reservation: a stream's start.  0 or
 * -errno. */
int ldq_gaps_create(struct ldq_gapstore *gs);
/* Close it, releasing the reservation beyond its end: the run's end. */
void ldq_gaps_close(struct ldq_gapstore *gs);
/* "x.npy" -> "x.gaps.npy" (else @npy_path + ".gaps.npy"): malloc'd or NULL. */
char *ldq_gaps_path(const char *npy_path);
/* "x.npy" -> "x" + @suffix (else @npy_path + @suffix): malloc'd, or NULL
 * (no memory, or either argument NULL). */
char *ldq_path_beside(const char *npy_path, const char *suffix);

struct labdaq_run;
struct ldq_meta;

/* Producer (or the writer once the producer ended): items [index, index +
 * count) are missing; counted as dropped.  Indexes only grow. */
void ldq_run_add_gap(struct labdaq_run *run, uint64_t index, uint64_t count);
/* Writer: append the batch to the file if it is at least half full (or
 * any of it with @all).  Never holds the run's lock during I/O. */
void ldq_gaps_flush(struct labdaq_run *run, int all);
/*
 * Writer, after an abort or a failure, the producer ended: the @count items
 * that followed the first @kept items of the file were discarded.  They are
 * the last @count items not in a gap, so from the first of them to the end
 * of the acquisition everything is missing: the gaps there become one.
 */
void ldq_run_add_tail_gaps(struct labdaq_run *run, uint64_t kept, uint64_t count);
/* Writer, at a checkpoint: the file up to date (the open gap included,
 * header, fdatasync), then the gaps' part of @m and the error.  0, or the
 * -errno of a failed write of the gaps file (also kept in the store). */
int ldq_run_copy_for_checkpoint(struct labdaq_run *run, struct ldq_meta *m);

#endif
