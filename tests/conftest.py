"""Shared test fixtures.

Test rules: network tests use 127.0.0.1 and port 0 only; timeouts are tested
with trio's MockClock(autojump_threshold=0), not real sleeps; every trio test
has an absolute trio.fail_after.
"""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """A clock that jumps ahead whenever every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)
