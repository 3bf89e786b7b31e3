/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * sim.c - simulated devices, always built in, so that the whole stack runs
 * and is tested without hardware.
 *
 *   sim:camera?width=W&height=H   uint16 frames
 *   sim:adc?channels=N            N int16 input channels
 *   sim:ohm?r=OHMS&noise=VOLTS    the Ohm's-law rig: one output, two inputs
 *
 * Every value a device produces is a documented function of the item's index
 * (and, for the rig, of the applied voltage and a seed), so a test can check
 * every byte: the formulas are next to the functions that generate them and
 * in docs/sim.md, with the numpy code that computes the expected arrays.
 *
 * Streaming is paced on CLOCK_MONOTONIC: item k is due at t0 + k / rate,
 * where t0 is the time of stream_start().  Waiting is a ppoll() on an
 * eventfd with a timeout, so an idle paced run costs no CPU and
 * stream_cancel() wakes it at once.  A rate of 0 generates as fast as
 * possible.
 *
 * Fault knobs, common to every device, let tests provoke what real hardware
 * does: a stall, a lost device, a FIFO overrun, a device that refuses to
 * start.  The first three count "blocks", i.e. successful stream_read()
 * calls since stream_start(), and each fires once per stream; fail_start
 * fails every stream_start().
 */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * A paced read returns once all the items it was asked for are due, or
 * once its first item has been due for this long, whichever comes first:
 * the latency of a slow stream is bounded and a fast one wakes at most
 * about 100 times a second.
 */
#define SIM_MAX_LATENCY_NS 10000000ull

#define SIM_NEVER UINT64_MAX       /* a fault knob that is off */
#define SIM_MAX_INPUTS 64          /* the most input channels of any model */

/* camera: frame geometry bounds and the pattern's step per frame */
#define SIM_CAM_MAX_SIDE 16384u
#define SIM_CAM_STEP 7u
#define SIM_CAM_PERIOD 65536u      /* the ramp repeats every 65536 pixels */
#define SIM_RAMP_PAGE 4096u        /* it is written in pieces of this: the
				    * longest ramp (2 periods) is 64 of them */

/* adc: raw int16 counts -> volts */
#define SIM_ADC_SCALE 0.001
#define SIM_ADC_MAX_CHANNELS 64u

/* ohm: raw int32 counts of 1 uV and 1 nA; the output's range */
#define SIM_OHM_V_SCALE 1e-6
#define SIM_OHM_I_SCALE 1e-9
#define SIM_OHM_V_MAX 10.0
#define SIM_OHM_IN_V 0   /* channel indexes, see ohm_open() */
#define SIM_OHM_IN_I 1
#define SIM_OHM_OUT_V 2

struct sim;

/* The models, as in the URI's path. */
enum sim_model_id {
	SIM_CAMERA, /* frames: a moving ramp, the frame index in its first 8 bytes */
	SIM_ADC,    /* samples: one sawtooth per channel, each of its own slope */
	SIM_OHM,    /* samples: a resistor, a voltage source, two noisy meters */
};

/*
 * One simulated model.  fill() writes @n items, the first of index @first,
 * in the stream's layout; sample() gives the scaled value of channel @chan
 * at item @k, for read_inputs().
 */
struct sim_model {
	enum sim_model_id id;
	const char *name;
	const char *summary; /* list(): one line */
	int (*open)(struct labdaq_device *dev, struct sim *s, struct ldq_uri *u);
	void (*fill)(struct sim *s, uint8_t *dst, uint64_t first, size_t n);
	double (*sample)(const struct sim *s, const struct labdaq_device *dev, unsigned int chan,
			 uint64_t k);
};

struct sim {
	const struct sim_model *model;

	/* fault knobs, SIM_NEVER when off */
	uint64_t stall_after;
	uint64_t stall_ms;
	uint64_t fail_after;
	uint64_t overrun_after;
	uint64_t overrun_items;    /* 0: one block's worth */
	uint64_t fail_start;       /* 1: stream_start() fails */
	uint64_t seed;

	/* camera */
	size_t frame_bytes;
	uint8_t *pattern;          /* the ramp, see camera_fill() */
	size_t pattern_bytes;
	uint64_t pattern_filled;   /* bit p: its page p holds the ramp */

	/* ohm */
	double r;
	double noise;
	int32_t applied_raw;       /* the output, in counts of 1 uV */
	double applied;            /* applied_raw * SIM_OHM_V_SCALE */

