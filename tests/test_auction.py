"""Sealed-bid auctions: winners and prices against plaintext, roles, views."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet.errors import ConfigError, InputError


def plaintext(bids, kind, offset=0):
    order = sorted(range(len(bids)), key=lambda i: (-bids[i], i))
    price = bids[order[0]] if kind == "first-price" else bids[order[1]]
    return {"winner": order[0] + offset, "price": price}


bid_lists = st.integers(1, 16).flatmap(
    lambda bits: st.tuples(st.just(bits), st.integers(3, 9).flatmap(
        lambda n: st.lists(st.one_of(st.integers(0, 2**bits - 1), st.sampled_from([0, 2**bits - 1])),
                           min_size=n, max_size=n))))


@pytest.mark.parametrize("kind", ["first-price", "second-price"])
@given(case=bid_lists)
@settings(max_examples=25, deadline=None)
def test_all_pairs_auction_matches_plaintext(kind, case):
    bits, bids = case
    result = mpcnet.simulate("auction", bids, params={"bits": bits, "kind": kind})
    assert all(out == plaintext(bids, kind) for out in result.outputs)


@pytest.mark.parametrize("kind", ["first-price", "second-price"])
@given(case=bid_lists)
@settings(max_examples=20, deadline=None)
def test_tournament_auction_matches_plaintext(kind, case):
    bits, bids = case
    result = mpcnet.simulate("auction", bids, params={"bits": bits, "kind": kind, "method": "tournament"})
    assert all(out == plaintext(bids, kind) for out in result.outputs)


@pytest.mark.parametrize("bids", [[7, 7, 7], [0, 0, 0, 0], [5, 9, 9, 1], [2**32 - 1, 0, 2**32 - 1]])
@pytest.mark.parametrize("kind", ["first-price", "second-price"])
def test_ties_go_to_the_lowest_index(bids, kind):
    assert mpcnet.simulate("auction", bids, params={"kind": kind}).outputs[0] == plaintext(bids, kind)


@pytest.mark.parametrize("kind", ["first-price", "second-price"])
def test_bidders_who_only_give_input(kind):
    bids = [17, 400, 3, 400, 99, 250, 1]
    inputs = [None, None, None, *bids]
    result = mpcnet.simulate("auction", inputs, params={"compute_parties": 3, "kind": kind, "bits": 12})
    assert set(map(str, result.outputs)) == {str(plaintext(bids, kind, offset=3))}
    # a bidder that does not compute takes part in two rounds: its bid and the result
    assert result.stats[5].rounds == 2


def test_rounds_grow_with_log_of_the_bid_count():
    rounds = {m: mpcnet.simulate("auction", [None] * 3 + list(range(m)), params={"compute_parties": 3})
              .stats[0].rounds for m in (2, 4, 16, 64)}
    # 1 input + 6 comparison + log2(m-1) tree + 1 price + 1 open
    assert rounds[64] - rounds[4] <= 5
    assert rounds[16] < rounds[64] <= 9 + 6


def test_bids_are_validated_before_anything_is_sent():
    with pytest.raises(InputError, match="bid out of range"):
        mpcnet.simulate("auction", [1, 2, 2**32])
    with pytest.raises(InputError, match="bid must be an integer"):
        mpcnet.simulate("auction", [1, 2, 2.5])
    with pytest.raises(InputError, match="must supply a bid"):
        mpcnet.simulate("auction", [1, 2, None])
    with pytest.raises(InputError, match="compute-only"):
        mpcnet.simulate("auction", [1, None, None, 4, 5], params={"compute_parties": 3})
    with pytest.raises(ConfigError, match="at least 3 compute parties"):
        mpcnet.simulate("auction", [None, None, 4, 5], params={"compute_parties": 2})
    with pytest.raises(ConfigError, match="at least 2 bidders"):
        mpcnet.simulate("auction", [None, None, None, 5], params={"compute_parties": 3})


def test_auction_over_tcp():
    result = mpcnet.simulate("auction", [30, 50, 40, 10], transport="tcp", params={"kind": "second-price"})
    assert result.outputs[0] == {"winner": 1, "price": 40}


def _received_bytes(bids, runs, party):
    """All bytes ``party`` received before the result round, over many runs."""
    counts = np.zeros(256, dtype=np.int64)
    for _ in range(runs):
        res = mpcnet.simulate("auction", bids, params={"bits": 8}, record_views=True).results[party]
        last = max(r.round for r in res.view)
        for rec in res.view:
            if rec.round != last:
                counts += np.bincount(np.asarray(rec.value, dtype=np.uint8).ravel(), minlength=256)
    return counts


def test_losing_bids_do_not_change_what_anyone_receives():
    # Swap the two losing bids: every party's received messages (before the
    # result is opened) must be distributed the same way: uniform bytes.
    a = _received_bytes([200, 3, 90], runs=40, party=1)
    b = _received_bytes([200, 90, 3], runs=40, party=1)
    table = np.stack([a, b]).astype(float)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    chi2 = ((table - expected) ** 2 / expected).sum()
    assert chi2 < 340  # 255 degrees of freedom: p < 3e-4 under equal distributions
    for counts in (a, b):  # and each is uniform
        e = counts.sum() / 256
        assert ((counts - e) ** 2 / e).sum() < 340
