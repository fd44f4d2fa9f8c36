"""Prio3 over many reports at once (numpy), equal report by report to :mod:`mpcnet.aggregate.prio3`.

The reference handles one report per call; here a field vector of ``R`` reports is a ``(L, R)``
numpy array of Python ints (``dtype=object``: exact for Field64 and Field128 alike), one column per
report, so every step of draft-irtf-cfrg-vdaf-20 §7.2 and §7.3 is a handful of array operations
per batch instead of an interpreter loop per report:

* the XOF runs as one batched TurboSHAKE128 per usage (:mod:`.keccak_batch`); a report whose
  stream hits a rejected sample (probability < 2**-32 per element) is re-expanded by the scalar XOF;
* the validity circuits of :mod:`.circuits` run unchanged on rows (their ``+ - * %`` act elementwise);
* the FLP's polynomial steps are fixed linear maps (matrices computed once per circuit), and the
  barycentric evaluation at each report's test point uses one batched inversion.

A batch is verified as a whole but accepted or rejected report by report (a boolean mask).
The pure-Python reference stays the oracle: the tests compare this module's bytes with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np

from ..errors import InputError
from .field import NttField, next_power_of_2
from .flp import Gadget, eval_lagrange_batched, extend_values_to_power_of_2, gadget_poly_len, wire_poly_len
from .keccak_batch import turboshake128_batch
from .prio3 import (
    USAGE_JOINT_RAND_PART,
    USAGE_JOINT_RAND_SEED,
    USAGE_JOINT_RANDOMNESS,
    USAGE_MEAS_SHARE,
    USAGE_PROOF_SHARE,
    USAGE_PROVE_RANDOMNESS,
    USAGE_QUERY_RANDOMNESS,
    Prio3,
)
from .xof import XofTurboShake128

__all__ = ["BatchPrio3", "BatchInputShares", "BatchVerifierShare", "BatchState", "encode_batch", "decode_batch"]

Array = np.ndarray[Any, Any]
_CHUNK = 1024  # reports per Keccak call: the state (25 x 1024 lanes) stays in cache
#: Reports per slice in shard and verify_init: larger batches are cut into slices of this many columns
#: (object arrays of 10^5 columns held ten times the memory and ran 10% slower per report than 10^4).
SLICE = 8192


# -- batched XOF (draft §6.2, §6.2.1) ------------------------------------------------------
def _xof_bytes(seeds: Array, dst: bytes, binders: Array, out_len: int) -> Array:
    """XofTurboShake128(seed_i, dst, binder_i).next(out_len) for every row; ``(R, out_len)`` uint8."""
    rows = seeds.shape[0]
    prefix = len(dst).to_bytes(2, "little") + dst + bytes([seeds.shape[1]])
    head = np.broadcast_to(np.frombuffer(prefix, dtype=np.uint8), (rows, len(prefix)))
    messages = np.concatenate([head, seeds, binders.reshape(rows, -1)], axis=1)
    parts = [turboshake128_batch(messages[i : i + _CHUNK], 1, out_len) for i in range(0, rows, _CHUNK)]
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, out_len), dtype=np.uint8)


def _bytes_to_field(field: NttField, raw: Array, length: int) -> tuple[Array, Array]:
    """``(length, R)`` elements from ``(R, length * ENCODED_SIZE)`` bytes, and a mask of rows with a rejected sample."""
    rows = raw.shape[0]
    limbs = np.ascontiguousarray(raw).view("<u8").reshape(rows, length, field.ENCODED_SIZE // 8)
    values = limbs[:, :, 0].astype(object)
    for k in range(1, limbs.shape[2]):
        values = values + (limbs[:, :, k].astype(object) << (64 * k))
    mask = next_power_of_2(field.MODULUS) - 1
    if mask != (1 << (8 * field.ENCODED_SIZE)) - 1:
        values = values & mask
    bad: Array = np.asarray((values >= field.MODULUS).any(axis=1), dtype=bool)
    return values.T, bad


def expand_batch(field: NttField, seeds: Array, dst: bytes, binders: Array, length: int) -> Array:
    """``XofTurboShake128.expand_into_vec`` for every row of ``seeds``/``binders``; ``(length, R)``."""
    if length == 0:
        return np.zeros((0, seeds.shape[0]), dtype=object)
    raw = _xof_bytes(seeds, dst, binders, length * field.ENCODED_SIZE)
    values, bad = _bytes_to_field(field, raw, length)
    for r in np.flatnonzero(bad):  # rejection sampling read past the batch's bytes: redo this report exactly
        exact = XofTurboShake128.expand_into_vec(field, seeds[r].tobytes(), dst, binders[r].tobytes(), length)
        values[:, r] = np.array(exact, dtype=object)
    return values


def derive_seed_batch(seeds: Array, dst: bytes, binders: Array) -> Array:
    """``XofTurboShake128.derive_seed`` for every row; ``(R, 32)`` uint8."""
    return _xof_bytes(seeds, dst, binders, XofTurboShake128.SEED_SIZE)


def encode_batch(field: NttField, vec: Array) -> Array:
    """``field.encode_vec`` of every column of a ``(L, R)`` array; ``(R, L * ENCODED_SIZE)`` uint8."""
    size = field.ENCODED_SIZE
    if vec.size == 0:
        return np.zeros((vec.shape[1], vec.shape[0] * size), dtype=np.uint8)
    try:  # Python ints (what field arithmetic here makes): int.to_bytes, 1.8x faster than limb arithmetic
        data = b"".join([int.to_bytes(x, size, "little") for x in vec.T.ravel()])
        return np.frombuffer(data, dtype=np.uint8).reshape(vec.shape[1], -1).copy()
    except (TypeError, OverflowError):  # numpy integers, or a value that is no field element: limb by limb
        pass
    limbs = [((vec >> (64 * k)) & 0xFFFFFFFFFFFFFFFF).astype(np.uint64) for k in range(field.ENCODED_SIZE // 8)]
    stacked = np.stack(limbs, axis=-1).transpose(1, 0, 2)  # (R, L, limbs)
    return np.ascontiguousarray(stacked.astype("<u8")).view(np.uint8).reshape(vec.shape[1], -1)


def _const_binder(rows: int, data: bytes) -> Array:
    return np.broadcast_to(np.frombuffer(data, dtype=np.uint8), (rows, len(data)))


# -- batched FLP (draft §7.3) ---------------------------------------------------------------
def _matrix_lagrange_to(field: NttField, size: int, n: int, count: int) -> Array:
    """Rows: for each of the first ``count`` ``n``-th roots, the weights mapping a polynomial's values at the
    ``size``-th roots to its value there (inverse NTT then NTT, as a matrix)."""
    cols = []
    for j in range(size):
        unit = [0] * size
        unit[j] = 1
        cols.append(field.ntt(field.inv_ntt(unit, size), n)[:count])
    return np.array(cols, dtype=object).T  # (count, size)


def _matrix_extend(field: NttField, known: int) -> Array:
    """The values at the remaining ``n``-th roots of the polynomial with ``known`` values at the first ones."""
    cols = []
    for j in range(known):
        unit = [0] * known
        unit[j] = 1
        cols.append(extend_values_to_power_of_2(field, unit)[known:])  # the reference's interpolation
    return np.array(cols, dtype=object).T  # (n - known, known)


def _dot(m: Array, rows: Array, p: int) -> Array:
    """``m @ rows mod p`` for object arrays (exact)."""
    return np.asarray(np.dot(m, rows) % p, dtype=object)


def _pow_rows(x: Array, e: int, p: int) -> Array:
    out = np.ones_like(x)
    base = x
    while e:
        if e & 1:
            out = out * base % p
        base = base * base % p
        e >>= 1
    return out


def _inv_rows(x: Array, p: int) -> Array:
    """Inverses of non-zero elements: a product tree (Montgomery's trick, vectorised) and one inversion."""
    levels = [x]
    while len(levels[-1]) > 1:
        a = levels[-1]
        if len(a) % 2:
            a = levels[-1] = np.append(a, np.array([1], dtype=object))
        levels.append(a[0::2] * a[1::2] % p)
    inv = np.array([pow(int(levels[-1][0]), -1, p)], dtype=object)
    for a in reversed(levels[:-1]):
        inv = inv[: len(a) // 2]  # drop the padding element of the level above
        out = np.empty(len(a), dtype=object)
        out[0::2] = inv * a[1::2] % p
        out[1::2] = inv * a[0::2] % p
        inv = out
    return inv[: len(x)]


@attrs.frozen
class _GadgetShape:
    """One gadget's polynomial sizes (draft §7.3.2) and the fixed linear maps the batch applies."""

    gadget: Gadget
    size: int  # values per wire polynomial (P)
    length: int  # gadget polynomial values in the proof
    n: int  # next power of two of ``length``: the gadget polynomial's roots of unity
    to_n: Array  # (length, size): wire values at the P-th roots -> at the first ``length`` n-th roots
    extend: Array  # (n - length, length): proof values -> the remaining n-th roots


class _BatchFlp:
    """The FLP of :class:`~.flp.Flp` over ``(L, R)`` arrays: prove, query and decide for a batch."""

    def __init__(self, vdaf: Prio3[Any, Any]) -> None:
        self.flp = vdaf.flp
        self.valid = vdaf.flp.valid
        self.field = vdaf.field
        f = self.field
        self.shapes: list[_GadgetShape] = []
        for g, calls in zip(self.valid.GADGETS, self.valid.GADGET_CALLS, strict=True):
            size = wire_poly_len(calls)
            length = gadget_poly_len(g.DEGREE, size)
            n = next_power_of_2(length)
            to_n, extend = _matrix_lagrange_to(f, size, n, length), _matrix_extend(f, length)
            self.shapes.append(_GadgetShape(g, size, length, n, to_n, extend))

    def _circuit(
        self, meas: Array, joint_rand: Array, num_shares: int, outputs: list[Any] | None
    ) -> tuple[list[Any], list[list[list[Any]]]]:
        """Run the circuit on rows, recording every gadget call's inputs; ``outputs[i]`` gives gadget i's outputs."""
        recorded: list[list[list[Any]]] = [[] for _ in self.shapes]
        p = self.field.MODULUS

        def call(i: int, inp: list[Any]) -> Any:
            recorded[i].append(inp)
            if outputs is None:
                return self.shapes[i].gadget.eval(self.field, inp)
            return outputs[i][len(recorded[i])] % p

        out = self.valid.eval(list(meas), list(joint_rand), num_shares, call)
        return out, recorded

    @staticmethod
    def _wire_rows(g: Gadget, size: int, seeds: list[Any], calls: list[list[Any]], rows: int) -> list[Array]:
        """Per wire, its ``size`` values (seed, one per call, zero padding) as a ``(size, R)`` array."""
        wires = []
        for j in range(g.ARITY):
            w = np.zeros((size, rows), dtype=object)
            w[0] = seeds[j]
            for k, inp in enumerate(calls):
                w[k + 1] = inp[j]
            wires.append(w)
        return wires

    def _on_n_roots(self, shape: _GadgetShape, wire: Array) -> Array:
        """A wire's values at the first ``length`` ``n``-th roots, from its values at the ``size``-th roots.

        Every ``(n // size)``-th ``n``-th root is a ``size``-th root: those values are copied, and only
        the other rows of the linear map are computed.
        """
        length, r, p = shape.length, shape.n // shape.size, self.field.MODULUS
        out = np.empty((length, wire.shape[1]), dtype=object)
        out[::r] = wire[: len(range(0, length, r))]
        others = [j for j in range(length) if j % r]
        if others:
            out[others] = _dot(shape.to_n[others], wire, p)
        return out

    def prove(self, meas: Array, prove_rand: Array, joint_rand: Array) -> Array:
        """Proofs for every column (draft §7.3.3); ``(PROOF_LEN, R)``."""
        f, p, rows = self.field, self.field.MODULUS, meas.shape[1]
        _, recorded = self._circuit(meas, joint_rand, 1, None)
        proof: list[Any] = []
        offset = 0
        for shape, calls in zip(self.shapes, recorded, strict=True):
            g, size = shape.gadget, shape.size
            seeds = list(prove_rand[offset : offset + g.ARITY])
            offset += g.ARITY
            wires = self._wire_rows(g, size, seeds, calls, rows)
            on_n = [self._on_n_roots(shape, w) for w in wires]
            proof += seeds
            gadget: Any = g  # evaluated on rows of the batch, not on single elements
            proof += list(np.asarray(gadget.eval(f, on_n), dtype=np.object_) % p)
        return np.array(proof, dtype=object).reshape(-1, rows)

    def query(self, meas: Array, proof: Array, query_rand: Array, joint_rand: Array, num_shares: int) -> tuple[Array, Array]:
        """Verifier shares of every column (draft §7.3.4), and a mask of columns whose test point was a root of unity."""
        f, p, rows = self.field, self.field.MODULUS, meas.shape[1]
        polys, seeds_all = [], []
        offset = 0
        for shape in self.shapes:
            g, length, ext = shape.gadget, shape.length, shape.extend
            seeds_all.append(list(proof[offset : offset + g.ARITY]))
            values = proof[offset + g.ARITY : offset + g.ARITY + length]
            offset += g.ARITY + length
            polys.append(np.concatenate([values, _dot(ext, values, p)]) if ext.shape[0] else values)
        steps = [shape.n // shape.size for shape in self.shapes]
        outputs = [poly[::step] for poly, step in zip(polys, steps, strict=True)]
        out, recorded = self._circuit(meas, joint_rand, num_shares, outputs)
        qr = list(query_rand)
        if self.valid.EVAL_OUTPUT_LEN > 1:
            coeffs, qr = qr[: self.valid.EVAL_OUTPUT_LEN], qr[self.valid.EVAL_OUTPUT_LEN :]
            v = sum(c * o % p for c, o in zip(coeffs, out, strict=True)) % p
        else:
            v = out[0] % p
        verifier: list[Any] = [np.broadcast_to(v, (rows,)).astype(object)]
        bad = np.zeros(rows, dtype=bool)
        for shape, seeds, calls, poly, t in zip(self.shapes, seeds_all, recorded, polys, qr, strict=True):
            g, size, n = shape.gadget, shape.size, shape.n
            bad |= _pow_rows(t, size, p) == 1
            wires = self._wire_rows(g, size, seeds, calls, rows)
            verifier += self._eval_at(f, wires, poly, t, n, size, bad)
        return np.array(verifier, dtype=object).reshape(-1, rows), bad

    @staticmethod
    def _eval_at(f: NttField, wires: list[Array], poly: Array, t: Array, n: int, size: int, bad: Array) -> list[Array]:
        """Every wire (values at the ``size``-th roots) and the gadget polynomial (``n``-th roots) at each column's ``t``.

        Barycentric form as in :func:`~.flp.eval_lagrange_batched`, with one product-tree inversion
        of all ``t - x_i`` of the batch.
        """
        p, rows = f.MODULUS, len(t)
        x = f.nth_root_powers(n)
        step = n // size
        t_size = _pow_rows(t, size, p)
        t_n = t_size
        for _ in range(step.bit_length() - 1):
            t_n = t_n * t_n % p
        on_node = np.asarray(t_n == 1, dtype=bool)
        # 0 is never a root of unity: a stand-in for columns whose t is a node (redone exactly below).
        t_safe = np.where(on_node, 0, t) if on_node.any() else t
        diffs = np.stack([t_safe + (p - xi) for xi in x])
        invs = _inv_rows(diffs.reshape(-1), p).reshape(n, rows)
        xs = np.array(x, dtype=object)[:, None]
        # x_i / (t - x_i): the weights of the n-th roots, and (every step-th row) of the size-th roots.
        # The products are summed before reduction (exact Python ints: one reduction per sum, not per term).
        weights = invs * xs % p
        big = (poly * weights).sum(axis=0) % p * ((t_n - 1) * f.inv_int(n) % p) % p
        wx = weights[::step]
        scale = (t_size - 1) * f.inv_int(size) % p
        out = [(w * wx).sum(axis=0) % p * scale % p for w in wires]
        # A test point on the gadget polynomial's nodes but not the wires' (probability ~n/p): the
        # reference's exact evaluation. On the wires' nodes (``bad``) the report is rejected anyway.
        for r in np.flatnonzero(on_node & ~bad):
            exact = eval_lagrange_batched(f, [list(w[:, r]) for w in wires], list(poly[:, r]), int(t[r]))
            for i, value in enumerate(exact[:-1]):
                out[i][r] = value
            big[r] = exact[-1]
        return [*out, big]

    def decide(self, verifier: Array) -> Array:
        """Boolean mask: the columns whose verifier message accepts (draft §7.3.5)."""
        ok = verifier[0] == 0
        i = 1
        for shape in self.shapes:
            g = shape.gadget
            wire_checks = list(verifier[i : i + g.ARITY])
            gadget: Any = g
            got = np.asarray(gadget.eval(self.field, wire_checks), dtype=np.object_) % self.field.MODULUS
            ok &= got == verifier[i + g.ARITY]
            i += g.ARITY + 1
        return np.asarray(ok, dtype=bool)


# -- batched Prio3 (draft §7.2) --------------------------------------------------------------
@attrs.frozen
class BatchInputShares:
    """Sharded reports: the public shares and every aggregator's input shares, column per report."""

    public: Array | None  # (R, SHARES, 32) joint randomness parts, or None
    leader_meas: Array  # (MEAS_LEN, R)
    leader_proofs: Array  # (PROOF_LEN * PROOFS, R)
    helper_seeds: Array  # (R, SHARES - 1, 32)
    blinds: Array | None  # (R, SHARES, 32): leader's then helpers'


@attrs.frozen
class BatchState:
    """An aggregator's verification state for a batch."""

    out_shares: Array  # (OUTPUT_LEN, R)
    corrected_seeds: Array | None  # (R, 32)
    failed: Array  # (R,) bool: the query itself failed (test point a root of unity)


@attrs.frozen
class BatchVerifierShare:
    """An aggregator's verifier shares for a batch."""

    verifiers: Array  # (VERIFIER_LEN * PROOFS, R)
    parts: Array | None  # (R, 32)


class BatchPrio3:
    """Shard, verify and aggregate many reports of one :class:`~.prio3.Prio3` instance at once."""

    def __init__(self, vdaf: Prio3[Any, Any]) -> None:
        self.vdaf = vdaf
        self.field = vdaf.field
        self.flp = _BatchFlp(vdaf)

    def _dst(self, usage: int, ctx: bytes) -> bytes:
        return self.vdaf.domain_separation_tag(usage, ctx)

    def _helper_meas(self, ctx: bytes, agg_id: int, seeds: Array) -> Array:
        binders = _const_binder(seeds.shape[0], bytes([agg_id]))
        return expand_batch(self.field, seeds, self._dst(USAGE_MEAS_SHARE, ctx), binders, self.vdaf.flp.MEAS_LEN)

    def _helper_proofs(self, ctx: bytes, agg_id: int, seeds: Array) -> Array:
        v = self.vdaf
        binders = _const_binder(seeds.shape[0], bytes([v.PROOFS, agg_id]))
        return expand_batch(self.field, seeds, self._dst(USAGE_PROOF_SHARE, ctx), binders, v.flp.PROOF_LEN * v.PROOFS)

    def _joint_rand_parts(self, ctx: bytes, agg_id: int, blinds: Array, meas: Array, nonces: Array) -> Array:
        rows = blinds.shape[0]
        binders = np.concatenate([_const_binder(rows, bytes([agg_id])), nonces, encode_batch(self.field, meas)], axis=1)
        return derive_seed_batch(blinds, self._dst(USAGE_JOINT_RAND_PART, ctx), binders)

    def _joint_rands(self, ctx: bytes, parts: Array) -> tuple[Array, Array]:
        v, rows = self.vdaf, parts.shape[0]
        seeds = derive_seed_batch(np.zeros((rows, 32), np.uint8), self._dst(USAGE_JOINT_RAND_SEED, ctx), parts.reshape(rows, -1))
        binders = _const_binder(rows, bytes([v.PROOFS]))
        rands = expand_batch(self.field, seeds, self._dst(USAGE_JOINT_RANDOMNESS, ctx), binders, v.flp.JOINT_RAND_LEN * v.PROOFS)
        return seeds, rands

    def encode(self, measurements: Sequence[Any]) -> Array:
        """Encode measurements into a ``(MEAS_LEN, R)`` batch; an invalid one raises :class:`InputError` naming its index."""
        columns = []
        for i, m in enumerate(measurements):
            try:
                columns.append(self.vdaf.flp.valid.encode(m))
            except (TypeError, ValueError) as exc:
                raise InputError(f"measurement {i} is invalid: {exc}") from exc
        if not columns:
            return np.zeros((self.vdaf.flp.MEAS_LEN, 0), dtype=object)
        return np.array(columns, dtype=object).T.copy()

    def _check_batch(self, nonces: Array, rows: int) -> None:
        if nonces.dtype != np.uint8 or nonces.shape != (rows, self.vdaf.NONCE_SIZE):
            raise InputError(f"nonces must be a ({rows}, {self.vdaf.NONCE_SIZE}) uint8 array")

    def shard(self, ctx: bytes, encoded: Array, nonces: Array, rands: Array) -> BatchInputShares:
        """Shard encoded measurements ``(MEAS_LEN, R)`` with nonces ``(R, 16)`` and randomness ``(R, RAND_SIZE)``.

        ``encoded`` is not checked for validity (an invalid column is what a cheating client sends);
        use :meth:`encode` for honest measurements.
        """
        v = self.vdaf
        rows = encoded.shape[1]
        if encoded.shape[0] != v.flp.MEAS_LEN:
            raise InputError(f"encoded measurements must have {v.flp.MEAS_LEN} rows")
        self._check_batch(nonces, rows)
        if rands.dtype != np.uint8 or rands.shape != (rows, v.RAND_SIZE):
            raise InputError(f"rands must be a ({rows}, {v.RAND_SIZE}) uint8 array")
        if rows <= SLICE:
            return self._shard(ctx, encoded, nonces, rands)
        parts = [self._shard(ctx, encoded[:, i : i + SLICE], nonces[i : i + SLICE], rands[i : i + SLICE])
                 for i in range(0, rows, SLICE)]
        return BatchInputShares(
            None if parts[0].public is None else np.concatenate([x.public for x in parts]),
            np.concatenate([x.leader_meas for x in parts], axis=1),
            np.concatenate([x.leader_proofs for x in parts], axis=1),
            np.concatenate([x.helper_seeds for x in parts]),
            None if parts[0].blinds is None else np.concatenate([x.blinds for x in parts]),
        )

    def _shard(self, ctx: bytes, encoded: Array, nonces: Array, rands: Array) -> BatchInputShares:
        """:meth:`shard` of one slice (checked)."""
        v, p = self.vdaf, self.field.MODULUS
        rows = encoded.shape[1]
        seeds = rands.reshape(rows, -1, 32)
        helpers = v.SHARES - 1
        if v.uses_joint_rand:
            helper_seeds, helper_blinds = seeds[:, 0 : 2 * helpers : 2], seeds[:, 1 : 2 * helpers : 2]
            leader_blind, prove_seed = seeds[:, 2 * helpers], seeds[:, 2 * helpers + 1]
        else:
            helper_seeds, prove_seed = seeds[:, :helpers], seeds[:, helpers]
        leader_meas = encoded.copy()
        parts = []
        for j in range(helpers):
            hm = self._helper_meas(ctx, j + 1, np.ascontiguousarray(helper_seeds[:, j]))
            leader_meas = (leader_meas - hm) % p
            if v.uses_joint_rand:
                parts.append(self._joint_rand_parts(ctx, j + 1, np.ascontiguousarray(helper_blinds[:, j]), hm, nonces))
        public = blinds = None
        joint = np.zeros((0, rows), dtype=object)
        if v.uses_joint_rand:
            parts.insert(0, self._joint_rand_parts(ctx, 0, np.ascontiguousarray(leader_blind), leader_meas, nonces))
            public = np.stack(parts, axis=1)
            blinds = np.concatenate([leader_blind[:, None], helper_blinds], axis=1)
            _, joint = self._joint_rands(ctx, public)
        binders = _const_binder(rows, bytes([v.PROOFS]))
        n_prove, n_joint = v.flp.PROVE_RAND_LEN, v.flp.JOINT_RAND_LEN
        prove_rands = expand_batch(self.field, np.ascontiguousarray(prove_seed), self._dst(USAGE_PROVE_RANDOMNESS, ctx), binders,
                                   n_prove * v.PROOFS)
        proofs = np.concatenate([
            self.flp.prove(encoded, prove_rands[i * n_prove : (i + 1) * n_prove], joint[i * n_joint : (i + 1) * n_joint])
            for i in range(v.PROOFS)
        ])
        for j in range(helpers):
            proofs = (proofs - self._helper_proofs(ctx, j + 1, np.ascontiguousarray(helper_seeds[:, j]))) % p
        return BatchInputShares(public, leader_meas, proofs, np.ascontiguousarray(helper_seeds), blinds)

    def verify_init(self, verify_key: bytes, ctx: bytes, agg_id: int, nonces: Array,
                    shares: BatchInputShares) -> tuple[BatchState, BatchVerifierShare]:
        """Aggregator ``agg_id``'s ``verify_init`` for every report of the batch."""
        v, rows = self.vdaf, nonces.shape[0]
        self._check_batch(nonces, rows)
        if len(verify_key) != v.VERIFY_KEY_SIZE:
            raise InputError("incorrect verify key size")
        if not 0 <= agg_id < v.SHARES:
            raise InputError(f"aggregator id {agg_id} outside [0, {v.SHARES})")
        if rows <= SLICE:
            return self._verify_init(verify_key, ctx, agg_id, nonces, shares)
        done = [self._verify_init(verify_key, ctx, agg_id, nonces[i : i + SLICE], _slice_shares(shares, i, i + SLICE))
                for i in range(0, rows, SLICE)]
        states, vshares = [d[0] for d in done], [d[1] for d in done]
        corrected = None if states[0].corrected_seeds is None else np.concatenate([s.corrected_seeds for s in states])
        parts = None if vshares[0].parts is None else np.concatenate([s.parts for s in vshares])
        return (BatchState(np.concatenate([s.out_shares for s in states], axis=1), corrected,
                           np.concatenate([s.failed for s in states])),
                BatchVerifierShare(np.concatenate([s.verifiers for s in vshares], axis=1), parts))

    def _verify_init(self, verify_key: bytes, ctx: bytes, agg_id: int, nonces: Array,
                     shares: BatchInputShares) -> tuple[BatchState, BatchVerifierShare]:
        """:meth:`verify_init` of one slice (checked)."""
        v, rows = self.vdaf, nonces.shape[0]
        if agg_id == 0:
            meas, proofs = shares.leader_meas, shares.leader_proofs
        else:
            seeds = np.ascontiguousarray(shares.helper_seeds[:, agg_id - 1])
            meas, proofs = self._helper_meas(ctx, agg_id, seeds), self._helper_proofs(ctx, agg_id, seeds)
        out_shares = np.array(v.flp.valid.truncate(list(meas)), dtype=object).reshape(-1, rows)
        joint = np.zeros((0, rows), dtype=object)
        corrected = part = None
        if v.uses_joint_rand:
            assert shares.blinds is not None and shares.public is not None
            part = self._joint_rand_parts(ctx, agg_id, np.ascontiguousarray(shares.blinds[:, agg_id]), meas, nonces)
            parts = shares.public.copy()
            parts[:, agg_id] = part
            corrected, joint = self._joint_rands(ctx, parts)
        key = np.broadcast_to(np.frombuffer(verify_key, dtype=np.uint8), (rows, len(verify_key)))
        binders = np.concatenate([_const_binder(rows, bytes([v.PROOFS])), nonces], axis=1)
        n_q, n_p, n_j = v.flp.QUERY_RAND_LEN, v.flp.PROOF_LEN, v.flp.JOINT_RAND_LEN
        query = expand_batch(self.field, key, self._dst(USAGE_QUERY_RANDOMNESS, ctx), binders, n_q * v.PROOFS)
        verifiers, failed = [], np.zeros(rows, dtype=bool)
        for i in range(v.PROOFS):
            ver, bad = self.flp.query(meas, proofs[i * n_p : (i + 1) * n_p], query[i * n_q : (i + 1) * n_q],
                                      joint[i * n_j : (i + 1) * n_j], v.SHARES)
            verifiers.append(ver)
            failed |= bad
        return BatchState(out_shares, corrected, failed), BatchVerifierShare(np.concatenate(verifiers), part)

    def verifier_shares_to_message(self, ctx: bytes, shares: list[BatchVerifierShare]) -> tuple[Array, Array | None]:
        """Accept mask ``(R,)`` over every proof, and the joint randomness seeds ``(R, 32)`` (or None)."""
        v, p = self.vdaf, self.field.MODULUS
        total: Array = np.asarray(sum(s.verifiers for s in shares), dtype=object) % p
        n = v.flp.VERIFIER_LEN
        ok: Array = np.ones(total.shape[1], dtype=np.bool_)
        for i in range(v.PROOFS):
            ok &= self.flp.decide(total[i * n : (i + 1) * n])
        if not v.uses_joint_rand:
            return ok, None
        parts = np.stack([s.parts for s in shares if s.parts is not None], axis=1)
        seeds = derive_seed_batch(np.zeros((parts.shape[0], 32), np.uint8), self._dst(USAGE_JOINT_RAND_SEED, ctx),
                                  parts.reshape(parts.shape[0], -1))
        return ok, seeds

    def verify_next(self, state: BatchState, accepted: Array, seeds: Array | None) -> Array:
        """Mask of reports this aggregator accepts: proofs passed, query sound, joint randomness matches."""
        ok = accepted & ~state.failed
        if seeds is not None:
            assert state.corrected_seeds is not None
            ok &= (seeds == state.corrected_seeds).all(axis=1)
        return np.asarray(ok, dtype=bool)

    def aggregate(self, state: BatchState, accepted: Array) -> list[int]:
        """The sum of the accepted reports' output shares (one aggregate share)."""
        p = self.field.MODULUS
        if not accepted.any():
            return [0] * state.out_shares.shape[0]
        return [int(x) % p for x in state.out_shares[:, accepted].sum(axis=1)]


def _slice_shares(shares: BatchInputShares, start: int, stop: int) -> BatchInputShares:
    """Reports ``start:stop`` of ``shares`` (an aggregator's own: absent fields stay empty)."""
    def cols(a: Array) -> Array:
        return a[:, start:stop] if a.shape[0] else a

    return BatchInputShares(
        None if shares.public is None else shares.public[start:stop],
        cols(shares.leader_meas),
        cols(shares.leader_proofs),
        shares.helper_seeds[start:stop],
        None if shares.blinds is None else shares.blinds[start:stop],
    )


def decode_batch(field: NttField, raw: Array, length: int) -> tuple[Array, Array]:
    """Inverse of :func:`encode_batch`: ``(length, R)`` elements from ``(R, length * ENCODED_SIZE)`` uint8,
    and a ``(R,)`` mask of rows holding an encoding that is not a field element (the sender is at fault)."""
    if raw.dtype != np.uint8 or raw.ndim != 2 or raw.shape[1] != length * field.ENCODED_SIZE:
        raise InputError(f"encoded field elements must be a (R, {length * field.ENCODED_SIZE}) uint8 array")
    rows = raw.shape[0]
    limbs = np.ascontiguousarray(raw).view("<u8").reshape(rows, length, field.ENCODED_SIZE // 8)
    values = limbs[:, :, 0].astype(object)
    for k in range(1, limbs.shape[2]):
        values = values + (limbs[:, :, k].astype(object) << (64 * k))
    bad: Array = np.asarray((values >= field.MODULUS).any(axis=1), dtype=bool) if length else np.zeros(rows, bool)
    return values.T, bad
