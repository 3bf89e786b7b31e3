# bench-usb.sh - the usb comparison of `make bench` (bench.py, section 10):
# labdaq against Debian's sigrok-cli capturing from the emulated fx2lafw
# board (build/usb/fx2gadget, tests/usb/README.md) in this VM.  Not a test
# (main.sh runs it only when the host asks: /share/bench-usb exists,
# VM_BENCH_USB in tests/vm/run.sh).  Output: /share/out/bench-usb.txt, one
# line per run:
#   run|pair CONTENDER RATE ok|loss SAMPLES CPU_SECONDS WALL_SECONDS
#   start WHAT STATUS CPU_SECONDS WALL_SECONDS   (fixed costs)
# A run is ok when the contender exited 0 with every sample asked for and
# the gadget lost nothing (the ground truth: it knows what it could not
# send).  Each run gets a fresh board with a 256 KiB FIFO.
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
# labdaq's ring: 16 MiB (seconds of data at the rates the emulated bus
# carries); the default 64 MiB costs a visible share of a short run's CPU to
# map and clear under TCG (see bench-comedi.sh), which is the ring's choice,
# not streaming's.
RING=16M
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

# 1. fx2lafw's rates, highest first: one run of each contender at each.
# 2. At the highest rate both sustained: $REPS pairs, interleaved.
RATES="24000000 12000000 8000000 6000000 4000000 3000000 2000000 1000000 500000"
for rate in $RATES; do
	one sigrok-cli $rate
	one labdaq $rate
done
top=
for rate in $RATES; do
	if grep -q "^run sigrok-cli $rate ok" "$RES" && grep -q "^run labdaq $rate ok" "$RES"; then
		top=$rate
		break
	fi
done
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
