#!/bin/sh
# run.sh - the Python package's pytest suite, one TAP line per test for
# tests/run-tests.sh ("ok N - name", "not ok N - name", "ok N # SKIP").
# Debian's python3 and python3-pytest; the package from the build tree.
top=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-/usr/bin/python3}
cd "$top" || exit 1
if ! "$py" -c 'import pytest' 2>/dev/null; then
	echo "ok 1 # SKIP python3-pytest is not installed (scripts/install-deps.sh)"
	exit 0
fi
out=$(mktemp)
PYTHONPATH="$top/python" PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -v -p no:cacheprovider \
	-o console_output_style=classic tests/python "$@" >"$out" 2>&1
rc=$?
cat "$out"
awk '/^tests\/python\/.*::.* (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)( .*)?$/ {
	name = $0; sub(/^tests\/python\//, "", name)
	st = name; sub(/.* (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)/, "", st)
	st = substr(name, 1, length(name) - length(st))
	sub(/.* /, "", st)
	sub(/ (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)( .*)?$/, "", name)
	n++
	if (st == "PASSED" || st == "XFAIL") print "ok " n " - " name
	else if (st == "SKIPPED") print "ok " n " - " name " # SKIP"
	else print "not ok " n " - " name
}' "$out"
rm -f "$out"
exit $rc
