"""The leader and the helper: uploads over HTTP, aggregation jobs over the mpcnet mesh, collections.

The leader serves clients and the collector over HTTP (hypercorn on trio, a hand-written ASGI app);
the two aggregators talk over one authenticated, encrypted mpcnet channel (Noise_KK, keys from
the task file). Everything the leader asks of the helper is one *slot*: a two-round session
(request, answer) of the internal protocol ``dap-slot``; slots are numbered from 0 on every
connection, so both sides derive the same session ids without talking, and a broken connection
simply starts a new numbering. Idle, the leader sends an empty slot every few seconds.

Exactly once (docs/aggregate.md): every step is one storage transaction; a job claimed but
not finished is run again after a restart *with the same job id and the same request bytes*
(Prio3's verification is deterministic), and the helper answers a job id it has committed from
its store instead of aggregating again. A report id is accepted once by the leader (upload)
and aggregated once by the helper (it keeps the ids it has seen).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import sqlite3
import time as _time
from collections.abc import Awaitable, Callable
from fractions import Fraction
from typing import Any, cast

import attrs
import msgpack
import numpy as np
import trio

from ...dp import discrete_laplace
from ...errors import ConfigError, MPCError, RemoteProtocolViolation
from ...registry import ProtocolSpec
from ...runner import open_party
from ..batch import BatchInputShares, BatchPrio3, BatchVerifierShare, decode_batch, encode_batch
from ..prio3 import VdafDecodeError
from .faults import fault_point
from .storage import SqliteStorage, StoredReport
from .task import (
    HELPER,
    LEADER,
    SEAL_OVERHEAD,
    AggregatorConfig,
    ReportDecodeError,
    aggregate_binding,
    decode_report,
    open_sealed,
    parse_epsilon,
    seal,
    sensitivity,
    share_binding,
    unb64,
)

__all__ = ["Leader", "Helper", "run_aggregator", "STATUS_NAMES"]

log = logging.getLogger("mpcnet.aggregate.service")

ROUND_TIMEOUT = 120.0  # a slot's answer may take this long (the helper's work on a job included)
IDLE_SLOT = 5.0  # an idle leader sends an empty slot this often
HELPER_WAIT = 60.0  # the helper gives up on a silent leader (and reconnects) after this
JOB_DELAY = 0.5  # a job smaller than job_size starts once no job was started for this long
RETRY = 0.5  # seconds between mesh connection attempts
BODY_DEADLINE = 30.0  # seconds to receive a whole request body

# Per-report outcome of an aggregation job (the helper decides, the leader checks its part).
ACCEPTED, INVALID, UNDECRYPTABLE, REPLAYED, COLLECTED, EXPIRED = 0, 1, 2, 3, 4, 5
STATUS_NAMES = {ACCEPTED: "accepted", INVALID: "invalid_proof", UNDECRYPTABLE: "helper_undecryptable",
                REPLAYED: "replayed", COLLECTED: "batch_collected", EXPIRED: "expired"}
PRUNE_EVERY = 600.0  # seconds between deletions of report ids too old to be accepted again

DAP_ERROR = "urn:ietf:params:ppm:dap:error:"


class HttpError(Exception):
    """An HTTP error answer (problem+json, RFC 9457) with a DAP error type."""

    def __init__(self, status: int, dap_type: str | None, detail: str, counter: str,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(detail)
        self.status, self.dap_type, self.detail, self.counter = status, dap_type, detail, counter
        self.headers = headers or []


# -- the slot protocol ---------------------------------------------------------------------------
async def _slot(ctx: Any, value: Any) -> Any:
    """Leader: send the request, return the answer. Helper: answer the request with ``value.answer``."""
    peer = ctx.peers[0]
    if ctx.index == LEADER:
        await ctx.send(peer, value)
        return await ctx.receive(peer)
    request = await ctx.receive(peer)
    await ctx.send(peer, await value.answer(request))
    return None


SLOT = ProtocolSpec(name="dap-slot", func=_slot, summary="one leader request and the helper's answer (internal)",
                    min_parties=2, max_parties=2,
                    security="the aggregators' authenticated channel; Prio3's guarantees (docs/aggregate.md)",
                    reveals="to the helper: the leader's verifier shares and the helper's encrypted input shares; "
                            "to the leader: the verifier messages and per-report outcomes",
                    input="leader: the request; helper: the Helper", output="leader: the helper's answer")


def _job_hash(request: dict[str, Any]) -> bytes:
    h = hashlib.sha256()
    for key in sorted(request):
        value = request[key]
        h.update(key.encode() + b"\0")
        if isinstance(value, np.ndarray):
            h.update(str((value.dtype.str, value.shape)).encode() + np.ascontiguousarray(value).tobytes())
        else:
            h.update(repr(value).encode())
    return h.digest()


@attrs.define
class _Counts:
    values: dict[str, int] = attrs.field(factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        self.values[name] = self.values.get(name, 0) + n

    def take(self) -> dict[str, int]:
        out, self.values = self.values, {}
        return out


class _Aggregator:
    """What the leader and the helper share: the task, the VDAF, the store, the noise."""

    def __init__(self, config: AggregatorConfig) -> None:
        self.config = config
        self.task = config.task
        self.vdaf = config.task.vdaf.vdaf()
        self.batch = BatchPrio3(self.vdaf)
        self.field = self.vdaf.field
        self.joint = self.vdaf.uses_joint_rand
        self.storage = SqliteStorage(config.database, synchronous=config.synchronous,
                                     role="leader" if config.role == LEADER else "helper")
        size = self.field.ENCODED_SIZE
        self.public_len = 32 * self.vdaf.SHARES if self.joint else 0
        self.meas_len, self.proof_len = self.vdaf.flp.MEAS_LEN, self.vdaf.flp.PROOF_LEN * self.vdaf.PROOFS
        self.leader_share_len = size * (self.meas_len + self.proof_len) + (32 if self.joint else 0)
        self.helper_share_len = 32 + (32 if self.joint else 0)
        binding_len = len(share_binding(HELPER, self.task.task_id, bytes(16), 0, b""))
        self.helper_sealed_len = binding_len + self.helper_share_len + SEAL_OVERHEAD
        self.roster = self.task.roster()
        self.connected = trio.Event()
        self.last_prune = 0.0

    def combine(self, a: bytes, b: bytes) -> bytes:
        """Add two encoded aggregate shares."""
        n, p = self.vdaf.flp.OUTPUT_LEN, self.field.MODULUS
        return self.field.encode_vec([(x + y) % p for x, y in zip(self.field.decode_vec(a, n),
                                                                   self.field.decode_vec(b, n), strict=True)])

    def bucket_updates(self, times: np.ndarray[Any, Any], out_shares: np.ndarray[Any, Any],
                       accepted: np.ndarray[Any, Any]) -> dict[int, tuple[bytes, int]]:
        """Per time bucket, the sum of the accepted reports' output shares (encoded) and their number."""
        p = self.field.MODULUS
        buckets = times - times % self.task.time_precision
        out: dict[int, tuple[bytes, int]] = {}
        for b in np.unique(buckets[accepted]):
            cols = accepted & (buckets == b)
            total = [int(x) % p for x in out_shares[:, cols].sum(axis=1)]
            out[int(b)] = (self.field.encode_vec(total), int(cols.sum()))
        return out

    def maybe_prune(self) -> None:
        """Every PRUNE_EVERY seconds, forget report ids older than any report still accepted (expiry plus skew)."""
        now = _time.monotonic()
        if now - self.last_prune >= PRUNE_EVERY:
            self.last_prune = now
            pruned = self.storage.prune(int(_time.time()) - self.task.report_expiry_age - self.task.tolerable_clock_skew)
            if pruned:
                log.info("forgot %d expired report ids", pruned)

    def collected_intervals(self, states: tuple[str, ...]) -> list[tuple[int, int]]:
        """The [start, end) intervals of the collections in one of ``states``."""
        return [(s, e) for _, s, e, state in self.storage.collections() if state in states]

    def noisy_share(self, start: int, end: int, epsilon: str | None) -> tuple[bytes, int]:
        """This aggregator's aggregate share of [start, end) plus its noise (if any), encoded; and the count."""
        n, p = self.vdaf.flp.OUTPUT_LEN, self.field.MODULUS
        total, count = [0] * n, 0
        for _, share, c in self.storage.buckets(start, end):
            total = [(x + y) % p for x, y in zip(total, self.field.decode_vec(share, n), strict=True)]
            count += c
        if epsilon is not None:
            # discrete Laplace with scale sensitivity/epsilon, exact, from the OS: each aggregator's
            # noise alone makes the collector's result epsilon-DP (docs/aggregate.md).
            scale = Fraction(sensitivity(self.task.vdaf)) / parse_epsilon(epsilon)
            noise = discrete_laplace(scale, size=n)
            total = [(x + z) % p for x, z in zip(total, noise, strict=True)]
        return self.field.encode_vec(total), count

    async def serve_mesh(self, loop: Callable[[Any], Awaitable[None]]) -> None:
        """Connect to the other aggregator and run ``loop(party)``; on any failure reconnect."""
        other = "helper" if self.config.role == LEADER else "leader"
        while True:
            try:
                # No resumption: a broken connection ends the party on both sides and both start
                # again at slot 0; the jobs' state machine (not the link) gives exactly-once.
                async with open_party(self.roster, self.config.mesh_key, connect_timeout=10.0, reconnect_timeout=None,
                                      liveness_timeout=3.0, peers=[other]) as party:
                    log.info("connected to the %s", other)
                    self.connected.set()
                    await loop(party)
            except ConfigError:
                raise  # will not get better by retrying
            except Exception as exc:  # a peer down or restarting: MPCError, or a group of them
                leaf: BaseException = exc
                while isinstance(leaf, BaseExceptionGroup):
                    leaf = leaf.exceptions[0]
                log.warning("mesh to the %s: %s: %s", other, type(leaf).__name__,
                            leaf if isinstance(leaf, MPCError) else "")
            self.connected = trio.Event()
            await trio.sleep(RETRY)


