/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * uri.c - "BACKEND:PATH?key=value&key=value" device URIs.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int ldq_uri_parse(const char *uri, struct ldq_uri *u)
{
	char *colon, *q, *tok, *save = NULL;

	memset(u, 0, sizeof(*u));
	if (!uri || !*uri) {
		ldq_err("empty device URI");
		return -EINVAL;
	}
	u->buf = strdup(uri);
	if (!u->buf)
		return -ENOMEM;
	colon = strchr(u->buf, ':');
	if (!colon || colon == u->buf) {
		ldq_err("device URI '%s' has no backend: expected BACKEND:DEVICE, e.g. sim:camera",
			uri);
		ldq_uri_free(u);
		return -EINVAL;
	}
	*colon = '\0';
	u->backend = u->buf;
	u->path = colon + 1;
	q = strchr(colon + 1, '?');
	if (!q)
		return 0;
	*q = '\0';
	for (tok = strtok_r(q + 1, "&", &save); tok; tok = strtok_r(NULL, "&", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq || eq == tok) {
			ldq_err("device URI '%s': '%s' is not key=value", uri, tok);
			ldq_uri_free(u);
			return -EINVAL;
		}
		if (u->nparams == LDQ_URI_MAX_PARAMS) {
			ldq_err("device URI '%s': more than %d parameters", uri,
				LDQ_URI_MAX_PARAMS);
			ldq_uri_free(u);
			return -EINVAL;
		}
		*eq = '\0';
		for (unsigned int i = 0; i < u->nparams; i++) {
			if (!strcmp(u->params[i].key, tok)) {
				ldq_err("device URI '%s': '%s' given twice", uri, tok);
				ldq_uri_free(u);
				return -EINVAL;
			}
		}
		u->params[u->nparams].key = tok;
		u->params[u->nparams].value = eq + 1;
		u->params[u->nparams].used = 0;
		u->nparams++;
	}
	return 0;
}

void ldq_uri_free(struct ldq_uri *u)
{
	free(u->buf);
	memset(u, 0, sizeof(*u));
}

static const char *find(struct ldq_uri *u, const char *key)
{
	for (unsigned int i = 0; i < u->nparams; i++) {
		if (!strcmp(u->params[i].key, key)) {
			u->params[i].used = 1;
			return u->params[i].value;
		}
	}
	return NULL;
}

const char *ldq_uri_get_str(struct ldq_uri *u, const char *key)
{
	return find(u, key);
}

int ldq_uri_get_u64(struct ldq_uri *u, const char *key, uint64_t min, uint64_t max,
		    uint64_t *val)
{
	const char *s = find(u, key);
	unsigned long long v;
	char *end;

	if (!s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!*s || *end || errno || !(s[0] >= '0' && s[0] <= '9')) {
		ldq_err("%s:%s: %s=%s is not a whole number", u->backend, u->path, key, s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		ldq_err("%s:%s: %s=%s is out of range [%llu, %llu]", u->backend, u->path, key, s,
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*val = v;
	return 0;
}

int ldq_uri_get_double(struct ldq_uri *u, const char *key, double min, double max,
		       double *val)
{
	const char *s = find(u, key);
	char *end;
	double v;

	if (!s)
		return 0;
	errno = 0;
	v = strtod(s, &end);
	/* No leading blank or '+'; no hexadecimal. */
	if (!*s || *end || errno || !isfinite(v) || strchr(" \t\n+", s[0]) ||
	    strpbrk(s, "xX")) {
		ldq_err("%s:%s: %s=%s is not a number", u->backend, u->path, key, s);
		return -EINVAL;
	}
	if (v < min || v > max) {
		ldq_err("%s:%s: %s=%s is out of range [%g, %g]", u->backend, u->path, key, s, min,
			max);
		return -EINVAL;
	}
	*val = v;
	return 0;
}

int ldq_uri_check_unused(const struct ldq_uri *u, const char *what, const char *known)
{
	for (unsigned int i = 0; i < u->nparams; i++) {
		if (!u->params[i].used) {
			ldq_err("%s: unknown parameter '%s' (known: %s)", what, u->params[i].key,
				known && *known ? known : "none");
			return -EINVAL;
		}
	}
	return 0;
}
