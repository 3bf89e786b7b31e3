// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * queue_worker.c - `labdaq queue run`: the worker.  It takes the queued
 * jobs in id order, runs each as its own process, watches for signals and
 * stop requests, and records how each ended.  See queue.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "queue.h"

#define RESCAN_MS 5000       /* the idle worker re-reads the queue this often */

#define RUNNING_CHECK_MS 1000 /* and the running job's file for a stop request */

/*
 * The status word an output file's metadata ends with ("complete",
 * "stopped", "running"...) in @buf: 0, or -errno if there is none
 * (-ENODATA: the file says no status).
 */
static int output_status_word(const char *output, char *buf, size_t len)
{
	int ret;

	buf[0] = '\0';
	ret = output ? sidecar_status(output, buf, len) : -EINVAL;
	return !ret && !buf[0] ? -ENODATA : ret;
}

/* ---- the worker ------------------------------------------------------------ */

struct worker {
	struct queue q;
	int sfd;        /* signalfd: SIGINT, SIGTERM, SIGHUP, SIGCHLD */
	int ifd;        /* inotify on jobs/, or -1 */
	int stopping;   /* a signal, or an error, asked the worker to end */
	int error;      /* the worker cannot go on: exit 1 */
	int nsig;       /* terminating signals received */
	long floor;     /* every job up to this id has ended */
	int lockfd;     /* worker.lock, held while the worker lives */
};

/* Append a line from the worker to a job's log. */
static void log_line(const struct queue *q, long id, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void log_line(const struct queue *q, long id, const char *fmt, ...)
{
	char name[32], t[64], text[4096], shown[4096];
	va_list ap;
	int fd;

	job_file(id, "log", name, sizeof(name));
	fd = queue_file(q->jfd, name, O_WRONLY | O_CREAT | O_APPEND, q->fmode);
	if (fd < 0)
		return;
	utc_now(t, sizeof(t));
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* One line each, whatever a job's name or arguments hold. */
	dprintf(fd, "labdaq queue: %s: %s\n", t, escape_ctl(text, shown, sizeof(shown)));
	close(fd);
}

/* A job left "running" by a worker that died (we hold worker.lock, so its
 * worker is gone): stop its run if it still goes, mark it interrupted. */
static void mark_interrupted(struct worker *w, long id, json_t *job, const char *why)
{
	long long child = job_int(job, "child_pid", 0), start = job_int(job, "child_start", -1);
	const char *output = job_str(job, "output");
	char status[32], *note = NULL, nb[300];
	int ret;

	if (same_process(child, start) && !job_child_proven(&w->q, id, child, start)) {
		msg("job %ld: the job file names pid %lld as its run, but that process is not "
		    "one a worker of this queue started for it: not signalling it", id, child);
	} else if (same_process(child, start)) {
		msg("job %ld: its run (pid %lld) still goes: stopping it", id, child);
		kill((pid_t)child, SIGTERM);
		if (!wait_gone(child, start, ORPHAN_STOP_S)) {
			msg("job %ld: its run (pid %lld) did not stop in %d s: killing it", id,
			    child, ORPHAN_STOP_S);
			kill((pid_t)child, SIGKILL);
			wait_gone(child, start, 5);
		}
	}
	if (output && !output_status_word(output, status, sizeof(status)) &&
	    strcmp(status, "running"))
		note = str_printf("%s; its run ended '%s' and its file %s is finalized", why,
				  status, output);
	else if (!output || access(output, F_OK))
		note = str_printf("%s; it had written no file", why);
	else if (has_suffix(output, ".npy"))
		note = str_printf("%s; its file can be completed with: labdaq recover %s", why,
				  output);
	else
		note = str_printf("%s; its file %s holds the points done before", why, output);
	job_set_str(job, "state", "interrupted");
	job_set_now(job, "ended_utc");
	job_set_str(job, "note", note ? note : why);
	ret = job_store(&w->q, id, job);
	if (ret)
		msg("job %ld: cannot record its state: %s", id, strerror(-ret));
	log_line(&w->q, id, "job %ld interrupted: %s", id, note ? note : why);
	msg("job %ld%s: interrupted: %s", id, job_name_of(job, nb, sizeof(nb)), note ? note : why);
	free(note);
}

static void recover_orphans(struct worker *w)
{
	long *ids;
	size_t n;

	if (job_ids(&w->q, &ids, &n))
		return;
	if (queue_lock(&w->q)) {
		w->stopping = w->error = 1; /* no job can change state: cannot go on */
		free(ids);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *job = job_get(&w->q, ids[i]);
		const char *st = job_str(job, "state");

		if (st && !strcmp(st, "running")) {
			char why[128];

			snprintf(why, sizeof(why), "its worker (pid %lld) ended while it ran",
				 job_int(job, "worker_pid", 0));
			mark_interrupted(w, ids[i], job, why);
		}
		json_decref(job);
	}
	queue_unlock(&w->q);
	free(ids);
}

/* The first queued job, or 0. */
static long next_queued(struct worker *w)
{
	long *ids, found = 0;
	int all_final = 1;
	size_t n;

	if (job_ids(&w->q, &ids, &n))
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		json_t *job;
		const char *st;

		if (ids[i] <= w->floor)
			continue;
		job = job_get(&w->q, ids[i]);
		st = job_str(job, "state");
		if (st && !strcmp(st, "queued"))
			found = ids[i];
		else if (all_final && st && is_final(st))
			w->floor = ids[i]; /* an ended job never changes again */
		else
			all_final = 0;
		json_decref(job);
	}
	free(ids);
	return found;
}

