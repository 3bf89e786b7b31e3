#!/bin/sh
# demo.sh - what `make run` does after the build: stream the simulated camera
# into data/ (or $LABDAQ_DEMO_DIR) for a few seconds with live progress,
# then say where the small file is, how to load it and how to remove it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
dir=${LABDAQ_DEMO_DIR:-data}
mkdir -p "$dir"
out="$dir/camera-$(date +%Y%m%d-%H%M%S).npy"
device='sim:camera?width=320&height=240'
echo "labdaq acquire '$device' --rate 50 --time 4s -o $out"
status=0
build/labdaq acquire "$device" --rate 50 --time 4s --progress bar -o "$out" || status=$?
echo
build/labdaq inspect "$out" | sed -n '1,3p;5p;9p'
echo
base=${out%.npy}
echo "Kept: $out, its sidecar $base.json and its gaps' file $base.gaps.npy" \
	"($(du -ch "$out" "$base.json" "$base.gaps.npy" 2>/dev/null | tail -n 1 | cut -f1)); remove them with"
echo "  rm -f $out $base.json $base.gaps.npy"
echo "Load it in Python (numpy):"
echo "  /usr/bin/python3 -c \"import numpy; a = numpy.load('$out', mmap_mode='r'); print(a.shape, a.dtype)\""
exit $status
