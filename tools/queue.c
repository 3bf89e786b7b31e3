// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * queue.c - labdaq queue: a durable queue of acquire and sweep jobs, run one
 * at a time by a worker.
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
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common.h"
#include "util.h"

#define JOB_FORMAT "labdaq-job-1"
#define RESCAN_MS 5000       /* the idle worker re-reads the queue this often */
#define RUNNING_CHECK_MS 1000 /* and the running job's file for a stop request */
#define ORPHAN_STOP_S 30     /* a dead worker's run gets this long after SIGTERM */

static const char queue_usage[] =
	"Usage: labdaq queue [--queue DIR] add [--name NAME] [--] acquire|sweep ARGS...\n"
	"       labdaq queue [--queue DIR] list [--json]\n"
	"       labdaq queue [--queue DIR] cancel [--no-wait] [--abort] ID...\n"
	"       labdaq queue [--queue DIR] log [--follow] ID\n"
	"       labdaq queue [--queue DIR] run [--until-empty]\n"
	"\n"
	"A durable queue of measurements, run one after another by a worker.  Each\n"
	"job is a file on disk, so the queue survives a reboot or a killed worker.\n"
	"\n"
	"  add       check the job at once (as 'labdaq acquire|sweep --dry-run ARGS'\n"
	"            would: a bad job is refused with that command's message and\n"
	"            status) and queue it; prints its id on stdout.  Relative paths\n"
	"            are taken from the current directory, where the job will run.\n"
	"  list      the jobs: id, name, state, exit status, device, times (local),\n"
	"            output file; --json: the job files as one JSON array\n"
	"  cancel    a queued job leaves the queue (state cancelled); the running\n"
	"            one is stopped as by Ctrl-C (state stopped, its file keeps what\n"
	"            was acquired) and the worker goes on with the next.  Waits\n"
	"            until the job has ended, unless --no-wait; --abort aborts it.\n"
	"  log       what the job printed (stdout and stderr, with the worker's\n"
	"            lines); --follow: until the job ends\n"
	"  run       the worker: the queued jobs in id order, one at a time, each\n"
	"            as its own 'labdaq acquire|sweep ARGS...' process.  It then\n"
	"            waits for new jobs; with --until-empty it exits when none is\n"
	"            queued.  One worker per queue.  SIGTERM or Ctrl-C: stop the\n"
	"            running job, record it, exit (a second Ctrl-C aborts the job).\n"
	"\n"
	"  --queue DIR        the queue (default: $LABDAQ_QUEUE, or the per-user\n"
	"                     $XDG_STATE_HOME/labdaq/queue, ~/.local/state/labdaq/queue)\n"
	"  -n, --name NAME    a name for the job, shown by list\n"
	"  -h, --help         this help\n"
	"\n"
	"Job states: queued, running, then complete (exit 0, or 3: data was\n"
	"dropped), stopped (stopped before its end: cancel, labdaq stop, the worker\n"
	"stopped), failed (exit 1, 2, 4 or a signal: see its log), aborted (130),\n"
	"cancelled (never ran), interrupted (its worker died; the note in 'list'\n"
	"says whether its file needs 'labdaq recover FILE').  A failed job does\n"
	"not stop the queue.\n"
	"\n"
	"A per-user queue is created mode 0700.  A queue given with --queue or\n"
	"LABDAQ_QUEUE is created mode 2770 (setgid, group rwx), its files 0660:\n"
	"its owner and group may add, cancel and run, nobody else.\n"
	"\n"
	"Exit status:\n"
	"  0    done: job queued, listed, cancelled or stopped, log shown; the\n"
	"       worker ran until the queue was empty (--until-empty) or a signal\n"
	"  1    the queue cannot be read or written (permissions, disk); cancel:\n"
	"       the job had already ended; add: the device check failed\n"
	"  2    bad usage (no such job, unknown option); add: the job is refused\n"
	"       (the message and status of 'labdaq acquire|sweep --dry-run')\n"
	"  4    run: another worker is running this queue (its pid is named)\n";

struct queue {
	char *dir;    /* absolute path */
	int dfd;      /* the queue directory */
	int jfd;      /* DIR/jobs, or -1 if it does not exist (read-only use) */
	mode_t fmode; /* 0600, or 0660 in a group-writable queue */
	int lockfd;   /* DIR/queue.lock, opened on first use */
};

static const char *const final_states[] = {
	"complete", "stopped", "failed", "aborted", "cancelled", "interrupted", NULL,
};

static int is_final(const char *state)
{
	for (int i = 0; state && final_states[i]; i++)
		if (!strcmp(state, final_states[i]))
			return 1;
	return 0;
}

/* ---- small helpers ------------------------------------------------------- */