static void drain_inotify(int ifd)
{
	char buf[4096] __attribute__((aligned(8)));

	while (ifd >= 0 && read(ifd, buf, sizeof(buf)) > 0)
		;
}

/* The job's end, from how its process ended. */
static const char *job_outcome(int status, const char *output, int stop_asked, const char **why)
{
	char word[32];
	const char *state;

	*why = NULL;
	if (WIFSIGNALED(status)) {
		if (stop_asked && WTERMSIG(status) == SIGTERM) {
			*why = "it was killed by SIGTERM before it could stop cleanly";
			return "stopped";
		}
		*why = "it was killed by a signal";
		return "failed";
	}
	switch (WEXITSTATUS(status)) {
	case EXIT_OK:
	case EXIT_DROPPED:
		/* The file's metadata tells a stop (cancel, labdaq stop, the worker
		 * stopping) from a run that reached its end. */
		if (output && !output_status_word(output, word, sizeof(word)))
			state = !strcmp(word, "stopped") ? "stopped" : "complete";
		else
			state = stop_asked ? "stopped" : "complete";
		if (WEXITSTATUS(status) == EXIT_DROPPED)
			*why = "data was dropped: see the gaps in its .gaps.npy file";
		return state;
	case EXIT_FAILURE_IO:
		*why = "device or I/O failure: see its log";
		return "failed";
	case EXIT_USAGE:
		*why = "bad usage at run time (e.g. the output exists now): see its log";
		return "failed";
	case EXIT_BUSY:
		*why = "the device was busy with another run";
		return "failed";
	case EXIT_ABORTED:
		return "aborted";
	default:
		*why = "unexpected exit status: see its log";
		return "failed";
	}
}

/* "labdaq" and the job's argv (checked with valid_argv()), NULL-terminated,
 * for execv() and messages; malloc'd, the strings are the job's. */
static char **job_argv(json_t *job)
{
	json_t *jargv = json_object_get(job, "argv");
	size_t n = json_array_size(jargv);
	char **av = calloc(n + 2, sizeof(*av));

	if (!av)
		return NULL;
	av[0] = (char *)"labdaq";
	for (size_t i = 0; i < n; i++)
		av[i + 1] = (char *)json_string_value(json_array_get(jargv, i));
	return av;
}

/* Start the job's process: its own process group, stopped if we die, its
 * output to the job's log, in the directory it was added from. */
static pid_t spawn_job(const struct queue *q, long id, json_t *job, char **av, int logfd)
{
	const char *cwd = job_str(job, "cwd");
	pid_t parent = getpid(), pid;
	char mark[128];

	if (job_mark(q, id, mark, sizeof(mark)))
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		sigset_t none;
		int nul = open("/dev/null", O_RDONLY);

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent) /* the worker died before the line above */
			_exit(EXIT_FAILURE_IO);
		if (nul >= 0)
			dup2(nul, STDIN_FILENO);
		dup2(logfd, STDOUT_FILENO);
		dup2(logfd, STDERR_FILENO);
		if (cwd && chdir(cwd)) {
			dprintf(STDERR_FILENO, "labdaq queue: cannot enter the job's directory "
				"'%s': %s\n", cwd, strerror(errno));
			_exit(EXIT_FAILURE_IO);
		}
		/* The mark that proves it ours to a later worker (after our crash). */
		putenv(mark);
		execv("/proc/self/exe", av);
		dprintf(STDERR_FILENO, "labdaq queue: cannot run /proc/self/exe: %s\n",
			strerror(errno));
		_exit(EXIT_FAILURE_IO);
	}
	return pid;
}

