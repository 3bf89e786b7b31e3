# SPDX-License-Identifier: LGPL-2.1-or-later
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "python"))
sys.path.insert(0, HERE)
os.environ.setdefault("LABDAQ_LOCK_DIR", os.path.join(TOP, "build", "test-logs", "locks.pytest"))
os.makedirs(os.environ["LABDAQ_LOCK_DIR"], exist_ok=True)


@pytest.fixture
def env():
    """The environment a child Python needs to import the build tree's package."""
    e = dict(os.environ)
    e["PYTHONPATH"] = os.path.join(TOP, "python") + os.pathsep + HERE
    return e
