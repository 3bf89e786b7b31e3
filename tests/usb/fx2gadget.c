/*
 * fx2gadget - a USB device played by a FunctionFS gadget, for the usb
 * backend's tests (no hardware: the VM's dummy_hcd connects it to the host
 * side of the same kernel).  See tests/usb/README.md.
 *
 *   fx2gadget fx2lafw [OPTIONS]   a board running sigrok's fx2lafw firmware
 *   fx2gadget boot [OPTIONS]      a Cypress FX2 without firmware (04b4:8613)
 *   fx2gadget stream [OPTIONS]    a generic bulk streamer
 *
 * The fx2lafw board answers the firmware's vendor requests as fx2lafw 1.4
 * does: 0xb0 (firmware version, 2 bytes), 0xb2 (REVID, 1 byte) and 0xb1
 * (start: flags, sample_delay_h, sample_delay_l; 48 or 30 MHz clock, 8 or
 * 16 bits), and streams on bulk IN endpoint 2 a counter: sample i is i
 * modulo 256 (8 bits) or i modulo 65536 as uint16 little-endian (16 bits),
 * at clock / (delay + 1) samples per second.  Like the FX2's GPIF it starts
 * when the host first asks for data after the start command.  Samples the
 * host did not take in time are lost (the emulated FIFO overflowed) and
 * counted in the stats file; the counter goes on with the sample's time,
 * so a loss is also a jump in the data.
 *
 * Both FX2 states answer the chip's own firmware-load request 0xa0 (bytes
 * to internal RAM at wValue; 0xe600 is CPUCS, bit 0 holds the 8051 in
 * reset).  The bytes written are recorded (--record FILE: the RAM image
 * from address 0 to the highest byte written).  Releasing the reset makes
 * the device disconnect and come back as the board the loaded firmware
 * describes (its device descriptor's VID:PID, found in the image), in the
 * fx2lafw state.
 *
 * The generic streamer sends items of --dtype (u8, u16, u32, little-endian)
 * whose value is their index in the stream (item k = k, truncated), at
 * --rate samples per second of --channels items (0: as fast as the bus
 * takes them), from the moment the host first reads.
 *
 * The gadget builds itself in configfs (/sys/kernel/config/usb_gadget/NAME)
 * and binds to the first UDC (or --udc); it removes itself on SIGTERM or
 * SIGINT.  --stats FILE gets key=value lines, rewritten as things happen.
 * Endpoint numbers are handed out by the UDC: dummy_hcd's bulk IN endpoints
 * come in the order 1, 6, 11, 2, so endpoint 2 is had by claiming the first
 * three in a second interface that no host driver uses (--endpoint picks
 * one of 0x81, 0x86, 0x8b, 0x82).
 *
 * Exit status: 0 after SIGTERM/SIGINT, 1 on a setup failure, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/usb/ch9.h>
#include <linux/usb/functionfs.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define CONFIGFS "/sys/kernel/config/usb_gadget"
#define MAX_EPS 5
#define PKT_HS 512
#define CHUNK_MAX (64 * 1024)
#define FX2_RAM 0x10000
#define CPUCS 0xe600
#define FW_MAJOR 1
#define FW_MINOR 4
#define REVID 1 /* CY7C68013A (FX2LP), what libsigrok prints for 1 */

enum mode { MODE_FX2LAFW, MODE_BOOT, MODE_STREAM };

struct ident {
	uint16_t vid, pid;
	const char *mfr, *product, *serial; /* NULL: no string */
};

static struct {
	enum mode mode;
	struct ident id;
	const char *name, *udc, *record, *stats, *dtype;
	unsigned int endpoint, channels, item;
	uint64_t rate;	       /* stream: samples/s; 0 unpaced */
	uint64_t fifo;	       /* bytes the emulated FIFO holds */
	int pace;	       /* fx2lafw: 0 streams as fast as the bus takes */
	uint64_t bus_limit;    /* bytes/s the emulated bus carries at most; 0: no limit */
	uint64_t stall_after;  /* --stall BYTES:MS: the bus stalls once, after BYTES */
	unsigned int stall_ms;
} opt;

/* the gadget as it is plugged in now */
static struct {
	char dir[256], mnt[256];
	int ep0, ep[MAX_EPS], neps, data_ep; /* data_ep: index in ep[] */
	unsigned int ep_addr;		     /* the address the UDC gave */
} g = { .ep0 = -1 };

/* shared between the ep0 thread and the streamer */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct {
	unsigned int gen;	/* bumped by every start */
	unsigned int ack_gen;	/* the generation the streamer has seen */
	int running, enabled;
	uint64_t rate;		/* samples/s, 0: unpaced */
	unsigned int width;	/* bytes per sample */
	uint8_t flags, delay_h, delay_l;
	uint64_t sent, lost, overflows, starts, writes;
	int64_t stall_ns;	/* longest write() */
	const char *state;
	int dirty;		/* counts changed since the stats file was written */
} st = { .state = "setup" };

static uint8_t ram[FX2_RAM];
static uint8_t ram_written[FX2_RAM];
static unsigned long fw_bytes, fw_requests;
static int cpu_reset;
static volatile sig_atomic_t quit;
static pthread_t streamer, stats_tid;

