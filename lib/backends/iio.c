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
 * Channels keep the kernel's names (voltage0, current0).  Their scale is
 * converted to SI units (IIO reports voltages and currents in milli-units)
 * and their offset is kept: physical value = (raw + offset) * scale; the
 * files keep the raw values and record both.  Every input channel of a
 * device gets one common type, wide enough for all of its scan elements,
 * so that any selection of them fits one file.  The kernel's timestamp
 * scan element is the channel "timestamp" (int64 nanoseconds, scale 1e-9
 * s), recorded only when named in the channel list: it makes the whole
 * file int64.
 *
 * Streaming: a libiio buffer of about 100 ms of scans (the kernel's FIFO
 * holds about 2 s of them, at most 1 MiB), read whole by
 * iio_buffer_refill() and decoded, channel by channel, into the file's
 * layout; stream_read() hands it out in the pieces the run asks for.  The context's timeout is set from
 * the sampling frequency (the longer of 2 s and four buffers): a refill that
 * times out while nobody cancelled it means the device is gone (on Linux
 * 6.1 an unbound IIO device wakes no poll()er), and becomes -ENODEV.  A
 * device attribute "overruns" (labdaq-sim has one) is read after each
 * refill; what it grew by is reported as lost items.
 *
 * Sweeps write the output channel's "raw" attribute and read the inputs'
 * "raw": physical value = (raw + offset) * scale.
 *
 * libiio's errors (negative errno, or NULL and errno) are passed on as
 * -errno, with a log line saying what they mean here.  libiio 0.24 itself
 * prints a few lines on stderr ("WARNING: High-speed mode not enabled" when
 * the kernel buffer has no mmap interface, as with kfifo): harmless.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../internal.h"
#include "../dl.h"
#include "iio_dl.h"

/* ---- libiio, loaded at the first use (iio_dl.h) ---- */

static struct ldq_iio_syms ldq_iio_;

static void ldq_iio_bind(void *h, const char **missing)
{
#define LDQ_IIO_DLSYM(f) \
	ldq_iio_.f##_p = (__typeof__(ldq_iio_.f##_p))ldq_dl_sym(h, #f, missing);
	LDQ_IIO_SYMS(LDQ_IIO_DLSYM)
#undef LDQ_IIO_DLSYM
}

static struct ldq_dl ldq_iio_dl =
	LDQ_DL_INIT("iio", "libiio", LDQ_IIO_SONAME, "libiio0", ldq_iio_bind);

/* Load libiio once per process: 0, or -ENOENT / -ENOSYS, said if @say
 * (dl.h).  Thread-safe. */
static int ldq_iio_load(int say)
{
	return ldq_dl_load(&ldq_iio_dl, say);
}

/* A libiio buffer holds about this long of scans... */
#define BUF_SECONDS 0.1
/* ... and at most this many (the kernel's FIFO holds at least 4 buffers;
 * labdaq-sim takes at most 131072 scans). */
#define BUF_MAX_SCANS 32768u
/* The kernel's FIFO: about this long (libiio makes it a whole number of
 * buffers, at least 4), at most this many bytes (6.1's kfifo allocates it
 * in one piece, rounded up to a power of two). */
#define FIFO_SECONDS 2.0
#define FIFO_MAX_BYTES (1u << 20)
/* When the sampling frequency is unknown (no attribute). */
#define BUF_DEFAULT_SCANS 256u
/* A refill that takes longer than this (or 4 buffers' time) means the
 * device is gone. */
#define TIMEOUT_MIN_MS 2000u

struct iio_priv {
	struct iio_context *ctx;
	struct iio_device *idev;
	char ctx_uri[512];
	int local;                  /* a local: context (not through iiod) */
	struct iio_channel **chan;  /* per labdaq channel */
	double *offset;             /* per labdaq channel, raw units */
	/* streaming */
	struct iio_buffer *buf;
	pthread_mutex_t buf_lock;   /* buf vs stream_cancel from another thread */
	atomic_int cancelled;
	unsigned int nsel;
	struct iio_channel *sel[64];
	const struct iio_data_format *fmt[64];
	int dtype;                  /* of the file's values */
	size_t vbytes;              /* bytes of one value in the file */
	size_t item_bytes;
	size_t buf_items;           /* scans per libiio buffer */
	unsigned int kbufs;         /* buffers in the kernel's FIFO */
	unsigned int timeout_ms;    /* 0: none */
	double freq;                /* the device's sampling frequency, 0 unknown */
	char *pending;              /* decoded scans not yet returned */
	size_t pending_items, pending_off;
	int has_overruns;
	long long overruns;         /* the device's count at the last look */
	uint64_t delivered;         /* scans returned by stream_read */
};

/*
 * The unit of an IIO channel type in SI, and the power of ten that takes
 * IIO's unit there (Documentation/ABI/testing/sysfs-bus-iio): mV -> V is -3.
 */
