"""Helpers for tests that start real parties: keys, rosters, ports, plug-ins."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import trio

import mpcnet
from mpcnet.identity import format_public_key, generate_key, write_key_file
from mpcnet.testing.plugin import install_plugin as write_plugin

REPO = Path(__file__).resolve().parent.parent


def free_ports(count: int) -> list[int]:
    """Ports that were free a moment ago on 127.0.0.1 (bound together, so
    they are distinct)."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def make_deployment(tmp: Path, names: list[str]) -> tuple[Path, dict[str, Path]]:
    """Key files for ``names`` and a loopback roster; returns (roster, keys)."""
    keys = {}
    lines = []
    for name, port in zip(names, free_ports(len(names)), strict=True):
        key = generate_key(name)
        keys[name] = write_key_file(key, tmp / "keys")
        lines += [f"[parties.{name}]", f'address = "127.0.0.1:{port}"', f'public_key = "{format_public_key(key.public)}"', ""]
    roster = tmp / "roster.toml"
    roster.write_text("\n".join(lines))
    return roster, keys


PLUGIN_SOURCE = '''
"""A third-party protocol package, registered through the entry point."""
import os
import trio
from mpcnet import Context, protocol


@protocol("test-stall", security="test only", reveals="the sum", input="int", output="int")
async def stall(ctx: Context, value: int) -> int:
    """Round 1 broadcast; then the party named in $MPCNET_TEST_STALLER stalls."""
    got = await ctx.broadcast(value)
    if ctx.me == os.environ.get("MPCNET_TEST_STALLER"):
        marker = os.environ.get("MPCNET_TEST_MARKER")
        if marker:
            open(marker, "w").close()
        await trio.sleep_forever()
    await ctx.broadcast(value)
    return value + sum(got.values())
'''


def install_plugin(tmp: Path) -> Path:
    """A fake installed distribution whose entry point registers
    ``test-stall``; add the returned directory to PYTHONPATH."""
    return write_plugin(tmp, "mpcnet_testplugin", PLUGIN_SOURCE)


def mpcnet_cmd(*args: str) -> list[str]:
    """The command line for the ``mpcnet`` CLI of this checkout."""
    return [sys.executable, "-m", "mpcnet.cli", *args]


def env_with(pythonpath: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO)] + ([str(pythonpath)] if pythonpath else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mpcnet_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=kw.pop("env", env_with()), **kw)


# --- views: what a party received, bit by bit ---------------------------------
#
# A party's view (every message it received, ``record_views=True``) is turned
# into a layout (round, sender, and the type and shape of every part) and one
# flat vector of 0/1 bits: every bit of every share, word or point. The tests
# in test_views.py compare these bit vectors between runs.


async def outcomes(calls: Iterable[Callable[[], Any]]) -> list[str]:
    """Awaits each call; per call "accepted", or the name of the ConfigError
    or LocalProtocolViolation it raised (any other error propagates)."""
    out = []
    for call in calls:
        try:
            await call()
            out.append("accepted")
        except (mpcnet.ConfigError, mpcnet.LocalProtocolViolation) as exc:
            out.append(type(exc).__name__)
    return out


def _view_parts(value: Any, layout: list[str], bits: list[np.ndarray]) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("object arrays never travel")
        arr = np.ascontiguousarray(value)
        layout.append(f"{arr.dtype.str}{arr.shape}")
        bits.append(np.unpackbits(arr.reshape(-1).view(np.uint8), bitorder="little"))
    elif isinstance(value, (bytes, bytearray)):
        layout.append(f"bytes{len(value)}")
        bits.append(np.unpackbits(np.frombuffer(bytes(value), dtype=np.uint8), bitorder="little"))
    elif isinstance(value, bool):
        layout.append("bool")
        bits.append(np.array([int(value)], dtype=np.uint8))
    elif isinstance(value, int):
        layout.append("int")
        bits.append(np.unpackbits(np.array([value], dtype="<i8").view(np.uint8), bitorder="little"))
    elif value is None:
        layout.append("None")
    elif isinstance(value, (list, tuple)):
        layout.append(f"list{len(value)}")
        for v in value:
            _view_parts(v, layout, bits)
    elif isinstance(value, dict):
        layout.append(f"dict{sorted(value)}")
        for k in sorted(value):
            _view_parts(value[k], layout, bits)
    else:
        raise TypeError(f"unexpected {type(value).__name__} in a view")


