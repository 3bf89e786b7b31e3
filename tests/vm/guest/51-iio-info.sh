# 51-iio-info.sh - the iio backend finds labdaq-sim: labdaq list and info,
# SI units and scales, and the errors a user meets first: a bad URI, an
# unknown device, a rate the device refuses, a busy device, no permission.
. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq "labdaq list shows $DEV"
dmesg_mark

labdaq list >"$W/list.txt" 2>&1
rc=$?
note "labdaq list: $(grep '^iio:' "$W/list.txt" | tr '\n' ';')"
list_ok() { [ $rc -eq 0 ] && grep -q "^iio:local:$SIM  *IIO device iio:device[0-9]* $SIM" "$W/list.txt"; }
check "labdaq list shows $DEV" list_ok

labdaq info "$DEV" >"$W/info.txt" 2>&1
rc=$?
sed 's/^/  /' "$W/info.txt" | while IFS= read -r l; do note "info:$l"; done
# "  voltage0     output V     1e-06          <i4"
chan_line() { grep -qE "^  $1 +$2 +$3 +$4 " "$W/info.txt"; }
info_ok() {
	[ $rc -eq 0 ] && grep -q "^backend: *iio" "$W/info.txt" &&
		grep -q "^channels: *4$" "$W/info.txt" &&
		chan_line voltage0 output V 1e-06 && chan_line voltage0 input V 1e-06 &&
		chan_line current0 input A 1e-09 && chan_line timestamp input s 1e-09 &&
		grep -qE "^  sampling_frequency +[0-9]+   \(takes " "$W/info.txt" &&
		grep -qE "^  in_voltage0_scale +0.001" "$W/info.txt"
}
check "labdaq info: voltage0 output (V, 1e-06), voltage0, current0, timestamp inputs (V 1e-06, A 1e-09, s 1e-09), the attributes with values and ranges" \
	info_ok
check "labdaq info: the inputs are <i4 (the driver's s32 scan elements)" \
	grep -qE '^  current0 +input +A +1e-09 +<i4$' "$W/info.txt"

# expect_fail STATUS PATTERN CMD...: CMD exits STATUS and says PATTERN
expect_fail() {
	want=$1 pat=$2
	shift 2
	"$@" >"$W/err.txt" 2>&1
	got=$?
	note "$*: exit $got: $(head -c 300 "$W/err.txt" | tr '\n' ' ')"
	[ "$got" -eq "$want" ] && grep -qi -- "$pat" "$W/err.txt"
}
check "info iio:local:nope: exit 2, 'no IIO device' naming what is there" \
	expect_fail 2 "no IIO device 'nope'.*$SIM" labdaq info iio:local:nope
check "acquire on iio:local:nope: exit 2, nothing created" \
	expect_fail 2 "no IIO device" labdaq acquire iio:local:nope --samples 10 -o "$W/nope.npy"
check "  ... and no file left behind" [ ! -e "$W/nope.npy" ]
check "info iio:nonsense (no device part): exit 2 with the URI forms" \
	expect_fail 2 "iio:local:DEVICE" labdaq info iio:nonsense
check "info iio:ip:127.0.0.1/$SIM with no iiod: exit 1, points at iiod" \
	expect_fail 1 "iiod" labdaq info "iio:ip:127.0.0.1/$SIM"
check "acquire an unknown channel: exit 2" \
	expect_fail 2 "no input channel 'nope'" \
	labdaq acquire "$DEV" --samples 10 --channels voltage0,nope -o "$W/ch.npy"
check "acquire at 300 kHz (the driver takes 1..200000): exit 2, the device does not take it" \
	expect_fail 2 "does not take" \
	labdaq acquire "$DEV" --samples 10 --rate 300k -o "$W/rate.npy"
check "  ... and no file left behind" [ ! -e "$W/rate.npy" ]
check "sweep to 20 V (the DAC takes +-10 V): fails, out of range" \
	expect_fail 1 "out of range" \
	labdaq sweep "$DEV" --set voltage0 --read voltage0 --from 0 --to 20 --points 3 \
	-o "$W/range.csv"

# Busy: another program holds the IIO buffer (iio_readdev, no labdaq lock)
echo 1000 >"$dev/sampling_frequency"
iio_readdev -u local: -b 64 "$SIM" voltage0 >/dev/null 2>&1 &
rpid=$!
sleep 1
check "acquire while iio_readdev holds the buffer: exit 4, the buffer is in use" \
	expect_fail 4 "in use by another program" \
	labdaq acquire "$DEV" --samples 10 -o "$W/busy.npy"
