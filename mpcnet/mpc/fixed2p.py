"""Two-party primitives for private inference on :class:`~mpcnet.mpc.SecretRing`
values (the two-party engine, :mod:`mpcnet.mpc.twoparty`): a matrix product
of secrets, exact truncation, ReLU with truncation, and argmax.

* :func:`own_ring` — a value one party knows, as a sharing with no message
  (its share the value, the other's zero), marked with its ``owner``.
* :func:`matmul` — ``x @ w`` mod 2^64. ``x @ w = x_0 @ w_0 + x_1 @ w_1 +
  x_0 @ w_1 + x_1 @ w_0``: the first two are local, each cross term
  ``x_a @ w_b`` (skipped when one of the two shares is zero, i.e. the operand
  is owned by the other party) is Gilboa's product (CRYPTO 1999) on
  correlated OT with vector correlations, in one of two layouts, the same
  for both cross terms (the OT duplex needs rows of one width both ways):

  - *rows* (A): the holder of ``x_a`` chooses, one OT per element ``x_a[r, j]``
    and bit ``t``, by bit t; the holder of ``w_b`` offers the row
    ``2^t w_b[j, :]`` (m words). OTs: ``B n t_x``, each carrying m words;
  - *columns* (B): the holder of ``w_b`` chooses, one OT per element
    ``w_b[j, c]`` and bit t; the holder of ``x_a`` offers the column
    ``2^t x_a[:, j]`` (B words, B the number of rows of x). OTs:
    ``n m t_w``, each carrying B words.

  The offerer's share of a cross term is minus the sum of its OT outputs
  ``x0``, the chooser's the sum of its ``x0 + c delta``. ``t_x`` (``t_w``)
  is 64 for a share of a shared value and the bit length of ``hi - lo`` for
  an owned one, whose owner chooses with ``v - lo`` (unsigned) and the
  offerer adds ``lo`` times the column (row) sums of its own matrix. The
  layout with fewer bytes (``16 + 8 words`` per OT) is taken; both parties
  compute the choice from public shapes and ranges. A private query against
  a private model (x owned by the client, w by the server) needs one cross
  term; a shared x against the server's w one; shared against shared two.
* :func:`trunc` — ``floor(y / 2^f)`` exactly for ``-2^(k-1) <= y < 2^(k-1)``:
  A2B of the low k bits (:meth:`TwoPartyEngine.to_bits
  <mpcnet.mpc.twoparty.TwoPartyEngine.to_bits>`, the exact two's complement
  of y given the guarantee), then B2A (:meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.from_bits`)
  of planes f..k-1, signed. No error and no failure probability.
* :func:`relu_trunc` — ``max(0, floor(y / 2^f))``: as :func:`trunc`, the
  planes f..k-2 ANDed with NOT the sign (one AND round, the sign plane
  broadcast over the planes), then B2A of those k-1-f planes, unsigned.
* :func:`argmax` — A2B (k bits, signed) and the tournament of
  :meth:`XorBits.argmax <mpcnet.mpc.XorBits.argmax>`.

Rounds (after the OT setup, with enough bit triples in the engine's pool,
:meth:`TwoPartyEngine.prepare <mpcnet.mpc.twoparty.TwoPartyEngine.prepare>`
with :func:`triples`; else one more round makes them), whatever the
number of elements; ``L(k) = ceil(log2 k)``, n the length of the argmax axis:

=======================  =====================================================
:func:`own_ring`         0
:func:`matmul`           2 (0 when both operands have the same owner; 2 per
                         chunk of rows beyond :data:`MAX_CORRELATION_BYTES`)
:func:`trunc`            1 + L(k) + 2   (0 for an owned value: its owner's)
:func:`relu_trunc`       1 + L(k) + 3   (0 for an owned value; 0 if f = k-1)
:func:`argmax`           1 + L(k) + ceil(log2 n) (2 + L(k))
=======================  =====================================================

Bytes each party sends: :func:`matmul` (per cross term) 16 per OT from the
chooser (the IKNP matrix) and 8 per word of every row from the offerer;
:func:`trunc` per value 2 bits per AND gate of the adder (:func:`triples`)
and (k - f) OTs of 16 + 8 bytes, half offered by each party.

Security: semi-honest, either party corrupted (the other honest), as
:mod:`mpcnet.mpc.twoparty`. In :func:`matmul` each party receives only the
OT extension's messages: as the offerer, the chooser's IKNP matrix
(pseudo-random given the base OTs, whatever its choice bits, i.e. its
operand); as the chooser, ``tau = x1 - x0 - delta`` per OT, in which the
pad it did not choose (``x1`` when its bit is 0, ``x0`` when 1) is
pseudo-random to it, so that tau is too; each party's output share is a
uniformly random value given its view (the other holds the rest). In :func:`trunc`, :func:`relu_trunc` and :func:`argmax` a
party receives Beaver openings masked by triples and OT messages masked by
pads; nothing is opened. What :func:`matmul` reveals: the shapes and the
declared ranges (hence the number of OTs and the layout), public anyway.
Correctness needs the callers' guarantees (the ranges given to
:func:`matmul`, the ``k`` of :func:`trunc` etc.): with values outside them
the results are wrong, while the messages exchanged stay as above
(independent of the inputs); what a wrong opened result tells its receiver
is the caller's concern.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, LocalProtocolViolation
from .arith import to_ring
from .bitslice import pack, words_for
from .secring import RING_LIMIT, SecretRing
from .secxor import XorBits
from .twoparty import TwoPartyEngine, tree_pairs

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["own_ring", "matmul", "trunc", "relu_trunc", "argmax", "triples", "matmul_plan", "matmul_chunks",
           "MAX_CORRELATION_BYTES"]

Array = np.ndarray[Any, Any]
#: Bytes an OT costs beyond its correlation: the chooser's 128-bit column of the IKNP matrix.
_OT_OVERHEAD = 16
#: The most bytes of correlations one party may send in one :func:`matmul`
#: (they travel as one message; the wire caps a message at 256 MiB).
MAX_CORRELATION_BYTES = 224 << 20


def _engine(rt: Runtime) -> TwoPartyEngine:
    if not rt.two_party:
        raise ConfigError("the two-party fixed-point primitives need exactly two parties, both computing")
    return rt.two_party_engine


def _ceil_log2(k: int) -> int:
    return (k - 1).bit_length()


def own_ring(rt: Runtime, owner: str, mine: Array | None, shape: tuple[int, ...], lo: int, hi: int) -> SecretRing:
    """No round: ``owner``'s integers ``mine`` (of ``shape``, in [lo, hi],
    checked at the owner before anything is sent) as a :class:`SecretRing`
    whose ``owner`` is that party: its share is the value, the other
    party's zero (``mine`` is ignored there)."""
    _engine(rt)
    if owner not in rt.compute:
        raise ConfigError(f"the owner {owner!r} of a two-party value must be one of the two compute parties")
    if not -RING_LIMIT <= lo <= hi < RING_LIMIT:
        raise LocalProtocolViolation("a ring value's range must satisfy -2^63 <= lo <= hi < 2^63")
    shape = tuple(shape)
    if owner != rt.ctx.me:
        return SecretRing(rt, np.zeros(shape, dtype=np.uint64), lo, hi, owner=owner)
    arr = np.asarray(mine) if mine is not None else None
    if arr is None or arr.shape != shape or not np.issubdtype(arr.dtype, np.integer):
        raise LocalProtocolViolation(f"the owner's value must be an integer array of shape {shape}")
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise LocalProtocolViolation(f"a value lies outside its declared range [{lo}, {hi}]")
    return SecretRing(rt, to_ring(arr.astype(np.int64)), lo, hi, owner=owner)