/* "2026-11-27T10:52:01.660Z" -> "11-27 10:52:01" in local time, or "-". */
static const char *local_time(const char *utc, char *buf, size_t len)
{
	struct tm tm = { 0 };
	time_t t;

	if (!utc || sscanf(utc, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return "-";
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(buf, len, "%m-%d %H:%M:%S", &tm);
	return buf;
}

static const char *group_name(gid_t gid, char *buf, size_t len)
{
	struct group *gr = getgrgid(gid);

	if (gr)
		snprintf(buf, len, "%s", gr->gr_name);
	else
		snprintf(buf, len, "%u", (unsigned int)gid);
	return buf;
}

/* ---- job fields ---------------------------------------------------------- */

static const char *jstr(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

static long long jint(json_t *j, const char *key, long long def)
{
	json_t *v = json_object_get(j, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

static void set_str(json_t *j, const char *key, const char *val)
{
	json_t *v = val ? json_string(val) : NULL;

	json_object_set_new(j, key, v ? v : json_null());
}

static void set_int(json_t *j, const char *key, long long val)
{
	json_object_set_new(j, key, json_integer(val));
}

static void set_now(json_t *j, const char *key)
{
	char t[64];

	utc_now(t, sizeof(t));
	set_str(j, key, t);
}

static const char *job_name_of(json_t *job, char *buf, size_t len)
{
	const char *name = jstr(job, "name");

	if (name && *name)
		snprintf(buf, len, " '%s'", name);
	else
		buf[0] = '\0';
	return buf;
}

/* ---- the queue directory ----------------------------------------------- */

/* The queue's path (malloc'd), and whether it is a shared one (given). */
static char *queue_path(const char *opt, int *shared)
{
	const char *e;

	*shared = 1;
	if (opt && *opt)
		return strdup(opt);
	e = getenv("LABDAQ_QUEUE");
	if (e && *e)
		return strdup(e);
	*shared = 0;
	e = getenv("XDG_STATE_HOME");
	if (e && e[0] == '/')
		return str_printf("%s/labdaq/queue", e);
	e = getenv("HOME");
	if (!e || !*e) {
		struct passwd *pw = getpwuid(getuid());

		e = pw ? pw->pw_dir : "/";
	}
	return str_printf("%s/.local/state/labdaq/queue", e);
}

static int in_group(gid_t gid)
{
	gid_t groups[NGROUPS_MAX];
	int n = getgroups(NGROUPS_MAX, groups);

	if (getegid() == gid)
		return 1;
	for (int i = 0; i < n; i++)
		if (groups[i] == gid)
			return 1;
	return 0;
}

/* The message for a queue we may not use: which directory refuses, whose it
 * is, what to ask for.  Returns the exit status. */
static int access_error(const char *path, int err, const char *doing)
{
	char *culprit = strdup(path), *p;
	char u[64], g[64];
	struct stat st;

	if (err != EACCES && err != EPERM) {
		msg("queue %s: %s: %s", path, doing, strerror(err));
		free(culprit);
		return EXIT_FAILURE_IO;
	}
	/* The first directory on the way that we may not search, else the
	 * queue itself. */
	for (p = culprit ? strchr(culprit + 1, '/') : NULL; p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (access(culprit, X_OK) && errno == EACCES)
			break;
		*p = '/';
	}
	if (!culprit || stat(culprit, &st)) {
		msg("permission denied on the queue %s (%s): ask the owner of the queue for "
		    "access", path, doing);
	} else if (!(st.st_mode & 0070) && getuid() != st.st_uid) {
		msg("permission denied on the queue %s (%s): %s is private to %s (mode %04o). "
		    "Use your own queue, or ask %s for a shared one (see 'labdaq queue --help')",
		    path, doing, culprit, user_name(st.st_uid, u, sizeof(u)),
		    (unsigned int)(st.st_mode & 07777), user_name(st.st_uid, u, sizeof(u)));
	} else if (!in_group(st.st_gid) && getuid() != st.st_uid) {
		msg("permission denied on the queue %s (%s): %s is owned by %s, group %s, mode "
		    "%04o. Ask its owner to add you to the group '%s' (then log in again)",
		    path, doing, culprit, user_name(st.st_uid, u, sizeof(u)),
		    group_name(st.st_gid, g, sizeof(g)), (unsigned int)(st.st_mode & 07777),
		    group_name(st.st_gid, g, sizeof(g)));
	} else {
		msg("permission denied on the queue %s (%s): %s is owned by %s, group %s, mode "
		    "%04o, which does not let its group in. Ask its owner to make it group-"
		    "writable: chmod -R g+rwX %s", path, doing, culprit,
		    user_name(st.st_uid, u, sizeof(u)), group_name(st.st_gid, g, sizeof(g)),
		    (unsigned int)(st.st_mode & 07777), path);
	}
	free(culprit);
	return EXIT_FAILURE_IO;
}

/* mkdir -p of @path's parents (mode @mode for those it creates). */
static int make_parents(const char *path, mode_t mode)
{
	char *copy = strdup(path), *p;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	for (p = strchr(copy + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		if (mkdir(copy, mode) && errno != EEXIST) {
			ret = -errno;
			break;
		}
		*p = '/';
	}
	free(copy);
	return ret;
}

static void queue_close(struct queue *q)
{
	if (q->dfd >= 0)
		close(q->dfd);
	if (q->jfd >= 0)
		close(q->jfd);
	if (q->lockfd >= 0)
		close(q->lockfd);
	free(q->dir);
	q->dir = NULL;
	q->dfd = q->jfd = q->lockfd = -1;
}

/*
 * Open the queue: 0, an exit status with the message printed, or -ENOENT
 * (without @create, and the queue does not exist: no jobs).  @create makes
 * what is missing; @write checks that we may change it.
 */
static int queue_open(struct queue *q, const char *opt, int create, int write)
{
	int shared, ret;
	mode_t dmode;
	struct stat st;
	char *path;

	memset(q, 0, sizeof(*q));
	q->dfd = q->jfd = q->lockfd = -1;
	path = queue_path(opt, &shared);
	if (!path)
		return EXIT_FAILURE_IO;
	dmode = shared ? 02770 : 0700;
	if (create) {
		ret = make_parents(path, shared ? 0755 : 0700);
		if (ret) {
			ret = access_error(path, -ret, "creating it");
			free(path);
			return ret;
		}
		if (!mkdir(path, dmode)) {
			/* mkdir() takes neither setgid nor what the umask hides. */
			chmod(path, dmode);
		} else if (errno != EEXIST) {
			ret = access_error(path, errno, "creating it");
			free(path);
			return ret;
		}
	}
	q->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dfd < 0) {
		if (errno == ENOENT && !create)
			ret = -ENOENT;
		else
			ret = access_error(path, errno, "opening it");
		free(path);
		return ret;
	}
	q->dir = realpath(path, NULL);
	free(path);
	if (!q->dir || fstat(q->dfd, &st)) {
		msg("queue: %s", strerror(errno));
		queue_close(q);
		return EXIT_FAILURE_IO;
	}
	if (access(q->dir, write ? R_OK | W_OK | X_OK : R_OK | X_OK)) {
		ret = access_error(q->dir, errno, write ? "writing it" : "reading it");
		queue_close(q);
		return ret;
	}
	/* A shared queue's modes come from what it is, not from its directory's
	 * mode now: another process may have made the directory an instant ago
	 * and not yet given it its mode (mkdir, then chmod). */
	q->fmode = shared || st.st_mode & S_IWGRP ? 0660 : 0600;
	if (create && !mkdirat(q->dfd, "jobs", 0700))
		fchmodat(q->dfd, "jobs", shared ? dmode : st.st_mode & 07770, 0); /* as the queue */
	q->jfd = openat(q->dfd, "jobs", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->jfd < 0 && (errno != ENOENT || create)) {
		int err = errno;
		char *jobs = str_printf("%s/jobs", q->dir);

		ret = access_error(jobs ? jobs : q->dir, err, "opening its jobs");
		free(jobs);
		queue_close(q);
		return ret;
	}
	if (q->jfd >= 0 && write && faccessat(q->jfd, ".", W_OK | X_OK, 0)) {
		int err = errno;
		char *jobs = str_printf("%s/jobs", q->dir);

		ret = access_error(jobs ? jobs : q->dir, err, "writing its jobs");
		free(jobs);
		queue_close(q);
		return ret;
	}
	return 0;
}

/* A file of the queue, created with the queue's file mode whatever the umask. */
static int queue_file(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);

	if (fd >= 0 && (flags & O_CREAT))
		fchmod(fd, mode); /* fails harmlessly on another user's file */
	return fd;
}

static int queue_lock(struct queue *q)
{
	if (q->lockfd < 0) {
		q->lockfd = queue_file(q->dfd, "queue.lock", O_RDWR | O_CREAT, q->fmode);
		if (q->lockfd < 0)
			q->lockfd = openat(q->dfd, "queue.lock", O_RDONLY | O_CLOEXEC);
		if (q->lockfd < 0)
			return access_error(q->dir, errno, "locking it");
	}
	while (flock(q->lockfd, LOCK_EX))
		if (errno != EINTR)
			return access_error(q->dir, errno, "locking it");
	return 0;
}

static void queue_unlock(struct queue *q)
{
	if (q->lockfd >= 0)
		flock(q->lockfd, LOCK_UN);
}

/* ---- job files ------------------------------------------------------------- */

static void job_file(long id, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%ld.%s", id, ext);
}

/* The job @id, or NULL with *@err = an errno (ENOENT: no such job). */
static json_t *job_load(const struct queue *q, long id, int *err)
{
	json_error_t je;
	char name[32];
	json_t *job;
	int fd;

	*err = ENOENT;
	if (q->jfd < 0)
		return NULL;
	job_file(id, "json", name, sizeof(name));
	fd = openat(q->jfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = errno;
		return NULL;
	}
	job = json_loadfd(fd, 0, &je);
	close(fd);
	if (!job || !json_is_object(job)) {
		json_decref(job);
		*err = EBADMSG;
		return NULL;
	}
	set_int(job, "id", id); /* the name is the id */
	return job;
}

/* Write @job to a new temporary file in jobs/, fsync()ed; its name in @tmp. */
static int write_tmp(const struct queue *q, json_t *job, char *tmp, size_t len)
{
	static unsigned int seq;
	char *s = json_dumps(job, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	size_t n, off = 0;
	int fd, ret = 0;

	if (!s)
		return -ENOMEM;
	snprintf(tmp, len, ".tmp-%d-%u", (int)getpid(), seq++);
	fd = queue_file(q->jfd, tmp, O_WRONLY | O_CREAT | O_EXCL, q->fmode);
	if (fd < 0) {
		ret = -errno;
		free(s);
		return ret;
	}
	n = strlen(s);
	s[n++] = '\n'; /* json_dumps' terminator becomes the last newline */
	while (off < n) {
		ssize_t w = write(fd, s + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)w;
	}
	if (!ret && fsync(fd))
		ret = -errno;
	if (close(fd) && !ret)
		ret = -errno;
	free(s);
	if (ret)
		unlinkat(q->jfd, tmp, 0);
	return ret;
}

/* Replace the job's file atomically (hold queue.lock). */
static int job_store(const struct queue *q, long id, json_t *job)
{
	char tmp[64], name[32];
	int ret;

	set_int(job, "id", id);
	ret = write_tmp(q, job, tmp, sizeof(tmp));
	if (ret)
		return ret;
	job_file(id, "json", name, sizeof(name));
	if (renameat(q->jfd, tmp, q->jfd, name)) {
		ret = -errno;
		unlinkat(q->jfd, tmp, 0);
		return ret;
	}
	fsync(q->jfd);
	return 0;
}

static int cmp_long(const void *a, const void *b)
{
	long x = *(const long *)a, y = *(const long *)b;

	return (x > y) - (x < y);
}

/* The ids of the jobs, ascending (malloc'd), or -errno. */
static int job_ids(const struct queue *q, long **out, size_t *count)
{
	size_t n = 0, cap = 64;
	long *ids = malloc(cap * sizeof(*ids));
	struct dirent *de;
	DIR *d;
	int fd;

	*out = NULL;
	*count = 0;
	if (!ids)
		return -ENOMEM;
	if (q->jfd < 0) {
		*out = ids;
		return 0;
	}
	fd = openat(q->jfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		int ret = -errno;

		if (fd >= 0)
			close(fd);
		free(ids);
		return ret;
	}
	while ((de = readdir(d))) {
		char *end;
		long id;

		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		errno = 0;
		id = strtol(de->d_name, &end, 10);
		if (errno || id <= 0 || strcmp(end, ".json"))
			continue;
		if (n == cap) {
			long *more = realloc(ids, 2 * cap * sizeof(*ids));

			if (!more) {
				closedir(d);
				free(ids);
				return -ENOMEM;
			}
			ids = more;
			cap *= 2;
		}
		ids[n++] = id;
	}
	closedir(d);
	qsort(ids, n, sizeof(*ids), cmp_long);
	*out = ids;
	*count = n;
	return 0;
}

/* Add @job under a new id: write it once, then link() it to the first free
 * id after the highest; EEXIST means another process took that id: rescan. */
static int job_create(const struct queue *q, json_t *job, long *id_out)
{
	char tmp[64], name[32], *log;
	long *ids, id = 0;
	size_t n;
	int ret;

	for (int attempt = 0; attempt < 10000; attempt++) {
		ret = job_ids(q, &ids, &n);
		if (ret)
			return ret;
		if (n && ids[n - 1] >= id)
			id = ids[n - 1] + 1;
		else if (!id)
			id = 1;
		free(ids);
		log = str_printf("%s/jobs/%ld.log", q->dir, id);
		set_int(job, "id", id);
		set_str(job, "log", log);
		free(log);
		ret = write_tmp(q, job, tmp, sizeof(tmp));
		if (ret)
			return ret;
		job_file(id, "json", name, sizeof(name));
		ret = linkat(q->jfd, tmp, q->jfd, name, 0) ? -errno : 0;
		unlinkat(q->jfd, tmp, 0);
		if (!ret) {
			fsync(q->jfd);
			*id_out = id;
			return 0;
		}
		if (ret != -EEXIST)
			return ret;
		id++;
	}
	return -EAGAIN;
}

/* ---- what a job's argv says -------------------------------------------- */

/*
 * The device (the first operand) and the output (-o, --output) of an
 * acquire or sweep command line, for list and the checks.  Every option of
 * both takes a value except these.
 */
static int is_flag(const char *opt)
{
	static const char *const flags[] = {
		"-c", "--continuous", "--force", "--dry-run", "-h", "--help", NULL,
	};

	for (int i = 0; flags[i]; i++)
		if (!strcmp(opt, flags[i]))
			return 1;
	return 0;
}

static void job_target(char **av, int n, const char **device, const char **output, int *force)
{
	*device = *output = NULL;
	*force = 0;
	for (int i = 1; i < n; i++) {
		const char *a = av[i];

		if (!strcmp(a, "--")) {
			if (!*device && i + 1 < n)
				*device = av[i + 1];
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if (!*device)
				*device = a;
			continue;
		}
		if (!strcmp(a, "--force"))
			*force = 1;
		if (is_flag(a))
			continue;
		if (a[1] == '-') { /* --name=value or --name value */
			const char *eq = strchr(a, '=');

			if (!strncmp(a, "--output", 8) && (a[8] == '=' || !a[8]))
				*output = eq ? eq + 1 : i + 1 < n ? av[i + 1] : NULL;
			if (!eq)
				i++;
			continue;
		}
		/* A cluster of short options: flags, then one that takes the rest
		 * of the word or the next one. */
		for (const char *c = a + 1; *c; c++) {
			const char *val;

			if (*c == 'c' || *c == 'h')
				continue;
			val = c[1] ? c + 1 : i + 1 < n ? av[++i] : NULL;
			if (*c == 'o')
				*output = val;
			break;
		}
	}
}

/* @path against @cwd (malloc'd). */
static char *absolute(const char *cwd, const char *path)
{
	if (!path)
		return NULL;
	if (path[0] == '/' || !cwd)
		return strdup(path);
	return str_printf("%s/%s", cwd, path);
}

/* The status an output file's metadata ends with ("complete", "stopped",
 * "running"...; malloc'd), or NULL if it cannot be read. */
static char *output_status(const char *output)
{
	char word[32] = "";
	json_t *meta;
	char *status = NULL;

	if (!output)
		return NULL;
	if (has_suffix(output, ".npy")) {
		meta = load_sidecar(output);
		if (jstr(meta, "status"))
			status = strdup(jstr(meta, "status"));
		json_decref(meta);
	} else if (!csv_footer(output, word, sizeof(word), NULL, 0) && word[0]) {
		status = strdup(word); /* a sweep's CSV: the last "# status: X" line */
	}
	return status;
}

/* getopt's ':' (an option without its value) or '?' (an unknown option). */
static int bad_option(const char *sub, int opt, char **argv)
{
	if (opt == ':')
		return usage_error(&cmd_queue, "%s: option '%s' needs a value", sub,
				   argv[optind - 1]);
	return usage_error(&cmd_queue, "%s: unknown option '%s'", sub, argv[optind - 1]);
}

/* ---- add --------------------------------------------------------------- */

/* Run "labdaq COMMAND --dry-run ARGS..." and return its exit status: its
 * messages are the job's refusal.  Its stdout goes to our stderr, so that
 * our stdout holds only the id. */
static int dry_run(char **av, int n)
{
	char **cav = calloc((size_t)n + 3, sizeof(*cav));
	int status;
	pid_t pid;

	if (!cav)
		return EXIT_FAILURE_IO;
	cav[0] = (char *)"labdaq";
	cav[1] = av[0];
	cav[2] = (char *)"--dry-run";
	for (int i = 1; i < n; i++)
		cav[i + 2] = av[i];
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv("/proc/self/exe", cav);
		msg("queue add: cannot run %s to check the job: %s", "/proc/self/exe",
		    strerror(errno));
		_exit(EXIT_FAILURE_IO);
	}
	free(cav);
	if (pid < 0) {
		msg("queue add: fork: %s", strerror(errno));
		return EXIT_FAILURE_IO;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_FAILURE_IO;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	msg("queue add: the check of the job was killed by signal %d", WTERMSIG(status));
	return EXIT_FAILURE_IO;
}

/* A queued or running job that writes @output already: its id, or 0. */
static long output_taken(const struct queue *q, const char *output)
{
	long *ids, found = 0;
	size_t n;

	if (!output || job_ids(q, &ids, &n))
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		int err;
		json_t *job = job_load(q, ids[i], &err);
		const char *st = jstr(job, "state");

		const char *out = jstr(job, "output");

		if (st && !is_final(st) && out && !strcmp(out, output))
			found = ids[i];
		json_decref(job);
	}
	free(ids);
	return found;
}

static int add_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	const char *name = NULL, *device, *output;
	char *cwd = NULL, *abs_out = NULL, *line = NULL, host[256] = "", u[64], nb[300];
	json_t *job = NULL, *jargv;
	struct queue q;
	int opt, n, force, ret;
	char **av;
	long id, other;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:n:", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			name = optarg;
			break;
		case 'Q':
			qdir = optarg;
			break;
		default:
			return bad_option("add", opt, argv);
		}
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	av = argv + optind;
	n = argc - optind;
	if (n < 1)
		return usage_error(&cmd_queue, "add: what to queue? e.g. labdaq queue add -- "
				   "acquire sim:adc --samples 1M -o run1.npy");
	if (strcmp(av[0], "acquire") && strcmp(av[0], "sweep"))
		return usage_error(&cmd_queue, "add: a job is 'acquire ARGS...' or 'sweep "
				   "ARGS...', not '%s'", av[0]);
	for (int i = 1; i < n && strcmp(av[i], "--"); i++) {
		if (!strcmp(av[i], "--dry-run") || !strcmp(av[i], "--help") ||
		    !strcmp(av[i], "-h"))
			return usage_error(&cmd_queue, "add: a queued job cannot be '%s'", av[i]);
	}
	ret = queue_open(&q, qdir, 1, 1);
	if (ret)
		return ret;

	/* The job is checked as it would run: from here, by the same binary. */
	ret = dry_run(av, n);
	if (ret == EXIT_BUSY) {
		msg("queue add: the device is busy now; the job is queued all the same, and "
		    "will fail with status 4 if it is still busy when its turn comes");
	} else if (ret) {
		msg("queue add: job refused: nothing was queued");
		goto out;
	}
	ret = EXIT_FAILURE_IO;
	cwd = getcwd(NULL, 0);
	job_target(av, n, &device, &output, &force);
	abs_out = absolute(cwd, output);
	other = force ? 0 : output_taken(&q, abs_out);
	if (other) {
		ret = usage_error(&cmd_queue, "add: job %ld, still to run, writes '%s' already; "
				  "choose another name (or add --force to replace it)", other,
				  abs_out);
		goto out;
	}
	gethostname(host, sizeof(host) - 1);
	job = json_object();
	jargv = json_array();
	for (int i = 0; i < n; i++) {
		json_t *s = json_string(av[i]);

		if (!s) {
			ret = usage_error(&cmd_queue, "add: argument '%s' is not valid UTF-8",
					  av[i]);
			json_decref(jargv);
			goto out;
		}
		json_array_append_new(jargv, s);
	}
	set_str(job, "format", JOB_FORMAT);
	set_int(job, "id", 0);
	set_str(job, "name", name);
	set_str(job, "state", "queued");
	set_str(job, "command", av[0]);
	json_object_set_new(job, "argv", jargv);
	set_str(job, "cwd", cwd);
	set_str(job, "device", device);
	set_str(job, "output", abs_out);
	set_str(job, "user", user_name(getuid(), u, sizeof(u)));
	set_str(job, "host", host);
	set_now(job, "created_utc");
	set_str(job, "started_utc", NULL);
	set_str(job, "ended_utc", NULL);
	json_object_set_new(job, "exit_status", json_null());
	json_object_set_new(job, "signal", json_null());
	json_object_set_new(job, "worker_pid", json_null());
	json_object_set_new(job, "child_pid", json_null());
	set_str(job, "log", NULL);
	set_str(job, "stop_requested", NULL);
	set_str(job, "note", NULL);
	ret = job_create(&q, job, &id);
	if (ret) {
		ret = access_error(q.dir, -ret, "adding a job");
		goto out;
	}
	join_command(n, av, &line);
	printf("%ld\n", id);
	fflush(stdout);
	msg("queued job %ld%s in %s: %s", id, job_name_of(job, nb, sizeof(nb)), q.dir,
	    line ? line : av[0]);
	ret = EXIT_OK;
out:
	free(line);
	json_decref(job);
	free(abs_out);
	free(cwd);
	queue_close(&q);
	return ret;
}

/* ---- list ---------------------------------------------------------------- */

static const char *exit_text(json_t *job, char *buf, size_t len)
{
	long long st = jint(job, "exit_status", -1), sig = jint(job, "signal", 0);

	if (sig > 0) {
		const char *abbrev = sigabbrev_np((int)sig);

		if (abbrev)
			snprintf(buf, len, "SIG%s", abbrev);
		else
			snprintf(buf, len, "sig%lld", sig);
	} else if (st >= 0) {
		snprintf(buf, len, "%lld", st);
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}

static int list_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, as_json = 0, ret, wname = 4, wdev = 6;
	json_t *all;
	struct queue q;
	long *ids = NULL;
	size_t n = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'j')
			as_json = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return bad_option("list", opt, argv);
	}
	if (optind < argc)
		return usage_error(&cmd_queue, "list: unexpected argument '%s'", argv[optind]);
	ret = queue_open(&q, qdir, 0, 0);
	if (ret > 0)
		return ret;
	if (!ret)
		ret = job_ids(&q, &ids, &n);
	if (ret < 0 && ret != -ENOENT) {
		ret = access_error(q.dir, -ret, "listing its jobs");
		queue_close(&q);
		return ret;
	}
	all = json_array();
	for (size_t i = 0; i < n; i++) {
		int err;
		json_t *job = job_load(&q, ids[i], &err);

		if (!job) {
			if (err != ENOENT)
				msg("queue: job %ld: %s", ids[i],
				    err == EBADMSG ? "not a job file" : strerror(err));
			continue;
		}
		json_array_append_new(all, job);
		if (jstr(job, "name") && (int)strlen(jstr(job, "name")) > wname)
			wname = (int)strlen(jstr(job, "name"));
		if (jstr(job, "device") && (int)strlen(jstr(job, "device")) > wdev)
			wdev = (int)strlen(jstr(job, "device"));
	}
	free(ids);
	if (as_json) {
		json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		size_t i;
		json_t *job;

		printf("%-4s  %-*s  %-11s  %-7s  %-*s  %-14s  %-14s  %-14s  %s\n", "ID", wname,
		       "NAME", "STATE", "EXIT", wdev, "DEVICE", "CREATED", "STARTED", "ENDED",
		       "OUTPUT");
		json_array_foreach(all, i, job) {
			char t1[32], t2[32], t3[32], ex[32];
			const char *name = jstr(job, "name");

			printf("%-4lld  %-*s  %-11s  %-7s  %-*s  %-14s  %-14s  %-14s  %s\n",
			       jint(job, "id", 0), wname, name && *name ? name : "-",
			       jstr(job, "state") ? jstr(job, "state") : "?",
			       exit_text(job, ex, sizeof(ex)), wdev,
			       jstr(job, "device") ? jstr(job, "device") : "-",
			       local_time(jstr(job, "created_utc"), t1, sizeof(t1)),
			       local_time(jstr(job, "started_utc"), t2, sizeof(t2)),
			       local_time(jstr(job, "ended_utc"), t3, sizeof(t3)),
			       jstr(job, "output") ? jstr(job, "output") : "-");
		}
		json_array_foreach(all, i, job) {
			if (jstr(job, "note") && is_final(jstr(job, "state")))
				printf("job %lld: %s\n", jint(job, "id", 0), jstr(job, "note"));
		}
	}
	fflush(stdout);
	json_decref(all);
	queue_close(&q);
	return ferror(stdout) ? EXIT_FAILURE_IO : EXIT_OK;
}

