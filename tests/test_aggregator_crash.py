"""Exactly once: SIGKILL either aggregator (real processes) at named points and at random times,
restart it, and the collected aggregate is still exactly that of the uploaded reports."""

from __future__ import annotations

import random
import secrets
import threading
import time
from pathlib import Path

import pytest
from agg_helpers import Deployment

from mpcnet.aggregate.service import DapError, collect, make_reports
from mpcnet.aggregate.simulation import VdafConfig

pytestmark = pytest.mark.slow

BUCKETS = 4


def measurements(n: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(BUCKETS) for _ in range(n)]


def expected(values: list[int]) -> list[int]:
    return [values.count(b) for b in range(BUCKETS)]


def collect_surviving(dep: Deployment, end: int, **kw: object) -> object:
    """Collect, restarting whichever aggregator dies meanwhile, with one collection id throughout."""
    cid = secrets.token_bytes(16)
    deadline = time.monotonic() + 60
    while True:
        try:
            return collect(dep.task, dep.collector, start=0, end=end, timeout=2, collection_id=cid, **kw)
        except DapError as exc:
            if exc.status not in (0, 202) or time.monotonic() > deadline:
                raise
            time.sleep(0.1)
            dep.revive()


# (role, fault point): mid-upload, mid-job (before and after the helper committed), mid-commit
# (inside the SQLite transaction, before COMMIT), right after commits, and during the collection.
POINTS = [
    ("leader", "leader.upload.mid@7"),
    ("leader", "leader.upload.committed@12"),
    ("leader", "leader.claim_job.mid@2"),
    ("leader", "leader.job.prepared@2"),
    ("leader", "leader.job.answered@2"),
    ("leader", "leader.finish_job.mid@2"),
    ("leader", "leader.finish_job.committed@2"),
    ("leader", "leader.collect.answered"),
    ("leader", "leader.finish_collection.mid"),
    ("helper", "helper.commit_job.mid@2"),
    ("helper", "helper.commit_job.committed@2"),
    ("helper", "helper.job.answer@3"),
    ("helper", "helper.create_collection.mid"),
    ("helper", "helper.collect.answer"),
]


@pytest.mark.parametrize(("role", "point"), POINTS, ids=[p for _, p in POINTS])
def test_kill_at_a_point_loses_nothing_and_counts_nothing_twice(tmp_path: Path, role: str, point: str) -> None:
    dep = Deployment(tmp_path, VdafConfig("histogram", length=BUCKETS), job_size=8)
    values = measurements(40, hash(point) & 0xFFFF)
    reports = make_reports(dep.task, values)
    try:
        dep.start("helper", point if role == "helper" else None)
        dep.start("leader", point if role == "leader" else None)
        dep.upload_all(reports)
        end = dep.task.bucket(int(time.time())) + dep.task.time_precision
        result = collect_surviving(dep, end)
        assert dep.kills[role] == 1, f"the {role} never reached {point}"  # the fault fired: not a vacuous pass
        assert result.aggregate == expected(values)
        assert result.count == len(values)
        dep.revive()
        counters = dep.counters()
        assert counters["report.accepted"] == len(values)
        assert counters.get("report.replayed", 0) == 0
    finally:
        dep.stop()


def test_random_kills_during_uploads_jobs_and_collection(tmp_path: Path) -> None:
    dep = Deployment(tmp_path, VdafConfig("histogram", length=BUCKETS), job_size=10)
    values = measurements(300, 7)
    reports = make_reports(dep.task, values)
    rng = random.Random(11)
    try:
        dep.start("helper")
        dep.start("leader")
        done = threading.Event()

        def killer() -> None:
            for _ in range(4):
                if done.wait(rng.uniform(0.2, 0.8)):
                    return
                dep.kill(rng.choice(["leader", "helper"]))

        thread = threading.Thread(target=killer)
        thread.start()
        try:
            dep.upload_all(reports)
            end = dep.task.bucket(int(time.time())) + dep.task.time_precision
            result = collect_surviving(dep, end)
        finally:
            done.set()
            thread.join()
        assert sum(dep.kills.values()) >= 2
        assert result.aggregate == expected(values)
        assert result.count == len(values)
    finally:
        dep.stop()
