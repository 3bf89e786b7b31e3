#!/usr/bin/python3
"""comedi_profile.py - where the CPU of a comedi stream goes, from the perf
and strace output of tests/vm/guest/bench-comedi-profile.sh (run it with
`VM_BENCH_PROFILE=5 VM_TESTS=60 VM_SMP=1 VM_APPEND="clocksource=tsc tsc=reliable threadirqs"
tests/vm/run.sh`; needs Debian's linux-perf and strace on the host).

    bench/comedi_profile.py [build/vm/share/out/profile]

For each contender (comedi_loop, labdaq): the perf samples (cpu-clock, 499
Hz, every CPU) by thread and context, "irq" when the call chain passes
through an interrupt or a softirq (comedi_test makes its samples in a timer,
charged to whatever task it interrupts), "task" otherwise; the commonest
leaf functions of each; then the system calls strace counted.  Standard
library only.
"""
import collections
import gzip
import os
import sys

IRQ = {"handle_softirqs", "__do_softirq", "__irq_exit_rcu", "irq_exit_rcu", "run_timer_softirq",
       "sysvec_apic_timer_interrupt", "asm_sysvec_apic_timer_interrupt", "waveform_ai_timer",
       "sysvec_call_function", "sysvec_call_function_single", "sysvec_reschedule_ipi"}
NAMES = {"c": "comedi_loop", "l": "labdaq"}


def samples(path):
    """perf script -F comm,tid,cpu,ip,sym: a header line, then one line per
    frame (address, symbol), then an empty line."""
    cur = None
    with gzip.open(path, "rt", errors="replace") as f:
        for line in f:
            if not line.strip():
                if cur:
                    yield cur
                cur = None
            elif line[0] not in " \t" or cur is None:
                w = line.split()
                if len(w) >= 3 and w[-1].startswith("["):
                    cur = {"comm": " ".join(w[:-2]), "tid": w[-2], "frames": []}
            else:
                w = line.split(None, 1)
                if len(w) == 2:
                    cur["frames"].append(w[1].strip().split("+")[0])
    if cur:
        yield cur


def part(frames):
    """irq: the driver's sample generation (or another interrupt) charged to
    the task it interrupted; spin: waiting, interrupts off, for the comedi
    subdevice's spinlock that the generating CPU holds (its release is
    where the sample lands); own: the rest."""
    if IRQ.intersection(frames):
        return "irq"
    if frames[:1] == ["_raw_spin_unlock_irqrestore"] and \
            frames[1:2] in (["comedi_read"], ["comedi_poll"]):
        return "spin"
    return "own"


def profile(path, comm, out, parts):
    per = collections.Counter()
    leaves = collections.defaultdict(collections.Counter)
    total = 0
    for s in samples(path):
        total += 1
        if s["comm"] != comm:
            continue
        f = s["frames"]
        key = (s["tid"], "irq" if IRQ.intersection(f) else "task")
        per[key] += 1
        parts[part(f)] += 1
        leaves[key][" <- ".join(f[:3]) if f else "?"] += 1
    out.append(f"{comm}: {sum(per.values())} of {total} samples (2.0 ms each); "
               f"own {parts['own']}, spin on the driver's lock {parts['spin']}, "
               f"irq {parts['irq']}")
    for (tid, ctx), n in sorted(per.items(), key=lambda kv: -kv[1]):
        out.append(f"  thread {tid:>6} {ctx:4} {n:5}")
        for leaf, m in leaves[(tid, ctx)].most_common(4):
            out.append(f"      {m:5}  {leaf[:110]}")


def syscalls(path, out):
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return
    for line in lines:
        w = line.split()
        if len(w) >= 5 and w[0][0].isdigit() and w[-1] != "total":
            errors = f", {w[4]} errors" if len(w) == 6 else ""
            out.append(f"  {w[-1]:16} {w[3]:>7} calls{errors}")


def main():
    d = (sys.argv[1] if len(sys.argv) > 1
         else os.path.join("build", "vm", "share", "out", "profile"))
    out = []
    try:
        out.append("runs (contender user sys wall ...): ")
        out.extend("  " + line for line in open(os.path.join(d, "runs.txt")).read().splitlines())
    except OSError:
        print(f"comedi_profile: no {d}/runs.txt: run bench-comedi-profile.sh first",
              file=sys.stderr)
        return 1
    parts = {}
    for x, comm in NAMES.items():
        path = os.path.join(d, f"script.{x}.gz")
        parts[comm] = collections.Counter()
        if os.path.exists(path):
            profile(path, comm, out, parts[comm])
        out.append(f"{comm}: system calls (strace -c -f)")
        syscalls(os.path.join(d, f"strace.{x}.txt"), out)
    if parts["comedi_loop"]["own"]:
        out.append("own samples labdaq / comedi_loop (labdaq's include its start, about 40-50): "
                   f"{parts['labdaq']['own'] / parts['comedi_loop']['own']:.2f}")
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
