"""Second price over all pairs, and either kind by tournament: boolean
circuits over GF(2^8) (rounds: :mod:`protocols.auction`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcnet import Context, RemoteProtocolViolation
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
from mpcnet.mpc.shamir import ShamirEngine

from .layout import Array, beats_table, extras, pair_indices, shapes

__all__ = ["by_circuit", "check_onehot_result", "second_price_values"]


async def by_circuit(ctx: Context, value: Any, k: int, c: int, bidders: list[str], counts: list[int],
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
    shared = await eng.input(shapes(bidders, counts, width, ctx.params["bids"] > 0), mine)
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
    return check_onehot_result(opened, sum(counts))


def check_onehot_result(opened: Array | None, m: int) -> tuple[int, int]:
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
    iu, ju = pair_indices(m)  # pairs i < j
    # j_gt_i[p] = [b_j > b_i] for pair p = (i, j). Ties go to the lower index:
    # j beats i iff b_j > b_i; i beats j iff not (b_j > b_i). The masks for
    # the final opening (m winner bits, k price bits) ride on this round.
    j_gt_i = await greater_than_onehot(eng, bids[ju], bids[iu], k, masks=extras(m, k, second=True)[0])
    return await second_price_values(eng, beats_table(j_gt_i, m), bits_from_onehot(bids, k))


async def second_price_values(eng: ShamirEngine, beats: Array, bid_bits: Array) -> Array:
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
