"""Issue 18's table: 32-bit comparisons with three processes, mpcnet's engines and MPyC in one run.

Usage::

    python benchmarks/bench_side_by_side.py [--runs 3] [--mpyc 10000] [--mpyc-runs 1]
                                            [--replicated 10000,100000,1000000] [--shamir 10000,100000]
                                            [--toolkit 10000,100000,1000000] [--quick] [--no-mpyc] [--json OUT]

Every row is three OS processes on loopback, 32-bit ``x < y``, party 0
holding the x's and party 1 the y's; time = the slowest party's protocol
time (after connecting), median over ``--runs``:

* **MPyC 0.11** (``--mpyc N``, default 10^4): ``mpyc_compare.py --task
  compare`` (``bench_compare.py``'s runner): ``secint32`` arrays,
  ``mpc.np_less``, input from parties 0 and 1, opened to all; gmpy2 if it is
  installed. Needs ``pip install 'mpcnet[bench]'``; skipped with a note if
  MPyC is missing.
* **the replicated engine** (``--replicated``): ``bench_replicated.py
  --mode processes`` (bit-sliced replicated sharing, ``mpcnet.run_party`` per
  process); its own JSON rows are read back.
* **the Shamir compare protocol** (``--shamir``): ``compare`` (GF(2^8),
  ``protocols/compare.py``) as three ``mpcnet party`` processes with keys, a
  roster and JSON input files (``bench_compare.py``'s runner), with
  ``engine=shamir`` where the protocol has an ``engine`` parameter.
* **the compare protocol with the toolkit's own choice** (``--toolkit``),
  ``engine=auto``: only where the protocol has that parameter.
* **MP-SPDZ** (C++): not run; its ~280k/s (replicated ring with a
  three-party binary split, ``/work/shared/ANCHORS.md``) is the mark.

Each row gives the rate, its ratio to MPyC's rate (MPyC runs at 10^4 only:
its rate hardly depends on the batch), rounds (for MPyC: messages per peer),
and the most bytes any party sent per comparison. Every result is checked
against the plaintext (exit 1 on a wrong answer). The table goes to stdout and
``benchmarks/results/side_by_side.txt``, every run to the JSON
(``results/side_by_side.json``), with the load average at the start and end.
``--quick``: 10^3 everywhere, one run, no MPyC (a smoke test).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

#: The C++ mark, quoted (not run here): /work/shared/ANCHORS.md, "MP-SPDZ ... Replicated mod 2^64 with
#: 3-party conversion to binary shares and bit-sliced comparison: ~280k/s, ~0.1 KB per comparison per
#: party, 82 rounds".
MP_SPDZ = {"system": "MP-SPDZ (C++; ANCHORS.md, not run here)", "batch": None, "seconds": None,
           "rate": 280_000.0, "rounds": 82, "bytes_per_cmp": 100.0, "times": []}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def batches(text: str) -> list[int]:
    return [int(b) for b in text.split(",") if b]


def compare_has_engine() -> bool:
    """Whether the ``compare`` protocol takes an ``engine`` parameter (the toolkit's engine choice)."""
    from mpcnet.registry import get_protocol

    return any(p.name == "engine" for p in get_protocol("compare").params)


def mpyc_row(count: int, runs: int, seed: int) -> dict[str, Any] | None:
    import bench_compare

    if not bench_compare.have_mpyc():
        progress("NOTE: MPyC is not installed (pip install 'mpcnet[bench]'): no MPyC row")
        return None
    got = []
    for r in range(runs):
        got.append(bench_compare.mpyc_once("compare", 3, count, seed))  # checks the result itself
        progress(f"  MPyC {count}: run {r + 1}/{runs} {got[-1]['time_s']:.3f} s")
    t = statistics.median(g["time_s"] for g in got)
    return {"system": f"MPyC 0.11, secint32 arrays (gmpy2 {'on' if got[0]['gmpy2'] else 'off'})", "batch": count,
            "seconds": t, "rate": count / t, "rounds": f"{got[0]['messages_per_peer']:.0f}m",
            "bytes_per_cmp": max(g["bytes_sent_per_party"] for g in got) / count,
            "times": [g["time_s"] for g in got]}


def compare_rows(sizes: list[int], runs: int, seed: int, engine: str) -> list[dict[str, Any]]:
    """The ``compare`` protocol as three ``mpcnet party`` processes."""
    import bench_compare
    from mpyc_compare import compare_inputs

    params: dict[str, Any] = dict(bench_compare.COMPARE_PARAMS)
    if compare_has_engine():
        params["engine"] = engine
    elif engine != "shamir":
        return []
    label = ("mpcnet `compare`, Shamir over GF(2^8)" if engine == "shamir"
             else f"mpcnet `compare`, engine={engine}")
    out = []
    for batch in sizes:
        x, y = compare_inputs(seed, batch)
        expected = (x < y).tolist()
        got, failures = [], []
        for r in range(runs):
            try:
                run = bench_compare.mpcnet_processes_once("compare", [x.tolist(), y.tolist(), None], params, 3)
            except RuntimeError as exc:  # a party exited non-zero: counted and shown, not hidden
                failures.append(str(exc).strip().splitlines()[-1][:300])
                progress(f"  compare ({engine}) {batch}: run {r + 1}/{runs} FAILED: {failures[-1]}")
                continue
            if any(o != expected for o in run["outputs"]):
                raise SystemExit(f"WRONG RESULT: compare ({engine}) at {batch}")
            run.pop("outputs")
            got.append(run)
            progress(f"  compare ({engine}) {batch}: run {r + 1}/{runs} {run['time_s']:.3f} s")
        if not got:
            raise SystemExit(f"compare ({engine}) at {batch}: every run failed: {failures[-1]}")
        t = statistics.median(g["time_s"] for g in got)
        out.append({"system": label + (f" ({len(failures)} of {runs} runs failed)" if failures else ""),
                    "batch": batch, "seconds": t, "rate": batch / t, "rounds": got[0]["rounds"],
                    "bytes_per_cmp": max(g["bytes_sent_per_party"] for g in got) / batch,
                    "times": [g["time_s"] for g in got], "failures": failures, "params": params})
    return out


def replicated_rows(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    """``bench_replicated.py --mode processes`` (it checks its results), its JSON rows read back."""
    if not sizes:
        return []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rep.json"
        cmd = [sys.executable, str(HERE / "bench_replicated.py"), "--batches", ",".join(map(str, sizes)), "--runs",
               str(runs), "--mode", "processes", "--auction", "0", "--json", str(out)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            raise SystemExit(f"bench_replicated.py failed ({proc.returncode}): {proc.stderr[-2000:]}")
        rows = json.loads(out.read_text())["rows"]
    progress(proc.stdout.rstrip())
    return [{"system": "mpcnet replicated engine, bit-sliced", "batch": r["batch"], "seconds": r["seconds"],
             "rate": r["batch"] / r["seconds"], "rounds": r["rounds"], "bytes_per_cmp": r["bytes_per_cmp"],
             "times": [x["seconds"] for x in r["runs"]]} for r in rows if r.get("mode") == "processes"]


def table(rows: list[dict[str, Any]], mpyc_rate: float | None) -> str:
    head = (f"| {'system (three processes, loopback)':58} | {'batch':>9} | {'time s':>7} | {'cmp/s':>11} | "
            f"{'x MPyC':>7} | {'rounds':>6} | {'B/cmp/party':>11} |")
    lines = [head, "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"]
    for r in rows:
        ratio = f"{r['rate'] / mpyc_rate:,.0f}x" if mpyc_rate else "-"
        batch = f"{r['batch']:,}" if r["batch"] else "-"
        secs = f"{r['seconds']:.3f}" if r["seconds"] is not None else "-"
        lines.append(f"| {r['system']:58} | {batch:>9} | {secs:>7} | {r['rate']:>11,.0f} | {ratio:>7} | "
                     f"{r['rounds']!s:>6} | {r['bytes_per_cmp']:>11.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3, help="runs of each mpcnet row (median)")
    ap.add_argument("--mpyc", type=int, default=10_000, help="MPyC's batch (0: no MPyC row)")
    ap.add_argument("--mpyc-runs", type=int, default=1, help="MPyC runs (~4 s each at 10^4)")
    ap.add_argument("--no-mpyc", action="store_true")
    ap.add_argument("--replicated", default="10000,100000,1000000")
    ap.add_argument("--shamir", default="10000,100000")
    ap.add_argument("--toolkit", default="10000,100000,1000000", help="compare with engine=auto (if it has one)")
    ap.add_argument("--quick", action="store_true", help="10^3 everywhere, one run, no MPyC (smoke test)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", metavar="OUT")
    args = ap.parse_args(argv)
    if args.quick:
        args.runs, args.mpyc, args.replicated, args.shamir, args.toolkit = 1, 0, "1000", "1000", "1000"
    if args.no_mpyc:
        args.mpyc = 0
    started = {"utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load": loadavg()}
    progress(f"start {started['utc']} UTC, load {started['load']}")
    rows: list[dict[str, Any]] = []
    mpyc = mpyc_row(args.mpyc, args.mpyc_runs, args.seed) if args.mpyc else None
    if mpyc:
        rows.append(mpyc)
    rows += compare_rows(batches(args.shamir), args.runs, args.seed, "shamir")
    rows += replicated_rows(batches(args.replicated), args.runs)
    rows += compare_rows(batches(args.toolkit), args.runs, args.seed, "auto")
    rows.append(dict(MP_SPDZ))
    mpyc_rate = mpyc["rate"] if mpyc else None
    for r in rows:
        r["ratio_to_mpyc"] = r["rate"] / mpyc_rate if mpyc_rate else None
    ended = {"utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "load": loadavg()}
    text = (table(rows, mpyc_rate) + f"\n\n{started['utc']} -> {ended['utc'][11:]} UTC; load average (1, 5, 15 min) "
            f"{started['load']} at the start, {ended['load']} at the end; {os.cpu_count()} CPUs; medians of "
            f"{args.runs} (MPyC: {args.mpyc_runs})")
    print(text)
    out = Path(args.json) if args.json else HERE / "results" / "side_by_side.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "started": started, "ended": ended, "args": vars(args)}, indent=1) + "\n")
    if not args.json:
        out.with_suffix(".txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
