/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * lock.c - one run per device, across processes and users.
 *
 * Each device has a lock file in a shared directory (LABDAQ_LOCK_DIR, or
 * /run/lock/labdaq, sticky and world-writable like /run/lock itself).  A run
 * holds an exclusive flock() on it for its whole life: the kernel releases
 * it when the holder closes it, exits, crashes or is killed, so there are no
 * stale locks.  While holding it, the run writes who it is into the file
 * (pid, user, run id, since when, what it runs, its output) so that a second
 * run can name the holder, and `labdaq stop` can find and signal it.
 *
 * The lock is per device: the key is the device's lock_key, which the
 * backend sets when two URIs can name one device (iio: the context and the
 * device's name, so iio:local:labdaq-sim and iio:local:iio:device0 share
 * it), else the URI without its parameters ("sim:camera"); two runs on two
 * devices go on together.
 *
 * Nothing in the directory is trusted blindly (a lab PC has many users):
 *  - the directory must not be writable by others unless it is sticky, or
 *    anyone could unlink the lock of a running run and start a second one;
 *  - a lock file is created 0644 by the run that takes it and unlinked by
 *    that run when it ends (while still holding it).  A run locks only a
 *    file of its own user (or root's): the owner of a file can unlink it
 *    even in a sticky directory.  After flock() it checks that the path
 *    still names the inode it locked (the previous holder may have
 *    unlinked it meanwhile) and starts over if not;
 *  - the holder record is only a description.  The process that holds the
 *    lock is the one /proc/locks names for the file's inode; the record is
 *    believed only when it names that process, with its start time, and
 *    the file belongs to that process's user.  Otherwise the holder is
 *    that pid with nothing else known, and it is not stoppable.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "util.h"

#define DEFAULT_LOCK_DIR "/run/lock/labdaq"

static const char *lock_dir(void)
{
	const char *d = getenv("LABDAQ_LOCK_DIR");

	return d && *d ? d : DEFAULT_LOCK_DIR;
}

/* "sim:camera?width=64" -> "sim:camera". */
static void lock_key(const char *uri, char *key, size_t len)
{
	size_t n = strcspn(uri, "?");

	if (n >= len)
		n = len - 1;
	memcpy(key, uri, n);
	key[n] = '\0';
}

/* The lock file of @uri: readable characters kept, the rest '_', and a
 * hash of the whole key so that different keys never share a file. */
static int lock_path(const char *uri, char *path, size_t len)
{
	char key[512], name[200];
	uint32_t h = 2166136261u;
	size_t i, n = 0;

	lock_key(uri, key, sizeof(key));
	for (i = 0; key[i]; i++) {
		h = (h ^ (unsigned char)key[i]) * 16777619u;
		if (n < 120)
			name[n++] = (key[i] >= 'a' && key[i] <= 'z') ||
						    (key[i] >= 'A' && key[i] <= 'Z') ||
						    (key[i] >= '0' && key[i] <= '9') || key[i] == '-' ||
						    key[i] == '.' ?
					    key[i] : '_';
	}
	name[n] = '\0';
	if ((size_t)snprintf(path, len, "%s/%s-%08x.lock", lock_dir(), name, h) >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* Refuse a directory in which others could unlink our lock file: writable
 * by group or others without the sticky bit. */
static int check_dir(const char *d, const struct stat *st)
{
	if (!S_ISDIR(st->st_mode))
		return -ENOTDIR;
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) && !(st->st_mode & S_ISVTX)) {
		ldq_err("refusing the lock directory %s: others may write in it and it is not "
			"sticky (mode %04o), so they could delete a running run's lock; make it "
			"sticky (mode 1777) or use another one", d, (unsigned int)(st->st_mode & 07777));
		return -EPERM;
	}
	return 0;
}

static int ensure_dir(void)
{
	const char *d = lock_dir();
	struct stat st;

	if (!stat(d, &st))
		return check_dir(d, &st);
	if (mkdir(d, 01777) && errno != EEXIST)
		return -errno;
	/* The umask narrowed it: every user must be able to lock. */
	chmod(d, 01777);
	if (stat(d, &st))
		return -errno;
	return check_dir(d, &st);
}

/*
 * Open @key's lock file: for reading only to ask who holds it (flock works
 * on any open file), read-write to take it (@create), creating it 0644 with
 * O_CREAT|O_EXCL (with fs.protected_regular, systemd's default, an O_CREAT
 * open of another user's file in a sticky directory fails even when its
 * mode allows it).
 */
static int open_lock(const char *key, int create, char *path, size_t len)
{
	int fd = -1, ret;

	ret = lock_path(key, path, len);
	if (ret)
		return ret;
	if (!create) {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		return fd < 0 ? -errno : fd;
	}
	ret = ensure_dir();
	if (ret)
		return ret;
	for (int tries = 0; tries < 3; tries++) {
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd >= 0 || errno != ENOENT)
			break;
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_CREAT | O_EXCL,
			  0644);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0 && (errno == EACCES || errno == EPERM))
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	return fd < 0 ? -errno : fd;
}

