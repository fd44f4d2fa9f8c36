"""The fully linear proof system of BBCGGI19 as draft-irtf-cfrg-vdaf-20 specifies it (§7.3, App. A).

A validity circuit (:class:`ValidityCircuit`, §7.3.2) is an arithmetic circuit whose non-affine
parts are calls to *gadgets* (App. A: :class:`Mul`, :class:`PolyEval`, :class:`ParallelSum`).

* Prove (§7.3.3): run the circuit, recording the inputs of every gadget call. Wire ``j`` of a
  gadget called ``c`` times is the polynomial whose values at the first ``P = next_power_of_2(1 + c)``
  powers of the principal ``P``-th root of unity are ``[seed_j, call_1, ..., call_c, 0, ...]``
  (``seed_j`` from the prover randomness). The *gadget polynomial* ``G(wires)`` has degree at most
  ``DEGREE * (P - 1)``; the proof holds, per gadget, the wire seeds and ``G``'s values at the first
  ``DEGREE * (P - 1) + 1`` powers of the ``N``-th root (``N`` the next power of two): the Lagrange
  basis of §6.1.3.
* Query (§7.3.4): run the circuit on a share, taking each gadget output from the (shared) gadget
  polynomial; then evaluate every wire polynomial and the gadget polynomial at a random point ``t``
  (rejected if it is a ``P``-th root of unity). All of it is linear in (measurement, proof) shares.
* Decide (§7.3.5): the (reduced) circuit output is zero, and for each gadget
  ``gadget(wire values at t) == G(t)``.

Polynomials are handled as evaluations; the arithmetic is our own (barycentric evaluation at
roots of unity, the NTT of :mod:`mpcnet.aggregate.field`), equal in value to the draft's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import cache
from typing import Generic, TypeVar

from .field import NttField, next_power_of_2

__all__ = [
    "Gadget", "Mul", "PolyEval", "ParallelSum", "ValidityCircuit", "GadgetCall", "Flp",
    "wire_poly_len", "gadget_poly_len", "extend_values_to_power_of_2", "eval_lagrange_batched",
]

M = TypeVar("M")  # measurement type
R = TypeVar("R")  # aggregate result type

#: How a circuit calls its gadget number ``i``: ``call(i, inputs) -> output``.
GadgetCall = Callable[[int, list[int]], int]


def wire_poly_len(gadget_calls: int) -> int:
    """Values per wire polynomial: the seed plus one per call, rounded up to a power of two (§7.3.2)."""
    return next_power_of_2(1 + gadget_calls)


def gadget_poly_len(degree: int, wire_len: int) -> int:
    """Values of the gadget polynomial carried in the proof: ``degree * (wire_len - 1) + 1`` (§7.3.2)."""
    return degree * (wire_len - 1) + 1


class Gadget(ABC):
    """A non-affine arithmetic sub-circuit (draft App. A): ``ARITY`` inputs, polynomial ``DEGREE``."""

    ARITY: int
    DEGREE: int

    @abstractmethod
    def eval(self, field: NttField, inp: Sequence[int]) -> int:
        """The gadget on field elements."""


class Mul(Gadget):
    """``Mul(x, y) = x * y`` (draft App. A.1)."""

    ARITY = 2
    DEGREE = 2

    def eval(self, field: NttField, inp: Sequence[int]) -> int:
        return inp[0] * inp[1] % field.MODULUS


class PolyEval(Gadget):
    """``PolyEval(x) = p(x)`` for fixed coefficients ``p`` (lowest degree first; draft App. A.2)."""

    ARITY = 1

    def __init__(self, coeffs: Sequence[int]) -> None:
        trimmed = list(coeffs)
        while trimmed and trimmed[-1] == 0:
            trimmed.pop()
        if not trimmed:
            raise ValueError("PolyEval: the zero polynomial")
        self.coeffs = trimmed
        self.DEGREE = len(trimmed) - 1

    def eval(self, field: NttField, inp: Sequence[int]) -> int:
        p = field.MODULUS
        acc = 0
        for c in reversed(self.coeffs):  # Horner
            acc = (acc * inp[0] + c) % p
        return acc


class ParallelSum(Gadget):
    """``sum_i sub(inputs_i)`` over ``count`` consecutive input groups (draft App. A.3)."""

    def __init__(self, subcircuit: Gadget, count: int) -> None:
        if count < 1:
            raise ValueError("ParallelSum: count must be >= 1")
        self.subcircuit = subcircuit
        self.count = count
        self.ARITY = subcircuit.ARITY * count
        self.DEGREE = subcircuit.DEGREE

    def eval(self, field: NttField, inp: Sequence[int]) -> int:
        a = self.subcircuit.ARITY
        if isinstance(self.subcircuit, Mul):  # the common case, without a call per pair
            p = field.MODULUS
            return sum(inp[i] * inp[i + 1] for i in range(0, 2 * self.count, 2)) % p
        return sum(self.subcircuit.eval(field, inp[i * a : (i + 1) * a]) for i in range(self.count)) % field.MODULUS


class ValidityCircuit(ABC, Generic[M, R]):
    """A validity circuit (draft §7.3.2) with its encoding, truncation and decoding (§7.1.1)."""

    field: NttField
    GADGETS: list[Gadget]
    GADGET_CALLS: list[int]
    MEAS_LEN: int
    JOINT_RAND_LEN: int
    EVAL_OUTPUT_LEN: int
    OUTPUT_LEN: int

    @abstractmethod
    def encode(self, measurement: M) -> list[int]:
        """The measurement as ``MEAS_LEN`` field elements; invalid measurements raise ``ValueError``."""

    @abstractmethod
    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        """The circuit's ``EVAL_OUTPUT_LEN`` outputs (all zero iff valid); constants scaled by 1/num_shares."""

    @abstractmethod
    def truncate(self, meas: list[int]) -> list[int]:
        """The aggregatable ``OUTPUT_LEN`` elements of an encoded measurement (or of a share)."""

    @abstractmethod
    def decode(self, output: list[int], num_measurements: int) -> R:
        """The aggregate result from the sum of all output shares."""

    def prove_rand_len(self) -> int:
        """One wire seed per gadget input (§7.3.2)."""
        return sum(g.ARITY for g in self.GADGETS)

    def query_rand_len(self) -> int:
        """One test point per gadget, plus output-reduction coefficients if several outputs (§7.3.2)."""
        return len(self.GADGETS) + (self.EVAL_OUTPUT_LEN if self.EVAL_OUTPUT_LEN > 1 else 0)

    def proof_len(self) -> int:
        """Wire seeds plus gadget polynomial values, per gadget (§7.3.2)."""
        pairs = zip(self.GADGETS, self.GADGET_CALLS, strict=True)
        return sum(g.ARITY + gadget_poly_len(g.DEGREE, wire_poly_len(c)) for g, c in pairs)

    def verifier_len(self) -> int:
        """Reduced output plus, per gadget, wire values and gadget value at ``t`` (§7.3.2)."""
        return 1 + sum(g.ARITY + 1 for g in self.GADGETS)


