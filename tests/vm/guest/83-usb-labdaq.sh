# 83-usb-labdaq.sh - labdaq's usb backend against the emulated devices:
# fx2lafw boards at several rates, 8 and 16 channels, byte for byte, and
# the same bytes as sigrok-cli for the same capture; the URI spellings
# (usb:fx2lafw, ?serial=, usb:BUS.ADDR); the generic bulk streamer; the
# firmware load from the boot state.
. /tests/lib.sh
. /tests/usb-lib.sh

need_gadget "labdaq against the emulated USB devices"
need_labdaq_usb "labdaq against the emulated USB devices"
dmesg_mark

# la_capture NAME URI CHAN RATE SAMPLES DTYPE [GADGET ARGS]: a fresh board,
# a labdaq capture; the file is the counter, the run OK, nothing lost
la_capture() {
	name=$1 uri=$2 chan=$3 rate=$4 samples=$5 dt=$6
	shift 6
	gadget_start fx2lafw "$@" || not_ok "$name: board plugged in"
	la_run "$name" "$uri" -C "$chan" --rate "$rate" --samples "$samples"
	note "$name: labdaq exit $RC; gadget: flags $(gstat flags) delay $(gstat delay) rate $(gstat rate) sent $(gstat sent) lost $(gstat lost); $(summary $name)"
	check "$name: labdaq acquire $uri -C $chan --rate $rate: exit 0, status complete, $samples samples written" \
		run_complete $name $samples
	npy_payload $W/$name.npy >$W/$name.bin
	keep $W/$name.bin "$name" $dt $samples
	if same_as_pattern $W/$name.bin $dt $samples; then
		ok "$name: labdaq's $samples samples are the gadget's counter, byte for byte"
	else
		not_ok "$name: labdaq's $samples samples are the gadget's counter, byte for byte ($(head -c 200 $W/cmp.txt))"
	fi
	check "$name: the gadget lost nothing (lost $(gstat lost))" [ "$(gstat lost)" = 0 ]
	gadget_stop
}

la_capture la-8ch-2M "usb:fx2lafw?fifo=$LAFIFO" D0-D7 2000000 1000000 u8
# The transfers' buffers are usbfs memory (libusb_dev_mem_alloc: the URBs
# fill them in place), every one of them; the captures above and below
# check the bytes they carry.
gadget_start fx2lafw || not_ok "board plugged in for the usbfs memory check"
la_run la-mapped "usb:fx2lafw?fifo=$LAFIFO" -v -C D0-D7 --rate 12000000 --samples 1000000
line=$(grep -o '[0-9]* transfers of [0-9]* bytes in flight ([0-9]* in usbfs memory)' $W/la-mapped.err)
note "la-mapped: exit $RC: $line"
check "every transfer's buffer is usbfs memory (${line:-no debug line})" \
	sh -c "[ $RC -eq 0 ] && echo '$line' | awk '{ exit !(\$1 > 0 && \$1 == substr(\$8, 2)) }'"
gadget_stop
la_capture la-8ch-200k "usb:fx2lafw?fifo=$LAFIFO" D0-D7 200000 100000 u8
la_capture la-8ch-20k "usb:fx2lafw?fifo=$LAFIFO" D0-D7 20000 10000 u8
la_capture la-16ch-1M "usb:fx2lafw?fifo=$LAFIFO" D0-D15 1000000 400000 u16 \
	--vid-pid 1d50:608d --serial "sigrok FX2 16ch"
la_capture la-8ch-serial "usb:fx2lafw?serial=LAB-7&fifo=$LAFIFO" D0-D7 1000000 100000 u8 --serial LAB-7
gadget_start fx2lafw --serial LAB-7 || not_ok "board LAB-7 plugged in"
la_run la-other 'usb:fx2lafw?serial=LAB-8' -C D0-D7 --rate 1000000 --samples 1000
note "serial=LAB-8 with only LAB-7 plugged in: exit $RC: $(head -n 1 $W/la-other.err)"
check "usb:fx2lafw?serial=LAB-8 with only LAB-7 plugged in: exit 2, the message names LAB-8" \
	sh -c "[ $RC -eq 2 ] && grep -q LAB-8 $W/la-other.err"
gadget_stop

