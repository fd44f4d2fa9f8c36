"""OT extension for semi-honest parties: IKNP, vectorised over numpy.

Ishai, Kilian, Nissim, Petrank, "Extending Oblivious Transfers
Efficiently", CRYPTO 2003, section 3 (the semi-honest protocol), with the
random oracle replaced by the tweakable correlation-robust hash TMMO of Guo
et al. 2020 (:mod:`.crhash`) and the base OTs by Masny-Rindal (:mod:`.base`).

Setup, one round (:meth:`OTSender.setup` / :meth:`OTReceiver.setup`): the
extension's *sender* draws s in {0,1}^128 and is the chooser of 128 base OTs;
the extension's *receiver* is their sender, with seeds (k_j^0, k_j^1).

Each extension of m OTs, receiver's choices r in {0,1}^m, one round
receiver -> sender for random OT (plus one round back for correlated and
chosen-message OT), whatever m is:

* receiver: t_j = G(k_j^0), u_j = t_j XOR G(k_j^1) XOR r (G: AES-128-CTR
  keyed by the seed, a fresh counter range per call); sends u (128 x m bits);
* sender: q_j = G(k_j^(s_j)) XOR s_j u_j = t_j XOR s_j r; row i of the
  transposed matrix is q_i = t_i XOR r_i s;
* outputs: sender x_i^0 = H(i, q_i), x_i^1 = H(i, q_i XOR s); receiver
  H(i, t_i) = x_i^(r_i); H = TMMO with tweak i, unique in the session.

Derived from the random OTs (Beaver's derandomisation, one more round):
``correlated`` (vectors of 64-bit words: the receiver gets x0 + r * delta
mod 2^64, the Gilboa multiplication's correlation) and ``chosen`` (the
receiver gets m_r of the sender's (m_0, m_1)).

:class:`OTDuplex` runs an extension each way with one peer and puts both
directions in the same rounds (what a two-party engine needs: OTs from each
party to the other, e.g. for products of two secrets).

The work runs in chunks of :data:`CHUNK` OTs so that the transposes stay in
cache; u travels as a list of arrays (one per :data:`WIRE_CHUNK` OTs) in one
message, so one call extends at most :data:`MAX_OTS` OTs (the wire's
256 MiB message cap).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from ...context import Context
from ...errors import InputError, LocalProtocolViolation, RemoteProtocolViolation
from ..receive import Expect
from .base import BaseOTChooser, BaseOTSender, base_ot_choose, base_ot_send
from .bitmatrix import transpose_to_rows
from .crhash import tmmo

__all__ = ["KAPPA", "MAX_OTS", "OTDuplex", "OTReceiver", "OTSender"]

#: Computational security parameter: the number of base OTs and the bits of a row.
KAPPA = 128
#: OTs per unit of local work (a multiple of 8; 64k keeps the transposes in cache).
CHUNK = 1 << 16
#: OTs per array on the wire.
WIRE_CHUNK = 1 << 20
#: OTs one call can extend (the matrix u must fit one message of the wire's 256 MiB cap).
MAX_OTS = 15 * WIRE_CHUNK

Array = np.ndarray[Any, Any]


class _PRG:
    """The 128 PRG streams G(k_j) of one end: AES-128-CTR, one per seed, the
    counter block ``call * 2^64`` so that each call reads a stream never
    read before. The keystream is computed as AES-ECB of the counter blocks
    (the same bytes as CTR mode), so the 128 key schedules are made once,
    when the extension is set up, not on every call: at ~9 us each they were
    most of the time of a small extension."""

    def __init__(self, seeds: Array) -> None:
        self._enc = [Cipher(algorithms.AES(bytes(seed)), modes.ECB()).encryptor() for seed in seeds]

    def stream(self, call: int) -> _Stream:
        """The streams of extension call ``call``, from their start."""
        return _Stream(self._enc, call)


class _Stream:
    """One call's 128 streams, read in order by :meth:`take`."""

    def __init__(self, enc: list[Any], call: int) -> None:
        self._enc = enc
        self._call = call
        self._at = 0  # bytes of every stream read so far

    def take(self, nbytes: int) -> Array:
        """The next ``nbytes`` of every stream: a (128, nbytes) uint8 matrix."""
        lo, hi = self._at // 16, -(-(self._at + nbytes) // 16)
        counters = np.empty((hi - lo, 2), dtype=">u8")  # the 128-bit big-endian counter blocks call * 2^64 + i
        counters[:, 0] = self._call
        counters[:, 1] = np.arange(lo, hi, dtype=np.uint64)
        blocks = counters.tobytes()
        skip = self._at - 16 * lo
        self._at += nbytes
        keystream = np.frombuffer(b"".join(e.update(blocks) for e in self._enc), dtype=np.uint8)
        return keystream.reshape(len(self._enc), 16 * (hi - lo))[:, skip:skip + nbytes]


