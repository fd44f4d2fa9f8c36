"""mpcnet.dp: exact samplers against their exact distributions, randomized
response, the exponential mechanism, parameter helpers and the accountant.

Statistical rules: every sampling test uses fixed seeds (SeededRandomness),
so it is deterministic; the stated failure probability is what the test's
threshold would give over a random seed if the sampler is exactly right.
Goodness of fit is Pearson's chi-square against the exact pmf, failing when
the p-value is below ALPHA = 1e-4; means and variances are z-tests failing
beyond Z = 4.42 standard errors (two-sided 1e-5). A power check shows the
same chi-square test rejects a 10% wrong scale.
"""

from __future__ import annotations

import ast
import collections
import inspect
import itertools
import math
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from fractions import Fraction
from math import comb

import attrs
import pytest
import trio

from mpcnet import (
    MPCError,
    OSRandomness,
    SeededRandomness,
    dp,
)
from mpcnet.dp import mechanisms as dp_mechanisms
from mpcnet.dp import sampling as dp_sampling

ALPHA = 1e-4
Z = 4.42


# --- statistics helpers ------------------------------------------------------------------


def chi2_sf(x: float, df: int) -> float:
    """P(chi-square with df degrees of freedom > x): the regularized upper
    incomplete gamma Q(df/2, x/2), by series or continued fraction."""
    a, x = df / 2, x / 2
    if x <= 0:
        return 1.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1 / a
        k = 0
        while abs(term) > abs(total) * 1e-16:
            k += 1
            term *= x / (a + k)
            total += term
        return max(0.0, 1 - total * math.exp(log_prefix))
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-16:
            break
    return math.exp(log_prefix) * h


def chi_square_pvalue(samples: Sequence[int], pmf: Callable[[int], float], support: range) -> float:
    """Pearson's test: one bin per value of ``support`` with an expected
    count of at least 5, plus one bin for everything else."""
    n = len(samples)
    counts = collections.Counter(samples)
    bins = [(counts[x], n * pmf(x)) for x in support if n * pmf(x) >= 5]
    rest_obs = n - sum(o for o, _ in bins)
    rest_exp = n - sum(e for _, e in bins)
    if rest_exp >= 5:
        bins.append((rest_obs, rest_exp))
    else:  # fold a thin remainder into the smallest bin
        i = min(range(len(bins)), key=lambda j: bins[j][1])
        bins[i] = (bins[i][0] + rest_obs, bins[i][1] + rest_exp)
    stat = sum((o - e) ** 2 / e for o, e in bins)
    return chi2_sf(stat, len(bins) - 1)


def test_chi2_sf_matches_closed_forms():
    for x in (0.5, 3.0, 10.0, 40.0):
        assert chi2_sf(x, 2) == pytest.approx(math.exp(-x / 2), rel=1e-10)
        assert chi2_sf(x, 1) == pytest.approx(math.erfc(math.sqrt(x / 2)), rel=1e-9)
        assert chi2_sf(x, 4) == pytest.approx(math.exp(-x / 2) * (1 + x / 2), rel=1e-10)
    assert chi2_sf(124.342, 100) == pytest.approx(0.05, abs=1e-4)  # table value


def rng(seed: int) -> SeededRandomness:
    return SeededRandomness(seed, 0)


def assert_mean(samples: Sequence[float], mean: float, variance: float) -> None:
    n = len(samples)
    assert abs(sum(samples) / n - mean) < Z * math.sqrt(variance / n)


def assert_variance(samples: Sequence[int], variance: float) -> None:
    """Sample variance (about the known mean 0) vs the exact variance; the
    standard error uses the sample's fourth moment."""
    n = len(samples)
    m2 = sum(x * x for x in samples) / n
    m4 = sum(x**4 for x in samples) / n
    assert abs(m2 - variance) < Z * math.sqrt((m4 - m2 * m2) / n)


# --- bernoulli_exp -----------------------------------------------------------------------


def test_bernoulli_exp_of_zero_is_always_true():
    r = rng(1)
    assert all(dp.bernoulli_exp(0, r) for _ in range(500))


