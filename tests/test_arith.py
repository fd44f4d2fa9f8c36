"""Fields, Shamir sharing and boolean circuits, against plaintext."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import Context, protocol
from mpcnet.errors import ConfigError, RemoteProtocolViolation
from mpcnet.mpc.binary import from_bits, to_bits
from mpcnet.mpc.fields import GF256, P127, PrimeField
from mpcnet.mpc.shamir import ShamirEngine, lagrange_at_zero


def test_gf256_is_a_field():
    a = np.arange(256, dtype=np.uint8)
    for x in (1, 2, 3, 0x53, 0xCA, 255):
        assert np.array_equal(GF256.mul(a, np.full(256, 1, np.uint8)), a)
        if x:
            assert GF256.mul(np.array([x], np.uint8), np.array([GF256.inv_scalar(x)], np.uint8))[0] == 1
    # the AES field's textbook example: {53} * {CA} = {01}
    assert GF256.mul(np.array([0x53], np.uint8), np.array([0xCA], np.uint8))[0] == 1
    # distributivity on random elements
    rng = np.random.default_rng(1)
    x, y, z = (rng.integers(0, 256, 1000, dtype=np.uint8) for _ in range(3))
    assert np.array_equal(GF256.mul(x, y ^ z), GF256.mul(x, y) ^ GF256.mul(x, z))


@pytest.mark.parametrize("shape", [(3 * 2**15 + 5,), (1000, 70), (2**15 + 1, 2)])
def test_gf256_large_products_equal_the_table(shape):
    """Arrays above one lookup step go through the chunked path (uint16
    indices, step by step): every element must equal the 64 KiB table's
    entry, across step boundaries and for any shape."""
    rng = np.random.default_rng(7)
    a, b = (rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(2))
    assert a.size > 2**15
    want = GF256.MUL[a.astype(np.intp), b.astype(np.intp)]
    got = GF256.mul(a, b)
    assert got.shape == shape and got.dtype == np.uint8 and np.array_equal(got, want)
    for c in (0, 1, 2, 0x53, 255):
        assert np.array_equal(GF256.scale(c, a), GF256.MUL[c][a.astype(np.intp)])
    # a non-contiguous operand (a transposed view) as well
    assert np.array_equal(GF256.mul(a.T, b.T), want.T)


def test_prime_field_wire_round_trip():
    rng = mpcnet.SeededRandomness(1, 0)
    a = P127.random(100, rng).reshape(10, 10)
    assert np.all(a < P127.p)
    back = P127.from_wire(P127.to_wire(a), (10, 10), "peer")
    assert np.array_equal(back, a)
    with pytest.raises(RemoteProtocolViolation):
        P127.from_wire(P127.to_wire(a), (100,), "peer")
    with pytest.raises(ValueError):
        PrimeField(15)


@pytest.mark.parametrize("n", [341, 561, 1105, 2047, 3215031751, (2**64 + 1), 2**127 + 1, 3 * (2**61 - 1)])
def test_prime_field_refuses_pseudoprimes_and_composites(n):
    # 341 and 2047 fool a base-2 Fermat test, 561 and 1105 are Carmichael numbers,
    # 3215031751 is a strong pseudoprime to bases 2, 3, 5 and 7.
    with pytest.raises(ValueError, match="odd prime"):
        PrimeField(n)


@pytest.mark.parametrize("p", [3, 5, 41, 2**31 - 1, 2**61 - 1, 2**89 - 1, 2**127 - 1, 2**128 - 159])
def test_prime_field_accepts_primes(p):
    assert PrimeField(p).order == p


@protocol("test-mux", min_parties=3, security="test", reveals="test", input="list", output="list")
async def mux_protocol(ctx: Context, value: list) -> list:
    """Party 0 inputs selector bits, party 1 two rows of 8-bit values; opens s ? a : b."""
    from mpcnet.mpc.binary import mux

    eng = ShamirEngine(ctx, GF256)
    p0, p1 = ctx.parties[0], ctx.parties[1]
    mine = None
    if ctx.me == p0:
        mine = np.array(value, dtype=np.uint8)
    elif ctx.me == p1:
        mine = to_bits(np.array(value), 8)
    shared = await eng.input({p0: (4,), p1: (2, 4, 8)}, mine)
    a, b = shared[p1][0], shared[p1][1]
    picked = await mux(eng, shared[p0], a, b)
    return [int(v) for v in from_bits(await eng.open(picked))]


def test_mux_selects_per_element():
    s, a, b = [1, 0, 1, 0], [7, 200, 0, 255], [9, 1, 128, 3]
    out = mpcnet.simulate("test-mux", [s, [a, b], []]).outputs
    assert all(o == [7, 1, 0, 3] for o in out)


@pytest.mark.parametrize("field", [GF256, P127], ids=["gf256", "p127"])
def test_lagrange_reconstructs_polynomials(field):
    rng = mpcnet.SeededRandomness(2, 0)
    coeffs = field.random(3, rng)  # degree 2
    points = [1, 2, 3]
    values = []
    for x in points:
        acc = field.zeros(1)
        for c in reversed(list(coeffs)):
            acc = field.add(field.scale(x, acc), field.const(int(c), 1) if field is P127 else np.array([c], np.uint8))
        values.append(acc)
    lam = lagrange_at_zero(field, points)
    total = field.zeros(1)
    for l, v in zip(lam, values, strict=True):
        total = field.add(total, field.scale(l, v))
    assert int(total[0]) == int(coeffs[0])


@protocol("test-shamir-ops", min_parties=3, security="test", reveals="test", input="int", output="dict")
async def shamir_ops(ctx: Context, value: int, *, field: str = "p127") -> dict:
    """Input, add, multiply and open in a prime field and in GF(2^8)."""
    f = P127 if field == "p127" else GF256
    eng = ShamirEngine(ctx, f)
    mine = f.from_ints(np.array([value % 256]))
    shared = await eng.input({p: (1,) for p in ctx.parties}, mine)
    vals = list(shared.values())
    total = vals[0]
    for v in vals[1:]:
        total = eng.add(total, v)
    product = vals[0]
    for v in vals[1:]:
        product = await eng.mul(product, v)
    opened = await eng.open(np.concatenate([total, product]))
    return {"sum": int(opened[0]), "product": int(opened[1])}


@pytest.mark.parametrize("n", [3, 4, 5, 7])
def test_shamir_sum_and_product_in_a_prime_field(n):
    inputs = [3, 5, 7, 11, 13, 17, 19][:n]
    result = mpcnet.simulate("test-shamir-ops", inputs)
    assert result.outputs[0] == {"sum": sum(inputs), "product": int(np.prod(inputs))}


@protocol("test-shamir-two", min_parties=2, security="test", reveals="test", input="int", output="int")
async def shamir_two(ctx: Context, value: int) -> int:
    """Tries to build an engine with too few parties."""
    ShamirEngine(ctx, GF256)
    return value


def test_shamir_needs_an_honest_majority_of_at_least_three():
    with pytest.raises(ConfigError, match="at least 3 compute parties"):
        mpcnet.simulate("test-shamir-two", [1, 2])


@pytest.mark.parametrize("op", ["lt", "le", "gt", "ge", "eq", "ne"])
@given(data=st.data())
@settings(max_examples=15, deadline=None)
def test_comparisons_match_plaintext(op, data):
    bits = data.draw(st.integers(1, 64))
    signed = data.draw(st.booleans())
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    values = st.one_of(st.integers(lo, hi), st.sampled_from([lo, hi, 0 if lo <= 0 else lo, min(hi, 1)]))
    count = data.draw(st.integers(1, 12))
    xs = data.draw(st.lists(values, min_size=count, max_size=count))
    ys = data.draw(st.lists(st.one_of(values, st.sampled_from(xs)), min_size=count, max_size=count))
    n = data.draw(st.integers(3, 5))
    result = mpcnet.simulate("compare", [xs, ys] + [None] * (n - 2),
                             params={"bits": bits, "signed": signed, "op": op})
    expected = [getattr(operator, op)(x, y) for x, y in zip(xs, ys, strict=True)]
    assert all(out == expected for out in result.outputs)


@pytest.mark.parametrize("bits", [1, 2, 8, 32, 64])
def test_comparison_edge_values_exhaustively_paired(bits):
    for signed in (False, True):
        lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
        edges = sorted({lo, lo + 1 if lo + 1 <= hi else lo, 0 if lo <= 0 <= hi else lo, hi - 1 if hi - 1 >= lo else hi, hi})
        xs = [x for x in edges for _ in edges]
        ys = [y for _ in edges for y in edges]
        out = mpcnet.simulate("compare", [xs, ys, None], params={"bits": bits, "signed": signed}).outputs[0]
        assert out == [x < y for x, y in zip(xs, ys, strict=True)]


def test_comparison_rounds_do_not_grow_with_the_batch():
    small = mpcnet.simulate("compare", [[1], [2], None]).stats[0].rounds
    big = mpcnet.simulate("compare", [list(range(5000)), list(range(5000, 0, -1)), None]).stats[0].rounds
    assert small == big == 8  # input + (1 + log2 32) + open


def test_scalar_comparison_and_bad_roles():
    assert mpcnet.simulate("compare", [5, 3, None], params={"op": "gt"}).outputs == (True,) * 3
    with pytest.raises(mpcnet.InputError, match="must supply the y operand"):
        mpcnet.simulate("compare", [5, None, None])
    with pytest.raises(mpcnet.InputError, match="must supply null"):
        mpcnet.simulate("compare", [5, 3, 4])
    with pytest.raises(mpcnet.InputError, match="out of range"):
        mpcnet.simulate("compare", [5, 2**32, None])


def test_signed_scalar_comparison():
    # A single signed value (not a list) used to crash in to_bits.
    params = {"signed": True, "bits": 32}
    assert mpcnet.simulate("compare", [-1, 0, None], params=params).outputs == (True,) * 3
    assert mpcnet.simulate("compare", [-(2**31), 2**31 - 1, None], params={**params, "op": "ge"}).outputs == (False,) * 3
    assert mpcnet.simulate("compare", [-7, -7, None], params={**params, "op": "eq"}).outputs == (True,) * 3


def test_operands_of_different_lengths_name_the_other_holder():
    with pytest.raises(mpcnet.RemoteProtocolViolation, match=r"p0: \(3,\), p1: \(2,\)") as info:
        mpcnet.simulate("compare", [[1, 2, 3], [1, 2], None])
    assert info.value.peer in {"p0", "p1"}
    with pytest.raises(mpcnet.RemoteProtocolViolation, match=r"p0: one value, p1: \(2,\)"):
        mpcnet.simulate("compare", [1, [1, 2], None])


def test_bits_round_trip():
    vals = np.array([0, 1, 5, 2**63 - 1, 2**64 - 1], dtype=object)
    assert list(from_bits(to_bits(vals, 64))) == list(vals)
    assert to_bits(6, 3).tolist() == [0, 1, 1] and to_bits([[5]], 4).tolist() == [[[1, 0, 1, 0]]]
    assert to_bits([], 4).shape == (0, 4) and to_bits(2**40 + 1, 41).tolist() == [1] + [0] * 39 + [1]
    signed = np.array([-1, -(2**31), 2**31 - 1, 0], dtype=object)
    assert list(from_bits(to_bits(signed, 32, signed=True), signed=True)) == list(signed)


def test_each_comparison_message_is_a_fresh_uniform_share():
    # With x fixed, the shares p2 receives of x's bits look uniform (and differ
    # from run to run): a single share of a degree-1 polynomial reveals nothing.
    k = 4000
    result = mpcnet.simulate("compare", [[0] * k, [1] * k, None], record_views=True, params={"bits": 8, "engine": "shamir"},
                             seed=5)
    share_of_x = next(r.value for r in result.results[2].view if r.round == 1 and r.sender == "p0")
    counts = np.bincount(share_of_x.ravel(), minlength=256)
    expected = share_of_x.size / 256
    assert ((counts - expected) ** 2 / expected).sum() < 340  # chi2, 255 dof, p < 3e-4


def test_tampered_opening_is_detected():
    @protocol("test-lying-open", min_parties=3, security="test", reveals="test", input="int", output="int")
    async def lying_open(ctx: Context, value: int) -> int:
        eng = ShamirEngine(ctx, GF256)
        shared = await eng.input({ctx.parties[0]: (4,)}, np.ones(4, np.uint8) if ctx.index == 0 else None)
        share = shared[ctx.parties[0]]
        if ctx.index == 2:
            share = share ^ np.uint8(7)  # a deviating party
        return int((await eng.open(share))[0])

    with pytest.raises(RemoteProtocolViolation, match="inconsistent"):
        mpcnet.simulate("test-lying-open", [1, 1, 1, 1, 1])


# --- arithmetic <-> binary conversions ----------------------------------------

from mpcnet.mpc.binary import from_bits as _from_bits  # noqa: E402
from mpcnet.mpc.convert import bit_decompose, bits_to_field, dabits, less_than, random_elements  # noqa: E402


@protocol("test-convert", min_parties=3, security="test", reveals="test", input="list", output="dict")
async def convert_ops(ctx: Context, value: list, *, k: int = 16) -> dict:
    """Party 0 inputs signed values; decompose, compare with party 1's, convert back."""
    ep, eb = ShamirEngine(ctx, P127), ShamirEngine(ctx, GF256)
    a, b = ctx.parties[0], ctx.parties[1]
    mine = P127.from_ints(np.array(value, dtype=object)) if ctx.me in (a, b) else None
    shared = await ep.input({a: (len(value),), b: (len(value),)}, mine)
    bits = await bit_decompose(ep, eb, shared[a], k, signed=True)
    lt = await less_than(ep, eb, shared[a], shared[b], k)
    lt_p = await bits_to_field(ep, eb, lt)
    r_p, r_b, _ = await dabits(ep, eb, (200,))
    rnd = await random_elements(ep, (3,))
    opened_bits = await eb.open(bits)
    opened_lt = await eb.open(lt)
    opened_lt_p = await ep.open(lt_p)
    opened_rp, opened_rb = await ep.open(r_p), await eb.open(r_b)
    opened_rnd = await ep.open(rnd)
    return {"bits": [int(v) for v in _from_bits(opened_bits, signed=True)],
            "lt": [int(v) for v in opened_lt], "lt_p": [int(v) for v in opened_lt_p],
            "dabits_agree": bool(np.all(np.asarray(opened_rp, dtype=np.int64) == opened_rb)),
            "dabits_mixed": 0 < int(np.asarray(opened_rb).sum()) < 200,
            "random_distinct": len({int(v) for v in opened_rnd}) == 3}


