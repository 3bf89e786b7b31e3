/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iio.c - the Linux IIO backend, through libiio 0.24 (the v0 API).
 *
 * URIs: iio:CONTEXT/DEVICE or iio:local:DEVICE, where CONTEXT is a libiio
 * context URI and DEVICE an IIO device's name ("labdaq-sim") or id
 * ("iio:device0"):
 *
 *   iio:local:labdaq-sim               the local kernel's IIO devices
 *   iio:ip:192.168.1.5/labdaq-sim      through iiod on another machine
 *   iio:ip:[::1]/labdaq-sim
 *
 * Channels keep the kernel's names (voltage0, current0); their scale is
 * converted to SI units (IIO reports voltages and currents in milli-units).
 * Streaming reads libiio buffers of block_items scans and converts each
 * selected channel to the file's type with iio_channel_convert().  Sweeps
 * write the output channel's "raw" attribute and read the inputs' "raw".
 * libiio's errors (negative errno, or NULL and errno) are passed on as
 * -errno, with a log line saying what they mean here.
 */
#include <errno.h>
#include <iio.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

struct iio_priv {
	struct iio_context *ctx;
	struct iio_device *idev;
	struct iio_channel **chan;  /* per labdaq channel */
	double *offset;             /* per labdaq channel, raw units */
	double *to_si;              /* per labdaq channel: IIO scale -> SI */
	/* streaming */
	struct iio_buffer *buf;
	pthread_mutex_t buf_lock;   /* buf vs stream_cancel from another thread */
	atomic_int cancelled;
	unsigned int nsel;
	struct iio_channel *sel[64];
	size_t sel_bytes;           /* bytes of one converted value */
	size_t block_items;
	char *pending;              /* converted items not yet returned */
	size_t pending_items, pending_off;
};

/* The unit of an IIO channel type in SI, and the factor from IIO's unit. */
static const char *si_unit(enum iio_chan_type t, double *factor)
{
	*factor = 1;
	switch (t) {
	case IIO_VOLTAGE:
		*factor = 1e-3;
		return "V";
	case IIO_CURRENT:
		*factor = 1e-3;
		return "A";
	case IIO_POWER:
		*factor = 1e-3;
		return "W";
	case IIO_TEMP:
		*factor = 1e-3;
		return "degC";
	case IIO_ACCEL:
		return "m/s^2";
	case IIO_ANGL_VEL:
		return "rad/s";
	case IIO_PRESSURE:
		*factor = 1e3;
		return "Pa";
	case IIO_RESISTANCE:
		return "ohm";
	default:
		return "";
	}
}

/* Split "local:NAME", "CTX/NAME" into a libiio URI and a device name. */
static int split_path(const char *path, char *ctx_uri, size_t clen, char *devname,
		      size_t dlen)
{
	const char *slash = strrchr(path, '/');

	if (slash) {
		if ((size_t)(slash - path) >= clen || strlen(slash + 1) >= dlen || !slash[1])
			return -EINVAL;
		memcpy(ctx_uri, path, (size_t)(slash - path));
		ctx_uri[slash - path] = '\0';
		strcpy(devname, slash + 1);
		return 0;
	}
	if (!strncmp(path, "local:", 6) && path[6] && strlen(path + 6) < dlen) {
		snprintf(ctx_uri, clen, "local:");
		strcpy(devname, path + 6);
		return 0;
	}
	return -EINVAL;
}

static int value_dtype(const struct iio_data_format *f)
{
	if (f->length <= 16)
		return f->is_signed ? LABDAQ_DTYPE_INT16 : LABDAQ_DTYPE_UINT16;
	if (f->length <= 32)
		return f->is_signed ? LABDAQ_DTYPE_INT32 : LABDAQ_DTYPE_UINT32;
	return LABDAQ_DTYPE_INT64;
}

