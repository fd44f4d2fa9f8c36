"""Secret integers: Shamir shares over Z_(2^127-1) with a known range and
degree (the algorithms and round counts: :mod:`mpcnet.mpc`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import LocalProtocolViolation, RemoteProtocolViolation
from .binary import bits_from_onehot, greater_than_onehot
from .convert import bit_decompose, bits_to_field, less_than
from .fields import P127
from .value import ComparableSecret

if TYPE_CHECKING:
    from .runtime import Runtime
    from .secbits import SecretBits

__all__ = ["SecretInt", "onehot_width"]

Array = np.ndarray[Any, Any]
#: Ranges below this width get :meth:`SecretInt.onehot` (its rounds grow with log2 of the width).
ONEHOT_MAX_VALUES = 1024


def onehot_width(lo: int, hi: int) -> int:
    """Bits of ``x - lo`` for x in [lo, hi] (at least 1)."""
    return max(1, (hi - lo).bit_length())



class SecretInt(ComparableSecret):
    """Secret integers (any numpy shape) Shamir-shared over Z_(2^127-1) among
    the runtime's compute parties.

    ``lo``/``hi`` bound every element (None: any field element, no range
    known); they grow through arithmetic exactly as interval arithmetic says
    and decide the width of comparisons and conversions. ``degree`` is 1 for
    ordinary sharings (degree t) and 2 after :meth:`mul_wide` (degree 2t).
    Outside the compute parties ``shares`` is None (an absent value).
    """


    def __init__(self, rt: Runtime, shares: Array | None, lo: int | None, hi: int | None, *, degree: int = 1,
                 onehot: Array | None = None) -> None:
        self.rt = rt
        # (numpy turns 0-d object results into plain ints: keep them arrays)
        self.shares = shares if shares is None or isinstance(shares, np.ndarray) else np.asarray(shares, dtype=object)
        known = lo is not None and hi is not None
        self.lo: int | None = lo if known else None
        self.hi: int | None = hi if known else None
        self.degree = degree
        self._onehot = onehot

    @classmethod
    def from_onehot(cls, rt: Runtime, onehot: Array | None, lo: int, hi: int) -> SecretInt:
        """The value whose one-hot blocks (of ``x - lo``) are shared in ``onehot`` (local)."""
        if onehot is None:
            return cls(rt, None, lo, hi)
        width = onehot_width(lo, hi)
        bits = bits_from_onehot(onehot, width, P127)
        weights = np.array([1 << j for j in range(width)], dtype=object)
        value = np.asarray(P127.sum(P127.mul(bits, weights), axis=-1), dtype=object)
        return cls(rt, P127.add(value, P127.const(lo, value.shape)), lo, hi, onehot=onehot)

    # -- what a value is ---------------------------------------------------------

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The element shape (None where this party holds no shares)."""
        return None if self.shares is None else tuple(self.shares.shape)

    def __repr__(self) -> str:
        rng = "any field element" if self.lo is None else f"[{self.lo}, {self.hi}]"
        return f"SecretInt(shape={self.shape}, range={rng}, degree={'2t' if self.degree == 2 else 't'})"

    def with_range(self, lo: int, hi: int) -> SecretInt:
        """The same shares, now known to lie in [lo, hi]: for values whose
        range an earlier check in MPC established (a ballot found to be 0 or
        1, say). Comparisons and conversions rely on it."""
        if lo > hi:
            raise LocalProtocolViolation("lo must not exceed hi")
        return SecretInt(self.rt, self.shares, lo, hi, degree=self.degree)

    # -- local operations ----------------------------------------------------------

    def _new(self, shares: Array | None, lo: int | None, hi: int | None, degree: int | None = None) -> SecretInt:
        return SecretInt(self.rt, shares, lo, hi, degree=self.degree if degree is None else degree)

    def _other(self, other: Any) -> SecretInt:
        if isinstance(other, SecretInt):
            if other.rt is not self.rt:
                raise LocalProtocolViolation("secret values of different runtimes do not mix")
            return other
        if isinstance(other, SecretBitsLike):
            raise TypeError("a SecretBits value does not mix with a SecretInt: convert it with 'await b.to_int()'")
        if hasattr(other, "shares"):  # a SecretRing, say
            raise TypeError(f"a {type(other).__name__} does not mix with a SecretInt")
        return self.rt.public_int(other)

    def __add__(self, other: Any) -> SecretInt:
        o = self._other(other)
        shares = None if self.shares is None or o.shares is None else P127.add(self.shares, o.shares)
        lo, hi = _bounds2(self, o, lambda a, b: (a[0] + b[0], a[1] + b[1]))
        return self._new(shares, lo, hi, max(self.degree, o.degree))

    __radd__ = __add__

    def __neg__(self) -> SecretInt:
        shares = None if self.shares is None else P127.sub(P127.zeros(self.shares.shape), self.shares)
        return self._new(shares, None if self.hi is None else -self.hi, None if self.lo is None else -self.lo)

    def __sub__(self, other: Any) -> SecretInt:
        return _difference(self, self._other(other))

    def __rsub__(self, other: Any) -> SecretInt:
        return _difference(self._other(other), self)

    def __mul__(self, other: Any) -> SecretInt:
        if isinstance(other, SecretInt):
            raise TypeError("multiplying two secret values costs a round: use 'await x.mul(y)' "
                            "(or x.mul_wide(y) for a degree-2t product to sum and open)")
        c = np.asarray(other, dtype=object)
        shares = None if self.shares is None else P127.mul(self.shares, P127.from_ints(c))
        lo, hi = _scaled_bounds(self, c)
        return self._new(shares, lo, hi)

    __rmul__ = __mul__

    def __matmul__(self, matrix: Any) -> SecretInt:
        return self._matmul(np.asarray(matrix, dtype=object), left=False)

    def __rmatmul__(self, matrix: Any) -> SecretInt:
        return self._matmul(np.asarray(matrix, dtype=object), left=True)

    def _matmul(self, m: Array, *, left: bool) -> SecretInt:
        if isinstance(m.flat[0] if m.size else None, SecretInt):
            raise TypeError("@ takes a public matrix")
        shares = None
        if self.shares is not None:
            prod = np.matmul(m, self.shares) if left else np.matmul(self.shares, m)
            shares = np.asarray(prod, dtype=object) % P127.p
        lo = hi = None
        if self.lo is not None and self.hi is not None:
            pos, neg = np.where(m > 0, m, 0), np.where(m < 0, m, 0)
            axis = 1 if left else 0
            # worst cases per output element: positive weights at one end, negative at the other
            lows = pos.sum(axis=axis) * self.lo + neg.sum(axis=axis) * self.hi
            highs = pos.sum(axis=axis) * self.hi + neg.sum(axis=axis) * self.lo
            lo, hi = (int(np.min(lows)), int(np.max(highs))) if np.size(lows) else (0, 0)
        return self._new(shares, lo, hi)

    def __getitem__(self, index: Any) -> SecretInt:
        shares = None if self.shares is None else self.shares[index]
        onehot = None if self._onehot is None else self._onehot[leading_index(index)]
        return SecretInt(self.rt, shares, self.lo, self.hi, degree=self.degree, onehot=onehot)

    def sum(self, axis: int | None = None) -> SecretInt:
        """The sum along ``axis`` (all elements when None); local."""
        if self.shares is None:
            return self._new(None, None, None)
        count = self.shares.size if axis is None else self.shares.shape[axis]
        flat = self.shares.reshape(-1) if axis is None else self.shares
        shares = P127.sum(flat, axis=-1 if axis is None else axis)
        lo = None if self.lo is None else self.lo * count
        hi = None if self.hi is None else self.hi * count
        return self._new(np.asarray(shares, dtype=object), lo, hi)

    def reshape(self, *shape: Any) -> SecretInt:
        """The same elements in another shape; local."""
        shares = None if self.shares is None else self.shares.reshape(*shape)
        return self._new(shares, self.lo, self.hi)

    def mul_wide(self, other: SecretInt) -> SecretInt:
        """The element-wise product as a degree-2t sharing: local, no round.
        Such a value may be added, scaled, summed and opened (one round, with
        a mask the runtime set aside: ``Runtime(wide_opens=)``) or reduced
        (:meth:`reduce`), not multiplied again."""
        o = self._other(other)
        self._check_degree_t(o, "mul_wide")
        shares = None if self.shares is None or o.shares is None else P127.mul(self.shares, o.shares)
        lo, hi = _bounds2(self, o, _product_range)
        return self._new(shares, lo, hi, 2)

    def _check_degree_t(self, o: SecretInt, what: str) -> None:
        if self.degree != 1 or o.degree != 1:
            raise LocalProtocolViolation(f"{what} takes degree-t values: reduce a wide product first")

    # -- rounds ---------------------------------------------------------------------

    async def mul(self, other: Any) -> SecretInt:
        """The element-wise product (1 round, any size)."""
        o = self._other(other)
        if not isinstance(other, SecretInt):
            return self * np.asarray(other, dtype=object)
        self._check_degree_t(o, "mul")
        lo, hi = _bounds2(self, o, _product_range)
        if self.shares is None or o.shares is None:
            return self._new(None, lo, hi)
        (prod,) = await self.rt.field_engine.mul_many([(self.shares, o.shares)], masks=self.rt.take_mask_request())
        return self._new(prod, lo, hi, 1)

    async def select(self, a: Any, b: Any) -> SecretInt:
        """``a`` where this 0/1 value is 1, else ``b``: ``b + s (a - b)``, one round."""
        if self.lo is not None and self.hi is not None and not 0 <= self.lo <= self.hi <= 1:
            raise LocalProtocolViolation("select needs a 0/1 selector (a comparison result)")
        sa, sb = self._other(a), self._other(b)
        out = await self.mul(sa - sb) + sb
        if sa.lo is None or sb.lo is None or sa.hi is None or sb.hi is None:
            return SecretInt(self.rt, out.shares, None, None)
        return out.with_range(min(sa.lo, sb.lo), max(sa.hi, sb.hi))

    async def reduce(self) -> SecretInt:
        """A degree-2t value as an ordinary degree-t sharing (1 round; a
        degree-t value is returned as it is)."""
        if self.degree == 1 or self.shares is None:
            return self._new(self.shares, self.lo, self.hi, 1)
        (out,) = await self.rt.field_engine.reduce_many([self.shares], masks=self.rt.take_mask_request())
        return self._new(out, self.lo, self.hi, 1)

    async def reveal(self, *, shape: tuple[int, ...] | None = None) -> Array:
        """:meth:`open` to every party, which all receive the values."""
        out = await self.open(shape=shape)
        assert out is not None  # every party is a receiver
        return out

    async def open(self, to: Iterable[str] | None = None, *, shape: tuple[int, ...] | None = None) -> Array | None:
        """Reveal the values to the parties in ``to`` (default: all): one
        round, two for a degree-2t value when no mask was set aside. Returns
        Python ints (negative ones too when the range allows them) where this
        party receives, None elsewhere. ``shape``: what a receiver outside
        the compute parties must get (checked; by default learned from the
        first share)."""
        rt = self.rt
        receivers = rt.ctx.parties if to is None else tuple(to)  # (a tuple: shared, not copied)
        if to is not None and rt.ctx.me not in receivers and not rt.is_compute:
            return None
        eng = rt.field_engine
        value = self
        if self.degree == 2 and self.shares is not None and eng.masks_available < self.shares.size:
            value = await self.reduce()  # (receivers outside the compute parties reconstruct it as 2t: the same)
        rt.enter_result_round(receivers)
        want = None if shape is None else tuple(shape)  # (checked by the engine before it converts anything)
        if value.degree == 2:
            opened = await eng.open_wide(value.shares, to=receivers, shape=want)
        else:
            opened = await eng.open(value.shares, to=receivers, shape=want)
        if opened is None:
            return None
        if shape is not None and tuple(np.shape(opened)) != tuple(shape):
            raise RemoteProtocolViolation(f"the opened value has shape {np.shape(opened)}, expected {tuple(shape)}")
        out = np.asarray(opened, dtype=object)
        return P127.signed(out) if self.lo is None or self.lo < 0 else out

    async def _compare(self, other: Any, op: str) -> SecretInt:
        o = self._other(other)
        if self.shares is None or o.shares is None:  # (absent values: no round, nothing to check)
            return self._new(None, 0, 1)
        if self.lo is None or o.lo is None or self.hi is None or o.hi is None:
            raise LocalProtocolViolation("comparisons need values of known range (see with_range)")
        self._check_degree_t(o, "a comparison")
        rt = self.rt
        one = P127.const(1, np.broadcast_shapes(self.shares.shape, o.shares.shape))
        if self._onehot is not None and o._onehot is not None and (self.lo, self.hi) == (o.lo, o.hi) \
                and op not in ("eq", "ne"):
            # x > y straight from one-hot blocks, already a field 0/1 (mpcnet.mpc.binary.greater_than_onehot)
            a, b = (self._onehot, o._onehot) if op in ("gt", "le") else (o._onehot, self._onehot)
            g = await greater_than_onehot(rt.field_engine, a, b, onehot_width(self.lo, self.hi),
                                          masks=rt.take_mask_request())
            return self._new(P127.sub(one, g) if op in ("le", "ge") else g, 0, 1, 1)
        # Arithmetic comparison: the top bit of x - y + 2^k (mpcnet.mpc.convert.less_than), one bit spare.
        k = max(2, (max(abs(self.lo), abs(self.hi), abs(o.lo), abs(o.hi)) + 1).bit_length() + 1)
        x, y = (np.atleast_1d(a) for a in np.broadcast_arrays(self.shares, o.shares))
        if op in ("eq", "ne"):
            x, y = np.stack([x, y]), np.stack([y, x])
        elif op in ("gt", "le"):
            x, y = y, x
        below = await less_than(rt.field_engine, rt.bit_engine, np.ascontiguousarray(x), np.ascontiguousarray(y), k)
        bit = (await bits_to_field(rt.field_engine, rt.bit_engine, below)).reshape(np.shape(x))
        if one.ndim == 0:
            bit = bit.reshape(bit.shape[:-1]) if op in ("eq", "ne") else bit.reshape(())
        if op in ("eq", "ne"):
            neither = P127.sub(P127.sub(one, bit[0]), bit[1])
            return self._new(neither if op == "eq" else P127.sub(one, neither), 0, 1, 1)
        return self._new(P127.sub(one, bit) if op in ("ge", "le") else bit, 0, 1, 1)

    async def onehot(self) -> SecretInt:
        """``[x == v]`` for every v of the range [lo, hi], on a new last axis:
        the Lagrange polynomials of the range points evaluated at x, from the
        powers x^1..x^(hi-lo) (for a value known to be one of a few, such as
        a rank)."""
        if self.shares is None:
            return self._new(None, 0, 1)
        if self.lo is None or self.hi is None or self.hi - self.lo >= ONEHOT_MAX_VALUES:
            raise LocalProtocolViolation(f"onehot needs a known range of at most {ONEHOT_MAX_VALUES} values")
        size = self.hi - self.lo + 1
        z = self - self.lo  # in 0..size-1
        powers = await _powers(z, size - 1)  # (..., size): z^0 .. z^(size-1)
        coeffs = _indicator_coefficients(size)  # (size, size): row v is [z == v] as a polynomial
        return SecretInt(self.rt, np.asarray(np.matmul(powers, coeffs.T), dtype=object) % P127.p, 0, 1)

    async def to_bits(self) -> SecretBits:
        """The bits of each value in GF(2^8) (two's complement when the range
        has negatives): ``bit_decompose`` of :mod:`mpcnet.mpc.convert`."""
        from .secbits import SecretBits

        if self.shares is None:
            return SecretBits(self.rt, None, 1)
        if self.lo is None or self.hi is None:
            raise LocalProtocolViolation("to_bits needs a value of known range (see with_range)")
        signed = self.lo < 0
        k = max(abs(self.lo) - (1 if signed else 0), abs(self.hi)).bit_length() + (1 if signed else 0)
        k = max(k, 1)
        rt = self.rt
        if self.shares is None:
            return SecretBits(rt, None, k, signed)
        value = (await self.reduce()).shares
        assert value is not None
        bits = await bit_decompose(rt.field_engine, rt.bit_engine, np.atleast_1d(value), k, signed=signed)
        bits = bits.reshape((*value.shape, k))
        return SecretBits(rt, bits, k, signed)


