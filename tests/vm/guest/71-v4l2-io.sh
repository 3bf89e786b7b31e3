# 71-v4l2-io.sh - the v4l2 backend's two paths on vivid: USERPTR buffers
# in the ring (frames filled in place) and MMAP buffers (one copy), each
# byte for byte against v4l2-ctl's capture; USERPTR through vivid's
# injected buffer errors (frames lost, the buffers queued ahead copied until
# they line up again); the kernel's EBUSY named as the device lock names a
# holder; abort at 5 fps; vivid unbound mid-run -> FAILED, a valid file.
. /tests/lib.sh
. /tests/comedi-lib.sh
W=/tmp/v4l2io
dmesg_mark
mkdir -p "$W"
vivid_load "v4l2 USERPTR and MMAP on vivid"
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
# A still pattern: every frame the same, so each can be compared.
v4l2-ctl -d $V -c osd_text_mode=2 -c horizontal_movement=3 -c vertical_movement=3 \
	>/dev/null 2>&1
MODE="width=320&height=180&format=GREY"
FB=$((320 * 180))
v4l2-ctl -d $V --set-fmt-video=width=320,height=180,pixelformat=GREY \
	--stream-mmap --stream-count=2 --stream-to="$W/ref.raw" >/dev/null 2>&1
head -c $FB "$W/ref.raw" >"$W/ref0.raw"
check "v4l2-ctl captured GREY 320x180 frames" [ "$(wc -c <"$W/ref.raw")" -eq $((2 * FB)) ]

# frames_same FILE: how many of the file's frames are v4l2-ctl's frame
frames_same() {
	n=$(npy_rows "$1")
	same=0
	k=0
	while [ $k -lt "${n:-0}" ]; do
		tail -c +$((4097 + k * FB)) "$1" | head -c $FB | cmp -s - "$W/ref0.raw" &&
			same=$((same + 1))
		k=$((k + 1))
	done
	echo $same
}

# valid NAME: the header's frames are in the file, as many as "written"
valid() {
	w=$(json_num "$W/$1.json" written)
	[ -n "$w" ] && [ "$(npy_rows "$W/$1.npy")" = "$w" ] &&
		[ "$(wc -c <"$W/$1.npy")" -ge $((4096 + w * FB)) ]
}

# Both paths, and the default.
for io in auto userptr mmap; do
	labdaq -v acquire "v4l2:$V?$MODE&io=$io" --frames 12 --progress none \
		-o "$W/$io.npy" >"$W/$io.out" 2>&1
	rc=$?
	st=$(json_str "$W/$io.json" status)
	same=$(frames_same "$W/$io.npy")
	side=$(sed -n 's/.*"io": "\([a-z]*\)".*/\1/p' "$W/$io.json")
	line=$(grep 'USERPTR:' "$W/$io.out")
	note "io=$io: exit $rc, $st, sidecar io $side; $line"
	check "io=$io: exit 0 ($rc), complete, 12 frames, each byte for byte v4l2-ctl's ($same)" \
		sh -c "[ $rc -eq 0 ] && [ '$st' = complete ] && [ '$same' = 12 ]"
	if [ $io = mmap ]; then
		check "  ... MMAP: the sidecar says mmap ($side), no USERPTR line" \
			sh -c "[ '$side' = mmap ] && [ -z '$line' ]"
	else
		inplace=$(echo "$line" | sed -n 's/.*USERPTR: \([0-9]*\) frames filled in place.*/\1/p')
		copied=$(echo "$line" | sed -n 's/.*, \([0-9]*\) copied.*/\1/p')
		check "  ... USERPTR: the sidecar says userptr ($side), every frame filled in place ($inplace in place, $copied copied)" \
			sh -c "[ '$side' = userptr ] && [ '${inplace:-0}' -eq 12 ] && [ '$copied' = 0 ]"
	fi
done
labdaq acquire "v4l2:$V?$MODE&io=dma" --frames 1 --progress none -o "$W/bad.npy" \
	>"$W/bad.out" 2>&1
rc=$?
check "io=dma: refused (exit $rc), the values named" \
	sh -c "[ $rc -ne 0 ] && grep -q 'auto, mmap or userptr' $W/bad.out"

