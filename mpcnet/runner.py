"""Running protocols: :func:`simulate` (all parties in one process) and
:func:`run_party` (one party of a real deployment, from a roster).

Both come in a trio flavour (``*_async``) and a blocking one that starts its
own trio loop. Results carry every party's statistics.
"""

from __future__ import annotations

import gc
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from ._net import wire
from ._net.resumable import DEFAULT_RECONNECT_TIMEOUT
from ._net.transport import PeerLink, memory_mesh
from .context import Context, ProgressCallback
from .errors import ConfigError, InputError, SessionAborted
from .identity import Roster, SecretKey, generate_key
from .party import DEFAULT_ROUND_TIMEOUT, HEARTBEAT_INTERVAL, LIVENESS_TIMEOUT, Party, PartyResult
from .randomness import OSRandomness, Randomness, SeededRandomness
from .registry import ProtocolSpec, get_protocol
from .session import SessionStats, derive_session_id, new_session_id

__all__ = [
    "SimulationResult",
    "simulate",
    "simulate_async",
    "run_party",
    "run_party_async",
    "open_party",
    "derive_session_id",
    "DEFAULT_CONNECT_TIMEOUT",
]

#: Seconds a party keeps dialing and waiting for its peers before giving up.
DEFAULT_CONNECT_TIMEOUT = 30.0


@attrs.frozen
class SimulationResult:
    """The outcome of :func:`simulate`: one output per party (None for a
    party that learns nothing), per-party statistics and results (with
    views when recorded), and the wall time of the whole run."""

    protocol: str
    parties: tuple[str, ...]
    outputs: tuple[Any, ...]
    stats: tuple[SessionStats, ...]
    results: tuple[PartyResult, ...]
    wall_time: float
    transport: str


def _party_names(n: int, names: Sequence[str] | None) -> list[str]:
    if names is None:
        return [f"p{i}" for i in range(n)]
    names = list(names)
    if len(names) != n or len(set(names)) != n:
        raise ConfigError(f"need {n} distinct party names, got {names}")
    return names


def _peer_names(parties: Sequence[str], pairs: Sequence[tuple[int, int]]) -> list[set[str]]:
    """Each party's peers, by name, from the index pairs to link."""
    peers: list[set[str]] = [set() for _ in parties]
    for i, j in pairs:
        peers[i].add(parties[j])
        peers[j].add(parties[i])
    return peers


def _root_cause(errors: dict[str, BaseException], order: list[str]) -> BaseException:
    """The error to report for a failed simulation: the first that is not
    merely another party reporting an abort."""
    for name in order:
        exc = errors.get(name)
        if exc is not None and not isinstance(exc, SessionAborted):
            return exc
    return errors[next(n for n in order if n in errors)]


