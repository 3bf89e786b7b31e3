/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * comedi_dl.h - comedilib loaded at its first use, not with liblabdaq.
 *
 * Loading comedilib at the start of every program that links liblabdaq
 * costs part of the fixed cost of a short run (BENCHMARKS.md, "Point 4"),
 * though most programs never open a comedi board.  So comedi.c calls
 * comedilib through the pointers below, which ldq_comedi_load() fills with
 * dlopen()/dlsym() the first time a comedi: device is opened or listed, or
 * comedilib's version asked for, as iio_dl.h does for libiio.  Only
 * comedi.c includes this header; after it, a call of comedi_foo() in
 * comedi.c is a call through ldq_comedi_.comedi_foo_p, and a comedilib
 * function used without a line here fails the link (liblabdaq is linked
 * with -z defs, without -lcomedi).
 */
#ifndef LDQ_COMEDI_DL_H
#define LDQ_COMEDI_DL_H

#include <comedilib.h>

/* comedilib 0.x's run-time name (Debian's libcomedi0). */
#define LDQ_COMEDI_SONAME "libcomedi.so.0"

/* Every comedilib function comedi.c calls. */
#define LDQ_COMEDI_SYMS(X) \
	X(comedi_cancel) \
	X(comedi_cleanup_calibration) \
	X(comedi_close) \
	X(comedi_command) \
	X(comedi_command_test) \
	X(comedi_data_read) \
	X(comedi_data_write) \
	X(comedi_errno) \
	X(comedi_fileno) \
	X(comedi_get_board_name) \
	X(comedi_get_buffer_size) \
	X(comedi_get_cmd_generic_timed) \
	X(comedi_get_cmd_src_mask) \
	X(comedi_get_default_calibration_path) \
	X(comedi_get_driver_name) \
	X(comedi_get_hardcal_converter) \
	X(comedi_get_max_buffer_size) \
	X(comedi_get_maxdata) \
	X(comedi_get_n_channels) \
	X(comedi_get_n_ranges) \
	X(comedi_get_n_subdevices) \
	X(comedi_get_range) \
	X(comedi_get_softcal_converter) \
	X(comedi_get_subdevice_flags) \
	X(comedi_get_subdevice_type) \
	X(comedi_open) \
	X(comedi_parse_calibration_file) \
	X(comedi_set_buffer_size) \
	X(comedi_set_read_subdevice) \
	X(comedi_strerror)

struct ldq_comedi_syms {
#define LDQ_COMEDI_MEMBER(f) __typeof__(f) *f##_p;
	LDQ_COMEDI_SYMS(LDQ_COMEDI_MEMBER)
#undef LDQ_COMEDI_MEMBER
};

/* From here on, comedi_foo names the pointer's target. */
#define comedi_cancel (*ldq_comedi_.comedi_cancel_p)
#define comedi_cleanup_calibration (*ldq_comedi_.comedi_cleanup_calibration_p)
#define comedi_close (*ldq_comedi_.comedi_close_p)
#define comedi_command (*ldq_comedi_.comedi_command_p)
#define comedi_command_test (*ldq_comedi_.comedi_command_test_p)
#define comedi_data_read (*ldq_comedi_.comedi_data_read_p)
#define comedi_data_write (*ldq_comedi_.comedi_data_write_p)
#define comedi_errno (*ldq_comedi_.comedi_errno_p)
#define comedi_fileno (*ldq_comedi_.comedi_fileno_p)
#define comedi_get_board_name (*ldq_comedi_.comedi_get_board_name_p)
#define comedi_get_buffer_size (*ldq_comedi_.comedi_get_buffer_size_p)
#define comedi_get_cmd_generic_timed (*ldq_comedi_.comedi_get_cmd_generic_timed_p)
#define comedi_get_cmd_src_mask (*ldq_comedi_.comedi_get_cmd_src_mask_p)
#define comedi_get_default_calibration_path (*ldq_comedi_.comedi_get_default_calibration_path_p)
#define comedi_get_driver_name (*ldq_comedi_.comedi_get_driver_name_p)
#define comedi_get_hardcal_converter (*ldq_comedi_.comedi_get_hardcal_converter_p)
#define comedi_get_max_buffer_size (*ldq_comedi_.comedi_get_max_buffer_size_p)
#define comedi_get_maxdata (*ldq_comedi_.comedi_get_maxdata_p)
#define comedi_get_n_channels (*ldq_comedi_.comedi_get_n_channels_p)
#define comedi_get_n_ranges (*ldq_comedi_.comedi_get_n_ranges_p)
#define comedi_get_n_subdevices (*ldq_comedi_.comedi_get_n_subdevices_p)
#define comedi_get_range (*ldq_comedi_.comedi_get_range_p)
#define comedi_get_softcal_converter (*ldq_comedi_.comedi_get_softcal_converter_p)
#define comedi_get_subdevice_flags (*ldq_comedi_.comedi_get_subdevice_flags_p)
#define comedi_get_subdevice_type (*ldq_comedi_.comedi_get_subdevice_type_p)
#define comedi_open (*ldq_comedi_.comedi_open_p)
#define comedi_parse_calibration_file (*ldq_comedi_.comedi_parse_calibration_file_p)
#define comedi_set_buffer_size (*ldq_comedi_.comedi_set_buffer_size_p)
#define comedi_set_read_subdevice (*ldq_comedi_.comedi_set_read_subdevice_p)
#define comedi_strerror (*ldq_comedi_.comedi_strerror_p)

#endif
