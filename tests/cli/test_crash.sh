#!/usr/bin/env bash
# test_crash.sh - kill -9 in the middle of a run, then labdaq recover: the
# file as the crash left it is a valid .npy (the last checkpoint's header
# covers a prefix of exact frames); recover makes the header cover every
# whole frame on disk, cuts a partial one, marks the sidecar "recovered".
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

W=64 H=48
FB=$((W * H * 2))
CAM="sim:camera?width=$W&height=$H"

# A paced run (1000 frames/s, 6 MB/s) killed after its first checkpoint,
# once more frames were written than that checkpoint says.
run_bg crash labdaq acquire "$CAM" --continuous --rate 1000 --progress json -o "$T/crash.npy"
pid=$BG_PID
wait_for_json "$T/crash.json" "m['written'] > 0" 30
ckpt=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["written"])' \
	"$T/crash.json")
wait_for_progress "$T/crash.err" "p['written'] > ${ckpt:-0} + 200" 30
kill -KILL "$pid"
wait_pid "$pid" 30 2>/dev/null # no "Killed" job notice from bash
is "kill -9: the process died of SIGKILL" "$RC" 137
cp "$T/crash.npy" "$T/crash-asleft.npy"

check "after kill -9: the sidecar says running, with written > 0" \
	CHECK expr --json "$T/crash.json" "m['status'] == 'running'" "m['written'] > 0" \
	"m['ended_utc'] is None"
check "after kill -9: the file loads as it is; the checkpoint's frames are exact (0..n-1)" \
	CHECK frames "$T/crash.npy" --width $W --height $H --contiguous --min-count 1
check "after kill -9: the header covers no more than what is on disk" \
	CHECK expr --npy "$T/crash.npy" "n >= 1" "size >= 4096 + n * $FB"
before=$(CHECK header-items "$T/crash.npy")
size=$(stat -c %s "$T/crash.npy")
whole=$(((size - 4096) / FB))
diag "after kill -9: header $before frames, $whole whole frames on disk (+$(((size - 4096) % FB)) bytes)"

run rec labdaq recover "$T/crash.npy"
is "labdaq recover: exit 0" "$RC" 0 || diag <"$T/rec.err"
check "after recover: the header counts every whole frame that was on disk ($whole)" \
	CHECK expr --npy "$T/crash.npy" "n == $whole" "size == 4096 + n * $FB"
check "after recover: every frame exact, indices 0..n-1" \
	CHECK frames "$T/crash.npy" --width $W --height $H --contiguous --count "$whole"
check "after recover: sidecar recovered (from running), written == header, acquired >= written" \
	CHECK expr --json "$T/crash.json" --npy "$T/crash.npy" "m['status'] == 'recovered'" \
	"m['recovered_from'] == 'running'" "m['written'] == n" "m['acquired'] >= m['written']" \
	"m['ended_utc'] is not None" "'recovered_utc' in m"
check "after recover: the bytes before the cut are those the crash left" \
	cmp -n "$((whole * FB))" -i 4096 "$T/crash.npy" "$T/crash-asleft.npy"
if ls -A "$T" | grep -q '^\.crash\.json\.tmp'; then
	not_ok "after recover: no stale spare sidecar (.crash.json.tmp)"
else
	ok "after recover: no stale spare sidecar (.crash.json.tmp)"
fi
run insp labdaq inspect "$T/crash.npy"
is "inspect after recover: exit 0" "$RC" 0 || diag <"$T/insp.out"
check_grep "inspect after recover: status recovered" "$T/insp.out" '^status: +recovered'

run rec2 labdaq recover "$T/crash.npy"
is "recover twice: exit 0" "$RC" 0 || diag <"$T/rec2.err"
check "recover twice: nothing changes" \
	CHECK expr --json "$T/crash.json" --npy "$T/crash.npy" "n == $whole" \
	"m['status'] == 'recovered'" "m['recovered_from'] == 'running'" "m['written'] == $whole"

