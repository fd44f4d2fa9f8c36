"""Prio3 (mpcnet.aggregate) against draft-irtf-cfrg-vdaf-20's published test vectors, and beyond.

Vectors: tests/vectors/vdaf/ (source, commit and version in its README). Each vector's
``operations`` list is replayed exactly: every operation marked ``success: true`` must produce
the bytes in the vector, every one marked ``false`` must fail.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcnet.aggregate import (
    Field64,
    Field128,
    FieldDecodeError,
    HelperShare,
    Prio3,
    ReportRejected,
    VdafDecodeError,
    XofTurboShake128,
    prio3_count,
    prio3_histogram,
    prio3_multihot_countvec,
    prio3_sum,
    prio3_sumvec,
)
from mpcnet.aggregate.circuits import SumVec
from mpcnet.aggregate.flp import GadgetCall, PolyEval, ValidityCircuit
from mpcnet.errors import InputError

VECTORS = Path(__file__).parent / "vectors" / "vdaf"
PRIO3_FILES = sorted(p.name for p in VECTORS.glob("Prio3*.json"))


class HigherDegree(ValidityCircuit[int, int]):
    """The draft's test-only circuit with a degree-3 gadget (reference code, tests): ``x (x - 1) (x - 2) == 0``."""

    MEAS_LEN = 1
    JOINT_RAND_LEN = 0
    OUTPUT_LEN = 1
    EVAL_OUTPUT_LEN = 1

    def __init__(self) -> None:
        self.field = Field64
        self.GADGETS = [PolyEval([0, 2, Field64.MODULUS - 3, 1])]
        self.GADGET_CALLS = [1]

    def encode(self, measurement: int) -> list[int]:
        return [measurement]

    def eval(self, meas: list[int], joint_rand: list[int], num_shares: int, call: GadgetCall) -> list[int]:
        return [call(0, [meas[0]])]

    def truncate(self, meas: list[int]) -> list[int]:
        return list(meas)

    def decode(self, output: list[int], num_measurements: int) -> int:
        return output[0]


def vdaf_for(name: str, tv: dict[str, Any]) -> Prio3[Any, Any]:
    """The Prio3 instance a vector file describes (parameters per draft App. "Test Vectors")."""
    kind = name.rsplit("_", 1)[0] if not name.startswith("Prio3SumVecWithMultiproof") else "Prio3SumVecWithMultiproof"
    kind = kind.split("_bad")[0]
    shares = tv["shares"]
    if kind == "Prio3Count":
        return prio3_count(shares)
    if kind == "Prio3Sum":
        return prio3_sum(tv["max_measurement"], shares)
    if kind == "Prio3SumVec":
        return prio3_sumvec(tv["length"], tv["max_measurement"], tv["chunk_length"], shares)
    if kind == "Prio3SumVecWithMultiproof":
        # The draft's multiproof example (reference code, gen_test_vec.py): Field64, 3 proofs, ID 0xFFFFFFFF.
        return Prio3(0xFFFFFFFF, SumVec(Field64, tv["length"], tv["max_measurement"], tv["chunk_length"]), shares, proofs=3)
    if kind == "Prio3HigherDegree":
        return Prio3(0xFFFFFFFF, HigherDegree(), shares)
    if kind == "Prio3Histogram":
        return prio3_histogram(tv["length"], tv["chunk_length"], shares)
    if kind == "Prio3MultihotCountVec":
        return prio3_multihot_countvec(tv["length"], tv["max_weight"], tv["chunk_length"], shares)
    raise AssertionError(f"unknown vector {name}")


