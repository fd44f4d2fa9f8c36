"""Shared test fixtures.

Test rules: network tests use 127.0.0.1 and port 0 only; timeouts are tested
with trio's MockClock(autojump_threshold=0), not real sleeps; every trio test
has an absolute trio.fail_after, and pytest-timeout (pyproject.toml) fails
any test that still hangs, by name.

With MPCNET_REQUIRE_ALL_TESTS=1 (as .ci/run sets) a skip is a failure: CI's
runner can run every test (root, iproute2, a high fd limit), so a test that
skips there has found the runner lacking something, and says what.
"""

from __future__ import annotations

import gc
import inspect
import os

import pytest
import trio.testing
from hypothesis import HealthCheck, settings

# Property tests judge correctness, not speed: on a loaded 2-core CI machine
# the default 200 ms per-example deadline and the too-slow health check would
# fail a correct run. Speed is measured in benchmarks/ instead.
settings.register_profile("mpcnet", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("mpcnet")

REQUIRE_ALL = os.environ.get("MPCNET_REQUIRE_ALL_TESTS", "") not in ("", "0")


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """A clock that jumps ahead whenever every task is blocked."""
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Under MPCNET_REQUIRE_ALL_TESTS, turn a skip into a failure that names
    what the runner lacks (the skip's reason)."""
    outcome = yield
    report = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"MPCNET_REQUIRE_ALL_TESTS=1, but this runner cannot run {item.nodeid}: {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """After a test, finish off a trio run that pytest-timeout's signal
    interrupted outside trio's own code: left suspended, it would fail the
    next trio test ("Attempted to call run() from inside a run()"), and when
    garbage-collected during a later run it would wipe that run's state."""
    yield
    run_module = getattr(getattr(trio, "_core", None), "_run", None)
    leftover = getattr(run_module, "GLOBAL_RUN_CONTEXT", None)
    if leftover is not None and hasattr(leftover, "runner"):
        for obj in gc.get_objects():
            if inspect.isgenerator(obj) and obj.gi_code.co_name == "unrolled_run" and obj.gi_frame is not None:
                try:
                    obj.close()
                except BaseException:
                    pass  # what it raises on the way out belongs to the test that already failed
        leftover.__dict__.clear()
