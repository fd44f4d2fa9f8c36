"""Views: what each party of each protocol receives, checked exactly where
the coins are seeded, and statistically (with stated power) where they are not.

Three kinds of test:

* exact: with seeded randomness, recompute every message a party must
  receive from the senders' own seeded draws and compare the bytes
  (secure-sum, secure-average, poll, the two-party PSI);
* "the view does not depend on the secret": for every protocol and every
  observing party, runs with inputs A and runs with inputs B (the observer's
  own input and the output unchanged, another party's input changed) must
  give the observer views with the same law: every bit of every received
  share, word or point is compared between A and B by an exact permutation
  test (tests/helpers.py: different_bits); shares that must be uniform are
  also tested bit by bit against a fair coin (biased_bits);
* structure: every Shamir dealing of an input has degree exactly t.

Power: the seeded A/B tests use RUNS runs per secret. A bit that is a
function of the secret (e.g. a share replaced by the bid, or a share's low
bits equal to the input: "the secret in the clear") is constant under A and
under B, so the permutation p-value is 2 / C(2 RUNS, RUNS) = 6.2e-14 for
RUNS = 24, below the Bonferroni level ALPHA / bits of every view here (the
largest, dp-vote's, has 1.4e6 bits: 7.1e-13; each test asserts this for its
view): it is found with probability 1 wherever A and B differ in that bit
(the inputs below differ in many bits). Against a bit biased to 0.95 under A
and 0.05 under B the power is only 8.5% in the largest view (57% in a
10^4-bit view), and a bias of 0.75 against 0.25 is not found: numbers pinned
in test_power_of_the_view_tests. Subtler leaks are the exact tests' job.
Seeded runs give the same verdict on every machine; the OS-randomness tests
state their own (tiny) false-alarm probabilities.
"""

from __future__ import annotations

import ast
import functools
import math
import re
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

import mpcnet
from mpcnet.dp.mechanisms import randomized_response
from mpcnet.mpc.binary import to_bits, to_onehot
from mpcnet.mpc.fields import GF256, P127
from mpcnet.mpc.shamir import ShamirEngine, _lagrange
from mpcnet.randomness import SeededRandomness
from mpcnet.registry import ProtocolSpec
from protocols.psi import compact as psi_set
from protocols.psi import curve as psi_curve

from helpers import biased_bits, collect_views, different_bits, two_sample_power

#: Runs per secret in the seeded A/B tests, and the family-wise level of each
#: test (the chance that honest code with unlucky seeds is flagged anywhere
#: in one view).
RUNS = 24
ALPHA = 1e-6
SEEDS_A = range(0, RUNS)
SEEDS_B = range(1000, 1000 + RUNS)


# --- secure-sum and secure-average: every share and partial sum, exactly ------

def _expected_sum_views(inputs: list[Any], seed: int) -> dict[int, list[tuple[int, int, np.ndarray]]]:
    """What party j must receive in a seeded secure-sum: (round, sender, value).

    Party i's randomness is SeededRandomness(seed, i); its first draw is the
    n - 1 random share rows; the last row is its input minus their sum (mod
    2^64). Row j goes to party j. Round 2 carries each party's partial sum.
    """
    n = len(inputs)
    x = [np.atleast_1d(np.asarray(v, dtype=np.int64)).view(np.uint64) for v in inputs]
    k = x[0].size
    rows = []
    for i in range(n):
        random_rows = SeededRandomness(seed, i).uint64((n - 1) * k).reshape(n - 1, k)
        last = x[i] - random_rows.sum(axis=0, dtype=np.uint64)
        rows.append(np.vstack([random_rows, last]))
    partial = [sum((rows[i][j] for i in range(n)), np.zeros(k, dtype=np.uint64)) for j in range(n)]
    return {j: [(1, i, rows[i][j]) for i in range(n) if i != j] + [(2, i, partial[i]) for i in range(n) if i != j]
            for j in range(n)}


@pytest.mark.parametrize("protocol", ["secure-sum", "secure-average"])
@pytest.mark.parametrize("inputs", [
    [3800, 2514, 2982, 3390],  # the four engineers
    [-(2**31), 2**31 - 1],  # two parties at the bounds
    [[1, -2, 3], [0, 0, 0], [2**31 - 1, -(2**31), 7]],  # vectors
])
@pytest.mark.parametrize("seed", [0, 7])
def test_every_share_and_partial_sum_is_recomputed_exactly(protocol, inputs, seed):
    result = mpcnet.simulate(protocol, inputs, seed=seed, record_views=True)
    expected = _expected_sum_views(inputs, seed)
    for j, res in enumerate(result.results):
        got = [(r.round, result.parties.index(r.sender), r.value) for r in res.view]
        assert [(rd, s) for rd, s, _ in got] == [(rd, s) for rd, s, _ in expected[j]]
        for (_, _, value), (_, _, want) in zip(got, expected[j], strict=True):
            assert isinstance(value, np.ndarray) and value.dtype == np.uint64
            np.testing.assert_array_equal(value, want)


def _word_bits(words: np.ndarray) -> np.ndarray:
    """(k, 64) bits of k uint64 words, bit b of word i at [i, b]."""
    return np.unpackbits(np.ascontiguousarray(words, dtype="<u8").view(np.uint8).reshape(-1, 8), axis=1,
                         bitorder="little")


