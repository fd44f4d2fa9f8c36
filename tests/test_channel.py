"""Behaviour of the secure channel: the sans-IO core and its trio adapter.

Rules for this module: no sockets (sans-IO pairs are wired by hand, the
adapter runs over trio.testing in-memory streams), timeouts use the autojump
clock instead of real sleeps, and every trio test has an absolute deadline.
"""

from __future__ import annotations

import inspect
import os
import socket

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from nacl.bindings import crypto_scalarmult_base
from noise.connection import Keypair, NoiseConnection

import mpcnet._net.securelink
from mpcnet._net.channel import (
    CLOSE,
    HELLO,
    MAX_PREAMBLE_LEN,
    MESSAGE_CONTINUE,
    MESSAGE_START,
    NEED_DATA,
    ChannelConnection,
    CloseReceived,
    HandshakeComplete,
    Message,
    encode_preamble,
    make_prologue,
    parse_preamble,
)
from mpcnet._net.noise_kk import MAX_NONCE, CipherState, NoiseKK
from mpcnet._net.securelink import SecureLink, accept_secure, connect_secure
from mpcnet.errors import (
    ChannelBroken,
    ConfigError,
    HandshakeError,
    LocalProtocolViolation,
    PeerTimeout,
)

TEST_DEADLINE = 30  # absolute per-test deadline for trio tests, in (possibly virtual) seconds


def keypair() -> tuple[bytes, bytes]:
    private = os.urandom(32)
    return private, crypto_scalarmult_base(private)


ALICE, BOB, CAROL = keypair(), keypair(), keypair()
ROSTER_HASH = bytes(range(32))
PROLOGUE = make_prologue(1, ROSTER_HASH, "alice", "bob")
NOISE_NAME = b"Noise_KK_25519_ChaChaPoly_BLAKE2b"


def make_pair(**options) -> tuple[ChannelConnection, ChannelConnection]:
    """alice (initiator) and bob (responder), not yet handshaken."""
    alice = ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob", **options)
    bob = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice", **options)
    return alice, bob


