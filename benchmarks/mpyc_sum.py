"""MPyC side of the secure-sum comparison (run by bench_secure_sum.py).

One MPyC party: secret-inputs a vector of ``--length`` random 32-bit signed
integers (every party inputs one), adds the parties' vectors element-wise and
opens the sum. Run it MPyC's usual way, one process per party, e.g.::

    python benchmarks/mpyc_sum.py --length 10000 --seed 1 -M3 -I0 \
        -P localhost:PORT0 -P localhost:PORT1 -P localhost:PORT2
    (and the same with -I1 and -I2, started at the same time)

(``python benchmarks/mpyc_sum.py -M3`` alone also works: MPyC then starts
parties 1 and 2 itself on its default ports 11365..11367, with their output
discarded.)

Party ``i``'s input is ``numpy.random.default_rng([seed, i])`` drawn in
[-2^31, 2^31), so the caller can recompute the expected sum. Only the
input + sum + output part is timed (after ``mpc.start()`` has connected all
parties). The party prints one JSON line on stdout: its time, the bytes and
messages it sent during the timed part (MPyC's own ``nbytes_sent`` counter:
12-byte header + payload per message) and a SHA-256 of the opened sum (as
little-endian int64) for checking.

``--api list`` uses lists of ``secint`` and ``mpc.vector_add`` instead of
secure numpy arrays.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time

import numpy as np
from mpyc_compare import count_sent_messages, has_gmpy2


def party_input(seed: int, pid: int, length: int) -> np.ndarray:
    """Party ``pid``'s input vector (the benchmark recomputes it to check the sum)."""
    return np.random.default_rng([seed, pid]).integers(-(2**31), 2**31, size=length, dtype=np.int64)


def main() -> None:
    from mpyc.runtime import mpc

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--length", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--api", choices=["array", "list"], default="array")
    args, _ = parser.parse_known_args()  # the rest are MPyC's flags

    secint = mpc.SecInt(32)
    values = party_input(args.seed, mpc.pid, args.length)
    sent_messages = count_sent_messages(mpc)

    mpc.run(mpc.start())

    def bytes_sent() -> int:
        return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid)

    bytes0, msgs0 = bytes_sent(), sent_messages[0]
    start = time.perf_counter()
    if args.api == "array":
        xs = mpc.input(secint.array(values))
        total = xs[0]
        for x in xs[1:]:
            total = total + x
        result = mpc.run(mpc.output(total))
        result = np.asarray(result, dtype=np.int64)
    else:
        xs = mpc.input([secint(int(v)) for v in values])
        total = xs[0]
        for x in xs[1:]:
            total = mpc.vector_add(total, x)
        result = np.array([int(v) for v in mpc.run(mpc.output(total))], dtype=np.int64)
    elapsed = time.perf_counter() - start
    bytes1, msgs1 = bytes_sent(), sent_messages[0]

    mpc.run(mpc.shutdown())
    out = {
        "pid": mpc.pid,
        "parties": len(mpc.parties),
        "threshold": mpc.threshold,
        "length": args.length,
        "api": args.api,
        "time_s": elapsed,
        "bytes_sent": bytes1 - bytes0,
        "messages_sent": msgs1 - msgs0,
        "result_sha256": hashlib.sha256(np.ascontiguousarray(result, dtype="<i8").tobytes()).hexdigest(),
        "mpyc_version": mpc.version,
        "gmpy2": has_gmpy2(),
        "no_prss": bool(mpc.options.no_prss),
    }
    print(json.dumps(out), flush=True)



if __name__ == "__main__":
    sys.exit(main())
