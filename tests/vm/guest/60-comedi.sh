# 60-comedi.sh - comedi and comedi_test load (auto-configured, and attached
# by hand with comedi_config); labdaq list and info show what the driver
# declares; permissions.
. /tests/lib.sh

dmesg_mark
check "modprobe comedi comedi_num_legacy_minors=1" modprobe comedi comedi_num_legacy_minors=1
check "modprobe comedi_test amplitude=2000000 period=50000 (auto-configures /dev/comedi1)" \
	modprobe comedi_test amplitude=2000000 period=50000
check "comedi_config /dev/comedi0 comedi_test 1000000,100000 (attached by hand)" \
	comedi_config /dev/comedi0 comedi_test 1000000,100000
check "/dev/comedi0 and /dev/comedi1 exist" [ -c /dev/comedi0 -a -c /dev/comedi1 ]
dmesg_new | grep -i comedi | while IFS= read -r l; do note "dmesg: $l"; done
comedi_board_info /dev/comedi0 >/tmp/board_info.txt 2>&1
note "comedi_board_info: $(tr '\n' ';' </tmp/board_info.txt | head -c 300)"

. /tests/comedi-lib.sh
need_comedi "labdaq list and info of comedi_test"

labdaq list >$W/list.txt 2>&1
rc=$?
note "labdaq list: $(grep comedi $W/list.txt | tr '\n' ';')"
list_ok() {
	[ $rc -eq 0 ] &&
		grep -q '^comedi:/dev/comedi0 .*comedi_test (driver comedi_test)' $W/list.txt &&
		grep -q '^comedi:/dev/comedi1 .*comedi_test (driver comedi_test)' $W/list.txt
}
check "labdaq list shows /dev/comedi0 and /dev/comedi1 with driver and board" list_ok

labdaq info $DEV0 >$W/info.txt 2>&1
rc=$?
sed 's/^/    /' $W/info.txt | head -n 24 | while IFS= read -r l; do note "$l"; done
info_ok() {
	[ $rc -eq 0 ] || return 1
	[ "$(grep -cE '^  ai[0-7] .*input  V .*<u2  range -10\.\.10( |$)' $W/info.txt)" = 8 ] &&
		[ "$(grep -cE '^  ao[0-7] .*output V .*<u2  range -10\.\.10( |$)' $W/info.txt)" = 8 ] &&
		grep -q '^channels: *16$' $W/info.txt &&
		grep -q 'inputs: subdevice 0 (ai, 8 ch, maxdata 65535, streams) ranges 0:-10\.\.10 V 1:-5\.\.5 V' $W/info.txt &&
		grep -q 'outputs: subdevice 1 (ao, 8 ch, maxdata 65535)' $W/info.txt
}
check "info comedi:0: 8 inputs and 8 outputs, uint16, maxdata 65535, ranges +-10 V and +-5 V, streams" info_ok

labdaq info "$DEV0?range=1" >$W/info1.txt 2>&1
check "info ?range=1: the inputs take -5..5 V" \
	[ "$(grep -cE '^  ai[0-7] .*range -5\.\.5( |$)' $W/info1.txt)" = 8 ]
labdaq info "comedi:/dev/comedi0?range=0,1" >$W/info2.txt 2>&1
check "info ?range=0,1: ai0 takes -10..10 V, ai1 -5..5 V, ai2 range 0" \
	sh -c "grep -qE '^  ai0 .*range -10\.\.10( |$)' $W/info2.txt && grep -qE '^  ai1 .*range -5\.\.5( |$)' $W/info2.txt && grep -qE '^  ai2 .*range -10\.\.10( |$)' $W/info2.txt"
labdaq info "$DEV0?range=2" >$W/info3.txt 2>&1
rc=$?
note "range=2: exit $rc: $(head -n 1 $W/info3.txt)"
check "info ?range=2: refused (exit 2), the message says the channel has 2 ranges" \
	sh -c "[ $rc -eq 2 ] && grep -q 'has 2 ranges' $W/info3.txt"
labdaq info "$DEV0?subdevice=1" >$W/info4.txt 2>&1
check "info ?subdevice=1: the analog output alone (8 outputs, no input)" \
	sh -c "grep -q '^channels: *8$' $W/info4.txt && ! grep -q '^  ai' $W/info4.txt"
labdaq info "comedi:7" >$W/info5.txt 2>&1
rc=$?
check "info comedi:7: no such device (exit 2)" [ $rc -eq 2 ]

# Permissions: a user without access is told about the udev rules; with
# what the rules give (group labdaq, mode 0660), a member of labdaq runs.
echo 'lab:x:1000:1000:lab:/tmp:/bin/sh' >>/etc/passwd
echo 'lab:x:1000:' >>/etc/group
echo 'labdaq:x:1001:lab' >>/etc/group
chmod 0600 /dev/comedi0
su -s /bin/sh lab -c "labdaq info $DEV0" >$W/perm.txt 2>&1
rc=$?
note "as lab without access: exit $rc: $(head -n 1 $W/perm.txt)"
check "without access to /dev/comedi0: refused, pointing to make install-udev" \
	sh -c "[ $rc -ne 0 ] && grep -q 'install-udev' $W/perm.txt"
chgrp labdaq /dev/comedi0 && chmod 0660 /dev/comedi0
su -s /bin/sh lab -c "labdaq acquire $DEV0 -C ai0 --samples 1000 --rate 10k -o /tmp/lab.npy --progress none" >$W/perm2.txt 2>&1
rc=$?
note "as lab in group labdaq: exit $rc: $(head -n 2 $W/perm2.txt | tr '\n' ';')"
check "with group labdaq and mode 0660, a member of labdaq acquires" [ $rc -eq 0 ]
chgrp root /dev/comedi0
exit 0
