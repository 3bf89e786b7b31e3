// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * queue_cmd.c - `labdaq queue`: the command's entry, its help, and the
 * subcommands add, list, cancel and log (their options and their output).
 * The worker (`run`) is queue_worker.c; the files, queue_store.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "queue.h"

static const char queue_usage[] =
	"Usage: labdaq queue [--queue DIR] add [--name NAME] [--] acquire|sweep ARGS...\n"
	"       labdaq queue [--queue DIR] list [--json]\n"
	"       labdaq queue [--queue DIR] cancel [--no-wait] [--abort] ID...\n"
	"       labdaq queue [--queue DIR] log [--follow] ID\n"
	"       labdaq queue [--queue DIR] run [--until-empty]\n"
	"\n"
	"A durable queue of measurements, run one after another by a worker.  Each\n"
	"job is a file on disk, so the queue survives a reboot or a killed worker.\n"
	"\n"
	"  add       check the job at once (as 'labdaq acquire|sweep --dry-run ARGS'\n"
	"            would: a bad job is refused with that command's message and\n"
	"            status) and queue it; prints its id on stdout.  Relative paths\n"
	"            are taken from the current directory, where the job will run.\n"
	"  list      the jobs: id, name, state, exit status, device, times (local),\n"
	"            output file; --json: the job files as one JSON array\n"
	"  cancel    a queued job leaves the queue (state cancelled); the running\n"
	"            one is stopped as by Ctrl-C (state stopped, its file keeps what\n"
	"            was acquired) and the worker goes on with the next.  Waits\n"
	"            until the job has ended, unless --no-wait; --abort aborts it.\n"
	"  log       what the job printed (stdout and stderr, with the worker's\n"
	"            lines); --follow: until the job ends\n"
	"  run       the worker: the queued jobs in id order, one at a time, each\n"
	"            as its own 'labdaq acquire|sweep ARGS...' process.  It then\n"
	"            waits for new jobs; with --until-empty it exits when none is\n"
	"            queued.  One worker per queue.  SIGTERM or Ctrl-C: stop the\n"
	"            running job, record it, exit (a second Ctrl-C aborts the job).\n"
	"\n"
	"  --queue DIR        the queue (default: $LABDAQ_QUEUE, or the per-user\n"
	"                     $XDG_STATE_HOME/labdaq/queue, ~/.local/state/labdaq/queue)\n"
	"  -n, --name NAME    a name for the job, shown by list\n"
	"  -h, --help         this help\n"
	"\n"
	"Job states: queued, running, then complete (exit 0, or 3: data was\n"
	"dropped), stopped (stopped before its end: cancel, labdaq stop, the worker\n"
	"stopped), failed (exit 1, 2, 4 or a signal: see its log), aborted (130),\n"
	"cancelled (never ran), interrupted (its worker died; the note in 'list'\n"
	"says whether its file needs 'labdaq recover FILE').  A failed job does\n"
	"not stop the queue.\n"
	"\n"
	"A per-user queue is created mode 0700.  A queue given with --queue or\n"
	"LABDAQ_QUEUE is created mode 2770 (setgid, group rwx), its files 0660:\n"
	"its owner and group may add, cancel and run, nobody else.\n"
	"\n"
	"Exit status:\n"
	"  0    done: job queued, listed, cancelled or stopped, log shown; the\n"
	"       worker ran until the queue was empty (--until-empty) or a signal\n"
	"  1    the queue cannot be read or written (permissions, disk); cancel:\n"
	"       the job had already ended; add: the device check failed\n"
	"  2    bad usage (no such job, unknown option); add: the job is refused\n"
	"       (the message and status of 'labdaq acquire|sweep --dry-run')\n"
	"  4    run: another worker is running this queue (its pid is named)\n";

/* ---- small helpers ------------------------------------------------------- */

