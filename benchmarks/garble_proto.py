"""A minimal half-gates garbling prototype, to measure garbled circuits
against the Beaver-triple engine on the comparison circuit (not part of the
library: it decided a design question, docs/architecture.md "Two parties").

    python benchmarks/garble_proto.py [--count 100000] [--bits 32]

Garbling: free-XOR (Kolesnikov-Schneider 2008) and half-gates (Zahur,
Rosulek, Evans, EUROCRYPT 2015, figure 2), two 16-byte ciphertexts per AND,
the hash H(x, i) = pi(sigma(x) XOR i) XOR sigma(x) with pi fixed-key AES and
sigma(x_L || x_R) = (x_L XOR x_R) || x_L (Guo et al., S&P 2020, section
7.3: tweakable circular correlation robust, one AES call per hash).
Everything is batched over the comparisons with numpy (labels as two uint64
words) and one AES-ECB call per gate layer.

The circuit is the ripple comparator with one AND per bit (the fewest for
garbling, where depth is free): ``c_(i+1) = c_i XOR ((x_i XOR y_i) AND (y_i
XOR c_i))``, c_0 = 0, so ``c_k = [x < y]``: k AND gates.

What it measures, one process, no network: garbling and evaluation time of
``--count`` comparisons, and the bytes a two-party run would send: the
garbled tables (32 bytes per AND), the garbler's input labels (16 per bit),
and, for the evaluator's input labels, k correlated OTs per comparison
(IKNP: 16 bytes of u per OT from the evaluator, 16 bytes of correction from
the garbler). The OTs' time is not included (see bench_ot.py / bench_twoparty.py's
OT-only row: add k OTs per comparison at that rate). Checked against plaintext.
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

Array = np.ndarray[Any, Any]
KEY = bytes(range(16))


def aes(x: Array) -> Array:
    """Fixed-key AES on each row of an (n, 2) uint64 array."""
    enc = Cipher(algorithms.AES(KEY), modes.ECB()).encryptor()
    return np.frombuffer(enc.update(np.ascontiguousarray(x).view(np.uint8).reshape(-1).data), dtype="<u8").reshape(-1, 2)


def hash_(x: Array, tweak: int) -> Array:
    """H(x, i) = pi(sigma(x) XOR i) XOR sigma(x), row by row (tweak i shared by the batch, unique per gate)."""
    s = np.empty_like(x)
    s[:, 0] = x[:, 0] ^ x[:, 1]
    s[:, 1] = x[:, 0]
    t = s.copy()
    t[:, 0] ^= np.uint64(tweak)
    out: Array = aes(t) ^ s
    return out


def lsb(x: Array) -> Array:
    return (x[:, 0] & np.uint64(1)).astype(bool)


def garble_and(a0: Array, b0: Array, delta: Array, gate: int) -> tuple[Array, Array, Array]:
    """(C0, TG, TE) for an AND of wires with zero-labels a0, b0."""
    pa, pb = lsb(a0), lsb(b0)
    a1, b1 = a0 ^ delta, b0 ^ delta
    ha0, ha1 = hash_(a0, 2 * gate), hash_(a1, 2 * gate)
    hb0, hb1 = hash_(b0, 2 * gate + 1), hash_(b1, 2 * gate + 1)
    tg = ha0 ^ ha1 ^ np.where(pb[:, None], delta, np.uint64(0))
    wg0 = ha0 ^ np.where(pa[:, None], tg, np.uint64(0))
    te = hb0 ^ hb1 ^ a0
    we0 = hb0 ^ np.where(pb[:, None], te ^ a0, np.uint64(0))
    return wg0 ^ we0, tg, te


def eval_and(a: Array, b: Array, tg: Array, te: Array, gate: int) -> Array:
    sa, sb = lsb(a), lsb(b)
    wg = hash_(a, 2 * gate) ^ np.where(sa[:, None], tg, np.uint64(0))
    we = hash_(b, 2 * gate + 1) ^ np.where(sb[:, None], te ^ a, np.uint64(0))
    out: Array = wg ^ we
    return out


def run(count: int, bits: int, rng: np.random.Generator) -> dict[str, Any]:
    x = rng.integers(0, 2**bits, count, dtype=np.uint64)
    y = rng.integers(0, 2**bits, count, dtype=np.uint64)
    delta = rng.integers(0, 2**63, (1, 2), dtype=np.uint64) * np.uint64(2)
    delta[0, 0] |= np.uint64(1)  # point-and-permute: lsb(delta) = 1
    # Garbler: zero-labels of every input bit and of the constant 0.
    t0 = time.perf_counter()
    x0 = rng.integers(0, 2**63, (bits, count, 2), dtype=np.uint64)
    y0 = rng.integers(0, 2**63, (bits, count, 2), dtype=np.uint64)
    c0 = rng.integers(0, 2**63, (count, 2), dtype=np.uint64)
    c = c0
    tables = []
    for i in range(bits):
        out0, tg, te = garble_and(x0[i] ^ y0[i], y0[i] ^ c, delta, i)
        c = c ^ out0
        tables.append((tg, te))
    decode = lsb(c)
    garble_s = time.perf_counter() - t0
    # The labels the evaluator holds: x's from the garbler, y's from the OTs, the constant's zero-label.
    xbits = ((x[None, :] >> np.arange(bits, dtype=np.uint64)[:, None]) & np.uint64(1)).astype(bool)
    ybits = ((y[None, :] >> np.arange(bits, dtype=np.uint64)[:, None]) & np.uint64(1)).astype(bool)
    xl = x0 ^ np.where(xbits[..., None], delta, np.uint64(0))
    yl = y0 ^ np.where(ybits[..., None], delta, np.uint64(0))
    t1 = time.perf_counter()
    c = c0
    for i in range(bits):
        c = c ^ eval_and(xl[i] ^ yl[i], yl[i] ^ c, tables[i][0], tables[i][1], i)
    result = lsb(c) ^ decode
    eval_s = time.perf_counter() - t1
    if not np.array_equal(result, x < y):
        raise SystemExit("the garbled comparison is wrong")
    garbler_bytes = bits * 32 + bits * 16 + 16 + bits * 16  # tables, x labels, constant label, OT corrections
    evaluator_bytes = bits * 16  # IKNP u columns for its k OTs
    return {"count": count, "bits": bits, "ands_per_cmp": bits, "garble_s": garble_s, "eval_s": eval_s,
            "garble_per_s": count / garble_s, "eval_per_s": count / eval_s,
            "garbler_bytes_per_cmp": garbler_bytes, "evaluator_bytes_per_cmp": evaluator_bytes,
            "ots_per_cmp": bits}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=100_000)
    ap.add_argument("--bits", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    print(json.dumps(run(args.count, args.bits, np.random.default_rng(args.seed))))


if __name__ == "__main__":
    main()
