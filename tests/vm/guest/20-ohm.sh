# 20-ohm.sh - single reads reproduce Ohm's law; noise and seed behave.
. /tests/lib.sh

dev=$(sim_dir) || { not_ok "$SIM present"; exit 0; }
sv=$(cat "$dev/in_voltage0_scale")
si=$(cat "$dev/in_current0_scale")

# ohm_ok R_OHMS DAC_UV: mean of 40 reads of each input gives R within 2%
ohm_ok() {
	echo "$1" >"$dev/resistance_ohms" || return 1
	echo "$2" >"$dev/out_voltage0_raw" || return 1
	v=$(avg "$dev/in_voltage0_raw" 40)
	i=$(avg "$dev/in_current0_raw" 40)
	r=$(awk -v v="$v" -v i="$i" -v sv="$sv" -v si="$si" \
		'BEGIN { printf "%.2f", (v * sv) / (i * si) }')
	note "R $1 ohm, $2 uV applied: mean $v uV, $i nA -> $r ohm"
	within "$r" "$1" 2 && within "$v" "$2" 2
}

iio_attr_ok() {
	w=$(iio_attr -u local: -q -o -c "$SIM" voltage0 raw 1234567 2>&1)
	# with one match and no -q, iio_attr prints the bare value
	r=$(iio_attr -u local: -o -c "$SIM" voltage0 raw 2>&1)
	s=$(cat "$dev/out_voltage0_raw")
	note "iio_attr write: '$w', read: '$r', sysfs: $s"
	[ "$s" = 1234567 ] && [ "$r" = 1234567 ]
}
check "out_voltage0_raw written and read with iio_attr" iio_attr_ok
check "R = 1000 ohm at +5 V: mean V/I within 2%" ohm_ok 1000 5000000
check "R = 4700 ohm at -3.3 V: mean V/I within 2%" ohm_ok 4700 -3300000
check "R = 10 ohm at +10 V (1 A): within 2%" ohm_ok 10 10000000
echo 1 >"$dev/noise_current_na"	# 100 nA: the default 1000 nA noise would hide it
check "R = 100 Mohm at -10 V (100 nA, noise 1 nA): within 2%" \
	ohm_ok 100000000 -10000000
echo 1000 >"$dev/noise_current_na"

# Without noise every read is exact: V as applied, I = V / R truncated.
exact_ok() {
	echo 0 >"$dev/noise_voltage_uv" && echo 0 >"$dev/noise_current_na" &&
		echo 4700 >"$dev/resistance_ohms" &&
		echo -3300000 >"$dev/out_voltage0_raw" &&
		[ "$(cat "$dev/in_voltage0_raw")" = -3300000 ] &&
		[ "$(cat "$dev/in_current0_raw")" = $((-3300000000 / 4700)) ]
}
check "noise 0: in_voltage0 = applied, in_current0 = V/R exactly" exact_ok

# With noise, reads spread but stay within the amplitude.
noise_ok() {
	echo 500 >"$dev/noise_voltage_uv" && echo 1000 >"$dev/resistance_ohms" &&
		echo 2000000 >"$dev/out_voltage0_raw" || return 1
	lo=2000000
	hi=2000000
	k=0
	while [ $k -lt 50 ]; do
		read -r v <"$dev/in_voltage0_raw"
		[ "$v" -lt "$lo" ] && lo=$v
		[ "$v" -gt "$hi" ] && hi=$v
		k=$((k + 1))
	done
	note "noise 500 uV: 50 reads span $lo..$hi uV"
	[ "$lo" -ge 1999500 ] && [ "$hi" -le 2000500 ] && [ "$lo" -lt "$hi" ]
}
check "noise 500 uV: reads vary, within +-500 uV" noise_ok

# The same seed gives the same noise.
reads() {
	echo "$1" >"$dev/noise_seed" || return 1
	for k in 1 2 3 4 5; do cat "$dev/in_voltage0_raw"; done | tr '\n' ' '
}
seed_ok() {
	a=$(reads 42) && b=$(reads 42) && c=$(reads 43)
	note "seed 42: $a; seed 43: $c"
	[ -n "$a" ] && [ "$a" = "$b" ] && [ "$a" != "$c" ] &&
		[ "$(cat "$dev/noise_seed")" = 43 ]
}
check "noise_seed: the same seed repeats the same noise" seed_ok

# back to the defaults for the scripts after this one
echo 1000 >"$dev/resistance_ohms"
echo 1000 >"$dev/noise_voltage_uv"
echo 1000 >"$dev/noise_current_na"
echo 1 >"$dev/noise_seed"
echo 0 >"$dev/out_voltage0_raw"
exit 0
