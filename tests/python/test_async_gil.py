# SPDX-License-Identifier: LGPL-2.1-or-later
"""await run through the run's descriptor; the GIL is released while the
package waits, so Python threads compute while a run streams."""

import asyncio
import threading
import time

import numpy as np
import pytest

import labdaq
from sim import adc_samples, camera_indexes


def test_await_run_returns_the_final_progress_without_a_thread(tmp_path):
    async def main():
        dev = labdaq.open("sim:adc?channels=2")
        run = dev.acquire(tmp_path / "a.npy", samples=30_000, rate=60_000)
        threads = threading.active_count()
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        t0 = time.monotonic()
        p = await run
        took = time.monotonic() - t0
        t.cancel()
        assert threading.active_count() == threads  # no polling thread
        return p, ticks, took

    p, ticks, took = asyncio.run(main())
    assert p.state == "complete" and p.written == 30_000
    # the loop kept running while the run was awaited: a blocked loop
    # (a wait that does not yield) gives 0 or 1 tick in its >= 0.4 s
    assert took >= 0.4 and ticks >= 10, (took, ticks)
    assert (np.load(tmp_path / "a.npy") == adc_samples(0, 30_000, [0, 1])).all()


def test_two_awaiters_and_async_with(tmp_path):
    async def main():
        dev = labdaq.open("sim:adc")
        run = dev.acquire(tmp_path / "b.npy", samples=5000, rate=20_000)
        a, b = await asyncio.gather(run, run.ended())
        async with dev.acquire(tmp_path / "c.npy", rate=20_000) as r2:
            await asyncio.sleep(0.2)
        return a, b, r2

    a, b, r2 = asyncio.run(main())
    assert a.state == b.state == "complete"
    assert r2.state == "stopped" and labdaq.load(r2.path).status == "stopped"


def test_await_a_failed_run_raises(tmp_path):
    async def main():
        run = labdaq.open("sim:adc?fail_after=3").acquire(tmp_path / "f.npy", rate=10_000)
        await run

    with pytest.raises(labdaq.RunFailedError, match="device lost"):
        asyncio.run(main())


class _Spinner:
    """A pure-Python thread counting in batches of 10000, noting the
    monotonic time after each.  While a foreign call holds the GIL the
    thread cannot run: it may run just before the call and just after it
    (the interpreter's switch interval), never in the middle."""

    def __init__(self):
        self.stamps = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._spin)

    def _spin(self):
        while not self._stop.is_set():
            n = 0
            for _ in range(10000):
                n += 1
            self.stamps.append(time.monotonic())

    def __enter__(self):
        self._t.start()
        while not self.stamps:  # running before the call starts
            time.sleep(0.001)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()

    def ran_within(self, call):
        """Batches the thread finished in the middle half of `call()`."""
        t0 = time.monotonic()
        call()
        t1 = time.monotonic()
        q = (t1 - t0) / 4
        return sum(1 for t in list(self.stamps) if t0 + q < t < t1 - q)


def test_a_python_thread_computes_while_a_run_streams(tmp_path):
    """The main thread waits in run.wait() (a foreign call, GIL released):
    a Python thread keeps computing in the middle of the wait (a held GIL
    gives it none), and the run keeps its rate.  No threshold on the
    thread's speed: the machine may be loaded."""
    dev = labdaq.open("sim:camera?width=320&height=240")
    rates, within = [], []
    for k in range(3):
        run = dev.acquire(tmp_path / f"c{k}.npy", frames=1000, rate=1000, ring="64M")
        with _Spinner() as s:
            within.append(s.ran_within(run.wait))
        p = run.progress
        assert p.state == "complete" and p.dropped == 0
        rates.append(p.rate_hz)
    print("batches in the middle of the waits", within, "rates", rates)
    assert min(within) > 0, within
    assert sorted(rates)[1] > 950, rates
    a = np.load(tmp_path / "c0.npy", mmap_mode="r")
    assert (camera_indexes(a) == np.arange(1000)).all()


def test_a_full_speed_stream_while_python_computes(tmp_path):
    """A run at full speed (rate 0) from Python with a computing thread
    beside it: both go on at once (the stream's threads never wait for the
    interpreter, the thread never waits for the stream), every frame
    exact.  Their speeds are the benchmarks' business, not this test's."""
    dev = labdaq.open("sim:camera?width=640&height=480")
    with _Spinner() as s:
        run = dev.acquire(tmp_path / "b.npy", frames=1500, ring="64M")
        seen = []
        while run.progress.state == "running":
            seen.append((len(s.stamps), run.progress.written))
            time.sleep(0.01)
        run.wait()
    p = run.progress
    assert p.state == "complete" and p.written == 1500
    # between two looks while the run went on, both had moved
    both = [b for a, b in zip(seen, seen[1:]) if b[0] > a[0] and b[1] > a[1]]
    assert both, seen[:20]
    a = np.load(tmp_path / "b.npy", mmap_mode="r")
    assert (camera_indexes(a) == np.arange(1500)).all()
