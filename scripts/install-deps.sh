#!/bin/sh
# install-deps.sh [GROUP...] - install the Debian packages labdaq needs, only
# the missing ones.  Groups: build (default, always), vm (the qemu tests).
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu

build="gcc make pkg-config libc6-dev libjansson-dev libcmocka-dev python3-numpy python3-pandas \
python3-jsonschema \
libiio-dev libcomedi-dev libusb-1.0-0-dev libudev-dev \
python3-pytest python3-matplotlib python3-ipywidgets python3-nbclient python3-nbformat \
python3-ipykernel mypy strace"
vm="qemu-system-x86 busybox-static kmod cpio xz-utils libiio-utils libiio0 iiod libcomedi0 usbutils v4l-utils \
sigrok-cli sigrok-firmware-fx2lafw"
# the libraries of udevadm (systemd-udevd), which tests/vm/run.sh unpacks
# from the udev package into the guest, and getent for the udev hook there
vm="$vm libcap2 libacl1 libblkid1 libselinux1 libkmod2 libc-bin"
bench="libck-dev fio"
# ring_small races Boost's spsc_queue (C++, bench/boost_spsc.cpp); time: GNU time
bench="$bench libboost-dev g++ time"
# perf in the VM (VM_BENCH_PROFILE: where a comedi stream's CPU goes)
bench="$bench linux-perf"

want="$build"
for g in "$@"; do
	case $g in
	build) ;;
	vm) want="$want $vm" ;;
	bench) want="$want $bench" ;;
	*) echo "install-deps.sh: unknown group '$g' (known: build vm bench)" >&2; exit 2 ;;
	esac
done

missing=
for p in $want; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[ "$st" = installed ] || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "labdaq needs these Debian packages:$missing" >&2
	echo "install them with:" >&2
	echo "  sudo apt-get install -y$missing" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Refresh the package lists when they are missing or older than a day.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	apt-get update -q >/dev/null
fi
apt-get install -y -q --no-install-recommends $missing >/dev/null
