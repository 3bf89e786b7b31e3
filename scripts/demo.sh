#!/bin/sh
# demo.sh - what `make run` does after the build: stream the simulated camera
# into data/ for a few seconds with live progress, then show how to load it.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
mkdir -p data
out="data/camera-$(date +%Y%m%d-%H%M%S).npy"
device='sim:camera?width=640&height=480'
echo "labdaq acquire '$device' --rate 200 --time 5s -o $out"
status=0
build/labdaq acquire "$device" --rate 200 --time 5s --progress bar -o "$out" || status=$?
echo
build/labdaq inspect "$out" | sed -n '1,3p;5p;9p'
echo
echo "Load it in Python (numpy):"
echo "  /usr/bin/python3 -c \"import numpy; a = numpy.load('$out', mmap_mode='r'); print(a.shape, a.dtype)\""
exit $status
