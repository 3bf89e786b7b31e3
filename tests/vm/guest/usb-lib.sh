# usb-lib.sh - helpers of the usb guest tests (8N-usb-*.sh), sourced after
# lib.sh.  Not a test script itself.
#
# The device is build/usb/fx2gadget (tests/usb/README.md): a FunctionFS
# gadget on dummy_hcd, which connects it to a host controller of the same
# kernel.  gadget_start runs it in the background and waits until the host
# has configured it; gadget_stop removes it.  Work files go to $W; captures
# the host checks again with numpy (tests/vm/check_usb.py) go to $RES as
# NAME.bin with NAME.expect ("counter u8|u16|u32 COUNT").

W=/tmp/usb
RES=$OUT/usb
GSTATS=$W/gadget.stats
GLOG=$W/gadget.log
mkdir -p "$W" "$RES"
# A run's first sidecar must not wait for the kernel's random generator
# (see iio-lib.sh).
head -c 1 /dev/random >/dev/null
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p "$LABDAQ_LOCK_DIR" && chmod 1777 "$LABDAQ_LOCK_DIR" /tmp
GPID=
# What the gadget may hold unsent: its FIFO (fx2gadget's default, 4 MiB)
# and one write in flight (64 KiB).  labdaq's fx2lafw loss check is told so
# (fifo=), as for any board that buffers more than an FX2.
LAFIFO=$((4194304 + 65536))

# usb_stack: the gadget stack loaded and configfs mounted (idempotent)
usb_stack() {
	[ -d /sys/class/udc ] && [ -n "$(ls /sys/class/udc 2>/dev/null)" ] &&
		grep -q ' /sys/kernel/config ' /proc/mounts && return 0
	modprobe -a configfs libcomposite usb_f_fs dummy_hcd || return 1
	grep -q ' /sys/kernel/config ' /proc/mounts ||
		mount -t configfs none /sys/kernel/config || return 1
	[ -n "$(ls /sys/class/udc 2>/dev/null)" ]
}

# need_gadget WHAT: skip the script unless the gadget and the stack are here
need_gadget() {
	if ! command -v fx2gadget >/dev/null; then
		skip "$1" "build/usb/fx2gadget not built"
		exit 0
	fi
	if ! usb_stack; then
		not_ok "dummy_hcd, libcomposite and usb_f_fs load, configfs mounted ($1)"
		exit 0
	fi
}

# gstat KEY: a value of the gadget's stats file
gstat() { sed -n "s/^$1=//p" "$GSTATS" 2>/dev/null; }

# wait_for SECONDS CMD...: poll CMD every 0.1 s
wait_for() {
	n_=$(($1 * 10))
	shift
	while [ "$n_" -gt 0 ]; do
		"$@" && return 0
		sleep 0.1
		n_=$((n_ - 1))
	done
	return 1
}

# gadget_start MODE [ARGS...]: plug the gadget in, wait until the host has
# configured it (the stats file says enabled=1)
gadget_start() {
	gadget_stop
	rm -f "$GSTATS"
	fx2gadget "$@" --stats "$GSTATS" >>"$GLOG" 2>&1 &
	GPID=$!
	if ! wait_for 15 sh -c "grep -q '^enabled=1' $GSTATS 2>/dev/null"; then
		note "gadget $*: not enabled by the host; log: $(tail -n 5 "$GLOG" | tr '\n' ';')"
		return 1
	fi
	# the host's usbfs node appears with the enumeration
	sleep 0.3
}

# gadget_stop: SIGTERM, the gadget removes itself from configfs
gadget_stop() {
	[ -n "$GPID" ] || return 0
	kill -TERM "$GPID" 2>/dev/null
	wait "$GPID" 2>/dev/null
	GPID=
}

# gadget_udc: the gadget's UDC file (write an empty line: unplugged)
gadget_udc() { echo /sys/kernel/config/usb_gadget/labdaq_test/UDC; }

