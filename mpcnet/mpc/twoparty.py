"""Two-party computation without a dealer: XOR and additive sharing with
OT-made correlations (:mod:`mpcnet.mpc.ot`).

Exactly two compute parties ``P0, P1`` (their order in ``compute``). A value
is split into two shares, ``x = x_0 XOR x_1`` for bit planes (uint64 words,
64 lanes per word: :mod:`mpcnet.mpc.bitslice`) or ``x = x_0 + x_1 mod 2^64``
for ring values; each party holds one. A value one party knows in the clear
is a sharing in which the other's share is zero (no message).

* local: XOR, NOT (P0 flips its share), public constants (P0 adds them);
* :meth:`TwoPartyEngine.and_` — Beaver's multiplication on bit triples
  (Beaver, CRYPTO 1991): one round, each party sends two bits per AND;
* bit triples (offline, before any input exists): two random OTs per
  triple, one each way. With a random OT in which P_i sends and P_j
  chooses ``b_j``, P_i gets ``(u_0, u_1)`` and P_j gets ``u_(b_j)``: set
  ``a_i = u_0 XOR u_1``, then ``u_0 XOR u_(b_j) = a_i b_j`` is an XOR
  sharing of the cross term, and ``c_i = a_i b_i XOR u_0^(i) XOR u_(b_i)^(j)``
  gives ``c_0 XOR c_1 = (a_0 XOR a_1)(b_0 XOR b_1)`` (the construction of
  Asharov, Lindell, Schneider, Zohner, CCS 2013, section 5);
* :meth:`TwoPartyEngine.and_pair` — ``x AND y1`` and ``x AND y2`` on a
  paired triple ``(a; b1, b2; a b1, a b2)``: the same two random OTs as one
  triple, the shared ``a_i`` a choice bit and ``b1, b2`` two bits of the
  pad difference (the OT outputs are 16 bytes anyway);
* :meth:`TwoPartyEngine.mul` — products mod 2^64 from correlated OT
  (Gilboa, CRYPTO 1999): for ``x_0 * y_1`` P1 chooses with the 64 bits of
  ``y_1`` and P0 sends correlation ``2^j x_0`` in OT j; the sums of the 64
  outputs are additive shares of the cross term. Both cross terms in the same
  two rounds (:class:`~mpcnet.mpc.ot.OTDuplex`); 128 OTs per product;
* :meth:`TwoPartyEngine.to_bits` (A2B) — each party bit-slices its own
  share and a Kogge-Stone adder on Beaver triples adds the two:
  1 + ceil(log2 k) rounds;
* :meth:`TwoPartyEngine.from_bits` (B2A) — ``b_0 XOR b_1 = b_0 + b_1 -
  2 b_0 b_1`` per bit, the cross term from one correlated OT of the same
  plumbing as :meth:`~TwoPartyEngine.mul` (correlation ``2^(j+1) b_0``):
  two rounds, k OTs per k-bit value;
* :meth:`TwoPartyEngine.millionaires` — ``x < y`` and ``x == y`` for P_a's
  private ``x`` against P_b's private ``y``, the leaf step of Rathee et al.,
  "CrypTFlow2: Practical 2-Party Secure Inference" (CCS 2020, section 4.1):
  both are cut into 4-bit blocks; for each block the owner of ``x`` offers,
  in a 1-out-of-16 OT, the 16 two-bit messages ``([x_blk < i], [x_blk == i])``
  XOR its own random bits, and the owner of ``y`` takes message ``y_blk``;
  the blocks are then combined by the prefix tree of
  :func:`mpcnet.mpc.bitcircuits.prefix_top` on the two-party engine
  (7 combinations, 11 AND gates, for 32 bits instead of 89 for the bit-level
  circuit; the two ANDs of a combination share an operand, so they run on
  one paired triple: :meth:`TwoPartyEngine.and_pair`).
  The 1-out-of-16 OT is made from four random 1-out-of-2 OTs
  (Naor and Pinkas, SODA 2001, 3.1): the pad of message ``i`` is the XOR over
  the four of the 2-bit segment ``i`` of the hash output ``H_l^(i_l)`` of
  OT ``l`` (the IKNP pads of :mod:`mpcnet.mpc.ot.iknp`, 32 bits each); any
  ``i`` other than the chooser's ``c`` differs from it in some bit ``l``,
  whose pad the chooser lacks, and segment ``i`` of that pad is used by
  message ``i`` only, so the other 15 pads are jointly pseudo-random to it.
  The random OTs are made offline with random choices ``c``; online the
  chooser sends ``d = y_blk XOR c`` and the offerer the 16 messages masked
  with the pads permuted by ``d`` (Beaver's derandomisation, CRYPTO 1995):
  two rounds and 4 + 32 bits per block. The owner of ``y`` offers the odd
  blocks (messages ``([i < y_blk], [i == y_blk])``, chosen by ``x_blk``), so
  both parties do the same OT work in the same two rounds.

Offline and online: :meth:`TwoPartyEngine.prepare` makes the OT setup
(256 base OTs, one round), the triples and the random OTs a computation will
need (one round for all of them) before the inputs exist; the online calls
use them up and make more on the spot (one round each time) if they run
short. On an OT extension kept on the link, the random OTs' round can be the
caller's own first round (:meth:`TwoPartyEngine.offer_kept_with_ots`).
:attr:`TwoPartyEngine.stats` counts both phases.

Security: semi-honest, one of the two parties corrupted (the other honest):
what a party receives is, apart from opened values, masked by the other's
triples or OT pads, which are uniformly random to it given its own view
(assuming the OT extension is secure: AES as an ideal permutation for the
TMMO hash and as a PRG, CDH in the Ed25519 group and BLAKE2b as a random
oracle for the base OTs; ``docs/security.md``, "Two parties"). Not secure against a malicious
party, which can change the outcome by sending wrong values.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..context import Context
from ..errors import ConfigError, LocalProtocolViolation, RemoteProtocolViolation
from .bitcircuits import add_planes
from .bitslice import from_lanes, lanes, pack
from .ot import MAX_OTS, OTDuplex
from .receive import Expect, exchange

__all__ = ["TwoPartyEngine", "TwoPartyStats", "BLOCK", "blocks_for", "leaf_ots", "millionaires_ots", "tree_ands",
           "tree_pairs"]

Array = np.ndarray[Any, Any]
#: The two kinds of sharing (the names of :mod:`mpcnet.mpc.replicated`): XOR and mod 2^64.
BITS = "bits"
RING = "ring"
_ONES = np.uint64(0xFFFFFFFFFFFFFFFF)
#: Bits per block of the millionaires protocol (1-out-of-16 OTs).
BLOCK = 4
_N = 1 << BLOCK
#: Per x value: the 2-bit segments of all 16 messages, lt bit (bit 0) where i > x, eq bit (bit 1) at i = x.
_LT_TABLE = np.array([sum(1 << (2 * i) for i in range(x + 1, _N)) for x in range(_N)], dtype=np.uint32)
_EQ_TABLE = np.array([2 << (2 * x) for x in range(_N)], dtype=np.uint32)
#: Per y value (offered by the right operand's owner): lt bit where i < y.
_GT_TABLE = np.array([sum(1 << (2 * i) for i in range(y)) for y in range(_N)], dtype=np.uint32)
#: Per OT l of a block: the segments whose index has bit l set.
_BIT_MASKS = [np.uint32(sum(3 << (2 * i) for i in range(_N) if i >> j & 1)) for j in range(BLOCK)]


def blocks_for(k: int) -> int:
    """4-bit blocks of a k-bit value."""
    return -(-k // BLOCK)


def leaf_ots(k: int) -> int:
    """Random OTs one k-bit comparison uses for its leaves."""
    return BLOCK * blocks_for(k)


def tree_pairs(n: int) -> int:
    """Paired AND gates (:meth:`TwoPartyEngine.and_pair`) of
    :func:`~mpcnet.mpc.bitcircuits.prefix_top` over n leaves: one per combination."""
    total = 0
    while n > 1:
        total += n // 2
        n = n // 2 + n % 2
    return total


def tree_ands(n: int) -> int:
    """AND gates of :func:`~mpcnet.mpc.bitcircuits.prefix_top` over n leaves."""
    total = 0
    while n > 1:
        half = n // 2
        total += half + half - 1
        n = half + n % 2
    return total


@dataclass
class TwoPartyStats:
    """What the engine did. The offline phase (:meth:`TwoPartyEngine.prepare`:
    OT setup, triples, leaf OTs) is timed and metered on its own (seconds,
    bytes this party sent with framing, rounds); :meth:`TwoPartyEngine.report`
    gives the online figures as everything since the engine began minus that.
    Offline OTs sent in the caller's first round (:meth:`~TwoPartyEngine.offer_kept_with_ots`)
    count that round as offline, with their arrays' bytes (the rest of the round, such as the
    first leaf message of :meth:`~TwoPartyEngine.millionaires_first`, is online bytes)."""

    offline_seconds: float = 0.0
    offline_bytes: int = 0
    offline_rounds: int = 0
    random_ots: int = 0
    triples_made: int = 0
    triples_used: int = 0


#: OT extensions kept from one session to the next on a link, in this
#: process: (me, peer, link key) -> (the extension's id, the extension).
_KEPT: dict[tuple[str, str, bytes], tuple[bytes, OTDuplex]] = {}


class TwoPartyEngine:
    """XOR and additive sharing between exactly two ``compute`` parties of
    ``ctx`` (default: all parties, then there must be two). Both parties
    make the same calls in the same order. ``label`` is reserved for the
    session (one engine per label)."""

    def __init__(self, ctx: Context, compute: Sequence[str] | None = None, *, label: str = "engine") -> None:
        self.ctx = ctx
        self.compute = list(ctx.parties if compute is None else compute)
        if len(self.compute) != 2 or len(set(self.compute)) != 2 or not set(self.compute) <= set(ctx.parties):
            raise ConfigError("the two-party engine needs exactly two distinct compute parties of the session")
        if ctx.me not in self.compute:
            raise ConfigError("the two-party engine runs at its two compute parties only")
        ctx.claim_once(f"twoparty:{label}")
        self.index = self.compute.index(ctx.me)
        self.peer = self.compute[1 - self.index]
        self.stats = TwoPartyStats()
        self._start = (time.perf_counter(), ctx.bytes_sent, ctx.round)
        self._ot: OTDuplex | None = None
        self._ot_id = b""
        self._offered: tuple[bytes, OTDuplex] | None = None
        # The offline OTs begun on the offered extension (offer_kept_with_ots):
        # (their sizes, choices, the extension's state, this party's message bytes), then the peer's message.
        self._early: tuple[tuple[int, int, int, int], Array, Any, int] | None = None
        self._early_got: Any = None
        # millionaires_first: (left, m, k, values, R_c, n_off), then the peer's d.
        self._first: tuple[str, int, int, Array, Array, int] | None = None
        self._first_d: Array | None = None
        # Triple pool: flat uint64 words (a, b, c), and a cursor.
        self._triples = np.zeros((3, 0), dtype=np.uint64)
        self._t_at = 0
        # Paired triple pool: (a, b1, b2, c1, c2) words.
        self._pairs = np.zeros((5, 0), dtype=np.uint64)
        self._p_at = 0
        # Leaf OT pools: as the offerer (pads for choice 0 and 1, uint32) and as the chooser (choices, pad).
        self._send_pads = np.zeros((2, 0), dtype=np.uint32)
        self._s_at = 0
        self._recv = np.zeros((2, 0), dtype=np.uint32)
        self._r_at = 0

    # -- bookkeeping -----------------------------------------------------------------

    def report(self) -> dict[str, float | int]:
        """Offline and online figures (seconds, bytes sent, rounds) and the
        correlations made and used, as a plain dict."""
        t0, b0, r0 = self._start
        out: dict[str, float | int] = dict(self.stats.__dict__)
        out["online_seconds"] = time.perf_counter() - t0 - self.stats.offline_seconds
        out["online_bytes"] = self.ctx.bytes_sent - b0 - self.stats.offline_bytes
        out["online_rounds"] = self.ctx.round - r0 - self.stats.offline_rounds
        return out

    async def _exchange(self, value: Any, expect: Expect | None) -> Any:
        """One round with the peer: send ``value`` (None: nothing), receive what ``expect`` says (None: nothing)."""
        out = {} if value is None else {self.peer: value}
        got = await exchange(self.ctx, out, {} if expect is None else {self.peer: expect})
        return got.get(self.peer)

    # -- an OT extension kept from session to session on one link -----------------------

    def _kept_key(self) -> tuple[str, str, bytes] | None:
        try:
            return self.ctx.me, self.peer, self.ctx.link_key(self.peer, "twoparty/ot")
        except LocalProtocolViolation:  # a link without a pair secret keeps nothing
            return None

    def offer_kept(self) -> bytes:
        """Take the OT extension kept on this link by an earlier session (if
        any) for this one, and return its tag for the peer (b"" if none):
        a hash of its id and of both directions' counters, so the two ends'
        tags are equal exactly when they hold the same extension at the same
        point. Call before any OT; then :meth:`accept_kept` with the peer's tag."""
        key = self._kept_key()
        kept = _KEPT.pop(key, None) if key is not None and self._ot is None else None
        if kept is None:
            return b""
        self._offered = kept
        return _tag(*kept, self.index)

    def offer_kept_with_ots(self, *, and_words: int = 0, leaf_send: int = 0, leaf_recv: int = 0,
                            pair_words: int = 0) -> tuple[bytes, Any]:
        """:meth:`offer_kept`, and if an extension is offered, the message of
        the offline round that :meth:`prepare` would make with these sizes,
        computed on it now: send both in the tag round, and the kept path
        needs no round of its own for its offline OTs (a comparison: 6 rounds
        instead of 8 with :meth:`millionaires_first`). Returns (tag, message or None). The message is used
        only if the peer holds the same extension (:meth:`accept_kept` with
        its message, then :meth:`prepare` with the same sizes, which then
        sends nothing); otherwise it is dropped with the extension, whose
        counters it advanced, so its PRG blocks and tweaks are never used
        again. It is an ordinary IKNP message (the choices masked by the PRG
        of the seeds the peer lacks), computed before any input exists."""
        tag = self.offer_kept()
        if not tag or self._offered is None:
            return tag, None
        t = time.perf_counter()
        sizes = (and_words, leaf_send, leaf_recv, pair_words)
        _, send_total, recv_total = _totals(*sizes)
        if not (1 <= send_total <= MAX_OTS and 1 <= recv_total <= MAX_OTS):
            return tag, None  # one-way or several extension calls: prepare's own rounds
        width = 4 if leaf_send or leaf_recv else 1
        choices = np.frombuffer(self.ctx.random.bytes(recv_total), dtype=np.uint8) & 1
        message, state = self._offered[1].begin_random(send_total, choices, width)
        self._early = (sizes, choices, state, sum(int(a.nbytes) for a in message))
        self.stats.offline_seconds += time.perf_counter() - t
        return tag, message

    def accept_kept(self, mine: bytes, theirs: bytes, their_ots: Any = None, their_first: Any = None) -> None:
        """Use the offered extension if the peer offered the same tag; else
        drop it (this session then makes its own base OTs). ``their_ots``:
        the peer's message from :meth:`offer_kept_with_ots` (None if it sent
        none), ``their_first`` its :meth:`millionaires_first` message (None
        if none); with the same extension at both ends, both or neither must
        have sent each (:class:`~mpcnet.errors.RemoteProtocolViolation`)."""
        if self._offered is not None and mine and theirs == mine:
            self._ot_id, ot = self._offered
            ot.ctx = ot.sender.ctx = ot.receiver.ctx = self.ctx
            self._ot = ot
            if (self._early is None) != (their_ots is None):
                raise RemoteProtocolViolation("the offline OTs on the kept OT extension came from one end only",
                                              peer=self.peer)
            self._early_got = their_ots
            if (self._first is None) != (their_first is None):
                raise RemoteProtocolViolation("the first millionaires message came from one end only", peer=self.peer)
            if self._first is not None:
                self._first_d = Expect.array(np.uint8, (self._first[5],), lo=0, hi=_N - 1).check(their_first,
                                                                                                 self.peer)
        else:
            self._early = None
            self._first = None  # its d was made on leaf OTs of the dropped extension: never used
        self._offered = None

    def millionaires_first(self, left: str, values: Array, m: int, k: int) -> Array | None:
        """The first message of :meth:`millionaires` (this party's ``d =
        digit XOR c`` for the blocks it chooses in), made now on the leaf OTs
        that :meth:`offer_kept_with_ots` began, so that it goes in the same
        first round; None if none were begun (or not exactly these leaves).
        Both parties call it alike; :meth:`accept_kept` takes the peer's,
        and :meth:`millionaires` with the same arguments then skips its first
        round (a comparison on a kept extension: 6 rounds). If the peer does
        not hold the same extension, the message is dropped with it: ``c``
        are choice bits of OTs never used, uniform and hidden from the peer
        by IKNP, so ``d`` says nothing about the values."""
        if self._early is None or self._first is not None:
            return None
        (and_words, leaf_send, leaf_recv, pair_words), choices, state, _ = self._early
        nb = blocks_for(k)
        mine_offer = _offered_blocks(nb, left == self.ctx.me)
        n_off, n_ch = m * int(mine_offer.sum()), m * int((~mine_offer).sum())
        if (leaf_send, leaf_recv) != (BLOCK * n_off, BLOCK * n_ch) or np.shape(values) != (m,):
            return None
        # The leaf OTs it chooses in, as _store will put them in the pool (after the triples' OTs).
        n_tr = 64 * (and_words + pair_words)
        pads = OTDuplex.chosen_pads(state)[n_tr:n_tr + leaf_recv, :4].copy().view("<u4")[:, 0]
        c_and_pad = np.stack([choices[n_tr:n_tr + leaf_recv].astype(np.uint32), pads])
        d, rc = _choose(c_and_pad, _digits(values, nb, mine_offer)[1])
        self._first = (left, m, k, np.array(values, dtype=np.uint64), rc, n_off)
        return d

    def keep(self) -> None:
        """After a session that ended well (both ends call it at the same
        point): keep its OT extension for the next session on this link, whose
        OTs continue its counters (one long IKNP extension: no PRG block or
        hash tweak repeats). A session that fails never calls it, so a
        half-used extension is never kept."""
        key = self._kept_key()
        if self._ot is None or key is None:
            return
        if not self._ot_id:
            self._ot_id = self.ctx.pairwise_key(self.peer, "twoparty/ot-id")[:16]
        _KEPT[key] = (self._ot_id, self._ot)

    async def _duplex(self) -> OTDuplex:
        if self._ot is None:
            self._ot = await OTDuplex.setup(self.ctx, self.peer)
        return self._ot

    async def prepare(self, *, and_words: int = 0, leaf_send: int = 0, leaf_recv: int = 0,
                      pair_words: int = 0) -> None:
        """Offline (no input needed): the OT setup if not yet done, then in one
        round enough random OTs for ``and_words`` words of bit triples (64 AND
        gates each), ``pair_words`` words of paired triples (64 pairs of ANDs
        with one operand in common, :meth:`and_pair`) and ``leaf_send``/``leaf_recv``
        leaf OTs of the millionaires protocol, this party offering / choosing
        (the peer passes the two swapped)."""
        t, b, r = time.perf_counter(), self.ctx.bytes_sent, self.ctx.round
        if self._early is not None:
            sizes, choices, state, nbytes = self._early
            self._early = None
            if sizes != (and_words, leaf_send, leaf_recv, pair_words):
                raise LocalProtocolViolation("prepare() needs the sizes given to offer_kept_with_ots()")
            got, self._early_got = self._early_got, None
            (s0, s1), mine = self._ot_or_fail().end_random(state, got)
            self._store(and_words, leaf_send, leaf_recv, pair_words, choices, s0, s1, mine)
            self.stats.offline_seconds += time.perf_counter() - t
            # The offline OTs rode on the caller's first round: it counts as offline, with their bytes.
            self.stats.offline_rounds += 1
            self.stats.offline_bytes += nbytes
            return
        try:
            await self._make(and_words, leaf_send, leaf_recv, pair_words)
        finally:
            self.stats.offline_seconds += time.perf_counter() - t
            self.stats.offline_bytes += self.ctx.bytes_sent - b
            self.stats.offline_rounds += self.ctx.round - r

    def _ot_or_fail(self) -> OTDuplex:
        if self._ot is None:  # (accept_kept installs it before _early_got is set)
            raise LocalProtocolViolation("no OT extension in use")
        return self._ot

    async def _make(self, and_words: int, leaf_send: int, leaf_recv: int, pair_words: int = 0) -> None:
        ot = await self._duplex()
        _, send_total, recv_total = _totals(and_words, leaf_send, leaf_recv, pair_words)
        if send_total == 0 and recv_total == 0:
            return
        width = 4 if leaf_send or leaf_recv else 1
        choices = np.frombuffer(self.ctx.random.bytes(recv_total), dtype=np.uint8) & 1
        # One OT extension call makes at most MAX_OTS; split big requests (each part one round).
        sent0: list[Array] = []
        sent1: list[Array] = []
        got_parts: list[Array] = []
        lo_s = lo_r = 0
        while lo_s < send_total or lo_r < recv_total or not got_parts:
            ms, mr = min(MAX_OTS, send_total - lo_s), min(MAX_OTS, recv_total - lo_r)
            (x0, x1), mine = await self._random_pair(ot, ms, choices[lo_r:lo_r + mr], width)
            sent0.append(x0)
            sent1.append(x1)
            got_parts.append(mine)
            lo_s, lo_r = lo_s + ms, lo_r + mr
        s0 = np.concatenate(sent0) if sent0 else np.zeros((0, width), np.uint8)
        s1 = np.concatenate(sent1)
        got = np.concatenate(got_parts)
        self._store(and_words, leaf_send, leaf_recv, pair_words, choices, s0, s1, got)

    def _store(self, and_words: int, leaf_send: int, leaf_recv: int, pair_words: int, choices: Array, s0: Array,
               s1: Array, got: Array) -> None:
        """Triples, paired triples and leaf OTs into their pools, from the
        random OTs sent (``s0``, ``s1``) and received (``got``, by ``choices``)."""
        n_pr = 64 * pair_words
        n_tr, send_total, recv_total = _totals(and_words, leaf_send, leaf_recv, pair_words)
        self.stats.random_ots += send_total + recv_total
        n_plain = n_tr - n_pr
        if n_plain:
            u0, u1 = s0[:n_plain, 0] & 1, s1[:n_plain, 0] & 1
            b = choices[:n_plain]
            v = got[:n_plain, 0] & 1
            a = u0 ^ u1
            c = (a & b) ^ u0 ^ v
            new = np.stack([_pack_bits(a), _pack_bits(b), _pack_bits(c)])
            self._triples = np.concatenate([self._triples[:, self._t_at:], new], axis=1)
            self._t_at = 0
            self.stats.triples_made += n_plain
        if n_pr:
            # Paired triples (a; b1, b2; a b1, a b2): the shared a is this party's
            # choice bit, each b_k one bit of the pad difference of the OT it sends.
            sl = slice(n_plain, n_tr)
            u0, u1, v = s0[sl, 0] & 3, s1[sl, 0] & 3, got[sl, 0] & 3
            a = choices[sl]
            b2 = u0 ^ u1
            # c_k = a b_k XOR (my share of b_k^peer-side cross term: u0) XOR (my share of a_peer b_k: v)
            c2 = (b2 * a) ^ u0 ^ v
            new = np.stack([_pack_bits(a), _pack_bits(b2 & 1), _pack_bits(b2 >> 1),
                            _pack_bits(c2 & 1), _pack_bits(c2 >> 1)])
            self._pairs = np.concatenate([self._pairs[:, self._p_at:], new], axis=1)
            self._p_at = 0
            self.stats.triples_made += 2 * n_pr
        if leaf_send:
            pads = np.stack([s0[n_tr:, :4].copy().view("<u4")[:, 0], s1[n_tr:, :4].copy().view("<u4")[:, 0]])
            self._send_pads = np.concatenate([self._send_pads[:, self._s_at:], pads], axis=1)
            self._s_at = 0
        if leaf_recv:
            mine_pads = got[n_tr:, :4].copy().view("<u4")[:, 0]
            new_r = np.stack([choices[n_tr:].astype(np.uint32), mine_pads])
            self._recv = np.concatenate([self._recv[:, self._r_at:], new_r], axis=1)
            self._r_at = 0

    async def _random_pair(self, ot: OTDuplex, m: int, choices: Array, width: int) -> tuple[tuple[Array, Array], Array]:
        """Random OTs both ways in one round (either side may be empty)."""
        if m and len(choices):
            return await ot.random(m, choices, width)
        if m:
            return await ot.sender.random(m, width), np.zeros((0, width), np.uint8)
        mine = await ot.receiver.random(choices, width)
        empty = np.zeros((0, width), np.uint8)
        return (empty, empty), mine

    def _take_triples(self, words: int) -> Array:
        a = self._triples[:, self._t_at:self._t_at + words]
        self._t_at += words
        self.stats.triples_used += 64 * words
        return a

    def _take_send(self, n: int) -> Array:
        out = self._send_pads[:, self._s_at:self._s_at + n]
        self._s_at += n
        return out

    def _take_recv(self, n: int) -> Array:
        out = self._recv[:, self._r_at:self._r_at + n]
        self._r_at += n
        return out

    def triples_left(self) -> int:
        """Words of bit triples still in the pool."""
        return int(self._triples.shape[1] - self._t_at)

    # -- local operations ------------------------------------------------------------

    def add(self, x: Array, y: Array, kind: str) -> Array:
        """Shares of x + y (XOR for bits); local."""
        return np.bitwise_xor(x, y) if kind == BITS else x + y

    def sub(self, x: Array, y: Array) -> Array:
        """Shares of x - y mod 2^64; local."""
        return x - y

    def add_public(self, x: Array, value: Array | int | np.uint64, kind: str) -> Array:
        """Shares of x + c for a public c (XOR for bits): P0 adds it."""
        c = np.asarray(value, dtype=np.uint64)
        if self.index == 0:
            return np.ascontiguousarray(np.bitwise_xor(x, c) if kind == BITS else x + c)
        return np.ascontiguousarray(np.broadcast_to(x, np.broadcast_shapes(x.shape, c.shape)))

    def invert(self, x: Array) -> Array:
        """Shares of NOT x (every bit of every word)."""
        return self.add_public(x, _ONES, BITS)

    def public(self, value: Array, kind: str) -> Array:
        """A public value as a sharing (P0's share the value, P1's zero)."""
        v = np.asarray(value, dtype=np.uint64)
        return v.copy() if self.index == 0 else np.zeros_like(v)

    def private(self, owner: str, value: Array | None, shape: tuple[int, ...]) -> Array:
        """``owner``'s value as a sharing with no message: the owner's share is the value, the other's zero."""
        if owner == self.ctx.me:
            if value is None or np.shape(value) != shape:
                raise LocalProtocolViolation(f"a private value must be a uint64 array of shape {shape}")
            return np.ascontiguousarray(value, dtype=np.uint64)
        return np.zeros(shape, dtype=np.uint64)

    # -- rounds ----------------------------------------------------------------------

    async def and_(self, x: Array, y: Array) -> Array:
        """One round: shares of x AND y (bitwise on words, broadcasting)."""
        return (await self.and_many([(x, y)]))[0]

    async def and_many(self, pairs: Sequence[tuple[Array, Array]]) -> list[Array]:
        """One round for several ANDs of any shapes (Beaver, triples from the pool)."""
        shapes = [np.broadcast_shapes(np.shape(x), np.shape(y)) for x, y in pairs]
        sizes = [int(np.prod(s)) for s in shapes]
        total = sum(sizes)
        if self.triples_left() < total:
            await self.prepare(and_words=total - self.triples_left())
        a, b, c = self._take_triples(total)
        x = np.concatenate([np.broadcast_to(p[0], s).reshape(-1) for p, s in zip(pairs, shapes, strict=True)])
        y = np.concatenate([np.broadcast_to(p[1], s).reshape(-1) for p, s in zip(pairs, shapes, strict=True)])
        mine = np.stack([x ^ a, y ^ b])
        theirs = await self._exchange(mine, Expect.array(np.uint64, (2, total)))
        d, e = mine[0] ^ theirs[0], mine[1] ^ theirs[1]
        z = c ^ (d & b) ^ (e & a)
        if self.index == 0:
            z ^= d & e
        out, at = [], 0
        for shape, size in zip(shapes, sizes, strict=True):
            out.append(z[at:at + size].reshape(shape))
            at += size
        return out

    async def and_pair(self, x: Array, y1: Array, y2: Array) -> tuple[Array, Array]:
        """One round: shares of (x AND y1, x AND y2) for three arrays of one
        shape, on paired triples (a; b1, b2; a b1, a b2): each party sends
        three words per 64 pairs (d, e1, e2), and a pair costs two random OTs
        (one each way, two-bit pads) where two ANDs would cost four."""
        shape = np.broadcast_shapes(np.shape(x), np.shape(y1), np.shape(y2))
        total = int(np.prod(shape))
        if self._pairs.shape[1] - self._p_at < total:
            await self.prepare(pair_words=total - (self._pairs.shape[1] - self._p_at))
        a, b1, b2, c1, c2 = self._pairs[:, self._p_at:self._p_at + total]
        self._p_at += total
        self.stats.triples_used += 2 * 64 * total
        xs, y1s, y2s = (np.broadcast_to(v, shape).reshape(-1) for v in (x, y1, y2))
        mine = np.stack([xs ^ a, y1s ^ b1, y2s ^ b2])
        theirs = await self._exchange(mine, Expect.array(np.uint64, (3, total)))
        d, e1, e2 = mine[0] ^ theirs[0], mine[1] ^ theirs[1], mine[2] ^ theirs[2]
        z1 = c1 ^ (d & b1) ^ (e1 & a)
        z2 = c2 ^ (d & b2) ^ (e2 & a)
        if self.index == 0:
            z1 ^= d & e1
            z2 ^= d & e2
        return z1.reshape(shape), z2.reshape(shape)

    async def open(self, x: Array, kind: str, to: Sequence[str] | None = None) -> Array | None:
        """One round: the value of ``x`` at the compute parties in ``to`` (default both), None elsewhere."""
        to = list(self.compute if to is None else to)
        send = np.ascontiguousarray(x, dtype=np.uint64) if self.peer in to else None
        got = await self._exchange(send, Expect.array(np.uint64, np.shape(x)) if self.ctx.me in to else None)
        if self.ctx.me not in to:
            return None
        value: Array = np.bitwise_xor(x, got) if kind == BITS else x + got
        return value

    async def _cross(self, delta: Array, choices: Array) -> tuple[Array, Array]:
        """Two rounds: one-word correlated OTs both ways (the plumbing of
        :meth:`mul` and :meth:`from_bits`). This party offers correlation
        ``delta[t]`` in OT t of its own and chooses by ``choices[t]`` in the
        peer's (the peer passes sizes swapped; either side may be empty, not
        both). Returns (x0, x0' + c * delta') as flat uint64 arrays."""
        ot = await self._duplex()
        d = np.ascontiguousarray(delta, dtype=np.uint64).reshape(-1, 1)
        c = np.ascontiguousarray(choices, dtype=np.uint8).reshape(-1)
        if d.size and c.size:
            x0, got = await ot.correlated(d, c)
        elif d.size:
            x0, got = await ot.sender.correlated(d), np.zeros((0, 1), np.uint64)
        else:
            x0, got = np.zeros((0, 1), np.uint64), await ot.receiver.correlated(c, 1)
        self.stats.random_ots += d.size + c.size
        return x0.reshape(-1), got.reshape(-1)

    async def cross_rows(self, delta: Array, choices: Array, words: int) -> tuple[Array, Array]:
        """Two rounds: correlated OTs both ways whose correlations are vectors
        of ``words`` 64-bit words (:meth:`_cross` with rows: the plumbing of
        :func:`mpcnet.mpc.fixed2p.matmul`). This party offers ``delta[t]``
        (a ``(t, words)`` array) in OT t of its own and chooses by
        ``choices[t]`` in the peer's, whose rows have the same width (either
        side may be empty, not both). Returns (x0, x0' + c * delta'), two
        ``(., words)`` uint64 arrays."""
        ot = await self._duplex()
        d = np.ascontiguousarray(delta, dtype=np.uint64).reshape(-1, words)
        c = np.ascontiguousarray(choices, dtype=np.uint8).reshape(-1)
        if d.shape[0] and c.size:
            x0, got = await ot.correlated(d, c)
        elif d.shape[0]:
            x0, got = await ot.sender.correlated(d), np.zeros((0, words), np.uint64)
        else:
            x0, got = np.zeros((0, words), np.uint64), await ot.receiver.correlated(c, words)
        self.stats.random_ots += d.shape[0] + c.size
        return x0, got

    async def mul(self, x: Array, y: Array) -> Array:
        """Two rounds: shares of x * y mod 2^64 (elementwise, same shapes):
        ``x_0 y_0 + x_1 y_1`` locally, the cross terms by Gilboa's correlated OT."""
        x = np.ascontiguousarray(x, dtype=np.uint64).reshape(-1)
        y = np.ascontiguousarray(y, dtype=np.uint64).reshape(-1)
        if x.shape != y.shape:
            raise LocalProtocolViolation("mul needs two arrays of one shape")
        m = x.size
        if m == 0:
            return x.copy()
        shifts = np.arange(64, dtype=np.uint64)
        # OT (i, j): correlation x * 2^j offered, the peer chooses by bit j of its y.
        delta = x[:, None] << shifts[None, :]
        choices = ((y[:, None] >> shifts[None, :]) & np.uint64(1)).astype(np.uint8)
        x0, got = await self._cross(delta, choices)
        # Offerer's share of x * y_peer: -sum_j x0_j; chooser's: sum_j (x0'_j + y_j x' 2^j).
        mine = got.reshape(m, 64).sum(axis=1, dtype=np.uint64) - x0.reshape(m, 64).sum(axis=1, dtype=np.uint64)
        out: Array = x * y + mine
        return out

    async def from_bits(self, planes: Array, m: int, *, signed: bool = False) -> Array:
        """Two rounds (B2A): additive shares mod 2^64 of the ``m`` values whose
        ``k`` bit planes ``planes`` (``(k, words)``) are XOR-shared; two's
        complement sign-extended when ``signed``. For a bit
        ``b = b_0 XOR b_1 = b_0 + b_1 - 2 b_0 b_1``, so the value is
        ``sum_j w_j (b_0j + b_1j) - sum_j 2 w_j b_0j b_1j`` with
        ``w_j = 2^j`` (``-2^(k-1)`` for a signed top bit); each cross term is
        one correlated OT in which the offerer's correlation is
        ``2 w_j b_j`` of its own bit and the chooser chooses by its bit
        (Gilboa's step of :meth:`mul` with a one-bit factor). ``m k`` OTs in
        all, half offered by each party."""
        k = planes.shape[0]
        if m == 0:
            return np.zeros(0, dtype=np.uint64)
        bits = lanes(planes, m).T.reshape(-1)  # (m * k): value i's bit j at i * k + j
        w = np.uint64(1) << np.arange(k, dtype=np.uint64)
        if signed:
            w[k - 1:] = np.negative(w[k - 1:])  # -2^(k-1) mod 2^64
        weights = np.tile(w, m)
        # OT t of the m k: P0 offers the first half, P1 the rest (the chooser holds the other bit).
        half = -(-(m * k) // 2)
        offer = slice(0, half) if self.index == 0 else slice(half, m * k)
        choose = slice(half, m * k) if self.index == 0 else slice(0, half)
        x0, got = await self._cross((weights[offer] << np.uint64(1)) * bits[offer], bits[choose])
        # Offerer: + x0; chooser: - (x0 + 2 w b_0 b_1); together - 2 w b_0 b_1.
        own = (weights * bits).reshape(m, k).sum(axis=1, dtype=np.uint64)
        cross = np.zeros(m * k, dtype=np.uint64)
        cross[offer] = x0
        cross[choose] = np.uint64(0) - got
        out: Array = own + cross.reshape(m, k).sum(axis=1, dtype=np.uint64)
        return out

    async def to_bits(self, x: Array, k: int = 64) -> Array:
        """Bit planes ``(k, words)`` of the low k bits of the additive sharing
        ``x`` (a flat array): each party bit-slices its own share, and a
        Kogge-Stone adder adds the two (1 + ceil(log2 k) rounds)."""
        mine = pack(np.asarray(x, dtype=np.uint64).view(np.int64), k)
        zero = np.zeros_like(mine)
        a, b = (mine, zero) if self.index == 0 else (zero, mine)
        out: Array = await add_planes(self, a, b, k)
        return out

    # -- the millionaires protocol ---------------------------------------------------

    async def millionaires(self, left: str, values: Array | None, m: int, k: int) -> tuple[Array, Array]:
        """Shares of ``[x < y]`` and ``[x == y]`` per block: the leaves of a
        comparison between ``left``'s unsigned k-bit ``x`` and the other
        party's ``y`` (``values``: this party's m values as uint64).
        Returns (g, e), two ``(blocks, words)`` plane arrays, block 0 the lowest.
        Even blocks are offered by ``left``, odd ones by the other party, so
        that both do the same OT work. Two rounds (plus one to make leaf OTs
        if :meth:`prepare` made too few); one if :meth:`millionaires_first`
        sent the first message in an earlier round."""
        nb = blocks_for(k)
        is_left = left == self.ctx.me
        mine_offer = _offered_blocks(nb, is_left)  # the blocks this party offers
        n_off, n_ch = m * int(mine_offer.sum()), m * int((~mine_offer).sum())
        need_s = BLOCK * n_off - (self._send_pads.shape[1] - self._s_at)
        need_r = BLOCK * n_ch - (self._recv.shape[1] - self._r_at)
        if need_s > 0 or need_r > 0:
            await self.prepare(leaf_send=max(0, need_s), leaf_recv=max(0, need_r))
        if values is None or np.shape(values) != (m,):
            raise LocalProtocolViolation(f"millionaires needs this party's {m} values")
        off_digits, ch_digits = _digits(values, nb, mine_offer)
        if self._first is not None:  # round 1 went with the caller's first round (millionaires_first)
            first, self._first = self._first, None
            if first[:3] != (left, m, k) or not np.array_equal(first[3], values):
                raise LocalProtocolViolation("millionaires() needs the arguments given to millionaires_first()")
            rc = first[4]
            self._take_recv(BLOCK * n_ch)  # the pool's copy of the leaf OTs millionaires_first used
            d, self._first_d = self._first_d, None
            if d is None:  # (accept_kept sets it whenever it keeps _first)
                raise LocalProtocolViolation("millionaires_first() without accept_kept()")
        else:
            # The chooser's half first: its random choices c and the pad R_c of each OT.
            mine_d, rc = _choose(self._take_recv(BLOCK * n_ch), ch_digits)
            # Round 1: each sends d = digit XOR c for the blocks it chooses in.
            d = await self._exchange(mine_d, Expect.array(np.uint8, (n_off,), lo=0, hi=_N - 1))
        # The offerer's half: R_i = XOR_l segment i of H_l^(i_l), for all i at once.
        pads = self._take_send(BLOCK * n_off).reshape(2, n_off, BLOCK)
        r = np.zeros(n_off, dtype=np.uint32)
        for j in range(BLOCK):
            r ^= (pads[0, :, j] & ~_BIT_MASKS[j]) | (pads[1, :, j] & _BIT_MASKS[j])
        # Permute the 2-bit segments by d: segment i takes R_(i XOR d).
        d32 = d.astype(np.uint32)
        for j in range(BLOCK):
            sh = np.uint32(2 << j)
            low = ~_BIT_MASKS[j]
            swapped = ((r >> sh) & low) | ((r & low) << sh)
            r = np.where((d32 >> np.uint32(j)) & np.uint32(1) == 1, swapped, r)
        mask = np.frombuffer(self.ctx.random.bytes(n_off), dtype=np.uint8)
        lt_r, eq_r = (mask & 1).astype(np.uint32), ((mask >> 1) & 1).astype(np.uint32)
        # Message i: ([x_blk < i], [x_blk == i]) offered by x's owner; ([i < y_blk], [i == y_blk]) by y's.
        msg = (_LT_TABLE if is_left else _GT_TABLE)[off_digits] | _EQ_TABLE[off_digits]
        msg ^= lt_r * np.uint32(0x55555555)
        msg ^= eq_r * np.uint32(0xAAAAAAAA)
        # Round 2: the masked messages of the blocks each offers.
        t_msg = await self._exchange(msg ^ r, Expect.array(np.uint32, (n_ch,)))
        got = ((t_msg >> (2 * ch_digits)) & np.uint32(3)) ^ rc
        g_bits = np.empty((m, nb), dtype=np.uint8)
        e_bits = np.empty((m, nb), dtype=np.uint8)
        g_bits[:, mine_offer] = lt_r.reshape(m, -1)
        e_bits[:, mine_offer] = eq_r.reshape(m, -1)
        g_bits[:, ~mine_offer] = (got & np.uint32(1)).reshape(m, -1)
        e_bits[:, ~mine_offer] = (got >> np.uint32(1)).reshape(m, -1)
        return from_lanes(g_bits.T), from_lanes(e_bits.T)


def _totals(and_words: int, leaf_send: int, leaf_recv: int, pair_words: int) -> tuple[int, int, int]:
    """(triple OTs each way, random OTs sent, random OTs received) for a prepare() request:
    the plain triples first, then the paired ones, then the leaf OTs."""
    n_tr = 64 * (and_words + pair_words)
    return n_tr, n_tr + leaf_send, n_tr + leaf_recv


def _offered_blocks(nb: int, is_left: bool) -> Array:
    """Which of the nb blocks a party offers (even ones for the left operand's owner)."""
    offered: Array = np.arange(nb) % 2 == (0 if is_left else 1)
    return offered


def _digits(values: Array, nb: int, mine_offer: Array) -> tuple[Array, Array]:
    """The 4-bit digits of the values (uint32) of the blocks this party offers and of those it chooses in."""
    v = np.asarray(values, dtype=np.uint64)
    shifts = (BLOCK * np.arange(nb)).astype(np.uint64)
    digits = ((v[:, None] >> shifts[None, :]) & np.uint64(_N - 1)).astype(np.uint32)  # (m, nb)
    return digits[:, mine_offer].reshape(-1), digits[:, ~mine_offer].reshape(-1)


def _choose(c_and_pad: Array, ch_digits: Array) -> tuple[Array, Array]:
    """The chooser's half of the leaves: from its leaf OTs ((choice, pad) rows, BLOCK per block)
    the message d = digit XOR c and the pad R_c of each block it chooses in."""
    n_ch = ch_digits.size
    cp = c_and_pad.reshape(2, n_ch, BLOCK)
    c = np.zeros(n_ch, dtype=np.uint32)
    rc = np.zeros(n_ch, dtype=np.uint32)
    for j in range(BLOCK):
        c |= cp[0, :, j] << np.uint32(j)
        rc ^= cp[1, :, j]
    rc = (rc >> (2 * c)) & np.uint32(3)
    return (ch_digits ^ c).astype(np.uint8), rc


def millionaires_ots(k: int, m: int, left: bool) -> tuple[int, int]:
    """(leaf OTs this party offers, leaf OTs it chooses in) for m k-bit
    comparisons in which it owns the left operand (``left``) or the right:
    what to pass :meth:`TwoPartyEngine.prepare` as ``leaf_send, leaf_recv``."""
    nb = blocks_for(k)
    even, odd = (nb + 1) // 2, nb // 2
    mine = even if left else odd
    return BLOCK * m * mine, BLOCK * m * (nb - mine)


def _tag(ot_id: bytes, ot: OTDuplex, index: int) -> bytes:
    """The kept extension's id and counters, P0's sending direction first (the same at both ends)."""
    mine = (ot.sender.calls, ot.sender.next_index, ot.receiver.calls, ot.receiver.next_index)
    canonical = mine if index == 0 else mine[2:] + mine[:2]
    return hashlib.blake2b(ot_id + b"".join(c.to_bytes(8, "big") for c in canonical), digest_size=16).digest()


def _pack_bits(bits: Array) -> Array:
    """0/1 bytes (a multiple of 64 of them) as uint64 words, bit i of the vector bit i mod 64 of word i // 64."""
    return np.packbits(bits, bitorder="little").view(np.uint64)
