// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * comedi_loop.c - the minimal comedi streaming program labdaq is compared
 * with (bench.py, section 7, in the VM against comedi_test): one timed
 * command on subdevice 0, read() in a loop into one buffer, written to a
 * file as it comes, made durable as labdaq makes its file: fdatasync()
 * once a second (labdaq's checkpoint) and at the end.  No ring, no
 * threads, no metadata: the floor of what a stream costs.
 *
 *   comedi_loop DEVICE RATE_HZ NCHANS SECONDS OUTFILE [BUFFER_BYTES]
 *
 * Prints "samples N seconds S overflow 0|1" and exits 0, or 1 on an
 * overflow (read() fails with EPIPE) or an error.
 */
#include <comedilib.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static unsigned char buf[1 << 16];
	unsigned int chans[32];
	unsigned long long bytes = 0, want;
	comedi_cmd cmd;
	comedi_t *dev;
	double rate, secs, t0, next_sync;
	int n, fd, overflow = 0;

	if (argc < 6) {
		fprintf(stderr, "usage: comedi_loop DEVICE RATE NCHANS SECONDS OUTFILE [BUFFER]\n");
		return 2;
	}
	rate = strtod(argv[2], NULL);
	n = atoi(argv[3]);
	secs = strtod(argv[4], NULL);
	if (n < 1 || n > 32 || !(rate > 0) || !(secs > 0))
		return 2;
	dev = comedi_open(argv[1]);
	if (!dev) {
		comedi_perror(argv[1]);
		return 1;
	}
	if (argc > 6 && comedi_set_buffer_size(dev, 0, (unsigned int)atoi(argv[6])) < 0)
		comedi_perror("comedi_set_buffer_size");
	for (int i = 0; i < n; i++)
		chans[i] = CR_PACK(i, 0, AREF_GROUND);
	memset(&cmd, 0, sizeof(cmd));
	cmd.subdev = 0;
	cmd.start_src = TRIG_NOW;
	cmd.scan_begin_src = TRIG_TIMER;
	cmd.scan_begin_arg = (unsigned int)(1e9 / rate + 0.5);
	cmd.convert_src = TRIG_NOW;
	cmd.scan_end_src = TRIG_COUNT;
	cmd.scan_end_arg = (unsigned int)n;
	cmd.stop_src = TRIG_NONE;
	cmd.chanlist = chans;
	cmd.chanlist_len = (unsigned int)n;
	for (int pass = 0; pass < 6 && comedi_command_test(dev, &cmd) > 0; pass++)
		;
	fd = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || comedi_command(dev, &cmd) < 0) {
		perror(fd < 0 ? argv[5] : "comedi_command");
		return 1;
	}
	want = (unsigned long long)(secs * 1e9 / cmd.scan_begin_arg) * 2u * (unsigned int)n;
	t0 = now_s();
	next_sync = t0 + 1;
	while (bytes < want) {
		ssize_t r = read(comedi_fileno(dev), buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			overflow = r < 0 && errno == EPIPE;
			if (!overflow)
				perror("read");
			break;
		}
		if (write(fd, buf, (size_t)r) != r) {
			perror("write");
			break;
		}
		bytes += (unsigned long long)r;
		if (now_s() >= next_sync) {
			fdatasync(fd);
			next_sync += 1;
		}
	}
	comedi_cancel(dev, 0);
	if (fdatasync(fd))
		perror("fdatasync");
	close(fd);
	comedi_close(dev);
	printf("samples %llu seconds %.3f overflow %d\n", bytes / 2 / (unsigned int)n,
	       now_s() - t0, overflow);
	return overflow || bytes < want;
}
