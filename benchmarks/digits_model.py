"""The digits model and queries of issue 15's benchmark: a 64-32-10 ReLU network on scikit-learn's ``load_digits``.

Usage::

    python benchmarks/digits_model.py OUTDIR [--seed 0]

writes into ``OUTDIR``:

* ``model.json``: ``{"weights": [W1, W2], "biases": [b1, b2]}``, each ``Wi`` a
  list of rows (out x in) of floats, the input format of ``mlp-predict``'s
  party 0 (scikit-learn's ``coefs_[i]`` is in x out: transposed here);
* ``queries.json``: the test queries, a list of lists of 64 floats (pixel
  values 0..16 divided by 16), the input of ``mlp-predict``'s party 1;
* ``labels.json``: the true labels of the test queries;
* ``plain.json``: ``{"classes": [...], "scores": [[...], ...]}``, the
  plaintext model's predicted class and its 10 float scores per query,
  computed with numpy from the very floats written to ``model.json`` (ReLU
  between layers, none after the last, argmax; ties to the lowest index);
* ``info.json``: the seed, split, sizes, iterations, accuracies and versions.

The split is 75/25 (``train_test_split(..., test_size=0.25,
random_state=seed, stratify=labels)``: 1347 training and 450 test images),
and ``MLPClassifier(hidden_layer_sizes=(32,), activation="relu",
max_iter=2000, random_state=seed)`` (adam); the script stops if training did
not converge or if scikit-learn's own ``predict`` disagrees with the numpy
forward pass. Everything is deterministic for a given seed and scikit-learn
version. The model is :func:`protocols.mlp.digits.train_digits`'s, the
example's and the benchmark's. Needs scikit-learn (``pip install 'mpcnet[ml]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from protocols.mlp.digits import train_digits  # (the one definition of the model)


def write_digits(outdir: str | Path, seed: int = 0) -> dict[str, Any]:
    """``train_digits(seed)`` written to ``outdir`` as ``model.json``, ``queries.json``, ``labels.json``,
    ``plain.json`` and ``info.json``; returns the dict."""
    data = train_digits(seed)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    files = {"model": data["model"], "queries": data["queries"], "labels": data["labels"],
             "plain": {"classes": data["plain"], "scores": data["scores"]}, "info": data["info"]}
    for name, value in files.items():
        (out / f"{name}.json").write_text(json.dumps(value) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    data = write_digits(args.outdir, args.seed)
    print(json.dumps(data["info"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
