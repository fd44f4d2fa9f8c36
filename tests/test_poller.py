"""One reader per party over all its TCP links (mpcnet._net.poller), the
non-blocking receive it drains links with (SecureLink.poll_message) and the
in-place close (SecureLink.close_now): the same messages, in the same order,
the same typed errors naming the peer, as one reader task per link."""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable

import numpy as np
import pytest
import trio

import mpcnet
from mpcnet import Context, MPCError, Party, protocol
from mpcnet import party as party_module
from mpcnet._net import securelink, tcp, wire
from mpcnet._net.poller import LinkPoller, pollable
from mpcnet._net.securelink import SecureLink, accept_secure, connect_secure
from mpcnet._net.transport import close_links, memory_link_pair
from mpcnet.errors import ChannelBroken
from mpcnet.identity import Roster, generate_key
from mpcnet.session import DATA, make_envelope, new_session_id

DEADLINE = 30


async def socket_links() -> tuple[SecureLink, SecureLink]:
    """alice's and bob's ends of a secure link over a real socket pair."""
    a, b = socket.socketpair()
    alice_key, bob_key = generate_key("alice"), generate_key("bob")
    streams = [trio.SocketStream(trio.socket.from_stdlib_socket(s)) for s in (a, b)]
    links: dict[str, SecureLink] = {}

    async def dial() -> None:
        links["alice"] = await connect_secure(streams[0], my_id="alice", peer_id="bob", static_private=alice_key.private,
                                              peer_public=bob_key.public, roster_hash=bytes(32))

    async def accept() -> None:
        links["bob"] = await accept_secure(streams[1], my_id="bob", static_private=bob_key.private,
                                           lookup_public_key=lambda n: alice_key.public if n == "alice" else None,
                                           roster_hash=bytes(32))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(dial)
        nursery.start_soon(accept)
    return links["alice"], links["bob"]


async def drain(poller: LinkPoller, until: int) -> list[tuple[str, bytes]]:
    """Messages from every ready link until ``until`` have come, as a party's reader takes them."""
    got: list[tuple[str, bytes]] = []
    while len(got) < until:
        for peer, link in await poller.wait():
            data = link.poll_message(readable=True)
            while data is not None:
                got.append((peer, bytes(data)))
                data = link.poll_message()
    return got


@pytest.mark.trio
async def test_polled_messages_are_the_sent_ones_in_order_then_the_close_names_the_peer():
    with trio.fail_after(DEADLINE):
        alice, bob = await socket_links()
        assert pollable({"alice": bob, "memory": memory_link_pair("x", "y")[0]}) == {"alice": bob}
        big = os.urandom(300_000)  # five frames
        sent = [b"one", big, b"", bytes(memoryview(np.arange(7, dtype=np.uint64)).cast("B")), b"last"]
        async def send_all() -> None:  # (the big one fills the socket: sent while bob reads)
            for message in sent:
                await alice.send_message([message])

        with LinkPoller({"alice": bob}) as poller:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_all)
                got = await drain(poller, len(sent))
            assert got == [("alice", m) for m in sent]
            assert bob.messages_received == len(sent)
            await alice.aclose("finished")
            [(peer, link)] = await poller.wait()
            with pytest.raises(ChannelBroken, match="'finished'") as info:
                while link.poll_message(readable=True) is not None:
                    pass
            assert info.value.peer == "alice"
        await bob.aclose()


@pytest.mark.trio
async def test_a_link_cut_off_after_its_burst_keeps_its_buffered_messages():
    # Regression: all of a peer's messages can arrive in one read; a reader
    # that stops after its burst must come back for the rest although the
    # socket (what epoll watches) is empty.
    with trio.fail_after(DEADLINE):
        alice, bob = await socket_links()
        for i in range(5):
            await alice.send_message([b"m%d" % i])
        await trio.sleep(0.05)
        with LinkPoller({"alice": bob}) as poller:
            got = []
            while len(got) < 5:
                for peer, link in await poller.wait():
                    data = link.poll_message(readable=True)
                    if data is not None:
                        got.append(bytes(data))
                        poller.again(peer, link)  # what the party's reader does at its burst
            assert got == [b"m%d" % i for i in range(5)]
        await alice.aclose()
        await bob.aclose()