static const char *si_unit(enum iio_chan_type t, int *exp10)
{
	*exp10 = 0;
	switch (t) {
	case IIO_VOLTAGE:
		*exp10 = -3; /* mV */
		return "V";
	case IIO_CURRENT:
		*exp10 = -3; /* mA */
		return "A";
	case IIO_POWER:
		*exp10 = -3; /* mW */
		return "W";
	case IIO_TEMP:
		*exp10 = -3; /* milli degrees Celsius */
		return "degC";
	case IIO_CAPACITANCE:
		*exp10 = -9; /* nF */
		return "F";
	case IIO_PRESSURE:
		*exp10 = 3; /* kPa */
		return "Pa";
	case IIO_HUMIDITYRELATIVE:
		*exp10 = -3; /* milli percent */
		return "%";
	case IIO_ACCEL:
		return "m/s^2";
	case IIO_ANGL_VEL:
		return "rad/s";
	case IIO_ANGL:
		return "rad";
	case IIO_MAGN:
		return "gauss";
	case IIO_RESISTANCE:
		return "ohm";
	case IIO_LIGHT:
		return "lux";
	default:
		return "";
	}
}

/* strtod() in the C locale, whatever the application's LC_NUMERIC. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

static double c_strtod(const char *s, char **end)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale ? strtod_l(s, end, c_locale) : strtod(s, end);
}

/*
 * The channel's scale in SI per raw unit.  The kernel prints the scale in
 * decimal ("0.000001"); moving its decimal point (parsing "0.000001e-3")
 * gives the double nearest to the true value, 1e-09, where a product or a
 * quotient of doubles may give 9.999999999999999e-10.
 */
static double si_scale(struct iio_channel *ch, int exp10)
{
	char text[64], num[96], *end;
	double v;
	size_t n;

	if (!iio_channel_find_attr(ch, "scale") ||
	    iio_channel_attr_read(ch, "scale", text, sizeof(text)) <= 0)
		snprintf(text, sizeof(text), "1");
	text[sizeof(text) - 1] = '\0';
	n = strlen(text);
	while (n && (text[n - 1] == '\n' || text[n - 1] == ' '))
		text[--n] = '\0';
	if (!strpbrk(text, "eEnN")) {
		snprintf(num, sizeof(num), "%se%d", text, exp10);
		v = c_strtod(num, &end);
		if (end != num && !*end && isfinite(v))
			return v;
	}
	v = c_strtod(text, &end);
	if (end == text || *end || !isfinite(v))
		v = 1;
	return v * pow(10, exp10);
}

