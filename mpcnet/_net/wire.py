"""The wire codec: msgpack with hard limits, a type whitelist and zero-copy arrays.

An encoded message is::

    4-byte big-endian header length | msgpack header | raw array buffers ...

The header is an ordinary msgpack document. Every numpy array in the value is
replaced in the header by an ``ARRAY`` extension that records its dtype, shape
and byte length; the array's bytes follow the header, in order, untouched.
That lets a 10^6-element share vector go from numpy to the secure channel as a
``memoryview`` (no ``tobytes()`` copy, no msgpack copy) and come back as a
``numpy.frombuffer`` view of the reassembled message (no copy at all).

Allowed values: ``None``, ``bool``, ``int`` of any size (outside the 64-bit
range as a ``BIGINT`` extension), ``str``, ``bytes``, ``list``/``tuple``
(decoded as ``list``), ``dict`` with ``str`` keys, and numpy arrays
of the dtypes in :data:`ARRAY_DTYPES`. Anything else (floats included: shares
are integers, and a float on the wire is a bug) is refused at both ends with
:class:`~mpcnet.errors.WireError`. Pickle is never used.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from typing import Any

import attrs
import msgpack
import numpy as np

from ..errors import WireError

__all__ = [
    "ARRAY_DTYPES",
    "Limits",
    "DEFAULT_LIMITS",
    "encode",
    "decode",
    "decode_with_cost",
    "encoded_size",
    "OBJECT_COST",
]

_EXT_ARRAY = 1
_EXT_BIGINT = 2

#: dtype code on the wire -> numpy dtype (always little-endian on the wire).
ARRAY_DTYPES: dict[int, np.dtype[Any]] = {
    1: np.dtype("<u1"),
    2: np.dtype("<u2"),
    3: np.dtype("<u4"),
    4: np.dtype("<u8"),
    5: np.dtype("<i1"),
    6: np.dtype("<i2"),
    7: np.dtype("<i4"),
    8: np.dtype("<i8"),
    9: np.dtype("bool"),
}
_DTYPE_CODES = {dt: code for code, dt in ARRAY_DTYPES.items()}
_DTYPE_SIZES = {code: (dt, dt.itemsize) for code, dt in ARRAY_DTYPES.items()}

_HEADER_LEN = struct.Struct(">I")

#: Bytes charged for each object a header decodes to, on top of the
#: message's own bytes (:func:`decode_with_cost`). Measured under CPython
#: 3.11 with tracemalloc, the costliest headers (a million empty lists or
#: maps, one-entry maps, short strings, negative fixints) take 32 to 60
#: bytes per counted object besides their wire bytes (a map counts three
#: objects per entry: a 40,000-key map takes ~160 bytes per entry); 64
#: bounds them all.
OBJECT_COST = 64
#: Objects charged for each array (its ndarray and memoryview objects).
_ARRAY_OBJECTS = 8


def _positive(_inst: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive")


@attrs.frozen
class Limits:
    """Hard limits the decoder enforces before it allocates.

    ``max_message`` caps a whole encoded message (header plus arrays);
    ``max_header`` caps the msgpack header; the container and string limits
    are handed to msgpack's unpacker; ``max_bigint_bytes`` caps integers
    beyond 64 bits; ``max_depth`` caps nesting; ``max_objects`` caps the
    objects a header decodes to (every container counts one plus one per
    item, a map three per entry), so that decoding one message never holds
    more than ``max_objects * OBJECT_COST`` bytes of Python objects: a 1 MiB
    header of one-byte empty lists would otherwise be about 70 MiB.
    """

    max_message: int = attrs.field(default=256 * 1024 * 1024, validator=_positive)
    max_header: int = attrs.field(default=1024 * 1024, validator=_positive)
    max_items: int = attrs.field(default=100_000, validator=_positive)
    max_str: int = attrs.field(default=64 * 1024, validator=_positive)
    max_bytes: int = attrs.field(default=1024 * 1024, validator=_positive)
    max_bigint_bytes: int = attrs.field(default=1024, validator=_positive)
    max_depth: int = attrs.field(default=16, validator=_positive)
    max_arrays: int = attrs.field(default=64, validator=_positive)
    max_objects: int = attrs.field(default=262_144, validator=_positive)


DEFAULT_LIMITS = Limits()


#: Array descriptor layouts by number of dimensions: dtype code, ndim, byte
#: length, then the shape.
_DESC_BY_NDIM = [struct.Struct(f">BBQ{ndim}Q") for ndim in range(9)]


def _encode_array(arr: np.ndarray[Any, Any], buffers: list[memoryview]) -> msgpack.ExtType:
    code = _DTYPE_CODES.get(arr.dtype)  # native little-endian dtypes hit directly
    if code is None:
        dt = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
        code = _DTYPE_CODES.get(np.dtype(dt))
        if code is None:
            raise WireError(f"numpy dtype {arr.dtype} is not allowed on the wire")
    if arr.dtype != ARRAY_DTYPES[code] or not arr.flags.c_contiguous:
        # Only non-native byte order or a strided view costs a copy here.
        arr = np.asarray(arr, dtype=ARRAY_DTYPES[code], order="C")  # keeps 0-d shapes
    if arr.ndim > 8:
        raise WireError("arrays of more than 8 dimensions are not allowed on the wire")
    view = arr.data.cast("B") if arr.size else memoryview(b"")
    buffers.append(view)
    # (tuple.__new__: ExtType's own __new__ re-checks, in Python, what is
    # known here: an int code in range and bytes data.)
    return _new_ext(msgpack.ExtType, (_EXT_ARRAY, _DESC_BY_NDIM[arr.ndim].pack(code, arr.ndim, view.nbytes,
                                                                                 *arr.shape)))


def _encode_bigint(value: int) -> msgpack.ExtType:
    sign = b"\x01" if value < 0 else b"\x00"
    mag = abs(value)
    return msgpack.ExtType(_EXT_BIGINT, sign + mag.to_bytes((mag.bit_length() + 7) // 8, "big"))


_PLAIN = (type(None), bool, str, bytes)
_new_ext = tuple.__new__
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1


def _prepare(value: Any, buffers: list[memoryview], depth: int, max_depth: int) -> Any:
    """Walk a value, checking types and swapping arrays and big ints for
    extensions; the walk is what makes the whitelist exact (msgpack's own
    ``default`` hook would accept floats silently)."""
    if depth > max_depth:
        raise WireError("value is nested too deeply for the wire")
    kind = type(value)
    # Exact types first (the common cases, one dict-free test each), then
    # subclasses the slow way.
    if kind is np.ndarray:
        return _encode_array(value, buffers)
    if kind is int:
        return value if -(2**63) <= value < 2**64 else _encode_bigint(value)
    if kind in _PLAIN:
        return value
    if kind is list or kind is tuple:
        # Items that are plain scalars are taken as they are, without a
        # call each (an envelope is five items, mostly small ints). Items sit
        # one level deeper, so a full list at the depth limit is refused, as
        # the call for its first item would.
        if value and depth >= max_depth:
            raise WireError("value is nested too deeply for the wire")
        out_list = []
        for v in value:
            vk = type(v)
            if (vk is int and _INT_MIN <= v <= _INT_MAX) or vk in _PLAIN:
                out_list.append(v)
            else:
                out_list.append(_prepare(v, buffers, depth + 1, max_depth))
        return out_list
    if isinstance(value, (str, bytes)):  # subclasses (None and bool are in _PLAIN; bool is final)
        return value
    if isinstance(value, int):
        if -(2**63) <= value < 2**64:
            return int(value)
        return _encode_bigint(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.ndarray):
        return _encode_array(value, buffers)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, (list, tuple)):
        return [_prepare(v, buffers, depth + 1, max_depth) for v in value]
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise WireError(f"map keys must be str, not {type(k).__name__}")
            out[k] = _prepare(v, buffers, depth + 1, max_depth)
        return out
    raise WireError(f"type {type(value).__name__} is not allowed on the wire")


_packer = msgpack.Packer(use_bin_type=True)
_packer_lock = threading.Lock()


def encode(value: Any, limits: Limits = DEFAULT_LIMITS) -> list[bytes | memoryview]:
    """Encode ``value`` as a list of buffers to be sent back to back.

    The first buffer holds the length-prefixed msgpack header; the rest are
    the arrays' own memory (views, not copies), so callers must not mutate
    the arrays until the buffers are sent. Raises :class:`WireError` for a
    disallowed type or a message over ``limits.max_message``.
    """
    buffers: list[memoryview] = []
    prepared = _prepare(value, buffers, 0, limits.max_depth)
    # One packer for the module instead of one per message (packb builds
    # a new one each call); a thread that finds it busy builds its own.
    if _packer_lock.acquire(False):
        try:
            header = _packer.pack(prepared)
        finally:
            _packer_lock.release()
    else:
        header = msgpack.packb(prepared, use_bin_type=True)
    if len(header) > limits.max_header:
        raise WireError(f"message header of {len(header)} bytes exceeds the {limits.max_header}-byte limit")
    if len(buffers) > limits.max_arrays:
        raise WireError(f"message carries {len(buffers)} arrays, more than the limit of {limits.max_arrays}")
    total = _HEADER_LEN.size + len(header) + sum(b.nbytes for b in buffers)
    if total > limits.max_message:
        raise WireError(f"message of {total} bytes exceeds the {limits.max_message}-byte limit")
    return [_HEADER_LEN.pack(len(header)) + header, *buffers]


def encoded_size(parts: Sequence[bytes | bytearray | memoryview]) -> int:
    """Total byte length of an encoded message (its parts are bytes or
    flat byte memoryviews; called once per message on the send path)."""
    total = 0
    for p in parts:  # (a loop: a generator costs more than the sum for a message of two parts)
        total += p.nbytes if type(p) is memoryview else len(p)
    return total


class _ArrayRefs:
    """Resolves ARRAY extensions against the region after the header, and
    counts the objects the header decodes to (msgpack calls the hooks as
    each container is completed, so a header over ``max_objects`` is
    refused before the rest of it is built)."""

    def __init__(self, body: memoryview, limits: Limits) -> None:
        self.body = body
        self.offset = 0
        self.count = 0
        self.objects = 1  # the root
        self.limits = limits

    def _add_objects(self, n: int) -> None:
        self.objects += n
        if self.objects > self.limits.max_objects:
            raise WireError(f"message header decodes to more than {self.limits.max_objects} objects")

    def list_hook(self, value: list[Any]) -> list[Any]:
        self.objects += 1 + len(value)  # (_add_objects written out: once per list)
        if self.objects > self.limits.max_objects:
            self._add_objects(0)  # (raises)
        return value

    def map_hook(self, value: dict[Any, Any]) -> dict[Any, Any]:
        self._add_objects(1 + 3 * len(value))  # a key, a value and its slot in the table
        return value

    def ext_hook(self, code: int, data: bytes) -> Any:
        if code == _EXT_ARRAY:
            return self._array(data)
        if code == _EXT_BIGINT:
            if len(data) < 2 or len(data) - 1 > self.limits.max_bigint_bytes or data[0] > 1:
                raise WireError("malformed or oversized big integer")
            if data[1] == 0:
                raise WireError("big integer is not minimally encoded")
            mag = int.from_bytes(data[1:], "big")
            value = -mag if data[0] else mag
            if -(2**63) <= value < 2**64:
                raise WireError("big integer is not minimally encoded")
            return value
        raise WireError(f"extension type {code} is not allowed on the wire")

    def _array(self, data: bytes) -> np.ndarray[Any, Any]:
        self.count += 1
        self.objects += _ARRAY_OBJECTS  # (_add_objects written out: once per array)
        if self.objects > self.limits.max_objects:
            self._add_objects(0)  # (raises)
        if self.count > self.limits.max_arrays or len(data) < 2:
            raise WireError("too many or malformed arrays")
        ndim = data[1]  # the descriptor's second byte (">BBQ" + ndim x "Q")
        if ndim > 8 or len(data) != _DESC_BY_NDIM[ndim].size:
            raise WireError("malformed array descriptor")
        dtype_code, _, nbytes, *shape = _DESC_BY_NDIM[ndim].unpack(data)
        known = _DTYPE_SIZES.get(dtype_code)
        if known is None:
            raise WireError("malformed array descriptor")
        dtype, itemsize = known
        count = 1
        for d in shape:
            count *= d
        if count * itemsize != nbytes or nbytes > self.body.nbytes - self.offset:
            raise WireError("array descriptor does not match the message body")
        chunk = self.body[self.offset : self.offset + nbytes]
        self.offset += nbytes
        arr = np.frombuffer(chunk, dtype=dtype) if nbytes else np.zeros(0, dtype=dtype)
        if ndim != 1:
            arr = arr.reshape(shape)
        if arr.flags.writeable:
            # A view of the message buffer: never write through it. (A view
            # of a read-only buffer, as of the bytes a link hands over, is
            # read-only already, and setting the flag is dear.)
            arr.flags.writeable = False
        return arr


_SCALARS = (type(None), bool, int, str, bytes, np.ndarray)


def _check_types(value: Any, depth: int, limits: Limits) -> None:
    """Allow-list the decoded value: msgpack can also produce floats and
    Timestamps (ext type -1 bypasses ext_hook); neither is ours."""
    if depth > limits.max_depth:
        raise WireError("message is nested too deeply")
    kind = type(value)
    if kind is list:
        if value and depth >= limits.max_depth:  # its items sit one level deeper, as encode counts them
            raise WireError("message is nested too deeply")
        for v in value:
            if type(v) in _SCALARS:  # the common case, without a call
                continue
            _check_types(v, depth + 1, limits)
    elif kind is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise WireError("map keys must be strings")
            _check_types(v, depth + 1, limits)
    elif kind not in _SCALARS:
        raise WireError(f"type {kind.__name__} is not allowed on the wire")


def decode(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode one message produced by :func:`encode`.

    Arrays come back as read-only views into ``data`` (keep ``data`` alive,
    do not mutate it). Every malformation, limit breach or disallowed type
    raises :class:`WireError`; nothing else escapes.
    """
    return decode_with_cost(data, limits)[0]


