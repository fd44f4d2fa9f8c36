"""The auction like for like with MPyC, runs interleaved.

MPyC's own auction benchmark layout: 3 parties, 3 processes on loopback,
bid j held by party j mod 3 (mpcnet: ``auction`` with ``bids=m``, each party
inputs its list; MPyC: ``mpyc_compare.py --task auction``, ``mpc.argmax``).
One mpcnet run, then one MPyC run, repeated, so both see the same machine
state; on a shared 2-core machine the load drifts within minutes, and
back-to-back blocks of runs of one system then measure the drift.

Reports every pair, the medians and the median of the per-pair ratios, and
writes them to ``results/auction_interleaved_<m>.json``.

    python benchmarks/bench_auction_interleaved.py [--bids 20] [--reps 11]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compare as bc
from bench_secure_sum import machine_info
from mpyc_compare import auction_bids

PARTIES = bc.MPYC_AUCTION_PARTIES  # MPyC's own auction layout, as in bench_compare


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bids", type=int, default=20)
    ap.add_argument("--reps", type=int, default=11)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if not bc.have_mpyc():
        print("MPyC is not installed (pip install 'mpcnet[bench]')", file=sys.stderr)
        return 1
    m = args.bids
    bids = auction_bids(args.seed, m)
    held, expected = bc.auction_layout(bids, PARTIES)
    pairs = []
    for r in range(args.reps):
        ours = bc.mpcnet_processes_once("auction", held, {"bits": bc.BITS, "bids": m}, len(held))
        bc.check_outputs(ours["outputs"], expected, f"mpcnet auction, {m} bids")
        theirs = bc.mpyc_once("auction", PARTIES, m, args.seed)
        pairs.append({"mpcnet_ms": ours["time_s"] * 1000, "mpyc_ms": theirs["time_s"] * 1000,
                      "mpcnet_rounds": ours["rounds"], "mpcnet_bytes_per_party": ours["bytes_sent_per_party"],
                      "mpyc_bytes_per_party": theirs["bytes_sent_per_party"]})
        p = pairs[-1]
        print(f"run {r + 1}/{args.reps}: mpcnet {p['mpcnet_ms']:.1f} ms, MPyC {p['mpyc_ms']:.1f} ms, "
              f"MPyC/mpcnet {p['mpyc_ms'] / p['mpcnet_ms']:.1f}x", flush=True)
    ours_med = statistics.median(p["mpcnet_ms"] for p in pairs)
    theirs_med = statistics.median(p["mpyc_ms"] for p in pairs)
    ratio_med = statistics.median(p["mpyc_ms"] / p["mpcnet_ms"] for p in pairs)
    summary = (f"{m} bids, {PARTIES} processes each, {args.reps} interleaved runs: mpcnet median {ours_med:.1f} ms "
               f"({pairs[0]['mpcnet_rounds']} rounds), MPyC median {theirs_med:.1f} ms; ratio of medians "
               f"{theirs_med / ours_med:.1f}x, median of per-run ratios {ratio_med:.1f}x")
    print(summary)
    out = Path(__file__).resolve().parent / "results" / f"auction_interleaved_{m}.json"
    out.write_text(json.dumps({"machine": machine_info(), "bids": m, "runs": pairs, "summary": summary}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
