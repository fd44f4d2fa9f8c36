"""The two-party primitives of private inference (mpcnet.mpc.fixed2p) on the
layer work of a 64-32-10 ReLU network, both parties in this process over
in-memory links: the client owns the queries (features in [0, 2^f]), the
server owns the weights (|w| < 2^(f+3)); per step the wall time (both
parties' work: one process), the bytes each party sent and the rounds.

Steps: layer 1 ``matmul`` (owned x owned) and ``relu_trunc`` (k = 44), layer 2
``matmul`` (shared x owned) and ``argmax`` (k = 53), opened to the client.

    python benchmarks/bench_fixed2p.py [--batch 450 1] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np
import trio

import mpcnet
from mpcnet import Context, mpc, protocol
from mpcnet.mpc import fixed2p

F = 16
SIZES = (64, 32, 10)


@protocol("bench-fx2p", min_parties=2, max_parties=2, security="benchmark", reveals="the classes, to p1",
          input="dict", output="dict")
async def bench(ctx: Context, value: dict[str, Any]) -> dict[str, Any]:
    rt = mpc.Runtime(ctx)
    eng = rt.two_party_engine
    batch = value["batch"]
    rng = np.random.default_rng(1)  # the same plaintext at both ends; each uses its own part only
    x = rng.integers(0, 2**F + 1, (batch, SIZES[0]))
    w1 = rng.integers(-(2**(F + 3)) + 1, 2**(F + 3), (SIZES[0], SIZES[1]))
    w2 = rng.integers(-(2**(F + 3)) + 1, 2**(F + 3), (SIZES[1], SIZES[2]))
    steps: dict[str, dict[str, float]] = {}

    async def step(name: str, coro: Any) -> Any:
        t, b, r = time.perf_counter(), ctx.bytes_sent, ctx.round
        out = await coro
        steps[name] = {"seconds": time.perf_counter() - t, "bytes": ctx.bytes_sent - b, "rounds": ctx.round - r}
        return out

    async def offline() -> None:
        a = fixed2p.triples("relu_trunc", (batch, SIZES[1]), 44, F)
        b = fixed2p.triples("argmax", (batch, SIZES[2]), 53)
        await eng.prepare(**{key: a[key] + b[key] for key in a})

    await step("offline (OT setup, triples)", offline())
    xs = fixed2p.own_ring(rt, "p1", x if ctx.me == "p1" else None, x.shape, 0, 2**F)
    ws1 = fixed2p.own_ring(rt, "p0", w1 if ctx.me == "p0" else None, w1.shape, -(2**(F + 3)), 2**(F + 3))
    ws2 = fixed2p.own_ring(rt, "p0", w2 if ctx.me == "p0" else None, w2.shape, -(2**(F + 3)), 2**(F + 3))
    t0, b0, r0 = time.perf_counter(), ctx.bytes_sent, ctx.round
    y1 = await step("matmul 1 (owned x owned)", fixed2p.matmul(xs, ws1, -(2**43), 2**43 - 1))
    h1 = await step("relu_trunc (k=44)", fixed2p.relu_trunc(y1, F, 44))
    y2 = await step("matmul 2 (shared x owned)", fixed2p.matmul(h1, ws2, -(2**52), 2**52 - 1))
    idx = await step("argmax (k=53)", fixed2p.argmax(y2, 53))
    got = await step("open to the client", idx.open(to=["p1"]))
    total = {"seconds": time.perf_counter() - t0, "bytes": ctx.bytes_sent - b0, "rounds": ctx.round - r0}
    ok = None
    if got is not None:
        h = np.maximum((x @ w1) >> F, 0)
        ok = bool((got == (h @ w2).argmax(-1)).all())
    return {"steps": steps, "online": total, "agrees": ok,
            "layouts": [fixed2p.matmul_plan(xs, ws1, batch)[0], fixed2p.matmul_plan(h1, ws2, batch)[0]]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[450, 1])
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    doc: dict[str, Any] = {"loadavg_before": os.getloadavg(), "runs": {}}
    for batch in args.batch:
        async def go(b: int = batch) -> mpcnet.SimulationResult:
            with trio.fail_after(600):
                return await mpcnet.simulate_async("bench-fx2p", [{"batch": b}, {"batch": b}])
        t = time.perf_counter()
        res = trio.run(go)
        outs = res.outputs
        doc["runs"][batch] = {"wall_seconds": time.perf_counter() - t, "server": outs[0], "client": outs[1]}
        print(f"batch {batch}: agrees={outs[1]['agrees']} layouts={outs[1]['layouts']}")
        for name in outs[0]["steps"]:
            s0, s1 = outs[0]["steps"][name], outs[1]["steps"][name]
            print(f"  {name:30s} {s0['seconds']:8.3f} s  server {s0['bytes'] / 1e6:9.3f} MB  "
                  f"client {s1['bytes'] / 1e6:9.3f} MB  rounds {s0['rounds']}")
        o0, o1 = outs[0]["online"], outs[1]["online"]
        print(f"  {'online total':30s} {o0['seconds']:8.3f} s  server {o0['bytes'] / 1e6:9.3f} MB  "
              f"client {o1['bytes'] / 1e6:9.3f} MB  rounds {o0['rounds']}")
    doc["loadavg_after"] = os.getloadavg()
    print("load average before/after:", doc["loadavg_before"], doc["loadavg_after"])
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=1, default=str)


if __name__ == "__main__":
    main()