def run_vector(name: str) -> int:
    """Replay one vector file's operations; returns how many operations were checked."""
    tv = json.loads((VECTORS / name).read_text())
    vdaf = vdaf_for(name, tv)
    ctx, key = bytes.fromhex(tv["ctx"]), bytes.fromhex(tv["verify_key"])
    reports = tv["reports"]
    states: dict[tuple[int, int], Any] = {}
    out_shares: dict[tuple[int, int], list[int]] = {}
    agg_shares: dict[int, list[int]] = {}
    checked = 0
    for op in tv["operations"]:
        kind, ok = op["operation"], op["success"]
        r = reports[op["report_index"]] if "report_index" in op else None
        try:
            if kind == "shard":
                assert r is not None
                public, shares = vdaf.shard(ctx, r["measurement"], bytes.fromhex(r["nonce"]), bytes.fromhex(r["rand"]))
                assert vdaf.encode_public_share(public).hex() == r["public_share"]
                assert [vdaf.encode_input_share(s).hex() for s in shares] == r["input_shares"]
            elif kind == "verify_init":
                assert r is not None
                agg = op["aggregator_id"]
                public = vdaf.decode_public_share(bytes.fromhex(r["public_share"]))
                share = vdaf.decode_input_share(agg, bytes.fromhex(r["input_shares"][agg]))
                state, vshare = vdaf.verify_init(key, ctx, agg, bytes.fromhex(r["nonce"]), public, share)
                assert vdaf.encode_verifier_share(vshare).hex() == r["verifier_shares"][0][agg]
                states[op["report_index"], agg] = state
            elif kind == "verifier_shares_to_message":
                assert r is not None
                vshares = [vdaf.decode_verifier_share(bytes.fromhex(h)) for h in r["verifier_shares"][op["round"]]]
                message = vdaf.verifier_shares_to_message(ctx, vshares)
                assert vdaf.encode_verifier_message(message).hex() == r["verifier_messages"][op["round"]]
            elif kind == "verify_next":
                assert r is not None
                agg = op["aggregator_id"]
                message = vdaf.decode_verifier_message(bytes.fromhex(r["verifier_messages"][op["round"] - 1]))
                out = vdaf.verify_next(ctx, states[op["report_index"], agg], message)
                assert vdaf.encode_agg_share(out).hex() == r["out_shares"][agg]
                out_shares[op["report_index"], agg] = out
            elif kind == "aggregate":
                agg = op["aggregator_id"]
                total = vdaf.agg_init()
                for (_, a), out in sorted(out_shares.items()):
                    if a == agg:
                        total = vdaf.agg_update(total, out)
                assert vdaf.encode_agg_share(total).hex() == tv["agg_shares"][agg]
                agg_shares[agg] = total
            elif kind == "unshard":
                decoded = [vdaf.decode_agg_share(bytes.fromhex(h)) for h in tv["agg_shares"]]
                assert vdaf.unshard(decoded, len(reports)) == tv["agg_result"]
            else:
                raise AssertionError(f"unknown operation {kind}")
        except (ReportRejected, VdafDecodeError):
            if ok:
                raise
            checked += 1
            continue
        assert ok, f"{name}: {kind} succeeded but the vector says it must fail"
        checked += 1
    assert checked == len(tv["operations"])
    return checked


@pytest.mark.parametrize("name", PRIO3_FILES)
def test_published_vector(name: str) -> None:
    assert run_vector(name) >= 2


def test_every_variant_has_vectors() -> None:
    names = set(PRIO3_FILES)
    for variant in ("Prio3Count", "Prio3Sum", "Prio3SumVec", "Prio3Histogram", "Prio3MultihotCountVec"):
        assert sum(n.startswith(variant + "_") for n in names) >= 2, variant


def test_xof_turboshake128_vector() -> None:
    tv = json.loads((VECTORS / "XofTurboShake128.json").read_text())
    seed, dst, binder = (bytes.fromhex(tv[k]) for k in ("seed", "dst", "binder"))
    assert XofTurboShake128.derive_seed(seed, dst, binder).hex() == tv["derived_seed"]
    vec = XofTurboShake128.expand_into_vec(Field128, seed, dst, binder, tv["length"])
    assert Field128.encode_vec(vec).hex() == tv["expanded_vec_field128"]


