"""The three-party replicated engine (mpcnet.mpc.replicated) and its
bit-sliced circuits (mpcnet.mpc.bitcircuits, mpcnet.mpc.bitslice):

* results equal the plaintext (hypothesis: k = 1..64, signed and unsigned,
  edges and ties) and the Shamir engine's ``compare`` protocol;
* every party's view is independent of the others' inputs (seeded A/B test
  per bit, tests/helpers.py ``different_bits``) and every received bit is a
  fair coin (``biased_bits``);
* the pseudo-random zero-sharings sum to zero and are keyed per session,
  per label and per use;
* an AND layer costs each party one message, to one neighbour, of one share
  per gate; rounds do not depend on the batch.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pytest
import trio
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import Context, LocalProtocolViolation, protocol
from mpcnet.mpc import bitcircuits as bc
from mpcnet.mpc.bitslice import pack, unpack, words_for
from mpcnet.mpc.replicated import BITS, RING, PairwisePRG, ReplicatedEngine

from helpers import biased_bits, collect_views, different_bits

P = ("p0", "p1", "p2")


def _bounds(k: int, signed: bool) -> tuple[int, int]:
    return (-(1 << (k - 1)), (1 << (k - 1)) - 1) if signed else (0, (1 << k) - 1)


# --- test protocols ---------------------------------------------------------------

@protocol("test-rep-compare", min_parties=3, max_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("bits", int, 32, "k"), mpcnet.Param("signed", bool, False, "signed"),
                  mpcnet.Param("length", int, 1, "m"), mpcnet.Param("ops", str, ",".join(bc.OPS), "ops"),
                  mpcnet.Param("select", bool, True, "also the minimum")))
async def rep_compare(ctx: Context, value: Any, *, bits: int, signed: bool, length: int, ops: str,
                      select: bool) -> dict[str, Any]:
    """Every op of p0's x with p1's y, and select(x < y, x, y) (the minimum) if ``select``."""
    eng = ReplicatedEngine(ctx)
    mine = None if value is None else np.array(value, dtype=object).astype(np.int64 if signed else np.uint64)
    got = await bc.input_bits(eng, {"p0": length, "p1": length}, mine, bits)
    x, y = got["p0"], got["p1"]
    out: dict[str, Any] = {}
    for op in ops.split(","):
        res = await bc.open_bits(eng, await bc.compare(eng, x, y, op, signed=signed), length)
        assert res is not None
        out[op] = res.tolist()
    if not select:
        return out
    low = await bc.select(eng, await bc.less_than(eng, x, y, signed=signed), x, y)
    out["min"] = [int(v) for v in await bc.open_bits(eng, low, length, signed=signed)]  # type: ignore[union-attr]
    return out


@protocol("test-rep-ring", min_parties=3, max_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("bits", int, 32, "k"), mpcnet.Param("length", int, 1, "m")))
async def rep_ring(ctx: Context, value: Any, *, bits: int, length: int) -> dict[str, Any]:
    """Arithmetic shares of p0's x and p1's y: x * y, x < y (via bit k of
    x - y), and the 64 bits of x (arithmetic to binary)."""
    eng = ReplicatedEngine(ctx)
    mine = None if value is None else np.array(value, dtype=object).astype(np.int64).view(np.uint64)
    got = await eng.input({"p0": (length,), "p1": (length,)}, mine, RING)
    x, y = got["p0"], got["p1"]
    prod = await eng.open(await eng.mul(x, y), RING)
    lt = await bc.open_bits(eng, await bc.less_than_ring(eng, x, y, bits), length)
    as_bits = await bc.open_bits(eng, await bc.to_bits(eng, x, 64), length, signed=True)
    low_bits = await bc.open_bits(eng, await bc.to_bits(eng, y, bits), length, signed=True)
    assert prod is not None and lt is not None and as_bits is not None and low_bits is not None
    return {"mul": prod.view(np.int64).tolist(), "lt": lt.tolist(), "bits": as_bits.tolist(), "low": low_bits.tolist()}


def _compare(xs: list[int], ys: list[int], k: int, signed: bool, seed: int = 3, **kw: Any) -> mpcnet.SimulationResult:
    return mpcnet.simulate("test-rep-compare", [xs, ys, None], params={"bits": k, "signed": signed, "length": len(xs), **kw},
                           seed=seed)


# --- bit slicing ------------------------------------------------------------------

@given(k=st.integers(1, 64), signed=st.booleans(), data=st.data())
@settings(max_examples=60)
def test_bit_planes_hold_bit_j_of_value_64w_plus_l_and_unpack_back(k, signed, data):
    lo, hi = _bounds(k, signed)
    values = data.draw(st.lists(st.integers(lo, hi), min_size=1, max_size=200))
    arr = np.array(values, dtype=np.int64 if signed else np.uint64)
    planes = pack(arr, k)
    assert planes.shape == (k, words_for(len(values))) and planes.dtype == np.uint64
    for j in {0, k // 2, k - 1}:
        for i, v in enumerate(values):
            assert (int(planes[j, i // 64]) >> (i % 64)) & 1 == (v >> j) & 1
    assert unpack(planes, len(values), signed=signed).tolist() == values


# --- results against the plaintext and the Shamir engine ------------------------------

OPS = {op: getattr(operator, op) for op in bc.OPS}


@given(k=st.integers(1, 64), signed=st.booleans(), data=st.data())
@settings(max_examples=40)
def test_comparisons_and_select_equal_the_plaintext(k, signed, data):
    lo, hi = _bounds(k, signed)
    edges = st.sampled_from([lo, hi, 0, min(hi, 1), max(lo, -1), lo + 1 if lo < hi else lo, hi - 1 if hi > lo else hi])
    value = st.one_of(edges, st.integers(lo, hi))
    pairs = data.draw(st.lists(st.tuples(value, value), min_size=1, max_size=150))
    ties = data.draw(st.lists(value, max_size=10))
    xs = [a for a, _ in pairs] + ties
    ys = [b for _, b in pairs] + ties
    out = _compare(xs, ys, k, signed, seed=data.draw(st.integers(0, 1000))).outputs
    assert out[0] == out[1] == out[2]
    for op, f in OPS.items():
        assert out[0][op] == [int(f(a, b)) for a, b in zip(xs, ys, strict=True)], op
    assert out[0]["min"] == [min(a, b) for a, b in zip(xs, ys, strict=True)]


@pytest.mark.parametrize(("k", "signed"), [(32, False), (32, True), (8, True), (64, False), (1, False)])
def test_results_are_those_of_the_shamir_engines_compare(k, signed):
    lo, hi = _bounds(k, signed)
    rng = np.random.default_rng(k)
    dtype = np.int64 if signed else np.uint64
    xs = [lo, hi, 0, hi, lo, *map(int, rng.integers(lo, hi, 100, endpoint=True, dtype=dtype))]
    ys = [hi, lo, 0, hi, lo, *map(int, rng.integers(lo, hi, 100, endpoint=True, dtype=dtype))]
    ours = _compare(xs, ys, k, signed).outputs[0]
    for op in bc.OPS:
        shamir = mpcnet.simulate("compare", [xs, ys, None], params={"bits": k, "signed": signed, "op": op,
                                                                     "engine": "shamir"}, seed=5)
        assert ours[op] == [int(b) for b in shamir.outputs[0]], op


@given(k=st.sampled_from([1, 2, 7, 8, 16, 31, 32, 33, 64]), signed=st.booleans(), op=st.sampled_from(bc.OPS),
       data=st.data())
@settings(max_examples=30, deadline=None)
def test_the_compare_protocol_gives_the_same_results_on_both_engines(k, signed, op, data):
    # Three parties: compare's default (engine=auto) is the replicated engine;
    # engine=shamir is the GF(2^8) one. Same inputs, same outputs, same rounds.
    lo, hi = _bounds(k, signed)
    one = st.integers(lo, hi)
    single = data.draw(st.booleans())
    if single:
        xs, ys = data.draw(one), data.draw(one)
    else:
        pairs = data.draw(st.lists(st.tuples(one, one), min_size=1, max_size=70))
        xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
        xs[0] = ys[0]  # a tie in every example
    params = {"bits": k, "signed": signed, "op": op}
    auto = mpcnet.simulate("compare", [xs, ys, None], params=params, seed=1, record_views=True)
    # (the helper's AND-gate messages are uint64 words: the replicated engine ran)
    assert {r.value.dtype for r in auto.results[2].view if r.round == 2} == {np.dtype(np.uint64)}
    shamir = mpcnet.simulate("compare", [xs, ys, None], params={**params, "engine": "shamir"}, seed=1)
    assert auto.outputs == shamir.outputs
    assert [s.rounds for s in auto.stats] == [s.rounds for s in shamir.stats]
    f = OPS[op]
    want = bool(f(xs, ys)) if single else [bool(f(a, b)) for a, b in zip(xs, ys, strict=True)]
    assert auto.outputs[0] == want


@given(k=st.integers(1, 63), data=st.data())
@settings(max_examples=25)
def test_products_arithmetic_to_binary_and_ring_comparison_equal_the_plaintext(k, data):
    signed = data.draw(st.booleans())
    lo, hi = _bounds(k, signed)
    value = st.one_of(st.sampled_from([lo, hi, 0]), st.integers(lo, hi))
    pairs = data.draw(st.lists(st.tuples(value, value), min_size=1, max_size=100))
    xs, ys = [a for a, _ in pairs], [b for _, b in pairs]
    out = mpcnet.simulate("test-rep-ring", [xs, ys, None], params={"bits": k, "length": len(xs)},
                          seed=data.draw(st.integers(0, 1000))).outputs[0]
    wrap = [((a * b + 2**63) % 2**64) - 2**63 for a, b in zip(xs, ys, strict=True)]
    assert out["mul"] == wrap
    assert out["lt"] == [int(a < b) for a, b in zip(xs, ys, strict=True)]
    assert out["bits"] == xs
    low = [b % (1 << k) for b in ys]  # the low k bits of y, read as a signed k-bit number
    assert out["low"] == [v - (1 << k) if v >> (k - 1) else v for v in low]


# --- the pseudo-random zero-sharings ---------------------------------------------------

@protocol("test-rep-zero", min_parties=3, max_parties=3, security="test", reveals="test", input="null", output="dict",
          params=(mpcnet.Param("label", str, "engine", "label"),))
async def rep_zero(ctx: Context, value: Any, *, label: str) -> dict[str, Any]:
    """This party's a_i of three zero-sharings (ring, ring, bits) and what a second engine with the same label does."""
    eng = ReplicatedEngine(ctx, label=label)
    out: dict[str, Any] = {"ring": [eng.zero_share((1000,), RING) for _ in range(2)], "bits": eng.zero_share((1000,), BITS)}
    try:
        ReplicatedEngine(ctx, label=label)
    except LocalProtocolViolation as exc:
        out["again"] = str(exc)
    out["other"] = ReplicatedEngine(ctx, label=label + "-other").zero_share((1000,), RING)
    name = f"replicated:{label}"
    out["keys"] = [ctx.pairwise_key(eng.next, name), ctx.pairwise_key(eng.prev, name)]
    return out


