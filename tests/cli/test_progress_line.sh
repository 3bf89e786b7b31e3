#!/usr/bin/env bash
# test_progress_line.sh - the live progress line fits the terminal: it reads
# the width ($COLUMNS when stderr is not a terminal), leaves the last column
# free, shortens itself and never wraps; --progress bar draws a bar.  And
# '-o -' is refused with a pipeline that works, checked value by value.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

# lines_fit FILE WIDTH: every \r-separated segment of FILE (ANSI erase codes
# removed) is at most WIDTH - 1 columns.
lines_fit() {
	"$PY" - "$1" "$2" <<'PY'
import re, sys
text = open(sys.argv[1], errors="replace").read()
segs = [re.sub(r"\x1b\[K", "", s) for s in re.split(r"[\r\n]", text) if s.strip()]
live = [s for s in segs if not s.startswith("labdaq:")]
assert live, text
too_long = [s for s in live if len(s) > int(sys.argv[2]) - 1]
assert not too_long, too_long[:3]
print(len(live), "lines, longest", max(map(len, live)))
PY
}

for w in 200 80 40 20; do
	COLUMNS=$w run w$w labdaq acquire 'sim:adc?channels=2' --samples 1500 --rate 1k \
		--progress bar -o "$T/w$w.npy"
	is "--progress bar at $w columns: exit 0" "$RC" 0
	check "at $w columns: every progress line fits in $((w - 1))" lines_fit "$T/w$w.err" "$w"
done
check_grep "at 80 columns: a bar with its percentage" "$T/w80.err" '\[#+-*\] +[0-9]+%'
check_grep "at 80 columns: the count and the rate" "$T/w80.err" '/1500 samples .*MB/s'
check_grep "at 200 columns: all of it (ring, dropped, ETA)" "$T/w200.err" \
	'ring [0-9]+%  dropped 0  ETA '
check_grep "the final line: a full bar" "$T/w80.err" '\[#+\] 100%'
if grep -q '#' "$T/w20.err"; then not_ok "at 20 columns: no bar (no room)"; else ok "at 20 columns: no bar (no room)"; fi
COLUMNS=60 run cont labdaq acquire 'sim:adc?channels=2' --time 1s --rate 1k --progress bar \
	-o "$T/cont.npy"
check_grep "--time 1s: the bar follows the time" "$T/cont.err" '\[#+-*\] +[0-9]+%'
check "--time 1s at 60 columns: fits" lines_fit "$T/cont.err" 60

# ---- -o - -----------------------------------------------------------------------
run dash labdaq acquire 'sim:adc?channels=2' --samples 10 -o -
is "acquire -o -: refused, exit 2" "$RC" 2
check_grep "acquire -o -: the message says why and how" "$T/dash.err" \
	"until \\[ \"\\\$\\(stat -c %s run.npy 2>/dev/null\\)\" -gt 4097 \\] 2>/dev/null; do sleep 0.1; done; tail --pid=\\\$! -c \\+4097 -f run.npy \\| PROGRAM"
run sdash labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 2 -o -
is "sweep -o -: refused, exit 2" "$RC" 2
# The pipeline the message gives, as given: every sample arrives, exact.
cd "$T" || exit 1
bash -c "'$LABDAQ' acquire 'sim:adc?channels=2' --samples 200k --rate 100k -o run.npy 2>/dev/null &
	until [ \"\$(stat -c %s run.npy 2>/dev/null)\" -gt 4097 ] 2>/dev/null; do sleep 0.1; done; tail --pid=\$! -c +4097 -f run.npy | '$PY' -c '
import sys, numpy as np
a = np.frombuffer(sys.stdin.buffer.read(), dtype=\"<i2\").reshape(-1, 2)
s = np.arange(len(a))[:, None]
c = np.arange(2)[None, :]
want = ((s * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view(np.int16)
assert len(a) == 200000 and (a == want).all(), len(a)
print(\"ok\", len(a))'" >"$T/pipe.out" 2>&1
is "the pipeline of the message delivers the 200000 samples, exact" "$?:$(tail -n 1 "$T/pipe.out")" \
	"0:ok 200000"
finish
