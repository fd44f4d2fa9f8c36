"""Exact samplers for differential privacy: no floating point anywhere.

Part of :mod:`mpcnet.dp` (import the public names from there). Everything
here is driven by a :class:`~mpcnet.randomness.Randomness` and uses only integer
and rational arithmetic, so the output distribution is *exactly* the one
stated. A floating-point sampler is not: Mironov (2012, "On significance of
the least significant bits for differential privacy") showed that the set of
doubles a textbook Laplace sampler can return depends on the input, so single
outputs can reveal it outright.

The algorithms follow Canonne, Kamath and Steinke (2020, "The Discrete
Gaussian for Differential Privacy", NeurIPS), Algorithms 1-3:

* :func:`bernoulli_exp`: Bernoulli(exp(-gamma)) from Bernoulli(gamma/k) coins
  (a von Neumann style series); whole parts of gamma via exp(-1) factors.
* :func:`discrete_laplace`: a uniform residue accepted with exp(-U/t), plus t
  times a geometric count of exp(-1) successes, divided down by s; a random
  sign, with "-0" rejected so that zero is not counted twice.
* :func:`discrete_gaussian`: rejection sampling from a discrete Laplace of
  scale floor(sigma)+1, accepted with exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)).

The probability-mass helpers (``*_pmf``, ``*_variance``) are for checking
and planning, not sampling: they use :mod:`decimal` with 50 significant digits
and return floats.
"""

from __future__ import annotations

import decimal
import functools
import math
import numbers
from decimal import Decimal
from fractions import Fraction
from typing import Any, overload

from ..randomness import OSRandomness, Randomness

__all__ = [
    "Rational",
    "as_rational",
    "bernoulli_exp",
    "discrete_gaussian",
    "discrete_gaussian_pmf",
    "discrete_gaussian_variance",
    "discrete_laplace",
    "discrete_laplace_pmf",
    "discrete_laplace_variance",
]

#: What the DP functions accept as a real parameter. A float is read as the
#: decimal it prints as (``0.1`` means exactly 1/10), a string as a fraction
#: or decimal (``"1/3"``, ``"0.25"``): parameters are exact rationals.
Rational = Fraction | int | float | str

_PRECISION = 50
_PI = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
#: Random bytes fetched from the Randomness by the first and the largest
#: refills of a sampler's bit pool.
_FIRST_REFILL_BYTES = 16
_MAX_REFILL_BYTES = 512


