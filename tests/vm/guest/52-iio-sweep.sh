# 52-iio-sweep.sh - a step scan through the iio backend (the DAC's raw
# attribute, the inputs' single reads) reproduces the driver's resistance.
. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq "sweep over $DEV"
dmesg_mark

R=4700
echo ohm >"$dev/mode"
echo $R >"$dev/resistance_ohms"
out=$W/sweep.csv
labdaq sweep "$DEV" --set voltage0 --read voltage0,current0 --from -1 --to 1 \
	--points 21 -o "$out" >"$W/sweep.out" 2>&1
rc=$?
note "sweep: exit $rc, $(tail -n 1 "$W/sweep.out")"
sweep_ok() {
	[ $rc -eq 0 ] && grep -q '^  "status": "complete",$' "${out%.csv}.json" &&
		[ "$(head -n 1 "$out")" = index,repeat,time_s,set_voltage0,voltage0,current0 ] &&
		[ "$(tr -d ' \n' <"${out%.csv}.json" | grep -o '"columns":\[[^]]*\]' |
			grep -o '"unit":"[^"]*"' | tr '\n' ' ')" = \
			'"unit":"" "unit":"" "unit":"s" "unit":"V" "unit":"V" "unit":"A" ' ] &&
		[ "$(grep -c '^[0-9]' "$out")" -eq 21 ]
}
check "sweep -1..1 V, 21 points: exit 0, complete, the header row, 21 rows in V, V, A" sweep_ok

# The applied voltage comes back within the noise (1 mV) and the fit of
# current against measured voltage gives R: slope = 1/R.
fit_ok() {
	res=$(grep '^[0-9]' "$out" | awk -F, '
		{ s = $4; v = $5; i = $6
		  d = v - s; if (d < 0) d = -d; if (d > maxd) maxd = d
		  n++; sx += v; sy += i; sxx += v * v; sxy += v * i }
		END { slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
		      printf "%.3f %.6f", 1 / slope, maxd }')
	note "sweep fit: R = ${res% *} ohm (driver: $R), largest |measured - set| ${res#* } V"
	within "${res% *}" $R 2 && awk -v d="${res#* }" 'BEGIN { exit !(d <= 0.0011) }'
}
check "sweep: the I(V) slope gives R = $R ohm within 2%, V within the 1 mV noise" fit_ok
keep sweep "ohm $R"

# A second pass with another R, downwards, two repeats
echo 1000 >"$dev/resistance_ohms"
labdaq sweep "$DEV" --set voltage0 --read current0 --from 2 --to -2 --points 5 \
	--repeat 2 -o "$W/sweep2.csv" >/dev/null 2>&1
rc=$?
rows_ok() {
	[ $rc -eq 0 ] && [ "$(grep -c '^[0-9]' "$W/sweep2.csv")" -eq 10 ] &&
		grep '^[0-9]' "$W/sweep2.csv" | awk -F, '
			{ e = $4 / 1000; d = $5 - e; if (d < 0) d = -d
			  if (d > 2e-6) bad++ }
			END { exit bad + 0 != 0 }'
}
check "sweep 2..-2 V, 5 points, 2 passes at 1000 ohm: each current is V/R within the noise" rows_ok
echo 0 >"$dev/out_voltage0_raw"
check "kernel clean after the sweeps" kernel_clean
exit 0