@pytest.mark.parametrize("gamma", [Fraction(1, 3), Fraction(1), Fraction(5, 2), Fraction(6)])
def test_bernoulli_exp_mean(gamma):
    r = rng(2)
    n = 10_000
    hits = sum(dp.bernoulli_exp(gamma, r) for _ in range(n))
    p = math.exp(-gamma)
    assert abs(hits - n * p) < Z * math.sqrt(n * p * (1 - p))


# --- discrete Laplace --------------------------------------------------------------------

N_SAMPLES = 20_000


def _laplace(scale: Fraction, seed: int) -> list[int]:
    return dp.discrete_laplace(scale, rng(seed), size=N_SAMPLES)


LAPLACE_SCALES = [Fraction(3), Fraction(1, 3), Fraction(5, 2)]


@pytest.fixture(scope="module")
def laplace_samples() -> dict[Fraction, list[int]]:
    return {scale: _laplace(scale, 10 + i) for i, scale in enumerate(LAPLACE_SCALES)}


@pytest.mark.parametrize("scale", LAPLACE_SCALES, ids=str)
def test_discrete_laplace_matches_exact_pmf(laplace_samples, scale):
    samples = laplace_samples[scale]
    assert chi_square_pvalue(samples, lambda x: dp.discrete_laplace_pmf(x, scale), range(-200, 201)) > ALPHA


@pytest.mark.parametrize("scale", LAPLACE_SCALES, ids=str)
def test_discrete_laplace_mean_zero_and_exact_variance(laplace_samples, scale):
    samples = laplace_samples[scale]
    var = dp.discrete_laplace_variance(scale)
    assert_mean(samples, 0.0, var)
    assert_variance(samples, var)


def test_chi_square_has_power_against_a_ten_percent_wrong_scale(laplace_samples):
    samples = laplace_samples[Fraction(3)]
    assert chi_square_pvalue(samples, lambda x: dp.discrete_laplace_pmf(x, Fraction(33, 10)), range(-200, 201)) < ALPHA


def test_discrete_laplace_pmf_closed_form_and_total():
    scale = Fraction(7, 3)
    q = math.exp(-3 / 7)
    assert dp.discrete_laplace_pmf(0, scale) == pytest.approx((1 - q) / (1 + q), rel=1e-12)
    assert dp.discrete_laplace_pmf(-4, scale) == dp.discrete_laplace_pmf(4, scale)
    assert sum(dp.discrete_laplace_pmf(x, scale) for x in range(-400, 401)) == pytest.approx(1, rel=1e-12)
    assert dp.discrete_laplace_variance(scale) == pytest.approx(
        sum(x * x * dp.discrete_laplace_pmf(x, scale) for x in range(-400, 401)), rel=1e-10)


def test_huge_scale_is_exact_and_fast():
    samples = dp.discrete_laplace(Fraction(10**12 + 1, 7), rng(3), size=200)
    assert all(type(x) is int for x in samples)
    assert max(abs(x) for x in samples) > 10**9  # typical |x| ~ 1.4e11


# --- discrete Gaussian -------------------------------------------------------------------

GAUSS_SIGMA2 = [Fraction(1, 2), Fraction(4), Fraction(7, 3)]


@pytest.fixture(scope="module")
def gaussian_samples() -> dict[Fraction, list[int]]:
    return {s2: dp.discrete_gaussian(s2, rng(20 + i), size=N_SAMPLES) for i, s2 in enumerate(GAUSS_SIGMA2)}


@pytest.mark.parametrize("sigma2", GAUSS_SIGMA2, ids=str)
def test_discrete_gaussian_matches_exact_pmf(gaussian_samples, sigma2):
    samples = gaussian_samples[sigma2]
    assert chi_square_pvalue(samples, lambda x: dp.discrete_gaussian_pmf(x, sigma2), range(-100, 101)) > ALPHA


@pytest.mark.parametrize("sigma2", GAUSS_SIGMA2, ids=str)
def test_discrete_gaussian_mean_zero_and_exact_variance(gaussian_samples, sigma2):
    samples = gaussian_samples[sigma2]
    var = dp.discrete_gaussian_variance(sigma2)
    assert var <= float(sigma2)
    assert_mean(samples, 0.0, var)
    assert_variance(samples, var)


