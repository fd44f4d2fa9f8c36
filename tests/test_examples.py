"""Every example in examples/ runs and prints what it promises."""

from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO, env_with

EXPECT = {
    "four_engineers.py": ["average raise: 3171.5"],
    "sealed_bid_auction.py": ["first-price : winner globex, pays 1,310,000",
                              "second-price: winner globex, pays 1,310,000"],
    "referendum_unanimity.py": ["no=0 yes=7", "referendum, unanimous: YES", "referendum, 4 to 3   : YES"],
    "millionaires.py": ["the richer one is alice; alice never saw bob's wealth",
                        "the richer one is alice; bob never saw alice's wealth"],
    "asyncio_service.py": ["flu-cases-week-47: childrens got total 245", "icu-beds-free: general got total 10"],
}


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_example_runs(name):
    proc = subprocess.run([sys.executable, str(REPO / "examples" / name)], capture_output=True, text=True,
                          timeout=180, env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    for line in EXPECT[name]:
        assert line in proc.stdout


def test_breach_loss_example_draws_the_plot(tmp_path):
    svg = tmp_path / "plot.svg"
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "breach_loss_dp.py"), "--runs", "1",
                           "--svg", str(svg)], capture_output=True, text=True, timeout=300, env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "exact total: 1928k" in proc.stdout
    assert svg.read_text().startswith("<svg") and "polyline" in svg.read_text()


def test_private_digits_example_classifies_like_the_plaintext_model():
    """Small size in CI: 30 test images, with two parties and with three."""
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "private_digits.py"), "--queries", "30"],
                          capture_output=True, text=True, timeout=300, env=env_with())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "30 test queries" in proc.stdout
    assert "private, client and server alone:" in proc.stdout and "private, 3 parties, 1 only computing:" in proc.stdout
    assert proc.stdout.count("agreement with plaintext 100.0% (30/30)") == 2
