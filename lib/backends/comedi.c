/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * comedi.c - DAQ cards through comedi, with comedilib 0.11.
 *
 * URIs: comedi:/dev/comediN, comedi:N or comedi:comediN, with the keys
 *
 *   subdevice=N   the analog input (streams, sweep reads) or analog output
 *                 (sweep writes) subdevice to use; otherwise the first
 *                 analog input that takes commands and the first analog
 *                 output are used
 *   range=R       the range index of every input channel, or R0,R1,...
 *                 one per channel (channel k takes Rk; the rest take 0)
 *   out_range=R   the same for the output channels
 *   aref=ground|common|diff|other   the analog reference (default: the
 *                 first the subdevice supports, in that order)
 *   buffer=SIZE   the kernel's buffer for streams, in bytes (k, M: 1024,
 *                 1048576), within the subdevice's maximum
 *
 * Channels are "ai0".."aiN" (inputs) and "ao0".. (outputs).  Files keep
 * the raw samples (uint16, or uint32 on a 32-bit subdevice); every channel
 * records in the sidecar its subdevice, range, maxdata, reference and its
 * conversion to physical units: the polynomial comedilib gives (softcal
 * from the board's calibration file, hardcal), else the linear map of the
 * range, physical = sum(c[i] * (raw - origin)^i).  The channel's scale and
 * offset are the polynomial's linear part: physical = (raw + offset) *
 * scale, exact for linear conversions.
 *
 * Streams: one comedi command (comedi_get_cmd_generic_timed, then
 * comedi_command_test until it settles, then comedi_command, stop_src
 * none: the core counts), read() of the kernel's buffer straight into the
 * ring (the kernel's sample layout is the file's), the descriptor
 * non-blocking and polled with an eventfd that stream_cancel writes.  The
 * rate the command test settles on is the one the run records.  A kernel
 * buffer overflow (read() fails with EPIPE) fails the run, saying how to
 * avoid it; comedi_cancel runs at every stream_stop.
 *
 * comedilib's errors (comedi_errno(): errno values, or its own codes above
 * COMEDI_NOERROR) become -errno in comedi_error().
 */
#include <comedi_errno.h>
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "../dl.h"
#include "comedi_dl.h"

/* ---- comedilib, loaded at the first use (comedi_dl.h) ---- */

static struct ldq_comedi_syms ldq_comedi_;

static void ldq_comedi_bind(void *h, const char **missing)
{
#define LDQ_COMEDI_DLSYM(f) \
	ldq_comedi_.f##_p = (__typeof__(ldq_comedi_.f##_p))ldq_dl_sym(h, #f, missing);
	LDQ_COMEDI_SYMS(LDQ_COMEDI_DLSYM)
#undef LDQ_COMEDI_DLSYM
}

static struct ldq_dl ldq_comedi_dl =
	LDQ_DL_INIT("comedi", "comedilib", LDQ_COMEDI_SONAME, "libcomedi0", ldq_comedi_bind);

/* Load comedilib once per process: 0, or -ENOENT / -ENOSYS, said if @say
 * (dl.h).  Thread-safe. */
static int ldq_comedi_load(int say)
{
	return ldq_dl_load(&ldq_comedi_dl, say);
}

#define MAX_CHANS 256
/* Without data for this long (or 20 scan periods) a running stream's
 * device is gone. */
#define STALL_MIN_MS 2000
/* The kernel's buffer grows to hold about this long of samples, within
 * the subdevice's maximum, unless the URI sets it. */
#define KBUF_SECONDS 2.0
#define POLL_MS 100

struct conv {
	double coef[COMEDI_MAX_NUM_POLYNOMIAL_COEFFICIENTS];
	unsigned int order;
	double origin;
	const char *source; /* "softcal", "hardcal", "linear" */
};

struct cchan {
	unsigned int subdev, chan, range, aref;
	lsampl_t maxdata;
	double min, max;    /* the range, in SI units */
	struct conv to_phys, from_phys;
};

struct comedi_priv {
	comedi_t *dev;
	char path[PATH_MAX];
	int ai, ao;             /* subdevices, -1 if none */
	struct cchan *ch;       /* per labdaq channel */
	uint64_t buffer_bytes;  /* buffer=, 0: automatic */
	int efd;                /* eventfd: stream_cancel */
	atomic_int cancelled;
	/* streaming */
	int streaming;
	int old_bufsize;        /* to restore, or -1 */
	size_t item_bytes;
	unsigned char carry[MAX_CHANS * 4];
	size_t carry_bytes;
	double rate_hz;         /* after the command test */
	uint64_t delivered;
	uint64_t t0_ns, last_data_ns;
	int got_data;           /* since last_data_ns was last refreshed */
	int drained;            /* the last read() emptied the kernel buffer */
	unsigned int stall_ms;
	int kbuf;               /* the kernel buffer's size, bytes */
};

/* ---- pure parts (tests/unit/test_comedi.c) ---- */

/* comedilib's error @e (comedi_errno()) as -errno. */
static int comedi_error(int e)
{
	switch (e) {
	case 0:
	case EUNKNOWN:
		return -EIO;
	case EBAD_CT:
		return -EBADF;
	case EINVAL_SUBD:
	case EINVAL_CHAN:
		return -EINVAL;
	case EBUF_OVR:
	case EBUF_UNDR:
		return -EPIPE;
	case ECMDNOTSUPP:
	case ENOTSUPPORTED:
		return -EOPNOTSUPP;
	default:
		return e > 0 && e < COMEDI_NOERROR ? -e : -EIO;
	}
}

