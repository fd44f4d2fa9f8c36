"""MPyC side of issue 15's private-inference benchmark: an MLP's predictions with ``secfxp`` in MPyC 0.11.

From Python (the benchmark and the example)::

    from mpyc_mlp import run_mpyc_mlp
    run = run_mpyc_mlp("model.json", "queries.json", parties=3, count=None)   # all queries in one batch

From the shell (model and queries from ``benchmarks/digits_model.py OUTDIR``)::

    python benchmarks/mpyc_mlp.py --model OUTDIR/model.json --queries OUTDIR/queries.json \
        [--count 1] [--plain OUTDIR/plain.json] [--open classes|scores] [--parties 3] [--runs 1] [--json OUT]

starts the parties ``--runs`` times, prints the median run's JSON (below), with
every run's time and load average (before, after), and, with ``--plain``,
every run's agreement with the plaintext classes (every mismatch with its
plaintext margin). ``--open scores`` also reports the largest error of the
scores against the plaintext floats.

One party process (the launcher starts these, MPyC's usual way, one process
per party on loopback, as ``mpyc_compare.py`` does)::

    python benchmarks/mpyc_mlp.py --party --layers 64,32,10 --count N --model M --queries Q \
        -M3 -I0 -P localhost:PORT0 -P localhost:PORT1 -P localhost:PORT2 --no-log

What each party does (the same computation as mpcnet's ``mlp-predict``):

* party 0 (the server) reads the model file, ``{"weights": [W1, ...],
  "biases": [b1, ...]}`` with ``Wi`` out x in, and secret-inputs every
  ``Wi`` (transposed locally to in x out, a layout choice of its own input)
  and ``bi`` as secure fixed-point arrays; party 1 (the client) reads the
  query file and secret-inputs the first ``--count`` queries as one
  ``count x in`` array. No other party reads either file: the layer sizes
  and the number of queries, public in ``mlp-predict`` too, come on the
  command line (the launcher reads them from the files);
* every layer is ``mpc.np_matmul(H, W) + b`` (MPyC's vectorised secure
  array product: one reshare of the whole product and one probabilistic
  truncation ``np_trunc`` per layer), ReLU between layers as
  ``mpc.np_maximum(H, 0)`` (a secure comparison per element), none after the
  last; the class is ``mpc.np_argmax(H, axis=1)``; the classes are opened to
  party 1 only (``mpc.output(..., receivers=1)``). With ``--open scores``
  the last layer's fixed-point scores are opened to party 1 as well (only to
  measure the precision: not part of the timed runs of the benchmark).

The type is MPyC's default fixed-point type ``mpc.SecFxp()``: ``l`` bits from
MPyC's ``-L`` option (default 32) with ``f = l // 2`` fractional bits (16 by
default, the same as mpcnet's default), unless ``--frac`` says otherwise; the
prime field is MPyC's choice for ``l``; statistical security parameter
``k = 30`` (MPyC's ``-K`` default). The digits model's largest score is about
27, far inside the ``2^(l-f-1) = 32768`` range.

Only input + compute + output is timed, after ``mpc.start()`` has connected
the parties. Each party prints one JSON line: its time, the bytes it sent in
the timed part (MPyC's own ``nbytes_sent``: 12-byte header + payload per
message), the messages it sent (``mpc._send_message`` wrapped, as in
``mpyc_compare.py``), MPyC's version and options, and (party 1) the classes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from mpyc_compare import count_sent_messages, has_gmpy2  # noqa: E402

#: A run of 450 digits queries takes ~1-2 min of MPyC time on 2 cores; generous for a loaded machine.
DEFAULT_TIMEOUT = 1200.0


# ----------------------------------------------------------------- one party


def _party(args: argparse.Namespace) -> None:
    from mpyc.runtime import mpc

    layers = [int(v) for v in args.layers.split(",")]
    count = args.count
    secfxp = mpc.SecFxp() if args.frac is None else mpc.SecFxp(f=args.frac)
    m = len(mpc.parties)
    sent_messages = count_sent_messages(mpc)

    # Each input party reads only its own file, before the clock starts.
    if mpc.pid == 0:
        model = json.loads(Path(args.model).read_text())
        weights = [np.asarray(w, dtype=np.float64).T for w in model["weights"]]  # in x out
        biases = [np.asarray(b, dtype=np.float64) for b in model["biases"]]
    else:
        weights = [np.zeros((layers[i], layers[i + 1])) for i in range(len(layers) - 1)]
        biases = [np.zeros(layers[i + 1]) for i in range(len(layers) - 1)]
    if mpc.pid == 1:
        queries = np.asarray(json.loads(Path(args.queries).read_text())[:count], dtype=np.float64)
    else:
        queries = np.zeros((count, layers[0]))
    shapes = [w.shape for w in weights] + [b.shape for b in biases] + [queries.shape]
    expected = ([(layers[i], layers[i + 1]) for i in range(len(layers) - 1)] + [(n,) for n in layers[1:]]
                + [(count, layers[0])])
    if shapes != expected:
        raise SystemExit(f"party {mpc.pid}: input shapes {shapes} do not match --layers/--count {expected}")

    mpc.run(mpc.start())

    def bytes_sent() -> int:
        return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid)

    bytes0, msgs0 = bytes_sent(), sent_messages[0]
    start = time.perf_counter()
    # integral=False on every party: MPyC otherwise derives an array's ``integral`` flag from the local
    # values (True for the non-senders' zeros, False for the sender's floats), the parties then take
    # different code paths in np_matmul (local shift vs. truncation protocol) and deadlock silently.
    sw = [mpc.input(secfxp.array(w, integral=False), senders=0) for w in weights]
    sb = [mpc.input(secfxp.array(b, integral=False), senders=0) for b in biases]
    h = mpc.input(secfxp.array(queries, integral=False), senders=1)
    for i, (w, b) in enumerate(zip(sw, sb, strict=True)):
        h = mpc.np_matmul(h, w) + b
        if i < len(sw) - 1:
            h = mpc.np_maximum(h, 0)  # ReLU
    classes = mpc.np_argmax(h, axis=1)
    opened = mpc.run(mpc.output(classes, receivers=1))
    scores = mpc.run(mpc.output(h, receivers=1)) if args.output == "scores" else None
    elapsed = time.perf_counter() - start
    bytes1, msgs1 = bytes_sent(), sent_messages[0]
    mpc.run(mpc.shutdown())

    out: dict[str, Any] = {
        "pid": mpc.pid, "parties": m, "threshold": mpc.threshold, "count": count, "layers": layers,
        "time_s": elapsed, "bytes_sent": bytes1 - bytes0, "messages_sent": msgs1 - msgs0,
        "messages_per_peer": (msgs1 - msgs0) / max(1, m - 1),
        "mpyc_version": mpc.version, "secfxp": secfxp.__name__, "bit_length": secfxp.bit_length,
        "frac_length": secfxp.frac_length, "field_bits": secfxp.field.order.bit_length(),
        "sec_param": mpc.options.sec_param, "no_prss": bool(mpc.options.no_prss), "gmpy2": has_gmpy2(),
        "output": args.output,
    }
    if mpc.pid == 1:
        out["classes"] = [round(float(c)) for c in np.asarray(opened).reshape(-1)]
        if scores is not None:
            out["scores"] = np.asarray(scores, dtype=np.float64).reshape(count, layers[-1]).tolist()
    print(json.dumps(out), flush=True)



# ----------------------------------------------------------------- launcher


def model_layers(model: dict[str, Any]) -> list[int]:
    """The layer sizes (in, hidden..., out) of a model in ``mlp-predict``'s format (rows out x in)."""
    weights = model["weights"]
    return [len(weights[0][0])] + [len(w) for w in weights]