	uint64_t step;             /* read_inputs() calls so far: their k */

	/* streaming */
	int efd;                   /* eventfd: stream_cancel() wakes the reader */
	atomic_bool cancelled;
	bool streaming;
	bool stalled, overrun_done, fail_logged;
	double rate_hz;
	uint64_t t0_ns;
	uint64_t next;             /* index of the next item, lost ones included */
	uint64_t blocks;           /* successful reads since stream_start() */
	size_t block_items;
	unsigned int sel[SIM_MAX_INPUTS]; /* enabled channels, in file order */
	unsigned int nsel;
};

/* ---- little helpers ---- */

static inline void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

/* ---- sim:camera ----
 *
 * Frame i is H x W uint16, little-endian.  With p = y * W + x the pixel's
 * position in the frame (row y, column x):
 *
 *	pixel(i, y, x) = (p + 7 * i) mod 65536
 *
 * except that the first 8 bytes (pixels 0..3) hold i as a little-endian
 * uint64.  The ramp repeats every 65536 pixels, so a frame is built by
 * memcpy() from a precomputed ramp of 65536 + min(W * H, 65536) values,
 * starting at offset (7 * i) mod 65536, once per 65536 pixels: generation
 * runs at memcpy speed whatever the frame size.  The ramp (up to 256 KiB)
 * is written a page at a time when a frame first needs that page: a short
 * run does not pay for the whole of it (page faults cost ~2.5 us each on
 * a VM; BENCHMARKS.md, "Point 4").
 */
static void ramp_ensure(struct sim *s, size_t from, size_t len)
{
	for (size_t pg = from / SIM_RAMP_PAGE; pg * SIM_RAMP_PAGE < from + len; pg++) {
		size_t end = (pg + 1) * SIM_RAMP_PAGE;

		if (s->pattern_filled & (1ull << pg))
			continue;
		if (end > s->pattern_bytes)
			end = s->pattern_bytes;
		for (size_t b = pg * SIM_RAMP_PAGE; b < end; b += 2)
			put_le16(s->pattern + b, (uint16_t)(b / 2));
		s->pattern_filled |= 1ull << pg;
	}
}

static void camera_fill(struct sim *s, uint8_t *dst, uint64_t first, size_t n)
{
	const size_t period = SIM_CAM_PERIOD * 2; /* bytes */

	for (size_t f = 0; f < n; f++, dst += s->frame_bytes) {
		uint64_t i = first + f;
		size_t off = (size_t)((i * SIM_CAM_STEP) % SIM_CAM_PERIOD) * 2;
		size_t len = s->frame_bytes < period ? s->frame_bytes : period;

		ramp_ensure(s, off, len);
		for (size_t done = 0; done < s->frame_bytes; done += period) {
			len = s->frame_bytes - done;
			memcpy(dst + done, s->pattern + off, len < period ? len : period);
		}
		put_le64(dst, i);
	}
}

static int camera_open(struct labdaq_device *dev, struct sim *s, struct ldq_uri *u)
{
	uint64_t w = 640, h = 480;
	size_t npat;
	int ret;

	ret = ldq_uri_get_u64(u, "width", 1, SIM_CAM_MAX_SIDE, &w);
	if (!ret)
		ret = ldq_uri_get_u64(u, "height", 1, SIM_CAM_MAX_SIDE, &h);
	if (ret)
		return ret;
	if (w * h * 2 < 8) {
		ldq_err("sim:camera: a %llux%llu frame is smaller than its 8-byte frame index",
			(unsigned long long)w, (unsigned long long)h);
		return -EINVAL;
	}
	dev->kind = LABDAQ_KIND_FRAMES;
	dev->width = (uint32_t)w;
	dev->height = (uint32_t)h;
	dev->frame_dtype = LABDAQ_DTYPE_UINT16;
	s->frame_bytes = (size_t)(w * h * 2);

	npat = SIM_CAM_PERIOD + (w * h < SIM_CAM_PERIOD ? (size_t)(w * h) : SIM_CAM_PERIOD);
	/* Filled by ramp_ensure(), at most 64 pages (pattern_filled). */
	s->pattern_bytes = npat * 2;
	s->pattern = malloc(s->pattern_bytes);
	if (!s->pattern)
		return -ENOMEM;

	snprintf(dev->description, sizeof(dev->description),
		 "simulated camera, %llux%llu uint16 frames, a moving ramp with the frame index",
		 (unsigned long long)w, (unsigned long long)h);
	/* One channel describes the pixel, for the metadata. */
	return ldq_device_add_channel(dev, "intensity", "", 1.0, LABDAQ_DTYPE_UINT16, 0);
}