@pytest.mark.parametrize("secrets", [(0, -1), (-1, 0), (0x2AAAAAAA, -0x2AAAAAAB)])
def test_os_randomness_every_bit_of_every_share_is_a_fair_coin(secrets):
    # OS randomness (no seed): 4096 elements per vector, each element's share
    # an independent draw, so every one of the 64 bits of every share and
    # partial sum that every party receives is tested against a fair coin
    # over 4096 samples, at level 1e-9 over all 768 positions (3 parties x 4
    # messages x 64 bits): honest code fails with probability < 1e-9.
    # Power against "the low 32 bits of a share equal the sender's input"
    # (the input is the same in every element, so those bits are constant):
    # 1. Against one bit that is 1 with probability 0.6: > 1 - 1e-12
    # (tolerance +-227 around 2048, the bias shifts the mean by 410).
    # The two secret pairs differ in every bit (0 and -1), so a share bit
    # that copies an input bit is constant under one of them whatever it is.
    k = 4096
    a, b = secrets
    inputs = [np.full(k, a, dtype=np.int64), np.full(k, b, dtype=np.int64), np.arange(k, dtype=np.int64)]
    result = mpcnet.simulate("secure-sum", inputs, record_views=True)
    np.testing.assert_array_equal(result.outputs[0], a + b + np.arange(k))
    columns = []
    for res in result.results:
        assert len(res.view) == 4
        columns += [_word_bits(rec.value) for rec in res.view]
    sample = np.concatenate(columns, axis=1)  # (4096 elements, 768 positions)
    assert list(biased_bits(sample, 1e-9)) == []


def test_os_randomness_views_of_two_runs_differ():
    a = mpcnet.simulate("secure-sum", [1, 2, 3], record_views=True).results[0].view
    b = mpcnet.simulate("secure-sum", [1, 2, 3], record_views=True).results[0].view
    assert all(not np.array_equal(x.value, y.value) for x, y in zip(a, b, strict=True))


def test_os_randomness_every_bit_of_every_shamir_input_share_is_a_fair_coin():
    # OS randomness (no seed), a Shamir protocol: compare over GF(2^8), 3
    # parties (t = 1), p0's operands all 0 and p1's all 255, K = 520 operands
    # of 8 bits each (a dealer's coefficients are then a 4,160-byte draw:
    # above 4 KiB, OSRandomness's ChaCha20 path; below, its kernel path is
    # what PSI and compare-sized draws use), 64 runs. Every share of every
    # operand bit that every party receives in round 1 (p0 gets p1's, p1 gets
    # p0's, p2 gets both: 133,120 bit positions a run) must be a fair coin:
    # * per position over the 64 runs, at level 5e-10 / 133,120 each: a bit
    #   that is the same in every run (a share equal to the secret, a share
    #   bit copying an input bit, coefficients or a generator seed that repeat
    #   across runs) has p = 2^-63 = 1.1e-19 < 3.8e-15: found surely;
    # * pooled over the 520 operands (they hold the same bit, so their shares
    #   have one law) for each (receiver, sender, operand bit, share bit): 256
    #   positions of 33,280 draws at level 5e-10 / 256 each: a bit that is 1
    #   with probability 0.55 is found with probability > 1 - 3e-11 (0.53:
    #   99.995%; 0.52: 60%).
    # Honest code fails either check with probability below 1e-9 in all.
    k, runs, alpha = 520, 64, 5e-10
    per_run = []
    for _ in range(runs):
        result = mpcnet.simulate("compare", [[0] * k, [255] * k, None], params={"bits": 8, "engine": "shamir"},
                                 record_views=True)
        assert result.outputs[0] == [True] * k  # 0 < 255
        shares = []
        for j, res in enumerate(result.results):
            recs = [r for r in res.view if r.round == 1]
            assert [r.sender for r in recs] == [f"p{i}" for i in (0, 1) if i != j]
            for rec in recs:
                assert rec.value.dtype == np.uint8 and rec.value.shape == (k, 8)
                shares.append(np.unpackbits(rec.value[..., None], axis=-1, bitorder="little"))  # (k, 8 bits, 8)
        per_run.append(np.stack(shares))  # (4 messages, k, 8 operand bits, 8 share bits)
    sample = np.stack(per_run)  # (runs, 4, k, 8, 8)
    across_runs = sample.reshape(runs, -1)
    assert across_runs.shape[1] == 133_120 and 2 / 2**runs < alpha / across_runs.shape[1]
    assert list(biased_bits(across_runs, alpha)) == []
    pooled = sample.transpose(0, 2, 1, 3, 4).reshape(runs * k, -1)
    assert pooled.shape == (33_280, 256)
    assert list(biased_bits(pooled, alpha)) == []


# --- poll: every randomized answer, exactly -------------------------------------

@pytest.mark.parametrize("p_truth", ["1/2", "3/4", "1/10"])
def test_poll_every_received_answer_is_the_senders_own_randomized_response(p_truth):
    answers = [True, False, True, True, False]
    for seed in range(20):
        result = mpcnet.simulate("poll", answers, params={"p_truth": p_truth}, seed=seed, record_views=True)
        sent = [randomized_response(x, Fraction(p_truth), SeededRandomness(seed, i)) for i, x in enumerate(answers)]
        for j, res in enumerate(result.results):
            assert [(r.round, r.sender) for r in res.view] == [(1, f"p{i}") for i in range(5) if i != j]
            assert [r.value for r in res.view] == [sent[i] for i in range(5) if i != j]


@pytest.mark.parametrize("p_truth", ["3/4", "1/10"])
def test_poll_answers_differ_with_the_truth_exactly_when_truthful(p_truth):
    # Written without the library's sampler: with the same seed a respondent
    # draws the same coins whether its answer is yes or no, so its reports
    # under yes and under no differ exactly when it answered truthfully:
    # then they are (yes, no); otherwise they agree (the fair coin).
    # Over 540 (seed, respondent) pairs the truthful count must be within
    # 6 standard deviations of 540 p_truth (honest code outside: p < 2e-9;
    # seeded, so the same verdict everywhere). Power against "p_truth
    # ignored" (a fair coin, truthful half of the time): the count moves by
    # 135 (3/4) or 216 (1/10) against a tolerance of 60 or 42: found surely.
    n, seeds = 10, range(60)
    truthful = 0
    for seed in seeds:
        views = [mpcnet.simulate("poll", [answer] * n, params={"p_truth": p_truth}, seed=seed,
                                 record_views=True).results[0].view for answer in (True, False)]
        for yes, no in zip(*views, strict=True):
            assert (yes.sender, yes.round) == (no.sender, no.round)
            assert (yes.value, no.value) in {(True, False), (True, True), (False, False)}
            truthful += yes.value != no.value
    samples, p = len(seeds) * (n - 1), float(Fraction(p_truth))
    assert abs(truthful - samples * p) < 6 * (samples * p * (1 - p)) ** 0.5


