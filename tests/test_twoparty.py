"""The two-party engine (mpcnet.mpc.twoparty): triples, ANDs, the
millionaires leaves, products mod 2^64 and A2B against plaintext; compare and
auction with two parties over memory and TCP; the views; malformed messages.

Runs go through mpcnet.simulate_async under an absolute trio.fail_after.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import Context, Party, protocol
from mpcnet._net.transport import memory_mesh
from mpcnet.errors import RemoteProtocolViolation
from mpcnet.mpc import bitcircuits, twoparty
from mpcnet.mpc.bitslice import pack, unpack, words_for
from mpcnet.mpc.twoparty import TwoPartyEngine, millionaires_ots, tree_ands, tree_pairs

from helpers import collect_views, different_bits, simulate_within

DEADLINE = 60


def run(name: str, inputs: list[Any], **kw: Any) -> mpcnet.SimulationResult:
    return simulate_within(name, inputs, DEADLINE, **kw)



async def each_party(party: Any, names: Any = ("p0", "p1")) -> None:
    """Runs ``party(name)`` for every name at once, within DEADLINE."""
    with trio.fail_after(DEADLINE):
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(party, name)

@protocol("test-2p-engine", min_parties=2, max_parties=2, security="test", reveals="test", input="dict",
          output="dict")
async def engine_protocol(ctx: Context, value: dict[str, Any]) -> dict[str, Any]:
    """``{"op": ..., ...}``: each party returns its shares (the test combines them)."""
    eng = TwoPartyEngine(ctx)
    op = value["op"]
    if op == "triples":
        await eng.prepare(and_words=value["words"])
        a, b, c = eng._take_triples(value["words"])
        return {"a": a, "b": b, "c": c}
    if op == "pairs":
        await eng.prepare(pair_words=value["words"])
        a, b1, b2, c1, c2 = eng._pairs[:, :value["words"]]
        return {"a": a, "b1": b1, "b2": b2, "c1": c1, "c2": c2}
    if op == "and":
        await eng.prepare(and_words=3, pair_words=2)
        x, y = np.asarray(value["x"], dtype=np.uint64), np.asarray(value["y"], dtype=np.uint64)
        p1, p2 = await eng.and_pair(x, y, ~y)
        return {"z": await eng.and_(x, y), "z2": (await eng.and_many([(x, y), (y[:1], x[:1])]))[1],
                "p1": p1, "p2": p2}
    if op == "millionaires":
        m, k = value["m"], value["k"]
        mine = np.asarray(value["v"], dtype=np.uint64)
        if value.get("prepare", True):
            send, recv = millionaires_ots(k, m, ctx.index == 0)
            await eng.prepare(leaf_send=send, leaf_recv=recv)
        g, e = await eng.millionaires(ctx.parties[0], mine, m, k)
        lt = await bitcircuits.prefix_top(eng, g, e)
        eqs = e
        while eqs.shape[0] > 1:
            n = eqs.shape[0]
            both = await eng.and_(eqs[0:2 * (n // 2):2], eqs[1:2 * (n // 2):2])
            eqs = np.concatenate([both, eqs[n - 1:n]]) if n % 2 else both
        return {"lt": lt, "eq": eqs, "report": eng.report()}
    if op == "mul":
        return {"z": await eng.mul(np.asarray(value["x"], dtype=np.uint64), np.asarray(value["y"], dtype=np.uint64))}
    if op == "a2b":
        return {"z": await eng.to_bits(np.asarray(value["x"], dtype=np.uint64), value["k"])}
    if op == "b2a":
        await eng.prepare()  # the OT setup (one round), before the inputs
        start = ctx.round
        z = await eng.from_bits(np.asarray(value["planes"], dtype=np.uint64), value["m"], signed=value["signed"])
        return {"z": z, "rounds": ctx.round - start}
    raise AssertionError(op)


def test_paired_triples_are_correct():
    out = run("test-2p-engine", [{"op": "pairs", "words": 40}] * 2).outputs
    a, b1, b2, c1, c2 = (out[0][n] ^ out[1][n] for n in ("a", "b1", "b2", "c1", "c2"))
    assert np.array_equal(c1, a & b1) and np.array_equal(c2, a & b2)
    assert a.any() and b1.any() and b2.any() and not np.array_equal(b1, b2)
    assert tree_pairs(8) == 7 and tree_pairs(6) == 5 and tree_pairs(1) == 0


def test_triples_are_correct():
    out = run("test-2p-engine", [{"op": "triples", "words": 40}] * 2).outputs
    a = out[0]["a"] ^ out[1]["a"]
    b = out[0]["b"] ^ out[1]["b"]
    c = out[0]["c"] ^ out[1]["c"]
    assert np.array_equal(c, a & b)
    # the triples are not trivial (a and b vary)
    assert a.any() and b.any() and (~a).any()


def test_and_matches_plaintext():
    rng = np.random.default_rng(1)
    x0, x1, y0, y1 = (rng.integers(0, 2**63, 5, dtype=np.uint64) * 2 + 1 for _ in range(4))
    out = run("test-2p-engine", [{"op": "and", "x": x0, "y": y0}, {"op": "and", "x": x1, "y": y1}]).outputs
    assert np.array_equal(out[0]["z"] ^ out[1]["z"], (x0 ^ x1) & (y0 ^ y1))
    assert np.array_equal(out[0]["z2"] ^ out[1]["z2"], ((x0 ^ x1) & (y0 ^ y1))[:1])
    # paired ANDs: x AND y, x AND NOT y (y's shares: ~y0 at p0, ~y1 at p1 is y again: NOT of both shares)
    assert np.array_equal(out[0]["p1"] ^ out[1]["p1"], (x0 ^ x1) & (y0 ^ y1))
    assert np.array_equal(out[0]["p2"] ^ out[1]["p2"], (x0 ^ x1) & (~y0 ^ ~y1))


@pytest.mark.parametrize("prepare", [True, False])
@pytest.mark.parametrize("k", [1, 3, 4, 5, 32, 64])
def test_millionaires_leaves(k: int, prepare: bool):
    rng = np.random.default_rng(k)
    m = 150
    hi = 2**k
    x = rng.integers(0, hi, m, dtype=np.uint64) if k < 64 else rng.integers(0, 2**63, m, dtype=np.uint64) * 2
    y = rng.integers(0, hi, m, dtype=np.uint64) if k < 64 else rng.integers(0, 2**63, m, dtype=np.uint64) * 2
    y[:20] = x[:20]  # ties
    y[20:30] = x[20:30] + np.uint64(1) if k > 1 else y[20:30]
    y[20:30] &= np.uint64(hi - 1) if k < 64 else np.uint64(2**64 - 1)
    out = run("test-2p-engine", [{"op": "millionaires", "m": m, "k": k, "v": x, "prepare": prepare},
                                 {"op": "millionaires", "m": m, "k": k, "v": y, "prepare": prepare}]).outputs
    lt = unpack(out[0]["lt"] ^ out[1]["lt"], m)
    eq = unpack(out[0]["eq"] ^ out[1]["eq"], m)
    assert lt.tolist() == (x < y).astype(int).tolist()
    assert eq.tolist() == (x == y).astype(int).tolist()
    report = out[0]["report"]
    assert report["triples_used"] >= tree_ands(-(-k // 4)) * 64 * words_for(m) // 64


def test_mul_matches_plaintext():
    rng = np.random.default_rng(5)
    x0, x1, y0, y1 = (rng.integers(0, 2**63, 7, dtype=np.uint64) * 3 for _ in range(4))
    out = run("test-2p-engine", [{"op": "mul", "x": x0, "y": y0}, {"op": "mul", "x": x1, "y": y1}]).outputs
    with np.errstate(over="ignore"):
        assert np.array_equal(out[0]["z"] + out[1]["z"], (x0 + x1) * (y0 + y1))


_EDGES = st.sampled_from([0, 1, 2**63 - 1, 2**63, 2**64 - 1])


@settings(max_examples=10, deadline=None)
@given(v=st.lists(st.tuples(*[st.one_of(st.integers(0, 2**64 - 1), _EDGES)] * 4), min_size=1, max_size=6))
def test_mul_wraps_around_mod_2_64(v: list[tuple[int, int, int, int]]):
    x0, x1, y0, y1 = (np.array(c, dtype=np.uint64) for c in zip(*v, strict=True))
    out = run("test-2p-engine", [{"op": "mul", "x": x0, "y": y0}, {"op": "mul", "x": x1, "y": y1}]).outputs
    with np.errstate(over="ignore"):
        got = (out[0]["z"] + out[1]["z"]).tolist()
    assert got == [((a + b) * (c + d)) % 2**64 for a, b, c, d in zip(*(u.tolist() for u in (x0, x1, y0, y1)),
                                                                       strict=True)]


@pytest.mark.parametrize("k", [1, 7, 64])
def test_a2b_matches_plaintext(k: int):
    rng = np.random.default_rng(k)
    x0, x1 = (rng.integers(0, 2**63, 70, dtype=np.uint64) * 2 + 1 for _ in range(2))
    out = run("test-2p-engine", [{"op": "a2b", "x": x0, "k": k}, {"op": "a2b", "x": x1, "k": k}]).outputs
    with np.errstate(over="ignore"):
        want = (x0 + x1) & np.uint64(2**k - 1 if k < 64 else 2**64 - 1)
    assert np.array_equal(unpack(out[0]["z"] ^ out[1]["z"], 70), want)


@settings(max_examples=15, deadline=None)
@given(k=st.integers(1, 64), signed=st.booleans(), m=st.integers(1, 70), seed=st.integers(0, 2**32 - 1))
def test_b2a_matches_plaintext(k: int, signed: bool, m: int, seed: int):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**63, m, dtype=np.uint64) * 2 + rng.integers(0, 2, m, dtype=np.uint64)
    x[: m // 3] = np.uint64(2**64 - 1)  # all ones: the top bit set (negative when signed)
    x &= np.uint64(2**k - 1 if k < 64 else 2**64 - 1)
    mask = rng.integers(0, 2**63, m, dtype=np.uint64) * 2 + 1
    planes0, planes1 = pack(x ^ mask, k), pack(mask, k)
    out = run("test-2p-engine", [{"op": "b2a", "planes": planes0, "m": m, "signed": signed},
                                 {"op": "b2a", "planes": planes1, "m": m, "signed": signed}]).outputs
    with np.errstate(over="ignore"):
        got = out[0]["z"] + out[1]["z"]
    want = unpack(pack(x, k), m, signed=signed).view(np.uint64)
    assert np.array_equal(got, want)
    assert out[0]["rounds"] == out[1]["rounds"] == 2


# --- compare with two parties against plaintext -----------------------------------------

OPS = {"lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b,
       "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b}


@st.composite
def operands(draw: Any) -> tuple[int, bool, list[int], list[int]]:
    k = draw(st.integers(1, 64))
    signed = draw(st.booleans())
    lo, hi = (-(1 << (k - 1)), (1 << (k - 1)) - 1) if signed else (0, (1 << k) - 1)
    edges = st.sampled_from(sorted({lo, hi, 0 if signed else lo, min(hi, lo + 1), max(lo, hi - 1)}))
    value = st.one_of(st.integers(lo, hi), edges)
    n = draw(st.integers(1, 6))
    x = draw(st.lists(value, min_size=n, max_size=n))
    y = draw(st.lists(value, min_size=n, max_size=n))
    # ties and neighbours
    y[0] = x[0]
    return k, signed, x, y


@settings(max_examples=25, deadline=None)
@given(case=operands(), op=st.sampled_from(sorted(OPS)))
def test_compare_two_parties_matches_plaintext(case: tuple[int, bool, list[int], list[int]], op: str):
    k, signed, x, y = case
    out = run("compare", [x, y], params={"bits": k, "signed": signed, "op": op}).outputs
    want = [OPS[op](a, b) for a, b in zip(x, y, strict=True)]
    assert list(out) == [want, want]


def test_compare_and_auction_take_two_parties():
    # what `mpcnet protocols` shows ("2+ parties")
    assert mpcnet.get_protocol("compare").min_parties == 2
    assert mpcnet.get_protocol("auction").min_parties == 2
    with pytest.raises(mpcnet.InputError, match="out of range"):
        run("compare", [5, 2**32], params={"bits": 32})


def test_compare_two_parties_single_values_and_tcp():
    for transport in ("memory", "tcp"):
        out = run("compare", [2**31, 2**31 - 1], params={"op": "gt"}, transport=transport).outputs
        assert list(out) == [True, True]
        out = run("compare", [-5, -5], params={"op": "eq", "signed": True, "bits": 8}, transport=transport).outputs
        assert list(out) == [True, True]


def test_compare_two_parties_lengths_differ_names_the_peer():
    with pytest.raises(BaseException) as info:
        run("compare", [[1, 2, 3], [1, 2]])
    errors = info.value.exceptions if isinstance(info.value, BaseExceptionGroup) else [info.value]
    text = " ".join(str(e) for e in errors)
    assert "differ in length" in text and ("p0" in text and "p1" in text)


# --- auction with two bidders against plaintext -----------------------------------------

def plain_auction(bids: list[list[int]], second: bool) -> tuple[int, int, int]:
    """(winner party, price, position) by the rules: highest bid wins, ties to the lowest (party, position)."""
    flat = [(b, -p, -i) for p, mine in enumerate(bids) for i, b in enumerate(mine)]
    best = max(flat)
    rest = sorted(flat, reverse=True)[1][0]
    return -best[1], rest if second else best[0], -best[2]


@settings(max_examples=20, deadline=None)
@given(k=st.integers(1, 64), second=st.booleans(), data=st.data())
def test_auction_two_bidders_matches_plaintext(k: int, second: bool, data: Any):
    bid = st.one_of(st.integers(0, 2**k - 1), st.sampled_from([0, 2**k - 1]))
    several = data.draw(st.booleans())
    bids = [data.draw(st.lists(bid, min_size=1, max_size=4 if several else 1)) for _ in range(2)]
    if data.draw(st.booleans()):
        bids[1][0] = bids[0][0]  # a tie between the parties
    params: dict[str, Any] = {"bits": k, "kind": "second-price" if second else "first-price"}
    if several:
        params["bids"] = len(bids[0]) + len(bids[1])
        if len(bids[0]) < len(bids[1]):  # the first bids mod m bidders hold one more
            bids = [bids[0] + bids[1][len(bids[0]):], bids[1][:len(bids[0])]]
        while len(bids[0]) > len(bids[1]) + 1:
            bids[1].append(bids[0].pop())
    inputs: list[Any] = bids if several else [bids[0][0], bids[1][0]]
    out = run("auction", inputs, params=params).outputs
    winner, price, position = plain_auction(bids, second)
    want: dict[str, int] = {"winner": winner, "price": price}
    if several:
        want["bid"] = position
    assert list(out) == [want, want]


def test_auction_two_bidders_tcp_and_refusals():
    out = run("auction", [7, 9], params={"kind": "second-price"}, transport="tcp").outputs
    assert list(out) == [{"winner": 1, "price": 7}] * 2
    with pytest.raises(mpcnet.ConfigError, match="method and engine must be auto"):
        run("auction", [7, 9], params={"method": "all-pairs"})


# --- views: seeded statistical tests (tests/helpers.py, as in test_ot.py) -----------------
#
# RUNS seeded runs per secret. A view bit that is a function of the secret
# has permutation p-value 2 / C(2 RUNS, RUNS) = 6e-14, far below ALPHA / bits
# (under 10^5 bits): such a leak is found. The two secrets give the same
# output, which the view may (and does) contain.

RUNS = 24
ALPHA = 1e-3


@pytest.mark.parametrize("who", [0, 1])
def test_compare_view_does_not_depend_on_the_other_input(who: int):
    mine = [5, 100, 7]
    secrets = ([9, 200, 8], [2**32 - 1, 101, 1000])  # the same results: all x < y
    views = []
    for i, other in enumerate(secrets):
        inputs = [mine, other] if who == 0 else [other, [v + 300 for v in mine]]
        seeds = range(i * RUNS, (i + 1) * RUNS)
        views.append(collect_views("compare", inputs, {}, [who], seeds)[who])
    assert views[0][0] == views[1][0]  # same message layout
    assert different_bits(views[0][1], views[1][1], ALPHA).size == 0


@pytest.mark.parametrize("op", ["b2a", "mul"])
@pytest.mark.parametrize("who", [0, 1])
def test_b2a_and_mul_views_do_not_depend_on_the_other_share(op: str, who: int):
    """What a party receives in B2A (from_bits) and in Gilboa's product is
    independent of the other party's share (its bits, its factor)."""
    m, k = 3, 16
    mine = np.array([5, 40000, 7], dtype=np.uint64)
    secrets = (np.array([0, 0, 0], dtype=np.uint64), np.array([0xFFFF, 0x1234, 0x8001], dtype=np.uint64))

    def args(v: np.ndarray) -> dict[str, Any]:
        if op == "b2a":
            return {"op": op, "planes": pack(v, k), "m": m, "signed": True}
        return {"op": op, "x": v, "y": v * np.uint64(3)}

    views = []
    for i, other in enumerate(secrets):
        inputs = [args(mine), args(other)] if who == 0 else [args(other), args(mine)]
        seeds = range(i * RUNS, (i + 1) * RUNS)
        views.append(collect_views("test-2p-engine", inputs, {}, [who], seeds)[who])
    assert views[0][0] == views[1][0]
    assert views[0][1].shape[1] > 1000  # the OT messages are in the view
    assert different_bits(views[0][1], views[1][1], ALPHA).size == 0


