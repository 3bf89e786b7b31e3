# bench-usb.sh - the usb comparison of `make bench` (bench.py, section 10):
# labdaq against Debian's sigrok-cli capturing from the emulated fx2lafw
# board (build/usb/fx2gadget, tests/usb/README.md) in this VM.  Not a test
# (main.sh runs it only when the host asks: /share/bench-usb exists,
# VM_BENCH_USB in tests/vm/run.sh).  Output: /share/out/bench-usb.txt, one
# line per run:
#   run|pair CONTENDER RATE ok|loss SAMPLES CPU_SECONDS WALL_SECONDS
#   start WHAT STATUS CPU_SECONDS WALL_SECONDS   (fixed costs)
#   gadget CONTENDER RATE exit STATUS lost N     (after each run)
#   sustained CONTENDER RATE                     (0: none)
# A run is ok when the contender exited 0 with every sample asked for and
# the gadget lost nothing (the ground truth: it knows what it could not
# send).  Each run gets a fresh board with a 256 KiB FIFO.  A contender
# sustains a rate when CONFIRM runs of it in a row there were ok: one ok
# run at a rate where the guest is overloaded is luck, and pairs there
# measure the overload (BENCHMARKS.md, "USB").  Both are treated alike.
. /tests/lib.sh
. /tests/usb-lib.sh
RES=$OUT/bench-usb.txt
D=/tmp/bench-usb
mkdir -p $D
read -r SECS REPS STARTS </share/bench-usb
[ -n "$SECS" ] || SECS=2
[ -n "${STARTS:-}" ] || STARTS=3
[ -n "$REPS" ] || REPS=4
: >"$RES"
FIFO=262144
# labdaq's ring: 4 MiB (0.17 s at 24 MHz, with 0.5 s of transfers in flight:
# more than sigrok-cli's 32 transfers, 0.32 s); the default 64 MiB costs a
# visible share of a short run's CPU to map and clear under TCG (see
# bench-comedi.sh), and at 24 MHz a 16 MiB ring's runs lost samples at the
# gadget in 3 of 10 runs where 4 MiB's lost none (BENCHMARKS.md, "USB").
RING=4M
if ! command -v labdaq >/dev/null || ! command -v sigrok-cli >/dev/null ||
	! command -v fx2gadget >/dev/null || ! usb_stack; then
	echo "error labdaq, sigrok-cli, fx2gadget or the gadget stack missing" >>"$RES"
	exit 0
fi

# one CONTENDER RATE [TAG]: one run of SECS seconds of 8 channels on a
# fresh board: "TAG CONTENDER RATE ok|loss SAMPLES CPU WALL"
one() {
	tag=${3:-run}
	n=$(($2 * SECS))
	rm -f $D/l.npy $D/l.json $D/l.gaps.npy $D/s.bin
	gadget_start fx2lafw --fifo $FIFO >/dev/null 2>&1 || {
		echo "error board not plugged in" >>"$RES"
		return
	}
	if [ "$1" = labdaq ]; then
		set -- "$1" "$2" $(cpu_of labdaq acquire "usb:fx2lafw?fifo=$((FIFO + 65536))" \
			-C D0-D7 --rate "$2" --samples $n --ring $RING --progress none -o $D/l.npy)
		got=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $D/l.json 2>/dev/null)
	else
		set -- "$1" "$2" $(cpu_of sigrok-cli -d fx2lafw --config samplerate=$2 \
			--samples $n -O binary -o $D/s.bin)
		got=$(wc -c <$D/s.bin 2>/dev/null)
	fi
	sleep 0.1
	lost=$(gstat lost)
	gadget_stop
	st=ok
	[ "$3" = 0 ] && [ "${got:-0}" = $n ] && [ "${lost:-1}" = 0 ] || st=loss
	echo "$tag $1 $2 $st ${got:-0} $4 $5" | tee -a "$RES"
	echo "gadget $1 $2 exit $3 lost ${lost:-?}" | tee -a "$RES"
}

# The fixed costs: a capture of one packet (process, libraries, scan and
# open, the start command).
gadget_start fx2lafw >/dev/null 2>&1
i=0
while [ $i -lt "$STARTS" ]; do
	i=$((i + 1))
	rm -f $D/one.npy $D/one.json $D/one.gaps.npy
	echo "start labdaq-1-packet $(cpu_of labdaq acquire "usb:fx2lafw?fifo=$LAFIFO" -C D0-D7 \
		--rate 1000000 --samples 512 --ring $RING --progress none -o $D/one.npy)" | tee -a "$RES"
	gadget_stop
	gadget_start fx2lafw >/dev/null 2>&1
	echo "start sigrok-cli-1-packet $(cpu_of sigrok-cli -d fx2lafw --config samplerate=1m \
		--samples 512 -O binary -o $D/one.bin)" | tee -a "$RES"
	gadget_stop
	gadget_start fx2lafw >/dev/null 2>&1
done
gadget_stop
# "0 0": only the fixed costs (comparing builds' start and end)
[ "$SECS" = 0 ] && exit 0

# 1. fx2lafw's rates, highest first: at each rate, each contender runs
#    until its first loss or CONFIRM ok runs (interleaved), down to the
#    first rate it sustains; below that, one run of it (the table).
# 2. At the lower of the two sustained rates: $REPS pairs, interleaved.
RATES="24000000 12000000 8000000 6000000 4000000 3000000 2000000 1000000 500000"
CONFIRM=3
# ok_runs RATE: each contender's runs of RATE until its first loss, at most
# $ks (sigrok-cli) and $kl (labdaq) of them; sets ok_s and ok_l, their ok runs
ok_runs() {
	ok_s=0 ok_l=0 j=0
	while [ $j -lt $ks ] || [ $j -lt $kl ]; do
		if [ $((j % 2)) -eq 0 ]; then order="sigrok-cli labdaq"; else order="labdaq sigrok-cli"; fi
		for c in $order; do
			if [ $c = labdaq ]; then n_ok=$ok_l k=$kl; else n_ok=$ok_s k=$ks; fi
			[ $n_ok -eq $j ] && [ $j -lt $k ] || continue
			one $c $1
			tail -n 2 "$RES" | grep -q "^run $c $1 ok" || continue
			if [ $c = labdaq ]; then ok_l=$((ok_l + 1)); else ok_s=$((ok_s + 1)); fi
		done
		j=$((j + 1))
	done
}
sus_s= sus_l= top=
for rate in $RATES; do
	ks=$CONFIRM kl=$CONFIRM
	[ -n "$sus_s" ] && ks=1
	[ -n "$sus_l" ] && kl=1
	ok_runs $rate
	[ -z "$sus_s" ] && [ $ok_s -eq $CONFIRM ] && sus_s=$rate
	[ -z "$sus_l" ] && [ $ok_l -eq $CONFIRM ] && sus_l=$rate
	# the rates fall: the second one found is the lower
	[ -z "$top" ] && [ -n "$sus_s" ] && [ -n "$sus_l" ] && top=$rate
done
echo "sustained sigrok-cli ${sus_s:-0}" | tee -a "$RES"
echo "sustained labdaq ${sus_l:-0}" | tee -a "$RES"
echo "pairs at ${top:-none}" | tee -a "$RES"
[ -n "$top" ] || exit 0
i=0
while [ $i -lt "$REPS" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		one sigrok-cli $top pair
		one labdaq $top pair
	else
		one labdaq $top pair
		one sigrok-cli $top pair
	fi
	i=$((i + 1))
done
exit 0
