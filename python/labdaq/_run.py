# SPDX-License-Identifier: LGPL-2.1-or-later
"""Runs (streams and sweeps): a handle on a liblabdaq run that never blocks
Python; every call that waits releases the GIL (ctypes does, for the whole
foreign call) and waits in slices, so Ctrl-C reaches Python."""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import enum
import threading
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, AsyncIterator, Dict, Generator, Iterator, List,
                    Optional, Tuple)

import numpy as np
import numpy.typing as npt

from ._errors import LabdaqError, RunFailedError
from ._lib import Channel_, Progress_, lib, s

if TYPE_CHECKING:
    from ._device import Device

# The longest single foreign wait: KeyboardInterrupt is seen at most this late.
_WAIT_SLICE_MS = 100


class State(str, enum.Enum):
    """A run's state (its value is the library's name: ``"running"``...)."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETE = "complete"
    STOPPED = "stopped"
    ABORTED = "aborted"
    FAILED = "failed"

    @classmethod
    def _of(cls, code: int) -> "State":
        return cls(s(lib.labdaq_state_name(code)))

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Progress:
    """A snapshot of a run's counters (``labdaq_run_progress()``)."""

    state: State
    acquired: int
    """Items the device produced (a sweep: points done)."""
    written: int
    """Items on disk."""
    dropped: int
    """Items lost: ring full under ``on_full="drop"``, overruns, abort."""
    gaps: int
    ring_fill_bytes: int
    ring_high_water_bytes: int
    ring_capacity_bytes: int
    item_bytes: int
    target: int
    """Items the run will acquire; 0: no count."""
    elapsed_s: float
    rate_hz: float
    """Items per second lately; once ended, the run's mean."""
    error: int
    """The negative errno of a failure, or 0."""

    @property
    def fraction(self) -> Optional[float]:
        """acquired / target, or None without a target."""
        return self.acquired / self.target if self.target else None

    @property
    def done(self) -> bool:
        """Whether the run has ended (any final state)."""
        return self.state not in (State.QUEUED, State.RUNNING)


@dataclass(frozen=True)
class Channel:
    """A channel: physical value = (raw + offset) * scale, in ``unit``."""

    name: str
    unit: str
    scale: float
    dtype: str
    """NumPy descr of the raw value: ``"<i2"``, ``"<u2"``, ..."""
    output: bool
    min: float
    """Physical range, NaN when unknown."""
    max: float
    offset: float = 0.0
    """Added to the raw value before the scale (IIO's convention; 0 for most
    devices)."""


def channel_of(c: Channel_, offset: float = 0.0) -> Channel:
    return Channel(name=s(c.name), unit=s(c.unit), scale=c.scale,
                   dtype=s(lib.labdaq_dtype_numpy(c.dtype)), output=bool(c.output),
                   min=c.min, max=c.max, offset=offset)


@dataclass(frozen=True)
class SweepPoint:
    """One point of a sweep, as its CSV row says."""

    index: int
    repeat: int
    time_s: float
    set: float
    """The value set on the output."""
    inputs: Tuple[float, ...]
    """Each input's physical value, in the sweep's input order."""


_active: "weakref.WeakSet[Run]" = weakref.WeakSet()


@atexit.register
def _finish_all() -> None:
    """At exit, stop every run still going and let it finalize its file."""
    for r in list(_active):
        try:
            r.close()
        except Exception:
            pass


