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
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p "$LABDAQ_LOCK_DIR" && chmod 1777 "$LABDAQ_LOCK_DIR" /tmp
GPID=

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
