"""The replicated-ring fixed-point layers (mpcnet.mpc.fixedrep): matmul,
trunc, relu_trunc and argmax among three compute parties, mod 2^64.

* agreement with plaintext integers (hypothesis over shapes and values),
  and at the edges of the declared range (0, -1, +-(2^(k-1) - 1), -2^(k-1));
* argmax takes the first of equal values, by pairs and by the tournament;
* input-only parties pass through every function without a round and
  receive what is opened to them;
* rounds as the module docstring states them, the same for 1 and 40 values;
* what a compute party receives does not depend on y (seeded statistical
  check of its received bits);
* SecretFixed picks this engine at three compute parties (auto), not with
  engine="shamir".
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import Context, mpc, protocol
from mpcnet.mpc import fixedrep as fr
from mpcnet.mpc.replicated import RING, Pair

from helpers import argmax_ints as _argmax
from helpers import biased_bits, collect_views, different_bits, outcomes, rounds_of
from helpers import floor_ints as _floor
from helpers import relu_ints as _relu

# --- the layers on random small products --------------------------------------------------

@protocol("test-fr-layers", min_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("shape", str, "1,1,1", "b,n,m"), mpcnet.Param("f", int, 8, "f"),
                  mpcnet.Param("k", int, 40, "k"),
                  mpcnet.Param("compute", int, 0, "the last 3 parties compute (0: all)")))
async def layers(ctx: Context, value: Any, *, shape: str, f: int, k: int, compute: int) -> dict[str, Any]:
    """p0's x (b, n) times p1's w (n, m), then each layer function, every result opened to all."""
    b, n, m = (int(v) for v in shape.split(","))
    comp = ctx.parties if compute == 0 else ctx.parties[-3:]
    rt = mpc.Runtime(ctx, compute=comp)
    mine = None if value is None else np.asarray(value, dtype=np.int64)
    got = await fr.input_rep(rt, {"p0": (b, n), "p1": (n, m)}, mine, {"p0": 1 << 23, "p1": 1 << 23})
    bound = (-(1 << (k - 1)), (1 << (k - 1)) - 1)
    rounds: dict[str, int] = {}

    async def timed(name: str, coro: Any) -> Any:
        out, rounds[name] = await rounds_of(ctx, coro)
        return out

    y = await timed("matmul", fr.matmul(got["p0"], got["p1"], *bound))
    results = {"y": y, "trunc": await timed("trunc", fr.trunc(y, f, k)),
               "relu": await timed("relu", fr.relu_trunc(y, f, k))}
    idx = await timed("argmax", fr.argmax(y, k))
    out: dict[str, Any] = {"rounds": rounds}
    for name, v in results.items():
        opened = await v.open()
        out[name] = opened.reshape(b, m).tolist()
        out[name + "_range"] = [v.lo, v.hi]
    out["argmax"] = (await idx.open(shape=(b,))).tolist()
    return out


def _inputs(data: Any, b: int, n: int, m: int, bits: int) -> tuple[list[Any], list[Any]]:
    edge = st.sampled_from([0, 1, -1, (1 << bits) - 1, -(1 << bits)])
    ints = st.integers(-(1 << bits), (1 << bits) - 1) | edge
    x = data.draw(st.lists(st.lists(ints, min_size=n, max_size=n), min_size=b, max_size=b))
    w = data.draw(st.lists(st.lists(ints, min_size=m, max_size=m), min_size=n, max_size=n))
    return x, w


@given(data=st.data())
# (no shrinking: a failing example is printed as drawn)
@settings(max_examples=10, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
def test_the_layers_agree_with_plaintext(data):
    b, n, m = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 5))
    f = data.draw(st.sampled_from([1, 8, 16]))
    k = 40
    x, w = _inputs(data, b, n, m, 17)  # |y| <= 5 * 2^34 < 2^39
    y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
    res = mpcnet.simulate("test-fr-layers", [x, w, None], params={"shape": f"{b},{n},{m}", "f": f, "k": k},
                          seed=data.draw(st.integers(0, 1000)))
    for out in res.outputs:
        assert out["y"] == y
        assert out["trunc"] == _floor(y, f)
        assert out["relu"] == _relu(y, f)
        assert out["argmax"] == _argmax(y)
        assert out["trunc_range"] == [-(1 << (k - 1 - f)), (1 << (k - 1 - f)) - 1]
        assert out["relu_range"] == [0, (1 << (k - 1 - f)) - 1]


# --- the edges of the range ------------------------------------------------------------------

@protocol("test-fr-edges", min_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("length", int, 1, "values"), mpcnet.Param("f", int, 8, "f"),
                  mpcnet.Param("k", int, 40, "k")))
async def edges(ctx: Context, value: Any, *, length: int, f: int, k: int) -> dict[str, Any]:
    """p0's y (k-bit signed) as input, and as a product (times p1's secret 1)."""
    rt = mpc.Runtime(ctx)
    top = (1 << (k - 1)) - 1
    ys = None if ctx.me != "p0" else np.asarray(value, dtype=np.int64).reshape(length, 1)
    y = (await fr.input_rep(rt, {"p0": (length, 1)}, ys, {"p0": top + 1}))["p0"]
    one = (await fr.input_rep(rt, {"p1": (1, 1)}, np.ones((1, 1), np.int64) if ctx.me == "p1" else None,
                              {"p1": 1}))["p1"]
    prod = await fr.matmul(y, one, -top - 1, top)
    out: dict[str, Any] = {}
    for name, v in (("in", y.reshape(length)), ("prod", prod.reshape(length))):
        out["trunc_" + name] = (await (await fr.trunc(v, f, k)).reveal()).tolist()
        out["relu_" + name] = (await (await fr.relu_trunc(v, f, k)).reveal()).tolist()
        out["argmax_" + name] = int(await (await fr.argmax(v, k)).reveal())
    return out


@pytest.mark.parametrize("f, k", [(1, 3), (0, 8), (8, 40), (16, 63), (16, 64), (62, 64)])
def test_the_edges_of_the_range(f, k):
    top = (1 << (k - 1)) - 1
    ys = sorted({0, -1, 1, top, -top, -top - 1, (1 << f) - 1, 1 << f, -(1 << f), -(1 << f) - 1,
                 top - (1 << f), -top + (1 << f)})
    ys = [v for v in ys if -top - 1 <= v <= top]
    res = mpcnet.simulate("test-fr-edges", [ys, None, None], params={"length": len(ys), "f": f, "k": k}, seed=11)
    for out in res.outputs:
        assert out["trunc_in"] == out["trunc_prod"] == _floor(ys, f)
        assert out["relu_in"] == out["relu_prod"] == _relu(ys, f)
        assert out["argmax_in"] == out["argmax_prod"] == ys.index(max(ys))


@pytest.mark.parametrize("pairs_max", [fr.ALL_PAIRS_MAX, 2])
def test_argmax_takes_the_first_of_equal_values(pairs_max, monkeypatch):
    monkeypatch.setattr(fr, "ALL_PAIRS_MAX", pairs_max)  # (2: the tournament beyond)
    k = 12
    for ys in ([5, 5], [-2048, 2047, 2047, -1], [-2048] * 5, [7], [3, -1, 9, 9, 0, 9, 2], [0, -1, 0]):
        res = mpcnet.simulate("test-fr-edges", [ys, None, None], params={"length": len(ys), "f": 2, "k": k},
                              seed=3)
        assert res.outputs[0]["argmax_in"] == res.outputs[0]["argmax_prod"] == ys.index(max(ys))


# --- input-only parties -------------------------------------------------------------------------

def test_input_only_parties_pass_through_without_a_round():
    # p0 (x) and p1 (w) only give input: p2, p3, p4 compute
    x, w = [[3, -4], [100, 7]], [[1, -2, 3], [5, 0, -7]]
    y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
    res = mpcnet.simulate("test-fr-layers", [x, w, None, None, None],
                          params={"shape": "2,2,3", "f": 2, "k": 20, "compute": 3}, seed=1)
    for i, out in enumerate(res.outputs):
        assert out["y"] == y and out["trunc"] == _floor(y, 2)
        assert out["relu"] == _relu(y, 2) and out["argmax"] == _argmax(y)
        if i < 2:
            assert set(out["rounds"].values()) == {0}  # not one round inside the layer functions
        else:
            assert min(out["rounds"].values()) > 0


# --- rounds -----------------------------------------------------------------------------------------

def _expected_rounds(f: int, k: int, n: int) -> dict[str, int]:
    """The module docstring's table."""
    log2 = lambda v: math.ceil(math.log2(v)) if v > 1 else 0  # noqa: E731
    bits = 2 + log2(k)
    tree = 0 if n <= 2 else 1 if n - 1 <= fr.LOOKUP_BITS else 2  # (ALL_PAIRS_MAX - 1 <= LOOKUP_BITS^2)
    argmax = (1 + fr._carry_rounds([-(-k // fr.CMP_BLOCK)]) + tree if n <= fr.ALL_PAIRS_MAX
              else bits + log2(n) * (2 + log2(k)))
    blocks = len(fr._blocks(f, k))
    # one round from party 0, the carries by lookups, the products, the reshare
    dealt = 3 + fr._carry_rounds([-(-f // fr.CMP_BLOCK), blocks - 1, blocks]) if k <= 63 else None
    return {"matmul": 1, "trunc": dealt or bits + 2, "relu": dealt or bits + 3, "argmax": argmax}


@pytest.mark.parametrize("pairs_max", [fr.ALL_PAIRS_MAX, 4])
def test_rounds_are_the_stated_ones_whatever_the_batch(pairs_max, monkeypatch):
    monkeypatch.setattr(fr, "ALL_PAIRS_MAX", pairs_max)  # (4: the tournament beyond)
    f, k, n, m = 16, 40, 3, 10
    seen = []
    for b in (1, 40):
        x = [[(i * 7 + j) % 50 - 25 for j in range(n)] for i in range(b)]
        w = [[(i * 3 + j) % 9 - 4 for j in range(m)] for i in range(n)]
        res = mpcnet.simulate("test-fr-layers", [x, w, None], params={"shape": f"{b},{n},{m}", "f": f, "k": k},
                              seed=2)
        seen.append(res.outputs[0]["rounds"])
        y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
        assert res.outputs[-1]["relu"] == _relu(y, f) and res.outputs[-1]["argmax"] == _argmax(y)
    assert seen[0] == seen[1] == _expected_rounds(f, k, m)
    if pairs_max > m:
        assert _expected_rounds(16, 49, 10) == {"matmul": 1, "trunc": 5, "relu": 5, "argmax": 4}


def test_a_batch_too_big_for_one_dealt_message_takes_the_bit_planes(monkeypatch):
    """Party 0's one dealt message grows with the batch: past DEALT_MAX_WORDS (set low here) every
    party takes the bit-plane path instead (its rounds, the same results), decided from public shapes."""
    monkeypatch.setattr(fr, "DEALT_MAX_WORDS", 2000)
    f, k, n, m = 16, 40, 3, 10
    log2 = lambda v: math.ceil(math.log2(v))  # noqa: E731
    for b, want in ((1, _expected_rounds(f, k, m)),
                    (40, {"matmul": 1, "trunc": 2 + log2(k) + 2, "relu": 2 + log2(k) + 3,
                          "argmax": 2 + log2(k) + log2(m) * (2 + log2(k))})):
        x = [[(i * 7 + j) % 50 - 25 for j in range(n)] for i in range(b)]
        w = [[(i * 3 + j) % 9 - 4 for j in range(m)] for i in range(n)]
        res = mpcnet.simulate("test-fr-layers", [x, w, None], params={"shape": f"{b},{n},{m}", "f": f, "k": k},
                              seed=3)
        y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
        for out in res.outputs:
            assert out["trunc"] == _floor(y, f) and out["relu"] == _relu(y, f) and out["argmax"] == _argmax(y)
        assert res.outputs[0]["rounds"] == want


# --- what a compute party receives ----------------------------------------------------------------

@protocol("test-fr-view", min_parties=3, max_parties=3, security="test", reveals="test", input="list",
          output="int")
async def view_proto(ctx: Context, value: Any) -> int:
    """p0's y (8 values of 20 bits): trunc, relu and argmax, the results kept secret."""
    rt = mpc.Runtime(ctx)
    mine = None if value is None else np.asarray(value, dtype=np.int64)
    y = (await fr.input_rep(rt, {"p0": (2, 4)}, mine, {"p0": 1 << 19}))["p0"]
    await fr.trunc(y, 6, 20)
    await fr.relu_trunc(y, 6, 20)
    await fr.argmax(y, 20)
    return 0


Y_LOW = [[[-(1 << 19)] * 4] * 2, None, None]
Y_HIGH = [[[(1 << 19) - 1, 5, -3, 0], [7, 7, 7, -1]], None, None]
RUNS = 80
ALPHA = 1e-6


def test_what_a_compute_party_receives_does_not_depend_on_y():
    views_a = collect_views("test-fr-view", Y_LOW, {}, [1, 2], range(RUNS))
    views_b = collect_views("test-fr-view", Y_HIGH, {}, [1, 2], range(5000, 5000 + RUNS))
    for party in (1, 2):  # the compute parties other than y's owner
        (layout_a, a), (layout_b, b) = views_a[party], views_b[party]
        assert layout_a == layout_b  # (message sizes and shapes do not depend on y either)
        assert a.shape[1] > 5000
        assert len(different_bits(a, b, ALPHA)) == 0
        # every word received here is masked by a key this party lacks: each bit a fair coin, whatever y (a
        # per-bit law the same for both y's would not see an unmasked injection word: this does)
        assert len(biased_bits(a, ALPHA)) == 0 and len(biased_bits(b, ALPHA)) == 0


def test_party_1_cannot_undo_the_dealt_inner_product(monkeypatch):
    """Party 1 knows alpha (its key with party 0) and receives d = b' - beta and gamma_1: alpha d + gamma_1
    is alpha b' - gamma_2, uniform for gamma_2 of a key it lacks. Had party 0 dealt gamma_1 = alpha beta
    (and party 2 taken gamma_2 = 0: the results stay right), party 1 would read alpha b', a combination of
    party 2's shares of the carries and the sign, whose low bits are far from fair coins: this test fails."""
    seen: list[np.ndarray] = []
    real = fr._inner_product

    async def spy(rt: Any, peer: str, mono: Any, mask: Any, part: Any, first: bool) -> Any:
        out = await real(rt, peer, mono, mask, part, first)
        if first:
            seen.append((mask * out[1]).sum(axis=1, dtype=np.uint64) + part)
        return out

    monkeypatch.setattr(fr, "_inner_product", spy)
    for seed in range(RUNS):
        mpcnet.simulate("test-fr-view", Y_HIGH, seed=seed)
    words = np.concatenate(seen)  # trunc and relu_trunc, every value, every run
    bits = ((words[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)
    assert bits.shape[0] >= 1000 and len(biased_bits(bits, ALPHA)) == 0


# --- the toolkit's choice -----------------------------------------------------------------------

@protocol("test-fr-choice", min_parties=3, security="test", reveals="test", input="list", output="str",
          params=(mpcnet.Param("engine", str, "auto", "engine"),))
async def choice(ctx: Context, value: Any, *, engine: str) -> str:
    rt = mpc.Runtime(ctx, engine=engine)
    got = await rt.input_fixed({"p0": (2,)}, value, bound=4.0, frac=8)
    return type(got["p0"].value).__name__


def test_secret_fixed_takes_the_ring_at_three_parties_only():
    inputs = [[1.5, -2.0], None, None]
    assert mpcnet.simulate("test-fr-choice", inputs).outputs[0] == "RepRing"
    assert mpcnet.simulate("test-fr-choice", inputs, params={"engine": "shamir"}).outputs[0] == "SecretInt"
    assert mpcnet.simulate("test-fr-choice", [*inputs, None, None]).outputs[0] == "SecretInt"


# --- refusals ------------------------------------------------------------------------------------------

@protocol("test-fr-refusals", min_parties=3, max_parties=3, security="test", reveals="test", input="null",
          output="list")
async def refusals(ctx: Context, value: Any) -> list[str]:
    rt = mpc.Runtime(ctx)
    eng = rt.replicated_engine
    x = fr.RepRing(rt, eng.public(np.ones((1, 2), np.uint64), RING), 0, 1)
    w = fr.RepRing(rt, eng.public(np.ones((2, 1), np.uint64), RING), 0, 1)
    return await outcomes((lambda: fr.matmul(x, w, 1, 0), lambda: fr.matmul(x, x, 0, 9), lambda: fr.trunc(x, 9, 10),
                           lambda: fr.relu_trunc(x, 4, 65), lambda: fr.argmax(x, 1)))


def test_bad_shapes_and_widths_are_refused_before_any_round():
    res = mpcnet.simulate("test-fr-refusals", [None] * 3)
    assert res.outputs[0] == ["LocalProtocolViolation"] * 2 + ["ConfigError"] * 3
    assert res.stats[0].rounds == 0


# --- mlp-predict's format beyond the ring ------------------------------------------------------------

def test_mlp_predict_at_three_takes_the_field_when_the_format_needs_more_than_64_bits():
    from protocols.mlp import check_model, fixed_scores

    rng = np.random.default_rng(5)  # seeded: test data only
    model = {"weights": [rng.uniform(-1, 1, (3, 4)).tolist(), rng.uniform(-1, 1, (2, 3)).tolist()],
             "biases": [rng.uniform(-1, 1, 3).tolist(), rng.uniform(-1, 1, 2).tolist()]}
    queries = rng.uniform(-1, 1, (3, 4)).tolist()
    params = {"range_bits": 33}  # 2 * 16 + 33 + 2 = 67 bits
    y = fixed_scores(check_model(model, frac=16, input_bound=1.0, range_bits=33), np.asarray(queries), 16)
    want = [max(range(len(r)), key=lambda i: (r[i], -i)) for r in y]
    assert mpcnet.simulate("mlp-predict", [model, queries, None], params=params).outputs[1] == want
    with pytest.raises(mpcnet.InputError, match="engine=replicated"):
        mpcnet.simulate("mlp-predict", [model, queries, None], params={**params, "engine": "replicated"})


@protocol("test-fr-open-blame", min_parties=4, security="test", reveals="test", input="any", output="any")
async def open_blame(ctx: Context, value: Any) -> Any:
    """p1, p2, p3 compute, p0 only receives; p1 (the first compute party) sends a share of the wrong shape."""
    rt = mpc.Runtime(ctx, compute=ctx.parties[1:])
    y = (await fr.input_rep(rt, {"p1": (4,)}, None if value is None else np.arange(4), {"p1": 100}))["p1"]
    if ctx.me == "p1":
        y = fr.RepRing(rt, Pair(y.shares.first[:3], y.shares.second[:3]), y.lo, y.hi)
    try:
        out = await y.open(to=["p0"])
    except mpcnet.MPCError as exc:
        return f"{type(exc).__name__}:{exc.peer}"
    return None if out is None else out.tolist()


def test_an_outside_receiver_names_the_compute_party_whose_share_has_the_odd_shape():
    res = mpcnet.simulate("test-fr-open-blame", [None, [1], None, None], seed=1)
    assert res.outputs[0] == "RemoteProtocolViolation:p1"
