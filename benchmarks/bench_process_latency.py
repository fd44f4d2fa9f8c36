"""Whole-process latency, mpcnet against MPyC 0.11: from starting three party
processes to the exit of the last one, runs interleaved.

Two jobs, each as three processes on loopback, MPyC's usual way:

- **secure sum** of one 32-bit integer per party: ``mpcnet party secure-sum``
  (a one-element vector each) against ``mpyc_sum.py --length 1`` (secure
  arrays, ``mpc.input`` / ``+`` / ``mpc.output``);
- **auction of 20 bids** in MPyC's own layout (bid j held by party j mod 3):
  ``mpcnet party auction --param bids=20`` against ``mpyc_compare.py --task
  auction`` (``mpc.argmax``).

One mpcnet run, then one MPyC run of the same job, repeated, so both see the
same machine state. Per run: the whole-process time (the first ``Popen`` to
the last exit, imports and connection set-up included), the protocol time each
system reports, and per process the *exit lag*: how long it lived after it
wrote its result line, and for mpcnet also after its session ended (its ``-v``
log; the CLI closes its links before it prints). Every result is checked.

The child processes run without ``PYTHONDONTWRITEBYTECODE`` (which some
environments set): an installed package has its bytecode cached, and without
the cache every run would compile mpcnet's modules again (~0.3 s here), while
MPyC, installed by pip, has its own. One warm-up run of each job is not
counted.

    python benchmarks/bench_process_latency.py [--reps 7] [--bids 20] [--json OUT]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_compare as bc
from bench_secure_sum import free_ports, last_json_line, machine_info, party_input, sha_of
from mpyc_compare import auction_bids

HERE = Path(__file__).resolve().parent
PARTIES = 3
TIMEOUT = 120.0
_SESSION_END = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\bsession_end\b.*\bprotocol=(?!ready\b)")


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_timed(cmds: list[list[str]]) -> dict[str, Any]:
    """Start every command at once. Returns the whole-process time, and per
    process its stdout, stderr, when its last stdout line arrived and when it
    exited (wall-clock seconds since the epoch). Raises on a failure."""
    start = time.time()
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
             for c in cmds]
    info: list[dict[str, Any]] = [{"out": [], "err": ""} for _ in procs]

    def watch(k: int, p: subprocess.Popen[str]) -> None:
        assert p.stdout is not None and p.stderr is not None
        err = threading.Thread(target=lambda: info[k].__setitem__("err", p.stderr.read()))  # type: ignore[union-attr]
        err.start()
        for line in p.stdout:
            info[k]["out"].append(line)
            info[k]["line_at"] = start + (time.perf_counter() - t0)
        p.wait()
        info[k]["exit_at"] = start + (time.perf_counter() - t0)
        err.join()

    threads = [threading.Thread(target=watch, args=(k, p)) for k, p in enumerate(procs)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join(timeout=TIMEOUT)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for cmd, p, i in zip(cmds, procs, info, strict=True):
        if p.returncode != 0 or "exit_at" not in i:
            raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {p.returncode}:\n{i['err'].strip()[-2000:]}")
    return {"whole_s": max(i["exit_at"] for i in info) - start, "procs": info}


def _session_end(err: str) -> float | None:
    """When the protocol session ended, from a party's ``-v`` log (local time, ms)."""
    end = None
    for line in err.splitlines():
        m = _SESSION_END.match(line)
        if m:
            # the log line is written when the session ends; its "seconds=" is the session's own length
            end = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
    return end


