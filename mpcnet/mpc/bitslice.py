"""Bit-slicing: ``m`` integers of ``k`` bits as ``k`` bit planes of uint64 words.

Plane ``j`` holds bit ``j`` of every value, 64 values per word: bit ``l`` of
word ``w`` is bit ``j`` of value ``64 w + l``. A boolean circuit evaluated
with numpy's word operations on planes then computes 64 instances per word
operation (Biham's bit-slice DES, FSE 1997, is the classic use). Values past
``m`` in the last word are padding: zero when packed, ignored when unpacked.

The transposition works a byte column at a time with the 8x8 bit-matrix
transpose of Warren's *Hacker's Delight* (section 7-3, three delta swaps on a
64-bit word), so it costs a few passes over the data instead of one byte per bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["words_for", "pack", "unpack", "transpose8", "lanes", "from_lanes"]

Array = np.ndarray[Any, Any]

_MASKS = (
    (7, np.uint64(0x00AA00AA00AA00AA)),
    (14, np.uint64(0x0000CCCC0000CCCC)),
    (28, np.uint64(0x00000000F0F0F0F0)),
)


def words_for(m: int) -> int:
    """Words per plane for ``m`` values (64 lanes per word)."""
    return (m + 63) // 64


def transpose8(x: Array) -> Array:
    """Transpose the 8x8 bit matrix in each uint64 (byte r, bit c -> byte c, bit r); an involution."""
    return _transpose8_inplace(np.array(x, dtype=np.uint64))


def _transpose8_inplace(x: Array) -> Array:
    # One scratch array and in-place word operations: on 10^6 values the
    # temporaries of "t = (x ^ (x >> s)) & mask" were a dozen fresh arrays,
    # each a run of first-touch page faults in a party's one-off process.
    t = np.empty_like(x)
    for shift, mask in _MASKS:
        s = np.uint64(shift)
        np.right_shift(x, s, out=t)
        t ^= x
        t &= mask
        x ^= t
        np.left_shift(t, s, out=t)
        x ^= t
    return x


def pack(values: Array, k: int) -> Array:
    """The ``(k, words_for(m))`` planes of the low ``k`` bits of ``values``
    (any integer array, flattened; two's complement for negative ones)."""
    if not 1 <= k <= 64:
        raise ValueError("a bit length is 1..64")
    arr = np.asarray(values).reshape(-1)
    if arr.dtype not in (np.uint64, np.int64):
        arr = arr.astype(np.int64)
    flat = np.ascontiguousarray(arr).view(np.uint64)
    m = flat.size
    padded_m = 64 * words_for(m)
    nb = (k + 7) // 8
    # Byte column b of every value, 8 values to a word: (nb, padded_m / 8) words of 8x8 bit matrices
    # (the padding values are zero).
    cols = np.empty((nb, padded_m), dtype=np.uint8)
    cols[:, m:] = 0
    cols[:, :m] = flat.view(np.uint8).reshape(m, 8)[:, :nb].T
    t = _transpose8_inplace(cols.view(np.uint64))
    # Byte i of word w is now bit 8b+i of values 8w..8w+7: gather each bit's bytes into one plane.
    planes = np.ascontiguousarray(t.view(np.uint8).reshape(nb, padded_m // 8, 8).transpose(0, 2, 1))
    planes = planes.reshape(8 * nb, padded_m // 8)[:k].view(np.uint64)
    return planes if k == 8 * nb else planes.copy()


def unpack(planes: Array, m: int, *, signed: bool = False) -> Array:
    """The ``m`` values (uint64, or int64 sign-extended from bit k - 1 when
    ``signed``) whose bits ``planes`` (``(k, words)``) hold."""
    k, words = planes.shape
    if words < words_for(m):
        raise ValueError("too few words for the values")
    nb = (k + 7) // 8
    padded_m = 64 * words
    raw = np.ascontiguousarray(planes, dtype=np.uint64).view(np.uint8).reshape(k, padded_m // 8)
    if k == 8 * nb:
        bytes_ = raw
    else:
        bytes_ = np.zeros((8 * nb, padded_m // 8), dtype=np.uint8)
        bytes_[:k] = raw
    words8 = np.ascontiguousarray(bytes_.reshape(nb, 8, padded_m // 8).transpose(0, 2, 1)).view(np.uint64)
    cols = _transpose8_inplace(words8.reshape(nb, padded_m // 8)).view(np.uint8).reshape(nb, padded_m)
    out = np.zeros((padded_m, 8), dtype=np.uint8)
    out[:, :nb] = cols.T
    values = out.view(np.uint64).reshape(padded_m)[:m]
    if k < 64:
        values &= np.uint64((1 << k) - 1)
    if not signed:
        return values
    if k == 64:
        return values.view(np.int64)
    top = np.uint64(1 << (k - 1))
    return ((values ^ top).view(np.int64) - np.int64(1 << (k - 1))).astype(np.int64)


def lanes(planes: Array, m: int) -> Array:
    """The ``(k, m)`` 0/1 bytes of the first ``m`` lanes of ``planes``
    (for moving lanes around: XOR sharings are linear, so this works on shares)."""
    k = planes.shape[0]
    raw = np.ascontiguousarray(planes, dtype=np.uint64).view(np.uint8).reshape(k, -1)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :m]


def from_lanes(bits: Array) -> Array:
    """Planes ``(k, words_for(m))`` from ``(k, m)`` 0/1 lanes (the inverse of :func:`lanes`)."""
    k, m = bits.shape
    padded = np.zeros((k, 64 * words_for(m)), dtype=np.uint8)
    padded[:, :m] = bits
    return np.packbits(padded, axis=1, bitorder="little").view(np.uint64).reshape(k, words_for(m))
