# 90-unload.sh - the module goes away cleanly during captures.  Runs last:
# it leaves the module unloaded.
. /tests/lib.sh

drv=/sys/bus/platform/drivers/$SIM
gone() { ! grep -q '^labdaq_sim ' /proc/modules && ! sim_dir >/dev/null; }

# 1. the buffer enabled through sysfs, the timer running, nobody reading
dev=$(sim_dir) || { not_ok "$SIM present"; exit 0; }
echo counter >"$dev/mode"
echo 20000 >"$dev/sampling_frequency"
echo 1 >"$dev/scan_elements/in_voltage0_en"
echo 1 >"$dev/scan_elements/in_current0_en"
echo 4096 >"$dev/buffer/length"
echo 1 >"$dev/buffer/enable"
sleep 0.5
dmesg_mark
check "rmmod during a capture with no reader succeeds" \
	timeout 10 rmmod labdaq_sim
check "module and device gone" gone
check "kernel clean after rmmod during a capture" kernel_clean

check "modprobe labdaq_sim again" modprobe labdaq_sim
dev=$(sim_dir)
fresh() {
	[ -n "$dev" ] && [ "$(cat "$dev/mode")" = ohm ] &&
		[ "$(cat "$dev/overruns")" = 0 ]
}
check "device back, state fresh (mode ohm, overruns 0)" fresh

# 2. a reader in the middle of a stream
echo counter >"$dev/mode"
echo 20000 >"$dev/sampling_frequency"
iio_readdev -u local: -b 1024 "$SIM" voltage0 current0 >/tmp/endless.bin \
	2>/tmp/endless.err &
pid=$!
sleep 2
s1=$(wc -c </tmp/endless.bin)
sleep 1
s2=$(wc -c </tmp/endless.bin)
check "a reader streams ($s1 then $s2 bytes)" [ "$s2" -gt "$s1" ]
dmesg_mark
e=$(timeout 10 rmmod labdaq_sim 2>&1)
rc=$?
# The reader's open /dev/iio:deviceN holds a reference on the module (the
# IIO core makes the driver module the owner of the character device), so
# rmmod is refused until the device is gone; it must answer at once.
if [ $rc -eq 0 ]; then
	ok "rmmod during a read returns at once (it unloaded)"
else
	note "rmmod during a read: $e"
	in_use() { echo "$e" | grep -qiE 'in use|busy|temporarily unavailable'; }
	check "rmmod during a read returns at once, refused: module in use" in_use
	# Unplug the device under the reader instead: unbind the driver.
	unbind() { echo "$SIM" >"$drv/unbind"; }
	check "unbind the device under the reader" unbind
fi
k=0
while kill -0 $pid 2>/dev/null && [ $k -lt 50 ]; do
	sleep 0.2
	k=$((k + 1))
done
if kill -0 $pid 2>/dev/null; then
	not_ok "the reader ends (error or EOF) within 10 s of the device going away"
	kill -9 $pid
	wait $pid
else
	wait $pid
	rrc=$?
	note "reader: exit status $rrc after $((k / 5)) s, $(head -n 2 /tmp/endless.err | tr '\n' ' ')"
	ok "the reader ends (error or EOF) within 10 s of the device going away"
fi
if ! gone; then
	bind_ok() {
		echo "$SIM" >"$drv/bind" && d=$(sim_dir) &&
			[ "$(cat "$d/mode")" = ohm ]
	}
	check "bind brings the device back, state fresh" bind_ok
	check "rmmod once the reader is gone" timeout 10 rmmod labdaq_sim
fi
check "module gone" gone
check "kernel clean after unloading under a reader" kernel_clean
exit 0
