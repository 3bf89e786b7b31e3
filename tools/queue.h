/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * queue.h - what the parts of `labdaq queue` share: a durable queue of
 * acquire and sweep jobs, run one at a time by a worker.
 *
 *   queue_store.c   the queue on disk: its directory, the job files (created
 *                   atomically, loaded, stored, listed), queue.lock and
 *                   worker.lock
 *   queue_worker.c  `queue run`: the worker, the jobs' processes, signals
 *   queue_cmd.c     add, list, cancel, log: their options and output, and
 *                   the command's entry in the command table
 *
 * A queue is a directory:
 *
 *   DIR/jobs/<id>.json   one file per job (JSON, jansson); the name is the id
 *   DIR/jobs/<id>.log    what the job printed: its stdout and stderr
 *   DIR/queue.lock       flock()ed around every change of a job's state
 *   DIR/worker.lock      flock()ed by the one worker for its lifetime; holds
 *                        its pid, user and start time for the refusal message
 *
 * Adding a job takes no lock: the job is written to a temporary file in
 * jobs/, fsync()ed, then link()ed to jobs/<id>.json.  link() fails with
 * EEXIST when another process took that id first: rescan, try the next.  So
 * ids are unique and no job is lost however many processes add at once, and
 * a reader never sees half a job.  Every later change (queued -> running ->
 * complete...; queued -> cancelled; a stop request) is a read-modify-write
 * under queue.lock, stored as write, fsync, rename().
 *
 * The worker holds worker.lock while it lives, so a job it finds "running"
 * when it starts belongs to a worker that died: it is marked "interrupted".
 * Each job is a child process of the same binary (/proc/self/exe), in its
 * own process group (a Ctrl-C at the worker's terminal reaches the worker
 * only, which decides what the child gets), with PR_SET_PDEATHSIG=SIGTERM:
 * if the worker is killed (kill -9), its run stops as on Ctrl-C and
 * finalizes its file, rather than holding the device with nobody to record
 * its end.  A restarted worker also stops a run of the dead worker that is
 * still alive (SIGTERM, then SIGKILL after 30 s).
 *
 * Cancelling the running job writes "stop_requested" into its file; the
 * worker sees it (inotify on jobs/, and a re-read every second) and sends
 * SIGTERM (SIGUSR1 for --abort) to its child.  So whoever may write the
 * queue may stop its running job, even one run by another user (a shared
 * queue's worker is often a service user): the queue's permissions decide,
 * not the kernel's rule for signals.
 *
 * Every int-returning function here returns >= 0 (0, a count, an exit
 * status where it says so) or -errno.
 */
#ifndef LABDAQ_TOOLS_QUEUE_H
#define LABDAQ_TOOLS_QUEUE_H

#include <jansson.h>
#include <sys/types.h>

#include "common.h"
#include "util.h"

#define JOB_FORMAT "labdaq-job-1"
#define ORPHAN_STOP_S 30 /* a dead worker's run gets this long after SIGTERM */

struct queue {
	char *dir;    /* absolute path */
	int dfd;      /* the queue directory */
	int jfd;      /* DIR/jobs, or -1 if it does not exist (read-only use) */
	mode_t fmode; /* 0600, or 0660 in a group-writable queue */
	int lockfd;   /* DIR/queue.lock, opened on first use */
};

/* ---- queue_store.c: the queue directory ---- */

/* The queue's path (malloc'd), and whether it is a shared one (given). */
char *queue_path(const char *opt, int *shared);
/*
 * Open the queue: 0, an exit status with the message printed, or -ENOENT
 * (without @create, and the queue does not exist: no jobs).  @create makes
 * what is missing; @write checks that we may change it.
 */
int queue_open(struct queue *q, const char *opt, int create, int write);
void queue_close(struct queue *q);
/* The message for a queue we may not use (@err, a positive errno): which
 * directory refuses, whose it is, what to ask for.  Returns the exit status. */
int queue_access_error(const char *path, int err, const char *doing);
/* A file of the queue, created with the queue's file mode whatever the
 * umask: the fd, or -1 with errno set. */
int queue_file(int dirfd, const char *name, int flags, mode_t mode);
/* queue.lock, around every read-modify-write of a job: 0 or the exit
 * status, with the message printed. */
int queue_lock(struct queue *q);
void queue_unlock(struct queue *q);
/* One worker per queue: take worker.lock, held until *@lockfd is closed,
 * and write our pid, user and start time in it; 0 or the exit status
 * (EXIT_BUSY: another worker has it), with the message printed. */
int worker_lock_take(const struct queue *q, int *lockfd);
/* Whether a worker holds the queue (worker.lock), without taking it. */
int worker_lock_held(const struct queue *q);

/* ---- queue_store.c: job files ---- */

/* "ID.EXT" in @buf: the job's file (json) or its log (log) in jobs/. */
void job_file(long id, const char *ext, char *buf, size_t len);
/* The job @id in *@out: 0, or -errno (-ENOENT: no such job; -EBADMSG: not
 * a job file), with *@out NULL. */
int job_load(const struct queue *q, long id, json_t **out);
/* The job @id, or NULL if it cannot be read, for whoever needs no reason. */
json_t *job_get(const struct queue *q, long id);
/* Replace the job's file atomically (hold queue.lock): 0 or -errno. */
int job_store(const struct queue *q, long id, json_t *job);
/* The environment entry that marks job @id's process ("NAME=VALUE"). */
int job_mark(const struct queue *q, long id, char *buf, size_t len);
/* 1 if @pid is provably the process a worker of @q started for job @id. */
int job_child_proven(const struct queue *q, long id, long long pid, long long start);
/* The ids of the jobs, ascending (malloc'd): 0 or -errno. */
int job_ids(const struct queue *q, long **out, size_t *count);
/* Add @job under a new id (in *@id_out), without a lock: 0 or -errno. */
int job_create(const struct queue *q, json_t *job, long *id_out);

/* ---- queue_store.c: job fields ---- */

/* Whether @state is one a job ends in (it never changes again). */
int is_final(const char *state);
const char *job_str(json_t *j, const char *key);
long long job_int(json_t *j, const char *key, long long def);
void job_set_str(json_t *j, const char *key, const char *val); /* NULL: null */
void job_set_int(json_t *j, const char *key, long long val);
void job_set_now(json_t *j, const char *key);
/* " 'NAME'" for messages, or "" for a job without a name. */
const char *job_name_of(json_t *job, char *buf, size_t len);

/* ---- queue_worker.c ---- */

/* `labdaq queue run`: the exit status. */
int queue_run(int argc, char **argv, const char *qdir);

/* ---- queue_cmd.c ---- */

/* getopt's ':' (an option without its value) or '?' (an unknown option)
 * in the subcommand @sub: the usage error. */
int queue_bad_option(const char *sub, int opt, char **argv);

#endif
