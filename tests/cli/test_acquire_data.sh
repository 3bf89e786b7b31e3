#!/usr/bin/env bash
# test_acquire_data.sh - labdaq acquire from the sim devices: every byte of
# every frame and sample is the documented formula (docs/sim.md), the .npy
# loads with numpy (also mmap_mode='r'), the sidecar's counts agree, and
# --progress json is what the man page says.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

mkdir "$T/d"

# camera W H N [extra acquire args...]: a counted camera run, checked whole.
camera() {
	local w=$1 h=$2 nf=$3 f="$T/d/cam-$1x$2.npy" j="$T/d/cam-$1x$2.json"
	shift 3
	run "cam-${w}x${h}" labdaq acquire "sim:camera?width=$w&height=$h" --frames "$nf" \
		-o "$f" "$@"
	is "camera ${w}x${h} --frames $nf: exit 0" "$RC" 0 || diag <"$T/cam-${w}x${h}.err"
	check "camera ${w}x${h}: <u2 (n,$h,$w), $nf frames, every byte exact (plain and mmap load)" \
		CHECK frames "$f" --width "$w" --height "$h" --count "$nf" --contiguous
	check "camera ${w}x${h}: sidecar complete, acquired == written == $nf, dropped 0, no gaps" \
		CHECK expr --json "$j" --npy "$f" "m['status'] == 'complete'" \
		"m['acquired'] == $nf" "m['written'] == $nf" "m['dropped'] == 0" "m['gaps'] == []" \
		"n == $nf" "m['error'] is None" "m['kind'] == 'frames'" "m['dtype'] == '<u2'" \
		"m['shape'] == [$h, $w]" "size == 4096 + $nf * $w * $h * 2" \
		"m['ended_utc'] is not None" "m['file'] == 'cam-${w}x${h}.npy'"
}

camera 64 48 50
camera 33 17 20            # odd sizes: items are not a multiple of 4096 bytes
camera 640 480 12          # more than 65536 pixels: the ramp wraps inside a frame
camera 2 2 7               # the smallest frame: nothing but its 8-byte index
camera 300 7 3000 --ring 1M  # many frames through a ring much smaller than the file

# Only the three files are left (data, gaps, sidecar), no spare sidecar.
left=$(cd "$T/d" && ls -A | grep -E '^\.?cam-64x48' | sort | tr '\n' ' ')
is "a finished run leaves NAME.npy, NAME.gaps.npy and NAME.json only" "$left" \
	"cam-64x48.gaps.npy cam-64x48.json cam-64x48.npy "

# ---- sim:adc -----------------------------------------------------------
run adc4 labdaq acquire 'sim:adc?channels=4' --samples 10000 -o "$T/adc4.npy"
is "adc channels=4 --samples 10000: exit 0" "$RC" 0 || diag <"$T/adc4.err"
check "adc channels=4: <i2 (10000,4), every sample exact" \
	CHECK samples "$T/adc4.npy" --channels 0,1,2,3 --count 10000 --contiguous
check "adc channels=4: sidecar complete, counts, 4 channels in V with scale 0.001" \
	CHECK expr --json "$T/adc4.json" --npy "$T/adc4.npy" "m['status'] == 'complete'" \
	"m['acquired'] == m['written'] == 10000" "m['dropped'] == 0" "m['gaps'] == []" \
	"n == 10000" "m['kind'] == 'samples'" "m['shape'] == [4]" \
	"[c['name'] for c in m['channels']] == ['voltage0', 'voltage1', 'voltage2', 'voltage3']" \
	"all(c['unit'] == 'V' and c['scale'] == 0.001 for c in m['channels'])"

# A channel subset, in the order given; more than 65536 samples (the
# sawtooth wraps) and many blocks; a count with a suffix.
run adcsub labdaq acquire 'sim:adc?channels=6' -C voltage5,voltage0,voltage3 \
	--samples 70k -o "$T/adcsub.npy"
is "adc --channels voltage5,voltage0,voltage3 --samples 70k: exit 0" "$RC" 0 ||
	diag <"$T/adcsub.err"
check "adc channel subset: columns in the order given, 70000 samples, every value exact" \
	CHECK samples "$T/adcsub.npy" --channels 5,0,3 --count 70000 --contiguous
check "adc channel subset: the sidecar lists voltage5, voltage0, voltage3" \
	CHECK expr --json "$T/adcsub.json" \
	"[c['name'] for c in m['channels']] == ['voltage5', 'voltage0', 'voltage3']" \
	"m['shape'] == [3]" "m['acquired'] == m['written'] == 70000" "m['status'] == 'complete'"

# One channel, paced (blocks of 10 ms).
run adc1 labdaq acquire 'sim:adc?channels=1' --samples 2000 --rate 20k -o "$T/adc1.npy"
is "adc one channel --rate 20k --samples 2000: exit 0" "$RC" 0 || diag <"$T/adc1.err"
check "adc one channel, paced: every sample exact" \
	CHECK samples "$T/adc1.npy" --channels 0 --count 2000 --contiguous

# sim:ohm with no noise and no applied voltage reads zeros, as int32.
run ohm labdaq acquire 'sim:ohm?r=1000&noise=0' --samples 500 -o "$T/ohm.npy"
is "ohm noise=0 --samples 500: exit 0" "$RC" 0 || diag <"$T/ohm.err"
check "ohm noise=0: <i4 (500,2) zeros; channels voltage0 [V], current0 [A]" \
	"$PY" -c '
