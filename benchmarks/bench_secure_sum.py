"""Benchmark mpcnet's secure-sum, side by side with MPyC 0.11.

Usage::

    python benchmarks/bench_secure_sum.py [--quick] [--json OUT] [--no-mpyc] [--max-seconds N]

1. A grid: parties n x vector length x transport (``memory``, and ``tcp`` =
   real Noise-encrypted TCP on loopback with every party in this process).
   Every result is checked against the plaintext sum; a wrong answer aborts
   the benchmark (exit 1).
2. A comparison on one task, a 10^4-element vector sum among 3 parties:
   MPyC (its parties as separate processes on loopback, see ``mpyc_sum.py``),
   mpcnet over TCP in one process, and mpcnet with one ``mpcnet party``
   process per party (generated keys and roster): the fair comparison.

A table goes to stdout, progress (one line per case) to stderr, and every
row to a JSON file (default ``benchmarks/results/secure_sum.json``, or
``secure_sum_quick.json`` with ``--quick``).

Times: ``wall`` is the whole ``simulate()`` call (for tcp: key generation,
mesh set-up and handshakes included); ``proto`` is the protocol itself, the
slowest party's ``SessionStats.wall_time`` (from the mesh being up to the
output). Grid: medians over 3 repetitions, 1 for cases whose first run
takes longer than ``--single-rep-above`` seconds. Comparison: medians (and
the fastest run) over ``--compare-reps`` repetitions (default 5).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import hashlib
import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

# The inputs MPyC's parties draw (mpyc_sum.py sits next to this script; importing it does not import MPyC).
from mpyc_sum import party_input

import mpcnet

HERE = Path(__file__).resolve().parent

FULL_PARTIES = (2, 3, 4, 8, 16, 32)
FULL_LENGTHS = (1, 10**2, 10**4, 10**6)
QUICK_PARTIES = (2, 3, 4, 8)
QUICK_LENGTHS = (1, 10**2, 10**4)
TRANSPORTS = ("memory", "tcp")
#: Cases whose total traffic (every party's shares and partial sums) is above this are skipped.
MAX_TRAFFIC = 2 * 10**9
COMPARE_PARTIES = 3
COMPARE_LENGTH = 10**4
LOW, HIGH = -(2**31), 2**31  # the default bits=32 signed range


class WrongResult(Exception):
    """A benchmark run produced a wrong sum."""


def progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(b) < 1000 or unit == "GB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    raise AssertionError


def expected_traffic(n: int, length: int) -> int:
    """Bytes all parties send together: 2 rounds of (n-1) vectors of 8-byte shares each."""
    return n * (n - 1) * length * 16


def machine_info() -> dict[str, Any]:
    cpu_model = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mpcnet": mpcnet.__version__,
        "numpy": np.__version__,
        "mpyc": None,
        "gmpy2": importlib.util.find_spec("gmpy2") is not None,
    }
    if importlib.util.find_spec("mpyc") is not None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            info["mpyc"] = version("mpyc")
        except PackageNotFoundError:
            info["mpyc"] = "unknown"
    info["source"] = source_state()
    try:
        info["loadavg_start"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    return info


def source_state() -> dict[str, Any]:
    """The git commit measured, and a digest of uncommitted changes to the
    library (the numbers describe the working tree, not only the commit)."""
    root = HERE.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10,
                              check=True).stdout

    try:
        commit = git("rev-parse", "HEAD").strip()
        status = git("status", "--porcelain", "-z", "--untracked-files=all", "--", "mpcnet", "protocols")
        changed = [entry[3:] for entry in status.split("\0") if len(entry) > 3]
    except (OSError, subprocess.SubprocessError):
        return {"commit": None}
    digest = hashlib.sha256()
    for name in sorted(changed):
        digest.update(name.encode())
        try:
            digest.update((root / name).read_bytes())
        except OSError:
            digest.update(b"<deleted>")
    return {"commit": commit, "uncommitted_files": sorted(changed),
            "uncommitted_sha256": digest.hexdigest() if changed else None}


# --------------------------------------------------------------------- grid


def run_case(transport: str, n: int, length: int, rng: np.random.Generator, single_rep_above: float) -> dict[str, Any]:
    inputs = [rng.integers(LOW, HIGH, size=length, dtype=np.int64) for _ in range(n)]
    expected = np.sum(inputs, axis=0)
    walls, protos, per_party = [], [], []
    reps = 3
    i = 0
    while i < reps:
        res = mpcnet.simulate("secure-sum", inputs, transport=transport)
        for name, out in zip(res.parties, res.outputs, strict=True):
            if not (isinstance(out, np.ndarray) and out.shape == expected.shape and np.array_equal(out, expected)):
                raise WrongResult(f"secure-sum over {transport}, n={n}, length={length}: party {name} "
                                  "got a wrong sum")
        walls.append(res.wall_time)
        protos.append(max(s.wall_time for s in res.stats))
        per_party = [s.to_dict() for s in res.stats]
        if i == 0 and res.wall_time > single_rep_above:
            reps = 1
        del res
        i += 1
    del inputs, expected
    gc.collect()
    rounds = {p["rounds"] for p in per_party}
    msgs = [p["messages_sent"] for p in per_party]
    sent = [p["bytes_sent"] for p in per_party]
    return {
        "transport": transport, "n": n, "length": length, "status": "ok", "reps": len(walls),
        "wall_s": statistics.median(walls), "proto_s": statistics.median(protos),
        "wall_s_all": walls, "proto_s_all": protos,
        "rounds": max(rounds), "rounds_all_equal": len(rounds) == 1,
        "messages_sent_per_party": max(msgs), "messages_sent_min": min(msgs),
        "bytes_sent_per_party": max(sent), "bytes_sent_min": min(sent),
        "bytes_per_party_per_peer_element": max(sent) / ((n - 1) * length),
        "expected_total_traffic": expected_traffic(n, length),
    }


def run_grid(parties: tuple[int, ...], lengths: tuple[int, ...], seed: int, deadline: float | None,
             single_rep_above: float) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    mpcnet.simulate("secure-sum", [np.zeros(1, np.int64)] * 2, transport="memory")  # warm-up (imports)
    mpcnet.simulate("secure-sum", [np.zeros(1, np.int64)] * 2, transport="tcp")
    cases = [(t, n, length) for t in TRANSPORTS for n in parties for length in lengths]
    rows = []
    for k, (transport, n, length) in enumerate(cases, 1):
        tag = f"[{k}/{len(cases)}] {transport:6} n={n:<2} length={length:<8}"
        base = {"transport": transport, "n": n, "length": length}
        if expected_traffic(n, length) > MAX_TRAFFIC:
            rows.append({**base, "status": "skipped: >2 GB", "expected_total_traffic": expected_traffic(n, length)})
            progress(f"{tag} skipped: total traffic {fmt_bytes(expected_traffic(n, length))} > 2 GB")
            continue
        if deadline is not None and time.monotonic() > deadline:
            rows.append({**base, "status": "skipped: --max-seconds"})
            progress(f"{tag} skipped: --max-seconds budget used up")
            continue
        row = run_case(transport, n, length, rng, single_rep_above)
        rows.append(row)
        progress(f"{tag} wall {row['wall_s']:.3f} s, proto {row['proto_s']:.3f} s, {row['rounds']} rounds, "
                 f"{fmt_bytes(row['bytes_sent_per_party'])}/party ({row['reps']} rep{'s' if row['reps'] > 1 else ''})")
    return rows


def print_grid(rows: list[dict[str, Any]]) -> None:
    head = (f"{'transport':9} {'n':>3} {'length':>9} {'wall s':>8} {'proto s':>8} {'rounds':>6} {'msgs/p':>6} "
            f"{'bytes/party':>12} {'B/((n-1)len)':>12} {'reps':>4}")
    print("\nmpcnet secure-sum (int64 inputs in the 32-bit signed range; per-party figures are the max over parties)")
    print(head)
    print("-" * len(head))
    for r in rows:
        lead = f"{r['transport']:9} {r['n']:>3} {r['length']:>9}"
        if r["status"] != "ok":
            print(f"{lead} {r['status']}")
            continue
        print(f"{lead} {r['wall_s']:>8.3f} {r['proto_s']:>8.3f} {r['rounds']:>6} {r['messages_sent_per_party']:>6} "
              f"{r['bytes_sent_per_party']:>12} {r['bytes_per_party_per_peer_element']:>12.2f} {r['reps']:>4}")


# --------------------------------------------------------------- comparison


def free_ports(k: int) -> list[int]:
    socks = []
    for _ in range(k):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def sha_of(arr: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr, dtype="<i8").tobytes()).hexdigest()


def run_processes(cmds: list[list[str]], timeout: float, cwd: str | None = None) -> tuple[float, list[str]]:
    """Start every command at once; wait for all; (wall seconds, stdouts). Raises on failure."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd) for c in cmds]
    outs = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=max(1.0, timeout - (time.perf_counter() - start)))
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(p.args[:4])} ... exited {p.returncode}:\n{err.strip()[-2000:]}")
            outs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return time.perf_counter() - start, outs


