#!/usr/bin/env bash
# test_lock_trust.sh - the device lock against other users (issue 10, items
# 1 and 2): a forged holder record signals nobody, a lock file or a lock
# directory that others control is refused.
. "$(dirname "$0")/lib.sh"
require_labdaq

CAM='sim:camera?width=64&height=48'

if [ "$(id -u)" -ne 0 ] || ! command -v setpriv >/dev/null; then
	skip "playing two users needs root and setpriv"
	finish
fi
U=labtest
id "$U" >/dev/null 2>&1 || useradd -M -s /usr/sbin/nologin "$U" 2>/dev/null
if ! id "$U" >/dev/null 2>&1; then
	skip "no user $U and none can be added"
	finish
fi
V=daemon # a second unprivileged user
chmod 0755 "$T"
mkdir -m 1777 "$T/shared" "$LABDAQ_LOCK_DIR"
chmod 1777 "$LABDAQ_LOCK_DIR"
# as USER CMD...: CMD as USER, in this very process (no runuser parent:
# its pid is the run's).
as() {
	local u=$1
	shift
	setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups \
		env LABDAQ_LOCK_DIR="$LABDAQ_LOCK_DIR" "$@"
}
# as_bg USER CMD... &: the same, $! being CMD's own pid.
as_bg() {
	local u=$1
	shift
	exec setpriv --reuid="$u" --regid="$(id -g "$u")" --init-groups \
		env LABDAQ_LOCK_DIR="$LABDAQ_LOCK_DIR" "$@"
}
lockfile() { ls "$LABDAQ_LOCK_DIR"/sim_camera-*.lock 2>/dev/null | head -1; }
has_lockfile() { [ -n "$(lockfile)" ]; }

# 1. A forged record: the run's user rewrites its own lock file to name a
#    process of its choosing; root's `stop --all` must not signal it.
as_bg "$U" sleep 300 &
victim=$!
_bg_pids+=("$victim")
as_bg "$U" "$LABDAQ" acquire "$CAM" --continuous --rate 20 -o "$T/shared/u.npy" \
	>"$T/u.out" 2>"$T/u.err" &
upid=$!
_bg_pids+=("$upid")
wait_for_json "$T/shared/u.json" "m['written'] > 0" 30
wait_until "the run's lock file" 10 has_lockfile
lf=$(lockfile)
mode=$(stat -c %a "$lf")
is "the lock file is 0644 (only its run writes the record)" "$mode" 644
vstart=$(awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[20] }' /proc/$victim/stat)
# Whatever the mode, the run's own user can write it (and the old 0666 let
# anyone): forge pid and start of the victim.
as "$U" sh -c "printf 'pid=%s\nstart=%s\nuid=%s\nuser=%s\nrun_id=forged\nsince_utc=2026-01-01T00:00:00Z\ndevice=sim:camera\nwhat=forged\noutput=/x\nstop=signal\n' \
	$victim $vstart $(id -u $U) $U > '$lf'"
run stopall labdaq stop --all
sleep 0.5
if kill -0 "$victim" 2>/dev/null; then ok "stop --all did not signal the process a forged record names"
else not_ok "stop --all did not signal the process a forged record names"; fi
check_grep "stop names the real holder's pid, not the forged one" "$T/stopall.err" "pid $upid"
run who labdaq acquire "$CAM" --frames 2 -o "$T/who.npy"
is "a second run on the busy device: exit 4" "$RC" 4
if grep -q "pid $victim" "$T/who.err"; then not_ok "the refusal does not name the forged pid"
else ok "the refusal does not name the forged pid"; fi
kill "$upid" 2>/dev/null
wait_pid "$upid" 10
kill "$victim" 2>/dev/null
wait "$victim" 2>/dev/null
if [ -e "$lf" ]; then not_ok "the run removed its lock file as it ended"
else ok "the run removed its lock file as it ended"; fi

# 2. A lock file pre-created by another user (who could unlink it from
#    under the run, or keep it from writing its record) is refused.
as "$U" "$LABDAQ" acquire "$CAM" --frames 1 -o "$T/shared/probe.npy" >/dev/null 2>&1
as_bg "$U" "$LABDAQ" acquire "$CAM" --continuous --rate 20 -o "$T/shared/p.npy" >/dev/null 2>&1 &
ppid=$!
_bg_pids+=("$ppid")
wait_until "the run's lock file" 10 has_lockfile
lf=$(lockfile)
kill -KILL "$ppid"
wait "$ppid" 2>/dev/null
as "$U" chmod 0644 "$lf"
as "$V" "$LABDAQ" acquire "$CAM" --frames 2 -o "$T/shared/v.npy" >"$T/v.out" 2>"$T/v.err"
rc=$?
if [ "$rc" -ne 0 ]; then ok "a lock file of another user is refused (exit $rc)"
else not_ok "a lock file of another user is refused (exit $rc)"; fi
check_grep "the refusal names the file and why" "$T/v.err" "refusing the lock file .*belongs to uid $(id -u $U)"
as "$U" chmod 0666 "$lf"
as "$V" "$LABDAQ" acquire "$CAM" --frames 2 -o "$T/shared/v2.npy" >"$T/v2.out" 2>"$T/v2.err"
rc=$?
if [ "$rc" -ne 0 ]; then ok "a 0666 lock file of another user is refused too"
else not_ok "a 0666 lock file of another user is refused too"; fi
run rootrun labdaq acquire "$CAM" --frames 2 -o "$T/root.npy"
is "root replaces a stale lock file of another user: exit 0" "$RC" 0
if [ -e "$lf" ]; then not_ok "and leaves no lock file behind"; else ok "and leaves no lock file behind"; fi

# 3. A lock directory others may write without the sticky bit is refused.
chmod 0777 "$LABDAQ_LOCK_DIR"
as "$V" "$LABDAQ" acquire "$CAM" --frames 2 -o "$T/shared/ns.npy" >"$T/ns.out" 2>"$T/ns.err"
rc=$?
if [ "$rc" -ne 0 ]; then ok "a non-sticky world-writable lock directory is refused (exit $rc)"
else not_ok "a non-sticky world-writable lock directory is refused (exit $rc)"; fi
check_grep "the refusal says why" "$T/ns.err" "not sticky"
chmod 1777 "$LABDAQ_LOCK_DIR"
as "$V" "$LABDAQ" acquire "$CAM" --frames 2 -o "$T/shared/st.npy" >"$T/st.out" 2>"$T/st.err"
is "the same directory made sticky: exit 0" "$?" 0

finish
