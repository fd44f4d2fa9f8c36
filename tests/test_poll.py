"""poll: the article's coin-flip poll by randomized response (local DP).

Statistical checks use fixed seeds; a z-test fails beyond Z = 4.42 standard
errors (two-sided probability 1e-5 over a random seed).
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
import trio

import mpcnet
from mpcnet import SeededRandomness, dp
from mpcnet.errors import ConfigError, InputError, RemoteProtocolViolation

from helpers import run_alone_counting_sends

Z = 4.42


class BitStream:
    """The documented draws of randomized response, re-derived here from the
    party's seeded bytes (not through mpcnet's samplers): bits are taken from
    the front of the byte stream, most significant first; a uniform draw
    below ``bound`` takes ``(bound - 1).bit_length()`` bits and retries while
    the value is ``>= bound``. The sampler fetches whole 8-byte words, so its
    stream is a prefix of one long read."""

    def __init__(self, data: bytes) -> None:
        self._bits = "".join(f"{byte:08b}" for byte in data)
        self._used = 0

    def below(self, bound: int) -> int:
        k = (bound - 1).bit_length()
        while True:
            chunk = self._bits[self._used:self._used + k]
            assert len(chunk) == k, "the draw needs more bytes than the test read"
            self._used += k
            x = int(chunk, 2)
            if x < bound:
                return x


def reported_bit(answer: bool, p_truth: Fraction, seed: int, index: int) -> bool:
    """Party ``index``'s report in a run with ``seed``: a Bernoulli(p_truth)
    draw (``below(den) < num``) decides truth, then a fair coin (``below(2)``),
    drawn whatever the first draw said."""
    stream = BitStream(SeededRandomness(seed, index).bytes(64))
    truthful = stream.below(p_truth.denominator) < p_truth.numerator
    coin = stream.below(2) == 1
    return answer if truthful else coin


def simulate_within(deadline: float, *args: Any, **kwargs: Any) -> mpcnet.SimulationResult:
    """``mpcnet.simulate`` under an absolute trio deadline."""

    async def main() -> mpcnet.SimulationResult:
        with trio.fail_after(deadline):
            return await mpcnet.simulate_async(*args, **kwargs)

    return trio.run(main)


def sent_bits(result: mpcnet.SimulationResult) -> dict[str, bool]:
    """Every party's report, read from the others' views (all must agree)."""
    sent: dict[str, bool] = {}
    for res in result.results:
        for rec in res.view:
            assert sent.setdefault(rec.sender, rec.value) is rec.value
    return sent


def test_every_party_gets_the_same_estimate_of_the_article_formula():
    answers = [True, False, True, True, 0, 1, False, True]
    result = mpcnet.simulate("poll", answers, seed=5)
    out = result.outputs[0]
    assert all(o == out for o in result.outputs)
    assert set(out) == {"estimate", "ci", "epsilon", "n", "yes_reported"}
    n, yes = out["n"], out["yes_reported"]
    assert n == len(answers) and 0 <= yes <= n
    assert out["estimate"] == pytest.approx(2 * yes / n - 0.5)  # the article's 2N/n - 1/2
    assert out["epsilon"] == pytest.approx(math.log(3))
    lo, hi = out["ci"]
    assert 0 <= lo <= hi <= 1
    assert (lo, hi) == dp.rr_estimate(yes, n, Fraction(1, 2))[1]
    assert all(s.rounds == 1 for s in result.stats)


def test_each_party_randomizes_its_own_answer_with_its_own_randomness():
    """The bit a party sends is randomized_response(answer, p, ctx.random):
    recompute it from the party's seeded randomness."""
    answers = [True, False, True, True, False, True, False, False]
    seed = 11
    result = mpcnet.simulate("poll", answers, seed=seed, record_views=True)
    expected = {f"p{i}": dp.randomized_response(a, Fraction(1, 2), SeededRandomness(seed, i))
                for i, a in enumerate(answers)}
    for res in result.results:
        for rec in res.view:
            assert rec.value is expected[rec.sender]
    assert result.outputs[0]["yes_reported"] == sum(expected.values())


def test_a_party_receives_only_randomized_bits():
    """Everyone answers yes with p_truth = 1/100: what each party receives is
    exactly the recomputed randomized bit of each peer, one message per peer
    in one round, and some of those bits are no (truthful answers would all
    be yes)."""
    n, seed = 6, 4
    result = simulate_within(10, "poll", [True] * n, params={"p_truth": "1/100"}, seed=seed, record_views=True)
    expected = {f"p{i}": reported_bit(True, Fraction(1, 100), seed, i) for i in range(n)}
    for me, res in zip(result.parties, result.results, strict=True):
        assert len(res.view) == n - 1  # one message per peer, in one round, nothing else
        assert {rec.sender for rec in res.view} == set(result.parties) - {me}
        assert all(rec.round == 1 and rec.value is expected[rec.sender] for rec in res.view)
    assert sorted(expected.values()) == [False, False, False, True, True, True]  # seed 4: three peers report no