/* "/dev/comedi0", "0", "comedi0" -> the device file. 0 or -EINVAL. */
static int device_path(const char *uri_path, char *out, size_t len)
{
	const char *s = uri_path;
	int n;

	if (!s || !*s)
		return -EINVAL;
	if (!strncmp(s, "comedi", 6) && isdigit((unsigned char)s[6]))
		s += 6;
	if (isdigit((unsigned char)*s)) {
		for (const char *d = s; *d; d++)
			if (!isdigit((unsigned char)*d))
				return -EINVAL;
		n = snprintf(out, len, "/dev/comedi%s", s);
	} else if (*s == '/') {
		n = snprintf(out, len, "%s", s);
	} else {
		return -EINVAL;
	}
	return n > 0 && (size_t)n < len ? 0 : -EINVAL;
}

/* Range index of channel @chan from "R" or "R0,R1,..." (NULL: 0).  The
 * index, or -EINVAL for a malformed list. */
static int range_for(const char *spec, unsigned int chan)
{
	const char *p = spec;
	unsigned int k = 0;
	long mine = 0;

	if (!spec)
		return 0;
	/* The whole list is checked, whichever channel is asked for. */
	for (;;) {
		char *end;
		long v;

		if (!isdigit((unsigned char)*p))
			return -EINVAL;
		v = strtol(p, &end, 10);
		if (v > 1000 || (*end && *end != ','))
			return -EINVAL;
		if (k == chan)
			mine = v;
		if (k == 0 && !*end)
			return (int)v; /* one value: every channel */
		k++;
		if (!*end)
			break;
		p = end + 1;
	}
	/* A list: the channels it does not name take range 0. */
	return chan < k ? (int)mine : 0;
}

/* "4096", "64k", "2M" (powers of 1024) -> bytes; -EINVAL. */
static int parse_size(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end == 'i')
		end++;
	if (*end == 'B')
		end++;
	if (*end || !v || v > (1ull << 31))
		return -EINVAL;
	*out = v;
	return 0;
}

static double poly_eval(const struct conv *c, double x)
{
	double y = 0;

	for (unsigned int i = c->order + 1; i-- > 0;)
		y = y * (x - c->origin) + c->coef[i];
	return y;
}

/* The linear maps of a range [min, max] over 0..maxdata. */
static void linear_conv(double min, double max, lsampl_t maxdata, struct conv *to,
			struct conv *from)
{
	memset(to, 0, sizeof(*to));
	memset(from, 0, sizeof(*from));
	to->order = from->order = 1;
	to->source = from->source = "linear";
	to->coef[0] = min;
	to->coef[1] = maxdata ? (max - min) / maxdata : 0;
	from->origin = min;
	from->coef[1] = max > min ? maxdata / (max - min) : 0;
}

/* Scale and offset of the linear part: phys ~ (raw + offset) * scale. */
static void scale_offset(const struct conv *c, double *scale, double *offset)
{
	/* c0 + c1 (x - x0) = (x + c0 / c1 - x0) c1 */
	*scale = c->order >= 1 ? c->coef[1] : 0;
	*offset = *scale != 0 ? c->coef[0] / *scale - c->origin : 0;
}

/* The raw value for @value through @c, rounded, or -ERANGE if outside
 * 0..@maxdata (half an LSB of slack). */
static int to_raw(const struct conv *c, double value, lsampl_t maxdata, lsampl_t *raw)
{
	double r = poly_eval(c, value);

	if (!isfinite(r) || r < -0.5 || r > (double)maxdata + 0.5)
		return -ERANGE;
	r = nearbyint(r);
	*raw = r < 0 ? 0 : r > maxdata ? maxdata : (lsampl_t)r;
	return 0;
}

/* The scan period for @rate_hz, in ns (0 Hz: as fast as the board goes). */
static unsigned int period_ns(double rate_hz)
{
	double ns = rate_hz > 0 ? 1e9 / rate_hz : 1;

	return ns >= 4e9 ? 4000000000u : ns < 1 ? 1 : (unsigned int)llround(ns);
}

/* ---- device access ---- */

static const char *subd_type_name(int t)
{
	switch (t) {
	case COMEDI_SUBD_AI:
		return "ai";
	case COMEDI_SUBD_AO:
		return "ao";
	case COMEDI_SUBD_DI:
		return "di";
	case COMEDI_SUBD_DO:
		return "do";
	case COMEDI_SUBD_DIO:
		return "dio";
	case COMEDI_SUBD_COUNTER:
		return "counter";
	default:
		return "other";
	}
}

/* A comedi range's unit in SI, and the factor to get there. */
static const char *range_unit(const comedi_range *r, double *factor)
{
	*factor = 1;
	if (r->unit & RF_EXTERNAL)
		return "ext";
	switch (r->unit & 0xff) {
	case UNIT_volt:
		return "V";
	case UNIT_mA:
		*factor = 1e-3;
		return "A";
	default:
		return "";
	}
}

static void ldq_comedi_close(struct labdaq_device *dev)
{
	struct comedi_priv *p = dev->priv;

	if (!p)
		return;
	if (p->dev)
		comedi_close(p->dev);
	if (p->efd >= 0)
		close(p->efd);
	free(p->ch);
	free(p);
	dev->priv = NULL;
}

static int open_error(const char *path)
{
	int e = comedi_errno(), ret = comedi_error(e);

	if (ret == -EACCES || ret == -EPERM)
		ldq_err("comedi: no permission to open %s%s", path, LDQ_UDEV_HINT);
	else if (ret == -ENOENT)
		ldq_err("comedi: no device %s (is the comedi driver loaded? listing the devices "
			"shows the boards)", path);
	else if (ret == -ENODEV || ret == -EINVAL)
		ldq_err("comedi: %s is not attached to a driver (configure it with "
			"comedi_config)", path);
	else
		ldq_err("comedi: cannot open %s: %s", path, comedi_strerror(e));
	return ret == -ENOENT || ret == -EINVAL ? -ENODEV : ret;
}

