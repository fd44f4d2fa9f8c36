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
version. ``train_digits`` returns the same data as a dict, for the example
and the benchmark. Needs scikit-learn (``pip install 'mpcnet[ml]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HIDDEN = 32
TEST_SIZE = 0.25
MAX_ITER = 2000


def forward(weights: list[np.ndarray], biases: list[np.ndarray], queries: np.ndarray) -> np.ndarray:
    """The plaintext scores (queries x outputs): ``W`` out x in, ReLU between layers, none after the last."""
    h = np.asarray(queries, dtype=np.float64)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ np.asarray(w, dtype=np.float64).T + np.asarray(b, dtype=np.float64)
        if i < len(weights) - 1:
            h = np.maximum(h, 0.0)
    return h


def train_digits(seed: int = 0) -> dict[str, Any]:
    """Train the 64-32-10 network; return ``{"model", "queries", "labels", "plain", "info"}`` (the JSON files' contents)."""
    from sklearn import __version__ as sklearn_version
    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    digits = load_digits()
    x = digits.data / 16.0  # pixel values 0..16 -> [0, 1]
    y = digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=seed, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a model that did not converge is not the model
        clf.fit(x_train, y_train)

    weights = [np.asarray(c, dtype=np.float64).T for c in clf.coefs_]  # sklearn: in x out; the format: out x in
    biases = [np.asarray(b, dtype=np.float64) for b in clf.intercepts_]
    model = {"weights": [w.tolist() for w in weights], "biases": [b.tolist() for b in biases]}
    queries = x_test.tolist()
    # The plaintext reference is computed from the JSON floats themselves (json round-trips floats exactly).
    scores = forward([np.array(w) for w in model["weights"]], [np.array(b) for b in model["biases"]], np.array(queries))
    classes = np.argmax(scores, axis=1)
    sk = clf.predict(x_test)
    if not np.array_equal(classes, sk):
        raise RuntimeError(f"the numpy forward pass disagrees with sklearn's predict on {int((classes != sk).sum())} queries")
    top2 = np.sort(scores, axis=1)[:, -2:]
    info = {
        "seed": seed, "sklearn": sklearn_version, "numpy": np.__version__,
        "layers": [weights[0].shape[1]] + [w.shape[0] for w in weights],
        "train": len(x_train), "test": len(x_test), "test_size": TEST_SIZE,
        "n_iter": int(clf.n_iter_), "max_iter": MAX_ITER,
        "train_accuracy": float(clf.score(x_train, y_train)),
        "test_accuracy": float(np.mean(classes == y_test)),
        "max_abs_weight": float(max(np.abs(w).max() for w in weights)),
        "max_abs_bias": float(max(np.abs(b).max() for b in biases)),
        "max_abs_score": float(np.abs(scores).max()),
        "min_margin": float((top2[:, 1] - top2[:, 0]).min()),  # top score minus runner-up, smallest over queries
    }
    return {"model": model, "queries": queries, "labels": [int(v) for v in y_test],
            "plain": {"classes": [int(c) for c in classes], "scores": scores.tolist()}, "info": info}


def write_digits(outdir: str | Path, seed: int = 0) -> dict[str, Any]:
    """``train_digits(seed)`` written to ``outdir`` as ``model.json``, ``queries.json``, ``labels.json``,
    ``plain.json`` and ``info.json``; returns the dict."""
    data = train_digits(seed)
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("model", "queries", "labels", "plain", "info"):
        (out / f"{name}.json").write_text(json.dumps(data[name]) + "\n")
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