check "sweep while the buffer is enabled: fails, says the device is capturing" \
	expect_fail 1 "capturing" \
	labdaq sweep "$DEV" --set voltage0 --read voltage0 --from 0 --to 1 --points 2 \
	-o "$W/busy.csv"
kill "$rpid"
wait "$rpid"

# Permission: an ordinary user (uid 1000), with no udev rule in the guest
if grep -q '^daq:' /etc/passwd || {
	echo 'daq:x:1000:1000:daq:/tmp:/bin/sh' >>/etc/passwd &&
		echo 'daq:x:1000:' >>/etc/group
}; then
	mkdir -p "$W/user" && chmod 1777 "$W/user"
	# busybox su, run by root, asks no password; -p keeps the environment
	# (PATH, LABDAQ_LOCK_DIR).  The arguments hold no spaces.
	as_user() { su -p -s /bin/sh daq -c "$*"; }
	if [ "$(as_user id -u 2>/dev/null)" = 1000 ]; then
		check "as a user: labdaq info works (sysfs is world-readable)" \
			as_user labdaq info "$DEV"
		check "as a user: acquire --rate 1k fails (exit 1) with the udev hint" \
			expect_fail 1 "udev" \
			as_user labdaq acquire "$DEV" --samples 10 --rate 1k -o "$W/user/x.npy"
		check "as a user: acquire without --rate also hints at udev" \
			expect_fail 1 "udev" \
			as_user labdaq acquire "$DEV" --samples 10 -o "$W/user/y.npy"
		check "as a user: sweep fails (exit 1) with the udev hint" \
			expect_fail 1 "udev" \
			as_user labdaq sweep "$DEV" --set voltage0 --read voltage0 --from 0 \
			--to 1 --points 2 -o "$W/user/s.csv"
	else
		skip "labdaq as an ordinary user" "su cannot switch users here"
	fi
else
	skip "labdaq as an ordinary user" "cannot add a user"
fi
# Attributes: labdaq attr lists, reads and writes them (sysfs follows);
# acquire --attr sets them before the run and records them.
labdaq attr "$DEV" >"$W/attr.txt" 2>&1
rc=$?
attr_list_ok() {
	[ $rc -eq 0 ] && grep -qE "^sampling_frequency +[0-9]+   \(takes .+\)$" "$W/attr.txt" &&
		grep -qE "^in_voltage0_scale +0.001" "$W/attr.txt" &&
		grep -qE "^out_voltage0_raw +-?[0-9]+   \(takes " "$W/attr.txt" &&
		grep -qE "^resistance_ohms +[0-9]+" "$W/attr.txt"
}
check "labdaq attr: device and channel attributes by sysfs name, values, ranges" attr_list_ok
attr_set_ok() {
	[ "$(labdaq attr "$DEV" sampling_frequency 2000)" = 2000 ] &&
		[ "$(cat "$dev/sampling_frequency")" = 2000 ] &&
		[ "$(labdaq attr "$DEV" resistance_ohms 4700)" = 4700 ] &&
		[ "$(cat "$dev/resistance_ohms")" = 4700 ] &&
		[ "$(labdaq attr "$DEV" sampling_frequency)" = 2000 ]
}
check "labdaq attr DEV NAME VALUE: sysfs has the value, NAME alone reads it" attr_set_ok
check "labdaq attr DEV nope: exit 2 naming it" expect_fail 2 "nope" labdaq attr "$DEV" nope
labdaq acquire "$DEV" --attr sampling_frequency=5000 --attr resistance_ohms=1000 \
	--samples 500 -o "$W/attr.npy" >/dev/null 2>&1
rc=$?
attr_run_ok() {
	[ $rc -eq 0 ] && [ "$(cat "$dev/sampling_frequency")" = 5000 ] &&
		tr -d ' \n' <"$W/attr.json" |
		grep -q '"attributes":{"sampling_frequency":"5000","resistance_ohms":"1000"}'
}
check "acquire --attr sampling_frequency=5000 --attr resistance_ohms=1000: set, recorded" \
	attr_run_ok
echo 1000 >"$dev/sampling_frequency"
check "kernel clean after the error paths" kernel_clean
exit 0
