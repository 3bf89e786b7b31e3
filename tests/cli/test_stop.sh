#!/usr/bin/env bash
# test_stop.sh - stopping a run: SIGINT and SIGTERM stop it (the ring is
# drained, nothing acquired is lost, status "stopped", exit 0); a second
# SIGINT aborts it (exit 130, status "aborted", what was not written is
# counted as dropped); the file is valid and exact in every case.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

W=64 H=48
CAM="sim:camera?width=$W&height=$H"

# stopped_checks NAME: the checks of a run that a stop ended.
stopped_checks() {
	local name=$1 what=$2
	check "$what: status stopped, written == acquired > 0, dropped 0, header == written" \
		CHECK expr --json "$T/$name.json" --npy "$T/$name.npy" "m['status'] == 'stopped'" \
		"m['acquired'] > 0" "m['written'] == m['acquired']" "m['dropped'] == 0" \
		"m['gaps'] == []" "n == m['written']" "m['ended_utc'] is not None"
	check "$what: every frame 0..written-1 on file and exact" \
		CHECK frames "$T/$name.npy" --width $W --height $H --json "$T/$name.json" --contiguous
}

# ---- SIGINT on a paced continuous run -------------------------------------
run_bg int labdaq acquire "$CAM" --continuous --rate 200 -o "$T/int.npy"
pid=$BG_PID
wait_for_json "$T/int.json" "m['written'] > 0" 30 && ok "SIGINT run: a checkpoint shows written > 0"
# numpy.load(mmap_mode='r') works during the run: the last checkpoint's
# frames, exact.
check "during the run: numpy.load(mmap_mode='r') gives the checkpoint's frames, all exact" \
	CHECK frames "$T/int.npy" --width $W --height $H --contiguous --min-count 1
check "during the run: the sidecar says running, no end time" \
	CHECK expr --json "$T/int.json" "m['status'] == 'running'" "m['ended_utc'] is None"
kill -INT "$pid"
wait_pid "$pid" 30
is "SIGINT once: exit 0" "$RC" 0 || diag <"$T/int.err"
stopped_checks int "SIGINT once"
check_grep "SIGINT once: stderr says it is stopping" "$T/int.err" 'stopping'

# ---- SIGTERM ----------------------------------------------------------------
run_bg term labdaq acquire "$CAM" --continuous --rate 200 --progress json -o "$T/term.npy"
pid=$BG_PID
wait_for_progress "$T/term.err" "p['acquired'] > 0" 30
kill -TERM "$pid"
wait_pid "$pid" 30
is "SIGTERM: exit 0" "$RC" 0 || diag <"$T/term.err"
stopped_checks term "SIGTERM"
check "SIGTERM: the last progress line is final, 'stopped', and agrees with the sidecar" \
	CHECK progress "$T/term.err" "$T/term.json"

# ---- SIGINT with a backlog: the stop drains the ring -----------------------
# A slow writer (100 ms after each write of at most ring/4) behind a
# producer at full speed: when the stop comes, the ring is full and the
# drain takes a while.  Nothing may be lost.
LABDAQ_TEST_WRITE_DELAY_US=100000 run_bg drain labdaq acquire "$CAM" --continuous --rate 0 \
	--ring 1M --progress json -o "$T/drain.npy"
pid=$BG_PID
wait_for_progress "$T/drain.err" "p['acquired'] > p['written'] + 100" 30
kill -INT "$pid"
wait_pid "$pid" 60
is "SIGINT with a full ring: exit 0" "$RC" 0 || diag <"$T/drain.err"
stopped_checks drain "SIGINT with a full ring"
check "SIGINT with a full ring: the drain wrote what was still in the ring" \
	"$PY" -c '
import json, sys
ps = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
m = json.load(open(sys.argv[2]))
# Some progress line before the end saw a backlog that the end has written.
assert any(p["acquired"] > p["written"] for p in ps[:-1]), "never a backlog"
assert m["written"] == m["acquired"], m
' "$T/drain.err" "$T/drain.json"

# ---- SIGINT twice: abort -----------------------------------------------------
# The same backlog, but a slower writer (0.5 s after each write of 64 KiB
# of a 256 KiB ring): the first SIGINT starts a drain of about 2 s, the
# second, sent once the first was handled, aborts it.  Standard signals do
# not queue: the second is sent after the tool said it is stopping.
LABDAQ_TEST_WRITE_DELAY_US=500000 run_bg abort labdaq acquire "$CAM" --continuous --rate 0 \
	--ring 256k -o "$T/abort.npy"
pid=$BG_PID
wait_for_json "$T/abort.json" "m['written'] > 0" 30
kill -INT "$pid"
wait_until "the first SIGINT's 'stopping' on stderr" 30 grep -q stopping "$T/abort.err"
kill -INT "$pid"
wait_pid "$pid" 60
is "SIGINT twice: exit 130" "$RC" 130 || diag <"$T/abort.err"
check_grep "SIGINT twice: stderr says it is aborting" "$T/abort.err" 'abort'
check "SIGINT twice: status aborted, written + dropped == acquired, dropped > 0, header == written" \
	CHECK expr --json "$T/abort.json" --npy "$T/abort.npy" "m['status'] == 'aborted'" \
	"m['written'] + m['dropped'] == m['acquired']" "m['dropped'] > 0" "m['written'] > 0" \
	"n == m['written']" "size == 4096 + n * $W * $H * 2" "m['ended_utc'] is not None"
check "SIGINT twice: the file is valid and every frame in it exact" \
	CHECK frames "$T/abort.npy" --width $W --height $H --contiguous --min-count 1
# docs/file-format.md: when a run has ended (any final status but
# recovered) "the gap counts add up to dropped": an abort's discarded tail
# must be recorded as a gap.
check "SIGINT twice: the discarded items are recorded as a gap (gap counts add up to dropped)" \
	CHECK expr --json "$T/abort.json" "gapsum == m['dropped']" \
	"m['gaps'] == [] or m['gaps'][-1]['index'] + m['gaps'][-1]['count'] == m['acquired']"

# ---- a stop during a device stall ----------------------------------------------
# stall_after=20 (blocks are frames): the read after frame 20 sleeps 60 s
# unless cancelled.  A stop must end the run at once.
run_bg stall labdaq acquire "$CAM&stall_after=20&stall_ms=60000" --continuous --rate 100 \
	--progress json -o "$T/stall.npy"
pid=$BG_PID
wait_for_progress "$T/stall.err" "p['acquired'] >= 20" 30
sleep 0.5 # into the stall (nothing to poll: the device is silent)
t0=$SECONDS
kill -INT "$pid"
wait_pid "$pid" 20
is "stop during a 60 s device stall: exit 0 within 20 s" "$RC" 0 || diag <"$T/stall.err"
diag "stall: stopped in about $((SECONDS - t0)) s"
check "stop during a stall: stopped with the 20 frames before the stall, exact" \
	CHECK expr --json "$T/stall.json" --npy "$T/stall.npy" "m['status'] == 'stopped'" \
	"m['acquired'] == m['written'] == n == 20" "m['dropped'] == 0"
check "stop during a stall: frames 0..19 exact" \
	CHECK frames "$T/stall.npy" --width $W --height $H --count 20 --contiguous

finish
