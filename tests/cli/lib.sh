# lib.sh - shared helpers of the CLI tests; source it from a test_*.sh.
#
# TAP without a plan up front: every ok/not_ok/skip prints one numbered
# line; finish prints "1..N" and exits 0 if nothing failed, 77 if every
# line was a skip, 1 otherwise.  Each script gets its own temporary
# directory $T, removed at exit with whatever at_exit registered (run in
# reverse order) and every process started with run_bg still alive.
#
#   LABDAQ   the binary under test (default: build/labdaq of this tree)
#   PY       Debian's python3, which has numpy (PYTHON overrides)
#   CHECK    "$PY tests/cli/check.py": the data checks, see its --help
#   LABDAQ_LOCK_DIR  set to a directory of this script's own
#
# Keep a failing test's files for a post-mortem: LABDAQ_TEST_KEEP=1.

set -u

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
LABDAQ=${LABDAQ:-$TOP/build/labdaq}
PY=${PYTHON:-/usr/bin/python3}
CHECK_PY=$TOP/tests/cli/check.py
T=$(mktemp -d "${TMPDIR:-/tmp}/labdaq-cli.XXXXXX") || exit 1
# Device locks of our own: runs of other test suites on this machine must
# not make ours busy (nor ours theirs).
export LABDAQ_LOCK_DIR=$T/locks

_n=0 _nfail=0 _nskip=0
_cleanups=()
_bg_pids=()

at_exit() { _cleanups+=("$1"); }

