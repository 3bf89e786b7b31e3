# 56-iio-unbind.sh - the device goes away during a run (unbinding the driver
# is unplugging it; rmmod is refused while the run holds the device): the
# run ends FAILED with the error in its sidecar and a valid file, exact up
# to the failure; the device comes back (bind, or rmmod and modprobe) and a
# new run works.
. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq "unbind during a run"
dmesg_mark

# gone_run NAME ACTION: a continuous run, then ACTION pulls the device
gone_run() {
	name=$1
	counter_mode 20000
	labdaq acquire "$DEV" --continuous --rate 20k --channels voltage0,current0 \
		-o "$W/$name.npy" >"$W/$name.out" 2>&1 &
	pid=$!
	if ! wait_written "$name" 20000 20; then
		not_ok "a continuous run writes 20000 samples within 20 s"
		kill -9 $pid
		wait $pid
		return 1
	fi
	t0=$(date +%s)
	$2
	wait_pid $pid 20
	secs=$(($(date +%s) - t0))
	note "$name: exit $wait_rc $secs s after the unbind: $(grep -v '^ERROR: \|^WARNING: ' "$W/$name.out" | tr '\n' ' ')"
	note "$name: libiio printed $(grep -c '^ERROR: \|^WARNING: ' "$W/$name.out") lines of its own"
	summary "$name"
	check "unbind during a run ($name): the run ends within 10 s, exit 1" \
		eval '[ $wait_rc -eq 1 ] && [ $secs -le 10 ]'
	check "  ... status failed, the error in the sidecar, written = acquired = rows" \
		run_ok "$name" failed
	note "$name: error $(grep -A 3 '"error"' "$W/$name.json" | tr -d '\n' | tr -s ' ')"
	check "  ... the error says the device is gone" \
		eval 'grep -A 3 "\"error\"" "$W/$name.json" | grep -q "\"code\": 19" &&
			grep -qi "gone" "$W/$name.out"'
	check "  ... the file: every row exact (n, ~n from 0), up to the failure" \
		counter_data "$W/$name.npy" "$(json_num "$W/$name.json" written)"
	keep "$name" counter failed
}

unbind() { echo "$SIM" >"$DRV/unbind"; }
# unbind, then try rmmod while the run still holds the device
unbind_rmmod() {
	unbind
	rmmod_out=$(rmmod labdaq_sim 2>&1)
	rmmod_rc=$?
}

# 1. unbind; bind brings it back
gone_run gone unbind
bind_ok() { echo "$SIM" >"$DRV/bind" && dev=$(sim_dir) && [ "$(cat "$dev/mode")" = ohm ]; }
check "bind brings the device back" bind_ok
counter_mode 20000
labdaq acquire "$DEV" --samples 20000 --rate 20k -o "$W/rebound.npy" >/dev/null 2>&1
rc=$?
check "after bind, a new run works (complete, exact)" \
	eval '[ $rc -eq 0 ] && run_ok rebound complete && counter_data "$W/rebound.npy" 20000'

# 2. unbind, then rmmod during the run; rmmod once it has ended
gone_run gone2 unbind_rmmod
note "rmmod right after the unbind, the run still holding the device: exit $rmmod_rc $rmmod_out"
if grep -q '^labdaq_sim ' /proc/modules; then
	check "rmmod once the failed run has let the device go" timeout 10 rmmod labdaq_sim
fi
check "module gone" eval '! grep -q "^labdaq_sim " /proc/modules'
check "modprobe labdaq_sim again" modprobe labdaq_sim
dev=$(sim_dir)
counter_mode 20000
labdaq acquire "$DEV" --samples 20000 --rate 20k -o "$W/reloaded.npy" >/dev/null 2>&1
rc=$?
check "after rmmod and modprobe, a new run works (complete, exact)" \
	eval '[ $rc -eq 0 ] && run_ok reloaded complete && counter_data "$W/reloaded.npy" 20000'
echo ohm >"$dev/mode"
echo 1000 >"$dev/sampling_frequency"
check "kernel clean after pulling the device from under labdaq" kernel_clean
exit 0
