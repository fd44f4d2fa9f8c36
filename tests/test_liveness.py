"""Liveness apart from progress, and runs that end when they can.

A party heartbeats on idle links; a peer from which nothing arrives for the
liveness timeout while a session with it is live is named at once, whatever
the round deadline; a peer that is alive but slow is only bound by the round
deadline. Closing returns as soon as the peers have acknowledged what was
sent. Timeouts run on trio's MockClock (autojump), so nothing here sleeps.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import trio
import trio.testing

import mpcnet
from mpcnet import Context, Party, protocol, wire
from mpcnet._net.resumable import ResumableLink
from mpcnet._net.securelink import accept_secure, connect_secure
from mpcnet._net.tcp import connect_mesh
from mpcnet._net.transport import close_links, memory_mesh
from mpcnet.errors import ChannelBroken, PeerTimeout
from mpcnet.identity import Roster, generate_key
from mpcnet.session import HEARTBEAT, SESSION_ID_BYTES, make_envelope, parse_envelope

from helpers import free_ports

NAMES = ["p0", "p1", "p2"]


async def _broadcast_after(ctx: Context, value: int, think: float) -> int:
    """p1 computes for ``think`` seconds (awaiting, as work in a thread does)
    before it sends; everyone sums what was broadcast."""
    if ctx.me == "p1":
        await trio.sleep(think)
    got = await ctx.broadcast(value)
    return value + sum(got.values())


@protocol("test-slow-p1", security="test only", reveals="everything", input="int", output="int")
async def slow_p1(ctx: Context, value: int) -> int:
    """p1 takes 30 s before round 1."""
    return await _broadcast_after(ctx, value, 30.0)


@protocol("test-stuck-p1", security="test only", reveals="everything", input="int", output="int")
async def stuck_p1(ctx: Context, value: int) -> int:
    """p1 takes 60 s before round 1."""
    return await _broadcast_after(ctx, value, 60.0)


@protocol("test-stall-own-loop", security="test only", reveals="everything", input="int", output="int")
async def stall_own_loop(ctx: Context, value: int) -> int:
    """p0 blocks the event loop for 10 s of (mock) time between two rounds,
    as CPU-bound work without a checkpoint does."""
    await ctx.broadcast(value)
    if ctx.me == "p0":
        clock = trio.lowlevel.current_clock()
        assert isinstance(clock, trio.testing.MockClock)
        clock.jump(10.0)  # no checkpoint: nobody runs meanwhile
    got = await ctx.broadcast(value)
    return value + sum(got.values())


async def _run_all(protocol_name: str, mesh, *, round_timeout: float, parties=NAMES):
    results: dict[str, object] = {}
    errors: dict[str, BaseException] = {}
    start = trio.current_time()

    async def one(name: str) -> None:
        try:
            async with Party(name, parties, mesh[name]) as party:
                res = await party.run(protocol_name, 1, session_id="liveness", round_timeout=round_timeout)
                results[name] = res.output
        except Exception as exc:
            exc.add_note(f"after {trio.current_time() - start:.2f}s")
            errors[name] = exc

    async with trio.open_nursery() as nursery:
        for name in parties:
            nursery.start_soon(one, name)
    return results, errors


def test_heartbeat_envelope_is_valid_and_carries_no_session():
    env = make_envelope(HEARTBEAT, bytes(SESSION_ID_BYTES), 0, None)
    kind, sid, round_no, body = parse_envelope(wire.decode(b"".join(wire.encode(env))), "p1")
    assert (kind, sid, round_no, body) == (HEARTBEAT, bytes(SESSION_ID_BYTES), 0, None)


@pytest.mark.trio
async def test_silent_peer_is_named_within_5s_whatever_the_round_deadline(autojump_clock):
    """p2's process is gone without a trace (its links stay open, nothing
    arrives): p0 and p1 name it by liveness, long before the 60 s deadline."""
    mesh = memory_mesh(NAMES)
    named_at: dict[str, float] = {}

    async def honest(name: str) -> None:
        async with Party(name, NAMES, mesh[name]) as party:
            with pytest.raises(PeerTimeout) as info:
                await party.run("secure-sum", 1, session_id="silent", round_timeout=60.0)
        assert info.value.peer == "p2" and "nothing heard" in info.value.message
        named_at[name] = trio.current_time()

    start = trio.current_time()
    with trio.fail_after(100):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(honest, "p0")
            nursery.start_soon(honest, "p1")
    assert set(named_at) == {"p0", "p1"}
    # the 3 s liveness timeout in action (the watcher checks every 0.25 s):
    # not before its time, and within one check after it
    assert all(3.0 <= t - start <= 3.25 + 1e-6 for t in named_at.values()), named_at


@pytest.mark.trio
async def test_peer_that_computes_but_heartbeats_is_not_timed_out(autojump_clock):
    """p1 takes 30 s before it sends: liveness must not fire (its party keeps
    heartbeating), the 60 s round deadline is not reached, the run completes."""
    with trio.fail_after(100):
        results, errors = await _run_all("test-slow-p1", memory_mesh(NAMES), round_timeout=60.0)
    assert not errors, errors
    assert results == {n: 3 for n in NAMES}
    assert trio.current_time() >= 30.0


@pytest.mark.trio
async def test_live_peer_that_never_sends_is_named_at_the_round_deadline(autojump_clock):
    """Liveness is not progress: a heartbeating peer that takes longer than
    the round deadline is named by the deadline (and only then)."""
    with trio.fail_after(100):
        results, errors = await _run_all("test-stuck-p1", memory_mesh(NAMES), round_timeout=20.0)
    for name in ("p0", "p2"):
        assert isinstance(errors[name], PeerTimeout), errors
        assert errors[name].peer == "p1" and "round 1 from p1 within 20s" in errors[name].message
        assert errors[name].__notes__ == ["after 20.00s"]  # the deadline, not liveness (p1 is alive)


@pytest.mark.trio
async def test_own_event_loop_stall_is_not_blamed_on_the_peers(autojump_clock):
    """While p0's loop is blocked nobody's heartbeats are read; when it runs
    again the silence is its own, not the peers'."""
    with trio.fail_after(100):
        results, errors = await _run_all("test-stall-own-loop", memory_mesh(NAMES), round_timeout=60.0)
    assert not errors, errors
    assert results == {n: 3 for n in NAMES}


