"""Benchmark the three-party replicated engine: batched 32-bit comparisons ``x < y``.

Usage::

    python benchmarks/bench_replicated.py [--batches 10000,100000,1000000] [--runs 3]
                                          [--mode processes,tcp] [--auction 20] [--profile] [--json OUT]

Party 0 holds the x's, party 1 the y's, party 2 helps; all three compute.
Each run is one session of the protocol ``bench-replicated-compare``
(defined here, on :mod:`mpcnet.mpc.replicated` and
:mod:`mpcnet.mpc.bitcircuits`): both operand holders input their values as
bit-sliced binary sharings (1 round), the comparison circuit runs
(1 + ceil(log2 32) = 6 AND rounds) and the result is opened to all (1 round).
Modes (``--mode``, comma-separated):

* ``processes``: three OS processes (this script with ``--child``, each
  ``mpcnet.run_party`` with generated keys and a loopback roster,
  Noise-encrypted TCP), the deployment's way; each draws the operands from
  the seed itself and prints its stats and a digest of its output;
* ``tcp``: all three parties in this process (``mpcnet.simulate(...,
  transport="tcp")``), so they share one core;
* ``memory``: the same over the in-memory mesh (no encryption, no sockets).

Time = the slowest party's ``SessionStats.wall_time`` (the protocol, not the
process start); rate = batch / time. With processes, a party that starts
its session first waits for the others, so "span" is also given: from the
last party's entry into the protocol to the last party's exit (clock of the
one machine). "wall" is launch to exit of all processes (imports, keys,
connections, operand generation); bytes per comparison per party = the
largest ``bytes_sent`` of the three over the batch. Medians over ``--runs``.
``--auction B`` adds a first-price auction: the built-in ``auction``
protocol with 3 compute parties and B input-only bidders (32-bit bids), on
the replicated engine (``engine=auto``, what the toolkit picks) and, for
reference, on Shamir (``engine=shamir``); as 3 + B processes and with all
parties in this process over TCP and over memory. Time = the slowest
party's session wall time (bidders wait for the result), "compute" = the
slowest compute party's, "span" = from the last party's entry into the
protocol to the last party's exit (in one process the first parties to
start also wait for the others' setup, which is not the protocol's time).
Every result is checked against the plaintext (exit 1 on a wrong answer).
``--profile`` prints where the time of one run at the largest batch goes.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import mpcnet
from mpcnet import Context, protocol
from mpcnet.mpc import RESULT_ROUND, bitcircuits
from mpcnet.mpc.replicated import ReplicatedEngine

BITS = 32
#: time.time() when this process's party entered and left the protocol (the processes mode reports them).
MARKS: dict[str, float] = {}


@protocol("bench-replicated-compare", min_parties=3, max_parties=3,
          security="semi-honest; one corruption among three (replicated sharing, AFLNO CCS 2016)",
          reveals="the element-wise result of x < y, to every party",
          input="party 0: x, party 1: y (uint32 arrays of equal length); party 2: null", output="a bool array",
          params=(mpcnet.Param("length", int, 1, "elements per operand"),))
async def bench_compare(ctx: Context, value: Any, *, length: int) -> Any:
    """x < y on three parties with bit-sliced replicated shares."""
    MARKS["start"] = time.time()
    eng = ReplicatedEngine(ctx)
    shared = await bitcircuits.input_bits(eng, {ctx.parties[0]: length, ctx.parties[1]: length}, value, BITS)
    result = await bitcircuits.less_than(eng, shared[ctx.parties[0]], shared[ctx.parties[1]])
    out = await bitcircuits.open_bits(eng, result, length)
    assert out is not None
    MARKS["end"] = time.time()
    return out.astype(bool)


#: (party, protocol entry time.time(), exit time.time()) of the auction sessions of this process.
AUCTION_MARKS: list[tuple[str, float, float]] = []


def mark_auction() -> None:
    """Record each party's entry into and exit from the ``auction`` protocol
    (for the span; the protocol itself is unchanged)."""
    spec = mpcnet.get_protocol("auction")
    inner = spec.func
    if getattr(inner, "marked", False):
        return

    async def marked(ctx: Context, value: Any, **params: Any) -> Any:
        start = time.time()
        out = await inner(ctx, value, **params)
        AUCTION_MARKS.append((ctx.me, start, time.time()))
        return out

    marked.marked = True  # type: ignore[attr-defined]
    object.__setattr__(spec, "func", marked)


@protocol("bench-auction-floor", min_parties=4, links=lambda params, n, i, j: i < 3 or j < 3,
          security="none: a timing baseline that sends zeros", reveals="nothing",
          input="parties 0-2: null; every other party: anything", output="1")
async def bench_floor(ctx: Context, value: Any) -> int:
    """The auction's message pattern without its computation: every bidder
    sends each compute party a bid-sized array (round 1), every compute party
    sends each bidder a result-sized one (the result round). Its time is the
    floor under the auction's: what two rounds among 3 + B parties cost."""
    start = time.time()
    compute = ctx.parties[:3]
    if ctx.me in compute:
        await ctx.exchange({}, expect_from=ctx.parties[3:])
        ctx.skip_to_round(RESULT_ROUND)
        await ctx.exchange({p: np.zeros(40, dtype=np.uint64) for p in ctx.parties if p != ctx.me},
                           expect_from=[p for p in compute if p != ctx.me])
    else:
        await ctx.exchange({p: np.zeros((2, 1, 16), dtype=np.uint64) for p in compute}, expect_from=())
        ctx.skip_to_round(RESULT_ROUND)
        await ctx.exchange({}, expect_from=compute)
    AUCTION_MARKS.append((ctx.me, start, time.time()))
    return 1


