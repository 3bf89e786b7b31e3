/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * device.c - the table of backends, opening devices by URI, channels.
 *
 * Adding a backend is one file under backends/ (its contract:
 * backends/backend.h) and its name in the Makefile's BACKENDS or
 * OPTIONAL_BACKENDS, which compiles it and passes the list of those built
 * as LDQ_BACKEND_LIST, "X(sim) X(iio) ...", in listing order.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifndef LDQ_BACKEND_LIST
#define LDQ_BACKEND_LIST X(sim)
#endif

#define X(name) extern const struct ldq_backend ldq_backend_##name;
LDQ_BACKEND_LIST
#undef X

/* The table: every message and listing is built from it. */
#define X(name) &ldq_backend_##name,
static const struct ldq_backend *const backends[] = { LDQ_BACKEND_LIST };
#undef X

LABDAQ_API unsigned int labdaq_backend_count(void)
{
	return LDQ_ARRAY_SIZE(backends);
}

LABDAQ_API const char *labdaq_backend_name(unsigned int index)
{
	return index < LDQ_ARRAY_SIZE(backends) ? backends[index]->name : NULL;
}

LABDAQ_API const char *labdaq_backend_help(unsigned int index)
{
	return index < LDQ_ARRAY_SIZE(backends) ? backends[index]->uris : NULL;
}

LABDAQ_API int labdaq_backend_version(unsigned int index, char *buf, size_t len)
{
	int n;

	if (index >= LDQ_ARRAY_SIZE(backends) || !buf || !len)
		return -EINVAL;
	if (backends[index]->lib_version)
		return backends[index]->lib_version(buf, len);
	n = snprintf(buf, len, "built into liblabdaq %s", labdaq_version());
	return n < 0 ? -EIO : (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* "sim, iio, ..." into @buf. */
static const char *backend_names(char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(backends); i++)
		n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s", i ? ", " : "",
				      backends[i]->name);
	return buf;
}

static const struct ldq_backend *find_backend(const char *name)
{
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(backends); i++)
		if (!strcmp(backends[i]->name, name))
			return backends[i];
	return NULL;
}

static void free_channels(struct labdaq_device *dev)
{
	for (unsigned int i = 0; i < dev->nchans; i++) {
		free(dev->chans[i].name);
		free(dev->chans[i].unit);
		free(dev->chans[i].meta);
	}
	free(dev->chans);
	dev->chans = NULL;
	dev->nchans = 0;
}

int ldq_device_add_channel(struct labdaq_device *dev, const char *name, const char *unit,
			   double scale, int dtype, int output)
{
	struct ldq_channel *c = realloc(dev->chans, (dev->nchans + 1) * sizeof(*c));

	if (!c)
		return -ENOMEM;
	dev->chans = c;
	c = &dev->chans[dev->nchans];
	c->name = strdup(name);
	c->unit = strdup(unit ? unit : "");
	c->scale = scale;
	c->dtype = dtype;
	c->output = output;
	c->min = NAN;
	c->max = NAN;
	c->offset = 0;
	c->meta = NULL;
	c->optional = 0;
	if (!c->name || !c->unit) {
		free(c->name);
		free(c->unit);
		return -ENOMEM;
	}
	dev->nchans++;
	return 0;
}

int ldq_device_find_channel(const struct labdaq_device *dev, const char *name, int output)
{
	for (unsigned int i = 0; i < dev->nchans; i++)
		if (!!dev->chans[i].output == !!output && !strcmp(dev->chans[i].name, name))
			return (int)i;
	return -1;
}

/* "voltage0, current0" (the inputs, or the outputs) into @buf. */
static const char *channel_names(const struct labdaq_device *dev, int output, char *buf,
				 size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (unsigned int i = 0; i < dev->nchans; i++)
		if (!!dev->chans[i].output == !!output)
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0, "%s%s",
					      n ? ", " : "", dev->chans[i].name);
	if (!n)
		snprintf(buf, len, "none");
	return buf;
}

/* Every input (or output) of @dev, in device order. */
static int all_channels(const struct labdaq_device *dev, int output, unsigned int *idx)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < dev->nchans; i++)
		if (!!dev->chans[i].output == !!output && !dev->chans[i].optional)
			idx[n++] = i;
	if (!n) {
		ldq_err("'%s' has no %s channel", dev->uri, output ? "output" : "input");
		return -EINVAL;
	}
	return (int)n;
}

/* One name of a list: its index, or -EINVAL (logged) if it is empty,
 * unknown, or already in idx[0..n). */
/* A channel given by its number: "1" is the second input (or output) in the
 * device's order, as comedi and sigrok count them.  -1 if @name is not a
 * plain number or no such channel exists. */
static int nth_channel(const struct labdaq_device *dev, const char *name, int output)
{
	unsigned long want;
	char *end;

	if (*name < '0' || *name > '9')
		return -1;
	errno = 0;
	want = strtoul(name, &end, 10);
	if (*end || errno)
		return -1;
	for (unsigned int i = 0; i < dev->nchans; i++)
		if (!!dev->chans[i].output == !!output && !want--)
			return (int)i;
	return -1;
}

