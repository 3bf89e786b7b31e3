# 62-comedi-overrun.sh - a kernel buffer overflow is never silent: a tiny
# buffer (--kernel-buffer 4k, the URI's buffer=4096) and the process stopped (SIGSTOP) for a second end
# the run FAILED, the file valid, the message saying what to raise; the
# next run finds the subdevice idle.
. /tests/lib.sh
. /tests/comedi-lib.sh
need_comedi "kernel buffer overflow"
dmesg_mark

labdaq acquire $DEV0 --kernel-buffer 4k --continuous --rate 100k -C ai0,ai1 --progress none \
	-o "$W/ovr.npy" >"$W/ovr.out" 2>&1 &
pid=$!
wait_running ovr 10
sleep 0.5
kill -STOP $pid
sleep 1
kill -CONT $pid
wait_pid $pid 20
rc=$wait_rc
note "overflow run: exit $rc: $(tr '\n' ';' <"$W/ovr.out" | head -c 400)"
summary ovr
check "--kernel-buffer 4k and SIGSTOP for 1 s: the run ends by itself, exit 1" [ $rc -eq 1 ]
ovr_ok() {
	j=$W/ovr.json
	[ "$(json_str "$j" status)" = failed ] &&
		tr -d '\n' <"$j" | grep -q '"message": "[^"]*kernel buffer (4096 bytes) overflowed[^"]*raise the kernel buffer' &&
		[ "$(npy_rows "$W/ovr.npy")" = "$(json_num "$j" written)" ] &&
		[ "$(wc -c <"$W/ovr.npy")" -eq $((4096 + 4 * $(json_num "$j" written))) ]
}
check "  ... status failed, the error says the kernel buffer overflowed and to raise it; rows = written" ovr_ok
check "  ... labdaq said so on stderr, with its option's hint (--kernel-buffer)" \
	sh -c "grep -q 'overflowed' $W/ovr.out && grep -q -- '--kernel-buffer SIZE raises' $W/ovr.out"
keep ovr failed
labdaq acquire $DEV0 --rate 20k --samples 20000 -C ai0,ai1 --progress none \
	-o "$W/after.npy" >"$W/after.out" 2>&1
rc=$?
check "the next run finds the subdevice idle (comedi_cancel ran): complete" \
	sh -c "[ $rc -eq 0 ] && grep -q '\"status\": \"complete\"' $W/after.json"
keep after wave 1.0 0.1
check "the kernel log stays clean" kernel_clean
exit 0
