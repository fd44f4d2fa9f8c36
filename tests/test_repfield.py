"""SecretInt on the three-party replicated engine (mpcnet.mpc.repfield):

* the toolkit picks it with ``engine="auto"`` at exactly three compute parties;
* every SecretInt operation, and vote (invalid ballots too), referendum and
  stats, give the Shamir engine's results on the same inputs (hypothesis);
* a product costs each party one element to one neighbour, in one round
  whatever the batch; random values cost no message;
* what a party receives does not depend on the others' inputs (seeded A/B
  test) and every bit of it is a fair coin;
* the pseudo-random zero-sharings sum to zero, are keyed per session, label
  and use, and field elements come from the keystream without bias.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import Context, LocalProtocolViolation, mpc, protocol
from mpcnet.mpc.fields import GF256, P127
from mpcnet.mpc.repfield import ReplicatedFieldEngine, field_from_words
from mpcnet.mpc.replicated import PairwisePRG
from mpcnet.mpc.shamir import ShamirEngine

from helpers import auto_is_shamir, biased_bits, collect_views, different_bits

ENGINES = ("shamir", "replicated")


def _on(engine: str) -> contextlib.AbstractContextManager[None]:
    """Run the toolkit's auto choice as ``engine`` (replicated is its own choice at three)."""
    return auto_is_shamir() if engine == "shamir" else contextlib.nullcontext()


# --- the choice ------------------------------------------------------------------------

@protocol("test-repfield-which", min_parties=3, security="test", reveals="test", input="null", output="list")
async def which(ctx: Context, value: Any) -> list[str]:
    out = []
    for engine in ("auto", "shamir"):
        rt = mpc.Runtime(ctx, compute=ctx.parties[:3], engine=engine)
        out += [type(rt.field_engine).__name__, type(rt.bit_engine).__name__]
    rt = mpc.Runtime(ctx)
    out.append(type(rt.field_engine).__name__)
    return out


@pytest.mark.parametrize("n", [3, 5])
def test_auto_takes_the_replicated_field_engine_at_three_compute_parties_only(n):
    out = mpcnet.simulate("test-repfield-which", [None] * n).outputs[0]
    assert out[:4] == ["ReplicatedFieldEngine"] * 2 + ["ShamirEngine"] * 2
    assert out[4] == ("ReplicatedFieldEngine" if n == 3 else "ShamirEngine")
    assert issubclass(ReplicatedFieldEngine, ShamirEngine)


# --- same results as the Shamir engine -----------------------------------------------------

@protocol("test-repfield-ops", min_parties=3, max_parties=3, security="test", reveals="test", input="list",
          output="dict", params=(mpcnet.Param("engine", str, "auto", "engine"),
                                 mpcnet.Param("length", int, 1, "m")))
async def ops(ctx: Context, value: Any, *, engine: str, length: int) -> dict[str, Any]:
    """p0's x and p1's y (signed 32-bit): products, a sum of products opened
    wide, comparisons, select, bits, a random value's difference with itself."""
    rt = mpc.Runtime(ctx, engine=engine)
    got = await rt.input_int({"p0": (length,), "p1": (length,)}, value, bits=32, signed=True)
    x, y = got["p0"], got["p1"]
    out: dict[str, Any] = {}
    before = ctx.round
    out["mul"] = (await (await x.mul(y)).reveal()).tolist()
    out["mul_rounds"] = ctx.round - before
    out["dot"] = int((await x.mul_wide(y).sum().reveal()).reshape(()))
    out["lt"] = (await (await x.lt(y)).reveal()).tolist()
    out["eq"] = (await (await x.eq(y)).reveal()).tolist()
    low = await (await x.lt(y)).select(x, y)
    out["min"] = (await low.reveal()).tolist()
    bits = await (x + 2**31).with_range(0, 2**32 - 1).to_bits()
    out["bits"] = np.asarray(await bits.open()).tolist()
    r = await rt.random_int((length,))
    out["r_zero"] = (await (r - r).reveal()).tolist()
    out["r_sq_minus"] = (await ((await r.mul(r)) - r.mul_wide(r)).reveal()).tolist()
    return out