/* The pid that holds an exclusive flock on @st's inode, per /proc/locks
 * (the kernel's word, which no file can forge); -1 if none is listed. */
static int flock_owner(const struct stat *st)
{
	char line[256];
	int pid = -1, ino_only = -1;
	FILE *f = fopen("/proc/locks", "re");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char type[16], kind[16], mode[16];
		unsigned int maj, min;
		unsigned long ino;
		int p;

		/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; waiters
		 * ("1: -> FLOCK ...") do not parse. */
		if (sscanf(line, "%*d: %15s %15s %15s %d %x:%x:%lu", type, kind, mode, &p, &maj,
			   &min, &ino) != 7 || strcmp(type, "FLOCK") || strcmp(mode, "WRITE") ||
		    ino != (unsigned long)st->st_ino || p <= 0)
			continue;
		if (maj == major(st->st_dev) && min == minor(st->st_dev)) {
			pid = p;
			break;
		}
		ino_only = p; /* an overlay may list another device */
	}
	fclose(f);
	return pid > 0 ? pid : ino_only;
}

/* The real uid of @pid, or -1. */
static long proc_uid(pid_t pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return stat(path, &st) ? -1 : (long)st.st_uid;
}

/* A process's start time (clock ticks since boot), 0 if unknown: with the
 * pid it names a process for good, pids being reused. */
static unsigned long long proc_start(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* After the command's closing parenthesis: fields 3.. ; start is 22. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d "
				"%*d %*d %*d %*d %llu", &start) != 1)
		return 0;
	return start;
}

static atomic_int stop_signals;

LABDAQ_API void labdaq_set_stop_signals(int enabled)
{
	atomic_store(&stop_signals, !!enabled);
}

static void parse_holder(const char *text, struct labdaq_holder *h)
{
	const char *line = text;

	memset(h, 0, sizeof(*h));
	h->pid = -1;
	while (line && *line) {
		const char *eq = strchr(line, '='), *nl = strchr(line, '\n');
		size_t klen, vlen;
		char *dst = NULL;
		size_t cap = 0;

		if (!eq || (nl && eq > nl))
			goto next;
		klen = (size_t)(eq - line);
		vlen = nl ? (size_t)(nl - eq - 1) : strlen(eq + 1);
#define FIELD(k, f)                                                     \
	if (klen == strlen(k) && !strncmp(line, k, klen)) {            \
		dst = h->f;                                             \
		cap = sizeof(h->f);                                     \
	}
		FIELD("user", user)
		FIELD("run_id", run_id)
		FIELD("since_utc", since_utc)
		FIELD("what", what)
		FIELD("output", output)
		FIELD("device", device)
#undef FIELD
		if (dst) {
			if (vlen >= cap)
				vlen = cap - 1;
			memcpy(dst, eq + 1, vlen);
			dst[vlen] = '\0';
		} else if (klen == 3 && !strncmp(line, "pid", 3)) {
			h->pid = atoi(eq + 1);
		} else if (klen == 3 && !strncmp(line, "uid", 3)) {
			h->uid = (unsigned int)strtoul(eq + 1, NULL, 10);
		} else if (klen == 5 && !strncmp(line, "start", 5)) {
			h->start = strtoull(eq + 1, NULL, 10);
		} else if (klen == 4 && !strncmp(line, "stop", 4)) {
			h->stoppable = !strncmp(eq + 1, "signal", 6);
		}
next:
		line = nl ? nl + 1 : NULL;
	}
}