/* Split "local:NAME", "CTX/NAME" into a libiio URI and a device name. */
static int split_path(const char *path, char *ctx_uri, size_t clen, char *devname,
		      size_t dlen)
{
	const char *slash = strrchr(path, '/');

	if (slash) {
		if (slash == path || (size_t)(slash - path) >= clen || strlen(slash + 1) >= dlen ||
		    !slash[1])
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

static int is_timestamp(const struct iio_channel *ch)
{
	const char *id = iio_channel_get_id(ch);

	return iio_channel_get_type(ch) == IIO_TIMESTAMP || (id && !strcmp(id, "timestamp"));
}

/* A scan element this backend can decode: whole bytes, one value a scan. */
static int streamable(const struct iio_channel *ch)
{
	const struct iio_data_format *f;

	if (!iio_channel_is_scan_element(ch) || iio_channel_is_output(ch))
		return 0;
	f = iio_channel_get_data_format(ch);
	return (f->length == 8 || f->length == 16 || f->length == 32 || f->length == 64) &&
	       f->bits >= 1 && f->bits + f->shift <= f->length && f->repeat <= 1;
}

/* The narrowest file type that holds every value of these scan elements. */
static int common_dtype(struct iio_channel *const *chans, unsigned int n)
{
	unsigned int sbits = 0, ubits = 0, w;

	for (unsigned int i = 0; i < n; i++) {
		const struct iio_data_format *f = iio_channel_get_data_format(chans[i]);

		if (f->is_signed)
			sbits = f->bits > sbits ? f->bits : sbits;
		else
			ubits = f->bits > ubits ? f->bits : ubits;
	}
	if (!sbits && !ubits)
		return LABDAQ_DTYPE_INT32;
	if (!sbits)
		return ubits <= 16 ? LABDAQ_DTYPE_UINT16 :
		       ubits <= 32 ? LABDAQ_DTYPE_UINT32 : LABDAQ_DTYPE_INT64;
	w = ubits + 1 > sbits ? ubits + 1 : sbits;
	return w <= 16 ? LABDAQ_DTYPE_INT16 : w <= 32 ? LABDAQ_DTYPE_INT32 : LABDAQ_DTYPE_INT64;
}

/*
 * One value of a scan element as the kernel stores it (format "le:s12/16>>4":
 * endianness, sign, real bits, storage bits, shift), as an integer.  Not
 * iio_channel_convert(): libiio 0.24 skips the masking and the sign
 * extension of a format it considers "fully defined" (upper-case S or U),
 * and writes as many bytes as the storage, not as the file's type.
 */
static int64_t decode(const struct iio_data_format *f, const unsigned char *s)
{
	unsigned int len = f->length / 8, bits = f->bits;
	uint64_t v = 0;

	if (f->is_be)
		for (unsigned int i = 0; i < len; i++)
			v = v << 8 | s[i];
	else
		for (unsigned int i = len; i-- > 0;)
			v = v << 8 | s[i];
	v >>= f->shift;
	if (bits < 64) {
		v &= (UINT64_C(1) << bits) - 1;
		if (f->is_signed && (v >> (bits - 1) & 1))
			v |= ~UINT64_C(0) << bits;
	}
	return (int64_t)v;
}

static void store(int dtype, void *dst, int64_t v)
{
	switch (dtype) {
	case LABDAQ_DTYPE_INT16: {
		int16_t x = (int16_t)v;
		memcpy(dst, &x, sizeof(x));
		break;
	}
	case LABDAQ_DTYPE_UINT16: {
		uint16_t x = (uint16_t)v;
		memcpy(dst, &x, sizeof(x));
		break;
	}
	case LABDAQ_DTYPE_INT32: {
		int32_t x = (int32_t)v;
		memcpy(dst, &x, sizeof(x));
		break;
	}
	case LABDAQ_DTYPE_UINT32: {
		uint32_t x = (uint32_t)v;
		memcpy(dst, &x, sizeof(x));
		break;
	}
	default:
		memcpy(dst, &v, sizeof(v));
		break;
	}
}

static int is_perm(int err)
{
	return err == -EACCES || err == -EPERM;
}

static void ldq_iio_close(struct labdaq_device *dev)
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
	free(p->pending);
	free(p);
	dev->priv = NULL;
}

/* "labdaq-sim, iio:device1" for a message: what the context has. */
static void device_names(struct iio_context *ctx, char *out, size_t len)
{
	unsigned int n = iio_context_get_devices_count(ctx);
	size_t used = 0;

	*out = '\0';
	for (unsigned int i = 0; i < n && used + 1 < len; i++) {
		const struct iio_device *d = iio_context_get_device(ctx, i);
		const char *name = iio_device_get_name(d);
		int w;

		if (iio_device_is_trigger(d))
			continue;
		w = snprintf(out + used, len - used, "%s%s", used ? ", " : "",
			     name ? name : iio_device_get_id(d));
		if (w < 0)
			break;
		used += (size_t)w;
	}
	if (used >= len && len > 4)
		strcpy(out + len - 4, "...");
}

/* Create the libiio context of p->ctx_uri; -errno, logged, if it fails. */
static int ldq_iio_open_context(struct iio_priv *p)
{
	int ret;

	errno = 0;
	p->ctx = iio_create_context_from_uri(p->ctx_uri);
	if (p->ctx)
		return 0;
	ret = errno ? -errno : -EIO;
	if (p->local && ret == -ENOENT)
		ldq_err("iio: this machine has no IIO devices (no /sys/bus/iio): is the "
			"driver loaded?");
	else
		ldq_err("iio: cannot open the IIO context '%s': %s%s", p->ctx_uri,
			labdaq_strerror(ret),
			!strncmp(p->ctx_uri, "ip:", 3) ? " (is iiod running there?)" : "");
	return ret == -ENOENT ? -ENODEV : ret;
}

/* Find the device @devname (a name or an id, not a trigger) in the context. */
static int ldq_iio_find_device(struct iio_priv *p, const char *devname)
{
	char names[200];

	p->idev = iio_context_find_device(p->ctx, devname);
	if (p->idev && !iio_device_is_trigger(p->idev))
		return 0;
	device_names(p->ctx, names, sizeof(names));
	ldq_err("iio: no IIO device '%s' in '%s' (there: %s)", devname, p->ctx_uri,
		*names ? names : "none");
	return -ENODEV;
}

/* The common file type of the device's streamable inputs, or -ENOMEM. */
static int inputs_dtype(struct iio_device *idev)
{
	unsigned int n = iio_device_get_channels_count(idev), ninputs = 0;
	struct iio_channel **inputs = calloc(n ? n : 1, sizeof(*inputs));
	int dtype;

	if (!inputs)
		return -ENOMEM;
	for (unsigned int i = 0; i < n; i++) {
		struct iio_channel *ch = iio_device_get_channel(idev, i);

		if (!is_timestamp(ch) && streamable(ch))
			inputs[ninputs++] = ch;
	}
	dtype = common_dtype(inputs, ninputs);
	free(inputs);
	return dtype;
}

/* The channel's offset in raw units, 0 if it has none or an unreadable one. */
static double channel_offset(struct iio_channel *ch)
{
	double off = 0;

	if (iio_channel_find_attr(ch, "offset") &&
	    (iio_channel_attr_read_double(ch, "offset", &off) < 0 || !isfinite(off)))
		off = 0;
	return off;
}

/* Add IIO channel @ch as the next labdaq channel, with its unit, scale and
 * offset; channels that cannot be streamed, read or written are skipped. */
static int ldq_iio_add_channel(struct labdaq_device *dev, struct iio_priv *p,
			       struct iio_channel *ch, int in_dtype)
{
	const char *id = iio_channel_get_id(ch), *unit;
	int out = iio_channel_is_output(ch), exp10;
	double off;

	if (!id)
		return 0;
	if (is_timestamp(ch)) {
		/* Streamed only, on request: see the top of this file. */
		if (!streamable(ch))
			return 0;
		p->chan[dev->nchans] = ch;
		if (ldq_device_add_channel(dev, "timestamp", "s", 1e-9, LABDAQ_DTYPE_INT64, 0))
			return -ENOMEM;
		dev->chans[dev->nchans - 1].optional = 1;
		return 0;
	}
	/* Inputs must be streamable or readable; outputs writable. */
	if (!iio_channel_find_attr(ch, "raw") && (out || !streamable(ch)))
		return 0;
	off = channel_offset(ch);
	unit = si_unit(iio_channel_get_type(ch), &exp10);
	p->chan[dev->nchans] = ch;
	p->offset[dev->nchans] = off;
	if (ldq_device_add_channel(dev, id, unit, si_scale(ch, exp10),
				   out ? LABDAQ_DTYPE_INT32 : in_dtype, out))
		return -ENOMEM;
	dev->chans[dev->nchans - 1].offset = off;
	return 0;
}

/* Allocate the per-channel tables and add the device's channels. */
static int ldq_iio_add_channels(struct labdaq_device *dev, struct iio_priv *p)
{
	unsigned int n = iio_device_get_channels_count(p->idev);
	int ret, in_dtype;

	p->chan = calloc(n ? n : 1, sizeof(*p->chan));
	p->offset = calloc(n ? n : 1, sizeof(*p->offset));
	if (!p->chan || !p->offset)
		return -ENOMEM;
	/* The inputs' common type first. */
	in_dtype = inputs_dtype(p->idev);
	if (in_dtype < 0)
		return in_dtype;
	for (unsigned int i = 0; i < n; i++) {
		ret = ldq_iio_add_channel(dev, p, iio_device_get_channel(p->idev, i), in_dtype);
		if (ret)
			return ret;
	}
	return 0;
}

/* The lock key (one per device, whichever name or id the URI gave) and the
 * description. */
static void ldq_iio_describe(struct labdaq_device *dev, const struct iio_priv *p,
			     const char *devname)
{
	const char *name = iio_device_get_name(p->idev);

	snprintf(dev->lock_key, sizeof(dev->lock_key), "iio:%.160s/%.64s", p->ctx_uri,
		 iio_device_get_id(p->idev));
	snprintf(dev->description, sizeof(dev->description), "IIO device %.64s (%.32s) in %.120s",
		 name ? name : devname, iio_device_get_id(p->idev), p->ctx_uri);
}

/* Open: parse the URI's path, then each step below; on failure everything
 * allocated here is freed (by ldq_iio_close) and dev->priv is NULL again. */
static int ldq_iio_open(struct labdaq_device *dev, struct ldq_uri *uri)
{
	char devname[256];
	struct iio_priv *p;
	int ret;

	ret = ldq_iio_load(1);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (split_path(uri->path, p->ctx_uri, sizeof(p->ctx_uri), devname, sizeof(devname))) {
		ldq_err("iio:%s: expected iio:local:DEVICE or iio:CONTEXT/DEVICE, e.g. "
			"iio:local:labdaq-sim or iio:ip:HOST/labdaq-sim", uri->path);
		free(p);
		return -EINVAL;
	}
	pthread_mutex_init(&p->buf_lock, NULL);
	dev->priv = p;
	p->local = !strcmp(p->ctx_uri, "local:");
	ret = ldq_iio_open_context(p);
	if (!ret)
		ret = ldq_iio_find_device(p, devname);
	if (!ret)
		ret = ldq_iio_add_channels(dev, p);
	if (ret) {
		ldq_iio_close(dev);
		return ret;
	}
	dev->kind = LABDAQ_KIND_SAMPLES;
	ldq_iio_describe(dev, p, devname);
	return 0;
}

static int ldq_iio_list(labdaq_list_fn fn, void *user)
{
	struct iio_context *ctx;
	unsigned int n;
	int count = 0;

	if (ldq_iio_load(0))
		return 0; /* no libiio: no IIO device to list */
	ctx = iio_create_local_context();
	if (!ctx)
		return 0; /* no IIO on this machine: nothing to list */
	n = iio_context_get_devices_count(ctx);
	for (unsigned int i = 0; i < n; i++) {
		struct iio_device *d = iio_context_get_device(ctx, i);
		const char *name = iio_device_get_name(d), *key;
		unsigned int nch = iio_device_get_channels_count(d), nin = 0, nout = 0;
		char u[300], desc[300];

		if (iio_device_is_trigger(d))
			continue;
		/* The name, unless another device has the same one. */
		key = name;
		for (unsigned int j = 0; key && j < n; j++) {
			const char *other = iio_device_get_name(iio_context_get_device(ctx, j));

			if (j != i && other && !strcmp(other, name))
				key = NULL;
		}
		for (unsigned int c = 0; c < nch; c++) {
			const struct iio_channel *ch = iio_device_get_channel(d, c);

			if (is_timestamp(ch))
				continue;
			if (iio_channel_is_output(ch))
				nout++;
			else
				nin++;
		}
		snprintf(u, sizeof(u), "iio:local:%s", key ? key : iio_device_get_id(d));
		snprintf(desc, sizeof(desc), "IIO device %s%s%s: %u input%s, %u output%s%s",
			 iio_device_get_id(d), name ? " " : "", name ? name : "", nin,
			 nin == 1 ? "" : "s", nout, nout == 1 ? "" : "s",
			 iio_device_get_buffer_attrs_count(d) ? ", buffered" : "");
		count++;
		if (fn && fn(u, desc, user))
			break;
	}
	iio_context_destroy(ctx);
	return count;
}

/* The sampling frequency the device runs at, 0 if it has none. */
static double read_freq(struct iio_priv *p)
{
	double f = 0;

	if (!iio_device_find_attr(p->idev, "sampling_frequency") ||
	    iio_device_attr_read_double(p->idev, "sampling_frequency", &f) < 0 || !(f > 0))
		return 0;
	return f;
}

static int read_overruns(struct iio_priv *p, long long *v)
{
	return iio_device_attr_read_longlong(p->idev, "overruns", v) < 0 ? -1 : 0;
}

/* Check the stream's channels and format, and enable exactly those channels. */
static int ldq_iio_select_channels(struct labdaq_device *dev, struct iio_priv *p,
				   const struct ldq_stream_params *sp)
{
	unsigned int n = iio_device_get_channels_count(p->idev);

	if (!sp->nchans || sp->nchans > LDQ_ARRAY_SIZE(p->sel))
		return -EINVAL;
	p->dtype = sp->dtype;
	p->vbytes = labdaq_dtype_size(p->dtype);
	if (!p->vbytes || sp->item_bytes != p->vbytes * sp->nchans)
		return -EINVAL;
	for (unsigned int i = 0; i < sp->nchans; i++) {
		struct iio_channel *ch = p->chan[sp->chans[i]];

		if (!streamable(ch)) {
			ldq_err("%s: channel %s cannot be streamed (%s)", dev->uri,
				dev->chans[sp->chans[i]].name,
				iio_channel_is_scan_element(ch) ? "its sample format is not supported"
								: "it has no scan element");
			return -EINVAL;
		}
		p->sel[i] = ch;
		p->fmt[i] = iio_channel_get_data_format(ch);
	}
	p->nsel = sp->nchans;
	p->item_bytes = sp->item_bytes;
	for (unsigned int i = 0; i < n; i++)
		iio_channel_disable(iio_device_get_channel(p->idev, i));
	for (unsigned int i = 0; i < p->nsel; i++)
		iio_channel_enable(p->sel[i]);
	return 0;
}

/*
 * -EBUSY if another program is capturing: say so before touching anything
 * (libiio's buffer creation first disables the device's buffer, which would
 * stop that capture, and only then fails on the busy device).  The kernel
 * lets one process at a time open an IIO device's character device.
 */
static int ldq_iio_check_not_busy(struct labdaq_device *dev, struct iio_priv *p)
{
	char node[300];
	int fd;

	if (!p->local)
		return 0;
	snprintf(node, sizeof(node), "/dev/%s", iio_device_get_id(p->idev));
	fd = open(node, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
	} else if (errno == EBUSY) {
		ldq_err("%s: the IIO device's buffer is in use by another program (%s is open)",
			dev->uri, node);
		return -EBUSY;
	}
	return 0;
}

/* Set the sampling frequency if a rate is asked for, then read what the
 * device runs at into p->freq (warning when it differs). */
static int ldq_iio_set_rate(struct labdaq_device *dev, struct iio_priv *p, double rate_hz)
{
	int ret;

	if (rate_hz > 0) {
		if (iio_device_find_attr(p->idev, "sampling_frequency"))
			ret = iio_device_attr_write_longlong(p->idev, "sampling_frequency",
							     llround(rate_hz));
		else
			ret = -EOPNOTSUPP;
		if (ret < 0) {
			if (ret == -EOPNOTSUPP)
				ldq_err("%s: the device has no sampling_frequency attribute: it "
					"runs at its own rate (ask for rate 0)", dev->uri);
			else
				ldq_err("%s: cannot set the sampling frequency to %g Hz: %s%s",
					dev->uri, rate_hz,
					ret == -EINVAL || ret == -ERANGE ?
						"the device does not take it" :
						labdaq_strerror(ret),
					is_perm(ret) ? LDQ_UDEV_HINT : "");
			return ret == -EOPNOTSUPP || ret == -ERANGE ? -EINVAL : ret;
		}
	}
	p->freq = read_freq(p);
	if (rate_hz > 0 && p->freq > 0 && fabs(p->freq - rate_hz) > 0.01 * rate_hz)
		ldq_warn("%s: asked for %g Hz, the device runs at %g Hz", dev->uri, rate_hz,
			 p->freq);
	return 0;
}

/* From p->freq: the scans of a libiio buffer, the refill timeout and the
 * number of buffers in the kernel's FIFO. */
static void ldq_iio_size_buffers(struct iio_priv *p)
{
	double t;

	if (p->freq > 0) {
		t = p->freq * BUF_SECONDS;
		p->buf_items = t < 1 ? 1 : t > BUF_MAX_SCANS ? BUF_MAX_SCANS : (size_t)llround(t);
		t = 4e3 * (double)p->buf_items / p->freq;
		p->timeout_ms = t < TIMEOUT_MIN_MS ? TIMEOUT_MIN_MS :
				t > 3600e3 ? 3600000u : (unsigned int)ceil(t);
	} else {
		/* Unknown pace (an external trigger?): wait as long as it takes. */
		p->buf_items = BUF_DEFAULT_SCANS;
		p->timeout_ms = 0;
	}
	/* The kernel's FIFO holds a number of buffers (libiio's default: 4,
	 * 0.4 s): make it about 2 s, so that a busy machine loses nothing. */
	p->kbufs = 4;
	if (p->freq > 0) {
		ssize_t scan = iio_device_get_sample_size(p->idev);
		double want = p->freq * FIFO_SECONDS;

		if (scan > 0 && want > (double)FIFO_MAX_BYTES / (double)scan)
			want = (double)FIFO_MAX_BYTES / (double)scan;
		t = floor(want / (double)p->buf_items);
		p->kbufs = t < 4 ? 4 : t > 64 ? 64 : (unsigned int)t;
	}
}

/* Apply the sizing: the kernel's FIFO (best effort) and the context's timeout. */
static int ldq_iio_apply_sizes(struct labdaq_device *dev, struct iio_priv *p)
{
	int ret = iio_device_set_kernel_buffers_count(p->idev, p->kbufs);

	if (ret < 0) {
		ldq_dbg("%s: cannot set the number of kernel buffers to %u: %s", dev->uri,
			p->kbufs, labdaq_strerror(ret));
		p->kbufs = 4;
	}
	ret = iio_context_set_timeout(p->ctx, p->timeout_ms);
	if (ret < 0) {
		ldq_err("%s: cannot set the IIO context's timeout: %s", dev->uri,
			labdaq_strerror(ret));
		return ret;
	}
	return 0;
}

/* Log why the libiio buffer could not be created; the error to return. */
static int ldq_iio_buffer_error(struct labdaq_device *dev, const struct iio_priv *p, int ret)
{
	if (is_perm(ret))
		ldq_err("%s: no permission to capture from the IIO device%s", dev->uri,
			LDQ_UDEV_HINT);
	else if (ret == -EBUSY)
		ldq_err("%s: the IIO device's buffer is in use by another program", dev->uri);
	else if (ret == -ENODEV || ret == -ENOENT)
		ldq_err("%s: the IIO device is gone", dev->uri);
	else
		ldq_err("%s: cannot create an IIO buffer of %zu scans: %s", dev->uri,
			p->buf_items, labdaq_strerror(ret));
	return ret == -ENOENT ? -ENODEV : ret;
}

/* Reset the read state and create the libiio buffer, which starts the
 * capture (under buf_lock, against a concurrent stream_cancel). */
static int ldq_iio_create_buffer(struct labdaq_device *dev, struct iio_priv *p)
{
	int ret;

	free(p->pending);
	p->pending = malloc(p->buf_items * p->item_bytes);
	if (!p->pending)
		return -ENOMEM;
	p->pending_items = p->pending_off = 0;
	p->delivered = 0;
	atomic_store(&p->cancelled, 0);
	pthread_mutex_lock(&p->buf_lock);
	errno = 0;
	p->buf = iio_device_create_buffer(p->idev, p->buf_items, false);
	ret = p->buf ? 0 : errno ? -errno : -EIO;
	pthread_mutex_unlock(&p->buf_lock);
	if (ret)
		return ldq_iio_buffer_error(dev, p, ret);
	p->has_overruns = iio_device_find_attr(p->idev, "overruns") != NULL &&
			  !read_overruns(p, &p->overruns);
	return 0;
}

/*
 * Stream start: each step below in order.  Creating the buffer is the only
 * step that starts anything, and the last that can fail, so a failure
 * leaves nothing running and needs no unwinding: the channels' enable bits
 * and the sampling frequency stay as set, and p->pending is freed by the
 * next start or by close.
 */
static int ldq_iio_stream_start(struct labdaq_device *dev, const struct ldq_stream_params *sp)
{
	struct iio_priv *p = dev->priv;
	int ret;

	ret = ldq_iio_select_channels(dev, p, sp);
	if (!ret)
		ret = ldq_iio_check_not_busy(dev, p);
	if (!ret)
		ret = ldq_iio_set_rate(dev, p, sp->rate_hz);
	if (ret)
		return ret;
	ldq_iio_size_buffers(p);
	ret = ldq_iio_apply_sizes(dev, p);
	if (!ret)
		ret = ldq_iio_create_buffer(dev, p);
	if (ret)
		return ret;
	ldq_dbg("%s: streaming %u channel(s) at %g Hz, buffers of %zu scans, %u in the kernel, "
		"timeout %u ms", dev->uri, p->nsel, p->freq, p->buf_items, p->kbufs, p->timeout_ms);
	return 0;
}

/* A refill's error, as the run should see it. */
static long refill_error(struct labdaq_device *dev, struct iio_priv *p, long err)
{
	switch (err) {
	case -ETIMEDOUT:
	case -EPIPE: /* the network backend's timeout, or iiod closed the link */
		if (p->local)
			ldq_err("%s: no data from the device for %.1f s after %llu samples: it is "
				"gone (unplugged, unbound or its driver unloaded)", dev->uri,
				p->timeout_ms / 1e3, (unsigned long long)p->delivered);
		else
			ldq_err("%s: no data from iiod for %.1f s after %llu samples: the device "
				"or the connection is gone", dev->uri, p->timeout_ms / 1e3,
				(unsigned long long)p->delivered);
		return -ENODEV;
	case -ENODEV:
	case -ENXIO:
	case -ENOENT:
	case -EBADF:
	case -EIO:
	case -ESHUTDOWN:
	case -ECONNRESET:
	case -ENOTCONN:
		ldq_err("%s: the device is gone after %llu samples (%s)", dev->uri,
			(unsigned long long)p->delivered, labdaq_strerror((int)err));
		return -ENODEV;
	default:
		ldq_err("%s: reading the IIO buffer failed after %llu samples: %s", dev->uri,
			(unsigned long long)p->delivered, labdaq_strerror((int)err));
		return err;
	}
}

static long ldq_iio_stream_read(struct labdaq_device *dev, void *dst, size_t items, uint64_t *lost)
{
	struct iio_priv *p = dev->priv;
	size_t ib = p->item_bytes, n;

	*lost = 0;
	if (atomic_load(&p->cancelled))
		return -ECANCELED;
	if (!p->pending_items) {
		ptrdiff_t step;
		ssize_t got = iio_buffer_refill(p->buf);

		if (atomic_load(&p->cancelled))
			return -ECANCELED;
		if (got < 0)
			return refill_error(dev, p, (long)got);
		step = iio_buffer_step(p->buf);
		if (step <= 0 || got < step) {
			ldq_err("%s: the IIO buffer returned %zd bytes, less than a scan", dev->uri,
				got);
			return -EIO;
		}
		n = (size_t)got / (size_t)step;
		if (n > p->buf_items)
			n = p->buf_items;
		/* Demultiplex and decode the scans into the file's layout. */
		for (unsigned int c = 0; c < p->nsel; c++) {
			const unsigned char *s = iio_buffer_first(p->buf, p->sel[c]);
			char *d = p->pending + c * p->vbytes;

			for (size_t k = 0; k < n; k++, s += step, d += ib)
				store(p->dtype, d, decode(p->fmt[c], s));
		}
		p->pending_items = n;
		p->pending_off = 0;
		if (p->has_overruns) {
			long long o;

			if (!read_overruns(p, &o) && o > p->overruns) {
				*lost = (uint64_t)(o - p->overruns);
				p->overruns = o;
			}
		}
	}
	n = items < p->pending_items ? items : p->pending_items;
	memcpy(dst, p->pending + p->pending_off * ib, n * ib);
	p->pending_off += n;
	p->pending_items -= n;
	p->delivered += n;
	return (long)n;
}

static void ldq_iio_stream_cancel(struct labdaq_device *dev)
{
	struct iio_priv *p = dev->priv;

	atomic_store(&p->cancelled, 1);
	pthread_mutex_lock(&p->buf_lock);
	if (p->buf)
		iio_buffer_cancel(p->buf);
	pthread_mutex_unlock(&p->buf_lock);
}

static void ldq_iio_stream_stop(struct labdaq_device *dev)
{
	struct iio_priv *p = dev->priv;

	pthread_mutex_lock(&p->buf_lock);
	if (p->buf)
		iio_buffer_destroy(p->buf);
	p->buf = NULL;
	pthread_mutex_unlock(&p->buf_lock);
	p->pending_items = p->pending_off = 0;
}

static int ldq_iio_write_output(struct labdaq_device *dev, unsigned int chan, double value)
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
	if (ret >= 0)
		return 0;
	ldq_err("%s: writing %s raw=%lld (%g %s): %s%s", dev->uri, c->name, llround(raw), value,
		c->unit, ret == -EINVAL || ret == -ERANGE ? "out of range for the device" :
		ret == -ENOENT || ret == -ENODEV ? "the device is gone" : labdaq_strerror(ret),
		is_perm(ret) ? LDQ_UDEV_HINT : "");
	return ret == -EINVAL ? -ERANGE : ret == -ENOENT ? -ENODEV : ret;
}

