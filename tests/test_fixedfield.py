"""The field fixed-point layers (mpcnet.mpc.fixedfield): matmul, trunc,
relu_trunc and argmax among three or more compute parties.

* agreement with plaintext integers (hypothesis over shapes and values),
  on the replicated engine (three parties, auto), on Shamir at three
  (engine="shamir") and at five (t = 2), wide (from matmul) and degree-t
  inputs, and at the edges of the declared range;
* input-only parties pass through every function without a round and
  receive what is opened to them;
* rounds as the module docstring states them, the same for 1 and 40 values;
* what a compute party receives in trunc does not depend on y (seeded
  statistical check of the received bits, and of the opened masked values).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import Context, mpc, protocol
from mpcnet.mpc import fixedfield as ff

from helpers import argmax_ints as _argmax
from helpers import collect_views, different_bits, outcomes, rounds_of
from helpers import floor_ints as _floor
from helpers import relu_ints as _relu

#: (parties, engine) for every path: the replicated field engine, Shamir at three and at five (t = 2)
PATHS = [(3, "auto"), (3, "shamir"), (5, "auto")]


# --- the layers on random small products --------------------------------------------------

@protocol("test-ff-layers", min_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("engine", str, "auto", "engine"), mpcnet.Param("shape", str, "1,1,1", "b,n,m"),
                  mpcnet.Param("f", int, 8, "f"), mpcnet.Param("k", int, 40, "k"),
                  mpcnet.Param("compute", int, 0, "the last c parties compute (0: all)")))
async def layers(ctx: Context, value: Any, *, engine: str, shape: str, f: int, k: int, compute: int) -> dict[str, Any]:
    """p0's x (b, n) times p1's w (n, m), then each layer function, every result opened to all."""
    b, n, m = (int(v) for v in shape.split(","))
    comp = ctx.parties if compute == 0 else ctx.parties[len(ctx.parties) - compute :]
    rt = mpc.Runtime(ctx, compute=comp, engine=engine)
    got = await rt.input_int({"p0": (b, n), "p1": (n, m)}, value, bits=24, signed=True)
    bound = (-(1 << (k - 1)), (1 << (k - 1)) - 1)
    rounds: dict[str, int] = {}

    async def timed(name: str, coro: Any) -> Any:
        out, rounds[name] = await rounds_of(ctx, coro)
        return out

    y = await timed("matmul", ff.matmul(got["p0"], got["p1"], *bound))
    out: dict[str, Any] = {"degree": y.degree if rt.is_compute else None}
    results = {"trunc": await timed("trunc", ff.trunc(y, f, k)),
               "relu": await timed("relu", ff.relu_trunc(y, f, k))}
    narrow = await y.reduce()
    results["trunc_t"] = await timed("trunc_t", ff.trunc(narrow, f, k))
    results["relu_t"] = await timed("relu_t", ff.relu_trunc(narrow, f, k))
    idx = await timed("argmax", ff.argmax(y, k))
    for name, v in results.items():
        out[name] = (await v.open(shape=(b, m))).tolist()
        out[name + "_range"] = [v.lo, v.hi]
    out["argmax"] = (await idx.open(shape=(b,))).tolist()
    out["rounds"] = rounds
    return out


def _inputs(data: Any, b: int, n: int, m: int, bits: int) -> tuple[list[Any], list[Any]]:
    edge = st.sampled_from([0, 1, -1, (1 << bits) - 1, -(1 << bits)])
    ints = st.integers(-(1 << bits), (1 << bits) - 1) | edge
    x = data.draw(st.lists(st.lists(ints, min_size=n, max_size=n), min_size=b, max_size=b))
    w = data.draw(st.lists(st.lists(ints, min_size=m, max_size=m), min_size=n, max_size=n))
    return x, w


@pytest.mark.parametrize("parties, engine", PATHS)
@given(data=st.data())
# (no shrinking: a failing example is printed as drawn; shrinking through hundreds of simulated runs took minutes)
@settings(max_examples=6, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate])
def test_the_layers_agree_with_plaintext(parties, engine, data):
    b, n, m = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    f = data.draw(st.sampled_from([1, 8, 16]))
    k = 40
    x, w = _inputs(data, b, n, m, 17)  # |y| <= 5 * 2^34 < 2^39
    y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
    res = mpcnet.simulate("test-ff-layers", [x, w] + [None] * (parties - 2),
                          params={"engine": engine, "shape": f"{b},{n},{m}", "f": f, "k": k}, seed=data.draw(
                              st.integers(0, 1000)))
    for out in res.outputs:
        assert out["trunc"] == out["trunc_t"] == _floor(y, f)
        assert out["relu"] == out["relu_t"] == _relu(y, f)
        assert out["argmax"] == _argmax(y)
        assert out["trunc_range"] == [-(1 << (k - 1 - f)), (1 << (k - 1 - f)) - 1]
        assert out["relu_range"] == [0, (1 << (k - 1 - f)) - 1]
    assert res.outputs[0]["degree"] == 2  # matmul's result is wide


# --- the edges of the range ------------------------------------------------------------------

@protocol("test-ff-edges", min_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("engine", str, "auto", "engine"), mpcnet.Param("length", int, 1, "values"),
                  mpcnet.Param("f", int, 8, "f"), mpcnet.Param("k", int, 40, "k")))
async def edges(ctx: Context, value: Any, *, engine: str, length: int, f: int, k: int) -> dict[str, Any]:
    """p0's y (k-bit signed), as a degree-t value and as a wide one (times a secret 1 from p1)."""
    rt = mpc.Runtime(ctx, engine=engine)
    y = (await rt.input_int({"p0": (length,)}, value if ctx.me == "p0" else None, bits=k, signed=True))["p0"]
    one = (await rt.input_int({"p1": ()}, 1 if ctx.me == "p1" else None, bits=2))["p1"]
    wide = y.mul_wide(one).with_range(-(1 << (k - 1)), (1 << (k - 1)) - 1)
    out: dict[str, Any] = {}
    for name, v in (("t", y), ("wide", wide)):
        out["trunc_" + name] = (await (await ff.trunc(v, f, k)).reveal()).tolist()
        out["relu_" + name] = (await (await ff.relu_trunc(v, f, k)).reveal()).tolist()
        out["argmax_" + name] = int(await (await ff.argmax(v, k)).reveal())
    return out


