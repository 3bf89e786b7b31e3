# SPDX-License-Identifier: LGPL-2.1-or-later
"""Devices: listing, opening, info, and starting runs and sweeps."""

from __future__ import annotations

import ctypes
import datetime
import math
import re
import shlex
import sys
import threading
import weakref
from dataclasses import dataclass
from typing import Any, Iterable, List, NamedTuple, Optional, Tuple, Union

from ._errors import Holder, check, clear, holder_of
from ._lib import LIST_FN, Channel_, lib, s
from ._run import Channel, Run, Sweep, channel_of


class DeviceEntry(NamedTuple):
    """A device :func:`devices` found."""

    uri: str
    description: str


@dataclass(frozen=True)
class DeviceInfo:
    """What a device is, as plain Python values."""

    uri: str
    backend: str
    description: str
    kind: str
    """``"samples"`` (items are rows of channel values) or ``"frames"``."""
    channels: Tuple[Channel, ...]
    """Every channel, inputs and outputs, in the device's order."""
    frame_shape: Optional[Tuple[int, int]]
    """(height, width) of a frames device, else None."""

    @property
    def inputs(self) -> Tuple[Channel, ...]:
        return tuple(c for c in self.channels if not c.output)

    @property
    def outputs(self) -> Tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.output)


def devices() -> List[DeviceEntry]:
    """Every device the built-in backends can see (``labdaq_list()``)."""
    found: List[DeviceEntry] = []

    def cb(uri: bytes, desc: bytes, user: Any) -> int:
        found.append(DeviceEntry(s(uri), s(desc)))
        return 0

    clear()
    check(lib.labdaq_list(LIST_FN(cb), None), "labdaq_list")
    return found


_SIZE = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20,
         "mb": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}


def _bytes(v: Union[int, str]) -> int:
    """A size: an int (bytes) or "256M" (K, M, G are powers of 1024)."""
    if isinstance(v, bool):
        raise ValueError(f"bad size {v!r}")
    if isinstance(v, int):
        n = v
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([A-Za-z]*)\s*", str(v))
        if not m or m.group(2).lower() not in _SIZE:
            raise ValueError(f"bad size {v!r}: a number of bytes, or with K, M or G")
        f = float(m.group(1)) * _SIZE[m.group(2).lower()]
        if f != math.floor(f):
            raise ValueError(f"bad size {v!r}: not a whole number of bytes")
        n = int(f)
    if n < 0:
        raise ValueError(f"bad size {v!r}: negative")
    return n


def _seconds(v: Union[float, datetime.timedelta], what: str) -> float:
    t = v.total_seconds() if isinstance(v, datetime.timedelta) else float(v)
    if not math.isfinite(t) or t < 0:
        raise ValueError(f"bad {what} {v!r}: seconds, >= 0")
    return t


def _count(v: Any, what: str) -> int:
    if isinstance(v, bool) or int(v) != v or v < 0:
        raise ValueError(f"bad {what} {v!r}: a whole number >= 0")
    return int(v)


def _names(v: Union[None, str, Iterable[str]]) -> Optional[bytes]:
    if v is None:
        return None
    return (v if isinstance(v, str) else ",".join(v)).encode()


def _command() -> str:
    """What the holder record and the metadata say started a run."""
    return "python: " + shlex.join([sys.executable] + sys.argv)


