"""Comparison, equality, selection and arithmetic-to-binary conversion on
bit-sliced replicated shares (:mod:`mpcnet.mpc.replicated`, :mod:`mpcnet.mpc.bitslice`).

A k-bit batch is a :class:`~mpcnet.mpc.replicated.Pair` of ``(k, words)``
uint64 plane arrays (plane 0 the least significant bit); a single bit is a
``(1, words)`` pair. XOR and NOT are local, each AND layer is one round in
which every party sends one bit per AND gate to one neighbour.

* :func:`less_than` — ``x < y`` by the parallel-prefix comparison: per bit
  ``g_j = NOT x_j AND y_j`` ("y is above from here") and ``e_j = NOT (x_j XOR
  y_j)``, then a balanced tree of the associative operator
  ``(G, E)_hi o (G, E)_lo = (G_hi XOR E_hi G_lo, E_hi E_lo)`` (the carry
  operator of Brent and Kung, IEEE Trans. Computers 1982, with "equal" as
  propagate; XOR is OR here since a greater and an equal cannot both hold).
  Rounds ``1 + ceil(log2 k)``; AND gates ``k + 2(k - 1) - ceil(log2 k)`` (the
  lowest block's E is never needed): 89 for 32 bits. Signed values flip
  their top bit first (two's complement order = unsigned order of x XOR 2^(k-1)).
* :func:`equal` — an AND tree over ``e_j``: ``ceil(log2 k)`` rounds, k - 1 ANDs.
* :func:`select` — ``s ? a : b = b XOR (s AND (a XOR b))``: 1 round, k ANDs.
* :func:`to_bits` — arithmetic shares mod 2^64 to bit planes: each party
  bit-slices the two shares it holds, which are binary sharings of
  ``s_0, s_1, s_2`` with no message; a full-adder layer (carry-save:
  ``maj(a, b, c) = ((a XOR c)(b XOR c)) XOR c``, one AND per bit) leaves two
  addends, summed by a Kogge-Stone parallel-prefix adder (IEEE Trans.
  Computers 1973): ``2 + ceil(log2 k)`` rounds for the low k bits.
* :func:`less_than_ring` — ``x < y`` for arithmetic shares of k-bit values
  (k <= 63): bit k of ``x - y`` (the sign, since ``|x - y| < 2^k``), by the
  full-adder layer and the carry into bit k only (the prefix tree above):
  ``2 + ceil(log2 k)`` rounds.

The protocol of a comparison between two holders' inputs is then: input
(1 round), compare, open (1 round): 8 rounds for 32 bits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from .bitslice import pack, unpack, words_for
from .replicated import BITS, Pair, ReplicatedEngine

__all__ = ["input_bits", "open_bits", "less_than", "equal", "select", "to_bits", "add_planes", "less_than_ring", "flip_top",
           "compare", "prefix_top", "BitEngine"]

Array = np.ndarray[Any, Any]
OPS = ("lt", "le", "gt", "ge", "eq", "ne")


async def input_bits(eng: ReplicatedEngine, owners: Mapping[str, int], mine: Any, k: int) -> dict[str, Pair]:
    """One round: each party in ``owners`` (party -> its declared number of
    values) bit-slices its k-bit integers ``mine`` (two's complement for
    negative ones) into k planes and shares them; {owner: my pair} at the compute parties."""
    planes = None
    if eng.ctx.me in owners:
        values = np.asarray(mine).reshape(-1)
        if values.size != owners[eng.ctx.me]:
            raise ValueError(f"expected {owners[eng.ctx.me]} values")
        planes = pack(values, k)
    return await eng.input({p: (k, words_for(m)) for p, m in owners.items()}, planes, BITS)


async def open_bits(eng: ReplicatedEngine, x: Pair | None, m: int, *, signed: bool = False,
                    to: list[str] | None = None, k: int | None = None) -> Array | None:
    """One round: the ``m`` values whose planes ``x`` shares, at the parties in
    ``to`` (default: the three); a receiver outside them passes ``x=None`` and ``k``."""
    shape = None if x is not None or k is None else (k, words_for(m))
    planes = await eng.open(x, BITS, to, shape=shape)
    return None if planes is None else unpack(planes, m, signed=signed)


class BitEngine(Protocol):
    """What the generic circuits below need of an engine: the three-party
    :class:`~mpcnet.mpc.replicated.ReplicatedEngine` (shares are Pairs) and the
    two-party :class:`~mpcnet.mpc.twoparty.TwoPartyEngine` (shares are plane
    arrays) both have it. An engine that also has ``and_pair(x, y1, y2)`` gets
    the prefix tree's two ANDs with a common operand through it."""

    def add(self, x: Any, y: Any, kind: str) -> Any: ...
    def invert(self, x: Any) -> Any: ...
    def add_public(self, x: Any, value: Any, kind: str) -> Any: ...
    async def and_(self, x: Any, y: Any) -> Any: ...
    async def and_many(self, pairs: Sequence[tuple[Any, Any]]) -> list[Any]: ...