def mpcnet_once(protocol: str, inputs: list[Any], params: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mpcnet-latency-") as tmpdir:
        cmds = bc.party_commands(Path(tmpdir), protocol, inputs, params)
        run = run_timed(cmds)
    parties = [last_json_line("".join(p["out"])) for p in run["procs"]]
    ends = [_session_end(p["err"]) for p in run["procs"]]
    return {"whole_s": run["whole_s"], "outputs": [p["output"] for p in parties],
            "protocol_s": max(p["stats"]["wall_time"] for p in parties),
            "exit_after_output_s": max(p["exit_at"] - p["line_at"] for p in run["procs"]),
            "exit_after_session_s": (max(p["exit_at"] - e for p, e in zip(run["procs"], ends, strict=True))
                                     if None not in ends else None)}


def mpyc_once(script: str, args: list[str]) -> dict[str, Any]:
    ports = free_ports(PARTIES)
    addr = [a for p in ports for a in ("-P", f"localhost:{p}")]
    cmds = [[sys.executable, str(HERE / script), *args, f"-M{PARTIES}", f"-I{i}", *addr, "--no-log"]
            for i in range(PARTIES)]
    run = run_timed(cmds)
    parties = [last_json_line("".join(p["out"])) for p in run["procs"]]
    return {"whole_s": run["whole_s"], "parties": parties, "protocol_s": max(p["time_s"] for p in parties),
            "exit_after_output_s": max(p["exit_at"] - p["line_at"] for p in run["procs"])}


def sum_job(seed: int) -> tuple[Any, Any]:
    values = [party_input(seed, i, 1) for i in range(PARTIES)]
    expected = int(np.sum(values))

    def ours() -> dict[str, Any]:
        r = mpcnet_once("secure-sum", [v.tolist() for v in values], {})
        if any(o != [expected] for o in r["outputs"]):
            raise bc.WrongResult("mpcnet secure-sum: wrong sum")
        return r

    def theirs() -> dict[str, Any]:
        r = mpyc_once("mpyc_sum.py", ["--length", "1", "--seed", str(seed)])
        want = sha_of(np.array([expected], dtype=np.int64))
        if any(p["result_sha256"] != want for p in r["parties"]):
            raise bc.WrongResult("MPyC secure sum: wrong sum")
        return r

    return ours, theirs


def auction_job(seed: int, m: int) -> tuple[Any, Any]:
    bids = auction_bids(seed, m)
    held, expected = bc.auction_layout(bids, PARTIES)

    def ours() -> dict[str, Any]:
        r = mpcnet_once("auction", held, {"bits": bc.BITS, "bids": m})
        bc.check_outputs(r["outputs"], expected, f"mpcnet auction, {m} bids")
        return r

    def theirs() -> dict[str, Any]:
        r = mpyc_once("mpyc_compare.py", ["--task", "auction", "--count", str(m), "--seed", str(seed)])
        for p in r["parties"]:
            if (p["winner"], p["price"]) != (int(np.argmax(bids)), int(bids.max())):
                raise bc.WrongResult(f"MPyC auction, {m} bids: wrong result")
        return r

    return ours, theirs


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    xs = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(xs) if xs else None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--bids", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "process_latency.json")
    ap.add_argument("--no-mpyc", action="store_true", help="time mpcnet alone (a smoke test: no ratio)")
    args = ap.parse_args()
    if not args.no_mpyc and not bc.have_mpyc():
        print("MPyC is not installed (pip install 'mpcnet[bench]'), or pass --no-mpyc", file=sys.stderr)
        return 1
    machine = machine_info()
    jobs = {"secure sum, 3 parties": sum_job(args.seed),
            f"auction, {args.bids} bids, 3 parties": auction_job(args.seed, args.bids)}
    results: dict[str, Any] = {}
    for name, (ours, theirs) in jobs.items():
        ours()  # warm-up: bytecode caches, page cache
        if not args.no_mpyc:
            theirs()
        pairs = []
        for r in range(args.reps):
            a = ours()
            a.pop("outputs")
            line = (f"{name} run {r + 1}/{args.reps}: whole process mpcnet {a['whole_s'] * 1000:.0f} ms; exit after "
                    f"output {a['exit_after_output_s'] * 1000:.1f} ms (after session end "
                    f"{(a['exit_after_session_s'] or float('nan')) * 1000:.0f} ms)")
            pair: dict[str, Any] = {"mpcnet": a}
            if not args.no_mpyc:
                b = theirs()
                b.pop("parties")
                pair["mpyc"] = b
                line += f"; MPyC whole {b['whole_s'] * 1000:.0f} ms, exit after output {b['exit_after_output_s'] * 1000:.1f} ms"
            pairs.append(pair)
            print(line, file=sys.stderr, flush=True)
        ours_runs = [p["mpcnet"] for p in pairs]
        res: dict[str, Any] = {"pairs": pairs, "mpcnet": {k: _median(ours_runs, k) for k in ours_runs[0]}}
        if args.no_mpyc:
            res["mpyc"] = {"status": "skipped (--no-mpyc)"}
        else:
            theirs_runs = [p["mpyc"] for p in pairs]
            res["mpyc"] = {k: _median(theirs_runs, k) for k in theirs_runs[0]}
            res["ratio_whole_mpcnet_over_mpyc"] = statistics.median(p["mpcnet"]["whole_s"] / p["mpyc"]["whole_s"]
                                                                    for p in pairs)
        results[name] = res
    print(f"{args.reps} interleaved runs per job (medians; ratio = median of per-run mpcnet/MPyC ratios)")
    print(f"{'job':<28} {'system':<7} {'whole ms':>9} {'protocol ms':>12} {'exit after output ms':>21} "
          f"{'exit after session ms':>22}")
    for name, res in results.items():
        for system in ("mpcnet", "mpyc"):
            d = res[system]
            if "status" in d:
                print(f"{name:<28} {system:<7} {d['status']}")
                continue
            after = d.get("exit_after_session_s")
            print(f"{name:<28} {system:<7} {d['whole_s'] * 1000:9.0f} {d['protocol_s'] * 1000:12.1f} "
                  f"{d['exit_after_output_s'] * 1000:21.1f} {'-' if after is None else f'{after * 1000:.0f}':>22}")
        if "ratio_whole_mpcnet_over_mpyc" in res:
            print(f"{'':<28} ratio whole-process mpcnet/MPyC: {res['ratio_whole_mpcnet_over_mpyc']:.2f}")
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    args.json.write_text(json.dumps({"machine": machine, "reps": args.reps, "results": results}, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
