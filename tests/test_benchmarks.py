"""The benchmark scripts still run (smoke: the smallest grid, no peers)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers import REPO, env_with


def test_secure_sum_benchmark_quick_smoke(tmp_path):
    out = tmp_path / "sum.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_secure_sum.py"), "--quick", "--no-mpyc",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads(out.read_text())
    rows = [r for r in data["grid"] if r["status"] == "ok"]
    assert rows and {r["rounds"] for r in rows} == {2}


def test_compare_benchmark_quick_smoke(tmp_path):
    out = tmp_path / "compare.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_compare.py"), "--quick", "--no-mpyc",
                           "--json", str(out)], capture_output=True, text=True, timeout=300, env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(out.read_text())


def test_process_latency_benchmark_smoke(tmp_path):
    pytest.importorskip("mpyc")
    out = tmp_path / "latency.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_process_latency.py"), "--reps", "1",
                           "--bids", "3", "--json", str(out)], capture_output=True, text=True, timeout=300,
                          env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    results = json.loads(out.read_text())["results"]
    assert len(results) == 2
    for job in results.values():
        assert job["mpcnet"]["whole_s"] > 0 and job["mpyc"]["whole_s"] > 0
        assert job["mpcnet"]["exit_after_session_s"] is not None
