"""Sessions and rounds on a shared mesh: ordering, strays, deadlines, aborts."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import trio
import trio.testing

import mpcnet
import mpcnet.party
import mpcnet.session
from mpcnet import Context, Party, protocol, wire
from mpcnet._net.transport import memory_mesh
from mpcnet.errors import (
    ChannelBroken,
    LocalProtocolViolation,
    PeerTimeout,
    RemoteProtocolViolation,
    SessionAborted,
)
from mpcnet.session import ABORT, DATA, HEARTBEAT, make_envelope, new_session_id


@protocol("test-echo-rounds", security="test only", reveals="everything", input="int", output="list")
async def echo_rounds(ctx: Context, value: int, *, rounds: int = 3) -> list[int]:
    """Broadcast a value for three rounds; return what was received."""
    seen = []
    for _ in range(3):
        got = await ctx.broadcast(value)
        seen.append(sum(got.values()))
    return seen


@protocol("test-crash-after-round-1", security="test only", reveals="nothing", input="int", output="int")
async def crash_after_round_1(ctx: Context, value: int) -> int:
    """Party p1 raises after round 1; the others wait for round 2."""
    await ctx.broadcast(value)
    if ctx.me == "p1":
        raise RuntimeError("secret 12345 must not travel")
    await ctx.broadcast(value)
    return value


@protocol("test-bad-peer", security="test only", reveals="nothing", input="int", output="int")
async def bad_peer_use(ctx: Context, value: int) -> int:
    """Sends to a party that is not a peer: a local protocol bug."""
    await ctx.send("nobody", 1)
    return value


async def send_envelope(link, kind, sid, round_no, body):
    await link.send_message(wire.encode(make_envelope(kind, sid, round_no, body)))


async def run_with_scripted_peer(script, protocol_name="secure-sum", value=5, timeout=10.0):
    """p0 runs the protocol honestly; p1 is ``script(link, session_id)``."""
    mesh = memory_mesh(["p0", "p1"])
    sid = new_session_id()
    outcome = {}
    async with trio.open_nursery() as nursery:
        nursery.start_soon(script, mesh["p1"]["p0"], sid)
        async with Party("p0", ["p0", "p1"], mesh["p0"]) as party:
            try:
                outcome["result"] = await party.run(protocol_name, value, session_id=sid, round_timeout=timeout)
            except mpcnet.MPCError as exc:
                outcome["error"] = exc
            finally:
                nursery.cancel_scope.cancel()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


@pytest.mark.trio
async def test_concurrent_sessions_share_one_mesh():
    names = ["p0", "p1", "p2"]
    mesh = memory_mesh(names)
    sids = [new_session_id() for _ in range(8)]
    results = {}

    async def party(name):
        async with Party(name, names, mesh[name]) as p:
            async with trio.open_nursery() as nursery:
                for k, sid in enumerate(sids):
                    async def one(k=k, sid=sid):
                        results[(name, k)] = (await p.run("secure-sum", [k, names.index(name)], session_id=sid)).output
                    nursery.start_soon(one)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(party, name)
    for k in range(len(sids)):
        for name in names:
            assert results[(name, k)].tolist() == [3 * k, 3]


@protocol("test-rounds-in-order", security="test only", reveals="everything", input="int", output="list")
async def rounds_in_order(ctx: Context, value: int) -> list[dict[str, object]]:
    """Three broadcast rounds; returns what each round brought from each peer,
    in round order. Unlike a sum, the answer changes if rounds are mixed up."""
    return [await ctx.broadcast(value) for _ in range(3)]


@pytest.mark.trio
@pytest.mark.parametrize("when", ["before p0 opens the session", "while p0 waits in round 1"])
async def test_messages_for_later_rounds_wait_for_their_round(when):
    async def script(link, sid):
        if when == "while p0 waits in round 1":
            await link.receive_message()  # p0's round-1 message: p0 is in round 1 now
        for r, body in ((3, "third"), (2, "second"), (1, "first")):  # the wrong order on purpose
            await send_envelope(link, DATA, sid, r, body)
        await trio.sleep_forever()

    with trio.fail_after(10):
        result = await run_with_scripted_peer(script, protocol_name="test-rounds-in-order", value=5)
    assert result.output == [{"p1": "first"}, {"p1": "second"}, {"p1": "third"}]
    assert result.stats.rounds == 3


@pytest.mark.trio
async def test_duplicate_message_names_the_peer():
    async def script(link, sid):
        await send_envelope(link, DATA, sid, 1, np.array([7], dtype=np.uint64))
        await send_envelope(link, DATA, sid, 1, np.array([7], dtype=np.uint64))
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(RemoteProtocolViolation, match="duplicate") as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_stray_message_for_finished_round_names_the_peer():
    async def script(link, sid):
        await send_envelope(link, DATA, sid, 1, np.array([7], dtype=np.uint64))
        await link.receive_message()  # p0's share: p0 has finished round 1
        await trio.sleep(0.1)
        await send_envelope(link, DATA, sid, 1, np.array([8], dtype=np.uint64))
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(RemoteProtocolViolation, match="stray or duplicate message for finished "
                                                                          "round 1") as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_silent_peer_times_out_naming_it(autojump_clock):
    async def script(link, sid):
        while True:  # alive (heartbeats), but sends nothing the round needs: the deadline names it
            await send_envelope(link, HEARTBEAT, bytes(16), 0, None)
            await trio.sleep(0.5)

    with trio.fail_after(100), pytest.raises(PeerTimeout, match="round 1 from p1") as info:
        await run_with_scripted_peer(script, timeout=5.0)
    assert info.value.peer == "p1"
    assert trio.current_time() < 10  # the deadline, not a hang


# --- pinned limits: changing one of these numbers must change a test ---------

def test_session_and_party_limits_are_pinned():
    assert mpcnet.session.MAX_PENDING_PER_PEER == 64
    assert mpcnet.party.MAX_EARLY_MESSAGES == 64
    assert mpcnet.party.MAX_EARLY_SESSIONS == 16
    assert mpcnet.session.ABORT_GRACE == 4.0
    assert inspect.signature(Party.run).parameters["round_timeout"].default == 600.0
    assert mpcnet.party.LIVENESS_TIMEOUT == 3.0 and mpcnet.party.HEARTBEAT_INTERVAL == 0.5
    assert len(new_session_id()) == 16
    # the bytes a peer may have waiting at a party: twice the largest message, 512 MiB by default
    assert Party("p0", ["p0", "p1"], {}).max_buffered_per_peer == 512 * 2**20
    assert Party("p0", ["p0", "p1"], {}, limits=wire.Limits(max_message=1000)).max_buffered_per_peer == 2000


@pytest.mark.trio
@pytest.mark.parametrize("count", [64, 65])
async def test_a_peer_may_queue_64_messages_ahead_of_a_party_not_65(count, autojump_clock):
    async def script(link, sid):
        await link.receive_message()  # p0's round-1 message: p0 waits in round 1, the session is open
        for r in range(2, count + 2):  # never round 1 itself
            await send_envelope(link, DATA, sid, r, 0)
        await trio.sleep_forever()

    # A round deadline below the 3 s liveness limit: the scripted peer sends no heartbeats.
    with trio.fail_after(100):
        if count == 64:  # all kept: p0 waits for round 1 until its deadline
            with pytest.raises(PeerTimeout, match="no message for round 1 from p1"):
                await run_with_scripted_peer(script, timeout=2.0)
        else:  # the 65th cuts the peer off at once
            with pytest.raises(RemoteProtocolViolation, match="more than 64 messages queued ahead") as info:
                await run_with_scripted_peer(script, timeout=2.0)
            assert info.value.peer == "p1" and trio.current_time() < 2


async def _park_then_check(make_envelopes, **party_kw):
    """p1 sends ``make_envelopes()`` to p0 before p0 opens any session;
    returns p0's lost peers once p0 has read them all."""
    mesh = memory_mesh(["p0", "p1"])
    async with Party("p0", ["p0", "p1"], mesh["p0"], **party_kw) as party:
        try:
            for envelope in make_envelopes():
                await mesh["p1"]["p0"].send_message(wire.encode(envelope))
        except ChannelBroken:
            pass  # p0 hung up on p1
        await trio.testing.wait_all_tasks_blocked()
        return party.lost_peers()