/* @uid's login name, or its number when it has none; at most @len bytes. */
static void user_name(unsigned int uid, char *buf, size_t len)
{
	struct passwd pw, *pwp = NULL;
	char pwbuf[1024];

	if (!getpwuid_r((uid_t)uid, &pw, pwbuf, sizeof(pwbuf), &pwp) && pwp)
		snprintf(buf, len, "%s", pwp->pw_name);
	else
		snprintf(buf, len, "%u", uid);
}

/*
 * Who holds the lock on @fd (held: the caller checked).  The process is the
 * one /proc/locks names; the record (which may lag the lock by a moment)
 * describes it only if it names that very process (pid and start time) and
 * the lock file belongs to that process's user, who alone may write it.
 * Otherwise @h names that pid and its user, not stoppable, nothing more;
 * pid -1 if /proc/locks does not say either.
 */
static int read_holder(int fd, struct labdaq_holder *h)
{
	char buf[4096];
	struct stat st;
	int pid = -1;
	long uid;

	if (fstat(fd, &st))
		return -errno;
	for (int tries = 0; tries < 20; tries++) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

		if (n < 0)
			return -errno;
		buf[n] = '\0';
		parse_holder(buf, h);
		pid = flock_owner(&st);
		if (h->pid > 0 && h->pid == pid)
			break;
		usleep(5000);
	}
	uid = pid > 0 ? proc_uid(pid) : -1;
	if (pid > 0 && h->pid == pid && h->start && proc_start(pid) == h->start && uid >= 0 &&
	    (uid_t)uid == st.st_uid && h->uid == (unsigned int)uid) {
		/* The name is looked up here, not by the holder at its start
		 * (write_holder): a record of an older labdaq may carry it. */
		if (!h->user[0])
			user_name(h->uid, h->user, sizeof(h->user));
		return 0;
	}
	memset(h, 0, sizeof(*h));
	h->pid = pid;
	if (pid > 0) {
		h->start = proc_start(pid);
		if (uid >= 0) {
			h->uid = (unsigned int)uid;
			user_name(h->uid, h->user, sizeof(h->user));
		}
	}
	return 0;
}

/* The lock key of @uri: the device's own (a backend may name the same
 * device under several URIs), or the URI without its parameters. */
static void key_of(const char *uri, char *key, size_t len)
{
	labdaq_device *dev;

	if (!labdaq_device_open(uri, &dev)) {
		snprintf(key, len, "%s", dev->lock_key);
		labdaq_device_close(dev);
		return;
	}
	lock_key(uri, key, len);
}

/* Who holds the lock of @key: 1 (and @out), 0 free, or -errno. */
static int holder_of_key(const char *key, struct labdaq_holder *out)
{
	char path[1024];
	int fd, ret;

	memset(out, 0, sizeof(*out));
	out->pid = -1;
	fd = open_lock(key, 0, path, sizeof(path));
	if (fd == -ENOENT)
		return 0;
	if (fd < 0)
		return fd;
	if (!flock(fd, LOCK_SH | LOCK_NB)) {
		/* Nobody holds it. */
		close(fd);
		return 0;
	}
	if (errno != EWOULDBLOCK) {
		ret = -errno;
		close(fd);
		return ret;
	}
	ret = read_holder(fd, out);
	close(fd);
	return ret ? ret : 1;
}

int ldq_lock_holder(const char *key, struct labdaq_holder *out)
{
	return holder_of_key(key, out);
}

