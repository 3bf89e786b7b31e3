# 50-labdaq.sh - the labdaq tool inside the guest, when the host staged it
# (tests/vm/run.sh, stage_extra: build/labdaq -> /usr/local/bin/labdaq).
# The iio backend's tests go here (or in 51..89): labdaq_sim is loaded.
. /tests/lib.sh

if ! command -v labdaq >/dev/null; then
	skip "labdaq runs in the guest" "build/labdaq not built"
	exit 0
fi
check "labdaq runs in the guest (its libraries staged)" labdaq --version
list_ok() {
	labdaq list >/tmp/list.txt 2>&1
	rc=$?
	note "labdaq list: exit $rc, $(tr '\n' ';' </tmp/list.txt | head -c 300)"
	[ $rc -eq 0 ] && grep -q '^sim:ohm' /tmp/list.txt
}
check "labdaq list works in the guest" list_ok
exit 0
