"""Resumable links (mpcnet._net.resumable): connections cut at arbitrary points are
re-established and every message arrives exactly once, in order."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet._net.channel import REJECT_FRAME
from mpcnet._net.resumable import ResumableLink
from mpcnet._net.securelink import accept_secure, connect_secure
from mpcnet._net.tcp import open_mesh
from mpcnet.errors import ChannelBroken, RemoteProtocolViolation
from mpcnet.identity import Roster, generate_key
from mpcnet.party import Party
from mpcnet.testing.faultproxy import FaultProxy, Route

KEYS = {"a": generate_key("a"), "b": generate_key("b")}
DIGEST = b"\x07" * 32
# Virtual seconds any one mock-clock test below may take: the slowest honest
# run takes 6 (a 3 s reconnect timeout, then the close), and a lost message
# jumps the clock straight here.
DEADLINE = 60


class _Cut:
    """A byte budget shared by both ends of one connection: once it is
    spent (mid-write, possibly mid-frame), both ends are closed at once, as
    by a reset: whatever was still in flight is lost."""

    def __init__(self, budget: int | None) -> None:
        self.remaining = budget
        self.ends: list[trio.abc.Stream] = []
        self.done = False

    async def fire(self) -> None:
        self.done = True
        for end in self.ends:
            await trio.aclose_forcefully(end)


class _CuttableStream(trio.abc.Stream):
    def __init__(self, inner: trio.abc.Stream, cut: _Cut) -> None:
        self.inner, self.cut = inner, cut
        cut.ends.append(inner)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        cut = self.cut
        if cut.done:
            raise trio.BrokenResourceError
        if cut.remaining is not None and len(data) >= cut.remaining:
            head = bytes(data[: cut.remaining])
            cut.remaining = 0
            if head:
                await self.inner.send_all(head)
            await trio.sleep(0)
            await cut.fire()
            raise trio.BrokenResourceError
        if cut.remaining is not None:
            cut.remaining -= len(data)
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_eof(self) -> None:  # pragma: no cover - unused
        pass

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _connect(budget: int | None, made: list[_Cut] | None = None):
    """A secure connection a -> b over memory streams, cut once ``budget``
    bytes (both directions) have crossed it after the handshake (its _Cut is
    appended to ``made``, if given: ``done`` once it fired)."""
    left, right = trio.testing.memory_stream_pair()
    cut = _Cut(None)
    if made is not None:
        made.append(cut)
    left_c, right_c = _CuttableStream(left, cut), _CuttableStream(right, cut)
    out = {}

    async def accept():
        out["b"] = await accept_secure(right_c, my_id="b", static_private=KEYS["b"].private,
                                       lookup_public_key=lambda n: KEYS["a"].public if n == "a" else None,
                                       roster_hash=DIGEST, max_message_size=2**24, handshake_timeout=5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept)
        out["a"] = await connect_secure(left_c, my_id="a", peer_id="b", static_private=KEYS["a"].private,
                                        peer_public=KEYS["b"].public, roster_hash=DIGEST, max_message_size=2**24,
                                        handshake_timeout=5)
    cut.remaining = budget
    return out["a"], out["b"]


async def _pair(nursery, budgets, made: list[_Cut] | None = None, **kw):
    """Resumable links a->b (a dials) over connections cut per ``budgets``
    (one per connection; later connections are never cut); every
    connection's _Cut goes to ``made``."""
    budgets = list(budgets)

    def next_budget():
        return budgets.pop(0) if budgets else None

    holder = {}

    async def redial():
        try:
            sa, sb = await _connect(next_budget(), made)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:  # pragma: no cover
            raise OSError("cut during handshake") from exc
        if not holder["b"].offer(sb):
            await sb.abort()
        return sa

    sa, sb = await _connect(next_budget(), made)
    ra = ResumableLink(sa, redial=redial, me="a", **kw)
    rb = ResumableLink(sb, me="b", **kw)
    holder["b"] = rb
    await nursery.start(ra.run)
    await nursery.start(rb.run)
    return ra, rb


