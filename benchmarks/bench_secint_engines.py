"""Benchmark the SecretInt protocols (vote, referendum, stats) with three
compute parties on both engines: Shamir and the replicated one
(``mpcnet.mpc.repfield``, what ``engine="auto"`` picks there).

Usage::

    python benchmarks/bench_secint_engines.py [--voters 1000] [--stats-inputs 30] [--reps 3]

All parties in one process (``simulate``, memory transport), seed 1. Per
protocol and engine, the best of ``--reps`` runs (the engines alternate, so
both see the same load): the wall time of the ``simulate()`` call, the
slowest compute party's protocol time (its ``SessionStats.wall_time``), its
rounds, and bytes sent per compute party (max). The protocols take the toolkit's
choice and have no engine parameter: for the Shamir rows the benchmark makes
``choose_engine("auto", 3)`` return "shamir" in this process. Every output
is checked against the plaintext and across engines (exit 1 if wrong).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

import mpcnet
from mpcnet.mpc import runtime

COMPUTE = 3


@contextlib.contextmanager
def engine(name: str) -> Iterator[None]:
    """``name`` for the toolkit's auto choice (replicated is its own choice at three)."""
    if name == "replicated":
        yield
        return
    choose = runtime.choose_engine
    with mock.patch.object(runtime, "choose_engine",
                           lambda requested, c, **kw: "shamir" if requested == "auto" else choose(requested, c, **kw)):
        yield


def cases(voters: int, stats_inputs: int) -> list[tuple[str, str, dict[str, Any], list[Any], Any]]:
    """(label, protocol, params, inputs, expected output) per case."""
    ballots = [i % 3 for i in range(voters)]
    yes = [i % 3 != 0 for i in range(voters)]
    xs = [(i * 7919) % 2001 - 1000 for i in range(stats_inputs)]
    s = sorted(xs)
    return [
        (f"vote, {voters} voters", "vote", {"options": 3, "compute_parties": COMPUTE},
         [None] * COMPUTE + ballots, [ballots.count(k) for k in range(3)]),
        (f"referendum, {voters} voters", "referendum", {"compute_parties": COMPUTE},
         [None] * COMPUTE + yes, "YES" if sum(yes) >= (voters + 1) // 2 else "NO"),
        (f"stats (min,max,median,mean), {stats_inputs} inputs", "stats",
         {"which": "min,max,median,mean", "compute_parties": COMPUTE}, [None] * COMPUTE + xs,
         {"min": s[0], "max": s[-1], "median": s[(stats_inputs - 1) // 2], "mean": sum(xs) / stats_inputs}),
    ]


def main() -> None:
    """Run every case on both engines and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=1000)
    parser.add_argument("--stats-inputs", type=int, default=30)
    parser.add_argument("--reps", type=int, default=1)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'case':<46} {'engine':<10} {'wall s':>7} {'protocol s':>10} {'rounds':>6} {'bytes/compute party':>19}")
    for label, name, params, inputs, expected in cases(args.voters, args.stats_inputs):
        outputs: dict[str, Any] = {}
        best: dict[str, tuple[float, float, int, int]] = {}
        for _ in range(args.reps):
            for eng in ("shamir", "replicated"):
                with engine(eng):
                    start = time.perf_counter()
                    result = mpcnet.simulate(name, inputs, params=params, seed=1)
                    wall = time.perf_counter() - start
                outputs[eng] = result.outputs
                if result.outputs[0] != expected:
                    print(f"{label} on {eng}: {result.outputs[0]} != {expected}", file=sys.stderr)
                    sys.exit(1)
                compute = result.stats[:COMPUTE]
                row = (wall, max(s.wall_time for s in compute), statistics.mode(s.rounds for s in compute),
                       max(s.bytes_sent for s in compute))
                best[eng] = min(best.get(eng, row), row)
        for eng, (wall, proto, rounds, sent) in best.items():
            print(f"{label:<46} {eng:<10} {wall:>7.2f} {proto:>10.3f} {rounds:>6} {sent:>19,}", flush=True)
        if outputs["shamir"] != outputs["replicated"]:
            print(f"{label}: the engines disagree", file=sys.stderr)
            sys.exit(1)

if __name__ == "__main__":
    main()
