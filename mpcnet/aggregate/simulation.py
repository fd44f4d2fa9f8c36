"""Prio3 in one process: every client and both aggregators, for trying it out and for benchmarks.

:func:`run_prio3` shards every measurement (as the clients would), adds cheating clients'
reports (:mod:`.cheat`) if asked, then runs the leader's and the helper's verification and
aggregation as two mpcnet parties over authenticated links (protocol ``prio3-aggregate``, in
``protocols/prio3.py``): three rounds whatever the number of reports.

What this shows and what it does not: the aggregate, the accept/reject decisions and the bytes
the aggregators exchange are those of a real two-aggregator run. But the clients, the verify key
and both aggregators live in this one process, so it says nothing about the privacy of the
measurements against an aggregator (each aggregator's input share is in the same memory as the
other's), and the clients' uploads are not encrypted or sent anywhere.
"""

from __future__ import annotations

import json
import math
import secrets
import time
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import InputError
from ..runner import simulate
from .batch import BatchInputShares, BatchPrio3
from .cheat import invalid_encodings
from .prio3 import Prio3, prio3_count, prio3_histogram, prio3_multihot_countvec, prio3_sum, prio3_sumvec

__all__ = ["VDAF_KINDS", "CONTEXT", "VdafConfig", "AggregatorInput", "Prio3RunResult", "parse_measurements", "run_prio3"]

VDAF_KINDS = ("count", "sum", "sumvec", "histogram", "multihot")
#: The application context string both aggregators and every client use in the simulation.
CONTEXT = b"mpcnet prio3 run"


