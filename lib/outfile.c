/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * outfile.c - create a run's output files, set old ones aside, restore
 * them if the start fails (outfile.h).
 */
#include <errno.h>
#include <fcntl.h>
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

int ldq_outfile_create(struct ldq_outfile *of, const char *const *paths, unsigned int n,
		       int overwrite)
{
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
	of->created = 0;
}

void ldq_outfile_keep(struct ldq_outfile *of)
{
	outfile_end(of, 1);
}

void ldq_outfile_undo(struct ldq_outfile *of)
{
	/* All of them: the files beside the data file are written after it. */
	for (unsigned int i = 0; of->created && i < of->n; i++)
		unlink(of->path[i]);
	outfile_end(of, 0);
}
