#!/usr/bin/env bash
# test_faults.sh - what can go wrong: a full ring (drop and block policies
# behind a slow writer), a full disk, a lost device, a hardware overrun.
# Nothing may be lost without being recorded: the gaps must match exactly
# the frame indices missing from the file, and the file stays valid.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

W=64 H=48 # 6 KiB frames
FB=$((W * H * 2))
CAM="sim:camera?width=$W&height=$H"

# ended_checks NAME WHAT: the invariants of docs/file-format.md for a run
# that ended (any final status but recovered).
ended_checks() {
	check "$2: written + dropped == acquired, gap counts add up to dropped, header == written" \
		CHECK expr --json "$T/$1.json" --npy "$T/$1.npy" \
		"m['written'] + m['dropped'] == m['acquired']" "gapsum == m['dropped']" \
		"n == m['written']" "size == 4096 + n * ib" \
		"m['ended_utc'] is not None" \
		"all(a['index'] + a['count'] < b['index'] for a, b in zip(m['gaps'], m['gaps'][1:]))"
}

# ---- full ring, drop policy --------------------------------------------------
# A 64 KiB ring holds 10 frames; the writer sleeps 2 ms after each write
# of at most 16 KiB.  As fast as possible, the producer fills the ring at
# once and drops nearly everything after it.
LABDAQ_TEST_WRITE_DELAY_US=2000 run drop0 labdaq acquire "$CAM" --ring 64k --rate 0 \
	--frames 2000 --on-full drop -o "$T/drop0.npy"
is "drop policy, --rate 0, slow writer: exit 3 (finished, data dropped)" "$RC" 3 ||
	diag <"$T/drop0.err"
check "drop policy, --rate 0: complete, 2000 acquired, gaps non-empty, policy drop" \
	CHECK expr --json "$T/drop0.json" "m['status'] == 'complete'" "m['acquired'] == 2000" \
	"len(m['gaps']) >= 1" "m['dropped'] > 0" "m['ring']['policy'] == 'drop'" \
	"m['ring']['capacity_bytes'] == 65536" "m['ring']['high_water_bytes'] <= 65536"
ended_checks drop0 "drop policy, --rate 0"
check "drop policy, --rate 0: the frames on file are 0..1999 minus the gaps, in order, exact" \
	CHECK frames "$T/drop0.npy" --width $W --height $H --json "$T/drop0.json" --min-count 1

# Paced at 4000 frames/s (24 MB/s) against a writer of at most 8 MB/s: the
# ring fills and empties over and over, many gaps between written runs.
LABDAQ_TEST_WRITE_DELAY_US=2000 run drop1 labdaq acquire "$CAM" --ring 64k --rate 4000 \
	--frames 2000 --on-full drop --progress json -o "$T/drop1.npy"
is "drop policy, paced 4000/s, slow writer: exit 3" "$RC" 3 || diag <"$T/drop1.err"
check "drop policy, paced: 2000 acquired, some written, some dropped" \
	CHECK expr --json "$T/drop1.json" "m['status'] == 'complete'" "m['acquired'] == 2000" \
	"m['written'] > 0" "m['dropped'] > 0"
diag "$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print("paced drop run: %d written, %d dropped in %d gaps" % (m["written"], m["dropped"], len(m["gaps"])))' "$T/drop1.json")"
ended_checks drop1 "drop policy, paced"
check "drop policy, paced: the frame indices on file are exactly 0..1999 minus every gap, exact bytes" \
	CHECK frames "$T/drop1.npy" --width $W --height $H --json "$T/drop1.json" --min-count 1
check "drop policy, paced: the final progress line counts the same drops and gaps" \
	CHECK progress "$T/drop1.err" "$T/drop1.json"

# Samples: 4 int16 channels (8-byte items), blocks of at most ring/4.
LABDAQ_TEST_WRITE_DELAY_US=2000 run adrop labdaq acquire 'sim:adc?channels=4' --ring 64k \
	--rate 0 --samples 200k --on-full drop -C voltage3,voltage1 -o "$T/adrop.npy"
is "adc drop policy, slow writer: exit 3" "$RC" 3 || diag <"$T/adrop.err"
ended_checks adrop "adc drop policy"
check "adc drop policy: the samples on file are those the gaps leave, every value exact" \
	CHECK samples "$T/adrop.npy" --channels 3,1 --json "$T/adrop.json" --min-count 1

