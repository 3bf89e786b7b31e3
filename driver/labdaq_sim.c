// SPDX-License-Identifier: GPL-2.0
/*
 * labdaq_sim - a simulated Ohm's-law rig as an IIO device
 *
 * The rig is a DAC that applies a voltage across a resistor, and two ADC
 * channels that measure the voltage and the current through it:
 *
 *   out_voltage0_raw   applied voltage, in microvolts (the DAC)
 *   in_voltage0_raw    measured voltage: applied + noise, in microvolts
 *   in_current0_raw    measured current: applied / R + noise, in nanoamps
 *
 * The scale attributes turn these into the IIO units (millivolts and
 * milliamps).  Buffered capture is timed by an hrtimer in the driver, because
 * the kernels this runs on often have no IIO software trigger.  In "counter"
 * mode every scan carries its sequence number instead of a measurement, so a
 * consumer can prove that no scan was lost on the way to it.
 *
 * There is no hardware: the module registers its own platform device.
 * docs/driver.md describes every attribute.
 */

#include <linux/device.h>
#include <linux/hrtimer.h>
#include <linux/ktime.h>
#include <linux/math.h>
#include <linux/math64.h>
#include <linux/minmax.h>
#include <linux/module.h>
#include <linux/platform_device.h>
#include <linux/prandom.h>
#include <linux/spinlock.h>
#include <linux/sysfs.h>

#include <linux/iio/buffer.h>
#include <linux/iio/buffer_impl.h>
#include <linux/iio/iio.h>
#include <linux/iio/kfifo_buf.h>
#include <linux/iio/sysfs.h>

#define LABDAQ_SIM_NAME			"labdaq-sim"

/* DAC range and default, microvolts */
#define LABDAQ_SIM_DAC_MIN_UV		(-10000000)
#define LABDAQ_SIM_DAC_MAX_UV		10000000
/* Resistor range and default, ohms: 10 V / 10 ohm = 1 A still fits in nA */
#define LABDAQ_SIM_R_MIN_OHMS		10
#define LABDAQ_SIM_R_MAX_OHMS		100000000
#define LABDAQ_SIM_R_DEFAULT_OHMS	1000
/* Peak noise amplitude limits and defaults, microvolts and nanoamps */
#define LABDAQ_SIM_NOISE_MAX		1000000
#define LABDAQ_SIM_NOISE_UV_DEFAULT	1000
#define LABDAQ_SIM_NOISE_NA_DEFAULT	1000
#define LABDAQ_SIM_SEED_DEFAULT		1
/* Sampling frequency range and default, hertz */
#define LABDAQ_SIM_FREQ_MIN_HZ		1
#define LABDAQ_SIM_FREQ_MAX_HZ		200000
#define LABDAQ_SIM_FREQ_DEFAULT_HZ	1000

/*
 * The timer does not fire once per scan at high rates: it fires at most every
 * LABDAQ_SIM_TICK_MIN_NS and pushes every scan that has fallen due since the
 * last tick, and it fires at least every LABDAQ_SIM_TICK_MAX_NS, so that a
 * new sampling frequency takes effect soon even after a slow one.
 */
#define LABDAQ_SIM_TICK_MIN_NS		(1 * NSEC_PER_MSEC)
#define LABDAQ_SIM_TICK_MAX_NS		(100 * NSEC_PER_MSEC)
/*
 * At most this many scans are pushed in one tick.  A tick that finds more
 * due (the CPU was held up far longer than a tick) skips the rest: those
 * scans are never sampled, which leaves no gap in the counter and shows in
 * the timestamps, as a slower rate.
 */
#define LABDAQ_SIM_MAX_BURST		4096
/*
 * Longest kernel buffer, in scans: 2 MiB at 16 bytes a scan.  The kfifo
 * buffer of 6.1 allocates its FIFO with one kmalloc(), and a buffer/length
 * beyond what the page allocator can give in one piece makes it WARN.
 */
#define LABDAQ_SIM_MAX_BUFFER_SCANS	131072U

enum labdaq_sim_chan {
	LABDAQ_SIM_CHAN_OUT_VOLTAGE,
	LABDAQ_SIM_CHAN_IN_VOLTAGE,
	LABDAQ_SIM_CHAN_IN_CURRENT,
};