# ---- the same with samples of 6 bytes (3 int16 channels) ------------------
# Writes are page multiples, so the crash leaves a partial row most times.
run_bg acrash labdaq acquire 'sim:adc?channels=3' --continuous --rate 200k -o "$T/acrash.npy"
pid=$BG_PID
wait_for_json "$T/acrash.json" "m['written'] > 0" 30
kill -KILL "$pid"
wait_pid "$pid" 30 2>/dev/null
check "adc after kill -9: the file loads as it is, the checkpoint's samples exact" \
	CHECK samples "$T/acrash.npy" --channels 0,1,2 --contiguous --min-count 1
size=$(stat -c %s "$T/acrash.npy")
run arec labdaq recover "$T/acrash.npy"
is "adc recover: exit 0" "$RC" 0 || diag <"$T/arec.err"
check "adc recover: every whole row on disk counted ($(((size - 4096) / 6))), the partial one cut" \
	CHECK expr --npy "$T/acrash.npy" --json "$T/acrash.json" "n == ($size - 4096) // 6" \
	"size == 4096 + n * 6" "m['status'] == 'recovered'" "m['written'] == n"
check "adc recover: every sample exact" \
	CHECK samples "$T/acrash.npy" --channels 0,1,2 --contiguous --count $(((size - 4096) / 6))

# ---- a partial frame at the end, deterministically ------------------------
run part labdaq acquire "$CAM" --frames 10 -o "$T/part.npy"
head -c 1000 /dev/urandom >>"$T/part.npy"
run partrec labdaq recover "$T/part.npy"
is "recover a complete file with 1000 stray bytes at the end: exit 0" "$RC" 0 ||
	diag <"$T/partrec.err"
check_grep "recover reports the 1000 bytes it cut" "$T/partrec.out" '1000 bytes'
check "recover cut the partial frame: the header counts 10 frames, every one exact" \
	CHECK frames "$T/part.npy" --width $W --height $H --count 10 --contiguous
check "recover of a complete file: size 4096 + 10 frames, status recovered (from complete), counts kept" \
	CHECK expr --json "$T/part.json" --npy "$T/part.npy" "size == 4096 + 10 * $FB" \
	"m['status'] == 'recovered'" "m['recovered_from'] == 'complete'" \
	"m['written'] == m['acquired'] == 10"

# ---- a header behind the data (the normal state between checkpoints) ------
# Take a complete file and put its header back to 3 frames, as a checkpoint
# that a crash left behind: numpy sees 3, recover finds all 10.
run behind labdaq acquire "$CAM" --frames 10 -o "$T/behind.npy"
"$PY" - "$T/behind.npy" <<'EOF'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    h = f.read(4096)
    h2 = h.replace(b"'shape': (10,", b"'shape': (3, ")
    assert len(h2) == 4096 and h2 != h, h[:80]
    f.seek(0)
    f.write(h2)
EOF
check "a header of 3 frames over 10 on disk loads as 3 exact frames" \
	CHECK frames "$T/behind.npy" --width $W --height $H --count 3 --contiguous
run behindrec labdaq recover "$T/behind.npy"
check "recover finds the 10 frames behind a 3-frame header" \
	CHECK frames "$T/behind.npy" --width $W --height $H --count 10 --contiguous

# ---- what recover refuses --------------------------------------------------
printf 'not a numpy file at all\n' >"$T/junk.npy"
cp "$T/junk.npy" "$T/junk.orig"
run junk labdaq recover "$T/junk.npy"
is "recover a file that is not .npy: exit 1" "$RC" 1
check "recover a file that is not .npy: it is left untouched" cmp "$T/junk.npy" "$T/junk.orig"
run nofile labdaq recover "$T/nonexistent.npy"
is "recover a missing file: exit 1" "$RC" 1
run recusage labdaq recover
is "recover without a FILE: exit 2" "$RC" 2

finish