/* "2026-11-27T10:52:01.660Z" -> "11-27 10:52:01" in local time, or "-". */
static const char *local_time(const char *utc, char *buf, size_t len)
{
	struct tm tm = { 0 };
	time_t t;

	if (!utc || sscanf(utc, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return "-";
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	t = timegm(&tm);
	localtime_r(&t, &tm);
	strftime(buf, len, "%m-%d %H:%M:%S", &tm);
	return buf;
}

/* ---- what a job's argv says -------------------------------------------- */

/*
 * The device (the first operand) and the output (-o, --output) of an
 * acquire or sweep command line, for list and the checks.  Every option of
 * both takes a value except these.
 */
static int is_flag(const char *opt)
{
	static const char *const flags[] = {
		"-c", "--continuous", "--force", "--dry-run", "-h", "--help", NULL,
	};

	for (int i = 0; flags[i]; i++)
		if (!strcmp(opt, flags[i]))
			return 1;
	return 0;
}

static void job_target(char **av, int n, const char **device, const char **output, int *force)
{
	*device = *output = NULL;
	*force = 0;
	for (int i = 1; i < n; i++) {
		const char *a = av[i];

		if (!strcmp(a, "--")) {
			if (!*device && i + 1 < n)
				*device = av[i + 1];
			break;
		}
		if (a[0] != '-' || !a[1]) {
			if (!*device)
				*device = a;
			continue;
		}
		if (!strcmp(a, "--force"))
			*force = 1;
		if (is_flag(a))
			continue;
		if (a[1] == '-') { /* --name=value or --name value */
			const char *eq = strchr(a, '=');

			if (!strncmp(a, "--output", 8) && (a[8] == '=' || !a[8]))
				*output = eq ? eq + 1 : i + 1 < n ? av[i + 1] : NULL;
			if (!eq)
				i++;
			continue;
		}
		/* A cluster of short options: flags, then one that takes the rest
		 * of the word or the next one. */
		for (const char *c = a + 1; *c; c++) {
			const char *val;

			if (*c == 'c' || *c == 'h')
				continue;
			val = c[1] ? c + 1 : i + 1 < n ? av[++i] : NULL;
			if (*c == 'o')
				*output = val;
			break;
		}
	}
}

/* @path against @cwd (malloc'd). */
static char *absolute(const char *cwd, const char *path)
{
	if (!path)
		return NULL;
	if (path[0] == '/' || !cwd)
		return strdup(path);
	return str_printf("%s/%s", cwd, path);
}

/* getopt's ':' (an option without its value) or '?' (an unknown option). */
int queue_bad_option(const char *sub, int opt, char **argv)
{
	if (opt == ':')
		return usage_error(&cmd_queue, "%s: option '%s' needs a value", sub,
				   argv[optind - 1]);
	return usage_error(&cmd_queue, "%s: unknown option '%s'", sub, argv[optind - 1]);
}

/* ---- add --------------------------------------------------------------- */

/* Run "labdaq COMMAND --dry-run ARGS..." and return its exit status: its
 * messages are the job's refusal.  Its stdout goes to our stderr, so that
 * our stdout holds only the id. */
static int dry_run(char **av, int n)
{
	char **cav = calloc((size_t)n + 3, sizeof(*cav));
	int status;
	pid_t pid;

	if (!cav)
		return EXIT_FAILURE_IO;
	cav[0] = (char *)"labdaq";
	cav[1] = av[0];
	cav[2] = (char *)"--dry-run";
	for (int i = 1; i < n; i++)
		cav[i + 2] = av[i];
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(STDERR_FILENO, STDOUT_FILENO);
		execv("/proc/self/exe", cav);
		msg("queue add: cannot run %s to check the job: %s", "/proc/self/exe",
		    strerror(errno));
		_exit(EXIT_FAILURE_IO);
	}
	free(cav);
	if (pid < 0) {
		msg("queue add: fork: %s", strerror(errno));
		return EXIT_FAILURE_IO;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return EXIT_FAILURE_IO;
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	msg("queue add: the check of the job was killed by signal %d", WTERMSIG(status));
	return EXIT_FAILURE_IO;
}

/* A queued or running job that writes @output already: its id, or 0. */
static long output_taken(const struct queue *q, const char *output)
{
	long *ids, found = 0;
	size_t n;

	if (!output || job_ids(q, &ids, &n))
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		json_t *job = job_get(q, ids[i]);
		const char *st = job_str(job, "state");

		const char *out = job_str(job, "output");

		if (st && !is_final(st) && out && !strcmp(out, output))
			found = ids[i];
		json_decref(job);
	}
	free(ids);
	return found;
}

/* What add refuses in the job's own words: 0 or the usage error. */
static int check_job_words(char **av, int n)
{
	if (n < 1)
		return usage_error(&cmd_queue, "add: what to queue? e.g. labdaq queue add -- "
				   "acquire sim:adc --samples 1M -o run1.npy");
	if (strcmp(av[0], "acquire") && strcmp(av[0], "sweep"))
		return usage_error(&cmd_queue, "add: a job is 'acquire ARGS...' or 'sweep "
				   "ARGS...', not '%s'", av[0]);
	for (int i = 1; i < n && strcmp(av[i], "--"); i++) {
		if (!strcmp(av[i], "--dry-run") || !strcmp(av[i], "--help") ||
		    !strcmp(av[i], "-h"))
			return usage_error(&cmd_queue, "add: a queued job cannot be '%s'", av[i]);
	}
	return 0;
}

/* The new job's file for the command line @av (n words), as queued: 0,
 * or the usage error (an argument that is not UTF-8). */
static int new_job(const char *name, char **av, int n, const char *cwd, const char *device,
		   const char *output, json_t **out)
{
	char host[256] = "", u[64];
	json_t *job, *jargv;
	int ret;

	gethostname(host, sizeof(host) - 1);
	job = json_object();
	jargv = json_array();
	for (int i = 0; i < n; i++) {
		json_t *s = json_string(av[i]);

		if (!s) {
			ret = usage_error(&cmd_queue, "add: argument '%s' is not valid UTF-8",
					  av[i]);
			json_decref(jargv);
			json_decref(job);
			return ret;
		}
		json_array_append_new(jargv, s);
	}
	job_set_str(job, "format", JOB_FORMAT);
	job_set_int(job, "id", 0);
	job_set_str(job, "name", name);
	job_set_str(job, "state", "queued");
	job_set_str(job, "command", av[0]);
	json_object_set_new(job, "argv", jargv);
	job_set_str(job, "cwd", cwd);
	job_set_str(job, "device", device);
	job_set_str(job, "output", output);
	job_set_str(job, "user", user_name(getuid(), u, sizeof(u)));
	job_set_str(job, "host", host);
	job_set_now(job, "created_utc");
	job_set_str(job, "started_utc", NULL);
	job_set_str(job, "ended_utc", NULL);
	json_object_set_new(job, "exit_status", json_null());
	json_object_set_new(job, "signal", json_null());
	json_object_set_new(job, "worker_pid", json_null());
	json_object_set_new(job, "child_pid", json_null());
	job_set_str(job, "log", NULL);
	job_set_str(job, "stop_requested", NULL);
	job_set_str(job, "note", NULL);
	*out = job;
	return 0;
}

/* add's options, up to the job's words (after a "--", if any), which
 * start at argv[optind]: 0 or the usage error. */
static int add_options(int argc, char **argv, const char **name, const char **qdir)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+:n:", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			*name = optarg;
			break;
		case 'Q':
			*qdir = optarg;
			break;
		default:
			return queue_bad_option("add", opt, argv);
		}
	}
	if (optind < argc && !strcmp(argv[optind], "--"))
		optind++;
	return 0;
}