static void iio_close(struct labdaq_device *dev)
{
	struct iio_priv *p = dev->priv;

	if (!p)
		return;
	if (p->buf)
		iio_buffer_destroy(p->buf);
	if (p->ctx)
		iio_context_destroy(p->ctx);
	pthread_mutex_destroy(&p->buf_lock);
	free(p->chan);
	free(p->offset);
	free(p->to_si);
	free(p->pending);
	free(p);
	dev->priv = NULL;
}

static int iio_open(struct labdaq_device *dev, struct ldq_uri *uri)
{
	char ctx_uri[512], devname[256];
	struct iio_priv *p;
	unsigned int n;
	int ret;

	if (split_path(uri->path, ctx_uri, sizeof(ctx_uri), devname, sizeof(devname))) {
		ldq_err("iio:%s: expected iio:local:DEVICE or iio:CONTEXT/DEVICE, e.g. "
			"iio:local:labdaq-sim or iio:ip:HOST/labdaq-sim", uri->path);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->buf_lock, NULL);
	dev->priv = p;
	p->ctx = iio_create_context_from_uri(ctx_uri);
	if (!p->ctx) {
		ret = errno ? -errno : -EIO;
		ldq_err("iio: cannot open the IIO context '%s': %s%s", ctx_uri,
			labdaq_strerror(ret),
			!strncmp(ctx_uri, "ip:", 3) ? " (is iiod running there?)" : "");
		iio_close(dev);
		return ret == -ENOENT ? -ENODEV : ret;
	}
	p->idev = iio_context_find_device(p->ctx, devname);
	if (!p->idev) {
		ldq_err("iio: no IIO device '%s' in '%s' ('labdaq list' shows them)", devname,
			ctx_uri);
		iio_close(dev);
		return -ENODEV;
	}
	n = iio_device_get_channels_count(p->idev);
	p->chan = calloc(n ? n : 1, sizeof(*p->chan));
	p->offset = calloc(n ? n : 1, sizeof(*p->offset));
	p->to_si = calloc(n ? n : 1, sizeof(*p->to_si));
	if (!p->chan || !p->offset || !p->to_si) {
		iio_close(dev);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct iio_channel *ch = iio_device_get_channel(p->idev, i);
		const char *id = iio_channel_get_id(ch);
		const struct iio_data_format *f = iio_channel_get_data_format(ch);
		double scale = 1, off = 0, factor;
		const char *unit;
		int out = iio_channel_is_output(ch);

		if (!id || !strcmp(id, "timestamp"))
			continue;
		/* Inputs must be streamable or readable; outputs writable. */
		if (!iio_channel_find_attr(ch, "raw") && !iio_channel_is_scan_element(ch))
			continue;
		if (iio_channel_find_attr(ch, "scale"))
			iio_channel_attr_read_double(ch, "scale", &scale);
		if (iio_channel_find_attr(ch, "offset"))
			iio_channel_attr_read_double(ch, "offset", &off);
		unit = si_unit(iio_channel_get_type(ch), &factor);
		p->chan[dev->nchans] = ch;
		p->offset[dev->nchans] = off;
		p->to_si[dev->nchans] = factor;
		ret = ldq_device_add_channel(dev, id, unit, scale * factor,
					     iio_channel_is_scan_element(ch) ? value_dtype(f) :
									       LABDAQ_DTYPE_INT32,
					     out);
		if (ret) {
			iio_close(dev);
			return ret;
		}
	}
	dev->kind = LABDAQ_KIND_SAMPLES;
	snprintf(dev->description, sizeof(dev->description), "IIO device %.64s (%.32s) in %.120s",
		 iio_device_get_name(p->idev) ? iio_device_get_name(p->idev) : devname,
		 iio_device_get_id(p->idev), ctx_uri);
	return 0;
}