@attrs.frozen
class VdafConfig:
    """Which Prio3 variant, with its parameters (the task both aggregators agree on)."""

    kind: str = attrs.field(validator=attrs.validators.in_(VDAF_KINDS))
    length: int = 1  # sumvec, histogram, multihot: entries per measurement
    bits: int = 8  # sum, sumvec: each value in [0, 2**bits - 1]
    max_weight: int | None = None  # multihot: at most this many ones (default: length)

    def vdaf(self) -> Prio3[Any, Any]:
        """The Prio3 instance (chunk length near the square root of the circuit's size, as the draft advises:
        of the lengths near it, the one with the shortest proof); :class:`InputError` for parameters the draft
        does not allow."""
        if self.length < 1 or self.bits < 1:
            raise InputError("--length and --bits must be at least 1")
        try:
            return self._build()
        except ValueError as exc:  # the circuits' own checks (e.g. a bound outside the field)
            if isinstance(exc, InputError):
                raise
            raise InputError(f"invalid {self.kind} parameters: {exc}") from None

    def _build(self) -> Prio3[Any, Any]:
        top = 2**self.bits - 1
        if self.kind == "count":
            return prio3_count()
        if self.kind == "sum":
            return prio3_sum(top)
        weight = self.length if self.max_weight is None else self.max_weight
        if self.kind == "multihot" and not 1 <= weight <= self.length:
            raise InputError(f"--max-weight must be between 1 and --length ({self.length})")

        def build(chunk: int) -> Prio3[Any, Any]:
            if self.kind == "sumvec":
                return prio3_sumvec(self.length, top, chunk)
            if self.kind == "histogram":
                return prio3_histogram(self.length, chunk)
            return prio3_multihot_countvec(self.length, weight, chunk)

        # The proof length jumps with powers of two (the gadget polynomial has 2P - 1 values, P the next
        # power of two above the gadget calls + 1), so the square root itself is often not the best:
        # for a 10-bucket histogram chunk 3 gives 21 proof elements, chunk 4 gives 15 (and a third less
        # work to prove and verify). Of the lengths from sqrt/2 to 2 sqrt, the shortest proof wins
        # (ties: the smaller chunk).
        root = max(1, math.isqrt(self.length * (self.bits if self.kind == "sumvec" else 1)))
        candidates = [build(c) for c in range(max(1, root // 2), 2 * root + 1)]
        return min(candidates, key=lambda v: v.flp.PROOF_LEN)


@attrs.frozen
class AggregatorInput:
    """One aggregator's input to ``prio3-aggregate``: the task, its id, and its shares of every report."""

    config: VdafConfig
    agg_id: int  # 0: leader, 1: helper
    verify_key: bytes
    nonces: np.ndarray[Any, Any]  # (R, 16) uint8
    shares: BatchInputShares  # the other aggregator's share fields are absent (zero blinds, no seeds)


@attrs.frozen
class Prio3RunResult:
    """The outcome of :func:`run_prio3`."""

    aggregate: Any
    accepted: int
    rejected: int
    rejected_indices: tuple[int, ...]  # report indices: honest reports first, then the cheaters'
    rounds: int
    bytes_per_aggregator: tuple[int, int]
    wall_time: float

    def to_dict(self) -> dict[str, Any]:
        """``{"aggregate", "accepted", "rejected", "stats"}``, as ``mpcnet prio3 run --json`` prints it."""
        reports = self.accepted + self.rejected
        return {"aggregate": self.aggregate, "accepted": self.accepted, "rejected": self.rejected,
                "stats": {"rounds": self.rounds, "bytes_per_aggregator": list(self.bytes_per_aggregator),
                          "wall_time": self.wall_time, "reports_per_second": reports / self.wall_time}}


def _check_value(config: VdafConfig, value: Any) -> str | None:
    """Why ``value`` is not a measurement for ``config`` (None if it is one)."""
    def is_int(x: Any) -> bool:
        return type(x) is int
    top = 2**config.bits - 1
    if config.kind == "count":
        return None if is_int(value) and value in (0, 1) else "a count measurement is 0 or 1"
    if config.kind == "sum":
        return None if is_int(value) and 0 <= value <= top else f"a sum measurement is an integer in [0, {top}]"
    if config.kind == "histogram":
        ok = is_int(value) and 0 <= value < config.length
        return None if ok else f"a histogram measurement is a bucket index in [0, {config.length - 1}]"
    if not isinstance(value, list) or len(value) != config.length:
        return f"a {config.kind} measurement is a list of {config.length} values"
    if config.kind == "sumvec":
        ok = all(is_int(x) and 0 <= x <= top for x in value)
        return None if ok else f"every sumvec entry is an integer in [0, {top}]"
    if not all(type(x) in (int, bool) and x in (0, 1) for x in value):
        return "every multihot entry is 0 or 1"
    weight = config.length if config.max_weight is None else config.max_weight
    return None if sum(value) <= weight else f"a multihot measurement has at most {weight} ones (--max-weight)"


def parse_measurements(lines: Sequence[str], config: VdafConfig, source: str = "measurements") -> list[Any]:
    """One JSON measurement per line (blank lines skipped); :class:`InputError` naming the first bad line."""
    out: list[Any] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{source} line {number}: not valid JSON ({exc.msg})") from None
        reason = _check_value(config, value)
        if reason is not None:
            raise InputError(f"{source} line {number}: {reason}")
        out.append([bool(x) for x in value] if config.kind == "multihot" else value)
    return out


def _aggregator_inputs(config: VdafConfig, batch: BatchPrio3, encoded: np.ndarray[Any, Any]) -> list[AggregatorInput]:
    """Shard every encoded report (the clients' work) and split the shares between the aggregators."""
    vdaf, rows = batch.vdaf, encoded.shape[1]
    nonces = np.frombuffer(secrets.token_bytes(rows * vdaf.NONCE_SIZE), np.uint8).reshape(rows, -1)
    rands = np.frombuffer(secrets.token_bytes(rows * vdaf.RAND_SIZE), np.uint8).reshape(rows, -1)
    shares = batch.shard(CONTEXT, encoded, nonces, rands)
    key = secrets.token_bytes(vdaf.VERIFY_KEY_SIZE)
    out = []
    for agg_id in (0, 1):
        blinds = None
        if shares.blinds is not None:  # each aggregator gets its own blind only
            blinds = np.zeros_like(shares.blinds)
            blinds[:, agg_id] = shares.blinds[:, agg_id]
        empty = np.zeros((0, rows), dtype=object)
        own = BatchInputShares(
            shares.public,
            shares.leader_meas if agg_id == 0 else empty,
            shares.leader_proofs if agg_id == 0 else empty,
            shares.helper_seeds if agg_id == 1 else np.zeros_like(shares.helper_seeds),
            blinds,
        )
        out.append(AggregatorInput(config, agg_id, key, nonces, own))
    return out


def run_prio3(config: VdafConfig, measurements: Sequence[Any], malicious_clients: int = 0) -> Prio3RunResult:
    """Shard ``measurements`` and ``malicious_clients`` invalid reports, verify and aggregate them with
    two aggregators over mpcnet links; the aggregate is that of the accepted reports."""
    if malicious_clients < 0:
        raise InputError("the number of malicious clients must be >= 0")
    vdaf = config.vdaf()
    start = time.perf_counter()
    batch = BatchPrio3(vdaf)
    honest = batch.encode(measurements)
    cheats = np.array(invalid_encodings(vdaf, malicious_clients), dtype=object).reshape(-1, vdaf.flp.MEAS_LEN).T
    encoded = np.concatenate([honest, cheats], axis=1) if malicious_clients else honest
    result = simulate("prio3-aggregate", _aggregator_inputs(config, batch, encoded))
    wall = time.perf_counter() - start
    leader, helper = result.outputs
    if leader != helper:  # both compute the same decisions and aggregate from the same messages
        raise AssertionError("the aggregators disagree")
    accepted = np.asarray(leader["accepted"], dtype=bool)
    return Prio3RunResult(
        aggregate=leader["aggregate"], accepted=int(accepted.sum()), rejected=int((~accepted).sum()),
        rejected_indices=tuple(int(i) for i in np.flatnonzero(~accepted)),
        rounds=result.stats[0].rounds, bytes_per_aggregator=(result.stats[0].bytes_sent, result.stats[1].bytes_sent),
        wall_time=wall,
    )
