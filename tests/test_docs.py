"""Every Python code block in the README and docs/ runs (in order, per file)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_python_blocks_run(path, capsys):
    blocks = BLOCK.findall(path.read_text("utf-8"))
    namespace: dict[str, object] = {"__name__": f"docs_{path.stem}"}
    for code in blocks:
        exec(compile(code, str(path), "exec"), namespace)  # noqa: S102 - our own docs
    out = capsys.readouterr().out
    if path.name == "README.md":
        assert "(3171.5, 3171.5, 3171.5, 3171.5)" in out
        assert "(14, 14, 14)" in out
