#!/usr/bin/env bash
# test_durable_end.sh - the end of a run is durable in the right order: the
# data, then the .npy header with the final count, each made durable
# (fdatasync) before the final sidecar that says "complete" is put in place.
# A power loss at any moment then leaves either a running sidecar or a
# complete one whose header is already on disk.  Read from strace -f of
# a short camera run and of a sample run; and the whole list of a one-frame
# run's flushes.
. "$(dirname "$0")/lib.sh"
require_labdaq

if ! command -v strace >/dev/null; then
	skip "strace is not installed (scripts/install-deps.sh installs it)"
	finish
fi

# order_ok LOG: after the data file's last header write (a pwrite64 at
# offset 0 whose bytes start with numpy's magic, on a file that is not
# NAME.gaps.npy; strace -y names each fd's file) there is an fdatasync of
# the same fd before the last rename of the sidecar (a .json).
order_ok() {
	"$PY" - "$1" <<'PYEOF'
import re, sys
lines = open(sys.argv[1], errors="replace").read().splitlines()
hdr = sync = None
for i, l in enumerate(lines):
    m = re.search(r'pwrite64\((\d+)<[^>]*>(\(deleted\))?, "\\223NUMPY.*, 0\) = \d+', l)
    if '.gaps.npy>' in l:
        continue
    if m:
        hdr, fd, sync = i, m.group(1), None
    elif hdr is not None and re.search(r'fdatasync\(%s<.*\)\s+= 0' % fd, l):
        sync = sync if sync is not None else i
ren = max((i for i, l in enumerate(lines)
           if re.search(r'rename(at2)?\(.*\.json".*= 0', l)), default=None)
print("header", hdr, "fdatasync", sync, "last sidecar rename", ren)
sys.exit(0 if None not in (hdr, sync, ren) and hdr < sync < ren else 1)
PYEOF
}

for spec in "camera:sim:camera?width=64&height=48:--frames:5" "adc:sim:adc:--samples:1000"; do
	IFS=: read -r name b dev count n <<<"$spec"
	strace -f -qq -y -s 8 -e trace=pwrite64,fdatasync,rename,renameat2 \
		-o "$T/$name.strace" "$LABDAQ" acquire "$b:$dev" "$count" "$n" \
		-o "$T/$name.npy" >"$T/$name.out" 2>&1
	is "$name: the run completes under strace" "$?" 0
	check "$name: the final header is made durable before the final sidecar" \
		order_ok "$T/$name.strace"
done

# Write-behind (the buffered path, where O_DIRECT is not taken) starts the
# writeback of what was just written, from the file's start in a file
# shorter than its quarter window: no sync_file_range() is refused (a
# negative offset was, in every file under 2 MiB).
LABDAQ_NO_DIRECT=1 strace -f -qq -e trace=sync_file_range -o "$T/swb.strace" "$LABDAQ" acquire \
	'sim:camera?width=64&height=48' --frames 5 --progress none -o "$T/swb.npy" >/dev/null 2>&1
check "write-behind: sync_file_range called, none refused ($(grep -c 'sync_file_range' "$T/swb.strace") calls)" \
	sh -c "grep -q 'sync_file_range(.*= 0' '$T/swb.strace' && ! grep -q 'sync_file_range(.*= -1' '$T/swb.strace'"

# flushes LOG: the flushes, renames and links of one run, in order, one
# letter each: S fsync of the sidecar's spare, R its rename into place,
# L the data file's link (its name, after the first sidecar), D fdatasync of
# the data file, F fsync of the directory, ? anything else.
flushes() {
	"$PY" - "$1" <<'PYEOF'
import re, sys
out = []
for l in open(sys.argv[1], errors="replace"):
    if not re.search(r"= 0$", l.strip()):
        continue
    if re.search(r"fsync\(\d+<[^>]*\.json\.tmp>", l):
        out.append("S")
    elif "fdatasync(" in l:
        out.append("D")
    elif re.search(r"fsync\(\d+<[^>]*>\)", l):
        out.append("F")
    elif re.search(r"rename(at2)?\(.*\.json\"", l):
        out.append("R")
    elif "linkat(" in l:
        out.append("L")
    else:
        out.append("?")
print(" ".join(out))
PYEOF
}

# The flushes of a one-frame run, each needed (BENCHMARKS.md, "Point 4",
# says why), and no more: the first sidecar fsync'd (S) and renamed into
# place (R) without an fsync of the directory (its rename becomes durable
# with the end's); the data file named (L); at the end the data (D), the
# header that counts it (D), the final sidecar (S), its exchange (R) and
# the directory (F).  Six flushes before: an F after the first R.
strace -f -qq -y -s 8 -e trace=fsync,fdatasync,rename,renameat2,linkat \
	-o "$T/one.strace" "$LABDAQ" acquire 'sim:camera?width=64&height=64' --frames 1 \
	--progress none -o "$T/one.npy" >"$T/one.out" 2>&1
is "one frame: the run completes under strace" "$?" 0
seq=$(flushes "$T/one.strace")
case $seq in
"S R L D D S R F" | "S R D D S R F") ok "one frame: five flushes, in order ($seq)" ;;
*)
	not_ok "one frame: five flushes, in order (S R L D D S R F)"
	diag "seen: $seq"
	;;
esac
finish
