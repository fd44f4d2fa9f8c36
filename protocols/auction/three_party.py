"""Three bidder-parties: every comparison in one round, by a helper (the
rounds and the security statement: :func:`three_party`)."""

from __future__ import annotations

import hmac
from typing import Any

import numpy as np

from mpcnet import ConfigError, Context, LocalProtocolViolation, RemoteProtocolViolation
from mpcnet.mpc.binary import to_bits
from mpcnet.mpc.fields import GF256
from mpcnet.mpc.shamir import ShamirEngine

from . import helper as hc
from .circuits import check_onehot_result, second_price_values
from .elimination import elimination_values, open_winner
from .layout import Array, beats_table, byte_length, extras, pair_indices

__all__ = ["three_party"]


async def three_party(ctx: Context, value: Any, k: int, counts: list[int], second: bool) -> tuple[int, int]:
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
       :func:`~protocols.auction.elimination.first_price_by_elimination`. Second price: the
       ``ceil(log2(m-1))``-round tree of :func:`~protocols.auction.circuits.second_price_values`,
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
    iu, ju = pair_indices(m)  # pairs (i, j), i < j: s = [bid j > bid i]
    oi, oj = owner[iu], owner[ju]
    own = oi == oj
    lo, hi = np.minimum(oi, oj), np.maximum(oi, oj)
    helper = 3 - lo - hi  # the party outside a cross pair (meaningless for own pairs)
    digits = byte_length(k)

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
    eng.extras_from_keys(*extras(m, k, second), "auction/extras")
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
    beats = beats_table(s, m)
    if second:
        return check_onehot_result(await eng.open_wide(await second_price_values(eng, beats, bid_bits)), m)
    return await open_winner(eng, elimination_values(eng, beats, bid_bytes), m, k)
