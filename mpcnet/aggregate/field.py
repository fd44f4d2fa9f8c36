"""The NTT-friendly prime fields of draft-irtf-cfrg-vdaf-20, §6.1 (Field64, Field128).

Elements are plain Python ints in ``[0, MODULUS)``; a vector is a ``list[int]``. That keeps
the pure-Python reference small and fast enough to be the oracle; the numpy path in
:mod:`mpcnet.aggregate.batch` works on the same integers.

* §6.1.1: little-endian fixed-width encoding; decoding rejects a wrong length and any value
  ``>= MODULUS`` ("modulus overflow").
* §6.1.2: the generator of the order-``2**k`` subgroup, principal n-th roots
  ``Wn = gen ** (GEN_ORDER // n)``, and the NTT / inverse NTT at the first ``n`` powers of ``Wn``
  (optionally shifted by ``s = W_{2n}``).
* §6.1.3: the Lagrange-basis operations used by the FLP live in :mod:`mpcnet.aggregate.flp`.
"""

from __future__ import annotations

from functools import cache

import attrs

from ..errors import WireError

__all__ = ["NttField", "Field64", "Field128", "FieldDecodeError", "next_power_of_2"]


class FieldDecodeError(WireError, ValueError):
    """Bytes that are not an encoded field vector (wrong length, or a value ``>= MODULUS``)."""


def next_power_of_2(n: int) -> int:
    """The smallest power of two ``>= n`` (``n >= 1``), as the draft's ``next_power_of_2``."""
    if n < 1:
        raise ValueError("next_power_of_2 needs n >= 1")
    return 1 << (n - 1).bit_length()


