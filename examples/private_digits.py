"""Private inference: a client classifies handwritten digits with a server's
model, and neither sees the other's data.

The server trains a 64-32-10 ReLU network on scikit-learn's bundled digits;
the client holds the test images. ``mlp-predict`` runs the network inside
MPC: with two parties (client and server alone, no dealer) and with three
(a third party only computes; honest majority). The client learns the
classes, the server nothing. Needs the ``ml`` extra (scikit-learn):

    pip install -e '.[ml]'
    python examples/private_digits.py                 # all 450 test images
    python examples/private_digits.py --queries 20    # a quick look
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import mpcnet
from protocols.mlp.digits import train_digits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=0, help="how many test images (default: all)")
    ap.add_argument("--parties", type=int, nargs="+", default=[2, 3], choices=[2, 3, 4, 5],
                    help="the group sizes to run (default: 2 3)")
    ap.add_argument("--transport", choices=["memory", "tcp"], default="memory")
    args = ap.parse_args()

    data = train_digits()
    count = args.queries or len(data["queries"])
    queries, labels, plain = data["queries"][:count], data["labels"][:count], data["plain"][:count]
    scores = np.asarray(data["scores"][:count])
    print(f"model 64-32-10 trained on {data['info']['train']} images; {count} test queries")
    print(f"  plaintext model:  accuracy {np.mean(np.equal(plain, labels)):.1%}")
    for n in args.parties:
        inputs = [data["model"], queries] + [None] * (n - 2)
        start = time.perf_counter()
        res = mpcnet.simulate("mlp-predict", inputs, transport=args.transport)
        wall = time.perf_counter() - start
        got = res.outputs[1]
        agree = np.equal(got, plain)
        who = "client and server alone" if n == 2 else f"{n} parties, {n - 2} only computing"
        print(f"  private, {who}: accuracy {np.mean(np.equal(got, labels)):.1%}, "
              f"agreement with plaintext {agree.mean():.1%} ({int(agree.sum())}/{count}), "
              f"{wall:.2f} s, {res.stats[1].rounds} rounds")
        for i in np.flatnonzero(~agree):
            top = np.sort(scores[i])[-2:]
            print(f"    query {i}: private {got[i]}, plaintext {plain[i]} (plaintext margin {top[1] - top[0]:.2e})")
        sent = ", ".join(f"{s.party} {s.bytes_sent / 1e6:.2f} MB" for s in res.stats)
        print(f"    sent: {sent}")


if __name__ == "__main__":
    main()
