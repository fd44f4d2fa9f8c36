"""Models for private inference (the ``mlp-predict`` protocol): the JSON
format, builders from numpy ``.npz`` files and scikit-learn, the checks run
before anything is sent, and the plaintext references the tests compare with.

A model is a ReLU network ``{"weights": [W1, W2, ...], "biases": [b1, b2,
...]}``: ``Wi`` a list of rows (out x in) of floats, ``bi`` a list of out
floats; ReLU between layers, none after the last. Its layer sizes are
``[in_1, out_1, out_2, ...]``.

The fixed-point format is public (the protocol's parameters): ``frac``
fractional bits, queries within ``[-input_bound, input_bound]``, and every
weight, bias and pre-activation of magnitude below ``2^range_bits``. The
owner's check (:func:`check_model`) proves the last one for every possible
query by interval arithmetic on the encoded integers, so no value can leave
the range inside MPC (a value outside it would wrap around and give a wrong
answer without warning).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from mpcnet import InputError
from mpcnet.mpc.fixed import encode, integer_bound

__all__ = ["Model", "check_model", "check_queries", "from_npz", "from_sklearn", "plain_scores", "fixed_scores",
           "layer_sizes", "worst_case", "error_bound"]

Array = np.ndarray[Any, Any]
#: A checked model: the weight matrices (out x in) and bias vectors as float64.
Model = tuple[list[Array], list[Array]]


def layer_sizes(model: Model) -> list[int]:
    """``[in_1, out_1, ..., out_L]``."""
    weights, _ = model
    return [weights[0].shape[1], *(w.shape[0] for w in weights)]


def _matrix(rows: Any, i: int) -> Array:
    if isinstance(rows, np.ndarray):
        rows = rows.tolist()
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise InputError(f"model: weights[{i}] must be a non-empty list of rows (lists of numbers)")
    width = len(rows[0])
    for j, r in enumerate(rows):
        if len(r) != width:
            raise InputError(f"model: weights[{i}] is ragged: row {j} has {len(r)} entries, row 0 has {width}")
    if width == 0:
        raise InputError(f"model: weights[{i}] has empty rows")
    return _numbers(rows, f"weights[{i}]")


#: What a number in a model or a query may be (not bool: True is no weight).
_NUMBER_TYPES = frozenset({int, float, np.float64, np.float32, np.int64, np.int32})


def _flat(values: Any) -> list[Any]:
    """The leaves of a list or a list of lists (a ragged nesting is caught by the callers)."""
    if values and isinstance(values[0], list):
        return list(itertools.chain.from_iterable(values))
    return list(values)


def _numbers(values: Any, what: str) -> Array:
    # (one type() per leaf, in C: a 64 x 32 model is checked in well under a millisecond)
    if not set(map(type, _flat(values))) <= _NUMBER_TYPES:
        raise InputError(f"model: {what} must hold numbers only")
    arr = np.asarray(values, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError(f"model: {what} holds NaN or infinity")
    return arr


def check_model(model: Any, *, frac: int, input_bound: float, range_bits: int,
                max_weights: int | None = None) -> Model:
    """The model as float arrays, or an InputError saying what is wrong:
    not the documented JSON shape, ragged rows, layer sizes that do not
    chain, NaN/inf, a weight or bias outside ``2^range_bits``, more than
    ``max_weights`` numbers, or a layer whose pre-activation could leave the
    fixed-point range for some query within ``input_bound`` (worst case over
    all such queries, on the encoded integers, truncation included). Run by
    the model's owner before anything is sent; the message names layers and
    positions, never values."""
    if not isinstance(model, dict) or set(model) != {"weights", "biases"}:
        raise InputError('a model is an object {"weights": [W1, ...], "biases": [b1, ...]}')
    ws, bs = model["weights"], model["biases"]
    if not isinstance(ws, list) or not isinstance(bs, list) or not ws or len(ws) != len(bs):
        raise InputError("model: weights and biases must be non-empty lists of equal length (one per layer)")
    weights = [_matrix(w, i) for i, w in enumerate(ws)]
    biases = []
    for i, (w, b) in enumerate(zip(weights, bs, strict=True)):
        if isinstance(b, np.ndarray):
            b = b.tolist()
        if not isinstance(b, list) or len(b) != w.shape[0]:
            raise InputError(f"model: biases[{i}] must be a list of {w.shape[0]} numbers (the rows of weights[{i}])")
        biases.append(_numbers(b, f"biases[{i}]"))
        if i and w.shape[1] != weights[i - 1].shape[0]:
            raise InputError(f"model: weights[{i}] takes {w.shape[1]} inputs but layer {i - 1} gives "
                             f"{weights[i - 1].shape[0]} outputs")
    total = sum(w.size + b.size for w, b in zip(weights, biases, strict=True))
    if max_weights is not None and total > max_weights:
        raise InputError(f"model: {total} weights and biases, more than max_weights = {max_weights}")
    limit = math.ldexp(1.0, range_bits)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        for what, arr in ((f"weights[{i}]", w), (f"biases[{i}]", b)):
            if arr.size and float(np.abs(arr).max()) >= limit:
                raise InputError(f"model: {what} has an entry of magnitude >= 2^{range_bits} (range_bits)")
    worst = worst_case(([w for w in weights], biases), frac=frac, input_bound=input_bound)
    cap = 1 << (2 * frac + range_bits)
    for i, top in enumerate(worst):
        if top >= cap:
            raise InputError(f"model: layer {i}'s pre-activations could reach 2^{math.log2(top / 2 ** (2 * frac)):.1f} "
                             f"for queries within +-{input_bound:g}, beyond the range 2^{range_bits}: raise "
                             f"range_bits or lower input_bound")
    return weights, biases


def worst_case(model: Model, *, frac: int, input_bound: float) -> list[int]:
    """Per layer, the largest magnitude its pre-activation integer (at scale
    2^(2 frac)) can have for any query within ``input_bound``: interval
    arithmetic on the encoded weights, inputs and (floor) truncations."""
    weights, biases = model
    x_hi = np.full(weights[0].shape[1], integer_bound(input_bound, frac), dtype=object)
    x_lo = -x_hi
    out = []
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        wi = encode(w, frac).astype(object)
        bi = encode(b, frac).astype(object) << frac
        pos, neg = np.where(wi > 0, wi, 0), np.where(wi < 0, wi, 0)
        hi = pos @ x_hi + neg @ x_lo + bi
        lo = pos @ x_lo + neg @ x_hi + bi
        out.append(int(max(max(abs(v) for v in hi), max(abs(v) for v in lo))))
        if i + 1 < len(weights):  # ReLU then floor(y / 2^f): within [0, floor(hi / 2^f)]
            x_hi = np.asarray([max(0, int(v) >> frac) for v in hi], dtype=object)
            x_lo = np.zeros_like(x_hi)
    return out


def check_queries(queries: Any, *, input_bound: float, max_queries: int | None = None) -> Array:
    """The queries as a float array (q x d), or an InputError: not a
    non-empty list of equal-length lists of numbers, NaN/inf, or an entry
    outside ``[-input_bound, input_bound]`` (the message names no value)."""
    if isinstance(queries, np.ndarray):
        queries = queries.tolist()
    if not isinstance(queries, list) or not queries or not all(isinstance(q, list) for q in queries):
        raise InputError("queries must be a non-empty list of queries, each a list of numbers")
    width = len(queries[0])
    for j, q in enumerate(queries):
        if len(q) != width:
            raise InputError(f"query {j} has {len(q)} features, query 0 has {width}")
    if width == 0:
        raise InputError("a query needs at least one feature")
    if max_queries is not None and len(queries) > max_queries:
        raise InputError(f"{len(queries)} queries, more than max_queries = {max_queries}")
    if not set(map(type, _flat(queries))) <= _NUMBER_TYPES:
        raise InputError("queries must hold numbers only")
    arr = np.asarray(queries, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise InputError("queries hold NaN or infinity")
    bad = np.argwhere(np.abs(arr) > input_bound)
    if bad.size:
        j, k = (int(v) for v in bad[0])
        raise InputError(f"query {j}, feature {k} is outside [-input_bound, input_bound] = "
                         f"[-{input_bound:g}, {input_bound:g}]: scale the features or raise input_bound")
    return arr


def plain_scores(model: Model, queries: Array) -> Array:
    """The float network's output scores (queries x classes), in numpy."""
    weights, biases = model
    h = np.asarray(queries, dtype=np.float64)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        h = h @ w.T + b
        if i + 1 < len(weights):
            h = np.maximum(h, 0.0)
    return h


