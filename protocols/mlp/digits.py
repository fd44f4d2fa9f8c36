"""The issue's running example: a 64-32-10 ReLU network on scikit-learn's
bundled handwritten digits (needs the optional ``ml`` extra:
``pip install 'mpcnet[ml]'``). Used by ``examples/private_digits.py``,
``benchmarks/bench_mlp.py`` and ``benchmarks/digits_model.py`` (which writes
it to files for MPyC), so all run the same model on the same queries."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

__all__ = ["train_digits", "HIDDEN", "TEST_SIZE", "MAX_ITER"]

HIDDEN = 32
TEST_SIZE = 0.25
MAX_ITER = 2000


def train_digits(seed: int = 0) -> dict[str, Any]:
    """Train the network: features divided by 16 (so in [0, 1]), a stratified
    75/25 split (1347 training and 450 test images) and initial weights
    seeded by ``seed`` (the same model on every machine with the same
    scikit-learn), adam until it converges (a ConvergenceWarning is an
    error: an unconverged model is not the example's). Returns ``model`` (the
    ``mlp-predict`` JSON form), ``queries`` (the test features), ``labels``
    (their true classes), ``plain`` (the float model's classes, equal to
    scikit-learn's ``predict``: checked), ``scores`` (its output scores) and
    ``info`` (training and size figures)."""
    try:
        from sklearn import __version__ as sklearn_version  # type: ignore[import-untyped]
        from sklearn.datasets import load_digits  # type: ignore[import-untyped]
        from sklearn.exceptions import ConvergenceWarning  # type: ignore[import-untyped]
        from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
        from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit("this needs scikit-learn: pip install 'mpcnet[ml]'") from None
    from . import check_model, from_sklearn, plain_scores

    digits = load_digits()
    x, y = digits.data / 16.0, digits.target
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=TEST_SIZE, random_state=seed, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(HIDDEN,), activation="relu", max_iter=MAX_ITER, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(x_train, y_train)
    model = from_sklearn(clf)
    # The reference from the JSON floats themselves (what the server inputs).
    scores = plain_scores(check_model(model, frac=16, input_bound=1.0, range_bits=15), x_test)
    classes = scores.argmax(axis=1)
    if not np.array_equal(clf.classes_[classes], clf.predict(x_test)):
        raise RuntimeError("the numpy forward pass disagrees with scikit-learn's predict")
    top2 = np.sort(scores, axis=1)[:, -2:]
    info = {"seed": seed, "sklearn": sklearn_version, "layers": [x.shape[1], HIDDEN, len(clf.classes_)],
            "train": len(x_train), "test": len(x_test), "n_iter": int(clf.n_iter_),
            "test_accuracy": float(np.mean(classes == y_test)),
            "max_abs_weight": float(max(np.abs(c).max() for c in clf.coefs_)),
            "max_abs_score": float(np.abs(scores).max()), "min_margin": float((top2[:, 1] - top2[:, 0]).min())}
    return {"model": model, "queries": x_test.tolist(), "labels": [int(v) for v in y_test],
            "plain": [int(c) for c in classes], "scores": scores.tolist(), "info": info}
