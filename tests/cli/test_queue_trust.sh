#!/usr/bin/env bash
# test_queue_trust.sh - the queue signals only processes it started (issue
# 10, item 3): a job file edited to name another process as its run makes
# neither `queue run` nor `queue cancel` signal that process.
. "$(dirname "$0")/lib.sh"
require_labdaq

export LABDAQ_QUEUE=$T/q
unset XDG_STATE_HOME
mkdir -p "$LABDAQ_LOCK_DIR" "$T/data"

# forge ID PID: job ID's file says it runs, as PID, under a dead worker.
forge() {
	local start
	start=$(awk '{ sub(/.*\) /, ""); split($0, f, " "); print f[20] }' "/proc/$2/stat")
	PYTHONDONTWRITEBYTECODE=1 "$PY" - "$LABDAQ_QUEUE/jobs/$1.json" "$2" "$start" <<'PYEOF'
import json, sys
p, pid, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
j = json.load(open(p))
j.update(state="running", child_pid=pid, child_start=start, worker_pid=999999999)
json.dump(j, open(p, "w"))
PYEOF
}
state_of() {
	labdaq queue list --json | "$PY" -c 'import json, sys
print({x["id"]: x for x in json.load(sys.stdin)}[int(sys.argv[1])]["state"])' "$1"
}

# A process of the worker's own user, not one it started.
sleep 300 &
victim=$!
_bg_pids+=("$victim")

run add1 labdaq queue add -- acquire sim:adc --samples 10 -o "$T/data/a.npy"
is "queue add: exit 0" "$RC" 0
forge 1 "$victim"
run worker timeout 60 "$LABDAQ" queue run --until-empty
is "the worker ran: exit 0" "$RC" 0
if kill -0 "$victim" 2>/dev/null; then ok "queue run did not signal the process a job file names"
else not_ok "queue run did not signal the process a job file names"; fi
is "the job is marked interrupted" "$(state_of 1)" interrupted
check_grep "the worker says it did not signal it" "$T/worker.err" "not signalling it"

sleep 300 &
victim2=$!
_bg_pids+=("$victim2")
run add2 labdaq queue add -- acquire sim:adc --samples 10 -o "$T/data/b.npy"
forge 2 "$victim2"
run cancel labdaq queue cancel 2
if kill -0 "$victim2" 2>/dev/null; then ok "queue cancel did not signal the process a job file names"
else not_ok "queue cancel did not signal the process a job file names"; fi
is "the job is cancelled" "$(state_of 2)" cancelled

# Its own run is still proven: a job's process outliving a killed worker
# (slow to drain its ring after the SIGTERM its parent's death sends) is
# stopped by the next worker.
run add3 labdaq queue add -- acquire sim:adc --continuous --rate 0 --ring 4M -o "$T/data/c.npy"
LABDAQ_TEST_WRITE_DELAY_US=100000 run_bg w1 labdaq queue run
w1=$BG_PID
child_of3() {
	labdaq queue list --json | "$PY" -c 'import json, sys
j = {x["id"]: x for x in json.load(sys.stdin)}[3]
print(j.get("child_pid") or "") if j["state"] == "running" else print("")'
}
has_child() { [ -n "$(child_of3)" ]; }
wait_until "job 3 running" 30 has_child
child=$(child_of3)
sleep 1
kill -KILL "$w1"
wait_pid "$w1" 10
run_bg w2 labdaq queue run --until-empty
w2=$BG_PID
says_stopping() { grep -q "still goes: stopping it" "$T/w2.err"; }
wait_until "the next worker stops the orphan" 20 says_stopping
wait_pid "$w2" 40
is "the next worker: exit 0" "$RC" 0
# (gone, or a zombie its new parent has not reaped)
if ps -o stat= -p "$child" 2>/dev/null | grep -qv '^Z'; then not_ok "the orphaned run was stopped"
else ok "the orphaned run was stopped"; fi
is "its job is interrupted" "$(state_of 3)" interrupted
check_grep "the next worker proved the orphan its own and stopped it" "$T/w2.err" "job 3: its run \\(pid $child\\) still goes: stopping it"

finish
