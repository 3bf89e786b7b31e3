# 70-v4l2.sh - the v4l2 backend against the kernel's vivid test driver:
# discovery and info against v4l2-ctl, frames byte for byte against what
# v4l2-ctl captures in the same mode, vivid's dropped buffers as gaps, the
# kernel's EBUSY as the busy message, vivid's disconnect control mid-run as
# FAILED with a valid file.  Runs the disconnect last (it needs a reload).
. /tests/lib.sh
. /tests/comedi-lib.sh
W=/tmp/v4l2
dmesg_mark
RES=$OUT/v4l2
mkdir -p "$W" "$RES"
vivid_load "v4l2 backend on vivid"
card=$(v4l2-ctl -d $V --info 2>/dev/null | sed -n 's/^[[:space:]]*Card type[[:space:]]*: //p')
note "vivid: card '$card'"

labdaq list >"$W/list.out" 2>&1
check "labdaq list shows v4l2:$V with vivid's card name" \
	grep -q "^v4l2:$V .*$card" "$W/list.out"
labdaq info "v4l2:$V" >"$W/info.out" 2>&1
irc=$?
v4l2-ctl -d $V --list-formats >"$W/fmts.out" 2>&1
v4l2-ctl -d $V --list-ctrls-menus >"$W/ctrls.out" 2>&1
nf_ctl=$(grep -c "\]: '" "$W/fmts.out")
flist=" $(sed -n 's/^  format .*(takes \(.*\))$/\1/p' "$W/info.out") "
nf_ldq=$(echo $flist | wc -w)
miss=0
for f in $(sed -n "s/.*\]: '\([^']*\)'.*/\1/p" "$W/fmts.out" | tr -d ' '); do
	case "$flist" in *" $f "*) ;; *) miss=$((miss + 1)); note "format $f not in info" ;; esac
done
note "formats: v4l2-ctl $nf_ctl, labdaq $nf_ldq"
check "labdaq info: exit 0, every format v4l2-ctl lists ($nf_ctl), no other" \
	sh -c "[ $irc -eq 0 ] && [ $nf_ctl -gt 0 ] && [ $miss -eq 0 ] && [ $nf_ctl -eq $nf_ldq ]"
bad=0
for c in $(sed -n 's/^[[:space:]]*\([a-z0-9_]*\) 0x[0-9a-f]* .*/\1/p' "$W/ctrls.out"); do
	grep -q "^  $c " "$W/info.out" || { bad=$((bad + 1)); note "control $c not in info"; }
done
nc=$(grep -c '^[[:space:]]*[a-z0-9_]* 0x[0-9a-f]* ' "$W/ctrls.out")
check "labdaq info: every control v4l2-ctl lists ($nc), by the same name" \
	sh -c "[ $nc -gt 5 ] && [ $bad -eq 0 ]"
c=brightness
want=$(sed -n "s/^[[:space:]]*$c 0x[0-9a-f]* .*min=\([-0-9]*\) max=\([-0-9]*\) step=\([0-9]*\).*/[\1 \3 \2]/p" "$W/ctrls.out")
check "  ... $c's range as v4l2-ctl gives it: $want" grep -q "^  $c .*$want" "$W/info.out"

# A still pattern: no on-screen text, no movement.
v4l2-ctl -d $V -c osd_text_mode=2 -c horizontal_movement=3 -c vertical_movement=3 \
	>/dev/null 2>&1
# ms: milliseconds since boot
ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
MODE="width=320&height=180&format=GREY"
FB=$((320 * 180))
v4l2-ctl -d $V --set-fmt-video=width=320,height=180,pixelformat=GREY \
	--stream-mmap --stream-count=3 --stream-to="$W/ref.raw" >"$W/ref.out" 2>&1
check "v4l2-ctl captured 3 GREY 320x180 frames" [ "$(wc -c <"$W/ref.raw")" -eq $((3 * FB)) ]
head -c $FB "$W/ref.raw" >"$W/ref0.raw"

labdaq acquire "v4l2:$V?$MODE" --frames 10 --progress none -o "$W/grey.npy" \
	>"$W/grey.out" 2>&1
rc=$?
summary grey
st=$(json_str $W/grey.json status)
rows=$(npy_rows $W/grey.npy)
check "labdaq acquire 10 GREY frames: exit 0 ($rc), complete ($st), 10 frames ($rows)" \
	sh -c "[ $rc -eq 0 ] && [ '$st' = complete ] && [ '$rows' = 10 ] &&
	       [ \$(wc -c <$W/grey.npy) -eq $((4096 + 10 * FB)) ]"