/* acquire|sweep ARGS..., without what queue add refuses (a job file edited
 * to add --dry-run would be recorded complete with no file). */
static int valid_argv(json_t *jargv)
{
	const char *s;
	int words = 1;
	size_t i;
	json_t *v;

	if (!json_is_array(jargv) || !json_array_size(jargv))
		return 0;
	json_array_foreach(jargv, i, v) {
		if (!json_is_string(v))
			return 0;
		s = json_string_value(v);
		if (words && !strcmp(s, "--"))
			words = 0;
		else if (words && (!strcmp(s, "--dry-run") || !strcmp(s, "--help") ||
				   !strcmp(s, "-h")))
			return 0;
	}
	v = json_array_get(jargv, 0);
	return !strcmp(json_string_value(v), "acquire") || !strcmp(json_string_value(v), "sweep");
}

/* Read the pending signals: a terminating one stops the worker (and the
 * job's run, if @child); SIGCHLD just wakes us. */
static void take_signals(struct worker *w, pid_t child, long id)
{
	struct signalfd_siginfo si;

	while (read(w->sfd, &si, sizeof(si)) == sizeof(si)) {
		if (si.ssi_signo == SIGCHLD)
			continue;
		w->nsig++;
		w->stopping = 1;
		if (!child)
			continue;
		if (w->nsig == 1) {
			msg("%s: stopping job %ld, then the worker (Ctrl-C again to abort the job)",
			    strsignal((int)si.ssi_signo), id);
			log_line(&w->q, id, "the worker got signal %u: stopping the job",
				 si.ssi_signo);
			kill(child, SIGTERM);
		} else if (si.ssi_signo == SIGINT) {
			msg("aborting job %ld", id);
			log_line(&w->q, id, "the worker got a second SIGINT: aborting the job");
			kill(child, SIGUSR1);
		}
	}
}

/* Under queue.lock: the job @id if it is still queued and is a job (one
 * that is not is marked failed); NULL otherwise, with the lock released.
 * Without queue.lock the worker cannot go on (else it would find the same
 * job queued again, at once, for ever). */
static json_t *job_claim(struct worker *w, long id)
{
	json_t *job;

	if (queue_lock(&w->q)) {
		w->stopping = w->error = 1;
		return NULL;
	}
	job = job_get(&w->q, id);
	if (!job || !job_str(job, "state") || strcmp(job_str(job, "state"), "queued")) {
		queue_unlock(&w->q);
		json_decref(job);
		return NULL;
	}
	if (!valid_argv(json_object_get(job, "argv"))) {
		job_set_str(job, "state", "failed");
		job_set_now(job, "ended_utc");
		job_set_str(job, "note", "not a job: its argv must be acquire|sweep ARGS..., "
			    "without --dry-run or --help");
		job_store(&w->q, id, job);
		queue_unlock(&w->q);
		msg("job %ld: not a job (its argv must be acquire|sweep ARGS..., without "
		    "--dry-run or --help): failed", id);
		json_decref(job);
		return NULL;
	}
	return job;
}

/* Start the claimed @job (queue.lock held, and released here) and record
 * that it runs: its pid, or -1 when the worker cannot go on (the queue is
 * not writable, fork failed: stop rather than fail every job).  Its command
 * line in *@line (malloc'd, or NULL). */