# --- two-party PSI: every point, exactly ----------------------------------------

def test_psi_every_blinded_point_is_recomputed_from_the_senders_own_key():
    x, y = ["apple", "pear", b"fig", "kiwi"], ["pear", "plum", "kiwi"]
    for seed in range(3):
        result = mpcnet.simulate("psi", [x, y], seed=seed, record_views=True)
        key, _ = psi_curve.scalar_pair(SeededRandomness(seed, 0).bytes)
        request = psi_curve.hash_blind([psi_curve.encode_item(v) for v in x], key)
        (rec,) = result.results[1].view  # the sender receives a H(x) for every x, nothing else
        assert (rec.round, rec.sender, rec.value.tobytes()) == (1, "p0", request)
        sender_key = psi_curve.clamp(SeededRandomness(seed, 1).bytes(32)).to_bytes(32, "little")
        (reply,) = result.results[0].view
        assert reply.value["n"] == len(y)
        assert reply.value["blinded"].tobytes() == psi_curve.blind(request, sender_key)
        layout = psi_set.SetLayout(len(x), len(y), 30)
        digests = np.frombuffer(psi_curve.hash_blind_digest([psi_curve.encode_item(v) for v in y], sender_key),
                                dtype=np.uint8).reshape(len(y), -1)
        want = psi_set.encode(*psi_set.values_from_digests(digests, layout), layout)[0]
        assert set(reply.value["set"]) == set(want)
        assert reply.value["set"]["first"] == want["first"]
        for part in ("unary", "rem"):
            np.testing.assert_array_equal(reply.value["set"][part], want[part])


def _points(view: Any, n_queries: int) -> set[bytes]:
    """Every curve point and every digest of the sender's compact set a party received."""
    out: set[bytes] = set()
    for rec in view:
        value = rec.value
        if isinstance(value, dict):  # the two-party reply: blinded points and the compact set
            layout = psi_set.SetLayout(n_queries, value["n"], 30)
            bucket, low = psi_set.decode(value["set"], layout)
            out |= {f"{b}:{lo}".encode() for b, lo in zip(bucket.tolist(), low.tolist(), strict=True)}
            value = value["blinded"]
        if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 2:  # (not the output's positions)
            out |= {row.tobytes() for row in value}
    return out


@pytest.mark.parametrize("sets", [[["a", "b", "c"], ["b", "c", "d"]], [["a", "b", "c"], ["b", "c", "d"], ["c", "e", "f"]]])
def test_psi_keys_are_fresh_in_every_run_on_os_randomness(sets):
    # The same sets twice, OS randomness: a blinding key reused across runs
    # (by any party) would send some of the same points or digests again.
    # Fresh keys repeat one with probability below 2^-30 (digest collisions).
    first, second = (mpcnet.simulate("psi", sets, record_views=True) for _ in range(2))
    for j in range(len(sets)):
        seen = _points(first.results[j].view, len(sets[0]))
        assert seen and not seen & _points(second.results[j].view, len(sets[0]))


# --- every protocol, every party: the view does not depend on the secret -------
#
# Each case: protocol, params, the inputs A, and per observing party the
# inputs B: the observer's own input and the output (what it may learn) are
# the same as under A; another party's secret input differs, in many bits.
# The last field, "uniform": every bit of every received value must also be a
# fair coin (messages that are only shares: fresh Shamir or additive shares,
# masked openings), except the positions _not_coins lists (and says why).

def _swap(inputs: list[Any], i: int, j: int) -> list[Any]:
    out = list(inputs)
    out[i], out[j] = out[j], out[i]
    return out


def _auction_cases() -> dict[str, tuple[str, dict[str, Any], list[Any], dict[int, list[Any]], bool]]:
    cases = {}
    first = {0: [200, 5, 3], 1: [200, 90, 150], 2: [200, 170, 3]}  # p0 wins at 200 in each
    second = {0: [200, 90, 60], 1: [250, 90, 3], 2: [131, 90, 3]}  # p0 wins, price 90 in each
    for method in ("three-party", "all-pairs", "tournament"):
        for kind, b in (("first-price", first), ("second-price", second)):
            cases[f"auction-{method}-{kind}"] = ("auction", {"bits": 8, "method": method, "kind": kind},
                                                 [200, 90, 3], b, True)
    # several bids per bidder (bids=5: 2, 2 and 1), three-party method; p0's 250 wins
    several = {0: [[250, 7], [90, 31], [3]], 1: [[250, 200], [90, 60], [100]], 2: [[250, 1], [40, 60], [3]]}
    cases["auction-three-party-bids"] = ("auction", {"bits": 8, "bids": 5}, [[250, 7], [90, 60], [3]], several, True)
    # three compute-only parties and three input-only bidders
    none3 = [None, None, None]
    for kind, b in (("first-price", {3: [200, 90, 17], 4: [200, 90, 150], 5: [200, 5, 3]}),
                    ("second-price", {3: [200, 90, 17], 4: [230, 90, 3], 5: [201, 90, 3]})):
        b = {j: none3 + v for j, v in b.items()}
        b.update({j: [*none3, 200, 90, 77] for j in range(3)})
        cases[f"auction-compute3-{kind}"] = ("auction", {"bits": 8, "method": "all-pairs", "kind": kind,
                                                         "compute_parties": 3}, [*none3, 200, 90, 3], b, True)
        # (three compute parties: the replicated engine above by default; the Shamir one by name here)
        cases[f"auction-compute3-{kind}-shamir"] = ("auction", {"bits": 8, "method": "all-pairs", "kind": kind,
                                                                "compute_parties": 3, "engine": "shamir"},
                                                    [*none3, 200, 90, 3], b, True)
    return cases


