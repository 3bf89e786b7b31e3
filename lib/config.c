// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * config.c - the run and sweep configuration objects: allocated here, set
 * through setters that copy and check, so that the ABI can grow.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "internal.h"

/* Replace the string *@dst by a copy of @s (NULL allowed). */
static int set_string(char **dst, const char *s)
{
	char *copy = NULL;

	if (s) {
		copy = strdup(s);
		if (!copy)
			return -ENOMEM;
	}
	free(*dst);
	*dst = copy;
	return 0;
}

LABDAQ_API uint64_t labdaq_default_ring_bytes(void)
{
	return LDQ_DEFAULT_RING_BYTES;
}

LABDAQ_API int labdaq_run_config_new(labdaq_run_config **out)
{
	if (!out)
		return -EINVAL;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->on_full = LABDAQ_ON_FULL_BLOCK;
	return 0;
}

LABDAQ_API void labdaq_run_config_free(labdaq_run_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->channels);
	free(cfg->command);
	ldq_kv_free(cfg->meta, cfg->nmeta);
	ldq_kv_free(cfg->attrs, cfg->nattrs);
	free(cfg);
}

void ldq_kv_free(char **kv, unsigned int n)
{
	for (unsigned int i = 0; kv && i < 2 * n; i++)
		free(kv[i]);
	free(kv);
}

/* A key: letters, digits, '_', '-', '.', ':' and '/', at most 128 of them. */
static int good_key(const char *key)
{
	size_t n = key ? strlen(key) : 0;

	if (!n || n > 128)
		return 0;
	for (const char *p = key; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("_-.:/", *p)))
			return 0;
	return 1;
}

int ldq_kv_set(char ***kv, unsigned int *n, const char *key, const char *value)
{
	char **v, *k, *val;

	if (!good_key(key) || !value || strlen(value) > 4096) {
		ldq_err("bad key or value '%.40s': a key is letters, digits and _-.:/ (at most "
			"128), a value at most 4096 bytes", key ? key : "(none)");
		return -EINVAL;
	}
	val = strdup(value);
	if (!val)
		return -ENOMEM;
	for (unsigned int i = 0; i < *n; i++) {
		if (!strcmp((*kv)[2 * i], key)) {
			free((*kv)[2 * i + 1]);
			(*kv)[2 * i + 1] = val;
			return 0;
		}
	}
	k = strdup(key);
	v = k ? realloc(*kv, (2 * *n + 2) * sizeof(char *)) : NULL;
	if (!v) {
		free(k);
		free(val);
		return -ENOMEM;
	}
	v[2 * *n] = k;
	v[2 * *n + 1] = val;
	*kv = v;
	(*n)++;
	return 0;
}

LABDAQ_API int labdaq_run_config_set_meta(labdaq_run_config *cfg, const char *key,
					  const char *value)
{
	return cfg ? ldq_kv_set(&cfg->meta, &cfg->nmeta, key, value) : -EINVAL;
}

LABDAQ_API int labdaq_run_config_set_attr(labdaq_run_config *cfg, const char *name,
					  const char *value)
{
	return cfg ? ldq_kv_set(&cfg->attrs, &cfg->nattrs, name, value) : -EINVAL;
}

LABDAQ_API int labdaq_sweep_config_set_attr(labdaq_sweep_config *cfg, const char *name,
					    const char *value)
{
	return cfg ? ldq_kv_set(&cfg->attrs, &cfg->nattrs, name, value) : -EINVAL;
}

LABDAQ_API int labdaq_sweep_config_set_meta(labdaq_sweep_config *cfg, const char *key,
					    const char *value)
{
	return cfg ? ldq_kv_set(&cfg->meta, &cfg->nmeta, key, value) : -EINVAL;
}

LABDAQ_API int labdaq_run_config_set_path(labdaq_run_config *cfg, const char *path)
{
	return path ? set_string(&cfg->path, path) : -EINVAL;
}

LABDAQ_API int labdaq_run_config_set_count(labdaq_run_config *cfg, uint64_t items)
{
	cfg->count = items;
	return 0;
}

LABDAQ_API int labdaq_run_config_set_duration_ns(labdaq_run_config *cfg, uint64_t ns)
{
	cfg->duration_ns = ns;
	return 0;
}