def as_rational(value: Any, name: str) -> Fraction:
    """``value`` as an exact :class:`~fractions.Fraction`; :class:`TypeError`
    or :class:`ValueError` naming the parameter if it is not a finite number."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, not a bool")
    if isinstance(value, Fraction):
        return value
    if isinstance(value, numbers.Integral):  # int, numpy integers
        return Fraction(int(value))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite")
        return Fraction(str(value))  # the decimal it prints as, not the binary approximation
    if isinstance(value, (str, Decimal)):
        try:
            return Fraction(value)
        except (ValueError, ZeroDivisionError, decimal.InvalidOperation):
            raise ValueError(f"{name} must be a fraction or decimal such as '1/2' or '0.5'") from None
    raise TypeError(f"{name} must be an int, Fraction, float or str, not {type(value).__name__}")


# positive_rational, bit_pool, bern_exp and to_decimal are shared with
# mpcnet.dp.mechanisms: package-internal (not in __all__, not exported by
# mpcnet.dp), but without an underscore because they cross a module.


def positive_rational(value: Any, name: str) -> Fraction:
    """``value`` as an exact rational; ValueError unless it is > 0."""
    x = as_rational(value, name)
    if x <= 0:
        raise ValueError(f"{name} must be positive")
    return x


def _check_size(size: int | None) -> None:
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError("size must be None or a non-negative integer")


class _BitPool:
    """Uniform integers from a :class:`Randomness`, fetched in blocks.

    ``Randomness.below`` costs a call and 9+ fresh bytes per draw; the
    samplers draw many small integers, so they take bits from a pool instead.
    Each draw uses exactly ``(bound-1).bit_length()`` fresh bits and rejects
    values >= bound (unbiased; fewer than 2 tries on average). Unused bits are
    simply dropped when the sampler returns.
    """

    __slots__ = ("_avail", "_pool", "_refill", "_rng")

    def __init__(self, rng: Randomness) -> None:
        self._rng = rng
        self._pool = 0
        self._avail = 0
        self._refill = _FIRST_REFILL_BYTES

    def _bits(self, k: int) -> int:
        if self._avail < k:
            # Small first (one sample needs a few dozen bits), doubling for bulk draws.
            nbytes = max(self._refill, (k - self._avail + 7) // 8)
            self._refill = min(2 * self._refill, _MAX_REFILL_BYTES)
            self._pool = (self._pool << (8 * nbytes)) | int.from_bytes(self._rng.bytes(nbytes), "big")
            self._avail += 8 * nbytes
        self._avail -= k
        out = self._pool >> self._avail
        self._pool &= (1 << self._avail) - 1
        return out

    def below(self, bound: int) -> int:
        """Uniform in ``[0, bound)``."""
        k = (bound - 1).bit_length()
        while True:
            x = self._bits(k)
            if x < bound:
                return x

    def bernoulli(self, num: int, den: int) -> bool:
        """True with probability exactly ``num/den`` (0 <= num <= den)."""
        return self.below(den) < num


def bit_pool(rng: Randomness | None) -> _BitPool:
    """A bit pool over ``rng`` (the operating system's randomness if None)."""
    if rng is None:
        rng = OSRandomness()
    if not isinstance(rng, Randomness):
        raise TypeError("rng must be an mpcnet Randomness (e.g. OSRandomness() or ctx.random)")
    return _BitPool(rng)


# --- Bernoulli(exp(-gamma)): Canonne, Kamath, Steinke 2020, Algorithm 1 ------------------


def _bern_exp_small(num: int, den: int, bits: _BitPool) -> bool:
    """Bernoulli(exp(-num/den)) for 0 <= num/den <= 1.

    Draw A_k ~ Bernoulli(gamma/k) for k = 1, 2, ... until the first A_k = 0;
    the probability that this happens at an odd k is
    sum_k (-1)^(k-1) ... = exp(-gamma) (the alternating exponential series).
    """
    k = 1
    while bits.bernoulli(num, den * k):
        k += 1
    return k % 2 == 1


def bern_exp(num: int, den: int, bits: _BitPool) -> bool:
    """Bernoulli(exp(-num/den)) for any num/den >= 0: exp(-gamma) is
    exp(-1)^floor(gamma) * exp(-frac(gamma)), one independent coin per factor
    (stop at the first failure)."""
    whole, rest = divmod(num, den)
    for _ in range(whole):
        if not _bern_exp_small(1, 1, bits):
            return False
    return _bern_exp_small(rest, den, bits)


def bernoulli_exp(gamma: Rational, rng: Randomness | None = None) -> bool:
    """True with probability exactly ``exp(-gamma)``, for rational ``gamma >= 0``.

    Canonne, Kamath, Steinke 2020, Algorithm 1. Expected cost: about
    ``gamma + 2`` uniform draws.
    """
    g = as_rational(gamma, "gamma")
    if g < 0:
        raise ValueError("gamma must be non-negative")
    return bern_exp(g.numerator, g.denominator, bit_pool(rng))


# --- discrete Laplace: Algorithm 2 --------------------------------------------------------


def _discrete_laplace(t: int, s: int, bits: _BitPool) -> int:
    """One sample with P(x) proportional to exp(-|x| * s / t)."""
    while True:
        # X = U + t*V is geometric with P(X = x) ∝ exp(-x/t): U uniform in
        # [0, t) accepted with exp(-U/t) gives the residue, V counts
        # exp(-1) successes (the quotient by t).
        u = bits.below(t)
        if not _bern_exp_small(u, t, bits):
            continue
        v = 0
        while _bern_exp_small(1, 1, bits):
            v += 1
        y = (u + t * v) // s  # geometric with ratio exp(-s/t)
        negative = bits.below(2) == 1
        if negative and y == 0:
            continue  # otherwise 0 would be reached from both signs
        return -y if negative else y


@overload
def discrete_laplace(scale: Rational, rng: Randomness | None = None, size: None = None) -> int: ...


@overload
def discrete_laplace(scale: Rational, rng: Randomness | None, size: int) -> list[int]: ...


@overload
def discrete_laplace(scale: Rational, *, size: int) -> list[int]: ...


def discrete_laplace(scale: Rational, rng: Randomness | None = None, size: int | None = None) -> int | list[int]:
    """Exact discrete Laplace (two-sided geometric) samples:
    ``P(x) = (1-q)/(1+q) * q^|x|`` with ``q = exp(-1/scale)``, x any integer.

    ``scale`` is a positive rational; :func:`laplace_scale` gives
    ``sensitivity/epsilon``, which makes ``f(x) + noise`` epsilon-DP for an
    integer-valued ``f`` of that L1 sensitivity. Returns an ``int``, or a
    ``list`` of ``size`` ints. Canonne, Kamath, Steinke 2020, Algorithm 2.
    """
    sc = positive_rational(scale, "scale")
    _check_size(size)
    bits = bit_pool(rng)
    t, s = sc.numerator, sc.denominator
    if size is None:
        return _discrete_laplace(t, s, bits)
    return [_discrete_laplace(t, s, bits) for _ in range(size)]


# --- discrete Gaussian: Algorithm 3 ------------------------------------------------------


def _discrete_gaussian(p: int, q: int, bits: _BitPool) -> int:
    """One sample with P(x) ∝ exp(-x^2 / (2 sigma^2)), sigma^2 = p/q."""
    t = math.isqrt(p * q) // q + 1  # floor(sigma) + 1, exactly
    while True:
        y = _discrete_laplace(t, 1, bits)
        # Accept with exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)); over integers:
        # ((|y| q t - p)^2) / (2 p q t^2).
        a = abs(y) * q * t - p
        if bern_exp(a * a, 2 * p * q * t * t, bits):
            return y


@overload
def discrete_gaussian(sigma2: Rational, rng: Randomness | None = None, size: None = None) -> int: ...


@overload
def discrete_gaussian(sigma2: Rational, rng: Randomness | None, size: int) -> list[int]: ...


@overload
def discrete_gaussian(sigma2: Rational, *, size: int) -> list[int]: ...


def discrete_gaussian(sigma2: Rational, rng: Randomness | None = None, size: int | None = None) -> int | list[int]:
    """Exact discrete Gaussian samples: ``P(x) ∝ exp(-x^2 / (2 sigma2))`` over
    the integers, for a positive rational variance parameter ``sigma2``.

    Adding it to an integer query of L2 sensitivity ``D`` gives
    ``D^2 / (2 sigma2)``-zCDP (Canonne, Kamath, Steinke 2020).
    Returns an ``int``, or a ``list`` of ``size`` ints. Algorithm 3 of the
    same paper; fewer than about 2.5 discrete Laplace draws per sample.
    """
    s2 = positive_rational(sigma2, "sigma2")
    _check_size(size)
    bits = bit_pool(rng)
    p, q = s2.numerator, s2.denominator
    if size is None:
        return _discrete_gaussian(p, q, bits)
    return [_discrete_gaussian(p, q, bits) for _ in range(size)]


# --- exact probabilities (for tests and planning; decimal, not sampling) -----------------


def to_decimal(x: Fraction) -> Decimal:
    """``x`` as a Decimal at the current context's precision."""
    return Decimal(x.numerator) / Decimal(x.denominator)


def discrete_laplace_pmf(x: int, scale: Rational) -> float:
    """``P(X = x)`` for the discrete Laplace of :func:`discrete_laplace`."""
    sc = positive_rational(scale, "scale")
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        q = (-1 / to_decimal(sc)).exp()
        return float((1 - q) / (1 + q) * (-abs(int(x)) / to_decimal(sc)).exp())


def discrete_laplace_variance(scale: Rational) -> float:
    """The variance of :func:`discrete_laplace`: ``2q / (1-q)^2``, ``q = exp(-1/scale)``
    (slightly below the continuous Laplace's ``2 scale^2``)."""
    sc = positive_rational(scale, "scale")
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        q = (-1 / to_decimal(sc)).exp()
        return float(2 * q / (1 - q) ** 2)


@functools.lru_cache(maxsize=64)
def _gaussian_sums(s2: Fraction) -> tuple[Decimal, Decimal]:
    """(sum_y exp(-y^2/(2 s2)), sum_y y^2 exp(-y^2/(2 s2))) over all integers y."""
    with decimal.localcontext(decimal.Context(prec=_PRECISION + 10)):
        v = to_decimal(s2)
        if s2 < 1:
            # Terms fall like exp(-y^2/2): 40 terms are far below 10^-50.
            z = m2 = Decimal(0)
            for y in range(-40, 41):
                w = (-Decimal(y * y) / (2 * v)).exp()
                z += w
                m2 += y * y * w
            return z, m2
        # Poisson summation (the Jacobi theta identity): with a = 2 pi^2 sigma^2,
        #   sum_y exp(-y^2/2s2)     = sqrt(2 pi s2) (1 + 2 sum_k exp(-a k^2))
        #   sum_y y^2 exp(-y^2/2s2) = sqrt(2 pi s2)/(4 pi^2) (2a + 2 sum_k exp(-a k^2)(2a - 4a^2 k^2))
        # For sigma >= 1, exp(-a) < 3e-9, so a few terms reach 50 digits.
        a = 2 * _PI * _PI * v
        root = (2 * _PI * v).sqrt()
        z_tail = m_tail = Decimal(0)
        for k in range(1, 12):
            w = (-a * k * k).exp()
            z_tail += w
            m_tail += w * (2 * a - 4 * a * a * k * k)
        return root * (1 + 2 * z_tail), root / (4 * _PI * _PI) * (2 * a + 2 * m_tail)


def discrete_gaussian_pmf(x: int, sigma2: Rational) -> float:
    """``P(X = x)`` for the discrete Gaussian of :func:`discrete_gaussian`."""
    s2 = positive_rational(sigma2, "sigma2")
    z, _ = _gaussian_sums(s2)
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        return float((-Decimal(int(x)) ** 2 / (2 * to_decimal(s2))).exp() / z)


def discrete_gaussian_variance(sigma2: Rational) -> float:
    """The variance of :func:`discrete_gaussian`: at most ``sigma2``
    (Canonne, Kamath, Steinke 2020), and by the Poisson summation above
    smaller by a relative ``8 pi^2 sigma2 exp(-2 pi^2 sigma2)`` to first
    order (2e-7 at sigma2 = 1, far less beyond)."""
    s2 = positive_rational(sigma2, "sigma2")
    z, m2 = _gaussian_sums(s2)
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        return float(m2 / z)
