// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * queue_store.c - the queue on disk: its directory and permissions, the job
 * files (created atomically, loaded, stored, listed), queue.lock and
 * worker.lock.  See queue.h for the layout and the rules.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "queue.h"

static const char *const final_states[] = {
	"complete", "stopped", "failed", "aborted", "cancelled", "interrupted", NULL,
};

int is_final(const char *state)
{
	for (int i = 0; state && final_states[i]; i++)
		if (!strcmp(state, final_states[i]))
			return 1;
	return 0;
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

const char *job_str(json_t *j, const char *key)
{
	return json_string_value(json_object_get(j, key));
}

long long job_int(json_t *j, const char *key, long long def)
{
	json_t *v = json_object_get(j, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

void job_set_str(json_t *j, const char *key, const char *val)
{
	json_t *v = val ? json_string(val) : NULL;

	json_object_set_new(j, key, v ? v : json_null());
}

void job_set_int(json_t *j, const char *key, long long val)
{
	json_object_set_new(j, key, json_integer(val));
}

void job_set_now(json_t *j, const char *key)
{
	char t[64];

	utc_now(t, sizeof(t));
	job_set_str(j, key, t);
}

const char *job_name_of(json_t *job, char *buf, size_t len)
{
	const char *name = job_str(job, "name");
	char e[256];

	if (name && *name)
		snprintf(buf, len, " '%s'", escape_ctl(name, e, sizeof(e)));
	else
		buf[0] = '\0';
	return buf;
}

/* ---- the queue directory ----------------------------------------------- */

/* The queue's path (malloc'd), and whether it is a shared one (given). */
char *queue_path(const char *opt, int *shared)
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
int queue_access_error(const char *path, int err, const char *doing)
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

void queue_close(struct queue *q)
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

/* The message for DIR/jobs refusing us (@err, a positive errno), with the
 * queue closed: the exit status. */
static int jobs_error(struct queue *q, int err, const char *doing)
{
	char *jobs = str_printf("%s/jobs", q->dir);
	int ret = queue_access_error(jobs ? jobs : q->dir, err, doing);

	free(jobs);
	queue_close(q);
	return ret;
}

/* The queue's directory @path, mode @dmode, and its parents, unless they
 * exist: 0 or the exit status, with the message printed. */
static int queue_mkdir(const char *path, int shared, mode_t dmode)
{
	int ret = make_parents(path, shared ? 0755 : 0700);

	if (ret)
		return queue_access_error(path, -ret, "creating it");
	if (!mkdir(path, dmode))
		chmod(path, dmode); /* mkdir() takes neither setgid nor what the umask hides */
	else if (errno != EEXIST)
		return queue_access_error(path, errno, "creating it");
	return 0;
}

/*
 * Open the queue: 0, an exit status with the message printed, or -ENOENT
 * (without @create, and the queue does not exist: no jobs).  @create makes
 * what is missing; @write checks that we may change it.
 */
int queue_open(struct queue *q, const char *opt, int create, int write)
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
		ret = queue_mkdir(path, shared, dmode);
		if (ret) {
			free(path);
			return ret;
		}
	}
	q->dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (q->dfd < 0) {
		if (errno == ENOENT && !create)
			ret = -ENOENT;
		else
			ret = queue_access_error(path, errno, "opening it");
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
		ret = queue_access_error(q->dir, errno, write ? "writing it" : "reading it");
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
		return jobs_error(q, errno, "opening its jobs");
	}
	if (q->jfd >= 0 && write && faccessat(q->jfd, ".", W_OK | X_OK, 0)) {
		return jobs_error(q, errno, "writing its jobs");
	}
	return 0;
}

/* A file of the queue, created with the queue's file mode whatever the umask. */
int queue_file(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd = openat(dirfd, name, flags | O_CLOEXEC, mode);

	if (fd >= 0 && (flags & O_CREAT))
		fchmod(fd, mode); /* fails harmlessly on another user's file */
	return fd;
}

int queue_lock(struct queue *q)
{
	if (q->lockfd < 0) {
		q->lockfd = queue_file(q->dfd, "queue.lock", O_RDWR | O_CREAT, q->fmode);
		if (q->lockfd < 0)
			q->lockfd = openat(q->dfd, "queue.lock", O_RDONLY | O_CLOEXEC);
		if (q->lockfd < 0)
			return queue_access_error(q->dir, errno, "locking it");
	}
	while (flock(q->lockfd, LOCK_EX))
		if (errno != EINTR)
			return queue_access_error(q->dir, errno, "locking it");
	return 0;
}

void queue_unlock(struct queue *q)
{
	if (q->lockfd >= 0)
		flock(q->lockfd, LOCK_UN);
}

/* ---- job files ------------------------------------------------------------- */

void job_file(long id, const char *ext, char *buf, size_t len)
{
	snprintf(buf, len, "%ld.%s", id, ext);
}

/* The job @id in *@out (NULL on failure): 0 or -errno. */
int job_load(const struct queue *q, long id, json_t **out)
{
	json_error_t je;
	char name[32];
	json_t *job;
	int fd;

	*out = NULL;
	if (q->jfd < 0)
		return -ENOENT;
	job_file(id, "json", name, sizeof(name));
	fd = openat(q->jfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	job = json_loadfd(fd, 0, &je);
	close(fd);
	if (!job || !json_is_object(job)) {
		json_decref(job);
		return -EBADMSG;
	}
	job_set_int(job, "id", id); /* the name is the id */
	*out = job;
	return 0;
}

json_t *job_get(const struct queue *q, long id)
{
	json_t *job;

	job_load(q, id, &job);
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
int job_store(const struct queue *q, long id, json_t *job)
{
	char tmp[64], name[32];
	int ret;

	job_set_int(job, "id", id);
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
int job_ids(const struct queue *q, long **out, size_t *count)
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
int job_create(const struct queue *q, json_t *job, long *id_out)
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
		job_set_int(job, "id", id);
		job_set_str(job, "log", log);
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

/* One worker per queue: worker.lock, held until we exit (in *@fd).  Its
 * content names the holder for the refusal message. */
int worker_lock_take(const struct queue *q, int *lockfd)
{
	char buf[256], u[64], t[64];
	int fd, i, ret;
	ssize_t n;

	fd = queue_file(q->dfd, "worker.lock", O_RDWR | O_CREAT, q->fmode);
	if (fd < 0)
		return queue_access_error(q->dir, errno, "opening its worker.lock");
	/* A cancel tests the lock with a shared flock() for an instant: retry
	 * for a second before taking a refusal as another worker. */
	for (i = 0; (ret = flock(fd, LOCK_EX | LOCK_NB)) && errno == EWOULDBLOCK && i < 20; i++)
		usleep(50000);
	if (ret) {
		if (errno != EWOULDBLOCK) {
			msg("queue %s: worker.lock: %s", q->dir, strerror(errno));
			close(fd);
			return EXIT_FAILURE_IO;
		}
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		msg("another worker is running the queue %s: %s. One worker per queue: stop "
		    "it first (kill -TERM the pid, or systemctl stop its service)", q->dir,
		    *buf ? buf : "its pid is unknown");
		close(fd);
		return EXIT_BUSY;
	}
	utc_now(t, sizeof(t));
	n = snprintf(buf, sizeof(buf), "pid %d (user %s, since %s)\n", (int)getpid(),
		     user_name(getuid(), u, sizeof(u)), t);
	if (ftruncate(fd, 0) || pwrite(fd, buf, (size_t)n, 0) != n)
		msg("queue %s: worker.lock: %s", q->dir, strerror(errno));
	*lockfd = fd;
	return 0;
}

/* Whether a worker holds the queue (worker.lock), without taking it. */
int worker_lock_held(const struct queue *q)
{
	int fd = openat(q->dfd, "worker.lock", O_RDONLY | O_CLOEXEC), alive;

	if (fd < 0)
		return 0;
	alive = flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK;
	close(fd); /* drops the shared lock if we got it */
	return alive;
}

/*
 * The mark a worker gives each job's process in its environment: the
 * queue directory's identity and the job's number.
 */
int job_mark(const struct queue *q, long id, char *buf, size_t len)
{
	struct stat st;

	if (fstat(q->dfd, &st))
		return -errno;
	snprintf(buf, len, "LABDAQ_QUEUE_JOB=%llu:%llu:%ld", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino, id);
	return 0;
}

/*
 * Whether @pid (started at @start) is provably the process a worker of @q
 * started for job @id: a job file is written by every member of a shared
 * queue, so its child_pid alone names any process.  It must be the same
 * process (start time), of our own user (a worker starts its jobs as
 * itself; nobody else can start one as us), running this very program, and
 * carry the job's mark in its environment (readable only by its user).
 */
int job_child_proven(const struct queue *q, long id, long long pid, long long start)
{
	char path[64], mark[128], *env = NULL;
	struct stat me, it;
	size_t len = 0, cap = 0;
	int fd, found = 0;
	ssize_t n;

	if (!same_process(pid, start) || job_mark(q, id, mark, sizeof(mark)))
		return 0;
	snprintf(path, sizeof(path), "/proc/%lld", pid);
	if (stat(path, &it) || it.st_uid != getuid())
		return 0;
	snprintf(path, sizeof(path), "/proc/%lld/exe", pid);
	if (stat("/proc/self/exe", &me) || stat(path, &it) || me.st_dev != it.st_dev ||
	    me.st_ino != it.st_ino)
		return 0;
	snprintf(path, sizeof(path), "/proc/%lld/environ", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *more = realloc(env, cap = cap ? 2 * cap : 16384);

			if (!more || cap > (1u << 22))
				break;
			env = more;
		}
		n = read(fd, env + len, cap - len - 1);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	for (size_t i = 0; env && i < len; i += strlen(env + i) + 1) {
		env[len] = '\0';
		if (!strcmp(env + i, mark)) {
			found = 1;
			break;
		}
	}
	free(env);
	return found && same_process(pid, start);
}
