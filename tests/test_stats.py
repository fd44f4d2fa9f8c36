"""stats: order statistics and the mean, against plaintext, with their round
counts, through the CLI, and with views that do not depend on who holds the
median."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import ConfigError, InputError

from helpers import collect_views, different_bits, run_cli

ALL = ("min", "max", "median", "mean")


def plain(xs: list[int], which: list[str]) -> dict[str, Any]:
    s = sorted(xs)
    stats = {"min": s[0], "max": s[-1], "median": s[(len(xs) - 1) // 2], "mean": sum(xs) / len(xs)}
    return {w: stats[w] for w in which}


@settings(max_examples=30, deadline=None)
@given(data=st.data(), n=st.integers(3, 9), helpers=st.sampled_from([0, 3]),
       which=st.lists(st.sampled_from(ALL), min_size=1, max_size=4, unique=True))
def test_stats_match_plaintext(data, n, helpers, which):
    # few distinct values make ties (duplicates) common; negatives included
    pool = data.draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=3))
    xs = data.draw(st.lists(st.sampled_from(pool) | st.integers(-5, 5), min_size=n, max_size=n))
    inputs: list[Any] = [None] * helpers + xs
    result = mpcnet.simulate("stats", inputs, params={"which": ",".join(which), "compute_parties": helpers})
    assert result.outputs == (plain(xs, which),) * len(inputs)
    assert all(list(out) == which for out in result.outputs)  # exactly the requested keys, in order


@pytest.mark.parametrize("bits, xs, rounds", [
    (64, [-(2**63), 2**63 - 1, 0, -(2**63), 5], 9),  # 16 blocks: 1 + 4 comparison rounds, 2 + 1 + 1
    (2, [1, -2, 1], 4),  # one 2-bit block: 1 + 0; then 1 + 1 + 1
    (1, [-1, 0, 0, -1], 5),
])
def test_extreme_bit_lengths(bits, xs, rounds):
    result = mpcnet.simulate("stats", xs, params={"bits": bits, "which": ",".join(ALL)})
    assert result.outputs == (plain(xs, list(ALL)),) * len(xs)
    assert result.stats[0].rounds == rounds


@pytest.mark.parametrize("n, rounds", [(3, 7), (4, 8), (5, 8), (6, 9), (9, 9)])
def test_round_counts(n, rounds):
    # input 1, comparisons 1 + ceil(log2 8) = 4 (32-bit one-hot), ranks'
    # indicators ceil(log2(n-1)), opening 1
    result = mpcnet.simulate("stats", list(range(n)), params={"which": "min,max,median,mean"})
    assert [s.rounds for s in result.stats] == [rounds] * n


def test_round_counts_with_input_only_parties_and_mean_alone():
    result = mpcnet.simulate("stats", [None] * 3 + [4, -2, 9, 9], params={"compute_parties": 3})
    assert result.outputs == ({"median": 4},) * 7
    assert [s.rounds for s in result.stats] == [8] * 3 + [2] * 4  # input-only: input and result rounds
    mean = mpcnet.simulate("stats", [1, 2, 4], params={"which": "mean"})
    assert mean.outputs == ({"mean": 7 / 3},) * 3
    assert [s.rounds for s in mean.stats] == [2] * 3  # no comparison: input, opening


def test_cli_json(tmp_path):
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps([3800, 2514, 2982, 3390, -7, 2982]))
    proc = run_cli("simulate", "stats", "--inputs-json", str(inputs), "--param", "which=min,max,median,mean", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    want = {"min": -7, "max": 3800, "median": 2982, "mean": (3800 + 2514 + 2982 + 3390 - 7 + 2982) / 6}
    assert out["outputs"] == [want] * 6


@pytest.mark.parametrize("params, inputs, error, match", [
    ({"which": "median,mode"}, [1, 2, 3], ConfigError, "subset of min, max, median, mean"),
    ({"which": ""}, [1, 2, 3], ConfigError, "subset"),
    ({"compute_parties": 3}, [None, None, None, 5], ConfigError, "at least 2 input parties"),
    ({"bits": 8}, [1, 200, 3], InputError, "-128 <= x <= 127"),
    ({}, [1, True, 3], InputError, "integer"),
    ({"compute_parties": 3}, [None, 4, None, 5, 6], InputError, "compute-only party and must supply null"),
])
def test_bad_parameters_and_inputs_are_refused(params, inputs, error, match):
    with pytest.raises(error, match=match) as caught:
        mpcnet.simulate("stats", inputs, params=params)
    assert "200" not in str(caught.value)


# --- the view does not depend on who holds the median -------------------------------
#
# Five parties, every statistic asked. Under inputs A the median (30) is p2's;
# under B the other parties' inputs are permuted so that p1 (for observer p0)
# or p3 (for observer p4) holds it. The observer's own input and every output
# are the same. With the same seeds, every bit of every message the observer
# receives must have the same law under A and B: an exact permutation test per
# bit over RUNS seeded runs each, at family-wise level ALPHA (the team's view
# test, tests/helpers.py). Its power: a bit that is a function of who holds
# the median (a rank or indicator sent in the clear, say) is found with
# probability 1 (p = 6.2e-14 per bit for 24 runs); it cannot see a dependence
# that shows only jointly across several shares, which is what Shamir sharing
# rules out (any t shares are uniform).

RUNS = 24
ALPHA = 1e-6
PARAMS = {"which": "min,max,median,mean"}
A = [10, 50, 30, 20, 40]
B = {0: [10, 30, 50, 20, 40], 4: [10, 50, 20, 30, 40]}


@pytest.mark.parametrize("observer", sorted(B))
def test_a_view_does_not_depend_on_who_holds_the_median(observer):
    b = B[observer]
    assert b[observer] == A[observer] and sorted(b) == sorted(A) and b.index(30) != A.index(30)
    assert mpcnet.simulate("stats", b, params=PARAMS).outputs == mpcnet.simulate("stats", A, params=PARAMS).outputs
    layout_a, sample_a = collect_views("stats", A, PARAMS, [observer], range(RUNS))[observer]
    layout_b, sample_b = collect_views("stats", b, PARAMS, [observer], range(RUNS))[observer]
    assert layout_a == layout_b, "message sizes must not depend on the secrets"
    assert sample_a.shape[1] > 10_000
    assert list(different_bits(sample_a, sample_b, ALPHA)) == []
