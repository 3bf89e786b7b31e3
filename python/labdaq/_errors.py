# SPDX-License-Identifier: LGPL-2.1-or-later
"""Exceptions: the library's -errno and its own message, as Python errors."""

from __future__ import annotations

import ctypes
import errno as _errno
from dataclasses import dataclass
from typing import Optional

from ._lib import Holder_, lib, s


@dataclass(frozen=True)
class Holder:
    """Who holds a device: a run of another process (or of this one)."""

    pid: int
    """The holding process, or -1 when it cannot be told (not a labdaq run)."""
    user: str
    uid: int
    run_id: str
    since_utc: str
    device: str
    """The URI the holder opened the device with."""
    command: str
    """The holder's command line, or the API's description of the run."""
    output: str
    """The absolute path of its data file."""
    stoppable: bool
    """Whether `labdaq stop` may signal it."""


class LabdaqError(OSError):
    """An error of liblabdaq: ``errno`` is the positive errno, ``str(e)`` the
    library's own message (``labdaq_last_error()``) when it gave one."""

    def __init__(self, code: int, message: str):
        super().__init__(code, message)

    def __str__(self) -> str:
        return str(self.strerror)


class InvalidArgumentError(LabdaqError, ValueError):
    """A bad argument (EINVAL, ERANGE): raised before anything starts."""


class OutputExistsError(LabdaqError, FileExistsError):
    """The output file exists and overwrite was not asked for (EEXIST)."""


class FileNotFoundLabdaqError(LabdaqError, FileNotFoundError):
    """A file to read or write cannot be found (ENOENT)."""


class PermissionLabdaqError(LabdaqError, PermissionError):
    """Permission denied (EACCES, EPERM)."""


class NoDeviceError(LabdaqError, LookupError):
    """No such device (ENODEV) or backend (EPROTONOSUPPORT)."""


class DeviceBusyError(LabdaqError):
    """The device is held by another run (EBUSY); ``holder`` says by whom."""

    holder: Optional[Holder]

    def __init__(self, code: int, message: str, holder: Optional[Holder]):
        super().__init__(code, message)
        self.holder = holder


class RunFailedError(LabdaqError):
    """A run ended FAILED (device lost, disk full, ...): the run's error."""


def holder_of(uri: str) -> Optional[Holder]:
    """Who holds the device of ``uri`` now, or None if it is free."""
    h = Holder_()
    h.size = ctypes.sizeof(Holder_)
    ret = lib.labdaq_device_holder(uri.encode(), h)
    if ret < 0:
        raise error(ret, f"labdaq_device_holder({uri!r})")
    if ret == 0:
        return None
    return Holder(pid=h.pid, user=s(h.user), uid=h.uid, run_id=s(h.run_id),
                  since_utc=s(h.since_utc), device=s(h.device), command=s(h.what),
                  output=s(h.output), stoppable=bool(h.stoppable))


def error(ret: int, what: str, uri: Optional[str] = None) -> LabdaqError:
    """The exception for a negative return ``ret`` of the call ``what``, with
    the calling thread's last library message."""
    code = -ret
    last = s(lib.labdaq_last_error())
    msg = last or f"{what}: {s(lib.labdaq_strerror(ret))}"
    if code == _errno.EBUSY and uri is not None:
        # The library's message names the holder; .holder carries its fields.
        return DeviceBusyError(code, msg, holder_of(uri))
    if code == _errno.EBUSY:
        return DeviceBusyError(code, msg, None)
    if code in (_errno.EINVAL, _errno.ERANGE):
        return InvalidArgumentError(code, msg)
    if code == _errno.EEXIST:
        return OutputExistsError(code, msg)
    if code == _errno.ENOENT:
        return FileNotFoundLabdaqError(code, msg)
    if code in (_errno.EACCES, _errno.EPERM):
        return PermissionLabdaqError(code, msg)
    if code in (_errno.ENODEV, _errno.EPROTONOSUPPORT):
        return NoDeviceError(code, msg)
    return LabdaqError(code, msg)


def check(ret: int, what: str, uri: Optional[str] = None) -> int:
    """Raise the error of a negative ``ret``; return ``ret`` otherwise."""
    if ret < 0:
        raise error(ret, what, uri)
    return ret


def clear() -> None:
    lib.labdaq_clear_error()
