# bench-v4l2.sh - the V4L2 comparison of `make bench` (bench.py, section
# 8): labdaq acquire (USERPTR into the ring, and MMAP with one copy) against
# v4l2-ctl --stream-mmap --stream-to=FILE, on vivid in this VM, at the
# largest frame size vivid offers for YUYV and its fastest rate.  Not a
# test: main.sh runs it only when the host asks (/share/bench-v4l2 exists,
# VM_BENCH_V4L2="FRAMES PAIRS" in tests/vm/run.sh).  Output:
# /share/out/bench-v4l2.txt, one line per run:
#   mode W H FOURCC FPS
#   run|pair CONTENDER FRAMES LOST CPU_SECONDS WALL_SECONDS
#   start CONTENDER STATUS CPU_SECONDS WALL_SECONDS   (a 1-frame run)
. /tests/lib.sh
RES=$OUT/bench-v4l2.txt
D=/tmp/benchv
mkdir -p $D
export LABDAQ_LOCK_DIR=/tmp/labdaq-locks
mkdir -p $LABDAQ_LOCK_DIR
# The files go to a disk where there is one (VM_DISK_MB): there labdaq
# writes with O_DIRECT, v4l2-ctl through the page cache, as on a lab PC;
# else to the guest's tmpfs, where both copy into the page cache.
modprobe virtio_blk 2>/dev/null
i=0
while [ ! -b /dev/vda ] && [ -d /sys/module/virtio_blk ] && [ $i -lt 30 ]; do
	sleep 0.1
	i=$((i + 1))
done
if [ -b /dev/vda ] && modprobe crc32c_generic && modprobe ext4 && mkdir -p /mnt/disk &&
	mount -t ext4 /dev/vda /mnt/disk; then
	D=/mnt/disk/benchv
	mkdir -p $D
fi
read -r FRAMES REPS </share/bench-v4l2
[ -n "$FRAMES" ] || FRAMES=60
[ -n "$REPS" ] || REPS=4
: >"$RES"
if ! command -v labdaq >/dev/null || ! command -v v4l2-ctl >/dev/null ||
	! modprobe vivid n_devs=1 node_types=0x1 input_types=0x0 >$D/mod.out 2>&1; then
	echo "error labdaq, v4l2-ctl or vivid missing" >>"$RES"
	exit 0
fi
i=0
while [ ! -e /dev/video0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
V=/dev/video0
F=YUYV
# The largest size (by area), then its fastest rate.
size=$(v4l2-ctl -d $V --list-framesizes=$F 2>/dev/null |
	sed -n 's/.*Discrete \([0-9]*\)x\([0-9]*\).*/\1 \2/p' |
	awk '{ print $1 * $2, $1, $2 }' | sort -n | tail -n 1)
set -- $size
Wd=$2
Ht=$3
fps=$(v4l2-ctl -d $V --list-frameintervals=width=$Wd,height=$Ht,pixelformat=$F 2>/dev/null |
	sed -n 's/.*(\([0-9.]*\) fps).*/\1/p' | sort -n | tail -n 1)
echo "mode $Wd $Ht $F $fps" | tee -a "$RES"
echo "# files in $D: $(grep " $(dirname $D) \| /tmp " /proc/mounts | tail -n 1)" >>"$RES"
v4l2-ctl -d $V --set-fmt-video=width=$Wd,height=$Ht,pixelformat=$F --set-parm="$fps" \
	>/dev/null 2>&1
# labdaq: 4 driver buffers as v4l2-ctl has, a ring of 8 frames.
FB=$((Wd * Ht * 2))
RING=$((8 * FB))
URI="v4l2:$V?width=$Wd&height=$Ht&format=$F&fps=$fps&buffers=4"

# one CONTENDER [TAG]: FRAMES frames, "TAG CONTENDER FRAMES LOST CPU WALL"
one() {
	tag=${2:-run}
	rm -f $D/f.raw $D/l.npy $D/l.json $D/l.frames.npy
	case $1 in
	v4l2-ctl)
		set -- "$1" $(cpu_of v4l2-ctl -d $V --verbose --stream-mmap --stream-count=$FRAMES \
			--stream-to=$D/f.raw)
		n=$(($(wc -c <$D/f.raw) / FB))
		cp $D/out.txt $D/ctl.out
		# The sequence numbers it printed: the frames missing between.
		lost=$(sed -n 's/.*seq: *\([0-9]*\).*/\1/p' $D/out.txt |
			awk 'NR == 1 { f = $1 } { l = $1; c++ } END { print c ? l - f + 1 - c : -1 }')
		;;
	labdaq-*)
		set -- "$1" $(cpu_of labdaq acquire "$URI&io=${1#labdaq-}" --frames $FRAMES \
			--ring $RING --progress none -o $D/l.npy)
		n=$(sed -n 's/^  "written": \([0-9]*\),$/\1/p' $D/l.json 2>/dev/null)
		lost=$(sed -n 's/^  "dropped": \([0-9]*\),$/\1/p' $D/l.json 2>/dev/null)
		;;
	esac
	[ "$2" = 0 ] || lost=failed
	echo "$tag $1 ${n:-0} ${lost:--1} $3 $4" | tee -a "$RES"
}

# Under TCG the first touch of guest memory costs the host a page fault
# each: touch most of it once, so that no contender pays for it.
dd if=/dev/zero of=/tmp/warm bs=1M count=$(($(sed -n 's/^MemFree: *\([0-9]*\) kB/\1/p' \
	/proc/meminfo) / 1024 * 3 / 4)) 2>/dev/null
rm -f /tmp/warm
for i in 1 2 3; do
	rm -f $D/one.npy $D/one.json $D/one.frames.npy
	echo "start labdaq-1-frame $(cpu_of labdaq acquire "$URI" --frames 1 --ring $RING \
		--progress none -o $D/one.npy)" | tee -a "$RES"
	echo "start v4l2-ctl-1-frame $(cpu_of v4l2-ctl -d $V --stream-mmap --stream-count=1 \
		--stream-to=$D/one.raw)" | tee -a "$RES"
	rm -f $D/one.raw
done
i=0
while [ $i -lt "$REPS" ]; do
	if [ $((i % 2)) -eq 0 ]; then
		one v4l2-ctl pair
		one labdaq-userptr pair
		one labdaq-mmap pair
	else
		one labdaq-mmap pair
		one labdaq-userptr pair
		one v4l2-ctl pair
	fi
	i=$((i + 1))
done
head -n 6 $D/ctl.out | sed 's/^/# v4l2-ctl says: /' >>"$RES"
rm -f $D/f.raw $D/l.npy
rmmod vivid 2>/dev/null
umount /mnt/disk 2>/dev/null
exit 0
