#!/usr/bin/env bash
# tests/vm/run.sh - boot Debian's own kernel in qemu with labdaq_sim, the
# real libiio stack and comedi (comedi_test, comedilib's tools) inside, run
# the guest tests, and report TAP.
#
#   host: install what is missing (scripts/install-deps.sh vm, the kernel
#         headers), download Debian's kernel package (never installed: it is
#         unpacked into build/vm/), build the module against the headers,
#         pack an initramfs, boot it in qemu (TCG) with a 9p share.
#   guest: tests/vm/guest/main.sh runs tests/vm/guest/[0-9][0-9]-*.sh in
#         order; each check prints one marker line "VMTEST: ok - what" or
#         "VMTEST: not ok - what" (notes: "VMTEST: # text") to the console
#         and to /share/out/markers.
#   host: every marker becomes a TAP line.  Exit 0 only if all passed; 77
#         (one "ok 1 # SKIP" line) when this machine cannot run it at all.
#
# Adding tests: drop tests/vm/guest/NN-name.sh (it sources lib.sh and calls
# ok/not_ok/check); it runs after the lower numbers.  Adding binaries: see
# stage_extra() below (the labdaq tool goes there).
#
# Environment: VM_TIMEOUT (s, qemu's hard limit, default 720), VM_KVER (use
# this kernel ABI instead of the one apt names), VM_KEEP=1 (keep the
# initramfs staging tree), VM_SMP (guest CPUs, default 2), VM_TESTS (only
# these guest scripts, by number: "53 56"; 10-load.sh always runs), VM_BENCH
# ("SECONDS PAIRS [SCAN_SECONDS]": the guest also runs the comedi benchmark, see
# bench/bench.py; build/bench/comedi_loop staged), VM_BENCH_V4L2 ("FRAMES
# PAIRS": the V4L2 benchmark, tests/vm/guest/bench-v4l2.sh), VM_MEM (guest
# MiB, default 512), VM_DISK_MB (an ext4 disk of that size, /dev/vda),
# VM_BENCH_USB ("SECONDS PAIRS [STARTS]": the usb comparison, bench-usb.sh),
# VM_BENCH_PROFILE (SECONDS: where a comedi stream's CPU goes, perf and
# strace in the guest, bench-comedi-profile.sh; bench/comedi_profile.py
# reads it), VM_TOOLS (more host programs to stage), VM_APPEND (more
# kernel command line).
# Files: build/vm/ (downloads, kernel, initramfs, console.log, share/out/).
set -u

top=$(cd "$(dirname "$0")/../.." && pwd)
here="$top/tests/vm"
vm="$top/build/vm"
t0=$(date +%s)
n=0
failed=0
timeout_s=${VM_TIMEOUT:-720}

