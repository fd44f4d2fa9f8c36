"""Resumable links: a :class:`~mpcnet._net.transport.PeerLink` that survives a
broken TCP connection while both parties are alive.

A :class:`ResumableLink` runs over a succession of
:class:`~mpcnet._net.securelink.SecureLink` s to the same peer. Every message it
sends gets a 16-byte header as an extra first part (inside the encrypted
message, so authenticated)::

    seq u64 (big-endian) | cumulative ack u64

``seq`` numbers this direction's application messages from 1; ``seq == 0``
is an ack-only message; ``seq == 2**64 - 1`` is RESUME, the first message on
a replacement connection in each direction. ``ack`` is the highest seq this
side has received (everything up to it, in order).

Sent messages stay in a retransmit buffer (references to the caller's
buffers, never copies: callers must not mutate what they sent, see
:func:`mpcnet.wire.encode`) until the peer acknowledges them. The buffer is
bounded in bytes; a sender blocks while it is full. Acks ride on data; a side
with nothing to send acks within ``ack_delay`` seconds.

When the connection breaks without the peer's authenticated CLOSE (a reset,
EOF, a torn or unauthentic frame), the link is *interrupted*, not lost: the
dialing side (lower roster index) re-dials with backoff, the listening side
waits for the peer to re-dial (its mesh keeps a listener open, see
:func:`mpcnet._net.tcp.open_mesh`). Each new connection is a fresh Noise_KK
handshake (new ephemeral keys: nothing recorded from an old connection can be
replayed into it), after which both sides send RESUME carrying their
cumulative ack; each side then retransmits every buffered message above the
peer's ack before any new one. The receiver drops a seq it already has
(duplicate after a resume) and treats a gap or a seq going backwards as a
:class:`~mpcnet.errors.RemoteProtocolViolation`.

The link ends for good, with :class:`~mpcnet.errors.ChannelBroken` naming the
peer, on the peer's authenticated CLOSE, on a re-handshake that fails
authentication (or that the peer refuses), when no reconnect succeeds within
``reconnect_timeout`` seconds, or sooner when every re-dial for
``refused_grace`` seconds is refused (the peer's process is gone).
"""

from __future__ import annotations

import collections
import logging
import struct
from collections.abc import Awaitable, Callable, Sequence

import trio

from ..errors import ChannelBroken, HandshakeError, LocalProtocolViolation, MPCError, RemoteProtocolViolation
from ..events import emit
from . import wire
from .securelink import LinkLock, SecureLink

__all__ = ["ResumableLink", "HEADER_LEN", "DEFAULT_RECONNECT_TIMEOUT", "DEFAULT_ACK_DELAY"]

log = logging.getLogger("mpcnet.resumable")

_HEADER = struct.Struct(">QQ")
#: Bytes the resumable layer adds to every message.
HEADER_LEN = _HEADER.size
ACK_ONLY = 0
RESUME = 2**64 - 1
#: Seconds a broken link may take to be re-established before the peer is lost.
DEFAULT_RECONNECT_TIMEOUT = 5.0
#: Seconds a receiver with nothing to send waits before it sends a bare ack.
DEFAULT_ACK_DELAY = 0.05
#: Seconds of refused re-dials (nobody listening: the peer's process is gone)
#: after which the dialer gives up before ``reconnect_timeout``.
DEFAULT_REFUSED_GRACE = 1.0
#: Seconds :meth:`ResumableLink.aclose` waits for the peer to acknowledge
#: what was sent (so a cut just before the end loses nothing).
CLOSE_LINGER = 1.0

Redial = Callable[[], Awaitable[SecureLink]]
Parts = Sequence[bytes | bytearray | memoryview]


