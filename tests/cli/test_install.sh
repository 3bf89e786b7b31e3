#!/usr/bin/env bash
# test_install.sh - make install DESTDIR=... PREFIX=/usr puts every file in
# place; a program built with pkg-config against that tree links and runs
# (shared and static); only the labdaq_* API is exported; make uninstall
# removes every file it installed.
. "$(dirname "$0")/lib.sh"

D=$T/root
MAKE=${MAKE:-make}
# The version (one source: labdaq.h) and the ABI's soname number (the Makefile).
V=$(for p in MAJOR MINOR PATCH; do
	sed -n "s/^#define LABDAQ_VERSION_$p \([0-9]*\)$/\1/p" "$TOP/lib/include/labdaq.h"
done | paste -sd.)
SOV=$(sed -n 's/^SOVERSION := //p' "$TOP/Makefile")
if ! command -v "$MAKE" >/dev/null || ! command -v cc >/dev/null; then
	skip "no make or cc"
	finish
fi

# make may regenerate build/labdaq.pc for our PREFIX: put it back as it was.
if [ -f "$TOP/build/labdaq.pc" ]; then
	cp -p "$TOP/build/labdaq.pc" "$T/labdaq.pc.orig"
	at_exit "cp -p '$T/labdaq.pc.orig' '$TOP/build/labdaq.pc'"
fi

# A first install elsewhere, so that the build tree has been through
# another PREFIX: each install must still describe its own.
D2=$T/root2
"$MAKE" --no-print-directory -C "$TOP" install DESTDIR="$D2" PREFIX=/opt/labdaq-test \
	>"$T/install2.log" 2>&1
rc=$?
is "make install DESTDIR=... PREFIX=/opt/labdaq-test: exit 0" "$rc" 0 ||
	tail -n 20 "$T/install2.log" | diag
is "PREFIX=/opt/labdaq-test: labdaq.pc's libdir is /opt/labdaq-test/lib" \
	"$(PKG_CONFIG_PATH=$D2/opt/labdaq-test/lib/pkgconfig pkg-config --variable=libdir labdaq 2>&1)" \
	/opt/labdaq-test/lib

"$MAKE" --no-print-directory -C "$TOP" install DESTDIR="$D" PREFIX=/usr >"$T/install.log" 2>&1
rc=$?
is "make install DESTDIR=... PREFIX=/usr: exit 0" "$rc" 0 || tail -n 20 "$T/install.log" | diag

missing=
for f in usr/bin/labdaq usr/lib/liblabdaq.so.$V usr/lib/liblabdaq.a usr/include/labdaq.h \
	usr/lib/pkgconfig/labdaq.pc usr/share/man/man1/labdaq.1 \
	usr/share/bash-completion/completions/labdaq; do
	[ -f "$D/$f" ] || missing="$missing $f"
done
is "installed: bin/labdaq, the .so, the .a, labdaq.h, labdaq.pc, labdaq.1, the bash completion" \
	"${missing:-none}" none
is "liblabdaq.so.$SOV -> liblabdaq.so.$V" "$(readlink "$D/usr/lib/liblabdaq.so.$SOV")" \
	liblabdaq.so.$V
is "liblabdaq.so resolves to liblabdaq.so.$V" \
	"$(basename "$(readlink -f "$D/usr/lib/liblabdaq.so" 2>/dev/null)")" liblabdaq.so.$V