def _zero(seed: int | None, label: str = "engine") -> tuple[dict[str, Any], ...]:
    return mpcnet.simulate("test-rep-zero", [None] * 3, params={"label": label}, seed=seed).outputs


def test_zero_sharings_sum_to_zero_and_are_fresh_per_use_label_and_session():
    a = _zero(seed=None)
    for use in range(2):
        assert not np.any(sum((o["ring"][use] for o in a), np.zeros(1000, np.uint64)))
    assert not np.any(a[0]["bits"] ^ a[1]["bits"] ^ a[2]["bits"])
    assert not np.any(sum((o["other"] for o in a), np.zeros(1000, np.uint64)))
    # Each party's share looks random, and differs between uses, labels and sessions.
    b = _zero(seed=None)
    for i in range(3):
        draws = [a[i]["ring"][0], a[i]["ring"][1], a[i]["bits"], a[i]["other"], b[i]["ring"][0]]
        for u in range(len(draws)):
            assert 0.45 < np.unpackbits(draws[u].view(np.uint8)).mean() < 0.55
            for v in range(u):
                assert np.count_nonzero(draws[u] == draws[v]) < 5, (u, v)
    # A label serves once per session: a second engine would repeat the keystream.
    assert all("already used" in o["again"] for o in a)


def _aes_words(key: bytes, use: int, count: int) -> np.ndarray:
    """AES-128-CTR keystream as uint64 words, straight from `cryptography` (independent of PairwisePRG)."""
    stream = Cipher(algorithms.AES(key[:16]), modes.CTR(use.to_bytes(8, "big") + bytes(8))).encryptor()
    return np.frombuffer(stream.update(bytes(8 * count)), dtype=np.uint64)


