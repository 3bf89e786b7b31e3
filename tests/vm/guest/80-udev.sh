# 80-udev.sh - Debian's systemd-udevd runs in the guest with the project's
# rules and hook as `make install-udev` installs them (tests/vm/run.sh,
# stage_udev), and a user gets what docs promise: the IIO node
# crw-rw---- root labdaq, the settable attributes group-writable and
# nothing else (never uevent), a member of labdaq acquiring without root,
# a non-member refused with the hint; after the kernel's add, a change, an
# unbind and bind, and `udevadm control --reload`.  The same for a comedi
# board's node.  V4L2 nodes are not the rules' business (Debian's own
# rules give them to the group video).  udevd is stopped at the end.
. /tests/lib.sh

UDEVD=/lib/systemd/systemd-udevd
if [ ! -x "$UDEVD" ] || [ ! -f /etc/udev/rules.d/61-labdaq-group.rules ]; then
	skip "udev in the guest" "systemd-udevd or the rules not staged"
	exit 0
fi
dev=$(sim_dir) || {
	not_ok "$SIM present"
	exit 0
}
DRV=/sys/bus/platform/drivers/$SIM
W=/tmp/udev
mkdir -p "$W" && chmod 1777 "$W" /tmp
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p "$LABDAQ_LOCK_DIR" && chmod 1777 "$LABDAQ_LOCK_DIR"
head -c 1 /dev/random >/dev/null # see iio-lib.sh
dmesg_mark

# Users: inlab (a member of labdaq) and outlab (not).  The group is there
# before udevd reads the rules, as make install-udev makes it.
lab_users
groups_ok() { as inlab id -Gn | grep -qw labdaq && ! as outlab id -Gn | grep -qw labdaq; }
check "users inlab (in group labdaq) and outlab (not)" groups_ok

mkdir -p /run/udev
# --debug: the log says which program each rule ran and how it ended
"$UDEVD" --daemon --debug >"$W/udevd.log" 2>&1
check "systemd-udevd starts (udevadm control --ping)" \
	timeout 10 udevadm control --ping
settle() { timeout 60 udevadm settle -t 50; }
trigger() { # ACTION: replay ACTION for the IIO and comedi devices
	udevadm trigger --action="$1" --subsystem-match=iio \
		--subsystem-match=comedi && settle
}
note "udevadm $(udevadm --version); rules: $(ls /lib/udev/rules.d /etc/udev/rules.d | tr '\n' ' ')"