def run_mpyc_mlp(model_path: str | Path, queries_path: str | Path, parties: int = 3, timeout: float = DEFAULT_TIMEOUT,
                 count: int | None = None, output: str = "classes", python: str | None = None,
                 extra_args: list[str] | None = None) -> dict[str, Any]:
    """Private predictions with MPyC 0.11 ``secfxp``: ``parties`` processes on loopback; returns the run's JSON.

    ``count``: the first ``count`` queries of the file (all by default) as one batch. ``output="scores"``
    also opens the last layer's scores to party 1 (for a precision check; slower). ``python``: the
    interpreter that has MPyC (default: this one). ``extra_args``: more MPyC flags (e.g. ``["-L", "40"]``).
    Raises ``RuntimeError`` if a party fails or the run exceeds ``timeout`` seconds.

    The dict: ``time_s`` (the slowest party's input + compute + output time, after connecting),
    ``process_wall_s`` (launch to the exit of every process), ``bytes_sent_per_party`` and
    ``messages_sent_per_party`` (lists by party id), ``bytes_sent_max``, ``messages_per_peer``,
    ``classes`` (party 1's output), ``scores`` (with ``output="scores"``), ``count``, ``layers``,
    ``parties``, and MPyC's version and options (``mpyc``).
    """
    from bench_compare import run_processes
    from bench_secure_sum import free_ports, last_json_line

    if parties < 2:
        raise ValueError("MPyC's mlp needs at least 2 parties (party 0 the server, party 1 the client)")
    layers = model_layers(json.loads(Path(model_path).read_text()))
    total = len(json.loads(Path(queries_path).read_text()))
    count = total if count is None else count
    if not 1 <= count <= total:
        raise ValueError(f"count {count} not in 1..{total} (the queries in {queries_path})")
    ports = free_ports(parties)
    addr = [a for p in ports for a in ("-P", f"localhost:{p}")]
    cmds = [[python or sys.executable, str(Path(__file__).resolve()), "--party", "--layers", ",".join(map(str, layers)),
             "--count", str(count), "--model", str(model_path), "--queries", str(queries_path), "--open", output,
             *(extra_args or []), f"-M{parties}", f"-I{i}", *addr, "--no-log"] for i in range(parties)]
    try:
        wall, outs, _ = run_processes(cmds, timeout=timeout)
    except subprocess.TimeoutExpired as exc:  # run_processes has killed the parties
        raise RuntimeError(f"MPyC mlp: the parties did not finish within {timeout:g} s") from exc
    rows = sorted((last_json_line(o) for o in outs), key=lambda r: r["pid"])
    client = rows[1]
    options = {k: rows[0][k] for k in ("secfxp", "bit_length", "frac_length", "field_bits", "sec_param", "threshold",
                                       "no_prss", "gmpy2")}
    result: dict[str, Any] = {
        "system": f"MPyC {rows[0]['mpyc_version']}, {rows[0]['secfxp']} arrays ({parties} processes)",
        "parties": parties, "count": count, "layers": layers, "time_s": max(r["time_s"] for r in rows),
        "process_wall_s": wall, "bytes_sent_per_party": [r["bytes_sent"] for r in rows],
        "bytes_sent_max": max(r["bytes_sent"] for r in rows),
        "messages_sent_per_party": [r["messages_sent"] for r in rows],
        "messages_per_peer": max(r["messages_per_peer"] for r in rows),
        "classes": client["classes"], "mpyc_version": rows[0]["mpyc_version"], "mpyc": options, "output": output,
        "extra_args": extra_args or [],
    }
    if "scores" in client:
        result["scores"] = client["scores"]
    return result