class SecretBitsLike:
    """Marker base of :class:`~mpcnet.mpc.SecretBits` (kept here to refuse mixing without an import cycle)."""


def leading_index(index: Any) -> Any:
    """An index for the leading axes of an array with one extra trailing axis."""
    if isinstance(index, tuple) and any(i is Ellipsis for i in index):
        return (*index, slice(None))
    return index


def _difference(a: SecretInt, b: SecretInt) -> SecretInt:
    shares = None if a.shares is None or b.shares is None else P127.sub(a.shares, b.shares)
    lo, hi = _bounds2(a, b, lambda x, y: (x[0] - y[1], x[1] - y[0]))
    return SecretInt(a.rt, shares, lo, hi, degree=max(a.degree, b.degree))


def _bounds2(a: SecretInt, b: SecretInt, rule: Any) -> tuple[int | None, int | None]:
    if a.lo is None or a.hi is None or b.lo is None or b.hi is None:
        return None, None
    lo, hi = rule((a.lo, a.hi), (b.lo, b.hi))
    return int(lo), int(hi)


def _product_range(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    corners = [x * y for x in a for y in b]
    return min(corners), max(corners)


def _scaled_bounds(x: SecretInt, c: Array) -> tuple[int | None, int | None]:
    if x.lo is None or x.hi is None:
        return None, None
    if c.size == 0:
        return 0, 0
    cmin, cmax = int(np.min(c)), int(np.max(c))
    return _product_range((x.lo, x.hi), (cmin, cmax))


async def _powers(z: SecretInt, top: int) -> Array:
    """Shares of z^0 .. z^top on a new last axis: each round doubles the
    highest power known (z^(j + h) = z^j z^h for the top power h), so
    ``ceil(log2 top)`` rounds."""
    assert z.shares is not None
    f = P127
    known = [f.const(1, z.shares.shape), z.shares]
    rt = z.rt
    while len(known) - 1 < top:
        h = len(known) - 1
        want = list(range(h + 1, min(2 * h, top) + 1))
        pairs = [(known[j - h], known[h]) for j in want]
        known += await rt.field_engine.mul_many(pairs, masks=rt.take_mask_request())
    return np.stack(known[: top + 1], axis=-1)


def _indicator_coefficients(size: int) -> Array:
    """(size, size) object matrix: row v holds the coefficients (constant
    first) of the polynomial that is 1 at v and 0 at the other points of
    0..size-1, over Z_(2^127-1)."""
    p = P127.p
    rows = []
    for v in range(size):
        poly = [1]  # prod_{u != v} (z - u) / (v - u)
        denom = 1
        for u in range(size):
            if u == v:
                continue
            poly = [((poly[i - 1] if i else 0) - u * (poly[i] if i < len(poly) else 0)) % p for i in range(len(poly) + 1)]
            denom = denom * (v - u) % p
        inv = pow(denom, -1, p)
        rows.append([c * inv % p for c in poly])
    return np.array(rows, dtype=object)


def concat_ints(values: Sequence[SecretInt], axis: int) -> SecretInt:
    """Concatenation along ``axis`` (absent if any part is absent)."""
    return _join(values, lambda arrs, extra: np.concatenate(arrs, axis=axis - extra if axis < 0 else axis))


def stack_ints(values: Sequence[SecretInt], axis: int) -> SecretInt:
    """Stacking along a new ``axis``."""
    return _join(values, lambda arrs, extra: np.stack(arrs, axis=axis - extra if axis < 0 else axis))


def _join(values: Sequence[SecretInt], how: Any) -> SecretInt:
    """``how(arrays, trailing)`` joins the parts' shares (trailing = 0) and,
    when every part has them and they agree in range, their one-hot forms
    (trailing = 1: one more axis at the end)."""
    first = values[0]
    rt = first.rt
    if any(v.rt is not rt for v in values):
        raise LocalProtocolViolation("secret values of different runtimes do not mix")
    degree = max(v.degree for v in values)
    known = all(v.lo is not None for v in values)
    lo = min(v.lo for v in values if v.lo is not None) if known else None
    hi = max(v.hi for v in values if v.hi is not None) if known else None
    if any(v.shares is None for v in values):
        return SecretInt(rt, None, lo, hi, degree=degree)
    onehot = None
    if all(v._onehot is not None and (v.lo, v.hi) == (lo, hi) for v in values):
        onehot = how([v._onehot for v in values], 1)
    return SecretInt(rt, np.asarray(how([v.shares for v in values], 0), dtype=object), lo, hi, degree=degree,
                     onehot=onehot)