@pytest.mark.parametrize("p_truth", ["3/4", "3/5"])
def test_reported_bits_are_recomputed_from_the_seed_at_p_truth_other_than_one_half(p_truth):
    """Every bit sent is the one recomputed independently from the party's
    seeded bytes at this p_truth (3/5 also exercises the retry of a draw
    below 5). The recomputation at the fair coin's p_truth = 1/2 differs on
    some of these bits, so a poll that ignored p_truth would fail here."""
    p = Fraction(p_truth)
    answers = [True, False, True, True, False, False, True, False]
    differs_from_fair_coin = 0
    for seed in range(40, 46):
        result = simulate_within(10, "poll", answers, params={"p_truth": p_truth}, seed=seed, record_views=True)
        expected = {f"p{i}": reported_bit(a, p, seed, i) for i, a in enumerate(answers)}
        assert sent_bits(result) == expected
        assert result.outputs[0]["yes_reported"] == sum(expected.values())
        differs_from_fair_coin += sum(reported_bit(a, Fraction(1, 2), seed, i) != expected[f"p{i}"]
                                      for i, a in enumerate(answers))
    assert differs_from_fair_coin > 0


def test_answers_are_randomized_before_they_leave_the_party():
    """Everyone answers yes, but with p_truth = 1/100 about half the reports
    that anyone receives are no (none would be, if true answers were sent)."""
    n, runs = 6, 10
    reports = []
    for seed in range(runs):
        res = mpcnet.simulate("poll", [True] * n, params={"p_truth": "1/100"}, seed=seed, record_views=True)
        reports += [rec.value for rec in res.results[0].view]
    no = reports.count(False)
    p_no = 0.99 * 0.5
    assert abs(no - len(reports) * p_no) < Z * math.sqrt(len(reports) * p_no * (1 - p_no))


def test_reports_follow_randomized_response_and_estimates_are_unbiased():
    n, runs = 6, 50
    answers = [True, True, False, False, False, True]  # true fraction 1/2
    yes_given = {True: [0, 0], False: [0, 0]}  # answer -> [reported yes, reports]
    estimates = []
    for seed in range(100, 100 + runs):
        result = mpcnet.simulate("poll", answers, seed=seed, record_views=True)
        estimates.append(result.outputs[0]["estimate"])
        # p1 sees every report but its own; p0 sees p1's.
        sent = {rec.sender: rec.value for rec in result.results[1].view}
        sent["p1"] = next(rec.value for rec in result.results[0].view if rec.sender == "p1")
        for i, answer in enumerate(answers):
            yes_given[answer][0] += sent[f"p{i}"]
            yes_given[answer][1] += 1
    for answer, p in ((True, 0.75), (False, 0.25)):
        yes, total = yes_given[answer]
        assert abs(yes - total * p) < Z * math.sqrt(total * p * (1 - p))
    se = math.sqrt(0.75 / (4 * n * 0.25) / runs)  # Var = (1-p^2)/(4 n p^2) per poll
    assert abs(sum(estimates) / runs - 0.5) < Z * se


def test_p_truth_and_confidence_parameters():
    answers = [True, False, True, True, False]
    a = mpcnet.simulate("poll", answers, params={"p_truth": "3/4"}, seed=9).outputs[0]
    b = mpcnet.simulate("poll", answers, params={"p_truth": "0.75", "confidence": 0.8}, seed=9).outputs[0]
    assert a["yes_reported"] == b["yes_reported"]
    assert a["estimate"] == b["estimate"] == pytest.approx((a["yes_reported"] / 5 - 1 / 8) / (3 / 4))
    assert a["epsilon"] == pytest.approx(math.log(7))
    assert b["ci"][1] - b["ci"][0] <= a["ci"][1] - a["ci"][0]


@pytest.mark.parametrize("params", [
    {"p_truth": "1"}, {"p_truth": "0"}, {"p_truth": "3/2"}, {"p_truth": "half"}, {"p_truth": "1/0"},
    {"confidence": 1.0}, {"confidence": 0}, {"epsilon": 1},
])
def test_invalid_parameters_are_refused(params):
    with pytest.raises(ConfigError):
        mpcnet.simulate("poll", [True, False], params=params)


@pytest.mark.parametrize("bad", [2, "yes", None, 0.5, [1]])
def test_invalid_answers_are_refused_before_anything_is_sent(bad):
    with pytest.raises(InputError):
        mpcnet.simulate("poll", [True, bad])
    # the respondent itself refuses, having sent nothing (not only the simulator's central check)
    refused, sent = run_alone_counting_sends("poll", [True, bad], 1)
    assert isinstance(refused, InputError), refused
    assert sent == []


def test_needs_two_respondents():
    with pytest.raises(ConfigError):
        mpcnet.simulate("poll", [True])


def test_a_non_boolean_report_is_a_protocol_violation(monkeypatch):
    monkeypatch.setattr(dp, "randomized_response", lambda bit, p, rng: 1)
    with pytest.raises(RemoteProtocolViolation):
        mpcnet.simulate("poll", [True, False, True])


def test_metadata_states_the_local_dp_guarantee():
    spec = mpcnet.get_protocol("poll")
    assert "local differential privacy" in spec.security
    assert "no honest majority" in spec.security
    assert "randomized answer" in spec.reveals and "never a true answer" in spec.reveals
    assert spec.min_parties == 2
