# 82-usb-boot.sh - an FX2 in its boot state takes fx2lafw's firmware through
# the chip's 0xa0 requests and comes back as the board the firmware
# describes.  The loader here is the peer, Debian's sigrok-cli (its scan
# uploads Debian's sigrok-firmware-fx2lafw file); the gadget records every
# byte it was sent, which must be that file byte for byte; the board that
# re-enumerates then captures the counter.
. /tests/lib.sh
. /tests/usb-lib.sh

need_gadget "firmware load into the FX2 boot state"
if ! command -v sigrok-cli >/dev/null || [ ! -d /usr/share/sigrok-firmware ]; then
	skip "firmware load into the FX2 boot state" "sigrok-cli or sigrok-firmware-fx2lafw not installed on the host (install-deps.sh vm)"
	exit 0
fi
dmesg_mark

# boot_load VID:PID FIRMWARE NAME: plug the boot-state board in, let
# sigrok-cli load it, compare, capture from what comes back
boot_load() {
	fw=/usr/share/sigrok-firmware/$2
	rm -f $W/$3.fw
	gadget_start boot --vid-pid $1 --record $W/$3.fw ||
		not_ok "$3: boot-state board $1 plugged in"
	check "$3: $1 is on the bus without strings (no firmware)" \
		sh -c "lsusb -v -d $1 2>/dev/null | grep -qE 'iManufacturer +0'"
	sigrok-cli -d fx2lafw --scan >$W/$3.scan 2>&1
	note "$3: first scan: $(tr '\n' ';' <$W/$3.scan | head -c 250)"
	wait_for 10 sh -c "grep -q '^state=bound' $GSTATS && grep -q '^enabled=1' $GSTATS"
	note "$3: gadget: $(grep -E 'CPUCS|recorded|plugged' $GLOG | tail -n 4 | tr '\n' ';')"
	if cmp $W/$3.fw $fw >$W/$3.cmp 2>&1; then
		ok "$3: the firmware the board received is $2 byte for byte ($(wc -c <$fw) bytes in $(gstat fw_requests) requests)"
	else
		not_ok "$3: the firmware the board received is $2 byte for byte ($(cat $W/$3.cmp), $(wc -c <$W/$3.fw 2>/dev/null) bytes received)"
	fi
	check "$3: after the 8051 left reset, $1 came back with the firmware's strings (sigrok, fx2lafw)" \
		wait_for 10 sh -c "lsusb -v -d $1 2>/dev/null | grep -q 'iManufacturer.*sigrok' && lsusb -v -d $1 2>/dev/null | grep -q 'iProduct.*fx2lafw'"
	sigrok-cli -d fx2lafw --scan >$W/$3.scan2 2>&1
	note "$3: second scan: $(tr '\n' ';' <$W/$3.scan2 | head -c 250)"
	timeout 60 sigrok-cli -d fx2lafw --config samplerate=1m --samples 100000 \
		-O binary -o $W/$3.bin >$W/$3.log 2>&1
	rc=$?
	# the boards of both files have 16 channels (Cypress FX2) or 8 (Logic)
	dt=u8
	[ "$(wc -c <$W/$3.bin 2>/dev/null)" = 200000 ] && dt=u16
	if [ $rc -eq 0 ] && same_as_pattern $W/$3.bin $dt 100000; then
		ok "$3: the board that came back captures the counter ($dt, 100000 samples)"
	else
		not_ok "$3: the board that came back captures the counter (exit $rc, $(wc -c <$W/$3.bin 2>/dev/null) bytes, $(tail -n 1 $W/$3.log))"
	fi
	gadget_stop
}

boot_load 04b4:8613 fx2lafw-cypress-fx2.fw boot-cypress
boot_load 0925:3881 fx2lafw-saleae-logic.fw boot-saleae
check "kernel log clean after the firmware loads" usb_kernel_clean
exit 0
