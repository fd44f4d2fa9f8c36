"""Sealed-bid auctions: first-price and second-price (Vickrey).

Every bidder's bid is Shamir-shared over GF(2^8) among the compute parties,
who find the winner without ever reconstructing a bid. Only the winner's
party index and the price are opened.

Roles (parameter ``compute_parties``): with the default 0, every party bids
and computes (n >= 3). With ``compute_parties=c`` (c >= 3) the first c
parties only compute (their input must be null) and the other n - c parties
only bid: any number of bidders, who send one message and receive the result.

Several bids per bidder (parameter ``bids``, default 0: one each): a bidder
that holds several sealed bids (a broker, or one company's several offers)
inputs a list. ``bids=B`` is the total, dealt to the m bidders in order: the
first ``B mod m`` bidders hold ``B // m + 1`` bids, the others ``B // m``.
Those counts are public; the output then also names the winning position
(``"bid"``) in the winner's list, and ties go to the lowest (party, position).

How the winner is found (bids b_0..b_{m-1}, k bits):

* Three parties that all bid (``method=three-party``, what ``auto`` picks
  then, up to :data:`ALL_PAIRS_MAX` bids): each pair of bids held by two
  different parties is compared by the third, in one round, from
  AES-enciphered prefix tags under the two owners' pairwise key
  (:mod:`protocols.auction.helper`); the helper learns the comparison
  masked by a bit the owners share, and the two halves become GF(2^8)
  shares. Pairs of one party's own bids it compares itself. First price
  then takes one result round as below: 3 rounds in all, whatever k and m.
  Second price takes ``3 + ceil(log2(m-1))`` (8 for 20 bids).
* Otherwise, up to :data:`ALL_PAIRS_MAX` bids: bids are shared in one-hot blocks
  (:func:`mpcnet.mpc.binary.to_onehot`, 128 elements for 32 bits) and all
  m(m-1)/2 comparisons run at once (``1 + ceil(log2 ceil(k/4))`` rounds, 4
  for 32 bits), giving a total order with ties broken towards the lower
  index.

  - First price: one result round opens, per bid, random words that are
    zero only for the winner, and its bytes masked the same way (see
    :func:`_first_price_by_elimination`). Rounds: ``3 + ceil(log2
    ceil(k/4))``, 6 for 32-bit bids, whatever their number.
  - Second price: a log-depth "how many beat me: zero, one, or more" tree
    (``ceil(log2(m-1))`` rounds); the price is ``XOR_i c_i AND b_i`` for the
    runner-up's indicator ``c_i``, a sum of products opened directly with
    :meth:`~mpcnet.mpc.shamir.ShamirEngine.open_wide` in the result round (its
    zero masks rode on the first comparison round). Rounds:
    ``3 + ceil(log2 ceil(k/4)) + ceil(log2(m-1))`` (11 for 20 32-bit bids).
* Beyond that: bids shared bit by bit, and a tournament of ``ceil(log2 m)``
  levels, each one comparison and one multiplexer round (two of each for
  second price), so the work is linear in m while rounds still grow only
  with log2 m.

Security: semi-honest; private against any t = floor((c-1)/2) colluding
compute parties, together with any number of colluding input-only bidders
(when every party bids, c = n: any t parties in all; three-party method: against
any one of the three, assuming AES-256, keyed BLAKE2b and ChaCha20 are
pseudo-random and the links' handshakes keep the pairwise keys secret). Reveals to every party: the
winner's index and the price (first price: the winning bid; second price: the
second-highest bid). Nothing else: every intermediate value stays shared;
which pairs compared how is never opened.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping
from typing import Any

import numpy as np

from mpcnet import ConfigError, Context, InputError, LocalProtocolViolation, Param, RemoteProtocolViolation, protocol
from mpcnet.mpc import RESULT_ROUND
from mpcnet.mpc.binary import (
    all_of,
    bits_from_onehot,
    bnot,
    bxor,
    from_bits,
    greater_than,
    greater_than_onehot,
    onehot_size,
    to_bits,
    to_onehot,
)
from mpcnet.mpc.fields import GF256
from mpcnet.mpc.inputs import check_int
from mpcnet.mpc.roles import COMPUTE_PARTIES, check_role, role_links, split_roles
from mpcnet.mpc.shamir import ShamirEngine

from . import helper as hc

#: Up to this many bidders, compare all pairs at once (fewest rounds);
#: beyond it, a tournament (work linear in the number of bidders).
ALL_PAIRS_MAX = 128
#: Random GF(2^8) words per bid in the first-price elimination step: a
#: losing bid passes for a winner with probability 256^-4 = 2^-32.
ELIMINATION_WORDS = 4
#: The most bids one auction takes (all-pairs is quadratic; the tournament
#: is linear but each bid is k shared bits at every compute party).
MAX_BIDS = 1_000_000

Array = np.ndarray[Any, Any]


def _roles(n: int, compute_parties: int) -> tuple[int, list[int]]:
    """(number of compute parties, indices of bidders); ConfigError if the
    split is impossible."""
    return split_roles(n, compute_parties, "an auction", min_inputs=2, inputs_name="bidders")


def _digits(k: int) -> int:
    """Bytes of a k-bit bid."""
    return (k + 7) // 8


def _extras(m: int, k: int, second: bool) -> tuple[int, int]:
    """(zero masks, random elements) the result round of an all-pairs or
    three-party auction of m k-bit bids uses: second price opens m winner
    bits and k price bits wide; first price opens ELIMINATION_WORDS words and
    the bid's bytes per bid, each with m - 1 random elements
    (:func:`_elimination_values`)."""
    if second:
        return m + k, 0
    per_bid = ELIMINATION_WORDS + _digits(k)
    return m * per_bid, m * (m - 1) * per_bid


def _bid_counts(m: int, bids: int) -> list[int]:
    """How many bids each of the m bidders holds (in bidder order)."""
    total = bids or m
    return [total // m + (1 if i < total % m else 0) for i in range(m)]


def _validate(value: Any, params: Mapping[str, Any], n: int) -> Any:
    total, m = params["bids"], len(_roles(n, params["compute_parties"])[1])
    if total and total < m:
        raise ConfigError(f"bids={total} is fewer than the {m} bidders (every bidder holds at least one bid)")
    if total > MAX_BIDS:
        raise ConfigError(f"bids must be at most {MAX_BIDS}")
    if params["method"] == "three-party":
        if not _three_party_fits(n, params["compute_parties"]):
            raise ConfigError("method=three-party needs exactly 3 parties, all of them bidders (compute_parties=0)")
        if (total or m) > ALL_PAIRS_MAX:
            raise ConfigError(f"method=three-party compares all pairs: at most {ALL_PAIRS_MAX} bids "
                              "(use method=tournament)")
    if value is None:
        return None
    if not total:
        return check_int(value, params["bits"], False, "bid")
    if not isinstance(value, list) or not value:
        raise InputError("with the bids parameter, a bidder's input is a non-empty list of bids")
    return [check_int(v, params["bits"], False, "bid") for v in value]


@protocol(
    "auction",
    min_parties=3,
    security="semi-honest; honest majority: private against any t = floor((c-1)/2) colluding compute "
             "parties plus any number of colluding input-only bidders (Shamir over GF(2^8)); when every party "
             "bids (compute_parties=0, c = n), against any t parties in all; with three bidder-parties, "
             "against any one of them (helper comparisons: AES-256 under pairwise keys)",
    reveals="the winner's party index and the price (first price: the winning bid; second price: the "
            "second-highest bid), to every party; with bids=B also how many bids each bidder holds and the "
            "winning bid's position in the winner's list; other losing bids reveal nothing beyond that",
    input="a bid: an unsigned integer below 2^bits (null for a compute-only party); with bids=B, "
          "a list of this bidder's bids",
    output='{"winner": party index, "price": int}, plus "bid" (position in the winner\'s list) when '
           'bids is set; ties go to the lowest party index (then position)',
    params=(
        Param("bits", int, 32, "bid bit length (1..64)", check=lambda v, n: None if 1 <= v <= 64 else "must be 1..64"),
        Param("kind", str, "first-price", "first-price or second-price (Vickrey)",
              choices=("first-price", "second-price")),
        COMPUTE_PARTIES,
        Param("bids", int, 0, "total number of bids when bidders hold several (0: one bid per bidder); "
              "the first bids mod m bidders hold one more", check=lambda v, n: None if v >= 0 else "must be >= 0"),
        Param("method", str, "auto", f"three-party (3 bidder-parties: a helper compares each pair, fewest "
              f"rounds; needs links with pair secrets, as mpcnet's TCP and memory links have), all-pairs "
              f"(Shamir comparisons of every pair), tournament (least work), or auto "
              f"(three-party when it applies, else all-pairs, up to {ALL_PAIRS_MAX} bids)",
              choices=("auto", "three-party", "all-pairs", "tournament")),
    ),
    validate_input=_validate,
    links=role_links,
)
async def auction(ctx: Context, value: Any, *, bits: int, kind: str, compute_parties: int,
                  bids: int, method: str) -> dict[str, int]:
    """Sealed-bid auction: the winner and the price, nothing else."""
    c, bidder_idx = _roles(ctx.n, compute_parties)
    bidders = [ctx.parties[i] for i in bidder_idx]
    counts = _bid_counts(len(bidder_idx), bids)
    check_role(ctx, value, bidders, "bidder")
    if bids and ctx.me in bidders and len(value) != counts[bidders.index(ctx.me)]:
        raise InputError(f"{ctx.me} must supply exactly {counts[bidders.index(ctx.me)]} bids "
                         f"(bids={bids} over {len(bidders)} bidders)")
    # Bid j's owner and position, bids in party-major order.
    owner = [i for i, n_b in zip(bidder_idx, counts, strict=True) for _ in range(n_b)]
    position = [p for n_b in counts for p in range(n_b)]
    all_pairs = method == "all-pairs" or (method == "auto" and len(owner) <= ALL_PAIRS_MAX)
    second = kind == "second-price"
    three = method == "three-party" or (method == "auto" and all_pairs and _three_party_fits(ctx.n, compute_parties))
    if three:  # (its layout and bid count were checked in _validate)
        j, price = await _three_party(ctx, value, bits, counts, second)
    elif all_pairs and not second:
        j, price = await _first_price_by_elimination(ctx, value, bits, c, bidders, counts)
    else:
        j, price = await _by_circuit(ctx, value, bits, c, bidders, counts, all_pairs, second)
    out = {"winner": owner[j], "price": price}
    if bids:
        out["bid"] = position[j]
    return out


def _three_party_fits(n: int, compute_parties: int) -> bool:
    """Three parties who all bid: the helper comparison applies."""
    return n == 3 and compute_parties == 0


def _shapes(bidders: list[str], counts: list[int], width: int, several: bool) -> dict[str, tuple[int, ...]]:
    return {b: ((n_b, width) if several else (width,)) for b, n_b in zip(bidders, counts, strict=True)}


async def _first_price_by_elimination(ctx: Context, value: Any, k: int, c: int, bidders: list[str],
                                      counts: list[int]) -> tuple[int, int]:
    """First price, all pairs, in ``1 + (1 + ceil(log2 ceil(k/4))) + 1``
    rounds (6 for 32-bit bids, whatever their number up to
    :data:`ALL_PAIRS_MAX`).

    After the one-hot comparisons every bid i has m - 1 shared bits
    ``beats_ij`` ("bid j beats bid i"); the winner is the one bid with none
    set. Instead of ANDing them (a log-depth tree), the compute parties open,
    for every bid, in one round (sums of products, opened wide and masked):

    * :data:`ELIMINATION_WORDS` words ``sum_j rho_ij * beats_ij``, and
    * the bid's bytes plus ``sum_j sigma_ij * beats_ij``,

    with secret, uniformly random ``rho`` and ``sigma`` (GF(2^8) elements,
    each used once). For the winner every sum is 0: its words are zero and
    its bytes are its bid, the price. For any other bid each sum covers at
    least one random element, so its words and bytes are uniformly random,
    independent of its bid, of which bids beat it, and of everything else.
    So the opening reveals the winner's position and price and nothing more.
    A losing bid's words are all zero by chance with probability 2^-32; the
    run then stops with an error rather than name two winners. The masks and
    the random elements ride on the first comparison round.
    """
    several = ctx.params["bids"] > 0
    f = GF256
    eng = ShamirEngine(ctx, f, compute=ctx.parties[:c])
    width = onehot_size(k)
    mine = None if value is None else to_onehot(value, k)
    shared = await eng.input(_shapes(bidders, counts, width, several), mine)
    m = sum(counts)
    opened_values: Array | None = None
    if eng.is_compute:
        all_bids = np.concatenate([shared[b].reshape(-1, width) for b in bidders])  # (m, width)
        iu, ju = _pairs(m)  # pairs i < j
        # j_gt_i[p] = [b_j > b_i] for the pair p = (i, j).
        masks, randoms = _extras(m, k, second=False)
        j_gt_i = await greater_than_onehot(eng, all_bids[ju], all_bids[iu], k, masks=masks, randoms=randoms)
        beats = _beats(j_gt_i, m)
        # The bid as bytes: bit b of byte q is the field element x^(b - 8q), so
        # XORing a byte's shared bits, each scaled by its power, gives the byte.
        powers = (1 << (np.arange(k) % 8)).astype(np.uint8)
        scaled = f.mul(bits_from_onehot(all_bids, k), powers)  # (m, k)
        price_bytes = np.bitwise_xor.reduceat(scaled, np.arange(0, k, 8), axis=1)  # (m, digits): XOR is +
        opened_values = _elimination_values(eng, beats, price_bytes)
    if c < ctx.n:  # bidders who do not compute wait at an agreed round number
        ctx.skip_to_round(RESULT_ROUND)
    return await _open_winner(eng, opened_values, m, k)


@functools.lru_cache(maxsize=16)
def _pairs(m: int) -> tuple[Array, Array]:
    """The pairs (i, j), i < j, of m bids, in ``np.triu_indices`` order (cached, read-only)."""
    iu, ju = np.triu_indices(m, k=1)
    iu.flags.writeable = ju.flags.writeable = False
    return iu, ju


def _beats(j_gt_i: Array, m: int) -> Array:
    """``(m, m - 1)`` shared bits: row i holds [j beats i] for every j != i,
    from ``j_gt_i``, the shared [b_j > b_i] for the pairs i < j in
    ``_pairs`` order. Ties go to the lower index: j beats i iff
    b_j > b_i when i < j, and iff not b_i > b_j when j < i."""
    iu, ju = _pairs(m)
    beaten_by = np.zeros((m, m), dtype=np.uint8)  # beaten_by[i, j] = [j beats i]
    beaten_by[iu, ju] = j_gt_i
    beaten_by[ju, iu] = bnot(j_gt_i)
    return beaten_by[~np.eye(m, dtype=bool)].reshape(m, m - 1)


def _elimination_values(eng: ShamirEngine, beats: Array, price_bytes: Array) -> Array:
    """Degree-2t shares to open: per bid, ELIMINATION_WORDS words
    ``sum_j rho_ij beats_ij``, then its bytes plus ``sum_j sigma_ij beats_ij``
    (random elements from :meth:`ShamirEngine.take_randoms`)."""
    f = eng.field
    m, digits = price_bytes.shape
    per_bid = ELIMINATION_WORDS + digits
    rho = eng.take_randoms(m * (m - 1) * per_bid).reshape(m, m - 1, per_bid)
    noise = f.sum(f.mul(rho, np.ascontiguousarray(np.broadcast_to(beats[..., None], rho.shape))), axis=1)
    plain = np.concatenate([np.zeros((m, ELIMINATION_WORDS), dtype=np.uint8), price_bytes], axis=1)
    return f.add(noise, plain)  # degree 2t (noise) + degree t


async def _open_winner(eng: ShamirEngine, values: Array | None, m: int, k: int) -> tuple[int, int]:
    """Open the elimination values; the one bid whose words are all zero
    wins, and its bytes are the price. Returns (bid index, price)."""
    words = ELIMINATION_WORDS
    opened = await eng.open_wide(values, shape=(m, words + _digits(k)))  # what input-only bidders accept
    assert opened is not None
    table = np.asarray(opened)
    winners: Any = np.flatnonzero(~table[:, :words].any(axis=1)) if table.shape == (m, words + _digits(k)) else []
    if len(winners) != 1:
        raise RemoteProtocolViolation("the opened scores do not name exactly one winner (a compute party "
                                      "deviated, or a losing bid's random words were all 0: probability 2^-32)")
    j = int(winners[0])
    price = sum(int(byte) << (8 * q) for q, byte in enumerate(table[j, words:]))
    if price >= 1 << k:
        raise RemoteProtocolViolation("the opened price is out of range (a compute party deviated)")
    return j, price


async def _three_party(ctx: Context, value: Any, k: int, counts: list[int], second: bool) -> tuple[int, int]:
    """Three bidder-parties: every comparison in one round, by a helper.

    Each pair of bids is compared either by its owner (both bids one
    party's: it deals the bit) or, for bids of two different parties, by the
    third party with :mod:`protocols.auction.helper`: the two owners send it
    AES-enciphered prefix tags, it learns the comparison XOR a bit ``b`` the owners
    share, and deals that as GF(2^8) shares while the lower-indexed owner
    deals ``b``; their sum is the comparison. Rounds:

    1. every party deals its bids' bytes (first price) or bits (second
       price), the bits of its own pairs and its ``b``s, and sends its tags
       to each pair's helper (the random elements and zero masks come from
       the pairwise keys: :meth:`ShamirEngine.extras_from_keys`);
    2. every helper deals its bits;
    3. first price: the elimination opening of
       :func:`_first_price_by_elimination`. Second price: the
       ``ceil(log2(m-1))``-round tree of :func:`_second_price_all_pairs`,
       then its opening.

    Private against any one party (semi-honest; with three parties that is
    the honest majority), assuming AES-256 is a pseudo-random permutation,
    keyed BLAKE2b and ChaCha20 are pseudo-random, and the pairwise keys are
    secret (:meth:`mpcnet.Context.pairwise_key`).
    """
    f = GF256
    eng = ShamirEngine(ctx, f)
    me = ctx.index
    m = sum(counts)
    owner = np.repeat(np.arange(3), counts)  # party of each bid, party-major
    start = np.concatenate([[0], np.cumsum(counts)])
    mine = [int(v) for v in (value if isinstance(value, list) else [value])]
    iu, ju = _pairs(m)  # pairs (i, j), i < j: s = [bid j > bid i]
    oi, oj = owner[iu], owner[ju]
    own = oi == oj
    lo, hi = np.minimum(oi, oj), np.maximum(oi, oj)
    helper = 3 - lo - hi  # the party outside a cross pair (meaningless for own pairs)
    digits = _digits(k)

    own_pairs = [np.flatnonzero(own & (oi == p)) for p in range(3)]
    b_pairs = [np.flatnonzero(~own & (lo == p)) for p in range(3)]  # cross pairs whose b party p deals
    helped = [np.flatnonzero(~own & (helper == p)) for p in range(3)]  # cross pairs party p helps with
    # round-1 elements each party deals: its bids (bytes for first price, bits for second), own pairs, b's
    per_own_bid = k if second else digits
    dealt = [counts[p] * per_own_bid + len(own_pairs[p]) + len(b_pairs[p]) for p in range(3)]

    # Round 1, local: what this party knows.
    bids_of = {int(start[me]) + i: v for i, v in enumerate(mine)}
    mine_own = own_pairs[me]
    own_bits = np.array([int(bids_of[int(ju[p])] > bids_of[int(iu[p])]) for p in mine_own], dtype=np.uint8)
    if second:
        parts = [to_bits(mine, k).ravel()]
    else:
        # little-endian bytes of each bid, the low `digits` of its 8
        parts = [np.asarray(mine, dtype="<u8").view(np.uint8).reshape(-1, 8)[:, :digits].ravel()]
    parts.append(own_bits)
    outgoing: dict[str, list[Any]] = {}
    tags_to: dict[int, Array] = {}
    checks: dict[int, bytes] = {}
    b_all = np.zeros(len(iu), dtype=np.uint8)
    for partner in range(3):
        if partner == me:
            continue
        try:
            key = ctx.pairwise_key(ctx.parties[partner], "auction/helper-compare")
        except LocalProtocolViolation as exc:
            raise ConfigError(f"{exc.message}; the three-party method needs them: pass method=all-pairs") from None
        checks[partner] = hc.key_check(ctx.pairwise_key(ctx.parties[partner], "auction/helper-compare/check"))
        pairs = helped[3 - me - partner]
        b = hc.swap_bits(key, pairs)
        mine_is_j = oj[pairs] == me
        slot = [2 * bids_of[int(ju[p])] if j else 2 * bids_of[int(iu[p])] + 1
                for p, j in zip(pairs, mine_is_j, strict=True)]
        greater = mine_is_j == (b == 0)  # b = 0: j's holder is G; b = 1: i's holder is
        tags_to[3 - me - partner] = hc.tags(key, pairs, slot, greater, k, ctx.random)
        b_all[pairs] = b
        outgoing[ctx.parties[partner]] = [checks[partner]]
    parts.append(b_all[b_pairs[me]])
    flat = np.concatenate(parts).astype(np.uint8)
    shares = eng.deal(flat)
    for p in range(3):
        if p != me:
            outgoing[ctx.parties[p]] += [f.to_wire(shares[p]), tags_to[p]]
    # The masks and random elements cost no bytes: from the pairwise keys.
    eng.extras_from_keys(*_extras(m, k, second), "auction/extras")
    got = await ctx.exchange(outgoing)

    # Round 1, received: check each message, keep the shares.
    inputs: dict[int, Array] = {me: shares[me]}
    incoming_tags: dict[int, Array] = {}
    for p in range(3):
        if p == me:
            continue
        name = ctx.parties[p]
        msg = got[name]
        if not (isinstance(msg, list) and len(msg) == 3):
            raise RemoteProtocolViolation("expected [key check, shares, tags] in round 1", peer=name)
        # Partners with different keys would send the helper unrelated tags and
        # deal wrong bits: stop here. (The helper itself cannot tell; its
        # round-2 bits are masked by b either way, and the abort reaches it.)
        if not (isinstance(msg[0], bytes) and hmac.compare_digest(msg[0], checks[p])):
            raise RemoteProtocolViolation("derived a different pairwise key (a broken or replaced link?)", peer=name)
        inputs[p] = f.from_wire(msg[1], (dealt[p],), name)
        # p's tags are for its pairs with the third party, which this party helps
        want = (len(helped[me]), hc.levels(k))
        tag = msg[2]
        if not (isinstance(tag, np.ndarray) and tag.dtype == np.uint64 and tag.shape == want):
            raise RemoteProtocolViolation(f"expected a uint64 tag array of shape {want}", peer=name)
        incoming_tags[p] = tag

    # Round 2: the helper's bits (tags of the lower-indexed party first, pair order).
    a_party, b_party = [p for p in range(3) if p != me]
    c_bits = hc.helper_bits(incoming_tags[a_party], incoming_tags[b_party])
    c_shares = eng.deal(c_bits)
    got2 = await ctx.exchange({ctx.parties[p]: f.to_wire(c_shares[p]) for p in range(3) if p != me})
    helper_in = {p: (c_shares[me] if p == me else f.from_wire(got2[ctx.parties[p]], (len(helped[p]),),
                                                              ctx.parties[p])) for p in range(3)}

    # Shares of every s = [bid j > bid i].
    s = np.zeros(len(iu), dtype=np.uint8)
    bid_bytes = np.zeros((m, digits), dtype=np.uint8)
    bid_bits = np.zeros((m, k), dtype=np.uint8)
    for p in range(3):
        seg, pos = inputs[p], 0
        n_b = counts[p]
        if second:
            bid_bits[start[p] : start[p + 1]] = seg[pos : pos + n_b * k].reshape(n_b, k)
        else:
            bid_bytes[start[p] : start[p + 1]] = seg[pos : pos + n_b * digits].reshape(n_b, digits)
        pos += n_b * per_own_bid
        idx = own_pairs[p]
        s[idx] = seg[pos : pos + len(idx)]
        pos += len(idx)
        idx = b_pairs[p]
        s[idx] = seg[pos : pos + len(idx)]
    for p in range(3):  # s = b + c for cross pairs
        s[helped[p]] = f.add(s[helped[p]], helper_in[p])
    beats = _beats(s, m)
    if second:
        return _check_onehot_result(await eng.open_wide(await _second_price_values(eng, beats, bid_bits)), m)
    return await _open_winner(eng, _elimination_values(eng, beats, bid_bytes), m, k)


async def _by_circuit(ctx: Context, value: Any, k: int, c: int, bidders: list[str], counts: list[int],
                      all_pairs: bool, second: bool) -> tuple[int, int]:
    """Second price (all pairs), or either kind by tournament, as boolean
    circuits over GF(2^8). Returns (bid index, price)."""
    eng = ShamirEngine(ctx, GF256, compute=ctx.parties[:c])
    # All-pairs compares in one-hot form (fewer rounds), the tournament in bits
    # (its later comparisons are between shared winners, not inputs).
    width = onehot_size(k) if all_pairs else k
    mine = None
    if value is not None:
        mine = to_onehot(value, k) if all_pairs else to_bits(value, k)
    shared = await eng.input(_shapes(bidders, counts, width, ctx.params["bids"] > 0), mine)
    result: Array | None = None
    if eng.is_compute:
        all_bids = np.concatenate([shared[b].reshape(-1, width) for b in bidders])  # (total, width)
        if all_pairs:  # (first price with all pairs goes by elimination instead)
            result = await _second_price_all_pairs(eng, all_bids, k)
        else:
            result = np.concatenate(await _tournament(eng, all_bids, second))
    if c < ctx.n:  # bidders who do not compute wait at an agreed round number
        ctx.skip_to_round(RESULT_ROUND)
    shape = (sum(counts) + k,)  # the winner's one-hot and the price's bits: what input-only bidders accept
    opened = await (eng.open_wide(result, shape=shape) if all_pairs else eng.open(result, shape=shape))
    return _check_onehot_result(opened, sum(counts))


def _check_onehot_result(opened: Array | None, m: int) -> tuple[int, int]:
    """(bid index, price) from an opened winner one-hot and price bits."""
    assert opened is not None
    onehot, price = np.asarray(opened[:m]), np.asarray(opened[m:])
    if onehot.sum() != 1 or np.any(np.asarray(opened) > 1):  # (np.unique would import numpy.ma: slow)
        raise RemoteProtocolViolation("the opened result is malformed (a compute party deviated)")
    return int(np.argmax(onehot)), int(from_bits(price))


async def _second_price_all_pairs(eng: ShamirEngine, bids: Array, k: int) -> Array:
    """The winner's one-hot and the second price's bits, as degree-2t shares
    for :meth:`ShamirEngine.open_wide` (``bids``: one-hot blocks, ``(m, width)``)."""
    m = bids.shape[0]
    iu, ju = _pairs(m)  # pairs i < j
    # j_gt_i[p] = [b_j > b_i] for pair p = (i, j). Ties go to the lower index:
    # j beats i iff b_j > b_i; i beats j iff not (b_j > b_i). The masks for
    # the final opening (m winner bits, k price bits) ride on this round.
    j_gt_i = await greater_than_onehot(eng, bids[ju], bids[iu], k, masks=_extras(m, k, second=True)[0])
    return await _second_price_values(eng, _beats(j_gt_i, m), bits_from_onehot(bids, k))


async def _second_price_values(eng: ShamirEngine, beats: Array, bid_bits: Array) -> Array:
    """From the ``(m, m - 1)`` shared "j beats i" bits and the bids' shared
    bits: the winner's one-hot and the runner-up's bits, degree 2t, for
    :meth:`ShamirEngine.open_wide` (``ceil(log2(m-1))`` rounds)."""
    zero, one = await _none_or_one(eng, beats)
    # Exactly one bid is beaten exactly once, so the XOR over bids of (one AND
    # bid) is the runner-up's bid: a sum of products, opened without reduction.
    price = GF256.sum(GF256.mul(one[:, None], bid_bits), axis=0)
    return np.concatenate([zero, price])


async def _none_or_one(eng: ShamirEngine, bits: Array) -> tuple[Array, Array]:
    """Per row: shared bits [no bit set] and [exactly one bit set], by a tree
    over (zero, one) pairs: zero = z1 z2, one = o1 z2 XOR z1 o2 (exclusive)."""
    z, o = bnot(bits), bits.copy()
    while z.shape[-1] > 1:
        if z.shape[-1] % 2:  # pad with a neutral "no bit" entry
            z = np.concatenate([z, np.ones((*z.shape[:-1], 1), dtype=np.uint8)], axis=-1)
            o = np.concatenate([o, np.zeros((*o.shape[:-1], 1), dtype=np.uint8)], axis=-1)
        z1, z2, o1, o2 = z[..., 0::2], z[..., 1::2], o[..., 0::2], o[..., 1::2]
        zz, oz, zo = await eng.mul_many([(z1, z2), (o1, z2), (z1, o2)])
        z, o = zz, bxor(oz, zo)
    return z[..., 0], o[..., 0]


async def _tournament(eng: ShamirEngine, bids: Array, second: bool) -> tuple[Array, Array]:
    m, _k = bids.shape
    width = max(1, (m - 1).bit_length())
    index = eng.const(to_bits(np.arange(m), width))  # public indices, shared trivially
    best, idx = bids, index
    runner_up = eng.const(0, bids.shape)  # second-best so far in each group (0 = none)
    while best.shape[0] > 1:
        half = best.shape[0] // 2
        a, b = best[0 : 2 * half : 2], best[1 : 2 * half : 2]  # a has the lower indices
        b_wins = await greater_than(eng, b, a)
        new_best, new_idx = await _mux_many(eng, b_wins, [(b, a), (idx[1 : 2 * half : 2], idx[0 : 2 * half : 2])])
        if second:
            ra, rb = runner_up[0 : 2 * half : 2], runner_up[1 : 2 * half : 2]
            loser, kept = await _mux_many(eng, b_wins, [(a, b), (rb, ra)])
            better = await greater_than(eng, loser, kept)
            (new_runner,) = await _mux_many(eng, better, [(loser, kept)])
        if best.shape[0] % 2:  # the odd one out goes through unopposed
            new_best = np.concatenate([new_best, best[-1:]])
            new_idx = np.concatenate([new_idx, idx[-1:]])
            if second:
                new_runner = np.concatenate([new_runner, runner_up[-1:]])
        best, idx = new_best, new_idx
        if second:
            runner_up = new_runner
    # One-hot of the winner from its shared index bits: compare with every public index.
    matches = bnot(bxor(np.broadcast_to(idx[0], (m, width)), eng.const(to_bits(np.arange(m), width))))
    winner_onehot = await all_of(eng, np.ascontiguousarray(matches))
    return winner_onehot, (runner_up[0] if second else best[0])


async def _mux_many(eng: ShamirEngine, s: Array, pairs: list[tuple[Array, Array]]) -> list[Array]:
    """Several ``s ? x : y`` selections with the same selector, in one round."""
    products = await eng.mul_many([
        (np.ascontiguousarray(np.broadcast_to(s[:, None], x.shape)), bxor(x, y)) for x, y in pairs])
    return [bxor(y, p) for (_, y), p in zip(pairs, products, strict=True)]


__all__ = ["auction", "ALL_PAIRS_MAX", "RESULT_ROUND"]
