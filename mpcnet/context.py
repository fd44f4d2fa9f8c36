"""What a protocol coroutine sees: :class:`Context`.

A protocol is written as a sequence of rounds. Every call to
:meth:`Context.exchange`, :meth:`~Context.broadcast`, :meth:`~Context.send`
or :meth:`~Context.receive` is one communication round, and *every* party
must make one such call per round (a party with nothing to say in a round
calls ``await ctx.exchange({}, expect_from=())``), so that round numbers agree.
Messages are tagged with (session, round, sender) by the session layer.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio

from ._net import wire
from .errors import LocalProtocolViolation, MPCError, PeerTimeout
from .events import emit
from .randomness import Randomness
from .session import DATA, make_envelope

if TYPE_CHECKING:
    from .session import Session

log = logging.getLogger("mpcnet.session")

#: Rounds whose messages together are at most this many bytes are sent
#: sequentially; bigger ones go to all peers concurrently.
SMALL_ROUND_BYTES = 64 * 1024

__all__ = ["Context", "ProgressCallback"]

#: ``callback(party, stage, done, total)``, see :meth:`Context.report_progress`.
ProgressCallback = Callable[[str, str, int, int], None]


class Context:
    """The handle a protocol coroutine receives as ``ctx``.

    Attributes: ``me`` (this party's id), ``index`` (its position in
    ``parties``), ``parties`` (all ids, in roster order: a tuple, shared by
    the parties of one simulation), ``n``, ``peers`` (everyone but me, a
    list made on first use), ``params`` (the resolved protocol parameters),
    ``random`` (a :class:`Randomness`), ``round`` (rounds started so far).
    """

    def __init__(self, *, session: Session, parties: Sequence[str], me: str, params: Mapping[str, Any],
                 random: Randomness, send: Callable[[str, list[bytes | memoryview]], Any], limits: wire.Limits,
                 progress: ProgressCallback | None = None,
                 pair_secret: Callable[[str], bytes | None] | None = None,
                 positions: Mapping[str, int] | None = None) -> None:
        self._session = session
        self._send_raw = send
        self._limits = limits
        self.me = me
        self.parties: tuple[str, ...] = tuple(parties)
        # (positions: {party: index}, from the Party, shared by a simulation's parties)
        self._positions = positions if positions is not None else {p: i for i, p in enumerate(self.parties)}
        self.index = self._positions[me]
        self.n = len(self.parties)
        self.params = dict(params)
        self.random = random
        self._progress = progress
        self._pair_secret = pair_secret
        self._claimed: set[str] = set()

    @functools.cached_property
    def peers(self) -> list[str]:
        """Every party but me, in roster order (made on first use: an input-only voter among
        10,000 that never asks holds no copy of the 10,000 names)."""
        return [*self.parties[: self.index], *self.parties[self.index + 1 :]]

    def is_party(self, name: str) -> bool:
        """Whether ``name`` is a party of this session (constant time)."""
        return name in self._positions

    def index_of(self, name: str) -> int:
        """The position of party ``name`` in ``parties`` (constant time)."""
        if name not in self._positions:
            raise LocalProtocolViolation(f"{name!r} is not a party of this session")
        return self._positions[name]

    @property
    def round(self) -> int:
        """The number of the last round this party started."""
        return self._session.round

    def report_progress(self, stage: str, done: int, total: int) -> None:
        """Tell whoever runs this party how far a long local step has got
        (e.g. "blinding", 250_000, 1_000_000). The CLI draws a progress bar
        from it; without a listener it costs nothing. Never pass secrets."""
        if self._progress is not None:
            self._progress(self.me, stage, done, total)

    def pairwise_key(self, peer: str, label: str = "") -> bytes:
        """32 secret bytes that only this party and ``peer`` can compute,
        the same at both, fresh for this session (and ``label``).

        For protocols where two parties need common randomness without a
        round to agree on it (pairwise masks, or a pseudo-random stream both
        ends draw from: :class:`~mpcnet.randomness.KeyedRandomness`).
        Derived with keyed BLAKE2b from the link's pair secret, which the
        link's handshake set up (TCP: the Noise KK handshake's final
        chaining key, so no one who missed the ephemeral keys can compute
        it; memory links: random bytes given to both ends), the session id,
        both party ids and ``label``. A :class:`~mpcnet.Party` refuses to
        run the same session id twice, so a key is not reused across its
        runs. A resumable link keeps its first connection's secret for its
        whole life (both ends must agree whatever connection is current).
        """
        return self._derive(peer, label, self._session.id, b"mpcnet-pairwise")

    def link_key(self, peer: str, label: str = "") -> bytes:
        """32 secret bytes that only this party and ``peer`` can compute, the
        same at both, for the life of the link to ``peer`` (every session on
        it gets the same key; a new link, e.g. after a restart, a new one).

        Derived as :meth:`pairwise_key` but without the session id (and under
        another BLAKE2b personalisation). For state that two parties keep
        from one session to the next on one link and must recognise, such
        as the OT extension of :mod:`mpcnet.mpc.twoparty`; randomness drawn
        from it must be numbered by the caller so that no session repeats
        another's (a session id would be the simpler choice: use
        :meth:`pairwise_key` unless the state outlives sessions)."""
        return self._derive(peer, label, b"", b"mpcnet-link")

    def _derive(self, peer: str, label: str, session: bytes, person: bytes) -> bytes:
        if peer not in self._session.peers:
            raise LocalProtocolViolation(f"{peer!r} is not a peer of {self.me}")
        secret = self._pair_secret(peer) if self._pair_secret is not None else None
        if secret is None:
            raise LocalProtocolViolation(f"the link to {peer} offers no pair secret (pairwise keys need "
                                         "links from mpcnet's TCP mesh or memory_link_pair)", peer=peer)
        if not isinstance(secret, bytes) or len(secret) != 32:
            raise LocalProtocolViolation(f"the link to {peer} offers a malformed pair secret (32 bytes needed)",
                                         peer=peer)
        # Length-prefixed fields: no two (session, pair, label) give the same input.
        data = b"".join(len(x).to_bytes(4, "big") + x
                        for x in (session, *(p.encode() for p in sorted((self.me, peer))), label.encode()))
        return hashlib.blake2b(data, key=secret, digest_size=32, person=person).digest()

    def claim_once(self, name: str) -> None:
        """Record a one-time use of the label ``name`` in this session.

        For randomness derived from a label (keys from :meth:`pairwise_key`,
        a :class:`~mpcnet.randomness.KeyedRandomness` stream) that must never
        be drawn twice: a second claim of the same name raises
        :class:`~mpcnet.errors.LocalProtocolViolation` instead of repeating
        the values. Claims are local to this party and this session."""
        if name in self._claimed:
            raise LocalProtocolViolation(f"{name!r} was already used in this session: it would repeat its values")
        self._claimed.add(name)

    @property
    def bytes_sent(self) -> int:
        """Bytes this party has sent in this session so far (every round, framing included)."""
        return self._session.bytes_sent

    @property
    def session_id(self) -> str:
        """This run's session id (hex)."""
        return self._session.id.hex()

    async def exchange(self, outgoing: Mapping[str, Any], expect_from: Collection[str] | None = None) -> dict[str, Any]:
        """One round: send ``outgoing[peer]`` to each listed peer, then wait
        for one message from each party in ``expect_from`` (default: the
        peers sent to). Returns ``{sender: value}``.

        Every wait has the session's round deadline: a silent peer raises
        :class:`~mpcnet.errors.PeerTimeout` naming it.
        """
        session = self._session
        if session.error is not None:
            raise session.error
        peers = session.peers
        senders = frozenset(outgoing if expect_from is None else expect_from)
        for p in outgoing:
            if p not in peers:
                raise LocalProtocolViolation(f"round {session.round + 1}: {p!r} is not a peer of {self.me}")
        if expect_from is not None:
            for p in senders:
                if p not in peers:
                    raise LocalProtocolViolation(f"round {session.round + 1}: {p!r} is not a peer of {self.me}")
        session.round += 1
        session.rounds_done += 1
        round_no = session.round
        # A value sent to many peers (an opening to every party) is encoded
        # once: the envelope is the same for all of them, and links only read
        # the parts (PeerLink.send_message), so they can share them.
        by_value: dict[int, tuple[list[bytes | memoryview], int]] = {}
        encoded: dict[str, list[bytes | memoryview]] = {}
        total = 0
        for p, v in outgoing.items():
            done = by_value.get(id(v))
            if done is None:
                parts = wire.encode(make_envelope(DATA, session.id, round_no, v), self._limits)
                done = by_value[id(v)] = (parts, wire.encoded_size(parts))
            encoded[p] = done[0]
            total += done[1]
        debug = log.isEnabledFor(logging.DEBUG)
        if debug:
            emit(log, logging.DEBUG, "round_start", party=self.me, session=session.hex_id, round=round_no,
                 to=len(encoded), bytes=total)
        received_before = session.bytes_received
        unfinished = set(encoded)
        # One deadline for the whole round, sending and receiving (one cancel
        # scope: it is a measurable part of a small round's cost).
        with trio.CancelScope(deadline=trio.current_time() + session.round_timeout) as scope:
            await self._send_all(encoded, unfinished, total)
            if senders and not session.has_all(round_no, senders):
                await session.wait_for(round_no, senders)
            else:
                # Sends that find room do not yield (see PeerLink.send_message):
                # one schedule point per round, not one per message, keeps a
                # party that never has to wait from starving the others.
                await trio.lowlevel.checkpoint()
        if scope.cancelled_caught and unfinished:
            slow = sorted(unfinished)
            err = PeerTimeout(f"{', '.join(slow)} did not take round {round_no}'s message within "
                              f"{session.round_timeout:g}s (not reading?)", peer=slow[0], session=session.hex_id)
            session.fail(err)
            raise err
        if not senders:
            session.check_alive()
            session.finish_round(round_no)
            got: dict[str, Any] = {}
        else:
            got = session.take_round(round_no, senders)
        if debug:
            emit(log, logging.DEBUG, "round_end", party=self.me, session=session.hex_id, round=round_no,
                 received_from=len(got), bytes=session.bytes_received - received_before)
        return got

    def skip_to_round(self, round_no: int) -> None:
        """Make the next round primitive use round number ``round_no``.

        For parties that sit out a phase whose length they do not know (an
        input-only bidder waiting for the result while compute parties run
        many rounds): every party jumps to the same agreed number (e.g. a
        protocol constant like 10**6) before the round they share. Skipped
        rounds cost nothing and do not count in the statistics.
        """
        session = self._session
        if round_no <= session.round:
            raise LocalProtocolViolation(f"cannot go back to round {round_no} from round {session.round}")
        if round_no >= 2**32:
            raise LocalProtocolViolation("round numbers must be below 2^32")
        session.finish_round(round_no - 1)
        session.round = round_no - 1

    async def broadcast(self, value: Any) -> dict[str, Any]:
        """One round: send ``value`` to every peer and receive theirs."""
        return await self.exchange({p: value for p in self.peers})

    async def send(self, peer: str, value: Any) -> None:
        """One round in which this party only sends ``value`` to ``peer``."""
        await self.exchange({peer: value}, expect_from=())

    async def receive(self, peer: str) -> Any:
        """One round in which this party only receives from ``peer``."""
        return (await self.exchange({}, expect_from=(peer,)))[peer]

    async def _send_all(self, encoded: Mapping[str, list[bytes | memoryview]], unfinished: set[str],
                        total: int) -> None:
        """Send each peer its message (``total`` bytes in all); ``unfinished``
        loses each peer whose send is over (the caller's deadline names those
        left if it fires)."""
        session = self._session
        failed: list[MPCError] = []
        send_raw = self._send_raw
        try:
            if total <= SMALL_ROUND_BYTES:
                # Small messages fit in socket buffers: sending them one
                # after the other costs no waiting and saves spawning a
                # task per peer (most rounds of most protocols are small).
                for peer, parts in encoded.items():
                    try:
                        await send_raw(peer, parts)
                    except MPCError as exc:
                        # Kept, not raised: raising would leave the other
                        # peers without their messages (and, in the
                        # concurrent case below, tear them half-way: their
                        # links would end without a close frame, and they
                        # would blame us instead of the peer that failed).
                        failed.append(exc)
                    unfinished.discard(peer)
            else:
                async def send_one(peer: str, parts: list[bytes | memoryview]) -> None:
                    try:
                        await send_raw(peer, parts)
                    except MPCError as exc:
                        failed.append(exc)  # (kept, not raised: see above)
                    unfinished.discard(peer)

                # Large ones go to all peers at once, so a slow reader does
                # not hold up the others.
                async with trio.open_nursery() as nursery:
                    for peer, parts in encoded.items():
                        nursery.start_soon(send_one, peer, parts)
            if failed:
                raise failed[0]
        except MPCError as exc:
            session.fail(exc)
            raise session.error or exc from None
        except BaseExceptionGroup as group:
            # Report the first MPC error (usually ChannelBroken naming the peer).
            mpc = group.subgroup(MPCError)
            if mpc is None:
                raise
            first = _first_leaf(mpc)
            session.fail(first)
            raise session.error or first from None
        session.messages_sent += len(encoded)
        session.bytes_sent += total


def _first_leaf(group: BaseExceptionGroup[MPCError]) -> MPCError:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    assert isinstance(exc, MPCError)
    return exc