def last_json_line(out: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no JSON line in output: {out[-500:]!r}")


def mpyc_once(length: int, seed: int, api: str) -> dict[str, Any]:
    ports = free_ports(COMPARE_PARTIES)
    addr = [a for p in ports for a in ("-P", f"localhost:{p}")]
    cmds = [[sys.executable, str(HERE / "mpyc_sum.py"), "--length", str(length), "--seed", str(seed), "--api", api,
             f"-M{COMPARE_PARTIES}", f"-I{i}", *addr, "--no-log"] for i in range(COMPARE_PARTIES)]
    wall, outs = run_processes(cmds, timeout=120)
    parties = [last_json_line(o) for o in outs]
    expected = sha_of(np.sum([party_input(seed, i, length) for i in range(COMPARE_PARTIES)], axis=0))
    for p in parties:
        if p["result_sha256"] != expected:
            raise WrongResult(f"MPyC party {p['pid']} opened a wrong sum")
    return {"process_wall_s": wall, "time_s": max(p["time_s"] for p in parties),
            "bytes_sent_per_party": max(p["bytes_sent"] for p in parties),
            "messages_sent_per_party": max(p["messages_sent"] for p in parties),
            "threshold": parties[0]["threshold"], "gmpy2": parties[0]["gmpy2"]}


def mpcnet_tcp_once(length: int, seed: int) -> dict[str, Any]:
    inputs = [party_input(seed, i, length) for i in range(COMPARE_PARTIES)]
    expected = np.sum(inputs, axis=0)
    res = mpcnet.simulate("secure-sum", inputs, transport="tcp")
    if not all(np.array_equal(o, expected) for o in res.outputs):
        raise WrongResult("mpcnet (tcp, one process) got a wrong sum")
    return {"wall_s": res.wall_time, "time_s": max(s.wall_time for s in res.stats),
            "bytes_sent_per_party": max(s.bytes_sent for s in res.stats),
            "messages_sent_per_party": max(s.messages_sent for s in res.stats),
            "rounds": max(s.rounds for s in res.stats)}


def mpcnet_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "mpcnet.cli", *args]