LABDAQ_API int labdaq_run_config_set_rate_hz(labdaq_run_config *cfg, double hz)
{
	if (!isfinite(hz) || hz < 0)
		return -EINVAL;
	cfg->rate_hz = hz;
	return 0;
}

LABDAQ_API int labdaq_run_config_set_channels(labdaq_run_config *cfg, const char *list)
{
	return set_string(&cfg->channels, list);
}

LABDAQ_API int labdaq_run_config_set_ring_bytes(labdaq_run_config *cfg, uint64_t bytes)
{
	if (bytes && bytes < 4096)
		return -EINVAL;
	cfg->ring_bytes = bytes;
	return 0;
}

LABDAQ_API uint64_t labdaq_run_config_get_ring_bytes(const labdaq_run_config *cfg)
{
	return cfg->ring_bytes ? cfg->ring_bytes : LDQ_DEFAULT_RING_BYTES;
}

LABDAQ_API int labdaq_run_config_set_on_full(labdaq_run_config *cfg, int policy)
{
	if (policy != LABDAQ_ON_FULL_BLOCK && policy != LABDAQ_ON_FULL_DROP)
		return -EINVAL;
	cfg->on_full = policy;
	return 0;
}

LABDAQ_API int labdaq_run_config_set_overwrite(labdaq_run_config *cfg, int overwrite)
{
	cfg->overwrite = !!overwrite;
	return 0;
}

LABDAQ_API int labdaq_run_config_set_command(labdaq_run_config *cfg, const char *command)
{
	return set_string(&cfg->command, command);
}

LABDAQ_API int labdaq_run_config_set_checkpoint_ms(labdaq_run_config *cfg, uint32_t ms)
{
	cfg->checkpoint_ms = ms;
	return 0;
}

LABDAQ_API int labdaq_sweep_config_new(labdaq_sweep_config **out)
{
	if (!out)
		return -EINVAL;
	*out = calloc(1, sizeof(**out));
	if (!*out)
		return -ENOMEM;
	(*out)->points = 1;
	(*out)->repeat = 1;
	return 0;
}

LABDAQ_API void labdaq_sweep_config_free(labdaq_sweep_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->set);
	free(cfg->read);
	free(cfg->command);
	ldq_kv_free(cfg->meta, cfg->nmeta);
	ldq_kv_free(cfg->attrs, cfg->nattrs);
	free(cfg);
}

LABDAQ_API int labdaq_sweep_config_set_path(labdaq_sweep_config *cfg, const char *path)
{
	return path ? set_string(&cfg->path, path) : -EINVAL;
}

LABDAQ_API int labdaq_sweep_config_set_output(labdaq_sweep_config *cfg, const char *channel)
{
	return channel ? set_string(&cfg->set, channel) : -EINVAL;
}

LABDAQ_API int labdaq_sweep_config_set_inputs(labdaq_sweep_config *cfg, const char *list)
{
	return set_string(&cfg->read, list);
}

LABDAQ_API int labdaq_sweep_config_set_range(labdaq_sweep_config *cfg, double from, double to)
{
	if (!isfinite(from) || !isfinite(to))
		return -EINVAL;
	cfg->from = from;
	cfg->to = to;
	return 0;
}

LABDAQ_API int labdaq_sweep_config_set_points(labdaq_sweep_config *cfg, uint32_t points)
{
	if (!points)
		return -EINVAL;
	cfg->points = points;
	return 0;
}

LABDAQ_API int labdaq_sweep_config_set_repeat(labdaq_sweep_config *cfg, uint32_t repeat)
{
	if (!repeat)
		return -EINVAL;
	cfg->repeat = repeat;
	return 0;
}

LABDAQ_API int labdaq_sweep_config_set_delay_ns(labdaq_sweep_config *cfg, uint64_t ns)
{
	cfg->delay_ns = ns;
	return 0;
}

LABDAQ_API int labdaq_sweep_config_set_overwrite(labdaq_sweep_config *cfg, int overwrite)
{
	cfg->overwrite = !!overwrite;
	return 0;
}

LABDAQ_API int labdaq_sweep_config_set_command(labdaq_sweep_config *cfg, const char *command)
{
	return set_string(&cfg->command, command);
}

LABDAQ_API int labdaq_sweep_config_set_feed(labdaq_sweep_config *cfg, uint32_t points)
{
	if (!cfg || points > (1u << 20))
		return -EINVAL;
	cfg->feed = points;
	return 0;
}