static int ldq_iio_read_inputs(struct labdaq_device *dev, const unsigned int *chans, unsigned int n,
			   double *values)
{
	struct iio_priv *p = dev->priv;

	for (unsigned int i = 0; i < n; i++) {
		long long raw;
		int ret;

		if (!iio_channel_find_attr(p->chan[chans[i]], "raw")) {
			ldq_err("%s: %s cannot be read singly (it has no raw attribute; stream it)",
				dev->uri, dev->chans[chans[i]].name);
			return -EINVAL;
		}
		ret = iio_channel_attr_read_longlong(p->chan[chans[i]], "raw", &raw);
		if (ret < 0) {
			ldq_err("%s: reading %s: %s%s", dev->uri, dev->chans[chans[i]].name,
				ret == -EBUSY ? "the device is capturing (its buffer is enabled)" :
				ret == -ENOENT || ret == -ENODEV ? "the device is gone" :
				labdaq_strerror(ret), is_perm(ret) ? LDQ_UDEV_HINT : "");
			return ret == -EBADF || ret == -ENOENT ? -ENODEV : ret;
		}
		values[i] = ((double)raw + p->offset[chans[i]]) * dev->chans[chans[i]].scale;
	}
	return 0;
}

static int ldq_iio_lib_version(char *buf, size_t len)
{
	unsigned int major = 0, minor = 0;
	char tag[8] = "";
	int n;

	if (ldq_iio_load(0)) {
		n = snprintf(buf, len, "libiio not found (%s)", ldq_iio_dl.why);
		return n < 0 ? -EIO : (size_t)n >= len ? -ENAMETOOLONG : n;
	}
	iio_library_get_version(&major, &minor, tag);
	tag[sizeof(tag) - 1] = '\0';
	n = snprintf(buf, len, "libiio %u.%u (%s)", major, minor, tag);
	return n < 0 ? -EIO : (size_t)n >= len ? -ENAMETOOLONG : n;
}

