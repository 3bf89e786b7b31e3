#!/usr/bin/env bash
# test_example.sh - examples/stream.c, the library's smallest complete use,
# builds against the public header and the shared library (as a user's
# program does), runs, and its file holds exactly the documented sim:adc
# data.
. "$(dirname "$0")/lib.sh"
require_numpy

if cc -std=c11 -Wall -Wextra -Werror -Wno-unused-parameter -I"$TOP/lib/include" \
	"$TOP/examples/stream.c" -L"$TOP/build" -llabdaq -Wl,-rpath,"$TOP/build" \
	-o "$T/stream" 2>"$T/cc.err"; then
	ok "examples/stream.c builds with -Wall -Wextra -Werror"
else
	not_ok "examples/stream.c builds with -Wall -Wextra -Werror"
	diag <"$T/cc.err"
	finish
fi
run ex "$T/stream" 'sim:adc?channels=2' "$T/ex.npy"
is "the example runs: exit 0" "$RC" 0
check_grep "it showed progress while the run went on" "$T/ex.out" '^[0-9]+/2000 items'
check_grep "it reports the end" "$T/ex.out" '^complete: 2000 written, 0 dropped'
check "its file: 2000 x 2 int16, sample s channel c = (s*(2c+1) + 1000c) mod 65536" \
	"$PY" - "$T/ex.npy" <<'PY'
import sys, numpy as np
a = np.load(sys.argv[1])
assert a.shape == (2000, 2) and a.dtype == np.int16, (a.shape, a.dtype)
s = np.arange(2000)[:, None]
c = np.arange(2)[None, :]
want = ((s * (2 * c + 1) + 1000 * c) % 65536).astype(np.uint16).view(np.int16)
assert (a == want).all()
PY
finish
