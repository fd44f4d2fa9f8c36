"""Auctions on the three-party replicated engine: three compute parties, the
bids as bit-sliced replicated shares (:class:`mpcnet.mpc.SlicedBits`,
:mod:`mpcnet.mpc.replicated`), what ``engine=auto`` picks with exactly three
compute parties for the all-pairs and tournament methods.

Rounds (m bids of k bits, ``C = 1 + ceil(log2 k)`` the comparison's, 6 for
32 bits):

* all pairs, first price: input 1, every pair compared at once C, result 1:
  ``2 + C`` (8 for 32-bit bids), whatever m (up to ``ALL_PAIRS_MAX``). The
  result round opens, per bid, :data:`CHECK_BITS` bits ``XOR_j rho_ij AND
  beats_ij`` and the bid's bits XOR ``XOR_j sigma_ij AND beats_ij`` for fresh
  random shared bits rho, sigma (free: :meth:`ReplicatedEngine.random`), as
  sums of products (:meth:`ReplicatedEngine.open_sum`): zero and the bid for
  the one bid nothing beats, uniform bits for every other bid (the argument
  of :func:`protocols.auction.elimination.first_price_by_elimination`, over
  GF(2); a loser passes for a winner with probability 2^-32, and the run
  then stops with an error);
* all pairs, second price: ``2 + C + ceil(log2(m - 1))`` (13 for 20 bids):
  the "beaten by none, by exactly one" tree of
  :func:`protocols.auction.circuits.second_price_values`, then the winner's
  one-hot and ``XOR_i one_i AND b_i`` (the runner-up) opened as a sum of
  products in the result round;
* tournament: ``ceil(log2 m)`` levels of a comparison and a selection (two
  of each for second price), then the winner's index and the price opened.

Security: semi-honest, any one of the three compute parties plus any number
of input-only bidders (replicated sharing, Araki et al. CCS 2016; the
zero-sharings and random sharings are AES-CTR under pairwise keys). Reveals
the winner's index and the price, nothing else: the opened check bits of
losing bids are uniform and independent of the bids.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcnet import Context, RemoteProtocolViolation, mpc
from mpcnet.mpc import RESULT_ROUND, SlicedBits, concat_sliced
from mpcnet.mpc.bitcircuits import prefix_top
from mpcnet.mpc.bitcircuits import select as select_planes
from mpcnet.mpc.bitslice import from_lanes, lanes, pack, unpack, words_for
from mpcnet.mpc.replicated import BITS, Pair, ReplicatedEngine

from .layout import Array, pair_indices

__all__ = ["CHECK_BITS", "on_replicated"]

#: Bits per one-hot block of the all-pairs comparison (256 indicators a block).
BLOCK_BITS = 8
BLOCK_WORDS = (1 << BLOCK_BITS) // 64

#: Random check bits per bid in the first-price result round: a losing bid
#: passes for the winner with probability 2^-32.
CHECK_BITS = 32


async def on_replicated(ctx: Context, value: Any, k: int, bidders: list[str], counts: list[int],
                        all_pairs: bool, second: bool) -> tuple[int, int]:
    """The auction among three compute parties (the first three parties) on
    the replicated engine. Returns (bid index, price)."""
    c = 3
    rt = mpc.Runtime(ctx, compute=ctx.parties[:c], engine="replicated")
    mine = None if value is None else (list(value) if isinstance(value, list) else [value])
    m = sum(counts)
    eng = rt.replicated_engine
    if all_pairs:
        beats, bids = await _onehot_beats(rt, bidders, counts, mine, k)
        term, shape = (_second_price_term(eng, *(await _none_or_one(beats)), bids, k) if second
                       else _first_price_term(eng, beats, bids, m, k))
    else:
        got = await rt.input_sliced({b: (n_b,) for b, n_b in zip(bidders, counts, strict=True)}, mine, bits=k)
        term, shape = await _tournament(eng, concat_sliced([got[b] for b in bidders]), m, k, second)
    if c < ctx.n:  # bidders who do not compute wait at an agreed round number
        ctx.skip_to_round(RESULT_ROUND)
    opened = await eng.open_sum(term, BITS, to=ctx.parties, shape=shape)
    assert opened is not None
    if all_pairs and not second:
        return _first_price_result(opened, m, k)
    if all_pairs:
        onehot = unpack(opened[None, : words_for(m)], m)
        price = int(unpack(opened[words_for(m) :, None], 1)[0])
        if onehot.sum() != 1:
            raise RemoteProtocolViolation("the opened winner is not one bid (a compute party deviated)")
        return int(np.argmax(onehot)), price
    index_bits = max(1, (m - 1).bit_length())
    j = int(unpack(opened[:index_bits], 1)[0])
    if j >= m:
        raise RemoteProtocolViolation("the opened winner is out of range (a compute party deviated)")
    return j, int(unpack(opened[index_bits:], 1)[0])


# _INDEX_BIT_MASKS[t]: the 256 positions of a block whose index has bit t, as four little-endian words.
_INDEX_BIT_MASKS = np.packbits(((np.arange(256)[None, :] >> np.arange(BLOCK_BITS)[:, None]) & 1).astype(np.uint8),
                               axis=1, bitorder="little").view(np.uint64)


def block_count(k: int) -> int:
    """One-hot blocks of a k-bit bid (:data:`BLOCK_BITS` bits each)."""
    return (k + BLOCK_BITS - 1) // BLOCK_BITS


def onehot_words(values: Array, k: int) -> Array:
    """``(m, blocks * BLOCK_WORDS)`` uint64: per value, the one-hot vector of
    each 8-bit block (block b's position a is bit ``256 b + a`` of the row,
    little-endian in its words)."""
    values = np.asarray(values, dtype=np.uint64).reshape(-1)
    blocks = block_count(k)
    hot = np.zeros((values.size, blocks, 1 << BLOCK_BITS), dtype=np.uint8)
    digits = (values[:, None] >> (np.uint64(BLOCK_BITS) * np.arange(blocks, dtype=np.uint64))) & np.uint64(0xFF)
    np.put_along_axis(hot, digits.astype(np.int64)[..., None], 1, axis=2)
    return np.packbits(hot.reshape(values.size, -1), axis=1, bitorder="little").view(np.uint64)


def _bits_of(hot: Array) -> Array:
    """0/1 bytes ``(m, blocks, 256)`` of one-hot words ``(m, blocks * 4)``."""
    m = hot.shape[0]
    return np.unpackbits(np.ascontiguousarray(hot).view(np.uint8), axis=1, bitorder="little").reshape(m, -1, 256)


def _below(hot: Array) -> Array:
    """Per block, position a set to the XOR of the positions below a
    (``[value < a]`` for a one-hot block); linear, so it maps shares to shares."""
    bits = _bits_of(hot)
    below = np.zeros_like(bits)
    below[..., 1:] = np.bitwise_xor.accumulate(bits, axis=2)[..., :-1]
    return np.packbits(below.reshape(hot.shape[0], -1), axis=1, bitorder="little").view(np.uint64)


def _block_parity(words: Array, blocks: int) -> Array:
    """``(rows, blocks)`` 0/1: the XOR of each block's 256 bits."""
    w: Array = np.bitwise_xor.reduce(words.reshape(words.shape[0], blocks, BLOCK_WORDS), axis=2)
    for shift in (32, 16, 8, 4, 2, 1):
        w ^= w >> np.uint64(shift)
    return (w & np.uint64(1)).astype(np.uint8)


