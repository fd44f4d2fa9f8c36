"""Curve25519 arithmetic for the PSI protocols (PyNaCl and hashlib only).

Every function here is a plain, picklable function of bytes, so the PSI
protocols can run it on chunks of a large set in worker processes.

The group is the prime-order subgroup (order ``ELL``) of Curve25519, each
point written as its 32-byte Montgomery u-coordinate (the X25519 format).

* ``hash_to_u``: RFC 9380's ``edwards25519_XMD:SHA-512_ELL2_RO_``, a hash
  indifferentiable from a random oracle into the prime-order subgroup:
  ``hash_to_field`` (``expand_message_xmd`` with SHA-512: two field elements
  ``u0, u1`` of 48 bytes each), ``map_to_curve`` (Elligator 2 on Curve25519,
  then the rational map to edwards25519) of each, their sum, and cofactor
  clearing (times 8), under the domain tag :data:`HASH_DST`. The maps'
  square roots are libsodium's (it decodes candidate points: see
  :func:`_map_to_curve_batch`); the sum and the doublings are extended
  Edwards coordinates in Python; the RFC's test vectors check every step
  (tests/test_hash_to_curve.py). Edwards ``(Y : Z)`` then becomes the
  Montgomery ``u = (Z + Y) / (Z - Y)`` (RFC 7748, section 4.1), with one
  modular inversion per chunk (Montgomery's batch-inversion trick).
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

from nacl.bindings import crypto_core_ed25519_add, crypto_scalarmult

__all__ = [
    "ELL",
    "FIELD_P",
    "POINT_BYTES",
    "DIGEST_BYTES",
    "encode_item",
    "expand_message_xmd",
    "hash_to_field",
    "hash_to_edwards",
    "map_to_curve",
    "HASH_DST",
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

#: The domain separation tag of PSI's hash to the curve (RFC 9380, section 3.1: the suite ID ends it).
HASH_DST = b"mpcnet-psi-V02-CS01-with-edwards25519_XMD:SHA-512_ELL2_RO_"
_DIGEST_PERSON = b"mpcnet-psi-v1-dg"  # BLAKE2b personalisation: 16 bytes
_Y_MASK = 2**255 - 1



def _sqrt_even(a: int) -> int:
    """The even square root of a square ``a`` mod p (p = 5 mod 8: ``a^((p+3)/8)``,
    times sqrt(-1) if that squares to ``-a``)."""
    p = FIELD_P
    r = pow(a % p, (p + 3) // 8, p)
    if r * r % p != a % p:
        r = r * pow(2, (p - 1) // 4, p) % p  # 2 is not a square mod p, so 2^((p-1)/4) is sqrt(-1)
    if r * r % p != a % p:
        raise ValueError("not a square")
    return r if r % 2 == 0 else p - r


# RFC 9380 constants for Curve25519 (J = 486662, K = 1, Z = 2, q = 5 mod 8; section 6.7.1,
# appendix G.2.1) and the rational map to edwards25519 (c1 = sqrt(-486664) with sgn0 = 0, G.2.2).
_J = 486662
_C_EXP = (FIELD_P - 5) // 8  # c4 of G.2.1
_SQRT_M1 = _sqrt_even(-1)  # c3 = sqrt(-1) (either root serves: the final sign fix settles it)
_C2 = pow(2, (FIELD_P + 3) // 8, FIELD_P)  # c2 = 2^c1
_SQRT_M486664 = _sqrt_even(-486664)
#: Ed25519 encoding of (i, 0), i = _SQRT_M1 (the even root, sign bit 0): a point of order 4.
_ORDER4_POINT = bytes(32)
_MINUS_I = FIELD_P - _SQRT_M1  # 1/i = -i
_D2 = 2 * (-121665 * pow(121666, -1, FIELD_P)) % FIELD_P  # 2d, d the edwards25519 constant
_SHA512_BLOCK = 128
_SHA512_Z_PAD = hashlib.sha512(bytes(_SHA512_BLOCK))  # expand_message_xmd's Z_pad, hashed once (RFC 9380, 5.3.1)
_L = 48  # bytes per field element: ceil((ceil(log2 p) + k) / 8) with k = 128


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


def expand_message_xmd(msg: bytes, dst: bytes, len_in_bytes: int) -> bytes:
    """RFC 9380, section 5.3.1, with H = SHA-512."""
    ell = -(-len_in_bytes // 64)
    if ell > 255 or len_in_bytes > 65535 or len(dst) > 255:
        raise ValueError("expand_message_xmd: output or DST too long")
    dst_prime = dst + bytes([len(dst)])
    h0 = _SHA512_Z_PAD.copy()
    h0.update(msg + len_in_bytes.to_bytes(2, "big") + b"\x00" + dst_prime)
    b0 = h0.digest()
    blocks = [hashlib.sha512(b0 + b"\x01" + dst_prime).digest()]
    for i in range(2, ell + 1):
        mixed = (int.from_bytes(b0, "big") ^ int.from_bytes(blocks[-1], "big")).to_bytes(64, "big")
        blocks.append(hashlib.sha512(mixed + bytes([i]) + dst_prime).digest())
    return b"".join(blocks)[:len_in_bytes]


def hash_to_field(msg: bytes, dst: bytes, count: int = 2) -> list[int]:
    """RFC 9380, section 5.2, for GF(2^255 - 19) (m = 1, L = 48)."""
    uniform = expand_message_xmd(msg, dst, count * _L)
    return [int.from_bytes(uniform[i * _L : (i + 1) * _L], "big") % FIELD_P for i in range(count)]


def _batch_inverse(values: list[int]) -> list[int]:
    """Inverses mod p of non-zero ``values`` with one pow() (Montgomery's trick)."""
    p = FIELD_P
    prefix = []
    acc = 1
    for d in values:
        prefix.append(acc)
        acc = acc * d % p
    inv = pow(acc, -1, p)
    out = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        out[i] = inv * prefix[i] % p
        inv = inv * values[i] % p
    return out


def _elligator2_montgomery(u: int) -> tuple[int, int, int]:
    """``map_to_curve_elligator2_curve25519`` (RFC 9380, appendix G.2.1, the
    straight-line steps): the point ``(xn / xd, y)`` on Curve25519."""
    p, j = FIELD_P, _J
    tv1 = 2 * u * u % p
    xd = (tv1 + 1) % p  # never 0: -1/2 is not a square mod p
    x1n = p - j
    tv2 = xd * xd % p
    gxd = tv2 * xd % p
    gx1 = (j * tv1 % p * x1n + tv2) % p * x1n % p  # x1n^3 + J x1n^2 xd + x1n xd^2
    tv3 = gxd * gxd % p
    tv2 = tv3 * tv3 % p  # gxd^4
    tv3 = tv3 * gxd % p * gx1 % p  # gx1 gxd^3
    y11 = pow(tv2 * tv3 % p, _C_EXP, p) * tv3 % p  # the one exponentiation
    y1 = y11 if y11 * y11 % p * gxd % p == gx1 else y11 * _SQRT_M1 % p
    e3 = y1 * y1 % p * gxd % p == gx1  # g(x1) is a square: x = x1, else x = x2
    if e3:
        xn, y = x1n, y1
    else:
        xn = x1n * tv1 % p
        y21 = y11 * u % p * _C2 % p
        gx2 = gx1 * tv1 % p
        y = y21 if y21 * y21 % p * gxd % p == gx2 else y21 * _SQRT_M1 % p
    if e3 != (y % 2 == 1):  # sgn0(y) == 1 exactly when g(x1) is a square
        y = (p - y) % p
    return xn, xd, y


def map_to_curve(u: int) -> tuple[int, int]:
    """RFC 9380's ``map_to_curve_elligator2_edwards25519(u)`` (appendix
    G.2.2) as an affine edwards25519 point ``(x, y)``, before cofactor
    clearing: for tests and reference, one point at a time."""
    p = FIELD_P
    xn, xd, y = _elligator2_montgomery(u % p)
    if xd * y % p * ((xn + xd) % p) % p == 0:
        return 0, 1  # the exceptional cases map to the identity
    xm = xn * pow(xd, -1, p) % p
    return _SQRT_M486664 * xm % p * pow(y, -1, p) % p, (xm - 1) * pow(xm + 1, -1, p) % p


def _map_to_curve_batch(us: Sequence[int]) -> list[tuple[int, int]]:
    """:func:`map_to_curve` of every ``u``, without a Python exponentiation
    per element: libsodium decodes points (its square roots run in C), and
    Python only multiplies and batch-inverts.

    For the two Elligator candidates ``x1 = -J / (1 + 2 u^2)`` and ``x2 = -x1 - J``,
    ``y = (x - 1) / (x + 1)`` is the Edwards y of a curve point exactly when
    ``g(x)`` is a square (``x_ed^2 = -486664 x^2 / g(x)``, and -486664 is a
    square), which is when libsodium can decode it. Adding the point of
    order 4 ``T = (i, 0)`` to ``(x0, y)`` gives ``(i y, i x0)``, so the sum's
    encoded y reveals ``x0``, the x libsodium chose. The RFC picks
    ``v = sqrt(g(x))`` with ``sgn0(v) = 1`` exactly when ``g(x1)`` is a
    square, and ``x_ed = c1 x / v``: so ``x_ed = x0`` if ``c1 x / x0`` has
    that parity, else ``-x0``. Exceptional inputs (a zero denominator
    anywhere: probability ~2^-250 each) go through :func:`map_to_curve`."""
    p, add, n = FIELD_P, crypto_core_ed25519_add, len(us)
    x1s = [(p - _J) * inv % p for inv in _batch_inverse([(2 * u * u + 1) % p for u in us])]
    x2s = [(p - x1 - _J) % p for x1 in x1s]
    plus = [(x + 1) % p for x in x1s + x2s]
    slow = {i for i in range(n) if not (plus[i] and plus[n + i] and x2s[i])}
    inv_plus = _batch_inverse([d or 1 for d in plus])
    found: list[tuple[bool, int, int]] = []  # (g(x1) is a square, Montgomery x, Edwards y)
    x0s = []
    for i in range(n):
        hit = None
        for first, x in ((True, x1s[i]), (False, x2s[i])) if i not in slow else ():
            y = (x - 1) * inv_plus[i if first else n + i] % p
            try:
                y_i_x0 = int.from_bytes(add(y.to_bytes(32, "little"), _ORDER4_POINT), "little") & _Y_MASK
            except RuntimeError:  # not a point: g(x) is not a square, so the other candidate's is
                continue
            hit = (first, x, y, y_i_x0 * _MINUS_I % p)  # y' = i x0
            break
        if hit is None or hit[3] == 0:
            slow.add(i)
            hit = (True, 1, 1, 1)
        found.append(hit[:3])
        x0s.append(hit[3])
    out = []
    for i, ((e3, x, y), x0, inv_x0) in enumerate(zip(found, x0s, _batch_inverse(x0s), strict=True)):
        if i in slow:
            out.append(map_to_curve(us[i]))
            continue
        v0 = _SQRT_M486664 * x % p * inv_x0 % p
        out.append((x0 if (v0 & 1) == e3 else p - x0, y))
    return out


def _add(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Extended-coordinates addition on edwards25519 (a = -1; Hisil, Wong,
    Carter and Dawson 2008, "add-2008-hwcd-3")."""
    p = FIELD_P
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % p
    bb = (y1 + x1) * (y2 + x2) % p
    cc = t1 * _D2 % p * t2 % p
    dd = 2 * z1 * z2 % p
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return e * f % p, g * h % p, f * g % p, e * h % p


def _double(a: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Extended-coordinates doubling on edwards25519 ("dbl-2008-hwcd", a = -1)."""
    p = FIELD_P
    x1, y1, z1, _ = a
    aa, bb = x1 * x1 % p, y1 * y1 % p
    cc = 2 * z1 * z1 % p
    e = ((x1 + y1) * (x1 + y1) - aa - bb) % p
    g = bb - aa  # D + B with D = -A
    f, h = g - cc, -aa - bb
    return e * f % p, g * h % p, f * g % p, e * h % p


def _hash_points(msgs: Sequence[bytes], dst: bytes) -> list[tuple[int, int, int, int]]:
    """``P = clear_cofactor(map_to_curve(u0) + map_to_curve(u1))`` for each
    message (RFC 9380, section 3), in extended coordinates."""
    p = FIELD_P
    q = _map_to_curve_batch([u for msg in msgs for u in hash_to_field(msg, dst)])
    out = []
    for (x0, y0), (x1, y1) in zip(q[0::2], q[1::2], strict=True):
        point = _add((x0, y0, 1, x0 * y0 % p), (x1, y1, 1, x1 * y1 % p))
        for _ in range(3):  # h_eff = 8
            point = _double(point)
        out.append(point)
    return out


def hash_to_edwards(msgs: Sequence[bytes], dst: bytes = HASH_DST) -> list[bytes]:
    """RFC 9380 ``edwards25519_XMD:SHA-512_ELL2_RO_`` of each message: the
    32-byte Ed25519 encoding of a point of the prime-order subgroup."""
    p = FIELD_P
    points = _hash_points(msgs, dst)
    out = []
    for (x, y, _, _), inv_z in zip(points, _batch_inverse([pt[2] for pt in points]), strict=True):
        out.append((y * inv_z % p | (x * inv_z % p & 1) << 255).to_bytes(32, "little"))
    return out


def hash_to_u(items: Sequence[bytes]) -> list[int]:
    """u-coordinates (as ints) of ``H(item)`` for encoded items, ``H`` the
    RFC 9380 hash above (a random oracle into the prime-order subgroup):
    ``u = (1 + y) / (1 - y) = (Z + Y) / (Z - Y)`` (RFC 7748, section 4.1)."""
    p = FIELD_P
    points = _hash_points(items, HASH_DST)
    dens = [(z - y) % p for _, y, z, _ in points]
    if not all(dens):  # y = 1 is the identity: a random oracle hits it with probability ~2^-252
        raise ValueError("hash-to-curve produced the identity")
    return [(z + y) * inv % p for (_, y, z, _), inv in zip(points, _batch_inverse(dens), strict=True)]


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
