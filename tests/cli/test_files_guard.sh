#!/usr/bin/env bash
# test_files_guard.sh - data files at their edges (issue 10, items 7, 8, 9
# and the directory of item 16): numpy's mmap load of a file with no item
# yet, recover refusing a header and a sidecar that disagree, files that a
# live run writes refused to --force and to recover, a directory named
# X.npy never moved aside.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

W=64 H=48
FB=$((W * H * 2))
CAM="sim:camera?width=$W&height=$H"

mmap_len() {
	"$PY" -c 'import numpy, sys; a = numpy.load(sys.argv[1], mmap_mode="r"); print(len(a))' "$1"
}

# ---- 7. numpy.load(f, mmap_mode="r") before the first item ----------------
# One sample a second: the header says 0 items until the first checkpoint.
run_bg slow labdaq acquire 'sim:adc?channels=2' --rate 0.5 --continuous -o "$T/slow.npy"
slow=$BG_PID
wait_until "slow.json" 30 test -s "$T/slow.json"
check "item 7: during a run before its first item, numpy.load(mmap_mode='r') works" mmap_len "$T/slow.npy"
kill -KILL "$slow"
wait_pid "$slow" 30 2>/dev/null
check "item 7: killed before its first checkpoint, the file still loads with mmap" \
	mmap_len "$T/slow.npy"
run slowrec labdaq recover "$T/slow.npy"
is "item 7: recover of an early kill: exit 0" "$RC" 0 || diag <"$T/slowrec.err"
check "item 7: after recover, numpy.load(mmap_mode='r') works and the samples are exact" \
	CHECK samples "$T/slow.npy" --channels 0,1 --contiguous
check "item 7: after recover the header counts the whole rows on disk (size 4097 with none)" \
	CHECK expr --npy "$T/slow.npy" --json "$T/slow.json" "m['status'] == 'recovered'" \
	"m['written'] == n" "size == (4096 + n * ib if n else 4097)"
# A file that ends at its header (labdaq 0.3 left them): recover adds the byte.
run empty labdaq acquire "$CAM" --frames 1 -o "$T/empty.npy"
"$PY" - "$T/empty.npy" <<'EOF'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    h = f.read(4096)
    h2 = h.replace(b"'shape': (1,", b"'shape': (0,")
    assert len(h2) == 4096 and h2 != h
    f.seek(0)
    f.write(h2)
    f.truncate(4096)
EOF
run emptyrec labdaq recover "$T/empty.npy"
is "item 7: recover a file that ends at its header: exit 0" "$RC" 0 || diag <"$T/emptyrec.err"
check "item 7: ... then numpy.load(mmap_mode='r') works: 0 frames, file 4097 bytes" \
	CHECK expr --npy "$T/empty.npy" "n == 0" "size == 4097" \
	"len(__import__('numpy').load('$T/empty.npy', mmap_mode='r')) == 0"
run emptyinsp labdaq inspect "$T/empty.npy"
check_grep "item 7: inspect: 0 whole items on disk and no stray bytes after the header" \
	"$T/emptyinsp.out" '^on disk: +0 whole items$'

# ---- 8. recover when the header and the sidecar disagree -------------------
run c8 labdaq acquire "$CAM" --frames 10 -o "$T/c8.npy"
"$PY" - "$T/c8.npy" <<'EOF'
import sys
p = sys.argv[1]
with open(p, "r+b") as f:
    h = f.read(4096)
    old = b"(10, 48, 64), }"
    new = b"(10, 4800000, 6400000), }"
    h2 = h.replace(old, new).replace(b" " * (len(new) - len(old)) + b"\n", b"\n")
    assert len(h2) == 4096 and h2 != h
    f.seek(0)
    f.write(h2)
EOF
cp "$T/c8.npy" "$T/c8.orig.npy"
cp "$T/c8.json" "$T/c8.orig.json"
run r8 labdaq recover "$T/c8.npy"
is "item 8: recover with the header's item shape corrupted to (4800000, 6400000): exit 1" "$RC" 1
check_grep "item 8: ... says the header and the sidecar disagree" "$T/r8.err" 'disagree'
check "item 8: ... the data file and the sidecar are unchanged" \
	sh -c 'cmp "$1/c8.npy" "$1/c8.orig.npy" && cmp "$1/c8.json" "$1/c8.orig.json"' sh "$T"