/* ---- the worker ------------------------------------------------------------ */

struct worker {
	struct queue q;
	int sfd;        /* signalfd: SIGINT, SIGTERM, SIGHUP, SIGCHLD */
	int ifd;        /* inotify on jobs/, or -1 */
	int stopping;   /* a signal, or an error, asked the worker to end */
	int error;      /* the worker cannot go on: exit 1 */
	int nsig;       /* terminating signals received */
	long floor;     /* every job up to this id has ended */
};

/* Append a line from the worker to a job's log. */
static void log_line(const struct queue *q, long id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void log_line(const struct queue *q, long id, const char *fmt, ...)
{
	char name[32], t[64];
	va_list ap;
	int fd;

	job_file(id, "log", name, sizeof(name));
	fd = queue_file(q->jfd, name, O_WRONLY | O_CREAT | O_APPEND, q->fmode);
	if (fd < 0)
		return;
	utc_now(t, sizeof(t));
	dprintf(fd, "labdaq queue: %s: ", t);
	va_start(ap, fmt);
	vdprintf(fd, fmt, ap);
	va_end(ap);
	dprintf(fd, "\n");
	close(fd);
}

/* A job left "running" by a worker that died (we hold worker.lock, so its
 * worker is gone): stop its run if it still goes, mark it interrupted. */
static void mark_interrupted(struct worker *w, long id, json_t *job, const char *why)
{
	long long child = jint(job, "child_pid", 0), start = jint(job, "child_start", -1);
	const char *output = jstr(job, "output");
	char *status = NULL, *note = NULL, nb[300];
	int ret;

	if (same_process(child, start)) {
		msg("job %ld: its run (pid %lld) still goes: stopping it", id, child);
		kill((pid_t)child, SIGTERM);
		if (!wait_gone(child, start, ORPHAN_STOP_S)) {
			msg("job %ld: its run (pid %lld) did not stop in %d s: killing it", id,
			    child, ORPHAN_STOP_S);
			kill((pid_t)child, SIGKILL);
			wait_gone(child, start, 5);
		}
	}
	status = output_status(output);
	if (status && strcmp(status, "running"))
		note = str_printf("%s; its run ended '%s' and its file %s is finalized", why,
				  status, output);
	else if (!output || access(output, F_OK))
		note = str_printf("%s; it had written no file", why);
	else if (has_suffix(output, ".npy"))
		note = str_printf("%s; its file can be completed with: labdaq recover %s", why,
				  output);
	else
		note = str_printf("%s; its file %s holds the points done before", why, output);
	set_str(job, "state", "interrupted");
	set_now(job, "ended_utc");
	set_str(job, "note", note ? note : why);
	ret = job_store(&w->q, id, job);
	if (ret)
		msg("job %ld: cannot record its state: %s", id, strerror(-ret));
	log_line(&w->q, id, "job %ld interrupted: %s", id, note ? note : why);
	msg("job %ld%s: interrupted: %s", id, job_name_of(job, nb, sizeof(nb)), note ? note : why);
	free(note);
	free(status);
}

static void recover_orphans(struct worker *w)
{
	long *ids;
	size_t n;

	if (job_ids(&w->q, &ids, &n) || queue_lock(&w->q)) {
		free(ids);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		int err;
		json_t *job = job_load(&w->q, ids[i], &err);
		const char *st = jstr(job, "state");

		if (st && !strcmp(st, "running")) {
			char why[128];

			snprintf(why, sizeof(why), "its worker (pid %lld) ended while it ran",
				 jint(job, "worker_pid", 0));
			mark_interrupted(w, ids[i], job, why);
		}
		json_decref(job);
	}
	queue_unlock(&w->q);
	free(ids);
}

/* The first queued job, or 0. */
static long next_queued(struct worker *w)
{
	long *ids, found = 0;
	int all_final = 1;
	size_t n;

	if (job_ids(&w->q, &ids, &n))
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		int err;
		json_t *job;
		const char *st;

		if (ids[i] <= w->floor)
			continue;
		job = job_load(&w->q, ids[i], &err);
		st = jstr(job, "state");
		if (st && !strcmp(st, "queued"))
			found = ids[i];
		else if (all_final && st && is_final(st))
			w->floor = ids[i]; /* an ended job never changes again */
		else
			all_final = 0;
		json_decref(job);
	}
	free(ids);
	return found;
}