# modes WANT FILE...: each FILE's "mode user group" (stat) is WANT
modes() {
	want=$1
	shift
	bad=
	for f in "$@"; do
		got=$(stat -L -c '%A %U %G' "$f" 2>&1)
		[ "$got" = "$want" ] || bad="$bad ${f##*/}: $got;"
	done
	[ -z "$bad" ] || note "not '$want':$bad"
	[ -z "$bad" ]
}
SETTABLE="sampling_frequency out_voltage0_raw resistance_ohms noise_voltage_uv
noise_current_na noise_seed mode current_timestamp_clock buffer/length
buffer/enable buffer/watermark scan_elements/in_voltage0_en
scan_elements/in_current0_en scan_elements/in_timestamp_en"
FIXED="uevent in_voltage0_raw in_current0_raw in_voltage0_scale
in_current0_scale out_voltage0_scale"
RDONLY="name overruns mode_available sampling_frequency_available
buffer/data_available scan_elements/in_voltage0_type"
in_dev() { for a in "$@"; do echo "$dev/$a"; done; }
# shellcheck disable=SC2046,SC2086 # lists of names, split on purpose
iio_modes_ok() {
	node=/dev/${dev##*/}
	modes "crw-rw---- root labdaq" "$node" &&
		modes "-rw-rw-r-- root labdaq" $(in_dev $SETTABLE) &&
		modes "-rw-r--r-- root root" $(in_dev $FIXED) &&
		modes "-r--r--r-- root root" $(in_dev $RDONLY) &&
		[ -z "$(find "$dev/" -maxdepth 2 -perm -0002 -type f)" ]
}
# the member acquires 2000 counter-mode scans at 10 kHz (labdaq writes
# sampling_frequency, the scan elements and the buffer as that user) and
# the data are n, ~n byte for byte
member_ok() { # NAME
	echo counter >"$dev/mode"
	as inlab labdaq acquire "iio:local:$SIM" --samples 2000 --rate 10k \
		-o "$W/$1.npy" --progress none >"$W/$1.out" 2>&1
	rc=$?
	echo ohm >"$dev/mode"
	note "$1: inlab's acquire: exit $rc $(grep -v '^WARNING: High' "$W/$1.out" | head -c 200 | tr '\n' ' ')"
	[ "$rc" -eq 0 ] || return 1
	out=$(tail -c +4097 "$W/$1.npy" | od -An -v -tu4 -w8 | awk '
		$1 != NR - 1 || $2 != 4294967295 - (NR - 1) { bad++ }
		END { printf "%d rows, %d wrong", NR, bad; exit bad + 0 != 0 || NR != 2000 }')
	rc=$?
	note "$1: $out"
	[ "$rc" -eq 0 ] && [ "$(stat -c %U "$W/$1.npy")" = inlab ]
}
outsider_ok() { # NAME
	as outlab labdaq acquire "iio:local:$SIM" --samples 100 --rate 1k \
		-o "$W/$1-out.npy" --progress none >"$W/$1-out.out" 2>&1
	rc=$?
	note "$1: outlab's acquire: exit $rc: $(grep -v '^WARNING: High' "$W/$1-out.out" | head -c 200 | tr '\n' ' ')"
	[ "$rc" -eq 1 ] && grep -q 'make install-udev' "$W/$1-out.out" &&
		grep -q 'labdaq group' "$W/$1-out.out"
}
# a member cannot replay uevents (they would re-run the rules and the
# root hook), write a measurement or a read-only attribute
no_uevent_ok() {
	! as inlab "echo add >$dev/uevent" 2>/dev/null &&
		! as inlab "echo change >$dev/uevent" 2>/dev/null &&
		! as inlab "echo 5 >$dev/in_voltage0_scale" 2>/dev/null
}
# a member sets an attribute by hand
member_write_ok() {
	as inlab "echo 2000 >$dev/sampling_frequency" &&
		[ "$(cat "$dev/sampling_frequency")" = 2000 ] &&
		! as outlab "echo 3000 >$dev/sampling_frequency" 2>/dev/null &&
		[ "$(cat "$dev/sampling_frequency")" = 2000 ]
}
# back to what the kernel made, so that the next event has to redo it
reset_perms() {
	chgrp root "/dev/${dev##*/}" && chmod 0600 "/dev/${dev##*/}" || return 1
	for a in $SETTABLE; do
		chgrp root "$dev/$a" && chmod g-w "$dev/$a" || return 1
	done
}
iio_round() { # WHEN
	check "$1: /dev/${dev##*/} crw-rw---- root labdaq; settable attributes rw-rw-r-- root labdaq; uevent, in_*_raw, scales rw-r--r-- root; read-only ones r--r--r--" \
		iio_modes_ok
	check "$1: a member of labdaq acquires 2000 counter scans without root, byte for byte" \
		member_ok "$2"
	check "$1: a non-member is refused (exit 1) with the hint: make install-udev, the labdaq group" \
		outsider_ok "$2"
}

# 1. add, replayed for the devices the kernel made before udevd ran
trigger add
iio_round "after add" add
check "after add: a member cannot write uevent (add, change) nor a scale" no_uevent_ok
check "after add: a member writes sampling_frequency by hand, a non-member cannot" \
	member_write_ok
echo 1000 >"$dev/sampling_frequency"

# 2. change (a plain `udevadm trigger`): udev applies the node's group and
# mode again, and the rules run the hook on change too
reset_perms
udevadm trigger --action=change --subsystem-match=iio && settle
iio_round "after change" change

# 3. unbind and bind: a new IIO device, the kernel's own add event
echo "$SIM" >"$DRV/unbind"
settle
check "unbind: the device and its node are gone" \
	sh -c "! ls /dev/iio:device* >/dev/null 2>&1"
echo "$SIM" >"$DRV/bind"
settle
dev=$(sim_dir) || dev=/nonexistent
iio_round "after unbind and bind" bind

# 4. the rules read again
check "udevadm control --reload" udevadm control --reload
reset_perms
trigger add
iio_round "after udevadm control --reload and add" reload

# comedi: the first attached board is tagged the same way
find_board() {
	cnode=
	for c in /dev/comedi[0-9] /dev/comedi[0-9][0-9]; do
		[ -c "$c" ] && labdaq info "comedi:$c" >/dev/null 2>&1 && { cnode=$c; return 0; }
	done
	return 1
}
# 65-comedi-detach.sh unloads comedi_test: loading it again attaches its
# own board, and udevd handles the kernel's add of the new node
loaded=
if ! find_board && grep -q '^comedi ' /proc/modules && modprobe comedi_test; then
	loaded=1
	settle
	find_board
	check "comedi_test loaded under udevd: ${cnode:-no board} crw-rw---- root labdaq from the kernel's add" \
		modes "crw-rw---- root labdaq" "${cnode:-/nonexistent}"
fi
comedi_member() {
	as inlab labdaq acquire "comedi:$cnode" -C ai0 --samples 1000 --rate 10k \
		-o "$W/c-$1.npy" --progress none >"$W/c-$1.out" 2>&1
	rc=$?
	note "comedi $1: inlab's acquire: exit $rc $(head -c 200 "$W/c-$1.out" | tr '\n' ' ')"
	[ "$rc" -eq 0 ] && [ "$(stat -c %s "$W/c-$1.npy")" -gt 4096 ]
}
comedi_outsider() {
	as outlab labdaq acquire "comedi:$cnode" -C ai0 --samples 100 --rate 10k \
		-o "$W/c-out.npy" --progress none >"$W/c-out.out" 2>&1
	rc=$?
	note "comedi: outlab's acquire: exit $rc: $(head -c 200 "$W/c-out.out" | tr '\n' ' ')"
	[ "$rc" -ne 0 ] && grep -q 'install-udev' "$W/c-out.out"
}
if [ -n "$cnode" ]; then
	chgrp root "$cnode" && chmod 0600 "$cnode"
	trigger add
	check "comedi after add: $cnode crw-rw---- root labdaq" \
		modes "crw-rw---- root labdaq" "$cnode"
	check "comedi: a member of labdaq acquires from $cnode without root" comedi_member add
	check "comedi: a non-member is refused with the install-udev hint" comedi_outsider
	chmod 0600 "$cnode"
	udevadm trigger --action=change --subsystem-match=comedi && settle
	check "comedi after change: $cnode crw-rw---- root labdaq again" \
		modes "crw-rw---- root labdaq" "$cnode"
	check "comedi after change: a member acquires" comedi_member change
else
	skip "udev and comedi" "no comedi board attached (labdaq without comedi, or 60-comedi.sh not run)"
fi
[ -n "$loaded" ] && rmmod comedi_test

udevadm control --exit
cp "$W/udevd.log" "$OUT/udevd.log"
ran=$(grep -c "labdaq-udev-setup.*succeeded" "$W/udevd.log")
failed=$(grep -i "labdaq-udev-setup" "$W/udevd.log" | grep -ci "fail")
note "udevd log (build/vm/share/out/udevd.log): $(wc -l <"$W/udevd.log") lines; the hook succeeded $ran times, failed $failed times"
check "udevd ran the hook and it never failed" [ "$ran" -ge 4 ] && [ "$failed" -eq 0 ]
check "kernel clean after the udev tests" kernel_clean
exit 0
