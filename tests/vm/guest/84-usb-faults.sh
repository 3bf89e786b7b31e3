# 84-usb-faults.sh - labdaq's usb backend when things go wrong: the board
# unplugged mid-run (the gadget unbound from the UDC), a rate the emulated
# bus cannot carry, a second run on a board that is in use.
. /tests/lib.sh
. /tests/usb-lib.sh

need_gadget "labdaq's usb faults"
need_labdaq_usb "labdaq's usb faults"
dmesg_mark

# Unplug mid-run: FAILED, a valid file of what came, within a second.
gadget_start fx2lafw || not_ok "board plugged in for the unplug"
la_bg() {
	rm -f $W/$1.npy $W/$1.json
	n_=$1
	shift
	labdaq acquire "$@" -o $W/$n_.npy --progress none >$W/$n_.out 2>$W/$n_.err &
	LPID=$!
}
la_bg unplug "usb:fx2lafw?fifo=$LAFIFO" -C D0-D7 --rate 200000 --samples 100000000
wait_for 10 sh -c "[ \"\$(grep '^sent=' $GSTATS | cut -d= -f2)\" -gt 100000 ]"
t0=$(cut -d' ' -f1 /proc/uptime)
echo "" >"$(gadget_udc)"
# wait for labdaq, 10 s at most
i=0
while kill -0 $LPID 2>/dev/null && [ $i -lt 100 ]; do
	sleep 0.05
	i=$((i + 1))
done
t1=$(cut -d' ' -f1 /proc/uptime)
if kill -0 $LPID 2>/dev/null; then
	not_ok "unplugged mid-run: labdaq ended (still running after 5 s)"
	kill -9 $LPID
	wait $LPID
else
	wait $LPID
	RC=$?
	ms=$(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%d", (b - a) * 1000 }')
	note "unplug: labdaq exit $RC after $ms ms; $(summary unplug); $(tail -n 2 $W/unplug.err | tr '\n' ';')"
	check "unplugged mid-run: labdaq ends within a second ($ms ms), exit 1" \
		[ $RC -eq 1 -a "$ms" -le 1000 ]
	st_=$(sed -n 's/^  "status": "\(.*\)",$/\1/p' $W/unplug.json)
	w_=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $W/unplug.json)
	note "unplug: sidecar error: $(grep -A 3 '"error"' $W/unplug.json | tr -s ' \n' ' ' | head -c 200)"
	check "unplugged mid-run: the sidecar says failed, with an error code and message" \
		sh -c "[ '$st_' = failed ] && grep -q '\"code\": [1-9]' $W/unplug.json && grep -q '\"message\": \"..*\"' $W/unplug.json"
	npy_payload $W/unplug.npy >$W/unplug.bin
	check "unplugged mid-run: a valid file of everything received: $w_ samples, the counter" \
		sh -c "[ -n '$w_' ] && [ '$w_' -gt 0 ] && [ \$(wc -c <$W/unplug.bin) -eq '$w_' ]" 
	[ -n "$w_" ] && [ "$w_" -gt 0 ] && check "unplugged mid-run: the $w_ samples are the counter" \
		same_as_pattern $W/unplug.bin u8 "$w_"
	check "labdaq inspect: the unplugged run's file reads" labdaq inspect $W/unplug.npy
fi
gadget_stop

# A rate the bus cannot carry (24 MHz, 24 MB/s, over a bus held to 4 MB/s
# by the gadget's --bus-limit; the emulated bus alone carries anything from
# 3 to 25 MB/s, depending on the machine): the gadget (with a 256 KiB FIFO,
# so that its loss falls inside the run) loses samples; labdaq must then say
# so, in its exit status and its sidecar, never hand over a silent gap.
gadget_start fx2lafw --fifo 262144 --bus-limit 4000000 || not_ok "board plugged in for the loss check"
la_run loss "usb:fx2lafw?fifo=$((262144 + 65536))" -C D0-D7 --rate 24000000 --samples 8000000
sleep 0.2
note "24 MHz: labdaq exit $RC; $(summary loss); gadget sent $(gstat sent), lost $(gstat lost) in $(gstat overflows) overflows; $(tail -n 2 $W/loss.err | tr '\n' ';')"
npy_payload $W/loss.npy >$W/loss.bin
w_=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $W/loss.json)
gap=no
[ -n "$w_" ] && [ "$w_" -gt 0 ] && ! same_as_pattern $W/loss.bin u8 "$w_" && gap=yes
note "24 MHz: labdaq's file holds a gap: $gap ($(head -c 100 $W/cmp.txt))"
if [ $gap = yes ]; then
	d_=$(sed -n 's/^  "dropped": \([0-9]*\),$/\1/p' $W/loss.json)
	if [ $RC -eq 3 -a "${d_:-0}" -gt 0 ] ||
		{ [ $RC -ne 0 ] && ! grep -q '"status": "complete"' $W/loss.json; }; then
		ok "24 MHz, more than the bus carries: the gap in labdaq's file is reported (exit $RC, dropped ${d_:-?}; the gadget lost $(gstat lost))"
	else
		not_ok "24 MHz, more than the bus carries: the gap in labdaq's file is reported (exit $RC, dropped ${d_:-?}: a silent gap)"
	fi
