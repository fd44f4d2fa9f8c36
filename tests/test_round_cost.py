"""What a round costs the scheduler: a small round's sends do not each pass
through it, a party waiting for many senders is woken once, and a round
still yields once (so a party that never has to wait cannot starve the
others). Counted in task steps (a step ends only where a task yields), not
timed."""

from __future__ import annotations

import pytest
import trio

from mpcnet import Context, Party
from mpcnet._net.transport import memory_mesh
from mpcnet.registry import ProtocolSpec
from mpcnet.session import new_session_id

PEERS = 20


class StepsOf(trio.abc.Instrument):
    """Counts the steps of the tasks in ``watched``."""

    def __init__(self) -> None:
        self.watched: set[trio.lowlevel.Task] = set()
        self.steps = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        if task in self.watched:
            self.steps += 1


def spec(func) -> ProtocolSpec:
    return ProtocolSpec(name="round-cost", func=func, summary="test", min_parties=2, max_parties=None,
                        security="-", reveals="-", input="-", output="-")


async def run_hub(hub_round, spoke_round) -> dict[str, object]:
    """p0 linked to p1..p20 (each spoke only to p0); p0 runs ``hub_round``,
    the spokes ``spoke_round``. Returns the outputs."""
    names = [f"p{i}" for i in range(PEERS + 1)]
    mesh = memory_mesh(names, pairs=[(0, i) for i in range(1, PEERS + 1)])
    sid = new_session_id()
    out: dict[str, object] = {}

    async def one(name: str) -> None:
        async with Party(name, names, mesh[name]) as party:
            func = hub_round if name == "p0" else spoke_round
            out[name] = (await party.run(spec(func), None, session_id=sid)).output

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(one, name)
    return out


@pytest.mark.trio
async def test_a_small_rounds_sends_do_not_each_yield():
    """p0 sends to 20 peers in one round: with room in every link, the
    round costs p0 a step or two, not one per message."""
    counter = StepsOf()
    trio.lowlevel.add_instrument(counter)
    counts = {}

    async def hub(ctx: Context, value: object) -> int:
        counter.watched.add(trio.lowlevel.current_task())
        before = counter.steps
        await ctx.exchange({p: 1 for p in ctx.peers}, expect_from=())
        counts["send"] = counter.steps - before
        return 0

    async def spoke(ctx: Context, value: object) -> int:
        return (await ctx.exchange({}, expect_from=["p0"]))["p0"]

    out = await run_hub(hub, spoke)
    trio.lowlevel.remove_instrument(counter)
    assert all(out[f"p{i}"] == 1 for i in range(1, PEERS + 1))
    assert 1 <= counts["send"] <= 2, counts  # one schedule point per round (was 20: one per message)


@pytest.mark.trio
async def test_a_party_waiting_for_many_senders_is_woken_once():
    """The spokes send to p0 one after the other (each yields between): p0,
    waiting for all 20, is woken when the last arrives, not at each."""
    counter = StepsOf()
    trio.lowlevel.add_instrument(counter)
    counts = {}

    async def hub(ctx: Context, value: object) -> int:
        counter.watched.add(trio.lowlevel.current_task())
        before = counter.steps
        got = await ctx.exchange({}, expect_from=ctx.peers)
        counts["wait"] = counter.steps - before
        await ctx.exchange({p: 0 for p in ctx.peers}, expect_from=())  # spokes stay until here
        return sum(got.values())

    async def spoke(ctx: Context, value: object) -> None:
        await trio.sleep(0.001 * ctx.index)  # arrive one by one
        await ctx.exchange({"p0": ctx.index}, expect_from=())
        await ctx.exchange({}, expect_from=["p0"])  # (a spoke that left would wake p0: a lost peer)

    out = await run_hub(hub, spoke)
    trio.lowlevel.remove_instrument(counter)
    assert out["p0"] == sum(range(1, PEERS + 1))
    assert counts["wait"] <= 3, counts  # (was 21: woken by every arrival)


@pytest.mark.trio
async def test_a_round_that_never_waits_still_yields():
    """A round whose messages are all here already (and whose sends find
    room) must still pass through the scheduler once, so that a party that
    never has to wait cannot starve the others (heartbeats, readers)."""
    counter = StepsOf()
    trio.lowlevel.add_instrument(counter)
    counts = {}

    async def hub(ctx: Context, value: object) -> int:
        await trio.sleep(0.05)  # every spoke's message arrives meanwhile
        counter.watched.add(trio.lowlevel.current_task())
        before = counter.steps
        got = await ctx.exchange({p: 0 for p in ctx.peers}, expect_from=ctx.peers)
        counts["round"] = counter.steps - before
        return sum(got.values())

    async def spoke(ctx: Context, value: object) -> int:
        return (await ctx.exchange({"p0": 1}, expect_from=["p0"]))["p0"]

    out = await run_hub(hub, spoke)
    trio.lowlevel.remove_instrument(counter)
    assert out["p0"] == PEERS
    assert counts["round"] == 1, counts


@pytest.mark.trio
async def test_a_value_sent_to_many_peers_is_encoded_once(monkeypatch):
    """An opening to every party sends one object to all: one encoding,
    the same bytes to each (distinct values are still encoded apiece)."""
    import numpy as np

    import mpcnet.context

    calls = []
    real = mpcnet.context.wire.encode

    def counting(value, limits):
        calls.append(trio.lowlevel.current_task())
        return real(value, limits)

    monkeypatch.setattr(mpcnet.context.wire, "encode", counting)
    counts = {}

    async def hub(ctx: Context, value: object) -> int:
        shared = np.arange(40, dtype=np.uint64)
        me = trio.lowlevel.current_task()
        before = calls.count(me)
        await ctx.exchange({p: shared for p in ctx.peers}, expect_from=())
        counts["shared"] = calls.count(me) - before
        before = calls.count(me)
        await ctx.exchange({p: np.full(3, i, dtype=np.uint64) for i, p in enumerate(ctx.peers)}, expect_from=())
        counts["distinct"] = calls.count(me) - before
        return 0

    async def spoke(ctx: Context, value: object) -> list[int]:
        a = (await ctx.exchange({}, expect_from=["p0"]))["p0"]
        b = (await ctx.exchange({}, expect_from=["p0"]))["p0"]
        return [int(a.sum()), int(b[0])]

    out = await run_hub(hub, spoke)
    assert counts == {"shared": 1, "distinct": PEERS}
    assert [out[f"p{i}"] for i in range(1, PEERS + 1)] == [[780, i - 1] for i in range(1, PEERS + 1)]