/* ---- sim:adc ----
 *
 * Channel c (voltage<c>) at sample s, raw int16, little-endian:
 *
 *	raw(s, c) = (int16)((s * (2c + 1) + 1000 * c) mod 65536)
 *
 * a sawtooth whose odd step makes each channel take all 65536 values, each
 * once, in any 65536 consecutive samples.  Volts = raw * 0.001.
 */
static inline uint16_t adc_raw(uint64_t s, unsigned int c)
{
	return (uint16_t)(s * (2u * c + 1u) + 1000u * c);
}

static void adc_fill(struct sim *s, uint8_t *dst, uint64_t first, size_t n)
{
	for (size_t k = 0; k < n; k++)
		for (unsigned int j = 0; j < s->nsel; j++, dst += 2)
			put_le16(dst, adc_raw(first + k, s->sel[j]));
}

static double adc_sample(const struct sim *s, const struct labdaq_device *dev,
			 unsigned int chan, uint64_t k)
{
	(void)s;
	(void)dev;
	return ((int16_t)adc_raw(k, chan) + dev->chans[chan].offset) * SIM_ADC_SCALE;
}

static int adc_open(struct labdaq_device *dev, struct sim *s, struct ldq_uri *u)
{
	uint64_t n = 4;
	double offset = 0;
	int ret;

	(void)s;
	ret = ldq_uri_get_u64(u, "channels", 1, SIM_ADC_MAX_CHANNELS, &n);
	/* An offset in raw units, as IIO devices have: the data stay raw. */
	if (!ret)
		ret = ldq_uri_get_double(u, "offset", -32768, 32767, &offset);
	if (ret)
		return ret;
	dev->kind = LABDAQ_KIND_SAMPLES;
	for (unsigned int c = 0; c < n; c++) {
		char name[32];

		snprintf(name, sizeof(name), "voltage%u", c);
		ret = ldq_device_add_channel(dev, name, "V", SIM_ADC_SCALE, LABDAQ_DTYPE_INT16, 0);
		if (ret)
			return ret;
		dev->chans[c].offset = offset;
	}
	snprintf(dev->description, sizeof(dev->description),
		 "simulated ADC, %llu int16 channels of sawtooth patterns, 1 mV/LSB",
		 (unsigned long long)n);
	return 0;
}

/* ---- sim:ohm ----
 *
 * A resistor R with a voltage source across it (the output voltage0), a
 * voltmeter (input voltage0) and an ammeter (input current0).  At item k,
 * with z_v and z_i two independent standard normal numbers:
 *
 *	voltage0 = V + noise * z_v                    counts of 1 uV
 *	current0 = (V + noise * z_i) / R              counts of 1 nA
 *
 * rounded with floor(x + 0.5) and saturated to int32.  z_v and z_i are the
 * Box-Muller pair from draws 2k and 2k+1 of splitmix64 seeded with @seed:
 * the noise is a pure function of (seed, k), reproducible, and a skipped
 * item skips its noise.
 */
static uint64_t splitmix64(uint64_t seed, uint64_t n)
{
	uint64_t z = seed + (n + 1) * 0x9e3779b97f4a7c15ull;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int32_t sat_round_i32(double x)
{
	x = floor(x + 0.5);
	if (x >= 2147483647.0)
		return INT32_MAX;
	if (x <= -2147483648.0)
		return INT32_MIN;
	return (int32_t)x;
}

static void ohm_raw(const struct sim *s, uint64_t k, int32_t *rv, int32_t *ri)
{
	double zv = 0, zi = 0;

	if (s->noise > 0) {
		/* u1 in (0, 1], u2 in [0, 1), 53 bits each */
		double u1 = (double)((splitmix64(s->seed, 2 * k) >> 11) + 1) * 0x1p-53;
		double u2 = (double)(splitmix64(s->seed, 2 * k + 1) >> 11) * 0x1p-53;
		double rad = sqrt(-2.0 * log(u1));
		double a = 6.283185307179586 * u2;

		zv = rad * cos(a);
		zi = rad * sin(a);
	}
	*rv = sat_round_i32((s->applied + s->noise * zv) * 1e6);
	*ri = sat_round_i32((s->applied + s->noise * zi) / s->r * 1e9);
}

static void ohm_fill(struct sim *s, uint8_t *dst, uint64_t first, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		int32_t raw[2];

		ohm_raw(s, first + k, &raw[SIM_OHM_IN_V], &raw[SIM_OHM_IN_I]);
		for (unsigned int j = 0; j < s->nsel; j++, dst += 4)
			put_le32(dst, (uint32_t)raw[s->sel[j]]);
	}
}

