#!/usr/bin/env python3
"""check_comedi.py DIR - the host's look, with numpy, at the files the comedi
backend's guest tests wrote (tests/vm/guest/6x-comedi-*.sh copy them to
/share/out/comedi).  For each NAME.expect, "ok - what" / "not ok - what"
lines (tests/vm/run.sh numbers them):

  wave A T [rate R]   NAME.npy holds comedi_test's waveforms of amplitude A
                      volts and period T seconds, converted to volts through
                      the sidecar's recorded conversion (docs/comedi.md):
                      ai0 a sawtooth from -A rising 2A/T volts a second,
                      wrapping every T; ai1 a square wave at -A then +A, each
                      for T/2; ai2.. flat at mid-scale (0 V).  Each within
                      two LSB (levels) or 1% (slope, period).  The sidecar's
                      rate_hz is R when given; rows = written = acquired.
  failed              NAME.npy loads (plain and mmap), rows = written, the
                      status failed with an error message
  recovered           NAME.npy loads after labdaq recover
  sweep N             NAME.csv has N rows

See drivers/comedi/drivers/comedi_test.c (fake_sawtooth, fake_squarewave,
fake_flatline) for the formulas: in raw units the sawtooth is
maxdata/2 - B + 2 B t / T with B = floor(maxdata * A / (max - min)).
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    print("ok - host checks of the comedi files # SKIP no numpy on the host")
    sys.exit(77)

failed = 0


def result(good, what):
    global failed
    if not good:
        failed += 1
    print(("ok - " if good else "not ok - ") + what)


def note(text):
    print("# " + text)


def volts(raw, ch):
    """raw -> physical through the channel's recorded polynomial."""
    conv = ch["polynomial"]
    x = raw.astype(np.float64) - conv["origin"]
    return np.polynomial.polynomial.polyval(x, conv["coefficients"])


def load(d, name):
    path = os.path.join(d, name + ".npy")
    with open(os.path.join(d, name + ".json")) as f:
        meta = json.load(f)
    return np.load(path), np.load(path, mmap_mode="r"), meta


def check_sawtooth(name, v, amp, period, rate, lsb):
    dv = np.diff(v)
    wraps = np.flatnonzero(dv < -amp)
    # The mean step: each is a whole number of LSB, rounded down.
    step = np.mean(dv[dv > -amp])
    want_step = 2 * amp / period / rate
    result(abs(step - want_step) <= 0.01 * want_step + lsb / 100,
           f"{name}: ai0 sawtooth slope {step * rate:.4g} V/s, expected 2A/T = "
           f"{2 * amp / period:.4g} V/s")
    regular = dv[dv > -amp]
    result(np.all(np.abs(regular - want_step) <= 2 * lsb + 0.01 * want_step),
           f"{name}:   ... every step between wraps is one step (no sample lost)")
    if len(wraps) >= 2:
        spacing = np.mean(np.diff(wraps)) / rate
        result(abs(spacing - period) <= 0.01 * period,
               f"{name}:   ... period {spacing:.6g} s, expected {period} s")
    else:
        note(f"{name}: fewer than two wraps in {len(v)} samples: period not checked")
    lo, hi = v.min(), v.max()
    result(abs(lo + amp) <= 0.002 * amp + 2 * lsb + want_step and
           abs(hi - amp) <= 0.002 * amp + 2 * lsb + want_step,
           f"{name}:   ... from {lo:.5f} V to {hi:.5f} V, expected -{amp} to {amp} V")


def check_square(name, v, amp, period, rate, lsb):
    hi = v > 0
    levels_ok = (np.all(np.abs(v[hi] - amp) <= 0.002 * amp + 2 * lsb) and
                 np.all(np.abs(v[~hi] + amp) <= 0.002 * amp + 2 * lsb))
    result(levels_ok and hi.any() and (~hi).any(),
           f"{name}: ai1 square wave levels {v[~hi].mean() if (~hi).any() else 0:.5f} "
           f"and {v[hi].mean() if hi.any() else 0:.5f} V, expected -{amp} and {amp} V")
    edges = np.flatnonzero(np.diff(hi.astype(np.int8)) != 0)
    if len(edges) >= 2:
        half = np.mean(np.diff(edges)) / rate
        result(abs(half - period / 2) <= 0.01 * period,
               f"{name}:   ... half period {half:.6g} s, expected {period / 2} s")


def check_wave(d, name, args):
    amp, period = float(args[0]), float(args[1])
    a, m, meta = load(d, name)
    chans = meta["channels"]
    rate = meta["rate_hz"]
    result(a.dtype == np.dtype("<u2") and a.ndim == 2 and a.shape[1] == len(chans) and
           m.shape == a.shape and a.shape[0] == meta["written"] == meta["acquired"] and
           meta["dropped"] == 0 and meta["gaps"]["count"] == 0,
           f"{name}: loads with numpy (plain and mmap), {a.shape[0]} rows = written = "
           f"acquired, uint16, nothing dropped")
    if "rate" in args:
        want = float(args[args.index("rate") + 1])
        result(abs(rate - want) <= 1e-6 * want,
               f"{name}:   ... the sidecar's rate {rate} Hz is the board's, {want} Hz")
    for k, ch in enumerate(chans):
        rng = ch["range"]
        lsb = (rng["max"] - rng["min"]) / ch["maxdata"]
        v = volts(a[:, k], ch)
        # The recorded scale and offset give the same volts (linear boards).
        lin = (a[:, k].astype(np.float64) + ch.get("offset", 0)) * ch["scale"]
        result(np.allclose(lin, v, atol=1e-9),
               f"{name}: {ch['name']}: (raw + offset) * scale equals the recorded "
               f"polynomial ({ch['polynomial']['source']})")
        if ch["name"] == "ai0":
            check_sawtooth(name, v, amp, period, rate, lsb)
        elif ch["name"] == "ai1":
            check_square(name, v, amp, period, rate, lsb)
        else:
            result(np.all(np.abs(v) <= lsb),
                   f"{name}: {ch['name']} flat at mid-scale, 0 V within one LSB "
                   f"({v.min():.6f}..{v.max():.6f} V)")


def check_failed(d, name, args):
    a, m, meta = load(d, name)
    err = meta.get("error") or {}
    result(meta["status"] == "failed" and a.shape[0] == meta["written"] and
           m.shape == a.shape and "overflowed" in err.get("message", ""),
           f"{name}: a valid file after the overflow: {a.shape[0]} rows = written, status "
           f"failed, error: {err.get('message', '')[:120]}")


def check_recovered(d, name, args):
    a, m, meta = load(d, name)
    result(meta["status"] == "recovered" and a.shape[0] > 0 and m.shape == a.shape,
           f"{name}: loads after kill -9 and recover: {a.shape[0]} rows")


def check_sweep(d, name, args):
    rows = np.loadtxt(os.path.join(d, name + ".csv"), delimiter=",", ndmin=2, skiprows=1)
    result(rows.shape[0] == int(args[0]),
           f"{name}: numpy.loadtxt reads {rows.shape[0]} rows, expected {args[0]}")


def main():
    d = sys.argv[1]
    checks = {"wave": check_wave, "failed": check_failed, "recovered": check_recovered,
              "sweep": check_sweep}
    for f in sorted(os.listdir(d)):
        if not f.endswith(".expect"):
            continue
        name = f[:-len(".expect")]
        with open(os.path.join(d, f)) as e:
            args = e.read().split()
        try:
            checks[args[0]](d, name, args[1:])
        except Exception as exc:  # a missing or broken file is a failure
            result(False, f"{name}: {args[0]} check raised {exc!r}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
