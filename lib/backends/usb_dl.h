/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * usb_dl.h - libusb-1.0 loaded at its first use, not with liblabdaq.
 *
 * libusb brings libudev with it: loading both at the start of every
 * program that links liblabdaq costs part of the fixed cost of a short
 * run (BENCHMARKS.md, "Point 4"), though most programs never open a USB
 * device.  So usb.c calls libusb through the pointers below, which
 * ldq_usb_load() fills with dlopen()/dlsym() the first time a usb: device
 * is opened or listed, or libusb's version asked for, as iio_dl.h does for
 * libiio.  Only usb.c includes this header; after it, a call of
 * libusb_foo() in usb.c is a call through ldq_usb_.libusb_foo_p, and a
 * libusb function used without a line here fails the link (liblabdaq is
 * linked with -z defs, without -lusb-1.0).
 */
#ifndef LDQ_USB_DL_H
#define LDQ_USB_DL_H

#include <libusb-1.0/libusb.h>

/* libusb-1.0's run-time name (Debian's libusb-1.0-0). */
#define LDQ_USB_SONAME "libusb-1.0.so.0"

/* Every libusb function usb.c calls. */
#define LDQ_USB_SYMS(X) \
	X(libusb_alloc_transfer) \
	X(libusb_cancel_transfer) \
	X(libusb_claim_interface) \
	X(libusb_close) \
	X(libusb_control_transfer) \
	X(libusb_dev_mem_alloc) \
	X(libusb_dev_mem_free) \
	X(libusb_exit) \
	X(libusb_free_config_descriptor) \
	X(libusb_free_device_list) \
	X(libusb_free_transfer) \
	X(libusb_get_active_config_descriptor) \
	X(libusb_get_bus_number) \
	X(libusb_get_device_address) \
	X(libusb_get_device_descriptor) \
	X(libusb_get_device_list) \
	X(libusb_get_max_packet_size) \
	X(libusb_get_port_numbers) \
	X(libusb_get_string_descriptor_ascii) \
	X(libusb_get_version) \
	X(libusb_handle_events_timeout_completed) \
	X(libusb_init) \
	X(libusb_interrupt_event_handler) \
	X(libusb_open) \
	X(libusb_ref_device) \
	X(libusb_release_interface) \
	X(libusb_set_auto_detach_kernel_driver) \
	X(libusb_set_interface_alt_setting) \
	X(libusb_strerror) \
	X(libusb_submit_transfer) \
	X(libusb_unref_device)

struct ldq_usb_syms {
#define LDQ_USB_MEMBER(f) __typeof__(f) *f##_p;
	LDQ_USB_SYMS(LDQ_USB_MEMBER)
#undef LDQ_USB_MEMBER
};

/* From here on, libusb_foo names the pointer's target. */
#define libusb_alloc_transfer (*ldq_usb_.libusb_alloc_transfer_p)
#define libusb_cancel_transfer (*ldq_usb_.libusb_cancel_transfer_p)
#define libusb_claim_interface (*ldq_usb_.libusb_claim_interface_p)
#define libusb_close (*ldq_usb_.libusb_close_p)
#define libusb_control_transfer (*ldq_usb_.libusb_control_transfer_p)
#define libusb_dev_mem_alloc (*ldq_usb_.libusb_dev_mem_alloc_p)
#define libusb_dev_mem_free (*ldq_usb_.libusb_dev_mem_free_p)
#define libusb_exit (*ldq_usb_.libusb_exit_p)
#define libusb_free_config_descriptor (*ldq_usb_.libusb_free_config_descriptor_p)
#define libusb_free_device_list (*ldq_usb_.libusb_free_device_list_p)
#define libusb_free_transfer (*ldq_usb_.libusb_free_transfer_p)
#define libusb_get_active_config_descriptor (*ldq_usb_.libusb_get_active_config_descriptor_p)
#define libusb_get_bus_number (*ldq_usb_.libusb_get_bus_number_p)
#define libusb_get_device_address (*ldq_usb_.libusb_get_device_address_p)
#define libusb_get_device_descriptor (*ldq_usb_.libusb_get_device_descriptor_p)
#define libusb_get_device_list (*ldq_usb_.libusb_get_device_list_p)
#define libusb_get_max_packet_size (*ldq_usb_.libusb_get_max_packet_size_p)
#define libusb_get_port_numbers (*ldq_usb_.libusb_get_port_numbers_p)
#define libusb_get_string_descriptor_ascii (*ldq_usb_.libusb_get_string_descriptor_ascii_p)
#define libusb_get_version (*ldq_usb_.libusb_get_version_p)
#define libusb_handle_events_timeout_completed (*ldq_usb_.libusb_handle_events_timeout_completed_p)
#define libusb_init (*ldq_usb_.libusb_init_p)
#define libusb_interrupt_event_handler (*ldq_usb_.libusb_interrupt_event_handler_p)
#define libusb_open (*ldq_usb_.libusb_open_p)
#define libusb_ref_device (*ldq_usb_.libusb_ref_device_p)
#define libusb_release_interface (*ldq_usb_.libusb_release_interface_p)
#define libusb_set_auto_detach_kernel_driver (*ldq_usb_.libusb_set_auto_detach_kernel_driver_p)
#define libusb_set_interface_alt_setting (*ldq_usb_.libusb_set_interface_alt_setting_p)
#define libusb_strerror (*ldq_usb_.libusb_strerror_p)
#define libusb_submit_transfer (*ldq_usb_.libusb_submit_transfer_p)
#define libusb_unref_device (*ldq_usb_.libusb_unref_device_p)

#endif