def test_zero_sharings_are_the_pairwise_keys_keystreams_use_by_use():
    # a_i = F(k_(i,i+1), use) - F(k_(i-1,i), use), recomputed from the keys the
    # context gives each pair: the parties' own randomness plays no part, and
    # each use (0, 1, then the XOR sharing at 2) takes its own counter block.
    for out in (_zero(seed=None), _zero(seed=4)):
        for o in out:
            k_next, k_prev = o["keys"]
            for use in (0, 1):
                np.testing.assert_array_equal(o["ring"][use], _aes_words(k_next, use, 1000) - _aes_words(k_prev, use, 1000))
            np.testing.assert_array_equal(o["bits"], _aes_words(k_next, 2, 1000) ^ _aes_words(k_prev, 2, 1000))
    # The keys are fresh per session: another seed, other session id and pair secrets.
    assert _zero(seed=4)[0]["keys"] != _zero(seed=5)[0]["keys"]


def test_the_prg_is_aes_ctr_with_the_use_number_as_nonce_across_chunks():
    key = bytes(range(32))
    # odd and even counts on both sides of the small-draw (counter block) path, and past one 1 MiB chunk
    for count in (0, 1, 2, 3, 4095, 4096, 4097, (1 << 17) + 3):
        for use in (0, 7, 2**64 - 1):
            want = Cipher(algorithms.AES(key[:16]), modes.CTR(use.to_bytes(8, "big") + bytes(8))).encryptor().update(
                bytes(8 * count))
            got = PairwisePRG(key).words(use, count)
            assert got.tobytes() == want and got.flags.writeable
    assert PairwisePRG(key).words(0, 4).tobytes() != PairwisePRG(key).words(1, 4).tobytes()