def _chunks(m: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, m, CHUNK):
        yield lo, min(m, lo + CHUNK)


def _check_size(m: int) -> None:
    if not 1 <= m <= MAX_OTS:
        raise LocalProtocolViolation(f"one OT extension call makes between 1 and {MAX_OTS} OTs")


def _padded(m: int) -> int:
    return -(-m // 8) * 8


def _wire_split(u: Array) -> list[Array]:
    step = WIRE_CHUNK // 8
    return [u[:, lo:lo + step] for lo in range(0, u.shape[1], step)]


def _wire_join(got: Any, m: int, peer: str) -> Array:
    """The matrix u from its list of arrays, each checked against its expected shape."""
    width = _padded(m) // 8
    step = WIRE_CHUNK // 8
    shapes = [(KAPPA, min(step, width - lo)) for lo in range(0, width, step)]
    if not isinstance(got, list) or len(got) != len(shapes):
        raise RemoteProtocolViolation(f"OT extension: expected a list of {len(shapes)} arrays", peer=peer)
    parts = [Expect.array(np.uint8, shape).check(v, peer) for v, shape in zip(got, shapes, strict=True)]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)


def _choice_bits(choices: Any) -> Array:
    c = np.asarray(choices)
    if c.ndim != 1 or not (c.dtype == np.bool_ or np.issubdtype(c.dtype, np.integer)) or not np.isin(c, (0, 1)).all():
        raise InputError("OT choices must be a vector of 0/1 values")
    return c.astype(np.uint8)