@given(data=st.data(), length=st.integers(1, 4))
@settings(max_examples=12, deadline=None)
def test_secret_int_operations_give_the_shamir_engines_results(data, length):
    ints = st.integers(-(2**31), 2**31 - 1) | st.integers(-3, 3)
    xs = data.draw(st.lists(ints, min_size=length, max_size=length))
    ys = data.draw(st.lists(ints, min_size=length, max_size=length))
    res = {e: mpcnet.simulate("test-repfield-ops", [xs, ys, None], params={"engine": e, "length": length}, seed=5)
           for e in ENGINES}
    rep, sha = res["replicated"].outputs, res["shamir"].outputs
    assert rep[0]["mul_rounds"] == sha[0]["mul_rounds"] == 2  # the product and its opening
    for out in rep + sha:
        assert out["mul"] == [a * b for a, b in zip(xs, ys, strict=True)]
        assert out["dot"] == sum(a * b for a, b in zip(xs, ys, strict=True))
        assert out["lt"] == [int(a < b) for a, b in zip(xs, ys, strict=True)]
        assert out["eq"] == [int(a == b) for a, b in zip(xs, ys, strict=True)]
        assert out["min"] == [min(a, b) for a, b in zip(xs, ys, strict=True)]
        assert out["bits"] == [a + 2**31 for a in xs]  # (its 32 bits, opened as the unsigned value)
        assert out["r_zero"] == out["r_sq_minus"] == [0] * length
    assert rep == sha  # (every value above, on both engines)


@given(st.integers(2, 5).flatmap(lambda k: st.tuples(
    st.just(k), st.lists(st.integers(0, k - 1) | st.lists(st.integers(0, 2), min_size=k, max_size=k)
                         | st.just([P127.p - 1] + [1] * (k - 1)), min_size=3, max_size=7))),
    st.sampled_from([0, 3]))
@settings(max_examples=15, deadline=None)
def test_vote_gives_the_same_results_on_both_engines_invalid_ballots_too(case, compute_parties):
    options, votes = case
    inputs = [None] * compute_parties + (votes if compute_parties else votes[:3])  # (0: three voters compute)
    params = {"options": options, "details": True, "compute_parties": compute_parties}
    results = {}
    for engine in ENGINES:
        with _on(engine):
            results[engine] = mpcnet.simulate("vote", inputs, params=params, seed=7).outputs
    voters = inputs[compute_parties:]
    valid = [v for v in voters if isinstance(v, int) or (sorted(v) == [0] * (options - 1) + [1])]
    counts = [sum(1 for v in valid if (v == i if isinstance(v, int) else v[i] == 1)) for i in range(options)]
    assert results["replicated"] == results["shamir"]
    assert results["replicated"][0]["counts"] == counts


@given(st.lists(st.booleans(), min_size=3, max_size=3), st.integers(-1, 4), st.sampled_from([0, 3]),
       st.lists(st.booleans(), min_size=0, max_size=4))
@settings(max_examples=15, deadline=None)
def test_referendum_gives_the_same_decision_on_both_engines(ballots, threshold, compute_parties, more):
    inputs = [None] * 3 + ballots + more if compute_parties else ballots
    votes = inputs[compute_parties:]
    results = {}
    for engine in ENGINES:
        with _on(engine):
            results[engine] = mpcnet.simulate("referendum", inputs, params={"threshold": threshold,
                                                                             "compute_parties": compute_parties},
                                              seed=2).outputs
    t = (len(votes) + 1) // 2 if threshold < 0 else threshold
    assert results["replicated"] == results["shamir"] == ("YES" if sum(votes) >= t else "NO",) * len(inputs)


