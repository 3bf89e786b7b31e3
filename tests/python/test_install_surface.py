# SPDX-License-Identifier: LGPL-2.1-or-later
"""Installing (make install, pip offline), the typed public surface, help()."""

import inspect
import os
import pydoc
import shutil
import subprocess
import sys

import pytest

import labdaq

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PY = sys.executable


def test_make_install_puts_the_package_where_debian_python_finds_it(tmp_path):
    d = tmp_path / "root"
    r = subprocess.run(["make", "--no-print-directory", "-C", TOP, "install", f"DESTDIR={d}",
                        "PREFIX=/usr"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    pkg = d / "usr/lib/python3/dist-packages/labdaq"
    assert (pkg / "__init__.py").exists() and (pkg / "py.typed").exists()
    assert 'LIBRARY = "/usr/lib/liblabdaq.so.1"' in (pkg / "_libpath.py").read_text()
    # /usr/lib/python3/dist-packages is on Debian's python3 path
    assert "/usr/lib/python3/dist-packages" in subprocess.run(
        ["/usr/bin/python3", "-c", "import sys; print(sys.path)"], capture_output=True,
        text=True).stdout
    env = dict(os.environ, PYTHONPATH=str(pkg.parent),
               LABDAQ_LIBRARY=str(d / "usr/lib/liblabdaq.so.1"))
    out = subprocess.run([PY, "-c", "import labdaq; print(labdaq.__file__, labdaq.library_path,"
                          " labdaq.devices()[0].uri)"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(pkg / "__init__.py"), str(d / "usr/lib/liblabdaq.so.1"),
                                  "sim:camera"]
    # without the installed library (DESTDIR is not /): the error says which
    env.pop("LABDAQ_LIBRARY")
    env["LD_LIBRARY_PATH"] = ""
    bad = subprocess.run([PY, "-c", "import labdaq"], env=env, capture_output=True, text=True)
    if not os.path.exists("/usr/lib/liblabdaq.so.1"):
        assert bad.returncode != 0
        assert "/usr/lib/liblabdaq.so.1 (the library `make install` installed with it)" in \
            bad.stderr
    r = subprocess.run(["make", "--no-print-directory", "-C", TOP, "uninstall", f"DESTDIR={d}",
                        "PREFIX=/usr"], capture_output=True, text=True)
    assert r.returncode == 0 and not pkg.exists()


def test_pip_install_offline_finds_the_library_it_was_built_with(tmp_path):
    venv = tmp_path / "venv"
    if subprocess.run([PY, "-m", "venv", "--system-site-packages", str(venv)]).returncode:
        pytest.skip("python3-venv is not installed")
    src = tmp_path / "src"
    shutil.copytree(os.path.join(TOP, "python"), src / "python",
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    os.symlink(os.path.join(TOP, "build"), src / "build")
    r = subprocess.run([str(venv / "bin/python"), "-m", "pip", "install", "--no-index",
                        "--no-build-isolation", str(src / "python")], capture_output=True,
                       text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LABDAQ_LIBRARY")}
    out = subprocess.run([str(venv / "bin/python"), "-c",
                          "import labdaq; print(labdaq.__file__); print(labdaq.library_path)"],
                         env=env, capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    f, lib = out.stdout.split()
    assert f.startswith(str(venv)) and lib == str(src / "build" / "liblabdaq.so.1")


def test_public_surface_passes_mypy_strict(tmp_path):
    if not shutil.which("mypy"):
        pytest.skip("mypy is not installed")
    r = subprocess.run(["mypy", "--strict", "--no-error-summary", "--cache-dir",
                        str(tmp_path / "cache"), "-p", "labdaq"],
                       cwd=os.path.join(TOP, "python"), capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]


def test_every_public_function_is_typed_and_documented():
    missing = []
    for name in labdaq.__all__:
        obj = getattr(labdaq, name)
        if not (obj.__doc__ or "").strip():
            missing.append(f"{name}: no docstring")
        members = [(name, obj)] if inspect.isfunction(obj) else [
            (f"{name}.{m}", f) for m, f in vars(obj).items()
            if not m.startswith("_") and inspect.isfunction(f)] if inspect.isclass(obj) else []
        for qual, f in members:
            sig = inspect.signature(f)
            if sig.return_annotation is inspect.Signature.empty:
                missing.append(f"{qual}: no return type")
            for p in sig.parameters.values():
                if p.name != "self" and p.annotation is inspect.Parameter.empty:
                    missing.append(f"{qual}({p.name}): no type")
            if not (f.__doc__ or "").strip():
                missing.append(f"{qual}: no docstring")
    assert missing == []


def test_help_shows_the_docstrings():
    text = pydoc.render_doc(labdaq, renderer=pydoc.plaintext)
    for s in ["thin layer (ctypes) over liblabdaq.so", "Start streaming into",
              "returns at once", "Load a run's data file", "DeviceBusyError",
              "Yield every point as it is measured"]:
        assert s in text, s