def _width_blocks(width: int) -> int:
    if width < 1:
        raise LocalProtocolViolation("OT messages need at least one byte")
    return -(-width // 16)


class _Counted:
    """What both ends of an extension count, the same at both: the calls
    made (each call's PRG counter blocks are its own) and the OTs made (the
    next hash tweak), so no PRG block or tweak is ever used twice."""

    _calls: int  # (set to 0 by each end's __init__)
    _used: int

    @property
    def next_index(self) -> int:
        """The hash tweak index of the next OT (OT indices never repeat in a session)."""
        return self._used

    @property
    def calls(self) -> int:
        """Extension calls made so far (each one's PRG counter blocks are its own)."""
        return self._calls

    def _claim(self, m: int) -> tuple[int, int]:
        """(this call's number, its first OT index) for ``m`` OTs."""
        _check_size(m)
        call, first = self._calls, self._used
        self._calls += 1
        self._used += _padded(m)
        return call, first


class OTSender(_Counted):
    """The sender's end of an IKNP extension with one peer. Create with
    :meth:`setup`; every call must be matched by the peer's
    :class:`OTReceiver` call of the same kind and size. ``ctx`` and ``peer``
    are the session and the other end (for protocols built on top, such as
    :mod:`.one_of_n`, that send their own messages alongside)."""

    def __init__(self, ctx: Context, peer: str, s: Array, seeds: Array) -> None:
        self.ctx = ctx
        self.peer = peer
        self._s = s  # (16,) uint8: the secret s, packed
        self._prg = _PRG(seeds)  # G(k_j^(s_j))
        self._smask = (np.unpackbits(s, bitorder="little") * np.uint8(0xFF))[:, None]  # row j: all ones iff s_j
        self._calls = 0
        self._used = 0  # OTs made so far: the next hash tweak

    @classmethod
    async def setup(cls, ctx: Context, peer: str) -> OTSender:
        """Run the 128 base OTs with ``peer`` (one round) as their chooser."""
        s = np.frombuffer(ctx.random.bytes(KAPPA // 8), dtype=np.uint8)
        seeds = await base_ot_choose(ctx, peer, np.unpackbits(s, bitorder="little"))
        return cls(ctx, peer, s, seeds)

    async def random(self, m: int, width: int = 16) -> tuple[Array, Array]:
        """``m`` random OTs of ``width``-byte messages (one round): returns
        (x0, x1), two (m, width) uint8 arrays; the receiver learns row i of
        x<r_i> only."""
        nblocks = _width_blocks(width)
        call, first = self._claim(m)
        return self._outputs(await self.ctx.receive(self.peer), m, width, nblocks, call, first)

    def _outputs(self, got: Any, m: int, width: int, nblocks: int, call: int, first: int) -> tuple[Array, Array]:
        """The pads (x0, x1) from the receiver's message (checked here)."""
        u = _wire_join(got, m, self.peer)
        stream = self._prg.stream(call)
        x0 = np.empty((m, 16 * nblocks), dtype=np.uint8)
        x1 = np.empty_like(x0)
        for lo, hi in _chunks(m):
            blo, bhi = lo // 8, _padded(hi) // 8
            # q_j = G(k_j^(s_j)) XOR s_j u_j
            q = stream.take(bhi - blo) ^ (u[:, blo:bhi] & self._smask)
            rows = transpose_to_rows(q)[: hi - lo]
            x0[lo:hi] = tmmo(rows, first + lo, nblocks)
            x1[lo:hi] = tmmo(rows ^ self._s, first + lo, nblocks)
        if width == x0.shape[1]:
            return x0, x1
        return np.ascontiguousarray(x0[:, :width]), np.ascontiguousarray(x1[:, :width])

    async def correlated(self, delta: Array) -> Array:
        """Correlated OT on 64-bit words (two rounds): ``delta`` is an (m, L)
        uint64 array; returns the sender's x0, an (m, L) uint64 array, and
        the receiver gets x0 + r_i * delta_i mod 2^64 (word by word)."""
        d = _correlation(delta)
        x0, tau = _correlate(await self.random(d.shape[0], 8 * d.shape[1]), d)
        await self.ctx.send(self.peer, tau)
        return x0

    async def chosen(self, m0: Array, m1: Array) -> None:
        """Chosen-message OT (two rounds): ``m0`` and ``m1`` are (m, w) uint8
        arrays; the receiver learns row i of m<r_i> only."""
        a, b = np.asarray(m0), np.asarray(m1)
        if a.ndim != 2 or a.dtype != np.uint8 or b.shape != a.shape or b.dtype != np.uint8:
            raise InputError("chosen-message OT needs two (m, w) uint8 arrays of the same shape")
        x0, x1 = await self.random(a.shape[0], a.shape[1])
        await self.ctx.send(self.peer, np.stack([a ^ x0, b ^ x1]))


class OTReceiver(_Counted):
    """The receiver's end of an IKNP extension with one peer (see :class:`OTSender`)."""

    def __init__(self, ctx: Context, peer: str, seeds0: Array, seeds1: Array) -> None:
        self.ctx = ctx
        self.peer = peer
        self._prg0, self._prg1 = _PRG(seeds0), _PRG(seeds1)  # G(k_j^0), G(k_j^1)
        self._calls = 0
        self._used = 0

    @classmethod
    async def setup(cls, ctx: Context, peer: str) -> OTReceiver:
        """Run the 128 base OTs with ``peer`` (one round) as their sender."""
        seeds0, seeds1 = await base_ot_send(ctx, peer, KAPPA)
        return cls(ctx, peer, seeds0, seeds1)

    async def random(self, choices: Any, width: int = 16) -> Array:
        """Random OTs (one round) with choice bits ``choices`` (a 0/1 vector
        of length m): returns the (m, width) uint8 messages x<r_i>_i."""
        message, out = self._extend(_choice_bits(choices), width)
        await self.ctx.send(self.peer, message)
        return out

    def _extend(self, r: Array, width: int) -> tuple[list[Array], Array]:
        """(the message u for the sender, the chosen pads) for choices ``r``."""
        nblocks = _width_blocks(width)
        m = len(r)
        call, first = self._claim(m)
        rpacked = np.packbits(r, bitorder="little")
        t_stream, g_stream = self._prg0.stream(call), self._prg1.stream(call)
        u = np.empty((KAPPA, _padded(m) // 8), dtype=np.uint8)
        out = np.empty((m, 16 * nblocks), dtype=np.uint8)
        for lo, hi in _chunks(m):
            blo, bhi = lo // 8, _padded(hi) // 8
            t = t_stream.take(bhi - blo)
            u[:, blo:bhi] = t ^ g_stream.take(bhi - blo) ^ rpacked[blo:bhi]
            out[lo:hi] = tmmo(transpose_to_rows(t)[: hi - lo], first + lo, nblocks)
        return _wire_split(u), (out if width == out.shape[1] else np.ascontiguousarray(out[:, :width]))

    async def correlated(self, choices: Any, words: int) -> Array:
        """Correlated OT on ``words`` 64-bit words per OT (two rounds):
        returns x0 + r_i * delta_i mod 2^64, an (m, words) uint64 array."""
        r = _choice_bits(choices)
        pads = await self.random(r, 8 * words)
        return _uncorrelate(r, pads, await self.ctx.receive(self.peer), self.peer)

    async def chosen(self, choices: Any, width: int) -> Array:
        """Chosen-message OT (two rounds): returns row i of m<r_i>, an (m, width) uint8 array."""
        r = _choice_bits(choices)
        a = await self.random(r, width)
        y = Expect.array(np.uint8, (2, len(r), width)).check(await self.ctx.receive(self.peer), self.peer)
        chosen: Array = y[r, np.arange(len(r))] ^ a
        return chosen


def _correlation(delta: Any) -> Array:
    d = np.asarray(delta)
    if d.ndim != 2 or d.dtype != np.uint64:
        raise InputError("the correlation must be an (m, L) uint64 array")
    return d


def _correlate(pads: tuple[Array, Array], d: Array) -> tuple[Array, Array]:
    """(x0, tau) from the sender's pads: tau = x1 - x0 - delta, so that the
    receiver with r = 1 computes x1 - tau = x0 + delta (mod 2^64)."""
    x0 = pads[0].view("<u8")
    return x0, pads[1].view("<u8") - x0 - d


def _uncorrelate(r: Array, pads: Array, got: Any, peer: str) -> Array:
    """The receiver's x0 + r * delta from its pads and the sender's tau (checked here)."""
    a = pads.view("<u8")
    tau = Expect.array(np.uint64, a.shape).check(got, peer)
    out: Array = np.where(r[:, None].astype(bool), a - tau, a)
    return out


class OTDuplex:
    """Both ends of two IKNP extensions with one peer: this party is the
    sender of one and the receiver of the other (the peer mirrors it), and
    each round carries both directions, so OTs both ways cost no more rounds
    than OTs one way: setup 1, :meth:`random` 1, :meth:`correlated` 2.

    ``self.sender`` and ``self.receiver`` (the :class:`OTSender` and
    :class:`OTReceiver`) stay usable for one-way calls, which the peer must
    match with the opposite end."""

    def __init__(self, sender: OTSender, receiver: OTReceiver) -> None:
        self.sender = sender
        self.receiver = receiver
        self.peer = sender.peer
        self.ctx = sender.ctx

    @classmethod
    async def setup(cls, ctx: Context, peer: str) -> OTDuplex:
        """Both batches of 128 base OTs in one round."""
        s = np.frombuffer(ctx.random.bytes(KAPPA // 8), dtype=np.uint8)
        chooser = BaseOTChooser(ctx.random, np.unpackbits(s, bitorder="little"))
        base_sender = BaseOTSender(ctx.random, KAPPA)
        got = (await ctx.exchange({peer: [base_sender.message, chooser.message]}))[peer]
        if not isinstance(got, list) or len(got) != 2:
            raise RemoteProtocolViolation("OT setup: expected a list of two messages", peer=peer)
        seeds = chooser.keys(chooser.expect.check(got[0], peer), peer)
        seeds0, seeds1 = base_sender.keys(base_sender.expect.check(got[1], peer), peer)
        return cls(OTSender(ctx, peer, s, seeds), OTReceiver(ctx, peer, seeds0, seeds1))

    async def random(self, m: int, choices: Any, width: int = 16) -> tuple[tuple[Array, Array], Array]:
        """One round: ``m`` random OTs sent (the peer's choices) and
        ``len(choices)`` received. Returns ((x0, x1), chosen pads)."""
        message, state = self.begin_random(m, choices, width)
        got = (await self.ctx.exchange({self.peer: message}))[self.peer]
        return self.end_random(state, got)

    def begin_random(self, m: int, choices: Any, width: int = 16) -> tuple[list[Array], Any]:
        """:meth:`random` without its round: (the message for the peer, a
        state for :meth:`end_random`), for a caller that sends the message in
        a round of its own with other things. The peer makes the same calls
        with the sizes swapped; the counters advance now."""
        r = _choice_bits(choices)
        nblocks = _width_blocks(width)
        call, first = self.sender._claim(m)
        message, mine = self.receiver._extend(r, width)
        return message, (m, width, nblocks, call, first, mine)

    @staticmethod
    def chosen_pads(state: Any) -> Array:
        """The pads this party chose (its receiver's outputs) from a :meth:`begin_random` state:
        known before the round."""
        mine: Array = state[-1]
        return mine

    def end_random(self, state: Any, got: Any) -> tuple[tuple[Array, Array], Array]:
        """The outputs of :meth:`begin_random` once the peer's message ``got`` is here (checked here)."""
        m, width, nblocks, call, first, mine = state
        return self.sender._outputs(got, m, width, nblocks, call, first), mine

    async def correlated(self, delta: Any, choices: Any) -> tuple[Array, Array]:
        """Two rounds: correlated OTs both ways on 64-bit words: ``delta``
        (m, L) for the OTs this party sends, ``choices`` for those it
        receives (the peer uses the same L). Returns (x0, x0' + r * delta'),
        the second (len(choices), L)."""
        d, r = _correlation(delta), _choice_bits(choices)
        pads, mine = await self.random(d.shape[0], r, 8 * d.shape[1])
        x0, tau = _correlate(pads, d)
        got = (await self.ctx.exchange({self.peer: tau}))[self.peer]
        return x0, _uncorrelate(r, mine, got, self.peer)
