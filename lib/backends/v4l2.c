/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * v4l2.c - cameras and frame grabbers through Video4Linux2, plain ioctls.
 *
 * URIs: v4l2:/dev/videoN (or any path naming a capture node, a
 * /dev/v4l/by-id link too), with the keys
 *
 *   width=W&height=H   the frame size; the nearest the driver takes is used
 *                      (VIDIOC_TRY_FMT) and refused when either side is off
 *                      by more than a quarter
 *   format=FOURCC      the pixel format as its fourcc (GREY, Y16, YUYV...);
 *                      refused when the driver does not offer it
 *   fps=F              the frame rate; the nearest interval the driver lists
 *                      for the mode is taken, refused when off by more than
 *                      a quarter
 *   buffers=N          driver buffers (2..32, default 8)
 *
 * Without a key the device's current setting is kept.  The mode taken is
 * in the device's description and in the sidecar's channel ("v4l2": the
 * fourcc, the pixel width and height, bytes per line, the driver's frame
 * size, the frame rate).
 *
 * Files: mono formats (GREY; Y10, Y12, Y16: 16-bit little-endian words)
 * are (frames, height, width) of uint8 or uint16.  Every other
 * uncompressed single-plane format (YUYV, RGB24, NV12...) is kept as the
 * bytes the driver gives, (frames, rows, bytesperline) uint8, rows being
 * sizeimage / bytesperline; its layout is in the sidecar.  Compressed
 * formats (MJPG, H264: frames of varying size) are refused.
 *
 * Streams: MMAP buffers, each frame copied once from the dequeued buffer
 * into the ring's reservation; the descriptor is non-blocking and polled
 * with an eventfd that stream_cancel writes.  A jump in the driver's
 * sequence numbers (frames the driver or the camera lost) and a buffer
 * the driver flags as an error are reported as lost items, hence as
 * gaps.  A device that goes away (ENODEV, POLLERR after a disconnect)
 * ends the read with -ENODEV.  stream_stop always runs STREAMOFF, unmaps
 * and frees the buffers (REQBUFS 0), even on a vanished device.
 *
 * Attributes: the device's controls, named as v4l2-ctl names them (the
 * control's name in lower case, other characters '_': "test_pattern"),
 * values as integers (a menu item's name is accepted when written); plus
 * read-only "format", "size" and "fps" whose available values list what
 * the driver offers (VIDIOC_ENUM_FMT, _FRAMESIZES, _FRAMEINTERVALS).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <limits.h>
#include <linux/videodev2.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../internal.h"
#include "../npy.h"
#include "../ring.h"
#include "../util.h"
#include "backend.h"
#include "v4l2_pure.h"

#define V4L2_MAX_BUFS 32
#define V4L2_DEF_BUFS 8
/* Rows of the companion file kept in memory between writes: 4 KiB. */
#define V4L2_FACTS_BATCH 256

/* How frames reach the ring (the io= key). */
enum v4l2_io { V4L2_IO_AUTO, V4L2_IO_MMAP, V4L2_IO_USERPTR };

struct v4l2_buf {
	void *start;     /* MMAP: the mapping */
	size_t len;
	/* USERPTR: where the buffer is queued: the ring at absolute byte
	 * position pos (in_ring), or bounce, a block of the backend's own. */
	void *uptr;
	uint64_t pos;
	bool in_ring;
	bool queued;
	void *bounce;
};

struct v4l2 {
	int fd;
	int efd;
	atomic_bool cancelled;
	char path[PATH_MAX];
	struct v4l2_pix_format pix; /* the mode negotiated at open */
	double fps;                 /* asked for (0: keep the device's) */
	double fps_now;             /* after stream_start */
	unsigned int nbufs_req;
	size_t frame_bytes;         /* stored bytes of one frame */
	struct v4l2_buf bufs[V4L2_MAX_BUFS];
	unsigned int nbufs;
	enum v4l2_io io_req;        /* the io= key */
	bool userptr;               /* this run's buffers are USERPTR */
	bool userptr_ok;            /* the driver and the frame size allow it */
	char *meta_io;              /* the "io" value in the channel's meta */
	struct ldq_ring *ring;      /* the run's, while it streams */
	unsigned int queued;        /* buffers in the driver's queue */
	uint64_t ring_end;          /* end of the last region queued in the ring */
	uint64_t direct, copied;    /* USERPTR frames: in place, copied */
	bool streaming;
	bool have_seq;
	uint32_t next_seq;
	bool gone_logged;
	/* The companion FILE.frames.npy: (frames, 2) uint64, each delivered
	 * frame's driver sequence number and timestamp in ns. */
	int facts_fd;
	uint64_t facts_rows;          /* on disk */
	unsigned int facts_n;         /* in facts[] */
	uint64_t facts[V4L2_FACTS_BATCH][2];
	bool facts_failed;
};

static int xioctl(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* ---- pure helpers (also built into tests/unit/test_v4l2.c) ---- */

void ldq_v4l2_fourcc_str(uint32_t f, char out[8])
{
	int n = 0;
	bool be = f & (1u << 31); /* V4L2_PIX_FMT_BE, as v4l2-ctl shows it */

	f &= ~(1u << 31);
	for (int i = 0; i < 4; i++) {
		char c = (char)((f >> (8 * i)) & 0xff);

		out[n++] = isprint((unsigned char)c) ? c : '?';
	}
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
	if (be)
		strcpy(out + n, "-BE");
}

int ldq_v4l2_fourcc_parse(const char *s, uint32_t *f)
{
	size_t n = strlen(s);
	char b[4] = { ' ', ' ', ' ', ' ' };

	if (n < 1 || n > 4)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (!isprint((unsigned char)s[i]) || s[i] == ' ')
			return -EINVAL;
		b[i] = s[i];
	}
	*f = v4l2_fourcc(b[0], b[1], b[2], b[3]);
	return 0;
}

int ldq_v4l2_pixel_layout(uint32_t fourcc, uint32_t width, uint32_t height, uint32_t bpl,
			  uint32_t sizeimage, struct ldq_v4l2_layout *l)
{
	unsigned int bps = 0;

	memset(l, 0, sizeof(*l));
	switch (fourcc) {
	case V4L2_PIX_FMT_GREY:
		bps = 1;
		break;
	case V4L2_PIX_FMT_Y10:
	case V4L2_PIX_FMT_Y12:
	case V4L2_PIX_FMT_Y16:
		bps = 2;
		break;
	default:
		break;
	}
	if (!width || !height || !bpl || !sizeimage)
		return -EINVAL;
	if (bps) {
		if (bpl % bps || bpl / bps < width || (uint64_t)bpl * height > sizeimage)
			return -EINVAL;
		l->mono = 1;
		l->dtype = bps == 1 ? LABDAQ_DTYPE_UINT8 : LABDAQ_DTYPE_UINT16;
		/* Padding at the end of a row is kept: the file's width. */
		l->cols = bpl / bps;
		l->rows = height;
		l->bytes = (size_t)bpl * height;
		return 0;
	}
	if (sizeimage % bpl)
		return -EINVAL;
	l->dtype = LABDAQ_DTYPE_UINT8;
	l->cols = bpl;
	l->rows = sizeimage / bpl;
	l->bytes = sizeimage;
	return 0;
}

int ldq_v4l2_far_off(double want, double got)
{
	if (want <= 0)
		return 0;
	return !(got >= want * 0.75 && got <= want * 1.25);
}

void ldq_v4l2_ctrl_name(const char *name, char *out, size_t len)
{
	size_t n = 0;
	bool sep = false;

	for (const char *p = name; *p && n + 1 < len; p++) {
		unsigned char c = (unsigned char)*p;

		if (isalnum(c)) {
			if (sep && n)
				out[n++] = '_';
			sep = false;
			if (n + 1 < len)
				out[n++] = (char)tolower(c);
		} else {
			sep = true;
		}
	}
	out[n] = '\0';
}

uint64_t ldq_v4l2_seq_lost(bool have, uint32_t expect, uint32_t seq)
{
	if (!have)
		return 0;
	/* 32-bit wrap: a sequence number that goes back is a restart, not a
	 * loss of four billion frames. */
	uint32_t d = seq - expect;

	return d < 0x80000000u ? d : 0;
}

/* ---- device ---- */

static int v4l2_caps(int fd, struct v4l2_capability *cap)
{
	int ret = xioctl(fd, VIDIOC_QUERYCAP, cap);
	uint32_t caps;

	if (ret)
		return ret;
	caps = (cap->capabilities & V4L2_CAP_DEVICE_CAPS) ? cap->device_caps
							   : cap->capabilities;
	if (!(caps & V4L2_CAP_VIDEO_CAPTURE) || !(caps & V4L2_CAP_STREAMING))
		return -ENOTTY;
	return 0;
}

static double interval_fps(const struct v4l2_fract *f)
{
	return f->numerator ? (double)f->denominator / f->numerator : 0;
}

/* The listed frame interval nearest to @fps for the mode; 0 or -errno. */
static int nearest_fps(int fd, const struct v4l2_pix_format *pix, double fps, double *got)
{
	struct v4l2_frmivalenum iv = { .pixel_format = pix->pixelformat,
				       .width = pix->width, .height = pix->height };
	double best = 0;

	for (iv.index = 0; !xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv); iv.index++) {
		double f;

		if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE) {
			f = interval_fps(&iv.discrete);
		} else {
			/* A range: its ends (fps = 1/interval). */
			double lo = interval_fps(&iv.stepwise.max), hi = interval_fps(&iv.stepwise.min);

			f = fps < lo ? lo : fps > hi ? hi : fps;
		}
		if (!best || fabs(f - fps) < fabs(best - fps))
			best = f;
		if (iv.type != V4L2_FRMIVAL_TYPE_DISCRETE)
			break;
	}
	if (!best)
		return -EOPNOTSUPP;
	*got = best;
	return 0;
}

