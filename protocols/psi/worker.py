"""A PSI curve worker process: ``python -m protocols.psi.worker``.

It imports only :mod:`protocols.psi.curve` (PyNaCl and hashlib) and the
package's two docstring-only ``__init__`` modules, not mpcnet, so it starts
in a few tens of milliseconds (:mod:`protocols.psi.work` starts it with the
directory that holds ``protocols`` first on its path).
It reads requests from stdin and writes answers to stdout, one at a time,
until stdin closes. No pickle and no multiprocessing: the parent's
``__main__`` is never re-imported (so a script without an
``if __name__ == "__main__"`` guard can use the PSI protocols) and nothing is
forked from a process that runs threads.

Request: ``op (1 byte) | scalar (32) | offset (8) | payload length (8) | payload``
where the payload is a point blob for the point operations and
``count (4) | count x length (4 each) | items`` for the item operations.
Answer: ``status (1) | length (8) | data``; status 0 is success (data: the
result blob), 1 a point of small order (data: its 8-byte index), 2 any other
error (data: the exception's class name).
"""

from __future__ import annotations

import struct
import sys
from array import array
from typing import IO

from . import curve

__all__ = ["OPS", "encode_request", "read_exact", "serve", "pack_items", "unpack_items"]

REQUEST = struct.Struct("<B32sQQ")
ANSWER = struct.Struct("<BQ")
#: op code -> (function, takes items (True) or a point blob (False))
OPS = {
    1: (curve.hash_blind, True),
    2: (curve.hash_blind_digest, True),
    3: (curve.blind, False),
    4: (curve.blind_digest, False),
}
OP_OF = {func: op for op, (func, _) in OPS.items()}


def pack_items(items: list[bytes]) -> bytes:
    """``count | lengths | items`` (little-endian 32-bit counts and lengths)."""
    lengths = array("I", (len(x) for x in items))
    if sys.byteorder != "little":  # pragma: no cover
        lengths.byteswap()
    return struct.pack("<I", len(items)) + lengths.tobytes() + b"".join(items)


def unpack_items(payload: bytes) -> list[bytes]:
    """The inverse of :func:`pack_items`."""
    (count,) = struct.unpack_from("<I", payload)
    lengths = array("I")
    lengths.frombytes(payload[4 : 4 + 4 * count])
    if sys.byteorder != "little":  # pragma: no cover
        lengths.byteswap()
    items, pos = [], 4 + 4 * count
    for n in lengths:
        items.append(payload[pos : pos + n])
        pos += n
    return items


def encode_request(op: int, scalar: bytes, offset: int, payload: bytes) -> bytes:
    """One request frame."""
    return REQUEST.pack(op, scalar, offset, len(payload)) + payload


def read_exact(stream: IO[bytes], n: int) -> bytes:
    """Exactly ``n`` bytes, or EOFError."""
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError("stream closed")
    return data


def _answer(op: int, scalar: bytes, offset: int, payload: bytes) -> tuple[int, bytes]:
    func, takes_items = OPS[op]
    try:
        if takes_items:
            return 0, func(unpack_items(payload), scalar)  # type: ignore[operator]
        return 0, func(payload, scalar, offset)  # type: ignore[operator]
    except curve.SmallOrderPoint as exc:
        return 1, struct.pack("<Q", exc.index)
    except Exception as exc:  # reported to the parent, which raises it as an error of its own
        return 2, type(exc).__name__.encode()


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Answer requests until ``stdin`` ends."""
    while True:
        try:
            op, scalar, offset, length = REQUEST.unpack(read_exact(stdin, REQUEST.size))
            payload = read_exact(stdin, length)
        except EOFError:
            return
        status, data = _answer(op, scalar, offset, payload)
        stdout.write(ANSWER.pack(status, len(data)))
        stdout.write(data)
        stdout.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
