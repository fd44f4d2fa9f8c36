"""Prio3 (mpcnet.aggregate) against draft-irtf-cfrg-vdaf-20's published test vectors, and beyond.

Vectors: tests/vectors/vdaf/ (source, commit and version in its README). Each vector's
``operations`` list is replayed exactly: every operation marked ``success: true`` must produce
the bytes in the vector, every one marked ``false`` must fail.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mpcnet.aggregate import (
    Field64,
    Field128,
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

VECTORS = Path(__file__).parent / "vectors" / "vdaf"
PRIO3_FILES = sorted(p.name for p in VECTORS.glob("Prio3*.json"))
# Prio3HigherDegree is a test-only circuit of the draft's reference code, not a variant of the draft.
SKIPPED = {"Prio3HigherDegree_0.json"}


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
    if name in SKIPPED:
        pytest.skip("test-only circuit of the reference code, not a Prio3 variant")
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