/* ---- attributes: the device's and its channels', by sysfs file name ---- */

/* The IIO channel and attribute behind @name (a channel attribute's sysfs
 * file name, "in_voltage0_scale"), or *@ch NULL and the device attribute;
 * NULL if none. */
static const char *find_attr(const struct iio_priv *p, const char *name,
			     const struct iio_channel **ch)
{
	unsigned int nch = iio_device_get_channels_count(p->idev);

	*ch = NULL;
	if (iio_device_find_attr(p->idev, name))
		return iio_device_find_attr(p->idev, name);
	for (unsigned int i = 0; i < nch; i++) {
		const struct iio_channel *c = iio_device_get_channel(p->idev, i);

		for (unsigned int k = 0; k < iio_channel_get_attrs_count(c); k++) {
			const char *a = iio_channel_get_attr(c, k);
			const char *file = iio_channel_attr_get_filename(c, a);

			if (file && !strcmp(file, name)) {
				*ch = c;
				return a;
			}
		}
	}
	return NULL;
}

static ssize_t attr_read_raw(const struct iio_priv *p, const struct iio_channel *ch,
			     const char *attr, char *buf, size_t len)
{
	ssize_t n = ch ? iio_channel_attr_read(ch, attr, buf, len) :
			 iio_device_attr_read(p->idev, attr, buf, len);

	if (n >= 0) {
		buf[len - 1] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
		n = (ssize_t)strlen(buf);
	}
	return n;
}