async def simulate_async(
    protocol: str | ProtocolSpec,
    inputs: Sequence[Any],
    *,
    params: Mapping[str, Any] | None = None,
    transport: str = "memory",
    names: Sequence[str] | None = None,
    seed: int | None = None,
    round_timeout: float = DEFAULT_ROUND_TIMEOUT,
    record_views: bool = False,
    limits: wire.Limits = wire.DEFAULT_LIMITS,
    progress: ProgressCallback | None = None,
) -> SimulationResult:
    """Run ``protocol`` with one party per element of ``inputs``, all in this
    process, over the in-memory mesh (``transport="memory"``) or over real
    Noise-encrypted TCP on 127.0.0.1 (``transport="tcp"``).

    ``seed`` makes the parties' randomness (and, over memory, the links'
    pair secrets) reproducible: for tests and simulations only (anyone with
    the seed can recompute every share).
    Raises the first party's typed error if the run fails.

    All parties share this one event loop, so a party whose session
    succeeded closes its links only once every session is over (a failed
    one closes at once): the statistics' ``wall_time`` of a session then
    holds no other party's teardown.
    """
    spec = get_protocol(protocol) if isinstance(protocol, str) else protocol
    n = len(inputs)
    spec.check_party_count(n)
    resolved = spec.resolve_params(params, n)
    parties = _party_names(n, names)
    for name, value in zip(parties, inputs, strict=True):  # all inputs checked before any party starts
        try:
            spec.prepare_input(value, resolved, n)
        except InputError as exc:
            raise InputError(f"input of party {name}: {exc.message}") from None
    # Seeded runs get a session id from the seed too (pairwise keys mix it in).
    session_id = new_session_id() if seed is None else derive_session_id(spec.name, resolved, f"seed {seed}")
    results: dict[str, PartyResult] = {}
    errors: dict[str, BaseException] = {}

    def randomness(i: int) -> Randomness:
        return SeededRandomness(seed, i) if seed is not None else OSRandomness()

    # Over memory links every party lives in this one event loop: one that
    # fails closes its links (its peers' readers see that at once) and one
    # that blocks the loop blocks everyone, so silence cannot single out a
    # dead peer. Heartbeats (a task per link, woken twice a second) would
    # only cost time, in proportion to links x duration: 10,000 voters
    # spent most of a run beating.
    quiet = transport == "memory"

    # One tuple for every party: they share its position map (see
    # mpcnet.session.party_positions), so setup is linear in n, not n^2.
    shared = tuple(parties)

    # A party whose run succeeded keeps its links open until every party's
    # run is over: closing them (a CLOSE frame per link, the readers
    # stopped) would otherwise run in this one event loop in the middle of
    # the others' sessions and count in their times. A party whose run
    # failed closes at once, so that its peers hear of it. Every run ends by
    # its own deadlines, so the wait is bounded by the slowest run.
    running = [n]
    all_ran = trio.Event()

    def ran() -> None:
        running[0] -= 1
        if running[0] == 0:
            all_ran.set()

    async def one_party(i: int, links: Mapping[str, PeerLink]) -> None:
        name = parties[i]
        counted = False
        try:
            async with Party(name, shared, links, limits=limits,
                             heartbeat_interval=None if quiet else HEARTBEAT_INTERVAL,
                             liveness_timeout=None if quiet else LIVENESS_TIMEOUT) as party:
                try:
                    results[name] = await party.run(spec, inputs[i], session_id=session_id, params=resolved,
                                                    round_timeout=round_timeout, random=randomness(i),
                                                    record_view=record_views, progress=progress)
                finally:
                    counted = True
                    ran()
                await all_ran.wait()
        except Exception as exc:  # reported below: the root cause is raised
            errors[name] = exc
        finally:
            if not counted:
                ran()

    # Only the links the protocol declares (input-only voters need none to
    # each other): linear in their number when the rule lists peers.
    pairs = None if spec.links is None else spec.link_pairs(n, resolved)
    start = time.perf_counter()
    if transport == "memory":
        mesh = memory_mesh(parties, seed=seed, pairs=pairs)
        async with trio.open_nursery() as nursery:
            for i in range(n):
                nursery.start_soon(one_party, i, mesh[parties[i]])
    elif transport == "tcp":
        from ._net.tcp import loopback_meshes

        keys = [generate_key(p) for p in parties]
        peers = None if pairs is None else _peer_names(parties, pairs)
        async with loopback_meshes(keys, peers=peers) as meshes:
            async with trio.open_nursery() as nursery:
                for i in range(n):
                    nursery.start_soon(one_party, i, meshes[i])
    else:
        raise ConfigError(f"unknown transport {transport!r}; use 'memory' or 'tcp'")
    wall = time.perf_counter() - start
    if errors:
        raise _root_cause(errors, parties)
    ordered = tuple(results[p] for p in parties)
    return SimulationResult(spec.name, tuple(parties), tuple(r.output for r in ordered),
                            tuple(r.stats for r in ordered), ordered, wall, transport)