/* The device's frame rate now, 0 if it does not say. */
static double device_fps(int fd)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

	if (xioctl(fd, VIDIOC_G_PARM, &parm))
		return 0;
	return interval_fps(&parm.parm.capture.timeperframe);
}

/* The "io" value in the sidecar, with its closing quote: both spellings
 * are as long, the one rewritten in place of the other. */
#define IO_USERPTR "userptr\""
#define IO_MMAP "mmap\"   "

/*
 * The io= key against what the device allows.  Frames go straight into the
 * ring with USERPTR buffers when the driver offers them (REQBUFS reports it
 * since Linux 4.20) and a frame is the size the driver fills, a multiple of
 * 64 bytes: then every frame in the ring starts on a cache line (a driver
 * that writes user pages by DMA needs that on machines without coherent
 * caches, and vb2's dma-contig refuses less).  A device another program
 * streams from cannot say (EBUSY): USERPTR is tried, stream_start falls
 * back.  0, or -EINVAL for io=userptr that cannot be.
 */
static int choose_io(struct v4l2 *v)
{
	struct v4l2_requestbuffers rb = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = V4L2_MEMORY_MMAP };
	bool size_ok = v->frame_bytes == v->pix.sizeimage && v->frame_bytes % 64 == 0;
	int ret;

	if (v->io_req == V4L2_IO_MMAP)
		return 0;
	ret = xioctl(v->fd, VIDIOC_REQBUFS, &rb);
	v->userptr_ok = size_ok && (ret == -EBUSY ||
				    (!ret && (rb.capabilities & V4L2_BUF_CAP_SUPPORTS_USERPTR)));
	if (v->userptr_ok || v->io_req == V4L2_IO_AUTO)
		return 0;
	if (!size_ok)
		ldq_err("v4l2:%s: io=userptr: a frame of %zu bytes (the driver fills %u) cannot go "
			"into the ring in place: it must be the driver's size and a multiple of "
			"64 bytes; use io=mmap", v->path, v->frame_bytes, v->pix.sizeimage);
	else
		ldq_err("v4l2:%s: io=userptr: the driver does not offer USERPTR buffers; use "
			"io=mmap", v->path);
	return -EINVAL;
}

/* Does process @pid (a /proc entry) have @real open? */
static bool has_open(const char *pid, const char *real)
{
	char dir[300], link[PATH_MAX + 300], target[PATH_MAX];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%s/fd", pid);
	d = opendir(dir);
	if (!d)
		return false; /* gone, or another user's */
	while (!found && (e = readdir(d))) {
		ssize_t n;

		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		n = readlink(link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = '\0';
			found = !strcmp(target, real);
		}
	}
	closedir(d);
	return found;
}

/*
 * The kernel's EBUSY (another program streams from the device), said as
 * the device lock says a busy device: the holder named when this process
 * may see it (as fuser finds it: the first other process with the node
 * open), else "another program".
 */
static void describe_busy(const struct v4l2 *v)
{
	char real[PATH_MAX], comm[64] = "", path[64], user[64] = "?";
	struct dirent *e;
	long pid = 0;
	DIR *d = opendir("/proc");

	if (!realpath(v->path, real))
		snprintf(real, sizeof(real), "%s", v->path);
	while (d && !pid && (e = readdir(d))) {
		if (!isdigit((unsigned char)e->d_name[0]) || atol(e->d_name) == (long)getpid())
			continue;
		if (has_open(e->d_name, real))
			pid = atol(e->d_name);
	}
	if (d)
		closedir(d);
	if (pid > 0) {
		struct stat st;
		struct passwd pw, *pp = NULL;
		char pwbuf[1024];
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%ld/comm", pid);
		f = fopen(path, "re");
		if (f && fgets(comm, sizeof(comm), f))
			comm[strcspn(comm, "\n")] = '\0';
		if (f)
			fclose(f);
		snprintf(path, sizeof(path), "/proc/%ld", pid);
		if (!stat(path, &st) && !getpwuid_r(st.st_uid, &pw, pwbuf, sizeof(pwbuf), &pp) && pp)
			snprintf(user, sizeof(user), "%s", pw.pw_name);
		ldq_err("device 'v4l2:%s' is busy: pid %ld of user %s (%s) streams from it, not a "
			"labdaq run; stop that program first", v->path, pid, user, comm);
	} else {
		ldq_err("device 'v4l2:%s' is busy: another program (not a labdaq run) streams from "
			"it; stop it first (fuser %s names it)", v->path, v->path);
	}
}

/* What an open asks for: the URI's keys, checked. */
struct v4l2_want {
	uint64_t w, h, nb;
	const char *fs, *io;
	uint32_t fourcc;
};

