"""A party on a mesh: routes envelopes to sessions and runs protocols.

:class:`Party` owns one :class:`~mpcnet._net.transport.PeerLink` per peer and
reads them with one task for all its TCP links, resumable or not (a
:class:`~mpcnet._net.poller.LinkPoller`), and one task per other link
(memory links). Readers decode each message, check its envelope and
hand it to the session it names; several sessions (protocol runs) can share
the mesh at once. Messages for a session this party has not opened yet (a
peer started first) are parked, within bounds, until it opens.

Liveness is apart from progress. While the party is open, every link
carries a ``HEARTBEAT`` envelope whenever nothing else was sent on it for
:data:`HEARTBEAT_INTERVAL` seconds, sent by a task of the party's own, so it
keeps beating while protocol code waits or computes (in worker threads or
between checkpoints). A peer from which nothing at all arrives (no heartbeat,
no message, not a byte of a long message) for :data:`LIVENESS_TIMEOUT` seconds
while a session with it is live is lost with :class:`~mpcnet.errors.PeerTimeout`
naming it: it was killed, stalled, or the network to it is cut. The round
deadline (``round_timeout``) only bounds how long a peer that is alive may
take to send what a round needs.

Use it as an async context manager::

    async with Party("alice", parties, links) as party:
        result = await party.run("secure-sum", 42, session_id=sid)
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Any

import attrs
import trio

from ._net import wire
from ._net.poller import POLL_BURST, LinkPoller, pollable
from ._net.transport import PeerLink, close_links
from .context import Context, ProgressCallback
from .errors import LocalProtocolViolation, MPCError, PeerTimeout, RemoteProtocolViolation
from .events import emit
from .randomness import OSRandomness, Randomness
from .registry import ProtocolSpec, get_protocol
from .session import (
    ABORT,
    HEARTBEAT,
    SESSION_ID_BYTES,
    PeerSet,
    ReceivedRecord,
    Session,
    SessionStats,
    derive_session_id,
    describe_peer_loss,
    make_envelope,
    parse_envelope,
    party_positions,
)

__all__ = ["Party", "PartyResult", "DEFAULT_ROUND_TIMEOUT", "HEARTBEAT_INTERVAL", "LIVENESS_TIMEOUT"]

log = logging.getLogger("mpcnet.party")

#: Seconds a party waits for any one round before it names the peer that
#: has not sent. A peer that is down or cut off is named within
#: :data:`LIVENESS_TIMEOUT` instead; this deadline is for a live peer that
#: makes no progress, so it is long enough for a peer's local work on a large
#: input (a 10^6-item PSI round takes minutes on a small machine).
DEFAULT_ROUND_TIMEOUT = 600.0
#: Seconds between heartbeats on a link that carries nothing else.
HEARTBEAT_INTERVAL = 0.5
#: Seconds of silence (nothing at all received) after which a peer in a live
#: session is lost. Six heartbeats: a loaded machine may delay a few, and a
#: process that blocks its event loop this long does not serve the network.
LIVENESS_TIMEOUT = 3.0
#: Bounds on what a peer may park for sessions we have not opened yet.
MAX_EARLY_SESSIONS = 16
MAX_EARLY_MESSAGES = 64


@attrs.frozen
class PartyResult:
    """One party's outcome of one run: its output (None if it learns
    nothing), its statistics and, when recorded, its view (every message
    it received, in order)."""

    party: str
    output: Any
    stats: SessionStats
    view: tuple[ReceivedRecord, ...] = ()


class Party:
    """A party with links to every peer, able to run protocol sessions."""

    def __init__(self, me: str, parties: Sequence[str], links: Mapping[str, PeerLink], *,
                 limits: wire.Limits = wire.DEFAULT_LIMITS, max_buffered_per_peer: int | None = None,
                 heartbeat_interval: float | None = HEARTBEAT_INTERVAL,
                 liveness_timeout: float | None = LIVENESS_TIMEOUT) -> None:
        # (positions: shared among the parties of one simulation, see party_positions)
        self._positions = party_positions(parties)
        if me not in self._positions:
            raise LocalProtocolViolation(f"{me!r} is not one of the parties")
        strangers = [p for p in links if p not in self._positions]
        if strangers:
            raise LocalProtocolViolation(f"links to parties not in the session list: {sorted(strangers)}")
        self.me = me
        # A tuple: shared, not copied, when the caller passes one (a simulation's 10,000 parties
        # would otherwise hold 10,000 copies of the 10,000 names).
        self.parties: tuple[str, ...] = tuple(parties)
        self.links = dict(links)
        self.limits = limits
        self._sessions: dict[bytes, Session] = {}
        self._finished: set[bytes] = set()
        # peer -> session id -> messages that arrived before we opened the session
        self._early: dict[str, dict[bytes, list[tuple[int, int, Any, int, int]]]] = {}
        self._buffered: dict[str, int] = {}
        self.max_buffered_per_peer = max_buffered_per_peer or 2 * limits.max_message
        self._lost: dict[str, MPCError] = {}
        self._prepared = 0  # sessions run by prepare(): numbers their ids alike at every party
        if heartbeat_interval is None:
            if liveness_timeout is not None:
                raise LocalProtocolViolation("liveness needs heartbeats: with heartbeat_interval=None pass "
                                             "liveness_timeout=None")
        elif not heartbeat_interval > 0 or (liveness_timeout is not None and not liveness_timeout > heartbeat_interval):
            raise LocalProtocolViolation("heartbeat_interval must be positive and below liveness_timeout")
        #: Seconds between heartbeats on an idle link (None: no heartbeats,
        #: for parties that cannot fall silent apart from their links, as in
        #: the one-process simulation over memory links).
        self.heartbeat_interval = heartbeat_interval
        #: Seconds of silence after which a peer in a live session is lost (None: never).
        self.liveness_timeout = liveness_timeout
        self._heartbeat = wire.encode(make_envelope(HEARTBEAT, bytes(SESSION_ID_BYTES), 0, None), limits)
        self._heard: dict[str, float] = {}  # peer -> when anything last arrived from it
        self._bytes_seen: dict[str, int] = {}  # peer -> its link's byte counter at that time
        self._sent_at: dict[str, float] = {}  # peer -> when we last sent it anything
        self._beats: dict[str, trio.CancelScope] = {}  # peer -> its heartbeat send under way
        self._silent: set[str] = set()  # peers whose link failed a heartbeat: no more beats
        self._nursery: trio.Nursery | None = None
        self._nursery_cm: Any = None
        self._services = trio.CancelScope()
        self._services_done = trio.Event()
        self._poller: LinkPoller | None = None
        # The run's clock, read directly on the per-message paths (the same
        # value as trio.current_time(), two calls fewer); set on entry.
        self._now: Callable[[], float] = trio.current_time

    async def __aenter__(self) -> Party:
        # The poller's set is built here, with the links, not by the reader
        # when it first runs: it is set-up, not a session's work.
        polled = pollable(self.links)
        try:
            self._poller = LinkPoller(polled) if polled else None
        except OSError as exc:  # no descriptor for the set (EMFILE): a reader per link, as before
            log.warning("cannot poll the links together (%s); one reader per link", exc.strerror or exc)
            self._poller = None
        try:
            self._nursery_cm = trio.open_nursery()
            self._nursery = await self._nursery_cm.__aenter__()
        except BaseException:
            if self._poller is not None:
                self._poller.close()
            raise
        self._now = trio.lowlevel.current_clock().current_time
        now = trio.current_time()
        for peer, link in self.links.items():
            # Links that reassemble messages from frames ask before each one
            # whether it fits this peer's budget.
            set_admission = getattr(link, "set_admission", None)
            if set_admission is not None:
                set_admission(functools.partial(self._admit, peer))
            self._heard[peer] = self._sent_at[peer] = now
        # Ready when this returns: the readers and the keep-alive task are
        # started before any session is (their first steps are set-up too).
        await self._nursery.start(self._serve)
        return self

    async def _serve(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """The party's own tasks: one reader for all the links that can be
        polled together (TCP links, see :mod:`mpcnet._net.poller`) and a
        reader per other link, one heartbeat task for all links, and the
        liveness watch. One scope, so closing can stop them all and know
        when they have stopped."""
        try:
            with self._services:
                async with trio.open_nursery() as nursery:
                    poller = self._poller
                    if poller is not None:
                        nursery.start_soon(self._poll_loop, poller)
                    for peer, link in self.links.items():
                        if poller is None or peer not in poller:
                            nursery.start_soon(self._read_loop, peer, link)
                    if self.heartbeat_interval is not None and self.links:
                        nursery.start_soon(self._keep_alive, nursery)
                    task_status.started()
        finally:
            if self._poller is not None:
                self._poller.close()
            self._services_done.set()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> bool | None:
        assert self._nursery is not None
        # Readers stop before the links close: a closing link then reads its
        # peer's acks itself, so it returns as soon as the peer has
        # acknowledged everything, instead of waiting out its linger for a
        # reader that is no longer there. (Readers stop at their next
        # checkpoint; one ending a lost link may take up to 1 s.)
        self._services.cancel()
        with trio.CancelScope(shield=True), trio.move_on_after(2.0):
            await self._services_done.wait()
        await close_links(self.links.values(), "party finished")
        try:
            return bool(await self._nursery_cm.__aexit__(exc_type, exc, tb))
        except BaseExceptionGroup as group:
            # trio wraps the body's own exception in a group; callers want
            # the typed error itself, so unwrap when it is the only one.
            matched, rest = group.split(lambda e: e is exc)
            if exc is not None and matched is not None and rest is None:
                raise exc from None
            raise

    def _take(self, peer: str, data: bytes | bytearray | memoryview) -> None:
        """Decode one message from ``peer`` and hand it to its session."""
        try:
            value, held = wire.decode_with_cost(data, self.limits)
            kind, sid, round_no, body = parse_envelope(value, peer)
        except MPCError as exc:
            # An authenticated peer sending undecodable bytes is
            # broken or lying; nothing later on this link can be trusted.
            raise RemoteProtocolViolation(f"sent an invalid message: {exc.message}", peer=peer) from None
        self._route(peer, kind, sid, round_no, body, len(data), held)

    async def _poll_loop(self, poller: LinkPoller) -> None:
        """One reader for many TCP links (plain or resumable): wait until some have bytes, take
        every whole message they hold (at most POLL_BURST from one link per
        turn), repeat. A link that fails (its peer's close, a broken
        connection, a forged frame, an invalid message) is dropped from the
        set and its peer lost with the error naming it, as a per-link
        reader would."""
        with poller:
            while len(poller):
                ready = await poller.wait()
                now = trio.current_time()
                for peer, link in ready:
                    try:
                        data = link.poll_message(readable=True)
                        taken = 0
                        while data is not None:
                            self._heard[peer] = now
                            self._take(peer, data)
                            taken += 1
                            if taken >= POLL_BURST:
                                poller.again(peer, link)  # the rest on its next turn
                                break
                            data = link.poll_message()
                    except MPCError as exc:
                        poller.discard(peer)
                        self._peer_lost(peer, exc)
                    except Exception as exc:
                        poller.discard(peer)
                        log.warning("link to %s: unexpected %s while handling its message", peer, type(exc).__name__)
                        self._peer_lost(peer, RemoteProtocolViolation(
                            f"sent a message that could not be handled ({type(exc).__name__})", peer=peer))
                    else:
                        continue
                    # As a per-link reader does on its way out, but without
                    # holding up the other links when the close must wait.
                    if not link.close_now(self._close_reason(peer)):
                        assert self._nursery is not None
                        self._nursery.start_soon(self._close_lost, self.links[peer], self._close_reason(peer))

    def _close_reason(self, peer: str) -> str:
        return "protocol violation" if isinstance(self._lost[peer], RemoteProtocolViolation) else "link ended"

    @staticmethod
    async def _close_lost(link: PeerLink, reason: str) -> None:
        with trio.CancelScope(shield=True), trio.move_on_after(1):
            await link.aclose(reason)

    async def _read_loop(self, peer: str, link: PeerLink) -> None:
        try:
            heard, now, take = self._heard, self._now, self._take
            while True:
                data = await link.receive_message()
                heard[peer] = now()
                take(peer, data)
        except MPCError as exc:
            self._peer_lost(peer, exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._peer_lost(peer, describe_peer_loss(peer, exc))
        except Exception as exc:
            log.warning("link to %s: unexpected %s while handling its message", peer, type(exc).__name__)
            self._peer_lost(peer, RemoteProtocolViolation(f"sent a message that could not be handled "
                                                          f"({type(exc).__name__})", peer=peer))
        if peer in self._lost:
            await self._close_lost(link, self._close_reason(peer))

    async def _keep_alive(self, nursery: trio.Nursery) -> None:
        """Heartbeats and the liveness watch, in one task for all links
        (a task per link, or one for each duty, costs every party spawns,
        first steps and cancellations, which in a simulation of many parties
        is a large part of a short protocol's time).

        Heartbeats: one on every link on which nothing else went for a
        heartbeat interval (late by at most an eighth of it: wake-ups are
        batched). Each is sent by a task of its own, so one blocked behind a
        full link holds up no other link's; it is cancelled when its peer is
        lost or the party closes. A link whose heartbeat failed gets no more
        (the reader reports why it ended).

        Liveness (with ``liveness_timeout``): every tick, a peer in a live
        session from which nothing has arrived for the timeout is lost. Bytes
        of a message still arriving count (a 256 MiB message on a slow link
        takes a while to complete)."""
        interval = self.heartbeat_interval
        assert interval is not None  # (started only with heartbeats on)
        slack = interval / 8
        timeout = self.liveness_timeout
        tick = math.inf if timeout is None else min(interval / 2, timeout / 8)
        last_tick = trio.current_time()
        next_tick = last_tick + tick
        # Nothing is due before an interval has passed (every link counts as
        # used when the party opens).
        await trio.sleep_until(min(last_tick + interval, next_tick))
        while True:
            now = trio.current_time()
            next_due = self._send_heartbeats(now, nursery)
            if now >= next_tick:
                assert timeout is not None
                self._check_liveness(now, now - last_tick > 2 * tick, tick, timeout)
                last_tick, next_tick = now, now + tick
            await trio.sleep_until(min(max(next_due, now + slack), next_tick))

    def _send_heartbeats(self, now: float, nursery: trio.Nursery) -> float:
        """Start a heartbeat on each link that is due one; when the next is due."""
        interval = self.heartbeat_interval
        assert interval is not None
        next_due = now + interval
        for peer, link in self.links.items():
            if peer in self._lost or peer in self._silent:
                continue
            due = self._sent_at[peer] + interval
            if due <= now:
                if peer not in self._beats:
                    self._sent_at[peer] = now
                    self._beats[peer] = trio.CancelScope()
                    nursery.start_soon(self._beat, peer, link, self._beats[peer])
                due = now + interval
            next_due = min(next_due, due)
        return next_due

    async def _beat(self, peer: str, link: PeerLink, scope: trio.CancelScope) -> None:
        """One heartbeat to ``peer`` (within ``scope``, cancelled if the peer is lost)."""
        try:
            with scope:
                await link.send_message(self._heartbeat)
        except (MPCError, trio.BrokenResourceError, trio.ClosedResourceError):
            self._silent.add(peer)
        finally:
            del self._beats[peer]

    def _check_liveness(self, now: float, stalled: bool, tick: float, timeout: float) -> None:
        """Lose every peer in a live session that has been silent for ``timeout``."""
        if stalled:
            # This party's own event loop was held up (local work between
            # checkpoints): what the peers sent meanwhile is still unread,
            # so the silence is not theirs. Count from now.
            for peer in self._heard:
                self._heard[peer] = max(self._heard[peer], now - tick)
        watched = set().union(*(s.peers for s in self._sessions.values())) if self._sessions else set()
        for peer, link in self.links.items():
            seen = getattr(link, "bytes_received", None)
            if isinstance(seen, int) and seen != self._bytes_seen.get(peer):
                self._bytes_seen[peer] = seen
                self._heard[peer] = now
            if peer in watched and peer not in self._lost and now - self._heard[peer] > timeout:
                error = PeerTimeout(f"nothing heard from it for {now - self._heard[peer]:.1f}s (no heartbeat: "
                                    "the party stopped, or the network to it is cut)", peer=peer)
                self._peer_lost(peer, error)
                give_up = getattr(link, "give_up", None)
                if give_up is not None:  # a resumable link: closing it must not wait for acks
                    give_up(error)

    def _peer_lost(self, peer: str, error: MPCError) -> None:
        beat = self._beats.get(peer)
        if beat is not None:
            beat.cancel()
        if error.peer is None:
            error.peer = peer
        self._lost.setdefault(peer, error)
        self._early.pop(peer, None)
        self._buffered[peer] = 0
        emit(log, logging.INFO, "link_lost", party=self.me, peer=peer, reason=type(error).__name__)
        for session in self._sessions.values():
            session.peer_lost(peer, error)

    def _hold(self, peer: str, size: int) -> None:
        """Count ``size`` more bytes buffered for ``peer``; cut it off past its budget."""
        held = self._buffered.get(peer, 0) + size
        if held > self.max_buffered_per_peer:
            raise RemoteProtocolViolation(f"has more than {self.max_buffered_per_peer} bytes of messages "
                                          "waiting at this party", peer=peer)
        self._buffered[peer] = held

    def _release(self, peer: str, size: int) -> None:
        self._buffered[peer] = max(0, self._buffered.get(peer, 0) - size)

    def _admit(self, peer: str, size: int) -> None:
        """A link is about to reassemble a ``size``-byte message from
        ``peer``: refuse it unless it fits in the peer's budget beside what
        the peer already has waiting here (so a message being received
        counts too, from its first frame)."""
        held = self._buffered.get(peer, 0)
        if held + size > self.max_buffered_per_peer:
            raise RemoteProtocolViolation(f"announced a {size}-byte message while {held} bytes of its messages wait "
                                          f"at this party; the limit is {self.max_buffered_per_peer}", peer=peer)

    def _route(self, peer: str, kind: int, sid: bytes, round_no: int, body: Any, size: int, held: int) -> None:
        """Hand a decoded envelope (``size`` bytes on the wire, ``held``
        bytes of memory once decoded) to its session, or park it."""
        if kind == HEARTBEAT:
            return  # only a sign of life (noted by the reader)
        if sid in self._finished:
            return  # late traffic (an abort after we finished, say) for a run that is over
        self._hold(peer, held)
        session = self._sessions.get(sid)
        if session is not None:
            if not session.deliver(peer, kind, round_no, body, size, held):
                self._release(peer, held)
            return
        # Parked per peer, so one peer's junk can never crowd out another's.
        parked = self._early.setdefault(peer, {})
        if sid not in parked and len(parked) >= MAX_EARLY_SESSIONS:
            raise RemoteProtocolViolation("sent messages for too many sessions this party has not opened", peer=peer)
        queue = parked.setdefault(sid, [])
        if len(queue) >= MAX_EARLY_MESSAGES:
            raise RemoteProtocolViolation("sent too many messages for a session this party has not opened", peer=peer)
        queue.append((kind, round_no, body, size, held))

    async def run(self, protocol: str | ProtocolSpec, value: Any, *, session_id: bytes | str,
                  params: Mapping[str, Any] | None = None, round_timeout: float = DEFAULT_ROUND_TIMEOUT,
                  random: Randomness | None = None, record_view: bool = False,
                  parties: Sequence[str] | None = None, progress: ProgressCallback | None = None) -> PartyResult:
        """Run one session of ``protocol`` with input ``value``.

        All parties must use the same ``session_id`` (16 bytes, or a label
        such as ``"q3-raises"`` from which every party derives the same id
        together with the protocol and parameters), ``params`` and
        ``parties`` (default: all of the mesh). The input and parameters are
        validated before anything is sent. Any failure here or at a peer ends
        the run on every party with a typed :class:`~mpcnet.errors.MPCError`.
        """
        if self._nursery is None:
            raise LocalProtocolViolation("use the Party as 'async with Party(...)' before running a protocol")
        spec = get_protocol(protocol) if isinstance(protocol, str) else protocol
        members = tuple(parties) if parties is not None else self.parties
        positions = party_positions(parties) if parties is not None else self._positions
        if self.me not in positions or (parties is not None and not all(p in self._positions for p in positions)):
            raise LocalProtocolViolation("session parties must include this party and be on the mesh")
        spec.check_party_count(len(members))
        resolved = spec.resolve_params(params, len(members))
        value = spec.prepare_input(value, resolved, len(members))
        await trio.lowlevel.checkpoint()  # validating a 10^6-item input takes a while: let heartbeats out
        if isinstance(session_id, str):  # a label every party derives the same id from
            session_id = derive_session_id(spec.name, resolved, session_id)
        if not isinstance(session_id, bytes) or len(session_id) != SESSION_ID_BYTES:
            raise LocalProtocolViolation(f"session id must be {SESSION_ID_BYTES} bytes or a label string")
        if session_id in self._sessions or session_id in self._finished:
            raise LocalProtocolViolation("a session with this id already ran on this party")
        session = Session(session_id, self.me, PeerSet(positions, self.me), round_timeout=round_timeout, record_view=record_view,
                          on_consume=self._release, linked=self.links)
        self._sessions[session_id] = session
        for peer, err in self._lost.items():
            session.peer_lost(peer, err)
        for peer, parked in self._early.items():
            for kind, round_no, body, size, held in parked.pop(session_id, []):
                try:
                    accepted = session.deliver(peer, kind, round_no, body, size, held)
                except RemoteProtocolViolation as exc:
                    self._peer_lost(peer, exc)
                    break
                if not accepted:
                    self._release(peer, held)
        ctx = Context(session=session, parties=members, me=self.me, params=resolved,
                      random=random or OSRandomness(), send=self._send, limits=self.limits, progress=progress,
                      pair_secret=self._pair_secret, positions=positions)
        emit(log, logging.INFO, "session_start", party=self.me, session=session.hex_id, protocol=spec.name,
             parties=len(members))
        start = time.perf_counter()
        try:
            output = await spec.func(ctx, value, **resolved)
            session.check_finished()
        except BaseException as exc:
            await self._abort(session, exc)
            raise
        finally:
            for peer, size in session.close():
                self._release(peer, size)
            del self._sessions[session_id]
            self._finished.add(session_id)
        elapsed = time.perf_counter() - start
        emit(log, logging.INFO, "session_end", party=self.me, session=session.hex_id, protocol=spec.name,
             rounds=session.rounds_done, bytes_sent=session.bytes_sent, bytes_received=session.bytes_received,
             seconds=round(elapsed, 6))
        return PartyResult(self.me, output, session.stats(elapsed), tuple(session.view))

    async def prepare(self, protocols: Sequence[str | ProtocolSpec], *, round_timeout: float = DEFAULT_ROUND_TIMEOUT,
                      parties: Sequence[str] | None = None) -> list[PartyResult]:
        """Run each of ``protocols`` once, in order, with no input (``None``)
        and default parameters: an offline phase before any input exists,
        such as ``"twoparty-setup"`` (the two-party engine's base OTs, kept
        on the link for its next session). Every party of the session
        (``parties``, default: all of the mesh) must call it with the same
        list at the same point; their n-th calls share session ids. A peer
        that does not join fails the call by the round deadline with an
        error naming it (:class:`~mpcnet.errors.PeerTimeout`), or at once if
        it is lost. Returns each session's result."""
        out = []
        for item in protocols:
            spec = get_protocol(item) if isinstance(item, str) else item
            self._prepared += 1
            out.append(await self.run(spec, None, session_id=f"prepare-{self._prepared}", round_timeout=round_timeout,
                                      parties=parties))
        return out

    def _pair_secret(self, peer: str) -> bytes | None:
        return getattr(self.links.get(peer), "pair_secret", None)  # checked by Context.pairwise_key

    async def _send(self, peer: str, parts: list[bytes | memoryview]) -> None:
        if peer in self._lost:
            raise self._lost[peer]
        link = self.links.get(peer)
        if link is None:
            raise LocalProtocolViolation(f"no link to {peer}: the protocol's topology does not connect "
                                         f"{self.me} to it")
        self._sent_at[peer] = self._now()
        try:
            await link.send_message(parts)
        except MPCError:
            # The reader may have ended the link while this send was blocked
            # (a peer that sent garbage and stopped reading): report why it
            # ended, not the closed socket that interrupted the send.
            if peer in self._lost:
                raise self._lost[peer] from None
            raise

    async def _abort(self, session: Session, exc: BaseException) -> None:
        """Tell every reachable peer that this party gave up on ``session``.

        The reason names the error class and, for our own errors, its
        message (which never holds secrets); a foreign exception's text is
        not sent, since it could quote an input.
        """
        if isinstance(exc, MPCError):
            reason, culprit = f"{type(exc).__name__}: {exc.message}", exc.peer
        elif isinstance(exc, trio.Cancelled):
            reason, culprit = "cancelled", None
        else:
            reason, culprit = f"{type(exc).__name__} in protocol code", None
        body = {"reason": reason[:200], "culprit": culprit}
        parts = wire.encode(make_envelope(ABORT, session.id, session.round, body), self.limits)
        emit(log, logging.WARNING, "abort", party=self.me, session=session.hex_id, reason=reason)
        with trio.CancelScope(shield=True), trio.move_on_after(1.0):
            async with trio.open_nursery() as nursery:
                for peer in session.peers:
                    if peer not in self._lost and peer in self.links:
                        nursery.start_soon(self._send_quietly, peer, parts)

    async def _send_quietly(self, peer: str, parts: list[bytes | memoryview]) -> None:
        try:
            await self.links[peer].send_message(parts)
        except (MPCError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            # the abort is best-effort: the peer is going or gone anyway
            log.debug("abort to %s not delivered: %s", peer, exc)

    def lost_peers(self) -> dict[str, MPCError]:
        """Peers whose links have ended, with the error that ended them."""
        return dict(self._lost)
