"""Finite fields for secret sharing, vectorised over numpy arrays.

* :data:`GF256` — GF(2^8) (the AES field, x^8 + x^4 + x^3 + x + 1). Bits live
  here as the elements 0 and 1: XOR is field addition (free, local), AND is
  field multiplication (one round after Shamir degree reduction). Elements
  are ``uint8``; multiplication is one lookup in a 64 KiB table. Up to 255
  parties (evaluation points 1..255).
* :class:`PrimeField` — Z_p for arithmetic. The default, :data:`P127`, uses
  the Mersenne prime 2^127 - 1: room for k-bit values plus a 40-bit
  statistical masking margin (how large k may be: :mod:`mpcnet.mpc.convert`). Elements are numpy ``object`` arrays of
  Python ints (exact, any size); on the wire they travel as fixed-width
  little-endian 64-bit limbs, never as pickled objects.

Both expose the same small interface (:class:`Field`), so Shamir sharing,
multiplication and opening are written once (:mod:`mpcnet.mpc.shamir`).
"""

from __future__ import annotations

import secrets
from typing import Any, Protocol

import numpy as np

from ..errors import RemoteProtocolViolation
from ..randomness import Randomness

__all__ = ["Field", "GF256Field", "GF256", "PrimeField", "P127"]

Array = np.ndarray[Any, Any]


class Field(Protocol):
    """What :mod:`mpcnet.mpc.shamir` needs from a field."""

    name: str
    order: int

    def __hash__(self) -> int: ...  # fields are singletons, used as cache keys
    def zeros(self, shape: Any) -> Array: ...
    def const(self, value: int, shape: Any) -> Array: ...
    def from_ints(self, values: Any) -> Array: ...
    def add(self, a: Array, b: Array) -> Array: ...
    def sub(self, a: Array, b: Array) -> Array: ...
    def mul(self, a: Array, b: Array) -> Array: ...
    def scale(self, c: int, a: Array) -> Array: ...
    def sum(self, a: Array, axis: int = -1) -> Array: ...
    def cumsum(self, a: Array, axis: int = -1) -> Array: ...
    def inv_scalar(self, c: int) -> int: ...
    def random(self, count: int, random: Randomness) -> Array: ...
    def to_wire(self, a: Array) -> Array: ...
    def from_wire(self, w: Any, shape: tuple[int, ...], peer: str) -> Array: ...
    def wire_shape(self, w: Any) -> tuple[int, ...] | None: ...


#: Elements per step of a large GF(2^8) lookup. ``ndarray.take`` turns its
#: indices into 8-byte ``intp`` first: on a whole 10^6 x 32 share array that
#: is a 256 MB temporary, above glibc's largest mmap threshold (32 MB), so
#: every product mapped fresh pages and the kernel zeroed them (a third of
#: a party's CPU time at 10^6 comparisons, and 8x the memory traffic). In
#: steps of 2^15 elements the temporaries are a few hundred KiB, reused and
#: in cache.
_LOOKUP_CHUNK = 1 << 15


def _chunked_lookup(table: Array, a: Array, b: Array | None = None) -> Array:
    """``table[a]`` (a 256-entry row) or ``table[a << 8 | b]`` (the flat
    64 KiB product table) for uint8 arrays of one shape, in steps of
    :data:`_LOOKUP_CHUNK` elements."""
    flat_a = np.ascontiguousarray(a).reshape(-1)
    flat_b = None if b is None else np.ascontiguousarray(b).reshape(-1)
    n = flat_a.size
    out = np.empty(n, dtype=np.uint8)
    index = np.empty(min(n, _LOOKUP_CHUNK), dtype=np.uint16)
    for start in range(0, n, _LOOKUP_CHUNK):
        stop = min(start + _LOOKUP_CHUNK, n)
        if flat_b is None:
            idx = flat_a[start:stop]
        else:
            idx = index[: stop - start]
            np.left_shift(flat_a[start:stop], 8, out=idx, dtype=np.uint16)
            np.bitwise_or(idx, flat_b[start:stop], out=idx)
        # Every index is in range (uint8, or < 2^16 for the 64 KiB table):
        # "clip" skips take's bounds check and its buffered output.
        table.take(idx, out=out[start:stop], mode="clip")
    return out.reshape(a.shape)


