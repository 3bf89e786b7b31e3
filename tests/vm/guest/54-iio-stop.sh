# 54-iio-stop.sh - a --continuous run on the IIO device ends STOPPED with
# every acquired scan in the file, whether `labdaq stop` (another process)
# or SIGINT (Ctrl-C) asks; a second SIGINT aborts.
. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq "stop a run on $DEV"
dmesg_mark

counter_mode 20000

# bg NAME: a continuous counter-mode run in the background ($pid)
bg() {
	labdaq acquire "$DEV" --continuous --rate 20k --channels voltage0,current0 \
		-o "$W/$1.npy" >"$W/$1.out" 2>&1 &
	pid=$!
}

# 1. labdaq stop from another process
bg stop
if wait_written stop 20000 20; then
	len=$(cat "$dev/buffer/length")
	check "during a run at 20 kHz the kernel FIFO holds 2 s (buffer/length $len = 20 buffers of 2000)" \
		[ "$len" = 40000 ]
	labdaq stop "$DEV" >"$W/stopcmd.out" 2>&1
	src=$?
	note "labdaq stop: exit $src: $(tr '\n' ' ' <"$W/stopcmd.out" | head -c 200)"
	wait_pid $pid 20
	note "the run: exit $wait_rc: $(tail -n 1 "$W/stop.out")"
	summary stop
	check "labdaq stop $DEV: exit 0, says it stopped" \
		eval '[ $src -eq 0 ] && grep -qi stopped "$W/stopcmd.out"'
	check "  ... the run exits 0" [ "$wait_rc" -eq 0 ]
	check "  ... status stopped, written = acquired = rows, nothing dropped" run_ok stop stopped
	check "  ... the data: n and ~n from 0, no gap, byte for byte" \
		counter_data "$W/stop.npy" "$(json_num "$W/stop.json" written)"
	keep stop counter
else
	not_ok "a continuous run writes 20000 samples within 20 s"
	kill -9 $pid
	wait $pid
fi

# 2. SIGINT
bg int
if wait_written int 20000 20; then
	kill -INT $pid
	wait_pid $pid 20
	note "the run after SIGINT: exit $wait_rc: $(tail -n 1 "$W/int.out")"
	summary int
	check "SIGINT: the run exits 0" [ "$wait_rc" -eq 0 ]
	check "  ... status stopped, written = acquired = rows, nothing dropped" run_ok int stopped
	check "  ... the data: n and ~n from 0, no gap, byte for byte" \
		counter_data "$W/int.npy" "$(json_num "$W/int.json" written)"
	keep int counter
else
	not_ok "a continuous run writes 20000 samples within 20 s"
	kill -9 $pid
	wait $pid
fi

# 3. labdaq stop --abort: status aborted, exit 130, the file still valid
bg abort
if wait_written abort 20000 20; then
	labdaq stop --abort "$DEV" >/dev/null 2>&1
	wait_pid $pid 20
	summary abort
	abort_ok() {
		w=$(json_num "$W/abort.json" written)
		[ "$wait_rc" -eq 130 ] && [ "$(json_str "$W/abort.json" status)" = aborted ] &&
			[ "$(npy_rows "$W/abort.npy")" = "$w" ] && counter_data "$W/abort.npy" "$w"
	}
	check "labdaq stop --abort: exit 130, status aborted, the rows written exact" abort_ok
else
	not_ok "a continuous run writes 20000 samples within 20 s"
	kill -9 $pid
	wait $pid
fi

# The device is free again: a short run works
labdaq acquire "$DEV" --samples 2000 --rate 20k -o "$W/after.npy" >/dev/null 2>&1
rc=$?
check "after the stops, a new run works (complete, exact)" \
	eval '[ $rc -eq 0 ] && run_ok after complete && counter_data "$W/after.npy" 2000'
echo ohm >"$dev/mode"
echo 1000 >"$dev/sampling_frequency"
check "kernel clean after the stops" kernel_clean
exit 0