class Flp(Generic[M, R]):
    """FLP from BBCGGI19 over a validity circuit (draft §7.3): prove, query, decide."""

    def __init__(self, valid: ValidityCircuit[M, R]) -> None:
        self.valid = valid
        self.field = valid.field
        self.PROVE_RAND_LEN = valid.prove_rand_len()
        self.QUERY_RAND_LEN = valid.query_rand_len()
        self.JOINT_RAND_LEN = valid.JOINT_RAND_LEN
        self.MEAS_LEN = valid.MEAS_LEN
        self.OUTPUT_LEN = valid.OUTPUT_LEN
        self.PROOF_LEN = valid.proof_len()
        self.VERIFIER_LEN = valid.verifier_len()

    # -- §7.3.3 ----------------------------------------------------------------
    def prove(self, meas: list[int], prove_rand: list[int], joint_rand: list[int]) -> list[int]:
        """A proof that ``meas`` satisfies the circuit (given this joint randomness)."""
        valid, field = self.valid, self.field
        wires = _record_wires(valid, prove_rand)

        def call(i: int, inp: list[int]) -> int:
            wires[i].record(inp)
            return valid.GADGETS[i].eval(field, inp)

        valid.eval(meas, joint_rand, 1, call)
        proof: list[int] = []
        for g, w in zip(valid.GADGETS, wires, strict=True):
            proof += w.seeds
            proof += _gadget_poly(field, g, w.values)
        return proof

    # -- §7.3.4 ----------------------------------------------------------------
    def query(
        self, meas: list[int], proof: list[int], query_rand: list[int], joint_rand: list[int], num_shares: int
    ) -> list[int]:
        """The verifier message (a share of it, on shares) for one proof."""
        valid, field = self.valid, self.field
        p = field.MODULUS
        if len(meas) != self.MEAS_LEN or len(proof) != self.PROOF_LEN:
            raise ValueError("query: wrong measurement or proof length")
        wires: list[_Wires] = []
        polys: list[list[int]] = []
        rest = proof
        for g, calls in zip(valid.GADGETS, valid.GADGET_CALLS, strict=True):
            length = gadget_poly_len(g.DEGREE, wire_poly_len(calls))
            seeds, values, rest = rest[: g.ARITY], rest[g.ARITY : g.ARITY + length], rest[g.ARITY + length :]
            wires.append(_Wires(seeds, calls))
            polys.append(extend_values_to_power_of_2(field, values))

        def call(i: int, inp: list[int]) -> int:
            w = wires[i]
            k = w.record(inp)
            step = len(polys[i]) // w.size
            return polys[i][k * step]  # G(W_P**k), the k-th call's output

        out = valid.eval(meas, joint_rand, num_shares, call)
        if valid.EVAL_OUTPUT_LEN > 1:
            coeffs, query_rand = query_rand[: valid.EVAL_OUTPUT_LEN], query_rand[valid.EVAL_OUTPUT_LEN :]
            v = sum(r * o for r, o in zip(coeffs, out, strict=True)) % p
        else:
            [v] = out
        verifier = [v]
        for w, g_poly, t in zip(wires, polys, query_rand, strict=True):
            # A test point on a wire's evaluation domain would reveal a recorded wire value.
            if pow(t, w.size, p) == 1:
                raise ValueError("query: test point is a root of unity")
            verifier += eval_lagrange_batched(field, w.values, g_poly, t)
        return verifier

    # -- §7.3.5 ----------------------------------------------------------------
    def decide(self, verifier: list[int]) -> bool:
        """Accept iff the reduced output is zero and every gadget test holds."""
        if len(verifier) != self.VERIFIER_LEN:
            raise ValueError("decide: wrong verifier length")
        if verifier[0] != 0:
            return False
        i = 1
        for g in self.valid.GADGETS:
            wire_checks, gadget_check = verifier[i : i + g.ARITY], verifier[i + g.ARITY]
            i += g.ARITY + 1
            if g.eval(self.field, wire_checks) != gadget_check:
                return False
        return True


