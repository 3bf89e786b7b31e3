#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""python_vs_cli.py - a stream's throughput from Python (the labdaq package)
over the labdaq command's, same device, file system, ring and size.

    python_vs_cli.py [--quick] [--dir DIR] [--json FILE]

sim:camera 1024x1024 at full speed (--rate 0) into DIR, 64M ring, block.
The two contenders run interleaved (CLI, Python, then Python, CLI, ...);
each run's throughput is measured the same way for both: the bytes written
over the time between the sidecar's started_utc and ended_utc (what the
library records, start to finalized file).  The table gives each one's median, min, max and the
ratio Python / CLI pair by pair (median, min, max).  A ratio within the
spread of the pairs is "within noise".
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(TOP, "python"))
import labdaq  # noqa: E402

LABDAQ = os.path.join(TOP, "build", "labdaq")
URI = "sim:camera?width=1024&height=1024"


def utc(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")


def cli(path, frames):
    subprocess.run([LABDAQ, "acquire", URI, "--frames", str(frames), "--rate", "0",
                    "--ring", "64M", "--progress", "none", "--force", "-o", path], check=True,
                   stderr=subprocess.DEVNULL)
    return from_sidecar(path)


def from_sidecar(path):
    m = json.load(open(path[:-4] + ".json"))
    assert m["status"] == "complete"
    secs = (utc(m["ended_utc"]) - utc(m["started_utc"])).total_seconds()
    return m["written"] * 1024 * 1024 * 2 / secs / 1e9


def python(dev, path, frames):
    with dev.acquire(path, frames=frames, ring="64M", overwrite=True) as run:
        run.wait()
    assert run.state == "complete"
    return from_sidecar(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR",
                                                   os.path.join(TOP, "build", "bench-data")))
    ap.add_argument("--json")
    a = ap.parse_args()
    quick = a.quick or os.environ.get("BENCH_QUICK") == "1"
    reps, frames = (3, 300) if quick else (7, 1500)
    os.makedirs(a.dir, exist_ok=True)
    path = os.path.join(a.dir, "pyvscli.npy")
    dev = labdaq.open(URI)
    c, p = [], []
    for i in range(reps):
        order = [("cli", cli), ("py", python)] if i % 2 == 0 else [("py", python), ("cli", cli)]
        for name, f in order:
            v = f(path, frames) if name == "cli" else f(dev, path, frames)
            (c if name == "cli" else p).append(v)
            for f in (path, path[:-4] + ".json", path[:-4] + ".gaps.npy"):
                os.unlink(f)
        time.sleep(0.2)
    r = [x / y for x, y in zip(p, c)]

    def row(n, v):
        return f"  {n:<24} {statistics.median(v):8.3f} {min(v):8.3f} {max(v):8.3f}"

    print(f"python vs cli: {URI}, --rate 0, 64M ring, {frames} frames of 2 MiB, "
          f"{reps} pairs, into {a.dir}")
    print(f"  {'':<24} {'median':>8} {'min':>8} {'max':>8}")
    print(row("labdaq acquire (GB/s)", c))
    print(row("python acquire (GB/s)", p))
    print(row("ratio python / cli", r))
    if a.json:
        json.dump({"cli_gbps": c, "python_gbps": p, "ratio": r}, open(a.json, "w"), indent=1)


if __name__ == "__main__":
    main()
