"""The command-line contract: outputs, JSON shapes, exit codes, one-line errors."""

from __future__ import annotations

import json
import stat
import subprocess
import tempfile
import time

import numpy as np
import pytest

from mpcnet.cli import build_parser
from mpcnet.identity import generate_key, write_key_file

from helpers import env_with, install_plugin, make_deployment, mpcnet_cmd, run_cli


def _one_clean_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("mpcnet: error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_demo_prints_the_average_raise():
    proc = run_cli("demo")
    assert proc.returncode == 0, proc.stderr
    assert "3171.5" in proc.stdout
    assert "No engineer received anyone's raise: checked" in proc.stdout


def test_demo_json_shows_what_each_engineer_received():
    proc = run_cli("demo", "--json")
    out = json.loads(proc.stdout)
    assert out["outputs"] == [3171.5] * 4 and out["leaks"] == []
    assert sorted(out["received"]) == ["alice", "bob", "carlos", "david"]
    for views in out["received"].values():
        assert len(views) == 6
        assert not {v["value"] for v in views} & {3800, 2514, 2982, 3390}


@pytest.mark.parametrize("transport", ["memory", "tcp"])
def test_simulate_json_contract(tmp_path, transport):
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps([[1, -2, 3], [4, 5, -6], [7, 8, 9]]))
    proc = run_cli("simulate", "secure-sum", "--inputs-json", str(inputs), "--transport", transport, "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outputs"] == [[12, 11, 6]] * 3
    assert len(out["stats"]) == 3
    assert {s["rounds"] for s in out["stats"]} == {2}
    assert all(s["bytes_sent"] > 0 and s["messages_sent"] == 4 for s in out["stats"])


def test_simulate_with_params_and_average(tmp_path):
    inputs = tmp_path / "inputs.json"
    inputs.write_text("[3800, 2514, 2982, 3390]")
    proc = run_cli("simulate", "secure-average", "--inputs-json", str(inputs), "--param", "bits=16", "--json")
    assert json.loads(proc.stdout)["outputs"] == [3171.5] * 4


@pytest.mark.parametrize(
    "content, args, fragment",
    [
        ("[1, 99999999999]", [], "input of party p1"),
        ("[1, 2]", ["--param", "bits=x"], "parameter bits"),
        ("[1, 2]", ["--param", "nope=1"], "no parameter"),
        ("{\"a\": 1}", [], "JSON list"),
        ("[1, 2", [], "not valid JSON"),
    ],
)
def test_simulate_bad_input_is_one_clear_line(tmp_path, content, args, fragment):
    inputs = tmp_path / "inputs.json"
    inputs.write_text(content)
    proc = run_cli("simulate", "secure-sum", "--inputs-json", str(inputs), *args)
    assert proc.returncode == 2
    assert fragment in _one_clean_error_line(proc)
    assert "99999999999" not in proc.stderr


def test_unknown_protocol(tmp_path):
    inputs = tmp_path / "i.json"
    inputs.write_text("[1, 2]")
    proc = run_cli("simulate", "no-such-thing", "--inputs-json", str(inputs))
    assert proc.returncode == 2 and "unknown protocol" in _one_clean_error_line(proc)


def test_debug_shows_the_traceback(tmp_path):
    inputs = tmp_path / "i.json"
    inputs.write_text("[1, 2.5]")
    proc = run_cli("--debug", "simulate", "secure-sum", "--inputs-json", str(inputs))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_protocols_json_has_security_metadata():
    proc = run_cli("protocols", "--json")
    specs = {s["name"]: s for s in json.loads(proc.stdout)}
    assert "n-1" in specs["secure-sum"]["security"]
    assert "every party" in specs["secure-sum"]["reveals"]
    assert specs["secure-average"]["params"][0]["name"] == "bits"
    text = run_cli("protocols").stdout
    assert "secure-sum" in text and "reveals:" in text


