# 65-comedi-detach.sh - taking the board away during a run.  Linux 6.1
# refuses both while a command runs: comedi_config -r fails with EBUSY
# (is_device_busy), and comedi_test cannot be unloaded while a process has
# its board open (comedi_open holds a reference on the driver module).  So
# the run goes on unharmed and ends as asked; afterwards both succeed, and
# labdaq then reports the board missing.  Runs last: it detaches the boards.
. /tests/lib.sh
. /tests/comedi-lib.sh
need_comedi "detaching comedi boards"
dmesg_mark

labdaq acquire $DEV0 --continuous --rate 20k -C ai0,ai1 --progress none \
	-o "$W/det.npy" >"$W/det.out" 2>&1 &
pid=$!
wait_running det 10
sleep 0.5
comedi_config -r /dev/comedi0 >"$W/cfg.out" 2>&1
crc=$?
note "comedi_config -r during a run: exit $crc: $(tr '\n' ';' <"$W/cfg.out")"
check "comedi_config -r during a run: refused by the kernel (busy)" [ $crc -ne 0 ]
labdaq acquire $DEV1 --continuous --rate 20k -C ai0 --progress none \
	-o "$W/det1.npy" >"$W/det1.out" 2>&1 &
pid1=$!
wait_running det1 10
rmmod comedi_test >"$W/rmmod.out" 2>&1
mrc=$?
note "rmmod comedi_test during a run: exit $mrc: $(tr '\n' ';' <"$W/rmmod.out")"
check "rmmod comedi_test during a run: refused (in use)" [ $mrc -ne 0 ]
sleep 0.5
check "  ... both runs still going" sh -c "kill -0 $pid && kill -0 $pid1"
kill -TERM $pid $pid1
wait_pid $pid 10
rc=$wait_rc
wait_pid $pid1 10
rc1=$wait_rc
summary det
check "  ... then stopped: exit 0, files complete and valid" \
	sh -c "[ $rc -eq 0 ] && [ $rc1 -eq 0 ]"
check "  ... det.npy: stopped, every sample in the file" file_ok det stopped 2
keep det wave 1.0 0.1

check "comedi_config -r /dev/comedi0 once the run ended" comedi_config -r /dev/comedi0
labdaq info $DEV0 >"$W/gone.out" 2>&1
rc=$?
note "info of the detached board: exit $rc: $(head -n 1 "$W/gone.out")"
check "  ... labdaq info comedi:0: no device, 'not attached to a driver' (exit 2)" \
	sh -c "[ $rc -eq 2 ] && grep -q 'not attached to a driver' $W/gone.out"
check "rmmod comedi_test once the runs ended" rmmod comedi_test
labdaq list >"$W/list2.out" 2>&1
check "  ... labdaq list no longer shows a comedi board" sh -c "! grep -q '^comedi:' $W/list2.out"
check "the kernel log stays clean" kernel_clean
exit 0