class Run:
    """A run started by :meth:`Device.acquire` or :meth:`Device.sweep`.

    It returns at once; the acquisition and the writer have threads of their
    own.  ``with run:`` stops it (keeping everything acquired) and waits for
    its file when the block is left, also on an exception or Ctrl-C;
    ``await run`` waits for its end in asyncio through the run's file
    descriptor.  A run that is garbage-collected (or still going at exit)
    is stopped and finalized the same way.
    """

    path: str
    device: "Device"

    def __init__(self, device: "Device", handle: int, path: str):
        self.device = device
        self.path = path
        self._h: Optional[int] = handle
        self._users = 0
        self._cv = threading.Condition()
        self._buf: Optional[npt.NDArray[Any]] = None
        self._end_futures: Dict[int, "asyncio.Future[None]"] = {}
        self._fd = lib.labdaq_run_fd(handle)
        self._channels = self._read_channels()
        self._item_dtype, self._item_shape = self._item_layout()
        _active.add(self)

    # ---- the handle, safe against close() from another thread ----------
    @contextmanager
    def _use(self) -> Generator[int, None, None]:
        with self._cv:
            if self._h is None:
                raise ValueError(f"run of {self.path} is closed")
            self._users += 1
            h = self._h
        try:
            yield h
        finally:
            with self._cv:
                self._users -= 1
                if not self._users:
                    self._cv.notify_all()

    def _read_channels(self) -> List[Channel]:
        assert self._h is not None
        out = []
        for i in range(lib.labdaq_run_channel_count(self._h)):
            c = Channel_()
            off = ctypes.c_double(0.0)
            if lib.labdaq_run_channel(self._h, i, c) == 0:
                lib.labdaq_run_channel_offset(self._h, i, ctypes.byref(off))
                out.append(channel_of(c, off.value))
        return out

    def _item_layout(self) -> Tuple["np.dtype[Any]", Tuple[int, ...]]:
        info = self.device.info
        if info.kind == "frames":
            assert info.frame_shape is not None
            return np.dtype(info.channels[0].dtype), info.frame_shape
        return np.dtype(self._channels[0].dtype), (len(self._channels),)

    @property
    def channels(self) -> List[Channel]:
        """The channels of the run's file, in column order (none for frames)."""
        return list(self._channels)

    # ---- state ------------------------------------------------------------
    @property
    def progress(self) -> Progress:
        """The run's counters now; lock-free in the library, never slows it."""
        p = Progress_()
        with self._use() as h:
            lib.labdaq_run_progress(h, p)
        return Progress(state=State._of(p.state), acquired=p.acquired, written=p.written,
                        dropped=p.dropped, gaps=p.gaps, ring_fill_bytes=p.ring_fill_bytes,
                        ring_high_water_bytes=p.ring_high_water_bytes,
                        ring_capacity_bytes=p.ring_capacity_bytes, item_bytes=p.item_bytes,
                        target=p.target, elapsed_s=p.elapsed_ns / 1e9, rate_hz=p.rate_hz,
                        error=p.error)

    @property
    def state(self) -> State:
        """:class:`State` now."""
        with self._use() as h:
            return State._of(lib.labdaq_run_state(h))

    @property
    def done(self) -> bool:
        """True once the run has ended and finalized its file."""
        with self._use() as h:
            return bool(lib.labdaq_run_wait(h, 0) == 0)

    @property
    def error(self) -> Optional[RunFailedError]:
        """Why the run failed (an exception, not raised), or None; None too
        while it runs."""
        with self._use() as h:
            if lib.labdaq_run_wait(h, 0) != 0:
                return None
            msg = ctypes.c_char_p()
            code = lib.labdaq_run_error(h, ctypes.byref(msg))
        if code == 0:
            return None
        return RunFailedError(-code, s(msg.value) or s(lib.labdaq_strerror(code)))

    def latest_block(self) -> Optional[Tuple[int, npt.NDArray[Any]]]:
        """The newest block the run acquired, for a live view: (acquisition
        index of its first item, array of shape (items, *item_shape)), or
        None if nothing was acquired yet.  A copy; refreshed by the library
        at most 30 times a second."""
        with self._use() as h:
            cap = self.progress.ring_capacity_bytes
            item = self._item_dtype.itemsize * int(np.prod(self._item_shape))
            if self._buf is None:
                self._buf = np.empty(max(item, 65536 // item * item), np.uint8)
            index, items = ctypes.c_uint64(), ctypes.c_uint64()
            while True:
                buf = self._buf
                got = lib.labdaq_run_latest(h, buf.ctypes.data, buf.nbytes, ctypes.byref(index),
                                            ctypes.byref(items))
                if got < 0:
                    return None
                # A full buffer may have cut the block: grow it once.
                if got < buf.nbytes or (cap and buf.nbytes >= cap) or buf.nbytes >= 1 << 30:
                    break
                self._buf = np.empty(buf.nbytes * 2, np.uint8)
            n = got // item
            a = buf[:n * item].copy().view(self._item_dtype).reshape((n,) + self._item_shape)
            return index.value, a

    def latest(self) -> Optional[npt.NDArray[Any]]:
        """The newest item: a row of channel values (raw, the file's dtype), a
        frame (height, width), or for a sweep the newest point as doubles
        (the value set, then each input's physical value); None if nothing
        was acquired yet."""
        b = self.latest_block()
        return None if b is None else b[1][-1]

    def latest_index(self) -> Optional[int]:
        """The acquisition index of the newest item now (a later snapshot than
        a previous :meth:`latest`: use :meth:`latest_block` for both at once)."""
        b = self.latest_block()
        return None if b is None else b[0] + len(b[1]) - 1

    # ---- control ----------------------------------------------------------
    def stop(self) -> None:
        """Stop: the producer stops at its next block, everything acquired is
        written, the file finalized (state STOPPED).  Returns at once."""
        with self._use() as h:
            lib.labdaq_run_stop(h)

    def abort(self) -> None:
        """Abort: the unwritten rest is discarded and counted (ABORTED).
        Returns at once."""
        with self._use() as h:
            lib.labdaq_run_abort(h)

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Wait until the run has finalized its file, at most ``timeout``
        seconds (None: no limit).  True if it has ended.  The GIL is
        released while waiting; Ctrl-C interrupts it."""
        import time as _time
        deadline = None if timeout is None else _time.monotonic() + timeout
        while True:
            ms = _WAIT_SLICE_MS
            if deadline is not None:
                ms = min(ms, max(0, int((deadline - _time.monotonic()) * 1000 + 0.999)))
            with self._use() as h:
                if lib.labdaq_run_wait(h, ms) == 0:
                    return True
            if deadline is not None and _time.monotonic() >= deadline:
                return False

    def fileno(self) -> int:
        """A descriptor that becomes readable when the run has ended (for
        select/poll/an event loop).  Owned by the run: never read or close it."""
        return int(self._fd)

    def raise_for_error(self) -> None:
        """Raise :class:`RunFailedError` if the run ended FAILED."""
        e = self.error
        if e is not None:
            raise e

    def finish(self) -> Progress:
        """Stop (if still running), wait for the file; a second Ctrl-C while
        waiting aborts.  Returns the final progress."""
        if not self.done:
            self.stop()
            try:
                self.wait()
            except KeyboardInterrupt:
                self.abort()
                self.wait()
                raise
        return self.progress

    def close(self) -> None:
        """Finish the run (see :meth:`finish`) and free the library's run.
        Idempotent; the run's properties are no longer available after."""
        with self._cv:
            if self._h is None:
                return
        try:
            self.finish()
        finally:
            with self._cv:
                h, self._h = self._h, None
                while self._users:
                    self._cv.wait()
            if h is not None:
                lib.labdaq_run_free(h)
                self.device._run_freed()
            _active.discard(self)

    def __del__(self) -> None:
        h = getattr(self, "_h", None)
        if h is not None:
            # Garbage-collected while running: stop, let the writer drain and
            # finalize, free.  Never raise from here.
            try:
                lib.labdaq_run_stop(h)
                lib.labdaq_run_wait(h, -1)
                lib.labdaq_run_free(h)
                self._h = None
                self.device._run_freed()
            except Exception:
                pass

    def __enter__(self) -> "Run":
        return self

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        self.finish()
        if et is None:
            self.raise_for_error()

    # ---- asyncio ------------------------------------------------------------
    def _end_future(self) -> "asyncio.Future[None]":
        loop = asyncio.get_running_loop()
        old = self._end_futures.get(id(loop))
        if old is None or old.cancelled():
            fut: "asyncio.Future[None]" = loop.create_future()
            self._end_futures[id(loop)] = fut

            def ready() -> None:
                loop.remove_reader(self._fd)
                if not fut.done():
                    fut.set_result(None)

            # The run's eventfd stays readable once the run has ended.
            loop.add_reader(self._fd, ready)
            return fut
        return old

    async def ended(self) -> Progress:
        """Wait in asyncio (no thread, no polling: the run's descriptor) until
        the run has ended; return its final progress; raise
        :class:`RunFailedError` if it failed."""
        if not self.done:
            await asyncio.shield(self._end_future())
        with self._use() as h:
            lib.labdaq_run_wait(h, -1)  # already ended: returns at once
        self.raise_for_error()
        return self.progress

    def __await__(self) -> Generator[Any, None, Progress]:
        return self.ended().__await__()

    async def __aenter__(self) -> "Run":
        return self

    async def __aexit__(self, et: Any, ev: Any, tb: Any) -> None:
        if not self.done:
            self.stop()
            await asyncio.shield(self._end_future())
        if et is None:
            self.raise_for_error()

    def __repr__(self) -> str:
        try:
            p = self.progress
            return (f"<labdaq.Run {self.path!r} {p.state.value}: {p.acquired} acquired, "
                    f"{p.written} written, {p.dropped} dropped>")
        except ValueError:
            return f"<labdaq.Run {self.path!r} closed>"


class Sweep(Run):
    """A sweep started by :meth:`Device.sweep`: a :class:`Run` whose points
    can be iterated as they are measured (``for p in sweep`` in a thread or
    a script; ``async for p in sweep`` in asyncio, which never blocks the
    event loop).  Points come from the sweep's CSV file, which the library
    writes and flushes point by point, so none is missed however slowly
    they are consumed."""

    def __init__(self, device: "Device", handle: int, path: str):
        super().__init__(device, handle, path)
        self._item_dtype, self._item_shape = np.dtype("<f8"), (len(self._channels),)

    def _points(self, fh: Any, pending: bytes) -> Tuple[List[SweepPoint], bytes]:
        pending += fh.read()
        *lines, rest = pending.split(b"\n")
        out = []
        for ln in lines:
            # The header row (index,repeat,...) and, in files of 0.2, '#' lines.
            if not ln[:1].isdigit():
                continue
            f = ln.split(b",")
            out.append(SweepPoint(int(f[0]), int(f[1]), float(f[2]), float(f[3]),
                                  tuple(float(x) for x in f[4:])))
        return out, rest

    def points(self, poll: float = 0.02) -> Iterator[SweepPoint]:
        """Yield every point as it is measured, until the sweep ends (it waits
        with the GIL released between points)."""
        with open(self.path, "rb") as fh:
            pending = b""
            while True:
                ended = self.done
                pts, pending = self._points(fh, pending)
                yield from pts
                if ended:
                    return
                self.wait(poll)

    def __iter__(self) -> Iterator[SweepPoint]:
        return self.points()

    async def apoints(self, poll: float = 0.02) -> AsyncIterator[SweepPoint]:
        """Like :meth:`points` for asyncio: waits with the event loop free."""
        with open(self.path, "rb") as fh:
            pending = b""
            while True:
                ended = self.done
                pts, pending = self._points(fh, pending)
                for p in pts:
                    yield p
                if ended:
                    return
                try:
                    await asyncio.wait_for(asyncio.shield(self._end_future()), poll)
                except asyncio.TimeoutError:
                    pass

    def __aiter__(self) -> AsyncIterator[SweepPoint]:
        return self.apoints()
