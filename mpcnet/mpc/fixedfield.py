"""Fixed-point layers over Z_(2^127-1): matrix products, truncation, ReLU and
argmax on :class:`~mpcnet.mpc.SecretInt` values (three or more compute
parties, Shamir; at exactly three with ``Runtime(engine="auto")`` the
replicated field engine of :mod:`mpcnet.mpc.repfield`, the same values).

The fixed-point value class (:mod:`mpcnet.mpc.fixed`) keeps the scale; these
functions see integers: a value with f fractional bits is ``round(v 2^f)``.

* :func:`matmul` — ``x @ w`` for secret x (..., n) and secret w (n, m):
  every inner product is a local sum of share products (a degree-2t
  sharing), returned *wide* (degree 2t) with no round: :func:`trunc`,
  :func:`relu_trunc` and :func:`argmax` take wide values and fold the
  degree reduction into the one opening they make anyway (so a layer costs
  no reduction round of its own); ``await y.reduce()`` gives a degree-t
  value (1 round) for anything else.
* :func:`trunc` — ``floor(y / 2^f)``, **exact** (no rounding error, no
  failure probability), for ``-2^(k-1) <= y < 2^(k-1)``.
* :func:`relu_trunc` — ``max(0, floor(y / 2^f))``, exact, same guarantee.
* :func:`argmax` — the index of the largest value along the last axis (the
  first on ties) as an unsigned :class:`~mpcnet.mpc.SecretBits` of
  ``ceil(log2 n)`` bits: ``await idx.open(to=[client])`` gives int64 indices.

How (Catrina and de Hoogh, SCN 2010, the masked opening of
:func:`mpcnet.mpc.convert.bit_decompose`, without decomposing): with
``y' = y + 2^(k-1)`` in ``[0, 2^k)`` and a random mask
``r = sum_(j<m) 2^j r_j + 2^m H`` (``r_j`` daBits: the same random bit in
Z_p and GF(2^8); ``H`` the sum of one random (k - m + kappa)-bit integer
from each of the first t + 1 compute parties), the compute parties open
``c = y' + r`` (for a wide y the opening is the degree-2t one, re-randomised
by a fresh zero mask: this is where the degree reduction goes). For any
``w <= m``, over the integers,
``floor(y' / 2^w) = floor(c / 2^w) - floor(r / 2^w) - [c mod 2^w < r mod 2^w]``,
where ``floor(r / 2^w)`` is linear in the shares (the Z_p halves of r_j,
j >= w, and H) and the borrow ``[c mod 2^w < r mod 2^w]`` is a comparison of
public bits with the GF(2^8) halves (:func:`mpcnet.mpc.binary.less_than_public`),
moved into Z_p with one more daBit and one opening. :func:`trunc` takes
``m = w = f``; :func:`relu_trunc` takes ``m = k - 1`` and both ``w = f``
(the quotient) and ``w = k - 1`` (the sign: ``[y >= 0] = floor(y' / 2^(k-1))``),
in the same comparison rounds, and multiplies them (one round).
:func:`argmax` takes ``m = k`` and the bits of ``y'`` themselves (the
subtraction of :func:`~mpcnet.mpc.convert.bit_decompose`), then the
tournament of :meth:`SecretBits.argmax <mpcnet.mpc.SecretBits.argmax>`.

Rounds (whatever the batch; t the threshold, kappa = 40; the first
``1 + ceil(log2(t+1))`` make the daBits and do not depend on y):

====================  ==========================================================
``matmul``            0 (wide result)
``trunc``             1 + ceil(log2(t+1)) + 1 + ceil(log2 f) + 1
                      (8 at t = 1, 2 and f = 16)
``relu_trunc``        1 + ceil(log2(t+1)) + 1 + ceil(log2(k-1)) + 1 + 1
                      (11 at t <= 2 and 34 <= k <= 65)
``argmax``            1 + ceil(log2(t+1)) + 1 + ceil(log2 k)
                      + ceil(log2 n) (2 + ceil(log2 k))
====================  ==========================================================

Limits: ``1 <= f <= k - 2`` and ``k <= max_decompose_bits(P127, t)`` (82 at
t <= 2: the masked value must not wrap the prime; :mod:`mpcnet.mpc.convert`).
A value outside the declared ``k``-bit range gives a wrong result (not an
error): the caller guarantees the range (the server checked its model).

Security: semi-honest, honest majority (c >= 2t + 1 compute parties), any t
colluding compute parties. What is opened, and to the compute parties only:
``c = y' + r`` (statistically hiding: its distribution is within 2^-kappa
of one that does not depend on y, kappa = 40,
:data:`mpcnet.mpc.convert.STATISTICAL_SECURITY`, as in bit decomposition)
and the borrows XOR a uniform daBit (uniform). A wide opening reveals only
the value's opening: Shamir's open_wide masks with a fresh random
degree-2t sharing of zero set aside in the daBits' product round, the
replicated engine with a fresh pseudo-random zero-sharing. Input-only
parties hold absent values: every function returns at once for them,
with no round.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, LocalProtocolViolation
from .binary import bnot, bxor, less_than_public, to_bits
from .convert import STATISTICAL_SECURITY, dabits, max_decompose_bits, public_minus_shared_bits
from .fields import P127
from .secbits import SecretBits
from .secint import SecretInt

__all__ = ["matmul", "trunc", "relu_trunc", "argmax"]

Array = np.ndarray[Any, Any]


async def matmul(x: SecretInt, w: SecretInt, lo: int, hi: int) -> SecretInt:
    """``x @ w`` (x of shape (..., n), w of shape (n, m)) as a WIDE value
    (degree 2t) with the declared range [lo, hi], which the caller
    guarantees. Local, no round: each element is a sum of share products.
    Pass it to :func:`trunc`, :func:`relu_trunc` or :func:`argmax` (which
    reduce it in their opening) or reduce it (``await y.reduce()``, 1 round)."""
    if not isinstance(x, SecretInt) or not isinstance(w, SecretInt):
        raise TypeError("matmul takes two SecretInt values")
    if x.rt is not w.rt:
        raise LocalProtocolViolation("secret values of different runtimes do not mix")
    if x.degree != 1 or w.degree != 1:
        raise LocalProtocolViolation("matmul takes degree-t values: reduce a wide product first")
    if lo > hi:
        raise LocalProtocolViolation("lo must not exceed hi")
    if x.shares is None or w.shares is None:
        return SecretInt(x.rt, None, lo, hi, degree=2)
    if x.shares.ndim < 1 or w.shares.ndim != 2 or x.shares.shape[-1] != w.shares.shape[0]:
        raise LocalProtocolViolation(f"matmul of shapes {x.shares.shape} and {w.shares.shape}")
    prod = np.asarray(np.matmul(x.shares, w.shares), dtype=object) % P127.p
    return SecretInt(x.rt, prod, lo, hi, degree=2)


def _check(y: SecretInt, f: int | None, k: int) -> None:
    if not isinstance(y, SecretInt):
        raise TypeError("takes a SecretInt")
    t = y.rt.t
    if not 2 <= k <= max_decompose_bits(P127, t):
        raise ConfigError(f"k must lie in [2, {max_decompose_bits(P127, t)}] at threshold {t}")
    if f is not None and not 1 <= f <= k - 2:
        raise ConfigError("f must lie in [1, k - 2]")


def _out_range(y: SecretInt, f: int, k: int, relu: bool) -> tuple[int, int]:
    lo, hi = -(1 << (k - 1)), (1 << (k - 1)) - 1
    if y.lo is not None and y.hi is not None:  # (the caller's k-bit guarantee bounds it anyway)
        lo, hi = max(lo, y.lo), min(hi, y.hi)
        lo, hi = min(lo, hi), max(lo, hi)
    lo, hi = lo >> f, hi >> f
    return (max(0, lo), max(0, hi)) if relu else (lo, hi)


async def _masked_open(y: SecretInt, k: int, m: int, convs: int) -> tuple[Array, Array, Array, Array]:
    """Open ``c = y + 2^(k-1) + r`` to the compute parties (module docstring),
    r with m daBits; ``convs`` more daBits per value for the conversions.
    Returns (c as ints (N,), Z_p daBit halves (N, m + convs), GF(2^8) halves
    (N, m + convs), H (N,)), N the number of values (flattened)."""
    rt = y.rt
    eng_p, eng_b = rt.field_engine, rt.bit_engine
    assert y.shares is not None
    shares = np.asarray(y.shares, dtype=object).reshape(-1)
    n = shares.shape[0]
    wide = y.degree == 2
    hi = P127.from_ints(np.asarray(P127.random(n, rt.ctx.random), dtype=object)
                        % (1 << (k - m + STATISTICAL_SECURITY)))
    r_p, r_b, (hi_parts,) = await dabits(eng_p, eng_b, (n, m + convs), extra=[(eng_p, hi)],
                                         masks=n if wide else 0)
    big_h = hi_parts[0]
    for part in hi_parts[1:]:
        big_h = P127.add(big_h, part)
    weights = np.array([1 << j for j in range(m)], dtype=object)
    low = np.asarray(np.dot(r_p[:, :m], weights), dtype=object) % P127.p if m else P127.zeros(n)
    mask = P127.add(low, P127.scale(1 << m, big_h))
    value = P127.add(P127.add(shares, mask), P127.const(1 << (k - 1), (n,)))
    if wide:
        c = await eng_p.open_wide(value, to=eng_p.compute)
    else:
        c = await eng_p.open(value, to=eng_p.compute)
    assert c is not None
    return np.asarray(c, dtype=object), r_p, r_b, big_h


async def _borrows(rt: Any, c: Array, r_b: Array, widths: list[int]) -> Array:
    """GF(2^8) shares of ``[c mod 2^w < r mod 2^w]`` for each w of ``widths``
    (shape (N, len(widths))), in ceil(log2 max(widths)) rounds: the
    comparison ``[~r < ~c]`` of the w-bit complements, all widths stacked
    and padded at the top with equal (zero) bits."""
    top = max(widths)
    n = c.shape[0]
    c_bits = to_bits(np.asarray(c % (1 << top), dtype=object), top)  # (N, top)
    x = np.zeros((n, len(widths), top), dtype=np.uint8)
    pub = np.zeros((n, len(widths), top), dtype=np.uint8)
    for i, w in enumerate(widths):
        x[:, i, :w] = bnot(r_b[:, :w])
        pub[:, i, :w] = 1 - c_bits[:, :w]
    return await less_than_public(rt.bit_engine, x, pub)


async def _to_field(rt: Any, bits: Array, r_p: Array, r_b: Array) -> Array:
    """GF(2^8) bits to Z_p with the given daBits (same shape): open the XOR
    to the compute parties (1 round), then ``c + r - 2cr``."""
    opened = await rt.bit_engine.open(bxor(bits, r_b), to=rt.bit_engine.compute)
    assert opened is not None
    c_p = P127.from_ints(np.asarray(opened, dtype=np.int64))
    return P127.sub(P127.add(r_p, c_p), P127.mul(P127.scale(2, c_p), r_p))


def _floor_r(r_p: Array, big_h: Array, m: int, w: int) -> Array:
    """Shares of ``floor(r / 2^w)`` = sum_(w <= j < m) 2^(j-w) r_j + 2^(m-w) H (local)."""
    weights = np.array([1 << (j - w) for j in range(w, m)], dtype=object)
    part = np.asarray(np.dot(r_p[:, w:m], weights), dtype=object) % P127.p if m > w else P127.zeros(big_h.shape)
    return P127.add(part, P127.scale(1 << (m - w), big_h))


async def trunc(y: SecretInt, f: int, k: int) -> SecretInt:
    """``floor(y / 2^f)`` exactly (rounding towards minus infinity, no error,
    no failure probability), given the caller's guarantee
    ``-2^(k-1) <= y < 2^(k-1)`` (otherwise the result is wrong). ``y`` may
    be wide (degree 2t, from :func:`matmul`): its reduction is folded into
    the opening. Rounds: 1 + ceil(log2(t+1)) + 1 + ceil(log2 f) + 1 (8 at
    t <= 2 and f = 16); f + 1 daBits per value; opened to the compute parties:
    ``y + 2^(k-1) + r`` (statistically hiding, 2^-40) and a uniform bit."""
    _check(y, f, k)
    lo, hi = _out_range(y, f, k, relu=False)
    if y.shares is None:
        return SecretInt(y.rt, None, lo, hi)
    shape = y.shares.shape
    c, r_p, r_b, big_h = await _masked_open(y, k, f, 1)
    (borrow,) = np.moveaxis(await _borrows(y.rt, c, r_b, [f]), -1, 0)
    b_p = await _to_field(y.rt, borrow, r_p[:, f], r_b[:, f])
    q = _quotient(c, r_p, big_h, b_p, f, f, k)
    return SecretInt(y.rt, q.reshape(shape), lo, hi)


def _quotient(c: Array, r_p: Array, big_h: Array, b_p: Array, m: int, f: int, k: int) -> Array:
    """Shares of floor(y / 2^f) = floor(c / 2^f) - floor(r / 2^f) - borrow - 2^(k-1-f)."""
    public = P127.from_ints(np.asarray([(int(v) >> f) - (1 << (k - 1 - f)) for v in c], dtype=object))
    return P127.sub(P127.sub(public, _floor_r(r_p, big_h, m, f)), b_p)


async def relu_trunc(y: SecretInt, f: int, k: int) -> SecretInt:
    """``max(0, floor(y / 2^f))`` exactly (no error, no failure probability),
    given the caller's guarantee ``-2^(k-1) <= y < 2^(k-1)``. ``y`` may be
    wide (its reduction folded into the opening). Rounds: 1 + ceil(log2(t+1))
    + 1 + ceil(log2(k-1)) + 1 + 1 (11 at t <= 2 and 34 <= k <= 65); k + 1
    daBits per value; opened to the compute parties: ``y + 2^(k-1) + r``
    (statistically hiding, 2^-40) and two uniform bits."""
    _check(y, f, k)
    lo, hi = _out_range(y, f, k, relu=True)
    if y.shares is None:
        return SecretInt(y.rt, None, lo, hi)
    shape = y.shares.shape
    m = k - 1
    c, r_p, r_b, big_h = await _masked_open(y, k, m, 2)
    borrows = await _borrows(y.rt, c, r_b, [f, m])  # (N, 2)
    b_p = await _to_field(y.rt, borrows, r_p[:, m:], r_b[:, m:])
    q = _quotient(c, r_p, big_h, b_p[:, 0], m, f, k)
    # [y >= 0] = floor(y' / 2^(k-1)) = floor(c / 2^(k-1)) - H - borrow (0 or 1)
    top = P127.from_ints(np.asarray([int(v) >> m for v in c], dtype=object))
    sign = P127.sub(P127.sub(top, big_h), b_p[:, 1])
    (out,) = await y.rt.field_engine.mul_many([(sign, q)])
    return SecretInt(y.rt, out.reshape(shape), lo, hi)


async def argmax(y: SecretInt, k: int) -> SecretBits:
    """The index of the largest value along the last axis (the first one on
    ties) of y (``-2^(k-1) <= y < 2^(k-1)``, the caller's guarantee; wide
    allowed), as an unsigned :class:`~mpcnet.mpc.SecretBits` of
    ``ceil(log2 n)`` bits (at least 1) and the shape of y without its last
    axis: ``await idx.open(to=[client])`` gives int64 indices there.
    Rounds: 1 + ceil(log2(t+1)) + 1 + ceil(log2 k) (bit decomposition of
    ``y + 2^(k-1)``, order-preserving and unsigned) + ceil(log2 n) x
    (2 + ceil(log2 k)) (the tournament)."""
    _check(y, None, k)
    if y.shares is None:
        return SecretBits(y.rt, None, 1)
    shape = y.shares.shape
    if len(shape) < 1 or shape[-1] < 1:
        raise LocalProtocolViolation("argmax needs at least one value along the last axis")
    c, _, r_b, _ = await _masked_open(y, k, k, 0)
    c_bits = to_bits(np.asarray(c % (1 << k), dtype=object), k)
    bits = await public_minus_shared_bits(y.rt.bit_engine, c_bits, r_b)  # y + 2^(k-1), k bits
    values = SecretBits(y.rt, bits.reshape((*shape, k)), k, signed=False)
    index, _ = await values.argmax(axis=-1)
    return index