static double ohm_sample(const struct sim *s, const struct labdaq_device *dev,
			 unsigned int chan, uint64_t k)
{
	int32_t raw[2];

	if (chan == SIM_OHM_OUT_V)
		return s->applied;
	ohm_raw(s, k, &raw[SIM_OHM_IN_V], &raw[SIM_OHM_IN_I]);
	return raw[chan] * dev->chans[chan].scale;
}

static int ohm_open(struct labdaq_device *dev, struct sim *s, struct ldq_uri *u)
{
	int ret;

	s->r = 1000.0;
	s->noise = 0.001;
	ret = ldq_uri_get_double(u, "r", 1e-3, 1e12, &s->r);
	if (!ret)
		ret = ldq_uri_get_double(u, "noise", 0.0, SIM_OHM_V_MAX, &s->noise);
	if (ret)
		return ret;
	dev->kind = LABDAQ_KIND_SAMPLES;
	/* The order fixes SIM_OHM_IN_V, SIM_OHM_IN_I and SIM_OHM_OUT_V. */
	ret = ldq_device_add_channel(dev, "voltage0", "V", SIM_OHM_V_SCALE, LABDAQ_DTYPE_INT32, 0);
	if (!ret)
		ret = ldq_device_add_channel(dev, "current0", "A", SIM_OHM_I_SCALE,
					     LABDAQ_DTYPE_INT32, 0);
	if (!ret)
		ret = ldq_device_add_channel(dev, "voltage0", "V", SIM_OHM_V_SCALE,
					     LABDAQ_DTYPE_INT32, 1);
	if (ret)
		return ret;
	dev->chans[SIM_OHM_OUT_V].min = -SIM_OHM_V_MAX;
	dev->chans[SIM_OHM_OUT_V].max = SIM_OHM_V_MAX;
	snprintf(dev->description, sizeof(dev->description),
		 "simulated Ohm's-law rig, R = %g ohm, noise %g V rms, output +-%g V",
		 s->r, s->noise, SIM_OHM_V_MAX);
	return 0;
}

/* ---- the model table ---- */

static const struct sim_model sim_models[] = {
	{
		.id = SIM_CAMERA,
		.name = "camera",
		.summary = "simulated camera: uint16 frames, a moving ramp with the frame index",
		.open = camera_open,
		.fill = camera_fill,
	},
	{
		.id = SIM_ADC,
		.name = "adc",
		.summary = "simulated ADC: int16 channels voltage0.., sawtooth patterns",
		.open = adc_open,
		.fill = adc_fill,
		.sample = adc_sample,
	},
	{
		.id = SIM_OHM,
		.name = "ohm",
		.summary = "simulated Ohm's-law rig: output voltage0, inputs voltage0 and current0",
		.open = ohm_open,
		.fill = ohm_fill,
		.sample = ohm_sample,
	},
};

#define SIM_KNOWN "camera, adc, ohm"
#define SIM_KEYS_HELP \
	"camera: width, height; adc: channels, offset; ohm: r, noise; every device: " \
	"seed, stall_after, stall_ms, fail_after, fail_start, overrun_after, overrun_items"

/* ---- open, close, list ---- */

static void sim_free(struct sim *s)
{
	if (!s)
		return;
	if (s->efd >= 0)
		close(s->efd);
	free(s->pattern);
	free(s);
}

