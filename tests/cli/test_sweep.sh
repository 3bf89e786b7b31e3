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
rows = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
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
check "sweep: a plain CSV: the header row, 41 rows, a final newline, nothing else" \
	"$PY" - "$T/iv.csv" <<'PY'
import sys
text = open(sys.argv[1]).read()
assert text.endswith("\n") and not text.endswith("\n\n"), repr(text[-40:])
lines = text.split("\n")[:-1]
assert lines[0] == "index,repeat,time_s,set_voltage0,voltage0,current0", lines[0]
assert len(lines) == 42, len(lines)
for k, l in enumerate(lines[1:]):
    f = l.split(",")
    assert len(f) == 6 and f[0] == str(k) and f[1] == "0", l
    [float(x) for x in f]
assert not any(l.startswith("#") for l in lines)
PY
if "$PY" -c 'import pandas' 2>/dev/null; then
	check "sweep: pandas.read_csv reads the names and 41 rows, values equal to numpy's" \
		"$PY" - "$T/iv.csv" <<'PY'
import sys, numpy as np, pandas
df = pandas.read_csv(sys.argv[1])
assert list(df.columns) == ["index", "repeat", "time_s", "set_voltage0", "voltage0", "current0"], list(df.columns)
assert len(df) == 41, len(df)
rows = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
assert (df.to_numpy() == rows).all()
assert (df["index"].to_numpy() == np.arange(41)).all()
PY
else
	skip "pandas is not installed (scripts/install-deps.sh installs python3-pandas)"
fi
check "sweep: csv.DictReader and numpy.genfromtxt(names=True) read the names and 41 rows" \
	"$PY" - "$T/iv.csv" <<'PY'
import csv, sys, numpy as np
names = ["index", "repeat", "time_s", "set_voltage0", "voltage0", "current0"]
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
assert len(rows) == 41 and list(rows[0]) == names, (len(rows), list(rows[0]))
ref = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
for k, r in enumerate(rows):
    assert [float(r[n]) for n in names] == list(ref[k]), (k, r)
g = np.genfromtxt(sys.argv[1], delimiter=",", names=True)
assert g.dtype.names == tuple(names), g.dtype.names
assert g.shape == (41,), g.shape
for n_, name in enumerate(names):
    assert (g[name] == ref[:, n_]).all(), name
PY
check "sweep: the metadata in iv.json: device, channels with units, parameters, times, status" \
	CHECK expr --json "$T/iv.json" "m['status'] == 'complete'" "m['kind'] == 'sweep'" \
	"m['file'] == 'iv.csv'" "m['device'] == 'sim:ohm?r=1000&noise=0.001'" \
	"m['sweep'] == {'set': 'voltage0', 'unit': 'V', 'from': -1, 'to': 1, 'points': 41, 'repeat': 1, 'delay_s': 0.001}" \
	"[c['name'] for c in m['columns']] == ['index', 'repeat', 'time_s', 'set_voltage0', 'voltage0', 'current0']" \
	"[c['unit'] for c in m['columns']] == ['', '', 's', 'V', 'V', 'A']" \
	"[(c['name'], c['unit'], c.get('output', False)) for c in m['channels']] == [('voltage0', 'V', True), ('voltage0', 'V', False), ('current0', 'A', False)]" \
	"m['points'] == m['written'] == m['acquired'] == 41" "m['started_utc'] < m['ended_utc']" \
	"m['error'] is None" "m['command'].startswith('labdaq sweep ')"
run insp labdaq inspect "$T/iv.csv"
is "labdaq inspect of a sweep: exit 0" "$RC" 0
check_grep "labdaq inspect of a sweep: its points and status" "$T/insp.out" 'CSV, 41 points'
check_grep "labdaq inspect of a sweep: the sweep's parameters" "$T/insp.out" \
	'voltage0 from -1 to 1 V, 41 points'

# 2. A larger R; --repeat makes passes.
run r2 labdaq sweep 'sim:ohm?r=4700' --set voltage0 --from 0 --to 2 --points 11 --repeat 3 \
	-o "$T/r2.csv"
is "sweep --repeat 3: exit 0" "$RC" 0
check "sweep --repeat 3: 33 rows, passes 0..2, R = 4700 within 1%" "$PY" - "$T/r2.csv" <<'PY'
import sys, numpy as np
rows = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1)
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
check "stopped sweep: status stopped, every row whole and the points counted" "$PY" - "$T/slow" <<'PY'
import json, sys, numpy as np
text = open(sys.argv[1] + ".csv").read()
assert text.endswith("\n")
rows = np.loadtxt(sys.argv[1] + ".csv", delimiter=",", ndmin=2, skiprows=1)
n = len(rows)
assert 5 <= n < 1000, n
assert (rows[:, 0] == np.arange(n)).all()
m = json.load(open(sys.argv[1] + ".json"))
assert m["status"] == "stopped" and m["points"] == n, (m["status"], m["points"], n)
PY
check "sweep --progress json: one point object per row, then the final object" \
	CHECK progress "$T/slow.err" "$T/slow.json"

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

# kill -9 while the first sidecar is being renamed into place (strace holds
# that rename, the run's first, 3 s): the CSV is never there without it.
if command -v strace >/dev/null; then
	strace -f -qq -o /dev/null -e trace=renameat -e inject=renameat:delay_enter=3000000:when=1 \
		"$LABDAQ" sweep sim:ohm --set voltage0 --from 0 --to 1 --points 5 --read current0 \
		-o "$T/ks.csv" >"$T/ks.out" 2>&1 &
	sp=$!
	if wait_until "the sweep's first sidecar" 30 test -e "$T/.ks.json.tmp"; then
		sleep 0.5
		pkill -KILL -P "$sp"
		wait "$sp" 2>/dev/null
		check "kill -9 before the sweep's sidecar had its name: no CSV left without it" \
			sh -c '! test -e "$1/ks.csv" && ! test -e "$1/ks.json"' sh "$T"
		rm -f "$T/.ks.json.tmp"
		run ks2 labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 5 --read current0 \
			-o "$T/ks.csv"
		is "  ... the same name is free for the next sweep" "$RC" 0
	else
		kill -KILL "$sp" 2>/dev/null
	fi
else
	skip "strace is not installed (scripts/install-deps.sh installs it)"
fi

finish