# ---- full ring, block policy --------------------------------------------------
LABDAQ_TEST_WRITE_DELAY_US=2000 run block labdaq acquire "$CAM" --ring 64k --rate 0 \
	--frames 2000 --on-full block -o "$T/block.npy"
is "block policy, same slow writer: exit 0" "$RC" 0 || diag <"$T/block.err"
check "block policy: complete, 2000 written, nothing dropped, no gaps, the ring was full" \
	CHECK expr --json "$T/block.json" --npy "$T/block.npy" "m['status'] == 'complete'" \
	"m['acquired'] == m['written'] == n == 2000" "m['dropped'] == 0" "m['gaps'] == []" \
	"m['ring']['policy'] == 'block'" "m['ring']['high_water_bytes'] > 65536 // 2"
check "block policy: frames 0..1999, every byte exact" \
	CHECK frames "$T/block.npy" --width $W --height $H --count 2000 --contiguous

# ---- full disk ------------------------------------------------------------------
# An 8 MiB tmpfs of the run's own (lib.sh, in_tmpfs: a private mount
# namespace, so no root is needed); the checks read the copy of its files
# taken before it goes away.
mkdir "$T/full" "$T/full.kept"
if ! tmpfs_ok; then
	skip "full disk: $NO_TMPFS"
else
	diag "full disk: an 8 MiB tmpfs in a private mount namespace, as uid $(id -u)"
	in_tmpfs size=8m "$T/full" "$T/full.kept" labdaq acquire "$CAM" --continuous --rate 0 \
		-o "$T/full/f.npy" >"$T/full.out" 2>"$T/full.err" </dev/null
	RC=$?
	F=$T/full.kept
	is "full disk: exit 1" "$RC" 1 || diag <"$T/full.err"
	check_grep "full disk: stderr says there is no space left" "$T/full.err" 'no space left'
	check "full disk: status failed, error code 28 (ENOSPC) with a message in the sidecar" \
		CHECK expr --json "$F/f.json" "m['status'] == 'failed'" \
		"m['error'] is not None and m['error']['code'] == 28" \
		"'space' in m['error']['message'].lower()" "m['written'] > 0"
	check "full disk: the file loads, written == the header's frame count, whole frames only, within the 8 MiB" \
		CHECK expr --json "$F/f.json" --npy "$F/f.npy" "n == m['written']" \
		"size == 4096 + n * $FB" "size <= 8 << 20"
	check "full disk: every frame on file exact, 0..n-1" \
		CHECK frames "$F/f.npy" --width $W --height $H --json "$F/f.json" \
		--contiguous --min-count 1
	check "full disk: written + dropped == acquired" \
		CHECK expr --json "$F/f.json" "m['written'] + m['dropped'] == m['acquired']"
	# docs/file-format.md: "the gap counts add up to dropped: nothing is
	# lost without being recorded" - the items the failure discarded too.
	check "full disk: the discarded items are recorded as a gap (gap counts add up to dropped)" \
		CHECK expr --json "$F/f.json" "gapsum == m['dropped']"
	ls -A "$F" >"$T/full.ls"
	is "full disk: the tmpfs holds f.npy, f.gaps.npy and f.json only, no spare sidecar left behind" \
		"$(tr '\n' ' ' <"$T/full.ls")" "f.gaps.npy f.json f.npy "
fi

# ---- a lost device: fail_after --------------------------------------------------
run fail labdaq acquire "$CAM&fail_after=5" --frames 100 -o "$T/fail.npy"
is "fail_after=5: exit 1" "$RC" 1 || diag <"$T/fail.err"
check_grep "fail_after=5: stderr says the run failed and why" "$T/fail.err" 'fail.*(device|gone|lost)'
check "fail_after=5: status failed, an error in the sidecar, the 5 frames before it written" \
	CHECK expr --json "$T/fail.json" --npy "$T/fail.npy" "m['status'] == 'failed'" \
	"m['error'] is not None and m['error']['code'] > 0 and m['error']['message']" \
	"m['acquired'] == m['written'] == n == 5" "m['dropped'] == 0"
check "fail_after=5: frames 0..4 exact" \
	CHECK frames "$T/fail.npy" --width $W --height $H --count 5 --contiguous