def _value_planes(hot: Array, k: int) -> Array:
    """The ``(k, words_for(m))`` bit planes of the values whose one-hot
    words are ``hot`` (a linear map: bit t of a block is the XOR of the
    positions whose index has bit t)."""
    m = hot.shape[0]
    blocks = hot.shape[1] // BLOCK_WORDS
    # bit t of a block: the parity of its positions whose index has bit t (masks of 4 words each)
    picked = hot.reshape(m, blocks, 1, BLOCK_WORDS) & _INDEX_BIT_MASKS[None, None, :, :]
    w: Array = np.bitwise_xor.reduce(picked, axis=3)  # (m, blocks, 8)
    for shift in (32, 16, 8, 4, 2, 1):
        w ^= w >> np.uint64(shift)
    bits = (w & np.uint64(1)).astype(np.uint8)
    return from_lanes(np.ascontiguousarray(bits.reshape(m, -1)[:, :k].T))


async def _onehot_beats(rt: Any, bidders: list[str], counts: list[int], mine: Any,
                        k: int) -> tuple[SlicedBits, SlicedBits]:
    """Input the bids as one-hot 8-bit blocks (1 round) and compare every
    pair: per pair and block, ``[x > y] = XOR_a x_a [y < a]`` and ``[x = y]
    = XOR_a x_a y_a`` are sums of products, so each is one additive term
    resharing in one round; then the prefix tree over the blocks
    (``ceil(log2 blocks)`` rounds, 2 for 32 bits). Returns the ``(m, m - 1)``
    "j beats i" bits (:func:`_beats_from`) and the bids' bit planes."""
    eng = rt.replicated_engine
    blocks = block_count(k)
    width = blocks * BLOCK_WORDS
    m = sum(counts)
    deal = None if mine is None else onehot_words(np.array([int(v) for v in mine], dtype=np.uint64), k)
    got = await eng.input({b: (n_b, width) for b, n_b in zip(bidders, counts, strict=True)}, deal, BITS)
    if not eng.is_compute:
        return SlicedBits(rt, None, 1, False, (m, m - 1)), SlicedBits(rt, None, k, False, (m,))
    hot = Pair(np.concatenate([got[b].first for b in bidders]), np.concatenate([got[b].second for b in bidders]))
    below = Pair(_below(hot.first), _below(hot.second))
    iu, ju = pair_indices(m)  # pairs i < j: [b_j > b_i]
    x = Pair(hot.first[ju], hot.second[ju])
    greater = _block_parity(eng.and_term(x, Pair(below.first[iu], below.second[iu])), blocks)
    equal = _block_parity(eng.and_term(x, Pair(hot.first[iu], hot.second[iu])), blocks)
    terms = from_lanes(np.concatenate([greater.T, equal.T]))  # (2 blocks, words(pairs)): block 0 lowest
    both = await eng.reshare(terms, BITS)
    g = Pair(both.first[:blocks], both.second[:blocks])
    e = Pair(both.first[blocks:], both.second[blocks:])
    j_gt_i = SlicedBits(rt, await prefix_top(eng, g, e), 1, False, (iu.size,))
    values = SlicedBits(rt, Pair(_value_planes(hot.first, k), _value_planes(hot.second, k)), k, False, (m,))
    return _beats_from(j_gt_i, m), values


