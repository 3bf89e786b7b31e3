# 86-usb-udev.sh - the udev set-up end to end, with Debian's systemd-udevd
# and the project's rules as make install-udev installs them: a boot-state
# FX2 plugged in gets its firmware from 62-labdaq-usb.rules (through
# labdaq-usb-firmware, without holding up udev), comes back as fx2lafw in
# group labdaq with mode 0660, and a member of labdaq acquires from it
# without root; a non-member is refused with the hint.  udevd is stopped at
# the end.
. /tests/lib.sh
. /tests/usb-lib.sh

UDEVD=/lib/systemd/systemd-udevd
if [ ! -x "$UDEVD" ] || [ ! -f /etc/udev/rules.d/62-labdaq-usb.rules ]; then
	skip "udev and USB boards" "systemd-udevd or 62-labdaq-usb.rules not staged"
	exit 0
fi
need_gadget "udev and USB boards"
need_labdaq_usb "udev and USB boards"
fw=/usr/share/sigrok-firmware/fx2lafw-cypress-fx2.fw
if [ ! -f $fw ]; then
	skip "udev and USB boards" "sigrok-firmware-fx2lafw not installed on the host"
	exit 0
fi
dmesg_mark

# Users: inlab (a member of labdaq) and outlab (not); 80-udev.sh may have
# made them.
lab_users
chmod 1777 $W
# The rules' helper runs labdaq from where make install-udev (PREFIX=/usr in
# stage_udev) says; in the guest the tool is in /usr/local/bin.
[ -x /usr/bin/labdaq ] || ln -s /usr/local/bin/labdaq /usr/bin/labdaq

mkdir -p /run/udev
"$UDEVD" --daemon --debug >"$W/udevd.log" 2>&1
check "systemd-udevd starts" wait_for 10 udevadm control --ping

rm -f $W/udev.fw
gadget_start boot --record $W/udev.fw || note "boot-state board: not enabled in time (the rule may have loaded it already)"
# the rule's helper loads the firmware; the board comes back as fx2lafw
back() {
	grep -q '^state=bound' $GSTATS && grep -q '^enabled=1' $GSTATS &&
		[ "$(cat /sys/bus/usb/devices/*/manufacturer 2>/dev/null | grep -c sigrok)" -ge 1 ]
}
if wait_for 20 back; then
	ok "plugged in in its boot state, the board got its firmware from the udev rule and came back"
else
	not_ok "plugged in in its boot state, the board got its firmware from the udev rule and came back (gadget: $(tail -n 3 $GLOG | tr '\n' ';'))"
fi
udevadm settle -t 10
note "udevd: $(grep -E 'labdaq-usb-firmware' $W/udevd.log | tail -n 3 | tr '\n' ';' | head -c 400)"
if cmp $W/udev.fw $fw >$W/cmp.txt 2>&1; then
	ok "the firmware the udev-started load sent is fx2lafw-cypress-fx2.fw byte for byte"
else
	not_ok "the firmware the udev-started load sent is fx2lafw-cypress-fx2.fw byte for byte ($(head -c 200 $W/cmp.txt))"
fi
ba=$(usb_path 04b4:8613)
node=/dev/bus/usb/$(printf '%03d/%03d' ${ba%.*} ${ba#*.})
note "the board that came back: usb:$ba, $(ls -l $node 2>&1)"
modes_ok() { [ "$(stat -c '%G %a' $node)" = "labdaq 660" ]; }
check "its node $node is group labdaq, mode 0660" modes_ok

rm -f $W/udev-in.npy
as inlab "labdaq acquire 'usb:fx2lafw?fifo=$LAFIFO' -C D0-D15 --rate 1000000 --samples 100000 -o $W/udev-in.npy --progress none" \
	>$W/udev-in.out 2>$W/udev-in.err
RC=$?
note "as inlab: exit $RC: $(tail -n 1 $W/udev-in.err)"
npy_payload $W/udev-in.npy >$W/udev-in.bin
check "a member of labdaq acquires from it without root: exit 0, the u16 counter" \
	rc_and_pattern $W/udev-in.bin u16 100000
as outlab "labdaq info usb:$ba" >$W/udev-out.out 2>&1
rc=$?
note "as outlab: exit $rc: $(head -n 1 $W/udev-out.out)"
check "a non-member is refused, pointed to make install-udev" \
	sh -c "[ $rc -ne 0 ] && grep -q 'install-udev' $W/udev-out.out"
gadget_stop
udevadm control --exit
cp "$W/udevd.log" "$OUT/udevd-usb.log"
check "kernel log clean after the udev USB checks" usb_kernel_clean
exit 0