run afail labdaq acquire "sim:adc?channels=2&fail_after=3" --samples 1M -o "$T/afail.npy"
is "adc fail_after=3: exit 1" "$RC" 1 || diag <"$T/afail.err"
check "adc fail_after=3: failed, the samples of the 3 blocks before it written, exact" \
	CHECK expr --json "$T/afail.json" --npy "$T/afail.npy" "m['status'] == 'failed'" \
	"0 < m['written'] == m['acquired'] == n < 1000000" "m['written'] % 3 == 0"
check "adc fail_after=3: every sample on file exact" \
	CHECK samples "$T/afail.npy" --channels 0,1 --contiguous --min-count 1

# ---- a hardware overrun: overrun_after ------------------------------------------
run over labdaq acquire "$CAM&overrun_after=5" --frames 20 -o "$T/over.npy"
is "overrun_after=5: exit 3" "$RC" 3 || diag <"$T/over.err"
check "overrun_after=5: one gap of one frame at index 5, 19 of 20 written" \
	CHECK expr --json "$T/over.json" --npy "$T/over.npy" "m['status'] == 'complete'" \
	"m['gaps'] == [{'index': 5, 'count': 1}]" "m['acquired'] == 20" "m['written'] == n == 19" \
	"m['dropped'] == 1"
check "overrun_after=5: the frame indices on file skip exactly 5, every byte exact" \
	CHECK frames "$T/over.npy" --width $W --height $H --json "$T/over.json" --count 19
check_grep "overrun_after=5: a warning on stderr" "$T/over.err" 'overrun'

run over2 labdaq acquire "$CAM&overrun_after=3&overrun_items=7" --frames 30 -o "$T/over2.npy"
is "overrun_after=3&overrun_items=7: exit 3" "$RC" 3 || diag <"$T/over2.err"
check "overrun_items=7: the gap is {index 3, count 7}, indices skip 3..9, every byte exact" \
	CHECK frames "$T/over2.npy" --width $W --height $H --json "$T/over2.json" --count 23
check "overrun_items=7: the sidecar's gap" \
	CHECK expr --json "$T/over2.json" "m['gaps'] == [{'index': 3, 'count': 7}]"

run aover labdaq acquire "sim:adc?channels=3&overrun_after=2&overrun_items=100" --samples 100000 \
	-o "$T/aover.npy"
is "adc overrun_items=100: exit 3" "$RC" 3 || diag <"$T/aover.err"
check "adc overrun: one gap of 100 samples, the samples around it exact" \
	CHECK samples "$T/aover.npy" --channels 0,1,2 --json "$T/aover.json" --count 99900
ended_checks aover "adc overrun"

# ---- a device stall ---------------------------------------------------------------
# docs/sim.md: "Nothing is lost: the items kept their times, so a paced
# stream catches up."  A 0.5 s stall in a 2 s run at 100 frames/s.
run stall labdaq acquire "$CAM&stall_after=10&stall_ms=500" --time 2s --rate 100 \
	-o "$T/stall.npy"
is "a 0.5 s stall in a paced 2 s run: exit 0" "$RC" 0 || diag <"$T/stall.err"
check "a 0.5 s stall: complete, nothing dropped, the stream caught up (about 200 frames, 150..260)" \
	CHECK expr --json "$T/stall.json" --npy "$T/stall.npy" "m['status'] == 'complete'" \
	"m['dropped'] == 0" "m['gaps'] == []" "150 <= m['written'] == m['acquired'] == n <= 260"
check "a 0.5 s stall: every frame exact, indices 0..n-1" \
	CHECK frames "$T/stall.npy" --width $W --height $H --contiguous --min-count 150

# --time bounds the run even when the device stops delivering: an 8 s
# stall after 5 frames in a 1 s run.
start=$SECONDS
run tstall labdaq acquire "$CAM&stall_after=5&stall_ms=8000" --time 1s --rate 100 \
	-o "$T/tstall.npy"
took=$((SECONDS - start))
is "--time 1s with an 8 s device stall: exit 0" "$RC" 0 || diag <"$T/tstall.err"
if [ "$took" -le 5 ]; then
	ok "--time 1s with an 8 s device stall ends within 5 s (took ${took} s)"
else
	not_ok "--time 1s with an 8 s device stall ends within 5 s (took ${took} s)"
fi
check "--time 1s with a stall: complete, the frames before the stall written and exact" \
	CHECK frames "$T/tstall.npy" --width $W --height $H --contiguous --min-count 5

finish