@pytest.mark.trio
@pytest.mark.parametrize("count", [64, 65])
async def test_a_peer_may_park_64_messages_for_a_session_not_yet_opened_not_65(count):
    sid = new_session_id()
    with trio.fail_after(10):
        lost = await _park_then_check(lambda: [make_envelope(DATA, sid, r, 0) for r in range(1, count + 1)])
    if count == 64:
        assert lost == {}
    else:
        assert list(lost) == ["p1"] and isinstance(lost["p1"], RemoteProtocolViolation)
        assert "too many messages for a session this party has not opened" in lost["p1"].message


@pytest.mark.trio
@pytest.mark.parametrize("count", [16, 17])
async def test_a_peer_may_park_messages_for_16_unopened_sessions_not_17(count):
    with trio.fail_after(10):
        lost = await _park_then_check(lambda: [make_envelope(DATA, new_session_id(), 1, 0) for _ in range(count)])
    if count == 16:
        assert lost == {}
    else:
        assert list(lost) == ["p1"] and "too many sessions" in lost["p1"].message


@pytest.mark.trio
async def test_a_peer_may_hold_twice_the_largest_message_in_waiting_bytes():
    sid = new_session_id()
    # A waiting message counts at its decoded cost: its bytes plus wire.OBJECT_COST per object.
    size = wire.decode_with_cost(b"".join(bytes(p) for p in wire.encode(make_envelope(DATA, sid, 1, b"x" * 250))))[1]
    fit = 2000 // size  # the budget with max_message=1000 is 2000 bytes
    assert fit >= 2
    with trio.fail_after(10):
        lost = await _park_then_check(lambda: [make_envelope(DATA, sid, r, b"x" * 250) for r in range(1, fit + 1)],
                                      limits=wire.Limits(max_message=1000))
        assert lost == {}
        lost = await _park_then_check(lambda: [make_envelope(DATA, sid, r, b"x" * 250) for r in range(1, fit + 2)],
                                      limits=wire.Limits(max_message=1000))
    assert list(lost) == ["p1"] and "more than 2000 bytes of messages waiting" in lost["p1"].message


