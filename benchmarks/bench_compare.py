"""Benchmark mpcnet's secure comparison and sealed-bid auction, side by side with MPyC 0.11.

Usage::

    python benchmarks/bench_compare.py [--quick] [--no-mpyc] [--json OUT] [--profile]

1. Batched secure comparisons ``x < y`` of 32-bit values (party 0 holds the
   x's, party 1 the y's, the other parties help), 10^3 and 10^4 comparisons,
   3 and 5 parties:

   - mpcnet ``compare`` as one ``mpcnet party`` process per party (generated
     keys and roster, Noise/TCP on loopback): the fair comparison. Time = the
     slowest party's ``SessionStats.wall_time``; the whole-process wall time
     (launch to the exit of every process) is recorded too.
   - mpcnet ``compare`` over TCP with every party in this process
     (``mpcnet.simulate(..., transport="tcp")``).
   - MPyC: ``mpyc_compare.py --task compare``, its parties as separate
     processes (``-M{n} -I{i} -P ...``), secure ``secint32`` arrays and
     ``mpc.np_less``, input from parties 0 and 1, output opened to all; timed
     inside the program (input + compare + output, after ``mpc.start()``).

2. One auction (first price: winner and price) with 3, 5, 9 and 20 bids:

   - mpcnet ``auction`` in MPyC's own layout: 3 parties that bid and compute,
     bid j held by party j mod 3 (``bids=m``: a party inputs its list), as
     separate processes and in one process. This is the like-for-like row;
   - mpcnet ``auction`` with 3 compute parties and one input-only bidder party
     per bid (``compute_parties=3``, inputs ``[None]*3 + bids``), as separate
     processes and in one process;
   - mpcnet ``auction`` where every party bids and computes (3, 5, 9 bids);
   - MPyC with 3 parties: ``mpc.argmax`` over a list of ``secint32`` bids
     (bid j input by party j mod 3), winner index and price opened to all.

Every result is checked against the plaintext; a wrong answer aborts the run
(exit 1). Tables go to stdout, progress to stderr, every run to a JSON file
(default ``benchmarks/results/compare.json``, ``compare_quick.json`` with
``--quick``; the tables also to ``compare.txt``). ``--quick`` (3 parties, 10^3
comparisons, a 3-bid auction, one run each) is a CI smoke test.

The inputs are drawn in [0, 2^31) (see ``mpyc_compare.py``) so that MPyC's
``secint32`` comparison is correct for them; mpcnet compares them as 32-bit
unsigned values (``bits=32, signed=False``), i.e. a full 32-bit comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import functools
import importlib.util
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# Helpers shared with the secure-sum benchmark (machine info, ports, process launching, keys/roster).
from bench_secure_sum import free_ports, last_json_line, machine_info, make_deployment, mpcnet_cli
from mpyc_compare import auction_bids, compare_inputs, compare_sha

import mpcnet

HERE = Path(__file__).resolve().parent
BITS = 32
COMPARE_PARAMS = {"bits": BITS, "signed": False, "op": "lt"}
COMPUTE_PARTIES = 3
MPYC_AUCTION_PARTIES = 3
PROC_TIMEOUT = 300.0


class WrongResult(Exception):
    """A benchmark run produced a wrong answer."""


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def have_mpyc() -> bool:
    return importlib.util.find_spec("mpyc") is not None


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


# ------------------------------------------------------------------ runners


def run_processes(cmds: list[list[str]], timeout: float) -> tuple[float, list[str], list[str]]:
    """Start every command at once; wait for all; (wall seconds, stdouts, stderrs). Raises on failure."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outs, errs = [], []
    try:
        for cmd, p in zip(cmds, procs, strict=True):
            out, err = p.communicate(timeout=max(1.0, timeout - (time.perf_counter() - start)))
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd[:6])} ... exited {p.returncode}:\n{err.strip()[-2000:]}")
            outs.append(out)
            errs.append(err)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return time.perf_counter() - start, outs, errs


_LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) .*\bsession_start\b")
_LOG_END = re.compile(r"\bsession_end\b.*\bseconds=([0-9.]+)")


def synchronized_time(errs: list[str]) -> float | None:
    """From the parties' ``-v`` logs: the time from the moment the *last*
    party started its session (its links up) to the moment the last party
    finished. Unlike the slowest party's own wall time, this leaves out a
    party's wait for peers that were still connecting to each other (dial
    back-off). Millisecond resolution. None if the log lines are not found."""
    starts, ends = [], []
    for err in errs:
        start = secs = None
        for line in err.splitlines():
            m = _LOG_TIME.match(line)
            if m:
                start = dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            m = _LOG_END.search(line)
            if m:
                secs = float(m.group(1))
        if start is None or secs is None:
            return None
        starts.append(start)
        ends.append(start + secs)
    return max(ends) - max(starts)


def mpyc_once(task: str, m: int, count: int, seed: int) -> dict[str, Any]:
    """One run of ``mpyc_compare.py`` with ``m`` party processes on loopback."""
    ports = free_ports(m)
    addr = [a for p in ports for a in ("-P", f"localhost:{p}")]
    cmds = [[sys.executable, str(HERE / "mpyc_compare.py"), "--task", task, "--count", str(count), "--seed", str(seed),
             f"-M{m}", f"-I{i}", *addr, "--no-log"] for i in range(m)]
    wall, outs, _ = run_processes(cmds, timeout=PROC_TIMEOUT)
    parties = [last_json_line(o) for o in outs]
    if task == "compare":
        x, y = compare_inputs(seed, count)
        expected = compare_sha(x < y)
        for p in parties:
            if p["result_sha256"] != expected:
                raise WrongResult(f"MPyC party {p['pid']}: wrong comparison results ({m} parties, {count})")
    else:
        bids = auction_bids(seed, count)
        for p in parties:
            if (p["winner"], p["price"]) != (int(np.argmax(bids)), int(bids.max())):
                raise WrongResult(f"MPyC party {p['pid']}: wrong auction result ({count} bids)")
    return {"time_s": max(p["time_s"] for p in parties), "process_wall_s": wall,
            "bytes_sent_per_party": max(p["bytes_sent"] for p in parties),
            "messages_sent_per_party": max(p["messages_sent"] for p in parties),
            "messages_per_peer": max(p["messages_per_peer"] for p in parties),
            "threshold": parties[0]["threshold"], "gmpy2": parties[0]["gmpy2"]}


def _stats_summary(stats: list[dict[str, Any]], compute: int) -> dict[str, Any]:
    return {"time_s": max(s["wall_time"] for s in stats),
            "time_s_compute": max(s["wall_time"] for s in stats[:compute]),
            "rounds": max(s["rounds"] for s in stats),
            "messages_sent_per_party": max(s["messages_sent"] for s in stats),
            "bytes_sent_per_party": max(s["bytes_sent"] for s in stats),
            "bytes_sent_per_party_min": min(s["bytes_sent"] for s in stats),
            "bytes_sent_per_input_party": (max(s["bytes_sent"] for s in stats[compute:])
                                           if len(stats) > compute else None)}


def party_commands(tmp: Path, protocol: str, inputs: list[Any], params: dict[str, Any]) -> list[list[str]]:
    """``mpcnet -v party`` command lines, one per input, with keys, a roster and
    input files (``@PATH``) generated in ``tmp``."""
    names = [f"p{i}" for i in range(len(inputs))]
    roster, keys = make_deployment(tmp, names)
    flags = [a for k, v in params.items() for a in ("--param", f"{k}={str(v).lower() if isinstance(v, bool) else v}")]
    label = f"bench-{protocol}-{os.getpid()}-{time.time_ns()}"
    cmds = []
    for name, value in zip(names, inputs, strict=True):
        (tmp / f"{name}.json").write_text(json.dumps(value))
        cmds.append(mpcnet_cli("-v", "party", protocol, "--roster", str(roster), "--id", name, "--key", str(keys[name]),
                               "--input-json", f"@{tmp / f'{name}.json'}", *flags, "--session", label, "--json",
                               "--no-progress"))
    return cmds


