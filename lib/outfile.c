/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * outfile.c - create a run's output files, set old ones aside, restore
 * them if the start fails (outfile.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "outfile.h"

static void aside_name(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');

	snprintf(buf, len, "%.*s.%s.labdaq-old-%d", slash ? (int)(slash - path + 1) : 0, path,
		 slash ? slash + 1 : path, (int)getpid());
}

static int set_aside(struct ldq_outfile *of)
{
	char buf[4096];

	struct stat st;
	int ret;

	for (unsigned int i = 0; i < of->n; i++) {
		if (!lstat(of->path[i], &st) && S_ISDIR(st.st_mode)) {
			ldq_err("%s is a directory; refusing to replace it", of->path[i]);
			return -EISDIR;
		}
		/* Never a file that a live run writes. */
		ret = ldq_file_check_unused(of->path[i]);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < of->n; i++) {
		aside_name(of->path[i], buf, sizeof(buf));
		if (!rename(of->path[i], buf)) {
			of->moved[i] = strdup(buf);
			if (!of->moved[i])
				return -ENOMEM;
		} else if (errno != ENOENT) {
			return -errno;
		}
	}
	return 0;
}

/* Without overwrite: -EEXIST (logged) if a file beside the data file
 * exists; the data file itself is checked by open(O_EXCL). */
static int check_absent(const struct ldq_outfile *of)
{
	struct stat st;

	for (unsigned int i = 1; i < of->n; i++) {
		if (!lstat(of->path[i], &st)) {
			ldq_err("%s exists; refusing to replace it", of->path[i]);
			return -EEXIST;
		}
	}
	return 0;
}

/* The data file without a name yet (O_TMPFILE in its directory): -errno
 * if the file system cannot, and the caller creates it by name. */
static int create_unnamed(const char *path)
{
	char *copy = strdup(path);
	int fd;

	if (!copy)
		return -ENOMEM;
	fd = open(dirname(copy), O_TMPFILE | O_RDWR | O_CLOEXEC, 0666);
	free(copy);
	return fd < 0 ? -errno : fd;
}

static int outfile_open(struct ldq_outfile *of, const char *const *paths, unsigned int n,
			int overwrite, int unnamed)
{
	struct stat st;
	int fd, ret;

	memset(of, 0, sizeof(*of));
	if (n < 1 || n > LDQ_OUTFILE_MAX)
		return -EINVAL;
	for (of->n = 0; of->n < n; of->n++) {
		of->path[of->n] = strdup(paths[of->n]);
		if (!of->path[of->n])
			return -ENOMEM;
	}
	ret = overwrite ? set_aside(of) : check_absent(of);
	if (ret) {
		if (ret != -EEXIST && ret != -EISDIR && ret != -EBUSY)
			ldq_err("cannot replace %s: %s", of->path[0], labdaq_strerror(ret));
		return ret;
	}
	if (unnamed && !overwrite && !lstat(of->path[0], &st)) {
		ldq_err("cannot create %s: %s", of->path[0], labdaq_strerror(-EEXIST));
		return -EEXIST;
	}
	fd = unnamed ? create_unnamed(of->path[0]) : -EOPNOTSUPP;
	if (fd >= 0) {
		of->unnamed = 1;
		ldq_file_claim(fd, of->path[0]);
		return fd;
	}
	/* 0666: the umask decides, as for every other tool's files. */
	fd = open(of->path[0], O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0) {
		ret = -errno;
		ldq_err("cannot create %s: %s", of->path[0], labdaq_strerror(ret));
		return ret;
	}
	of->created = 1;
	/* Held until the run closes it: recover and --force stay away. */
	ldq_file_claim(fd, of->path[0]);
	return fd;
}

int ldq_outfile_create(struct ldq_outfile *of, const char *const *paths, unsigned int n,
		       int overwrite)
{
	return outfile_open(of, paths, n, overwrite, 0);
}

int ldq_outfile_create_unnamed(struct ldq_outfile *of, const char *const *paths, unsigned int n,
			       int overwrite)
{
	return outfile_open(of, paths, n, overwrite, 1);
}

int ldq_outfile_publish(struct ldq_outfile *of, int fd)
{
	char proc[64];
	int ret;

	if (!of->unnamed)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	/* linkat() never replaces: a file made meanwhile under the name
	 * stays, and this start fails. */
	ret = linkat(AT_FDCWD, proc, AT_FDCWD, of->path[0], AT_SYMLINK_FOLLOW);
	if (ret < 0 && errno == ENOENT) /* no /proc: needs CAP_DAC_READ_SEARCH */
		ret = linkat(fd, "", AT_FDCWD, of->path[0], AT_EMPTY_PATH);
	if (ret < 0) {
		ret = -errno;
		ldq_err("cannot create %s: %s", of->path[0], labdaq_strerror(ret));
		return ret;
	}
	of->unnamed = 0;
	of->created = 1;
	return 0;
}

static void outfile_end(struct ldq_outfile *of, int keep)
{
	for (unsigned int i = 0; i < of->n; i++) {
		if (of->moved[i] && keep)
			unlink(of->moved[i]);
		else if (of->moved[i] && rename(of->moved[i], of->path[i]))
			/* Never lose the old file: it stays under its aside name. */
			ldq_err("cannot put the old '%s' back (%s): it is kept as '%s'",
				of->path[i], labdaq_strerror(-errno), of->moved[i]);
		free(of->moved[i]);
		free(of->path[i]);
		of->moved[i] = of->path[i] = NULL;
	}
	of->n = 0;
	of->created = of->unnamed = 0;
	of->ours = 0;
}

void ldq_outfile_keep(struct ldq_outfile *of)
{
	outfile_end(of, 1);
}

void ldq_outfile_undo(struct ldq_outfile *of)
{
	/* All of them: the files beside a named data file are written after
	 * it; beside one without a name yet, those this start made (ours). */
	for (unsigned int i = 0; i < of->n; i++)
		if (i ? of->created || (of->ours & (1u << i)) : of->created)
			unlink(of->path[i]);
	outfile_end(of, 0);
}
