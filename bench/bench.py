#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench.py - run labdaq's benchmarks against its peers and print the tables.

    bench.py [--quick] [--only 1,2,...] [--dir DIR] [--json FILE]

1 ring_small  8-byte items (build/bench/ring_small)
2 ring_bulk   64 KiB blocks through 64 MiB (build/bench/ring_bulk)
3 stream      labdaq acquire sim:camera --rate 0 vs fio and dd, O_DIRECT
4 idle        a paced 1 MB/s run: CPU of one core
5 stop        SIGINT to exit, file finalized, in a paced run
6 sweep       a 10,000-point sweep of sim:ohm: microseconds per point
7 comedi      labdaq acquire vs a minimal comedi_command + read() loop
              (build/bench/comedi_loop) on comedi_test, in the VM
              (tests/vm/run.sh with VM_BENCH): sustained rate, CPU per sample
8 usb         labdaq acquire vs Debian's sigrok-cli on the emulated fx2lafw
              board (build/usb/fx2gadget), in the VM (VM_BENCH_USB):
              sustained rate without loss, CPU per sample

Contenders run interleaved (A B C, then C B A, ...) in one process or this
script; every table gives the median, min and max over the repetitions and
the ratios to the peers pair by pair (the ratio of the two runs of one
repetition, then their median, min and max).  Standard library only: run
with Debian's /usr/bin/python3.  Environment: BENCH_QUICK=1 (a smoke run,
well under a minute), BENCH_DIR (the directory the stream is written in; default
build/bench-data), BENCH_ONLY (like --only).
"""

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(TOP, "build")
LABDAQ = os.path.join(BUILD, "labdaq")
BIN = os.path.join(BUILD, "bench")

MIB = 1 << 20


# ---- statistics and tables ------------------------------------------------

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def ratios(a, b):
    """Pair by pair: run i of a over run i of b."""
    return [x / y for x, y in zip(a, b) if y]


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    a = abs(v)
    if unit in ("items/s",):
        return f"{v / 1e6:.1f}M"
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def table(title, header, rows):
    out = [title]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    for r in [header] + rows:
        cells = [str(c).ljust(w) if i == 0 else str(c).rjust(w)
                 for i, (c, w) in enumerate(zip(r, widths))]
        out.append("  " + "  ".join(cells))
    print("\n".join(out))
    print()
    sys.stdout.flush()


def value_table(title, unit, series, order):
    rows = []
    for name in order:
        if name not in series:
            continue
        s = summary(series[name])
        rows.append([name, fmt(s["median"], unit), fmt(s["min"], unit), fmt(s["max"], unit),
                     s["n"]])
    table(title, [f"contender ({unit})", "median", "min", "max", "runs"], rows)


def ratio_table(title, series, pairs):
    rows, out = [], {}
    for a, b in pairs:
        if a not in series or b not in series:
            continue
        r = ratios(series[a], series[b])
        if not r:
            continue
        s = summary(r)
        out[f"{a}/{b}"] = s
        rows.append([f"{a} / {b}", f"{s['median']:.2f}", f"{s['min']:.2f}", f"{s['max']:.2f}"])
    if rows:
        table(title, ["ratio (pair by pair)", "median", "min", "max"], rows)
    return out


# ---- processes under watch ------------------------------------------------

def meminfo():
    vals = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, v = line.split(":", 1)
            if k in ("Dirty", "Writeback"):
                vals[k] = int(v.split()[0])  # kB
    return vals


def proc_pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def proc_cpu_ns(pid):
    """CPU time of every thread of @pid now (ns), from schedstat."""
    total = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            try:
                with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                    total += int(f.read().split()[0])
            except OSError:
                pass
    except OSError:
        return None
    return total


class Watched:
    """Run a command; poll the page cache and its memory every @poll_s."""

    def __init__(self, argv, poll_s=0.05, cwd=None, env=None):
        self.argv = argv
        self.poll_s = poll_s
        self.peak = {"Dirty": 0, "Writeback": 0, "Pss": 0}
        self.start = meminfo()
        self.stop = threading.Event()
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.out = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.poller = threading.Thread(target=self._poll, daemon=True)
        self.poller.start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line.decode(errors="replace"))

    def _poll(self):
        while not self.stop.is_set():
            m = meminfo()
            for k in ("Dirty", "Writeback"):
                self.peak[k] = max(self.peak[k], m.get(k, 0))
            pss = proc_pss_kb(self.proc.pid)
            if pss:
                self.peak["Pss"] = max(self.peak["Pss"], pss)
            self.stop.wait(self.poll_s)

    def wait(self):
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.t_end = time.monotonic()
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.stop.set()
        self.poller.join()
        self.reader.join()
        return {
            "status": self.proc.returncode,
            "wall_s": self.t_end - self.t_start,
            "user_s": ru.ru_utime,
            "sys_s": ru.ru_stime,
            "maxrss_kb": ru.ru_maxrss,
            "pss_peak_kb": self.peak["Pss"],
            "dirty_peak_kb": self.peak["Dirty"],
            "dirty_start_kb": self.start.get("Dirty", 0),
            "writeback_peak_kb": self.peak["Writeback"],
            "output": "".join(self.out),
        }


def must(res, what):
    if res["status"] != 0:
        sys.stderr.write(f"bench: {what} failed (exit {res['status']}):\n{res['output']}\n")
        sys.exit(1)


def settle():
    """Let the writes of the previous run reach the disk before the next."""
    os.sync()
    time.sleep(0.5)


# ---- 1, 2: the in-process ring benchmarks --------------------------------

def run_trials(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sys.stderr.write(p.stderr)
    if p.returncode != 0:
        sys.stderr.write(f"bench: {' '.join(argv)} failed (exit {p.returncode})\n")
        sys.exit(1)
    series = {}
    for line in p.stdout.splitlines():
        f = line.split()
        if len(f) == 6 and f[0] == "trial":
            series.setdefault(f[2], []).append(float(f[4]))
    return series


def bench_ring_small(q, res):
    # Short trials, many repetitions: the two runs of a pair see the same
    # neighbours on a shared machine.
    reps, secs = (3, 0.05) if q else (15, 0.15)
    series = run_trials([os.path.join(BIN, "ring_small"), "-r", str(reps), "-t", str(secs)])
    title = ("1. Ring, small items: 8-byte items, queues of 8192 items, producer and consumer "
             "pinned\n   to two CPUs, every item checked, spin waits (pause) for the lock-free "
             "ones; batch = 64 items")
    value_table(title, "items/s", series, ["ldq-one", "ldq-batch", "ck", "mutex"])
    r = ratio_table("   ratios", series, [("ldq-one", "ck"), ("ldq-batch", "ck"),
                                            ("ldq-one", "mutex"), ("ldq-batch", "mutex"),
                                            ("ck", "mutex")])
    res["ring_small"] = {"series": series, "ratios": r}


def bench_ring_bulk(q, res):
    reps, secs = (3, 0.05) if q else (11, 0.15)
    series = run_trials([os.path.join(BIN, "ring_bulk"), "-r", str(reps), "-t", str(secs)])
    title = ("2. Ring, bulk: 64 KiB blocks, 64 MiB of queue, pinned, every byte checked "
             "(fill = memset,\n   use = a checksum; ck-copy and mutex-copy copy in and out; "
             "memcpy: one thread, same bytes;\n   ck-inplace: a reference, ck_ring passing "
             "the blocks without copies)")
    value_table(title, "GB/s", series, ["ldq-zerocopy", "ck-copy", "mutex-copy", "memcpy",
                                        "ck-inplace"])
    r = ratio_table("   ratios", series, [("ldq-zerocopy", "ck-copy"),
                                            ("ldq-zerocopy", "mutex-copy"),
                                            ("ldq-zerocopy", "memcpy"),
                                            ("ldq-zerocopy", "ck-inplace")])
    res["ring_bulk"] = {"series": series, "ratios": r}


# ---- 3: stream to disk ----------------------------------------------------

def read_json(path):
    with open(path) as f:
        return json.load(f)


def utc_s(stamp):
    """Seconds of an ISO 8601 UTC stamp with milliseconds, as the .json has."""
    t = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    frac = float("0" + stamp[19:].rstrip("Z")) if len(stamp) > 20 else 0.0
    return time.mktime(t) + frac


def bench_stream(q, res, datadir):
    width, height = 2048, 1024
    frame = width * height * 2            # 4 MiB
    frames = 128 if q else 768            # 512 MiB or 3 GiB
    size = frame * frames
    reps = 2 if q else 9
    ring = 64 * MIB
    st = shutil.disk_usage(datadir)
    if st.free < 2 * size:
        print(f"3. Stream to disk: SKIPPED: {datadir} has {st.free >> 20} MiB free, "
              f"needs {2 * size >> 20}\n")
        return
    npy = os.path.join(datadir, "stream.npy")
    dat = os.path.join(datadir, "peer.dat")
    probe = subprocess.run(["dd", "if=/dev/zero", f"of={dat}", "bs=1M", "count=4",
                            "oflag=direct"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    if os.path.exists(dat):
        os.unlink(dat)
    if probe.returncode != 0:
        print(f"3. Stream to disk: SKIPPED: {datadir} takes no O_DIRECT writes, so there is "
              f"no fio O_DIRECT figure\n   to compare with ({probe.stderr.strip()}); set "
              "BENCH_DIR to a directory on a disk\n")
        return
    cmds = {
        "labdaq": [LABDAQ, "acquire", f"sim:camera?width={width}&height={height}",
                   "--rate", "0", "--frames", str(frames), "--on-full", "block",
                   "--progress", "none", "-o", npy],
        "fio": ["fio", "--name=seqwrite", f"--filename={dat}", "--rw=write", "--bs=4M",
                f"--size={size}", "--direct=1", "--ioengine=psync", "--iodepth=1",
                "--end_fsync=1", "--fallocate=none", "--output-format=json"],
        "dd": ["dd", "if=/dev/zero", f"of={dat}", "bs=4M", f"count={frames}",
               "oflag=direct", "conv=fsync"],
    }
    order = ["labdaq", "fio", "dd"]
    runs = {k: [] for k in order}
    for rep in range(reps):
        for name in (order if rep % 2 == 0 else order[::-1]):
            settle()
            w = Watched(cmds[name])
            r = w.wait()
            must(r, name)
            r["bytes"] = size
            if name == "labdaq":
                meta = read_json(os.path.join(datadir, "stream.json"))
                r["dropped"] = meta["dropped"]
                r["written"] = meta["written"]
                r["status_file"] = meta["status"]
                # Its own clock: from the start of streaming to the end of
                # the writer (the final fdatasync is not in it; write-behind
                # leaves at most 16 MiB to it).
                r["own_s"] = utc_s(meta["ended_utc"]) - utc_s(meta["started_utc"])
                if meta["status"] != "complete" or meta["written"] != frames:
                    sys.stderr.write(f"bench: labdaq wrote {meta['written']} of {frames} "
                                     f"frames, status {meta['status']}\n")
                    sys.exit(1)
                if os.path.getsize(npy) != 4096 + size:
                    sys.stderr.write("bench: stream.npy has the wrong size\n")
                    sys.exit(1)
                os.unlink(npy)
                os.unlink(os.path.join(datadir, "stream.json"))
            else:
                r["dropped"] = 0
                if name == "fio":
                    # Its own clock: the job's runtime, without fio's start
                    # (about 0.3 s here) and exit.
                    fj = json.loads(r["output"][r["output"].index("{"):])
                    r["own_s"] = size / fj["jobs"][0]["write"]["bw_bytes"]
                else:
                    # Its own clock: from the open to the end of the fsync.
                    m = re.search(r"copied, ([0-9.]+) s", r["output"])
                    r["own_s"] = float(m.group(1))
                if os.path.getsize(dat) != size:
                    sys.stderr.write(f"bench: {name} wrote a file of the wrong size\n")
                    sys.exit(1)
                os.unlink(dat)
            r["MBps"] = size / r["wall_s"] / 1e6
            r["own_MBps"] = size / r["own_s"] / 1e6
            r["cpu_s_per_GB"] = (r["user_s"] + r["sys_s"]) / (size / 1e9)
            runs[name].append(r)
    settle()

    own = {k: [r["own_MBps"] for r in v] for k, v in runs.items()}
    wall = {k: [r["MBps"] for r in v] for k, v in runs.items()}
    rows = []
    for k in order:
        v = runs[k]
        m = summary([r["own_MBps"] for r in v])
        rows.append([k, f"{m['median']:.0f}", f"{m['min']:.0f}", f"{m['max']:.0f}",
                     f"{statistics.median(r['MBps'] for r in v):.0f}",
                     max(r["dropped"] for r in v),
                     f"{statistics.median(r['maxrss_kb'] for r in v) / 1024:.0f}",
                     f"{statistics.median(r['pss_peak_kb'] for r in v) / 1024:.0f}",
                     f"{statistics.median(r['cpu_s_per_GB'] for r in v):.2f}",
                     f"{max(r['dirty_peak_kb'] for r in v) / 1024:.0f} "
                     f"({statistics.median(r['dirty_start_kb'] for r in v) / 1024:.0f})",
                     f"{max(r['writeback_peak_kb'] for r in v) / 1024:.0f}"])
    title = (f"3. Stream to disk: {size >> 20} MiB in {frame >> 20} MiB frames/blocks into "
             f"{datadir}\n   labdaq: sim:camera {width}x{height} --rate 0 --on-full block, "
             f"ring 64 MiB; fio: psync, bs=4M, direct=1,\n   end_fsync=1, fallocate=none; "
             f"dd: bs=4M oflag=direct conv=fsync.\n"
             f"   MB/s: 10^6 bytes per second of each one's own clock (labdaq: the .json's "
             f"started..ended;\n   fio: its bandwidth; dd: its figure); 'wall': bytes / the "
             f"process's wall time.\n   Memory and CPU of the whole process (medians); Dirty "
             f"and Writeback: the whole system's page cache,\n   peaks over the runs polled "
             f"every 50 ms (Dirty at the start in parentheses: other processes write too)")
    table(title, ["contender", "MB/s med", "min", "max", "wall", "dropped", "maxRSS MiB",
                  "PSS MiB", "CPU s/GB", "Dirty MiB (start)", "Wback MiB"], rows)
    r = ratio_table("   ratios of MB/s (own clocks)", own,
                    [("labdaq", "fio"), ("labdaq", "dd"), ("dd", "fio")])
    rw = ratio_table("   ratios of MB/s (process wall times)", wall,
                     [("labdaq", "fio"), ("labdaq", "dd"), ("dd", "fio")])
    res["stream"] = {"runs": {k: [{x: y for x, y in rr.items() if x != "output"} for rr in v]
                              for k, v in runs.items()},
                     "ratios": r, "ratios_wall": rw, "ring_bytes": ring, "bytes": size}


# ---- 4: idle cost ---------------------------------------------------------

def bench_idle(q, res, datadir):
    secs = 3 if q else 10
    reps = 1 if q else 3
    cases = {
        "camera 64x64 @128 Hz": ("sim:camera?width=64&height=64", "128"),
        "adc 4 ch @125 kHz": ("sim:adc?channels=4", "125k"),
    }
    runs = {k: [] for k in cases}
    for rep in range(reps):
        for name, (uri, rate) in cases.items():
            out = os.path.join(datadir, "idle.npy")
            argv = [LABDAQ, "acquire", uri, "--rate", rate, "--time", f"{secs}s",
                    "--progress", "none", "-o", out]
            w = Watched(argv, poll_s=0.25)
            # The steady state: from 1 s after the start to 1 s before the end.
            time.sleep(1.0)
            c0, t0 = proc_cpu_ns(w.proc.pid), time.monotonic()
            time.sleep(secs - 2.0)
            c1, t1 = proc_cpu_ns(w.proc.pid), time.monotonic()
            r = w.wait()
            must(r, "labdaq acquire (idle)")
            meta = read_json(os.path.join(datadir, "idle.json"))
            os.unlink(out)
            os.unlink(os.path.join(datadir, "idle.json"))
            r["written"] = meta["written"]
            r["cpu_pct"] = 100 * (r["user_s"] + r["sys_s"]) / r["wall_s"]
            r["steady_pct"] = (100 * (c1 - c0) / 1e9 / (t1 - t0)
                               if c0 is not None and c1 is not None else None)
            r["dropped"] = meta["dropped"]
            runs[name].append(r)
    rows = []
    for name, v in runs.items():
        a = summary([r["cpu_pct"] for r in v])
        s = [r["steady_pct"] for r in v if r["steady_pct"] is not None]
        rows.append([name, f"{a['median']:.2f}", f"{a['min']:.2f}", f"{a['max']:.2f}",
                     f"{statistics.median(s):.2f}" if s else "-",
                     max(r["dropped"] for r in v)])
    table(f"4. Idle cost: paced runs at 1 MB/s for {secs} s, CPU % of one core "
          "(user+sys / wall,\n   whole process from exec to exit; 'steady' from schedstat "
          "between 1 s and the last second)",
          ["run", "CPU % med", "min", "max", "steady %", "dropped"], rows)
    res["idle"] = {k: [{x: y for x, y in rr.items() if x != "output"} for rr in v]
                   for k, v in runs.items()}


# ---- 5: stop latency ------------------------------------------------------

def bench_stop(q, res, datadir):
    reps = 3 if q else 10
    out = os.path.join(datadir, "stop.npy")
    js = os.path.join(datadir, "stop.json")
    lat = []
    rnd = random.Random(5)
    for rep in range(reps):
        argv = [LABDAQ, "acquire", "sim:camera?width=64&height=64", "--rate", "128",
                "--continuous", "--progress", "none", "-o", out]
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        # Running for a while, at a random phase of its 1 s checkpoints.
        time.sleep(0.6 + rnd.random())
        t0 = time.monotonic()
        os.kill(p.pid, signal.SIGINT)
        _, status, _ = os.wait4(p.pid, 0)
        t1 = time.monotonic()
        p.returncode = os.waitstatus_to_exitcode(status)
        err = p.stderr.read().decode(errors="replace")
        p.stderr.close()
        meta = read_json(js)
        if p.returncode != 0 or meta["status"] != "stopped" or meta["dropped"]:
            sys.stderr.write(f"bench: stop: exit {p.returncode}, status {meta['status']}, "
                             f"dropped {meta['dropped']}\n{err}")
            sys.exit(1)
        lat.append((t1 - t0) * 1e3)
        os.unlink(out)
        os.unlink(js)
    s = summary(lat)
    table("5. Stop latency: SIGINT to exit with the file finalized (status 'stopped' "
          "checked),\n   sim:camera 64x64 at 128 frames/s, the ring nearly empty",
          ["", "median", "min", "max", "runs"],
          [["ms", f"{s['median']:.1f}", f"{s['min']:.1f}", f"{s['max']:.1f}", s["n"]]])
    res["stop"] = {"ms": lat}


# ---- 6: sweep overhead ----------------------------------------------------

def bench_sweep(q, res, datadir):
    reps = 3 if q else 9
    points = 10000
    csv = os.path.join(datadir, "sweep.csv")
    walls = {1: [], points: []}
    inrun = []
    for rep in range(reps):
        for n in ((1, points) if rep % 2 == 0 else (points, 1)):
            argv = [LABDAQ, "sweep", "sim:ohm", "--set", "voltage0", "--from", "0",
                    "--to", "1", "--points", str(n), "-o", csv, "--progress", "none"]
            w = Watched(argv, poll_s=1.0)
            r = w.wait()
            must(r, "labdaq sweep")
            with open(csv) as f:
                rows = [line.split(",") for line in f if line and line[0] != "#"]
            if len(rows) != n or [int(x[0]) for x in rows] != list(range(n)):
                sys.stderr.write(f"bench: sweep wrote {len(rows)} rows of {n}\n")
                sys.exit(1)
            if n > 1:
                # time_s of each row: the points' own clock, from the
                # first row to the last.
                inrun.append((float(rows[-1][2]) - float(rows[0][2])) / (n - 1) * 1e6)
            os.unlink(csv)
            walls[n].append(r["wall_s"])
    per = [(b - a) / (points - 1) * 1e6 for a, b in zip(walls[1], walls[points])]
    s = summary(per)
    i = summary(inrun)
    table(f"6. Sweep overhead: labdaq sweep sim:ohm --points {points}, no delay: µs per point\n"
          f"   'wall': (wall of {points} points - wall of 1 point) / {points - 1}, pair by "
          "pair (process start,\n   device open, file set-up and the final fsync cancel "
          "out); 'in run': from the time_s\n   column of the CSV, first row to last",
          ["", "median", "min", "max", "runs"],
          [["µs/point (wall)", f"{s['median']:.2f}", f"{s['min']:.2f}", f"{s['max']:.2f}",
            s["n"]],
           ["µs/point (in run)", f"{i['median']:.2f}", f"{i['min']:.2f}", f"{i['max']:.2f}",
            i["n"]],
           ["wall 1 point (ms)", f"{statistics.median(walls[1]) * 1e3:.1f}",
            f"{min(walls[1]) * 1e3:.1f}", f"{max(walls[1]) * 1e3:.1f}", len(walls[1])],
           [f"wall {points} points (ms)", f"{statistics.median(walls[points]) * 1e3:.1f}",
            f"{min(walls[points]) * 1e3:.1f}", f"{max(walls[points]) * 1e3:.1f}",
            len(walls[points])]])
    res["sweep"] = {"us_per_point": per, "us_per_point_in_run": inrun,
                    "walls": {str(k): v for k, v in walls.items()}}


def bench_comedi(q, res):
    """labdaq against bench/comedi_loop.c on comedi_test, in the VM
    (tests/vm/run.sh with VM_BENCH: tests/vm/guest/bench-comedi.sh runs
    both, interleaved, at each rate comedi_test can run, highest first)."""
    secs, reps = (1, 2) if q else (5, 8)
    loop = os.path.join(BIN, "comedi_loop")
    if not os.path.exists(loop):
        print("7. comedi: skipped (bench/comedi_loop not built: no comedilib)\n")
        return
    # The guest's clock on the TSC: under TCG the kernel finds the TSCs
    # unsynchronized and falls back to the HPET, where every
    # clock_gettime() is a system call and an emulated MMIO read, a cost a
    # lab PC does not have (labdaq reads the clock a few times a block, the
    # minimal loop never).
    env = dict(os.environ, VM_BENCH=f"{secs} {reps}", VM_TESTS="60", VM_TIMEOUT="1200",
               VM_APPEND="clocksource=tsc tsc=reliable")
    env.pop("LABDAQ_LOCK_DIR", None)
    r = subprocess.run([os.path.join(TOP, "tests", "vm", "run.sh")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = os.path.join(BUILD, "vm", "share", "out", "bench-comedi.txt")
    runs, starts, pairs_at = {}, {}, {}
    try:
        with open(out) as f:
            for line in f:
                w = line.split()
                if len(w) == 5 and w[0] == "start":
                    starts.setdefault(w[1], []).append(float(w[3]))
                if len(w) == 7 and w[0] == "pair":
                    pairs_at.setdefault(w[1], []).append(
                        {"rate": int(w[2]), "ok": w[3] == "ok", "samples": int(w[4]),
                         "cpu_s": float(w[5]), "wall_s": float(w[6])})
                if len(w) == 7 and w[0] == "run":
                    runs.setdefault(w[1], []).append(
                        {"rate": int(w[2]), "ok": w[3] == "ok", "samples": int(w[4]),
                         "cpu_s": float(w[5]), "wall_s": float(w[6])})
    except OSError:
        pass
    if not runs:
        print("7. comedi: the VM run gave no results (build/vm/console.log)")
        print("\n".join(r.stdout.splitlines()[-15:]) + "\n")
        return
    names = ("comedi_loop", "labdaq")
    # Sustained: the highest rate at which every run of the contender
    # ended without an overflow, its samples all there.
    best = {}
    for n in names:
        for rate in sorted({x["rate"] for x in runs.get(n, [])}, reverse=True):
            rs = [x for x in runs[n] if x["rate"] == rate]
            if all(x["ok"] and x["samples"] >= rate * secs * 0.99 for x in rs):
                best[n] = rate
                break
    rows = []
    for rate in sorted({x["rate"] for v in runs.values() for x in v}, reverse=True):
        row = [f"{rate / 1e3:.0f} kHz"]
        for n in names:
            rs = [x for x in runs.get(n, []) if x["rate"] == rate]
            ok = sum(x["ok"] for x in rs)
            cpu = [x["cpu_s"] / x["samples"] * 1e9 for x in rs if x["ok"] and x["samples"]]
            row.append(f"{ok}/{len(rs)} ok" + (f", {statistics.median(cpu):.0f} ns" if cpu
                                                else ""))
        rows.append(row)
    table("7. comedi: labdaq acquire vs a minimal comedi_command + read() loop "
          "(bench/comedi_loop.c),\n   comedi_test in the VM (TCG), 2 channels, "
          f"{secs} s per run, labdaq with a 4 MiB ring: runs without overflow, CPU per "
          "sample\n   (one run each: indicative; the pairs below give the ratio)",
          ["scan rate", "comedi_loop", "labdaq"], rows)
    common = pairs_at["labdaq"][0]["rate"] if pairs_at.get("labdaq") else None
    # The fixed cost of each: a run of one sample (process start, the
    # libraries, the device, the files); the marginal CPU per sample is
    # what a run costs beyond it.
    fixed = {n: statistics.median(starts[f"{n}-1-sample"]) if starts.get(f"{n}-1-sample")
             else 0.0 for n in names}
    cpu_ratio = marginal_ratio = None
    if common:
        # Pair i: the i-th run of each, next to each other in time.
        per = {n: [x["cpu_s"] / x["samples"] if x["ok"] and x["samples"] else 0
                   for x in pairs_at.get(n, [])] for n in names}
        marg = {n: [max(x["cpu_s"] - fixed[n], 0) / x["samples"] if x["ok"] and x["samples"]
                    else 0 for x in pairs_at.get(n, [])] for n in names}
        pairs = ratios(per["labdaq"], per["comedi_loop"])
        if pairs:
            cpu_ratio = summary(pairs)
        pairs = ratios(marg["labdaq"], marg["comedi_loop"])
        if pairs:
            marginal_ratio = summary(pairs)
    res["comedi"] = {"runs": runs, "pairs": pairs_at, "starts": starts, "sustained_hz": best,
                     "common_hz": common, "cpu_ratio": cpu_ratio,
                     "marginal_cpu_ratio": marginal_ratio, "fixed_cpu_s": fixed,
                     "seconds": secs}
    rate_ratio = (best.get("labdaq", 0) / best["comedi_loop"]
                  if best.get("comedi_loop") else None)
    table("   comedi: sustained rates and ratios",
          ["", "value"],
          [["comedi_loop sustains", f"{best.get('comedi_loop', 0) / 1e3:.0f} kHz"],
           ["labdaq sustains", f"{best.get('labdaq', 0) / 1e3:.0f} kHz"],
           ["rate ratio labdaq / loop", f"{rate_ratio:.2f}" if rate_ratio else "-"],
           [f"CPU/sample, {len(pairs_at.get('labdaq', []))} pairs at {common or 0} Hz: "
            "labdaq", f"{statistics.median(per['labdaq']) * 1e9:.0f} ns" if common else "-"],
           ["CPU/sample, the same pairs: comedi_loop",
            f"{statistics.median(per['comedi_loop']) * 1e9:.0f} ns" if common else "-"],
           [f"CPU/sample labdaq / loop at {common or 0} Hz, whole process",
            f"{cpu_ratio['median']:.2f} (min {cpu_ratio['min']:.2f}, max "
            f"{cpu_ratio['max']:.2f})" if cpu_ratio else "-"],
           ["fixed CPU, a 1-sample run: labdaq / loop",
            f"{fixed['labdaq'] * 1e3:.0f} ms / {fixed['comedi_loop'] * 1e3:.0f} ms"],
           [f"CPU/sample labdaq / loop at {common or 0} Hz, beyond the fixed cost",
            f"{marginal_ratio['median']:.2f} (min {marginal_ratio['min']:.2f}, max "
            f"{marginal_ratio['max']:.2f})" if marginal_ratio else "-"]])
    res["comedi"]["rate_ratio"] = rate_ratio


def read_vm_runs(path):
    """The run, pair and start lines of a VM bench script's output."""
    runs, pairs_at, starts = {}, {}, {}
    try:
        with open(path) as f:
            for line in f:
                w = line.split()
                if len(w) == 5 and w[0] == "start":
                    starts.setdefault(w[1], []).append(float(w[3]))
                if len(w) == 7 and w[0] in ("run", "pair"):
                    (runs if w[0] == "run" else pairs_at).setdefault(w[1], []).append(
                        {"rate": int(w[2]), "ok": w[3] == "ok", "samples": int(w[4]),
                         "cpu_s": float(w[5]), "wall_s": float(w[6])})
    except OSError:
        pass
    return runs, pairs_at, starts


