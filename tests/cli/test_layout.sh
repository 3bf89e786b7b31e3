#!/usr/bin/env bash
# test_layout.sh - the tools are a client of the library like any other
# (issue 9, point 1): no file in tools/ includes a header under lib/ but
# the public lib/include/labdaq.h, and build/labdaq links liblabdaq.so
# dynamically instead of embedding the library.
. "$(dirname "$0")/lib.sh"

PUBLIC=$TOP/lib/include/labdaq.h

# resolve_quoted FILE NAME: where #include "NAME" in FILE resolves, as the
# compiler looks for it: FILE's own directory first, then the include
# directories, which may be any directory of the library.  Prints the path
# (empty if none).
resolve_quoted() {
	local dir d
	dir=$(dirname "$1")
	for d in "$dir" "$TOP/lib/include" "$TOP/lib" $(find "$TOP/lib" -type d | sort); do
		if [ -f "$d/$2" ]; then
			realpath "$d/$2"
			return
		fi
	done
}

# system_header NAME: #include <NAME> compiles without any -I: a system
# header, not one of the library's.
system_header() {
	printf '#include <%s>\n' "$1" | "${CC:-cc}" -E -x c - >/dev/null 2>&1
}

# ---- the sources -------------------------------------------------------------
bad=()
nfiles=0
while IFS= read -r f; do
	nfiles=$((nfiles + 1))
	rel=${f#"$TOP"/}
	while IFS=: read -r line text; do
		name=$(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/p' <<<"$text")
		if [ -n "$name" ]; then
			to=$(resolve_quoted "$f" "$name")
			case $to in
			"$TOP"/tools/*) ;;
			"$PUBLIC") ;;
			"") bad+=("$rel:$line: #include \"$name\" is neither in tools/ nor lib/include/labdaq.h") ;;
			*) bad+=("$rel:$line: #include \"$name\" is ${to#"$TOP"/}, a private header of the library") ;;
			esac
			continue
		fi
		# <NAME> too, when NAME is one of the library's files and no
		# system header (an -Ilib would make <npyfile.h> work).
		name=$(sed -nE 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*<([^>]+)>.*/\1/p' <<<"$text")
		[ -n "$name" ] || continue
		to=$(resolve_quoted /nonexistent/x "$name")
		if [ -n "$to" ] && [ "$to" != "$PUBLIC" ] && ! system_header "$name"; then
			bad+=("$rel:$line: #include <$name> is ${to#"$TOP"/}, a private header of the library")
		fi
	done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f")
done < <(find "$TOP/tools" -type f \( -name '*.c' -o -name '*.h' \) | sort)

if [ "$nfiles" -eq 0 ]; then
	not_ok "the tools include no header under lib/ but lib/include/labdaq.h"
	diag "no .c or .h file found under $TOP/tools"
elif [ ${#bad[@]} -eq 0 ]; then
	ok "the tools include no header under lib/ but lib/include/labdaq.h ($nfiles files)"
else
	not_ok "the tools include no header under lib/ but lib/include/labdaq.h"
	diag "${bad[@]}"
fi

# What the compiler really read: the dependency files of the tools'
# objects (make's -MMD), if the build left them.
deps=$(find "$TOP/build/tools" -name '*.d' 2>/dev/null | sort)
if [ -z "$deps" ]; then
	skip "the tools' objects read no header under lib/ but labdaq.h: no build/tools/*.d (run make)"
else
	# Every word of every rule that names a header, made absolute.
	used=$(cd "$TOP" && sed 's/\\$//' $deps | tr ' :' '\n\n' | grep -E '\.h$' | sort -u |
		while read -r h; do realpath -m "$h"; done | sort -u)
	private=$(grep -E "^$TOP/lib/" <<<"$used" | grep -vxF "$PUBLIC" | sed "s#^$TOP/##" | tr '\n' ' ')
	if [ -z "$private" ]; then
		ok "the tools' objects read no header under lib/ but labdaq.h (build/tools/*.d)"
	else
		not_ok "the tools' objects read no header under lib/ but labdaq.h (build/tools/*.d)"
		diag "they read: $private"
	fi
fi

# ---- the binary ----------------------------------------------------------------
if [ ! -x "$LABDAQ" ]; then
	not_ok "$LABDAQ is built (run make)"
	finish
fi
if ! command -v readelf >/dev/null || ! command -v nm >/dev/null; then
	skip "how $LABDAQ links: no readelf or nm (binutils)"
	finish
fi

needed=$(readelf -d "$LABDAQ" 2>&1 | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
if grep -qx "liblabdaq.so.$(sed -n 's/^SOVERSION := //p' "$TOP/Makefile")" <<<"$needed"; then
	ok "build/labdaq links liblabdaq.so dynamically (NEEDED)"
else
	not_ok "build/labdaq links liblabdaq.so dynamically (NEEDED)"
	diag "its NEEDED entries: $(tr '\n' ' ' <<<"$needed")"
fi

# Defined in the binary itself: the static symbol table if not stripped,
# and the dynamic one in any case.
defined=$({
	nm --defined-only "$LABDAQ" 2>/dev/null
	nm -D --defined-only "$LABDAQ" 2>/dev/null
} | awk '{print $NF}' | sed 's/@.*//' | grep -E '^labdaq_' | sort -u)
if [ -z "$defined" ]; then
	ok "build/labdaq defines no labdaq_ symbol: it does not embed the library"
else
	not_ok "build/labdaq defines no labdaq_ symbol: it does not embed the library"
	diag "it defines $(wc -l <<<"$defined") of them, e.g. $(head -n 5 <<<"$defined" | tr '\n' ' ')"
fi

finish
