"""Boolean circuits on Shamir-shared bits in GF(2^8), batched.

A shared bit is a GF(2^8) Shamir sharing of 0 or 1. XOR and NOT are local
(field addition); AND is one multiplication, so the cost of a circuit is its
AND count (bytes) and its AND depth (rounds). Every function takes arrays of
any leading shape and does all elements in the same rounds.

Integers are bit arrays with the bit index as the **last** axis, least
significant bit first: a batch of ``m`` k-bit values has shape ``(m, k)``.

* :func:`greater_than` — ``x > y``: one AND layer for ``x_i AND NOT y_i``, then
  a log-depth prefix over (greater, equal) pairs: ``1 + ceil(log2 k)`` rounds,
  about ``3k`` ANDs. Signed (two's complement) inputs flip the top bit first.
* :func:`equal` — ``x == y``: an AND tree over ``NOT (x_i XOR y_i)``:
  ``ceil(log2 k)`` rounds, ``k - 1`` ANDs.
* :func:`mux` — ``s ? a : b`` as ``b XOR s AND (a XOR b)``: one round.
* :func:`all_of` — AND along the last axis: ``ceil(log2 k)`` rounds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .fields import GF256
from .shamir import ShamirEngine

__all__ = [
    "to_bits",
    "from_bits",
    "bnot",
    "bxor",
    "greater_than",
    "less_than_public",
    "equal",
    "mux",
    "all_of",
    "flip_sign_bit",
]

Array = np.ndarray[Any, Any]


def to_bits(values: Any, k: int, *, signed: bool = False) -> Array:
    """Plain integers to a ``(..., k)`` uint8 bit array (LSB first).

    Signed values are read in k-bit two's complement. Range is the caller's
    to check (protocols validate inputs first).
    """
    arr = np.asarray(values, dtype=object)
    if signed:
        arr = arr % (1 << k)
    flat = [int(v) for v in arr.ravel()]
    if k <= 64:
        u = np.asarray(flat, dtype=np.uint64).reshape(arr.shape)
        shifts = np.arange(k, dtype=np.uint64)
        return ((u[..., None] >> shifts) & np.uint64(1)).astype(np.uint8)
    out = np.array([[(v >> i) & 1 for i in range(k)] for v in flat], dtype=np.uint8)
    return out.reshape((*arr.shape, k))


def from_bits(bits: Array, *, signed: bool = False) -> Any:
    """Plain bit arrays (LSB first) back to Python ints (object array)."""
    bits = np.asarray(bits, dtype=np.int64)
    k = bits.shape[-1]
    weights = np.array([1 << i for i in range(k)], dtype=object)
    values = (bits.astype(object) * weights).sum(axis=-1)
    if signed:
        values = np.where(values >= (1 << (k - 1)), values - (1 << k), values)
    return values


def bnot(a: Array) -> Array:
    """NOT of shared bits (local: add the public 1)."""
    return np.bitwise_xor(a, np.uint8(1))


def bxor(a: Array, b: Array) -> Array:
    """XOR of shared bits (local: field addition)."""
    return np.bitwise_xor(a, b)


def flip_sign_bit(x: Array) -> Array:
    """Two's complement to offset binary (x + 2^(k-1)): flip the top bit, so
    unsigned comparison of the results orders the signed values."""
    out = x.copy()
    out[..., -1] ^= np.uint8(1)
    return out


def _pad_pow2(x: Array, fill: int) -> Array:
    k = x.shape[-1]
    size = 1 << max(0, (k - 1).bit_length())
    if size == k:
        return x
    pad = np.full((*x.shape[:-1], size - k), fill, dtype=np.uint8)
    return np.concatenate([x, pad], axis=-1)


async def greater_than(eng: ShamirEngine, x: Array, y: Array, *, signed: bool = False) -> Array:
    """Shared bits of ``x > y`` for shared k-bit integers (shape ``(..., k)``)."""
    _check_engine(eng)
    if signed:
        x, y = flip_sign_bit(x), flip_sign_bit(y)
    # g_i: bit i alone says x > y; e_i: bit i alone says they are equal.
    g = await eng.mul(x, bnot(y))
    e = bnot(bxor(x, y))
    return await _prefix_greater(eng, g, e)


async def _prefix_greater(eng: ShamirEngine, g: Array, e: Array) -> Array:
    """Fold per-bit (greater, equal) pairs from the top bit down, in
    ceil(log2 k) rounds, into the shared bit "greater"."""
    # Pad at the top with "equal" positions so the tree is balanced.
    g, e = _pad_pow2(g, 0), _pad_pow2(e, 1)
    # Combine adjacent (low, high) blocks: the high block decides unless it is
    # equal. G = G_hi XOR (E_hi AND G_lo) (the two terms exclude each other),
    # E = E_hi AND E_lo. Both ANDs go in one round.
    while g.shape[-1] > 1:
        g_lo, g_hi = g[..., 0::2], g[..., 1::2]
        e_lo, e_hi = e[..., 0::2], e[..., 1::2]
        if g.shape[-1] == 2:  # last level: E is not needed any more
            (carry,) = await eng.mul_many([(e_hi, g_lo)])
            g = bxor(g_hi, carry)
            break
        carry, e = await eng.mul_many([(e_hi, g_lo), (e_hi, e_lo)])
        g = bxor(g_hi, carry)
    return g[..., 0]


async def less_than_public(eng: ShamirEngine, x: Array, c: Array) -> Array:
    """Shared bits of ``x < c`` for shared k-bit ``x`` and PUBLIC plain bits
    ``c`` (same shape). With one side public the first AND layer is local,
    so this takes ``ceil(log2 k)`` rounds."""
    _check_engine(eng)
    c = np.asarray(c, dtype=np.uint8)
    g = c * bnot(x)  # c_i AND NOT x_i: c_i is public 0/1, so this selects locally
    return await _prefix_greater(eng, g, bnot(bxor(x, c)))


async def equal(eng: ShamirEngine, x: Array, y: Array) -> Array:
    """Shared bits of ``x == y`` for shared k-bit integers."""
    _check_engine(eng)
    return await all_of(eng, bnot(bxor(x, y)))


async def all_of(eng: ShamirEngine, bits: Array) -> Array:
    """AND of the shared bits along the last axis, in ceil(log2 k) rounds."""
    _check_engine(eng)
    b = _pad_pow2(bits, 1)
    while b.shape[-1] > 1:
        b = await eng.mul(b[..., 0::2], b[..., 1::2])
    return b[..., 0]


async def mux(eng: ShamirEngine, s: Array, a: Array, b: Array) -> Array:
    """``a`` where the shared bit ``s`` is 1, else ``b`` (s broadcasts over
    the trailing bit axis of a and b). One round."""
    _check_engine(eng)
    s_full = np.broadcast_to(s[..., None], a.shape) if s.ndim < a.ndim else s
    return bxor(b, await eng.mul(np.ascontiguousarray(s_full), bxor(a, b)))


def _check_engine(eng: ShamirEngine) -> None:
    if eng.field is not GF256:
        raise TypeError("boolean circuits need a ShamirEngine over GF256")
