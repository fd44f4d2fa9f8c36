"""simulate(): a party whose session is over keeps its links open until every
party's session is over (its teardown would otherwise run inside the others'
sessions, in the one event loop they share, and count in their times)."""

from __future__ import annotations

import time

import pytest
import trio

import mpcnet
from mpcnet import Context, protocol


@protocol("test-late-send", min_parties=2, max_parties=2, security="none (a test)", reveals="everything",
          input="none", output="None")
async def _late_send(ctx: Context, value: object) -> None:
    # p0 is done at once; p1 sends it one more message after p0's session
    # ended (p0 drops it: the session is over). That send finds the link
    # open only if p0 did not close its links when its own run ended.
    if ctx.index == 1:
        await trio.sleep(0.2)
        await ctx.send(ctx.parties[0], 1)


@pytest.mark.parametrize("transport", ["memory", "tcp"])
def test_a_finished_party_keeps_its_links_until_every_session_is_over(transport):
    assert mpcnet.simulate("test-late-send", [None, None], transport=transport).outputs == (None, None)


@protocol("test-early-failure", min_parties=3, max_parties=3, security="none (a test)", reveals="everything",
          input="none", output="None")
async def _early_failure(ctx: Context, value: object) -> None:
    if ctx.index == 2:
        raise ValueError("p2 gives up")
    await ctx.broadcast(0)


def test_a_failed_party_still_ends_the_run_at_once():
    # p2 fails before its first round; p0 and p1, waiting for its message,
    # hear of it at once (its abort, its closed links), not at the 30 s
    # round deadline; the run raises p2's own error.
    start = time.perf_counter()
    with pytest.raises(ValueError, match="p2 gives up"):
        mpcnet.simulate("test-early-failure", [None] * 3, transport="tcp", round_timeout=30)
    assert time.perf_counter() - start < 5
