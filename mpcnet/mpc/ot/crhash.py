"""The correlation-robust hash of the OT extension: TMMO over fixed-key AES.

Guo, Katz, Wang, Yu, "Efficient and Secure Multiparty Computation from
Fixed-Key Block Ciphers" (IEEE S&P 2020, ePrint 2019/074), section 7.4: for a
random permutation pi (here AES-128 under a fixed, public key),

    TMMO(x, i) = pi(pi(x) XOR i) XOR pi(x)

is a *tweakable circular correlation-robust* hash: outputs for distinct
tweaks i on inputs x XOR R (R secret, uniform) look random and independent,
which is exactly what IKNP needs to turn its correlated rows ``q_i`` and
``q_i XOR s`` into two independent pads (Ishai et al. 2003, section 3,
with the hash made tweakable as in Guo et al., section 5).

The batch path runs AES-ECB (OpenSSL through ``cryptography``) over all
blocks at once: two passes of the block cipher and two XORs per output block.
A tweak is the 128-bit little-endian integer ``index + 2^64 * block``: the OT
index in the low half, the output block number in the high half, so one
input gives as many independent 16-byte output blocks as a message needs.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["FIXED_KEY", "tmmo"]

#: The public AES key that fixes pi. Any public key works (the model is an
#: ideal permutation known to everyone); this one is the first 16 bytes of
#: SHA-256("mpcnet fixed-key AES for TMMO"), fixed here so that two
#: implementations agree.
FIXED_KEY = bytes.fromhex("5c6588b1bd66360743a64d9827693398")

Blocks = np.ndarray[Any, np.dtype[np.uint8]]


#: The fixed-key AES-ECB context, made once per thread (an ECB context
#: holds no state between block-aligned updates; a key schedule per call
#: cost ~9 us, several per small OT extension).
_LOCAL = threading.local()


def _encryptor() -> Any:
    enc = getattr(_LOCAL, "enc", None)
    if enc is None:
        enc = _LOCAL.enc = Cipher(algorithms.AES(FIXED_KEY), modes.ECB()).encryptor()
    return enc


def _pi(blocks: np.ndarray[Any, Any]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The fixed-key AES permutation on each 16-byte block of a contiguous
    array (ECB: each block alone), as an (m, 2) array of 64-bit words."""
    enc = _encryptor()
    flat = np.ascontiguousarray(blocks).view(np.uint8).reshape(-1)  # cryptography takes 1-D byte buffers
    return np.frombuffer(enc.update(flat.data), dtype="<u8").reshape(-1, 2)


def tmmo(x: Blocks, first_index: int, nblocks: int = 1, high: Any = 0) -> Blocks:
    """TMMO of each row of ``x`` (an (m, 16) uint8 array): row r is hashed
    with tweaks ``(first_index + r) + 2^64 * (high_r + b)`` for b in
    range(nblocks), where ``high`` is one 64-bit integer or one per row.

    Returns an (m, 16 * nblocks) uint8 array: row r is the concatenation of
    its ``nblocks`` output blocks."""
    if x.ndim != 2 or x.shape[1] != 16 or x.dtype != np.uint8:
        raise ValueError("tmmo hashes an (m, 16) uint8 array of blocks")
    if not (first_index >= 0 and first_index + x.shape[0] <= 2**64):
        raise ValueError("tweak indices must fit in 64 bits")
    m = x.shape[0]
    px = _pi(x)
    out = np.empty((m, nblocks, 2), dtype="<u8")
    index = np.arange(first_index, first_index + m, dtype=np.uint64)
    hi = np.asarray(high, dtype=np.uint64)
    for b in range(nblocks):
        y = px.copy()
        y[:, 0] ^= index
        y[:, 1] ^= hi + np.uint64(b)
        out[:, b, :] = _pi(y) ^ px
    return out.view(np.uint8).reshape(m, 16 * nblocks)