def _on_replicated(name: str) -> bool:
    """Whether a case runs on the three-party replicated engine (its uint64
    arrays are bit planes, not Z_(2^127-1) limbs): compare and the auction's
    all-pairs and tournament methods with three compute parties, unless
    they name the Shamir engine."""
    protocol, params, inputs, _, _ = CASES[name]
    c = params.get("compute_parties", 0) or len(inputs)
    return (protocol in ("compare", "auction") and c == 3 and params.get("engine") != "shamir"
            and params.get("method") != "three-party" and not (protocol == "auction" and "method" not in params
                                                                and c == len(inputs)))


VOTES = [0, 2, 1]
YES_NO = [True, False, True, False]
DP = [1, 9, 4]
CASES: dict[str, tuple[str, dict[str, Any], list[Any], dict[int, list[Any]], bool]] = {
    "secure-sum": ("secure-sum", {"bits": 16}, [10, -20, 300], {0: [10, 280, 0], 1: [-290, -20, 600],
                                                                 2: [-32000, 31990, 300]}, True),
    "secure-average": ("secure-average", {"bits": 16}, [10, -20, 300], {0: [10, 280, 0], 1: [-290, -20, 600],
                                                                         2: [-32000, 31990, 300]}, True),
    # (three parties: the replicated engine by default; the Shamir one by name)
    "compare": ("compare", {"bits": 8}, [5, 9, None], {0: [5, 200, None], 1: [0, 9, None], 2: [100, 250, None]},
                True),
    "compare-shamir": ("compare", {"bits": 8, "engine": "shamir"}, [5, 9, None],
                       {0: [5, 200, None], 1: [0, 9, None], 2: [100, 250, None]}, True),
    "compare-5": ("compare", {"bits": 8, "op": "eq"}, [77, 78, None, None, None],
                  {0: [77, 200, None, None, None], 1: [0, 78, None, None, None],
                   **{j: [255, 0, None, None, None] for j in (2, 3, 4)}}, True),
    **_auction_cases(),
    "vote": ("vote", {"options": 3}, VOTES, {0: _swap(VOTES, 1, 2), 1: _swap(VOTES, 0, 2), 2: _swap(VOTES, 0, 1)},
             True),
    "referendum": ("referendum", {}, YES_NO, {0: _swap(YES_NO, 1, 2), 1: _swap(YES_NO, 0, 3),
                                              2: _swap(YES_NO, 0, 1), 3: _swap(YES_NO, 0, 1)}, True),
    "dp-sum": ("dp-sum", {"lower": 0, "upper": 10}, DP, {0: _swap(DP, 1, 2), 1: _swap(DP, 0, 2), 2: _swap(DP, 0, 1)},
               True),
    "dp-vote": ("dp-vote", {"options": 3}, VOTES, {0: _swap(VOTES, 1, 2), 1: _swap(VOTES, 0, 2),
                                                   2: _swap(VOTES, 0, 1)}, True),
    # three compute-only parties, three input-only voters (who receive only the result round)
    "vote-compute3": ("vote", {"options": 3, "compute_parties": 3}, [None, None, None, *VOTES],
                      {**{j: [None, None, None, *_swap(VOTES, 0, 1)] for j in range(3)},
                       3: [None, None, None, *_swap(VOTES, 1, 2)], 4: [None, None, None, *_swap(VOTES, 0, 2)],
                       5: [None, None, None, *_swap(VOTES, 0, 1)]}, True),
    # PSI: same set sizes and the same intersection (the 3-party ring: the
    # same size for the intersection of every subset of the sets too)
    "psi": ("psi", {}, [["a", "b", "c"], ["b", "c", "d", "e"]],
            {0: [["a", "b", "c"], ["b", "c", "x", "y"]], 1: [["q", "b", "c"], ["b", "c", "d", "e"]]}, False),
    "psi-both": ("psi", {"reveal": "both"}, [["a", "b", "c"], ["b", "c", "d", "e"]],
                 {0: [["a", "b", "c"], ["b", "c", "x", "y"]], 1: [["q", "b", "c"], ["b", "c", "d", "e"]]}, False),
    "psi-cardinality": ("psi-cardinality", {}, [["a", "b", "c"], ["b", "c", "d", "e"]],
                        {0: [["a", "b", "c"], ["b", "c", "x", "y"]], 1: [["z", "b", "c"], ["b", "c", "d", "e"]]},
                        False),
    "psi-ring": ("psi", {}, [["a", "b", "c"], ["b", "c", "d"], ["b", "e", "f"]],
                 {0: [["a", "b", "c"], ["b", "c", "x"], ["b", "y", "z"]],
                  1: [["q", "b", "c"], ["b", "c", "d"], ["b", "y", "f"]],
                  2: [["q", "b", "c"], ["b", "c", "w"], ["b", "e", "f"]]}, False),
}


def _psi_project(n_queries: int, fp_bits: int = 30):
    """The two-party reply's compact set has a variable-length encoding:
    compare its decoded (fixed-size) elements instead."""
    def project(rec: Any) -> Any:
        v = rec.value
        if isinstance(v, dict) and "set" in v:
            bucket, low = psi_set.decode(v["set"], psi_set.SetLayout(n_queries, v["n"], fp_bits))
            return {"n": v["n"], "blinded": v["blinded"], "set": [np.asarray(bucket, dtype=np.uint64),
                                                                  np.asarray(low, dtype=np.uint64)]}
        return v
    return project


def _project(name: str, inputs: list[Any]):
    return _psi_project(len(inputs[0])) if name in ("psi", "psi-both", "psi-cardinality") else None


