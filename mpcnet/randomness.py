"""Where random numbers come from: a leaf module (numpy and libsodium only).

:class:`Randomness` is the interface a protocol draws from (``ctx.random``);
:class:`OSRandomness` the default, :class:`KeyedRandomness` a stream two
parties holding one key share, :class:`SeededRandomness` the reproducible
one for tests and simulations. The fields, additive sharing and the DP
samplers import this module alone, not the runtime.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import numpy as np
from nacl.bindings import randombytes_buf_deterministic

__all__ = ["Randomness", "OSRandomness", "KeyedRandomness", "SeededRandomness"]


class Randomness:
    """Where a protocol's random numbers come from. Use ``ctx.random``."""

    def bytes(self, n: int) -> bytes:
        """``n`` uniformly random bytes."""
        raise NotImplementedError

    def uint64(self, count: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
        """``count`` independent uniform 64-bit words (a read-only array)."""
        return np.frombuffer(self.bytes(8 * count), dtype="<u8")

    def below(self, bound: int) -> int:
        """A uniform integer in ``[0, bound)`` (rejection sampling, no bias)."""
        if bound <= 0:
            raise ValueError("bound must be positive")
        nbytes = (bound.bit_length() + 7) // 8 + 8  # 64 spare bits keep rejections rare
        limit = (256**nbytes // bound) * bound
        while True:
            x = int.from_bytes(self.bytes(nbytes), "big")
            if x < limit:
                return x % bound


class OSRandomness(Randomness):
    """Cryptographic randomness from the operating system (the default).

    Requests above 4 KiB are expanded from a fresh 32-byte OS seed with
    libsodium's ChaCha20 generator (``randombytes_buf_deterministic``, the
    construction libsodium itself uses): 2-3x the throughput of reading
    megabytes from the kernel, and indistinguishable from it unless ChaCha20
    is broken. The seed is used once and dropped.
    """

    def bytes(self, n: int) -> bytes:
        if n <= 4096:
            return secrets.token_bytes(n)
        return randombytes_buf_deterministic(n, secrets.token_bytes(32))


class KeyedRandomness(Randomness):
    """A deterministic stream from a 32-byte secret key: two parties holding
    the same key (:meth:`Context.pairwise_key`) get the same bytes, call for
    call (each new instance starts the sequence again: one instance per
    key). Each call expands a fresh subkey (keyed BLAKE2b of a counter) with
    libsodium's ChaCha20 generator, so it is as unpredictable as the key is
    secret."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the key must be 32 bytes")
        self._key = key
        self._calls = 0

    def bytes(self, n: int) -> bytes:
        sub = hashlib.blake2b(self._calls.to_bytes(8, "big"), key=self._key, digest_size=32,
                              person=b"mpcnet-keyed").digest()
        self._calls += 1
        return randombytes_buf_deterministic(n, sub)


class SeededRandomness(Randomness):
    """Reproducible randomness for tests and simulations ONLY: anyone who
    knows the seed knows every share. :func:`mpcnet.simulate` uses it when
    given ``seed=``; a real party never does."""

    def __init__(self, seed: int, party_index: int) -> None:
        self._gen = np.random.Generator(np.random.PCG64([seed, party_index]))

    def bytes(self, n: int) -> bytes:
        return self._gen.bytes(n)
