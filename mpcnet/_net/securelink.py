"""Trio adapter: a :class:`SecureLink` over any ``trio.abc.Stream``.

All protocol logic lives in the sans-IO :class:`~mpcnet._net.channel.ChannelConnection`;
this module only moves bytes and maps trio's errors onto ours:

* a dropped or closed stream, EOF, or the peer's CLOSE frame ->
  :class:`~mpcnet.errors.ChannelBroken` naming the peer;
* anything wrong during the handshake -> :class:`~mpcnet.errors.HandshakeError`;
* a handshake that does not finish within ``handshake_timeout`` (a silent or
  slowloris peer) -> :class:`~mpcnet.errors.PeerTimeout`.

If connecting or accepting fails, the stream is closed before the error is raised.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import trio

from ..errors import ChannelBroken, HandshakeError, LocalProtocolViolation, MPCError, PeerTimeout
from .channel import (
    CHANNEL_VERSION,
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_PREAMBLE_LEN,
    NEED_DATA,
    REJECT_FRAME,
    ChannelConnection,
    CloseReceived,
    HandshakeComplete,
    Message,
    encode_preamble,
    make_prologue,
    parse_preamble,
)

__all__ = ["SecureLink", "connect_secure", "accept_secure", "RECEIVE_CHUNK", "CLOSE_TIMEOUT"]

RECEIVE_CHUNK = 65536
CLOSE_TIMEOUT = 1.0  # seconds aclose() waits to deliver the CLOSE frame
#: Reads or writes in a row that may complete without yielding to trio's
#: scheduler before one checkpoint is forced (see :class:`_DirectIO`).
DIRECT_IO_BURST = 16


class _DirectIO:
    """Non-blocking reads and writes straight on a TCP stream's socket.

    trio's socket methods pass through its scheduler (a checkpoint) on every
    call, even when the kernel could take or give the bytes at once; a round
    of a protocol is a handful of small messages, so those passes were most
    of the per-round cost. Here a read or write that completes at once
    returns at once, and only a would-block waits (on trio's own
    ``wait_readable``/``wait_writable``, so closing the socket wakes the
    waiter as usual). Every :data:`DIRECT_IO_BURST` completions in a row
    still yield once, so a peer that floods us cannot starve the other
    tasks. A pending cancellation is honoured by :class:`SecureLink` before
    each message (``checkpoint_if_cancelled``: free when there is none), as
    trio's own socket calls do before each operation, so a link whose
    socket never blocks still stops at a deadline.

    The descriptor is looked up on every call: once trio has closed the
    socket it reports -1, and a number the OS has meanwhile reused for
    another file is never touched. POSIX only (``os.read``/``os.write`` on a
    socket); elsewhere :class:`SecureLink` uses trio's stream methods.
    """

    __slots__ = ("_burst", "_drained", "_fileno", "_sock")

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self._sock = sock
        # The descriptor is asked of the stdlib socket inside trio's wrapper
        # when there is one (the wrapper's fileno() only forwards to it, and
        # is a Python call on every read and write); -1 once closed, as well.
        self._fileno = getattr(sock, "_sock", sock).fileno
        self._burst = 0
        # True when the last read left the kernel's receive buffer empty (it
        # returned fewer bytes than asked for), so the next read would only
        # say "would block": wait for readability first instead.
        self._drained = False

    @staticmethod
    def for_stream(stream: trio.abc.Stream) -> _DirectIO | None:
        if os.name != "posix" or not isinstance(stream, trio.SocketStream):
            return None
        return _DirectIO(stream.socket)

    def _fd(self) -> int:
        fd = self._fileno()
        if fd < 0:
            raise trio.ClosedResourceError("socket was closed")
        return fd

    async def pace(self) -> None:
        """Count one operation that completed without waiting; every
        :data:`DIRECT_IO_BURST` in a row, yield to the scheduler once."""
        self._burst += 1
        if self._burst >= DIRECT_IO_BURST:
            self._burst = 0
            # Shielded, as trio does after a completed operation: the bytes
            # are already written or read, so a cancellation must not make
            # it look as if they were not.
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        try:
            while view:
                try:
                    sent = os.write(self._fd(), view)
                except BlockingIOError:
                    self._burst = 0
                    await trio.lowlevel.wait_writable(self._sock)
                    continue
                view = view[sent:]
        except OSError as exc:  # reset, broken pipe: the same as trio's stream reports
            raise trio.BrokenResourceError(f"socket send failed: {exc.strerror or exc}") from None
        await self.pace()

    def close(self) -> None:
        """Close the socket now (what the stream's ``aclose`` does, without
        its checkpoint); a task waiting on it is woken with ClosedResourceError."""
        self._sock.close()

    def read_nowait(self, max_bytes: int) -> bytes | None:
        """Read what is there without waiting: None if nothing is (b"" is
        EOF). Records whether the read emptied the socket (``_drained``)."""
        fd = self._fileno()
        if fd < 0:
            raise trio.ClosedResourceError("socket was closed")
        try:
            data = os.read(fd, max_bytes)
        except BlockingIOError:
            self._drained = True
            return None
        except OSError as exc:
            raise trio.BrokenResourceError(f"socket receive failed: {exc.strerror or exc}") from None
        self._drained = len(data) < max_bytes
        return data

    def write_nowait(self, data: bytes) -> int:
        """Write what the socket takes at once; the number of bytes taken."""
        fd = self._fileno()
        if fd < 0:
            raise trio.ClosedResourceError("socket was closed")
        try:
            return os.write(fd, data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise trio.BrokenResourceError(f"socket send failed: {exc.strerror or exc}") from None

    async def receive_some(self, max_bytes: int) -> bytes:
        # A read after one that drained the buffer would nearly always fail
        # with EWOULDBLOCK (a peer's next message comes a round later): that
        # failed read, its exception and the retry were a quarter of a small
        # message's receive cost. So wait for readability first; epoll is
        # level-triggered, so bytes that did arrive meanwhile wake us at once.
        try:
            if self._drained:
                self._burst = 0
                await trio.lowlevel.wait_readable(self._sock)
            while True:
                try:
                    data = os.read(self._fd(), max_bytes)
                except BlockingIOError:
                    self._burst = 0
                    await trio.lowlevel.wait_readable(self._sock)
                    continue
                break
        except OSError as exc:
            raise trio.BrokenResourceError(f"socket receive failed: {exc.strerror or exc}") from None
        self._drained = len(data) < max_bytes
        if not self._drained:
            await self.pace()
        return data


class SecureLink:
    """An authenticated, encrypted, ordered message pipe to ``peer``
    (implements :class:`mpcnet._net.transport.PeerLink`). Build one with
    :func:`connect_secure` or :func:`accept_secure`.

    Counters: ``bytes_sent`` / ``bytes_received`` count wire bytes (preamble,
    handshake and frames); ``messages_sent`` / ``messages_received`` count
    application messages.
    """

    def __init__(self, stream: trio.abc.Stream, connection: ChannelConnection) -> None:
        self.peer = connection.peer
        self._stream = stream
        self._io: _DirectIO | trio.abc.Stream = _DirectIO.for_stream(stream) or stream
        self._conn = connection
        self._send_lock = LinkLock()
        self._receive_lock = LinkLock()
        self._closed = False
        self._send_broken = False
        self._peer_close_reason: str | None = None
        #: The rest of a CLOSE frame that close_now could not write at once.
        self._close_tail: bytes | None = None
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages_sent = 0
        self.messages_received = 0

    @property
    def closed_by_peer(self) -> bool:
        """True once the peer's authenticated CLOSE frame arrived: the peer
        ended the channel on purpose (anything else that ends it is a break)."""
        return self._peer_close_reason is not None or self._conn.closed_by_peer

    @property
    def pair_secret(self) -> bytes:
        """32 bytes only this channel's two ends know, fresh for its
        handshake (see :meth:`mpcnet._net.noise_kk.NoiseKK.export_secret`)."""
        secret = self._conn.pair_secret
        if secret is None:
            raise LocalProtocolViolation("the channel's handshake has not finished", peer=self.peer)
        return secret

    def set_admission(self, admit: Callable[[int], None] | None) -> None:
        """Have ``admit(length)`` called before each incoming message is
        reassembled; it may raise an MPCError to refuse the message (see
        :attr:`mpcnet._net.channel.ChannelConnection.admit_message`)."""
        self._conn.admit_message = admit

    @property
    def max_message_size(self) -> int:
        """The largest message this channel sends or accepts."""
        return self._conn.max_message_size

    # ---- raw I/O with error mapping

    def _broken(self, message: str) -> Exception:
        if self._conn.handshake_complete:
            return ChannelBroken(message, peer=self.peer)
        return HandshakeError(message, peer=self.peer)

    async def _write(self, data: bytes) -> None:
        try:
            await self._io.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._broken(f"connection lost while sending ({type(exc).__name__})") from None
        self.bytes_sent += len(data)

    async def _read_into_connection(self) -> None:
        # Honour a pending cancellation before each read (nothing is lost:
        # what was read so far stays buffered in the connection).
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            data = await self._io.receive_some(RECEIVE_CHUNK)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise self._broken(f"connection lost while receiving ({type(exc).__name__})") from None
        self.bytes_received += len(data)
        self._conn.receive_data(data)  # b"" is EOF; next_event() judges it

    async def _flush_queued(self) -> None:
        queued = self._conn.data_to_send()
        if queued:
            await self._write(queued)

    async def _handshake(self) -> None:
        """Drive the connection until it reports HandshakeComplete, writing
        whatever it queues (message 2, HELLO) as soon as it appears."""
        while True:
            event = self._conn.next_event()
            await self._flush_queued()
            if isinstance(event, HandshakeComplete):
                return
            if event is NEED_DATA:
                await self._read_into_connection()
            else:  # cannot happen: no other event precedes HandshakeComplete
                raise HandshakeError(f"unexpected {event!r} during the handshake", peer=self.peer)

    # ---- public API

    async def send_message(self, parts: Sequence[bytes | bytearray | memoryview]) -> None:
        """Send one message made of ``parts``. Concurrent callers are
        serialised, so their frames never interleave. If a send is cancelled
        half-way the peer would see a torn message, so the link is then
        unusable (ChannelBroken) for later sends. A message over
        ``max_message_size`` raises LocalProtocolViolation (nothing is sent)."""
        # Before anything is written, so a cancellation never tears a frame.
        await trio.lowlevel.checkpoint_if_cancelled()
        await self._send_lock.acquire()
        try:
            if self._closed or self._send_broken or self._conn.closed_by_peer:
                raise ChannelBroken("link is closed" if self._closed else "link broke during an earlier send"
                                    if self._send_broken else "peer closed the channel", peer=self.peer)
            # Encrypt under the lock, one frame at a time as it is written:
            # nonce order must equal write order, and no second copy of a
            # large message is ever held.
            single = self._conn.seal_single(parts)
            # (Checked before the try: a refused message breaks nothing.)
            frames = None if single is not None else self._conn.iter_frames(parts)
            try:
                if single is not None:
                    io = self._io
                    if isinstance(io, _DirectIO):
                        # One small frame: straight to the socket, and only
                        # what the kernel does not take at once goes the
                        # long way (send_all waits for room).
                        try:
                            sent = io.write_nowait(single)
                        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                            raise self._broken(f"connection lost while sending ({type(exc).__name__})") from None
                        self.bytes_sent += sent
                        if sent < len(single):
                            await self._write(single[sent:])
                        else:
                            io._burst += 1  # (io.pace inlined: most sends end here)
                            if io._burst >= DIRECT_IO_BURST:
                                io._burst = 0
                                await trio.lowlevel.cancel_shielded_checkpoint()
                    else:
                        await self._write(single)
                else:
                    assert frames is not None
                    for frame in frames:
                        await self._write(frame)
            except BaseException:
                self._send_broken = True
                raise
            self.messages_sent += 1
        finally:
            self._send_lock.release()

    async def receive_message(self) -> bytes:
        """The next whole message. Raises ChannelBroken when the link ends,
        including a clean close by the peer ("peer closed the channel")."""
        await self._receive_lock.acquire()
        try:
            if self._closed:
                raise ChannelBroken("link is closed", peer=self.peer)
            while self._peer_close_reason is None:
                event = self._conn.next_event()
                if isinstance(event, Message):
                    self.messages_received += 1
                    return event.data
                if isinstance(event, CloseReceived):
                    self._peer_close_reason = event.reason
                else:
                    await self._read_into_connection()
            raise ChannelBroken(f"peer closed the channel: {self._peer_close_reason!r}", peer=self.peer)
        finally:
            self._receive_lock.release()

    def poll_fd(self) -> int | None:
        """The socket descriptor to watch for :meth:`poll_message` (see
        :class:`mpcnet._net.poller.LinkPoller`); None when this link does
        not read a socket directly, or is closed."""
        if not isinstance(self._io, _DirectIO) or self._closed:
            return None
        fd = self._io._sock.fileno()
        return fd if fd >= 0 else None

    def poll_message(self, readable: bool = False) -> bytes | None:
        """The next whole message if it can be had without waiting, else
        None: the non-blocking form of :meth:`receive_message` for a reader
        that waits on many links at once (it calls this when the socket is
        reported readable, with ``readable=True`` the first time, until
        None; without ``readable`` a read that emptied the socket is taken
        to mean nothing more is there yet). The same checks, in the same order: every
        frame is decrypted and authenticated by the connection, and the same
        errors end the link (ChannelBroken naming the peer on EOF, a torn,
        forged or reordered frame, or the peer's CLOSE). Only for links with
        a :meth:`poll_fd`; never while a :meth:`receive_message` is under way."""
        io = self._io
        if not isinstance(io, _DirectIO):
            raise LocalProtocolViolation("this link cannot be polled", peer=self.peer)
        if self._receive_lock.locked():
            raise LocalProtocolViolation("poll_message while receive_message is waiting", peer=self.peer)
        if self._closed:
            raise ChannelBroken("link is closed", peer=self.peer)
        conn = self._conn
        if readable:
            io._drained = False
        while self._peer_close_reason is None:
            event = conn.next_event()
            if isinstance(event, Message):
                self.messages_received += 1
                return event.data
            if isinstance(event, CloseReceived):
                self._peer_close_reason = event.reason
                break
            if io._drained:
                # The last read emptied the socket: a read now would only say
                # "would block". The poller reports the socket again when
                # bytes arrive (level-triggered), so nothing is missed.
                return None
            try:
                data = io.read_nowait(RECEIVE_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise self._broken(f"connection lost while receiving ({type(exc).__name__})") from None
            if data is None:
                return None
            self.bytes_received += len(data)
            conn.receive_data(data)  # b"" is EOF; next_event() judges it
        raise ChannelBroken(f"peer closed the channel: {self._peer_close_reason!r}", peer=self.peer)

    def close_now(self, reason: str = "") -> bool:
        """Close without waiting when that is possible: write the
        authenticated CLOSE frame if the socket takes it at once, close the
        socket, and return True. Returns False (and does nothing) when the
        link must be closed with :meth:`aclose` (a send is under way, the
        link does not write its socket directly, or the frame would block:
        then it is kept for :meth:`aclose` to finish). Idempotent."""
        if self._closed:
            return True
        io = self._io
        if not isinstance(io, _DirectIO) or self._send_lock.locked() or self._close_tail is not None:
            return False
        frame = b""
        # A peer that closed first has closed its socket too: nobody would
        # read our CLOSE (so it is not sent, as in aclose).
        if not self._send_broken and not self.closed_by_peer:
            try:
                frame = self._conn.close(reason)
            except MPCError:
                frame = b""  # the channel already broke: nothing to tell the peer
        if frame:
            try:
                sent = io.write_nowait(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                sent = len(frame)  # the peer is gone: nothing to tell it
            if sent < len(frame):
                self._close_tail = frame[sent:]
                return False
            self.bytes_sent += len(frame)
        self._closed = True
        io.close()
        return True

    async def abort(self) -> None:
        """Close the stream at once *without* a CLOSE frame, so the peer sees
        a broken connection, not a deliberate close (used when a resumable
        link drops a connection it considers broken). Tasks blocked on the
        stream get ChannelBroken. Idempotent."""
        if self._closed:
            return
        self._closed = True
        await trio.aclose_forcefully(self._stream)

    async def aclose(self, reason: str = "") -> None:
        """Send an authenticated CLOSE frame (best effort, at most
        :data:`CLOSE_TIMEOUT` seconds; not when the peer closed first) and
        close the stream. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            with trio.move_on_after(CLOSE_TIMEOUT):
                async with self._send_lock:
                    if self._close_tail is not None:  # close_now wrote part of the frame
                        await self._write(self._close_tail)
                    elif not self._send_broken and not self.closed_by_peer:  # (see close_now)
                        frame = self._conn.close(reason)
                        if frame:
                            await self._write(frame)
        except MPCError:
            pass  # the peer is gone or the channel already broke: nothing to tell it
        finally:
            await trio.aclose_forcefully(self._stream)


class LinkLock:
    """A mutex for one task at a time on a link (send or receive side).

    trio.Lock passes through the scheduler on every acquire and, in recent
    trio, registers deadlock-detection bookkeeping on every acquire and
    release: together about a tenth of a small message's cost. This lock is
    a flag while nobody waits, and a ParkingLot when somebody does (a waiter
    woken by a release re-checks, so a newcomer may overtake it; order
    between *concurrent* senders is not promised anyway). Use as
    ``async with lock:``, or ``acquire`` and ``release`` in a ``try`` on a
    hot path (one coroutine call fewer); cancellation while waiting is
    handled by the ParkingLot.
    """

    __slots__ = ("_held", "_parked", "_waiters")

    def __init__(self) -> None:
        self._held = False
        self._waiters = trio.lowlevel.ParkingLot()
        self._parked = 0  # tasks in _waiters (the lot's own __bool__ is a Python call)

    def locked(self) -> bool:
        return self._held

    async def acquire(self) -> None:
        while self._held:
            self._parked += 1
            try:
                await self._waiters.park()
            finally:
                self._parked -= 1
        self._held = True

    def release(self) -> None:
        if not self._held:
            raise RuntimeError("release of an unlocked LinkLock")
        self._held = False
        if self._parked:  # (unpark on an empty lot still walks it)
            self._waiters.unpark()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


async def connect_secure(
    stream: trio.abc.Stream,
    *,
    my_id: str,
    peer_id: str,
    static_private: bytes,
    peer_public: bytes,
    roster_hash: bytes,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    handshake_timeout: float = 10.0,
) -> SecureLink:
    """Dial side: write the preamble and run the handshake as initiator.

    Returns once the responder is authenticated (message 2) and our HELLO
    has been written. HandshakeError / PeerTimeout on failure (the stream is
    closed then).
    """
    prologue = make_prologue(CHANNEL_VERSION, roster_hash, my_id, peer_id)
    conn = ChannelConnection(True, static_private, peer_public, prologue, peer_id, max_message_size)
    link = SecureLink(stream, conn)
    try:
        with trio.fail_after(handshake_timeout):
            await link._write(encode_preamble(my_id, peer_id) + conn.start())
            await link._handshake()
    except trio.TooSlowError:
        await trio.aclose_forcefully(stream)
        raise PeerTimeout(f"handshake not finished within {handshake_timeout}s", peer=peer_id) from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return link


async def accept_secure(
    stream: trio.abc.Stream,
    *,
    my_id: str,
    static_private: bytes,
    lookup_public_key: Callable[[str], bytes | None],
    roster_hash: bytes,
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    handshake_timeout: float = 10.0,
) -> SecureLink:
    """Listen side: read the preamble (never more than
    :data:`~mpcnet._net.channel.MAX_PREAMBLE_LEN` bytes), look up the dialer's
    key and run the handshake as responder.

    Returns once the initiator's HELLO proved it holds its key. An unknown
    initiator id, a preamble addressed to another party, or any handshake
    failure raise HandshakeError naming the claimed id; a stall raises
    PeerTimeout. The whole exchange, preamble included, is under one deadline.
    """
    claimed: str | None = None
    received = 0
    try:
        with trio.fail_after(handshake_timeout):
            buf = bytearray()
            while (parsed := parse_preamble(buf)) is None:
                try:
                    data = await stream.receive_some(MAX_PREAMBLE_LEN - len(buf))
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    raise HandshakeError("connection lost before the preamble") from None
                if not data:
                    raise HandshakeError("connection ended before the preamble")
                received += len(data)
                buf += data
            claimed, responder_id, consumed = parsed
            if responder_id != my_id:
                raise HandshakeError(f"dialer {claimed!r} wants {responder_id!r}, not us", peer=claimed)
            if claimed == my_id:
                raise HandshakeError("dialer claims our own id", peer=claimed)
            peer_public = lookup_public_key(claimed)
            if peer_public is None:
                raise HandshakeError(f"dialer claims unknown id {claimed!r}", peer=claimed)
            prologue = make_prologue(CHANNEL_VERSION, roster_hash, claimed, my_id)
            conn = ChannelConnection(False, static_private, peer_public, prologue, claimed, max_message_size)
            link = SecureLink(stream, conn)
            link.bytes_received = received
            if consumed < len(buf):  # b"" would mean EOF: a preamble alone in its segment is not a hang-up
                conn.receive_data(buf[consumed:])
            await link._handshake()
    except trio.TooSlowError:
        await trio.aclose_forcefully(stream)
        raise PeerTimeout(f"handshake not finished within {handshake_timeout}s", peer=claimed) from None
    except HandshakeError:
        if claimed is not None:
            # Tell a dialer we refuse it, so an honest one with a stale key
            # stops retrying (best effort, briefly; harmless if it is gone).
            with trio.move_on_after(0.5):
                try:
                    await stream.send_all(REJECT_FRAME)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass
        await trio.aclose_forcefully(stream)
        raise
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return link
