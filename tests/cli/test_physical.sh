#!/usr/bin/env bash
# test_physical.sh - the sidecar makes physical values and time computable:
# each channel's scale, offset and the conversion in words; the requested
# and the measured rate and a time-axis recipe that works at rate 0; the
# user's --meta; labdaq inspect shows all of it.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

# ---- offsets: raw data kept, the offset recorded, the conversion in words ----
run off labdaq acquire 'sim:adc?channels=2&offset=-100' --samples 300 -o "$T/off.npy"
is "adc with offset -100: exit 0" "$RC" 0
check "offset: each channel's scale 0.001, offset -100 and its conversion in words" \
	CHECK expr --json "$T/off.json" \
	"[(c['name'], c['unit'], c['scale'], c['offset']) for c in m['channels']] == [('voltage0', 'V', 0.001, -100), ('voltage1', 'V', 0.001, -100)]" \
	"m['channels'][0]['conversion'] == 'voltage0 in V = (raw - 100) * 0.001'"
check "offset: volts from the file and the sidecar are the documented (raw(s, c) - 100) * 0.001" \
	"$PY" - "$T/off" <<'PY'
import json, sys, numpy as np
a = np.load(sys.argv[1] + ".npy")
m = json.load(open(sys.argv[1] + ".json"))
volts = np.stack([(a[:, k] + c["offset"]) * c["scale"] for k, c in enumerate(m["channels"])], 1)
s = np.arange(300)[:, None]
c = np.arange(2)[None, :]
raw = ((s * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view(np.int16)
assert (a == raw).all()
assert np.allclose(volts, (raw.astype(float) - 100) * 0.001, rtol=0, atol=1e-12)
PY
run plain labdaq acquire 'sim:adc?channels=1' --samples 10 -o "$T/plain.npy"
check "no offset: offset 0 and 'raw * scale'" CHECK expr --json "$T/plain.json" \
	"m['channels'][0]['offset'] == 0" "m['channels'][0]['conversion'] == 'voltage0 in V = raw * 0.001'"
run info labdaq info 'sim:adc?channels=1&offset=-100'
check_grep "labdaq info shows the offset" "$T/info.out" 'voltage0 +input +V .*offset -100'
run ioff labdaq inspect "$T/off.npy"
check_grep "inspect shows the offset" "$T/ioff.out" '^channel: +voltage0 \[V\] scale 0\.001 offset -100$'
check_grep "inspect shows the conversion" "$T/ioff.out" '^physical: +voltage0 in V = \(raw - 100\) \* 0\.001$'

# ---- rates and the time axis --------------------------------------------------
run paced labdaq acquire 'sim:adc?channels=1' --samples 500 --rate 1k -o "$T/paced.npy"
check "--rate 1k: rate_hz 1000 requested, measured within 10%, the recipe uses rate_hz" \
	CHECK expr --json "$T/paced.json" "m['rate_hz'] == 1000" \
	"900 <= m['measured_rate_hz'] <= 1100" "'/ rate_hz' in m['time_axis']" \
	"abs(m['measured_rate_hz'] * m['elapsed_s'] - m['acquired']) < 1e-6 * m['acquired']"
run fast labdaq acquire 'sim:adc?channels=1' --samples 200k -o "$T/fast.npy"
check "rate 0: rate_hz 0, measured = acquired / elapsed, a recipe from the measured rate" \
	CHECK expr --json "$T/fast.json" "m['rate_hz'] == 0" "m['measured_rate_hz'] > 0" \
	"abs(m['measured_rate_hz'] * m['elapsed_s'] - m['acquired']) < 1e-6 * m['acquired']" \
	"'/ measured_rate_hz' in m['time_axis']"
check "rate 0: the recipe gives a time axis that spans the run" "$PY" - "$T/fast" <<'PY'
import json, sys, numpy
m = json.load(open(sys.argv[1] + ".json"))
a = numpy.load(sys.argv[1] + ".npy")
n = len(a)
expr = m["time_axis"].split(" (")[0].split("=", 1)[1]
t_s = eval(expr, {"numpy": numpy, "n": n, "a": a, "rate_hz": m["rate_hz"],
                  "measured_rate_hz": m["measured_rate_hz"]})
assert len(t_s) == n and t_s[0] == 0
assert abs(t_s[-1] - m["elapsed_s"]) <= m["elapsed_s"] / n * 2 + 1e-9, (t_s[-1], m["elapsed_s"])
PY
run ipaced labdaq inspect "$T/paced.npy"
check_grep "inspect shows requested and measured rates" "$T/ipaced.out" \
	'^rate: +1000 items/s requested, [0-9.]+ items/s measured$'
check_grep "inspect shows the time axis" "$T/ipaced.out" '^time axis: t_s = numpy.arange\(n\) / rate_hz'

# ---- --meta -----------------------------------------------------------------------
run meta labdaq acquire 'sim:adc?channels=1' --samples 10 --meta sample=GaAs-17 \
	--meta 'operator=Ada L.' --meta 'notes=cooled, 4 K; a=b' --meta sample=GaAs-18 -o "$T/meta.npy"
is "--meta: exit 0" "$RC" 0
check "--meta: the user's pairs under 'user', in order, a repeated key replaced" \
	CHECK expr --json "$T/meta.json" \
	"list(m['user'].items()) == [('sample', 'GaAs-18'), ('operator', 'Ada L.'), ('notes', 'cooled, 4 K; a=b')]"
run imeta labdaq inspect "$T/meta.npy"
check_grep "inspect shows the user's metadata" "$T/imeta.out" '^user: +notes = cooled, 4 K; a=b$'
run smeta labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 3 --meta run=7 \
	-o "$T/smeta.csv"
check "sweep --meta: in the sweep's sidecar" CHECK expr --json "$T/smeta.json" \
	"m['user'] == {'run': '7'}"
run nometa labdaq acquire 'sim:adc?channels=1' --samples 10 -o "$T/nometa.npy"
check "without --meta: 'user' is an empty object" CHECK expr --json "$T/nometa.json" "m['user'] == {}"
for bad in novalue '=x' 'bad key=1'; do
	run badmeta labdaq acquire 'sim:adc?channels=1' --samples 10 --meta "$bad" -o "$T/bm.npy"
	if [ "$RC" = 2 ] && grep -q -- "--meta" "$T/badmeta.err" && [ ! -e "$T/bm.npy" ]; then
		ok "--meta '$bad': refused, exit 2, no file"
	else
		not_ok "--meta '$bad': refused, exit 2, no file (exit $RC)"
		diag <"$T/badmeta.err"
	fi
done

finish