@protocol("test-rep-reshare", min_parties=3, max_parties=3, security="test", reveals="test", input="null", output="list")
async def rep_reshare(ctx: Context, value: Any) -> list[Any]:
    """Party i's additive term is (i + 1) * 1000 (ring) and i + 1 (bits) in every element: reshared, then opened."""
    eng = ReplicatedEngine(ctx)
    term = np.full(64, ctx.index + 1, dtype=np.uint64)
    ring = await eng.reshare(term * np.uint64(1000), RING)
    bits = await eng.reshare(term, BITS)
    return [(await eng.open(ring, RING)).tolist(), (await eng.open(bits, BITS)).tolist(),  # type: ignore[union-attr]
            ring.first, ring.second]


def test_reshare_masks_each_term_and_keeps_the_value():
    out = mpcnet.simulate("test-rep-reshare", [None] * 3, seed=8).outputs
    for i, o in enumerate(out):
        assert o[0] == [6000] * 64 and o[1] == [1 ^ 2 ^ 3] * 64
        np.testing.assert_array_equal(o[3], out[(i + 1) % 3][2])  # my second is my successor's first
        assert np.count_nonzero(o[2] == (i + 1) * 1000) < 3  # what left party i was masked


# --- costs: one share per gate to one neighbour, rounds independent of the batch ---------

