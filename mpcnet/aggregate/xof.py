"""XofTurboShake128, the XOF of draft-irtf-cfrg-vdaf-20 §6.2 and §6.2.1, and ``format_dst`` (§6.2.3).

TurboSHAKE128 itself (RFC 9861) comes from pycryptodome, a maintained implementation; this
module only frames its input as the draft says::

    M = le16(len(dst)) || dst || le8(len(seed)) || seed || binder,   domain byte D = 1

and squeezes a continuous output stream from it. ``next_vec`` maps the stream to field elements
by rejection sampling (§6.2: mask to the modulus' bit length, drop values ``>= MODULUS``).
"""

from __future__ import annotations

from Crypto.Hash import TurboSHAKE128

from .field import NttField, next_power_of_2

__all__ = ["VERSION", "XofTurboShake128", "format_dst"]

#: The draft's ``VERSION`` (first byte of every domain separation tag). draft-20 still uses 18:
#: drafts 19 and 20 changed no bytes on the wire.
VERSION = 18


def format_dst(algo_class: int, algo: int, usage: int) -> bytes:
    """Domain separation tag ``VERSION || algo_class || be32(algo) || be16(usage)`` (draft §6.2.3)."""
    return bytes([VERSION, algo_class]) + algo.to_bytes(4, "big") + usage.to_bytes(2, "big")


class XofTurboShake128:
    """The XOF ``XofTurboShake128`` (draft §6.2.1): a seeded, domain-separated output stream."""

    SEED_SIZE = 32

    def __init__(self, seed: bytes, dst: bytes, binder: bytes) -> None:
        if len(seed) > 255:
            raise ValueError("XofTurboShake128: seed longer than 255 bytes")
        if len(dst) > 65535:
            raise ValueError("XofTurboShake128: dst longer than 65535 bytes")
        message = len(dst).to_bytes(2, "little") + dst + bytes([len(seed)]) + seed + binder
        self._stream = TurboSHAKE128.new(domain=1, data=message)

    def next(self, length: int) -> bytes:
        """The next ``length`` bytes of the stream."""
        return self._stream.read(length)

    def next_vec(self, field: NttField, length: int) -> list[int]:
        """The next ``length`` field elements, by rejection sampling (draft §6.2)."""
        p = field.MODULUS
        mask = next_power_of_2(p) - 1
        size = field.ENCODED_SIZE
        out: list[int] = []
        while len(out) < length:
            # Read as many elements as are still missing at once; rejections are rare (< 2**-32).
            chunk = self.next(size * (length - len(out)))
            for i in range(0, len(chunk), size):
                x = int.from_bytes(chunk[i : i + size], "little") & mask
                if x < p:
                    out.append(x)
        return out

    @classmethod
    def derive_seed(cls, seed: bytes, dst: bytes, binder: bytes) -> bytes:
        """A fresh ``SEED_SIZE``-byte seed derived from ``seed`` (draft §6.2 ``derive_seed``)."""
        return cls(seed, dst, binder).next(cls.SEED_SIZE)

    @classmethod
    def expand_into_vec(cls, field: NttField, seed: bytes, dst: bytes, binder: bytes, length: int) -> list[int]:
        """``length`` field elements expanded from ``seed`` (draft §6.2 ``expand_into_vec``)."""
        return cls(seed, dst, binder).next_vec(field, length)
