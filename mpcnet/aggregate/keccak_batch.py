"""TurboSHAKE128 (RFC 9861) over many messages at once, in numpy: the batched XOF of Prio3.

pycryptodome computes one TurboSHAKE128 per call for ~15 us of call overhead; Prio3 makes several
XOF calls per report, so one report at a time the XOF alone caps a core at a few thousand
reports/s. No maintained library offers a batched TurboSHAKE, so this module runs the
Keccak-p[1600, n_r = 12] permutation (FIPS 202 §3.3 step mappings theta, rho, pi, chi, iota with
the last 12 round constants, RFC 9861 §2.2) on a ``(5, 5, R)`` array of 64-bit lanes, one report
per column. It is checked byte for byte against pycryptodome in the tests.

Only what Prio3 needs: every message of a batch has the same length and the same output length.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["turboshake128_batch", "RATE"]

Array = np.ndarray[Any, Any]

#: TurboSHAKE128's rate in bytes (capacity 256 bits).
RATE = 168


def _round_constants() -> list[int]:
    """Keccak's 24 round constants from the LFSR ``rc(t)`` of FIPS 202 §3.2.5 (Algorithm 5, 6)."""

    def rc(t: int) -> int:
        r = 1
        for _ in range(t % 255):
            r = ((r << 1) ^ ((r >> 7) * 0x71)) & 0xFF
        return r & 1

    return [sum(rc(j + 7 * i) << ((1 << j) - 1) for j in range(7)) for i in range(24)]


def _rho_offsets() -> Array:
    """Rotation offsets of rho (FIPS 202 §3.2.2), indexed ``[y, x]``."""
    off = np.zeros((5, 5), dtype=np.uint64)
    x, y = 1, 0
    for t in range(24):
        off[y, x] = ((t + 1) * (t + 2) // 2) % 64
        x, y = y, (2 * x + 3 * y) % 5
    return off


_RC = np.array(_round_constants()[12:], dtype=np.uint64)  # Keccak-p[1600, 12]: the last 12 rounds
# pi (FIPS 202 §3.2.3): A'[x, y] = A[(x + 3y) mod 5, x]; lanes flattened as 5*y + x. Applied
# before rho, whose offsets are permuted to match (rho and pi commute up to that relabelling).
_PI = np.array([5 * x + (x + 3 * y) % 5 for y in range(5) for x in range(5)])
_RHO = _rho_offsets().reshape(25)[_PI][:, None]
_RHO_BACK = (np.uint64(64) - _RHO) % np.uint64(64)
_X_PREV = [4, 0, 1, 2, 3]
_X_NEXT = [1, 2, 3, 4, 0]
_X_NEXT2 = [2, 3, 4, 0, 1]
_ONE = np.uint64(1)
_SIXTY_THREE = np.uint64(63)


def _permute(a: Array) -> Array:
    """Keccak-p[1600, 12] on a ``(25, R)`` uint64 state (lane ``5*y + x``), in place; returns it."""
    rows = a.shape[1]
    t = np.empty_like(a)
    u = np.empty_like(a)
    a5, t5, u5 = a.reshape(5, 5, rows), t.reshape(5, 5, rows), u.reshape(5, 5, rows)
    for rc in _RC:
        c = np.bitwise_xor.reduce(a5, axis=0)  # theta
        c_next = c[_X_NEXT]
        a5 ^= (c[_X_PREV] ^ ((c_next << _ONE) | (c_next >> _SIXTY_THREE)))[None]
        np.take(a, _PI, axis=0, out=t)  # pi
        np.left_shift(t, _RHO, out=a)  # rho (offset 0 gives t | t = t)
        np.right_shift(t, _RHO_BACK, out=u)
        a |= u
        np.take(a5, _X_NEXT, axis=1, out=t5)  # chi
        np.invert(t5, out=t5)
        np.take(a5, _X_NEXT2, axis=1, out=u5)
        t5 &= u5
        a5 ^= t5
        a[0] ^= rc  # iota
    return a


def turboshake128_batch(messages: Array, domain: int, out_len: int) -> Array:
    """TurboSHAKE128(M_i, D, out_len) for every row ``M_i`` of a ``(R, L)`` uint8 array; ``(R, out_len)`` uint8."""
    if not 0x01 <= domain <= 0x7F:
        raise ValueError("TurboSHAKE128: domain byte must be in [0x01, 0x7F]")
    rows, length = messages.shape
    blocks = length // RATE + 1
    padded = np.zeros((rows, blocks * RATE), dtype=np.uint8)
    padded[:, :length] = messages
    padded[:, length] = domain  # RFC 9861 §2.2: M || D || 0x00* , last byte ^= 0x80
    padded[:, -1] ^= 0x80
    lanes = padded.view("<u8").reshape(rows, blocks, RATE // 8)
    a = np.zeros((25, rows), dtype=np.uint64)
    for b in range(blocks):
        a[: RATE // 8] ^= lanes[:, b, :].T
        a = _permute(a)
    out = []
    produced = 0
    while True:
        out.append(a[: RATE // 8].T.copy().view(np.uint8))  # a copy: the state is permuted in place
        produced += RATE
        if produced >= out_len:
            break
        a = _permute(a)
    return np.concatenate(out, axis=1)[:, :out_len]
