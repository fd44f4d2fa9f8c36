"""The mlp-predict model format and its checks (no MPC here: tests/test_mlp.py runs the protocol)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mpcnet import InputError
from protocols.mlp import (
    check_model,
    check_queries,
    error_bound,
    fixed_scores,
    from_npz,
    from_sklearn,
    layer_sizes,
    plain_scores,
    worst_case,
)

FMT = {"frac": 16, "input_bound": 1.0, "range_bits": 15}


def small_model(seed: int = 1, sizes: tuple[int, ...] = (4, 3, 2)) -> dict:
    rng = np.random.default_rng(seed)  # seeded: test data only
    return {"weights": [rng.uniform(-1, 1, (sizes[i + 1], sizes[i])).tolist() for i in range(len(sizes) - 1)],
            "biases": [rng.uniform(-1, 1, sizes[i + 1]).tolist() for i in range(len(sizes) - 1)]}


def test_a_good_model_is_accepted_with_its_sizes():
    model = check_model(small_model(), **FMT)
    assert layer_sizes(model) == [4, 3, 2]
    assert model[0][0].shape == (3, 4) and model[1][1].shape == (2,)


@pytest.mark.parametrize("mutate, words", [
    (lambda m: m.pop("biases"), "object"),
    (lambda m: m.update(extra=1), "object"),
    (lambda m: m["weights"][0][1].pop(), "ragged: row 1 has 3 entries"),
    (lambda m: [r.append(0.5) for r in m["weights"][1]], "takes 4 inputs but layer 0 gives 3"),
    (lambda m: m["biases"][1].pop(), "biases[1] must be a list of 2"),
    (lambda m: m["weights"][0][2].__setitem__(1, math.nan), "weights[0] holds NaN or infinity"),
    (lambda m: m["biases"][0].__setitem__(0, math.inf), "biases[0] holds NaN or infinity"),
    (lambda m: m["weights"][1][0].__setitem__(0, "0.5"), "numbers only"),
    (lambda m: m["weights"][1][0].__setitem__(0, 40000.0), "weights[1] has an entry of magnitude >= 2^15"),
    (lambda m: m["biases"][1].__setitem__(0, -32768.0), "biases[1] has an entry of magnitude >= 2^15"),
    (lambda m: m.update(weights=[]), "non-empty lists of equal length"),
    (lambda m: m["weights"].__setitem__(0, []), "non-empty list of rows"),
])
def test_malformed_models_are_refused_naming_the_fault(mutate, words):
    model = small_model()
    mutate(model)
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]").replace("^", r"\^")):
        check_model(model, **FMT)


def test_a_model_that_could_leave_the_range_is_refused():
    # 64 inputs in [-1, 1] with weights 600: a pre-activation could reach 38,400 > 2^15
    model = {"weights": [[[600.0] * 64]], "biases": [[0.0]]}
    with pytest.raises(InputError, match="layer 0's pre-activations could reach 2\\^15.2"):
        check_model(model, **FMT)
    # the same model is fine for inputs within 0.5 (19,200 < 32,768) or a wider range
    check_model(model, frac=16, input_bound=0.5, range_bits=15)
    check_model(model, frac=16, input_bound=1.0, range_bits=16)


def test_the_worst_case_is_reached_by_some_query():
    """The bound is the true worst case on the encoded values: a query at the
    corners reaches it exactly (so the check is neither loose nor wrong)."""
    model = check_model(small_model(3, (5, 4, 3)), **FMT)
    worst = worst_case(model, frac=16, input_bound=1.0)
    rng = np.random.default_rng(0)
    corners = rng.choice([-1.0, 1.0], size=(4000, 5))
    reached = np.abs(fixed_scores(model, corners, 16)).max()
    assert reached <= worst[-1]
    # layer 0's worst case is reached exactly by the sign pattern of the worst row
    w = model[0][0]
    y0 = np.abs(np.asarray(corners) @ w.T + model[1][0]).max()
    assert y0 == pytest.approx(worst[0] / 2 ** 32, rel=1e-4)


def test_queries_are_checked():
    assert check_queries([[0.5, -1.0], [0.0, 1.0]], input_bound=1.0).shape == (2, 2)
    for bad, words in [([], "non-empty"), ([[0.1, 0.2], [0.3]], "query 1 has 1 features"),
                       ([[0.1, math.nan]], "NaN"), ([[0.1, 1.5]], "query 0, feature 1 is outside"),
                       ([[True, 0.1]], "numbers only"), ([[]], "at least one feature"), ("0.1", "non-empty")]:
        with pytest.raises(InputError, match=words):
            check_queries(bad, input_bound=1.0)
    with pytest.raises(InputError, match="more than max_queries = 1"):
        check_queries([[0.1], [0.2]], input_bound=1.0, max_queries=1)


def test_the_out_of_range_message_names_no_value():
    with pytest.raises(InputError) as err:
        check_queries([[0.123456, 7.654321]], input_bound=1.0)
    assert "7.65" not in str(err.value) and "0.123" not in str(err.value)


def test_fixed_scores_follow_the_float_network():
    model = check_model(small_model(5, (6, 5, 4, 3)), **FMT)
    q = np.random.default_rng(2).uniform(-1, 1, (50, 6))
    fixed = np.asarray(fixed_scores(model, q, 16), dtype=np.float64) / 2 ** 32
    assert np.abs(fixed - plain_scores(model, q)).max() < 1e-3


def test_from_npz(tmp_path):
    model = small_model()
    path = tmp_path / "m.npz"
    np.savez(path, W0=np.asarray(model["weights"][0]), b0=np.asarray(model["biases"][0]),
             W1=np.asarray(model["weights"][1]), b1=np.asarray(model["biases"][1]))
    assert from_npz(str(path)) == model
    np.savez(path, W0=np.zeros((2, 2)))
    with pytest.raises(InputError, match="missing b0"):
        from_npz(str(path))


def test_from_sklearn():
    sklearn = pytest.importorskip("sklearn.neural_network")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (60, 4))
    y = (x[:, 0] * 3).astype(int)
    with pytest.warns(Warning):  # (50 iterations do not converge: fine for a format test)
        clf = sklearn.MLPClassifier(hidden_layer_sizes=(5,), max_iter=50, random_state=0).fit(x, y)
    model = check_model(from_sklearn(clf), **FMT)
    assert layer_sizes(model) == [4, 5, len(clf.classes_)]
    ours = plain_scores(model, x).argmax(axis=1)
    assert (clf.classes_[ours] == clf.predict(x)).all()


def test_the_worst_case_counts_negative_weights_on_both_sides():
    """A row with a negative weight and a negative bias: its worst case is
    on the negative side, -(1 + 1 + 5) = -7, in both layers (after the ReLU
    the second layer's inputs lie in [0, U]). The inputs' bound carries one
    unit of rounding slack: X = 2^16 + 1 at frac 16."""
    x, one = (1 << 16) + 1, 1 << 16
    model = check_model({"weights": [[[1.0, -1.0]], [[-1.0]]], "biases": [[-5.0], [-1.0]]}, **FMT)
    worst = worst_case(model, frac=16, input_bound=1.0)
    assert worst[0] == 2 * one * x + (5 << 32)
    # layer 0's pre-activation is at most -3 < 0, so after ReLU its output is 0 and layer 1 gives -1 exactly
    assert worst[1] == 1 << 32
    model = check_model({"weights": [[[1.0, 1.0]], [[-2.0]]], "biases": [[1.0], [0.0]]}, **FMT)
    # layer 0 in [-1, 3]; after ReLU and the floor [0, 3]; layer 1 in [-6, 0], on the negative side
    top = 2 * one * x + (1 << 32)
    assert worst_case(model, frac=16, input_bound=1.0) == [top, 2 * one * (top >> 16)]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 4), width=st.integers(1, 12),
       scale=st.sampled_from([0.01, 0.5, 2.0, 8.0]), frac=st.sampled_from([8, 12, 16]))
def test_the_scores_stay_within_the_stated_error_of_the_float_network(seed, depth, width, scale, frac):
    """What mlp-predict computes (the integer network, which the MPC tests
    match bit for bit) is within error_bound of the float network, on
    random networks of 1-4 layers and 8, 12 or 16 fractional bits."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 12))] + [width] * (depth - 1) + [int(rng.integers(1, 6))]
    raw = {"weights": [rng.uniform(-scale, scale, (sizes[i + 1], sizes[i])).tolist() for i in range(depth)],
           "biases": [rng.uniform(-scale, scale, sizes[i + 1]).tolist() for i in range(depth)]}
    try:
        model = check_model(raw, frac=frac, input_bound=1.0, range_bits=40 - 2 * frac)
    except InputError:
        return  # beyond the format: refused, nothing to compare
    queries = rng.uniform(-1, 1, (20, sizes[0]))
    mpc_scores = np.vectorize(lambda v: int(v) >> frac, otypes=[object])(
        fixed_scores(model, queries, frac)).astype(np.float64) / 2 ** frac
    gap = np.abs(mpc_scores - plain_scores(model, queries))
    bound = error_bound(model, queries, frac)
    assert (gap <= bound).all()
