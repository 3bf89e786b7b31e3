# SPDX-License-Identifier: LGPL-2.1-or-later
"""labdaq: data acquisition for Linux labs, from Python, without blocking.

A thin layer (ctypes) over liblabdaq.so: the library does the acquisition,
the bounded ring, the files, the locks; this package calls it.

    import labdaq
    dev = labdaq.open("sim:adc?channels=4")
    with dev.acquire("x.npy", samples=1_000_000, rate=100_000) as run:
        while not run.wait(0.5):           # Python stays free
            print(run.progress.acquired, run.latest())
    data = labdaq.load("x.npy")            # memory-mapped, with metadata
    volts = data.physical()

- devices(), open(uri) -> Device; Device.info (channels, units, scales,
  ranges, kind, frame shape)
- Device.acquire(...) -> Run at once: progress, latest(), stop(), abort(),
  wait(timeout), state, error; ``with`` stops and finalizes on leaving;
  ``await run`` in asyncio
- Device.sweep(...) -> Sweep: iterate its points as they are measured
  (``for`` or ``async for``)
- load(path) -> Data; recover(path)
- errors: LabdaqError (an OSError with the library's message),
  DeviceBusyError (.holder), InvalidArgumentError (a ValueError),
  RunFailedError

The library is found through $LABDAQ_LIBRARY, the path ``make install``
recorded, the build tree, or the dynamic loader; ``labdaq.library_path``
says which was loaded.
"""

from ._lib import LibraryLoadError, lib as _lib, path as library_path, s as _s
from ._errors import (DeviceBusyError, Holder, InvalidArgumentError, LabdaqError,
                      NoDeviceError, OutputExistsError, RunFailedError, holder_of)
from ._run import Channel, Progress, Run, State, Sweep, SweepPoint
from ._device import Device, DeviceEntry, DeviceInfo, devices, open
from ._data import Data, Gap, Recovered, load, recover

#: The version of the loaded liblabdaq, which is the package's own: both come
#: from lib/include/labdaq.h (setup.py reads it there when it builds).
__version__ = _s(_lib.labdaq_version())


def version() -> str:
    """The version of the loaded liblabdaq ("MAJOR.MINOR.PATCH")."""
    return _s(_lib.labdaq_version())


def holder(uri: str) -> "Holder | None":
    """Who holds the device of ``uri`` now (any process), or None."""
    return holder_of(uri)


__all__ = [
    "Channel", "Data", "Device", "DeviceBusyError", "DeviceEntry", "DeviceInfo", "Gap",
    "Holder", "InvalidArgumentError", "LabdaqError", "LibraryLoadError", "NoDeviceError",
    "OutputExistsError", "Progress", "Recovered", "Run", "RunFailedError", "State", "Sweep",
    "SweepPoint", "devices", "holder", "library_path", "load", "open", "recover", "version",
]