/* What @attr takes: its "_available" sibling's text into @buf, or NULL. */
static const char *available(const struct iio_priv *p, const struct iio_channel *ch,
			     const char *attr, char *buf, size_t len)
{
	char name[256];

	snprintf(name, sizeof(name), "%s_available", attr);
	if (!(ch ? iio_channel_find_attr(ch, name) : iio_device_find_attr(p->idev, name)))
		return NULL;
	return attr_read_raw(p, ch, name, buf, len) >= 0 ? buf : NULL;
}

static int report_attr(const struct iio_priv *p, const struct iio_channel *ch, const char *attr,
		       labdaq_attr_fn fn, void *user)
{
	char value[512], avail[512];
	struct labdaq_attr la = {
		.name = ch ? iio_channel_attr_get_filename(ch, attr) : attr,
		.value = attr_read_raw(p, ch, attr, value, sizeof(value)) >= 0 ? value : NULL,
		.available = available(p, ch, attr, avail, sizeof(avail)),
	};

	return la.name ? fn(&la, user) : 0;
}

static int ldq_iio_attr_list(struct labdaq_device *dev, labdaq_attr_fn fn, void *user)
{
	struct iio_priv *p = dev->priv;
	unsigned int nch = iio_device_get_channels_count(p->idev);
	int n = 0;

	for (unsigned int k = 0; k < iio_device_get_attrs_count(p->idev); k++) {
		n++;
		if (report_attr(p, NULL, iio_device_get_attr(p->idev, k), fn, user))
			return n;
	}
	for (unsigned int i = 0; i < nch; i++) {
		const struct iio_channel *c = iio_device_get_channel(p->idev, i);

		for (unsigned int k = 0; k < iio_channel_get_attrs_count(c); k++) {
			n++;
			if (report_attr(p, c, iio_channel_get_attr(c, k), fn, user))
				return n;
		}
	}
	return n;
}

