#!/usr/bin/env python3
"""check_usb.py DIR - the host's look, with numpy, at the captures the usb
guest tests kept (tests/vm/guest/8N-usb-*.sh copy them to /share/out/usb).
For each NAME.expect, "ok - what" / "not ok - what" lines:

  counter DTYPE COUNT    NAME.bin is COUNT items of DTYPE (u8, u16, u32,
                         little-endian) whose value is their index: the
                         pattern the emulated device (tests/usb/fx2gadget.c)
                         sends, computed here independently of it
  npy DTYPE COUNT        NAME.npy (a labdaq file) holds the same counter,
                         COUNT samples, in its items in file order
  same OTHER             NAME.bin is byte for byte OTHER.bin
"""
import os
import sys

try:
    import numpy as np
except ImportError:
    print("ok - usb capture checks # SKIP no numpy")
    sys.exit(0)

DTYPES = {"u8": "<u1", "u16": "<u2", "u32": "<u4"}


def check(what, cond):
    print(("ok - " if cond else "not ok - ") + what)


def counter(name, a, dtype, count):
    want = np.arange(count, dtype=np.uint64).astype(DTYPES[dtype])
    a = a.reshape(-1)
    if len(a) != count:
        check("host: %s holds %d items, not %d" % (name, len(a), count), False)
        return
    bad = np.nonzero(a != want)[0]
    what = "host: %s is the %s counter 0..%d, item for item" % (name, dtype, count - 1)
    if len(bad):
        what += " (first difference at item %d: %d, not %d)" % (
            bad[0], a[bad[0]], want[bad[0]])
    check(what, len(bad) == 0)


def main(d):
    for e in sorted(os.listdir(d)):
        if not e.endswith(".expect"):
            continue
        name = e[:-7]
        words = open(os.path.join(d, e)).read().split()
        base = os.path.join(d, name)
        try:
            if words[0] == "counter":
                a = np.fromfile(base + ".bin", dtype=DTYPES[words[1]])
                counter(name, a, words[1], int(words[2]))
            elif words[0] == "npy":
                a = np.load(base + ".npy")
                counter(name, a.astype(DTYPES[words[1]]), words[1], int(words[2]))
            elif words[0] == "same":
                x = open(base + ".bin", "rb").read()
                y = open(os.path.join(d, words[1] + ".bin"), "rb").read()
                check("host: %s and %s are the same %d bytes" % (name, words[1], len(x)),
                      len(x) > 0 and x == y)
        except Exception as ex:  # noqa: BLE001 - any failure is the finding
            check("host: %s checks (%s)" % (name, ex), False)


if __name__ == "__main__":
    main(sys.argv[1])