@pytest.mark.parametrize("parties, engine", PATHS)
@pytest.mark.parametrize("f, k", [(1, 3), (8, 40), (16, 66)])
def test_the_edges_of_the_range(parties, engine, f, k):
    top = (1 << (k - 1)) - 1
    ys = sorted({0, -1, 1, top, -top, -top - 1, (1 << f) - 1, 1 << f, -(1 << f), -(1 << f) - 1,
                 top - (1 << f), -top + (1 << f)})
    ys = [v for v in ys if -top - 1 <= v <= top]
    res = mpcnet.simulate("test-ff-edges", [ys, None] + [None] * (parties - 2),
                          params={"engine": engine, "length": len(ys), "f": f, "k": k}, seed=11)
    for out in res.outputs:
        assert out["trunc_t"] == out["trunc_wide"] == _floor(ys, f)
        assert out["relu_t"] == out["relu_wide"] == _relu(ys, f)
        assert out["argmax_t"] == out["argmax_wide"] == ys.index(max(ys))


@pytest.mark.parametrize("parties, engine", [(3, "auto"), (5, "auto")])
@pytest.mark.parametrize("pairs_max", [ff.ALL_PAIRS_MAX, 2])
def test_argmax_takes_the_first_of_equal_values(parties, engine, pairs_max, monkeypatch):
    monkeypatch.setattr(ff, "ALL_PAIRS_MAX", pairs_max)  # (2: the tournament beyond)
    k = 12
    for ys in ([5, 5], [-2048, 2047, 2047, -1], [-2048] * 5, [7], [3, -1, 9, 9, 0, 9, 2]):
        res = mpcnet.simulate("test-ff-edges", [ys, None] + [None] * (parties - 2),
                              params={"engine": engine, "length": len(ys), "f": 2, "k": k}, seed=3)
        assert res.outputs[0]["argmax_t"] == res.outputs[0]["argmax_wide"] == ys.index(max(ys))


