/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * usb.c - USB devices through libusb-1.0 (1.0.26): logic analyzers that run
 * sigrok's fx2lafw firmware, Cypress FX2 boards in their boot state (they
 * get that firmware first) and raw bulk streamers that labs build.
 *
 * URIs (docs/usb.md has the whole story):
 *
 *   usb:fx2lafw              the first board running fx2lafw (or, if there
 *                            is none, the first boot-state FX2 of a known
 *                            kind, which gets the firmware first)
 *   usb:fx2lafw?serial=S     the one whose serial number is S
 *   usb:BUS.ADDR             the device at that bus and address (lsusb's)
 *   usb:VID:PID?endpoint=0x81&dtype=u16&channels=4&interface=N&alt=N
 *                            a raw bulk streamer: items of @channels values
 *                            of @dtype from bulk IN @endpoint
 *
 * More keys: firmware=FILE (the firmware for a boot-state board instead of
 * the one the board's kind names), dry=fail|ignore (what a run does when
 * its transfer queue ran dry; fail unless the device says otherwise),
 * fifo=BYTES (what an fx2lafw board may hold unsent: 4096 for an FX2; the
 * loss check against its clock allows for that much).
 *
 * fx2lafw's protocol (the firmware's include/command.h, as libsigrok's
 * driver speaks it): vendor requests on endpoint 0, GET_FW_VERSION 0xb0
 * (2 bytes: major, minor; major must be 1), GET_REVID 0xb2 (1 byte) and
 * START 0xb1 with 3 bytes: flags (bit 5 wide = 16 channels, bit 6 the 48
 * MHz clock, else 30 MHz), sample delay high and low, delay = clock /
 * rate - 1 (1..0x5ff: the firmware refuses 0 and a high byte of 6 or
 * more).  Samples arrive on bulk endpoint 0x82 (2 IN): one byte per sample
 * (PB0-7 = D0-D7) or two, little-endian (PD0-7 = D8-D15).  There is no
 * stop command: the host stops reading and the next START reconfigures.
 * The FX2 has no overrun flag: when the host has no transfer pending the
 * device's FIFO fills and samples are lost without a trace.  So the
 * stream keeps several transfers (about half a second of data) in flight,
 * and a moment with none pending (the queue ran dry) ends the run FAILED
 * with the reason in the sidecar, the file holding what came before it.
 *
 * Boot-state FX2s (04b4:8613 and the clones in fx2_profiles) get the
 * firmware from SIGROK_FIRMWARE_DIR, /usr/local/share/sigrok-firmware or
 * /usr/share/sigrok-firmware (Debian's sigrok-firmware-fx2lafw): the
 * Cypress load request 0xa0 writes CPUCS (0xe600) = 1 (reset held), the
 * image in chunks of up to 4 KiB (wValue = address), then CPUCS = 0; the
 * board leaves the bus and comes back, at the same port, as fx2lafw.
 *
 * libusb's errors become -errno in usb_error().  The lock key is the
 * device's bus and port chain ("usb:1-1.2"), whatever the URI's spelling.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../internal.h"
#include "../dl.h"
#include "usb_dl.h"

/* ---- libusb, loaded at the first use (usb_dl.h) ---- */

static struct ldq_usb_syms ldq_usb_;

static void ldq_usb_bind(void *h, const char **missing)
{
#define LDQ_USB_DLSYM(f) \
	ldq_usb_.f##_p = (__typeof__(ldq_usb_.f##_p))ldq_dl_sym(h, #f, missing);
	LDQ_USB_SYMS(LDQ_USB_DLSYM)
#undef LDQ_USB_DLSYM
}

static struct ldq_dl ldq_usb_dl =
	LDQ_DL_INIT("usb", "libusb", LDQ_USB_SONAME, "libusb-1.0-0", ldq_usb_bind);

/* Load libusb once per process: 0, or -ENOENT / -ENOSYS, said if @say
 * (dl.h).  Thread-safe. */
static int ldq_usb_load(int say)
{
	return ldq_dl_load(&ldq_usb_dl, say);
}

#define CMD_GET_FW_VERSION 0xb0
#define CMD_START 0xb1
#define CMD_GET_REVID 0xb2
#define START_WIDE 0x20
#define START_CLK48 0x40
#define FX2_EP 0x82
#define FX2_MAX_DELAY 0x5ff
#define FX2_LOAD 0xa0
#define FX2_CPUCS 0xe600
#define FW_CHUNK 4096
#define FW_MAX 0x10000
#define RENUM_MS 3500
#define CTRL_MS 1000
#define POLL_MS 100
#define STOP_MS 2000
#define MAX_XFERS 128
#define IN_FLIGHT_MIN (256.0 * 1024)
/* A clocked stream's loss check (clock_deficit): the bytes a device may
 * hold (the FX2's endpoint FIFO: 4 x 1024 bytes at most; the URI's fifo=
 * for more), the clocks' disagreement, and what stream_read leaves to the
 * end of the run (a loss under LOSS_LATE_S, so that a device that vanished
 * while its transfers were pending is not taken for one that lost). */
#define FX2_FIFO 4096
#define LOSS_LATE_S 0.02
#define LOSS_PPM 200.0
#define MAX_BULK_CHANS 256

/* ---- pure parts (tests/unit/test_usb.c) ---- */

/* Boards fx2lafw runs on (libsigrok's table): before the firmware they
 * enumerate with these IDs and no "sigrok"/"fx2lafw" strings; after it,
 * with the same IDs and those strings. */
struct fx2_profile {
	uint16_t vid, pid;
	const char *model;
	const char *fw;
	int wide; /* 16 channels */
};

static const struct fx2_profile fx2_profiles[] = {
	{ 0x1d50, 0x608c, "sigrok FX2 LA (8ch)", "fx2lafw-sigrok-fx2-8ch.fw", 0 },
	{ 0x1d50, 0x608d, "sigrok FX2 LA (16ch)", "fx2lafw-sigrok-fx2-16ch.fw", 1 },
	{ 0x04b4, 0x8613, "Cypress FX2", "fx2lafw-cypress-fx2.fw", 1 },
	{ 0x0925, 0x3881, "Saleae Logic", "fx2lafw-saleae-logic.fw", 0 },
	{ 0x08a9, 0x0014, "CWAV USBee AX", "fx2lafw-cwav-usbeeax.fw", 0 },
	{ 0x08a9, 0x0015, "CWAV USBee DX", "fx2lafw-cwav-usbeedx.fw", 1 },
	{ 0x08a9, 0x0009, "CWAV USBee SX", "fx2lafw-cwav-usbeesx.fw", 0 },
	{ 0x16d0, 0x0498, "Braintechnology USB-LPS", "fx2lafw-braintechnology-usb-lps.fw", 1 },
};

/* The rates fx2lafw's driver offers, in Hz. */
static const uint32_t fx2_rates[] = {
	20000, 25000, 50000, 100000, 200000, 250000, 500000, 1000000, 2000000,
	3000000, 4000000, 6000000, 8000000, 12000000, 16000000, 24000000,
};
#define FX2_MAX_RATE_WIDE 12000000u

static const struct fx2_profile *fx2_profile(uint16_t vid, uint16_t pid)
{
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_profiles); i++)
		if (fx2_profiles[i].vid == vid && fx2_profiles[i].pid == pid)
			return &fx2_profiles[i];
	return NULL;
}

/* libusb's error @e as -errno. */
static int usb_error(int e)
{
	switch (e) {
	case LIBUSB_SUCCESS:
		return 0;
	case LIBUSB_ERROR_IO:
		return -EIO;
	case LIBUSB_ERROR_INVALID_PARAM:
		return -EINVAL;
	case LIBUSB_ERROR_ACCESS:
		return -EACCES;
	case LIBUSB_ERROR_NO_DEVICE:
	case LIBUSB_ERROR_NOT_FOUND:
		return -ENODEV;
	case LIBUSB_ERROR_BUSY:
		return -EBUSY;
	case LIBUSB_ERROR_TIMEOUT:
		return -ETIMEDOUT;
	case LIBUSB_ERROR_OVERFLOW:
		return -EOVERFLOW;
	case LIBUSB_ERROR_PIPE:
		return -EPIPE;
	case LIBUSB_ERROR_INTERRUPTED:
		return -EINTR;
	case LIBUSB_ERROR_NO_MEM:
		return -ENOMEM;
	case LIBUSB_ERROR_NOT_SUPPORTED:
		return -EOPNOTSUPP;
	default:
		return -EIO;
	}
}

enum { T_FX2LAFW, T_BUSADDR, T_VIDPID };

struct target {
	int kind;
	unsigned int bus, addr;
	uint16_t vid, pid;
};

/* A decimal number of at most @max from @s up to @end's character. */
static int dec_part(const char *s, const char *end, unsigned int max, unsigned int *v)
{
	unsigned long n = 0;

	if (s == end || end - s > 3)
		return -EINVAL;
	for (; s < end; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		n = n * 10 + (unsigned long)(*s - '0');
	}
	if (n < 1 || n > max)
		return -EINVAL;
	*v = (unsigned int)n;
	return 0;
}