def _messages(seed: int, count: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    sizes = rng.choice([0, 1, 100, 5000, 70_000, 200_000], size=count)
    return [rng.integers(0, 256, size=int(s), dtype=np.uint8).tobytes() for s in sizes]


async def _exchange(ra, rb, to_b, to_a):
    """Both send concurrently; both read all the time (as a Party does: acks
    are processed by the reader) until every message has arrived."""
    got_b, got_a = [], []
    done = {"a": trio.Event(), "b": trio.Event()}

    async def send(link, msgs):
        for i, m in enumerate(msgs):
            # several parts, like wire.encode: header bytes + array views
            await link.send_message([struct.pack(">I", i), memoryview(m)])

    async def recv(link, n, out, name):
        if n == 0:
            done[name].set()
        while True:
            data = await link.receive_message()
            out.append(bytes(data))
            if len(out) == n:
                done[name].set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(recv, rb, len(to_b), got_b, "b")
        nursery.start_soon(recv, ra, len(to_a), got_a, "a")
        async with trio.open_nursery() as senders:
            senders.start_soon(send, ra, to_b)
            senders.start_soon(send, rb, to_a)
        await done["a"].wait()
        await done["b"].wait()
        nursery.cancel_scope.cancel()
    assert got_b == [struct.pack(">I", i) + m for i, m in enumerate(to_b)]
    assert got_a == [struct.pack(">I", i) + m for i, m in enumerate(to_a)]


def _run_with_deadline(main, deadline: float) -> None:
    """``trio.run(main)`` on an autojump clock, inside an absolute deadline
    (virtual seconds): a lost message leaves every task blocked, the clock
    jumps, and the deadline fails the test at once instead of hanging it."""

    async def bounded():
        with trio.fail_after(deadline):
            await main()

    trio.run(bounded, clock=trio.testing.MockClock(autojump_threshold=0))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=800_000), min_size=1, max_size=4),
       seed=st.integers(0, 2**16))
@example(cuts=[0, 86], seed=0)  # a cut inside the RESUME exchange (found by hypothesis)
def test_every_message_arrives_once_in_order_whatever_the_cut_points(cuts, seed):
    to_b, to_a = _messages(seed, 12), _messages(seed + 1, 9)
    # The messages' own bytes must all cross some connection; a first budget
    # below that cannot carry them, so the first connection is cut mid-stream
    # and the link must have resumed on a new one (almost every example:
    # the payload is ~1.3 MB on average, a budget at most 0.8 MB).
    payload = sum(4 + len(m) for m in to_b + to_a)
    made: list[_Cut] = []

    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, cuts, made, reconnect_timeout=30)
            await _exchange(ra, rb, to_b, to_a)
            # The two ends may count differently: a cut inside the RESUME
            # exchange can leave one end having installed a connection the
            # other never finished (cuts=[0, 86]: b installs the second, a
            # resumes on the third). Each end counts at most one connection
            # per connection made.
            assert 1 <= ra.connections <= len(made) and 1 <= rb.connections <= len(made)
            if cuts[0] < payload:
                assert made[0].done, "the first connection carried every message: no cut happened"
                assert ra.connections >= 2, "a cut mid-stream, yet the link never resumed"
            await ra.aclose()
            await rb.aclose()

    _run_with_deadline(main, DEADLINE)


def test_small_retransmit_buffer_blocks_the_sender_until_acked():
    msgs = _messages(3, 30)

    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [300_000, 50_000], max_unacked_bytes=250_000, reconnect_timeout=30)
            peak = 0

            async def watch():
                nonlocal peak
                while True:
                    peak = max(peak, ra._unacked_bytes)
                    await trio.sleep(0.001)

            nursery.start_soon(watch)
            await _exchange(ra, rb, msgs, [])
            assert peak <= 250_000 and ra.connections == 3
            nursery.cancel_scope.cancel()

    _run_with_deadline(main, DEADLINE)


def test_deliberate_close_ends_the_link_without_reconnecting():
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [])
            await ra.send_message([b"last"])
            await ra.aclose("done")
            assert bytes(await rb.receive_message()) == b"last"
            with pytest.raises(ChannelBroken, match="peer closed") as info:
                await rb.receive_message()
            assert info.value.peer == "a" and rb.connections == 1

    _run_with_deadline(main, DEADLINE)