def decode_with_cost(data: bytes | bytearray | memoryview, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, int]:
    """:func:`decode`, and an upper bound in bytes on the memory the decoded
    value holds: the message's bytes (which its arrays view) plus
    :data:`OBJECT_COST` per decoded object. Whoever keeps decoded messages
    budgets them at this cost, not at their wire size."""
    view = memoryview(data)
    if view.nbytes > limits.max_message:
        raise WireError(f"message of {view.nbytes} bytes exceeds the {limits.max_message}-byte limit")
    if view.nbytes < _HEADER_LEN.size:
        raise WireError("message too short for its header length")
    (hlen,) = _HEADER_LEN.unpack_from(view)
    if hlen > limits.max_header or hlen > view.nbytes - _HEADER_LEN.size:
        raise WireError("header length is over the limit or past the end of the message")
    header = view[_HEADER_LEN.size : _HEADER_LEN.size + hlen]
    refs = _ArrayRefs(view[_HEADER_LEN.size + hlen :], limits)
    try:
        value = msgpack.unpackb(
            header,
            raw=False,
            strict_map_key=True,
            use_list=True,
            ext_hook=refs.ext_hook,
            list_hook=refs.list_hook,
            object_hook=refs.map_hook,
            max_str_len=limits.max_str,
            max_bin_len=limits.max_bytes,
            max_array_len=limits.max_items,
            max_map_len=limits.max_items,
            max_ext_len=_DESC_BY_NDIM[8].size + limits.max_bigint_bytes,
        )
    except WireError:
        raise
    except Exception as exc:  # msgpack raises several types; all mean "malformed"
        raise WireError(f"malformed message header ({type(exc).__name__})") from None
    if refs.offset != refs.body.nbytes:
        raise WireError("message has trailing bytes after its arrays")
    _check_types(value, 0, limits)
    return value, view.nbytes + OBJECT_COST * refs.objects
