# 10-load.sh - the module loads cleanly and shows up in sysfs and libiio.
. /tests/lib.sh

t=$(cat /proc/sys/kernel/tainted)
check "kernel untainted before labdaq_sim loads (tainted $t)" [ "$t" -eq 0 ]

dmesg_mark
check "modprobe labdaq_sim (pulls in industrialio, kfifo_buf)" \
	modprobe labdaq_sim
extra=$(dmesg_new | grep -v \
	-e 'labdaq_sim: loading out-of-tree module taints kernel' \
	-e 'labdaq_sim: module verification failed: signature and/or required key missing')
if [ -z "$extra" ]; then
	ok "dmesg after loading holds nothing but the taint notice"
else
	echo "$extra" | while IFS= read -r l; do note "dmesg: $l"; done
	not_ok "dmesg after loading holds nothing but the taint notice"
fi
t=$(cat /proc/sys/kernel/tainted)
check "kernel tainted O and E only ($t)" [ "$t" -eq "$TAINT_OK" ]

dev=$(sim_dir)
check "/sys/bus/iio/devices has a device named $SIM (${dev##*/})" [ -n "$dev" ]

iio_info -u local: >"$OUT/iio_info.txt" 2>&1
info_ok() {
	f=$OUT/iio_info.txt
	grep -q "iio:device[0-9]*: $SIM (buffer capable)" "$f" &&
		grep -q "voltage0:  (input, index: 0, format: le:S32/32>>0)" "$f" &&
		grep -q "current0:  (input, index: 1, format: le:S32/32>>0)" "$f" &&
		grep -q "voltage0:  (output)" "$f" &&
		grep -q "timestamp:  (input, index: 2, format: le:S64/64>>0)" "$f"
}
check "iio_info -u local: shows $SIM with voltage0 in and out, current0, timestamp" info_ok

attr_is() { [ "$(cat "$dev/$1" 2>/dev/null)" = "$2" ]; }
defaults_ok() {
	attr_is in_voltage0_scale 0.001000 && attr_is out_voltage0_scale 0.001000 &&
		attr_is in_current0_scale 0.000001 &&
		attr_is sampling_frequency 1000 &&
		attr_is sampling_frequency_available "[1 1 200000]" &&
		attr_is out_voltage0_raw_available "[-10000000 1 10000000]" &&
		attr_is out_voltage0_raw 0 && attr_is resistance_ohms 1000 &&
		attr_is noise_voltage_uv 1000 && attr_is noise_current_na 1000 &&
		attr_is noise_seed 1 && attr_is mode ohm &&
		attr_is mode_available "ohm counter" && attr_is overruns 0
}
check "attributes read their documented defaults" defaults_ok
if ! defaults_ok; then
	for a in "$dev"/*; do
		[ -f "$a" ] && note "${a##*/} = $(cat "$a" 2>&1)"
	done
fi
exit 0