@pytest.mark.trio
async def test_the_default_round_deadline_is_600_seconds(autojump_clock):
    # p1 is alive (its party heartbeats) but never joins the session, so
    # liveness never names it: only the round deadline ends the wait.
    mesh = memory_mesh(["p0", "p1"])
    with trio.fail_after(1000):
        async with Party("p1", ["p0", "p1"], mesh["p1"]), Party("p0", ["p0", "p1"], mesh["p0"]) as party:
            start = trio.current_time()
            with pytest.raises(PeerTimeout, match="within 600s"):
                await party.run("secure-sum", 1, session_id=new_session_id())
            assert 600 <= trio.current_time() - start < 600.5


@pytest.mark.trio
async def test_blame_from_an_aborting_peer_is_weighed_for_4_seconds(autojump_clock):
    # p1 aborts blaming p2, whose link stays up: p0 waits ABORT_GRACE for
    # first-hand evidence against p2, then reports p1's abort.
    names = ["p0", "p1", "p2"]
    mesh = memory_mesh(names)
    sid = new_session_id()
    # Liveness off: the scripted p1 and p2 send no heartbeats, and p2's
    # silence would otherwise be first-hand evidence after 3 s.
    with trio.fail_after(100):
        async with Party("p0", names, mesh["p0"], liveness_timeout=None) as party:
            await send_envelope(mesh["p1"]["p0"], ABORT, sid, 1, {"reason": "p2 is slow", "culprit": "p2"})
            start = trio.current_time()
            with pytest.raises(SessionAborted, match="blames p2") as info:
                await party.run("secure-sum", 1, session_id=sid, round_timeout=60)
            assert 4 <= trio.current_time() - start < 4.5
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_peer_abort_ends_the_run():
    async def script(link, sid):
        await send_envelope(link, ABORT, sid, 0, {"reason": "disk full", "culprit": None})
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(SessionAborted, match="disk full") as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1" and info.value.reported_by == "p1"


