"""Secret integers between exactly two parties, as bit-sliced XOR shares
(:mod:`mpcnet.mpc.twoparty`): the two-party face of the toolkit's
:class:`~mpcnet.mpc.SlicedBits` (same methods).

A party's own input is a sharing in which the other party holds zero, so
input costs no round; such a value remembers its ``owner``. A comparison
between one party's value and the other's then runs the millionaires
protocol of :meth:`TwoPartyEngine.millionaires
<mpcnet.mpc.twoparty.TwoPartyEngine.millionaires>` (1-out-of-16 OTs on 4-bit
blocks and a prefix tree: 7 paired AND gates for 32 bits); a comparison of a
party's value with a public one is that party's local computation (its
result is owned by it); any other comparison runs the bit-level circuit of
:mod:`mpcnet.mpc.bitcircuits` on Beaver triples. Rounds (k bits, b =
ceil(k / 4) blocks), whatever the number of elements, after
:meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.prepare`:

===========================================  ==============================
``Runtime.input_xor`` / ``input_bits``       0
``XorBits.lt/le/gt/ge`` (two owners)         2 + ceil(log2 b)  (5 for 32 bits)
``XorBits.eq/ne`` (two owners)               2 + ceil(log2 b)
``lt/.../ne`` (shared operands)              as :class:`SlicedBits`
``XorBits.select``, ``and_``, ``open``       1
``XorBits.max/min/argmax`` (n values)        ceil(log2 n) x (2 + ceil(log2 k))
``XorBits.to_ring`` (B2A)                    2; 0 for a value one party owns
``SecretRing.to_bits`` (A2B)                 1 + ceil(log2 k)
===========================================  ==============================

Security: semi-honest, one of the two parties (:mod:`mpcnet.mpc.twoparty`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LocalProtocolViolation
from . import bitcircuits
from .bitslice import from_lanes, lanes, pack, unpack, words_for
from .value import ComparableSecret

if TYPE_CHECKING:
    from .runtime import Runtime
    from .secring import SecretRing

__all__ = ["XorBits", "input_xor"]

Array = np.ndarray[Any, Any]
BITS = "bits"


class XorBits(ComparableSecret):
    """Secret ``k``-bit integers of any numpy ``shape`` (two's complement when
    ``signed``) as ``k`` bit planes of two-party XOR shares, 64 values per
    word. ``owner`` is the party that knows the values in the clear (its
    share is the value, the other's zero), or None."""

    def __init__(self, rt: Runtime, shares: Array, k: int, signed: bool, shape: tuple[int, ...],
                 owner: str | None = None) -> None:
        if shares.shape != (k, words_for(int(np.prod(shape)))):
            raise LocalProtocolViolation(f"{k}-bit XOR shares of {shape} values have shape ({k}, words)")
        self.rt, self.shares, self.k, self.signed, self.shape, self.owner = rt, shares, k, signed, tuple(shape), owner

    def __repr__(self) -> str:
        return f"XorBits(shape={self.shape}, k={self.k}, signed={self.signed}, owner={self.owner!r})"

    def _new(self, shares: Array, k: int | None = None, signed: bool | None = None,
             owner: str | None = None) -> XorBits:
        return XorBits(self.rt, shares, self.k if k is None else k, self.signed if signed is None else signed,
                       self.shape, owner)

    def _public(self, other: Any) -> Array:
        if isinstance(other, bool) or not isinstance(other, (int, np.integer, np.ndarray, list)):
            raise TypeError("an XorBits mixes with XorBits values and public integers only")
        return np.broadcast_to(np.asarray(other), self.shape)

    def _other(self, other: Any) -> XorBits:
        """``other`` as a value of this one's kind (a public array as a constant sharing)."""
        if isinstance(other, XorBits):
            if other.rt is not self.rt:
                raise LocalProtocolViolation("secret values of different runtimes do not mix")
            if (other.k, other.signed, other.shape) != (self.k, self.signed, self.shape):
                raise LocalProtocolViolation("XOR-shared values of different widths, signedness or shapes do not mix")
            return other
        return self._new(self.rt.two_party_engine.public(pack(self._public(other), self.k), BITS))

    def plain(self) -> Array:
        """At the owner: the values as unsigned k-bit words in the order of
        unsigned comparison (what :meth:`TwoPartyEngine.millionaires
        <mpcnet.mpc.twoparty.TwoPartyEngine.millionaires>` takes)."""
        values = unpack(self.shares, int(np.prod(self.shape)))
        if self.signed:
            values ^= np.uint64(1 << (self.k - 1))
        return values

    # -- local ----------------------------------------------------------------------

    def __xor__(self, other: Any) -> XorBits:
        o = self._other(other)
        # Two values of one owner XOR to its value; anything else is a shared value.
        return self._new(self.shares ^ o.shares, owner=self.owner if o.owner == self.owner else None)

    __rxor__ = __xor__

    def __invert__(self) -> XorBits:
        return self._new(self.rt.two_party_engine.invert(self.shares))

    # -- rounds ---------------------------------------------------------------------

    async def _compare(self, other: Any, op: str) -> XorBits:
        eng = self.rt.two_party_engine
        if not isinstance(other, XorBits) and self.owner is not None:
            return self._local_compare(self._public(other), op)
        o = self._other(other)
        if self.owner is not None and o.owner is not None and self.owner != o.owner:
            return await self._millionaires(o, op)
        out = await bitcircuits.compare(eng, self.shares, o.shares, op, signed=self.signed)
        return self._new(out, 1, False)

    def _local_compare(self, public: Array, op: str) -> XorBits:
        """The owner compares its own values with public ones; the result is its own (no round)."""
        me = self.rt.ctx.me
        count = int(np.prod(self.shape))
        if self.owner != me:
            return self._new(np.zeros((1, words_for(count)), dtype=np.uint64), 1, False, self.owner)
        mine = unpack(self.shares, count, signed=self.signed).reshape(self.shape)
        result = getattr(np, {"lt": "less", "le": "less_equal", "gt": "greater", "ge": "greater_equal",
                              "eq": "equal", "ne": "not_equal"}[op])(mine, public.astype(mine.dtype))
        return self._new(pack(result.astype(np.uint64), 1), 1, False, self.owner)

    async def _millionaires(self, o: XorBits, op: str) -> XorBits:
        eng = self.rt.two_party_engine
        count = int(np.prod(self.shape))
        # lt/ge: [self < o], offered by self's owner; gt/le: [o < self], offered by o's owner.
        first, second = (self, o) if op in ("lt", "ge", "eq", "ne") else (o, self)
        assert first.owner is not None
        me = self.rt.ctx.me
        mine = first.plain() if first.owner == me else second.plain()
        g, e = await eng.millionaires(first.owner, mine, count, self.k)
        if op in ("eq", "ne"):
            while e.shape[0] > 1:
                n = e.shape[0]
                both = await eng.and_(e[0:2 * (n // 2):2], e[1:2 * (n // 2):2])
                e = np.concatenate([both, e[n - 1:n]]) if n % 2 else both
            out = e
        else:
            out = await bitcircuits.prefix_top(eng, g, e)
        if op in ("le", "ge", "ne"):
            out = eng.invert(out)
        return self._new(out, 1, False)

    async def and_(self, other: Any) -> XorBits:
        """Bitwise AND (one round); a 1-bit ``self`` ANDs every bit of a wider ``other``."""
        o = other if isinstance(other, XorBits) and self.k == 1 else self._other(other)
        return o._new(await self.rt.two_party_engine.and_(self.shares, o.shares))

    async def select(self, a: XorBits, b: Any) -> XorBits:
        """For a 1-bit ``self``: ``a`` where it is 1, else ``b`` (one round)."""
        if self.k != 1:
            raise LocalProtocolViolation("select needs a 1-bit condition")
        bb = a._other(b)
        return a._new(await bitcircuits.select(self.rt.two_party_engine, self.shares, a.shares, bb.shares))

    async def max(self, axis: int = -1) -> XorBits:
        """The largest value along ``axis``: a tournament, each level one
        batched comparison and one selection (the rounds of
        :meth:`SlicedBits.max <mpcnet.mpc.SlicedBits.max>`:
        ceil(log2 n) x (2 + ceil(log2 k)), with triples made beforehand)."""
        return (await self._tournament(axis, largest=True, want_index=False))[1]

    async def min(self, axis: int = -1) -> XorBits:
        """The smallest value along ``axis``, as :meth:`max`."""
        return (await self._tournament(axis, largest=False, want_index=False))[1]

    async def argmax(self, axis: int = -1) -> tuple[XorBits, XorBits]:
        """(index, value) of the largest value along ``axis``, the first one on
        ties; the index is unsigned, of ``ceil(log2 n)`` bits (at least 1)."""
        return await self._tournament(axis, largest=True, want_index=True)

    async def _tournament(self, axis: int, *, largest: bool, want_index: bool) -> tuple[XorBits, XorBits]:
        if not self.shape:
            raise LocalProtocolViolation("the maximum needs an axis")
        eng = self.rt.two_party_engine
        axis %= len(self.shape)
        n = self.shape[axis]
        if n == 0:
            raise LocalProtocolViolation("the maximum of no values")
        rest = self.shape[:axis] + self.shape[axis + 1:]
        r = int(np.prod(rest))
        # Lanes (bytes, one per bit: XOR sharings move lane by lane), the axis first: (k, n, r).
        best = np.moveaxis(lanes(self.shares, int(np.prod(self.shape))).reshape((self.k, *self.shape)),
                           1 + axis, 1).reshape(self.k, n, r)
        ki = max(1, (n - 1).bit_length())
        index = ((np.arange(n)[None, :, None] >> np.arange(ki)[:, None, None]) & 1).astype(np.uint8)
        # The public indices as a sharing: P0 holds them, P1 zeros.
        idx = np.broadcast_to(index if eng.index == 0 else np.zeros_like(index), (ki, n, r))
        while best.shape[1] > 1:
            half = best.shape[1] // 2
            a, b = best[:, 0:2 * half:2], best[:, 1:2 * half:2]
            va, vb = (XorBits(self.rt, from_lanes(v.reshape(self.k, -1)), self.k, self.signed, (half * r,))
                      for v in (a, b))
            # take b when it is strictly better: ties keep the earlier element
            take_b = await (vb.gt(va) if largest else va.gt(vb))
            if want_index:  # one selection round for the values and the indices
                a = np.concatenate([a, idx[:, 0:2 * half:2]])
                b = np.concatenate([b, idx[:, 1:2 * half:2]])
            both = await bitcircuits.select(eng, take_b.shares, from_lanes(b.reshape(b.shape[0], -1)),
                                            from_lanes(a.reshape(a.shape[0], -1)))
            chosen = lanes(both, half * r).reshape(-1, half, r)
            odd = best.shape[1] % 2
            best = np.concatenate([chosen[:self.k], best[:, 2 * half:]], axis=1) if odd else chosen[:self.k]
            if want_index:
                idx = np.concatenate([chosen[self.k:], idx[:, 2 * half:]], axis=1) if odd else chosen[self.k:]
        value = XorBits(self.rt, from_lanes(best.reshape(self.k, r)), self.k, self.signed, rest)
        where = XorBits(self.rt, from_lanes(np.ascontiguousarray(idx[:, 0])), ki, False, rest)
        return where, value

    async def to_ring(self) -> SecretRing:
        """Two rounds (B2A): the values as a :class:`~mpcnet.mpc.SecretRing`
        (additive shares mod 2^64, range that of k-bit integers), by one
        correlated OT per bit (:meth:`TwoPartyEngine.from_bits
        <mpcnet.mpc.twoparty.TwoPartyEngine.from_bits>`). A value one party
        owns converts locally (no round): the owner's share is its value, the
        other's zero. Unsigned 64-bit values do not fit SecretRing's signed
        range and are refused."""
        from .runtime import int_bounds
        from .secring import RING_LIMIT, SecretRing

        lo, hi = int_bounds(self.k, self.signed)
        if hi >= RING_LIMIT:
            raise LocalProtocolViolation("unsigned 64-bit values do not fit a SecretRing (signed 64-bit)")
        count = int(np.prod(self.shape))
        if self.owner is not None:
            mine = unpack(self.shares, count, signed=self.signed).view(np.uint64)
            ring = mine if self.owner == self.rt.ctx.me else np.zeros(count, dtype=np.uint64)
        else:
            ring = await self.rt.two_party_engine.from_bits(self.shares, count, signed=self.signed)
        return SecretRing(self.rt, ring.reshape(self.shape), lo, hi)

    async def open(self, to: Iterable[str] | None = None) -> Array | None:
        """One round: the values (int64, or uint64 for unsigned 64-bit) at the
        parties in ``to`` (default: both), None elsewhere."""
        receivers = list(self.rt.ctx.parties if to is None else to)
        planes = await self.rt.two_party_engine.open(self.shares, BITS, receivers)
        if planes is None:
            return None
        values = unpack(planes, int(np.prod(self.shape)), signed=self.signed)
        if not (self.k == 64 and not self.signed):
            values = values.astype(np.int64)
        return values.reshape(self.shape)

    async def reveal(self) -> Array:
        """:meth:`open` to both parties."""
        out = await self.open()
        assert out is not None
        return out


def input_xor(rt: Runtime, owners: Mapping[str, tuple[int, ...]], values: Array | None, k: int,
              signed: bool) -> dict[str, XorBits]:
    """No round: each owner's checked integers ``values`` (of its declared
    shape), bit-sliced, as a sharing whose other share is zero."""
    eng = rt.two_party_engine
    out = {}
    for p, shape in owners.items():
        count = int(np.prod(shape))
        planes = pack(values, k) if p == rt.ctx.me and values is not None else None
        out[p] = XorBits(rt, eng.private(p, planes, (k, words_for(count))), k, signed, tuple(shape), owner=p)
    return out