@protocol("test-poller-listen", min_parties=2, max_parties=2, security="none: a transport test",
          reveals="everything", input="anything", output="what party 0 sent")
async def listen(ctx: Context, value: int) -> list[int]:
    """Twelve rounds in which party 1 only receives from party 0."""
    peer = ctx.parties[0]
    return [(await ctx.exchange({}, expect_from=[peer]))[peer] for _ in range(12)]


@pytest.mark.trio
async def test_a_party_takes_every_message_that_arrived_in_one_read(monkeypatch):
    # alice (a bare link) sends all twelve rounds before bob's party reads
    # any: one read gets them all, and bob's reader, taking one per turn,
    # must still deliver every one (else bob waits out its round deadline).
    monkeypatch.setattr(party_module, "POLL_BURST", 1)
    with trio.fail_after(DEADLINE):
        alice, bob = await socket_links()
        sid = new_session_id()
        for r in range(1, 13):
            await alice.send_message(wire.encode(make_envelope(DATA, sid, r, 100 + r)))
        async with Party("bob", ["alice", "bob"], {"alice": bob}) as party:
            result = await party.run("test-poller-listen", None, session_id=sid, round_timeout=5)
        assert result.output == list(range(101, 113))
        await alice.aclose()


def test_a_party_reads_all_its_tcp_links_with_one_task(monkeypatch):
    calls: dict[str, list[int]] = {"poll": [], "read": []}
    poll, read = Party._poll_loop, Party._read_loop

    async def spy_poll(self, poller):
        calls["poll"].append(len(poller))
        await poll(self, poller)

    async def spy_read(self, peer, link):
        calls["read"].append(1)
        await read(self, peer, link)

    monkeypatch.setattr(Party, "_poll_loop", spy_poll)
    monkeypatch.setattr(Party, "_read_loop", spy_read)
    assert mpcnet.simulate("secure-sum", [1, 2, 3, 4], transport="tcp").outputs == (10,) * 4
    assert not calls["read"] and calls["poll"] == [3, 3, 3, 3]
    calls["poll"].clear()
    assert mpcnet.simulate("secure-sum", [1, 2, 3], transport="memory").outputs == (6,) * 3
    assert len(calls["read"]) == 6 and not calls["poll"]  # memory links: a reader each


@pytest.mark.trio
async def test_a_peer_whose_connections_drop_is_named_at_once_by_the_polling_parties():
    # p2's connections break without a close frame (its process died): p0
    # and p1, waiting for its share, end with an error naming it at once,
    # not at the 30 s round deadline.
    keys = [generate_key(f"p{i}") for i in range(3)]
    out: dict[str, object] = {}
    sid = new_session_id()
    async with tcp.loopback_meshes(keys) as meshes:
        async def honest(i: int) -> None:
            name = f"p{i}"
            try:
                async with Party(name, ["p0", "p1", "p2"], meshes[i]) as party:
                    out[name] = (await party.run("secure-sum", i + 1, session_id=sid, round_timeout=30)).output
            except MPCError as exc:
                out[name] = exc

        start = trio.current_time()
        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(honest, 0)
                nursery.start_soon(honest, 1)
                await trio.sleep(0.2)
                for link in meshes[2].values():
                    await link.abort()
        took = trio.current_time() - start
    for name in ("p0", "p1"):
        error = out[name]
        assert isinstance(error, ChannelBroken) and error.peer == "p2", out
    assert took < 2.0


@pytest.mark.trio
async def test_close_links_closes_a_secure_link_in_place():
    with trio.fail_after(DEADLINE):
        alice, bob = await socket_links()
        assert alice.close_now("bye") and alice.close_now("again")  # idempotent
        with pytest.raises(ChannelBroken, match="peer closed the channel: 'bye'"):
            await bob.receive_message()
        sent = bob.bytes_sent
        await close_links([bob], "done")
        assert bob.close_now() and bob.poll_fd() is None
        assert bob.bytes_sent == sent  # alice closed first: no CLOSE back to a closed socket