/* Exactly four hex digits from @s. */
static int hex4(const char *s, uint16_t *v)
{
	unsigned int n = 0;

	for (int i = 0; i < 4; i++) {
		if (!isxdigit((unsigned char)s[i]))
			return -EINVAL;
		n = n * 16 + (unsigned int)(isdigit((unsigned char)s[i]) ? s[i] - '0' :
					    tolower((unsigned char)s[i]) - 'a' + 10);
	}
	*v = (uint16_t)n;
	return 0;
}

/* "fx2lafw", "BUS.ADDR" (lsusb's decimal numbers), "VID:PID" (4 hex digits
 * each).  0 or -EINVAL. */
static int parse_target(const char *path, struct target *t)
{
	const char *dot;

	memset(t, 0, sizeof(*t));
	if (!path)
		return -EINVAL;
	if (!strcmp(path, "fx2lafw")) {
		t->kind = T_FX2LAFW;
		return 0;
	}
	if (strlen(path) == 9 && path[4] == ':') {
		t->kind = T_VIDPID;
		return hex4(path, &t->vid) || hex4(path + 5, &t->pid) ? -EINVAL : 0;
	}
	dot = strchr(path, '.');
	if (!dot)
		return -EINVAL;
	t->kind = T_BUSADDR;
	if (dec_part(path, dot, 255, &t->bus) ||
	    dec_part(dot + 1, dot + strlen(dot), 127, &t->addr))
		return -EINVAL;
	return 0;
}

/* A bulk IN endpoint address, "0x81" or "129": 0x81..0x8f.  0 or -EINVAL. */
static int parse_endpoint(const char *s, uint8_t *ep)
{
	unsigned long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno || *end || v < 0x81 || v > 0x8f)
		return -EINVAL;
	*ep = (uint8_t)v;
	return 0;
}

/* "u8", "u16", "i16", "u32", "i32", "i64", "f64" (numpy's "uint16" etc.
 * too) -> enum labdaq_dtype; -EINVAL. */
static int parse_dtype(const char *s, int *dtype)
{
	static const struct { const char *a, *b; int t; } names[] = {
		{ "u8", "uint8", LABDAQ_DTYPE_UINT8 }, { "u16", "uint16", LABDAQ_DTYPE_UINT16 },
		{ "i16", "int16", LABDAQ_DTYPE_INT16 }, { "u32", "uint32", LABDAQ_DTYPE_UINT32 },
		{ "i32", "int32", LABDAQ_DTYPE_INT32 }, { "i64", "int64", LABDAQ_DTYPE_INT64 },
		{ "f64", "float64", LABDAQ_DTYPE_FLOAT64 },
	};

	for (size_t i = 0; s && i < LDQ_ARRAY_SIZE(names); i++) {
		if (!strcmp(s, names[i].a) || !strcmp(s, names[i].b)) {
			*dtype = names[i].t;
			return 0;
		}
	}
	return -EINVAL;
}

/* The fx2lafw rate for @want Hz (0: the fastest): the nearest in
 * fx2_rates up to the width's maximum (24 MHz, 12 MHz for 16 channels).
 * 0, or -ERANGE outside 20 kHz .. the maximum. */
static int fx2_pick_rate(double want, int wide, uint32_t *rate)
{
	uint32_t max = wide ? FX2_MAX_RATE_WIDE : fx2_rates[LDQ_ARRAY_SIZE(fx2_rates) - 1];
	double best = INFINITY;

	if (want == 0) {
		*rate = max;
		return 0;
	}
	if (!(want >= fx2_rates[0] * (1 - 1e-9)) || want > max * (1 + 1e-9))
		return -ERANGE;
	for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_rates) && fx2_rates[i] <= max; i++) {
		/* Ratios, not differences: 25 kHz is nearer 22.5 kHz than 20. */
		double d = fabs(log(want / fx2_rates[i]));

		if (d < best) {
			best = d;
			*rate = fx2_rates[i];
		}
	}
	return 0;
}

/* The START command for @rate Hz: 0, or -EINVAL if the firmware's clocks
 * cannot make it. */
static int fx2_start_cmd(uint32_t rate, int wide, uint8_t cmd[3])
{
	uint32_t delay = 0;
	uint8_t flags = wide ? START_WIDE : 0;

	if (!rate || (wide && rate > FX2_MAX_RATE_WIDE))
		return -EINVAL;
	if (48000000u % rate == 0 && 48000000u / rate - 1 <= FX2_MAX_DELAY) {
		flags |= START_CLK48;
		delay = 48000000u / rate - 1;
	} else if (30000000u % rate == 0) {
		delay = 30000000u / rate - 1;
	}
	if (delay < 1 || delay > FX2_MAX_DELAY)
		return -EINVAL;
	cmd[0] = flags;
	cmd[1] = (uint8_t)(delay >> 8);
	cmd[2] = (uint8_t)(delay & 0xff);
	return 0;
}

/* Transfers for @bytes_per_s (0: unknown): each about 10 ms of data, a
 * multiple of @maxpkt, 16 KiB .. 1 MiB; enough of them for half a second
 * and at least IN_FLIGHT_MIN bytes (a device that sends in bursts must not
 * complete them all at once), 4 .. MAX_XFERS. */
static void xfer_plan(double bytes_per_s, unsigned int maxpkt, size_t *size, unsigned int *n)
{
	double bps = bytes_per_s > 0 ? bytes_per_s : 8e6;
	size_t s = (size_t)(bps / 100);
	double want;

	if (!maxpkt)
		maxpkt = 512;
	if (s < 16384)
		s = 16384;
	if (s > (1u << 20))
		s = 1u << 20;
	s = (s + maxpkt - 1) / maxpkt * maxpkt;
	want = ceil(fmax(bps * 0.5, IN_FLIGHT_MIN) / (double)s);
	*size = s;
	*n = want < 4 ? 4 : want > MAX_XFERS ? MAX_XFERS : (unsigned int)want;
}

/* Samples a clocked device lost, at least, by the time @t: what its clock
 * made at @rate Hz (taken LOSS_PPM slow) in the @span_s seconds from the
 * reaping of the first transfer after the start to @t, less everything
 * that arrived after that first transfer and was reaped by the end of an
 * event handling begun at @t (@after), less what may have been on its way
 * at @t (@transit: what the device holds unsent, its FIFO, and one partly
 * filled transfer) and the sample in the making.  Every error of the
 * times makes it smaller: it needs no allowance for latency. */
static uint64_t clock_deficit(double rate, double span_s, uint64_t after, uint64_t transit)
{
	double made = span_s > 0 ? floor(rate * (1 - LOSS_PPM * 1e-6) * span_s) : 0;
	double missing = made - 1 - (double)after - (double)transit;

	return missing >= 1 ? (uint64_t)missing : 0;
}

/* ---- firmware images ---- */

/* An image for the FX2's RAM: @data at the addresses @used marks. */
struct fw_image {
	uint8_t data[FW_MAX];
	uint8_t used[FW_MAX];
	size_t bytes; /* used */
};

/* The FX2 takes code and data at 0x0000-0x3fff (FX2LP's 16 KiB) and
 * 0xe000-0xe1ff through request 0xa0. */
static int fx2_ram(unsigned int addr)
{
	return addr < 0x4000 || (addr >= 0xe000 && addr < 0xe200);
}

static int hexbyte(const char *s, uint8_t *v)
{
	uint16_t w;
	char four[4] = { '0', '0', s[0], s[1] };

	if (!s[0] || hex4(four, &w))
		return -EINVAL;
	*v = (uint8_t)w;
	return 0;
}

/* One Intel HEX record at @s (after ':', up to the end of line @len).  1
 * at the end-of-file record, 0 for another, -EINVAL (with the reason in
 * @why). */
static int ihex_record(const char *s, size_t len, struct fw_image *img, const char **why)
{
	uint8_t b[5 + 255], sum = 0;
	size_t n;

	if (len < 10 || len % 2) {
		*why = "a record of the wrong length";
		return -EINVAL;
	}
	for (n = 0; n < len / 2; n++) {
		if (hexbyte(s + 2 * n, &b[n])) {
			*why = "a character that is not a hex digit";
			return -EINVAL;
		}
		sum = (uint8_t)(sum + b[n]);
	}
	if (n != (size_t)b[0] + 5 || sum) {
		*why = n != (size_t)b[0] + 5 ? "a record whose length byte is wrong" :
		       "a record whose checksum is wrong";
		return -EINVAL;
	}
	if (b[3] == 1)
		return 1;
	if (b[3] == 2 || b[3] == 4) {
		*why = "an address above 64 KiB";
		return b[4] || b[5] ? -EINVAL : 0;
	}
	if (b[3] != 0)
		return b[3] == 3 || b[3] == 5 ? 0 : (*why = "an unknown record type", -EINVAL);
	for (unsigned int i = 0, a = ((unsigned int)b[1] << 8) | b[2]; i < b[0]; i++, a++) {
		if (a >= FW_MAX || !fx2_ram(a)) {
			*why = "an address outside the FX2's RAM";
			return -EINVAL;
		}
		img->bytes += !img->used[a];
		img->used[a] = 1;
		img->data[a] = b[4 + i];
	}
	return 0;
}

