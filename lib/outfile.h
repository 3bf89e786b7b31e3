/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * outfile.h - a run's output files, for streams (NAME.npy and its sidecar
 * NAME.json) and sweeps (NAME.csv) alike.
 *
 * Without overwrite, a file that exists is never touched (-EEXIST).  With
 * overwrite the old files are first renamed aside (".NAME.labdaq-old-PID"
 * beside them), so that a start that fails puts them back instead of
 * leaving nothing; a start that succeeds drops them.  Not installed.
 */
#ifndef LDQ_OUTFILE_H
#define LDQ_OUTFILE_H

#define LDQ_OUTFILE_MAX 3

struct ldq_outfile {
	unsigned int n;                  /* files: the data file, then others */
	char *path[LDQ_OUTFILE_MAX];
	char *moved[LDQ_OUTFILE_MAX];    /* where an old one is now, or NULL */
	int created;                     /* the data file is ours to remove */
};

/*
 * Create the data file @paths[0] (O_EXCL, mode 0644) for writing.  @paths
 * holds @n paths (at most LDQ_OUTFILE_MAX): the data file and the files
 * written beside it later (a sidecar), which must not exist either.  With
 * @overwrite all of them are set aside first.  Returns the descriptor, or
 * -errno (logged): -EEXIST, -ENOMEM, the errno of rename() or open().  In
 * every case ldq_outfile_keep() or ldq_outfile_undo() must follow.
 */
int ldq_outfile_create(struct ldq_outfile *of, const char *const *paths, unsigned int n,
		       int overwrite);
/* The start succeeded: the old files are dropped.  @of is emptied. */
void ldq_outfile_keep(struct ldq_outfile *of);
/* The start failed: the files created are removed and the old ones come
 * back.  @of is emptied. */
void ldq_outfile_undo(struct ldq_outfile *of);

#endif
