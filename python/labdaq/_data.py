# SPDX-License-Identifier: LGPL-2.1-or-later
"""Reading what a run left: the data (memory-mapped) and its metadata, through
the library's own reader (``labdaq_file_*``)."""

from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import numpy.typing as npt

from ._errors import check, clear
from ._lib import Channel_, RecoverInfo_, lib, s
from ._run import Channel, channel_of


@dataclass(frozen=True)
class Gap:
    """``count`` items from acquisition index ``index`` never reached the file."""

    index: int
    count: int


class Data:
    """A run's file and metadata (:func:`load`).

    ``array`` is the raw data: for a stream a read-only memory map of the
    ``.npy`` (shape ``(samples, channels)`` or ``(frames, height, width)``,
    the device's raw dtype); for a sweep the CSV's rows as floats
    (columns ``index, repeat, time_s, set_OUT, inputs...``, already in
    physical units).  ``meta`` is the sidecar as a dict.  :meth:`physical`
    (alias :meth:`volts`) applies each channel's offset and scale;
    :meth:`times` and :meth:`indexes` place the rows in time, gaps
    included.
    """

    path: str
    kind: str
    """``"npy"`` (a stream) or ``"csv"`` (a sweep)."""
    array: npt.NDArray[Any]
    meta: Dict[str, Any]
    channels: List[Channel]
    gap_array: npt.NDArray[np.uint64]
    """The gaps as an ``(N, 2)`` uint64 array of (index, count) rows, in
    increasing index order: a run's ``NAME.gaps.npy`` (or a labdaq-1
    sidecar's list), read in one call whatever their number."""
    items_on_disk: int
    """Whole items on disk now (more than ``len(array)`` during a run)."""

    def __init__(self, path: str):
        f = ctypes.c_void_p()
        clear()
        check(lib.labdaq_file_open(str(path).encode(), ctypes.byref(f)), f"load {path!r}")
        try:
            self.path = str(path)
            self.kind = "npy" if lib.labdaq_file_type(f) == 0 else "csv"
            text = lib.labdaq_file_meta_json(f)
            self.meta = json.loads(s(text)) if text else {}
            self.channels = []
            for i in range(lib.labdaq_file_channel_count(f)):
                c = Channel_()
                coff = ctypes.c_double(0.0)
                if lib.labdaq_file_channel(f, i, c) == 0:
                    lib.labdaq_file_channel_offset(f, i, ctypes.byref(coff))
                    self.channels.append(channel_of(c, coff.value))
            ngaps = lib.labdaq_file_gap_count(f)
            self.gap_array = np.zeros((ngaps, 2), dtype=np.uint64)
            if ngaps:
                got = lib.labdaq_file_gaps(f, 0, ngaps, self.gap_array.ctypes.data_as(
                    ctypes.POINTER(ctypes.c_uint64)))
                self.gap_array = self.gap_array[:max(got, 0)]
            self._gaps: Optional[List[Gap]] = None
            self.items_on_disk = lib.labdaq_file_items_on_disk(f)
            if self.kind == "npy":
                items = lib.labdaq_file_items(f)
                shape = tuple(lib.labdaq_file_item_dim(f, i)
                              for i in range(lib.labdaq_file_item_ndim(f)))
                dtype = np.dtype(s(lib.labdaq_file_dtype(f)))
                off = lib.labdaq_file_data_offset(f)
                if items:
                    self.array = np.memmap(self.path, dtype=dtype, mode="r", offset=off,
                                           shape=(items,) + shape)
                else:
                    self.array = np.zeros((0,) + shape, dtype)
            else:
                # The header row first (files of 0.2 had '#' lines instead).
                self.array = np.loadtxt(self.path, delimiter=",", comments="#", skiprows=1,
                                        ndmin=2)
        finally:
            lib.labdaq_file_close(f)

    @property
    def gaps(self) -> List[Gap]:
        """The gaps as :class:`Gap` objects (built on first use from
        :attr:`gap_array`)."""
        if self._gaps is None:
            self._gaps = [Gap(int(i), int(c)) for i, c in self.gap_array]
        return self._gaps

    @property
    def status(self) -> str:
        """The metadata's status: running, complete, stopped, aborted,
        failed or recovered."""
        return str(self.meta.get("status", ""))

    @property
    def rate_hz(self) -> Optional[float]:
        """The rate the run asked for, or None (as fast as possible, unknown)."""
        r = self.meta.get("rate_hz")
        return float(r) if r else None

    def physical(self) -> npt.NDArray[Any]:
        """The data in physical units (float64): (raw + offset) x scale of
        each channel, as the metadata records them, in the channel's unit.
        A sweep's rows are already physical and are returned as they are."""
        if self.kind == "csv":
            return self.array
        if not self.channels:
            return np.asarray(self.array, dtype=np.float64)
        if self.array.ndim == 2:
            scale = np.array([c.scale for c in self.channels], dtype=np.float64)
            offset = np.array([c.offset for c in self.channels], dtype=np.float64)
            return (self.array + offset) * scale
        c0 = self.channels[0]
        return (self.array + np.float64(c0.offset)) * np.float64(c0.scale)

    volts = physical

    def indexes(self) -> npt.NDArray[Any]:
        """The acquisition index of each row: its position in the sequence
        of items the device produced, gaps skipped (docs/file-format.md)."""
        if self.kind == "csv":
            return self.array[:, 0].astype(np.int64)
        # Row k was acquired as k + the items of the gaps before it: gap j
        # has before[j] rows of the file before it.
        k = np.arange(len(self.array), dtype=np.uint64)
        g = self.gap_array
        lost = np.cumsum(g[:, 1], dtype=np.uint64)
        before = g[:, 0] - (lost - g[:, 1])
        j = np.searchsorted(before, k, side="right")
        return (k + np.insert(lost, 0, 0)[j]).astype(np.int64)

    def times(self) -> Optional[npt.NDArray[Any]]:
        """Seconds from the start of each row: a sweep's ``time_s`` column,
        or a stream's acquisition index / rate; None if the rate is unknown
        (a run at full speed)."""
        if self.kind == "csv":
            return self.array[:, 2]
        r = self.rate_hz
        return None if r is None else self.indexes() / r

    def __len__(self) -> int:
        return len(self.array)

    def __repr__(self) -> str:
        return (f"<labdaq.Data {self.path!r} {self.status}: shape {self.array.shape}, "
                f"{len(self.gap_array)} gaps>")


def load(path: str) -> Data:
    """Load a run's data file (``.npy``, memory-mapped; or a sweep's
    ``.csv``) and its metadata.  Works on a file still being written (the
    items of its last checkpoint) and on a recovered one."""
    return Data(path)


@dataclass(frozen=True)
class Recovered:
    """What :func:`recover` did."""

    items: int
    """Whole items the header now describes."""
    trailing: int
    """Bytes of a partial item cut off the end."""
    previous_status: Optional[str]


def recover(path: str) -> Recovered:
    """Complete a data file after a crash or kill -9 (``labdaq recover``)."""
    info = RecoverInfo_()
    clear()
    check(lib.labdaq_file_recover(str(path).encode(), info), f"recover {path!r}")
    prev = None if info.previous_status < 0 else s(lib.labdaq_state_name(info.previous_status))
    return Recovered(info.items, info.trailing, prev)