import json, sys, numpy as np
a = np.load(sys.argv[1], mmap_mode="r"); m = json.load(open(sys.argv[2]))
assert a.dtype == np.dtype("<i4") and a.shape == (500, 2), (a.dtype, a.shape)
assert not a.any(), "non-zero values"
assert [(c["name"], c["unit"]) for c in m["channels"]] == [("voltage0", "V"), ("current0", "A")], m["channels"]
' "$T/ohm.npy" "$T/ohm.json"

# A file name with a space and a quote; the sidecar's command line gives
# back the arguments as the shell passed them.
run quote labdaq acquire 'sim:camera?width=8&height=4' --frames 4 -o "$T/d/it's a run.npy"
is "an output name with a space and a quote: exit 0" "$RC" 0 || diag <"$T/quote.err"
check "an output name with a space and a quote: file, sidecar 'file' and 'command' (shell-quoted)" \
	"$PY" -c '
import json, shlex, sys
m = json.load(open(sys.argv[1]))
assert m["file"] == "it'"'"'s a run.npy", m["file"]
argv = shlex.split(m["command"])
assert argv[1:] == sys.argv[2:], (argv, sys.argv[2:])
' "$T/d/it's a run.json" acquire 'sim:camera?width=8&height=4' --frames 4 -o "$T/d/it's a run.npy"
check "an output name with a space and a quote: the data" \
	CHECK frames "$T/d/it's a run.npy" --width 8 --height 4 --count 4 --contiguous

# ---- --time with --rate ---------------------------------------------------
run ctime labdaq acquire 'sim:camera?width=32&height=16' --time 1s --rate 200 -o "$T/ctime.npy"
is "camera --time 1s --rate 200: exit 0" "$RC" 0 || diag <"$T/ctime.err"
check "camera --time 1s --rate 200: complete, about 200 frames (100..260), all written" \
	CHECK expr --json "$T/ctime.json" --npy "$T/ctime.npy" "m['status'] == 'complete'" \
	"100 <= m['acquired'] <= 260" "m['written'] == m['acquired'] == n" "m['dropped'] == 0" \
	"m['rate_hz'] == 200"
check "camera --time 1s --rate 200: every frame exact" \
	CHECK frames "$T/ctime.npy" --width 32 --height 16 --contiguous --min-count 100

run atime labdaq acquire 'sim:adc?channels=2' --time 1s --rate 10k -o "$T/atime.npy"
is "adc --time 1s --rate 10k: exit 0" "$RC" 0 || diag <"$T/atime.err"
check "adc --time 1s --rate 10k: complete, about 10000 samples (5000..13000), all written" \
	CHECK expr --json "$T/atime.json" --npy "$T/atime.npy" "m['status'] == 'complete'" \
	"5000 <= m['acquired'] <= 13000" "m['written'] == m['acquired'] == n"
check "adc --time 1s --rate 10k: every sample exact" \
	CHECK samples "$T/atime.npy" --channels 0,1 --contiguous --min-count 5000

# A count and a time together: whichever comes first (the count, here).
run both labdaq acquire 'sim:camera?width=8&height=8' --frames 30 --time 1min --rate 300 \
	-o "$T/both.npy"
check "--frames 30 --time 1min: ends at 30 frames, complete, exit 0" \
	CHECK expr --json "$T/both.json" "m['status'] == 'complete'" "m['written'] == 30" \
	"$RC == 0"

# ---- --progress json ------------------------------------------------------
run prog labdaq acquire 'sim:camera?width=64&height=48' --frames 300 --rate 200 \
	--progress json -o "$T/prog.npy"
is "--progress json run: exit 0" "$RC" 0 || diag <"$T/prog.err"
check "--progress json: every '{' line parses, documented keys, last final and equal to the sidecar" \
	CHECK progress "$T/prog.err" "$T/prog.json"
nlines=$(grep -c '^{' "$T/prog.err")
if [ "$nlines" -ge 2 ]; then
	ok "--progress json: several lines over a 1.5 s run ($nlines)"
else
	not_ok "--progress json: several lines over a 1.5 s run ($nlines)"
fi
check "--progress json: the final line has target 300 and ring_capacity_bytes from the sidecar" \
	"$PY" -c '
import json, sys
last = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")][-1]
m = json.load(open(sys.argv[2]))
assert last["target"] == 300, last
assert last["ring_capacity_bytes"] == m["ring"]["capacity_bytes"], (last, m["ring"])
assert last["ring_high_water_bytes"] == m["ring"]["high_water_bytes"], (last, m["ring"])
' "$T/prog.err" "$T/prog.json"

# Progress off a terminal with the default (auto): no progress lines at all.
run quiet labdaq acquire 'sim:camera?width=8&height=8' --frames 5 -o "$T/quiet.npy"
if ! grep -q '^{' "$T/quiet.err" && ! grep -q $'\r' "$T/quiet.err"; then
	ok "--progress auto off a terminal draws no progress"
else
	not_ok "--progress auto off a terminal draws no progress"
	diag <"$T/quiet.err"
fi

# ---- inspect ----------------------------------------------------------------
run insp labdaq inspect "$T/adc4.npy"
is "inspect a complete file: exit 0" "$RC" 0 || diag <"$T/insp.err"
check_grep "inspect shows the status" "$T/insp.out" '^status: +complete'
check_grep "inspect shows the counts" "$T/insp.out" '10000 acquired, 10000 written, 0 dropped'
check_grep "inspect shows the channels" "$T/insp.out" 'voltage3 \[V\]'

finish
