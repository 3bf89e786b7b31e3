# comedi-lib.sh - helpers of the comedi backend's guest tests (6x-comedi-*.sh),
# sourced after lib.sh.  Not a test script itself.
#
# 60-comedi.sh loads comedi with one legacy minor: /dev/comedi0 is attached
# by hand (comedi_config, 1 V and 100 ms, the driver's defaults) and
# /dev/comedi1 is comedi_test's own auto-configured board (amplitude= and
# period= module parameters: 2 V, 50 ms).  Work files go to $W; files the
# host checks again with numpy (tests/vm/check_comedi.py) are copied to $RES
# with NAME.expect saying what to check.

DEV0=comedi:0
DEV1=comedi:/dev/comedi1
W=/tmp/comedi
RES=$OUT/comedi
mkdir -p "$W" "$RES"
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p "$LABDAQ_LOCK_DIR" && chmod 1777 "$LABDAQ_LOCK_DIR" /tmp
# A run's first sidecar must not wait for the kernel's random generator
# (see iio-lib.sh).
head -c 1 /dev/random >/dev/null

# need_comedi WHAT: skip the script unless labdaq and /dev/comedi0 are here
need_comedi() {
	if ! command -v labdaq >/dev/null; then
		skip "$1" "build/labdaq not built"
		exit 0
	fi
	if ! labdaq --help >/tmp/help.txt 2>&1 || ! grep -q '^  comedi ' /tmp/help.txt; then
		note "labdaq --help: $(head -c 300 /tmp/help.txt | tr '\n' ';')"
		skip "$1" "labdaq built without the comedi backend"
		exit 0
	fi
	if [ ! -c /dev/comedi0 ]; then
		not_ok "/dev/comedi0 present for $1"
		exit 0
	fi
}

summary() {
	j=$W/$1.json
	note "$1: status $(json_str "$j" status), acquired $(json_num "$j" acquired)," \
		"written $(json_num "$j" written), dropped $(json_num "$j" dropped)," \
		"rate $(json_num "$j" rate_hz), rows $(npy_rows "$W/$1.npy"), size $(wc -c <"$W/$1.npy")"
}

# file_ok NAME STATUS COLS: NAME.json says STATUS; written == acquired ==
# the header's rows == what the file holds (uint16 x COLS); no drop, no gap
file_ok() {
	j=$W/$1.json
	f=$W/$1.npy
	a=$(json_num "$j" acquired)
	w=$(json_num "$j" written)
	[ "$(json_str "$j" status)" = "$2" ] && [ -n "$w" ] && [ "$a" = "$w" ] &&
		[ "$(npy_rows "$f")" = "$w" ] &&
		[ "$(wc -c <"$f")" -eq $((4096 + 2 * $3 * w)) ] &&
		[ "$(json_num "$j" dropped)" = 0 ] &&
		grep -A1 '^  "gaps": {$' "$j" | grep -q '^    "count": 0,$'
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

