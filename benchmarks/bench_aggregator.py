"""The aggregation service under load: N reports uploaded over HTTP, aggregated and collected.

Starts a leader and a helper (``mpcnet aggregator``, real processes on loopback), prepares N
reports (sharding and sealing, timed apart: that is the clients' work), uploads them from
``--connections`` keep-alive HTTP connections, then collects the batch (which waits until every
report went through an aggregation job). Prints upload rate, end-to-end rate (first upload to
collected result), peak RSS of each aggregator, database bytes per report, and the load average.

    python benchmarks/bench_aggregator.py --reports 100000
    python benchmarks/bench_aggregator.py --reports 2000 --vdaf histogram --length 10
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_secure_sum import free_ports  # noqa: E402  (a sibling script)

from mpcnet.aggregate.service import collect, init_deployment, load_task, make_reports  # noqa: E402
from mpcnet.aggregate.service.task import b64, encode_report  # noqa: E402
from mpcnet.aggregate.simulation import VdafConfig  # noqa: E402
from mpcnet.identity import load_key_file  # noqa: E402


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reports", type=int, default=100_000)
    ap.add_argument("--vdaf", default="count", choices=["count", "histogram", "sum"])
    ap.add_argument("--length", type=int, default=10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--job-size", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-agg-"))
    http_port, m1, m2 = free_ports(3)
    vdaf = VdafConfig(args.vdaf, length=args.length if args.vdaf == "histogram" else 1)
    paths = init_deployment(tmp, vdaf, leader_url=f"http://127.0.0.1:{http_port}", leader_mesh=f"127.0.0.1:{m1}",
                            helper_mesh=f"127.0.0.1:{m2}", job_size=args.job_size, max_pending=2 * args.reports + 1000)
    task = load_task(paths["task"])
    n = args.reports
    values = [i % 2 for i in range(n)] if args.vdaf == "count" else [i % args.length for i in range(n)] \
        if args.vdaf == "histogram" else [i % 256 for i in range(n)]
    t0 = time.perf_counter()
    bodies = []
    for i in range(0, n, 5000):
        bodies += [encode_report(r) for r in make_reports(task, values[i : i + 5000])]
    prep = time.perf_counter() - t0

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    procs = {role: subprocess.Popen([sys.executable, "-m", "mpcnet", "aggregator", "--config", str(paths[role])],
                                    env=env, stderr=open(tmp / f"{role}.log", "wb"))  # noqa: SIM115
             for role in ("helper", "leader")}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{http_port}/counters", timeout=2).read()
                break
            except urllib.error.HTTPError:
                break  # it answers (403: counters are for the collector)
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        path = f"/tasks/{b64(task.task_id)}/reports"
        errors: list[str] = []

        def worker(k: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=60)
            for body in bodies[k :: args.connections]:
                conn.request("PUT", path, body=body, headers={"content-type": "application/msgpack"})
                r = conn.getresponse()
                r.read()
                if r.status != 201:
                    errors.append(f"HTTP {r.status}")
            conn.close()

        start = time.perf_counter()
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.connections)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        uploaded = time.perf_counter() - start
        if errors:
            raise SystemExit(f"{len(errors)} uploads failed, e.g. {errors[0]}")
        result = collect(task, load_key_file(paths["collector"]), timeout=3600)
        total = time.perf_counter() - start
        assert result.count == n, result
        expected = sum(values) if args.vdaf != "histogram" else [values.count(b) for b in range(args.length)]
        assert result.aggregate == expected, (result.aggregate, expected)
        rss = {role: peak_rss_mb(p.pid) for role, p in procs.items()}
        out = {
            "reports": n, "vdaf": args.vdaf, "connections": args.connections, "job_size": args.job_size,
            "client_prepare_per_s": n / prep, "upload_per_s": n / uploaded,
            "end_to_end_per_s": n / total, "collect_after_upload_s": total - uploaded,
            "peak_rss_mb": rss,
            "db_bytes_per_report_running": {role: db_bytes(tmp / f"{role}.sqlite") / n for role in ("leader", "helper")},
            "loadavg": os.getloadavg(),
        }
    finally:
        for p in procs.values():
            p.send_signal(signal.SIGINT)
        for p in procs.values():
            p.wait(timeout=30)
    # after a clean stop the WAL is merged into the file: what a report costs on disk for good
    out["db_bytes_per_report"] = {role: db_bytes(tmp / f"{role}.sqlite") / n for role in ("leader", "helper")}
    if args.json:
        print(json.dumps(out))
        return
    print(f"{n} {args.vdaf} reports, {args.connections} connections, jobs of {args.job_size}")
    print(f"  clients' sharding + sealing: {out['client_prepare_per_s']:.0f} reports/s (one process, not counted below)")
    print(f"  upload over HTTP:            {out['upload_per_s']:.0f} reports/s")
    print(f"  end to end (upload .. collected): {out['end_to_end_per_s']:.0f} reports/s; the collection finished "
          f"{out['collect_after_upload_s']:.1f} s after the last upload")
    print(f"  peak RSS: leader {rss['leader']:.0f} MB, helper {rss['helper']:.0f} MB")
    per, run = out["db_bytes_per_report"], out["db_bytes_per_report_running"]
    print(f"  database bytes per report: leader {per['leader']:.0f}, helper {per['helper']:.0f} (files after stop; "
          f"while running, with the WAL: {run['leader']:.0f}, {run['helper']:.0f})")
    print(f"  load average: {' '.join(f'{x:.2f}' for x in out['loadavg'])}")


if __name__ == "__main__":
    main()