# -- the helper ----------------------------------------------------------------------------------
class Helper(_Aggregator):
    """The helper: answers the leader's aggregation jobs and collections, each exactly once."""

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve the leader until cancelled."""
        task_status.started()
        await self.serve_mesh(self._loop)

    async def _loop(self, party: Any) -> None:
        slot = 0
        while True:
            await party.run(SLOT, self, session_id=f"slot/{slot}", round_timeout=HELPER_WAIT)
            slot += 1

    async def answer(self, request: Any) -> Any:
        """The answer to one slot request (work in a thread: heartbeats go on meanwhile)."""
        if not isinstance(request, dict) or request.get("kind") not in ("noop", "job", "collect"):
            raise RemoteProtocolViolation("a slot request is a map with kind noop, job or collect", peer="leader")
        self.maybe_prune()  # on every request: a leader that is never idle sends no noop
        if request["kind"] == "noop":
            return {"kind": "noop"}
        work = self.answer_job if request["kind"] == "job" else self.answer_collect
        return await trio.to_thread.run_sync(work, request)

    def _array(self, request: dict[str, Any], key: str, shape: tuple[int, ...], dtype: Any = np.uint8) -> Any:
        value = request.get(key)
        if not (isinstance(value, np.ndarray) and value.dtype == dtype and value.shape == shape):
            raise RemoteProtocolViolation(f"job field {key!r} is not a {shape} {np.dtype(dtype)} array", peer="leader")
        return value

    def answer_job(self, request: dict[str, Any]) -> dict[str, Any]:
        """Verify and aggregate one job, or return the answer stored for its id."""
        job_id = request.get("job_id")
        ids = request.get("ids")
        if not isinstance(job_id, bytes) or len(job_id) != 16 or not isinstance(ids, np.ndarray) or ids.ndim != 2:
            raise RemoteProtocolViolation("a job needs a 16-byte job_id and report ids", peer="leader")
        rows = ids.shape[0]
        ids = self._array(request, "ids", (rows, 16))
        times = self._array(request, "times", (rows,), np.uint64)
        if rows and int(times.max()) >= 2**63:
            raise RemoteProtocolViolation("a report time in a job is out of range", peer="leader")
        times = times.astype(np.int64)
        public = self._array(request, "public", (rows, self.public_len))
        sealed = self._array(request, "helper", (rows, self.helper_sealed_len))
        n_ver = self.vdaf.flp.VERIFIER_LEN * self.vdaf.PROOFS
        raw_ver = self._array(request, "verifiers", (rows, n_ver * self.field.ENCODED_SIZE))
        parts = self._array(request, "parts", (rows, 32 if self.joint else 0))
        corrected = self._array(request, "corrected", (rows, 32 if self.joint else 0))
        failed = self._array(request, "failed", (rows,)).astype(bool)
        digest = _job_hash(request)
        stored = self.storage.helper_job(job_id)
        if stored is not None:
            if stored[0] != digest:
                raise RemoteProtocolViolation("job id reused for a different job", peer="leader")
            return dict(msgpack.unpackb(stored[1]), kind="job")
        status = np.zeros(rows, np.uint8)
        seeds = np.zeros((rows, 1, 32), np.uint8)
        blinds = np.zeros((rows, 2, 32), np.uint8) if self.joint else None
        task_id = self.task.task_id
        for i in range(rows):
            rid = ids[i].tobytes()
            binding = share_binding(HELPER, task_id, rid, int(times[i]), public[i].tobytes())
            plain = open_sealed(self.config.report_key, binding, sealed[i].tobytes())
            if plain is None or len(plain) != self.helper_share_len:
                status[i] = UNDECRYPTABLE
                continue
            seeds[i, 0] = np.frombuffer(plain[:32], np.uint8)
            if blinds is not None:
                blinds[i, 1] = np.frombuffer(plain[32:], np.uint8)
        # replays: seen in an earlier job, or twice in this one
        id_list = [ids[i].tobytes() for i in range(rows)]
        seen, first = self.storage.seen(id_list), set()
        for i, rid in enumerate(id_list):
            if rid in seen or rid in first:
                status[i] = REPLAYED
            first.add(rid)
        for start, end in self.collected_intervals(("done",)):
            status[(times >= start) & (times < end) & (status == ACCEPTED)] = COLLECTED
        # Ids of reports older than this are forgotten (prune), so such reports are refused outright.
        status[(times < int(_time.time()) - self.task.report_expiry_age) & (status == ACCEPTED)] = EXPIRED
        shares = BatchInputShares(public.reshape(rows, self.vdaf.SHARES, 32) if self.joint else None,
                                  np.zeros((0, rows), object), np.zeros((0, rows), object), seeds, blinds)
        state, mine = self.batch.verify_init(self.config.verify_key, self.task.context, HELPER, ids, shares)
        verifiers, bad = decode_batch(self.field, raw_ver, n_ver)
        theirs = BatchVerifierShare(verifiers, parts if self.joint else None)
        accept, message = self.batch.verifier_shares_to_message(self.task.context, [theirs, mine])
        ok = self.batch.verify_next(state, accept & ~bad, message) & ~failed
        if message is not None:  # the leader's own check of the joint randomness, done here for it
            ok &= (message == corrected).all(axis=1)
        status[(status == ACCEPTED) & ~ok] = INVALID
        accepted = status == ACCEPTED
        updates = self.bucket_updates(times, state.out_shares, accepted)
        answer = {"job_id": job_id, "status": status.tobytes(),
                  "seeds": message.tobytes() if message is not None else b""}
        counts = {f"report.{STATUS_NAMES[s]}": int((status == s).sum()) for s in STATUS_NAMES}
        counts["job.answered"] = 1
        self.storage.commit_helper_job(job_id, digest, msgpack.packb(answer),
                                       [(rid, int(t)) for rid, t in zip(id_list, times, strict=True)], updates,
                                       self.combine, counts)
        fault_point("helper.job.answer")  # committed, answer not yet sent
        return dict(answer, kind="job")

    def answer_collect(self, request: dict[str, Any]) -> dict[str, Any]:
        """This helper's sealed, noised aggregate share of a batch, or the answer stored for the collection."""
        try:
            cid, start, end, epsilon, count = (request[k] for k in ("collection_id", "start", "end", "epsilon", "count"))
        except KeyError:
            raise RemoteProtocolViolation("a collect request lacks a field", peer="leader") from None
        if not (isinstance(cid, bytes) and len(cid) == 16 and all(type(x) is int for x in (start, end, count))
                and (epsilon is None or isinstance(epsilon, str))):
            raise RemoteProtocolViolation("a collect request has a field of the wrong type", peer="leader")
        if not (0 <= start < end < 2**62 and 0 <= count < 2**62):
            raise RemoteProtocolViolation("a collect request has an interval or count out of range", peer="leader")
        digest = _job_hash({k: request[k] for k in ("collection_id", "start", "end", "epsilon")})
        stored = self.storage.collection(cid)
        if stored is not None:
            if stored[4] != digest:
                raise RemoteProtocolViolation("collection id reused for a different collection", peer="leader")
            return {"kind": "collect", "error": stored[6]} if stored[6] else dict(msgpack.unpackb(stored[5]), kind="collect")
        error = None
        if any(s < end and start < e for s, e in self.collected_intervals(("done",))):
            error = "the batch overlaps one already collected"
        eps: Fraction | None = None
        if epsilon is not None:
            try:
                eps = parse_epsilon(epsilon)
            except ValueError as exc:
                error = str(exc)
        if error is None and self.task.max_epsilon is not None and (eps is None or eps > self.task.max_epsilon):
            error = f"the task requires noise with epsilon <= {self.task.max_epsilon}"
        if error is None:
            share, mine = self.noisy_share(start, end, epsilon)
            if mine != count:
                error = f"the aggregators disagree on the batch's report count (leader {count}, helper {mine})"
            elif count < self.task.min_batch_size:
                error = f"the batch has {count} reports, the task needs at least {self.task.min_batch_size}"
        if error is not None:
            self.storage.create_collection(cid, start, end, epsilon, "failed", digest, None, error)
            return {"kind": "collect", "error": error}
        binding = aggregate_binding(HELPER, self.task.task_id, cid, start, end, count, epsilon)
        answer = {"count": count, "sealed": seal(self.task.collector_public_key, binding, share)}
        self.storage.create_collection(cid, start, end, epsilon, "done", digest, msgpack.packb(answer))
        fault_point("helper.collect.answer")
        return dict(answer, kind="collect")


