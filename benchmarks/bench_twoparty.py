"""Two parties, no dealer: mpcnet's two-party comparison side by side with
TNO's secure comparison and MPyC with two parties (no privacy), in one run.

    python benchmarks/bench_twoparty.py [--batch 100000] [--single-reps 5] [--tno-count 20]
        [--json benchmarks/results/twoparty.json]

* mpcnet: two worker processes (this script with ``--worker``), each with
  its own key, a loopback roster, ``mpcnet.open_party`` (Noise over TCP),
  then sessions of :func:`protocols.compare.compare_two` (32-bit ``x < y``):
  single comparisons (the first makes the link's base OTs, the others reuse
  the OT extension it keeps), batches of 10^4 and ``--batch`` (each after
  forgetting the kept extension, so each counts its own base OTs). Every
  session is counted whole: base OTs if any, OT extension, the online phase,
  the output; the engine's report splits it into offline (no input needed)
  and online. A session's time runs from the moment *both* parties have
  called ``party.run`` until both have its result (``time.perf_counter``,
  the system-wide monotonic clock, read in both processes on the same host):
  the time a party spends waiting for the other to *start* (still finishing
  its own connection set-up, or printing the previous result) is not the
  session's. Each party's own ``party.run`` time is reported too
  (``party_times_s``). Bytes are what the party sent (framing included).
  One OT-only session measures random OTs both ways (``OTDuplex.random``).
  Then two fresh processes open the connection with
  ``open_party(prepare=("twoparty-setup",))`` (the base OTs as part of
  bringing the connection up, before any input) and run ``--single-reps``
  single comparisons: the first takes the fast path. The connection-up
  time (``open_party`` until it yields, at the process that started
  second) is reported with and without the set-up.
* TNO ``tno.mpc.protocols.secure_comparison`` (Paillier + DGK, default key
  sizes, the protocol of Nateghizad et al.): both parties in one process,
  its steps called directly (no network: a lower bound on its time), on
  ``--tno-count`` comparisons; key generation timed apart. Run by
  ``benchmarks/tno_compare.py`` with the interpreter in ``--tno-python``
  (skipped when TNO is not installed there).
* MPyC ``-M2`` (``benchmarks/mpyc_compare.py``): two processes; with two
  parties MPyC's threshold is 0, a share is the input: *no privacy*, a
  reference only.

Inputs are those of ``mpyc_compare.compare_inputs`` (values below 2^31, so
that MPyC's secint32 compares them correctly); every result is checked.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
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

from bench_compare import have_mpyc, loadavg, mpyc_once, run_processes  # noqa: E402
from bench_secure_sum import last_json_line, machine_info, make_deployment  # noqa: E402
from mpyc_compare import compare_inputs, compare_sha  # noqa: E402

import mpcnet  # noqa: E402
from mpcnet import Context, protocol  # noqa: E402
from mpcnet.mpc import twoparty  # noqa: E402
from mpcnet.mpc.ot import OTDuplex  # noqa: E402
from protocols.compare import compare_two  # noqa: E402

BITS = 32
SEED = 7


@protocol("bench-2p-compare", min_parties=2, max_parties=2, security="benchmark", reveals="the comparisons",
          input="list of ints", output="dict")
async def bench_compare_protocol(ctx: Context, value: list[int]) -> dict[str, Any]:
    """compare_two on the party's list; returns a digest of the results and the engine's report."""
    report: dict[str, Any] = {}
    out = await compare_two(ctx, value, bits=BITS, signed=False, op="lt", max_length=10**7, report=report)
    return {"sha": compare_sha(np.asarray(out if isinstance(out, list) else [out])), "report": report}


@protocol("bench-2p-ot", min_parties=2, max_parties=2, security="benchmark", reveals="nothing", input="int",
          output="dict")
async def bench_ot_protocol(ctx: Context, value: int) -> dict[str, Any]:
    """Base OTs, then ``value`` random OTs each way in one OTDuplex round."""
    t0 = time.perf_counter()
    ot = await OTDuplex.setup(ctx, ctx.peers[0])
    t1 = time.perf_counter()
    choices = np.frombuffer(ctx.random.bytes(value), dtype=np.uint8) & 1
    await ot.random(value, choices)
    t2 = time.perf_counter()
    return {"setup_s": t1 - t0, "extend_s": t2 - t1}


async def worker(name: str, roster_path: str, key_path: str, plan: list[Any]) -> None:
    roster, key = mpcnet.load_roster(roster_path), mpcnet.load_key_file(key_path)
    # A plan starting with ["prepare", 0] opens the party with the two-party set-up (base OTs) as part of it.
    prepare = ("twoparty-setup",) if plan and plan[0][0] == "prepare" else ()
    t = time.perf_counter()
    async with mpcnet.open_party(roster, key, prepare=prepare) as party:
        print(json.dumps({"party": name, "task": "connect", "count": 0, "time_s": time.perf_counter() - t,
                          "prepare": bool(prepare)}), flush=True)
        for i, (task, count) in enumerate(plan):
            if task == "prepare":
                continue
            if task == "forget":  # the next session makes its own base OTs (both workers, same point)
                twoparty._KEPT.clear()
                continue
            if task == "ot":
                t = time.perf_counter()
                res = await party.run("bench-2p-ot", count, session_id=f"ot-{i}-{os.getppid()}")
                end = time.perf_counter()
                out = {"task": "ot", "count": count, "time_s": end - t, "start": t, "end": end, **res.output}
            else:
                x, y = compare_inputs(SEED + i, count)
                mine = (x if name == "p0" else y).tolist()
                t = time.perf_counter()
                res = await party.run("bench-2p-compare", mine, session_id=f"cmp-{i}-{os.getppid()}")
                end = time.perf_counter()
                ok = res.output["sha"] == compare_sha(x < y)
                out = {"task": "compare", "count": count, "time_s": end - t, "start": t, "end": end, "ok": ok,
                       "rounds": res.stats.rounds, "bytes_sent": res.stats.bytes_sent, **res.output["report"]}
            print(json.dumps({"party": name, **out}), flush=True)


def run_mpcnet(plan: list[Any]) -> list[dict[str, Any]]:
    """Both workers; per session its time (both started -> both done), each
    party's own ``party.run`` time and each party's figures."""
    with tempfile.TemporaryDirectory(prefix="bench-2p-") as tmpdir:
        tmp = Path(tmpdir)
        roster, keys = make_deployment(tmp, ["p0", "p1"])
        cmds = [[sys.executable, __file__, "--worker", name, "--roster", str(roster), "--key", str(keys[name]),
                 "--plan", json.dumps(plan)] for name in ("p0", "p1")]
        _, outs, _ = run_processes(cmds, timeout=1800)
    per = [[json.loads(line) for line in o.splitlines() if line.startswith("{")] for o in outs]
    rows = []
    for a, b in zip(per[0], per[1], strict=True):
        if a["task"] == "compare" and not (a["ok"] and b["ok"]):
            raise RuntimeError(f"wrong comparison results at count {a['count']}")
        if "start" in a:  # a session: from the later start to the later end (one clock, one host)
            rows.append({"p0": a, "p1": b, "time_s": max(a["end"], b["end"]) - max(a["start"], b["start"]),
                         "party_times_s": [a["time_s"], b["time_s"]]})
        else:  # the connection
            rows.append({"p0": a, "p1": b, "time_s": max(a["time_s"], b["time_s"])})
    return rows


def run_tno(python: str, count: int) -> dict[str, Any]:
    proc = subprocess.run([python, str(HERE / "tno_compare.py"), "--count", str(count), "--seed", str(SEED)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        return {"status": "failed", "error": proc.stderr.strip()[-800:]}
    return {"status": "ok", **last_json_line(proc.stdout)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=100_000)
    ap.add_argument("--single-reps", type=int, default=5)
    ap.add_argument("--ots", type=int, default=1 << 21, help="random OTs each way in the OT-only session")
    ap.add_argument("--tno-count", type=int, default=20)
    ap.add_argument("--tno-python", default=sys.executable)
    ap.add_argument("--mpyc-count", type=int, default=0, help="MPyC batch (default: --batch)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--worker")
    ap.add_argument("--roster")
    ap.add_argument("--key")
    ap.add_argument("--plan")
    args = ap.parse_args(argv)
    if args.worker:
        trio.run(worker, args.worker, args.roster, args.key, json.loads(args.plan))
        return 0

    # Single comparisons: the first makes base OTs, the others reuse its kept OT extension.
    # Before each batch the kept extension is forgotten: a batch counts its own base OTs.
    plan = ([["ot", args.ots]] + [["compare", 1]] * args.single_reps
            + [["forget", 0], ["compare", 10_000], ["forget", 0], ["compare", args.batch]])
    results: dict[str, Any] = {"machine": machine_info(), "load_before": loadavg(), "bits": BITS}
    connect, *rows = run_mpcnet(plan)
    # Single comparisons right after open_party(prepare=("twoparty-setup",)): the base OTs are part of
    # bringing the connection up (an offline phase, no input yet); the first comparison takes the fast path.
    p_connect, *p_rows = run_mpcnet([["prepare", 0]] + [["compare", 1]] * args.single_reps)

    def up_s(row: dict[str, Any]) -> float:
        # open_party's time at the party that started second (the first also waits for the other's start-up)
        return float(min(row["p0"]["time_s"], row["p1"]["time_s"]))

    results["mpcnet_prepared"] = {
        "connect_plain_s": up_s(connect), "connect_prepared_s": up_s(p_connect),
        "first_s": p_rows[0]["time_s"], "first_rounds": p_rows[0]["p0"]["rounds"],
        "first_bytes_sent": max(p_rows[0]["p0"]["bytes_sent"], p_rows[0]["p1"]["bytes_sent"]),
        "times_s": [r["time_s"] for r in p_rows], "party_times_s": [r["party_times_s"] for r in p_rows]}
    ot = rows[0]
    singles = [r for r in rows[1:] if r["p0"]["count"] == 1]
    assert all(r["p0"]["rounds"] == 9 for r in rows[1:] if r["p0"]["count"] > 1), "a batch reused base OTs"
    batches = [r for r in rows[1:] if r["p0"]["count"] > 1]
    results["mpcnet_ot"] = {"ots_each_way": args.ots, "setup_s": max(ot["p0"]["setup_s"], ot["p1"]["setup_s"]),
                            "extend_s": max(ot["p0"]["extend_s"], ot["p1"]["extend_s"]),
                            "random_ots_per_s": 2 * args.ots / max(ot["p0"]["extend_s"], ot["p1"]["extend_s"])}
    warm = singles[1:] or singles
    results["mpcnet_single"] = {"times_s": [r["time_s"] for r in singles],
                                "first_s": singles[0]["time_s"], "first_rounds": singles[0]["p0"]["rounds"],
                                "median_s": float(np.median([r["time_s"] for r in warm])),
                                "online_s": float(np.median([max(r["p0"]["online_seconds"], r["p1"]["online_seconds"])
                                                             for r in warm])),
                                "bytes_sent": max(warm[0]["p0"]["bytes_sent"], warm[0]["p1"]["bytes_sent"]),
                                "rounds": warm[0]["p0"]["rounds"]}
    results["mpcnet_batches"] = [{
        "count": r["p0"]["count"], "time_s": r["time_s"], "per_s": r["p0"]["count"] / r["time_s"],
        "rounds": r["p0"]["rounds"],
        "bytes_per_cmp_per_party": max(r["p0"]["bytes_sent"], r["p1"]["bytes_sent"]) / r["p0"]["count"],
        "offline_s": max(r["p0"]["offline_seconds"], r["p1"]["offline_seconds"]),
        "online_s": max(r["p0"]["online_seconds"], r["p1"]["online_seconds"]),
        "offline_rounds": r["p0"]["offline_rounds"], "online_rounds": r["p0"]["online_rounds"],
        "offline_bytes_max": max(r["p0"]["offline_bytes"], r["p1"]["offline_bytes"]),
        "online_bytes_max": max(r["p0"]["online_bytes"], r["p1"]["online_bytes"]),
        "random_ots": r["p0"]["random_ots"] + r["p1"]["random_ots"],
    } for r in batches]
    results["load_after_mpcnet"] = loadavg()

    mpyc_count = args.mpyc_count or args.batch
    if have_mpyc():
        try:
            results["mpyc_M2"] = {"count": mpyc_count, **mpyc_once("compare", 2, mpyc_count, SEED)}
        except Exception as exc:  # reported, not fatal: the table says so
            results["mpyc_M2"] = {"status": "failed", "error": str(exc)[-500:]}
    else:
        results["mpyc_M2"] = {"status": "mpyc not installed"}
    if args.tno_count:
        results["tno"] = {"count": args.tno_count, **run_tno(args.tno_python, args.tno_count)}
    results["load_after"] = loadavg()
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


def table(r: dict[str, Any]) -> str:
    big = r["mpcnet_batches"][-1]
    lines = [f"load average before {r['load_before']}, after {r['load_after']}",
             f"OT extension alone: {r['mpcnet_ot']['random_ots_per_s'] / 1e6:.2f} M random OTs/s between the two "
             f"processes (base OTs {r['mpcnet_ot']['setup_s'] * 1e3:.0f} ms)",
             f"one comparison: {r['mpcnet_single']['median_s'] * 1e3:.1f} ms end to end with the link's kept OT "
             f"extension ({r['mpcnet_single']['online_s'] * 1e3:.1f} ms online, {r['mpcnet_single']['rounds']} rounds, "
             f"{r['mpcnet_single']['bytes_sent']} bytes); the first on the link, with base OTs: "
             f"{r['mpcnet_single']['first_s'] * 1e3:.1f} ms, {r['mpcnet_single']['first_rounds']} rounds",
             f"one comparison right after open_party(prepare=('twoparty-setup',)): "
             f"{r['mpcnet_prepared']['first_s'] * 1e3:.1f} ms (each party's own party.run: "
             f"{', '.join(f'{x * 1e3:.1f}' for x in r['mpcnet_prepared']['party_times_s'][0])} ms), "
             f"{r['mpcnet_prepared']['first_rounds']} rounds, "
             f"{r['mpcnet_prepared']['first_bytes_sent']} bytes (later ones: "
             f"{', '.join(f'{x * 1e3:.1f}' for x in r['mpcnet_prepared']['times_s'][1:])} ms); connection up in "
             f"{r['mpcnet_prepared']['connect_prepared_s'] * 1e3:.0f} ms with the set-up, "
             f"{r['mpcnet_prepared']['connect_plain_s'] * 1e3:.0f} ms without",
             "", "| system | batch | cmp/s | s | rounds | bytes/cmp/party | offline s | online s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for b in r["mpcnet_batches"]:
        lines.append(f"| mpcnet two-party | {b['count']:,} | {b['per_s']:,.0f} | {b['time_s']:.2f} | {b['rounds']} | "
                     f"{b['bytes_per_cmp_per_party']:,.0f} | {b['offline_s']:.2f} | {b['online_s']:.2f} |")
    m = r.get("mpyc_M2", {})
    if "time_s" in m:
        lines.append(f"| MPyC -M2 (no privacy) | {m['count']:,} | {m['count'] / m['time_s']:,.0f} | {m['time_s']:.2f} | "
                     f"{m['messages_per_peer']} msgs | {m['bytes_sent_per_party'] / m['count']:,.0f} | - | - |")
    t = r.get("tno", {})
    if t.get("status") == "ok":
        lines.append(f"| TNO secure_comparison | {t['count']:,} | {t['count'] / t['time_s']:,.1f} | {t['time_s']:.2f} | "
                     f"{t.get('rounds', '-')} | {t['bytes_per_cmp']:,.0f} | keygen {t['keygen_s']:.1f} | - |")
    lines.append("")
    if "time_s" in m:
        lines.append(f"mpcnet / MPyC -M2 rate: {big['per_s'] / (m['count'] / m['time_s']):.2f}x")
    if t.get("status") == "ok":
        lines.append(f"mpcnet / TNO rate: {big['per_s'] / (t['count'] / t['time_s']):,.0f}x")
    elif t:
        lines.append(f"TNO: {t.get('status')} {t.get('error', '')[:300]}")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
