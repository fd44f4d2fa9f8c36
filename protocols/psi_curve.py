"""Curve25519 arithmetic for the PSI protocols (PyNaCl and hashlib only).

Every function here is a plain, picklable function of bytes, so the PSI
protocols can run it on chunks of a large set in worker processes.

The group is the prime-order subgroup (order ``ELL``) of Curve25519, each
point written as its 32-byte Montgomery u-coordinate (the X25519 format).

* ``hash_to_u``: SHA-512 of a domain tag and the item, libsodium's Elligator 2
  map (``crypto_core_ed25519_from_uniform``, which also clears the cofactor,
  so the point has prime order), then Edwards ``y`` to Montgomery
  ``u = (1 + y) / (1 - y)`` (RFC 7748, section 4.1), with one modular
  inversion per chunk (Montgomery's batch-inversion trick).
* Blinding is X25519 (``crypto_scalarmult``). X25519 clamps its scalar to
  ``k = 2^254 + 8m``; on a point ``P`` of order ``ELL`` it computes
  ``u((k mod ELL) P)``, so blinding commutes: ``X(a, X(b, u)) = X(b, X(a, u))``.
* Unblinding: :func:`scalar_pair` draws a clamped ``a`` for which
  ``a^-1 mod ELL`` also has a clamped representative ``c`` (about half of
  them do), so ``X(c, X(a, u)) = u`` for every ``u`` in the subgroup.

See docs/psi.md for why hashing into the prime-order subgroup matters.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from nacl.bindings import crypto_core_ed25519_from_uniform, crypto_scalarmult

__all__ = [
    "ELL",
    "FIELD_P",
    "POINT_BYTES",
    "DIGEST_BYTES",
    "encode_item",
    "hash_to_u",
    "blind",
    "hash_blind",
    "digest",
    "blind_digest",
    "hash_blind_digest",
    "clamp",
    "scalar_pair",
    "SmallOrderPoint",
]

FIELD_P = 2**255 - 19
#: The order of Curve25519's prime-order subgroup.
ELL = 2**252 + 27742317777372353535851937790883648493
POINT_BYTES = 32
#: Bytes of the per-point digest the compact set encoding is built from.
DIGEST_BYTES = 16

_H2C_DOMAIN = b"mpcnet-psi-v1 hash-to-curve\x00"
_DIGEST_PERSON = b"mpcnet-psi-v1-dg"  # BLAKE2b personalisation: 16 bytes
_Y_MASK = 2**255 - 1


class SmallOrderPoint(ValueError):
    """A peer sent a u-coordinate of small order (X25519 refuses it)."""

    def __init__(self, index: int) -> None:
        super().__init__(index)  # args hold only the index: the exception pickles across processes
        self.index = index

    def __str__(self) -> str:
        return f"point {self.index} has small order"


def encode_item(item: str | bytes) -> bytes:
    """The unambiguous byte string an item is hashed from: a type tag and
    the UTF-8 (str, lone surrogates allowed) or raw (bytes) content, so
    ``"ab"`` and ``b"ab"`` are different items, as they are in Python."""
    if isinstance(item, str):
        return b"s" + item.encode("utf-8", "surrogatepass")
    return b"b" + bytes(item)


def hash_to_u(items: Sequence[bytes]) -> list[int]:
    """u-coordinates (as ints) of ``H(item)`` for encoded items: points of
    prime order, independent and unlinkable to the item without the hash."""
    ys = []
    for item in items:
        edwards = crypto_core_ed25519_from_uniform(hashlib.sha512(_H2C_DOMAIN + item).digest()[:32])
        ys.append(int.from_bytes(edwards, "little") & _Y_MASK)
    # u = (1 + y) / (1 - y): invert every (1 - y) with one pow() (batch inversion).
    p = FIELD_P
    dens = [(1 - y) % p for y in ys]
    prefix = []
    acc = 1
    for d in dens:
        if d == 0:  # y = 1 is the identity; from_uniform never returns it in practice (p ~ 2^-250)
            raise ValueError("hash-to-curve produced the identity")
        prefix.append(acc)
        acc = acc * d % p
    inv = pow(acc, -1, p)
    us = [0] * len(ys)
    for i in range(len(ys) - 1, -1, -1):
        us[i] = (1 + ys[i]) * inv * prefix[i] % p
        inv = inv * dens[i] % p
    return us


def _blind_all(scalar: bytes, points: Sequence[bytes], offset: int = 0) -> list[bytes]:
    out = []
    sm = crypto_scalarmult
    for i, u in enumerate(points):
        try:
            out.append(sm(scalar, u))
        except RuntimeError:  # libsodium refuses low-order inputs (all-zero output)
            raise SmallOrderPoint(offset + i) from None
    return out


def _split(blob: bytes) -> list[bytes]:
    return [blob[i : i + POINT_BYTES] for i in range(0, len(blob), POINT_BYTES)]


def hash_blind(items: Sequence[bytes], scalar: bytes) -> bytes:
    """``X25519(scalar, H(item))`` for each encoded item, concatenated."""
    us = [u.to_bytes(POINT_BYTES, "little") for u in hash_to_u(items)]
    return b"".join(_blind_all(scalar, us))


def blind(blob: bytes, scalar: bytes, offset: int = 0) -> bytes:
    """``X25519(scalar, u)`` for each 32-byte u in ``blob``, concatenated.
    :class:`SmallOrderPoint` (with ``offset`` + position) for a bad point."""
    return b"".join(_blind_all(scalar, _split(blob), offset))


def digest(points: Sequence[bytes]) -> bytes:
    """A 16-byte keyed-by-domain BLAKE2b digest of each point, concatenated:
    uniform bits for the compact set encoding."""
    b2 = hashlib.blake2b
    return b"".join(b2(u, digest_size=DIGEST_BYTES, person=_DIGEST_PERSON).digest() for u in points)


def blind_digest(blob: bytes, scalar: bytes, offset: int = 0) -> bytes:
    """:func:`digest` of :func:`blind`."""
    return digest(_blind_all(scalar, _split(blob), offset))


def hash_blind_digest(items: Sequence[bytes], scalar: bytes) -> bytes:
    """:func:`digest` of :func:`hash_blind`."""
    us = [u.to_bytes(POINT_BYTES, "little") for u in hash_to_u(items)]
    return digest(_blind_all(scalar, us))


def clamp(k: bytes) -> int:
    """The integer X25519 makes of a 32-byte scalar (RFC 7748, decodeScalar25519)."""
    b = bytearray(k)
    b[0] &= 248
    b[31] &= 127
    b[31] |= 64
    return int.from_bytes(b, "little")


def _clamped_representative(residue: int) -> int | None:
    """The clamped integer (``2^254 <= c < 2^255``, ``8 | c``) congruent to
    ``residue`` mod ELL, if there is one (there is at most one: the range
    spans about 4 ELL and the candidates are 8 ELL apart)."""
    j = (-residue * pow(ELL, -1, 8)) % 8  # residue + j ELL = 0 (mod 8)
    c = residue + j * ELL
    while c < 2**254:
        c += 8 * ELL
    return c if c < 2**255 else None


def scalar_pair(random_bytes: Callable[[int], bytes]) -> tuple[bytes, bytes]:
    """A secret blinding scalar and its unblinding scalar, both as 32-byte
    X25519 scalars (already clamped): ``X(inv, X(key, u)) = u`` on the
    prime-order subgroup. ``random_bytes`` must be the OS randomness."""
    while True:
        a = clamp(random_bytes(32))
        c = _clamped_representative(pow(a, -1, ELL))
        if c is not None:
            return a.to_bytes(32, "little"), c.to_bytes(32, "little")
