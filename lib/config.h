/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * config.h - the run and sweep configurations behind the opaque public
 * types (config.c has the setters).  Not installed: fields may be added
 * here at will, the ABI only sees the setters.
 */
#ifndef LDQ_CONFIG_H
#define LDQ_CONFIG_H

#include <stdint.h>

#include "labdaq.h"

#define LDQ_DEFAULT_RING_BYTES (64u << 20)
/* The least a default ring shrinks to for a short counted run (stream.c). */
#define LDQ_SMALL_RING_BYTES (1u << 20)
#define LDQ_DEFAULT_CHECKPOINT_MS 1000u

struct labdaq_run_config {
	char *path;            /* the .npy file */
	uint64_t count;        /* items; 0: no limit */
	uint64_t duration_ns;  /* 0: no limit */
	double rate_hz;        /* 0: as fast as possible */
	char *channels;        /* NULL: every input */
	uint64_t ring_bytes;   /* 0: LDQ_DEFAULT_RING_BYTES */
	int on_full;           /* enum labdaq_on_full */
	int overwrite;
	char *command;         /* may be NULL */
	uint32_t checkpoint_ms; /* 0: LDQ_DEFAULT_CHECKPOINT_MS */
	char **meta;           /* the user's metadata: key, value, key, value... */
	unsigned int nmeta;
	char **attrs;          /* device attributes to set: name, value, ... */
	unsigned int nattrs;
};

struct labdaq_sweep_config {
	char *path;            /* the .csv file */
	char *set;             /* the output channel */
	char *read;            /* input channels; NULL: every input */
	double from, to;
	uint32_t points;
	uint32_t repeat;       /* 0 counts as 1 */
	uint64_t delay_ns;
	int overwrite;
	char *command;
	uint32_t feed;         /* points kept for labdaq_run_next_point(); 0: none */
	char **meta;
	unsigned int nmeta;
	char **attrs;
	unsigned int nattrs;
};

/* Set @key to @value in a list of pairs (*@kv, *@n of them): a key given
 * again replaces its value.  0, -EINVAL for a bad key, -ENOMEM. */
int ldq_kv_set(char ***kv, unsigned int *n, const char *key, const char *value);
void ldq_kv_free(char **kv, unsigned int n);

/* The path ends in @suffix (and is more than it). */
int ldq_has_suffix(const char *path, const char *suffix);
/* 0 if @s (NULL accepted) is valid UTF-8; -EILSEQ (logged, naming @what)
 * otherwise: the sidecar's JSON can hold nothing else. */
int ldq_check_text(const char *s, const char *what);
/* Checks shared by labdaq_run_check() and labdaq_sweep_check() for a file
 * about to be created: @path set and ending in @suffix, @path and @sidecar
 * (may be NULL) not existing unless @overwrite, the directory writable.
 * The names labdaq makes beside it must fit NAME_MAX, the path PATH_MAX
 * (-ENAMETOOLONG), and it must be UTF-8 (-EILSEQ).
 * 0, or -EINVAL/-EEXIST/-ENOENT/-EACCES with the reason logged. */
int ldq_check_output(const char *path, const char *suffix, const char *sidecar,
		     int overwrite);
/* A file a run writes beside its data file (its gaps' file, a backend's
 * companion), @path may be NULL: 0, or -EEXIST (logged) if it exists and
 * not @overwrite. */
int ldq_check_beside(const char *path, int overwrite);

#endif