enum labdaq_sim_mode {
	LABDAQ_SIM_MODE_OHM,
	LABDAQ_SIM_MODE_COUNTER,
};

static const char * const labdaq_sim_mode_names[] = {
	[LABDAQ_SIM_MODE_OHM] = "ohm",
	[LABDAQ_SIM_MODE_COUNTER] = "counter",
};

/**
 * struct labdaq_sim - state of the simulated rig
 * @indio_dev:		the IIO device this is the private part of
 * @timer:		paces buffered capture; runs in softirq context
 * @lock:		protects every field below it
 * @dac_uv:		applied voltage, microvolts
 * @resistance_ohms:	simulated resistor, ohms
 * @noise_uv:		peak amplitude of the voltage noise, microvolts
 * @noise_na:		peak amplitude of the current noise, nanoamps
 * @seed:		last seed written to noise_seed
 * @rnd:		noise generator state, deterministic for a given seed
 * @mode:		what the input channels carry
 * @freq_hz:		sampling frequency of buffered capture, as written
 * @seq:		sequence number of the next scan, from 0 at buffer enable
 * @grid_hz:		the frequency of the running capture's schedule: the
 *			tick adopts @freq_hz when they differ
 * @grid_start:		when scan 0 of the schedule is due (CLOCK_MONOTONIC)
 * @grid_n:		the schedule's next scan, due at @grid_start +
 *			@grid_n * NSEC_PER_SEC / @grid_hz; always below
 *			@grid_hz: @grid_start moves on by one second every
 *			@grid_hz scans, so the product fits in 64 bits and
 *			the schedule never drifts
 * @clock_offset:	the device's timestamp clock minus CLOCK_MONOTONIC,
 *			taken once at buffer enable
 * @overruns:		scans the buffer had no room for, since buffer enable
 * @scan:		one scan as pushed to the buffer, used by the timer only:
 *			in_voltage0, in_current0, then the timestamp, which
 *			iio_push_to_buffers_with_timestamp() writes to the
 *			last s64 (8-byte aligned on every architecture)
 * @kfifo_access:	the kfifo buffer's operations, with set_length wrapped
 * @kfifo_set_length:	the kfifo buffer's own set_length
 */
struct labdaq_sim {
	struct iio_dev *indio_dev;
	struct hrtimer timer;
	/* taken with _bh in process context: the timer runs in softirq */
	spinlock_t lock;
	s32 dac_uv;
	u32 resistance_ohms;
	u32 noise_uv;
	u32 noise_na;
	u32 seed;
	struct rnd_state rnd;
	enum labdaq_sim_mode mode;
	u32 freq_hz;
	u32 seq;
	u32 grid_hz;
	ktime_t grid_start;
	u32 grid_n;
	s64 clock_offset;
	u64 overruns;
	struct {
		s32 voltage_uv;
		s32 current_na;
		s64 timestamp;
	} scan __aligned(8);
	struct iio_buffer_access_funcs kfifo_access;
	int (*kfifo_set_length)(struct iio_buffer *buffer, unsigned int length);
};

static const struct iio_chan_spec labdaq_sim_channels[] = {
	{
		.type = IIO_VOLTAGE,
		.output = 1,
		.indexed = 1,
		.channel = 0,
		.address = LABDAQ_SIM_CHAN_OUT_VOLTAGE,
		.info_mask_separate = BIT(IIO_CHAN_INFO_RAW) |
				      BIT(IIO_CHAN_INFO_SCALE),
		.info_mask_separate_available = BIT(IIO_CHAN_INFO_RAW),
		.info_mask_shared_by_all = BIT(IIO_CHAN_INFO_SAMP_FREQ),
		.info_mask_shared_by_all_available =
			BIT(IIO_CHAN_INFO_SAMP_FREQ),
		.scan_index = -1,
	},
	{
		.type = IIO_VOLTAGE,
		.indexed = 1,
		.channel = 0,
		.address = LABDAQ_SIM_CHAN_IN_VOLTAGE,
		.info_mask_separate = BIT(IIO_CHAN_INFO_RAW) |
				      BIT(IIO_CHAN_INFO_SCALE),
		.info_mask_shared_by_all = BIT(IIO_CHAN_INFO_SAMP_FREQ),
		.info_mask_shared_by_all_available =
			BIT(IIO_CHAN_INFO_SAMP_FREQ),
		.scan_index = 0,
		.scan_type = {
			.sign = 's',
			.realbits = 32,
			.storagebits = 32,
			.endianness = IIO_CPU,
		},
	},
	{
		.type = IIO_CURRENT,
		.indexed = 1,
		.channel = 0,
		.address = LABDAQ_SIM_CHAN_IN_CURRENT,
		.info_mask_separate = BIT(IIO_CHAN_INFO_RAW) |
				      BIT(IIO_CHAN_INFO_SCALE),
		.info_mask_shared_by_all = BIT(IIO_CHAN_INFO_SAMP_FREQ),
		.info_mask_shared_by_all_available =
			BIT(IIO_CHAN_INFO_SAMP_FREQ),
		.scan_index = 1,
		.scan_type = {
			.sign = 's',
			.realbits = 32,
			.storagebits = 32,
			.endianness = IIO_CPU,
		},
	},
	IIO_CHAN_SOFT_TIMESTAMP(2),
};

