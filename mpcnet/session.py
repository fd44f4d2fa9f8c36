"""Sessions: one protocol run on a mesh, its rounds, mailboxes and statistics.

Every message between parties travels in an envelope::

    [VERSION, kind, session id (16 bytes), round, body]

``kind`` is ``DATA`` (a protocol message for ``round``), ``HEARTBEAT`` (no
session: the sender is alive, see :class:`~mpcnet.party.Party`) or ``ABORT`` (the
sender gave up on the session; ``body`` says why and, where known, who is at
fault). The sender is not in the envelope: it is the authenticated peer of the
link the envelope came on, so nobody can speak for somebody else.

Rules a session enforces (each breach ends the run with a typed error naming
the peer):

* a message for a later round waits in the mailbox, within a per-peer bound
  (:data:`MAX_PENDING_PER_PEER` messages);
* a second message for the same (round, sender) is a duplicate;
* a message for a round this party has finished, or one the round did not
  expect, is stray;
* a peer that stays silent past the round deadline raises
  :class:`~mpcnet.errors.PeerTimeout`;
* a peer whose link breaks or who sends ``ABORT`` ends the run.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import types
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

import attrs
import trio

from .errors import (
    ChannelBroken,
    LocalProtocolViolation,
    MPCError,
    PeerTimeout,
    RemoteProtocolViolation,
    SessionAborted,
)

__all__ = [
    "WIRE_VERSION",
    "DATA",
    "ABORT",
    "HEARTBEAT",
    "MAX_PENDING_PER_PEER",
    "SessionStats",
    "Session",
    "new_session_id",
    "derive_session_id",
    "make_envelope",
    "parse_envelope",
]

WIRE_VERSION = 1
DATA = 0
ABORT = 1
HEARTBEAT = 2
SESSION_ID_BYTES = 16
#: How many messages for rounds this party has not reached yet a single peer
#: may park in one session. A peer that floods future rounds is cut off.
MAX_PENDING_PER_PEER = 64
#: Seconds a party waits for first-hand evidence when a peer aborts blaming
#: a third party, before it reports the abort itself. Over the ~1.3 s a
#: resumable link takes to give up on a peer whose port refuses re-dials
#: (1 s of refusals, with backoff) and over the party's liveness timeout
#: (3 s of silence, checked every 0.25 s), so a killed, stopped or cut-off
#: party is named by everyone first-hand, not blamed second-hand: at 2 s,
#: one run in eight of the netns SIGKILL test lost that race on 2 loaded cores.
ABORT_GRACE = 4.0


def new_session_id() -> bytes:
    """A fresh random session id."""
    return secrets.token_bytes(SESSION_ID_BYTES)


# Recent party tuples and their position maps (see party_positions).
_POSITIONS: list[tuple[tuple[str, ...], Mapping[str, int]]] = []


def party_positions(parties: Sequence[str]) -> Mapping[str, int]:
    """``{party: its index}``, read-only. A tuple (immutable) gets a map
    shared with every caller that passes the same tuple object, as every
    party of one simulation does: with 10,000 voters in one process, each
    party building its own map of all 10,003 names would make the run
    quadratic."""
    if type(parties) is tuple:
        for names, shared in _POSITIONS:
            if names is parties:
                return shared
    positions = types.MappingProxyType({p: i for i, p in enumerate(parties)})
    if type(parties) is tuple:
        _POSITIONS.insert(0, (parties, positions))
        del _POSITIONS[4:]
    return positions


class PeerSet(AbstractSet[str]):
    """The session's parties other than ``me``, as a set built in constant
    time from :func:`party_positions` (a frozenset of 10,000 peers per
    input-only voter would make a large simulation quadratic)."""

    __slots__ = ("_me", "_positions")

    def __init__(self, positions: Mapping[str, int], me: str) -> None:
        self._positions = positions
        self._me = me

    def __contains__(self, peer: object) -> bool:
        return peer != self._me and peer in self._positions

    def __iter__(self) -> Iterator[str]:
        return (p for p in self._positions if p != self._me)

    def __len__(self) -> int:
        return len(self._positions) - (self._me in self._positions)


def derive_session_id(protocol: str, params: Mapping[str, Any], label: str = "") -> bytes:
    """A session id every party can compute on its own from what they agree
    on (protocol, parameters and an optional label, e.g. "2026-q3-raises").
    Two concurrent runs of the same protocol and parameters need different
    labels."""
    text = json.dumps([protocol, dict(sorted(params.items())), label], sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=SESSION_ID_BYTES, person=b"mpcnet-session").digest()


def make_envelope(kind: int, session_id: bytes, round_no: int, body: Any) -> list[Any]:
    """The envelope a message travels in (see the module docstring)."""
    return [WIRE_VERSION, kind, session_id, round_no, body]


def parse_envelope(value: Any, peer: str) -> tuple[int, bytes, int, Any]:
    """Validate a decoded envelope; :class:`RemoteProtocolViolation` if it is
    not one. Returns ``(kind, session_id, round, body)``."""
    if not (isinstance(value, list) and len(value) == 5):
        raise RemoteProtocolViolation("message is not a valid envelope", peer=peer)
    version, kind, sid, round_no, body = value
    # Exact type checks first: a numpy array in any of these fields must not
    # reach a comparison (its truth value is an error, not a bool).
    if type(version) is not int or version != WIRE_VERSION:
        raise RemoteProtocolViolation(f"peer does not speak wire version {WIRE_VERSION}", peer=peer)
    if type(kind) is not int or kind not in (DATA, ABORT, HEARTBEAT):
        raise RemoteProtocolViolation("envelope has an unknown kind", peer=peer)
    if type(sid) is not bytes or len(sid) != SESSION_ID_BYTES:
        raise RemoteProtocolViolation("envelope has a malformed session id", peer=peer)
    if type(round_no) is not int or not 0 <= round_no < 2**32:
        raise RemoteProtocolViolation("envelope has a malformed round number", peer=peer)
    return kind, sid, round_no, body


@attrs.frozen
class SessionStats:
    """What one party did in one session. ``bytes_*`` count encoded
    envelopes (the payload the channel carries; the channel adds 19 bytes of
    framing and authentication per 64 KiB frame on TCP)."""

    party: str
    rounds: int
    messages_sent: int
    bytes_sent: int
    messages_received: int
    bytes_received: int
    wall_time: float

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return attrs.asdict(self)


@attrs.define
class ReceivedRecord:
    """One message this party received, kept when views are recorded."""

    round: int
    sender: str
    value: Any


class Session:
    """The state of one protocol run at one party.

    Created by :class:`~mpcnet.party.Party`; protocol code sees it through
    :class:`~mpcnet.context.Context`.
    """

    def __init__(self, session_id: bytes, me: str, peers: Iterable[str], *, round_timeout: float,
                 record_view: bool = False, on_consume: Callable[[str, int], None] | None = None,
                 linked: Collection[str] | None = None) -> None:
        self.id = session_id
        self.me = me
        self.peers: AbstractSet[str] = peers if isinstance(peers, PeerSet) else frozenset(peers)
        # The peers this party has a link to (default: all). The others can
        # never send; a run that waits for one fails at once. Kept as a set
        # rather than n "lost" entries, so that a voter among 10,000 costs
        # the session time in its few links, not in n.
        self._linked = self.peers if linked is None else frozenset(p for p in linked if p in self.peers)
        self.round_timeout = round_timeout
        self.record_view = record_view
        self._on_consume = on_consume or (lambda peer, size: None)
        self.view: list[ReceivedRecord] = []
        self.round = 0  # number of the last round started (protocols may skip ahead)
        self.rounds_done = 0  # rounds this party took part in
        self._mailbox: dict[tuple[int, str], tuple[Any, int, int]] = {}  # body, bytes, memory held
        self._done_rounds: dict[str, int] = {}  # peer -> highest round consumed from it
        self._pending: dict[str, int] = {}
        # Wakes the task waiting for a round (a ParkingLot: an Event would
        # be replaced on every wake-up, once a round).
        self._changed = trio.lowlevel.ParkingLot()
        self.error: MPCError | None = None
        self._lost: dict[str, MPCError] = {}
        # Rounds being waited for, with the senders still missing: kept up
        # to date by deliver, so a wait for 10,000 senders costs 10,000
        # steps in all, not 10,000 per message that arrives; an arrival wakes
        # the waiter only when it completes that set (errors, losses and
        # aborts wake it themselves).
        self._waiting: list[tuple[int, set[str]]] = []
        self._losses = 0  # counts changes that can make a missing sender lost (losses, aborts)
        self._pending_abort: tuple[str, MPCError, float] | None = None
        self.closed = False
        self.messages_sent = 0
        self.bytes_sent = 0
        self.messages_received = 0
        self.bytes_received = 0

    @property
    def hex_id(self) -> str:
        """The session id as short hex, for errors and logs."""
        return self.id.hex()[:12]

    def _wake(self) -> None:
        if self._changed:
            self._changed.unpark_all()

    def fail(self, error: MPCError) -> None:
        """End the session with ``error`` (first error wins)."""
        if self.error is None and not self.closed:
            if error.session is None:
                error.session = self.hex_id
            self.error = error
            self._wake()

    def deliver(self, sender: str, kind: int, round_no: int, body: Any, size: int, held: int | None = None) -> bool:
        """Route one envelope from ``sender`` into this session (``size``:
        its encoded bytes, for the statistics; ``held``: the memory it holds
        once decoded, handed back to ``on_consume`` when it is taken; default
        ``size``). Returns whether it was kept (False: dropped, nothing is
        held for it). Raises
        :class:`RemoteProtocolViolation` when the sender must be cut off
        altogether (it is not part of this session)."""
        if self.closed or self.error is not None:
            return False  # late traffic for a finished run is dropped
        if sender not in self.peers:
            # Not this session's business: the peer is cut off by the caller,
            # the session itself goes on.
            raise RemoteProtocolViolation("sent a message for a session it is not part of", peer=sender)
        if kind == ABORT:
            reason = body.get("reason") if isinstance(body, dict) else None
            culprit = body.get("culprit") if isinstance(body, dict) else None
            reason = _printable(reason) if isinstance(reason, str) else "no reason given"
            # The aborting party is who we can vouch for; whom it blames is its claim.
            blamed = culprit if isinstance(culprit, str) and (culprit in self.peers or culprit == self.me) else None
            claim = f" (it blames {blamed})" if blamed else ""
            err = SessionAborted(f"{sender} aborted the session: {reason}{claim}", peer=sender, reported_by=sender)
            evidence = self._loss(blamed) if blamed is not None else None
            if evidence is not None:
                self.fail(evidence)  # our own evidence against the same peer
            elif blamed is not None and blamed not in (sender, self.me):
                # Our own link to the blamed peer may be about to report the
                # same failure first-hand: give it a moment before we settle
                # for the hearsay.
                self._pending_abort = (blamed, err, trio.current_time() + ABORT_GRACE)
                self._losses += 1
                self._wake()
            else:
                self.fail(err)
            return False
        key = (round_no, sender)
        if round_no <= self._done_rounds.get(sender, 0):
            self.fail(RemoteProtocolViolation(f"stray or duplicate message for finished round {round_no}", peer=sender))
            return False
        if key in self._mailbox:
            self.fail(RemoteProtocolViolation(f"duplicate message for round {round_no}", peer=sender))
            return False
        if self._pending.get(sender, 0) >= MAX_PENDING_PER_PEER:
            self.fail(RemoteProtocolViolation(f"more than {MAX_PENDING_PER_PEER} messages queued ahead of this party",
                                              peer=sender))
            return False
        self._mailbox[key] = (body, size, size if held is None else held)
        self._pending[sender] = self._pending.get(sender, 0) + 1
        for waited, missing in self._waiting:
            if waited == round_no and sender in missing:
                missing.discard(sender)
                if not missing:
                    self._wake()
        return True

    def peer_lost(self, peer: str, error: MPCError) -> None:
        """The link to ``peer`` ended. The run fails as soon as it needs a
        message from ``peer`` that has not arrived (a peer that finished and
        closed after sending everything is no fault)."""
        if peer in self.peers and peer not in self._lost:
            self._lost[peer] = error
            self._losses += 1
            if self._pending_abort is not None and self._pending_abort[0] == peer:
                self.fail(error)
            self._wake()

    def _loss(self, peer: str) -> MPCError | None:
        """Why ``peer`` can send no more: its link ended, or there is none."""
        error = self._lost.get(peer)
        if error is None and peer in self.peers and peer not in self._linked:
            error = LocalProtocolViolation(
                f"no link to {peer}: the protocol's topology does not connect {self.me} to it", peer=peer)
        return error

    def has_all(self, round_no: int, senders: Collection[str]) -> bool:
        """Whether round ``round_no``'s message from each of ``senders`` is here."""
        mailbox = self._mailbox
        return all((round_no, s) in mailbox for s in senders)

    async def wait_for(self, round_no: int, senders: frozenset[str]) -> None:
        """Wait until one message of ``round_no`` from each of ``senders``
        is here, or the session has failed. No deadline of its own: the
        caller's cancel scope is the round deadline."""
        missing = {s for s in senders if (round_no, s) not in self._mailbox}
        waiter = (round_no, missing)  # (deliver takes arrivals off it)
        self._waiting.append(waiter)
        checked = -1  # the loss count when the missing senders were last checked for losses
        try:
            while True:
                if self.error is not None or not missing:
                    return
                if checked != self._losses:
                    # A peer that aborted and blamed another has left on purpose:
                    # its closed link is no news while we wait for first-hand
                    # evidence about the one it blamed (see deliver).
                    checked = self._losses
                    if not checked and missing <= self._linked:
                        # (the common case, in one set comparison: nobody was
                        # ever lost, and every missing sender has a link)
                        continue
                    reporter = self._pending_abort[1].peer if self._pending_abort is not None else None
                    lost = [err for s in sorted(missing) if s != reporter and (err := self._loss(s)) is not None]
                    if lost:
                        self.fail(lost[0])
                        continue
                if self._pending_abort is not None:
                    _, err, settle_at = self._pending_abort
                    if trio.current_time() >= settle_at:
                        self.fail(err)
                        continue
                    with trio.move_on_at(settle_at):
                        await self._changed.park()
                    continue
                await self._changed.park()
        finally:
            self._waiting = [w for w in self._waiting if w is not waiter]

    def take_round(self, round_no: int, senders: frozenset[str]) -> dict[str, Any]:
        """Take round ``round_no``'s message from each of ``senders``; raise
        the session's error, or :class:`PeerTimeout` naming whoever has not
        sent (the wait for them is over)."""
        if self.error is not None:
            raise self.error
        mailbox = self._mailbox
        keys = [(round_no, s) for s in (sorted(senders) if len(senders) > 1 else senders)]
        if not all(map(mailbox.__contains__, keys)):
            missing = [s for r, s in keys if (r, s) not in mailbox]
            err = PeerTimeout(
                f"no message for round {round_no} from {', '.join(missing)} within {self.round_timeout:g}s",
                peer=missing[0],
                session=self.hex_id,
            )
            self.fail(err)
            raise err
        out: dict[str, Any] = {}
        pending, consume, size_sum = self._pending, self._on_consume, 0
        for key in keys:
            body, size, held = mailbox.pop(key)
            s = key[1]
            pending[s] -= 1
            size_sum += size
            out[s] = body
            consume(s, held)
            if self.record_view:
                self.view.append(ReceivedRecord(round_no, s, body))
        self.messages_received += len(keys)
        self.bytes_received += size_sum
        self.finish_round(round_no)  # (marks the senders' round done too: they are linked)
        return out

    def _check_no_stray(self, round_no: int) -> None:
        """Anything left for a round we have finished was never expected."""
        for r, s in self._mailbox:
            if r <= round_no:
                err = RemoteProtocolViolation(f"unexpected message for round {r}", peer=s, session=self.hex_id)
                self.fail(err)
                raise err

    def finish_round(self, round_no: int) -> None:
        """Mark ``round_no`` finished: from now on any message for it is stray."""
        done = self._done_rounds
        for s in self._linked:  # only linked peers can send
            if done.get(s, 0) < round_no:
                done[s] = round_no
        if self._mailbox:
            self._check_no_stray(round_no)

    def check_finished(self) -> None:
        """At the end of a successful run nothing may be left unread: a
        leftover message was never expected (stray)."""
        self.check_alive()
        if self._mailbox:
            r, s = min(self._mailbox)
            err = RemoteProtocolViolation(f"unexpected message for round {r} (after the protocol ended)", peer=s,
                                          session=self.hex_id)
            self.fail(err)
            raise err

    def close(self) -> list[tuple[str, int]]:
        """End the session; returns (sender, memory held) of what it still held."""
        self.closed = True
        held = [(s, cost) for (_, s), (_, _, cost) in self._mailbox.items()]
        self._mailbox.clear()
        return held

    def check_alive(self) -> None:
        """Raise the session's error, if it has one."""
        if self.error is not None:
            raise self.error

    def stats(self, wall_time: float) -> SessionStats:
        """A frozen snapshot of this party's counters."""
        return SessionStats(
            party=self.me,
            rounds=self.rounds_done,
            messages_sent=self.messages_sent,
            bytes_sent=self.bytes_sent,
            messages_received=self.messages_received,
            bytes_received=self.bytes_received,
            wall_time=wall_time,
        )


def _printable(text: str, limit: int = 200) -> str:
    """A peer's text made safe for a terminal or a log: no control
    characters (no escape sequences), at most ``limit`` characters."""
    return "".join(ch if ch.isprintable() else "?" for ch in text[:limit])


def describe_peer_loss(peer: str, exc: BaseException) -> MPCError:
    """Turn whatever ended a link into the error sessions should raise."""
    if isinstance(exc, MPCError):
        return exc
    return ChannelBroken(f"link failed ({type(exc).__name__})", peer=peer)