/* The job checked as it would run (from here, by the same binary): 0, also
 * for a device busy now, or the exit status of the check. */
static int check_job_run(char **av, int n)
{
	int ret = dry_run(av, n);

	if (ret == EXIT_BUSY) {
		msg("queue add: the device is busy now; the job is queued all the same, and "
		    "will fail with status 4 if it is still busy when its turn comes");
		return 0;
	}
	if (ret)
		msg("queue add: job refused: nothing was queued");
	return ret;
}

static int add_main(int argc, char **argv, const char *qdir)
{
	const char *name = NULL, *device, *output;
	char *cwd = NULL, *abs_out = NULL, *line = NULL, nb[300];
	json_t *job = NULL;
	struct queue q;
	int n, force, ret;
	char **av;
	long id, other;

	ret = add_options(argc, argv, &name, &qdir);
	if (ret)
		return ret;
	av = argv + optind;
	n = argc - optind;
	ret = check_job_words(av, n);
	if (ret)
		return ret;
	ret = queue_open(&q, qdir, 1, 1);
	if (ret)
		return ret;
	ret = check_job_run(av, n);
	if (ret)
		goto out;
	cwd = getcwd(NULL, 0);
	job_target(av, n, &device, &output, &force);
	abs_out = absolute(cwd, output);
	ret = new_job(name, av, n, cwd, device, abs_out, &job);
	if (ret)
		goto out;
	/* The check and the new file under queue.lock: of two adds with one
	 * output, the second sees the first's job. */
	ret = queue_lock(&q);
	if (ret)
		goto out;
	other = force ? 0 : output_taken(&q, abs_out);
	if (other) {
		ret = usage_error(&cmd_queue, "add: job %ld, still to run, writes '%s' already; "
				  "choose another name (or add --force to replace it)", other,
				  abs_out);
		goto out;
	}
	ret = job_create(&q, job, &id);
	queue_unlock(&q);
	if (ret) {
		ret = queue_access_error(q.dir, -ret, "adding a job");
		goto out;
	}
	join_command(n, av, &line);
	printf("%ld\n", id);
	fflush(stdout);
	msg("queued job %ld%s in %s: %s", id, job_name_of(job, nb, sizeof(nb)), q.dir,
	    line ? line : av[0]);
	ret = EXIT_OK;
out:
	queue_unlock(&q);
	free(line);
	json_decref(job);
	free(abs_out);
	free(cwd);
	queue_close(&q);
	return ret;
}