@given(data=st.data(), helpers=st.sampled_from([0, 3]), bits=st.sampled_from([8, 32]))
@settings(max_examples=12, deadline=None)
def test_stats_give_the_same_results_on_both_engines(data, helpers, bits):
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    n = 3 if helpers == 0 else data.draw(st.integers(2, 5))
    xs = data.draw(st.lists(st.integers(lo, hi) | st.integers(-2, 2), min_size=n, max_size=n))
    params = {"which": "min,max,median,mean", "compute_parties": helpers, "bits": bits}
    results = {}
    for engine in ENGINES:
        with _on(engine):
            results[engine] = mpcnet.simulate("stats", [None] * helpers + xs, params=params, seed=4).outputs
    s = sorted(xs)
    assert results["replicated"] == results["shamir"]
    assert results["replicated"][0] == {"min": s[0], "max": s[-1], "median": s[(n - 1) // 2], "mean": sum(xs) / n}


def test_dp_protocols_run_on_the_replicated_engine():
    res = mpcnet.simulate("dp-sum", [1, 9, 4], params={"lower": 0, "upper": 10, "epsilon": 100}, seed=3)
    assert len(set(res.outputs)) == 1 and abs(res.outputs[0] - 14) <= 3  # (noise of scale 10/100)
    res = mpcnet.simulate("dp-vote", [0, 2, 2], params={"options": 3, "epsilon": 100}, seed=3)
    assert len(set(map(tuple, res.outputs))) == 1


# --- costs ------------------------------------------------------------------------------

@protocol("test-repfield-mul", min_parties=3, max_parties=3, security="test", reveals="test", input="null",
          output="list", params=(mpcnet.Param("engine", str, "auto", "engine"), mpcnet.Param("length", int, 1, "m")))
async def mul_only(ctx: Context, value: Any, *, engine: str, length: int) -> list[int]:
    rt = mpc.Runtime(ctx, engine=engine)
    a, b = await rt.random_int((length,)), await rt.random_int((length,))
    rounds = ctx.round
    await a.mul(b)
    return [rounds, ctx.round - rounds]


@pytest.mark.parametrize("m", [1, 100, 3000])
def test_a_product_sends_one_element_to_one_neighbour_and_random_values_nothing(m):
    rep = mpcnet.simulate("test-repfield-mul", [None] * 3, params={"engine": "replicated", "length": m}, seed=1)
    sha = mpcnet.simulate("test-repfield-mul", [None] * 3, params={"engine": "shamir", "length": m}, seed=1)
    for s, out in zip(rep.stats, rep.outputs, strict=True):
        assert out == [0, 1]  # no round for the two random values, one for the product
        assert s.rounds == 1 and s.messages_sent == 1
        assert 16 * m <= s.bytes_sent <= 16 * m + 100  # one element (two 64-bit limbs) per product
    for s, out in zip(sha.stats, sha.outputs, strict=True):
        assert out == [2, 1]
        assert s.rounds == 3
    # Shamir's reduction sends one element to each of the two others
    assert sum(s.bytes_sent for s in rep.stats) < 0.3 * sum(s.bytes_sent for s in sha.stats) + 600


# --- views -------------------------------------------------------------------------------

@protocol("test-repfield-view", min_parties=3, max_parties=3, security="test", reveals="test", input="list",
          output="int")
async def view_proto(ctx: Context, value: Any) -> int:
    """x (p0) times y (p1), elementwise (kept secret), and their inner product opened wide."""
    rt = mpc.Runtime(ctx)
    got = await rt.input_int({"p0": (3,), "p1": (3,)}, value, bits=8)
    x, y = got["p0"], got["p1"]
    await x.mul(y)
    return int((await x.mul_wide(y).sum().reveal()).reshape(()))


A = [[1, 2, 3], [4, 5, 6], None]  # inner product 32 in every case below
B_FOR = {2: [[2, 0, 5], [1, 7, 6], None], 0: [[1, 2, 3], [6, 4, 6], None], 1: [[8, 0, 0], [4, 5, 6], None]}
RUNS = 100
ALPHA = 1e-6


def _top_bits(layout: tuple[str, ...]) -> np.ndarray:
    """Bit 127 of every Z_(2^127-1) element in a view (always 0)."""
    out, offset = [], 0
    for part in layout:
        match = re.fullmatch(r"<u8\((.*)\)", part)
        if match is None:
            assert part.startswith("r") or part in ("None",) or part.startswith("list"), part
            continue
        shape = tuple(int(v) for v in match[1].split(",") if v.strip())
        assert shape[0] == 2  # two limbs
        per_limb = int(np.prod(shape[1:])) * 64
        out += range(offset + per_limb + 63, offset + 2 * per_limb, 64)
        offset += 2 * per_limb
    return np.array(out, dtype=np.int64)


@pytest.mark.parametrize("observer", [0, 1, 2])
def test_what_a_party_receives_does_not_depend_on_the_others_inputs(observer):
    assert mpcnet.simulate("test-repfield-view", A).outputs == (32,) * 3
    assert mpcnet.simulate("test-repfield-view", B_FOR[observer]).outputs == (32,) * 3
    (layout_a, a), = collect_views("test-repfield-view", A, {}, [observer], range(RUNS)).values()
    (layout_b, b), = collect_views("test-repfield-view", B_FOR[observer], {}, [observer],
                                   range(1000, 1000 + RUNS)).values()
    assert layout_a == layout_b
    # input shares (from the others), the product round's one element, the wide opening's two terms
    rounds = sorted({int(p[1:].split(":")[0]) for p in layout_a if p.startswith("r")})
    assert rounds == [1, 2, 3]
    assert len(different_bits(a, b, ALPHA)) == 0
    top = _top_bits(layout_a)
    assert not a[:, top].any() and not b[:, top].any()
    coins = np.setdiff1d(np.arange(a.shape[1]), top)
    assert len(biased_bits(np.concatenate([a, b])[:, coins], ALPHA)) == 0


def _unmasked_product_seen(seed: int) -> tuple[bool, bool]:
    """Whether p2's view of a run on inputs A holds p0's terms unmasked, in
    the product round and in the wide opening of the inner product: p2
    receives its shares x(3), y(3) of x and y in round 1 and, knowing the
    inputs A, solves for the polynomials, so it can check the element p0
    sends it in round 2 against l_0 x(1) y(1), and its term in round 3
    against l_0 sum x(1) y(1)."""
    view = mpcnet.simulate("test-repfield-view", A, seed=seed, record_views=True).results[2].view
    got = {(r.round, r.sender): r.value for r in view}
    x3, y3, z0 = (P127.from_wire(got[k], (3,), "p") for k in ((1, "p0"), (1, "p1"), (2, "p0")))
    opened = int(P127.from_wire(got[(3, "p0")], (), "p0"))
    third = pow(3, -1, P127.p)
    x1 = [(x + (int(s) - x) * third) % P127.p for x, s in zip(A[0], x3, strict=True)]  # f(1) = x + (f(3) - x)/3
    y1 = [(y + (int(s) - y) * third) % P127.p for y, s in zip(A[1], y3, strict=True)]
    terms = [3 * a * b % P127.p for a, b in zip(x1, y1, strict=True)]
    return terms == [int(v) for v in z0], sum(terms) % P127.p == opened


def test_the_product_round_and_wide_opening_terms_are_masked():
    # A Shamir share's local product is close to uniform bit by bit, so the
    # A/B test above would not see a missing zero-sharing; this distinguisher
    # (which knows the inputs) does: it never fires on the engine and always
    # on the mutant that leaves the zero-sharing out of the product round.
    assert not any(any(_unmasked_product_seen(seed)) for seed in range(20))
    zero = ReplicatedFieldEngine.zero_share
    try:
        ReplicatedFieldEngine.zero_share = lambda self, count: (zero(self, count), self.field.zeros(count))[1]
        assert all(all(_unmasked_product_seen(seed)) for seed in range(5))
    finally:
        ReplicatedFieldEngine.zero_share = zero


# --- zero-sharings and the keystream ----------------------------------------------------------

@protocol("test-repfield-zero", min_parties=3, max_parties=3, security="test", reveals="test", input="null",
          output="dict", params=(mpcnet.Param("label", str, "z", "label"),))
async def zero_proto(ctx: Context, value: Any, *, label: str) -> dict[str, Any]:
    eng = ReplicatedFieldEngine(ctx, P127, label=label)
    bits = ReplicatedFieldEngine(ctx, GF256, label=label + "/bits")
    out: dict[str, Any] = {"p": [eng.zero_share(500) for _ in range(2)], "gf": bits.zero_share(500),
                           "other": ReplicatedFieldEngine(ctx, P127, label=label + "-other").zero_share(500)}
    try:
        ReplicatedFieldEngine(ctx, P127, label=label)
    except LocalProtocolViolation as exc:
        out["again"] = str(exc)
    return out


def test_zero_sharings_sum_to_zero_and_are_fresh_per_use_label_and_session():
    a = mpcnet.simulate("test-repfield-zero", [None] * 3).outputs
    b = mpcnet.simulate("test-repfield-zero", [None] * 3).outputs
    for key in ("other",):
        assert not any(P127.sum(np.stack([o[key] for o in a]), axis=0))
    for use in range(2):
        assert not any(P127.sum(np.stack([o["p"][use] for o in a]), axis=0))
    assert not np.any(a[0]["gf"] ^ a[1]["gf"] ^ a[2]["gf"])
    assert np.count_nonzero(a[0]["gf"]) > 450
    for i in range(3):
        draws = [a[i]["p"][0], a[i]["p"][1], a[i]["other"], b[i]["p"][0]]
        for u in range(len(draws)):
            assert all(0 <= int(v) < P127.p for v in draws[u])
            for v in range(u):
                assert not np.any(draws[u] == draws[v]), (u, v)
    assert all("already used" in o["again"] for o in a)


class _StubPRG:
    """Words chosen by the test: the first draw is exactly p = 2^127 - 1."""

    def __init__(self, words: list[int]) -> None:
        self._words = np.array(words, dtype=np.uint64)

    def words(self, use: int, count: int) -> np.ndarray:
        assert count <= self._words.size
        return self._words[:count]


def test_field_elements_from_the_keystream_are_exact_and_reject_p():
    key = bytes(range(32))
    prg = PairwisePRG(key)
    w = prg.words(3, 20).reshape(10, 2)
    want = [int(lo) + ((int(hi) & (2**63 - 1)) << 64) for lo, hi in w]
    assert field_from_words(P127, prg, 3, 10).tolist() == want  # 127 bits of keystream per element
    assert field_from_words(GF256, prg, 3, 11).tolist() == list(prg.words(3, 2).view(np.uint8)[:11])
    stub = _StubPRG([2**64 - 1, 2**63 - 1, 5, 1 << 63 | 1, 7, 0] + [0] * 100)
    # p itself is skipped (its top bit cleared is still p), the next draw takes its place
    assert field_from_words(P127, stub, 0, 2).tolist() == [5 + (1 << 64), 7]
