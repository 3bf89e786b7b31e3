# SPDX-License-Identifier: LGPL-2.1-or-later
"""docs/python.md: every Python block of "The tutorial, solved" runs."""

import os
import re
import subprocess
import sys

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def steps():
    text = open(os.path.join(TOP, "docs", "python.md")).read()
    text = text.split("## The tutorial, solved", 1)[1]
    out = []
    for m in re.finditer(r"### (\d)\. ([^\n]*)\n(.*?)(?=\n### |\Z)", text, re.S):
        blocks = re.findall(r"```python\n(.*?)```", m.group(3), re.S)
        out.append(pytest.param(blocks, id=f"step{m.group(1)}"))
    return out


def test_the_seven_steps_are_there():
    assert len(steps()) == 7


@pytest.mark.parametrize("blocks", steps())
def test_step_runs(blocks, tmp_path, env):
    assert blocks
    for code in blocks:
        (tmp_path / "step.py").write_text(code)
        r = subprocess.run([sys.executable, "step.py"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