/* The knobs every model takes. */
static int sim_parse_common(struct sim *s, struct ldq_uri *u)
{
	bool stall_ms_given = ldq_uri_get_str(u, "stall_ms");
	bool items_given = ldq_uri_get_str(u, "overrun_items");
	int ret;

	s->stall_after = SIM_NEVER;
	s->stall_ms = 1000;
	s->fail_after = SIM_NEVER;
	s->overrun_after = SIM_NEVER;
	s->overrun_items = 0;
	s->seed = 1;

	ret = ldq_uri_get_u64(u, "seed", 0, UINT64_MAX, &s->seed);
	if (!ret)
		ret = ldq_uri_get_u64(u, "stall_after", 0, UINT64_MAX - 1, &s->stall_after);
	if (!ret)
		ret = ldq_uri_get_u64(u, "stall_ms", 1, 3600000, &s->stall_ms);
	if (!ret)
		ret = ldq_uri_get_u64(u, "fail_after", 0, UINT64_MAX - 1, &s->fail_after);
	if (!ret)
		ret = ldq_uri_get_u64(u, "fail_start", 0, 1, &s->fail_start);
	if (!ret)
		ret = ldq_uri_get_u64(u, "overrun_after", 0, UINT64_MAX - 1, &s->overrun_after);
	if (!ret)
		ret = ldq_uri_get_u64(u, "overrun_items", 1, 1ull << 40, &s->overrun_items);
	if (ret)
		return ret;
	if (stall_ms_given && s->stall_after == SIM_NEVER) {
		ldq_err("sim:%s: stall_ms needs stall_after", u->path);
		return -EINVAL;
	}
	if (items_given && s->overrun_after == SIM_NEVER) {
		ldq_err("sim:%s: overrun_items needs overrun_after", u->path);
		return -EINVAL;
	}
	return 0;
}

static int sim_open(struct labdaq_device *dev, struct ldq_uri *u)
{
	const struct sim_model *m = NULL;
	struct sim *s;
	int ret;

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(sim_models); i++)
		if (!strcmp(u->path, sim_models[i].name))
			m = &sim_models[i];
	if (!m) {
		ldq_err("sim: no device '%s' (known: " SIM_KNOWN ")", u->path);
		return -ENODEV;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->model = m;
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->efd < 0) {
		ret = -errno;
		ldq_err("sim:%s: eventfd: %s", m->name, strerror(errno));
		goto fail;
	}
	atomic_init(&s->cancelled, false);
	ret = sim_parse_common(s, u);
	if (ret)
		goto fail;
	ret = m->open(dev, s, u);
	if (ret)
		goto fail;
	dev->priv = s;
	return 0;
fail:
	sim_free(s);
	return ret;
}

static void sim_close(struct labdaq_device *dev)
{
	sim_free(dev->priv);
	dev->priv = NULL;
}

static int sim_list(labdaq_list_fn fn, void *user)
{
	int n = 0;

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(sim_models); i++) {
		char uri[32];

		snprintf(uri, sizeof(uri), "sim:%s", sim_models[i].name);
		n++;
		if (fn(uri, sim_models[i].summary, user))
			break;
	}
	return n;
}

/* ---- streaming ---- */

static int sim_stream_start(struct labdaq_device *dev, const struct ldq_stream_params *p)
{
	struct sim *s = dev->priv;
	uint64_t drain;
	size_t want;

	if (!(p->rate_hz >= 0) || !isfinite(p->rate_hz) || !p->block_items) {
		ldq_err("sim:%s: bad stream parameters (rate %g, block of %zu items)",
			s->model->name, p->rate_hz, p->block_items);
		return -EINVAL;
	}
	if (s->fail_start) {
		ldq_err("sim:%s: the device refused to start streaming (fail_start)",
			s->model->name);
		return -EIO;
	}
	s->nsel = 0;
	if (dev->kind == LABDAQ_KIND_FRAMES) {
		want = s->frame_bytes;
	} else {
		if (!p->nchans || p->nchans > SIM_MAX_INPUTS) {
			ldq_err("sim:%s: %u channels enabled", s->model->name, p->nchans);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < p->nchans; j++) {
			unsigned int c = p->chans[j];

			if (c >= dev->nchans || dev->chans[c].output) {
				ldq_err("sim:%s: channel %u is not an input", s->model->name, c);
				return -EINVAL;
			}
			s->sel[j] = c;
		}
		s->nsel = p->nchans;
		want = s->nsel * labdaq_dtype_size(dev->chans[s->sel[0]].dtype);
	}
	if (p->item_bytes != want) {
		ldq_err("sim:%s: an item is %zu bytes, not %zu", s->model->name, want,
			p->item_bytes);
		return -EINVAL;
	}
	s->rate_hz = p->rate_hz;
	s->block_items = p->block_items;
	s->next = 0;
	s->blocks = 0;
	s->stalled = false;
	s->overrun_done = false;
	s->fail_logged = false;

	/* Forget an earlier cancel: first the flag, then the wake-up. */
	atomic_store_explicit(&s->cancelled, false, memory_order_release);
	while (read(s->efd, &drain, sizeof(drain)) > 0)
		;
	s->streaming = true;
	s->t0_ns = ldq_now_ns();
	return 0;
}