@pytest.mark.parametrize("sigma2", [Fraction(1, 5), Fraction(3), Fraction(50)], ids=str)
def test_discrete_gaussian_pmf_against_direct_sum(sigma2):
    weights = {x: Decimal(-x * x * sigma2.denominator) / Decimal(2 * sigma2.numerator) for x in range(-300, 301)}
    z = sum(w.exp() for w in weights.values())
    for x in (0, 1, 5, -7):
        assert dp.discrete_gaussian_pmf(x, sigma2) == pytest.approx(float(weights[x].exp() / z), rel=1e-12)
    direct_var = sum(x * x * w.exp() for x, w in weights.items()) / z
    assert dp.discrete_gaussian_variance(sigma2) == pytest.approx(float(direct_var), rel=1e-12)


# --- sizes, types and validation ---------------------------------------------------------


def test_size_none_gives_an_int_and_size_gives_a_list():
    r = rng(4)
    assert type(dp.discrete_laplace(2, r)) is int
    assert type(dp.discrete_gaussian(2, r)) is int
    assert dp.discrete_laplace(2, r, size=0) == []
    assert len(dp.discrete_gaussian("1/2", r, size=5)) == 5
    assert type(dp.discrete_laplace(2)) is int  # OSRandomness by default


def test_same_seed_same_samples():
    assert dp.discrete_gaussian(3, rng(5), size=50) == dp.discrete_gaussian(3, rng(5), size=50)


@pytest.mark.parametrize(("call", "error"), [
    (lambda: dp.discrete_laplace(0), ValueError),
    (lambda: dp.discrete_laplace(-1), ValueError),
    (lambda: dp.discrete_laplace(float("inf")), ValueError),
    (lambda: dp.discrete_laplace(True), TypeError),
    (lambda: dp.discrete_laplace(1, size=-1), ValueError),
    (lambda: dp.discrete_laplace(1, rng=object()), TypeError),
    (lambda: dp.discrete_gaussian(0), ValueError),
    (lambda: dp.discrete_gaussian("x"), ValueError),
    (lambda: dp.bernoulli_exp(-1), ValueError),
    (lambda: dp.randomized_response(2, Fraction(1, 2)), TypeError),
    (lambda: dp.randomized_response(True, 1), ValueError),
    (lambda: dp.randomized_response(True, 0), ValueError),
    (lambda: dp.rr_estimate(5, 4, "1/2"), ValueError),
    (lambda: dp.rr_estimate(1, 0, "1/2"), ValueError),
    (lambda: dp.rr_estimate(1, 4, "1/2", confidence=1), ValueError),
    (lambda: dp.exponential_mechanism([], 1), ValueError),
    (lambda: dp.exponential_mechanism([1, 2], 0), ValueError),
    (lambda: dp.exponential_mechanism([1, 2], 1, sensitivity=0), ValueError),
    (lambda: dp.laplace_scale(-1), ValueError),
    (lambda: dp.gaussian_sigma2(1, 0), ValueError),
])
def test_invalid_arguments_are_refused_clearly(call, error):
    with pytest.raises(error):
        call()


def test_parameters_are_exact_rationals():
    assert dp.as_rational(0.1, "x") == Fraction(1, 10)
    assert dp.as_rational("1/3", "x") == Fraction(1, 3)
    assert dp.as_rational("0.25", "x") == Fraction(1, 4)
    assert dp.as_rational(Decimal("2.5"), "x") == Fraction(5, 2)
    assert dp.laplace_scale(0.1, 1) == 10
    with pytest.raises(ValueError, match="epsilon"):
        dp.laplace_scale("nonsense")


# --- randomized response -----------------------------------------------------------------


@pytest.mark.parametrize("answer", [True, False])
def test_randomized_response_report_probabilities(answer):
    r = rng(30)
    n = 10_000
    yes = sum(dp.randomized_response(answer, Fraction(1, 2), r) for _ in range(n))
    p = 0.75 if answer else 0.25  # the article's p/2 + 1/4 per respondent
    assert abs(yes - n * p) < Z * math.sqrt(n * p * (1 - p))
    assert dp.rr_report_probabilities("1/2") == (Fraction(3, 4), Fraction(1, 4))


