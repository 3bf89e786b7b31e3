#!/usr/bin/env bash
# test_sweep.sh - labdaq sweep on sim:ohm: the Ohm's-law fit, the CSV
# format, stop keeping the points done, bad input.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

# 1. The Ohm's-law fit: the slope of I(V) gives R within 1%.
run iv labdaq sweep 'sim:ohm?r=1000&noise=0.001' --set voltage0 --read voltage0,current0 \
	--from -1 --to 1 --points 41 --delay 1ms -o "$T/iv.csv"
is "sweep sim:ohm: exit 0" "$RC" 0
check "sweep: 41 rows, set values evenly spaced from -1 to 1, R from the fit within 1%" \
	"$PY" - "$T/iv.csv" <<'PY'
import sys, numpy as np
rows = np.loadtxt(sys.argv[1], delimiter=",")
assert rows.shape == (41, 6), rows.shape
assert (rows[:, 0] == np.arange(41)).all(), "index column"
assert (rows[:, 1] == 0).all(), "repeat column"
assert np.allclose(rows[:, 3], np.linspace(-1, 1, 41), atol=1e-9), "set values"
assert (np.diff(rows[:, 2]) >= 0).all(), "time goes forward"
v, i = rows[:, 4], rows[:, 5]
slope = np.polyfit(v, i, 1)[0]
r = 1 / slope
print("R =", r)
assert abs(r - 1000) / 1000 < 0.01, r
# The measured voltage follows the set one within the noise.
assert np.abs(v - rows[:, 3]).max() < 0.01
PY
check "sweep: the CSV metadata: device, channels with units, parameters, start, final status" \
	"$PY" - "$T/iv.csv" <<'PY'
import sys
lines = open(sys.argv[1]).read().splitlines()
head = [l for l in lines if l.startswith("#")]
def has(prefix):
    assert any(l.startswith(prefix) for l in head), (prefix, head)
has("# device: sim:ohm?r=1000&noise=0.001")
has("# set: voltage0 [V] from -1 to 1, 41 points")
has("# read: voltage0 [V] scale")
assert any(l.startswith("# read:") and "current0 [A]" in l for l in head)
has("# started_utc: 20")
has("# columns: index,repeat,time_s,set_voltage0,voltage0,current0")
has("# units: ,,s,V,V,A")
status = [l for l in head if l.startswith("# status:")]
assert status[0] == "# status: running" and status[-1] == "# status: complete", status
assert lines[-3:][0].startswith("# status: complete") or "# points: 41" in lines[-3:], lines[-3:]
assert "# points: 41" in head
PY

# 2. A larger R; --repeat makes passes.
run r2 labdaq sweep 'sim:ohm?r=4700' --set voltage0 --from 0 --to 2 --points 11 --repeat 3 \
	-o "$T/r2.csv"
is "sweep --repeat 3: exit 0" "$RC" 0
check "sweep --repeat 3: 33 rows, passes 0..2, R = 4700 within 1%" "$PY" - "$T/r2.csv" <<'PY'
import sys, numpy as np
rows = np.loadtxt(sys.argv[1], delimiter=",")
assert rows.shape == (33, 6), rows.shape
assert (rows[:, 1] == np.repeat([0, 1, 2], 11)).all()
r = 1 / np.polyfit(rows[:, 4], rows[:, 5], 1)[0]
assert abs(r - 4700) / 4700 < 0.01, r
PY

# 3. Stop mid-sweep with labdaq stop: the points done are kept.

# csv_rows_at_least CSV N: the sweep wrote at least N data rows.
csv_rows_at_least() { [ "$(grep -c '^[0-9]' "$1")" -ge "$2" ]; }

run_bg slow labdaq sweep 'sim:ohm' --set voltage0 --from 0 --to 1 --points 1000 --delay 20ms \
	--progress json -o "$T/slow.csv"
pid=$BG_PID
wait_until "5 rows in slow.csv" 30 csv_rows_at_least "$T/slow.csv" 5
run stop1 labdaq stop sim:ohm
is "labdaq stop of a sweep: exit 0" "$RC" 0
check_grep "labdaq stop prints how the sweep ended" "$T/stop1.out" 'stopped'
wait_pid "$pid" 30
is "stopped sweep: exit 0" "$RC" 0
check "stopped sweep: status stopped, every row whole and the points counted" "$PY" - "$T/slow.csv" <<'PY'
import sys, numpy as np
text = open(sys.argv[1]).read()
assert text.endswith("\n")
rows = np.loadtxt(sys.argv[1], delimiter=",", ndmin=2)
n = len(rows)
assert 5 <= n < 1000, n
assert (rows[:, 0] == np.arange(n)).all()
assert "# status: stopped" in text and f"# points: {n}\n" in text, text[-200:]
PY
check_grep "sweep --progress json: one JSON object per point" "$T/slow.err" '^\{"state":"running","point":[0-9]+,"points":1000,'

# 4. Bad input: exit 2 and no file.
for args in "--set nope --from 0 --to 1 --points 3" "--set voltage0 --read bogus --from 0 --to 1 --points 3" \
	"--set voltage0 --from x --to 1 --points 3" "--set voltage0 --from 0 --to 1 --points 0" \
	"--set voltage0 --from 0 --to 1"; do
	# shellcheck disable=SC2086
	run bad labdaq sweep sim:ohm $args -o "$T/bad.csv"
	if [ "$RC" = 2 ] && [ ! -e "$T/bad.csv" ] && [ -s "$T/bad.err" ]; then
		ok "sweep $args: exit 2, a message, no file"
	else
		not_ok "sweep $args: exit 2, a message, no file (got $RC)"
		diag <"$T/bad.err"
	fi
done
run outofrange labdaq sweep sim:ohm --set voltage0 --from 0 --to 50 --points 3 -o "$T/oor.csv"
is "sweep to 50 V on a +-10 V output: refused before anything is set, exit 2" "$RC" 2
check_grep "sweep out of range: the message gives the output's range" "$T/outofrange.err" \
	'voltage0 takes -10 to 10 V'
if [ ! -e "$T/oor.csv" ]; then ok "sweep out of range: no file"; else not_ok "sweep out of range: no file"; fi
run dryoor labdaq sweep sim:ohm --set voltage0 --from -11 --to 0 --points 3 --dry-run -o "$T/oor.csv"
is "sweep --dry-run out of range: exit 2" "$RC" 2
run info labdaq info sim:ohm
check_grep "labdaq info shows the output's range" "$T/info.out" 'voltage0 +output .*range -10\.\.10'
run camera labdaq sweep sim:camera --set voltage0 --from 0 --to 1 --points 3 -o "$T/cam.csv"
is "sweep on a device without outputs: exit 2" "$RC" 2
run dry labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 3 --dry-run -o "$T/dry.csv"
if [ "$RC" = 0 ] && [ ! -e "$T/dry.csv" ]; then ok "sweep --dry-run: exit 0, no file"; else not_ok "sweep --dry-run: exit 0, no file (got $RC)"; fi

finish
