. /tests/lib.sh
dev=$(sim_dir)
dmesg_mark
echo 1 >"$dev/scan_elements/in_voltage0_en"
for len in 100000 500000 1000000 4000000 1000000000 2147483647; do
	echo $len > $dev/buffer/length
	e=$(echo 1 2>&1 > $dev/buffer/enable)
	note "length $len: enable -> '$e' $(cat $dev/buffer/enable)"
	echo 0 > $dev/buffer/enable 2>/dev/null
done
dmesg_new | head -30 | while IFS= read -r l; do note "$l"; done
echo 0 >"$dev/scan_elements/in_voltage0_en"
echo 2 > $dev/buffer/length
check "kernel clean after huge lengths" kernel_clean
exit 0
