"""Benchmark the three-party replicated engine: batched 32-bit comparisons ``x < y``.

Usage::

    python benchmarks/bench_replicated.py [--batches 10000,100000,1000000] [--runs 3]
                                          [--transport tcp] [--profile] [--json OUT]

Party 0 holds the x's, party 1 the y's, party 2 helps; all three compute.
Each run is one session of the protocol ``bench-replicated-compare``
(defined here, on :mod:`mpcnet.mpc.replicated` and
:mod:`mpcnet.mpc.bitcircuits`): both operand holders input their values as
bit-sliced binary sharings (1 round), the comparison circuit runs
(1 + ceil(log2 32) = 6 AND rounds) and the result is opened to all (1 round).
All three parties run in this process (``mpcnet.simulate``), over
Noise-encrypted TCP on loopback by default (``--transport memory`` for the
in-memory mesh), so the three parties share this process's one core:
a three-process run would spread them over the machine's cores.

Time = the slowest party's ``SessionStats.wall_time`` (the protocol, not the
process start); rate = batch / time; bytes per comparison per party = the
largest ``bytes_sent`` of the three over the batch. Medians over ``--runs``.
Every result is checked against the plaintext (exit 1 on a wrong answer).
``--profile`` prints where the time of one run at the largest batch goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import sys
from typing import Any

import numpy as np

import mpcnet
from mpcnet import Context, protocol
from mpcnet.mpc import bitcircuits
from mpcnet.mpc.replicated import ReplicatedEngine

BITS = 32


@protocol("bench-replicated-compare", min_parties=3, max_parties=3,
          security="semi-honest; one corruption among three (replicated sharing, AFLNO CCS 2016)",
          reveals="the element-wise result of x < y, to every party",
          input="party 0: x, party 1: y (uint32 arrays of equal length); party 2: null", output="a bool array",
          params=(mpcnet.Param("length", int, 1, "elements per operand"),))
async def bench_compare(ctx: Context, value: Any, *, length: int) -> Any:
    """x < y on three parties with bit-sliced replicated shares."""
    eng = ReplicatedEngine(ctx)
    shared = await bitcircuits.input_bits(eng, {ctx.parties[0]: length, ctx.parties[1]: length}, value, BITS)
    result = await bitcircuits.less_than(eng, shared[ctx.parties[0]], shared[ctx.parties[1]])
    out = await bitcircuits.open_bits(eng, result, length)
    assert out is not None
    return out.astype(bool)


def one_run(batch: int, transport: str, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**32, batch, dtype=np.uint64)
    y = rng.integers(0, 2**32, batch, dtype=np.uint64)
    y[: batch // 10] = x[: batch // 10]  # some ties
    res = mpcnet.simulate("bench-replicated-compare", [x, y, None], params={"length": batch}, transport=transport)
    want = x < y
    for out in res.outputs:
        if not np.array_equal(out, want):
            print("WRONG RESULT", file=sys.stderr)
            sys.exit(1)
    seconds = max(s.wall_time for s in res.stats)
    return {"batch": batch, "seconds": seconds, "rate": batch / seconds,
            "bytes_per_cmp": [s.bytes_sent / batch for s in res.stats], "rounds": res.stats[0].rounds,
            "wall": res.wall_time}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--transport", default="tcp", choices=("tcp", "memory"))
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json")
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    rows = []
    print(f"# 32-bit x < y, 3 parties in one process over {args.transport}; load {os.getloadavg()}")
    print(f"{'batch':>9} {'time s':>8} {'cmp/s':>11} {'B/cmp/party (max)':>18} {'rounds':>6}")
    for batch in batches:
        runs = [one_run(batch, args.transport, seed) for seed in range(args.runs)]
        t = statistics.median(r["seconds"] for r in runs)
        row = {"batch": batch, "seconds": t, "rate": batch / t, "bytes_per_cmp": max(runs[0]["bytes_per_cmp"]),
               "rounds": runs[0]["rounds"], "runs": runs}
        rows.append(row)
        print(f"{batch:>9} {t:>8.3f} {batch / t:>11,.0f} {row['bytes_per_cmp']:>18.2f} {row['rounds']:>6}", flush=True)
    if args.profile:
        prof = cProfile.Profile()
        prof.enable()
        one_run(batches[-1], args.transport, 99)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        print(buf.getvalue())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"transport": args.transport, "rows": rows, "load": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