def agreement(classes: list[int], plain: dict[str, Any]) -> dict[str, Any]:
    """MPyC's classes against ``plain.json``'s (the first ``len(classes)`` queries): the agreement and
    every mismatch with its plaintext margin (the top score minus the runner-up's)."""
    mismatches = []
    for i, c in enumerate(classes):
        p = plain["classes"][i]
        if c != p:
            s = sorted(plain["scores"][i], reverse=True)
            mismatches.append({"query": i, "mpyc": c, "plain": p, "plain_margin": s[0] - s[1],
                               "plain_score_of_mpyc_class": plain["scores"][i][c] if 0 <= c < len(s) else None})
    return {"queries": len(classes), "agree": len(classes) - len(mismatches),
            "agreement": (len(classes) - len(mismatches)) / len(classes), "mismatches": mismatches}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    ap.add_argument("--party", action="store_true", help="run as one MPyC party (the launcher's child)")
    ap.add_argument("--model", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--layers", help="(--party) the public layer sizes, e.g. 64,32,10")
    ap.add_argument("--count", type=int, help="the first COUNT queries (default all)")
    ap.add_argument("--frac", type=int, help="fractional bits (default: MPyC's l // 2)")
    ap.add_argument("--open", dest="output", choices=["classes", "scores"], default="classes",
                    help="what party 1 gets (not --output: MPyC's own parser would find it ambiguous)")
    ap.add_argument("--parties", type=int, default=3)
    ap.add_argument("--plain", help="plain.json: report the agreement with the plaintext classes")
    ap.add_argument("--json", metavar="OUT", help="also write the run's JSON here")
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    ap.add_argument("--runs", type=int, default=1, help="repeat; report the median run (every run's time and load too)")
    args, rest = ap.parse_known_args(argv)  # the rest are MPyC's flags
    if args.party:
        _party(args)
        return 0
    extra = rest + (["--frac", str(args.frac)] if args.frac is not None else [])
    plain = json.loads(Path(args.plain).read_text()) if args.plain else None
    runs = []
    for r in range(args.runs):
        load0, utc = [round(x, 2) for x in os.getloadavg()], time.strftime("%H:%M:%S", time.gmtime())
        one = run_mpyc_mlp(args.model, args.queries, args.parties, args.timeout, args.count, args.output,
                           extra_args=extra)
        one["utc"], one["load_before"], one["load_after"] = utc, load0, [round(x, 2) for x in os.getloadavg()]
        if plain is not None:  # every run is checked, not only the one reported
            one["agreement"] = agreement(one["classes"], plain)
            if "scores" in one:
                err = np.abs(np.asarray(one["scores"]) - np.asarray(plain["scores"][: one["count"]]))
                one["score_error"] = {"max_abs": float(err.max()), "mean_abs": float(err.mean())}
        print(f"run {r + 1}/{args.runs}: {one['time_s']:.3f} s, bytes per party {one['bytes_sent_per_party']}, "
              f"load {load0} -> {one['load_after']}", file=sys.stderr, flush=True)
        runs.append(one)
    # The run with the median time, with every run's time, load and agreement beside it.
    run = dict(sorted(runs, key=lambda x: x["time_s"])[len(runs) // 2])
    run["times_s"] = [x["time_s"] for x in runs]
    run["loads"] = [[x["load_before"], x["load_after"]] for x in runs]
    if plain is not None:
        run["agreements"] = [x["agreement"]["agreement"] for x in runs]
    text = json.dumps(run)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