/* ---- list ---------------------------------------------------------------- */

static const char *exit_text(json_t *job, char *buf, size_t len)
{
	long long st = job_int(job, "exit_status", -1), sig = job_int(job, "signal", 0);

	if (sig > 0) {
		const char *abbrev = sigabbrev_np((int)sig);

		if (abbrev)
			snprintf(buf, len, "SIG%s", abbrev);
		else
			snprintf(buf, len, "sig%lld", sig);
	} else if (st >= 0) {
		snprintf(buf, len, "%lld", st);
	} else {
		snprintf(buf, len, "-");
	}
	return buf;
}

/* The jobs @ids (n of them) that can be read, as a JSON array; the widths
 * of the name and device columns grown to fit them. */
static json_t *load_jobs(const struct queue *q, const long *ids, size_t n, int *wname,
			 int *wdev)
{
	json_t *all = json_array();
	char e[256];

	for (size_t i = 0; i < n; i++) {
		json_t *job;
		int err = job_load(q, ids[i], &job);

		if (err) {
			if (err != -ENOENT)
				msg("queue: job %ld: %s", ids[i],
				    err == -EBADMSG ? "not a job file" : strerror(-err));
			continue;
		}
		json_array_append_new(all, job);
		if (job_str(job, "name") &&
		    (int)strlen(escape_ctl(job_str(job, "name"), e, sizeof(e))) > *wname)
			*wname = (int)strlen(e);
		if (job_str(job, "device") &&
		    (int)strlen(escape_ctl(job_str(job, "device"), e, sizeof(e))) > *wdev)
			*wdev = (int)strlen(e);
	}
	return all;
}

/* The jobs as a table, a line each. */
static void print_table(json_t *all, int wname, int wdev)
{
	size_t i;
	json_t *job;

	printf("%-4s  %-*s  %-11s  %-7s  %-*s  %-14s  %-14s  %-14s  %s\n", "ID", wname,
	       "NAME", "STATE", "EXIT", wdev, "DEVICE", "CREATED", "STARTED", "ENDED",
	       "OUTPUT");
	json_array_foreach(all, i, job) {
		char t1[32], t2[32], t3[32], ex[32], es[64], en[256], ed[256], eo[2048];
		const char *name = job_str(job, "name"), *dev = job_str(job, "device");
		const char *out = job_str(job, "output"), *st = job_str(job, "state");

		/* A job file is anyone's in a shared queue: no raw control
		 * characters to the terminal. */
		printf("%-4lld  %-*s  %-11s  %-7s  %-*s  %-14s  %-14s  %-14s  %s\n",
		       job_int(job, "id", 0), wname, name && *name ? escape_ctl(name, en, sizeof(en)) :
		       "-", st ? escape_ctl(st, es, sizeof(es)) : "?", exit_text(job, ex, sizeof(ex)),
		       wdev, dev ? escape_ctl(dev, ed, sizeof(ed)) : "-",
		       local_time(job_str(job, "created_utc"), t1, sizeof(t1)),
		       local_time(job_str(job, "started_utc"), t2, sizeof(t2)),
		       local_time(job_str(job, "ended_utc"), t3, sizeof(t3)),
		       out ? escape_ctl(out, eo, sizeof(eo)) : "-");
	}
}

