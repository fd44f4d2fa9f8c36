"""Secret integers held bit by bit: Shamir shares over GF(2^8) (the circuits
and round counts: :mod:`mpcnet.mpc.binary`, :mod:`mpcnet.mpc`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LocalProtocolViolation, RemoteProtocolViolation
from .binary import bnot, bxor, equal, from_bits, greater_than, mux, to_bits
from .convert import bits_to_field
from .fields import P127
from .secint import SecretBitsLike, SecretInt, leading_index
from .value import ComparableSecret

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["SecretBits"]

Array = np.ndarray[Any, Any]


class SecretBits(SecretBitsLike, ComparableSecret):
    """Secret ``k``-bit integers (any numpy shape), each held as k shared
    bits in GF(2^8), least significant first, two's complement when
    ``signed``. A comparison gives 1-bit values (``k == 1``): shared bits.
    XOR (``^``) and NOT (``~``, every bit) are local; AND costs a round.
    Outside the compute parties ``shares`` is None (an absent value).
    """


    def __init__(self, rt: Runtime, shares: Array | None, k: int, signed: bool = False) -> None:
        if shares is not None and (shares.ndim < 1 or shares.shape[-1] != k):
            raise LocalProtocolViolation(f"shares of {k}-bit values have {k} in their last axis")
        self.rt = rt
        self.shares = shares
        self.k = k
        self.signed = signed

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The element shape (without the bit axis); None where this party holds no shares."""
        return None if self.shares is None else tuple(self.shares.shape[:-1])

    def __repr__(self) -> str:
        return f"SecretBits(shape={self.shape}, k={self.k}, signed={self.signed})"

    def _new(self, shares: Array | None, k: int | None = None, signed: bool | None = None) -> SecretBits:
        return SecretBits(self.rt, shares, self.k if k is None else k, self.signed if signed is None else signed)

    def _other(self, other: Any) -> SecretBits:
        """``other`` as a value of this one's width and signedness (a public one as a constant sharing)."""
        if isinstance(other, SecretInt):
            raise TypeError("a SecretInt does not mix with SecretBits: convert it with 'await x.to_bits()'")
        if isinstance(other, SecretBits):
            if other.rt is not self.rt:
                raise LocalProtocolViolation("secret values of different runtimes do not mix")
            if (other.k, other.signed) != (self.k, self.signed):
                raise LocalProtocolViolation(f"{self.k}-bit and {other.k}-bit values (or signed and unsigned) "
                                             "do not mix")
            return other
        return self._new(to_bits(other, self.k, signed=self.signed))

    # -- local operations ------------------------------------------------------------

    def __xor__(self, other: Any) -> SecretBits:
        o = self._other(other)
        return self._new(None if self.shares is None or o.shares is None else bxor(self.shares, o.shares))

    __rxor__ = __xor__

    def __invert__(self) -> SecretBits:
        return self._new(None if self.shares is None else bnot(self.shares))

    def __getitem__(self, index: Any) -> SecretBits:
        return self._new(None if self.shares is None else self.shares[leading_index(index)])

    def _element_axis(self, axis: int) -> int:
        assert self.shares is not None
        ndim = self.shares.ndim - 1
        if not -ndim <= axis < ndim:
            raise LocalProtocolViolation(f"axis {axis} is out of range for {ndim}-dimensional values")
        return axis % ndim

    # -- rounds -------------------------------------------------------------------------

    async def _compare(self, other: Any, op: str) -> SecretBits:
        o = self._other(other)
        if self.shares is None or o.shares is None:
            return self._new(None, 1, False)
        eng = self.rt.bit_engine
        x, y = np.broadcast_arrays(self.shares, o.shares)
        x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
        if op in ("eq", "ne"):
            out = await equal(eng, x, y)
        elif op in ("lt", "ge"):
            out = await greater_than(eng, y, x, signed=self.signed)  # x < y  <=>  y > x
        else:
            out = await greater_than(eng, x, y, signed=self.signed)
        out = bnot(out) if op in ("ne", "ge", "le") else out
        return self._new(out[..., None], 1, False)

    async def select(self, a: Any, b: Any) -> SecretBits:
        """``a`` where this 1-bit value is 1, else ``b`` (one round;
        :func:`mpcnet.mpc.binary.mux`)."""
        if self.k != 1:
            raise LocalProtocolViolation("select needs a 1-bit selector (a comparison result)")
        first = a if isinstance(a, SecretBits) else b
        if not isinstance(first, SecretBits):
            raise LocalProtocolViolation("select needs at least one secret branch")
        sa, sb = first._other(a), first._other(b)
        if self.shares is None or sa.shares is None or sb.shares is None:
            return first._new(None)
        va, vb = np.broadcast_arrays(sa.shares, sb.shares)
        out = await mux(self.rt.bit_engine, self.shares[..., 0], np.ascontiguousarray(va), np.ascontiguousarray(vb))
        return first._new(out)

    async def max(self, axis: int = -1) -> SecretBits:
        """The largest value along ``axis``: a tournament, each level one
        batched comparison and one selection of the winners."""
        return (await self._tournament(axis, largest=True, want_index=False))[1]

    async def min(self, axis: int = -1) -> SecretBits:
        """The smallest value along ``axis``, as :meth:`max`."""
        return (await self._tournament(axis, largest=False, want_index=False))[1]

    async def argmax(self, axis: int = -1) -> tuple[SecretBits, SecretBits]:
        """(index, value) of the largest value along ``axis``, the first one
        on ties; the index is an unsigned SecretBits of ``ceil(log2 n)``
        bits (the same rounds as :meth:`max`)."""
        return await self._tournament(axis, largest=True, want_index=True)

    async def _tournament(self, axis: int, *, largest: bool, want_index: bool) -> tuple[SecretBits, SecretBits]:
        if self.shares is None:
            return SecretBits(self.rt, None, 1), self._new(None)
        eng = self.rt.bit_engine
        values = np.moveaxis(self.shares, self._element_axis(axis), 0)
        n = values.shape[0]
        if n == 0:
            raise LocalProtocolViolation("the maximum of no values")
        ki = max(1, (n - 1).bit_length())
        index = np.broadcast_to(to_bits(np.arange(n), ki).reshape((n,) + (1,) * (values.ndim - 2) + (ki,)),
                                (*values.shape[:-1], ki))
        both = np.concatenate([values, index], axis=-1) if want_index else values
        k = self.k
        while both.shape[0] > 1:
            half = both.shape[0] // 2
            a, b = both[0 : 2 * half : 2], both[1 : 2 * half : 2]
            # take b when it is strictly better: ties keep the earlier element
            first, second = (b[..., :k], a[..., :k]) if largest else (a[..., :k], b[..., :k])
            take_b = await greater_than(eng, np.ascontiguousarray(first), np.ascontiguousarray(second),
                                        signed=self.signed)
            chosen = await mux(eng, take_b, np.ascontiguousarray(b), np.ascontiguousarray(a))
            both = np.concatenate([chosen, both[2 * half :]], axis=0)
        best = both[0]
        return SecretBits(self.rt, best[..., k:] if want_index else None, ki), self._new(best[..., :k])

    async def to_int(self) -> SecretInt:
        """The values as a :class:`SecretInt` (every bit converted with a
        daBit: :func:`mpcnet.mpc.convert.bits_to_field`, then summed locally)."""
        lo, hi = (-(1 << (self.k - 1)), (1 << (self.k - 1)) - 1) if self.signed else (0, (1 << self.k) - 1)
        if self.shares is None:
            return SecretInt(self.rt, None, lo, hi)
        rt = self.rt
        bits = await bits_to_field(rt.field_engine, rt.bit_engine, self.shares)
        weights = [1 << j for j in range(self.k)]
        if self.signed:
            weights[-1] = -weights[-1]
        value = P127.sum(P127.mul(bits, P127.from_ints(np.array(weights, dtype=object))), axis=-1)
        return SecretInt(rt, np.asarray(value, dtype=object), lo, hi)

    async def reveal(self, *, shape: tuple[int, ...] | None = None) -> Array:
        """:meth:`open` to every party, which all receive the values."""
        out = await self.open(shape=shape)
        assert out is not None  # every party is a receiver
        return out

    async def open(self, to: Iterable[str] | None = None, *, shape: tuple[int, ...] | None = None) -> Array | None:
        """Reveal the values to the parties in ``to`` (default: all), one
        round; Python ints (0/1 for 1-bit values) where this party receives,
        None elsewhere. ``shape``: what a receiver outside the compute
        parties must get (checked)."""
        rt = self.rt
        receivers = rt.ctx.parties if to is None else tuple(to)  # (a tuple: shared, not copied)
        if rt.ctx.me not in receivers and not rt.is_compute:
            return None
        rt.enter_result_round(receivers)
        # A 1-bit value travels without its bit axis.
        shares = None if self.shares is None else (self.shares[..., 0] if self.k == 1 else self.shares)
        want = None if shape is None else tuple(shape) if self.k == 1 else (*shape, self.k)
        opened = await rt.bit_engine.open(shares, to=receivers, shape=want)
        if opened is None:
            return None
        if self.k > 1 and (opened.ndim < 1 or opened.shape[-1] != self.k):
            raise RemoteProtocolViolation(f"opened {self.k}-bit values have the wrong shape")
        if np.any(opened > 1):
            raise RemoteProtocolViolation("an opened bit is neither 0 nor 1")
        out = np.asarray(opened, dtype=np.int64) if self.k == 1 else from_bits(opened, signed=self.signed)
        if shape is not None and tuple(np.shape(out)) != tuple(shape):
            raise RemoteProtocolViolation(f"the opened value has shape {np.shape(out)}, expected {tuple(shape)}")
        return np.asarray(out)


def concat_bits(values: Sequence[SecretBits], axis: int) -> SecretBits:
    """Concatenation along element axis ``axis`` (absent if any part is absent)."""
    return _join(values, axis, stack=False)


def stack_bits(values: Sequence[SecretBits], axis: int) -> SecretBits:
    """Stacking along a new element axis ``axis``."""
    return _join(values, axis, stack=True)


def _join(values: Sequence[SecretBits], axis: int, *, stack: bool) -> SecretBits:
    first = values[0]
    parts = [first._other(v) for v in values]
    shares = [v.shares for v in parts if v.shares is not None]
    if len(shares) < len(parts):
        return first._new(None)
    ndim = shares[0].ndim - 1 + (1 if stack else 0)
    if not -ndim <= axis < max(ndim, 1):
        raise LocalProtocolViolation(f"axis {axis} is out of range")
    axis %= max(ndim, 1)
    joined = np.stack(shares, axis=axis) if stack else np.concatenate(shares, axis=axis)
    return first._new(joined)