def view_bits(view: Sequence[Any], project: Callable[[Any], Any] | None = None) -> tuple[tuple[str, ...], np.ndarray]:
    """(layout, bits) of a recorded view (a sequence of ReceivedRecord);
    ``project(record)`` may replace a record's value first (e.g. decode a
    variable-length encoding into fixed-size arrays)."""
    layout: list[str] = []
    bits: list[np.ndarray] = []
    for rec in view:
        layout.append(f"r{rec.round}:{rec.sender}")
        _view_parts(project(rec) if project else rec.value, layout, bits)
    return tuple(layout), (np.concatenate(bits) if bits else np.zeros(0, dtype=np.uint8))


def collect_views(protocol: str, inputs: Sequence[Any], params: Mapping[str, Any], parties: Iterable[int],
                  seeds: Iterable[int], project: Callable[[Any], Any] | None = None,
                  ) -> dict[int, tuple[tuple[str, ...], np.ndarray]]:
    """The views of ``parties`` in one seeded run per seed: per party, its
    layout and a (runs, bits) 0/1 matrix. Every run must give a party the
    same layout (message sizes and shapes are public: they must depend
    neither on the secrets nor on the coins)."""
    import mpcnet

    parties = list(parties)
    layouts: dict[int, set[tuple[str, ...]]] = {j: set() for j in parties}
    rows: dict[int, list[np.ndarray]] = {j: [] for j in parties}
    for seed in seeds:
        res = mpcnet.simulate(protocol, list(inputs), params=dict(params), seed=seed, record_views=True)
        for j in parties:
            layout, bits = view_bits(res.results[j].view, project)
            layouts[j].add(layout)
            rows[j].append(bits)
    for j in parties:
        assert len(layouts[j]) == 1, f"the layout of p{j}'s view changes between runs"
    return {j: (layouts[j].pop(), np.stack(rows[j])) for j in parties}


def _symmetric_tails(weights: list[int]) -> list[float]:
    """For a law symmetric about its middle (``weights[i] == weights[-1 - i]``):
    the probability of an outcome at least as far from the middle as each i."""
    total, low, acc = sum(weights), [], 0
    for w in weights:
        acc += w
        low.append(acc)
    last = len(weights) - 1
    return [min(1.0, 2 * low[min(i, last - i)] / total) for i in range(len(weights))]


@functools.lru_cache(maxsize=64)
def _two_sample_pvalues(runs: int) -> np.ndarray:
    """Exact permutation p-values for "two samples of ``runs`` 0/1 draws
    each have the same law": ``table[K, a]`` is the probability, given K
    ones in all, that the first sample holds a count at least as far from
    K/2 as ``a`` (hypergeometric, symmetric because both samples have the
    same size; exact whatever the common law is)."""
    n = 2 * runs
    table = np.ones((n + 1, runs + 1))
    for k in range(n + 1):
        lo, hi = max(0, k - runs), min(k, runs)
        tails = _symmetric_tails([math.comb(k, a) * math.comb(n - k, runs - a) for a in range(lo, hi + 1)])
        table[k, lo : hi + 1] = tails
    return table