# --- malformed engine messages from a peer ------------------------------------------------

@protocol("test-2p-evil", min_parties=2, max_parties=2, security="test", reveals="test", input="str",
          output="dict")
async def evil_engine(ctx: Context, value: str) -> dict[str, Any]:
    """p0 runs the engine honestly; p1 follows it until it sends what ``value`` says."""
    eng = TwoPartyEngine(ctx)
    m = 70
    send, recv = millionaires_ots(8, m, ctx.index == 0)
    await eng.prepare(and_words=4, leaf_send=send, leaf_recv=recv)
    if ctx.index == 0 and value.startswith("tau"):
        await eng.from_bits(np.zeros((8, words_for(m)), np.uint64), m)
        return {}
    if ctx.index == 0:
        g, e = await eng.millionaires("p0", np.arange(m, dtype=np.uint64), m, 8)
        await eng.and_(g, e)
        return {}
    if value.startswith("tau"):  # B2A: the OT extension round honestly, then a bad correlation message
        ot = await eng._duplex()
        half = -(-(m * 8) // 2)
        await ot.random(m * 8 - half, np.zeros(half, np.uint8), 8)
        bad_tau = {"tau-shape": np.zeros((m * 8 - half + 1, 1), np.uint64),
                   "tau-dtype": np.zeros((m * 8 - half, 1), np.uint32)}
        await ctx.send("p0", bad_tau[value])
    elif value == "d-range":
        await ctx.send("p0", np.full(m, 16, dtype=np.uint8))
    elif value == "d-shape":
        await ctx.send("p0", np.zeros(m + 1, dtype=np.uint8))
    else:
        await eng.millionaires("p0", np.arange(m, dtype=np.uint64), m, 8)
        bad = {"and-shape": np.zeros((2, 3), np.uint64), "and-dtype": np.zeros((2, 4), np.uint32),
               "and-list": [1, 2]}
        await ctx.send("p0", bad[value])
    await trio.sleep(0)
    return {}


@pytest.mark.parametrize(("attack", "message"), [
    ("d-range", r"lie in \[0, 15\]"), ("d-shape", "shape"),
    ("and-shape", "shape"), ("and-dtype", "uint64"), ("and-list", "uint64"),
    ("tau-shape", "shape"), ("tau-dtype", "uint64"),
])
def test_malformed_engine_message_names_the_peer(attack: str, message: str):
    with pytest.raises(BaseException) as caught:
        run("test-2p-evil", [attack, attack])
    errors = caught.value.exceptions if isinstance(caught.value, BaseExceptionGroup) else [caught.value]
    mine = [e for e in errors if isinstance(e, RemoteProtocolViolation)]
    assert mine and mine[0].peer == "p1", errors
    assert __import__("re").search(message, str(mine[0]))


@pytest.mark.parametrize(("kind", "who", "mine", "secrets"), [
    ("first-price", 0, 100, (5, 50)),       # the winner's view, whatever the loser bid below it
    ("second-price", 1, 5, (100, 200)),     # the loser's view: the price is its own bid either way
])
def test_two_bidder_auction_view_does_not_depend_on_the_other_bid(kind: str, who: int, mine: int,
                                                                 secrets: tuple[int, int]):
    views = []
    for i, other in enumerate(secrets):
        inputs = [mine, other] if who == 0 else [other, mine]
        seeds = range(i * RUNS, (i + 1) * RUNS)
        views.append(collect_views("auction", inputs, {"kind": kind}, [who], seeds)[who])
    assert views[0][0] == views[1][0]
    assert different_bits(views[0][1], views[1][1], ALPHA).size == 0


# --- the OT extension kept from session to session on one link ---------------------------

async def _sessions(mesh: Any, plan: list[tuple[str, list[int], list[int]]], forget_between: bool = False,
                    batch: int = 1) -> list[tuple[Any, Any]]:
    """Run compare sessions on one pair of Party objects, ``batch`` at a time
    concurrently; per session (p0's result, p1's result)."""
    names = ["p0", "p1"]
    results: dict[tuple[int, str], Any] = {}

    async def one(p: Party, name: str, i: int) -> None:
        sid, x, y = plan[i]
        results[(i, name)] = await p.run("compare", x if name == "p0" else y, session_id=sid, round_timeout=20)

    async def party(name: str) -> None:
        async with Party(name, names, mesh[name]) as p:
            for start in range(0, len(plan), batch):
                async with trio.open_nursery() as nursery:
                    for i in range(start, min(len(plan), start + batch)):
                        nursery.start_soon(one, p, name, i)
                if forget_between and name == "p1":
                    # as if p1 had restarted: its kept extension is gone, p0 still holds its own
                    for key in [k for k in twoparty._KEPT if k[0] == "p1"]:
                        del twoparty._KEPT[key]

    await each_party(party, names)
    return [(results[(i, "p0")], results[(i, "p1")]) for i in range(len(plan))]


@pytest.mark.trio
async def test_later_sessions_on_a_link_reuse_the_ot_extension():
    twoparty._KEPT.clear()
    rng = np.random.default_rng(3)
    plan = [(f"s{i}", rng.integers(0, 2**32, 50).tolist(), rng.integers(0, 2**32, 50).tolist()) for i in range(3)]
    out = await _sessions(memory_mesh(["p0", "p1"]), plan)
    for (a, b), (_, x, y) in zip(out, plan, strict=True):
        assert a.output == b.output == [u < v for u, v in zip(x, y, strict=True)]
    rounds = [a.stats.rounds for a, _ in out]
    # the base-OT round only in the first session; later ones carry their offline OTs and the
    # millionaires protocol's first message in the tag round
    assert rounds == [9, 6, 6]
    assert out[1][0].stats.bytes_sent < out[0][0].stats.bytes_sent - 5000  # no base-OT messages
    # a new link (another mesh) does not find the old extension
    out = await _sessions(memory_mesh(["p0", "p1"]), plan[:1])
    assert out[0][0].stats.rounds == 9


@pytest.mark.trio
async def test_a_party_that_lost_its_extension_makes_new_base_ots():
    twoparty._KEPT.clear()
    plan = [("a", [1, 7], [2, 3]), ("b", [5, 5], [5, 6]), ("c", [9, 0], [1, 1])]
    out = await _sessions(memory_mesh(["p0", "p1"]), plan, forget_between=True)
    assert [(a.output, b.output) for a, b in out] == [([True, False],) * 2, ([False, True],) * 2,
                                                       ([False, True],) * 2]
    assert [a.stats.rounds for a, _ in out] == [9, 9, 9]  # the tags differ: fresh base OTs each time


@protocol("test-2p-early", min_parties=2, max_parties=2, security="test", reveals="test", input="bool or 'bad'",
          output="int")
async def early_protocol(ctx: Context, value: bool | str) -> int:
    """An engine session whose tag round carries its offline OTs from the parties with ``value`` True
    only ('bad': a malformed message instead); returns the rounds its prepare() took."""
    eng = TwoPartyEngine(ctx, label="early")
    sizes = {"pair_words": 1, "leaf_send": 8, "leaf_recv": 8}
    tag, early = eng.offer_kept_with_ots(**sizes) if value else (eng.offer_kept(), None)
    if value == "bad":
        early = [np.zeros((128, 3), np.uint8)]
    got = (await ctx.exchange({ctx.peers[0]: [tag, early]}))[ctx.peers[0]]
    eng.accept_kept(tag, got[0], got[1])
    before = ctx.round
    await eng.prepare(**sizes)
    eng.keep()
    return ctx.round - before


@pytest.mark.trio
async def test_offline_ots_in_the_tag_round_from_one_end_only_name_the_peer():
    twoparty._KEPT.clear()
    names = ["p0", "p1"]
    mesh = memory_mesh(names)
    out: dict[str, list[Any]] = {"p0": [], "p1": []}

    async def party(name: str) -> None:
        async with Party(name, names, mesh[name]) as p:
            # bare link: base OTs and the offline round; then both on the kept extension: no round of its own
            for sid in ("bare", "kept"):
                out[name].append((await p.run("test-2p-early", True, session_id=sid, round_timeout=5)).output)
            try:  # p1 sends no offline OTs with the same tag
                await p.run("test-2p-early", name == "p0", session_id="one-sided", round_timeout=5)
            except mpcnet.MPCError as exc:
                out[name].append(exc)
            # a fresh extension on the link (the failed session kept none), then a malformed message from p1
            twoparty._KEPT.clear()
            await p.run("test-2p-early", True, session_id="bare-again", round_timeout=5)
            try:
                await p.run("test-2p-early", True if name == "p0" else "bad", session_id="bad", round_timeout=5)
            except mpcnet.MPCError as exc:
                out[name].append(exc)

    await each_party(party, names)
    for name, peer in (("p0", "p1"), ("p1", "p0")):
        assert out[name][:2] == [2, 0]
        err = out[name][2]
        assert isinstance(err, mpcnet.MPCError) and err.peer == peer, err
    assert isinstance(out["p1"][2], RemoteProtocolViolation) and "one end only" in str(out["p1"][2])
    bad = out["p0"][3]
    assert isinstance(bad, RemoteProtocolViolation) and bad.peer == "p1" and "shape" in str(bad), bad


@protocol("test-2p-first", min_parties=2, max_parties=2, security="test", reveals="test", input="str",
          output="list")
async def first_protocol(ctx: Context, value: str) -> list[bool]:
    """Four 8-bit x < y on a kept extension (x = [1, 50, 200, 7], y = [2, 40, 200, 9]): the tag
    round carries the offline OTs and the first leaf message ('none': no leaf message, 'range':
    one with a digit of 16); returns the results."""
    eng = TwoPartyEngine(ctx, label="first")
    m, k = 4, 8
    send, recv = millionaires_ots(k, m, ctx.index == 0)
    sizes = {"pair_words": tree_pairs(2), "leaf_send": send, "leaf_recv": recv}
    mine = np.array([1, 50, 200, 7] if ctx.index == 0 else [2, 40, 200, 9], dtype=np.uint64)
    tag, early = eng.offer_kept_with_ots(**sizes)
    first = eng.millionaires_first("p0", mine, m, k)
    if value == "none":
        first = None
    elif value == "range" and first is not None:
        first = np.full_like(first, 16)
    got = (await ctx.exchange({ctx.peers[0]: [tag, early, first]}))[ctx.peers[0]]
    eng.accept_kept(tag, got[0], got[1], got[2])
    await eng.prepare(**sizes)
    g, e = await eng.millionaires("p0", mine, m, k)
    lt = await bitcircuits.prefix_top(eng, g, e)
    opened = await eng.open(lt, "bits")
    eng.keep()
    assert opened is not None
    return [bool(b) for b in unpack(opened, m)]


@pytest.mark.trio
async def test_first_leaf_message_in_the_tag_round():
    twoparty._KEPT.clear()
    names = ["p0", "p1"]
    mesh = memory_mesh(names)
    out: dict[str, list[Any]] = {"p0": [], "p1": []}

    async def party(name: str) -> None:
        async with Party(name, names, mesh[name]) as p:
            for sid in ("bare", "kept"):  # base OTs first; then all in the tag round
                res = await p.run("test-2p-first", "ok", session_id=sid, round_timeout=5)
                out[name].append((res.output, res.stats.rounds))
            for sid, bad in (("one-sided", "none"), ("range", "range")):
                if sid == "range":
                    twoparty._KEPT.clear()  # (the failed session kept nothing) a fresh extension first
                    await p.run("test-2p-first", "ok", session_id="bare-again", round_timeout=5)
                try:
                    await p.run("test-2p-first", bad if name == "p1" else "ok", session_id=sid, round_timeout=5)
                except mpcnet.MPCError as exc:
                    out[name].append(exc)

    await each_party(party, names)
    for name in names:
        # leaves 2 + tree 1 + opening 1 after the tag round; the bare session adds base OTs and offline OTs
        assert out[name][:2] == [([True, False, False, True], 7), ([True, False, False, True], 4)]
    one_sided, out_of_range = out["p0"][2], out["p0"][3]
    assert isinstance(one_sided, RemoteProtocolViolation) and one_sided.peer == "p1"
    assert "first millionaires message came from one end only" in str(one_sided)
    assert isinstance(out_of_range, RemoteProtocolViolation) and out_of_range.peer == "p1"
    assert "[0, 15]" in str(out_of_range), out_of_range


@pytest.mark.trio
async def test_concurrent_sessions_on_a_link_stay_correct():
    # Four sessions at once, twice: each takes a kept extension only if both
    # ends offer the same one, else makes its own; every result stays right.
    twoparty._KEPT.clear()
    rng = np.random.default_rng(4)
    plan = [(f"c{i}", rng.integers(0, 2**32, 20).tolist(), rng.integers(0, 2**32, 20).tolist()) for i in range(8)]
    out = await _sessions(memory_mesh(["p0", "p1"]), plan, batch=4)
    for (a, b), (_, x, y) in zip(out, plan, strict=True):
        assert a.output == b.output == [u < v for u, v in zip(x, y, strict=True)]


# --- the offline set-up before any input: Party.prepare / open_party(prepare=...) ---------------

async def _prepared_compare(mesh: Any, prepare: dict[str, tuple[str, ...]], round_timeout: float = 20) -> dict[str, Any]:
    """p0 and p1 each prepare what ``prepare`` lists, then one compare; per party its (prepare, compare) results
    or the exception it ended with."""
    names = ["p0", "p1"]
    out: dict[str, Any] = {}

    async def party(name: str) -> None:
        try:
            async with Party(name, names, mesh[name]) as p:
                prep = await p.prepare(prepare[name], round_timeout=round_timeout)
                res = await p.run("compare", [3, 9] if name == "p0" else [4, 2], session_id="first",
                                  round_timeout=round_timeout)
                out[name] = (prep, res)
        except mpcnet.MPCError as exc:
            out[name] = exc

    await each_party(party, names)
    return out


@pytest.mark.trio
async def test_prepare_makes_the_first_compare_skip_the_base_ots():
    twoparty._KEPT.clear()
    plain = await _prepared_compare(memory_mesh(["p0", "p1"]), {"p0": (), "p1": ()})
    twoparty._KEPT.clear()
    prepared = await _prepared_compare(memory_mesh(["p0", "p1"]), {"p0": ("twoparty-setup",), "p1": ("twoparty-setup",)})
    for name in ("p0", "p1"):
        (setup,), res = prepared[name]
        assert res.output == [True, False] == plain[name][1].output
        assert setup.output["reused"] is False and setup.output["offline_rounds"] == 1
        # the base OTs (~8 KB each way) went to the set-up, not the comparison
        assert setup.stats.bytes_sent > 7_000
        # no base-OT round, and the offline OTs and the first leaf message ride on the tag round
        assert res.stats.rounds == plain[name][1].stats.rounds - 3 == 6
        assert res.stats.messages_sent == 6
        assert res.stats.bytes_sent < plain[name][1].stats.bytes_sent - 7_000


@pytest.mark.trio
async def test_prepare_twice_reuses_the_kept_extension():
    twoparty._KEPT.clear()
    mesh = memory_mesh(["p0", "p1"])
    out = await _prepared_compare(mesh, {n: ("twoparty-setup", "twoparty-setup") for n in ("p0", "p1")})
    for name in ("p0", "p1"):
        (first, second), res = out[name]
        assert (first.output["reused"], second.output["reused"]) == (False, True)
        assert second.stats.rounds == 1 and res.stats.rounds == 6


@pytest.mark.trio
async def test_prepare_on_one_side_only_fails_naming_the_peer():
    twoparty._KEPT.clear()
    out = await _prepared_compare(memory_mesh(["p0", "p1"]), {"p0": ("twoparty-setup",), "p1": ()}, round_timeout=2)
    # p0 waits for p1's set-up message until the round deadline; p1's compare then loses p0 or times out too
    assert isinstance(out["p0"], mpcnet.MPCError) and "p1" in str(out["p0"])
    assert isinstance(out["p1"], mpcnet.MPCError) and "p0" in str(out["p1"])


def test_open_party_prepare_over_tcp(tmp_path: Any):
    from helpers import make_deployment

    roster_path, keys = make_deployment(tmp_path, ["p0", "p1"])
    roster = mpcnet.load_roster(roster_path)
    twoparty._KEPT.clear()
    out: dict[str, Any] = {}

    async def party(name: str) -> None:
        async with mpcnet.open_party(roster, mpcnet.load_key_file(keys[name]), connect_timeout=10,
                                     prepare=("twoparty-setup",)) as p:
            out[name] = await p.run("compare", 5 if name == "p0" else 6, session_id="after-prepare", round_timeout=20)

    async def main() -> None:
        await each_party(party)

    trio.run(main)
    assert out["p0"].output is out["p1"].output is True
    assert out["p0"].stats.rounds == 6 and out["p0"].stats.bytes_sent < 12_000  # no base OTs (~8 KB) in it


@pytest.mark.trio
async def test_two_bidder_auction_uses_the_prepared_extension():
    twoparty._KEPT.clear()
    names = ["p0", "p1"]
    mesh = memory_mesh(names)
    out: dict[str, Any] = {}

    async def party(name: str) -> None:
        async with Party(name, names, mesh[name]) as p:
            plain = await p.run("auction", 7 if name == "p0" else 5, session_id="a0", round_timeout=20)
            for key in [k for k in twoparty._KEPT if k[0] == name]:  # forget: the next session starts bare
                del twoparty._KEPT[key]
            await p.prepare(["twoparty-setup"], round_timeout=20)
            fast = await p.run("auction", 7 if name == "p0" else 5, session_id="a1", round_timeout=20)
            out[name] = (plain, fast)

    await each_party(party, names)
    for name in names:
        plain, fast = out[name]
        assert plain.output == fast.output == {"winner": 0, "price": 7}
        # the plain session starts bare (a fresh link); the one after the set-up skips the base-OT
        # round and carries its offline OTs and first leaf message in the tag round
        assert (plain.stats.rounds, fast.stats.rounds) == (10, 7)
        assert fast.stats.bytes_sent < plain.stats.bytes_sent - 7_000
