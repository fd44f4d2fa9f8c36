"""``mpcnet prio3 run``: Prio3 sharded, verified and aggregated by two aggregators in one process.

The aggregate must equal the plaintext sum of the honest measurements, every cheating client's
report must be rejected, and the aggregators' round count must not depend on the batch size.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import protocols.prio3 as prio3_module
from mpcnet.aggregate.simulation import VdafConfig, parse_measurements, run_prio3
from mpcnet.cli import main
from mpcnet.errors import InputError, RemoteProtocolViolation

#: leader and helper: verifier shares, verifier message, aggregate shares.
ROUNDS = 3

CASES: list[tuple[VdafConfig, list[Any], Any]] = [
    (VdafConfig("count"), [1, 0, 1, 1], 3),
    (VdafConfig("sum", bits=4), [3, 15, 0, 7], 25),
    (VdafConfig("sumvec", length=3, bits=3), [[1, 2, 3], [7, 0, 1]], [8, 2, 4]),
    (VdafConfig("histogram", length=5), [0, 4, 4, 2], [1, 0, 1, 0, 2]),
    (VdafConfig("multihot", length=4, max_weight=2), [[1, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]], [1, 0, 0, 2]),
]


@pytest.mark.parametrize(("config", "measurements", "expected"), CASES, ids=[c[0].kind for c in CASES])
@pytest.mark.parametrize("malicious", [0, 1, 2, 3])
def test_aggregate_is_the_plaintext_sum_and_every_cheater_is_rejected(
    config: VdafConfig, measurements: list[Any], expected: Any, malicious: int
) -> None:
    if config.kind == "multihot":
        measurements = [[bool(x) for x in m] for m in measurements]
    result = run_prio3(config, measurements, malicious)
    assert result.aggregate == expected
    assert (result.accepted, result.rejected) == (len(measurements), malicious)
    assert result.rejected_indices == tuple(range(len(measurements), len(measurements) + malicious))


@pytest.mark.parametrize(("config", "measurements", "expected"), CASES, ids=[c[0].kind for c in CASES])
def test_batches_cut_into_slices_give_the_same_decisions_and_aggregate(
    config: VdafConfig, measurements: list[Any], expected: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slices of 3 reports (SLICE is 8192): the cheaters' reports land in a slice of their own and in a
    # mixed one; each aggregator's shares are sliced with the other's fields absent.
    import mpcnet.aggregate.batch as batch_module

    monkeypatch.setattr(batch_module, "SLICE", 3)
    if config.kind == "multihot":
        measurements = [[bool(x) for x in m] for m in measurements]
    measurements = measurements * 2
    result = run_prio3(config, measurements, 4)
    doubled = 2 * expected if isinstance(expected, int) else [2 * x for x in expected]
    assert result.aggregate == doubled
    assert result.rejected_indices == tuple(range(len(measurements), len(measurements) + 4))


def test_the_chunk_length_is_the_one_with_the_shortest_proof() -> None:
    # 10 buckets: chunk 3 (the square root) proves with 21 elements, chunk 4 with 15.
    vdaf = VdafConfig("histogram", length=10).vdaf()
    assert vdaf.flp.PROOF_LEN == 15
    assert vdaf.flp.valid.chunk_length == 4  # type: ignore[attr-defined]


@pytest.mark.parametrize("reports", [1, 10, 300])
def test_round_count_does_not_depend_on_the_number_of_reports(reports: int) -> None:
    result = run_prio3(VdafConfig("histogram", length=3), [i % 3 for i in range(reports)], malicious_clients=2)
    assert result.rounds == ROUNDS
    assert result.aggregate == [len(range(b, reports, 3)) for b in range(3)]


def test_cli_prints_the_aggregate_as_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.txt"
    path.write_text("1\n0\n1\n\n1\n")
    assert main(["prio3", "run", "--vdaf", "count", "--measurements", str(path), "--malicious-clients", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["aggregate"], out["accepted"], out["rejected"]) == (3, 4, 2)
    assert out["stats"]["rounds"] == ROUNDS
    assert all(b > 0 for b in out["stats"]["bytes_per_aggregator"])
    assert out["stats"]["reports_per_second"] > 0


@pytest.mark.parametrize(("config", "text", "line", "reason"), [
    (VdafConfig("count"), "1\n0\n[1,\n", 3, "not valid JSON"),
    (VdafConfig("count"), "1\n2\n", 2, "0 or 1"),
    (VdafConfig("count"), "1\n\ntrue\n", 3, "0 or 1"),
    (VdafConfig("sum", bits=4), "16\n", 1, "[0, 15]"),
    (VdafConfig("histogram", length=3), "0\n3\n", 2, "[0, 2]"),
    (VdafConfig("sumvec", length=2, bits=2), "[1, 2]\n[1, 2, 3]\n", 2, "list of 2"),
    (VdafConfig("sumvec", length=2, bits=2), "[1, 4]\n", 1, "[0, 3]"),
    (VdafConfig("multihot", length=3), "[1, 0]\n", 1, "list of 3"),
    (VdafConfig("multihot", length=3, max_weight=1), "[1, 0, 0]\n[1, 1, 0]\n", 2, "at most 1 ones"),
    (VdafConfig("multihot", length=2), "[1, 2]\n", 1, "0 or 1"),
])
def test_malformed_line_is_named(config: VdafConfig, text: str, line: int, reason: str) -> None:
    with pytest.raises(InputError, match=rf"line {line}: .*{reason.replace('[', '.').replace(']', '.')}"):
        parse_measurements(text.split("\n"), config)


def test_cli_malformed_line_exits_2_before_running(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.txt"
    path.write_text("[0, 1]\n\n[0, 1, 1]\n")  # blank lines count in the numbering
    with pytest.raises(SystemExit) as exc:
        main(["prio3", "run", "--vdaf", "sumvec", "--length", "2", "--measurements", str(path)])
    assert exc.value.code == 2
    captured = capsys.readouterr()
    assert "line 3: a sumvec measurement is a list of 2 values" in captured.err and captured.out == ""


def test_cli_non_utf8_line_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "m.txt"
    path.write_bytes(b"1\n0\n\xff\n")
    with pytest.raises(SystemExit) as exc:
        main(["prio3", "run", "--vdaf", "count", "--measurements", str(path)])
    assert exc.value.code == 2
    assert "line 3: not valid UTF-8" in capsys.readouterr().err


def test_verifier_share_outside_the_field_is_the_helpers_violation(monkeypatch: pytest.MonkeyPatch) -> None:
    """The helper sends the modulus itself as a verifier element: encodable, but not a field element."""
    real = prio3_module.encode_batch

    def tampered(field: Any, vec: Any) -> Any:
        if vec.shape[1] == 3:  # the verifier shares (the aggregate share has one column)
            vec = vec.copy()
            vec[0, 0] = field.MODULUS
        return real(field, vec)

    monkeypatch.setattr(prio3_module, "encode_batch", tampered)
    with pytest.raises(RemoteProtocolViolation, match="outside the field") as exc:
        run_prio3(VdafConfig("count"), [1, 1, 0])
    assert exc.value.peer == "p1"


def test_bad_max_weight_is_a_config_error() -> None:
    with pytest.raises(InputError, match="max-weight"):
        run_prio3(VdafConfig("multihot", length=2, max_weight=3), [[True, False]])


@pytest.mark.parametrize("config", [VdafConfig("sum", bits=64), VdafConfig("histogram", length=0)])
def test_parameters_the_draft_does_not_allow_are_input_errors(config: VdafConfig) -> None:
    with pytest.raises(InputError):
        config.vdaf()