class ResumableLink:
    """A :class:`~mpcnet._net.transport.PeerLink` to ``link.peer`` that resumes
    over a new connection after a transient break.

    ``redial`` (dialing side only) makes one attempt at a new authenticated
    connection; it may raise OSError, HandshakeError or PeerTimeout. The
    listening side passes ``redial=None`` and is handed new connections with
    :meth:`offer`. Background work (acks, reconnection) runs in :meth:`run`,
    which the owner starts in a nursery for the link's life.
    """

    def __init__(self, link: SecureLink, *, redial: Redial | None = None,
                 reconnect_timeout: float = DEFAULT_RECONNECT_TIMEOUT, max_unacked_bytes: int = 2**29,
                 ack_delay: float = DEFAULT_ACK_DELAY, refused_grace: float = DEFAULT_REFUSED_GRACE,
                 me: str = "") -> None:
        self.peer = link.peer
        self.me = me
        self.reconnect_timeout = reconnect_timeout
        self.max_unacked_bytes = max_unacked_bytes
        self.ack_delay = ack_delay
        self.refused_grace = refused_grace
        self._redial = redial
        self.max_message = link.max_message_size - HEADER_LEN
        self._link: SecureLink | None = link
        #: The first connection's pair secret, kept across resumptions so that
        #: both ends hold the same one whatever connection is current.
        self.pair_secret = link.pair_secret
        self._send_lock = LinkLock()
        # sender state
        self._next_seq = 1
        self._unacked: collections.deque[tuple[int, Parts, int]] = collections.deque()
        self._unacked_bytes = 0
        self._peer_acked = 0
        # Woken when the peer acknowledges something (or the link ends): a
        # ParkingLot, not an Event, since an Event would have to be replaced
        # on every ack (twice a round) whether anyone waits or not.
        self._acked = trio.lowlevel.ParkingLot()
        # receiver state
        self._recv_next = 1
        self._ack_sent = 0
        self._ack_wanted = trio.Event()
        self._reading = False
        # connection state
        self._ready = trio.Event()  # set while a link is installed (or the link is finished)
        self._ready.set()
        self._interrupted = trio.Event()  # wakes run() to reconnect
        self._broken_since = 0.0
        self._last_break = ""
        self._offered: SecureLink | None = None
        self._dead: list[SecureLink] = []  # replaced connections, to close without CLOSE
        self._offer_event = trio.Event()
        self._error: MPCError | None = None
        self._closed = False
        self._scope: trio.CancelScope | None = None
        self._admission: Callable[[int], None] | None = None
        # Told whenever the connection to read changes (interrupted, replaced,
        # or the link ended): a LinkPoller watching this link's socket.
        self._watcher: Callable[[], None] | None = None
        #: connections used so far (1 = never reconnected)
        self.connections = 1
        self._retired_bytes = 0  # bytes received on connections no longer installed
        self.messages_retransmitted = 0
        self.duplicates_dropped = 0

    @property
    def bytes_received(self) -> int:
        """Wire bytes received over every connection installed so far (a
        sign of life even while a long message is still arriving)."""
        return self._retired_bytes + (self._link.bytes_received if self._link is not None else 0)

    # ---- state helpers

    @property
    def finished(self) -> bool:
        return self._error is not None or self._closed

    @property
    def accepts_reconnect(self) -> bool:
        """Whether a new connection from the peer would be taken (the mesh's
        listener asks before it runs the handshake)."""
        return not self.finished

    def _fail(self, error: MPCError) -> MPCError:
        if self._error is None:
            if error.peer is None:
                error.peer = self.peer
            self._error = error
            emit(log, logging.INFO, "link_failed", party=self.me, peer=self.peer, reason=error.message)
        self._ready.set()
        self._acked.unpark_all()
        self._interrupted.set()
        self._offer_event.set()
        if self._scope is not None:
            self._scope.cancel()
        self._moved()
        return self._error

    def give_up(self, error: MPCError) -> None:
        """End the link now with ``error``: its owner has given up on the
        peer (nothing heard from it for too long), so nothing more will be
        acknowledged and closing must not wait for it."""
        self._fail(error)

    def _raise_if_finished(self) -> None:
        if self._error is not None:
            raise self._error
        if self._closed:
            raise ChannelBroken("link is closed", peer=self.peer)

    def _interrupt(self, link: SecureLink, cause: str) -> None:
        """``link`` broke (or the peer re-dialed): drop it and reconnect."""
        if link is not self._link or self.finished:
            return
        if link.closed_by_peer:
            self._fail(ChannelBroken(f"peer closed the channel ({cause})", peer=self.peer))
            return
        self._link = None
        self._retired_bytes += link.bytes_received
        self._ready = trio.Event()
        self._broken_since = trio.current_time()
        self._last_break = cause
        emit(log, logging.INFO, "link_interrupted", party=self.me, peer=self.peer, reason=cause)
        self._moved()  # (before the old connection is closed: a poller unregisters its socket)
        self._dead.append(link)  # closed (without CLOSE) by run(), which this wakes
        self._interrupted.set()

    def offer(self, link: SecureLink) -> bool:
        """A new authenticated connection from the peer (listening side).
        Returns False if this link no longer takes one (the caller closes it)."""
        if self.finished or self._redial is not None:
            return False
        if self._offered is not None:
            self._dead.append(self._offered)
            self._interrupted.set()
        self._offered = link
        self._offer_event.set()
        if self._link is not None:
            # The peer re-dialed, so its side of the current connection broke.
            self._interrupt(self._link, "the peer reconnected")
        return True

    def set_admission(self, admit: Callable[[int], None] | None) -> None:
        """Have ``admit(length)`` called before each incoming message is
        reassembled, on this connection and every later one (see
        :meth:`mpcnet._net.securelink.SecureLink.set_admission`)."""
        self._admission = admit
        if self._link is not None:
            self._link.set_admission(admit)

    # ---- PeerLink

    async def send_message(self, parts: Parts) -> None:
        """Queue one message for reliable delivery; returns once it is
        written to the current connection (or buffered while reconnecting).
        Blocks while the retransmit buffer is full."""
        size = wire.encoded_size(parts)
        if size > self.max_message:
            raise LocalProtocolViolation(f"message of {size} bytes exceeds the limit of {self.max_message} bytes",
                                         peer=self.peer)
        if self._error is not None or self._closed:
            self._raise_if_finished()
        while self._unacked and self._unacked_bytes + size > self.max_unacked_bytes:
            await self._acked.park()
            self._raise_if_finished()
        await self._send_lock.acquire()
        try:
            if self._error is not None or self._closed:  # (the test written out: it runs per message)
                self._raise_if_finished()
            seq = self._next_seq
            self._next_seq += 1
            self._unacked.append((seq, parts, size))
            self._unacked_bytes += size
            link = self._link
            if link is not None:
                await self._write(link, seq, parts)
        finally:
            self._send_lock.release()

    async def _write(self, link: SecureLink, seq: int, parts: Parts) -> None:
        """Write one message (send lock held); a broken link interrupts."""
        ack = self._recv_next - 1
        try:
            await link.send_message([_HEADER.pack(seq, ack), *parts])
        except ChannelBroken as exc:
            self._interrupt(link, exc.message)
            return
        self._ack_sent = max(self._ack_sent, ack)

    async def receive_message(self) -> memoryview:
        """The next message from the peer, exactly once and in order."""
        self._reading = True
        try:
            while True:
                data = await self._receive_one()
                if data is not None:
                    return data
        finally:
            self._reading = False

    async def _receive_one(self) -> memoryview | None:
        if self._error is not None or self._closed:
            self._raise_if_finished()
        link = self._link
        if link is None:
            await self._ready.wait()
            return None
        try:
            data = await link.receive_message()
        except ChannelBroken as exc:
            self._interrupt(link, exc.message)
            return None
        except RemoteProtocolViolation as exc:  # a message refused by the admission check: the peer is cut off
            raise self._fail(exc) from None
        return self._accept(data)

    def _accept(self, data: bytes) -> memoryview | None:
        """Check one message's header and take its ack: the message (after
        its header), or None for a bare ack or a duplicate."""
        if len(data) < HEADER_LEN:
            raise self._fail(RemoteProtocolViolation("sent a message without its sequence header", peer=self.peer))
        seq, ack = _HEADER.unpack_from(data)
        self._take_ack(ack)
        if seq == ACK_ONLY:
            return None
        if seq == RESUME:
            raise self._fail(RemoteProtocolViolation("sent RESUME in the middle of a connection", peer=self.peer))
        if seq < self._recv_next:
            self.duplicates_dropped += 1
            return None
        if seq > self._recv_next:
            raise self._fail(RemoteProtocolViolation(f"skipped messages (got seq {seq}, expected "
                                                     f"{self._recv_next})", peer=self.peer))
        self._recv_next += 1
        self._ack_wanted.set()
        return memoryview(data)[HEADER_LEN:]

    # ---- polling (see mpcnet._net.poller)

    def poll_fd(self) -> int | None:
        """The current connection's socket descriptor, for a
        :class:`~mpcnet._net.poller.LinkPoller`; None while there is no
        connection (reconnecting) or it cannot be polled. It changes when the
        link resumes over a new connection: see :meth:`set_poll_watcher`."""
        link = self._link
        return None if link is None or self.finished else link.poll_fd()

    def set_poll_watcher(self, watcher: Callable[[], None] | None) -> None:
        """Have ``watcher()`` called whenever :meth:`poll_fd` may have
        changed or the link has news without a socket to report it: the
        connection broke, a new one was installed (whose buffer may already
        hold messages), or the link ended (:meth:`poll_message` then raises)."""
        self._watcher = watcher

    def _moved(self) -> None:
        if self._watcher is not None:
            self._watcher()

    def poll_message(self, readable: bool = False) -> memoryview | None:
        """The next message from the peer if it can be had without waiting
        (exactly once and in order, as :meth:`receive_message`), else None:
        the non-blocking form for a poller (see
        :meth:`mpcnet._net.securelink.SecureLink.poll_message`, whose
        ``readable`` this passes on). A broken connection interrupts the link
        (None; the poller is told of the new connection when there is one);
        a link that has ended raises its error."""
        while True:
            if self._error is not None or self._closed:
                self._raise_if_finished()
            link = self._link
            if link is None:
                return None
            try:
                data = link.poll_message(readable)
            except ChannelBroken as exc:
                self._interrupt(link, exc.message)
                continue  # (raises now if that ended the link: a CLOSE from the peer)
            except RemoteProtocolViolation as exc:  # a message refused by the admission check
                raise self._fail(exc) from None
            if data is None:
                return None
            readable = False
            message = self._accept(data)
            if message is not None:
                return message

    def close_now(self, reason: str = "") -> bool:
        """Close without waiting when nothing is left to do: True once the
        link is closed; False when :meth:`aclose` is needed (it waits for the
        peer's acks and sends CLOSE), as it is for a live link."""
        return self._closed

    def _take_ack(self, ack: int) -> None:
        if ack < self._peer_acked or ack >= self._next_seq:
            raise self._fail(RemoteProtocolViolation(f"acknowledged seq {ack}, but {self._peer_acked} was already "
                                                     f"acknowledged and {self._next_seq - 1} is the last sent",
                                                     peer=self.peer))
        if ack == self._peer_acked:
            return
        self._peer_acked = ack
        while self._unacked and self._unacked[0][0] <= ack:
            _, _, size = self._unacked.popleft()
            self._unacked_bytes -= size
        if self._acked:
            self._acked.unpark_all()

    async def aclose(self, reason: str = "") -> None:
        """Wait (at most :data:`CLOSE_LINGER` s) until the peer has
        acknowledged everything sent, then close with an authenticated CLOSE.
        Idempotent."""
        if self._closed:
            return
        if self._error is None and (self._unacked or self._link is None):
            with trio.move_on_after(CLOSE_LINGER):
                await self._flush_ack()
                while self._unacked and self._error is None:
                    if self._reading:  # the owner's reader processes the acks
                        await self._acked.park()
                    else:
                        await self._receive_one()  # what arrives now is discarded: we are closing
        self._closed = True
        if self._scope is not None:
            self._scope.cancel()
        self._ready.set()
        self._acked.unpark_all()
        link, self._link = self._link, None
        dead, self._dead = self._dead, []
        if self._offered is not None:
            dead.append(self._offered)
        for old in dead:
            await old.abort()
        if link is not None:
            await link.aclose(reason)

    async def _flush_ack(self) -> None:
        """Send a bare ack now if the peer has not had one for all we received."""
        async with self._send_lock:
            link, ack = self._link, self._recv_next - 1
            if link is None or ack <= self._ack_sent or self.finished:
                return
            try:
                await link.send_message([_HEADER.pack(ACK_ONLY, ack)])
            except ChannelBroken as exc:
                self._interrupt(link, exc.message)
                return
            self._ack_sent = ack

    # ---- background work

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Send delayed acks and reconnect after breaks, until the link ends."""
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.finished:
                scope.cancel()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ack_loop)
                task_status.started()
                while not self.finished:
                    await self._interrupted.wait()
                    self._interrupted = trio.Event()
                    dead, self._dead = self._dead, []
                    for old in dead:
                        await old.abort()
                    if self._link is None and not self.finished:
                        await self._recover()
                nursery.cancel_scope.cancel()

    async def _ack_loop(self) -> None:
        while not self.finished:
            await self._ack_wanted.wait()
            await trio.sleep(self.ack_delay)
            self._ack_wanted = trio.Event()
            await self._flush_ack()

    async def _recover(self) -> None:
        """Reconnect until a link is installed, or fail the link."""
        try:
            while self._link is None and not self.finished:
                deadline = self._broken_since + self.reconnect_timeout
                new = await self._reconnect(deadline)
                if not await self._resume(new, deadline):
                    await trio.sleep(0.05)
        except MPCError as exc:
            self._fail(exc)

    async def _reconnect(self, deadline: float) -> SecureLink:
        if self._redial is None:
            with trio.move_on_at(deadline):
                while self._offered is None and not self.finished:
                    await self._offer_event.wait()
                    self._offer_event = trio.Event()
            self._raise_if_finished()
            new, self._offered = self._offered, None
            if new is None:
                raise ChannelBroken(f"connection lost ({self._last_break}) and the peer did not reconnect within "
                                    f"{self.reconnect_timeout:g}s", peer=self.peer)
            return new
        delay = 0.05
        refused_since: float | None = None
        last = ""
        while True:
            self._raise_if_finished()
            now = trio.current_time()
            if now >= deadline:
                raise ChannelBroken(f"connection lost ({self._last_break}) and not re-established within "
                                    f"{self.reconnect_timeout:g}s (last attempt: {last})", peer=self.peer)
            refused = False
            with trio.move_on_at(deadline):
                try:
                    return await self._redial()
                except HandshakeError as exc:
                    # Nothing in a re-dial's handshake proves the peer gone:
                    # its key was authenticated on this link's first
                    # connection, and a REJECT or a spoiled message 2 is
                    # anyone's to send on the path. A rejected or dropped
                    # handshake counts as a refusal (the peer's side of the
                    # link may have given up); a failed check is retried to
                    # the deadline, like a reset.
                    last, refused = f"handshake failed: {exc.message}", not exc.authentication_failed
                except MPCError as exc:  # a stalled handshake (PeerTimeout, also an OSError: caught first), say
                    last = exc.message
                except ConnectionRefusedError:
                    last, refused = "connection refused", True
                except OSError as exc:
                    last = f"connect failed: {exc.strerror or exc}"
            now = trio.current_time()
            if refused:
                refused_since = now if refused_since is None else refused_since
                if now - refused_since >= self.refused_grace:
                    raise ChannelBroken(f"connection lost ({self._last_break}) and every reconnect for "
                                        f"{self.refused_grace:g}s was refused ({last}): the peer is gone",
                                        peer=self.peer)
            else:
                refused_since = None
            await trio.sleep(min(delay, max(0.0, deadline - now)))
            delay = min(delay * 2, 0.5)

    async def _resume(self, new: SecureLink, deadline: float) -> bool:
        """Exchange RESUME on ``new``, install it and retransmit what the
        peer has not acknowledged. A failure here leaves the link
        interrupted (the caller tries again until the deadline)."""
        async with self._send_lock:
            if self.finished:
                await new.abort()
                return False
            ack = self._recv_next - 1
            try:
                with trio.fail_at(deadline):
                    await new.send_message([_HEADER.pack(RESUME, ack)])
                    data = await new.receive_message()
            except (ChannelBroken, trio.TooSlowError) as exc:
                # A CLOSE here is not the peer ending the link: it refused this
                # connection (a race with its own mesh set-up). Try again.
                self._last_break = getattr(exc, "message", "no RESUME before the deadline")
                await new.abort()
                if trio.current_time() >= deadline:
                    raise ChannelBroken(f"connection lost and not resumed within {self.reconnect_timeout:g}s "
                                        f"({self._last_break})", peer=self.peer) from None
                return False
            if len(data) != HEADER_LEN or _HEADER.unpack_from(data)[0] != RESUME:
                await new.abort()
                raise RemoteProtocolViolation("did not start the new connection with RESUME", peer=self.peer)
            self._ack_sent = max(self._ack_sent, ack)
            self._take_ack(_HEADER.unpack_from(data)[1])
            new.set_admission(self._admission)
            self._link = new
            self.connections += 1
            self._ready.set()
            # A poller watches the new socket from now on; it looks at the
            # link at once too, since the RESUME exchange may have read the
            # peer's next messages into the connection already.
            self._moved()
            emit(log, logging.INFO, "link_resumed", party=self.me, peer=self.peer, retransmit=len(self._unacked),
                 connection=self.connections)
            for seq, parts, _ in list(self._unacked):
                if self._link is not new:
                    break  # broke again: the next resume retransmits
                self.messages_retransmitted += 1
                await self._write(new, seq, parts)
            return True

