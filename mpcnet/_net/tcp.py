"""The TCP mesh: every pair of parties joined by one Noise_KK channel.

Who dials whom: the party with the lower roster index dials, the higher one
listens, so each pair has exactly one connection and no race decides it.
Dialers retry refused or dropped connections with backoff; the whole mesh
must be up within ``connect_timeout`` seconds or the party gives up with a
:class:`~mpcnet.errors.PeerTimeout` naming the peers still missing (and the
last handshake failure seen from each, if any).

A dial the peer rejects (REJECT) or answers with a message 2 that fails its
check is retried: neither is authenticated proof of a wrong key (anyone on the
path can send either). A peer that rejects every dial for :data:`REJECT_GRACE`
seconds ends set-up with a :class:`~mpcnet.errors.HandshakeError` saying the
keys do not match. An incoming connection that fails its handshake (a
stranger, a wrong key, garbage, a stall) is logged and dropped; the listener
keeps serving the parties it expects, holds a bounded number of connections
that have not authenticated yet (:class:`PendingHandshakes`) and, when one
claiming to be a party that dials it fails, dials that party back to see
whether its key is the one that does not match. A party whose own key file is
not the roster's key for it keeps dialing and answering for
:data:`MISMATCH_LINGER` seconds before it fails, so its peers see the mismatch
too.

:func:`open_mesh` wraps every link in a :class:`~mpcnet._net.resumable.ResumableLink`
(unless ``reconnect_timeout=None``) and keeps the listener open for the life of
the mesh: a peer that lost its connection re-dials, is authenticated exactly
like a first connection, and its link resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import AsyncIterator, Callable, Collection, Iterator, Sequence
from contextlib import asynccontextmanager

import trio

from ..errors import ConfigError, HandshakeError, MPCError, PeerTimeout
from ..events import emit
from ..identity import PartyEntry, Roster, SecretKey
from . import wire
from .resumable import DEFAULT_RECONNECT_TIMEOUT, HEADER_LEN, ResumableLink
from .securelink import SecureLink, accept_secure, connect_secure
from .transport import PeerLink, close_links

__all__ = ["open_mesh", "connect_mesh", "loopback_meshes", "PendingHandshakes", "DEFAULT_HANDSHAKE_TIMEOUT",
           "DEFAULT_RECONNECT_TIMEOUT", "MAX_PENDING_HANDSHAKES"]

log = logging.getLogger("mpcnet.tcp")

#: Seconds one connection may take to complete its handshake.
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
#: Seconds a peer may reject every handshake we dial (or fail to
#: authenticate in it) before set-up gives up on it: a transient cause (a
#: duplicate connection, a corrupted message 1, a forged REJECT) clears
#: within it, and a wrong key is reported in well under 3 s, not at the
#: connect deadline.
REJECT_GRACE = 1.0
#: Seconds a party whose key file does not match its roster entry keeps
#: dialing and answering (with the key it holds) before it gives up, so that
#: its peers see their handshakes fail and report the mismatch too.
MISMATCH_LINGER = 1.5
#: Unauthenticated connections a listener holds at once, besides two per
#: party that dials it (see :class:`PendingHandshakes`).
MAX_PENDING_HANDSHAKES = 64


class PendingHandshakes:
    """The connections a listener holds before they authenticate: at most
    ``capacity`` at once, each for at most its handshake deadline.

    A connection that arrives while all places are taken does not wait for
    one (waiting would hold its descriptor with no deadline, and idle
    strangers could keep a roster peer's re-dial out past its reconnect
    timeout): the oldest pending connection is dropped to make room. An
    honest dialer sends its preamble and handshake message 1 at once and
    finishes within one round trip, so only a flood of more than
    ``capacity`` new connections within that round trip can push it out,
    and its dialer then simply tries again.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self._held: dict[object, trio.CancelScope] = {}  # in arrival order
        #: connections dropped to make room (for tests and logs)
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._held)

    @contextlib.contextmanager
    def hold(self) -> Iterator[trio.CancelScope]:
        """Hold a place while the body runs the handshake; the body is
        cancelled (check the scope's ``cancelled_caught``) if the place is
        taken for a newer connection."""
        while len(self._held) >= self.capacity:
            self._held.pop(next(iter(self._held))).cancel()
            self.evicted += 1
        token = object()
        with trio.CancelScope() as scope:
            self._held[token] = scope
            try:
                yield scope
            finally:
                self._held.pop(token, None)
