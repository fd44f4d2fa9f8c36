"""Property/fuzz tests of the channel state machine and the envelope codec.

Random and mutated input must only ever raise the typed errors
(HandshakeError / ChannelBroken / WireError / RemoteProtocolViolation),
never deliver a message that was not sent, and never hold more memory than
the frame and message caps allow, whatever lengths the bytes claim.
"""

from __future__ import annotations

import os
import tracemalloc

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_scalarmult_base

from mpcnet import wire
from mpcnet.channel import NEED_DATA, ChannelConnection, CloseReceived, HandshakeComplete, Message, make_prologue
from mpcnet.errors import ChannelBroken, HandshakeError, RemoteProtocolViolation, WireError
from mpcnet.session import parse_envelope

CAP = 256 * 1024  # message cap for these tests
FRAME = 2 + 65535


def _keys():
    private = os.urandom(32)
    return private, crypto_scalarmult_base(private)


ALICE, BOB = _keys(), _keys()
PROLOGUE = make_prologue(1, bytes(32), "alice", "bob")
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pair():
    a = ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob", CAP)
    b = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice", CAP)
    return a, b


def _events(conn, data, chunks):
    """Feed ``data`` in the given chunk sizes; return events until the
    first error (returned as the last element) or NEED_DATA at the end."""
    out, pos, sizes = [], 0, list(chunks) or [len(data) or 1]
    i = 0
    try:
        while pos < len(data):
            size = max(1, sizes[i % len(sizes)])
            conn.receive_data(data[pos : pos + size])
            pos += size
            i += 1
            while (event := conn.next_event()) is not NEED_DATA:
                out.append(event)
        conn.receive_data(b"")  # EOF
        while (event := conn.next_event()) is not NEED_DATA:
            out.append(event)
    except (HandshakeError, ChannelBroken) as exc:
        out.append(exc)
    return out


def _open_stream(messages):
    """A real handshake, then the bytes alice sends for ``messages`` + close:
    returns (bob after the handshake, bytes of the transport phase)."""
    a, b = _pair()
    b.receive_data(a.start())
    assert b.next_event() is NEED_DATA
    a.receive_data(b.data_to_send())
    assert isinstance(a.next_event(), HandshakeComplete)
    wire_bytes = a.data_to_send()
    for m in messages:
        wire_bytes += b"".join(a.send_message([m]))
    wire_bytes += a.close("bye")
    return b, wire_bytes


@FAST
@given(st.binary(max_size=4000), st.lists(st.integers(1, 300), max_size=8))
def test_random_bytes_at_a_responder_only_raise_handshake_errors(data, chunks):
    _, b = _pair()
    events = _events(b, data, chunks)
    assert all(isinstance(e, HandshakeError) for e in events)  # nothing completes, nothing else is raised
    assert len(b._inbox) <= len(data)


@FAST
@given(st.binary(max_size=4000), st.lists(st.integers(1, 300), max_size=8))
def test_random_bytes_at_an_initiator_only_raise_handshake_errors(data, chunks):
    a, _ = _pair()
    a.start()
    events = _events(a, data, chunks)
    assert all(isinstance(e, HandshakeError) for e in events)


_messages = st.lists(st.binary(max_size=3000) | st.builds(lambda n: os.urandom(n), st.integers(60_000, 140_000)),
                     min_size=1, max_size=4)


@st.composite
def _mutations(draw, length):
    kinds = st.sampled_from(["flip", "delete", "insert", "truncate", "duplicate", "swap"])
    return [(draw(kinds), draw(st.integers(0, max(0, length - 1))), draw(st.integers(1, 70_000)),
             draw(st.binary(min_size=1, max_size=40))) for _ in range(draw(st.integers(1, 3)))]


