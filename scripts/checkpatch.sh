#!/bin/sh
# checkpatch.sh [FILE...] - run the kernel's checkpatch.pl --strict on the
# driver (default: driver/*.c driver/*.h).
#
# checkpatch.pl ships only inside Debian's linux-source-6.1 package, as part
# of a source tarball.  The first run takes scripts/checkpatch.pl,
# spelling.txt and const_structs.checkpatch out of it (from the installed
# package if there is one, else from a downloaded .deb) into
# build/checkpatch/; later runs use those.  Nothing lands in the source tree.
# Exit status: checkpatch's (0 = clean), 2 when it could not be fetched.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/build/checkpatch"
pkg=linux-source-6.1
files="checkpatch.pl spelling.txt const_structs.checkpatch"

have_all() {
	for f in $files; do
		[ -s "$dir/$f" ] || return 1
	done
}

# extract TARBALL_XZ: the three files out of the kernel source tarball
extract() {
	members=
	for f in $files; do
		members="$members $pkg/scripts/$f"
	done
	# shellcheck disable=SC2086 # word splitting of $members is wanted
	xz -dc "$1" | tar -x -C "$dir/tmp" -f - $members
	for f in $files; do
		mv "$dir/tmp/$pkg/scripts/$f" "$dir/$f"
	done
	chmod +x "$dir/checkpatch.pl"
}

if ! have_all; then
	mkdir -p "$dir/tmp"
	if [ -r "/usr/src/$pkg.tar.xz" ]; then
		extract "/usr/src/$pkg.tar.xz"
	else
		deb=$(ls "$dir"/${pkg}_*.deb 2>/dev/null | tail -1 || true)
		if [ -z "$deb" ]; then
			echo "checkpatch.sh: downloading $pkg (about 140 MB, once)" >&2
			if ! (cd "$dir" && apt-get download -q "$pkg" >/dev/null 2>&1); then
				echo "checkpatch.sh: cannot download $pkg;" \
					"run apt-get update, or install it" >&2
				exit 2
			fi
			deb=$(ls "$dir"/${pkg}_*.deb | tail -1)
		fi
		dpkg-deb --fsys-tarfile "$deb" |
			tar -x -C "$dir/tmp" -f - "./usr/src/$pkg.tar.xz"
		extract "$dir/tmp/usr/src/$pkg.tar.xz"
		# keep the .deb (a re-extraction needs no network), drop the rest
	fi
	rm -rf "$dir/tmp"
fi

# checkpatch leaves a cache (.checkpatch-camelcase.*) in its working folder:
# run it in build/checkpatch, where driver/ is a link to the real one.
cd "$dir"
ln -sfn "$top/driver" driver
if [ -e "$top/.git" ]; then
	GIT_DIR="$top/.git"
	export GIT_DIR
fi
if [ $# -eq 0 ]; then
	for c in driver/*.c; do
		case $c in *.mod.c) ;; *) set -- "$@" "$c" ;; esac
	done
	for h in driver/*.h; do
		if [ -e "$h" ]; then set -- "$@" "$h"; fi
	done
else
	# the caller's paths are relative to the tree's top
	for f in "$@"; do
		case $f in /*) ;; *) f="$top/$f" ;; esac
		set -- "$@" "$f"
		shift
	done
fi
exec perl "$dir/checkpatch.pl" --strict --no-tree --show-types -f "$@"