static int v4l2_want_parse(struct ldq_uri *u, struct v4l2_want *q)
{
	int ret;

	q->w = q->h = 0;
	q->nb = V4L2_DEF_BUFS;
	q->fs = ldq_uri_get_str(u, "format");
	q->io = ldq_uri_get_str(u, "io");
	q->fourcc = 0;
	ret = ldq_uri_get_u64(u, "width", 1, 65535, &q->w);
	if (!ret)
		ret = ldq_uri_get_u64(u, "height", 1, 65535, &q->h);
	if (!ret)
		ret = ldq_uri_get_u64(u, "buffers", 2, V4L2_MAX_BUFS, &q->nb);
	if (ret)
		return ret;
	if (q->fs && ldq_v4l2_fourcc_parse(q->fs, &q->fourcc)) {
		ldq_err("v4l2:%s: format=%s is not a fourcc (1 to 4 characters: YUYV, GREY)",
			u->path, q->fs);
		return -EINVAL;
	}
	if (q->io && strcmp(q->io, "auto") && strcmp(q->io, "mmap") && strcmp(q->io, "userptr")) {
		ldq_err("v4l2:%s: io=%s: say auto, mmap or userptr", u->path, q->io);
		return -EINVAL;
	}
	return 0;
}

/* Open v->path, check that it streams video capture, and the eventfd. */
static int v4l2_open_fd(struct v4l2 *v, struct v4l2_capability *cap)
{
	int ret;

	v->fd = open(v->path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (v->fd < 0) {
		ret = -errno;
		ldq_err("v4l2:%s: cannot open it: %s", v->path, strerror(errno));
		return ret;
	}
	ret = v4l2_caps(v->fd, cap);
	if (ret) {
		ldq_err("v4l2:%s is not a V4L2 capture device that streams (%s)", v->path,
			strerror(-ret));
		return -ENODEV;
	}
	v->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	return v->efd < 0 ? -errno : 0;
}

/* The mode the driver takes nearest to @q into v->pix (its fourcc into
 * @fcc), or a refusal when it is far off. */
static int v4l2_negotiate_format(struct v4l2 *v, const struct v4l2_want *q, char *fcc)
{
	struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	uint64_t w = q->w, h = q->h;
	int ret = xioctl(v->fd, VIDIOC_G_FMT, &fmt);

	if (ret) {
		ldq_err("v4l2:%s: VIDIOC_G_FMT: %s", v->path, strerror(-ret));
		return ret;
	}
	if (w)
		fmt.fmt.pix.width = (uint32_t)w;
	if (h)
		fmt.fmt.pix.height = (uint32_t)h;
	if (q->fourcc)
		fmt.fmt.pix.pixelformat = q->fourcc;
	fmt.fmt.pix.field = V4L2_FIELD_ANY;
	fmt.fmt.pix.bytesperline = 0;
	ret = xioctl(v->fd, VIDIOC_TRY_FMT, &fmt);
	if (ret) {
		ldq_err("v4l2:%s: the driver refuses the mode (VIDIOC_TRY_FMT: %s)", v->path,
			strerror(-ret));
		return ret;
	}
	v->pix = fmt.fmt.pix;
	ldq_v4l2_fourcc_str(v->pix.pixelformat, fcc);
	if (q->fourcc && v->pix.pixelformat != q->fourcc) {
		ldq_err("v4l2:%s: format=%s is not offered (the driver proposes %s; `labdaq info` "
			"lists the formats)", v->path, q->fs, fcc);
		return -EINVAL;
	}
	if (ldq_v4l2_far_off((double)w, v->pix.width) ||
	    ldq_v4l2_far_off((double)h, v->pix.height)) {
		ldq_err("v4l2:%s: %llux%llu is far from the nearest size the driver takes for %s, "
			"%ux%u", v->path, (unsigned long long)(w ? w : v->pix.width),
			(unsigned long long)(h ? h : v->pix.height), fcc, v->pix.width,
			v->pix.height);
		return -EINVAL;
	}
	if ((w && w != v->pix.width) || (h && h != v->pix.height))
		ldq_info("v4l2:%s: %llux%llu taken as %ux%u, the nearest the driver takes",
			 v->path, (unsigned long long)(w ? w : v->pix.width),
			 (unsigned long long)(h ? h : v->pix.height), v->pix.width,
			 v->pix.height);
	return 0;
}

/* v->fps (asked, > 0) becomes the nearest rate the driver lists, or a
 * refusal when it is far off. */
static int v4l2_negotiate_fps(struct v4l2 *v, const char *fcc)
{
	double got = 0;

	if (nearest_fps(v->fd, &v->pix, v->fps, &got)) {
		ldq_err("v4l2:%s: the driver lists no frame rates for %s %ux%u; drop fps=",
			v->path, fcc, v->pix.width, v->pix.height);
		return -EINVAL;
	}
	if (ldq_v4l2_far_off(v->fps, got)) {
		ldq_err("v4l2:%s: fps=%g is far from the nearest rate for %s %ux%u, %g",
			v->path, v->fps, fcc, v->pix.width, v->pix.height, got);
		return -EINVAL;
	}
	if (got != v->fps)
		ldq_info("v4l2:%s: fps=%g taken as %g, the nearest the driver lists",
			 v->path, v->fps, got);
	v->fps = got;
	return 0;
}

/* The device as labdaq shows it: kind, shape, lock key, description, the
 * one channel and its V4L2 facts for the sidecar.  @v is dev->priv now. */
static int v4l2_publish(struct labdaq_device *dev, struct v4l2 *v,
			const struct v4l2_capability *cap, const struct ldq_v4l2_layout *l,
			const char *fcc)
{
	char real[PATH_MAX], meta[512];
	int ret;

	dev->kind = LABDAQ_KIND_FRAMES;
	dev->width = l->cols;
	dev->height = l->rows;
	dev->frame_dtype = l->dtype;
	snprintf(dev->lock_key, sizeof(dev->lock_key), "v4l2:%.240s",
		 realpath(v->path, real) ? real : v->path);
	snprintf(dev->description, sizeof(dev->description),
		 "%.64s (%.32s): %s %ux%u%s%.0g%s, stored as (%u, %u) %s", (const char *)cap->card,
		 (const char *)cap->driver, fcc, v->pix.width, v->pix.height,
		 v->fps > 0 ? " at " : "", v->fps > 0 ? v->fps : 0, v->fps > 0 ? " fps" : "",
		 l->rows, l->cols, l->mono ? labdaq_dtype_numpy(l->dtype) : "bytes");
	ret = ldq_device_add_channel(dev, l->mono ? "intensity" : "bytes", "", 1.0, l->dtype, 0);
	if (ret)
		return ret;
	snprintf(meta, sizeof(meta),
		 "{\"v4l2\": {\"fourcc\": \"%s\", \"pixel_width\": %u, \"pixel_height\": %u, "
		 "\"bytesperline\": %u, \"sizeimage\": %u, \"field\": %u, \"colorspace\": %u, "
		 "\"mono\": %s, \"fps\": %g, \"io\": \"%s}}",
		 fcc, v->pix.width, v->pix.height, v->pix.bytesperline, v->pix.sizeimage,
		 v->pix.field, v->pix.colorspace, l->mono ? "true" : "false",
		 v->fps > 0 ? v->fps : device_fps(v->fd), v->userptr_ok ? IO_USERPTR : IO_MMAP);
	dev->chans[dev->nchans - 1].meta = strdup(meta);
	if (!dev->chans[dev->nchans - 1].meta)
		return -ENOMEM;
	/* Rewritten in place if stream_start falls back to MMAP. */
	v->meta_io = strstr(dev->chans[dev->nchans - 1].meta, "\"io\": \"") + 7;
	return 0;
}

static int ldq_v4l2_open(struct labdaq_device *dev, struct ldq_uri *u)
{
	struct v4l2_capability cap = { 0 };
	struct ldq_v4l2_layout l;
	struct v4l2_want q;
	char fcc[8];
	struct v4l2 *v;
	int ret = v4l2_want_parse(u, &q);

	if (ret)
		return ret;
	v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	v->io_req = !q.io || !strcmp(q.io, "auto") ? V4L2_IO_AUTO :
		    !strcmp(q.io, "mmap") ? V4L2_IO_MMAP : V4L2_IO_USERPTR;
	v->fd = v->efd = v->facts_fd = -1;
	v->nbufs_req = (unsigned int)q.nb;
	snprintf(v->path, sizeof(v->path), "%s", u->path);
	ret = ldq_uri_get_double(u, "fps", 0.001, 1e6, &v->fps);
	if (!ret)
		ret = v4l2_open_fd(v, &cap);
	if (!ret)
		ret = v4l2_negotiate_format(v, &q, fcc);
	if (!ret && v->fps > 0)
		ret = v4l2_negotiate_fps(v, fcc);
	if (!ret && ldq_v4l2_pixel_layout(v->pix.pixelformat, v->pix.width, v->pix.height,
					  v->pix.bytesperline, v->pix.sizeimage, &l)) {
		ldq_err("v4l2:%s: %s %ux%u (%u bytes per line, %u per frame) is compressed or "
			"planar in several buffers: labdaq stores fixed-size frames only",
			v->path, fcc, v->pix.width, v->pix.height, v->pix.bytesperline,
			v->pix.sizeimage);
		ret = -EINVAL;
	}
	if (!ret) {
		v->frame_bytes = l.bytes;
		ret = choose_io(v);
	}
	if (!ret) {
		dev->priv = v;
		return v4l2_publish(dev, v, &cap, &l, fcc); /* close frees v */
	}
	if (v->fd >= 0)
		close(v->fd);
	if (v->efd >= 0)
		close(v->efd);
	free(v);
	return ret;
}

static void ldq_v4l2_close(struct labdaq_device *dev)
{
	struct v4l2 *v = dev->priv;

	if (!v)
		return;
	close(v->fd);
	close(v->efd);
	free(v);
	dev->priv = NULL;
}

static int ldq_v4l2_list(labdaq_list_fn fn, void *user)
{
	glob_t g;
	int n = 0;

	if (glob("/dev/video*", 0, NULL, &g))
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		struct v4l2_capability cap = { 0 };
		char uri[PATH_MAX + 8], desc[256];
		int fd = open(g.gl_pathv[i], O_RDONLY | O_NONBLOCK | O_CLOEXEC);

		if (fd < 0)
			continue;
		if (v4l2_caps(fd, &cap)) {
			close(fd);
			continue;
		}
		close(fd);
		snprintf(uri, sizeof(uri), "v4l2:%s", g.gl_pathv[i]);
		snprintf(desc, sizeof(desc), "%.64s (%.32s, %.64s)", (const char *)cap.card,
			 (const char *)cap.driver, (const char *)cap.bus_info);
		n++;
		if (fn && fn(uri, desc, user))
			break;
	}
	globfree(&g);
	return n;
}