static pid_t job_start(struct worker *w, long id, json_t *job, char **line)
{
	char logname[32], *log, nb[300], **av;
	int logfd, err;
	pid_t pid;

	job_file(id, "log", logname, sizeof(logname));
	logfd = queue_file(w->q.jfd, logname, O_WRONLY | O_CREAT | O_APPEND, w->q.fmode);
	log = str_printf("%s/jobs/%s", w->q.dir, logname);
	if (logfd < 0 || !log) {
		msg("job %ld: cannot open its log: %s", id, strerror(errno));
		if (logfd >= 0)
			close(logfd);
		free(log);
		queue_unlock(&w->q);
		return -1;
	}
	av = job_argv(job);
	if (av)
		join_command((int)json_array_size(json_object_get(job, "argv")), av + 1, line);
	log_line(&w->q, id, "job %ld started by worker pid %d: %s (in %s)", id, (int)getpid(),
		 *line ? *line : "?", job_str(job, "cwd") ? job_str(job, "cwd") : "?");
	pid = av ? spawn_job(&w->q, id, job, av, logfd) : -1;
	free(av);
	close(logfd);
	if (pid < 0) {
		msg("job %ld: fork: %s", id, strerror(errno));
		queue_unlock(&w->q);
		free(log);
		return -1;
	}
	job_set_str(job, "state", "running");
	job_set_now(job, "started_utc");
	job_set_int(job, "worker_pid", getpid());
	job_set_int(job, "child_pid", pid);
	job_set_int(job, "child_start", proc_start(pid));
	job_set_str(job, "log", log);
	free(log);
	err = job_store(&w->q, id, job);
	if (err)
		msg("job %ld: cannot record that it runs: %s", id, strerror(-err));
	queue_unlock(&w->q);
	msg("job %ld%s started: %s", id, job_name_of(job, nb, sizeof(nb)), *line ? *line : "?");
	return pid;
}

/* A stop or abort asked through the job's file (cancel): passed on to its
 * process once each. */
static void take_requests(struct worker *w, long id, pid_t pid, int *stop_sent, int *abort_sent)
{
	json_t *now = job_get(&w->q, id);
	const char *req = job_str(now, "stop_requested");

	if (req && json_is_true(json_object_get(now, "abort_requested")) && !*abort_sent) {
		/* SIGUSR1 aborts a run at once, stopped or not. */
		msg("job %ld: abort requested (%s)", id, req);
		log_line(&w->q, id, "abort requested: %s", req);
		kill(pid, SIGUSR1);
		*stop_sent = *abort_sent = 1;
	} else if (req && !*stop_sent) {
		msg("job %ld: stop requested (%s)", id, req);
		log_line(&w->q, id, "stop requested: %s", req);
		kill(pid, SIGTERM);
		*stop_sent = 1;
	}
	json_decref(now);
}

/* Until the job's process ends: pass on signals and stop requests.  Its
 * wait status; *@stop_sent if it was asked to stop. */
static int job_watch(struct worker *w, long id, pid_t pid, int *stop_sent)
{
	int status = 0, abort_sent = 0;

	for (;;) {
		struct pollfd pfd[2] = {
			{ .fd = w->sfd, .events = POLLIN },
			{ .fd = w->ifd, .events = POLLIN },
		};
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0 && errno != EINTR) {
			msg("job %ld: waitpid: %s", id, strerror(errno));
			return EXIT_FAILURE_IO << 8;
		}
		if (poll(pfd, w->ifd >= 0 ? 2 : 1, RUNNING_CHECK_MS) < 0 && errno != EINTR)
			continue;
		if (pfd[0].revents & POLLIN) {
			take_signals(w, pid, id);
			if (w->stopping)
				*stop_sent = 1;
		}
		drain_inotify(w->ifd);
		take_requests(w, id, pid, stop_sent, &abort_sent);
	}
}

/* "complete, exit status 0: WHY" or "failed, killed by signal 9 (Killed)". */
static char *end_text(const char *state, int status, const char *why)
{
	if (WIFEXITED(status))
		return str_printf("%s, exit status %d%s%s", state, WEXITSTATUS(status),
				  why ? ": " : "", why ? why : "");
	return str_printf("%s, killed by signal %d (%s)", state, WTERMSIG(status),
			  strsignal(WTERMSIG(status)));
}

/* Record how the job's process ended (*@job may be replaced by the file's
 * newer content: what a cancel wrote meanwhile is kept). */
static void job_record_end(struct worker *w, long id, json_t **job, int status, int stop_sent)
{
	const char *state, *why;
	char nb[300], *text;
	int err;

	state = job_outcome(status, job_str(*job, "output"), stop_sent, &why);
	if (queue_lock(&w->q) == 0) {
		json_t *cur = job_get(&w->q, id);

		if (cur) {
			json_decref(*job);
			*job = cur;
		}
	}
	job_set_str(*job, "state", state);
	job_set_now(*job, "ended_utc");
	if (WIFEXITED(status))
		job_set_int(*job, "exit_status", WEXITSTATUS(status));
	else
		job_set_int(*job, "signal", WTERMSIG(status));
	job_set_str(*job, "note", why);
	/* The log's last line before the final state: whoever follows the log
	 * until the state is final reads it. */
	text = end_text(state, status, why);
	log_line(&w->q, id, "job %ld ended: %s", id, text ? text : state);
	err = job_store(&w->q, id, *job);
	if (err)
		msg("job %ld: cannot record its end: %s", id, strerror(-err));
	queue_unlock(&w->q);
	msg("job %ld%s: %s", id, job_name_of(*job, nb, sizeof(nb)), text ? text : state);
	free(text);
}

