# SPDX-License-Identifier: LGPL-2.1-or-later
"""The package: loading, devices, runs, errors, data, checked against the
sim formulas value by value."""

import errno
import gc
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import labdaq
from sim import adc_at, adc_samples, camera_frame, camera_indexes, ohm_samples

PY = sys.executable


def child(code, env, **kw):
    return subprocess.Popen([PY, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# ---- loading ----------------------------------------------------------------

def test_loads_the_build_trees_library():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert os.path.realpath(labdaq.library_path) == os.path.realpath(
        os.path.join(top, "build", "liblabdaq.so.1"))
    header = open(os.path.join(top, "lib", "include", "labdaq.h")).read()
    want = ".".join(re.search(r"#define LABDAQ_VERSION_%s (\d+)" % p, header).group(1)
                    for p in ("MAJOR", "MINOR", "PATCH"))
    assert labdaq.version() == labdaq.__version__ == want


def test_unloadable_library_is_named_with_its_reason(env):
    env["LABDAQ_LIBRARY"] = "/nonexistent/liblabdaq.so.1"
    p = child("import labdaq", env)
    _, err = p.communicate(timeout=30)
    assert p.returncode != 0
    assert "LibraryLoadError" in err
    assert "/nonexistent/liblabdaq.so.1 ($LABDAQ_LIBRARY)" in err
    assert "No such file or directory" in err


# ---- devices ----------------------------------------------------------------

def test_devices_lists_the_sims():
    uris = [d.uri for d in labdaq.devices()]
    assert uris[:3] == ["sim:camera", "sim:adc", "sim:ohm"]
    assert all(d.description for d in labdaq.devices())


def test_info_of_sim_ohm():
    with labdaq.open("sim:ohm?r=1000") as dev:
        i = dev.info
        assert (i.uri, i.backend, i.kind, i.frame_shape) == ("sim:ohm?r=1000", "sim", "samples",
                                                            None)
        assert [(c.name, c.unit, c.scale, c.dtype, c.output) for c in i.channels] == [
            ("voltage0", "V", 1e-6, "<i4", False), ("current0", "A", 1e-9, "<i4", False),
            ("voltage0", "V", 1e-6, "<i4", True)]
        assert (i.outputs[0].min, i.outputs[0].max) == (-10.0, 10.0)
        assert math.isnan(i.inputs[0].min)


def test_info_of_camera_and_adc():
    cam = labdaq.open("sim:camera?width=64&height=48")
    assert cam.info.kind == "frames" and cam.info.frame_shape == (48, 64)
    assert [(c.name, c.dtype) for c in cam.info.channels] == [("intensity", "<u2")]
    adc = labdaq.open("sim:adc?channels=5")
    assert [c.name for c in adc.info.channels] == [f"voltage{i}" for i in range(5)]
    assert {(c.unit, c.scale, c.dtype) for c in adc.info.channels} == {("V", 0.001, "<i2")}


def test_unknown_device_raises_with_the_librarys_message():
    with pytest.raises(labdaq.NoDeviceError) as e:
        labdaq.open("sim:foo")
    assert e.value.errno == errno.ENODEV
    assert "no device 'foo'" in str(e.value)
    with pytest.raises(ValueError, match="width"):
        labdaq.open("sim:adc?width=4")


# ---- runs -------------------------------------------------------------------

def test_acquire_returns_at_once_and_adc_data_is_exact(tmp_path):
    dev = labdaq.open("sim:adc?channels=8")
    run = dev.acquire(tmp_path / "a.npy", samples=50_000, rate=50_000,
                      channels=["voltage5", "voltage0"], ring="1M")
    # at once: a one-second run, still running, most of it to come (no
    # threshold on the start's time: a loaded disk's fsync may be slow)
    assert run.state == "running" and run.progress.acquired < 40_000
    assert not run.wait(0.05)
    seen = 0
    while not run.wait(0.1):
        p = run.progress
        assert isinstance(p, labdaq.Progress) and p.target == 50_000
        row, i = run.latest(), run.latest_index()
        if row is not None:
            assert row.dtype == np.dtype("<i2") and row.shape == (2,)
            # the newest item of a later tap may differ from latest()'s: check ranges
            assert 0 <= i < 50_000
            seen += 1
    assert seen > 0
    assert run.wait(0) and run.state == labdaq.State.COMPLETE and run.error is None
    p = run.progress
    assert (p.acquired, p.written, p.dropped, p.gaps) == (50_000, 50_000, 0, 0)
    assert p.ring_capacity_bytes == 1 << 20 and p.item_bytes == 4
    a = np.load(tmp_path / "a.npy")
    assert (a == adc_samples(0, 50_000, [5, 0])).all()


def test_latest_row_is_the_formula_at_its_index(tmp_path):
    dev = labdaq.open("sim:adc?channels=3")
    with dev.acquire(tmp_path / "a.npy", time=0.6, rate=20_000) as run:
        checked = 0
        while not run.wait(0.05):
            b = run.latest_block()
            if b is None:
                continue
            first, block = b
            assert (block == adc_samples(first, len(block), [0, 1, 2])).all()
            assert (run.latest() is not None)
            checked += 1
    assert checked >= 3


def test_camera_frames_and_latest_frame(tmp_path):
    dev = labdaq.open("sim:camera?width=64&height=48")
    run = dev.acquire(tmp_path / "c.npy", frames=300, rate=500)
    frames = 0
    while not run.wait(0.05):
        b = run.latest_block()          # one snapshot: its index and its frames
        if b is not None:
            f, i = b[1][-1], b[0] + len(b[1]) - 1
            assert run.latest().shape == (48, 64)
            assert f.shape == (48, 64) and f.dtype == np.dtype("<u2")
            assert int(camera_indexes(f[None])[0]) == i
            assert (f == camera_frame(i, 48, 64)).all()
            frames += 1
    assert frames > 0 and run.state == "complete"
    a = np.load(tmp_path / "c.npy")
    assert a.shape == (300, 48, 64)
    assert (camera_indexes(a) == np.arange(300)).all()
    for k in range(300):
        assert (a[k] == camera_frame(k, 48, 64)).all()


def test_ohm_stream_within_one_count(tmp_path):
    dev = labdaq.open("sim:ohm?r=1000&noise=0.001&seed=7")
    run = dev.acquire(tmp_path / "o.npy", samples=5000)
    assert run.wait(30)
    a = np.load(tmp_path / "o.npy")
    want = ohm_samples(0, 5000, 0.0, r=1000, noise=0.001, seed=7)
    assert a.dtype == np.dtype("<i4") and a.shape == (5000, 2)
    assert np.abs(a.astype(np.int64) - want).max() <= 1


def test_stop_keeps_everything_acquired(tmp_path):
    dev = labdaq.open("sim:adc?channels=2")
    run = dev.acquire(tmp_path / "s.npy", rate=100_000)
    time.sleep(0.3)
    run.stop()
    assert run.wait(5)
    p = run.progress
    assert p.state == "stopped" and p.dropped == 0 and p.acquired == p.written > 0
    d = labdaq.load(tmp_path / "s.npy")
    assert d.status == "stopped" and len(d) == p.written
    assert (d.array == adc_samples(0, len(d), [0, 1])).all()


def test_abort_counts_what_it_discards(tmp_path):
    dev = labdaq.open("sim:camera?width=256&height=256")
    run = dev.acquire(tmp_path / "ab.npy")
    time.sleep(0.2)
    run.abort()
    assert run.wait(10)
    p = run.progress
    assert p.state == "aborted"
    assert p.acquired == p.written + p.dropped
    a = np.load(tmp_path / "ab.npy", mmap_mode="r")
    assert len(a) == p.written
    assert (camera_indexes(a[:50]) == np.arange(min(50, len(a)))).all()


def test_wait_timeout_then_end(tmp_path):
    run = labdaq.open("sim:adc").acquire(tmp_path / "w.npy", samples=300, rate=1000)
    t0 = time.monotonic()
    # False: it came back before the 0.3 s run's end
    assert run.wait(0.1) is False
    assert time.monotonic() - t0 >= 0.09
    assert run.wait(5) is True and run.done


def test_failed_run_has_the_librarys_error(tmp_path):
    dev = labdaq.open("sim:adc?fail_after=5")
    with pytest.raises(labdaq.RunFailedError, match="device lost") as e:
        with dev.acquire(tmp_path / "f.npy", rate=10_000) as run:
            run.wait(10)
    assert e.value.errno == errno.ENODEV
    assert run.state == "failed" and run.error is not None
    assert "device lost" in str(run.error)
    d = labdaq.load(tmp_path / "f.npy")
    assert d.status == "failed" and d.meta["error"]["code"] == errno.ENODEV
    assert (d.array == adc_samples(0, len(d), [0, 1, 2, 3])).all()


# ---- bad arguments: ValueError before anything starts -----------------------

@pytest.mark.parametrize("kw,match", [
    (dict(on_full="wait"), "on_full"),
    (dict(channels="voltage0,nope"), "nope"),
    (dict(frames=10), "not frames"),
    (dict(ring="12Q"), "bad size"),
    (dict(ring=100), "ring"),
    (dict(rate=-1), "rate"),
    (dict(time=-2), "time"),
    (dict(samples=1.5), "samples|count"),
])
def test_bad_arguments_raise_valueerror_and_leave_nothing(tmp_path, kw, match):
    dev = labdaq.open("sim:adc?channels=2")
    with pytest.raises(ValueError, match=match):
        dev.acquire(tmp_path / "bad.npy", **kw)
    assert os.listdir(tmp_path) == []
    assert dev.holder() is None


def test_bad_path_raises_before_start(tmp_path):
    dev = labdaq.open("sim:adc")
    with pytest.raises(ValueError, match=".npy"):
        dev.acquire(tmp_path / "x.txt", samples=1)
    (tmp_path / "e.npy").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        dev.acquire(tmp_path / "e.npy", samples=1)
    assert (tmp_path / "e.npy").read_bytes() == b"keep"


# ---- one run per device -----------------------------------------------------

HOLD = """
import sys, labdaq
dev = labdaq.open("sim:adc?channels=2")
run = dev.acquire(sys.argv[1], rate=1000, command="holder-script acquiring")
print("started", flush=True)
sys.stdin.read()
run.stop(); run.wait()
"""


def test_busy_device_from_two_processes_names_the_holder(tmp_path, env):
    p = subprocess.Popen([PY, "-c", HOLD, str(tmp_path / "h.npy")], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "started"
        dev = labdaq.open("sim:adc?channels=2")
        with pytest.raises(labdaq.DeviceBusyError) as e:
            dev.acquire(tmp_path / "mine.npy", samples=10)
        h = e.value.holder
        assert e.value.errno == errno.EBUSY
        assert h.pid == p.pid and h.command == "holder-script acquiring"
        assert h.run_id and h.output == str(tmp_path / "h.npy")
        assert f"pid {p.pid}" in str(e.value) and h.run_id in str(e.value)
        assert not (tmp_path / "mine.npy").exists()
        assert labdaq.holder("sim:adc").pid == p.pid
    finally:
        p.communicate("", timeout=20)
    assert p.returncode == 0
    assert labdaq.holder("sim:adc") is None
    assert labdaq.load(tmp_path / "h.npy").status == "stopped"


def test_busy_in_one_process(tmp_path):
    dev = labdaq.open("sim:adc")
    with dev.acquire(tmp_path / "1.npy", rate=1000) as run:
        with pytest.raises(labdaq.DeviceBusyError) as e:
            dev.acquire(tmp_path / "2.npy", samples=10)
        assert e.value.holder.pid == os.getpid()
        with pytest.raises(labdaq.DeviceBusyError):
            labdaq.open("sim:adc").acquire(tmp_path / "3.npy", samples=10)
    assert run.state == "stopped"
    dev.acquire(tmp_path / "4.npy", samples=10).wait(5)   # free again


# ---- with, Ctrl-C, garbage collection ------------------------------------------

def test_keyboardinterrupt_inside_with_stops_and_finalizes(tmp_path):
    dev = labdaq.open("sim:adc?channels=2")
    with pytest.raises(KeyboardInterrupt):
        with dev.acquire(tmp_path / "k.npy", rate=50_000) as run:
            time.sleep(0.2)
            raise KeyboardInterrupt
    assert run.state == "stopped"
    d = labdaq.load(tmp_path / "k.npy")
    assert d.status == "stopped" and len(d) > 0 and d.meta["dropped"] == 0
    assert (d.array == adc_samples(0, len(d), [0, 1])).all()
    assert dev.holder() is None


def test_an_exception_inside_with_stops(tmp_path):
    dev = labdaq.open("sim:adc")
    with pytest.raises(ZeroDivisionError):
        with dev.acquire(tmp_path / "z.npy", rate=1000) as run:
            1 / 0
    assert run.state == "stopped" and labdaq.load(tmp_path / "z.npy").status == "stopped"


SIGINT_SCRIPT = """
import sys, labdaq
dev = labdaq.open("sim:adc?channels=2")
with dev.acquire(sys.argv[1], rate=10_000) as run:
    print("started", flush=True)
    run.wait()          # Ctrl-C must reach Python here
"""


def test_sigint_during_wait_reaches_python_and_stops(tmp_path, env):
    p = subprocess.Popen([PY, "-c", SIGINT_SCRIPT, str(tmp_path / "i.npy")], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=10)
    assert "KeyboardInterrupt" in err
    d = labdaq.load(tmp_path / "i.npy")
    assert d.status == "stopped" and len(d) > 0
    assert (d.array == adc_samples(0, len(d), [0, 1])).all()


def test_run_garbage_collected_while_active_stops_and_finalizes(tmp_path):
    dev = labdaq.open("sim:adc?channels=2")
    run = dev.acquire(tmp_path / "g.npy", rate=20_000)
    time.sleep(0.2)
    del run
    gc.collect()
    assert dev.holder() is None
    d = labdaq.load(tmp_path / "g.npy")
    assert d.status == "stopped" and len(d) > 0 and d.meta["dropped"] == 0
    assert (d.array == adc_samples(0, len(d), [0, 1])).all()


def test_run_and_device_in_a_garbage_cycle(tmp_path):
    dev = labdaq.open("sim:adc")
    run = dev.acquire(tmp_path / "cy.npy", rate=20_000)
    box = [run, dev]
    box.append(box)          # a cycle: the collector finalizes in any order
    del run, dev, box
    gc.collect()
    assert labdaq.holder("sim:adc") is None
    assert labdaq.load(tmp_path / "cy.npy").status == "stopped"


def test_interpreter_exit_with_an_active_run_finalizes(tmp_path, env):
    code = ("import sys, labdaq, time\n"
            "r = labdaq.open('sim:adc').acquire(sys.argv[1], rate=10_000)\n"
            "time.sleep(0.2)\n")
    p = subprocess.run([PY, "-c", code, str(tmp_path / "x.npy")], env=env, timeout=20,
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    d = labdaq.load(tmp_path / "x.npy")
    assert d.status == "stopped" and len(d) > 0


# ---- data -----------------------------------------------------------------------

def test_load_physical_times_and_gaps(tmp_path):
    # An overrun of 1000 items after 3 blocks: a gap the file records.
    dev = labdaq.open("sim:adc?channels=2&overrun_after=3&overrun_items=1000")
    run = dev.acquire(tmp_path / "g.npy", samples=20_000, rate=100_000)
    assert run.wait(10)
    d = labdaq.load(tmp_path / "g.npy")
    assert isinstance(d.array, np.memmap) and d.array.shape == (19_000, 2)
    assert d.gaps == [labdaq.Gap(d.gaps[0].index, 1000)] and d.gaps[0].index > 0
    idx = d.indexes()
    assert (d.array == adc_at(idx, [0, 1])).all()
    assert np.array_equal(d.physical(), d.array * 0.001)
    assert np.array_equal(d.volts(), d.physical())
    assert np.allclose(d.times(), idx / 100_000)
    assert [c.name for c in d.channels] == ["voltage0", "voltage1"]
    assert d.meta["acquired"] == 20_000 and d.meta["dropped"] == 1000


def test_physical_applies_the_recorded_offset(tmp_path):
    # docs/sim.md: the file keeps raw values, volts = (raw + offset) * 0.001.
    dev = labdaq.open("sim:adc?channels=2&offset=-1500")
    assert [c.offset for c in dev.info.channels] == [-1500.0, -1500.0]
    with dev.acquire(tmp_path / "o.npy", samples=5000) as run:
        assert run.wait(10)
    d = labdaq.load(tmp_path / "o.npy")
    assert [c.offset for c in d.channels] == [-1500.0, -1500.0]
    assert (d.array == adc_at(np.arange(5000), [0, 1])).all()
    want = (d.array.astype(np.float64) - 1500) * 0.001
    assert np.array_equal(d.physical(), want)


def test_load_while_the_file_is_written(tmp_path):
    dev = labdaq.open("sim:adc?channels=2")
    with dev.acquire(tmp_path / "live.npy", rate=20_000, checkpoint=0.1) as run:
        time.sleep(0.5)
        d = labdaq.load(tmp_path / "live.npy")
        assert d.status == "running" and 0 < len(d) <= run.progress.acquired
        assert d.items_on_disk >= len(d)
        assert (d.array == adc_samples(0, len(d), [0, 1])).all()
        assert d.times() is not None


def test_load_a_recovered_file_after_kill_9(tmp_path, env):
    p = subprocess.Popen([PY, "-c", HOLD, str(tmp_path / "k9.npy")], env=env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)
    p.kill()
    p.wait()
    assert labdaq.load(tmp_path / "k9.npy").status == "running"
    r = labdaq.recover(tmp_path / "k9.npy")
    assert r.previous_status == "running" and r.items > 0
    d = labdaq.load(tmp_path / "k9.npy")
    assert d.status == "recovered" and len(d) == r.items
    assert (d.array == adc_samples(0, len(d), [0, 1])).all()


def test_load_refuses_what_is_not_a_labdaq_file(tmp_path):
    (tmp_path / "n.npy").write_bytes(b"not numpy")
    with pytest.raises(labdaq.LabdaqError) as e:
        labdaq.load(tmp_path / "n.npy")
    assert e.value.errno == errno.EBADMSG
    with pytest.raises(FileNotFoundError):
        labdaq.load(tmp_path / "none.npy")