/* ---- stream ---- */

static enum v4l2_memory mem_type(const struct v4l2 *v)
{
	return v->userptr ? V4L2_MEMORY_USERPTR : V4L2_MEMORY_MMAP;
}

static void free_bufs(struct v4l2 *v)
{
	struct v4l2_requestbuffers rb = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = mem_type(v) };

	for (unsigned int i = 0; i < v->nbufs; i++) {
		if (v->bufs[i].start && v->bufs[i].start != MAP_FAILED)
			munmap(v->bufs[i].start, v->bufs[i].len);
		free(v->bufs[i].bounce);
	}
	memset(v->bufs, 0, sizeof(v->bufs));
	v->nbufs = 0;
	v->queued = 0;
	/* Frees the driver's buffers (and unpins USERPTR pages); fails
	 * harmlessly on a vanished device. */
	(void)xioctl(v->fd, VIDIOC_REQBUFS, &rb);
	v->userptr = false;
}

static const struct ldq_npy_layout facts_layout = { .descr = "<u8", .ndim = 1, .dims = { 2 } };

/* Write the batch, then the header that covers it: the companion is valid
 * up to its last write whatever happens next. */
static void facts_flush(struct v4l2 *v)
{
	size_t len = (size_t)v->facts_n * sizeof(v->facts[0]);
	off_t off = LDQ_NPY_HEADER_BYTES + (off_t)(v->facts_rows * sizeof(v->facts[0]));
	size_t done = 0;

	if (v->facts_fd < 0 || !v->facts_n)
		return;
	if (!v->facts_failed &&
	    (ldq_pwrite_all(v->facts_fd, v->facts, len, off, &done) ||
	     ldq_npy_write_header(v->facts_fd, &facts_layout, v->facts_rows + v->facts_n))) {
		ldq_warn("v4l2:%s: the companion file of frame sequence numbers and "
			 "timestamps could not be written: it stops at frame %llu",
			 v->path, (unsigned long long)v->facts_rows);
		v->facts_failed = true;
	}
	if (!v->facts_failed)
		v->facts_rows += v->facts_n;
	v->facts_n = 0;
}

static void facts_add(struct v4l2 *v, const struct v4l2_buffer *b)
{
	if (v->facts_fd < 0)
		return;
	v->facts[v->facts_n][0] = b->sequence;
	v->facts[v->facts_n][1] = (uint64_t)b->timestamp.tv_sec * 1000000000u +
				  (uint64_t)b->timestamp.tv_usec * 1000u;
	if (++v->facts_n == V4L2_FACTS_BATCH)
		facts_flush(v);
}

static void facts_close(struct v4l2 *v)
{
	if (v->facts_fd < 0)
		return;
	facts_flush(v);
	close(v->facts_fd);
	v->facts_fd = -1;
}

/* A start that fails: the core removes the file with the run's others. */
static void facts_discard(struct v4l2 *v)
{
	if (v->facts_fd < 0)
		return;
	close(v->facts_fd);
	v->facts_fd = -1;
}

/* The companion FILE.frames.npy (the core's @path, absent), created
 * empty: a valid .npy of 0 rows. */
static int facts_open(struct v4l2 *v, const char *path)
{
	int ret;

	v->facts_fd = -1;
	v->facts_rows = 0;
	v->facts_n = 0;
	v->facts_failed = false;
	if (!path)
		return 0;
	v->facts_fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (v->facts_fd < 0) {
		ret = -errno;
		ldq_err("v4l2:%s: cannot create %s: %s", v->path, path, strerror(errno));
		return ret;
	}
	ret = ldq_npy_write_header(v->facts_fd, &facts_layout, 0);
	if (ret) {
		ldq_err("v4l2:%s: cannot write %s: %s", v->path, path, strerror(-ret));
		facts_discard(v);
	}
	return ret;
}

/* S_FMT with the mode open negotiated. */
static int set_format(struct v4l2 *v)
{
	struct v4l2_format fmt = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	int ret;

	fmt.fmt.pix = v->pix;
	ret = xioctl(v->fd, VIDIOC_S_FMT, &fmt);
	if (ret == -EBUSY) {
		describe_busy(v);
		return -EBUSY;
	}
	if (ret || fmt.fmt.pix.pixelformat != v->pix.pixelformat ||
	    fmt.fmt.pix.width != v->pix.width || fmt.fmt.pix.height != v->pix.height ||
	    fmt.fmt.pix.sizeimage != v->pix.sizeimage ||
	    fmt.fmt.pix.bytesperline != v->pix.bytesperline) {
		ldq_err("v4l2:%s: the driver did not set the mode it proposed (VIDIOC_S_FMT: %s)",
			v->path, ret ? strerror(-ret) : "another mode");
		return ret ? ret : -EIO;
	}
	return 0;
}