static int parse_ihex(const char *buf, size_t len, struct fw_image *img, const char **why)
{
	size_t i = 0;

	while (i < len) {
		size_t e = i;
		int r;

		while (e < len && buf[e] != '\n' && buf[e] != '\r')
			e++;
		if (e > i) {
			if (buf[i] != ':') {
				*why = "a line that is not a record";
				return -EINVAL;
			}
			r = ihex_record(buf + i + 1, e - i - 1, img, why);
			if (r < 0)
				return r;
			if (r == 1)
				return img->bytes ? 0 : (*why = "no data", -EINVAL);
		}
		i = e + 1;
	}
	*why = "no end-of-file record";
	return -EINVAL;
}

/* A firmware file's bytes -> the image: Intel HEX when it starts with
 * ':' (sdcc's .ihx), else a binary image loaded at address 0 (Debian's
 * .fw files).  0, or -EINVAL with the reason in *@why. */
static int fw_parse(const uint8_t *buf, size_t len, struct fw_image *img, const char **why)
{
	memset(img, 0, sizeof(*img));
	*why = NULL;
	if (len && buf[0] == ':')
		return parse_ihex((const char *)buf, len, img, why);
	if (!len) {
		*why = "an empty file";
		return -EINVAL;
	}
	if (len > 0x4000) {
		*why = "a binary image larger than the FX2's 16 KiB";
		return -EINVAL;
	}
	memcpy(img->data, buf, len);
	memset(img->used, 1, len);
	img->bytes = len;
	return 0;
}

/* The next chunk to write from address *@at on: a run of used bytes of at
 * most FW_CHUNK.  1 and *@addr, *@n set (*@at advanced), 0 when done. */
static int fw_next_chunk(const struct fw_image *img, unsigned int *at, unsigned int *addr,
			 size_t *n)
{
	unsigned int a = *at;

	while (a < FW_MAX && !img->used[a])
		a++;
	if (a >= FW_MAX)
		return 0;
	*addr = a;
	*n = 0;
	while (a < FW_MAX && img->used[a] && *n < FW_CHUNK) {
		a++;
		(*n)++;
	}
	*at = a;
	return 1;
}

/* The sidecar's details of the logic channel of @bits bits. */
static char *logic_meta(unsigned int bits)
{
	char names[16 * 8];
	size_t n = 0;
	char *s;

	for (unsigned int i = 0; i < bits; i++)
		n += (size_t)snprintf(names + n, sizeof(names) - n, "%s\"D%u\"", i ? ", " : "", i);
	if (asprintf(&s, "{\"logic\": {\"bits\": [%s], \"bit_order\": \"channel Dk is bit k "
		     "of each %s sample (value >> k) & 1\"}}", names,
		     bits > 8 ? "little-endian uint16" : "uint8") < 0)
		return NULL;
	return s;
}

/* ---- devices ---- */

enum { MODE_FX2LAFW, MODE_BULK };
enum { SLOT_IDLE, SLOT_PENDING, SLOT_DONE };

struct usb_priv;

struct slot {
	struct usb_priv *p;
	struct libusb_transfer *t;
	int state;
	uint64_t seq;    /* submission number */
	int mapped;      /* the buffer is usbfs memory (libusb_dev_mem_alloc) */
};

struct usb_priv {
	libusb_context *ctx;
	libusb_device_handle *h;
	int mode;
	const struct fx2_profile *prof;
	int wide;               /* the board has 16 channels */
	uint8_t fw_major, fw_minor, revid;
	unsigned int iface, alt;
	int claimed;
	uint8_t ep;
	unsigned int maxpkt;
	int dry_ok;             /* dry=ignore */
	uint64_t fifo;          /* bytes the device may hold (fifo=) */
	char port[64];          /* "1-1.2" */
	char serial[128];
	/* streaming */
	struct slot *slots;
	unsigned int nslots, head;
	size_t off;             /* consumed bytes of the head slot */
	size_t xsize, item_bytes;
	unsigned char carry[MAX_BULK_CHANS * 8];
	size_t carry_bytes;
	int inflight, acquiring;
	uint64_t seq;           /* transfers submitted */
	unsigned int nmapped;   /* slots whose buffer is usbfs memory */
	uint64_t dry_after;     /* set when the queue ran dry: data after it is suspect */
	int dry, gone, fail;    /* fail: -errno of a failed transfer */
	uint64_t dry_count;     /* times it ran dry */
	atomic_int cancelled;
	uint32_t fx2_rate;
	double rate_hz;
	uint64_t delivered;
	/* fx2lafw: what the board's clock made against what arrived
	 * (clock_deficit, after every event handling of the stream) */
	uint64_t rx_bytes;      /* of completed transfers */
	uint64_t go_ns;         /* the START command was acknowledged */
	uint64_t r1_ns;         /* the first transfer with data reaped after it */
	uint64_t rx_r1;         /* rx_bytes with that transfer */
	uint64_t deficit;       /* the largest clock_deficit so far */
	uint64_t lost;          /* reported by stream_read */
	uint64_t end_lost;      /* the rest, for stream_lost */
};

/* libusb_init() with every signal blocked: the threads libusb starts there
 * (its hot-plug monitor) inherit the mask and never take a signal meant
 * for the program (a SIGTERM from labdaq stop would otherwise kill it
 * with the default action when the device is opened before the program
 * blocks its signals).  The caller's mask is restored. */
static int usb_init(libusb_context **ctx)
{
	sigset_t all, old;
	int r;

	*ctx = NULL;
	if (ldq_usb_load(0))
		return LIBUSB_ERROR_NOT_SUPPORTED;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = libusb_init(ctx);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		*ctx = NULL;
	return r;
}

/* "1-1.2": the bus and the port chain, or "1-0" for a root hub. */
static void port_path(libusb_device *d, char *buf, size_t len)
{
	uint8_t ports[8];
	int n = libusb_get_port_numbers(d, ports, (int)sizeof(ports));
	size_t k = (size_t)snprintf(buf, len, "%u-", libusb_get_bus_number(d));

	if (n <= 0)
		snprintf(buf + k, len - k, "0");
	for (int i = 0; i < n && k < len; i++)
		k += (size_t)snprintf(buf + k, len - k, "%s%u", i ? "." : "", ports[i]);
}

/* The device's strings (empty when it has none); 0 or a libusb error. */
static int read_strings(libusb_device_handle *h, const struct libusb_device_descriptor *dd,
			char *man, char *prod, char *ser, size_t len)
{
	const uint8_t idx[3] = { dd->iManufacturer, dd->iProduct, dd->iSerialNumber };
	char *out[3] = { man, prod, ser };

	for (int i = 0; i < 3; i++) {
		int r = idx[i] ? libusb_get_string_descriptor_ascii(h, idx[i],
								     (unsigned char *)out[i],
								     (int)len) : 0;

		if (r < 0)
			return r;
		out[i][r] = '\0';
	}
	return 0;
}

/* What an fx2lafw-kind device is now: 1 running fx2lafw, 0 in its boot
 * state, a libusb error if it cannot be asked. */
static int fx2_state(libusb_device *d, const struct libusb_device_descriptor *dd, char *ser,
		     size_t len)
{
	libusb_device_handle *h;
	char man[128], prod[128];
	int r = libusb_open(d, &h);

	if (r)
		return r;
	r = read_strings(h, dd, man, prod, ser, len);
	libusb_close(h);
	if (r)
		return r;
	return !strcmp(man, "sigrok") && !strcmp(prod, "fx2lafw");
}

/* ---- finding a device ---- */

/* What open looks for, and what it found. */
struct search {
	const struct target *t;
	const char *serial;      /* serial= or NULL */
	libusb_device *dev;      /* found (a reference held), or NULL */
	int state;               /* fx2_state() of dev for fx2lafw kinds, else -1 */
	int denied;              /* a candidate could not be opened: no permission */
	char ser[128];
};

static int matches(struct search *s, libusb_device *d)
{
	struct libusb_device_descriptor dd;
	const struct target *t = s->t;
	int st = -1;

	if (libusb_get_device_descriptor(d, &dd))
		return 0;
	if (t->kind == T_BUSADDR && (libusb_get_bus_number(d) != t->bus ||
				     libusb_get_device_address(d) != t->addr))
		return 0;
	if (t->kind == T_VIDPID && (dd.idVendor != t->vid || dd.idProduct != t->pid))
		return 0;
	if (t->kind == T_FX2LAFW && !fx2_profile(dd.idVendor, dd.idProduct))
		return 0;
	s->ser[0] = '\0';
	if (fx2_profile(dd.idVendor, dd.idProduct) || s->serial) {
		st = fx2_state(d, &dd, s->ser, sizeof(s->ser));
		if (st == LIBUSB_ERROR_ACCESS)
			s->denied = 1;
		/* A device named by its address or IDs is opened anyway, for
		 * the permission message; usb:fx2lafw looks further. */
		if (st == LIBUSB_ERROR_ACCESS && t->kind != T_FX2LAFW && !s->serial) {
			s->state = -1;
			return 1;
		}
		if (st < 0)
			return 0; /* gone meanwhile, or not ours to open */
	}
	if (s->serial && strcmp(s->serial, s->ser))
		return 0;
	/* usb:fx2lafw takes a board with the firmware first (pass 0). */
	s->state = fx2_profile(dd.idVendor, dd.idProduct) ? st : -1;
	return 1;
}

