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

#define LDQ_OUTFILE_MAX 4

struct ldq_outfile {
	unsigned int n;                  /* files: the data file, then others */
	char *path[LDQ_OUTFILE_MAX];
	char *moved[LDQ_OUTFILE_MAX];    /* where an old one is now, or NULL */
	int created;                     /* the data file is ours to remove */
	int unnamed;                     /* the data file has no name yet */
	unsigned int ours;               /* bit i: file i beside the data file
					  * was made by this start (ldq_outfile_own) */
};

/*
 * Create the data file @paths[0] (O_EXCL, mode 0666 under the umask) for
 * writing, and claim it (ldq_file_claim).  @paths
 * holds @n paths (at most LDQ_OUTFILE_MAX): the data file and the files
 * written beside it later (a sidecar), which must not exist either.  With
 * @overwrite all of them are set aside first.  Returns the descriptor, or
 * -errno (logged): -EEXIST, -ENOMEM, the errno of rename() or open().  In
 * every case ldq_outfile_keep() or ldq_outfile_undo() must follow.
 */
int ldq_outfile_create(struct ldq_outfile *of, const char *const *paths, unsigned int n,
		       int overwrite);
/*
 * The same, but the data file is created without a name (O_TMPFILE) where
 * the file system can: the caller writes it and the files beside it, then
 * ldq_outfile_publish() gives it its name, so that no moment (a kill -9)
 * leaves the data file without its sidecar.  Elsewhere it is created by
 * name as ldq_outfile_create() does, and ldq_outfile_publish() does nothing.
 */
int ldq_outfile_create_unnamed(struct ldq_outfile *of, const char *const *paths, unsigned int n,
			       int overwrite);
/* Name the data file @fd of ldq_outfile_create_unnamed() (never replacing a
 * file): 0 or -errno (logged: -EEXIST if one appeared meanwhile). */
int ldq_outfile_publish(struct ldq_outfile *of, int fd);
/* File @i of @paths (beside the data file) was made by this start: a start
 * that fails removes it (ldq_outfile_undo()), named data file or not. */
static inline void ldq_outfile_own(struct ldq_outfile *of, unsigned int i)
{
	of->ours |= 1u << i;
}
/* The start succeeded: the old files are dropped.  @of is emptied. */
void ldq_outfile_keep(struct ldq_outfile *of);
/* The start failed: the files created are removed and the old ones come
 * back.  @of is emptied. */
void ldq_outfile_undo(struct ldq_outfile *of);

#endif
