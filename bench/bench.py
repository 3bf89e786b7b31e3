#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""bench.py - run labdaq's benchmarks against its peers and print the tables.

    bench.py [--quick] [--only 1,2,...] [--dir DIR] [--json FILE]

1 ring_small  8-byte items (build/bench/ring_small)
2 ring_bulk   64 KiB blocks through 64 MiB (build/bench/ring_bulk)
3 stream      labdaq acquire sim:camera --rate 0 vs fio (psync QD1, libaio at
              the best of a depth scan) and dd, O_DIRECT, to durability; then
              again with transparent huge pages switched to 'never' (or
              'madvise' where the machine has 'never'), when root, restored
4 idle        a paced 1 MB/s run: CPU of one core
5 stop        SIGINT to exit, file finalized, in a paced run
6 sweep       a 10,000-point sweep of sim:ohm: microseconds per point
7 comedi      labdaq acquire vs a minimal comedi_command + read() loop
              (build/bench/comedi_loop) on comedi_test, in the VM
              (tests/vm/run.sh with VM_BENCH): sustained rate, CPU per sample
8 fixed       a one-frame run, exec to exit, vs bench/one_frame.c, and the
              parts of labdaq's fixed cost (build/bench/fixed_parts)
9 v4l2        labdaq acquire (USERPTR, MMAP) vs v4l2-ctl --stream-mmap
              --stream-to on vivid in the VM (VM_BENCH_V4L2): fps kept, CPU/frame
10 usb        labdaq acquire vs Debian's sigrok-cli on the emulated fx2lafw
              board (build/usb/fx2gadget), in the VM (VM_BENCH_USB):
              sustained rate without loss, CPU per sample

Contenders run interleaved (A B C, then C B A, ...) in one process or this
script; every table gives the median, min and max over the repetitions and
the ratios to the peers pair by pair (the ratio of the two runs of one
repetition, then their median, min and max).  Standard library only: run
with Debian's /usr/bin/python3.  Environment: BENCH_QUICK=1 (a smoke run,
well under a minute), BENCH_DIR (the directory the stream is written in; default
build/bench-data), BENCH_ONLY (like --only), BENCH_V4L2_DISK=0 (section 9
writes to the VM's tmpfs rather than an ext4 disk of its own),
BENCH_COMEDI_SMP (section 7's vCPUs, default 1; 2: two, as before
2026-12-06 21:00, see BENCHMARKS.md "comedi").
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
# The samples of bench-usb.sh's 1-packet capture (--samples 512)
USB_ONE_PACKET = 512


# ---- statistics and tables ------------------------------------------------

def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "n": len(values)}


def ratios(a, b):
    """Pair by pair: run i of a over run i of b."""
    return [x / y for x, y in zip(a, b) if y]


def beyond_fixed(cpu_s, n, fixed_s, fixed_n):
    """CPU per item beyond the fixed cost: (CPU of a run - CPU of the same
    program's shortest run) / (items of the run - items of the shortest
    run); the fixed cost (start, set-up, end) is per run, not per item."""
    return max(cpu_s - fixed_s, 0) / (n - fixed_n) if n > fixed_n else 0


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
             "ones; batch = 64 items;\n   boost: Boost's lockfree::spsc_queue (capacity<8192>), "
             "boost-batch: its push/pop of 64 items")
    value_table(title, "items/s", series, ["ldq-one", "ldq-batch", "ck", "boost",
                                           "boost-batch", "mutex"])
    r = ratio_table("   ratios", series, [("ldq-one", "ck"), ("ldq-batch", "ck"),
                                            ("ldq-one", "boost"), ("ldq-batch", "boost"),
                                            ("ldq-batch", "boost-batch"),
                                            ("ldq-one", "mutex"), ("ldq-batch", "mutex"),
                                            ("boost", "ck"), ("ck", "mutex")])
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

def remove_run(npy):
    """Remove what a labdaq run left: NAME.npy, NAME.json, NAME.gaps.npy."""
    for f in (npy, npy[:-4] + ".json", npy[:-4] + ".gaps.npy"):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass


def read_json(path):
    with open(path) as f:
        return json.load(f)


def utc_s(stamp):
    """Seconds of an ISO 8601 UTC stamp with milliseconds, as the .json has."""
    t = time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    frac = float("0" + stamp[19:].rstrip("Z")) if len(stamp) > 20 else 0.0
    return time.mktime(t) + frac


FIO_DEPTHS = (1, 2, 4, 8, 16, 32)


def fio_cmd(path, size, engine, depth):
    return ["fio", "--name=seqwrite", f"--filename={path}", "--rw=write", "--bs=4M",
            f"--size={size}", "--direct=1", f"--ioengine={engine}", f"--iodepth={depth}",
            "--end_fsync=1", "--fallocate=none", "--output-format=json"]


