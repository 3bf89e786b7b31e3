#!/usr/bin/env bash
# test_usb.sh - the usb backend as the command shows it on a machine
# without USB devices (CI has no USB bus at all): labdaq list shows none,
# usb:fx2lafw fails with a clear message and its exit status, bad URIs are
# refused naming what they take; the udev helper that loads fx2lafw's
# firmware refuses bad arguments and hands the work to a detached process
# without waiting for it.  The devices themselves are tested in the VM.
. "$(dirname "$0")/lib.sh"
require_labdaq

if ! "$LABDAQ" --version | grep -q '^  usb '; then
	skip "the usb backend is not built (libusb-1.0-0-dev missing)"
	finish
fi
has_usb=0
[ -d /dev/bus/usb ] && [ -n "$(ls /dev/bus/usb 2>/dev/null)" ] && has_usb=1

run list labdaq list
is "labdaq list: exit 0" "$RC" 0
if [ "$has_usb" = 0 ]; then
	is "no USB bus: labdaq list shows no usb: device" "$(grep -c '^usb:' "$T/list.out")" 0
else
	skip "this machine has a USB bus: what it lists depends on what is plugged in"
fi

if [ "$has_usb" = 0 ]; then
	run info labdaq info usb:fx2lafw
	is "labdaq info usb:fx2lafw without a board: exit 2 (no such device)" "$RC" 2
	check_grep "... the message says no fx2lafw device was found" "$T/info.err" \
		'usb:fx2lafw: no fx2lafw device found'
	run acq labdaq acquire usb:fx2lafw -o "$T/la.npy" --rate 1M --samples 1000
	is "labdaq acquire usb:fx2lafw without a board: exit 2" "$RC" 2
	check_grep "... the same message" "$T/acq.err" 'no fx2lafw device found'
	is "... and no file left behind" "$(ls "$T"/la.* 2>/dev/null | wc -l)" 0
	run ser labdaq info 'usb:fx2lafw?serial=LAB-7'
	check_grep "usb:fx2lafw?serial=S without it: the message names the serial" \
		"$T/ser.err" 'no fx2lafw device found with serial LAB-7'
	run ba labdaq info usb:3.14
	check_grep "usb:BUS.ADDR without it: the message names bus and address" "$T/ba.err" \
		'no USB device at bus 3 address 14'
else
	skip "this machine has a USB bus: an fx2lafw board may be plugged in"
fi
run bad labdaq info usb:logic
is "usb:logic: exit 2" "$RC" 2
check_grep "... the message says which forms a USB URI takes" "$T/bad.err" \
	'usb:fx2lafw, usb:BUS.ADDR .* or usb:VID:PID'
run dry labdaq info 'usb:1d50:608c?dry=sometimes'
check_grep "dry=sometimes: refused, saying what dry takes" "$T/dry.err" \
	'dry=sometimes: takes fail .* or ignore'
run help labdaq --help
check_grep "labdaq --help names the usb backend's URIs" "$T/help.out" \
	'^  usb +usb:fx2lafw.*usb:BUS.ADDR.*usb:VID:PID\?endpoint='

# The udev helper (udev/labdaq-usb-firmware.in, as make install-udev
# installs it).
make -s -C "$TOP" install-udev DESTDIR="$T/root" PREFIX=/usr >"$T/inst.out" 2>&1
helper=$T/root/usr/lib/labdaq/labdaq-usb-firmware
rules=$T/root/etc/udev/rules.d/62-labdaq-usb.rules
if [ -x "$helper" ] && grep -q 'RUN+="/usr/lib/labdaq/labdaq-usb-firmware $env{BUSNUM} $env{DEVNUM}"' \
	"$rules" && grep -q '^labdaq=${LABDAQ:-/usr/bin/labdaq}$' "$helper"; then
	ok "make install-udev installs 62-labdaq-usb.rules and its helper at their paths"
else
	not_ok "make install-udev installs 62-labdaq-usb.rules and its helper at their paths"
	diag <"$T/inst.out"
fi
run h1 "$helper" 1 x
is "the helper refuses a device number that is not a number: exit 2" "$RC" 2
run h2 "$helper" 000 5
is "the helper refuses bus 0: exit 2" "$RC" 2
if [ -d /run/systemd/system ]; then
	skip "systemd runs here: the helper would start a transient unit"
else
	# A stand-in labdaq that blocks until released: the helper must
	# return while it still runs, and it must be asked for usb:3.7.
	mkfifo "$T/gate"
	cat >"$T/fake-labdaq" <<FAKE
#!/bin/sh
echo "\$*" > "$T/fake.args"
read x < "$T/gate"
FAKE
	chmod +x "$T/fake-labdaq"
	LABDAQ=$T/fake-labdaq run h3 "$helper" 003 007
	is "the helper returns 0 while the load still runs" "$RC" 0
	for _ in $(seq 50); do [ -s "$T/fake.args" ] && break; sleep 0.1; done
	is "... having started 'labdaq info usb:3.7'" "$(cat "$T/fake.args" 2>/dev/null)" \
		"info usb:3.7"
	[ -s "$T/fake.args" ] && echo go >"$T/gate"
fi
make -s -C "$TOP" uninstall-udev DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>&1
is "make uninstall-udev removes the usb rule and helper too" \
	"$(find "$T/root" -type f | wc -l)" 0
finish
