# 61-comedi-stream.sh - hardware-timed streams of comedi_test's waveforms:
# channel 0 a sawtooth, 1 a square wave, the others flat mid-scale, at
# several rates, on both boards (1 V / 100 ms, and 2 V / 50 ms from the
# module parameters), in both ranges.  The host checks them with numpy
# against the formulas of comedi_test.c (check_comedi.py); here: the runs
# end complete with every sample in the file.
. /tests/lib.sh
. /tests/comedi-lib.sh
need_comedi "streams from comedi_test"
dmesg_mark

# stream NAME DEVICE RATE SAMPLES CHANNELS NCOLS EXPECT...
stream() {
	name=$1 d=$2 rate=$3 n=$4 chans=$5 cols=$6
	shift 6
	start=$(date +%s)
	labdaq acquire "$d" --rate "$rate" --samples "$n" -C "$chans" --progress none \
		-o "$W/$name.npy" >"$W/$name.out" 2>&1
	rc=$?
	note "$name: exit $rc in $(($(date +%s) - start)) s: $(tr '\n' ';' <"$W/$name.out" | head -c 300)"
	summary "$name"
	check "$name: $d at $rate Hz, $n samples of $chans: complete, every sample in the file" \
		[ $rc -eq 0 ]
	if [ $rc -eq 0 ] && file_ok "$name" complete "$cols"; then
		ok "  ... $name.npy: rows = written = acquired, no drop, no gap"
	else
		not_ok "  ... $name.npy: rows = written = acquired, no drop, no gap"
	fi
	keep "$name" "$@"
}

stream s10k $DEV0 10k 20000 ai0,ai1,ai2 3 wave 1.0 0.1
stream s100k $DEV0 100k 100000 ai0,ai1 2 wave 1.0 0.1
stream s300k $DEV0 300k 100000 ai0,ai1 2 wave 1.0 0.1 rate 333333.3333
check "  ... at 300k: labdaq says the board runs at 333333 Hz (a 3 us period)" \
	grep -q 'asked for 300000 Hz, the board runs at 333333.333 Hz' "$W/s300k.out"
check "  ... at 300k: the sidecar records 333333.33 Hz" \
	grep -q '"rate_hz": 333333.3333' "$W/s300k.json"
stream s50k1 $DEV1 50k 50000 ai1,ai0,ai3 3 wave 2.0 0.05
stream r5v "$DEV0?range=1" 20k 20000 ai0,ai1 2 wave 1.0 0.1
check "  ... ?range=1: the sidecar records range 1, -5..5 V, its conversion" \
	sh -c "tr -d ' \n' <$W/r5v.json | grep -q '\"range\":{\"index\":1,\"min\":-5,\"max\":5,\"unit\":\"V\"},\"maxdata\":65535'"
labdaq acquire $DEV0 --range 0,1 --rate 10k --samples 1000 -C ai0,ai1 --progress none \
	-o "$W/opt.npy" >"$W/opt.out" 2>&1
rc=$?
opt_ok() {
	[ $rc -eq 0 ] && [ "$(json_str "$W/opt.json" device)" = "comedi:0?range=0,1" ] &&
		tr -d ' \n' <"$W/opt.json" | grep -q '"name":"ai1".*"range":{"index":1,"min":-5,"max":5'
}
check "--range 0,1: the device's range=0,1, ai1 in -5..5 V in the sidecar" opt_ok
check "the kernel log stays clean" kernel_clean
exit 0