@given(st.lists(st.tuples(st.integers(-(2**15), 2**15 - 1), st.integers(-(2**15), 2**15 - 1)), min_size=1, max_size=8))
@settings(max_examples=10, deadline=None)
def test_bit_decomposition_and_arithmetic_comparison(pairs):
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    out = mpcnet.simulate("test-convert", [xs, ys, [0] * len(xs)]).outputs[0]
    assert out["bits"] == xs
    assert out["lt"] == out["lt_p"] == [int(x < y) for x, y in zip(xs, ys, strict=True)]
    assert out["dabits_agree"] and out["dabits_mixed"] and out["random_distinct"]


def test_bit_decomposition_edges_with_five_parties():
    xs = [-(2**15), 2**15 - 1, 0, -1, 1]
    ys = [2**15 - 1, -(2**15), 0, 0, 1]
    out = mpcnet.simulate("test-convert", [xs, ys, [0] * 5, [0] * 5, [0] * 5]).outputs[0]
    assert out["bits"] == xs and out["lt"] == [1, 0, 0, 1, 0]


# --- one-hot comparison, reductions of sums of products, wide openings ------------

from mpcnet.mpc.binary import bits_from_onehot, greater_than_onehot, onehot_size, to_onehot  # noqa: E402


@protocol("test-onehot-compare", min_parties=3, security="test", reveals="test", input="list", output="list",
          params=(mpcnet.Param("k", int, 32, "bits"), mpcnet.Param("count", int, 0, "values per party"),
                  mpcnet.Param("field", str, "gf256", "gf256 or p127")))