def drain(conn: ChannelConnection, data: bytes | None = None) -> list:
    """Feed ``data`` (``b""`` is EOF) and collect events until NEED_DATA."""
    if data is not None:
        conn.receive_data(data)
    out = []
    while (event := conn.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def handshake(alice: ChannelConnection, bob: ChannelConnection) -> None:
    assert drain(bob, alice.start()) == []
    assert drain(alice, bob.data_to_send()) == [HandshakeComplete()]
    assert drain(bob, alice.data_to_send()) == [HandshakeComplete()]


def open_pair(**options) -> tuple[ChannelConnection, ChannelConnection]:
    alice, bob = make_pair(**options)
    handshake(alice, bob)
    return alice, bob


def framed(noise_message: bytes) -> bytes:
    return len(noise_message).to_bytes(2, "big") + noise_message


def open_against_raw_responder(**options) -> tuple[ChannelConnection, CipherState]:
    """Our initiator talking to a hand-driven Noise responder, whose send
    cipher the test uses to craft arbitrary (authentic) frames."""
    alice = ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob", **options)
    raw = NoiseKK(False, BOB[0], ALICE[1], PROLOGUE)
    raw.read_message(alice.start()[2:])
    assert drain(alice, framed(raw.write_message())) == [HandshakeComplete()]
    send, receive = raw.split()
    assert receive.decrypt_with_ad(b"", alice.data_to_send()[2:]) == bytes([HELLO])
    return alice, send


def sealed(cipher: CipherState, plaintext: bytes) -> bytes:
    return framed(cipher.encrypt_with_ad(b"", plaintext))


def start_frame(total: int, chunk: bytes = b"") -> bytes:
    return bytes([MESSAGE_START]) + total.to_bytes(8, "big") + chunk


# --------------------------------------------------------------------------- handshake and round trips


@pytest.mark.parametrize("first_sender", ["initiator", "responder"])
def test_handshake_completes_and_messages_flow_both_ways(first_sender):
    alice, bob = open_pair()
    pairs = [(alice, bob), (bob, alice)] if first_sender == "initiator" else [(bob, alice), (alice, bob)]
    for round_ in range(3):
        for sender, receiver in pairs:
            payload = f"round {round_} from {'alice' if sender is alice else 'bob'}".encode()
            assert drain(receiver, b"".join(sender.send_message([payload]))) == [Message(bytearray(payload))]


def test_both_ends_export_the_same_pair_secret_fresh_for_each_handshake():
    alice, bob = open_pair()
    again, _ = open_pair()
    assert alice.pair_secret == bob.pair_secret and len(alice.pair_secret) == 32
    assert again.pair_secret != alice.pair_secret  # new ephemeral keys, new secret
    raw = NoiseKK(True, ALICE[0], BOB[1], PROLOGUE)
    with pytest.raises(LocalProtocolViolation, match="before the handshake finished"):
        raw.export_secret()


def test_large_vector_spans_many_frames_and_is_reassembled():
    alice, bob = open_pair()
    vector = np.arange(10**6, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    frames = alice.send_message([memoryview(vector)])
    assert len(frames) == -(-(vector.nbytes + 8) // 65518) > 100
    assert all(len(frame) <= 2 + 65535 for frame in frames)
    [event] = drain(bob, b"".join(frames))
    assert isinstance(event.data, bytes)
    assert np.array_equal(np.frombuffer(event.data, dtype=np.uint64), vector)


@pytest.mark.parametrize("parts", [[], [b""], [b"", bytearray(), memoryview(b"")]])
def test_empty_message_round_trips(parts):
    alice, bob = open_pair()
    frames = alice.send_message(parts)
    assert len(frames) == 1
    assert drain(bob, frames[0]) == [Message(bytearray())]


def test_parts_are_joined_across_frame_boundaries():
    alice, bob = open_pair()
    parts = [os.urandom(65509), b"xyz", bytearray(os.urandom(70000)), memoryview(os.urandom(65518))[5:], b"", b"!"]
    [event] = drain(bob, b"".join(alice.send_message(parts)))
    assert event.data == b"".join(parts)


@pytest.mark.parametrize("parts", [[], [b""], [b"abc"], [b"a", bytearray(b"bc"), memoryview(b"xdef")[1:]],
                                   [memoryview(np.arange(12, dtype=np.uint64).reshape(3, 4))],
                                   [os.urandom(65535 - 16 - 9)], [os.urandom(65535 - 16 - 8)]])
def test_a_one_frame_message_is_sealed_exactly_as_iter_frames_seals_it(parts):
    # seal_single is the small-message shortcut of the send path: the same
    # frame for the same nonce, or None (nothing sealed, no nonce taken)
    # when the message needs more than one frame.
    alice, bob = open_pair()
    nonce = alice._send.nonce
    single = alice.seal_single(parts)
    if len(b"".join(bytes(memoryview(p).cast("B")) for p in parts)) > 65535 - 16 - 9:
        assert single is None and alice._send.nonce == nonce
        return
    assert single is not None and alice._send.nonce == nonce + 1
    alice._send.set_nonce(nonce)
    assert alice.send_message(parts) == [single]
    assert drain(bob, single) == [Message(b"".join(bytes(memoryview(p).cast("B")) for p in parts))]


def test_seal_single_defers_to_queued_frames_and_refuses_what_iter_frames_refuses():
    alice, bob = make_pair()
    bob.receive_data(alice.start())
    bob.next_event()
    alice.receive_data(bob.data_to_send())
    alice.next_event()  # HELLO is now queued at alice, ahead of any message
    assert alice.seal_single([b"x"]) is None
    alice, _ = open_pair(max_message_size=10)
    assert alice.seal_single([b"x" * 11]) is None
    with pytest.raises(LocalProtocolViolation):
        alice.send_message([b"x" * 11])
    alice.close()
    with pytest.raises(LocalProtocolViolation):
        alice.seal_single([b"x"])


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(0, 150_000), min_size=1, max_size=4), cut=st.integers(100, 70_000))
def test_any_split_of_the_byte_stream_gives_the_same_messages(sizes, cut):
    alice, bob = open_pair()
    messages = [os.urandom(size) for size in sizes]
    wire = b"".join(frame for message in messages for frame in alice.send_message([message]))
    events = []
    for offset in range(0, len(wire), cut):
        events += drain(bob, wire[offset : offset + cut])
    assert events == [Message(bytearray(message)) for message in messages]


def test_handshake_and_message_survive_byte_by_byte_delivery():
    alice, bob = make_pair()
    events = [drain(bob, bytes([b])) for b in alice.start()]
    assert events == [[]] * 50
    events = [e for b in bob.data_to_send() for e in drain(alice, bytes([b]))]
    assert events == [HandshakeComplete()]
    wire = alice.data_to_send() + b"".join(alice.send_message([b"tiny"]))
    assert [e for b in wire for e in drain(bob, bytes([b]))] == [HandshakeComplete(), Message(bytearray(b"tiny"))]


def test_responder_reports_handshake_complete_only_after_hello():
    alice, bob = make_pair()
    assert drain(bob, alice.start()) == []
    assert not bob.handshake_complete
    assert drain(alice, bob.data_to_send()) == [HandshakeComplete()]
    assert not bob.handshake_complete  # alice authenticated bob; bob still waits
    with pytest.raises(LocalProtocolViolation):
        bob.send_message([b"too early"])
    assert drain(bob, alice.data_to_send()) == [HandshakeComplete()]
    assert bob.handshake_complete


def test_initiator_hello_goes_out_before_its_first_message():
    alice, bob = make_pair()
    drain(bob, alice.start())
    drain(alice, bob.data_to_send())
    frames = alice.send_message([b"hi"])  # HELLO was not drained: it must lead
    assert drain(bob, b"".join(frames)) == [HandshakeComplete(), Message(bytearray(b"hi"))]


def test_replayed_message_1_never_completes_the_handshake():
    alice, bob = make_pair()
    message_1 = alice.start()
    victim = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice")
    assert drain(victim, message_1) == []  # it answers, but reports nothing
    assert victim.data_to_send()
    with pytest.raises(HandshakeError):
        drain(victim, framed(os.urandom(17)))  # the attacker cannot forge HELLO
    another = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice")
    drain(another, message_1)
    with pytest.raises(HandshakeError):
        drain(another, b"")  # ...nor can it make the responder complete by hanging up


def test_responder_rejects_a_message_frame_in_place_of_hello():
    bob = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice")
    raw = NoiseKK(True, ALICE[0], BOB[1], PROLOGUE)
    drain(bob, framed(raw.write_message()))
    raw.read_message(bob.data_to_send()[2:])
    send, _ = raw.split()
    with pytest.raises(HandshakeError, match="not HELLO"):
        drain(bob, sealed(send, start_frame(2, b"hi")))


# --------------------------------------------------------------------------- handshake failures


@pytest.mark.parametrize(
    "alice_knows_bob, bob_knows_alice, bob_private",
    [
        (CAROL[1], ALICE[1], BOB[0]),  # initiator pinned the wrong responder key
        (BOB[1], CAROL[1], BOB[0]),  # responder expects another initiator
        (BOB[1], ALICE[1], CAROL[0]),  # an impostor answers for bob
    ],
    ids=["initiator-has-wrong-key", "responder-has-wrong-key", "impostor-responder"],
)
def test_wrong_static_key_fails_the_handshake(alice_knows_bob, bob_knows_alice, bob_private):
    alice = ChannelConnection(True, ALICE[0], alice_knows_bob, PROLOGUE, "bob")
    bob = ChannelConnection(False, bob_private, bob_knows_alice, PROLOGUE, "alice")
    with pytest.raises(HandshakeError) as info:
        drain(bob, alice.start())
    assert info.value.peer == "alice"
    with pytest.raises(ChannelBroken):  # dead from then on
        bob.next_event()


@pytest.mark.parametrize("which", [1, 2])
@pytest.mark.parametrize("position", [2, 33, 34, 49])
def test_tampered_handshake_message_fails(which, position):
    alice, bob = make_pair()
    message = bytearray(alice.start())
    if which == 1:
        message[position] ^= 0x01
        with pytest.raises(HandshakeError):
            drain(bob, bytes(message))
        return
    drain(bob, bytes(message))
    message_2 = bytearray(bob.data_to_send())
    message_2[position] ^= 0x01
    with pytest.raises(HandshakeError, match="bob|authentication"):
        drain(alice, bytes(message_2))


def test_low_order_ephemeral_key_is_rejected():
    alice, bob = make_pair()
    message = alice.start()
    with pytest.raises(HandshakeError, match="low-order"):
        drain(bob, message[:2] + bytes(32) + message[34:])


def test_changed_prologue_fails_the_handshake():
    other = make_prologue(1, bytes(32), "alice", "bob")  # bob holds a different roster
    alice = ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob")
    bob = ChannelConnection(False, BOB[0], ALICE[1], other, "alice")
    with pytest.raises(HandshakeError):
        drain(bob, alice.start())


@pytest.mark.parametrize("which", [1, 2])
def test_non_empty_handshake_payload_is_rejected(which):
    if which == 1:
        bob = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice")
        raw = NoiseKK(True, ALICE[0], BOB[1], PROLOGUE)
        with pytest.raises(HandshakeError, match="payloads must be empty"):
            drain(bob, framed(raw.write_message(b"act on me")))
    else:
        alice = ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob")
        raw = NoiseKK(False, BOB[0], ALICE[1], PROLOGUE)
        raw.read_message(alice.start()[2:])
        with pytest.raises(HandshakeError, match="payloads must be empty"):
            drain(alice, framed(raw.write_message(b"x")))


def test_data_before_start_and_eof_during_handshake_fail():
    alice, bob = make_pair()
    with pytest.raises(HandshakeError):
        drain(alice, b"\x00\x30")
    alice, bob = make_pair()
    drain(bob, alice.start()[:10])
    with pytest.raises(HandshakeError, match="truncated"):
        drain(bob, b"")


def test_bad_keys_and_limits_are_config_errors():
    with pytest.raises(ConfigError):
        ChannelConnection(True, ALICE[0][:31], BOB[1], PROLOGUE, "bob")
    with pytest.raises(ConfigError):
        NoiseKK(True, ALICE[0], "not bytes", PROLOGUE)  # type: ignore[arg-type]
    with pytest.raises(ConfigError):
        ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob", rekey_interval=0)


# --------------------------------------------------------------------------- broken frames


def test_tampered_frame_breaks_channel():
    alice, bob = open_pair()
    frame = bytearray(alice.send_message([b"pay 10"])[0])
    frame[-20] ^= 0x01
    with pytest.raises(ChannelBroken, match="authentication") as info:
        drain(bob, bytes(frame))
    assert info.value.peer == "alice"


def test_replayed_frame_breaks_channel():
    alice, bob = open_pair()
    [frame] = alice.send_message([b"pay 10"])
    drain(bob, frame)
    with pytest.raises(ChannelBroken):
        drain(bob, frame)


def test_reordered_frames_break_channel():
    alice, bob = open_pair()
    first, second = alice.send_message([b"one"]), alice.send_message([b"two"])
    with pytest.raises(ChannelBroken):
        drain(bob, second[0] + first[0])


def test_eof_without_close_frame_is_truncation():
    alice, bob = open_pair()
    frames = alice.send_message([os.urandom(100_000)])
    drain(bob, frames[0])
    with pytest.raises(ChannelBroken, match="without a close frame"):
        drain(bob, b"")


def test_eof_in_the_middle_of_a_frame_is_truncation():
    alice, bob = open_pair()
    [frame] = alice.send_message([b"hello"])
    drain(bob, frame[:-1])
    with pytest.raises(ChannelBroken, match="truncated"):
        drain(bob, b"")


def test_declared_length_over_the_cap_breaks_channel_before_buffering():
    alice, bob = make_pair(max_message_size=10**6)
    bob.max_message_size = 1000  # the receiver's cap is what counts
    handshake(alice, bob)
    first_frame = alice.send_message([bytes(5000)])[0]
    with pytest.raises(ChannelBroken, match="limit is 1000"):
        drain(bob, first_frame)


def test_sending_over_the_cap_is_refused_locally_and_the_channel_survives():
    alice, bob = open_pair(max_message_size=100)
    with pytest.raises(LocalProtocolViolation):
        alice.send_message([bytes(101)])
    assert drain(bob, alice.send_message([bytes(100)])[0]) == [Message(bytearray(100))]


@pytest.mark.parametrize("length", [0, 1, 16])
def test_zero_length_and_short_frames_break_channel(length):
    alice, bob = open_pair()
    with pytest.raises(ChannelBroken, match="zero-length|shorter"):
        drain(bob, length.to_bytes(2, "big") + bytes(length))


@pytest.mark.parametrize(
    "plaintexts, error",
    [
        ([bytes([MESSAGE_CONTINUE]) + b"orphan"], "without a start"),
        ([start_frame(10, b"abc"), start_frame(3, b"abc")], "before the previous one ended"),
        ([start_frame(4, b"abc"), bytes([MESSAGE_CONTINUE]) + b"de"], "overruns"),
        ([start_frame(2, b"abc")], "overruns"),
        ([start_frame(4, b"ab"), bytes([MESSAGE_CONTINUE])], "empty message continuation"),
        ([bytes([MESSAGE_START]) + b"\x00\x00"], "too short"),
        ([start_frame(4, b"ab"), bytes([CLOSE]) + b"bye"], "middle of a message"),
        ([bytes([CLOSE]) + b"x" * 201], "too long"),
        ([bytes([CLOSE]) + b"\xff"], "not utf-8"),
        ([bytes([HELLO])], "unexpected HELLO"),
        ([bytes([99]) + b"?"], "unknown frame type"),
    ],
    ids=["orphan-continue", "start-while-incomplete", "overrun", "overrun-in-start", "empty-continue",
         "short-start", "close-mid-message", "long-reason", "bad-reason", "second-hello", "unknown-type"],
)
def test_framing_violations_break_channel(plaintexts, error):
    alice, raw_send = open_against_raw_responder()
    with pytest.raises(ChannelBroken, match=error) as info:
        drain(alice, b"".join(sealed(raw_send, p) for p in plaintexts))
    assert info.value.peer == "bob"


def test_close_is_delivered_and_data_after_it_breaks_channel():
    alice, bob = open_pair()
    assert drain(bob, alice.close("finished, thanks")) == [CloseReceived("finished, thanks")]
    assert bob.closed_by_peer
    assert drain(bob, b"") == []  # EOF after CLOSE is the clean end
    alice, bob = open_pair()
    alice_late = alice.close("bye")
    with pytest.raises(ChannelBroken, match="after the close frame"):
        drain(bob, alice_late + b"\x00")


def test_close_reason_is_cut_to_200_bytes_and_sending_after_close_is_refused():
    alice, bob = open_pair()
    [event] = drain(bob, alice.close("é" * 150))
    assert event.reason == "é" * 100
    assert alice.close() == b""  # idempotent
    with pytest.raises(LocalProtocolViolation):
        alice.send_message([b"late"])


def test_broken_connection_refuses_every_later_call():
    alice, bob = open_pair()
    with pytest.raises(ChannelBroken):
        drain(bob, b"\x00\x00")
    for call in (bob.next_event, bob.data_to_send, bob.close, lambda: bob.receive_data(b"x"),
                 lambda: bob.send_message([b"x"])):
        with pytest.raises(ChannelBroken, match="already broken"):
            call()


# --------------------------------------------------------------------------- rekeying and nonces


def test_rekey_happens_and_messages_still_flow():
    alice, bob = open_pair(rekey_interval=3)
    for i in range(20):
        for sender, receiver in ((alice, bob), (bob, alice)):
            parts = [os.urandom(i * 20_000)]
            assert drain(receiver, b"".join(sender.send_message(parts))) == [Message(bytearray(parts[0]))]


def test_receiver_that_does_not_rekey_cannot_read_past_the_interval():
    alice, bob = make_pair(rekey_interval=3)
    bob.rekey_interval = 10**9  # proves the sender's key really changed
    handshake(alice, bob)  # HELLO was frame 1
    assert drain(bob, alice.send_message([b"frame 2"])[0]) == [Message(bytearray(b"frame 2"))]
    drain(bob, alice.send_message([b"frame 3"])[0])
    with pytest.raises(ChannelBroken, match="authentication"):
        drain(bob, alice.send_message([b"frame 4"])[0])


def test_cipher_state_refuses_the_reserved_nonce_instead_of_wrapping():
    sender, receiver = CipherState(bytes(range(32))), CipherState(bytes(range(32)))
    sender.set_nonce(MAX_NONCE - 1)
    receiver.set_nonce(MAX_NONCE - 1)
    assert receiver.decrypt_with_ad(b"", sender.encrypt_with_ad(b"", b"last")) == b"last"
    with pytest.raises(ChannelBroken, match="nonce"):
        sender.encrypt_with_ad(b"", b"one too many")
    with pytest.raises(ChannelBroken, match="nonce"):
        receiver.decrypt_with_ad(b"", bytes(16))
    assert sender.nonce == MAX_NONCE


def test_connection_breaks_at_nonce_exhaustion():
    alice, bob = open_pair()
    alice._send.set_nonce(MAX_NONCE - 1)  # white-box: 2^64 frames are not an option
    alice.send_message([b"last frame"])
    with pytest.raises(ChannelBroken, match="nonce"):
        alice.send_message([b"no more"])
    with pytest.raises(ChannelBroken, match="already broken"):
        alice.close()


# --------------------------------------------------------------------------- preamble and prologue


def test_preamble_round_trips_and_parses_incrementally():
    preamble = encode_preamble("alice", "bob-ü")
    for cut in range(len(preamble)):
        assert parse_preamble(preamble[:cut]) is None
    assert parse_preamble(preamble + b"handshake") == ("alice", "bob-ü", len(preamble))
    assert len(encode_preamble("a" * 64, "b" * 64)) == MAX_PREAMBLE_LEN


@pytest.mark.parametrize(
    "garbage",
    [b"G", b"GET / HTTP/1.1\r\n", b"MPCX", b"MPCN\x02", b"MPCN\x01\x00", b"MPCN\x01\x41",
     b"MPCN\x01\x01a\x00", b"MPCN\x01\x02\xff\xfe\x01b", b"MPCN\x01\x01\x07\x01b"],
    ids=["first-byte", "http", "magic", "version", "empty-id", "id-too-long", "empty-responder",
         "not-utf8", "control-char"],
)
def test_preamble_garbage_is_rejected_immediately(garbage):
    with pytest.raises(HandshakeError):
        parse_preamble(garbage)


@pytest.mark.parametrize("bad_id", ["", "x" * 65, "ü" * 33, "tab\there", 7])
def test_over_long_or_invalid_ids_cannot_be_encoded(bad_id):
    with pytest.raises(ConfigError):
        encode_preamble(bad_id, "bob")
    with pytest.raises(ConfigError):
        make_prologue(1, ROSTER_HASH, "alice", bad_id)


def test_prologue_is_unambiguous():
    assert make_prologue(1, ROSTER_HASH, "ab", "c") != make_prologue(1, ROSTER_HASH, "a", "bc")
    assert make_prologue(1, ROSTER_HASH, "a", "b") != make_prologue(2, ROSTER_HASH, "a", "b")
    assert make_prologue(1, ROSTER_HASH, "a", "b") != make_prologue(1, ROSTER_HASH, "b", "a")


# --------------------------------------------------------------------------- interop with noiseprotocol


def their_connection(initiator: bool) -> NoiseConnection:
    them = NoiseConnection.from_name(NOISE_NAME)
    them.set_prologue(PROLOGUE)
    me, peer = (ALICE, BOB) if initiator else (BOB, ALICE)
    (them.set_as_initiator if initiator else them.set_as_responder)()
    them.set_keypair_from_private_bytes(Keypair.STATIC, me[0])
    them.set_keypair_from_public_bytes(Keypair.REMOTE_STATIC, peer[1])
    them.start_handshake()
    return them


@pytest.mark.parametrize("our_role", ["initiator", "responder"])
def test_noiseprotocol_completes_a_handshake_and_exchanges_frames(our_role):
    if our_role == "initiator":
        ours, them = NoiseKK(True, ALICE[0], BOB[1], PROLOGUE), their_connection(initiator=False)
        them.read_message(ours.write_message())
        ours.read_message(them.write_message())
    else:
        ours, them = NoiseKK(False, BOB[0], ALICE[1], PROLOGUE), their_connection(initiator=True)
        ours.read_message(them.write_message())
        them.read_message(ours.write_message())
    assert ours.complete and them.handshake_finished
    assert ours.handshake_hash == them.get_handshake_hash()
    send, receive = ours.split()
    for i in range(5):
        assert them.decrypt(send.encrypt_with_ad(b"", b"ours %d" % i)) == b"ours %d" % i
        assert receive.decrypt_with_ad(b"", them.encrypt(b"theirs %d" % i)) == b"theirs %d" % i
    # REKEY is the spec's function too (Noise section 4.2).
    send.rekey()
    them.rekey_inbound_cipher()
    receive.rekey()
    them.rekey_outbound_cipher()
    assert them.decrypt(send.encrypt_with_ad(b"", b"after rekey")) == b"after rekey"
    assert receive.decrypt_with_ad(b"", them.encrypt(b"after rekey")) == b"after rekey"


def test_noiseprotocol_initiator_speaks_our_framing_to_our_responder():
    bob = ChannelConnection(False, BOB[0], ALICE[1], PROLOGUE, "alice")
    them = their_connection(initiator=True)
    drain(bob, framed(them.write_message()))
    them.read_message(bob.data_to_send()[2:])
    hello = framed(them.encrypt(bytes([HELLO])))
    message = framed(them.encrypt(start_frame(5, b"hello")))
    assert drain(bob, hello + message) == [HandshakeComplete(), Message(bytearray(b"hello"))]
    [reply] = bob.send_message([b"hi ", b"there"])
    assert them.decrypt(reply[2:]) == start_frame(8, b"hi there")


# --------------------------------------------------------------------------- trio adapter


@pytest.fixture
def autojump_clock():
    return trio.testing.MockClock(autojump_threshold=0)


def lookup(name: str) -> bytes | None:
    return {"alice": ALICE[1], "bob": BOB[1]}.get(name)


async def dial(stream, **overrides) -> SecureLink:
    """alice dials bob (``overrides`` replace connect_secure's arguments)."""
    options = dict(my_id="alice", peer_id="bob", static_private=ALICE[0], peer_public=BOB[1], roster_hash=ROSTER_HASH)
    return await connect_secure(stream, **{**options, **overrides})


async def accept(stream, **overrides) -> SecureLink:
    """bob accepts a dialer from the {alice, bob} roster."""
    options = dict(my_id="bob", static_private=BOB[0], lookup_public_key=lookup, roster_hash=ROSTER_HASH)
    return await accept_secure(stream, **{**options, **overrides})


async def linked(stream_pair=trio.testing.memory_stream_pair) -> tuple[SecureLink, SecureLink]:
    """alice's link to bob and bob's link to alice, over an in-memory stream pair."""
    client_stream, server_stream = stream_pair()
    links: dict[str, SecureLink] = {}

    async def run(name, coroutine_function, stream):
        links[name] = await coroutine_function(stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "alice", dial, client_stream)
        nursery.start_soon(run, "bob", accept, server_stream)
    return links["alice"], links["bob"]


@pytest.mark.trio
@pytest.mark.parametrize("stream_pair", [trio.testing.memory_stream_pair, trio.testing.lockstep_stream_pair])
async def test_connect_and_accept_round_trip(stream_pair):
    with trio.fail_after(TEST_DEADLINE):
        alice, bob = await linked(stream_pair)
        assert (alice.peer, bob.peer) == ("bob", "alice")
        big = os.urandom(300_000)

        async def alice_sends():
            await alice.send_message([b"hello ", memoryview(b"bob")])
            await alice.send_message([big])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice_sends)
            assert await bob.receive_message() == b"hello bob"
            assert await bob.receive_message() == big
        async with trio.open_nursery() as nursery:
            nursery.start_soon(bob.send_message, [b"hi alice"])
            assert await alice.receive_message() == b"hi alice"
        assert (alice.messages_sent, bob.messages_received, bob.messages_sent) == (2, 2, 1)
        assert alice.bytes_sent == bob.bytes_received > len(big)
        assert bob.bytes_sent == alice.bytes_received
        async with trio.open_nursery() as nursery:
            nursery.start_soon(alice.aclose, "done")
            with pytest.raises(ChannelBroken, match="'done'"):
                await bob.receive_message()
        await bob.aclose()