def _views_b(name: str, party: int) -> tuple[tuple[str, ...], np.ndarray]:
    """The observer's view under its inputs B."""
    return _views_b_all(name, repr(CASES[name][3][party]))[party]


@functools.cache
def _views_b_all(name: str, b_repr: str) -> dict[int, tuple[tuple[str, ...], np.ndarray]]:
    """The views of every observer whose inputs B are ``b_repr`` (one set of runs for all of them)."""
    protocol, params, a, b_by_party, _ = CASES[name]
    observers = [j for j, b in b_by_party.items() if repr(b) == b_repr]
    return collect_views(protocol, b_by_party[observers[0]], params, observers, SEEDS_B, _project(name, a))


@functools.cache
def _views_a(name: str) -> dict[int, tuple[tuple[str, ...], np.ndarray]]:
    """Every observer's view under the inputs A (one set of runs serves all)."""
    protocol, params, a, b_by_party, _ = CASES[name]
    return collect_views(protocol, a, params, sorted(b_by_party), SEEDS_A, _project(name, a))


def _parts(layout: tuple[str, ...]) -> list[tuple[int, str, np.dtype, tuple[int, ...], int]]:
    """(round, sender, dtype, shape, bit offset) of every array in a view layout."""
    out, offset, record = [], 0, (0, "")
    for part in layout:
        if part.startswith("r") and ":" in part:
            round_no, sender = part[1:].split(":")
            record = (int(round_no), sender)
            continue
        match = re.fullmatch(r"([<>|][a-z]\d+)(\(.*\))", part)
        if match is None:
            offset += {"bool": 1, "int": 64}.get(part, 0) + (8 * int(part[5:]) if part.startswith("bytes") else 0)
            continue
        dtype, shape = np.dtype(match[1]), ast.literal_eval(match[2])
        out.append((*record, dtype, shape, offset))
        offset += int(np.prod(shape, dtype=np.int64)) * dtype.itemsize * 8
    return out


def _p127(dtype: np.dtype, shape: tuple[int, ...]) -> bool:
    """Z_(2^127-1) elements travel as two little-endian uint64 limbs, shape (2, ...)."""
    return dtype == np.dtype("<u8") and len(shape) >= 2 and shape[0] == 2