def test_rr_epsilon_is_ln3_for_the_coin_flip_poll_and_never_undercounts():
    assert dp.rr_epsilon(Fraction(1, 2)) == pytest.approx(math.log(3), rel=1e-11)
    for p in (Fraction(1, 2), Fraction(1, 10), Fraction(9, 10), Fraction(3, 4)):
        yes_if_yes, yes_if_no = dp.rr_report_probabilities(p)
        exact = (Decimal(yes_if_yes.numerator) / yes_if_yes.denominator
                 / (Decimal(yes_if_no.numerator) / yes_if_no.denominator)).ln()
        assert Decimal(repr(dp.rr_epsilon(p))) >= exact
        assert dp.rr_epsilon(p) == pytest.approx(float(exact), rel=1e-11)
    assert dp.rr_p_truth(dp.rr_epsilon("1/2")) == Fraction(1, 2)
    assert dp.rr_epsilon(dp.rr_p_truth(1)) <= 1


def test_rr_estimate_is_the_article_formula_for_a_fair_coin():
    for yes, n in ((3, 10), (0, 7), (7, 7), (550, 1000)):
        est, _ = dp.rr_estimate(yes, n, "1/2")
        assert est == pytest.approx(2 * yes / n - 0.5, abs=1e-15)


def _reported_yes_distribution(n: int, true_yes: int, p: Fraction) -> list[Fraction]:
    """Exact P(N = k): a sum of Binomial(true_yes, (1+p)/2) and Binomial(n - true_yes, (1-p)/2)."""
    a, b = dp.rr_report_probabilities(p)
    ones = [comb(true_yes, k) * a**k * (1 - a) ** (true_yes - k) for k in range(true_yes + 1)]
    zeros = [comb(n - true_yes, k) * b**k * (1 - b) ** (n - true_yes - k) for k in range(n - true_yes + 1)]
    out = [Fraction(0)] * (n + 1)
    for i, x in enumerate(ones):
        for j, y in enumerate(zeros):
            out[i + j] += x * y
    return out


@pytest.mark.parametrize("p", [Fraction(1, 2), Fraction(3, 4), Fraction(1, 5)], ids=str)
def test_rr_estimate_is_exactly_unbiased(p):
    n = 12
    for true_yes in range(n + 1):
        dist = _reported_yes_distribution(n, true_yes, p)
        expected = sum(pr * ((Fraction(k, n) - (1 - p) / 2) / p) for k, pr in enumerate(dist))
        assert expected == Fraction(true_yes, n)
        # ... and the float estimate is that formula, to rounding.
        assert dp.rr_estimate(5, n, p)[0] == pytest.approx(float((Fraction(5, n) - (1 - p) / 2) / p), rel=1e-15)