/* The device @s names: 0 with s->dev referenced, or -ENODEV.  With
 * @want_running, a boot-state board is taken only if nothing runs fx2lafw. */
static int find_device(libusb_context *ctx, struct search *s)
{
	libusb_device **list;
	ssize_t n = libusb_get_device_list(ctx, &list);

	s->dev = NULL;
	if (n < 0)
		return usb_error((int)n);
	for (int pass = 0; pass < 2 && !s->dev; pass++) {
		for (ssize_t i = 0; i < n && !s->dev; i++) {
			if (!matches(s, list[i]))
				continue;
			if (pass == 0 && s->t->kind == T_FX2LAFW && s->state != 1)
				continue;
			s->dev = libusb_ref_device(list[i]);
		}
		if (s->t->kind != T_FX2LAFW)
			break;
	}
	libusb_free_device_list(list, 1);
	return s->dev ? 0 : -ENODEV;
}

static int not_found(struct labdaq_device *dev, const struct search *s)
{
	const struct target *t = s->t;
	const char *perm = s->denied ? " (some USB devices could not be opened: no permission"
		"; install the udev rules: sudo make install-udev)" : "";

	if (t->kind == T_FX2LAFW)
		ldq_err("%s: no fx2lafw device found%s%s: plug in a logic analyzer that runs "
			"sigrok's fx2lafw firmware (or an FX2 board it supports); listing the "
			"devices shows what labdaq sees%s", dev->uri, s->serial ? " with serial " :
			"", s->serial ? s->serial : "", perm);
	else if (t->kind == T_BUSADDR)
		ldq_err("%s: no USB device at bus %u address %u (lsusb shows them; an address "
			"changes when a device is plugged in again)%s", dev->uri, t->bus, t->addr,
			perm);
	else
		ldq_err("%s: no USB device %04x:%04x%s%s found%s", dev->uri, t->vid, t->pid,
			s->serial ? " with serial " : "", s->serial ? s->serial : "", perm);
	return -ENODEV;
}

/* ---- firmware ---- */

/* The firmware file for @prof (or @file when set) into @img. */
static int fw_load_file(const char *uri, const struct fx2_profile *prof, const char *file,
			struct fw_image *img, char *path, size_t plen)
{
	const char *dirs[] = { getenv("SIGROK_FIRMWARE_DIR"), "/usr/local/share/sigrok-firmware",
			       "/usr/share/sigrok-firmware" };
	const char *why;
	uint8_t *buf;
	ssize_t n;
	int fd = -1, r;

