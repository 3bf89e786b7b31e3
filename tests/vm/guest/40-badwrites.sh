# 40-badwrites.sh - every writable attribute refuses bad values with EINVAL,
# keeps its value, and the kernel stays clean.
. /tests/lib.sh

dev=$(sim_dir) || { not_ok "$SIM present"; exit 0; }
dmesg_mark
nl='
'
long=$(head -c 3000 /dev/zero | tr '\0' '7')
junk=$(printf 'a\001\377\200\033[7m%%n%%s\t\\ end')

# refused ATTR ERRORS VALUE...: each write fails with one of ERRORS (a
# grep -E pattern of strerror texts) and the attribute keeps its value
refused() {
	a=$1
	errs=$2
	shift 2
	f=$dev/$a
	before=$(cat "$f" 2>/dev/null)
	res=0
	for v in "$@"; do
		e=$(write_err "$f" "$v")
		if ! echo "$e" | grep -qE "$errs"; then
			note "$a <- '$(printable "$v")': ${e:-accepted}"
			res=1
		fi
	done
	after=$(cat "$f" 2>/dev/null)
	if [ "$after" != "$before" ]; then
		note "$a changed from '$before' to '$after'"
		res=1
	fi
	return "$res"
}
EINVAL='Invalid argument'
# Values beyond an int: the IIO core's kstrtoint() answers ERANGE before the
# driver sees them (out_voltage0_raw and sampling_frequency only).
EINVAL_ERANGE='Invalid argument|out of range'

check "out_voltage0_raw refuses garbage and out-of-range values (EINVAL)" \
	refused out_voltage0_raw "$EINVAL" abc "$nl" 1.5 -0.5 10000001 \
	-10000001 2147483647 "5 5" 0x "1e6" "$junk" "-"
check "out_voltage0_raw refuses values beyond an int (EINVAL or ERANGE)" \
	refused out_voltage0_raw "$EINVAL_ERANGE" 99999999999 -99999999999 "$long"
check "sampling_frequency refuses garbage and out-of-range values (EINVAL)" \
	refused sampling_frequency "$EINVAL" 0 -1 200001 abc 2.5 "$nl" "$junk"
check "sampling_frequency refuses values beyond an int (EINVAL or ERANGE)" \
	refused sampling_frequency "$EINVAL_ERANGE" 99999999999 "$long"
check "resistance_ohms refuses garbage and out-of-range values (EINVAL)" \
	refused resistance_ohms "$EINVAL" 0 9 100000001 -5 abc 1.5 "$nl" \
	99999999999 4294967296 "$long" "$junk" "10 0"
check "noise_voltage_uv refuses garbage and out-of-range values (EINVAL)" \
	refused noise_voltage_uv "$EINVAL" 1000001 -1 abc 0.5 "$nl" "$long" "$junk"
check "noise_current_na refuses garbage and out-of-range values (EINVAL)" \
	refused noise_current_na "$EINVAL" 1000001 -1 abc 0.5 "$nl" "$long" "$junk"
check "noise_seed refuses garbage and out-of-range values (EINVAL)" \
	refused noise_seed "$EINVAL" -1 abc 4294967296 1.5 "$nl" "$long" "$junk"
check "mode refuses anything but ohm or counter (EINVAL)" \
	refused mode "$EINVAL" "$nl" ohms counterx COUNTER "ohm counter" " ohm" \
	"$long" "$junk"
# without noise the inputs read the same each time: "unchanged" means it
echo 0 >"$dev/noise_voltage_uv"
echo 0 >"$dev/noise_current_na"
echo 1000000 >"$dev/out_voltage0_raw"
for a in in_voltage0_raw in_current0_raw in_voltage0_scale in_current0_scale \
	out_voltage0_scale; do
	check "$a cannot be written (EINVAL)" refused "$a" "$EINVAL" 1 0 abc
done
for a in overruns mode_available sampling_frequency_available \
	out_voltage0_raw_available; do
	check "$a is read-only" refused "$a" 'denied|Invalid|not permitted' 1
