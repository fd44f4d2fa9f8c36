"""The wire codec: round trips, the type whitelist and hard limits."""

from __future__ import annotations

import tracemalloc

import attrs
import msgpack
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcnet import wire
from mpcnet.errors import WireError


def roundtrip(value, limits=wire.DEFAULT_LIMITS):
    return wire.decode(b"".join(wire.encode(value, limits)), limits)


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50) | st.binary(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


@given(values)
@settings(max_examples=300)
def test_allowed_values_round_trip(value):
    assert roundtrip(value) == value


@given(st.integers(min_value=-(2**4000), max_value=2**4000))
def test_integers_of_any_size_round_trip(n):
    assert roundtrip(n) == n


@pytest.mark.parametrize("dtype", ["<u1", "<u2", "<u4", "<u8", "<i1", "<i2", "<i4", "<i8", "bool"])
def test_arrays_round_trip_with_dtype_and_shape(dtype):
    arr = (np.arange(24) % 2).astype(dtype).reshape(2, 3, 4)
    out = roundtrip({"a": arr, "b": [arr[0], 5]})
    assert out["a"].dtype == np.dtype(dtype) and out["a"].shape == (2, 3, 4)
    np.testing.assert_array_equal(out["a"], arr)
    np.testing.assert_array_equal(out["b"][0], arr[0])


def test_big_endian_and_strided_arrays_are_normalised():
    arr = np.arange(10, dtype=">u8")[::2]
    out = roundtrip(arr)
    assert out.dtype == np.dtype("<u8")
    np.testing.assert_array_equal(out, [0, 2, 4, 6, 8])


def test_large_array_is_sent_without_copying():
    arr = np.arange(10**6, dtype=np.uint64)
    parts = wire.encode([1, arr])
    # The array travels as a view of its own memory, not a copy.
    assert isinstance(parts[1], memoryview)
    assert np.shares_memory(np.frombuffer(parts[1], dtype=np.uint64), arr)
    data = bytearray(b"".join(parts))
    out = wire.decode(data)
    assert np.shares_memory(out[1], np.frombuffer(data, dtype=np.uint8))  # decoded as a view
    np.testing.assert_array_equal(out[1], arr)


@pytest.mark.parametrize("bad", [1.5, {1.5: 2}, {(1, 2): 3}, {1: 2}, object(), {1, 2}, np.float64(1.0), np.zeros(3)])
def test_disallowed_types_are_refused_when_encoding(bad):
    with pytest.raises(WireError):
        wire.encode(bad)


def _raw(value) -> bytes:
    header = msgpack.packb(value, use_bin_type=True)
    return len(header).to_bytes(4, "big") + header


@pytest.mark.parametrize("value", [1.5, [1, [2.5]], msgpack.ExtType(7, b"x"), msgpack.ExtType(2, b"\x00\x00\x01")])
def test_disallowed_types_are_refused_when_decoding(value):
    with pytest.raises(WireError):
        wire.decode(_raw(value))


def test_non_string_map_keys_are_refused():
    with pytest.raises(WireError):
        wire.decode(_raw({b"k": 1}))


def test_limits_on_containers_strings_and_nesting():
    limits = wire.Limits(max_items=10, max_str=16, max_bytes=16, max_depth=4)
    with pytest.raises(WireError):
        wire.decode(_raw(list(range(11))), limits)
    with pytest.raises(WireError):
        wire.decode(_raw("x" * 17), limits)
    with pytest.raises(WireError):
        wire.decode(_raw(b"x" * 17), limits)
    with pytest.raises(WireError):
        wire.decode(_raw([[[[[[1]]]]]]), limits)
    assert wire.decode(_raw(list(range(10))), limits) == list(range(10))
    # The decoder draws the depth line where the encoder does, scalars in
    # lists included: depth 4 passes both, depth 5 neither.
    assert wire.decode(_raw([[[[1]]]]), limits) == [[[[1]]]] == wire.decode(b"".join(wire.encode([[[[1]]]], limits)), limits)
    for deep in ([[[[[1]]]]], {"a": [[[[1]]]]}):
        with pytest.raises(WireError):
            wire.encode(deep, limits)
        with pytest.raises(WireError):
            wire.decode(_raw(deep), limits)


def test_message_and_header_size_limits():
    limits = wire.Limits(max_message=1000, max_header=100)
    with pytest.raises(WireError):
        wire.encode(np.zeros(200, dtype=np.uint64), limits)
    with pytest.raises(WireError):
        wire.encode("x" * 200, limits)
    with pytest.raises(WireError):
        wire.decode(b"\x00" * 1001, limits)


@pytest.mark.parametrize("data", [b"", b"\x00\x00", b"\x00\x00\x00\x05abc", b"\xff\xff\xff\xff" + b"\x00" * 10])
def test_truncated_or_lying_header_lengths(data):
    with pytest.raises(WireError):
        wire.decode(data)


def test_array_descriptor_must_match_the_body():
    parts = wire.encode(np.arange(4, dtype=np.uint64))
    data = b"".join(parts)
    with pytest.raises(WireError):
        wire.decode(data[:-1])  # body shorter than the descriptor says
    with pytest.raises(WireError):
        wire.decode(data + b"\x00")  # trailing bytes


def test_bigint_must_be_minimal():
    with pytest.raises(WireError):
        wire.decode(_raw(msgpack.ExtType(2, b"\x00\x05")))  # fits in 64 bits: must be a plain int


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_random_bytes_only_raise_wire_error(data):
    try:
        wire.decode(data)
    except WireError:
        pass


@given(values, st.data())
@settings(max_examples=300)
def test_mutated_messages_only_raise_wire_error(value, data):
    raw = bytearray(b"".join(wire.encode(value)))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    try:
        wire.decode(bytes(raw))
    except WireError:
        pass


def test_msgpack_timestamps_are_refused():
    # ext type -1 is decoded by msgpack itself, bypassing ext_hook
    with pytest.raises(WireError, match="Timestamp"):
        wire.decode(_raw(msgpack.Timestamp(1, 0)))


def test_decoded_arrays_are_read_only():
    out = wire.decode(bytearray(b"".join(wire.encode(np.arange(3, dtype=np.uint64)))))
    with pytest.raises(ValueError):
        out[0] = 5


def _empty_lists_header(count: int) -> bytes:
    """A message whose header is ``count`` one-byte empty lists, in lists of
    at most 100,000 (the container limit): the costliest header per byte."""
    chunks = [[[] for _ in range(min(100_000, count - i))] for i in range(0, count, 100_000)]
    return _raw(chunks)


def test_a_million_empty_lists_are_refused_before_they_are_built():
    # 1 MiB of header that would decode to ~65 MiB of Python lists.
    data = _empty_lists_header(1_000_000)
    assert len(data) < 1_100_000
    tracemalloc.start()
    try:
        with pytest.raises(WireError, match="more than 262144 objects"):
            wire.decode(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < wire.DEFAULT_LIMITS.max_objects * wire.OBJECT_COST  # 16 MiB


def test_decoded_cost_bounds_the_memory_a_message_holds():
    for value in ([[] for _ in range(50_000)], [{} for _ in range(50_000)], [{"k": []} for _ in range(30_000)],
                  [-20] * 80_000, ["ab"] * 80_000, {f"key{i}": i for i in range(40_000)}, [b"xy"] * 80_000):
        data = _raw(value)
        # tracemalloc counts every thread's allocations: in a full run a thread left by an earlier
        # test can add to one window, never take away, so the least of three windows is the decoder's.
        helds = []
        for _ in range(3):
            tracemalloc.start()
            try:
                decoded, cost = wire.decode_with_cost(data)
                helds.append(tracemalloc.get_traced_memory()[0])
            finally:
                tracemalloc.stop()
            assert decoded == value
            del decoded
        assert min(helds) <= cost - len(data) < 200 * len(data)  # the bound holds, and is not absurdly loose
    parts = wire.encode({"a": np.zeros(1000, dtype=np.uint64), "b": 5})
    assert wire.decode_with_cost(b"".join(parts))[1] <= wire.encoded_size(parts) + 2048  # arrays cost their bytes


# --- pinned limits: changing a default must change this test -----------------

def test_default_limits_are_pinned():
    assert wire.DEFAULT_LIMITS == wire.Limits() == wire.Limits(
        max_message=256 * 2**20, max_header=2**20, max_items=100_000, max_str=64 * 1024, max_bytes=2**20,
        max_bigint_bytes=1024, max_depth=16, max_arrays=64, max_objects=262_144)
    assert wire.OBJECT_COST == 64


def _nested(depth, container=list):
    """``depth`` lists (or maps) one inside the other around a 1."""
    value: object = 1
    for _ in range(depth):
        value = [value] if container is list else {"k": value}
    return value


# At each limit, then one over: 100,000 items (msgpack's own cap, as we set
# it); 64 KiB strings; a 1 MiB header (bin32 takes 5 bytes of type and
# length); 1024 bytes of big-integer magnitude; 16 levels of nesting (lists or maps).
@pytest.mark.parametrize(("limit", "at", "over", "why"), [
    pytest.param("items", [0] * 100_000, [0] * 100_001, "malformed message header", id="items"),
    pytest.param("str", "x" * (64 * 1024), "x" * (64 * 1024 + 1), "malformed message header", id="str"),
    pytest.param("header", b"\x00" * (2**20 - 5), b"\x00" * (2**20 - 4), "header length is over the limit", id="header"),
    pytest.param("bigint", 2 ** (8 * 1024) - 1, 2 ** (8 * 1024), "oversized big integer", id="bigint"),
    pytest.param("depth", _nested(16), _nested(17), "nested too deeply", id="depth"),
    pytest.param("depth", _nested(16, dict), _nested(17, dict), "nested too deeply", id="depth-maps"),
])
def test_each_default_limit_holds_at_its_value_and_refuses_one_more(limit, at, over, why):
    def raw(value):  # as a peer may send it: the encoder's own checks bypassed where it has them
        return b"".join(bytes(p) for p in wire.encode(value)) if limit == "bigint" else _raw(value)

    assert wire.decode(raw(at)) == at
    with pytest.raises(WireError, match=why):
        wire.decode(raw(over))


def test_default_array_count_and_message_size_limits():
    arrays = [np.zeros(1, dtype=np.uint8)] * 64
    assert len(wire.decode(b"".join(bytes(p) for p in wire.encode(arrays)))) == 64
    with pytest.raises(WireError, match="more than the limit of 64"):
        wire.encode([*arrays, arrays[0]])
    # as a peer may send 65 (its encoder's check raised): the decoder refuses them too
    sent = b"".join(bytes(p) for p in wire.encode([*arrays, arrays[0]], attrs.evolve(wire.DEFAULT_LIMITS, max_arrays=65)))
    with pytest.raises(WireError, match="too many or malformed arrays"):
        wire.decode(sent)
    # A 256 MiB message passes the size check (and fails later, on its empty
    # header); one byte more is refused before it is read. np.zeros maps
    # pages it never touches: nothing is allocated for real.
    with pytest.raises(WireError) as info:
        wire.decode(memoryview(np.zeros(256 * 2**20, dtype=np.uint8)))
    assert "exceeds" not in info.value.message
    with pytest.raises(WireError, match=f"message of {256 * 2**20 + 1} bytes exceeds the {256 * 2**20}-byte limit"):
        wire.decode(memoryview(np.zeros(256 * 2**20 + 1, dtype=np.uint8)))