def fixed_scores(model: Model, queries: Array, frac: int) -> Array:
    """What the protocol computes, in the clear: the integer network on the
    encoded values (exact products, floor truncation after each layer), the
    last layer's pre-activations as integers at scale 2^(2 frac)."""
    weights, biases = model
    h = encode(queries, frac).astype(object)
    y = h
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        y = h @ encode(w, frac).astype(object).T + (encode(b, frac).astype(object) << frac)
        if i + 1 < len(weights):
            h = np.vectorize(lambda v: max(0, int(v) >> frac), otypes=[object])(y)
    return np.asarray(y, dtype=object)


def error_bound(model: Model, queries: Array, frac: int) -> Array:
    """Per query and output, a bound on how far ``mlp-predict``'s scores
    (``output=scores``) can be from the float network's (:func:`plain_scores`),
    by the recurrence of ``docs/architecture.md`` ("Precision"), with
    ``u = 2^-(frac+1)`` the encoding error of a weight, bias or feature and
    ``2^-frac`` the most a floor truncation takes off:

    * inputs: ``d_0 = u``;
    * a layer: ``d' = |W| d + u (|h| + d) 1 + u + 2^-frac`` (the products
      on the encoded values are exact; ReLU does not widen the gap),

    with ``|h|`` the float network's own activations. (The classes can
    differ from the float network's only where the top two scores are
    closer than twice this bound.)"""
    weights, biases = model
    u, floor = math.ldexp(1.0, -(frac + 1)), math.ldexp(1.0, -frac)
    h = np.asarray(queries, dtype=np.float64)
    d = np.full_like(h, u)
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        d = d @ np.abs(w).T + u * (np.abs(h) + d).sum(axis=1, keepdims=True) + u + floor
        h = h @ w.T + b
        if i + 1 < len(weights):
            h = np.maximum(h, 0.0)
    return d