#: Seconds between connection attempts while a peer does not accept yet.
DIAL_RETRY = 0.03


async def connect_mesh(
    roster: Roster,
    key: SecretKey,
    *,
    connect_timeout: float,
    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
    limits: wire.Limits = wire.DEFAULT_LIMITS,
    listeners: Sequence[trio.SocketListener] | None = None,
    peers: Collection[str] | None = None,
) -> dict[str, SecureLink]:
    """Connect to every other roster party (or only to ``peers``: a protocol
    whose input-only parties talk only to compute parties needs fewer links);
    returns ``{peer: link}``.

    ``listeners`` may be passed already bound (tests and :func:`loopback_meshes`
    bind port 0 first); otherwise this party listens on its roster address
    (during set-up even if nobody dials it, to answer probes, when it can).

    Raises :class:`~mpcnet.errors.ConfigError` if the key file's public key
    is not the roster's key for this party (after :data:`MISMATCH_LINGER`
    seconds), :class:`~mpcnet.errors.HandshakeError` if a peer rejects our
    handshakes for :data:`REJECT_GRACE` seconds, and
    :class:`~mpcnet.errors.PeerTimeout` for peers missing at the deadline.
    """
    me = roster[key.name]
    if me.public_key != key.public:
        # Log it at once, but stay a moment before giving up: our peers see
        # our handshakes fail (we dial them, and answer their dials and
        # probes, with the key we hold) and report the mismatch within
        # REJECT_GRACE, instead of waiting out their connect deadline for a
        # party that has silently left.
        emit(log, logging.INFO, "key_mismatch", party=key.name)
        with trio.move_on_after(min(MISMATCH_LINGER, connect_timeout)), contextlib.suppress(MPCError):
            links = await _connect_mesh(roster, key, connect_timeout=MISMATCH_LINGER, handshake_timeout=handshake_timeout,
                                        limits=limits, listeners=listeners, peers=peers, reject_grace=math.inf)
            await close_links(links.values(), "key mismatch")
        raise ConfigError(f"the keys do not match: the key file's public key is not the roster's key for {key.name!r} "
                          "(use the key file whose public key the roster lists, or give every party a roster with "
                          "this key's public key)", peer=key.name)
    return await _connect_mesh(roster, key, connect_timeout=connect_timeout, handshake_timeout=handshake_timeout,
                               limits=limits, listeners=listeners, peers=peers, reject_grace=REJECT_GRACE)


def _mismatch(peer: str, seconds: float) -> str:
    """What persistent rejection by ``peer`` most likely means."""
    return (f"the keys do not match: {peer} has refused our handshakes for {seconds:.1f}s (most likely {peer}'s key file "
            f"is not the one the roster lists for it, or {peer}'s roster has a different key for us; any other "
            "difference between the two rosters has the same effect)")