static int aref_of(int flags, const char *want, unsigned int *aref)
{
	static const struct { const char *name; int flag; unsigned int aref; } refs[] = {
		{ "ground", SDF_GROUND, AREF_GROUND }, { "common", SDF_COMMON, AREF_COMMON },
		{ "diff", SDF_DIFF, AREF_DIFF }, { "other", SDF_OTHER, AREF_OTHER },
	};

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(refs); i++) {
		if (want ? !strcmp(want, refs[i].name) : !!(flags & refs[i].flag)) {
			if (!(flags & refs[i].flag))
				return -EOPNOTSUPP;
			*aref = refs[i].aref;
			return 0;
		}
	}
	if (want)
		return -EINVAL;
	*aref = AREF_GROUND;
	return 0;
}

static const char *aref_name(unsigned int aref)
{
	return aref == AREF_COMMON ? "common" : aref == AREF_DIFF ? "diff" :
	       aref == AREF_OTHER ? "other" : "ground";
}

/* The conversions of @c: softcal from @cal, hardcal, else linear. */
static void find_conv(comedi_t *d, const comedi_calibration_t *cal, int soft, struct cchan *c,
		      double factor)
{
	comedi_polynomial_t to, from;
	const char *src = NULL;

	if (soft && cal &&
	    !comedi_get_softcal_converter(c->subdev, c->chan, c->range, COMEDI_TO_PHYSICAL, cal,
					  &to) &&
	    !comedi_get_softcal_converter(c->subdev, c->chan, c->range, COMEDI_FROM_PHYSICAL,
					  cal, &from))
		src = "softcal";
	else if (!soft &&
		 !comedi_get_hardcal_converter(d, c->subdev, c->chan, c->range,
					       COMEDI_TO_PHYSICAL, &to) &&
		 !comedi_get_hardcal_converter(d, c->subdev, c->chan, c->range,
					       COMEDI_FROM_PHYSICAL, &from))
		src = "hardcal";
	if (!src || to.order < 1 || to.order >= COMEDI_MAX_NUM_POLYNOMIAL_COEFFICIENTS ||
	    from.order < 1 || from.order >= COMEDI_MAX_NUM_POLYNOMIAL_COEFFICIENTS) {
		linear_conv(c->min, c->max, c->maxdata, &c->to_phys, &c->from_phys);
		return;
	}
	memset(&c->to_phys, 0, sizeof(c->to_phys));
	memset(&c->from_phys, 0, sizeof(c->from_phys));
	c->to_phys.order = to.order;
	c->to_phys.origin = to.expansion_origin;
	c->from_phys.order = from.order;
	/* SI units: the physical side scaled by @factor. */
	c->from_phys.origin = from.expansion_origin * factor;
	for (unsigned int i = 0; i <= to.order; i++)
		c->to_phys.coef[i] = to.coefficients[i] * factor;
	for (unsigned int i = 0; i <= from.order; i++)
		c->from_phys.coef[i] = from.coefficients[i] / pow(factor, i);
	c->to_phys.source = c->from_phys.source = src;
}

/* The channel's sidecar details, a JSON object. */
static char *chan_meta(const struct cchan *c, const char *unit)
{
	char coef[256];
	size_t n = 0;
	char *s;

	coef[0] = '\0';
	for (unsigned int i = 0; i <= c->to_phys.order && n < sizeof(coef); i++)
		n += (size_t)snprintf(coef + n, sizeof(coef) - n, "%s%.17g", i ? ", " : "",
				      c->to_phys.coef[i]);
	if (asprintf(&s, "{\"subdevice\": %u, \"channel\": %u, \"range\": {\"index\": %u, "
		     "\"min\": %.17g, \"max\": %.17g, \"unit\": \"%s\"}, \"maxdata\": %u, "
		     "\"aref\": \"%s\", \"polynomial\": {\"source\": \"%s\", \"origin\": %.17g, "
		     "\"coefficients\": [%s]}}", c->subdev, c->chan, c->range, c->min, c->max,
		     unit, (unsigned int)c->maxdata, aref_name(c->aref), c->to_phys.source,
		     c->to_phys.origin, coef) < 0)
		return NULL;
	return s;
}

/* Channel @c (its subdevice, number, range and reference set) as the
 * device's next channel: its maxdata, range in physical units, conversion
 * and sidecar description.  @flags: the subdevice's. */
static int describe_channel(struct labdaq_device *dev, struct cchan *c, int output, int flags,
			    const comedi_calibration_t *cal)
{
	struct comedi_priv *p = dev->priv;
	unsigned int i = dev->nchans;
	comedi_range *rg;
	const char *unit;
	double factor, scale, offset;
	char name[32];
	int ret;

	c->maxdata = comedi_get_maxdata(p->dev, c->subdev, c->chan);
	rg = comedi_get_range(p->dev, c->subdev, c->chan, c->range);
	if (!rg || !c->maxdata)
		return comedi_error(comedi_errno());
	unit = range_unit(rg, &factor);
	c->min = rg->min * factor;
	c->max = rg->max * factor;
	find_conv(p->dev, cal, flags & SDF_SOFT_CALIBRATED, c, factor);
	scale_offset(&c->to_phys, &scale, &offset);
	snprintf(name, sizeof(name), "%s%u", output ? "ao" : "ai", c->chan);
	ret = ldq_device_add_channel(dev, name, unit, scale,
				     (flags & SDF_LSAMPL) ? LABDAQ_DTYPE_UINT32 : LABDAQ_DTYPE_UINT16,
				     output);
	if (ret)
		return ret;
	dev->chans[i].min = c->min;
	dev->chans[i].max = c->max;
	dev->chans[i].offset = offset;
	dev->chans[i].meta = chan_meta(c, unit);
	return dev->chans[i].meta ? 0 : -ENOMEM;
}

