// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * labdaq.c - the labdaq command: dispatch to the subcommands.
 */
#include <stdio.h>
#include <string.h>

#include "common.h"

static const struct command *const commands[] = {
	&cmd_acquire, &cmd_sweep, &cmd_stop, &cmd_queue, &cmd_list, &cmd_info, &cmd_attr,
	&cmd_inspect, &cmd_recover,
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: labdaq [-v] COMMAND [ARGS...]   (-v, verbose, may also follow COMMAND)\n"
		"       labdaq help COMMAND | labdaq COMMAND --help | labdaq --version\n"
		"\n"
		"Acquire data from DAQ devices into NumPy files, without blocking, with\n"
		"progress, a clean stop and bounded memory.\n"
		"\n"
		"Commands:\n");
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nDevices, by backend (built into this liblabdaq; 'labdaq list' shows them):\n");
	for (unsigned int i = 0; i < labdaq_backend_count(); i++)
		fprintf(f, "  %-7s %s\n", labdaq_backend_name(i), labdaq_backend_help(i));
	fprintf(f,
		"\n"
		"Exit status: 0 success; 1 device or I/O failure; 2 bad usage; 3 finished\n"
		"but data was dropped; 4 device busy; 5 nothing to stop (stop); 130\n"
		"aborted (each command's --help has its own list).\n"
		"The manual: man labdaq (or man ./man/labdaq.1 in the source tree).\n");
}

/* The command's version, then the library's and each backend's library. */
static void print_version(void)
{
	char buf[256];

	printf("labdaq %d.%d.%d\n", LABDAQ_VERSION_MAJOR, LABDAQ_VERSION_MINOR,
	       LABDAQ_VERSION_PATCH);
	printf("liblabdaq %s\n", labdaq_version());
	for (unsigned int i = 0; i < labdaq_backend_count(); i++) {
		if (labdaq_backend_version(i, buf, sizeof(buf)) < 0)
			snprintf(buf, sizeof(buf), "unknown");
		printf("  %-7s %s\n", labdaq_backend_name(i), buf);
	}
}

/* The global -v is taken after the command too (from @from, up to a
 * "--"): removed from @argv; returns the new argc. */
static int take_verbose(int argc, char **argv, int from)
{
	for (int j = from; j < argc && strcmp(argv[j], "--"); j++) {
		if (strcmp(argv[j], "-v") && strcmp(argv[j], "--verbose"))
			continue;
		verbose = 1;
		memmove(&argv[j], &argv[j + 1], (size_t)(argc - j) * sizeof(*argv));
		argc--;
		j--;
	}
	return argc;
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

/* labdaq help [COMMAND]: the usage, or COMMAND's help. */
static int help_command(const char *name)
{
	const struct command *cmd;

	if (!name) {
		usage(stdout);
		return EXIT_OK;
	}
	cmd = find(name);
	if (!cmd) {
		fprintf(stderr, "labdaq: no command '%s'; 'labdaq help' lists them\n", name);
		return EXIT_USAGE;
	}
	print_help(cmd, stdout);
	return EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct command *cmd;
	int i = 1;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose")) {
			verbose = 1;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return EXIT_OK;
		} else if (!strcmp(argv[i], "--version")) {
			print_version();
			return EXIT_OK;
		} else {
			fprintf(stderr, "labdaq: unknown option '%s'\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
		i++;
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[i], "help"))
		return help_command(i + 1 < argc ? argv[i + 1] : NULL);
	cmd = find(argv[i]);
	if (!cmd) {
		fprintf(stderr, "labdaq: no command '%s'; 'labdaq help' lists them\n", argv[i]);
		return EXIT_USAGE;
	}
	argc = take_verbose(argc, argv, i + 1);
	setup_log();
	for (int j = i + 1; j < argc && strcmp(argv[j], "--"); j++) {
		if (!strcmp(argv[j], "--help") || !strcmp(argv[j], "-h")) {
			print_help(cmd, stdout);
			return EXIT_OK;
		}
	}
	if (cmd == &cmd_acquire || cmd == &cmd_sweep) {
		int status;

		json_mode = json_scan_args(argc - i, argv + i);
		if (json_mode)
			json_relay_start();
		status = cmd->main(argc - i, argv + i);
		json_final_not_run(cmd == &cmd_sweep ? "sweep" : "stream", status);
		json_relay_end();
		return status;
	}
	return cmd->main(argc - i, argv + i);
}