def socket_stream_pair() -> tuple[trio.SocketStream, trio.SocketStream]:
    """Two connected trio streams over a real socket pair (so SecureLink uses its direct I/O)."""
    a, b = socket.socketpair()
    return (trio.SocketStream(trio.socket.from_stdlib_socket(a)), trio.SocketStream(trio.socket.from_stdlib_socket(b)))


@pytest.mark.trio
async def test_direct_socket_io_still_honours_cancellation():
    # The socket never blocks here (the data is already there, the buffer has
    # room), so only the explicit cancellation checks can stop these calls.
    with trio.fail_after(TEST_DEADLINE):
        alice, bob = await linked(socket_stream_pair)
        assert type(alice._io).__name__ == "_DirectIO"
        for i in range(3):
            await alice.send_message([b"m%d" % i])
        await trio.sleep(0.05)
        with trio.CancelScope() as scope:
            scope.cancel()
            await bob.receive_message()
        assert scope.cancelled_caught
        with trio.CancelScope() as scope:
            scope.cancel()
            await alice.send_message([b"never sent"])
        assert scope.cancelled_caught
        # Nothing was lost or torn: the link carries on in order.
        assert [await bob.receive_message() for _ in range(3)] == [b"m0", b"m1", b"m2"]
        await alice.send_message([b"after"])
        assert await bob.receive_message() == b"after"
        await alice.aclose()
        with pytest.raises(ChannelBroken):
            await bob.receive_message()
        await bob.aclose()


