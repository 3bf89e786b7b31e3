#!/usr/bin/env bash
# run-tests.sh TEST... - run each test, count its results, end with
# "N passed, N failed[, N skipped]".
#
# A test is an executable: a cmocka binary or a script.  Each prints TAP
# lines ("ok N - what", "not ok N - what", "ok N # SKIP why"); every line
# counts.  A test that prints none counts once, by its exit status: 0 pass,
# 77 skipped, anything else failed.  A non-zero exit after only "ok" lines
# (a crash, a sanitizer report) counts one more failure.
# Logs: build/test-logs/<name>.log.  Per-test limit: TEST_TIMEOUT (s, 900).
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
logs="$top/build/test-logs"
mkdir -p "$logs"
timeout_s=${TEST_TIMEOUT:-900}
export CMOCKA_MESSAGE_OUTPUT=TAP
passed=0 failed=0 skipped=0
failures=()

for t in "$@"; do
	name=${t#"$top"/}
	name=${name#build/}
	logname=$(printf '%s' "$name" | tr '/' '_')
	log="$logs/$logname.log"
	start=$(date +%s)
	# Device locks of their own: tests never meet each other's runs or a
	# user's real ones.
	export LABDAQ_LOCK_DIR="$logs/locks.$logname"
	rm -rf "$LABDAQ_LOCK_DIR"
	timeout --kill-after=10 "$timeout_s" "$t" >"$log" 2>&1 </dev/null
	rc=$?
	secs=$(( $(date +%s) - start ))
	# cmocka prints a skipped test as "not ok N # SKIP": a skip, not a failure.
	p=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '# ?SKIP')
	s=$(grep -cE '^(not )?ok [0-9]+.*# ?SKIP' "$log")
	f=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '# ?SKIP')
	if [ $((p + s + f)) -eq 0 ]; then
		case $rc in
		0) p=1 ;;
		77) s=1 ;;
		*) f=1 ;;
		esac
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
	fi
	[ "$rc" -eq 124 ] && echo "  $name: timed out after ${timeout_s}s" >>"$log"
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	if [ "$f" -gt 0 ]; then
		status=FAIL
		failures+=("$name")
	elif [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
		status=SKIP
	else
		status=PASS
	fi
	printf '%-4s %-44s %3d ok %2d failed %2d skipped %4ss\n' "$status" "$name" "$p" "$f" "$s" "$secs"
	if [ "$status" = FAIL ]; then
		grep -E '^not ok|ERROR|error|Assert|FAIL|SUMMARY|WARNING: ThreadSanitizer' "$log" | head -20 | sed 's/^/     | /'
		echo "     | (whole log: build/test-logs/$logname.log)"
	elif [ "$status" = SKIP ]; then
		grep -E '# ?SKIP|skip' "$log" | head -3 | sed 's/^/     | /'
	fi
done

echo
[ ${#failures[@]} -gt 0 ] && echo "failed: ${failures[*]}"
if [ "$skipped" -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