@protocol("test-rep-and", min_parties=3, max_parties=3, security="test", reveals="test", input="null", output="list",
          params=(mpcnet.Param("words", int, 1, "words"),))
async def rep_and(ctx: Context, value: Any, *, words: int) -> list[int]:
    """One AND layer of 64 * words gates on public operands (no input round)."""
    eng = ReplicatedEngine(ctx)
    a = np.arange(words, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    b = ~a ^ np.uint64(0x00FF00FF00FF00FF)
    z = await eng.and_(eng.public(a, BITS), eng.public(b, BITS))
    got = await eng.open(z, BITS)
    assert got is not None
    return [int(v) for v in got ^ (a & b)]


@pytest.mark.parametrize("words", [1, 1000, 100_000])
def test_an_and_layer_sends_one_share_per_gate_to_one_neighbour(words):
    res = mpcnet.simulate("test-rep-and", [None] * 3, params={"words": words}, seed=1)
    assert all(not any(o) for o in res.outputs)  # correct
    for s in res.stats:
        assert s.rounds == 2 and s.messages_sent == 2  # the AND round and the opening: one message each
        # 64 * words gates: 8 bytes per 64 gates in each round, plus a fixed envelope.
        assert 2 * 8 * words <= s.bytes_sent <= 2 * 8 * words + 200


@pytest.mark.parametrize("m", [1, 64, 6400])
def test_a_comparison_takes_8_rounds_whatever_the_batch_and_under_20_bytes(m):
    res = _compare(list(range(m)), list(range(m, 0, -1)), 32, False, ops="lt", select=False)
    # input, 1 + ceil(log2 32) AND rounds, open
    assert [s.rounds for s in res.stats] == [8] * 3
    # Per comparison the holders send 8 bytes of input (4 to each other
    # party), all parties 89 AND gates (11.125 bytes) and one bit of the
    # opening: 19.25 bytes, 11.25 for the helper, plus ~30 bytes of envelope per message.
    per = [s.bytes_sent / m for s in res.stats]
    if m == 6400:
        assert 19.25 < per[0] == per[1] < 19.35 and 11.25 < per[2] < 11.35


# --- views ---------------------------------------------------------------------------------

RUNS = 24
ALPHA = 1e-6


def _view_params(m: int) -> dict[str, Any]:
    return {"bits": 32, "signed": False, "length": m, "ops": "lt"}


@pytest.mark.parametrize("observer", [0, 1, 2])
def test_what_a_party_receives_does_not_depend_on_the_others_inputs(observer):
    m = 128  # two words per plane: no padding lanes
    rng = np.random.default_rng(0)
    x_a = rng.integers(0, 2**31, m)
    y_a = x_a + rng.integers(1, 2**31, m)  # x < y everywhere
    x_b = rng.integers(0, 2**31, m)
    y_b = x_b + rng.integers(1, 2**31, m)
    # The observer's own input and the outputs are the same under A and B.
    if observer == 0:
        x_b = x_a
        y_b = x_a + rng.integers(1, 2**31, m)
    elif observer == 1:
        y_b = y_a
        x_b = rng.integers(0, y_a)
    inputs_a = [x_a.tolist(), y_a.tolist(), None]
    inputs_b = [x_b.tolist(), y_b.tolist(), None]
    assert inputs_a != inputs_b
    views_a = collect_views("test-rep-compare", inputs_a, _view_params(m), [observer], range(RUNS))
    views_b = collect_views("test-rep-compare", inputs_b, _view_params(m), [observer], range(500, 500 + RUNS))
    (layout_a, bits_a), (layout_b, bits_b) = views_a[observer], views_b[observer]
    assert layout_a == layout_b and bits_a.shape[1] > 20_000
    assert different_bits(bits_a, bits_b, ALPHA).size == 0


def test_every_bit_a_party_receives_is_a_fair_coin():
    # 64 seeded runs: a constant bit has p = 2^-63 against a fair coin,
    # far below the Bonferroni level 1e-6 / (bits in a view).
    m = 128
    rng = np.random.default_rng(1)
    inputs = [rng.integers(0, 2**32, m).tolist(), rng.integers(0, 2**32, m).tolist(), None]
    views = collect_views("test-rep-compare", inputs, _view_params(m), [0, 1, 2], range(64))
    for j in range(3):
        _, bits = views[j]
        assert biased_bits(bits, ALPHA).size == 0, j


@protocol("test-rep-held", min_parties=3, max_parties=3, security="test", reveals="test", input="list", output="list")
async def rep_held(ctx: Context, value: Any) -> list[Any]:
    """The pairs this party holds of p0's and p1's inputs, as ring values and as bit planes."""
    eng = ReplicatedEngine(ctx)
    mine = None if value is None else np.asarray(value, dtype=np.uint64)
    ring = await eng.input({"p0": (64,), "p1": (64,)}, mine, RING)
    bits = await eng.input({"p0": (64,), "p1": (64,)}, mine, BITS)
    out = []
    for p in ("p0", "p1"):
        out += [ring[p].first, ring[p].second, ring[p].first + ring[p].second,
                bits[p].first, bits[p].second, bits[p].first ^ bits[p].second]
    return out


def test_what_a_party_holds_of_an_input_is_uniform_alone_and_combined():
    # A message masked with a word its receiver knows looks uniform on the
    # wire; what the receiver then holds would not. The two shares a party
    # holds of a constant input, and their sum (XOR), must be fair coins in
    # every bit over 64 seeded runs (a constant bit: p = 2^-63).
    x = [0x0123456789ABCDEF ^ (i * 0x1111) for i in range(64)]
    held: list[list[np.ndarray]] = [[], [], []]
    for seed in range(64):
        outs = mpcnet.simulate("test-rep-held", [x, x[::-1], None], seed=seed).outputs
        for j in range(3):
            held[j].append(np.unpackbits(np.concatenate(outs[j]).view(np.uint8)))
    for j in range(3):
        assert biased_bits(np.stack(held[j]), ALPHA).size == 0, j


@protocol("test-rep-outsider", min_parties=4, max_parties=4, security="test", reveals="test", input="list",
          output="list")
async def rep_outsider(ctx: Context, value: Any) -> Any:
    """p3 (input only) and p0 input 3 values each; x * y is opened to p3 and p0."""
    eng = ReplicatedEngine(ctx, ["p0", "p1", "p2"])
    mine = None if value is None else np.asarray(value, dtype=np.int64).view(np.uint64)
    got = await eng.input({"p3": (3,), "p0": (3,)}, mine, RING)
    prod = await eng.mul(got["p3"], got["p0"]) if eng.is_compute else None
    ctx.skip_to_round(100)  # p3 sat out the product's round: every party meets at round 100
    out = await eng.open(prod, RING, to=["p3", "p0"], shape=(3,))
    held = None if not eng.is_compute else np.concatenate([got["p3"].first, got["p3"].second,
                                                           got["p3"].first + got["p3"].second])
    return [None if out is None else out.view(np.int64).tolist(), held]


def test_an_input_only_party_deals_uniform_shares_and_receives_an_opening():
    held: list[list[np.ndarray]] = [[], [], []]
    for seed in range(40):
        res = mpcnet.simulate("test-rep-outsider", [[4, -5, 6], None, None, [7, 8, -(2**40)]], seed=seed)
        assert [o[0] for o in res.outputs] == [[28, -40, -6 * 2**40], None, None, [28, -40, -6 * 2**40]]
        assert res.stats[3].bytes_sent < 3 * (2 * 3 * 8 + 100)  # a pair of shares to each compute party
        for j in range(3):
            held[j].append(np.unpackbits(res.outputs[j][1].view(np.uint8)))
    for j in range(3):  # (40 runs: a constant bit has p = 2^-39 < 1e-6 / 576)
        assert biased_bits(np.stack(held[j]), ALPHA).size == 0, j


# --- the toolkit face: Runtime.input_sliced and SlicedBits -------------------------------

@protocol("test-rep-toolkit", min_parties=3, security="test", reveals="test", input="list", output="dict",
          params=(mpcnet.Param("bits", int, 32, "k"), mpcnet.Param("signed", bool, False, "signed"),
                  mpcnet.Param("length", int, 1, "m")))
async def rep_toolkit(ctx: Context, value: Any, *, bits: int, signed: bool, length: int) -> dict[str, Any]:
    """The last two parties input x and y; the first three compute; every party learns every result."""
    from mpcnet import mpc

    rt = mpc.Runtime(ctx, compute=ctx.parties[:3])
    xo, yo = ctx.parties[-2], ctx.parties[-1]
    got = await rt.input_sliced({xo: (length,), yo: (length,)}, value, bits=bits, signed=signed)
    x, y = got[xo], got[yo]
    # Everything computed first, then opened: input-only parties meet the
    # compute parties at consecutive result rounds after the computation.
    results = {op: await getattr(x, op)(y) for op in bc.OPS}
    results["min"] = await (await x.lt(y)).select(x, y)
    results["xor"] = ~(x ^ y) ^ 5
    out: dict[str, Any] = {name: (await v.reveal()).tolist() for name, v in results.items()}
    out["absent"] = x.absent
    return out


@pytest.mark.parametrize(("n", "k", "signed"), [(3, 32, False), (5, 32, True), (4, 64, False), (4, 1, False)])
def test_sliced_values_from_input_only_parties_equal_the_plaintext(n, k, signed):
    lo, hi = _bounds(k, signed)
    rng = np.random.default_rng(n)
    dtype = np.int64 if signed else np.uint64
    xs = [lo, hi, 0, hi, *map(int, rng.integers(lo, hi, 200, endpoint=True, dtype=dtype))]
    ys = [hi, lo, 0, hi, *map(int, rng.integers(lo, hi, 200, endpoint=True, dtype=dtype))]
    res = mpcnet.simulate("test-rep-toolkit", [None] * (n - 2) + [xs, ys],
                          params={"bits": k, "signed": signed, "length": len(xs)}, seed=n)
    mask = (1 << k) - 1
    for j, out in enumerate(res.outputs):
        for op, f in OPS.items():
            assert out[op] == [int(f(a, b)) for a, b in zip(xs, ys, strict=True)], op
        assert out["min"] == [min(a, b) for a, b in zip(xs, ys, strict=True)]
        xor = [(~(a ^ b) ^ 5) & mask for a, b in zip(xs, ys, strict=True)]
        if signed:
            xor = [v - (1 << k) if v >> (k - 1) else v for v in xor]
        assert out["xor"] == xor
        assert out["absent"] == (j >= 3)


@protocol("test-rep-five", min_parties=5, security="test", reveals="test", input="null", output="null")
async def rep_five(ctx: Context, value: Any) -> None:
    from mpcnet import mpc

    await mpc.Runtime(ctx).input_sliced({"p0": (1,)}, [1] if ctx.me == "p0" else None, bits=8)


def test_sliced_values_need_three_compute_parties():
    with pytest.raises(mpcnet.ConfigError, match="exactly three"):
        mpcnet.simulate("test-rep-five", [None] * 5, seed=1)


@protocol("test-rep-argmax", min_parties=5, security="test", reveals="test", input="int", output="list",
          params=(mpcnet.Param("bits", int, 32, "k"), mpcnet.Param("signed", bool, False, "signed")))
async def rep_argmax(ctx: Context, value: Any, *, bits: int, signed: bool) -> list[Any]:
    """Three compute parties; every other party bids one value; all learn the winner and the price."""
    from mpcnet import mpc

    rt = mpc.Runtime(ctx, compute=ctx.parties[:3])
    bidders = ctx.parties[3:]
    got = await rt.input_sliced({p: (1,) for p in bidders}, None if value is None else [value], bits=bits, signed=signed)
    onehot, price = await mpc.argmax_first(mpc.concat_sliced([got[p] for p in bidders]))
    return [(await onehot.reveal()).tolist(), (await price.reveal()).tolist()]


@given(signed=st.booleans(), data=st.data())
@settings(max_examples=15)
def test_argmax_first_gives_the_first_highest_bid_and_its_value(signed, data):
    k = data.draw(st.integers(1, 64))
    lo, hi = _bounds(k, signed)
    bids = data.draw(st.lists(st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi)), min_size=2, max_size=9))
    res = mpcnet.simulate("test-rep-argmax", [None] * 3 + bids, params={"bits": k, "signed": signed}, seed=1)
    win = bids.index(max(bids))
    for out in res.outputs:
        assert out == [[int(i == win) for i in range(len(bids))], max(bids)]
    # input, 1 + ceil(log2 k), ceil(log2(n - 1)), the one-hot AND, two openings
    n = len(bids)
    assert res.stats[0].rounds == 1 + 1 + (k - 1).bit_length() + (n - 2).bit_length() + 1 + 2


