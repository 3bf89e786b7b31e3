# lib.sh - helpers for the guest test scripts (busybox sh); sourced.
#
# A check prints one marker line, to the console and to $MARKERS on the 9p
# share, which the host turns into one TAP line:
#   VMTEST: ok - what          VMTEST: not ok - what
#   VMTEST: ok - what # SKIP why
#   VMTEST: # a note (shown as a TAP comment)

OUT=/share/out
MARKERS=$OUT/markers
SIM=labdaq-sim
# kernel log lines that mean the kernel is not clean
BAD_KMSG='WARNING:|BUG:|Oops|Call Trace|general protection|RIP:|UBSAN|KASAN'
BAD_KMSG="$BAD_KMSG|refcount_t:|corruption|INFO: task|stall|panic|segfault"
BAD_KMSG="$BAD_KMSG|hrtimer|use-after-free|double free"
# ... except the hrtimer core's "interrupt took N ns": the hard-interrupt
# handler fell behind, which a loaded host running TCG causes; labdaq_sim's
# timer is a soft one (softirq), whose callbacks that figure does not time.
HOST_STALL_KMSG='hrtimer: interrupt took'
# /proc/sys/kernel/tainted: O (out-of-tree, 4096) and E (unsigned, 8192)
TAINT_OK=12288

mark() {
	echo "VMTEST: $*"
	echo "VMTEST: $*" >>"$MARKERS"
}
ok() { mark "ok - $*"; }
not_ok() { mark "not ok - $*"; }
skip() { mark "ok - $1 # SKIP $2"; }
note() { mark "# $*"; }

# check WHAT CMD...: ok if CMD succeeds
check() {
	what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# sim_dir: the sysfs folder of the labdaq-sim IIO device
sim_dir() {
	for d in /sys/bus/iio/devices/iio:device*; do
		if [ "$(cat "$d/name" 2>/dev/null)" = "$SIM" ]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# dmesg_mark, then dmesg_new: the kernel log lines since the mark
dmesg_mark() { DMESG_MARK=$(dmesg | wc -l); }
dmesg_new() { dmesg | tail -n +$((DMESG_MARK + 1)); }

# kernel_clean: nothing bad in the log since the mark, taint only O and E
kernel_clean() {
	bad=$(dmesg_new | grep -v "$HOST_STALL_KMSG" | grep -E "$BAD_KMSG")
	dmesg_new | grep "$HOST_STALL_KMSG" | while IFS= read -r l; do
		note "dmesg (host stall, not counted): $l"
	done
	if [ -n "$bad" ]; then
		echo "$bad" | head -n 20 | while IFS= read -r l; do note "dmesg: $l"; done
		return 1
	fi
	t=$(cat /proc/sys/kernel/tainted)
	if [ $((t & ~TAINT_OK)) -ne 0 ]; then
		note "kernel tainted: $t"
		return 1
	fi
	return 0
}

# write_err FILE VALUE: write VALUE (no newline added) in one write(), print
# the error text ("" when the write succeeded)
write_err() {
	printf '%s' "$2" | dd of="$1" bs=65536 conv=notrunc 2>&1 >/dev/null |
		sed -n 's/^dd: .*: //p'
}

# printable VALUE: VALUE cut to 20 characters, unprintable ones as ?
printable() { printf '%s' "$1" | head -c 20 | tr -c '[:print:]' '?'; }

# avg FILE N: the mean of N integer reads of FILE (read is a shell builtin:
# no process per sample, which counts under TCG)
avg() {
	i=0
	s=0
	while [ "$i" -lt "$2" ]; do
		read -r x <"$1" || return 1
		s=$((s + x))
		i=$((i + 1))
	done
	echo $((s / $2))
}

# within ACTUAL EXPECTED PERCENT: |actual - expected| <= percent of expected
within() {
	awk -v a="$1" -v e="$2" -v p="$3" \
		'BEGIN { d = a - e; if (d < 0) d = -d; if (e < 0) e = -e;
			 exit !(d <= e * p / 100) }'
}

# gap_rows NAME.gaps.npy: "ROWS ITEMS", the gaps' file's rows of (index,
# count), little-endian u8 after its 4096-byte header, and their counts' sum
gap_rows() {
	tail -c +4097 "$1" | od -An -v -tu8 -w16 |
		awk 'NF == 2 { n++; s += $2 } END { print n + 0, s + 0 }'
}

# lab_users: the users inlab (a member of the group labdaq) and outlab (not),
# made once (80-udev.sh and 86-usb-udev.sh both need them; the group is
# there before udevd reads the rules, as make install-udev makes it)
add_user() {
	grep -q "^$1:" /etc/passwd || echo "$1:x:$2:$2:$1:/tmp:/bin/sh" >>/etc/passwd
	grep -q "^$1:" /etc/group || echo "$1:x:$2:" >>/etc/group
}
lab_users() {
	add_user inlab 1101
	add_user outlab 1102
	line=$(grep '^labdaq:' /etc/group)
	if [ -z "$line" ]; then
		echo 'labdaq:x:1100:inlab' >>/etc/group
	else
		members=${line##*:}
		case ",$members," in
		*,inlab,*) ;;
		*) sed -i "s/^labdaq:.*/${line%:*}:${members:+$members,}inlab/" /etc/group ;;
		esac
	fi
}

