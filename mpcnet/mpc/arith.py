"""Secret-shared arithmetic.

So far: additive sharing over the ring Z_{2^64}, vectorised over numpy
``uint64`` arrays (numpy's wrap-around arithmetic *is* reduction mod 2^64,
so sharing, adding and reconstructing a 10^6-element vector are a few
vector operations). Signed values use two's complement: a value ``x`` with
``-2^63 <= x < 2^63`` maps to ``x mod 2^64`` and back.

Additive shares are perfectly hiding: any ``n-1`` of the ``n`` shares of a
value are independent uniform words, whatever the value. The randomness
comes from the caller's :class:`~mpcnet.randomness.Randomness` (``ctx.random``:
the OS generator in real runs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..randomness import Randomness

__all__ = ["RING_BITS", "to_ring", "from_ring_signed", "additive_share", "ring_sum"]

#: Additive shares live in Z_{2^RING_BITS}.
RING_BITS = 64

U64 = np.ndarray[Any, np.dtype[np.uint64]]
I64 = np.ndarray[Any, np.dtype[np.int64]]


def to_ring(values: I64) -> U64:
    """Signed 64-bit integers as ring elements (a zero-copy view)."""
    return np.asarray(values, dtype=np.int64, order="C").view(np.uint64)


def from_ring_signed(elements: U64) -> I64:
    """Ring elements read back as signed 64-bit integers (two's complement)."""
    return np.asarray(elements, dtype=np.uint64, order="C").view(np.int64)


def additive_share(secret: U64, n: int, random: Randomness) -> U64:
    """Split a vector of ring elements into ``n`` additive shares.

    Returns an ``(n, k)`` array whose rows sum to ``secret`` mod 2^64. Rows
    ``0..n-2`` are fresh uniform words; the last row is the difference, so
    every ``n-1`` rows are jointly uniform and independent of ``secret``.
    """
    if n < 1:
        raise ValueError("need at least one share")
    secret = np.ascontiguousarray(secret, dtype=np.uint64).ravel()
    k = secret.size
    shares = np.empty((n, k), dtype=np.uint64)
    if n > 1:
        shares[: n - 1] = random.uint64((n - 1) * k).reshape(n - 1, k)
        np.subtract(secret, shares[: n - 1].sum(axis=0, dtype=np.uint64), out=shares[n - 1])
    else:
        shares[0] = secret
    return shares


def ring_sum(vectors: list[U64]) -> U64:
    """Sum equal-length ring vectors mod 2^64."""
    total = np.zeros_like(np.asarray(vectors[0], dtype=np.uint64))
    for v in vectors:
        np.add(total, v, out=total)
    return total