# -- the matrix product ------------------------------------------------------------------


def _width(v: SecretRing, holder: str) -> tuple[int, int] | None:
    """(bits, offset) of ``holder``'s share of ``v`` as a chooser uses it:
    None for a zero share (``v`` owned by the other party), (bits of
    hi - lo, lo) for an owned value, (64, 0) for a share of a shared one."""
    if v.owner is None:
        return 64, 0
    if v.owner != holder:
        return None
    return max(1, (v.hi - v.lo).bit_length()), v.lo


def matmul_plan(x: SecretRing, w: SecretRing, rows: int) -> tuple[str, list[tuple[int, int, int, int, int, int]]]:
    """The layout (``"rows"`` or ``"columns"``) :func:`matmul` takes for
    ``rows`` rows of ``x`` and the cross terms: per term (a, b, x_bits,
    x_offset, w_bits, w_offset) for ``x_a @ w_b`` (party indices). Public:
    a function of the shapes, owners and ranges."""
    parties = x.rt.compute
    n, m = w.shape if w.shape is not None else (0, 0)
    terms = []
    for a, b in ((0, 1), (1, 0)):
        xw, ww = _width(x, parties[a]), _width(w, parties[b])
        if xw is not None and ww is not None:
            terms.append((a, b, xw[0], xw[1], ww[0], ww[1]))
    cost_rows = sum(rows * n * t[2] * (_OT_OVERHEAD + 8 * m) for t in terms)
    cost_cols = sum(n * m * t[4] * (_OT_OVERHEAD + 8 * rows) for t in terms)
    return ("rows" if cost_rows <= cost_cols else "columns"), terms