/* Under the table: the notes of the jobs that ended (why, what to do). */
static void print_notes(json_t *all)
{
	size_t i;
	json_t *job;

	char e[4096];

	json_array_foreach(all, i, job) {
		if (job_str(job, "note") && is_final(job_str(job, "state")))
			printf("job %lld: %s\n", job_int(job, "id", 0),
			       escape_ctl(job_str(job, "note"), e, sizeof(e)));
	}
}

static int list_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, as_json = 0, ret, wname = 4, wdev = 6;
	json_t *all;
	struct queue q;
	long *ids = NULL;
	size_t n = 0;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'j')
			as_json = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return queue_bad_option("list", opt, argv);
	}
	if (optind < argc)
		return usage_error(&cmd_queue, "list: unexpected argument '%s'", argv[optind]);
	ret = queue_open(&q, qdir, 0, 0);
	if (ret > 0)
		return ret;
	if (!ret)
		ret = job_ids(&q, &ids, &n);
	if (ret < 0 && ret != -ENOENT) {
		ret = queue_access_error(q.dir, -ret, "listing its jobs");
		queue_close(&q);
		return ret;
	}
	all = load_jobs(&q, ids, n, &wname, &wdev);
	free(ids);
	if (as_json) {
		json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	} else {
		print_table(all, wname, wdev);
		print_notes(all);
	}
	fflush(stdout);
	json_decref(all);
	queue_close(&q);
	return ferror(stdout) ? EXIT_FAILURE_IO : EXIT_OK;
}

/* ---- cancel ------------------------------------------------------------ */

static int parse_id(const char *s, long *id)
{
	char *end;

	errno = 0;
	*id = strtol(s, &end, 10);
	return errno || end == s || *end || *id <= 0 ? -EINVAL : 0;
}

/* Cancel the queued @job (queue.lock held, and released here): the exit
 * status. */
static int cancel_queued(struct queue *q, long id, json_t *job, const char *who)
{
	char nb[300], *why;
	int err, ret = EXIT_OK;

	job_set_str(job, "state", "cancelled");
	job_set_now(job, "ended_utc");
	why = str_printf("cancelled by %s before it ran", who);
	job_set_str(job, "note", why);
	err = job_store(q, id, job);
	queue_unlock(q);
	if (err)
		ret = queue_access_error(q->dir, -err, "cancelling a job");
	else
		msg("job %ld%s: cancelled (it had not started)", id,
		    job_name_of(job, nb, sizeof(nb)));
	free(why);
	return ret;
}

/* Cancel the running @job whose worker died (queue.lock held, and released
 * here): nobody else will stop its run or record it.  The exit status. */
static int cancel_orphan(struct queue *q, long id, json_t *job, const char *who)
{
	long long child = job_int(job, "child_pid", 0), cst = job_int(job, "child_start", -1);
	char *why;
	int err;

	if (job_child_proven(q, id, child, cst) && kill((pid_t)child, SIGTERM) == 0)
		wait_gone(child, cst, ORPHAN_STOP_S);
	job_set_str(job, "state", "cancelled");
	job_set_now(job, "ended_utc");
	why = str_printf("cancelled by %s after its worker (pid %lld) had died; its "
			 "file may need: labdaq recover %s", who,
			 job_int(job, "worker_pid", 0),
			 job_str(job, "output") ? job_str(job, "output") : "FILE");
	job_set_str(job, "note", why);
	err = job_store(q, id, job);
	queue_unlock(q);
	msg("job %ld: %s", id, why ? why : "cancelled");
	free(why);
	return err ? queue_access_error(q->dir, -err, "cancelling a job") : EXIT_OK;
}

/* Ask the worker to stop (or abort) the running @job, through its file
 * (queue.lock held, and released here): 0 or the exit status. */
