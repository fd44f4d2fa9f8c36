"""Shamir secret sharing with honest majority, vectorised, over any :mod:`field <mpcnet.mpc.fields>`.

A value ``s`` is shared among the ``c`` compute parties as the evaluations
``f(1), ..., f(c)`` of a random polynomial ``f`` of degree ``t`` with
``f(0) = s``; compute party ``i`` (0-based) holds ``f(i + 1)``. Any ``t``
shares are uniform and independent of ``s``; any ``t + 1`` determine it.
We require ``c >= 2t + 1`` (honest majority) so products can be reduced.

:class:`ShamirEngine` binds the arithmetic to a protocol :class:`Context`:

* :meth:`~ShamirEngine.input` — input parties deal shares of their values to
  the compute parties (1 round);
* :meth:`~ShamirEngine.mul` — a batch of products (1 round): each of the first
  ``2t + 1`` compute parties multiplies its shares locally (a degree-``2t``
  sharing), reshares the product with a fresh degree-``t`` polynomial, and
  every party recombines with the Lagrange coefficients at 0 (Gennaro, Rabin
  and Rabin, PODC 1998, the simplified BGW degree reduction);
* :meth:`~ShamirEngine.reduce_many` — the same degree reduction for any
  locally computed degree-``2t`` sharing, such as a sum of products (an inner
  product costs one round and one element of traffic, whatever its length);
* :meth:`~ShamirEngine.open` — compute parties send their shares to whoever
  learns the value (1 round). Receivers check that all shares lie on one
  polynomial of degree ``t`` and raise if not, so a deviating party is
  detected (not identified) when the value is opened;
* :meth:`~ShamirEngine.open_wide` — open a degree-``2t`` sharing (a product,
  or a sum of products) directly, saving the reduction round before a final
  opening. Its shares are masked with a random degree-``2t`` sharing of zero
  that an earlier reduction round (``masks=``) or
  :meth:`~ShamirEngine.extras_from_keys` set aside, so the opened points are
  a uniformly random degree-``2t`` polynomial through the value: they reveal
  the value and nothing else;
* addition, subtraction and multiplication by public constants are local.

Semi-honest security against any ``t`` colluding compute parties (plus any
number of colluding input-only parties, who see nothing but the output).
All arrays may have any shape; one call handles any number of elements in the
same number of rounds.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np
import trio

from ..context import Context
from ..errors import ConfigError, LocalProtocolViolation, RemoteProtocolViolation
from ..randomness import KeyedRandomness
from .fields import Field, GF256Field

__all__ = ["ShamirEngine", "lagrange_at_zero", "max_threshold"]

Array = np.ndarray[Any, Any]


def max_threshold(c: int) -> int:
    """The largest ``t`` with ``c >= 2t + 1``."""
    return (c - 1) // 2


def lagrange_at_zero(field: Field, points: Sequence[int]) -> list[int]:
    """Coefficients ``l_i`` with ``f(0) = sum l_i f(points[i])`` for any
    polynomial of degree below ``len(points)``."""
    return list(_lagrange(field, tuple(points), 0))


@functools.lru_cache(maxsize=256)
def _lagrange(field: Any, points: tuple[int, ...], at: int) -> tuple[int, ...]:
    """Coefficients ``l_i`` with ``f(at) = sum l_i f(points[i])``, in scalar
    field arithmetic (computed once per field, points and target)."""
    coeffs = []
    for i, xi in enumerate(points):
        num, den = 1, 1
        for j, xj in enumerate(points):
            if i != j:
                num = _fmul(field, num, _fsub(field, at, xj))
                den = _fmul(field, den, _fsub(field, xi, xj))
        coeffs.append(_fmul(field, num, field.inv_scalar(den)))
    return tuple(coeffs)


def _check_extra_counts(masks: int, randoms: int) -> None:
    if masks < 0 or randoms < 0:
        raise LocalProtocolViolation("masks and randoms must be >= 0")


def _fmul(field: Field, a: int, b: int) -> int:
    if isinstance(field, GF256Field):
        return int(field.MUL[a, b])
    return (a * b) % field.order


def _fsub(field: Field, a: int, b: int) -> int:
    if isinstance(field, GF256Field):
        return a ^ b
    return (a - b) % field.order


def split_flat(flat: Any, shapes: Sequence[tuple[int, ...]]) -> list[Any]:
    """The arrays of ``shapes``, in order, cut from one flat array (the
    inverse of concatenating their ravels: a batched reduction's results)."""
    out, pos = [], 0
    for shape in shapes:
        size = int(np.prod(shape, dtype=np.int64))
        out.append(flat[pos : pos + size].reshape(shape))
        pos += size
    return out


class ShamirEngine:
    """Shamir arithmetic among ``compute`` parties of a protocol run.

    ``compute`` defaults to every party; ``t`` to the largest honest-majority
    threshold. Parties outside ``compute`` may still give input and receive
    opened values.
    """

    def __init__(self, ctx: Context, field: Field, *, compute: Sequence[str] | None = None, t: int | None = None) -> None:
        compute = list(compute) if compute is not None else list(ctx.parties)
        if len(set(compute)) != len(compute) or not all(ctx.is_party(p) for p in compute):
            raise ConfigError("compute parties must be distinct parties of the session")
        c = len(compute)
        if c > field.order - 1:
            raise ConfigError(f"{field.name} supports at most {field.order - 1} compute parties")
        t = max_threshold(c) if t is None else t
        if t < 1 or c < 2 * t + 1:
            raise ConfigError(f"Shamir with honest majority needs at least 3 compute parties and c >= 2t+1 (c={c}, t={t})")
        self.ctx = ctx
        self.field = field
        self.compute = compute
        self.c = c
        self.t = t
        self.is_compute = ctx.me in compute
        self.points = list(range(1, c + 1))
        # The first 2t+1 compute parties reshare products; their points
        # determine the degree-2t product polynomial.
        self.resharers = compute[: 2 * t + 1]
        self._lambda_mul = lagrange_at_zero(field, self.points[: 2 * t + 1])
        self._lambda_open = lagrange_at_zero(field, self.points[: t + 1])
        # For checking that opened shares lie on a polynomial of degree t
        # (or 2t for open_wide): extrapolation coefficients from the first
        # degree+1 points to each of the others.
        self._check = self._consistency_matrix(t)
        self._check_wide = self._consistency_matrix(2 * t)
        # Shares of random degree-2t sharings of zero, set aside by reduce
        # rounds for open_wide (flat, consumed from the front), and of random
        # values (degree t) for take_randoms.
        self._masks = field.zeros(0)
        self._randoms = field.zeros(0)

    # -- local operations ---------------------------------------------------

    def deal(self, secret: Array, degree: int | None = None) -> Array:
        """Shares of ``secret`` for every compute party: shape ``(c,) + secret.shape``."""
        return np.stack(list(self._shares(secret, self.t if degree is None else degree)))

    async def _deal_breathing(self, secret: Array) -> list[Array]:
        """:meth:`deal` (degree t) as a list, with a checkpoint after each
        party's share: on 10^6 x 32 elements one share is ~0.1 s of CPU,
        which a loaded machine stretches several-fold (see :func:`_breathe`);
        and no stacked copy (96 MB there, in fresh pages every round)."""
        out = []
        for share in self._shares(secret, self.t):
            out.append(share)
            await _breathe()
        return out

    def _shares(self, secret: Array, degree: int) -> Iterator[Array]:
        """Each compute party's share of ``secret`` in turn (the coefficients are drawn first)."""
        f = self.field
        secret = np.asarray(secret)
        coeffs = f.random(degree * secret.size, self.ctx.random).reshape((degree, *secret.shape))
        for x in self.points:
            acc = coeffs[degree - 1] if degree else f.zeros(secret.shape)
            for k in range(degree - 2, -1, -1):  # Horner: ((c_t x + c_{t-1}) x + ...) x + s
                acc = f.add(f.scale(x, acc), coeffs[k])
            yield f.add(f.scale(x, acc), secret) if degree else secret

    def const(self, value: int | Array, shape: Any = ()) -> Array:
        """A public constant as a (degree-0) sharing: every share is the value."""
        if isinstance(value, np.ndarray):
            return self.field.from_ints(value)
        return self.field.const(value, shape)

    def add(self, a: Array, b: Array) -> Array:
        """Shares of a + b (local)."""
        return self.field.add(a, b)

    def sub(self, a: Array, b: Array) -> Array:
        """Shares of a - b (local)."""
        return self.field.sub(a, b)

    def add_public(self, a: Array, value: int | Array) -> Array:
        """Shares of a + public value (local: every share shifts by it)."""
        return self.field.add(a, self.const(value, np.shape(a)))

    def scale(self, c: int, a: Array) -> Array:
        """Shares of c * a for a public scalar c (local)."""
        return self.field.scale(c, a)

    # -- communication --------------------------------------------------------

    async def input(self, values: Mapping[str, tuple[int, ...] | None], mine: Array | None = None, *,
                    max_elements: int | None = None) -> dict[str, Array]:
        """One round: every party in ``values`` (party -> shape of its input,
        or None when the shape is the input party's to choose) deals its
        input ``mine`` to the compute parties. Returns, at compute parties,
        ``{input party: my shares}``; ``{}`` elsewhere.

        A chosen shape is bounded by ``max_elements`` (which the protocol
        derives from its public parameters): a larger share array is a
        :class:`RemoteProtocolViolation` naming its sender, raised before
        the shares are converted or used. Without it only the message size
        limit bounds a chosen shape."""
        ctx = self.ctx
        outgoing: dict[str, Any] = {}
        own: Array | None = None
        if ctx.me in values:
            want = values[ctx.me]
            if mine is None or (want is not None and np.shape(mine) != tuple(want)):
                raise LocalProtocolViolation(f"input must have shape {want}")
            if max_elements is not None and np.size(mine) > max_elements:
                raise LocalProtocolViolation(f"input has more than the {max_elements} elements allowed")
            await _breathe()
            shares = await self._deal_breathing(mine)
            for i, p in enumerate(self.compute):
                if p == ctx.me:
                    own = shares[i]
                else:
                    outgoing[p] = self.field.to_wire(shares[i])
        expect = [p for p in values if p != ctx.me] if self.is_compute else []
        got = await ctx.exchange(outgoing, expect_from=expect)
        if not self.is_compute:
            return {}
        out = {p: self.field.from_wire(w, self._wire_shape(w, values[p], p, max_elements), p) for p, w in got.items()}
        if own is not None:
            out[ctx.me] = own
        return {p: out[p] for p in values}

    async def mul(self, a: Array, b: Array) -> Array:
        """Shares of the element-wise product a * b: one round for any size."""
        return (await self.mul_many([(a, b)]))[0]

    async def mul_many(self, pairs: Sequence[tuple[Array, Array]], *, masks: int = 0,
                       randoms: int = 0) -> list[Array]:
        """Several products of different shapes in one round (``masks`` and
        ``randoms``: see :meth:`reduce_many`)."""
        self._require_compute("mul")
        f = self.field
        wide = []
        for a, b in pairs:
            wide.append(f.mul(a, b))
            await _breathe()
        return await self.reduce_many(wide, masks=masks, randoms=randoms)

    async def reduce_many(self, wide: Sequence[Array], *, masks: int = 0, randoms: int = 0) -> list[Array]:
        """Degree reduction, one round: ``wide`` are this party's shares of
        degree-``2t`` sharings computed locally (``field.mul`` of two shares,
        or sums of such products: an inner product ``sum_i a_i b_i`` reduces
        as one element); returns ordinary degree-``t`` shares of the same
        values.

        ``masks`` > 0 also sets aside that many random degree-``2t`` sharings
        of zero for a later :meth:`open_wide`, and ``randoms`` > 0 that many
        sharings of uniformly random field elements for :meth:`take_randoms`,
        in the same messages (no extra round): every resharer deals its own
        and each party adds up what it receives, so no ``t`` parties know the
        sum (at least ``t + 1`` of the ``2t + 1`` resharers are honest).
        """
        self._require_compute("reduce")
        _check_extra_counts(masks, randoms)
        f = self.field
        shapes = [np.shape(w) for w in wide]
        flat = np.concatenate([np.ravel(w) for w in wide]) if wide else f.zeros(0)
        ctx = self.ctx
        outgoing: dict[str, Any] = {}
        own: Array | None = None
        own_extra: Array | None = None
        extra = masks + randoms
        if ctx.me in self.resharers:
            await _breathe()
            shares = await self._deal_breathing(flat)
            if extra:
                extras = self._deal_extras(masks, randoms)
                await _breathe()
            for i, p in enumerate(self.compute):
                if p == ctx.me:
                    own = shares[i]
                    own_extra = extras[i] if extra else None
                elif not extra:
                    outgoing[p] = f.to_wire(shares[i])
                else:
                    outgoing[p] = [f.to_wire(shares[i]), f.to_wire(extras[i])]
        expect = [p for p in self.resharers if p != ctx.me]
        got = await ctx.exchange(outgoing, expect_from=expect)
        n = flat.shape[0]
        total = f.zeros(n)
        extra_total = f.zeros(extra)
        for lam, p in zip(self._lambda_mul, self.resharers, strict=True):
            if p == ctx.me:
                part, extra_part = own, own_extra
            elif extra:
                msg = got[p]
                if not (isinstance(msg, list) and len(msg) == 2):
                    raise RemoteProtocolViolation("expected [shares, masks and randoms] in a reduction round", peer=p)
                part, extra_part = f.from_wire(msg[0], (n,), p), f.from_wire(msg[1], (extra,), p)
            else:
                part, extra_part = f.from_wire(got[p], (n,), p), None
            assert part is not None
            await _breathe()
            total = f.add(total, f.scale(lam, part))
            if extra_part is not None:
                extra_total = f.add(extra_total, extra_part)
        if extra:
            self._set_aside(extra_total, masks)
        return split_flat(total, shapes)

    def _deal_extras(self, masks: int, randoms: int) -> Array:
        """This party's contribution to ``masks`` zero masks (degree ``2t``)
        and ``randoms`` random values (degree ``t``): ``(c, masks + randoms)``,
        row ``i`` for compute party ``i``."""
        f = self.field
        return np.concatenate([self.deal(f.zeros(masks), degree=2 * self.t),
                               self.deal(f.random(randoms, self.ctx.random))], axis=1)

    def extras_from_keys(self, masks: int, randoms: int, label: str) -> None:
        """Set aside ``masks`` zero masks and ``randoms`` random values, like
        :meth:`reduce_many` with ``masks=`` and ``randoms=``, but with no message:
        pseudo-random secret sharing (Cramer, Damgard and Ishai, TCC 2005)
        from the pairwise keys (:meth:`~mpcnet.Context.pairwise_key`, under
        ``label``). Three compute parties only (t = 1), where the sets of
        c - t parties it needs keys for are exactly the pairs.

        Each pair {i, j} expands its key into values ``r`` known to both; the
        third party's point is a root of ``f(x) = (x - x_third) / -x_third``,
        so ``sum r f(x_i)`` over the pairs i is in are shares of the random
        ``sum r`` (degree 1), unknown to any one party, which misses the pair
        without it; ``sum r x f(x)`` are shares of 0 of degree 2, uniformly
        random among those that agree with what any one party knows (its
        two pairs' values). Every compute party must call it with the same
        arguments in the same order; a label serves once per session (a
        second call with it raises: it would repeat the same values)."""
        self._require_compute("extras_from_keys")
        if self.c != 3 or self.t != 1:
            raise ConfigError("pseudo-random extras need exactly 3 compute parties (t = 1)")
        _check_extra_counts(masks, randoms)
        f, ctx = self.field, self.ctx
        # One name for the claim and the keys: the same label would give the
        # same values, and the prefix keeps these keys apart from any a
        # protocol derives itself with ctx.pairwise_key(peer, label).
        name = f"extras_from_keys:{label}"
        ctx.claim_once(name)
        me = self.compute.index(ctx.me)
        x_me = self.points[me]
        total = f.zeros(masks + randoms)
        for other in range(3):
            if other == me:
                continue
            x_third = self.points[3 - me - other]
            stream = KeyedRandomness(ctx.pairwise_key(self.compute[other], name))
            at_me = _lagrange(f, (0, x_third), x_me)[0]  # f(x_me): f(0) = 1, f(x_third) = 0
            # Both key holders draw in this order: random values, then masks.
            rand = f.random(randoms, stream)
            zero = f.random(masks, stream)
            total = f.add(total, np.concatenate([f.scale(_fmul(f, x_me, at_me), zero), f.scale(at_me, rand)]))
        self._set_aside(total, masks)

    def _set_aside(self, total: Array, masks: int) -> None:
        if masks:
            self._masks = np.concatenate([self._masks, total[:masks]])
        if total.shape[0] > masks:
            self._randoms = np.concatenate([self._randoms, total[masks:]])

    def take_randoms(self, count: int) -> Array:
        """Shares of ``count`` uniformly random field elements, known to no
        ``t`` parties, set aside earlier (by a reduction round's ``randoms=``
        or :meth:`extras_from_keys`); each is handed out once."""
        self._require_compute("take_randoms")
        if count > self._randoms.shape[0]:
            raise LocalProtocolViolation(f"{count} random sharings wanted, {self._randoms.shape[0]} set aside by "
                                         "reduce_many/mul_many(randoms=...) or extras_from_keys")
        out, self._randoms = self._randoms[:count], self._randoms[count:]
        return out

    @property
    def masks_available(self) -> int:
        """Zero masks set aside for :meth:`open_wide` and not used yet."""
        return int(self._masks.shape[0])

    async def open_wide(self, wide: Array | None, to: Iterable[str] | None = None, *,
                        shape: tuple[int, ...] | None = None) -> Array | None:
        """One round: reveal values held as degree-``2t`` sharings (see
        :meth:`reduce_many`) to the parties in ``to`` (default: all), without
        reducing them first. Needs ``wide.size`` zero masks set aside earlier
        (by a reduction round's ``masks=`` or :meth:`extras_from_keys`); each
        mask is used once. A receiver outside the compute parties passes None.

        Receivers reconstruct from the first ``2t + 1`` compute parties and
        check the others' shares against that polynomial (with exactly
        ``2t + 1`` compute parties there is nothing to check against: a
        deviation there goes undetected, as it would in a multiplication).
        ``shape``: as in :meth:`open`.
        """
        if self.is_compute:
            if wide is None:
                raise LocalProtocolViolation("a compute party opens its shares, not None")
            size = int(np.prod(np.shape(wide), dtype=np.int64))
            if size > self.masks_available:
                raise LocalProtocolViolation(f"open_wide of {size} values needs as many zero masks set aside by "
                                             f"an earlier reduce_many/mul_many(masks=...) or extras_from_keys; "
                                             f"{self.masks_available} left")
            mask, self._masks = self._masks[:size], self._masks[size:]
            wide = self.field.add(wide, mask.reshape(np.shape(wide)))
        return await self._open(wide, to, wide=True, shape=shape)

    async def open(self, a: Array | None, to: Iterable[str] | None = None, *,
                   shape: tuple[int, ...] | None = None) -> Array | None:
        """One round: reveal ``a`` to the parties in ``to`` (default: all).
        Returns the values (as field elements) there, None elsewhere. A
        receiver outside the compute parties passes None.

        A receiver that is not a compute party holds no shares to take the
        shape from: ``shape`` (known from public parameters) is what it
        accepts, and a share array of any other shape is a
        :class:`RemoteProtocolViolation` naming its sender. Without it the
        receiver takes the shape of the first compute party's share."""
        if self.is_compute and a is None:
            raise LocalProtocolViolation("a compute party opens its shares, not None")
        return await self._open(a, to, wide=False, shape=shape)

    async def _open(self, a: Array | None, to: Iterable[str] | None, *, wide: bool,
                    shape: tuple[int, ...] | None = None) -> Array | None:
        """Send this compute party's shares of ``a`` to the receivers;
        reconstruct (degree 2t if ``wide``, else t) where this party is one."""
        ctx = self.ctx
        receivers = ctx.parties if to is None else tuple(to)  # (a tuple: shared, not copied)
        receiving = to is None or ctx.me in receivers
        if self.is_compute:
            if shape is not None and np.shape(cast(Array, a)) != tuple(shape):
                raise LocalProtocolViolation(f"opening shares of shape {np.shape(cast(Array, a))}, not {shape}")
            shape = np.shape(cast(Array, a))
        outgoing = {}
        if self.is_compute:
            wire_form = self.field.to_wire(cast(Array, a))
            outgoing = {p: wire_form for p in receivers if p != ctx.me}
        expect = [p for p in self.compute if p != ctx.me] if receiving else []
        got = await ctx.exchange(outgoing, expect_from=expect)
        if not receiving:
            return None
        if shape is None:  # learn the shape from the first share received
            shape = self._wire_shape(got[self.compute[0]], None, self.compute[0])
        shares = [self.field.from_wire(got[p], tuple(shape), p) if p != ctx.me else cast(Array, a)
                  for p in self.compute]
        await _breathe()
        return self._reconstruct(shares, wide=wide)

    def _wire_shape(self, w: Any, expected: tuple[int, ...] | None, peer: str,
                    max_elements: int | None = None) -> tuple[int, ...]:
        """The element shape a wire array carries (checked against
        ``expected`` by ``from_wire`` when one is given, else bounded by
        ``max_elements``)."""
        if expected is not None:
            return tuple(expected)
        shape = self.field.wire_shape(w)
        if shape is None:
            raise RemoteProtocolViolation("share is not an array of the expected kind", peer=peer)
        if max_elements is not None and int(np.prod(shape, dtype=np.int64)) > max_elements:
            raise RemoteProtocolViolation(f"sent shares of {int(np.prod(shape, dtype=np.int64))} elements, more "
                                          f"than the {max_elements} the parameters allow", peer=peer)
        return shape

    def _reconstruct(self, shares: list[Array], *, wide: bool = False) -> Array:
        f = self.field
        degree = 2 * self.t if wide else self.t
        lambdas, check = (self._lambda_mul, self._check_wide) if wide else (self._lambda_open, self._check)
        value = f.zeros(np.shape(shares[0]))
        for lam, s in zip(lambdas, shares[: degree + 1], strict=True):
            value = f.add(value, f.scale(lam, s))
        # The other c - degree - 1 shares must agree with the polynomial
        # through the first degree + 1: extrapolate each and compare.
        for j in range(degree + 1, self.c):
            predicted = f.zeros(np.shape(shares[0]))
            for lam, s in zip(check[j], shares[: degree + 1], strict=True):
                predicted = f.add(predicted, f.scale(lam, s))
            if np.any(predicted != shares[j]):
                raise RemoteProtocolViolation("opened shares are inconsistent: some compute party deviated "
                                              "from the protocol")
        return value

    def _consistency_matrix(self, degree: int) -> dict[int, list[int]]:
        """For each point beyond the first degree+1, the Lagrange coefficients
        that extrapolate its share from the first degree+1 shares."""
        base = tuple(self.points[: degree + 1])
        return {j: list(_lagrange(self.field, base, self.points[j])) for j in range(degree + 1, self.c)}

    def _require_compute(self, what: str) -> None:
        if not self.is_compute:
            raise LocalProtocolViolation(f"{what} is for compute parties only")


async def _breathe() -> None:
    """Let the party's own tasks run between the big local steps of a round
    (heartbeats: on 10^6-element inputs one step takes a second or more, and
    a party whose event loop stays busy for the liveness timeout is named by
    its peers as stalled)."""
    await trio.lowlevel.checkpoint()
