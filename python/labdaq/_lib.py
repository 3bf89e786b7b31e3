# SPDX-License-Identifier: LGPL-2.1-or-later
"""Loading liblabdaq.so and declaring its functions (ctypes).

Why ctypes rather than cffi: it is in the standard library (nothing to build,
no compiler at install time, one pure-Python package for every Python 3), and
a ctypes.CDLL call releases the GIL for the whole foreign call, which is what
"every call that waits releases the GIL" needs.  The API is small and made of
plain C types and opaque handles, so cffi's parser of the header would buy
little; ABI mismatches are caught by the struct ``size`` field and the
symbol check at load time.
"""

from __future__ import annotations

import ctypes
import importlib
import os
from ctypes import (POINTER, c_char, c_char_p, c_double, c_int, c_size_t, c_uint,
                    c_uint32, c_uint64, c_ulonglong, c_void_p)
from typing import Any, List, Tuple

SONAME = "liblabdaq.so.1"


class LibraryLoadError(ImportError):
    """liblabdaq.so could not be loaded; the message lists every place tried
    and why each failed."""


class Channel_(ctypes.Structure):
    _fields_ = [("name", c_char_p), ("unit", c_char_p), ("scale", c_double),
                ("dtype", c_int), ("output", c_int), ("min", c_double), ("max", c_double)]


class Holder_(ctypes.Structure):
    _fields_ = [("size", c_size_t), ("pid", c_int), ("stoppable", c_int),
                ("start", c_ulonglong), ("uid", c_uint), ("user", c_char * 64),
                ("run_id", c_char * 64), ("since_utc", c_char * 32),
                ("device", c_char * 256), ("what", c_char * 512), ("output", c_char * 1024)]


class Progress_(ctypes.Structure):
    _fields_ = [("state", c_int), ("acquired", c_uint64), ("written", c_uint64),
                ("dropped", c_uint64), ("gaps", c_uint64), ("ring_fill_bytes", c_uint64),
                ("ring_high_water_bytes", c_uint64), ("ring_capacity_bytes", c_uint64),
                ("item_bytes", c_uint64), ("target", c_uint64), ("elapsed_ns", c_uint64),
                ("rate_hz", c_double), ("error", c_int)]


class RecoverInfo_(ctypes.Structure):
    _fields_ = [("items", c_uint64), ("trailing", c_uint64), ("previous_status", c_int)]


LIST_FN = ctypes.CFUNCTYPE(c_int, c_char_p, c_char_p, c_void_p)
HOLDER_FN = ctypes.CFUNCTYPE(c_int, POINTER(Holder_), c_void_p)