# usb:BUS.ADDR: the address is the board's at the time
gadget_start fx2lafw || not_ok "board plugged in for usb:BUS.ADDR"
ba=$(usb_path 1d50:608c)
la_run la-busaddr "usb:$ba?fifo=$LAFIFO" -C D0-D7 --rate 1000000 --samples 100000
npy_payload $W/la-busaddr.npy >$W/la-busaddr.bin
check "usb:$ba (lsusb's bus and address): exit 0 and the counter" \
	rc_and_pattern $W/la-busaddr.bin u8 100000
gadget_stop

# The same capture by labdaq and by sigrok-cli: the same bytes.
if command -v sigrok-cli >/dev/null; then
	for c in "8ch-1M 1000000 200000 D0-D7" "16ch-1M 1000000 200000 D0-D15"; do
		set -- $c
		ga=
		[ "$4" = D0-D15 ] && ga="--vid-pid 1d50:608d"
		gadget_start fx2lafw $ga || not_ok "board plugged in"
		la_run "peer-la-$1" "usb:fx2lafw?fifo=$LAFIFO" -C $4 --rate $2 --samples $3
		npy_payload $W/peer-la-$1.npy >$W/peer-la-$1.bin
		gadget_stop
		gadget_start fx2lafw $ga || not_ok "board plugged in"
		timeout 60 sigrok-cli -d fx2lafw --config samplerate=$2 --samples $3 \
			-O binary -o $W/peer-sr-$1.bin >$W/peer-sr-$1.log 2>&1
		gadget_stop
		if [ -s $W/peer-la-$1.bin ] && cmp $W/peer-la-$1.bin $W/peer-sr-$1.bin >$W/cmp.txt 2>&1; then
			ok "$1: labdaq's bytes are sigrok-cli's bytes for the same capture ($3 samples at $2 Hz, $4)"
		else
			not_ok "$1: labdaq's bytes are sigrok-cli's bytes for the same capture ($(head -c 200 $W/cmp.txt))"
		fi
	done
else
	skip "labdaq's bytes are sigrok-cli's bytes" "sigrok-cli not installed on the host"
fi

# The generic bulk streamer: u16 x 4 channels from endpoint 0x86.
gadget_start stream --vid-pid 1209:0001 --endpoint 0x86 --dtype u16 --channels 4 ||
	not_ok "generic streamer plugged in"
la_run la-stream 'usb:1209:0001?endpoint=0x86&dtype=u16&channels=4' --samples 50000 --rate 100000
note "la-stream: exit $RC; $(summary la-stream); gadget sent $(gstat sent)"
npy_payload $W/la-stream.npy >$W/la-stream.bin
keep $W/la-stream.bin la-stream u16 200000
check "generic streamer: labdaq's 50000 samples x 4 channels are the u16 counter, item for item" \
	rc_and_pattern $W/la-stream.bin u16 200000
gadget_stop

# Firmware load from the boot state, by labdaq.
fw=/usr/share/sigrok-firmware/fx2lafw-cypress-fx2.fw
if [ -f $fw ]; then
	rm -f $W/la-boot.fw
	gadget_start boot --record $W/la-boot.fw || not_ok "boot-state board plugged in"
	la_run la-boot "usb:fx2lafw?fifo=$LAFIFO" -C D0-D15 --rate 1000000 --samples 100000
	sleep 0.3
	note "la-boot: exit $RC; $(tail -n 3 $W/la-boot.err | tr '\n' ';'); gadget: $(grep -E 'CPUCS|recorded|plugged' $GLOG | tail -n 3 | tr '\n' ';')"
	if cmp $W/la-boot.fw $fw >$W/cmp.txt 2>&1; then
		ok "labdaq loaded the boot-state FX2: the board received fx2lafw-cypress-fx2.fw byte for byte"
	else
		not_ok "labdaq loaded the boot-state FX2: the board received fx2lafw-cypress-fx2.fw byte for byte ($(head -c 200 $W/cmp.txt))"
	fi
	npy_payload $W/la-boot.npy >$W/la-boot.bin
	check "labdaq then acquired from the board that came back: exit 0, the u16 counter" \
		rc_and_pattern $W/la-boot.bin u16 100000
	gadget_stop
else
	skip "labdaq loads the boot-state FX2" "sigrok-firmware-fx2lafw not installed on the host"
fi
check "kernel log clean after labdaq's captures" usb_kernel_clean
exit 0
