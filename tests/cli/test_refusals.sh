#!/usr/bin/env bash
# test_refusals.sh - honest refusals (issue 10, items 13, 15, 16): --dry-run
# and queue add refuse what the run refuses and say what the run will do;
# a count with --time ends at whichever comes first; concurrent queue adds
# of one output; a job file edited to --dry-run; control characters in job
# names; a path over PATH_MAX; a spare that is a directory; a kill in the
# first moments never leaves a .npy without its .json.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

export LABDAQ_QUEUE=$T/q
unset XDG_STATE_HOME
CAM='sim:camera?width=64&height=48'
cd "$T" || exit 1

# ---- 13. --dry-run and queue add: the run's own check ---------------------
long=$(printf 'a%.0s' $(seq 1 250))
bad_args=(
	"ring smaller than one frame|$CAM --frames 10 --ring 4k -o r1.npy|cannot hold one item"
	"ring beyond memory|$CAM --frames 10 --ring 100G -o r2.npy|does not fit in the memory"
	"name too long for the hidden temporary file|sim:adc --samples 10 -o $long.npy|too long"
	"non-UTF-8 output name|sim:adc --samples 10 -o $(printf '\xff\xfe').npy|not valid UTF-8"
)
for c in "${bad_args[@]}"; do
	IFS='|' read -r what args want <<<"$c"
	# shellcheck disable=SC2086 # the words of the case
	run dry labdaq acquire $args --dry-run
	drc=$RC
	# shellcheck disable=SC2086
	run real labdaq acquire $args
	rrc=$RC
	# shellcheck disable=SC2086
	run qadd labdaq queue add -- acquire $args
	qrc=$RC
	if [ "$drc" -ne 0 ] && [ "$drc" = "$rrc" ] && [ "$qrc" = "$rrc" ] &&
		grep -qi -- "$want" "$T/dry.err" && grep -qi -- "$want" "$T/real.err" &&
		! grep -qi 'cannot allocate memory' "$T/real.err"; then
		ok "item 13: $what: --dry-run, queue add and the run refuse alike (exit $rrc, '$want')"
	else
		not_ok "item 13: $what: --dry-run $drc, queue add $qrc, run $rrc; want the same non-zero, '$want'"
		cat "$T/dry.err" "$T/real.err" "$T/qadd.err" | diag
	fi
done
is "item 13: nothing was queued and no file created" \
	"$(ls "$LABDAQ_QUEUE/jobs" 2>/dev/null | grep -c '\.json$'; ls "$T" | grep -c '\.npy$')" \
	"0
0"

run plan labdaq acquire "$CAM" --rate 100 --time 2s --dry-run -o plan.npy
is "item 13: --dry-run of a paced timed run: exit 0" "$RC" 0
check "item 13: --dry-run prints the items (200), bytes, duration (2s) and the free space" \
	CHECK expr "'200 frames of 6144 bytes' in open('$T/plan.out').read()" \
	"'1232896' in open('$T/plan.out').read()" "'duration:  2.0s' in open('$T/plan.out').read()" \
	"'free:' in open('$T/plan.out').read()"
if [ -e "$T/plan.npy" ] || [ -e "$T/plan.json" ]; then
	not_ok "item 13: --dry-run created no file"
else
	ok "item 13: --dry-run created no file"
fi
if tmpfs_ok; then
	mkdir -p "$T/small"
	in_tmpfs size=1m "$T/small" "" "$LABDAQ" acquire "$CAM" --frames 1000 --dry-run \
		-o "$T/small/big.npy" >"$T/small.out" 2>"$T/small.err"
	is "item 13: --dry-run of a file larger than the free space: exit 0 (a warning)" "$?" 0
	check_grep "item 13: ... warns that it will not fit" "$T/small.err" \
		'warning: .*needs 6\.1 MB but only .* free'
else
	skip "item 13: the free-space warning: $NO_TMPFS"
fi

run splan labdaq sweep 'sim:ohm?r=1000' --set voltage0 --from -1 --to 1 --points 5 --repeat 2 \
	--delay 10ms --dry-run -o splan.csv
is "item 13: sweep --dry-run: exit 0" "$RC" 0
check "item 13: sweep --dry-run prints the points (10), the least duration and the free space" \
	CHECK expr "'points:    10 (5 x 2 passes)' in open('$T/splan.out').read()" \
	"'at least 0.1s' in open('$T/splan.out').read()" "'free:' in open('$T/splan.out').read()" \
	"not __import__('os').path.exists('$T/splan.csv')"

# ---- 15. a count and --time: whichever comes first --------------------------
run first1 labdaq acquire "$CAM" --frames 5 --time 10s --rate 100 -o wf1.npy
is "item 15: --frames 5 --time 10s at 100/s: exit 0" "$RC" 0
check "item 15: ... the count came first: 5 frames, exact" \
	CHECK frames wf1.npy --width 64 --height 48 --count 5 --contiguous