def _not_coins(name: str, layout: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Positions, in a view's bit vector, that are not fair coins in honest
    runs: (always 0, other). Always 0:

    * the top bit of every Z_(2^127-1) element (below 2^127 - 1, bit 127 is 0);
    * in the result round of vote, referendum and dp-vote, the last element
      of each opened vector: the number of invalid ballots, public to the
      compute parties and opened as it is (0 here);

    Other: the three-party auction's helper tags (uint64 arrays): AES
    outputs, but each list is sorted (so a tag's place does not give its
    level), and sorted words are not fair coins bit by bit. The A/B test
    covers them.
    """
    positions: list[int] = []
    tags: list[int] = []
    parts = _parts(layout)
    last = max(r for r, *_ in parts)
    for round_no, _, dtype, shape, offset in parts:
        if "three-party" in name and dtype == np.dtype("<u8"):
            tags += range(offset, offset + int(np.prod(shape, dtype=np.int64)) * 64)
            continue
        if not _p127(dtype, shape) or _on_replicated(name):
            continue
        per_limb = int(np.prod(shape[1:], dtype=np.int64)) * 64
        positions += range(offset + per_limb + 63, offset + 2 * per_limb, 64)
        if CASES[name][0] in ("vote", "referendum", "dp-vote") and round_no == last:
            assert len(shape) == 2
            for limb in range(2):
                start = offset + limb * per_limb + (shape[1] - 1) * 64
                positions += range(start, start + 64)
    return np.unique(np.array(positions, dtype=np.int64)), np.array(tags, dtype=np.int64)


@pytest.mark.parametrize("name, party", [(name, j) for name, case in CASES.items() for j in sorted(case[3])])
def test_a_view_does_not_depend_on_another_partys_secret(name, party):
    protocol, params, a, b_by_party, uniform = CASES[name]
    b = b_by_party[party]
    assert a[party] == b[party] and a != b
    out_a = mpcnet.simulate(protocol, a, params=params, seed=1).outputs[party]
    out_b = mpcnet.simulate(protocol, b, params=params, seed=1).outputs[party]
    if not protocol.startswith("dp-"):  # (dp outputs are noisy: the same law, checked by the view test itself)
        assert out_a == out_b, "the observer's output must be the same under A and B"
    layout_a, sample_a = _views_a(name)[party]
    layout_b, sample_b = _views_b(name, party)
    assert layout_a == layout_b, "message sizes must not depend on the secret"
    assert sample_a.shape[1] > 0
    # (the docstring's claim for this view: a bit that copies a secret bit is found)
    assert 2 / math.comb(2 * RUNS, RUNS) < ALPHA / sample_a.shape[1]
    assert list(different_bits(sample_a, sample_b, ALPHA)) == []


@pytest.mark.parametrize("name, party", [(name, j) for name, case in CASES.items() for j in sorted(case[3]) if case[4]])
def test_every_received_share_bit_is_a_fair_coin(name, party):
    # Shares (additive, Shamir of degree t seen by one party, masked
    # openings) are uniform: every bit of every one is a fair coin over the
    # 2 x RUNS seeded runs of the A and B inputs, except the top bit of a
    # Z_(2^127-1) element (always 0). Power against a bit that is constant
    # within the runs (a share equal to a secret or to a constant, such as
    # low bits zeroed): p = 2^-47 < 1e-6 / 1.4e6 bits, so 1 for any view
    # here; against a bit biased to 3/4 it is small (the A/B test above
    # and the exact tests carry that load).
    layout, sample_a = _views_a(name)[party]
    sample_b = _views_b(name, party)[1]
    sample = np.vstack([sample_a, sample_b])
    assert 2 / 2 ** sample.shape[0] < ALPHA / sample.shape[1]  # a constant bit is found (2^-47 here)
    zero, tags = _not_coins(name, layout)
    assert not sample[:, zero].any()  # top bits, and no invalid ballot
    excluded = np.union1d(zero, tags)
    biased = np.setdiff1d(biased_bits(sample, ALPHA), excluded)
    assert sample.shape[1] - len(excluded) >= 256  # (input-only voters: the counts, 3 x 3 x 127 bits)
    assert list(biased) == []


def test_power_of_the_view_tests():
    # The numbers the module docstring and the tests above state, computed
    # exactly (tests/helpers.py: two_sample_power), for RUNS runs per secret
    # and the largest view here (dp-vote: 1.4e6 bits).
    assert RUNS == 24 and ALPHA == 1e-6
    bits = 1_400_000
    # a bit that is a function of the secret: constant under A, the other value under B
    assert two_sample_power(RUNS, bits, ALPHA, 1.0, 0.0) == 1.0
    # a bit biased to 0.95 under A and 0.05 under B: found 8.5% of the time (57% in a 1e4-bit view)
    assert 0.08 < two_sample_power(RUNS, bits, ALPHA, 0.95, 0.05) < 0.09
    assert 0.56 < two_sample_power(RUNS, 10_000, ALPHA, 0.95, 0.05) < 0.57
    # weaker biases are not found by these tests (the exact tests cover those protocols that have them)
    assert two_sample_power(RUNS, 10_000, ALPHA, 0.75, 0.25) < 1e-3


# --- every Shamir dealing of an input has degree exactly t ----------------------

def _extrapolate(field: Any, xs: tuple[int, ...], ys: list[np.ndarray], at: int) -> np.ndarray:
    """The value at ``at`` of the polynomial of degree len(xs) - 1 through (xs, ys)."""
    out = field.zeros(np.shape(ys[0]))
    for lam, y in zip(_lagrange(field, xs, at), ys, strict=True):
        out = field.add(out, field.scale(lam, y))
    return out


@pytest.mark.parametrize("protocol, params, inputs, field, width", [
    ("vote", {"options": 3}, [0, 2, 1, 1, 2], P127, 3),
    ("referendum", {}, [True, False, True, True, False], P127, 1),
    ("dp-sum", {"lower": 0, "upper": 10}, [1, 9, 4, 0, 10], P127, 1),
    ("compare", {"bits": 16}, [1234, 999, None, None, None], GF256, 16),
    ("auction", {"bits": 8, "method": "all-pairs"}, [200, 90, 3, 17, 150], GF256, None),
    ("auction", {"bits": 8, "method": "tournament"}, [200, 90, 3, 17, 150], GF256, 8),
])
def test_input_shares_have_degree_exactly_t(protocol, params, inputs, field, width):
    # Five compute parties: t = 2. A dealer keeps its own share and sends
    # four, which must lie on one polynomial of degree 2 (consistency) and
    # not on one of degree 1: a sharing of degree t - 1 would let t parties
    # reconstruct the input. For Z_(2^127-1) a true degree-2 sharing looks
    # like degree 1 with probability 2^-127 per element: exact. For GF(2^8)
    # with probability 1/256 per element: at most a quarter of the elements
    # may (binomial tail below 1e-9 for the 16+ elements here; a degree-1
    # dealing makes all of them so).
    n, t = len(inputs), 2
    result = mpcnet.simulate(protocol, inputs, params=params, seed=5, record_views=True)
    dealers = [d for d in range(n) if inputs[d] is not None]
    for d in dealers:
        points, shares = [], []
        for j in range(n):
            if j == d:
                continue
            (rec,) = [r for r in result.results[j].view if r.round == 1 and r.sender == f"p{d}"]
            shape = rec.value.shape[1:] if field is P127 else rec.value.shape
            shares.append(field.from_wire(rec.value, tuple(shape), rec.sender))
            points.append(j + 1)
        if width is not None:
            assert shares[0].size == width
        fourth = _extrapolate(field, tuple(points[: t + 1]), shares[: t + 1], points[t + 1])
        assert np.array_equal(np.asarray(fourth), np.asarray(shares[t + 1])), "the shares are not of degree t"
        third = _extrapolate(field, tuple(points[:t]), shares[:t], points[t])
        low = np.asarray(third == shares[t]).reshape(-1)
        if field is P127:
            assert not low.any(), f"p{d}'s dealing has degree below t"
        else:
            assert low.sum() <= low.size // 4, f"p{d}'s dealing has degree below t"


# --- what compare opens: exactly its output ---------------------------------------

@pytest.mark.parametrize("params, inputs", [
    ({"bits": 8, "engine": "shamir"}, [5, 9, None]),
    ({"bits": 8, "op": "eq"}, [[77, 3, 200], [78, 3, 100], None, None, None]),
    ({"bits": 16, "signed": True, "op": "ge", "engine": "shamir"}, [[-5, 7, -300], [100, -300, -300], None]),
])
@pytest.mark.parametrize("seed", [0, 1])
def test_compare_opens_exactly_its_output(params, inputs, seed):
    # The last round opens the result. Reconstructed from every party's view
    # (the received shares must lie on one polynomial of degree t), it must be
    # 1 where the output is true and 0 where it is false, nothing else: an
    # operand bit riding along in the other bits of the GF(2^8) element keeps
    # every share uniform, so the A/B and fair-coin tests cannot see it.
    n, t = len(inputs), (len(inputs) - 1) // 2
    result = mpcnet.simulate("compare", inputs, params=params, seed=seed, record_views=True)
    want = np.asarray(result.outputs[0], dtype=np.uint8)
    assert all(out == result.outputs[0] for out in result.outputs)
    for j, res in enumerate(result.results):
        last = max(r.round for r in res.view)
        recs = [r for r in res.view if r.round == last]
        assert sorted(r.sender for r in recs) == [f"p{i}" for i in range(n) if i != j]
        xs = tuple(result.parties.index(r.sender) + 1 for r in recs)
        ys = [GF256.from_wire(r.value, tuple(r.value.shape), r.sender) for r in recs]
        for x, y in zip(xs[t + 1:], ys[t + 1:], strict=True):
            assert np.array_equal(np.asarray(_extrapolate(GF256, xs[: t + 1], ys[: t + 1], x)), np.asarray(y))
        np.testing.assert_array_equal(np.asarray(_extrapolate(GF256, xs[: t + 1], ys[: t + 1], 0)), want)


# --- what a first-price auction opens: the winner, its price, fresh random words ----

@pytest.mark.parametrize("params, bids", [
    ({"bits": 8, "method": "all-pairs"}, [200, 90, 3, 17, 150]),
    ({"bits": 8, "method": "three-party"}, [90, 200, 3]),
    ({"bits": 8, "method": "all-pairs", "compute_parties": 3, "engine": "shamir"}, [None, None, None, 200, 90, 3, 17]),
    ({"bits": 8, "bids": 5}, [[250, 7], [90, 31], [3]]),
])
def test_first_price_auction_opens_only_the_winner_and_random_words(params, bids, monkeypatch):
    # The result round opens, per bid, ELIMINATION_WORDS words and the bid's
    # bytes masked by random elements of every bid that beats it. Every party
    # must open the same table: one row (the winner's) of zero words and the
    # price; every losing row all fresh random bytes. Tested bit by bit
    # against a fair coin over 2 x RUNS seeded runs: a losing row that is a
    # function of the bids (e.g. which bids beat it, with fixed instead of
    # random masks) is constant in every run, found with p = 2^-47 <
    # ALPHA / bits. The views' A/B and fair-coin tests cannot see this: every
    # share received stays uniform whatever the opened value is.
    opened: list[tuple[str, np.ndarray]] = []
    honest = ShamirEngine.open_wide

    async def recording(self: ShamirEngine, *args: Any, **kw: Any) -> Any:
        out = await honest(self, *args, **kw)
        opened.append((self.ctx.me, np.array(out, dtype=np.uint8)))
        return out

    monkeypatch.setattr(ShamirEngine, "open_wide", recording)
    flat = [b for v in bids if v is not None for b in (v if isinstance(v, list) else [v])]
    winner = max(range(len(flat)), key=lambda i: (flat[i], -i))
    losers = []
    for seed in range(2 * RUNS):
        opened.clear()
        result = mpcnet.simulate("auction", bids, params={**params, "kind": "first-price"}, seed=seed)
        assert sorted(me for me, _ in opened) == sorted(result.parties)  # one opening, by every party
        table = opened[0][1]
        assert all(np.array_equal(t, table) for _, t in opened)
        assert table.shape == (len(flat), 4 + 1)  # 4 words, 1 price byte
        assert not table[winner, :4].any() and int(table[winner, 4]) == flat[winner] == result.outputs[0]["price"]
        losers.append(np.unpackbits(np.delete(table, winner, axis=0).reshape(-1), bitorder="little"))
    sample = np.stack(losers)
    assert 2 / 2 ** sample.shape[0] < ALPHA / sample.shape[1]
    assert list(biased_bits(sample, ALPHA)) == []


@pytest.mark.parametrize("params, bids", [
    ({"bits": 8, "compute_parties": 3}, [None, None, None, 200, 90, 3, 17]),
    ({"bits": 32, "compute_parties": 3}, [None, None, None, 2**32 - 1, 7, 2**32 - 1, 2**31]),
    ({"bits": 8, "compute_parties": 3, "bids": 5}, [None, None, None, [90, 31, 250], [250, 7]]),
])
def test_replicated_first_price_opens_only_the_winner_and_random_bits(params, bids, monkeypatch):
    # Three compute parties: the replicated engine's result round opens, per
    # bid, CHECK_BITS bits and the bid's bits, each XORed with fresh random
    # bits ANDed with [j beats i] for every other bid j. Every party must
    # open the same planes: the winner's check bits 0 and its bid; every
    # losing bid's bits fair coins over 2 x RUNS seeded runs (a loser's bits
    # that were a function of the bids would be constant: p = 2^-47).
    from mpcnet.mpc.bitslice import unpack
    from mpcnet.mpc.replicated import ReplicatedEngine
    from protocols.auction.sliced import CHECK_BITS

    opened: list[tuple[str, np.ndarray]] = []
    honest = ReplicatedEngine.open_sum

    async def recording(self: ReplicatedEngine, *args: Any, **kw: Any) -> Any:
        out = await honest(self, *args, **kw)
        opened.append((self.ctx.me, np.array(out)))
        return out

    monkeypatch.setattr(ReplicatedEngine, "open_sum", recording)
    flat = [b for v in bids if v is not None for b in (v if isinstance(v, list) else [v])]
    m, k = len(flat), params["bits"]
    winner = max(range(m), key=lambda i: (flat[i], -i))
    losers = []
    for seed in range(2 * RUNS):
        opened.clear()
        result = mpcnet.simulate("auction", bids, params={**params, "kind": "first-price"}, seed=seed)
        assert sorted(me for me, _ in opened) == sorted(result.parties)  # one opening, by every party
        planes = opened[0][1]
        assert all(np.array_equal(t, planes) for _, t in opened)
        assert planes.shape == (CHECK_BITS + k, 1)
        checks, prices = unpack(planes[:CHECK_BITS], m), unpack(planes[CHECK_BITS:], m)
        assert checks[winner] == 0 and int(prices[winner]) == flat[winner] == result.outputs[0]["price"]
        rest = np.delete(np.arange(m), winner)
        bits = np.concatenate([((checks[rest, None] >> np.arange(CHECK_BITS, dtype=np.uint64)) & 1).reshape(-1),
                               ((prices[rest, None] >> np.arange(k, dtype=np.uint64)) & 1).reshape(-1)])
        losers.append(bits.astype(np.uint8))
    sample = np.stack(losers)
    assert 2 / 2 ** sample.shape[0] < ALPHA / sample.shape[1]
    assert list(biased_bits(sample, ALPHA)) == []


# --- every Shamir input share, recomputed exactly --------------------------------

def _deal(field: Any, secret: np.ndarray, c: int, random: SeededRandomness) -> list[np.ndarray]:
    """Shares, at the points 1..c, of ``secret`` under the polynomial
    s + a_1 x + ... + a_t x^t (t = (c - 1) // 2), whose coefficients
    a_1..a_t are the dealer's first draws (written out here, not ShamirEngine.deal)."""
    t = (c - 1) // 2
    secret = np.asarray(secret)
    coeffs = field.random(t * secret.size, random).reshape((t, *secret.shape))
    shares = []
    for x in range(1, c + 1):
        share = secret
        for i in range(t):
            term = coeffs[i]
            for _ in range(i + 1):  # a_(i+1) x^(i+1)
                term = field.scale(x, term)
            share = field.add(share, term)
        shares.append(share)
    return shares


def _onehot(option: int, k: int) -> list[int]:
    return [int(i == option) for i in range(k)]


@pytest.mark.parametrize("protocol, params, inputs, field, encode", [
    ("compare", {"bits": 16, "engine": "shamir"}, [1234, 999, None], GF256, lambda v: to_bits(v, 16)),
    ("compare", {"bits": 8, "signed": True}, [-5, 100, None, None, None], GF256, lambda v: to_bits(v, 8, signed=True)),
    ("vote", {"options": 3}, [0, 2, 1, 1, 2], P127, lambda v: P127.from_ints(np.array(_onehot(v, 3), dtype=object))),
    ("referendum", {}, [True, False, True], P127, lambda v: P127.from_ints(np.array([int(v)], dtype=object))),
    ("dp-sum", {"lower": 0, "upper": 10}, [1, 9, 4], P127, lambda v: P127.from_ints(np.array([v], dtype=object))),
    ("dp-vote", {"options": 2}, [0, 1, 1], P127, lambda v: P127.from_ints(np.array(_onehot(v, 2), dtype=object))),
    ("auction", {"bits": 8, "method": "all-pairs"}, [200, 90, 3, 17, 150], GF256, lambda v: to_onehot(v, 8)),
    ("auction", {"bits": 8, "method": "tournament", "engine": "shamir"}, [200, 90, 3], GF256, lambda v: to_bits(v, 8)),
])
@pytest.mark.parametrize("seed", [2, 3])
def test_every_input_share_is_recomputed_exactly(protocol, params, inputs, field, encode, seed):
    # Round 1 of every Shamir protocol: each input party deals its (encoded)
    # input with coefficients that are the first draws of its own seeded
    # randomness. Every share every party receives must be exactly that.
    result = mpcnet.simulate(protocol, inputs, params=params, seed=seed, record_views=True)
    parties = list(result.parties)
    for d, value in enumerate(inputs):
        if value is None:
            continue
        shares = _deal(field, encode(value), len(inputs), SeededRandomness(seed, d))
        for j, res in enumerate(result.results):
            if j == d:
                continue
            (rec,) = [r for r in res.view if r.round == 1 and r.sender == parties[d]]
            np.testing.assert_array_equal(rec.value, field.to_wire(shares[j]))


# --- open_wide: the opened shares are masked --------------------------------------

WIDE = 64


async def _open_a_wide_product(ctx: Any, value: Any) -> tuple[np.ndarray, np.ndarray]:
    """Test protocol: share two vectors, multiply them locally (a degree-2t
    sharing) and open it wide, as the auctions' result rounds do. Returns
    this party's unmasked product share and the opened value."""
    eng = ShamirEngine(ctx, GF256)
    mine = np.frombuffer(bytes(range(WIDE)), dtype=np.uint8) if ctx.index < 2 else None
    shared = await eng.input({ctx.parties[0]: (WIDE,), ctx.parties[1]: (WIDE,)}, mine)
    a, b = shared[ctx.parties[0]], shared[ctx.parties[1]]
    if eng.c == 3:  # three parties: masks from the pairwise keys, no message
        eng.extras_from_keys(WIDE, 0, "test/wide")
    else:  # otherwise masks ride on a reduction round
        await eng.mul_many([(a, b)], masks=WIDE)
    wide = GF256.mul(a, b)
    opened = await eng.open_wide(wide)
    return wide, opened


WIDE_PRODUCT = ProtocolSpec(name="test-wide-product", func=_open_a_wide_product, summary="test only", min_parties=3,
                            max_parties=None, security="-", reveals="a product", input="null", output="-")


@pytest.mark.parametrize("n", [3, 5])
def test_open_wide_shares_are_masked(n):
    # What a party receives in an open_wide round is the sender's product
    # share plus a share of a random degree-2t sharing of 0: equal to the bare
    # product share (which the test knows: each party returns its own) only
    # where the mask share is 0, 1/256 of the time. Bare product shares let a
    # party see the structure of the factors' sharings. Seeded: at most a
    # quarter of the 64 elements per message may match (honest code: p < 1e-9).
    result = mpcnet.simulate(WIDE_PRODUCT, [None] * n, seed=4, record_views=True)
    bare = [out[0] for out in result.outputs]
    assert all(np.array_equal(out[1], GF256.mul(np.arange(WIDE, dtype=np.uint8), np.arange(WIDE, dtype=np.uint8)))
               for out in result.outputs)
    last = max(r.round for r in result.results[0].view)
    for j, res in enumerate(result.results):
        for rec in res.view:
            if rec.round == last:
                i = result.parties.index(rec.sender)
                assert i != j and int(np.sum(rec.value == bare[i])) <= WIDE // 4