def test_peer_that_never_comes_back_is_lost_after_the_reconnect_timeout():
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [], reconnect_timeout=3)
            ra._redial = _refuse  # the dialer's re-dials never get through
            ra.refused_grace = 100
            await ra._link.abort()
            start = trio.current_time()
            with pytest.raises(ChannelBroken) as info:
                await rb.receive_message()
            assert info.value.peer == "a" and "did not reconnect within 3s" in info.value.message
            assert trio.current_time() - start <= 3.5
            with pytest.raises(ChannelBroken, match="not re-established") as info_a:
                await ra.receive_message()
            assert info_a.value.peer == "b"

    _run_with_deadline(main, DEADLINE)


def test_the_default_reconnect_deadline_is_5_seconds():
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [])  # the defaults
            ra._redial = _refuse
            ra.refused_grace = 100  # so only the reconnect deadline can end it
            await ra._link.abort()
            start = trio.current_time()
            with pytest.raises(ChannelBroken, match="did not reconnect within 5s"):
                await rb.receive_message()
            assert 5 <= trio.current_time() - start <= 5.5
            nursery.cancel_scope.cancel()

    _run_with_deadline(main, DEADLINE)


async def _refuse():
    raise ConnectionRefusedError


def test_admission_check_runs_before_reassembly_on_every_connection():
    # The party's memory budget refuses a message from its first frame; the
    # check must survive a reconnect, and a refusal ends the link for good
    # (it is not a break to repair).
    async def main():
        with trio.fail_after(30):  # virtual seconds: the autojump clock
            async with trio.open_nursery() as nursery:
                ra, rb = await _pair(nursery, [])
                announced = []

                def admit(size):
                    announced.append(size)
                    if size > 1000:
                        raise RemoteProtocolViolation("too big for the budget", peer="a")

                rb.set_admission(admit)
                await ra._link.abort()  # a reset: the next connection must check too
                await ra.send_message([b"small"])
                assert bytes(await rb.receive_message()) == b"small"
                await ra.send_message([b"x" * 5000])
                with pytest.raises(RemoteProtocolViolation, match="too big"):
                    await rb.receive_message()
                assert rb.connections == 2 and announced[-1] == 5000 + 16  # the resumable header counts too
                with pytest.raises(RemoteProtocolViolation):
                    await rb.receive_message()
                nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_a_forged_reject_on_a_redial_is_no_worse_than_a_reset():
    # Regression: a REJECT answering a re-dial ended the link for good,
    # although anyone on the path can forge one (it is not authenticated).
    async def main():
        with trio.fail_after(30):  # virtual seconds: the autojump clock
            await body()

    async def body():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [])
            honest = ra._redial
            forged = []

            async def forged_then_honest():
                if len(forged) < 2:
                    forged.append(True)
                    left, right = trio.testing.memory_stream_pair()
                    await right.send_all(REJECT_FRAME)  # the forger answers before the real peer could
                    return await connect_secure(left, my_id="a", peer_id="b", static_private=KEYS["a"].private,
                                                peer_public=KEYS["b"].public, roster_hash=DIGEST,
                                                max_message_size=2**24, handshake_timeout=5)
                return await honest()

            ra._redial = forged_then_honest
            await ra._link.abort()  # a reset
            await ra.send_message([b"after the reset"])
            assert bytes(await rb.receive_message()) == b"after the reset"
            assert len(forged) == 2 and ra.connections == 2
            nursery.cancel_scope.cancel()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_refused_redials_give_up_after_the_grace_period():
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [], reconnect_timeout=30)
            ra._redial = _refuse
            await rb._link.abort()
            start = trio.current_time()
            with pytest.raises(ChannelBroken, match="refused") as info:
                await ra.receive_message()
            # the default grace: a second of refusals (and the back-off), not the 30 s deadline
            assert info.value.peer == "b" and 1 <= trio.current_time() - start < 2
            nursery.cancel_scope.cancel()

    _run_with_deadline(main, DEADLINE)


def test_an_unread_peer_holds_a_close_for_the_1_s_linger_then_it_closes():
    # CLOSE_LINGER in action: b never reads, so a's message is never
    # acknowledged; a's close waits 1 s for the ack, no less and no longer.
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [])
            await ra.send_message([b"never acknowledged"])
            start = trio.current_time()
            await ra.aclose()
            assert 1.0 <= trio.current_time() - start < 1.0 + 1e-6
            nursery.cancel_scope.cancel()

    _run_with_deadline(main, DEADLINE)


