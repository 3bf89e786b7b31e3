#!/usr/bin/env bash
# test_udev.sh - the udev rules grant group access, never world access, and
# install with their hook's real path.
. "$(dirname "$0")/lib.sh"

rules=$(cat "$TOP"/udev/*.rules "$TOP"/udev/*.rules.in)
if printf '%s\n' "$rules" | grep -v '^[[:space:]]*#' | grep -Eq 'MODE="0?[0-7][0-7][2367]"'; then
	not_ok "no rule makes a device world-writable"
	printf '%s\n' "$rules" | grep -E 'MODE=' | diag
else
	ok "no rule makes a device world-writable"
fi
if printf '%s\n' "$rules" | grep -v '^[[:space:]]*#' | grep -q 'GROUP="labdaq", MODE="0660"'; then
	ok "tagged devices get group labdaq, mode 0660"
else
	not_ok "tagged devices get group labdaq, mode 0660"
fi
# Every rule line is KEY op "value" pairs separated by commas.
bad=$(printf '%s\n' "$rules" | grep -v '^[[:space:]]*\(#\|$\)' |
	grep -Ev '^([A-Z_]+(\{[^}]*\})?(==|!=|=|\+=|:=)"[^"]*"(, )?)+$' || true)
if [ -z "$bad" ]; then ok "every rule line is well formed"; else not_ok "every rule line is well formed"; diag "$bad"; fi

make -s -C "$TOP" install-udev DESTDIR="$T/root" PREFIX=/usr >"$T/inst.out" 2>&1
is "make install-udev DESTDIR=... works" "$?" 0
inst="$T/root/etc/udev/rules.d/61-labdaq-group.rules"
if grep -q 'RUN+="/usr/lib/labdaq/labdaq-udev-setup %S%p"' "$inst" 2>/dev/null &&
	[ -x "$T/root/usr/lib/labdaq/labdaq-udev-setup" ] && ! grep -q '@' "$inst"; then
	ok "the installed rule runs the hook at its installed path"
else
	not_ok "the installed rule runs the hook at its installed path"
	diag <"$T/inst.out"
fi
"$TOP/udev/labdaq-udev-setup" /tmp >"$T/hook.out" 2>&1
is "the hook refuses a path outside /sys: exit 2" "$?" 2
make -s -C "$TOP" uninstall-udev DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>&1
left=$(find "$T/root" -type f | wc -l)
is "make uninstall-udev removes what it installed" "$left" 0
finish
