// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * stop.c - labdaq stop: ask the run holding a device to stop, from anywhere.
 *
 * The holder is found through the device's lock (labdaq_device_holder());
 * it is asked with a signal, so the kernel's rule decides who may stop
 * whom: the same user, or root.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

enum { EXIT_NOTHING = 5 };

struct stop_cfg {
	int abort;
	int wait;
	uint64_t timeout_ns;
};

static const char stop_usage[] =
	"Usage: labdaq stop DEVICE [--abort] [--no-wait] [--timeout DURATION]\n"
	"       labdaq stop --all [--abort] [--no-wait] [--timeout DURATION]\n"
	"\n"
	"Ask the run (acquire or sweep, in any process) that holds DEVICE to stop: it\n"
	"stops acquiring, writes everything it acquired, finalizes its file and ends\n"
	"with status stopped.  By default labdaq stop waits until then and prints how\n"
	"the run ended.  DEVICE is matched without its parameters: 'sim:camera' finds\n"
	"a run on 'sim:camera?width=64'.  Only the run's own user, or root, may stop it.\n"
	"\n"
	"  -a, --all               every run on this machine\n"
	"      --abort             abort instead: discard what is not yet written\n"
	"      --no-wait           ask, and return at once\n"
	"  -t, --timeout DURATION  wait at most this long (default: until it ends)\n"
	"  -h, --help              this help\n"
	"\n"
	"Exit status:\n"
	"  0    the run ended (or was asked to, with --no-wait)\n"
	"  1    it could not be stopped: permission denied, or still running at --timeout\n"
	"  2    bad usage\n"
	"  5    no run holds DEVICE\n";

/* The status a run left in its file: a stream's sidecar, or a sweep's CSV. */
static void print_outcome(const struct labdaq_holder *h)
{
	uint64_t acquired = 0, written = 0, dropped = 0;
	const char *status;
	labdaq_file *f;

	if (labdaq_file_open(h->output, &f)) {
		printf("%s: run %s ended -> %s\n", h->device, h->run_id, h->output);
		return;
	}
	status = labdaq_file_meta_string(f, "status");
	if (labdaq_file_type(f) == LABDAQ_FILE_CSV) {
		printf("%s: run %s %s: %llu points -> %s\n", h->device, h->run_id,
		       status ? status : "?", (unsigned long long)labdaq_file_items(f),
		       h->output);
	} else if (status) {
		labdaq_file_meta_u64(f, "acquired", &acquired);
		labdaq_file_meta_u64(f, "written", &written);
		labdaq_file_meta_u64(f, "dropped", &dropped);
		printf("%s: run %s %s: %llu acquired, %llu written, %llu dropped -> %s\n",
		       h->device, h->run_id, status, (unsigned long long)acquired,
		       (unsigned long long)written, (unsigned long long)dropped, h->output);
	} else {
		printf("%s: run %s ended -> %s\n", h->device, h->run_id, h->output);
	}
	labdaq_file_close(f);
}

