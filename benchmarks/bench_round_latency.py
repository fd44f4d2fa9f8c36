"""Per-round cost of the framework: n parties as separate processes on
loopback TCP run R rounds, each an all-to-all exchange of a tiny share
array (the shape of a comparison or AND layer in the auction).

Reports the median time per round on the slowest party, after
``run_party``'s start barrier. This is the figure that bounds any
round-heavy protocol (the auction's 3 to 6 rounds); the arithmetic itself is
measured in bench_compare.py.

    python benchmarks/bench_round_latency.py [--parties 3] [--rounds 200] [--reps 3] [--profile] [--no-resume]
                                             [--in-process]

Also prints each party's CPU time per round (user + kernel): with 3
processes on 2 cores, the round time is about twice that. ``--in-process``
runs the parties in one process instead and reports only their CPU per
round: no process switches (on a shared machine those make the
separate-process figure vary by 10% from run to run).
"""

from __future__ import annotations

import argparse
import functools
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from bench_secure_sum import make_deployment


async def _rounds(ctx: Any, value: Any) -> int:
    payload = np.arange(value["size"], dtype=np.uint8)
    for _ in range(value["rounds"]):
        await ctx.broadcast(payload)
    return ctx.round


def _party(roster: str, key: str, value: dict[str, Any], profile: bool, queue: Any) -> None:
    import cProfile
    import pstats
    import resource
    import time

    from mpcnet import ProtocolSpec, load_key_file, load_roster, run_party

    holder: dict[str, float] = {}

    async def _timed(ctx: Any, value: Any) -> int:
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        out = await _rounds(ctx, value)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        holder["cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        holder["sys"] = r1.ru_stime - r0.ru_stime
        holder["wall"] = time.perf_counter() - t0
        return out

    spec = ProtocolSpec(name="rounds", func=_timed, summary="R tiny all-to-all rounds", min_parties=2,
                        max_parties=None, security="-", reveals="-", input="-", output="-")
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    res = run_party(spec, value, roster=load_roster(roster), key=load_key_file(key),
                    reconnect_timeout=None if value["no_resume"] else 5.0)
    if prof:
        prof.disable()
        if value["who"] == 0:
            pstats.Stats(prof).sort_stats("tottime").print_stats(25)
    queue.put((res.stats.wall_time, holder["cpu"], holder["sys"]))


def run_once(n: int, rounds: int, size: int, profile: bool, no_resume: bool) -> tuple[float, float, float]:
    names = [f"p{i}" for i in range(n)]
    with tempfile.TemporaryDirectory(prefix="mpcnet-rounds-") as tmp:
        roster, keys = make_deployment(Path(tmp), names)
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        procs = [ctx.Process(target=_party, args=(str(roster), str(keys[nm]),
                                                  {"rounds": rounds, "size": size, "who": i, "no_resume": no_resume}, profile, queue))
                 for i, nm in enumerate(names)]
        for p in procs:
            p.start()
        try:
            got = [queue.get(timeout=120) for _ in procs]
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():  # a party that failed or hung must not outlive the run
                    p.kill()
    return max(g[0] for g in got), statistics.mean(g[1] for g in got), statistics.mean(g[2] for g in got)


def in_process(n: int, rounds: int, size: int, reps: int, no_resume: bool) -> list[float]:
    """CPU per party per round (seconds) with all ``n`` parties in this one
    process over loopback TCP (resumable links unless ``no_resume``), one
    figure per rep. No process switches, so a steadier measure of the
    framework's own work per round than the separate-process run when the
    machine is shared."""
    import contextlib
    import time

    import trio

    from mpcnet import Party, ProtocolSpec
    from mpcnet._net.resumable import ResumableLink
    from mpcnet._net.tcp import loopback_meshes
    from mpcnet.identity import generate_key
    from mpcnet.session import new_session_id

    spec = ProtocolSpec(name="rounds", func=_rounds, summary="R tiny all-to-all rounds", min_parties=2,
                        max_parties=None, security="-", reveals="-", input="-", output="-")
    names = [f"p{i}" for i in range(n)]
    out: list[float] = []

    async def run() -> None:
        async with loopback_meshes([generate_key(nm) for nm in names]) as meshes:
            async with trio.open_nursery() as nursery:
                links: list[dict[str, Any]] = list(meshes)
                if not no_resume:  # (never re-dialed here: both ends wait for an offer)
                    links = []
                    for i, mesh in enumerate(meshes):
                        wrapped: dict[str, Any] = {}
                        for peer, link in mesh.items():
                            wrapped[peer] = ResumableLink(link, me=names[i])
                            await nursery.start(wrapped[peer].run)
                        links.append(wrapped)
                async with contextlib.AsyncExitStack() as stack:
                    parties = [await stack.enter_async_context(Party(nm, names, links[i]))
                               for i, nm in enumerate(names)]
                    for _ in range(reps):
                        sid = new_session_id()
                        cpu = time.process_time()
                        async with trio.open_nursery() as group:
                            for party in parties:
                                group.start_soon(functools.partial(party.run, spec, {"rounds": rounds, "size": size},
                                                                   session_id=sid))
                        out.append((time.process_time() - cpu) / rounds / n)
                nursery.cancel_scope.cancel()

    trio.run(run)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=200)
    ap.add_argument("--size", type=int, default=64, help="bytes of share data per message")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--profile", action="store_true", help="cProfile party 0 (slows it down)")
    ap.add_argument("--no-resume", action="store_true", help="plain secure links, without the resumable layer")
    ap.add_argument("--in-process", action="store_true",
                    help="all parties in this process instead (CPU per party per round only)")
    args = ap.parse_args()
    if args.in_process:
        cpus = in_process(args.parties, args.rounds, args.size, args.reps, args.no_resume)
        print(f"{args.parties} parties in one process, {args.rounds} rounds of {args.size} B all-to-all"
              f"{' (plain links)' if args.no_resume else ''}: CPU per party {statistics.median(cpus) * 1e6:.1f} us/round"
              f" (median of {len(cpus)}; min {min(cpus) * 1e6:.1f}); load {os.getloadavg()[0]:.2f}")
        return
    runs = [run_once(args.parties, args.rounds, args.size, args.profile, args.no_resume) for _ in range(args.reps)]
    per_round = [wall / args.rounds * 1000 for wall, _, _ in runs]
    cpu = statistics.median(c / args.rounds * 1000 for _, c, _ in runs)
    sys_cpu = statistics.median(s / args.rounds * 1000 for _, _, s in runs)
    print(f"{args.parties} processes, {args.rounds} rounds of {args.size} B all-to-all: "
          f"median {statistics.median(per_round):.3f} ms/round (runs {', '.join(f'{t:.3f}' for t in per_round)}); "
          f"CPU per party {cpu:.3f} ms/round, of which kernel {sys_cpu:.3f}")


if __name__ == "__main__":
    main()