else
	check "24 MHz: labdaq's file is the gap-free counter, or the run says it is not" \
		sh -c "[ $RC -ne 0 ] || [ -n '$w_' ]"
fi
gadget_stop

# A short loss: the bus stalls once for 45 ms at 8 MHz (the gadget's
# --stall) with a 64 KiB FIFO: about 300000 samples (37 ms of the board's
# clock) are lost while labdaq's transfers were pending all along.  The
# check against the board's clock allows for what may still be on its way
# (fifo= and a partly filled transfer: 212000 samples here) and no latency;
# stream_read reports only what is beyond 20 ms more (372000), the end of
# the run the rest.  The loss must be reported (exit status 3, dropped > 0
# and at most what the board lost, a message naming the count), never a
# silent gap, and the file keeps what arrived.  (Until the check had no
# latency slack, this loss was silent: exit 0, dropped 0.)
gadget_start fx2lafw --fifo 65536 --stall 1000000:45 || not_ok "board plugged in for the short loss"
la_run short "usb:fx2lafw?fifo=$((65536 + 65536))" -C D0-D7 --rate 8000000 --samples 4000000
sleep 0.2
gl_=$(gstat lost)
note "short loss: labdaq exit $RC; $(summary short); gadget sent $(gstat sent), lost $gl_ in $(gstat overflows) overflows; $(grep -v '^ *$' $W/short.err | tail -n 2 | tr '\n' ';' | head -c 600)"
npy_payload $W/short.npy >$W/short.bin
w_=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $W/short.json)
d_=$(sed -n 's/^  "dropped": \([0-9]*\),$/\1/p' $W/short.json)
check "a 45 ms bus stall at 8 MHz with a 64 KiB FIFO: the board lost samples (${gl_:-?})" \
	[ "${gl_:-0}" -gt 65536 ]
check "a 45 ms bus stall at 8 MHz: labdaq's file holds what arrived ($w_ samples), with a gap" \
	sh -c "[ -n '$w_' ] && [ \$(wc -c <$W/short.bin) -eq '$w_' ] && ! same_as_pattern $W/short.bin u8 '$w_'"
check "a 45 ms bus stall at 8 MHz: the loss is reported: exit 3, dropped ${d_:-?} > 0 and at most the ${gl_:-?} the board lost" \
	[ "$RC" -eq 3 -a "${d_:-0}" -gt 0 -a "${d_:-0}" -le "${gl_:-0}" ]
check "a 45 ms bus stall at 8 MHz: the message names the samples lost" \
	grep -q "at least ${d_:-x} samples" $W/short.err
gadget_stop

# Two runs: the second is refused, naming the first.
gadget_start fx2lafw || not_ok "board plugged in for two runs"
la_bg first "usb:fx2lafw?fifo=$LAFIFO" -C D0-D7 --rate 100000 --samples 100000000
wait_for 10 sh -c "[ \"\$(grep '^sent=' $GSTATS | cut -d= -f2)\" -gt 0 ]"
ba=$(usb_path 1d50:608c)
for u in usb:fx2lafw "usb:$ba"; do
	timeout 30 labdaq acquire "$u" -C D0-D7 --rate 100000 --samples 1000 \
		-o $W/second.npy --progress none >$W/second.out 2>$W/second.err
	rc=$?
	note "second run on $u: exit $rc: $(head -n 2 $W/second.err | tr '\n' ';')"
	check "a second run on $u is refused (exit 4), naming the first (pid $LPID)" \
		sh -c "[ $rc -eq 4 ] && grep -q '$LPID' $W/second.err"
done
# Which of the run's threads would take a SIGTERM (SigBlk without bit 15)?
sigterm_takers=
for t in /proc/$LPID/task/*; do
	blk=$(sed -n 's/^SigBlk:\t*//p' $t/status)
	[ $(( 0x$blk & 0x4000 )) -eq 0 ] && sigterm_takers="$sigterm_takers ${t##*/}($(cat $t/comm))"
done
note "the run's threads that do not block SIGTERM:${sigterm_takers:- none}"
labdaq stop usb:fx2lafw >$W/stop.out 2>&1
src=$?
wait $LPID
RC=$?
note "labdaq stop: exit $src: $(tr '\n' ';' <$W/stop.out | head -c 300)"
note "the first run: exit $RC; $(summary first); $(tail -n 3 $W/first.err | tr '\n' ';')"
stopped_ok() {
	grep -q '"status": "stopped"' $W/first.json && rc_and_pattern_npy first u8
}
check "labdaq stop ends a usb run (exit 0, status stopped), its file the counter" stopped_ok
check "no thread of a usb run takes SIGTERM with the default action (libusb's threads block it)" \
	[ -z "$sigterm_takers" ]
gadget_stop
check "kernel log clean after the faults" usb_kernel_clean
exit 0
