#!/usr/bin/env bash
# test_units.sh - units mean what they say: SI prefixes are case-sensitive
# (m milli, M mega, k kilo) for rates, counts and durations alike; a unit in
# the wrong case or an ambiguous one is refused with a hint.  Each accepted
# form is checked by its effect: the sidecar's rate, the items acquired.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

n=0
# rate_is ARG HZ: --rate ARG records rate_hz == HZ (one sample is enough).
rate_is() {
	n=$((n + 1))
	run r$n labdaq acquire sim:adc --samples 1 --rate "$1" -o "$T/r$n.npy"
	check "--rate $1 is $2 Hz" CHECK expr --json "$T/r$n.json" "m['rate_hz'] == $2" \
		"m['status'] == 'complete'"
}
rate_is 1mHz 0.001
rate_is 2500mHz 2.5
rate_is 2.5 2.5
rate_is 2.5Hz 2.5
rate_is 0.25k 250
rate_is 0.25kHz 250
rate_is 0.25M 250000
rate_is 0.25MHz 250000
rate_is 1GHz 1e9
rate_is 1G 1e9

# items_are WHAT N ARGS...: acquire ARGS writes exactly N samples.
items_are() {
	local what=$1 want=$2
	shift 2
	n=$((n + 1))
	run i$n labdaq acquire sim:adc "$@" -o "$T/i$n.npy"
	check "$what: exactly $want samples" CHECK expr --json "$T/i$n.json" --npy "$T/i$n.npy" \
		"m['status'] == 'complete'" "n == m['written'] == $want"
}
items_are "--samples 2k" 2000 --samples 2k
items_are "--samples 0.003M" 3000 --samples 0.003M
items_are "--samples 0.000004G" 4000 --samples 0.000004G
# Durations at 1 kHz: exactly rate x duration items.
items_are "--time 20ms" 20 --rate 1k --time 20ms
items_are "--time 21000us" 21 --rate 1k --time 21000us
items_are "--time 22000µs" 22 --rate 1k --time 22000µs
items_are "--time 23000000ns" 23 --rate 1k --time 23000000ns
items_are "--time 0.024s" 24 --rate 1k --time 0.024s
items_are "--time 0.025 (seconds)" 25 --rate 1k --time 0.025
items_are "--time 0.0005min" 30 --rate 1k --time 0.0005min
items_are "--time 0.00001h" 36 --rate 1k --time 0.00001h

# Sizes (powers of 1024) and a sweep's counts and delay.
for r in 1M 1024k 1024K 1MiB 1048576B; do
	n=$((n + 1))
	run s$n labdaq acquire sim:adc --samples 1 --ring "$r" -o "$T/s$n.npy"
	check "--ring $r is 1 MiB" CHECK expr --json "$T/s$n.json" \
		"m['ring']['capacity_bytes'] == 1048576"
done
run sw labdaq sweep sim:ohm --set voltage0 --from 0 --to 1 --points 0.012k --repeat 0.000002M \
	--delay 1000us -o "$T/sw.csv"
check "sweep --points 0.012k --repeat 0.000002M --delay 1000us: 12 points, 2 passes, 1 ms" \
	CHECK expr --json "$T/sw.json" "m['sweep']['points'] == 12" "m['sweep']['repeat'] == 2" \
	"m['sweep']['delay_s'] == 0.001" "m['points'] == 24"

# refused WHAT HINT ARGS...: exit 2, the message has the hint, no file.
refused() {
	local what=$1 re=$2
	shift 2
	n=$((n + 1))
	run x$n labdaq "$@" -o "$T/x$n.npy"
	if [ "$RC" = 2 ] && grep -qE -- "$re" "$T/x$n.err" && [ ! -e "$T/x$n.npy" ]; then
		ok "$what: refused, exit 2, hint /$re/"
	else
		not_ok "$what: refused, exit 2, hint /$re/ (exit $RC)"
		diag <"$T/x$n.err"
	fi
}
refused "--rate 1mhz" "mHz \(millihertz\) or MHz \(megahertz\)" acquire sim:adc --samples 1 --rate 1mhz
refused "--rate 1MHZ" "mHz \(millihertz\) or MHz \(megahertz\)" acquire sim:adc --samples 1 --rate 1MHZ
refused "--rate 1khz" "kHz \(kilohertz\)" acquire sim:adc --samples 1 --rate 1khz
refused "--rate 1m (bare: milli or mega?)" "mHz for millihertz or M for mega" acquire sim:adc \
	--samples 1 --rate 1m
refused "--rate 1K" "k for kilo" acquire sim:adc --samples 1 --rate 1K
refused "--rate 1KHz" "kHz for kilohertz" acquire sim:adc --samples 1 --rate 1KHz
refused "--rate 1hz" "Hz \(hertz\)" acquire sim:adc --samples 1 --rate 1hz
refused "--samples 1K" "k for kilo" acquire sim:adc --samples 1K
refused "--samples 1m" "M \(mega" acquire sim:adc --samples 1m
refused "--samples 1g" "G \(giga\)" acquire sim:adc --samples 1g
refused "--time 1m (milli or minutes?)" "ms for milliseconds or min for minutes" acquire \
	sim:adc --time 1m
refused "--time 1MS" "ms \(milliseconds\)" acquire sim:adc --time 1MS
refused "--time 1S" "s \(seconds\)" acquire sim:adc --time 1S
refused "--time 1H" "h \(hours\)" acquire sim:adc --time 1H
refused "--time 1Min" "min \(minutes\)" acquire sim:adc --time 1Min
refused "--ring 16m" "M \(MiB\)" acquire sim:adc --samples 1 --ring 16m
refused "sweep --delay 10MS" "ms \(milliseconds\)" sweep sim:ohm --set voltage0 --from 0 --to 1 \
	--points 2 --delay 10MS
refused "sweep --points 1K" "k for kilo" sweep sim:ohm --set voltage0 --from 0 --to 1 --points 1K

finish
