"""Received shapes follow from the protocol's public parameters (issue 17, hole 7).

A deviating party is simulated by rewriting what it hands to
``Context.exchange`` in one round; every honest party must stop with a
``RemoteProtocolViolation`` naming that party, before any work that grows
with the oversized array (GF(2^8) products widen 8x).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import trio

from mpcnet import Context, Party
from mpcnet._net.transport import memory_mesh
from mpcnet.errors import MPCError, RemoteProtocolViolation
from mpcnet.mpc.fields import GF256, P127
from protocols.psi import curve as psi_curve


async def _run_all(protocol: str, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, BaseException]:
    names = list(inputs)
    mesh = memory_mesh(names)
    errors: dict[str, BaseException] = {}

    async def party(name: str) -> None:
        async with Party(name, names, mesh[name]) as p:
            try:
                await p.run(protocol, inputs[name], params=params, session_id="shapes", round_timeout=10)
            except MPCError as exc:
                errors[name] = exc

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(party, name)
    return errors


def _deviate(monkeypatch: pytest.MonkeyPatch, who: set[str], rewrite: Any) -> None:
    """Parties in ``who`` send ``rewrite(me, peer, value)`` instead of each value."""
    honest = Context.exchange

    async def exchange(self: Context, outgoing: Any, expect_from: Any = None) -> dict[str, Any]:
        if self.me in who:
            outgoing = {p: rewrite(self.me, p, v) for p, v in outgoing.items()}
        return await honest(self, outgoing, expect_from)

    monkeypatch.setattr(Context, "exchange", exchange)


def _record_products(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    honest = GF256.mul

    def mul(a: Any, b: Any) -> Any:
        sizes.append(int(np.size(a)))
        return honest(a, b)

    monkeypatch.setattr(GF256, "mul", mul)
    return sizes


def _oversized_operand(me: str, peer: str, value: Any) -> Any:
    # the input round's shares are the only (3, 8) uint8 arrays an operand holder sends
    if isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.shape == (3, 8):
        return np.zeros((1000, 8), dtype=np.uint8)
    return value


COMPARE = {"bits": 8, "max_length": 4}


@pytest.mark.trio
async def test_compare_names_the_holder_of_an_oversized_operand(monkeypatch):
    # Before: a helper compared the two operands' shapes and, unable to tell
    # which was wrong, named the second holder (p1) for p0's oversized array.
    _deviate(monkeypatch, {"p0"}, _oversized_operand)
    products = _record_products(monkeypatch)
    inputs = {"p0": [1, 2, 3], "p1": [4, 5, 6], "p2": None, "p3": None, "p4": None}
    errors = await _run_all("compare", inputs, COMPARE)
    for name in ["p1", "p2", "p3", "p4"]:
        assert isinstance(errors[name], RemoteProtocolViolation), (name, errors.get(name))
        assert errors[name].peer == "p0" and "more than the 32 the parameters allow" in str(errors[name])
    assert all(size <= 3 * 8 for size in products)  # nothing oversized was ever multiplied


@pytest.mark.trio
async def test_compare_refuses_operands_beyond_max_length_even_when_both_agree(monkeypatch):
    # Before: two holders sending equally oversized arrays (t = 2 of 5 may
    # collude) made every helper multiply 1000 x 8 shares.
    _deviate(monkeypatch, {"p0", "p1"}, _oversized_operand)
    products = _record_products(monkeypatch)
    inputs = {"p0": [1, 2, 3], "p1": [4, 5, 6], "p2": None, "p3": None, "p4": None}
    errors = await _run_all("compare", inputs, COMPARE)
    for name in ["p2", "p3", "p4"]:
        assert isinstance(errors[name], RemoteProtocolViolation), (name, errors.get(name))
        assert errors[name].peer in {"p0", "p1"}
    assert all(size <= 3 * 8 for size in products)


def _oversized_opening(me: str, peer: str, value: Any) -> Any:
    # p0's only message to the input-only voter p3 is its share of the result
    return P127.to_wire(P127.zeros(100_000)) if peer == "p3" else value


@pytest.mark.trio
async def test_vote_input_only_voter_names_the_sender_of_an_oversized_opening(monkeypatch):
    # Before: p3 took the result's shape from the first compute party's share
    # (p0's, oversized), converted 100,000 elements to Python ints, and then
    # blamed p1, whose honest share no longer matched.
    _deviate(monkeypatch, {"p0"}, _oversized_opening)
    inputs = {"p0": None, "p1": None, "p2": None, "p3": 0, "p4": 1}  # p0..p2 compute, p3 and p4 only vote
    errors = await _run_all("vote", inputs, {"options": 2, "compute_parties": 3})
    assert isinstance(errors["p3"], RemoteProtocolViolation), errors.get("p3")
    assert errors["p3"].peer == "p0"


@pytest.mark.trio
@pytest.mark.parametrize("header", [[1000], [2, 2], [-1], ["x"], [1] * 9])
async def test_replicated_compare_names_the_holder_of_an_oversized_or_malformed_operand(monkeypatch, header):
    # Three parties: compare runs on the replicated engine, where an operand
    # holder sends its element shape with its third share. One beyond
    # max_length (or not a shape) is refused, naming the holder, before its
    # shares are used.
    def rewrite(me: str, peer: str, value: Any) -> Any:
        if isinstance(value, list) and value[0] == [3]:
            count = int(np.prod(header)) if all(isinstance(d, int) and d >= 0 for d in header) else 1
            return [header, np.zeros((8, (count + 63) // 64), dtype=np.uint64)]
        return value

    _deviate(monkeypatch, {"p0"}, rewrite)
    errors = await _run_all("compare", {"p0": [1, 2, 3], "p1": [4, 5, 6], "p2": None}, COMPARE)
    for name in ("p1", "p2"):
        assert isinstance(errors[name], RemoteProtocolViolation), (name, errors.get(name))
        assert errors[name].peer == "p0", (name, errors[name])
    if header == [2, 2]:  # a shape within the bound but not a list of values: compare's own check
        assert "element shape (2, 2)" in str(errors["p1"])
    elif header == [1000]:
        assert "1000 values: at most 4" in str(errors["p1"])


def test_compare_refuses_a_local_list_beyond_max_length():
    import mpcnet

    with pytest.raises(mpcnet.InputError, match="between 1 and 4"):
        mpcnet.simulate("compare", [[1] * 5, [2] * 5, None], params=COMPARE)


def _longer_ring_set(me: str, peer: str, value: Any) -> Any:
    # hop 2 is p0's only message that is a lone point array (round 1 also carries set sizes)
    if isinstance(value, np.ndarray) and value.ndim == 2 and value.shape[1] == 32 and peer == "p1" and value.shape[0] == 1:
        extra = [u.to_bytes(32, "little") for u in psi_curve.hash_to_u([b"s%d" % i for i in range(50)])]
        return np.concatenate([value, np.frombuffer(b"".join(extra), dtype=np.uint8).reshape(50, 32)])
    return value


@pytest.mark.trio
async def test_psi_ring_names_a_party_that_passes_on_a_longer_set(monkeypatch):
    # Before: set sizes were not announced, so p1 blinded the 51 points p0
    # passed on at hop 2 (for p2's one-item set), and the run went on.
    _deviate(monkeypatch, {"p0"}, _longer_ring_set)
    errors = await _run_all("psi", {"p0": ["a", "b"], "p1": ["a", "c"], "p2": ["a"]}, {})
    assert isinstance(errors["p1"], RemoteProtocolViolation), errors.get("p1")
    assert errors["p1"].peer == "p0" and "ring hop 2" in str(errors["p1"])
