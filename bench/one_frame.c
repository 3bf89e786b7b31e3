/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * one_frame.c - the least a program can do to save one camera frame
 * durably: the peer of `labdaq acquire sim:camera?width=W&height=H
 * --frames 1` in the fixed-cost benchmark (bench.py, section 8).
 *
 *	one_frame WIDTH HEIGHT FILE
 *
 * Allocates one frame of WIDTH x HEIGHT 16-bit pixels (nothing else),
 * fills it (pixel i = i mod 65536, every byte written as a camera's DMA
 * would), writes a .npy header and the frame with one write(2), fsync()s
 * the file and exits.  No ring, no threads, no sidecar, no lock, no rename:
 * what labdaq adds to this is its fixed cost.  Exit 0, or 1 with a message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER 128

int main(int argc, char **argv)
{
	unsigned long w, h;
	size_t frame;
	unsigned char *buf;
	uint16_t *px;
	int fd, n;

	if (argc != 4 || !(w = strtoul(argv[1], NULL, 10)) || !(h = strtoul(argv[2], NULL, 10))) {
		fprintf(stderr, "usage: one_frame WIDTH HEIGHT FILE\n");
		return 2;
	}
	frame = (size_t)w * h * 2;
	buf = malloc(HEADER + frame);
	if (!buf) {
		fprintf(stderr, "one_frame: out of memory\n");
		return 1;
	}
	/* A .npy version 1.0 header, padded with spaces to 128 bytes. */
	memset(buf, ' ', HEADER);
	n = snprintf((char *)buf, HEADER, "\x93NUMPY\x01%c%c%c{'descr': '<u2', "
		     "'fortran_order': False, 'shape': (1, %lu, %lu), }", 0, HEADER - 10, 0, h, w);
	if (n < 0 || n >= HEADER) {
		fprintf(stderr, "one_frame: frame too large for the header\n");
		return 1;
	}
	buf[n] = ' ';
	buf[HEADER - 1] = '\n';
	px = (uint16_t *)(buf + HEADER);
	for (size_t i = 0; i < frame / 2; i++)
		px[i] = (uint16_t)i;
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0 || write(fd, buf, HEADER + frame) != (ssize_t)(HEADER + frame) || fsync(fd) ||
	    close(fd)) {
		fprintf(stderr, "one_frame: %s: %s\n", argv[3], strerror(errno));
		return 1;
	}
	free(buf);
	return 0;
}
