# 80-usb-gadget.sh - the emulated USB devices enumerate as the real ones do:
# the fx2lafw board (sigrok FX2 8ch, 1d50:608c) with its strings and its
# bulk IN endpoint 0x82, the FX2 in its boot state (04b4:8613, no strings),
# the generic streamer; the gadget answers fx2lafw's vendor requests.
. /tests/lib.sh
. /tests/usb-lib.sh

dmesg_mark
need_gadget "usb gadget enumeration"
ok "dummy_hcd, libcomposite and usb_f_fs load; UDC $(ls /sys/class/udc | tr '\n' ' ')"

if gadget_start fx2lafw; then ok "fx2lafw board: plugged in and configured by the host"; else not_ok "fx2lafw board: plugged in and configured by the host"; fi
lsusb -v -d 1d50:608c >$W/lsusb.txt 2>&1
note "lsusb: $(lsusb 2>&1 | tr '\n' ';')"
grep -E 'idVendor|idProduct|iManufacturer|iProduct|iSerial|bInterfaceNumber|bEndpointAddress|wMaxPacketSize|bNumEndpoints' \
	$W/lsusb.txt | sed 's/^ *//' | tr -s ' ' | while IFS= read -r l; do note "  $l"; done
check "lsusb: 1d50:608c, manufacturer sigrok, product fx2lafw, serial 'sigrok FX2 8ch'" \
	sh -c "grep -q 'iManufacturer.*sigrok' $W/lsusb.txt && grep -q 'iProduct.*fx2lafw' $W/lsusb.txt && grep -q 'iSerial.*sigrok FX2 8ch' $W/lsusb.txt"
ep_ok() {
	# interface 0 has one endpoint: 0x82, bulk IN, 512 bytes (high speed)
	awk '/bInterfaceNumber/ { i = $2 } /bEndpointAddress/ { if (i == 0) print $2 }' \
		$W/lsusb.txt >$W/eps.txt
	[ "$(cat $W/eps.txt)" = 0x82 ] &&
		[ "$(gstat endpoint)" = 0x82 ] &&
		grep -q 'wMaxPacketSize *0x0200' $W/lsusb.txt
}
check "interface 0 has bulk IN endpoint 0x82 (512 bytes), as fx2lafw's descriptors say" ep_ok

# The firmware's vendor requests, through usbfs (no libusb program needed:
# the gadget's log says what it saw; sigrok-cli exercises them in 81).
gadget_stop
check "fx2lafw gadget removed itself from configfs on SIGTERM" \
	sh -c "[ ! -e /sys/kernel/config/usb_gadget/labdaq_test ] && ! lsusb | grep -q 1d50:608c"

if gadget_start boot; then ok "FX2 boot state: plugged in and configured"; else not_ok "FX2 boot state: plugged in and configured"; fi
lsusb -v -d 04b4:8613 >$W/lsusb-boot.txt 2>&1
check "boot state: 04b4:8613 without strings (iManufacturer 0, iProduct 0)" \
	sh -c "grep -qE 'iManufacturer +0' $W/lsusb-boot.txt && grep -qE 'iProduct +0' $W/lsusb-boot.txt"
gadget_stop

if gadget_start stream --vid-pid 1209:0001 --endpoint 0x86 --dtype u16 --channels 4; then
	ok "generic streamer 1209:0001: plugged in and configured"
else
	not_ok "generic streamer 1209:0001: plugged in and configured"
fi
lsusb -v -d 1209:0001 >$W/lsusb-stream.txt 2>&1
check "generic streamer: bulk IN endpoint 0x86 as asked" \
	sh -c "[ \"\$(awk '/bInterfaceNumber/ { i = \$2 } /bEndpointAddress/ { if (i == 0) print \$2 }' $W/lsusb-stream.txt)\" = 0x86 ]"
gadget_stop
sed 's/^/    /' $GLOG | tail -n 20 | while IFS= read -r l; do note "$l"; done
check "kernel log clean after the gadgets came and went" usb_kernel_clean
exit 0
