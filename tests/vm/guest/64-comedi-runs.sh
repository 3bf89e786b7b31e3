# 64-comedi-runs.sh - a comedi run behaves as with the other backends: one
# run per board whatever the URI's spelling (the second names the first),
# a board another program is using, Ctrl-C, labdaq stop, abort, kill -9 +
# recover; comedi_cancel always leaves the subdevice idle for the next run.
. /tests/lib.sh
. /tests/comedi-lib.sh
need_comedi "stop, abort, exclusivity, kill -9 on comedi"
dmesg_mark

# bg NAME DEVICE: a continuous run at 20 kHz of ai0,ai1 in the background
bg() {
	labdaq acquire "$2" --continuous --rate 20k -C ai0,ai1 --progress none \
		-o "$W/$1.npy" >"$W/$1.out" 2>&1 &
	pid=$!
	wait_running "$1" 10
}

bg ctrlc $DEV0
sleep 1
kill -INT $pid
wait_pid $pid 10
rc=$wait_rc
summary ctrlc
check "Ctrl-C (SIGINT): exit 0" [ $rc -eq 0 ]
check "  ... status stopped, every sample acquired is in the file" file_ok ctrlc stopped 2
keep ctrlc wave 1.0 0.1

bg other $DEV0
first=$pid
labdaq acquire comedi:/dev/comedi0 --samples 100 -C ai0 --progress none -o "$W/second.npy" \
	>"$W/second.out" 2>&1
rc=$?
note "second run: exit $rc: $(tr '\n' ';' <"$W/second.out" | head -c 300)"
check "a second run on comedi:/dev/comedi0 while comedi:0 streams: refused (exit 4), naming pid $first" \
	sh -c "[ $rc -eq 4 ] && grep -q 'pid $first' $W/second.out && [ ! -e $W/second.npy ]"
labdaq sweep comedi:/dev/comedi0?range=1 --set ao0 --from 0 --to 1 --points 2 -o "$W/sweep2.csv" \
	>"$W/sweep2.out" 2>&1
rc=$?
check "  ... and a sweep on the same board too (exit 4)" [ $rc -eq 4 ]
labdaq stop comedi:/dev/comedi0 >"$W/stop.out" 2>&1
rc=$?
wait_pid $first 10
note "labdaq stop: exit $rc: $(tr '\n' ';' <"$W/stop.out"); the run: exit $wait_rc"
check "labdaq stop comedi:/dev/comedi0 stops the run on comedi:0: stopped, exit 0" \
	sh -c "[ $rc -eq 0 ] && [ $wait_rc -eq 0 ] && grep -q '\"status\": \"stopped\"' $W/other.json"

# Another program's command on the board (a labdaq with other locks): the
# kernel says busy, and labdaq says who it can.
LABDAQ_LOCK_DIR=/tmp/other-locks labdaq acquire $DEV0 --continuous --rate 10k -C ai0 \
	--progress none -o "$W/foreign.npy" >"$W/foreign.out" 2>&1 &
fpid=$!
wait_running foreign 10
labdaq acquire $DEV0 --samples 100 -C ai0 --progress none -o "$W/busy.npy" >"$W/busy.out" 2>&1
rc=$?
note "while another program's command runs: exit $rc: $(tr '\n' ';' <"$W/busy.out" | head -c 300)"
check "a board another program is streaming from: refused with 'busy: another program', no file left" \
	sh -c "[ $rc -ne 0 ] && grep -q 'busy: another program runs a command' $W/busy.out && [ ! -e $W/busy.npy ]"
kill -TERM $fpid
wait_pid $fpid 10

bg abort $DEV0
sleep 1
kill -INT $pid
kill -INT $pid
wait_pid $pid 10
rc=$wait_rc
summary abort
abort_ok() {
	st=$(json_str "$W/abort.json" status)
	w=$(json_num "$W/abort.json" written)
	{ [ $rc -eq 130 ] && [ "$st" = aborted ]; } || { [ $rc -eq 0 ] && [ "$st" = stopped ]; } &&
		[ "$(npy_rows "$W/abort.npy")" = "$w" ] &&
		[ "$(wc -c <"$W/abort.npy")" -eq $((4096 + 4 * w)) ]
}
check "Ctrl-C twice: aborted, exit 130 (or already stopped, 0), the file valid" abort_ok

bg killed $DEV0
sleep 1.5
kill -9 $pid
wait $pid 2>/dev/null
labdaq recover "$W/killed.npy" >"$W/recover.out" 2>&1
rc=$?
note "recover: exit $rc: $(tr '\n' ';' <"$W/recover.out")"
check "kill -9, then labdaq recover: exit 0, the file marked recovered" \
	sh -c "[ $rc -eq 0 ] && grep -q '\"status\": \"recovered\"' $W/killed.json"
keep killed recovered
labdaq acquire $DEV0 --rate 20k --samples 4000 -C ai0,ai1 --progress none -o "$W/after9.npy" \
	>"$W/after9.out" 2>&1
rc=$?
check "  ... the next run finds the board idle (the kernel cancelled on close): complete" \
	sh -c "[ $rc -eq 0 ] && grep -q '\"status\": \"complete\"' $W/after9.json"
check "the kernel log stays clean" kernel_clean
exit 0