soname=$(readelf -d "$D/usr/lib/liblabdaq.so.$V" 2>/dev/null | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
is "the .so's soname is liblabdaq.so.$SOV" "$soname" liblabdaq.so.$SOV
if [ -x "$D/usr/bin/labdaq" ] && [ "$("$D/usr/bin/labdaq" --version 2>&1)" = "$("$LABDAQ" --version)" ]; then
	ok "the installed labdaq runs (--version)"
else
	not_ok "the installed labdaq runs (--version)"
fi
if [ -x "$(command -v ar)" ] && ar t "$D/usr/lib/liblabdaq.a" 2>/dev/null | grep -q 'run\.o'; then
	ok "liblabdaq.a is an archive of the library's objects"
else
	not_ok "liblabdaq.a is an archive of the library's objects"
fi

# ---- labdaq.pc -----------------------------------------------------------------
pc() {
	PKG_CONFIG_SYSROOT_DIR=$D PKG_CONFIG_PATH=$D/usr/lib/pkgconfig pkg-config "$@" labdaq
}
if command -v pkg-config >/dev/null; then
	is "labdaq.pc: the version is the library's" "$(pc --modversion 2>&1)" \
		"$("$LABDAQ" --version | awk 'NR == 1 {print $2}')"
	# The installed .pc must describe where it was installed: PREFIX=/usr.
	is "labdaq.pc: libdir is /usr/lib (PREFIX=/usr)" \
		"$(PKG_CONFIG_PATH=$D/usr/lib/pkgconfig pkg-config --variable=libdir labdaq 2>&1)" /usr/lib
	is "labdaq.pc: includedir is /usr/include (PREFIX=/usr)" \
		"$(PKG_CONFIG_PATH=$D/usr/lib/pkgconfig pkg-config --variable=includedir labdaq 2>&1)" \
		/usr/include

	cat >"$T/t.c" <<'EOF'
#include <labdaq.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
	labdaq_device *dev;
	uint32_t w, h;

	printf("%s\n", labdaq_version());
	if (labdaq_device_open("sim:camera?width=4&height=2", &dev))
		return 2;
	if (labdaq_device_kind(dev) != LABDAQ_KIND_FRAMES ||
	    labdaq_device_frame_shape(dev, &w, &h) || w != 4 || h != 2)
		return 3;
	labdaq_device_close(dev);
	return 0;
}
EOF
	flags=$(pc --cflags --libs 2>"$T/pc.err")
	diag "pkg-config --cflags --libs labdaq: $flags"
	# shellcheck disable=SC2086 # the flags are words
	if cc -Wall -Werror -o "$T/t" "$T/t.c" $flags 2>"$T/cc.err"; then
		ok "a program built with \$(pkg-config --cflags --libs labdaq) against DESTDIR links"
	else
		not_ok "a program built with \$(pkg-config --cflags --libs labdaq) against DESTDIR links"
		diag <"$T/pc.err"
		diag <"$T/cc.err"
	fi
	want_version=$("$LABDAQ" --version | awk 'NR == 1 {print $2}')
	if [ -x "$T/t" ]; then
		out=$(LD_LIBRARY_PATH=$D/usr/lib "$T/t" 2>&1)
		is "it runs against the installed .so and prints labdaq_version()" "$out" "$want_version"
		if LD_LIBRARY_PATH=$D/usr/lib ldd "$T/t" 2>/dev/null |
			grep -q "$D/usr/lib/liblabdaq.so.$SOV"; then
			ok "it loads the installed liblabdaq.so.$SOV"
		else
			not_ok "it loads the installed liblabdaq.so.$SOV"
			LD_LIBRARY_PATH=$D/usr/lib ldd "$T/t" 2>&1 | diag
		fi
	else
		skip "running the pkg-config-built program: it did not build"
		skip "loading the installed .so: the program did not build"
	fi

	# The same program with explicit flags: the installed .so itself,
	# whatever labdaq.pc says.
	if cc -Wall -Werror -o "$T/te" "$T/t.c" -I"$D/usr/include" -L"$D/usr/lib" -llabdaq \
		2>"$T/cce.err" && [ "$(LD_LIBRARY_PATH=$D/usr/lib "$T/te" 2>&1)" = "$want_version" ]; then
		ok "the same program built with -I/-L into DESTDIR links and runs against the .so"
	else
		not_ok "the same program built with -I/-L into DESTDIR links and runs against the .so"
		diag <"$T/cce.err"
	fi

	# Static: the .a and the private dependencies from pkg-config --static.
	sflags=$(pc --static --cflags --libs 2>/dev/null | sed "s#-llabdaq#$D/usr/lib/liblabdaq.a#")
	# shellcheck disable=SC2086
	if cc -o "$T/ts" "$T/t.c" $sflags 2>"$T/ccs.err" &&
		[ "$("$T/ts")" = "$want_version" ] && ! ldd "$T/ts" | grep -q liblabdaq; then
		ok "a program linked with liblabdaq.a and pkg-config --static runs without the .so"
	else
		not_ok "a program linked with liblabdaq.a and pkg-config --static runs without the .so"
		grep -v 'undefined reference\|in function' "$T/ccs.err" | head -n 5 | diag
		diag "undefined: $(grep -oE "undefined reference to \`[a-z_0-9]+" "$T/ccs.err" |
			sed 's/.*`//' | sort -u | head -n 8 | tr '\n' ' ')..."
	fi
