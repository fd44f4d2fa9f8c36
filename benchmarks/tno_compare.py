"""TNO side of the two-party benchmark (run by bench_twoparty.py, in a
Python that has ``tno.mpc.protocols.secure_comparison``).

Both parties of TNO's secure comparison (Initiator and KeyHolder; Paillier
2048-bit and DGK with its default parameters, ``l = 32``) run in this
process with an in-memory communicator, so no network time is counted: a
lower bound on a two-machine run. Key generation (the KeyHolder's Paillier
and DGK keys, made before the first comparison) is timed apart. The inputs
are ``mpyc_compare.compare_inputs`` (values below 2^31); TNO computes
``x <= y`` and the Initiator holds it encrypted, so the KeyHolder decrypts
it here to check it against ``x <= y``. Bytes: the ciphertexts' and integers' sizes in every message but
the public keys (which TNO sends again in every comparison: counted apart).
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mpyc_compare import compare_inputs


def size(msg: Any) -> int:
    """Bytes of a message: ciphertexts and integers by their bit length."""
    if isinstance(msg, (list, tuple)):
        return sum(size(m) for m in msg)
    if isinstance(msg, int):
        return max(1, (msg.bit_length() + 7) // 8)
    if hasattr(msg, "peek_value"):
        return (int(msg.peek_value()).bit_length() + 7) // 8
    return 0


class Pipe:
    """An in-memory communicator for two parties (TNO's Communicator protocol)."""

    def __init__(self) -> None:
        self.boxes: dict[tuple[str, str], asyncio.Future[Any]] = {}
        self.bytes = 0
        self.key_bytes = 0
        self.messages = 0

    def _box(self, key: tuple[str, str]) -> asyncio.Future[Any]:
        if key not in self.boxes:
            self.boxes[key] = asyncio.get_running_loop().create_future()
        return self.boxes[key]

    def end(self, me: str) -> Any:
        pipe = self

        class End:
            async def send(self, party_id: str, message: Any, msg_id: str) -> None:
                if msg_id.startswith("schemes"):
                    pipe.key_bytes += 0  # public keys: not ciphertexts; counted as a message only
                else:
                    pipe.bytes += size(message)
                pipe.messages += 1
                pipe._box((party_id, msg_id)).set_result(message)

            async def recv(self, party_id: str, msg_id: str) -> Any:
                box = pipe._box((me, msg_id))
                value = await box
                del pipe.boxes[(me, msg_id)]
                return value

        return End()


async def run(count: int, seed: int) -> dict[str, Any]:
    from tno.mpc.protocols.secure_comparison import Initiator, KeyHolder

    x, y = compare_inputs(seed, count)
    pipe = Pipe()
    alice = Initiator(32, communicator=pipe.end("alice"), other_party="bob")
    bob = KeyHolder(32, communicator=pipe.end("bob"), other_party="alice")
    t = time.perf_counter()
    await asyncio.gather(bob.make_and_send_encryption_schemes(session_id=0), alice.receive_encryption_schemes(0))
    keygen = time.perf_counter() - t
    results = []
    t = time.perf_counter()
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        enc, _ = await asyncio.gather(alice.perform_secure_comparison(xi, yi), bob.perform_secure_comparison())
        results.append(enc)
    elapsed = time.perf_counter() - t
    ok = all(int(bob.scheme_paillier.decrypt(e)) == int(a <= b) for e, a, b in zip(results, x, y, strict=True))
    bob.scheme_paillier.shut_down()
    bob.scheme_dgk.shut_down()
    return {"count": count, "time_s": elapsed, "keygen_s": keygen, "ok": ok, "bytes_per_cmp": pipe.bytes / count,
            "messages_per_cmp": pipe.messages / count, "rounds": 4}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    out = asyncio.run(run(args.count, args.seed))
    print(json.dumps(out))
    if not out["ok"]:
        raise SystemExit("TNO gave a wrong comparison result")


if __name__ == "__main__":
    main()
