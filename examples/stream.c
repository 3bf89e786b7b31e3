// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * stream.c - the smallest complete use of liblabdaq: stream a device into a
 * .npy file without blocking, show progress and the newest value, stop on
 * time, and report how the run ended.
 *
 *   cc stream.c $(pkg-config --cflags --libs labdaq) -o stream
 *   ./stream 'sim:adc?channels=2' out.npy
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <labdaq.h>

static void log_cb(int level, const char *msg, void *user)
{
	fprintf(stderr, "liblabdaq: %s\n", msg);
}

int main(int argc, char **argv)
{
	labdaq_run_config *cfg;
	struct labdaq_progress p;
	labdaq_device *dev;
	labdaq_run *run;
	int16_t latest[64];
	int ret;

	if (argc != 3) {
		fprintf(stderr, "usage: %s DEVICE FILE.npy\n", argv[0]);
		return 2;
	}
	labdaq_set_log(log_cb, LABDAQ_LOG_WARNING, NULL);
	ret = labdaq_device_open(argv[1], &dev);
	if (ret) {
		fprintf(stderr, "%s: %s\n", argv[1], labdaq_strerror(ret));
		return 1;
	}
	/* The configuration: an object with setters, so that it can grow. */
	ret = labdaq_run_config_new(&cfg);
	if (!ret)
		ret = labdaq_run_config_set_path(cfg, argv[2]);
	if (!ret)
		ret = labdaq_run_config_set_rate_hz(cfg, 1000);
	if (!ret)
		ret = labdaq_run_config_set_count(cfg, 2000);
	if (!ret)
		ret = labdaq_run_config_set_ring_bytes(cfg, 1 << 20);
	if (!ret)
		ret = labdaq_run_start(dev, cfg, &run);
	labdaq_run_config_free(cfg); /* the run keeps its own copy */
	if (ret) {
		fprintf(stderr, "start: %s\n", labdaq_last_error() ? labdaq_last_error() :
			labdaq_strerror(ret));
		labdaq_device_close(dev);
		return 1;
	}
	/* The caller is free: poll, draw, talk to other instruments... */
	while (labdaq_run_wait(run, 200) == -ETIMEDOUT) {
		labdaq_run_progress(run, &p);
		if (labdaq_run_latest(run, latest, sizeof(latest), NULL, NULL) > 0)
			printf("%llu/%llu items, newest first value %d\n",
			       (unsigned long long)p.acquired, (unsigned long long)p.target,
			       latest[0]);
	}
	labdaq_run_progress(run, &p);
	printf("%s: %llu written, %llu dropped\n", labdaq_state_name(p.state),
	       (unsigned long long)p.written, (unsigned long long)p.dropped);
	ret = p.state == LABDAQ_STATE_COMPLETE ? 0 : 1;
	labdaq_run_free(run);
	labdaq_device_close(dev);
	return ret;
}
