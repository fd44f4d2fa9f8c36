"""How soon the other parties name a peer that is killed, stalled or black-holed.

Three ``mpcnet party`` processes on the network-namespace test bed
(``mpcnet.testing.netns``: one host each, every byte through the fault proxy)
run a long protocol (a broadcast round every 0.2 s) with default flags, so the
round deadline is the default one. Once round 1 is done, the victim (p2, whom
the others dial; ``--victim p0`` for the one that dials them) is

- ``killed``: SIGKILL (its kernel closes its connections),
- ``stalled``: SIGSTOP (alive to the kernel, silent to everyone),
- ``blackholed``: the proxy drops every byte on p2's links, both ways.

Reported per scenario and repetition: when the other two exited after the fault,
their exit codes and the peer their error names. Needs root and ``ip``.

    sudo .venv/bin/python scripts/liveness_probe.py [--reps 3] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mpcnet.testing.netns import Testbed, unavailable_reason
from mpcnet.testing.plugin import install_plugin

NAMES = ["p0", "p1", "p2"]
PLUGIN = '''
"""Probe protocol: a broadcast round every 0.2 s; party p0 touches
$MPCNET_PROBE_MARKER after round 1."""
import os
import trio
from mpcnet import Context, protocol


@protocol("probe-rounds", security="test only", reveals="the sum", input="int", output="int")
async def rounds(ctx: Context, value: int) -> int:
    total = value + sum((await ctx.broadcast(value)).values())
    if ctx.me == "p0":
        open(os.environ["MPCNET_PROBE_MARKER"], "w").close()
    for _ in range(int(os.environ.get("MPCNET_PROBE_ROUNDS", "600"))):
        await trio.sleep(0.2)
        await ctx.broadcast(value)
    return total
'''


def plugin_dir(tmp: Path) -> Path:
    return install_plugin(tmp, "mpcnet_probeplugin", PLUGIN)


def named_peer(stderr: str) -> str | None:
    for line in stderr.splitlines():
        if line.startswith("mpcnet: error:") and "[peer " in line:
            return line.rsplit("[peer ", 1)[1].split("]")[0]
    return None


def one(bed: Testbed, scenario: str, tmp: Path, victim: str) -> dict[str, object]:
    marker = tmp / f"marker-{time.monotonic_ns()}"
    env = dict(os.environ, MPCNET_PROBE_MARKER=str(marker))
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[1]), str(plugin_dir_path),
                                         env.get("PYTHONPATH", "")])
    bed.proxy.reset()
    procs = bed.start_all("probe-rounds", {n: str(i + 1) for i, n in enumerate(NAMES)}, env=env)
    deadline = time.monotonic() + 60
    while not marker.exists():
        if time.monotonic() > deadline or any(p.poll() is not None for p in procs.values()):
            raise RuntimeError("the run did not reach round 1: " + procs["p0"].stderr.read()[-2000:])  # type: ignore[union-attr]
        time.sleep(0.01)
    time.sleep(0.3)
    fault_at = time.monotonic()
    others = [n for n in NAMES if n != victim]
    if scenario == "killed":
        procs[victim].send_signal(signal.SIGKILL)
    elif scenario == "stalled":
        _signal_tree(procs[victim].pid, signal.SIGSTOP)
    else:
        bed.proxy.set(f"host:{victim}", blackhole=True)
    exits: dict[str, float] = {}
    limit = fault_at + 60
    while len(exits) < 2 and time.monotonic() < limit:
        for n in others:
            if n not in exits and procs[n].poll() is not None:
                exits[n] = time.monotonic() - fault_at
        time.sleep(0.005)
    out: dict[str, object] = {"scenario": scenario, "victim": victim, "others": others}
    for n in others:
        if procs[n].poll() is None:
            procs[n].kill()
        _, err = procs[n].communicate()
        out[n] = {"exit_s": exits.get(n), "returncode": procs[n].returncode, "names": named_peer(err),
                  "error": next((ln for ln in err.splitlines() if ln.startswith("mpcnet: error:")), None)}
    _signal_tree(procs[victim].pid, signal.SIGCONT)
    procs[victim].kill()
    procs[victim].communicate()
    return out


def _signal_tree(pid: int, sig: int) -> None:
    """Signal ``pid`` and its children (``ip netns exec`` execs python, so usually one process)."""
    try:
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        children = []
    for p in [pid, *map(int, children)]:
        try:
            os.kill(p, sig)
        except ProcessLookupError:
            pass


plugin_dir_path: Path


def main() -> int:
    global plugin_dir_path
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--scenarios", default="killed,stalled,blackholed")
    ap.add_argument("--victim", choices=NAMES, default="p2",
                    help="the party to fault: p2 is dialed by the others, p0 dials them")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    reason = unavailable_reason()
    if reason:
        print(f"network namespaces unavailable: {reason}", file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="mpcnet-liveness-") as d, Testbed(NAMES) as bed:
        tmp = Path(d)
        plugin_dir_path = plugin_dir(tmp)
        for scenario in args.scenarios.split(","):
            for r in range(args.reps):
                res = one(bed, scenario, tmp, args.victim)
                results.append(res)
                print(f"{scenario:<10} run {r + 1}: " + "; ".join(
                    f"{n} exit {res[n]['exit_s'] if res[n]['exit_s'] is None else round(res[n]['exit_s'], 2)} s "  # type: ignore[index]
                    f"rc {res[n]['returncode']} names {res[n]['names']}" for n in res["others"]), flush=True)  # type: ignore[index,attr-defined]
    print(f"\nscenario    median s to the others' exit (the later of the two)   all name {args.victim}")
    for scenario in args.scenarios.split(","):
        rows = [r for r in results if r["scenario"] == scenario]
        times = [max(r[n]["exit_s"] or float("inf") for n in r["others"]) for r in rows]  # type: ignore[index,attr-defined]
        ok = all(r[n]["names"] == args.victim and r[n]["returncode"] == 1  # type: ignore[index]
                 for r in rows for n in r["others"])  # type: ignore[attr-defined]
        print(f"{scenario:<11} {statistics.median(times):6.2f} (runs: {', '.join(f'{t:.2f}' for t in times)})"
              f"{'':>12}{ok}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