run first2 labdaq acquire "$CAM" --frames 100000 --time 0.3s --rate 100 -o wf2.npy
is "item 15: --frames 100000 --time 0.3s at 100/s: exit 0" "$RC" 0
check "item 15: ... the time came first: 30 frames (100/s x 0.3 s), exact" \
	CHECK frames wf2.npy --width 64 --height 48 --count 30 --contiguous
labdaq acquire --help >"$T/help.txt" 2>&1
check_grep "item 15: the usage line groups a count with --time" "$T/help.txt" \
	'\{\[--samples N \| --frames N\] \[--time DURATION\] \| --continuous\}'
check_grep "item 15: --help says whichever comes first" "$T/help.txt" 'whichever comes first'
if command -v man >/dev/null; then
	MANWIDTH=200 man -l "$TOP/man/labdaq.1" 2>/dev/null | tr -s ' ' >"$T/man.txt"
	check_grep "item 15: the man page's synopsis groups a count with --time" "$T/man.txt" \
		'\{\[--samples N \| --frames N\] \[--time DURATION\] \| --continuous\}'
else
	skip "item 15: the man page: no man(1)"
fi
check_grep "item 15: the man page says whichever comes first" "$TOP/man/labdaq.1" \
	'whichever comes first'

# ---- 16. the small ones -------------------------------------------------------
# Concurrent adds of one output: exactly one is queued.
for i in $(seq 1 20); do
	labdaq queue add -- acquire sim:adc --samples 10 -o same.npy >"$T/add$i.out" 2>&1 &
done
wait
n=$(grep -l '^[0-9][0-9]*$' "$T"/add*.out | wc -l)
is "item 16: 20 concurrent queue adds with one -o: exactly one queued" "$n" 1

# A job file edited to add --dry-run: failed, never complete with no file.
run qa labdaq queue add --name edited -- acquire sim:adc --samples 10 -o edited.npy
eid=$(cat "$T/qa.out")
"$PY" - "$LABDAQ_QUEUE/jobs/$eid.json" <<'EOF'
import json, sys
p = sys.argv[1]
j = json.load(open(p))
j["argv"].insert(1, "--dry-run")
json.dump(j, open(p, "w"))
EOF
# Control characters in a name: escaped in list and in the log.
run qn labdaq queue add --name "$(printf 'evil\033[2J\rname')" -- acquire sim:adc --samples 10 \
	-o ctl.npy
nid=$(cat "$T/qn.out")
run worker timeout 120 "$LABDAQ" queue run --until-empty
run qlist labdaq queue list
check "item 16: the edited --dry-run job failed (not complete), with a note, and made no file" \
	CHECK expr "__import__('json').load(open('$LABDAQ_QUEUE/jobs/$eid.json'))['state'] == 'failed'" \
	"not __import__('os').path.exists('$T/edited.npy')"
if grep -q "$(printf '\033')" "$T/qlist.out" "$T/qlist.err" "$T/worker.err" \
	"$LABDAQ_QUEUE/jobs/$nid.log" 2>/dev/null || grep -q "$(printf '\r')" "$T/qlist.out"; then
	not_ok "item 16: a job name's control characters are escaped in list, the worker's messages and the log"
	cat -v "$T/qlist.out" | diag
else
	ok "item 16: a job name's control characters are escaped in list, the worker's messages and the log"
fi
check_grep "item 16: ... shown as \\x1b" "$T/qlist.out" 'evil\\x1b\[2J\\x0dname'

# A path over PATH_MAX: said so, not "a directory that does not exist".
deep=$T/$(printf 'd%.0s' $(seq 1 4200))/x.npy
run pm labdaq acquire sim:adc --samples 10 -o "$deep"
is "item 16: a path over PATH_MAX: exit 2" "$RC" 2
check_grep "item 16: ... the message says the path is too long (PATH_MAX)" "$T/pm.err" 'PATH_MAX'

# The spare of the sidecar is a directory: the message names it.
run sp labdaq acquire sim:adc --samples 10 -o sp.npy
mkdir .sp.json.tmp
run sprec labdaq recover sp.npy
is "item 16: recover with a directory as the spare: exit 1" "$RC" 1
check_grep "item 16: ... the message names the spare (.sp.json.tmp), not the data file" \
	"$T/sprec.err" "'\.sp\.json\.tmp'.*is a directory"

# A kill in the first moments: never a .npy without its .json.
mkdir -p "$T/kills"
orphans=0
for i in $(seq 1 40); do
	"$LABDAQ" acquire sim:adc --samples 1M --rate 100k -o "$T/kills/k$i.npy" \
		>/dev/null 2>&1 &
	pid=$!
	sleep "0.$(printf %03d $((i * 6)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	if [ -e "$T/kills/k$i.npy" ] && [ ! -e "$T/kills/k$i.json" ]; then
		orphans=$((orphans + 1))
	fi
done
diag "40 runs killed in their first 6-240 ms: $(ls "$T/kills" | grep -c '\.npy$') data files"
is "item 16: a kill -9 in the first moments never leaves a .npy without its .json" "$orphans" 0

finish
