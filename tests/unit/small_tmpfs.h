/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * small_tmpfs.h - a small tmpfs for disk-full tests, for root and for
 * other users alike.  Included by the unit tests that need one.
 *
 * A child process enters a mount namespace of its own (for a user other
 * than root, inside a new user namespace where it is root: no privilege
 * needed where the kernel allows unprivileged user namespaces), mounts the
 * tmpfs over a directory there and waits.  The test reaches the tmpfs
 * through the child's root, /proc/PID/root/DIR; nothing is mounted in the
 * test's own namespace, and the mount goes away with the child.
 */
#ifndef SMALL_TMPFS_H
#define SMALL_TMPFS_H

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

struct small_tmpfs {
	pid_t pid;          /* the child holding the mount, or 0 */
	int hold_fd;        /* closing it ends the child */
	char path[200];     /* the tmpfs, as the test reaches it */
	char why[256];      /* why it could not be mounted */
};

static __attribute__((unused)) int small_tmpfs_write(const char *file, const char *text)
{
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The child: "" on the pipe once mounted, else why not. */
static __attribute__((unused)) void small_tmpfs_child(const char *dir, const char *opts, uid_t uid, gid_t gid,
			      int ready_fd, int hold_fd)
{
	char msg[256] = "", map[64];
	char c;

	if (uid != 0 && unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) {
		snprintf(msg, sizeof(msg), "the kernel refuses an unprivileged user namespace "
			 "(unshare: %s)", strerror(errno));
	} else if (uid == 0 && unshare(CLONE_NEWNS) < 0) {
		snprintf(msg, sizeof(msg), "unshare(CLONE_NEWNS): %s", strerror(errno));
	} else if (uid != 0) {
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int)uid);
		if (small_tmpfs_write("/proc/self/uid_map", map) < 0 ||
		    small_tmpfs_write("/proc/self/setgroups", "deny") < 0)
			snprintf(msg, sizeof(msg), "writing uid_map: %s", strerror(errno));
		snprintf(map, sizeof(map), "0 %u 1\n", (unsigned int)gid);
		if (!msg[0] && small_tmpfs_write("/proc/self/gid_map", map) < 0)
			snprintf(msg, sizeof(msg), "writing gid_map: %s", strerror(errno));
	}
	/* Nothing mounted here reaches the parent's namespace. */
	if (!msg[0] && mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		snprintf(msg, sizeof(msg), "making / private: %s", strerror(errno));
	if (!msg[0] && mount("tmpfs", dir, "tmpfs", 0, opts) < 0)
		snprintf(msg, sizeof(msg), "mounting a tmpfs (%s): %s", opts, strerror(errno));
	if (write(ready_fd, msg, strlen(msg) + 1) < 0)
		_exit(1);
	while (!msg[0] && read(hold_fd, &c, 1) > 0)
		;
	_exit(0);
}

/* Mount a tmpfs with @opts ("size=2m,mode=0700") over the directory @dir.
 * 0 and t->path set, or -1 and t->why set. */
static __attribute__((unused)) int small_tmpfs_mount(struct small_tmpfs *t, const char *dir, const char *opts)
{
	int ready[2], hold[2];
	ssize_t n;

	memset(t, 0, sizeof(*t));
	t->hold_fd = -1;
	if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(hold, O_CLOEXEC) < 0) {
		snprintf(t->why, sizeof(t->why), "pipe: %s", strerror(errno));
		return -1;
	}
	fflush(NULL);
	t->pid = fork();
	if (t->pid == 0) {
		close(ready[0]);
		close(hold[1]);
		small_tmpfs_child(dir, opts, geteuid(), getegid(), ready[1], hold[0]);
	}
	close(ready[1]);
	close(hold[0]);
	t->hold_fd = hold[1];
	n = t->pid > 0 ? read(ready[0], t->why, sizeof(t->why) - 1) : -1;
	close(ready[0]);
	if (n > 0 && !t->why[0] &&
	    (size_t)snprintf(t->path, sizeof(t->path), "/proc/%d/root%s", (int)t->pid, dir) <
		    sizeof(t->path))
		return 0;
	if (n > 0 && !t->why[0])
		snprintf(t->why, sizeof(t->why), "the path of the mount point is too long");
	if (n <= 0)
		snprintf(t->why, sizeof(t->why), "the helper process failed");
	close(t->hold_fd);
	t->hold_fd = -1;
	if (t->pid > 0)
		waitpid(t->pid, NULL, 0);
	t->pid = 0;
	return -1;
}

/* Let the child end; the tmpfs goes with its namespace. */
static __attribute__((unused)) void small_tmpfs_umount(struct small_tmpfs *t)
{
	if (t->hold_fd >= 0)
		close(t->hold_fd);
	t->hold_fd = -1;
	if (t->pid > 0)
		waitpid(t->pid, NULL, 0);
	t->pid = 0;
}

#endif