def durable_run(argv, check):
    """Run @argv from exec to exit (its last act a fsync/fdatasync), then
    @check(result) verifies and removes its files."""
    settle()
    w = Watched(argv)
    r = w.wait()
    r["end_utc"] = time.time()
    check(r)
    return r


def fio_depth_scan(q, datadir):
    """fio libaio at each depth, 1 GiB (quick: 256 MiB) in 4 MiB blocks,
    interleaved: the depth that gives this disk's best."""
    size = (256 if q else 1024) * MIB
    dat = os.path.join(datadir, "scan.dat")
    walls = {d: [] for d in FIO_DEPTHS}

    def rm(r):
        must(r, "fio (depth scan)")
        os.unlink(dat)

    for rep in range(2 if q else 3):
        for d in (FIO_DEPTHS if rep % 2 == 0 else FIO_DEPTHS[::-1]):
            walls[d].append(durable_run(fio_cmd(dat, size, "libaio", d), rm)["wall_s"])
    rates = {d: size / statistics.median(v) / 1e6 for d, v in walls.items()}
    best = max(rates, key=rates.get)
    table(f"   fio libaio, {size >> 20} MiB in 4 MiB blocks, O_DIRECT, end_fsync: exec to exit "
          f"(medians of {len(walls[best])})",
          ["iodepth"] + [str(d) for d in FIO_DEPTHS],
          [["MB/s"] + [f"{rates[d]:.0f}" for d in FIO_DEPTHS]])
    return best, rates


def stream_check(name, size, frames, datadir, npy, dat):
    def check(r):
        must(r, name)
        r["bytes"] = size
        r["dropped"] = 0
        if name == "labdaq":
            js = os.path.join(datadir, "stream.json")
            meta = read_json(js)
            r["dropped"] = meta["dropped"]
            r["started_utc"] = utc_s(meta["started_utc"])
            if meta["status"] != "complete" or meta["written"] != frames or meta["dropped"]:
                sys.stderr.write(f"bench: labdaq wrote {meta['written']} of {frames} frames, "
                                 f"dropped {meta['dropped']}, status {meta['status']}\n")
                sys.exit(1)
            path = npy
            want = 4096 + size
        else:
            path, want, js = dat, size, None
        if os.path.getsize(path) != want:
            sys.stderr.write(f"bench: {name} wrote a file of the wrong size\n")
            sys.exit(1)
        if js:
            remove_run(path)
        else:
            os.unlink(path)
    return check


