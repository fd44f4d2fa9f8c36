"""Benchmark ``vote`` with 3 compute parties and many input-only voters, all
in one process (``simulate``, memory transport).

Usage::

    python benchmarks/bench_many_voters.py [--voters 1000 10000] [--options 3]

Per size: the wall time and the CPU time of the whole ``simulate()`` call,
the links built (3 + 3 * voters: simulate builds only the links the protocol
declares), the process's peak RSS so far, and bytes per voter by role:
sent and received by one input-only voter (mean over the voters), and sent
and received by one compute party divided by the number of voters (mean
over the compute parties). All four must be constant in the number of
voters. Every tally is checked against the plaintext count (exit 1 if wrong).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import mpcnet
from mpcnet.registry import get_protocol

COMPUTE = 3


def run(voters: int, options: int) -> dict[str, float]:
    """One simulated vote among ``voters`` voters; its figures."""
    ballots = [i % options for i in range(voters)]
    params = {"options": options, "compute_parties": COMPUTE}
    start, cpu = time.perf_counter(), time.process_time()
    result = mpcnet.simulate("vote", [None] * COMPUTE + ballots, params=params, seed=1)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    expected = [ballots.count(k) for k in range(options)]
    if any(out != expected for out in result.outputs):
        print(f"wrong tally at {voters} voters: {result.outputs[0]} != {expected}", file=sys.stderr)
        sys.exit(1)
    voter_stats, compute_stats = result.stats[COMPUTE:], result.stats[:COMPUTE]
    links = len(get_protocol("vote").link_pairs(COMPUTE + voters, {"compute_parties": COMPUTE}))
    return {"voters": voters, "links": links, "wall_s": wall, "cpu_s": cpu,
            "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "voter_sent": sum(s.bytes_sent for s in voter_stats) / voters,
            "voter_received": sum(s.bytes_received for s in voter_stats) / voters,
            "compute_sent": sum(s.bytes_sent for s in compute_stats) / COMPUTE / voters,
            "compute_received": sum(s.bytes_received for s in compute_stats) / COMPUTE / voters}


def main() -> None:
    """Run the sizes given and print one row each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--options", type=int, default=3)
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
          f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'voters':>7} {'links':>7} {'wall s':>7} {'CPU s':>7} {'peak RSS MB':>11} | {'voter sent':>10} "
          f"{'voter recv':>10} | {'compute sent/voter':>18} {'compute recv/voter':>18}")
    for voters in args.voters:
        r = run(voters, args.options)
        print(f"{voters:>7} {r['links']:>7} {r['wall_s']:>7.2f} {r['cpu_s']:>7.2f} {r['rss_mb']:>11.0f} | "
              f"{r['voter_sent']:>10.0f} {r['voter_received']:>10.0f} | {r['compute_sent']:>18.1f} "
              f"{r['compute_received']:>18.1f}", flush=True)


if __name__ == "__main__":
    main()