def _beats_from(j_gt_i: SlicedBits, m: int) -> SlicedBits:
    """``(m, m - 1)`` 1-bit values: row i holds [j beats i] for every j != i
    (ties to the lower index), from [b_j > b_i] for the pairs i < j."""
    iu, ju = pair_indices(m)
    pair = np.zeros((m, m), dtype=np.int64)
    pair[iu, ju] = pair[ju, iu] = np.arange(iu.size)
    off = ~np.eye(m, dtype=bool)
    rows, cols = np.nonzero(off)
    # j beats i: b_j > b_i when i < j; not b_i > b_j when j < i.
    flip = (cols < rows).astype(np.int64).reshape(m, m - 1)
    return j_gt_i[pair[rows, cols].reshape(m, m - 1)] ^ flip


def _first_price_term(eng: ReplicatedEngine, beats: SlicedBits, bids: SlicedBits, m: int,
                      k: int) -> tuple[Array | None, tuple[int, ...]]:
    """This party's additive term of the first-price result: per bid,
    CHECK_BITS planes ``XOR_j rho_ij beats_ij``, then k planes ``b_i XOR
    XOR_j sigma_ij beats_ij``."""
    rows = CHECK_BITS + k
    shape = (rows, words_for(m))
    if beats.shares is None or bids.shares is None:
        return None, shape
    rho = eng.random((rows, words_for(m * (m - 1))))
    products = lanes(eng.and_term(rho, beats.shares), m * (m - 1)).reshape(rows, m, m - 1)
    term = from_lanes(np.bitwise_xor.reduce(products, axis=2))
    term[CHECK_BITS:] ^= bids.shares.first  # a replicated value's first share: its additive term
    return term, shape


def _first_price_result(opened: Array, m: int, k: int) -> tuple[int, int]:
    checks = unpack(opened[:CHECK_BITS], m)
    winners = np.flatnonzero(checks == 0)
    if len(winners) != 1:
        raise RemoteProtocolViolation("the opened check bits do not name exactly one winner (a compute party "
                                      "deviated, or a losing bid's 32 random bits were all 0: probability 2^-32)")
    j = int(winners[0])
    return j, int(unpack(opened[CHECK_BITS:, :], m)[j])