@pytest.mark.trio
async def test_unknown_dialer_is_rejected_by_name():
    with trio.fail_after(TEST_DEADLINE):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        mallory = keypair()
        async with trio.open_nursery() as nursery:
            async def mallory_dials():
                with pytest.raises(HandshakeError):  # bob hangs up on us
                    await dial(client_stream, my_id="mallory", static_private=mallory[0])
            nursery.start_soon(mallory_dials)
            with pytest.raises(HandshakeError, match="unknown id 'mallory'") as info:
                await accept(server_stream)
        assert info.value.peer == "mallory"


@pytest.mark.trio
async def test_preamble_for_another_party_or_garbage_is_rejected():
    with trio.fail_after(TEST_DEADLINE):
        for data, error in [(encode_preamble("alice", "carol"), "not us"), (b"GET / HTTP/1.1\r\n", "magic")]:
            client_stream, server_stream = trio.testing.memory_stream_pair()
            await client_stream.send_all(data)
            with pytest.raises(HandshakeError, match=error):
                await accept(server_stream)


@pytest.mark.trio
async def test_different_rosters_cannot_connect():
    with trio.fail_after(TEST_DEADLINE):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            async def alice_dials():
                with pytest.raises(HandshakeError):
                    await dial(client_stream, roster_hash=bytes(32))
            nursery.start_soon(alice_dials)
            with pytest.raises(HandshakeError, match="authentication"):
                await accept(server_stream)