static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fx2gadget: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the stats file ------------------------------------------------------ */

/* called with mu held */
static void stats_write_locked(void)
{
	char tmp[512];
	FILE *f;

	if (!opt.stats)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", opt.stats);
	f = fopen(tmp, "w");
	if (!f)
		return;
	fprintf(f, "state=%s\nvid_pid=%04x:%04x\nendpoint=0x%02x\nenabled=%d\n"
		"starts=%llu\nflags=0x%02x\ndelay=%u\nrate=%llu\nwidth=%u\n"
		"sent=%llu\nlost=%llu\noverflows=%llu\nwrites=%llu\n"
		"max_write_ms=%.3f\nfifo=%llu\nfw_requests=%lu\nfw_bytes=%lu\n",
		st.state, opt.id.vid, opt.id.pid, g.ep_addr, st.enabled,
		(unsigned long long)st.starts, st.flags,
		st.delay_h * 256u + st.delay_l, (unsigned long long)st.rate,
		st.width, (unsigned long long)st.sent,
		(unsigned long long)st.lost, (unsigned long long)st.overflows,
		(unsigned long long)st.writes, st.stall_ns / 1e6,
		(unsigned long long)opt.fifo, fw_requests, fw_bytes);
	if (fclose(f) == 0)
		rename(tmp, opt.stats);
}


/* ---- configfs --------------------------------------------------------------- */

static int put(const char *dir, const char *name, const char *fmt, ...)
{
	char path[512], val[256];
	va_list ap;
	int fd, n, ok;

	va_start(ap, fmt);
	vsnprintf(val, sizeof(val), fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY);
	if (fd < 0) {
		say("open %s: %s", path, strerror(errno));
		return -1;
	}
	n = (int)strlen(val);
	ok = write(fd, val, n) == n;
	if (!ok)
		say("write '%s' to %s: %s", val, path, strerror(errno));
	close(fd);
	return ok ? 0 : -1;
}