# --- input-only parties -------------------------------------------------------------------------

@pytest.mark.parametrize("compute", [3, 5])
def test_input_only_parties_pass_through_without_a_round(compute):
    # p0 (x) and p1 (w) only give input: the last `compute` of 2 + compute parties compute
    x, w = [[3, -4], [100, 7]], [[1, -2, 3], [5, 0, -7]]
    y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
    res = mpcnet.simulate("test-ff-layers", [x, w] + [None] * compute,
                          params={"shape": "2,2,3", "f": 2, "k": 20, "compute": compute}, seed=1)
    for i, out in enumerate(res.outputs):
        assert out["trunc"] == out["trunc_t"] == _floor(y, 2)
        assert out["relu"] == _relu(y, 2) and out["argmax"] == _argmax(y)
        if i < 2:
            assert out["degree"] is None
            assert set(out["rounds"].values()) == {0}  # not one round inside the layer functions
        else:
            assert min(out["rounds"][name] for name in ("trunc", "relu", "argmax")) > 0


# --- rounds -----------------------------------------------------------------------------------------

def _csa_layers(t: int) -> int:
    numbers, layers = t + 2, 0
    while numbers > 2:
        numbers, layers = 2 * (numbers // 3) + numbers % 3, layers + 1
    return layers


def _expected_rounds(parties: int, engine: str, f: int, k: int, n: int) -> dict[str, int]:
    """The module docstring's table."""
    t = (parties - 1) // 2
    tree, e, csa = math.ceil(math.log2(t + 1)), (t + 1).bit_length(), _csa_layers(t)
    log2 = lambda v: math.ceil(math.log2(v)) if v > 1 else 0  # noqa: E731
    shamir = not (parties == 3 and engine == "auto")
    trunc = 1 + tree + 1 + csa + 1 + log2(f + e - 1) + 1
    relu = 1 + tree + 1 + csa + 1 + log2(k + e - 2) + 1 + 1
    bits = 1 + 1 + csa + 1 + log2(k)
    argmax = bits + (1 + log2(k) + log2(n - 1) if n <= ff.ALL_PAIRS_MAX else log2(n) * (2 + log2(k)))
    return {"matmul": 0, "trunc": trunc, "relu": relu, "trunc_t": trunc, "relu_t": relu,
            "argmax": argmax + (1 if shamir else 0)}


@pytest.mark.parametrize("parties, engine", [*PATHS, (7, "auto")])  # (7: t = 3, three carry-save layers)
@pytest.mark.parametrize("pairs_max", [ff.ALL_PAIRS_MAX, 4])
def test_rounds_are_the_stated_ones_whatever_the_batch(parties, engine, pairs_max, monkeypatch):
    monkeypatch.setattr(ff, "ALL_PAIRS_MAX", pairs_max)  # (4: the tournament beyond)
    f, k, n, m = 16, 40, 3, 10
    seen = []
    for b in (1, 40):
        x = [[(i * 7 + j) % 50 - 25 for j in range(n)] for i in range(b)]
        w = [[(i * 3 + j) % 9 - 4 for j in range(m)] for i in range(n)]
        res = mpcnet.simulate("test-ff-layers", [x, w] + [None] * (parties - 2),
                              params={"engine": engine, "shape": f"{b},{n},{m}", "f": f, "k": k}, seed=2)
        seen.append(res.outputs[0]["rounds"])
        y = (np.asarray(x, dtype=object) @ np.asarray(w, dtype=object)).tolist()
        assert res.outputs[-1]["relu"] == _relu(y, f) and res.outputs[-1]["argmax"] == _argmax(y)
    assert seen[0] == seen[1] == _expected_rounds(parties, engine, f, k, m)
    if parties == 3 and engine == "auto":
        assert seen[0]["relu"] == 13 and seen[0]["trunc"] == 11  # (the figures in the docstring)
        assert _expected_rounds(3, "auto", 16, 46, 10)["argmax"] == (21 if pairs_max > 10 else 10 + 4 * 8)


# --- what a compute party receives in trunc ----------------------------------------------------------

@protocol("test-ff-view", min_parties=3, max_parties=3, security="test", reveals="test", input="list",
          output="int", params=(mpcnet.Param("engine", str, "auto", "engine"),))
async def view_proto(ctx: Context, value: Any, *, engine: str) -> int:
    """p0's y (8 values of 20 bits): trunc by 6 bits, the result kept secret."""
    rt = mpc.Runtime(ctx, engine=engine)
    y = (await rt.input_int({"p0": (8,)}, value, bits=20, signed=True))["p0"]
    await ff.trunc(y, 6, 20)
    return 0


Y_LOW = [[-(1 << 19)] * 8, None, None]    # y + 2^(k-1) = 0
Y_HIGH = [[(1 << 19) - 1] * 8, None, None]  # y + 2^(k-1) = 2^k - 1
RUNS = 80
ALPHA = 1e-6


@contextlib.contextmanager
def _recording_openings(at: str) -> Iterator[list[Any]]:
    """The masked values c that party ``at`` opens in trunc (what it learns beyond uniform shares)."""
    seen: list[Any] = []
    original = ff._masked_open

    async def recording(y: Any, *args: Any) -> Any:
        masked = await original(y, *args)
        if y.rt.ctx.me == at:
            seen.append(masked.c)
        return masked

    with mock.patch.object(ff, "_masked_open", recording):
        yield seen


def _opened_bits(inputs: list[Any], engine: str, seeds: range) -> np.ndarray:
    rows = []
    for seed in seeds:
        with _recording_openings("p2") as seen:
            mpcnet.simulate("test-ff-view", inputs, params={"engine": engine}, seed=seed)
        (c,) = seen
        rows.append(np.array([(int(v) >> j) & 1 for v in c for j in range(20 + 40 + 2)], dtype=np.uint8))
    return np.stack(rows)


@pytest.mark.parametrize("engine", ["auto", "shamir"])
def test_what_a_compute_party_receives_in_trunc_does_not_depend_on_y(engine):
    views_a = collect_views("test-ff-view", Y_LOW, {"engine": engine}, [1, 2], range(RUNS))
    views_b = collect_views("test-ff-view", Y_HIGH, {"engine": engine}, [1, 2], range(5000, 5000 + RUNS))
    for party in (1, 2):  # the compute parties other than y's owner
        (layout_a, a), (layout_b, b) = views_a[party], views_b[party]
        assert layout_a == layout_b  # (message sizes and shapes do not depend on y either)
        assert len(different_bits(a, b, ALPHA)) == 0
    # the opened c = y + 2^(k-1) + sum A_i, bit by bit (its top bits are not fair coins: compare, do not test for 1/2)
    ca = _opened_bits(Y_LOW, engine, range(100, 100 + RUNS))
    cb = _opened_bits(Y_HIGH, engine, range(9000, 9000 + RUNS))
    assert len(different_bits(ca, cb, ALPHA)) == 0


# --- refusals ------------------------------------------------------------------------------------------

@protocol("test-ff-refusals", min_parties=3, max_parties=3, security="test", reveals="test", input="null",
          output="list")
async def refusals(ctx: Context, value: Any) -> list[str]:
    rt = mpc.Runtime(ctx)
    x = rt.public_int([[1, 2]])
    w = rt.public_int([[1], [2]])
    return await outcomes((lambda: ff.matmul(x.mul_wide(x), w, 0, 9), lambda: ff.matmul(x, w, 1, 0),
                           lambda: ff.matmul(x, x, 0, 9), lambda: ff.trunc(x, 0, 10), lambda: ff.trunc(x, 9, 10),
                           lambda: ff.relu_trunc(x, 4, 90), lambda: ff.argmax(x, 1)))


def test_bad_shapes_degrees_and_widths_are_refused_before_any_round():
    res = mpcnet.simulate("test-ff-refusals", [None] * 3)
    assert res.outputs[0] == ["LocalProtocolViolation"] * 3 + ["ConfigError"] * 4
    assert res.stats[0].rounds == 0
