"""Secure sum and secure average (the four engineers' example).

Protocol (two rounds, whatever the vector length):

1. Every party splits its input vector ``x_i`` into ``n`` random additive
   shares mod 2^64 (``x_i = s_i1 + ... + s_in``), keeps ``s_ii`` and sends
   ``s_ij`` to party ``j``.
2. Every party adds the shares it holds, ``p_j = s_1j + ... + s_nj``, and
   publishes ``p_j``. Everyone adds the ``p_j``: that is ``sum_i x_i``.

Security: semi-honest (honest-but-curious) parties; private against any
coalition of up to ``n-1`` colluding parties. What a coalition sees from an
honest party is one uniform share per member and the honest partial sums,
which are uniform subject to adding up to the total: together they reveal
the sum of the honest inputs, which the output reveals anyway, and nothing
else. Malicious parties can change the result undetected (they can lie about
a share or a partial sum) but cannot learn more.

Reveals: the exact sum (or mean) to every party, and the vector length.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mpcnet import Context, InputError, Param, RemoteProtocolViolation, arith, protocol

MAX_LENGTH = 10_000_000


def _bits_fit(bits: int, n: int) -> str | None:
    """Sums of n values of ``bits`` signed bits must not wrap around 2^64."""
    if bits < 1:
        return "must be at least 1"
    limit = 64 - max(1, math.ceil(math.log2(max(n, 2))))
    if bits > limit:
        return f"must be at most {limit} for {n} parties (the sum must fit in 64-bit two's complement)"
    return None


def validate_integers(value: Any, params: Mapping[str, Any], n: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """An integer, or an equal-length vector of integers, each within the
    declared signed ``bits``: ``-2^(bits-1) <= x < 2^(bits-1)``.

    Returns an int64 array (0-d for a scalar). Error messages state the
    rule broken, never the offending value.
    """
    bits = params["bits"]
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "iu" or value.ndim > 1:
            raise InputError("input array must be a 1-D array of integers")
        arr = value
    elif isinstance(value, bool) or not isinstance(value, (int, list, tuple)):
        raise InputError("input must be an integer or a list of integers")
    elif isinstance(value, int):
        arr = np.asarray(value if -(2**63) <= value < 2**63 else 2**63, dtype=object)
    else:
        if not all(type(v) is int for v in value):
            raise InputError("every element of the input vector must be an integer")
        arr = np.asarray(value, dtype=object) if value else np.zeros(0, dtype=np.int64)
    if arr.ndim == 1 and not 1 <= arr.size <= MAX_LENGTH:
        raise InputError(f"input vector length must be between 1 and {MAX_LENGTH}")
    lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1)
    if arr.size and (int(arr.min()) < lo or int(arr.max()) >= hi):
        raise InputError(f"input out of range: every value must satisfy {lo} <= x < {hi} (bits={bits})")
    return np.asarray(arr, dtype=np.int64)


SUM_PARAMS = (
    Param("bits", int, 32, "signed bit bound of each input value: -2^(bits-1) <= x < 2^(bits-1)", check=_bits_fit),
)
SECURITY = "semi-honest; private against any n-1 colluding parties (additive sharing mod 2^64)"


async def _sum_vectors(ctx: Context, x: np.ndarray[Any, np.dtype[np.int64]]) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Both rounds of the protocol; returns the exact sum, int64, shaped like x."""
    shape = x.shape
    shares = arith.additive_share(arith.to_ring(x.ravel()), ctx.n, ctx.random)
    index = {p: i for i, p in enumerate(ctx.parties)}
    received = await ctx.exchange({p: shares[index[p]] for p in ctx.peers})
    _check_vectors(received, shares.shape[1], "share")
    partial = arith.ring_sum([shares[ctx.index], *received.values()])
    partials = await ctx.broadcast(partial)
    _check_vectors(partials, shares.shape[1], "partial sum")
    total = arith.ring_sum([partial, *partials.values()])
    return arith.from_ring_signed(total).reshape(shape)


def _check_vectors(received: Mapping[str, Any], length: int, what: str) -> None:
    for peer, v in received.items():
        if not (isinstance(v, np.ndarray) and v.dtype == np.uint64 and v.shape == (length,)):
            # Lengths are public (they are the output's length), so naming
            # the mismatch leaks nothing.
            raise RemoteProtocolViolation(f"{what} is not a uint64 vector of length {length} "
                                          "(do all parties have the same vector length?)", peer=peer)


def _as_output(total: np.ndarray[Any, np.dtype[np.int64]]) -> int | np.ndarray[Any, np.dtype[np.int64]]:
    return int(total) if total.ndim == 0 else total


@protocol(
    "secure-sum",
    min_parties=2,
    security=SECURITY,
    reveals="the exact sum (and the vector length), to every party",
    input="an integer, or a list of integers (the same length at every party), within the signed 'bits' bound",
    output="the exact sum: an integer, or an int64 vector for vector inputs",
    params=SUM_PARAMS,
    validate_input=validate_integers,
)
async def secure_sum(ctx: Context, value: np.ndarray[Any, np.dtype[np.int64]], *, bits: int) -> Any:
    """Sum of every party's integer (or element-wise sum of vectors); 2 rounds."""
    return _as_output(await _sum_vectors(ctx, value))


@protocol(
    "secure-average",
    min_parties=2,
    security=SECURITY,
    reveals="the exact mean (hence the sum and the vector length), to every party",
    input="an integer, or a list of integers (the same length at every party), within the signed 'bits' bound",
    output="the mean as a float (a list of floats for vector inputs)",
    params=SUM_PARAMS,
    validate_input=validate_integers,
)
async def secure_average(ctx: Context, value: np.ndarray[Any, np.dtype[np.int64]], *, bits: int) -> Any:
    """Mean of every party's integer (or element-wise mean of vectors); 2 rounds."""
    total = await _sum_vectors(ctx, value)
    mean = total / ctx.n
    return float(mean) if mean.ndim == 0 else mean