def _ring(v: int) -> np.uint64:
    """A public integer (|v| < 2^63) as a ring element."""
    return np.uint64(v % (1 << 64))


def _choices(a: Array, bits: int) -> Array:
    """OT (r, j, t) chooses by bit t of ``a[r, j]`` (unsigned)."""
    shifts = np.arange(bits, dtype=np.uint64)
    return ((a[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8).reshape(-1)


def _correlations(mat: Array, p: int, bits: int) -> Array:
    """OT (r, j, t) offers row j of ``mat`` times 2^t, for each of the chooser's ``p`` rows r."""
    shifts = np.arange(bits, dtype=np.uint64)
    rows = mat[:, None, :] << shifts[None, :, None]  # (n, bits, q)
    return np.broadcast_to(rows[None], (p, *rows.shape)).reshape(-1, mat.shape[1])


def _sent_bytes(x: SecretRing, w: SecretRing, rows: int) -> int:
    """The most bytes of correlations one party sends in a product of ``rows`` rows of x (public)."""
    layout, terms = matmul_plan(x, w, rows)
    n, m = w.shape if w.shape is not None else (0, 0)
    return max((rows * n * t[2] * 8 * m if layout == "rows" else n * m * t[4] * 8 * rows for t in terms), default=0)


def matmul_chunks(x: SecretRing, w: SecretRing, rows: int) -> int:
    """The rows of x one call of the OT duplex takes in :func:`matmul` (all
    of them unless the correlations would pass :data:`MAX_CORRELATION_BYTES`;
    each chunk costs two rounds). Public: shapes, owners and ranges."""
    if _sent_bytes(x, w, rows) <= MAX_CORRELATION_BYTES:
        return max(1, rows)
    if _sent_bytes(x, w, 1) > MAX_CORRELATION_BYTES:
        raise LocalProtocolViolation(f"one row of a matrix product would send {_sent_bytes(x, w, 1)} bytes of OT "
                                     f"correlations in one message (at most {MAX_CORRELATION_BYTES})")
    good, bad = 1, rows  # the bytes grow with the rows: bisect
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if _sent_bytes(x, w, mid) <= MAX_CORRELATION_BYTES else (good, mid)
    return good


async def matmul(x: SecretRing, w: SecretRing, lo: int, hi: int) -> SecretRing:
    """Two rounds (two parties): ``x @ w`` mod 2^64 for ``x`` of shape
    ``(..., n)`` and ``w`` of shape ``(n, m)``, a :class:`SecretRing` of shape
    ``(..., m)`` whose range is the caller's ``[lo, hi]`` (public: the
    interval arithmetic of a product would pass SecretRing's 2^63 limit;
    the caller guarantees it, e.g. the server checked its model). The cross
    terms run as Gilboa products on correlated OT with vector correlations
    (layouts, bytes and security: :mod:`mpcnet.mpc.fixed2p`); an owned
    operand's owner chooses with only the bits of its range. No round when
    ``x`` and ``w`` have the same owner (then the result is that party's).
    The correlations a party sends travel in one message, at most
    :data:`MAX_CORRELATION_BYTES` (the wire's cap is 256 MiB): a larger
    batch runs in chunks of rows (:func:`matmul_chunks`), two rounds each;
    one row too large for a message is refused before any message."""
    rt = x.rt
    eng = _engine(rt)
    if w.rt is not rt:
        raise LocalProtocolViolation("secret values of different runtimes do not mix")
    if not -RING_LIMIT <= lo <= hi < RING_LIMIT:
        raise LocalProtocolViolation("a ring value's range must satisfy -2^63 <= lo <= hi < 2^63")
    xs, ws = x.shares, w.shares
    assert xs is not None and ws is not None  # both parties compute
    if ws.ndim != 2 or xs.ndim < 1 or xs.shape[-1] != ws.shape[0]:
        raise LocalProtocolViolation(f"matmul needs x of shape (..., n) and w of shape (n, m), not {xs.shape} "
                                     f"and {ws.shape}")
    n, m = ws.shape
    lead = xs.shape[:-1]
    rows = int(np.prod(lead))
    xm = xs.reshape(rows, n)
    out: Array = xm @ ws  # x_me @ w_me: numpy's integer product wraps mod 2^64
    if not matmul_plan(x, w, rows)[1]:
        return SecretRing(rt, out.reshape(*lead, m), lo, hi, owner=x.owner)
    step = matmul_chunks(x, w, rows)
    for first in range(0, rows, step):
        part = slice(first, min(rows, first + step))
        out[part] += await _cross_terms(eng, x, w, xm[part], ws)
    return SecretRing(rt, out.reshape(*lead, m), lo, hi)


async def _cross_terms(eng: TwoPartyEngine, x: SecretRing, w: SecretRing, xm: Array, ws: Array) -> Array:
    """Two rounds: this party's shares of the cross terms of ``xm @ w`` (``xm``: its rows of its x share)."""
    rows, (n, m) = xm.shape[0], ws.shape
    layout, terms = matmul_plan(x, w, rows)
    me = eng.index
    q = m if layout == "rows" else rows
    out = np.zeros((rows, m), dtype=np.uint64)
    delta = np.zeros((0, q), dtype=np.uint64)
    choices = np.zeros(0, dtype=np.uint8)
    mine_offer: tuple[int, int] | None = None  # (the chooser's rows p, bits) of the term this party offers in
    mine_choose: tuple[int, int] | None = None
    for a, b, xbits, xoff, wbits, woff in terms:
        if layout == "rows":  # x_a's holder chooses, w_b's offers its rows
            chooser, offerer, bits, p = a, b, xbits, rows
            if me == chooser:
                choices = _choices(xm - _ring(xoff), bits)
            if me == offerer:
                delta = _correlations(ws, p, bits)
                out += _ring(xoff) * ws.sum(axis=0, dtype=np.uint64)[None, :]
        else:  # w_b's holder chooses, x_a's offers its columns
            chooser, offerer, bits, p = b, a, wbits, m
            if me == chooser:
                choices = _choices(np.ascontiguousarray((ws - _ring(woff)).T), bits)
            if me == offerer:
                delta = _correlations(np.ascontiguousarray(xm.T), p, bits)
                out += _ring(woff) * xm.sum(axis=1, dtype=np.uint64)[:, None]
        if me == chooser:
            mine_choose = (p, bits)
        if me == offerer:
            mine_offer = (p, bits)
    x0, got = await eng.cross_rows(delta, choices, q)
    for role, part in ((mine_offer, x0), (mine_choose, got)):
        if role is None:
            continue
        p, bits = role
        total = part.reshape(p, n * bits, q).sum(axis=1, dtype=np.uint64)
        if role is mine_offer:
            total = np.uint64(0) - total
        out += total if layout == "rows" else total.T
    return out


# -- truncation, ReLU, argmax -----------------------------------------------------------


def _check_k(k: int, f: int = 0) -> None:
    if not (isinstance(k, int) and isinstance(f, int) and 1 <= k <= 64 and 0 <= f < k):
        raise LocalProtocolViolation("truncation needs integers 0 <= f < k <= 64")


async def _low_bits(y: SecretRing, k: int) -> Array:
    """Bit planes ``(k, words)`` of the low k bits of y: A2B (1 + ceil(log2 k)
    rounds), or the owner's own bit-slicing (no round) for an owned value."""
    eng = _engine(y.rt)
    assert y.shares is not None
    flat = y.shares.reshape(-1)
    if y.owner is not None:
        planes = pack(flat, k)
        return planes if y.owner == y.rt.ctx.me else np.zeros_like(planes)
    out: Array = await eng.to_bits(flat, k)
    return out


def _trunc_range(y: SecretRing, f: int, k: int, relu: bool) -> tuple[int, int]:
    """The result's range: the guarantee's, narrowed by y's declared one."""
    lo, hi = max(-(1 << (k - 1 - f)), y.lo >> f), min((1 << (k - 1 - f)) - 1, y.hi >> f)
    if lo > hi:  # y's declared range and the guarantee do not meet: the guarantee's
        lo, hi = -(1 << (k - 1 - f)), (1 << (k - 1 - f)) - 1
    if relu:
        lo, hi = max(0, lo), max(0, hi)
    return lo, hi


def _owned_trunc(y: SecretRing, f: int, relu: bool, lo: int, hi: int) -> SecretRing:
    """An owned value truncated by its owner, no message (its result is its own)."""
    assert y.shares is not None and y.owner is not None
    if y.owner != y.rt.ctx.me:
        return SecretRing(y.rt, np.zeros_like(y.shares), lo, hi, owner=y.owner)
    v = y.shares.view(np.int64) >> np.int64(f)
    if relu:
        v = np.maximum(v, 0)
    return SecretRing(y.rt, v.view(np.uint64), lo, hi, owner=y.owner)


async def trunc(y: SecretRing, f: int, k: int) -> SecretRing:
    """``floor(y / 2^f)``, exact, given the caller's guarantee
    ``-2^(k-1) <= y < 2^(k-1)`` (``0 <= f < k <= 64``): A2B of the low k
    bits, B2A of bits f..k-1 as a signed (k - f)-bit value.
    Rounds: 1 + ceil(log2 k) + 2; none for an owned value (its owner
    shifts it). Range: ``[-2^(k-1-f), 2^(k-1-f))`` narrowed by y's."""
    _check_k(k, f)
    eng = _engine(y.rt)
    lo, hi = _trunc_range(y, f, k, relu=False)
    if y.owner is not None:
        return _owned_trunc(y, f, False, lo, hi)
    assert y.shares is not None
    planes = await _low_bits(y, k)
    ring = await eng.from_bits(np.ascontiguousarray(planes[f:k]), y.shares.size, signed=True)
    return SecretRing(y.rt, ring.reshape(y.shares.shape), lo, hi)


async def relu_trunc(y: SecretRing, f: int, k: int) -> SecretRing:
    """``max(0, floor(y / 2^f))``, exact, given ``-2^(k-1) <= y < 2^(k-1)``:
    A2B of the low k bits, bits f..k-2 ANDed with NOT the sign bit k-1
    (one round), B2A of those k-1-f bits. Rounds: 1 + ceil(log2 k) + 1 + 2;
    none for an owned value, and none when f = k - 1 (the result is 0)."""
    _check_k(k, f)
    eng = _engine(y.rt)
    lo, hi = _trunc_range(y, f, k, relu=True)
    assert y.shares is not None
    if y.owner is not None:
        return _owned_trunc(y, f, True, lo, hi)
    if f == k - 1:
        return SecretRing(y.rt, np.zeros_like(y.shares), 0, 0)
    planes = await _low_bits(y, k)
    positive = eng.invert(np.ascontiguousarray(planes[k - 1:k]))
    kept = await eng.and_(np.ascontiguousarray(planes[f:k - 1]), positive)  # the sign broadcast over the planes
    ring = await eng.from_bits(kept, y.shares.size, signed=False)
    return SecretRing(y.rt, ring.reshape(y.shares.shape), lo, hi)


async def argmax(y: SecretRing, k: int) -> XorBits:
    """The index of the largest element along the last axis (the first on
    ties), given ``-2^(k-1) <= y < 2^(k-1)``: A2B of the low k bits (signed),
    then :meth:`XorBits.argmax <mpcnet.mpc.XorBits.argmax>`. An unsigned
    ``ceil(log2 n)``-bit :class:`~mpcnet.mpc.XorBits` (at least 1 bit) of
    shape ``y.shape[:-1]``, opened with ``await idx.open(to=[...])``.
    Rounds: 1 + ceil(log2 k) + ceil(log2 n) (2 + ceil(log2 k))."""
    _check_k(k)
    _engine(y.rt)
    assert y.shares is not None
    if y.shares.ndim < 1:
        raise LocalProtocolViolation("argmax needs an axis")
    planes = await _low_bits(y, k)
    bits = XorBits(y.rt, planes, k, True, y.shares.shape)
    index, _ = await bits.argmax(-1)
    return index


def _adder_planes(k: int) -> int:
    """Plane ANDs of the Kogge-Stone adder of :func:`mpcnet.mpc.bitcircuits.add_planes` for k bits."""
    total, d = k, 1
    while d < k:
        total += (k - d) + max(0, k - 2 * d)
        d *= 2
    return total


def triples(op: str, shape: tuple[int, ...], k: int, f: int = 0) -> dict[str, int]:
    """The bit triples ``op`` ("trunc", "relu_trunc" or "argmax") of a shared
    value of ``shape`` uses, as keyword arguments for
    :meth:`TwoPartyEngine.prepare <mpcnet.mpc.twoparty.TwoPartyEngine.prepare>`
    (``and_words``, ``pair_words``): made offline, they leave the online
    rounds those of the table in :mod:`mpcnet.mpc.fixed2p`."""
    _check_k(k, f)
    count = int(np.prod(shape))
    if op in ("trunc", "relu_trunc"):
        planes = _adder_planes(k) + (k - 1 - f if op == "relu_trunc" else 0)
        return {"and_words": planes * words_for(count), "pair_words": 0}
    if op != "argmax" or not shape:
        raise LocalProtocolViolation("triples knows trunc, relu_trunc and argmax (over the last axis)")
    n, rows = shape[-1], count // max(1, shape[-1])
    index_bits = max(1, (n - 1).bit_length())
    ands, pairs = _adder_planes(k) * words_for(count), 0
    while n > 1:  # the tournament: per level a comparison (k ANDs, then the prefix tree) and a selection
        w = words_for(n // 2 * rows)
        ands += (k + k + index_bits) * w
        pairs += tree_pairs(k) * w
        n = n // 2 + n % 2
    return {"and_words": ands, "pair_words": pairs}
