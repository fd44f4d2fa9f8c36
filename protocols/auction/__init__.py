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
  (:mod:`protocols.auction.helper`, :mod:`protocols.auction.three_party`); the helper learns the comparison
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
    :func:`~protocols.auction.elimination.first_price_by_elimination`). Rounds: ``3 + ceil(log2
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
* Exactly three compute parties, all-pairs or tournament (parameter
  ``engine``, default ``auto``: :func:`mpcnet.mpc.choose_engine`): the same
  algorithms on the three-party replicated engine instead of Shamir
  (:mod:`protocols.auction.sliced`): all pairs compared from 8-bit one-hot
  blocks in ``1 + ceil(log2 ceil(k/8))`` rounds, so first price takes
  ``3 + ceil(log2 ceil(k/8))`` rounds (5 for 32-bit bids, 3 for 8-bit
  ones), second price ``ceil(log2(m-1))`` more; the same winners and prices
  as the Shamir engine (tested). ``engine=shamir`` keeps GF(2^8).

* Two parties, both bidders (what ``auto`` picks when n = 2): each finds its
  own highest (and second-highest) bid in the clear, and the two-party engine
  (:mod:`mpcnet.mpc.twoparty`: OT extension, no dealer) compares them with the
  millionaires protocol and selects the price
  (:func:`~protocols.auction.two_party.two_party`): 10 rounds for 32-bit
  bids (11 for second price), whatever the number of bids; one fewer (no
  base OTs) when the link kept an OT extension from an earlier two-party
  session or ``twoparty-setup``.

Security: semi-honest; private against any t = floor((c-1)/2) colluding
compute parties (on the replicated engine, c = 3: any one of them, the
pairwise zero- and random sharings AES-CTR under the links' pairwise keys),
together with any number of colluding input-only bidders
(when every party bids, c = n: any t parties in all; three-party method: against
any one of the three, assuming AES-256, keyed BLAKE2b and ChaCha20 are
pseudo-random and the links' handshakes keep the pairwise keys secret). Reveals to every party: the
winner's index and the price (first price: the winning bid; second price: the
second-highest bid). Nothing else: every intermediate value stays shared;
which pairs compared how is never opened. With two bidders the outputs
themselves tell much: the second price is then the loser's highest bid,
which the winner learns; the first price is the winner's bid, which the loser
learns. Two-party runs are private against either bidder.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpcnet import ConfigError, Context, InputError, Param, protocol
from mpcnet.mpc import ENGINES, choose_engine
from mpcnet.mpc.inputs import check_int
from mpcnet.mpc.roles import COMPUTE_PARTIES, check_role, role_links, split_roles

from .circuits import by_circuit
from .elimination import first_price_by_elimination
from .sliced import on_replicated
from .three_party import three_party
from .two_party import two_party

__all__ = ["ALL_PAIRS_MAX", "MAX_BIDS", "auction"]


#: Up to this many bidders, compare all pairs at once (fewest rounds);
#: beyond it, a tournament (work linear in the number of bidders).
ALL_PAIRS_MAX = 128


#: The most bids one auction takes (all-pairs is quadratic; the tournament
#: is linear but each bid is k shared bits at every compute party).
MAX_BIDS = 1_000_000


def _roles(n: int, compute_parties: int) -> tuple[int, range]:
    """(number of compute parties, indices of bidders); ConfigError if the
    split is impossible."""
    if n == 2:
        if compute_parties != 0:
            raise ConfigError("with two parties both bid and compute: compute_parties must be 0")
        return 2, range(2)
    return split_roles(n, compute_parties, "an auction", min_inputs=2, inputs_name="bidders")


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
    if params["engine"] == "replicated" and _roles(n, params["compute_parties"])[0] != 3:
        raise ConfigError("engine=replicated needs exactly 3 compute parties")
    if n == 2 and (params["method"] != "auto" or params["engine"] not in ("auto", "twoparty")):
        raise ConfigError("with two parties the auction runs on the two-party engine: method and engine must be auto")
    if params["engine"] == "twoparty" and n != 2:
        raise ConfigError("engine=twoparty needs exactly 2 parties")
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
    min_parties=2,
    security="semi-honest; n = 2: private against either bidder, no dealer (OT extension, millionaires "
             "protocol); n >= 3: honest majority: private against any t = floor((c-1)/2) colluding compute "
             "parties plus any number of colluding input-only bidders (Shamir over GF(2^8)); when every party "
             "bids (compute_parties=0, c = n), against any t parties in all; with three bidder-parties, "
             "against any one of them (helper comparisons: AES-256 under pairwise keys)",
    reveals="the winner's party index and the price (first price: the winning bid; second price: the "
            "second-highest bid), to every party (with two bidders, the second price is the loser's highest bid "
            "and the first price the winner's); with bids=B also how many bids each bidder holds and the "
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
        Param("engine", str, "auto", "for all-pairs and tournament: auto (the three-party replicated engine "
              "when there are exactly 3 compute parties, else Shamir), shamir, or replicated; with two parties "
              "the two-party engine (auto or twoparty)", choices=ENGINES),
    ),
    validate_input=_validate,
    links=role_links,
)
async def auction(ctx: Context, value: Any, *, bits: int, kind: str, compute_parties: int,
                  bids: int, method: str, engine: str) -> dict[str, int]:
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
    if ctx.n == 2:
        j_party, price, j_pos = await two_party(ctx, value, bits, counts, kind == "second-price")
        out = {"winner": j_party, "price": price}
        if bids:
            out["bid"] = j_pos
        return out
    three = method == "three-party" or (method == "auto" and all_pairs and _three_party_fits(ctx.n, compute_parties))
    if three:  # (its layout and bid count were checked in _validate)
        j, price = await three_party(ctx, value, bits, counts, second)
    elif choose_engine(engine, c) == "replicated":
        j, price = await on_replicated(ctx, value, bits, bidders, counts, all_pairs, second)
    elif all_pairs and not second:
        j, price = await first_price_by_elimination(ctx, value, bits, c, bidders, counts)
    else:
        j, price = await by_circuit(ctx, value, bits, c, bidders, counts, all_pairs, second)
    out = {"winner": owner[j], "price": price}
    if bids:
        out["bid"] = position[j]
    return out


def _three_party_fits(n: int, compute_parties: int) -> bool:
    """Three parties who all bid: the helper comparison applies."""
    return n == 3 and compute_parties == 0
