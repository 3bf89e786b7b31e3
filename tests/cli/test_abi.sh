#!/usr/bin/env bash
# test_abi.sh - the public ABI is what labdaq.h says: every LABDAQ_API
# function of the header is exported from liblabdaq.so in a version node of
# lib/labdaq.map, nothing else is exported, the map names nothing the header
# does not; and the version has one source (the header), which the .so's
# file name, labdaq --version, labdaq_version() and labdaq.pc all show.
. "$(dirname "$0")/lib.sh"

H=$TOP/lib/include/labdaq.h
MAP=$TOP/lib/labdaq.map
SO=$(readlink -f "$TOP/build/liblabdaq.so")
if ! command -v nm >/dev/null || [ ! -f "$SO" ]; then
	skip "no nm, or the library is not built"
	finish
fi

# The functions the header declares (LABDAQ_API ... name(...)).
grep -v '^#' "$H" | tr '\n' ' ' | grep -oE 'LABDAQ_API [^;{(]*\(' | grep -oE '[a-z_0-9]+\($' |
	tr -d '(' | sort >"$T/header"
# What the .so exports, with the version node of each.
nm -D --defined-only "$SO" | awk '$2 ~ /^[TDBR]$/ {print $3}' | grep -v '^LABDAQ_' |
	sort >"$T/exported.v"
sed 's/@.*//' "$T/exported.v" | sort -u >"$T/exported"
# What the map lists, outside comments.
sed 's#/\*.*##; s#^ \*.*##' "$MAP" | grep -oE '^[[:space:]]+labdaq_[a-z_0-9]+;' |
	tr -d ' \t;' | sort >"$T/map"

n=$(wc -l <"$T/header")
if [ "$n" -gt 50 ]; then ok "labdaq.h declares $n functions"; else
	not_ok "labdaq.h declares $n functions (the parse of the header failed?)"; fi
is "every function of labdaq.h is exported" "$(comm -23 "$T/header" "$T/exported" | xargs)" ""
is "nothing but labdaq.h's functions is exported" \
	"$(comm -13 "$T/header" "$T/exported" | xargs)" ""
is "lib/labdaq.map lists exactly labdaq.h's functions" \
	"$(diff "$T/header" "$T/map" | grep '^[<>]' | xargs)" ""
is "lib/labdaq.map lists each function once" "$(uniq -d "$T/map" | xargs)" ""
unversioned=$(grep -v '@@\?LABDAQ_[0-9]' "$T/exported.v" | xargs)
is "every exported function carries a version node" "$unversioned" ""

# The version: three numbers in the header, nowhere else.
v=$(for p in MAJOR MINOR PATCH; do
	sed -n "s/^#define LABDAQ_VERSION_$p \([0-9]*\)$/\1/p" "$H"; done | paste -sd.)
is "the header's version is MAJOR.MINOR.PATCH" "$(echo "$v" | grep -cE '^[0-9]+\.[0-9]+\.[0-9]+$')" 1
is "the .so's file name carries it" "$(basename "$SO")" "liblabdaq.so.$v"
is "labdaq --version prints it" "$("$LABDAQ" --version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)" "$v"
is "labdaq.pc's Version is it" "$(sed -n 's/^Version: //p' "$TOP/build/labdaq.pc")" "$v"
is "the man page's title line names it" \
	"$(sed -n '1s/.*"labdaq \([0-9.]*\)".*/\1/p' "$TOP/man/labdaq.1")" "$v"
others=$(grep -rnE '"[0-9]+\.[0-9]+\.[0-9]+"|(^|[^O])VERSION *:?= *[0-9]' "$TOP/lib" "$TOP/tools" \
	"$TOP/Makefile" 2>/dev/null | grep -v 'labdaq.h:' | xargs)
is "no second copy of a version number in lib/, tools/ or the Makefile" "$others" ""
finish