/* Add subdevice @sd's channels as inputs or outputs. */
static int add_channels(struct labdaq_device *dev, int sd, int output, const char *range_spec,
			const char *aref_spec, const comedi_calibration_t *cal)
{
	struct comedi_priv *p = dev->priv;
	int n = comedi_get_n_channels(p->dev, (unsigned int)sd);
	int flags = comedi_get_subdevice_flags(p->dev, (unsigned int)sd);
	unsigned int aref;
	int ret;

	if (n < 0 || flags < 0)
		return comedi_error(comedi_errno());
	ret = aref_of(flags, aref_spec, &aref);
	if (ret) {
		ldq_err("%s: subdevice %d has no reference '%s' (ground, common, diff, other)",
			dev->uri, sd, aref_spec);
		return -EINVAL;
	}
	for (int k = 0; k < n; k++) {
		unsigned int i = dev->nchans;
		int r = range_for(range_spec, (unsigned int)k);
		int nr = comedi_get_n_ranges(p->dev, (unsigned int)sd, (unsigned int)k);
		struct cchan *c, *grown;

		if (r < 0 || nr <= 0 || r >= nr) {
			ldq_err("%s: channel %s%d has %d range%s (0..%d): range '%s' is not one of "
				"them", dev->uri, output ? "ao" : "ai", k, nr, nr == 1 ? "" : "s",
				nr - 1, range_spec ? range_spec : "0");
			return -EINVAL;
		}
		grown = realloc(p->ch, (i + 1) * sizeof(*p->ch));
		if (!grown)
			return -ENOMEM;
		p->ch = grown;
		c = &p->ch[i];
		memset(c, 0, sizeof(*c));
		c->subdev = (unsigned int)sd;
		c->chan = (unsigned int)k;
		c->range = (unsigned int)r;
		c->aref = aref;
		ret = describe_channel(dev, c, output, flags, cal);
		if (ret)
			return ret;
	}
	return 0;
}

/* " ranges -10..10 V, -5..5 V" of channel 0 of @sd, appended to @buf. */
static size_t describe_subdev(comedi_t *d, int sd, const char *role, char *buf, size_t len)
{
	int flags = comedi_get_subdevice_flags(d, (unsigned int)sd);
	int nr = comedi_get_n_ranges(d, (unsigned int)sd, 0);
	size_t n = 0;

	n += (size_t)snprintf(buf + n, len - n, "; %s: subdevice %d (%s, %d ch, maxdata %u%s)",
			      role, sd, subd_type_name(comedi_get_subdevice_type(d, (unsigned int)sd)),
			      comedi_get_n_channels(d, (unsigned int)sd),
			      (unsigned int)comedi_get_maxdata(d, (unsigned int)sd, 0),
			      flags >= 0 && (flags & SDF_CMD_READ) ? ", streams" : "");
	for (int r = 0; r < nr && n < len; r++) {
		comedi_range *rg = comedi_get_range(d, (unsigned int)sd, 0, (unsigned int)r);
		double f;
		const char *u;

		if (!rg)
			break;
		u = range_unit(rg, &f);
		n += (size_t)snprintf(buf + n, len - n, "%s%d:%g..%g%s%s", r ? " " : " ranges ", r,
				      rg->min * f, rg->max * f, *u ? " " : "", u);
	}
	return n < len ? n : len;
}

/* The subdevice for inputs (@type AI) or outputs (AO), -1 if none: @want
 * if it has that type, else the first (for inputs, one that streams). */
static int pick_subdev(comedi_t *d, int type, int want)
{
	int n = comedi_get_n_subdevices(d), first = -1;

	if (want >= 0)
		return want < n && comedi_get_subdevice_type(d, (unsigned int)want) == type ? want :
										  -1;
	for (int s = 0; s < n; s++) {
		if (comedi_get_subdevice_type(d, (unsigned int)s) != type)
			continue;
		if (first < 0)
			first = s;
		if (type != COMEDI_SUBD_AI ||
		    comedi_get_subdevice_flags(d, (unsigned int)s) & SDF_CMD_READ)
			return s;
	}
	return first;
}

static comedi_calibration_t *load_calibration(comedi_t *d)
{
	char *path = comedi_get_default_calibration_path(d);
	comedi_calibration_t *cal = NULL;

	if (path && access(path, R_OK) == 0)
		cal = comedi_parse_calibration_file(path);
	free(path);
	return cal;
}

static int needs_softcal(comedi_t *d, int ai, int ao)
{
	int f1 = ai >= 0 ? comedi_get_subdevice_flags(d, (unsigned int)ai) : 0;
	int f2 = ao >= 0 ? comedi_get_subdevice_flags(d, (unsigned int)ao) : 0;

	return (f1 > 0 && (f1 & SDF_SOFT_CALIBRATED)) || (f2 > 0 && (f2 & SDF_SOFT_CALIBRATED));
}

static int open_keys(struct labdaq_device *dev, struct ldq_uri *uri, int *subdev)
{
	struct comedi_priv *p = dev->priv;
	const char *buf = ldq_uri_get_str(uri, "buffer");
	uint64_t sd = UINT64_MAX;
	int ret = ldq_uri_get_u64(uri, "subdevice", 0, 255, &sd);

	if (ret)
		return ret;
	*subdev = sd == UINT64_MAX ? -1 : (int)sd;
	if (buf && parse_size(buf, &p->buffer_bytes)) {
		ldq_err("%s: buffer=%s: expected a size in bytes (4096, 64k, 2M)", dev->uri, buf);
		return -EINVAL;
	}
	return 0;
}

