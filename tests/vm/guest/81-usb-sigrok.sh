# 81-usb-sigrok.sh - fidelity against the peer: Debian's sigrok-cli takes
# the emulated fx2lafw board for the real thing (its scan, its firmware
# version and REVID requests, its start command), captures, and reads the
# gadget's counter byte for byte, 8 channels (sigrok FX2 8ch, 1d50:608c) and
# 16 channels (sigrok FX2 16ch, 1d50:608d).
. /tests/lib.sh
. /tests/usb-lib.sh

need_gadget "sigrok-cli against the emulated fx2lafw board"
if ! command -v sigrok-cli >/dev/null; then
	skip "sigrok-cli against the emulated fx2lafw board" "sigrok-cli not installed on the host (install-deps.sh vm)"
	exit 0
fi
dmesg_mark

gadget_start fx2lafw || not_ok "fx2lafw board plugged in"
sigrok-cli -d fx2lafw --scan >$W/scan.txt 2>&1
note "sigrok-cli --scan: $(tr '\n' ';' <$W/scan.txt | head -c 300)"
check "sigrok-cli -d fx2lafw --scan finds 'sigrok FX2 LA (8ch)' with 8 channels" \
	grep -q '^fx2lafw:conn=[0-9]*\.[0-9]* - sigrok FX2 LA (8ch) \[S/N: sigrok FX2 8ch\] with 8 channels' $W/scan.txt
gadget_stop

# sigrok_capture NAME RATE SAMPLES DTYPE FLAGS DELAY [GADGET ARGS]: plug a
# board in (one capture per plug: see tests/usb/README.md), capture, compare
sigrok_capture() {
	name=$1 rate=$2 samples=$3 dt=$4 flags=$5 delay=$6
	shift 6
	gadget_start fx2lafw "$@" || not_ok "$name: board plugged in"
	rm -f $W/$name.bin
	t0=$(date +%s)
	timeout 60 sigrok-cli -d fx2lafw --config samplerate=$rate --samples $samples \
		-O binary -o $W/$name.bin >$W/$name.log 2>&1
	rc=$?
	sleep 0.2
	note "$name: sigrok-cli exit $rc in $(($(date +%s) - t0)) s, $(wc -c <$W/$name.bin 2>/dev/null) bytes; gadget: start flags $(gstat flags) delay $(gstat delay), rate $(gstat rate), sent $(gstat sent), lost $(gstat lost); $(tail -n 2 $W/$name.log | tr '\n' ';')"
	check "$name: the start command sigrok-cli sent says $rate Hz as fx2lafw takes it (flags $flags, delay $delay)" \
		[ "$(gstat flags)" = "$flags" -a "$(gstat delay)" = "$delay" ]
	keep $W/$name.bin "$name" $dt $samples
	if [ $rc -eq 0 ] && same_as_pattern $W/$name.bin $dt $samples; then
		ok "$name: sigrok-cli's $samples samples at $rate Hz are the gadget's counter, byte for byte"
	else
		not_ok "$name: sigrok-cli's $samples samples at $rate Hz are the gadget's counter, byte for byte ($(head -c 200 $W/cmp.txt))"
	fi
	check "$name: the gadget lost nothing (lost $(gstat lost))" [ "$(gstat lost)" = 0 ]
	gadget_stop
}

# 2 MHz (8 bits) and 1 MHz (16 bits) are the fastest the emulated bus
# carries for sigrok-cli under qemu's TCG with room to spare (4 MHz loses).
sigrok_capture sigrok-8ch-2M 2000000 1000000 u8 0x40 23
sigrok_capture sigrok-8ch-200k 200000 50000 u8 0x40 239
# 20 kHz: 48 MHz / 20 kHz - 1 = 2399 is over fx2lafw's 6 * 256, so the 30
# MHz clock
sigrok_capture sigrok-8ch-20k 20000 4000 u8 0x00 1499

gadget_start fx2lafw --vid-pid 1d50:608d --serial "sigrok FX2 16ch" ||
	not_ok "16-channel board plugged in"
sigrok-cli -d fx2lafw --scan >$W/scan16.txt 2>&1
check "sigrok-cli finds 'sigrok FX2 LA (16ch)' with 16 channels" \
	grep -q '^fx2lafw:conn=[0-9]*\.[0-9]* - sigrok FX2 LA (16ch) .* with 16 channels' $W/scan16.txt
gadget_stop
sigrok_capture sigrok-16ch-1M 1000000 400000 u16 0x60 47 --vid-pid 1d50:608d --serial "sigrok FX2 16ch"

# A rate the emulated bus cannot carry: the gadget counts what it could not
# send in time, and the data shows the gap (the counter jumps).  A 256 KiB
# FIFO, so that the loss falls inside the capture, and a bus held to 4 MB/s
# (--bus-limit: how fast the emulated bus runs depends on the machine).
gadget_start fx2lafw --fifo 262144 --bus-limit 4000000 || not_ok "board plugged in for the loss check"
timeout 60 sigrok-cli -d fx2lafw --config samplerate=24m --samples 4000000 \
	-O binary -o $W/loss.bin >$W/loss.log 2>&1
sleep 0.2
note "24 MHz: $(wc -c <$W/loss.bin) bytes; gadget: sent $(gstat sent), lost $(gstat lost) in $(gstat overflows) overflows, longest write $(gstat max_write_ms) ms"
check "24 MHz over a 4 MB/s bus: the gadget reports lost samples" \
	[ "$(gstat lost)" -gt 0 ]
check "24 MHz: sigrok-cli's data is not the gap-free counter (the FX2 has no overrun flag: the gap is in the data only)" \
	not_pattern $W/loss.bin u8 4000000
gadget_stop
check "kernel log clean after the sigrok-cli captures" usb_kernel_clean
exit 0
