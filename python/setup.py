# SPDX-License-Identifier: LGPL-2.1-or-later
"""Records which liblabdaq the package is built with (pyproject.toml has the
rest): `pip install --no-build-isolation ./python` from a built tree writes
the path of ../build/liblabdaq.so.1 (or $LABDAQ_LIBRARY) into the installed
package's _libpath.py, so that the installed package loads that library."""

import os
import re

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        lib = os.environ.get("LABDAQ_LIBRARY") or os.path.join(
            os.path.dirname(HERE), "build", "liblabdaq.so.1")
        if os.path.exists(lib):
            out = os.path.join(self.build_lib, "labdaq", "_libpath.py")
            with open(out, "w") as f:
                f.write("# written by pip install: the library this package was built with\n"
                        f"LIBRARY = {os.path.abspath(lib)!r}\n")


def library_version() -> str:
    """MAJOR.MINOR.PATCH of the library: from its header in the source tree,
    the version's one source, or else from the built library itself."""
    header = os.path.join(os.path.dirname(HERE), "lib", "include", "labdaq.h")
    if os.path.exists(header):
        with open(header) as f:
            text = f.read()
        return ".".join(re.search(r"#define LABDAQ_VERSION_%s (\d+)" % p, text).group(1)
                        for p in ("MAJOR", "MINOR", "PATCH"))
    import ctypes

    lib = ctypes.CDLL(os.environ.get("LABDAQ_LIBRARY") or os.path.join(
        os.path.dirname(HERE), "build", "liblabdaq.so.1"))
    lib.labdaq_version.restype = ctypes.c_char_p
    return lib.labdaq_version().decode()


setup(version=library_version(), cmdclass={"build_py": BuildPy})
