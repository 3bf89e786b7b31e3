#!/usr/bin/env python3
"""check_v4l2.py DIR - the host's look, with numpy, at the files the v4l2
backend's guest tests wrote (tests/vm/guest/70-v4l2.sh copies them to
/share/out/v4l2).  For each NAME.expect, "ok - what" / "not ok - what" lines:

  frames      NAME.npy loads, rows = written; NAME.frames.npy (the companion:
              each frame's driver sequence number and timestamp in ns) has
              one row per file row, sequence numbers rising, timestamps
              rising
  gaps        the same, and the sidecar's gaps are exactly the sequence
              numbers missing from the companion (a frame's acquisition
              index is its sequence number minus the first one's)
  failed      NAME.npy loads, rows = written, status failed with an error
"""
import json
import os
import sys

try:
    import numpy as np
except ImportError:
    print("ok - v4l2 file checks # SKIP no numpy")
    sys.exit(0)


def check(what, cond):
    print(("ok - " if cond else "not ok - ") + what)


def main(d):
    for e in sorted(os.listdir(d)):
        if not e.endswith(".expect"):
            continue
        name = e[:-7]
        words = open(os.path.join(d, e)).read().split()
        base = os.path.join(d, name)
        try:
            meta = json.load(open(base + ".json"))
            a = np.load(base + ".npy", mmap_mode="r")
        except Exception as ex:  # noqa: BLE001 - any failure is the finding
            check("%s: the files load (%s)" % (name, ex), False)
            continue
        check("%s: %d rows = written (%d)" % (name, len(a), meta["written"]),
              len(a) == meta["written"])
        if "failed" in words:
            check("%s: status failed with an error (%s)" % (name, meta.get("error")),
                  meta["status"] == "failed" and bool(meta.get("error")))
        if "frames" in words or "gaps" in words:
            try:
                f = np.load(base + ".frames.npy")
            except Exception as ex:  # noqa: BLE001
                check("%s.frames.npy loads (%s)" % (name, ex), False)
                continue
            seq, ts = f[:, 0].astype(np.int64), f[:, 1].astype(np.int64)
            check("%s.frames.npy: (%d, 2) uint64, a row per frame in the file"
                  % (name, len(f)), f.dtype == np.uint64 and len(f) == len(a))
            check("%s.frames.npy: sequence numbers and timestamps rising" % name,
                  len(f) > 0 and bool(np.all(np.diff(seq) > 0)) and bool(np.all(np.diff(ts) > 0)))
            # The gaps: NAME.gaps.npy, (gaps, 2) uint64 index, count rows.
            g = np.load(base + ".gaps.npy")
            check("%s.gaps.npy: the %d gaps the sidecar counts" % (name, meta["gaps"]["count"]),
                  g.dtype == np.uint64 and g.shape == (meta["gaps"]["count"], 2))
            if "gaps" in words:
                idx = seq - seq[0]
                missing = sorted(set(range(int(idx[-1]) + 1)) - set(int(i) for i in idx))
                gaps = []
                for i, c in g:
                    gaps.extend(range(int(i), int(i + c)))
                check("%s: the %d gaps are exactly the %d missing sequence numbers"
                      % (name, len(g), len(missing)),
                      len(missing) > 0 and sorted(gaps) == missing)
            if "frames" in words and "gaps" not in words:
                check("%s: consecutive sequence numbers, no gap" % name,
                      bool(np.all(np.diff(seq) == 1)) and len(g) == 0)


main(sys.argv[1])
