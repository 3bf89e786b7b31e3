// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * devices.c - labdaq list and labdaq info.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common.h"

static const char list_usage[] =
	"Usage: labdaq list\n"
	"\n"
	"List the devices every built-in backend can see, one per line: the URI to\n"
	"give to the other commands, then a description.\n"
	"\n"
	"Exit status: 0 success; 1 a backend failed; 2 bad usage.\n";

static const char info_usage[] =
	"Usage: labdaq info DEVICE\n"
	"\n"
	"Describe DEVICE: its backend, whether it streams samples or frames, the\n"
	"frame shape, every channel with its direction, unit, scale, type and\n"
	"offset when it has one (physical value = (raw + offset) x scale), and the\n"
	"device's attributes with their values and, where the device says, what\n"
	"they take (labdaq attr sets them).\n"
	"\n"
	"Exit status: 0 success; 1 device failure; 2 bad usage or unknown device.\n";

static const char attr_usage[] =
	"Usage: labdaq attr DEVICE [NAME [VALUE]]\n"
	"\n"
	"List DEVICE's attributes with their values (and, where the device says,\n"
	"what they take), print one (NAME), or set one (NAME VALUE; the value read\n"
	"back is printed).  IIO devices: the device's and its channels' attributes\n"
	"by their sysfs names (sampling_frequency, in_voltage0_scale); the sim\n"
	"devices: their parameters (sim:ohm: r, noise, out_voltage0), which live as\n"
	"long as the process (acquire and sweep take --attr NAME=VALUE).\n"
	"\n"
	"Exit status: 0 success; 1 device failure; 2 bad usage, no such attribute,\n"
	"or a value the device refuses.\n";

/* One attribute: "  NAME  VALUE  (takes AVAILABLE)". */
static int print_attr(const struct labdaq_attr *a, void *user)
{
	const char *indent = user;

	printf("%s%-28s %s", indent, a->name, a->value ? a->value : "(unreadable)");
	if (a->available)
		printf("   (takes %s)", a->available);
	putchar('\n');
	return 0;
}

static int attr_status(int ret)
{
	return ret == -ENOENT || ret == -EINVAL || ret == -ERANGE || ret == -EOPNOTSUPP ?
		       EXIT_USAGE : EXIT_FAILURE_IO;
}

static int attr_main(int argc, char **argv)
{
	labdaq_device *dev;
	char value[4097];
	int ret, status = EXIT_OK;

	if (argc < 2)
		return usage_error(&cmd_attr, "no DEVICE given (see 'labdaq list')");
	if (argc > 4)
		return usage_error(&cmd_attr, "unexpected argument '%s'", argv[4]);
	ret = open_device(argv[1], &dev);
	if (ret)
		return ret;
	if (argc == 2)
		ret = labdaq_device_attrs(dev, print_attr, "");
	else if (argc == 4)
		ret = labdaq_device_attr_write(dev, argv[2], argv[3]);
	else
		ret = 0;
	if (ret >= 0 && argc > 2)
		ret = labdaq_device_attr_read(dev, argv[2], value, sizeof(value));
	if (ret >= 0 && argc > 2)
		printf("%s\n", value);
	if (ret < 0) {
		/* The library logged why. */
		status = attr_status(ret);
	}
	labdaq_device_close(dev);
	return status;
}

static int print_one(const char *uri, const char *description, void *user)
{
	printf("%-32s %s\n", uri, description);
	return 0;
}

static int list_main(int argc, char **argv)
{
	int n;

	if (argc > 1)
		return usage_error(&cmd_list, "unexpected argument '%s'", argv[1]);
	n = labdaq_list(print_one, NULL);
	if (n < 0) {
		msg("listing devices: %s", labdaq_strerror(n));
		return EXIT_FAILURE_IO;
	}
	return EXIT_OK;
}

static int info_main(int argc, char **argv)
{
	labdaq_device *dev;
	uint32_t w, h;
	double offset;
	int ret;

	if (argc < 2)
		return usage_error(&cmd_info, "no DEVICE given (see 'labdaq list')");
	if (argc > 2)
		return usage_error(&cmd_info, "unexpected argument '%s'", argv[2]);
	ret = open_device(argv[1], &dev);
	if (ret)
		return ret;
	printf("device:      %s\n", labdaq_device_uri(dev));
	printf("description: %s\n", labdaq_device_description(dev));
	printf("backend:     %s\n", labdaq_device_backend(dev));
	if (!labdaq_device_frame_shape(dev, &w, &h))
		printf("streams:     frames of %u x %u (width x height)\n", w, h);
	else
		printf("streams:     samples\n");
	printf("channels:    %u\n", labdaq_device_channel_count(dev));
	if (labdaq_device_channel_count(dev))
		printf("  %-12s %-6s %-5s %-14s %s\n", "name", "dir", "unit", "scale", "type");
	for (unsigned int i = 0; i < labdaq_device_channel_count(dev); i++) {
		struct labdaq_channel ch;

		labdaq_device_channel(dev, i, &ch);
		printf("  %-12s %-6s %-5s %-14.9g %s", ch.name, ch.output ? "output" : "input",
		       *ch.unit ? ch.unit : "-", ch.scale, labdaq_dtype_numpy(ch.dtype));
		if (!isnan(ch.min))
			printf("  range %g..%g", ch.min, ch.max);
		if (!labdaq_device_channel_offset(dev, i, &offset) && offset != 0)
			printf("  offset %g: value = (raw + offset) x scale", offset);
		putchar('\n');
	}
	printf("attributes:\n");
	if (labdaq_device_attrs(dev, print_attr, "  ") <= 0)
		printf("  (none)\n");
	labdaq_device_close(dev);
	return EXIT_OK;
}

const struct command cmd_list = {
	.name = "list",
	.main = list_main,
	.summary = "list the devices labdaq can see",
	.usage = list_usage,
};

const struct command cmd_attr = {
	.name = "attr",
	.main = attr_main,
	.summary = "list, read or set a device's attributes",
	.usage = attr_usage,
};

const struct command cmd_info = {
	.name = "info",
	.main = info_main,
	.summary = "describe a device and its channels",
	.usage = info_usage,
};