static int ldq_iio_attr_read(struct labdaq_device *dev, const char *name, char *buf, size_t len)
{
	struct iio_priv *p = dev->priv;
	const struct iio_channel *ch;
	const char *attr = find_attr(p, name, &ch);
	ssize_t n;

	if (!attr) {
		ldq_err("%s has no attribute '%s' (the device's attribute list names them)",
			dev->uri, name);
		return -ENOENT;
	}
	n = attr_read_raw(p, ch, attr, buf, len);
	if (n < 0)
		ldq_err("%s: reading %s: %s%s", dev->uri, name, labdaq_strerror((int)n),
			is_perm((int)n) ? LDQ_UDEV_HINT : "");
	return (int)n;
}

static int ldq_iio_attr_write(struct labdaq_device *dev, const char *name, const char *value)
{
	struct iio_priv *p = dev->priv;
	const struct iio_channel *ch;
	const char *attr = find_attr(p, name, &ch);
	char avail[512];
	const char *takes;
	ssize_t n;

	if (!attr)
		return ldq_iio_attr_read(dev, name, avail, sizeof(avail));
	n = ch ? iio_channel_attr_write(ch, attr, value) :
		 iio_device_attr_write(p->idev, attr, value);
	if (n >= 0) {
		/* A scale or an offset may have changed: the channels follow. */
		for (unsigned int k = 0; k < dev->nchans; k++) {
			int exp10;

			if (is_timestamp(p->chan[k]))
				continue;
			si_unit(iio_channel_get_type(p->chan[k]), &exp10);
			dev->chans[k].scale = si_scale(p->chan[k], exp10);
			dev->chans[k].offset = p->offset[k] = channel_offset(p->chan[k]);
		}
		return 0;
	}
	takes = available(p, ch, attr, avail, sizeof(avail));
	ldq_err("%s: setting %s to '%s': %s%s%s%s", dev->uri, name, value,
		labdaq_strerror((int)n), takes ? " (it takes " : "", takes ? takes : "",
		takes ? ")" : is_perm((int)n) ? LDQ_UDEV_HINT : "");
	return (int)n;
}

const struct ldq_backend ldq_backend_iio = {
	.name = "iio",
	.uris = "iio:local:DEVICE, iio:ip:HOST/DEVICE (the kernel's IIO devices, through "
		"libiio)",
	.keys_help = "none (iio:local:DEVICE, iio:ip:HOST/DEVICE)",
	.lib_version = ldq_iio_lib_version,
	.open = ldq_iio_open,
	.close = ldq_iio_close,
	.list = ldq_iio_list,
	.stream_start = ldq_iio_stream_start,
	.stream_read = ldq_iio_stream_read,
	.stream_cancel = ldq_iio_stream_cancel,
	.stream_stop = ldq_iio_stream_stop,
	.write_output = ldq_iio_write_output,
	.read_inputs = ldq_iio_read_inputs,
	.attr_list = ldq_iio_attr_list,
	.attr_read = ldq_iio_attr_read,
	.attr_write = ldq_iio_attr_write,
};