vp = c_void_p
# name: (restype, argtypes)
_PROTOS = {
    "labdaq_version": (c_char_p, []),
    "labdaq_strerror": (c_char_p, [c_int]),
    "labdaq_last_error": (c_char_p, []),
    "labdaq_clear_error": (None, []),
    "labdaq_dtype_numpy": (c_char_p, [c_int]),
    "labdaq_device_open": (c_int, [c_char_p, POINTER(vp)]),
    "labdaq_device_close": (None, [vp]),
    "labdaq_device_uri": (c_char_p, [vp]),
    "labdaq_device_backend": (c_char_p, [vp]),
    "labdaq_device_description": (c_char_p, [vp]),
    "labdaq_device_kind": (c_int, [vp]),
    "labdaq_device_channel_count": (c_uint, [vp]),
    "labdaq_device_channel": (c_int, [vp, c_uint, POINTER(Channel_)]),
    "labdaq_device_frame_shape": (c_int, [vp, POINTER(c_uint32), POINTER(c_uint32)]),
    "labdaq_list": (c_int, [LIST_FN, vp]),
    "labdaq_device_holder": (c_int, [c_char_p, POINTER(Holder_)]),
    "labdaq_state_name": (c_char_p, [c_int]),
    "labdaq_default_ring_bytes": (c_uint64, []),
    "labdaq_run_config_new": (c_int, [POINTER(vp)]),
    "labdaq_run_config_free": (None, [vp]),
    "labdaq_run_config_set_path": (c_int, [vp, c_char_p]),
    "labdaq_run_config_set_count": (c_int, [vp, c_uint64]),
    "labdaq_run_config_set_duration_ns": (c_int, [vp, c_uint64]),
    "labdaq_run_config_set_rate_hz": (c_int, [vp, c_double]),
    "labdaq_run_config_set_channels": (c_int, [vp, c_char_p]),
    "labdaq_run_config_set_ring_bytes": (c_int, [vp, c_uint64]),
    "labdaq_run_config_set_on_full": (c_int, [vp, c_int]),
    "labdaq_run_config_set_overwrite": (c_int, [vp, c_int]),
    "labdaq_run_config_set_command": (c_int, [vp, c_char_p]),
    "labdaq_run_config_set_checkpoint_ms": (c_int, [vp, c_uint32]),
    "labdaq_run_check": (c_int, [vp, vp]),
    "labdaq_run_start": (c_int, [vp, vp, POINTER(vp)]),
    "labdaq_run_progress": (c_int, [vp, POINTER(Progress_)]),
    "labdaq_run_latest": (c_int, [vp, vp, c_size_t, POINTER(c_uint64), POINTER(c_uint64)]),
    "labdaq_run_stop": (c_int, [vp]),
    "labdaq_run_abort": (c_int, [vp]),
    "labdaq_run_wait": (c_int, [vp, c_int]),
    "labdaq_run_fd": (c_int, [vp]),
    "labdaq_run_state": (c_int, [vp]),
    "labdaq_run_error": (c_int, [vp, POINTER(c_char_p)]),
    "labdaq_run_channel_count": (c_uint, [vp]),
    "labdaq_run_channel": (c_int, [vp, c_uint, POINTER(Channel_)]),
    "labdaq_run_free": (None, [vp]),
    "labdaq_sweep_config_new": (c_int, [POINTER(vp)]),
    "labdaq_sweep_config_free": (None, [vp]),
    "labdaq_sweep_config_set_path": (c_int, [vp, c_char_p]),
    "labdaq_sweep_config_set_output": (c_int, [vp, c_char_p]),
    "labdaq_sweep_config_set_inputs": (c_int, [vp, c_char_p]),
    "labdaq_sweep_config_set_range": (c_int, [vp, c_double, c_double]),
    "labdaq_sweep_config_set_points": (c_int, [vp, c_uint32]),
    "labdaq_sweep_config_set_repeat": (c_int, [vp, c_uint32]),
    "labdaq_sweep_config_set_delay_ns": (c_int, [vp, c_uint64]),
    "labdaq_sweep_config_set_overwrite": (c_int, [vp, c_int]),
    "labdaq_sweep_config_set_command": (c_int, [vp, c_char_p]),
    "labdaq_sweep_check": (c_int, [vp, vp]),
    "labdaq_sweep_start": (c_int, [vp, vp, POINTER(vp)]),
    "labdaq_file_open": (c_int, [c_char_p, POINTER(vp)]),
    "labdaq_file_close": (None, [vp]),
    "labdaq_file_type": (c_int, [vp]),
    "labdaq_file_dtype": (c_char_p, [vp]),
    "labdaq_file_items": (c_uint64, [vp]),
    "labdaq_file_item_ndim": (c_uint, [vp]),
    "labdaq_file_item_dim": (c_uint64, [vp, c_uint]),
    "labdaq_file_item_bytes": (c_uint64, [vp]),
    "labdaq_file_data_offset": (c_uint64, [vp]),
    "labdaq_file_items_on_disk": (c_uint64, [vp]),
    "labdaq_file_meta_error": (c_int, [vp, POINTER(c_char_p)]),
    "labdaq_file_meta_json": (c_char_p, [vp]),
    "labdaq_file_gap_count": (c_uint64, [vp]),
    "labdaq_file_gap": (c_int, [vp, c_uint64, POINTER(c_uint64), POINTER(c_uint64)]),
    "labdaq_file_gaps": (ctypes.c_int64, [vp, c_uint64, c_uint64, POINTER(c_uint64)]),
    "labdaq_file_channel_count": (c_uint, [vp]),
    "labdaq_file_channel": (c_int, [vp, c_uint, POINTER(Channel_)]),
    "labdaq_file_channel_offset": (c_int, [vp, c_uint, POINTER(c_double)]),
    "labdaq_device_channel_offset": (c_int, [vp, c_uint, POINTER(c_double)]),
    "labdaq_run_channel_offset": (c_int, [vp, c_uint, POINTER(c_double)]),
    "labdaq_file_recover": (c_int, [c_char_p, POINTER(RecoverInfo_)]),
}


def _candidates() -> List[Tuple[str, str]]:
    """(path or name, where it comes from), in the order they are tried."""
    env = os.environ.get("LABDAQ_LIBRARY")
    if env:
        # An explicit choice is never replaced by another library.
        return [(env, "$LABDAQ_LIBRARY")]
    out = []
    try:  # written by `make install` (or pip install from a built tree)
        recorded = importlib.import_module("._libpath", __package__)
        out.append((str(recorded.LIBRARY), "the library `make install` installed with it"))
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.path.join(os.path.dirname(os.path.dirname(here)), "build", SONAME)
    if os.path.exists(build):
        out.append((build, "the build tree this package sits in"))
    out.append((SONAME, "the dynamic loader's search path"))
    for d in ("/usr/local/lib", "/usr/lib"):
        out.append((os.path.join(d, SONAME), "the default install prefix"))
    return out


def load() -> Tuple[Any, str]:
    """Load the library: (ctypes.CDLL with every prototype set, its path)."""
    tried = []
    for path, why in _candidates():
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append(f"  {path} ({why}): {e}")
            continue
        missing = [n for n in _PROTOS if not hasattr(lib, n)]
        if missing:
            tried.append(f"  {path} ({why}): too old, it lacks {', '.join(missing[:4])}")
            continue
        for name, (res, args) in _PROTOS.items():
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = args
        return lib, path
    raise LibraryLoadError(
        "labdaq: cannot load liblabdaq (build it with `make`, or install it with "
        "`make install`, or set LABDAQ_LIBRARY to its path). Tried:\n" + "\n".join(tried))


lib, path = load()


def s(b: "bytes | None") -> str:
    """A C string from the library as str ("" for NULL)."""
    return b.decode("utf-8", "replace") if b else ""
