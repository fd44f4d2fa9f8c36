"""Private inference side by side: mpcnet's ``mlp-predict`` and MPyC 0.11's
``secfxp`` on the same model and queries, in one run.

    python benchmarks/bench_mlp.py [--parties 2 3] [--single-reps 3] [--queries 0] [--no-mpyc]
        [--json benchmarks/results/mlp.json]

The model is the digits example's (``protocols/mlp/digits.py``: a 64-32-10
ReLU network trained on scikit-learn's bundled digits, features / 16), the
queries its 450 test images (``--queries N``: the first N).

* mpcnet: one worker process per party (this script with ``--worker``), each
  with its own key, a loopback roster and ``mpcnet.open_party`` (Noise over
  TCP; two parties open with ``prepare=("twoparty-setup",)``, the base OTs
  as part of bringing the connection up). The server checks its model once
  before (``protocols.mlp.protocol.checked``: the range proof; its time is
  reported as ``model_check_s``), as a server answering many sessions does.
  Then one session with all queries
  in one batch, and ``--single-reps`` sessions of one query each. Times are
  the session's own (``party.run``, after the connection is up; the slower
  party's); bytes are what each party sent (framing included); with two
  parties the engine's report splits each session into offline (no input
  needed) and online.
* MPyC 0.11 (``benchmarks/mpyc_mlp.py``): three processes on loopback, the
  same model and queries, ``secfxp``; its own time and bytes.

Every run's classes are checked against the plaintext model's (agreement
reported, with each mismatch's plaintext margin).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import trio

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from bench_compare import loadavg, run_processes  # noqa: E402
from bench_secure_sum import machine_info, make_deployment  # noqa: E402

import mpcnet  # noqa: E402
from mpcnet import Context, protocol  # noqa: E402
from protocols.mlp.digits import train_digits  # noqa: E402
from protocols.mlp.protocol import checked, predict  # noqa: E402


@protocol("bench-mlp", min_parties=2, security="benchmark", reveals="as mlp-predict", input="as mlp-predict",
          output="dict")
async def bench_mlp_protocol(ctx: Context, value: Any) -> dict[str, Any]:
    """mlp-predict's body, with the two-party engine's offline/online report."""
    report: dict[str, Any] = {}
    out = await predict(ctx, value, report=report)
    return {"classes": out, "report": report}


async def worker(name: str, index: int, roster_path: str, key_path: str, data_path: str,
                 plan: list[int]) -> None:
    roster, key = mpcnet.load_roster(roster_path), mpcnet.load_key_file(key_path)
    data = json.loads(Path(data_path).read_text())
    prepare = ("twoparty-setup",) if len(roster.parties) == 2 else ()
    # The server checks its model once, at start-up, as a server answering many sessions does (MPyC's
    # parties likewise read their inputs before the clock); the time is reported beside the sessions'.
    t = time.perf_counter()
    model = checked(data["model"]) if index == 0 else None
    print(json.dumps({"party": name, "task": "check", "time_s": time.perf_counter() - t}), flush=True)
    t = time.perf_counter()
    async with mpcnet.open_party(roster, key, prepare=prepare) as party:
        print(json.dumps({"party": name, "task": "connect", "time_s": time.perf_counter() - t}), flush=True)
        for i, count in enumerate(plan):
            mine = model if index == 0 else data["queries"][:count] if index == 1 else None
            t = time.perf_counter()
            res = await party.run("bench-mlp", mine, session_id=f"mlp-{i}-{os.getppid()}", round_timeout=600)
            elapsed = time.perf_counter() - t
            print(json.dumps({"party": name, "task": "predict", "count": count, "time_s": elapsed,
                              "rounds": res.stats.rounds, "bytes_sent": res.stats.bytes_sent,
                              "classes": res.output["classes"], **res.output["report"]}), flush=True)


def run_mpcnet(n: int, data_path: Path, plan: list[int]) -> list[dict[str, Any]]:
    """All n workers; per session the slower party's time, each party's bytes, the client's classes."""
    names = [f"p{i}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="bench-mlp-") as tmpdir:
        roster, keys = make_deployment(Path(tmpdir), names)
        cmds = [[sys.executable, __file__, "--worker", name, "--index", str(i), "--roster", str(roster),
                 "--key", str(keys[name]), "--data", str(data_path), "--plan", json.dumps(plan)]
                for i, name in enumerate(names)]
        _, outs, _ = run_processes(cmds, timeout=3600)
    per = [[json.loads(line) for line in o.splitlines() if line.startswith("{")] for o in outs]
    rows = []
    check_s = next(line["time_s"] for line in per[0] if line["task"] == "check")
    for parts in zip(*[[line for line in lines if line["task"] == "predict"] for lines in per], strict=True):
        row: dict[str, Any] = {"parties": n, "count": parts[0]["count"], "model_check_s": check_s,
                               "time_s": max(p["time_s"] for p in parts), "rounds": parts[1]["rounds"],
                               "bytes_sent": [p["bytes_sent"] for p in parts], "classes": parts[1]["classes"]}
        if n == 2:
            for k in ("offline_seconds", "online_seconds", "offline_bytes", "online_bytes", "offline_rounds",
                      "online_rounds"):
                row[k] = [p.get(k) for p in parts]
        rows.append(row)
    return rows


def agreement(classes: list[int], plain: list[int], scores: list[list[float]]) -> dict[str, Any]:
    got, want = np.asarray(classes), np.asarray(plain[:len(classes)])
    bad = np.flatnonzero(got != want)
    margins = [float(np.diff(np.sort(scores[i])[-2:])[0]) for i in bad]
    return {"agree": float(np.mean(got == want)), "mismatches": [
        {"query": int(i), "private": int(got[i]), "plain": int(want[i]), "plain_margin": m}
        for i, m in zip(bad, margins, strict=True)]}


def table(r: dict[str, Any]) -> str:
    """The side-by-side table (medians over the repetitions)."""
    lines = [f"{r['queries']} test queries; plaintext accuracy {r['plain_accuracy']:.1%}; load {r['load_before']} "
             f"-> {r['load_after']}", "",
             "| system | queries | time s (median; all) | queries/s | rounds | MB sent per party | agreement |",
             "|---|---|---|---|---|---|---|"]

    def rows(name: str, items: list[dict[str, Any]], sent_key: str) -> None:
        for c in sorted({i["count"] for i in items}, reverse=True):
            some = [i for i in items if i["count"] == c]
            times = [i["time_s"] for i in some]
            med = float(np.median(times))
            sent = " / ".join(f"{b / 1e6:.2f}" for b in some[0][sent_key])
            agree = min(i["agree"] for i in some)
            lines.append(f"| {name} | {c} | {med:.3f} ({', '.join(f'{t:.3f}' for t in times)}) | {c / med:,.0f} | "
                         f"{some[0].get('rounds', some[0].get('messages_per_peer', '-'))} | {sent} | {agree:.1%} |")

    for n in (2, 3, 4, 5):
        if f"mpcnet_{n}" in r:
            rows(f"mpcnet, {n} processes", r[f"mpcnet_{n}"], "bytes_sent")
    if isinstance(r.get("mpyc_3"), list):
        rows("MPyC 0.11 secfxp, 3 processes", r["mpyc_3"], "bytes_sent_per_party")
        for c in sorted({i["count"] for i in r["mpyc_3"]}, reverse=True):
            ours = [i["time_s"] for i in r.get("mpcnet_3", []) if i["count"] == c]
            theirs = [i["time_s"] for i in r["mpyc_3"] if i["count"] == c]
            if ours and theirs:
                lines.append(f"\nthree parties, {c} queries: mpcnet is {np.median(theirs) / np.median(ours):.1f}x "
                             f"MPyC (medians)")
    elif "mpyc_3" in r:
        lines.append(f"MPyC: {r['mpyc_3']}")
    for row in r.get("mpcnet_2", []):
        if row.get("offline_seconds"):
            lines.append(f"two parties, {row['count']} queries: offline {max(row['offline_seconds']):.3f} s, "
                         f"{max(row['offline_bytes']) / 1e6:.2f} MB, {row['offline_rounds'][0]} rounds; online "
                         f"{max(row['online_seconds']):.3f} s, {max(row['online_bytes']) / 1e6:.2f} MB, "
                         f"{row['online_rounds'][0]} rounds (per party, the larger)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parties", type=int, nargs="+", default=[2, 3])
    ap.add_argument("--single-reps", type=int, default=3)
    ap.add_argument("--queries", type=int, default=0, help="the first N test queries (default: all)")
    ap.add_argument("--no-mpyc", action="store_true")
    ap.add_argument("--mpyc-python", default=sys.executable, help="the interpreter that has MPyC 0.11")
    ap.add_argument("--mpyc-batch-runs", type=int, default=1)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker")
    ap.add_argument("--index", type=int)
    ap.add_argument("--roster")
    ap.add_argument("--key")
    ap.add_argument("--data")
    ap.add_argument("--plan")
    args = ap.parse_args(argv)
    if args.worker:
        trio.run(worker, args.worker, args.index, args.roster, args.key, args.data, json.loads(args.plan))
        return 0

    data = train_digits()
    count = args.queries or len(data["queries"])
    results: dict[str, Any] = {"machine": machine_info(), "load_before": loadavg(), "queries": count,
                               "plain_accuracy": float(np.mean(np.equal(data["plain"][:count],
                                                                        data["labels"][:count])))}
    with tempfile.TemporaryDirectory(prefix="bench-mlp-data-") as tmpdir:
        tmp = Path(tmpdir)
        data_path = tmp / "data.json"
        data_path.write_text(json.dumps({"model": data["model"], "queries": data["queries"][:count]}))
        plan = [count] + [1] * args.single_reps
        for n in args.parties:
            rows = run_mpcnet(n, data_path, plan)
            for r in rows:
                r.update(agreement(r.pop("classes"), data["plain"], data["scores"]))
                if r["count"] > 1:
                    r["queries_per_s"] = r["count"] / r["time_s"]
            results[f"mpcnet_{n}"] = rows
            results[f"load_after_mpcnet_{n}"] = loadavg()
        if not args.no_mpyc:
            try:
                from mpyc_mlp import run_mpyc_mlp
                (tmp / "model.json").write_text(json.dumps(data["model"]))
                (tmp / "queries.json").write_text(json.dumps(data["queries"][:count]))
                mpyc_rows = []
                for c, runs in ((count, args.mpyc_batch_runs), (1, args.single_reps)):
                    for _ in range(runs):
                        row = run_mpyc_mlp(str(tmp / "model.json"), str(tmp / "queries.json"), parties=3,
                                           timeout=3600, count=c, python=args.mpyc_python)
                        row.update(agreement(row.pop("classes"), data["plain"], data["scores"]))
                        row["load"] = loadavg()
                        mpyc_rows.append(row)
                results["mpyc_3"] = mpyc_rows
            except Exception as exc:  # reported, not fatal: the table says so
                results["mpyc_3"] = {"status": "failed", "error": str(exc)[-800:]}
    results["load_after"] = loadavg()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
