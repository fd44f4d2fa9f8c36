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

Values an input party knows in the clear can enter in a second form, one-hot
blocks (:func:`to_onehot`): the k bits are cut into ``ceil(k/4)`` blocks of
at most :data:`ONEHOT_BLOCK_BITS` bits and each block is shared as the 2^w
indicators ``[block == v]``. Comparing two
such values block by block is then an inner product — ``[x_b == y_b] =
sum_v [x_b = v][y_b = v]`` and ``[x_b > y_b] = sum_v [x_b = v][y_b < v]``,
where ``[y_b < v]`` is a prefix XOR of y's indicators (at most one term of
each sum is non-zero, so the field's XOR is the integer sum) — and an inner
product costs one reduction round whatever its length. So
:func:`greater_than_onehot` takes ``1 + ceil(log2 ceil(k/4))`` rounds (4 for
32-bit values, 5 for 64-bit) against ``1 + ceil(log2 k)`` (6 and 7) from
bits, at the price of ``sum 2^w`` shared elements per value instead of k
(128 for 32 bits) and as many local multiplications per comparison. It suits
few values compared many times (an auction's all-pairs step); bits suit
large batches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .fields import GF256, Field
from .shamir import ShamirEngine

__all__ = [
    "to_bits",
    "to_onehot",
    "ONEHOT_BLOCK_BITS",
    "onehot_blocks",
    "onehot_size",
    "bits_from_onehot",
    "greater_than_onehot",
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
        # (a 0-d object array's % gives a plain int: wrap it back)
        arr = np.asarray(arr % (1 << k), dtype=object)
    flat = [int(v) for v in arr.ravel()]
    if k <= 64:
        # The little-endian bytes unpacked LSB first: one uint8 per bit,
        # without the (n, k) uint64 shifts (8x the memory) this replaced.
        u = np.asarray(flat, dtype="<u8").reshape(-1)
        bits = np.unpackbits(u.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
        return np.ascontiguousarray(bits[:, :k]).reshape((*arr.shape, k))
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


#: The widest block of the one-hot form. 8-bit blocks would save one round
#: for 32-bit values (2 prefix levels over 4 blocks instead of 3 over 8) but
#: share 8x as many elements and do 8x the local multiplications; measured
#: with 20 bids on 2 cores, that costs more than the round it saves.
ONEHOT_BLOCK_BITS = 4


def onehot_blocks(k: int) -> list[tuple[int, int, int]]:
    """How a k-bit value is cut for the one-hot form: ``(bit offset, width,
    offset in the one-hot vector)`` per block, least significant first;
    ``ceil(k / ONEHOT_BLOCK_BITS)`` blocks of nearly equal width (so 6 bits
    are 3 + 3, 16 indicators, not 4 + 2, 20)."""
    if not 1 <= k <= 64:
        raise ValueError("one-hot blocks are for 1..64-bit values")
    count = -(-k // ONEHOT_BLOCK_BITS)
    base, extra = divmod(k, count)
    out, bit, pos = [], 0, 0
    for i in range(count):
        width = base + (1 if i < extra else 0)
        out.append((bit, width, pos))
        bit += width
        pos += 1 << width
    return out


def onehot_size(k: int) -> int:
    """Shared elements per value in the one-hot form (128 for k = 32)."""
    return sum(1 << w for _, w, _ in onehot_blocks(k))


def to_onehot(values: Any, k: int) -> Array:
    """Plain unsigned k-bit integers to their one-hot blocks: a ``(...,
    onehot_size(k))`` uint8 array with one 1 per block (the indicator of that
    block's value). What an input party shares for
    :func:`greater_than_onehot`."""
    arr = np.asarray(values, dtype=object)
    ints = [int(v) for v in arr.ravel()]
    if ints and (min(ints) < 0 or max(ints) >= 1 << k):
        raise ValueError(f"one-hot encoding takes unsigned {k}-bit values")
    u = np.asarray(ints, dtype=np.uint64)
    out = np.zeros((*arr.shape, onehot_size(k)), dtype=np.uint8)
    rows_view = out.reshape(-1, out.shape[-1])
    rows = np.arange(rows_view.shape[0])
    for bit, width, pos in onehot_blocks(k):
        block = ((u >> np.uint64(bit)) & np.uint64((1 << width) - 1)).astype(np.intp)
        rows_view[rows, pos + block] = 1
    return out


def bits_from_onehot(x: Array, k: int, field: Field = GF256) -> Array:
    """Shares ``(..., k)`` of the bits (LSB first) of shared one-hot blocks
    (local: bit j of a block is the sum of the indicators of the block values
    that have bit j set; at most one of them is 1)."""
    parts = []
    for _, width, pos in onehot_blocks(k):
        block = x[..., pos : pos + (1 << width)]
        # for each bit j, the 2^(w-1) block values with bit j set
        having = np.array([[v for v in range(1 << width) if v >> j & 1] for j in range(width)])  # (w, 2^(w-1))
        parts.append(field.sum(block[..., having], axis=-1))
    return np.concatenate(parts, axis=-1)


async def greater_than_onehot(eng: ShamirEngine, x: Array, y: Array, k: int, *, masks: int = 0,
                              randoms: int = 0) -> Array:
    """Shared ``[x > y]`` (0 or 1) for shared one-hot k-bit values (shape
    ``(..., onehot_size(k))``, see :func:`to_onehot`), in
    ``1 + ceil(log2 ceil(k/4))`` rounds. Works over any field of the engine
    (in GF(2^8) the result is a shared bit; in a prime field a shared 0/1
    that adds up as an integer). ``masks`` and ``randoms`` are passed to the
    first reduction round (see :meth:`ShamirEngine.reduce_many`)."""
    f = eng.field
    size = onehot_size(k)
    if x.shape[-1] != size or y.shape[-1] != size:
        raise ValueError(f"one-hot {k}-bit values have {size} elements in the last axis")
    blocks = onehot_blocks(k)
    # [y_b < v] for every block value v: exclusive prefix sum of y's indicators.
    y_below = f.zeros(y.shape)
    for _, width, pos in blocks:
        y_below[..., pos + 1 : pos + (1 << width)] = f.cumsum(y[..., pos : pos + (1 << width) - 1], axis=-1)
    # Per block, the local inner products (degree-2t shares), reduced together.
    eq_prod, gt_prod = f.mul(x, y), f.mul(x, y_below)
    eq_wide = np.stack([f.sum(eq_prod[..., pos : pos + (1 << w)], axis=-1) for _, w, pos in blocks], axis=-1)
    gt_wide = np.stack([f.sum(gt_prod[..., pos : pos + (1 << w)], axis=-1) for _, w, pos in blocks], axis=-1)
    e, g = await eng.reduce_many([eq_wide, gt_wide], masks=masks, randoms=randoms)
    return await _prefix_greater(eng, g, e)


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
    pad = np.full((*x.shape[:-1], size - k), fill, dtype=x.dtype)
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
    ceil(log2 k) rounds, into the shared bit "greater" (any field: the two
    terms of each sum exclude each other, so XOR and + agree)."""
    add = eng.field.add
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
            g = add(g_hi, carry)
            break
        carry, e = await eng.mul_many([(e_hi, g_lo), (e_hi, e_lo)])
        g = add(g_hi, carry)
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
