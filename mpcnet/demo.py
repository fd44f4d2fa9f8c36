"""``mpcnet demo``: the four engineers average their raises.

Alice, Bob, Carlos and David (raises 3800, 2514, 2982 and 3390) run
``secure-average`` as four parties over Noise-encrypted TCP on 127.0.0.1.
The demo prints every message each engineer received, checks that none of
them equals (or is) anyone's raise, and prints the result, 3171.5.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np

from .runner import simulate

ENGINEERS = ("alice", "bob", "carlos", "david")
RAISES = (3800, 2514, 2982, 3390)


def _signed(value: Any) -> int:
    """A received ring element shown as a signed 64-bit integer, the way the
    article shows shares: any numbers at all, as long as they add up."""
    return int(np.asarray(value, dtype=np.uint64).reshape(-1)[0].view(np.int64))


def run_demo(*, transport: str = "tcp", as_json: bool = False, out: Any = None) -> int:
    """Run the demo; returns the exit code (0 when the result is right and
    no engineer received anyone's raise)."""
    out = out or sys.stdout
    result = simulate("secure-average", list(RAISES), names=ENGINEERS, transport=transport, record_views=True)
    raises_mod = {r % 2**64 for r in RAISES}
    leaks = []
    for res in result.results:
        for rec in res.view:
            if int(np.asarray(rec.value, dtype=np.uint64).reshape(-1)[0]) in raises_mod:
                leaks.append((res.party, rec.round, rec.sender))
    ok = all(o == 3171.5 for o in result.outputs) and not leaks
    if as_json:
        json.dump({
            "outputs": list(result.outputs),
            "received": {r.party: [{"round": v.round, "from": v.sender, "value": _signed(v.value)} for v in r.view]
                         for r in result.results},
            "leaks": leaks,
            "stats": [s.to_dict() for s in result.stats],
            "transport": transport,
        }, out)
        out.write("\n")
        return 0 if ok else 1

    w = out.write
    where = "Noise_KK-encrypted TCP on 127.0.0.1" if transport == "tcp" else "the in-memory mesh"
    w(f"Four engineers compute their average raise over {where}.\n")
    w("Each raise stays on its owner's machine:\n")
    for name, r in zip(ENGINEERS, RAISES, strict=True):
        w(f"  {name:<7} {r:>6}\n")
    w("\nRound 1: each engineer splits the raise into four random numbers that add up to it\n"
      "(mod 2^64), keeps one and sends one to each colleague. Round 2: each publishes the sum\n"
      "of the four numbers now held. What each engineer received:\n")
    for res in result.results:
        w(f"\n  {res.party} received\n")
        for rec in res.view:
            kind = "share   " if rec.round == 1 else "partial "
            w(f"    round {rec.round} {kind} from {rec.sender:<7} {_signed(rec.value):>21}\n")
    w("\nNo engineer received anyone's raise: " + ("checked, none of the 24 messages equals a raise.\n"
                                                   if not leaks else f"FAILED {leaks}\n"))
    w(f"\nEveryone adds the four partial sums and divides by 4:  average raise = {result.outputs[0]}\n")
    s = result.stats[0]
    w(f"({s.rounds} rounds; each engineer sent {s.messages_sent} messages, {s.bytes_sent} bytes; "
      f"wall time {result.wall_time * 1000:.0f} ms)\n")
    return 0 if ok else 1
