"""Randomized response, the exponential mechanism and parameter helpers.

Part of :mod:`mpcnet.dp` (import the public names from there). The sampling
functions use only the exact integer samplers of :mod:`mpcnet.dp.sampling`;
the helpers that return an epsilon or an estimate use :mod:`decimal` or
floats, which is fine: they compute public numbers, they do not draw noise.
"""

from __future__ import annotations

import decimal
import math
import statistics
from collections.abc import Iterable, Sequence
from decimal import Decimal
from fractions import Fraction

from ..randomness import Randomness
from .sampling import Rational, as_rational, bern_exp, bit_pool, positive_rational, to_decimal

__all__ = [
    "exponential_mechanism",
    "exponential_mechanism_pmf",
    "gaussian_sigma2",
    "gaussian_sigma2_for_zcdp",
    "laplace_scale",
    "permute_and_flip",
    "randomized_response",
    "rr_epsilon",
    "rr_estimate",
    "rr_p_truth",
    "rr_report_probabilities",
    "zcdp_epsilon",
]

_PRECISION = 50


def _round_up(x: Decimal, digits: int = 12) -> float:
    """``x`` rounded *up* to ``digits`` significant digits, as a float whose
    printed form is that decimal: an epsilon reported this way never
    undercharges a :class:`PrivacyAccountant` (which reads floats as the
    decimal they print as)."""
    with decimal.localcontext(decimal.Context(prec=digits, rounding=decimal.ROUND_CEILING)):
        return float(+x)


def _probability_open(value: Rational, name: str) -> Fraction:
    x = as_rational(value, name)
    if not 0 < x < 1:
        raise ValueError(f"{name} must satisfy 0 < {name} < 1")
    return x


# --- randomized response -----------------------------------------------------------------
#
# Report the truth with probability p (= p_truth), otherwise a fair coin.
#   P(report 1 | answer 1) = p + (1-p)/2 = (1+p)/2
#   P(report 1 | answer 0) =     (1-p)/2
# The likelihood ratio of any report between the two answers is at most
# (1+p)/(1-p), so the mechanism is epsilon-DP for each respondent (local DP)
# with epsilon = ln((1+p)/(1-p)). The article's coin-flip poll is p = 1/2:
# reports are 1 with probability 3/4 or 1/4, epsilon = ln 3.


def randomized_response(bit: bool | int, p_truth: Rational, rng: Randomness | None = None) -> bool:
    """This respondent's answer after randomized response: the true ``bit``
    with probability ``p_truth``, otherwise a fair coin flip. Exact (integer
    draws from ``rng``). ``p_truth = 1/2`` is the article's coin-flip poll.

    epsilon-locally-DP with ``epsilon = ln((1 + p_truth) / (1 - p_truth))``
    (:func:`rr_epsilon`)."""
    if not (isinstance(bit, bool) or (isinstance(bit, int) and bit in (0, 1))):
        raise TypeError("bit must be a bool or 0/1")
    p = _probability_open(p_truth, "p_truth")
    bits = bit_pool(rng)
    # Draw both coins whatever happens, so the work done (and the randomness
    # consumed) does not depend on the answer or on which branch is taken.
    truthful = bits.bernoulli(p.numerator, p.denominator)
    coin = bits.below(2) == 1
    return bool(bit) if truthful else coin


def rr_report_probabilities(p_truth: Rational) -> tuple[Fraction, Fraction]:
    """``(P(report yes | yes), P(report yes | no)) = ((1+p)/2, (1-p)/2)``, exactly."""
    p = _probability_open(p_truth, "p_truth")
    return (1 + p) / 2, (1 - p) / 2


def rr_epsilon(p_truth: Rational) -> float:
    """The local-DP epsilon of :func:`randomized_response`:
    ``ln((1 + p_truth) / (1 - p_truth))``, e.g. ``ln 3 = 1.0986...`` for the
    fair-coin poll. Rounded up to 12 significant digits (never below the
    true value)."""
    p = _probability_open(p_truth, "p_truth")
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        return _round_up(to_decimal((1 + p) / (1 - p)).ln())


def rr_p_truth(epsilon: Rational) -> Fraction:
    """The largest ``p_truth`` with at most 9 decimal digits whose
    :func:`rr_epsilon` does not exceed ``epsilon``: ``p <= tanh(epsilon/2)``."""
    eps = positive_rational(epsilon, "epsilon")
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        e = to_decimal(eps).exp()
        bound = (e - 1) / (e + 1)
        scaled = int((bound * 10**9).to_integral_value(rounding=decimal.ROUND_FLOOR))
    if scaled == 0:
        raise ValueError("epsilon is too small for a p_truth with 9 decimal digits")
    return Fraction(min(scaled, 10**9 - 1), 10**9)