async def onehot_compare(ctx: Context, value: list, *, k: int, count: int, field: str) -> list:
    """Party 0 inputs xs, party 1 ys (one-hot); everyone learns [x > y] and party 0's bits."""
    f = GF256 if field == "gf256" else P127
    eng = ShamirEngine(ctx, f)
    a, b = ctx.parties[0], ctx.parties[1]
    size = onehot_size(k)
    mine = f.from_ints(to_onehot(value, k)) if ctx.me in (a, b) else None
    shared = await eng.input({a: (count, size), b: (count, size)}, mine)
    gt = await greater_than_onehot(eng, shared[a], shared[b], k)
    opened = await eng.open(np.concatenate([gt[:, None], bits_from_onehot(shared[a], k, f)], axis=1))
    return [int(v) for v in opened[:, 0]] + [int(v) for v in _from_bits(np.asarray(opened[:, 1:], dtype=np.int64))]


@given(data=st.data())
@settings(max_examples=20, deadline=None)
def test_onehot_comparison_matches_plaintext(data):
    k = data.draw(st.integers(1, 64))
    values = st.one_of(st.integers(0, 2**k - 1), st.sampled_from([0, 1, 2**k - 1, max(0, 2**k - 2)]))
    count = data.draw(st.integers(1, 10))
    xs = data.draw(st.lists(values, min_size=count, max_size=count))
    ys = data.draw(st.lists(st.one_of(values, st.sampled_from(xs)), min_size=count, max_size=count))
    n = data.draw(st.integers(3, 5))
    field = data.draw(st.sampled_from(["gf256", "p127"]))
    out = mpcnet.simulate("test-onehot-compare", [xs, ys] + [None] * (n - 2),
                          params={"k": k, "count": count, "field": field})
    expect = [int(x > y) for x, y in zip(xs, ys, strict=True)] + xs
    assert all(o == expect for o in out.outputs)
    # 1 input + (1 + ceil(log2 ceil(k/4))) comparison + 1 open
    assert out.stats[0].rounds == 3 + math.ceil(math.log2(-(-k // 4)))


@protocol("test-wide-open", min_parties=3, security="test", reveals="test", input="int", output="dict",
          params=(mpcnet.Param("lie", int, -1, "index of a party that adds 1 to its opened shares"),))
async def wide_open(ctx: Context, value: int, *, lie: int) -> dict:
    """Inner products reduced in one round, and opened wide with masks."""
    eng = ShamirEngine(ctx, GF256)
    a, b = ctx.parties[0], ctx.parties[1]
    x = np.array([3, 0, 7, 1], np.uint8)
    y = np.array([5, 9, 2, 1], np.uint8)
    shared = await eng.input({a: (4,), b: (4,)}, x if ctx.me == a else y if ctx.me == b else None)
    dot_wide = np.bitwise_xor.reduce(GF256.mul(shared[a], shared[b]))[None]
    (dot,) = await eng.reduce_many([dot_wide], masks=5)
    assert eng.masks_available == 5
    wide = np.concatenate([dot_wide, GF256.mul(shared[a], shared[b])])
    if ctx.index == lie:
        wide = wide ^ np.uint8(1)
    opened_wide = await eng.open_wide(wide)
    opened = await eng.open(dot)
    return {"dot": int(opened[0]), "wide": [int(v) for v in opened_wide], "left": eng.masks_available}


def test_reduce_many_and_open_wide():
    x, y = np.array([3, 0, 7, 1], np.uint8), np.array([5, 9, 2, 1], np.uint8)
    products = GF256.mul(x, y)
    dot = int(np.bitwise_xor.reduce(products))
    for n in (3, 4, 5):
        out = mpcnet.simulate("test-wide-open", [0] * n).outputs
        assert all(o == {"dot": dot, "wide": [dot, *map(int, products)], "left": 0} for o in out)
    # with 5 compute parties (t = 2) a deviating share is caught: 5 > 2t + 1 points
    with pytest.raises(RemoteProtocolViolation, match="inconsistent"):
        mpcnet.simulate("test-wide-open", [0] * 6, params={"lie": 5})


@protocol("test-wide-no-masks", min_parties=3, security="test", reveals="test", input="int", output="int")
async def wide_no_masks(ctx: Context, value: int) -> int:
    eng = ShamirEngine(ctx, GF256)
    await eng.open_wide(np.zeros(3, np.uint8))
    return 0


def test_open_wide_needs_masks_set_aside():
    with pytest.raises(mpcnet.LocalProtocolViolation, match="needs as many zero masks"):
        mpcnet.simulate("test-wide-no-masks", [0, 0, 0])


@protocol("test-keyed-extras", min_parties=3, security="test", reveals="test (its masks' shares)", input="int",
          output="dict", params=(mpcnet.Param("field", str, "gf256", "gf256 or p127"),))
async def keyed_extras(ctx: Context, value: int, *, field: str) -> dict:
    """Masks and randoms from pairwise keys; opens the randoms and returns the
    masks' shares (a test may look at them; a protocol never would)."""
    f = GF256 if field == "gf256" else P127
    eng = ShamirEngine(ctx, f)
    eng.extras_from_keys(4, 6, "test")
    randoms = eng.take_randoms(6)
    opened = await eng.open(randoms)  # checks the third share lies on the degree-1 polynomial
    masks = eng._masks  # the test inspects the set-aside zero masks
    return {"randoms": [int(v) for v in opened], "masks": [int(v) for v in masks]}


@pytest.mark.parametrize("field", ["gf256", "p127"])
def test_extras_from_keys_are_valid_sharings_of_random_values_and_of_zero(field):
    f = GF256 if field == "gf256" else P127
    # Seeded (the pair secrets come from the seed): over GF(2^8) a random
    # zero mask is the zero polynomial with probability 2^-16, which the
    # "not the zero one" check below would otherwise hit now and then.
    outs = mpcnet.simulate("test-keyed-extras", [0, 0, 0], params={"field": field}, seed=1).outputs
    assert all(o["randoms"] == outs[0]["randoms"] for o in outs)  # one consistent opening
    lam = lagrange_at_zero(f, [1, 2, 3])  # degree 2 from all three shares
    for q in range(4):
        shares = [o["masks"][q] for o in outs]
        if field == "gf256":
            value = int(np.bitwise_xor.reduce(GF256.mul(np.array(lam, np.uint8), np.array(shares, np.uint8))))
        else:
            value = sum(a * b for a, b in zip(lam, shares, strict=True)) % P127.p
        assert value == 0
        assert len(set(shares)) > 1  # a random polynomial, not the zero one
    again = mpcnet.simulate("test-keyed-extras", [0, 0, 0], params={"field": field}, seed=2).outputs
    assert again[0]["randoms"] != outs[0]["randoms"]  # other keys, other values
    fresh = mpcnet.simulate("test-keyed-extras", [0, 0, 0], params={"field": field}).outputs
    assert fresh[0]["randoms"] != outs[0]["randoms"]  # OS keys: 6 random elements differ but with p <= 2^-48


def test_extras_from_keys_need_three_compute_parties_and_a_fresh_label():
    with pytest.raises(ConfigError, match="exactly 3 compute parties"):
        mpcnet.simulate("test-keyed-extras", [0, 0, 0, 0])

    @protocol("test-keyed-extras-twice", min_parties=3, security="test", reveals="test", input="int", output="int")
    async def twice(ctx: Context, value: int) -> int:
        ShamirEngine(ctx, GF256).extras_from_keys(1, 1, "same")
        ShamirEngine(ctx, P127).extras_from_keys(1, 1, "same")  # another engine, another field: still refused
        return 0

    with pytest.raises(mpcnet.LocalProtocolViolation, match="already used in this session"):
        mpcnet.simulate("test-keyed-extras-twice", [0, 0, 0])


# --- pinned: the statistical security of the bit decomposition's mask ------------

import mpcnet.mpc.convert  # noqa: E402


@protocol("test-decompose-width", min_parties=3, security="test", reveals="test", input="int", output="int",
          params=(mpcnet.Param("k", int, 16, "bits"),))
async def decompose_width(ctx: Context, value: int, *, k: int) -> int:
    """Party 0's value decomposed into ``k`` shared bits, opened and put together again."""
    ep, eb = ShamirEngine(ctx, P127), ShamirEngine(ctx, GF256)
    a = ctx.parties[0]
    shared = await ep.input({a: (1,)}, P127.from_ints(np.array([value], dtype=object)) if ctx.me == a else None)
    bits = np.asarray(await eb.open(await bit_decompose(ep, eb, shared[a], k)), dtype=np.int64)[0]
    return sum(int(b) << j for j, b in enumerate(bits))


def test_bit_decomposition_masks_with_40_bits_of_statistical_security():
    # The mask's 40 extra random bits, the contributors' carries and a sign
    # bit must fit under the 127-bit prime: with 3 parties (2 contributors)
    # that leaves k = 82 bits, and not one more.
    assert mpcnet.mpc.convert.STATISTICAL_SECURITY == 40
    assert mpcnet.simulate("test-decompose-width", [2**82 - 5, 0, 0], params={"k": 82}).outputs[0] == 2**82 - 5
    with pytest.raises(ConfigError, match="83-bit values with 40 bits of statistical security"):
        mpcnet.simulate("test-decompose-width", [1, 0, 0], params={"k": 83})


class _RecordingEngine(ShamirEngine):
    """A Shamir engine that keeps what it opens."""

    opened: list

    async def open(self, a, to=None):
        out = await super().open(a, to)
        self.__dict__.setdefault("opened", []).append(out)
        return out


@protocol("test-decompose-mask", min_parties=3, security="test", reveals="the masked value", input="null",
          output="list")
async def decompose_mask(ctx: Context, value: None) -> list[int]:
    """The masked value c = x + r + 2^k * hi that bit_decompose opens, for 200 zeros (k = 16)."""
    ep, eb = _RecordingEngine(ctx, P127), ShamirEngine(ctx, GF256)
    await bit_decompose(ep, eb, P127.from_ints(np.zeros(200, dtype=object)), 16)
    [c] = ep.opened
    return [int(v) for v in c]


def test_the_opened_mask_carries_40_random_bits_above_the_value():
    # Each of the 2 contributors adds a uniform 40-bit hi, so hi sums to
    # under 2^41, and reaches 2^40 half the time: over 200 values, missing it
    # (or exceeding 2^41) has probability 2^-200 unless hi has other than 40 bits.
    high = [c >> 16 for c in mpcnet.simulate("test-decompose-mask", [None] * 3).outputs[0]]
    assert 2**40 <= max(high) < 2**41 + 1


def test_the_opened_mask_hides_every_bit_of_the_value():
    # The low k = 16 bits of c are those of x + r, r the daBits' uniform
    # k-bit value: a fair coin in every position, whatever x is (all 0
    # here). Each position must be 1 in 50..150 of the 200 values (7
    # standard deviations: honest code fails with p < 1e-10 over all 16);
    # a mask without r opens x's own bits, all 0 here.
    low = np.array([c % 2**16 for c in mpcnet.simulate("test-decompose-mask", [None] * 3).outputs[0]])
    ones = [int(((low >> j) & 1).sum()) for j in range(16)]
    assert all(50 <= count <= 150 for count in ones), ones


def test_p127_capacity_is_the_one_stated_in_convert():
    # The figures of mpcnet.mpc.convert's docstring (the one statement of them).
    from mpcnet.mpc.convert import max_decompose_bits

    assert [max_decompose_bits(P127, t) for t in (1, 2, 3, 6, 7, 14, 15, 30, 127)] == [82, 82, 81, 81, 80, 80, 79, 79, 76]