static int request_stop(struct queue *q, long id, json_t *job, const char *who, int abort_it)
{
	char t[64], *why;
	int err;

	utc_now(t, sizeof(t));
	why = str_printf("by %s at %s", who, t);
	job_set_str(job, "stop_requested", why);
	if (abort_it)
		json_object_set_new(job, "abort_requested", json_true());
	free(why);
	err = job_store(q, id, job);
	queue_unlock(q);
	return err ? queue_access_error(q->dir, -err, "cancelling a job") : 0;
}

/* Until the worker records how the job ended: the exit status. */
static int wait_end(const struct queue *q, long id)
{
	char nb[300], ex[32];
	const char *st;
	json_t *job;
	int err;

	for (;;) {
		usleep(100000);
		err = job_load(q, id, &job);
		if (err) {
			msg("job %ld: its file is gone or unreadable (%s); cannot tell how it ended",
			    id, strerror(-err));
			return EXIT_FAILURE_IO;
		}
		st = job_str(job, "state");
		if (st && is_final(st)) {
			msg("job %ld%s: %s (exit status %s)", id, job_name_of(job, nb, sizeof(nb)),
			    st, exit_text(job, ex, sizeof(ex)));
			json_decref(job);
			return EXIT_OK;
		}
		if (job && !worker_lock_held(q)) {
			msg("job %ld: its worker (pid %lld) ended before recording it; the next "
			    "worker will mark it interrupted", id, job_int(job, "worker_pid", 0));
			json_decref(job);
			return EXIT_FAILURE_IO;
		}
		json_decref(job);
	}
}

static int cancel_one(struct queue *q, long id, int wait, int abort_it)
{
	char who[64], nb[300];
	const char *st;
	int err, ret, asked = 0;
	json_t *job;

	ret = queue_lock(q);
	if (ret)
		return ret;
	err = job_load(q, id, &job);
	if (err) {
		queue_unlock(q);
		if (err == -ENOENT)
			return usage_error(&cmd_queue, "cancel: no job %ld in the queue %s", id,
					   q->dir);
		return queue_access_error(q->dir, -err, "reading a job");
	}
	st = job_str(job, "state") ? job_str(job, "state") : "?";
	user_name(getuid(), who, sizeof(who));
	if (!strcmp(st, "queued")) {
		ret = cancel_queued(q, id, job, who);
	} else if (strcmp(st, "running")) {
		queue_unlock(q);
		msg("job %ld%s has already ended (%s): nothing to cancel", id,
		    job_name_of(job, nb, sizeof(nb)), st);
		ret = EXIT_FAILURE_IO;
	} else if (!worker_lock_held(q)) {
		ret = cancel_orphan(q, id, job, who);
	} else {
		ret = request_stop(q, id, job, who, abort_it);
		asked = !ret;
	}
	json_decref(job);
	if (!asked)
		return ret;
	if (!wait) {
		msg("job %ld: %s requested; its worker will stop it", id,
		    abort_it ? "abort" : "stop");
		return EXIT_OK;
	}
	return wait_end(q, id);
}

static int cancel_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "no-wait", no_argument, NULL, 'W' },
		{ "abort", no_argument, NULL, 'A' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, wait = 1, abort_it = 0, ret, status = EXIT_OK;
	struct queue q;
	long id;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		if (opt == 'W')
			wait = 0;
		else if (opt == 'A')
			abort_it = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return queue_bad_option("cancel", opt, argv);
	}
	if (optind >= argc)
		return usage_error(&cmd_queue, "cancel: which job? give its ID ('labdaq queue "
				   "list' shows them)");
	for (int i = optind; i < argc; i++)
		if (parse_id(argv[i], &id))
			return usage_error(&cmd_queue, "cancel: bad job ID '%s'", argv[i]);
	ret = queue_open(&q, qdir, 0, 1);
	if (ret == -ENOENT) {
		char *p;
		int shared;

		p = queue_path(qdir, &shared);
		ret = usage_error(&cmd_queue, "cancel: no queue at %s", p ? p : "?");
		free(p);
		return ret;
	}
	if (ret)
		return ret;
	for (int i = optind; i < argc; i++) {
		parse_id(argv[i], &id);
		ret = cancel_one(&q, id, wait, abort_it);
		if (ret > status)
			status = ret;
	}
	queue_close(&q);
	return status;
}

