"""The aggregation service in one process (no network): hostile collection requests and job messages,
and the noise each aggregator adds, checked on the sealed shares themselves."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio

from mpcnet.aggregate.service import Helper, Leader, init_deployment, load_config, make_reports
from mpcnet.aggregate.service.aggregator import HttpError
from mpcnet.aggregate.service.task import (
    HELPER,
    aggregate_binding,
    encode_report,
    open_sealed,
    parse_epsilon,
    share_binding,
)
from mpcnet.aggregate.simulation import VdafConfig
from mpcnet.errors import RemoteProtocolViolation
from mpcnet.identity import load_key_file


def aggregated(tmp_path: Path, values: list[int], **kw: Any) -> tuple[Leader, Helper, dict[str, Any]]:
    """A leader and a helper that have both aggregated one job of ``values`` (histogram of 3 buckets)."""
    paths = init_deployment(tmp_path, VdafConfig("histogram", length=3), job_size=100, **kw)
    leader, helper = Leader(load_config(paths["leader"])), Helper(load_config(paths["helper"]))
    task = leader.task
    for r in make_reports(task, values):
        plain = open_sealed(leader.config.report_key, share_binding(0, task.task_id, r.report_id, r.time,
                                                                    r.public_share), r.leader_encrypted_share)
        assert plain is not None
        leader.storage.add_report(r.report_id, r.time, r.public_share, plain, r.helper_encrypted_share)
    job_id = b"j" * 16
    leader.storage.claim_job(job_id, 100)
    request = leader.prepare_job(job_id, leader.storage.job_reports(job_id)).request
    assert helper.answer_job(request)["status"] == bytes(len(values))
    return leader, helper, request


def collect_request(start: int, end: int, epsilon: str | None, count: int, cid: bytes = b"c" * 16) -> dict[str, Any]:
    return {"kind": "collect", "collection_id": cid, "start": start, "end": end, "epsilon": epsilon, "count": count}


def test_parse_epsilon_takes_decimals_and_fractions_only() -> None:
    assert parse_epsilon("0.5") == parse_epsilon("1/2") == parse_epsilon("00.50")
    for bad in ("0", "0.0", "1/0", "-1", "1e-3", "1E3", " 1", "nan", "inf", "1_0", "3.", ".5", "٣", "1" * 21, ""):
        with pytest.raises(ValueError):
            parse_epsilon(bad)


def test_an_epsilon_with_a_huge_exponent_is_refused_at_once(tmp_path: Path) -> None:
    # Fraction("1e-10000000") computes 10**10000000 (about 11 s here, in the event loop: uploads and the
    # mesh's heartbeats stall); a longer exponent fits in the 64 characters allowed and never finishes.
    leader, helper, _ = aggregated(tmp_path, [0, 1, 2])
    p = leader.task.time_precision
    end = leader.task.bucket(int(time.time())) + p
    evil = "1e-10000000"
    began = time.monotonic()
    with pytest.raises(HttpError) as info:
        trio.run(leader._create_collection, b"c" * 16, msgpack.packb({"start": 0, "end": end, "epsilon": evil}))
    assert info.value.status == 400 and "epsilon" in info.value.detail
    # the helper parses the epsilon the leader forwards in the same way
    answer = helper.answer_collect(collect_request(0, end, evil, 3))
    assert "epsilon" in answer["error"]
    assert time.monotonic() - began < 2.0


def test_the_helper_share_is_bound_to_the_epsilon_it_was_noised_for(tmp_path: Path) -> None:
    # A leader that forwards epsilon=None (no noise) while the collector asked for 1: the collector, who
    # builds its binding from the epsilon it asked for, cannot open the helper's exact share.
    leader, helper, _ = aggregated(tmp_path, [0, 1, 2, 2])
    task, cid, end = leader.task, b"c" * 16, 2**61
    answer = helper.answer_collect(collect_request(0, end, None, 4, cid))
    collector = load_key_file(tmp_path / "collector.key")
    asked = aggregate_binding(HELPER, task.task_id, cid, 0, end, 4, "1")
    assert open_sealed(collector, asked, answer["sealed"]) is None
    assert open_sealed(collector, aggregate_binding(HELPER, task.task_id, cid, 0, end, 4, None), answer["sealed"])


def test_the_helper_adds_noise_to_its_own_share(tmp_path: Path) -> None:
    # The end-to-end test sees only the sum of both noises: here the helper's share alone must be noisy.
    leader, helper, _ = aggregated(tmp_path, [0, 1, 2, 2])
    collector, task, end = load_key_file(tmp_path / "collector.key"), leader.task, 2**61
    exact, count = helper.noisy_share(0, end, None)
    assert count == 4
    answer = helper.answer_collect(collect_request(0, end, "1/100", 4))
    share = open_sealed(collector, aggregate_binding(HELPER, task.task_id, b"c" * 16, 0, end, 4, "1/100"),
                        answer["sealed"])
    # scale 100 on each of 3 entries: all three noise draws are 0 with probability about 1e-7
    assert share is not None and share != exact
    # and the answer is stored: asked again, the same noise (drawn once per released result)
    assert helper.answer_collect(collect_request(0, end, "1/100", 4))["sealed"] == answer["sealed"]


def test_the_helper_refuses_out_of_range_times_and_intervals(tmp_path: Path) -> None:
    leader, helper, request = aggregated(tmp_path, [0, 1])
    times = request["times"].copy()
    times[0] = 2**63
    with pytest.raises(RemoteProtocolViolation, match="out of range"):
        helper.answer_job(dict(request, job_id=b"x" * 16, times=times))
    for start, end, count in ((-60, 60, 2), (0, 2**64, 2), (0, 60, -1)):
        with pytest.raises(RemoteProtocolViolation, match="out of range"):
            helper.answer_collect(collect_request(start, end, None, count))


def upload_in_process(leader: Leader, body: bytes) -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    trio.run(leader._upload, {"headers": []}, receive)


def test_no_report_enters_a_batch_once_its_collection_started(tmp_path: Path) -> None:
    # The leader refuses uploads into a draining or collected interval, also after a restart (the
    # intervals come from its store); the helper refuses such a report in a job even from a faulty leader.
    leader, helper, _ = aggregated(tmp_path, [0, 1, 2])
    task, p = leader.task, leader.task.time_precision
    now = task.bucket(int(time.time()))
    late, later = make_reports(task, [1, 2], time=now)
    trio.run(leader._create_collection, b"c" * 16, msgpack.packb({"start": 0, "end": now + p, "epsilon": None}))
    for who in (leader, Leader(load_config(tmp_path / "leader.toml"))):
        with pytest.raises(HttpError) as info:
            upload_in_process(who, encode_report(late))
        assert (info.value.status, info.value.counter) == (400, "batch_collected")
    assert helper.answer_collect(collect_request(0, now + p, None, 3)).get("count") == 3
    # a faulty leader that takes the late reports anyway and sends them in a job: the helper leaves them out
    other = Leader(load_config(tmp_path / "leader.toml"))
    other.closed = []
    for r in (late, later):
        upload_in_process(other, encode_report(r))
    other.storage.claim_job(b"k" * 16, 100)
    request = other.prepare_job(b"k" * 16, other.storage.job_reports(b"k" * 16)).request
    assert helper.answer_job(request)["status"] == bytes([4, 4])  # COLLECTED
    assert sum(c for _, _, c in helper.storage.buckets(0, 2**62)) == 3


def test_expired_report_ids_are_forgotten_under_a_steady_load(tmp_path: Path) -> None:
    # Pruning used to run only when the leader was idle (and the helper only on its idle noop), so a
    # service that always had work kept every report id forever.
    leader, helper, request = aggregated(tmp_path, [0, 1])
    old = int(time.time()) - leader.task.report_expiry_age - leader.task.tolerable_clock_skew - 120
    leader.storage.db.execute("UPDATE reports SET state = 2, time = ?", (old,))
    leader.storage.db.execute("UPDATE jobs SET done = 1")
    helper.storage.db.execute("UPDATE seen_reports SET time = ?", (old,))
    for r in make_reports(leader.task, [2]):  # work still pending: the leader is not idle
        upload_in_process(leader, encode_report(r))

    async def ask(_: dict[str, Any]) -> Any:
        raise AssertionError("no slot expected")

    assert trio.run(leader._step, ask)  # it claims a job for the pending report
    assert leader.storage.db.execute("SELECT COUNT(*) FROM reports WHERE time = ?", (old,)).fetchone()[0] == 0
    trio.run(helper.answer, dict(request, job_id=b"n" * 16))  # a job, not a noop
    assert helper.storage.db.execute("SELECT COUNT(*) FROM seen_reports WHERE time = ?", (old,)).fetchone()[0] == 0


def test_share_binding_covers_task_time_and_public_share() -> None:
    from mpcnet.aggregate.service.task import seal
    from mpcnet.identity import generate_key

    key = generate_key("agg")
    box = seal(key.public, share_binding(1, b"t" * 32, b"a" * 16, 60, b"pub"), b"share")
    assert open_sealed(key, share_binding(1, b"t" * 32, b"a" * 16, 60, b"pub"), box) == b"share"
    for other in (share_binding(1, b"u" * 32, b"a" * 16, 60, b"pub"), share_binding(1, b"t" * 32, b"a" * 16, 120, b"pub"),
                  share_binding(1, b"t" * 32, b"a" * 16, 60, b"puB")):
        assert open_sealed(key, other, box) is None


def test_max_epsilon_in_a_task_file_is_parsed_safely(tmp_path: Path) -> None:
    import json

    from mpcnet.aggregate.service.task import task_from_json
    from mpcnet.errors import ConfigError, InputError

    paths = init_deployment(tmp_path, VdafConfig("count"), max_epsilon="0.00000000000000000001")
    data = json.loads(paths["task"].read_text())
    assert str(task_from_json(data).max_epsilon) == "1/100000000000000000000"  # written and read back
    assert task_from_json(dict(data, max_epsilon=0.5)).max_epsilon == parse_epsilon("1/2")  # a JSON number
    for bad in ("1e-10000000", "0", -1, True, "x"):
        began = time.monotonic()
        with pytest.raises(ConfigError, match="max_epsilon"):
            task_from_json(dict(data, max_epsilon=bad))
        assert time.monotonic() - began < 1.0
    with pytest.raises(InputError, match="max_epsilon"):
        init_deployment(tmp_path / "x", VdafConfig("count"), max_epsilon="1e-3")


def test_a_failing_counter_store_does_not_stop_the_leader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    import trio.testing

    paths = init_deployment(tmp_path, VdafConfig("count"))
    leader = Leader(load_config(paths["leader"]))
    real, calls = leader.storage.add_counters, []

    def flaky(counts: dict[str, int]) -> None:
        calls.append(counts)
        if len(calls) <= 2:
            raise sqlite3.OperationalError("database or disk is full")
        real(counts)

    monkeypatch.setattr(leader.storage, "add_counters", flaky)
    leader.counts.add("http.busy", 3)

    async def main() -> None:
        with trio.move_on_after(10):
            await leader._flush_counters()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(calls) >= 3 and leader.storage.counters()["http.busy"] == 3  # kept and stored once


def test_counters_are_for_the_collector_only(tmp_path: Path) -> None:
    from mpcnet.aggregate.service.task import b64, collector_token

    paths = init_deployment(tmp_path, VdafConfig("count"))
    leader = Leader(load_config(paths["leader"]))
    token = b64(collector_token(load_key_file(paths["collector"]), leader.task.task_id)).encode()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    def get(headers: list[tuple[bytes, bytes]]) -> Any:
        return trio.run(leader._route, {"method": "GET", "path": "/counters", "headers": headers}, receive)

    with pytest.raises(HttpError) as info:
        get([])
    assert info.value.status == 403
    status, body, _, _ = get([(b"authorization", b"Bearer " + token)])
    assert status == 200 and b"reports.unfinished" in body


def test_a_trickled_body_gets_a_deadline_and_frees_its_upload_slot(tmp_path: Path) -> None:
    import trio.testing

    from mpcnet.aggregate.service import aggregator

    paths = init_deployment(tmp_path, VdafConfig("count"))
    leader = Leader(load_config(paths["leader"]))

    async def receive() -> dict[str, Any]:  # one byte every 29 s, never the end
        await trio.sleep(29)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def main() -> Any:
        with trio.move_on_after(10 * aggregator.BODY_DEADLINE):
            try:
                await leader._upload({"headers": []}, receive)
            except HttpError as exc:
                return exc, trio.current_time()
        return None, trio.current_time()

    err, when = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert err is not None and err.status == 408 and when <= aggregator.BODY_DEADLINE + 1
    assert leader.inflight == 0