@pytest.mark.trio
@pytest.mark.parametrize("sent", [b"", b"MPC", encode_preamble("alice", "bob") + b"\x00\x30" + bytes(20)],
                         ids=["silent", "slow-preamble", "slow-message-1"])
async def test_stalled_dialer_times_out(autojump_clock, sent):
    with trio.fail_after(TEST_DEADLINE):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        await client_stream.send_all(sent)
        start = trio.current_time()
        with pytest.raises(PeerTimeout):
            await accept(server_stream, handshake_timeout=5)
        assert trio.current_time() - start == pytest.approx(5)


@pytest.mark.trio
async def test_silent_listener_times_out(autojump_clock):
    with trio.fail_after(TEST_DEADLINE):
        client_stream, _server_stream = trio.testing.memory_stream_pair()
        with pytest.raises(PeerTimeout) as info:
            await dial(client_stream, handshake_timeout=3)
        assert info.value.peer == "bob"


@pytest.mark.trio
async def test_peer_closing_raises_channel_broken_on_receive():
    with trio.fail_after(TEST_DEADLINE):
        alice, bob = await linked()
        await bob.send_message([b"last words"])
        await bob.aclose("job done")
        await bob.aclose()  # idempotent
        assert await alice.receive_message() == b"last words"
        for _ in range(2):
            with pytest.raises(ChannelBroken, match="peer closed the channel: 'job done'") as info:
                await alice.receive_message()
            assert info.value.peer == "bob"
        with pytest.raises(ChannelBroken, match="link is closed"):
            await bob.send_message([b"after close"])
        with pytest.raises(ChannelBroken, match="peer closed the channel"):
            await alice.send_message([b"to a closed peer"])


