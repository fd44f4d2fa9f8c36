"""Benchmark ``vote`` with 3 compute parties and many input-only voters, all
in one process (``simulate``, memory transport).

Usage::

    python benchmarks/bench_many_voters.py [--voters 1000 10000] [--options 3]

Per size: the wall time of the whole ``simulate()`` call, the links built
(3 + 3 * voters: simulate builds only the links the protocol declares), and
bytes per voter: sent by a voter (its shares to the compute parties),
received by a voter, and all bytes sent by anyone divided by the voters.
Every tally is checked against the plaintext count (exit 1 if wrong).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import mpcnet
from mpcnet.registry import get_protocol

COMPUTE = 3


def run(voters: int, options: int) -> dict[str, float]:
    """One simulated vote among ``voters`` voters; its figures."""
    ballots = [i % options for i in range(voters)]
    params = {"options": options, "compute_parties": COMPUTE}
    start = time.perf_counter()
    result = mpcnet.simulate("vote", [None] * COMPUTE + ballots, params=params, seed=1)
    wall = time.perf_counter() - start
    expected = [ballots.count(k) for k in range(options)]
    if result.outputs[0] != expected:
        print(f"wrong tally at {voters} voters: {result.outputs[0]} != {expected}", file=sys.stderr)
        sys.exit(1)
    voter_stats = result.stats[COMPUTE:]
    links = len(get_protocol("vote").link_pairs(COMPUTE + voters, {"compute_parties": COMPUTE}))
    return {"voters": voters, "links": links, "wall_s": wall,
            "sent_per_voter": sum(s.bytes_sent for s in voter_stats) / voters,
            "received_per_voter": sum(s.bytes_received for s in voter_stats) / voters,
            "total_per_voter": sum(s.bytes_sent for s in result.stats) / voters}


def main() -> None:
    """Run the sizes given and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--options", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{'voters':>7} {'links':>7} {'wall s':>8} {'sent/voter':>11} {'recv/voter':>11} {'total/voter':>12}")
    for voters in args.voters:
        row = run(voters, args.options)
        print(f"{voters:>7} {row['links']:>7} {row['wall_s']:>8.2f} {row['sent_per_voter']:>11.0f} "
              f"{row['received_per_voter']:>11.0f} {row['total_per_voter']:>12.0f}", flush=True)


if __name__ == "__main__":
    main()
