"""Fixed-point secret values: real numbers held as secret integers at a
public scale, on either engine (:class:`SecretFixed`).

A real x is held as the integer ``round(x * 2^f)`` (``f`` fractional bits,
:data:`DEFAULT_FRAC` unless told) inside a :class:`~mpcnet.mpc.SecretRing`
with exactly two parties (additive shares mod 2^64, the two-party engine
:mod:`mpcnet.mpc.fixed2p`), inside a :class:`~mpcnet.mpc.fixedrep.RepRing`
with exactly three compute parties on the runtime's replicated engine (the
toolkit's choice at three, :func:`~mpcnet.mpc.runtime.choose_engine`:
replicated shares mod 2^64, :mod:`mpcnet.mpc.fixedrep`) and inside a
:class:`~mpcnet.mpc.SecretInt` otherwise (three or more compute parties,
Shamir over Z_(2^127-1): :mod:`mpcnet.mpc.fixedfield`). A product of two such values
is exact at scale ``2^(2f)``; :meth:`SecretFixed.trunc` and
:meth:`SecretFixed.relu` bring it back to ``2^f`` (the error of each is
stated where it is implemented, and in ``docs/architecture.md``).

Every value carries a public ``bound``: the largest magnitude its integer
can have. The caller guarantees it (an input's is checked on entry; a
matrix product's is declared by the caller, who must know it, e.g. from a
model checked in the clear by its owner), and the non-linear steps size
their circuits by it: a value of bound B needs ``k = bit_length(B) + 1``
bits, sign included. Nothing is checked in MPC: a bound that is wrong gives
wrong results, never a leak.

Rounds (whatever the number of elements): :meth:`Runtime.input_fixed
<mpcnet.mpc.Runtime.input_fixed>` 1 (0 with two parties: each owner holds
its own value), :meth:`~SecretFixed.matmul`, :meth:`~SecretFixed.trunc`,
:meth:`~SecretFixed.relu`, :meth:`~SecretFixed.argmax`: the engine's, in
:mod:`mpcnet.mpc.fixed2p`, :mod:`mpcnet.mpc.fixedrep` and :mod:`mpcnet.mpc.fixedfield`;
:meth:`~SecretFixed.open` 1. Addition, subtraction, scaling by public
integers and indexing are local.

Security: that of the engine underneath (two parties: semi-honest, either
party; three on the ring: semi-honest, one corruption; three or more on the
field: semi-honest, honest majority). What is public: the
shapes, ``frac``, the scales and the bounds, never a value until opened.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, InputError, LocalProtocolViolation
from .secint import SecretInt
from .secring import RING_LIMIT, SecretRing
from .value import SecretValue

if TYPE_CHECKING:
    from .fixedrep import RepRing
    from .runtime import Runtime

__all__ = ["SecretFixed", "DEFAULT_FRAC", "encode", "integer_bound", "input_fixed"]

Array = np.ndarray[Any, Any]

#: Fractional bits unless told otherwise: 2^-16 ~ 1.5e-5 resolution.
DEFAULT_FRAC = 16
#: The most fractional bits: a product at scale 2^(2f) must leave room in 64 bits.
MAX_FRAC = 24


def _check_frac(frac: int) -> None:
    if isinstance(frac, bool) or not isinstance(frac, int) or not 1 <= frac <= MAX_FRAC:
        raise ConfigError(f"frac (fractional bits) must be an integer in 1..{MAX_FRAC}")


def encode(values: Any, frac: int, scale: int = 1) -> Array:
    """The integers ``round(x * 2^(frac * scale))`` (int64; ties to even) of
    finite reals ``values``. No range check: see :func:`input_fixed`."""
    arr = np.asarray(values, dtype=np.float64)
    return np.asarray(np.rint(np.ldexp(arr, frac * scale)), dtype=np.int64)


def integer_bound(bound: float, frac: int, scale: int = 1) -> int:
    """The bound on the integers of reals of magnitude <= ``bound`` at that
    scale (rounding included)."""
    return math.ceil(math.ldexp(bound, frac * scale) + 0.5)


class SecretFixed(SecretValue):
    """Secret reals (any numpy shape) as secret integers at scale
    ``2^(frac * scale)``: ``scale`` is 1 for an input, 2 for a product not
    yet truncated. ``bound`` is the public bound on the integers' magnitude
    (the caller's guarantee: see :mod:`mpcnet.mpc.fixed`). Build them with
    :meth:`Runtime.input_fixed <mpcnet.mpc.Runtime.input_fixed>`."""

    def __init__(self, value: SecretInt | SecretRing | RepRing, frac: int, scale: int, bound: int) -> None:
        _check_frac(frac)
        if scale not in (1, 2):
            raise LocalProtocolViolation("a fixed-point value is at scale 1 (2^f) or 2 (2^2f, a product)")
        if bound < 0:
            raise LocalProtocolViolation("a bound is a magnitude (>= 0)")
        self.value = value
        self.frac, self.scale, self.bound = frac, scale, int(bound)
        if not isinstance(value, SecretInt) and self.bits > 64:
            raise LocalProtocolViolation(f"a bound of {self.bits} bits does not fit the ring mod 2^64: "
                                         f"declare a smaller range or fewer fractional bits")

    # -- what it is ------------------------------------------------------------------

    @property
    def rt(self) -> Runtime:
        """The runtime of the integer underneath."""
        return self.value.rt

    @property
    def shares(self) -> Any:
        """The shares of the integer underneath (None outside the compute parties)."""
        return self.value.shares

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The element shape (None where this party holds no shares)."""
        return self.value.shape

    @property
    def bits(self) -> int:
        """Bits of the integers, sign included: ``bit_length(bound) + 1``."""
        return self.bound.bit_length() + 1

    @property
    def real_bound(self) -> float:
        """``bound`` as a real: the largest magnitude the values can have."""
        return math.ldexp(self.bound, -self.frac * self.scale)

    def __repr__(self) -> str:
        where = "absent" if self.absent else f"shape {self.shape}"
        return f"<SecretFixed {where}, frac={self.frac}, scale={self.scale}, |x| <= {self.real_bound:g}>"

    def _new(self, value: SecretInt | SecretRing | RepRing, scale: int | None = None, bound: int | None = None) -> SecretFixed:
        return SecretFixed(value, self.frac, self.scale if scale is None else scale,
                           self.bound if bound is None else bound)

    # -- local -----------------------------------------------------------------------

    def _aligned(self, other: SecretFixed) -> tuple[SecretFixed, SecretFixed]:
        """Both at the larger scale (the smaller one multiplied by 2^f: exact)."""
        if other.frac != self.frac:
            raise LocalProtocolViolation("fixed-point values of different fractional bits do not mix")
        if type(other.value) is not type(self.value):
            raise LocalProtocolViolation("fixed-point values of different engines do not mix")
        a, b = self, other
        if a.scale < b.scale:
            a = a._new(a.value * (1 << a.frac), b.scale, a.bound << a.frac)
        elif b.scale < a.scale:
            b = b._new(b.value * (1 << b.frac), a.scale, b.bound << b.frac)
        return a, b

    def __add__(self, other: Any) -> SecretFixed:
        if isinstance(other, SecretFixed):
            a, b = self._aligned(other)
            return a._new(a.value + b.value, bound=a.bound + b.bound)
        c = encode(other, self.frac, self.scale)
        return self._new(self.value + c, bound=self.bound + int(np.abs(c).max(initial=0)))

    __radd__ = __add__

    def __neg__(self) -> SecretFixed:
        return self._new(-self.value)

    def __sub__(self, other: Any) -> SecretFixed:
        negated: Any = -other
        out: SecretFixed = self + negated
        return out

    def __rsub__(self, other: Any) -> SecretFixed:
        out: SecretFixed = (-self) + other
        return out

    def __getitem__(self, index: Any) -> SecretFixed:
        return self._new(self.value[index])

    def reshape(self, *shape: Any) -> SecretFixed:
        """The same elements in another shape; local."""
        return self._new(self.value.reshape(*shape))

    def with_bound(self, bound: float) -> SecretFixed:
        """The same value, now known to have magnitude at most ``bound`` (a
        real): the caller's guarantee, e.g. a model checked in the clear by
        its owner. The non-linear steps size their circuits by it."""
        return self._new(self.value, bound=integer_bound(bound, self.frac, self.scale))

    # -- rounds ----------------------------------------------------------------------

    def _engine(self) -> Any:
        """The module that implements this value's non-linear steps."""
        if isinstance(self.value, SecretRing):
            from . import fixed2p
            return fixed2p
        if not isinstance(self.value, SecretInt):
            from . import fixedrep
            return fixedrep
        from . import fixedfield
        return fixedfield

    async def matmul(self, other: SecretFixed, *, bound: float) -> SecretFixed:
        """``self @ other`` for ``self`` of shape ``(..., n)`` and ``other`` of
        shape ``(n, m)``, both at scale 1: the exact product at scale 2 (no
        truncation yet: :meth:`relu` or :meth:`trunc` next). ``bound`` is the
        caller's guarantee on the result's magnitude (as a real): the
        product's own worst case is usually far too loose to size the
        comparisons that follow."""
        if self.scale != 1 or other.scale != 1:
            raise LocalProtocolViolation("matmul takes values at scale 1: truncate a product first")
        if other.frac != self.frac or type(other.value) is not type(self.value):
            raise LocalProtocolViolation("matmul takes two fixed-point values of one kind and one frac")
        limit = integer_bound(bound, self.frac, 2)
        value = await self._engine().matmul(self.value, other.value, -limit, limit)
        return self._new(value, 2, limit)

    async def trunc(self) -> SecretFixed:
        """A product (scale 2) back at scale 1: ``floor(y / 2^f)`` (the
        engine's truncation: its rounds and error in its module)."""
        if self.scale != 2:
            raise LocalProtocolViolation("only a product (scale 2) is truncated")
        value = await self._engine().trunc(self.value, self.frac, self.bits)
        return self._new(value, 1, (self.bound >> self.frac) + 1)

    async def relu(self) -> SecretFixed:
        """``max(0, y)``, truncated to scale 1 when ``y`` is a product (one
        circuit for both: the rounds of the engine's ``relu_trunc``)."""
        f = self.frac if self.scale == 2 else 0
        value = await self._engine().relu_trunc(self.value, f, self.bits)
        return self._new(value, 1, (self.bound >> f) + 1)

    async def argmax(self) -> Any:
        """The index of the largest element along the last axis (the first
        on ties), as a secret integer of the engine to :meth:`open` (``await
        idx.open(to=[...])``); the values stay secret."""
        if not self.shape and not self.absent:
            raise LocalProtocolViolation("argmax needs an axis")
        return await self._engine().argmax(self.value, self.bits)

    async def open(self, to: Iterable[str] | None = None) -> Array | None:
        """One round: the values as float64 at the parties in ``to`` (default:
        all), None elsewhere."""
        got = await self.value.open(to)
        if got is None:
            return None
        ints = np.asarray(got, dtype=object) if isinstance(self.value, SecretInt) else np.asarray(got)
        return np.asarray(np.ldexp(ints.astype(np.float64), -self.frac * self.scale))

    async def reveal(self) -> Array:
        """:meth:`open` to every party."""
        out = await self.open()
        assert out is not None
        return out


def _check_reals(mine: Any, shape: tuple[int, ...], bound: float) -> Array:
    """The owner's reals: the declared shape, finite, within ``bound`` (an
    InputError that names no value)."""
    try:
        arr = np.asarray(mine, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("fixed-point input must be numbers") from None
    if arr.shape != tuple(shape):
        raise InputError(f"fixed-point input of shape {arr.shape}, expected {tuple(shape)}")
    if not np.isfinite(arr).all():
        raise InputError("fixed-point input must be finite numbers (no NaN or infinity)")
    if arr.size and float(np.abs(arr).max()) > bound:
        raise InputError(f"fixed-point input outside the declared range [-{bound:g}, {bound:g}]")
    return arr


async def input_fixed(rt: Runtime, owners: Mapping[str, tuple[int, ...]], mine: Any, *,
                      bound: float | Mapping[str, float], frac: int = DEFAULT_FRAC,
                      scale: int = 1) -> dict[str, SecretFixed]:
    """Every party in ``owners`` (party -> the declared shape of its reals)
    inputs ``mine``, each of magnitude at most ``bound`` (one for all, or
    one per owner; checked here, before anything is sent), as fixed-point
    values at ``2^(frac * scale)``. Two parties: no round
    (:func:`mpcnet.mpc.fixed2p.own_ring`: the owner holds its value, the
    peer zero); otherwise one round: replicated input mod 2^64 when the
    runtime's engine is the replicated one (exactly three compute parties:
    :func:`mpcnet.mpc.fixedrep.input_rep`), else Shamir input."""
    _check_frac(frac)
    bounds = dict(bound) if isinstance(bound, Mapping) else {p: bound for p in owners}
    if set(bounds) != set(owners):
        raise ConfigError("input_fixed needs one bound per owner")
    limits = {}
    for p, b in bounds.items():
        if isinstance(b, bool) or not (isinstance(b, (int, float)) and math.isfinite(b) and b > 0):
            raise ConfigError("a fixed-point bound must be a positive finite number")
        limits[p] = integer_bound(b, frac, scale)
        bits = limits[p].bit_length() + 1
        if (rt.two_party and bits > 64) or limits[p] >= RING_LIMIT:
            raise ConfigError(f"a bound of {b:g} at {frac * scale} fractional bits needs {bits} bits: too many")
    ints: Array | None = None
    if rt.ctx.me in owners:
        ints = encode(_check_reals(mine, owners[rt.ctx.me], bounds[rt.ctx.me]), frac, scale)
    if rt.two_party:
        from .fixed2p import own_ring
        return {p: SecretFixed(own_ring(rt, p, ints if p == rt.ctx.me else None, tuple(shape), -limits[p],
                                        limits[p]), frac, scale, limits[p]) for p, shape in owners.items()}
    if rt.engine == "replicated":
        # Three compute parties (choose_engine): the replicated ring mod 2^64, mpcnet.mpc.fixedrep.
        from .fixedrep import input_rep
        rep = await input_rep(rt, owners, ints, limits)
        return {p: SecretFixed(v, frac, scale, limits[p]) for p, v in rep.items()}
    bits = max(limits.values()).bit_length() + 1
    got = await rt.input_int(owners, None if ints is None else ints.astype(object), bits=bits, signed=True)
    return {p: SecretFixed(v.with_range(-limits[p], limits[p]), frac, scale, limits[p]) for p, v in got.items()}