def from_npz(path: str) -> dict[str, list[Any]]:
    """A model in the JSON form from a numpy ``.npz`` file holding arrays
    ``W0, b0, W1, b1, ...`` (each ``Wi`` out x in; not checked here: the
    protocol checks it)."""
    with np.load(path, allow_pickle=False) as data:
        layers = 0
        while f"W{layers}" in data:
            layers += 1
        if layers == 0:
            raise InputError(f"{path}: no array W0 (expected W0, b0, W1, b1, ...)")
        missing = [f"b{i}" for i in range(layers) if f"b{i}" not in data]
        if missing:
            raise InputError(f"{path}: missing {', '.join(missing)}")
        return {"weights": [np.asarray(data[f"W{i}"], dtype=np.float64).tolist() for i in range(layers)],
                "biases": [np.asarray(data[f"b{i}"], dtype=np.float64).reshape(-1).tolist() for i in range(layers)]}


def from_sklearn(classifier: Any) -> dict[str, list[Any]]:
    """A model in the JSON form from a fitted scikit-learn ``MLPClassifier``
    (or ``MLPRegressor``) with ReLU hidden layers. The protocol's output is
    the argmax of the last layer's scores, which is the classifier's class
    index (``classifier.classes_[i]``) for more than two classes; a binary
    classifier has one output unit, whose argmax is meaningless: refused."""
    coefs: Sequence[Any] | None = getattr(classifier, "coefs_", None)
    intercepts: Sequence[Any] | None = getattr(classifier, "intercepts_", None)
    if coefs is None or intercepts is None:
        raise InputError("from_sklearn takes a fitted MLPClassifier (no coefs_: call fit first)")
    if getattr(classifier, "activation", "relu") != "relu":
        raise InputError(f"from_sklearn: hidden activation {classifier.activation!r}; only 'relu' is supported")
    if np.asarray(coefs[-1]).shape[1] == 1 and hasattr(classifier, "classes_"):
        raise InputError("from_sklearn: a binary classifier has one output unit; argmax needs two or more")
    return {"weights": [np.asarray(c, dtype=np.float64).T.tolist() for c in coefs],
            "biases": [np.asarray(b, dtype=np.float64).tolist() for b in intercepts]}