static void drain_inotify(int ifd)
{
	char buf[4096] __attribute__((aligned(8)));

	while (ifd >= 0 && read(ifd, buf, sizeof(buf)) > 0)
		;
}

/* The job's end, from how its process ended. */
static const char *job_outcome(int status, const char *output, int stop_asked, const char **why)
{
	char *meta;
	const char *state;

	*why = NULL;
	if (WIFSIGNALED(status)) {
		if (stop_asked && WTERMSIG(status) == SIGTERM) {
			*why = "it was killed by SIGTERM before it could stop cleanly";
			return "stopped";
		}
		*why = "it was killed by a signal";
		return "failed";
	}
	switch (WEXITSTATUS(status)) {
	case EXIT_OK:
	case EXIT_DROPPED:
		/* The file's metadata tells a stop (cancel, labdaq stop, the worker
		 * stopping) from a run that reached its end. */
		meta = output_status(output);
		if (meta)
			state = !strcmp(meta, "stopped") ? "stopped" : "complete";
		else
			state = stop_asked ? "stopped" : "complete";
		free(meta);
		if (WEXITSTATUS(status) == EXIT_DROPPED)
			*why = "data was dropped: see the gaps in its metadata";
		return state;
	case EXIT_FAILURE_IO:
		*why = "device or I/O failure: see its log";
		return "failed";
	case EXIT_USAGE:
		*why = "bad usage at run time (e.g. the output exists now): see its log";
		return "failed";
	case EXIT_BUSY:
		*why = "the device was busy with another run";
		return "failed";
	case EXIT_ABORTED:
		return "aborted";
	default:
		*why = "unexpected exit status: see its log";
		return "failed";
	}
}

