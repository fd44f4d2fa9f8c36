"""The numpy batch path of Prio3 (mpcnet.aggregate.batch) equals the pure-Python reference.

The reference passes every published vector (tests/test_prio3.py); here the batch path must give
the same bytes for every report (shares, proofs, joint randomness parts, verifier shares) and the
same accept/reject decision, on random batches with cheating clients mixed in.
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np
import pytest
from Crypto.Hash import TurboSHAKE128
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mpcnet.aggregate import (
    Field64,
    Field128,
    Prio3,
    ReportRejected,
    prio3_count,
    prio3_histogram,
    prio3_multihot_countvec,
    prio3_sum,
    prio3_sumvec,
)
from mpcnet.aggregate.batch import BatchPrio3, encode_batch, expand_batch
from mpcnet.aggregate.circuits import SumVec
from mpcnet.aggregate.flp import GadgetCall, PolyEval, ValidityCircuit
from mpcnet.aggregate.keccak_batch import turboshake128_batch
from mpcnet.aggregate.xof import XofTurboShake128
from mpcnet.errors import InputError

CTX = b"batch tests"


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 400), st.integers(1, 500), st.integers(1, 0x7F), st.integers(1, 4))
@example(length=10, out_len=400, domain=1, rows=1)  # one row, several squeezed blocks (a view once aliased the state)
@example(length=168, out_len=168, domain=0x7F, rows=3)  # padding in a block of its own; exactly one block out
def test_batched_turboshake128_equals_pycryptodome(length: int, out_len: int, domain: int, rows: int) -> None:
    rng = np.random.default_rng(length * 1000 + out_len)
    messages = rng.integers(0, 256, (rows, length), dtype=np.uint8)
    got = turboshake128_batch(messages, domain, out_len)
    for i in range(rows):
        assert got[i].tobytes() == TurboSHAKE128.new(domain=domain, data=messages[i].tobytes()).read(out_len)


@pytest.mark.parametrize("field", [Field64, Field128])
def test_batched_expansion_and_encoding_equal_the_reference(field: Any) -> None:
    seeds = np.frombuffer(secrets.token_bytes(32 * 5), np.uint8).reshape(5, 32)
    binders = np.frombuffer(secrets.token_bytes(3 * 5), np.uint8).reshape(5, 3)
    got = expand_batch(field, seeds, b"dst", binders, 7)
    for r in range(5):
        expected = XofTurboShake128.expand_into_vec(field, seeds[r].tobytes(), b"dst", binders[r].tobytes(), 7)
        assert list(got[:, r]) == expected
        assert encode_batch(field, got)[r].tobytes() == field.encode_vec(expected)


def compare(vdaf: Prio3[Any, Any], encoded: list[list[int]]) -> list[bool]:
    """Run a batch and the reference on the same randomness; assert equal bytes and decisions."""
    rows = len(encoded)
    nonces = np.frombuffer(secrets.token_bytes(16 * rows), np.uint8).reshape(rows, 16)
    rands = np.frombuffer(secrets.token_bytes(vdaf.RAND_SIZE * rows), np.uint8).reshape(rows, -1)
    key = secrets.token_bytes(32)
    batch = BatchPrio3(vdaf)
    shares = batch.shard(CTX, np.array(encoded, dtype=object).T.copy(), nonces, rands)
    states, vshares = zip(*(batch.verify_init(key, CTX, a, nonces, shares) for a in range(vdaf.SHARES)), strict=True)
    accepted, seeds = batch.verifier_shares_to_message(CTX, list(vshares))
    masks = [batch.verify_next(s, accepted, seeds) for s in states]
    decisions = []
    for r in range(rows):
        nonce = nonces[r].tobytes()
        public, ref_shares = vdaf.shard_encoded(CTX, encoded[r], nonce, rands[r].tobytes())
        assert ref_shares[0].meas_share == list(shares.leader_meas[:, r])
        assert ref_shares[0].proofs_share == list(shares.leader_proofs[:, r])
        assert public == (None if shares.public is None else [bytes(x) for x in shares.public[r]])
        ref_states, ref_vshares = [], []
        for a in range(vdaf.SHARES):
            state, vshare = vdaf.verify_init(key, CTX, a, nonce, public, ref_shares[a])
            assert vshare.verifiers_share == list(vshares[a].verifiers[:, r])
            assert vshare.joint_rand_part == (None if vshares[a].parts is None else vshares[a].parts[r].tobytes())
            assert state.out_share == list(states[a].out_shares[:, r])
            ref_states.append(state)
            ref_vshares.append(vshare)
        try:
            message = vdaf.verifier_shares_to_message(CTX, ref_vshares)
            for state in ref_states:
                vdaf.verify_next(CTX, state, message)
            decisions.append(True)
        except ReportRejected:
            decisions.append(False)
    for mask in masks:
        assert list(mask) == decisions
    # Aggregates of the accepted reports equal the reference's.
    for a in range(vdaf.SHARES):
        expected = vdaf.agg_init()
        for r in range(rows):
            if decisions[r]:
                expected = vdaf.agg_update(expected, list(states[a].out_shares[:, r]))
        assert batch.aggregate(states[a], masks[a]) == expected
    return decisions


def with_cheats(vdaf: Prio3[Any, Any], valid: list[Any], cheats: list[list[int]], data: st.DataObject) -> list[list[int]]:
    encoded = [vdaf.flp.valid.encode(m) for m in valid]
    for c in cheats:
        encoded.insert(data.draw(st.integers(0, len(encoded))), c)
    return encoded


@settings(max_examples=8, deadline=None)
@given(st.lists(st.integers(0, 1), min_size=1, max_size=6), st.integers(2, 3), st.data())
def test_batch_count_equals_reference(ms: list[int], shares: int, data: st.DataObject) -> None:
    vdaf = prio3_count(shares)
    encoded = with_cheats(vdaf, ms, [[2], [Field64.MODULUS - 1]], data)
    decisions = compare(vdaf, encoded)
    assert decisions.count(False) == 2


@settings(max_examples=8, deadline=None)
@given(st.integers(1, 12), st.integers(1, 4), st.data())
def test_batch_histogram_equals_reference(length: int, chunk: int, data: st.DataObject) -> None:
    vdaf = prio3_histogram(length, chunk)
    ms = data.draw(st.lists(st.integers(0, length - 1), min_size=1, max_size=5))
    two_hot = [1, 1] + [0] * (length - 2) if length >= 2 else [2]
    decisions = compare(vdaf, with_cheats(vdaf, ms, [two_hot, [0] * length], data))
    assert decisions.count(False) == 2


@pytest.mark.parametrize("vdaf", [prio3_count(3), prio3_histogram(4, 2)], ids=["count-3-shares", "histogram"])
def test_a_batch_cut_into_slices_equals_the_reference(vdaf: Prio3[Any, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # shard and verify_init cut batches above SLICE reports into slices: byte for byte the reference still.
    import mpcnet.aggregate.batch as batch_module

    monkeypatch.setattr(batch_module, "SLICE", 2)
    valid = [vdaf.flp.valid.encode(i % 2 if vdaf.flp.MEAS_LEN == 1 else i % 4) for i in range(5)]
    cheat = [2] if vdaf.flp.MEAS_LEN == 1 else [1, 1, 0, 0]
    assert compare(vdaf, [*valid[:3], cheat, *valid[3:]]) == [True] * 3 + [False] + [True] * 2


@pytest.mark.parametrize(
    ("vdaf", "valid", "cheats"),
    [
        (prio3_sum(1337, shares=3), [0, 1, 1000, 1337], [[2] + [0] * 10]),
        (prio3_sumvec(3, 100, 2), [[1, 2, 3], [100, 0, 5]], [[3] + [0] * 20]),
        (prio3_multihot_countvec(5, 2, 2), [[True, False, True, False, False], [False] * 5], [[1, 1, 1, 0, 0, 0, 1]]),
        (Prio3(0xFFFFFFFF, SumVec(Field64, 4, 7, 3), 2, proofs=3), [[1, 2, 3, 7], [0, 0, 0, 1]], [[2] + [0] * 11]),
    ],
    ids=["sum-3-shares", "sumvec", "multihot", "sumvec-3-proofs-field64"],
)
def test_batch_other_variants_equal_reference(vdaf: Prio3[Any, Any], valid: list[Any], cheats: list[list[int]]) -> None:
    encoded = [vdaf.flp.valid.encode(m) for m in valid] + cheats
    assert compare(vdaf, encoded) == [True] * len(valid) + [False] * len(cheats)


def test_rejected_sample_falls_back_to_the_exact_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    # A sample >= MODULUS is rare (< 2**-32): force one into row 1's batched stream; that row must
    # be re-expanded by the scalar XOF (which reads on past the rejection), the others kept.
    from mpcnet.aggregate import batch as batch_module

    real = batch_module.turboshake128_batch

    def with_overflow(messages: Any, domain: int, out_len: int) -> Any:
        out = real(messages, domain, out_len).copy()
        out[1, :8] = 0xFF
        return out

    monkeypatch.setattr(batch_module, "turboshake128_batch", with_overflow)
    seeds = np.frombuffer(secrets.token_bytes(32 * 3), np.uint8).reshape(3, 32)
    binders = np.zeros((3, 1), np.uint8)
    got = expand_batch(Field64, seeds, b"dst", binders, 4)
    for r in range(3):
        assert list(got[:, r]) == XofTurboShake128.expand_into_vec(Field64, seeds[r].tobytes(), b"dst", b"\0", 4)


def test_batch_rejects_a_tampered_public_share_only() -> None:
    vdaf = prio3_histogram(5, 2)
    batch = BatchPrio3(vdaf)
    rows = 4
    nonces = np.frombuffer(secrets.token_bytes(16 * rows), np.uint8).reshape(rows, 16)
    rands = np.frombuffer(secrets.token_bytes(vdaf.RAND_SIZE * rows), np.uint8).reshape(rows, -1)
    encoded = np.array([vdaf.flp.valid.encode(i) for i in range(rows)], dtype=object).T.copy()
    shares = batch.shard(CTX, encoded, nonces, rands)
    assert shares.public is not None
    shares.public[2, 1] = 0  # report 2: the helper's joint randomness part, as a cheater would send it
    key = secrets.token_bytes(32)
    states, vshares = zip(*(batch.verify_init(key, CTX, a, nonces, shares) for a in range(2)), strict=True)
    accepted, seeds = batch.verifier_shares_to_message(CTX, list(vshares))
    for state in states:
        assert list(batch.verify_next(state, accepted, seeds)) == [True, True, False, True]


def test_batch_rejects_a_wrong_joint_randomness_seed() -> None:
    # The proofs pass, but the verifier message (joint randomness seed) for report 1 is not the one
    # the aggregator used: verify_next must refuse that report (draft §7.2.2 verify_next).
    vdaf = prio3_multihot_countvec(4, 2, 2)
    batch = BatchPrio3(vdaf)
    rows = 3
    nonces = np.frombuffer(secrets.token_bytes(16 * rows), np.uint8).reshape(rows, 16)
    rands = np.frombuffer(secrets.token_bytes(vdaf.RAND_SIZE * rows), np.uint8).reshape(rows, -1)
    encoded = np.array([vdaf.flp.valid.encode([True, False, False, True])] * rows, dtype=object).T.copy()
    shares = batch.shard(CTX, encoded, nonces, rands)
    key = secrets.token_bytes(32)
    states, vshares = zip(*(batch.verify_init(key, CTX, a, nonces, shares) for a in range(2)), strict=True)
    accepted, seeds = batch.verifier_shares_to_message(CTX, list(vshares))
    assert list(accepted) == [True] * rows and seeds is not None
    seeds = seeds.copy()
    seeds[1, 0] ^= 1
    for state in states:
        assert list(batch.verify_next(state, accepted, seeds)) == [True, False, True]


@pytest.mark.parametrize("rows", [1, 2, 5, 8, 13])
def test_product_tree_inversion(rows: int) -> None:
    from mpcnet.aggregate.batch import _inv_rows

    p = Field128.MODULUS
    x = np.array([secrets.randbelow(p - 1) + 1 for _ in range(rows)], dtype=object)
    assert list(_inv_rows(x, p)) == [pow(int(v), -1, p) for v in x]


@pytest.mark.parametrize("field", [Field64, Field128])
def test_evaluation_at_test_points_on_and_off_the_nodes(field: Any) -> None:
    # Column 0: a random t; column 1: t a 16th root of unity that is not an 8th root (the gadget
    # polynomial's node, not the wires'): both must equal the reference's barycentric evaluation.
    from mpcnet.aggregate.batch import _BatchFlp
    from mpcnet.aggregate.flp import eval_lagrange_batched

    p, size, n = field.MODULUS, 8, 16
    t = np.array([secrets.randbelow(p), field.nth_root(16)], dtype=object)
    wires = [np.array([[secrets.randbelow(p) for _ in range(2)] for _ in range(size)], dtype=object) for _ in range(3)]
    poly = np.array([[secrets.randbelow(p) for _ in range(2)] for _ in range(n)], dtype=object)
    got = _BatchFlp._eval_at(field, wires, poly, t, n, size, np.zeros(2, dtype=bool))
    for r in range(2):
        expected = eval_lagrange_batched(field, [list(w[:, r]) for w in wires], list(poly[:, r]), int(t[r]))
        assert [int(v[r]) for v in got] == expected


class Range3Vec(ValidityCircuit[list[int], list[int]]):
    """A test circuit with a degree-3 gadget called several times: every element is 0, 1 or 2."""

    JOINT_RAND_LEN = 0

    def __init__(self, length: int) -> None:
        self.field = Field128
        self.GADGETS = [PolyEval([0, 2, Field128.MODULUS - 3, 1])]  # x (x - 1) (x - 2)
        self.GADGET_CALLS = [length]
        self.MEAS_LEN = self.OUTPUT_LEN = self.EVAL_OUTPUT_LEN = length

    def encode(self, measurement: list[int]) -> list[int]:
        return list(measurement)

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        return [call(0, [x]) for x in meas]

    def truncate(self, meas: list[int]) -> list[int]:
        return list(meas)

    def decode(self, output: list[int], num_measurements: int) -> list[int]:
        return list(output)


@pytest.mark.parametrize("length", [1, 3, 5])
def test_batch_degree_3_gadget_equals_reference(length: int) -> None:
    vdaf = Prio3(0xFFFF0001, Range3Vec(length), 2)
    encoded = [[i % 3 for i in range(j, j + length)] for j in range(3)] + [[3] + [0] * (length - 1)]
    assert compare(vdaf, encoded) == [True, True, True, False]


def test_batch_encode_names_the_invalid_measurement() -> None:
    batch = BatchPrio3(prio3_histogram(4, 2))
    assert batch.encode([0, 3]).shape == (4, 2)
    with pytest.raises(InputError, match="measurement 2 is invalid"):
        batch.encode([0, 1, 4])


def test_batch_refuses_misshapen_arguments() -> None:
    vdaf = prio3_count()
    batch = BatchPrio3(vdaf)
    encoded = batch.encode([1, 0])
    with pytest.raises(InputError, match="nonces"):
        batch.shard(CTX, encoded, np.zeros((2, 15), np.uint8), np.zeros((2, vdaf.RAND_SIZE), np.uint8))
    with pytest.raises(InputError, match="rands"):
        batch.shard(CTX, encoded, np.zeros((2, 16), np.uint8), np.zeros((2, 1), np.uint8))
    shares = batch.shard(CTX, encoded, np.zeros((2, 16), np.uint8), np.zeros((2, vdaf.RAND_SIZE), np.uint8))
    with pytest.raises(InputError, match="verify key"):
        batch.verify_init(bytes(31), CTX, 0, np.zeros((2, 16), np.uint8), shares)
    with pytest.raises(InputError, match="aggregator id"):
        batch.verify_init(bytes(32), CTX, 2, np.zeros((2, 16), np.uint8), shares)


def test_test_point_on_the_wire_roots_rejects_the_report(monkeypatch: pytest.MonkeyPatch) -> None:
    # draft §7.3.4: a query point that is a root of unity of the wires would leak a wire value;
    # the reference refuses the report, and so does the batch (only that report).
    from mpcnet.aggregate import batch as batch_module

    vdaf = prio3_count()
    minus_one = Field64.MODULUS - 1  # a square root of unity: Count's wire polynomials have 2 values
    nonce = bytes(16)
    public, shares = vdaf.shard(CTX, 1, nonce, bytes(vdaf.RAND_SIZE))
    monkeypatch.setattr(vdaf, "query_rands", lambda *args: [minus_one])
    with pytest.raises(ReportRejected, match="root of unity"):
        vdaf.verify_init(bytes(32), CTX, 0, nonce, public, shares[0])

    real = batch_module.expand_batch

    def query_on_root(field: Any, seeds: Any, dst: bytes, binders: Any, length: int) -> Any:
        out = real(field, seeds, dst, binders, length)
        if dst[6:8] == (5).to_bytes(2, "big"):  # USAGE_QUERY_RANDOMNESS
            out[:, 1] = minus_one
        return out

    monkeypatch.setattr(batch_module, "expand_batch", query_on_root)
    batch = BatchPrio3(prio3_count())
    nonces = np.zeros((3, 16), np.uint8)
    shares_b = batch.shard(CTX, batch.encode([1, 1, 0]), nonces, np.zeros((3, vdaf.RAND_SIZE), np.uint8))
    states, vshares = zip(*(batch.verify_init(bytes(32), CTX, a, nonces, shares_b) for a in range(2)), strict=True)
    accepted, seeds = batch.verifier_shares_to_message(CTX, list(vshares))
    for state in states:
        assert list(batch.verify_next(state, accepted, seeds)) == [True, False, True]


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 6), st.integers(2, 3), st.data())
def test_batch_sumvec_equals_reference(length: int, mx: int, chunk: int, shares: int, data: st.DataObject) -> None:
    vdaf = prio3_sumvec(length, mx, chunk, shares)
    ms = data.draw(st.lists(st.lists(st.integers(0, mx), min_size=length, max_size=length), min_size=1, max_size=4))
    cheat = [2] + [0] * (vdaf.flp.MEAS_LEN - 1)
    assert compare(vdaf, with_cheats(vdaf, ms, [cheat], data)).count(False) == 1


@settings(max_examples=6, deadline=None)
@given(st.integers(1, 8), st.integers(1, 5), st.data())
def test_batch_multihot_equals_reference(length: int, chunk: int, data: st.DataObject) -> None:
    max_weight = data.draw(st.integers(1, length))
    vdaf = prio3_multihot_countvec(length, max_weight, chunk)
    vec = st.lists(st.booleans(), min_size=length, max_size=length).filter(lambda v: sum(v) <= max_weight)
    ms = data.draw(st.lists(vec, min_size=1, max_size=4))
    # An entry of 2 (fails the range check) and a claimed weight of 0 (fails the weight check).
    cheat = [2] + [0] * (vdaf.flp.MEAS_LEN - 1)
    assert compare(vdaf, with_cheats(vdaf, ms, [cheat], data)).count(False) == 1