check "  ... shape (10, 180, 320) of |u1" sh -c \
	"head -c 200 $W/grey.npy | grep -q \"'descr': '|u1'.*'shape': (10, 180, 320)\""
same=0
for k in 0 4 9; do
	tail -c +$((4097 + k * FB)) "$W/grey.npy" | head -c $FB >"$W/f$k.raw"
	cmp -s "$W/f$k.raw" "$W/ref0.raw" && same=$((same + 1))
done
check "  ... frames 0, 4, 9 byte for byte what v4l2-ctl captured" [ $same -eq 3 ]
check "  ... the sidecar's layout: fourcc GREY, 320x180" \
	sh -c "grep -q '\"fourcc\": \"GREY\"' $W/grey.json && grep -q '\"pixel_width\": 320' $W/grey.json"
keep grey frames
cp "$W/grey.frames.npy" "$W/grey.gaps.npy" "$RES/" 2>/dev/null

# Packed colour: YUYV as bytes, rows of bytesperline.
v4l2-ctl -d $V --set-fmt-video=width=320,height=180,pixelformat=YUYV \
	--stream-mmap --stream-count=1 --stream-to="$W/refy.raw" >/dev/null 2>&1
labdaq acquire "v4l2:$V?width=320&height=180&format=YUYV" --frames 3 --progress none \
	-o "$W/yuyv.npy" >"$W/yuyv.out" 2>&1
rc=$?
tail -c +4097 "$W/yuyv.npy" | head -c $((2 * FB)) >"$W/y0.raw"
check "YUYV: exit 0, (3, 180, 640) bytes, frame 0 as v4l2-ctl's" \
	sh -c "[ $rc -eq 0 ] && head -c 200 $W/yuyv.npy | grep -q \"'shape': (3, 180, 640)\" &&
	       cmp -s $W/y0.raw $W/refy.raw"

# The nearest mode, or a refusal.
labdaq info "v4l2:$V?width=330&height=182&format=GREY" >"$W/near.out" 2>&1
check "width=330&height=182: taken as a listed size, reported" \
	sh -c "grep -q '^  size *320x180' $W/near.out || grep -q 'taken as' $W/near.out"
labdaq info "v4l2:$V?width=100&height=50&format=GREY" >"$W/far.out" 2>&1
rc=$?
check "width=100&height=50: refused as far off (exit $rc)" \
	sh -c "[ $rc -ne 0 ] && grep -q 'far from' $W/far.out"
labdaq info "v4l2:$V?format=ZZZZ" >"$W/fmt.out" 2>&1
check "format=ZZZZ: refused, not offered" sh -c "[ $? -ne 0 ] && grep -q 'not offered' $W/fmt.out"

# Controls set for a run, recorded in the sidecar.
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none --set-control brightness=200 \
	-o "$W/ctl.npy" >"$W/ctl.out" 2>&1
