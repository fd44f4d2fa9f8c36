"""The toolkit's runtime: one per protocol run, holding the engines and the
round bookkeeping that protocol authors should never see (see :mod:`mpcnet.mpc`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from ..context import Context
from ..errors import ConfigError, InputError, LocalProtocolViolation, RemoteProtocolViolation
from .binary import onehot_size, to_bits, to_onehot
from .convert import random_elements
from .fields import GF256, P127
from .laplace import shared_discrete_laplace
from .repfield import ReplicatedFieldEngine
from .replicated import ReplicatedEngine
from .secbits import SecretBits
from .secint import SecretInt, onehot_width
from .secring import SecretRing, input_ring
from .secsliced import SlicedBits, input_sliced
from .secxor import XorBits, input_xor
from .shamir import ShamirEngine, max_threshold
from .twoparty import TwoPartyEngine

if TYPE_CHECKING:
    from .fixed import SecretFixed

__all__ = ["Runtime", "RESULT_ROUND", "Shape", "ENGINES", "choose_engine", "engine_problem"]

Array = np.ndarray[Any, Any]
#: A declared input shape: a tuple, or None when the input party chooses it.
Shape = tuple[int, ...] | None

#: The round at which opened results reach parties outside the compute
#: parties (who sat out the computation and do not know how many rounds it
#: took): a constant every party knows, above any round a computation uses.
RESULT_ROUND = 1_000_000

#: What ``Runtime(engine=...)`` accepts.
ENGINES = ("auto", "shamir", "replicated", "twoparty")


def choose_engine(requested: str, compute_parties: int, *, only_compute: bool = True) -> str:
    """The engine behind a runtime's bit values (:meth:`Runtime.input_bits`)
    and its :class:`SecretInt`: ``"shamir"`` (:class:`SecretBits`, GF(2^8),
    and :class:`~mpcnet.mpc.shamir.ShamirEngine`, any c >= 3),
    ``"replicated"`` (:class:`SlicedBits`, and
    :class:`~mpcnet.mpc.repfield.ReplicatedFieldEngine` under
    :class:`SecretInt`: the same field values and results; exactly three
    compute parties) or ``"twoparty"`` (:class:`XorBits`, exactly two
    parties, both computing: ``only_compute`` says there is no party outside
    the compute parties).
    ``"auto"`` takes the replicated engine when there are exactly three
    compute parties (fewer bytes and less work per gate, the same rounds),
    the two-party engine when there are two parties and no other, Shamir
    otherwise. The whole dispatch is here, one branch per case."""
    if requested not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}")
    if requested == "replicated" and compute_parties != 3:
        raise ConfigError("the replicated engine needs exactly three compute parties")
    if requested == "twoparty" and not (compute_parties == 2 and only_compute):
        raise ConfigError("the two-party engine needs exactly two parties, both computing")
    if requested != "auto":
        return requested
    if compute_parties == 3:
        return "replicated"
    if compute_parties == 2 and only_compute:
        return "twoparty"
    return "shamir"


def engine_problem(requested: str, parties: int) -> str | None:
    """For a protocol's ``engine`` parameter when all ``parties`` compute:
    what is wrong with ``requested`` (:func:`choose_engine`'s refusal, or
    Shamir asked of two parties, who cannot hold an honest majority), else
    None. A :class:`~mpcnet.registry.Param` check."""
    try:
        choose_engine(requested, parties)
    except ConfigError as exc:
        return exc.message
    if parties == 2 and requested == "shamir":
        return "with two parties the engine is twoparty (or auto)"
    return None


def int_bounds(bits: int, signed: bool) -> tuple[int, int]:
    """The inclusive range of ``bits``-bit integers, two's complement when ``signed``."""
    if bits < 1:
        raise ConfigError("a bit length is at least 1")
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


