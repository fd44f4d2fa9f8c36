"""Fixed-point layers on the three-party replicated ring mod 2^64: matrix
products, exact truncation, ReLU and argmax on :class:`RepRing` values (the
engine of :mod:`mpcnet.mpc.replicated`, ABY3-style: Mohassel and Rindal,
CCS 2018), all on uint64 numpy arrays.

:class:`~mpcnet.mpc.fixed.SecretFixed` holds its integers in a
:class:`RepRing` when the runtime's engine is the replicated one (exactly
three compute parties: ``Runtime(engine="auto")`` at three,
:func:`~mpcnet.mpc.runtime.choose_engine`); these functions see integers (a
value with f fractional bits is ``round(v 2^f)``), two's complement mod 2^64.

* :func:`input_rep` — each owner's int64 values as replicated shares (one
  round, :meth:`ReplicatedEngine.input <mpcnet.mpc.replicated.ReplicatedEngine.input>`).
* :func:`matmul` — ``x @ w``: each party's local term ``x_i @ w_i + x_i @
  w_(i+1) + x_(i+1) @ w_i`` (uint64 products wrap mod 2^64) plus a
  pseudo-random zero share, then one resharing round.
* :func:`trunc` — ``floor(y / 2^f)``, **exact** (no error, no failure
  probability) given ``-2^(k-1) <= y < 2^(k-1)`` (the caller's guarantee;
  outside it the result is wrong, not an error). For ``k <= 63``, with party
  0 dealing (below, "Party 0 deals"): with ``y' = y + 2^(k-1)``, party 0
  alone holds ``u' = (y_0 + y_1 + 2^(k-1)) mod 2^k`` and parties 1 and 2
  hold ``v' = y_2 mod 2^k``, and ``floor(y / 2^f) = (u' >> f) + (v' >> f)
  + c_f - 2^(k-f) c_k - 2^(k-1-f)``, c_j the carry into bit j of ``u' +
  v'``. For k = 64: the low k bits of y as bit planes
  (:func:`~mpcnet.mpc.bitcircuits.to_bits`), then planes f..k-1 back to
  the ring (bit injection, below), plane k-1 weighted ``-2^(k-1-f)``.
* :func:`relu_trunc` — ``max(0, floor(y / 2^f))``, exact, same guarantee:
  for ``k <= 63`` the same carries and the sign ``[y >= 0] = u'_(k-1) XOR
  v'_(k-1) XOR c_(k-1)``, its product with the truncation dealt as below;
  for k = 64 the planes f..k-2 ANDed with NOT the sign plane (one round),
  back to the ring.
* :func:`argmax` — the index of the largest value along the last axis (the
  first on ties), :data:`INDEX_BITS` bits, to open (:class:`RepIndex`:
  ``await idx.open(to=[client])``). Up to
  :data:`ALL_PAIRS_MAX` values (and ``k <= 63``), every pair i < j at once
  by the sign of ``y_i - y_j``, with party 0 as the dealer of a two-party
  comparison between parties 1 and 2 (SecureNN's shape: Wagh, Gupta and
  Chandran, PETS 2019): party 0 alone holds ``u = d_0 + d_1`` of the
  difference d, parties 1 and 2 both hold ``v = d_2``, and the sign is a
  carry of ``u + v`` ("Party 0 deals", below). Parties 1 and 2 combine
  the blocks' bits into each pair's carry (2 rounds of dealt lookups), then
  AND each value's n - 1 "beats" bits into a one-hot winner (one lookup of
  up to :data:`LOOKUP_BITS` bits per round), party 0 sitting those rounds
  out; the index bits are the XOR over i of the one-hot bit times the
  public bits of i (local). Beyond, bit planes and the tournament of
  :meth:`SlicedBits.argmax <mpcnet.mpc.SlicedBits.argmax>`.

Party 0 deals (``k <= 63``): a carry c_j is the comparison ``[U > W]`` of
party 0's number ``U = u' mod 2^j`` with ``W = 2^j - 1 - (v' mod 2^j)``,
which parties 1 and 2 both know. In one round party 0 sends party 1 the
256-bit thermometers ``[U_b > a]`` (a = 0..255) of the blocks of u' (8 bits
each, split so that f, k - 1 and k are block boundaries) and its bit
``u'_(k-1)``, XOR-masked by the key it shares with party 2, its share
``A - A_2`` of ``A = (u' >> f) - 2^(k-1-f)`` (A_2 from that key), and the
parts of the tables and triples below that need a message. Parties 1 and 2
then hold XOR sharings of ``[U_b > W_b]`` (the bit at position W_b) and
``[U_b = W_b]`` of every block, with no message. A carry out of blocks
``[0, b)`` is a public function of those bits: dealt lookups evaluate it,
each a one-time truth table (Ishai et al., TCC 2013: party 0 deals a random
shift ``r = r_1 XOR r_2`` of the t input bits and XOR shares of the table
``T[z] = F(z XOR r)``; parties 1 and 2 open ``x XOR r`` to each other and
look their shares up there: one round for any function of up to
:data:`LOOKUP_BITS` bits). Groups of four blocks in one round, the groups
in a second (9 blocks at most when ``k <= 63``), all carries at once. Then
one round: each result
is a sum of products of a monomial of party 1's shares (``s_1``, ``X_1``,
``s_1 X_1``, ``c_1``, ...; a shared bit ``x_1 XOR x_2`` is ``x_1 + x_2 - 2
x_1 x_2``) and a combination of party 2's, one inner product per value on
an arithmetic triple party 0 dealt; and one reshare among the three makes it
a replicated sharing. :func:`argmax` reads its pairs' signs off the same
kind of thermometers. Party 0 sits out the rounds between parties 1 and 2
(it has nothing to send or receive there), which matters with three
processes on two cores. Design as SecureNN's (Wagh, Gupta and Chandran,
PETS 2019): a third party that only deals makes a two-party step cheap.

Back to the ring (bit injection, 2 rounds for any number of planes; k = 64): a bit
shared ``b = x_0 XOR x_1 XOR x_2`` has its components at the positions of
a ring sharing, and the party h that holds ``x_h`` and ``x_(h+1)`` knows
``a = x_h XOR x_(h+1)`` in the clear; ``b = a + c - 2ac`` with ``c =
x_(h+2)``, known to parties h + 1 and h + 2. Party h sends ``a - r`` to
party h + 1, r a pseudo-random word of the key it shares with party h + 2
(h + 1 misses that key: ``a - r`` is uniform to it); then ``b`` is the sum
of the terms ``a`` (party h), ``c - 2(a - r)c`` (party h + 1) and ``-2rc``
(party h + 2). The weighted sum of the planes is a local sum of such terms,
made a replicated sharing by one resharing round. The planes are split in
three groups, party h the sender of group h, so each sends a third.

Rounds (whatever the number of elements; ``L(v) = ceil(log2 v)``):

==================  ==========================================================
:func:`input_rep`   1
:func:`matmul`      1
:func:`trunc`       5 (k <= 63; 4 when the blocks ``ceil(f / 8) + ceil((k - 1 - f)
                    / 8) + 1`` are at most 4; the middle 3 between parties 1 and
                    2 only); k = 64: 2 + L(k) + 2
:func:`relu_trunc`  as :func:`trunc`; k = 64: 2 + L(k) + 1 + 2
:func:`argmax`      1 + 2 + 1 (n <= :data:`ALL_PAIRS_MAX`, k <= 63; the carries 1
                    round when ``k <= 32``, the beats AND 2 when n > 11, 0 when
                    n = 2; 4 at k = 49, n = 10; 0 at n = 1; parties 1 and 2
                    only after the first); beyond, 2 + L(k) + L(n) (2 + L(k))
``RepIndex.open``   1
``RepRing.open``    1
==================  ==========================================================

Bytes each compute party sends, per value: :func:`matmul` 8 (the reshare);
:func:`trunc` / :func:`relu_trunc` (k <= 63): party 0 32 per block of
thermometer, the lookup tables (about 2^(2 s - 1) bits per group of s
blocks, up to 128) and 2 words; parties 1 and 2 the opened lookup inputs (a
bit each) and 2 or 7 words of inner product; and 8 each (the reshare). Party
0's one message is at most :data:`DEALT_MAX_WORDS`: a larger batch takes
the bit-plane path of k = 64 (its rounds; about thirty times fewer bytes
from party 0), and :func:`argmax` the tournament. k = 64: the conversion
(about ``k (2 + L(k)) / 8`` bytes of AND shares,
:mod:`mpcnet.mpc.bitcircuits`), 8 per plane for a third of the k - f
planes, and 8 (the reshare).

Limits: ``2 <= k <= 64``, ``0 <= f <= k - 2``; argmax by pairs needs
``k <= 63`` (the difference of two k-bit values has k + 1 bits).

Security: semi-honest, one corruption among the three compute parties
(:mod:`mpcnet.mpc.replicated`). A compute party receives resharing terms
masked by pseudo-random zero-sharings, AND shares (the same), and the
injection words ``a - r`` masked by a key it does not hold: all uniform
given its view, whatever y. Where party 0 deals (:func:`argmax`,
:func:`trunc` and :func:`relu_trunc` at ``k <= 63``) party 1 receives the
thermometers, party 0's bit and its share of A masked by the key of parties
0 and 2, party 1's shares of the lookup tables (``T XOR T_2``) and
``alpha beta - gamma_2`` (T_2 and gamma_2 of that key too); parties 1 and
2 receive each other's openings (lookup inputs ``x_i XOR r_i``; party 1's
monomials minus alpha, party 2's minus beta), masked by shifts and triple
parts from their keys with party 0: uniform too (each table and shift
serves one lookup). Party 0 receives nothing there; it knows every table
and triple but sees no value masked by one. Nothing is opened but what the caller opens
(:meth:`RepRing.open`, the argmax index). Input-only parties hold absent
values: every function returns at once for them, with no round.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ConfigError, LocalProtocolViolation
from .arith import from_ring_signed
from .bitcircuits import to_bits
from .bitslice import from_lanes, lanes, unpack, words_for
from .receive import Expect, exchange
from .replicated import BITS, RING, Pair, ReplicatedEngine
from .secsliced import SlicedBits
from .value import SecretValue

if TYPE_CHECKING:
    from .runtime import Runtime

__all__ = ["RepRing", "RepIndex", "input_rep", "matmul", "trunc", "relu_trunc", "argmax", "INDEX_BITS", "ALL_PAIRS_MAX"]

Array = np.ndarray[Any, Any]

#: The width of :func:`argmax`'s index (fixed: a receiver outside the compute parties opens it without knowing n).
INDEX_BITS = 16
#: Up to this many values :func:`argmax` compares all pairs at once; beyond, a tournament.
ALL_PAIRS_MAX = 32
_MOD = 1 << 64
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)


def _ring(values: Any) -> Array:
    """Public integers (any sign, Python or numpy) as ring elements mod 2^64."""
    arr = np.asarray(values)
    if arr.dtype == object:
        return np.asarray(np.vectorize(lambda v: int(v) % _MOD, otypes=[object])(arr).astype(np.uint64))
    if arr.dtype == np.uint64:
        return arr
    return np.asarray(arr, dtype=np.int64).astype(np.uint64)


class RepRing(SecretValue):
    """Secret signed integers (any numpy shape) as replicated shares mod 2^64
    among the runtime's three compute parties (:class:`~mpcnet.mpc.replicated.Pair`:
    this party's two of the three additive shares). ``shares`` is None
    outside the three (an absent value, ``shape`` None). ``lo``/``hi``: the
    declared range (the caller's guarantee; nothing is checked in MPC).
    Linear operations are local; :meth:`open` is one round."""

    def __init__(self, rt: Runtime, shares: Pair | None, lo: int, hi: int) -> None:
        self.rt, self.shares, self.lo, self.hi = rt, shares, int(lo), int(hi)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The element shape (None where this party holds no shares)."""
        return None if self.shares is None else tuple(self.shares.first.shape)

    @property
    def _eng(self) -> ReplicatedEngine:
        return self.rt.replicated_engine

    def __repr__(self) -> str:
        return f"<RepRing {'absent' if self.shares is None else self.shape}, [{self.lo}, {self.hi}]>"

    def _new(self, shares: Pair | None, lo: int, hi: int) -> RepRing:
        return RepRing(self.rt, shares, lo, hi)

    def __add__(self, other: Any) -> RepRing:
        if isinstance(other, RepRing):
            if other.rt is not self.rt:
                raise LocalProtocolViolation("secret values of different runtimes do not mix")
            out = None if self.shares is None or other.shares is None else self._eng.add(self.shares, other.shares,
                                                                                         RING)
            return self._new(out, self.lo + other.lo, self.hi + other.hi)
        if isinstance(other, bool) or not isinstance(other, (int, np.integer, np.ndarray, list)):
            raise TypeError("a RepRing mixes with RepRing values and public integers only")
        arr = np.asarray(other)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        out = None if self.shares is None else self._eng.add_public(self.shares, _ring(arr), RING)
        return self._new(out, self.lo + lo, self.hi + hi)

    __radd__ = __add__

    def __neg__(self) -> RepRing:
        out = None if self.shares is None else Pair(np.negative(self.shares.first), np.negative(self.shares.second))
        return self._new(out, -self.hi, -self.lo)

    def __sub__(self, other: Any) -> RepRing:
        negated: Any = -other
        out: RepRing = self + negated
        return out

    def __rsub__(self, other: Any) -> RepRing:
        out: RepRing = (-self) + other
        return out

    def __mul__(self, other: Any) -> RepRing:
        if isinstance(other, (SecretValue, bool)):
            raise TypeError("a RepRing is scaled by public integers only (a product of secrets: matmul)")
        arr = np.asarray(other)
        if arr.dtype.kind not in "iuO":
            raise TypeError("a RepRing is scaled by public integers only")
        ends = (int(arr.min()), int(arr.max())) if arr.size else (0,)
        corners = [x * v for x in (self.lo, self.hi) for v in ends]
        out = None if self.shares is None else self._eng.scale(self.shares, _ring(arr))
        return self._new(out, min(corners), max(corners))

    __rmul__ = __mul__

    def __getitem__(self, index: Any) -> RepRing:
        out = None if self.shares is None else Pair(self.shares.first[index], self.shares.second[index])
        return self._new(out, self.lo, self.hi)

    def reshape(self, *shape: Any) -> RepRing:
        """The same elements in another shape; local."""
        out = None if self.shares is None else Pair(self.shares.first.reshape(*shape),
                                                    self.shares.second.reshape(*shape))
        return self._new(out, self.lo, self.hi)

    async def open(self, to: Iterable[str] | None = None) -> Array | None:
        """One round: the values (int64, two's complement mod 2^64) at the
        parties in ``to`` (default: every party), None elsewhere. A compute
        receiver gets the one share it misses from the next party; a
        receiver outside the three gets each party's first share (and the
        shape from the wire)."""
        rt = self.rt
        receivers = tuple(rt.ctx.parties if to is None else to)
        me = rt.ctx.me
        if me not in receivers and not rt.is_compute:
            return None
        rt.enter_result_round(receivers)
        eng = self._eng
        outgoing: dict[str, Any] = {}
        if rt.is_compute:
            if self.shares is None:
                raise LocalProtocolViolation("a compute party opens a value it holds")
            if eng.prev in receivers:
                outgoing[eng.prev] = np.ascontiguousarray(self.shares.second)
            for p in receivers:
                if p not in eng.compute:
                    outgoing[p] = np.ascontiguousarray(self.shares.first)
            expect = {eng.next: Expect.array(np.uint64, self.shares.first.shape)} if me in receivers else {}
            got = await exchange(rt.ctx, outgoing, expect)
            if me not in receivers:
                return None
            return from_ring_signed(self.shares.first + self.shares.second + got[eng.next])
        raw = await rt.ctx.exchange({}, expect_from=list(eng.compute))
        # The shape is the one at least two of the three senders agree on (a
        # single liar is then the one named); with no majority, the first's.
        shapes = [tuple(raw[p].shape) if isinstance(raw[p], np.ndarray) else None for p in eng.compute]
        shape = next((sh for sh in shapes if sh is not None and shapes.count(sh) >= 2), shapes[0] or ())
        parts = [Expect.array(np.uint64, shape).check(raw[p], p) for p in eng.compute]
        return from_ring_signed(parts[0] + parts[1] + parts[2])

    async def reveal(self) -> Array:
        """:meth:`open` to every party."""
        out = await self.open()
        assert out is not None
        return out


async def input_rep(rt: Runtime, owners: Mapping[str, tuple[int, ...]], ints: Array | None,
                    limits: Mapping[str, int]) -> dict[str, RepRing]:
    """One round: every party in ``owners`` (party -> the declared shape)
    shares its integers ``ints`` (int64, already checked by the caller to
    lie within ``[-limits[owner], limits[owner]]``) among the three compute
    parties of the runtime's replicated engine."""
    eng = rt.replicated_engine
    mine = None if ints is None else _ring(np.asarray(ints, dtype=np.int64))
    got = await eng.input({p: tuple(s) for p, s in owners.items()}, mine, RING)
    return {p: RepRing(rt, got.get(p), -limits[p], limits[p]) for p in owners}


def _same_runtime(x: RepRing, w: RepRing) -> None:
    if not isinstance(x, RepRing) or not isinstance(w, RepRing):
        raise TypeError("takes RepRing values")
    if x.rt is not w.rt:
        raise LocalProtocolViolation("secret values of different runtimes do not mix")


async def matmul(x: RepRing, w: RepRing, lo: int, hi: int) -> RepRing:
    """``x @ w`` (x of shape (..., n), w of shape (n, m)) mod 2^64 with the
    declared range [lo, hi] (the caller's guarantee): local products and
    one resharing round."""
    _same_runtime(x, w)
    if lo > hi:
        raise LocalProtocolViolation("lo must not exceed hi")
    if x.shares is None or w.shares is None:
        return RepRing(x.rt, None, lo, hi)
    xs, ws = x.shares, w.shares
    if xs.first.ndim < 1 or ws.first.ndim != 2 or xs.first.shape[-1] != ws.first.shape[0]:
        raise LocalProtocolViolation(f"matmul of shapes {xs.first.shape} and {ws.first.shape}")
    z = np.matmul(xs.first, ws.first + ws.second)
    z += np.matmul(xs.second, ws.first)
    return RepRing(x.rt, await x.rt.replicated_engine.reshare(z, RING), lo, hi)


def _check(y: RepRing, f: int | None, k: int) -> None:
    if not isinstance(y, RepRing):
        raise TypeError("takes a RepRing")
    if not 2 <= k <= 64:
        raise ConfigError("k must lie in [2, 64] on the ring mod 2^64")
    if f is not None and not 0 <= f <= k - 2:
        raise ConfigError("f must lie in [0, k - 2]")


def _out_range(y: RepRing, f: int, k: int, relu: bool) -> tuple[int, int]:
    lo, hi = max(-(1 << (k - 1)), y.lo), min((1 << (k - 1)) - 1, y.hi)
    lo, hi = min(lo, hi) >> f, max(lo, hi) >> f
    return (max(0, lo), max(0, hi)) if relu else (lo, hi)


async def _inject(eng: ReplicatedEngine, planes: Pair, m: int, weights: list[int]) -> Pair:
    """Two rounds: the replicated ring sharing of ``sum_j weights[j] b_j``
    for the shared bit planes ``b_j`` (``planes``: (r, words) of m values);
    the bit injection of the module docstring, group h of the planes sent by
    party h."""
    r = planes.first.shape[0]
    i = eng.index
    groups = [range(h * r // 3, (h + 1) * r // 3) for h in range(3)]
    size = max(len(g) for g in groups)
    pads = eng.random((size, m))  # (first: key with the previous party, second: with the next)
    own = np.asarray(lanes(planes.first, m), dtype=np.uint64)  # x_i, per plane and value
    nxt = np.asarray(lanes(planes.second, m), dtype=np.uint64)  # x_(i+1)
    w = _ring(np.asarray(weights, dtype=object))
    term = np.zeros(m, dtype=np.uint64)
    # As sender (h = i): a = x_i XOR x_(i+1); r from the key shared with party i - 1 (h + 2).
    mine = groups[i]
    a = own[mine.start:mine.stop] ^ nxt[mine.start:mine.stop]
    masked = a - pads.first[: len(mine)]
    term += w[mine.start:mine.stop] @ a
    # As h + 2 (h = i + 1): c = x_(h+2) = x_i, r from the key shared with party h = i + 1.
    g2 = groups[(i + 1) % 3]
    c2 = own[g2.start:g2.stop]
    term -= w[g2.start:g2.stop] @ (np.uint64(2) * pads.second[: len(g2)] * c2)
    got = await exchange(eng.ctx, {eng.next: np.ascontiguousarray(masked)},
                         {eng.prev: Expect.array(np.uint64, (len(groups[(i - 1) % 3]), m))})
    # As h + 1 (h = i - 1): c = x_(h+2) = x_(i+1), the received a - r.
    g1 = groups[(i - 1) % 3]
    c1 = nxt[g1.start:g1.stop]
    term += w[g1.start:g1.stop] @ (c1 - np.uint64(2) * got[eng.prev] * c1)
    return await eng.reshare(term, RING)


async def _bit_planes(y: RepRing, k: int) -> tuple[ReplicatedEngine, int, Pair]:
    """(engine, number of values, the k low bit planes of y) by A2B
    (:func:`~mpcnet.mpc.bitcircuits.to_bits`), for a y this party holds."""
    assert y.shares is not None and y.shape is not None
    eng = y.rt.replicated_engine
    flat = Pair(y.shares.first.reshape(-1), y.shares.second.reshape(-1))
    return eng, int(np.prod(y.shape)), await to_bits(eng, flat, k)


def _shaped(y: RepRing, flat: Pair, lo: int, hi: int) -> RepRing:
    """A flat result of :func:`trunc` / :func:`relu_trunc` in y's shape."""
    return RepRing(y.rt, Pair(flat.first.reshape(y.shape), flat.second.reshape(y.shape)), lo, hi)


async def trunc(y: RepRing, f: int, k: int) -> RepRing:
    """``floor(y / 2^f)`` exactly (rounding towards minus infinity; no error
    and no failure probability) given the caller's guarantee
    ``-2^(k-1) <= y < 2^(k-1)`` (otherwise the result is wrong). Rounds:
    the module docstring's table."""
    _check(y, f, k)
    lo, hi = _out_range(y, f, k, relu=False)
    if y.shares is None:
        return RepRing(y.rt, None, lo, hi)
    out = await _trunc_dealt(y, f, k, relu=False) if k <= 63 else None
    if out is not None:
        return _shaped(y, out, lo, hi)
    eng, m, bits = await _bit_planes(y, k)
    planes = Pair(bits.first[f:k], bits.second[f:k])
    weights = [1 << (j - f) for j in range(f, k - 1)] + [-(1 << (k - 1 - f))]
    out = await _inject(eng, planes, m, weights)
    return _shaped(y, out, lo, hi)


async def relu_trunc(y: RepRing, f: int, k: int) -> RepRing:
    """``max(0, floor(y / 2^f))`` exactly, given the caller's guarantee
    ``-2^(k-1) <= y < 2^(k-1)``. Rounds: the module docstring's table."""
    _check(y, f, k)
    lo, hi = _out_range(y, f, k, relu=True)
    if y.shares is None:
        return RepRing(y.rt, None, lo, hi)
    out = await _trunc_dealt(y, f, k, relu=True) if k <= 63 else None
    if out is not None:
        return _shaped(y, out, lo, hi)
    eng, m, bits = await _bit_planes(y, k)
    positive = eng.invert(Pair(bits.first[k - 1 : k], bits.second[k - 1 : k]))  # [y >= 0]
    kept = await eng.and_(Pair(bits.first[f : k - 1], bits.second[f : k - 1]), positive)
    out = await _inject(eng, kept, m, [1 << (j - f) for j in range(f, k - 1)])
    return _shaped(y, out, lo, hi)


#: Bits per block of :func:`argmax`'s comparisons (each block a 256-position thermometer).
CMP_BLOCK = 8
# _THERMO[v]: the 256 bits [v > a] for a = 0..255 (bit a of the four little-endian words).
_THERMO = np.array([[(((1 << v) - 1) >> (64 * w)) & 0xFFFFFFFFFFFFFFFF for w in range(4)] for v in range(256)],
                   dtype=np.uint64)


#: The most input bits of one dealt lookup (its table has 2^t bits per use).
LOOKUP_BITS = 10
#: The most words party 0's one dealt message may take (a quarter of the wire's default 256 MiB
#: message limit): a batch whose message would be larger takes the bit-plane path (more rounds,
#: about thirty times fewer bytes from party 0) instead of failing at the wire.
DEALT_MAX_WORDS = (64 << 20) // 8
#: Blocks (or groups) one lookup of a carry's prefix combines.
_GROUP = 4


def _table_words(t: int) -> int:
    return max(1, (1 << t) // 64)


@functools.cache
def _fold_table(s: int) -> Array:
    """The carry out of s blocks (or groups), lowest first: input bit 0 the
    lowest generate bit, then for each higher one its generate and propagate
    bits; ``c = G XOR (E AND c)`` upwards."""
    out = np.zeros(1 << (2 * s - 1), dtype=np.uint8)
    for x in range(out.size):
        c = x & 1
        for j in range(1, s):
            c = ((x >> (2 * j - 1)) & 1) ^ (((x >> (2 * j)) & 1) & c)
        out[x] = c
    return out


@functools.cache
def _and_table(t: int) -> Array:
    out = np.zeros(1 << t, dtype=np.uint8)
    out[-1] = 1
    return out


class _Dealt:
    """XOR sharings between compute parties 1 and 2 (word planes) and their
    lookups: a public function of t shared bits (its table, 2^t bits) in one
    round, on a one-time truth table party 0 dealt (Ishai, Kushilevitz,
    Meldgaard, Orlandi and Paskin-Cherniavsky, TCC 2013): a random shift
    ``r = r_1 XOR r_2`` per use and XOR shares of ``T[z] = F(z XOR r)``; each
    party opens ``x_i XOR r_i`` and looks its share of T up at ``x XOR r``.
    ``material`` None: party 0's dry run, which records the calls (their
    shapes are public) for it to deal."""

    def __init__(self, rt: Runtime | None, index: int, material: list[tuple[Array, Array]] | None) -> None:
        self.rt, self.first, self.material = rt, index == 1, material
        self.calls: list[tuple[int, int, Array]] = []  # (lanes, t, table), in call order
        self.rounds = 0
        self.peer = rt.replicated_engine.compute[3 - index] if rt is not None and index in (1, 2) else ""

    def add_public(self, x: Array, value: Array) -> Array:
        return x ^ value if self.first else x.copy()

    async def lookup_many(self, calls: list[tuple[Array, Array]], m: int) -> list[Array]:
        """One round: per call (the ``(t, words_for(m))`` planes of t shared
        bits per lane, a table of 2^t bits), shares of the table's bit at
        each lane's t bits, as a ``(1, words_for(m))`` plane."""
        self.rounds += 1
        if self.material is None:
            self.calls.extend((m, planes.shape[0], table) for planes, table in calls)
            return [np.zeros((1, words_for(m)), dtype=np.uint64) for _ in calls]
        assert self.rt is not None
        mats = self.material[:len(calls)]
        del self.material[:len(calls)]
        sent = np.concatenate([(planes ^ r).reshape(-1) for (planes, _), (r, _) in zip(calls, mats, strict=True)])
        got = await exchange(self.rt.ctx, {self.peer: sent}, {self.peer: Expect.array(np.uint64, sent.shape)})
        opened = sent ^ got[self.peer]
        out, at, lanes_m = [], 0, np.arange(m)
        for (planes, _), (_, table) in zip(calls, mats, strict=True):
            z = opened[at:at + planes.size].reshape(planes.shape)
            at += planes.size
            index = _lane_ints(z, m)
            word = table[lanes_m, index >> 6]
            out.append(from_lanes(((word >> (index & 63).astype(np.uint64)) & np.uint64(1)).astype(np.uint8)[None, :]))
        return out


def _lane_ints(planes: Array, m: int) -> Array:
    """Each of the m lanes of t bit planes as an integer (plane j its bit j)."""
    t = planes.shape[0]
    out: Array = (lanes(planes, m).astype(np.int64) << np.arange(t, dtype=np.int64)[:, None]).sum(axis=0)
    return out


def _deal(calls: list[tuple[int, int, Array]], first: Array, second: Array) -> Array:
    """Party 0: the table shares party 1 gets (one array), for the recorded
    lookups, from its key stream with party 1 (``first``: the r_1) and with
    party 2 (``second``: per call r_2, then T_2)."""
    parts, at1, at2 = [], 0, 0
    for m, t, table in calls:
        rw, tw = t * words_for(m), m * _table_words(t)
        shift_planes = first[at1:at1 + rw].reshape(t, -1) ^ second[at2:at2 + rw].reshape(t, -1)
        shift = _lane_ints(shift_planes, m)
        if table is _and_table(t):  # (one set bit: at the shifted all-ones index; no table to permute)
            hot = ((1 << t) - 1) ^ shift
            words = np.zeros((m, _table_words(t)), dtype=np.uint64)
            words[np.arange(m), hot >> 6] = np.uint64(1) << (hot & 63).astype(np.uint64)
            packed = words.reshape(-1)
        else:
            full = np.zeros((m, 64 * _table_words(t)), dtype=np.uint8)
            full[:, :1 << t] = table[np.arange(1 << t)[None, :] ^ shift[:, None]]
            packed = np.packbits(full, axis=1, bitorder="little").view(np.uint64).reshape(-1)
        parts.append(packed ^ second[at2 + rw:at2 + rw + tw])
        at1, at2 = at1 + rw, at2 + rw + tw
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _material(calls: list[tuple[int, int, Array]], stream: Array, tables: Array | None) -> list[tuple[Array, Array]]:
    """Party 1 (``tables``: what party 0 sent; ``stream``: its key with party
    0, the r_1) or party 2 (``tables`` None; ``stream`` holds r_2 and T_2):
    per lookup, its shift planes and its table share ``(m, words)``."""
    out, at, at_t = [], 0, 0
    for m, t, _ in calls:
        rw, tw = t * words_for(m), m * _table_words(t)
        r = stream[at:at + rw].reshape(t, -1)
        at += rw
        if tables is None:
            share = stream[at:at + tw]
            at += tw
        else:
            share = tables[at_t:at_t + tw]
            at_t += tw
        out.append((r, share.reshape(m, _table_words(t))))
    return out


def _lookup_words(calls: list[tuple[int, int, Array]]) -> tuple[int, int]:
    """(words of the r_1 stream, words of party 2's stream = of party 1's tables + the r_2)."""
    r = sum(t * words_for(m) for m, t, _ in calls)
    return r, r + sum(m * _table_words(t) for m, t, _ in calls)


async def _carries(d: _Dealt, g: Array, e: Array, boundaries: list[int], m: int) -> list[Array]:
    """Shares of the carry out of blocks ``[0, b)`` for each b in
    ``boundaries`` (g, e: the blocks' generate and propagate planes, lowest
    first): the blocks' groups of up to four in one round of lookups, the
    groups in a second (only when some b spans more than four blocks)."""
    groups = sorted({(a, min(a + _GROUP, b)) for b in boundaries for a in range(0, b, _GROUP)})
    calls = []
    for a, z in groups:
        bits = [g[a:a + 1]] + [row for j in range(a + 1, z) for row in (g[j:j + 1], e[j:j + 1])]
        calls.append((np.concatenate(bits), _fold_table(z - a)))
        if a > 0:  # (a group above the lowest also needs its propagate bit)
            calls.append((e[a:z], _and_table(z - a)))
    outs = iter(await d.lookup_many(calls, m)) if calls else iter(())
    gen, prop = {}, {}
    for a, z in groups:
        gen[(a, z)] = next(outs)
        if a > 0:
            prop[(a, z)] = next(outs)
    done: dict[int, Array] = {}
    second = []
    for b in boundaries:
        parts = [(a, min(a + _GROUP, b)) for a in range(0, b, _GROUP)]
        if not parts:
            done[b] = np.zeros((1, words_for(m)), dtype=np.uint64)
        elif len(parts) == 1:
            done[b] = gen[parts[0]]
        else:
            bits = [gen[parts[0]]] + [row for p in parts[1:] for row in (gen[p], prop[p])]
            second.append((b, np.concatenate(bits), _fold_table(len(parts))))
    if second:
        for (b, _, _), out in zip(second, await d.lookup_many([(x, t) for _, x, t in second], m), strict=True):
            done[b] = out
    return [done[b] for b in boundaries]


async def _and_rows(d: _Dealt, rows: Array, m: int) -> Array:
    """Shares of the AND of the rows (planes of m lanes): one round of
    lookups per :data:`LOOKUP_BITS`-fold."""
    while rows.shape[0] > 1:
        chunks = [rows[a:a + LOOKUP_BITS] for a in range(0, rows.shape[0], LOOKUP_BITS)]
        rows = np.concatenate(await d.lookup_many([(c, _and_table(c.shape[0])) for c in chunks], m))
    return rows


def _blockwise(therm: Array, m: int, nb: int, wdig: Array, one: int) -> tuple[Array, Array]:
    """Parties 1 and 2: the shares of ``[U_b > W_b]`` (the thermometer's bit
    W_b) and ``[U_b = W_b]`` (``[U_b > W_b - 1] XOR [U_b > W_b]``, with
    ``[U_b > -1] = 1``: ``one`` is this party's share of a public 1), as
    ``(blocks, words_for(m))`` planes."""
    blockwise = therm.reshape(m, nb, 4)
    rows, cols = np.arange(m)[:, None], np.arange(nb)[None, :]

    def bit_at(pos: Array) -> Array:
        word = blockwise[rows, cols, (pos >> np.uint64(6)).astype(np.intp)]
        bit: Array = ((word >> (pos & np.uint64(63))) & np.uint64(1)).astype(np.uint8)
        return bit

    greater = bit_at(wdig)
    below = np.where(wdig > 0, bit_at(np.where(wdig > 0, wdig - np.uint64(1), np.uint64(0))), one).astype(np.uint8)
    return (from_lanes(np.ascontiguousarray(greater.T)),
            from_lanes(np.ascontiguousarray((below ^ greater).T)))


async def _beats_tree(d: _Dealt, g: Array, e: Array, top: Array, count: int, n: int) -> Array:
    """The comparison tree of :func:`argmax` on :class:`_Dealt` shares:
    per pair the carry of its blocks (g, e), ``lt = top XOR carry``, each
    value's n - 1 "beats" bits, and their AND: the one-hot winner,
    ``(1, words(count n))``."""
    npairs = n * (n - 1) // 2
    lt = (await _carries(d, g, e, [g.shape[0]], count * npairs))[0] ^ top
    lower, upper = np.triu_indices(n, 1)
    pair = np.zeros((n, n), dtype=np.int64)
    pair[lower, upper] = pair[upper, lower] = np.arange(npairs)
    rivals = np.array([[j for j in range(n) if j != i] for i in range(n)]).T  # (n - 1, n): value i's t-th rival
    # i beats its rival j: NOT lt when i < j (ties to the earlier), lt when i > j
    earlier = np.broadcast_to((np.arange(n)[None, :] < rivals)[:, None, :], (n - 1, count, n))
    flip = from_lanes(np.ascontiguousarray(earlier.reshape(n - 1, count * n), dtype=np.uint8))
    bits = lanes(lt, count * npairs).reshape(count, npairs)
    picked = bits[:, pair[np.arange(n)[None, :], rivals]]  # (count, n - 1, n)
    beats = d.add_public(from_lanes(np.ascontiguousarray(picked.transpose(1, 0, 2).reshape(n - 1, count * n))), flip)
    return await _and_rows(d, beats, count * n)


def _dry_run(coro: Any) -> None:
    """Runs a circuit on :class:`_Dealt` without material to its end: its
    lookups only record their calls, so it never waits on anything."""
    try:
        coro.send(None)
    except StopIteration:
        return
    raise AssertionError("a dry run does not wait")


@functools.lru_cache(maxsize=128)
def _argmax_plan(count: int, n: int, k: int) -> _Dealt:
    """The lookups and rounds of :func:`_argmax_dealt`'s tree (public: from
    the shapes), recorded once per shape by a dry run."""
    dry = _Dealt(None, -1, None)
    zero = np.zeros((-(-k // CMP_BLOCK), words_for(count * n * (n - 1) // 2)), dtype=np.uint64)
    _dry_run(_beats_tree(dry, zero, zero, zero[:1], count, n))
    return dry


@functools.lru_cache(maxsize=128)
def _trunc_plan(m: int, f: int, k: int) -> _Dealt:
    """The lookups and rounds of :func:`_trunc_dealt`'s carries, as :func:`_argmax_plan`."""
    dry = _Dealt(None, -1, None)
    nb = len(_blocks(f, k))
    zero = np.zeros((nb, words_for(m)), dtype=np.uint64)
    _dry_run(_carries(dry, zero, zero, [-(-f // CMP_BLOCK), nb - 1, nb], m))
    return dry


async def _dealt_round(rt: Runtime, plan: _Dealt, xor_words: int, ring_words: int, *, rejoin_after: int,
                       xor_part: Array | None = None, ring_part: Array | None = None,
                       tail: Array | None = None, tail_words: int = 0) -> tuple[Array, Array, list[tuple[Array, Array]],
                                                                                Array] | None:
    """The round in which party 0 deals, to party 1 alone: ``xor_part``
    XOR-masked and ``ring_part`` minus pseudo-random words of the key of
    parties 0 and 2 (party 2 draws them: they are its shares), party 1's
    shares of ``plan``'s lookup tables, then ``tail`` (party 0's own words,
    e.g. the last parts of triples). Party 0 then sits out ``rejoin_after``
    rounds of parties 1 and 2 and gets None. Parties 1 and 2 get their
    shares of the two parts, their lookup material and (party 1) the tail.
    Every party draws its two use numbers here, in step."""
    eng = rt.replicated_engine
    use_masks, use_tables = eng._next_use(), eng._next_use()
    r_words, stream_words = _lookup_words(plan.calls)
    table_words = stream_words - r_words
    if eng.index == 0:
        assert xor_part is not None and ring_part is not None and tail is not None
        masks = eng._prg_prev.words(use_masks, xor_words + ring_words)  # the key with party 2
        tables = _deal(plan.calls, eng._prg_next.words(use_tables, r_words), eng._prg_prev.words(use_tables, stream_words))
        message = np.concatenate([xor_part ^ masks[:xor_words], ring_part - masks[xor_words:], tables, tail])
        await exchange(rt.ctx, {eng.next: message}, {})
        rt.ctx.skip_to_round(rt.ctx.round + rejoin_after + 1)
        return None
    if eng.index == 1:
        size = xor_words + ring_words + table_words + tail_words
        got = (await exchange(rt.ctx, {}, {eng.prev: Expect.array(np.uint64, (size,))}))[eng.prev]
        shares = got[:xor_words + ring_words]
        material = _material(plan.calls, eng._prg_prev.words(use_tables, r_words),
                             got[xor_words + ring_words:xor_words + ring_words + table_words])
        return shares[:xor_words], shares[xor_words:], material, got[size - tail_words:]
    await exchange(rt.ctx, {}, {})
    shares = eng._prg_next.words(use_masks, xor_words + ring_words)  # the key with party 0
    material = _material(plan.calls, eng._prg_next.words(use_tables, stream_words), None)
    return shares[:xor_words], shares[xor_words:], material, np.zeros(0, dtype=np.uint64)


async def _argmax_dealt(y: RepRing, k: int, count: int, n: int) -> Array | None:
    """:func:`argmax`'s index planes (this party's XOR term; zero at party 0)
    for ``2 <= n <= ALL_PAIRS_MAX`` values and ``k <= 63``. Per pair i < j,
    ``D = y_i - y_j + 2^k`` lies in [0, 2^(k+1)) and ``y_i < y_j`` is NOT
    bit k of D. Party 0 holds ``u = D_0 + D_1`` (two shares), parties 1 and
    2 hold ``v = D_2``: bit k of ``u + v`` is ``u_k XOR v_k XOR [U > W]``
    with U the low k bits of u and ``W = 2^k - 1 - (v mod 2^k)``. One round:
    party 0 sends party 1 the 256-bit thermometers ``[U_b > a]`` of U's
    8-bit blocks and its bit u_k, masked by a key it shares with party 2
    (party 1 sees uniform bits), with the lookup tables of what follows.
    Parties 1 and 2 read ``[U_b > W_b]`` and ``[U_b = W_b]`` off their
    shares at the positions W_b they both know (local), combine the blocks
    and AND each value's n - 1 "beats" bits by dealt lookups, between the
    two of them: party 0 waits those rounds out."""
    rt = y.rt
    eng = rt.replicated_engine
    assert y.shares is not None
    i = eng.index
    npairs = n * (n - 1) // 2
    m = count * npairs
    blocks = -(-k // CMP_BLOCK)
    words = words_for(m)
    first, second = y.shares.first.reshape(count, n), y.shares.second.reshape(count, n)
    lower, upper = np.triu_indices(n, 1)
    d_first = (first[:, lower] - first[:, upper]).reshape(-1)
    d_second = (second[:, lower] - second[:, upper]).reshape(-1)
    dry = _argmax_plan(count, n, k)
    r_words, stream_words = _lookup_words(dry.calls)
    table_words = stream_words - r_words
    mask_words = m * blocks * 4 + words
    if mask_words + table_words > DEALT_MAX_WORDS:
        return None  # (decided from public shapes alike at all three, before any key is drawn)
    shifts = np.uint64(CMP_BLOCK) * np.arange(blocks, dtype=np.uint64)
    low = np.uint64((1 << k) - 1)
    none = np.zeros(0, dtype=np.uint64)
    if i == 0:
        u = d_first + d_second + np.uint64(1 << k)
        therm = _THERMO[(((u & low)[:, None] >> shifts[None, :]) & np.uint64(0xFF)).astype(np.intp)].reshape(-1)
        top = from_lanes(((u >> np.uint64(k)) & np.uint64(1)).astype(np.uint8)[None, :])
        # Parties 1 and 2 then run the tree's rounds; party 0 joins them again at its end.
        await _dealt_round(rt, dry, mask_words, 0, rejoin_after=dry.rounds, xor_part=np.concatenate(
            [therm, top.reshape(-1)]), ring_part=none, tail=none)
        return np.zeros((INDEX_BITS, words_for(count)), dtype=np.uint64)
    # Parties 1 and 2: v = D_2 is party 1's second share and party 2's first.
    v = d_second if i == 1 else d_first
    wdig = ((~v & low)[:, None] >> shifts[None, :]) & np.uint64(0xFF)  # (m, blocks): W's digits
    dealt = await _dealt_round(rt, dry, mask_words, 0, rejoin_after=dry.rounds)
    assert dealt is not None
    masked, _, material, _ = dealt
    therm, top = masked[:m * blocks * 4], masked[m * blocks * 4:]
    g, e = _blockwise(therm, m, blocks, wdig, 1 if i == 1 else 0)
    # lt = NOT (u_k XOR v_k XOR carry): party 1 adds NOT v_k, party 2 only its share of u_k.
    top = top.reshape(1, words)
    if i == 1:
        top = top ^ from_lanes(((v >> np.uint64(k)) & np.uint64(1)).astype(np.uint8)[None, :]) ^ _ONES
    onehot = await _beats_tree(_Dealt(rt, i, material), g, e, top, count, n)
    index_bits = ((np.arange(n)[:, None] >> np.arange(INDEX_BITS)[None, :]) & 1).astype(np.uint8)
    bits = lanes(onehot, count * n).reshape(count, n)
    out = np.bitwise_xor.reduce(bits[:, :, None] & index_bits[None, :, :], axis=1)  # (count, INDEX_BITS)
    return from_lanes(np.ascontiguousarray(out.T))


def _blocks(f: int, k: int) -> list[tuple[int, int]]:
    """(lowest bit, width) of the comparison blocks of k bits: 8-bit blocks
    of [0, f) and of [f, k - 1), then bit k - 1 alone, so that the carries
    into bits f, k - 1 and k are carries out of a run of whole blocks."""
    out = [(lo, min(CMP_BLOCK, hi - lo)) for a, hi in ((0, f), (f, k - 1)) for lo in range(a, hi, CMP_BLOCK)]
    return [*out, (k - 1, 1)]


def _carry_rounds(boundaries: list[int]) -> int:
    """The rounds of :func:`_carries` (public: from the block counts)."""
    return 0 if max(boundaries) == 0 else 1 if max(boundaries) <= _GROUP else 2


async def _trunc_dealt(y: RepRing, f: int, k: int, relu: bool) -> Pair | None:
    """:func:`trunc` (``relu`` False) or :func:`relu_trunc` for ``k <= 63``:
    this party's pair of the result. With ``y' = y + 2^(k-1)`` in [0, 2^k),
    party 0 alone holds ``u = y_0 + y_1 + 2^(k-1)`` and parties 1 and 2 hold
    ``v = y_2``; with u', v' their low k bits, ``floor(y / 2^f) = (u' >> f)
    + (v' >> f) + c_f - 2^(k-f) c_k - 2^(k-1-f)`` and ``[y >= 0]`` is ``u'_(k-1)
    XOR v'_(k-1) XOR c_(k-1)``, c_j the carry into bit j of ``u' + v'``: three
    comparisons of party 0's number with theirs, read off thermometers as in
    :func:`argmax` (one round from party 0, then dealt lookups between
    parties 1 and 2 for all three carries at once). The bits, the sign and
    the products are then one inner product per value between party 1's
    monomials of its shares and party 2's, with products dealt by party 0
    (one round between parties 1 and 2: ``(x1 XOR x2)`` is ``x1 + x2 - 2 x1
    x2``), and a reshare among the three makes the result replicated."""
    rt = y.rt
    eng = rt.replicated_engine
    assert y.shares is not None
    i = eng.index
    first, second = y.shares.first.reshape(-1), y.shares.second.reshape(-1)
    m = first.size
    blocks = _blocks(f, k)
    nb, n1 = len(blocks), -(-f // CMP_BLOCK)
    shifts = np.array([lo for lo, _ in blocks], dtype=np.uint64)
    widths = np.array([(1 << w) - 1 for _, w in blocks], dtype=np.uint64)
    words1 = words_for(m)
    products = 7 if relu else 2
    boundaries = [n1, nb - 1, nb]
    dry = _trunc_plan(m, f, k)
    r_words, stream_words = _lookup_words(dry.calls)
    table_words = stream_words - r_words
    therm_words = 4 * m * nb
    mask_words = therm_words + words1 + m  # the thermometers, the sign bit u'_(k-1), party 2's part of A
    if mask_words + table_words + m > DEALT_MAX_WORDS:
        return None  # (decided from public shapes alike at all three, before any key is drawn)
    use_products = eng._next_use()
    low = np.uint64((1 << k) - 1)
    # Parties 1 and 2 run the carries and the products; party 0 joins them again for the reshare.
    if i == 0:
        u = (first + second + np.uint64(1 << (k - 1))) & low
        therm = _THERMO[((u[:, None] >> shifts) & widths).astype(np.intp)].reshape(-1)
        sign = from_lanes((u >> np.uint64(k - 1)).astype(np.uint8)[None, :]).reshape(-1)
        big_a = (u >> np.uint64(f)) - np.uint64(1 << (k - 1 - f))
        alpha = eng._prg_next.words(use_products, products * m).reshape(m, products)  # the key with party 1
        beta_gamma = eng._prg_prev.words(use_products, products * m + m)
        beta = beta_gamma[:products * m].reshape(m, products)
        gamma1 = (alpha * beta).sum(axis=1, dtype=np.uint64) - beta_gamma[products * m:]
        await _dealt_round(rt, dry, therm_words + words1, m, rejoin_after=dry.rounds + 1,
                           xor_part=np.concatenate([therm, sign]), ring_part=big_a, tail=gamma1)
        return await eng.reshare(np.zeros(m, dtype=np.uint64), RING)
    v = (second if i == 1 else first) & low  # y_2: party 1's second share, party 2's first
    wdig = ((~v & low)[:, None] >> shifts) & widths  # the blocks of W = 2^k - 1 - v'
    peer = eng.next if i == 1 else eng.prev
    dealt = await _dealt_round(rt, dry, therm_words + words1, m, rejoin_after=dry.rounds + 1, tail_words=m)
    assert dealt is not None
    masked, part_a, material, tail = dealt
    therm, sign = masked[:therm_words], masked[therm_words:]
    if i == 1:
        dealt_mask = eng._prg_prev.words(use_products, products * m).reshape(m, products)  # alpha
        dealt_part = tail  # gamma1
    else:
        beta_gamma = eng._prg_next.words(use_products, products * m + m)
        dealt_mask, dealt_part = beta_gamma[:products * m].reshape(m, products), beta_gamma[products * m:]
    g, e = _blockwise(therm, m, nb, wdig, 1 if i == 1 else 0)
    carried = await _carries(_Dealt(rt, i, material), g, e, boundaries, m)
    c_f, c_s, c_k = (lanes(c, m)[0].astype(np.uint64) for c in carried)
    s_bit = c_s ^ lanes(sign.reshape(1, words1), m)[0].astype(np.uint64)
    if i == 1:
        s_bit ^= (v >> np.uint64(k - 1)) & np.uint64(1)
    x = part_a + (v >> np.uint64(f)) if i == 1 else part_a  # A + B split: party 1 also holds B = v' >> f
    big_k = np.uint64((-(1 << (k - f))) % (1 << 64))  # -2^(k-f) mod 2^64
    big_k2 = np.uint64((-(1 << (k - f + 1))) % (1 << 64))
    two = np.uint64(2)
    if relu:
        if i == 1:
            mono = np.stack([s_bit, x, s_bit * x, c_f, s_bit * c_f, c_k, s_bit * c_k], axis=1)
            local = s_bit * x + s_bit * c_f + big_k * s_bit * c_k
        else:
            sx, sf, sk = s_bit * x, s_bit * c_f, s_bit * c_k
            mono = np.stack([x - two * sx + c_f - two * sf + big_k * (c_k - two * sk), s_bit, np.uint64(0) - two * s_bit,
                             s_bit - two * sf, two * (two * sf - c_f - s_bit), big_k * (s_bit - two * sk),
                             big_k2 * (two * sk - c_k - s_bit)], axis=1)
            local = sx + sf + big_k * sk
    else:
        mono = np.stack([c_f, c_k], axis=1) if i == 1 else np.stack([np.uint64(0) - two * c_f,
                                                                        np.uint64(0) - big_k2 * c_k], axis=1)
        local = x + c_f + big_k * c_k
    share, _ = await _inner_product(rt, peer, mono, dealt_mask, dealt_part, i == 1)
    return await eng.reshare(local + share, RING)


async def _inner_product(rt: Runtime, peer: str, mono: Array, mask: Array, part: Array,
                         first: bool) -> tuple[Array, Array]:
    """One round between parties 1 and 2: this party's additive share of
    each row's inner product of party 1's ``mono`` with party 2's, on the
    triple party 0 dealt (party 1: ``mask`` alpha, ``part`` ``alpha beta -
    gamma_2``; party 2: beta and gamma_2). Party 1's share is ``a (b' - beta)
    + part``, party 2's ``(a - alpha) beta + gamma_2``. Also returns what
    came from the peer (for the tests that look at a party's view)."""
    sent = np.ascontiguousarray((mono - mask).reshape(-1))
    other = (await exchange(rt.ctx, {peer: sent}, {peer: Expect.array(np.uint64, sent.shape)}))[peer].reshape(mono.shape)
    inner = (mono * other).sum(axis=1, dtype=np.uint64) if first else (other * mask).sum(axis=1, dtype=np.uint64)
    return inner + part, other


class RepIndex:
    """What :func:`argmax` gives: the indices as this party's XOR term of
    a 3-out-of-3 sharing of their :data:`INDEX_BITS` bit planes (party 0's
    term is zero after the dealt comparison), for one thing only:
    :meth:`open`, one round. ``shape``: the batch shape (``()`` outside the
    compute parties, which pass the shape to :meth:`open`)."""

    def __init__(self, rt: Runtime, term: Array | None, shape: tuple[int, ...]) -> None:
        self.rt, self.term, self.shape = rt, term, tuple(shape)

    async def open(self, to: Iterable[str] | None = None, *, shape: tuple[int, ...] | None = None) -> Array | None:
        """One round: the int64 indices at the parties in ``to`` (default:
        every party), None elsewhere (:meth:`ReplicatedEngine.open_sum
        <mpcnet.mpc.replicated.ReplicatedEngine.open_sum>`: each term masked
        by a fresh zero-sharing, so a receiver learns the indices only)."""
        rt = self.rt
        receivers = list(rt.ctx.parties if to is None else to)
        if rt.ctx.me not in receivers and not rt.is_compute:
            return None
        want = self.shape if shape is None else tuple(shape)
        if self.term is not None and want != self.shape:
            raise LocalProtocolViolation(f"the indices have shape {self.shape}, not {want}")
        rt.enter_result_round(receivers)
        count = int(np.prod(want))
        planes = await rt.replicated_engine.open_sum(self.term, BITS, receivers, (INDEX_BITS, words_for(count)))
        if planes is None:
            return None
        return unpack(planes, count).astype(np.int64).reshape(want)

    async def reveal(self, *, shape: tuple[int, ...] | None = None) -> Array:
        """:meth:`open` to every party."""
        out = await self.open(shape=shape)
        assert out is not None
        return out


async def argmax(y: RepRing, k: int) -> RepIndex:
    """The index of the largest value along the last axis (the first on
    ties) of y (``-2^(k-1) <= y < 2^(k-1)``, the caller's guarantee), as a
    :class:`RepIndex` of y's shape without its last axis (at most 2^16
    values along it): ``await idx.open(to=[...])`` gives int64 indices (a
    receiver outside the compute parties passes ``shape=``). Rounds: the
    module docstring's table."""
    _check(y, None, k)
    rt = y.rt
    if y.shares is None:
        return RepIndex(rt, None, ())
    shape = y.shape
    assert shape is not None
    if len(shape) < 1 or not 1 <= shape[-1] <= 1 << INDEX_BITS:
        raise LocalProtocolViolation(f"argmax takes 1 to 2^{INDEX_BITS} values along the last axis")
    eng = rt.replicated_engine
    n, batch = shape[-1], shape[:-1]
    count = int(np.prod(batch))
    if n == 1:
        return RepIndex(rt, np.zeros((INDEX_BITS, words_for(count)), dtype=np.uint64), batch)
    dealt = await _argmax_dealt(y, k, count, n) if n <= ALL_PAIRS_MAX and k <= 63 else None
    if dealt is not None:
        return RepIndex(rt, dealt, batch)
    # Beyond (or a batch too big for one dealt message): bit planes and a tournament.
    flat = Pair(y.shares.first.reshape(-1), y.shares.second.reshape(-1))
    values = SlicedBits(rt, await to_bits(eng, flat, k), k, True, (count, n))
    index, _ = await values.argmax(axis=-1)
    assert index.shares is not None
    pad = np.zeros((INDEX_BITS - index.k, words_for(count)), dtype=np.uint64)
    return RepIndex(rt, np.concatenate([index.shares.first, pad]), batch)  # (first shares: an XOR term)