/*
 * The driver always samples both inputs; the IIO core hands each buffer the
 * channels it asked for (demux).
 */
static const unsigned long labdaq_sim_scan_masks[] = {
	BIT(0) | BIT(1),
	0
};

static const int labdaq_sim_dac_range[] = {
	LABDAQ_SIM_DAC_MIN_UV, 1, LABDAQ_SIM_DAC_MAX_UV
};

static const int labdaq_sim_freq_range[] = {
	LABDAQ_SIM_FREQ_MIN_HZ, 1, LABDAQ_SIM_FREQ_MAX_HZ
};

/* Uniform noise in [-amp, amp]; amp <= LABDAQ_SIM_NOISE_MAX. */
static s32 labdaq_sim_noise(struct labdaq_sim *st, u32 amp)
{
	u64 r = prandom_u32_state(&st->rnd);

	/* multiply-shift maps 32 random bits onto 2 * amp + 1 values */
	return (s32)((r * (2 * (u64)amp + 1)) >> 32) - (s32)amp;
}

/*
 * The schedule of buffered capture.  Scan k of a schedule is due at
 * grid_start + floor(k * NSEC_PER_SEC / grid_hz) ns, computed from the
 * schedule's start every time rather than by adding a rounded period, so
 * the scans are 1/f apart exactly on average (150 kHz: steps of 6666 and
 * 6667 ns, 150000 scans in exactly one second) and never drift.  The caller
 * holds @st->lock.
 */
static ktime_t labdaq_sim_due(const struct labdaq_sim *st)
{
	/* grid_n < grid_hz <= LABDAQ_SIM_FREQ_MAX_HZ: fits in 64 bits */
	return ktime_add_ns(st->grid_start,
			    div_u64((u64)st->grid_n * NSEC_PER_SEC,
				    st->grid_hz));
}

/* Move the schedule on by @scans scans, whole seconds into grid_start. */
static void labdaq_sim_advance(struct labdaq_sim *st, u64 scans)
{
	u32 rem;
	u64 secs = div_u64_rem(st->grid_n + scans, st->grid_hz, &rem);

	st->grid_start = ktime_add_ns(st->grid_start, secs * NSEC_PER_SEC);
	st->grid_n = rem;
}

/* Start a schedule at the current frequency whose scan 0 is due at @start. */
static void labdaq_sim_regrid(struct labdaq_sim *st, ktime_t start)
{
	st->grid_hz = st->freq_hz;
	st->grid_start = start;
	st->grid_n = 0;
}

/*
 * The frequency changed during a capture: the new schedule starts at the
 * old schedule's next scan, or one new period from @now if that scan is
 * further away (the frequency went up after a slow one).  Either is later
 * than every scan pushed so far, so the timestamps keep increasing.
 */
static void labdaq_sim_retime(struct labdaq_sim *st, ktime_t now)
{
	ktime_t next = labdaq_sim_due(st);
	ktime_t soonest = ktime_add_ns(now, div_u64(NSEC_PER_SEC,
						    st->freq_hz));

	labdaq_sim_regrid(st, ktime_before(next, soonest) ? next : soonest);
}

/*
 * A tick hit LABDAQ_SIM_MAX_BURST: skip the scans due up to @now.  They are
 * never sampled; the schedule stays on its grid, so the timestamps jump by
 * a whole number of scans.
 */
