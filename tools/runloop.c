// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * runloop.c - what acquire and sweep share: signals, the progress loop, the
 * busy message, channel checks.
 *
 * Signals are blocked in every thread before a run starts and read from a
 * signalfd in the loop: SIGINT or SIGTERM stops the run (drain, finalize), a
 * second SIGINT or a SIGUSR1 aborts it.  `labdaq stop` sends SIGTERM, and
 * SIGUSR1 with --abort.
 */
#include <errno.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common.h"

int signalfd_for(const int *sigs, size_t n, int flags)
{
	sigset_t mask;
	int sfd;

	sigemptyset(&mask);
	for (size_t i = 0; i < n; i++)
		sigaddset(&mask, sigs[i]);
	/* Blocked here, before any thread of ours exists: they inherit the
	 * mask, and only the signalfd sees the signals. */
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	/* A shell starts background jobs with SIGINT ignored, and an ignored
	 * signal never reaches the signalfd: take them back (they are blocked). */
	for (size_t i = 0; i < n; i++)
		signal(sigs[i], SIG_DFL);
	/* Output to a closed pipe must not kill a run or a job unfinished. */
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | flags);
	if (sfd < 0)
		msg("signalfd: %s", strerror(errno));
	return sfd;
}

int signals_take(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1 };

	/* labdaq stop may signal us: we stop on SIGTERM, abort on SIGUSR1. */
	labdaq_set_stop_signals(1);
	return signalfd_for(sigs, sizeof(sigs) / sizeof(sigs[0]), 0);
}

void run_loop(labdaq_run *run, int sfd, int period_ms, int quiet, show_fn show, void *ctx)
{
	int nsig = 0;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = sfd, .events = POLLIN },
					 { .fd = labdaq_run_fd(run), .events = POLLIN } };
		struct signalfd_siginfo si;

		if (!labdaq_run_wait(run, 0))
			break;
		if (show)
			show(run, ctx, 0);
		/* Wakes at once when the run ends, or at a signal. */
		if (poll(pfd, 2, period_ms) <= 0 || !(pfd[0].revents & POLLIN))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		nsig++;
		if (si.ssi_signo == SIGUSR1 || (nsig > 1 && si.ssi_signo == SIGINT)) {
			labdaq_run_abort(run);
			if (!quiet)
				msg("aborting: discarding what is not yet written");
		} else {
			labdaq_run_stop(run);
			if (!quiet)
				msg("stopping (signal %d): writing what was acquired; Ctrl-C again "
				    "to abort", (int)si.ssi_signo);
		}
	}
	if (show)
		show(run, ctx, 1);
}

int exit_status_of(int state, uint64_t dropped)
{
	switch (state) {
	case LABDAQ_STATE_COMPLETE:
	case LABDAQ_STATE_STOPPED:
		return dropped ? EXIT_DROPPED : EXIT_OK;
	case LABDAQ_STATE_ABORTED:
		return EXIT_ABORTED;
	default:
		return EXIT_FAILURE_IO;
	}
}

/* After the library's message for a busy device (the log printed it): how
 * to stop the holder, when it is a labdaq run. */
void describe_holder(const char *uri)
{
	struct labdaq_holder h = { .size = sizeof(h) };

	if (labdaq_device_holder(uri, &h) == 1 && h.pid > 0 && h.run_id[0])
		msg("'labdaq stop %.*s' asks run %s to stop", (int)strcspn(h.device, "?"), h.device,
		    h.run_id);
}

int start_error(const struct command *cmd, const char *device, const char *output, int ret)
{
	switch (ret) {
	case -EINVAL:
	case -ERANGE:
		msg("cannot start on '%s': %s", device, labdaq_strerror(ret));
		return EXIT_USAGE;
	case -EEXIST:
		/* Or a file beside it (sidecar, gaps, companion): the library
		 * named which. */
		if (access(output, F_OK))
			msg("a file of the run '%s' exists (named above); choose another name "
			    "or add --force", output);
		else
			msg("'%s' exists; choose another name or add --force", output);
		return EXIT_USAGE;
	case -EISDIR:
		/* The library said which; never replaced, even with --force. */
		return EXIT_USAGE;
	case -EBUSY:
		describe_holder(device);
		return EXIT_BUSY;
	default:
		msg("cannot start on '%s': %s", device, labdaq_strerror(ret));
		return EXIT_FAILURE_IO;
	}
}