def bench_usb(q, res):
    """labdaq against sigrok-cli on the emulated fx2lafw board, in the VM
    (tests/vm/run.sh with VM_BENCH_USB: tests/vm/guest/bench-usb.sh runs
    both on a fresh board at each of fx2lafw's rates, highest first, then
    pairs at the highest rate both sustained).  A run is ok when the
    contender got every sample and the gadget lost none."""
    secs, reps = (1, 2) if q else (2, 6)
    if not os.path.exists(os.path.join(BUILD, "usb", "fx2gadget")) or \
            not shutil.which("sigrok-cli"):
        print("8. usb: skipped (build/usb/fx2gadget or sigrok-cli missing: make check "
              "builds the one, install-deps.sh vm installs the other)\n")
        return
    env = dict(os.environ, VM_BENCH_USB=f"{secs} {reps}", VM_TESTS="none",
               VM_TIMEOUT="1500")
    env.pop("LABDAQ_LOCK_DIR", None)
    r = subprocess.run([os.path.join(TOP, "tests", "vm", "run.sh")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = os.path.join(BUILD, "vm", "share", "out", "bench-usb.txt")
    runs, pairs_at, starts = read_vm_runs(out)
    # "gadget NAME RATE exit STATUS lost N" follows each run: a loss the
    # contender exited 0 on is a silent one (no overrun flag on an FX2)
    silent = set()
    try:
        with open(out) as f:
            for w in (line.split() for line in f):
                if len(w) == 7 and w[0] == "gadget" and w[4] == "0" and w[6] not in ("0", "?"):
                    silent.add((w[1], int(w[2])))
    except OSError:
        pass
    if not runs:
        print("8. usb: the VM run gave no results (build/vm/console.log)")
        print("\n".join(r.stdout.splitlines()[-15:]) + "\n")
        return
    names = ("sigrok-cli", "labdaq")
    best = {}
    for n in names:
        for rate in sorted({x["rate"] for x in runs.get(n, [])}, reverse=True):
            if all(x["ok"] for x in runs[n] if x["rate"] == rate):
                best[n] = rate
                break
    rows = []
    for rate in sorted({x["rate"] for v in runs.values() for x in v}, reverse=True):
        row = [f"{rate / 1e6:g} MHz"]
        for n in names:
            rs = [x for x in runs.get(n, []) if x["rate"] == rate]
            cpu = [x["cpu_s"] / x["samples"] * 1e9 for x in rs if x["ok"] and x["samples"]]
            row.append(("ok" if rs and all(x["ok"] for x in rs) else
                        "loss, silent" if (n, rate) in silent else "loss")
                       + (f", {statistics.median(cpu):.0f} ns" if cpu else ""))
        rows.append(row)
    table("8. usb: labdaq acquire vs sigrok-cli on the emulated fx2lafw board "
          "(FunctionFS on dummy_hcd,\n   TCG), 8 channels, "
          f"{secs} s per run, a fresh board each: without loss?, CPU per sample\n   "
          "(\"silent\": the gadget lost samples and the contender exited 0)",
          ["rate", "sigrok-cli", "labdaq"], rows)
    common = pairs_at["labdaq"][0]["rate"] if pairs_at.get("labdaq") else None
    # CPU per sample delivered, loss or not (a pair's rate was sustained in
    # the single runs; the pairs themselves may lose a little): each
    # contender processed what it received.
    per = {n: [x["cpu_s"] / x["samples"] if x["samples"] else 0
               for x in pairs_at.get(n, [])] for n in names}
    pairs = [a / b for a, b in zip(per["labdaq"], per["sigrok-cli"]) if a and b]
    cpu_ratio = summary(pairs) if pairs else None
    fixed = {n: statistics.median(starts[f"{n}-1-packet"]) if starts.get(f"{n}-1-packet")
             else 0.0 for n in names}
    rate_ratio = (best.get("labdaq", 0) / best["sigrok-cli"]
                  if best.get("sigrok-cli") else None)
    res["usb"] = {"runs": runs, "pairs": pairs_at, "starts": starts, "sustained_hz": best,
                  "common_hz": common, "cpu_ratio": cpu_ratio, "rate_ratio": rate_ratio,
                  "fixed_cpu_s": fixed, "seconds": secs}
    table("   usb: sustained rates and ratios", ["", "value"],
          [["sigrok-cli sustains", f"{best.get('sigrok-cli', 0) / 1e6:g} MHz"],
           ["labdaq sustains", f"{best.get('labdaq', 0) / 1e6:g} MHz"],
           ["rate ratio labdaq / sigrok-cli", f"{rate_ratio:.2f}" if rate_ratio else "-"],
           [f"CPU/sample, {len(pairs)} pairs at {common or 0} Hz: labdaq / sigrok-cli",
            f"{cpu_ratio['median']:.2f} (min {cpu_ratio['min']:.2f}, max "
            f"{cpu_ratio['max']:.2f})" if cpu_ratio else "-"],
           ["fixed CPU, a 1-packet capture: labdaq / sigrok-cli",
            f"{fixed['labdaq'] * 1e3:.0f} ms / {fixed['sigrok-cli'] * 1e3:.0f} ms"]])


# ---- the marks ------------------------------------------------------------

def marks(res):
    rows = []

    def add(what, target, value, ok):
        rows.append([what, target, value, "met" if ok else "MISSED"])

    if "stream" in res:
        st = res["stream"]
        r = st["ratios"].get("labdaq/fio")
        lab = st["runs"]["labdaq"]
        drop = max(x["dropped"] for x in lab)
        rss = statistics.median(x["maxrss_kb"] for x in lab) * 1024
        pss = statistics.median(x["pss_peak_kb"] for x in lab) * 1024
        limit = st["ring_bytes"] + 32 * MIB
        if r:
            add("stream: labdaq / fio O_DIRECT (own clocks)", ">= 0.95", f"{r['median']:.2f}",
                r["median"] >= 0.95)
        r = st["ratios_wall"].get("labdaq/fio")
        if r:
            add("stream: labdaq / fio O_DIRECT (wall)", ">= 0.95", f"{r['median']:.2f}",
                r["median"] >= 0.95)
        add("stream: frames dropped (block)", "0", str(drop), drop == 0)
        add("stream: peak memory, max RSS", f"<= {limit >> 20} MiB", f"{rss / MIB:.0f} MiB",
            rss <= limit)
        add("stream: peak memory, PSS", f"<= {limit >> 20} MiB", f"{pss / MIB:.0f} MiB",
            pss <= limit)
    if "ring_bulk" in res:
        r = res["ring_bulk"]["ratios"].get("ldq-zerocopy/ck-copy")
        if r:
            add("ring bulk: zero-copy / ck_ring", ">= 1.5", f"{r['median']:.2f}",
                r["median"] >= 1.5)
    if "ring_small" in res:
        r = res["ring_small"]["ratios"]
        if "ldq-one/ck" in r:
            add("ring small: one at a time / ck_ring", ">= 1.0",
                f"{r['ldq-one/ck']['median']:.2f}", r["ldq-one/ck"]["median"] >= 1.0)
        if "ldq-batch/ck" in r:
            add("ring small: batched / ck_ring", ">= 5", f"{r['ldq-batch/ck']['median']:.2f}",
                r["ldq-batch/ck"]["median"] >= 5)
    if "idle" in res:
        for k, v in res["idle"].items():
            m = statistics.median(x["cpu_pct"] for x in v)
            add(f"idle: {k}", "< 2 %", f"{m:.2f} %", m < 2)
    if "stop" in res:
        m = statistics.median(res["stop"]["ms"])
        add("stop latency", "< 200 ms", f"{m:.1f} ms", m < 200)
    if "sweep" in res:
        m = max(statistics.median(res["sweep"]["us_per_point"]),
                statistics.median(res["sweep"]["us_per_point_in_run"]))
        add("sweep overhead (the larger of the two)", "< 20 µs/point", f"{m:.2f} µs", m < 20)
    if "comedi" in res:
        c = res["comedi"]
        rr = c.get("rate_ratio")
        add("comedi: sustained rate labdaq / minimal loop", ">= 1.0",
            f"{rr:.2f}" if rr else "-", bool(rr) and rr >= 1.0)
        cr = c.get("cpu_ratio")
        add(f"comedi: CPU per sample labdaq / loop ({c['seconds']} s runs, whole process)",
            "<= 1.2", f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.2)
        cr = c.get("marginal_cpu_ratio")
        add("comedi: CPU per sample labdaq / loop, beyond a 1-sample run", "<= 1.2",
            f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.2)
    if "usb" in res:
        u = res["usb"]
        rr = u.get("rate_ratio")
        add("usb: sustained rate labdaq / sigrok-cli (issue 13)", ">= 1.0",
            f"{rr:.2f}" if rr else "-", bool(rr) and rr >= 1.0)
        cr = u.get("cpu_ratio")
        add(f"usb: CPU per sample labdaq / sigrok-cli ({u['seconds']} s runs)", "<= 1.0",
            f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.0)
    title = "Marks (issue 5; medians of the ratios)"
    if res.get("quick"):
        title += ": QUICK run, indicative only (short idle runs count their start-up)"
    table(title, ["mark", "target", "measured", ""], rows)
    res["marks"] = rows


# ---- the machine ----------------------------------------------------------

def sh(argv):
    try:
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True).stdout.strip()
    except OSError:
        return ""


def machine(datadir):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    fs = sh(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", datadir])
    dev = fs.split()[0] if fs else ""
    model = ""
    base = os.path.basename(dev)
    base = re.sub(r"p?\d+$", "", base) if not os.path.exists(f"/sys/block/{base}") else base
    for p in (f"/sys/block/{base}/device/model", f"/sys/block/{base}/device/vendor"):
        try:
            with open(p) as f:
                model = (model + " " + f.read().strip()).strip()
        except OSError:
            pass
    if base.startswith("vd"):
        model = "virtio block device" + (f", vendor {model}" if model else "")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_GiB": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "target_dir": datadir,
        "filesystem": fs,
        "disk": model,
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "ck": sh(["dpkg-query", "-W", "-f=${Version}", "libck-dev"]),
        "fio": sh(["fio", "--version"]),
        "compiler": sh(["cc", "--version"]).splitlines()[0] if sh(["cc", "--version"]) else "",
        "labdaq": sh(["git", "-C", TOP, "describe", "--always", "--dirty"]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "0") not in ("", "0"))
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", "1,2,3,4,5,6,7,8"))
    ap.add_argument("--dir", default=os.environ.get("BENCH_DIR") or
                    os.path.join(BUILD, "bench-data"))
    ap.add_argument("--json", default=os.path.join(BIN, "results.json"))
    a = ap.parse_args()
    only = {int(x) for x in a.only.split(",") if x.strip()}
    q = a.quick

    # A directory of our own in the target directory, removed at the end.
    os.makedirs(a.dir, exist_ok=True)
    datadir = os.path.join(os.path.abspath(a.dir), f"labdaq-bench.{os.getpid()}")
    os.makedirs(datadir)
    # Device locks of our own: never meet a user's or a test's runs.
    os.environ["LABDAQ_LOCK_DIR"] = os.path.join(datadir, "locks")

    m = machine(datadir)
    print(f"labdaq benchmarks{' (quick)' if q else ''}: {m['date']}")
    print(f"  {m['nproc']} CPUs: {m['cpu']}; kernel {m['kernel']}; {m['memory_GiB']} GiB")
    print(f"  target {datadir}: {m['filesystem']} ({m['disk']})")
    print(f"  labdaq {m['labdaq']}; ck {m['ck']}; {m['fio']}; {m['compiler']}")
    print(f"  load average at the start: {' '.join(m['loadavg'])}"
          + ("  (a busy machine: expect noise)" if float(m["loadavg"][0]) > 0.5 else ""))
    if q:
        print("  QUICK: a smoke run with short trials and small files; the marks need the "
              "full run")
    print()
    res = {"machine": m, "quick": q}
    t0 = time.monotonic()
    try:
        if 1 in only:
            bench_ring_small(q, res)
        if 2 in only:
            bench_ring_bulk(q, res)
        if 3 in only:
            bench_stream(q, res, datadir)
        if 4 in only:
            bench_idle(q, res, datadir)
        if 5 in only:
            bench_stop(q, res, datadir)
        if 6 in only:
            bench_sweep(q, res, datadir)
        if 7 in only:
            bench_comedi(q, res)
        if 8 in only:
            bench_usb(q, res)
    finally:
        shutil.rmtree(datadir, ignore_errors=True)
    marks(res)
    res["machine"]["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    res["elapsed_s"] = time.monotonic() - t0
    with open(a.json, "w") as f:
        json.dump(res, f, indent=1)
    print(f"{time.monotonic() - t0:.0f} s; load average at the end: "
          f"{' '.join(res['machine']['loadavg_end'])}; raw results: {a.json}")


if __name__ == "__main__":
    main()