@pytest.mark.trio
async def test_oversized_send_is_refused_without_breaking_the_link():
    with trio.fail_after(TEST_DEADLINE):
        client_stream, server_stream = trio.testing.memory_stream_pair()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(accept, server_stream)
            alice = await dial(client_stream, max_message_size=1000)
        with pytest.raises(LocalProtocolViolation):
            await alice.send_message([bytes(1001)])
        assert alice.messages_sent == 0
        await alice.send_message([bytes(1000)])


@pytest.mark.trio
async def test_dropped_connection_raises_channel_broken():
    with trio.fail_after(TEST_DEADLINE):
        alice, bob = await linked()
        await bob._stream.aclose()  # the process died: no CLOSE frame
        with pytest.raises(ChannelBroken, match="without a close frame") as info:
            await alice.receive_message()
        assert info.value.peer == "bob"
        with pytest.raises(ChannelBroken):
            await alice.send_message([b"anyone there?"])


@pytest.mark.trio
async def test_concurrent_senders_never_interleave_frames():
    with trio.fail_after(TEST_DEADLINE):
        alice, bob = await linked(trio.testing.lockstep_stream_pair)
        size = 150_000  # three frames each

        async def sender(tag: int):
            for _ in range(3):
                await alice.send_message([bytes([tag]) * size])

        received = []
        async with trio.open_nursery() as nursery:
            for tag in range(5):
                nursery.start_soon(sender, tag)
            for _ in range(15):
                received.append(await bob.receive_message())
        assert all(len(m) == size and m == bytes([m[0]]) * size for m in received)
        assert sorted(m[0] for m in received) == sorted(list(range(5)) * 3)


