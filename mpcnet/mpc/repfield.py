"""Three-party replicated multiplication over a field, behind the same shares as Shamir.

:class:`ReplicatedFieldEngine` is what :class:`~mpcnet.mpc.SecretInt` (over
Z_(2^127-1)) and its comparisons' bits (over GF(2^8)) run on when the toolkit
picks the replicated engine (exactly three compute parties,
:func:`~mpcnet.mpc.runtime.choose_engine`). It computes the *same field
values* as :class:`~mpcnet.mpc.shamir.ShamirEngine` in the same field, so
every result, every range and every soundness argument of the layers above
(a ballot check over Z_(2^127-1), the statistical masking of comparisons) is
unchanged; only how products are reduced, wide values opened and random
values made differs.

Why this works with Shamir shares. With three parties and threshold 1 the
degree-1 Shamir sharing and the replicated sharing of Araki, Furukawa,
Lindell, Nof and Ohara (CCS 2016, stated for any ring, Z_p included) convert
into each other: a Shamir share times its Lagrange coefficient at 0 is one
term of an additive 3-out-of-3 sharing (locally), and a replicated sharing
``x = s_0 + s_1 + s_2``, party ``i`` holding ``(s_i, s_(i+1))``, gives every
party its point of the degree-1 polynomial ``sum_j s_j f_j`` where ``f_j(0)
= 1`` and ``f_j`` vanishes at the point of party ``j + 1``, the one party
that misses ``s_j`` (also locally: Cramer, Damgard and Ishai, TCC 2005). So
the shares stay Shamir shares (one field element per party and value, as
:class:`SecretInt` holds them: input, local arithmetic, opening and
conversions are the Shamir engine's own), and:

* :meth:`~ReplicatedFieldEngine.reduce_many` (hence ``mul``/``mul_many``) —
  one round, one element per value per party to ONE neighbour (Shamir's
  resharing sends one to each of the two others): party ``i`` sends ``z_i =
  l_i w_i + a_i`` to party ``i - 1`` (``w_i`` its degree-2 share, ``l_i`` the
  Lagrange coefficient, ``a_i`` its term of a pseudo-random sharing of zero)
  and converts the pair ``(z_i, z_(i+1))`` it then holds to a degree-1 share;
* :meth:`~ReplicatedFieldEngine.open_wide` — one round with no mask set aside:
  each compute party sends ``l_i w_i + a_i`` (a fresh zero-sharing) to every
  receiver, who adds the three terms;
* :meth:`~ReplicatedFieldEngine.random_elements` and
  :meth:`~ReplicatedFieldEngine.random_bits` (GF(2^8) only) — no message: the
  three ``s_j`` come from the pairwise keys, converted as above; random bits
  are the XOR of three key-derived bits (XOR is GF(2^8) addition).

Zero-sharings: ``a_i = F(k_(i,i+1)) - F(k_(i-1,i))`` in the field, ``F`` the
AES-128-CTR keystream of :class:`~mpcnet.mpc.replicated.PairwisePRG` keyed
with ``ctx.pairwise_key(peer, "replicated:<label>")`` (fresh per session; a
label serves once per session) and one nonce per use (the engine numbers its
uses; all three parties make the same calls in the same order). Field
elements are drawn from the keystream exactly: GF(2^8) takes bytes;
Z_(2^127-1) takes 128-bit words with the top bit cleared and rejects the one
value ``2^127 - 1`` (probability 2^-127 per draw; a rejected draw is replaced
from further on in the same use's keystream, so both key holders stay in step).

Security: semi-honest, one corruption among the three compute parties (plus
input-only parties, who receive only opened values). The element party
``i - 1`` receives from party ``i`` is masked by ``F(k_(i,i+1))``, a key it
does not hold, so it is uniform and independent of everything else it sees
(fresh per use); the degree-1 sharing produced is uniformly random among
those through the product (the three ``z_j`` are uniform given their sum and
the slope ``-sum_j z_j / x_(j+1)`` weighs them unequally), so later openings
reveal only the opened values, as with Shamir. In ``open_wide`` the two
terms a compute party receives are masked by the one key it misses, with
opposite signs: uniform given their sum, i.e. given the value. Not secure
against a malicious party or two colluding ones (as the Shamir engine at
t = 1). Opening (:meth:`~ShamirEngine.open`) is the Shamir engine's, with
its consistency check.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import trio

from ..context import Context
from ..errors import ConfigError, LocalProtocolViolation
from .fields import GF256Field, PrimeField
from .replicated import PairwisePRG
from .shamir import ShamirEngine, split_flat

__all__ = ["ReplicatedFieldEngine", "field_from_words"]

Array = np.ndarray[Any, Any]


def field_from_words(field: Any, prg: PairwisePRG, use: int, count: int) -> Array:
    """``count`` uniform elements of ``field`` (GF(2^8), or a prime field with
    ``p = 2^127 - 1``) from the keystream of ``prg`` for use number ``use``,
    with no bias: bytes for GF(2^8); for Z_(2^127-1), 127-bit draws, a draw
    equal to p replaced by the next one of the same use's keystream (same
    key and use: same elements)."""
    if isinstance(field, GF256Field):
        return prg.words(use, (count + 7) // 8).view(np.uint8)[:count].copy()
    if not isinstance(field, PrimeField) or field.p != 2**127 - 1:
        raise ConfigError(f"replicated field sharing supports GF(2^8) and Z_(2^127-1), not {field.name}")
    want = count
    while True:
        words = prg.words(use, 2 * want).reshape(want, 2)
        low = words[:, 0].astype(object)
        high = (words[:, 1] & np.uint64((1 << 63) - 1)).astype(object)
        values = low + (high << 64)
        ok = values != field.p
        if int(np.count_nonzero(ok)) >= count:
            out: Array = np.asarray(values[ok][:count], dtype=object)
            return out
        want += max(8, want // 8)  # (a prefix of the same keystream: the accepted draws stay the same)


class ReplicatedFieldEngine(ShamirEngine):
    """A :class:`~mpcnet.mpc.shamir.ShamirEngine` over ``field`` (GF(2^8) or
    Z_(2^127-1)) among exactly three compute parties whose products,
    wide openings and random values use replicated sharing (the module
    docstring). ``label`` names its keys (one engine per label and session)."""

    def __init__(self, ctx: Context, field: Any, *, compute: Sequence[str] | None = None,
                 label: str = "field") -> None:
        super().__init__(ctx, field, compute=compute, t=1)
        if self.c != 3:
            raise ConfigError("the replicated engine needs exactly three compute parties")
        self._uses = 0
        if self.is_compute:
            name = f"replicated:{label}"
            ctx.claim_once(name)  # a second engine with this label would repeat the keystream
            i = self.compute.index(ctx.me)
            self._next = self.compute[(i + 1) % 3]
            self._prev = self.compute[(i - 1) % 3]
            self._prg_next = PairwisePRG(ctx.pairwise_key(self._next, name))
            self._prg_prev = PairwisePRG(ctx.pairwise_key(self._prev, name))
            x = self.points
            # f_j(0) = 1 and f_j vanishes at the point of party j + 1 (who misses s_j).
            self._at_first = _vanishing_at(field, x[(i + 1) % 3], x[i])   # f_i(x_i)
            self._at_second = _vanishing_at(field, x[(i + 2) % 3], x[i])  # f_(i+1)(x_i)
            self._lam_me = self._lambda_mul[i]

    # -- randomness from the pairwise keys ------------------------------------------

    def _use(self) -> int:
        use = self._uses
        self._uses += 1
        return use

    def _pair_draw(self, count: int) -> tuple[Array, Array]:
        """``(s_i, s_(i+1))`` of a fresh pseudo-random replicated sharing:
        s_i from the key with the previous party, s_(i+1) with the next."""
        self._require_compute("random sharing")
        use = self._use()
        return (field_from_words(self.field, self._prg_prev, use, count),
                field_from_words(self.field, self._prg_next, use, count))

    def zero_share(self, count: int) -> Array:
        """This party's term ``a_i = F(k_(i,i+1)) - F(k_(i-1,i))`` of a fresh
        pseudo-random additive sharing of zero (``count`` elements, flat)."""
        first, second = self._pair_draw(count)
        return self.field.sub(second, first)

    def _to_shamir(self, first: Array, second: Array) -> Array:
        """A replicated pair ``(s_i, s_(i+1))`` as this party's degree-1 Shamir share (local)."""
        f = self.field
        return f.add(f.scale(self._at_first, first), f.scale(self._at_second, second))

    def random_elements(self, shape: tuple[int, ...]) -> Array:
        """Shares of uniformly random field elements nobody knows, with no
        message (pseudo-random replicated sharing, converted locally)."""
        count = int(np.prod(shape, dtype=np.int64))
        first, second = self._pair_draw(count)
        return self._to_shamir(first, second).reshape(shape)

    def random_bits(self, shape: tuple[int, ...]) -> Array:
        """GF(2^8) shares of uniformly random bits nobody knows, with no
        message: the XOR of three bits, each drawn from one pair's key."""
        if not isinstance(self.field, GF256Field):
            raise ConfigError("random bits with no message need GF(2^8) (XOR is its addition)")
        count = int(np.prod(shape, dtype=np.int64))
        first, second = self._pair_draw(count)
        return self._to_shamir(first & np.uint8(1), second & np.uint8(1)).reshape(shape)

    # -- rounds ------------------------------------------------------------------------

    async def reduce_many(self, wide: Sequence[Array], *, masks: int = 0, randoms: int = 0) -> list[Array]:
        """Degree reduction in one round, one element per value to one
        neighbour (the module docstring). ``masks`` are not needed (every
        :meth:`open_wide` masks with a fresh zero-sharing) and ignored;
        ``randoms`` random sharings are set aside for :meth:`take_randoms`
        from the keys, with no message."""
        self._require_compute("reduce")
        if masks < 0 or randoms < 0:
            raise LocalProtocolViolation("masks and randoms must be >= 0")
        f = self.field
        shapes = [np.shape(w) for w in wide]
        flat = np.concatenate([np.ravel(w) for w in wide]) if wide else f.zeros(0)
        await _breathe()
        z = f.add(f.scale(self._lam_me, flat), self.zero_share(flat.shape[0]))
        got = await self.ctx.exchange({self._prev: f.to_wire(z)}, expect_from=[self._next])
        theirs = f.from_wire(got[self._next], z.shape, self._next)
        await _breathe()
        total = self._to_shamir(z, theirs)
        if randoms:
            self._set_aside(self.random_elements((randoms,)), 0)
        return split_flat(total, shapes)

    @property
    def masks_available(self) -> int:
        """Unlimited: :meth:`open_wide` needs no mask set aside."""
        return sys.maxsize

    async def open_wide(self, wide: Array | None, to: Iterable[str] | None = None, *,
                        shape: tuple[int, ...] | None = None) -> Array | None:
        """One round: reveal degree-2 sharings (products, sums of products)
        to ``to`` (default: all). Each compute party sends its additive term
        ``l_i w_i`` plus a fresh zero-sharing term to every receiver, which
        adds the three; nothing to check against (as with Shamir at three
        parties). A receiver outside the compute parties passes None and may
        pass ``shape`` (as in :meth:`open`)."""
        ctx, f = self.ctx, self.field
        receivers = list(ctx.parties) if to is None else list(to)
        outgoing: dict[str, Any] = {}
        term: Array | None = None
        if self.is_compute:
            if wide is None:
                raise LocalProtocolViolation("a compute party opens its shares, not None")
            if shape is not None and np.shape(wide) != tuple(shape):
                raise LocalProtocolViolation(f"opening shares of shape {np.shape(wide)}, not {shape}")
            shape = tuple(np.shape(wide))
            flat = np.ravel(np.asarray(wide))
            term = f.add(f.scale(self._lam_me, flat), self.zero_share(flat.shape[0])).reshape(shape)
            wire = f.to_wire(term)
            outgoing = {p: wire for p in receivers if p != ctx.me}
        senders = [p for p in self.compute if p != ctx.me] if ctx.me in receivers else []
        got = await ctx.exchange(outgoing, expect_from=senders)
        if ctx.me not in receivers:
            return None
        if shape is None:
            shape = self._wire_shape(got[senders[0]], None, senders[0])
        total = term if term is not None else f.zeros(tuple(shape))
        for p in senders:
            total = f.add(total, f.from_wire(got[p], tuple(shape), p))
        return total


def _vanishing_at(field: Any, root: int, x: int) -> int:
    """``f(x)`` for the line with ``f(0) = 1`` and ``f(root) = 0``: ``(root - x) / root``."""
    def element(v: int) -> Array:
        out: Array = field.const(v, (1,))
        return out

    out = field.mul(field.sub(element(root), element(x)), element(field.inv_scalar(root)))
    return int(out[0])


async def _breathe() -> None:
    """Let the party's other tasks (heartbeats) run between big local steps."""
    await trio.lowlevel.checkpoint()