# -- the leader ----------------------------------------------------------------------------------
@attrs.frozen
class _Prepared:
    request: dict[str, Any]
    state: Any
    times: np.ndarray[Any, Any]


class Leader(_Aggregator):
    """The leader: takes uploads and collection requests over HTTP, drives jobs and collections."""

    def __init__(self, config: AggregatorConfig) -> None:
        super().__init__(config)
        self.counts = _Counts()
        self.inflight = 0
        self.wake = trio.Event()
        self.last_claim = 0.0
        self.closed = self.collected_intervals(("draining", "done"))
        self.leader_sealed_len = len(share_binding(LEADER, self.task.task_id, bytes(16), 0, b"")) \
            + self.leader_share_len + SEAL_OVERHEAD

    async def run(self, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve HTTP and drive the helper until cancelled; ``task_status`` gets the bound URLs."""
        from hypercorn.config import Config
        from hypercorn.trio import serve

        cfg = Config()
        cfg.bind = [self.config.listen]
        cfg.accesslog = None
        cfg.errorlog = logging.getLogger("mpcnet.aggregate.http")
        cfg.read_timeout = 30  # a client that stops sending mid-request is dropped
        cfg.keep_alive_max_requests = 1_000_000
        cfg.max_app_queue_size = 4  # body chunks queued per request: the reader waits for the app
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve(cast(Any, self.app), cfg, task_status=task_status))
            nursery.start_soon(self.serve_mesh, self._loop)
            nursery.start_soon(self._flush_counters)
            task_status.started(binds)

    async def _flush_counters(self) -> None:
        while True:
            await trio.sleep(1.0)
            counts = self.counts.take()
            try:
                self.storage.add_counters(counts)
            except sqlite3.Error as exc:  # a full disk or a locked file must not stop the service: retry later
                log.warning("cannot store counters: %s", exc)
                for name, n in counts.items():
                    self.counts.add(name, n)

    # -- HTTP ------------------------------------------------------------------------------------
    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The ASGI application."""
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        try:
            status, body, ctype, headers = await self._route(scope, receive)
        except HttpError as exc:
            self.counts.add(f"http.{exc.counter}")
            problem = {"type": DAP_ERROR + exc.dap_type if exc.dap_type else "about:blank", "status": exc.status,
                       "detail": exc.detail}
            status, body, ctype, headers = exc.status, json.dumps(problem).encode(), "application/problem+json", exc.headers
        except Exception:  # a bug must not take the service down: log it, answer 500
            log.exception("internal error serving %s %s", scope.get("method"), scope.get("path"))
            self.counts.add("http.internal_error")
            status, body, ctype, headers = 500, b'{"type":"about:blank","status":500}', "application/problem+json", []
        try:
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", ctype.encode()), (b"content-length", str(len(body)).encode()),
                                    *headers]})
            await send({"type": "http.response.body", "body": body})
        except (trio.BusyResourceError, trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            # The client went away, or (hypercorn on trio) an early answer to a request whose body is
            # still arriving collides with the server's own write: the connection is dropped either way.
            self.counts.add("http.send_failed")

    async def _read_body(self, scope: dict[str, Any], receive: Any) -> bytes:
        cap = self.config.max_body
        for name, value in scope.get("headers", []):
            if name == b"content-length" and (not value.isdigit() or len(value) > 18 or int(value) > cap):
                raise HttpError(413, None, f"the body exceeds {cap} bytes", "body_too_large")
        chunks, size = [], 0
        # hypercorn drops a connection silent for 30 s, but one that trickles a byte every 29 s would
        # hold one of the max_inflight upload slots for weeks: the whole body gets BODY_DEADLINE.
        deadline = trio.current_time() + BODY_DEADLINE
        while True:
            with trio.move_on_at(deadline):
                message = await receive()
            if trio.current_time() >= deadline:
                raise HttpError(408, None, f"the body did not arrive within {BODY_DEADLINE:g} s", "body_timeout",
                                [(b"connection", b"close")])
            if message["type"] == "http.disconnect":
                raise HttpError(400, "invalidMessage", "the client went away", "disconnected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                raise HttpError(413, None, f"the body exceeds {cap} bytes", "body_too_large")
            chunks.append(chunk)
            if not message.get("more_body"):
                return b"".join(chunks)

    async def _route(self, scope: dict[str, Any], receive: Any) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        method, parts = scope["method"], scope["path"].strip("/").split("/")
        if parts == ["counters"] and method == "GET":
            # Only for the collector: per-job outcome counts, to anyone who can time a client's upload,
            # tell whether its report was valid (a job can hold one report), and the volume of uploads.
            self._check_collector(scope)
            counts = self.storage.counters()
            for k, v in self.counts.values.items():
                counts[k] = counts.get(k, 0) + v
            counts["reports.unfinished"] = self.storage.unfinished_reports()
            return 200, json.dumps(counts, sort_keys=True).encode(), "application/json", []
        if len(parts) < 3 or parts[0] != "tasks":
            raise HttpError(404, None, "no such resource", "not_found")
        try:
            task_id = unb64(parts[1], 32, "task id")
        except ValueError:
            task_id = b""
        if task_id != self.task.task_id:
            raise HttpError(404, "unrecognizedTask", "this leader serves no such task", "unrecognized_task")
        if parts[2:] == ["reports"] and method == "PUT":
            await self._upload(scope, receive)
            return 201, b"", "text/plain", []
        if len(parts) == 4 and parts[2] == "collection_jobs":
            self._check_collector(scope)
            try:
                cid = unb64(parts[3], 16, "collection job id")
            except ValueError as exc:
                raise HttpError(400, "invalidMessage", str(exc), "bad_collection") from None
            if method == "PUT":
                return await self._create_collection(cid, await self._read_body(scope, receive))
            if method == "GET":
                return self._poll_collection(cid)
        raise HttpError(405 if parts[2] in ("reports", "collection_jobs") else 404, None, "no such resource",
                        "not_found")

    def _check_collector(self, scope: dict[str, Any]) -> None:
        """Only the collector may start or read collections: a bearer token whose SHA-256 the task file holds.
        (Anyone else could otherwise close batches to uploads, or spend the one collection a batch allows.)"""
        token = b""
        for name, value in scope.get("headers", []):
            if name == b"authorization" and value.startswith(b"Bearer ") and len(value) < 100:
                try:
                    token = unb64(value[7:].decode("ascii"), 32, "token")
                except (ValueError, UnicodeDecodeError):
                    token = b""
        if not hmac.compare_digest(hashlib.sha256(token).digest(), self.task.collector_auth_sha256):
            raise HttpError(403, "unauthorizedRequest", "collections need the collector's token", "unauthorized")

    async def _upload(self, scope: dict[str, Any], receive: Any) -> None:
        if self.inflight >= self.config.max_inflight:
            raise HttpError(503, None, "too many uploads in progress", "busy", [(b"retry-after", b"1")])
        self.inflight += 1
        try:
            body = await self._read_body(scope, receive)
        finally:
            self.inflight -= 1
        try:
            report = decode_report(body)
        except ReportDecodeError as exc:
            raise HttpError(400, "invalidMessage", str(exc), "invalid_message") from None
        now = int(_time.time())
        if report.time > now + self.task.tolerable_clock_skew:
            raise HttpError(400, "reportTooEarly", "the report's time is in the future", "report_too_early")
        if report.time < now - self.task.report_expiry_age:
            raise HttpError(400, "reportRejected", "the report has expired", "report_expired")
        if any(s <= report.time < e for s, e in self.closed):
            raise HttpError(400, "reportRejected", "the report's batch is collected", "batch_collected")
        if len(report.public_share) != self.public_len or len(report.helper_encrypted_share) != self.helper_sealed_len \
                or len(report.leader_encrypted_share) != self.leader_sealed_len:
            raise HttpError(400, "invalidMessage", "a share has the wrong length for this task's VDAF", "invalid_message")
        if self.storage.unfinished_reports() >= self.config.max_pending:
            raise HttpError(503, None, "too many reports wait for aggregation", "backlog", [(b"retry-after", b"1")])
        binding = share_binding(LEADER, self.task.task_id, report.report_id, report.time, report.public_share)
        plain = open_sealed(self.config.report_key, binding, report.leader_encrypted_share)
        if plain is None:
            raise HttpError(400, "reportRejected", "the leader's share does not decrypt for this report",
                            "undecryptable")
        try:
            self.vdaf.decode_public_share(report.public_share)
            self.vdaf.decode_input_share(LEADER, plain)
        except VdafDecodeError:
            raise HttpError(400, "invalidMessage", "the leader's input share is malformed", "invalid_message") from None
        if not self.storage.add_report(report.report_id, report.time, report.public_share, plain,
                                       report.helper_encrypted_share):
            raise HttpError(400, "reportRejected", "a report with this id was uploaded before", "report_replayed")
        if self.storage.unfinished_reports() >= self.config.job_size:
            self.wake.set()

    async def _create_collection(self, cid: bytes, body: bytes) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        try:
            req = msgpack.unpackb(body, raw=False, max_map_len=3, max_array_len=0, max_str_len=64, max_bin_len=0)
            start, end, epsilon = req["start"], req["end"], req.get("epsilon")
            if type(start) is not int or type(end) is not int or not (epsilon is None or isinstance(epsilon, str)):
                raise TypeError
        except Exception:
            raise HttpError(400, "invalidMessage", "a collection request is {start, end, epsilon}", "bad_collection") \
                from None
        p = self.task.time_precision
        if not (0 <= start < end < 2**62) or start % p or end % p:
            raise HttpError(400, "batchInvalid", f"the interval must be aligned to {p} s and not empty", "bad_collection")
        if end > self.task.bucket(int(_time.time()) + self.task.tolerable_clock_skew) + p:
            raise HttpError(400, "batchInvalid", "the interval ends in the future", "bad_collection")
        eps: Fraction | None = None
        if epsilon is not None:
            try:
                eps = parse_epsilon(epsilon)
            except ValueError as exc:
                raise HttpError(400, "invalidMessage", str(exc), "bad_collection") from None
        if self.task.max_epsilon is not None and (eps is None or eps > self.task.max_epsilon):
            raise HttpError(400, "invalidMessage", f"the task requires noise with epsilon <= {self.task.max_epsilon}",
                            "bad_collection")
        stored = self.storage.collection(cid)
        if stored is not None:
            if stored[:3] != (start, end, epsilon):
                raise HttpError(409, "invalidMessage", "this collection job exists with other parameters",
                                "bad_collection")
            return 201, b"", "text/plain", []
        if any(s < end and start < e for s, e in self.closed):
            raise HttpError(400, "batchOverlap", "the interval overlaps a batch already collected", "batch_overlap")
        self.storage.create_collection(cid, start, end, epsilon, "draining")
        self.closed = self.collected_intervals(("draining", "done"))
        self.wake.set()
        return 201, b"", "text/plain", []

    def _poll_collection(self, cid: bytes) -> tuple[int, bytes, str, list[tuple[bytes, bytes]]]:
        stored = self.storage.collection(cid)
        if stored is None:
            raise HttpError(404, None, "no such collection job", "not_found")
        state, result, error = stored[3], stored[5], stored[6]
        if state == "failed":
            raise HttpError(400, "invalidBatchSize" if "needs at least" in (error or "") else "batchInvalid",
                            error or "", "collection_failed")
        if state != "done" or result is None:
            return 202, b"", "text/plain", [(b"retry-after", b"1")]
        return 200, result, "application/msgpack", []

    # -- jobs and collections over the mesh ----------------------------------------------------------
    async def _loop(self, party: Any) -> None:
        slot = 0

        async def ask(request: dict[str, Any]) -> Any:
            nonlocal slot
            slot += 1
            return (await party.run(SLOT, request, session_id=f"slot/{slot - 1}", round_timeout=ROUND_TIMEOUT)).output

        while True:
            if await self._step(ask):
                await trio.lowlevel.checkpoint()
                continue
            self.wake = trio.Event()
            with trio.move_on_after(min(IDLE_SLOT, JOB_DELAY) if self.storage.unfinished_reports() else IDLE_SLOT):
                await self.wake.wait()
                continue
            if not self.storage.unfinished_reports():
                await ask({"kind": "noop"})

    async def _step(self, ask: Callable[[dict[str, Any]], Awaitable[Any]]) -> bool:
        """Do the next piece of work; False if there is none."""
        self.maybe_prune()  # here, not only when idle: under a steady load the store would only grow
        running = self.storage.running_jobs()
        if running:
            await self._run_job(ask, running[0])
            return True
        for cid, _, end, state in self.storage.collections():
            if state == "draining":
                if self.storage.pending_before(end):
                    self.storage.claim_job(secrets.token_bytes(16), self.config.job_size, before=end)
                else:
                    await self._collect(ask, cid)
                return True
        pending = self.storage.unfinished_reports()
        if pending >= self.config.job_size or (pending and _time.monotonic() - self.last_claim >= JOB_DELAY):
            self.last_claim = _time.monotonic()
            return bool(self.storage.claim_job(secrets.token_bytes(16), self.config.job_size))
        return False

    def prepare_job(self, job_id: bytes, reports: list[StoredReport]) -> _Prepared:
        """The leader's verification of a job's reports and its request to the helper (in a worker thread:
        the store is used from the event loop's thread only)."""
        rows = len(reports)

        def stack(index: int, width: int) -> np.ndarray[Any, Any]:
            return np.frombuffer(b"".join(cast(bytes, r[index]) for r in reports), np.uint8).reshape(rows, width)

        ids, public, leader, sealed = stack(0, 16), stack(2, self.public_len), stack(3, self.leader_share_len), \
            stack(4, self.helper_sealed_len)
        times = np.array([r[1] for r in reports], dtype=np.uint64)
        size = self.field.ENCODED_SIZE
        cut, end = size * self.meas_len, size * (self.meas_len + self.proof_len)
        meas, bad_m = decode_batch(self.field, np.ascontiguousarray(leader[:, :cut]), self.meas_len)
        proofs, bad_p = decode_batch(self.field, np.ascontiguousarray(leader[:, cut:end]), self.proof_len)
        blinds = None
        if self.joint:
            blinds = np.zeros((rows, 2, 32), np.uint8)
            blinds[:, 0] = leader[:, end:]
        shares = BatchInputShares(public.reshape(rows, self.vdaf.SHARES, 32) if self.joint else None, meas, proofs,
                                  np.zeros((rows, 1, 32), np.uint8), blinds)
        state, mine = self.batch.verify_init(self.config.verify_key, self.task.context, LEADER, ids, shares)
        none = np.zeros((rows, 0), np.uint8)
        request = {"kind": "job", "job_id": job_id, "ids": ids, "times": times, "public": public, "helper": sealed,
                   "verifiers": encode_batch(self.field, mine.verifiers),
                   "parts": mine.parts if mine.parts is not None else none,
                   "corrected": state.corrected_seeds if state.corrected_seeds is not None else none,
                   "failed": (state.failed | bad_m | bad_p).astype(np.uint8)}
        return _Prepared(request, state, times.astype(np.int64))

    async def _run_job(self, ask: Callable[[dict[str, Any]], Awaitable[Any]], job_id: bytes) -> None:
        prepared = await trio.to_thread.run_sync(self.prepare_job, job_id, self.storage.job_reports(job_id))
        fault_point("leader.job.prepared")
        answer = await ask(prepared.request)
        fault_point("leader.job.answered")
        rows = prepared.times.shape[0]
        if not (isinstance(answer, dict) and answer.get("job_id") == job_id and isinstance(answer.get("status"), bytes)
                and len(answer["status"]) == rows and isinstance(answer.get("seeds"), bytes)
                and len(answer["seeds"]) == (32 * rows if self.joint else 0)):
            raise RemoteProtocolViolation("malformed answer to an aggregation job", peer="helper")
        status = np.frombuffer(answer["status"], np.uint8)
        accepted = status == ACCEPTED
        seeds = np.frombuffer(answer["seeds"], np.uint8).reshape(rows, 32) if self.joint else None
        mine = self.batch.verify_next(prepared.state, accepted, seeds)
        if (accepted & ~mine).any():
            raise RemoteProtocolViolation("the helper accepted reports that fail the leader's check", peer="helper")
        updates = self.bucket_updates(prepared.times, prepared.state.out_shares, accepted)
        counts = {f"report.{name}": int((status == s).sum()) for s, name in STATUS_NAMES.items()}
        counts["job.done"] = 1
        self.storage.finish_job(job_id, updates, self.combine, counts)

    async def _collect(self, ask: Callable[[dict[str, Any]], Awaitable[Any]], cid: bytes) -> None:
        stored = self.storage.collection(cid)
        assert stored is not None
        start, end, epsilon = stored[0], stored[1], stored[2]
        count = sum(c for _, _, c in self.storage.buckets(start, end))
        answer = await ask({"kind": "collect", "collection_id": cid, "start": start, "end": end, "epsilon": epsilon,
                            "count": count})
        fault_point("leader.collect.answered")
        if not isinstance(answer, dict):
            raise RemoteProtocolViolation("malformed answer to a collection", peer="helper")
        if answer.get("error"):
            self.storage.finish_collection(cid, "failed", None, str(answer["error"]))
        else:
            if answer.get("count") != count or not isinstance(answer.get("sealed"), bytes):
                raise RemoteProtocolViolation("malformed answer to a collection", peer="helper")
            share, _ = self.noisy_share(start, end, epsilon)
            binding = aggregate_binding(LEADER, self.task.task_id, cid, start, end, count, epsilon)
            result = {"count": count, "start": start, "end": end, "epsilon": epsilon,
                      "leader": seal(self.task.collector_public_key, binding, share), "helper": answer["sealed"]}
            self.storage.finish_collection(cid, "done", msgpack.packb(result), None)
        self.closed = self.collected_intervals(("draining", "done"))


async def run_aggregator(config: AggregatorConfig, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the leader or the helper named by ``config`` until cancelled."""
    aggregator = Leader(config) if config.role == LEADER else Helper(config)
    try:
        await aggregator.run(task_status=task_status)
    finally:
        if isinstance(aggregator, Leader):
            aggregator.storage.add_counters(aggregator.counts.take())
        aggregator.storage.close()

