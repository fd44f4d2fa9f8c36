"""The aggregation service: DAP errors for bad input, counters, bounded memory, DP collection, the CLI."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import attrs
import msgpack
import numpy as np
import pytest
from agg_helpers import Deployment

from mpcnet.aggregate.cheat import invalid_encodings
from mpcnet.aggregate.service import DapError, collect, init_deployment, make_reports, reports_from_encoded, upload
from mpcnet.aggregate.service.task import b64, encode_report, open_sealed, seal, share_binding
from mpcnet.aggregate.simulation import VdafConfig
from mpcnet.identity import generate_key

from helpers import REPO, env_with

pytestmark = pytest.mark.slow


def put(dep: Deployment, body: bytes, path: str | None = None, headers: dict[str, str] | None = None,
        method: str = "PUT") -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection("127.0.0.1", int(dep.url.rsplit(":", 1)[1]), timeout=10)
    try:
        conn.request(method, path or f"/tasks/{b64(dep.task.task_id)}/reports", body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
    finally:
        conn.close()
    if r.getheader("content-type") == "application/problem+json":
        return r.status, json.loads(data)
    return r.status, {}


def dap(kind: str) -> str:
    return "urn:ietf:params:ppm:dap:error:" + kind


def test_bad_input_gets_dap_errors_is_counted_and_left_out(tmp_path: Path) -> None:
    dep = Deployment(tmp_path, VdafConfig("histogram", length=3), job_size=16)
    task = dep.task
    honest = [0, 1, 2, 2, 1, 2]
    good = make_reports(task, honest)
    try:
        dep.start("helper")
        dep.start("leader")
        spare = make_reports(task, [0, 0, 0, 0, 0, 0])
        stranger = generate_key("stranger")
        now = task.bucket(int(time.time()))

        def resealed(r: Any, *, role: int, key: bytes | None = None, report_id: bytes | None = None) -> Any:
            """``r`` with one share replaced by a valid-looking share sealed to ``key`` or bound to another report."""
            binding = share_binding(role, task.task_id, report_id or r.report_id, r.time, r.public_share)
            box = seal(key or (task.leader, task.helper)[role].report_public_key, binding, b"\0" * 64)
            field = "leader_encrypted_share" if role == 0 else "helper_encrypted_share"
            blank = attrs.evolve(r, **{field: box})
            return blank

        cases = [
            (b"garbage", 400, "invalidMessage"),
            (msgpack.packb({"report_id": b"x"}), 400, "invalidMessage"),
            (encode_report(attrs.evolve(spare[0], time=now + 3600)), 400, "reportTooEarly"),
            (encode_report(attrs.evolve(spare[1], time=now - 30 * 86400)), 400, "reportRejected"),
            (encode_report(attrs.evolve(spare[2], leader_encrypted_share=spare[3].leader_encrypted_share)), 400,
             "reportRejected"),  # another report's share: bound to its id, so it does not open here
            (encode_report(resealed(spare[4], role=0, key=stranger.public)), 400, "invalidMessage"),  # wrong length
            (encode_report(attrs.evolve(spare[5], public_share=b"")), 400, "invalidMessage"),
        ]
        for body, status, kind in cases:
            got, problem = put(dep, body)
            assert (got, problem.get("type")) == (status, dap(kind)), body[:40]
        got, problem = put(dep, encode_report(good[0]), path=f"/tasks/{b64(b'x' * 32)}/reports")
        assert (got, problem["type"]) == (404, dap("unrecognizedTask"))
        got, _ = put(dep, b"", path=f"/tasks/{b64(task.task_id)}/reports", method="GET")
        assert got == 405
        got, _ = put(dep, b"\0" * (70 * 1024))
        assert got == 413
        for r in good:
            upload(task, r)
        got, problem = put(dep, encode_report(good[0]))  # a replay
        assert (got, problem["type"]) == (400, dap("reportRejected")) and "before" in problem["detail"]
        # Accepted by the leader, rejected in aggregation: the helper's share bound to another report, and
        # cheating clients' invalid measurements with honestly computed proofs.
        swapped = attrs.evolve(spare[0], helper_encrypted_share=spare[1].helper_encrypted_share)
        upload(task, swapped)
        cheats = invalid_encodings(task.vdaf.vdaf(), 6)
        for r in reports_from_encoded(task, np.array(cheats, dtype=object).T.copy()):
            upload(task, r)
        result = collect(task, dep.collector, timeout=30)
        assert result.aggregate == [honest.count(b) for b in range(3)]
        assert result.count == len(honest)
        counters = dep.counters()
        assert counters["report.invalid_proof"] == 6
        assert counters["report.helper_undecryptable"] == 1
        assert counters["report.accepted"] == len(honest)
        time.sleep(1.2)  # rejection counters reach the database once a second
        counters = dep.counters()
        for name, n in [("http.invalid_message", 4), ("http.report_too_early", 1), ("http.report_expired", 1),
                        ("http.undecryptable", 1), ("http.unrecognized_task", 1), ("http.body_too_large", 1),
                        ("http.report_replayed", 1), ("upload.accepted", len(honest) + 7)]:
            assert counters.get(name) == n, name
        assert all(p.poll() is None for p in dep.procs.values())
    finally:
        dep.stop()


def test_share_binding_refuses_a_share_moved_to_another_report() -> None:
    key = generate_key("agg")
    a = share_binding(1, b"t" * 32, b"a" * 16, 60, b"pub")
    box = seal(key.public, a, b"share")
    assert open_sealed(key, a, box) == b"share"
    assert open_sealed(key, share_binding(1, b"t" * 32, b"b" * 16, 60, b"pub"), box) is None
    assert open_sealed(key, share_binding(0, b"t" * 32, b"a" * 16, 60, b"pub"), box) is None  # other aggregator
    assert open_sealed(generate_key("other"), a, box) is None


def rss_peak_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_flood_gets_503_and_413_and_memory_stays_bounded(tmp_path: Path) -> None:
    dep = Deployment(tmp_path, VdafConfig("count"), job_size=10, max_pending=20)
    reports = make_reports(dep.task, [1] * 40)
    try:
        dep.start("leader")  # no helper: nothing is aggregated, the backlog fills
        for r in reports[:20]:
            upload(dep.task, r)
        with pytest.raises(DapError) as info:
            upload(dep.task, reports[20])
        assert info.value.status == 503
        before = rss_peak_kb(dep.procs["leader"].pid)

        def flood() -> None:
            for _ in range(40):
                put(dep, b"\0" * 60_000)  # under the body cap: read, then refused as malformed
                put(dep, b"", headers={"content-length": str(50 * 2**20)})  # refused before reading

        threads = [threading.Thread(target=flood) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        growth = rss_peak_kb(dep.procs["leader"].pid) - before
        assert growth < 60_000, f"peak RSS grew by {growth} kB under the flood"
        dep.start("helper")  # the backlog drains, uploads are taken again
        deadline = time.monotonic() + 20
        while dep.counters()["reports.unfinished"] and time.monotonic() < deadline:
            time.sleep(0.2)
        for r in reports[20:]:
            upload(dep.task, r)
        assert collect(dep.task, dep.collector, timeout=30).aggregate == 40
    finally:
        dep.stop()


def test_collection_with_epsilon_adds_noise_and_the_task_can_require_it(tmp_path: Path) -> None:
    dep = Deployment(tmp_path, VdafConfig("count"), job_size=50, max_epsilon="1")
    p = dep.task.time_precision
    start = dep.task.bucket(int(time.time())) - 3 * p
    try:
        dep.start("helper")
        dep.start("leader")
        for k in range(3):
            for r in make_reports(dep.task, [1] * 20, time=start + k * p):
                upload(dep.task, r)
        with pytest.raises(DapError, match="epsilon"):
            collect(dep.task, dep.collector, start=start, end=start + p)
        # only the collector may start (or read) a collection
        body = msgpack.packb({"start": start, "end": start + p, "epsilon": "1"})
        got, problem = put(dep, body, path=f"/tasks/{b64(dep.task.task_id)}/collection_jobs/{b64(bytes(16))}")
        assert (got, problem["type"]) == (403, dap("unauthorizedRequest"))
        with pytest.raises(DapError, match="unauthorizedRequest"):
            collect(dep.task, generate_key("intruder"), start=start, end=start + p, epsilon="1")
        with pytest.raises(DapError, match="future"):
            collect(dep.task, dep.collector, start=start, end=start + 100 * p, epsilon="1")
        results = [collect(dep.task, dep.collector, start=start + k * p, end=start + (k + 1) * p, epsilon="0.05")
                   for k in range(3)]
        assert [r.count for r in results] == [20, 20, 20]  # the count is exact (as in DAP)
        # Each aggregator adds discrete Laplace noise of scale 20; an exact answer three times is ~1e-5 likely.
        assert any(r.aggregate != 20 for r in results)
        with pytest.raises(DapError, match="batchOverlap"):  # a batch is collected once
            collect(dep.task, dep.collector, start=start, end=start + p, epsilon="0.05")
    finally:
        dep.stop()


def test_cli_submit_and_collect(tmp_path: Path) -> None:
    dep = Deployment(tmp_path, VdafConfig("sum", bits=4))
    try:
        dep.start("helper")
        dep.start("leader")
        env = env_with(REPO)
        for value in ("3", "7", "15"):
            done = subprocess.run([sys.executable, "-m", "mpcnet", "submit", "--task", str(dep.paths["task"]), value],
                                  capture_output=True, text=True, env=env, timeout=60)
            assert done.returncode == 0, done.stderr
        bad = subprocess.run([sys.executable, "-m", "mpcnet", "submit", "--task", str(dep.paths["task"]), "16"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert bad.returncode == 2 and "MEASUREMENT" in bad.stderr
        out = subprocess.run([sys.executable, "-m", "mpcnet", "collect", "--task", str(dep.paths["task"]), "--key",
                              str(dep.paths["collector"]), "--json"], capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["aggregate"] == 25
        assert json.loads(out.stdout)["count"] == 3
    finally:
        dep.stop()


def test_helper_answers_a_resent_job_from_its_store_and_refuses_a_changed_one(tmp_path: Path) -> None:
    # In one process, no network: the leader's request for a job, answered twice by the helper.
    from mpcnet.aggregate.service import Helper, Leader, load_config
    from mpcnet.errors import RemoteProtocolViolation

    paths = init_deployment(tmp_path, VdafConfig("histogram", length=3), job_size=10)
    leader, helper = Leader(load_config(paths["leader"])), Helper(load_config(paths["helper"]))
    task = leader.task
    for r in make_reports(task, [0, 1, 2, 2]):
        plain = open_sealed(leader.config.report_key, share_binding(0, task.task_id, r.report_id, r.time,
                                                                    r.public_share), r.leader_encrypted_share)
        assert plain is not None and leader.storage.add_report(r.report_id, r.time, r.public_share, plain,
                                                               r.helper_encrypted_share)
    job_id = b"j" * 16
    assert leader.storage.claim_job(job_id, 10) == 4
    request = leader.prepare_job(job_id, leader.storage.job_reports(job_id)).request
    first = helper.answer_job(request)
    again = helper.answer_job(leader.prepare_job(job_id, leader.storage.job_reports(job_id)).request)
    assert first == again and first["status"] == bytes(4)
    assert helper.storage.counters()["report.accepted"] == 4  # counted once
    assert sum(c for _, _, c in helper.storage.buckets(0, 2**62)) == 4
    changed = dict(request, failed=np.ones(4, np.uint8))
    with pytest.raises(RemoteProtocolViolation, match="reused"):
        helper.answer_job(changed)
    # the same reports in a new job are replays, left out
    replay = helper.answer_job(dict(request, job_id=b"k" * 16))
    assert replay["status"] == bytes([3]) * 4
    assert helper.storage.counters()["report.accepted"] == 4


def test_old_report_ids_are_forgotten_and_old_reports_refused(tmp_path: Path) -> None:
    from mpcnet.aggregate.service import Helper, Leader, load_config

    paths = init_deployment(tmp_path, VdafConfig("count"), job_size=10)
    leader, helper = Leader(load_config(paths["leader"])), Helper(load_config(paths["helper"]))
    task = leader.task
    now = int(time.time())
    old = now - task.report_expiry_age - task.tolerable_clock_skew - 2 * task.time_precision
    for when, job_id in ((now, b"a" * 16), (old, b"b" * 16)):
        for r in make_reports(task, [1, 1], time=when):
            plain = open_sealed(leader.config.report_key, share_binding(0, task.task_id, r.report_id, r.time,
                                                                        r.public_share), r.leader_encrypted_share)
            leader.storage.add_report(r.report_id, r.time, r.public_share, plain, r.helper_encrypted_share)
        leader.storage.claim_job(job_id, 10)
        answer = helper.answer_job(leader.prepare_job(job_id, leader.storage.job_reports(job_id)).request)
        assert answer["status"] == (bytes(2) if when == now else bytes([5, 5]))  # an expired report is refused
        leader.storage.finish_job(job_id, {}, leader.combine, {})
    leader.maybe_prune()
    helper.maybe_prune()
    assert leader.storage.db.execute("SELECT COUNT(*) FROM reports").fetchone()[0] == 2  # the fresh ones stay
    assert helper.storage.db.execute("SELECT COUNT(*) FROM seen_reports").fetchone()[0] == 2