def mpcnet_processes_once(protocol: str, inputs: list[Any], params: dict[str, Any], compute: int) -> dict[str, Any]:
    """One run with one ``mpcnet party`` process per input (keys, roster, input files generated)."""
    with tempfile.TemporaryDirectory(prefix="mpcnet-bench-") as tmpdir:
        cmds = party_commands(Path(tmpdir), protocol, inputs, params)
        wall, outs, errs = run_processes(cmds, timeout=PROC_TIMEOUT)
    parties = [last_json_line(o) for o in outs]
    return {"outputs": [p["output"] for p in parties], "process_wall_s": wall, "sync_time_s": synchronized_time(errs),
            **_stats_summary([p["stats"] for p in parties], compute)}


def mpcnet_tcp_once(protocol: str, inputs: list[Any], params: dict[str, Any], compute: int) -> dict[str, Any]:
    res = mpcnet.simulate(protocol, inputs, params=params, transport="tcp")
    return {"outputs": list(res.outputs), "wall_s": res.wall_time,
            **_stats_summary([s.to_dict() for s in res.stats], compute)}


def check_outputs(outputs: list[Any], expected: Any, what: str) -> None:
    for i, out in enumerate(outputs):
        if out != expected:
            raise WrongResult(f"{what}: party p{i} got a wrong result")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric fields (and the fastest time), plus every run."""
    runs = [{k: v for k, v in r.items() if k != "outputs"} for r in runs]
    out: dict[str, Any] = {"status": "ok", "reps": len(runs)}
    for key, value in runs[0].items():
        nums = [r[key] for r in runs if isinstance(r.get(key), (int, float)) and not isinstance(r.get(key), bool)]
        if nums:
            out[key] = median(nums)
        else:
            out[key] = value
    out["time_s_min"] = min(r["time_s"] for r in runs)
    out["time_s_all"] = [r["time_s"] for r in runs]
    out["load_after"] = loadavg()
    return out


def repeat(label: str, reps: int, fn: Any, check: Any) -> dict[str, Any]:
    runs = []
    try:
        for r in range(reps):
            run = fn()
            check(run)
            runs.append(run)
            extra = f", {run['process_wall_s']:.2f} s processes" if "process_wall_s" in run else ""
            progress(f"  {label} rep {r + 1}/{reps}: {run['time_s']:.3f} s timed{extra}")
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"NOTE: {label} failed: {exc}", file=sys.stderr)
        return {"status": f"failed: {str(exc)[:300]}"}
    return summarize(runs)


# --------------------------------------------------------------- benchmarks


def bench_comparisons(cases: list[tuple[int, int]], reps: int, mpyc_reps: int, seed: int,
                      with_mpyc: bool) -> list[dict[str, Any]]:
    rows = []
    for n, count in cases:
        progress(f"comparisons: {n} parties, {count} x (32-bit x < y)")
        x, y = compare_inputs(seed, count)
        inputs: list[Any] = [x.tolist(), y.tolist()] + [None] * (n - 2)
        expected = (x < y).tolist()
        row: dict[str, Any] = {"parties": n, "count": count}

        def check(what: str, expected: list[bool] = expected) -> Any:
            return lambda run: check_outputs(run["outputs"], expected, what)

        row["mpcnet_processes"] = repeat(
            "mpcnet (separate processes)", reps,
            functools.partial(mpcnet_processes_once, "compare", inputs, COMPARE_PARAMS, n),
            check(f"mpcnet compare processes n={n} count={count}"))
        row["mpcnet_tcp_one_process"] = repeat(
            "mpcnet (tcp, one process)", reps,
            functools.partial(mpcnet_tcp_once, "compare", inputs, COMPARE_PARAMS, n),
            check(f"mpcnet compare one process n={n} count={count}"))
        if with_mpyc:
            row["mpyc"] = repeat(f"MPyC ({n} processes)", mpyc_reps,
                                 functools.partial(mpyc_once, "compare", n, count, seed), lambda r: None)
        else:
            row["mpyc"] = {"status": "skipped"}
        for key in ("mpcnet_processes", "mpcnet_tcp_one_process", "mpyc"):
            d = row[key]
            if d.get("status") == "ok":
                d["per_second"] = count / d["time_s"]
                d["per_second_best"] = count / d["time_s_min"]
                if d.get("sync_time_s"):
                    d["per_second_sync"] = count / d["sync_time_s"]
                d["bytes_per_comparison_per_party"] = d["bytes_sent_per_party"] / count
        if row["mpyc"].get("status") == "ok":
            row["ratio_vs_mpyc"] = {k: row[k]["per_second"] / row["mpyc"]["per_second"]
                                    for k in ("mpcnet_processes", "mpcnet_tcp_one_process")
                                    if row[k].get("status") == "ok"}
            if row["mpcnet_processes"].get("per_second_sync"):
                row["ratio_vs_mpyc"]["mpcnet_processes_sync"] = (row["mpcnet_processes"]["per_second_sync"]
                                                                 / row["mpyc"]["per_second"])
        rows.append(row)
    return rows


def auction_layout(bids: np.ndarray, parties: int) -> tuple[list[list[int]], dict[str, int]]:
    """MPyC's auction layout (bid j held by party j mod ``parties``) as
    mpcnet inputs with ``bids=len(bids)``, and the output mpcnet must give.
    mpcnet orders bids party by party, so ties break in that order."""
    held = [bids[i::parties].tolist() for i in range(min(parties, len(bids)))]
    _, party, position = min((-b, i, pos) for i, lst in enumerate(held) for pos, b in enumerate(lst))
    return held, {"winner": party, "price": int(bids.max()), "bid": position}


def bench_auctions(bid_counts: list[int], all_bid_max: int, reps: int, mpyc_reps: int, seed: int,
                   with_mpyc: bool) -> list[dict[str, Any]]:
    rows = []
    for m in bid_counts:
        bids = auction_bids(seed, m)
        progress(f"auction: {m} bids (max {bids.max()} at bid {int(np.argmax(bids))})")
        row: dict[str, Any] = {"bids": m}
        top = int(np.argmax(bids))
        held, held_expected = auction_layout(bids, MPYC_AUCTION_PARTIES)
        variants: list[tuple[str, list[Any], dict[str, Any], int, dict[str, int]]] = [
            ("three", held, {"bits": BITS, "bids": m}, len(held), held_expected),
            ("c3", [None] * COMPUTE_PARTIES + bids.tolist(), {"bits": BITS, "compute_parties": COMPUTE_PARTIES},
             COMPUTE_PARTIES, {"winner": COMPUTE_PARTIES + top, "price": int(bids.max())})]
        if m <= all_bid_max:
            variants.append(("all", bids.tolist(), {"bits": BITS}, m, {"winner": top, "price": int(bids.max())}))
        for tag, inputs, params, compute, expected in variants:
            what = f"mpcnet auction {tag} {m} bids"
            row[f"mpcnet_{tag}_processes"] = repeat(
                f"mpcnet {tag} ({len(inputs)} processes)", reps,
                lambda inputs=inputs, params=params, compute=compute: mpcnet_processes_once(
                    "auction", inputs, params, compute),
                lambda r, expected=expected, what=what: check_outputs(r["outputs"], expected, what + " processes"))
            row[f"mpcnet_{tag}_tcp_one_process"] = repeat(
                f"mpcnet {tag} (tcp, one process)", reps,
                lambda inputs=inputs, params=params, compute=compute: mpcnet_tcp_once("auction", inputs, params, compute),
                lambda r, expected=expected, what=what: check_outputs(r["outputs"], expected, what + " one process"))
        if with_mpyc:
            row["mpyc"] = repeat(f"MPyC ({MPYC_AUCTION_PARTIES} processes)", mpyc_reps,
                                 functools.partial(mpyc_once, "auction", MPYC_AUCTION_PARTIES, m, seed),
                                 lambda r: None)
        else:
            row["mpyc"] = {"status": "skipped"}
        if row["mpyc"].get("status") == "ok":
            row["mpyc_time_over_ours"] = {k: row["mpyc"]["time_s"] / v["time_s"] for k, v in row.items()
                                          if k.startswith("mpcnet_") and isinstance(v, dict) and v.get("status") == "ok"}
            row["mpyc_time_over_ours"].update({
                k + "_sync": row["mpyc"]["time_s"] / v["sync_time_s"] for k, v in row.items()
                if k.startswith("mpcnet_") and isinstance(v, dict) and v.get("sync_time_s")})
        rows.append(row)
    return rows


def profile_compare(n: int, count: int, seed: int, top: int = 18) -> str:
    """cProfile of one all-in-one-process TCP simulate of ``count`` comparisons."""
    x, y = compare_inputs(seed, count)
    inputs: list[Any] = [x.tolist(), y.tolist()] + [None] * (n - 2)
    mpcnet.simulate("compare", inputs, params=COMPARE_PARAMS, transport="tcp")  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    mpcnet.simulate("compare", inputs, params=COMPARE_PARAMS, transport="tcp")
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# ------------------------------------------------------------------- output


def fmt_rate(d: dict[str, Any]) -> str:
    return f"{d['per_second']:>10,.0f}" if d.get("status") == "ok" else f"{d.get('status', 'n/a')[:10]:>10}"


def comparison_table(rows: list[dict[str, Any]]) -> str:
    lines = ["Batched secure comparisons x < y of 32-bit values (party 0: x, party 1: y; medians; 'timed' = the "
             "slowest party's input+compare+output, after connecting)"]
    head = (f"{'n':>2} {'count':>6} | {'system':30} {'timed s':>8} {'min s':>7} {'cmp/s':>9} {'sync s':>7} "
            f"{'cmp/s sync':>10} {'procs s':>8} {'rounds':>6} {'msg/peer':>8} {'B/cmp/party':>11} | "
            f"{'ours/MPyC':>9} {'sync':>6}")
    lines += [head, "-" * len(head)]
    for row in rows:
        for key, label in (("mpcnet_processes", "mpcnet, separate processes"),
                           ("mpcnet_tcp_one_process", "mpcnet, tcp, one process"),
                           ("mpyc", "MPyC 0.11 secure arrays")):
            d = row[key]
            lead = f"{row['parties']:>2} {row['count']:>6} | {label:30}"
            if d.get("status") != "ok":
                lines.append(f"{lead} {d.get('status')}")
                continue
            procs = f"{d['process_wall_s']:8.2f}" if "process_wall_s" in d else f"{'-':>8}"
            sync = f"{d['sync_time_s']:7.3f}" if d.get("sync_time_s") else f"{'-':>7}"
            sync_rate = f"{d['per_second_sync']:>10,.0f}" if d.get("per_second_sync") else f"{'-':>10}"
            ratios = row.get("ratio_vs_mpyc", {})
            if key == "mpyc":
                rounds, per_peer = "-", f"{d['messages_per_peer']:.0f}"
                ratio = ratio_sync = ""
            else:
                rounds = str(d["rounds"])
                per_peer = f"{d['messages_sent_per_party'] / (row['parties'] - 1):.0f}"
                ratio = f"{ratios[key]:8.1f}x" if key in ratios else ""
                ratio_sync = f"{ratios[key + '_sync']:5.1f}x" if key + "_sync" in ratios else ""
            lines.append(f"{lead} {d['time_s']:8.3f} {d['time_s_min']:7.3f} {d['per_second']:>9,.0f} {sync} "
                         f"{sync_rate} {procs} {rounds:>6} {per_peer:>8} {d['bytes_per_comparison_per_party']:>11,.0f}"
                         f" | {ratio:>9} {ratio_sync:>6}")
    lines.append("'sync s': separate processes only: from the moment the last party started its session to the "
                 "last finish (parties' -v logs), leaving out a party's wait for peers still connecting to each "
                 "other.")
    lines.append("MPyC: 'msg/peer' = messages each party sent to each peer in the timed part (MPyC does not count "
                 "rounds); bytes from MPyC's nbytes_sent (12-byte header + payload, plaintext TCP). mpcnet bytes: "
                 "encoded envelopes before Noise framing.")
    return "\n".join(lines)


def auction_table(rows: list[dict[str, Any]]) -> str:
    lines = ["One first-price auction (winner + price), 32-bit bids (medians; 'timed' = the slowest party's "
             "protocol time, after connecting)"]
    head = (f"{'bids':>4} | {'system':46} {'timed ms':>9} {'min ms':>7} {'sync ms':>8} {'procs s':>8} {'rounds':>6} "
            f"{'B/compute party':>15} {'B/bidder':>8} | {'MPyC/ours':>9} {'sync':>6}")
    lines += [head, "-" * len(head)]
    labels = {"mpcnet_three_processes": "mpcnet, 3 processes holding the bids",
              "mpcnet_three_tcp_one_process": "mpcnet, 3 parties holding the bids, 1 proc",
              "mpcnet_c3_processes": "mpcnet, 3 compute + {m} bidder processes",
              "mpcnet_c3_tcp_one_process": "mpcnet, 3 compute + {m} bidders, one process",
              "mpcnet_all_processes": "mpcnet, {m} bidder-compute processes",
              "mpcnet_all_tcp_one_process": "mpcnet, {m} bidder-compute, one process",
              "mpyc": "MPyC 0.11, 3 processes, mpc.argmax on list"}
    for row in rows:
        for key, label in labels.items():
            if key not in row:
                continue
            d = row[key]
            lead = f"{row['bids']:>4} | {label.format(m=row['bids']):46}"
            if d.get("status") != "ok":
                lines.append(f"{lead} {d.get('status')}")
                continue
            procs = f"{d['process_wall_s']:8.2f}" if "process_wall_s" in d else f"{'-':>8}"
            sync = f"{d['sync_time_s'] * 1000:8.1f}" if d.get("sync_time_s") else f"{'-':>8}"
            ratios = row.get("mpyc_time_over_ours", {})
            if key == "mpyc":
                rounds = f"{d['messages_per_peer']:.0f}m"
                bidder, ratio, ratio_sync = "-", "", ""
            else:
                rounds = str(d["rounds"])
                bidder = str(d["bytes_sent_per_input_party"]) if d.get("bytes_sent_per_input_party") else "-"
                ratio = f"{ratios[key]:8.1f}x" if key in ratios else ""
                ratio_sync = f"{ratios[key + '_sync']:5.1f}x" if key + "_sync" in ratios else ""
            lines.append(f"{lead} {d['time_s'] * 1000:9.1f} {d['time_s_min'] * 1000:7.1f} {sync} {procs} {rounds:>6} "
                         f"{d['bytes_sent_per_party']:>15,} {bidder:>8} | {ratio:>9} {ratio_sync:>6}")
    lines.append("MPyC rounds column: 'Nm' = messages sent per peer (an upper bound on its rounds). Bytes per "
                 "compute party: the most any party sent. MPyC/ours > 1 means mpcnet is faster.")
    return "\n".join(lines)


# --------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 parties, 10^3 comparisons, a 3-bid auction, one "
                    "run each (CI smoke test, < 40 s)")
    ap.add_argument("--no-mpyc", action="store_true", help="skip MPyC")
    ap.add_argument("--json", metavar="OUT", help="output file (default benchmarks/results/compare.json)")
    ap.add_argument("--reps", type=int, default=3, help="runs of each mpcnet case (default 3; 1 with --quick)")
    ap.add_argument("--mpyc-reps", type=int, default=None,
                    help="runs of each MPyC case (default: 1 for comparisons, 3 for auctions; 1 with --quick)")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile of one all-in-one-process compare (3 parties, 10^4)")
    ap.add_argument("--only", choices=["comparisons", "auctions"],
                    help="run one half (default file compare_<half>.json)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    with_mpyc = not args.no_mpyc
    if with_mpyc and not have_mpyc():
        print("NOTE: MPyC is not installed (pip install 'mpcnet[bench]' or mpyc==0.11): MPyC skipped", file=sys.stderr)
        with_mpyc = False
    if args.quick:
        cmp_cases, bid_counts, all_bid_max = [(3, 1000)], [3], 3
        reps = 1
        mpyc_cmp_reps = mpyc_auc_reps = 1
    else:
        cmp_cases = [(3, 1000), (3, 10_000), (5, 1000), (5, 10_000)]
        bid_counts, all_bid_max = [3, 5, 9, 20], 9
        reps = args.reps
        mpyc_cmp_reps, mpyc_auc_reps = (1, 3) if args.mpyc_reps is None else (args.mpyc_reps, args.mpyc_reps)
    if args.only == "comparisons":
        bid_counts = []
    elif args.only == "auctions":
        cmp_cases = []
    stem = "compare" + ("_quick" if args.quick else "") + (f"_{args.only}" if args.only else "")
    default_out = HERE / "results" / f"{stem}.json"
    out = Path(args.json) if args.json else default_out
    info = machine_info()
    progress(f"mpcnet {info['mpcnet']} on {info['cpu_count']} CPUs ({info['cpu_model']}), Python {info['python']}, "
             f"MPyC {info['mpyc'] if with_mpyc else 'skipped'} (gmpy2 {'on' if info['gmpy2'] else 'off'}), "
             f"load {info.get('loadavg_start')}")
    # Warm-up: imports and first-use costs, outside every timing.
    mpcnet.simulate("compare", [[1], [2], None], params=COMPARE_PARAMS, transport="tcp")
    try:
        cmp_rows = bench_comparisons(cmp_cases, reps, mpyc_cmp_reps, args.seed, with_mpyc)
        auc_rows = bench_auctions(bid_counts, all_bid_max, reps, mpyc_auc_reps, args.seed, with_mpyc)
    except WrongResult as exc:
        print(f"\nBENCHMARK ABORTED: WRONG RESULT: {exc}", file=sys.stderr)
        return 1
    profile_text = profile_compare(3, 10_000, args.seed) if args.profile else None
    info["loadavg_end"] = loadavg()
    info["total_seconds"] = round(time.monotonic() - t0, 1)
    text = "\n\n".join([comparison_table(cmp_rows), auction_table(auc_rows)])
    text += (f"\n\nmpcnet {info['mpcnet']} at {str(info['source'].get('commit'))[:7]}"
             f"{' + uncommitted changes' if info['source'].get('uncommitted_files') else ''}, MPyC "
             f"{info['mpyc'] if with_mpyc else '-'} (gmpy2 {'on' if info['gmpy2'] else 'off'}); "
             f"{info['cpu_count']} CPUs; load {info.get('loadavg_start')} -> {info['loadavg_end']}; "
             f"{info['total_seconds']} s")
    print(text)
    if profile_text:
        print("\ncProfile, one all-in-one-process TCP simulate of 10^4 comparisons, 3 parties:\n" + profile_text)
    doc = {"benchmark": "compare+auction", "machine": info,
           "config": {"quick": args.quick, "reps": reps, "mpyc_reps": {"compare": mpyc_cmp_reps,
                                                                       "auction": mpyc_auc_reps},
                      "seed": args.seed, "bits": BITS, "compare_params": COMPARE_PARAMS,
                      "input_range": [0, 2**31 - 1], "compute_parties": COMPUTE_PARTIES,
                      "mpyc_auction_parties": MPYC_AUCTION_PARTIES,
                      "mpyc_auction_inputs": "bid j input by party j mod 3"},
           "comparisons": cmp_rows, "auctions": auc_rows, "profile": profile_text}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    if not args.json or out.parent.resolve() == (HERE / "results").resolve():
        with contextlib.suppress(OSError):
            out.with_suffix(".txt").write_text(text + "\n")
    print(f"\nwrote {out} ({info['total_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
