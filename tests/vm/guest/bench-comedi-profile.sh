# bench-comedi-profile.sh - where the CPU of a comedi stream goes: labdaq
# and bench/comedi_loop.c at 1 MHz (2 channels) on comedi_test, each run
# under `time`, under perf (system-wide, call graphs) and under strace -c.
# Not a test and not timed against anything: main.sh runs it only when the
# host asks (/share/bench-comedi-profile, VM_BENCH_PROFILE=SECONDS in
# tests/vm/run.sh, which stages the host's perf and strace; see
# docs/comedi.md, "Numbers").  Needs 60-comedi.sh first.  Output in
# /share/out/profile: runs.txt (CONTENDER USER SYS WALL, then the guest's
# uptime and idle ticks before and after), report.X.txt (perf report by
# thread and symbol), script.X.gz (perf script, for bench/comedi_profile.py),
# strace.X.txt (X: c the loop, l labdaq).
. /tests/lib.sh
P=$OUT/profile
D=/tmp/profile
mkdir -p $P $D
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p $LABDAQ_LOCK_DIR
echo -1 >/proc/sys/kernel/perf_event_paranoid
echo 0 >/proc/sys/kernel/kptr_restrict
head -c 1 /dev/random >/dev/null
read -r SECS </share/bench-comedi-profile
[ -n "$SECS" ] || SECS=5
if ! command -v labdaq >/dev/null || ! command -v comedi_loop >/dev/null; then
	echo "error labdaq or comedi_loop missing" >$P/runs.txt
	exit 0
fi
CMD_l="labdaq acquire comedi:0 --rate 1000000 -C ai0,ai1 --time ${SECS}s --ring 4M"
CMD_l="$CMD_l --progress none -o $D/l.npy"
CMD_c="comedi_loop /dev/comedi0 1000000 2 $SECS $D/loop.bin"
cmd() { eval echo \$CMD_$1; }
clean() { rm -f $D/l.npy $D/l.json $D/l.gaps.npy $D/loop.bin; }
# the guest's uptime (s) and idle + iowait (ticks of 10 ms, both CPUs)
sysb() {
	awk '{ printf "%s ", $1 }' /proc/uptime
	awk '/^cpu / { print $5 + $6 }' /proc/stat
}
one() {
	clean
	s0=$(sysb)
	time -o $D/t.txt -f "%U %S %e" $(cmd $1) >$D/o.txt 2>&1
	echo "$1 $(cat $D/t.txt) sys $s0 $(sysb)" | tee -a $P/runs.txt
}
: >$P/runs.txt
for i in 1 2 3; do
	one c
	one l
done
if command -v perf >/dev/null; then
	for x in c l; do
		clean
		perf record -q -a -g -F 499 -e cpu-clock -o $D/perf.$x.data -- $(cmd $x) \
			>$D/o.txt 2>&1 || note "perf record $x failed: $(tail -c 300 $D/o.txt)"
		perf report -i $D/perf.$x.data --no-children --sort comm,tid,sym --stdio -g none \
			2>/dev/null | head -150 >$P/report.$x.txt
		perf script -i $D/perf.$x.data -F comm,tid,cpu,ip,sym 2>/dev/null | gzip >$P/script.$x.gz
		rm -f $D/perf.$x.data
	done
fi
if command -v strace >/dev/null; then
	for x in c l; do
		clean
		strace -c -f -o $P/strace.$x.txt $(cmd $x) >/dev/null 2>&1
	done
fi
clean
exit 0