@pytest.mark.parametrize(("n", "p", "confidence"), [
    (10, Fraction(1, 2), 0.95), (20, Fraction(3, 4), 0.95), (50, Fraction(1, 2), 0.95),
    (50, Fraction(1, 4), 0.9), (100, Fraction(1, 2), 0.99), (30, Fraction(9, 10), 0.99),
])
def test_rr_interval_coverage_exactly(n, p, confidence):
    """Exact coverage over the distribution of N, for every true count:
    within half a point of nominal or above (continuity correction), and not
    absurdly wide."""
    step = max(1, n // 12)
    for true_yes in range(0, n + 1, step):
        dist = _reported_yes_distribution(n, true_yes, p)
        truth = true_yes / n
        covered = 0.0
        for k, pr in enumerate(dist):
            _, (lo, hi) = dp.rr_estimate(k, n, p, confidence)
            if lo <= truth <= hi:
                covered += float(pr)
        assert confidence - 0.005 <= covered <= 1 - (1 - confidence) / 10


def test_rr_estimate_unbiased_over_simulated_polls():
    r = rng(31)
    n, polls, p = 100, 300, Fraction(1, 2)
    answers = [i < 30 for i in range(n)]  # true fraction 0.3
    estimates = []
    for _ in range(polls):
        yes = sum(dp.randomized_response(a, p, r) for a in answers)
        estimates.append(dp.rr_estimate(yes, n, p)[0])
    assert_mean(estimates, 0.3, float((1 - p * p) / (4 * n * p * p)))


def test_rr_interval_clipped_but_estimate_not():
    est, (lo, hi) = dp.rr_estimate(0, 10, "1/2")
    assert est == -0.5 and lo == 0.0 and 0 < hi < 1
    est, (lo, hi) = dp.rr_estimate(10, 10, "1/2")
    assert est == 1.5 and hi == 1.0


# --- exponential mechanism and permute-and-flip -----------------------------------------


@pytest.mark.parametrize(("scores", "epsilon", "monotonic"), [
    ([0, 1, 2, 3, 5], Fraction(1), False),
    ([Fraction(1, 3), 2, Fraction(5, 2), 0], Fraction(3, 2), True),
    ([4, 4, 4], Fraction(1), False),
])
def test_exponential_mechanism_matches_softmax(scores, epsilon, monotonic):
    r = rng(40)
    n = 8_000
    picks = [dp.exponential_mechanism(scores, epsilon, 1, r, monotonic=monotonic) for _ in range(n)]
    pmf = dp.exponential_mechanism_pmf(scores, epsilon, 1, monotonic=monotonic)
    assert chi_square_pvalue(picks, lambda i: pmf[i] if 0 <= i < len(pmf) else 0.0, range(len(scores))) > ALPHA


def test_exponential_mechanism_pmf_is_the_softmax():
    scores, eps, sens = [0, 1, 2, 3, 5], Fraction(1), 2
    weights = [math.exp(eps * s / (2 * sens)) for s in scores]
    assert dp.exponential_mechanism_pmf(scores, eps, sens) == pytest.approx([w / sum(weights) for w in weights])


def test_exponential_mechanism_with_a_huge_gap_picks_the_best():
    r = rng(41)
    assert all(dp.exponential_mechanism([0, 10_000, 3], 1, 1, r) == 1 for _ in range(200))


def _permute_and_flip_pmf(scores: Sequence[int], epsilon: Fraction) -> list[float]:
    best = max(scores)
    accept = [math.exp(-float(epsilon) * (best - s) / 2) for s in scores]
    probs = [0.0] * len(scores)
    perms = list(itertools.permutations(range(len(scores))))
    for perm in perms:
        survive = 1.0
        for i in perm:
            probs[i] += survive * accept[i] / len(perms)
            survive *= 1 - accept[i]
    return probs


def test_permute_and_flip_matches_its_exact_distribution():
    scores, eps = [0, 2, 3, 1], Fraction(1)
    r = rng(42)
    n = 8_000
    picks = [dp.permute_and_flip(scores, eps, 1, r) for _ in range(n)]
    pmf = _permute_and_flip_pmf(scores, eps)
    assert sum(pmf) == pytest.approx(1)
    assert chi_square_pvalue(picks, lambda i: pmf[i] if 0 <= i < 4 else 0.0, range(4)) > ALPHA
    # Never worse than the exponential mechanism in expected score (McKenna and Sheldon).
    em = dp.exponential_mechanism_pmf(scores, eps)
    assert sum(p * s for p, s in zip(pmf, scores, strict=True)) >= sum(p * s for p, s in zip(em, scores, strict=True))


# --- parameter helpers -------------------------------------------------------------------


def test_parameter_helpers():
    assert dp.laplace_scale(Fraction(1, 2), 3) == 6
    assert dp.gaussian_sigma2_for_zcdp(Fraction(1, 8), 2) == 16
    assert dp.zcdp_epsilon(Fraction(1, 2), Fraction(1, 10**6)) == pytest.approx(
        0.5 + 2 * math.sqrt(0.5 * math.log(10**6)), rel=1e-11)
    for eps, delta, sens in ((1, Fraction(1, 10**6), 1), (Fraction(1, 4), Fraction(1, 10**9), 3)):
        sigma2 = dp.gaussian_sigma2(eps, delta, sens)
        rho = Fraction(sens * sens) / (2 * sigma2)
        achieved = dp.zcdp_epsilon(rho, delta)
        assert achieved <= eps  # conservative ...
        assert achieved > 0.9999 * eps  # ... but not wasteful


# --- the accountant ----------------------------------------------------------------------


def test_accountant_basic_composition_and_refusal():
    acct = dp.PrivacyAccountant(1)
    first = acct.charge("census", Fraction(1, 2), label="count")
    acct.charge("census", "1/4")
    assert acct.spent("census") == dp.PrivacyBudget(Fraction(3, 4))
    assert acct.remaining("census") == dp.PrivacyBudget(Fraction(1, 4))
    with pytest.raises(dp.BudgetExceeded) as info:
        acct.charge("census", Fraction(1, 2))
    assert isinstance(info.value, MPCError)
    assert info.value.dataset == "census"
    assert info.value.remaining == dp.PrivacyBudget(Fraction(1, 4))
    assert "census" in str(info.value)
    assert acct.remaining("census").epsilon == Fraction(1, 4)  # the refused query cost nothing
    assert len(acct.charges("census")) == 2
    acct.charge("census", Fraction(1, 4))  # exactly the rest is fine
    assert acct.remaining("census").epsilon == 0
    assert not acct.can_afford("census", Fraction(1, 10**9))
    assert first == dp.Charge(1, "census", Fraction(1, 2), Fraction(0), "count")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        first.epsilon = Fraction(0)  # type: ignore[misc]


def test_accountant_datasets_are_separate():
    acct = dp.PrivacyAccountant(1, budgets={"salaries": (Fraction(1, 10), 0)})
    acct.charge("census", 1)
    with pytest.raises(dp.BudgetExceeded):
        acct.charge("census", "0.001")
    acct.charge("salaries", "0.1")
    assert acct.remaining("breaches") == dp.PrivacyBudget(1, 0)
    assert acct.datasets() == ("census", "salaries")
    assert [c.dataset for c in acct.charges()] == ["census", "salaries"]


def test_accountant_is_exact_where_floats_are_not():
    assert 0.1 + 0.1 + 0.1 > 0.3
    acct = dp.PrivacyAccountant(0.3)
    for _ in range(3):
        acct.charge("d", 0.1)
    assert acct.remaining("d").epsilon == 0


def test_accountant_delta_is_a_budget_too():
    acct = dp.PrivacyAccountant(10, Fraction(1, 10**6))
    acct.charge("d", 1, Fraction(1, 10**6))
    with pytest.raises(dp.BudgetExceeded):
        acct.charge("d", 1, Fraction(1, 10**9))
    acct.charge("d", 1)  # pure epsilon still fits


def test_accountant_validation():
    with pytest.raises(ValueError):
        dp.PrivacyAccountant(0)
    acct = dp.PrivacyAccountant(1)
    for bad in (lambda: acct.charge("d", -1), lambda: acct.charge("d", 0), lambda: acct.charge("d", 1, 1),
                lambda: acct.charge("", 1), lambda: acct.set_budget("d", 1, -0.5)):
        with pytest.raises(ValueError):
            bad()
    acct.charge("d", Fraction(1, 2))
    with pytest.raises(ValueError, match="already spent"):
        acct.set_budget("d", Fraction(1, 4))
    acct.set_budget("d", 2)
    assert acct.remaining("d").epsilon == Fraction(3, 2)


def test_advanced_composition_is_reported_and_tighter_for_many_small_charges():
    acct = dp.PrivacyAccountant(100)
    for _ in range(400):
        acct.charge("d", Fraction(1, 100))
    eps, delta = acct.advanced_composition("d", Fraction(1, 10**6))
    expected = math.sqrt(2 * math.log(10**6) * 400 * 0.01**2) + 400 * 0.01 * math.expm1(0.01)
    assert eps == pytest.approx(expected, rel=1e-10) and eps >= expected
    assert eps < 4  # basic composition: 400 * 0.01
    assert delta == pytest.approx(1e-6)
    few = dp.PrivacyAccountant(10)
    few.charge("d", 1)
    assert few.advanced_composition("d", Fraction(1, 10**6))[0] == 1.0  # basic is better here


class ContendedName(str):
    """A dataset name whose hash sleeps briefly. The accountant hashes the
    name at each dictionary lookup between reading what was spent and
    recording the new total, so while one thread is in that window the
    others run: without the lock they all read the same total and the
    budget is overspent (in every run: 8 threads enter each window together),
    with it they wait."""

    def __hash__(self) -> int:
        time.sleep(20e-6)
        return str.__hash__(self)


CHARGE = Fraction(1, 1000)
ATTEMPTS = 8 * 40  # 8 threads x 40 charges of 1/1000 on a budget of 1/5: 200 fit


def assert_charged_exactly_the_budget(acct: dp.PrivacyAccountant, accepted: Sequence[dp.Charge]) -> None:
    assert len(accepted) == 200
    assert acct.spent("d") == dp.PrivacyBudget(Fraction(1, 5))
    assert sorted(c.sequence for c in acct.charges()) == list(range(1, 201))


def test_accountant_charges_are_atomic_across_threads():
    acct = dp.PrivacyAccountant(Fraction(1, 5))
    name = ContendedName("d")
    start = threading.Barrier(8, timeout=30)
    accepted: list[dp.Charge] = []

    def worker() -> None:
        start.wait()  # all threads charge at once
        for _ in range(ATTEMPTS // 8):
            try:
                accepted.append(acct.charge(name, CHARGE))
            except dp.BudgetExceeded:
                pass

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive()
    assert_charged_exactly_the_budget(acct, accepted)


def test_accountant_shared_by_trio_tasks_charging_from_worker_threads():
    """The way trio code shares an accountant across threads: tasks that
    charge from ``trio.to_thread`` workers (charge never awaits, so tasks
    on one thread cannot interleave inside it; threads can)."""
    acct = dp.PrivacyAccountant(Fraction(1, 5))
    name = ContendedName("d")
    accepted: list[dp.Charge] = []

    def charge() -> None:
        try:
            accepted.append(acct.charge(name, CHARGE))
        except dp.BudgetExceeded:
            pass

    async def query(limiter: trio.CapacityLimiter) -> None:
        for _ in range(ATTEMPTS // 8):
            await trio.to_thread.run_sync(charge, limiter=limiter)

    async def main() -> None:
        with trio.fail_after(30):
            limiter = trio.CapacityLimiter(8)
            async with trio.open_nursery() as nursery:
                for _ in range(8):
                    nursery.start_soon(query, limiter)

    trio.run(main)
    assert_charged_exactly_the_budget(acct, accepted)


# --- no floating point, no `random`, in the sampling paths -------------------------------

SAMPLING_CODE = [
    dp_sampling._BitPool, dp_sampling._bern_exp_small, dp_sampling.bern_exp, dp_sampling.bernoulli_exp,
    dp_sampling._discrete_laplace, dp_sampling.discrete_laplace, dp_sampling._discrete_gaussian,
    dp_sampling.discrete_gaussian, dp_mechanisms.randomized_response, dp_mechanisms._scaled_gaps,
    dp_mechanisms.exponential_mechanism, dp_mechanisms.permute_and_flip,
]
#: The innermost loops, which must use integers only (no true division at all).
INTEGER_ONLY = [dp_sampling._BitPool, dp_sampling._bern_exp_small, dp_sampling.bern_exp,
                dp_sampling._discrete_laplace, dp_sampling._discrete_gaussian]
FLOAT_FUNCS = {"exp", "log", "log1p", "expm1", "sqrt", "pow", "random", "uniform", "float"}


@pytest.mark.parametrize("code", SAMPLING_CODE, ids=lambda c: c.__qualname__)
def test_sampling_code_has_no_floating_point(code):
    tree = ast.parse(textwrap.dedent(inspect.getsource(code)))
    for node in ast.walk(tree):
        assert not (isinstance(node, ast.Constant) and isinstance(node.value, float)), "float literal"
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            assert name not in FLOAT_FUNCS, f"calls {name}()"
        if code in INTEGER_ONLY:
            assert not (isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Div, ast.Pow))), "true division"


@pytest.mark.parametrize("module", [dp, dp_sampling, dp_mechanisms], ids=lambda m: m.__name__)
def test_dp_modules_do_not_import_random_or_numpy_random(module):
    tree = ast.parse(inspect.getsource(module))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(a.name.split(".")[0] not in {"random", "numpy"} for a in node.names)
        if isinstance(node, ast.ImportFrom):
            assert node.module not in {"random", "numpy", "numpy.random"}


def test_default_randomness_is_the_operating_system(monkeypatch):
    used = []

    class Recording(OSRandomness):
        def bytes(self, n: int) -> bytes:
            used.append(n)
            return super().bytes(n)

    monkeypatch.setattr(dp_sampling, "OSRandomness", Recording)
    dp.discrete_gaussian(5)
    dp.randomized_response(True, "1/2")
    assert len(used) >= 2