def bench_stream(q, res, datadir, key="stream", thp=""):
    width, height = 2048, 1024
    frame = width * height * 2            # 4 MiB
    frames = 128 if q else 768            # 512 MiB or 3 GiB
    size = frame * frames
    reps = 2 if q else 7
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
    print(f"3. Stream to disk{thp}: {size >> 20} MiB in {frame >> 20} MiB frames/blocks "
          f"into {datadir}\n")
    depth, scan = fio_depth_scan(q, datadir)

    def cmds(n):
        return {
            "labdaq": [LABDAQ, "acquire", f"sim:camera?width={width}&height={height}",
                       "--rate", "0", "--frames", str(n), "--on-full", "block",
                       "--progress", "none", "-o", npy] + (["--ring", "64M"] if n > 1 else []),
            "fio-psync": fio_cmd(dat, n * frame, "psync", 1),
            f"fio-aio{depth}": fio_cmd(dat, n * frame, "libaio", depth),
            "dd": ["dd", "if=/dev/zero", f"of={dat}", "bs=4M", f"count={n}", "oflag=direct",
                   "conv=fdatasync"],
        }
    full, one = cmds(frames), cmds(1)
    order = list(full)
    fios = order[1:3]
    runs = {k: [] for k in order}
    for rep in range(reps):
        for name in (order if rep % 2 == 0 else order[::-1]):
            r = durable_run(full[name], stream_check(name, size, frames, datadir, npy, dat))
            # The same program writing one block: its fixed cost (start,
            # set-up, the final fsync of a file, exit).
            r1 = durable_run(one[name], stream_check(name, frame, 1, datadir, npy, dat))
            r["fixed_s"] = r1["wall_s"]
            r["net_s"] = max(r["wall_s"] - r1["wall_s"], 1e-6)
            r["MBps"] = size / r["wall_s"] / 1e6
            r["net_MBps"] = (size - frame) / r["net_s"] / 1e6
            if name == "labdaq":
                r["own_MBps"] = size / (r["end_utc"] - r["started_utc"]) / 1e6
            r["cpu_s_per_GB"] = (r["user_s"] + r["sys_s"]) / (size / 1e9)
            runs[name].append(r)
    settle()

    net = {k: [r["net_MBps"] for r in v] for k, v in runs.items()}
    wall = {k: [r["MBps"] for r in v] for k, v in runs.items()}
    best = max(fios, key=lambda k: statistics.median(net[k]))
    net["fio-best"] = net[best]
    wall["fio-best"] = wall[max(fios, key=lambda k: statistics.median(wall[k]))]
    rows = []
    for k in order:
        v = runs[k]
        m = summary([r["net_MBps"] for r in v])
        own = [r["own_MBps"] for r in v if "own_MBps" in r]
        rows.append([k, f"{m['median']:.0f}", f"{m['min']:.0f}", f"{m['max']:.0f}",
                     f"{statistics.median(r['MBps'] for r in v):.0f}",
                     f"{statistics.median(own):.0f}" if own else "-",
                     f"{statistics.median(r['fixed_s'] for r in v) * 1e3:.0f}",
                     max(r["dropped"] for r in v),
                     f"{statistics.median(r['maxrss_kb'] for r in v) / 1024:.0f}",
                     f"{statistics.median(r['pss_peak_kb'] for r in v) / 1024:.0f}",
                     f"{statistics.median(r['cpu_s_per_GB'] for r in v):.2f}",
                     f"{max(r['dirty_peak_kb'] for r in v) / 1024:.0f}",
                     f"{max(r['writeback_peak_kb'] for r in v) / 1024:.0f}"])
    title = (f"   labdaq: sim:camera {width}x{height} --rate 0 --on-full block --ring 64M; "
             f"fio: bs=4M, direct=1, end_fsync=1,\n   fallocate=none, psync (QD1) and libaio "
             f"at iodepth {depth} (the scan's best); dd: bs=4M oflag=direct conv=fdatasync.\n"
             f"   Every clock ends at the process's exit, after its last fsync/fdatasync: the "
             f"data are durable.\n"
             f"   'durable': (bytes - one block) / (wall of the run - wall of the same program "
             f"writing one block),\n   the fixed cost of each (start, set-up, exit) taken out; "
             f"'exec-exit': bytes / wall from exec to exit;\n   'own': labdaq's started_utc "
             f"(the .json) to its exit; 'fixed ms': the one-block run's wall.\n"
             f"   Memory and CPU of the whole process (medians); Dirty and Writeback: the whole "
             f"system's page cache,\n   peaks polled every 50 ms")
    table(title, ["contender", "durable MB/s", "min", "max", "exec-exit", "own", "fixed ms",
                  "dropped", "maxRSS MiB", "PSS MiB", "CPU s/GB", "Dirty MiB", "Wback MiB"],
          rows)
    pairs = [("labdaq", "fio-best"), ("labdaq", "fio-psync"), ("labdaq", f"fio-aio{depth}"),
             ("labdaq", "dd"), ("dd", "fio-psync")]
    r = ratio_table(f"   ratios of durable MB/s (fio-best = {best})", net, pairs)
    rw = ratio_table("   ratios of exec-to-exit MB/s (each one's fixed cost included)", wall,
                     pairs)
    res[key] = {"runs": {k: [{x: y for x, y in rr.items() if x != "output"} for rr in v]
                         for k, v in runs.items()},
                "ratios": r, "ratios_wall": rw, "ring_bytes": ring, "bytes": size,
                "fio_best": best, "aio_depth": depth, "depth_scan_MBps": scan, "thp": thp}


# ---- transparent huge pages ----------------------------------------------

THP = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode():
    try:
        with open(THP) as f:
            return re.search(r"\[(\w+)\]", f.read()).group(1)
    except (OSError, AttributeError):
        return ""


def thp_set(mode):
    with open(THP, "w") as f:
        f.write(mode)


