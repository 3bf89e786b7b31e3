/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * npy.h - NumPy .npy headers padded to 4096 bytes (npy.c).
 *
 * Data file: a version 1.0 .npy header of exactly LDQ_NPY_HEADER_BYTES
 * bytes ("\x93NUMPY", 1, 0, a little-endian uint16 header length, the dict
 * padded with spaces, a final '\n'), then the payload, page-aligned.  The
 * shape is (items, *item_shape): (samples, channels) or
 * (frames, height, width).  The header can be rewritten in place at any
 * time since its length never changes.  Not installed.
 */
#ifndef LDQ_NPY_H
#define LDQ_NPY_H

#include <stddef.h>
#include <stdint.h>

#define LDQ_NPY_HEADER_BYTES 4096

struct ldq_npy_layout {
	char descr[16];        /* "<u2", "<i2", "<f8", ... */
	unsigned int ndim;     /* of one item: 1 (channels) or 2 (height, width) */
	uint64_t dims[2];
};

/* Format the header for @items items into @buf (LDQ_NPY_HEADER_BYTES). */
int ldq_npy_format(char *buf, const struct ldq_npy_layout *l, uint64_t items);
/* pwrite the header at offset 0 of @fd.  0 or -errno. */
int ldq_npy_write_header(int fd, const struct ldq_npy_layout *l, uint64_t items);
/* Parse a header written by ldq_npy_format (or any v1/v2 .npy header with
 * a C-order shape of 2 or 3 dims).  Returns 0 or -EBADMSG; *@items and
 * *@header_len (the payload offset) are set. */
int ldq_npy_parse(const void *buf, size_t len, struct ldq_npy_layout *l, uint64_t *items,
		  size_t *header_len);
/* Bytes of one item of @l, or 0 if @l is not valid. */
size_t ldq_npy_item_bytes(const struct ldq_npy_layout *l);
/*
 * The size of a data file of @items whole items after a header of
 * @header_len bytes.  A file with no item keeps one byte (0) after its
 * header: NumPy cannot mmap a file that ends where its header ends
 * ("mmap offset is greater than file size").  That byte is not data: it is
 * less than one item (items of one byte get no such byte).
 */
uint64_t ldq_npy_file_size(size_t header_len, size_t item_bytes, uint64_t items);
/* Like ldq_npy_format() for a header of @header_len bytes (the length of
 * a header being rewritten in place; version 2.0 if it needs it).
 * -EOVERFLOW if the dict does not fit, -EINVAL for a bad layout. */
int ldq_npy_format_len(char *buf, size_t header_len, const struct ldq_npy_layout *l,
		       uint64_t items);
/* pwrite a header of @header_len bytes at offset 0 of @fd.  0 or -errno. */
int ldq_npy_write_header_len(int fd, size_t header_len, const struct ldq_npy_layout *l,
			     uint64_t items);
/* Read and parse the header of the .npy open as @fd (any length up to
 * 1 MiB).  0, -EBADMSG (not a valid header, or a short file), or -errno. */
int ldq_npy_read_header(int fd, struct ldq_npy_layout *l, uint64_t *items,
			size_t *header_len);

#endif