tap_ok() { n=$((n + 1)); echo "ok $n - $*"; }
tap_fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
note() { echo "# $*"; }
finish() {
	echo "1..$n"
	note "vm suite run time: $(($(date +%s) - t0)) s"
	[ "$failed" -eq 0 ]
	exit
}
skip_all() {
	echo "ok 1 # SKIP $*"
	note "vm suite run time: $(($(date +%s) - t0)) s"
	exit 77
}
# bail WHAT [LOG]: a host step failed; nothing after it can run
bail() {
	tap_fail "$1"
	if [ $# -gt 1 ] && [ -s "$2" ]; then
		tail -n 30 "$2" | sed 's/^/#   /'
	fi
	finish
}
# step WHAT CMD...: run a host step quietly, log in build/vm/step.log
step() {
	local what=$1
	shift
	if "$@" >"$vm/step.log" 2>&1; then
		tap_ok "$what"
	else
		bail "$what" "$vm/step.log"
	fi
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# ---- can this machine run it at all? ---------------------------------------
if ! is_root && ! command -v qemu-system-x86_64 >/dev/null; then
	skip_all "no qemu-system-x86_64 and not root (cannot install it)"
fi
mkdir -p "$vm"
# One run at a time per tree: the share and the staging tree are fixed paths.
exec 9>"$vm/.lock"
flock -w 900 9 || bail "wait for another VM run in this tree"

# ---- packages ---------------------------------------------------------------
# The kernel ABI (6.1.0-NN-amd64) is whatever the metapackages name today.
kernel_abi() {
	local pkg
	pkg=$(apt-cache depends linux-headers-amd64 2>/dev/null |
		awk '/Depends: linux-headers-[0-9]/ { print $2; exit }')
	echo "${pkg#linux-headers-}"
}

# resolve_kver: the ABI, checked against the image metapackage
resolve_kver() {
	kver=${VM_KVER:-$(kernel_abi)}
	[ -n "$kver" ] || { echo "apt names no linux-headers-amd64"; return 1; }
	[ -n "${VM_KVER:-}" ] && return 0
	local img
	img=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	[ "$img" = "linux-image-$kver" ] ||
		{ echo "apt names $img but linux-headers-$kver"; return 1; }
}

install_headers() {
	[ -d "/usr/src/linux-headers-$kver" ] && return 0
	echo "installing linux-headers-$kver"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "linux-headers-$kver"
}

install_deps() {
	"$top/scripts/install-deps.sh" vm || return 1
	resolve_kver && install_headers && return 0
	# Package lists a few hours old can name an ABI the mirror has dropped.
	apt-get update -q && resolve_kver && install_headers
}

kver=
if is_root; then
	install_deps >"$vm/step.log" 2>&1 ||
		bail "install the VM test packages (install-deps.sh vm, headers)" \
			"$vm/step.log"
	tap_ok "VM test packages and linux-headers-$kver installed"
else
	kver=${VM_KVER:-$(kernel_abi)}
	for c in qemu-system-x86_64 busybox cpio depmod iio_info; do
		command -v "$c" >/dev/null ||
			skip_all "$c missing and not root (run scripts/install-deps.sh vm)"
	done
	[ -n "$kver" ] && [ -d "/usr/src/linux-headers-$kver" ] ||
		skip_all "linux-headers-${kver:-ABI} missing and not root"
	tap_ok "VM test packages present (not root: nothing installed)"
fi
kdir="/usr/src/linux-headers-$kver"

# ---- the kernel: downloaded, unpacked, never installed ----------------------
kroot="$vm/kernel-$kver"
vmlinux="$kroot/vmlinux"

fetch_kernel() {
	local deb
	deb=$(ls "$vm"/linux-image-"${kver}"_*.deb 2>/dev/null | tail -n 1)
	if [ -z "$deb" ]; then
		(cd "$vm" && apt-get download -q "linux-image-$kver") || return 1
		deb=$(ls "$vm"/linux-image-"${kver}"_*.deb | tail -n 1)
	fi
	rm -rf "$kroot.tmp"
	dpkg -x "$deb" "$kroot.tmp" || return 1
	# modules.dep is made by the package's postinst; make it here
	depmod -b "$kroot.tmp" "$kver" || return 1
	extract_vmlinux "$kroot.tmp/boot/vmlinuz-$kver" "$kroot.tmp/vmlinux"
	rm -rf "$kroot"
	mv "$kroot.tmp" "$kroot"
}

# The bzImage holds the ELF vmlinux as an xz stream (magic FD 37 7A 58 5A 00).
# Booted through its PVH entry point it reaches /init in half the time.
# Failing that, the bzImage boots too: this only speeds things up.
extract_vmlinux() {
	local off
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$1" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || return 0
	tail -c +$((off + 1)) "$1" | xz -dc --single-stream >"$2" 2>/dev/null
	if [ "$(head -c 4 "$2" | od -An -c | tr -d ' ')" != '177ELF' ]; then
		rm -f "$2"
	fi
	return 0
}

if [ -d "$kroot" ]; then
	tap_ok "kernel $kver cached in build/vm"
else
	step "download and unpack linux-image-$kver into build/vm" fetch_kernel
fi
kernel="$kroot/boot/vmlinuz-$kver"
[ -s "$vmlinux" ] && kernel=$vmlinux

# ---- the module ---------------------------------------------------------------
# Not the caller's make flags: `make check CFLAGS=...` must not reach kbuild.
step "labdaq_sim.ko builds against linux-headers-$kver" \
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$kdir" M="$top" modules

# ---- the initramfs -------------------------------------------------------------
root="$vm/initramfs"
initrd="$vm/initramfs.cpio"
# Modules the guest needs, with their dependencies (from modules.dep).
# The USB gadget stack: stage_usb below.
guest_modules="industrialio kfifo_buf virtio_pci 9pnet_virtio 9p comedi comedi_test vivid"
# VM_DISK_MB: a disk for the guest, /dev/vda, ext4 (the V4L2 benchmark).
[ -n "${VM_DISK_MB:-}" ] && guest_modules="$guest_modules virtio_blk ext4 crc32c_generic"

# stage_binary SRC [DEST]: copy a program and the shared libraries it loads
stage_binary() {
	local src=$1 dest=${2:-$1} lib
	install -D -m 0755 "$src" "$root$dest"
	for lib in $(ldd "$src" 2>/dev/null |
		awk '/=> \// { print $3 } /^\t\/[^ ]+ \(/ { print $1 }'); do
		[ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

# stage_module NAME: one module and what it depends on, from the kernel tree
stage_module() {
	local name=${1//-/_} line path
	line=$(awk -v n="$name" '{ p = $1; sub(":$", "", p); b = p;
		sub(".*/", "", b); sub("\\.ko.*$", "", b); gsub("-", "_", b);
		if (b == n) { print; exit } }' "$kroot/lib/modules/$kver/modules.dep")
	[ -n "$line" ] || { echo "no module $1 in $kver"; return 1; }
	for path in ${line/:/}; do
		install -D -m 0644 "$kroot/lib/modules/$kver/$path" \
			"$root/lib/modules/$kver/$path"
	done
}

# Hook for more programs: the labdaq tool and its iio backend, when built.
# Whatever is staged here is on the guest's PATH (/usr/local/bin); the guest
# scripts test for it (command -v labdaq) and skip what they cannot run.
stage_extra() {
	local so
	if [ -x "$top/build/labdaq" ]; then
		# As `make install` lays them out: the tool in /usr/local/bin finds
		# liblabdaq in ../lib through its run path.
		so=$(readelf -d "$top/build/labdaq" | sed -n 's/.*NEEDED.*\[\(liblabdaq[^]]*\)\]/\1/p')
		[ -n "$so" ] && install -D -m 0755 "$(readlink -f "$top/build/$so")" \
			"$root/usr/local/lib/$so"
		stage_binary "$top/build/labdaq" /usr/local/bin/labdaq
	fi
	# VM_BENCH (bench.py) and VM_BENCH_PROFILE: the minimal comedi loop
	# labdaq is compared with.
	if [ -n "${VM_BENCH:-}${VM_BENCH_PROFILE:-}" ] && [ -x "$top/build/bench/comedi_loop" ]; then
		stage_binary "$top/build/bench/comedi_loop" /usr/local/bin/comedi_loop
	fi
	# VM_TOOLS="perf strace": host programs for profiling in the guest,
	# staged with their libraries (VM_BENCH_PROFILE stages these two).
	for a in ${VM_TOOLS:-} ${VM_BENCH_PROFILE:+perf strace}; do
		if command -v "$a" >/dev/null; then
			stage_binary "$(command -v "$a")" "/usr/local/bin/${a##*/}"
		else
			echo "VM_TOOLS: no $a on this host"
		fi
	done
}

# The usb backend's tests (tests/vm/guest/8N-usb-*.sh): the gadget stack
# (dummy_hcd connects a gadget to a host controller in the same kernel;
# FunctionFS lets build/usb/fx2gadget play the device), lsusb, Debian's
# sigrok-cli (the peer; its Python decoders are not needed), the fx2lafw
# firmware files, and usbserial (its generic driver is the kernel driver
# 87-usb-driver.sh binds to a device for labdaq to detach and re-attach).
# Before depmod: it stages modules.
stage_usb() {
	local m a
	for m in dummy_hcd libcomposite usb_f_fs configfs usbserial; do
		stage_module "$m" || return 1
	done
	for a in lsusb sigrok-cli; do
		if command -v "$a" >/dev/null; then
			stage_binary "$(command -v "$a")" "/bin/$a"
		fi
	done
	if [ -d /usr/share/sigrok-firmware ]; then
		mkdir -p "$root/usr/share"
		cp -r /usr/share/sigrok-firmware "$root/usr/share/"
	fi
	if [ -x "$top/build/usb/fx2gadget" ]; then
		stage_binary "$top/build/usb/fx2gadget" /usr/local/bin/fx2gadget
	fi
}

# stage_udev: Debian's systemd-udevd and udevadm (one binary in udev 252),
# unpacked from the udev package into build/vm/udev (downloaded, never
# installed, like the kernel), with its default device rules, getent
# (libc-bin) for the labdaq hook, and the project's rules and hook as
# `make install-udev DESTDIR=...` lays them out.  tests/vm/guest/80-udev.sh
# starts the daemon.
stage_udev() {
	local pkg=$vm/udev deb
	if [ ! -x "$pkg/bin/udevadm" ]; then
		deb=$(ls "$vm"/udev_*.deb 2>/dev/null | tail -n 1)
		if [ -z "$deb" ]; then
			(cd "$vm" && apt-get download -q udev) || return 1
			deb=$(ls "$vm"/udev_*.deb | tail -n 1)
		fi
		rm -rf "$pkg.tmp"
		dpkg -x "$deb" "$pkg.tmp" && mv "$pkg.tmp" "$pkg" || return 1
	fi
	stage_binary "$pkg/bin/udevadm" /bin/udevadm
	mkdir -p "$root/lib/systemd" "$root/lib/udev/rules.d" "$root/run"
	ln -sf /bin/udevadm "$root/lib/systemd/systemd-udevd"
	install -m 0644 "$pkg/lib/udev/rules.d/50-udev-default.rules" \
		"$root/lib/udev/rules.d/"
	stage_binary "$(command -v getent)" /bin/getent
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s -C "$top" install-udev \
		DESTDIR="$root" PREFIX=/usr
}

build_initramfs() {
	local a m
	rm -rf "$root"
	mkdir -p "$root"/{bin,dev,proc,sys,tmp,share,etc,root} \
		"$root/lib/modules/$kver/extra"
	ln -s bin "$root/sbin"
	mkdir -p "$root/usr"
	ln -s ../bin "$root/usr/bin"
	ln -s ../bin "$root/usr/sbin"
	install -m 0755 "$(command -v busybox)" "$root/bin/busybox"
	for a in $(busybox --list); do
		[ -e "$root/bin/$a" ] || ln -s busybox "$root/bin/$a"
	done
	# comedilib's tools (libcomedi0) for the comedi tests: comedi_config
	# attaches and detaches legacy minors, comedi_test is its self-test.
	# v4l2-ctl (v4l-utils): the reference client the v4l2 tests compare with.
	for a in iio_info iio_readdev iio_writedev iio_attr iiod comedi_config v4l2-ctl \
		comedi_board_info comedi_test; do
		if command -v "$a" >/dev/null; then
			stage_binary "$(command -v "$a")" "/bin/$a"
		fi
	done
	for m in $guest_modules; do
		stage_module "$m" || return 1
	done
	stage_usb || return 1
	cp "$kroot/lib/modules/$kver"/modules.{builtin,builtin.modinfo,order} \
		"$root/lib/modules/$kver/"
	install -m 0644 "$top/driver/labdaq_sim.ko" "$root/lib/modules/$kver/extra/"
	depmod -b "$root" "$kver" || return 1
	stage_extra || return 1
	stage_udev || return 1
	install -m 0755 "$here/init" "$root/init"
	mkdir -p "$root/tests"
	cp "$here"/guest/*.sh "$root/tests/"
	# VM_TESTS="53 56": only those scripts (and 10-load.sh, which loads
	# the module), for a quicker round while working on them.
	if [ -n "${VM_TESTS:-}" ]; then
		for a in "$root"/tests/[0-9][0-9]-*.sh; do
			m=${a##*/}
			case " 10 $VM_TESTS " in
			*" ${m%%-*} "*) ;;
			*) rm "$a" ;;
			esac
		done
	fi
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
	printf 'root:x:0:\n' >"$root/etc/group"
	# Not compressed: the kernel unpacks a plain cpio fastest under TCG.
	(cd "$root" && find . | cpio -o -H newc --quiet) >"$initrd.tmp" &&
		mv "$initrd.tmp" "$initrd"
	[ -n "${VM_KEEP:-}" ] || rm -rf "$root"
}
what="busybox, libiio and comedilib tools, modules, labdaq_sim.ko"
[ -x "$top/build/labdaq" ] && what="$what, build/labdaq"
step "initramfs: $what" build_initramfs

# ---- boot ------------------------------------------------------------------------
share="$vm/share"
rm -rf "$share"
mkdir -p "$share/out"
# VM_BENCH=SECONDS: the guest also runs tests/vm/guest/bench-comedi.sh.
[ -n "${VM_BENCH:-}" ] && echo "$VM_BENCH" >"$share/bench-comedi"
# VM_BENCH_PROFILE=SECONDS: bench-comedi-profile.sh too (perf, strace).
[ -n "${VM_BENCH_PROFILE:-}" ] && echo "$VM_BENCH_PROFILE" >"$share/bench-comedi-profile"
# VM_BENCH_V4L2="FRAMES PAIRS": tests/vm/guest/bench-v4l2.sh too.
[ -n "${VM_BENCH_V4L2:-}" ] && echo "$VM_BENCH_V4L2" >"$share/bench-v4l2"
# VM_BENCH_USB="SECONDS PAIRS [STARTS]": the guest also runs bench-usb.sh
# (labdaq against sigrok-cli on the emulated fx2lafw board; bench.py
# section 10; STARTS 1-packet captures of each, default 3; SECONDS 0: only
# those).
[ -n "${VM_BENCH_USB:-}" ] && echo "$VM_BENCH_USB" >"$share/bench-usb"
# The guest's /share: files copied into "$share" here are readable inside
# (large inputs that need not be in the initramfs); the guest writes its
# results to /share/out.
# VM_DISK_MB=N: an N MiB ext4 disk image made here, the guest's /dev/vda
# (qemu with cache=none: the host's page cache holds none of it; no
# metadata checksums, which would need the crc32c module).
disk_args=()
if [ -n "${VM_DISK_MB:-}" ]; then
	rm -f "$vm/disk.img"
	if truncate -s "${VM_DISK_MB}M" "$vm/disk.img" &&
		PATH="$PATH:/sbin:/usr/sbin" mkfs.ext4 -q -F -O ^metadata_csum "$vm/disk.img"; then
		disk_args=(-drive "file=$vm/disk.img,if=virtio,format=raw,cache=none")
	fi
fi
console="$vm/console.log"
note "booting $kver ($(basename "$kernel")), console: build/vm/console.log"
boot0=$(date +%s)
# isa-debug-exit: the guest writes its status byte N to port 0xf4 and qemu
# exits with (N << 1) | 1; a panic or a reboot (-no-reboot) exits 0.
timeout -k 5 "$timeout_s" qemu-system-x86_64 \
	-m "${VM_MEM:-512}" -smp "${VM_SMP:-2}" -nographic -no-reboot \
	-kernel "$kernel" -initrd "$initrd" \
	-append "console=ttyS0 panic=-1 quiet no_timer_check log_buf_len=1M${VM_APPEND:+ $VM_APPEND}" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 \
	-virtfs "local,path=$share,mount_tag=share,security_model=none" \
	"${disk_args[@]}" -nic none </dev/null >"$console" 2>&1
qrc=$?
rm -f "$vm/disk.img"
note "guest ran $(($(date +%s) - boot0)) s, qemu exit status $qrc"

# ---- results -------------------------------------------------------------------
markers="$share/out/markers"
if [ ! -s "$markers" ]; then
	# no share (9p failed?): fall back to what reached the console
	markers="$vm/console-markers"
	grep -a '^VMTEST: ' "$console" | tr -d '\r' >"$markers"
fi
guest_done=0
while IFS= read -r line; do
	line=${line#VMTEST: }
	case $line in
	"ok - "*) tap_ok "${line#ok - }" ;;
	"not ok - "*) tap_fail "${line#not ok - }" ;;
	"# "*) echo "$line" ;;
	done) guest_done=1 ;;
	esac