# vivid's button that makes its next buffer one flagged V4L2_BUF_FLAG_ERROR
EC=$(v4l2-ctl -d $V --list-ctrls 2>/dev/null |
	sed -n 's/^ *\(inject_[a-z0-9_]*buf_flag_error\) .*/\1/p' | head -n 1)
note "vivid's error control: ${EC:-none}"
# USERPTR with buffers the driver marks as errors: each a lost frame (a
# gap); the buffers queued ahead of it are copied until they line up again.
# At the mode's fastest rate up to 30 fps (TCG keeps up), the errors a
# second apart: each one's copies (8 buffers) are over before the next.
fast=$(v4l2-ctl -d $V --list-frameintervals=width=320,height=180,pixelformat=GREY 2>/dev/null |
	sed -n 's/.*(\([0-9.]*\) fps).*/\1/p' | awk '$1 <= 30' | sort -n | tail -n 1)
labdaq -v acquire "v4l2:$V?$MODE&io=userptr&fps=${fast:-30}" --continuous --progress none \
	-o "$W/err.npy" >"$W/err.out" 2>&1 &
pid=$!
wait_running err 10
for k in 1 2 3; do
	sleep 1
	v4l2-ctl -d $V -c "$EC=1" >/dev/null 2>&1
done
sleep 1
kill -TERM $pid
wait_pid $pid 10
rc=$wait_rc
summary err
st=$(json_str "$W/err.json" status)
d=$(json_num "$W/err.json" dropped)
w=$(json_num "$W/err.json" written)
same=$(frames_same "$W/err.npy")
rows=$(npy_rows "$W/err.npy")
line=$(grep 'USERPTR:' "$W/err.out")
note "injected errors: exit $rc, $st, $w written, $d lost; $line"
inplace=$(echo "$line" | sed -n 's/.*USERPTR: \([0-9]*\) frames filled in place.*/\1/p')
copied=$(echo "$line" | sed -n 's/.*, \([0-9]*\) copied.*/\1/p')
set -- $(gap_rows "$W/err.gaps.npy")
check "USERPTR, 3 buffers flagged as errors: stopped, 3 frames lost as 3 gaps ($d; $1 rows of $2)" \
	sh -c "[ '$st' = stopped ] && [ '$d' = 3 ] && [ '$1' = 3 ] && [ '$2' = 3 ]"
check "  ... every frame written ($w) byte for byte v4l2-ctl's ($same)" \
	sh -c "[ -n '$w' ] && [ '$same' = '$w' ] && [ '$w' = '$rows' ]"
# 8 buffers: the 7 queued ahead of a damaged one, and itself requeued.
check "  ... 3 x 8 frames copied ($copied) then in place again ($inplace), $w in all" \
	sh -c "[ '${copied:-0}' -eq 24 ] && [ '${inplace:-0}' -gt 0 ] &&
	       [ \$(( ${copied:-0} + ${inplace:-0} )) -eq $w ]"

# The kernel's EBUSY: v4l2-ctl streams; labdaq names it as the lock names
# a holder, and adds no "another run holds it".
v4l2-ctl -d $V --stream-mmap --stream-count=100000 --stream-to=/dev/null >/dev/null 2>&1 &
bp=$!
sleep 1
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/busy.npy" >"$W/busy.out" 2>&1
rc=$?
kill $bp 2>/dev/null
wait $bp 2>/dev/null
note "busy: exit $rc: $(tr '\n' ';' <"$W/busy.out")"
check "v4l2-ctl streaming: refused with exit 4 ($rc), 'device ... is busy', pid $bp named" \
	sh -c "[ $rc -eq 4 ] && grep -q \"device 'v4l2:$V' is busy: pid $bp \" $W/busy.out"
check "  ... one message: no 'another run holds it', no stop hint" \
	sh -c "! grep -q 'another run holds it' $W/busy.out && ! grep -q 'labdaq stop' $W/busy.out &&
	       [ \$(wc -l <$W/busy.out) -le 2 ]"
check "  ... no file left" sh -c "[ ! -e $W/busy.npy ] && [ ! -e $W/busy.frames.npy ]"

