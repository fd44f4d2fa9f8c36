"""Comparing two parties' private values with a third party's help.

Three parties, at most one of them corrupted (semi-honest), which is the
honest majority for three. Party A holds ``x``, party B holds ``y``, and A and
B share a secret key (:meth:`mpcnet.Context.pairwise_key`); the helper C knows
neither. In one round, with messages only to C, C learns the bit ``[y > x]
XOR b`` for a bit ``b`` that A and B derive from their key, and nothing else;
A and B learn nothing. ``b`` and C's bit are the two halves of an XOR sharing
of the comparison, which the caller turns into Shamir shares over GF(2^8)
(where XOR is addition).

The test is Lin and Tzeng's set intersection for ``G > S`` (IPL 2005): for
each bit position ``l`` where ``G`` has a 1, the prefix ``G >> l``; for each
``l`` where ``S`` has a 0, the prefix ``(S >> l) | 1``. The two sets meet,
in exactly one element, iff ``G > S``. What C receives:

* tags: every element ``(pair, level, prefix)`` enciphered with AES-256
  under the pair's key, one block each, cut to 64 bits. AES is a
  pseudo-random permutation, so distinct elements give tags that look
  independent and uniform, and only the one common element gives a common
  tag; levels outside a set get random 64-bit tags of this party's own.
  Each list is sorted, which hides which tag belongs to which level. Two
  different elements' tags collide with probability 2^-64 per comparison of
  tags (at most (k+1)^2 per pair);
* the slots are swapped by ``b``: ``b = 0`` tests ``2y > 2x + 1`` (that is
  ``y > x``), ``b = 1`` tests ``2x + 1 > 2y`` (``x >= y``, its negation),
  so C's bit is ``[y > x] XOR b``, uniform to C.

``b`` is the low bit of another AES block of the pair's key (another domain).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from mpcnet import Randomness

#: An AES block: prefix (low 64 bits, then bit 64), level, domain, pair index.
_BLOCK = np.dtype([("lo", "<u8"), ("hi", "u1"), ("level", "u1"), ("domain", "u1"), ("pad", "u1"),
                   ("pair", "<u4")])
_TAG, _SWAP = 0, 1  # domains

Array = np.ndarray[Any, Any]


def levels(k: int) -> int:
    """Bit positions of the slot values 2x + 1 and 2y (k-bit x and y)."""
    return k + 1


def _prf(key: bytes, blocks: Array) -> Array:
    """AES-256 of each block (used as a PRF on distinct blocks), cut to 64 bits."""
    out = Cipher(algorithms.AES(key), modes.ECB()).encryptor().update(blocks.tobytes())
    return np.frombuffer(out, dtype="<u8")[0::2]


# OpenSSL looks a cipher up on its first use, which takes milliseconds; do
# it once at import, not inside the first run's timed rounds.
_prf(bytes(32), np.zeros(1, dtype=_BLOCK))


def swap_bits(key: bytes, pairs: Array) -> Array:
    """The bits ``b`` both owners derive for comparisons ``pairs`` (pair
    indices, unique within the run): uint8 0/1."""
    blocks = np.zeros(len(pairs), dtype=_BLOCK)
    blocks["domain"], blocks["pair"] = _SWAP, pairs
    return (_prf(key, blocks) & np.uint64(1)).astype(np.uint8)


def key_check(check_key: bytes) -> bytes:
    """A value A sends B (and B checks) to confirm they derived the same
    keys; ``check_key`` is a pairwise key of its own label, not the AES key."""
    return hashlib.blake2b(b"mpcnet helper-compare key check", key=check_key, digest_size=16).digest()


def tags(key: bytes, pairs: Array, slot: list[int], greater: Array, k: int, random: Randomness) -> Array:
    """This party's tags for the comparisons ``pairs``: ``slot`` are its slot
    values (``2x + 1`` if it holds the lower-indexed value of the pair,
    ``2y`` if the higher), ``greater[p]`` whether it holds the ``G`` side of
    comparison p (it sends its 1-encoding) rather than ``S`` (its
    0-encoding). Returns uint64 ``(len(pairs), levels)``, each row sorted."""
    count, n_lv = len(pairs), levels(k)
    blocks = np.zeros((count, n_lv), dtype=_BLOCK)
    if n_lv <= 64:  # slot values (below 2^(k+1)) fit in 64 bits
        v = np.asarray(slot, dtype=np.uint64).reshape(count, 1)
        shifted = v >> np.arange(n_lv, dtype=np.uint64)[None, :]
        bit = (shifted & np.uint64(1)).astype(bool)
        blocks["lo"] = shifted | np.uint64(1)
    else:  # 64-bit bids: 65-bit slots, through Python ints
        u = [[(s >> lv) | 1 for lv in range(n_lv)] for s in slot]
        blocks["lo"] = np.array([[w & (2**64 - 1) for w in row] for row in u], dtype=np.uint64).reshape(count, n_lv)
        blocks["hi"] = np.array([[w >> 64 for w in row] for row in u], dtype=np.uint8).reshape(count, n_lv)
        bit = np.array([[(s >> lv) & 1 for lv in range(n_lv)] for s in slot], dtype=bool).reshape(count, n_lv)
    blocks["level"] = np.arange(n_lv, dtype=np.uint8)[None, :]
    blocks["domain"] = _TAG
    blocks["pair"] = np.asarray(pairs, dtype=np.uint32)[:, None]
    real = bit == np.asarray(greater, dtype=bool)[:, None]  # G: levels with a 1; S: levels with a 0
    tag = _prf(key, blocks).reshape(count, n_lv)
    dummy = np.frombuffer(random.bytes(8 * count * n_lv), dtype="<u8").reshape(count, n_lv)
    out = np.where(real, tag, dummy)
    out.sort(axis=1)  # hides which tag belongs to which level
    return out


def helper_bits(tags_a: Array, tags_b: Array) -> Array:
    """The helper's side: per comparison, 1 if the two tag lists meet.

    Merged and sorted, a common tag shows as two equal neighbours (a list's
    own tags are distinct but with probability 2^-64 per pair of them)."""
    both = np.sort(np.concatenate([tags_a, tags_b], axis=1), axis=1)
    met: Array = (both[:, 1:] == both[:, :-1]).any(axis=1).astype(np.uint8)
    return met