def test_keygen_writes_a_private_key_file(tmp_path):
    proc = run_cli("keygen", "alice", "--dir", str(tmp_path))
    assert proc.returncode == 0
    assert proc.stdout.strip().startswith("x25519:")
    key = tmp_path / "alice.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert proc.stdout.strip() in key.read_text()
    again = run_cli("keygen", "alice", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in _one_clean_error_line(again)


def _start_parties(roster, keys, inputs, *extra, env=None, protocol="secure-sum", stdin=None):
    """One ``mpcnet party`` process per name; ``stdin`` maps a name to the
    text written to its standard input (for ``--input-json @-``)."""
    procs = {}
    for name, value in inputs.items():
        with tempfile.TemporaryFile("w+") as given:
            given.write((stdin or {}).get(name, ""))
            given.seek(0)
            procs[name] = subprocess.Popen(
                mpcnet_cmd("party", protocol, "--roster", str(roster), "--id", name, "--key", str(keys[name]),
                           "--input-json", value, "--json", *extra),
                stdin=given, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or env_with())
    return procs


def _finish(procs, timeout=60):
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=timeout)
        out[name] = (proc.returncode, stdout, stderr)
    return out


def test_party_runs_across_processes(tmp_path):
    names = ["alice", "bob", "carlos", "david"]
    roster, keys = make_deployment(tmp_path, names)
    big = tmp_path / "david.json"
    big.write_text("3390")
    # The three ways to give an input: a literal, @PATH (a file) and @- (standard input).
    inputs = {"alice": "3800", "bob": "2514", "carlos": "@-", "david": f"@{big}"}
    results = _finish(_start_parties(roster, keys, inputs, "--timeout", "20", stdin={"carlos": "2982\n"}))
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, (name, stderr)
        out = json.loads(stdout)
        assert out["output"] == 12686
        assert out["stats"]["rounds"] == 2 and out["stats"]["messages_sent"] == 6


def test_party_prepare_runs_the_two_party_setup_first(tmp_path):
    roster, keys = make_deployment(tmp_path, ["alice", "bob"])
    results = _finish(_start_parties(roster, keys, {"alice": "5", "bob": "6"}, "--timeout", "20", "--prepare",
                                     "twoparty-setup", protocol="compare"))
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, (name, stderr)
        out = json.loads(stdout)
        # the base OTs ran in the set-up session: the comparison takes the kept extension's 6 rounds
        # (its offline OTs and first leaf message in the first round), not 9
        assert out["output"] is True and out["stats"]["rounds"] == 6