def floor_run(bids: int, transport: str) -> dict[str, Any]:
    """The floor protocol, all parties in this process."""
    AUCTION_MARKS.clear()
    res = mpcnet.simulate("bench-auction-floor", [None] * 3 + [0] * bids, transport=transport)
    span = max(e for _, _, e in AUCTION_MARKS) - max(s for _, s, _ in AUCTION_MARKS)
    return {"bids": bids, "seconds": max(s.wall_time for s in res.stats),
            "compute_seconds": max(s.wall_time for s in res.stats[:3]), "rounds": res.stats[0].rounds,
            "span": span, "bytes_max": max(s.bytes_sent for s in res.stats)}


def auction_params(engine: str) -> dict[str, Any]:
    return {"bits": BITS, "compute_parties": 3, "engine": engine}


def auction_bids(bids: int, seed: int) -> list[int]:
    return [int(v) for v in np.random.default_rng(seed).integers(0, 2**32, bids)]


def check_auction(values: list[int], outputs: Any) -> None:
    win = values.index(max(values))
    if any(o != {"winner": 3 + win, "price": max(values)} for o in outputs):
        wrong()


def auction_run(bids: int, transport: str, seed: int, engine: str) -> dict[str, Any]:
    """One first-price auction: 3 compute parties and ``bids`` input-only bidders, all in this process."""
    mark_auction()
    values = auction_bids(bids, seed)
    AUCTION_MARKS.clear()
    res = mpcnet.simulate("auction", [None] * 3 + values, params=auction_params(engine), transport=transport)
    check_auction(values, res.outputs)
    span = max(e for _, _, e in AUCTION_MARKS) - max(s for _, s, _ in AUCTION_MARKS)
    return {"bids": bids, "seconds": max(s.wall_time for s in res.stats),
            "compute_seconds": max(s.wall_time for s in res.stats[:3]), "rounds": res.stats[0].rounds,
            "span": span, "bytes_max": max(s.bytes_sent for s in res.stats)}


