#!/usr/bin/env bash
# test_docs.sh - every example of the README and docs/*.md runs as it is
# written (tests/cli/doc_examples.py extracts the fenced sh and python
# blocks and runs them in order), and none leaves more than 300 MB; `make
# run` shows the demo and keeps only a small file, saying where.
. "$(dirname "$0")/lib.sh"
require_labdaq
require_numpy

# One TAP line of ours per block of theirs.
"$PY" "$TOP/tests/cli/doc_examples.py" "$TOP" "$T" >"$T/docs.out" 2>&1
rc=$?
while IFS= read -r line; do
	case $line in
	"ok "*"# SKIP "*) skip "${line#*# SKIP }" ;;
	"ok "*) ok "${line#ok [0-9]* - }" ;;
	"not ok "*) not_ok "${line#not ok [0-9]* - }" ;;
	"# "*) echo "$line" ;;
	esac
done <"$T/docs.out"
is "doc_examples.py: exit 0" "$rc" 0
nrun=$(grep -c '^ok [0-9]* - ' "$T/docs.out")
if [ "$nrun" -ge 15 ]; then ok "$nrun examples ran"; else not_ok "$nrun examples ran (15 or more expected)"; fi

# The runner can fail: a command that fails, an example that fills the disk.
mkdir -p "$T/fake/docs" "$T/fake/build"
printf '# x\n\n```sh\necho fine\n```\n\n```sh\nfalse\n```\n' >"$T/fake/README.md"
printf '# y\n\n```sh\nfallocate -l 310MB big.bin\n```\n\n```sh as-root\nrm -rf /\n```\n' \
	>"$T/fake/docs/y.md"
"$PY" "$TOP/tests/cli/doc_examples.py" "$T/fake" "$T/fakeout" >"$T/fake.out" 2>&1
frc=$?
if [ "$frc" = 1 ] && grep -q '^ok 1 - README.md:3 sh' "$T/fake.out" &&
	grep -q '^not ok 2 - README.md:7 sh: exit 1' "$T/fake.out" &&
	grep -q '^not ok 3 - docs/y.md:3 sh: exit 0, its files 310 MB' "$T/fake.out" &&
	grep -q '^ok 4 # SKIP docs/y.md:7 sh: not run (as-root)' "$T/fake.out"; then
	ok "the runner fails a failing block and one that leaves 310 MB, skips 'sh as-root'"
else
	not_ok "the runner fails a failing block and one that leaves 310 MB, skips 'sh as-root'"
	diag <"$T/fake.out"
fi

# make run: the demo, then a small file it names (or nothing left).
mkdir -p "$T/demo"
LABDAQ_DEMO_DIR=$T/demo make -s -C "$TOP" run >"$T/run.out" 2>&1
rc=$?
is "make run: exit 0" "$rc" 0 || diag <"$T/run.out"
kept=$(find "$T/demo" -type f -name '*.npy')
size=$(du -sb "$T/demo" | cut -f1)
if [ "$size" -le $((50 * 1000 * 1000)) ]; then
	ok "make run keeps at most 50 MB ($size bytes)"
else
	not_ok "make run keeps at most 50 MB ($size bytes)"
fi
if [ -z "$kept" ] || grep -qF "$kept" "$T/run.out"; then
	ok "make run says where the file it kept is (or keeps none)"
else
	not_ok "make run says where the file it kept is (or keeps none)"
	diag <"$T/run.out"
fi
check_grep "make run shows the run's progress and end" "$T/run.out" 'complete: [0-9]+ acquired'
# The rm line it prints removes every file the run left (data, sidecar, gaps).
rmline=$(sed -n 's/^  \(rm .*\)$/\1/p' "$T/run.out")
(cd "$TOP" && eval "$rmline") 2>/dev/null
left=$(find "$T/demo" -type f | tr '\n' ' ')
if [ -n "$rmline" ] && [ -z "$left" ]; then
	ok "make run's rm line removes every file the run left"
else
	not_ok "make run's rm line removes every file the run left (left: $left)"
fi
finish
