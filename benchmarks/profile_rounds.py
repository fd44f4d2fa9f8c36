"""Where a three-process comparison spends its time, round by round.

Usage::

    python benchmarks/profile_rounds.py [--protocol compare] [--batches 100000,1000000]
                                        [--cprofile DIR] [--no-gc] [--json OUT]

Runs ``--protocol`` (``compare``: the Shamir/GF(2^8) comparison of
``protocols/compare.py``, 32-bit ``x < y``; ``bench-replicated-compare``: the
replicated engine of ``bench_replicated.py``) as three OS processes on a
loopback roster (``mpcnet.run_party``, Noise over TCP), the operands given as
lists of Python ints as the ``mpcnet party`` CLI gives them after reading its
JSON input. Each party records, without changing the protocol:

* per round (``Context.exchange``): the local work before it (the gap since
  the previous round ended), the time to hand its messages to the links
  (``_send_all``), the wait for the peers' messages, the bytes sent and
  received;
* its CPU time (user + system) against its wall time, its peak RSS, and the
  garbage collector's passes and time (``gc.callbacks``);
* with ``--cprofile DIR``: a cProfile of its protocol session (``DIR/pN-BATCH.prof``;
  the thread's CPU time, or wall-clock time with ``--wall-profile``), summarised
  by category (PRG, channel cipher, socket syscalls, bit-slicing, gates, ...:
  ``CATEGORIES``; numpy's time is counted where it was called from) and by its
  top functions.

``--no-gc`` runs the parties with ``gc.disable()`` (a what-if: is the cyclic
collector the cause?). Every result is checked against the plaintext.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import json
import os
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_replicated import digest, operands  # noqa: E402  (a sibling script)

# The operands and the result digest are bench_replicated's, so both scripts time the same comparisons.


#: Filled by child(): a one-item list that instrument() keeps at the round being run.
rounds_hook: list[list[int]] | None = []


def instrument() -> tuple[list[dict[str, Any]], dict[str, float]]:
    """Wrap ``Context.exchange`` / ``_send_all`` and hook the GC; returns the
    round records and the GC totals (filled in as the party runs)."""
    from mpcnet.context import Context

    rounds: list[dict[str, Any]] = []
    gcstat = {"passes": 0, "seconds": 0.0, "gen2": 0, "_t": 0.0}
    last_end = [time.perf_counter(), time.process_time()]
    exchange, send_all = Context.exchange, Context._send_all

    async def timed_send_all(self: Any, encoded: Any, unfinished: Any, total: int) -> None:
        t = time.perf_counter()
        try:
            await send_all(self, encoded, unfinished, total)
        finally:
            rounds[-1]["send_s"] = time.perf_counter() - t
            rounds[-1]["bytes_out"] = total

    async def timed_exchange(self: Any, outgoing: Any, expect_from: Any = None) -> Any:
        t0 = time.perf_counter()
        rec: dict[str, Any] = {"session": self.session_id[:8], "round": self._session.round + 1,
                               "gap_s": t0 - last_end[0], "gap_cpu_s": time.process_time() - last_end[1],
                               "gc_before": gcstat["seconds"]}
        rounds.append(rec)
        for holder in rounds_hook or []:
            holder[0] = rec["round"]
        before = self._session.bytes_received
        try:
            return await exchange(self, outgoing, expect_from)
        finally:
            t1 = time.perf_counter()
            last_end[0], last_end[1] = t1, time.process_time()
            rec["round_s"] = t1 - t0
            rec["bytes_in"] = self._session.bytes_received - before
            rec["gc_in_round_s"] = gcstat["seconds"] - rec.pop("gc_before")

    Context.exchange = timed_exchange  # type: ignore[method-assign]
    Context._send_all = timed_send_all  # type: ignore[method-assign]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gcstat["_t"] = time.perf_counter()
        else:
            gcstat["passes"] += 1
            gcstat["seconds"] += time.perf_counter() - gcstat["_t"]
            gcstat["gen2"] += info.get("generation") == 2

    gc.callbacks.append(on_gc)
    return rounds, gcstat


def child(name: str, directory: str, protocol: str, batch: int, seed: int, prof_dir: str | None,
          no_gc: bool, wall_profile: bool) -> None:
    import mpcnet
    from mpcnet.identity import load_key_file, load_roster

    if protocol.startswith("bench-replicated"):
        import bench_replicated  # noqa: F401  (registers the protocol)
    if no_gc:
        gc.disable()
    rounds, gcstat = instrument()
    x, y = operands(batch, seed)
    value = {"p0": x.tolist(), "p1": y.tolist()}.get(name)
    params: dict[str, Any] = ({"bits": 32, "signed": False, "op": "lt"} if protocol == "compare"
                              else {"length": batch})
    if protocol.startswith("bench-replicated") and value is not None:
        value = np.asarray(value, dtype=np.uint64)
    # CPU time of this (the event loop's) thread: a party descheduled on the
    # shared cores is not charged to whatever it was running; waiting shows
    # as the epoll calls' own CPU only. (--wall-profile: wall-clock time.)
    timer = time.perf_counter if wall_profile else time.thread_time
    prof = cProfile.Profile(timer) if prof_dir else None
    # The protocol's session only (not imports, keys, connecting, the start
    # barrier): its CPU time (user, system) and page faults, and the profile.
    from mpcnet.party import Party

    run = Party.run
    session_ru: dict[str, float] = {}

    async def profiled_run(self: Any, proto: Any, *a: Any, **kw: Any) -> Any:
        if getattr(proto, "name", proto) != protocol:
            return await run(self, proto, *a, **kw)
        before = resource.getrusage(resource.RUSAGE_SELF)
        if prof:
            prof.enable()
        try:
            return await run(self, proto, *a, **kw)
        finally:
            if prof:
                prof.disable()
            after = resource.getrusage(resource.RUSAGE_SELF)
            session_ru.update(user_s=after.ru_utime - before.ru_utime, sys_s=after.ru_stime - before.ru_stime,
                              minflt=after.ru_minflt - before.ru_minflt)

    Party.run = profiled_run  # type: ignore[method-assign]
    # The longest stretches between two checkpoints of any task (trio instrument): while one runs,
    # this party sends nothing, not even a heartbeat, and its peers' liveness watch counts silence.
    import trio

    steps: list[tuple[float, float, str, int]] = []  # (seconds, CPU seconds, task, round at its start)
    round_now = [0]

    def where(task: Any) -> str:
        """The innermost mpcnet frame a suspended task waits in."""
        coro, last = task.coro, "?"
        while coro is not None:
            frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
            if frame is not None and "mpcnet" in frame.f_code.co_filename:
                last = f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_lineno}"
            coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        return last

    class StepTimer(trio.abc.Instrument):
        def before_task_step(self, task: Any) -> None:
            self._t = (time.perf_counter(), time.thread_time(), round_now[0], where(task))

        def after_task_step(self, task: Any) -> None:
            t0, c0, r0, w0 = self._t
            dt = time.perf_counter() - t0
            if dt > 0.05:
                steps.append((dt, time.thread_time() - c0, f"{w0}->{where(task)}", r0))

    if rounds_hook is not None:
        rounds_hook.append(round_now)
    overhead = profiler_overhead() if prof else 0.0
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    try:
        res = trio.run(lambda: mpcnet.run_party_async(
            protocol, value, roster=load_roster(Path(directory) / "roster.toml"),
            key=load_key_file(Path(directory) / "keys" / f"{name}.key"), params=params), instruments=[StepTimer()])
    except Exception as exc:
        print(f"{name} failed ({type(exc).__name__}: {exc}); longest steps without a checkpoint: "
              + "; ".join(f"{d:.2f} s ({c:.2f} CPU) {w} r{r}" for d, c, w, r in sorted(steps, reverse=True)[:5]),
              file=sys.stderr)
        raise SystemExit(1) from None
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    top = ""
    if prof and prof_dir:
        prof.dump_stats(str(Path(prof_dir) / f"{name}-{batch}.prof"))
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
        top = buf.getvalue()
    session = rounds[-1]["session"]
    print(json.dumps({"party": name, "stats": res.stats.to_dict(), "digest": digest(res.output),
                      "rounds": [r for r in rounds if r["session"] == session],
                      "run_party_s": wall, "user_s": ru1.ru_utime - ru0.ru_utime, "sys_s": ru1.ru_stime - ru0.ru_stime,
                      "timer": "wall" if wall_profile else "cpu", "maxrss_mb": ru1.ru_maxrss / 1024, "minflt": ru1.ru_minflt - ru0.ru_minflt, "gc": {k: v for k, v in gcstat.items() if k != "_t"},
                      "longest_steps": sorted(steps, reverse=True)[:5], "session_cpu": session_ru, "profile_overhead_s": overhead, "profile": top}))


def launch(protocol: str, batch: int, seed: int, prof_dir: str | None, no_gc: bool,
           wall_profile: bool) -> list[dict[str, Any]]:
    from bench_secure_sum import make_deployment

    with tempfile.TemporaryDirectory() as tmp:
        names = ["p0", "p1", "p2"]
        make_deployment(Path(tmp), names)
        extra = ((["--cprofile", prof_dir] if prof_dir else []) + (["--no-gc"] if no_gc else [])
                 + (["--wall-profile"] if wall_profile else []))
        procs = [subprocess.Popen([sys.executable, __file__, "--child", n, "--dir", tmp, "--protocol", protocol,
                                   "--batches", str(batch), "--seed", str(seed), *extra],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for n in names]
        done = [p.communicate(timeout=900) for p in procs]
        failed = [f"{name} exited {p.returncode}: {err[-1000:]}" for name, p, (_, err) in zip(names, procs, done, strict=True)
                  if p.returncode]
        if failed:
            raise RuntimeError("\n".join(failed))
        outs = [json.loads(out.strip().splitlines()[-1]) for out, _ in done]
    x, y = operands(batch, seed)
    if any(o["digest"] != digest(x < y) for o in outs):
        print("WRONG RESULT", file=sys.stderr)
        sys.exit(1)
    return outs


#: Where a profiled function's own time is counted: first match of (file part, function part).
CATEGORIES = [
    ("PRG: AES-CTR keystream for zero-sharings", [("", "update_into"), ("replicated.py", "words"),
                                                  ("replicated.py", "zero_share"), ("", "randombytes")]),
    ("channel cipher: ChaCha20-Poly1305", [("", "ChaCha20Poly1305"), ("noise_kk.py", "")]),
    ("kernel: socket write/read syscalls", [("", "posix.write"), ("", "posix.read"), ("", "'send'"),
                                            ("", "'recv'"), ("socket.py", "")]),
    ("idle: waiting for peers (epoll)", [("", "poll")]),
    ("bit-slicing: pack/unpack (8x8 transposes)", [("bitslice.py", "")]),
    ("GF(2^8) table lookups (take)", [("fields.py", "")]),
    ("Shamir sharing, reduction, opening", [("shamir.py", "")]),
    ("bit circuits (binary.py, secbits.py)", [("binary.py", ""), ("secbits.py", "")]),
    ("gates: AND/XOR word ops, concatenation", [("replicated.py", ""), ("bitcircuits.py", "")]),
    ("input checks and conversions", [("inputs.py", ""), ("runtime.py", ""), ("compare.py", ""),
                                      ("bench_replicated.py", "")]),
    ("wire: msgpack encode/decode", [("wire.py", ""), ("msgpack", "")]),
    ("framing and links (channel, securelink, resumable)", [("channel.py", ""), ("securelink.py", ""),
                                                            ("resumable.py", ""), ("", "'join'")]),
    ("session, context, party", [("session.py", ""), ("context.py", ""), ("party.py", "")]),
    ("trio scheduling", [("trio", "")]),
    ("this script's instrumentation", [("profile_rounds.py", "")]),
]
OWN_BUILTINS = ("update_into", "ChaCha20Poly1305", "posix.write", "posix.read", "'send'", "'recv'", "poll",
                "randombytes")


def _category(func: tuple[str, int, str]) -> str | None:
    file, _, name = func
    for label, rules in CATEGORIES:
        for fpart, npart in rules:
            if (not fpart or fpart in file) and (not npart or npart in name):
                return label
    return None


def profiler_overhead(calls: int = 50_000) -> float:
    """Seconds the profiler (thread_time timer) adds to the own time of each
    profiled call here: measured on an empty function, subtracted per call by
    :func:`categories` (it would otherwise inflate the categories with many
    small calls, framing and scheduling, by ~40% of the session)."""
    def f() -> None:
        pass

    def loop() -> None:
        for _ in range(calls):
            f()

    t = time.thread_time()
    loop()
    bare = time.thread_time() - t
    prof = cProfile.Profile(time.thread_time)
    t = time.thread_time()
    prof.enable()
    loop()
    prof.disable()
    return max(0.0, (time.thread_time() - t - bare) / calls)


def categories(prof_file: str, overhead: float = 0.0) -> dict[str, float]:
    """Seconds of one party's profile by category: own time, with a builtin's
    (numpy's) time counted where it was called from unless the builtin has a
    category of its own (cipher, syscall, poll); ``overhead`` seconds per
    call are taken off (the profiler's own cost, see :func:`profiler_overhead`)."""
    stats = pstats.Stats(prof_file).stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for func, (_, nc, tt, _, callers) in stats.items():
        own = _category(func)
        if func[0] == "~" and not any(b in func[2] for b in OWN_BUILTINS):
            for caller, cstat in callers.items():
                label = _category(caller) or "other (numpy/Python not attributed)"
                out[label] = out.get(label, 0.0) + max(0.0, cstat[2] - cstat[1] * overhead)
            continue
        label = own or "other (numpy/Python not attributed)"
        out[label] = out.get(label, 0.0) + max(0.0, tt - nc * overhead)
    return out


def category_table(prof_dir: str, batch: int, outs: list[dict[str, Any]]) -> None:
    cats = [categories(str(Path(prof_dir) / f"{o['party']}-{batch}.prof"), o["profile_overhead_s"]) for o in outs]
    labels = sorted({k for c in cats for k in c}, key=lambda k: -sum(c.get(k, 0.0) for c in cats))
    what = "wall-clock" if any("wall" in str(o.get("timer")) for o in outs) else "CPU (thread_time)"
    print(f"\n### where each party's session time goes (cProfile of {what}, own time by category, less "
          f"{1e6 * outs[0]['profile_overhead_s']:.2f} µs of profiler cost per call), batch {batch}")
    print(f"| {'category':52} | " + " | ".join(f"{o['party'] + ' ms':>9} | {'%':>4}" for o in outs) + " |")
    for label in labels:
        cells = []
        for c in cats:
            total = sum(c.values())
            cells.append(f"{1000 * c.get(label, 0.0):>9.1f} | {100 * c.get(label, 0.0) / total:>4.0f}")
        print(f"| {label:52} | " + " | ".join(cells) + " |")
    print(f"| {'total (profiled session, less the profiler cost)':52} | "
          + " | ".join(f"{1000 * sum(c.values()):>9.1f} | {100:>4}" for c in cats) + " |")


def report(protocol: str, batch: int, outs: list[dict[str, Any]]) -> None:
    slowest = max(o["stats"]["wall_time"] for o in outs)
    print(f"\n## {protocol}, batch {batch}: slowest party {slowest:.3f} s protocol = {batch / slowest:,.0f} cmp/s; "
          f"load {os.getloadavg()[0]:.2f}")
    for o in outs:
        st = o["stats"]
        print(f"{o['party']}: protocol {st['wall_time']:.3f} s, run_party {o['run_party_s']:.3f} s, CPU user "
              f"{o['user_s']:.3f} + sys {o['sys_s']:.3f} s, peak RSS {o['maxrss_mb']:.0f} MB, "
              f"{o['minflt']:,} page faults, GC "
              f"{o['gc']['passes']} passes ({o['gc']['gen2']} full) {o['gc']['seconds']:.3f} s, "
              f"{st['bytes_sent'] / batch:.1f} B/cmp sent; the session alone: CPU user {o['session_cpu']['user_s']:.3f}"
              f" + sys {o['session_cpu']['sys_s']:.3f} s, {o['session_cpu']['minflt']:,} page faults")
    for o in outs:
        print(f"{o['party']} longest steps without a checkpoint (s, CPU s, task, round): "
              + "; ".join(f"{d:.2f} {c:.2f} {t} r{r}" for d, c, t, r in o["longest_steps"]))
    print(f"{'round':>5} | " + " | ".join(f"{o['party'] + ' work   cpu  send  wait  MB out':>36}" for o in outs))
    for i in range(len(outs[0]["rounds"])):
        cells = []
        for o in outs:
            r = o["rounds"][i]
            wait = r["round_s"] - r.get("send_s", 0.0)
            cells.append(f"{r['gap_s']:7.3f} {r['gap_cpu_s']:6.3f} {r.get('send_s', 0.0):6.3f} {wait:6.3f} "
                         f"{r.get('bytes_out', 0) / 1e6:6.1f}")
        print(f"{outs[0]['rounds'][i]['round']:>5} | " + " | ".join(f"{c:>36}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default="compare")
    ap.add_argument("--batches", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cprofile", metavar="DIR")
    ap.add_argument("--no-gc", action="store_true")
    ap.add_argument("--wall-profile", action="store_true", help="profile wall-clock time, not the thread's CPU time")
    ap.add_argument("--json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    if args.child:
        child(args.child, args.dir, args.protocol, batches[0], args.seed, args.cprofile, args.no_gc, args.wall_profile)
        return
    if args.cprofile:
        Path(args.cprofile).mkdir(parents=True, exist_ok=True)
    results = {}
    for batch in batches:
        outs = launch(args.protocol, batch, args.seed, args.cprofile, args.no_gc, args.wall_profile)
        report(args.protocol, batch, outs)
        if args.cprofile:
            category_table(args.cprofile, batch, outs)
            print(f"\n### cProfile of p0, batch {batch}")
            print(outs[0]["profile"])
        results[batch] = outs
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