/* The board's lock key and its description, once it is open. */
static void describe_board(struct labdaq_device *dev, const struct comedi_priv *p)
{
	char real[PATH_MAX];
	size_t n;

	/* One lock per board, whatever the URI's spelling. */
	snprintf(dev->lock_key, sizeof(dev->lock_key), "comedi:%.240s",
		 realpath(p->path, real) ? real : p->path);
	n = (size_t)snprintf(dev->description, sizeof(dev->description), "%s (driver %s) at %s",
			     comedi_get_board_name(p->dev), comedi_get_driver_name(p->dev), p->path);
	if (n < sizeof(dev->description) && p->ai >= 0)
		n += describe_subdev(p->dev, p->ai, "inputs", dev->description + n,
				     sizeof(dev->description) - n);
	if (n < sizeof(dev->description) && p->ao >= 0)
		describe_subdev(p->dev, p->ao, "outputs", dev->description + n,
				sizeof(dev->description) - n);
}

/* The board of @uri open in @dev->priv, its analog subdevices picked:
 * 0, or -errno said (the caller closes). */
static int open_board(struct labdaq_device *dev, struct ldq_uri *uri)
{
	struct comedi_priv *p = dev->priv;
	int ret, subdev;

	if (device_path(uri->path, p->path, sizeof(p->path))) {
		ldq_err("comedi:%s: expected comedi:/dev/comediN or comedi:N", uri->path);
		return -EINVAL;
	}
	ret = open_keys(dev, uri, &subdev);
	if (ret)
		return ret;
	p->dev = comedi_open(p->path);
	if (!p->dev)
		return open_error(p->path);
	p->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (p->efd < 0)
		return -errno;
	p->ai = pick_subdev(p->dev, COMEDI_SUBD_AI, subdev);
	p->ao = pick_subdev(p->dev, COMEDI_SUBD_AO, subdev);
	if (subdev >= 0 && p->ai < 0 && p->ao < 0) {
		ldq_err("%s: subdevice %d is not an analog input or output (it is %s; the board "
			"has %d subdevices)", dev->uri, subdev,
			subdev < comedi_get_n_subdevices(p->dev) ?
				subd_type_name(comedi_get_subdevice_type(p->dev, (unsigned int)subdev)) :
				"missing", comedi_get_n_subdevices(p->dev));
		return -EINVAL;
	}
	return 0;
}

/* The picked subdevices' channels, with the URI's ranges and reference and
 * the board's calibration where it needs one. */
static int open_channels(struct labdaq_device *dev, struct ldq_uri *uri)
{
	struct comedi_priv *p = dev->priv;
	const char *aref = ldq_uri_get_str(uri, "aref");
	comedi_calibration_t *cal = NULL;
	int ret = 0;

	if (needs_softcal(p->dev, p->ai, p->ao))
		cal = load_calibration(p->dev);
	if (p->ai >= 0)
		ret = add_channels(dev, p->ai, 0, ldq_uri_get_str(uri, "range"), aref, cal);
	if (!ret && p->ao >= 0)
		ret = add_channels(dev, p->ao, 1, ldq_uri_get_str(uri, "out_range"), aref, cal);
	if (cal)
		comedi_cleanup_calibration(cal);
	return ret;
}

static int ldq_comedi_open(struct labdaq_device *dev, struct ldq_uri *uri)
{
	struct comedi_priv *p;
	int ret;

	ret = ldq_comedi_load(1);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->efd = -1;
	p->old_bufsize = -1;
	dev->priv = p;
	ret = open_board(dev, uri);
	if (!ret)
		ret = open_channels(dev, uri);
	if (ret) {
		ldq_comedi_close(dev);
		return ret;
	}
	dev->kind = LABDAQ_KIND_SAMPLES;
	describe_board(dev, p);
	return 0;
}

static int is_board_node(const char *path)
{
	const char *b = strrchr(path, '/');

	b = b ? b + 1 : path;
	if (strncmp(b, "comedi", 6) || !b[6])
		return 0;
	for (b += 6; *b; b++)
		if (!isdigit((unsigned char)*b))
			return 0;
	return 1;
}

static int ldq_comedi_list(labdaq_list_fn fn, void *user)
{
	glob_t g;
	int count = 0;

	if (glob("/dev/comedi*", 0, NULL, &g))
		return 0;
	if (ldq_comedi_load(0)) {
		ldq_warn("comedi: cannot load comedilib (%s), so the boards of /dev/comedi* are "
			 "not listed: install it (Debian: libcomedi0)", ldq_comedi_dl.why);
		globfree(&g);
		return 0;
	}
	for (size_t i = 0; i < g.gl_pathc; i++) {
		const char *path = g.gl_pathv[i];
		char u[PATH_MAX + 8], desc[300];
		comedi_t *d;
		size_t n;

		if (!is_board_node(path))
			continue;
		snprintf(u, sizeof(u), "comedi:%s", path);
		d = comedi_open(path);
		if (!d) {
			int e = comedi_error(comedi_errno());

			if (e == -ENODEV || e == -EINVAL)
				continue; /* a free minor, no board on it */
			snprintf(desc, sizeof(desc), "comedi board (%s)",
				 e == -EACCES || e == -EPERM ? "no permission: install the udev "
				 "rules" : labdaq_strerror(e));
		} else {
			n = (size_t)snprintf(desc, sizeof(desc), "%s (driver %s), %d subdevices",
					     comedi_get_board_name(d), comedi_get_driver_name(d),
					     comedi_get_n_subdevices(d));
			for (int s = 0; s < comedi_get_n_subdevices(d) && n < sizeof(desc); s++) {
				int t = comedi_get_subdevice_type(d, (unsigned int)s);
				int f = comedi_get_subdevice_flags(d, (unsigned int)s);

				if (t == COMEDI_SUBD_UNUSED)
					continue;
				n += (size_t)snprintf(desc + n, sizeof(desc) - n, "%s %d:%s %dch%s",
						      s ? "," : ":", s, subd_type_name(t),
						      comedi_get_n_channels(d, (unsigned int)s),
						      f >= 0 && (f & (SDF_CMD_READ | SDF_CMD_WRITE)) ?
							      " cmd" : "");
			}
			comedi_close(d);
		}
		count++;
		if (fn && fn(u, desc, user))
			break;
	}
	globfree(&g);
	return count;
}