def _mutate(data, mutations):
    buf = bytearray(data)
    for kind, pos, size, junk in mutations:
        pos = min(pos, len(buf))
        if kind == "flip" and pos < len(buf):
            buf[pos] ^= 1 << (size % 8)
        elif kind == "delete":
            del buf[pos : pos + size % 200 + 1]
        elif kind == "insert":
            buf[pos:pos] = junk
        elif kind == "truncate":
            del buf[pos:]
        elif kind == "duplicate":
            buf[pos:pos] = buf[pos : pos + size % 500 + 1]
        elif kind == "swap":
            a, b = buf[pos : pos + 50], buf[pos + 50 : pos + 100]
            buf[pos : pos + 100] = b + a
    return bytes(buf)


@FAST
@given(_messages, st.data(), st.lists(st.integers(1, 70_000), max_size=6))
def test_mutated_streams_deliver_only_sent_messages_then_fail_typed(messages, data, chunks):
    bob, stream = _open_stream(messages)
    mutated = _mutate(stream, data.draw(_mutations(len(stream))))
    events = _events(bob, mutated, chunks)
    delivered = [e.data for e in events if isinstance(e, Message)]
    # whatever got through is exactly a prefix of what was sent, in order
    assert delivered == messages[: len(delivered)]
    if mutated != stream:
        tail = events[-1] if events else None
        # a changed stream never ends cleanly with every message delivered,
        # unless the change only touched bytes after the authenticated close
        assert isinstance(tail, (ChannelBroken, HandshakeError, CloseReceived, HandshakeComplete)) or tail is None
    for e in events[:-1]:
        assert not isinstance(e, Exception)


@FAST
@given(st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=30))
def test_authenticated_garbage_plaintexts_only_raise_channel_broken(plaintexts):
    """A peer that holds the keys but sends arbitrary frame contents (type
    byte and body chosen freely)."""
    a, b = _pair()
    b.receive_data(a.start())
    b.next_event()
    a.receive_data(b.data_to_send())
    a.next_event()
    stream = a.data_to_send() + b"".join(a._seal(p) for p in plaintexts)
    events = _events(b, stream, [])
    assert isinstance(events[0], HandshakeComplete)
    for e in events[1:]:
        assert isinstance(e, (Message, CloseReceived, ChannelBroken))
        if isinstance(e, Message):
            assert len(e.data) <= CAP


@settings(max_examples=25, deadline=None)
@given(st.integers(CAP + 1, 2**64 - 1), st.integers(1, 40))
def test_claimed_lengths_never_allocate_more_than_the_caps(claimed, frames):
    """A START announcing ``claimed`` bytes, then ``frames`` full CONTINUE
    frames: refused at once when over the cap, and memory follows what was
    received (bounded by the cap), never what was claimed."""
    a, b = _pair()
    b.receive_data(a.start())
    b.next_event()
    a.receive_data(b.data_to_send())
    a.next_event()
    stream = a.data_to_send() + a._seal(bytes([2]) + claimed.to_bytes(8, "big"))
    stream += b"".join(a._seal(bytes([3]) + bytes(65_000)) for _ in range(frames))
    tracemalloc.start()
    try:
        events = _events(b, stream, [FRAME])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(events[-1], ChannelBroken) and "limit" in events[-1].message
    assert peak < 2 * FRAME + 64 * 1024  # one frame buffered, one decrypted; not the claim


@FAST
@given(st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=40)
                    | st.text(max_size=20), lambda c: st.lists(c, max_size=6)
                    | st.dictionaries(st.text(max_size=5), c, max_size=4), max_leaves=20))
def test_random_envelopes_only_raise_remote_protocol_violation(value):
    try:
        encoded = b"".join(bytes(p) for p in wire.encode(value))
    except WireError:
        return
    try:
        parse_envelope(wire.decode(encoded), "mallory")
    except RemoteProtocolViolation as exc:
        assert exc.peer == "mallory"


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_message_only_raise_typed_errors(data):
    try:
        parse_envelope(wire.decode(data), "mallory")
    except (WireError, RemoteProtocolViolation):
        pass
