/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * file_fixture.h - what the file format tests share (test_npy.c,
 * test_sidecar.c, test_recover.c): a fresh temporary directory per test,
 * reading and writing whole files, JSON getters, numpy through python3.
 */
#ifndef FILE_FIXTURE_H
#define FILE_FIXTURE_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "labdaq.h"
#include "npy.h"
#include "sidecar.h"
#include "small_tmpfs.h"

#define PYTHON "/usr/bin/python3"

/* ------------------------------------------------------------------------
 * Helpers
 */

struct fixture {
	char dir[200];     /* the test's directory (maybe through a tmpfs helper) */
	char made[64];     /* the temporary directory made for the test */
	char mnt[64];      /* a mount point to unmount, or "" */
	struct small_tmpfs tmpfs; /* a tmpfs over made, or none */
	char img[80];      /* a file system image to remove, or "" */
	char path[300];    /* scratch */
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static int setup_dir(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	strcpy(fx->made, "/tmp/labdaq-npy-XXXXXX");
	if (!mkdtemp(fx->made)) {
		free(fx);
		return -1;
	}
	strcpy(fx->dir, fx->made);
	fx->tmpfs.hold_fd = -1;
	*state = fx;
	return 0;
}

static int teardown_dir(void **state)
{
	struct fixture *fx = *state;

	if (!fx)
		return 0;
	if (fx->mnt[0]) {
		if (umount2(fx->mnt, 0) < 0)
			umount2(fx->mnt, MNT_DETACH);
	}
	small_tmpfs_umount(&fx->tmpfs);
	nftw(fx->made, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	if (fx->img[0])
		unlink(fx->img);
	free(fx);
	return 0;
}

static __attribute__((unused)) const char *in_dir(struct fixture *fx, const char *name)
{
	snprintf(fx->path, sizeof(fx->path), "%s/%s", fx->dir, name);
	return fx->path;
}

static __attribute__((unused)) void write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* The whole file; NUL-terminated; *@len its size. */
static __attribute__((unused)) char *read_file(const char *path, size_t *len)
{
	struct stat st;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc((size_t)st.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
	buf[st.st_size] = '\0';
	close(fd);
	if (len)
		*len = (size_t)st.st_size;
	return buf;
}

static __attribute__((unused)) json_t *load_json(const char *path)
{
	json_error_t err;
	json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &err);

	if (!j)
		print_error("%s:%d: %s\n", path, err.line, err.text);
	assert_non_null(j);
	assert_true(json_is_object(j));
	return j;
}

static __attribute__((unused)) const char *jget_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_string(v));
	return json_string_value(v);
}

static __attribute__((unused)) long long jget_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static __attribute__((unused)) void assert_jnull(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_null(v));
}

/* Names in @dir, other than "." and "..", joined by ' ', sorted. */
static __attribute__((unused)) void list_dir(const char *dir, char *out, size_t size)
{
	struct dirent **ents;
	int n, i;

	out[0] = '\0';
	n = scandir(dir, &ents, NULL, alphasort);
	assert_true(n >= 0);
	for (i = 0; i < n; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			if (out[0])
				strncat(out, " ", size - strlen(out) - 1);
			strncat(out, ents[i]->d_name, size - strlen(out) - 1);
		}
		free(ents[i]);
	}
	free(ents);
}

static __attribute__((unused)) void skip_because(const char *why)
{
	print_message("# SKIP: %s\n", why);
	skip();
}

/* ------------------------------------------------------------------------
 * NumPy itself
 */

static __attribute__((unused)) int have_numpy(void)
{
	if (access(PYTHON, X_OK) < 0)
		return 0;
	return system(PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0;
}

static __attribute__((unused)) int python(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static __attribute__((unused)) int python(const char *fmt, ...)
{
	char script[2048], cmd[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(script, sizeof(script), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), PYTHON " -c \"%s\"", script);
	return system(cmd);
}

static __attribute__((unused)) const struct ldq_npy_layout frames_u2 = { "<u2", 2, { 480, 640 } };
static __attribute__((unused)) const struct ldq_npy_layout samples_f8 = { "<f8", 1, { 4 } };

/* A sidecar's content for a samples run. */
static __attribute__((unused)) const struct labdaq_channel chans[] = {
	{ "voltage0", "V", 0.1, LABDAQ_DTYPE_INT16, 0 },
	{ "current1", "A", 1.52587890625e-05, LABDAQ_DTYPE_INT16, 0 },
	{ "temp", "", 1.0, LABDAQ_DTYPE_INT16, 0 },
};

static __attribute__((unused)) void fill_meta(struct ldq_meta *m)
{
	memset(m, 0, sizeof(*m));
	m->status = "running";
	m->device = "sim:adc?channels=3";
	m->backend = "sim";
	m->kind = "samples";
	m->command = "labdaq acquire sim:adc?channels=3 -o \"run.npy\"";
	m->started_utc = "2026-11-27T10:40:03.123Z";
	m->rate_hz = 1000.0;
	m->layout = (struct ldq_npy_layout){ "<i2", 1, { 3 } };
	m->channels = chans;
	m->nchannels = 3;
	m->ring_capacity_bytes = 64ull << 20;
	m->ring_policy = "drop";
}

#endif
