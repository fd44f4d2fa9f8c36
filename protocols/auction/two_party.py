"""Two bidders alone: the auction on the two-party engine (the rounds and
the security statement: :func:`two_party`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcnet import Context, RemoteProtocolViolation
from mpcnet.mpc import bitcircuits
from mpcnet.mpc.twoparty import TwoPartyEngine, blocks_for, millionaires_ots, tree_pairs

__all__ = ["two_party"]

Array = np.ndarray[Any, Any]
#: Values compared by the millionaires protocol: P0's (top, top, second) against P1's (top, second, top).
_LANES = 3


def _tops(bids: list[int]) -> tuple[int, int, int]:
    """(highest, position of its first occurrence, second highest or 0 with a single bid)."""
    pos = max(range(len(bids)), key=lambda i: (bids[i], -i))
    rest = bids[:pos] + bids[pos + 1:]
    return bids[pos], pos, max(rest) if rest else 0


async def two_party(ctx: Context, value: Any, k: int, counts: list[int], second: bool) -> tuple[int, int, int]:
    """(winner's party index, price, winning bid's position in its owner's list).

    Each bidder first finds, in the clear, its own highest bid ``a1`` (``b1``
    at P1), that bid's position, and its second highest ``a2`` (``b2``; 0 when it
    holds one bid: bids are unsigned, so 0 never changes a maximum). On the
    two-party engine (:mod:`mpcnet.mpc.twoparty`, no dealer) one batch of the
    millionaires protocol gives shares of ``s = [a1 < b1]`` (P1 wins; ties go to
    P0), ``u = [a1 < b2]`` and ``v = [a2 < b1]``. First price is ``s ? b1 :
    a1``; second price (the second-highest of all bids) is ``s ? max(b2, a1) :
    max(a2, b1)``, the two maxima selected by u and v. Selections are
    ``b XOR s AND (a XOR b)`` on Beaver triples; the winner bit, price and
    position are opened together.

    Rounds: the tags of an OT extension kept on the link 1 (see
    :meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.offer_kept_with_ots`), OT
    setup 1 and offline random OTs 1 (both none when both ends hold the same
    kept extension, after an earlier two-party session or ``twoparty-setup``
    on the link: the offline OTs then ride on the tag round), millionaires 2
    (1 with a kept extension: its first message rides on the tag round too)
    + tree 3 (32-bit bids), selection 1 (2 for second price), opening 1: 10
    (11) for 32 bits, 7 (8) with a kept extension.
    Bytes: about 22 KB per party for 32-bit bids (24 KB second price), most
    of it the 256 base OTs and the random OTs of 7 words of paired triples
    and 2 (+ 2) words of triples (64 AND gates a word).

    Security: semi-honest, private against either bidder (the other honest),
    under the assumptions of the OT extension (``docs/security.md``, "Two
    parties"). The outputs themselves say much with two bidders: the
    first-price loser learns the winner's bid; the second-price winner learns
    the loser's highest bid (the price), and the loser learns nothing beyond
    the winner and the price."""
    eng = TwoPartyEngine(ctx, label="auction")
    me = ctx.index
    p0, p1 = ctx.parties
    peer = ctx.peers[0]
    # After the comparison's tree every value is one word with its bits in the
    # lanes (a k-bit value, k <= 64, fits), so a selection costs one word of triples.
    send, recv = millionaires_ots(k, _LANES, me == 0)
    sizes = {"and_words": (2 if second else 0) + 2, "pair_words": tree_pairs(blocks_for(k)), "leaf_send": send,
             "leaf_recv": recv}
    bids = [int(v) for v in (value if isinstance(value, list) else [value])]
    top, pos, runner = _tops(bids)
    lanes = np.array([top, top, runner] if me == 0 else [top, runner, top], dtype=np.uint64)
    # Round 1: the tag of a kept OT extension and, with one, the offline OTs on it and the
    # millionaires protocol's first message on their leaf OTs.
    tag, early = eng.offer_kept_with_ots(**sizes)
    first = eng.millionaires_first(p0, lanes, _LANES, k)
    got = (await ctx.exchange({peer: [tag, early, first]}))[peer]
    if not (isinstance(got, list) and len(got) == 3 and isinstance(got[0], bytes) and len(got[0]) in (0, 16)):
        raise RemoteProtocolViolation("expected [OT-extension tag (0 or 16 bytes), offline OTs, first leaf message] "
                                      "in the first round", peer=peer)
    eng.accept_kept(tag, got[0], got[1], got[2])
    await eng.prepare(**sizes)  # no round if round 1 carried the OTs
    g, e = await eng.millionaires(p0, lanes, _LANES, k)
    lt = await bitcircuits.prefix_top(eng, g, e)
    # Lane i of the shares to every lane of one word: b * (all ones) is linear in XOR.
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    s, u, v = (((lt >> np.uint64(i)) & np.uint64(1)) * ones for i in range(_LANES))

    def private(owner: str, x: int) -> Array:
        return eng.private(owner, np.array([[x]], dtype=np.uint64) if owner == ctx.me else None, (1, 1))

    a1, b1 = private(p0, top), private(p1, top)
    pos0, pos1 = private(p0, pos), private(p1, pos)
    if second:
        a2, b2 = private(p0, runner), private(p1, runner)
        # c1 = max(b2, a1) = u ? b2 : a1; c0 = max(a2, b1) = v ? b1 : a2 (one round for both)
        d1, d0 = await eng.and_many([(u, b2 ^ a1), (v, b1 ^ a2)])
        high, low = a1 ^ d1, a2 ^ d0
    else:
        high, low = b1, a1
    # s ? (P1's price candidate, P1's position) : (P0's ...)
    picked = await bitcircuits.select(eng, s, np.concatenate([high, pos1]), np.concatenate([low, pos0]))
    opened = await eng.open(np.concatenate([s & np.uint64(1), picked]), "bits")
    assert opened is not None
    winner, price, position = (int(w) for w in opened[:, 0])
    eng.keep()  # the session ended well at both ends (the opening was their last round)
    return winner, price, position
