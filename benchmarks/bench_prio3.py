"""Timing of Prio3 in one process: per-report costs beside libprio-rs, and ``mpcnet prio3 run`` end to end.

Two aggregators, one process. The reference (mpcnet.aggregate.prio3) runs report by report with
every message through its byte encoding; the batch path (mpcnet.aggregate.batch) runs the same
steps on numpy columns, 16,384 reports per batch. Measurement encoding and sharding randomness
are counted in "shard". Per-step costs are CPU time (the machine is shared: wall time also
counts other processes), the rates both. For Prio3Count the per-report costs are set beside the figures libprio-rs
(the Rust implementation) publishes: 14 us to shard, 7 us per aggregator to prepare, with the
ratio (ours / theirs). Then ``run_prio3`` (what ``mpcnet prio3 run`` does: shard every report,
both aggregators' preparation and aggregation as two parties over mpcnet links, 3 rounds) on
N_BATCH reports, whole.

Histogram with 10 buckets runs with the chunk length ``mpcnet prio3 run`` chooses (4: the
shortest proof near the square root) and, for comparison, with chunk 3 (the integer square root).

Usage: python benchmarks/bench_prio3.py [N_REFERENCE] [N_BATCH]
"""

from __future__ import annotations

import os
import secrets
import sys
import time
from typing import Any

import numpy as np

from mpcnet.aggregate import Prio3, prio3_count, prio3_histogram
from mpcnet.aggregate.batch import BatchPrio3
from mpcnet.aggregate.simulation import VdafConfig, run_prio3

CTX = b"bench"


def reference(vdaf: Prio3[Any, Any], measurements: list[Any]) -> tuple[float, float, float, Any]:
    """CPU seconds for shard, prepare (both aggregators), aggregate; and the unsharded result."""
    key = secrets.token_bytes(32)
    aggs = [vdaf.agg_init() for _ in range(vdaf.SHARES)]
    t_shard = t_prep = t_agg = 0.0
    for m in measurements:
        t0 = time.process_time()
        nonce = secrets.token_bytes(16)
        public, shares = vdaf.shard(CTX, m, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
        wire = [vdaf.encode_input_share(s) for s in shares]
        t1 = time.process_time()
        states, vshares = [], []
        for agg, blob in enumerate(wire):
            state, vs = vdaf.verify_init(key, CTX, agg, nonce, public, vdaf.decode_input_share(agg, blob))
            states.append(state)
            vshares.append(vdaf.decode_verifier_share(vdaf.encode_verifier_share(vs)))
        message = vdaf.verifier_shares_to_message(CTX, vshares)
        outs = [vdaf.verify_next(CTX, s, message) for s in states]
        t2 = time.process_time()
        aggs = [vdaf.agg_update(a, o) for a, o in zip(aggs, outs, strict=True)]
        t3 = time.process_time()
        t_shard, t_prep, t_agg = t_shard + t1 - t0, t_prep + t2 - t1, t_agg + t3 - t2
    return t_shard, t_prep, t_agg, vdaf.unshard(aggs, len(measurements))


def batched(vdaf: Prio3[Any, Any], measurements: list[Any], chunk: int = 16384) -> tuple[float, float, float, Any]:
    """The same through :class:`BatchPrio3`, in batches of ``chunk`` reports (object arrays stay cache-sized)."""
    batch = BatchPrio3(vdaf)
    key = secrets.token_bytes(32)
    t_shard = t_prep = t_agg = 0.0
    totals = [vdaf.agg_init() for _ in range(vdaf.SHARES)]
    for start in range(0, len(measurements), chunk):
        part = measurements[start : start + chunk]
        rows = len(part)
        t0 = time.process_time()
        encoded = batch.encode(part)
        nonces = np.frombuffer(secrets.token_bytes(16 * rows), np.uint8).reshape(rows, 16)
        rands = np.frombuffer(secrets.token_bytes(vdaf.RAND_SIZE * rows), np.uint8).reshape(rows, -1)
        shares = batch.shard(CTX, encoded, nonces, rands)
        t1 = time.process_time()
        states, vshares = zip(*(batch.verify_init(key, CTX, a, nonces, shares) for a in range(vdaf.SHARES)), strict=True)
        accepted, seeds = batch.verifier_shares_to_message(CTX, list(vshares))
        masks = [batch.verify_next(s, accepted, seeds) for s in states]
        t2 = time.process_time()
        totals = [vdaf.agg_update(t, batch.aggregate(s, m)) for t, s, m in zip(totals, states, masks, strict=True)]
        t3 = time.process_time()
        t_shard, t_prep, t_agg = t_shard + t1 - t0, t_prep + t2 - t1, t_agg + t3 - t2
    return t_shard, t_prep, t_agg, vdaf.unshard(totals, len(measurements))


#: libprio-rs's published per-report costs for Prio3Count (microseconds): shard, prepare per aggregator.
LIBPRIO_COUNT_US = (14.0, 7.0)


def main() -> None:
    n_ref = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    n_batch = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    cases = [
        ("Count", prio3_count(), lambda i: i % 2),
        ("Histogram(10)", prio3_histogram(10, 4), lambda i: i % 10),
        ("Histogram(10)/3", prio3_histogram(10, 3), lambda i: i % 10),
    ]
    for name, vdaf, make in cases:
        for path, run, n in (("reference", reference, n_ref), ("batch", batched, n_batch)):
            measurements = [make(i) for i in range(n)]
            cpu, wall = time.process_time(), time.perf_counter()
            t_shard, t_prep, t_agg, result = run(vdaf, measurements)
            cpu, total = time.process_time() - cpu, time.perf_counter() - wall
            summary = result if isinstance(result, int) else result[:3]
            shard_us, prep_us = 1e6 * t_shard / n, 1e6 * t_prep / n / vdaf.SHARES
            ratio = ""
            if name == "Count":
                ratio = (f"  = {shard_us / LIBPRIO_COUNT_US[0]:.1f}x / {prep_us / LIBPRIO_COUNT_US[1]:.1f}x "
                         f"libprio-rs ({LIBPRIO_COUNT_US[0]:g} / {LIBPRIO_COUNT_US[1]:g} us)")
            # CPU time as well as wall time: on a shared machine the wall clock also counts other work.
            print(f"{name:15} {path:9} {n:7} reports: {n / total:8.0f} reports/s (wall), {n / cpu:8.0f} per CPU-second  "
                  f"CPU per report: shard {shard_us:6.1f} us  prepare per aggregator {prep_us:6.1f} us{ratio}  "
                  f"aggregate {1e6 * t_agg / n:5.2f} us  result {summary}...", flush=True)
    for name, config, make in (("Count", VdafConfig("count"), lambda i: i % 2),
                               ("Histogram(10)", VdafConfig("histogram", length=10), lambda i: i % 10)):
        measurements = [make(i) for i in range(n_batch)]
        cpu = time.process_time()
        res = run_prio3(config, measurements)
        cpu = time.process_time() - cpu
        assert res.accepted == n_batch and res.rejected == 0
        print(f"{name:15} prio3 run {n_batch:7} reports: {n_batch / res.wall_time:8.0f} reports/s (wall), "
              f"{n_batch / cpu:8.0f} per CPU-second  (chunk length {getattr(config.vdaf().flp.valid, 'chunk_length', '-')}, "
              f"{res.rounds} rounds, {res.bytes_per_aggregator} bytes sent by leader, helper)", flush=True)
    print(f"# load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