# The companion file is one of the run's files: --force onto an old run
# that then fails to start (busy) puts all three back as they were, and
# without --force a lone NAME.frames.npy is never replaced.
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/ow.npy" >/dev/null 2>&1
mkdir -p "$W/ow-old"
cp "$W/ow.npy" "$W/ow.json" "$W/ow.frames.npy" "$W/ow-old/" 2>/dev/null
v4l2-ctl -d $V --stream-mmap --stream-count=100000 --stream-to=/dev/null >/dev/null 2>&1 &
bp=$!
sleep 1
labdaq acquire "v4l2:$V?$MODE" --frames 2 --force --progress none -o "$W/ow.npy" \
	>"$W/ow.out" 2>&1
rc=$?
kill $bp 2>/dev/null
wait $bp 2>/dev/null
aside=$(ls -a "$W" | grep -c labdaq-old)
check "--force onto an old run, busy: exit 4 ($rc), its .npy, .json, .frames.npy unchanged" \
	sh -c "[ $rc -eq 4 ] && cmp -s $W/ow.npy $W/ow-old/ow.npy &&
	       cmp -s $W/ow.json $W/ow-old/ow.json && cmp -s $W/ow.frames.npy $W/ow-old/ow.frames.npy"
check "  ... nothing left set aside ($aside)" [ "$aside" = 0 ]
echo keep >"$W/lone.frames.npy"
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/lone.npy" >"$W/lone.out" 2>&1
rc=$?
note "lone companion: exit $rc: $(tr '\n' ';' <"$W/lone.out")"
check "a lone NAME.frames.npy without --force: exit 2 ($rc), named, kept, no .npy made" \
	sh -c "[ $rc -eq 2 ] && grep -q 'lone.frames.npy. exists' $W/lone.out &&
	       [ \"\$(cat $W/lone.frames.npy)\" = keep ] && [ ! -e $W/lone.npy ]"
labdaq acquire "v4l2:$V?$MODE" --frames 3 --force --progress none -o "$W/lone.npy" >/dev/null 2>&1
rc=$?
rows=$(npy_rows "$W/lone.frames.npy")
check "  ... with --force: exit 0 ($rc), replaced by a companion of 3 rows ($rows)" \
	sh -c "[ $rc -eq 0 ] && [ '$rows' = 3 ]"

# Abort (SIGUSR1: labdaq_run_abort, as labdaq stop --abort sends it) at
# 5 fps: the read waits up to 200 ms for a frame.
labdaq acquire "v4l2:$V?$MODE&fps=5" --continuous --progress none -o "$W/ab.npy" \
	>"$W/ab.out" 2>&1 &
pid=$!
wait_running ab 10
sleep 1
t0=$(ms)
kill -USR1 $pid
wait_pid $pid 10
rc=$wait_rc
t1=$(ms)
st=$(json_str "$W/ab.json" status)
note "abort at 5 fps: exit $rc after $((t1 - t0)) ms, $st"
check "abort at 5 fps: aborted ($st) within a second ($((t1 - t0)) ms), not killed" \
	sh -c "[ $rc -ne 137 ] && [ '$st' = aborted ] && [ $((t1 - t0)) -lt 1000 ]"
check "  ... a valid file" valid ab
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/after.npy" >/dev/null 2>&1
check "  ... the next run opens the device" [ $? -eq 0 ]

# vivid unbound from its driver mid-run (USERPTR): FAILED, a valid file.
dev=$(basename "$(readlink -f /sys/class/video4linux/video0/device)")
labdaq acquire "v4l2:$V?$MODE" --continuous --progress none -o "$W/ub.npy" \
	>"$W/ub.out" 2>&1 &
pid=$!
wait_running ub 10
sleep 0.5
t0=$(ms)
echo "$dev" >/sys/bus/platform/drivers/vivid/unbind 2>"$W/unbind.err"
wait_pid $pid 5
rc=$wait_rc
t1=$(ms)
st=$(json_str "$W/ub.json" status)
note "unbind $dev: exit $rc after $((t1 - t0)) ms, $st: $(head -n 2 "$W/ub.out" | tr '\n' ';')"
check "vivid unbound mid-run: FAILED (exit $rc) within a second ($((t1 - t0)) ms)" \
	sh -c "[ $rc -ne 0 ] && [ $rc -ne 137 ] && [ '$st' = failed ] && [ $((t1 - t0)) -lt 1000 ]"
check "  ... a valid file" valid ub
rmmod vivid 2>/dev/null
check "the kernel log stays clean" kernel_clean
exit 0