@pytest.mark.trio
async def test_idle_link_carries_heartbeats_but_a_busy_one_does_not(autojump_clock):
    mesh = memory_mesh(["p0", "p1"])
    with trio.fail_after(100):
        async with Party("p0", ["p0", "p1"], mesh["p0"]), Party("p1", ["p0", "p1"], mesh["p1"]):
            await trio.sleep(5.01)
            beats = mesh["p0"]["p1"].messages_sent
    assert 9 <= beats <= 11  # one every 0.5 s


# ---- closing


async def _secure_pair(a: str, b: str, keys):
    left, right = trio.testing.memory_stream_pair()
    out = {}

    async def accept():
        out[b] = await accept_secure(right, my_id=b, static_private=keys[b].private,
                                     lookup_public_key=lambda n: keys[a].public if n == a else None,
                                     roster_hash=b"\x07" * 32, handshake_timeout=5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(accept)
        out[a] = await connect_secure(left, my_id=a, peer_id=b, static_private=keys[a].private,
                                      peer_public=keys[b].public, roster_hash=b"\x07" * 32, handshake_timeout=5)
    return out[a], out[b]


@protocol("test-p0-sends-last", security="test only", reveals="everything", input="int", output="int")
async def p0_sends_last(ctx: Context, value: int) -> int:
    """p0 sends one message to p1 and is done."""
    await ctx.send("p1", value)
    return value


@pytest.mark.trio
async def test_party_exits_once_its_peer_has_acknowledged_not_after_the_linger(autojump_clock):
    """Over a resumable link (as `mpcnet party` uses), p0's last message is
    acknowledged by p1 0.25 s after p0 finished: leaving the Party must
    return then, not wait out the link's 1 s close linger for an ack that
    nobody reads (as when the readers were cancelled before closing)."""
    keys = {n: generate_key(n) for n in ("p0", "p1")}
    with trio.fail_after(100):
        async with trio.open_nursery() as services:
            s0, s1 = await _secure_pair("p0", "p1", keys)
            r0, r1 = ResumableLink(s0, me="p0"), ResumableLink(s1, me="p1")
            await services.start(r0.run)
            await services.start(r1.run)

            async def late_reader() -> None:
                await trio.sleep(0.2)  # p1 is busy; then it reads (and acks 50 ms later)
                with pytest.raises(ChannelBroken, match="peer closed the channel"):
                    while True:
                        await r1.receive_message()

            services.start_soon(late_reader)
            async with Party("p0", ["p0", "p1"], {"p1": r0}) as party:
                res = await party.run("test-p0-sends-last", 7, session_id="close", round_timeout=10)
                assert res.output == 7
                done = trio.current_time()
            took = trio.current_time() - done
            services.cancel_scope.cancel()
    assert 0.2 <= took < 0.6, took  # acknowledged at 0.25 s; the linger it used to wait out is 1 s


# ---- start-up and exit of the mpcnet command


def _python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_command_exits_without_the_interpreter_teardown_but_runs_exit_handlers():
    out = _python(
        "import atexit, sys\n"
        "import mpcnet.cli as cli\n"
        "class Probe:\n"
        "    def __del__(self): print('teardown ran', flush=True)\n"
        "cli._probe = Probe()\n"
        "atexit.register(lambda: print('exit handler ran'))\n"
        "sys.argv = ['mpcnet', '--version']\n"
        "cli.run()\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["mpcnet 0.1.0", "exit handler ran"]  # flushed; no teardown


def test_command_exit_codes_survive_the_fast_exit(tmp_path):
    out = _python("import sys, mpcnet.cli as cli\nsys.argv = ['mpcnet', 'simulate', 'secure-sum', '--inputs-json', "
                  f"{str(tmp_path / 'missing.json')!r}]\ncli.run()\n")
    assert out.returncode == 2 and "cannot read inputs file" in out.stderr
    out = _python("import sys, mpcnet.cli as cli\nsys.argv = ['mpcnet', 'no-such-command']\ncli.run()\n")
    assert out.returncode == 2 and "invalid choice" in out.stderr


def test_importing_mpcnet_runs_no_garbage_collection_and_restores_the_collector():
    out = _python("import gc\n"
                  "runs = []\n"
                  "gc.callbacks.append(lambda phase, info: runs.append(phase))\n"
                  "import mpcnet\n"
                  "print(len(runs) // 2, gc.isenabled())\n")
    assert out.returncode == 0, out.stderr
    collections, enabled = out.stdout.split()
    assert int(collections) <= 2 and enabled == "True", out.stdout  # ~80 collections with the collector on


def test_a_dialer_connects_soon_after_its_peer_starts_listening():
    """p1 starts 1 s after p0: p0's refused dials must not have backed off
    far (it used to double up to 1 s between tries)."""
    keys = [generate_key("p0"), generate_key("p1")]
    port = free_ports(1)[0]
    roster = Roster.from_entries([("p0", "127.0.0.1:1", keys[0].public), ("p1", f"127.0.0.1:{port}", keys[1].public)])
    times: dict[str, float] = {}

    async def main() -> None:
        async def p0() -> None:
            links = await connect_mesh(roster, keys[0], connect_timeout=10)
            times["p0 linked"] = trio.current_time()
            await close_links(links.values(), "done")

        async def p1() -> None:
            await trio.sleep(1.0)
            times["p1 listens"] = trio.current_time()
            links = await connect_mesh(roster, keys[1], connect_timeout=10)
            await close_links(links.values(), "done")

        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(p0)
                nursery.start_soon(p1)

    # Real sockets: the clock only jumps after 50 ms with nothing to do, so a
    # connect's reply (microseconds on loopback) is never skipped over.
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0.05))
    assert times["p0 linked"] - times["p1 listens"] < 0.2, times  # with the old back-off: 0.55 s


