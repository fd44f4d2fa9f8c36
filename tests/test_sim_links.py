"""simulate builds only the links a protocol declares (``links=``), over
memory and TCP, so that many input-only voters cost a constant per voter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest

import mpcnet
import mpcnet.runner
from mpcnet._net import tcp
from mpcnet._net.transport import MemoryLink, memory_mesh
from mpcnet.mpc.roles import role_links
from mpcnet.registry import ProtocolSpec, get_protocol


def _memory_links(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, dict[str, MemoryLink]]]:
    """Record every mesh simulate builds over memory."""
    built: list[dict[str, dict[str, MemoryLink]]] = []

    def spy(*args: Any, **kwargs: Any) -> dict[str, dict[str, MemoryLink]]:
        built.append(memory_mesh(*args, **kwargs))
        return built[-1]

    monkeypatch.setattr(mpcnet.runner, "memory_mesh", spy)
    return built


def _link_count(mesh: Mapping[str, Mapping[str, object]]) -> int:
    """Links in a mesh, each counted once (both ends hold it)."""
    ends = sum(len(links) for links in mesh.values())
    assert ends % 2 == 0
    return ends // 2


def _vote_inputs(voters: int) -> list[int | None]:
    return [None] * 3 + [i % 3 for i in range(voters)]


def test_vote_with_compute_parties_builds_only_compute_links(monkeypatch):
    built = _memory_links(monkeypatch)
    result = mpcnet.simulate("vote", _vote_inputs(30), params={"options": 3, "compute_parties": 3})
    assert result.outputs[0] == [10, 10, 10]
    # 3 links among the compute parties, 3 * 30 to the voters, none between voters.
    assert _link_count(built[0]) == 93
    assert sorted(built[0]["p10"]) == ["p0", "p1", "p2"]


def test_full_mesh_protocol_still_builds_every_link(monkeypatch):
    built = _memory_links(monkeypatch)
    assert mpcnet.simulate("secure-sum", [1, 2, 3, 4, 5, 6]).outputs[0] == 21
    assert _link_count(built[0]) == 15


def test_vote_over_tcp_builds_only_compute_links(monkeypatch):
    meshes: list[list[dict[str, Any]]] = []
    real = tcp.loopback_meshes

    @asynccontextmanager
    async def spy(*args: Any, **kwargs: Any) -> AsyncIterator[list[dict[str, Any]]]:
        async with real(*args, **kwargs) as built:
            meshes.append(built)
            yield built

    monkeypatch.setattr(tcp, "loopback_meshes", spy)
    result = mpcnet.simulate("vote", _vote_inputs(6), params={"options": 3, "compute_parties": 3}, transport="tcp")
    assert result.outputs[0] == [2, 2, 2]
    mesh = {f"p{i}": links for i, links in enumerate(meshes[0])}
    assert _link_count(mesh) == 3 + 3 * 6
    assert sorted(mesh["p5"]) == ["p0", "p1", "p2"]


@pytest.mark.parametrize("n", [3, 4, 9])
@pytest.mark.parametrize("compute_parties", [0, 3, 4])
def test_role_links_lists_exactly_the_peers_its_predicate_accepts(n, compute_parties):
    if compute_parties > n:
        return
    params = {"compute_parties": compute_parties}
    listed = get_protocol("vote")
    predicate_only = attrs.evolve(listed, links=lambda p, n, i, j: role_links(p, n, i, j))
    for i in range(n):
        assert listed.peers_of(i, n, params) == predicate_only.peers_of(i, n, params)
    assert listed.link_pairs(n, params) == predicate_only.link_pairs(n, params)


def test_a_predicate_only_links_rule_still_works(monkeypatch):
    def ring_and_hub(params: Mapping[str, Any], n: int, i: int, j: int) -> bool:
        return role_links(params, n, i, j)

    spec: ProtocolSpec = attrs.evolve(get_protocol("vote"), links=ring_and_hub)
    built = _memory_links(monkeypatch)
    result = mpcnet.simulate(spec, _vote_inputs(9), params={"options": 3, "compute_parties": 3})
    assert result.outputs[0] == [3, 3, 3]
    assert _link_count(built[0]) == 3 + 3 * 9


def _bytes_per_voter(voters: int) -> tuple[float, float]:
    """(sent, received) bytes per input-only voter."""
    result = mpcnet.simulate("vote", _vote_inputs(voters), params={"options": 3, "compute_parties": 3}, seed=7)
    assert result.outputs[0] == [len(range(k, voters, 3)) for k in range(3)]
    stats = result.stats[3:]
    return sum(s.bytes_sent for s in stats) / voters, sum(s.bytes_received for s in stats) / voters


def test_a_voter_sends_and_receives_as_many_bytes_among_300_voters_as_among_30():
    # Sent: its shares to the 3 compute parties; nothing to the other voters.
    # Received: the result round, 3 options plus the number of invalid
    # ballots from each compute party (it was an n-long mask of invalid
    # voters: 14,865 bytes per voter at 300 voters).
    assert _bytes_per_voter(30) == (309, 369)
    assert _bytes_per_voter(300) == (309, 369)