done
echo 1000 >"$dev/noise_voltage_uv"
echo 1000 >"$dev/noise_current_na"
echo 0 >"$dev/out_voltage0_raw"

# Number bases and signs (docs/driver.md, "Numbers"): the IIO core parses
# out_voltage0_raw and sampling_frequency (IIO_VAL_INT) with kstrtoint(s, 0):
# C prefixes, 010 is 8, 0x30d40 is 200000, a leading + or -.  The driver's
# own attributes and buffer/length, buffer/watermark read decimal only
# (kstrtou32/kstrtouint, base 10): 010 is 10, 0x.. is refused, + allowed.
# buffer/enable and scan_elements/*_en are the core's kstrtobool(): only
# the first character counts (1 y t / 0 n f, "on"/"off"), so 010 and 0x1
# are "off"; mode and current_timestamp_clock take their names only.
# bases ATTR VALUE=WANT...: writing VALUE (with a newline) gives WANT, the
# value read back, or EINVAL with the value kept
bases() {
	a=$1
	shift
	f=$dev/$a
	res=0
	for w in "$@"; do
		v=${w%=*}
		want=${w##*=}
		before=$(cat "$f")
		e=$(write_err "$f" "$v$nl")
		got=$(cat "$f")
		case $want in
		EINVAL) [ "$e" = "$EINVAL" ] && [ "$got" = "$before" ] ;;
		*) [ -z "$e" ] && [ "$got" = "$want" ] ;;
		esac || {
			note "$a <- '$v': ${e:-accepted}, reads '$got' (want $want)"
			res=1
		}
	done
	return "$res"
}
check "out_voltage0_raw (IIO core, any base): 010=8, 0x30d40, 0X10, +5, -010, -0x10, 0x98967f; 08, 0x, 0b1, ++5, +-5, 0x989681 (out of range) refused" \
	bases out_voltage0_raw 010=8 0x30d40=200000 0X10=16 +5=5 -010=-8 \
	-0x10=-16 0=0 08=EINVAL 0x=EINVAL 0b1=EINVAL ++5=EINVAL +-5=EINVAL \
	0x989681=EINVAL 0x98967f=9999999
check "sampling_frequency (IIO core, any base): 010=8, 0x30d40=200000, +5; 09, 0x30d41 (out of range) refused" \
	bases sampling_frequency 010=8 0x30d40=200000 +5=5 09=EINVAL \
	0x30d41=EINVAL -0x1=EINVAL 01750=1000
for a in resistance_ohms noise_voltage_uv noise_current_na noise_seed; do
	check "$a (the driver, decimal only): 010 is 10, 0100 is 100, +20 is 20; 0x10, 0X10, -0, 0b1 refused" \
		bases "$a" 010=10 0100=100 +20=20 0x10=EINVAL 0X10=EINVAL \
		-0=EINVAL 0b1=EINVAL ++20=EINVAL 1000=1000
done
echo 1 >"$dev/noise_seed"
check "mode takes its names only: +ohm, 0, 0x1, 01 refused" \
	bases mode +ohm=EINVAL 0=EINVAL 0x1=EINVAL 01=EINVAL counter=counter ohm=ohm
check "current_timestamp_clock takes clock names only: +realtime, 0, 0x1 refused" \
	bases current_timestamp_clock +realtime=EINVAL 0=EINVAL 0x1=EINVAL \
	monotonic=monotonic realtime=realtime
check "buffer/length (IIO core, decimal): 010 is 10, +16 is 16; 0x10 refused" \
	bases buffer/length 010=10 +16=16 0x10=EINVAL 1000=1000
check "buffer/watermark (IIO core, decimal): 010 is 10, +4 is 4; 0x10 refused" \
	bases buffer/watermark 010=10 +4=4 0x10=EINVAL 1=1
c=scan_elements/in_voltage0_en
check "$c (kstrtobool, first character): 010 and 0x1 are 0, 1x is 1, +1 refused" \
	bases "$c" 1=1 010=0 1x=1 0x1=0 +1=EINVAL 0=0
