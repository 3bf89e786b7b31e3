# main.sh - run every guest test script in order (from /init).
# Exit status: 0 when every check passed, 1 otherwise.
. /tests/lib.sh

note "guest kernel $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPU(s)"
for t in /tests/[0-9][0-9]-*.sh; do
	name=${t##*/}
	echo "# ---- $name"
	start=$(date +%s)
	# a script that hangs is killed; its own children may linger
	timeout -s KILL 150 sh "$t"
	rc=$?
	[ "$rc" -eq 0 ] || not_ok "$name ran to its end (exit status $rc)"
	note "$name: $(($(date +%s) - start)) s"
done

# `make bench` (bench.py) asks for the comedi comparison this way.
if [ -f /share/bench-comedi ]; then
	echo "# ---- bench-comedi.sh"
	timeout -s KILL 600 sh /tests/bench-comedi.sh
fi
# ... and for the profile of a comedi stream (not timed against anything).
if [ -f /share/bench-comedi-profile ]; then
	echo "# ---- bench-comedi-profile.sh"
	timeout -s KILL 300 sh /tests/bench-comedi-profile.sh
fi
if [ -f /share/bench-v4l2 ]; then
	echo "# ---- bench-v4l2.sh"
	timeout -s KILL 900 sh /tests/bench-v4l2.sh
fi

# `make bench` (bench.py) asks for the usb comparison this way.
if [ -f /share/bench-usb ]; then
	echo "# ---- bench-usb.sh"
	timeout -s KILL 900 sh /tests/bench-usb.sh
fi

dmesg >"$OUT/dmesg.txt"
echo "VMTEST: done" >>"$MARKERS"
echo "VMTEST: done"
! grep -q '^VMTEST: not ok' "$MARKERS"
