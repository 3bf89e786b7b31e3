#!/usr/bin/env bash
# test_exclusive.sh - one run per device across processes and users, no
# stale locks, labdaq stop from another process.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

CAM='sim:camera?width=64&height=48'

# wait_written JSON: until a checkpoint shows data (a failing check after 30 s).
wait_written() { wait_for_json "$1" "m['written'] > 0" 30; }

# csv_has_rows CSV: the sweep wrote at least one data row.
csv_has_rows() { grep -q '^[0-9]' "$1"; }

# 1. A second run on a busy device is refused at once, naming the holder.
run_bg a labdaq acquire "$CAM" --continuous --rate 200 -o "$T/a.npy"
apid=$BG_PID
wait_written "$T/a.json"
start=$SECONDS
run busy labdaq acquire 'sim:camera?width=32&height=32' --frames 10 -o "$T/b.npy"
is "second run on a busy device: exit 4" "$RC" 4
if [ $((SECONDS - start)) -le 5 ]; then ok "second run refused at once"; else not_ok "second run refused at once"; fi
check_grep "the refusal names the holder's pid" "$T/busy.err" "pid $apid"
check_grep "the refusal names the user, the run id and since when" "$T/busy.err" \
	"user $(id -un) has run [0-9]+-$apid-[0-9a-f]+ on it since 20[0-9-]+T"
check_grep "the refusal names what the holder runs" "$T/busy.err" "acquire .*a\.npy"
if [ ! -e "$T/b.npy" ] && [ ! -e "$T/b.json" ]; then ok "the refused run created no file"; else not_ok "the refused run created no file"; fi
run_bg adc labdaq acquire 'sim:adc?channels=2' --samples 2000 --rate 10k -o "$T/adc.npy"
wait_pid "$BG_PID" 30
is "a run on another device goes on meanwhile: exit 0" "$RC" 0

# 2. labdaq stop from another process: STOPPED with everything acquired.
run stop labdaq stop sim:camera
is "labdaq stop DEVICE (matched without parameters): exit 0" "$RC" 0
check_grep "labdaq stop prints how the run ended" "$T/stop.out" "stopped: [0-9]+ acquired, [0-9]+ written, 0 dropped"
wait_pid "$apid" 10
is "the stopped run: exit 0" "$RC" 0
check "the stopped run: every frame exact, indices 0..n-1" \
	CHECK frames "$T/a.npy" --width 64 --height 48 --contiguous --min-count 1
check "the stopped run's sidecar: stopped, written == acquired == the header's count, nothing dropped" \
	CHECK expr --json "$T/a.json" --npy "$T/a.npy" "m['status'] == 'stopped'" \
	"m['written'] == m['acquired'] == n > 0" "m['dropped'] == 0"
run stop_none labdaq stop sim:camera
is "labdaq stop on a free device: exit 5" "$RC" 5
check_grep "labdaq stop on a free device says so" "$T/stop_none.err" "no run holds"

# 3. kill -9 of the holder: the device is free again at once.
run_bg k labdaq acquire "$CAM" --continuous --rate 100 -o "$T/k.npy"
kpid=$BG_PID
wait_written "$T/k.json"
kill -KILL "$kpid"
wait_pid "$kpid" 10 "the holder killed with SIGKILL"
run after_kill labdaq acquire "$CAM" --frames 5 -o "$T/after_kill.npy"
is "after kill -9 of the holder, a new run starts at once: exit 0" "$RC" 0

# 4. A run that fails releases the device.
run fail labdaq acquire "$CAM&fail_after=3" --frames 100 -o "$T/fail.npy"
is "a failing run: exit 1" "$RC" 1
run after_fail labdaq acquire "$CAM" --frames 5 -o "$T/after_fail.npy"
is "after a failed run the device is free: exit 0" "$RC" 0

# 5. stop --abort, and stop --all.
LABDAQ_TEST_WRITE_DELAY_US=20000 run_bg ab labdaq acquire "$CAM" --continuous --rate 0 --ring 1M -o "$T/ab.npy"
abpid=$BG_PID
wait_written "$T/ab.json"
run abort labdaq stop --abort "$CAM"
is "labdaq stop --abort: exit 0" "$RC" 0
wait_pid "$abpid" 20
is "the aborted run: exit 130" "$RC" 130
check "the aborted run: status aborted, written + dropped == acquired" \
	CHECK expr --json "$T/ab.json" "m['status'] == 'aborted'" "m['written'] + m['dropped'] == m['acquired']"
run_bg s1 labdaq acquire "$CAM" --continuous --rate 50 -o "$T/s1.npy"
p1=$BG_PID
run_bg s2 labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 100000 --delay 10ms -o "$T/s2.csv"
p2=$BG_PID
wait_written "$T/s1.json"
wait_until "the sweep's first row in s2.csv" 10 csv_has_rows "$T/s2.csv"
run all labdaq stop --all
is "labdaq stop --all: exit 0" "$RC" 0
wait_pid "$p1" 10
r1=$RC
wait_pid "$p2" 10
r2=$RC
is "stop --all stopped the stream and the sweep" "$r1 $r2" "0 0"
check_grep "stop --all reports the stream" "$T/all.out" "sim:camera"
check_grep "stop --all reports the sweep" "$T/all.out" "sim:ohm"

# 6. Who may stop whom: the kernel's rule for signals.
if [ "$(id -u)" -ne 0 ] || ! command -v runuser >/dev/null; then
	skip "stopping another user's run needs root and runuser to play two users"
else
	chmod 0755 "$T"
	mkdir -m 1777 "$T/shared"
	chmod 1777 "$LABDAQ_LOCK_DIR"
	runuser -u nobody -- env LABDAQ_LOCK_DIR="$LABDAQ_LOCK_DIR" "$LABDAQ" acquire "$CAM" \
		--continuous --rate 20 -o "$T/shared/nobody.npy" >"$T/nb.out" 2>"$T/nb.err" &
	nbpid=$!
	_bg_pids+=("$nbpid")
	wait_written "$T/shared/nobody.json"
	runuser -u daemon -- env LABDAQ_LOCK_DIR="$LABDAQ_LOCK_DIR" "$LABDAQ" stop sim:camera \
		>"$T/deny.out" 2>"$T/deny.err"
	is "another user's labdaq stop is refused: exit 1" "$?" 1
	check_grep "the refusal says permission denied and names the owner" "$T/deny.err" "permission denied.*nobody"
	if kill -0 "$nbpid" 2>/dev/null; then ok "the run goes on after the refusal"; else not_ok "the run goes on after the refusal"; fi
	runuser -u daemon -- env LABDAQ_LOCK_DIR="$LABDAQ_LOCK_DIR" "$LABDAQ" acquire "$CAM" --frames 3 \
		-o "$T/shared/daemon.npy" >"$T/d.out" 2>"$T/d.err"
	is "another user's run on the busy device: exit 4" "$?" 4
	run rootstop labdaq stop sim:camera
	is "root stops it: exit 0" "$RC" 0
	wait_pid "$nbpid" 10
	is "nobody's run ended: exit 0" "$RC" 0
fi

finish
