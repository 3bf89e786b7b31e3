# iio-lib.sh - helpers of the iio backend's guest tests (5x-iio-*.sh), sourced
# after lib.sh.  Not a test script itself (main.sh runs only NN-*.sh).
#
# Work files go to $W (the guest's /tmp); the final files of the runs the
# host should check again with numpy (tests/vm/check_iio.py) are copied to
# $RES (/share/out/iio): NAME.npy with NAME.json, NAME.csv, and NAME.expect
# holding what the host must check ("counter", "rows N", "ohm R", ...).

DEV=iio:local:$SIM
W=/tmp/iio
RES=$OUT/iio
DRV=/sys/bus/platform/drivers/$SIM
mkdir -p "$W" "$RES"
# The device locks of every labdaq in the guest, root's and other users'.
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p "$LABDAQ_LOCK_DIR" && chmod 1777 "$LABDAQ_LOCK_DIR" /tmp
# The kernel's random generator must be ready before a timed capture: a
# run's first sidecar (jansson seeds its hash tables from /dev/urandom)
# would otherwise wait about a second for it, right after the device
# started, and a fast capture would overrun the kernel FIFO meanwhile.
# Early in a boot without RDRAND (TCG) it is not ready yet; /dev/random
# blocks until it is.
if [ -z "${IIO_RNG_READY:-}" ]; then
	t_rng=$(date +%s)
	head -c 1 /dev/random >/dev/null
	[ $(($(date +%s) - t_rng)) -gt 0 ] && note "waited $(($(date +%s) - t_rng)) s for the kernel's random generator"
	IIO_RNG_READY=1
fi

# need_labdaq WHAT: skip the script (exit 0) when build/labdaq is not staged
need_labdaq() {
	if ! command -v labdaq >/dev/null; then
		skip "$1" "build/labdaq not built"
		exit 0
	fi
	dev=$(sim_dir) || {
		not_ok "$SIM present for $1"
		exit 0
	}
}

# summary NAME: one note line about a run's sidecar
summary() {
	j=$W/$1.json
	note "$1: status $(json_str "$j" status), acquired $(json_num "$j" acquired)," \
		"written $(json_num "$j" written), dropped $(json_num "$j" dropped)," \
		"rows in header $(npy_rows "$W/$1.npy"), size $(wc -c <"$W/$1.npy")"
}

# counter_data FILE N: FILE's payload is exactly the counter-mode scans
# 0..N-1 of voltage0,current0 (n and ~n, compared as 32-bit unsigned)
counter_data() {
	out=$(tail -c +4097 "$1" | od -An -v -tu4 -w8 | awk -v n="$2" '
		{ e = NR - 1
		  if ($1 != e || $2 != 4294967295 - e) {
			if (bad++ < 3) printf "row %d holds %s %s; ", e, $1, $2 } }
		END { printf "%d rows, %d wrong", NR, bad
		      if (bad || NR != n) exit 1 }')
	rc=$?
	note "counter data of ${1##*/}: $out (expected $2 rows)"
	return "$rc"
}

# run_ok NAME STATUS: NAME.json says STATUS, written == acquired == the
# header's rows == what the file holds, nothing dropped, no gap, no error
# (STATUS failed: an error)
run_ok() {
	j=$W/$1.json
	f=$W/$1.npy
	a=$(json_num "$j" acquired)
	w=$(json_num "$j" written)
	r=$(npy_rows "$f")
	[ "$(json_str "$j" status)" = "$2" ] && [ -n "$w" ] && [ "$a" = "$w" ] &&
		[ "$r" = "$w" ] && [ "$(wc -c <"$f")" -eq $((4096 + 8 * w)) ] &&
		[ "$(json_num "$j" dropped)" = 0 ] && grep -A1 '^  "gaps": {$' "$j" | grep -q '^    "count": 0,$' ||
		return 1
	if [ "$2" = failed ]; then
		! grep -q '^  "error": null' "$j"
	else
		grep -q '^  "error": null' "$j"
	fi
}

# keep NAME EXPECT...: copy NAME's files to the share for the host's checks
keep() {
	n=$1
	shift
	for x in npy json csv; do
		[ -f "$W/$n.$x" ] && cp "$W/$n.$x" "$RES/"
	done
	echo "$*" >"$RES/$n.expect"
}

# wait_written NAME N SECS: until NAME.json counts at least N written
wait_written() {
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		w=$(json_num "$W/$1.json" written 2>/dev/null)
		[ -n "$w" ] && [ "$w" -ge "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}


# counter_mode RATE: the device counts, at RATE scans per second
counter_mode() {
	echo counter >"$dev/mode" && echo "$1" >"$dev/sampling_frequency"
}