	for (size_t i = 0; fd < 0 && i < (file ? 1 : LDQ_ARRAY_SIZE(dirs)); i++) {
		if (!file && (!dirs[i] || !*dirs[i]))
			continue;
		if (file)
			snprintf(path, plen, "%s", file);
		else
			snprintf(path, plen, "%s/%s", dirs[i], prof->fw);
		fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	if (fd < 0) {
		ldq_err("%s: the %s is in its boot state and needs fx2lafw's firmware, but %s "
			"was not found: install Debian's sigrok-firmware-fx2lafw (or set "
			"SIGROK_FIRMWARE_DIR, or the URI's firmware=FILE)", uri, prof->model,
			file ? file : prof->fw);
		return -ENOENT;
	}
	/* An Intel HEX file of 64 KiB takes less than three times that. */
	buf = malloc(FW_MAX * 3);
	n = buf ? read(fd, buf, FW_MAX * 3) : -1;
	close(fd);
	if (!buf)
		return -ENOMEM;
	r = n < 0 ? -EIO : fw_parse(buf, (size_t)n, img, &why);
	if (r)
		ldq_err("%s: firmware %s is not an FX2 image: %s", uri, path,
			n < 0 ? strerror(errno) : why);
	free(buf);
	return r;
}

static int cpucs(libusb_device_handle *h, uint8_t v)
{
	int r = libusb_control_transfer(h, LIBUSB_REQUEST_TYPE_VENDOR | LIBUSB_ENDPOINT_OUT,
					FX2_LOAD, FX2_CPUCS, 0, &v, 1, CTRL_MS);

	return r < 0 ? r : 0;
}

/* Reset held, the image in chunks, reset released.  0 or a libusb error. */
static int fw_write(libusb_device_handle *h, const struct fw_image *img)
{
	unsigned int at = 0, addr;
	size_t n;
	int r = cpucs(h, 1);

	while (!r && fw_next_chunk(img, &at, &addr, &n)) {
		r = libusb_control_transfer(h, LIBUSB_REQUEST_TYPE_VENDOR | LIBUSB_ENDPOINT_OUT,
					    FX2_LOAD, (uint16_t)addr, 0,
					    (unsigned char *)img->data + addr, (uint16_t)n,
					    CTRL_MS);
		r = r < 0 ? r : r != (int)n ? LIBUSB_ERROR_IO : 0;
	}
	return r ? r : cpucs(h, 0);
}

/* Load fx2lafw into the boot-state board @d (its profile @prof).  0 or
 * -errno, logged. */
static int fw_upload(const char *uri, libusb_device *d, const struct fx2_profile *prof,
		     const char *file)
{
	struct fw_image *img = malloc(sizeof(*img));
	char path[PATH_MAX];
	libusb_device_handle *h = NULL;
	int r;

	if (!img)
		return -ENOMEM;
	r = fw_load_file(uri, prof, file, img, path, sizeof(path));
	if (r)
		goto out;
	r = libusb_open(d, &h);
	if (!r)
		r = fw_write(h, img);
	if (r) {
		ldq_err("%s: loading the firmware %s into the %s failed: %s%s", uri, path,
			prof->model, libusb_strerror(r),
			r == LIBUSB_ERROR_ACCESS ? LDQ_UDEV_HINT : "");
		r = usb_error(r);
	} else {
		ldq_info("%s: loaded %s (%zu bytes) into the %s; waiting for it to come back",
			 uri, path, img->bytes, prof->model);
	}
out:
	if (h)
		libusb_close(h);
	free(img);
	return r;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* The fx2lafw board at port @port in a new context (libusb's device list
 * follows hot-plug only where udev runs: a fresh context reads sysfs
 * again).  1 with *@ctx and *@out set (a reference held), 0 if not there. */
static int find_at_port(const char *port, libusb_context **ctx, libusb_device **out)
{
	libusb_device **list;
	ssize_t n;

	*out = NULL;
	if (usb_init(ctx))
		return 0;
	n = libusb_get_device_list(*ctx, &list);
	for (ssize_t i = 0; i < n && !*out; i++) {
		struct libusb_device_descriptor dd;
		char p[64], ser[128];

		port_path(list[i], p, sizeof(p));
		if (strcmp(p, port) || libusb_get_device_descriptor(list[i], &dd) ||
		    !fx2_profile(dd.idVendor, dd.idProduct) ||
		    fx2_state(list[i], &dd, ser, sizeof(ser)) != 1)
			continue;
		*out = libusb_ref_device(list[i]);
	}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	if (*out)
		return 1;
	libusb_exit(*ctx);
	*ctx = NULL;
	return 0;
}

/* The board that left port @port after its firmware load, back as
 * fx2lafw: 0 with *@ctx and *@out set, or -ENODEV after RENUM_MS. */
static int wait_renumerated(const char *port, libusb_context **ctx, libusb_device **out)
{
	uint64_t t0 = ldq_now_ns();

	sleep_ms(300); /* it takes about that long to leave the bus */
	while (ldq_now_ns() - t0 < (uint64_t)RENUM_MS * 1000000u) {
		if (find_at_port(port, ctx, out))
			return 0;
		sleep_ms(POLL_MS);
	}
	return -ENODEV;
}

/* ---- open, close ---- */

struct usb_keys {
	const char *serial, *dtype, *firmware, *dry, *endpoint;
	uint64_t chans, iface, alt, fifo;
};

static int read_keys(struct labdaq_device *dev, struct ldq_uri *uri, struct usb_keys *k)
{
	memset(k, 0, sizeof(*k));
	k->serial = ldq_uri_get_str(uri, "serial");
	k->dtype = ldq_uri_get_str(uri, "dtype");
	k->firmware = ldq_uri_get_str(uri, "firmware");
	k->dry = ldq_uri_get_str(uri, "dry");
	k->endpoint = ldq_uri_get_str(uri, "endpoint");
	k->chans = 1;
	k->fifo = FX2_FIFO;
	if (ldq_uri_get_u64(uri, "channels", 1, MAX_BULK_CHANS, &k->chans) ||
	    ldq_uri_get_u64(uri, "fifo", 0, 1u << 30, &k->fifo) ||
	    ldq_uri_get_u64(uri, "interface", 0, 255, &k->iface) ||
	    ldq_uri_get_u64(uri, "alt", 0, 255, &k->alt))
		return -EINVAL;
	if (k->dry && strcmp(k->dry, "fail") && strcmp(k->dry, "ignore")) {
		ldq_err("%s: dry=%s: takes fail (the default: a run whose transfer queue ran "
			"dry fails) or ignore (for a device that holds its data until asked)",
			dev->uri, k->dry);
		return -EINVAL;
	}
	return 0;
}

static int open_error(struct labdaq_device *dev, libusb_device *d, int r)
{
	ldq_err("%s: cannot open the USB device at bus %u address %u: %s%s", dev->uri,
		libusb_get_bus_number(d), libusb_get_device_address(d), libusb_strerror(r),
		r == LIBUSB_ERROR_ACCESS ? LDQ_UDEV_HINT : "");
	return usb_error(r);
}

/* The vendor request @req's reply of @len bytes into @buf: 0 or -errno. */
static int fx2_ask(struct usb_priv *p, uint8_t req, uint8_t *buf, uint16_t len)
{
	int r = libusb_control_transfer(p->h, LIBUSB_REQUEST_TYPE_VENDOR | LIBUSB_ENDPOINT_IN,
					req, 0, 0, buf, len, CTRL_MS);

	return r < 0 ? usb_error(r) : r == len ? 0 : -EIO;
}

/* The fx2lafw board is open: its firmware's version, its channels. */
static int setup_fx2(struct labdaq_device *dev, struct usb_priv *p)
{
	uint8_t v[2];
	int r = fx2_ask(p, CMD_GET_FW_VERSION, v, 2);

	if (!r)
		r = fx2_ask(p, CMD_GET_REVID, &p->revid, 1);
	if (r) {
		ldq_err("%s: the %s does not answer fx2lafw's requests: %s", dev->uri,
			p->prof->model, labdaq_strerror(r));
		return r;
	}
	p->fw_major = v[0];
	p->fw_minor = v[1];
	if (p->fw_major != 1) {
		ldq_err("%s: the board runs fx2lafw %u.%u; labdaq speaks version 1.x", dev->uri,
			v[0], v[1]);
		return -EPROTO;
	}
	p->ep = FX2_EP;
	p->iface = 0;
	for (unsigned int bits = 8; bits <= (p->wide ? 16u : 8u); bits += 8) {
		unsigned int i = dev->nchans;

		r = ldq_device_add_channel(dev, bits == 8 ? "D0-D7" : "D0-D15", "",
					   1, bits == 8 ? LABDAQ_DTYPE_UINT8 : LABDAQ_DTYPE_UINT16, 0);
		if (r)
			return r;
		dev->chans[i].optional = bits > 8;
		dev->chans[i].meta = logic_meta(bits);
		if (!dev->chans[i].meta)
			return -ENOMEM;
	}
	snprintf(dev->description, sizeof(dev->description), "%s running fx2lafw %u.%u "
		 "(FX2%s), %d channels, 20 kHz..24 MHz (16 channels up to 12 MHz), port %s%s%.40s",
		 p->prof->model, p->fw_major, p->fw_minor, p->revid == 1 ? "LP" : "",
		 p->wide ? 16 : 8, p->port, *p->serial ? ", serial " : "", p->serial);
	return 0;
}

/* The raw streamer's endpoint, in interface @iface setting @alt. */
static int find_endpoint(struct labdaq_device *dev, libusb_device *d, struct usb_priv *p)
{
	struct libusb_config_descriptor *cfg;
	int r = libusb_get_active_config_descriptor(d, &cfg), found = 0;

	if (r)
		return usb_error(r);
	for (int i = 0; i < cfg->bNumInterfaces && !found; i++) {
		const struct libusb_interface *it = &cfg->interface[i];

		for (int a = 0; a < it->num_altsetting && !found; a++) {
			const struct libusb_interface_descriptor *id = &it->altsetting[a];

			if (id->bInterfaceNumber != p->iface || id->bAlternateSetting != p->alt)
				continue;
			for (int e = 0; e < id->bNumEndpoints; e++) {
				const struct libusb_endpoint_descriptor *ed = &id->endpoint[e];

				if (ed->bEndpointAddress == p->ep &&
				    (ed->bmAttributes & 3) == LIBUSB_TRANSFER_TYPE_BULK)
					found = 1;
			}
		}
	}
	libusb_free_config_descriptor(cfg);
	if (!found)
		ldq_err("%s: interface %u setting %u has no bulk IN endpoint 0x%02x (lsusb -v "
			"lists the device's endpoints)", dev->uri, p->iface, p->alt, p->ep);
	return found ? 0 : -EINVAL;
}

static int setup_bulk(struct labdaq_device *dev, libusb_device *d, struct usb_priv *p,
		      const struct usb_keys *k)
{
	struct libusb_device_descriptor dd;
	int dtype, r;

	if (!k->endpoint || !k->dtype || parse_endpoint(k->endpoint, &p->ep) ||
	    parse_dtype(k->dtype, &dtype)) {
		ldq_err("%s: a raw bulk device needs endpoint=0x81..0x8f (a bulk IN endpoint) and "
			"dtype=u8|u16|i16|u32|i32|i64|f64 (what one value is), e.g. "
			"usb:VID:PID?endpoint=0x81&dtype=u16&channels=4", dev->uri);
		return -EINVAL;
	}
	p->iface = (unsigned int)k->iface;
	p->alt = (unsigned int)k->alt;
	r = find_endpoint(dev, d, p);
	if (r)
		return r;
	for (unsigned int i = 0; i < k->chans; i++) {
		char name[16];

		snprintf(name, sizeof(name), "ch%u", i);
		r = ldq_device_add_channel(dev, name, "", 1, dtype, 0);
		if (r)
			return r;
	}
	libusb_get_device_descriptor(d, &dd);
	snprintf(dev->description, sizeof(dev->description), "USB %04x:%04x, bulk endpoint "
		 "0x%02x (interface %u, setting %u): %u x %s an item, port %s%s%.40s", dd.idVendor,
		 dd.idProduct, p->ep, p->iface, p->alt, (unsigned int)k->chans,
		 labdaq_dtype_numpy(dtype), p->port, *p->serial ? ", serial " : "", p->serial);
	return 0;
}

static void ldq_usb_close(struct labdaq_device *dev)
{
	struct usb_priv *p = dev->priv;

	if (!p)
		return;
	if (p->h) {
		if (p->claimed)
			libusb_release_interface(p->h, (int)p->iface);
		libusb_close(p->h);
	}
	if (p->ctx)
		libusb_exit(p->ctx);
	free(p);
	dev->priv = NULL;
}

/* A boot-state board: the firmware, then the board that comes back. */
static int boot_board(struct labdaq_device *dev, struct usb_priv *p, struct search *s,
		      const char *file)
{
	struct libusb_device_descriptor dd;
	const struct fx2_profile *prof;
	libusb_context *ctx;
	libusb_device *back;
	char port[64];
	int r;

	if (libusb_get_device_descriptor(s->dev, &dd))
		return -ENODEV;
	prof = fx2_profile(dd.idVendor, dd.idProduct);
	port_path(s->dev, port, sizeof(port));
	r = fw_upload(dev->uri, s->dev, prof, file);
	if (r)
		return r;
	r = wait_renumerated(port, &ctx, &back);
	if (r) {
		ldq_err("%s: the %s at port %s did not come back as fx2lafw within %u ms of its "
			"firmware load (unplug it and plug it in again)", dev->uri, prof->model,
			port, RENUM_MS);
		return r;
	}
	/* The board is a device of the new context from now on. */
	libusb_unref_device(s->dev);
	libusb_exit(p->ctx);
	p->ctx = ctx;
	s->dev = back;
	if (libusb_get_device_descriptor(back, &dd) ||
	    fx2_state(back, &dd, s->ser, sizeof(s->ser)) != 1)
		return -ENODEV;
	s->state = 1;
	return 0;
}

static int open_found(struct labdaq_device *dev, struct usb_priv *p, const struct search *s,
		      const struct usb_keys *k)
{
	struct libusb_device_descriptor dd;
	int r, m;

	libusb_get_device_descriptor(s->dev, &dd);
	port_path(s->dev, p->port, sizeof(p->port));
	snprintf(p->serial, sizeof(p->serial), "%s", s->ser);
	snprintf(dev->lock_key, sizeof(dev->lock_key), "usb:%s", p->port);
	r = libusb_open(s->dev, &p->h);
	if (r)
		return open_error(dev, s->dev, r);
	/* A kernel driver bound to the interface is detached by the claim and
	 * attached again by its release (stream_stop, close). */
	libusb_set_auto_detach_kernel_driver(p->h, 1);
	p->dry_ok = k->dry && !strcmp(k->dry, "ignore");
	p->fifo = k->fifo;
	dev->kind = LABDAQ_KIND_SAMPLES;
	if (!k->endpoint && s->state == 1) {
		if (k->dtype) {
			ldq_err("%s: an fx2lafw board takes no dtype: its file holds one uint8 "
				"(D0-D7) or uint16 (D0-D15) a sample", dev->uri);
			return -EINVAL;
		}
		p->mode = MODE_FX2LAFW;
		p->prof = fx2_profile(dd.idVendor, dd.idProduct);
		p->wide = p->prof->wide;
		r = setup_fx2(dev, p);
	} else {
		p->mode = MODE_BULK;
		r = setup_bulk(dev, s->dev, p, k);
	}
	m = libusb_get_max_packet_size(s->dev, p->ep);
	p->maxpkt = m > 0 ? (unsigned int)m : 512;
	return r;
}

static int ldq_usb_open(struct labdaq_device *dev, struct ldq_uri *uri)
{
	struct usb_priv *p;
	struct usb_keys k;
	struct target t;
	struct search s = { .t = &t, .state = -1 };
	int r;

	if (parse_target(uri->path, &t)) {
		ldq_err("%s: not a USB device: expected usb:fx2lafw, usb:BUS.ADDR (decimal, as "
			"lsusb shows) or usb:VID:PID (four hex digits each)", dev->uri);
		return -EINVAL;
	}
	r = read_keys(dev, uri, &k);
	if (r)
		return r;
	s.serial = k.serial;
	r = ldq_usb_load(1);
	if (r)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	dev->priv = p;
	r = usb_init(&p->ctx);
	if (r) {
		ldq_dbg("usb: libusb_init: %s (no USB on this machine?)", libusb_strerror(r));
		r = not_found(dev, &s);
	} else if (find_device(p->ctx, &s)) {
		r = not_found(dev, &s);
	} else {
		if (s.state == 0 && !k.endpoint)
			r = boot_board(dev, p, &s, k.firmware);
		if (!r)
			r = open_found(dev, p, &s, &k);
		libusb_unref_device(s.dev);
	}
	if (r)
		ldq_usb_close(dev);
	return r;
}

/* ---- list ---- */

/* Whether udev's rules tagged the device (ID_LABDAQ=1 in its database
 * record: usb_device nodes are major 189). */
static int udev_tagged(unsigned int bus, unsigned int addr)
{
	char path[64], line[256];
	int found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/run/udev/data/c189:%u", (bus - 1) * 128 + (addr - 1));
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = !strcmp(line, "E:ID_LABDAQ=1\n");
	fclose(f);
	return found;
}

/* One device's line: 1 if labdaq can use it, 0 to leave it out. */
static int describe(libusb_device *d, char *desc, size_t len)
{
	struct libusb_device_descriptor dd;
	const struct fx2_profile *prof;
	char port[64], ser[128];
	int st;

	if (libusb_get_device_descriptor(d, &dd))
		return 0;
	port_path(d, port, sizeof(port));
	prof = fx2_profile(dd.idVendor, dd.idProduct);
	if (!prof) {
		if (!udev_tagged(libusb_get_bus_number(d), libusb_get_device_address(d)))
			return 0;
		snprintf(desc, len, "USB %04x:%04x at port %s, tagged by the udev rules (a raw "
			 "streamer: usb:%04x:%04x?endpoint=0x8N&dtype=...)", dd.idVendor,
			 dd.idProduct, port, dd.idVendor, dd.idProduct);
		return 1;
	}
	st = fx2_state(d, &dd, ser, sizeof(ser));
	if (st == 1)
		snprintf(desc, len, "%s running fx2lafw, %d channels, 20 kHz..24 MHz, port %s%s%s",
			 prof->model, prof->wide ? 16 : 8, port, *ser ? ", serial " : "", ser);
	else if (st == 0)
		snprintf(desc, len, "%s (%04x:%04x) in its boot state at port %s: opening it "
			 "loads %s", prof->model, dd.idVendor, dd.idProduct, port, prof->fw);
	else if (st == LIBUSB_ERROR_ACCESS)
		snprintf(desc, len, "%s (%04x:%04x) at port %s: no permission to open it (install "
			 "the udev rules: sudo make install-udev)", prof->model, dd.idVendor,
			 dd.idProduct, port);
	else
		return 0; /* gone while we listed */
	return 1;
}

static int ldq_usb_list(labdaq_list_fn fn, void *user)
{
	libusb_context *ctx;
	libusb_device **list;
	ssize_t n;
	int count = 0;

	if (ldq_usb_load(0)) {
		ldq_warn("usb: cannot load libusb (%s), so no USB device is listed: install it "
			 "(Debian: libusb-1.0-0)", ldq_usb_dl.why);
		return 0;
	}
	if (usb_init(&ctx))
		return 0; /* no USB here */
	n = libusb_get_device_list(ctx, &list);
	for (ssize_t i = 0; i < n; i++) {
		char uri[32], desc[256];

		if (!describe(list[i], desc, sizeof(desc)))
			continue;
		snprintf(uri, sizeof(uri), "usb:%u.%u", libusb_get_bus_number(list[i]),
			 libusb_get_device_address(list[i]));
		count++;
		if (fn && fn(uri, desc, user))
			break;
	}
	if (n >= 0)
		libusb_free_device_list(list, 1);
	libusb_exit(ctx);
	return n < 0 ? usb_error((int)n) : count;
}

/* ---- streams ----
 * Every transfer has a buffer of its own (a slot); they complete in the
 * order they were submitted (one endpoint), and stream_read copies the
 * oldest one's data into the ring's reservation, then submits it again.
 * libusb's events are handled only in the producer's thread (stream_read)
 * and in stream_stop. */

static void LIBUSB_CALL xfer_done(struct libusb_transfer *t)
{
	struct slot *sl = t->user_data;
	struct usb_priv *p = sl->p;

	sl->state = SLOT_DONE;
	p->inflight--;
	p->rx_bytes += (uint64_t)t->actual_length;
	if (p->go_ns && !p->r1_ns && t->actual_length > 0) {
		p->r1_ns = ldq_now_ns();
		p->rx_r1 = p->rx_bytes;
	}
	switch (t->status) {
	case LIBUSB_TRANSFER_COMPLETED:
	case LIBUSB_TRANSFER_CANCELLED:
		break;
	case LIBUSB_TRANSFER_NO_DEVICE:
		p->gone = 1;
		break;
	case LIBUSB_TRANSFER_OVERFLOW:
		p->fail = p->fail ? p->fail : -EOVERFLOW;
		break;
	default:
		p->fail = p->fail ? p->fail : -EIO;
		break;
	}
	/* No transfer pending: the device had nowhere to put its data. */
	if (p->acquiring && p->inflight == 0 && !p->gone && !p->fail &&
	    !atomic_load(&p->cancelled)) {
		if (!p->dry_count++)
			p->dry_after = p->seq;
		p->dry = 1;
	}
}

/* libusb's events for at most @tv; then, on an fx2lafw stream, the
 * clock check: everything that completed before @t0 has been reaped. */
static void handle_events(struct usb_priv *p, struct timeval *tv)
{
	uint64_t t0 = ldq_now_ns(), ib = p->item_bytes, d;

	libusb_handle_events_timeout_completed(p->ctx, tv, NULL);
	if (p->mode != MODE_FX2LAFW || !p->r1_ns || t0 <= p->r1_ns || !p->acquiring ||
	    p->gone || p->fail || (p->dry && !p->dry_ok) || atomic_load(&p->cancelled))
		return;
	d = clock_deficit(p->rate_hz, (double)(t0 - p->r1_ns) / 1e9,
			  (p->rx_bytes - p->rx_r1 + ib - 1) / ib,
			  (p->fifo + p->xsize + ib - 1) / ib);
	if (d > p->deficit)
		p->deficit = d;
}

static int submit(struct usb_priv *p, struct slot *sl)
{
	int r;

	sl->t->length = (int)p->xsize;
	r = libusb_submit_transfer(sl->t);
	if (r) {
		if (r == LIBUSB_ERROR_NO_DEVICE)
			p->gone = 1;
		else if (!p->fail)
			p->fail = usb_error(r);
		sl->state = SLOT_IDLE;
		return usb_error(r);
	}
	sl->seq = ++p->seq;
	sl->state = SLOT_PENDING;
	p->inflight++;
	return 0;
}

/* The head slot is read: submit it again, unless the stream is ending. */
static void recycle(struct usb_priv *p, struct slot *sl)
{
	struct timeval zero = { 0, 0 };

	sl->state = SLOT_IDLE;
	/* Reap what completed first, so that a queue that ran dry is seen
	 * before this submission hides it. */
	handle_events(p, &zero);
	if (p->gone || p->fail || (p->dry && !p->dry_ok) || atomic_load(&p->cancelled))
		return;
	submit(p, sl);
}

/* Copy what the head slot holds into @dst (up to @room bytes): the bytes
 * copied (0 for an empty transfer), or -1 if it holds nothing yet. */
static long take(struct usb_priv *p, unsigned char *dst, size_t room)
{
	struct slot *sl = &p->slots[p->head];
	size_t avail, n;

	if (sl->state != SLOT_DONE || (p->dry && !p->dry_ok && sl->seq > p->dry_after))
		return -1;
	avail = (size_t)sl->t->actual_length - p->off;
	n = avail < room ? avail : room;
	memcpy(dst, sl->t->buffer + p->off, n);
	p->off += n;
	if (p->off == (size_t)sl->t->actual_length) {
		p->off = 0;
		p->head = (p->head + 1) % p->nslots;
		recycle(p, sl);
	}
	return (long)n;
}

/* After a failed transfer: whether the device is gone.  An unplugged
 * device's transfers may fail with an I/O error before the hub reports the
 * disconnect: ask it (GET_STATUS) for up to half a second. */
static int device_gone(struct usb_priv *p)
{
	for (int i = 0; i < 5; i++) {
		unsigned char st[2];
		int r = libusb_control_transfer(p->h, LIBUSB_ENDPOINT_IN, LIBUSB_REQUEST_GET_STATUS,
						0, 0, st, 2, POLL_MS);

		if (r == LIBUSB_ERROR_NO_DEVICE)
			return 1;
		if (r >= 0)
			return 0;
		sleep_ms(POLL_MS);
	}
	return 0;
}

/* Why nothing more will come (-errno, logged), or 0 to wait. */
static long stream_end(struct labdaq_device *dev, struct usb_priv *p)
{
	if (atomic_load(&p->cancelled))
		return -ECANCELED;
	if (p->fail && !p->gone)
		p->gone = device_gone(p);
	if (p->gone) {
		ldq_err("%s: the USB device is gone (unplugged?) after %llu samples", dev->uri,
			(unsigned long long)p->delivered);
		return -ENODEV;
	}
	if (p->fail) {
		ldq_err("%s: a bulk transfer failed after %llu samples: %s", dev->uri,
			(unsigned long long)p->delivered, labdaq_strerror(p->fail));
		return p->fail;
	}
	if (p->dry && !p->dry_ok && p->slots[p->head].state != SLOT_PENDING) {
		ldq_err("%s: the transfer queue ran dry after %llu samples: no transfer was "
			"pending, so the device may have lost samples (%s); the file ends there. "
			"Lower the rate, or give the run a larger ring or a faster disk",
			dev->uri, (unsigned long long)p->delivered, p->mode == MODE_FX2LAFW ?
			"an FX2 drops what it cannot send, without a trace" :
			"dry=ignore accepts this for a device that holds its data until asked");
		return -EPIPE;
	}
	return 0;
}

/* fx2lafw's samples lost (the board has no overrun flag; a bus slower
 * than its clock drops them there) not yet reported, less the last
 * LOSS_LATE_S of its clock: stream_stop reports those, when the stream
 * ended with the board still there. */
static uint64_t new_loss(struct usb_priv *p)
{
	double late = p->rate_hz * LOSS_LATE_S;
	uint64_t n = (double)p->deficit > late ? p->deficit - (uint64_t)late : 0;

	if (n <= p->lost)
		return 0;
	n -= p->lost;
	p->lost += n;
	return n;
}

static long ldq_usb_stream_read(struct labdaq_device *dev, void *dst, size_t items,
				uint64_t *lost)
{
	struct usb_priv *p = dev->priv;
	size_t ib = p->item_bytes, want = items * ib, have = p->carry_bytes;
	unsigned char *d = dst;

	*lost = 0;
	memcpy(d, p->carry, have);
	p->carry_bytes = 0;
	while (have < want) {
		struct timeval tv = { 0, POLL_MS * 1000 };
		long n = take(p, d + have, want - have), r;

		if (n >= 0) {
			have += (size_t)n;
			continue;
		}
		if (have >= ib)
			break;
		r = stream_end(dev, p);
		if (r)
			return r;
		handle_events(p, &tv);
	}
	*lost = new_loss(p);
	/* A partial item waits for the next call. */
	p->carry_bytes = have % ib;
	memcpy(p->carry, d + have - p->carry_bytes, p->carry_bytes);
	p->delivered += have / ib;
	return (long)(have / ib);
}

static void ldq_usb_stream_cancel(struct labdaq_device *dev)
{
	struct usb_priv *p = dev->priv;

	atomic_store(&p->cancelled, 1);
	libusb_interrupt_event_handler(p->ctx);
}

/* A transfer's buffer: usbfs memory, mapped (@mapped), or malloc's. */
static void free_buffer(struct usb_priv *p, int mapped, unsigned char *buf)
{
	if (mapped)
		libusb_dev_mem_free(p->h, buf, p->xsize);
	else
		free(buf);
}

/* Cancel every pending transfer and wait for them, then free them. */
static void free_slots(struct labdaq_device *dev, struct usb_priv *p)
{
	uint64_t t0 = ldq_now_ns();

	p->acquiring = 0;
	for (unsigned int i = 0; i < p->nslots; i++)
		if (p->slots[i].state == SLOT_PENDING)
			libusb_cancel_transfer(p->slots[i].t);
	while (p->inflight > 0 && ldq_now_ns() - t0 < (uint64_t)STOP_MS * 1000000u) {
		struct timeval tv = { 0, POLL_MS * 1000 };

		libusb_handle_events_timeout_completed(p->ctx, &tv, NULL);
	}
	for (unsigned int i = 0; i < p->nslots; i++) {
		/* A transfer the kernel still holds cannot be freed: kept. */
		if (p->slots[i].state == SLOT_PENDING)
			continue;
		if (p->slots[i].t && p->slots[i].mapped)
			free_buffer(p, 1, p->slots[i].t->buffer);
		if (p->slots[i].t)
			libusb_free_transfer(p->slots[i].t);
	}
	if (p->inflight > 0)
		ldq_warn("%s: %d transfer(s) did not end within %d ms of their cancel", dev->uri,
			 p->inflight, STOP_MS);
	else
		free(p->slots);
	p->slots = NULL;
	p->nslots = 0;
}

static void release(struct usb_priv *p)
{
	if (p->claimed)
		libusb_release_interface(p->h, (int)p->iface);
	p->claimed = 0;
}

/* fx2lafw's samples lost that stream_read left to the end (new_loss):
 * logged, kept for stream_lost.  Not after a failure: a board that
 * vanished made nothing after it went. */
static void check_end(struct labdaq_device *dev, struct usb_priv *p)
{
	if (!p->gone && !p->fail && !(p->dry && !p->dry_ok) && p->deficit > p->lost)
		p->end_lost = p->deficit - p->lost;
	if (!p->lost && !p->end_lost)
		return;
	ldq_warn("%s: the board's clock made at least %llu samples more than arrived (%llu of "
		 "them found at the end of the run): lost on the way, in the file or after its "
		 "end (an FX2 drops what the bus does not carry in time, without a trace); "
		 "counted as dropped, in the gaps where they were noticed (those found at the "
		 "end: one gap at the end of the file). Lower the rate, or give the board a bus "
		 "of its own", dev->uri, (unsigned long long)(p->lost + p->end_lost),
		 (unsigned long long)p->end_lost);
}

static void ldq_usb_stream_stop(struct labdaq_device *dev)
{
	struct usb_priv *p = dev->priv;

	free_slots(dev, p);
	check_end(dev, p);
	release(p);
	if (p->dry_count && p->dry_ok)
		ldq_warn("%s: the transfer queue ran dry %llu time(s) (dry=ignore)", dev->uri,
			 (unsigned long long)p->dry_count);
}

static int claim(struct labdaq_device *dev, struct usb_priv *p)
{
	int r = libusb_claim_interface(p->h, (int)p->iface);

	if (!r) {
		p->claimed = 1;
		if (p->alt)
			r = libusb_set_interface_alt_setting(p->h, (int)p->iface, (int)p->alt);
	}
	if (r == LIBUSB_ERROR_BUSY)
		ldq_err("%s: interface %u is claimed by another program (sigrok's, another "
			"libusb user) or a kernel driver that could not be detached", dev->uri,
			p->iface);
	else if (r == LIBUSB_ERROR_ACCESS)
		ldq_err("%s: no permission to claim interface %u%s", dev->uri, p->iface,
			LDQ_UDEV_HINT);
	else if (r == LIBUSB_ERROR_NO_DEVICE)
		ldq_err("%s: the USB device is gone", dev->uri);
	else if (r)
		ldq_err("%s: cannot claim interface %u (setting %u): %s", dev->uri, p->iface,
			p->alt, libusb_strerror(r));
	if (r)
		release(p);
	return usb_error(r);
}

/* The rate and the START command of an fx2lafw stream. */
static int fx2_prepare(struct labdaq_device *dev, struct usb_priv *p,
		       const struct ldq_stream_params *sp, uint8_t cmd[3])
{
	int wide = sp->nchans == 1 && sp->chans[0] == 1;

	if (sp->nchans != 1) {
		ldq_err("%s: choose one channel: D0-D7 (8 channels, a uint8 a sample) or D0-D15 "
			"(16 channels, a uint16 a sample)", dev->uri);
		return -EINVAL;
	}
	if (fx2_pick_rate(sp->rate_hz, wide, &p->fx2_rate)) {
		ldq_err("%s: %g Hz is outside the rates fx2lafw takes with %d channels: 20 kHz "
			"(20000) to %s", dev->uri, sp->rate_hz, wide ? 16 : 8,
			wide ? "12 MHz (12000000)" : "24 MHz (24000000)");
		return -ERANGE;
	}
	if (sp->rate_hz > 0 && fabs(p->fx2_rate - sp->rate_hz) > 1e-9 * sp->rate_hz)
		ldq_warn("%s: fx2lafw has no rate of %g Hz: the nearest, %u Hz, is used (20k, "
			 "25k, 50k, 100k, 200k, 250k, 500k, 1M, 2M, 3M, 4M, 6M, 8M, 12M, 16M, 24M)",
			 dev->uri, sp->rate_hz, p->fx2_rate);
	p->rate_hz = p->fx2_rate;
	return fx2_start_cmd(p->fx2_rate, wide, cmd);
}

static int check_bulk_chans(struct labdaq_device *dev, const struct ldq_stream_params *sp)
{
	int ok = sp->nchans == dev->nchans;

	for (unsigned int i = 0; ok && i < sp->nchans; i++)
		ok = sp->chans[i] == i;
	if (!ok)
		ldq_err("%s: a raw streamer's items hold every channel (ch0..ch%u, in order): "
			"select them all", dev->uri, dev->nchans - 1);
	return ok ? 0 : -EINVAL;
}

static int alloc_slots(struct usb_priv *p)
{
	xfer_plan(p->rate_hz * (double)p->item_bytes, p->maxpkt, &p->xsize, &p->nslots);
	p->nmapped = 0;
	p->slots = calloc(p->nslots, sizeof(*p->slots));
	if (!p->slots)
		return -ENOMEM;
	for (unsigned int i = 0; i < p->nslots; i++) {
		struct slot *sl = &p->slots[i];
		/* usbfs memory where the kernel allows it (Linux 4.6; its
		 * usbfs_memory_mb): the URB fills it in place, where a malloc'd
		 * buffer costs the kernel a bounce buffer and a copy at each
		 * reap; any other buffer works too. */
		unsigned char *buf = libusb_dev_mem_alloc(p->h, p->xsize);

		sl->p = p;
		sl->mapped = buf != NULL;
		p->nmapped += (unsigned int)sl->mapped;
		if (!buf)
			buf = malloc(p->xsize);
		sl->t = buf ? libusb_alloc_transfer(0) : NULL;
		if (!sl->t) {
			free_buffer(p, sl->mapped, buf);
			return -ENOMEM;
		}
		libusb_fill_bulk_transfer(sl->t, p->h, p->ep, buf, (int)p->xsize, xfer_done, sl,
					  0);
		if (!sl->mapped)
			sl->t->flags = LIBUSB_TRANSFER_FREE_BUFFER;
	}
	return 0;
}

static void reset_stream(struct usb_priv *p, size_t item_bytes)
{
	p->item_bytes = item_bytes;
	p->head = 0;
	p->off = 0;
	p->carry_bytes = 0;
	p->inflight = 0;
	p->seq = p->dry_after = p->dry_count = 0;
	p->dry = p->gone = p->fail = 0;
	p->delivered = 0;
	p->rx_bytes = p->lost = p->deficit = p->end_lost = 0;
	p->go_ns = p->r1_ns = p->rx_r1 = 0;
	atomic_store(&p->cancelled, 0);
}

static int ldq_usb_stream_start(struct labdaq_device *dev, const struct ldq_stream_params *sp)
{
	struct usb_priv *p = dev->priv;
	uint8_t cmd[3];
	int r;

	reset_stream(p, sp->item_bytes);
	if (sp->item_bytes > sizeof(p->carry))
		return -EINVAL;
	if (p->mode == MODE_FX2LAFW)
		r = fx2_prepare(dev, p, sp, cmd);
	else
		r = check_bulk_chans(dev, sp);
	if (r)
		return r;
	if (p->mode == MODE_BULK)
		p->rate_hz = sp->rate_hz;
	r = claim(dev, p);
	if (!r)
		r = alloc_slots(p);
	for (unsigned int i = 0; !r && i < p->nslots; i++)
		r = submit(p, &p->slots[i]);
	if (!r && p->mode == MODE_FX2LAFW) {
		r = libusb_control_transfer(p->h, LIBUSB_REQUEST_TYPE_VENDOR | LIBUSB_ENDPOINT_OUT,
					    CMD_START, 0, 0, cmd, 3, CTRL_MS);
		r = r == 3 ? 0 : r < 0 ? usb_error(r) : -EIO;
		if (r)
			ldq_err("%s: the board refused the start command: %s", dev->uri,
				labdaq_strerror(r));
		else
			p->go_ns = ldq_now_ns();
	}
	if (r) {
		free_slots(dev, p);
		release(p);
		return r;
	}
	p->acquiring = 1;
	ldq_dbg("%s: %u transfers of %zu bytes in flight (%u in usbfs memory), %.9g Hz",
		dev->uri, p->nslots, p->xsize, p->nmapped, p->rate_hz);
	return 0;
}

static uint64_t ldq_usb_stream_lost(struct labdaq_device *dev)
{
	struct usb_priv *p = dev->priv;
	uint64_t n = p->end_lost;

	p->end_lost = 0;
	return n;
}

static double ldq_usb_stream_rate(struct labdaq_device *dev)
{
	struct usb_priv *p = dev->priv;

	return p->rate_hz;
}

/* ---- attributes (read-only) ---- */

static const char *const fx2_attrs[] = { "port", "serial", "firmware", "revid", "samplerates" };
static const char *const bulk_attrs[] = { "port", "serial", "endpoint", "interface", "alt" };

static int attr_value(const struct usb_priv *p, const char *name, char *buf, size_t len)
{
	size_t n = 0;

	if (!strcmp(name, "port"))
		return snprintf(buf, len, "%s", p->port);
	if (!strcmp(name, "serial"))
		return snprintf(buf, len, "%s", p->serial);
	if (p->mode == MODE_FX2LAFW && !strcmp(name, "firmware"))
		return snprintf(buf, len, "fx2lafw %u.%u", p->fw_major, p->fw_minor);
	if (p->mode == MODE_FX2LAFW && !strcmp(name, "revid"))
		return snprintf(buf, len, "%u", p->revid);
	if (p->mode == MODE_FX2LAFW && !strcmp(name, "samplerates")) {
		for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_rates) && n < len; i++)
			n += (size_t)snprintf(buf + n, len - n, "%s%u", i ? " " : "", fx2_rates[i]);
		return (int)n;
	}
	if (p->mode == MODE_BULK && !strcmp(name, "endpoint"))
		return snprintf(buf, len, "0x%02x", p->ep);
	if (p->mode == MODE_BULK && !strcmp(name, "interface"))
		return snprintf(buf, len, "%u", p->iface);
	if (p->mode == MODE_BULK && !strcmp(name, "alt"))
		return snprintf(buf, len, "%u", p->alt);
	return -ENOENT;
}

