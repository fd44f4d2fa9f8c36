"""Differential-privacy noise generated inside MPC: nobody ever sees it.

:func:`shared_discrete_laplace` returns Shamir shares (in Z_p) of samples of
the discrete Laplace distribution ``P(x) ∝ exp(-|x| / scale)``, computed from
jointly random bits, so no party (nor any coalition of up to t compute
parties) learns the noise, and nobody can subtract it from an opened result.

Method. A discrete Laplace sample is the difference of two independent
geometric samples ``G`` with ``P(G = g) ∝ q^g``, ``q = exp(-1/scale)``. The
binary digits of a geometric variable are independent: digit ``i`` is 1 with
probability ``p_i = q^(2^i) / (1 + q^(2^i))`` (because ``q^g`` factors over
the digits of ``g``). Each digit is drawn in MPC as ``[U < T_i]`` for a shared
uniform 64-bit ``U`` (the XOR of random bits from t+1 parties) and the public
threshold ``T_i = round(2^64 * p_i)``, a comparison with a public constant
(:func:`mpcnet.mpc.binary.less_than_public`). A geometric gets
``D = digits_for(scale)`` digits, the smallest ``D >= 1`` with
``2^D >= 47 * scale``, so that the mass it cannot reach, ``P(G >= 2^D) =
q^(2^D) <= e^-47``, is below 2^-67. Scales above ``MAX_SCALE = 2^114`` (which
would need more than 120 digits) are refused with a ``ValueError``.

Exactness (the statement every DP claim of the protocols refers to). Couple
each sampled digit with the exact one: they differ with probability
``|T_i / 2^64 - p_i| <= 2^-65`` (rounding of ``T_i``; the 100-digit decimal
arithmetic adds below 10^-90), and the exact digits ``i >= D``, which the
sampler never sets, are 1 with total probability at most ``2 q^(2^D) <=
2^-66``. So one geometric is within total variation ``(D + 1) 2^-65`` of the
exact law, one discrete Laplace sample within ``(D + 1) 2^-64``, and ``K``
independent samples within ``eta = K (D + 1) 2^-64``. A mechanism that is
epsilon-DP with exact noise is then (epsilon, delta)-DP with this noise, for

    delta = (1 + e^epsilon) * K * (D + 1) * 2^-64,   D = digits_for(scale),

because ``P[M(x) in S] <= P*[M(x) in S] + eta <= e^epsilon P*[M(x') in S] + eta
<= e^epsilon P[M(x') in S] + (1 + e^epsilon) eta``. :func:`noise_delta`
returns this delta as an exact rational (e^epsilon rounded up); for K = 1 it
is below ``(1 + e^epsilon) 2^-57`` for every accepted scale (D <= 120), and
below ``(1 + e^epsilon) 2^-58`` for scales up to 2^57 (D <= 63).

Cost per sample: ``2 D`` comparisons of 64-bit values with public constants
(``ceil(log2 64) = 6`` rounds, about 128 ANDs each) and ``2 D`` bit
conversions into Z_p; the round count does not depend on the number of
samples or on the scale.
"""

from __future__ import annotations

import decimal
from fractions import Fraction
from typing import Any

import numpy as np

from .binary import less_than_public, to_bits
from .convert import bits_to_field, random_bits
from .shamir import ShamirEngine

__all__ = ["shared_discrete_laplace", "geometric_digit_thresholds", "digits_for", "noise_delta", "MAX_SCALE",
           "MAX_DIGITS"]

Array = np.ndarray[Any, Any]

#: The largest noise scale the sampler accepts.
MAX_SCALE = Fraction(2**114)
#: The most binary digits a geometric sample gets (``digits_for(MAX_SCALE)``).
MAX_DIGITS = 120
#: ``2^D >= TAIL_FACTOR * scale`` makes ``q^(2^D) <= e^-47 < 2^-67``.
TAIL_FACTOR = 47


