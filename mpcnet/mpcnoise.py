"""Differential-privacy noise generated inside MPC: nobody ever sees it.

:func:`shared_discrete_laplace` returns Shamir shares (in Z_p) of samples of
the discrete Laplace distribution ``P(x) ∝ exp(-|x| / scale)``, computed from
jointly random bits, so no party (nor any coalition of up to t compute
parties) learns the noise, and nobody can subtract it from an opened result.

Method. A discrete Laplace sample is the difference of two independent
geometric samples ``G`` with ``P(G = g) ∝ q^g``, ``q = exp(-1/scale)``. The
binary digits of a geometric variable are independent: digit ``i`` is 1 with
probability ``q^(2^i) / (1 + q^(2^i))`` (because ``q^g`` factors over the
digits of ``g``). Each digit is drawn in MPC as ``[U < T_i]`` for a shared
uniform 64-bit ``U`` (the XOR of random bits from t+1 parties) and the public
threshold ``T_i = round(2^64 * P(digit i = 1))``, a comparison with a public
constant (:func:`mpcnet.binary.less_than_public`). 64 digits per geometric
cover every ``G < 2^64``.

Exactness. Each digit's probability is off by at most 2^-65 from the ideal
(rounding of ``T_i``, computed with 100 significant digits), and ``G`` is cut
at 2^64 (probability ``q^(2^64)``). So the sampled noise is within total
variation ``eta <= 128 * 2^-65 + 2 q^(2^64)`` of the exact discrete Laplace,
and a mechanism that is epsilon-DP with exact noise is (epsilon, (1 + e^epsilon) * eta)-DP
with this noise: eta is below 2^-57 for any practical scale, so delta is
below 2^-55 for epsilon < ln 3 and grows with e^epsilon (about 2^-42.6 at
epsilon = 10, the protocols' documented figure).

Cost per sample: 128 comparisons of 64-bit values with public constants
(``ceil(log2 64) = 6`` rounds, about 16k ANDs), 128 bit conversions into Z_p;
the round count does not depend on the number of samples or on the scale.
"""

from __future__ import annotations

import decimal
from fractions import Fraction
from typing import Any

import numpy as np

from .binary import less_than_public, to_bits
from .convert import bits_to_field, random_bits
from .shamir import ShamirEngine

__all__ = ["shared_discrete_laplace", "geometric_digit_thresholds", "DIGITS"]

Array = np.ndarray[Any, Any]

#: Binary digits per geometric sample.
DIGITS = 64


def geometric_digit_thresholds(scale: Fraction) -> list[int]:
    """``T_i = round(2^64 * q^(2^i) / (1 + q^(2^i)))`` for ``q = exp(-1/scale)``,
    i = 0..63, computed with 100 significant digits."""
    if scale <= 0:
        raise ValueError("scale must be positive")
    ctx = decimal.Context(prec=100)
    inv_scale = ctx.divide(decimal.Decimal(scale.denominator), decimal.Decimal(scale.numerator))
    out = []
    for i in range(DIGITS):
        qi = ctx.exp(ctx.minus(ctx.multiply(inv_scale, decimal.Decimal(2) ** i)))  # q^(2^i)
        prob = ctx.divide(qi, ctx.add(1, qi))
        out.append(int(ctx.to_integral_value(ctx.multiply(prob, decimal.Decimal(2) ** 64))))
    return out


async def shared_discrete_laplace(eng_p: ShamirEngine, eng_b: ShamirEngine, scale: Fraction,
                                  count: int) -> Array:
    """Shares (in ``eng_p``'s field) of ``count`` independent discrete
    Laplace samples of the given scale. Compute parties only."""
    thresholds = geometric_digit_thresholds(Fraction(scale))
    # 2 geometrics x 64 digits per sample, each compared against its threshold.
    # Thresholds equal to 2^64 (probability 1 after rounding) cannot occur:
    # every digit probability is below 1/2.
    t_bits = to_bits(thresholds, 64)  # (64, 64)
    shape = (count, 2, DIGITS)
    u = await random_bits(eng_b, (*shape, 64))
    c = np.broadcast_to(t_bits, (*shape, 64))
    digits_b = await less_than_public(eng_b, u, np.ascontiguousarray(c))  # (count, 2, 64)
    digits_p = await bits_to_field(eng_p, eng_b, digits_b)
    f = eng_p.field
    geometric = []
    for side in range(2):
        acc = f.zeros((count,))
        for i in range(DIGITS):
            acc = f.add(acc, f.scale(1 << i, digits_p[:, side, i]))
        geometric.append(acc)
    return f.sub(geometric[0], geometric[1])