/* S_PARM with the rate asked for; fps_now is the driver's. */
static int set_rate(struct v4l2 *v)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	int ret;

	v->fps_now = 0;
	if (xioctl(v->fd, VIDIOC_G_PARM, &parm) ||
	    !(parm.parm.capture.capability & V4L2_CAP_TIMEPERFRAME))
		return 0;
	if (v->fps > 0) {
		/* 1/fps as a fraction with a microsecond numerator scale. */
		parm.parm.capture.timeperframe.numerator = 1000;
		parm.parm.capture.timeperframe.denominator = (uint32_t)lround(v->fps * 1000);
		ret = xioctl(v->fd, VIDIOC_S_PARM, &parm);
		if (ret) {
			ldq_err("v4l2:%s: VIDIOC_S_PARM (fps=%g): %s", v->path, v->fps,
				strerror(-ret));
			return ret;
		}
	}
	v->fps_now = interval_fps(&parm.parm.capture.timeperframe);
	return 0;
}

/* REQBUFS of @memory; the number of buffers in v->nbufs. */
static int request_bufs(struct v4l2 *v, enum v4l2_memory memory)
{
	struct v4l2_requestbuffers rb = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					  .memory = memory, .count = v->nbufs_req };
	int ret = xioctl(v->fd, VIDIOC_REQBUFS, &rb);

	if (ret == -EBUSY) {
		describe_busy(v);
		return -EBUSY;
	}
	if (!ret && rb.count < 2) {
		/* Freed again by free_bufs. */
		v->nbufs = rb.count;
		return -ENOMEM;
	}
	v->nbufs = ret ? 0 : rb.count > V4L2_MAX_BUFS ? V4L2_MAX_BUFS : rb.count;
	return ret;
}

/* MMAP buffers, mapped and queued: each frame is copied once. */
static int bufs_mmap(struct v4l2 *v)
{
	int ret = request_bufs(v, V4L2_MEMORY_MMAP);

	if (ret) {
		if (ret != -EBUSY)
			ldq_err("v4l2:%s: VIDIOC_REQBUFS (MMAP): %s", v->path,
				ret == -ENOMEM ? "fewer than 2 buffers" : strerror(-ret));
		return ret;
	}
	for (unsigned int i = 0; !ret && i < v->nbufs; i++) {
		struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					 .memory = V4L2_MEMORY_MMAP, .index = i };

		ret = xioctl(v->fd, VIDIOC_QUERYBUF, &b);
		if (!ret) {
			v->bufs[i].len = b.length;
			v->bufs[i].start = mmap(NULL, b.length, PROT_READ | PROT_WRITE, MAP_SHARED,
						v->fd, b.m.offset);
			if (v->bufs[i].start == MAP_FAILED) {
				v->bufs[i].start = NULL;
				ret = -errno;
			}
		}
		if (!ret)
			ret = xioctl(v->fd, VIDIOC_QBUF, &b);
		if (ret)
			ldq_err("v4l2:%s: preparing buffer %u: %s", v->path, i, strerror(-ret));
	}
	return ret;
}

/*
 * Queue USERPTR buffer @i where its frame will be committed: @adv bytes
 * (the frame being handed to the core now, or 0) plus a frame for each
 * buffer queued before it past the committed position, since the driver
 * returns them in order.  Where that region is not free (the ring is full,
 * or it overlaps a region still queued after a frame was lost or dropped),
 * the buffer gets a bounce block of its own and its frame is copied.
 */
static int queue_user(struct v4l2 *v, unsigned int i, size_t adv)
{
	struct v4l2_buf *bf = &v->bufs[i];
	struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
				 .memory = V4L2_MEMORY_USERPTR, .index = i,
				 .length = (uint32_t)v->frame_bytes };
	size_t n = v->frame_bytes;
	uint64_t h = ldq_ring_committed(v->ring);
	uint64_t pos = h + adv + (uint64_t)v->queued * n;
	void *p = NULL;
	int ret;

	if (pos >= v->ring_end && pos - h < ldq_ring_capacity(v->ring))
		p = ldq_ring_reserve_ahead(v->ring, (size_t)(pos - h), n);
	bf->in_ring = p != NULL;
	if (p) {
		bf->pos = pos;
		v->ring_end = pos + n;
	} else {
		if (!bf->bounce && posix_memalign(&bf->bounce, 4096, n)) {
			bf->bounce = NULL;
			return -ENOMEM;
		}
		p = bf->bounce;
	}
	bf->uptr = p;
	b.m.userptr = (unsigned long)p;
	ret = xioctl(v->fd, VIDIOC_QBUF, &b);
	if (!ret) {
		bf->queued = true;
		v->queued++;
	}
	return ret;
}

/* USERPTR buffers in the ring's regions ahead.  -EINVAL: the driver does
 * not take them (the caller may fall back to MMAP). */
static int bufs_userptr(struct v4l2 *v, struct ldq_ring *ring)
{
	int ret = request_bufs(v, V4L2_MEMORY_USERPTR);

	v->userptr = true;
	v->ring = ring;
	v->queued = 0;
	v->direct = v->copied = 0;
	v->ring_end = ldq_ring_committed(ring);
	for (unsigned int i = 0; !ret && i < v->nbufs; i++)
		ret = queue_user(v, i, 0);
	if (ret && ret != -EBUSY && (ret != -EINVAL || v->io_req == V4L2_IO_USERPTR))
		ldq_err("v4l2:%s: USERPTR buffers: %s", v->path,
			ret == -ENOMEM && v->nbufs < 2 ? "fewer than 2 buffers" : strerror(-ret));
	return ret;
}

/* USERPTR into the ring where it can be, else MMAP (see choose_io). */
static int bufs_start(struct v4l2 *v, struct ldq_ring *ring)
{
	int ret;

	if (v->userptr_ok && ring) {
		ret = bufs_userptr(v, ring);
		if (ret != -EINVAL || v->io_req == V4L2_IO_USERPTR)
			return ret;
		free_bufs(v);
		ldq_info("v4l2:%s: the driver refuses the ring's memory as USERPTR buffers: "
			 "MMAP buffers, one copy a frame", v->path);
	}
	if (v->meta_io)
		memcpy(v->meta_io, IO_MMAP, strlen(IO_MMAP));
	return bufs_mmap(v);
}

static int stream_on(struct v4l2 *v)
{
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;
	uint64_t drain;
	int ret;

	atomic_store_explicit(&v->cancelled, false, memory_order_release);
	while (read(v->efd, &drain, sizeof(drain)) > 0)
		;
	v->have_seq = false;
	v->gone_logged = false;
	ret = xioctl(v->fd, VIDIOC_STREAMON, &type);
	if (ret == -EBUSY)
		describe_busy(v);
	else if (ret)
		ldq_err("v4l2:%s: VIDIOC_STREAMON: %s", v->path, strerror(-ret));
	v->streaming = !ret;
	return ret;
}