/*
 * The lock key of the last URI this thread asked about, and the run that
 * held it then.  Finding a key opens the device (an iio device creates a
 * libiio context, over the network for iio:ip:), and a caller that polls
 * one device while its run goes on (`labdaq stop` waiting) would do that at
 * every call.  The cached key is trusted only while the same run (pid and
 * run id) still holds it; anything else (free, another holder, a URI that
 * may lead elsewhere now) is checked the long way.  Thread-local: no lock,
 * nothing for a fork to inherit half-taken.
 */
static __thread struct {
	char uri[sizeof(((struct labdaq_holder *)0)->device)];
	char key[256];
	int pid;
	char run_id[sizeof(((struct labdaq_holder *)0)->run_id)];
} key_cache;

static int device_holder(const char *uri, struct labdaq_holder *out)
{
	char key[512];
	int ret;

	if (key_cache.uri[0] && !strcmp(uri, key_cache.uri)) {
		ret = holder_of_key(key_cache.key, out);
		if (ret == 1 && out->pid == key_cache.pid && out->pid > 0 &&
		    !strcmp(out->run_id, key_cache.run_id) && !strcmp(out->device, uri))
			return 1;
	}

	key_cache.uri[0] = '\0';
	key_of(uri, key, sizeof(key));
	ret = holder_of_key(key, out);
	if (ret == 1 && out->pid > 0 && strlen(uri) < sizeof(key_cache.uri) &&
	    strlen(key) < sizeof(key_cache.key)) {
		/* Lengths checked above; run_id is the same size. */
		memcpy(key_cache.key, key, strlen(key) + 1);
		memcpy(key_cache.run_id, out->run_id, sizeof(key_cache.run_id));
		key_cache.pid = out->pid;
		memcpy(key_cache.uri, uri, strlen(uri) + 1);
	}
	return ret;
}

/* The size of struct labdaq_holder in its first version with a size
 * field (0.2): the least a caller may pass.  Fields are only appended. */
#define HOLDER_SIZE_0_2 (offsetof(struct labdaq_holder, output) + \
			 sizeof(((struct labdaq_holder *)0)->output))
/* Fields are appended after output; the first version's size never moves. */
_Static_assert(HOLDER_SIZE_0_2 <= sizeof(struct labdaq_holder), "labdaq_holder shrank");

LABDAQ_API int labdaq_device_holder(const char *uri, struct labdaq_holder *out)
{
	struct labdaq_holder h;
	size_t size;
	int ret;

	if (!uri || !out || out->size < HOLDER_SIZE_0_2)
		return -EINVAL;
	size = out->size < sizeof(h) ? out->size : sizeof(h);
	memset(&h, 0, sizeof(h));
	ret = device_holder(uri, &h);
	if (ret == 1 && !h.device[0])
		snprintf(h.device, sizeof(h.device), "%s", uri);
	h.size = size;
	memcpy(out, &h, size);
	return ret;
}