static void labdaq_sim_skip(struct labdaq_sim *st, ktime_t now)
{
	ktime_t due = labdaq_sim_due(st);

	if (ktime_after(due, now))
		return;
	labdaq_sim_advance(st, mul_u64_u32_div(ktime_to_ns(ktime_sub(now, due)),
					       st->grid_hz, NSEC_PER_SEC) + 1);
}

/**
 * labdaq_sim_sample() - sample both inputs once
 * @st:		the rig; the caller holds @st->lock
 * @voltage_uv:	in_voltage0, raw
 * @current_na:	in_current0, raw
 *
 * Ohm mode: the applied voltage and the current through the resistor, each
 * with its noise.  Counter mode: the scan's sequence number and its bitwise
 * complement.  Either way the sequence number advances.
 */
static void labdaq_sim_sample(struct labdaq_sim *st, s32 *voltage_uv,
			      s32 *current_na)
{
	s64 na;

	lockdep_assert_held(&st->lock);

	if (st->mode == LABDAQ_SIM_MODE_COUNTER) {
		*voltage_uv = (s32)st->seq;
		*current_na = (s32)~st->seq;
	} else {
		/* |uV| <= 1e7, R >= 10: |nA| <= 1e9, noise <= 1e6: fits */
		na = div_s64((s64)st->dac_uv * 1000, st->resistance_ohms);
		*voltage_uv = st->dac_uv + labdaq_sim_noise(st, st->noise_uv);
		*current_na = (s32)na + labdaq_sim_noise(st, st->noise_na);
	}
	st->seq++;
}

/*
 * The pacing timer.  It runs in softirq context (HRTIMER_MODE_REL_SOFT):
 * iio_push_to_buffers() into a kfifo buffer would be allowed in hard irq
 * context too (kfifo_in() with a single producer needs no lock and the
 * wakeup takes an irq-safe lock), but one tick pushes up to
 * LABDAQ_SIM_MAX_BURST scans, bulk work that does not belong in a hard irq.
 * On PREEMPT_RT the soft timer runs in a thread, where the wakeup's lock may
 * sleep.  The timer is the only producer of the buffer, as kfifo_in() needs.
 *
 * The lock is taken once per tick and held while the tick's scans are
 * sampled and pushed: a tick sees one configuration from its first scan to
 * its last, and process context waits at most one burst for the lock.
 * Pushing under it is allowed: iio_push_to_buffers() does not sleep.
 */
static enum hrtimer_restart labdaq_sim_tick(struct hrtimer *timer)
{
	struct labdaq_sim *st = container_of(timer, struct labdaq_sim, timer);
	struct iio_dev *indio_dev = st->indio_dev;
	ktime_t now = ktime_get();
	ktime_t due, expires, soonest, latest;
	unsigned int n;

	spin_lock(&st->lock);
	if (st->grid_hz != st->freq_hz)
		labdaq_sim_retime(st, now);
	for (n = 0; n < LABDAQ_SIM_MAX_BURST; n++) {
		due = labdaq_sim_due(st);
		if (ktime_after(due, now))
			break;
		labdaq_sim_advance(st, 1);
		labdaq_sim_sample(st, &st->scan.voltage_uv,
				  &st->scan.current_na);
		if (iio_push_to_buffers_with_timestamp(indio_dev, &st->scan,
						       ktime_to_ns(due) +
						       st->clock_offset))
			st->overruns++;
	}
	if (n == LABDAQ_SIM_MAX_BURST)
		labdaq_sim_skip(st, now);
	expires = labdaq_sim_due(st);
	spin_unlock(&st->lock);

	soonest = ktime_add_ns(now, LABDAQ_SIM_TICK_MIN_NS);
	latest = ktime_add_ns(now, LABDAQ_SIM_TICK_MAX_NS);
	hrtimer_set_expires(timer, clamp(expires, soonest, latest));

	return HRTIMER_RESTART;
}

/*
 * Runs after the buffer is enabled: the sequence restarts at 0 and a new
 * schedule starts one period from now.  The timestamps use the device's
 * clock (current_timestamp_clock, which the IIO core does not let change
 * while the buffer is enabled); its offset from CLOCK_MONOTONIC, which
 * paces the scans, is taken here once, so that every timestamp of the
 * capture is its scan's due time plus the same offset: a step of the
 * realtime clock during a capture does not make them go backwards.
 */
