# bench-comedi.sh - the comedi comparison of `make bench` (bench.py, section
# 7): labdaq against bench/comedi_loop.c, a minimal comedi_command + read()
# loop, on comedi_test in this VM.  Not a test (main.sh runs it only when the
# host asks: /share/bench-comedi exists, VM_BENCH=1 in tests/vm/run.sh).
# Needs 60-comedi.sh first (the boards).  Output: /share/out/bench-comedi.txt,
# one line per run:
#   run|pair CONTENDER RATE ok|overflow SAMPLES CPU_SECONDS WALL_SECONDS
#   start WHAT STATUS CPU_SECONDS WALL_SECONDS   (fixed costs)
#   cpus run|pair CONTENDER RATE before ... after ...   (cpus() around a run)
. /tests/lib.sh
RES=$OUT/bench-comedi.txt
D=/tmp/bench
mkdir -p $D
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p $LABDAQ_LOCK_DIR
# A ring of 4 MiB: a second of samples at the highest rate (1 MHz, 2
# channels); the default 64 MiB costs about 0.2 s of CPU in the kernel to
# map and clear under TCG, which is the ring's choice, not streaming's.
RING=4M
# SECS: each pair's runs; SCAN: each run of the rate scan (default SECS)
read -r SECS REPS SCAN </share/bench-comedi
[ -n "$SECS" ] || SECS=3
[ -n "$REPS" ] || REPS=6
[ -n "$SCAN" ] || SCAN=$SECS
: >"$RES"
if ! command -v labdaq >/dev/null || ! command -v comedi_loop >/dev/null || [ ! -c /dev/comedi0 ]; then
	echo "error labdaq, comedi_loop or /dev/comedi0 missing" >>"$RES"
	exit 0
fi

# The guest's CPUs, one field per CPU: busy (user, nice, system, irq,
# softirq) and idle ticks, and the TIMER softirqs each ran (which CPU runs
# comedi_test's sample generation, a timer).
cpus() {
	awk '/^cpu[0-9]/ { printf "%s:%d:%d ", $1, $2 + $3 + $4 + $7 + $8, $5 + $6 }' /proc/stat
	awk '$1 == "TIMER:" { for (i = 2; i <= NF; i++) printf "t%d:%s ", i - 2, $i }' /proc/softirqs
}

# one CONTENDER RATE [TAG]: one run of ai0,ai1 (SCAN seconds for a run,
# SECS for a pair), printed as "TAG CONTENDER RATE ok|overflow SAMPLES CPU
# WALL" (TAG: run, or pair)
one() {
	tag=${3:-run}
	secs=$SCAN
	[ "$tag" = pair ] && secs=$SECS
	rm -f $D/l.npy $D/l.json $D/l.gaps.npy $D/loop.bin
	c0=$(cpus)
	if [ "$1" = labdaq ]; then
		set -- "$1" "$2" $(cpu_of labdaq acquire comedi:0 --rate "$2" -C ai0,ai1 \
			--time "${secs}s" --ring $RING --progress none -o $D/l.npy)
		n=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $D/l.json 2>/dev/null)
	else
		set -- "$1" "$2" $(cpu_of comedi_loop /dev/comedi0 "$2" 2 "$secs" $D/loop.bin)
		n=$(sed -n 's/^samples \([0-9]*\) .*/\1/p' $D/out.txt)
	fi
	st=ok
	[ "$3" = 0 ] || st=overflow
	grep -q overflow $D/out.txt && [ "$1" = labdaq ] && st=overflow
	echo "$tag $1 $2 $st ${n:-0} $4 $5" | tee -a "$RES"
	echo "cpus $tag $1 $2 before $c0 after $(cpus)" >>"$RES"
}

# The fixed costs: a process that starts and exits at once, and a run of
# one sample (process, libraries, device, files, the threads).
for i in 1 2 3; do
	echo "start labdaq-version $(cpu_of labdaq --version)" | tee -a "$RES"
	echo "start comedi_loop-usage $(cpu_of comedi_loop)" | tee -a "$RES"
	rm -f $D/one.npy $D/one.json $D/one.gaps.npy
	echo "start labdaq-1-sample $(cpu_of labdaq acquire comedi:0 --rate 1k -n 1 -C ai0,ai1 \
		--ring $RING --progress none -o $D/one.npy)" | tee -a "$RES"
	echo "start comedi_loop-1-sample $(cpu_of comedi_loop /dev/comedi0 1000 2 0.001 \
		$D/loop.bin)" | tee -a "$RES"
done

# 1. The rates comedi_test can run (whole microseconds), highest first:
#    one run of each contender at each.
# 2. At the highest rate both sustained: $REPS pairs, interleaved (A B, B A,
#    ...): CPU time under TCG is sampled per tick and the driver's own
#    sample generation (a timer, every jiffy) is charged to whichever task
#    it interrupts, so single runs are noisy; the host takes medians.
for rate in 1000000 500000 250000 125000 50000; do
	one comedi_loop $rate
	one labdaq $rate
done
top=
for rate in 1000000 500000 250000 125000 50000; do
	if grep -q "^run comedi_loop $rate ok" "$RES" && grep -q "^run labdaq $rate ok" "$RES"; then
		top=$rate
		break
	fi
done
echo "pairs at ${top:-none}" | tee -a "$RES"
[ -n "$top" ] || exit 0
i=0
while [ $i -lt "$REPS" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		one comedi_loop $top pair
		one labdaq $top pair
	else
		one labdaq $top pair
		one comedi_loop $top pair
	fi
	i=$((i + 1))
done
exit 0
