# 63-comedi-sweep.sh - sweeps over the analog output: comedi_test loops
# each output channel back to the instruction reads of the same input
# channel, so ai0 reads back what ao0 was set to, within one LSB.
. /tests/lib.sh
. /tests/comedi-lib.sh
need_comedi "sweeps over comedi_test's analog output"

# readback FILE LSB: every row (after the header row) has ai0 (column 5)
# within LSB of the set value
# (column 4); ai1 (column 6) stays at mid-scale (within 1 LSB of 0 V)
readback() {
	awk -F, -v lsb="$2" 'NR > 1 {
		d = $5 - $4; if (d < 0) d = -d; if (d > lsb) bad++
		e = $6; if (e < 0) e = -e; if (e > lsb) bad++; n++ }
		END { printf "%d rows, %d off\n", n, bad; exit !(n > 0 && bad + 0 == 0) }' "$1"
}
labdaq sweep "$DEV0?range=1&out_range=1" --set ao0 --read ai0,ai1 --from -4 --to 4 --points 9 \
	-o "$W/sw5.csv" >"$W/sw5.out" 2>&1
rc=$?
out=$(readback "$W/sw5.csv" 0.000153)
check "in the +-5 V ranges: within one LSB (10 V / 65535) ($out)" \
	sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q '^9 rows, 0 off'"

labdaq sweep $DEV0 --set ao0 --read ai0,ai1 --from -9.5 --to 9.5 --points 39 \
	-o "$W/sw.csv" >"$W/sw.out" 2>&1
rc=$?
note "sweep: exit $rc: $(tail -n 2 "$W/sw.out" | tr '\n' ';')"
out=$(readback "$W/sw.csv" 0.000306)
note "sweep readback: $out"
check "sweep ao0 -9.5..9.5 V, 39 points: ai0 reads each value back within one LSB (20 V / 65535)" \
	sh -c "[ $rc -eq 0 ] && echo '$out' | grep -q '^39 rows, 0 off'"
keep sw sweep 39

labdaq sweep $DEV0 --set ao0 --read ai0 --from -11 --to 0 --points 3 \
	-o "$W/bad.csv" >"$W/bad.out" 2>&1
rc=$?
note "out of range: exit $rc: $(head -n 1 "$W/bad.out")"
check "a sweep from -11 V is refused before anything is written (exit 2, no file)" \
	sh -c "[ $rc -eq 2 ] && [ ! -e $W/bad.csv ] && grep -q -- '-10 to 10 V' $W/bad.out"
labdaq sweep $DEV0 --set ao1 --read ai0 --from 0 --to 0 --points 1 \
	-o "$W/still.csv" >/dev/null 2>&1
v=$(awk -F, 'NR == 2 { print $5 }' "$W/still.csv")
check "  ... ao0 still holds the last value set, 9.5 V (ai0 reads $v)" \
	awk -v v="$v" 'BEGIN { d = v - 9.5; if (d < 0) d = -d; exit !(v != "" && d <= 0.000306) }'
exit 0