done <"$markers"

# The backends' files, checked again on the host with numpy (the guest
# has no python).  host_check NAME: tests/vm/check_NAME.py on the guest's files of that
# backend in share/out/NAME, its marker lines as TAP (iio: the IIO files
# against iio_readdev's; comedi: the waveforms of comedi_test.c, in volts
# through the recorded conversion; v4l2: the companion's sequence numbers
# against the gaps; usb: the emulated devices' counters).
host_check() {
	[ -d "$share/out/$1" ] || return 0
	while IFS= read -r line; do
		case $line in
		"ok - "*) tap_ok "${line#ok - }" ;;
		"not ok - "*) tap_fail "${line#not ok - }" ;;
		"# "*) echo "$line" ;;
		esac
	done < <("${PYTHON:-/usr/bin/python3}" "$here/check_$1.py" "$share/out/$1" 2>&1)
}
for b in iio comedi v4l2 usb; do
	host_check "$b"
done

case $qrc in
1) tap_ok "guest powered off with status 0" ;;
3) tap_fail "guest reported failures (status 1)" ;;
124 | 137) tap_fail "qemu killed after ${timeout_s}s (VM_TIMEOUT)" ;;
*) tap_fail "guest ended without its exit status (panic, reboot or qemu error: $qrc)" ;;
esac
if [ "$guest_done" -eq 1 ]; then
	tap_ok "guest ran every test script"
else
	tap_fail "guest ran every test script"
fi
if [ "$failed" -gt 0 ]; then
	note "last console lines (build/vm/console.log):"
	tail -n 40 "$console" | tr -d '\r' | sed 's/^/#   /'
	[ -s "$share/out/dmesg.txt" ] && note "guest dmesg: build/vm/share/out/dmesg.txt"
fi
finish