static int labdaq_sim_postenable(struct iio_dev *indio_dev)
{
	struct labdaq_sim *st = iio_priv(indio_dev);
	u64 period_ns;
	ktime_t now;

	spin_lock_bh(&st->lock);
	st->seq = 0;
	st->overruns = 0;
	now = ktime_get();
	if (iio_device_get_clock(indio_dev) == CLOCK_MONOTONIC)
		st->clock_offset = 0;
	else
		st->clock_offset = iio_get_time_ns(indio_dev) -
				   ktime_to_ns(now);
	period_ns = div_u64(NSEC_PER_SEC, st->freq_hz);
	labdaq_sim_regrid(st, ktime_add_ns(now, period_ns));
	spin_unlock_bh(&st->lock);

	hrtimer_start(&st->timer,
		      ns_to_ktime(min_t(u64, period_ns, LABDAQ_SIM_TICK_MAX_NS)),
		      HRTIMER_MODE_REL_SOFT);

	return 0;
}

/*
 * Runs before the buffer is disabled, also when the device goes away during
 * a capture (unbind, rmmod): hrtimer_cancel() waits for a running tick, so
 * nothing is pushed after this returns.
 */
static int labdaq_sim_predisable(struct iio_dev *indio_dev)
{
	struct labdaq_sim *st = iio_priv(indio_dev);

	hrtimer_cancel(&st->timer);

	return 0;
}

/*
 * buffer/length goes through here.  The IIO core ignores what set_length
 * returns, so a length that is too long cannot be refused: it is clamped,
 * and buffer/length reads back the length in force.
 *
 * This is the one reason for <linux/iio/buffer_impl.h> and for a copy of the
 * kfifo's access operations.  In 6.1 no hook of an ordinary driver runs
 * between a write to buffer/length and the kfifo's allocation: enabling
 * the buffer calls the buffer's request_update (the kmalloc() that WARNs)
 * before setup_ops->preenable, update_scan_mode or anything else of the
 * driver's, and the length itself is not visible without buffer_impl.h.
 */
static int labdaq_sim_set_length(struct iio_buffer *buffer,
				 unsigned int length)
{
	struct labdaq_sim *st = container_of(buffer->access, struct labdaq_sim,
					     kfifo_access);

	return st->kfifo_set_length(buffer,
				    min(length, LABDAQ_SIM_MAX_BUFFER_SCANS));
}

static const struct iio_buffer_setup_ops labdaq_sim_buffer_ops = {
	.postenable = labdaq_sim_postenable,
	.predisable = labdaq_sim_predisable,
};

static int labdaq_sim_read_input(struct iio_dev *indio_dev,
				 struct iio_chan_spec const *chan, int *val)
{
	struct labdaq_sim *st = iio_priv(indio_dev);
	s32 voltage_uv, current_na;
	int ret;

	/* as on a real ADC, single reads wait until buffered capture ends */
	ret = iio_device_claim_direct_mode(indio_dev);
	if (ret)
		return ret;

	spin_lock_bh(&st->lock);
	labdaq_sim_sample(st, &voltage_uv, &current_na);
	spin_unlock_bh(&st->lock);

	iio_device_release_direct_mode(indio_dev);

	if (chan->address == LABDAQ_SIM_CHAN_IN_CURRENT)
		*val = current_na;
	else
		*val = voltage_uv;

	return IIO_VAL_INT;
}

static int labdaq_sim_read_raw(struct iio_dev *indio_dev,
			       struct iio_chan_spec const *chan,
			       int *val, int *val2, long mask)
{
	struct labdaq_sim *st = iio_priv(indio_dev);

	switch (mask) {
	case IIO_CHAN_INFO_RAW:
		if (chan->address != LABDAQ_SIM_CHAN_OUT_VOLTAGE)
			return labdaq_sim_read_input(indio_dev, chan, val);
		spin_lock_bh(&st->lock);
		*val = st->dac_uv;
		spin_unlock_bh(&st->lock);
		return IIO_VAL_INT;
	case IIO_CHAN_INFO_SCALE:
		*val = 0;
		if (chan->type == IIO_CURRENT)
			*val2 = 1;	/* nA: 0.000001 mA per LSB */
		else
			*val2 = 1000;	/* uV: 0.001 mV per LSB */
		return IIO_VAL_INT_PLUS_MICRO;
	case IIO_CHAN_INFO_SAMP_FREQ:
		spin_lock_bh(&st->lock);
		*val = st->freq_hz;
		spin_unlock_bh(&st->lock);
		return IIO_VAL_INT;
	default:
		return -EINVAL;
	}
}

