#!/usr/bin/env bash
# test_queue.sh - labdaq queue end to end on sim devices: jobs run in order,
# one that fails does not stop the others; a bad job is refused at add; a
# queued job cancelled; the running job stopped (or aborted) by cancel and
# the queue goes on; a job whose device is busy at its turn fails with 4; a
# second worker refused; SIGTERM to the worker; the worker killed with kill -9
# mid-job (alone, and with its run) and restarted; 50 concurrent adds all
# present exactly once; the log; the per-user and shared queue permissions.
#
# Everything happens in the test's own queue (LABDAQ_QUEUE) and device lock
# directory (LABDAQ_LOCK_DIR): nothing touches the user's real queue, and
# other tests running at the same time hold no device this one uses.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

export LABDAQ_LOCK_DIR=$T/locks LABDAQ_QUEUE=$T/q
unset XDG_STATE_HOME
mkdir -p "$LABDAQ_LOCK_DIR" "$T/data"
D=$T/data
CAM='sim:camera?width=64&height=48'

if ! labdaq queue --help >/dev/null 2>&1; then
	not_ok "labdaq has the queue command"
	finish
fi
run probe labdaq acquire --dry-run sim:adc --samples 1 -o "$T/probe.npy"
if [ "$RC" -ne 0 ] || [ -e "$T/probe.npy" ]; then
	skip "labdaq acquire --dry-run is not there yet (queue add checks jobs with it)"
	finish
fi

# qjobs PYEXPR: evaluate PYEXPR over j, the jobs of the queue by id (from
# 'queue list --json'), and print it.  QUEUE_OPT selects another queue.
QUEUE_OPT=()
qjobs() {
	labdaq queue "${QUEUE_OPT[@]+"${QUEUE_OPT[@]}"}" list --json |
		"$PY" -c 'import json, sys
j = {x["id"]: x for x in json.load(sys.stdin)}
print(eval(sys.argv[1]))' "$1"
}
state_of() { qjobs "j[$1]['state']"; }

# wait_state ID STATE [TIMEOUT_S]: poll until job ID is in STATE.
wait_state() {
	local deadline=$((SECONDS + ${3:-30})) st
	while :; do
		st=$(state_of "$1" 2>/dev/null)
		[ "$st" = "$2" ] && return 0
		if [ "$SECONDS" -ge "$deadline" ]; then
			diag "job $1 is '$st', not '$2', after ${3:-30} s"
			return 1
		fi
		sleep 0.1
	done
}

# wait_written NPY [TIMEOUT_S]: poll until the run's sidecar shows data written.
wait_written() {
	"$PY" - "${1%.npy}.json" "${2:-30}" <<'EOF'
import json, sys, time
path, deadline = sys.argv[1], time.time() + float(sys.argv[2])
while time.time() < deadline:
    try:
        if json.load(open(path))["written"] > 0:
            sys.exit(0)
    except (OSError, ValueError, KeyError):
        pass
    time.sleep(0.05)
print("# no data written in", path)
sys.exit(1)
EOF
}

# add NAME ARGS...: queue a job; its id in ID, the exit status in RC.
add() {
	local name=$1
	shift
	run "add-$name" labdaq queue add --name "$name" -- "$@"
	ID=$(cat "$T/add-$name.out")
}

# running PID: the process exists and is not a zombie.
running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status"; }

njobs() { find "$1/jobs" -name '[0-9]*.json' 2>/dev/null | wc -l; }

# ---- help -------------------------------------------------------------------
run help labdaq help queue
check_grep "labdaq help queue: the page, with the exit statuses" "$T/help.out" '^Exit status'
run help2 labdaq queue --help
if cmp -s "$T/help.out" "$T/help2.out"; then
	ok "labdaq queue --help prints the same page"
else
	not_ok "labdaq queue --help prints the same page"
fi

# ---- a queue of jobs, one of which fails --------------------------------------
add adc2 acquire 'sim:adc?channels=2' --samples 2000 -o "$D/adc2.npy"
id1=$ID
add cam acquire "$CAM" --frames 20 -o "$D/cam.npy"
id2=$ID
add lost acquire 'sim:adc?fail_after=2' --samples 100k --rate 10k -o "$D/lost.npy"
id3=$ID
add exists acquire sim:adc --samples 1000 -o "$D/exists.npy"
id4=$ID
add adc4 acquire 'sim:adc?channels=4' --samples 3000 -o "$D/adc4.npy"
id5=$ID
ids="$id1 $id2 $id3 $id4 $id5"
want_states="complete complete failed failed complete"
want_exits="0 0 1 2 0"
if labdaq sweep --help >/dev/null 2>&1; then
	add sweep sweep 'sim:ohm?r=1000' --set voltage0 --from 0 --to 1 --points 11 \
		-o "$D/sweep.csv"
	ids="$ids $ID"
	want_states="$want_states complete"
	want_exits="$want_exits 0"
	have_sweep=1
