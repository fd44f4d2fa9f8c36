"""Secret integers held as bit-sliced replicated shares among exactly three
compute parties (:mod:`mpcnet.mpc.replicated`, :mod:`mpcnet.mpc.bitcircuits`).

The toolkit face of the replicated engine: values made by
:meth:`Runtime.input_sliced <mpcnet.mpc.Runtime.input_sliced>`, local XOR and
NOT, awaited comparisons, selection and opening. Rounds, whatever the number
of elements (k the bit length):

====================================  ==========================================
``Runtime.input_sliced``              1
``SlicedBits.lt/le/gt/ge``            1 + ceil(log2 k)  (89 ANDs for 32 bits)
``SlicedBits.eq/ne``                  ceil(log2 k)
``SlicedBits.select``, ``and_``       1
``SlicedBits.open``                   1
``argmax_first`` (n values)           1 + ceil(log2 k) + ceil(log2(n - 1)) + 1
====================================  ==========================================

Security: semi-honest, one corruption among the three compute parties (see
:mod:`mpcnet.mpc.replicated`); input-only parties hold absent values (no
shares), on which every method returns at once without a round.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LocalProtocolViolation
from . import bitcircuits
from .bitslice import from_lanes, lanes, pack, words_for
from .replicated import BITS, Pair
from .value import ComparableSecret

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["SlicedBits", "input_sliced", "concat_sliced", "argmax_first"]

Array = np.ndarray[Any, Any]


class SlicedBits(ComparableSecret):
    """Secret ``k``-bit integers of any numpy ``shape`` (two's complement when
    ``signed``), as ``k`` bit planes of replicated XOR shares, 64 values per
    word. A comparison gives 1-bit values. ``shares`` is None outside the
    three compute parties (an absent value)."""


    def __init__(self, rt: Runtime, shares: Pair | None, k: int, signed: bool, shape: tuple[int, ...]) -> None:
        if shares is not None and shares.first.shape != (k, words_for(int(np.prod(shape)))):
            raise LocalProtocolViolation(f"{k}-bit sliced shares of {shape} values have shape ({k}, words)")
        self.rt, self.shares, self.k, self.signed, self.shape = rt, shares, k, signed, tuple(shape)

    def __repr__(self) -> str:
        return f"SlicedBits(shape={self.shape}, k={self.k}, signed={self.signed})"

    def _new(self, shares: Pair | None, k: int | None = None, signed: bool | None = None) -> SlicedBits:
        return SlicedBits(self.rt, shares, self.k if k is None else k, self.signed if signed is None else signed, self.shape)

    def _other(self, other: Any) -> SlicedBits:
        """``other`` as a value of this one's kind (a public array as a constant sharing)."""
        if isinstance(other, SlicedBits):
            if other.rt is not self.rt:
                raise LocalProtocolViolation("secret values of different runtimes do not mix")
            if (other.k, other.signed, other.shape) != (self.k, self.signed, self.shape):
                raise LocalProtocolViolation("sliced values of different widths, signedness or shapes do not mix")
            return other
        if isinstance(other, bool) or not isinstance(other, (int, np.integer, np.ndarray, list)):
            raise TypeError("a SlicedBits mixes with SlicedBits values and public integers only")
        if self.shares is None:
            return self._new(None)
        planes = pack(np.broadcast_to(np.asarray(other), self.shape), self.k)
        return self._new(self.rt.replicated_engine.public(planes, BITS))

    # -- local ----------------------------------------------------------------------

    def __xor__(self, other: Any) -> SlicedBits:
        o = self._other(other)
        if self.shares is None or o.shares is None:
            return self._new(None)
        return self._new(self.rt.replicated_engine.add(self.shares, o.shares, BITS))

    __rxor__ = __xor__

    def __invert__(self) -> SlicedBits:
        return self._new(None if self.shares is None else self.rt.replicated_engine.invert(self.shares))

    def _lanes(self) -> tuple[Array, Array]:
        """Both shares as ``(k, *shape)`` 0/1 lanes."""
        assert self.shares is not None
        m = int(np.prod(self.shape))
        return tuple(lanes(s, m).reshape((self.k, *self.shape)) for s in self.shares)  # type: ignore[return-value]

    def _from(self, first: Array, second: Array) -> SlicedBits:
        k = first.shape[0]
        pair = Pair(from_lanes(first.reshape(k, -1)), from_lanes(second.reshape(k, -1)))
        return SlicedBits(self.rt, pair, k, self.signed, tuple(first.shape[1:]))

    def __getitem__(self, index: Any) -> SlicedBits:
        """Values picked by numpy indexing on the element shape (local: moves lanes of each share)."""
        shape = np.empty(self.shape, dtype=np.uint8)[index].shape
        if self.shares is None:
            return SlicedBits(self.rt, None, self.k, self.signed, shape)
        index = index if isinstance(index, tuple) else (index,)
        first, second = self._lanes()
        return self._from(first[(slice(None), *index)], second[(slice(None), *index)])

    def xor_sum(self, axis: int = 0) -> SlicedBits:
        """The XOR of the values along an element ``axis`` (local); with a
        one-hot AND (:meth:`and_`) in front, it picks one value."""
        shape = np.empty(self.shape, dtype=np.uint8).sum(axis=axis).shape
        if self.shares is None:
            return SlicedBits(self.rt, None, self.k, self.signed, shape)
        first, second = self._lanes()
        return self._from(np.bitwise_xor.reduce(first, axis=axis + 1), np.bitwise_xor.reduce(second, axis=axis + 1))

    # -- rounds ---------------------------------------------------------------------

    async def _compare(self, other: Any, op: str) -> SlicedBits:
        o = self._other(other)
        if self.shares is None or o.shares is None:
            return self._new(None, 1, False)
        out = await bitcircuits.compare(self.rt.replicated_engine, self.shares, o.shares, op, signed=self.signed)
        return self._new(out, 1, False)

    async def and_(self, other: Any) -> SlicedBits:
        """Bitwise AND (one round); a 1-bit ``self`` ANDs every bit of a wider ``other``."""
        o = other if isinstance(other, SlicedBits) and self.k == 1 else self._other(other)
        if self.shares is None or o.shares is None:
            return o._new(None)
        return o._new(await self.rt.replicated_engine.and_(self.shares, o.shares))

    async def select(self, a: SlicedBits, b: Any) -> SlicedBits:
        """For a 1-bit ``self``: ``a`` where it is 1, else ``b`` (one round)."""
        if self.k != 1:
            raise LocalProtocolViolation("select needs a 1-bit condition")
        b = a._other(b)
        if self.shares is None or a.shares is None or b.shares is None:
            return a._new(None)
        return a._new(await bitcircuits.select(self.rt.replicated_engine, self.shares, a.shares, b.shares))

    async def open(self, to: Iterable[str] | None = None) -> Array | None:
        """One round: the values (int64, or uint64 for unsigned 64-bit) at the
        parties in ``to`` (default: every party), None elsewhere."""
        rt = self.rt
        receivers = list(rt.ctx.parties if to is None else to)
        if rt.ctx.me not in receivers and not rt.is_compute:
            return None
        rt.enter_result_round(receivers)
        count = int(np.prod(self.shape))
        values = await bitcircuits.open_bits(rt.replicated_engine, self.shares, count, signed=self.signed,
                                             to=receivers, k=self.k)
        if values is None:
            return None
        if not (self.k == 64 and not self.signed):
            values = values.astype(np.int64)
        return values.reshape(self.shape)

    async def reveal(self) -> Array:
        """:meth:`open` to every party."""
        out = await self.open()
        assert out is not None
        return out