@pytest.mark.trio
async def test_peer_closing_its_link_ends_the_run():
    async def script(link, sid):
        await link.aclose()

    with trio.fail_after(10), pytest.raises(ChannelBroken) as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_garbage_from_a_peer_is_a_violation():
    async def script(link, sid):
        await link.send_message([b"\x00\x00\x00\x01\xc1"])  # 0xc1 is never valid msgpack
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(RemoteProtocolViolation) as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_malformed_envelope_is_a_violation():
    async def script(link, sid):
        await link.send_message(wire.encode([1, DATA, b"short", 1, 0]))
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(RemoteProtocolViolation, match="session id"):
        await run_with_scripted_peer(script)


def test_simulate_reports_the_root_cause_not_the_aborts():
    with pytest.raises(RuntimeError, match="12345"):
        mpcnet.simulate("test-crash-after-round-1", [1, 2, 3, 4], round_timeout=30)


@pytest.mark.trio
async def test_every_party_sees_the_abort_quickly():
    names = ["p0", "p1", "p2", "p3"]
    mesh = memory_mesh(names)
    sid = new_session_id()
    errors = {}

    async def party(name):
        async with Party(name, names, mesh[name]) as p:
            try:
                await p.run("test-crash-after-round-1", 1, session_id=sid, round_timeout=60)
            except Exception as exc:
                errors[name] = exc

    start = trio.current_time()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(party, name)
    assert trio.current_time() - start < 5  # far below the 60 s round deadline
    assert isinstance(errors["p1"], RuntimeError)
    for name in ("p0", "p2", "p3"):
        assert isinstance(errors[name], SessionAborted) and errors[name].peer == "p1"
        assert "12345" not in str(errors[name])  # a foreign exception's text never travels


def test_local_misuse_is_a_local_violation():
    with pytest.raises(LocalProtocolViolation, match="not a peer"):
        mpcnet.simulate("test-bad-peer", [1, 2])


def test_echo_rounds_runs_three_rounds():
    result = mpcnet.simulate("test-echo-rounds", [1, 2, 3])
    assert result.outputs[0] == [5, 5, 5] and result.stats[0].rounds == 3


# --- regressions from the hostile review -------------------------------------

@pytest.mark.trio
async def test_envelope_with_array_fields_only_cuts_off_that_peer():
    async def script(link, sid):
        await link.send_message(wire.encode([np.array([1, 2], dtype=np.uint8), DATA, sid, 1, 0]))
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(RemoteProtocolViolation) as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_abort_reason_is_sanitised_and_blame_is_only_a_claim():
    async def script(link, sid):
        await send_envelope(link, ABORT, sid, 0, {"reason": "\x1b[2Jforged", "culprit": "p0"})
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(SessionAborted) as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"  # the sender, not whoever it blames
    assert "\x1b" not in str(info.value) and "blames p0" in str(info.value)


