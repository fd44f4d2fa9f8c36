"""First timing of the pure-Python Prio3 reference: reports/s through shard + prepare + aggregate.

One process, one core, two aggregators; verification messages go through their byte encodings
as they would on the wire. Usage: python benchmarks/prio3_reference_timing.py [N]
"""

from __future__ import annotations

import secrets
import sys
import time
from typing import Any

from mpcnet.aggregate import Prio3, prio3_count, prio3_histogram


def run(vdaf: Prio3[Any, Any], measurements: list[Any]) -> tuple[float, float, float, Any]:
    ctx, key = b"bench", secrets.token_bytes(32)
    aggs = [vdaf.agg_init() for _ in range(vdaf.SHARES)]
    t_shard = t_prep = t_agg = 0.0
    for m in measurements:
        t0 = time.perf_counter()
        nonce = secrets.token_bytes(16)
        public, shares = vdaf.shard(ctx, m, nonce, secrets.token_bytes(vdaf.RAND_SIZE))
        wire = [vdaf.encode_input_share(s) for s in shares]
        t1 = time.perf_counter()
        states, vshares = [], []
        for agg, blob in enumerate(wire):
            state, vs = vdaf.verify_init(key, ctx, agg, nonce, public, vdaf.decode_input_share(agg, blob))
            states.append(state)
            vshares.append(vdaf.decode_verifier_share(vdaf.encode_verifier_share(vs)))
        message = vdaf.verifier_shares_to_message(ctx, vshares)
        outs = [vdaf.verify_next(ctx, s, message) for s in states]
        t2 = time.perf_counter()
        aggs = [vdaf.agg_update(a, o) for a, o in zip(aggs, outs, strict=True)]
        t3 = time.perf_counter()
        t_shard, t_prep, t_agg = t_shard + t1 - t0, t_prep + t2 - t1, t_agg + t3 - t2
    return t_shard, t_prep, t_agg, vdaf.unshard(aggs, len(measurements))


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    cases = [("Count", prio3_count(), [i % 2 for i in range(n)]), ("Histogram(10)", prio3_histogram(10, 3), [i % 10 for i in range(n)])]
    for name, vdaf, ms in cases:
        t_shard, t_prep, t_agg, result = run(vdaf, ms)
        total = t_shard + t_prep + t_agg
        print(f"{name:14} {n} reports: {n / total:8.0f} reports/s   shard {1e6 * t_shard / n:6.0f} us  "
              f"prepare (both aggregators) {1e6 * t_prep / n:6.0f} us  aggregate {1e6 * t_agg / n:4.1f} us   result {result}")


if __name__ == "__main__":
    main()
