# 85-usb-runs.sh - a usb run ended by its user, as the other backends' are
# (64-comedi-runs.sh, 70-v4l2.sh): Ctrl-C (stopped, exit 0), labdaq stop
# --abort (aborted, exit 130; two Ctrl-C sent at once are one signal, so
# they would test the stop again), kill -9 then labdaq recover; each file
# holds the board's counter from its first sample, as many as the sidecar
# says, and after each the board is free: the next run completes.
. /tests/lib.sh
. /tests/usb-lib.sh

need_gadget "usb runs ended by their user"
need_labdaq_usb "usb runs ended by their user"
dmesg_mark

URI="usb:fx2lafw?fifo=$LAFIFO"

# bg NAME: a run of D0-D7 at 200 kHz in the background ($pid), running
bg() {
	rm -f "$W/$1.npy" "$W/$1.json" "$W/$1.gaps.npy"
	labdaq acquire "$URI" -C D0-D7 --rate 200000 --continuous --progress none \
		-o "$W/$1.npy" >"$W/$1.out" 2>&1 &
	pid=$!
	wait_running "$1" 10
}

# counter NAME: NAME.npy's header rows == the sidecar's written == what
# the file holds, and that is the counter from 0
counter() {
	w_=$(json_num "$W/$1.json" written)
	npy_payload "$W/$1.npy" >"$W/$1.bin"
	[ -n "$w_" ] && [ "$(npy_rows "$W/$1.npy")" = "$w_" ] &&
		[ "$(wc -c <"$W/$1.bin")" -eq "$w_" ] && same_as_pattern "$W/$1.bin" u8 "$w_"
}

# next NAME: a counted run right after completes with the counter
next_ok() {
	la_run "$1" "$URI" -C D0-D7 --rate 200000 --samples 50000
	run_complete "$1" 50000 && rc_and_pattern_npy "$1" u8
}

gadget_start fx2lafw || not_ok "board plugged in"

bg ctrlc
sleep 1
kill -INT $pid
wait_pid $pid 10
rc=$wait_rc
note "Ctrl-C: exit $rc; $(summary ctrlc)"
check "usb, Ctrl-C (SIGINT): exit 0, status stopped" \
	sh -c "[ $rc -eq 0 ] && [ '$(json_str "$W/ctrlc.json" status)' = stopped ]"
check "  ... the file holds the counter, every sample the sidecar counts" counter ctrlc
check "  ... the next run completes, the counter" next_ok after_ctrlc

bg abort
sleep 1
labdaq stop --abort usb:fx2lafw >"$W/stop.out" 2>&1
src=$?
wait_pid $pid 10
rc=$wait_rc
note "labdaq stop --abort: exit $src; the run: exit $rc; $(summary abort)"
check "usb, labdaq stop --abort: the run ends aborted, exit 130 (stop: exit $src)" \
	sh -c "[ $src -eq 0 ] && [ $rc -eq 130 ] && [ '$(json_str "$W/abort.json" status)' = aborted ]"
check "  ... the file valid: the counter, as many samples as the sidecar says" counter abort
check "  ... the next run completes, the counter" next_ok after_abort

bg killed
sleep 1.5
kill -9 $pid
wait $pid 2>/dev/null
labdaq recover "$W/killed.npy" >"$W/recover.out" 2>&1
rc=$?
note "kill -9, recover: exit $rc: $(tr '\n' ';' <"$W/recover.out" | head -c 300)"
check "usb, kill -9 then labdaq recover: exit 0, status recovered" \
	sh -c "[ $rc -eq 0 ] && [ '$(json_str "$W/killed.json" status)' = recovered ]"
check "  ... the recovered file holds the counter, as many samples as the sidecar says" \
	counter killed
check "  ... the next run completes (the kernel released the interface), the counter" \
	next_ok after_kill

gadget_stop
check "kernel log clean after the usb runs" usb_kernel_clean
exit 0