/* ---- streams ---- */

/* The command: generic timed, then tested until it settles.  0 or -errno. */
static int build_command(struct labdaq_device *dev, const struct ldq_stream_params *sp,
			 comedi_cmd *cmd, unsigned int *chanlist)
{
	struct comedi_priv *p = dev->priv;
	unsigned int sd = (unsigned int)p->ai;
	int ret = -1;

	for (unsigned int i = 0; i < sp->nchans; i++) {
		const struct cchan *c = &p->ch[sp->chans[i]];

		chanlist[i] = CR_PACK(c->chan, c->range, c->aref);
	}
	memset(cmd, 0, sizeof(*cmd));
	if (comedi_get_cmd_src_mask(p->dev, sd, cmd) >= 0 && (cmd->start_src & TRIG_NOW) &&
	    (cmd->scan_begin_src & TRIG_TIMER) && (cmd->convert_src & (TRIG_NOW | TRIG_TIMER)) &&
	    (cmd->scan_end_src & TRIG_COUNT) && (cmd->stop_src & TRIG_NONE)) {
		/* The scan clock at the rate asked for; the conversions of a
		 * scan at once, or as fast as the board goes (the command
		 * test raises a convert period of 1 ns to its minimum), so
		 * that the scan period is exactly what was asked for when the
		 * board's clock has it. */
		unsigned int convert = cmd->convert_src & TRIG_NOW ? TRIG_NOW : TRIG_TIMER;

		memset(cmd, 0, sizeof(*cmd));
		cmd->subdev = sd;
		cmd->start_src = TRIG_NOW;
		cmd->scan_begin_src = TRIG_TIMER;
		cmd->scan_begin_arg = period_ns(sp->rate_hz);
		cmd->convert_src = convert;
		cmd->convert_arg = convert == TRIG_TIMER ? 1 : 0;
		cmd->scan_end_src = TRIG_COUNT;
	} else if (comedi_get_cmd_generic_timed(p->dev, sd, cmd, sp->nchans,
					       period_ns(sp->rate_hz)) < 0) {
		int e = comedi_errno();

		ldq_err("%s: subdevice %u cannot run a timed command: %s", dev->uri, sd,
			comedi_strerror(e));
		return comedi_error(e) == -EIO ? -EOPNOTSUPP : comedi_error(e);
	}
	cmd->chanlist = chanlist;
	cmd->chanlist_len = sp->nchans;
	cmd->scan_end_arg = sp->nchans;
	cmd->stop_src = TRIG_NONE;
	cmd->stop_arg = 0;
	/* Each pass may adjust arguments (rounding the period); 0 is settled. */
	for (int pass = 0; pass < 6; pass++) {
		ret = comedi_command_test(p->dev, cmd);
		if (ret <= 0)
			break;
	}
	if (ret < 0) {
		int e = comedi_errno();

		ldq_err("%s: the command test failed: %s", dev->uri, comedi_strerror(e));
		return comedi_error(e);
	}
	if (ret > 0) {
		ldq_err("%s: the board does not take a command of %u channel(s) at %g Hz (the "
			"command test still objects, step %d)", dev->uri, sp->nchans, sp->rate_hz,
			ret);
		return -EINVAL;
	}
	return 0;
}

static double command_rate(const comedi_cmd *cmd)
{
	if (cmd->scan_begin_src == TRIG_TIMER && cmd->scan_begin_arg)
		return 1e9 / cmd->scan_begin_arg;
	if (cmd->scan_begin_src == TRIG_FOLLOW && cmd->convert_src == TRIG_TIMER &&
	    cmd->convert_arg)
		return 1e9 / ((double)cmd->convert_arg * cmd->chanlist_len);
	return 0;
}

/* The kernel's buffer: buffer= if set, else grown to about 2 s. */
static int size_buffer(struct labdaq_device *dev, double rate, size_t item_bytes)
{
	struct comedi_priv *p = dev->priv;
	unsigned int sd = (unsigned int)p->ai;
	int cur = comedi_get_buffer_size(p->dev, sd), max = comedi_get_max_buffer_size(p->dev, sd);
	double want = p->buffer_bytes ? (double)p->buffer_bytes : rate * item_bytes * KBUF_SECONDS;
	int ret;

	if (cur < 0 || max < 0)
		return comedi_error(comedi_errno());
	p->kbuf = cur;
	if (p->buffer_bytes && want > max) {
		ldq_err("%s: a kernel buffer of %llu bytes is above subdevice %u's maximum of %d "
			"bytes (root may raise it: comedi_config --read-buffer)", dev->uri,
			(unsigned long long)p->buffer_bytes, sd, max);
		return -EINVAL;
	}
	if (!p->buffer_bytes && (want <= cur || cur >= max))
		return 0;
	if (want > max)
		want = max;
	ret = comedi_set_buffer_size(p->dev, sd, (unsigned int)want);
	if (ret < 0) {
		int e = comedi_errno();

		ldq_err("%s: cannot set the kernel buffer to %.0f bytes: %s", dev->uri, want,
			comedi_strerror(e));
		return comedi_error(e);
	}
	p->old_bufsize = cur;
	p->kbuf = ret;
	return 0;
}

static int start_error(struct labdaq_device *dev, int e)
{
	struct comedi_priv *p = dev->priv;
	int ret = comedi_error(e);

	if (ret == -EBUSY)
		ldq_err("%s: subdevice %d is busy: another program runs a command on it (or "
			"holds its lock)", dev->uri, p->ai);
	else if (ret == -EACCES || ret == -EPERM)
		ldq_err("%s: no permission to run a command%s", dev->uri, LDQ_UDEV_HINT);
	else if (ret == -ENODEV)
		ldq_err("%s: the board is gone", dev->uri);
	else
		ldq_err("%s: comedi_command failed: %s", dev->uri, comedi_strerror(e));
	return ret;
}