def operands(batch: int, seed: int) -> tuple[Any, Any]:
    """The x's and y's of one run (a tenth of them ties)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 2**32, batch, dtype=np.uint64)
    y = rng.integers(0, 2**32, batch, dtype=np.uint64)
    y[: batch // 10] = x[: batch // 10]
    return x, y


def digest(bits: Any) -> str:
    return hashlib.sha256(np.packbits(np.asarray(bits, dtype=bool)).tobytes()).hexdigest()


def wrong() -> None:
    print("WRONG RESULT", file=sys.stderr)
    sys.exit(1)


def one_run(batch: int, transport: str, seed: int) -> dict[str, Any]:
    """All three parties in this process."""
    x, y = operands(batch, seed)
    res = mpcnet.simulate("bench-replicated-compare", [x, y, None], params={"length": batch}, transport=transport)
    if any(not np.array_equal(out, x < y) for out in res.outputs):
        wrong()
    seconds = max(s.wall_time for s in res.stats)
    return {"batch": batch, "seconds": seconds, "rate": batch / seconds, "span": seconds,
            "bytes_per_cmp": [s.bytes_sent / batch for s in res.stats], "rounds": res.stats[0].rounds,
            "wall": res.wall_time}


def launch(count: int, child_args: list[str]) -> tuple[list[dict[str, Any]], float]:
    """Run ``count`` parties p0.. as processes of this script (``--child``) on a
    loopback roster with fresh keys; (their JSON lines, launch-to-exit seconds)."""
    from mpcnet.identity import format_public_key, generate_key, write_key_file

    with tempfile.TemporaryDirectory() as tmp:
        names = [f"p{i}" for i in range(count)]
        socks = [socket.socket() for _ in names]
        for sock in socks:  # bound together, so distinct; released just before the parties bind them
            sock.bind(("127.0.0.1", 0))
        ports = [sock.getsockname()[1] for sock in socks]
        for sock in socks:
            sock.close()
        lines = []
        for name, port in zip(names, ports, strict=True):
            key = generate_key(name)
            write_key_file(key, Path(tmp) / "keys")
            lines += [f"[parties.{name}]", f'address = "127.0.0.1:{port}"',
                      f'public_key = "{format_public_key(key.public)}"', ""]
        (Path(tmp) / "roster.toml").write_text("\n".join(lines))
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, __file__, "--child", name, "--dir", tmp, *child_args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in names]
        outs = []
        for p in procs:
            out, err = p.communicate(timeout=600)
            if p.returncode:
                raise RuntimeError(f"a party exited {p.returncode}: {err[-2000:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
        return outs, time.perf_counter() - start


def processes_run(batch: int, seed: int) -> dict[str, Any]:
    """Three processes on loopback, each one party."""
    outs, wall = launch(3, ["--batches", str(batch), "--seed", str(seed)])
    x, y = operands(batch, seed)
    if any(o["digest"] != digest(x < y) for o in outs):
        wrong()
    seconds = max(o["wall_time"] for o in outs)
    # From the last party's start to the last party's end: without the start skew of the processes.
    span = max(o["end"] for o in outs) - max(o["start"] for o in outs)
    return {"batch": batch, "seconds": seconds, "rate": batch / seconds, "span": span,
            "bytes_per_cmp": [o["bytes_sent"] / batch for o in outs], "rounds": outs[0]["rounds"],
            "wall": wall}


def auction_processes_run(bids: int, seed: int, engine: str) -> dict[str, Any]:
    """One first-price auction, every party a process (bidders linked to the compute parties only)."""
    outs, wall = launch(3 + bids, ["--auction", str(bids), "--seed", str(seed), "--engine", engine])
    check_auction(auction_bids(bids, seed), [o["output"] for o in outs])
    return {"bids": bids, "seconds": max(o["wall_time"] for o in outs),
            "compute_seconds": max(o["wall_time"] for o in outs[:3]), "rounds": outs[0]["rounds"],
            "span": max(o["end"] for o in outs) - max(o["start"] for o in outs),
            "bytes_max": max(o["bytes_sent"] for o in outs), "wall": wall}


def child(name: str, directory: str, batch: int, seed: int, auction: int, engine: str) -> None:
    """One party of :func:`launch`: prints its stats and output (digest) as JSON."""
    from mpcnet.identity import load_key_file, load_roster

    if auction:
        index = int(name[1:])
        mark_auction()
        res = mpcnet.run_party("auction", None if index < 3 else auction_bids(auction, seed)[index - 3],
                               roster=load_roster(Path(directory) / "roster.toml"),
                               key=load_key_file(Path(directory) / "keys" / f"{name}.key"),
                               params=auction_params(engine))
        [(_, start, end)] = AUCTION_MARKS
        print(json.dumps({**res.stats.to_dict(), "output": res.output, "start": start, "end": end}))
        return
    x, y = operands(batch, seed)
    value = {"p0": x, "p1": y}.get(name)
    res = mpcnet.run_party("bench-replicated-compare", value, roster=load_roster(Path(directory) / "roster.toml"),
                           key=load_key_file(Path(directory) / "keys" / f"{name}.key"), params={"length": batch})
    print(json.dumps({**res.stats.to_dict(), "digest": digest(res.output), **MARKS}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batches", default="10000,100000,1000000")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--mode", default="processes,tcp")
    ap.add_argument("--auction", type=int, default=20, help="bids in the auction row (0: none)")
    ap.add_argument("--engines", default="auto,shamir", help="the auction's engines (auto: replicated here)")
    ap.add_argument("--engine", default="auto", help=argparse.SUPPRESS)
    ap.add_argument("--floor", action="store_true", help="add the auction's two-round message pattern without "
                    "computation (in this process), the floor under its time")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.child:
        child(args.child, args.dir, batches[0], args.seed, args.auction if "--auction" in sys.argv else 0,
              args.engine)
        return
    rows = []
    print(f"# 32-bit x < y, three parties; load average at start {os.getloadavg()}")
    print(f"{'mode':>10} {'batch':>9} {'time s':>8} {'cmp/s':>11} {'span s':>7} {'cmp/s':>11} {'B/cmp/party (max)':>18}"
          f" {'rounds':>6} {'wall s':>7}")
    for mode in args.mode.split(","):
        for batch in batches:
            runs = [processes_run(batch, seed) if mode == "processes" else one_run(batch, mode, seed)
                    for seed in range(args.runs)]
            t = statistics.median(r["seconds"] for r in runs)
            row = {"mode": mode, "batch": batch, "seconds": t, "rate": batch / t,
                   "bytes_per_cmp": max(runs[0]["bytes_per_cmp"]), "rounds": runs[0]["rounds"], "runs": runs}
            rows.append(row)
            wall = statistics.median(r["wall"] for r in runs)
            span = statistics.median(r["span"] for r in runs)
            print(f"{mode:>10} {batch:>9} {t:>8.3f} {batch / t:>11,.0f} {span:>7.3f} {batch / span:>11,.0f}"
                  f" {row['bytes_per_cmp']:>18.2f} {row['rounds']:>6} {wall:>7.2f}", flush=True)
    if args.auction:
        print(f"# first-price auction (protocol 'auction'), {args.auction} input-only bidders, 3 compute parties;"
              f" load average {os.getloadavg()}")
        print(f"{'engine':>8} {'mode':>10} {'bids':>5} {'time ms':>8} {'compute ms':>10} {'span ms':>8} {'rounds':>6}"
              f" {'max bytes sent':>14}")
        for engine in [*args.engines.split(","), *(["floor"] if args.floor else [])]:
            for mode in [m for m in ("processes", "tcp", "memory") if m in args.mode.split(",")]:
                if engine == "floor" and mode == "processes":
                    continue
                runs = [floor_run(args.auction, mode) if engine == "floor"
                        else auction_processes_run(args.auction, seed, engine) if mode == "processes"
                        else auction_run(args.auction, mode, seed, engine) for seed in range(args.runs)]
                t = statistics.median(r["seconds"] for r in runs)
                tc = statistics.median(r["compute_seconds"] for r in runs)
                span = statistics.median(r["span"] for r in runs)
                rows.append({"mode": mode, "engine": engine, "auction_bids": args.auction, "seconds": t,
                             "compute_seconds": tc, "span": span, "runs": runs})
                print(f"{engine:>8} {mode:>10} {args.auction:>5} {1000 * t:>8.1f} {1000 * tc:>10.1f} {1000 * span:>8.1f}"
                      f" {runs[0]['rounds']:>6} {runs[0]['bytes_max']:>14}", flush=True)
    if args.profile:
        # One party's share of the work is a third of this (all three run here).
        prof = cProfile.Profile()
        prof.enable()
        one_run(batches[-1], "tcp", 99)
        prof.disable()
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
        print(buf.getvalue())
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "load": os.getloadavg()}, f, indent=1)


if __name__ == "__main__":
    main()