# -- beyond the vectors: round trips, cheating clients, malformed messages -------------------------

CTX = b"mpcnet tests"


def prepare(vdaf: Prio3[Any, Any], public: list[bytes] | None, shares: list[Any], nonce: bytes, key: bytes) -> list[list[int]]:
    """Every aggregator's verification of one report, through the encoded messages; output shares."""
    public = vdaf.decode_public_share(vdaf.encode_public_share(public))
    states, vshares = [], []
    for agg, share in enumerate(shares):
        share = vdaf.decode_input_share(agg, vdaf.encode_input_share(share))
        state, vshare = vdaf.verify_init(key, CTX, agg, nonce, public, share)
        states.append(state)
        vshares.append(vdaf.decode_verifier_share(vdaf.encode_verifier_share(vshare)))
    message = vdaf.decode_verifier_message(vdaf.encode_verifier_message(vdaf.verifier_shares_to_message(CTX, vshares)))
    return [vdaf.verify_next(CTX, state, message) for state in states]


def run_batch(vdaf: Prio3[Any, Any], measurements: list[Any]) -> Any:
    """Shard, prepare, aggregate and unshard a batch with fresh OS randomness."""
    key = secrets.token_bytes(vdaf.VERIFY_KEY_SIZE)
    aggs = [vdaf.agg_init() for _ in range(vdaf.SHARES)]
    for m in measurements:
        nonce = secrets.token_bytes(vdaf.NONCE_SIZE)
        public, shares = vdaf.shard(CTX, m, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
        for agg, out in enumerate(prepare(vdaf, public, shares, nonce, key)):
            aggs[agg] = vdaf.agg_update(aggs[agg], out)
    encoded = [vdaf.decode_agg_share(vdaf.encode_agg_share(a)) for a in aggs]
    return vdaf.unshard(encoded, len(measurements))


def columns(vectors: list[list[int]], length: int) -> list[int]:
    return [sum(v[i] for v in vectors) for i in range(length)]


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 1), max_size=6), st.integers(2, 3))
def test_count_round_trip(ms: list[int], shares: int) -> None:
    assert run_batch(prio3_count(shares), ms) == sum(ms)


@settings(max_examples=15, deadline=None)
@given(st.integers(1, 2**20).flatmap(lambda mx: st.tuples(st.just(mx), st.lists(st.integers(0, mx), max_size=5))))
def test_sum_round_trip(case: tuple[int, list[int]]) -> None:
    mx, ms = case
    assert run_batch(prio3_sum(mx), ms) == sum(ms)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 5), st.integers(1, 300), st.integers(1, 7), st.data())
def test_sumvec_round_trip(length: int, mx: int, chunk: int, data: st.DataObject) -> None:
    ms = data.draw(st.lists(st.lists(st.integers(0, mx), min_size=length, max_size=length), max_size=4))
    assert run_batch(prio3_sumvec(length, mx, chunk), ms) == columns(ms, length)


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 12), st.integers(1, 5), st.integers(2, 3), st.data())
def test_histogram_round_trip(length: int, chunk: int, shares: int, data: st.DataObject) -> None:
    ms = data.draw(st.lists(st.integers(0, length - 1), max_size=5))
    expected = [ms.count(i) for i in range(length)]
    assert run_batch(prio3_histogram(length, chunk, shares), ms) == expected


@settings(max_examples=10, deadline=None)
@given(st.integers(1, 10), st.integers(1, 5), st.data())
def test_multihot_round_trip(length: int, chunk: int, data: st.DataObject) -> None:
    max_weight = data.draw(st.integers(1, length))
    vec = st.lists(st.booleans(), min_size=length, max_size=length).filter(lambda v: sum(v) <= max_weight)
    ms = data.draw(st.lists(vec, max_size=4))
    assert run_batch(prio3_multihot_countvec(length, max_weight, chunk), ms) == columns([[int(b) for b in v] for v in ms], length)


