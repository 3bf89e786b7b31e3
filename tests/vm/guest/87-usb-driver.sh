# 87-usb-driver.sh - a kernel driver bound to the device's interface
# (usbserial's generic driver, given the streamer's IDs): labdaq's claim
# detaches it (libusb's automatic detach) and its release attaches it
# again, on every path: a run that completes, one that fails (its disk
# full), one stopped.  Not after kill -9 (docs/usb.md says so).
. /tests/lib.sh
. /tests/usb-lib.sh

need_gadget "a kernel driver re-attached"
need_labdaq_usb "a kernel driver re-attached"
dmesg_mark
if ! modprobe usbserial vendor=0x1209 product=0x0001 2>$W/modprobe.err; then
	skip "a kernel driver re-attached" "usbserial does not load: $(head -c 200 $W/modprobe.err)"
	exit 0
fi
U='usb:1209:0001?endpoint=0x81&dtype=u16'

# intf_driver: the driver of the streamer's interface 0, or "none"
intf_driver() {
	for d_ in /sys/bus/usb/devices/*:1.0; do
		p_=${d_%:1.0}
		[ "$(cat $p_/idVendor 2>/dev/null):$(cat $p_/idProduct 2>/dev/null)" = 1209:0001 ] ||
			continue
		if [ -e $d_/driver ]; then basename "$(readlink $d_/driver)"; else echo none; fi
		return 0
	done
	echo gone
}
# driver_is NAME: within 3 s
driver_is() {
	i_=0
	while [ "$(intf_driver)" != "$1" ] && [ $i_ -lt 30 ]; do
		sleep 0.1
		i_=$((i_ + 1))
	done
	[ "$(intf_driver)" = "$1" ]
}

gadget_start stream --rate 100000 --dtype u16 || not_ok "streamer plugged in"
check "usbserial_generic binds to the streamer's interface 0 (now: $(intf_driver))" \
	driver_is usbserial_generic

# A run that completes.
rm -f $W/drv-ok.gaps.npy
la_run drv-ok "$U" --rate 100000 --samples 20000
note "completed run: exit $RC; $(summary drv-ok); the driver after it: $(intf_driver)"
check "a run with a kernel driver on the interface completes, its file the counter" \
	rc_and_pattern_npy drv-ok u16
check "after a completed run the kernel driver is attached again ($(intf_driver))" \
	driver_is usbserial_generic

# A run that is stopped; during it the interface is labdaq's (usbfs).
rm -f $W/drv-stop.npy $W/drv-stop.json $W/drv-stop.gaps.npy
labdaq acquire "$U" --rate 100000 --samples 100000000 -o $W/drv-stop.npy --progress none \
	>$W/drv-stop.out 2>$W/drv-stop.err &
LPID=$!
check "during a run the interface is labdaq's: the kernel driver is detached" driver_is usbfs
labdaq stop "$U" >$W/stop.out 2>&1
wait $LPID
RC=$?
note "stopped run: exit $RC; $(summary drv-stop); the driver after it: $(intf_driver)"
check "labdaq stop ends the run (exit 0, status stopped)" \
	sh -c "[ $RC -eq 0 ] && grep -q '\"status\": \"stopped\"' $W/drv-stop.json"
check "after a stopped run the kernel driver is attached again ($(intf_driver))" \
	driver_is usbserial_generic

# A run that fails: its file's filesystem is full.
mkdir -p $W/small
mount -t tmpfs -o size=512k tmpfs $W/small
labdaq acquire "$U" --rate 100000 --samples 2000000 -o $W/small/full.npy --progress none \
	>$W/full.out 2>$W/full.err
RC=$?
note "failing run: exit $RC; $(tail -n 2 $W/full.err | tr '\n' ';' | head -c 300); the driver after it: $(intf_driver)"
check "a run whose disk fills up mid-run fails (exit 1, status failed)" \
	sh -c "[ $RC -eq 1 ] && grep -q '\"status\": \"failed\"' $W/small/full.json"
check "after a failed run the kernel driver is attached again ($(intf_driver))" \
	driver_is usbserial_generic
umount $W/small

gadget_stop
rmmod usbserial 2>/dev/null
exit 0
