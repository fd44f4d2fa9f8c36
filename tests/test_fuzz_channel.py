"""Property/fuzz tests of the channel state machine and the envelope codec.

Random and mutated input must only ever raise the typed errors
(HandshakeError / ChannelBroken / WireError / RemoteProtocolViolation),
never deliver a message that was not sent, and never hold more memory than
the frame and message caps allow, whatever lengths the bytes claim.
"""

from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_scalarmult_base

from mpcnet import wire
from mpcnet._net.channel import NEED_DATA, ChannelConnection, CloseReceived, HandshakeComplete, Message, make_prologue
from mpcnet._net.noise_kk import HANDSHAKE_MESSAGE_LEN
from mpcnet.errors import ChannelBroken, HandshakeError, RemoteProtocolViolation, WireError
from mpcnet.session import ABORT, DATA, parse_envelope

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
    # nothing completes, nothing else is raised, and it does fail (the input ends)
    assert len(events) == 1 and isinstance(events[0], HandshakeError), events
    if len(data) >= 2 and data[:2] != HANDSHAKE_MESSAGE_LEN.to_bytes(2, "big"):
        # refused on the claimed length alone, before any body is awaited
        assert f"handshake message of {int.from_bytes(data[:2], 'big')} bytes" in events[0].message


@FAST
@given(st.binary(max_size=4000), st.lists(st.integers(1, 300), max_size=8))
def test_random_bytes_at_an_initiator_only_raise_handshake_errors(data, chunks):
    a, _ = _pair()
    a.start()
    events = _events(a, data, chunks)
    assert len(events) == 1 and isinstance(events[0], HandshakeError), events


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
    for e in events[:-1]:
        assert not isinstance(e, Exception)
    tail = events[-1]
    if mutated == stream:
        assert delivered == messages and isinstance(tail, CloseReceived)
    else:
        # Every byte is authenticated (lengths by the frame boundaries they
        # set): a changed stream never ends cleanly, it ends in a typed error.
        assert isinstance(tail, (ChannelBroken, HandshakeError)), tail


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


@settings(max_examples=40, deadline=None)
@given(st.integers(CAP + 1, 2**64 - 1) | st.integers(1, CAP), st.integers(1, 40))
@example(claimed=CAP, frames=1)  # the most claimed within the cap, the least sent
@example(claimed=CAP + 1, frames=1)
def test_claimed_lengths_never_allocate_more_than_the_caps(claimed, frames):
    """A START announcing ``claimed`` bytes, then ``frames`` full CONTINUE
    frames: refused at once when over the cap; within it, memory follows
    what was received (bounded by the cap), never what was claimed."""
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
    sent = 65_000 * frames
    if claimed > CAP:  # refused at the START frame, before any byte of the message is kept
        assert [type(e) for e in events] == [HandshakeComplete, ChannelBroken]
        assert f"announced a {claimed}-byte message; the limit is {CAP}" in events[-1].message
        assert peak < 2 * FRAME + 64 * 1024  # one frame buffered, one decrypted; not the claim
    else:
        if claimed % 65_000 == 0 and claimed <= sent:  # complete at a frame boundary: delivered whole
            assert [type(e) for e in events] == [HandshakeComplete, Message, ChannelBroken]
            assert events[1].data == bytes(claimed)
            error = "continuation without a start" if claimed < sent else "without a close frame"
        else:
            assert [type(e) for e in events] == [HandshakeComplete, ChannelBroken]
            error = "overruns the announced length" if sent > claimed else "without a close frame"
        assert error in events[-1].message
        received = min(claimed, sent)  # what the peer really sent of it
        # what arrived, twice (its chunks, joined once into the message), plus
        # the chunk fed in, the frame cut from it and its plaintext; however
        # much more was claimed
        assert peak < 2 * received + 3 * FRAME + 64 * 1024


_FIELDS = ("version", "kind", "session id", "round")  # an envelope's fields before its body
_VALID = st.fixed_dictionaries({
    "version": st.just(1),
    "kind": st.sampled_from([DATA, ABORT]),
    "session id": st.binary(min_size=16, max_size=16),
    "round": st.integers(0, 2**32 - 1) | st.sampled_from([0, 2**32 - 1]),
})
_BODIES = st.recursive(st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.binary(max_size=40)
                       | st.text(max_size=20), lambda c: st.lists(c, max_size=6)
                       | st.dictionaries(st.text(max_size=5), c, max_size=4), max_leaves=20)
_ARRAY = np.arange(16, dtype=np.uint8)  # an array where an int or bytes belongs
# Each envelope field just off: a wrong value, a wrong type, a bool for an int, an array.
_OFF = [("version", v) for v in (0, 2, -1, True, "1", b"\x01", _ARRAY[:1], None)] + \
       [("kind", v) for v in (3, -1, True, False, "0", _ARRAY[:1], None)] + \
       [("session id", v) for v in (bytes(15), bytes(17), b"", "x" * 16, _ARRAY, None)] + \
       [("round", v) for v in (-1, 2**32, 2**64 - 1, True, "1", _ARRAY[:1], None)]


@FAST
@given(_VALID, _BODIES)
def test_valid_envelopes_are_parsed_to_their_fields(fields, body):
    envelope = wire.decode(b"".join(bytes(p) for p in wire.encode([fields[k] for k in _FIELDS] + [body])))
    assert parse_envelope(envelope, "mallory") == (fields["kind"], fields["session id"], fields["round"], body)


@pytest.mark.parametrize(("field", "value"), _OFF, ids=[f"{f}={v!r}"[:40] for f, v in _OFF])
def test_an_envelope_with_one_field_off_is_a_violation_naming_the_peer(field, value):
    fields = {"version": 1, "kind": DATA, "session id": bytes(16), "round": 1} | {field: value}
    envelope = wire.decode(b"".join(bytes(p) for p in wire.encode([fields[k] for k in _FIELDS] + [None])))
    with pytest.raises(RemoteProtocolViolation) as info:
        parse_envelope(envelope, "mallory")
    assert info.value.peer == "mallory"


@pytest.mark.parametrize("length", [0, 4, 6])
def test_an_envelope_of_the_wrong_length_is_a_violation(length):
    envelope = [1, DATA, bytes(16), 1, None, None][:length]
    with pytest.raises(RemoteProtocolViolation, match="not a valid envelope"):
        parse_envelope(wire.decode(b"".join(bytes(p) for p in wire.encode(envelope))), "mallory")


@FAST
@given(_BODIES)
def test_random_values_as_envelopes_only_raise_remote_protocol_violation(value):
    try:
        encoded = b"".join(bytes(p) for p in wire.encode(value))
    except WireError:
        return
    with pytest.raises(RemoteProtocolViolation) as info:  # not one of these is a 5-field envelope with bytes at 3
        parse_envelope(wire.decode(encoded), "mallory")
    assert info.value.peer == "mallory"


@FAST
@given(st.binary(max_size=2000))
def test_random_bytes_as_a_message_only_raise_typed_errors(data):
    try:
        parse_envelope(wire.decode(data), "mallory")
    except (WireError, RemoteProtocolViolation):
        pass