rm "$T/c8.json"
run r8b labdaq recover "$T/c8.npy"
is "item 8: the same without a sidecar: refused (the header counts more than is on disk), exit 1" \
	"$RC" 1
check "item 8: ... nothing cut" cmp "$T/c8.npy" "$T/c8.orig.npy"
run c8d labdaq acquire "$CAM" --frames 10 -o "$T/c8d.npy"
sed -i 's/"dtype": "<u2"/"dtype": "<i4"/' "$T/c8d.json"
cp "$T/c8d.npy" "$T/c8d.orig.npy"
run r8d labdaq recover "$T/c8d.npy"
is "item 8: a sidecar whose dtype disagrees with the header: exit 1" "$RC" 1
check "item 8: ... the data is unchanged" cmp "$T/c8d.npy" "$T/c8d.orig.npy"

# ---- 9. files that a live run writes ----------------------------------------
run_bg live labdaq acquire "$CAM" --continuous --rate 200 -o "$T/live.npy"
live=$BG_PID
wait_for_json "$T/live.json" "m['written'] > 0" 30
run force9 labdaq acquire 'sim:adc' --samples 100 --force -o "$T/live.npy"
is "item 9: --force over a file a live run writes: exit 4 (busy)" "$RC" 4
check_grep "item 9: ... the message names the run (its pid and device)" "$T/force9.err" \
	"pid $live, device sim:camera"
run rec9 labdaq recover "$T/live.npy"
is "item 9: recover on a live file: exit 4 (busy)" "$RC" 4
check_grep "item 9: ... the message names the run" "$T/rec9.err" "pid $live, device sim:camera"
kill -TERM "$live"
wait_pid "$live" 30
is "item 9: the live run went on and stopped normally" "$RC" 0
check "item 9: the live run's file is its own, every frame exact, its sidecar stopped" \
	CHECK frames "$T/live.npy" --width $W --height $H --json "$T/live.json" --contiguous
check "item 9: ... its sidecar describes it (stopped, camera)" \
	CHECK expr --json "$T/live.json" --npy "$T/live.npy" "m['status'] == 'stopped'" \
	"m['written'] == n" "'camera' in m['device']"
run force9b labdaq acquire 'sim:adc' --samples 100 --force -o "$T/live.npy"
is "item 9: once the run ended, --force replaces the file: exit 0" "$RC" 0

# ---- 16. --force on a directory named X.npy ----------------------------------
mkdir "$T/dir.npy"
touch "$T/dir.npy/inside"
run fdir labdaq acquire 'sim:adc' --samples 10 --force -o "$T/dir.npy"
is "item 16: --force onto a directory named X.npy: exit 2" "$RC" 2
check_grep "item 16: ... says it is a directory" "$T/fdir.err" 'is a directory'
check "item 16: ... the directory stays where it was, nothing set aside" \
	sh -c 'test -f "$1/dir.npy/inside" && ! ls -A "$1" | grep -q labdaq-old' sh "$T"

# ---- a file of the run beside a data file that does not exist ----------------
# The sidecar or the gaps' file of an earlier run whose .npy was moved away:
# never replaced without --force, and the message names it.
for f in lone.json lone.gaps.npy; do
	rm -f "$T/lone.npy" "$T/lone.json" "$T/lone.gaps.npy"
	echo keep >"$T/$f"
	run lone labdaq acquire 'sim:adc' --samples 10 -o "$T/lone.npy"
	is "a lone $f without --force: exit 2" "$RC" 2
	check_grep "  ... named, with what to do" "$T/lone.err" "$f. exists .*choose another name.*--force"
	check "  ... $f kept, no lone.npy made" \
		sh -c 'test "$(cat "$1/$2")" = keep && ! test -e "$1/lone.npy"' sh "$T" "$f"
done

finish
