"""A fake installed distribution carrying one protocol module, for tests and
probes that need a protocol of their own in real ``mpcnet party`` processes."""

from __future__ import annotations

import textwrap
from pathlib import Path

__all__ = ["install_plugin"]


def install_plugin(tmp: Path, module: str, source: str) -> Path:
    """Write ``module`` (with ``source``, dedented) and a dist-info whose
    ``mpcnet.protocols`` entry point names it under ``tmp/site``; returns that
    directory, to be put on the parties' PYTHONPATH."""
    site = tmp / "site"
    dist = site / f"{module}-0.1.dist-info"
    dist.mkdir(parents=True)
    name = module.replace("_", "-")
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[mpcnet.protocols]\n{module} = {module}\n")
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    return site
