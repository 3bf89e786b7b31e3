#!/usr/bin/env bash
# test_diskfull.sh - a disk that fills at any moment (issue 10, item 6):
# on a small tmpfs filled to many small free sizes, and with another
# process filling it while the run writes, every run either refuses to
# start (nothing left behind) or ends with a sidecar that says "failed"
# with ENOSPC, whose counts match the data file, every frame exact.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

W=64 H=48
FB=$((W * H * 2))
CAM="sim:camera?width=$W&height=$H"

if ! tmpfs_ok; then
	skip "full disk: $NO_TMPFS"
	finish
fi

# The run inside the tmpfs: fill it to $free KiB free (or, with a delay,
# start a filler that takes all the space after that delay), run, remove
# the filler's file so that only the run's files are copied out.
cat >"$T/inner.sh" <<'EOF'
dir=$1 free=$2 delay=$3 labdaq=$4
shift 4
if [ "$delay" = - ]; then
	avail=$(df --output=avail -k "$dir" | tail -n 1)
	[ "$avail" -gt "$free" ] && dd if=/dev/zero of="$dir/fill" bs=1k count=$((avail - free)) \
		status=none 2>/dev/null
else
	(sleep "$delay"; dd if=/dev/zero of="$dir/fill" bs=64k status=none 2>/dev/null) &
fi
"$labdaq" "$@"
rc=$?
wait
rm -f "$dir/fill"
exit "$rc"
EOF

bad=0 nfailed=0 nrefused=0 runs=0
# one_run NAME FREE_KIB DELAY ARGS...: a run and its checks; failures
# counted in $bad with the reason as a diagnostic.
one_run() {
	local name=$1 free=$2 delay=$3 kept=$T/$1.kept rc why=
	shift 3
	mkdir -p "$kept" "$T/$name.mnt"
	in_tmpfs size=8m "$T/$name.mnt" "$kept" /bin/sh "$T/inner.sh" "$T/$name.mnt" "$free" \
		"$delay" "$LABDAQ" acquire "$CAM" "$@" -o "$T/$name.mnt/n.npy" \
		>"$T/$name.out" 2>"$T/$name.err"
	rc=$?
	runs=$((runs + 1))
	if [ "$rc" -ne 1 ]; then
		why="exit status $rc, not 1"
	elif [ ! -e "$kept/n.npy" ] && [ ! -e "$kept/n.json" ]; then
		# Refused at the start: said so, and nothing left behind.
		nrefused=$((nrefused + 1))
		grep -qi 'no space left' "$T/$name.err" || why="refused without 'no space left'"
		[ -z "$(ls -A "$kept")" ] || why="refused but left $(ls -A "$kept" | tr '\n' ' ')"
	else
		nfailed=$((nfailed + 1))
		why=$(CHECK expr --json "$kept/n.json" --npy "$kept/n.npy" \
			"m['status'] == 'failed'" "m['error'] is not None and m['error']['code'] == 28" \
			"m['written'] == n" "size == (4096 + n * ib if n else 4097)" \
			"m['ended_utc'] is not None" 2>&1) && why=
		[ -z "$why" ] && { why=$(CHECK frames "$kept/n.npy" --width $W --height $H \
			--json "$kept/n.json" 2>&1) && why=; }
		[ -z "$why" ] && [ "$(ls -A "$kept" | tr '\n' ' ')" != "n.gaps.npy n.json n.npy " ] &&
			why="files left: $(ls -A "$kept" | tr '\n' ' ')"
	fi
	if [ -n "$why" ]; then
		bad=$((bad + 1))
		diag "$name (free ${free} KiB, delay $delay): $why" "$(tail -n 2 "$T/$name.err")"
	fi
	rm -rf "$kept" "$T/$name.mnt"
}

# Filled before the start: 4 KiB to 800 KiB free, the sizes where the
# sidecar, the gaps' file (its 128 KiB reserve), the header and the first
# frames compete for the last blocks.
for free in 4 8 12 16 20 24 28 32 36 40 44 48 56 64 68 72 80 92 100 110 122 134 146 \
	158 190 230 300 400 460 520 600 700 800; do
	one_run "static$free" "$free" - --frames 1000
done
# Filled by another process while the run writes, at moments from the
# start to well into the run.
for delay in 0 0.01 0.03 0.1 0.3 0.6 1 1.3 1.7 2.2; do
	one_run "live$delay" 0 "$delay" --continuous --rate 400
done

# A sweep whose disk fills while it runs: exit 1, the sidecar says failed
# with ENOSPC, and the CSV ends with its last whole row (never a cut one,
# which pandas would read as a row of NaNs): as many rows as points, the
# indexes 0..n-1 and the values set exactly from + k * (to - from) / (N - 1).
sweep_full() { # DELAY
	local kept=$T/sweep$1.kept mnt=$T/sweep$1.mnt rc why
	mkdir -p "$kept" "$mnt"
	in_tmpfs size=8m "$mnt" "$kept" /bin/sh "$T/inner.sh" "$mnt" 0 "$1" "$LABDAQ" sweep \
		sim:ohm --set voltage0 --from 0 --to 1 --points 2000001 --progress none \
		-o "$mnt/s.csv" >"$T/sweep$1.out" 2>"$T/sweep$1.err"
	rc=$?
	why=$("$PY" - "$kept/s.csv" "$kept/s.json" "$rc" <<'PY' 2>&1
import json, sys
csv, side, rc = sys.argv[1], json.load(open(sys.argv[2])), int(sys.argv[3])
data = open(csv, 'rb').read()
rows = data.split(b'\n')
assert rc == 1, f'exit status {rc}, not 1'
assert side['status'] == 'failed' and side['error']['code'] == 28, side['status']
assert data.endswith(b'\n'), f'the CSV ends with a cut row: {rows[-1][:40]!r}'
rows = rows[1:-1]
n = side['points']
assert len(rows) == n > 0, f'{len(rows)} rows, the sidecar says {n}'
for k, row in enumerate(rows):
    f = row.split(b',')
    assert len(f) == 6 and int(f[0]) == k, f'row {k}: {row!r}'
    assert float(f[3]) == float('%.10g' % (k / 2000000)), f'row {k}: set {f[3]!r}'
PY
)
	[ -z "$why" ] || { bad=$((bad + 1)); diag "sweep, disk full after $1 s: $why" \
		"$(tail -n 2 "$T/sweep$1.err")"; }
	rm -rf "$kept" "$mnt"
}
for delay in 0.05 0.2 0.4; do
	sweep_full "$delay"
done
diag "$runs runs: $nfailed ended failed, $nrefused refused to start"
is "full disk at any moment: every run refused cleanly or ended failed (ENOSPC) with exact counts and data (3 sweeps too)" \
	"$bad" 0
# Both outcomes occurred, or the sizes above no longer test the edge.
check "full disk: some runs ended failed ($nfailed) and some were refused at the start ($nrefused)" \
	test "$nfailed" -gt 10 -a "$nrefused" -gt 0
finish
