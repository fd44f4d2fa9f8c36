"""Peer links: what a party uses to send whole messages to one peer.

Two kinds give protocol code the same interface, :class:`PeerLink`:

* :class:`MemoryLink` — in-process, for simulations: bounded trio memory
  channels carrying the encoded bytes (so byte counts and type checks are the
  same as on the network), no encryption.
* ``SecureLink`` (:mod:`mpcnet._net.securelink`) — a Noise_KK channel over a TCP
  stream; built by :mod:`mpcnet._net.tcp`.
* ``ResumableLink`` (:mod:`mpcnet._net.resumable`) — over successive SecureLinks
  to one peer: survives a broken connection (re-dial, fresh handshake,
  resume without loss); what :func:`mpcnet._net.tcp.open_mesh` hands out.

A link carries opaque messages, in order, exactly once, and either works or
raises :class:`~mpcnet.errors.ChannelBroken` naming the peer. It knows
nothing about sessions or protocols.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import trio

from ..errors import ChannelBroken

__all__ = ["PeerLink", "MemoryLink", "memory_link_pair", "memory_mesh", "close_links"]


@runtime_checkable
class PeerLink(Protocol):
    """A reliable, ordered, authenticated message pipe to one peer.

    A link may also offer ``pair_secret``: 32 bytes that only its two ends
    know, equal at both (SecureLink and ResumableLink from their handshake,
    MemoryLinks made by :func:`memory_link_pair`), from which
    :meth:`mpcnet.Context.pairwise_key` derives per-session keys."""

    peer: str

    async def send_message(self, parts: Sequence[bytes | bytearray | memoryview]) -> None:
        """Send one message made of ``parts`` (sent back to back). A link
        may keep references to ``parts`` until the peer has acknowledged the
        message (a resumable link retransmits from them), so callers must not
        mutate them afterwards. A send that does not have to wait for room
        need not yield to the scheduler (it still raises a pending
        cancellation first): callers that loop must yield themselves."""

    async def receive_message(self) -> bytes | bytearray | memoryview:
        """The next whole message; ChannelBroken when the link ends."""

    async def aclose(self, reason: str = "") -> None:
        """Close the link (idempotent)."""


class MemoryLink:
    """One end of an in-memory link (see :func:`memory_link_pair`)."""

    def __init__(self, peer: str, send: trio.MemorySendChannel[bytes], receive: trio.MemoryReceiveChannel[bytes],
                 pair_secret: bytes | None = None) -> None:
        self.peer = peer
        #: Shared with the other end by :func:`memory_link_pair`; None for a
        #: link built alone (it then offers no pairwise keys).
        self.pair_secret = pair_secret
        self._send = send
        self._receive = receive
        self.bytes_sent = 0
        self.messages_sent = 0

    async def send_message(self, parts: Sequence[bytes | bytearray | memoryview]) -> None:
        # Copying here is fine: the memory link exists for simulations, and a
        # private copy keeps the receiver's view independent of the sender's
        # buffers exactly as a real network would.
        data = b"".join(parts)
        # Like SecureLink: honour a pending cancellation, then hand the
        # message over without a pass through the scheduler when the channel
        # has room (a round's many small sends would otherwise each run every
        # other task of the process once); only a full channel waits.
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            try:
                self._send.send_nowait(data)
            except trio.WouldBlock:
                await self._send.send(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ChannelBroken("link closed", peer=self.peer) from None
        self.bytes_sent += len(data)
        self.messages_sent += 1

    async def receive_message(self) -> bytes:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError, trio.BrokenResourceError):
            raise ChannelBroken("peer closed the link", peer=self.peer) from None

    def close_now(self, reason: str = "") -> bool:
        """Close the link at once (idempotent): nothing to flush in memory.
        True: closed (see :func:`close_links`)."""
        self._send.close()
        self._receive.close()
        return True

    async def aclose(self, reason: str = "") -> None:
        self.close_now(reason)
        await trio.lowlevel.checkpoint()


def memory_link_pair(a: str, b: str, buffer: int = 64, pair_secret: bytes | None = None) -> tuple[MemoryLink, MemoryLink]:
    """Two connected links: the first is ``a``'s link to ``b``, the second
    ``b``'s link to ``a``. ``buffer`` bounds the messages in flight. Both
    ends share ``pair_secret`` (default: 32 fresh random bytes, what a
    handshake would give them)."""
    if pair_secret is not None and (not isinstance(pair_secret, bytes) or len(pair_secret) != 32):
        raise ValueError("pair_secret must be 32 bytes")
    a_to_b_send, a_to_b_recv = trio.open_memory_channel[bytes](buffer)
    b_to_a_send, b_to_a_recv = trio.open_memory_channel[bytes](buffer)
    secret = pair_secret if pair_secret is not None else secrets.token_bytes(32)
    return MemoryLink(b, a_to_b_send, b_to_a_recv, secret), MemoryLink(a, b_to_a_send, a_to_b_recv, secret)


def memory_mesh(names: Sequence[str], seed: int | None = None,
                pairs: Iterable[tuple[int, int]] | None = None) -> dict[str, dict[str, MemoryLink]]:
    """An in-memory mesh: ``mesh[me][peer]`` is ``me``'s link to ``peer``.

    Full by default; ``pairs`` (index pairs into ``names``) builds only those
    links, in time linear in their number (every name still gets an entry).
    ``seed`` derives the links' pair secrets from it, so that seeded
    simulations are reproducible down to every message: tests only (anyone
    with the seed can compute every pairwise key)."""
    mesh: dict[str, dict[str, MemoryLink]] = {n: {} for n in names}
    if pairs is None:
        pairs = ((i, j) for i in range(len(names)) for j in range(i + 1, len(names)))
    for i, j in pairs:
        a, b = names[i], names[j]
        if a == b or b in mesh[a]:
            raise ValueError(f"link pair {(i, j)} joins a party to itself or repeats a link")
        secret = None
        if seed is not None:
            first, second = (a, b) if i < j else (b, a)  # the same secret whichever way round
            secret = hashlib.blake2b(f"{seed}\x00{first}\x00{second}".encode(), digest_size=32,
                                     person=b"mpcnet-test-seed").digest()
        mesh[a][b], mesh[b][a] = memory_link_pair(a, b, pair_secret=secret)
    return mesh


async def close_links(links: Iterable[PeerLink], reason: str, timeout: float = 2.0) -> None:
    """Close links concurrently, shielded from cancellation, within ``timeout``
    (each link's close frame is best effort; its socket is closed regardless).
    Links that can close without waiting are closed in place, without a task
    each: their ``close_now(reason)`` returns True (memory links always; a
    secure link when its socket takes the close frame at once)."""
    waiting = []
    for link in links:
        close_now = getattr(link, "close_now", None)
        if close_now is None or not close_now(reason):
            waiting.append(link)
    if not waiting:
        return
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        async with trio.open_nursery() as nursery:
            for link in waiting:
                nursery.start_soon(link.aclose, reason)