def rr_estimate(yes_count: int, n: int, p_truth: Rational,
                confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Estimate the true fraction of "yes" from ``yes_count`` reported yes
    among ``n`` randomized-response reports, with a ``confidence`` interval.

    Estimate: ``(N/n - (1-p)/2) / p``, unbiased for every true fraction
    (``E[N] = n(1-p)/2 + p * true_yes``); for ``p = 1/2`` it is the article's
    ``2N/n - 1/2``. It can fall outside [0, 1]; it is not clipped, since
    clipping would bias it.

    Interval: normal approximation with the *exact* variance and a
    continuity correction. Each report is 1 with probability (1+p)/2 or
    (1-p)/2, and either way has variance ``(1-p^2)/4``, so
    ``Var(estimate) = (1-p^2) / (4 n p^2)`` whatever the answers are: no
    plug-in variance is needed (unlike Wald or Wilson intervals). The
    interval is ``estimate +- (z * sqrt((1-p^2)/(4 n p^2)) + 1/(2 n p))``,
    ``z`` the normal quantile of ``(1+confidence)/2``; the second term is
    half a report (N is an integer). Computed exactly over the distribution
    of N for n from 10 to 80, p_truth in {1/4, 1/2, 3/4, 9/10} and confidence
    0.9, 0.95, 0.99, the coverage is never more than 0.3 points below the
    nominal level (and often above it). It is then clipped to [0, 1], where
    the true fraction lies.
    """
    for value, name in ((yes_count, "yes_count"), (n, "n")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer")
    if n < 1:
        raise ValueError("n must be at least 1")
    if not 0 <= yes_count <= n:
        raise ValueError("yes_count must satisfy 0 <= yes_count <= n")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError("confidence must be a number with 0 < confidence < 1")
    p = _probability_open(p_truth, "p_truth")
    estimate = (Fraction(yes_count, n) - (1 - p) / 2) / p
    z = statistics.NormalDist().inv_cdf((1 + confidence) / 2)
    half = z * math.sqrt((1 - p * p) / (4 * n * p * p)) + 1 / (2 * n * float(p))
    est = float(estimate)
    return est, (min(1.0, max(0.0, est - half)), max(0.0, min(1.0, est + half)))


# --- the exponential mechanism -----------------------------------------------------------


def _scaled_gaps(scores: Sequence[Rational], epsilon: Rational, sensitivity: Rational,
                 monotonic: bool) -> list[tuple[int, int]]:
    """gamma_i = c * (max score - score_i) as (numerator, denominator), with
    c = epsilon / (2 sensitivity), or epsilon / sensitivity when monotonic."""
    if isinstance(scores, (str, bytes)) or not isinstance(scores, Iterable):
        raise TypeError("scores must be a sequence of numbers")
    values = [as_rational(s, "score") for s in scores]
    if not values:
        raise ValueError("scores must be a non-empty sequence of numbers")
    eps = positive_rational(epsilon, "epsilon")
    delta = positive_rational(sensitivity, "sensitivity")
    c = eps / (delta if monotonic else 2 * delta)
    # Integer arithmetic from here: scores times a common denominator.
    common = math.lcm(*(v.denominator for v in values))
    ints = [v.numerator * (common // v.denominator) for v in values]
    best = max(ints)
    den = c.denominator * common
    return [(c.numerator * (best - v), den) for v in ints]


def exponential_mechanism(scores: Sequence[Rational], epsilon: Rational, sensitivity: Rational = 1,
                          rng: Randomness | None = None, *, monotonic: bool = False) -> int:
    """The exponential mechanism (McSherry and Talwar 2007), sampled exactly:
    returns index ``i`` with probability proportional to
    ``exp(epsilon * scores[i] / (2 * sensitivity))``.

    ``sensitivity`` bounds how much one person's data can change any score.
    The choice is epsilon-DP; with ``monotonic=True`` (every score moves in
    the same direction when a person is added, as with counts) the factor 2
    is dropped and it is still epsilon-DP. Utility: with probability at least
    ``1 - beta`` the chosen score is within ``(2 sensitivity / epsilon) *
    ln(k / beta)`` of the best (Dwork and Roth 2014, Theorem 3.11).

    Sampling: pick an index uniformly and accept it with probability
    ``exp(-c * (best - score))`` (:func:`bernoulli_exp`), else retry. The
    accepted index has exactly the softmax distribution; at most ``k``
    tries are expected (the best index is always accepted).
    """
    gaps = _scaled_gaps(scores, epsilon, sensitivity, monotonic)
    bits = bit_pool(rng)
    while True:
        i = bits.below(len(gaps))
        if bern_exp(*gaps[i], bits):
            return i


def exponential_mechanism_pmf(scores: Sequence[Rational], epsilon: Rational, sensitivity: Rational = 1,
                              *, monotonic: bool = False) -> list[float]:
    """The exact selection probabilities of :func:`exponential_mechanism`
    (computed with 50 digits; for tests and planning)."""
    gaps = _scaled_gaps(scores, epsilon, sensitivity, monotonic)
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        weights = [(-Decimal(a) / Decimal(b)).exp() for a, b in gaps]
        total = sum(weights)
        return [float(w / total) for w in weights]


def permute_and_flip(scores: Sequence[Rational], epsilon: Rational, sensitivity: Rational = 1,
                     rng: Randomness | None = None) -> int:
    """Permute-and-flip (McKenna and Sheldon 2020), sampled exactly: visit
    the candidates in a uniformly random order and stop at the first ``i``
    whose coin ``Bernoulli(exp(-epsilon * (best - scores[i]) / (2 sensitivity)))``
    comes up heads (the best candidate's always does).

    epsilon-DP, like the exponential mechanism, and never worse than it in
    expected score (McKenna and Sheldon 2020); its output
    distribution is *not* the softmax. At most ``k`` coins.
    """
    gaps = _scaled_gaps(scores, epsilon, sensitivity, monotonic=False)
    bits = bit_pool(rng)
    order = list(range(len(gaps)))
    for j in range(len(order) - 1, 0, -1):  # Fisher-Yates shuffle
        r = bits.below(j + 1)
        order[j], order[r] = order[r], order[j]
    for i in order:
        if bern_exp(*gaps[i], bits):
            return i
    raise AssertionError("unreachable: the best candidate is always accepted")


# --- parameter helpers -------------------------------------------------------------------


def laplace_scale(epsilon: Rational, sensitivity: Rational = 1) -> Fraction:
    """``sensitivity / epsilon``: the discrete Laplace scale that makes an
    integer query of that L1 sensitivity epsilon-DP (exact)."""
    return positive_rational(sensitivity, "sensitivity") / positive_rational(epsilon, "epsilon")


def gaussian_sigma2_for_zcdp(rho: Rational, sensitivity: Rational = 1) -> Fraction:
    """``sensitivity^2 / (2 rho)``: the discrete Gaussian variance parameter
    that makes an integer query of that L2 sensitivity rho-zCDP (Canonne,
    Kamath, Steinke 2020; exact)."""
    delta = positive_rational(sensitivity, "sensitivity")
    return delta * delta / (2 * positive_rational(rho, "rho"))


def _delta(value: Rational) -> Fraction:
    d = as_rational(value, "delta")
    if not 0 < d < 1:
        raise ValueError("delta must satisfy 0 < delta < 1")
    return d


def zcdp_epsilon(rho: Rational, delta: Rational) -> float:
    """rho-zCDP implies (epsilon, delta)-DP for
    ``epsilon = rho + 2 sqrt(rho ln(1/delta))`` (Bun and Steinke 2016,
    Proposition 1.3); rounded up to 12 significant digits."""
    r = positive_rational(rho, "rho")
    d = _delta(delta)
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        rd = to_decimal(r)
        return _round_up(rd + 2 * (rd * (1 / to_decimal(d)).ln()).sqrt())


def gaussian_sigma2(epsilon: Rational, delta: Rational, sensitivity: Rational = 1) -> Fraction:
    """A discrete Gaussian ``sigma2`` that makes an integer query of L2
    ``sensitivity`` (epsilon, delta)-DP, through zCDP: the largest rho with
    ``rho + 2 sqrt(rho ln(1/delta)) <= epsilon`` is
    ``(sqrt(ln(1/delta) + epsilon) - sqrt(ln(1/delta)))^2``, then
    ``sigma2 = sensitivity^2 / (2 rho)``, rounded *up* to a multiple of 1e-6
    (plus 1e-6 of margin).
    Conservative: the exact conversion of Canonne, Kamath, Steinke 2020
    allows a little less noise."""
    eps = positive_rational(epsilon, "epsilon")
    d = _delta(delta)
    sens = positive_rational(sensitivity, "sensitivity")
    with decimal.localcontext(decimal.Context(prec=_PRECISION)):
        log_term = (1 / to_decimal(d)).ln()
        rho = ((log_term + to_decimal(eps)).sqrt() - log_term.sqrt()) ** 2
        sigma2 = to_decimal(sens * sens) / (2 * rho)
        micro = int((sigma2 * 10**6).to_integral_value(rounding=decimal.ROUND_CEILING)) + 1
    return Fraction(micro, 10**6)
