#!/usr/bin/env bash
# test_gaps.sh - issue 10.10: a drop-policy run with a tiny ring and tens of
# thousands of gaps keeps its memory and its sidecar flat (the gaps go to
# NAME.gaps.npy, appended), and every reader gets every gap exactly: the
# sim camera's frames carry their acquisition index, so the indexes missing
# from the file are known and must be the gaps, for `inspect`, for the
# Python package, for the numpy recipe of docs/file-format.md (check.py),
# after a normal end and after kill -9 + `recover` (a gaps' file cut in the
# middle of a row included).
#
# Memory: VmRSS of the running process is read at two moments, after the
# first 10,000 gaps and 4 s later; the growth between them is bounded
# (before the gap store it grew ~500 bytes per gap: 70 MB for 134,240).
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

CAM='sim:camera?width=64&height=48'

rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status" 2>/dev/null; }
meta() { "$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }
# The gaps a sidecar counts; labdaq-1 (before the gaps' file) listed them, so
# that this test measures an old build's memory too.
NGAPS="m['gaps']['count'] if isinstance(m['gaps'], dict) else len(m['gaps'])"

# wait_gaps PID JSON N: until the sidecar counts N gaps (at most 30 s).
wait_gaps() {
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$1" 2>/dev/null || return 1
		[ "$(meta "$2" "$NGAPS" 2>/dev/null || echo 0)" -ge "$3" ] && return 0
		sleep 0.1
	done
	return 1
}

# ---- a long drop run: memory and sidecar flat ---------------------------------
run_bg long labdaq acquire "$CAM" --ring 16k --on-full drop --rate 0 --time 60s -o "$T/long.npy"
if wait_gaps "$BG_PID" "$T/long.json" 10000; then
	r1=$(rss_kib "$BG_PID") g1=$(meta "$T/long.json" "$NGAPS")
	s1=$(stat -c %s "$T/long.json")
	sleep 4
	r2=$(rss_kib "$BG_PID") g2=$(meta "$T/long.json" "$NGAPS")
	s2=$(stat -c %s "$T/long.json")
	diag "gaps $g1 -> $g2: VmRSS $r1 -> $r2 KiB, sidecar $s1 -> $s2 bytes"
	if [ -n "$r1" ] && [ -n "$r2" ] && [ $((r2 - r1)) -le 1024 ] && [ "$g2" -ge $((g1 + 5000)) ]; then
		ok "drop run, 16 KiB ring: RSS grows by <= 1 MiB while the gaps grow by $((g2 - g1))"
	else
		not_ok "drop run, 16 KiB ring: RSS grows by <= 1 MiB while the gaps grow by >= 5000 (gaps $g1 -> $g2, RSS $r1 -> $r2 KiB)"
	fi
	is "the sidecar's size does not grow with the gaps ($s1 -> $s2 bytes)" \
		"$([ "$s2" -le 4096 ] && [ "$s2" -le $((s1 + 16)) ] && echo flat)" flat
else
	not_ok "the drop run reached 10000 gaps (it did not: $(tail -n 3 "$T/long.err"))"
fi
kill -INT "$BG_PID" 2>/dev/null
wait "$BG_PID"
is "stopped by SIGINT: exit 3 (data dropped)" "$?" 3 || diag <"$T/long.err"
check "stopped: acquired == written + dropped, the gaps' file holds them all, in order, merged" \
	CHECK expr --json "$T/long.json" --npy "$T/long.npy" "m['status'] == 'stopped'" \
	"m['format'] == 'labdaq-2'" "m['gaps_meta']['file'] == 'long.gaps.npy'" \
	"m['written'] + m['dropped'] == m['acquired']" "gapsum == m['dropped']" \
	"len(m['gaps']) == m['gaps_meta']['count'] >= 10000" "n == m['written']"
check "every frame's own index is its acquisition index by the gaps (the docs' recipe)" \
	CHECK frames "$T/long.npy" --width 64 --height 48 --json "$T/long.json" --min-count 1
labdaq inspect "$T/long.npy" >"$T/long.inspect" 2>&1
check_grep "inspect counts the gaps of the gaps' file" "$T/long.inspect" \
	"^gaps: *$(meta "$T/long.json" "m['gaps']['count']") \(in long.gaps.npy\)"

# The Python package: Data.gaps, gap_array and indexes() against the frames.
check "labdaq.load(): gaps, gap_array and indexes() match the frames' own indexes" \
	env PYTHONPATH="$TOP/python" LABDAQ_LIBRARY="$TOP/build/liblabdaq.so" "$PY" -c '
import sys, numpy as np, labdaq
d = labdaq.load(sys.argv[1])
g = np.load(sys.argv[1][:-4] + ".gaps.npy")
assert np.array_equal(d.gap_array, g), "gap_array differs from the file"
assert len(d.gaps) == len(g) and d.gaps[-1] == labdaq.Gap(int(g[-1, 0]), int(g[-1, 1]))
own = np.ascontiguousarray(d.array[:, 0, :4]).view("<u8").reshape(-1)
assert np.array_equal(d.indexes(), own.astype(np.int64)), "indexes() differ"
print(len(g), "gaps")' "$T/long.npy"

# ---- kill -9, then recover ----------------------------------------------------
run_bg killed labdaq acquire "$CAM" --ring 16k --on-full drop --rate 0 --time 60s \
	-o "$T/killed.npy"
if wait_gaps "$BG_PID" "$T/killed.json" 3000; then
	sleep 0.5 # rows written after the last checkpoint
	kill -KILL "$BG_PID"
	wait "$BG_PID" 2>/dev/null
	# Rows up to the last checkpoint's have exact indexes; gaps still in
	# memory at the kill are lost (docs/file-format.md, Recovery).
	ckpt=$(meta "$T/killed.json" "m['written']")
	rows=$(( ($(stat -c %s "$T/killed.gaps.npy") - 4096) / 16 ))
	printf 'partial!' >>"$T/killed.gaps.npy" # a row cut by the kill
	run rec labdaq recover "$T/killed.npy"
	is "recover after kill -9: exit 0" "$RC" 0 || diag <"$T/rec.err"
	check "recovered: every whole row of the gaps' file kept, the cut one removed, header fixed" \
		CHECK expr --json "$T/killed.json" --npy "$T/killed.npy" \
		"m['status'] == 'recovered'" "m['gaps_meta']['count'] == $rows" \
		"len(m['gaps']) == $rows" "gapsum <= m['dropped']" \
		"m['written'] + m['dropped'] <= m['acquired']" "n == m['written']"
	is "the gaps' file is whole rows" "$(( ($(stat -c %s "$T/killed.gaps.npy") - 4096) % 16 ))" 0
	check "recovered: the frames' own indexes are their indexes by the gaps (the $ckpt rows of the last checkpoint)" \
		CHECK frames "$T/killed.npy" --width 64 --height 48 --json "$T/killed.json" \
		--min-count "$ckpt" --rows "$ckpt"
else
	not_ok "the drop run to kill reached 3000 gaps"
fi

# ---- a gaps' file gone: inspect says so ------------------------------------------
labdaq acquire "$CAM" --ring 16k --on-full drop --rate 0 --frames 3000 -o "$T/lost.npy" \
	>/dev/null 2>&1
rm -f "$T/lost.gaps.npy"
labdaq inspect "$T/lost.npy" >"$T/lost.inspect" 2>&1
check_grep "a gaps' file gone: inspect says the sidecar counts more gaps than it can read" \
	"$T/lost.inspect" "the sidecar counts [1-9][0-9]* gaps; lost.gaps.npy is missing or cut short: only 0 readable"

# ---- labdaq-1 sidecars (gaps inline) are still read ----------------------------
labdaq acquire "$CAM" --frames 10 -o "$T/old.npy" >/dev/null 2>&1
"$PY" - "$T/old.json" <<'PYEOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["format"] = "labdaq-1"
m["gaps"] = [{"index": 3, "count": 2}, {"index": 9, "count": 1}]
json.dump(m, open(sys.argv[1], "w"))
PYEOF
rm -f "$T/old.gaps.npy"
labdaq inspect "$T/old.npy" >"$T/old.inspect" 2>&1
check_grep "inspect reads a labdaq-1 sidecar's inline gaps" "$T/old.inspect" '^  items 9\.\.9 \(1\)' 
finish