else
	have_sweep=0
fi
is "add: each job gets the next id, printed on stdout" "$(echo $ids)" \
	"$(seq -s ' ' 1 $((5 + have_sweep)))"
# By the time it runs, job 4's output exists: bad usage at run time.
: >"$D/exists.npy"
is "add: queued jobs are listed as queued" \
	"$(qjobs "' '.join(j[i]['state'] for i in sorted(j))")" \
	"$(echo $want_states | sed 's/[a-z]*/queued/g')"

run_bg run1 labdaq queue run --until-empty
wait_pid "$BG_PID" 60
is "run --until-empty: exit 0 once the queue is empty" "$RC" 0 || diag <"$T/run1.err"
is "the states: complete, complete, failed (device lost), failed (output exists), complete" \
	"$(qjobs "' '.join(j[i]['state'] for i in sorted(j))")" "$want_states" ||
	diag <"$T/run1.err"
is "the exit statuses: $want_exits" \
	"$(qjobs "' '.join(str(j[i]['exit_status']) for i in sorted(j))")" "$want_exits"
is "the jobs ran in id order, one at a time" \
	"$(qjobs "all(j[i]['ended_utc'] <= j[i + 1]['started_utc'] for i in sorted(j)[:-1])")" True
is "each job records its worker, child pid, times, device, output and log" \
	"$(qjobs "all(j[i]['worker_pid'] and j[i]['child_pid'] and j[i]['created_utc']
	     and j[i]['device'] and j[i]['output'].startswith('/') and j[i]['command']
	     and j[i]['argv'][0] == j[i]['command'] and j[i]['log'] for i in j)")" True
