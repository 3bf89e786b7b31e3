/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * dl.h - a backend's library loaded at its first use (dlopen), not linked
 * with liblabdaq: libiio, comedilib and libusb and what they bring would
 * cost every program's start (BENCHMARKS.md, "Point 4").  Each backend
 * keeps its table of function pointers (iio_dl.h, comedi_dl.h, usb_dl.h)
 * and a bind function that fills it with ldq_dl_sym(); this file does the
 * loading once per process and the messages.
 */
#ifndef LDQ_DL_H
#define LDQ_DL_H

#include <pthread.h>

struct ldq_dl {
	const char *backend; /* "usb": the messages' prefix */
	const char *lib;     /* "libusb", as the messages name it */
	const char *soname;  /* what dlopen() loads */
	const char *package; /* Debian's run-time package, for the hint */
	/* Fills the backend's table from @h with ldq_dl_sym(). */
	void (*bind)(void *h, const char **missing);
	pthread_mutex_t lock;
	int done;
	int err;        /* 0, -ENOENT (no library) or -ENOSYS (a function missing) */
	char why[160];  /* dlerror()'s words or the missing function, when err */
};

#define LDQ_DL_INIT(backend, lib, soname, package, bind) \
	{ backend, lib, soname, package, bind, PTHREAD_MUTEX_INITIALIZER, 0, 0, "" }

/*
 * Load @d's library once per process (the first call; later ones return
 * what it found): 0, or -ENOENT / -ENOSYS, with "BACKEND: cannot load LIB
 * (why): install it (Debian: PACKAGE)" as the last error if @say.
 * Thread-safe.
 */
int ldq_dl_load(struct ldq_dl *d, int say);

/* dlsym(@h, @name); a missing one named in *@missing (the first only). */
void *ldq_dl_sym(void *h, const char *name, const char **missing);

#endif
