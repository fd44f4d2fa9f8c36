"""Every code block in the README and docs/ runs.

Python blocks run in-process, in order, sharing one namespace per file.
Bash blocks of docs/guide.md run in order in one scratch directory, with the
test's own Python environment first on PATH; packages the guide installs go
to a scratch target directory (PIP_TARGET), never into the environment.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
# Shell blocks in these files are instructions for the reader's own machine
# (quick start, multi-host set-up): the guide's blocks are the ones we run.
RUN_BASH = {"guide.md"}


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run(path, capsys):
    blocks = PYTHON_BLOCK.findall(path.read_text("utf-8"))
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for code in blocks:
        exec(compile(code, str(path), "exec"), namespace)
    out = capsys.readouterr().out
    if path.name == "README.md":
        assert "(3171.5, 3171.5, 3171.5, 3171.5)" in out
        assert "(14, 14, 14)" in out


@pytest.mark.parametrize("name", sorted(RUN_BASH))
def test_bash_blocks_run(name, tmp_path):
    blocks = BASH_BLOCK.findall((REPO / "docs" / name).read_text("utf-8"))
    assert blocks
    site = tmp_path / "site"
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO), env.get("PYTHONPATH", "")])
    env["PIP_TARGET"] = str(site)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for i, block in enumerate(blocks):
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=240)
        assert proc.returncode == 0, f"block {i} failed:\n{block}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
