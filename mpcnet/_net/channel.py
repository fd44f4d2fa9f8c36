"""Sans-IO secure channel: a Noise_KK handshake plus authenticated message frames.

Bytes in, events out (the h11 style): no sockets, clock or trio here; the trio
adapter is :mod:`mpcnet._net.securelink`. :class:`NoiseKK` is exactly
``Noise_KK_25519_ChaChaPoly_BLAKE2b`` of the Noise Protocol Framework rev. 34
("Noise §n" below), so independent implementations interoperate;
:class:`ChannelConnection` carries whole messages over it. The wire format and
its security argument: ``docs/security.md`` (channel section).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator, Sequence

import attrs

from ..errors import ChannelBroken, ConfigError, HandshakeError, LocalProtocolViolation, MPCError
from .noise_kk import HANDSHAKE_MESSAGE_LEN, MAX_NOISE_MESSAGE, PROTOCOL_NAME, TAGLEN, CipherState, NoiseKK

__all__ = [
    "PROTOCOL_NAME", "CHANNEL_VERSION", "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_REKEY_INTERVAL", "MAX_NOISE_MESSAGE",
    "MAX_PREAMBLE_LEN", "MAX_CLOSE_REASON", "NEED_DATA", "CipherState", "NoiseKK", "ChannelConnection",
    "HandshakeComplete", "Message", "CloseReceived", "encode_preamble", "parse_preamble", "make_prologue",
]

CHANNEL_VERSION = 1
MAX_PLAINTEXT = MAX_NOISE_MESSAGE - TAGLEN
DEFAULT_MAX_MESSAGE_SIZE = 64 * 1024 * 1024
DEFAULT_REKEY_INTERVAL = 1 << 16
MAX_CLOSE_REASON = 200
#: What a responder sends, in the clear, when it refuses a dialer (unknown id,
#: failed authentication): a zero-length frame where message 2 would be.
REJECT_FRAME = b"\x00\x00"


# Transport plaintext = one type byte + body.
HELLO = 1  # empty; the initiator's first transport frame (key confirmation)
MESSAGE_START = 2  # 8-byte big-endian total length + first chunk
MESSAGE_CONTINUE = 3  # next chunk
CLOSE = 4  # utf-8 reason, at most MAX_CLOSE_REASON bytes
_START_HEADER = 1 + 8
_START_BYTE = bytes([MESSAGE_START])

PREAMBLE_MAGIC = b"MPCN"
MAX_ID_BYTES = 64
MAX_PREAMBLE_LEN = len(PREAMBLE_MAGIC) + 1 + 2 * (1 + MAX_ID_BYTES)


# --------------------------------------------------------------------------- preamble and prologue


def _encode_id(party_id: str) -> bytes:
    if not isinstance(party_id, str) or not party_id.isprintable():
        raise ConfigError("party id must be a printable string")
    raw = party_id.encode("utf-8")
    if not 1 <= len(raw) <= MAX_ID_BYTES:
        raise ConfigError(f"party id must be 1..{MAX_ID_BYTES} bytes of utf-8")
    return raw


def _decode_id(raw: bytes) -> str:
    try:
        party_id = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HandshakeError("preamble party id is not utf-8") from None
    if not party_id.isprintable():
        raise HandshakeError("preamble party id contains control characters")
    return party_id


def encode_preamble(initiator_id: str, responder_id: str) -> bytes:
    """The cleartext header a dialer sends before handshake message 1:
    ``b"MPCN"``, version byte, then each id as a length byte + utf-8."""
    init, resp = _encode_id(initiator_id), _encode_id(responder_id)
    return PREAMBLE_MAGIC + bytes([CHANNEL_VERSION, len(init)]) + init + bytes([len(resp)]) + resp


def parse_preamble(buf: bytes | bytearray) -> tuple[str, str, int] | None:
    """Parse a preamble at the start of ``buf``.

    Returns ``(initiator_id, responder_id, consumed)``, or None if ``buf`` is
    a valid but incomplete prefix. Garbage raises :class:`HandshakeError` as
    soon as the first wrong byte is seen, so a listener never waits on it; a
    valid preamble is at most :data:`MAX_PREAMBLE_LEN` bytes. The preamble is
    unauthenticated: it only says whose key to expect, and the prologue makes
    the handshake fail if it was altered.
    """
    have = len(buf)
    head = bytes(buf[: len(PREAMBLE_MAGIC)])
    if head != PREAMBLE_MAGIC[: len(head)]:
        raise HandshakeError("not an mpcnet channel (bad preamble magic)")
    if have <= len(PREAMBLE_MAGIC):
        return None
    if buf[4] != CHANNEL_VERSION:
        raise HandshakeError(f"unsupported channel version {buf[4]}")
    pos = len(PREAMBLE_MAGIC) + 1
    ids = []
    for _ in range(2):
        if have <= pos:
            return None
        size = buf[pos]
        if not 1 <= size <= MAX_ID_BYTES:
            raise HandshakeError(f"preamble party id length {size} outside 1..{MAX_ID_BYTES}")
        if have < pos + 1 + size:
            return None
        ids.append(_decode_id(bytes(buf[pos + 1 : pos + 1 + size])))
        pos += 1 + size
    return ids[0], ids[1], pos


def make_prologue(version: int, roster_hash: bytes, initiator_id: str, responder_id: str) -> bytes:
    """The Noise prologue (Noise §6): a label, the channel version, the roster
    hash and both ids, each length-prefixed so no two inputs collide. Both
    sides must compute the same bytes or the handshake fails, so it binds the
    preamble and the roster."""
    if not 0 <= version <= 255:
        raise ConfigError("channel version must fit in one byte")
    if not isinstance(roster_hash, bytes) or not 1 <= len(roster_hash) <= 64:
        raise ConfigError("roster hash must be 1..64 bytes")
    out = bytearray()
    for field in (b"mpcnet-channel", bytes([version]), roster_hash, _encode_id(initiator_id), _encode_id(responder_id)):
        out += bytes([len(field)]) + field
    return bytes(out)


# --------------------------------------------------------------------------- events


@attrs.frozen
class HandshakeComplete:
    """The peer proved possession of its roster key; messages may flow."""


@attrs.frozen
class Message:
    """One whole application message, reassembled from its frames."""

    data: bytes


@attrs.frozen
class CloseReceived:
    """The peer closed the channel with an authenticated CLOSE frame."""

    reason: str


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA = _NeedData()
"""Returned by :meth:`ChannelConnection.next_event` when it needs more bytes."""

Event = HandshakeComplete | Message | CloseReceived


# --------------------------------------------------------------------------- the connection


class _State(enum.Enum):
    # initiator: NOT_STARTED -start()-> AWAIT_MSG2 -msg 2-> OPEN
    # responder: AWAIT_MSG1 -msg 1 (queue msg 2)-> AWAIT_HELLO -HELLO-> OPEN
    # both:      OPEN -CLOSE frame-> PEER_CLOSED; any failure -> broken (a flag)
    NOT_STARTED = "not started"
    AWAIT_MSG1 = "awaiting handshake message 1"
    AWAIT_MSG2 = "awaiting handshake message 2"
    AWAIT_HELLO = "awaiting HELLO"
    OPEN = "open"
    PEER_CLOSED = "closed by peer"


_HANDSHAKE_STATES = (_State.NOT_STARTED, _State.AWAIT_MSG1, _State.AWAIT_MSG2, _State.AWAIT_HELLO)


def _byte_view(part: bytes | bytearray | memoryview) -> memoryview:
    view = memoryview(part)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class ChannelConnection:
    """The secure channel to one peer as a pure state machine.

    Incoming: :meth:`receive_data` (``b""`` = EOF), then call
    :meth:`next_event` until it returns :data:`NEED_DATA`.

    Outgoing: :meth:`start` (initiator), :meth:`send_message` and
    :meth:`close` return the bytes to write. Bytes produced as a *reaction to
    received data* (the responder's handshake message 2, the initiator's
    HELLO) are queued; :meth:`data_to_send` drains the queue, and the
    methods above prepend anything still queued so frames always leave in
    nonce order. An adapter writes :meth:`data_to_send` after every
    :meth:`next_event` call.

    Every failure raises :class:`HandshakeError` (before the handshake
    completed) or :class:`ChannelBroken` (after) naming ``peer``; the
    connection is then dead and every later call raises ChannelBroken.
    Misuse by the caller raises :class:`LocalProtocolViolation` and leaves
    the connection intact.
    """

    def __init__(self, initiator: bool, static_private: bytes, remote_static_public: bytes, prologue: bytes,
                 peer: str, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
                 rekey_interval: int = DEFAULT_REKEY_INTERVAL, *,
                 ephemeral_private_for_tests: bytes | None = None) -> None:
        if not 0 <= max_message_size < 2**64 or rekey_interval < 1:
            raise ConfigError("max_message_size must be >= 0 and rekey_interval >= 1")
        self.peer = peer
        self.initiator = initiator
        self.max_message_size = max_message_size
        self.rekey_interval = rekey_interval
        self._hs: NoiseKK | None = NoiseKK(initiator, static_private, remote_static_public, prologue, peer=peer,
                                           ephemeral_private_for_tests=ephemeral_private_for_tests)
        self._state = _State.NOT_STARTED if initiator else _State.AWAIT_MSG1
        self._send: CipherState | None = None
        self._recv: CipherState | None = None
        self._inbox = bytearray()
        self._pos = 0  # start of unparsed bytes in _inbox
        self._eof = False
        self._outbox: list[bytes] = []
        # The message being reassembled: its decrypted chunks (kept, not
        # copied), the announced total and how much of it has arrived. Memory
        # grows with what the peer actually sent, never with what it claims.
        self._message: list[memoryview] | None = None
        #: Called with each incoming message's announced length before any
        #: of it is kept (after the cap check); it may raise an MPCError to
        #: refuse the message, which breaks the channel. The owner's memory
        #: budget counts a message from its first frame this way.
        self.admit_message: Callable[[int], None] | None = None
        self._total = 0
        self._filled = 0
        self._local_closed = False
        self._broken: Exception | None = None
        #: Set when the handshake completes: a secret only this connection's
        #: two ends know (:meth:`NoiseKK.export_secret`).
        self.pair_secret: bytes | None = None

    @property
    def handshake_complete(self) -> bool:
        """True once this side has reported :class:`HandshakeComplete`."""
        return self._state in (_State.OPEN, _State.PEER_CLOSED)

    @property
    def closed_by_peer(self) -> bool:
        """True once this side has reported :class:`CloseReceived`."""
        return self._state is _State.PEER_CLOSED

    def _check_alive(self) -> None:
        if self._broken is not None:
            raise ChannelBroken(f"channel already broken ({self._broken})", peer=self.peer) from self._broken

    def _fail(self, message: str) -> Exception:
        # Before the handshake completes, failures are handshake failures.
        cls = HandshakeError if self._state in _HANDSHAKE_STATES else ChannelBroken
        return cls(message, peer=self.peer)

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes read from the peer; ``b""`` means the peer sent EOF."""
        if self._broken is not None:
            self._check_alive()
        if self._eof and data:
            raise LocalProtocolViolation("receive_data after EOF", peer=self.peer)
        self._inbox += data
        self._eof = self._eof or not data

    def next_event(self) -> Event | _NeedData:
        """The next event, or :data:`NEED_DATA`. Raises on any failure."""
        if self._broken is not None:
            self._check_alive()  # (raises; the test is written out: this runs per frame)
        try:
            while True:
                frame = self._take_frame()
                if frame is None:
                    return NEED_DATA
                event = self._handle_frame(frame)
                if event is not None:
                    return event
        except MPCError as exc:  # HandshakeError, ChannelBroken, or admit_message's refusal
            self._broken = exc
            self._outbox.clear()
            raise

    def _take_frame(self) -> bytes | None:
        """Cut one length-prefixed Noise message from the input, checking the
        length before waiting for the body: an incomplete frame is therefore
        never more than 2 + 65535 bytes, whatever the peer claims."""
        have = len(self._inbox) - self._pos
        if have and self._state is _State.PEER_CLOSED:
            raise ChannelBroken("data after the close frame", peer=self.peer)
        if have and self._state is _State.NOT_STARTED:
            raise HandshakeError("peer sent data before the handshake started", peer=self.peer)
        if have >= 2:
            size = (self._inbox[self._pos] << 8) | self._inbox[self._pos + 1]
            if self._state is _State.AWAIT_MSG2 and size == 0:
                # The responder's explicit rejection (REJECT_FRAME). It is not
                # authenticated (anyone on the path can forge it), so it is
                # a hint, not proof: the dialer retries, and only a peer that
                # keeps rejecting it is reported as a key mismatch.
                raise HandshakeError("the peer rejected our handshake: it does not accept our key or roster, or "
                                     "refused a duplicate connection", peer=self.peer, rejected=True)
            if self._state in (_State.AWAIT_MSG1, _State.AWAIT_MSG2):
                # Handshake payloads must be empty, so the size is fixed.
                if size != HANDSHAKE_MESSAGE_LEN:
                    raise HandshakeError(f"handshake message of {size} bytes, expected "
                                         f"{HANDSHAKE_MESSAGE_LEN} (payloads must be empty)", peer=self.peer)
            elif size == 0:
                raise self._fail("zero-length frame")
            elif size < TAGLEN + 1:
                raise self._fail(f"frame of {size} bytes is shorter than a tag and a type byte")
            if have >= 2 + size:
                start = self._pos + 2
                with memoryview(self._inbox) as view:
                    frame = bytes(view[start : start + size])
                self._pos = start + size
                if self._pos > 65536 and self._pos * 2 > len(self._inbox):
                    del self._inbox[: self._pos]  # amortised compaction
                    self._pos = 0
                return frame
        if not self._eof:
            return None
        if have:
            raise self._fail("connection ended in the middle of a frame (truncated)")
        if self._state is _State.PEER_CLOSED:
            return None
        if self._state in _HANDSHAKE_STATES:
            raise HandshakeError("connection ended during the handshake", peer=self.peer)
        raise ChannelBroken("connection ended without a close frame (truncated)", peer=self.peer)

    def _handle_frame(self, frame: bytes) -> Event | None:
        state = self._state
        if state in (_State.AWAIT_MSG1, _State.AWAIT_MSG2):
            hs = self._hs
            assert hs is not None
            if hs.read_message(frame):  # unreachable: the length check forces empty payloads
                raise HandshakeError("handshake payload must be empty", peer=self.peer)
            if state is _State.AWAIT_MSG1:
                # Responder. Message 1 may be a replay: its payload security is
                # only "destination 2, vulnerable to replay" (Noise §7.7), and
                # the se DH proving the initiator's key is only checked when a
                # transport frame arrives. So nothing is reported until HELLO.
                self._outbox.append(self._frame(hs.write_message()))
            self.pair_secret = hs.export_secret()
            self._send, self._recv = hs.split()
            self._hs = None
            if state is _State.AWAIT_MSG1:
                self._state = _State.AWAIT_HELLO
                return None
            # Initiator: message 2 proved the responder's key (ee, se), so it
            # is authenticated now; HELLO gives the responder the same proof.
            self._state = _State.OPEN
            self._outbox.append(self._seal(bytes([HELLO])))
            return HandshakeComplete()

        assert self._recv is not None
        try:
            plaintext = self._recv.decrypt_with_ad(b"", frame)
        except ChannelBroken as exc:
            raise self._fail(exc.message) from None
        if self._recv.nonce % self.rekey_interval == 0:  # rekey in step with the sender (see _seal)
            self._recv.rekey()
        kind, body = plaintext[0], memoryview(plaintext)[1:]

        if state is _State.AWAIT_HELLO:
            if kind != HELLO or body:
                raise HandshakeError("first transport frame is not HELLO", peer=self.peer)
            self._state = _State.OPEN
            return HandshakeComplete()
        if kind == MESSAGE_START:
            if self._message is not None:
                raise ChannelBroken("new message started before the previous one ended", peer=self.peer)
            if len(body) < 8:
                raise ChannelBroken("message start frame too short", peer=self.peer)
            total = int.from_bytes(body[:8], "big")
            if total > self.max_message_size:  # checked before allocating anything
                raise ChannelBroken(f"peer announced a {total}-byte message; the limit is "
                                    f"{self.max_message_size}", peer=self.peer)
            if self.admit_message is not None:
                self.admit_message(total)
            chunk = body[8:]
            if len(chunk) == total:
                # The whole message in this one frame (most are): what
                # _append_chunk would give, without the list of chunks.
                return Message(bytes(chunk))
            self._message, self._total, self._filled = [], total, 0
            return self._append_chunk(chunk)
        if kind == MESSAGE_CONTINUE:
            if self._message is None:
                raise ChannelBroken("message continuation without a start", peer=self.peer)
            if not body:
                raise ChannelBroken("empty message continuation", peer=self.peer)
            return self._append_chunk(body)
        if kind == CLOSE:
            if self._message is not None:
                raise ChannelBroken("peer closed in the middle of a message (truncated)", peer=self.peer)
            if len(body) > MAX_CLOSE_REASON:
                raise ChannelBroken("close reason too long", peer=self.peer)
            try:
                reason = str(body, "utf-8")
            except UnicodeDecodeError:
                raise ChannelBroken("close reason is not utf-8", peer=self.peer) from None
            self._state = _State.PEER_CLOSED
            return CloseReceived(reason)
        if kind == HELLO:
            raise ChannelBroken("unexpected HELLO frame", peer=self.peer)
        raise ChannelBroken(f"unknown frame type {kind}", peer=self.peer)

    def _append_chunk(self, chunk: memoryview) -> Message | None:
        assert self._message is not None
        end = self._filled + len(chunk)
        if end > self._total:
            raise ChannelBroken("message chunk overruns the announced length", peer=self.peer)
        if len(chunk):
            self._message.append(chunk)
        self._filled = end
        if end < self._total:
            return None
        chunks, self._message = self._message, None
        # The one copy of the message: decrypted chunks into one buffer.
        return Message(b"".join(chunks))

    def data_to_send(self) -> bytes:
        """Drain bytes queued in reaction to received data (handshake
        message 2 on the responder, HELLO on the initiator)."""
        self._check_alive()
        return b"".join(self._drain())

    def _drain(self) -> list[bytes]:
        queued, self._outbox = self._outbox, []
        return queued

    def start(self) -> bytes:
        """Initiator only: the preamble-less handshake message 1 (framed)."""
        self._check_alive()
        if self._state is not _State.NOT_STARTED:
            raise LocalProtocolViolation("start() is for an initiator, once", peer=self.peer)
        assert self._hs is not None
        message = self._frame(self._hs.write_message())
        self._state = _State.AWAIT_MSG2
        return message

    def send_message(self, parts: Sequence[bytes | bytearray | memoryview]) -> list[bytes]:
        """Frame and encrypt one message made of ``parts`` (concatenated);
        returns all its frames, in order. See :meth:`iter_frames`."""
        return list(self.iter_frames(parts))

    def iter_frames(self, parts: Sequence[bytes | bytearray | memoryview]) -> Iterator[bytes]:
        """Frame and encrypt one message made of ``parts``, one frame at a time.

        The message is checked now (LocalProtocolViolation if it cannot be
        sent); each frame is sealed only when the iterator reaches it, so a
        sender that writes frames as they come holds one frame, not a second
        encrypted copy of the message. The parts are never joined: each
        frame's plaintext is gathered from memoryview slices of them. The
        iterator must be consumed completely and before any other send
        (nonces are taken in order).
        """
        self._check_alive()
        if self._state is not _State.OPEN or self._local_closed:
            raise LocalProtocolViolation(f"cannot send: channel is {self._state.value}"
                                         + (" and closed locally" if self._local_closed else ""), peer=self.peer)
        views = [_byte_view(part) for part in parts]
        total = sum(view.nbytes for view in views)
        if total > self.max_message_size:
            raise LocalProtocolViolation(f"message of {total} bytes exceeds the limit "
                                         f"{self.max_message_size}", peer=self.peer)
        return self._frames(views, total)

    def seal_single(self, parts: Sequence[bytes | bytearray | memoryview]) -> bytes | None:
        """One message made of ``parts`` as its one frame, when it fits in
        one and nothing is queued before it; None otherwise (then use
        :meth:`iter_frames`, which takes no nonce for it). The frame is the
        one :meth:`iter_frames` would give: the same checks, the same nonce,
        the same bytes; only the generator and the slicing are skipped (most
        protocol messages are small)."""
        if self._broken is not None:
            self._check_alive()
        if self._state is not _State.OPEN or self._local_closed:
            raise LocalProtocolViolation(f"cannot send: channel is {self._state.value}"
                                         + (" and closed locally" if self._local_closed else ""), peer=self.peer)
        if self._outbox:
            return None
        total = 0
        for part in parts:
            total += part.nbytes if isinstance(part, memoryview) else len(part)
        if total > MAX_PLAINTEXT - _START_HEADER or total > self.max_message_size:
            return None  # (iter_frames splits it, or refuses it over the limit)
        return self._seal(b"".join((_START_BYTE, total.to_bytes(8, "big"), *parts)))

    def _frames(self, views: list[memoryview], total: int) -> Iterator[bytes]:
        yield from self._drain()
        pieces: list[bytes | memoryview] = [bytes([MESSAGE_START]) + total.to_bytes(8, "big")]
        room = MAX_PLAINTEXT - _START_HEADER
        pending = True  # the current frame holds a header not yet sealed
        for view in views:
            offset = 0
            while offset < len(view):
                take = min(room, len(view) - offset)
                pieces.append(view[offset : offset + take])
                offset, room, pending = offset + take, room - take, True
                if room == 0:
                    yield self._seal(b"".join(pieces))
                    pieces, room, pending = [bytes([MESSAGE_CONTINUE])], MAX_PLAINTEXT - 1, False
        if pending:  # the last partial frame, or the START of an empty message
            yield self._seal(b"".join(pieces))

    def close(self, reason: str = "") -> bytes:
        """An authenticated CLOSE frame (plus anything queued). ``reason`` is
        cut to 200 bytes of utf-8. Idempotent; returns ``b""`` if there are
        no transport keys yet (nothing can be authenticated)."""
        self._check_alive()
        if self._local_closed:
            return b""
        self._local_closed = True
        if self._send is None:
            return b""
        raw = reason.encode("utf-8")[:MAX_CLOSE_REASON].decode("utf-8", "ignore").encode("utf-8")
        return b"".join(self._drain()) + self._seal(bytes([CLOSE]) + raw)

    def _frame(self, noise_message: bytes) -> bytes:
        return len(noise_message).to_bytes(2, "big") + noise_message

    def _seal(self, plaintext: bytes) -> bytes:
        # Empty associated data: a plain Noise transport message, so other
        # Noise implementations interoperate; the application envelope inside
        # binds version and session.
        assert self._send is not None
        try:
            ciphertext = self._send.encrypt_with_ad(b"", plaintext)
        except ChannelBroken as exc:  # nonce exhausted: this channel is finished
            self._broken = exc
            raise
        # Both sides count frames per direction (the nonce), so they rekey
        # in step without signalling (Noise §11.3 leaves the schedule to the
        # application). Rekeying bounds how much traffic a key ever protects.
        # (The same test follows each decryption in _handle_frame.)
        if self._send.nonce % self.rekey_interval == 0:
            self._send.rekey()
        return len(ciphertext).to_bytes(2, "big") + ciphertext
