"""Fixed-point layers over Z_(2^127-1): matrix products, truncation, ReLU and
argmax on :class:`~mpcnet.mpc.SecretInt` values among three or more compute
parties (Shamir, t = (c-1)//2; at exactly three with
``Runtime(engine="auto")`` the replicated field engine of
:mod:`mpcnet.mpc.repfield`: the same values, cheaper products).

The fixed-point value class (:mod:`mpcnet.mpc.fixed`) keeps the scale; these
functions see integers (a value with f fractional bits is ``round(v 2^f)``).

* :func:`matmul` — ``x @ w`` for secret x (..., n) and secret w (n, m):
  every inner product is a local sum of share products, returned *wide*
  (degree 2t) with no round. :func:`trunc`, :func:`relu_trunc` and
  :func:`argmax` take wide values and fold the degree reduction into the
  opening they make anyway, so a layer has no reduction round of its own
  (``await y.reduce()``, 1 round, for any other use).
* :func:`trunc` — ``floor(y / 2^f)``, **exact**: no rounding error and no
  failure probability, for ``-2^(k-1) <= y < 2^(k-1)`` (the caller's
  guarantee; outside it the result is wrong, not an error).
* :func:`relu_trunc` — ``max(0, floor(y / 2^f))``, exact, same guarantee.
* :func:`argmax` — the index of the largest value along the last axis (the
  first on ties) as an unsigned :class:`~mpcnet.mpc.SecretBits` of
  :data:`INDEX_BITS` = 16 bits: ``await idx.open(to=[client], shape=...)``
  gives int64 indices (``shape``: the batch shape, which a client outside
  the compute parties must pass).

How. With ``y' = y + 2^(k-1)`` in ``[0, 2^k)``, each of the first t + 1
compute parties draws a uniform integer ``A_i`` of k + kappa bits (kappa =
40, :data:`~mpcnet.mpc.convert.STATISTICAL_SECURITY`) and deals, in one
round, ``A_i`` and ``floor(A_i / 2^w)`` in Z_p (for the one or two widths w
needed), the low bits of ``A_i`` in GF(2^8) and its part of a few daBits
(the XOR of t + 1 contributed bits, ``ceil(log2(t+1))`` product rounds,
the first of which also sets aside the zero masks of a wide opening). The
compute parties open ``c = y' + sum_i A_i`` (the masked opening of
:func:`~mpcnet.mpc.convert.bit_decompose`, Catrina and de Hoogh, SCN 2010;
with the degree-2t opening for a wide y). Over the integers, for w <= k,

    floor(y' / 2^w) = floor(c / 2^w) - sum_i floor(A_i / 2^w) + floor((c mod 2^w - sum_i a_i) / 2^w)

with ``a_i = A_i mod 2^w``; the last term lies in [-(t+1), 0] and is
``E - (t + 1)`` for E the bits from w up of
``(c mod 2^w) + (t + 1) + sum_i ~a_i`` (w-bit complements): a sum of t + 2
numbers in GF(2^8) brought down to two by carry-save layers, then only the
carries into bits w.. (a folded tree of generate/propagate pairs, no full
adder), the few bits of E moved into Z_p with the daBits (one opening).
:func:`trunc` takes ``w = f`` (quotient ``floor(y'/2^f) - 2^(k-1-f)``);
:func:`relu_trunc` also ``w = k - 1`` in the same rounds (the sign,
``[y >= 0] = floor(y' / 2^(k-1))``) and multiplies (one round);
:func:`argmax` adds the numbers in full modulo 2^k (a Kogge-Stone adder:
the bits of ``y'``, ordered as y), compares all pairs in one batch (the
earlier index wins ties), ANDs each value's n - 1 "beats" bits into a
one-hot winner and takes its index's bits locally (the XOR of the one-hot
bits times public index bits); beyond :data:`ALL_PAIRS_MAX` values, the
tournament of :meth:`SecretBits.argmax <mpcnet.mpc.SecretBits.argmax>`. Doing the
random masks as sums of contributions (not as k daBits per value, as
bit decomposition does) cut the Z_p work per value from about 43 dealt and
43 multiplied elements to 7 dealt and 4 multiplied: the 64-32-10 layer
work on 450 queries went from 21 s to about 2.5 s (three parties in one
process, load 2-3.5 on 2 cores).

Rounds (whatever the batch; T = ceil(log2(t+1)), e = bitlen(t+1), L the
carry-save layers that bring t + 2 numbers to two: 1 at t = 1, 2 at t = 2,
3 at t = 3, 4; the first 1 + T rounds do not depend on y):

==================  ================================================================
``matmul``          0 (wide result)
``trunc``           1 + T + 1 + L + 1 + ceil(log2(f + e - 1)) + 1
                    (11 at t = 1 and f = 16; 13 at t = 2)
``relu_trunc``      1 + T + 1 + L + 1 + ceil(log2(k + e - 2)) + 1 + 1
                    (13 at t = 1 and 35 <= k <= 66; 15 at t = 2)
``argmax``          1 + 1 + L + 1 + ceil(log2 k) (the bits), then for n <= 32 values
                    1 + ceil(log2 k) + ceil(log2(n - 1)) (all pairs compared at
                    once, an AND tree; 21 at t = 1, k = 46, n = 10), beyond
                    ceil(log2 n) (2 + ceil(log2 k)) (a tournament); one more for a
                    wide y on the Shamir engine (its masks)
==================  ================================================================

Bytes, per value and contributor: 1 + (widths) + (daBits) Z_p elements and
the low bits in GF(2^8) to each other compute party; then GF(2^8) ANDs
(about 5w per width) and a few Z_p elements. Measured on the 64-32-10
network (three parties in one process over memory links,
``benchmarks/bench_fixedfield_layers.py``): 15-21 MB per party for 450
queries, 35-124 KB for one, 37 rounds in all (inputs and the client's
opening included).

Limits: ``1 <= f <= k - 2`` and ``2 <= k <= max_decompose_bits(P127, t)``
(82 at t <= 2: the masked value must not wrap the prime; see
:mod:`mpcnet.mpc.convert`).

Security: semi-honest, honest majority (c >= 2t + 1 compute parties), any
t colluding compute parties. Opened, to the compute parties only: ``c =
y' + sum_i A_i`` (statistically hiding: an honest contributor's A_i is
uniform on 2^(k+kappa) values, so c is within statistical distance 2^-40
of a value independent of y) and the bits of E XOR uniform daBits
(uniform). Everything else is Shamir shares (GF(2^8) products and Z_p
products reduced as the engine does). A wide opening reveals only its
value: the Shamir engine masks it with a fresh random degree-2t sharing of
zero set aside in a product round, the replicated engine with a fresh
pseudo-random zero-sharing. Input-only parties hold absent values: every
function returns at once for them, with no round.

The hiding of ``c`` holds for y within the caller's guarantee: far outside
it, ``c``'s top bits are y's. Semi-honest callers keep the guarantee (in
``mlp-predict`` the server proves it for every query within the public
input bound); a party that deviates, say a client that sends out-of-range
queries, could read the top bits of the products it caused from ``c``:
outside this model, stated in ``docs/security.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, LocalProtocolViolation, RemoteProtocolViolation
from .binary import all_of, bnot, bxor, greater_than, to_bits
from .convert import STATISTICAL_SECURITY, max_decompose_bits
from .fields import GF256, P127
from .secbits import SecretBits
from .secint import SecretInt

__all__ = ["matmul", "trunc", "relu_trunc", "argmax", "INDEX_BITS"]

Array = np.ndarray[Any, Any]

#: The width of :func:`argmax`'s index (fixed: a party outside the compute parties must know it to open it).
INDEX_BITS = 16
#: Up to this many values :func:`argmax` compares all pairs at once (fewer rounds, n(n-1)/2 comparisons);
#: beyond, a tournament (n - 1 comparisons, ceil(log2 n) times the rounds).
ALL_PAIRS_MAX = 32


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


class _Masked:
    """What :func:`_masked_open` leaves: the opened ``c`` (N ints), the
    contributors' low bits ``a_i`` (GF(2^8), one (N, W) array each), the sums
    ``sum_i floor(A_i / 2^w)`` (Z_p, one (N,) array per width) and the
    conversion daBits (Z_p and GF(2^8) halves, (N, nconv))."""

    def __init__(self, c: Array, low_bits: list[Array], quotients: list[Array], conv_p: Array, conv_b: Array,
                 contributors: int) -> None:
        self.c, self.low_bits, self.quotients = c, low_bits, quotients
        self.conv_p, self.conv_b, self.contributors = conv_p, conv_b, contributors


async def _contribute(rt: Any, zp: Array, gf: Array) -> tuple[list[Array], list[Array]]:
    """One round: each of the first t + 1 compute parties deals its (N, a)
    Z_p array ``zp`` and (N, b) GF(2^8) array ``gf`` (degree t) to the
    compute parties; returns, per contributor in order, the shares received."""
    eng_p, eng_b = rt.field_engine, rt.bit_engine
    ctx = rt.ctx
    contributors = eng_p.compute[: eng_p.t + 1]
    own: tuple[Array, Array] | None = None
    outgoing: dict[str, Any] = {}
    if ctx.me in contributors:
        dealt_p, dealt_b = eng_p.deal(zp), eng_b.deal(gf)
        for i, p in enumerate(eng_p.compute):
            if p == ctx.me:
                own = (dealt_p[i], dealt_b[i])
            else:
                outgoing[p] = [P127.to_wire(dealt_p[i]), GF256.to_wire(dealt_b[i])]
    got = await ctx.exchange(outgoing, expect_from=[p for p in contributors if p != ctx.me])
    out_p: list[Array] = []
    out_b: list[Array] = []
    for p in contributors:
        if p == ctx.me:
            assert own is not None
            out_p.append(own[0])
            out_b.append(own[1])
            continue
        msg = got[p]
        if not (isinstance(msg, list) and len(msg) == 2):
            raise RemoteProtocolViolation("malformed mask contribution", peer=p)
        out_p.append(P127.from_wire(msg[0], zp.shape, p))
        out_b.append(GF256.from_wire(msg[1], gf.shape, p))
    return out_p, out_b


async def _masked_open(y: SecretInt, k: int, widths: list[int], low: int, nconv: int) -> _Masked:
    """Open ``c = y + 2^(k-1) + sum_i A_i`` to the compute parties (module
    docstring): each of the first t + 1 compute parties contributes a
    uniform (k + kappa)-bit A_i with ``floor(A_i / 2^w)`` for each w of
    ``widths`` (Z_p), the ``low`` low bits of A_i (GF(2^8)) and its part of
    ``nconv`` daBits per value (one round); the daBits' XOR tree (its
    first round sets aside the zero masks a wide opening uses), then the
    opening (one round)."""
    rt = y.rt
    eng_p = rt.field_engine
    assert y.shares is not None
    shares = np.asarray(y.shares, dtype=object).reshape(-1)
    n = shares.shape[0]
    wide = y.degree == 2
    big_k = k + STATISTICAL_SECURITY
    a = np.asarray(P127.random(n, rt.ctx.random), dtype=object) % (1 << big_k)
    coins = np.frombuffer(rt.ctx.random.bytes(n * nconv), dtype=np.uint8).reshape(n, nconv) & 1
    columns = [a[:, None]] + [(a >> w)[:, None] for w in widths] + [coins.astype(object)]
    zp = np.concatenate(columns, axis=1) % P127.p
    gf = np.concatenate([to_bits(a % (1 << low), low).reshape(n, low), coins], axis=1)
    parts_p, parts_b = await _contribute(rt, np.asarray(zp, dtype=object), gf)
    total = parts_p[0]
    for part in parts_p[1:]:
        total = P127.add(total, part)
    conv_b = parts_b[0][:, low:]
    for part in parts_b[1:]:
        conv_b = bxor(conv_b, part[:, low:])
    # the daBits' Z_p halves: XOR of the contributed bits, a + b - 2ab as a tree
    layer = [part[:, 1 + len(widths):] for part in parts_p]
    masks = n if wide else 0
    while nconv and len(layer) > 1:
        pairs = [(layer[i], layer[i + 1]) for i in range(0, len(layer) - 1, 2)]
        products = await eng_p.mul_many(pairs, masks=masks)
        masks = 0
        nxt = [P127.sub(P127.add(u, v), P127.scale(2, uv)) for (u, v), uv in zip(pairs, products, strict=True)]
        layer = nxt + ([layer[-1]] if len(layer) % 2 else [])
    if masks and eng_p.masks_available < n:  # (no product round to carry them)
        await eng_p.reduce_many([], masks=masks)
    value = P127.add(P127.add(shares, total[:, 0]), P127.const(1 << (k - 1), (n,)))
    if wide:
        c = await eng_p.open_wide(value, to=eng_p.compute)
    else:
        c = await eng_p.open(value, to=eng_p.compute)
    assert c is not None
    return _Masked(np.asarray(c, dtype=object), [part[:, :low] for part in parts_b],
                   [total[:, 1 + i] for i in range(len(widths))], layer[0], conv_b, len(parts_p))


def _operands(masked: _Masked, w: int, width: int) -> tuple[Array, list[Array]]:
    """The numbers whose sum :func:`_excess` and :func:`argmax` need, as
    ``width``-bit arrays: ``(c mod 2^w) + (t + 1)`` (public) and the w-bit
    complements ``~(a_i mod 2^w)`` (shared), so that the sum is
    ``(c mod 2^w) - sum_i a_i + (t + 1) 2^w`` (nothing wraps when
    ``width >= w + bitlen(t + 1)``: the sum is below ``(t + 2) 2^w``)."""
    n = masked.c.shape[0]
    plus = np.asarray(masked.c % (1 << w), dtype=object) + masked.contributors
    public = to_bits(np.asarray(plus % (1 << width), dtype=object), width).reshape(n, width)
    shared = []
    for bits in masked.low_bits:
        x = np.zeros((n, width), dtype=np.uint8)
        x[:, :w] = bnot(bits[:, :w])
        shared.append(x)
    return public, shared


async def _to_two(eng_b: Any, problems: list[tuple[Array, list[Array]]]) -> list[tuple[Array, bool, Array]]:
    """Each problem's ``public + sum(shared)`` (bit arrays, LSB first on the
    last axis, modulo 2^width) as two numbers ``(u, u is public, v)``:
    carry-save layers, three numbers to two in one AND round (the majority
    ``xy + z(x + y)``, one AND when z is public), all problems in lockstep."""
    pending = [[(public, True)] + [(x, False) for x in shared] for public, shared in problems]
    while any(len(items) > 2 for items in pending):
        pairs: list[tuple[Array, Array]] = []
        plans = []
        for items in pending:
            groups = [items[i : i + 3] for i in range(0, len(items) - 2, 3)]
            plan = []
            for group in groups:
                (x, _), (y, _), (z, z_public) = sorted(group, key=lambda item: item[1])  # a public one last
                xy = bxor(x, y)
                plan.append((z, z_public, xy, len(pairs)))
                pairs.append((x, y))
                if not z_public:
                    pairs.append((z, xy))
            plans.append((plan, items[3 * len(groups) :]))
        products = await eng_b.mul_many(pairs)
        pending = []
        for plan, rest in plans:
            out = list(rest)
            for z, z_public, xy, at in plan:
                carry = bxor(products[at], z * xy if z_public else products[at + 1])
                shifted = np.zeros_like(carry)
                shifted[..., 1:] = carry[..., :-1]
                out += [(bxor(xy, z), False), (shifted, False)]
            pending.append(out)
    result = []
    for items in pending:
        (u, u_public), (v, v_public) = sorted(items, key=lambda item: not item[1])  # a public one first
        assert not v_public  # (one public operand per problem)
        result.append((u, u_public, v))
    return result


async def _generate_propagate(eng_b: Any, two: list[tuple[Array, bool, Array]]) -> list[tuple[Array, Array]]:
    """Per problem, the bitwise generate ``u AND v`` and propagate
    ``u XOR v`` (one AND round unless u is public)."""
    pairs = [(u, v) for u, public, v in two if not public]
    products = iter(await eng_b.mul_many(pairs) if pairs else [])
    return [(u * v if public else next(products), bxor(u, v)) for u, public, v in two]


async def _carries_into(eng_b: Any, gp: list[tuple[Array, Array]], positions: list[list[int]]) -> list[Array]:
    """Per problem, the carries into the given bit positions of ``u + v``
    (shape (N, len(positions))): for each position j the group generate of
    bits 0..j-1, folded pairwise from the bottom (``G = G_hi + P_hi G_lo``,
    ``P = P_hi P_lo``: generate and propagate exclude each other, so XOR is
    OR), padded on top with propagating positions; all trees in lockstep,
    ceil(log2 max j) rounds, about 2j ANDs each."""
    trees: list[tuple[Array, Array]] = []
    for (g, p), where in zip(gp, positions, strict=True):
        size = 1 << max(0, (max(where) - 1).bit_length())
        n = g.shape[0]
        big_g = np.zeros((n, len(where), size), dtype=np.uint8)
        big_p = np.ones((n, len(where), size), dtype=np.uint8)
        for i, j in enumerate(where):
            big_g[:, i, :j] = g[:, :j]
            big_p[:, i, :j] = p[:, :j]
        trees.append((big_g, big_p))
    while any(tree[0].shape[-1] > 1 for tree in trees):
        pairs: list[tuple[Array, Array]] = []
        for big_g, big_p in trees:
            if big_g.shape[-1] > 1:
                hi_p = np.ascontiguousarray(big_p[..., 1::2])
                pairs += [(hi_p, np.ascontiguousarray(big_g[..., 0::2])),
                          (hi_p, np.ascontiguousarray(big_p[..., 0::2]))]
        products = iter(await eng_b.mul_many(pairs))
        nxt = []
        for big_g, big_p in trees:
            if big_g.shape[-1] > 1:
                carry, prop = next(products), next(products)
                big_g, big_p = bxor(big_g[..., 1::2], carry), prop
            nxt.append((big_g, big_p))
        trees = nxt
    return [big_g[..., 0] for big_g, _ in trees]


async def _excess(rt: Any, masked: _Masked, widths: list[int]) -> list[Array]:
    """Z_p shares of ``floor((c mod 2^w - sum_i a_i) / 2^w)`` (in
    [-(t + 1), 0]) for each w of ``widths``: the bits w and up of the sum of
    :func:`_operands` (:func:`_to_two`, then only the carries into those
    bits, :func:`_carries_into`), moved into Z_p with the daBits (one
    opening), minus t + 1."""
    extra = masked.contributors.bit_length()
    eng_b = rt.bit_engine
    problems = [_operands(masked, w, w + extra) for w in widths]
    gp = await _generate_propagate(eng_b, await _to_two(eng_b, problems))
    carries = await _carries_into(eng_b, gp, [list(range(w, w + extra)) for w in widths])
    n = masked.c.shape[0]
    # the sum's bit j is p_j XOR (the carry into j)
    top = np.concatenate([bxor(p[:, w : w + extra], cj) for (_, p), cj, w in zip(gp, carries, widths, strict=True)],
                         axis=1)
    opened = await eng_b.open(bxor(top, masked.conv_b), to=eng_b.compute)
    assert opened is not None
    if np.any(opened > 1):
        raise RemoteProtocolViolation("an opened bit is neither 0 nor 1: some compute party deviated")
    c_p = P127.from_ints(np.asarray(opened, dtype=np.int64))
    r_p = masked.conv_p
    as_field = P127.sub(P127.add(r_p, c_p), P127.mul(P127.scale(2, c_p), r_p)).reshape(n, len(widths), extra)
    weights = np.array([1 << j for j in range(extra)], dtype=object)
    out = []
    for i in range(len(widths)):
        value = np.asarray(np.dot(as_field[:, i, :], weights), dtype=object) % P127.p
        out.append(P127.sub(value, P127.const(masked.contributors, (n,))))
    return out


async def _sum_bits(rt: Any, masked: _Masked, k: int) -> Array:
    """GF(2^8) bits of ``(c - sum_i A_i) mod 2^k`` (= y + 2^(k-1)): the sum
    of :func:`_operands` modulo 2^k by carry-save layers and a Kogge-Stone
    adder (every carry: ceil(log2 k) rounds after the generate round)."""
    eng_b = rt.bit_engine
    ((g, p),) = await _generate_propagate(eng_b, await _to_two(eng_b, [_operands(masked, k, k)]))
    big_g, big_p = g, p.copy()
    d = 1
    while d < k:
        hi_g, hi_p = big_g[..., d:], big_p[..., d:]
        carry, prop = await eng_b.mul_many([(hi_p, big_g[..., :-d]), (hi_p, big_p[..., :-d])])
        big_g = np.concatenate([big_g[..., :d], bxor(hi_g, carry)], axis=-1)
        big_p = np.concatenate([big_p[..., :d], prop], axis=-1)
        d *= 2
    out = p.copy()
    out[..., 1:] = bxor(p[..., 1:], big_g[..., :-1])
    return out


def _floor_public(c: Array, w: int, offset: int = 0) -> Array:
    return P127.from_ints(np.asarray([(int(v) >> w) - offset for v in c], dtype=object))


async def trunc(y: SecretInt, f: int, k: int) -> SecretInt:
    """``floor(y / 2^f)`` exactly (rounding towards minus infinity: the
    result r satisfies ``r <= y / 2^f < r + 1``, so it is within one unit of
    the last place below the real quotient, always; no failure
    probability), given the caller's guarantee
    ``-2^(k-1) <= y < 2^(k-1)`` (otherwise the result is wrong). ``y`` may
    be wide (degree 2t, from :func:`matmul`): its reduction is folded into
    the opening. Rounds: see the module docstring."""
    _check(y, f, k)
    lo, hi = _out_range(y, f, k, relu=False)
    if y.shares is None:
        return SecretInt(y.rt, None, lo, hi)
    shape = y.shares.shape
    extra = (y.rt.field_engine.t + 1).bit_length()
    masked = await _masked_open(y, k, [f], f, extra)
    (excess,) = await _excess(y.rt, masked, [f])
    q = P127.add(P127.sub(_floor_public(masked.c, f, 1 << (k - 1 - f)), masked.quotients[0]), excess)
    return SecretInt(y.rt, q.reshape(shape), lo, hi)


async def relu_trunc(y: SecretInt, f: int, k: int) -> SecretInt:
    """``max(0, floor(y / 2^f))`` exactly (the ReLU of :func:`trunc`'s
    result: within one unit of the last place below ``max(0, y / 2^f)``,
    always; no failure probability), given the caller's guarantee ``-2^(k-1) <= y < 2^(k-1)``. ``y`` may be
    wide (its reduction folded into the opening). Rounds: see the module
    docstring."""
    _check(y, f, k)
    lo, hi = _out_range(y, f, k, relu=True)
    if y.shares is None:
        return SecretInt(y.rt, None, lo, hi)
    shape = y.shares.shape
    m = k - 1
    extra = (y.rt.field_engine.t + 1).bit_length()
    masked = await _masked_open(y, k, [f, m], m, 2 * extra)
    excess_f, excess_m = await _excess(y.rt, masked, [f, m])
    q = P127.add(P127.sub(_floor_public(masked.c, f, 1 << (k - 1 - f)), masked.quotients[0]), excess_f)
    # [y >= 0] = floor((y + 2^(k-1)) / 2^(k-1)), 0 or 1
    sign = P127.add(P127.sub(_floor_public(masked.c, m), masked.quotients[1]), excess_m)
    (out,) = await y.rt.field_engine.mul_many([(sign, q)])
    return SecretInt(y.rt, out.reshape(shape), lo, hi)


async def argmax(y: SecretInt, k: int) -> SecretBits:
    """The index of the largest value along the last axis (the first one on
    ties) of y (``-2^(k-1) <= y < 2^(k-1)``, the caller's guarantee; wide
    allowed), as an unsigned :class:`~mpcnet.mpc.SecretBits` of
    :data:`INDEX_BITS` bits (a fixed width, so that a receiver outside the
    compute parties, which holds no shares to learn n from, opens it with
    ``await idx.open(to=[client], shape=...)``) and the shape of y without
    its last axis (at most 2^16 values along it): the opening gives int64
    indices. Rounds: see the module docstring."""
    _check(y, None, k)
    if y.shares is None:
        return SecretBits(y.rt, None, INDEX_BITS)
    shape = y.shares.shape
    if len(shape) < 1 or not 1 <= shape[-1] <= 1 << INDEX_BITS:
        raise LocalProtocolViolation(f"argmax takes 1 to 2^{INDEX_BITS} values along the last axis")
    masked = await _masked_open(y, k, [], k, 0)
    bits = await _sum_bits(y.rt, masked, k)  # y + 2^(k-1): unsigned, k bits, the same order
    values = bits.reshape((*shape, k))
    n = shape[-1]
    eng_b = y.rt.bit_engine
    if n > ALL_PAIRS_MAX:
        index, _ = await SecretBits(y.rt, values, k, signed=False).argmax(axis=-1)
        assert index.shares is not None
        # (zero bits on top: public constants, valid shares)
        pad = np.zeros((*index.shares.shape[:-1], INDEX_BITS - index.k), dtype=np.uint8)
        return SecretBits(y.rt, np.concatenate([index.shares, pad], axis=-1), INDEX_BITS)
    if n == 1:
        return SecretBits(y.rt, np.zeros((*shape[:-1], INDEX_BITS), dtype=np.uint8), INDEX_BITS)
    # every pair i < j at once: [v_j > v_i]; i beats j when not (the earlier one wins ties)
    lower, upper = np.triu_indices(n, 1)
    later_greater = await greater_than(eng_b, np.ascontiguousarray(values[..., upper, :]),
                                       np.ascontiguousarray(values[..., lower, :]))
    pair = np.zeros((n, n), dtype=np.int64)
    pair[lower, upper] = pair[upper, lower] = np.arange(lower.size)
    rivals = np.array([[j for j in range(n) if j != i] for i in range(n)])  # (n, n - 1)
    earlier = (np.arange(n)[:, None] < rivals).astype(np.uint8)  # i is the earlier of the pair
    beats = later_greater[..., pair[np.arange(n)[:, None], rivals]] ^ earlier  # (..., n, n - 1)
    onehot = await all_of(eng_b, np.ascontiguousarray(beats))  # (..., n): 1 at the winner only
    # its index's bits: the XOR of the winner's one-hot bit times the public bits of each index (local)
    index_bits = to_bits(np.arange(n), INDEX_BITS)  # (n, INDEX_BITS)
    out = np.bitwise_xor.reduce(onehot[..., :, None] * index_bits, axis=-2)
    return SecretBits(y.rt, np.ascontiguousarray(out, dtype=np.uint8), INDEX_BITS)
