"""PSI's hash to the curve against RFC 9380's published test vectors.

The vectors are checked in under tests/vectors/ with their source named in
each file's header: Appendix J.5.1 (``edwards25519_XMD:SHA-512_ELL2_RO_``)
and Appendix K.3 (``expand_message_xmd`` with SHA-512). Every vector is
tested, at every step the RFC publishes (u[0], u[1], Q0, Q1, P).
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from protocols.psi import curve as psi_curve

VECTORS = Path(__file__).parent / "vectors"
SUITE_FILE = VECTORS / "rfc9380_J.5.1_edwards25519_XMD_SHA-512_ELL2_RO_.txt"
EXPAND_FILE = VECTORS / "rfc9380_K.3_expand_message_xmd_SHA-512.txt"


def _parse(path: Path) -> tuple[dict[str, str], list[dict[str, str]]]:
    """The RFC's text format: ``key = value`` lines, a value continued on
    indented lines; each ``msg`` starts a new vector."""
    header: dict[str, str] = {}
    vectors: list[dict[str, str]] = []
    current = header
    key = ""
    for line in path.read_text("ascii").splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line[0].isspace():
            current[key] += line.strip()
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "msg":
            current = {}
            vectors.append(current)
        current[key] = value
    return header, vectors


SUITE_HEADER, SUITE_VECTORS = _parse(SUITE_FILE)
EXPAND_HEADER, EXPAND_VECTORS = _parse(EXPAND_FILE)


def test_the_vector_files_hold_every_published_vector():
    assert SUITE_HEADER["suite"] == "edwards25519_XMD:SHA-512_ELL2_RO_"
    assert [v["msg"][:5] for v in SUITE_VECTORS] == ["", "abc", "abcde", "q128_", "a512_"]
    assert len(SUITE_VECTORS[3]["msg"]) == 5 + 128 and len(SUITE_VECTORS[4]["msg"]) == 5 + 512
    assert EXPAND_HEADER["hash"] == "SHA512"
    assert [int(v["len_in_bytes"], 16) for v in EXPAND_VECTORS] == [0x20] * 5 + [0x80] * 5


@pytest.mark.parametrize("vector", EXPAND_VECTORS, ids=lambda v: f"{v['msg'][:8]}-{v['len_in_bytes']}")
def test_expand_message_xmd_sha512_matches_rfc9380(vector):
    out = psi_curve.expand_message_xmd(vector["msg"].encode(), EXPAND_HEADER["DST"].encode(),
                                       int(vector["len_in_bytes"], 16))
    assert out.hex() == vector["uniform_bytes"]


@pytest.mark.parametrize("vector", SUITE_VECTORS, ids=lambda v: v["msg"][:8] or "empty")
def test_edwards25519_xmd_sha512_ell2_ro_matches_rfc9380(vector):
    msg, dst = vector["msg"].encode(), SUITE_HEADER["dst"].encode()
    u = psi_curve.hash_to_field(msg, dst)
    assert u == [int(vector["u[0]"], 16), int(vector["u[1]"], 16)]
    for i in range(2):
        x, y = psi_curve.map_to_curve(u[i])
        assert (x, y) == (int(vector[f"Q{i}.x"], 16), int(vector[f"Q{i}.y"], 16))
    px, py = int(vector["P.x"], 16), int(vector["P.y"], 16)
    # The 32-byte Ed25519 encoding: y, and the sign (parity) of x in the top bit.
    assert psi_curve.hash_to_edwards([msg], dst) == [(py | (px & 1) << 255).to_bytes(32, "little")]


def test_hash_to_edwards_batches_like_single_calls():
    dst = SUITE_HEADER["dst"].encode()
    msgs = [v["msg"].encode() for v in SUITE_VECTORS]
    assert psi_curve.hash_to_edwards(msgs, dst) == [psi_curve.hash_to_edwards([m], dst)[0] for m in msgs]


def test_psi_hashes_with_its_own_domain_tag():
    assert psi_curve.HASH_DST.endswith(b"edwards25519_XMD:SHA-512_ELL2_RO_")
    item = psi_curve.encode_item("ann@example.org")
    (edwards,) = psi_curve.hash_to_edwards([item])
    y = int.from_bytes(edwards, "little") & (2**255 - 1)
    p = psi_curve.FIELD_P
    assert psi_curve.hash_to_u([item]) == [(1 + y) * pow(1 - y, -1, p) % p]


def test_batched_map_agrees_with_the_reference_map():
    # The batched map takes its square roots from libsodium's point decoding; the reference
    # (map_to_curve) is the RFC's straight-line code. u = 0 is exceptional (x2 = 0): slow path.
    rng = random.Random(9380)
    us = [0, 1, psi_curve.FIELD_P - 1] + [rng.randrange(psi_curve.FIELD_P) for _ in range(300)]
    assert psi_curve._map_to_curve_batch(us) == [psi_curve.map_to_curve(u) for u in us]