static void restore_buffer(struct comedi_priv *p)
{
	if (p->old_bufsize >= 0)
		comedi_set_buffer_size(p->dev, (unsigned int)p->ai, (unsigned int)p->old_bufsize);
	p->old_bufsize = -1;
}

static int ldq_comedi_stream_start(struct labdaq_device *dev, const struct ldq_stream_params *sp)
{
	struct comedi_priv *p = dev->priv;
	unsigned int chanlist[MAX_CHANS];
	comedi_cmd cmd;
	uint64_t v;
	int fd, ret, flags;

	if (p->ai < 0 || !(comedi_get_subdevice_flags(p->dev, (unsigned int)p->ai) & SDF_CMD_READ)) {
		ldq_err("%s: %s", dev->uri, p->ai < 0 ? "the board has no analog input" :
			"its analog input cannot stream (no commands): read it in a sweep");
		return -EOPNOTSUPP;
	}
	flags = comedi_get_subdevice_flags(p->dev, (unsigned int)p->ai);
	if (flags >= 0 && (flags & SDF_BUSY) && !(flags & SDF_BUSY_OWNER)) {
		ldq_err("%s: subdevice %d is busy: another program runs a command on it", dev->uri,
			p->ai);
		return -EBUSY;
	}
	if (!sp->nchans || sp->nchans > MAX_CHANS ||
	    sp->item_bytes != sp->nchans * labdaq_dtype_size(dev->chans[sp->chans[0]].dtype))
		return -EINVAL;
	ret = build_command(dev, sp, &cmd, chanlist);
	if (ret)
		return ret;
	p->rate_hz = command_rate(&cmd);
	if (sp->rate_hz > 0 && p->rate_hz > 0 && fabs(p->rate_hz - sp->rate_hz) > 1e-6 * sp->rate_hz)
		ldq_warn("%s: asked for %g Hz, the board runs at %.9g Hz (the period the command "
			 "test settled on); the file records that rate", dev->uri, sp->rate_hz,
			 p->rate_hz);
	ret = size_buffer(dev, p->rate_hz, sp->item_bytes);
	if (ret)
		return ret;
	while (read(p->efd, &v, sizeof(v)) > 0)
		;
	atomic_store(&p->cancelled, 0);
	p->item_bytes = sp->item_bytes;
	p->carry_bytes = 0;
	p->delivered = 0;
	p->stall_ms = p->rate_hz > 0 && 20e3 / p->rate_hz > STALL_MIN_MS ?
			      (unsigned int)ceil(20e3 / p->rate_hz) : STALL_MIN_MS;
	fd = comedi_fileno(p->dev);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	comedi_set_read_subdevice(p->dev, (unsigned int)p->ai);
	if (comedi_command(p->dev, &cmd) < 0) {
		ret = start_error(dev, comedi_errno());
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		restore_buffer(p);
		return ret;
	}
	p->streaming = 1;
	p->t0_ns = p->last_data_ns = ldq_now_ns();
	p->got_data = p->drained = 0;
	ldq_dbg("%s: command on subdevice %d: %u channel(s) at %.9g Hz, kernel buffer %d bytes",
		dev->uri, p->ai, sp->nchans, p->rate_hz, p->kbuf);
	return 0;
}

static double ldq_comedi_stream_rate(struct labdaq_device *dev)
{
	struct comedi_priv *p = dev->priv;

	return p->streaming ? p->rate_hz : 0;
}

static long overflow_error(struct labdaq_device *dev, struct comedi_priv *p)
{
	double due = (double)(ldq_now_ns() - p->t0_ns) / 1e9 * p->rate_hz;
	double held = p->item_bytes ? (double)p->kbuf / p->item_bytes : 0;
	double lost = due - (double)p->delivered - held;
	char extra[64] = "";

	if (lost >= 1)
		snprintf(extra, sizeof(extra), " (about %.0f more were lost)", lost);
	ldq_err("%s: the kernel buffer (%d bytes) overflowed after %llu samples%s: the "
		"acquisition stopped; raise the kernel buffer (the URI's buffer=SIZE, up to the "
		"subdevice's maximum) or lower the rate", dev->uri, p->kbuf,
		(unsigned long long)p->delivered, extra);
	return -EPIPE;
}

static long gone_error(struct labdaq_device *dev, struct comedi_priv *p, const char *why)
{
	ldq_err("%s: the board is gone after %llu samples (%s)", dev->uri,
		(unsigned long long)p->delivered, why);
	return -ENODEV;
}

/* Wait for data or a cancel, at most POLL_MS.  0, or -ECANCELED. */
static int wait_data(struct comedi_priv *p)
{
	struct pollfd fds[2] = {
		{ .fd = comedi_fileno(p->dev), .events = POLLIN },
		{ .fd = p->efd, .events = POLLIN },
	};

	if (poll(fds, 2, POLL_MS) < 0 && errno != EINTR)
		return 0;
	return atomic_load(&p->cancelled) ? -ECANCELED : 0;
}