async def input_sliced(rt: Runtime, owners: Mapping[str, tuple[int, ...]], values: Array | None, k: int,
                       signed: bool) -> dict[str, SlicedBits]:
    """One round: each owner's checked integers ``values`` (of its declared
    shape) bit-sliced and shared among the three compute parties."""
    eng = rt.replicated_engine
    counts = {p: int(np.prod(shape)) for p, shape in owners.items()}
    planes = None if values is None else pack(values, k)
    got = await eng.input({p: (k, words_for(m)) for p, m in counts.items()}, planes, BITS)
    return {p: SlicedBits(rt, got.get(p), k, signed, tuple(owners[p])) for p in owners}


def concat_sliced(values: list[SlicedBits], axis: int = 0) -> SlicedBits:
    """Join sliced values of one width along an element axis (local)."""
    first = values[0]
    if any((v.k, v.signed, v.rt) != (first.k, first.signed, first.rt) for v in values):
        raise LocalProtocolViolation("concatenated sliced values must share width, signedness and runtime")
    shape = np.concatenate([np.empty(v.shape, dtype=np.uint8) for v in values], axis=axis).shape
    if any(v.shares is None for v in values):
        return SlicedBits(first.rt, None, first.k, first.signed, shape)
    parts = [v._lanes() for v in values]
    return first._from(np.concatenate([p[0] for p in parts], axis=axis + 1),
                       np.concatenate([p[1] for p in parts], axis=axis + 1))


async def argmax_first(values: SlicedBits) -> tuple[SlicedBits, SlicedBits]:
    """(one-hot winner, maximum) of a 1-D batch of ``n >= 2`` values, ties to
    the lowest index: all ``n(n-1)/2`` pairs compared in one batch
    (``v_i >= v_j`` for i < j; the reverse is its NOT), each value's
    n - 1 "I beat you" bits ANDed in a tree, and the maximum picked as the
    XOR over the one-hot AND the values. Rounds ``1 + ceil(log2 k)`` +
    ``ceil(log2(n - 1))`` + 1, whatever k and n (6 + 5 + 1 for 20 32-bit values)."""
    n = values.shape[0] if len(values.shape) == 1 else 0
    if n < 2:
        raise LocalProtocolViolation("argmax_first needs a 1-D batch of at least two values")
    lower, upper = np.triu_indices(n, 1)
    pair = np.zeros((n, n), dtype=np.int64)
    pair[lower, upper] = pair[upper, lower] = np.arange(lower.size)
    others = np.array([[j for j in range(n) if j != i] for i in range(n)]).T  # (n - 1, n): bid i's t-th rival
    ge = await values[lower].ge(values[upper])
    # beats[t, i]: bid i beats its t-th rival j (ge of the pair, negated where i is the upper index).
    flip = (np.arange(n)[None, :] > others).astype(np.int64)
    beats = ge[pair[np.arange(n)[None, :], others]] ^ flip
    while beats.shape[0] > 1:
        rows = beats.shape[0]
        half = rows // 2
        both = await beats[:half].and_(beats[half : 2 * half])
        beats = concat_sliced([both, beats[2 * half :]]) if rows % 2 else both
    onehot = beats[0]
    return onehot, (await onehot.and_(values)).xor_sum(0)
