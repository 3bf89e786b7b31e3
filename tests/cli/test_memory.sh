#!/usr/bin/env bash
# test_memory.sh - memory stays bounded by the ring: a camera run as fast
# as possible (the disk is the bottleneck, the ring stays full) for 2 s with
# a 16 MiB ring peaks within 16 MiB + a small constant of RSS.
#
# The ring is one memfd mapped twice, back to back: its pages count twice
# in RSS once touched (32 MiB for a 16 MiB ring), which the bound allows
# for.  The 8 MiB data file's page cache is not RSS; write-behind keeps it
# from growing, which a test cannot measure reliably on a shared machine.
. "$(dirname "$0")/lib.sh"
require_labdaq

LIMIT_KIB=${LABDAQ_TEST_RSS_LIMIT_KIB:-$((40 * 1024))}
mkdir "$T/m"

rss_run() {
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
}

rss_run big acquire 'sim:camera?width=640&height=480' --time 2s --rate 0 \
	--ring 16M -o "$T/m/big.npy"
is "camera --rate 0 --time 2s --ring 16M: exit 0" "$RC" 0 || diag <"$T/big.err"
written=$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1])); print(m["written"], m["ring"]["high_water_bytes"])' "$T/m/big.json" 2>/dev/null)
diag "16 MiB ring: peak RSS ${RSS:-?} KiB; written frames, ring high-water bytes: $written"
if [ -n "${RSS:-}" ] && [ "$RSS" -le "$LIMIT_KIB" ]; then
	ok "16 MiB ring: peak RSS $RSS KiB <= $LIMIT_KIB KiB"
else
	not_ok "16 MiB ring: peak RSS ${RSS:-?} KiB <= $LIMIT_KIB KiB"
fi
check "16 MiB ring: the ring was filled (high water > 8 MiB): the bound was tested under pressure" \
	CHECK expr --json "$T/m/big.json" "m['ring']['high_water_bytes'] > 8 << 20" \
	"m['ring']['capacity_bytes'] == 16 << 20" "m['status'] == 'complete'"
rm -f "$T/m/big.npy"

# A 1 s run with a 4 MiB ring needs less: memory follows the ring, not
# the data rate or the run's length.
rss_run small acquire 'sim:camera?width=640&height=480' --time 1s --rate 0 \
	--ring 4M -o "$T/m/small.npy"
is "camera --rate 0 --time 1s --ring 4M: exit 0" "$RC" 0 || diag <"$T/small.err"
diag "4 MiB ring: peak RSS ${RSS:-?} KiB"
if [ -n "${RSS:-}" ] && [ "$RSS" -le $((LIMIT_KIB - 24 * 1024)) ]; then
	ok "4 MiB ring: peak RSS $RSS KiB <= $((LIMIT_KIB - 24 * 1024)) KiB"
else
	not_ok "4 MiB ring: peak RSS ${RSS:-?} KiB <= $((LIMIT_KIB - 24 * 1024)) KiB"
fi
rm -f "$T/m/small.npy"

finish