static int labdaq_sim_read_avail(struct iio_dev *indio_dev,
				 struct iio_chan_spec const *chan,
				 const int **vals, int *type, int *length,
				 long mask)
{
	switch (mask) {
	case IIO_CHAN_INFO_RAW:
		*vals = labdaq_sim_dac_range;
		break;
	case IIO_CHAN_INFO_SAMP_FREQ:
		*vals = labdaq_sim_freq_range;
		break;
	default:
		return -EINVAL;
	}
	*type = IIO_VAL_INT;
	*length = 3;

	return IIO_AVAIL_RANGE;
}

static int labdaq_sim_write_raw(struct iio_dev *indio_dev,
				struct iio_chan_spec const *chan,
				int val, int val2, long mask)
{
	struct labdaq_sim *st = iio_priv(indio_dev);

	/* the core parsed an integer (write_raw_get_fmt), so val2 is 0 */
	switch (mask) {
	case IIO_CHAN_INFO_RAW:
		if (chan->address != LABDAQ_SIM_CHAN_OUT_VOLTAGE ||
		    val < LABDAQ_SIM_DAC_MIN_UV || val > LABDAQ_SIM_DAC_MAX_UV)
			return -EINVAL;
		spin_lock_bh(&st->lock);
		st->dac_uv = val;
		spin_unlock_bh(&st->lock);
		return 0;
	case IIO_CHAN_INFO_SAMP_FREQ:
		if (val < LABDAQ_SIM_FREQ_MIN_HZ || val > LABDAQ_SIM_FREQ_MAX_HZ)
			return -EINVAL;
		/* a running capture picks the new rate up at its next tick */
		spin_lock_bh(&st->lock);
		st->freq_hz = val;
		spin_unlock_bh(&st->lock);
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Integers only: the core then parses with kstrtoint(), which refuses
 * garbage, fractions and empty strings with -EINVAL (and values that do not
 * fit an int with -ERANGE) before write_raw is called.
 */
static int labdaq_sim_write_raw_get_fmt(struct iio_dev *indio_dev,
					struct iio_chan_spec const *chan,
					long mask)
{
	switch (mask) {
	case IIO_CHAN_INFO_RAW:
	case IIO_CHAN_INFO_SAMP_FREQ:
		return IIO_VAL_INT;
	default:
		return IIO_VAL_INT_PLUS_MICRO;
	}
}

/* Device attributes: the rig's parameters and its counters. */

enum labdaq_sim_param {
	LABDAQ_SIM_PARAM_RESISTANCE,
	LABDAQ_SIM_PARAM_NOISE_UV,
	LABDAQ_SIM_PARAM_NOISE_NA,
	LABDAQ_SIM_PARAM_SEED,
};

/**
 * labdaq_sim_param() - the field behind a parameter attribute, and its range
 * @st:		the rig
 * @which:	the attribute's address, an enum labdaq_sim_param
 * @min:	set to the smallest value the attribute takes
 * @max:	set to the largest value the attribute takes
 *
 * Return: the field, or NULL for an address that names no parameter.
 */
static u32 *labdaq_sim_param(struct labdaq_sim *st, unsigned long which,
			     u32 *min, u32 *max)
{
	*min = 0;
	*max = U32_MAX;

	switch (which) {
	case LABDAQ_SIM_PARAM_RESISTANCE:
		*min = LABDAQ_SIM_R_MIN_OHMS;
		*max = LABDAQ_SIM_R_MAX_OHMS;
		return &st->resistance_ohms;
	case LABDAQ_SIM_PARAM_NOISE_UV:
		*max = LABDAQ_SIM_NOISE_MAX;
		return &st->noise_uv;
	case LABDAQ_SIM_PARAM_NOISE_NA:
		*max = LABDAQ_SIM_NOISE_MAX;
		return &st->noise_na;
	case LABDAQ_SIM_PARAM_SEED:
		return &st->seed;
	default:
		return NULL;
	}
}

static ssize_t labdaq_sim_param_show(struct device *dev,
				     struct device_attribute *attr, char *buf)
{
	struct labdaq_sim *st = iio_priv(dev_to_iio_dev(dev));
	u32 *param, min, max, val;

	param = labdaq_sim_param(st, to_iio_dev_attr(attr)->address,
				 &min, &max);
	if (!param)
		return -EINVAL;

	spin_lock_bh(&st->lock);
	val = *param;
	spin_unlock_bh(&st->lock);

	return sysfs_emit(buf, "%u\n", val);
}

static ssize_t labdaq_sim_param_store(struct device *dev,
				      struct device_attribute *attr,
				      const char *buf, size_t len)
{
	struct labdaq_sim *st = iio_priv(dev_to_iio_dev(dev));
	u32 *param, min, max, val;

	param = labdaq_sim_param(st, to_iio_dev_attr(attr)->address,
				 &min, &max);
	if (!param)
		return -EINVAL;

	/* kstrtou32() says -ERANGE for too many digits: still a bad value */
	if (kstrtou32(buf, 10, &val) || val < min || val > max)
		return -EINVAL;

	spin_lock_bh(&st->lock);
	*param = val;
	if (param == &st->seed)
		prandom_seed_state(&st->rnd, val);
	spin_unlock_bh(&st->lock);

	return len;
}

static ssize_t mode_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct labdaq_sim *st = iio_priv(dev_to_iio_dev(dev));
	enum labdaq_sim_mode mode;

	spin_lock_bh(&st->lock);
	mode = st->mode;
	spin_unlock_bh(&st->lock);

	return sysfs_emit(buf, "%s\n", labdaq_sim_mode_names[mode]);
}

static ssize_t mode_store(struct device *dev, struct device_attribute *attr,
			  const char *buf, size_t len)
{
	struct labdaq_sim *st = iio_priv(dev_to_iio_dev(dev));
	int mode;

	mode = sysfs_match_string(labdaq_sim_mode_names, buf);
	if (mode < 0)
		return -EINVAL;

	spin_lock_bh(&st->lock);
	st->mode = mode;
	spin_unlock_bh(&st->lock);

	return len;
}

static ssize_t overruns_show(struct device *dev,
			     struct device_attribute *attr, char *buf)
{
	struct labdaq_sim *st = iio_priv(dev_to_iio_dev(dev));
	u64 overruns;

	spin_lock_bh(&st->lock);
	overruns = st->overruns;
	spin_unlock_bh(&st->lock);

	return sysfs_emit(buf, "%llu\n", overruns);
}

static IIO_DEVICE_ATTR(resistance_ohms, 0644, labdaq_sim_param_show,
		       labdaq_sim_param_store, LABDAQ_SIM_PARAM_RESISTANCE);
static IIO_DEVICE_ATTR(noise_voltage_uv, 0644, labdaq_sim_param_show,
		       labdaq_sim_param_store, LABDAQ_SIM_PARAM_NOISE_UV);
static IIO_DEVICE_ATTR(noise_current_na, 0644, labdaq_sim_param_show,
		       labdaq_sim_param_store, LABDAQ_SIM_PARAM_NOISE_NA);
static IIO_DEVICE_ATTR(noise_seed, 0644, labdaq_sim_param_show,
		       labdaq_sim_param_store, LABDAQ_SIM_PARAM_SEED);
static IIO_DEVICE_ATTR_RW(mode, 0);
static IIO_CONST_ATTR(mode_available, "ohm counter");
static IIO_DEVICE_ATTR_RO(overruns, 0);

static struct attribute *labdaq_sim_attrs[] = {
	&iio_dev_attr_resistance_ohms.dev_attr.attr,
	&iio_dev_attr_noise_voltage_uv.dev_attr.attr,
	&iio_dev_attr_noise_current_na.dev_attr.attr,
	&iio_dev_attr_noise_seed.dev_attr.attr,
	&iio_dev_attr_mode.dev_attr.attr,
	&iio_const_attr_mode_available.dev_attr.attr,
	&iio_dev_attr_overruns.dev_attr.attr,
	NULL
};

static const struct attribute_group labdaq_sim_attr_group = {
	.attrs = labdaq_sim_attrs,
};

static const struct iio_info labdaq_sim_info = {
	.read_raw = labdaq_sim_read_raw,
	.read_avail = labdaq_sim_read_avail,
	.write_raw = labdaq_sim_write_raw,
	.write_raw_get_fmt = labdaq_sim_write_raw_get_fmt,
	.attrs = &labdaq_sim_attr_group,
};

/* Belt and braces: the timer never outlives the device. */
static void labdaq_sim_cancel_timer(void *data)
{
	struct labdaq_sim *st = data;

	hrtimer_cancel(&st->timer);
}

static int labdaq_sim_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct iio_dev *indio_dev;
	struct labdaq_sim *st;
	int ret;

	indio_dev = devm_iio_device_alloc(dev, sizeof(*st));
	if (!indio_dev)
		return -ENOMEM;

	st = iio_priv(indio_dev);
	st->indio_dev = indio_dev;
	spin_lock_init(&st->lock);
	st->dac_uv = 0;
	st->resistance_ohms = LABDAQ_SIM_R_DEFAULT_OHMS;
	st->noise_uv = LABDAQ_SIM_NOISE_UV_DEFAULT;
	st->noise_na = LABDAQ_SIM_NOISE_NA_DEFAULT;
	st->seed = LABDAQ_SIM_SEED_DEFAULT;
	prandom_seed_state(&st->rnd, st->seed);
	st->mode = LABDAQ_SIM_MODE_OHM;
	st->freq_hz = LABDAQ_SIM_FREQ_DEFAULT_HZ;

	hrtimer_init(&st->timer, CLOCK_MONOTONIC, HRTIMER_MODE_REL_SOFT);
	st->timer.function = labdaq_sim_tick;
	/* registered first, so it runs after the IIO device is gone */
	ret = devm_add_action_or_reset(dev, labdaq_sim_cancel_timer, st);
	if (ret)
		return ret;

	indio_dev->name = LABDAQ_SIM_NAME;
	indio_dev->info = &labdaq_sim_info;
	indio_dev->modes = INDIO_DIRECT_MODE;
	indio_dev->channels = labdaq_sim_channels;
	indio_dev->num_channels = ARRAY_SIZE(labdaq_sim_channels);
	indio_dev->available_scan_masks = labdaq_sim_scan_masks;

	ret = devm_iio_kfifo_buffer_setup(dev, indio_dev,
					  &labdaq_sim_buffer_ops);
	if (ret)
		return dev_err_probe(dev, ret, "cannot set up the buffer\n");

	/* the same operations, but buffer/length is bounded */
	st->kfifo_access = *indio_dev->buffer->access;
	st->kfifo_set_length = st->kfifo_access.set_length;
	st->kfifo_access.set_length = labdaq_sim_set_length;
	indio_dev->buffer->access = &st->kfifo_access;

	ret = devm_iio_device_register(dev, indio_dev);
	if (ret)
		return dev_err_probe(dev, ret, "cannot register the device\n");

	return 0;
}

static struct platform_driver labdaq_sim_driver = {
	.driver = {
		.name = LABDAQ_SIM_NAME,
	},
	.probe = labdaq_sim_probe,
};

static struct platform_device *labdaq_sim_pdev;

static int __init labdaq_sim_init(void)
{
	int ret;

	ret = platform_driver_register(&labdaq_sim_driver);
	if (ret)
		return ret;

	labdaq_sim_pdev = platform_device_register_simple(LABDAQ_SIM_NAME,
							  PLATFORM_DEVID_NONE,
							  NULL, 0);
	if (IS_ERR(labdaq_sim_pdev)) {
		platform_driver_unregister(&labdaq_sim_driver);
		return PTR_ERR(labdaq_sim_pdev);
	}

	return 0;
}
module_init(labdaq_sim_init);

static void __exit labdaq_sim_exit(void)
{
	platform_device_unregister(labdaq_sim_pdev);
	platform_driver_unregister(&labdaq_sim_driver);
}
module_exit(labdaq_sim_exit);

MODULE_AUTHOR("labdaq developers");
MODULE_DESCRIPTION("Simulated Ohm's-law rig as an IIO device");
MODULE_LICENSE("GPL");
