"""Clients and the collector: shard, encrypt and upload reports; collect a batch's aggregate.

A client needs only the task file. It shards its measurement with Prio3 (the numpy batch path,
so :func:`make_reports` shards many at once for load generators), seals each input share to its
aggregator's report key, bound to the task, the report id, the time and the public share, and
PUTs the report to the leader. The collector needs the task file and the collector's secret key:
both aggregate shares arrive sealed to it, so the leader that relays them cannot read the
helper's (nor, therefore, the aggregate).
"""

from __future__ import annotations

import http.client
import json
import secrets
import time as _time
import urllib.parse
from collections.abc import Sequence
from typing import Any

import attrs
import msgpack
import numpy as np

from ...errors import InputError, MPCError
from ...identity import SecretKey
from ..batch import BatchPrio3, encode_batch
from .task import (
    HELPER,
    LEADER,
    Report,
    Task,
    aggregate_binding,
    b64,
    collector_token,
    encode_report,
    open_sealed,
    parse_epsilon,
    seal,
    share_binding,
)

__all__ = ["DapError", "CollectResult", "make_reports", "reports_from_encoded", "upload", "submit", "collect"]


class DapError(MPCError):
    """The leader refused a request: ``status`` (HTTP) and ``type`` (the DAP problem type, if any)."""

    def __init__(self, message: str, *, status: int, type: str | None = None) -> None:
        super().__init__(message, peer="leader")
        self.status, self.type = status, type


@attrs.frozen
class CollectResult:
    """A collected batch: its aggregate (noisy if ``epsilon`` is set), report count and interval."""

    aggregate: Any
    count: int
    start: int
    end: int
    epsilon: str | None


def make_reports(task: Task, measurements: Sequence[Any], *, time: int | None = None) -> list[Report]:
    """Shard and seal one report per measurement (invalid measurement: :class:`~mpcnet.errors.InputError`)."""
    vdaf = task.vdaf.vdaf()
    batch = BatchPrio3(vdaf)
    return reports_from_encoded(task, batch.encode(measurements), time=time)


def reports_from_encoded(task: Task, encoded: np.ndarray[Any, Any], *, time: int | None = None) -> list[Report]:
    """Reports of already encoded measurements ``(MEAS_LEN, R)``, not checked for validity (so tests can
    make a cheating client's reports from :func:`mpcnet.aggregate.cheat.invalid_encodings`)."""
    batch = BatchPrio3(task.vdaf.vdaf())
    vdaf, rows = batch.vdaf, encoded.shape[1]
    ids = np.frombuffer(secrets.token_bytes(16 * rows), np.uint8).reshape(rows, 16)
    rands = np.frombuffer(secrets.token_bytes(vdaf.RAND_SIZE * rows), np.uint8).reshape(rows, -1)
    shares = batch.shard(task.context, encoded, ids, rands)
    leader = np.concatenate([encode_batch(vdaf.field, shares.leader_meas), encode_batch(vdaf.field, shares.leader_proofs)]
                            + ([shares.blinds[:, 0]] if shares.blinds is not None else []), axis=1)
    helper = np.concatenate([shares.helper_seeds[:, 0]] + ([shares.blinds[:, 1]] if shares.blinds is not None else []),
                            axis=1)
    public = shares.public.reshape(rows, -1) if shares.public is not None else np.zeros((rows, 0), np.uint8)
    when = task.bucket(int(_time.time()) if time is None else time)  # DAP: times are rounded down
    out = []
    for i in range(rows):
        rid, pub = ids[i].tobytes(), public[i].tobytes()
        out.append(Report(rid, when, pub,
                          seal(task.leader.report_public_key, share_binding(LEADER, task.task_id, rid, when, pub),
                               leader[i].tobytes()),
                          seal(task.helper.report_public_key, share_binding(HELPER, task.task_id, rid, when, pub),
                               helper[i].tobytes())))
    return out


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise DapError(f"the leader's url {url!r} is not an http(s) URL", status=0)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname, parts.port, timeout=timeout), parts.path.rstrip("/")


def _request(conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None,
             ctype: str = "application/msgpack", token: bytes | None = None) -> tuple[int, bytes, dict[str, str]]:
    headers = {"content-type": ctype} if body is not None else {}
    if token is not None:
        headers["authorization"] = f"Bearer {b64(token)}"
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise DapError(f"cannot reach the leader: {type(exc).__name__}: {exc}", status=0) from None
    return response.status, data, {k.lower(): v for k, v in response.getheaders()}


