#!/usr/bin/env bash
# test_example.sh - examples/stream.c, the library's smallest complete use,
# builds warning-free with -Wall -Wextra against the public header and the
# shared library (as a user's program does), and runs on every sim device:
# the newest values it prints are the file's, in their physical unit, and
# its files hold exactly the documented sim data.
. "$(dirname "$0")/lib.sh"
require_numpy

if cc -std=c11 -Wall -Wextra -Werror -I"$TOP/lib/include" \
	"$TOP/examples/stream.c" -L"$TOP/build" -llabdaq -Wl,-rpath,"$TOP/build" \
	-o "$T/stream" 2>"$T/cc.err"; then
	ok "examples/stream.c builds with -Wall -Wextra -Werror"
else
	not_ok "examples/stream.c builds with -Wall -Wextra -Werror"
	diag <"$T/cc.err"
	finish
fi

# Every sim device labdaq list shows, and an ADC whose channels have an offset.
devices=$("$LABDAQ" list | awk '$1 ~ /^sim:/ {print $1}')
is "labdaq list shows the three sim devices" "$(echo $devices)" "sim:camera sim:adc sim:ohm"
k=0
for d in $devices 'sim:adc?channels=2&offset=-100' 'sim:camera?width=64&height=48'; do
	k=$((k + 1))
	# The full-size camera: 200 frames (123 MB), not 2000.
	count=2000
	[ "$d" = sim:camera ] && count=200
	run ex$k "$T/stream" "$d" "$T/ex$k.npy" $count
	is "the example on $d: exit 0" "$RC" 0
	check_grep "$d: it showed progress while the run went on" "$T/ex$k.out" "^[0-9]+/$count items"
	check_grep "$d: it reports the end, the dtype and the item size" "$T/ex$k.out" \
		"^complete: $count written, 0 dropped \\(<[iu][248], [0-9]+ bytes per item\\)"
	check "$d: every newest value it printed is the file's, raw and physical" \
		"$PY" - "$T/ex$k" <<'PY'
import json, re, sys, numpy as np
a = np.load(sys.argv[1] + ".npy")
m = json.load(open(sys.argv[1] + ".json"))
out = open(sys.argv[1] + ".out").read()
tail = re.search(r"\((<[iu]\d), (\d+) bytes per item\)", out)
assert tail.group(1) == a.dtype.str and int(tail.group(2)) == a[0].nbytes, (tail.group(0), a.dtype)
seen = re.findall(r"^item (\d+): (\S+) = (\S+) (\S*) ?\(raw (-?\d+)\)$", out, re.M)
assert len(seen) >= 2, out
for i, name, value, unit, raw in seen:
    i, raw = int(i), int(raw)
    first = a[i].flat[0]
    assert raw == first, (i, raw, first)
    if m["kind"] == "samples":
        c = m["channels"][0]
        assert name == c["name"] and unit == c["unit"], (name, unit, c)
        want = (first + c["offset"]) * c["scale"]
        assert abs(float(value) - want) <= 1e-8 * max(1, abs(want)), (value, want)
print(len(seen), "values checked")
PY
	[ "$d" = sim:camera ] && rm -f "$T/ex$k.npy"
done
check "sim:adc: 2000 x 4 int16, sample s channel c = (s*(2c+1) + 1000c) mod 65536" \
	"$PY" - "$T/ex2.npy" <<'PY'
import sys, numpy as np
a = np.load(sys.argv[1])
assert a.shape == (2000, 4) and a.dtype == np.int16, (a.shape, a.dtype)
s = np.arange(2000)[:, None]
c = np.arange(4)[None, :]
want = ((s * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view(np.int16)
assert (a == want).all()
PY
check "the offset ADC: raw data unchanged, the offset -100 in the sidecar" \
	CHECK expr --json "$T/ex4.json" --npy "$T/ex4.npy" \
	"[c['offset'] for c in m['channels']] == [-100, -100]" "n == 2000"
finish