else
	skip "no pkg-config"
fi

# The header stands alone, in C99 and C++.
if printf '#include <labdaq.h>\n' | cc -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only \
	-I"$D/usr/include" -x c - 2>"$T/h.err"; then
	ok "labdaq.h compiles alone as C99 with -Wall -Wextra -pedantic"
else
	not_ok "labdaq.h compiles alone as C99 with -Wall -Wextra -pedantic"
	diag <"$T/h.err"
fi
if command -v c++ >/dev/null; then
	if printf '#include <labdaq.h>\nint main() { return labdaq_version() ? 0 : 1; }\n' |
		c++ -Wall -Werror -fsyntax-only -I"$D/usr/include" -x c++ - 2>"$T/hxx.err"; then
		ok "labdaq.h compiles as C++"
	else
		not_ok "labdaq.h compiles as C++"
		diag <"$T/hxx.err"
	fi
fi

# ---- exported symbols ------------------------------------------------------------
SO=$D/usr/lib/liblabdaq.so.$V
nm -D --defined-only "$SO" 2>/dev/null | awk '$2 != "A" {sub(/@.*/, "", $3); print $3}' |
	sort -u >"$T/exported"
others=$(grep -v '^labdaq_' "$T/exported" | tr '\n' ' ')
if [ -s "$T/exported" ] && [ -z "$others" ]; then
	ok "the .so exports only labdaq_* symbols ($(wc -l <"$T/exported"))"
else
	not_ok "the .so exports only labdaq_* symbols"
	diag "also exported: ${others:-nothing at all is exported}"
fi
grep -E 'LABDAQ_API' "$D/usr/include/labdaq.h" | grep -oE '\blabdaq_[a-z0-9_]+\(' | tr -d '(' |
	sort -u >"$T/declared"
unexported=$(comm -23 "$T/declared" "$T/exported" | tr '\n' ' ')
if [ ! -s "$T/declared" ]; then
	not_ok "every function labdaq.h declares is exported"
	diag "no LABDAQ_API function found in labdaq.h: nothing was compared"
else
	is "every function labdaq.h declares ($(wc -l <"$T/declared")) is exported" \
		"${unexported:-none}" none
fi
if nm -D "$SO" | grep -qE '@@LABDAQ_[0-9]+\.[0-9]+$'; then
	ok "the symbols are versioned (LABDAQ_x.y nodes of lib/labdaq.map)"
else
	not_ok "the symbols are versioned (LABDAQ_x.y nodes of lib/labdaq.map)"
fi

# ---- uninstall ---------------------------------------------------------------------
"$MAKE" --no-print-directory -C "$TOP" uninstall DESTDIR="$D" PREFIX=/usr >"$T/uninstall.log" 2>&1
rc=$?
is "make uninstall DESTDIR=... PREFIX=/usr: exit 0" "$rc" 0 || tail -n 20 "$T/uninstall.log" | diag
left=$(cd "$D" 2>/dev/null && find . ! -type d | sort | tr '\n' ' ')
is "make uninstall leaves no file behind" "${left:-none}" none

finish