@pytest.mark.trio
async def test_party_that_lost_a_silent_peer_exits_without_waiting_for_its_acks(autojump_clock):
    """p1's link is up but nothing comes from it (its process is frozen):
    p0 names it by liveness, and leaving the Party then does not wait out the
    close linger for acks that cannot come."""
    keys = {n: generate_key(n) for n in ("p0", "p1")}
    with trio.fail_after(100):
        async with trio.open_nursery() as services:
            s0, s1 = await _secure_pair("p0", "p1", keys)
            r0 = ResumableLink(s0, me="p0")
            await services.start(r0.run)  # p1's end (s1) runs nothing and reads nothing: frozen
            party = Party("p0", ["p0", "p1"], {"p1": r0})
            async with party:
                with pytest.raises(PeerTimeout, match="nothing heard") as info:
                    await party.run("secure-sum", 7, session_id="frozen", round_timeout=60)
                named = trio.current_time()
            took = trio.current_time() - named
            services.cancel_scope.cancel()
    # named by the 3 s liveness timeout: its bytes seen at the first 0.25 s check count as heard then
    assert info.value.peer == "p1" and 3.0 <= named <= 3.5 + 1e-6
    assert took < 0.5, took  # the linger is 1 s


def test_a_built_in_protocol_is_found_without_reading_every_installed_package():
    out = _python("import sys\n"
                  "from mpcnet.registry import get_protocol\n"
                  "get_protocol('secure-sum')\n"
                  "print('importlib.metadata' in sys.modules)\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]


@pytest.mark.trio
async def test_shamir_rounds_let_the_partys_own_tasks_run_between_big_local_steps(monkeypatch):
    """Dealing shares of 10^6 values takes a second or more: between a deal
    and the round's exchange the task must yield to the event loop (so the
    heartbeats go out), or a peer computing on a big input would be named as
    stalled. A task step ends only where the task yields."""
    from mpcnet.mpc import shamir

    events: list[tuple[str, int, object]] = []
    step = [0]

    class Steps(trio.abc.Instrument):
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            step[0] += 1

    real_deal, real_exchange = shamir.ShamirEngine.deal, Context.exchange
    real_deal_breathing = shamir.ShamirEngine._deal_breathing

    def deal(self, *args, **kwargs):
        events.append(("deal", step[0], trio.lowlevel.current_task()))
        return real_deal(self, *args, **kwargs)

    async def deal_breathing(self, *args, **kwargs):  # input and reduction deal share by share
        events.append(("deal", step[0], trio.lowlevel.current_task()))
        return await real_deal_breathing(self, *args, **kwargs)

    async def exchange(self, *args, **kwargs):
        events.append(("exchange", step[0], trio.lowlevel.current_task()))
        return await real_exchange(self, *args, **kwargs)

    monkeypatch.setattr(shamir.ShamirEngine, "deal", deal)
    monkeypatch.setattr(shamir.ShamirEngine, "_deal_breathing", deal_breathing)
    monkeypatch.setattr(Context, "exchange", exchange)
    trio.lowlevel.add_instrument(Steps())
    with trio.fail_after(30):
        res = await mpcnet.simulate_async("compare", [[1, 5], [3, 2], None],
                                          params={"bits": 8, "signed": False, "op": "lt", "engine": "shamir"})
    assert res.outputs[0] == [True, False]
    checked = 0
    for i, (kind, at, task) in enumerate(events):
        if kind == "deal":
            nxt = next((s for k, s, t in events[i + 1:] if t is task and k == "exchange"), None)
            if nxt is not None:
                assert nxt != at, "a deal and the round's exchange ran in one step, without yielding"
                checked += 1
    assert checked >= 5


def test_the_built_in_protocol_index_matches_the_registry():
    import protocols

    specs = {s.name: s.module for s in mpcnet.all_protocols() if s.module.startswith("protocols.")}
    assert {name: f"protocols.{module}" for name, module in protocols.MODULES.items()} == specs


def test_running_secure_sum_imports_no_other_protocol():
    out = _python("import sys\n"
                  "from mpcnet.registry import get_protocol\n"
                  "get_protocol('secure-sum')\n"
                  "print(sorted(m for m in sys.modules if m.startswith('protocols.')))\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['protocols.secure_sum']"


@pytest.mark.trio
async def test_simulate_over_memory_runs_without_heartbeats(autojump_clock, monkeypatch):
    """p1 thinks for 30 s: over memory links nobody beats (no beat task is
    started) and nobody is timed out for silence; a Party with heartbeats on
    beats on the idle links (the counter sees it, so it would see a beat)."""
    beats: list[tuple[str, str]] = []
    real_beat = Party._beat

    async def counting_beat(self, peer, link, scope):
        beats.append((self.me, peer))
        await real_beat(self, peer, link, scope)

    monkeypatch.setattr(Party, "_beat", counting_beat)
    with trio.fail_after(100):
        res = await mpcnet.simulate_async("test-slow-p1", [1, 2, 3])
    assert res.outputs == (6, 6, 6) and beats == []
    with trio.fail_after(100):
        results, errors = await _run_all("test-slow-p1", memory_mesh(NAMES), round_timeout=60.0)
    # three parties, two links each: every link beats (many times in 30 s)
    assert not errors and set(beats) == {(a, b) for a in NAMES for b in NAMES if a != b}


def test_liveness_needs_heartbeats():
    with pytest.raises(mpcnet.errors.LocalProtocolViolation, match="liveness needs heartbeats"):
        Party("p0", NAMES, {}, heartbeat_interval=None)
    Party("p0", NAMES, {}, heartbeat_interval=None, liveness_timeout=None)  # (a simulation's parties)