def simulate(protocol: str | ProtocolSpec, inputs: Sequence[Any], **kwargs: Any) -> SimulationResult:
    """Blocking :func:`simulate_async` (starts its own trio loop).

    The cyclic garbage collector is paused for the run (and restored after):
    thousands of simulated parties keep millions of objects alive, and each
    full collection walks them all while finding nothing to free, which
    tripled the time of a 10,000-voter run. Memory freed by reference
    counting is freed as usual."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return trio.run(lambda: simulate_async(protocol, inputs, **kwargs))
    finally:
        if was_enabled:
            gc.enable()


@asynccontextmanager
async def open_party(
    roster: Roster,
    key: SecretKey,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    limits: wire.Limits = wire.DEFAULT_LIMITS,
    reconnect_timeout: float | None = DEFAULT_RECONNECT_TIMEOUT,
    peers: Sequence[str] | None = None,
    liveness_timeout: float | None = LIVENESS_TIMEOUT,
    prepare: Sequence[str | ProtocolSpec] = (),
) -> AsyncIterator[Party]:
    """Connect to every roster peer and yield a :class:`Party` that can run
    any number of protocol sessions, one after another or concurrently::

        async with mpcnet.open_party(roster, key) as party:
            total = (await party.run("secure-sum", 42, session_id="q3")).output

    A connection that breaks while both parties are alive is re-established
    and resumed without losing a message (see :mod:`mpcnet._net.resumable`); a
    peer not back within ``reconnect_timeout`` seconds is lost (None: any
    break loses the peer at once). ``peers`` limits the channels to those
    parties (default: all of the roster). A peer from which nothing arrives
    for ``liveness_timeout`` seconds during a session (None: no limit) is
    lost (see :class:`~mpcnet.party.Party`).

    ``prepare`` names protocols to run once, with no input, before the
    party is yielded (:meth:`~mpcnet.party.Party.prepare`): an offline phase
    before any input exists. ``prepare=("twoparty-setup",)`` makes the
    two-party engine's base OTs now, so that the first two-party ``compare``
    or ``auction`` on the connection takes the fast path (no public-key
    operation). Every party must pass the same list; a peer that does not
    join within ``connect_timeout`` seconds per round fails the block with
    :class:`~mpcnet.errors.PeerTimeout` naming it. Default: none.

    Leaving the block closes every channel cleanly. If the caller is
    cancelled while a session runs, that session sends ABORT so every peer
    ends it with :class:`~mpcnet.errors.SessionAborted`.
    """
    if key.name not in roster:
        raise ConfigError(f"party {key.name!r} (from the key file) is not in the roster")
    # A key file that does not match the roster is refused by the mesh (which
    # first lets the peers see the mismatch too; see mpcnet._net.tcp.connect_mesh).
    from ._net.tcp import open_mesh

    async with open_mesh(roster, key, connect_timeout=connect_timeout, limits=limits,
                         reconnect_timeout=reconnect_timeout, peers=peers) as links:
        async with Party(key.name, roster.names, links, limits=limits, liveness_timeout=liveness_timeout) as party:
            if prepare:
                await party.prepare(prepare, round_timeout=connect_timeout)
            yield party


async def run_party_async(
    protocol: str | ProtocolSpec,
    value: Any,
    *,
    roster: Roster,
    key: SecretKey,
    params: Mapping[str, Any] | None = None,
    session_label: str = "",
    round_timeout: float = DEFAULT_ROUND_TIMEOUT,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    limits: wire.Limits = wire.DEFAULT_LIMITS,
    progress: ProgressCallback | None = None,
    reconnect_timeout: float | None = DEFAULT_RECONNECT_TIMEOUT,
    liveness_timeout: float | None = LIVENESS_TIMEOUT,
    prepare: Sequence[str | ProtocolSpec] = (),
) -> PartyResult:
    """Run one party of ``protocol`` against the roster's other parties.

    Listens on this party's roster address, dials the parties listed after
    it, authenticates every channel against the roster, runs the protocol and
    closes the mesh. Every party must pass the same protocol, parameters and
    ``session_label``. The input is validated before the network is touched.
    ``prepare``: protocols run first with no input (see :func:`open_party`).
    """
    spec = get_protocol(protocol) if isinstance(protocol, str) else protocol
    n = len(roster)
    spec.check_party_count(n)
    resolved = spec.resolve_params(params, n)
    value = spec.prepare_input(value, resolved, n)
    if key.name not in roster:
        raise ConfigError(f"party {key.name!r} (from the key file) is not in the roster")
    # Only the channels this protocol uses (input-only parties need none to each other).
    peers = [roster.names[j] for j in spec.peers_of(roster[key.name].index, n, resolved)]
    async with open_party(roster, key, connect_timeout=connect_timeout, limits=limits,
                          reconnect_timeout=reconnect_timeout, peers=peers, liveness_timeout=liveness_timeout,
                          prepare=prepare) as party:
        # A one-round barrier first: a party's mesh is up once its own links
        # are, while others may still be connecting to each other. Starting
        # together makes the session's statistics (wall time) mean the
        # protocol, not the others' start-up.
        await party.run(_READY, peers, session_id=f"{session_label}/ready:{spec.name}",
                        round_timeout=max(round_timeout, connect_timeout))
        return await party.run(spec, value, session_id=session_label, params=resolved,
                               round_timeout=round_timeout, progress=progress)


async def _ready(ctx: Context, linked: list[str]) -> None:
    """Every party tells its linked peers it is ready and waits for theirs."""
    await ctx.exchange({p: None for p in linked}, expect_from=linked)


_READY = ProtocolSpec(name="ready", func=_ready, summary="start barrier (internal)", min_parties=1,
                      max_parties=None, security="-", reveals="nothing", input="the linked peers", output="None")


def run_party(protocol: str | ProtocolSpec, value: Any, **kwargs: Any) -> PartyResult:
    """Blocking :func:`run_party_async` (starts its own trio loop)."""
    return trio.run(lambda: run_party_async(protocol, value, **kwargs))
