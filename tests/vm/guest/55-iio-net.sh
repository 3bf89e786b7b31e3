# 55-iio-net.sh - the same device through iiod over the network (loopback):
# an ip: URI, a counter-mode stream that arrives whole, a stop, a sweep, the
# device unbound under a run.
. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq "stream through iiod"
if ! command -v iiod >/dev/null; then
	skip "stream through iiod" "iiod not staged (install the iiod package)"
	exit 0
fi
dmesg_mark
NET=iio:ip:127.0.0.1/$SIM

ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up
iiod >"$W/iiod.log" 2>&1 &
ipid=$!
up() {
	i=0
	while [ $i -lt 100 ]; do
		labdaq info "$NET" >"$W/netinfo.txt" 2>&1 && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}
t1=$(date +%s)
check "iiod serves the guest's IIO devices on 127.0.0.1 (labdaq info $NET)" up
note "iiod answered after $(($(date +%s) - t1)) s"
note "iiod: $(head -c 200 "$W/iiod.log" | tr '\n' ' ')"
check "  ... the same channels, units and scales as local" \
	eval 'grep -qE "^  current0 +input +A +1e-09 +<i4$" "$W/netinfo.txt" &&
		grep -qE "^  voltage0 +output +V +1e-06 " "$W/netinfo.txt"'

N=100000
counter_mode 50000
start=$(date +%s)
labdaq acquire "$NET" --samples 100k --rate 50k --channels voltage0,current0 \
	-o "$W/net.npy" >"$W/net.out" 2>&1
rc=$?
note "acquire over iiod: exit $rc in $(($(date +%s) - start)) s: $(tail -n 1 "$W/net.out")"
summary net
check "through iiod, counter mode, 100k samples at 50 kHz: exit 0" [ $rc -eq 0 ]
check "  ... status complete, acquired = written = rows = $N, nothing dropped" \
	run_ok net complete
check "  ... the data: n and ~n for n = 0..$((N - 1)), byte for byte" \
	counter_data "$W/net.npy" $N
check "  ... the driver counted no overrun" [ "$(cat "$dev/overruns")" = 0 ]
keep net "counter $N"

# labdaq stop on a network run
counter_mode 20000
labdaq acquire "$NET" --continuous --rate 20k --channels voltage0,current0 \
	-o "$W/netstop.npy" >"$W/netstop.out" 2>&1 &
pid=$!
if wait_written netstop 20000 20; then
	t1=$(date +%s)
	labdaq stop "$NET" >/dev/null 2>&1
	src=$?
	wait_pid $pid 20
	note "the stop through iiod took $(($(date +%s) - t1)) s"
	summary netstop
	check "labdaq stop on a run through iiod: both exit 0" \
		eval '[ $src -eq 0 ] && [ $wait_rc -eq 0 ]'
	check "  ... status stopped, written = acquired, data exact" \
		eval 'run_ok netstop stopped &&
			counter_data "$W/netstop.npy" "$(json_num "$W/netstop.json" written)"'
else
	not_ok "a continuous run through iiod writes 20000 samples within 20 s"
	kill -9 $pid
	wait $pid
fi

# A sweep through iiod
t1=$(date +%s)
echo ohm >"$dev/mode"
echo 1000 >"$dev/resistance_ohms"
labdaq sweep "$NET" --set voltage0 --read voltage0,current0 --from -1 --to 1 --points 5 \
	-o "$W/netsweep.csv" >/dev/null 2>&1
rc=$?
netsweep_ok() {
	[ $rc -eq 0 ] && [ "$(grep -c '^[0-9]' "$W/netsweep.csv")" -eq 5 ] &&
		grep '^[0-9]' "$W/netsweep.csv" | awk -F, '
			{ d = $6 - $4 / 1000; if (d < 0) d = -d; if (d > 2e-6) bad++ }
			END { exit bad + 0 != 0 }'
}
check "a sweep through iiod: 5 points, I = V/R within the noise" netsweep_ok
note "the sweep through iiod took $(($(date +%s) - t1)) s"
echo 0 >"$dev/out_voltage0_raw"

# The device unbound under a run through iiod: FAILED, exact up to there
counter_mode 20000
labdaq acquire "$NET" --continuous --rate 20k -o "$W/netgone.npy" >"$W/netgone.out" 2>&1 &
pid=$!
if wait_written netgone 20000 20; then
	t1=$(date +%s)
	echo "$SIM" >"$DRV/unbind"
	wait_pid $pid 20
	secs=$(($(date +%s) - t1))
	note "netgone: exit $wait_rc $secs s after the unbind: $(grep -v '^ERROR: \|^WARNING: ' "$W/netgone.out" | tr '\n' ' ')"
	summary netgone
	check "unbind under a run through iiod: exit 1 within 10 s, status failed, data exact" \
		eval '[ $wait_rc -eq 1 ] && [ $secs -le 10 ] && run_ok netgone failed &&
			counter_data "$W/netgone.npy" "$(json_num "$W/netgone.json" written)"'
	bind_ok() { echo "$SIM" >"$DRV/bind" && dev=$(sim_dir); }
	check "  ... bind brings it back" bind_ok
else
	not_ok "a continuous run through iiod writes 20000 samples within 20 s"
	kill -9 $pid
	wait $pid
fi

t1=$(date +%s)
kill -9 $ipid 2>/dev/null
wait $ipid 2>/dev/null
note "iiod killed ($(($(date +%s) - t1)) s)"
echo 1000 >"$dev/sampling_frequency"
check "kernel clean after the network runs" kernel_clean
exit 0
