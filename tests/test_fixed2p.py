"""The two-party primitives of private inference (mpcnet.mpc.fixed2p):
matmul (owned x owned, shared x owned, shared x shared, both layouts),
trunc, relu_trunc and argmax against plaintext numpy; edges; the rounds
pinned; the server's view in a matmul does not depend on the client's query.

Runs go through mpcnet.simulate_async under an absolute trio.fail_after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcnet import Context, mpc, protocol
from mpcnet.errors import LocalProtocolViolation
from mpcnet.mpc import fixed2p
from mpcnet.mpc.secring import SecretRing

from helpers import collect_views, different_bits, rounds_of, simulate_within

RUNS = 24
ALPHA = 1e-3



async def _operand(rt: mpc.Runtime, mode: str, plain: Any, lo: int, hi: int) -> SecretRing:
    """``plain`` (known to both test parties) as an operand: owned by p0 or
    p1 (``own_ring``, no round), or ``shared`` (p1's input split into
    uniformly random shares, one round), declared range [lo, hi]."""
    arr = np.asarray(plain, dtype=np.int64)
    if mode in ("p0", "p1"):
        return fixed2p.own_ring(rt, mode, arr if rt.ctx.me == mode else None, arr.shape, lo, hi)
    got = await rt.input_ring({"p1": arr.shape}, arr if rt.ctx.me == "p1" else None, bits=64)
    return SecretRing(rt, got["p1"].shares, lo, hi)


@protocol("test-fx2p", min_parties=2, max_parties=2, security="test", reveals="test", input="dict",
          output="dict")
async def fx2p_protocol(ctx: Context, value: dict[str, Any]) -> dict[str, Any]:
    """Both parties get the same dict (the plaintext and the modes); each
    uses only its own part. Results are opened to both, with the rounds each
    step took after the OT setup and the triples it needs (made first)."""
    rt = mpc.Runtime(ctx)
    eng = rt.two_party_engine
    await eng.prepare()  # the OT setup
    op = value["op"]
    out: dict[str, Any] = {}
    if op == "matmul":
        x = await _operand(rt, value["xmode"], value["x"], *value["xrange"])
        w = await _operand(rt, value["wmode"], value["w"], *value["wrange"])
        z, out["rounds"] = await rounds_of(ctx, fixed2p.matmul(x, w, *value["range"]))
        out["z"] = await z.reveal()
        out["range"] = (z.lo, z.hi)
        out["owner"] = z.owner
        out["layout"] = fixed2p.matmul_plan(x, w, int(np.prod(np.shape(value["x"])[:-1])))[0]
        return out
    k, f = value["k"], value.get("f", 0)
    y = await _operand(rt, value["ymode"], value["y"], *value["yrange"])
    if op in ("trunc", "relu_trunc"):
        await eng.prepare(**fixed2p.triples(op, np.shape(value["y"]), k, f))
        before = eng.triples_left()
        z, out["rounds"] = await rounds_of(ctx, getattr(fixed2p, op)(y, f, k))
        out["triples_used"] = before - eng.triples_left()
        out["z"] = await z.reveal()
        out["range"] = (z.lo, z.hi)
    elif op == "argmax":
        await eng.prepare(**fixed2p.triples("argmax", np.shape(value["y"]), k))
        before = eng.triples_left()
        idx, out["rounds"] = await rounds_of(ctx, fixed2p.argmax(y, k))
        out["triples_used"] = before - eng.triples_left()
        out["idx"] = await idx.open(to=["p1"])  # the client only
    return out


def _both(value: dict[str, Any]) -> dict[str, Any]:
    outs = simulate_within("test-fx2p", [value, value]).outputs
    for key in ("z", "idx", "rounds"):
        if key in outs[0] and outs[0][key] is not None and outs[1].get(key) is not None:
            assert np.array_equal(outs[0][key], outs[1][key])
    return dict(outs[1])


@contextmanager
def forced_layout(layout: str | None) -> Iterator[None]:
    """Both parties (one process) take ``layout`` for every matmul."""
    if layout is None:
        yield
        return
    plan = fixed2p.matmul_plan
    with mock.patch.object(fixed2p, "matmul_plan", lambda x, w, rows: (layout, plan(x, w, rows)[1])):
        yield


# --- matmul ----------------------------------------------------------------------------

MODES = [("p1", "p0"), ("p0", "p1"), ("shared", "p0"), ("p1", "shared"), ("shared", "shared"), ("p0", "p0")]


def _signed(draw: Any, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    edge = st.sampled_from([lo, hi, 0, -1])
    vals = draw(st.lists(st.one_of(st.integers(lo, hi), edge), min_size=int(np.prod(shape)),
                         max_size=int(np.prod(shape))))
    return np.array(vals, dtype=np.int64).reshape(shape)


def _range(a: np.ndarray) -> list[int]:
    return [int(a.min()), int(a.max())] if a.size else [0, 0]


def _matmul_case(modes: tuple[str, str], x: np.ndarray, w: np.ndarray, layout: str | None = None,
                 declared: list[int] | None = None) -> dict[str, Any]:
    want = x.astype(object) @ w.astype(object)
    value = {"op": "matmul", "xmode": modes[0], "wmode": modes[1], "x": x, "w": w, "xrange": _range(x),
             "wrange": _range(w), "range": declared or _range(np.asarray(want, dtype=np.int64))}
    with forced_layout(layout):
        out = _both(value)
    assert out["z"].tolist() == want.tolist()
    cross = modes[0] != modes[1] or modes[0] == "shared"
    assert out["rounds"] == (2 if cross else 0)
    assert out["owner"] == (None if cross else modes[0])
    return out


@settings(max_examples=16, deadline=None)
@given(data=st.data(), modes=st.sampled_from(MODES), layout=st.sampled_from([None, "rows", "columns"]))
def test_matmul_matches_plaintext(data: Any, modes: tuple[str, str], layout: str | None):
    lead = tuple(data.draw(st.lists(st.integers(1, 3), min_size=1, max_size=2)))
    n, m = data.draw(st.integers(1, 5)), data.draw(st.integers(1, 4))
    bx, bw = data.draw(st.integers(1, 30)), data.draw(st.integers(1, 30))
    x, w = _signed(data.draw, bx, (*lead, n)), _signed(data.draw, bw, (n, m))
    _matmul_case(modes, x, w, layout)


@pytest.mark.parametrize("layout", ["rows", "columns"])
@pytest.mark.parametrize("modes", MODES[:5])
def test_matmul_extremes(modes: tuple[str, str], layout: str):
    """Values at the ends of wide ranges, a result near 2^62, and ranges not containing 0."""
    x = np.array([[2**30 - 1, -(2**30)], [5, 7], [-1, 0]], dtype=np.int64)
    w = np.array([[-(2**31), 2**31 - 1, 3], [2**31 - 1, 1, -(2**31)]], dtype=np.int64)
    _matmul_case(modes, x, w, layout)
    _matmul_case(modes, x + 2**20, np.abs(w) + 10, layout)  # owned values offset by lo > 0


def test_matmul_takes_the_cheaper_layout():
    """Many rows against a narrow w: the columns; one row: the rows."""
    x = np.arange(40 * 3, dtype=np.int64).reshape(40, 3)
    w = np.array([[1, -1], [2, 0], [-3, 1]], dtype=np.int64)
    assert _matmul_case(("p1", "p0"), x, w)["layout"] == "columns"
    assert _matmul_case(("p1", "p0"), x[:1], w * 1000)["layout"] == "rows"


def test_matmul_refuses_a_mismatch_and_a_bad_owner_value():
    with pytest.raises(LocalProtocolViolation, match="shape"):
        _both({"op": "matmul", "xmode": "p1", "wmode": "p0", "x": np.zeros((2, 3), np.int64),
               "w": np.zeros((2, 2), np.int64), "xrange": [0, 0], "wrange": [0, 0], "range": [0, 0]})


@protocol("test-fx2p-own", min_parties=2, max_parties=2, security="test", reveals="test", input="int",
          output="str")
async def own_out_of_range(ctx: Context, value: int) -> str:
    rt = mpc.Runtime(ctx)
    try:
        fixed2p.own_ring(rt, "p1", np.array([value]), (1,), -5, 5)
    except LocalProtocolViolation as e:
        return str(e)
    return "accepted"


def test_own_ring_checks_the_owners_range_without_naming_the_value():
    out = simulate_within("test-fx2p-own", [0, 123456]).outputs
    assert out[0] == "accepted" and "outside its declared range" in out[1] and "123456" not in out[1]


# --- trunc, relu_trunc -----------------------------------------------------------------

def _edges(k: int) -> list[int]:
    h = 1 << (k - 1)
    return [0, -1, 1, h - 1, -(h - 1), -h, h - 2, -h + 1]


@settings(max_examples=14, deadline=None)
@given(data=st.data(), op=st.sampled_from(["trunc", "relu_trunc"]), mode=st.sampled_from(["shared", "shared", "p1"]))
def test_trunc_and_relu_match_plaintext(data: Any, op: str, mode: str):
    k = data.draw(st.integers(1, 64))
    f = data.draw(st.integers(0, k - 1))
    h = 1 << (k - 1)
    n = data.draw(st.integers(0, 6))
    y = np.array(_edges(k) + data.draw(st.lists(st.integers(-h, h - 1), min_size=n, max_size=n)), dtype=np.int64)
    y = y[(y >= -h) & (y < h)]
    out = _both({"op": op, "ymode": mode, "y": y, "yrange": [-h, h - 1], "k": k, "f": f})
    want = y >> f
    if op == "relu_trunc":
        want = np.maximum(want, 0)
    assert out["z"].tolist() == want.tolist()
    lo, hi = out["range"]
    assert lo <= want.min() and want.max() <= hi
    log = (k - 1).bit_length()
    if mode == "p1" or (op == "relu_trunc" and f == k - 1):
        assert out["rounds"] == 0
    else:
        assert out["rounds"] == (1 + log + 2 if op == "trunc" else 1 + log + 3)
        assert out["triples_used"] == fixed2p.triples(op, y.shape, k, f)["and_words"]  # no extra round


def test_trunc_declared_range_narrows_the_result_and_wide_declared_range_is_ignored():
    y = np.array([-1000, 5, 999], dtype=np.int64)
    out = _both({"op": "trunc", "ymode": "shared", "y": y, "yrange": [-1000, 999], "k": 40, "f": 3})
    assert out["z"].tolist() == (y >> 3).tolist() and out["range"] == (-125, 124)
    out = _both({"op": "relu_trunc", "ymode": "shared", "y": y, "yrange": [-(2**62), 2**62], "k": 12, "f": 3})
    assert out["z"].tolist() == [0, 0, 124] and out["range"] == (0, 255)


def test_rounds_pinned_for_the_digits_network():
    """k = 48, f = 16: trunc 9 rounds, relu_trunc 10, with batch 1 and batch 300."""
    for count in (1, 300):
        y = np.linspace(-(2**46), 2**46, count).astype(np.int64)
        for op, rounds in (("trunc", 9), ("relu_trunc", 10)):
            out = _both({"op": op, "ymode": "shared", "y": y, "yrange": [-(2**47), 2**47 - 1], "k": 48, "f": 16})
            assert out["rounds"] == rounds and out["z"].tolist() == (
                y >> 16 if op == "trunc" else np.maximum(y >> 16, 0)).tolist()


# --- argmax ----------------------------------------------------------------------------

@settings(max_examples=8, deadline=None)
@given(data=st.data())
def test_argmax_matches_plaintext(data: Any):
    k = data.draw(st.integers(2, 64))
    rows, n = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 10))
    h = 1 << (k - 1)
    few = st.sampled_from([-h, h - 1, 0, -1])  # ties and the extremes
    y = np.array(data.draw(st.lists(st.one_of(st.integers(-h, h - 1), few), min_size=rows * n,
                                    max_size=rows * n)), dtype=np.int64).reshape(rows, n)
    out = simulate_within("test-fx2p", [{"op": "argmax", "ymode": "shared", "y": y, "yrange": [-h, h - 1], "k": k}] * 2).outputs
    assert out[0]["idx"] is None  # opened to the client only
    assert out[1]["idx"].tolist() == y.argmax(-1).tolist()
    log = (k - 1).bit_length()
    assert out[1]["rounds"] == 1 + log + (n - 1).bit_length() * (2 + log)  # triples made offline: exact
    assert out[1]["triples_used"] == fixed2p.triples("argmax", y.shape, k)["and_words"]


# --- the server's view -----------------------------------------------------------------

@protocol("test-fx2p-view", min_parties=2, max_parties=2, security="test", reveals="the product, to p1",
          input="dict", output="dict")
async def fx2p_view(ctx: Context, value: dict[str, Any]) -> dict[str, Any]:
    """p0 (the server) owns w, p1 (the client) owns x; the product is opened
    to p1 only, when ``value["open"]`` (else the view is the matmul's alone)."""
    rt = mpc.Runtime(ctx)
    mine = np.asarray(value["mine"], dtype=np.int64)
    n, m = 4, 3
    x = fixed2p.own_ring(rt, "p1", mine if ctx.me == "p1" else None, (2, n), 0, 2**17 - 1)
    w = fixed2p.own_ring(rt, "p0", mine if ctx.me == "p0" else None, (n, m), -(2**19), 2**19 - 1)
    z = await fixed2p.matmul(x, w, -(2**40), 2**40)
    return {"z": await z.open(to=["p1"]) if value["open"] else None}


W_VIEW = np.array([[3, -7, 2**19 - 1], [-(2**19), 0, 5], [1, 1, 1], [100, -100, 9]], dtype=np.int64)
X_VIEW = np.array([[2**17 - 1, 0x5555, 1, 77], [0x1ABCD, 2**16, 3, 0]], dtype=np.int64)


@pytest.mark.parametrize("layout", ["rows", "columns"])
def test_views_in_matmul_depend_on_neither_query_nor_weights(layout: str):
    """What the server receives (the OT setup and the matmul's OT messages)
    does not depend on the client's query, and what the client receives
    does not depend on the weights (nor on its own query): the same law for
    (zero model, zero query) and (W, X). The client's output share is
    uniformly random; the opening, which adds the product (its output), is
    left out here."""
    views = []
    for i, (w, x) in enumerate(((np.zeros((4, 3), dtype=np.int64), np.zeros((2, 4), dtype=np.int64)),
                                (W_VIEW, X_VIEW))):
        inputs = [{"mine": w, "open": False}, {"mine": x, "open": False}]
        with forced_layout(layout):  # (patched around the runs: the two parties share the process)
            views.append(collect_views("test-fx2p-view", inputs, {}, [0, 1], range(i * RUNS, (i + 1) * RUNS)))
    for who in (0, 1):
        assert views[0][who][0] == views[1][who][0]  # same message layout
        assert views[0][who][1].shape[1] > 10000  # the OT messages are in the view
        assert different_bits(views[0][who][1], views[1][who][1], ALPHA).size == 0, f"p{who}"


# --- owners through local operations; the message cap ----------------------------------

@protocol("test-fx2p-owner", min_parties=2, max_parties=2, security="test", reveals="test", input="dict",
          output="dict")
async def fx2p_owner(ctx: Context, value: dict[str, Any]) -> dict[str, Any]:
    """p1's x through local operations (a public constant added at p1's share: p1 still owns it), then x @ w."""
    rt = mpc.Runtime(ctx)
    await rt.two_party_engine.prepare()
    x0 = np.asarray(value["x"], dtype=np.int64)
    x = fixed2p.own_ring(rt, "p1", x0 if ctx.me == "p1" else None, x0.shape, -100, 100)
    y = (-(x * 3) + 7 - np.array([1, 2]))[1:]
    w = fixed2p.own_ring(rt, "p0", np.asarray(value["w"]) if ctx.me == "p0" else None, (2, 2), -(2**40), 2**40)
    out: dict[str, Any] = {"owners": [y.owner, (y + x[1:]).owner, (y + w[0]).owner, (await y.mul(y)).owner]}
    start = ctx.bytes_sent
    z, out["rounds"] = await rounds_of(ctx, fixed2p.matmul(y, w, -(2**20), 2**20))
    out["bytes"] = ctx.bytes_sent - start
    out["z"] = await z.reveal()
    return out


def test_local_operations_keep_the_owner_and_matmul_uses_it():
    x, w = np.array([[5, -100], [100, 0], [-3, 17]]), np.array([[9, -9], [0, 4]])
    out = simulate_within("test-fx2p-owner", [{"x": x, "w": w}] * 2).outputs
    assert out[1]["owners"] == ["p1", "p1", None, None]
    y = (-(x * 3) + 7 - np.array([1, 2]))[1:]
    assert out[1]["z"].tolist() == (y @ w).tolist() and out[1]["rounds"] == 2
    # one cross term, the client choosing with the 10 bits of its range: 2 x 2 x 10 OTs of 16 + 16 bytes; a
    # shared y would take 2 x 2 x 64 of them, or (the columns) 2 x 2 x 41 chosen by w's bits
    assert out[0]["bytes"] + out[1]["bytes"] < 4000


def test_matmul_over_the_message_cap_runs_in_chunks_of_rows_or_refuses_one_row():
    x, w = np.arange(10, dtype=np.int64).reshape(5, 2), np.array([[1, -2], [3, 4]], dtype=np.int64)
    value = {"op": "matmul", "xmode": "p1", "wmode": "p0", "x": x, "w": w, "xrange": [0, 9], "wrange": [-2, 4],
             "range": [-100, 100]}
    # rows layout: 2 x 4 bits x 2 words of 8 bytes = 128 bytes per row: 2 rows per chunk, 3 chunks
    with forced_layout("rows"), mock.patch.object(fixed2p, "MAX_CORRELATION_BYTES", 300):
        out = _both(value)
    assert out["z"].tolist() == (x @ w).tolist() and out["rounds"] == 6
    with forced_layout("rows"), mock.patch.object(fixed2p, "MAX_CORRELATION_BYTES", 100), pytest.raises(
            LocalProtocolViolation, match="one row"):
        _both(value)
