"""A fault hook for crash tests: the process kills itself (SIGKILL) at a named point.

``MPCNET_AGG_FAULT=NAME`` kills the process the first time it reaches point ``NAME``;
``NAME@K`` the K-th time. Unset (always, outside tests) it costs one dictionary lookup.
The points are listed in docs/aggregate.md ("Crash tests").
"""

from __future__ import annotations

import os
import signal

__all__ = ["fault_point", "ENV"]

ENV = "MPCNET_AGG_FAULT"
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """SIGKILL this process if ``MPCNET_AGG_FAULT`` names this point (and hit count)."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    target, _, nth = spec.partition("@")
    if target != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= (int(nth) if nth else 1):
        os.kill(os.getpid(), signal.SIGKILL)