# The helpers below move rows of a sharing of either kind.

def _rows(x: Any, rows: Any) -> Any:
    if isinstance(x, Pair):
        return Pair(x.first[rows], x.second[rows])
    return x[rows]


def _cat(*xs: Any) -> Any:
    if isinstance(xs[0], Pair):
        return Pair(np.concatenate([x.first for x in xs]), np.concatenate([x.second for x in xs]))
    return np.concatenate(xs)


def _len(x: Any) -> int:
    return int((x.first if isinstance(x, Pair) else x).shape[0])


def _zero_row(x: Any) -> Any:
    """A public all-zero plane shaped like one row of ``x`` (a sharing of zero with no message)."""
    if isinstance(x, Pair):
        return Pair(np.zeros_like(x.first[:1]), np.zeros_like(x.first[:1]))
    return np.zeros_like(x[:1])


def flip_top(eng: BitEngine, x: Any) -> Any:
    """``x`` with its top bit plane inverted (signed order to unsigned order); local."""
    mask = np.zeros((_len(x), 1), dtype=np.uint64)
    mask[-1] = np.uint64(0xFFFFFFFFFFFFFFFF)
    return eng.add_public(x, mask, BITS)


async def less_than(eng: BitEngine, x: Any, y: Any, *, signed: bool = False) -> Any:
    """Shares of ``x < y`` (one plane) for k-bit planes ``x``, ``y``."""
    if signed:
        x, y = flip_top(eng, x), flip_top(eng, y)
    g = await eng.and_(eng.invert(x), y)
    e = eng.invert(eng.add(x, y, BITS))
    return await prefix_top(eng, g, e)


async def prefix_top(eng: BitEngine, g: Any, e: Any) -> Any:
    """The generate bit of the whole range from per-position (generate,
    propagate) planes, position 0 lowest: ``ceil(log2 n)`` rounds."""
    while _len(g) > 1:
        n = _len(g)
        half = n // 2
        g_lo, g_hi = _rows(g, slice(0, 2 * half, 2)), _rows(g, slice(1, 2 * half, 2))
        e_lo, e_hi = _rows(e, slice(0, 2 * half, 2)), _rows(e, slice(1, 2 * half, 2))
        and_pair = getattr(eng, "and_pair", None)
        if and_pair is not None:
            # An engine with paired triples (two-party): both ANDs share e_hi, one pair each.
            carried, joined = await and_pair(e_hi, g_lo, e_lo)
            joined = _rows(joined, slice(1, None))
        else:
            # The block holding position 0 is never the upper half of a combination,
            # so its propagate bit is never used: skip that AND.
            carried, joined = await eng.and_many([(e_hi, g_lo), (_rows(e_hi, slice(1, None)),
                                                                 _rows(e_lo, slice(1, None)))])
        g_new = eng.add(g_hi, carried, BITS)
        e_new = _cat(_rows(e_lo, slice(0, 1)), joined)  # row 0: a placeholder
        if n % 2:
            g_new, e_new = _cat(g_new, _rows(g, slice(n - 1, n))), _cat(e_new, _rows(e, slice(n - 1, n)))
        g, e = g_new, e_new
    return g


async def equal(eng: BitEngine, x: Any, y: Any) -> Any:
    """Shares of ``x == y`` (one plane): an AND tree over the agreeing bits."""
    e = eng.invert(eng.add(x, y, BITS))
    while _len(e) > 1:
        n = _len(e)
        half = n // 2
        both = await eng.and_(_rows(e, slice(0, 2 * half, 2)), _rows(e, slice(1, 2 * half, 2)))
        e = _cat(both, _rows(e, slice(n - 1, n))) if n % 2 else both
    return e


async def select(eng: BitEngine, s: Any, a: Any, b: Any) -> Any:
    """Shares of ``a`` where the bit ``s`` (one plane) is 1, else ``b``: one round."""
    diff = eng.add(a, b, BITS)
    return eng.add(b, await eng.and_(s, diff), BITS)