def test_a_received_message_is_acknowledged_after_the_50_ms_ack_delay():
    # ack_delay in action: b reads a's message and has nothing to send back;
    # its ack goes out 0.05 s later (not at once, not later), and a's close,
    # which waits for exactly that ack, returns then.
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [])
            await ra.send_message([b"acknowledge me"])
            assert bytes(await rb.receive_message()) == b"acknowledge me"
            start = trio.current_time()
            await ra.aclose()
            assert 0.05 - 1e-6 <= trio.current_time() - start < 0.05 + 1e-6
            nursery.cancel_scope.cancel()

    _run_with_deadline(main, DEADLINE)


def test_a_gap_in_sequence_numbers_is_a_protocol_violation():
    async def main():
        async with trio.open_nursery() as nursery:
            ra, rb = await _pair(nursery, [])
            await ra._link.send_message([struct.pack(">QQ", 2, 0), b"skipped one"])
            with pytest.raises(RemoteProtocolViolation, match="skipped") as info:
                await rb.receive_message()
            assert info.value.peer == "a"
            nursery.cancel_scope.cancel()

    _run_with_deadline(main, DEADLINE)


# ---------------------------------------------------------------- end to end over TCP


def test_secure_sum_survives_repeated_cuts_of_every_link_over_tcp():
    """Three parties on loopback, every byte through the fault proxy; all
    connections are reset several times while long secure sums run."""
    names = ["p0", "p1", "p2"]
    keys = [generate_key(n) for n in names]
    k = 100_000
    runs = 3

    async def main():
        listeners = [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in names]
        real = {n: ls[0].socket.getsockname()[1] for n, ls in zip(names, listeners, strict=True)}
        proxy_socks = [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in names]
        front = {ls[0].socket.getsockname()[1]: n for n, ls in zip(names, proxy_socks, strict=True)}

        def route(client, local):
            target = front[local[1]]
            return Route(f"to-{target}", (target, target), "127.0.0.1", real[target])

        proxy = FaultProxy(route, seed=1)
        proxy.set("*", bandwidth=40e6)
        roster = Roster.from_entries([(n, f"127.0.0.1:{p}", key.public) for (p, n), key in
                                      zip(front.items(), keys, strict=True)])
        outputs: dict[str, list] = {n: [] for n in names}
        connections: dict[str, list[int]] = {}

        async def party(i: int) -> None:
            async with open_mesh(roster, keys[i], connect_timeout=10, listeners=listeners[i],
                                 reconnect_timeout=10) as links:
                async with Party(names[i], names, links) as p:
                    for r in range(runs):
                        vec = np.full(k, (i + 1) * (r + 1), dtype=np.int64)
                        res = await p.run("secure-sum", vec, session_id=f"run-{r}", round_timeout=20)
                        outputs[names[i]].append(res.output)
                    connections[names[i]] = [link.connections for link in links.values()]

        async def cutter() -> None:
            for threshold in (1_000_000, 3_000_000, 6_000_000, 9_000_000):
                while sum(s.bytes_forward + s.bytes_back for s in proxy.stats.values()) < threshold:
                    await trio.sleep(0.002)
                proxy.cut("*")

        with trio.fail_after(60):
            async with trio.open_nursery() as outer:
                outer.start_soon(proxy.serve, [ls[0] for ls in proxy_socks])
                outer.start_soon(cutter)
                async with trio.open_nursery() as nursery:
                    for i in range(len(names)):
                        nursery.start_soon(party, i)
                outer.cancel_scope.cancel()
        for n in names:
            assert len(outputs[n]) == runs
            for r, out in enumerate(outputs[n]):
                np.testing.assert_array_equal(out, np.full(k, 6 * (r + 1)))
        assert sum(s.cuts for s in proxy.stats.values()) >= 4
        assert any(c > 1 for cs in connections.values() for c in cs), connections

    trio.run(main)


def test_party_over_plain_links_still_works_without_reconnect():
    # reconnect_timeout=None keeps the old behaviour (plain SecureLinks)
    assert mpcnet.simulate("secure-sum", [1, 2, 3], transport="tcp").outputs == (6, 6, 6)