static int ldq_usb_attr_list(struct labdaq_device *dev, labdaq_attr_fn fn, void *user)
{
	struct usb_priv *p = dev->priv;
	const char *const *names = p->mode == MODE_FX2LAFW ? fx2_attrs : bulk_attrs;
	int count = 0;

	for (size_t i = 0; i < LDQ_ARRAY_SIZE(fx2_attrs); i++) {
		char v[256];
		struct labdaq_attr a = { .name = names[i], .value = v };

		attr_value(p, names[i], v, sizeof(v));
		count++;
		if (fn(&a, user))
			break;
	}
	return count;
}

static int ldq_usb_attr_read(struct labdaq_device *dev, const char *name, char *buf, size_t len)
{
	int r = attr_value(dev->priv, name, buf, len);

	if (r == -ENOENT)
		ldq_err("%s: no attribute '%s' (listing the attributes shows them)", dev->uri,
			name);
	return r;
}

static int ldq_usb_attr_write(struct labdaq_device *dev, const char *name, const char *value)
{
	char v[8];

	if (attr_value(dev->priv, name, v, sizeof(v)) == -ENOENT)
		return ldq_usb_attr_read(dev, name, v, sizeof(v));
	ldq_err("%s: attribute '%s' is read-only: the rate is the run's, the channels its "
		"channel list", dev->uri, name);
	return -EACCES;
}