@pytest.mark.parametrize("observer", [0, 1, 2, 3])
def test_an_auction_view_depends_on_the_winner_and_price_only(observer):
    # Same winner (bid 1) and price (900) under A and B; bidder 3 (observer 3) keeps its bid.
    bids_a = [500, 900, 300, 700, 42]
    bids_b = [500, 900, 899, 0, 900]
    params = {"bits": 16, "signed": False}
    views_a = collect_views("test-rep-argmax", [None] * 3 + bids_a, params, [observer], range(RUNS))
    views_b = collect_views("test-rep-argmax", [None] * 3 + bids_b, params, [observer], range(700, 700 + RUNS))
    (layout_a, bits_a), (layout_b, bits_b) = views_a[observer], views_b[observer]
    assert layout_a == layout_b and bits_a.shape[1] > 1000
    assert different_bits(bits_a, bits_b, ALPHA).size == 0
    # A received share of an opening is uniform on the wire whatever is
    # opened (it is masked by the observer's own shares): what the observer
    # reconstructs, its output, must be the same under A and B too.
    out_a = mpcnet.simulate("test-rep-argmax", [None] * 3 + bids_a, params=params, seed=1).outputs[observer]
    out_b = mpcnet.simulate("test-rep-argmax", [None] * 3 + bids_b, params=params, seed=2).outputs[observer]
    assert out_a == out_b == [[0, 1, 0, 0, 0], 900]


