"""The field fixed-point layers (mpcnet.mpc.fixedfield) on a 64-32-10 ReLU
network: three parties in one process over memory links (mpcnet.simulate),
the model from p0, the queries from p1, every party computing.

Not a test: prints, per batch size, the wall time of the run, each party's
bytes sent and rounds, and the time and rounds of each step at p0, with the
load average (the machine is shared). Random weights (N(0, 0.3)) and digit-like
queries (0..16, divided by 16), 16 fractional bits; the classes are checked
against the same integers in plaintext.

    python benchmarks/bench_fixedfield_layers.py --batch 1 450 [--engine shamir] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

import mpcnet
from mpcnet import Context, mpc, protocol
from mpcnet.mpc import fixedfield as ff

F = 16
K1, K2 = 42, 46  # bounds of the two layers' pre-activations (checked on the plaintext below)
SIZES = (64, 32, 10)


def _bound(k: int) -> tuple[int, int]:
    return -(1 << (k - 1)), (1 << (k - 1)) - 1


@protocol("bench-fixedfield-mlp", min_parties=3, max_parties=3, security="benchmark", reveals="the classes",
          input="dict", output="dict", params=(mpcnet.Param("engine", str, "auto", "engine"),
                                                mpcnet.Param("batch", int, 1, "queries")))
async def mlp(ctx: Context, value: Any, *, engine: str, batch: int) -> dict[str, Any]:
    rt = mpc.Runtime(ctx, engine=engine)
    n0, n1, n2 = SIZES
    steps: dict[str, Any] = {}
    mark = [time.perf_counter(), ctx.round]

    def step(name: str) -> None:
        now = time.perf_counter()
        steps[name] = {"s": round(now - mark[0], 4), "rounds": ctx.round - mark[1]}
        mark[:] = [now, ctx.round]

    size = n0 * n1 + n1 + n1 * n2 + n2
    model = (await rt.input_int({"p0": (size,)}, value.get("model"), bits=40, signed=True))["p0"]
    w1, b1 = model[: n0 * n1].reshape(n0, n1), model[n0 * n1 : n0 * n1 + n1]
    at = n0 * n1 + n1
    w2, b2 = model[at : at + n1 * n2].reshape(n1, n2), model[at + n1 * n2 :]
    q = (await rt.input_int({"p1": (batch, n0)}, value.get("queries"), bits=20, signed=True))["p1"]
    step("inputs")
    y1 = (await ff.matmul(q, w1, *_bound(K1)) + b1).with_range(*_bound(K1))
    step("matmul1")
    h = await ff.relu_trunc(y1, F, K1)
    step("relu_trunc1")
    y2 = (await ff.matmul(h, w2, *_bound(K2)) + b2).with_range(*_bound(K2))
    step("matmul2")
    idx = await ff.argmax(y2, K2)
    step("argmax")
    got = await idx.open(to=["p1"], shape=(batch,))
    step("open")
    return {"classes": None if got is None else got.tolist(), "steps": steps}


def run(batch: int, engine: str) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    n0, n1, n2 = SIZES
    w1, b1 = rng.normal(0, 0.3, (n0, n1)), rng.normal(0, 0.1, n1)
    w2, b2 = rng.normal(0, 0.3, (n1, n2)), rng.normal(0, 0.1, n2)
    x = rng.integers(0, 17, (batch, n0)) / 16

    def enc(a: Any, bits: int) -> Any:
        return np.round(a * 2**bits).astype(np.int64)

    model = np.concatenate([enc(w1, F).ravel(), enc(b1, 2 * F), enc(w2, F).ravel(), enc(b2, 2 * F)]).tolist()
    y1 = enc(x, F).astype(object) @ enc(w1, F).astype(object) + enc(b1, 2 * F)
    h = np.maximum(y1 // 2**F, 0)
    y2 = h @ enc(w2, F).astype(object) + enc(b2, 2 * F)
    assert np.abs(y1).max() < 2 ** (K1 - 1) and np.abs(y2).max() < 2 ** (K2 - 1)
    load = os.getloadavg()
    start = time.perf_counter()
    res = mpcnet.simulate("bench-fixedfield-mlp", [{"model": model}, {"queries": enc(x, F).tolist()}, {}],
                          params={"engine": engine, "batch": batch}, seed=1)
    wall = time.perf_counter() - start
    ok = res.outputs[1]["classes"] == np.argmax(y2.astype(float), axis=1).tolist()
    return {"batch": batch, "engine": engine, "status": "ok" if ok else "wrong classes", "wall_s": round(wall, 3),
            "bytes_sent": [s.bytes_sent for s in res.stats], "rounds": [s.rounds for s in res.stats],
            "steps_p0": res.outputs[0]["steps"], "load_before": [round(v, 2) for v in load],
            "load_after": [round(v, 2) for v in os.getloadavg()]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 450])
    ap.add_argument("--engine", default="auto", choices=["auto", "shamir"])
    ap.add_argument("--json", help="write the results here too")
    args = ap.parse_args()
    results = [run(b, args.engine) for b in args.batch]
    for r in results:
        print(json.dumps(r))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)


if __name__ == "__main__":
    main()