async def _connect_mesh(roster: Roster, key: SecretKey, *, connect_timeout: float, handshake_timeout: float,
                        limits: wire.Limits, listeners: Sequence[trio.SocketListener] | None,
                        peers: Collection[str] | None, reject_grace: float) -> dict[str, SecureLink]:
    """:func:`connect_mesh` once the key is checked; a peer that rejects
    every handshake for ``reject_grace`` seconds ends the set-up."""
    me = roster[key.name]
    wanted = _wanted(roster, key, peers)
    dial_to = [p for p in roster if p.index > me.index and p.name in wanted]
    dialed = {p.name for p in dial_to}
    accept_from = {p.name for p in roster if p.index < me.index and p.name in wanted}
    links: dict[str, SecureLink] = {}
    failures: dict[str, str] = {}
    fatal: list[MPCError] = []
    probing: set[str] = set()
    own_listeners = listeners is None and bool(accept_from or dial_to)
    if own_listeners:
        try:
            listeners = await _listen(me)
        except ConfigError:
            if accept_from:
                raise
            listeners = None  # only needed to answer probes (see probe below)

    def rejection(peer: PartyEntry, last: str, since: float | None, done: trio.CancelScope) -> float:
        """Note that ``peer`` rejected (or failed to authenticate) a
        handshake we dialed, or stopped answering after it did (it gave up
        on the same mismatch, most likely); returns since when."""
        now = trio.current_time()
        since = now if since is None else since
        failures[peer.name] = _mismatch(peer.name, now - since) + f" [last: {last}]"
        if now - since >= reject_grace:
            fatal.append(HandshakeError(_mismatch(peer.name, now - since), peer=peer.name, authentication_failed=True))
            done.cancel()
        return since

    async def attempt(peer: PartyEntry, rejected_since: float | None) -> SecureLink:
        """One dial of ``peer``. After it has rejected us, an attempt it does
        not answer within the grace counts as not answering (trio.TooSlowError):
        a party that gave up on the same mismatch may leave its port open."""
        if rejected_since is None:
            return await _dial_once(roster, key, peer, handshake_timeout, limits)
        with trio.fail_after(min(reject_grace, handshake_timeout)):
            return await _dial_once(roster, key, peer, handshake_timeout, limits)

    async def dial(peer: PartyEntry, done: trio.CancelScope) -> None:
        delay = 0.05
        rejected_since: float | None = None
        while True:
            try:
                link = await attempt(peer, rejected_since)
            except HandshakeError as exc:
                if exc.rejected or exc.authentication_failed:
                    # Neither is proof: a REJECT is unauthenticated and anyone
                    # on the path can spoil a message 2; a duplicate connection
                    # or a corrupted message 1 is rejected too. So retry, and
                    # give up only when the peer keeps rejecting us.
                    rejected_since = rejection(peer, exc.message, rejected_since, done)
                elif rejected_since is not None:
                    # Dropped mid-handshake after rejecting us: most likely the
                    # peer giving up on the same mismatch and exiting. Resetting
                    # the clock here would leave us waiting for the connect
                    # deadline against a port that is about to close.
                    rejected_since = rejection(peer, exc.message, rejected_since, done)
                else:  # dropped mid-handshake: the peer restarting, say
                    failures[peer.name] = f"handshake failed: {exc.message}"
            except MPCError as exc:  # stalled mid-handshake (a PeerTimeout, also an OSError: caught first)
                if rejected_since is None:
                    failures[peer.name] = exc.message
                else:  # stopped answering after it rejected us, as above
                    rejected_since = rejection(peer, exc.message, rejected_since, done)
            except (OSError, trio.TooSlowError) as exc:
                why = f"connect failed: {exc.strerror or exc}" if isinstance(exc, OSError) else "no answer"
                if rejected_since is None:
                    failures[peer.name] = why
                    if isinstance(exc, OSError):
                        # Nobody listening yet (parties start at about the same
                        # time): a refused connect costs both sides next to
                        # nothing, so retry soon; backing off to 1 s added up
                        # to half a second to every run's start.
                        await trio.sleep(DIAL_RETRY)
                        continue
                else:
                    rejected_since = rejection(peer, why, rejected_since, done)
            else:
                _add(peer.name, link, done)
                return
            await trio.sleep(delay)
            delay = min(delay * 2, 1.0 if rejected_since is None else 0.25)

    async def probe(peer: PartyEntry, done: trio.CancelScope) -> None:
        """A connection claiming to be ``peer`` (one that dials us) failed
        its handshake. Anyone can send that, so it proves nothing; dial
        ``peer``'s own address to learn more. If it completes a handshake
        (and closes it: a probe is not a link), the failure was somebody
        else's; if it keeps rejecting us, its key does not match, and set-up
        ends as for a dial it keeps rejecting."""
        delay = 0.05
        rejected_since: float | None = None
        try:
            while peer.name not in links:
                try:
                    link = await attempt(peer, rejected_since)
                except HandshakeError as exc:
                    if not (exc.rejected or exc.authentication_failed) and rejected_since is None:
                        return
                    # (dropped mid-handshake after rejecting us: it is giving up on the same mismatch)
                    rejected_since = rejection(peer, exc.message, rejected_since, done)
                except (OSError, MPCError, trio.TooSlowError) as exc:
                    if rejected_since is None:
                        return  # not up yet, or not answering: nothing learnt
                    rejected_since = rejection(peer, str(exc) or "no answer", rejected_since, done)
                else:
                    await link.aclose("probe answered")
                    return
                await trio.sleep(delay)
                delay = min(delay * 2, 0.25)
        finally:
            probing.discard(peer.name)

    def rejected(claimed: str, exc: MPCError) -> None:
        if claimed in accept_from:
            # Anyone can claim a name, so say "claiming", not that it was them.
            failures[claimed] = f"a connection claiming to be {claimed} failed its handshake: {exc.message}"
            if (isinstance(exc, HandshakeError) and exc.authentication_failed and claimed not in links
                    and claimed not in probing):
                probing.add(claimed)
                nursery_for_close.start_soon(probe, roster[claimed], nursery_for_close.cancel_scope)

    async def handle_incoming(stream: trio.SocketStream, done: trio.CancelScope) -> None:
        # Parties we dial may connect to us only to probe (see probe above).
        link = await _handshake_as_acceptor(stream, key, roster, digest,
                                            lambda name: (name in accept_from and name not in links) or name in dialed,
                                            pending, handshake_timeout, limits, on_reject=rejected)
        if link is not None and link.peer in dialed:
            await link.aclose("probe answered")
        elif link is not None:
            _add(link.peer, link, done)

    def _add(name: str, link: SecureLink, done: trio.CancelScope) -> None:
        if name in links:  # two connections from one peer raced: keep the first
            nursery_for_close.start_soon(link.aclose, "duplicate connection")
            return
        links[name] = link
        emit(log, logging.INFO, "connect", party=key.name, peer=name, role="dialer" if name in dialed else "listener")
        if len(links) == len(dial_to) + len(accept_from):
            done.cancel()

    async def accept_loop(done: trio.CancelScope, nursery: trio.Nursery) -> None:
        assert listeners is not None
        await _accept_forever(listeners, lambda stream: nursery.start_soon(handle_incoming, stream, done))

    digest = roster.digest()
    pending = PendingHandshakes(2 * len(accept_from) + MAX_PENDING_HANDSHAKES)
    try:
        with trio.move_on_after(connect_timeout):
            async with trio.open_nursery() as nursery:
                nursery_for_close = nursery
                if dial_to or accept_from:
                    if listeners:
                        nursery.start_soon(accept_loop, nursery.cancel_scope, nursery)
                    for peer in dial_to:
                        nursery.start_soon(dial, peer, nursery.cancel_scope)
                else:
                    nursery.cancel_scope.cancel()
        if fatal:
            raise fatal[0]
        missing = [p.name for p in roster if p.name in wanted and p.name not in links]
        if missing:
            detail = "; ".join(f"{m}: {failures[m]}" for m in missing if m in failures)
            raise PeerTimeout(
                f"could not connect to {', '.join(missing)} within {connect_timeout:g}s"
                + (f" ({detail})" if detail else ""),
                peer=missing[0],
            )
    except BaseException:
        await close_links(links.values(), "mesh setup failed")
        raise
    finally:
        if own_listeners and listeners:
            await _close_listeners(listeners)
    return links