@attrs.frozen(eq=False)
class NttField:
    """A prime field with a multiplicative subgroup of order ``2**k`` (draft §6.1.2).

    Fields are singletons (compared by identity): use :data:`Field64` and :data:`Field128`.
    """

    name: str
    MODULUS: int
    ENCODED_SIZE: int
    GEN_ORDER: int
    GEN: int

    def __repr__(self) -> str:
        return self.name

    # -- scalars ---------------------------------------------------------------
    def inv(self, x: int) -> int:
        """The multiplicative inverse of a non-zero ``x``."""
        if x % self.MODULUS == 0:
            raise ZeroDivisionError(f"{self.name}: zero has no inverse")
        return pow(x, -1, self.MODULUS)  # extended Euclid: ~20x faster than x**(p-2) at 128 bits

    def inv_int(self, n: int) -> int:
        """The inverse of a small constant (a share count, a domain size): cached."""
        return _inv_cached(self, n)

    def batch_inv(self, xs: list[int]) -> list[int]:
        """Inverses of many non-zero elements with one exponentiation (Montgomery's trick)."""
        p = self.MODULUS
        prefix = [1] * (len(xs) + 1)
        for i, x in enumerate(xs):
            prefix[i + 1] = prefix[i] * x % p
        acc = self.inv(prefix[-1])
        out = [0] * len(xs)
        for i in range(len(xs) - 1, -1, -1):
            out[i] = acc * prefix[i] % p
            acc = acc * xs[i] % p
        return out

    # -- §6.1.1 encoding -------------------------------------------------------
    def encode_vec(self, vec: list[int]) -> bytes:
        """Encode a vector as concatenated little-endian ``ENCODED_SIZE``-byte integers."""
        size = self.ENCODED_SIZE
        return b"".join(x.to_bytes(size, "little") for x in vec)

    def decode_vec(self, encoded: bytes, length: int | None = None) -> list[int]:
        """Parse a vector; with ``length``, exactly that many elements are required."""
        size = self.ENCODED_SIZE
        if len(encoded) % size != 0:
            raise FieldDecodeError(f"{self.name}: {len(encoded)} bytes is not a multiple of {size}")
        if length is not None and len(encoded) != length * size:
            raise FieldDecodeError(f"{self.name}: expected {length} elements ({length * size} bytes), got {len(encoded)} bytes")
        vec = [int.from_bytes(encoded[i : i + size], "little") for i in range(0, len(encoded), size)]
        for i, x in enumerate(vec):
            if x >= self.MODULUS:
                raise FieldDecodeError(f"{self.name}: element {i} overflows the modulus")
        return vec

    # -- §6.1.2 roots of unity and the NTT ------------------------------------
    def nth_root(self, n: int) -> int:
        """The principal n-th root of unity ``gen ** (GEN_ORDER // n)`` (n a power of two)."""
        if n < 1 or n & (n - 1) or n > self.GEN_ORDER:
            raise ValueError(f"{self.name}: no principal {n}-th root of unity")
        return pow(self.GEN, self.GEN_ORDER // n, self.MODULUS)

    def nth_root_powers(self, n: int) -> list[int]:
        """``[Wn**0, ..., Wn**(n-1)]`` (a fresh list; cached underneath)."""
        return list(_root_powers(self, n))

    def ntt(self, coeffs: list[int], n: int, set_s: bool = False) -> list[int]:
        """Evaluations ``p(Wn**i)`` (or ``p(s * Wn**i)``, ``s = W_{2n}``) of a monomial-basis ``p``.

        ``p`` may have fewer than ``n`` coefficients (zero-padded); it may not have more.
        """
        if len(coeffs) > n:
            raise ValueError("ntt: more coefficients than evaluation points")
        p = self.MODULUS
        a = list(coeffs) + [0] * (n - len(coeffs))
        if set_s:
            s_powers = _root_powers(self, 2 * n)
            a = [x * s_powers[i] % p for i, x in enumerate(a)]
        return _ntt_in_place(a, _root_powers(self, n), p)

    def inv_ntt(self, values: list[int], n: int) -> list[int]:
        """Monomial coefficients of the polynomial with ``values[i] = p(Wn**i)``."""
        if len(values) != n:
            raise ValueError("inv_ntt: need exactly n values")
        p = self.MODULUS
        roots = _root_powers(self, n)
        inv_roots = [roots[0], *roots[:0:-1]]  # Wn**-i = Wn**(n-i)
        out = _ntt_in_place(list(values), inv_roots, p)
        n_inv = self.inv(n)
        return [x * n_inv % p for x in out]


@cache
def _inv_cached(field: NttField, n: int) -> int:
    return field.inv(n)


@cache
def _root_powers(field: NttField, n: int) -> list[int]:
    w = field.nth_root(n)
    p = field.MODULUS
    powers = [1] * n
    for i in range(1, n):
        powers[i] = powers[i - 1] * w % p
    return powers


def _ntt_in_place(a: list[int], roots: list[int], p: int) -> list[int]:
    """Iterative radix-2 NTT: ``a[i] <- sum_j a[j] * roots[1]**(i*j)``; ``roots`` = powers of the root."""
    n = len(a)
    if n == 1:
        return a
    # Bit-reversal permutation, then Cooley-Tukey butterflies.
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            a[i], a[j] = a[j], a[i]
    length = 2
    while length <= n:
        half = length // 2
        stride = n // length
        for start in range(0, n, length):
            for k in range(half):
                w = roots[k * stride]
                u = a[start + k]
                v = a[start + k + half] * w % p
                a[start + k] = (u + v) % p
                a[start + k + half] = (u - v) % p
        length *= 2
    return a


_P64 = 2**32 * 4294967295 + 1
_P128 = 2**66 * 4611686018427387897 + 1

#: Field64 of draft §6.1.4: p = 2**32 * 4294967295 + 1, generator 7**4294967295 of order 2**32.
Field64 = NttField("Field64", _P64, 8, 2**32, pow(7, 4294967295, _P64))
#: Field128 of draft §6.1.4: p = 2**66 * 4611686018427387897 + 1, generator of order 2**66.
Field128 = NttField("Field128", _P128, 16, 2**66, pow(7, 4611686018427387897, _P128))
