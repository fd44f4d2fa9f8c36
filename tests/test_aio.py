"""Embedding mpcnet in asyncio programs (trio guest mode)."""

from __future__ import annotations

import asyncio

import pytest

import mpcnet
import mpcnet.aio
from mpcnet.identity import Roster, generate_key

from helpers import free_ports


def test_simulate_from_asyncio():
    async def main():
        result = await mpcnet.aio.simulate("secure-average", [3800, 2514, 2982, 3390], transport="tcp")
        return result.outputs

    assert asyncio.run(main()) == (3171.5,) * 4


def test_one_host_serves_many_calls_concurrently():
    async def main():
        async with mpcnet.aio.TrioHost():
            results = await asyncio.gather(*(mpcnet.aio.simulate("secure-sum", [i, i, i]) for i in range(5)))
            other = await asyncio.sleep(0, result="asyncio still runs")
        return [r.outputs[0] for r in results], other

    outs, other = asyncio.run(main())
    assert outs == [0, 3, 6, 9, 12] and other == "asyncio still runs"


def test_errors_arrive_typed():
    async def main():
        await mpcnet.aio.simulate("secure-sum", [1, 2.5])

    with pytest.raises(mpcnet.InputError):
        asyncio.run(main())


def _roster(names):
    keys = [generate_key(n) for n in names]
    ports = free_ports(len(names))
    roster = Roster.from_entries([(k.name, f"127.0.0.1:{p}", k.public) for k, p in zip(keys, ports, strict=True)])
    return roster, keys


def test_parties_as_asyncio_services_run_several_sessions():
    roster, keys = _roster(["alice", "bob", "carol"])

    async def party(key, value):
        async with mpcnet.aio.open_party(roster, key, connect_timeout=10) as p:
            first = await p.run("secure-sum", value, session_id="one")
            second, third = await asyncio.gather(
                p.run("secure-sum", value * 10, session_id="two"),
                p.run("auction", value, session_id="three"))
            return first.output, second.output, third.output

    async def main():
        async with mpcnet.aio.TrioHost():
            return await asyncio.gather(*(party(k, v) for k, v in zip(keys, [1, 2, 3], strict=True)))

    outs = asyncio.run(main())
    assert outs == [(6, 60, {"winner": 2, "price": 3})] * 3


def test_cancelling_an_asyncio_caller_aborts_the_session_for_everyone():
    roster, keys = _roster(["alice", "bob", "carol"])

    async def main():
        async with mpcnet.aio.TrioHost():
            async def member(key, delay):
                async with mpcnet.aio.open_party(roster, key, connect_timeout=10) as p:
                    if delay:
                        task = asyncio.ensure_future(p.run("secure-sum", 1, session_id="s", round_timeout=30))
                        await asyncio.sleep(delay)
                        task.cancel()
                        with pytest.raises(asyncio.CancelledError):
                            await task
                        return "cancelled"
                    try:
                        await p.run("secure-sum", 1, session_id="s", round_timeout=30)
                    except mpcnet.MPCError as exc:
                        return type(exc).__name__, exc.peer

            # carol never runs the session, so alice and bob wait in round 1;
            # alice's caller gives up: bob must learn at once, not in 30 s.
            async def carol():
                async with mpcnet.aio.open_party(roster, keys[2], connect_timeout=10):
                    await asyncio.sleep(4)  # long after alice's abort (0.5 s), far before 30 s
                return "idle"

            return await asyncio.wait_for(asyncio.gather(member(keys[0], 0.5), member(keys[1], 0), carol()), 20)

    alice, bob, carol = asyncio.run(main())
    assert alice == "cancelled"
    assert bob == ("SessionAborted", "alice")
