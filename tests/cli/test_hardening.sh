#!/usr/bin/env bash
# test_hardening.sh - small defects of issue 10 (data files and their
# readers), each a check that failed before its fix.
. "$(dirname "$0")/lib.sh"
require_labdaq

# 11. A fifo (as the data file or as its sidecar) is refused by inspect and
#     recover, which never open it for reading (they hung there).
mkfifo "$T/f.npy"
run fifo_inspect timeout 10 "$LABDAQ" inspect "$T/f.npy"
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "inspect of a fifo is refused at once (exit $RC)"
else not_ok "inspect of a fifo is refused at once (exit $RC)"; fi
check_grep "inspect says it is not a regular file" "$T/fifo_inspect.err" "not a regular file"
run fifo_recover timeout 10 "$LABDAQ" recover "$T/f.npy"
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "recover of a fifo is refused at once (exit $RC)"
else not_ok "recover of a fifo is refused at once (exit $RC)"; fi
check_grep "recover says it is not a regular file" "$T/fifo_recover.err" "not a regular file"
run good labdaq acquire sim:adc --samples 10 -o "$T/g.npy"
is "a small run: exit 0" "$RC" 0
rm -f "$T/g.json"
mkfifo "$T/g.json"
run side_inspect timeout 10 "$LABDAQ" inspect "$T/g.npy"
if [ "$RC" -ne 124 ]; then ok "inspect with a fifo as the sidecar does not hang (exit $RC)"
else not_ok "inspect with a fifo as the sidecar does not hang (exit $RC)"; fi
run side_recover timeout 10 "$LABDAQ" recover "$T/g.npy"
if [ "$RC" -ne 0 ] && [ "$RC" -ne 124 ]; then ok "recover with a fifo as the sidecar is refused at once (exit $RC)"
else not_ok "recover with a fifo as the sidecar is refused at once (exit $RC)"; fi
check_grep "recover names the fifo" "$T/side_recover.err" "g\.json is not a regular file"
if [ -p "$T/g.json" ]; then ok "the fifo is left as it was"; else not_ok "the fifo is left as it was"; fi

# 12. Data files are created 0666 and the umask decides (a shared queue's
#     UMask=0007 gives group read-write), like every other tool's files.
(umask 0007 && exec "$LABDAQ" acquire sim:adc --samples 10 -o "$T/m.npy") >/dev/null 2>&1
is "umask 0007: the .npy is 0660" "$(stat -c %a "$T/m.npy")" 660
is "umask 0007: the sidecar is 0660" "$(stat -c %a "$T/m.json")" 660
(umask 0007 && exec "$LABDAQ" sweep sim:ohm --set voltage0 --from 0 --to 1 --points 3 \
	-o "$T/s.csv") >"$T/s.out" 2>&1 || diag <"$T/s.out"
is "umask 0007: a sweep's .csv is 0660" "$(stat -c %a "$T/s.csv")" 660
(umask 0022 && exec "$LABDAQ" acquire sim:adc --samples 10 -o "$T/n.npy") >/dev/null 2>&1
is "umask 0022: the .npy is 0644" "$(stat -c %a "$T/n.npy")" 644

# 14. inspect's exit status: non-zero for a dead run's file that still says
#     running (naming recover), a header/sidecar mismatch, and a sidecar that
#     is a JSON array; zero for a live run's file and a complete one.
run_bg live labdaq acquire sim:adc --continuous --rate 1k -o "$T/live.npy"
lpid=$BG_PID
wait_for_json "$T/live.json" "m['written'] > 0" 30
run insp_live labdaq inspect "$T/live.npy"
is "inspect of a live run's file: exit 0" "$RC" 0
kill -KILL "$lpid"
wait_pid "$lpid" 10 "the run killed with SIGKILL"
run insp_dead labdaq inspect "$T/live.npy"
is "inspect of a killed run's file still saying running: exit 1" "$RC" 1
check_grep "it says the run is gone and to recover" "$T/insp_dead.out" "GONE: .*labdaq recover"
run rec labdaq recover "$T/live.npy"
run insp_rec labdaq inspect "$T/live.npy"
is "inspect after recover: exit 0" "$RC" 0
run mis labdaq acquire sim:adc --samples 10 -o "$T/mis.npy"
"$PY" -c 'import json, sys
p = sys.argv[1]; m = json.load(open(p)); m["written"] = 5; json.dump(m, open(p, "w"))' "$T/mis.json"
run insp_mis labdaq inspect "$T/mis.npy"
is "inspect of a header/sidecar mismatch: exit 1" "$RC" 1
run arr labdaq acquire sim:adc --samples 10 -o "$T/arr.npy"
echo '[1, 2]' >"$T/arr.json"
run insp_arr labdaq inspect "$T/arr.npy"
is "inspect with a sidecar that is a JSON array: exit 1" "$RC" 1

finish