/* ---- log --------------------------------------------------------------- */

static int copy_out(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
			return -EIO;
	fflush(stdout);
	return n < 0 ? -errno : 0;
}

/* Print the job's log; with @follow, until the job ends (*@job is re-read
 * meanwhile, NULL if it can no longer be).  The exit status. */
static int show_log(const struct queue *q, long id, json_t **job, int follow)
{
	char name[32], nb[300];
	int fd = -1, ret = EXIT_OK;

	job_file(id, "log", name, sizeof(name));
	for (;;) {
		const char *st = job_str(*job, "state");
		int ended = !st || is_final(st);

		if (fd < 0) {
			fd = openat(q->jfd, name, O_RDONLY | O_CLOEXEC);
			if (fd < 0 && errno != ENOENT) {
				ret = queue_access_error(q->dir, errno, "reading a job's log");
				break;
			}
		}
		if (fd >= 0 && copy_out(fd)) {
			ret = EXIT_FAILURE_IO;
			break;
		}
		if (!follow || ended) {
			if (fd < 0)
				msg("job %ld%s has no log: it has not run (%s)", id,
				    job_name_of(*job, nb, sizeof(nb)), st ? st : "?");
			break;
		}
		usleep(200000);
		json_decref(*job);
		*job = job_get(q, id);
		if (!*job)
			break;
	}
	if (fd >= 0)
		close(fd);
	return ret;
}

static int log_main(int argc, char **argv, const char *qdir)
{
	static const struct option opts[] = {
		{ "follow", no_argument, NULL, 'f' },
		{ "queue", required_argument, NULL, 'Q' },
		{ NULL, 0, NULL, 0 },
	};
	int opt, follow = 0, ret, err;
	struct queue q;
	json_t *job;
	long id;

	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":f", opts, NULL)) != -1) {
		if (opt == 'f')
			follow = 1;
		else if (opt == 'Q')
			qdir = optarg;
		else
			return queue_bad_option("log", opt, argv);
	}
	if (optind != argc - 1)
		return usage_error(&cmd_queue, "log: give one job ID");
	if (parse_id(argv[optind], &id))
		return usage_error(&cmd_queue, "log: bad job ID '%s'", argv[optind]);
	ret = queue_open(&q, qdir, 0, 0);
	if (ret > 0)
		return ret;
	err = job_load(&q, id, &job);
	if (err) {
		if (err == -ENOENT)
			ret = usage_error(&cmd_queue, "log: no job %ld in the queue %s", id,
					  q.dir ? q.dir : "(none)");
		else
			ret = queue_access_error(q.dir, -err, "reading a job");
		queue_close(&q);
		return ret;
	}
	ret = show_log(&q, id, &job, follow);
	json_decref(job);
	queue_close(&q);
	return ret;
}

/* ---- the command --------------------------------------------------------- */

static int queue_main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*main)(int argc, char **argv, const char *qdir);
	} subs[] = {
		{ "add", add_main }, { "list", list_main }, { "ls", list_main },
		{ "cancel", cancel_main }, { "log", log_main }, { "run", queue_run },
	};
	const char *qdir = NULL;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--queue")) {
			if (i + 1 >= argc)
				return usage_error(&cmd_queue, "option '--queue' needs a value");
			qdir = argv[++i];
		} else if (!strncmp(argv[i], "--queue=", 8)) {
			qdir = argv[i] + 8;
		} else {
			return usage_error(&cmd_queue, "unknown option '%s'", argv[i]);
		}
		i++;
	}
	if (i >= argc)
		return usage_error(&cmd_queue, "say what to do: add, list, cancel, log or run");
	for (size_t k = 0; k < sizeof(subs) / sizeof(subs[0]); k++)
		if (!strcmp(argv[i], subs[k].name))
			return subs[k].main(argc - i, argv + i, qdir);
	return usage_error(&cmd_queue, "no subcommand '%s': add, list, cancel, log or run",
			   argv[i]);
}

const struct command cmd_queue = {
	.name = "queue",
	.main = queue_main,
	.summary = "a durable queue of acquire/sweep jobs and its worker",
	.usage = queue_usage,
};
