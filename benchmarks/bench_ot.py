"""Benchmark the OT layer: IKNP random OTs between two party processes on loopback.

Usage::

    python benchmarks/bench_ot.py [--sizes 1000000 10000000] [--reps 3] [--json OUT]

Each run starts two processes of this script (``--party p0`` / ``--party
p1``), each a real mpcnet party (generated keys, a two-party roster, the
Noise-encrypted TCP mesh on 127.0.0.1, :func:`mpcnet.run_party_async`),
which run the test protocol ``bench-ot``: p0 is the OT sender, p1 the
receiver; 128 Masny-Rindal base OTs (one round), then m random OTs of 16-byte
messages (one round), receiver's choice bits drawn from a public seed (so the
two processes can be checked against each other afterwards: each prints a
SHA-256 of the chosen messages, outside the timed part; a mismatch exits 1).

Reported per size (medians over ``--reps``): base-OT time, extension time
(the slower party's, from the end of the base-OT round to its outputs),
random OTs per second of the extension alone and including the base OTs,
bytes sent by each party per OT, rounds. Progress goes to stderr, a table to
stdout, every run to ``benchmarks/results/ot.json`` (default).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import trio

import mpcnet
from mpcnet import Context, protocol
from mpcnet.identity import format_public_key, generate_key, load_key_file, load_roster, write_key_file
from mpcnet.mpc.ot import OTReceiver, OTSender

HERE = Path(__file__).resolve().parent
CHOICE_SEED = 2026  # public: the benchmark's choices are not a secret, so both sides can be checked


def choices(m: int) -> np.ndarray:
    return np.random.default_rng(CHOICE_SEED).integers(0, 2, m, dtype=np.uint8)


@protocol("bench-ot", min_parties=2, security="benchmark only", reveals="timings", input="int", output="dict")
async def bench_ot(ctx: Context, value: int) -> dict[str, Any]:
    """p0: sender of ``value`` random OTs; p1: receiver. Returns timings and a digest of the chosen messages."""
    m = value
    t0 = time.perf_counter()
    if ctx.me == "p0":
        sender = await OTSender.setup(ctx, "p1")
        t1 = time.perf_counter()
        x0, x1 = await sender.random(m)
        t2 = time.perf_counter()
        digest = hashlib.sha256(np.where(choices(m)[:, None] == 1, x1, x0).tobytes()).hexdigest()
    else:
        c = choices(m)
        receiver = await OTReceiver.setup(ctx, "p0")
        t1 = time.perf_counter()
        x = await receiver.random(c)
        t2 = time.perf_counter()
        digest = hashlib.sha256(x.tobytes()).hexdigest()
    return {"base_s": t1 - t0, "extension_s": t2 - t1, "digest": digest}


def party_main(args: argparse.Namespace) -> int:
    roster, key = load_roster(args.roster), load_key_file(args.key)
    result = trio.run(lambda: mpcnet.run_party_async("bench-ot", args.m, roster=roster, key=key,
                                                      session_label=args.session, round_timeout=300))
    print(json.dumps({"output": result.output, "stats": result.stats.to_dict()}))
    return 0


def one_run(m: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="mpcnet-bench-ot-") as tmpdir:
        tmp = Path(tmpdir)
        sys.path.insert(0, str(HERE.parent / "tests"))
        from helpers import free_ports

        lines, keys = [], {}
        for name, port in zip(("p0", "p1"), free_ports(2), strict=True):
            key = generate_key(name)
            keys[name] = write_key_file(key, tmp / "keys")
            lines += [f"[parties.{name}]", f'address = "127.0.0.1:{port}"',
                      f'public_key = "{format_public_key(key.public)}"', ""]
        (tmp / "roster.toml").write_text("\n".join(lines))
        label = f"bench-ot-{time.time_ns()}"
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, __file__, "--party", name, "--roster", str(tmp / "roster.toml"),
                                   "--key", str(keys[name]), "--m", str(m), "--session", label],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("p0", "p1")]
        outs = [p.communicate(timeout=900) for p in procs]
        wall = time.perf_counter() - start
    for p, (_, err) in zip(procs, outs, strict=True):
        if p.returncode != 0:
            raise SystemExit(f"party failed:\n{err[-3000:]}")
    parties = [json.loads(out.strip().splitlines()[-1]) for out, _ in outs]
    if parties[0]["output"]["digest"] != parties[1]["output"]["digest"]:
        raise SystemExit(f"m={m}: the receiver's messages are not the sender's chosen ones")
    ext = max(p["output"]["extension_s"] for p in parties)
    base = max(p["output"]["base_s"] for p in parties)
    return {"m": m, "base_s": base, "extension_s": ext, "ots_per_s": m / ext, "ots_per_s_with_base": m / (ext + base),
            "bytes_per_ot": [p["stats"]["bytes_sent"] / m for p in parties],
            "rounds": [p["stats"]["rounds"] for p in parties], "session_s": max(p["stats"]["wall_time"] for p in parties),
            "process_wall_s": wall}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10**6, 10**7])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", default=str(HERE / "results" / "ot.json"))
    ap.add_argument("--party"), ap.add_argument("--roster"), ap.add_argument("--key"), ap.add_argument("--session")
    ap.add_argument("--m", type=int)
    args = ap.parse_args(argv)
    if args.party:
        return party_main(args)
    rows = []
    for m in args.sizes:
        runs = []
        for rep in range(args.reps):
            runs.append(one_run(m))
            print(f"m={m} rep {rep}: {runs[-1]['ots_per_s']:,.0f} OTs/s", file=sys.stderr)
        row = {k: statistics.median(r[k] for r in runs) for k in ("base_s", "extension_s", "ots_per_s",
                                                                  "ots_per_s_with_base", "session_s", "process_wall_s")}
        row.update(m=m, bytes_per_ot=runs[0]["bytes_per_ot"], rounds=runs[0]["rounds"], runs=runs)
        rows.append(row)
    print(f"{'OTs':>10} {'base OT':>9} {'extension':>10} {'OTs/s':>12} {'OTs/s incl. base':>17} "
          f"{'bytes/OT p0, p1':>16} {'rounds':>7}")
    for r in rows:
        print(f"{r['m']:>10,} {r['base_s'] * 1e3:>7.1f}ms {r['extension_s']:>9.3f}s {r['ots_per_s']:>12,.0f} "
              f"{r['ots_per_s_with_base']:>17,.0f} {r['bytes_per_ot'][0]:>7.3f}, {r['bytes_per_ot'][1]:>6.2f} "
              f"{r['rounds'][0]:>7}")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "rows": rows},
                                          indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
