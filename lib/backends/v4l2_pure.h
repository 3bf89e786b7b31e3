/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * v4l2_pure.h - the parts of the v4l2 backend that need no device, for
 * tests/unit/test_v4l2.c.
 */
#ifndef LDQ_V4L2_PURE_H
#define LDQ_V4L2_PURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a frame of a pixel format is stored. */
struct ldq_v4l2_layout {
	int mono;      /* 1: (rows, cols) pixels of dtype; 0: bytes */
	int dtype;     /* enum labdaq_dtype */
	uint32_t rows, cols;
	size_t bytes;  /* of one stored frame */
};

/* The fourcc @f as text ("YUYV", "Y16", "Y16-BE"), trailing blanks cut. */
void ldq_v4l2_fourcc_str(uint32_t f, char out[8]);
/* "YUYV", "Y16" -> fourcc (padded with blanks); 0 or -EINVAL. */
int ldq_v4l2_fourcc_parse(const char *s, uint32_t *f);
/* The stored layout of a frame; 0, or -EINVAL for a compressed or
 * inconsistent format. */
int ldq_v4l2_pixel_layout(uint32_t fourcc, uint32_t width, uint32_t height, uint32_t bpl,
			  uint32_t sizeimage, struct ldq_v4l2_layout *l);
/* 1 when @got is more than a quarter away from @want (> 0). */
int ldq_v4l2_far_off(double want, double got);
/* A control's name as v4l2-ctl spells it: "Test Pattern" -> "test_pattern". */
void ldq_v4l2_ctrl_name(const char *name, char *out, size_t len);
/* Frames lost between the expected sequence number and @seq. */
uint64_t ldq_v4l2_seq_lost(bool have, uint32_t expect, uint32_t seq);

#endif