/* When item @k is due; saturates far in the future. */
static uint64_t sim_due_ns(const struct sim *s, uint64_t k)
{
	double d = ceil((double)k * 1e9 / s->rate_hz);

	if (d >= 1e18)
		return UINT64_MAX;
	return sat_add(s->t0_ns, (uint64_t)d);
}

/* How many items (from index 0) are due at @now. */
static uint64_t sim_items_due(const struct sim *s, uint64_t now)
{
	double d;

	if (now < s->t0_ns)
		return 0;
	d = floor((double)(now - s->t0_ns) * s->rate_hz / 1e9);
	if (d >= 1.8e19)
		return UINT64_MAX;
	return (uint64_t)d + 1;
}

/*
 * Sleep until @deadline (CLOCK_MONOTONIC, ns) unless cancelled first.
 * Returns 0, -ECANCELED, or -errno from ppoll().
 */
static int sim_wait_until(struct sim *s, uint64_t deadline)
{
	struct pollfd pfd = { .fd = s->efd, .events = POLLIN };

	for (;;) {
		struct timespec ts;
		uint64_t now, left;
		int r;

		/* Pairs with the store-release in sim_stream_cancel(). */
		if (atomic_load_explicit(&s->cancelled, memory_order_acquire))
			return -ECANCELED;
		now = ldq_now_ns();
		if (now >= deadline)
			return 0;
		left = deadline - now;
		ts.tv_sec = (time_t)(left / 1000000000u);
		ts.tv_nsec = (long)(left % 1000000000u);
		r = ppoll(&pfd, 1, &ts, NULL);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0 && !atomic_load_explicit(&s->cancelled, memory_order_acquire)) {
			uint64_t drain;

			/*
			 * A stale wake-up from a cancel that raced with
			 * stream_start(): consume it rather than spin.
			 */
			if (read(s->efd, &drain, sizeof(drain)) < 0 && errno != EAGAIN)
				return -errno;
		}
	}
}

/*
 * Fill up to @items items.  The order of events in one call: a cancel wins;
 * then fail_after (the device is gone for good, until the next
 * stream_start()); then stall_after (one stall of stall_ms); then
 * overrun_after (the items are skipped and reported in *@lost); then the
 * pacing wait; then the generation.
 */
static long sim_stream_read(struct labdaq_device *dev, void *dst, size_t items, uint64_t *lost)
{
	struct sim *s = dev->priv;
	uint64_t first, n, skipped = 0;
	int ret;

	if (lost)
		*lost = 0;
	if (atomic_load_explicit(&s->cancelled, memory_order_acquire))
		return -ECANCELED;
	if (!s->streaming || !items)
		return -EINVAL;

	if (s->blocks >= s->fail_after) {
		if (!s->fail_logged)
			ldq_err("sim:%s: device lost after %llu blocks (fail_after)",
				s->model->name, (unsigned long long)s->blocks);
		s->fail_logged = true;
		return -ENODEV;
	}
	if (!s->stalled && s->blocks >= s->stall_after) {
		s->stalled = true;
		ldq_dbg("sim:%s: stalling %llu ms after %llu blocks", s->model->name,
			(unsigned long long)s->stall_ms, (unsigned long long)s->blocks);
		ret = sim_wait_until(s, sat_add(ldq_now_ns(), s->stall_ms * 1000000u));
		if (ret)
			return ret;
	}
	if (!s->overrun_done && s->blocks >= s->overrun_after) {
		skipped = s->overrun_items ? s->overrun_items : s->block_items;
		s->overrun_done = true;
		ldq_warn("sim:%s: overrun after %llu blocks: %llu items lost", s->model->name,
			 (unsigned long long)s->blocks, (unsigned long long)skipped);
		s->next += skipped;
	}

	first = s->next;
	n = items;
	if (s->rate_hz > 0) {
		uint64_t deadline = sim_due_ns(s, first + items - 1);
		uint64_t soon = sat_add(sim_due_ns(s, first), SIM_MAX_LATENCY_NS);
		uint64_t due;

		ret = sim_wait_until(s, deadline < soon ? deadline : soon);
		if (ret)
			return ret;
		due = sim_items_due(s, ldq_now_ns());
		n = due > first ? due - first : 1;
		if (n > items)
			n = items;
	}
	s->model->fill(s, dst, first, (size_t)n);
	s->next = first + n;
	s->blocks++;
	/* reported with the data that follows the gap */
	if (lost)
		*lost = skipped;
	return (long)n;
}