static int list_entry(const struct labdaq_device *dev, const char *name, int output,
		      const unsigned int *idx, unsigned int n)
{
	const char *what = output ? "output" : "input";
	char known[512];
	int i;

	if (!*name) {
		ldq_err("empty channel name in a channel list of '%s'", dev->uri);
		return -EINVAL;
	}
	i = ldq_device_find_channel(dev, name, output);
	if (i < 0)
		i = nth_channel(dev, name, output);
	if (i < 0) {
		ldq_err("'%s' has no %s channel '%s' (its %ss: %s)", dev->uri, what, name, what,
			channel_names(dev, output, known, sizeof(known)));
		return -EINVAL;
	}
	for (unsigned int k = 0; k < n; k++)
		if (idx[k] == (unsigned int)i) {
			ldq_err("channel '%s' is given twice", name);
			return -EINVAL;
		}
	return i;
}

int ldq_device_channels(const struct labdaq_device *dev, const char *list, int output,
			unsigned int **idx, unsigned int *n)
{
	unsigned int *v = calloc(dev->nchans ? dev->nchans : 1, sizeof(*v)), count = 0;
	const char *p = list;
	int ret = 0;

	if (!v)
		return -ENOMEM;
	if (!list) {
		ret = all_channels(dev, output, v);
		count = ret > 0 ? (unsigned int)ret : 0;
	} else if (!*list) {
		ldq_err("empty channel list for '%s'", dev->uri);
		ret = -EINVAL;
	}
	/* Each accepted name is a distinct channel, so @v never overflows. */
	while (list && !ret) {
		size_t len = strcspn(p, ",");
		char *name = strndup(p, len);

		ret = name ? list_entry(dev, name, output, v, count) : -ENOMEM;
		free(name);
		if (ret < 0)
			break;
		v[count++] = (unsigned int)ret;
		ret = 0;
		if (!p[len])
			break;
		p += len + 1;
	}
	if (ret < 0) {
		free(v);
		return ret;
	}
	*idx = v;
	*n = count;
	return 0;
}

LABDAQ_API int labdaq_device_parse_channels(const labdaq_device *dev, const char *list,
					    int output, unsigned int *idx, unsigned int max)
{
	unsigned int *v, n;
	int ret;

	if (!dev)
		return -EINVAL;
	ret = ldq_device_channels(dev, list, output, &v, &n);
	if (ret)
		return ret;
	for (unsigned int i = 0; i < n && i < max && idx; i++)
		idx[i] = v[i];
	free(v);
	return (int)n;
}

LABDAQ_API int labdaq_device_open(const char *uri, labdaq_device **out)
{
	const struct ldq_backend *be;
	struct labdaq_device *dev;
	struct ldq_uri u;
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	ret = ldq_uri_parse(uri, &u);
	if (ret)
		return ret;
	be = find_backend(u.backend);
	if (!be) {
		char names[256];

		ldq_err("unknown backend '%s' in '%s' (built in: %s)", u.backend, uri,
			backend_names(names, sizeof(names)));
		ldq_uri_free(&u);
		return -EPROTONOSUPPORT;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		ldq_uri_free(&u);
		return -ENOMEM;
	}
	dev->backend = be;
	dev->uri = strdup(uri);
	if (!dev->uri) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = be->open(dev, &u);
	if (ret)
		goto fail;
	ret = ldq_uri_check_unused(&u, uri, be->keys_help);
	if (ret) {
		if (be->close)
			be->close(dev);
		goto fail;
	}
	ldq_uri_free(&u);
	if (!dev->lock_key[0])
		snprintf(dev->lock_key, sizeof(dev->lock_key), "%.*s", (int)strcspn(uri, "?"),
			 uri);
	*out = dev;
	return 0;
fail:
	ldq_uri_free(&u);
	free_channels(dev);
	free(dev->uri);
	free(dev);
	return ret;
}

LABDAQ_API void labdaq_device_close(labdaq_device *dev)
{
	if (!dev)
		return;
	if (dev->backend->close)
		dev->backend->close(dev);
	free_channels(dev);
	free(dev->uri);
	free(dev);
}

LABDAQ_API const char *labdaq_device_uri(const labdaq_device *dev)
{
	return dev->uri;
}

LABDAQ_API const char *labdaq_device_backend(const labdaq_device *dev)
{
	return dev->backend->name;
}

LABDAQ_API const char *labdaq_device_description(const labdaq_device *dev)
{
	return dev->description;
}

LABDAQ_API int labdaq_device_kind(const labdaq_device *dev)
{
	return dev->kind;
}

LABDAQ_API unsigned int labdaq_device_channel_count(const labdaq_device *dev)
{
	return dev->nchans;
}

LABDAQ_API int labdaq_device_channel(const labdaq_device *dev, unsigned int index,
				     struct labdaq_channel *out)
{
	const struct ldq_channel *c;