LABDAQ_API int labdaq_holders(labdaq_holder_fn fn, void *user)
{
	char path[1024];
	struct dirent **names = NULL;
	int n, count = 0;

	n = scandir(lock_dir(), &names, NULL, alphasort);
	if (n < 0)
		return errno == ENOENT ? 0 : -errno;
	for (int i = 0; i < n; i++) {
		struct labdaq_holder h;
		size_t len = strlen(names[i]->d_name);
		int fd;

		if (len < 6 || strcmp(names[i]->d_name + len - 5, ".lock"))
			goto next;
		snprintf(path, sizeof(path), "%s/%s", lock_dir(), names[i]->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (fd < 0)
			goto next;
		if (flock(fd, LOCK_SH | LOCK_NB) && errno == EWOULDBLOCK && !read_holder(fd, &h)) {
			h.size = sizeof(h);
			count++;
			if (fn && fn(&h, user)) {
				close(fd);
				for (; i < n; i++)
					free(names[i]);
				break;
			}
		}
		close(fd);
next:
		free(names[i]);
	}
	free(names);
	return count;
}

/* flock(LOCK_EX) of @fd without waiting for a holder: 0, -EBUSY, -errno.
 * Someone asking who holds the device takes a shared lock for an instant:
 * a free device must not look busy because of that. */
static int lock_exclusive(int fd, const char *uri)
{
	for (int tries = 0; flock(fd, LOCK_EX | LOCK_NB); tries++) {
		int err = errno == EWOULDBLOCK ? -EBUSY : -errno;

		if (err == -EBUSY && tries < 10) {
			usleep(5000);
			continue;
		}
		if (err == -EBUSY)
			ldq_dbg("%s is held by another run", uri);
		return err;
	}
	return 0;
}

/* The lock file @fd (@st) at @path, locked: 0 when it is ours alone (one of
 * ours with a mode too wide is narrowed), 1 when it was unlinked to be made
 * again (@retry: rounds are left), or -EPERM with the message. */
static int trust_lock_file(int fd, const struct stat *st, const char *path, const char *uri,
			   int retry)
{
	struct stat dst;

	if (S_ISREG(st->st_mode) && st->st_uid == getuid() &&
	    !(st->st_mode & (S_IWGRP | S_IWOTH)))
		return 0;
	/* A free lock file that is not ours alone: one we can unlink (ours, or
	 * any as root or as the directory's owner) is replaced. */
	if (retry && !stat(lock_dir(), &dst) &&
	    (getuid() == 0 || dst.st_uid == getuid() || st->st_uid == getuid()) && !unlink(path))
		return 1;
	if (S_ISREG(st->st_mode) && st->st_uid == getuid() && !fchmod(fd, 0644))
		return 0;
	ldq_err("refusing the lock file %s of %s: it belongs to uid %u with mode "
		"%04o, and labdaq trusts only a lock file of its own user that "
		"others cannot write; it may be left by a run that was killed: "
		"its owner or root can delete it", path, uri,
		(unsigned int)st->st_uid, (unsigned int)(st->st_mode & 07777));
	return -EPERM;
}

/* Open and lock the lock file of @key (its path into @path): the fd, or
 * -errno with the message. */
static int take_lock_file(const char *key, const char *uri, char *path, size_t pathsz)
{
	for (int round = 0;; round++) {
		struct stat st, now;
		int fd = open_lock(key, 1, path, pathsz), ret;

		if (fd < 0) {
			if (fd != -EPERM)
				ldq_err("cannot open the lock of %s (%s): %s; set LABDAQ_LOCK_DIR to "
					"a writable directory shared by the lab's users", uri, path,
					labdaq_strerror(fd));
			return fd;
		}
		ret = lock_exclusive(fd, uri);
		if (!ret && fstat(fd, &st))
			ret = -errno;
		/* The holder before us unlinked it as it ended: lock the new one. */
		if (!ret && (lstat(path, &now) || now.st_ino != st.st_ino || now.st_dev != st.st_dev))
			ret = round < 100 ? 1 : -EAGAIN;
		if (ret == -EAGAIN)
			ldq_err("the lock file of %s (%s) keeps changing under this run", uri, path);
		if (!ret)
			ret = trust_lock_file(fd, &st, path, uri, round < 100);
		if (!ret)
			return fd;
		close(fd);
		if (ret < 0)
			return ret;
	}
}

/* The holder record: who, since when, what, where; informative.  The user
 * is its uid: read_holder() looks its name up, so that a run's start does
 * not (NSS: nsswitch.conf, the passwd file, perhaps a directory server).
 * The time is taken apart by ldq_utc_fields(), not gmtime_r(), which would
 * read the time zone file. */
static void write_holder(int fd, const char *path, const char *uri, const char *what,
			 const char *output, const char *run_id)
{
	char text[4096], since[40], outabs[2048];
	struct timespec ts;
	struct tm tm;
	int len;

	clock_gettime(CLOCK_REALTIME, &ts);
	ldq_utc_fields(ts.tv_sec, &tm);
	snprintf(since, sizeof(since), "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
	outabs[0] = '\0';
	if (output && output[0] != '/' && getcwd(outabs, sizeof(outabs) - 1)) {
		strncat(outabs, "/", sizeof(outabs) - strlen(outabs) - 1);
		strncat(outabs, output, sizeof(outabs) - strlen(outabs) - 1);
	} else if (output) {
		snprintf(outabs, sizeof(outabs), "%s", output);
	}
	len = snprintf(text, sizeof(text),
		       "pid=%d\nstart=%llu\nuid=%u\nrun_id=%s\nsince_utc=%s\n"
		       "since=%lld\ndevice=%s\nwhat=%s\noutput=%s\nstop=%s\n",
		       (int)getpid(), proc_start(getpid()), (unsigned int)getuid(),
		       run_id ? run_id : "", since, (long long)ts.tv_sec,
		       uri, what ? what : "", outabs,
		       atomic_load(&stop_signals) ? "signal" : "none");
	if (len >= (int)sizeof(text))
		len = (int)sizeof(text) - 1;
	/* A failure to write it (a lock file of another user we could only
	 * open read-only) does not fail the run. */
	if (ftruncate(fd, 0) || pwrite(fd, text, (size_t)len, 0) != len)
		ldq_dbg("cannot record the holder in %s: %s", path, labdaq_strerror(-errno));
}

int ldq_lock_acquire(const char *key, const char *uri, const char *what, const char *output,
		     const char *run_id, int *fd_out)
{
	char path[1024];
	int fd;

	*fd_out = -1;
	fd = take_lock_file(key, uri, path, sizeof(path));
	if (fd < 0)
		return fd;
	write_holder(fd, path, uri, what, output, run_id);
	*fd_out = fd;
	return 0;
}

void ldq_lock_release(int fd)
{
	char link[64], path[4096];
	struct stat st, now;
	ssize_t n;

	if (fd < 0)
		return;
	/* Clear the record first so that nobody reads a stale holder. */
	if (ftruncate(fd, 0))
		ldq_dbg("clearing a lock record: %s", labdaq_strerror(-errno));
	/* Still holding it, unlink our file (the next run creates its own; one
	 * that opened this one meanwhile sees it gone after its flock). */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n > 0 && !fstat(fd, &st) && st.st_uid == getuid()) {
		path[n] = '\0';
		if (!lstat(path, &now) && now.st_ino == st.st_ino && now.st_dev == st.st_dev &&
		    unlink(path))
			ldq_dbg("removing the lock file %s: %s", path, labdaq_strerror(-errno));
	}
	close(fd);
}

/* ---- data files in use ----
 * A run holds an flock() on its data file for as long as it writes it
 * (outfile.c); the device lock's holder record names that file, which is
 * how the message names the run. */

struct writer_match {
	struct stat st;
	struct labdaq_holder h;
	int found;
};

static int match_output(const struct labdaq_holder *h, void *user)
{
	struct writer_match *m = user;
	struct stat st;

	/* Not our own record: this process may hold the device already. */
	if (h->pid <= 0 || h->pid == getpid() || !h->output[0] || stat(h->output, &st) ||
	    st.st_dev != m->st.st_dev || st.st_ino != m->st.st_ino)
		return 0;
	m->h = *h;
	m->found = 1;
	return 1;
}

int ldq_file_claim(int fd, const char *path)
{
	struct writer_match m = { .found = 0 };

	if (!flock(fd, LOCK_EX | LOCK_NB))
		return 0;
	if (errno != EWOULDBLOCK)
		return 0; /* a file system without flock: nothing to learn */
	if (!fstat(fd, &m.st))
		labdaq_holders(match_output, &m);
	if (m.found)
		ldq_err("%s is being written by a live run: pid %d, device %s, run %s (user %s, "
			"since %s); stop it first ('labdaq stop %.*s') or wait for its end", path,
			m.h.pid, m.h.device, m.h.run_id, m.h.user, m.h.since_utc,
			(int)strcspn(m.h.device, "?"), m.h.device);
	else
		ldq_err("%s is being written by a live run (another process holds it); stop that "
			"run first or wait for its end", path);
	return -EBUSY;
}

int ldq_file_check_unused(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC), ret;
	struct stat st;

	if (fd < 0)
		return 0;
	ret = !fstat(fd, &st) && S_ISREG(st.st_mode) ? ldq_file_claim(fd, path) : 0;
	close(fd);
	return ret;
}
