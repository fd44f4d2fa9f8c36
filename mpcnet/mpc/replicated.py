"""Three-party replicated secret sharing: arithmetic mod 2^64 and bit-sliced bits.

The scheme of Araki, Furukawa, Lindell, Nof and Ohara, "High-Throughput
Semi-Honest Secure Three-Party Computation with an Honest Majority" (CCS
2016). A value ``x`` is split into three shares ``x = s_0 + s_1 + s_2``
(mod 2^64 for :data:`RING`; XOR for :data:`BITS`, whose arrays are bit planes
of uint64 words, 64 lanes per word: :mod:`mpcnet.mpc.bitslice`). Compute party
``i`` (its position among the three) holds the pair ``(s_i, s_(i+1))``: any
two parties hold all three shares, any one holds two uniformly random words
that say nothing about ``x``.

* local: ``+ -``, XOR, NOT, public constants (added to ``s_0`` only), scaling;
* :meth:`ReplicatedEngine.mul` / :meth:`~ReplicatedEngine.and_` — one round,
  one share per element per party, sent to one neighbour: party ``i``
  computes ``z_i = x_i y_i + x_i y_(i+1) + x_(i+1) y_i + a_i`` (an additive
  3-out-of-3 sharing of ``x y``; XOR and AND for bits) and sends ``z_i`` to
  party ``i - 1``, which then holds ``(z_(i-1), z_i)``
  (:meth:`~ReplicatedEngine.reshare` does this for any local additive term). The ``a_i`` are a sharing of zero
  that costs no message: ``a_i = F(k_(i,i+1)) - F(k_(i-1,i))`` (XOR for bits),
  where ``k_(i,j)`` is the key parties i and j share and F a PRG (AES-128 in
  counter mode), so the sum telescopes to zero and ``z_i`` looks uniform to
  party ``i - 1``, who misses ``k_(i,i+1)`` (AFLNO section 2.2);
* :meth:`~ReplicatedEngine.input` — one round: a compute party ``d`` draws
  ``s_d`` and ``s_(d+1)`` from the keys it shares with its neighbours (each
  neighbour draws the one it holds) and sends ``s_(d-1) = x - s_d - s_(d+1)``
  to both; a party outside the three deals three random shares and sends each
  compute party its pair;
* :meth:`~ReplicatedEngine.open` — one round: party ``j`` sends ``s_(j+1)``
  to party ``j - 1``, the one share it misses (parties outside the three get
  ``s_j`` from every ``j``).

Keys: ``k_(i,j)`` is AES-128 keyed with (the first 16 bytes of)
``ctx.pairwise_key(peer, "replicated:<label>")`` (fresh per session and
label; a label serves once per session), and every draw uses a fresh counter
block: the engine numbers its uses (every party makes the same calls in the
same order) and a use's number is the top 64 bits of the CTR nonce, so no
keystream block is ever used twice.

Security: semi-honest, one corruption among the three compute parties (plus
any number of input-only parties, who see only what is opened to them):
what a corrupted party receives is, apart from the opened values, uniformly
random and independent of the other parties' inputs (AFLNO Theorem 2.6; the
zero-sharing is pseudo-random under AES). Not secure against a malicious
party (it can add errors to the products), nor against two colluding
parties (together they hold every share).

Arrays may have any shape; every call handles any number of elements in the
same rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ..context import Context
from ..errors import ConfigError, LocalProtocolViolation, RemoteProtocolViolation
from .receive import Expect, exchange

__all__ = ["ReplicatedEngine", "Pair", "RING", "BITS", "PairwisePRG"]

Array = np.ndarray[Any, Any]

#: The arithmetic of a sharing: mod 2^64 (``+``) or bitwise (XOR).
RING = "ring"
BITS = "bits"
_KINDS = (RING, BITS)
#: Bytes of keystream per AES call (fits the caches: 6x faster than one big call here).
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Draws of up to this many words take the counter-block (ECB) path of PairwisePRG.words.
_SMALL = 4096
#: A CTR counter block: the use number, then the block count, both big-endian.
_BLOCK = np.dtype([("use", ">u8"), ("counter", ">u8")])
_COUNTERS = np.arange((_SMALL + 1) // 2, dtype=np.uint64)


class Pair(NamedTuple):
    """What one compute party holds of a sharing: ``first = s_i``, ``second = s_(i+1)``."""

    first: Array
    second: Array


class PairwisePRG:
    """Uniform uint64 words from a key two parties share: AES-128-CTR, one
    nonce per use (the use number in the top 64 bits of the counter block,
    the block count in the low 64), so both key holders draw the same words
    for the same use and no two uses share a keystream block."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("a PRG key is at least 16 bytes")
        self._aes = algorithms.AES(key[:16])
        # Small draws (most of a circuit's: one per AND layer) encrypt their counter blocks with one
        # ECB context made here, the same keystream as CTR mode without a cipher context per call
        # (setting one up cost more than the AES itself for a few words).
        self._ecb = Cipher(self._aes, modes.ECB()).encryptor()

    def words(self, use: int, count: int) -> Array:
        """``count`` words for use number ``use`` (0 <= use < 2^64)."""
        if count <= _SMALL:
            blocks = np.empty((count + 1) // 2, dtype=_BLOCK)
            blocks["use"] = use
            blocks["counter"] = _COUNTERS[: blocks.size]
            out = np.empty(16 * blocks.size + 16, dtype=np.uint8)  # (update_into wants a block to spare)
            self._ecb.update_into(blocks.view(np.uint8), out)  # type: ignore[arg-type]
            return out[: 8 * count].view(np.uint64)
        nbytes = 8 * count
        out = np.empty(nbytes + 16, dtype=np.uint8)
        enc = Cipher(self._aes, modes.CTR(use.to_bytes(8, "big") + bytes(8))).encryptor()
        view = memoryview(out)  # type: ignore[arg-type]
        for start in range(0, nbytes, _CHUNK):
            size = min(_CHUNK, nbytes - start)
            # update_into wants room for a block more than it writes; the next chunk overwrites it.
            enc.update_into(_ZEROS[:size] if size < _CHUNK else _ZEROS, view[start : start + size + 15])
        return out[:nbytes].view(np.uint64)


class ReplicatedEngine:
    """Replicated sharing among exactly three ``compute`` parties of ``ctx``
    (default: all parties, then there must be three). ``label`` names this
    engine's keys (one engine per label and session). At a party outside the
    three, methods that compute return None without a round.
    """

    def __init__(self, ctx: Context, compute: Sequence[str] | None = None, *, label: str = "engine") -> None:
        self.ctx = ctx
        self.compute = list(ctx.parties if compute is None else compute)
        if len(self.compute) != 3 or len(set(self.compute)) != 3 or not set(self.compute) <= set(ctx.parties):
            raise ConfigError("replicated sharing needs exactly three distinct compute parties of the session")
        self.is_compute = ctx.me in self.compute
        self._uses = 0
        self._expects: dict[tuple[int, ...], Expect] = {}
        self.index = self.compute.index(ctx.me) if self.is_compute else -1
        if self.is_compute:
            name = f"replicated:{label}"
            # A second engine with this label would draw the same keystream.
            ctx.claim_once(name)
            self.next = self.compute[(self.index + 1) % 3]
            self.prev = self.compute[(self.index - 1) % 3]
            self._prg_next = PairwisePRG(ctx.pairwise_key(self.next, name))
            self._prg_prev = PairwisePRG(ctx.pairwise_key(self.prev, name))

    # -- randomness ------------------------------------------------------------------

    def _next_use(self) -> int:
        use = self._uses
        self._uses += 1
        return use

    def zero_share(self, shape: tuple[int, ...], kind: str) -> Array:
        """This party's ``a_i`` of a fresh pseudo-random sharing of zero
        (``a_0 + a_1 + a_2 = 0``, or XOR): ``F(k_(i,i+1)) - F(k_(i-1,i))``."""
        self._require_compute()
        use, count = self._next_use(), math.prod(shape)
        mine, theirs = self._prg_next.words(use, count), self._prg_prev.words(use, count)
        out = mine ^ theirs if kind == BITS else mine - theirs
        return out.reshape(shape)

    def random(self, shape: tuple[int, ...]) -> Pair:
        """A fresh pseudo-random sharing nobody knows the value of, with no
        message: ``s_i`` from the key of parties i - 1 and i, so party i
        draws its first share with the previous party's key and its second
        with the next one's (one use number)."""
        self._require_compute()
        use, count = self._next_use(), math.prod(shape)
        return Pair(self._prg_prev.words(use, count).reshape(shape), self._prg_next.words(use, count).reshape(shape))

    # -- local operations ------------------------------------------------------------

    def add(self, x: Pair, y: Pair, kind: str) -> Pair:
        """Shares of x + y (XOR for bits); local."""
        op = np.bitwise_xor if kind == BITS else np.add
        return Pair(op(x.first, y.first), op(x.second, y.second))

    def sub(self, x: Pair, y: Pair) -> Pair:
        """Shares of x - y mod 2^64; local."""
        return Pair(x.first - y.first, x.second - y.second)

    def add_public(self, x: Pair, value: Array | int | np.uint64, kind: str) -> Pair:
        """Shares of x + c for a public c (XOR for bits): only ``s_0`` moves,
        at party 0 (its first share) and party 2 (its second)."""
        op = np.bitwise_xor if kind == BITS else np.add
        c = np.asarray(value, dtype=np.uint64)
        first = op(x.first, c) if self.index == 0 else np.broadcast_to(x.first, np.broadcast_shapes(x.first.shape, c.shape))
        second = op(x.second, c) if self.index == 2 else np.broadcast_to(x.second, first.shape)
        return Pair(np.ascontiguousarray(first), np.ascontiguousarray(second))

    def invert(self, x: Pair) -> Pair:
        """Shares of NOT x (every bit of every word): XOR with all ones."""
        return self.add_public(x, _ONES, BITS)

    def scale(self, x: Pair, c: Array | int) -> Pair:
        """Shares of c * x mod 2^64 for a public c; local."""
        cc = np.asarray(c, dtype=np.uint64)
        return Pair(x.first * cc, x.second * cc)

    def public(self, value: Array, kind: str) -> Pair:
        """A public value as a sharing (``s_0 = value``, the others zero)."""
        v = np.asarray(value, dtype=np.uint64)
        zero = np.zeros_like(v)
        return Pair(v.copy() if self.index == 0 else zero, v.copy() if self.index == 2 else zero.copy())

    # -- rounds ----------------------------------------------------------------------

    async def reshare(self, z: Array, kind: str) -> Pair:
        """One round: turn ``z`` (this party's term of an additive 3-out-of-3
        sharing, e.g. a local product) into a replicated sharing of the same
        value: ``z_i`` plus a fresh zero-sharing term goes to the previous party."""
        self._require_compute()
        z = np.asarray(z, dtype=np.uint64)
        mask = self.zero_share(z.shape, kind)
        return await self._pass_back(mask ^ z if kind == BITS else mask + z)

    async def _pass_back(self, z: Array) -> Pair:
        """One round: send a masked ``z_i`` to the previous party, receive ``z_(i+1)``."""
        z = np.ascontiguousarray(z, dtype=np.uint64)
        expect = self._expects.get(z.shape)
        if expect is None:  # (one per shape: a circuit's rounds repeat a few shapes)
            expect = self._expects[z.shape] = Expect.array(np.uint64, z.shape)
        got = await exchange(self.ctx, {self.prev: z}, {self.next: expect})
        return Pair(z, got[self.next])

    async def mul(self, x: Pair, y: Pair) -> Pair:
        """One round: shares of x * y mod 2^64 (elementwise, broadcasting)."""
        z = x.first * (y.first + y.second) + x.second * y.first
        return await self._pass_back(z + self.zero_share(z.shape, RING))

    async def and_(self, x: Pair, y: Pair) -> Pair:
        """One round: shares of x AND y (bitwise on words, broadcasting)."""
        # x_i y_i + x_i y_(i+1) + x_(i+1) y_i with one AND fewer.
        z = x.first & (y.first ^ y.second)
        z ^= x.second & y.first
        z ^= self.zero_share(z.shape, BITS)
        return await self._pass_back(z)

    async def and_many(self, pairs: Sequence[tuple[Pair, Pair]]) -> list[Pair]:
        """One round for several ANDs of any shapes (concatenated on the wire)."""
        self._require_compute()
        shapes = [np.broadcast_shapes(x.first.shape, y.first.shape) for x, y in pairs]
        sizes = [math.prod(s) for s in shapes]
        z = np.empty(sum(sizes), dtype=np.uint64)
        at = 0
        for (x, y), shape, size in zip(pairs, shapes, sizes, strict=True):
            part = z[at : at + size].reshape(shape)
            np.bitwise_xor(y.first, y.second, out=part)
            part &= x.first
            part ^= x.second & y.first
            at += size
        z ^= self.zero_share(z.shape, BITS)
        both = await self._pass_back(z)
        out, at = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            out.append(Pair(both.first[at : at + size].reshape(shape), both.second[at : at + size].reshape(shape)))
            at += size
        return out

    async def input(self, owners: Mapping[str, tuple[int, ...] | None], mine: Array | None, kind: str, *,
                    undeclared: Callable[[Any], tuple[int, ...]] | None = None, header: Any = None,
                    headers: dict[str, Any] | None = None) -> dict[str, Pair]:
        """One round: each party in ``owners`` (party -> the declared shape of
        its uint64 array: values mod 2^64, or bit-plane words) shares ``mine``.
        Every party of the session takes part in the round (those with nothing
        to send or receive too). Returns ``{owner: my pair}`` at compute
        parties, ``{}`` elsewhere.

        An owner whose shape is None chooses it: it sends its ``header`` (a
        small public value, e.g. the element shape) with its shares, and each
        receiver gets the array shape from ``undeclared(header)``, which
        raises ValueError on a header it refuses (a
        RemoteProtocolViolation naming the owner, before any share is
        used). The received headers go into ``headers`` when given."""
        ctx = self.ctx
        if ctx.me in owners:
            want = owners[ctx.me]
            if mine is None or (want is not None and np.shape(mine) != tuple(want)):
                raise LocalProtocolViolation(f"input must be a uint64 array of shape {want}")
            mine = np.ascontiguousarray(mine, dtype=np.uint64)
        if any(shape is None for shape in owners.values()) and undeclared is None:
            raise LocalProtocolViolation("an input of undeclared shape needs the 'undeclared' rule")
        outgoing: dict[str, Any] = {}
        expect: dict[str, Expect | None] = {}  # None: an undeclared shape, checked below
        uses: dict[str, int] = {}
        own: Pair | None = None
        for owner, shape in owners.items():
            if owner in self.compute:
                # Every party numbers every compute owner's use, in the mapping's order.
                uses[owner] = self._uses
                self._uses += 1
                if not self.is_compute:
                    continue
                if owner == ctx.me:
                    assert mine is not None
                    count = mine.size
                    s_d = self._prg_prev.words(uses[owner], count).reshape(mine.shape)
                    s_next = self._prg_next.words(uses[owner], count).reshape(mine.shape)
                    s_last = self._combine(mine, s_d, s_next, kind)
                    outgoing[self.prev] = outgoing[self.next] = s_last if shape is not None else [header, s_last]
                    own = Pair(s_d, s_next)
                else:
                    expect[owner] = None if shape is None else Expect.array(np.uint64, tuple(shape))
            elif owner == ctx.me:
                assert mine is not None
                shares = self._deal(mine, kind)
                for j, p in enumerate(self.compute):
                    pair = np.stack([shares[j], shares[(j + 1) % 3]])
                    outgoing[p] = pair if shape is not None else [header, pair]
            elif self.is_compute:
                expect[owner] = None if shape is None else Expect.array(np.uint64, (2, *shape))
        raw = await ctx.exchange(outgoing, expect_from=list(expect))
        out: dict[str, Pair] = {}
        if not self.is_compute:
            return out
        for owner, shape in owners.items():
            if owner == ctx.me and owner in self.compute:
                assert own is not None
                out[owner] = own
                continue
            got = self._received(owner, raw[owner], expect[owner], shape is None and owner not in self.compute,
                                 undeclared, headers)
            if owner not in self.compute:
                out[owner] = Pair(got[0], got[1])
                continue
            d = self.compute.index(owner)
            if (d + 1) % 3 == self.index:  # I hold (s_(d+1), s_(d-1)): s_(d+1) from our key
                out[owner] = Pair(self._prg_prev.words(uses[owner], got.size).reshape(got.shape), got)
            else:  # I am d - 1 and hold (s_(d-1), s_d): s_d from our key
                out[owner] = Pair(got, self._prg_next.words(uses[owner], got.size).reshape(got.shape))
        return out

    @staticmethod
    def _received(owner: str, value: Any, spec: Expect | None, stacked: bool,
                  undeclared: Callable[[Any], tuple[int, ...]] | None, headers: dict[str, Any] | None) -> Array:
        """An owner's shares, checked against the declared shape or, for an
        undeclared one, against the shape its header asks for."""
        if spec is not None:
            return spec.check(value, owner)  # type: ignore[no-any-return]
        assert undeclared is not None
        if not (isinstance(value, list) and len(value) == 2):
            raise RemoteProtocolViolation("expected [header, shares] for an input of undeclared shape", peer=owner)
        try:
            shape = tuple(undeclared(value[0]))
        except ValueError as exc:
            raise RemoteProtocolViolation(f"refused input header: {exc}", peer=owner) from None
        if headers is not None:
            headers[owner] = value[0]
        return Expect.array(np.uint64, (2, *shape) if stacked else shape).check(value[1], owner)  # type: ignore[no-any-return]

    async def open(self, x: Pair | None, kind: str, to: Iterable[str] | None = None,
                   shape: tuple[int, ...] | None = None) -> Array | None:
        """One round: the value of ``x`` at the parties in ``to`` (default:
        the three), None elsewhere. A compute party sends the previous party
        the one share it misses; a receiver outside the three gets a share
        from each (it passes the value's ``shape``, and ``x=None``)."""
        ctx = self.ctx
        receivers = list(self.compute if to is None else to)
        outgoing: dict[str, Any] = {}
        expect: dict[str, Expect] = {}
        if self.is_compute:
            assert x is not None
            shape = tuple(x.first.shape)
            if self.prev in receivers:
                outgoing[self.prev] = np.ascontiguousarray(x.second)
            for p in receivers:
                if p not in self.compute:
                    outgoing[p] = np.ascontiguousarray(x.first)
            if ctx.me in receivers:
                expect[self.next] = Expect.array(np.uint64, shape)
        elif ctx.me in receivers:
            if shape is None:
                raise LocalProtocolViolation("a receiver outside the compute parties must pass the shape")
            expect = {p: Expect.array(np.uint64, tuple(shape)) for p in self.compute}
        got = await exchange(ctx, outgoing, expect)
        if ctx.me not in receivers:
            return None
        if self.is_compute:
            assert x is not None
            return self._combine(x.first, x.second, got[self.next], kind, negate=False)
        s = [got[p] for p in self.compute]
        return self._combine(s[0], s[1], s[2], kind, negate=False)

    @staticmethod
    def and_term(x: Pair, y: Pair) -> Array:
        """This party's term ``x_i y_i + x_i y_(i+1) + x_(i+1) y_i`` (AND and
        XOR) of an additive 3-out-of-3 sharing of ``x AND y``; local. Such
        terms add up (a sum of products), and :meth:`open_sum` opens the sum."""
        z = x.first & (y.first ^ y.second)
        z ^= x.second & y.first
        return z

    async def open_sum(self, z: Array | None, kind: str, to: Iterable[str], shape: tuple[int, ...]) -> Array | None:
        """One round: the value of an additive 3-out-of-3 sharing (this party's
        term ``z``: e.g. sums of :meth:`and_term`, or the first share of a
        replicated value) at the parties in ``to``. Each compute party masks
        its term with a fresh zero-sharing and sends it to every receiver but
        itself, so any two terms a party sees are uniform given the value
        (the third key is unknown to it). Receivers outside the three pass
        ``z=None`` and the ``shape`` (checked for everyone)."""
        ctx = self.ctx
        receivers = list(to)
        outgoing: dict[str, Any] = {}
        if self.is_compute:
            assert z is not None
            if tuple(z.shape) != tuple(shape):
                raise LocalProtocolViolation(f"the term has shape {z.shape}, expected {tuple(shape)}")
            z = np.asarray(z, dtype=np.uint64)
            mask = self.zero_share(z.shape, kind)
            z = np.ascontiguousarray(mask ^ z if kind == BITS else mask + z)
            outgoing = {p: z for p in receivers if p != ctx.me}
        senders = [p for p in self.compute if p != ctx.me] if ctx.me in receivers else []
        got = await exchange(ctx, outgoing, {p: Expect.array(np.uint64, tuple(shape)) for p in senders})
        if ctx.me not in receivers:
            return None
        terms = [got[p] for p in senders] + ([z] if self.is_compute else [])
        assert len(terms) == 3
        return self._combine(terms[0], terms[1], terms[2], kind, negate=False)

    # -- helpers ---------------------------------------------------------------------

    def _require_compute(self) -> None:
        if not self.is_compute:
            raise LocalProtocolViolation(f"{self.ctx.me} is not one of the three compute parties")

    @staticmethod
    def _combine(a: Array, b: Array, c: Array, kind: str, *, negate: bool = True) -> Array:
        """``a - b - c`` (``negate``) or ``a + b + c`` mod 2^64; XOR of the three for bits."""
        if kind == BITS:
            return a ^ b ^ c
        if kind != RING:
            raise LocalProtocolViolation(f"unknown sharing kind {kind!r}")
        return a - b - c if negate else a + b + c

    def _deal(self, value: Array, kind: str) -> list[Array]:
        """Three fresh shares of ``value`` from this party's own randomness."""
        r = self.ctx.random.uint64(2 * value.size).reshape((2, *value.shape))
        return [r[0], r[1], self._combine(value, r[0], r[1], kind)]
