"""Secret integers held as bit-sliced replicated shares among exactly three
compute parties (:mod:`mpcnet.mpc.replicated`, :mod:`mpcnet.mpc.bitcircuits`).

The toolkit face of the replicated engine: values made by
:meth:`Runtime.input_sliced <mpcnet.mpc.Runtime.input_sliced>` (and by
``Runtime.input_bits`` when the toolkit picks this engine: exactly three
compute parties, :func:`mpcnet.mpc.runtime.choose_engine`), local XOR and
NOT, awaited comparisons, selection and opening. Rounds, whatever the number
of elements (k the bit length):

====================================  ==========================================
``Runtime.input_sliced``              1
``SlicedBits.lt/le/gt/ge``            1 + ceil(log2 k)  (89 ANDs for 32 bits)
``SlicedBits.eq/ne``                  ceil(log2 k)
``SlicedBits.select``, ``and_``       1
``SlicedBits.max/min/argmax``         ceil(log2 n) x (2 + ceil(log2 k))
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

from ..errors import ConfigError, LocalProtocolViolation, RemoteProtocolViolation
from . import bitcircuits
from .bitslice import from_lanes, lanes, pack, words_for
from .replicated import BITS, Pair
from .value import ComparableSecret

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["SlicedBits", "input_sliced", "concat_sliced", "argmax_first"]

Array = np.ndarray[Any, Any]
#: The most axes an owner-chosen element shape may have.
_MAX_NDIM = 8


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

    async def select(self, a: Any, b: Any) -> SlicedBits:
        """For a 1-bit ``self``: ``a`` where it is 1, else ``b`` (one round);
        one branch may be a public array."""
        if self.k != 1:
            raise LocalProtocolViolation("select needs a 1-bit condition")
        first = a if isinstance(a, SlicedBits) else b
        if not isinstance(first, SlicedBits):
            raise LocalProtocolViolation("select needs at least one secret branch")
        sa, sb = first._other(a), first._other(b)
        if self.shares is None or sa.shares is None or sb.shares is None:
            return first._new(None)
        cond = self.shares
        if self.shape != first.shape:  # one condition per value, broadcast over the values' shape
            if np.broadcast_shapes(self.shape, first.shape) != first.shape:
                raise LocalProtocolViolation(f"a condition of shape {self.shape} does not fit values of shape {first.shape}")
            grown = self.broadcast_to(first.shape).shares
            assert grown is not None
            cond = grown
        return first._new(await bitcircuits.select(self.rt.replicated_engine, cond, sa.shares, sb.shares))

    def broadcast_to(self, shape: tuple[int, ...]) -> SlicedBits:
        """The values repeated to the element ``shape`` (numpy broadcasting; local)."""
        if self.shares is None:
            return SlicedBits(self.rt, None, self.k, self.signed, tuple(shape))
        first, second = self._lanes()
        grow = (self.k, *shape)
        return self._from(np.broadcast_to(first, grow), np.broadcast_to(second, grow))

    def _moved(self, axis: int) -> SlicedBits:
        """The values with element ``axis`` moved to the front (local)."""
        ndim = len(self.shape)
        if not -ndim <= axis < ndim:
            raise LocalProtocolViolation(f"axis {axis} is out of range for {ndim}-dimensional values")
        axis %= ndim
        shape = tuple(np.moveaxis(np.empty(self.shape, dtype=np.uint8), axis, 0).shape)
        if axis == 0 or self.shares is None:
            return self if axis == 0 else SlicedBits(self.rt, None, self.k, self.signed, shape)
        first, second = self._lanes()
        return self._from(np.moveaxis(first, axis + 1, 1), np.moveaxis(second, axis + 1, 1))

    async def max(self, axis: int = -1) -> SlicedBits:
        """The largest value along ``axis``: a tournament, each level one
        batched comparison and one selection (the rounds of
        :meth:`SecretBits.max <mpcnet.mpc.SecretBits.max>`)."""
        return (await self._tournament(axis, largest=True, want_index=False))[1]

    async def min(self, axis: int = -1) -> SlicedBits:
        """The smallest value along ``axis``, as :meth:`max`."""
        return (await self._tournament(axis, largest=False, want_index=False))[1]

    async def argmax(self, axis: int = -1) -> tuple[SlicedBits, SlicedBits]:
        """(index, value) of the largest value along ``axis``, the first one on
        ties; the index is unsigned, of ``ceil(log2 n)`` bits (at least 1)."""
        return await self._tournament(axis, largest=True, want_index=True)

    async def _tournament(self, axis: int, *, largest: bool, want_index: bool) -> tuple[SlicedBits, SlicedBits]:
        values = self._moved(axis)
        n = values.shape[0]
        if n == 0:
            raise LocalProtocolViolation("the maximum of no values")
        ki = max(1, (n - 1).bit_length())
        rest = values.shape[1:]
        if self.shares is None:
            return SlicedBits(self.rt, None, ki, False, rest), SlicedBits(self.rt, None, self.k, self.signed, rest)
        eng = self.rt.replicated_engine
        index = np.broadcast_to(np.arange(n).reshape((n,) + (1,) * len(rest)), values.shape)
        idx = SlicedBits(self.rt, eng.public(pack(index, ki), BITS), ki, False, values.shape)
        best = values
        while best.shape[0] > 1:
            half = best.shape[0] // 2
            a, b = best[0 : 2 * half : 2], best[1 : 2 * half : 2]
            # take b when it is strictly better: ties keep the earlier element
            take_b = await (b.gt(a) if largest else a.gt(b))
            if want_index:  # one selection round for the values and the indices
                ia, ib = idx[0 : 2 * half : 2], idx[1 : 2 * half : 2]
                both = await take_b.select(_stack_planes(b, ib), _stack_planes(a, ia))
                chosen, chosen_idx = _split_planes(both, self.k, self.signed)
                idx = concat_sliced([chosen_idx, idx[2 * half :]]) if best.shape[0] % 2 else chosen_idx
            else:
                chosen = await take_b.select(b, a)
            best = concat_sliced([chosen, best[2 * half :]]) if best.shape[0] % 2 else chosen
        return idx[0], best[0]

    def to_int(self) -> Any:
        """Not available: bit-sliced values have no arithmetic counterpart yet;
        a protocol that needs one asks for ``Runtime(engine="shamir")``."""
        raise ConfigError("SlicedBits (the three-party replicated engine) has no to_int: "
                          "use mpc.Runtime(..., engine='shamir') for SecretBits")

    async def open(self, to: Iterable[str] | None = None, *, shape: tuple[int, ...] | None = None) -> Array | None:
        """One round: the values (int64, or uint64 for unsigned 64-bit) at the
        parties in ``to`` (default: every party), None elsewhere. ``shape``:
        what a receiver must get (checked; a receiver outside the compute
        parties holding a value of undeclared shape must pass it)."""
        rt = self.rt
        receivers = list(rt.ctx.parties if to is None else to)
        if rt.ctx.me not in receivers and not rt.is_compute:
            return None
        want = self.shape if shape is None else tuple(shape)
        if self.shares is not None and want != self.shape:
            raise RemoteProtocolViolation(f"the value has shape {self.shape}, expected {want}")
        rt.enter_result_round(receivers)
        count = int(np.prod(want))
        values = await bitcircuits.open_bits(rt.replicated_engine, self.shares, count, signed=self.signed,
                                             to=receivers, k=self.k)
        if values is None:
            return None
        if not (self.k == 64 and not self.signed):
            values = values.astype(np.int64)
        return values.reshape(want)

    async def reveal(self, *, shape: tuple[int, ...] | None = None) -> Array:
        """:meth:`open` to every party."""
        out = await self.open(shape=shape)
        assert out is not None
        return out


def _stack_planes(values: SlicedBits, index: SlicedBits) -> SlicedBits:
    """Values and their indices as one wider value (the index planes on top; local)."""
    assert values.shares is not None and index.shares is not None
    pair = Pair(np.concatenate([values.shares.first, index.shares.first]),
                np.concatenate([values.shares.second, index.shares.second]))
    return SlicedBits(values.rt, pair, values.k + index.k, values.signed, values.shape)


def _split_planes(both: SlicedBits, k: int, signed: bool) -> tuple[SlicedBits, SlicedBits]:
    assert both.shares is not None
    s = both.shares
    return (SlicedBits(both.rt, Pair(s.first[:k], s.second[:k]), k, signed, both.shape),
            SlicedBits(both.rt, Pair(s.first[k:], s.second[k:]), both.k - k, False, both.shape))


async def input_sliced(rt: Runtime, owners: Mapping[str, tuple[int, ...] | None], values: Array | None, k: int,
                       signed: bool, max_values: int | None = None) -> dict[str, SlicedBits]:
    """One round: each owner's checked integers ``values`` bit-sliced and
    shared among the three compute parties. An owner whose shape is None
    chooses it (at most ``max_values`` values): its element shape travels
    with its shares, and is refused (a RemoteProtocolViolation naming it)
    beyond that bound. Outside the compute parties such a value is absent
    with shape ``()`` (its true shape is not sent there)."""
    eng = rt.replicated_engine
    planes = None if values is None else pack(values, k)
    header = None if values is None else list(np.shape(values))

    def undeclared(got: Any) -> tuple[int, ...]:
        if not (isinstance(got, list) and len(got) <= _MAX_NDIM
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in got)):
            raise ValueError(f"an element shape is a list of at most {_MAX_NDIM} sizes")
        count = int(np.prod(got, dtype=object))
        if max_values is not None and count > max_values:
            raise ValueError(f"{count} values: at most {max_values} are accepted")
        return (k, words_for(count))

    shapes = {p: None if shape is None else (k, words_for(int(np.prod(shape)))) for p, shape in owners.items()}
    headers: dict[str, Any] = {}
    got = await eng.input(shapes, planes, BITS, undeclared=undeclared, header=header, headers=headers)
    out = {}
    for p, shape in owners.items():
        chosen: Any = headers.get(p, header if p == rt.ctx.me else ())
        element_shape = tuple(shape) if shape is not None else tuple(chosen)
        out[p] = SlicedBits(rt, got.get(p), k, signed, element_shape)
    return out


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