@functools.lru_cache(maxsize=64)
def _uniform_pvalues(runs: int) -> np.ndarray:
    """Exact two-sided p-values of a Binomial(runs, 1/2) count: ``table[c]``
    is the probability of a count at least as far from runs/2 as c."""
    weights = [1]
    for c in range(runs):  # C(runs, c + 1) from C(runs, c): exact integers, fast for runs in the thousands
        weights.append(weights[-1] * (runs - c) // (c + 1))
    return np.array(_symmetric_tails(weights))


def different_bits(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """Positions whose bit law differs between the samples ``a`` and ``b``
    ((runs, bits) 0/1 matrices with the same number of runs): exact
    permutation test per position at level ``alpha / bits`` (Bonferroni), so
    equal laws are flagged anywhere with probability at most ``alpha``."""
    runs = a.shape[0]
    assert b.shape == a.shape and runs > 0
    ca, cb = a.sum(axis=0, dtype=np.int64), b.sum(axis=0, dtype=np.int64)
    p = _two_sample_pvalues(runs)[ca + cb, ca]
    return np.flatnonzero(p < alpha / max(1, a.shape[1]))


def biased_bits(sample: np.ndarray, alpha: float) -> np.ndarray:
    """Positions of a (runs, bits) 0/1 matrix whose bit is not a fair coin:
    exact binomial test per position at level ``alpha / bits``."""
    runs = sample.shape[0]
    p = _uniform_pvalues(runs)[sample.sum(axis=0, dtype=np.int64)]
    return np.flatnonzero(p < alpha / max(1, sample.shape[1]))


def two_sample_power(runs: int, bits: int, alpha: float, p_a: float, p_b: float) -> float:
    """The probability that :func:`different_bits` flags one position whose
    bit is 1 with probability ``p_a`` in the first sample and ``p_b`` in the
    second (exact, summing over both binomial counts)."""
    pv = _two_sample_pvalues(runs)

    def binom(p: float) -> list[float]:
        return [math.comb(runs, c) * p**c * (1 - p) ** (runs - c) for c in range(runs + 1)]

    wa, wb = binom(p_a), binom(p_b)
    return sum(wa[x] * wb[y] for x in range(runs + 1) for y in range(runs + 1) if pv[x + y, x] < alpha / bits)


# --- refusals: nothing leaves a party that refuses its input ---------------------


def run_alone_counting_sends(protocol: str, inputs: Sequence[Any], who: int,
                             params: Mapping[str, Any] | None = None) -> tuple[BaseException | None, list[str]]:
    """Run party ``who`` of ``inputs`` alone (its peers' ends of the in-memory
    links are left unread) and return (the error its run raised, or None;
    the kind of every message it sent on any link: "DATA", "ABORT" or
    "HEARTBEAT", read back from the peers' ends). A party that validates its
    input and parameters before its first send raises at once having sent
    nothing; one that validates late sends its round-1 messages first (the
    links buffer them), then times out or fails. The run has a 10 s deadline
    and a 2 s round deadline, so it cannot hang."""
    import trio

    from mpcnet import wire
    from mpcnet._net.transport import memory_mesh
    from mpcnet.party import Party
    from mpcnet.session import ABORT, DATA, HEARTBEAT, parse_envelope

    names = [f"p{i}" for i in range(len(inputs))]
    me = names[who]
    mesh = memory_mesh(names)
    error: BaseException | None = None

    async def main() -> None:
        with trio.fail_after(10):
            async with Party(me, names, mesh[me], liveness_timeout=None) as party:
                await party.run(protocol, inputs[who], session_id="refused", params=params, round_timeout=2)

    try:
        trio.run(main)
    except Exception as exc:  # the caller asserts which
        error = exc
    kinds = []
    for peer in names:
        if peer != me:
            while True:
                try:
                    data = mesh[peer][me]._receive.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
                kind = parse_envelope(wire.decode(data), me)[0]
                kinds.append({DATA: "DATA", ABORT: "ABORT", HEARTBEAT: "HEARTBEAT"}[kind])
    assert len(kinds) == sum(link.messages_sent for link in mesh[me].values())  # every send was read back
    return error, kinds


# --- the toolkit's engine choice, pinned for a test ----------------------------------


@contextlib.contextmanager
def auto_is_shamir() -> Iterator[None]:
    """Within it, ``Runtime(engine="auto")`` takes the Shamir engine at any
    number of compute parties (an explicit engine is kept): to run the
    protocols that leave the choice to the toolkit (vote, referendum, stats,
    dp-*) on the Shamir engine at three compute parties, in-process runs
    (``mpcnet.simulate``) only."""
    from mpcnet.mpc import runtime

    choose = runtime.choose_engine

    def pick(requested: str, compute_parties: int, **kw: Any) -> str:
        return "shamir" if requested == "auto" and compute_parties >= 3 else choose(requested, compute_parties, **kw)

    with mock.patch.object(runtime, "choose_engine", pick):
        yield


async def rounds_of(ctx: Any, coro: Any) -> tuple[Any, int]:
    """(the result of awaiting ``coro``, the rounds it took) inside a protocol."""
    start = ctx.round
    out = await coro
    return out, ctx.round - start


def simulate_within(name: str, inputs: Sequence[Any], deadline: float = 60, **kw: Any) -> mpcnet.SimulationResult:
    """``mpcnet.simulate_async`` under an absolute deadline (a hang fails the test, naming nothing secret)."""
    async def go() -> mpcnet.SimulationResult:
        with trio.fail_after(deadline):
            return await mpcnet.simulate_async(name, inputs, **kw)
    return trio.run(go)


# --- plaintext references of the fixed-point layers (tests/test_fixedfield.py, test_fixedrep.py) ---

def floor_ints(values: Any, f: int) -> list[Any]:
    """``floor(v / 2^f)`` of Python integers, exactly."""
    return (np.asarray(values, dtype=object) // (1 << f)).tolist()


def relu_ints(values: Any, f: int) -> list[Any]:
    """``max(0, floor(v / 2^f))``, exactly."""
    return np.maximum(np.asarray(values, dtype=object) // (1 << f), 0).tolist()


def argmax_ints(values: Any) -> list[Any]:
    """The index of the largest along the last axis, the first on ties (as numpy)."""
    return np.argmax(np.asarray(values, dtype=object), axis=-1).tolist()
