#!/usr/bin/env bash
# test_memory.sh - memory stays bounded by the ring: a camera run as fast
# as possible (the disk is the bottleneck, the ring stays full) for 2 s with
# a 16 MiB ring uses the ring plus a small constant.
#
# What RSS shows: the ring is one memfd mapped twice, back to back, so its
# pages count twice in RSS (32 MiB for a 16 MiB ring; the run touches the
# whole ring); and the shared libraries the binary links (libiio, libxml2,
# ...) are part of every labdaq process.  So the peak RSS is compared with
# an idle labdaq's (labdaq info) plus twice the ring plus 8 MiB, and the
# process's own memory (Pss_Anon + Pss_Shmem, each page once) is sampled
# during a run and compared with the ring plus 4 MiB.  The data file's page
# cache is not the process's memory.
. "$(dirname "$0")/lib.sh"
require_labdaq

mkdir "$T/m"
SLACK_KIB=$((8 * 1024))

# rss_of NAME ARGS...: run labdaq ARGS; RC, and RSS its peak RSS in KiB.
rss_of() {
	local name=$1
	shift
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -f 'rss_kib=%M' -o "$T/$name.rss" "$LABDAQ" "$@" \
			>"$T/$name.out" 2>"$T/$name.err" </dev/null
		RC=$?
	else
		CHECK rss "$LABDAQ" "$@" >"$T/$name.rss" 2>"$T/$name.err" </dev/null
		RC=$(sed -n 's/.*rc=\([0-9]*\).*/\1/p' "$T/$name.rss")
	fi
	RSS=$(sed -n 's/.*rss_kib=\([0-9]*\).*/\1/p' "$T/$name.rss" | tail -n 1)
	RSS=${RSS:-999999999}
}

rss_of idle info sim:camera
BASE=$RSS
diag "an idle labdaq (labdaq info sim:camera): peak RSS $BASE KiB"

# ring_run NAME RING_MIB DURATION
ring_run() {
	local name=$1 mib=$2 dur=$3 limit
	rss_of "$name" acquire 'sim:camera?width=640&height=480' --time "$dur" --rate 0 \
		--ring "${mib}M" -o "$T/m/$name.npy"
	is "camera --rate 0 --time $dur --ring ${mib}M: exit 0" "$RC" 0 || diag <"$T/$name.err"
	limit=$((BASE + 2 * mib * 1024 + SLACK_KIB))
	diag "${mib} MiB ring: peak RSS $RSS KiB ($((RSS - BASE)) KiB over an idle labdaq)" \
		"$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print("written %d frames, ring high water %d bytes" % (m["written"], m["ring"]["high_water_bytes"]))' "$T/m/$name.json" 2>&1)"
	if [ "$RSS" -le "$limit" ]; then
		ok "${mib} MiB ring: peak RSS $RSS KiB <= idle $BASE + 2 x ring + 8 MiB = $limit KiB"
	else
		not_ok "${mib} MiB ring: peak RSS $RSS KiB <= idle $BASE + 2 x ring + 8 MiB = $limit KiB"
	fi
	check "${mib} MiB ring: it was filled (high water > half the ring): memory under pressure" \
		CHECK expr --json "$T/m/$name.json" \
		"m['ring']['high_water_bytes'] > ($mib << 20) // 2" \
		"m['ring']['capacity_bytes'] == $mib << 20" "m['status'] == 'complete'"
	rm -f "$T/m/$name.npy"
}

ring_run r16 16 2s
# The rest with a slow writer (10 ms after each write): the ring stays
# full, and the machine's disk is spared a few GB.
export LABDAQ_TEST_WRITE_DELAY_US=10000
ring_run r4 4 1s

# The process's own memory during a run, each page once.
run_bg pss labdaq acquire 'sim:camera?width=640&height=480' --continuous --rate 0 --ring 16M \
	--progress json -o "$T/m/pss.npy"
pid=$BG_PID
wait_for_progress "$T/pss.err" "p['acquired'] > 0" 30
CHECK pss "$pid" 1.5 >"$T/pss.txt" 2>&1
prc=$?
kill -INT "$pid"
wait_pid "$pid" 60
is "the sampled run, stopped: exit 0" "$RC" 0 || diag <"$T/pss.err"
own=$(sed -n 's/.*own_kib=\([0-9]*\).*/\1/p' "$T/pss.txt")
diag "16 MiB ring, sampled during the run: $(cat "$T/pss.txt")"
if [ "$prc" -eq 77 ]; then
	skip "no /proc/PID/smaps_rollup to sample the process's own memory"
elif [ -n "$own" ] && [ "$own" -gt 0 ] && [ "$own" -le $((16 * 1024 + 4096)) ]; then
	ok "16 MiB ring: the process's own memory (Pss_Anon + Pss_Shmem) $own KiB <= ring + 4 MiB"
else
	not_ok "16 MiB ring: the process's own memory (Pss_Anon + Pss_Shmem) ${own:-?} KiB <= ring + 4 MiB"
fi
rm -f "$T/m/pss.npy"

finish
