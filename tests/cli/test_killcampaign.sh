#!/usr/bin/env bash
# test_killcampaign.sh - kill -9 at random moments (issue 10): 60 runs of
# sim:camera and sim:adc at several rates and shapes, each killed after a
# random delay, then recovered: a third of them 0 to 300 ms after the
# command starts (the process starting, the files being created), the
# others 0 to 400 ms after the sidecar appeared (its first moments and the
# run's first checkpoints; the machine's load does not shift them).  Every run leaves either
# nothing, or only its sidecar (killed before its data file had a name), or
# a data file with its sidecar that 'labdaq recover' makes exact: every
# whole item on disk kept, every byte of every item the deterministic
# pattern of its index (docs/sim.md), the sidecar "recovered" with the
# counts of the file.  LABDAQ_TEST_SEED=N replays a campaign.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

SEED=${LABDAQ_TEST_SEED:-$(($(date +%s) % 32768))}
RANDOM=$SEED
diag "seed $SEED (LABDAQ_TEST_SEED=$SEED replays this campaign)"
N=60

nothing=0 onlyjson=0 recovered=0 bad=0
fail() {
	bad=$((bad + 1))
	diag "run $1 ($2, killed after $3 ms): $4"
}

for i in $(seq 1 $N); do
	if [ $((i % 2)) -eq 0 ]; then
		w=$((16 * (1 + RANDOM % 6))) h=$((8 * (1 + RANDOM % 6)))
		rates=(200 1000 3000)
		dev="sim:camera?width=$w&height=$h"
		args=(--rate "${rates[RANDOM % 3]}")
		kind=frames
	else
		nch=$((1 + RANDOM % 4))
		rates=(10k 200k 1M)
		dev="sim:adc?channels=$nch"
		args=(--rate "${rates[RANDOM % 3]}")
		kind=samples
	fi
	f=$T/k$i.npy j=$T/k$i.json
	"$LABDAQ" acquire "$dev" --continuous "${args[@]}" -o "$f" >"$T/k$i.out" 2>&1 &
	pid=$!
	if [ $((i % 3)) -eq 0 ]; then
		ms=$((RANDOM % 300))
	else
		ms=$((RANDOM % 400))
		wait_until "the sidecar of run $i" 30 test -e "$j"
		args+=(after the sidecar)
	fi
	sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	what="$dev ${args[*]}"
	if [ ! -e "$f" ] && [ ! -e "$j" ]; then
		nothing=$((nothing + 1))
		continue
	fi
	if [ ! -e "$f" ]; then
		onlyjson=$((onlyjson + 1))
		why=$(CHECK expr --json "$j" "m['status'] == 'running'" "m['written'] == 0" 2>&1) ||
			fail "$i" "$what" "$ms" "a sidecar alone that is not an empty start: $why"
		continue
	fi
	if [ ! -e "$j" ]; then
		fail "$i" "$what" "$ms" "a data file without its sidecar"
		continue
	fi
	size=$(stat -c %s "$f")
	if ! "$LABDAQ" recover "$f" >"$T/r$i.out" 2>&1; then
		fail "$i" "$what" "$ms" "recover failed: $(cat "$T/r$i.out")"
		continue
	fi
	recovered=$((recovered + 1))
	if [ "$kind" = frames ]; then
		ib=$((w * h * 2))
		why=$(CHECK frames "$f" --width "$w" --height "$h" --contiguous 2>&1)
	else
		ib=$((nch * 2))
		why=$(CHECK samples "$f" --channels "$(seq -s, 0 $((nch - 1)))" --contiguous 2>&1)
	fi
	[ $? -eq 0 ] || { fail "$i" "$what" "$ms" "data after recover: $why"; continue; }
	whole=$(((size - 4096) / ib))
	why=$(CHECK expr --json "$j" --npy "$f" "n == $whole" \
		"size == (4096 + n * ib if n else 4097)" "m['status'] == 'recovered'" \
		"m['written'] == n" "m['acquired'] >= n" 2>&1) ||
		fail "$i" "$what" "$ms" "counts after recover ($size bytes before, $whole whole items): $why"
	# The next run's files must not fill the disk.
	rm -f "$f" "$j"
done
diag "$N kills: $recovered data files recovered, $onlyjson sidecars alone, $nothing runs left nothing"
is "kill -9 at $N random moments: every file recovered exactly" "$bad" 0
check "the campaign reached the data: most kills left a data file to recover" \
	test "$recovered" -ge $((N / 2))
finish