class Runtime:
    """Secret values for one protocol run among ``compute`` parties (default:
    all), with threshold ``t`` (default: the largest honest-majority one).
    Shamir values (:class:`SecretInt`, :class:`SecretBits`) need at least 3
    compute parties (a ConfigError at their first use otherwise); additive
    ones (:class:`SecretRing`) work with 2.

    Parties outside ``compute`` may give input and receive opened values;
    everywhere else they hold *absent* values (no shares) on which local
    operations are free no-ops and computing methods return at once without
    a round, so every party runs the same code. ``engine`` picks what
    :meth:`input_bits` makes (:func:`choose_engine`: with ``"auto"``,
    :class:`SlicedBits` on the three-party replicated engine when there are
    exactly three compute parties, :class:`XorBits` on the two-party engine
    when there are two parties and no other, else :class:`SecretBits`) and how
    :class:`SecretInt` multiplies (with three compute parties: replicated
    resharing over the same field, :mod:`mpcnet.mpc.repfield`; the same
    values); a protocol
    that needs what only one of them has (``to_int``) names it. ``wide_opens`` is how many
    degree-2t elements (products summed locally, :meth:`SecretInt.mul_wide`)
    the protocol will open: the toolkit then sets aside their masks in its
    first reduction round, so each such opening takes one round (the
    replicated engine needs no masks: always one round).
    """

    def __init__(self, ctx: Context, *, compute: Sequence[str] | None = None, t: int | None = None,
                 wide_opens: int = 0, engine: str = "auto") -> None:
        self.ctx = ctx
        self.compute = list(ctx.parties) if compute is None else list(compute)
        self._compute_set = frozenset(self.compute)
        # (membership through ctx.is_party: constant time per compute party, where a set of all parties would
        # cost each of 10,000 voters 10,000 steps)
        if len(self._compute_set) != len(self.compute) or not all(ctx.is_party(p) for p in self.compute):
            raise ConfigError("compute parties must be distinct parties of the session")
        self.t = max_threshold(len(self.compute)) if t is None else t
        self.is_compute = ctx.me in self.compute
        #: "shamir", "replicated" or "twoparty": the engine behind :meth:`input_bits`.
        self.engine = choose_engine(engine, len(self.compute), only_compute=len(self.compute) == ctx.n)
        self._engines: dict[str, ShamirEngine] = {}
        self._replicated: ReplicatedEngine | None = None
        self._two_party: TwoPartyEngine | None = None
        self._number: int | None = None
        if wide_opens < 0:
            raise ConfigError("wide_opens must be >= 0")
        self._masks_wanted = wide_opens
        self._result_rounds = 0

    # -- engines (the low tier, for hand-tuned paths) ---------------------------

    @property
    def field_engine(self) -> ShamirEngine:
        """The engine over Z_(2^127-1) behind :class:`SecretInt`: a
        :class:`~mpcnet.mpc.shamir.ShamirEngine`, or on the replicated choice
        (:attr:`engine`) its subclass :class:`~mpcnet.mpc.repfield.ReplicatedFieldEngine`."""
        return self._engine("field")

    @property
    def bit_engine(self) -> ShamirEngine:
        """The engine over GF(2^8) behind :class:`SecretBits` and the comparisons
        of :class:`SecretInt` (Shamir, or replicated products: as :attr:`field_engine`)."""
        return self._engine("bits")

    @property
    def replicated_engine(self) -> ReplicatedEngine:
        """The three-party :class:`~mpcnet.mpc.replicated.ReplicatedEngine`
        behind :class:`SlicedBits` (a ConfigError unless there are exactly
        three compute parties)."""
        if self._replicated is None:
            self._replicated = ReplicatedEngine(self.ctx, self.compute, label="runtime")
        return self._replicated

    @property
    def two_party_engine(self) -> TwoPartyEngine:
        """The :class:`~mpcnet.mpc.twoparty.TwoPartyEngine` behind :class:`XorBits`
        (a ConfigError unless there are exactly two compute parties and they are all the parties)."""
        if self._two_party is None:
            self._two_party = TwoPartyEngine(self.ctx, self.compute, label="runtime")
        return self._two_party

    @property
    def two_party(self) -> bool:
        """True when bit values live on the two-party engine (:attr:`engine`
        is "twoparty": exactly two parties, both computing)."""
        return self.engine == "twoparty"

    def _engine(self, kind: str) -> ShamirEngine:
        if kind not in self._engines:
            field = P127 if kind == "field" else GF256
            if self.engine == "replicated":
                # The same shares and field values, products reduced the replicated way (mpcnet.mpc.repfield).
                self._engines[kind] = ReplicatedFieldEngine(self.ctx, field, compute=self.compute,
                                                            label=f"runtime{self._instance()}/{kind}")
            else:
                self._engines[kind] = ShamirEngine(self.ctx, field, compute=self.compute, t=self.t)
        return self._engines[kind]

    def _instance(self) -> int:
        """This runtime's number among the session's runtimes that made
        keyed engines (0, 1, ...: every party creates its runtimes in the
        same order), so two runtimes in one session never share keys."""
        if self._number is None:
            number = 0
            while True:
                try:
                    self.ctx.claim_once(f"runtime-instance:{number}")
                    break
                except LocalProtocolViolation:
                    number += 1
            self._number = number
        return self._number

    def take_mask_request(self) -> int:
        """Masks to set aside in this reduction round (all still wanted; then none)."""
        wanted, self._masks_wanted = self._masks_wanted, 0
        return wanted if self.is_compute else 0

    def enter_result_round(self, receivers: Sequence[str]) -> None:
        """Before an opening to parties that sat out the computation: every
        party jumps to the next agreed result round (RESULT_ROUND, then the
        rounds after it)."""
        # (compute parties are distinct parties: all of them iff as many)
        if len(self.compute) == self.ctx.n or all(r in self._compute_set for r in receivers):
            return
        self.ctx.skip_to_round(RESULT_ROUND + self._result_rounds)
        self._result_rounds += 1

    # -- making secret values ---------------------------------------------------

    async def input_int(self, owners: Mapping[str, Shape], mine: Any = None, *, bits: int | None = None,
                        signed: bool = False, onehot: bool = False,
                        max_values: int | None = None) -> dict[str, SecretInt]:
        """One round: every party in ``owners`` (party -> the shape of its
        input, or None for the input party to choose) deals ``mine`` to the
        compute parties as Z_(2^127-1) Shamir shares. ``bits``/``signed``
        declare the range (checked here, before anything is sent: an
        InputError that does not quote the value); without ``bits`` any
        field element is accepted and the values have no range until
        :meth:`SecretInt.with_range` gives one (after a check in MPC).

        ``onehot=True`` deals the one-hot blocks of each value instead
        (:func:`mpcnet.mpc.binary.to_onehot`: 2^w indicators per block of w <= 4
        bits, 128 elements for 32 bits, so 8x the traffic of one element),
        from which the value itself is local and comparisons between such
        values need no bit decomposition (:mod:`mpcnet.mpc` gives the rounds).
        ``max_values``: as in :meth:`input_bits`.
        """
        lo, hi = int_bounds(bits, signed) if bits is not None else (None, None)
        deal: Array | None = None
        if self.ctx.me in owners:
            values = _check_ints(mine, owners[self.ctx.me], lo, hi)
            if onehot:
                if lo is None or hi is None:
                    raise ConfigError("one-hot input needs a declared bit length")
                deal = P127.from_ints(_onehot(np.asarray(values, dtype=object) - lo, onehot_width(lo, hi)))
            else:
                deal = np.asarray(P127.from_ints(values), dtype=object)
        eng = self.field_engine
        # (a single value travels as shape (1,): field arrays on the wire have an axis)
        shapes = {p: (None if s is None else (*s, _onehot_size(lo, hi)) if onehot else tuple(s) or (1,))
                  for p, s in owners.items()}
        per_value = _onehot_size(lo, hi) if onehot else 1
        got = await eng.input(shapes, None if deal is None else deal.reshape(-1) if deal.ndim == 0 else deal,
                              max_elements=None if max_values is None else max(1, max_values) * per_value)
        got = {p: a.reshape(()) if owners[p] == () and not onehot else a for p, a in got.items()}
        if onehot:
            for p, shares in got.items():
                if shares.ndim < 1 or shares.shape[-1] != _onehot_size(lo, hi):
                    raise RemoteProtocolViolation("expected shares of one-hot blocks", peer=p)
        out = {}
        for p in owners:
            if onehot:
                out[p] = SecretInt.from_onehot(self, got.get(p), lo, hi)  # type: ignore[arg-type]
            else:
                out[p] = SecretInt(self, got.get(p), lo, hi)
        return out

    async def input_stacked(self, owners: Sequence[str], shape: tuple[int, ...], mine: Any = None, *,
                            bits: int | None = None, signed: bool = False) -> SecretInt:
        """One round: like :meth:`input_int` for ``owners`` that all input
        the same ``shape``, their values stacked in the order of ``owners``
        (shape ``(len(owners), *shape)``). ``mine``: this party's input if it
        is one of ``owners``, else None.

        For many input-only parties (10,000 voters): a party outside the
        compute parties does a constant amount of work here whatever the
        number of owners (input_int would build one value per owner at every
        party), so a run's total work grows linearly in the owners."""
        lo, hi = int_bounds(bits, signed) if bits is not None else (None, None)
        me = self.ctx.me
        owner = me in owners
        if owner != (mine is not None):
            raise LocalProtocolViolation("an input party passes its input, every other party None")
        wire_shape = tuple(shape) or (1,)  # (field arrays on the wire have an axis)
        deal = None
        if mine is not None:
            deal = np.asarray(P127.from_ints(_check_ints(mine, shape, lo, hi)), dtype=object).reshape(wire_shape)
        if not self.is_compute:
            await self.field_engine.input({me: wire_shape} if owner else {}, deal)
            return SecretInt(self, None, lo, hi)
        got = await self.field_engine.input(dict.fromkeys(owners, wire_shape), deal)
        stacked = np.stack([got[p] for p in owners]) if owners else P127.zeros((0, *wire_shape))
        return SecretInt(self, stacked.reshape((len(owners), *shape)), lo, hi)

    async def input_bits(self, owners: Mapping[str, Shape], mine: Any = None, *, bits: int,
                         signed: bool = False, max_values: int | None = None) -> dict[str, Any]:
        """One round: like :meth:`input_int`, but for boolean circuits: on the
        Shamir engine each value is dealt bit by bit over GF(2^8) (k shared
        bits, least significant first: :class:`SecretBits`); on the
        replicated engine (:attr:`engine`) as bit-sliced replicated shares
        (:class:`SlicedBits`, the same comparison, selection, max/argmax and
        opening methods with the same rounds). ``max_values`` bounds the
        number of values an owner whose shape is its own choice (None) may
        send: a larger share array is a RemoteProtocolViolation naming it,
        before the shares are used."""
        if self.engine == "replicated":
            return await self.input_sliced(owners, mine, bits=bits, signed=signed, max_values=max_values)
        if self.engine == "twoparty":
            return await self.input_xor(owners, mine, bits=bits, signed=signed)  # type: ignore[arg-type]
        lo, hi = int_bounds(bits, signed)
        deal: Array | None = None
        if self.ctx.me in owners:
            _check_ints(mine, owners[self.ctx.me], lo, hi)
            deal = to_bits(mine, bits, signed=signed)  # (from the caller's list: faster than from an int64 array)
        shapes = {p: (None if s is None else (*s, bits)) for p, s in owners.items()}
        got = await self.bit_engine.input(shapes, deal, max_elements=None if max_values is None else max_values * bits)
        for p, shares in got.items():
            if shares.ndim < 1 or shares.shape[-1] != bits:
                raise RemoteProtocolViolation(f"expected shares of {bits}-bit values", peer=p)
        return {p: SecretBits(self, got.get(p), bits, signed) for p in owners}

    async def input_sliced(self, owners: Mapping[str, Shape], mine: Any = None, *, bits: int,
                           signed: bool = False, max_values: int | None = None) -> dict[str, SlicedBits]:
        """One round: every party in ``owners`` (party -> the declared shape of
        its input, or None for the input party to choose, at most
        ``max_values`` values) shares its ``bits``-bit integers ``mine`` among
        exactly three compute parties as bit-sliced replicated shares
        (:class:`SlicedBits`: a 32-bit comparison costs each party about 11
        bytes and 6 rounds). The range is checked here, before anything is sent."""
        lo, hi = int_bounds(bits, signed)
        values = None
        if self.ctx.me in owners:
            values = _check_ints(mine, owners[self.ctx.me], lo, hi)
            values = values.astype(np.int64) if signed or bits < 64 else values.astype(np.uint64)
        return await input_sliced(self, owners, values, bits, signed, max_values)

    async def input_xor(self, owners: Mapping[str, tuple[int, ...]], mine: Any = None, *, bits: int,
                        signed: bool = False) -> dict[str, XorBits]:
        """No round: with exactly two parties, both computing (:attr:`two_party`),
        every party in ``owners`` (party -> the declared shape of its input)
        holds its ``bits``-bit integers ``mine`` as :class:`XorBits` on the
        two-party engine (its own value is the sharing (value, 0)). The range
        is checked here."""
        if not self.two_party:
            raise ConfigError("XorBits need a runtime of exactly two parties, both computing")
        if any(shape is None for shape in owners.values()):
            raise LocalProtocolViolation("two-party inputs need declared shapes (they cost no round)")
        lo, hi = int_bounds(bits, signed)
        values = None
        if self.ctx.me in owners:
            values = _check_ints(mine, owners[self.ctx.me], lo, hi)
            values = values.astype(np.int64) if signed or bits < 64 else values.astype(np.uint64)
        return input_xor(self, owners, values, bits, signed)

    async def input_ring(self, owners: Mapping[str, Shape], mine: Any = None, *, bits: int,
                         signed: bool = True) -> dict[str, SecretRing]:
        """One round: every party in ``owners`` (party -> the shape of its
        input, declared) splits ``mine`` into additive shares mod 2^64, one per
        compute party (:class:`SecretRing`: sums private against all but one
        compute party). The range is checked here, before anything is sent."""
        lo, hi = int_bounds(bits, signed)
        values = _check_ints(mine, owners[self.ctx.me], lo, hi) if self.ctx.me in owners else None
        return await input_ring(self, owners, values, lo, hi)

    async def input_fixed(self, owners: Mapping[str, tuple[int, ...]], mine: Any = None, *,
                          bound: float | Mapping[str, float], frac: int = 16,
                          scale: int = 1) -> dict[str, SecretFixed]:
        """Fixed-point reals (:class:`~mpcnet.mpc.fixed.SecretFixed`): every
        party in ``owners`` (party -> the declared shape) inputs its reals
        ``mine``, of magnitude at most ``bound`` (one for all or one per
        owner; checked here, before anything is sent), as ``round(x * 2^(frac * scale))``. No round with
        two parties (each owner holds its own value), else one
        (:func:`mpcnet.mpc.fixed.input_fixed`)."""
        from .fixed import input_fixed
        return await input_fixed(self, owners, mine, bound=bound, frac=frac, scale=scale)

    def public_int(self, values: Any) -> SecretInt:
        """A public array as a secret value (no round; its range is exact)."""
        if isinstance(values, int) and not isinstance(values, bool):  # the common case, quickly
            return SecretInt(self, np.asarray(values % P127.p, dtype=object), values, values)
        arr = np.asarray(values, dtype=object)
        lo, hi = (int(arr.min()), int(arr.max())) if arr.size else (0, 0)
        return SecretInt(self, P127.from_ints(arr), lo, hi)

    def absent_int(self) -> SecretInt:
        """A value this party holds no shares of (outside the compute parties)."""
        return SecretInt(self, None, None, None)

    async def random_int(self, shape: tuple[int, ...]) -> SecretInt:
        """Uniformly random field elements nobody knows (1 round)."""
        if not self.is_compute:
            return self.absent_int()
        return SecretInt(self, (await random_elements(self.field_engine, shape or (1,))).reshape(shape), None, None)

    async def discrete_laplace(self, scale: Fraction, count: int) -> SecretInt:
        """``count`` discrete Laplace samples of the given scale that nobody
        ever sees (:mod:`mpcnet.mpc.laplace`: its rounds, exactness and cost)."""
        if not self.is_compute:
            return self.absent_int()
        noise = await shared_discrete_laplace(self.field_engine, self.bit_engine, Fraction(scale), count)
        return SecretInt(self, noise, None, None)


