/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * npy.c - NumPy .npy headers padded to 4096 bytes (npy.h): format, write,
 * parse, read.  The format is described in docs/file-format.md.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"
#include "npy.h"
#include "util.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
/* Refuse headers larger than this (a v2 length field allows 4 GiB). */
#define NPY_MAX_HEADER (1u << 20)

/* Bytes of one value of @descr ("<u2" -> 2), or 0 if it is not a plain
 * integer, unsigned, float, complex or bool type. */
static size_t descr_value_bytes(const char *descr)
{
	const char *p = descr;
	unsigned long size = 0;

	if (p[0] == '\0' || !strchr("<>|=", p[0]))
		return 0;
	p++;
	if (p[0] == '\0' || !strchr("biufc", p[0]))
		return 0;
	p++;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		size = size * 10 + (unsigned long)(*p - '0');
		if (size > 16)
			return 0;
	}
	if (size != 1 && size != 2 && size != 4 && size != 8 && size != 16)
		return 0;
	if (descr[1] == 'b' && size != 1)
		return 0;
	if (descr[1] == 'c' && size < 8)
		return 0;
	return size;
}

size_t ldq_npy_item_bytes(const struct ldq_npy_layout *l)
{
	size_t bytes = descr_value_bytes(l->descr);
	unsigned int i;

	if (!bytes || l->ndim < 1 || l->ndim > 2)
		return 0;
	for (i = 0; i < l->ndim; i++) {
		if (l->dims[i] == 0 || l->dims[i] > SIZE_MAX / bytes)
			return 0;
		bytes *= (size_t)l->dims[i];
	}
	return bytes;
}

int ldq_npy_format_len(char *buf, size_t header_len, const struct ldq_npy_layout *l,
		       uint64_t items)
{
	char dict[256];
	size_t prefix, dlen;
	int n;

	if (header_len < 16 || header_len > NPY_MAX_HEADER || !ldq_npy_item_bytes(l) ||
	    strnlen(l->descr, sizeof(l->descr)) >= sizeof(l->descr))
		return -EINVAL;

	if (l->ndim == 1)
		n = snprintf(dict, sizeof(dict),
			     "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRIu64
			     ", %" PRIu64 "), }",
			     l->descr, items, l->dims[0]);
	else
		n = snprintf(dict, sizeof(dict),
			     "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRIu64
			     ", %" PRIu64 ", %" PRIu64 "), }",
			     l->descr, items, l->dims[0], l->dims[1]);
	if (n < 0 || (size_t)n >= sizeof(dict))
		return -EINVAL;
	dlen = (size_t)n;

	/* Version 1.0 (uint16 length) whenever the length fits it. */
	prefix = header_len - 10 <= 0xffff ? 10 : 12;
	if (prefix + dlen + 1 > header_len)
		return -EOVERFLOW;

	memcpy(buf, NPY_MAGIC, NPY_MAGIC_LEN);
	if (prefix == 10) {
		size_t hl = header_len - 10;

		buf[6] = 1;
		buf[7] = 0;
		buf[8] = (char)(hl & 0xff);
		buf[9] = (char)(hl >> 8);
	} else {
		size_t hl = header_len - 12;

		buf[6] = 2;
		buf[7] = 0;
		buf[8] = (char)(hl & 0xff);
		buf[9] = (char)((hl >> 8) & 0xff);
		buf[10] = (char)((hl >> 16) & 0xff);
		buf[11] = (char)((hl >> 24) & 0xff);
	}
	memcpy(buf + prefix, dict, dlen);
	memset(buf + prefix + dlen, ' ', header_len - prefix - dlen - 1);
	buf[header_len - 1] = '\n';
	return 0;
}

int ldq_npy_format(char *buf, const struct ldq_npy_layout *l, uint64_t items)
{
	return ldq_npy_format_len(buf, LDQ_NPY_HEADER_BYTES, l, items);
}

