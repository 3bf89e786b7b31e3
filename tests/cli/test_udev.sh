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

# The hook on a fake sysfs tree shaped like labdaq_sim's (the modes the IIO
# core gives: u+w on every channel attribute it has a write_raw for, even
# in_*_raw and scales, which the driver refuses).
hook=$TOP/udev/labdaq-udev-setup
fs=$T/sys
dev=$fs/devices/platform/labdaq-sim/iio:device0
mkdir -p "$dev/buffer" "$dev/buffer0" "$dev/scan_elements" "$dev/power"
mk() { # MODE FILE...
	local m=$1 f
	shift
	for f in "$@"; do : >"$dev/$f" && chmod "$m" "$dev/$f"; done
}
writable="sampling_frequency out_voltage0_raw resistance_ohms noise_seed mode
current_timestamp_clock out_voltage0_scale buffer/length buffer/enable
buffer/watermark buffer0/enable scan_elements/in_voltage0_en"
fixed="uevent in_voltage0_raw in_current0_raw in_voltage0_scale in_current0_scale
in_voltage0_offset scan_elements/in_voltage0_index power/control"
readonly_="name dev overruns mode_available sampling_frequency_available
out_voltage0_scale_available buffer/data_available scan_elements/in_voltage0_type"
# shellcheck disable=SC2086 # lists of names
{ mk 0644 $writable $fixed; mk 0444 $readonly_; }
# a group that is not root's or the user's own: nogroup when root may chgrp
if [ "$(id -u)" -eq 0 ]; then grp=nogroup; else grp=$(id -gn); fi
LABDAQ_UDEV_SYSFS=$fs LABDAQ_GROUP=$grp "$hook" "$dev" >"$T/hook.out" 2>&1
is "the hook runs on a fake sysfs tree: exit 0" "$?" 0
modes() { # want MODE GROUP|-: every listed file has it
	local want=$1 g=$2 f got bad=
	shift 2
	for f in "$@"; do
		got=$(stat -c '%a %G' "$dev/$f")
		case $g in
		-) [ "${got% *}" = "$want" ] || bad="$bad $f:$got" ;;
		*) [ "$got" = "$want $g" ] || bad="$bad $f:$got" ;;
		esac
	done
	[ -z "$bad" ] || { echo "wrong:$bad"; return 1; }
}
# shellcheck disable=SC2086
{
check "settable attributes become 0664, group $grp" modes 664 "$grp" $writable
check "uevent, in_*_raw, fixed scales and offsets, *_index, power/ stay 0644" \
	modes 644 - $fixed
check "read-only attributes stay 0444" modes 444 - $readonly_
}
ww=$(find "$fs" -perm -0002 | head -n 3)
is "nothing world-writable" "$ww" ""

# getent missing: loud, not exit 0 doing nothing.  PATH holds what the
# hook needs but getent.
mkdir -p "$T/bin"
for c in sh stat cut chgrp chmod logger cat; do
	p=$(command -v "$c") && ln -sf "$p" "$T/bin/$c"
done
chmod 0644 "$dev/sampling_frequency"
PATH=$T/bin LABDAQ_UDEV_SYSFS=$fs LABDAQ_GROUP=$grp "$T/bin/sh" "$hook" "$dev" \
	>"$T/noget.out" 2>&1
is "without getent the hook fails: exit 3" "$?" 3
check_grep "... and says so on stderr" "$T/noget.out" "getent not found.*libc-bin"
is "... and opens nothing" "$(stat -c %a "$dev/sampling_frequency")" 644
LABDAQ_UDEV_SYSFS=$fs LABDAQ_GROUP=labdaq-no-such-group "$hook" "$dev" >"$T/nogrp.out" 2>&1
is "an unknown group: exit 3" "$?" 3
check_grep "... naming make install-udev" "$T/nogrp.out" "no group labdaq-no-such-group.*make install-udev"
LABDAQ_UDEV_SYSFS=$fs "$hook" "$fs/devices/../../etc" >"$T/dots.out" 2>&1
is "a path with .. is refused: exit 2" "$?" 2

make -s -C "$TOP" uninstall-udev DESTDIR="$T/root" PREFIX=/usr >/dev/null 2>&1
left=$(find "$T/root" -type f | wc -l)
is "make uninstall-udev removes what it installed" "$left" 0
finish
