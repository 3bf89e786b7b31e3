/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * writer.h - a stream's writer thread: ring -> .npy file, checkpoints.
 *
 * What to write next is decided by ldq_writer_plan(), a pure function of
 * the ring's and the file's state (no I/O, no atomics), so that every
 * decision can be tested on its own (tests/unit/test_writer.c); the
 * thread only gathers its inputs and carries its decision out.
 *
 * With O_DIRECT (where the file system takes it), whole pages go straight
 * from the ring to the disk, bypassing the page cache: the ring is
 * page-aligned and the payload starts at 4096, so a page-multiple region of
 * the ring lands on page-aligned file offsets.  A partial page is written
 * through the ordinary descriptor: at the end, after a realignment, and at
 * checkpoints (without releasing it from the ring: the next write of that
 * page replaces it), so the file shows every item at a checkpoint.
 *
 * At the end of a run the writer logs (debug level) which paths ran: see
 * LDQ_WRITER_STATS_FMT.  Not installed.
 */
#ifndef LDQ_WRITER_H
#define LDQ_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "run.h"

#define LDQ_PAGE 4096u

/* What the writer knows when it plans its next step. */
struct ldq_wplan_in {
	size_t avail;             /* contiguous readable bytes at the read position */
	size_t readable;          /* all readable bytes (avail < readable: the rest
				   * follows from the start of the ring) */
	size_t capacity;          /* of the ring */
	size_t block_bytes;       /* the producer's next reservation */
	size_t chunk_min;         /* see ldq_writer_chunks() */
	size_t chunk_max;
	uint64_t written;         /* payload bytes written and released */
	uintptr_t addr;           /* where the readable bytes start in memory */
	int64_t ns_to_checkpoint; /* <= 0: a checkpoint is due */
	int producer_done;        /* nothing more will be committed */
	int abort;                /* an abort, or a failed write: discard */
	int direct;               /* an O_DIRECT descriptor is open */
};

enum {
	LDQ_WPLAN_WAIT,       /* wait for wait_bytes, at most wait_ns */
	LDQ_WPLAN_WRITE,      /* write n bytes, release them */
	LDQ_WPLAN_CHECKPOINT, /* show the partial page (ldq_writer_show_bytes()),
			       * then rewrite the header and the sidecar */
	LDQ_WPLAN_END,        /* finalize the file */
};

struct ldq_wplan {
	int act;              /* LDQ_WPLAN_* */
	int discard;          /* first release all that is readable (abort) */
	size_t n;             /* WRITE: bytes */
	int direct;           /* WRITE: whole pages through O_DIRECT */
	int checkpoint;       /* WRITE: then as LDQ_WPLAN_CHECKPOINT */
	size_t wait_bytes;    /* WAIT */
	int64_t wait_ns;      /* WAIT */
};

struct ldq_wplan ldq_writer_plan(const struct ldq_wplan_in *in);
/* At a checkpoint: the bytes to show beyond those released (all that is
 * readable, if less than a chunk; else none: the next write shows them). */
size_t ldq_writer_show_bytes(size_t readable, size_t chunk_max);
/* The write sizes for a ring of @capacity bytes: at most WRITE_CHUNK_MAX
 * and a quarter of the ring, at least WRITE_CHUNK_MIN or an eighth of the
 * ring (so that a small ring is not waited on until full); whole pages. */
void ldq_writer_chunks(size_t capacity, size_t *chunk_min, size_t *chunk_max);

/* The summary logged at the end of a run, after "PATH: ". */
#define LDQ_WRITER_STATS_FMT                                                                 \
	"writer: %llu bytes in %llu O_DIRECT writes, %llu bytes in %llu buffered writes "    \
	"(%llu partial pages), %llu bytes shown at %llu checkpoints"

/* The writer thread (pthread start routine); @arg is the run. */
void *ldq_writer_main(void *arg);
/* Publish the items on disk in the .npy header and the sidecar (after an
 * fdatasync of the data if @sync).  The writer's, or the starting thread's
 * before the writer exists.  0 or -errno. */
int ldq_run_checkpoint(struct labdaq_run *run, const char *status, int sync);

#endif