def test_party_help_says_why_the_input_belongs_in_a_file_or_stdin():
    # A literal --input-json value is in argv, which `ps` shows to every local user.
    proc = run_cli("party", "--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    assert "@PATH reads it from a file, @- from standard input" in text
    assert "`ps` shows to every user of this machine" in text


def test_party_unreachable_peer_names_it(tmp_path):
    roster, keys = make_deployment(tmp_path, ["alice", "bob"])
    proc = run_cli("party", "secure-sum", "--roster", str(roster), "--id", "alice", "--key", str(keys["alice"]),
                   "--input-json", "1", "--connect-timeout", "1.5")
    assert proc.returncode == 1
    line = _one_clean_error_line(proc)
    assert "could not connect to bob" in line and "[peer bob]" in line


def test_party_rejects_mismatched_id_and_bad_roster(tmp_path):
    roster, keys = make_deployment(tmp_path, ["alice", "bob"])
    proc = run_cli("party", "secure-sum", "--roster", str(roster), "--id", "bob", "--key", str(keys["alice"]),
                   "--input-json", "1")
    assert proc.returncode == 2 and "does not match the key file" in _one_clean_error_line(proc)
    bad = tmp_path / "bad.toml"
    bad.write_text("[parties.alice]\naddress = 'x'\n")
    proc = run_cli("party", "secure-sum", "--roster", str(bad), "--id", "alice", "--key", str(keys["alice"]),
                   "--input-json", "1")
    assert proc.returncode == 2 and "roster" in _one_clean_error_line(proc)


def test_party_whose_key_file_is_not_the_rosters_fails_every_party_fast(tmp_path):
    # Regression: carlos stopped at once, alice and bob waited out their 30 s
    # connect deadline for him (31 s in all).
    names = ["alice", "bob", "carlos"]
    roster, keys = make_deployment(tmp_path, names)
    write_key_file(generate_key("carlos"), tmp_path / "keys", overwrite=True)  # the roster still lists the old key
    start = time.monotonic()
    results = _finish(_start_parties(roster, keys, {"alice": "1", "bob": "2", "carlos": "3"}))
    took = time.monotonic() - start
    for name, (code, _, stderr) in results.items():
        line = _one_clean_error_line(subprocess.CompletedProcess([], code, "", stderr))
        assert "the keys do not match" in line and "carlos" in line, (name, line)
        assert code == (2 if name == "carlos" else 1), (name, line)
    assert took < 12, took  # ~2 s plus three interpreters starting on a loaded machine; 31 s before


def test_party_wrong_key_in_roster_is_an_authentication_failure(tmp_path):
    roster, keys = make_deployment(tmp_path, ["alice", "bob"])
    # bob's roster has a different key for alice: alice dials bob, and bob's
    # responder cannot authenticate her; alice learns bob did not answer.
    other, other_keys = make_deployment(tmp_path / "other", ["alice", "bob"])
    text = roster.read_text().splitlines()
    alice_key_line = next(i for i, line in enumerate(text) if line.startswith("public_key"))
    text[alice_key_line] = next(line for line in other.read_text().splitlines() if line.startswith("public_key"))
    bob_roster = tmp_path / "bob-roster.toml"
    bob_roster.write_text("\n".join(text))
    procs = {
        "alice": subprocess.Popen(mpcnet_cmd("party", "secure-sum", "--roster", str(roster), "--id", "alice", "--key",
                                             str(keys["alice"]), "--input-json", "1", "--connect-timeout", "10"),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with()),
        "bob": subprocess.Popen(mpcnet_cmd("party", "secure-sum", "--roster", str(bob_roster), "--id", "bob", "--key",
                                           str(keys["bob"]), "--input-json", "2", "--connect-timeout", "10"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with()),
    }
    results = _finish(procs)
    assert results["alice"][0] == 1 and results["bob"][0] == 1
    # Both name the other and the cause, without waiting for the deadline
    # (bob learns it by dialing alice back: see mpcnet._net.tcp, probe).
    assert "bob" in results["alice"][2] and "keys do not match" in results["alice"][2]
    assert "alice" in results["bob"][2] and "keys do not match" in results["bob"][2]


def test_plugin_protocol_via_entry_point(tmp_path):
    site = install_plugin(tmp_path)
    proc = run_cli("protocols", "--json", env=env_with(site))
    assert "test-stall" in {s["name"] for s in json.loads(proc.stdout)}
    inputs = tmp_path / "i.json"
    inputs.write_text("[1, 2, 3]")
    proc = run_cli("simulate", "test-stall", "--inputs-json", str(inputs), "--json", env=env_with(site))
    assert json.loads(proc.stdout)["outputs"] == [6, 6, 6]


def test_auction_runs_across_processes_with_input_only_bidders(tmp_path):
    names = ["n1", "n2", "n3", "acme", "globex", "initech"]
    roster, keys = make_deployment(tmp_path, names)
    inputs = {"n1": "null", "n2": "null", "n3": "null", "acme": "500", "globex": "700", "initech": "650"}
    results = _finish(_start_parties(roster, keys, inputs, "--param", "compute_parties=3", "--param",
                                     "kind=second-price", "--timeout", "20", protocol="auction"))
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, (name, stderr)
        assert json.loads(stdout)["output"] == {"winner": 4, "price": 650}


def test_simulate_vote_referendum_and_dp_sum_json(tmp_path):
    votes = tmp_path / "votes.json"
    votes.write_text("[0, 2, 2, 1]")
    out = json.loads(run_cli("simulate", "vote", "--inputs-json", str(votes), "--param", "options=3", "--json").stdout)
    assert out["outputs"] == [[1, 1, 2]] * 4
    ballots = tmp_path / "ballots.json"
    ballots.write_text("[true, true, true, true, true]")
    out = json.loads(run_cli("simulate", "referendum", "--inputs-json", str(ballots), "--json").stdout)
    assert out["outputs"] == ["YES"] * 5
    out = json.loads(run_cli("simulate", "referendum", "--inputs-json", str(ballots), "--param", "threshold=6",
                             "--json").stdout)
    assert out["outputs"] == ["NO"] * 5
    losses = tmp_path / "losses.json"
    losses.write_text("[100, 200, 300]")
    out = json.loads(run_cli("simulate", "dp-sum", "--inputs-json", str(losses), "--param", "epsilon=1",
                             "--param", "lower=0", "--param", "upper=1000", "--json").stdout)
    assert len(set(out["outputs"])) == 1 and isinstance(out["outputs"][0], int)


def test_input_only_parties_open_no_channels_to_each_other(tmp_path):
    """With compute_parties=3, bidders link only to the compute parties."""
    import mpcnet
    from mpcnet.registry import get_protocol

    spec = get_protocol("auction")
    params = spec.resolve_params({"compute_parties": 3}, 7)
    assert spec.peers_of(5, 7, params) == [0, 1, 2]          # a bidder: compute parties only
    assert spec.peers_of(1, 7, params) == [0, 2, 3, 4, 5, 6]  # a compute party: everyone
    assert spec.peers_of(5, 7, spec.resolve_params({}, 7)) == [0, 1, 2, 3, 4, 6]  # all compute: full mesh
    assert mpcnet.get_protocol("secure-sum").peers_of(0, 3, {"bits": 32}) == [1, 2]


def test_cli_timeouts_are_pinned():
    parser = build_parser()
    party = parser.parse_args(["party", "secure-sum", "--roster", "r", "--id", "a", "--key", "k", "--input-json", "1"])
    assert (party.timeout, party.connect_timeout, party.reconnect_timeout) == (600.0, 30.0, 5.0)
    assert party.liveness_timeout == 3.0
    assert parser.parse_args(["simulate", "secure-sum", "--inputs-json", "-"]).timeout == 600.0


_MLP_MODEL = {"weights": [[[1.0, -0.5, 0.25], [0.5, 0.5, -1.0]], [[1.0, -1.0], [-0.5, 2.0], [0.0, 0.25]]],
              "biases": [[0.1, -0.2], [0.0, 0.5, -0.25]]}
_MLP_QUERIES = [[0.5, 0.25, -1.0], [1.0, 1.0, 1.0], [-0.75, 0.0, 0.5]]


def _mlp_classes() -> list[int]:
    from protocols.mlp import check_model, plain_scores
    model = check_model(_MLP_MODEL, frac=16, input_bound=1.0, range_bits=15)
    return plain_scores(model, np.asarray(_MLP_QUERIES)).argmax(axis=1).tolist()


def test_simulate_mlp_predict_json(tmp_path):
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps([_MLP_MODEL, _MLP_QUERIES]))
    proc = run_cli("simulate", "mlp-predict", "--inputs-json", str(inputs), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["outputs"] == [None, _mlp_classes()]
    inputs.write_text(json.dumps([_MLP_MODEL, _MLP_QUERIES, None]))
    proc = run_cli("simulate", "mlp-predict", "--inputs-json", str(inputs), "--param", "output=scores", "--json")
    assert proc.returncode == 0, proc.stderr
    scores = json.loads(proc.stdout)["outputs"][1]
    assert np.argmax(scores, axis=1).tolist() == _mlp_classes() and len(scores[0]) == 3


@pytest.mark.parametrize("names", [["server", "client"], ["server", "client", "helper"]])
def test_party_mlp_predict_across_processes(tmp_path, names):
    roster, keys = make_deployment(tmp_path, names)
    files = {}
    for name, value in zip(names, [_MLP_MODEL, _MLP_QUERIES, None], strict=False):
        files[name] = tmp_path / f"{name}.json"
        files[name].write_text(json.dumps(value))
    results = _finish(_start_parties(roster, keys, {n: f"@{files[n]}" for n in names}, "--timeout", "30",
                                     protocol="mlp-predict"), timeout=120)
    for name, (code, stdout, stderr) in results.items():
        assert code == 0, (name, stderr)
        out = json.loads(stdout)
        assert out["output"] == (_mlp_classes() if name == "client" else None)
