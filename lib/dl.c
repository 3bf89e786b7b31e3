/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* dl.c - a backend's library loaded at its first use (dl.h). */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "dl.h"
#include "internal.h"

void *ldq_dl_sym(void *h, const char *name, const char **missing)
{
	void *p = dlsym(h, name);

	if (!p && !*missing)
		*missing = name;
	return p;
}

static void dl_open(struct ldq_dl *d)
{
	void *h = dlopen(d->soname, RTLD_NOW | RTLD_LOCAL);
	const char *missing = NULL;

	if (!h) {
		snprintf(d->why, sizeof(d->why), "%s", dlerror());
		d->err = -ENOENT;
		return;
	}
	d->bind(h, &missing);
	if (missing) {
		snprintf(d->why, sizeof(d->why), "%s has no %s", d->soname, missing);
		d->err = -ENOSYS;
	}
}

int ldq_dl_load(struct ldq_dl *d, int say)
{
	pthread_mutex_lock(&d->lock);
	if (!d->done) {
		dl_open(d);
		d->done = 1;
	}
	pthread_mutex_unlock(&d->lock);
	if (d->err && say)
		ldq_err("%s: cannot load %s (%s): install it (Debian: %s)", d->backend, d->lib,
			d->why, d->package);
	return d->err;
}
