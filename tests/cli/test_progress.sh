#!/usr/bin/env bash
# test_progress.sh - --progress json is a contract (docs/progress.md): in
# that mode stderr carries only JSON objects, one per line, each valid
# against docs/progress.schema.json; a sweep emits exactly one object per
# point, in order; every run, also a failed, stopped, aborted or refused
# one, ends with exactly one final object.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy
if ! "$PY" -c 'import jsonschema' 2>/dev/null; then
	skip "python3-jsonschema is not installed (scripts/install-deps.sh installs it)"
	finish
fi

# progress_ok NAME WHAT [ARGS...]: $T/NAME.err follows the contract.
progress_ok() {
	local name=$1 what=$2
	shift 2
	check "$what: every stderr line valid, one final, the last" \
		CHECK progress "$T/$name.err" "$@"
}

# final_is NAME EXPR: the Python EXPR holds for the final object f.
final_is() {
	check "$1: final object: $2" "$PY" -c '
import json, sys
f = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert eval(sys.argv[2]), f' "$T/$1.err" "$2"
}

# ---- sweeps: one object per point, in order, whatever the pace ------------
run sw0 labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 20000 --progress json \
	-o "$T/sw0.csv"
is "sweep of 20000 points without delay: exit 0" "$RC" 0
progress_ok sw0 "20000 points, no delay" "$T/sw0.json" --points 20000
final_is sw0 "f['state'] == 'complete' and f['written'] == 20000 and f['exit_status'] == 0"

run sw30 labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 12 --delay 30ms \
	--progress json -o "$T/sw30.csv"
progress_ok sw30 "12 points, --delay 30ms" "$T/sw30.json" --points 12
check "--delay 30ms: the point objects carry the CSV's values" "$PY" - "$T/sw30" <<'PY'
import json, sys, numpy as np
objs = [json.loads(l) for l in open(sys.argv[1] + ".err")]
rows = np.loadtxt(sys.argv[1] + ".csv", delimiter=",", skiprows=1)
pts = [o for o in objs if o["type"] == "point"]
assert len(pts) == len(rows) == 12
for o, r in zip(pts, rows):
    v = o["values"]
    assert list(v) == ["set_voltage0", "voltage0", "current0"], list(v)
    assert np.allclose([v["set_voltage0"], v["voltage0"], v["current0"]], r[3:], rtol=1e-9), (v, r)
PY

run sw3 labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 3 --delay 100ms \
	--progress json -o "$T/sw3.csv"
progress_ok sw3 "3 points, --delay 100ms" "$T/sw3.json" --points 3

# A failed sweep: the device is lost at the 5th read.
run swfail labdaq sweep 'sim:ohm?fail_after=4' --set voltage0 --from 0 --to 1 --points 10 \
	--progress json -o "$T/swfail.csv"
is "sweep, device lost: exit 1" "$RC" 1
progress_ok swfail "failed sweep" "$T/swfail.json" --points 4
final_is swfail "f['state'] == 'failed' and f['written'] == 4 and f['error']['code'] == 19 and 'gone' in f['error']['message']"

# Stopped and aborted sweeps.
run_bg swstop labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 1000 --delay 20ms \
	--progress json -o "$T/swstop.csv"
pid=$BG_PID
wait_until "3 rows in swstop.csv" 30 eval '[ "$(wc -l <"$T/swstop.csv")" -ge 4 ]'
kill -TERM "$pid"
wait_pid "$pid" 30
is "stopped sweep: exit 0" "$RC" 0
progress_ok swstop "stopped sweep" "$T/swstop.json"
final_is swstop "f['state'] == 'stopped' and 3 <= f['written'] < 1000"
check "stopped sweep: one point object per CSV row" "$PY" -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1] + ".err")]
rows = open(sys.argv[1] + ".csv").read().splitlines()[1:]
assert [o["index"] for o in objs if o["type"] == "point"] == list(range(len(rows))), len(rows)' \
	"$T/swstop"

run_bg swabort labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 1000 --delay 20ms \
	--progress json -o "$T/swabort.csv"
pid=$BG_PID
wait_until "3 rows in swabort.csv" 30 eval '[ "$(wc -l <"$T/swabort.csv")" -ge 4 ]'
kill -USR1 "$pid"
wait_pid "$pid" 30
is "aborted sweep: exit 130" "$RC" 130
progress_ok swabort "aborted sweep" "$T/swabort.json"
final_is swabort "f['state'] == 'aborted' and f['exit_status'] == 130"