rc=$?
check "--set-control brightness=200 (--attr): exit 0, in the sidecar, read back 200" \
	sh -c "[ $rc -eq 0 ] && grep -q 'brightness' $W/ctl.json &&
	       [ \"\$(v4l2-ctl -d $V -C brightness | sed 's/.*: //')\" = 200 ]"
v4l2-ctl -d $V -c brightness=128 >/dev/null 2>&1

# labdaq attr on controls: a menu item by its name (the index v4l2-ctl -L
# lists for "CSC Colorbar"), a value out of range, a word that is neither.
want=$(v4l2-ctl -d $V -L 2>/dev/null | sed -n 's/^[[:space:]]*\([0-9]*\): CSC Colorbar$/\1/p' | head -n 1)
labdaq attr "v4l2:$V" test_pattern csc_colorbar >"$W/menu.out" 2>&1
rc=$?
got=$(v4l2-ctl -d $V -C test_pattern 2>/dev/null | sed 's/.*: //; s/ .*//')
check "attr test_pattern csc_colorbar: exit 0, v4l2-ctl reads item ${want:-?} back ($got)" \
	sh -c "[ $rc -eq 0 ] && [ -n '$want' ] && [ '$got' = '$want' ]"
v4l2-ctl -d $V -c test_pattern=0 >/dev/null 2>&1
labdaq attr "v4l2:$V" brightness 300 >"$W/range.out" 2>&1
rc=$?
check "attr brightness 300: exit 2, out of range with what it takes, unchanged" \
	sh -c "[ $rc -eq 2 ] && grep -q 'out of range: .*255' $W/range.out &&
	       [ \"\$(v4l2-ctl -d $V -C brightness | sed 's/.*: //')\" = 128 ]"
labdaq attr "v4l2:$V" brightness bright >"$W/word.out" 2>&1
rc=$?
check "attr brightness bright: exit 2, not a value it takes" \
	sh -c "[ $rc -eq 2 ] && grep -q 'not a value it takes' $W/word.out"

# Dropped buffers: the sequence numbers' jumps are the gaps.
v4l2-ctl -d $V -c percentage_of_dropped_buffers=30 >/dev/null 2>&1
labdaq acquire "v4l2:$V?$MODE" --frames 40 --progress none -o "$W/drop.npy" \
	>"$W/drop.out" 2>&1
rc=$?
v4l2-ctl -d $V -c percentage_of_dropped_buffers=0 >/dev/null 2>&1
summary drop
d=$(json_num "$W/drop.json" dropped)
note "drop: exit $rc: $(tr '\n' ';' <"$W/drop.out")"
a=$(json_num "$W/drop.json" acquired)
w=$(json_num "$W/drop.json" written)
# The gaps: drop.gaps.npy, rows of (index, count) little-endian u8.
set -- $(gap_rows "$W/drop.gaps.npy")
ng=$1 gsum=$2
# --frames counts lost frames too (they are items of the acquisition, in
# gaps); frames lost just before the 40th push the count past 40.
check "30% dropped buffers: the run completes with drops (exit 3: $rc), $d frames lost" \
	sh -c "[ $rc -eq 3 ] && [ -n '$d' ] && [ '$d' -gt 0 ] && [ $a -ge 40 ] && [ $((w + d)) -eq $a ]"
check "  ... recorded as $ng gaps whose counts add up to the frames lost ($gsum)" \
	sh -c "[ $ng -gt 0 ] && [ $gsum -eq $d ] && [ $(npy_rows $W/drop.npy) = $w ]"
keep drop gaps
cp "$W/drop.frames.npy" "$W/drop.gaps.npy" "$RES/" 2>/dev/null

# The kernel's EBUSY: another program streams.
v4l2-ctl -d $V --stream-mmap --stream-count=100000 --stream-to=/dev/null >/dev/null 2>&1 &
bp=$!
sleep 1
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/busy.npy" >"$W/busy.out" 2>&1
rc=$?
kill $bp 2>/dev/null
wait $bp 2>/dev/null
note "busy: exit $rc: $(head -n 2 "$W/busy.out" | tr '\n' ';')"
check "another program streaming: refused, the busy message" \
	sh -c "[ $rc -ne 0 ] && grep -q 'busy' $W/busy.out"

# Stop: SIGTERM ends the run STOPPED, and the next run opens the device.
labdaq acquire "v4l2:$V?$MODE" --continuous --progress none -o "$W/stop.npy" \
	>"$W/stop.out" 2>&1 &
pid=$!
wait_running stop 10
sleep 0.5
kill -TERM $pid
wait_pid $pid 10
rc=$wait_rc
summary stop
st=$(json_str $W/stop.json status)
check "SIGTERM: exit 0 ($rc), stopped ($st)" sh -c "[ $rc -eq 0 ] && [ '$st' = stopped ]"
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/after.npy" >/dev/null 2>&1
check "  ... the next run opens the device (streamed off, buffers freed)" [ $? -eq 0 ]

# labdaq stop from another process; a second labdaq run meanwhile is
# refused with the holder named; SIGINT twice aborts.
labdaq acquire "v4l2:$V?$MODE" --continuous --progress none -o "$W/ls.npy" \
	>"$W/ls.out" 2>&1 &
pid=$!
wait_running ls 10
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/two.npy" >"$W/two.out" 2>&1
rc=$?
note "a second run: exit $rc: $(head -n 2 "$W/two.out" | tr '\n' ';')"
check "a second labdaq run on the device: refused, the holder named (pid $pid)" \
	sh -c "[ $rc -ne 0 ] && grep -q 'pid $pid' $W/two.out"
sleep 0.5
labdaq stop "v4l2:$V" >"$W/lsstop.out" 2>&1
src=$?
wait_pid $pid 10
rc=$wait_rc
st=$(json_str $W/ls.json status)
check "labdaq stop v4l2:$V: exit $src, the run exits 0 ($rc), stopped ($st)" \
	sh -c "[ $src -eq 0 ] && [ $rc -eq 0 ] && [ '$st' = stopped ]"
labdaq acquire "v4l2:$V?$MODE" --continuous --progress none -o "$W/ab.npy" \
	>"$W/ab.out" 2>&1 &
pid=$!
wait_running ab 10
sleep 0.5
kill -INT $pid
sleep 0.05
kill -INT $pid
wait_pid $pid 10
rc=$wait_rc
st=$(json_str $W/ab.json status)
note "SIGINT twice: exit $rc, $st"
check "SIGINT twice: stopped or aborted ($st), exit $rc, not killed" \
	sh -c "[ $rc -ne 137 ] && { [ '$st' = aborted ] || [ '$st' = stopped ]; }"
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/after2.npy" >/dev/null 2>&1
check "  ... the next run opens the device" [ $? -eq 0 ]

# kill -9, then recover.
labdaq acquire "v4l2:$V?$MODE" --continuous --progress none -o "$W/k9.npy" \
	>"$W/k9.out" 2>&1 &
pid=$!
wait_running k9 10
sleep 1
kill -9 $pid
wait $pid 2>/dev/null
labdaq recover "$W/k9.npy" >"$W/rec.out" 2>&1
check "kill -9 then recover: exit 0" [ $? -eq 0 ]
labdaq acquire "v4l2:$V?$MODE" --frames 2 --progress none -o "$W/after9.npy" >/dev/null 2>&1
check "  ... the next run opens the device (the kernel freed the buffers)" [ $? -eq 0 ]

# Figures for docs/v4l2.md (notes, not checks): 30 frames of YUYV 640x480
# at the mode's fastest rate, labdaq (MMAP, one copy) against v4l2-ctl
# --stream-mmap --stream-to, both writing to the guest's tmpfs.
fast=$(v4l2-ctl -d $V --list-frameintervals=width=640,height=480,pixelformat=YUYV 2>/dev/null |
	sed -n 's/.*(\([0-9.]*\) fps).*/\1/p' | sort -n | tail -n 1)
for who in v4l2-ctl labdaq; do
	rm -f "$W/b.raw" "$W/b.npy" "$W/b.json"
	if [ $who = labdaq ]; then
		time -p labdaq acquire "v4l2:$V?width=640&height=480&format=YUYV&fps=${fast:-30}" \
			--frames 30 --progress none -o "$W/b.npy" >/dev/null 2>"$W/b.time"
	else
		v4l2-ctl -d $V --set-fmt-video=width=640,height=480,pixelformat=YUYV \
			--set-parm=${fast:-30} >/dev/null 2>&1
		time -p v4l2-ctl -d $V --stream-mmap --stream-count=30 --stream-to="$W/b.raw" \
			>/dev/null 2>"$W/b.time"
	fi
	note "bench $who: 30 frames YUYV 640x480 (mode's fastest ${fast:-?} fps):" \
		"$(grep -E '^(real|user|sys)' "$W/b.time" | tr '\n' ' ')"
done

# Disconnect mid-run: FAILED within a second, a valid file.
labdaq acquire "v4l2:$V?$MODE" --continuous --progress none -o "$W/disc.npy" \
	>"$W/disc.out" 2>&1 &
pid=$!
wait_running disc 10
sleep 0.5
t0=$(ms)
v4l2-ctl -d $V -c disconnect=1 >/dev/null 2>&1
wait_pid $pid 5
rc=$wait_rc
t1=$(ms)
summary disc
st=$(json_str $W/disc.json status)
rows=$(npy_rows $W/disc.npy)
note "disconnect: exit $rc after $((t1 - t0)) ms: $(head -n 2 "$W/disc.out" | tr '\n' ';')"
check "vivid's disconnect mid-run: the run ends FAILED (exit $rc), within a second" \
	sh -c "[ $rc -ne 0 ] && [ $rc -ne 137 ] && [ '$st' = failed ] &&
	       [ $((t1 - t0)) -lt 1000 ]"
check "  ... the file is valid: its header's frames are in it" \
	sh -c "[ -n '$rows' ] && [ \$(wc -c <$W/disc.npy) -ge $((4096 + ${rows:-0} * FB)) ]"
keep disc failed
sleep 0.5
rmmod vivid 2>/dev/null
check "the kernel log stays clean" kernel_clean
exit 0