static int iio_list(labdaq_list_fn fn, void *user)
{
	struct iio_context *ctx = iio_create_local_context();
	unsigned int n;
	int count = 0;

	if (!ctx)
		return 0; /* no IIO on this machine: nothing to list */
	n = iio_context_get_devices_count(ctx);
	for (unsigned int i = 0; i < n; i++) {
		struct iio_device *d = iio_context_get_device(ctx, i);
		const char *name = iio_device_get_name(d);
		char u[300], desc[300];

		snprintf(u, sizeof(u), "iio:local:%s", name ? name : iio_device_get_id(d));
		snprintf(desc, sizeof(desc), "IIO device %s, %u channels", iio_device_get_id(d),
			 iio_device_get_channels_count(d));
		count++;
		if (fn && fn(u, desc, user))
			break;
	}
	iio_context_destroy(ctx);
	return count;
}

static int iio_stream_start(struct labdaq_device *dev, const struct ldq_stream_params *sp)
{
	struct iio_priv *p = dev->priv;
	unsigned int n = iio_device_get_channels_count(p->idev);
	int ret;

	if (sp->nchans > LDQ_ARRAY_SIZE(p->sel))
		return -EINVAL;
	for (unsigned int i = 0; i < sp->nchans; i++) {
		struct iio_channel *ch = p->chan[sp->chans[i]];

		if (!iio_channel_is_scan_element(ch)) {
			ldq_err("%s: channel %s cannot be streamed (it has no scan element)",
				dev->uri, dev->chans[sp->chans[i]].name);
			return -EINVAL;
		}
		p->sel[i] = ch;
	}
	p->nsel = sp->nchans;
	p->sel_bytes = sp->item_bytes / (sp->nchans ? sp->nchans : 1);
	p->block_items = sp->block_items;
	for (unsigned int i = 0; i < n; i++)
		iio_channel_disable(iio_device_get_channel(p->idev, i));
	for (unsigned int i = 0; i < p->nsel; i++)
		iio_channel_enable(p->sel[i]);
	if (sp->rate_hz > 0) {
		if (iio_device_find_attr(p->idev, "sampling_frequency"))
			ret = iio_device_attr_write_longlong(p->idev, "sampling_frequency",
							     llround(sp->rate_hz));
		else
			ret = -EOPNOTSUPP;
		if (ret < 0) {
			ldq_err("%s: cannot set the sampling frequency to %g Hz: %s", dev->uri,
				sp->rate_hz, labdaq_strerror(ret));
			return ret == -EOPNOTSUPP ? -EINVAL : ret;
		}
	}
	free(p->pending);
	p->pending = malloc(sp->block_items * sp->item_bytes);
	if (!p->pending)
		return -ENOMEM;
	p->pending_items = p->pending_off = 0;
	atomic_store(&p->cancelled, 0);
	pthread_mutex_lock(&p->buf_lock);
	p->buf = iio_device_create_buffer(p->idev, sp->block_items, false);
	ret = p->buf ? 0 : -errno;
	pthread_mutex_unlock(&p->buf_lock);
	if (ret) {
		if (ret == -EACCES || ret == -EPERM)
			ldq_err("%s: no permission to read the IIO buffer: install the udev rules "
				"(udev/) and add your user to their group", dev->uri);
		else if (ret == -EBUSY)
			ldq_err("%s: the IIO device's buffer is in use by another program",
				dev->uri);
		else
			ldq_err("%s: cannot create an IIO buffer: %s", dev->uri,
				labdaq_strerror(ret));
	}
	return ret;
}