int ldq_has_suffix(const char *path, const char *suffix)
{
	size_t n = strlen(path), m = strlen(suffix);

	return n > m && !strcmp(path + n - m, suffix);
}

/* Is @s valid UTF-8 (what JSON can hold)?  Overlong forms, surrogates and
 * code points over U+10FFFF are not. */
static int utf8_valid(const unsigned char *s)
{
	while (*s) {
		unsigned int c = *s, n, cp, i;

		if (c < 0x80) {
			s++;
			continue;
		}
		n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : 0;
		if (!n || c > 0xf4)
			return 0;
		cp = c & (0x3f >> n);
		for (i = 1; i <= n; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		s += n + 1;
	}
	return 1;
}

int ldq_check_text(const char *s, const char *what)
{
	if (s && !utf8_valid((const unsigned char *)s)) {
		ldq_err("%s is not valid UTF-8: the sidecar (JSON) can only record UTF-8 text; "
			"use a UTF-8 name (e.g. rename with convmv or a plain ASCII name)", what);
		return -EILSEQ;
	}
	return 0;
}

/* The names labdaq makes beside @path: the sidecar's spare ".NAME.json.tmp"
 * and, to overwrite, ".NAME.npy.labdaq-old-PID": each must fit NAME_MAX. */
static int check_name_length(const char *path, const char *sidecar, int overwrite)
{
	const char *b = strrchr(path, '/'), *sb = sidecar ? strrchr(sidecar, '/') : NULL;
	size_t n = strlen(b ? b + 1 : path), sn = sidecar ? strlen(sb ? sb + 1 : sidecar) : n;
	size_t need = sn + 5, most = NAME_MAX - 5 - (sn - n);

	if (overwrite && n + 20 > need)
		need = n + 20;
	if (overwrite && NAME_MAX - 20 < most)
		most = NAME_MAX - 20;
	if (strlen(path) >= PATH_MAX) {
		ldq_err("the output path is %zu bytes long, over the system's limit of %d "
			"(PATH_MAX): choose a shorter one", strlen(path), PATH_MAX);
		return -ENAMETOOLONG;
	}
	if (need > NAME_MAX) {
		ldq_err("the output name is too long (%zu bytes): labdaq needs room beside it for "
			"its hidden temporary files (a name of at most %zu bytes here)", n, most);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* The directory of @path must exist and be writable. */
static int check_dir(const char *path)
{
	char *copy = strdup(path), *dir;
	struct stat st;
	int ret = 0;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	if (stat(dir, &st) && errno != ENOENT && errno != ENOTDIR) {
		ret = -errno;
		ldq_err("cannot use the directory '%s': %s", dir, labdaq_strerror(ret));
	} else if (stat(dir, &st) || !S_ISDIR(st.st_mode)) {
		ldq_err("the directory '%s' does not exist; create it first", dir);
		ret = -ENOENT;
	} else if (access(dir, W_OK | X_OK)) {
		ret = -errno;
		ldq_err("cannot write in the directory '%s': %s", dir, labdaq_strerror(ret));
	}
	free(copy);
	return ret;
}

int ldq_check_beside(const char *path, int overwrite)
{
	struct stat st;

	if (overwrite || !path || lstat(path, &st))
		return 0;
	ldq_err("'%s' exists (a file of another run); choose another name, or replace it "
		"(overwrite)", path);
	return -EEXIST;
}

int ldq_check_output(const char *path, const char *suffix, const char *sidecar, int overwrite)
{
	struct stat st;
	int ret;

	if (!path || !*path) {
		ldq_err("no output file given");
		return -EINVAL;
	}
	if (!ldq_has_suffix(path, suffix)) {
		ldq_err("the output file '%s' must end in %s", path, suffix);
		return -EINVAL;
	}
	ret = check_name_length(path, sidecar, overwrite);
	if (!ret)
		ret = ldq_check_text(path, "the output path");
	if (ret)
		return ret;
	if (!overwrite && !lstat(path, &st)) {
		ldq_err("'%s' exists; choose another name, or replace it (overwrite)", path);
		return -EEXIST;
	}
	if (sidecar && !overwrite && !lstat(sidecar, &st)) {
		ldq_err("'%s' exists (the metadata of another run); choose another name, or "
			"replace it (overwrite)", sidecar);
		return -EEXIST;
	}
	return check_dir(path);
}