/* "labdaq" and the job's argv (checked with valid_argv()), NULL-terminated,
 * for execv() and messages; malloc'd, the strings are the job's. */
static char **job_argv(json_t *job)
{
	json_t *jargv = json_object_get(job, "argv");
	size_t n = json_array_size(jargv);
	char **av = calloc(n + 2, sizeof(*av));

	if (!av)
		return NULL;
	av[0] = (char *)"labdaq";
	for (size_t i = 0; i < n; i++)
		av[i + 1] = (char *)json_string_value(json_array_get(jargv, i));
	return av;
}

/* Start the job's process: its own process group, stopped if we die, its
 * output to the job's log, in the directory it was added from. */
static pid_t spawn_job(json_t *job, char **av, int logfd)
{
	const char *cwd = jstr(job, "cwd");
	pid_t parent = getpid(), pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		int nul = open("/dev/null", O_RDONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent) /* the worker died before the line above */
			_exit(EXIT_FAILURE_IO);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		if (cwd && chdir(cwd)) {
			dprintf(STDERR_FILENO, "labdaq queue: cannot enter the job's directory "
				"'%s': %s\n", cwd, strerror(errno));
			_exit(EXIT_FAILURE_IO);
		}
		execv("/proc/self/exe", av);
		dprintf(STDERR_FILENO, "labdaq queue: cannot run /proc/self/exe: %s\n",
			strerror(errno));
		_exit(EXIT_FAILURE_IO);
	}
	return pid;
}

