"""How an auction's bids are laid out for the all-pairs comparisons: the
pairs compared, who beats whom, and what the result round opens (the
algorithms: :mod:`protocols.auction`)."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from mpcnet.mpc.binary import bnot

__all__ = ["ELIMINATION_WORDS", "Array", "beats_table", "byte_length", "extras", "pair_indices", "shapes"]

Array = np.ndarray[Any, Any]

#: Random GF(2^8) words per bid in the first-price elimination step: a
#: losing bid passes for a winner with probability 256^-4 = 2^-32.
ELIMINATION_WORDS = 4


def byte_length(k: int) -> int:
    """Bytes of a k-bit bid."""
    return (k + 7) // 8


def extras(m: int, k: int, second: bool) -> tuple[int, int]:
    """(zero masks, random elements) the result round of an all-pairs or
    three-party auction of m k-bit bids uses: second price opens m winner
    bits and k price bits wide; first price opens ELIMINATION_WORDS words and
    the bid's bytes per bid, each with m - 1 random elements
    (:func:`protocols.auction.elimination.elimination_values`)."""
    if second:
        return m + k, 0
    per_bid = ELIMINATION_WORDS + byte_length(k)
    return m * per_bid, m * (m - 1) * per_bid


def shapes(bidders: list[str], counts: list[int], width: int, several: bool) -> dict[str, tuple[int, ...]]:
    return {b: ((n_b, width) if several else (width,)) for b, n_b in zip(bidders, counts, strict=True)}


@functools.lru_cache(maxsize=16)
def pair_indices(m: int) -> tuple[Array, Array]:
    """The pairs (i, j), i < j, of m bids, in ``np.triu_indices`` order (cached, read-only)."""
    iu, ju = np.triu_indices(m, k=1)
    iu.flags.writeable = ju.flags.writeable = False
    return iu, ju


def beats_table(j_gt_i: Array, m: int) -> Array:
    """``(m, m - 1)`` shared bits: row i holds [j beats i] for every j != i,
    from ``j_gt_i``, the shared [b_j > b_i] for the pairs i < j in
    ``pair_indices`` order. Ties go to the lower index: j beats i iff
    b_j > b_i when i < j, and iff not b_i > b_j when j < i."""
    iu, ju = pair_indices(m)
    beaten_by = np.zeros((m, m), dtype=np.uint8)  # beaten_by[i, j] = [j beats i]
    beaten_by[iu, ju] = j_gt_i
    beaten_by[ju, iu] = bnot(j_gt_i)
    return beaten_by[~np.eye(m, dtype=bool)].reshape(m, m - 1)