def make_deployment(tmp: Path, names: list[str]) -> tuple[Path, dict[str, Path]]:
    """Keys via ``mpcnet keygen`` and a loopback roster with free ports."""
    keys, lines = {}, []
    for name, port in zip(names, free_ports(len(names)), strict=True):
        out = subprocess.run(mpcnet_cli("keygen", name, "--dir", str(tmp / "keys")), check=True,
                             capture_output=True, text=True).stdout
        public = next(line.strip() for line in out.splitlines() if line.startswith("x25519:"))
        keys[name] = tmp / "keys" / f"{name}.key"
        lines += [f"[parties.{name}]", f'address = "127.0.0.1:{port}"', f'public_key = "{public}"', ""]
    roster = tmp / "roster.toml"
    roster.write_text("\n".join(lines))
    return roster, keys


def mpcnet_processes_once(length: int, seed: int, rep: int, n: int = COMPARE_PARTIES,
                          extra_args: tuple[str, ...] = ()) -> dict[str, Any]:
    """One run of ``n`` ``mpcnet party`` processes (keys, roster and input files generated)."""
    names = [f"p{i}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="mpcnet-bench-") as tmpdir:
        tmp = Path(tmpdir)
        roster, keys = make_deployment(tmp, names)
        for i, name in enumerate(names):
            (tmp / f"{name}.json").write_text(json.dumps(party_input(seed, i, length).tolist()))
        label = f"bench-{rep}-{os.getpid()}-{time.time_ns()}"
        cmds = [mpcnet_cli(*extra_args, "party", "secure-sum", "--roster", str(roster), "--id", name,
                           "--key", str(keys[name]), "--input-json", f"@{tmp / f'{name}.json'}",
                           "--session", label, "--json")
                for name in names]
        wall, outs = run_processes(cmds, timeout=120)
    parties = [last_json_line(o) for o in outs]
    expected = np.sum([party_input(seed, i, length) for i in range(n)], axis=0)
    for p in parties:
        if not np.array_equal(np.asarray(p["output"], dtype=np.int64), expected):
            raise WrongResult(f"mpcnet party {p['party']} (separate processes) got a wrong sum")
    return {"process_wall_s": wall, "time_s": max(p["stats"]["wall_time"] for p in parties),
            "bytes_sent_per_party": max(p["stats"]["bytes_sent"] for p in parties),
            "messages_sent_per_party": max(p["stats"]["messages_sent"] for p in parties),
            "rounds": max(p["stats"]["rounds"] for p in parties)}


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the numeric fields (and the minimum time), plus every run."""
    out: dict[str, Any] = {"reps": len(runs), "runs": runs}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = statistics.median(r[key] for r in runs)
        else:
            out[key] = value
    out["time_s_min"] = min(r["time_s"] for r in runs)
    return out


def run_comparison(reps: int, seed: int, with_mpyc: bool, list_api: bool) -> dict[str, Any]:
    length, n = COMPARE_LENGTH, COMPARE_PARTIES
    comp: dict[str, Any] = {"parties": n, "length": length, "reps": reps}
    tag = f"compare n={n} length={length}"
    if not with_mpyc:
        comp["mpyc"] = {"status": "skipped: --no-mpyc"}
    elif importlib.util.find_spec("mpyc") is None:
        note = "MPyC is not installed (pip install 'mpcnet[bench]' or pip install mpyc==0.11): comparison skipped"
        print(f"NOTE: {note}", file=sys.stderr)
        comp["mpyc"] = {"status": "skipped: mpyc not installed"}
    else:
        for api in ("array", "list") if list_api else ("array",):
            runs = []
            for r in range(reps):
                runs.append(mpyc_once(length, seed, api))
                progress(f"{tag} MPyC ({api} API, 3 processes) rep {r + 1}: {runs[-1]['time_s']:.3f} s timed, "
                         f"{runs[-1]['process_wall_s']:.2f} s processes")
            comp["mpyc" if api == "array" else "mpyc_list_api"] = {"status": "ok", **summarize(runs)}
    runs = []
    for r in range(reps):
        runs.append(mpcnet_tcp_once(length, seed))
        progress(f"{tag} mpcnet (tcp, one process) rep {r + 1}: {runs[-1]['time_s']:.3f} s protocol, "
                 f"{runs[-1]['wall_s']:.3f} s with mesh set-up")
    comp["mpcnet_tcp_one_process"] = {"status": "ok", **summarize(runs)}
    runs = []
    try:
        for r in range(reps):
            runs.append(mpcnet_processes_once(length, seed, r))
            progress(f"{tag} mpcnet (tcp, 3 'mpcnet party' processes) rep {r + 1}: {runs[-1]['time_s']:.3f} s "
                     f"protocol, {runs[-1]['process_wall_s']:.2f} s processes")
        comp["mpcnet_tcp_processes"] = {"status": "ok", **summarize(runs)}
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"NOTE: mpcnet with separate processes failed: {exc}", file=sys.stderr)
        comp["mpcnet_tcp_processes"] = {"status": f"failed: {str(exc)[:300]}"}
    mp = comp.get("mpyc", {})
    if mp.get("status") == "ok":
        ratios = {"one_process": mp["time_s"] / comp["mpcnet_tcp_one_process"]["time_s"]}
        if comp["mpcnet_tcp_processes"]["status"] == "ok":
            ratios["processes"] = mp["time_s"] / comp["mpcnet_tcp_processes"]["time_s"]
            ratios["processes_best_of"] = mp["time_s_min"] / comp["mpcnet_tcp_processes"]["time_s_min"]
            ratios["process_wall"] = mp["process_wall_s"] / comp["mpcnet_tcp_processes"]["process_wall_s"]
        comp["mpcnet_faster_by"] = ratios
    return comp


def run_big_processes(seed: int) -> dict[str, Any]:
    """4 parties, 10^6 elements, one ``mpcnet party`` process each (1 rep): the
    per-party cost of the biggest TCP case when the parties do not share a
    thread. Its process wall time includes JSON input (10^6 values) and JSON
    output at every party."""
    n, length = 4, 10**6
    try:
        run = mpcnet_processes_once(length, seed, 0, n=n)
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        print(f"NOTE: mpcnet 4 x 10^6 with separate processes failed: {exc}", file=sys.stderr)
        return {"parties": n, "length": length, "status": f"failed: {str(exc)[:300]}"}
    progress(f"mpcnet (tcp, {n} 'mpcnet party' processes) length={length}: {run['time_s']:.3f} s protocol, "
             f"{run['process_wall_s']:.2f} s processes")
    return {"parties": n, "length": length, "status": "ok", **summarize([run])}


def print_comparison(comp: dict[str, Any]) -> None:
    print(f"\nSum of a {comp['length']}-element secure vector, {comp['parties']} parties on loopback "
          f"(medians of {comp['reps']}, and the fastest run; 'timed' = input+sum+output after the parties "
          "are connected, at the slowest party)")
    head = f"{'system':52} {'timed s':>8} {'min s':>7} {'procs s':>8} {'msgs/p':>6} {'bytes/party':>12}"
    print(head)
    print("-" * len(head))

    def line(label: str, d: dict[str, Any], wall_key: str | None) -> None:
        if d.get("status") != "ok":
            print(f"{label:52} {d.get('status', 'n/a')}")
            return
        wall = f"{d[wall_key]:8.2f}" if wall_key else f"{'-':>8}"
        print(f"{label:52} {d['time_s']:8.3f} {d['time_s_min']:7.3f} {wall} {d['messages_sent_per_party']:>6} "
              f"{d['bytes_sent_per_party']:>12}")

    extra = ""
    if comp["mpyc"].get("status") == "ok":
        extra = f", t={comp['mpyc']['threshold']}, gmpy2 {'on' if comp['mpyc']['gmpy2'] else 'off'}"
    line(f"MPyC 0.11, secure arrays, 3 processes{extra}", comp["mpyc"], "process_wall_s")
    if "mpyc_list_api" in comp:
        line("MPyC 0.11, list of secint, 3 processes", comp["mpyc_list_api"], "process_wall_s")
    line("mpcnet secure-sum, Noise/TCP, 3 'mpcnet party' procs", comp["mpcnet_tcp_processes"], "process_wall_s")
    line("mpcnet secure-sum, Noise/TCP, one process", comp["mpcnet_tcp_one_process"], None)
    r = comp.get("mpcnet_faster_by")
    if r:
        parts = [f"{r['one_process']:.1f}x (mpcnet in one process)"]
        if "processes" in r:
            parts.insert(0, f"{r['processes']:.1f}x (separate processes, the fair comparison; "
                            f"{r['processes_best_of']:.1f}x best-of)")
        print("mpcnet faster than MPyC (timed part) by " + "; ".join(parts))
        if "process_wall" in r:
            print(f"whole-process wall time (start to exit, imports included): MPyC "
                  f"{comp['mpyc']['process_wall_s']:.2f} s, "
                  f"mpcnet {comp['mpcnet_tcp_processes']['process_wall_s']:.2f} s "
                  f"(MPyC / mpcnet = {r['process_wall']:.2f})")
    big = comp.get("mpcnet_tcp_processes_4x1e6")
    if big and big.get("status") == "ok":
        print(f"\nmpcnet secure-sum, {big['parties']} 'mpcnet party' processes, length {big['length']} (1 run): "
              f"protocol {big['time_s']:.3f} s, processes {big['process_wall_s']:.2f} s "
              f"(JSON input and output of 10^6 values at every party included), "
              f"{big['bytes_sent_per_party']} bytes/party")
    elif big:
        print(f"\nmpcnet 4 x 10^6 with separate processes: {big['status']}")
    print("MPyC bytes: its own counter (12-byte header + payload per message, plaintext TCP); "
          "mpcnet bytes: encoded envelopes before Noise framing.")


# --------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="a small grid (n<=8, length<=10^4) and a single-run comparison, for smoke tests (< ~30 s)")
    ap.add_argument("--json", metavar="OUT",
                    help="where to write all rows (default benchmarks/results/secure_sum.json)")
    ap.add_argument("--no-mpyc", action="store_true", help="skip the MPyC comparison")
    ap.add_argument("--max-seconds", type=float, metavar="N",
                    help="time budget: grid cases not started within N seconds of the start are skipped")
    ap.add_argument("--seed", type=int, default=1, help="input seed (default 1)")
    ap.add_argument("--compare-reps", type=int, default=5, metavar="K",
                    help="repetitions of each system in the MPyC comparison (default 5; 1 with --quick)")
    ap.add_argument("--single-rep-above", type=float, default=3.0, metavar="S",
                    help="run a case once (not 3 times) when its first run takes more than S seconds (default 3)")
    args = ap.parse_args(argv)

    t0 = time.monotonic()
    deadline = t0 + args.max_seconds if args.max_seconds else None
    default_out = HERE / "results" / ("secure_sum_quick.json" if args.quick else "secure_sum.json")
    out = Path(args.json) if args.json else default_out
    parties, lengths = (QUICK_PARTIES, QUICK_LENGTHS) if args.quick else (FULL_PARTIES, FULL_LENGTHS)
    info = machine_info()
    progress(f"mpcnet {info['mpcnet']} on {info['cpu_count']} CPUs ({info['cpu_model']}), Python {info['python']}; "
             f"grid n={list(parties)} lengths={list(lengths)} transports={list(TRANSPORTS)}")
    try:
        # The comparison first: it is short and its processes get the quietest machine.
        comp = run_comparison(1 if args.quick else args.compare_reps, args.seed, with_mpyc=not args.no_mpyc, list_api=not args.quick)
        if not args.quick:
            if deadline is None or time.monotonic() < deadline:
                comp["mpcnet_tcp_processes_4x1e6"] = run_big_processes(args.seed)
            else:
                comp["mpcnet_tcp_processes_4x1e6"] = {"parties": 4, "length": 10**6,
                                                      "status": "skipped: --max-seconds"}
        rows = run_grid(parties, lengths, args.seed, deadline, args.single_rep_above)
    except WrongResult as exc:
        print(f"\nBENCHMARK ABORTED: WRONG RESULT: {exc}", file=sys.stderr)
        return 1
    try:
        info["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    info["total_seconds"] = round(time.monotonic() - t0, 1)
    print_grid(rows)
    print_comparison(comp)
    doc = {"benchmark": "secure-sum", "machine": info,
           "config": {"quick": args.quick, "parties": list(parties), "lengths": list(lengths),
                      "transports": list(TRANSPORTS), "seed": args.seed, "max_traffic_bytes": MAX_TRAFFIC,
                      "max_seconds": args.max_seconds, "single_rep_above": args.single_rep_above,
                      "input_range": [LOW, HIGH - 1]},
           "grid": rows, "comparison": comp}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"\nwrote {out} ({info['total_seconds']} s in all)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
