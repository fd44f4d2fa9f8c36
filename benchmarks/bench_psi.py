"""Benchmark mpcnet's two-party ``psi``, side by side with OpenMined PSI.

Usage::

    python benchmarks/bench_psi.py [--sizes 1000,10000,100000] [--reps 3] [--no-openmined]
                                   [--json benchmarks/results/psi.json]

For each size n (items per side, 10% overlap) it runs, interleaved so that
machine load hits both alike:

* ``mpcnet``: ``mpcnet.simulate("psi", [X, Y])``, both parties in one
  process over the in-memory transport, curve work spread over the worker
  pool (``MPCNET_PSI_WORKERS``, default: every usable core);
* ``openmined``: OpenMined PSI 2.0.6 (pip ``openmined-psi``; C++ core, P-256,
  one thread, no networking): server setup (GCS, fpr 1e-9), client request,
  server response, client intersection, all in one process.

Every case runs in a fresh subprocess (so peak memory is per case) and is
checked: the intersection must have exactly n/10 items, or the benchmark
stops (exit 1). Sizes below 10^5 repeat ``--reps`` times (median); larger
sizes run once.

It also measures the raw PyNaCl rates on one core (``from_uniform``, X25519
``crypto_scalarmult``), X25519 on 2 threads and 2 worker processes, and the
**raw-crypto limit**: the items per second two parties would reach if every
core did nothing but the PyNaCl calls PSI needs (per item pair: 2
hash-to-curve calls and 4 scalar multiplications).

Rows are merged into the JSON file (keyed by size and implementation), and a
table of everything in it is printed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OVERLAP = 0.1


def make_sets(n: int) -> tuple[list[str], list[str]]:
    """X and Y with |X| = |Y| = n and |X & Y| = n/10."""
    common = int(n * OVERLAP)
    x = [f"alice-{i:09d}@example.org" for i in range(n)]
    y = x[:common] + [f"bob-{i:09d}@example.org" for i in range(n - common)]
    return x, y


def _peak_mb() -> dict[str, float]:
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"peak_rss_mb": round(me, 1), "peak_worker_rss_mb": round(kids, 1)}


def case_mpcnet(n: int) -> dict[str, Any]:
    import mpcnet

    x, y = make_sets(n)
    start = time.perf_counter()
    result = mpcnet.simulate("psi", [x, y], round_timeout=3600, record_views=True)
    elapsed = time.perf_counter() - start
    if len(result.outputs[0]) != int(n * OVERLAP):
        raise SystemExit(f"WRONG RESULT: {len(result.outputs[0])} common items, expected {int(n * OVERLAP)}")
    # The reply is one message: the blinded request (32 B per receiver item) and the compact set.
    # Its framing (envelope, msgpack header: ~150 B) is counted with the response.
    reply = next(r.value for r in result.results[0].view if r.round == 2)
    set_bytes = reply["set"]["unary"].nbytes + reply["set"]["rem"].nbytes + 16  # 16: the first value
    return {"time_s": elapsed, "request_bytes": result.stats[0].bytes_sent,
            "response_bytes": result.stats[1].bytes_sent - set_bytes, "setup_bytes": set_bytes,
            "rounds": result.stats[0].rounds,
            "workers": int(os.environ.get("MPCNET_PSI_WORKERS", "0")) or len(os.sched_getaffinity(0)), **_peak_mb()}


def case_openmined(n: int) -> dict[str, Any]:
    import private_set_intersection.python as om

    x, y = make_sets(n)
    start = time.perf_counter()
    client = om.client.CreateWithNewKey(True)
    server = om.server.CreateWithNewKey(True)
    setup = server.CreateSetupMessage(1e-9, len(x), y, om.DataStructure.GCS)
    request = client.CreateRequest(x)
    response = server.ProcessRequest(request)
    found = client.GetIntersection(setup, response)
    elapsed = time.perf_counter() - start
    if len(found) != int(n * OVERLAP):
        raise SystemExit(f"WRONG RESULT (OpenMined): {len(found)} common items, expected {int(n * OVERLAP)}")
    return {"time_s": elapsed, "request_bytes": len(request.SerializeToString()),
            "response_bytes": len(response.SerializeToString()), "setup_bytes": len(setup.SerializeToString()),
            "rounds": 2, "workers": 1, "version": om.__version__, **_peak_mb()}


def _x25519_chunk(args: tuple[bytes, list[bytes]]) -> int:
    from nacl.bindings import crypto_scalarmult

    key, points = args
    for u in points:
        crypto_scalarmult(key, u)
    return len(points)


def case_raw(n: int) -> dict[str, Any]:
    """PyNaCl rates on one core, and X25519 on 2 threads / 2 processes."""
    from concurrent.futures import ThreadPoolExecutor

    from nacl.bindings import crypto_core_ed25519_from_uniform, crypto_scalarmult, crypto_scalarmult_base

    sys.path.insert(0, str(HERE.parent))
    from protocols.psi import curve as psi_curve
    from protocols.psi import work as psi_work

    uniform = [os.urandom(32) for _ in range(n)]
    points = [crypto_scalarmult_base(os.urandom(32)) for _ in range(n)]
    key = os.urandom(32)

    def rate(fn: Any) -> float:
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return n / best

    out: dict[str, Any] = {}
    out["from_uniform_per_s"] = rate(lambda: [crypto_core_ed25519_from_uniform(r) for r in uniform])
    out["x25519_per_s"] = rate(lambda: [crypto_scalarmult(key, u) for u in points])
    encoded = [psi_curve.encode_item(f"item-{i}") for i in range(n)]
    out["our_hash_to_u_per_s"] = rate(lambda: psi_curve.hash_to_u(encoded))
    half = [(key, points[: n // 2]), (key, points[n // 2 :])]
    with ThreadPoolExecutor(2) as pool:
        out["x25519_2_threads_per_s"] = rate(lambda: sum(pool.map(_x25519_chunk, half)))
    blob = b"".join(points)
    pool2 = psi_work._WorkerPool(2)
    try:
        def two_procs() -> None:
            with ThreadPoolExecutor(2) as threads:
                list(threads.map(lambda part: pool2.call(3, key, 0, part), [blob[: 16 * n], blob[16 * n :]]))
        out["x25519_2_processes_per_s"] = rate(two_procs)
    finally:
        pool2.close()
    per_pair = 2 / out["from_uniform_per_s"] + 4 / out["x25519_per_s"]  # seconds per item pair, one core
    out["limit_1core_items_per_s"] = 1 / per_pair
    out["limit_2core_items_per_s"] = 2 / per_pair
    return out


def run_case(kind: str, n: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    if kind == "mpcnet-1core":  # no worker processes: everything on the event loop's core
        kind, env["MPCNET_PSI_WORKERS"] = "mpcnet", "1"
    proc = subprocess.run([sys.executable, __file__, "--case", kind, str(n)], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"BENCHMARK ABORTED: {kind} n={n} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(kind: str, n: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    times = [r["time_s"] for r in runs]
    row = dict(runs[-1])
    row.update(impl=kind, n=n, reps=len(runs), time_s=statistics.median(times), times_s=times,
               items_per_s=n / statistics.median(times),
               request_b_per_item=row["request_bytes"] / n, response_b_per_item=row["response_bytes"] / n,
               setup_b_per_server_item=row["setup_bytes"] / n,
               total_b_per_item=(row["request_bytes"] + row["response_bytes"] + row["setup_bytes"]) / n)
    return row


def table(rows: dict[str, Any]) -> str:
    raw = rows.get("raw", {})
    limit = raw.get("limit_2core_items_per_s")
    lines = ["| n per side | impl | time (s) | items/s | request B/item | response B/item | set B/server item | "
             "total B/item | peak RSS MB (main process) | speed vs OpenMined | raw-crypto limit / ours |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    sizes = sorted({r["n"] for k, r in rows.items() if k != "raw"})
    for n in sizes:
        ours, theirs = rows.get(f"mpcnet:{n}"), rows.get(f"openmined:{n}")
        single = rows.get(f"mpcnet-1core:{n}")
        for r in (ours, single, theirs):
            if r is None:
                continue
            speed = f"{theirs['time_s'] / r['time_s']:.2f}x" if theirs and r is not theirs else ""
            lim1 = raw.get("limit_1core_items_per_s")
            lim = (f"{limit / r['items_per_s']:.2f}" if limit and r is ours
                   else f"{lim1 / r['items_per_s']:.2f} (1 core)" if lim1 and r is single else "")
            mem = r["peak_rss_mb"]
            lines.append(f"| {n:,} | {r['impl']} | {r['time_s']:.2f} | {r['items_per_s']:,.0f} | "
                         f"{r['request_b_per_item']:.2f} | {r['response_b_per_item']:.2f} | "
                         f"{r['setup_b_per_server_item']:.2f} | {r['total_b_per_item']:.2f} | {mem:,.0f} | "
                         f"{speed} | {lim} |")
    workers = [r["peak_worker_rss_mb"] for k, r in rows.items() if k.startswith("mpcnet:")]
    if workers:
        lines += ["", f"mpcnet's worker processes (one per core) peak at {max(workers):.0f} MB each."]
    if raw:
        lines += ["", f"PyNaCl one core: from_uniform {raw['from_uniform_per_s']:,.0f}/s, X25519 "
                  f"{raw['x25519_per_s']:,.0f}/s (our whole hash-to-curve: {raw['our_hash_to_u_per_s']:,.0f}/s); "
                  f"X25519 on 2 threads {raw['x25519_2_threads_per_s']:,.0f}/s, on 2 worker processes "
                  f"{raw['x25519_2_processes_per_s']:,.0f}/s.",
                  f"Raw-crypto limit (2 hash-to-curve + 4 X25519 per item pair): "
                  f"{raw['limit_1core_items_per_s']:,.0f} items/s on one core, "
                  f"{raw['limit_2core_items_per_s']:,.0f} items/s on two."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1000,10000,100000")
    ap.add_argument("--reps", type=int, default=3, help="repetitions for sizes below 10^5 (larger: 1)")
    ap.add_argument("--no-openmined", action="store_true")
    ap.add_argument("--one-core", action="store_true", help="also run mpcnet with MPCNET_PSI_WORKERS=1")
    ap.add_argument("--only-one-core", action="store_true", help="run only mpcnet with MPCNET_PSI_WORKERS=1")
    ap.add_argument("--no-raw", action="store_true")
    ap.add_argument("--json", default=str(HERE / "results" / "psi.json"))
    ap.add_argument("--table-only", action="store_true", help="print the table of the JSON file and exit")
    args = ap.parse_args()
    if args.case:
        kind, n = args.case[0], int(args.case[1])
        fn = {"mpcnet": case_mpcnet, "openmined": case_openmined, "raw": case_raw}[kind]
        print(json.dumps(fn(n)))
        return
    path = Path(args.json)
    rows: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    meta = rows.pop("meta", {})
    if args.table_only:
        print(table(rows))
        return
    if not args.no_raw:
        print("raw PyNaCl rates ...", file=sys.stderr)
        rows["raw"] = run_case("raw", 20000)
    for n in [int(s) for s in args.sizes.split(",")]:
        reps = args.reps if n < 10**5 else 1
        kinds = ["mpcnet"] + ([] if args.no_openmined else ["openmined"]) + (["mpcnet-1core"] if args.one_core else [])
        if args.only_one_core:
            kinds = ["mpcnet-1core"]
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in kinds}
        for _ in range(reps):
            for kind in kinds:
                r = run_case(kind, n)
                print(f"{kind:9s} n={n:>9,}: {r['time_s']:8.2f}s", file=sys.stderr)
                runs[kind].append(r)
        for kind in kinds:
            rows[f"{kind}:{n}"] = summarise(kind, n, runs[kind])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({**rows, "meta": {**meta, "date": dt.datetime.now().isoformat(timespec="seconds"),
                                                      "python": platform.python_version(),
                                                      "cpus": os.cpu_count()}}, indent=1))
    print(table(rows))
    path.with_suffix(".txt").write_text(table(rows) + "\n")


if __name__ == "__main__":
    main()