static void sim_stream_cancel(struct labdaq_device *dev)
{
	struct sim *s = dev->priv;
	uint64_t one = 1;

	/* Pairs with the load-acquire in sim_wait_until(). */
	atomic_store_explicit(&s->cancelled, true, memory_order_release);
	/*
	 * Wake a reader in ppoll().  A failure can only be EAGAIN (the
	 * counter is full), which leaves the fd readable: nothing to do.
	 */
	if (write(s->efd, &one, sizeof(one)) < 0)
		return;
}

static void sim_stream_stop(struct labdaq_device *dev)
{
	struct sim *s = dev->priv;

	s->streaming = false;
}

/* ---- step scans ---- */

static int sim_write_output(struct labdaq_device *dev, unsigned int chan, double value)
{
	struct sim *s = dev->priv;

	if (s->model->id != SIM_OHM)
		return -EOPNOTSUPP;
	if (chan != SIM_OHM_OUT_V) {
		ldq_err("sim:%s: channel %u is not an output", s->model->name, chan);
		return -EINVAL;
	}
	if (!isfinite(value))
		return -EINVAL;
	if (fabs(value) > SIM_OHM_V_MAX) {
		ldq_err("sim:%s: %g V is out of the output's range [-%g, %g] V", s->model->name,
			value, SIM_OHM_V_MAX, SIM_OHM_V_MAX);
		return -ERANGE;
	}
	s->applied_raw = sat_round_i32(value / SIM_OHM_V_SCALE);
	s->applied = s->applied_raw * SIM_OHM_V_SCALE;
	return 0;
}

/*
 * Read one sample of the channels @chans: the k-th read_inputs() call
 * since open returns item k of the model's formula (independently of
 * streaming).  An output channel reads back its set value.
 */
static int sim_read_inputs(struct labdaq_device *dev, const unsigned int *chans, unsigned int n,
			   double *values)
{
	struct sim *s = dev->priv;

	if (!s->model->sample)
		return -EOPNOTSUPP;
	for (unsigned int j = 0; j < n; j++) {
		if (chans[j] >= dev->nchans) {
			ldq_err("sim:%s: no channel %u", s->model->name, chans[j]);
			return -EINVAL;
		}
	}
	/* fail_after counts a sweep's reads as it counts a stream's blocks. */
	if (s->step >= s->fail_after) {
		ldq_err("sim:%s: device lost after %llu reads (fail_after)", s->model->name,
			(unsigned long long)s->step);
		return -ENODEV;
	}
	for (unsigned int j = 0; j < n; j++)
		values[j] = s->model->sample(s, dev, chans[j], s->step);
	s->step++;
	return 0;
}

/* ---- attributes: the simulated devices' parameters ----
 *
 * They live in the labdaq_device that opened the device (a simulation has
 * no state of its own beyond it): `labdaq attr` shows them; setting one
 * matters for a run of the same process (acquire/sweep --attr).
 */

struct sim_attr {
	const char *name;
	int model;                 /* enum sim_model_id, or -1: every device */
	const char *available;     /* what it takes, NULL: read-only */
	double min, max;
};

static const struct sim_attr sim_attrs[] = {
	{ "seed", -1, NULL, 0, 0 },
	{ "width", SIM_CAMERA, NULL, 0, 0 },
	{ "height", SIM_CAMERA, NULL, 0, 0 },
	{ "channels", SIM_ADC, NULL, 0, 0 },
	{ "offset", SIM_ADC, "[-32768 1 32767]", -32768, 32767 },
	{ "r", SIM_OHM, "[0.001 .. 1e12] ohm", 1e-3, 1e12 },
	{ "noise", SIM_OHM, "[0 .. 10] V rms", 0, SIM_OHM_V_MAX },
	{ "out_voltage0", SIM_OHM, "[-10 .. 10] V", -SIM_OHM_V_MAX, SIM_OHM_V_MAX },
};