# usb_path VID:PID: BUS.ADDR of the first such device on the bus
usb_path() {
	for d in /sys/bus/usb/devices/*; do
		[ -f "$d/idVendor" ] || continue
		[ "$(cat "$d/idVendor"):$(cat "$d/idProduct")" = "$1" ] || continue
		echo "$(cat "$d/busnum").$(cat "$d/devnum")"
		return 0
	done
	return 1
}

# same_as_pattern FILE DTYPE COUNT [FIRST]: FILE holds exactly the counter
same_as_pattern() {
	fx2gadget pattern "$2" "$3" ${4:-0} >"$W/expect.bin" &&
		cmp "$1" "$W/expect.bin" >"$W/cmp.txt" 2>&1
}

# keep FILE NAME DTYPE COUNT: copy FILE for the host's numpy check
keep() {
	cp "$1" "$RES/$2.bin" && echo "counter $3 $4" >"$RES/$2.expect"
}

# usb_kernel_clean: kernel_clean, less qemu TCG's "hrtimer: interrupt took N
# ns" (the emulated CPU was descheduled; nothing of the USB stack)
usb_kernel_clean() {
	BAD_KMSG_SAVED=$BAD_KMSG
	BAD_KMSG=$(echo "$BAD_KMSG" | sed 's/|hrtimer//')
	kernel_clean
	rc_=$?
	BAD_KMSG=$BAD_KMSG_SAVED
	return $rc_
}
not_pattern() { ! same_as_pattern "$@"; }

# need_labdaq_usb WHAT: skip the script unless labdaq has the usb backend
need_labdaq_usb() {
	if ! command -v labdaq >/dev/null; then
		skip "$1" "build/labdaq not built"
		exit 0
	fi
	if ! labdaq --help 2>&1 | grep -q '^  usb '; then
		skip "$1" "labdaq built without the usb backend (libusb-1.0-0-dev)"
		exit 0
	fi
}

# la_run NAME URI ARGS...: labdaq acquire URI into $W/NAME.npy; RC its exit
la_run() {
	n_=$1
	u_=$2
	shift 2
	rm -f $W/$n_.npy $W/$n_.json
	timeout 120 labdaq acquire "$u_" -o $W/$n_.npy --progress none "$@" \
		>$W/$n_.out 2>$W/$n_.err
	RC=$?
}

# npy_payload FILE: the data of a labdaq .npy (after its 4096-byte header)
npy_payload() { tail -c +4097 "$1"; }

# summary NAME: a one-line account of a run's sidecar
summary() {
	j=$W/$1.json
	printf 'status %s, written %s, dropped %s, error %s' \
		"$(sed -n 's/^  "status": "\(.*\)",$/\1/p' $j)" \
		"$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $j)" \
		"$(sed -n 's/^  "dropped": \([0-9]*\),$/\1/p' $j)" \
		"$(sed -n 's/^  "error": "\(.*\)",\{0,1\}$/\1/p' $j | head -c 200)"
}

# rc_and_pattern FILE DTYPE COUNT: the last la_run exited 0 and FILE is the
# counter
rc_and_pattern() { [ "$RC" -eq 0 ] && same_as_pattern "$@"; }

# rc_and_pattern_npy NAME DTYPE: RC 0 and $W/NAME.npy holds the counter, as
# many samples as its sidecar says were written
rc_and_pattern_npy() {
	w_=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $W/$1.json)
	npy_payload $W/$1.npy >$W/$1.bin
	[ "$RC" -eq 0 ] && [ -n "$w_" ] && [ "$w_" -gt 0 ] && same_as_pattern $W/$1.bin $2 "$w_"
}

# run_complete NAME N: the last la_run exited 0, its sidecar says complete
# with N samples written
run_complete() {
	[ "$RC" -eq 0 ] &&
		[ "$(sed -n 's/^  "status": "\(.*\)",$/\1/p' $W/$1.json)" = complete ] &&
		[ "$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $W/$1.json)" = "$2" ]
}
