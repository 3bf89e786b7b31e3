/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * iio_dl.h - libiio loaded at its first use, not with liblabdaq.
 *
 * libiio 0.24 brings libxml2, ICU, avahi, D-Bus, libusb and systemd's
 * libraries with it: loading them at the start of every program that links
 * liblabdaq costs about 2 ms (BENCHMARKS.md, "Fixed cost of a short run"),
 * more than the rest of a one-frame run.  So iio.c calls libiio through the
 * pointers below, which ldq_iio_load() fills with dlopen()/dlsym() the
 * first time an iio: device is opened, listed or its library version
 * asked for.  Only iio.c includes this header; after it, a call of
 * iio_foo() in iio.c is a call through ldq_iio_.iio_foo_p.
 */
#ifndef LDQ_IIO_DL_H
#define LDQ_IIO_DL_H

#include <iio.h>

/* libiio 0.x's run-time name (Debian's libiio0). */
#define LDQ_IIO_SONAME "libiio.so.0"

/* Every libiio function iio.c calls. */
#define LDQ_IIO_SYMS(X) \
	X(iio_buffer_cancel) \
	X(iio_buffer_destroy) \
	X(iio_buffer_first) \
	X(iio_buffer_refill) \
	X(iio_buffer_step) \
	X(iio_channel_attr_get_filename) \
	X(iio_channel_attr_read) \
	X(iio_channel_attr_read_double) \
	X(iio_channel_attr_read_longlong) \
	X(iio_channel_attr_write) \
	X(iio_channel_attr_write_longlong) \
	X(iio_channel_convert) \
	X(iio_channel_disable) \
	X(iio_channel_enable) \
	X(iio_channel_find_attr) \
	X(iio_channel_get_attr) \
	X(iio_channel_get_attrs_count) \
	X(iio_channel_get_data_format) \
	X(iio_channel_get_id) \
	X(iio_channel_get_type) \
	X(iio_channel_is_output) \
	X(iio_channel_is_scan_element) \
	X(iio_context_destroy) \
	X(iio_context_find_device) \
	X(iio_context_get_device) \
	X(iio_context_get_devices_count) \
	X(iio_context_set_timeout) \
	X(iio_create_context_from_uri) \
	X(iio_create_local_context) \
	X(iio_device_attr_read) \
	X(iio_device_attr_read_double) \
	X(iio_device_attr_read_longlong) \
	X(iio_device_attr_write) \
	X(iio_device_attr_write_longlong) \
	X(iio_device_create_buffer) \
	X(iio_device_find_attr) \
	X(iio_device_get_attr) \
	X(iio_device_get_attrs_count) \
	X(iio_device_get_buffer_attrs_count) \
	X(iio_device_get_channel) \
	X(iio_device_get_channels_count) \
	X(iio_device_get_id) \
	X(iio_device_get_name) \
	X(iio_device_get_sample_size) \
	X(iio_device_is_trigger) \
	X(iio_device_set_kernel_buffers_count) \
	X(iio_library_get_version)

struct ldq_iio_syms {
#define LDQ_IIO_MEMBER(f) __typeof__(f) *f##_p;
	LDQ_IIO_SYMS(LDQ_IIO_MEMBER)
#undef LDQ_IIO_MEMBER
};

/* From here on, iio_foo names the pointer's target. */
#define iio_buffer_cancel (*ldq_iio_.iio_buffer_cancel_p)
#define iio_buffer_destroy (*ldq_iio_.iio_buffer_destroy_p)
#define iio_buffer_first (*ldq_iio_.iio_buffer_first_p)
#define iio_buffer_refill (*ldq_iio_.iio_buffer_refill_p)
#define iio_buffer_step (*ldq_iio_.iio_buffer_step_p)
#define iio_channel_attr_get_filename (*ldq_iio_.iio_channel_attr_get_filename_p)
#define iio_channel_attr_read (*ldq_iio_.iio_channel_attr_read_p)
#define iio_channel_attr_read_double (*ldq_iio_.iio_channel_attr_read_double_p)
#define iio_channel_attr_read_longlong (*ldq_iio_.iio_channel_attr_read_longlong_p)
#define iio_channel_attr_write (*ldq_iio_.iio_channel_attr_write_p)
#define iio_channel_attr_write_longlong (*ldq_iio_.iio_channel_attr_write_longlong_p)
#define iio_channel_convert (*ldq_iio_.iio_channel_convert_p)
#define iio_channel_disable (*ldq_iio_.iio_channel_disable_p)
#define iio_channel_enable (*ldq_iio_.iio_channel_enable_p)
#define iio_channel_find_attr (*ldq_iio_.iio_channel_find_attr_p)
#define iio_channel_get_attr (*ldq_iio_.iio_channel_get_attr_p)
#define iio_channel_get_attrs_count (*ldq_iio_.iio_channel_get_attrs_count_p)
#define iio_channel_get_data_format (*ldq_iio_.iio_channel_get_data_format_p)
#define iio_channel_get_id (*ldq_iio_.iio_channel_get_id_p)
#define iio_channel_get_type (*ldq_iio_.iio_channel_get_type_p)
#define iio_channel_is_output (*ldq_iio_.iio_channel_is_output_p)
#define iio_channel_is_scan_element (*ldq_iio_.iio_channel_is_scan_element_p)
#define iio_context_destroy (*ldq_iio_.iio_context_destroy_p)
#define iio_context_find_device (*ldq_iio_.iio_context_find_device_p)
#define iio_context_get_device (*ldq_iio_.iio_context_get_device_p)
#define iio_context_get_devices_count (*ldq_iio_.iio_context_get_devices_count_p)
#define iio_context_set_timeout (*ldq_iio_.iio_context_set_timeout_p)
#define iio_create_context_from_uri (*ldq_iio_.iio_create_context_from_uri_p)
#define iio_create_local_context (*ldq_iio_.iio_create_local_context_p)
#define iio_device_attr_read (*ldq_iio_.iio_device_attr_read_p)
#define iio_device_attr_read_double (*ldq_iio_.iio_device_attr_read_double_p)
#define iio_device_attr_read_longlong (*ldq_iio_.iio_device_attr_read_longlong_p)
#define iio_device_attr_write (*ldq_iio_.iio_device_attr_write_p)
#define iio_device_attr_write_longlong (*ldq_iio_.iio_device_attr_write_longlong_p)
#define iio_device_create_buffer (*ldq_iio_.iio_device_create_buffer_p)
#define iio_device_find_attr (*ldq_iio_.iio_device_find_attr_p)
#define iio_device_get_attr (*ldq_iio_.iio_device_get_attr_p)
#define iio_device_get_attrs_count (*ldq_iio_.iio_device_get_attrs_count_p)
#define iio_device_get_buffer_attrs_count (*ldq_iio_.iio_device_get_buffer_attrs_count_p)
#define iio_device_get_channel (*ldq_iio_.iio_device_get_channel_p)
#define iio_device_get_channels_count (*ldq_iio_.iio_device_get_channels_count_p)
#define iio_device_get_id (*ldq_iio_.iio_device_get_id_p)
#define iio_device_get_name (*ldq_iio_.iio_device_get_name_p)
#define iio_device_get_sample_size (*ldq_iio_.iio_device_get_sample_size_p)
#define iio_device_is_trigger (*ldq_iio_.iio_device_is_trigger_p)
#define iio_device_set_kernel_buffers_count (*ldq_iio_.iio_device_set_kernel_buffers_count_p)
#define iio_library_get_version (*ldq_iio_.iio_library_get_version_p)

#endif