static int valid_argv(json_t *jargv)
{
	size_t i;
	json_t *v;

	if (!json_is_array(jargv) || !json_array_size(jargv))
		return 0;
	json_array_foreach(jargv, i, v)
		if (!json_is_string(v))
			return 0;
	v = json_array_get(jargv, 0);
	return !strcmp(json_string_value(v), "acquire") || !strcmp(json_string_value(v), "sweep");
}

/* Read the pending signals: a terminating one stops the worker (and the
 * job's run, if @child); SIGCHLD just wakes us. */
static void take_signals(struct worker *w, pid_t child, long id)
{
	struct signalfd_siginfo si;

	while (read(w->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		w->nsig++;
		w->stopping = 1;
		if (!child)
			continue;
		if (w->nsig == 1) {
			msg("%s: stopping job %ld, then the worker (Ctrl-C again to abort the job)",
			    strsignal((int)si.ssi_signo), id);
			log_line(&w->q, id, "the worker got signal %u: stopping the job",
				 si.ssi_signo);
			kill(child, SIGTERM);
		} else if (si.ssi_signo == SIGINT) {
			msg("aborting job %ld", id);
			log_line(&w->q, id, "the worker got a second SIGINT: aborting the job");
			kill(child, SIGUSR1);
		}
	}
}

/* Run job @id to its end; 0, or -1 if it was not queued any more. */
static int run_job(struct worker *w, long id)
{
	int err, logfd, status = 0, stop_sent = 0, abort_sent = 0;
	char logname[32], *log = NULL, *line = NULL, nb[300];
	const char *state, *why;
	char **av;
	json_t *job;
	pid_t pid;

	if (queue_lock(&w->q))
		return -1;
	job = job_load(&w->q, id, &err);
	if (!job || !jstr(job, "state") || strcmp(jstr(job, "state"), "queued")) {
		queue_unlock(&w->q);
		json_decref(job);
		return -1;
	}
	if (!valid_argv(json_object_get(job, "argv"))) {
		set_str(job, "state", "failed");
		set_now(job, "ended_utc");
		set_str(job, "note", "not a job: its argv must be acquire|sweep ARGS...");
		job_store(&w->q, id, job);
		queue_unlock(&w->q);
		msg("job %ld: not a job (its argv must be acquire|sweep ARGS...): failed", id);
		json_decref(job);
		return 0;
	}
	job_file(id, "log", logname, sizeof(logname));
	logfd = queue_file(w->q.jfd, logname, O_WRONLY | O_CREAT | O_APPEND, w->q.fmode);
	log = str_printf("%s/jobs/%s", w->q.dir, logname);
	if (logfd < 0 || !log) {
		msg("job %ld: cannot open its log: %s", id, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		queue_unlock(&w->q);
		json_decref(job);
		/* The queue is not writable: stop rather than fail every job. */
		w->stopping = w->error = 1;
		return 0;
	}
	av = job_argv(job);
	if (av)
		join_command((int)json_array_size(json_object_get(job, "argv")), av + 1, &line);
	log_line(&w->q, id, "job %ld started by worker pid %d: %s (in %s)", id, (int)getpid(),
		 line ? line : "?", jstr(job, "cwd") ? jstr(job, "cwd") : "?");
	pid = av ? spawn_job(job, av, logfd) : -1;
	free(av);
	close(logfd);
	if (pid < 0) {
		msg("job %ld: fork: %s", id, strerror(errno));
		queue_unlock(&w->q);
		json_decref(job);
		free(line);
		free(log);
		w->stopping = w->error = 1;
		return 0;
	}
	set_str(job, "state", "running");
	set_now(job, "started_utc");
	set_int(job, "worker_pid", getpid());
	set_int(job, "child_pid", pid);
	set_int(job, "child_start", proc_start(pid));
	set_str(job, "log", log);
	err = job_store(&w->q, id, job);
	if (err)
		msg("job %ld: cannot record that it runs: %s", id, strerror(-err));
	queue_unlock(&w->q);
	msg("job %ld%s started: %s", id, job_name_of(job, nb, sizeof(nb)), line ? line : "?");

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = w->sfd, .events = POLLIN },
			{ .fd = w->ifd, .events = POLLIN },
		};
		json_t *now;
		const char *req;
		pid_t r;

		r = waitpid(pid, &status, WNOHANG);
		if (r == pid)
			break;
		if (r < 0 && errno != EINTR) {
			msg("job %ld: waitpid: %s", id, strerror(errno));
			status = EXIT_FAILURE_IO << 8;
			break;
		}
		if (poll(pfd, w->ifd >= 0 ? 2 : 1, RUNNING_CHECK_MS) < 0 && errno != EINTR)
			continue;
		if (pfd[0].revents & POLLIN) {
			take_signals(w, pid, id);
			if (w->stopping)
				stop_sent = 1;
		}
		drain_inotify(w->ifd);
		/* A stop asked through the job's file (cancel). */
		now = job_load(&w->q, id, &err);
		req = jstr(now, "stop_requested");
		if (req && json_is_true(json_object_get(now, "abort_requested")) && !abort_sent) {
			/* SIGUSR1 aborts a run at once, stopped or not. */
			msg("job %ld: abort requested (%s)", id, req);
			log_line(&w->q, id, "abort requested: %s", req);
			kill(pid, SIGUSR1);
			stop_sent = abort_sent = 1;
		} else if (req && !stop_sent) {
			msg("job %ld: stop requested (%s)", id, req);
			log_line(&w->q, id, "stop requested: %s", req);
			kill(pid, SIGTERM);
			stop_sent = 1;
		}
		json_decref(now);
	}

	state = job_outcome(status, jstr(job, "output"), stop_sent, &why);
	if (queue_lock(&w->q) == 0) {
		json_t *cur = job_load(&w->q, id, &err);

		if (cur) { /* keep what a cancel wrote meanwhile */
			json_decref(job);
			job = cur;
		}
	}
	set_str(job, "state", state);
	set_now(job, "ended_utc");
	if (WIFEXITED(status)) {
		set_int(job, "exit_status", WEXITSTATUS(status));
	} else {
		set_int(job, "signal", WTERMSIG(status));
	}
	set_str(job, "note", why);
	/* The log's last line before the final state: whoever follows the log
	 * until the state is final reads it. */
	if (WIFEXITED(status))
		log_line(&w->q, id, "job %ld ended: %s, exit status %d%s%s", id, state,
			 WEXITSTATUS(status), why ? ": " : "", why ? why : "");
	else
		log_line(&w->q, id, "job %ld ended: %s, killed by signal %d (%s)", id, state,
			 WTERMSIG(status), strsignal(WTERMSIG(status)));
	err = job_store(&w->q, id, job);
	if (err)
		msg("job %ld: cannot record its end: %s", id, strerror(-err));
	queue_unlock(&w->q);
	if (WIFEXITED(status)) {
		msg("job %ld%s: %s, exit status %d%s%s", id, job_name_of(job, nb, sizeof(nb)),
		    state, WEXITSTATUS(status), why ? ": " : "", why ? why : "");
	} else {
		msg("job %ld%s: %s, killed by signal %d (%s)", id, job_name_of(job, nb, sizeof(nb)),
		    state, WTERMSIG(status), strsignal(WTERMSIG(status)));
	}
	json_decref(job);
	free(line);
	free(log);
	return 0;
}