static const struct sim_attr *sim_attr_find(const struct labdaq_device *dev, const char *name)
{
	const struct sim *s = dev->priv;

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(sim_attrs); i++)
		if ((sim_attrs[i].model < 0 || sim_attrs[i].model == (int)s->model->id) &&
		    !strcmp(sim_attrs[i].name, name))
			return &sim_attrs[i];
	return NULL;
}

static int sim_attr_value(const struct labdaq_device *dev, const struct sim_attr *a, char *buf,
			  size_t len)
{
	const struct sim *s = dev->priv;
	double v;

	if (!strcmp(a->name, "seed"))
		v = (double)s->seed;
	else if (!strcmp(a->name, "width"))
		v = dev->width;
	else if (!strcmp(a->name, "height"))
		v = dev->height;
	else if (!strcmp(a->name, "channels"))
		v = dev->nchans;
	else if (!strcmp(a->name, "offset"))
		v = dev->chans[0].offset;
	else if (!strcmp(a->name, "r"))
		v = s->r;
	else if (!strcmp(a->name, "noise"))
		v = s->noise;
	else
		v = s->applied;
	return snprintf(buf, len, "%.17g", v) < 0 ? -EIO : (int)strlen(buf);
}

static int sim_attr_list(struct labdaq_device *dev, labdaq_attr_fn fn, void *user)
{
	const struct sim *s = dev->priv;
	int n = 0;

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(sim_attrs); i++) {
		const struct sim_attr *a = &sim_attrs[i];
		struct labdaq_attr la;
		char buf[64];

		if (a->model >= 0 && a->model != (int)s->model->id)
			continue;
		sim_attr_value(dev, a, buf, sizeof(buf));
		la = (struct labdaq_attr){ .name = a->name, .value = buf,
					   .available = a->available };
		n++;
		if (fn(&la, user))
			break;
	}
	return n;
}

static int sim_attr_read(struct labdaq_device *dev, const char *name, char *buf, size_t len)
{
	const struct sim_attr *a = sim_attr_find(dev, name);
	const struct sim *s = dev->priv;

	if (!a) {
		ldq_err("sim:%s has no attribute '%s' (see its list: labdaq_device_attrs())",
			s->model->name, name);
		return -ENOENT;
	}
	return sim_attr_value(dev, a, buf, len);
}

static int sim_attr_write(struct labdaq_device *dev, const char *name, const char *value)
{
	const struct sim_attr *a = sim_attr_find(dev, name);
	struct sim *s = dev->priv;
	char *end;
	double v;

	if (!a)
		return sim_attr_read(dev, name, NULL, 0);
	if (!a->available) {
		ldq_err("sim:%s: '%s' is read-only (a URI key: set it when opening)",
			s->model->name, name);
		return -EACCES;
	}
	errno = 0;
	v = strtod(value, &end);
	if (end == value || *end || errno || !(v >= a->min && v <= a->max)) {
		ldq_err("sim:%s: '%s' for %s: it takes %s", s->model->name, value, name,
			a->available);
		return end == value || *end || errno ? -EINVAL : -ERANGE;
	}
	if (!strcmp(name, "offset")) {
		if (v != floor(v)) {
			ldq_err("sim:%s: the offset is a whole number of counts", s->model->name);
			return -EINVAL;
		}
		for (unsigned int c = 0; c < dev->nchans; c++)
			dev->chans[c].offset = v;
	} else if (!strcmp(name, "r")) {
		s->r = v;
	} else if (!strcmp(name, "noise")) {
		s->noise = v;
	} else {
		return sim_write_output(dev, SIM_OHM_OUT_V, v);
	}
	return 0;
}

const struct ldq_backend ldq_backend_sim = {
	.name = "sim",
	.uris = "sim:camera?width=W&height=H, sim:adc?channels=N, sim:ohm?r=OHMS (simulated, "
		"no hardware needed)",
	.keys_help = SIM_KEYS_HELP,
	.open = sim_open,
	.close = sim_close,
	.list = sim_list,
	.stream_start = sim_stream_start,
	.stream_read = sim_stream_read,
	.stream_cancel = sim_stream_cancel,
	.stream_stop = sim_stream_stop,
	.write_output = sim_write_output,
	.read_inputs = sim_read_inputs,
	.attr_list = sim_attr_list,
	.attr_read = sim_attr_read,
	.attr_write = sim_attr_write,
};
