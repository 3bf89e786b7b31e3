# SPDX-License-Identifier: LGPL-2.1-or-later
"""Sweeps: start at once, points as they are measured, stop, with, asyncio."""

import asyncio
import time

import numpy as np
import pytest

import labdaq
from sim import ohm_samples


def expected(k, volts, r=1000.0, noise=0.001, seed=1):
    """Inputs (voltage0 V, current0 A) of point k (the k-th read since open)."""
    c = ohm_samples(k, 1, volts, r=r, noise=noise, seed=seed)[0]
    return c[0] * 1e-6, c[1] * 1e-9


def check_point(p, volts, r=1000.0):
    v, i = expected(p.index, volts, r=r)
    assert p.set == pytest.approx(volts, abs=1e-9)
    assert abs(p.inputs[0] - v) <= 1.5e-6, (p, v)
    assert abs(p.inputs[1] - i) <= 1.5e-9, (p, i)


def test_sweep_returns_at_once_and_yields_every_point(tmp_path):
    dev = labdaq.open("sim:ohm?r=1000")
    sw = dev.sweep(tmp_path / "iv.csv", set="voltage0", start=-1, stop=1, points=21,
                   read=["voltage0", "current0"], delay=0.01)
    # at once: running, most of its 21 points of 10 ms still to come
    assert isinstance(sw, labdaq.Sweep) and sw.state == "running"
    assert sw.progress.written < 15
    got, times = [], []
    for p in sw:
        got.append(p)
        times.append(time.monotonic())
    assert [p.index for p in got] == list(range(21))
    volts = np.linspace(-1, 1, 21)
    for p, v in zip(got, volts):
        check_point(p, v)
    # points arrived while the sweep ran, not all at its end
    assert times[-1] - times[0] > 0.1
    assert sw.state == "complete" and sw.progress.written == 21
    assert [c.name for c in sw.channels] == ["voltage0", "voltage0", "current0"]
    # the Ohm's-law fit: slope 1/R
    x = np.array([p.inputs[0] for p in got])
    y = np.array([p.inputs[1] for p in got])
    assert np.polyfit(x, y, 1)[0] == pytest.approx(1e-3, rel=1e-3)


def test_sweep_latest_is_the_newest_point(tmp_path):
    dev = labdaq.open("sim:ohm")
    sw = dev.sweep(tmp_path / "l.csv", set="voltage0", start=0, stop=2, points=11, delay=0.02)
    seen = 0
    while not sw.wait(0.03):
        b = sw.latest_block()           # one snapshot: its index and its row
        if b is not None:
            row, k = b[1][-1], b[0] + len(b[1]) - 1
            assert sw.latest().shape == (3,)
            assert row.dtype == np.float64 and row.shape == (3,)
            assert row[0] == pytest.approx(np.linspace(0, 2, 11)[k])
            v, i = expected(k, row[0])
            assert abs(row[1] - v) <= 1.5e-6 and abs(row[2] - i) <= 1.5e-9
            seen += 1
    assert seen > 0


def test_sweep_stop_in_with_keeps_the_points(tmp_path):
    dev = labdaq.open("sim:ohm")
    with dev.sweep(tmp_path / "s.csv", set="voltage0", start=0, stop=1, points=1000,
                   delay=0.01) as sw:
        pts = []
        for p in sw:
            pts.append(p)
            if len(pts) == 5:
                break
    assert sw.state == "stopped"
    d = labdaq.load(tmp_path / "s.csv")
    assert d.kind == "csv" and d.status == "stopped"
    n = len(d)
    assert 5 <= n < 1000 and sw.progress.written == n
    assert (d.indexes() == np.arange(n)).all()
    volts = np.linspace(0, 1, 1000)
    for row in d.array:
        k = int(row[0])
        v, i = expected(k, volts[k])
        assert row[3] == pytest.approx(volts[k], abs=1e-9)
        assert abs(row[4] - v) <= 1.5e-6 and abs(row[5] - i) <= 1.5e-9
    assert np.array_equal(d.physical(), d.array) and (np.diff(d.times()) > 0).all()


def test_sweep_repeat_and_load(tmp_path):
    dev = labdaq.open("sim:ohm?r=4700")
    sw = dev.sweep(tmp_path / "r.csv", set="voltage0", start=0, stop=2, points=5, repeat=3)
    pts = list(sw)
    assert [p.repeat for p in pts] == [0] * 5 + [1] * 5 + [2] * 5
    for p in pts:
        check_point(p, np.linspace(0, 2, 5)[p.index % 5], r=4700)
    d = labdaq.load(tmp_path / "r.csv")
    assert d.array.shape == (15, 6)
    assert d.meta["status"] == "complete" and d.meta["points"] == 15


def test_sweep_bad_arguments_raise_valueerror(tmp_path):
    dev = labdaq.open("sim:ohm")
    with pytest.raises(ValueError, match="nope"):
        dev.sweep(tmp_path / "b.csv", set="nope", start=0, stop=1, points=3)
    with pytest.raises(ValueError):
        dev.sweep(tmp_path / "b.csv", set="voltage0", start=0, stop=50, points=3)
    with pytest.raises(ValueError):
        dev.sweep(tmp_path / "b.csv", set="voltage0", start=0, stop=1, points=0)
    assert not (tmp_path / "b.csv").exists()


def test_sweep_is_busy_while_a_stream_holds_the_device(tmp_path):
    dev = labdaq.open("sim:ohm")
    with dev.acquire(tmp_path / "h.npy", rate=100):
        with pytest.raises(labdaq.DeviceBusyError):
            labdaq.open("sim:ohm").sweep(tmp_path / "b.csv", set="voltage0", start=0,
                                         stop=1, points=3)


def test_async_for_does_not_block_the_event_loop(tmp_path):
    async def main():
        dev = labdaq.open("sim:ohm")
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.005)
                ticks += 1

        t = asyncio.ensure_future(ticker())
        sw = dev.sweep(tmp_path / "a.csv", set="voltage0", start=-1, stop=1, points=15,
                       delay=0.02)
        pts = [p async for p in sw]
        final = await sw
        t.cancel()
        return pts, final, ticks

    pts, final, ticks = asyncio.run(main())
    assert [p.index for p in pts] == list(range(15))
    for p, v in zip(pts, np.linspace(-1, 1, 15)):
        check_point(p, v)
    assert final.state == "complete" and final.written == 15
    assert ticks >= 20  # about 0.3 s of sweep: the loop kept ticking