	if (index >= dev->nchans)
		return -ERANGE;
	c = &dev->chans[index];
	out->name = c->name;
	out->unit = c->unit;
	out->scale = c->scale;
	out->dtype = c->dtype;
	out->output = c->output;
	out->min = c->min;
	out->max = c->max;
	return 0;
}

LABDAQ_API int labdaq_device_channel_offset(const labdaq_device *dev, unsigned int index,
					    double *offset)
{
	if (!dev || !offset)
		return -EINVAL;
	if (index >= dev->nchans)
		return -ERANGE;
	*offset = dev->chans[index].offset;
	return 0;
}

LABDAQ_API int labdaq_device_frame_shape(const labdaq_device *dev, uint32_t *width,
					 uint32_t *height)
{
	if (dev->kind != LABDAQ_KIND_FRAMES)
		return -EOPNOTSUPP;
	*width = dev->width;
	*height = dev->height;
	return 0;
}

/* Stops every backend's enumeration once the caller's callback says so. */
struct list_ctx {
	labdaq_list_fn fn;
	void *user;
	int stopped;
};

static int list_one(const char *uri, const char *description, void *user)
{
	struct list_ctx *c = user;

	if (c->stopped)
		return 1;
	if (c->fn && c->fn(uri, description, c->user))
		c->stopped = 1;
	return c->stopped;
}

LABDAQ_API int labdaq_list(labdaq_list_fn fn, void *user)
{
	struct list_ctx c = { .fn = fn, .user = user };
	int total = 0;

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(backends) && !c.stopped; i++) {
		int n;

		if (!backends[i]->list)
			continue;
		n = backends[i]->list(list_one, &c);
		if (n < 0)
			ldq_warn("%s: listing devices failed: %s", backends[i]->name,
				 labdaq_strerror(n));
		else
			total += n;
	}
	return total;
}

/* ---- attributes ---- */

static int attr_ops(const labdaq_device *dev)
{
	if (!dev->backend->attr_list || !dev->backend->attr_read || !dev->backend->attr_write) {
		ldq_err("%s: the %s backend has no device attributes", dev->uri, dev->backend->name);
		return -EOPNOTSUPP;
	}
	if (atomic_load(&dev->busy)) {
		ldq_err("%s: a run is active on it: its attributes wait until it ends", dev->uri);
		return -EBUSY;
	}
	return 0;
}

LABDAQ_API int labdaq_device_attrs(labdaq_device *dev, labdaq_attr_fn fn, void *user)
{
	int ret;

	if (!dev || !fn)
		return -EINVAL;
	ret = attr_ops(dev);
	return ret ? ret : dev->backend->attr_list(dev, fn, user);
}

LABDAQ_API int labdaq_device_attr_read(labdaq_device *dev, const char *name, char *buf,
				       size_t len)
{
	int ret;

	if (!dev || !name || !buf || !len)
		return -EINVAL;
	ret = attr_ops(dev);
	return ret ? ret : dev->backend->attr_read(dev, name, buf, len);
}

LABDAQ_API int labdaq_device_attr_write(labdaq_device *dev, const char *name, const char *value)
{
	int ret;

	if (!dev || !name || !value)
		return -EINVAL;
	ret = attr_ops(dev);
	return ret ? ret : dev->backend->attr_write(dev, name, value);
}

int ldq_device_check_attrs(labdaq_device *dev, char *const *kv, unsigned int n)
{
	char buf[256];
	int ret;

	if (!n)
		return 0;
	if (!dev->backend->attr_read || !dev->backend->attr_write) {
		ldq_err("%s: the %s backend has no device attributes to set", dev->uri,
			dev->backend->name);
		return -EINVAL;
	}
	for (unsigned int i = 0; i < n; i++) {
		ret = dev->backend->attr_read(dev, kv[2 * i], buf, sizeof(buf));
		if (ret < 0)
			return ret == -ENOENT ? -EINVAL : ret;
	}
	return 0;
}

int ldq_device_apply_attrs(labdaq_device *dev, char *const *kv, unsigned int n, char ***readback)
{
	char buf[4097];
	char **rb;
	int ret;

	*readback = NULL;
	if (!n)
		return 0;
	rb = calloc(2 * n, sizeof(char *));
	if (!rb)
		return -ENOMEM;
	*readback = rb;
	for (unsigned int i = 0; i < n; i++) {
		ret = dev->backend->attr_write(dev, kv[2 * i], kv[2 * i + 1]);
		if (!ret)
			ret = dev->backend->attr_read(dev, kv[2 * i], buf, sizeof(buf));
		if (ret < 0) {
			ldq_err("%s: setting %s to '%s' failed: %s", dev->uri, kv[2 * i], kv[2 * i + 1],
				labdaq_strerror(ret));
			return ret == -ENOENT ? -EINVAL : ret;
		}
		rb[2 * i] = strdup(kv[2 * i]);
		rb[2 * i + 1] = strdup(buf);
		if (!rb[2 * i] || !rb[2 * i + 1])
			return -ENOMEM;
	}
	return 0;
}
