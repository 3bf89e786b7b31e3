# 53-iio-stream.sh - streaming through libiio buffers: counter mode proves
# that every scan reaches the file, in order, byte for byte; ohm mode that
# the sidecar's scales are SI.
. /tests/lib.sh
. /tests/iio-lib.sh
need_labdaq "acquire from $DEV"
dmesg_mark

N=100000
RATE=50000
counter_mode $RATE
start=$(date +%s)
labdaq acquire "$DEV" --samples 100k --rate 50k --channels voltage0,current0 \
	-o "$W/count.npy" >"$W/count.out" 2>&1
rc=$?
note "acquire 100k at 50k: exit $rc in $(($(date +%s) - start)) s: $(tail -n 1 "$W/count.out")"
summary count
check "counter mode, 100k samples at 50 kHz: exit 0" [ $rc -eq 0 ]
check "  ... status complete, acquired = written = rows = $N, nothing dropped, no gap" \
	run_ok count complete
check "  ... the data: n and ~n for n = 0..$((N - 1)), no gap, byte for byte" \
	counter_data "$W/count.npy" $N
sidecar_ok() {
	j=$W/count.json
	[ "$(json_num "$j" acquired)" = $N ] && [ "$(json_str "$j" backend)" = iio ] &&
		[ "$(json_str "$j" dtype)" = '<i4' ] && grep -q '"rate_hz": 50000.0' "$j" &&
		tr -d ' \n' <"$j" | grep -q '"channels":\[{"name":"voltage0","unit":"V","scale":1e-6,"offset":0.0,"conversion":"voltage0inV=raw\*1e-06"},{"name":"current0","unit":"A","scale":1e-9,"offset":0.0,"conversion":"current0inA=raw\*1e-09"}\]'
}
check "  ... the sidecar: backend iio, <i4, 50 kHz, voltage0 (V, 1e-6), current0 (A, 1e-9), offsets 0" \
	sidecar_ok
ovr=$(cat "$dev/overruns")
check "  ... the driver counted no overrun ($ovr)" [ "$ovr" = 0 ]
keep count "counter $N"

# No --rate: the device's own sampling frequency (the timeouts follow it)
counter_mode 5000
labdaq acquire "$DEV" --samples 5000 -o "$W/norate.npy" >"$W/norate.out" 2>&1
rc=$?
summary norate
norate_ok() { [ $rc -eq 0 ] && run_ok norate complete && counter_data "$W/norate.npy" 5000; }
check "no --rate (the device at 5 kHz), 5000 samples, every input: complete, exact" norate_ok

# One channel: current0 alone is ~n
counter_mode 20000
labdaq acquire "$DEV" --samples 20000 --rate 20k --channels current0 \
	-o "$W/one.npy" >/dev/null 2>&1
rc=$?
one_ok() {
	[ $rc -eq 0 ] && [ "$(json_str "$W/one.json" status)" = complete ] &&
		[ "$(npy_rows "$W/one.npy")" = 20000 ] &&
		tail -c +4097 "$W/one.npy" | od -An -v -tu4 -w4 |
		awk '$1 != 4294967295 - (NR - 1) { bad++ } END { exit !(bad + 0 == 0 && NR == 20000) }'
}
check "current0 alone, 20000 samples: ~n for n = 0..19999" one_ok
# The other order: columns follow --channels
labdaq acquire "$DEV" --samples 1000 --rate 20k --channels current0,voltage0 \
	-o "$W/swap.npy" >/dev/null 2>&1
rc=$?
swap_ok() {
	[ $rc -eq 0 ] && tail -c +4097 "$W/swap.npy" | od -An -v -tu4 -w8 |
		awk '$2 != NR - 1 || $1 != 4294967295 - (NR - 1) { bad++ }
			END { exit !(bad + 0 == 0 && NR == 1000) }'
}
check "--channels current0,voltage0: the columns in that order" swap_ok

# The kernel's timestamps as a column: the whole file becomes int64
counter_mode 1000
labdaq acquire "$DEV" --samples 1000 --rate 1k --channels voltage0,current0,timestamp \
	-o "$W/ts.npy" >"$W/ts.out" 2>&1
rc=$?
summary ts
note "timestamp run: exit $rc; first rows: $(tail -c +4097 "$W/ts.npy" | od -An -v -td8 -w24 |
	head -n 2 | tr -s ' \n' ' ')"
ts_ok() {
	[ $rc -eq 0 ] && [ "$(json_str "$W/ts.json" status)" = complete ] &&
		[ "$(json_num "$W/ts.json" written)" = 1000 ] && [ "$(npy_rows "$W/ts.npy")" = 1000 ] &&
		[ "$(wc -c <"$W/ts.npy")" -eq $((4096 + 24 * 1000)) ] &&
		[ "$(json_str "$W/ts.json" dtype)" = '<i8' ] &&
		grep -q '"time_axis": "t_s = (a\[:, 2\] - a\[0, 2\]) \* 1e-9' "$W/ts.json" &&
		tail -c +4097 "$W/ts.npy" | od -An -v -td8 -w24 |
		awk 'NR > 1 && $3 <= t { bad++ }
			$1 != NR - 1 || $2 != -NR { bad++ }
			NR == 1 { first = $3 } { t = $3 }
			END { step = (t - first) / (NR - 1)
			      exit !(bad + 0 == 0 && NR == 1000 && step > 990000 && step < 1010000) }'
}
check "--channels voltage0,current0,timestamp: <i8, n, ~n, timestamps rising 1 ms apart (1%)" ts_ok

# --time: ends by the clock
labdaq acquire "$DEV" --time 1s --rate 10k -o "$W/timed.npy" >/dev/null 2>&1
rc=$?
summary timed
timed_ok() {
	w=$(json_num "$W/timed.json" written)
	[ $rc -eq 0 ] && run_ok timed complete && [ "$w" -ge 5000 ] && [ "$w" -le 15000 ] &&
		counter_data "$W/timed.npy" "$w"
}
check "--time 1s at 10 kHz: complete, about 10000 samples, exact" timed_ok

# Ohm mode: the file holds raw values; raw x the sidecar's scale is SI
echo ohm >"$dev/mode"
echo 2000 >"$dev/resistance_ohms"
echo 3000000 >"$dev/out_voltage0_raw"
labdaq acquire "$DEV" --samples 2000 --rate 10k -o "$W/ohm.npy" >/dev/null 2>&1
rc=$?
ohm_ok() {
	# shellcheck disable=SC2046 # two numbers, split on purpose
	set -- $(tail -c +4097 "$W/ohm.npy" | od -An -v -td4 -w8 |
		awk '{ v += $1; i += $2 } END { printf "%.6f %.9f", v / NR * 1e-6, i / NR * 1e-9 }')
	note "ohm mode stream: mean $1 V, $2 A -> $(awk -v v="$1" -v i="$2" 'BEGIN { printf "%.1f", v / i }') ohm"
	[ $rc -eq 0 ] && within "$1" 3 1 && within "$2" 0.0015 2 &&
		within "$(awk -v v="$1" -v i="$2" 'BEGIN { print v / i }')" 2000 2
}
check "ohm mode, 3 V on 2000 ohm: mean 3 V and 1.5 mA (raw x SI scale), R within 2%" ohm_ok
keep ohm "ohm-stream 2000 3"
echo 0 >"$dev/out_voltage0_raw"
echo 1000 >"$dev/resistance_ohms"
echo 1000 >"$dev/sampling_frequency"
check "kernel clean after the streams" kernel_clean
exit 0