/* One worker per queue: worker.lock, held until we exit (in *@fd).  Its
 * content names the holder for the refusal message. */
static int take_worker_lock(struct worker *w, int *lockfd)
{
	char buf[256], u[64], t[64];
	int fd, i, ret;
	ssize_t n;

	fd = queue_file(w->q.dfd, "worker.lock", O_RDWR | O_CREAT, w->q.fmode);
	if (fd < 0)
		return access_error(w->q.dir, errno, "opening its worker.lock");
	/* A cancel tests the lock with a shared flock() for an instant: retry
	 * for a second before taking a refusal as another worker. */
	for (i = 0; (ret = flock(fd, LOCK_EX | LOCK_NB)) && errno == EWOULDBLOCK && i < 20; i++)
		usleep(50000);
	if (ret) {
		if (errno != EWOULDBLOCK) {
			msg("queue %s: worker.lock: %s", w->q.dir, strerror(errno));
			close(fd);
			return EXIT_FAILURE_IO;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		msg("another worker is running the queue %s: %s. One worker per queue: stop "
		    "it first (kill -TERM the pid, or systemctl stop its service)", w->q.dir,
		    *buf ? buf : "its pid is unknown");
		close(fd);
		return EXIT_BUSY;
	}
	utc_now(t, sizeof(t));
	n = snprintf(buf, sizeof(buf), "pid %d (user %s, since %s)\n", (int)getpid(),
		     user_name(getuid(), u, sizeof(u)), t);
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n)
		msg("queue %s: worker.lock: %s", w->q.dir, strerror(errno));
	*lockfd = fd;
	return 0;
}

/* Whether a worker holds the queue (worker.lock), without taking it. */
static int worker_alive(const struct queue *q)
{
	int fd = openat(q->dfd, "worker.lock", O_RDONLY | O_CLOEXEC), alive;

	if (fd < 0)
		return 0;
	alive = flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd); /* drops the shared lock if we got it */
	return alive;
}

static int run_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "until-empty", no_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker w = { .sfd = -1, .ifd = -1 };
	int opt, until_empty = 0, ret, lockfd = -1;
	static const int wsigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD };

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'u')
			until_empty = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return bad_option("run", opt, argv);
	}
	if (optind < argc)
		return usage_error(&cmd_queue, "run: unexpected argument '%s'", argv[optind]);
	ret = queue_open(&w.q, qdir, 1, 1);
	if (ret)
		return ret;
	ret = take_worker_lock(&w, &lockfd);
	if (ret) {
		queue_close(&w.q);
		return ret;
	}

	/* Signals through a signalfd (SIGCHLD too: the job's end). */
	w.sfd = signalfd_for(wsigs, sizeof(wsigs) / sizeof(wsigs[0]), SFD_NONBLOCK);
	if (w.sfd < 0) {
		close(lockfd);
		queue_close(&w.q);
		return EXIT_FAILURE_IO;
	}
	/* New jobs are link()ed, changed ones rename()d into jobs/. */
	w.ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w.ifd >= 0) {
		char *jobs = str_printf("%s/jobs", w.q.dir);

		uint32_t events = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;

		if (!jobs || inotify_add_watch(w.ifd, jobs, events) < 0) {
			close(w.ifd);
			w.ifd = -1;
		}
		free(jobs);
	}
	if (w.ifd < 0)
		msg("warning: no inotify (%s): new jobs are seen within %d s", strerror(errno),
		    RESCAN_MS / 1000);
	msg("worker pid %d: queue %s%s", (int)getpid(), w.q.dir,
	    until_empty ? " (until it is empty)" : "");

	recover_orphans(&w);
	while (!w.stopping) {
		long id = next_queued(&w);

		if (id) {
			run_job(&w, id);
			continue;
		}
		if (until_empty)
			break;
		{
			struct pollfd pfd[2] = {
				{ .fd = w.sfd, .events = POLLIN },
				{ .fd = w.ifd, .events = POLLIN },
			};

			if (poll(pfd, w.ifd >= 0 ? 2 : 1, RESCAN_MS) > 0) {
				if (pfd[0].revents & POLLIN)
					take_signals(&w, 0, 0);
				drain_inotify(w.ifd);
			}
		}
	}
	msg("worker pid %d: %s", (int)getpid(), w.error ? "cannot go on" :
	    w.stopping ? "stopped by a signal" : "the queue is empty");
	close(w.sfd);
	if (w.ifd >= 0)
		close(w.ifd);
	close(lockfd);
	queue_close(&w.q);
	return w.error ? EXIT_FAILURE_IO : EXIT_OK;
}

/* ---- cancel ------------------------------------------------------------ */

static int parse_id(const char *s, long *id)
{
	char *end;

	errno = 0;
	*id = strtol(s, &end, 10);
	return errno || end == s || *end || *id <= 0 ? -EINVAL : 0;
}