def bench_stream_thp(q, res, datadir):
    """The stream under the machine's THP setting, then under the other of
    'never' / 'madvise' when we may switch it (root), restored on every
    exit (an exception, Ctrl-C, SIGTERM, SIGHUP)."""
    mode = thp_mode()
    bench_stream(q, res, datadir, "stream", f" (THP {mode or 'unknown'}, the machine's)")
    other = "madvise" if mode == "never" else "never"
    if not mode or not os.access(THP, os.W_OK):
        print(f"3b. Stream with THP {other}: SKIPPED (needs root to switch {THP})\n")
        return

    def restore(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old = {s: signal.signal(s, restore) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        thp_set(other)
        bench_stream(q, res, datadir, "stream_thp", f" (THP {other}, switched for this run)")
    finally:
        thp_set(mode)
        for s, h in old.items():
            signal.signal(s, h)
        print(f"   THP restored to {thp_mode()}\n")


# ---- 8: the fixed cost of a short run ------------------------------------

def bench_fixed(q, res, datadir):
    reps = 7 if q else 21
    w, h = 64, 64
    out = os.path.join(datadir, "one.npy")
    js = os.path.join(datadir, "one.json")
    peer = os.path.join(datadir, "peer.npy")
    cmds = {
        "labdaq": [LABDAQ, "acquire", f"sim:camera?width={w}&height={h}", "--frames", "1",
                   "--progress", "none", "-o", out],
        "labdaq-ring64M": [LABDAQ, "acquire", f"sim:camera?width={w}&height={h}", "--frames",
                           "1", "--ring", "64M", "--progress", "none", "-o", out],
        "one_frame": [os.path.join(BIN, "one_frame"), str(w), str(h), peer],
        "labdaq-help": [LABDAQ, "--help"],
        "true": ["/bin/true"],
    }
    order = list(cmds)
    walls = {k: [] for k in order}
    for rep in range(reps):
        for name in (order if rep % 2 == 0 else order[::-1]):
            t0 = time.monotonic()
            p = subprocess.run(cmds[name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            walls[name].append(time.monotonic() - t0)
            if p.returncode:
                sys.stderr.write(f"bench: {name} failed:\n{p.stdout.decode()}\n")
                sys.exit(1)
            if name.startswith("labdaq-ring") or name == "labdaq":
                meta = read_json(js)
                if meta["written"] != 1 or os.path.getsize(out) != 4096 + w * h * 2:
                    sys.stderr.write(f"bench: {name} wrote {meta['written']} frames\n")
                    sys.exit(1)
                remove_run(out)
            elif name == "one_frame":
                os.unlink(peer)
    ms = {k: [x * 1e3 for x in v] for k, v in walls.items()}
    rows = [[k, f"{statistics.median(v):.2f}", f"{min(v):.2f}", f"{max(v):.2f}", len(v)]
            for k, v in ms.items()]
    table(f"8. Fixed cost of a short run: one {w}x{h} frame (8 KiB) to a durable file, exec to "
          f"exit, ms\n   labdaq: acquire sim:camera --frames 1 (default ring: 1 MiB for this "
          f"run); labdaq-ring64M: the same\n   with --ring 64M (the default before); one_frame: "
          f"bench/one_frame.c (malloc, fill, write, fsync);\n   labdaq-help: exec, the "
          f"shared libraries and a page of text on stdout; true: /bin/true",
          ["program", "median", "min", "max", "runs"], rows)
    r = ratio_table("   ratios", ms, [("labdaq", "one_frame"), ("labdaq-ring64M", "one_frame"),
                                      ("labdaq-help", "one_frame"), ("one_frame", "true")])
    series = run_trials([os.path.join(BIN, "fixed_parts"), datadir, str(reps)])
    parts = {k: [x / 1e3 for x in v] for k, v in series.items()}
    table("   the parts, each timed alone in bench/fixed_parts.c (ms): labdaq's ring "
          "(ldq_ring_new + free),\n   two threads created and joined, the lock's and the "
          "sidecar's system calls, an 8 KiB fdatasync",
          ["part", "median", "min", "max", "runs"],
          [[k, f"{statistics.median(v):.3f}", f"{min(v):.3f}", f"{max(v):.3f}", len(v)]
           for k, v in parts.items()])
    res["fixed"] = {"ms": ms, "ratios": r, "parts_ms": parts}


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
            remove_run(out)
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
        remove_run(out)
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
                # Comment lines (#) and the header line (index,...) skipped.
                rows = [line.split(",") for line in f if line and line[0].isdigit()]
            if len(rows) != n or [int(x[0]) for x in rows] != list(range(n)):
                sys.stderr.write(f"bench: sweep wrote {len(rows)} rows of {n}\n")
                sys.exit(1)
            if n > 1:
                # time_s of each row: the points' own clock, from the
                # first row to the last.
                inrun.append((float(rows[-1][2]) - float(rows[0][2])) / (n - 1) * 1e6)
            os.unlink(csv)
            # The sweep's sidecar, where labdaq writes one.
            if os.path.exists(csv[:-4] + ".json"):
                os.unlink(csv[:-4] + ".json")
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
    # Pairs of 10 s runs (a 5 s rate scan first): a stream's CPU per sample,
    # the start (process, libraries, files) amortized as a lab's run does.
    secs, reps, scan = (1, 2, 1) if q else (10, 8, 5)
    # One vCPU (BENCH_COMEDI_SMP, default 1): with two, under TCG on a
    # shared host, each program's CPU time is mostly the other vCPU's
    # preemption by the host while it holds comedi's lock (a spin charged
    # to whichever program waits) and the ratio of one code moved 0.8-11x
    # between pairs; see BENCHMARKS.md, "comedi".
    smp = os.environ.get("BENCH_COMEDI_SMP", "1")
    # threadirqs: softirqs run in ksoftirqd rather than on the task they
    # interrupt.  comedi_test makes its samples in a timer (a softirq, ~20%
    # of the CPU at 1 MHz under TCG) and Debian's kernel has no
    # CONFIG_IRQ_TIME_ACCOUNTING: without it the generation is charged to
    # whichever program happens to run at the tick (perf: 20 of labdaq's
    # 200 samples, 0 of the loop's, in one pair), with it to neither.
    loop = os.path.join(BIN, "comedi_loop")
    if not os.path.exists(loop):
        print("7. comedi: skipped (bench/comedi_loop not built: no comedilib)\n")
        return
    # The guest's clock on the TSC: under TCG the kernel finds the TSCs
    # unsynchronized and falls back to the HPET, where every
    # clock_gettime() is a system call and an emulated MMIO read, a cost a
    # lab PC does not have (labdaq reads the clock a few times a block, the
    # minimal loop never).
    env = dict(os.environ, VM_BENCH=f"{secs} {reps} {scan}", VM_TESTS="60", VM_TIMEOUT="1200",
               VM_APPEND="clocksource=tsc tsc=reliable threadirqs", VM_SMP=smp)
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
            if all(x["ok"] and x["samples"] >= rate * scan * 0.99 for x in rs):
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
          f"(bench/comedi_loop.c),\n   comedi_test in the VM (TCG, {smp} vCPU), 2 channels, "
          f"{scan} s per run, labdaq with a 4 MiB ring: runs without overflow, CPU per "
          f"sample\n   (one run each: indicative; the pairs below, {secs} s runs, give the ratio)",
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
        marg = {n: [beyond_fixed(x["cpu_s"], x["samples"], fixed[n], 1) if x["ok"] else 0
                    for x in pairs_at.get(n, [])] for n in names}
        pairs = ratios(per["labdaq"], per["comedi_loop"])
        if pairs:
            cpu_ratio = summary(pairs)
        pairs = ratios(marg["labdaq"], marg["comedi_loop"])
        if pairs:
            marginal_ratio = summary(pairs)
    res["comedi"] = {"runs": runs, "pairs": pairs_at, "starts": starts, "sustained_hz": best,
                     "common_hz": common, "cpu_ratio": cpu_ratio,
                     "marginal_cpu_ratio": marginal_ratio, "fixed_cpu_s": fixed,
                     "seconds": secs, "vcpus": smp}
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


def bench_v4l2(q, res):
    """labdaq (USERPTR into the ring, and MMAP with one copy) against
    v4l2-ctl --stream-mmap --stream-to=FILE on vivid in the VM, at vivid's
    largest YUYV frame size and its fastest rate, both writing to the
    an ext4 disk of the guest's, or its tmpfs with BENCH_V4L2_DISK=0
    (tests/vm/run.sh with VM_BENCH_V4L2, VM_DISK_MB:
    tests/vm/guest/bench-v4l2.sh runs the three, interleaved)."""
    frames, reps = (12, 1) if q else (30, 4)
    env = dict(os.environ, VM_BENCH_V4L2=f"{frames} {reps}", VM_TESTS="none",
               VM_TIMEOUT="1500", VM_MEM="3072",
               VM_APPEND="clocksource=tsc tsc=reliable")
    # The files on an ext4 disk of the guest's, as a lab writes them (labdaq
    # with O_DIRECT there); BENCH_V4L2_DISK=0: on its tmpfs (no O_DIRECT:
    # both copy every byte into the page cache).
    disk = os.environ.get("BENCH_V4L2_DISK", "1") not in ("", "0")
    if disk:
        env["VM_DISK_MB"] = str(frames * 18 + 512)
    env.pop("LABDAQ_LOCK_DIR", None)
    r = subprocess.run([os.path.join(TOP, "tests", "vm", "run.sh")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = os.path.join(BUILD, "vm", "share", "out", "bench-v4l2.txt")
    mode, starts, pairs = None, {}, {}
    try:
        with open(out) as f:
            for line in f:
                w = line.split()
                if line.startswith("# files in "):
                    disk = line.startswith("# files in /mnt/disk")
                if len(w) == 5 and w[0] == "mode":
                    mode = {"width": int(w[1]), "height": int(w[2]), "fourcc": w[3],
                            "fps": float(w[4])}
                elif len(w) == 5 and w[0] == "start":
                    starts.setdefault(w[1], []).append(float(w[3]))
                elif len(w) == 6 and w[0] == "pair":
                    lost = int(w[3]) if w[3].lstrip("-").isdigit() else None
                    pairs.setdefault(w[1], []).append(
                        {"frames": int(w[2]), "lost": lost, "cpu_s": float(w[4]),
                         "wall_s": float(w[5])})
    except OSError:
        pass
    names = ("v4l2-ctl", "labdaq-userptr", "labdaq-mmap")
    if not mode or not all(pairs.get(n) for n in names):
        print("9. v4l2: the VM run gave no results (build/vm/console.log)")
        print("\n".join(r.stdout.splitlines()[-15:]) + "\n")
        return
    start_of = {n: ("v4l2-ctl" if n == "v4l2-ctl" else "labdaq") + "-1-frame" for n in names}
    fixed = {n: statistics.median(starts[start_of[n]]) if starts.get(start_of[n]) else 0.0
             for n in names}

    def kept_fps(x):
        # The camera's frames kept, as a rate: its rate when none is lost.
        if x["lost"] is None or x["lost"] < 0 or not x["frames"]:
            return 0.0
        return mode["fps"] * x["frames"] / (x["frames"] + x["lost"])

    per = {n: [x["cpu_s"] / x["frames"] if x["frames"] else 0 for x in pairs[n]]
           for n in names}
    marg = {n: [max(x["cpu_s"] - fixed[n], 0) / x["frames"] if x["frames"] else 0
                for x in pairs[n]] for n in names}
    fps = {n: [kept_fps(x) for x in pairs[n]] for n in names}
    rows = []
    for n in names:
        rows.append([n, f"{sum(x['lost'] == 0 for x in pairs[n])}/{len(pairs[n])}",
                     f"{statistics.median(fps[n]):.1f}",
                     f"{statistics.median(per[n]) * 1e3:.2f} ms",
                     f"{statistics.median(marg[n]) * 1e3:.2f} ms",
                     f"{fixed[n] * 1e3:.0f} ms"])
    table(f"9. v4l2: vivid {mode['fourcc']} {mode['width']}x{mode['height']} at "
          f"{mode['fps']:g} fps in the VM (TCG), files on "
          f"{'an ext4 disk' if disk else 'tmpfs'}, {frames} frames a run, {reps} rounds "
          "interleaved;\n   labdaq with 4 driver buffers (as v4l2-ctl) and a ring of 8 frames",
          ["contender", "runs, none lost", "kept fps", "CPU/frame", "CPU/frame beyond "
           "a 1-frame run", "1-frame run CPU"], rows)
    ratio = {}
    for n in names[1:]:
        ratio[n] = {"fps": ratios(fps[n], fps["v4l2-ctl"]),
                    "cpu": ratios(per[n], per["v4l2-ctl"]),
                    "cpu_marginal": ratios(marg[n], marg["v4l2-ctl"])}
    ratio_rows = []
    for n in names[1:]:
        for k, what in (("fps", "kept fps"), ("cpu", "CPU/frame, whole process"),
                        ("cpu_marginal", "CPU/frame beyond a 1-frame run")):
            v = summary(ratio[n][k]) if ratio[n][k] else None
            ratio_rows.append([f"{n} / v4l2-ctl", what,
                               f"{v['median']:.2f} (min {v['min']:.2f}, max {v['max']:.2f})"
                               if v else "-"])
    table("   v4l2: ratios to v4l2-ctl, pair by pair", ["", "", "median"], ratio_rows)
    res["v4l2"] = {"mode": mode, "pairs": pairs, "starts": starts, "fixed_cpu_s": fixed,
                   "frames": frames, "disk": disk,
                   "ratios": {n: {k: summary(v) if v else None for k, v in d.items()}
                              for n, d in ratio.items()}}
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
    contender got every sample and the gadget lost none; a contender
    sustains a rate when 3 of its runs there in a row were ok (bench-usb.sh
    stops at its first loss), and the pairs run at the lower of the two
    sustained rates."""
    secs, reps = (1, 2) if q else (2, 8)
    if not os.path.exists(os.path.join(BUILD, "usb", "fx2gadget")) or \
            not shutil.which("sigrok-cli"):
        print("10. usb: skipped (build/usb/fx2gadget or sigrok-cli missing: make check "
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
        print("10. usb: the VM run gave no results (build/vm/console.log)")
        print("\n".join(r.stdout.splitlines()[-15:]) + "\n")
        return
    names = ("sigrok-cli", "labdaq")
    # sustained: the highest rate of 3 ok runs in a row (bench-usb.sh's
    # "sustained NAME RATE" lines; 0: none)
    best = {}
    try:
        with open(out) as f:
            for w in (line.split() for line in f):
                if len(w) == 3 and w[0] == "sustained" and w[1] in names and int(w[2]):
                    best[w[1]] = int(w[2])
    except (OSError, ValueError):
        pass
    rows = []
    for rate in sorted({x["rate"] for v in runs.values() for x in v}, reverse=True):
        row = [f"{rate / 1e6:g} MHz"]
        for n in names:
            rs = [x for x in runs.get(n, []) if x["rate"] == rate]
            cpu = [x["cpu_s"] / x["samples"] * 1e9 for x in rs if x["ok"] and x["samples"]]
            row.append(("ok" if rs and all(x["ok"] for x in rs) else
                        "loss, silent" if (n, rate) in silent else "loss")
                       + f" {sum(x['ok'] for x in rs)}/{len(rs)}"
                       + (f", {statistics.median(cpu):.0f} ns" if cpu else ""))
        rows.append(row)
    table("10. usb: labdaq acquire vs sigrok-cli on the emulated fx2lafw board "
          "(FunctionFS on dummy_hcd,\n   TCG), 8 channels, "
          f"{secs} s per run, a fresh board each: without loss? (runs lossless / runs), "
          "CPU per sample\n   "
          "(\"silent\": the gadget lost samples and the contender exited 0)",
          ["rate", "sigrok-cli", "labdaq"], rows)
    common = pairs_at["labdaq"][0]["rate"] if pairs_at.get("labdaq") else None
    # CPU per sample delivered, loss or not (a pair's rate was sustained in
    # the single runs; the pairs themselves may lose a little): each
    # contender processed what it received.
    per = {n: [x["cpu_s"] / x["samples"] if x["samples"] else 0
               for x in pairs_at.get(n, [])] for n in names}
    pairs = [a / b for a, b in zip(per["labdaq"], per["sigrok-cli"]) if a and b]
    # pair runs that lost samples at the gadget (kept: never excluded)
    lossy = {n: sum(1 for x in pairs_at.get(n, []) if not x["ok"]) for n in names}
    cpu_ratio = summary(pairs) if pairs else None
    # The fixed cost of each: a capture of one packet (USB_ONE_PACKET
    # samples: process start, the libraries, the scan and open, the start
    # command, the files, the end); the marginal CPU per sample is what a
    # run costs beyond it, the section-7 definition.
    fixed = {n: statistics.median(starts[f"{n}-1-packet"]) if starts.get(f"{n}-1-packet")
             else 0.0 for n in names}
    marg = {n: [beyond_fixed(x["cpu_s"], x["samples"], fixed[n], USB_ONE_PACKET)
                for x in pairs_at.get(n, [])] for n in names}
    mpairs = [a / b for a, b in zip(marg["labdaq"], marg["sigrok-cli"]) if a and b]
    marginal_ratio = summary(mpairs) if mpairs else None
    fixed_ratio = fixed["labdaq"] / fixed["sigrok-cli"] if fixed["sigrok-cli"] else None
    rate_ratio = (best.get("labdaq", 0) / best["sigrok-cli"]
                  if best.get("sigrok-cli") else None)
    res["usb"] = {"runs": runs, "pairs": pairs_at, "starts": starts, "sustained_hz": best,
                  "common_hz": common, "cpu_ratio": cpu_ratio, "rate_ratio": rate_ratio,
                  "fixed_cpu_s": fixed, "seconds": secs, "marginal_cpu_ratio": marginal_ratio,
                  "fixed_ratio": fixed_ratio, "lossy_pairs": lossy}
    table("   usb: sustained rates and ratios", ["", "value"],
          [["sigrok-cli sustains", f"{best.get('sigrok-cli', 0) / 1e6:g} MHz"],
           ["labdaq sustains", f"{best.get('labdaq', 0) / 1e6:g} MHz"],
           ["rate ratio labdaq / sigrok-cli", f"{rate_ratio:.2f}" if rate_ratio else "-"],
           ["pair runs with a loss (at the gadget): labdaq, sigrok-cli",
            f"{lossy['labdaq']} of {len(pairs_at.get('labdaq', []))}, "
            f"{lossy['sigrok-cli']} of {len(pairs_at.get('sigrok-cli', []))}"],
           [f"CPU/sample labdaq / sigrok-cli, {len(pairs)} pairs at {common or 0} Hz, "
            "whole process", f"{cpu_ratio['median']:.2f} (min {cpu_ratio['min']:.2f}, max "
            f"{cpu_ratio['max']:.2f})" if cpu_ratio else "-"],
           ["fixed CPU, a 1-packet capture: labdaq / sigrok-cli",
            f"{fixed['labdaq'] * 1e3:.0f} ms / {fixed['sigrok-cli'] * 1e3:.0f} ms"
            + (f" = {fixed_ratio:.2f}" if fixed_ratio else "")],
           [f"CPU/sample labdaq / sigrok-cli at {common or 0} Hz, beyond the fixed cost",
            f"{marginal_ratio['median']:.2f} (min {marginal_ratio['min']:.2f}, max "
            f"{marginal_ratio['max']:.2f})" if marginal_ratio else "-"]])


# ---- the marks ------------------------------------------------------------

def marks(res):
    rows = []

    def add(what, target, value, ok):
        rows.append([what, target, value, "met" if ok else "MISSED"])

    for key in ("stream", "stream_thp"):
        if key not in res:
            continue
        st = res[key]
        thp = st["thp"].split(",")[0].strip(" (") or key
        r = st["ratios"].get("labdaq/fio-best")
        lab = st["runs"]["labdaq"]
        drop = max(x["dropped"] for x in lab)
        rss = statistics.median(x["maxrss_kb"] for x in lab) * 1024
        pss = statistics.median(x["pss_peak_kb"] for x in lab) * 1024
        limit = st["ring_bytes"] + 32 * MIB
        if r:
            add(f"stream, {thp}: labdaq / best fio ({st['fio_best']}), durable", ">= 0.95",
                f"{r['median']:.2f}", r["median"] >= 0.95)
        add(f"stream, {thp}: frames dropped (block)", "0", str(drop), drop == 0)
        add(f"stream, {thp}: peak memory, max RSS", f"<= {limit >> 20} MiB",
            f"{rss / MIB:.0f} MiB", rss <= limit)
        add(f"stream, {thp}: peak memory, PSS", f"<= {limit >> 20} MiB", f"{pss / MIB:.0f} MiB",
            pss <= limit)
    if "fixed" in res:
        r = res["fixed"]["ratios"].get("labdaq/one_frame")
        if r:
            add("short run: labdaq --frames 1 / one_frame.c, exec to exit", "<= 3",
                f"{r['median']:.2f}", r["median"] <= 3)
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
        if "ldq-one/boost" in r:
            add("ring small: one at a time / boost spsc_queue", ">= 1.0",
                f"{r['ldq-one/boost']['median']:.2f}", r["ldq-one/boost"]["median"] >= 1.0)
        if "ldq-batch/boost" in r:
            add("ring small: batched / boost spsc_queue", ">= 5",
                f"{r['ldq-batch/boost']['median']:.2f}", r["ldq-batch/boost"]["median"] >= 5)
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
        add(f"comedi: CPU per sample labdaq / loop ({c['seconds']} s runs, {c['vcpus']} vCPU, "
            "whole process)", "<= 1.2", f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.2)
        cr = c.get("marginal_cpu_ratio")
        add("comedi: CPU per sample labdaq / loop, beyond a 1-sample run", "<= 1.2",
            f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.2)
    if "v4l2" in res:
        for n, rs in res["v4l2"]["ratios"].items():
            r = rs.get("fps")
            add(f"v4l2: kept fps {n} / v4l2-ctl", ">= 1.0", f"{r['median']:.2f}" if r else "-",
                bool(r) and r["median"] >= 1.0)
            r = rs.get("cpu")
            add(f"v4l2: CPU per frame {n} / v4l2-ctl (whole process)", "<= 0.8",
                f"{r['median']:.2f}" if r else "-", bool(r) and r["median"] <= 0.8)
            r = rs.get("cpu_marginal")
            add(f"v4l2: CPU per frame {n} / v4l2-ctl, beyond a 1-frame run", "<= 0.8",
                f"{r['median']:.2f}" if r else "-", bool(r) and r["median"] <= 0.8)
    if "usb" in res:
        u = res["usb"]
        rr = u.get("rate_ratio")
        add("usb: sustained rate labdaq / sigrok-cli (issue 13)", ">= 1.0",
            f"{rr:.2f}" if rr else "-", bool(rr) and rr >= 1.0)
        cr = u.get("cpu_ratio")
        add(f"usb: CPU per sample labdaq / sigrok-cli ({u['seconds']} s runs, whole process)",
            "<= 1.0", f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.0)
        cr = u.get("marginal_cpu_ratio")
        add("usb: CPU per sample labdaq / sigrok-cli, beyond a 1-packet run (the mark)",
            "<= 1.0", f"{cr['median']:.2f}" if cr else "-", bool(cr) and cr["median"] <= 1.0)

    title = "Marks (issues 5, 12, 13, 14 and 16; medians of the ratios)"
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
        "thp": thp_mode(),
        "ck": sh(["dpkg-query", "-W", "-f=${Version}", "libck-dev"]),
        "boost": sh(["dpkg-query", "-W", "-f=${Version}", "libboost-dev"]),
        "fio": sh(["fio", "--version"]),
        "compiler": sh(["cc", "--version"]).splitlines()[0] if sh(["cc", "--version"]) else "",
        "labdaq": sh(["git", "-C", TOP, "describe", "--always", "--dirty"]),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true",
                    default=os.environ.get("BENCH_QUICK", "0") not in ("", "0"))
    ap.add_argument("--only", default=os.environ.get("BENCH_ONLY", "1,2,3,4,5,6,7,8,9,10"))
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
    print(f"  transparent huge pages: {m['thp'] or 'unknown'}")
    print(f"  labdaq {m['labdaq']}; ck {m['ck']}; boost {m['boost']}; {m['fio']}; "
          f"{m['compiler']}")
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
            bench_stream_thp(q, res, datadir)
        if 4 in only:
            bench_idle(q, res, datadir)
        if 5 in only:
            bench_stop(q, res, datadir)
        if 6 in only:
            bench_sweep(q, res, datadir)
        if 8 in only:
            bench_fixed(q, res, datadir)
        if 7 in only:
            bench_comedi(q, res)
        if 9 in only:
            bench_v4l2(q, res)
        if 10 in only:
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
