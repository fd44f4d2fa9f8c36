"""dp-sum and dp-vote end to end: exact tallies, and the law of the noise the
protocols add, at the scale their metadata states.

The noise is never seen by anyone, but the output minus the exact (clamped)
sum or tally is the noise itself, so the tests read it there: through the
protocol, not the sampler. Every run is seeded, so every verdict below is
fixed. Each law test makes two checks against the exact discrete Laplace law
``P(x) = (1-q)/(1+q) q^|x|``, ``q = exp(-1/scale)``:

* Pearson's chi-square over the values (``chi_square_pvalue`` of
  ``test_dp``), failing when the p-value is below ALPHA = 1e-4: it sees the
  shape of the law (a wrong law at the right scale);
* a z-test of the mean of ``|x|`` (the sufficient statistic of the scale)
  against its exact mean ``2q / (1 - q^2)``, failing beyond Z = 4.42 standard
  errors (two-sided 1e-5): the most powerful check against a wrong scale.

The power figures quoted at each test are the expected statistics under the
named mutant, computed from its exact law (noncentrality ``lambda = N sum
(p_mutant - p)^2 / p`` of the chi-square; the z-test's mean shift).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import trio
from test_dp import ALPHA, Z, chi_square_pvalue

import mpcnet
from mpcnet.mpc.fields import GF256
from mpcnet.mpc.shamir import ShamirEngine

from helpers import biased_bits


def discrete_laplace_pmf(scale: float):
    q = math.exp(-1 / scale)
    return lambda x: (1 - q) / (1 + q) * q ** abs(x)


def assert_discrete_laplace(noise: Sequence[int], scale: float) -> None:
    """Both checks of the module docstring, for samples that should be
    discrete Laplace of ``scale``."""
    n = len(noise)
    support = range(-int(40 * scale) - 5, int(40 * scale) + 6)
    p = chi_square_pvalue(list(noise), discrete_laplace_pmf(scale), support)
    assert p > ALPHA, f"chi-square p-value {p:.3g}: not discrete Laplace of scale {scale}"
    q = math.exp(-1 / scale)
    mean_abs = 2 * q / (1 - q * q)
    var_abs = 2 * q / (1 - q) ** 2 - mean_abs**2
    z = (sum(abs(x) for x in noise) / n - mean_abs) / math.sqrt(var_abs / n)
    assert abs(z) < Z, f"mean |noise| is {z:+.1f} standard errors from scale {scale}'s"


def simulate_many(protocol: str, runs: Sequence[tuple[list[Any], int]], params: dict[str, Any]) -> list[Any]:
    """The outputs of seeded runs ``(inputs, seed)``, all in one trio loop
    under one absolute deadline."""

    async def main() -> list[Any]:
        with trio.fail_after(120):
            return [await mpcnet.simulate_async(protocol, inputs, params=params, seed=seed) for inputs, seed in runs]

    return trio.run(main)


def outputs_agree(outputs: Sequence[Any]) -> Any:
    assert all(out == outputs[0] for out in outputs)
    return outputs[0]


# --- dp-vote ---------------------------------------------------------------------------


def tally(votes: Sequence[int | None], options: int) -> list[int]:
    return [sum(1 for v in votes if v == i) for i in range(options)]


@pytest.mark.parametrize(("votes", "options"), [
    ([0, 1, 1], 2), ([2, 2, 0, 1, 2, 2], 3), ([4, 0, 4, 3, 4], 5), ([None, None, None, 1, 0, 1, 1], 2),
])
def test_dp_vote_at_a_negligible_noise_scale_is_the_exact_tally(votes, options):
    """epsilon = 50: scale 1/25, so any option's noise is non-zero with
    probability 2q/(1+q) ~ 3e-11 (q = e^-25); the seed fixes it anyway."""
    params = {"options": options, "epsilon": 50.0, "compute_parties": 3 if votes[0] is None else 0}
    result = simulate_many("dp-vote", [(votes, 8)], params)[0]
    assert outputs_agree(result.outputs) == tally(votes, options)


def test_dp_vote_invalid_ballots_do_not_count():
    votes = [0, [1, 1, 0], 2, 2, [0, 0, 0]]
    result = simulate_many("dp-vote", [(votes, 9)], {"options": 3, "epsilon": 50.0})[0]
    assert outputs_agree(result.outputs) == [1, 0, 2]


def test_dp_vote_noise_does_not_depend_on_the_ballots():
    """Same seed, different ballots: the parties draw the same randomness
    (shares and masks are uniform whatever they hide), hence the same noise,
    so the outputs differ by exactly the difference of the tallies, at a
    scale where the noise itself is large (epsilon = 1/2, scale 4)."""
    a, b = [0, 0, 0, 3, 1], [3, 2, 1, 3, 3]
    params = {"options": 4, "epsilon": 0.5}
    out_a, out_b = (outputs_agree(r.outputs) for r in simulate_many("dp-vote", [(a, 21), (b, 21)], params))
    assert [x - y for x, y in zip(out_a, out_b, strict=True)] == [
        x - y for x, y in zip(tally(a, 4), tally(b, 4), strict=True)]
    assert out_a != tally(a, 4)  # the noise is there (0 in all four options with probability tanh(1/8)^4 ~ 2.4e-4)


@pytest.mark.parametrize(("epsilon", "options"), [(4.0, 600), (1.0, 400), (0.1, 400)])
def test_dp_vote_noise_is_discrete_laplace_of_scale_two_over_epsilon_per_option(epsilon, options):
    """One run gives one noise sample per option (independent: the law test
    pools them; the same noise in every option, or noise in only some
    options, fails the chi-square at once). Scale 2/epsilon: changing one
    ballot moves two counts.

    Power (expected statistics under the mutant at epsilon 4 / 1 / 0.1;
    limits: chi-square 23.5 / 37.4 / 63.2 for 4 / 11 / 27 degrees of
    freedom, |z| 4.42):
    * scale 2x too small (e.g. sensitivity 1 instead of 2): lambda 136 / 149
      / 116, z -11 / -10.5 / -10; 100x too small or no noise: every sample 0,
      p ~ 0;
    * G1 + G2 instead of G1 - G2 (right variance, asymmetric law): lambda
      154 / 432 / 205, z +1.7 / +11 / +19;
    * rounded continuous Laplace of the right scale: lambda 55, z +6.9 at
      epsilon 4 (scale 1/2, where the two laws differ most; ~0 at the others);
    * a geometric digit's probability q^(2^i) instead of q^(2^i)/(1+q^(2^i)):
      lambda 254 at epsilon 0.1 (scale 20; ~2-6 at the others).
    """
    votes = [options - 1, 0, options // 2, 0]
    result = simulate_many("dp-vote", [(votes, 1000 + options)], {"options": options, "epsilon": epsilon})[0]
    noisy = outputs_agree(result.outputs)
    noise = [x - t for x, t in zip(noisy, tally(votes, options), strict=True)]
    assert_discrete_laplace(noise, 2 / epsilon)


# --- dp-sum ----------------------------------------------------------------------------


@pytest.mark.parametrize(("epsilon", "lower", "upper"), [(2.5, -2, 3), (4.0, 0, 1)], ids=["scale-2", "scale-1/4"])
def test_dp_sum_noise_is_discrete_laplace_of_scale_range_over_epsilon(epsilon, lower, upper):
    """150 seeded runs of 3 parties with inputs in [lower - 4, upper + 4]
    (clamped to [lower, upper]); output minus the clamped sum is one noise
    sample per run, of scale (upper - lower) / epsilon: 2, then 1/4.

    Power (expected statistics under the mutant; limits: chi-square 29.9 for
    7 degrees of freedom at scale 2, 15.1 for 1 at scale 1/4; |z| 4.42):
    * scale 2x too small: lambda 56, z -6.4 (at scale 2); 100x too small or
      no noise: every sample 0, p ~ 0 (at scale 2);
    * scale upper/epsilon (lower ignored, 1.2 instead of 2): lambda 31, z -5.1;
    * G1 + G2 instead of G1 - G2: lambda 109, z +7 (at scale 2);
    * rounded continuous Laplace of the right scale: lambda 43, z +6.5 at
      scale 1/4 (P(0) is 0.865 instead of tanh 2 = 0.964; at scale 2 the
      two laws are too close to tell apart with 150 samples);
    * no clamping: the "noise" is off by up to the clamped-off amounts, p ~ 0.
    """
    draw = random.Random(20261207)
    runs = [([draw.randint(lower - 4, upper + 4) for _ in range(3)], seed) for seed in range(150)]
    results = simulate_many("dp-sum", runs, {"epsilon": epsilon, "lower": lower, "upper": upper})
    noise = [outputs_agree(r.outputs) - sum(min(max(x, lower), upper) for x in inputs)
             for r, (inputs, _) in zip(results, runs, strict=True)]
    assert_discrete_laplace(noise, (upper - lower) / epsilon)


def test_dp_sum_clamps_exactly():
    """Same seed, same noise (see the dp-vote test above): clamped inputs
    give exactly the output of their clamped values, at a scale (4) where
    the noise itself is large; an input inside the bounds counts exactly."""
    params = {"epsilon": 1.0, "lower": -1, "upper": 3}
    runs = [([-500, 2, 10**6], 5), ([-1, 2, 3], 5), ([0, 2, 3], 5)]
    clamped, bounds, inside = (outputs_agree(r.outputs) for r in simulate_many("dp-sum", runs, params))
    assert clamped == bounds
    assert inside == bounds + 1


# --- the noise is never seen: what the compute parties open while drawing it ------------


@pytest.mark.parametrize(("protocol", "params", "inputs"), [
    ("dp-sum", {"lower": 0, "upper": 10, "epsilon": 1.0}, [1, 9, 4]),
    ("dp-vote", {"options": 3, "epsilon": 1.0}, [0, 2, 1]),
    ("dp-vote", {"options": 2, "epsilon": 0.5, "compute_parties": 3}, [None, None, None, 1, 0, 1]),
])
def test_the_noise_digits_are_opened_only_masked(protocol, params, inputs, monkeypatch):
    """Moving the noise's GF(2^8) digits into Z_p opens each digit XOR a
    random daBit to the compute parties: that is all anyone sees of the
    noise. Every GF(2^8) opening is recorded at every party over 48 seeded
    runs: the compute parties open the same 0/1 elements, each a fair coin
    (exact binomial test per element at level 1e-6 over all of them).
    Opening the digits themselves (a geometric's high digits are almost
    always 0) makes constant elements, each found with p = 2^-47: the
    compute parties would know the noise, and the output's law (tested
    above) would not show it."""
    opened: list[tuple[str, np.ndarray]] = []
    honest = ShamirEngine.open

    async def recording(self: ShamirEngine, *args: Any, **kw: Any) -> Any:
        out = await honest(self, *args, **kw)
        if self.field is GF256 and out is not None:
            opened.append((self.ctx.me, np.array(out, dtype=np.uint8)))
        return out

    monkeypatch.setattr(ShamirEngine, "open", recording)
    compute = [f"p{i}" for i in range(params.get("compute_parties") or len(inputs))]
    rows = []
    for seed in range(48):
        opened.clear()
        simulate_many(protocol, [(inputs, seed)], params)
        assert sorted(me for me, _ in opened) == compute  # one opening, to the compute parties only
        assert all(np.array_equal(values, opened[0][1]) for _, values in opened)
        rows.append(opened[0][1].reshape(-1))
    sample = np.stack(rows)
    assert sample.shape[1] >= 2 * 7 and set(np.unique(sample).tolist()) <= {0, 1}
    assert 2 / 2 ** sample.shape[0] < 1e-6 / sample.shape[1]
    assert list(biased_bits(sample, 1e-6)) == []
