#!/usr/bin/env bash
# test_attr.sh - device attributes: labdaq attr lists, reads and writes
# them (the sim's parameters here; tests/vm the IIO ones), acquire/sweep
# --attr set them before the run and record them in the sidecar, and
# labdaq info shows them with their values and ranges.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

run list labdaq attr sim:ohm
is "labdaq attr sim:ohm: exit 0" "$RC" 0
check "labdaq attr sim:ohm: seed, r, noise, out_voltage0 with their values and ranges" \
	"$PY" - "$T/list.out" <<'PY'
import re, sys
rows = [re.match(r"^(\S+) +(\S+)(?:   \(takes (.*)\))?$", l) for l in open(sys.argv[1])]
got = {m.group(1): (m.group(2), m.group(3)) for m in rows}
want = {"seed": ("1", None), "r": ("1000", "[0.001 .. 1e12] ohm"),
        "noise": ("0.001", "[0 .. 10] V rms"), "out_voltage0": ("0", "[-10 .. 10] V")}
assert got == want, got
PY
run cam labdaq attr 'sim:camera?width=33&height=17'
check "labdaq attr sim:camera: width 33, height 17, read-only" "$PY" -c '
import sys
rows = dict(l.split()[:2] for l in open(sys.argv[1]))
assert rows == {"seed": "1", "width": "33", "height": "17"}, rows
assert "takes" not in open(sys.argv[1]).read()' "$T/cam.out"
run adc labdaq attr 'sim:adc?channels=2&offset=-7' offset
is "labdaq attr DEVICE NAME prints the value alone" "$(cat "$T/adc.out")" "-7"
run set labdaq attr sim:ohm r 2200
is "labdaq attr sim:ohm r 2200: exit 0, the value read back" "$RC:$(cat "$T/set.out")" "0:2200"
run bad labdaq attr sim:ohm r -5
is "a value out of range: exit 2" "$RC" 2
check_grep "a value out of range: the message says what it takes" "$T/bad.err" 'takes \[0.001 .. 1e12\] ohm'
run none labdaq attr sim:ohm colour
is "no such attribute: exit 2" "$RC" 2
check_grep "no such attribute: the message names it" "$T/none.err" "no attribute 'colour'"
run ro labdaq attr sim:camera width 4
is "a read-only attribute: refused, exit 1" "$RC" 1
check_grep "a read-only attribute: the message says so" "$T/ro.err" "read-only"
run info labdaq info sim:ohm
check_grep "labdaq info shows the attributes with values and ranges" "$T/info.out" \
	'^  r +1000   \(takes \[0.001 .. 1e12\] ohm\)$'

# --attr before a run: the sweep at r=2200 fits R = 2200; the sidecar has it.
run sw labdaq sweep sim:ohm --attr r=2200 --attr noise=0 --set voltage0 --from -1 --to 1 \
	--points 11 -o "$T/sw.csv"
is "sweep --attr r=2200 --attr noise=0: exit 0" "$RC" 0
check "sweep --attr: the fit gives R = 2200 exactly (no noise), the sidecar records both" \
	"$PY" - "$T/sw" <<'PY'
import json, sys, numpy as np
rows = np.loadtxt(sys.argv[1] + ".csv", delimiter=",", skiprows=1)
r = 1 / np.polyfit(rows[:, 4], rows[:, 5], 1)[0]
assert abs(r - 2200) < 0.5, r
m = json.load(open(sys.argv[1] + ".json"))
assert m["attributes"] == {"r": "2200", "noise": "0"}, m["attributes"]
PY
run st labdaq acquire 'sim:adc?channels=2' --attr offset=-100 --samples 100 -o "$T/st.npy"
check "acquire --attr offset=-100: recorded, and the channels' offset follows" \
	CHECK expr --json "$T/st.json" "m['attributes'] == {'offset': '-100'}" \
	"[c['offset'] for c in m['channels']] == [-100, -100]"
run badattr labdaq acquire sim:adc --attr colour=red --samples 10 -o "$T/ba.npy"
if [ "$RC" = 2 ] && grep -q "colour" "$T/badattr.err" && [ ! -e "$T/ba.npy" ]; then
	ok "acquire --attr colour=red: refused before anything starts (exit 2), no file"
else
	not_ok "acquire --attr colour=red: refused (exit $RC)"; diag <"$T/badattr.err"
fi
run badval labdaq sweep sim:ohm --attr r=-1 --set voltage0 --from 0 --to 1 --points 2 -o "$T/bv.csv"
if [ "$RC" = 2 ] && grep -q "takes" "$T/badval.err" && [ ! -e "$T/bv.csv" ] && [ ! -e "$T/bv.json" ]; then
	ok "sweep --attr r=-1: the device refuses it, exit 2, no file left"
else
	not_ok "sweep --attr r=-1: the device refuses it, exit 2, no file left (exit $RC)"
	diag <"$T/badval.err"; ls "$T" | diag
fi
run nopair labdaq acquire sim:adc --attr offset --samples 10 -o "$T/np.npy"
is "--attr without '=': exit 2" "$RC" 2
finish
