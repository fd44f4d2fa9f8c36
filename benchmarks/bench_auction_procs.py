"""One sealed-bid auction with every party a separate `mpcnet party` process.

3 compute parties plus one input-only bidder process per bid
(`compute_parties=3`), and the 3-party variant where every party bids and
computes. Reports the compute parties' protocol time (SessionStats.wall_time,
measured after run_party's start barrier) per run.

    python benchmarks/bench_auction_procs.py [--bids 3,20] [--reps 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

# The same key/roster/CLI helpers as the other process benchmarks.
from bench_secure_sum import make_deployment, mpcnet_cli


def run_once(names: list[str], inputs: list[object], params: list[str]) -> dict[str, dict]:
    tmp = Path(tempfile.mkdtemp(prefix="mpcnet-auction-"))
    roster, keys = make_deployment(tmp, names)
    extra = [x for p in params for x in ("--param", p)]
    procs = {n: subprocess.Popen(mpcnet_cli("party", "auction", "--roster", str(roster), "--id", n, "--key",
                                            str(keys[n]), "--input-json", json.dumps(v), "--json", *extra),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n, v in zip(names, inputs, strict=True)}
    out = {}
    for n, p in procs.items():
        stdout, stderr = p.communicate(timeout=300)
        if p.returncode != 0:
            raise SystemExit(f"{n} failed: {stderr.strip()}")
        out[n] = json.loads(stdout)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bids", default="3,5,9,20")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    for m in [int(x) for x in args.bids.split(",")]:
        names = ["c0", "c1", "c2"] + [f"b{i}" for i in range(m)]
        bids = [1000 + 7 * i for i in range(m)]
        times, rounds = [], None
        for _ in range(args.reps):
            out = run_once(names, [None, None, None, *bids], ["compute_parties=3"])
            expect = {"winner": 3 + bids.index(max(bids)), "price": max(bids)}
            assert all(o["output"] == expect for o in out.values()), "wrong result"
            times.append(max(out[c]["stats"]["wall_time"] for c in names[:3]) * 1000)
            rounds = out["c0"]["stats"]["rounds"]
        print(f"{m:3} bids, 3 compute + {m} bidder processes: median {statistics.median(times):6.1f} ms "
              f"(runs {', '.join(f'{t:.1f}' for t in times)}), {rounds} rounds")
        if m == 3:
            times = []
            for _ in range(args.reps):
                out = run_once(["a", "b", "c"], bids, [])
                times.append(max(o["stats"]["wall_time"] for o in out.values()) * 1000)
            print(f"{m:3} bids, 3 bidder-compute processes:   median {statistics.median(times):6.1f} ms "
                  f"(runs {', '.join(f'{t:.1f}' for t in times)})")


if __name__ == "__main__":
    main()
