"""Shared test fixtures.

Test rules: network tests use 127.0.0.1 and port 0 only; timeouts are tested
with trio's MockClock(autojump_threshold=0), not real sleeps; every trio test
has an absolute trio.fail_after.
"""

from __future__ import annotations

import pytest
import trio.testing
from hypothesis import HealthCheck, settings

# Property tests judge correctness, not speed: on a loaded 2-core CI machine
# the default 200 ms per-example deadline and the too-slow health check would
# fail a correct run. Speed is measured in benchmarks/ instead.
settings.register_profile("mpcnet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mpcnet")


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """A clock that jumps ahead whenever every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)