static int ldq_usb_lib_version(char *buf, size_t len)
{
	const struct libusb_version *v;
	int n;

	if (ldq_usb_load(0)) {
		n = snprintf(buf, len, "libusb not found (%s)", ldq_usb_dl.why);
		return n < 0 ? -EIO : (size_t)n >= len ? -ENAMETOOLONG : n;
	}
	v = libusb_get_version();
	return snprintf(buf, len, "libusb %u.%u.%u", v->major, v->minor, v->micro);
}

const struct ldq_backend ldq_backend_usb = {
	.name = "usb",
	.uris = "usb:fx2lafw[?serial=S], usb:BUS.ADDR, usb:VID:PID?endpoint=0x81&dtype=u16&"
		"channels=N (fx2lafw logic analyzers, raw bulk streamers)",
	.keys_help = "serial, endpoint, dtype, channels, interface, alt, firmware, dry, fifo",
	.lib_version = ldq_usb_lib_version,
	.open = ldq_usb_open,
	.close = ldq_usb_close,
	.list = ldq_usb_list,
	.stream_start = ldq_usb_stream_start,
	.stream_rate_hz = ldq_usb_stream_rate,
	.stream_read = ldq_usb_stream_read,
	.stream_cancel = ldq_usb_stream_cancel,
	.stream_stop = ldq_usb_stream_stop,
	.stream_lost = ldq_usb_stream_lost,
	.attr_list = ldq_usb_attr_list,
	.attr_read = ldq_usb_attr_read,
	.attr_write = ldq_usb_attr_write,
};