def cheat(vdaf: Prio3[Any, Any], encoded: list[int]) -> None:
    """A cheating client: shards an invalid encoded measurement with proofs computed honestly by
    the circuit (what an honest client's code does, minus the measurement check)."""
    key, nonce = secrets.token_bytes(vdaf.VERIFY_KEY_SIZE), secrets.token_bytes(vdaf.NONCE_SIZE)
    public, shares = vdaf.shard_encoded(CTX, encoded, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
    with pytest.raises(ReportRejected, match="proof verifier check failed"):
        prepare(vdaf, public, shares, nonce, key)


@pytest.mark.parametrize(
    ("vdaf", "encoded"),
    [
        pytest.param(prio3_count(), [2], id="count-of-2"),
        pytest.param(prio3_count(3), [Field64.MODULUS - 1], id="count-of-minus-1-three-shares"),
        pytest.param(prio3_sum(255), [2, 0, 0, 0, 0, 0, 0, 0], id="sum-bit-of-2"),
        pytest.param(prio3_sum(255), [1, 1, 1, 1, 1, 1, 1, Field64.MODULUS - 1], id="sum-negative-bit"),
        pytest.param(prio3_sumvec(3, 7, 2), [1, 1, 1, 0, 0, 0, 0, 3, 0], id="sumvec-bit-of-3"),
        pytest.param(prio3_histogram(10, 3), [1, 1, 0, 0, 0, 0, 0, 0, 0, 0], id="histogram-two-buckets"),
        pytest.param(prio3_histogram(10, 3), [0] * 10, id="histogram-no-bucket"),
        pytest.param(prio3_histogram(4, 2), [2, Field128.MODULUS - 1, 0, 0], id="histogram-sums-to-1-not-one-hot"),
        pytest.param(prio3_histogram(4, 2, shares=3), [0, 0, 0, 5], id="histogram-bucket-of-5-three-shares"),
        pytest.param(prio3_multihot_countvec(4, 2, 2), [1, 1, 1, 0, 0, 1], id="multihot-weight-3-claims-2"),
        pytest.param(prio3_multihot_countvec(4, 2, 2), [2, 0, 0, 0, 0, 1], id="multihot-entry-of-2"),
    ],
)
def test_cheating_client_is_rejected(vdaf: Prio3[Any, Any], encoded: list[int]) -> None:
    cheat(vdaf, encoded)


def test_cheating_client_with_valid_encoding_passes() -> None:
    # The same path with a valid encoding is accepted: the rejections above are the measurement's doing.
    vdaf = prio3_histogram(10, 3)
    key, nonce = secrets.token_bytes(32), secrets.token_bytes(16)
    public, shares = vdaf.shard_encoded(CTX, [0, 0, 1, 0, 0, 0, 0, 0, 0, 0], nonce, secrets.token_bytes(vdaf.RAND_SIZE))
    outs = prepare(vdaf, public, shares, nonce, key)
    assert vdaf.unshard(outs, 1) == [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]


def test_tampered_helper_seed_is_rejected() -> None:
    vdaf = prio3_count()
    key, nonce = secrets.token_bytes(32), secrets.token_bytes(16)
    public, shares = vdaf.shard(CTX, 1, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
    shares[1] = HelperShare(bytes(32), None)
    with pytest.raises(ReportRejected):
        prepare(vdaf, public, shares, nonce, key)


def test_tampered_public_share_fails_joint_randomness_check() -> None:
    vdaf = prio3_histogram(5, 2)
    key, nonce = secrets.token_bytes(32), secrets.token_bytes(16)
    public, shares = vdaf.shard(CTX, 3, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
    assert public is not None
    public[1] = bytes(32)
    with pytest.raises(ReportRejected):
        prepare(vdaf, public, shares, nonce, key)


@pytest.mark.parametrize(
    ("vdaf", "measurement"),
    [
        (prio3_count(), 2),
        (prio3_count(), -1),
        (prio3_count(), "1"),
        (prio3_sum(10), 11),
        (prio3_sum(10), -1),
        (prio3_sumvec(2, 3, 1), [1, 4]),
        (prio3_sumvec(2, 3, 1), [1]),
        (prio3_histogram(4, 2), 4),
        (prio3_histogram(4, 2), -1),
        (prio3_histogram(4, 2), True),
        (prio3_multihot_countvec(3, 1, 1), [True, True, False]),
        (prio3_multihot_countvec(3, 1, 1), [True, False]),
        (prio3_multihot_countvec(3, 1, 1), [2, 0, 0]),
    ],
)
def test_invalid_measurement_is_refused_before_sharding(vdaf: Prio3[Any, Any], measurement: Any) -> None:
    with pytest.raises(InputError, match="invalid measurement"):
        vdaf.shard(CTX, measurement, bytes(16), bytes(vdaf.RAND_SIZE))


def test_wrong_nonce_or_rand_size_is_refused() -> None:
    vdaf = prio3_count()
    with pytest.raises(InputError, match="nonce"):
        vdaf.shard(CTX, 1, bytes(15), bytes(vdaf.RAND_SIZE))
    with pytest.raises(InputError, match="random bytes"):
        vdaf.shard(CTX, 1, bytes(16), bytes(vdaf.RAND_SIZE - 1))


def test_malformed_messages_give_clear_errors() -> None:
    vdaf = prio3_histogram(4, 2)
    public, shares = vdaf.shard(CTX, 1, bytes(16), bytes(vdaf.RAND_SIZE))
    leader = vdaf.encode_input_share(shares[0])
    with pytest.raises(VdafDecodeError, match="leader input share: expected .* bytes, got"):
        vdaf.decode_input_share(0, leader[:-1])
    overflow = Field128.MODULUS.to_bytes(16, "little") + leader[16:]
    with pytest.raises(VdafDecodeError, match="overflows the modulus"):
        vdaf.decode_input_share(0, overflow)
    with pytest.raises(VdafDecodeError, match="helper input share"):
        vdaf.decode_input_share(1, vdaf.encode_input_share(shares[1]) + b"\0")
    with pytest.raises(VdafDecodeError, match="public share"):
        vdaf.decode_public_share(vdaf.encode_public_share(public)[:-1])
    with pytest.raises(VdafDecodeError, match="verifier share"):
        vdaf.decode_verifier_share(bytes(10))
    with pytest.raises(VdafDecodeError, match="verifier message"):
        vdaf.decode_verifier_message(bytes(31))
    with pytest.raises(VdafDecodeError, match="aggregate share"):
        vdaf.decode_agg_share(bytes(16 * 3))
    with pytest.raises(VdafDecodeError, match="public share"):
        prio3_count().decode_public_share(b"\0")
    # Decode errors are ValueErrors too, and WireErrors of mpcnet.
    assert issubclass(VdafDecodeError, ValueError)


def test_field_decode_rejects_overflow_and_ragged_length() -> None:
    with pytest.raises(FieldDecodeError, match="overflows"):
        Field64.decode_vec(Field64.MODULUS.to_bytes(8, "little"))
    with pytest.raises(FieldDecodeError, match="multiple of 8"):
        Field64.decode_vec(bytes(9))
    assert Field64.decode_vec((Field64.MODULUS - 1).to_bytes(8, "little")) == [Field64.MODULUS - 1]


def test_field_parameters_match_the_draft() -> None:
    for field, order in ((Field64, 2**32), (Field128, 2**66)):
        assert pow(field.GEN, order, field.MODULUS) == 1
        assert pow(field.GEN, order // 2, field.MODULUS) != 1
    assert Field64.MODULUS == 2**64 - 2**32 + 1
    assert Field128.MODULUS == 2**66 * 4611686018427387897 + 1


def test_a_report_is_aggregated_once_only() -> None:
    vdaf = prio3_count()
    assert vdaf.is_valid([])
    assert not vdaf.is_valid([None])