_finish_cleanup() {
	local pid i
	for pid in "${_bg_pids[@]+"${_bg_pids[@]}"}"; do
		kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	done
	for ((i = ${#_cleanups[@]} - 1; i >= 0; i--)); do
		eval "${_cleanups[i]}" || true
	done
	if [ "${LABDAQ_TEST_KEEP:-0}" = 1 ] && [ "$_nfail" -gt 0 ]; then
		echo "# kept $T"
	else
		rm -rf "$T"
	fi
}
trap _finish_cleanup EXIT
trap 'exit 130' INT TERM HUP

# Diagnostics: every line of stdin, or of the arguments, as a TAP comment.
diag() {
	if [ $# -gt 0 ]; then
		printf '%s\n' "$@" | sed 's/^/# /'
	else
		sed 's/^/# /'
	fi
}

ok() { _n=$((_n + 1)); echo "ok $_n - $*"; }
not_ok() { _n=$((_n + 1)); _nfail=$((_nfail + 1)); echo "not ok $_n - $*"; }
skip() { _n=$((_n + 1)); _nskip=$((_nskip + 1)); echo "ok $_n # SKIP $*"; }

# check WHAT CMD...: one TAP line, ok if CMD exits 0; its output as
# diagnostics when it fails.
check() {
	local what=$1 out rc
	shift
	out=$("$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "$what"
	else
		not_ok "$what"
		printf '%s\n' "$out" | tail -n 25 | diag
		diag "(exit status $rc: $*)"
	fi
	return "$rc"
}

# is WHAT GOT WANT
is() {
	if [ "$2" = "$3" ]; then
		ok "$1"
	else
		not_ok "$1"
		diag "got:  '$2'" "want: '$3'"
		return 1
	fi
}

# check_grep WHAT FILE ERE: FILE has a line matching ERE (grep -E -i).
check_grep() {
	local what=$1 file=$2 re=$3
	if grep -qEi -- "$re" "$file"; then
		ok "$what"
	else
		not_ok "$what"
		diag "no line of $(basename "$file") matches /$re/; it holds:"
		tail -n 15 "$file" | diag
		return 1
	fi
}

# The data checks (tests/cli/check.py).
CHECK() { "$PY" "$CHECK_PY" "$@"; }

# labdaq ARGS...: the binary under test.
labdaq() { "$LABDAQ" "$@"; }

# run NAME CMD...: run CMD in the foreground, stdout to $T/NAME.out, stderr
# to $T/NAME.err; the exit status in RC.
run() {
	local name=$1
	shift
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null
	RC=$?
}

# run_bg NAME CMD...: start CMD in the background, stdout to $T/NAME.out,
# stderr to $T/NAME.err; its pid in BG_PID.  It is killed at exit if still
# alive.  A non-interactive shell starts background jobs with SIGINT
# ignored; labdaq resets it, which is what the tests check.
run_bg() {
	local name=$1
	shift
	# The binary itself, not the labdaq function: BG_PID must be labdaq's
	# pid for the signals to reach it.
	[ "$1" = labdaq ] && set -- "$LABDAQ" "${@:2}"
	"$@" >"$T/$name.out" 2>"$T/$name.err" </dev/null &
	BG_PID=$!
	_bg_pids+=("$BG_PID")
}

# Waiting.  Every wait below has a deadline, and a deadline that passes is
# a failing check ("not ok N - timed out ... waiting for WHAT"), never a
# silent carry-on: call them in the script's own shell, not in a pipeline
# or $(...), or the failure is counted in a subshell and lost.  They print
# nothing when the wait ends in time; they return 0 then, non-zero after a
# timeout.

# wait_pid PID TIMEOUT_S [WHAT]: wait for a background process with a
# deadline.  RC is its exit status, or 124 if it was still running at the
# deadline: then it is killed with SIGKILL and a failing check names it
# (WHAT, or its command line).
wait_pid() {
	local pid=$1 secs=$2 what=${3:-} deadline=$((SECONDS + $2))
	while _alive "$pid"; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			[ -n "$what" ] || what=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-120)
			kill -KILL "$pid" 2>/dev/null
			{ wait "$pid"; } 2>/dev/null
			RC=124
			not_ok "timed out after $secs s waiting for pid $pid to exit (${what% }); killed it"
			return 124
		fi
		sleep 0.05
	done
	{ wait "$pid"; } 2>/dev/null
	RC=$?
	return 0
}

# wait_until WHAT TIMEOUT_S CMD...: run CMD (a command or a function) every
# 50 ms until it exits 0; after TIMEOUT_S a failing check "timed out after
# TIMEOUT_S s waiting for WHAT".
wait_until() {
	local what=$1 secs=$2 deadline=$((SECONDS + $2))
	shift 2
	until "$@" >/dev/null 2>&1; do
		if [ "$SECONDS" -ge "$deadline" ]; then
			not_ok "timed out after $secs s waiting for $what"
			return 1
		fi
		sleep 0.05
	done
	return 0
}

# _alive PID: running (a zombie is not).
_alive() {
	[ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# _wait_check WHAT CMD...: CMD is one of check.py's waits; if it fails, a
# failing check that says what was waited for, with check.py's reason.
_wait_check() {
	local what=$1 out
	shift
	out=$("$@" 2>&1) && return 0
	not_ok "timed out waiting for $what"
	printf '%s\n' "$out" | tail -n 5 | diag
	return 1
}

# wait_for_json JSON EXPR [TIMEOUT_S]: poll the sidecar until the Python
# EXPR (over m, the sidecar) holds.
wait_for_json() {
	_wait_check "$2 in $(basename "$1") (${3:-30} s)" CHECK wait-json "$1" "$2" "${3:-30}"
}

# wait_for_progress ERRFILE EXPR [TIMEOUT_S]: poll the last --progress json
# line (p) of a run's stderr until EXPR holds.
wait_for_progress() {
	_wait_check "$2 in the progress of $(basename "$1") (${3:-30} s)" \
		CHECK wait-progress "$1" "$2" "${3:-30}"
}

# wait_for_file_items NPY N [TIMEOUT_S]: poll until the .npy header (the
# last checkpoint) counts at least N items.
wait_for_file_items() {
	_wait_check "$2 items in the header of $(basename "$1") (${3:-30} s)" \
		CHECK wait-items "$1" "$2" "${3:-30}"
}

# A small file system of our own, without root: in_tmpfs runs a command
# with a fresh tmpfs mounted on a directory, in a private mount namespace.
# Root just unshares the mount namespace; any other user also unshares a
# user namespace in which it is root (unshare --user --map-root-user), which
# lets it mount a tmpfs there.  Nothing stays mounted: the tmpfs goes away
# with the command.

# in_tmpfs OPTS DIR KEEP CMD...: run CMD (a program; "labdaq" is the binary
# under test) with a tmpfs mounted on DIR with mount options OPTS (e.g.
# size=8m, or ro,size=1m).  Before the tmpfs goes, everything on it is
# copied to the directory KEEP ("" for nothing), for the checks to read.
# Exit status: CMD's, or 125 if the tmpfs could not be mounted or copied.
in_tmpfs() {
	local opts=$1 dir=$2 keep=$3 ns
	shift 3
	[ "$1" = labdaq ] && set -- "$LABDAQ" "${@:2}"
	ns=(unshare --mount --propagation private)
	[ "$(id -u)" -eq 0 ] || ns=(unshare --user --map-root-user --mount --propagation private)
	"${ns[@]}" /bin/sh -c '
		opts=$1 dir=$2 keep=$3
		shift 3
		mount -t tmpfs -o "$opts" labdaq-test "$dir" || exit 125
		"$@"
		rc=$?
		if [ -n "$keep" ]; then
			cp -a "$dir/." "$keep/" || exit 125
		fi
		exit "$rc"' in_tmpfs "$opts" "$dir" "$keep" "$@"
}

# tmpfs_ok: 0 if in_tmpfs works here (tried once); otherwise 1, and
# NO_TMPFS says why (for a skip): no unshare, or the kernel does not allow
# this user a user or mount namespace, or a tmpfs mount in it.
NO_TMPFS=
tmpfs_ok() {
	local f v
	if [ -n "${_tmpfs_tried:-}" ]; then
		[ -z "$NO_TMPFS" ]
		return
	fi
	_tmpfs_tried=1
	if ! command -v unshare >/dev/null; then
		NO_TMPFS="no unshare(1) to make a private mount namespace (util-linux)"
		return 1
	fi
	mkdir -p "$T/tmpfs-probe"
	if in_tmpfs size=64k "$T/tmpfs-probe" "" /bin/true 2>"$T/tmpfs-probe.err"; then
		return 0
	fi
	if [ "$(id -u)" -eq 0 ]; then
		NO_TMPFS="root cannot mount a tmpfs in a private mount namespace"
	else
		NO_TMPFS="uid $(id -u) cannot mount a tmpfs in an unprivileged user+mount namespace"
	fi
	NO_TMPFS="$NO_TMPFS: $(head -c 200 "$T/tmpfs-probe.err" | tr '\n' ' ')"
	for f in /proc/sys/kernel/unprivileged_userns_clone /proc/sys/user/max_user_namespaces \
		/proc/sys/kernel/apparmor_restrict_unprivileged_userns; do
		v=$(cat "$f" 2>/dev/null) && NO_TMPFS="$NO_TMPFS; ${f#/proc/sys/}=$v"
	done
	return 1
}

# require_numpy: skip the whole script (exit 77) without Debian's numpy.
require_numpy() {
	if ! "$PY" -c 'import numpy' 2>/dev/null; then
		skip "no numpy in $PY (apt-get install python3-numpy)"
		finish
	fi
}

require_labdaq() {
	if [ ! -x "$LABDAQ" ]; then
		not_ok "$LABDAQ is built (run make)"
		finish
	fi
}

finish() {
	echo "1..$_n"
	if [ "$_nfail" -gt 0 ]; then
		exit 1
	elif [ "$_n" -gt 0 ] && [ "$_nskip" -eq "$_n" ]; then
		exit 77
	fi
	exit 0
}