def test_announced_size_costs_nothing_until_the_data_arrives():
    import tracemalloc

    alice, send = open_against_raw_responder(max_message_size=256 * 1024 * 1024)
    tracemalloc.start()
    try:
        assert drain(alice, sealed(send, start_frame(256 * 1024 * 1024, b"x"))) == []
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024  # a 27-byte frame does not reserve 256 MiB


def test_rejected_dialer_fails_at_once_marked_rejected_not_unauthentic():
    alice = ChannelConnection(True, ALICE[0], BOB[1], PROLOGUE, "bob")
    alice.start()
    with pytest.raises(HandshakeError, match="rejected our handshake") as info:
        drain(alice, b"\x00\x00")
    # Anyone on the path can forge a REJECT: the mesh retries it, so it must
    # not look like a failed cryptographic check.
    assert info.value.rejected and not info.value.authentication_failed


@pytest.mark.trio
async def test_send_lock_excludes_and_survives_a_cancelled_waiter(autojump_clock):
    # On the mock clock: the sleeps below order the tasks exactly, whatever
    # the machine's load.
    from mpcnet._net.securelink import LinkLock

    lock = LinkLock()
    inside, log = [], []

    async def user(name, hold):
        async with lock:
            inside.append(name)
            assert len(inside) == 1  # never two at once
            await trio.sleep(hold)
            log.append(name)
            inside.remove(name)

    with trio.fail_after(TEST_DEADLINE):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(user, "a", 0.02)
            await trio.sleep(0.005)
            nursery.start_soon(user, "b", 0.01)
            await trio.sleep(0.001)
            doomed = trio.CancelScope()

            async def cancelled_waiter():
                with doomed:
                    await lock.acquire()
                    raise AssertionError("should not get the lock")

            nursery.start_soon(cancelled_waiter)
            await trio.sleep(0.001)
            doomed.cancel()  # leaves the queue without taking the lock
        assert sorted(log) == ["a", "b"] and not lock.locked() and doomed.cancelled_caught
    with pytest.raises(RuntimeError):
        lock.release()