static int ldq_v4l2_stream_start(struct labdaq_device *dev, const struct ldq_stream_params *p)
{
	struct v4l2 *v = dev->priv;
	int ret;

	if (p->item_bytes != v->frame_bytes) {
		ldq_err("v4l2:%s: a frame is %zu bytes, not %zu", v->path, v->frame_bytes,
			p->item_bytes);
		return -EINVAL;
	}
	ret = set_format(v);
	if (ret)
		return ret;
	ret = facts_open(v, p->companion_path);
	if (ret)
		return ret;
	ret = set_rate(v);
	if (!ret)
		ret = bufs_start(v, p->ring);
	if (!ret)
		ret = stream_on(v);
	if (ret) {
		free_bufs(v);
		facts_discard(v);
		v->ring = NULL;
	}
	return ret;
}

static double ldq_v4l2_stream_rate_hz(struct labdaq_device *dev)
{
	return ((struct v4l2 *)dev->priv)->fps_now;
}

static long gone(struct v4l2 *v, int err)
{
	if (!v->gone_logged)
		ldq_err("v4l2:%s: the device went away during the run (%s)", v->path,
			strerror(err));
	v->gone_logged = true;
	return -ENODEV;
}

/*
 * Wait for a buffer and dequeue it into @b.  0, -ECANCELED, -ENODEV (the
 * device went away, logged) or -errno.
 */
static int dequeue(struct v4l2 *v, struct v4l2_buffer *b)
{
	for (;;) {
		struct pollfd pfd[2] = { { .fd = v->fd, .events = POLLIN },
					 { .fd = v->efd, .events = POLLIN } };
		int ret, n;

		if (atomic_load_explicit(&v->cancelled, memory_order_acquire))
			return -ECANCELED;
		ret = xioctl(v->fd, VIDIOC_DQBUF, b);
		if (!ret)
			return 0;
		if (ret == -ENODEV || ret == -EIO || ret == -EPIPE || ret == -EINVAL)
			return (int)gone(v, -ret);
		if (ret != -EAGAIN) {
			ldq_err("v4l2:%s: VIDIOC_DQBUF: %s", v->path, strerror(-ret));
			return ret;
		}
		n = poll(pfd, 2, 1000);
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n > 0 && pfd[1].revents)
			return -ECANCELED;
		/* POLLERR with nothing to dequeue: the queue was cancelled
		 * under us, as after a disconnect. */
		if (n > 0 && (pfd[0].revents & (POLLERR | POLLHUP | POLLNVAL)) &&
		    !(pfd[0].revents & POLLIN)) {
			ret = xioctl(v->fd, VIDIOC_DQBUF, b);
			if (!ret)
				return 0;
			return (int)gone(v, ret == -EAGAIN || ret == -EINVAL || ret == -EPIPE ?
					 ENODEV : -ret);
		}
	}
}

/*
 * The frame of USERPTR buffer @bf, about to be committed at @dst (@adv is
 * its size, or 0 when the run drops it): in place, or copied there.  No
 * region still queued may lie below the committed position after it, or
 * the driver would write into bytes already handed on: a driver that
 * returns buffers out of order ends the run.
 */
static int take_user(struct v4l2 *v, const struct v4l2_buf *bf, void *dst, size_t adv)
{
	uint64_t h = ldq_ring_committed(v->ring);

	for (unsigned int i = 0; i < v->nbufs; i++)
		if (v->bufs[i].queued && v->bufs[i].in_ring && v->bufs[i].pos < h + adv) {
			ldq_err("v4l2:%s: the driver returned its buffers out of order, which "
				"frames placed in the ring cannot follow: use io=mmap", v->path);
			return -EIO;
		}
	if (bf->uptr == dst) {
		v->direct++;
	} else {
		memcpy(dst, bf->uptr, v->frame_bytes);
		v->copied++;
	}
	return 0;
}

static long ldq_v4l2_stream_read(struct labdaq_device *dev, void *dst, size_t items,
				 uint64_t *lost)
{
	struct v4l2 *v = dev->priv;
	/* The frame is committed (not dropped) when dst is the ring's. */
	size_t adv = v->userptr && ldq_ring_reserve_ahead(v->ring, 0, v->frame_bytes) == dst ?
		     v->frame_bytes : 0;

	(void)items;
	*lost = 0;
	for (;;) {
		struct v4l2_buffer b = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE,
					 .memory = mem_type(v) };
		bool ok;
		int ret = dequeue(v, &b);

		if (ret)
			return ret;
		if (b.index >= v->nbufs) {
			ldq_err("v4l2:%s: the driver returned buffer %u of %u", v->path, b.index,
				v->nbufs);
			return -EIO;
		}
		/* A buffer: account for the frames before it. */
		*lost += ldq_v4l2_seq_lost(v->have_seq, v->next_seq, b.sequence);
		v->have_seq = true;
		v->next_seq = b.sequence + 1;
		/* A damaged or short frame is a lost one. */
		ok = !(b.flags & V4L2_BUF_FLAG_ERROR) && b.bytesused >= v->frame_bytes;
		*lost += !ok;
		if (v->userptr) {
			v->bufs[b.index].queued = false;
			v->queued--;
			if (ok)
				ret = take_user(v, &v->bufs[b.index], dst, adv);
			if (!ret)
				ret = queue_user(v, b.index, ok ? adv : 0);
		} else {
			if (ok)
				memcpy(dst, v->bufs[b.index].start, v->frame_bytes);
			ret = xioctl(v->fd, VIDIOC_QBUF, &b);
		}
		if (ok)
			facts_add(v, &b);
		if (ret == -ENODEV || ret == -EINVAL)
			return gone(v, -ret);
		if (ret)
			return ret;
		if (ok)
			return 1;
	}
}

static void ldq_v4l2_stream_cancel(struct labdaq_device *dev)
{
	struct v4l2 *v = dev->priv;
	uint64_t one = 1;

	atomic_store_explicit(&v->cancelled, true, memory_order_release);
	if (write(v->efd, &one, sizeof(one)) < 0) {
		/* The counter is full: a wake-up is pending anyway. */
	}
}

static void ldq_v4l2_stream_stop(struct labdaq_device *dev)
{
	struct v4l2 *v = dev->priv;
	enum v4l2_buf_type type = V4L2_BUF_TYPE_VIDEO_CAPTURE;

	if (v->streaming)
		(void)xioctl(v->fd, VIDIOC_STREAMOFF, &type);
	v->streaming = false;
	if (v->userptr)
		ldq_info("v4l2:%s: USERPTR: %llu frames filled in place in the ring, %llu copied",
			 v->path, (unsigned long long)v->direct, (unsigned long long)v->copied);
	free_bufs(v);
	facts_close(v);
	v->ring = NULL;
}

/* ---- attributes: controls, and the modes as read-only ---- */

struct ctrl_iter {
	struct v4l2_query_ext_ctrl q;
	char name[64];
};

/* Calls @cb for each control; stops when it returns non-zero (that value). */
static int each_ctrl(int fd, int (*cb)(int fd, struct ctrl_iter *c, void *arg), void *arg)
{
	struct ctrl_iter c = { 0 };
	int n = 0;

	c.q.id = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	while (!xioctl(fd, VIDIOC_QUERY_EXT_CTRL, &c.q)) {
		if (c.q.type != V4L2_CTRL_TYPE_CTRL_CLASS &&
		    !(c.q.flags & V4L2_CTRL_FLAG_DISABLED)) {
			int r;

			ldq_v4l2_ctrl_name(c.q.name, c.name, sizeof(c.name));
			r = cb(fd, &c, arg);
			if (r)
				return r;
			n++;
		}
		c.q.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
	}
	return -n - 1000000; /* never a callback's value: the count, encoded */
}

