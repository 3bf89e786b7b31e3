#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""flat.py - cost against run length (issue 16, point 3): what a longer run
must not make grow.

    flat.py [--quick] [--dir DIR] [--json FILE]

1 gaps   build/bench/flat gaps N: the library's gap store fed N alternating
         gaps (one item dropped, one kept) with a checkpoint every 50,000,
         N = 10^4 .. 10^7: memory (VmRSS after the first checkpoint and at
         the end), checkpoint and finalize times; then `labdaq inspect`,
         `labdaq recover` and `labdaq.load()` (gap_array) of what it left.
2 file   build/bench/flat file BYTES: a data file of 1 GiB .. 1 TiB, sparse
         (no machine here has a free TiB), with its sidecar as a run leaves
         them: checkpoint time (1 MiB written, fdatasync, header, sidecar),
         then inspect and recover of the file left "running".
3 run    labdaq acquire sim:camera 64x48 --ring 16k --on-full drop --rate 0
         for 1, 10 and 100 s (the issue's reproduction): gaps, VmRSS sampled
         every 0.2 s (after the first second, and the largest), the
         sidecar's size, then inspect, recover and load.

Each time is the median of 3 (inspect, recover, load) or the median over the
run's checkpoints; no mark is timed against an absolute figure: the table
gives each cost against run length and its growth from the shortest run to
the longest next to the growth of the run itself.  Standard library only
for this script (labdaq.load runs in a child with numpy).  BENCH_QUICK=1:
smaller lengths; BENCH_DIR: where the files go (default build/bench-data).
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
LABDAQ = os.path.join(BUILD, "labdaq")
FLAT = os.path.join(BUILD, "bench", "flat")
PY = "/usr/bin/python3"
LOAD = ("import sys, time, labdaq; t = time.monotonic(); d = labdaq.load(sys.argv[1]); "
        "g = d.gap_array; print((time.monotonic() - t) * 1e3, len(g))")


def timed_ms(argv, env=None, ok=(0,)):
    t = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    if p.returncode not in ok:
        sys.exit("flat.py: %s failed (%d): %s" % (" ".join(argv), p.returncode, p.stderr))
    return (time.monotonic() - t) * 1e3, p.stdout


def readers(npy):
    """inspect, recover and load of @npy: medians of 3, in ms."""
    env = dict(os.environ, PYTHONPATH=os.path.join(TOP, "python"),
               LABDAQ_LIBRARY=os.path.join(BUILD, "liblabdaq.so"))
    ins = statistics.median(timed_ms([LABDAQ, "inspect", npy])[0] for _ in range(3))
    rec = statistics.median(timed_ms([LABDAQ, "recover", npy])[0] for _ in range(3))
    load = statistics.median(float(timed_ms([PY, "-c", LOAD, npy], env)[1].split()[0])
                             for _ in range(3))
    return ins, rec, load


def fresh(d):
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def bench_gaps(quick, base):
    rows = []
    for n in ([10**4, 10**5, 10**6] if quick else [10**4, 10**5, 10**6, 10**7]):
        d = fresh(os.path.join(base, "gaps"))
        r = json.loads(timed_ms([FLAT, "gaps", str(n), d])[1])
        ins, rec, load = readers(os.path.join(d, "run.npy"))
        rows.append({"n": n, "rss_first": r["rss_first_kib"], "rss_end": r["rss_end_kib"],
                     "hwm": r["hwm_kib"], "ck": r["checkpoint_median_ms"],
                     "ck_max": r["checkpoint_max_ms"], "cks": r["checkpoints"],
                     "fin": r["finalize_ms"], "inspect": ins, "recover": rec, "load": load,
                     "gaps_bytes": os.path.getsize(os.path.join(d, "run.gaps.npy"))})
        shutil.rmtree(d)
    return rows


def bench_file(quick, base):
    rows = []
    for gib in ([1, 16] if quick else [1, 10, 100, 1024]):
        d = fresh(os.path.join(base, "file"))
        r = json.loads(timed_ms([FLAT, "file", str(gib << 30), d])[1])
        npy = os.path.join(d, "run.npy")
        # Left "running" by a process that is gone: inspect says so (exit 1).
        ins = statistics.median(timed_ms([LABDAQ, "inspect", npy], ok=(0, 1))[0]
                                for _ in range(3))
        rec = statistics.median(timed_ms([LABDAQ, "recover", npy])[0] for _ in range(3))
        rows.append({"gib": gib, "ck": r["checkpoint_median_ms"], "ck_max": r["checkpoint_max_ms"],
                     "inspect": ins, "recover": rec, "rss": r["rss_end_kib"]})
        shutil.rmtree(d)
    return rows


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def bench_run(quick, base):
    rows = []
    for secs in ([1, 3] if quick else [1, 10, 100]):
        d = fresh(os.path.join(base, "run"))
        npy = os.path.join(d, "cam.npy")
        p = subprocess.Popen([LABDAQ, "acquire", "sim:camera?width=64&height=48", "--ring", "16k",
                              "--on-full", "drop", "--rate", "0", "--time", "%ds" % secs, "-o", npy],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0, first, peak = time.monotonic(), None, 0
        while p.poll() is None:
            r = rss_kib(p.pid)
            if r:
                peak = max(peak, r)
                if first is None and time.monotonic() - t0 >= 0.9:
                    first = r
            time.sleep(0.2)
        if p.returncode not in (0, 3):
            sys.exit("flat.py: the drop run exited %d" % p.returncode)
        with open(os.path.join(d, "cam.json")) as f:
            m = json.load(f)
        ins, rec, load = readers(npy)
        rows.append({"secs": secs, "gaps": m["gaps"]["count"], "written": m["written"],
                     "rss_first": first, "rss_peak": peak,
                     "sidecar": os.path.getsize(os.path.join(d, "cam.json")),
                     "inspect": ins, "recover": rec, "load": load})
        shutil.rmtree(d)
    return rows


def growth(rows, key, length):
    a, b = rows[0], rows[-1]
    return "%.2fx (run %gx)" % (b[key] / a[key] if a[key] else float("nan"),
                                b[length] / a[length])


def markdown(res, machine):
    out = ["## Cost against run length", "",
           "`make bench` (bench/flat.py, bench/flat.c), %s. Times in ms (medians), memory in "
           "KiB. *growth* is the cost of the longest run over the shortest's, next to how much "
           "longer the run was: a flat cost stays near 1x, a linear one follows the run." % machine,
           "", "### 1. Gaps: the library's gap store, N alternating gaps, a checkpoint every "
           "50,000", "",
           "| gaps | VmRSS after 1st checkpoint | VmRSS at end | checkpoint median (max) | "
           "finalize | gaps' file | inspect | recover | labdaq.load |",
           "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    g = res["gaps"]
    for r in g:
        out.append("| %d | %s | %d | %.1f (%.1f) | %.1f | %.1f MB | %.1f | %.1f | %.1f |"
                   % (r["n"], r["rss_first"] if r["rss_first"] > 0 else "-", r["rss_end"],
                      r["ck"], r["ck_max"], r["fin"], r["gaps_bytes"] / 1e6, r["inspect"],
                      r["recover"], r["load"]))
    out += ["", "Growth from %d to %d gaps: VmRSS at end %s, finalize %s, inspect %s, "
            "recover %s, load %s." % (g[0]["n"], g[-1]["n"], growth(g, "rss_end", "n"),
                                      growth(g, "fin", "n"), growth(g, "inspect", "n"),
                                      growth(g, "recover", "n"), growth(g, "load", "n")), ""]
    f = res["file"]
    out += ["### 2. File size: a data file as a run leaves it (sparse)", "",
            "| file | checkpoint median (max) | inspect | recover |",
            "| ---: | ---: | ---: | ---: |"]
    for r in f:
        out.append("| %d GiB | %.1f (%.1f) | %.1f | %.1f |"
                   % (r["gib"], r["ck"], r["ck_max"], r["inspect"], r["recover"]))
    out += ["", "Growth from %d GiB to %d GiB: checkpoint %s, inspect %s, recover %s." %
            (f[0]["gib"], f[-1]["gib"], growth(f, "ck", "gib"), growth(f, "inspect", "gib"),
             growth(f, "recover", "gib")), ""]
    r3 = res["run"]
    out += ["### 3. The issue's drop run: sim:camera 64x48, --ring 16k, --on-full drop, "
            "--rate 0", "",
            "| run | gaps | frames written | VmRSS at 1 s | VmRSS peak | sidecar | inspect | "
            "recover | labdaq.load |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in r3:
        out.append("| %d s | %d | %d | %s | %d | %d B | %.1f | %.1f | %.1f |"
                   % (r["secs"], r["gaps"], r["written"], r["rss_first"] or "-", r["rss_peak"],
                      r["sidecar"], r["inspect"], r["recover"], r["load"]))
    out += ["", "Growth from %d s to %d s: gaps %s, VmRSS peak %s, sidecar %s, recover %s, "
            "load %s." % (r3[0]["secs"], r3[-1]["secs"], growth(r3, "gaps", "secs"),
                          growth(r3, "rss_peak", "secs"), growth(r3, "sidecar", "secs"),
                          growth(r3, "recover", "secs"), growth(r3, "load", "secs"))]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", default=bool(os.environ.get("BENCH_QUICK")))
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR",
                                                    os.path.join(BUILD, "bench-data")))
    ap.add_argument("--json")
    a = ap.parse_args()
    base = os.path.join(a.dir, "flat")
    load = os.getloadavg()
    res = {"gaps": bench_gaps(a.quick, base), "file": bench_file(a.quick, base),
           "run": bench_run(a.quick, base)}
    shutil.rmtree(base, ignore_errors=True)
    machine = "%d CPUs, load average %.1f at the start and %.1f at the end, files in %s" % (
        os.cpu_count(), load[0], os.getloadavg()[0],
        subprocess.run(["df", "--output=fstype", a.dir], stdout=subprocess.PIPE,
                       text=True).stdout.split()[-1])
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    print(markdown(res, machine))


if __name__ == "__main__":
    main()