async def compare(eng: BitEngine, x: Any, y: Any, op: str, *, signed: bool = False) -> Any:
    """Shares of ``x OP y`` for ``op`` in lt, le, gt, ge, eq, ne (one plane)."""
    if op == "lt":
        return await less_than(eng, x, y, signed=signed)
    if op == "gt":
        return await less_than(eng, y, x, signed=signed)
    if op == "le":
        return eng.invert(await less_than(eng, y, x, signed=signed))
    if op == "ge":
        return eng.invert(await less_than(eng, x, y, signed=signed))
    if op == "eq":
        return await equal(eng, x, y)
    if op == "ne":
        return eng.invert(await equal(eng, x, y))
    raise ValueError(f"unknown comparison {op!r}; use one of {', '.join(OPS)}")


def _local_bits(eng: ReplicatedEngine, x: Pair, k: int) -> list[Pair]:
    """Binary sharings (k planes) of the three arithmetic shares ``s_0, s_1,
    s_2``, with no message: party i holds s_i and s_(i+1), and a value known
    to the holders of one share position is a sharing with zero elsewhere."""
    mine, nxt = pack(x.first, k), pack(x.second, k)
    zero = np.zeros_like(mine)
    i = eng.index
    out = [Pair(zero, zero)] * 3
    out[i] = Pair(mine, zero)  # s_i sits at position i: my first
    out[(i + 1) % 3] = Pair(zero, nxt)  # s_(i+1) at position i + 1: my second
    return out


async def _carry_save(eng: ReplicatedEngine, x: Pair, k: int) -> tuple[Pair, Pair]:
    """One round: (s, c) with ``s + c = s_0 + s_1 + s_2`` mod 2^k, as k planes each."""
    a, b, c = _local_bits(eng, x, k)
    s = eng.add(eng.add(a, b, BITS), c, BITS)
    carry = eng.add(await eng.and_(eng.add(a, c, BITS), eng.add(b, c, BITS)), c, BITS)
    # c = 2 * carry: shift the planes up one, dropping the top.
    zero = Pair(np.zeros_like(s.first[:1]), np.zeros_like(s.first[:1]))
    return s, _cat(zero, _rows(carry, slice(0, k - 1)))


async def to_bits(eng: ReplicatedEngine, x: Pair, k: int = 64) -> Pair:
    """Bit planes (k, words) of the low k bits of the arithmetic sharing
    ``x`` (a flat array of m values): ``2 + ceil(log2 k)`` rounds."""
    s, c = await _carry_save(eng, x, k)
    return await add_planes(eng, s, c, k)  # type: ignore[no-any-return]


async def add_planes(eng: BitEngine, s: Any, c: Any, k: int) -> Any:
    """Shares of the low k bit planes of ``s + c`` for two k-plane sharings,
    by a Kogge-Stone parallel-prefix adder: ``1 + ceil(log2 k)`` rounds (any engine)."""
    g = await eng.and_(s, c)
    p = eng.add(s, c, BITS)
    carries, prop = g, p
    d = 1
    while d < k:
        # Kogge-Stone: position j absorbs the block ending at j - d.
        more = k - 2 * d > 0
        left = _cat(_rows(prop, slice(d, k)), _rows(prop, slice(2 * d, k))) if more else _rows(prop, slice(d, k))
        right = _cat(_rows(carries, slice(0, k - d)), _rows(prop, slice(d, k - d))) if more else _rows(carries, slice(0, k - d))
        both = await eng.and_(left, right)
        carries = _cat(_rows(carries, slice(0, d)), eng.add(_rows(carries, slice(d, k)), _rows(both, slice(0, k - d)), BITS))
        if more:
            prop = _cat(_rows(prop, slice(0, 2 * d)), _rows(both, slice(k - d, None)))
        d *= 2
    # Sum bit j = p_j XOR (carry out of positions 0..j-1).
    return eng.add(p, _cat(_zero_row(p), _rows(carries, slice(0, k - 1))), BITS)


async def less_than_ring(eng: ReplicatedEngine, x: Pair, y: Pair, k: int) -> Pair:
    """Shares of ``x < y`` (one plane) for arithmetic sharings of k-bit
    values, signed or not (``1 <= k <= 63``): bit k of ``x - y``."""
    if not 1 <= k <= 63:
        raise ValueError("arithmetic comparison needs 1 <= k <= 63 (the difference must not wrap)")
    s, c = await _carry_save(eng, eng.sub(x, y), k + 1)
    g = await eng.and_(_rows(s, slice(0, k)), _rows(c, slice(0, k)))
    carry_in = await prefix_top(eng, g, eng.add(_rows(s, slice(0, k)), _rows(c, slice(0, k)), BITS))
    return eng.add(eng.add(_rows(s, slice(k, k + 1)), _rows(c, slice(k, k + 1)), BITS), carry_in, BITS)