static bool ctrl_scalar(const struct v4l2_query_ext_ctrl *q)
{
	switch (q->type) {
	case V4L2_CTRL_TYPE_INTEGER:
	case V4L2_CTRL_TYPE_BOOLEAN:
	case V4L2_CTRL_TYPE_MENU:
	case V4L2_CTRL_TYPE_INTEGER_MENU:
	case V4L2_CTRL_TYPE_INTEGER64:
	case V4L2_CTRL_TYPE_BITMASK:
		return true;
	default:
		return false;
	}
}

static int ctrl_get(int fd, const struct v4l2_query_ext_ctrl *q, int64_t *val)
{
	struct v4l2_ext_control c = { .id = q->id };
	struct v4l2_ext_controls cs = { .which = V4L2_CTRL_WHICH_CUR_VAL, .count = 1,
					.controls = &c };
	int ret;

	if (!ctrl_scalar(q) || (q->flags & V4L2_CTRL_FLAG_WRITE_ONLY))
		return -EACCES;
	ret = xioctl(fd, VIDIOC_G_EXT_CTRLS, &cs);
	if (ret)
		return ret;
	*val = q->type == V4L2_CTRL_TYPE_INTEGER64 ? c.value64 : c.value;
	return 0;
}

static void ctrl_available(int fd, const struct v4l2_query_ext_ctrl *q, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	switch (q->type) {
	case V4L2_CTRL_TYPE_INTEGER:
	case V4L2_CTRL_TYPE_INTEGER64:
		snprintf(buf, len, "[%lld %llu %lld] default %lld", (long long)q->minimum,
			 (unsigned long long)q->step, (long long)q->maximum,
			 (long long)q->default_value);
		break;
	case V4L2_CTRL_TYPE_BOOLEAN:
		snprintf(buf, len, "0 1 (bool) default %lld", (long long)q->default_value);
		break;
	case V4L2_CTRL_TYPE_BUTTON:
		snprintf(buf, len, "1 (button: write to press)");
		break;
	case V4L2_CTRL_TYPE_BITMASK:
		snprintf(buf, len, "bitmask 0x%llx", (unsigned long long)q->maximum);
		break;
	case V4L2_CTRL_TYPE_MENU:
	case V4L2_CTRL_TYPE_INTEGER_MENU:
		for (int64_t i = q->minimum; i <= q->maximum && n + 1 < len; i++) {
			struct v4l2_querymenu m = { .id = q->id, .index = (uint32_t)i };
			int w;

			if (xioctl(fd, VIDIOC_QUERYMENU, &m))
				continue;
			if (q->type == V4L2_CTRL_TYPE_MENU)
				w = snprintf(buf + n, len - n, "%s%lld=%s", n ? ", " : "",
					     (long long)i, (const char *)m.name);
			else
				w = snprintf(buf + n, len - n, "%s%lld=%lld", n ? ", " : "",
					     (long long)i, (long long)m.value);
			if (w < 0 || (size_t)w >= len - n)
				break;
			n += (size_t)w;
		}
		break;
	default:
		snprintf(buf, len, "(a %s of type %u, %u elements: not read or set by labdaq)",
			 (q->flags & V4L2_CTRL_FLAG_HAS_PAYLOAD) ? "compound control" : "control",
			 q->type, q->elems);
	}
}

static void fmt_list(int fd, const struct v4l2_pix_format *pix, int what, char *buf, size_t len)
{
	size_t n = 0;
	int w = 0;

	buf[0] = '\0';
	if (what == 0) {
		struct v4l2_fmtdesc d = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };

		for (d.index = 0; !xioctl(fd, VIDIOC_ENUM_FMT, &d) && n + 1 < len; d.index++) {
			char f[8];

			ldq_v4l2_fourcc_str(d.pixelformat, f);
			/* Fourccs only: drivers offer dozens (vivid 83). */
			w = snprintf(buf + n, len - n, "%s%s", n ? " " : "", f);
			if (w < 0 || (size_t)w >= len - n)
				break;
			n += (size_t)w;
		}
	} else if (what == 1) {
		struct v4l2_frmsizeenum s = { .pixel_format = pix->pixelformat };

		for (s.index = 0; !xioctl(fd, VIDIOC_ENUM_FRAMESIZES, &s) && n + 1 < len;
		     s.index++) {
			if (s.type == V4L2_FRMSIZE_TYPE_DISCRETE)
				w = snprintf(buf + n, len - n, "%s%ux%u", n ? " " : "",
					     s.discrete.width, s.discrete.height);
			else
				w = snprintf(buf + n, len - n, "%s[%u..%u step %u]x[%u..%u step %u]",
					     n ? " " : "", s.stepwise.min_width,
					     s.stepwise.max_width, s.stepwise.step_width,
					     s.stepwise.min_height, s.stepwise.max_height,
					     s.stepwise.step_height);
			if (w < 0 || (size_t)w >= len - n)
				break;
			n += (size_t)w;
			if (s.type != V4L2_FRMSIZE_TYPE_DISCRETE)
				break;
		}
	} else {
		struct v4l2_frmivalenum iv = { .pixel_format = pix->pixelformat,
					       .width = pix->width, .height = pix->height };

		for (iv.index = 0; !xioctl(fd, VIDIOC_ENUM_FRAMEINTERVALS, &iv) && n + 1 < len;
		     iv.index++) {
			if (iv.type == V4L2_FRMIVAL_TYPE_DISCRETE)
				w = snprintf(buf + n, len - n, "%s%g", n ? " " : "",
					     interval_fps(&iv.discrete));
			else
				w = snprintf(buf + n, len - n, "%s[%g..%g]", n ? " " : "",
					     interval_fps(&iv.stepwise.max),
					     interval_fps(&iv.stepwise.min));
			if (w < 0 || (size_t)w >= len - n)
				break;
			n += (size_t)w;
			if (iv.type != V4L2_FRMIVAL_TYPE_DISCRETE)
				break;
		}
	}
}

static int mode_value(struct v4l2 *v, int what, char *buf, size_t len)
{
	struct v4l2_streamparm parm = { .type = V4L2_BUF_TYPE_VIDEO_CAPTURE };
	char f[8];

	if (what == 0) {
		ldq_v4l2_fourcc_str(v->pix.pixelformat, f);
		return snprintf(buf, len, "%s", f);
	}
	if (what == 1)
		return snprintf(buf, len, "%ux%u", v->pix.width, v->pix.height);
	if (v->fps > 0)
		return snprintf(buf, len, "%g", v->fps);
	if (!xioctl(v->fd, VIDIOC_G_PARM, &parm))
		return snprintf(buf, len, "%g", interval_fps(&parm.parm.capture.timeperframe));
	return -EIO;
}

static const char *const mode_names[] = { "format", "size", "fps" };

struct list_arg {
	struct v4l2 *v;
	labdaq_attr_fn fn;
	void *user;
};

static int list_one(int fd, struct ctrl_iter *c, void *arg)
{
	struct list_arg *a = arg;
	char val[32], avail[1024];
	struct labdaq_attr at = { .name = c->name, .available = avail };
	int64_t x;

	ctrl_available(fd, &c->q, avail, sizeof(avail));
	if (!ctrl_get(fd, &c->q, &x)) {
		snprintf(val, sizeof(val), "%lld", (long long)x);
		at.value = val;
	}
	return a->fn(&at, a->user) ? 1 : 0;
}

