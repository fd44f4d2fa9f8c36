"""The real network: encrypted TCP meshes, strangers, killed and stalled parties."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import time

import numpy as np
import pytest
import trio

import mpcnet
import mpcnet._net.resumable
import mpcnet.runner
from mpcnet._net.resumable import ResumableLink
from mpcnet._net.securelink import connect_secure
from mpcnet._net.tcp import PendingHandshakes, _close_listeners, connect_mesh, open_mesh
from mpcnet.errors import HandshakeError
from mpcnet.identity import Roster, generate_key

from helpers import env_with, free_ports, install_plugin, make_deployment, mpcnet_cmd


def test_tcp_and_memory_agree_and_count_the_same_bytes():
    inputs = [np.arange(1000, dtype=np.int64) * (i + 1) for i in range(4)]
    tcp = mpcnet.simulate("secure-sum", inputs, transport="tcp")
    mem = mpcnet.simulate("secure-sum", inputs, transport="memory")
    np.testing.assert_array_equal(tcp.outputs[0], np.arange(1000) * 10)
    assert [s.bytes_sent for s in tcp.stats] == [s.bytes_sent for s in mem.stats]


def test_large_vector_over_tcp_spans_many_frames():
    k = 200_000  # 1.6 MB per share vector: ~25 Noise frames per message
    inputs = [np.full(k, i, dtype=np.int64) for i in range(3)]
    result = mpcnet.simulate("secure-sum", inputs, transport="tcp")
    assert int(result.outputs[1][0]) == 3 and result.outputs[1].shape == (k,)


async def _listeners(count):
    return [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in range(count)]


def _roster(keys, listeners):
    return Roster.from_entries([(k.name, f"127.0.0.1:{ls[0].socket.getsockname()[1]}", k.public)
                                for k, ls in zip(keys, listeners, strict=True)])


@pytest.mark.trio
async def test_stranger_is_rejected_and_the_listener_keeps_serving():
    keys = [generate_key("p0"), generate_key("p1")]
    listeners = await _listeners(2)
    roster = _roster(keys, listeners)
    port = listeners[1][0].socket.getsockname()[1]
    result = {}

    async def stranger():
        mallory = generate_key("mallory")
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        start = trio.current_time()
        with pytest.raises(HandshakeError) as info:
            await connect_secure(stream, my_id="mallory", peer_id="p1", static_private=mallory.private,
                                 peer_public=keys[1].public, roster_hash=roster.digest(), handshake_timeout=5)
        # answered with the (unauthenticated) REJECT at once, not at the 5 s deadline
        assert info.value.rejected and info.value.peer == "p1"
        assert trio.current_time() - start < 3

    async def impostor():
        # Claims to be p0 but holds another key: the handshake fails.
        fake = generate_key("p0")
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        start = trio.current_time()
        with pytest.raises(HandshakeError) as info:
            await connect_secure(stream, my_id="p0", peer_id="p1", static_private=fake.private,
                                 peer_public=keys[1].public, roster_hash=roster.digest(), handshake_timeout=5)
        assert info.value.rejected and info.value.peer == "p1"
        assert trio.current_time() - start < 3

    async def p1():
        result["p1"] = await connect_mesh(roster, keys[1], connect_timeout=10, listeners=listeners[1])

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p1)
            await stranger()
            await impostor()
            links = await connect_mesh(roster, keys[0], connect_timeout=10, listeners=listeners[0])
    assert set(result["p1"]) == {"p0"} and set(links) == {"p1"}
    for link in [*links.values(), *result["p1"].values()]:
        await link.aclose()
    await _close_listeners([listener for ls in listeners for listener in ls])


@pytest.mark.trio
async def test_pending_handshakes_drop_the_oldest_for_a_newcomer_and_never_park_one(autojump_clock):
    pending = PendingHandshakes(3)
    outcome: dict[int, str] = {}

    async def connection(i: int, seconds: float) -> None:
        with pending.hold() as place:
            await trio.sleep(seconds)  # an idle stranger, or a handshake in progress
            outcome[i] = "finished"
        if place.cancelled_caught:
            outcome[i] = "dropped"

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for i in range(5):  # five idle connections for three places
                nursery.start_soon(connection, i, 10)
                await trio.sleep(0.1)
            assert len(pending) == 3 and outcome == {0: "dropped", 1: "dropped"}  # at once, not at a deadline
            start = trio.current_time()
            nursery.start_soon(connection, 5, 0.01)  # an honest dial gets a place at once and finishes
            await trio.sleep(0.1)
            assert outcome[5] == "finished" and trio.current_time() - start < 1
    assert pending.evicted == 3 and len(pending) == 0
    assert outcome == {0: "dropped", 1: "dropped", 2: "dropped", 3: "finished", 4: "finished", 5: "finished"}


@pytest.mark.trio
async def test_dialer_with_wrong_peer_key_fails_fast_naming_the_peer():
    keys = [generate_key("p0"), generate_key("p1")]
    listeners = await _listeners(2)
    good = _roster(keys, listeners)
    wrong = Roster.from_entries([(p.name, p.address, generate_key(p.name).public if p.name == "p1" else p.public_key)
                                 for p in good])
    outcome = {}

    async def p1():
        try:
            await connect_mesh(good, keys[1], connect_timeout=3, listeners=listeners[1])
        except mpcnet.MPCError as exc:
            outcome["p1"] = exc

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(p1)
            start = trio.current_time()
            with pytest.raises(HandshakeError) as info:
                await connect_mesh(wrong, keys[0], connect_timeout=10, listeners=listeners[0])
            assert trio.current_time() - start < 3  # not retried until the deadline
    assert info.value.peer == "p1" and "keys do not match" in info.value.message
    # p1 saw a connection claiming p0 fail, dialed p0 back, was rejected: it
    # names p0 too, long before its 3 s deadline.
    assert isinstance(outcome["p1"], HandshakeError) and outcome["p1"].peer == "p0"
    assert "keys do not match" in outcome["p1"].message
    await _close_listeners([listener for ls in listeners for listener in ls])


@pytest.mark.trio
async def test_cancelled_mesh_setup_closes_every_listener_it_opened(monkeypatch):
    # p1 listens on its roster address for a p0 that never dials; the set-up
    # is cancelled. Every socket it opened must be closed by then, not left
    # to the garbage collector (so the test keeps a reference to each).
    opened = []
    real_listen = mpcnet._net.tcp._listen

    async def recording_listen(me):
        listeners = await real_listen(me)
        opened.extend(listeners)
        return listeners

    monkeypatch.setattr(mpcnet._net.tcp, "_listen", recording_listen)
    keys = [generate_key("p0"), generate_key("p1")]
    p0_port, p1_port = free_ports(2)
    roster = Roster.from_entries([("p0", f"127.0.0.1:{p0_port}", keys[0].public),
                                  ("p1", f"127.0.0.1:{p1_port}", keys[1].public)])
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            async def cancel_soon():
                await trio.sleep(0.2)  # set-up is waiting for p0 by now
                assert opened and all(listener.socket.fileno() >= 0 for listener in opened)
                nursery.cancel_scope.cancel()

            nursery.start_soon(cancel_soon)
            await connect_mesh(roster, keys[1], connect_timeout=30)
    assert all(listener.socket.fileno() == -1 for listener in opened)


@pytest.mark.trio
async def test_listeners_are_all_closed_even_inside_a_cancelled_scope():
    # A host name can resolve to several addresses (IPv4 and IPv6), hence
    # several listeners; each aclose ends with a checkpoint that raises
    # Cancelled in a cancelled scope, which must not leave the others open.
    listeners = [listener for _ in range(3) for listener in await trio.open_tcp_listeners(0, host="127.0.0.1")]
    with trio.fail_after(10), trio.CancelScope() as scope:
        scope.cancel()
        await _close_listeners(listeners)
    assert all(listener.socket.fileno() == -1 for listener in listeners)


def _start(roster, keys, names, env, *extra):
    return {name: subprocess.Popen(
        mpcnet_cmd("party", "test-stall", "--roster", str(roster), "--id", name, "--key", str(keys[name]),
                   "--input-json", str(i + 1), *extra),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for i, name in enumerate(names)}


def _wait_for(path, procs, timeout=30):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        assert time.monotonic() < deadline, {n: p.poll() for n, p in procs.items()}
        time.sleep(0.05)


@pytest.mark.slow
def test_killed_party_ends_every_other_party_with_an_error_naming_it(tmp_path):
    names = ["alice", "bob", "carol"]
    roster, keys = make_deployment(tmp_path, names)
    marker = tmp_path / "bob-reached-round-2"
    env = env_with(install_plugin(tmp_path), MPCNET_TEST_STALLER="bob", MPCNET_TEST_MARKER=str(marker))
    procs = _start(roster, keys, names, env, "--timeout", "60")
    try:
        _wait_for(marker, procs)
        killed_at = time.monotonic()
        procs["bob"].send_signal(signal.SIGKILL)
        for name in ("alice", "carol"):
            _, stderr = procs[name].communicate(timeout=20)
            assert procs[name].returncode == 1, stderr
            assert "[peer bob]" in stderr, stderr
            assert "Traceback" not in stderr
        # far below the 60 s round deadline: the broken link is noticed at once
        assert time.monotonic() - killed_at < 10
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


@pytest.mark.slow
def test_stalled_party_times_out_naming_it(tmp_path):
    names = ["alice", "bob", "carol"]
    roster, keys = make_deployment(tmp_path, names)
    marker = tmp_path / "carol-stalls"
    env = env_with(install_plugin(tmp_path), MPCNET_TEST_STALLER="carol", MPCNET_TEST_MARKER=str(marker))
    procs = _start(roster, keys, names, env, "--timeout", "2")
    try:
        _wait_for(marker, procs)
        for name in ("alice", "bob"):
            _, stderr = procs[name].communicate(timeout=20)
            assert procs[name].returncode == 1, stderr
            assert "no message for round 2 from carol" in stderr and "[peer carol]" in stderr
    finally:
        for p in procs.values():
            p.kill()
            p.wait()


@pytest.mark.slow
def test_party_that_never_starts_is_named(tmp_path):
    names = ["alice", "bob", "carol"]
    roster, keys = make_deployment(tmp_path, names)
    procs = {n: subprocess.Popen(
        mpcnet_cmd("party", "secure-sum", "--roster", str(roster), "--id", n, "--key", str(keys[n]),
                   "--input-json", "1", "--connect-timeout", "3"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with()) for n in ("alice", "bob")}
    for _name, proc in procs.items():
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 1
        assert "could not connect to carol" in stderr and "[peer carol]" in stderr


def test_network_timeouts_are_pinned():
    def default(func, name):
        return inspect.signature(func).parameters[name].default

    for func in (connect_mesh, open_mesh):
        assert default(func, "handshake_timeout") == 10.0
    for func in (open_mesh, mpcnet.runner.open_party, mpcnet.runner.run_party_async, ResumableLink):
        assert default(func, "reconnect_timeout") == 5.0
    for func in (mpcnet.runner.open_party, mpcnet.runner.run_party_async):
        assert default(func, "connect_timeout") == 30.0
    for func in (mpcnet.runner.run_party_async, mpcnet.runner.simulate_async):
        assert default(func, "round_timeout") == 600.0
    for func in (mpcnet.runner.open_party, mpcnet.runner.run_party_async):
        assert default(func, "liveness_timeout") == 3.0
    assert default(ResumableLink, "ack_delay") == 0.05 and default(ResumableLink, "refused_grace") == 1.0
    assert mpcnet._net.resumable.CLOSE_LINGER == 1.0