async def _none_or_one(beats: SlicedBits) -> tuple[SlicedBits, SlicedBits]:
    """Per row: [no bit set] and [exactly one bit set], a tree over (zero,
    one) pairs: zero = z1 z2, one = o1 z2 XOR z1 o2; the three products of a
    level in one round."""
    z, o = ~beats, beats
    m = beats.shape[0]
    while z.shape[1] > 1:
        if z.shape[1] % 2:  # pad with a neutral "no bit" column
            z = concat_sliced([z, z[:, :1] ^ z[:, :1] ^ 1], axis=1)
            o = concat_sliced([o, o[:, :1] ^ o[:, :1]], axis=1)
        z1, z2, o1, o2 = z[:, 0::2], z[:, 1::2], o[:, 0::2], o[:, 1::2]
        both = await concat_sliced([z1, o1, z1]).and_(concat_sliced([z2, z2, o2]))
        z, o = both[:m], both[m : 2 * m] ^ both[2 * m :]
    return z[:, 0], o[:, 0]


def _second_price_term(eng: ReplicatedEngine, zero: SlicedBits, one: SlicedBits, bids: SlicedBits,
                       k: int) -> tuple[Array | None, tuple[int, ...]]:
    """The winner's one-hot (zero's first share) and ``XOR_i one_i AND b_i``
    (the runner-up's bits, a sum of products), as one flat term."""
    m = bids.shape[0]
    shape = (words_for(m) + k,)
    if zero.shares is None or one.shares is None or bids.shares is None:
        return None, shape
    price = np.bitwise_xor.reduce(lanes(eng.and_term(one.shares, bids.shares), m), axis=1)  # (k,) bits
    return np.concatenate([zero.shares.first[0], price.astype(np.uint64)]), shape


async def _tournament(eng: ReplicatedEngine, bids: SlicedBits, m: int, k: int,
                      second: bool) -> tuple[Array | None, tuple[int, ...]]:
    """The winner's index and the price (the best, or for second price the
    best loser to it), by ``ceil(log2 m)`` levels; ties to the lower index."""
    ki = max(1, (m - 1).bit_length())
    shape = (ki + k, 1)
    if bids.shares is None:
        return None, shape
    rt = bids.rt
    index = SlicedBits(rt, eng.public(pack(np.arange(m), ki), BITS), ki, False, (m,))
    runner = SlicedBits(rt, eng.public(pack(np.zeros(m, dtype=np.int64), k), BITS), k, False, (m,))
    best = bids
    while best.shape[0] > 1:
        n = best.shape[0]
        half = n // 2
        a, b = best[0 : 2 * half : 2], best[1 : 2 * half : 2]  # a has the lower indices
        b_wins = await b.gt(a)
        ia, ib = index[0 : 2 * half : 2], index[1 : 2 * half : 2]
        if second:
            ra, rb = runner[0 : 2 * half : 2], runner[1 : 2 * half : 2]
            new_best, new_index, loser, kept = await _select_many(b_wins, [(b, a), (ib, ia), (a, b), (rb, ra)])
            better = await loser.gt(kept)
            (new_runner,) = await _select_many(better, [(loser, kept)])
            runner = concat_sliced([new_runner, runner[2 * half :]]) if n % 2 else new_runner
        else:
            new_best, new_index = await _select_many(b_wins, [(b, a), (ib, ia)])
        best = concat_sliced([new_best, best[2 * half :]]) if n % 2 else new_best
        index = concat_sliced([new_index, index[2 * half :]]) if n % 2 else new_index
    price = runner if second else best
    assert index.shares is not None and price.shares is not None
    return np.concatenate([index.shares.first, price.shares.first]), shape


async def _select_many(cond: SlicedBits, pairs: list[tuple[SlicedBits, SlicedBits]]) -> list[SlicedBits]:
    """Several ``cond ? x : y`` with one 1-bit condition, in one round."""
    assert cond.shares is not None
    xs = Pair(np.concatenate([x.shares.first for x, _ in pairs]),  # type: ignore[union-attr]
              np.concatenate([x.shares.second for x, _ in pairs]))  # type: ignore[union-attr]
    ys = Pair(np.concatenate([y.shares.first for _, y in pairs]),  # type: ignore[union-attr]
              np.concatenate([y.shares.second for _, y in pairs]))  # type: ignore[union-attr]
    out = await select_planes(cond.rt.replicated_engine, cond.shares, xs, ys)
    parts, at = [], 0
    for x, _ in pairs:
        parts.append(SlicedBits(x.rt, Pair(out.first[at : at + x.k], out.second[at : at + x.k]), x.k, x.signed,
                                x.shape))
        at += x.k
    return parts
