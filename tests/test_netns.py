"""Parties as separate hosts: one network namespace each, the fault proxy
between them (mpcnet.testing.netns). Real `mpcnet party` processes, real
kernel TCP, latency, jitter, cuts, partitions, kills and outages.

Skips (with the reason) where namespaces cannot be made: not root, no `ip`.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mpcnet.testing.netns import Testbed, unavailable_reason
from mpcnet.testing.plugin import install_plugin

from helpers import env_with

REASON = unavailable_reason()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"network namespaces unavailable: {REASON}")

NAMES = ["p0", "p1", "p2"]  # three hosts: a culprit and two witnesses (process start-up is the cost)

PLUGIN = '''
"""Test protocol: ROUNDS broadcast rounds with a pause between them; touches
MPCNET_TEST_MARKER after round 1; the party in MPCNET_TEST_STALLER stalls there."""
import os
import trio
from mpcnet import Context, protocol


@protocol("test-rounds", security="test only", reveals="the sum", input="int", output="int")
async def rounds(ctx: Context, value: int) -> int:
    total = value + sum((await ctx.broadcast(value)).values())
    marker = os.environ.get("MPCNET_TEST_MARKER")
    if marker and ctx.me == ctx.parties[0]:
        open(marker, "w").close()
    if ctx.me == os.environ.get("MPCNET_TEST_STALLER"):
        if marker:
            open(marker, "w").close()
        await trio.sleep_forever()
    for _ in range(int(os.environ.get("MPCNET_TEST_ROUNDS", "3")) - 1):
        await trio.sleep(float(os.environ.get("MPCNET_TEST_PAUSE", "0.2")))
        got = await ctx.broadcast(value)
        assert value + sum(got.values()) == total
    return total
'''


def _plugin(tmp: Path) -> Path:
    return install_plugin(tmp, "mpcnet_netnsplugin", PLUGIN)


@pytest.fixture(scope="module")
def bed():
    with Testbed(NAMES) as testbed:
        yield testbed


@pytest.fixture
def net(bed):
    """The module's test bed with a perfect network at the start of each test
    and every host plugged in; checks the proxy holds no connection after."""
    bed.proxy.reset()
    yield bed
    bed.proxy.reset()
    for name in NAMES:
        bed.host_up(name)
    deadline = time.monotonic() + 5
    while any(s["open"] for s in bed.proxy.stats().values()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(s["open"] for s in bed.proxy.stats().values()), bed.proxy.stats()


def _wait_for(path: Path, procs, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, {n: (p.poll(), p.stderr.read() if p.poll() is not None else "")
                                             for n, p in procs.items()}
        time.sleep(0.02)


def _error_line(outcome) -> str:
    lines = [ln for ln in outcome.stderr.splitlines() if ln.startswith("mpcnet: error:")]
    assert len(lines) == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr
    return lines[0]


def _inputs(names=NAMES):
    return {n: str(i + 1) for i, n in enumerate(names)}


def test_links_cut_mid_run_are_resumed_and_the_run_completes(net, tmp_path):
    # Resumable links (issue 3 item 4): a reset while both parties are alive
    # is re-dialed, re-handshaken and resumed; the answer is unchanged.
    # (Before links were resumable this test expected every party to fail.)
    marker = tmp_path / "round1"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_ROUNDS="20",
                   MPCNET_TEST_PAUSE="0.1")
    net.proxy.set("*", delay=0.005)
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "30", env=env)
    _wait_for(marker, procs)
    assert net.proxy.cut("p0-p1") == 1
    time.sleep(0.4)
    assert net.proxy.cut("p1-p2") == 1
    time.sleep(0.4)
    assert net.proxy.cut("p0-p1") == 1
    outcomes = net.wait(procs, timeout=30)
    for name, o in outcomes.items():
        assert o.returncode == 0, (name, o.stderr)
        assert o.result["output"] == 6 and o.result["stats"]["rounds"] == 20
    stats = net.proxy.stats()
    assert stats["p0-p1"]["cuts"] == 2 and stats["p1-p2"]["cuts"] == 1
    assert stats["p0-p1"]["connections"] >= 3 and stats["p1-p2"]["connections"] >= 2


def test_link_cut_with_reconnection_disabled_ends_every_party_with_a_typed_error(net, tmp_path):
    # --reconnect-timeout 0: any reset is fatal; every party says so, naming a
    # peer, well before the round deadline.
    marker = tmp_path / "round1"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_ROUNDS="20",
                   MPCNET_TEST_PAUSE="0.1")
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "30", "--reconnect-timeout", "0", env=env)
    _wait_for(marker, procs)
    cut_at = time.monotonic()
    assert net.proxy.cut("p0-p1") == 1
    outcomes = net.wait(procs, timeout=30)
    for name, o in outcomes.items():
        assert o.returncode == 1, (name, o.stderr)
        line = _error_line(o)
        assert "[peer p" in line, line
    assert "[peer p1]" in _error_line(outcomes["p0"]) and "[peer p0]" in _error_line(outcomes["p1"])
    assert max(time.monotonic() - cut_at, 0) < 10


def test_sigkill_mid_round_is_named_by_every_other_party(net, tmp_path):
    marker = tmp_path / "stalls"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_STALLER="p2")
    net.proxy.set("*", delay=0.005)
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "60", env=env)
    _wait_for(marker, procs)
    killed_at = time.monotonic()
    procs["p2"].send_signal(signal.SIGKILL)
    outcomes = net.wait({n: p for n, p in procs.items() if n != "p2"}, timeout=20)
    for o in outcomes.values():
        assert o.returncode == 1
        line = _error_line(o)
        assert "[peer p2]" in line, line
    assert time.monotonic() - killed_at < 10  # not the 60 s round deadline


@pytest.mark.parametrize("fault", ["sigstop", "blackhole"])
def test_frozen_or_black_holed_party_is_named_within_5s_with_default_flags(net, tmp_path, fault):
    """Liveness, not the round deadline (default 600 s): a party whose
    process is stopped, or whose every byte the network drops, sends no
    heartbeat; every other party names it within 5 s."""
    marker = tmp_path / "round1"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_ROUNDS="200",
                   MPCNET_TEST_PAUSE="0.2")
    procs = net.start_all("test-rounds", _inputs(), env=env)
    _wait_for(marker, procs)
    if fault == "sigstop":
        procs["p2"].send_signal(signal.SIGSTOP)
    else:
        net.proxy.set("host:p2", blackhole=True)
    faulted_at = time.monotonic()
    outcomes = net.wait({n: p for n, p in procs.items() if n != "p2"}, timeout=30)
    for o in outcomes.values():
        assert o.returncode == 1
        line = _error_line(o)
        assert "nothing heard from it" in line and "[peer p2]" in line, line
    assert time.monotonic() - faulted_at < 5 + 3  # named within 3.25 s, plus exit on a loaded machine
    procs["p2"].send_signal(signal.SIGCONT)
    procs["p2"].kill()


def test_party_stalled_after_round_1_times_out_naming_it(net, tmp_path):
    marker = tmp_path / "stalls"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_STALLER="p2")
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "1", env=env)
    _wait_for(marker, procs)
    stalled_at = time.monotonic()
    outcomes = net.wait({n: p for n, p in procs.items() if n != "p2"}, timeout=20)
    for o in outcomes.values():
        assert o.returncode == 1
        line = _error_line(o)
        assert "no message for round 2 from p2" in line and "[peer p2]" in line, line
    assert time.monotonic() - stalled_at < 1 + 6  # the 1 s deadline plus process exit on a loaded machine; a hang is 20 s
    procs["p2"].kill()


def test_party_that_never_starts_is_named_within_the_connect_deadline(net):
    start = time.monotonic()
    procs = net.start_all("secure-sum", _inputs(NAMES[:2]), "--connect-timeout", "2")
    outcomes = net.wait(procs, timeout=30)
    for o in outcomes.values():
        assert o.returncode == 1
        line = _error_line(o)
        assert "could not connect to p2" in line and "[peer p2]" in line, line
    assert time.monotonic() - start < 2 + 10  # process start-up and exit included; a hang is 30 s


def test_partition_mid_run_times_out_naming_a_party_across_it(net, tmp_path):
    marker = tmp_path / "round1"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_ROUNDS="4",
                   MPCNET_TEST_PAUSE="0.3")
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "1", env=env)
    _wait_for(marker, procs)
    net.proxy.set("p0-p1", paused=True)  # {p0} | {p1, p2}: packets go nowhere, TCP keeps trying
    net.proxy.set("p0-p2", paused=True)
    split_at = time.monotonic()
    outcomes = net.wait(procs, timeout=20)
    side = {"p0": {"p1", "p2"}, "p1": {"p0"}, "p2": {"p0"}}
    for name, o in outcomes.items():
        assert o.returncode == 1
        line = _error_line(o)
        named = line.rsplit("[peer ", 1)[1].split("]")[0]
        assert named in side[name], (name, line)  # the culprit is across the partition
    assert time.monotonic() - split_at < 1 + 6  # the 1 s deadline plus process exit; a hang is 20 s


def test_host_away_briefly_returns_and_the_run_completes(net, tmp_path):
    marker = tmp_path / "round1"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_ROUNDS="4",
                   MPCNET_TEST_PAUSE="0.3")
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "8", env=env)
    _wait_for(marker, procs)
    net.host_down("p2")  # cable out: TCP retransmits across the gap
    time.sleep(1.0)
    net.host_up("p2")
    outcomes = net.wait(procs, timeout=30)
    for o in outcomes.values():
        assert o.returncode == 0, o.stderr
        assert o.result["output"] == 6


def test_host_away_too_long_is_named_and_nothing_hangs_when_it_returns(net, tmp_path):
    marker = tmp_path / "round1"
    env = env_with(_plugin(tmp_path), MPCNET_TEST_MARKER=str(marker), MPCNET_TEST_ROUNDS="4",
                   MPCNET_TEST_PAUSE="0.3")
    procs = net.start_all("test-rounds", _inputs(), "--timeout", "1", env=env)
    _wait_for(marker, procs)
    net.host_down("p2")
    gone_at = time.monotonic()
    others = net.wait({n: p for n, p in procs.items() if n != "p2"}, timeout=20)
    for o in others.values():
        assert o.returncode == 1
        line = _error_line(o)
        assert "[peer p2]" in line, line
    assert time.monotonic() - gone_at < 1 + 6  # the 1 s deadline plus process exit; a hang is 20 s
    net.host_up("p2")  # it comes back to a finished run: it must end too, with an error
    back = net.wait({"p2": procs["p2"]}, timeout=15)["p2"]
    assert back.returncode == 1
    _error_line(back)


def test_harness_runs_secure_sum_on_four_hosts_with_50ms_rtt_and_jitter():
    """The issue's end-to-end check: `mpcnet party` on four hosts, 50 ms RTT
    +- 5 ms jitter on every link; right answer; per-party time, rounds, bytes."""
    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(repo / "scripts" / "netns_harness.py"), "--parties", "4",
                          "--rtt", "50", "--jitter", "5"], capture_output=True, text=True, timeout=90)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [ln.split() for ln in out.stdout.splitlines() if ln[:1] == "p" and ln.split()[0][1:].isdigit()]
    assert len(rows) == 4 and all(r[-1] == "correct" and r[1] == "0" and r[4] == "2" for r in rows), out.stdout
    # two rounds, each at least one one-way delay (25 ms - 5 ms jitter)
    assert all(float(r[2]) >= 0.04 for r in rows), out.stdout
    # all six links carried traffic, through the proxy
    assert "proxy: 6 links, " in out.stdout, out.stdout