int ldq_npy_write_header_len(int fd, size_t header_len, const struct ldq_npy_layout *l,
			     uint64_t items)
{
	char *buf;
	int ret;

	buf = malloc(header_len ? header_len : 1);
	if (!buf)
		return -ENOMEM;
	ret = ldq_npy_format_len(buf, header_len, l, items);
	if (!ret)
		ret = ldq_pwrite_all(fd, buf, header_len, 0, NULL);
	free(buf);
	return ret;
}

int ldq_npy_write_header(int fd, const struct ldq_npy_layout *l, uint64_t items)
{
	char buf[LDQ_NPY_HEADER_BYTES];
	int ret;

	ret = ldq_npy_format(buf, l, items);
	if (ret)
		return ret;
	return ldq_pwrite_all(fd, buf, sizeof(buf), 0, NULL);
}

/*
 * The header dict is a Python literal.  The parser accepts what NumPy's
 * writers produce and a little more (either quote, any key order, an
 * optional trailing comma, Python 2's "3L"), and nothing that could be
 * read differently: no escapes, no extra keys, no duplicate keys.
 */
struct cur {
	const char *p, *end;
};

static void skip_ws(struct cur *c)
{
	while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' ||
				 *c->p == '\r'))
		c->p++;
}

static int eat(struct cur *c, char ch)
{
	skip_ws(c);
	if (c->p < c->end && *c->p == ch) {
		c->p++;
		return 1;
	}
	return 0;
}

static int peek(struct cur *c, char ch)
{
	skip_ws(c);
	return c->p < c->end && *c->p == ch;
}

/* A quoted string without escapes into @out (NUL-terminated). */
static int parse_str(struct cur *c, char *out, size_t size)
{
	char q;
	size_t n = 0;

	skip_ws(c);
	if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
		return -1;
	q = *c->p++;
	while (c->p < c->end && *c->p != q) {
		unsigned char ch = (unsigned char)*c->p;

		if (ch == '\\' || ch < 0x20 || ch >= 0x7f || n + 1 >= size)
			return -1;
		out[n++] = (char)ch;
		c->p++;
	}
	if (c->p >= c->end)
		return -1;
	c->p++;
	out[n] = '\0';
	return 0;
}

static int parse_u64(struct cur *c, uint64_t *v)
{
	uint64_t x = 0;
	const char *start;

	skip_ws(c);
	start = c->p;
	while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
		unsigned int d = (unsigned int)(*c->p - '0');

		if (x > (UINT64_MAX - d) / 10)
			return -1;
		x = x * 10 + d;
		c->p++;
	}
	if (c->p == start)
		return -1;
	if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
		c->p++;
	*v = x;
	return 0;
}

static int parse_word(struct cur *c, const char *w)
{
	size_t n = strlen(w);

	skip_ws(c);
	if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n))
		return -1;
	c->p += n;
	/* "False" must not continue as an identifier ("Falsey"). */
	if (c->p < c->end && ((*c->p >= 'a' && *c->p <= 'z') || (*c->p >= 'A' && *c->p <= 'Z') ||
			      (*c->p >= '0' && *c->p <= '9') || *c->p == '_'))
		return -1;
	return 0;
}

/* "(n, a)" or "(n, a, b)", an optional trailing comma. */
static int parse_shape(struct cur *c, uint64_t *v, unsigned int *nv)
{
	unsigned int n = 0;

	if (!eat(c, '('))
		return -1;
	while (!peek(c, ')')) {
		if (n == 3 || parse_u64(c, &v[n]))
			return -1;
		n++;
		if (!eat(c, ',')) {
			if (!peek(c, ')'))
				return -1;
		}
	}
	c->p++;
	*nv = n;
	return 0;
}