class GF256Field:
    """GF(2^8) with the AES reduction polynomial; elements are ``uint8``."""

    name = "GF(2^8)"
    order = 256

    def __init__(self) -> None:
        exp = np.zeros(512, dtype=np.int64)
        log = np.zeros(256, dtype=np.int64)
        x = 1
        for i in range(255):
            exp[i] = x
            log[x] = i
            # multiply by the generator 3 = x + 1 (2 is not a generator under 0x11B)
            x ^= (x << 1) ^ (0x11B if x & 0x80 else 0)
        exp[255:510] = exp[:255]
        table = np.zeros((256, 256), dtype=np.uint8)
        nz = np.arange(1, 256)
        table[1:, 1:] = exp[(log[nz][:, None] + log[nz][None, :]) % 255]
        self.MUL = table
        self._mul_flat = table.ravel()
        inv = np.zeros(256, dtype=np.uint8)
        inv[1:] = exp[(255 - log[nz]) % 255]
        self.INV = inv

    def zeros(self, shape: Any) -> Array:
        return np.zeros(shape, dtype=np.uint8)

    def const(self, value: int, shape: Any) -> Array:
        return np.full(shape, value, dtype=np.uint8)

    def from_ints(self, values: Any) -> Array:
        arr = np.asarray(values)
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError("GF(2^8) elements are 0..255")
        return arr.astype(np.uint8)

    def add(self, a: Array, b: Array) -> Array:
        return np.bitwise_xor(a, b)

    sub = add

    def mul(self, a: Array, b: Array) -> Array:
        a, b = np.asarray(a), np.asarray(b)
        if a.shape == b.shape and a.dtype == b.dtype == np.uint8 and a.size > _LOOKUP_CHUNK:
            return _chunked_lookup(self._mul_flat, a, b)
        # One flat take is ~3x faster than fancy indexing MUL[a, b].
        out: Array = self._mul_flat.take((a.astype(np.intp) << 8) + b)
        return out

    def scale(self, c: int, a: Array) -> Array:
        a = np.asarray(a)
        if a.dtype == np.uint8 and a.size > _LOOKUP_CHUNK:
            return _chunked_lookup(self.MUL[c], a)
        out: Array = self.MUL[c].take(a)
        return out

    def sum(self, a: Array, axis: int = -1) -> Array:
        out: Array = np.bitwise_xor.reduce(a, axis=axis)
        return out

    def cumsum(self, a: Array, axis: int = -1) -> Array:
        out: Array = np.bitwise_xor.accumulate(a, axis=axis)
        return out

    def inv_scalar(self, c: int) -> int:
        if c == 0:
            raise ZeroDivisionError("0 has no inverse")
        return int(self.INV[c])

    def random(self, count: int, random: Randomness) -> Array:
        return np.frombuffer(random.bytes(count), dtype=np.uint8).copy()

    def to_wire(self, a: Array) -> Array:
        return np.asarray(a, dtype=np.uint8, order="C")

    def from_wire(self, w: Any, shape: tuple[int, ...], peer: str) -> Array:
        if not (isinstance(w, np.ndarray) and w.dtype == np.uint8 and w.shape == shape):
            raise RemoteProtocolViolation(f"expected a GF(2^8) share array of shape {shape}", peer=peer)
        return w

    def wire_shape(self, w: Any) -> tuple[int, ...] | None:
        """The element shape a wire array of this field carries (None: not one)."""
        return tuple(w.shape) if isinstance(w, np.ndarray) and w.dtype == np.uint8 else None


GF256 = GF256Field()