# as USER CMD...: CMD as USER.  busybox su, run by root, asks no password
# and sets the supplementary groups from /etc/group; -p keeps PATH and
# LABDAQ_LOCK_DIR.
as() {
	u=$1
	shift
	su -p -s /bin/sh "$u" -c "$*"
}

# ---- a run's files and process (the backends' scripts) ----

# json_num FILE KEY, json_str FILE KEY: a top-level number or string of a
# sidecar ("" if absent)
json_num() { sed -n "s/^  \"$2\": \\(-\\{0,1\\}[0-9][0-9.e+-]*\\),\\{0,1\\}\$/\\1/p" "$1"; }
json_str() { sed -n "s/^  \"$2\": \"\\(.*\\)\",\\{0,1\\}\$/\\1/p" "$1"; }
# npy_rows FILE: the item count of a .npy header
npy_rows() {
	head -c 4096 "$1" | tr -d '\0' |
		sed -n "s/.*'shape': (\\([0-9][0-9]*\\),.*/\\1/p"
}

# wait_pid PID SECS: until PID ends ($wait_rc: its status), or 1 (killed)
wait_pid() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt $(($2 * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		kill -9 "$1" 2>/dev/null
		wait "$1"
		wait_rc=137
		return 1
	fi
	wait "$1"
	wait_rc=$?
	return 0
}

# wait_running NAME SECS: until NAME.json exists and says running
wait_running() {
	i=0
	while [ $i -lt $(($2 * 10)) ]; do
		[ "$(json_str "$W/$1.json" status 2>/dev/null)" = running ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# cpu_of CMD...: run CMD (its output in $D/out.txt), print "STATUS
# CPU_SECONDS WALL_SECONDS": user + system time of CMD, busybox time's
# resolution (10 ms); the benchmarks' measure
cpu_of() {
	time -o $D/time.txt -f "%U %S %e" "$@" >$D/out.txt 2>&1
	rc=$?
	awk -v rc=$rc '/^[0-9.]+ [0-9.]+ [0-9.]+$/ { printf "%d %.2f %.2f\n", rc, $1 + $2, $3 }' \
		$D/time.txt
}

# vivid_load WHAT: vivid loaded with one capture node, /dev/video0 there ($V);
# WHAT skipped (exit) without labdaq or v4l2-ctl, not ok (exit) if modprobe
# fails.  $W must exist.
vivid_load() {
	if ! command -v labdaq >/dev/null || ! command -v v4l2-ctl >/dev/null; then
		skip "$1" "labdaq or v4l2-ctl not staged"
		exit 0
	fi
	if ! modprobe vivid n_devs=1 node_types=0x1 input_types=0x0 >"$W/mod.out" 2>&1; then
		not_ok "modprobe vivid: $(cat "$W/mod.out")"
		exit 0
	fi
	i=0
	while [ ! -e /dev/video0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	V=/dev/video0
}