@asynccontextmanager
async def open_mesh(roster: Roster, key: SecretKey, *, connect_timeout: float,
                    handshake_timeout: float = DEFAULT_HANDSHAKE_TIMEOUT,
                    limits: wire.Limits = wire.DEFAULT_LIMITS,
                    listeners: Sequence[trio.SocketListener] | None = None,
                    reconnect_timeout: float | None = DEFAULT_RECONNECT_TIMEOUT,
                    peers: Collection[str] | None = None) -> AsyncIterator[dict[str, PeerLink]]:
    """:func:`connect_mesh` as a context manager that closes every link.

    With ``reconnect_timeout`` (seconds; the default) every link is a
    :class:`~mpcnet._net.resumable.ResumableLink`: a connection that breaks is
    re-dialed (by the lower index) and resumed without loss, and this party
    keeps listening for its peers' re-dials for the life of the mesh. With
    None, links are plain SecureLinks and any break ends the link.
    """
    if reconnect_timeout is None:
        plain = await connect_mesh(roster, key, connect_timeout=connect_timeout, handshake_timeout=handshake_timeout,
                                   limits=limits, listeners=listeners, peers=peers)
        try:
            yield dict(plain)
        finally:
            await close_links(plain.values(), "mesh closed")
        return
    me = roster[key.name]
    wanted = _wanted(roster, key, peers)
    accept_from = {p.name for p in roster if p.index < me.index and p.name in wanted}
    own_listeners = listeners is None and bool(accept_from)
    if own_listeners:
        listeners = await _listen(me)
    try:
        secure = await connect_mesh(roster, key, connect_timeout=connect_timeout, handshake_timeout=handshake_timeout,
                                    limits=limits, listeners=listeners, peers=wanted)
        links: dict[str, ResumableLink] = {}
        for name, link in secure.items():
            peer = roster[name]
            redial = None if name in accept_from else functools.partial(
                _dial_once, roster, key, peer, handshake_timeout, limits)
            links[name] = ResumableLink(link, redial=redial, reconnect_timeout=reconnect_timeout,
                                        max_unacked_bytes=2 * limits.max_message, me=key.name)
        async with trio.open_nursery() as nursery:
            for resumable in links.values():
                await nursery.start(resumable.run)
            if listeners and accept_from:
                nursery.start_soon(_serve_reconnects, roster, key, listeners, links, accept_from,
                                   handshake_timeout, limits)
            try:
                yield dict(links)
            finally:
                await close_links(links.values(), "mesh closed")
                nursery.cancel_scope.cancel()
    finally:
        if own_listeners and listeners:
            await _close_listeners(listeners)


