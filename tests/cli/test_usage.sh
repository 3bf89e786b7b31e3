#!/usr/bin/env bash
# test_usage.sh - the command as a user meets it: every bad input is
# refused with exit 2 and a message that names the problem, before anything
# starts and without creating a file; an existing file is never replaced
# without --force; the help, list, info and the man page.
. "$(dirname "$0")/lib.sh"
require_labdaq

D=$T/out
mkdir "$D"
cd "$D" || exit 1

# no_files: the output directory holds nothing (no .npy, .json or spare).
no_files() { [ -z "$(ls -A "$D")" ]; }

# bad WHAT ERE ARGS...: labdaq ARGS exits 2, its stderr matches ERE
# (grep -Ei), and no file is created.  With BAD_IN set (an array), labdaq
# runs as its last argument: BAD_IN=(in_tmpfs ...).
BAD_IN=()
bad() {
	local what=$1 re=$2
	shift 2
	rm -rf "${D:?}"/* "$D"/.[!.]* 2>/dev/null
	run bad "${BAD_IN[@]+"${BAD_IN[@]}"}" labdaq "$@"
	if [ "$RC" -eq 2 ] && grep -qEi -- "$re" "$T/bad.err"; then
		ok "$what: exit 2, the message names it (/$re/)"
	else
		not_ok "$what: exit 2, the message names it (/$re/)"
		diag "exit status $RC; stderr:"
		diag <"$T/bad.err"
	fi
	if no_files; then
		ok "$what: no file created"
	else
		not_ok "$what: no file created"
		ls -A "$D" | diag
	fi
}

CAM='sim:camera?width=16&height=8'
bad "unknown device sim:nope" "nope" acquire sim:nope --frames 3 -o o.npy
bad "unknown backend foo:bar" "backend.*foo|foo.*backend" acquire foo:bar --frames 3 -o o.npy
bad "unknown URI key colour" "colour" acquire 'sim:camera?colour=1' --frames 3 -o o.npy
bad "bad URI value width=abc" "width" acquire 'sim:camera?width=abc' --frames 3 -o o.npy
bad "out-of-range URI value width=0" "width" acquire 'sim:camera?width=0' --frames 3 -o o.npy
bad "URI key without a value" "width" acquire 'sim:camera?width' --frames 3 -o o.npy
bad "a frame smaller than its 8-byte index (1x3)" "1x3|8-byte|smaller" acquire \
	'sim:camera?width=1&height=3' --frames 3 -o o.npy
bad "stall_ms without stall_after" "stall_after" acquire "$CAM&stall_ms=5" --frames 3 -o o.npy
bad "bad ring size 12Q" "12Q" acquire "$CAM" --frames 3 --ring 12Q -o o.npy
bad "a ring smaller than one frame" "ring" acquire 'sim:camera' --frames 3 --ring 4k -o o.npy
bad "bad count 12x" "12x" acquire "$CAM" --frames 12x -o o.npy
bad "count 0" "count" acquire "$CAM" --frames 0 -o o.npy
bad "negative count" "-5" acquire "$CAM" --frames -5 -o o.npy
bad "bad duration 3fortnights" "3fortnights" acquire "$CAM" --time 3fortnights -o o.npy
bad "bad rate abc" "rate" acquire "$CAM" --frames 3 --rate abc -o o.npy
bad "negative rate" "rate" acquire "$CAM" --frames 3 --rate -1 -o o.npy
bad "bad --on-full" "on-full" acquire "$CAM" --frames 3 --on-full maybe -o o.npy
bad "bad --progress" "progress" acquire "$CAM" --frames 3 --progress loud -o o.npy
bad "unknown option" "--bogus" acquire "$CAM" --frames 3 --bogus -o o.npy
bad "an extra argument" "extra" acquire "$CAM" extra --frames 3 -o o.npy
bad "missing -o" "-o|output" acquire "$CAM" --frames 3
bad "-o without a value" "-o|value" acquire "$CAM" --frames 3 -o
bad "no device" "device" acquire --frames 3 -o o.npy
bad "no count, time or --continuous" "--frames|--time|--continuous" acquire "$CAM" -o o.npy
bad "--continuous with a count" "continuous" acquire "$CAM" --continuous --frames 3 -o o.npy
bad "--frames on a samples device" "--samples" acquire 'sim:adc' --frames 3 -o o.npy
bad "--samples on a frames device" "--frames" acquire "$CAM" --samples 3 -o o.npy
bad "unknown channel voltage9" "voltage9" acquire 'sim:adc?channels=4' --samples 3 -C voltage9 \
	-o o.npy
bad "a channel given twice" "twice|voltage1" acquire 'sim:adc' --samples 3 -C voltage1,voltage1 \
	-o o.npy
bad "--channels on a camera" "channel" acquire "$CAM" --frames 3 -C intensity -o o.npy
bad "an output not ending in .npy" "\.npy" acquire "$CAM" --frames 3 -o o.dat
bad "a nonexistent directory" "nonexistent" acquire "$CAM" --frames 3 -o "$T/nonexistent/o.npy"

# An unwritable directory: a read-only mount (lib.sh, in_tmpfs: no root
# needed); and, for a user who is not root, a directory without write
# permission (root writes there all the same).
mkdir "$T/ro"
if tmpfs_ok; then
	BAD_IN=(in_tmpfs ro,size=1m "$T/ro" "")
	bad "a directory on a read-only mount" "$T/ro|read-only|cannot write" acquire "$CAM" \
		--frames 3 -o "$T/ro/o.npy"
	BAD_IN=()
else
	skip "a directory on a read-only mount: $NO_TMPFS"
fi
if [ "$(id -u)" -ne 0 ]; then
	mkdir "$T/nowrite" && chmod 555 "$T/nowrite"
	bad "a directory without write permission" "$T/nowrite|permission|cannot write" acquire \
		"$CAM" --frames 3 -o "$T/nowrite/o.npy"
fi

# ---- an existing file is never replaced without --force ------------------------
rm -rf "${D:?}"/*
printf 'precious data\n' >keep.npy
sum0=$(sha256sum keep.npy)
run exist labdaq acquire "$CAM" --frames 3 -o keep.npy
is "an existing output file: exit 2" "$RC" 2
check_grep "an existing output file: the message says it exists" "$T/exist.err" 'exists'
is "an existing output file: not modified" "$(sha256sum keep.npy)" "$sum0"
if [ ! -e keep.json ]; then ok "an existing output file: no sidecar created"; else
	not_ok "an existing output file: no sidecar created"; fi

printf '{"precious": true}\n' >meta.json
sum1=$(sha256sum meta.json)
run existj labdaq acquire "$CAM" --frames 3 -o meta.npy
is "an existing sidecar NAME.json: exit 2" "$RC" 2
check_grep "an existing sidecar: the message names it" "$T/existj.err" 'meta\.json'
is "an existing sidecar: not modified" "$(sha256sum meta.json)" "$sum1"
if [ ! -e meta.npy ]; then ok "an existing sidecar: no data file created"; else
	not_ok "an existing sidecar: no data file created"; fi

head -c 100000 /dev/urandom >keep.npy
printf '{"old": 1}\n' >keep.json
run force labdaq acquire "$CAM" --frames 3 --force -o keep.npy
is "--force replaces an existing file and its sidecar: exit 0" "$RC" 0 || diag <"$T/force.err"
if "$PY" -c 'import numpy' 2>/dev/null; then
	check "--force: the new file holds the new run only, exact" \
		CHECK frames keep.npy --width 16 --height 8 --count 3 --contiguous
	check "--force: the new sidecar" \
		CHECK expr --json keep.json --npy keep.npy "m['status'] == 'complete'" \
		"m['written'] == 3" "'old' not in m" "size == 4096 + 3 * 256"
else
	skip "--force: the data check needs numpy"
fi

# --force, and the start fails after the new files were created: the old
# files come back, byte for byte (the gaps' file of the run above too).
head -c 70000 /dev/urandom >keep.npy
printf '{"old": 2}\n' >keep.json
sumn=$(sha256sum keep.npy) sumj=$(sha256sum keep.json)
ctime0=$(stat -c %z keep.npy)
sleep 0.01
run forcefail labdaq acquire "$CAM&fail_start=1" --frames 3 --force -o keep.npy
is "--force, a start that fails: exit 1" "$RC" 1
check_grep "--force, a start that fails: the message says why" "$T/forcefail.err" \
	'refused to start streaming'
is "--force, a start that fails: the old data file is back" "$(sha256sum keep.npy)" "$sumn"
is "--force, a start that fails: the old sidecar is back" "$(sha256sum keep.json)" "$sumj"
is "--force, a start that fails: nothing else left in the directory" \
	"$(find . -maxdepth 1 -name '*keep*' | sort | tr '\n' ' ')" \
	"./keep.gaps.npy ./keep.json ./keep.npy "
# Renamed aside and back (a rename changes the inode's ctime), not left alone.
if [ "$(stat -c %z keep.npy)" != "$ctime0" ]; then
	ok "--force, a start that fails: the old file was moved aside and back"
else
	not_ok "--force, a start that fails: the old file was moved aside and back"
fi
# Without --force and no file there: nothing is left behind.
run failnew labdaq acquire "$CAM&fail_start=1" --frames 3 -o fresh.npy
is "a start that fails: exit 1" "$RC" 1
is "a start that fails: no files left" "$(find . -maxdepth 1 -name '*fresh*' | wc -l)" 0

# --dry-run checks everything and starts nothing.
rm -rf "${D:?}"/*
run dry labdaq acquire "$CAM" --frames 3 --dry-run -o dry.npy
if [ "$RC" -eq 0 ] && no_files; then ok "--dry-run: exit 0, no file"; else
	not_ok "--dry-run: exit 0, no file"; diag "exit $RC" <"$T/dry.err"; fi

# ---- numbers as documented -----------------------------------------------------
# labdaq(1): "a bare number is seconds" - so is 1e0.
rm -rf "${D:?}"/*
run t1e0 labdaq acquire "$CAM" --time 1e0 --rate 100 -o t1e0.npy
if "$PY" -c 'import numpy' 2>/dev/null; then
	check "--time 1e0 --rate 100 is one second (about 100 frames, 50..130)" \
		CHECK expr --json t1e0.json "m['status'] == 'complete'" "50 <= m['acquired'] <= 130"
fi
run t05 labdaq acquire "$CAM" --time 0.5 --rate 100 -o t05.npy
check "--time 0.5 --rate 100 is half a second (about 50 frames, 25..65)" \
	CHECK expr --json t05.json "m['status'] == 'complete'" "25 <= m['acquired'] <= 65"
run ring5000 labdaq acquire "$CAM" --frames 3 --ring 5000 -o ring.npy
check "--ring 5000 is rounded up to a page (8192)" \
	CHECK expr --json ring.json "m['ring']['capacity_bytes'] == 8192"

# ---- a device is busy while another run holds it --------------------------------
run_bg holder labdaq acquire "$CAM" --continuous --rate 50 -o holder.npy
hpid=$BG_PID
wait_for_json holder.json "m['status'] == 'running'" 30
run busy labdaq acquire "$CAM" --frames 3 -o busy.npy
is "a second run on a busy device: exit 4" "$RC" 4 || diag <"$T/busy.err"
check_grep "a busy device: the message names the holder's pid" "$T/busy.err" "pid $hpid"
if [ ! -e busy.npy ] && [ ! -e busy.json ]; then ok "a busy device: no file created"; else
	not_ok "a busy device: no file created"; fi
kill -TERM "$hpid"
wait_pid "$hpid" 30
is "the holder, stopped with SIGTERM: exit 0" "$RC" 0 || diag <"$T/holder.err"

# ---- help ------------------------------------------------------------------------
run help_acq labdaq help acquire
rc1=$RC
run acq_help labdaq acquire --help
if [ "$rc1" -eq 0 ] && [ "$RC" -eq 0 ] && cmp -s "$T/help_acq.out" "$T/acq_help.out" &&
	[ -s "$T/help_acq.out" ]; then
	ok "'labdaq help acquire' and 'labdaq acquire --help' print the same text, exit 0"
else
	not_ok "'labdaq help acquire' and 'labdaq acquire --help' print the same text, exit 0"
	diff "$T/help_acq.out" "$T/acq_help.out" | head -20 | diag
fi
missing=
for s in 0 1 2 3 130; do
	grep -qE "^ +$s +[a-z]" "$T/help_acq.out" || missing="$missing $s"
done
is "acquire --help lists the exit statuses 0 1 2 3 130" "${missing:-none}" none
for o in --output --samples --frames --time --continuous --rate --channels --ring --on-full \
	--progress --force; do
	grep -q -- "$o" "$T/help_acq.out" || missing="$missing $o"
done
is "acquire --help documents every option" "${missing:-none}" none

run help labdaq help
is "'labdaq help': exit 0" "$RC" 0
cmds=$(sed -n '/^Commands:/,/^$/p' "$T/help.out" | awk 'NF && !/^Commands:/ {print $1}')
missing=
for c in acquire list info inspect recover; do
	grep -qx "$c" <<<"$cmds" || missing="$missing $c"
done
is "'labdaq help' lists acquire, list, info, inspect, recover" "${missing:-none}" none
bad_help=
for c in $cmds; do
	"$LABDAQ" help "$c" >"$T/h1" 2>&1 && "$LABDAQ" "$c" --help >"$T/h2" 2>&1 &&
		cmp -s "$T/h1" "$T/h2" && grep -q "labdaq $c" "$T/h1" || bad_help="$bad_help $c"
done
is "every listed command: 'help CMD' == 'CMD --help', exit 0, a usage line" "${bad_help:-none}" none
run help_nope labdaq help nope
is "'labdaq help nope': exit 2" "$RC" 2
run noargs labdaq
is "'labdaq' alone: exit 2" "$RC" 2
run nocmd labdaq frobnicate
is "an unknown command: exit 2" "$RC" 2
check_grep "an unknown command: the message names it" "$T/nocmd.err" frobnicate
run version labdaq --version
check_grep "--version prints the version" "$T/version.out" '^labdaq [0-9]+\.[0-9]+\.[0-9]+$'
check_grep "--version names the library" "$T/version.out" '^liblabdaq [0-9]+\.[0-9]+\.[0-9]+$'
check_grep "--version: the sim backend is built in" "$T/version.out" '^  sim +built into liblabdaq '
if labdaq --help | grep -qE '^  iio '; then
	v=$(pkg-config --modversion libiio 2>/dev/null | cut -d. -f1,2)
	check_grep "--version: the iio backend's libiio, as loaded ($v)" "$T/version.out" \
		"^  iio +libiio ${v:-[0-9.]+} "
fi
if labdaq --help | grep -qE '^  usb '; then
	v=$(pkg-config --modversion libusb-1.0 2>/dev/null)
	check_grep "--version: the usb backend's libusb, as loaded ($v)" "$T/version.out" \
		"^  usb +libusb ${v:-[0-9.]+}$"
fi
if labdaq --help | grep -qE '^  comedi '; then
	check_grep "--version: the comedi backend's comedilib loads" "$T/version.out" \
		'^  comedi +comedilib \(libcomedi\.so\.0; built with [0-9.]+\)$'
fi

# The backends' libraries are loaded at their first use, not with liblabdaq
# (with their own libraries they cost every start: lib/backends/iio_dl.h,
# comedi_dl.h, usb_dl.h).  For each: liblabdaq.so does not NEED it, and a
# library of that name without its functions is said by --version, by
# opening such a device (what to install) and, for usb, by labdaq list.
# backend library soname Debian-package URI
for spec in "iio libiio libiio.so.0 libiio0 iio:local:x" \
	"usb libusb libusb-1.0.so.0 libusb-1.0-0 usb:fx2lafw" \
	"comedi comedilib libcomedi.so.0 libcomedi0 comedi:/dev/comedi0"; do
	read -r b name so pkg uri <<<"$spec"
	labdaq --help | grep -qE "^  $b " || continue
	lib=${so%%.so*}
	libdir=$(dirname "$LABDAQ")
	if [ -e "$libdir/liblabdaq.so" ] && command -v readelf >/dev/null; then
		if readelf -d "$libdir/liblabdaq.so" | grep -q "NEEDED.*\[$lib\.so"; then
			not_ok "liblabdaq.so does not link $lib (loaded when a $b device is used)"
		else
			ok "liblabdaq.so does not link $lib (loaded when a $b device is used)"
		fi
	fi
	mkdir "$T/fake$b"
	if ! echo 'int labdaq_fake_lib;' | cc -shared -fPIC -x c -o "$T/fake$b/$so" - \
		2>/dev/null; then
		skip "no C compiler to build a fake $so"
		continue
	fi
	LD_LIBRARY_PATH=$T/fake$b run fakever labdaq --version
	is "--version with a $so lacking its functions: exit 0" "$RC" 0
	check_grep "--version with a broken $so: says so" "$T/fakever.out" \
		"^  $b +$name not found \($so has no ${b/usb/libusb}_"
	LD_LIBRARY_PATH=$T/fake$b run fakeacq labdaq acquire "$uri" -n 1 -o "$T/fake$b/x.npy"
	if [ "$RC" -ne 0 ]; then
		ok "acquire $b: with a broken $so: fails (exit $RC)"
	else
		not_ok "acquire $b: with a broken $so: fails (exit $RC)"
	fi
	check_grep "acquire $b: with a broken $so: the message says what to install" \
		"$T/fakeacq.err" "cannot load $name .*install it \(Debian: $pkg\)"
	if [ "$b" = usb ]; then
		LD_LIBRARY_PATH=$T/fake$b run fakelist labdaq list
		is "list with a broken $so: exit 0 (the other backends' devices)" "$RC" 0
		check_grep "list with a broken $so: says that USB devices are not listed" \
			"$T/fakelist.err" "cannot load libusb .*no USB device is listed.*libusb-1.0-0"
	fi
done

# ---- list, info ------------------------------------------------------------------
run list labdaq list
is "labdaq list: exit 0" "$RC" 0
missing=
for d in sim:camera sim:adc sim:ohm; do
	grep -qE "^$d( |$)" "$T/list.out" || missing="$missing $d"
done
is "labdaq list shows sim:camera, sim:adc, sim:ohm" "${missing:-none}" none

run info labdaq info 'sim:adc?channels=3'
is "labdaq info 'sim:adc?channels=3': exit 0" "$RC" 0
check "info sim:adc?channels=3: voltage0..voltage2, inputs in V, and nothing more" \
	bash -c '[ "$(grep -cE "^ +voltage[0-9]+ +input +V " "$1")" = 3 ] &&
		grep -qE "^ +voltage2 +input +V " "$1" && ! grep -q voltage3 "$1"' _ "$T/info.out"
run infoc labdaq info 'sim:camera?width=33&height=17'
check_grep "info camera: the frame shape" "$T/infoc.out" '33 x 17'
run infoo labdaq info 'sim:ohm'
check "info sim:ohm: inputs voltage0 [V] and current0 [A], output voltage0 [V]" \
	bash -c 'grep -qE "^ +voltage0 +input +V " "$1" && grep -qE "^ +current0 +input +A " "$1" &&
		grep -qE "^ +voltage0 +output +V " "$1"' _ "$T/infoo.out"
run infobad labdaq info sim:nope
is "labdaq info sim:nope: exit 2" "$RC" 2

run inspnone labdaq inspect
is "labdaq inspect without a FILE: exit 2" "$RC" 2
run inspmiss labdaq inspect "$T/missing.npy"
is "labdaq inspect a missing file: exit 1" "$RC" 1

# ---- global options before or after the command -----------------------------------
for args in "-v acquire sim:adc --samples 10 -o $T/v1.npy" "acquire sim:adc --samples 10 -v -o $T/v2.npy" \
	"acquire --verbose sim:adc --samples 10 -o $T/v3.npy"; do
	# shellcheck disable=SC2086
	run verbose labdaq $args
	if [ "$RC" = 0 ] && grep -q '^labdaq: debug: ' "$T/verbose.err"; then
		ok "labdaq $args: exit 0, debug lines"
	else
		not_ok "labdaq $args: exit 0, debug lines (exit $RC)"
		diag <"$T/verbose.err"
	fi
done
run help5 labdaq --help
check_grep "labdaq --help lists exit status 5 (stop: nothing to stop)" "$T/help5.out" '5 nothing to stop'

# ---- the man page ---------------------------------------------------------------
if command -v groff >/dev/null; then
	MANPAGE=$TOP/man/labdaq.1
	LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$MANPAGE" >"$T/groff.out" 2>&1
	if [ ! -s "$T/groff.out" ]; then ok "the man page renders without warnings"; else
		not_ok "the man page renders without warnings"; diag <"$T/groff.out"; fi
	LC_ALL=C.UTF-8 groff -man -Tascii -P-cbou "$MANPAGE" 2>/dev/null >"$T/man.txt"
	missing=
	for c in acquire list info inspect recover; do
		grep -qE "^ +$c\$" "$T/man.txt" || missing="$missing $c"
	done
	is "the man page has a section for every command" "${missing:-none}" none
	missing=
	for s in 0 1 2 3 4 5 130; do
		grep -qE "^ +$s +[A-Z]" "$T/man.txt" || missing="$missing $s"
	done
	is "the man page lists the exit statuses" "${missing:-none}" none
	# The sidecar's gaps are documented as {"count": n, "file": ...}, the
	# gaps' file as rows (index, count).
	tr -s ' \n' '  ' <"$T/man.txt" >"$T/man.joined"
	if grep -qE 'gaps \(\{"count": n, "file": "NAME.gaps.npy"\}\)' "$T/man.joined" &&
		grep -qE 'NAME.gaps.npy The gaps: .* one row \(index, count\) per gap' "$T/man.joined"; then
		ok "the man page shows the sidecar's gaps and NAME.gaps.npy's rows (index, count)"
	else
		not_ok "the man page shows the sidecar's gaps and NAME.gaps.npy's rows (index, count)"
		diag "it renders: $(grep -oE '.{0,20}gaps \(.{0,60}' "$T/man.joined")"
	fi
else
	skip "the man page: no groff"
fi

finish
