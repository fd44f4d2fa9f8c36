"""The three-party helper comparison (protocols/auction/helper.py), without the network."""

from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from mpcnet import OSRandomness
from protocols.auction import helper as hc


def helper_says(x: list[int], y: list[int], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Run both owners' side and the helper's for the pairs (x[p], y[p]):
    returns (the helper's bits, the owners' b). x is the lower-indexed value."""
    key, pairs = os.urandom(32), np.arange(len(x))
    b = hc.swap_bits(key, pairs)
    # x's owner holds the G side when b = 1, y's owner when b = 0
    tags_x = hc.tags(key, pairs, [2 * v + 1 for v in x], b == 1, k, OSRandomness())
    tags_y = hc.tags(key, pairs, [2 * v for v in y], b == 0, k, OSRandomness())
    return hc.helper_bits(tags_x, tags_y), b


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_every_pair_of_small_values(k):
    x, y = zip(*itertools.product(range(2**k), repeat=2), strict=True)
    c, b = helper_says(list(x), list(y), k)
    assert np.array_equal(c ^ b, (np.array(y) > np.array(x)).astype(np.uint8))


@pytest.mark.parametrize("k", [31, 32, 62, 63, 64])
def test_edge_values_of_wide_bids(k):
    top = 2**k - 1
    edges = [0, 1, top - 1, top, 2 ** (k - 1), 2 ** (k - 1) - 1]
    x, y = zip(*itertools.product(edges, repeat=2), strict=True)
    c, b = helper_says(list(x), list(y), k)
    assert np.array_equal(c ^ b, np.array([int(v > u) for u, v in zip(x, y, strict=True)], dtype=np.uint8))


def test_tags_are_sorted_distinct_64_bit_words_and_b_is_balanced():
    key, pairs = bytes(range(32)), np.arange(2000)  # a fixed key: the coin count is the same on every run
    b = hc.swap_bits(key, pairs)
    assert 900 < int(b.sum()) < 1100  # a fair coin per pair (p < 1e-5 outside)
    t = hc.tags(key, pairs[:50], list(range(50)), np.ones(50, dtype=bool), 32, OSRandomness())
    assert t.dtype == np.uint64 and t.shape == (50, hc.levels(32))
    assert np.all(t[:, 1:] > t[:, :-1])
    assert hc.key_check(b"k" * 32) != hc.key_check(b"j" * 32) and len(hc.key_check(b"k" * 32)) == 16
