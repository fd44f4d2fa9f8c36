"""Secret integers additively shared over Z_(2^64) (:mod:`mpcnet.mpc.arith`):
for sums, private against all but one holder (the rounds: :mod:`mpcnet.mpc`).

With exactly two parties, both computing (``Runtime.two_party``), the
two-party engine (:mod:`mpcnet.mpc.twoparty`) adds products of two secrets
and conversions to and from bit-sliced XOR shares (:class:`~mpcnet.mpc.XorBits`),
hence comparisons. Rounds, whatever the number of elements (k the bit length
of the value's range, :meth:`SecretRing.bits`), after the OT setup (one round,
the first time the engine needs OTs, or ``two_party_engine.prepare()``):

==========================================  ==================================
``SecretRing.mul`` (two secrets)            2 (Gilboa: 128 correlated OTs per
                                            product, 64 each way)
``SecretRing.to_bits`` (A2B)                1 + ceil(log2 k)
``XorBits.to_ring`` (B2A)                   2 (k correlated OTs per value);
                                            0 for a value one party owns
``SecretRing.lt/le/gt/ge``                  1 + ceil(log2 k) (the sign of the
                                            difference, k its bit length)
``SecretRing.eq/ne``                        1 + 2 ceil(log2 k)
``fixed2p.own_ring`` (one party's value)    0
``fixed2p.matmul`` (x @ w)                  2 (vector correlated OTs, one
                                            per bit of each element of the
                                            chooser's share; 0 when x and w
                                            have one owner)
``fixed2p.trunc`` (exact, k-bit guarantee)  1 + ceil(log2 k) + 2
``fixed2p.relu_trunc``                      1 + ceil(log2 k) + 3
``fixed2p.argmax`` (n values)               1 + ceil(log2 k) +
                                            ceil(log2 n) (2 + ceil(log2 k))
==========================================  ==================================

(:mod:`mpcnet.mpc.fixed2p`: with bit triples made beforehand by
``prepare(**fixed2p.triples(...))``; an owned value truncates locally.)

Security of these: semi-honest, one of the two parties (as
:mod:`mpcnet.mpc.twoparty`): a party receives only OT messages and Beaver
openings masked by pads and triples uniformly random to it; nothing is
revealed but what is opened.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, LocalProtocolViolation
from .arith import additive_share, from_ring_signed, to_ring
from .receive import Expect, exchange
from .value import SecretValue

if TYPE_CHECKING:
    from .runtime import Runtime, Shape
    from .secxor import XorBits
    from .twoparty import TwoPartyEngine

__all__ = ["SecretRing", "input_ring"]

Array = np.ndarray[Any, Any]
RING_LIMIT = 1 << 63


class SecretRing(SecretValue):
    """Secret signed integers (any numpy shape) as additive shares mod 2^64
    held by the runtime's compute parties: any c - 1 of them together learn
    nothing. Linear work is local; with exactly two parties, both computing,
    :meth:`mul`, :meth:`to_bits` and the comparisons run on the two-party
    engine (the table in :mod:`mpcnet.mpc.secring`). ``lo``/``hi`` bound the
    values; an operation whose range could leave [-2^63, 2^63) is refused,
    so an opened sum or product never wraps.

    ``owner`` (two parties): the compute party that knows the values in the
    clear, its share being the value and the other's zero
    (:func:`mpcnet.mpc.fixed2p.own_ring`), or None. Local operations that
    keep one owner keep it (a public constant is then added to the owner's
    share); anything else drops it. The two-party matrix product
    (:func:`mpcnet.mpc.fixed2p.matmul`) uses it to skip the cross terms
    with a zero share and to choose with only the bits of the value's range."""

    def __init__(self, rt: Runtime, shares: Array | None, lo: int, hi: int, owner: str | None = None) -> None:
        if lo < -RING_LIMIT or hi >= RING_LIMIT:
            raise LocalProtocolViolation("the result could wrap around 2^64: declare fewer bits")
        self.rt = rt
        self.shares = None if shares is None else np.asarray(shares, dtype=np.uint64)
        self.lo, self.hi = lo, hi
        self.owner = owner

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The element shape (None where this party holds no shares)."""
        return None if self.shares is None else tuple(self.shares.shape)

    def _other(self, other: Any) -> tuple[Array | None, int, int, str | None]:
        """(shares, lo, hi, owner) of ``other``: a public value is held by
        this value's owner if it has one, else by the first compute party
        (its owner is then this value's: a public constant keeps the owner)."""
        if isinstance(other, SecretRing):
            return other.shares, other.lo, other.hi, other.owner
        if not isinstance(other, (int, np.integer, np.ndarray, list)) or isinstance(other, bool):
            raise TypeError("a SecretRing mixes with SecretRing values and public integers only")
        arr = np.asarray(other, dtype=np.int64)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        holder = self.rt.compute[0] if self.owner is None else self.owner
        mine = to_ring(arr) if self.rt.ctx.me == holder else np.zeros(arr.shape, dtype=np.uint64)
        return mine, lo, hi, self.owner

    def __add__(self, other: Any) -> SecretRing:
        shares, lo, hi, owner = self._other(other)
        out = None if self.shares is None or shares is None else _wrap(np.add, self.shares, shares)
        return SecretRing(self.rt, out, self.lo + lo, self.hi + hi, self.owner if owner == self.owner else None)

    __radd__ = __add__

    def __neg__(self) -> SecretRing:
        out = None if self.shares is None else _wrap(np.subtract, np.zeros_like(self.shares), self.shares)
        return SecretRing(self.rt, out, -self.hi, -self.lo, self.owner)

    def __sub__(self, other: Any) -> SecretRing:
        shares, lo, hi, owner = self._other(other)
        out = None if self.shares is None or shares is None else _wrap(np.subtract, self.shares, shares)
        return SecretRing(self.rt, out, self.lo - hi, self.hi - lo, self.owner if owner == self.owner else None)

    def __rsub__(self, other: Any) -> SecretRing:
        result: SecretRing = (-self) + other
        return result

    def __mul__(self, other: Any) -> SecretRing:
        if isinstance(other, SecretRing):
            raise TypeError("a product of two secrets costs rounds: 'await x.mul(y)' (two parties), "
                            "or SecretInt (Shamir) for more")
        c = np.asarray(other, dtype=np.int64)
        corners = [x * int(v) for x in (self.lo, self.hi) for v in ((c.min(), c.max()) if c.size else (0,))]
        out = None if self.shares is None else _wrap(np.multiply, self.shares, to_ring(c))
        return SecretRing(self.rt, out, min(corners), max(corners), self.owner)

    __rmul__ = __mul__

    def __getitem__(self, index: Any) -> SecretRing:
        return SecretRing(self.rt, None if self.shares is None else self.shares[index], self.lo, self.hi, self.owner)

    def reshape(self, *shape: Any) -> SecretRing:
        """The same elements in another shape; local."""
        return SecretRing(self.rt, None if self.shares is None else self.shares.reshape(*shape), self.lo, self.hi,
                          self.owner)

    def sum(self, axis: int | None = None) -> SecretRing:
        """The sum along ``axis`` (all elements when None); local."""
        if self.shares is None:
            return SecretRing(self.rt, None, self.lo, self.hi, self.owner)
        count = self.shares.size if axis is None else self.shares.shape[axis]
        out = np.asarray(self.shares.sum(axis=axis, dtype=np.uint64))
        return SecretRing(self.rt, out, self.lo * count, self.hi * count, self.owner)

    # -- with two parties: the two-party engine -------------------------------------

    def _engine(self) -> TwoPartyEngine:
        if not self.rt.two_party:
            raise ConfigError("products and conversions of SecretRing values need exactly two parties, "
                              "both computing (the two-party engine)")
        return self.rt.two_party_engine

    async def mul(self, other: SecretRing) -> SecretRing:
        """Two rounds (two parties): ``self * other`` elementwise (same
        shapes), by Gilboa's correlated-OT product of the cross terms
        (:meth:`TwoPartyEngine.mul <mpcnet.mpc.twoparty.TwoPartyEngine.mul>`).
        Refused if the product's range could wrap around 2^64."""
        eng = self._engine()
        if not isinstance(other, SecretRing):
            result: SecretRing = self * other  # a public factor: local
            return result
        corners = [a * b for a in (self.lo, self.hi) for b in (other.lo, other.hi)]
        lo, hi = min(corners), max(corners)
        if lo < -RING_LIMIT or hi >= RING_LIMIT:
            raise LocalProtocolViolation("the product could wrap around 2^64: declare fewer bits")
        assert self.shares is not None and other.shares is not None
        if self.shares.shape != other.shares.shape:
            raise LocalProtocolViolation("mul needs two values of one shape")
        out = await eng.mul(self.shares, other.shares)
        return SecretRing(self.rt, out.reshape(self.shares.shape), lo, hi)

    def bits(self) -> tuple[int, bool]:
        """(k, signed): the fewest bits whose two's complement (signed, when
        ``lo < 0``) or plain binary range holds [lo, hi]."""
        if self.lo >= 0:
            return max(1, self.hi.bit_length()), False
        return 1 + max((-self.lo - 1).bit_length(), self.hi.bit_length()), True

    async def to_bits(self) -> XorBits:
        """1 + ceil(log2 k) rounds (two parties, A2B): the value as
        :class:`~mpcnet.mpc.XorBits` of ``k`` bits (:meth:`bits`): each party
        bit-slices its own share and a Kogge-Stone adder adds the two
        (:meth:`TwoPartyEngine.to_bits <mpcnet.mpc.twoparty.TwoPartyEngine.to_bits>`)."""
        from .secxor import XorBits

        eng = self._engine()
        assert self.shares is not None
        k, signed = self.bits()
        planes = await eng.to_bits(self.shares.reshape(-1), k)
        return XorBits(self.rt, planes, k, signed, self.shares.shape)

    async def _sign(self, diff: SecretRing) -> XorBits:
        """[diff < 0] as a 1-bit XorBits: the top bit of its k-bit two's complement."""
        bits = await diff.to_bits()
        if not bits.signed:  # never negative
            return bits._new(np.zeros_like(bits.shares[:1]), 1, False)
        return bits._new(np.ascontiguousarray(bits.shares[-1:]), 1, False)

    async def lt(self, other: Any) -> XorBits:
        """``[x < y]`` (two parties) as a 1-bit :class:`~mpcnet.mpc.XorBits`:
        the sign of ``x - y``, 1 + ceil(log2 k) rounds."""
        self._engine()
        return await self._sign(self - other)

    async def gt(self, other: Any) -> XorBits:
        """``[x > y]``, as :meth:`lt`."""
        self._engine()
        return await self._sign(-(self - other))

    async def le(self, other: Any) -> XorBits:
        """``[x <= y]``, as :meth:`lt`."""
        return ~(await self.gt(other))

    async def ge(self, other: Any) -> XorBits:
        """``[x >= y]``, as :meth:`lt`."""
        return ~(await self.lt(other))

    async def eq(self, other: Any) -> XorBits:
        """``[x == y]`` (two parties): ``x - y`` to bits, then all of them
        zero (1 + 2 ceil(log2 k) rounds)."""
        self._engine()
        bits = await (self - other).to_bits()
        result: XorBits = await bits.eq(0)
        return result

    async def ne(self, other: Any) -> XorBits:
        """``[x != y]``, as :meth:`eq`."""
        return ~(await self.eq(other))

    async def open(self, to: Iterable[str] | None = None) -> Array | None:
        """One round: every holder sends its shares to the parties in ``to``
        (default: all), who add them up. Signed int64 values there, None elsewhere."""
        rt = self.rt
        receivers = rt.ctx.parties if to is None else tuple(to)  # (a tuple: shared, not copied)
        if rt.ctx.me not in receivers and not rt.is_compute:
            return None
        rt.enter_result_round(receivers)
        outgoing = {p: self.shares for p in receivers if p != rt.ctx.me} if rt.is_compute else {}
        expect = [p for p in rt.compute if p != rt.ctx.me] if rt.ctx.me in receivers else []
        shape = self.shape
        if shape is None and expect:  # a receiver without shares learns the shape from the wire
            got = await rt.ctx.exchange(outgoing, expect_from=expect)
            first = got[expect[0]]
            shape = tuple(first.shape) if isinstance(first, np.ndarray) else ()
            got = {p: Expect.array(np.uint64, shape).check(v, p) for p, v in got.items()}
        else:
            got = await exchange(rt.ctx, outgoing, {p: Expect.array(np.uint64, shape or ()) for p in expect})
        if rt.ctx.me not in receivers:
            return None
        total = np.zeros(shape or (), dtype=np.uint64) if self.shares is None else self.shares.copy()
        for v in got.values():
            total = _wrap(np.add, total, v)
        return from_ring_signed(total)

    async def reveal(self) -> Array:
        """:meth:`open` to every party, which all receive the values."""
        out = await self.open()
        assert out is not None
        return out


def _wrap(op: Any, a: Array, b: Array) -> Array:
    """``op`` mod 2^64 into a fresh array (numpy warns about wrapping only on scalars: none here)."""
    out = np.empty(np.broadcast_shapes(np.shape(a), np.shape(b)), dtype=np.uint64)
    op(a, b, out=out)
    return out


async def input_ring(rt: Runtime, owners: Mapping[str, Shape], mine: Array | None, lo: int,
                     hi: int) -> dict[str, SecretRing]:
    """One round: each owner splits ``mine`` (checked ints) into additive
    shares, one per compute party (see :meth:`Runtime.input_ring`)."""
    ctx = rt.ctx
    holders = rt.compute
    outgoing: dict[str, Any] = {}
    own: Array | None = None
    if ctx.me in owners:
        assert mine is not None
        flat = additive_share(to_ring(np.asarray(mine, dtype=np.int64)), len(holders), ctx.random)
        for i, p in enumerate(holders):
            share = flat[i].reshape(np.shape(mine))
            if p == ctx.me:
                own = share
            else:
                outgoing[p] = share
    expect: dict[str, Expect] = {}
    if rt.is_compute:
        for p, shape in owners.items():
            if p != ctx.me:
                if shape is None:
                    raise LocalProtocolViolation("additive inputs need declared shapes")
                expect[p] = Expect.array(np.uint64, tuple(shape))
    got = await exchange(ctx, outgoing, expect)
    if own is not None:
        got[ctx.me] = own
    return {p: SecretRing(rt, got.get(p), lo, hi) for p in owners}


def concat_rings(values: Sequence[SecretRing], axis: int, *, stack: bool) -> SecretRing:
    """Concatenation (or stacking) along ``axis``; absent if any part is absent."""
    rt = values[0].rt
    lo, hi = min(v.lo for v in values), max(v.hi for v in values)
    owners = {v.owner for v in values}
    owner = owners.pop() if len(owners) == 1 else None  # one owner of all parts: the whole is its
    parts = [v.shares for v in values if v.shares is not None]
    if len(parts) < len(values):
        return SecretRing(rt, None, lo, hi, owner)
    return SecretRing(rt, np.stack(parts, axis=axis) if stack else np.concatenate(parts, axis=axis), lo, hi, owner)