static int parse_dict(struct cur *c, struct ldq_npy_layout *l, uint64_t *items)
{
	int have_descr = 0, have_order = 0, have_shape = 0;
	uint64_t shape[3];
	unsigned int nshape = 0;
	char key[32];

	if (!eat(c, '{'))
		return -1;
	while (!peek(c, '}')) {
		if (parse_str(c, key, sizeof(key)) || !eat(c, ':'))
			return -1;
		if (!strcmp(key, "descr") && !have_descr) {
			if (parse_str(c, l->descr, sizeof(l->descr)))
				return -1;
			have_descr = 1;
		} else if (!strcmp(key, "fortran_order") && !have_order) {
			/* Only C order is supported: True is refused. */
			if (parse_word(c, "False"))
				return -1;
			have_order = 1;
		} else if (!strcmp(key, "shape") && !have_shape) {
			if (parse_shape(c, shape, &nshape))
				return -1;
			have_shape = 1;
		} else {
			return -1;
		}
		if (!eat(c, ',')) {
			if (!peek(c, '}'))
				return -1;
		}
	}
	c->p++;
	if (!have_descr || !have_order || !have_shape)
		return -1;
	if (nshape < 2 || nshape > 3)
		return -1;
	*items = shape[0];
	l->ndim = nshape - 1;
	l->dims[0] = shape[1];
	l->dims[1] = nshape == 3 ? shape[2] : 0;
	if (!ldq_npy_item_bytes(l))
		return -1;
	/* Only padding may follow the dict. */
	skip_ws(c);
	return c->p == c->end ? 0 : -1;
}

int ldq_npy_parse(const void *buf, size_t len, struct ldq_npy_layout *l, uint64_t *items,
		  size_t *header_len)
{
	const unsigned char *b = buf;
	struct ldq_npy_layout tmp;
	struct cur c;
	uint64_t n;
	size_t prefix, hl, total;

	if (len < 10 || memcmp(b, NPY_MAGIC, NPY_MAGIC_LEN))
		return -EBADMSG;
	if (b[6] == 1 && b[7] == 0) {
		prefix = 10;
		hl = (size_t)b[8] | (size_t)b[9] << 8;
	} else if (b[6] == 2 && b[7] == 0) {
		if (len < 12)
			return -EBADMSG;
		prefix = 12;
		hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 |
		     (size_t)b[11] << 24;
	} else {
		return -EBADMSG;
	}
	if (hl > NPY_MAX_HEADER || hl > len - prefix)
		return -EBADMSG;
	total = prefix + hl;

	memset(&tmp, 0, sizeof(tmp));
	c.p = (const char *)b + prefix;
	c.end = (const char *)b + total;
	if (parse_dict(&c, &tmp, &n))
		return -EBADMSG;

	*l = tmp;
	if (items)
		*items = n;
	if (header_len)
		*header_len = total;
	return 0;
}

int ldq_npy_read_header(int fd, struct ldq_npy_layout *l, uint64_t *items, size_t *header_len)
{
	unsigned char pre[12];
	size_t total;
	char *buf;
	int ret;

	ret = ldq_pread_all(fd, pre, sizeof(pre), 0);
	if (ret)
		return ret;
	if (memcmp(pre, NPY_MAGIC, NPY_MAGIC_LEN))
		return -EBADMSG;
	if (pre[6] == 1 && pre[7] == 0)
		total = 10 + ((size_t)pre[8] | (size_t)pre[9] << 8);
	else if (pre[6] == 2 && pre[7] == 0)
		total = 12 + ((size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 |
			      (size_t)pre[11] << 24);
	else
		return -EBADMSG;
	if (total > NPY_MAX_HEADER)
		return -EBADMSG;

	buf = malloc(total);
	if (!buf)
		return -ENOMEM;
	ret = ldq_pread_all(fd, buf, total, 0);
	if (!ret)
		ret = ldq_npy_parse(buf, total, l, items, header_len);
	free(buf);
	return ret;
}

uint64_t ldq_npy_file_size(size_t header_len, size_t item_bytes, uint64_t items)
{
	if (!items && item_bytes > 1)
		return header_len + 1;
	return header_len + items * item_bytes;
}