def _wanted(roster: Roster, key: SecretKey, peers: Collection[str] | None) -> set[str]:
    """The peers to link to: all others by default, else ``peers`` (checked)."""
    others = {p.name for p in roster if p.name != key.name}
    if peers is None:
        return others
    unknown = set(peers) - others
    if unknown:
        raise ConfigError(f"cannot link to {sorted(unknown)}: not other parties of the roster")
    return set(peers)


async def _listen(me: PartyEntry) -> list[trio.SocketListener]:
    """Listen on this party's roster address."""
    try:
        return await trio.open_tcp_listeners(me.port, host=me.host)
    except OSError as exc:
        raise ConfigError(f"cannot listen on {me.address}: {exc.strerror or exc}") from None


async def _close_listeners(listeners: Sequence[trio.SocketListener]) -> None:
    """Close every listener, even inside a cancelled scope: a listener's
    aclose ends with a checkpoint, which would raise Cancelled and leave the
    rest open (an IPv4 and an IPv6 listener for "localhost", say)."""
    with trio.CancelScope(shield=True):
        for listener in listeners:
            await listener.aclose()


async def _handshake_as_dialer(stream: trio.SocketStream, key: SecretKey, peer: PartyEntry, roster_digest: bytes,
                               handshake_timeout: float, limits: wire.Limits) -> SecureLink:
    """The dialer's Noise handshake with ``peer`` over a fresh stream."""
    return await connect_secure(
        stream, my_id=key.name, peer_id=peer.name, static_private=key.private, peer_public=peer.public_key,
        roster_hash=roster_digest, max_message_size=_channel_cap(limits), handshake_timeout=handshake_timeout)


async def _handshake_as_acceptor(stream: trio.SocketStream, key: SecretKey, roster: Roster, roster_digest: bytes,
                                 admit: Callable[[str], bool], pending: PendingHandshakes, handshake_timeout: float,
                                 limits: wire.Limits,
                                 on_reject: Callable[[str, MPCError], None] | None = None) -> SecureLink | None:
    """The listener's Noise handshake with whoever dialed: a dialer is let in
    iff ``admit(its claimed name)``. A failed handshake (the stream is then
    closed) is logged, passed to ``on_reject(claimed name, error)`` when the
    dialer got as far as naming itself, and gives None; so does a connection
    dropped from ``pending`` to make room for a newer one."""
    claimed: list[str] = []

    def lookup(name: str) -> bytes | None:
        claimed.append(name)
        return roster.public_key_of(name) if admit(name) else None

    try:
        with pending.hold() as place:
            return await accept_secure(
                stream, my_id=key.name, static_private=key.private, lookup_public_key=lookup,
                roster_hash=roster_digest, max_message_size=_channel_cap(limits), handshake_timeout=handshake_timeout)
        # Only reached when the place was taken (accept_secure closed the stream).
        assert place.cancelled_caught
        emit(log, logging.INFO, "handshake_dropped", party=key.name,
             claimed=claimed[0] if claimed else "an unidentified client",
             reason=f"more than {pending.capacity} unauthenticated connections")
        return None
    except MPCError as exc:
        emit(log, logging.INFO, "handshake_rejected", party=key.name,
             claimed=claimed[0] if claimed else "an unidentified client", reason=exc.message)
        if claimed and on_reject is not None:
            on_reject(claimed[0], exc)
        return None