class _Wires:
    """The wire values of one gadget: ``values[j][0]`` the seed, ``values[j][k]`` the k-th call's input j."""

    def __init__(self, seeds: list[int], calls: int) -> None:
        self.seeds = seeds
        self.size = wire_poly_len(calls)
        self.values = [[s] + [0] * (self.size - 1) for s in seeds]
        self.k = 0

    def record(self, inp: list[int]) -> int:
        self.k += 1
        for j, x in enumerate(inp):
            self.values[j][self.k] = x
        return self.k


def _record_wires(valid: ValidityCircuit[M, R], prove_rand: list[int]) -> list[_Wires]:
    out, i = [], 0
    for g, calls in zip(valid.GADGETS, valid.GADGET_CALLS, strict=True):
        out.append(_Wires(prove_rand[i : i + g.ARITY], calls))
        i += g.ARITY
    return out


def _gadget_poly(field: NttField, g: Gadget, wire_values: list[list[int]]) -> list[int]:
    """``G(wire polys)`` at the first ``gadget_poly_len`` powers of the ``N``-th root of unity.

    Each wire polynomial is re-evaluated on the ``N``-th roots (inverse NTT, then NTT) and the
    gadget is applied pointwise: ``G(w_1, ..., w_a)(x) = g(w_1(x), ..., w_a(x))``.
    """
    size = len(wire_values[0])
    length = gadget_poly_len(g.DEGREE, size)
    n = next_power_of_2(length)
    on_n = [field.ntt(field.inv_ntt(vals, size), n) for vals in wire_values]
    return [g.eval(field, [w[k] for w in on_n]) for k in range(length)]