static int ldq_v4l2_attr_list(struct labdaq_device *dev, labdaq_attr_fn fn, void *user)
{
	struct v4l2 *v = dev->priv;
	struct list_arg a = { v, fn, user };
	int n = 0, r;

	for (int m = 0; m < 3; m++) {
		char val[64], avail[2048];
		struct labdaq_attr at = { .name = mode_names[m], .available = avail };

		if (mode_value(v, m, val, sizeof(val)) > 0)
			at.value = val;
		fmt_list(v->fd, &v->pix, m, avail, sizeof(avail));
		if (!avail[0])
			at.available = NULL;
		n++;
		if (fn(&at, user))
			return n;
	}
	r = each_ctrl(v->fd, list_one, &a);
	if (r == 1)
		return n;
	return n + (-(r + 1000000));
}

struct find_arg {
	const char *name;
	struct v4l2_query_ext_ctrl q;
};

static int find_one(int fd, struct ctrl_iter *c, void *arg)
{
	struct find_arg *f = arg;

	(void)fd;
	if (strcmp(c->name, f->name))
		return 0;
	f->q = c->q;
	return 1;
}

static int find_ctrl(struct v4l2 *v, const char *name, struct v4l2_query_ext_ctrl *q)
{
	struct find_arg f = { .name = name };

	if (each_ctrl(v->fd, find_one, &f) != 1) {
		ldq_err("v4l2:%s has no control %s (`labdaq attr` lists them)", v->path, name);
		return -ENOENT;
	}
	*q = f.q;
	return 0;
}

static int ldq_v4l2_attr_read(struct labdaq_device *dev, const char *name, char *buf,
			      size_t len)
{
	struct v4l2 *v = dev->priv;
	struct v4l2_query_ext_ctrl q;
	int64_t x;
	int ret;

	for (int m = 0; m < 3; m++)
		if (!strcmp(name, mode_names[m]))
			return mode_value(v, m, buf, len);
	ret = find_ctrl(v, name, &q);
	if (ret)
		return ret;
	ret = ctrl_get(v->fd, &q, &x);
	if (ret == -ENODEV)
		ldq_err("v4l2:%s is gone", v->path);
	if (ret)
		return ret;
	return snprintf(buf, len, "%lld", (long long)x);
}

/* A menu item of control @q by its name (either spelling): its index, or -1. */
static long long menu_index(struct v4l2 *v, const struct v4l2_query_ext_ctrl *q,
			    const char *value)
{
	for (int64_t i = q->minimum; i <= q->maximum; i++) {
		struct v4l2_querymenu m = { .id = q->id, .index = (uint32_t)i };
		char nm[64];

		if (xioctl(v->fd, VIDIOC_QUERYMENU, &m))
			continue;
		ldq_v4l2_ctrl_name((const char *)m.name, nm, sizeof(nm));
		if (!strcmp(nm, value) || !strcmp((const char *)m.name, value))
			return i;
	}
	return -1;
}

/* @value for control @q (a number in any base, or a menu item's name) in
 * *@x, within the control's range: 0, or -EINVAL/-ERANGE said. */
static int ctrl_value(struct v4l2 *v, const struct v4l2_query_ext_ctrl *q, const char *name,
		      const char *value, long long *x)
{
	char avail[1024], *end;

	errno = 0;
	*x = strtoll(value, &end, 0);
	if (!*value || *end || errno) {
		*x = q->type == V4L2_CTRL_TYPE_MENU ? menu_index(v, q, value) : -1;
		if (*x < 0) {
			ctrl_available(v->fd, q, avail, sizeof(avail));
			ldq_err("v4l2:%s: %s=%s is not a value it takes: %s", v->path, name, value,
				avail);
			return -EINVAL;
		}
	}
	if (q->type != V4L2_CTRL_TYPE_BUTTON && q->type != V4L2_CTRL_TYPE_BITMASK &&
	    (*x < q->minimum || *x > q->maximum)) {
		ctrl_available(v->fd, q, avail, sizeof(avail));
		ldq_err("v4l2:%s: %s=%s is out of range: %s", v->path, name, value, avail);
		return -ERANGE;
	}
	return 0;
}

/* Control @name of @v that labdaq may set: in *@q, or -errno said. */
static int settable_ctrl(struct v4l2 *v, const char *name, struct v4l2_query_ext_ctrl *q)
{
	int ret;

	for (int m = 0; m < 3; m++)
		if (!strcmp(name, mode_names[m])) {
			ldq_err("v4l2:%s: %s is chosen in the URI (%s=...), not as an attribute",
				v->path, name, m == 1 ? "width=W&height" : name);
			return -EACCES;
		}
	ret = find_ctrl(v, name, q);
	if (ret)
		return ret;
	if (!ctrl_scalar(q) && q->type != V4L2_CTRL_TYPE_BUTTON) {
		ldq_err("v4l2:%s: control %s (type %u) cannot be set through labdaq", v->path, name,
			q->type);
		return -EACCES;
	}
	if (q->flags & V4L2_CTRL_FLAG_READ_ONLY) {
		ldq_err("v4l2:%s: control %s is read-only", v->path, name);
		return -EACCES;
	}
	return 0;
}

static int ldq_v4l2_attr_write(struct labdaq_device *dev, const char *name, const char *value)
{
	struct v4l2 *v = dev->priv;
	struct v4l2_query_ext_ctrl q;
	struct v4l2_ext_control c = { 0 };
	struct v4l2_ext_controls cs = { .which = V4L2_CTRL_WHICH_CUR_VAL, .count = 1,
					.controls = &c };
	char avail[1024];
	long long x;
	int ret;

	ret = settable_ctrl(v, name, &q);
	if (!ret)
		ret = ctrl_value(v, &q, name, value, &x);
	if (ret)
		return ret;
	c.id = q.id;
	if (q.type == V4L2_CTRL_TYPE_INTEGER64)
		c.value64 = x;
	else
		c.value = (int32_t)x;
	ret = xioctl(v->fd, VIDIOC_S_EXT_CTRLS, &cs);
	if (ret == -EBUSY) {
		ldq_err("v4l2:%s: control %s cannot change while the device streams", v->path,
			name);
	} else if (ret == -ERANGE || ret == -EINVAL) {
		ctrl_available(v->fd, &q, avail, sizeof(avail));
		ldq_err("v4l2:%s: the driver refuses %s=%s: %s", v->path, name, value, avail);
	} else if (ret) {
		ldq_err("v4l2:%s: setting %s: %s", v->path, name, strerror(-ret));
	}
	return ret;
}

const struct ldq_backend ldq_backend_v4l2 = {
	.name = "v4l2",
	.uris = "v4l2:/dev/videoN?width=W&height=H&format=FOURCC&fps=F (V4L2 cameras and "
		"frame grabbers)",
	.keys_help = "width, height, format, fps, buffers, io",
	.companion = ".frames.npy",
	.open = ldq_v4l2_open,
	.close = ldq_v4l2_close,
	.list = ldq_v4l2_list,
	.stream_start = ldq_v4l2_stream_start,
	.stream_rate_hz = ldq_v4l2_stream_rate_hz,
	.stream_read = ldq_v4l2_stream_read,
	.stream_cancel = ldq_v4l2_stream_cancel,
	.stream_stop = ldq_v4l2_stream_stop,
	.attr_list = ldq_v4l2_attr_list,
	.attr_read = ldq_v4l2_attr_read,
	.attr_write = ldq_v4l2_attr_write,
};