static long iio_stream_read(struct labdaq_device *dev, void *dst, size_t items, uint64_t *lost)
{
	struct iio_priv *p = dev->priv;
	size_t ib = p->sel_bytes * p->nsel, n;
	ssize_t got;

	*lost = 0;
	if (atomic_load(&p->cancelled))
		return -ECANCELED;
	if (!p->pending_items) {
		got = iio_buffer_refill(p->buf);
		if (atomic_load(&p->cancelled))
			return -ECANCELED;
		if (got < 0) {
			if (got == -ENODEV || got == -EIO || got == -EBADF)
				ldq_err("%s: the device is gone (%s)", dev->uri,
					labdaq_strerror((int)got));
			return got == -EBADF || got == -EIO ? -ENODEV : (long)got;
		}
		/* Demultiplex the scans into the file's layout. */
		n = (size_t)got / (size_t)iio_buffer_step(p->buf);
		for (unsigned int c = 0; c < p->nsel; c++) {
			char *s = iio_buffer_first(p->buf, p->sel[c]);
			ptrdiff_t step = iio_buffer_step(p->buf);

			for (size_t k = 0; k < n; k++, s += step)
				iio_channel_convert(p->sel[c], p->pending + k * ib + c * p->sel_bytes,
						    s);
		}
		p->pending_items = n;
		p->pending_off = 0;
	}
	n = items < p->pending_items ? items : p->pending_items;
	memcpy(dst, p->pending + p->pending_off * ib, n * ib);
	p->pending_off += n;
	p->pending_items -= n;
	return (long)n;
}

static void iio_stream_cancel(struct labdaq_device *dev)
{
	struct iio_priv *p = dev->priv;

	atomic_store(&p->cancelled, 1);
	pthread_mutex_lock(&p->buf_lock);
	if (p->buf)
		iio_buffer_cancel(p->buf);
	pthread_mutex_unlock(&p->buf_lock);
}

static void iio_stream_stop(struct labdaq_device *dev)
{
	struct iio_priv *p = dev->priv;

	pthread_mutex_lock(&p->buf_lock);
	if (p->buf)
		iio_buffer_destroy(p->buf);
	p->buf = NULL;
	pthread_mutex_unlock(&p->buf_lock);
}

static int iio_write_output(struct labdaq_device *dev, unsigned int chan, double value)
{
	struct iio_priv *p = dev->priv;
	const struct ldq_channel *c = &dev->chans[chan];
	double raw;
	int ret;

	if (!c->output || !(c->scale != 0))
		return -EINVAL;
	raw = value / c->scale - p->offset[chan];
	if (!isfinite(raw) || fabs(raw) > 9.2e18)
		return -ERANGE;
	ret = iio_channel_attr_write_longlong(p->chan[chan], "raw", llround(raw));
	if (ret < 0)
		ldq_err("%s: writing %s raw=%lld (%g %s): %s", dev->uri, c->name, llround(raw),
			value, c->unit, ret == -EINVAL ? "out of range for the device" :
							labdaq_strerror(ret));
	return ret < 0 ? (ret == -EINVAL ? -ERANGE : ret) : 0;
}

static int iio_read_inputs(struct labdaq_device *dev, const unsigned int *chans, unsigned int n,
			   double *values)
{
	struct iio_priv *p = dev->priv;

	for (unsigned int i = 0; i < n; i++) {
		long long raw;
		int ret = iio_channel_attr_read_longlong(p->chan[chans[i]], "raw", &raw);

		if (ret < 0) {
			ldq_err("%s: reading %s: %s", dev->uri, dev->chans[chans[i]].name,
				labdaq_strerror(ret));
			return ret == -EBADF ? -ENODEV : ret;
		}
		values[i] = ((double)raw + p->offset[chans[i]]) * dev->chans[chans[i]].scale;
	}
	return 0;
}

const struct ldq_backend ldq_backend_iio = {
	.name = "iio",
	.keys_help = "none (iio:local:DEVICE, iio:ip:HOST/DEVICE)",
	.open = iio_open,
	.close = iio_close,
	.list = iio_list,
	.stream_start = iio_stream_start,
	.stream_read = iio_stream_read,
	.stream_cancel = iio_stream_cancel,
	.stream_stop = iio_stream_stop,
	.write_output = iio_write_output,
	.read_inputs = iio_read_inputs,
};