/* Signal @h's process; 0, or an exit status with the message printed. */
static int ask(const struct labdaq_holder *h, const struct stop_cfg *c)
{
	if (h->pid <= 0) {
		msg("'%s' is held, but not by a labdaq run that says who it is (another "
		    "program, or one whose record is gone): nothing to signal", h->device[0] ?
		    h->device : "the device");
		return EXIT_FAILURE_IO;
	}
	if (!h->stoppable) {
		msg("the run on '%s' (pid %d, user %s) is a program using liblabdaq that does not "
		    "stop on signals, or one whose lock record does not match it: stop it from "
		    "that program", h->device[0] ? h->device : "a device", h->pid, h->user);
		return EXIT_FAILURE_IO;
	}
	if (kill(h->pid, c->abort ? SIGUSR1 : SIGTERM)) {
		if (errno == ESRCH)
			return 0; /* it just ended */
		if (errno == EPERM) {
			msg("permission denied: the run on '%s' (pid %d) belongs to user %s; only "
			    "%s or root can stop it", h->device, h->pid, h->user, h->user);
			return EXIT_FAILURE_IO;
		}
		msg("cannot signal pid %d: %s", h->pid, strerror(errno));
		return EXIT_FAILURE_IO;
	}
	fprintf(stderr, "%s: asked pid %d (%s) to %s run %s on %s\n", progname, h->pid, h->user,
		c->abort ? "abort" : "stop", h->run_id, h->device);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until @h's run no longer holds its device. */
static int wait_end(const struct labdaq_holder *h, const struct stop_cfg *c)
{
	uint64_t t0 = now_ns();

	for (;;) {
		struct labdaq_holder now = { .size = sizeof(now) };
		int ret = labdaq_device_holder(h->device, &now);

		if (ret < 0) {
			msg("watching '%s': %s", h->device, labdaq_strerror(ret));
			return EXIT_FAILURE_IO;
		}
		/* Ended: the device is free, held by another run, or the
		 * process is gone (its record may outlive it for a moment). */
		if (!ret || now.pid != h->pid || strcmp(now.run_id, h->run_id) ||
		    (kill(h->pid, 0) && errno == ESRCH))
			break;
		if (c->timeout_ns && now_ns() - t0 > c->timeout_ns) {
			msg("run %s on '%s' (pid %d) is still running", h->run_id, h->device,
			    h->pid);
			return EXIT_FAILURE_IO;
		}
		usleep(100000);
	}
	print_outcome(h);
	return 0;
}

struct all_ctx {
	struct labdaq_holder *list;
	size_t n;
};

static int collect(const struct labdaq_holder *h, void *user)
{
	struct all_ctx *a = user;
	struct labdaq_holder *l = realloc(a->list, (a->n + 1) * sizeof(*l));

	if (!l)
		return 1;
	a->list = l;
	a->list[a->n++] = *h;
	return 0;
}

/* The options into @c, the DEVICE into *@device (NULL with --all): 0 or
 * the usage error. */
static int parse_args(int argc, char **argv, struct stop_cfg *c, const char **device)
{
	static const struct option opts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "abort", no_argument, NULL, 'A' },
		{ "no-wait", no_argument, NULL, 'N' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, want_all = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":at:", opts, NULL)) != -1) {
		if (opt == 'a')
			want_all = 1;
		else if (opt == 'A')
			c->abort = 1;
		else if (opt == 'N')
			c->wait = 0;
		else if (opt == 't' && (parse_duration(optarg, &c->timeout_ns) || !c->timeout_ns))
			return usage_error(&cmd_stop, "bad --timeout '%s': e.g. 10s, 2min%s", optarg,
					   parse_hint());
		else if (opt == ':')
			return usage_error(&cmd_stop, "option '%s' needs a value", argv[optind - 1]);
		else if (opt != 't')
			return usage_error(&cmd_stop, "unknown option '%s'", argv[optind - 1]);
	}
	if (want_all == (optind < argc))
		return usage_error(&cmd_stop, "give one DEVICE, or --all");
	if (!want_all && optind + 1 < argc)
		return usage_error(&cmd_stop, "unexpected argument '%s'", argv[optind + 1]);
	*device = want_all ? NULL : argv[optind];
	return 0;
}

/* The runs to stop: every held device's, or @device's.  0 or the exit
 * status (said). */
static int find_holders(const char *device, struct all_ctx *all)
{
	int ret;

	if (!device) {
		ret = labdaq_holders(collect, all);
	} else {
		all->list = calloc(1, sizeof(*all->list));
		if (!all->list)
			return EXIT_FAILURE_IO;
		all->list->size = sizeof(*all->list);
		ret = labdaq_device_holder(device, all->list);
		all->n = ret == 1;
	}
	if (ret < 0) {
		msg("cannot read the device locks: %s", labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	}
	if (!all->n) {
		if (!device)
			msg("no run is active");
		else
			msg("no run holds '%s'", device);
		return EXIT_NOTHING;
	}
	return 0;
}

static int stop_main(int argc, char **argv)
{
	struct stop_cfg c = { .wait = 1 };
	struct all_ctx all = { 0 };
	const char *device = NULL;
	int ret, status;

	status = parse_args(argc, argv, &c, &device);
	if (!status)
		status = find_holders(device, &all);
	for (size_t i = 0; i < all.n && status != EXIT_NOTHING; i++) {
		ret = ask(&all.list[i], &c);
		if (ret) {
			status = ret;
			all.list[i].pid = -1;
		}
	}
	for (size_t i = 0; c.wait && i < all.n && status != EXIT_NOTHING; i++) {
		if (all.list[i].pid < 0)
			continue;
		ret = wait_end(&all.list[i], &c);
		if (ret)
			status = ret;
	}
	free(all.list);
	return status;
}

const struct command cmd_stop = {
	.name = "stop",
	.main = stop_main,
	.summary = "stop the run holding a device, from any terminal",
	.usage = stop_usage,
};
