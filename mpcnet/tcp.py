"""The TCP mesh: every pair of parties joined by one Noise_KK channel.

Who dials whom: the party with the lower roster index dials, the higher one
listens, so each pair has exactly one connection and no race decides it.
Dialers retry refused or dropped connections with backoff; the whole mesh
must be up within ``connect_timeout`` seconds or the party gives up with a
:class:`~mpcnet.errors.PeerTimeout` naming the peers still missing (and the
last handshake failure seen from each, if any).

An authentication failure on a dial (the peer's key is not the roster's) is
fatal at once: retrying cannot fix a wrong key. An incoming connection that
fails its handshake (a stranger, a wrong key, garbage, a stall) is logged and
dropped; the listener keeps serving the parties it expects.

:func:`open_mesh` wraps every link in a :class:`~mpcnet.resumable.ResumableLink`
(unless ``reconnect_timeout=None``) and keeps the listener open for the life of
the mesh: a peer that lost its connection re-dials, is authenticated exactly
like a first connection, and its link resumes where it stopped.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager

import trio

from . import wire
from .errors import ConfigError, HandshakeError, MPCError, PeerTimeout
from .events import emit
from .identity import PartyEntry, Roster, SecretKey
from .resumable import DEFAULT_RECONNECT_TIMEOUT, HEADER_LEN, ResumableLink
from .securelink import SecureLink, accept_secure, connect_secure
from .transport import PeerLink, close_links

__all__ = ["open_mesh", "connect_mesh", "loopback_meshes", "DEFAULT_HANDSHAKE_TIMEOUT", "DEFAULT_RECONNECT_TIMEOUT"]

log = logging.getLogger("mpcnet.tcp")

#: Seconds one connection may take to complete its handshake.
DEFAULT_HANDSHAKE_TIMEOUT = 10.0
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
    bind port 0 first); otherwise this party listens on its roster address.
    """
    me = roster[key.name]
    if me.public_key != key.public:
        raise ConfigError(f"the key file's public key is not the roster's key for {key.name!r}")
    wanted = _wanted(roster, key, peers)
    dial_to = [p for p in roster if p.index > me.index and p.name in wanted]
    dialed = {p.name for p in dial_to}
    accept_from = {p.name for p in roster if p.index < me.index and p.name in wanted}
    links: dict[str, SecureLink] = {}
    failures: dict[str, str] = {}
    fatal: list[MPCError] = []
    digest = roster.digest()
    own_listeners = listeners is None and bool(accept_from)
    if own_listeners:
        listeners = await _listen(me)

    async def dial(peer: PartyEntry, done: trio.CancelScope) -> None:
        delay = 0.05
        while True:
            try:
                stream = await trio.open_tcp_stream(peer.host, peer.port)
            except OSError as exc:
                failures[peer.name] = f"connect failed: {exc.strerror or exc}"
                # Nobody listening yet (parties start at about the same
                # time): a refused connect costs both sides next to nothing,
                # so retry soon; backing off to 1 s added up to half a
                # second to every run's start.
                await trio.sleep(DIAL_RETRY)
                continue
            else:
                try:
                    link = await _handshake_as_dialer(stream, key, peer, digest, handshake_timeout, limits)
                except HandshakeError as exc:
                    await stream.aclose()
                    if exc.authentication_failed:
                        # The peer's reply does not verify against its roster key: fatal.
                        fatal.append(HandshakeError(
                            f"{peer.name} failed to authenticate: {exc.message} (do both parties hold the "
                            "same roster, with current keys?)", peer=peer.name, authentication_failed=True))
                        done.cancel()
                        return
                    # Dropped mid-handshake: the peer restarting, or rejecting
                    # our key. Retry until the deadline; report the last cause.
                    failures[peer.name] = (f"handshake failed: {exc.message} (if this persists, {peer.name} "
                                           "may not have our key in its roster)")
                except MPCError as exc:  # stalled mid-handshake: try again
                    failures[peer.name] = exc.message
                    await stream.aclose()
                else:
                    _add(peer.name, link, done)
                    return
            await trio.sleep(delay)
            delay = min(delay * 2, 1.0)

    def rejected(claimed: str, reason: str) -> None:
        if claimed in accept_from:
            # Anyone can claim a name, so say "claiming", not that it was them.
            failures[claimed] = f"a connection claiming to be {claimed} failed its handshake: {reason}"

    async def handle_incoming(stream: trio.SocketStream, done: trio.CancelScope) -> None:
        link = await _handshake_as_acceptor(stream, key, roster, digest,
                                            lambda name: name in accept_from and name not in links,
                                            handshake_slots, handshake_timeout, limits, on_reject=rejected)
        if link is not None:
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

    # At most this many unauthenticated handshakes at once: a flood of
    # strangers waits its turn (and times out) instead of exhausting us.
    handshake_slots = trio.CapacityLimiter(2 * len(accept_from) + 16)
    try:
        with trio.move_on_after(connect_timeout):
            async with trio.open_nursery() as nursery:
                nursery_for_close = nursery
                if dial_to or accept_from:
                    if accept_from:
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
    :class:`~mpcnet.resumable.ResumableLink`: a connection that breaks is
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
                                 admit: Callable[[str], bool], slots: trio.CapacityLimiter, handshake_timeout: float,
                                 limits: wire.Limits,
                                 on_reject: Callable[[str, str], None] | None = None) -> SecureLink | None:
    """The listener's Noise handshake with whoever dialed: a dialer is let in
    iff ``admit(its claimed name)``. A failed handshake (the stream is then
    closed) is logged, passed to ``on_reject(claimed name, reason)`` when the
    dialer got as far as naming itself, and gives None."""
    claimed: list[str] = []

    def lookup(name: str) -> bytes | None:
        claimed.append(name)
        return roster.public_key_of(name) if admit(name) else None

    try:
        async with slots:
            return await accept_secure(
                stream, my_id=key.name, static_private=key.private, lookup_public_key=lookup,
                roster_hash=roster_digest, max_message_size=_channel_cap(limits), handshake_timeout=handshake_timeout)
    except MPCError as exc:
        emit(log, logging.INFO, "handshake_rejected", party=key.name,
             claimed=claimed[0] if claimed else "an unidentified client", reason=exc.message)
        if claimed and on_reject is not None:
            on_reject(claimed[0], exc.message)
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
    as during set-up (same handshake, same limit on concurrent handshakes)."""
    digest = roster.digest()
    handshake_slots = trio.CapacityLimiter(2 * len(accept_from) + 16)

    def admit(name: str) -> bool:
        link = links.get(name)
        return name in accept_from and link is not None and link.accepts_reconnect

    async def handle(stream: trio.SocketStream) -> None:
        new = await _handshake_as_acceptor(stream, key, roster, digest, admit, handshake_slots, handshake_timeout,
                                           limits)
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
                          limits: wire.Limits = wire.DEFAULT_LIMITS) -> AsyncIterator[list[dict[str, SecureLink]]]:
    """Meshes for ``keys`` (one per party) over real TCP on 127.0.0.1, with
    ports picked by the OS. For simulations and tests."""
    listeners = [await trio.open_tcp_listeners(0, host="127.0.0.1") for _ in keys]
    roster = Roster.from_entries([(k.name, f"127.0.0.1:{ls[0].socket.getsockname()[1]}", k.public)
                                  for k, ls in zip(keys, listeners, strict=True)])
    meshes: list[dict[str, SecureLink]] = [{} for _ in keys]
    try:
        async def build(i: int) -> None:
            meshes[i] = await connect_mesh(roster, keys[i], connect_timeout=connect_timeout, limits=limits,
                                           listeners=listeners[i])

        async with trio.open_nursery() as nursery:
            for i in range(len(keys)):
                nursery.start_soon(build, i)
    finally:
        await _close_listeners([listener for ls in listeners for listener in ls])
    try:
        yield meshes
    finally:
        await close_links([link for mesh in meshes for link in mesh.values()], "simulation finished")