def _raise(status: int, data: bytes, what: str) -> None:
    try:
        problem = json.loads(data)
        kind = problem.get("type")
        detail = problem.get("detail") or kind
    except (ValueError, AttributeError):
        kind, detail = None, data[:200].decode("utf-8", "replace")
    short = kind.rsplit(":", 1)[-1] if isinstance(kind, str) and kind.startswith("urn:") else None
    raise DapError(f"{what}: HTTP {status}{f' {short}' if short else ''}: {detail}", status=status, type=kind)


def upload(task: Task, report: Report, *, timeout: float = 10.0, conn: http.client.HTTPConnection | None = None) -> None:
    """PUT one report to the leader; :class:`DapError` if it is refused (``conn`` may be reused across calls)."""
    own = conn is None
    if conn is None:
        conn, base = _connection(str(task.leader.url), timeout)
    else:
        base = urllib.parse.urlsplit(str(task.leader.url)).path.rstrip("/")
    try:
        status, data, _ = _request(conn, "PUT", f"{base}/tasks/{b64(task.task_id)}/reports", encode_report(report))
    finally:
        if own:
            conn.close()
    if status != 201:
        _raise(status, data, "upload refused")


def submit(task: Task, measurement: Any, *, time: int | None = None, timeout: float = 10.0) -> bytes:
    """Shard, encrypt and upload one measurement; returns the report id."""
    (report,) = make_reports(task, [measurement], time=time)
    upload(task, report, timeout=timeout)
    return report.report_id


def _decode(task: Task, values: list[int]) -> Any:
    p = task.vdaf.vdaf().field.MODULUS
    signed = [v if v <= p // 2 else v - p for v in values]  # noise may push a total below zero
    return signed[0] if task.vdaf.kind in ("count", "sum") else signed


def collect(task: Task, collector_key: SecretKey, *, start: int | None = None, end: int | None = None,
            epsilon: str | None = None, timeout: float = 60.0, collection_id: bytes | None = None) -> CollectResult:
    """Collect the aggregate of the reports with time in [start, end) (default: every report up to now).

    With ``epsilon`` each aggregator adds discrete Laplace noise of scale sensitivity/epsilon to its
    aggregate share before sealing it. A batch can be collected once; its interval must be aligned
    to the task's time precision. :class:`DapError` if the leader refuses or ``timeout`` passes.
    Calling again with the same ``collection_id`` (16 bytes) and parameters resumes the same
    collection job (after a lost connection, say) instead of asking for another.
    """
    if epsilon is not None:
        try:
            parse_epsilon(epsilon)
        except ValueError:
            raise InputError(f"epsilon must be a positive number such as 0.5 or 1/2, not {epsilon!r}") from None
    p = task.time_precision
    start = 0 if start is None else start
    end = task.bucket(int(_time.time())) + p if end is None else end
    cid = secrets.token_bytes(16) if collection_id is None else collection_id
    token = collector_token(collector_key, task.task_id)
    conn, base = _connection(str(task.leader.url), min(timeout, 30.0))
    path = f"{base}/tasks/{b64(task.task_id)}/collection_jobs/{b64(cid)}"
    deadline = _time.monotonic() + timeout
    try:
        body = msgpack.packb({"start": start, "end": end, "epsilon": epsilon})
        status, data, _ = _request(conn, "PUT", path, body, token=token)
        if status != 201:
            _raise(status, data, "collection refused")
        while True:
            status, data, _ = _request(conn, "GET", path, token=token)
            if status == 200:
                break
            if status != 202:
                _raise(status, data, "collection failed")
            if _time.monotonic() > deadline:
                raise DapError(f"the collection did not finish within {timeout:g} s", status=202)
            _time.sleep(0.1)
    finally:
        conn.close()
    try:
        result = msgpack.unpackb(data, raw=False)
        count, sealed = int(result["count"]), (result["leader"], result["helper"])
    except Exception:
        raise DapError("the leader's collection result is malformed", status=200) from None
    vdaf = task.vdaf.vdaf()
    total = [0] * vdaf.flp.OUTPUT_LEN
    for role, box in zip((LEADER, HELPER), sealed, strict=True):
        share = open_sealed(collector_key, aggregate_binding(role, task.task_id, cid, start, end, count,
                                                                 epsilon), box)
        if share is None:
            raise DapError(f"the {('leader', 'helper')[role]}'s aggregate share does not decrypt for this collection "
                           f"(sealed to another key, or for another interval, count or epsilon)", status=200)
        total = [(x + y) % vdaf.field.MODULUS for x, y in zip(total, vdaf.decode_agg_share(share), strict=True)]
    return CollectResult(_decode(task, total), count, start, end, epsilon)
