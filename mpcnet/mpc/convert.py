"""Random sharings and conversions between arithmetic and binary shares.

Arithmetic lives in a prime field (``eng_p``, e.g. over :data:`~mpcnet.mpc.fields.P127`),
bits in GF(2^8) (``eng_b``); both engines must have the same compute parties.

* :func:`random_elements` — uniform shared field elements (1 round).
* :func:`dabits` — "doubly authenticated" random bits: the same uniform bit
  shared in both fields. The first ``t + 1`` compute parties each deal a
  random bit in both fields (1 round); the bit is their XOR: free in GF(2^8),
  and ``a + b - 2ab`` in Z_p, folded as a tree (``ceil(log2(t+1))`` rounds).
  Any ``t + 1`` parties include an honest one, whose bit makes the XOR uniform.
* :func:`bit_decompose` — shared ``x`` with ``0 <= x < 2^k`` to its k shared
  bits: mask with ``r = sum 2^j r_j + 2^k r_hi`` (daBits ``r_j``, a random
  ``r_hi`` of ``kappa`` bits per contributor), open ``c = x + r`` (it hides x
  up to statistical distance about 2^-kappa), then ``x = c - r mod 2^k`` with a
  binary subtraction whose carries come from a log-depth parallel prefix
  (Kogge-Stone). The method follows Catrina and de Hoogh, "Improved primitives
  for secure multiparty integer computation" (SCN 2010). Rounds:
  ``1 + ceil(log2(t+1))`` (masks, can overlap other work) + 1 + ``ceil(log2 k)``.
* :func:`bits_to_field` — a GF(2^8) bit to Z_p with one daBit and one opening.
* :func:`less_than` — ``[x < y]`` for arithmetic shares of k-bit signed values,
  as the top bit of ``x - y + 2^k``.

How many bits fit (the one statement of it; :func:`bit_decompose` enforces
it, and other modules link here): the masked value ``x + r`` must not wrap
the prime, so :func:`bit_decompose` takes k bits only while (:func:`max_decompose_bits`)
``k + kappa + bitlen(t + 1) + 2 < bitlen(p)``. With :data:`~mpcnet.mpc.fields.P127`
(127 bits) and kappa = :data:`STATISTICAL_SECURITY` = 40 that is
``k <= 84 - bitlen(t + 1)``: k up to 82 for t <= 2 (up to 5 compute
parties), 81 for t <= 6, 80 for t <= 14, 79 for t <= 30, down to 76 at
the 255-party limit. :func:`less_than` decomposes the (k+1)-bit
difference, so signed k-bit comparisons get one bit less (81 for t <= 2).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, LocalProtocolViolation, RemoteProtocolViolation
from .binary import bnot, bxor, to_bits
from .fields import Field
from .repfield import ReplicatedFieldEngine
from .shamir import ShamirEngine

__all__ = ["random_elements", "random_bits", "dabits", "bit_decompose", "bits_to_field", "less_than", "max_decompose_bits",
           "STATISTICAL_SECURITY"]

Array = np.ndarray[Any, Any]

#: Bits of statistical security in masked openings (the mask's excess length).
STATISTICAL_SECURITY = 40


def _check_pair(eng_p: ShamirEngine, eng_b: ShamirEngine) -> None:
    if eng_p.compute != eng_b.compute or eng_p.t != eng_b.t:
        raise LocalProtocolViolation("the arithmetic and binary engines must have the same compute parties")
    if not eng_p.is_compute:
        raise LocalProtocolViolation("conversions are for compute parties only")


async def _contribute(eng: ShamirEngine, items: list[tuple[ShamirEngine, Array | None]]) -> list[list[Array]]:
    """One round: each of the first t+1 compute parties deals one array per
    ``(engine, array)`` item; returns, per item, the shares received from
    each contributor (in contributor order)."""
    ctx = eng.ctx
    contributors = eng.compute[: eng.t + 1]
    outgoing: dict[str, list[Any]] = {p: [] for p in eng.compute if p != ctx.me}
    own: list[Array] = []
    if ctx.me in contributors:
        for e, arr in items:
            assert arr is not None
            dealt = e.deal(arr)
            for i, p in enumerate(e.compute):
                if p == ctx.me:
                    own.append(dealt[i])
                else:
                    outgoing[p].append(e.field.to_wire(dealt[i]))
    sending = {p: v for p, v in outgoing.items() if v}
    got = await ctx.exchange(sending, expect_from=[p for p in contributors if p != ctx.me])
    shapes = [np.shape(arr) if arr is not None else None for _, arr in items]
    out: list[list[Array]] = [[] for _ in items]
    for p in contributors:
        for j, (e, _) in enumerate(items):
            if p == ctx.me:
                out[j].append(own[j])
            else:
                parts = got[p]
                if not isinstance(parts, list) or len(parts) != len(items):
                    raise RemoteProtocolViolation("malformed random contribution", peer=p)
                out[j].append(e.field.from_wire(parts[j], shapes[j] or e._wire_shape(parts[j], None, p), p))
    return out


async def random_bits(eng_b: ShamirEngine, shape: tuple[int, ...]) -> Array:
    """Shares of uniformly random bits in GF(2^8) (1 round): the XOR of one
    random bit from each of the first t+1 compute parties. On the
    replicated engine: no message (:meth:`ReplicatedFieldEngine.random_bits`)."""
    if isinstance(eng_b, ReplicatedFieldEngine):
        return eng_b.random_bits(shape)
    size = int(np.prod(shape, dtype=np.int64))
    mine = (np.frombuffer(eng_b.ctx.random.bytes(size), dtype=np.uint8) & 1).reshape(shape)
    (parts,) = await _contribute(eng_b, [(eng_b, mine)])
    total = parts[0]
    for p in parts[1:]:
        total = bxor(total, p)
    return total


async def random_elements(eng: ShamirEngine, shape: tuple[int, ...]) -> Array:
    """Shares of uniformly random field elements of the given shape (1 round;
    on the replicated engine no message: :meth:`ReplicatedFieldEngine.random_elements`)."""
    if isinstance(eng, ReplicatedFieldEngine):
        return eng.random_elements(shape)
    mine = eng.field.random(int(np.prod(shape, dtype=np.int64)), eng.ctx.random).reshape(shape)
    (parts,) = await _contribute(eng, [(eng, mine)])
    total = parts[0]
    for p in parts[1:]:
        total = eng.add(total, p)
    return total


async def dabits(eng_p: ShamirEngine, eng_b: ShamirEngine, shape: tuple[int, ...],
                 extra: list[tuple[ShamirEngine, Array]] | None = None) -> tuple[Array, Array, list[list[Array]]]:
    """Shares of the same uniform random bits in Z_p and in GF(2^8).

    ``extra`` items are dealt in the same round (used for masks); their
    per-contributor shares are returned third.
    """
    _check_pair(eng_p, eng_b)
    size = int(np.prod(shape, dtype=np.int64))
    bits = (np.frombuffer(eng_p.ctx.random.bytes(size), dtype=np.uint8) & 1).reshape(shape)
    items: list[tuple[ShamirEngine, Array | None]] = [
        (eng_p, eng_p.field.from_ints(bits.astype(np.int64))), (eng_b, bits.copy())]
    items += [(e, a) for e, a in (extra or [])]
    dealt = await _contribute(eng_p, items)
    in_p, in_b = dealt[0], dealt[1]
    bit_b = in_b[0]
    for b in in_b[1:]:
        bit_b = bxor(bit_b, b)
    # XOR in Z_p: a + b - 2ab, a tree over the contributors' bits.
    layer = in_p
    while len(layer) > 1:
        pairs = [(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        products = await eng_p.mul_many(pairs)
        nxt = [eng_p.sub(eng_p.add(a, b), eng_p.scale(2, ab)) for (a, b), ab in zip(pairs, products, strict=True)]
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
    return layer[0], bit_b, dealt[2:]


def max_decompose_bits(field: Field, t: int, kappa: int = STATISTICAL_SECURITY) -> int:
    """The largest k :func:`bit_decompose` takes at threshold ``t``: the
    masked value must not wrap the prime (see the module docstring)."""
    return field.order.bit_length() - kappa - (t + 1).bit_length() - 3


async def bit_decompose(eng_p: ShamirEngine, eng_b: ShamirEngine, x: Array, k: int, *,
                        signed: bool = False, kappa: int = STATISTICAL_SECURITY) -> Array:
    """Shared bits (GF(2^8), shape ``x.shape + (k,)``, LSB first) of shared
    ``x``: ``0 <= x < 2^k``, or ``-2^(k-1) <= x < 2^(k-1)`` when ``signed``
    (then the bits are k-bit two's complement)."""
    _check_pair(eng_p, eng_b)
    field = eng_p.field
    if not 1 <= k <= max_decompose_bits(field, eng_p.t, kappa):
        raise ConfigError(f"{field.name} is too small to decompose {k}-bit values with {kappa} bits of "
                          "statistical security")
    shape = np.shape(x)
    if signed:
        x = eng_p.add_public(x, 1 << (k - 1))
    hi = field.random(int(np.prod(shape, dtype=np.int64)), eng_p.ctx.random).reshape(shape)
    hi = field.from_ints(np.asarray(hi, dtype=object) % (1 << kappa))
    r_p, r_b, (hi_parts,) = await dabits(eng_p, eng_b, (*shape, k), extra=[(eng_p, hi)])
    weights = [1 << j for j in range(k)]
    mask = field.zeros(shape)
    for j in range(k):
        mask = eng_p.add(mask, eng_p.scale(weights[j], r_p[..., j]))
    for part in hi_parts:
        mask = eng_p.add(mask, eng_p.scale(1 << k, part))
    c = await eng_p.open(eng_p.add(x, mask), to=eng_p.compute)  # (input-only parties take no part)
    assert c is not None
    c_bits = to_bits(np.asarray(c, dtype=object) % (1 << k), k)
    out = await _subtract_public_minus_shared(eng_b, c_bits, r_b)
    if signed:
        out[..., -1] ^= np.uint8(1)
    return out


async def _subtract_public_minus_shared(eng_b: ShamirEngine, c: Array, r: Array) -> Array:
    """Shared bits of (c - r) mod 2^k for public bits c and shared bits r:
    c + NOT r + 1, carries by a Kogge-Stone prefix over (generate, propagate)."""
    y = bnot(r)
    g = c * y  # c is public 0/1: AND with it is local (0 or the share itself)
    p = bxor(y, c)
    # carry-in 1: position 0 generates when g_0 or p_0
    g = g.copy()
    g[..., 0] = bxor(g[..., 0], p[..., 0])
    big_g, big_p = g, p.copy()
    # Nothing lies below position 0, so it never propagates; zero keeps
    # "generate" and "propagate" exclusive, which the XOR combine relies on.
    big_p[..., 0] = 0
    k = c.shape[-1]
    d = 1
    while d < k:
        hi_g, hi_p = big_g[..., d:], big_p[..., d:]
        lo_g, lo_p = big_g[..., :-d], big_p[..., :-d]
        carry, prop = await eng_b.mul_many([(hi_p, lo_g), (hi_p, lo_p)])
        big_g = np.concatenate([big_g[..., :d], bxor(hi_g, carry)], axis=-1)
        big_p = np.concatenate([big_p[..., :d], prop], axis=-1)
        d *= 2
    out = p.copy()
    out[..., 0] = bnot(p[..., 0])
    out[..., 1:] = bxor(p[..., 1:], big_g[..., :-1])
    return out


async def bits_to_field(eng_p: ShamirEngine, eng_b: ShamirEngine, b: Array) -> Array:
    """A shared GF(2^8) bit as a shared Z_p element (0 or 1)."""
    r_p, r_b, _ = await dabits(eng_p, eng_b, np.shape(b))
    c = await eng_b.open(bxor(b, r_b), to=eng_b.compute)
    assert c is not None
    c_p = eng_p.field.from_ints(np.asarray(c, dtype=np.int64))
    # b = c XOR r = c + r - 2cr, with c public
    return eng_p.sub(eng_p.add(r_p, c_p), eng_p.field.mul(eng_p.scale(2, c_p), r_p))


async def less_than(eng_p: ShamirEngine, eng_b: ShamirEngine, x: Array, y: Array, k: int) -> Array:
    """Shared GF(2^8) bits of ``x < y`` for arithmetic shares of signed k-bit values."""
    diff = eng_p.add_public(eng_p.sub(x, y), 1 << k)  # in [1, 2^(k+1)): top bit set iff x >= y
    bits = await bit_decompose(eng_p, eng_b, diff, k + 1)
    return bnot(bits[..., k])