async def _dial_once(roster: Roster, key: SecretKey, peer: PartyEntry, handshake_timeout: float,
                     limits: wire.Limits) -> SecureLink:
    """One re-dial of ``peer`` (a resumable link's reconnect)."""
    stream = await trio.open_tcp_stream(peer.host, peer.port)
    return await _handshake_as_dialer(stream, key, peer, roster.digest(), handshake_timeout, limits)


async def _serve_reconnects(roster: Roster, key: SecretKey, listeners: Sequence[trio.SocketListener],
                            links: dict[str, ResumableLink], accept_from: set[str], handshake_timeout: float,
                            limits: wire.Limits) -> None:
    """After set-up: accept re-dials from the peers that dial us and hand each
    authenticated one to its resumable link. Anyone else is rejected exactly
    as during set-up (same handshake, same bound on pending connections)."""
    digest = roster.digest()
    pending = PendingHandshakes(2 * len(accept_from) + MAX_PENDING_HANDSHAKES)

    def admit(name: str) -> bool:
        link = links.get(name)
        return name in accept_from and link is not None and link.accepts_reconnect

    async def handle(stream: trio.SocketStream) -> None:
        new = await _handshake_as_acceptor(stream, key, roster, digest, admit, pending, handshake_timeout, limits)
        if new is not None and not links[new.peer].offer(new):
            await new.abort()

    async with trio.open_nursery() as nursery:
        await _accept_forever(listeners, lambda stream: nursery.start_soon(handle, stream))


async def _accept_forever(listeners: Sequence[trio.SocketListener],
                          spawn: Callable[[trio.SocketStream], None]) -> None:
    """Accept on every listener until cancelled, handing each stream to ``spawn``."""

    async def serve(listener: trio.SocketListener) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError as exc:
                # Out of file descriptors (a flood of connections, say): wait
                # for handshakes to time out and free some, keep serving.
                log.warning("accept failed (%s); retrying", exc.strerror or exc)
                await trio.sleep(0.1)
                continue
            spawn(stream)

    async with trio.open_nursery() as nursery:
        for listener in listeners:
            nursery.start_soon(serve, listener)


def _channel_cap(limits: wire.Limits) -> int:
    """The secure channel's message cap: the wire cap plus the resumable header."""
    return limits.max_message + HEADER_LEN


@asynccontextmanager
async def loopback_meshes(keys: Sequence[SecretKey], *, connect_timeout: float = 10.0,
                          limits: wire.Limits = wire.DEFAULT_LIMITS,
                          peers: Sequence[Collection[str]] | None = None) -> AsyncIterator[list[dict[str, SecureLink]]]:
    """Meshes for ``keys`` (one per party) over real TCP on 127.0.0.1, with
    ports picked by the OS. For simulations and tests. ``peers[i]`` (default:
    every other party) names the parties party i links to; it must be
    symmetric. One listening socket per party and two per link: meant for
    tens or hundreds of parties, not thousands."""
    listeners = [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in keys]
    roster = Roster.from_entries([(k.name, f"127.0.0.1:{ls[0].socket.getsockname()[1]}", k.public)
                                  for k, ls in zip(keys, listeners, strict=True)])
    meshes: list[dict[str, SecureLink]] = [{} for _ in keys]
    try:
        async def build(i: int) -> None:
            meshes[i] = await connect_mesh(roster, keys[i], connect_timeout=connect_timeout, limits=limits,
                                           listeners=listeners[i], peers=None if peers is None else peers[i])

        async with trio.open_nursery() as nursery:
            for i in range(len(keys)):
                nursery.start_soon(build, i)
    finally:
        await _close_listeners([listener for ls in listeners for listener in ls])
    try:
        yield meshes
    finally:
        await close_links([link for mesh in meshes for link in mesh.values()], "simulation finished")