# ---- streams ------------------------------------------------------------------
CAM='sim:camera?width=64&height=48'
run st labdaq acquire "$CAM" --frames 100 --rate 200 --progress json -o "$T/st.npy"
progress_ok st "complete stream" "$T/st.json"
check "complete stream: periodic progress objects before the final one" "$PY" -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1])]
assert sum(o["type"] == "progress" for o in objs) >= 1, objs' "$T/st.err"

run stfail labdaq acquire "$CAM&fail_after=5" --frames 100 --progress json -o "$T/stfail.npy"
is "failed stream: exit 1" "$RC" 1
progress_ok stfail "failed stream" "$T/stfail.json"
final_is stfail "f['state'] == 'failed' and f['error']['code'] == 19 and f['exit_status'] == 1"

run_bg ststop labdaq acquire "$CAM" --continuous --rate 200 --progress json -o "$T/ststop.npy"
pid=$BG_PID
wait_for_progress "$T/ststop.err" "p['acquired'] > 0" 30
kill -TERM "$pid"
wait_pid "$pid" 30
progress_ok ststop "stopped stream" "$T/ststop.json"
final_is ststop "f['state'] == 'stopped' and f['exit_status'] == 0"

run_bg stabort labdaq acquire "$CAM" --continuous --rate 200 --progress json -o "$T/stabort.npy"
pid=$BG_PID
wait_for_progress "$T/stabort.err" "p['acquired'] > 0" 30
kill -USR1 "$pid"
wait_pid "$pid" 30
is "aborted stream: exit 130" "$RC" 130
progress_ok stabort "aborted stream" "$T/stabort.json"
final_is stabort "f['state'] == 'aborted' and f['exit_status'] == 130"

# ---- refused and dry runs: messages, then the final object ---------------------
run exists labdaq acquire "$CAM" --frames 3 --progress json -o "$T/st.npy"
is "existing file refused: exit 2" "$RC" 2
progress_ok exists "refused run"
final_is exists "f['state'] == 'refused' and f['exit_status'] == 2 and 'exists' in f['error']['message']"
run badarg labdaq sweep sim:ohm --progress json --set voltage0 --from 0 --to 1 --points x \
	-o "$T/bad.csv"
progress_ok badarg "bad --points"
final_is badarg "f['state'] == 'refused' and f['exit_status'] == 2 and 'points' in f['error']['message']"
run dry labdaq acquire "$CAM" --frames 3 --progress=json --dry-run -o "$T/dry.npy"
progress_ok dry "dry run"
final_is dry "f['state'] == 'checked' and f['exit_status'] == 0 and f['error'] is None"

# A library that prints on stderr itself (libiio 0.24 does: docs/iio.md) does
# not break the contract: its line becomes a "message" object.  A preloaded
# wrapper of labdaq_run_start() plays that library.
cat >"$T/stray.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
int labdaq_run_start(void *dev, const void *cfg, void **out)
{
	int (*real)(void *, const void *, void **) =
		(int (*)(void *, const void *, void **))dlsym(RTLD_NEXT, "labdaq_run_start");
	fprintf(stderr, "WARNING: High-speed mode not enabled\n");
	fflush(stderr);
	return real(dev, cfg, out);
}
C
if cc -shared -fPIC -o "$T/stray.so" "$T/stray.c" -ldl 2>"$T/stray.cc"; then
	LD_PRELOAD=$T/stray.so run stray labdaq acquire "$CAM" --frames 20 --progress json \
		-o "$T/stray.npy"
	is "a library's own stderr line: exit 0" "$RC" 0
	progress_ok stray "a library's own stderr line"
	check "the stray line is a message object of level warning, before the final one" \
		"$PY" -c '
import json, sys
objs = [json.loads(l) for l in open(sys.argv[1]).read().splitlines()]
m = [o for o in objs if o["type"] == "message" and "High-speed" in o["message"]]
assert len(m) == 1 and m[0]["level"] == "warning", objs
assert objs.index(m[0]) < len(objs) - 1 and objs[-1]["type"] == "final", objs' "$T/stray.err"
else
	not_ok "the preloaded stand-in builds"
	diag <"$T/stray.cc"
fi

# The checker itself fails on a line that is not the contract.
printf '%s\n' '{"type":"progress","final":false}' >"$T/bad.err"
if CHECK progress "$T/bad.err" >/dev/null 2>&1; then
	not_ok "the checker refuses an object without the documented members"
else
	ok "the checker refuses an object without the documented members"
fi
head -n 3 "$T/sw3.err" >"$T/nofinal.err"
if CHECK progress "$T/nofinal.err" >/dev/null 2>&1; then
	not_ok "the checker refuses a run without its final object"
else
	ok "the checker refuses a run without its final object"
fi

finish