check "the output files load with numpy and hold the exact data" "$PY" - "$D" <<'EOF'
import json, sys
import numpy as np
d = sys.argv[1]
for name, n, ch in (("adc2", 2000, 2), ("adc4", 3000, 4)):
    a = np.load(f"{d}/{name}.npy", mmap_mode="r")
    assert a.shape == (n, ch), (name, a.shape)
    s = np.arange(n, dtype=np.int64)[:, None]
    c = np.arange(ch, dtype=np.int64)[None, :]
    want = ((s * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view(np.int16)
    assert (a == want).all(), name
    assert json.load(open(f"{d}/{name}.json"))["status"] == "complete", name
cam = np.load(f"{d}/cam.npy", mmap_mode="r")
assert cam.shape == (20, 48, 64), cam.shape
idx = np.ascontiguousarray(cam.reshape(20, -1)[:, :4]).view("<u8").ravel()
assert (idx == np.arange(20)).all(), idx
lost = np.load(f"{d}/lost.npy", mmap_mode="r")
assert json.load(open(f"{d}/lost.json"))["status"] == "failed"
print("ok", lost.shape)
EOF
if [ "$have_sweep" = 1 ]; then
	check "the sweep job's CSV: 11 points, status complete" "$PY" - "$D/sweep" <<'EOF'
import json, sys
import numpy as np
rows = np.loadtxt(sys.argv[1] + ".csv", delimiter=",", skiprows=1, ndmin=2)
assert rows.shape[0] == 11, rows.shape
assert json.load(open(sys.argv[1] + ".json"))["status"] == "complete"
EOF
fi
run log3 labdaq queue log "$id3"
check_grep "queue log: the failed job's own messages (device lost)" "$T/log3.out" \
	'device lost|FAILED'
check_grep "queue log: the worker's line with its end" "$T/log3.out" \
	"job $id3 ended: failed, exit status 1"
run log4 labdaq queue log "$id4"
check_grep "queue log: the job refused at run time says why" "$T/log4.out" 'exists'
run log1 labdaq queue log "$id1"
check_grep "queue log: a complete job's summary line" "$T/log1.out" \
	'complete: 2000 acquired, 2000 written'
run list labdaq queue list
check_grep "queue list: a table with the failed job, its device and output" "$T/list.out" \
	"^$id3 +lost +failed +1 +sim:adc\\?fail_after=2 .*/lost\\.npy\$"

# ---- refused at add ------------------------------------------------------------
before=$(njobs "$LABDAQ_QUEUE")
run bad labdaq queue add -- acquire sim:adc --samples 0 -o "$D/bad.npy"
is "add: a bad count is refused with exit 2" "$RC" 2
check_grep "add: with acquire's own message" "$T/bad.err" "bad count '0'"
run bad2 labdaq queue add -- acquire sim:nosuch --samples 10 -o "$D/bad2.npy"
is "add: an unknown device is refused with exit 2" "$RC" 2
run bad3 labdaq queue add -- acquire sim:adc --samples 10 -o "$D/adc2.npy"
is "add: an output that exists is refused with exit 2" "$RC" 2
run bad4 labdaq queue add -- list
is "add: a job that is not acquire or sweep is refused with exit 2" "$RC" 2
is "add: nothing refused was queued" "$(njobs "$LABDAQ_QUEUE")" "$before"
[ -e "$D/bad.npy" ] && not_ok "add: the check created no file" || ok "add: the check created no file"

# ---- cancel a queued job -------------------------------------------------------
add gone acquire sim:adc --samples 100 -o "$D/gone.npy"
gone=$ID
run cancel1 labdaq queue cancel "$gone"
is "cancel of a queued job: exit 0" "$RC" 0
is "cancel of a queued job: state cancelled" "$(state_of "$gone")" cancelled
run cancel1b labdaq queue cancel "$gone"
is "cancel of an ended job: exit 1" "$RC" 1
run cancel1c labdaq queue cancel 999
is "cancel of no such job: exit 2" "$RC" 2

# ---- stop the running job; the queue goes on; one worker per queue -----------------
add cont acquire sim:adc --continuous --rate 2k -o "$D/cont.npy"
cont=$ID
add next acquire sim:adc --samples 500 -o "$D/next.npy"
next=$ID
run_bg worker2 labdaq queue run
wpid=$BG_PID
wait_state "$cont" running 30 && wait_written "$D/cont.npy" 30
is "the worker runs the next queued job, not the cancelled one" "$(state_of "$cont")" running
[ -e "$D/gone.npy" ] && not_ok "the cancelled job never ran" || ok "the cancelled job never ran"
run second labdaq queue run --until-empty
is "a second worker is refused (exit 4)" "$RC" 4
check_grep "a second worker is told the first one's pid" "$T/second.err" "pid $wpid"
run cancel2 labdaq queue cancel "$cont"
is "cancel of the running job: exit 0 once it has ended" "$RC" 0 || diag <"$T/cancel2.err"
is "the cancelled running job: state stopped, exit status 0" \
	"$(qjobs "j[$cont]['state'] + ' ' + str(j[$cont]['exit_status'])")" "stopped 0"
check "its file is finalized, stopped, every item written" "$PY" - "$D/cont.npy" <<'EOF'
import json, sys
import numpy as np
m = json.load(open(sys.argv[1][:-4] + ".json"))
a = np.load(sys.argv[1], mmap_mode="r")
assert m["status"] == "stopped" and m["written"] == m["acquired"] == a.shape[0] > 0, m
EOF
if wait_state "$next" complete 30; then
	ok "the worker went on with the next job"
else
	not_ok "the worker went on with the next job"
	diag <"$T/worker2.err"
fi
kill -TERM "$wpid"
wait_pid "$wpid" 30
is "an idle worker ends on SIGTERM, exit 0" "$RC" 0

# ---- cancel --abort; a device busy when the job's turn comes ------------------------
run_bg holder labdaq acquire sim:ohm --continuous --rate 1k -o "$D/holder.npy"
holder=$BG_PID
wait_written "$D/holder.npy" 30
add busy acquire sim:ohm --samples 100 -o "$D/busy.npy"
busy=$ID
is "add: a job on a device busy now is queued all the same" "$RC" 0
add abort acquire sim:adc --continuous --rate 2k -o "$D/abort.npy"
abort=$ID
run_bg worker3 labdaq queue run --until-empty
wpid=$BG_PID
wait_state "$abort" running 30 && wait_written "$D/abort.npy" 30
run cancel3 labdaq queue cancel --abort "$abort"
is "cancel --abort of the running job: exit 0" "$RC" 0
wait_pid "$wpid" 30
is "the job on the busy device failed with exit status 4" \
	"$(qjobs "j[$busy]['state'] + ' ' + str(j[$busy]['exit_status'])")" "failed 4"
is "the aborted job: state aborted, exit status 130" \
	"$(qjobs "j[$abort]['state'] + ' ' + str(j[$abort]['exit_status'])")" "aborted 130"
kill -TERM "$holder"
wait_pid "$holder" 30

# ---- SIGTERM to the worker while a job runs --------------------------------------
add term acquire sim:adc --continuous --rate 2k -o "$D/term.npy"
term=$ID
add after acquire sim:adc --samples 100 -o "$D/after.npy"
after=$ID
run_bg worker3b labdaq queue run
wpid=$BG_PID
wait_state "$term" running 30 && wait_written "$D/term.npy" 30
kill -TERM "$wpid"
wait_pid "$wpid" 30
is "SIGTERM to the worker: exit 0" "$RC" 0
is "SIGTERM to the worker: its job stopped, the next still queued" \
	"$(state_of "$term") $(state_of "$after")" "stopped queued"

# ---- kill -9 of the worker mid-job, then a new worker -------------------------------
add killed acquire sim:adc --continuous --rate 2k -o "$D/killed.npy"
killed=$ID
run_bg worker4 labdaq queue run
wpid=$BG_PID
wait_state "$killed" running 30 && wait_written "$D/killed.npy" 30
child=$(qjobs "j[$killed]['child_pid']")
kill -KILL "$wpid"
wait_pid "$wpid" 10
is "kill -9 of the worker: the job is left 'running'" "$(state_of "$killed")" running
deadline=$((SECONDS + 30))
while running "$child" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.05; done
running "$child" && not_ok "its run stops by itself when its worker dies" ||
	ok "its run stops by itself when its worker dies"
run_bg worker5 labdaq queue run --until-empty
wait_pid "$BG_PID" 60
is "a new worker: exit 0" "$RC" 0 || diag <"$T/worker5.err"
is "the killed worker's job is marked interrupted, the queue went on" \
	"$(state_of "$killed") $(state_of "$after")" "interrupted complete"
is "the interrupted job's note names its file" \
	"$(qjobs "'$D/killed.npy' in j[$killed]['note']")" True
check "that run's file is finalized (stopped) and loads" \
	"$PY" -c "import json, numpy; m = json.load(open('$D/killed.json'));
a = numpy.load('$D/killed.npy', mmap_mode='r')
assert m['status'] == 'stopped' and a.shape[0] == m['written'] > 0, m"

# The worker and its run both killed (as by the OOM killer): the file needs
# 'labdaq recover', and the note says so.
add both acquire sim:adc --continuous --rate 2k -o "$D/both.npy"
both=$ID
add last acquire sim:adc --samples 100 -o "$D/last.npy"
last=$ID
run_bg worker6 labdaq queue run
wpid=$BG_PID
wait_state "$both" running 30 && wait_written "$D/both.npy" 30
child=$(qjobs "j[$both]['child_pid']")
kill -KILL "$wpid" "$child"
wait_pid "$wpid" 10
run worker7 labdaq queue run --until-empty
is "worker and run killed, a new worker: exit 0" "$RC" 0
is "that job is interrupted, the next one complete" \
	"$(state_of "$both") $(state_of "$last")" "interrupted complete"
is "the note gives the command that completes its file" \
	"$(qjobs "'labdaq recover $D/both.npy' in j[$both]['note']")" True
run recover labdaq recover "$D/both.npy"
is "labdaq recover completes it" "$RC" 0
check "the recovered file loads with numpy" "$PY" -c \
	"import numpy; a = numpy.load('$D/both.npy', mmap_mode='r'); assert a.shape[0] > 0"

# ---- a job file that cannot be read -------------------------------------------------
# cancel waits for the running job's end by re-reading its file: a file
# corrupted meanwhile is reported with the right reason (it once read
# "Unknown error -74"); log and list say the same of it.
QB=$T/qbad
QUEUE_OPT=(--queue "$QB")
labdaq queue --queue "$QB" add -- acquire sim:adc --continuous --rate 2k \
	-o "$D/qbad.npy" >/dev/null 2>&1
run_bg worker8 labdaq queue --queue "$QB" run
wpid=$BG_PID
wait_state 1 running 30 && wait_written "$D/qbad.npy" 30
kill -STOP "$wpid"
run_bg cancel8 labdaq queue --queue "$QB" cancel 1
cpid=$BG_PID
deadline=$((SECONDS + 10))
until grep -q '"stop_requested": "by' "$QB/jobs/1.json" || [ "$SECONDS" -ge "$deadline" ]; do
	sleep 0.05
done
cp "$QB/jobs/1.json" "$T/qbad-1.json"
echo 'not a job' >"$QB/jobs/1.json"
wait_pid "$cpid" 10
is "cancel: the job's file corrupted while it waits: exit 1" "$RC" 1
check_grep "cancel: it says why, with the right message" "$T/cancel8.err" \
	'job 1: its file is gone or unreadable \(Bad message\)'
run log8 labdaq queue --queue "$QB" log 1
is "log of a corrupted job file: exit 1" "$RC" 1
check_grep "log of a corrupted job file: the right message" "$T/log8.err" \
	'reading a job: Bad message'
run list8 labdaq queue --queue "$QB" list
check_grep "list: a corrupted job file is named as such" "$T/list8.err" 'job 1: not a job file'
mv "$T/qbad-1.json" "$QB/jobs/1.json"
kill -CONT "$wpid"
wait_state 1 stopped 30
kill -TERM "$wpid"
wait_pid "$wpid" 30
is "the worker then stops that job and ends on SIGTERM, exit 0" "$RC" 0
QUEUE_OPT=()

# ---- queue.lock cannot be taken --------------------------------------------------
# The worker cannot change a job's state: it ends with status 1 ("cannot go
# on"), rather than finding the same job queued again and printing the error
# in a loop for ever, deaf to SIGTERM.  A queue.lock that is a symbolic link
# to itself refuses even root.
QL=$T/qlock
labdaq queue --queue "$QL" add -- acquire sim:adc --samples 10 -o "$D/ql1.npy" \
	>/dev/null 2>&1
ln -sf queue.lock "$QL/queue.lock"
run_bg worker9 labdaq queue --queue "$QL" run --until-empty
wait_pid "$BG_PID" 5
is "queue.lock cannot be taken at the start: the worker exits 1" "$RC" 1
check_grep "it says it cannot go on" "$T/worker9.err" 'cannot go on'
is "it said why once" "$(grep -c 'locking it' "$T/worker9.err")" 1
is "its job is still queued" "$(grep -c '"state": "queued"' "$QL/jobs/1.json")" 1

# ---- 50 processes adding at once ---------------------------------------------------
Q50=$T/shared
pids=()
for i in $(seq 1 50); do
	labdaq queue --queue "$Q50" add --name "job$i" -- acquire sim:adc --samples 10 \
		-o "$D/c$i.npy" >"$T/c$i.id" 2>"$T/c$i.err" </dev/null &
	pids+=($!)
done
fails=0
for p in "${pids[@]}"; do wait "$p" || fails=$((fails + 1)); done
is "50 concurrent adds: all exit 0" "$fails" 0
is "50 concurrent adds: exactly 50 job files" "$(njobs "$Q50")" 50
is "50 concurrent adds: the printed ids are 1..50, each once" \
	"$(cat "$T"/c*.id | sort -n | tr '\n' ' ')" "$(seq -s ' ' 1 50) "
QUEUE_OPT=(--queue "$Q50")
is "50 concurrent adds: every job present once, with its own arguments" \
	"$(qjobs "sorted(j) == list(range(1, 51)) and all(j[i]['output'] == '$D/c%s.npy'
	     % j[i]['name'][3:] for i in j) and len({j[i]['name'] for i in j}) == 50")" True
QUEUE_OPT=()
is "50 concurrent adds: no temporary file left" \
	"$(find "$Q50/jobs" -name '.tmp*' | wc -l)" 0
is "a queue given with --queue is created 2770, its job files 0660" \
	"$(stat -c %a "$Q50") $(stat -c %a "$Q50/jobs/1.json")" "2770 660"

# ---- the per-user default queue ----------------------------------------------------
(
	unset LABDAQ_QUEUE
	export XDG_STATE_HOME=$T/state
	labdaq queue add -- acquire sim:adc --samples 10 -o "$D/xdg.npy" >/dev/null 2>&1
	labdaq queue list 2>&1
) >"$T/xdg.out"
is "the default queue is \$XDG_STATE_HOME/labdaq/queue, mode 0700, files 0600" \
	"$(stat -c %a "$T/state/labdaq/queue" "$T/state/labdaq/queue/jobs/1.json" 2>&1 |
	  tr '\n' ' ')" "700 600 "
check_grep "it is listed from the default queue" "$T/xdg.out" '/xdg\.npy$'

# ---- a user outside the queue's group --------------------------------------------------
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	chmod 0711 "$T"
	run denied setpriv --reuid=nobody --regid="$(id -g nobody)" --clear-groups \
		"$LABDAQ" queue --queue "$Q50" add -- acquire sim:adc --samples 10 \
		-o /tmp/labdaq-never.npy
	is "a user outside the group: exit 1" "$RC" 1
	check_grep "a user outside the group is told which group to join" "$T/denied.err" \
		"permission denied on the queue .* add you to the group '$(stat -c %G "$Q50")'"
	chmod 0700 "$T"
else
	skip "a user outside the group: needs root, setpriv and the user nobody"
fi

finish
