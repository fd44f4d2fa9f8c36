"""First price over all pairs, by elimination: the winner is the one bid
that no other bid beats, found in a single opening (the algorithm and its
privacy argument: :func:`first_price_by_elimination`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcnet import Context, RemoteProtocolViolation
from mpcnet.mpc import RESULT_ROUND
from mpcnet.mpc.binary import bits_from_onehot, greater_than_onehot, onehot_size, to_onehot
from mpcnet.mpc.fields import GF256
from mpcnet.mpc.shamir import ShamirEngine

from .layout import ELIMINATION_WORDS, Array, beats_table, byte_length, extras, pair_indices, shapes

__all__ = ["elimination_values", "first_price_by_elimination", "open_winner"]


async def first_price_by_elimination(ctx: Context, value: Any, k: int, c: int, bidders: list[str],
                                      counts: list[int]) -> tuple[int, int]:
    """First price, all pairs: input, the one-hot comparisons, one result
    round (the count: :mod:`protocols.auction`).

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
    shared = await eng.input(shapes(bidders, counts, width, several), mine)
    m = sum(counts)
    opened_values: Array | None = None
    if eng.is_compute:
        all_bids = np.concatenate([shared[b].reshape(-1, width) for b in bidders])  # (m, width)
        iu, ju = pair_indices(m)  # pairs i < j
        # j_gt_i[p] = [b_j > b_i] for the pair p = (i, j).
        masks, randoms = extras(m, k, second=False)
        j_gt_i = await greater_than_onehot(eng, all_bids[ju], all_bids[iu], k, masks=masks, randoms=randoms)
        beats = beats_table(j_gt_i, m)
        # The bid as bytes: bit b of byte q is the field element x^(b - 8q), so
        # XORing a byte's shared bits, each scaled by its power, gives the byte.
        powers = (1 << (np.arange(k) % 8)).astype(np.uint8)
        scaled = f.mul(bits_from_onehot(all_bids, k), powers)  # (m, k)
        price_bytes = np.bitwise_xor.reduceat(scaled, np.arange(0, k, 8), axis=1)  # (m, digits): XOR is +
        opened_values = elimination_values(eng, beats, price_bytes)
    if c < ctx.n:  # bidders who do not compute wait at an agreed round number
        ctx.skip_to_round(RESULT_ROUND)
    return await open_winner(eng, opened_values, m, k)


def elimination_values(eng: ShamirEngine, beats: Array, price_bytes: Array) -> Array:
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


async def open_winner(eng: ShamirEngine, values: Array | None, m: int, k: int) -> tuple[int, int]:
    """Open the elimination values; the one bid whose words are all zero
    wins, and its bytes are the price. Returns (bid index, price)."""
    words = ELIMINATION_WORDS
    opened = await eng.open_wide(values, shape=(m, words + byte_length(k)))  # what input-only bidders accept
    assert opened is not None
    table = np.asarray(opened)
    winners: Any = np.flatnonzero(~table[:, :words].any(axis=1)) if table.shape == (m, words + byte_length(k)) else []
    if len(winners) != 1:
        raise RemoteProtocolViolation("the opened scores do not name exactly one winner (a compute party "
                                      "deviated, or a losing bid's random words were all 0: probability 2^-32)")
    j = int(winners[0])
    price = sum(int(byte) << (8 * q) for q, byte in enumerate(table[j, words:]))
    if price >= 1 << k:
        raise RemoteProtocolViolation("the opened price is out of range (a compute party deviated)")
    return j, price