@pytest.mark.trio
async def test_one_peer_flooding_unopened_sessions_does_not_cut_off_another():
    names = ["p0", "p1", "p2"]
    mesh = memory_mesh(names)
    sid = new_session_id()
    outcome = {}

    async def honest(name):
        async with Party(name, names, mesh[name]) as party:
            if name == "p1":
                await trio.sleep(0.2)  # let p2's junk arrive first
            outcome[name] = await party.run("secure-sum", 1, session_id=sid, parties=["p0", "p1"])

    async def flooder():
        try:
            # More than the memory link's buffer (64): sends that find room
            # do not yield, so the flooder only meets p0's cut-off once the
            # link is full and it has to wait for p0 to read.
            for _ in range(200):
                await send_envelope(mesh["p2"]["p0"], DATA, new_session_id(), 1, 0)
        except ChannelBroken:
            outcome["flooder cut off"] = True  # p0 closed its link to the flooder
        await trio.sleep_forever()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(flooder)
            async with trio.open_nursery() as honest_nursery:
                honest_nursery.start_soon(honest, "p0")
                honest_nursery.start_soon(honest, "p1")
            nursery.cancel_scope.cancel()
    assert outcome["p0"].output == outcome["p1"].output == 2
    assert outcome["flooder cut off"]


@pytest.mark.trio
async def test_message_from_a_non_member_does_not_end_the_session():
    names = ["p0", "p1", "p2"]
    mesh = memory_mesh(names)
    sid = new_session_id()
    outcome = {}

    async def member(name):
        async with Party(name, names, mesh[name]) as party:
            if name == "p1":
                await trio.sleep(0.1)
            outcome[name] = await party.run("secure-sum", 5, session_id=sid, parties=["p0", "p1"])

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(member, "p0")
            nursery.start_soon(member, "p1")
            await trio.sleep(0.05)
            await send_envelope(mesh["p2"]["p0"], DATA, sid, 1, np.array([1], dtype=np.uint64))
    assert outcome["p0"].output == 10


@pytest.mark.trio
async def test_leftover_message_at_the_end_is_a_stray():
    async def script(link, sid):
        # Round 3 goes out before round 2, so it is surely parked when p0
        # finishes (secure-sum has 2 rounds): no race with p0's last round.
        await send_envelope(link, DATA, sid, 1, np.array([7], dtype=np.uint64))
        await send_envelope(link, DATA, sid, 3, np.array([7], dtype=np.uint64))
        await send_envelope(link, DATA, sid, 2, np.array([7], dtype=np.uint64))
        await trio.sleep_forever()

    with trio.fail_after(10), pytest.raises(RemoteProtocolViolation, match="after the protocol ended") as info:
        await run_with_scripted_peer(script)
    assert info.value.peer == "p1"


@pytest.mark.trio
async def test_peer_that_stops_reading_is_named(autojump_clock):
    names = ["p0", "p1"]
    mesh = memory_mesh(names)  # 64-message buffers: fill p1's and it blocks p0
    sid = new_session_id()

    with trio.fail_after(1000):
        async with Party("p0", names, {"p1": mesh["p0"]["p1"]}) as party:
            for _ in range(64):
                await mesh["p0"]["p1"].send_message([b"x"])
            with pytest.raises(PeerTimeout) as info:
                await party.run("secure-sum", 1, session_id=sid, round_timeout=5)
    assert info.value.peer == "p1" and "not reading" in str(info.value)


@pytest.mark.trio
async def test_a_failed_send_does_not_cut_short_the_sends_to_other_peers():
    # A large round is sent to all peers at once. If the link to one peer
    # fails, the others' messages must still go out whole: cancelling them
    # half-way would tear frames and make those peers blame us.
    from mpcnet import wire
    from mpcnet.context import SMALL_ROUND_BYTES, Context
    from mpcnet.errors import ChannelBroken
    from mpcnet.randomness import OSRandomness
    from mpcnet.session import Session

    finished = []

    async def send(peer, parts):
        if peer == "p1":
            raise ChannelBroken("link lost", peer="p1")
        await trio.sleep(0.05)  # a slow, large write to p2
        finished.append(peer)

    session = Session(b"s" * 16, "p0", ["p1", "p2"], round_timeout=5)
    ctx = Context(session=session, parties=["p0", "p1", "p2"], me="p0", params={}, random=OSRandomness(),
                  send=send, limits=wire.DEFAULT_LIMITS)
    big = np.zeros(SMALL_ROUND_BYTES, dtype=np.uint8)
    with trio.fail_after(10), pytest.raises(ChannelBroken) as info:
        await ctx.exchange({"p1": big, "p2": big})
    assert info.value.peer == "p1"
    assert finished == ["p2"]


