"""The issue's running example: a 64-32-10 ReLU network on scikit-learn's
bundled handwritten digits (needs the optional ``ml`` extra:
``pip install 'mpcnet[ml]'``). Used by ``examples/private_digits.py`` and
``benchmarks/bench_mlp.py``, so both run the same model on the same queries."""

from __future__ import annotations

from typing import Any

__all__ = ["train_digits"]


def train_digits(seed: int = 0, hidden: int = 32, test_size: float = 0.25) -> dict[str, Any]:
    """Train the network (features divided by 16, so in [0, 1]; a seeded
    75/25 split and seeded initial weights: the same model on every
    machine with the same scikit-learn). Returns ``model`` (the
    ``mlp-predict`` JSON form), ``queries`` (the test features),
    ``labels`` (their true classes), ``plain`` (the float model's classes)
    and ``scores`` (its output scores)."""
    try:
        from sklearn.datasets import load_digits  # type: ignore[import-untyped]
        from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
        from sklearn.neural_network import MLPClassifier  # type: ignore[import-untyped]
    except ImportError:
        raise SystemExit("this needs scikit-learn: pip install 'mpcnet[ml]'") from None
    from . import check_model, from_sklearn, plain_scores

    digits = load_digits()
    x = digits.data / 16.0
    x_train, x_test, y_train, y_test = train_test_split(x, digits.target, test_size=test_size, random_state=seed)
    clf = MLPClassifier(hidden_layer_sizes=(hidden,), activation="relu", max_iter=600, random_state=seed)
    clf.fit(x_train, y_train)
    model = from_sklearn(clf)
    checked = check_model(model, frac=16, input_bound=1.0, range_bits=15)
    scores = plain_scores(checked, x_test)
    return {"model": model, "queries": x_test.tolist(), "labels": [int(v) for v in y_test],
            "plain": [int(v) for v in scores.argmax(axis=1)], "scores": scores.tolist()}
