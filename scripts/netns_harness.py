#!/usr/bin/env python3
"""Run `mpcnet party` on N hosts (network namespaces) through the fault proxy.

    sudo .venv/bin/python scripts/netns_harness.py --parties 4 --rtt 50 --jitter 5
    sudo .venv/bin/python scripts/netns_harness.py --parties 4 --rtt 50 --length 200000 \\
        --bandwidth 20e6 --cut p0-p1 --cut-after-bytes 1000000

Each party i gets input vector ``[i+1] * length`` (or the scalar i+1), so the
right answer is known; the harness prints per-party exit code, session time,
process time, rounds and bytes, checks the outputs and exits non-zero if any
party failed or got a wrong answer. Needs root and iproute2 (see
``mpcnet.testing.netns``).
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mpcnet.testing.faultproxy import ProxyControl
from mpcnet.testing.netns import PartyOutcome, Testbed, unavailable_reason


def run(args: argparse.Namespace) -> tuple[dict[str, PartyOutcome], int]:
    names = [f"p{i}" for i in range(args.parties)]
    inputs = {n: json.dumps([i + 1] * args.length if args.length else i + 1) for i, n in enumerate(names)}
    expected = sum(range(1, args.parties + 1))
    with Testbed(names) as bed:
        assert bed.proxy is not None
        policy = {"delay": args.rtt / 2000, "jitter": args.jitter / 1000}
        if args.bandwidth:
            policy["bandwidth"] = args.bandwidth
        bed.proxy.set("*", **policy)
        extra = ["--timeout", str(args.timeout), "--connect-timeout", str(args.connect_timeout)]
        start = time.monotonic()
        procs = bed.start_all(args.protocol, inputs, *extra)
        cutter = None
        if args.cut:
            cutter = threading.Thread(target=_cut_when, args=(bed, args.cut, args.cut_after_bytes), daemon=True)
            cutter.start()
        outcomes = bed.wait(procs, args.deadline)
        total = time.monotonic() - start
        stats = bed.proxy.stats()
    bad = _report(outcomes, expected, args.length, total, stats, args)
    return outcomes, bad


def _cut_when(bed: Testbed, link: str, after_bytes: int) -> None:
    control = ProxyControl(bed.control_path)  # its own connection: thread safety
    try:
        while True:
            s = control.stats().get(link)
            if s and s["bytes_forward"] + s["bytes_back"] >= after_bytes:
                print(f"[harness] cut {link} after {s['bytes_forward'] + s['bytes_back']} bytes: "
                      f"{control.cut(link)} connection(s) reset", flush=True)
                return
            time.sleep(0.005)
    except (OSError, RuntimeError):
        return


def _report(outcomes: dict[str, PartyOutcome], expected: int, length: int, total: float,
            stats: dict[str, dict[str, int]], args: argparse.Namespace) -> int:
    print(f"{args.parties} parties, RTT {args.rtt} ms +- {args.jitter} ms jitter"
          + (f", {args.bandwidth:.3g} B/s per link" if args.bandwidth else "")
          + (f", vector length {length}" if length else ""))
    print(f"{'party':6} {'exit':>4} {'session s':>9} {'process s':>9} {'rounds':>6} {'sent B':>10} {'recv B':>10}  result")
    bad = 0
    for name, o in outcomes.items():
        r = o.result
        if r is None:
            bad += 1
            err = o.stderr.strip().splitlines()[-1] if o.stderr.strip() else "(no output)"
            print(f"{name:6} {o.returncode:>4} {'-':>9} {o.elapsed:>9.3f} {'-':>6} {'-':>10} {'-':>10}  {err}")
            continue
        s = r["stats"]
        out = r["output"]
        ok = out == ([expected] * length if length else expected)
        bad += 0 if ok and o.returncode == 0 else 1
        print(f"{name:6} {o.returncode:>4} {s['wall_time']:>9.3f} {o.elapsed:>9.3f} {s['rounds']:>6} "
              f"{s['bytes_sent']:>10} {s['bytes_received']:>10}  {'correct' if ok else 'WRONG'}")
    print(f"wall time (all processes) {total:.3f} s")
    conns = sum(v["connections"] for v in stats.values())
    cuts = sum(v["cuts"] for v in stats.values())
    wire = sum(v["bytes_forward"] + v["bytes_back"] for v in stats.values())
    print(f"proxy: {len(stats)} links, {conns} connections, {cuts} cut, {wire} bytes on the wire")
    return bad


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parties", type=int, default=4)
    p.add_argument("--protocol", default="secure-sum")
    p.add_argument("--length", type=int, default=0, help="vector length (0: one integer per party)")
    p.add_argument("--rtt", type=float, default=0.0, help="round-trip time per link, ms")
    p.add_argument("--jitter", type=float, default=0.0, help="+- ms per direction")
    p.add_argument("--bandwidth", type=float, default=0.0, help="bytes/s per link and direction")
    p.add_argument("--cut", help="link to reset mid-run, e.g. p0-p1")
    p.add_argument("--cut-after-bytes", type=int, default=2000, help="cut once this many bytes crossed the link")
    p.add_argument("--timeout", type=float, default=10.0, help="round deadline (s)")
    p.add_argument("--connect-timeout", type=float, default=30.0)
    p.add_argument("--deadline", type=float, default=120.0, help="kill parties still running after this (s)")
    args = p.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"netns harness unavailable: {reason}", file=sys.stderr)
        return 2
    _, bad = run(args)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