def _is_prime(n: int, rounds: int = 64) -> bool:
    """Miller-Rabin with ``rounds`` random bases: a composite passes with
    probability at most 4^-rounds (2^-128). (A Fermat test alone would
    accept base-2 pseudoprimes such as 341 and Carmichael numbers.)"""
    if n < 2:
        return False
    for q in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % q == 0:
            return n == q
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for _ in range(rounds):
        x = pow(2 + secrets.randbelow(n - 3), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


class PrimeField:
    """Z_p for a prime ``p`` of up to 128 bits, elements as ``object`` arrays."""

    def __init__(self, p: int, name: str | None = None) -> None:
        if p < 3 or p.bit_length() > 128 or not _is_prime(p):
            raise ValueError("p must be an odd prime of at most 128 bits")
        self.p = p
        self.order = p
        self.name = name or f"Z_{p}"
        self.bits = p.bit_length()

    def zeros(self, shape: Any) -> Array:
        out = np.empty(shape, dtype=object)
        out.fill(0)
        return out

    def const(self, value: int, shape: Any) -> Array:
        out = np.empty(shape, dtype=object)
        out.fill(value % self.p)
        return out

    def from_ints(self, values: Any) -> Array:
        """Integers (negative too) as field elements: x mod p."""
        arr = np.asarray(values)
        if arr.dtype != object:
            arr = arr.astype(np.int64).astype(object)
        return arr % self.p

    def signed(self, a: Array) -> Array:
        """Field elements read back as integers in (-p/2, p/2)."""
        half = self.p // 2
        a = np.asarray(a, dtype=object)
        return np.where(a > half, a - self.p, a)

    def add(self, a: Array, b: Array) -> Array:
        return (a + b) % self.p

    def sub(self, a: Array, b: Array) -> Array:
        return (a - b) % self.p

    def mul(self, a: Array, b: Array) -> Array:
        return (a * b) % self.p

    def scale(self, c: int, a: Array) -> Array:
        return (a * c) % self.p

    def sum(self, a: Array, axis: int = -1) -> Array:
        out: Array = np.asarray(np.sum(a, axis=axis), dtype=object) % self.p
        return out

    def cumsum(self, a: Array, axis: int = -1) -> Array:
        out: Array = np.cumsum(a, axis=axis) % self.p
        return out

    def inv_scalar(self, c: int) -> int:
        if c % self.p == 0:
            raise ZeroDivisionError("0 has no inverse")
        return pow(c, -1, self.p)

    def random(self, count: int, random: Randomness) -> Array:
        # 64 spare bits per element make the bias of "mod p" below 2^-64.
        limbs = (self.bits + 64 + 63) // 64
        words = np.frombuffer(random.bytes(8 * limbs * count), dtype="<u8").reshape(limbs, count)
        acc = words[0].astype(object)
        for i in range(1, limbs):
            acc = acc + (words[i].astype(object) << (64 * i))
        out: Array = acc % self.p
        return out

    def to_wire(self, a: Array) -> Array:
        """Fixed-width little-endian 64-bit limbs, shape ``(limbs,) + a.shape``."""
        a = np.asarray(a, dtype=object)
        limbs = (self.bits + 63) // 64
        out = np.empty((limbs, *a.shape), dtype=np.uint64)
        mask = (1 << 64) - 1
        if a.ndim == 0:  # (on a 0-d array the shift gives a plain int)
            out[:] = [(int(a) >> (64 * i)) & mask for i in range(limbs)]
            return out
        for i in range(limbs):
            out[i] = ((a >> (64 * i)) & mask).astype(np.uint64)
        return out

    def from_wire(self, w: Any, shape: tuple[int, ...], peer: str) -> Array:
        limbs = (self.bits + 63) // 64
        if not (isinstance(w, np.ndarray) and w.dtype == np.uint64 and w.shape == (limbs, *shape)):
            raise RemoteProtocolViolation(f"expected a {self.name} share array of shape {shape}", peer=peer)
        if w.ndim == 1:  # one element (numpy would turn its 0-d sums into plain ints)
            acc = np.asarray(sum(int(w[i]) << (64 * i) for i in range(limbs)), dtype=object)
        else:
            acc = w[0].astype(object)
            for i in range(1, limbs):
                acc = acc + (w[i].astype(object) << (64 * i))
        if acc.size and np.any(acc >= self.p):
            raise RemoteProtocolViolation(f"share is not a reduced element of {self.name}", peer=peer)
        out: Array = acc
        return out

    def wire_shape(self, w: Any) -> tuple[int, ...] | None:
        """The element shape a wire array of this field carries (None: not one)."""
        limbs = (self.bits + 63) // 64
        if not (isinstance(w, np.ndarray) and w.dtype == np.uint64 and w.ndim >= 1 and w.shape[0] == limbs):
            return None
        return tuple(w.shape[1:])


#: The Mersenne prime field 2^127 - 1.
P127 = PrimeField(2**127 - 1, "Z_(2^127-1)")
