"""Invalid reports, for simulations and tests only.

A cheating client encodes a measurement the validity circuit forbids (a count of 2, two histogram
buckets set, a 2 where a bit belongs, a MultihotCountVec weight above ``max_weight``) and then runs
the honest sharding and prover on it (:meth:`~.batch.BatchPrio3.shard` does not check validity):
the strongest thing a client can do without breaking the FLP's soundness. Prio3's aggregators must
reject every such report, except with the FLP's soundness error (draft-irtf-cfrg-vdaf-20 §7.3).
"""

from __future__ import annotations

from typing import Any

from .circuits import Count, Histogram, MultihotCountVec
from .prio3 import Prio3

__all__ = ["invalid_encodings"]


def _tampered(vdaf: Prio3[Any, Any]) -> list[list[int]]:
    """The invalid encodings this module knows for ``vdaf``'s circuit, most telling first."""
    valid, p = vdaf.flp.valid, vdaf.field.MODULUS
    if isinstance(valid, Count):
        return [[2], [p - 1], [3]]
    zero = valid.encode([False] * valid.length) if isinstance(valid, MultihotCountVec) else None
    if isinstance(valid, Histogram):
        base = valid.encode(0)
        two_buckets = list(base)
        if valid.length >= 2:
            two_buckets[1] = 1
        else:
            two_buckets[0] = 2
        return [two_buckets, [0] * valid.MEAS_LEN, _set(base, 0, 2)]
    if isinstance(valid, MultihotCountVec):
        assert zero is not None
        over = list(zero)
        if valid.length > valid.max_weight:  # max_weight + 1 ones, the weight bits claiming 0
            for i in range(valid.max_weight + 1):
                over[i] = 1
        else:
            over[0] = 2
        return [over, _set(zero, 0, 2), _set(zero, 0, p - 1)]
    # Sum and SumVec: a 2 (and a -1) where a 0/1 element of the range-checked encoding belongs.
    base = [0] * valid.MEAS_LEN
    return [_set(base, 0, 2), _set(base, 0, p - 1), _set(base, valid.MEAS_LEN - 1, 2)]


def _set(values: list[int], index: int, value: int) -> list[int]:
    out = list(values)
    out[index] = value
    return out


def invalid_encodings(vdaf: Prio3[Any, Any], count: int) -> list[list[int]]:
    """``count`` encoded measurements that ``vdaf``'s validity circuit rejects (cycling through the kinds)."""
    kinds = _tampered(vdaf)
    return [list(kinds[i % len(kinds)]) for i in range(count)]