static int cancel_one(struct queue *q, long id, int wait, int abort_it)
{
	char who[64], u[64], nb[300], *why = NULL;
	const char *st;
	json_t *job;
	int err, ret;

	ret = queue_lock(q);
	if (ret)
		return ret;
	job = job_load(q, id, &err);
	if (!job) {
		queue_unlock(q);
		if (err == ENOENT)
			return usage_error(&cmd_queue, "cancel: no job %ld in the queue %s", id,
					   q->dir);
		return access_error(q->dir, err, "reading a job");
	}
	st = jstr(job, "state") ? jstr(job, "state") : "?";
	snprintf(who, sizeof(who), "%s", user_name(getuid(), u, sizeof(u)));
	if (!strcmp(st, "queued")) {
		set_str(job, "state", "cancelled");
		set_now(job, "ended_utc");
		why = str_printf("cancelled by %s before it ran", who);
		set_str(job, "note", why);
		err = job_store(q, id, job);
		queue_unlock(q);
		if (err)
			ret = access_error(q->dir, -err, "cancelling a job");
		else
			msg("job %ld%s: cancelled (it had not started)", id,
			    job_name_of(job, nb, sizeof(nb)));
		free(why);
		json_decref(job);
		return ret;
	}
	if (strcmp(st, "running")) {
		queue_unlock(q);
		msg("job %ld%s has already ended (%s): nothing to cancel", id,
		    job_name_of(job, nb, sizeof(nb)), st);
		json_decref(job);
		return EXIT_FAILURE_IO;
	}
	if (!worker_alive(q)) {
		/* Its worker died: nobody else will stop its run or record it. */
		long long child = jint(job, "child_pid", 0), cst = jint(job, "child_start", -1);

		if (same_process(child, cst) && kill((pid_t)child, SIGTERM) == 0)
			wait_gone(child, cst, ORPHAN_STOP_S);
		set_str(job, "state", "cancelled");
		set_now(job, "ended_utc");
		why = str_printf("cancelled by %s after its worker (pid %lld) had died; its "
				 "file may need: labdaq recover %s", who,
				 jint(job, "worker_pid", 0),
				 jstr(job, "output") ? jstr(job, "output") : "FILE");
		set_str(job, "note", why);
		err = job_store(q, id, job);
		queue_unlock(q);
		msg("job %ld: %s", id, why ? why : "cancelled");
		free(why);
		json_decref(job);
		return err ? access_error(q->dir, -err, "cancelling a job") : EXIT_OK;
	}
	{
		char t[64];

		utc_now(t, sizeof(t));
		why = str_printf("by %s at %s", who, t);
	}
	set_str(job, "stop_requested", why);
	if (abort_it)
		json_object_set_new(job, "abort_requested", json_true());
	free(why);
	err = job_store(q, id, job);
	queue_unlock(q);
	json_decref(job);
	if (err)
		return access_error(q->dir, -err, "cancelling a job");
	if (!wait) {
		msg("job %ld: %s requested; its worker will stop it", id,
		    abort_it ? "abort" : "stop");
		return EXIT_OK;
	}
	/* Until the worker records how it ended. */
	for (;;) {
		usleep(100000);
		job = job_load(q, id, &err);
		if (!job) {
			msg("job %ld: its file is gone or unreadable (%s); cannot tell how it ended",
			    id, strerror(-err));
			return EXIT_FAILURE_IO;
		}
		st = jstr(job, "state");
		if (st && is_final(st)) {
			char ex[32];

			msg("job %ld%s: %s (exit status %s)", id, job_name_of(job, nb, sizeof(nb)),
			    st, exit_text(job, ex, sizeof(ex)));
			json_decref(job);
			return EXIT_OK;
		}
		if (job && !worker_alive(q)) {
			msg("job %ld: its worker (pid %lld) ended before recording it; the next "
			    "worker will mark it interrupted", id, jint(job, "worker_pid", 0));
			json_decref(job);
			return EXIT_FAILURE_IO;
		}
		json_decref(job);
	}
}

static int cancel_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'W' },
		{ "abort", no_argument, NULL, 'A' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, wait = 1, abort_it = 0, ret, status = EXIT_OK;
	struct queue q;
	long id;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'W')
			wait = 0;
		else if (opt == 'A')
			abort_it = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return bad_option("cancel", opt, argv);
	}
	if (optind >= argc)
		return usage_error(&cmd_queue, "cancel: which job? give its ID ('labdaq queue "
				   "list' shows them)");
	for (int i = optind; i < argc; i++)
		if (parse_id(argv[i], &id))
			return usage_error(&cmd_queue, "cancel: bad job ID '%s'", argv[i]);
	ret = queue_open(&q, qdir, 0, 1);
	if (ret == -ENOENT) {
		char *p;
		int shared;

		p = queue_path(qdir, &shared);
		ret = usage_error(&cmd_queue, "cancel: no queue at %s", p ? p : "?");
		free(p);
		return ret;
	}
	if (ret)
		return ret;
	for (int i = optind; i < argc; i++) {
		parse_id(argv[i], &id);
		ret = cancel_one(&q, id, wait, abort_it);
		if (ret > status)
			status = ret;
	}
	queue_close(&q);
	return status;
}

/* ---- log --------------------------------------------------------------- */

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -EIO;
	fflush(stdout);
	return n < 0 ? -errno : 0;
}

static int log_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, follow = 0, ret, fd = -1, err;
	char name[32], nb[300];
	struct queue q;
	json_t *job;
	long id;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":f", opts, NULL)) != -1) {
		if (opt == 'f')
			follow = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return bad_option("log", opt, argv);
	}
	if (optind != argc - 1)
		return usage_error(&cmd_queue, "log: give one job ID");
	if (parse_id(argv[optind], &id))
		return usage_error(&cmd_queue, "log: bad job ID '%s'", argv[optind]);
	ret = queue_open(&q, qdir, 0, 0);
	if (ret > 0)
		return ret;
	job = job_load(&q, id, &err);
	if (!job) {
		if (err == ENOENT)
			ret = usage_error(&cmd_queue, "log: no job %ld in the queue %s", id,
					  q.dir ? q.dir : "(none)");
		else
			ret = access_error(q.dir, err, "reading a job");
		queue_close(&q);
		return ret;
	}
	ret = EXIT_OK;
	job_file(id, "log", name, sizeof(name));
	for (;;) {
		const char *st = jstr(job, "state");
		int ended = !st || is_final(st);

		if (fd < 0) {
			fd = openat(q.jfd, name, O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno != ENOENT) {
				ret = access_error(q.dir, errno, "reading a job's log");
				break;
			}
		}
		if (fd >= 0 && copy_out(fd)) {
			ret = EXIT_FAILURE_IO;
			break;
		}
		if (!follow || ended) {
			if (fd < 0)
				msg("job %ld%s has no log: it has not run (%s)", id,
				    job_name_of(job, nb, sizeof(nb)), st ? st : "?");
			break;
		}
		usleep(200000);
		json_decref(job);
		job = job_load(&q, id, &err);
		if (!job)
			break;
	}
	if (fd >= 0)
		close(fd);
	json_decref(job);
	queue_close(&q);
	return ret;
}

/* ---- the command --------------------------------------------------------- */

static int queue_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv, const char *qdir);
	} subs[] = {
		{ "add", add_main }, { "list", list_main }, { "ls", list_main },
		{ "cancel", cancel_main }, { "log", log_main }, { "run", run_main },
	};
	const char *qdir = NULL;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--queue")) {
			if (i + 1 >= argc)
				return usage_error(&cmd_queue, "option '--queue' needs a value");
			qdir = argv[++i];
		} else if (!strncmp(argv[i], "--queue=", 8)) {
			qdir = argv[i] + 8;
		} else {
			return usage_error(&cmd_queue, "unknown option '%s'", argv[i]);
		}
		i++;
	}
	if (i >= argc)
		return usage_error(&cmd_queue, "say what to do: add, list, cancel, log or run");
	for (size_t k = 0; k < sizeof(subs) / sizeof(subs[0]); k++)
		if (!strcmp(argv[i], subs[k].name))
			return subs[k].main(argc - i, argv + i, qdir);
	return usage_error(&cmd_queue, "no subcommand '%s': add, list, cancel, log or run",
			   argv[i]);
}

const struct command cmd_queue = {
	.name = "queue",
	.main = queue_main,
	.summary = "a durable queue of acquire/sweep jobs and its worker",
	.usage = queue_usage,
};
