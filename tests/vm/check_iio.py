#!/usr/bin/env python3
"""check_iio.py DIR - the host's second look at the files the iio backend's
guest tests wrote (tests/vm/guest/5x-iio-*.sh copy them to /share/out/iio).

For each NAME.expect in DIR, one line each of TAP-like output, "ok - what"
or "not ok - what" (tests/vm/run.sh numbers them):

  counter [N] [failed]   NAME.npy loads with numpy (plain and mmap), its
                         rows are exactly the counter-mode scans
                         (n, ~n as 32-bit) for n = 0..rows-1, rows = the
                         sidecar's written = acquired (= N if given), no gap
  ohm R                  NAME.csv (a sweep): the fit of current against
                         voltage gives R within 2%
  ohm-stream R V         NAME.npy in ohm mode: raw x the sidecar's scales
                         gives V volts and V/R amperes (2%)

Exit status 0 if every check held, 1 otherwise, 77 if numpy is missing.
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    print("ok - host checks of the iio files # SKIP no numpy on the host")
    sys.exit(77)

failed = 0


def result(good, what):
    global failed
    if not good:
        failed += 1
    print(("ok - " if good else "not ok - ") + what)


def check_counter(d, name, args):
    path = os.path.join(d, name + ".npy")
    with open(os.path.join(d, name + ".json")) as f:
        meta = json.load(f)
    a = np.load(path)
    m = np.load(path, mmap_mode="r")
    with open(path, "rb") as f:
        head = f.read(4096)
    status = "failed" if "failed" in args else None
    n = int(args[0]) if args and args[0].isdigit() else None
    rows = a.shape[0]
    result(a.dtype == np.dtype("<i4") and a.ndim == 2 and a.shape[1] == 2
           and head[:6] == b"\x93NUMPY" and head[4095:4096] == b"\n"
           and np.array_equal(a, m),
           "host: %s.npy loads with numpy (plain and mmap), <i4, %s rows x 2"
           % (name, rows))
    counts = (meta["written"] == rows and meta["acquired"] == rows
              and meta["dropped"] == 0 and meta["gaps"]["count"] == 0
              and (n is None or rows == n) and rows > 0)
    if status:
        counts = counts and meta["status"] == status and meta["error"] is not None
    result(counts, "host: %s.json: %s, written = acquired = %d rows%s"
           % (name, meta["status"], rows, "" if n is None else " = %d" % n))
    u = a.view("<u4")
    k = np.arange(rows, dtype=np.uint64)
    good = (np.array_equal(u[:, 0], (k & 0xFFFFFFFF).astype(np.uint32))
            and np.array_equal(u[:, 1], (0xFFFFFFFF - (k & 0xFFFFFFFF)).astype(np.uint32)))
    if not good:
        bad = np.nonzero(u[:, 0] != (k & 0xFFFFFFFF).astype(np.uint32))[0]
        print("# %s: first wrong row %s" % (name, bad[:3].tolist()))
    result(good, "host: %s.npy holds n, ~n for n = 0..%d, byte for byte" % (name, rows - 1))


def check_sweep(d, name, args):
    r = float(args[0])
    a = np.loadtxt(os.path.join(d, name + ".csv"), delimiter=",", skiprows=1)
    slope = np.polyfit(a[:, 4], a[:, 5], 1)[0]
    fit = 1 / slope
    result(a.shape[0] == 21 and abs(fit - r) <= 0.02 * r,
           "host: %s.csv, numpy's fit of I(V): R = %.2f ohm (driver %g, 2%%)"
           % (name, fit, r))


def check_ohm_stream(d, name, args):
    r, v = float(args[0]), float(args[1])
    with open(os.path.join(d, name + ".json")) as f:
        meta = json.load(f)
    a = np.load(os.path.join(d, name + ".npy"))
    sv, si = (c["scale"] for c in meta["channels"])
    units = [c["unit"] for c in meta["channels"]]
    mv, mi = a[:, 0].mean() * sv, a[:, 1].mean() * si
    result(units == ["V", "A"] and abs(mv - v) <= 0.02 * v and abs(mi - v / r) <= 0.02 * v / r,
           "host: %s.npy x the sidecar's scales: %.4f %s, %.6f %s (expected %g V, %g A)"
           % (name, mv, units[0], mi, units[1], v, v / r))


def main():
    d = sys.argv[1]
    names = sorted(f[:-7] for f in os.listdir(d) if f.endswith(".expect"))
    if not names:
        result(False, "host: the guest left files to check in %s" % d)
    for name in names:
        with open(os.path.join(d, name + ".expect")) as f:
            words = f.read().split()
        kind, args = (words[0], words[1:]) if words else ("", [])
        try:
            if kind == "counter":
                check_counter(d, name, args)
            elif kind == "ohm":
                check_sweep(d, name, args)
            elif kind == "ohm-stream":
                check_ohm_stream(d, name, args)
            else:
                result(False, "host: %s: unknown check '%s'" % (name, kind))
        except Exception as e:  # a missing or broken file is a failure
            result(False, "host: %s: %s: %s" % (name, type(e).__name__, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
