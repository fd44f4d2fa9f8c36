"""MPyC side of the comparison and auction benchmark (run by bench_compare.py).

One MPyC party. Run it MPyC's usual way, one process per party, e.g.::

    python benchmarks/mpyc_compare.py --task compare --count 10000 --seed 1 -M3 -I0 \
        -P localhost:PORT0 -P localhost:PORT1 -P localhost:PORT2
    (and the same with -I1 and -I2, started at the same time)

``--task compare``: party 0 secret-inputs a secure array ``x`` of ``--count``
``secint32`` values, party 1 an array ``y``; every party computes ``x < y``
on the secure arrays (``mpc.np_less``) and the result is opened to all.
The other parties only help.

``--task auction``: ``--count`` bids (``secint32``); bid ``j`` is input by
party ``j mod m`` (spread over the parties, one ``mpc.input`` per sender);
``mpc.argmax`` over the list of secure bids gives the winner's index and the
winning bid, both opened to all. Ties go to the first (lowest) index, as in
mpcnet's auction.

The inputs are drawn in [0, 2^31) from ``numpy.random.default_rng`` (see
:func:`compare_inputs` and :func:`auction_bids`), so that the difference of
two values fits MPyC's ``secint32`` (whose comparison is only correct when
``x - y`` is in the 32-bit signed range); mpcnet gets the same values as
32-bit unsigned integers.

Only input + compute + output is timed (after ``mpc.start()`` has connected
all parties). The party prints one JSON line on stdout: its time, the bytes
and messages it sent during the timed part (MPyC's own ``nbytes_sent``
counter: 12-byte header + payload per message; messages counted by wrapping
``mpc._send_message``), and a SHA-256 of the opened result for checking.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from typing import Any

import numpy as np

VALUE_HIGH = 2**31  # inputs in [0, 2^31): differences fit secint32


def compare_inputs(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): party 0's and party 1's operands (the benchmark recomputes them)."""
    rng = np.random.default_rng([seed, 0xC0])
    x = rng.integers(0, VALUE_HIGH, size=count, dtype=np.int64)
    y = rng.integers(0, VALUE_HIGH, size=count, dtype=np.int64)
    # A few ties, so equal operands are exercised too.
    y[: max(1, count // 100)] = x[: max(1, count // 100)]
    return x, y


def auction_bids(seed: int, count: int) -> np.ndarray:
    """The bids, with a tie for the maximum when there are at least 4 bids."""
    bids = np.random.default_rng([seed, 0xA0, count]).integers(0, VALUE_HIGH, size=count, dtype=np.int64)
    if count >= 4:
        top = int(np.argmax(bids))
        bids[(top + count // 2) % count] = bids[top]  # ties go to the lower index
    return bids


def compare_sha(result: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(result, dtype=np.uint8).tobytes()).hexdigest()


def main() -> None:
    from mpyc.runtime import mpc

    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--task", choices=["compare", "auction"], default="compare")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args, _ = parser.parse_known_args()  # the rest are MPyC's flags

    secint = mpc.SecInt(32)
    m = len(mpc.parties)
    sent_messages = count_sent_messages(mpc)

    mpc.run(mpc.start())

    def bytes_sent() -> int:
        return sum(p.protocol.nbytes_sent for p in mpc.parties if p.pid != mpc.pid)

    out: dict[str, Any] = {}
    if args.task == "compare":
        x, y = compare_inputs(args.seed, args.count)
        zeros = np.zeros(args.count, dtype=np.int64)
        bytes0, msgs0 = bytes_sent(), sent_messages[0]
        start = time.perf_counter()
        sx = mpc.input(secint.array(x if mpc.pid == 0 else zeros), senders=0)
        sy = mpc.input(secint.array(y if mpc.pid == 1 else zeros), senders=1)
        lt = mpc.np_less(sx, sy)
        result = np.asarray(mpc.run(mpc.output(lt)), dtype=np.int64)
        elapsed = time.perf_counter() - start
        out["result_sha256"] = compare_sha(result == 1)
    else:
        bids = auction_bids(args.seed, args.count)
        bytes0, msgs0 = bytes_sent(), sent_messages[0]
        start = time.perf_counter()
        shared: list[Any] = [None] * args.count
        for p in range(min(m, args.count)):
            mine = list(range(p, args.count, m))
            vals = [secint(int(bids[j])) if mpc.pid == p else secint(None) for j in mine]
            for j, s in zip(mine, mpc.input(vals, senders=p), strict=True):
                shared[j] = s
        index, best = mpc.argmax(shared)
        winner, price = mpc.run(mpc.output([index, best]))
        elapsed = time.perf_counter() - start
        out["winner"], out["price"] = int(winner), int(price)
    bytes1, msgs1 = bytes_sent(), sent_messages[0]

    mpc.run(mpc.shutdown())
    out.update({
        "pid": mpc.pid,
        "parties": m,
        "threshold": mpc.threshold,
        "task": args.task,
        "count": args.count,
        "time_s": elapsed,
        "bytes_sent": bytes1 - bytes0,
        "messages_sent": msgs1 - msgs0,
        "messages_per_peer": (msgs1 - msgs0) / max(1, m - 1),
        "mpyc_version": mpc.version,
        "gmpy2": has_gmpy2(),
        "no_prss": bool(mpc.options.no_prss),
    })
    print(json.dumps(out), flush=True)


def count_sent_messages(mpc: Any) -> list[int]:
    """Count the messages MPyC's runtime sends (it counts only bytes):
    the returned one-element list holds the running count."""
    sent = [0]
    send = mpc._send_message

    def counting_send(peer_pid: int, data: bytes) -> None:
        sent[0] += 1
        send(peer_pid, data)

    mpc._send_message = counting_send
    return sent


def has_gmpy2() -> bool:
    """Whether gmpy2 (MPyC's fast integers) is importable."""
    try:
        import gmpy2  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