@pytest.mark.trio
async def test_a_close_frame_the_socket_takes_in_part_is_finished_by_aclose(monkeypatch):
    with trio.fail_after(DEADLINE):
        alice, bob = await socket_links()
        real = securelink._DirectIO.write_nowait
        monkeypatch.setattr(securelink._DirectIO, "write_nowait", lambda io, data: real(io, data[:5]))
        assert not alice.close_now("a reason the peer must get whole")
        monkeypatch.undo()
        assert alice.poll_fd() is not None  # not closed yet
        await alice.aclose("ignored: the frame is already sealed")
        with pytest.raises(ChannelBroken, match="'a reason the peer must get whole'"):
            await bob.receive_message()
        await bob.aclose()


def test_a_party_without_a_descriptor_for_the_set_reads_each_link_itself(monkeypatch):
    def no_descriptor(links):
        raise OSError(24, "Too many open files")

    reads = []
    read = Party._read_loop

    async def spy_read(self, peer, link):
        reads.append(peer)
        await read(self, peer, link)

    monkeypatch.setattr(party_module, "LinkPoller", no_descriptor)
    monkeypatch.setattr(Party, "_read_loop", spy_read)
    assert mpcnet.simulate("secure-sum", [1, 2, 3], transport="tcp").outputs == (6,) * 3
    assert len(reads) == 6


# party -> what resets its connections (the test below sets it)
_RESET: dict[str, Callable[[], Awaitable[None]]] = {}


@protocol("test-poller-resume", min_parties=3, max_parties=3, security="none (a test)", reveals="everything",
          input="the number of rounds", output="the sum of every round's values")
async def _many_rounds(ctx: Context, value: int) -> int:
    total = 0
    for r in range(value):
        if r in (50, 100, 150) and ctx.me in _RESET:
            await _RESET[ctx.me]()
        got = await ctx.broadcast(np.full(16, r + ctx.index, dtype=np.int64))
        total += sum(int(v[0]) for v in got.values())
    return total


def test_a_party_polls_its_resumable_links_and_follows_them_to_new_connections(monkeypatch):
    # Over open_mesh's resumable links, a party reads every link with its one
    # polling task; when connections break mid-session (reset, no close
    # frame), each link resumes on a new socket, the poller watches that one,
    # and every message still arrives once, in order.
    names = ["p0", "p1", "p2"]
    keys = [generate_key(n) for n in names]
    polled: list[int] = []
    reads: list[str] = []
    poll, read = Party._poll_loop, Party._read_loop

    async def spy_poll(self, poller):
        polled.append(len(poller))
        await poll(self, poller)

    async def spy_read(self, peer, link):
        reads.append(peer)
        await read(self, peer, link)

    monkeypatch.setattr(Party, "_poll_loop", spy_poll)
    monkeypatch.setattr(Party, "_read_loop", spy_read)
    rounds = 300
    out: dict[str, int] = {}
    connections: dict[str, list[int]] = {}

    async def main() -> None:
        listeners = [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in names]
        roster = Roster.from_entries([(n, f"127.0.0.1:{ls[0].socket.getsockname()[1]}", k.public)
                                      for n, ls, k in zip(names, listeners, keys, strict=True)])

        async def party(i: int) -> None:
            async with tcp.open_mesh(roster, keys[i], connect_timeout=10, listeners=listeners[i],
                                     reconnect_timeout=10) as links:
                if i == 0:
                    async def reset() -> None:  # p0's connections to both peers, at once
                        for link in links.values():
                            if link._link is not None:
                                await link._link.abort()

                    _RESET["p0"] = reset
                async with Party(names[i], names, links) as p:
                    res = await p.run("test-poller-resume", rounds, session_id="resume-poll", round_timeout=20)
                    out[names[i]] = res.output
                    connections[names[i]] = [link.connections for link in links.values()]

        with trio.fail_after(DEADLINE):
            async with trio.open_nursery() as nursery:
                for i in range(len(names)):
                    nursery.start_soon(party, i)

    try:
        trio.run(main)
    finally:
        _RESET.clear()
    expected = {n: sum(2 * r + sum(j for j in range(3) if j != i) for r in range(rounds)) for i, n in enumerate(names)}
    assert out == expected
    assert polled == [2, 2, 2] and not reads
    assert all(c == 4 for c in connections["p0"]), connections  # three resets, three resumptions