def _check_scale(scale: Fraction) -> Fraction:
    scale = Fraction(scale)
    if scale <= 0:
        raise ValueError("scale must be positive")
    if scale > MAX_SCALE:
        raise ValueError("the noise scale must be at most 2^114 (the largest the in-MPC sampler covers)")
    return scale


def digits_for(scale: Fraction) -> int:
    """``D``, the binary digits each geometric sample of this scale gets:
    the smallest ``D >= 1`` with ``2^D >= 47 * scale`` (so ``P(G >= 2^D) <
    2^-67``). ``ValueError`` for a scale outside ``(0, MAX_SCALE]``."""
    need = TAIL_FACTOR * _check_scale(scale)
    d = 1
    while (1 << d) < need:
        d += 1
    return d


def noise_delta(epsilon: Fraction, scale: Fraction, count: int = 1) -> Fraction:
    """The delta of the module docstring, ``(1 + e^epsilon) K (D + 1) 2^-64``
    with ``K = count`` and ``D = digits_for(scale)``, as an exact rational
    (``e^epsilon`` rounded up): what an epsilon-DP mechanism using ``count``
    samples of this sampler is (epsilon, delta)-DP with, and what to charge a
    :class:`~mpcnet.dp.PrivacyAccountant` for it."""
    eps = Fraction(epsilon)
    if eps < 0 or count < 1:
        raise ValueError("epsilon must be non-negative and count positive")
    ctx = decimal.Context(prec=40, rounding=decimal.ROUND_CEILING)
    eps_up = ctx.divide(decimal.Decimal(eps.numerator), decimal.Decimal(eps.denominator))
    # Decimal's exp is correctly rounded (half-even): one part in 10^30 more is an upper bound.
    exp_up = Fraction(ctx.exp(eps_up)) * (1 + Fraction(1, 10**30))
    return (1 + exp_up) * count * (digits_for(scale) + 1) / 2**64


def geometric_digit_thresholds(scale: Fraction) -> list[int]:
    """``T_i = round(2^64 * q^(2^i) / (1 + q^(2^i)))`` for ``q = exp(-1/scale)``,
    i = 0..D-1 with ``D = digits_for(scale)``, computed with 100 significant
    digits."""
    scale = _check_scale(scale)
    ctx = decimal.Context(prec=100)
    inv_scale = ctx.divide(decimal.Decimal(scale.denominator), decimal.Decimal(scale.numerator))
    out = []
    for i in range(digits_for(scale)):
        qi = ctx.exp(ctx.minus(ctx.multiply(inv_scale, decimal.Decimal(2) ** i)))  # q^(2^i)
        prob = ctx.divide(qi, ctx.add(1, qi))
        out.append(int(ctx.to_integral_value(ctx.multiply(prob, decimal.Decimal(2) ** 64))))
    return out


async def shared_discrete_laplace(eng_p: ShamirEngine, eng_b: ShamirEngine, scale: Fraction,
                                  count: int) -> Array:
    """Shares (in ``eng_p``'s field) of ``count`` independent discrete
    Laplace samples of the given scale (at most ``MAX_SCALE``), within the
    total variation the module docstring states. Compute parties only."""
    thresholds = geometric_digit_thresholds(Fraction(scale))
    digits = len(thresholds)
    # 2 geometrics x D digits per sample, each compared against its threshold.
    # Thresholds equal to 2^64 (probability 1 after rounding) cannot occur:
    # every digit probability is below 1/2.
    t_bits = to_bits(thresholds, 64)  # (D, 64)
    shape = (count, 2, digits)
    u = await random_bits(eng_b, (*shape, 64))
    c = np.broadcast_to(t_bits, (*shape, 64))
    digits_b = await less_than_public(eng_b, u, np.ascontiguousarray(c))  # (count, 2, 64)
    digits_p = await bits_to_field(eng_p, eng_b, digits_b)
    f = eng_p.field
    geometric = []
    for side in range(2):
        acc = f.zeros((count,))
        for i in range(digits):
            acc = f.add(acc, f.scale(1 << i, digits_p[:, side, i]))
        geometric.append(acc)
    return f.sub(geometric[0], geometric[1])