def _onehot_size(lo: int | None, hi: int | None) -> int:
    assert lo is not None and hi is not None
    return onehot_size(onehot_width(lo, hi))


def _onehot(values: Array, width: int) -> Array:
    return to_onehot(values, width)


def _check_ints(mine: Any, shape: Shape, lo: int | None, hi: int | None) -> Array:
    """This party's input as an array of ints (int64, or object for larger
    ones) of the declared shape and range; InputError (before any byte is
    sent) naming the rule only."""
    if mine is None:
        raise LocalProtocolViolation("this party is an input party and must pass its input")
    arr = np.asarray(mine)
    if shape is not None and arr.shape != tuple(shape):
        raise InputError(f"input must have shape {tuple(shape)}")
    if arr.dtype.kind not in "iu":  # big ints (numpy may make them floats!), or not ints: look at each
        arr = np.asarray(mine, dtype=object)
        flat = list(arr.ravel())
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in flat):
            raise InputError("every input value must be an integer")
        arr = np.asarray([int(v) for v in flat], dtype=object).reshape(arr.shape)
    low, high = (lo, hi) if lo is not None and hi is not None else (0, P127.p - 1)
    if arr.size and (int(arr.min()) < low or int(arr.max()) > high):
        raise InputError(f"input out of range: every value must satisfy {low} <= x <= {high}")
    return arr