@protocol("test-pairwise-keys", security="test only", reveals="its keys", input="null", output="keys")
async def pairwise_keys(ctx: Context, value: None) -> dict[str, str]:
    """Every party's pairwise keys (hex), per peer and label: for tests only."""
    return {f"{peer}/{label}": ctx.pairwise_key(peer, label).hex() for peer in ctx.peers for label in ("", "x")}


@pytest.mark.parametrize("transport", ["memory", "tcp"])
def test_pairwise_keys_agree_between_two_parties_only(transport):
    outs = mpcnet.simulate("test-pairwise-keys", [None] * 3, transport=transport).outputs
    names = ["p0", "p1", "p2"]
    keys = {(me, k): v for me, out in zip(names, outs, strict=True) for k, v in out.items()}
    for a in names:
        for b in names:
            if a != b:
                assert keys[(a, f"{b}/")] == keys[(b, f"{a}/")]  # the same at both ends
                assert keys[(a, f"{b}/")] != keys[(a, f"{b}/x")]  # per label
    assert len(set(keys.values())) == len(keys) // 2  # every (pair, label) its own key
    again = mpcnet.simulate("test-pairwise-keys", [None] * 3, transport=transport).outputs
    assert set(again[0].values()).isdisjoint(outs[0].values())  # fresh for every run


@pytest.mark.trio
async def test_pairwise_keys_differ_per_session_on_one_mesh_and_need_a_pair_secret():
    names = ["p0", "p1"]
    mesh = memory_mesh(names)
    results = {}

    sids = [new_session_id(), new_session_id()]

    async def party(name):  # two sessions on one Party, so on the same links
        async with Party(name, names, mesh[name]) as p:
            for sid in sids:
                results[(name, sid)] = (await p.run("test-pairwise-keys", None, session_id=sid)).output

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(party, name)
    assert results[("p0", sids[0])]["p1/"] == results[("p1", sids[0])]["p0/"]
    assert results[("p0", sids[0])]["p1/"] != results[("p0", sids[1])]["p1/"]

    class Bare:  # a link without a pair secret
        def __init__(self, link):
            self.peer, self._link = link.peer, link

        async def send_message(self, parts):
            await self._link.send_message(parts)

        async def receive_message(self):
            return await self._link.receive_message()

        async def aclose(self, reason=""):
            await self._link.aclose(reason)

    mesh = memory_mesh(names)
    assert mpcnet._net.transport.MemoryLink("p1", *trio.open_memory_channel(1)).pair_secret is None  # built alone
    with pytest.raises(LocalProtocolViolation, match="offers no pair secret"):
        async with Party("p0", names, {"p1": Bare(mesh["p0"]["p1"])}) as p:  # (the protocol has no rounds)
            await p.run("test-pairwise-keys", None, session_id=sids[0], round_timeout=2)
    short = Bare(mesh["p0"]["p1"])
    short.pair_secret = b"too short"  # a custom link's malformed secret is refused, not used
    with pytest.raises(LocalProtocolViolation, match="malformed pair secret"):
        async with Party("p0", names, {"p1": short}) as p:
            await p.run("test-pairwise-keys", None, session_id=sids[1], round_timeout=2)
    with pytest.raises(ValueError, match="32 bytes"):
        mpcnet._net.transport.memory_link_pair("a", "b", pair_secret=b"x")
