#!/usr/bin/env python3
"""Secure-sum time vs. network round-trip time, 4 parties on 4 hosts.

Each party runs `mpcnet party` in its own network namespace; the fault proxy
between the hosts adds RTT/2 in each direction of every link. The session
time is what each party reports (`stats.wall_time`: from the first round to
the result, mesh set-up excluded); the table shows the slowest party's,
median over the repetitions, next to rounds x RTT and rounds x RTT/2.

    sudo .venv/bin/python benchmarks/bench_rtt.py [--reps 3] [--length 1] [--rtts 0,10,50,100]

Needs root and iproute2 (mpcnet.testing.netns). Writes
benchmarks/results/rtt.json and rtt.txt.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from mpcnet.testing.netns import Testbed, unavailable_reason  # noqa: E402

NAMES = ["p0", "p1", "p2", "p3"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--length", type=int, default=1, help="vector length per party")
    p.add_argument("--rtts", default="0,10,50,100", help="RTTs in ms")
    p.add_argument("--no-save", action="store_true")
    args = p.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"bench_rtt needs network namespaces: {reason}", file=sys.stderr)
        return 2
    rows = []
    with Testbed(NAMES) as bed:
        assert bed.proxy is not None
        for rtt in (float(r) for r in args.rtts.split(",")):
            bed.proxy.reset()
            bed.proxy.set("*", delay=rtt / 2000)
            slowest, fastest, rounds, sent = [], [], 0, 0
            for _ in range(args.reps):
                inputs = {n: json.dumps([i + 1] * args.length) for i, n in enumerate(NAMES)}
                out = bed.wait(bed.start_all("secure-sum", inputs), timeout=120)
                results = [o.result for o in out.values()]
                if any(r is None for r in results):
                    raise SystemExit(f"a party failed: {[o.stderr for o in out.values()]}")
                assert all(r["output"] == [10] * args.length for r in results)
                times = [r["stats"]["wall_time"] for r in results]
                slowest.append(max(times))
                fastest.append(min(times))
                rounds = results[0]["stats"]["rounds"]
                sent = results[0]["stats"]["bytes_sent"]
            rows.append({"rtt_ms": rtt, "rounds": rounds, "bytes_sent_per_party": sent,
                         "slowest_party_ms": statistics.median(slowest) * 1000,
                         "fastest_party_ms": statistics.median(fastest) * 1000,
                         "rounds_x_rtt_ms": rounds * rtt, "rounds_x_half_rtt_ms": rounds * rtt / 2})
    lines = [f"secure-sum, 4 parties on 4 network namespaces, vector length {args.length}, "
             f"median of {args.reps} runs",
             f"{'RTT ms':>7} {'rounds':>6} {'slowest ms':>10} {'fastest ms':>10} {'rounds*RTT':>10} "
             f"{'rounds*RTT/2':>12} {'B sent/party':>12}"]
    for r in rows:
        lines.append(f"{r['rtt_ms']:>7.0f} {r['rounds']:>6} {r['slowest_party_ms']:>10.1f} "
                     f"{r['fastest_party_ms']:>10.1f} {r['rounds_x_rtt_ms']:>10.0f} {r['rounds_x_half_rtt_ms']:>12.0f} "
                     f"{r['bytes_sent_per_party']:>12}")
    text = "\n".join(lines)
    print(text)
    if not args.no_save:
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "rtt.json").write_text(json.dumps(rows, indent=2) + "\n")
        (HERE / "results" / "rtt.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