/* Run job @id to its end, if it is still queued. */
static void run_job(struct worker *w, long id)
{
	int status, stop_sent = 0;
	char *line = NULL;
	json_t *job;
	pid_t pid;

	job = job_claim(w, id);
	if (!job)
		return;
	pid = job_start(w, id, job, &line);
	if (pid < 0) {
		w->stopping = w->error = 1;
	} else {
		status = job_watch(w, id, pid, &stop_sent);
		job_record_end(w, id, &job, status, stop_sent);
	}
	json_decref(job);
	free(line);
}

/* The worker's signalfd (SIGCHLD too: the job's end) and inotify on jobs/
 * (new jobs are link()ed, changed ones rename()d into it; without it the
 * queue is re-read every RESCAN_MS): 0 or the exit status. */
static int worker_setup(struct worker *w)
{
	static const int wsigs[] = { SIGINT, SIGTERM, SIGHUP, SIGCHLD };
	uint32_t events = IN_CREATE | IN_MOVED_TO | IN_ONLYDIR;
	char *jobs;

	w->sfd = signalfd_for(wsigs, sizeof(wsigs) / sizeof(wsigs[0]), SFD_NONBLOCK);
	if (w->sfd < 0)
		return EXIT_FAILURE_IO;
	w->ifd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->ifd >= 0) {
		jobs = str_printf("%s/jobs", w->q.dir);
		if (!jobs || inotify_add_watch(w->ifd, jobs, events) < 0) {
			close(w->ifd);
			w->ifd = -1;
		}
		free(jobs);
	}
	if (w->ifd < 0)
		msg("warning: no inotify (%s): new jobs are seen within %d s", strerror(errno),
		    RESCAN_MS / 1000);
	return 0;
}

/* Idle: until a signal, a change in jobs/ or RESCAN_MS. */
static void worker_idle(struct worker *w)
{
	struct pollfd pfd[2] = {
		{ .fd = w->sfd, .events = POLLIN },
		{ .fd = w->ifd, .events = POLLIN },
	};

	if (poll(pfd, w->ifd >= 0 ? 2 : 1, RESCAN_MS) > 0) {
		if (pfd[0].revents & POLLIN)
			take_signals(w, 0, 0);
		drain_inotify(w->ifd);
	}
}

/* The queued jobs in id order, until a signal or an error stops the worker
 * (or, with @until_empty, none is queued). */
static void worker_loop(struct worker *w, int until_empty)
{
	recover_orphans(w);
	while (!w->stopping) {
		long id = next_queued(w);

		if (id)
			run_job(w, id);
		else if (until_empty)
			break;
		else
			worker_idle(w);
	}
}

/* Say why the worker ends, release the queue: the exit status. */
static int worker_end(struct worker *w)
{
	msg("worker pid %d: %s", (int)getpid(), w->error ? "cannot go on" :
	    w->stopping ? "stopped by a signal" : "the queue is empty");
	if (w->sfd >= 0)
		close(w->sfd);
	if (w->ifd >= 0)
		close(w->ifd);
	close(w->lockfd);
	queue_close(&w->q);
	return w->error ? EXIT_FAILURE_IO : EXIT_OK;
}

int queue_run(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "until-empty", no_argument, NULL, 'u' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	struct worker w = { .sfd = -1, .ifd = -1, .lockfd = -1 };
	int opt, until_empty = 0, ret;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'u')
			until_empty = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return queue_bad_option("run", opt, argv);
	}
	if (optind < argc)
		return usage_error(&cmd_queue, "run: unexpected argument '%s'", argv[optind]);
	ret = queue_open(&w.q, qdir, 1, 1);
	if (ret)
		return ret;
	ret = worker_lock_take(&w.q, &w.lockfd);
	if (ret) {
		queue_close(&w.q);
		return ret;
	}
	ret = worker_setup(&w);
	if (ret) {
		close(w.lockfd);
		queue_close(&w.q);
		return ret;
	}
	msg("worker pid %d: queue %s%s", (int)getpid(), w.q.dir,
	    until_empty ? " (until it is empty)" : "");
	worker_loop(&w, until_empty);
	return worker_end(&w);
}