check "buffer/enable (kstrtobool): 0x1 and 010 are 0 (disabled), +1 refused" \
	bases buffer/enable 0x1=0 010=0 +1=EINVAL 0=0
# without noise the inputs read the same each time: "kept" means it
echo 0 >"$dev/noise_voltage_uv"
echo 0 >"$dev/noise_current_na"
for a in in_voltage0_raw in_current0_raw in_voltage0_scale in_current0_scale \
	out_voltage0_scale; do
	check "$a refuses 010, 0x10, +1 too (EINVAL)" \
		bases "$a" 010=EINVAL 0x10=EINVAL +1=EINVAL
done
echo 1000 >"$dev/noise_voltage_uv"
echo 1000 >"$dev/noise_current_na"
echo 1000 >"$dev/sampling_frequency"
echo 0 >"$dev/out_voltage0_raw"

# and good values are taken
good_ok() {
	for w in out_voltage0_raw=-10000000 out_voltage0_raw=10000000 \
		out_voltage0_raw=0 sampling_frequency=1 sampling_frequency=200000 \
		sampling_frequency=1000 resistance_ohms=10 \
		resistance_ohms=100000000 resistance_ohms=1000 \
		noise_voltage_uv=1000000 noise_voltage_uv=1000 \
		noise_current_na=0 noise_current_na=1000 noise_seed=4294967295 \
		noise_seed=1 mode=counter mode=ohm; do
		e=$(write_err "$dev/${w%%=*}" "${w#*=}$nl")
		if [ -n "$e" ] || [ "$(cat "$dev/${w%%=*}")" != "${w#*=}" ]; then
			note "${w%%=*} <- ${w#*=}: ${e:-reads $(cat "$dev/${w%%=*}")}"
			return 1
		fi
	done
}
check "the limits of every range are accepted" good_ok

# each parameter attribute reads and writes its own field: distinct values
# in all four read back distinct (the driver maps no attribute to another)
own_field_ok() {
	for w in resistance_ohms=4321 noise_voltage_uv=1234 \
		noise_current_na=2345 noise_seed=3456; do
		echo "${w#*=}" >"$dev/${w%%=*}" || return 1
	done
	got="$(cat "$dev/resistance_ohms") $(cat "$dev/noise_voltage_uv")"
	got="$got $(cat "$dev/noise_current_na") $(cat "$dev/noise_seed")"
	note "resistance, noise_v, noise_i, seed read: $got"
	echo 1000 >"$dev/resistance_ohms"
	echo 1000 >"$dev/noise_voltage_uv"
	echo 1000 >"$dev/noise_current_na"
	echo 1 >"$dev/noise_seed"
	[ "$got" = "4321 1234 2345 3456" ]
}
check "each parameter attribute keeps its own value" own_field_ok

# buffer/length is the IIO core's, but 6.1's kfifo would WARN allocating a
# FIFO that long: the driver clamps it to 131072 scans (2 MiB)
long_buffer_ok() {
	for c in in_voltage0_en in_current0_en in_timestamp_en; do
		echo 1 >"$dev/scan_elements/$c" || return 1
	done
	for len in 4000000 4294967295 131073; do
		echo $len >"$dev/buffer/length" || return 1
		l=$(cat "$dev/buffer/length")
		[ "$l" = 131072 ] || { note "buffer/length $len reads $l"; return 1; }
		echo 1 >"$dev/buffer/enable" || return 1
		echo 0 >"$dev/buffer/enable" || return 1
	done
	echo 1000 >"$dev/buffer/length" &&
		[ "$(cat "$dev/buffer/length")" = 1000 ] || return 1
	for c in in_voltage0_en in_current0_en; do
		echo 0 >"$dev/scan_elements/$c"
	done
}
check "buffer/length beyond 131072 scans is clamped, the buffer still enables" \
	long_buffer_ok
check "kernel clean after the bad writes" kernel_clean
exit 0