# --- over TCP, under a deadline ---------------------------------------------------------

@pytest.mark.trio
async def test_comparison_over_tcp_matches_the_plaintext():
    xs, ys = list(range(-500, 500)), list(range(499, -501, -1))
    with trio.fail_after(60):
        res = await mpcnet.simulate_async("test-rep-compare", [xs, ys, None], transport="tcp",
                                          params={"bits": 16, "signed": True, "length": 1000, "ops": "lt,eq"})
    assert res.outputs[2]["lt"] == [int(a < b) for a, b in zip(xs, ys, strict=True)]
    assert res.outputs[2]["eq"] == [int(a == b) for a, b in zip(xs, ys, strict=True)]



def test_the_benchmark_runs_three_processes_and_checks_its_results(tmp_path):
    import json
    import subprocess
    import sys

    from helpers import REPO, env_with

    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_replicated.py"), "--batches", "1000",
                           "--runs", "1", "--mode", "processes,memory", "--auction", "2", "--json", str(out)],
                          capture_output=True, text=True, timeout=240, env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    compare, auction = rows[:2], rows[2:]
    assert [(r["mode"], r["batch"], r["rounds"]) for r in compare] == [("processes", 1000, 8), ("memory", 1000, 8)]
    assert all(19.25 < r["bytes_per_cmp"] < 21 for r in compare)
    # the built-in auction, 2 bids of 32 bits, 3 compute parties: on the replicated engine (auto) input,
    # 1 + ceil(log2 4) one-hot block comparison rounds, result; on Shamir input, 1 + ceil(log2 8), result
    assert [(r["engine"], r["mode"], r["runs"][0]["rounds"]) for r in auction] == [
        ("auto", "processes", 5), ("auto", "memory", 5), ("shamir", "processes", 6), ("shamir", "memory", 6)]