static long ldq_comedi_stream_read(struct labdaq_device *dev, void *dst, size_t items,
				   uint64_t *lost)
{
	struct comedi_priv *p = dev->priv;
	size_t ib = p->item_bytes, want = items * ib, have = p->carry_bytes;
	int fd = comedi_fileno(p->dev);

	*lost = 0;
	memcpy(dst, p->carry, have);
	p->carry_bytes = 0;
	while (have < ib) {
		ssize_t r;

		if (atomic_load(&p->cancelled))
			return -ECANCELED;
		/* A read() that got less than it asked for emptied the buffer:
		 * wait, rather than make a read() that fails with EAGAIN. */
		if (p->drained) {
			p->drained = 0;
			if (wait_data(p))
				return -ECANCELED;
		}
		r = read(fd, (char *)dst + have, want - have);
		if (r > 0) {
			/* No clock read here: a clock_gettime() is a system
			 * call where the TSC is not usable (virtual machines). */
			p->drained = (size_t)r < want - have;
			have += (size_t)r;
			p->got_data = 1;
			continue;
		}
		if (r == 0)
			return gone_error(dev, p, "its command ended: detached or its driver "
					  "unloaded");
		if (errno == EINTR)
			continue;
		if (errno == EPIPE)
			return overflow_error(dev, p);
		if (errno == ENODEV || errno == EIO || errno == EBADF)
			return gone_error(dev, p, strerror(errno));
		if (errno != EAGAIN) {
			ldq_err("%s: reading the kernel buffer: %s", dev->uri, strerror(errno));
			return -errno;
		}
		if (p->got_data) {
			p->last_data_ns = ldq_now_ns();
			p->got_data = 0;
		} else if (ldq_now_ns() - p->last_data_ns > (uint64_t)p->stall_ms * 1000000u) {
			return gone_error(dev, p, "no data for too long");
		}
		if (wait_data(p))
			return -ECANCELED;
	}
	/* Keep a partial scan for the next call. */
	p->carry_bytes = have % ib;
	memcpy(p->carry, (char *)dst + have - p->carry_bytes, p->carry_bytes);
	p->delivered += have / ib;
	return (long)(have / ib);
}

static void ldq_comedi_stream_cancel(struct labdaq_device *dev)
{
	struct comedi_priv *p = dev->priv;
	uint64_t one = 1;

	atomic_store(&p->cancelled, 1);
	if (write(p->efd, &one, sizeof(one)) < 0) {
		/* The counter is saturated: a wake-up is pending anyway. */
	}
}

static void ldq_comedi_stream_stop(struct labdaq_device *dev)
{
	struct comedi_priv *p = dev->priv;
	int fd = comedi_fileno(p->dev);

	if (comedi_cancel(p->dev, (unsigned int)p->ai) < 0)
		ldq_dbg("%s: comedi_cancel: %s", dev->uri, comedi_strerror(comedi_errno()));
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	restore_buffer(p);
	p->streaming = 0;
	p->carry_bytes = 0;
}

/* ---- sweeps ---- */

static int io_error(struct labdaq_device *dev, const char *what, const char *name)
{
	int e = comedi_errno(), ret = comedi_error(e);

	ldq_err("%s: %s %s: %s%s", dev->uri, what, name,
		ret == -ENODEV ? "the board is gone" :
		ret == -EBUSY ? "the subdevice is busy (a command runs on it)" : comedi_strerror(e),
		ret == -EACCES || ret == -EPERM ? LDQ_UDEV_HINT : "");
	return ret;
}

static int ldq_comedi_write_output(struct labdaq_device *dev, unsigned int chan, double value)
{
	struct comedi_priv *p = dev->priv;
	const struct cchan *c = &p->ch[chan];
	lsampl_t raw;

	if (!dev->chans[chan].output)
		return -EINVAL;
	if (value < c->min || value > c->max || to_raw(&c->from_phys, value, c->maxdata, &raw)) {
		ldq_err("%s: %g %s is outside %s's range %g..%g %s", dev->uri, value,
			dev->chans[chan].unit, dev->chans[chan].name, c->min, c->max,
			dev->chans[chan].unit);
		return -ERANGE;
	}
	if (comedi_data_write(p->dev, c->subdev, c->chan, c->range, c->aref, raw) < 0)
		return io_error(dev, "writing", dev->chans[chan].name);
	return 0;
}

static int ldq_comedi_read_inputs(struct labdaq_device *dev, const unsigned int *chans,
				  unsigned int n, double *values)
{
	struct comedi_priv *p = dev->priv;

	for (unsigned int i = 0; i < n; i++) {
		const struct cchan *c = &p->ch[chans[i]];
		lsampl_t raw;

		if (comedi_data_read(p->dev, c->subdev, c->chan, c->range, c->aref, &raw) < 0)
			return io_error(dev, "reading", dev->chans[chans[i]].name);
		values[i] = poly_eval(&c->to_phys, raw);
	}
	return 0;
}

/* comedilib has no version call: the headers' version, and whether the
 * library loads. */
static int ldq_comedi_lib_version(char *buf, size_t len)
{
	int n;

	if (ldq_comedi_load(0))
		n = snprintf(buf, len, "comedilib not found (%s)", ldq_comedi_dl.why);
	else
		n = snprintf(buf, len, "comedilib (%s; built with %d.%d.%d)", LDQ_COMEDI_SONAME,
			     COMEDILIB_VERSION_MAJOR, COMEDILIB_VERSION_MINOR,
			     COMEDILIB_VERSION_MICRO);
	return n < 0 ? -EIO : (size_t)n >= len ? -ENAMETOOLONG : n;
}

const struct ldq_backend ldq_backend_comedi = {
	.name = "comedi",
	.uris = "comedi:/dev/comediN or comedi:N, keys subdevice, range, out_range, aref, "
		"buffer (DAQ cards through comedilib)",
	.keys_help = "subdevice, range, out_range, aref, buffer",
	.lib_version = ldq_comedi_lib_version,
	.open = ldq_comedi_open,
	.close = ldq_comedi_close,
	.list = ldq_comedi_list,
	.stream_start = ldq_comedi_stream_start,
	.stream_rate_hz = ldq_comedi_stream_rate,
	.stream_read = ldq_comedi_stream_read,
	.stream_cancel = ldq_comedi_stream_cancel,
	.stream_stop = ldq_comedi_stream_stop,
	.write_output = ldq_comedi_write_output,
	.read_inputs = ldq_comedi_read_inputs,
};