class Device:
    """An open device (``labdaq.open(uri)``).  ``with labdaq.open(uri) as
    dev:`` closes it on leaving, after finishing its runs."""

    uri: str
    info: DeviceInfo

    def __init__(self, uri: str):
        h = ctypes.c_void_p()
        clear()
        check(lib.labdaq_device_open(uri.encode(), ctypes.byref(h)), f"open {uri!r}", None)
        self._h: Optional[int] = h.value
        self._lock = threading.RLock()  # re-entrant: the GC may free a run while it is held
        self._runs: "weakref.WeakSet[Run]" = weakref.WeakSet()
        self._live = 0      # runs whose library handle is not freed yet
        self._orphan = False  # collected while a run still lived
        self.uri = uri
        self.info = self._info()

    def _handle(self) -> int:
        if self._h is None:
            raise ValueError(f"device {self.uri!r} is closed")
        return self._h

    def _info(self) -> DeviceInfo:
        h = self._handle()
        chans = []
        for i in range(lib.labdaq_device_channel_count(h)):
            c = Channel_()
            check(lib.labdaq_device_channel(h, i, c), "labdaq_device_channel")
            off = ctypes.c_double(0.0)
            lib.labdaq_device_channel_offset(h, i, ctypes.byref(off))
            chans.append(channel_of(c, off.value))
        kind = "frames" if lib.labdaq_device_kind(h) == 1 else "samples"
        shape = None
        w, hh = ctypes.c_uint32(), ctypes.c_uint32()
        if lib.labdaq_device_frame_shape(h, ctypes.byref(w), ctypes.byref(hh)) == 0:
            shape = (hh.value, w.value)
        return DeviceInfo(uri=s(lib.labdaq_device_uri(h)), backend=s(lib.labdaq_device_backend(h)),
                          description=s(lib.labdaq_device_description(h)), kind=kind,
                          channels=tuple(chans), frame_shape=shape)

    def holder(self) -> Optional[Holder]:
        """Who holds this device now (any process), or None."""
        return holder_of(self.uri)

    # ---- streams ------------------------------------------------------------
    def acquire(self, path: str, *, samples: Optional[int] = None, frames: Optional[int] = None,
                time: Union[None, float, datetime.timedelta] = None,
                rate: Optional[float] = None,
                channels: Union[None, str, Iterable[str]] = None,
                ring: Union[None, int, str] = None, on_full: str = "block",
                overwrite: bool = False, checkpoint: Optional[float] = None,
                command: Optional[str] = None) -> Run:
        """Start streaming into ``path`` (a ``.npy``; its metadata goes to the
        ``.json`` beside it) and return the :class:`Run` at once.

        ``samples`` (a samples device) or ``frames`` (a frames device): how
        many items; ``time``: how long, in seconds; neither: until stopped.
        ``rate``: items per second (None: as fast as possible).
        ``channels``: input names, a list or "a,b" (None: every input).
        ``ring``: the ring's capacity, bytes or "256M" (None: the default).
        ``on_full``: "block" (the device waits for the disk) or "drop"
        (blocks are discarded and recorded as gaps).  ``overwrite``:
        replace existing files.  ``checkpoint``: seconds between header and
        metadata refreshes.  Bad arguments raise ValueError before anything
        starts; a busy device raises :class:`DeviceBusyError`.
        """
        kind = self.info.kind
        if samples is not None and frames is not None:
            raise ValueError("give samples or frames, not both")
        if frames is not None and kind != "frames":
            raise ValueError(f"{self.uri!r} streams samples, not frames: use samples=")
        if samples is not None and kind != "samples":
            raise ValueError(f"{self.uri!r} streams frames, not samples: use frames=")
        if on_full not in ("block", "drop"):
            raise ValueError(f"bad on_full {on_full!r}: 'block' or 'drop'")
        if kind == "frames" and channels is not None:
            raise ValueError(f"{self.uri!r} streams frames: it takes no channels")
        count = samples if samples is not None else frames
        cfg = ctypes.c_void_p()
        check(lib.labdaq_run_config_new(ctypes.byref(cfg)), "labdaq_run_config_new")
        try:
            clear()
            what = "acquire"
            check(lib.labdaq_run_config_set_path(cfg, str(path).encode()), what)
            if count is not None:
                check(lib.labdaq_run_config_set_count(cfg, _count(count, "count")), what)
            if time is not None:
                check(lib.labdaq_run_config_set_duration_ns(
                    cfg, int(round(_seconds(time, "time") * 1e9))), what)
            if rate is not None:
                check(lib.labdaq_run_config_set_rate_hz(cfg, float(rate)), f"rate {rate!r}")
            if channels is not None:
                check(lib.labdaq_run_config_set_channels(cfg, _names(channels)), what)
            if ring is not None:
                check(lib.labdaq_run_config_set_ring_bytes(cfg, _bytes(ring)), f"ring {ring!r}")
            check(lib.labdaq_run_config_set_on_full(cfg, 0 if on_full == "block" else 1), what)
            check(lib.labdaq_run_config_set_overwrite(cfg, int(bool(overwrite))), what)
            if checkpoint is not None:
                ms = int(round(_seconds(checkpoint, "checkpoint") * 1000))
                check(lib.labdaq_run_config_set_checkpoint_ms(cfg, max(1, ms)), what)
            check(lib.labdaq_run_config_set_command(
                cfg, (command or _command()).encode()), what)
            return self._start(lib.labdaq_run_check, lib.labdaq_run_start, cfg, Run, path,
                               "acquire")
        finally:
            lib.labdaq_run_config_free(cfg)

    def _start(self, check_fn: Any, start_fn: Any, cfg: ctypes.c_void_p, cls: Any,
               path: Any, verb: str) -> Run:
        """The library's check (a ValueError before anything starts), then
        the start; the new run of class ``cls`` is tracked by this device."""
        with self._lock:
            h = self._handle()
            check(check_fn(h, cfg), f"{verb} on {self.uri!r}")
            run = ctypes.c_void_p()
            check(start_fn(h, cfg, ctypes.byref(run)), f"{verb} on {self.uri!r}", self.uri)
            self._live += 1
            assert run.value is not None
            r: Run = cls(self, run.value, str(path))
            self._runs.add(r)
            return r

    # ---- sweeps -------------------------------------------------------------
    def sweep(self, path: str, *, set: str, start: float, stop: float, points: int,
              read: Union[None, str, Iterable[str]] = None,
              delay: Union[float, datetime.timedelta] = 0.0, repeat: int = 1,
              overwrite: bool = False, command: Optional[str] = None) -> Sweep:
        """Start a step scan and return the :class:`Sweep` at once: set the
        output ``set`` to ``points`` values from ``start`` to ``stop`` (both
        included), wait ``delay`` seconds, read the inputs ``read`` (None:
        every input), one CSV row per point in ``path`` (a ``.csv``),
        ``repeat`` passes.  Iterate the sweep to get the points as they come.
        """
        cfg = ctypes.c_void_p()
        check(lib.labdaq_sweep_config_new(ctypes.byref(cfg)), "labdaq_sweep_config_new")
        try:
            clear()
            what = "sweep"
            check(lib.labdaq_sweep_config_set_path(cfg, str(path).encode()), what)
            check(lib.labdaq_sweep_config_set_output(cfg, set.encode()), what)
            if read is not None:
                check(lib.labdaq_sweep_config_set_inputs(cfg, _names(read)), what)
            check(lib.labdaq_sweep_config_set_range(cfg, float(start), float(stop)),
                  f"sweep range {start!r}..{stop!r}")
            check(lib.labdaq_sweep_config_set_points(cfg, _count(points, "points")),
                  f"points {points!r}")
            check(lib.labdaq_sweep_config_set_repeat(cfg, _count(repeat, "repeat")),
                  f"repeat {repeat!r}")
            check(lib.labdaq_sweep_config_set_delay_ns(
                cfg, int(round(_seconds(delay, "delay") * 1e9))), what)
            check(lib.labdaq_sweep_config_set_overwrite(cfg, int(bool(overwrite))), what)
            check(lib.labdaq_sweep_config_set_command(
                cfg, (command or _command()).encode()), what)
            sw = self._start(lib.labdaq_sweep_check, lib.labdaq_sweep_start, cfg, Sweep, path,
                             "sweep")
            assert isinstance(sw, Sweep)
            return sw
        finally:
            lib.labdaq_sweep_config_free(cfg)

    # ---- life -----------------------------------------------------------------
    def close(self) -> None:
        """Finish (stop and finalize) this device's runs, then close it."""
        for r in list(self._runs):
            r.close()
        with self._lock:
            h, self._h = self._h, None
        if h is not None:
            lib.labdaq_device_close(h)

    def _run_freed(self) -> None:
        """A run of this device freed its library handle (any thread, or the
        garbage collector)."""
        h = None
        with self._lock:
            self._live -= 1
            if self._orphan and self._live == 0 and self._h is not None:
                h, self._h = self._h, None
        if h is not None:
            lib.labdaq_device_close(h)

    def __del__(self) -> None:
        # Runs hold a reference to their device, but the cyclic collector may
        # finalize both in any order: a run still alive closes it when freed.
        h = getattr(self, "_h", None)
        if h is not None:
            if getattr(self, "_live", 0):
                self._orphan = True
                return
            self._h = None
            lib.labdaq_device_close(h)

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<labdaq.Device {self.uri!r}: {self.info.description}>"


def open(uri: str) -> Device:
    """Open the device named by ``uri`` ("sim:adc?channels=4", "iio:...")."""
    return Device(uri)