static int mkdirf(const char *fmt, ...)
{
	char path[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	if (mkdir(path, 0755) < 0 && errno != EEXIST) {
		say("mkdir %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int first_udc(char *buf, size_t len)
{
	FILE *p = popen("ls /sys/class/udc 2>/dev/null", "r");
	int ok;

	if (!p)
		return -1;
	ok = fgets(buf, (int)len, p) != NULL;
	pclose(p);
	if (!ok)
		return -1;
	buf[strcspn(buf, "\n")] = 0;
	return buf[0] ? 0 : -1;
}

static int configfs_make(void)
{
	const struct ident *id = &opt.id;

	snprintf(g.dir, sizeof(g.dir), CONFIGFS "/%s", opt.name);
	if (mkdirf("%s", g.dir) || put(g.dir, "idVendor", "0x%04x", id->vid) ||
	    put(g.dir, "idProduct", "0x%04x", id->pid) ||
	    put(g.dir, "bcdDevice", "0x0001") || put(g.dir, "bcdUSB", "0x0200") ||
	    put(g.dir, "bDeviceClass", "0xff") ||
	    put(g.dir, "bDeviceSubClass", "0xff") ||
	    put(g.dir, "bDeviceProtocol", "0xff"))
		return -1;
	if (id->mfr) {
		char s[300];

		snprintf(s, sizeof(s), "%s/strings/0x409", g.dir);
		if (mkdirf("%s", s) || put(s, "manufacturer", "%s", id->mfr) ||
		    put(s, "product", "%s", id->product) ||
		    put(s, "serialnumber", "%s", id->serial ? id->serial : ""))
			return -1;
	}
	if (mkdirf("%s/configs/c.1", g.dir) ||
	    put(g.dir, "configs/c.1/MaxPower", "100") ||
	    put(g.dir, "configs/c.1/bmAttributes", "0x80") ||
	    mkdirf("%s/functions/ffs.%s", g.dir, opt.name))
		return -1;
	{
		char from[300], to[300];

		snprintf(from, sizeof(from), "%s/functions/ffs.%s", g.dir, opt.name);
		snprintf(to, sizeof(to), "%s/configs/c.1/ffs.%s", g.dir, opt.name);
		if (symlink(from, to) < 0 && errno != EEXIST) {
			say("symlink %s: %s", to, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static void configfs_remove(void)
{
	char p[300];

	if (!g.dir[0])
		return;
	snprintf(p, sizeof(p), "%s/configs/c.1/ffs.%s", g.dir, opt.name);
	unlink(p);
	snprintf(p, sizeof(p), "%s/configs/c.1/strings/0x409", g.dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/configs/c.1", g.dir);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/functions/ffs.%s", g.dir, opt.name);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/strings/0x409", g.dir);
	rmdir(p);
	if (rmdir(g.dir) < 0 && errno != ENOENT)
		say("rmdir %s: %s", g.dir, strerror(errno));
}

/* ---- FunctionFS descriptors ---------------------------------------------------- */

struct buf {
	uint8_t b[1024];
	size_t n;
};

static void add(struct buf *b, const void *p, size_t len)
{
	memcpy(b->b + b->n, p, len);
	b->n += len;
}

static void add_intf(struct buf *b, uint8_t num, uint8_t neps)
{
	struct usb_interface_descriptor d = {
		.bLength = USB_DT_INTERFACE_SIZE,
		.bDescriptorType = USB_DT_INTERFACE,
		.bInterfaceNumber = num,
		.bNumEndpoints = neps,
		.bInterfaceClass = 0xff,
		.bInterfaceSubClass = 0xff,
		.bInterfaceProtocol = 0xff,
	};

	add(b, &d, sizeof(d));
}

static void add_ep(struct buf *b, uint8_t addr, uint16_t maxp)
{
	struct usb_endpoint_descriptor_no_audio d = {
		.bLength = USB_DT_ENDPOINT_SIZE,
		.bDescriptorType = USB_DT_ENDPOINT,
		.bEndpointAddress = addr,
		.bmAttributes = USB_ENDPOINT_XFER_BULK,
		.wMaxPacketSize = htole16(maxp),
	};

	add(b, &d, sizeof(d));
}

/* dummy_hcd's bulk IN endpoints in the order the UDC hands them out */
static const uint8_t dummy_bulk_in[] = { 0x81, 0x86, 0x8b, 0x82 };

static int fillers_for(unsigned int addr)
{
	for (size_t i = 0; i < sizeof(dummy_bulk_in); i++)
		if (dummy_bulk_in[i] == addr)
			return (int)i;
	return -1;
}

/*
 * One speed's set.  Endpoints are autoconfigured in the order of the
 * full-speed set, interfaces are numbered in the order they first appear,
 * and FunctionFS wants the endpoints in the same order in every set.  So
 * the full-speed set lists interface 0 with the fillers, then interface 1
 * with the data endpoint; the high-speed set (the speed dummy_hcd runs at)
 * lists interface 1 with the fillers first, then interface 0 with the data
 * endpoint alone: at high speed the board's interface 0 is what the real
 * one is, and a second interface follows it in number (first in order).
 */
static unsigned int add_speed(struct buf *b, uint16_t maxp, int hs)
{
	unsigned int count = 0;
	int fill = opt.mode == MODE_BOOT ? 0 : fillers_for(opt.endpoint);

	if (opt.mode == MODE_BOOT) {
		add_intf(b, 0, 0);
		return 1;
	}
	if (fill > 0) {
		add_intf(b, hs ? 1 : 0, (uint8_t)fill);
		count++;
		for (int i = 0; i < fill; i++, count++)
			add_ep(b, dummy_bulk_in[i], maxp);
	}
	add_intf(b, (hs || !fill) ? 0 : 1, 1);
	add_ep(b, (uint8_t)opt.endpoint, maxp);
	return count + 2;
}

static int write_descriptors(int fd)
{
	struct buf b = { .n = 0 };
	struct usb_functionfs_descs_head_v2 h = {
		.magic = htole32(FUNCTIONFS_DESCRIPTORS_MAGIC_V2),
		.flags = htole32(FUNCTIONFS_HAS_FS_DESC | FUNCTIONFS_HAS_HS_DESC |
				 FUNCTIONFS_ALL_CTRL_RECIP | FUNCTIONFS_CONFIG0_SETUP),
	};
	struct buf fs = { .n = 0 }, hs = { .n = 0 };
	uint32_t nfs, nhs;
	struct usb_functionfs_strings_head s = {
		.magic = htole32(FUNCTIONFS_STRINGS_MAGIC),
		.length = htole32(sizeof(s)),
	};

	nfs = htole32(add_speed(&fs, 64, 0));
	nhs = htole32(add_speed(&hs, PKT_HS, 1));
	add(&b, &h, sizeof(h));
	add(&b, &nfs, 4);
	add(&b, &nhs, 4);
	add(&b, fs.b, fs.n);
	add(&b, hs.b, hs.n);
	((struct usb_functionfs_descs_head_v2 *)b.b)->length = htole32((uint32_t)b.n);
	if (write(fd, b.b, b.n) != (ssize_t)b.n) {
		say("write descriptors to ep0: %s", strerror(errno));
		return -1;
	}
	if (write(fd, &s, sizeof(s)) != (ssize_t)sizeof(s)) {
		say("write strings to ep0: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static int ffs_open(void)
{
	char p[300];
	int fill = opt.mode == MODE_BOOT ? 0 : fillers_for(opt.endpoint);

	snprintf(g.mnt, sizeof(g.mnt), "/dev/ffs-%s", opt.name);
	if (mkdirf("%s", g.mnt))
		return -1;
	if (mount(opt.name, g.mnt, "functionfs", 0, NULL) < 0) {
		say("mount functionfs %s on %s: %s", opt.name, g.mnt, strerror(errno));
		g.mnt[0] = 0;
		return -1;
	}
	snprintf(p, sizeof(p), "%s/ep0", g.mnt);
	g.ep0 = open(p, O_RDWR);
	if (g.ep0 < 0) {
		say("open %s: %s", p, strerror(errno));
		return -1;
	}
	if (write_descriptors(g.ep0) < 0)
		return -1;
	g.neps = opt.mode == MODE_BOOT ? 0 : fill + 1;
	g.data_ep = g.neps - 1;
	for (int i = 0; i < g.neps; i++) {
		snprintf(p, sizeof(p), "%s/ep%d", g.mnt, i + 1);
		g.ep[i] = open(p, O_RDWR);
		if (g.ep[i] < 0) {
			say("open %s: %s", p, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int plug(void)
{
	char udc[128];

	g.ep_addr = 0;
	if (configfs_make() < 0 || ffs_open() < 0)
		return -1;
	if (opt.udc)
		snprintf(udc, sizeof(udc), "%s", opt.udc);
	else if (first_udc(udc, sizeof(udc)) < 0) {
		say("no UDC in /sys/class/udc (modprobe dummy_hcd?)");
		return -1;
	}
	if (put(g.dir, "UDC", "%s", udc) < 0)
		return -1;
	pthread_mutex_lock(&mu);
	st.state = opt.mode == MODE_BOOT ? "boot" : "bound";
	stats_write_locked();
	pthread_mutex_unlock(&mu);
	say("plugged in as %04x:%04x (%s) on %s", opt.id.vid, opt.id.pid,
	    opt.mode == MODE_BOOT ? "FX2 boot state" :
	    opt.mode == MODE_FX2LAFW ? "fx2lafw" : "bulk streamer", udc);
	return 0;
}

static void unplug(void)
{
	pthread_mutex_lock(&mu);
	st.enabled = 0;
	pthread_mutex_unlock(&mu);
	if (g.dir[0]) {
		char p[300];
		int fd;

		/* an empty line unbinds; the device leaves the host's bus */
		snprintf(p, sizeof(p), "%s/UDC", g.dir);
		fd = open(p, O_WRONLY);
		if (fd >= 0) {
			if (write(fd, "\n", 1) < 0 && errno != ENODEV)
				say("unbind: %s", strerror(errno));
			close(fd);
		}
	}
	for (int i = 0; i < g.neps; i++)
		if (g.ep[i] >= 0)
			close(g.ep[i]);
	g.neps = 0;
	if (g.ep0 >= 0)
		close(g.ep0);
	g.ep0 = -1;
	if (g.mnt[0]) {
		umount(g.mnt);
		rmdir(g.mnt);
		g.mnt[0] = 0;
	}
	configfs_remove();
	g.dir[0] = 0;
}

/* ---- the streamer ------------------------------------------------------------ */

/* The patterns, laid out once: PERIOD items and a chunk more, so that any
 * run of up to CHUNK_MAX bytes starting at item k is pat + (k % PERIOD) *
 * width, for 1- and 2-byte items.  u32 streams are filled per chunk. */
static uint8_t *pat[3];

static int pattern_init(void)
{
	for (unsigned int w = 1; w <= 2; w++) {
		size_t items = (w == 1 ? 256 : 65536) + CHUNK_MAX / w + 1;

		pat[w] = malloc(items * w);
		if (!pat[w])
			return -1;
		for (size_t i = 0; i < items; i++) {
			uint16_t v = htole16((uint16_t)i);

			memcpy(pat[w] + i * w, &v, w);
		}
	}
	return 0;
}

static const uint8_t *chunk_at(uint64_t k, size_t nitems, unsigned int width,
			       uint8_t *scratch)
{
	if (width == 1)
		return pat[1] + (k % 256);
	if (width == 2)
		return pat[2] + (k % 65536) * 2;
	for (size_t i = 0; i < nitems; i++) {
		uint32_t v = htole32((uint32_t)(k + i));

		memcpy(scratch + i * 4, &v, 4);
	}
	return scratch;
}

static void noop_handler(int sig)
{
	(void)sig;
}

/* --bus-limit: wait until a bus carrying opt.bus_limit bytes/s since @t0
 * has room for @bytes in all */
static void bus_wait(int64_t t0, uint64_t bytes)
{
	int64_t due = t0 + (int64_t)((unsigned __int128)bytes * 1000000000u / opt.bus_limit);
	int64_t t = now_ns();

	if (due > t) {
		struct timespec ts = { (due - t) / 1000000000, (due - t) % 1000000000 };

		nanosleep(&ts, NULL);
	}
}

/* one acquisition, until an error or a new start; returns the errno of the
 * failed write, 0 when a new start took over */
static int stream_once(unsigned int gen, uint64_t rate, unsigned int width,
		       uint8_t *scratch)
{
	const uint64_t pkt_items = PKT_HS / width;
	uint64_t next = 0, fifo_items = opt.fifo / width, sent_bytes = 0;
	int stalled = 0;
	int64_t t0 = 0;

	for (;;) {
		/* paced, the first write is one packet: what the FX2 has when
		 * the host's first IN token starts it */
		uint64_t n = rate && !t0 ? pkt_items : CHUNK_MAX / width;
		uint64_t avail, produced;
		int64_t t = now_ns(), w0;
		ssize_t r;

		pthread_mutex_lock(&mu);
		if (st.gen != gen || quit) {
			pthread_mutex_unlock(&mu);
			return 0;
		}
		if (rate && t0) {
			produced = (uint64_t)((unsigned __int128)(t - t0) * rate /
					      1000000000u);
			avail = produced > next ? produced - next : 0;
			if (avail > fifo_items) {
				st.lost += avail - fifo_items;
				st.overflows++;
				st.dirty = 1;
				next += avail - fifo_items;
				avail = fifo_items;
			}
			n = avail < n ? avail : n;
			n -= n % pkt_items;
		}
		pthread_mutex_unlock(&mu);
		if (n == 0) {
			/* wait until a packet's worth of samples exists */
			struct timespec ts = { 0, (long)(pkt_items * 1000000000u / rate) };

			nanosleep(&ts, NULL);
			continue;
		}
		if (opt.bus_limit && t0)
			bus_wait(t0, sent_bytes + n * width);
		if (opt.stall_ms && sent_bytes >= opt.stall_after && !stalled) {
			/* the bus stalls; the board's clock goes on */
			usleep(opt.stall_ms * 1000u);
			stalled = 1;
			continue;
		}
		w0 = now_ns();
		r = write(g.ep[g.data_ep], chunk_at(next, n, width, scratch), n * width);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		pthread_mutex_lock(&mu);
		if (now_ns() - w0 > st.stall_ns)
			st.stall_ns = now_ns() - w0;
		if (!t0)
			t0 = now_ns() - (int64_t)((r / width) * 1000000000u /
						  (rate ? rate : 1000000000u));
		if (st.gen == gen) {
			st.sent += (uint64_t)r / width;
			st.writes++;
			st.dirty = 1;
		}
		pthread_mutex_unlock(&mu);
		next += (uint64_t)r / width;
		sent_bytes += (uint64_t)r;
	}
}

/* the stats file follows the counts within 50 ms */
static void *stats_thread(void *arg)
{
	(void)arg;
	while (!quit) {
		usleep(50000);
		pthread_mutex_lock(&mu);
		if (st.dirty) {
			stats_write_locked();
			st.dirty = 0;
		}
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

static void *stream_thread(void *arg)
{
	static uint8_t scratch[CHUNK_MAX];
	unsigned int gen = 0;
	int err;

	(void)arg;
	for (;;) {
		uint64_t rate;
		unsigned int width;

		pthread_mutex_lock(&mu);
		st.ack_gen = st.gen;	/* nothing older runs here now */
		while (!quit && (!st.running || st.gen == gen))
			pthread_cond_wait(&cv, &mu);
		if (quit) {
			pthread_mutex_unlock(&mu);
			return NULL;
		}
		gen = st.ack_gen = st.gen;
		rate = st.rate;
		width = st.width;
		st.state = "streaming";
		st.sent = st.lost = st.overflows = st.writes = 0;
		st.stall_ns = 0;
		stats_write_locked();
		pthread_mutex_unlock(&mu);
		err = stream_once(gen, rate, width, scratch);
		pthread_mutex_lock(&mu);
		if (st.gen == gen) {
			st.running = 0;
			st.state = "stopped";
		}
		if (err)
			say("stream ended: %s (sent %llu samples, lost %llu)",
			    strerror(err), (unsigned long long)st.sent,
			    (unsigned long long)st.lost);
		stats_write_locked();
		pthread_mutex_unlock(&mu);
	}
}

/* Until the streamer has seen the latest change (st.gen, bumped by the
 * caller), interrupting a write() it may be blocked in: 1 s at most. */
static void stream_wait_ack(void)
{
	for (int i = 0; i < 200; i++) {
		int seen;

		pthread_mutex_lock(&mu);
		seen = st.ack_gen == st.gen;
		pthread_mutex_unlock(&mu);
		if (seen)
			break;
		pthread_kill(streamer, SIGUSR2);
		usleep(5000);
	}
}

/* start a new acquisition; the streamer drops the old one (a blocked
 * write() is interrupted by SIGUSR2) */
static void stream_start(uint64_t rate, unsigned int width)
{
	pthread_mutex_lock(&mu);
	st.gen++;
	st.running = 1;
	st.rate = rate;
	st.width = width;
	st.starts++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	stream_wait_ack();
}

static void stream_stop(void)
{
	pthread_mutex_lock(&mu);
	st.gen++;
	st.running = 0;
	st.state = "stopped";
	pthread_mutex_unlock(&mu);
	stream_wait_ack();
}

/* ---- ep0: the control requests --------------------------------------------------- */

static void ep0_stall(const struct usb_ctrlrequest *c)
{
	/* FunctionFS stalls on I/O in the wrong direction */
	if (c->bRequestType & USB_DIR_IN) {
		if (read(g.ep0, NULL, 0) < 0 && errno != EL2HLT)
			say("stall: %s", strerror(errno));
	} else if (write(g.ep0, NULL, 0) < 0 && errno != EL2HLT) {
		say("stall: %s", strerror(errno));
	}
}

static void ep0_reply(const void *p, size_t len, uint16_t wlength)
{
	if (len > wlength)
		len = wlength;
	if (write(g.ep0, p, len) < 0)
		say("ep0 reply: %s", strerror(errno));
}

/* read an OUT request's data stage (or ack one without data) */
static ssize_t ep0_data(void *p, uint16_t wlength)
{
	ssize_t r = read(g.ep0, p, wlength);

	if (r < 0)
		say("ep0 data: %s", strerror(errno));
	return r;
}

static int fw_find_ident(struct ident *id);

/* 0xa0: the FX2's own RAM access; returns 1 when the 8051 leaves reset */
static int fx2_a0(const struct usb_ctrlrequest *c)
{
	static uint8_t data[65536];
	unsigned int addr = le16toh(c->wValue), len = le16toh(c->wLength);
	ssize_t r;

	if (c->bRequestType & USB_DIR_IN) {
		for (unsigned int i = 0; i < len; i++)
			data[i] = ram[(addr + i) & 0xffff];
		ep0_reply(data, len, (uint16_t)len);
		return 0;
	}
	r = ep0_data(data, (uint16_t)len);
	if (r < 0)
		return 0;
	pthread_mutex_lock(&mu);
	fw_requests++;
	if (addr == CPUCS && r == 1) {
		int was = cpu_reset;

		cpu_reset = data[0] & 1;
		pthread_mutex_unlock(&mu);
		say("CPUCS <- 0x%02x", data[0]);
		return was && !cpu_reset;
	}
	for (ssize_t i = 0; i < r; i++) {
		ram[(addr + i) & 0xffff] = data[i];
		ram_written[(addr + i) & 0xffff] = 1;
	}
	fw_bytes += (unsigned long)r;
	pthread_mutex_unlock(&mu);
	return 0;
}

static uint64_t fx2lafw_rate(uint8_t flags, uint8_t dh, uint8_t dl)
{
	uint64_t clk = (flags & 0x40) ? 48000000 : 30000000;

	return clk / (dh * 256u + dl + 1u);
}

/* 0xb1: flags, sample_delay_h, sample_delay_l, as fx2lafw 1.4 takes them */
static void fx2lafw_start(const struct usb_ctrlrequest *c)
{
	uint8_t d[64];
	uint16_t len = le16toh(c->wLength);
	ssize_t r = ep0_data(d, len > sizeof(d) ? sizeof(d) : len);
	uint64_t rate;
	unsigned int width;

	/* the firmware acts only on exactly 3 bytes, and a delay_h under 6 */
	if (r != 3 || d[1] >= 6) {
		say("start command ignored (%zd bytes, delay_h %u)", r, r > 1 ? d[1] : 0);
		return;
	}
	rate = fx2lafw_rate(d[0], d[1], d[2]);
	width = (d[0] & 0x20) ? 2 : 1;
	pthread_mutex_lock(&mu);
	st.flags = d[0];
	st.delay_h = d[1];
	st.delay_l = d[2];
	pthread_mutex_unlock(&mu);
	say("start: flags 0x%02x (%s MHz, %u bits%s), delay %u: %llu samples/s",
	    d[0], (d[0] & 0x40) ? "48" : "30", width * 8,
	    (d[0] & 0x10) ? ", CTL2 clock" : "", d[1] * 256u + d[2],
	    (unsigned long long)rate);
	stream_start(opt.pace ? rate : 0, width);
}

/* returns 1 when the device must re-enumerate */
static int handle_setup(const struct usb_ctrlrequest *c)
{
	static const uint8_t version[2] = { FW_MAJOR, FW_MINOR };
	static const uint8_t revid[1] = { REVID };
	int vendor = (c->bRequestType & USB_TYPE_MASK) == USB_TYPE_VENDOR;

	if (vendor && c->bRequest == 0xa0 && opt.mode != MODE_STREAM)
		return fx2_a0(c);
	if (vendor && opt.mode == MODE_FX2LAFW && !cpu_reset) {
		switch (c->bRequest) {
		case 0xb0:
			if (c->bRequestType & USB_DIR_IN) {
				ep0_reply(version, 2, le16toh(c->wLength));
				return 0;
			}
			break;
		case 0xb2:
			if (c->bRequestType & USB_DIR_IN) {
				ep0_reply(revid, 1, le16toh(c->wLength));
				return 0;
			}
			break;
		case 0xb1:
			if (!(c->bRequestType & USB_DIR_IN)) {
				fx2lafw_start(c);
				return 0;
			}
			break;
		}
	}
	say("stall: request type 0x%02x request 0x%02x value 0x%04x index %u length %u",
	    c->bRequestType, c->bRequest, le16toh(c->wValue), le16toh(c->wIndex),
	    le16toh(c->wLength));
	ep0_stall(c);
	return 0;
}

static void on_enable(void)
{
	struct usb_endpoint_descriptor d;

	if (g.neps && ioctl(g.ep[g.data_ep], FUNCTIONFS_ENDPOINT_DESC, &d) == 0)
		g.ep_addr = d.bEndpointAddress;
	pthread_mutex_lock(&mu);
	st.enabled = 1;
	stats_write_locked();
	pthread_mutex_unlock(&mu);
	say("enabled by the host, data endpoint 0x%02x", g.ep_addr);
	if (opt.mode == MODE_STREAM)
		stream_start(opt.rate * opt.channels, opt.item);
}

static void on_disable(void)
{
	pthread_mutex_lock(&mu);
	st.enabled = 0;
	stats_write_locked();
	pthread_mutex_unlock(&mu);
	if (opt.mode == MODE_STREAM)
		stream_stop();
}

/* the ep0 loop; returns 1 to re-enumerate, 0 on quit, -1 on an error */
static int ep0_loop(void)
{
	struct usb_functionfs_event ev[4];

	while (!quit) {
		ssize_t r = read(g.ep0, ev, sizeof(ev));

		if (r < 0) {
			if (errno == EINTR)
				continue;
			say("read ep0: %s", strerror(errno));
			return -1;
		}
		for (size_t i = 0; i < (size_t)r / sizeof(ev[0]); i++) {
			switch (ev[i].type) {
			case FUNCTIONFS_ENABLE:
				on_enable();
				break;
			case FUNCTIONFS_DISABLE:
			case FUNCTIONFS_UNBIND:
				on_disable();
				break;
			case FUNCTIONFS_SETUP:
				if (handle_setup(&ev[i].u.setup))
					return 1;
				break;
			default:
				break;
			}
		}
	}
	return 0;
}

/* ---- the firmware image ------------------------------------------------------------ */

static int record_firmware(void)
{
	unsigned int top = 0;
	FILE *f;

	if (!opt.record)
		return 0;
	for (unsigned int a = 0; a < FX2_RAM; a++)
		if (ram_written[a] && a != CPUCS)
			top = a + 1;
	f = fopen(opt.record, "wb");
	if (!f || fwrite(ram, 1, top, f) != top || fclose(f) != 0) {
		say("write %s: %s", opt.record, strerror(errno));
		return -1;
	}
	say("recorded %u bytes of RAM image (%lu bytes in %lu requests) in %s",
	    top, fw_bytes, fw_requests, opt.record);
	return 0;
}

/* the identity the loaded firmware gives: the first USB 2.0 device
 * descriptor in the image (bLength 18, type 1, bcdUSB 2.00) */
static int fw_find_ident(struct ident *id)
{
	static const struct {
		uint16_t vid, pid;
		const char *serial;
	} boards[] = {
		{ 0x1d50, 0x608c, "sigrok FX2 8ch" },
		{ 0x1d50, 0x608d, "sigrok FX2 16ch" },
		{ 0x04b4, 0x8613, "Cypress FX2" },
		{ 0x0925, 0x3881, "Saleae Logic" },
	};

	for (unsigned int a = 0; a + 18 <= 0x4000; a++) {
		const uint8_t *d = ram + a;

		if (d[0] != 18 || d[1] != 1 || d[2] != 0 || d[3] != 2 || d[17] != 1)
			continue;
		id->vid = (uint16_t)(d[8] | d[9] << 8);
		id->pid = (uint16_t)(d[10] | d[11] << 8);
		id->mfr = "sigrok";
		id->product = "fx2lafw";
		id->serial = "";
		for (size_t i = 0; i < sizeof(boards) / sizeof(boards[0]); i++)
			if (boards[i].vid == id->vid && boards[i].pid == id->pid)
				id->serial = boards[i].serial;
		return 0;
	}
	return -1;
}

/* ---- main ---------------------------------------------------------------------------- */

static void usage(void)
{
	fputs("usage: fx2gadget fx2lafw|boot|stream [--vid-pid VID:PID] [--serial S]\n"
	      "         fx2gadget pattern u8|u16|u32 COUNT [FIRST]\n"
	      "         [--name NAME] [--udc UDC] [--stats FILE] [--record FILE]\n"
	      "         [--endpoint 0x81|0x86|0x8b|0x82] [--fifo BYTES] [--no-pace]\n"
	      "         [--bus-limit BYTES_PER_S] [--stall BYTES:MS]\n"
	      "         [--rate SAMPLES_PER_S] [--channels N] [--dtype u8|u16|u32]\n"
	      "see tests/usb/README.md\n", stderr);
	exit(2);
}

static void defaults(const char *mode)
{
	opt.name = "labdaq_test";
	opt.fifo = 4 << 20;
	opt.pace = 1;
	opt.channels = 1;
	opt.dtype = "u16";
	if (!strcmp(mode, "fx2lafw")) {
		opt.mode = MODE_FX2LAFW;
		opt.id = (struct ident){ 0x1d50, 0x608c, "sigrok", "fx2lafw",
					 "sigrok FX2 8ch" };
		opt.endpoint = 0x82;
	} else if (!strcmp(mode, "boot")) {
		opt.mode = MODE_BOOT;
		opt.id = (struct ident){ 0x04b4, 0x8613, NULL, NULL, NULL };
		cpu_reset = 1;
	} else if (!strcmp(mode, "stream")) {
		opt.mode = MODE_STREAM;
		opt.id = (struct ident){ 0x1209, 0x0001, "labdaq tests",
					 "bulk streamer", "0001" };
		opt.endpoint = 0x81;
	} else {
		usage();
	}
}

static void parse_args(int argc, char **argv)
{
	if (argc < 2)
		usage();
	defaults(argv[1]);
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		unsigned int vid, pid;

		if (!strcmp(a, "--no-pace")) {
			opt.pace = 0;
			continue;
		}
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--vid-pid") && sscanf(v, "%x:%x", &vid, &pid) == 2) {
			opt.id.vid = (uint16_t)vid;
			opt.id.pid = (uint16_t)pid;
		} else if (!strcmp(a, "--serial")) {
			opt.id.serial = v;
		} else if (!strcmp(a, "--name")) {
			opt.name = v;
		} else if (!strcmp(a, "--udc")) {
			opt.udc = v;
		} else if (!strcmp(a, "--stats")) {
			opt.stats = v;
		} else if (!strcmp(a, "--record")) {
			opt.record = v;
		} else if (!strcmp(a, "--endpoint")) {
			opt.endpoint = (unsigned int)strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--stall")) {
			if (sscanf(v, "%" SCNu64 ":%u", &opt.stall_after, &opt.stall_ms) != 2)
				usage();
		} else if (!strcmp(a, "--bus-limit")) {
			opt.bus_limit = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--fifo")) {
			opt.fifo = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--rate")) {
			opt.rate = strtoull(v, NULL, 0);
		} else if (!strcmp(a, "--channels")) {
			opt.channels = (unsigned int)strtoul(v, NULL, 0);
		} else if (!strcmp(a, "--dtype")) {
			opt.dtype = v;
		} else {
			usage();
		}
	}
	opt.item = !strcmp(opt.dtype, "u8") ? 1 : !strcmp(opt.dtype, "u16") ? 2 :
		   !strcmp(opt.dtype, "u32") ? 4 : 0;
	if (!opt.item || !opt.channels ||
	    (opt.mode != MODE_BOOT && fillers_for(opt.endpoint) < 0) ||
	    opt.fifo < PKT_HS) {
		fprintf(stderr, "fx2gadget: bad --dtype, --channels, --endpoint or --fifo\n");
		usage();
	}
}

static void on_quit(int sig)
{
	(void)sig;
	quit = 1;
}

static void signals(void)
{
	struct sigaction sa = { .sa_handler = on_quit };

	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = noop_handler;
	sigaction(SIGUSR2, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* the 8051 left reset: disconnect, come back as the loaded firmware says */
static int renumerate(void)
{
	struct ident id;

	record_firmware();
	stream_stop();
	usleep(20000);	/* let the status stage of the CPUCS write finish */
	unplug();
	pthread_mutex_lock(&mu);
	st.state = "renumerating";
	stats_write_locked();
	pthread_mutex_unlock(&mu);
	if (fw_find_ident(&id) < 0) {
		say("the loaded image has no USB device descriptor: staying off the bus");
		pthread_mutex_lock(&mu);
		st.state = "no-firmware";
		stats_write_locked();
		pthread_mutex_unlock(&mu);
		while (!quit)
			pause();
		return 0;
	}
	opt.id = id;
	opt.mode = MODE_FX2LAFW;
	opt.endpoint = 0x82;
	usleep(100000);	/* the FX2 is off the bus for a while */
	return plug();
}

/* fx2gadget pattern u8|u16|u32 COUNT [FIRST]: the items a capture of COUNT
 * items starting at item FIRST must hold, on stdout */
static int print_pattern(int argc, char **argv)
{
	unsigned int item;
	uint64_t count, k;

	if (argc < 4)
		usage();
	item = !strcmp(argv[2], "u8") ? 1 : !strcmp(argv[2], "u16") ? 2 :
	       !strcmp(argv[2], "u32") ? 4 : 0;
	if (!item)
		usage();
	count = strtoull(argv[3], NULL, 0);
	k = argc > 4 ? strtoull(argv[4], NULL, 0) : 0;
	for (uint64_t i = 0; i < count; i++) {
		uint32_t v = htole32((uint32_t)(k + i));

		if (fwrite(&v, item, 1, stdout) != 1)
			return 1;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	sigset_t block, old;
	int r;

	if (argc > 1 && !strcmp(argv[1], "pattern"))
		return print_pattern(argc, argv);
	parse_args(argc, argv);
	signals();
	if (pattern_init() < 0)
		return 1;
	/* only the ep0 thread takes SIGTERM and SIGINT */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (pthread_create(&streamer, NULL, stream_thread, NULL) != 0 ||
	    pthread_create(&stats_tid, NULL, stats_thread, NULL) != 0)
		return 1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* a gadget of that name left by a killed run */
	snprintf(g.dir, sizeof(g.dir), CONFIGFS "/%s", opt.name);
	snprintf(g.mnt, sizeof(g.mnt), "/dev/ffs-%s", opt.name);
	unplug();
	r = plug() < 0 ? -1 : 0;
	while (r == 0 && !quit) {
		r = ep0_loop();
		if (r == 1)
			r = renumerate() < 0 ? -1 : 0;
	}
	pthread_mutex_lock(&mu);
	quit = 1;
	st.state = r < 0 ? "failed" : "quit";
	stats_write_locked();
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_kill(streamer, SIGUSR2);
	pthread_join(streamer, NULL);
	pthread_join(stats_tid, NULL);
	if (opt.mode != MODE_STREAM)
		record_firmware();
	unplug();
	return r < 0 ? 1 : 0;
}