# --------------------------------------------------------------------------- pinned limits and defaults


def test_channel_limits_and_defaults_are_pinned():
    alice, _ = make_pair()
    assert alice.max_message_size == 64 * 2**20 and alice.rekey_interval == 65536
    assert MAX_PREAMBLE_LEN == 4 + 1 + 2 * (1 + 64)
    for connect in (connect_secure, accept_secure):
        assert inspect.signature(connect).parameters["handshake_timeout"].default == 10.0
    assert mpcnet._net.securelink.CLOSE_TIMEOUT == 1.0


def test_default_message_cap_is_64_mib_and_checked_at_the_announcement():
    for announced, refused in ((64 * 2**20, False), (64 * 2**20 + 1, True)):
        alice, send = open_against_raw_responder()
        frame = sealed(send, start_frame(announced, b"x"))
        if refused:
            with pytest.raises(ChannelBroken, match=f"{announced}-byte message; the limit is {64 * 2**20}"):
                drain(alice, frame)
        else:
            assert drain(alice, frame) == []  # waits for the rest


def test_frames_are_filled_to_the_noise_maximum_of_65535_bytes():
    alice, _ = open_pair()
    frames = alice.send_message([bytes(200_000)])
    # 65535 bytes a frame: 16 of tag, 1 of frame type, then 65518 of message (8 of them its length, first)
    assert [len(f) for f in frames] == [2 + 65535] * 3 + [2 + 16 + 1 + 200_008 - 3 * 65518]
    assert all(f[:2] == b"\xff\xff" for f in frames[:3])


def test_default_rekey_interval_is_65536_frames():
    alice, bob = open_pair()
    bob.rekey_interval = 10**9  # bob never rekeys: alice's rekey shows as bob's failure
    alice._send.set_nonce(65534)
    bob._recv.set_nonce(65534)
    for n in (65534, 65535):  # after frame 65535 the nonce is 65536: alice rekeys
        assert drain(bob, alice.send_message([b"frame %d" % n])[0]) == [Message(bytearray(b"frame %d" % n))]
    with pytest.raises(ChannelBroken, match="authentication"):
        drain(bob, alice.send_message([b"frame 65536"])[0])


def test_a_received_close_reason_may_be_200_bytes_not_201():
    for size, ok in ((200, True), (201, False)):
        alice, send = open_against_raw_responder()
        frame = sealed(send, bytes([CLOSE]) + b"r" * size)
        if ok:
            assert drain(alice, frame) == [CloseReceived("r" * 200)]
        else:
            with pytest.raises(ChannelBroken, match="close reason too long"):
                drain(alice, frame)


def test_party_ids_may_be_64_bytes_not_65():
    assert parse_preamble(encode_preamble("a" * 64, "b" * 64))[:2] == ("a" * 64, "b" * 64)
    with pytest.raises(ConfigError):
        encode_preamble("a" * 65, "b")


@pytest.mark.trio
async def test_default_handshake_deadline_is_10_seconds(autojump_clock):
    with trio.fail_after(TEST_DEADLINE):
        _, server_stream = trio.testing.memory_stream_pair()
        start = trio.current_time()
        with pytest.raises(PeerTimeout, match="within 10.0s"):
            await accept(server_stream)
        assert trio.current_time() - start == pytest.approx(10)
        client_stream, _ = trio.testing.memory_stream_pair()
        start = trio.current_time()
        with pytest.raises(PeerTimeout, match="within 10.0s"):
            await dial(client_stream)
        assert trio.current_time() - start == pytest.approx(10)


@pytest.mark.trio
async def test_aclose_waits_1_second_for_a_peer_that_never_reads(autojump_clock):
    # CLOSE_TIMEOUT, in action: the CLOSE frame cannot be delivered (the
    # lockstep stream blocks until bob reads, and bob never does), so aclose
    # gives up after exactly 1 s and still closes the stream.
    with trio.fail_after(TEST_DEADLINE):
        alice, bob = await linked(trio.testing.lockstep_stream_pair)
        start = trio.current_time()
        await alice.aclose("bye")
        assert trio.current_time() - start == pytest.approx(1.0)
        with pytest.raises(ChannelBroken):
            await alice.send_message([b"after close"])
        await bob.aclose()
