/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * fixed_parts.c - the parts of the fixed cost of a short labdaq run, one
 * by one (bench.py, section 8).
 *
 *	fixed_parts DIR REPS
 *
 * Prints 'trial fixed PART REP MICROSECONDS us' lines, each part timed
 * alone, REPS times, interleaved:
 *
 *   ring-64M      ldq_ring_new() + ldq_ring_free() of the default 64 MiB
 *                 (labdaq's own ring: huge pages, populated, collapsed)
 *   ring-1M       the same for 1 MiB, the ring of a short counted run
 *   threads       pthread_create() + pthread_join() of two threads (the
 *                 producer and the writer)
 *   lock          what the device lock does: create a lock file with
 *                 O_EXCL, flock() it, unlink and close it
 *   sidecar       what writing a sidecar does: a small file written,
 *                 fsync()ed, renamed over the old one, the directory
 *                 fsync()ed (labdaq's final sidecar; its first one, at
 *                 the start, skips the directory's fsync)
 *   fdatasync     write 8 KiB to a new file and fdatasync() it: the data's
 *                 own durability, which the minimal program pays too
 *
 * The lock and sidecar parts repeat the system calls labdaq makes
 * (strace of `labdaq acquire`), not labdaq's functions, which are internal
 * to a run; the ring is labdaq's own.  Exit 0, or 2 on a setup failure.
 */
#include <fcntl.h>
#include <sys/file.h>

#include "bench.h"
#include "ring.h"

enum part { P_RING64, P_RING1, P_THREADS, P_LOCK, P_SIDECAR, P_FDATASYNC, P_COUNT };

static const char *const part_name[P_COUNT] = { "ring-64M", "ring-1M", "threads", "lock",
						"sidecar", "fdatasync" };

static void *nothing(void *arg)
{
	return arg;
}

static void die(const char *what)
{
	fprintf(stderr, "fixed_parts: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void ring(size_t bytes)
{
	struct ldq_ring *r;
	int ret = ldq_ring_new(bytes, &r);

	if (ret) {
		errno = -ret;
		die("ldq_ring_new");
	}
	ldq_ring_free(r);
}

static void threads(void)
{
	pthread_t a, b;

	if (pthread_create(&a, NULL, nothing, NULL) || pthread_create(&b, NULL, nothing, NULL))
		die("pthread_create");
	pthread_join(a, NULL);
	pthread_join(b, NULL);
}

static void lock(int dir)
{
	int fd = openat(dir, "dev.lock", O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);

	if (fd < 0 || flock(fd, LOCK_EX | LOCK_NB))
		die("lock");
	if (write(fd, "12345 labdaq\n", 13) != 13)
		die("lock write");
	unlinkat(dir, "dev.lock", 0);
	close(fd);
}

static void sidecar(int dir)
{
	static const char json[] = "{\"status\": \"running\", \"written\": 0, \"gaps\": []}\n";
	int fd = openat(dir, ".side.json.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);

	if (fd < 0 || write(fd, json, sizeof(json) - 1) != (ssize_t)sizeof(json) - 1 ||
	    fsync(fd) || close(fd) || renameat(dir, ".side.json.tmp", dir, "side.json") ||
	    fsync(dir))
		die("sidecar");
}

static void data(int dir)
{
	static unsigned char buf[8192];
	int fd = openat(dir, "data.npy", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);

	if (fd < 0 || write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf) || fdatasync(fd) ||
	    close(fd))
		die("data");
}

static void run(enum part p, int dir)
{
	switch (p) {
	case P_RING64:
		ring(64u << 20);
		break;
	case P_RING1:
		ring(1u << 20);
		break;
	case P_THREADS:
		threads();
		break;
	case P_LOCK:
		lock(dir);
		break;
	case P_SIDECAR:
		sidecar(dir);
		break;
	default:
		data(dir);
		break;
	}
}

int main(int argc, char **argv)
{
	int dir, reps;

	if (argc != 3 || (reps = atoi(argv[2])) < 1) {
		fprintf(stderr, "usage: fixed_parts DIR REPS\n");
		return 2;
	}
	dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		die(argv[1]);
	for (int rep = 0; rep < reps; rep++) {
		for (int k = 0; k < P_COUNT; k++) {
			enum part p = (enum part)(rep % 2 ? P_COUNT - 1 - k : k);
			uint64_t t0 = bench_now_ns();

			run(p, dir);
			bench_trial("fixed", part_name[p], rep, (double)(bench_now_ns() - t0) / 1e3,
				    "us");
		}
	}
	unlinkat(dir, "side.json", 0);
	unlinkat(dir, "data.npy", 0);
	close(dir);
	return 0;
}
