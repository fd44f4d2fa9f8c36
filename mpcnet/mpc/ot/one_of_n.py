"""1-out-of-N chosen-message OT from ceil(log2 N) random 1-out-of-2 OTs.

Naor and Pinkas, "Efficient Oblivious Transfer Protocols", SODA 2001,
section 3.1 (1-out-of-N from log N 1-out-of-2 OTs), with the pseudo-random
function replaced by the TMMO hash under tweaks no other use shares. For
OT i with l = ceil(log2 N): l random OTs of 16-byte keys K_(i,j)^0,
K_(i,j)^1 (the receiver chooses by the bits x_j of its index x, all m * l of
them in one extension round); the sender sends, for every x in [0, N),

    y_(i,x) = M_(i,x) XOR  XOR_j TMMO(K_(i,j)^(x_j), (o_(i,j), 2^63 + 2^16 x + b))

(o_(i,j) the key OT's index in the session, b the 16-byte block of the
message; the 2^63 bit keeps these tweaks apart from the extension's own,
whose high half is a small block number). The receiver holds the l keys of
its own x only: every other x differs from it in some bit j, whose key it
does not know, so that pad is pseudo-random to it (tweakable correlation
robustness, Guo et al. 2020); the sender learns nothing (it only receives
the extension's u). Rounds: 2 (the extension, then the N masked messages);
the sender sends m * N * w bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import InputError
from ..receive import Expect
from .crhash import tmmo
from .iknp import OTReceiver, OTSender

__all__ = ["MAX_N", "receive_one_of_n", "send_one_of_n"]

#: The largest N (the sender's work and message grow with N).
MAX_N = 256
_DOMAIN = 2**63

Array = np.ndarray[Any, Any]


def _bits(n: int) -> int:
    if not 2 <= n <= MAX_N:
        raise InputError(f"1-out-of-N OT needs 2 <= N <= {MAX_N}")
    return (n - 1).bit_length()


def _pads(keys: Array, first: int, xs: Array, ell: int, nblocks: int) -> Array:
    """XOR over j of TMMO(key_(i,j), (first + i*ell + j, 2^63 + 2^16 x_i + b)):
    ``keys`` (m * ell, 16), ``xs`` (m,) the index each row's pad is for."""
    high = np.repeat(_DOMAIN + (xs.astype(np.uint64) << np.uint64(16)), ell)
    h = tmmo(keys, first, nblocks, high).reshape(len(xs), ell, 16 * nblocks)
    pads: Array = np.bitwise_xor.reduce(h, axis=1)
    return pads


async def send_one_of_n(sender: OTSender, messages: Any) -> None:
    """Send 1-out-of-N OTs (two rounds): ``messages`` is an (m, N, w) uint8
    array; the receiver learns row i's message number x_i only."""
    msgs = np.asarray(messages)
    if msgs.ndim != 3 or msgs.dtype != np.uint8 or msgs.shape[0] < 1 or msgs.shape[2] < 1:
        raise InputError("1-out-of-N OT needs an (m, N, w) uint8 array of messages")
    m, n, width = msgs.shape
    ell = _bits(n)
    nblocks = -(-width // 16)
    first = sender.next_index
    k0, k1 = await sender.random(m * ell, 16)
    keys = np.stack([k0, k1]).reshape(2, m, ell, 16)
    out = np.empty_like(msgs)
    rows = np.arange(m)[:, None]
    for x in range(n):
        bits = (x >> np.arange(ell)) & 1  # the key each bit j of x selects
        chosen = keys[bits[None, :], rows, np.arange(ell)[None, :]].reshape(m * ell, 16)
        pad = _pads(np.ascontiguousarray(chosen), first, np.full(m, x), ell, nblocks)
        out[:, x] = msgs[:, x] ^ pad[:, :width]
    await sender.ctx.send(sender.peer, out)


async def receive_one_of_n(receiver: OTReceiver, indices: Any, n: int, width: int) -> Array:
    """Receive 1-out-of-N OTs (two rounds): ``indices`` (m integers in
    [0, n)) choose; returns the (m, width) uint8 chosen messages."""
    ell = _bits(n)
    idx = np.asarray(indices)
    if idx.ndim != 1 or len(idx) < 1 or not np.issubdtype(idx.dtype, np.integer) or idx.min() < 0 or idx.max() >= n:
        raise InputError(f"1-out-of-N OT indices must be a vector of integers in [0, {n})")
    if width < 1:
        raise InputError("1-out-of-N OT messages need at least one byte")
    m = len(idx)
    first = receiver.next_index
    choices = ((idx[:, None] >> np.arange(ell)[None, :]) & 1).reshape(-1)
    keys = await receiver.random(choices, 16)
    pad = _pads(keys, first, idx, ell, -(-width // 16))
    y = Expect.array(np.uint8, (m, n, width)).check(await receiver.ctx.receive(receiver.peer), receiver.peer)
    chosen: Array = y[np.arange(m), idx] ^ pad[:, :width]
    return chosen