def extend_values_to_power_of_2(field: NttField, values: list[int]) -> list[int]:
    """Values at the first ``len(values)`` powers of the ``N``-th root -> values at all ``N`` of them.

    Barycentric interpolation over the known nodes ``x_i``; with ``K`` the missing nodes and the
    identity ``prod_{j != i} (x_i - x_j) = N / x_i`` over all ``N``-th roots, the weights are
    ``w_i = x_i * prod_{m in K} (x_i - x_m) / N`` and ``l(x_m) = (N / x_m) / prod_{m' in K, m' != m} (x_m - x_m')``.
    """
    n = next_power_of_2(len(values))
    known = len(values)
    if known == n:
        return list(values)
    p = field.MODULUS
    x = field.nth_root_powers(n)
    missing = range(known, n)
    n_inv = field.inv(n)
    weights = []
    for i in range(known):
        w = x[i] * n_inv % p
        for m in missing:
            w = w * (x[i] - x[m]) % p
        weights.append(w * values[i] % p)
    out = list(values)
    for m in missing:
        invs = field.batch_inv([(x[m] - x[i]) % p for i in range(known)])
        acc = sum(wv * iv for wv, iv in zip(weights, invs, strict=True)) % p
        denom = x[m]
        for m2 in missing:
            if m2 != m:
                denom = denom * (x[m] - x[m2]) % p
        out.append(acc * n % p * field.inv(denom) % p)
    return out


def eval_lagrange_batched(field: NttField, wires: list[list[int]], g_poly: list[int], t: int) -> list[int]:
    """Each wire polynomial (values at the ``P``-th roots) and the gadget polynomial (values at the
    ``N``-th roots, ``P`` divides ``N``) evaluated at ``t``; returns ``[w_1(t), ..., w_a(t), G(t)]``.

    Barycentric form: ``f(t) = (t**n - 1) / n * sum_i v_i * x_i / (t - x_i)`` over the ``n``-th
    roots ``x_i``. The ``P``-th roots are every ``N/P``-th ``N``-th root, so one batch inversion of
    ``t - x_i`` serves every polynomial.
    """
    p = field.MODULUS
    n_big, n_wire = len(g_poly), len(wires[0])
    x = _roots(field, n_big)
    step = n_big // n_wire
    if pow(t, n_big, p) == 1:  # t is itself a node of the gadget polynomial (never a wire node here)
        k = x.index(t % p)
        big_at_t = g_poly[k]
        invs = None
    else:
        invs = field.batch_inv([(t - xi) % p for xi in x])
        acc = sum(v * xi % p * iv for v, xi, iv in zip(g_poly, x, invs, strict=True)) % p
        big_at_t = acc * (pow(t, n_big, p) - 1) % p * field.inv_int(n_big) % p
    invs_wire = field.batch_inv([(t - x[i * step]) % p for i in range(n_wire)]) if invs is None else invs[::step]
    xs_wire = x[::step]
    scale = (pow(t, n_wire, p) - 1) * field.inv_int(n_wire) % p
    weights = [xi * iv % p for xi, iv in zip(xs_wire, invs_wire, strict=True)]
    out = [sum(v * wt for v, wt in zip(vals, weights, strict=True)) % p * scale % p for vals in wires]
    out.append(big_at_t)
    return out


@cache
def _roots(field: NttField, n: int) -> list[int]:
    return field.nth_root_powers(n)
