"""mlp-predict: private inference against plaintext, on both engines, its views and its refusals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mpcnet
from mpcnet import InputError
from mpcnet.mpc import twoparty
from protocols.mlp import check_model, fixed_scores, plain_scores

from helpers import collect_views, different_bits, simulate_within

FRAC = 16


@pytest.fixture(autouse=True)
def _no_kept_extension():
    """Seeded simulations give a link the same key in every run with that
    seed, so an OT extension kept by an earlier test's run would be taken up
    (a shorter view); each test starts without one."""
    twoparty._KEPT.clear()
#: (number of parties, engine): two parties; three on the replicated field engine; three and five on Shamir.
SETTINGS = [(2, "auto"), (3, "auto"), (3, "shamir"), (5, "auto")]


def random_model(rng: np.random.Generator, sizes: list[int], scale: float = 1.0) -> dict[str, Any]:
    return {"weights": [rng.uniform(-scale, scale, (sizes[i + 1], sizes[i])).tolist() for i in range(len(sizes) - 1)],
            "biases": [rng.uniform(-scale, scale, sizes[i + 1]).tolist() for i in range(len(sizes) - 1)]}


def run(model: dict[str, Any], queries: list[list[float]], n: int, engine: str = "auto", **params: Any) -> Any:
    inputs = [model, queries] + [None] * (n - 2)
    twoparty._KEPT.clear()  # (as the fixture: each run with its own base OTs)
    res = simulate_within("mlp-predict", inputs, params={"engine": engine, **params}, seed=7)
    assert all(out is None for i, out in enumerate(res.outputs) if i != 1), "only the client gets an output"
    return res


def expected(model: dict[str, Any], queries: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """The exact integer network (floor truncations) as classes (first on ties) and truncated scores."""
    checked = check_model(model, frac=FRAC, input_bound=1.0, range_bits=15)
    y = fixed_scores(checked, np.asarray(queries), FRAC)
    classes = np.array([max(range(len(r)), key=lambda i: (r[i], -i)) for r in y])
    scores = np.vectorize(lambda v: int(v) >> FRAC, otypes=[object])(y).astype(np.float64) / 2 ** FRAC
    return classes, scores


@pytest.mark.parametrize("n, engine", SETTINGS)
def test_classes_and_scores_match_the_integer_network(n: int, engine: str):
    rng = np.random.default_rng(n)  # seeded: test data only
    model = random_model(rng, [6, 5, 4])
    queries = rng.uniform(-1, 1, (9, 6)).tolist()
    classes, scores = expected(model, queries)
    got = run(model, queries, n, engine).outputs[1]
    assert got == classes.tolist()
    got_scores = np.asarray(run(model, queries, n, engine, output="scores").outputs[1])
    assert got_scores.shape == scores.shape
    # exact floor truncation (two parties and the field alike): the same bits as the integer network
    assert np.array_equal(got_scores, scores)
    # and close to the float network
    assert np.abs(got_scores - plain_scores(check_model(model, frac=FRAC, input_bound=1.0, range_bits=15),
                                            np.asarray(queries))).max() < 1e-3


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), depth=st.integers(1, 3), width=st.integers(1, 5),
       count=st.integers(1, 4), scale=st.sampled_from([0.01, 1.0, 4.0]), n=st.sampled_from([2, 3]))
def test_random_networks_agree_with_plaintext(seed: int, depth: int, width: int, count: int, scale: float,
                                             n: int):
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 6))] + [width] * (depth - 1) + [int(rng.integers(2, 5))]
    model = random_model(rng, sizes, scale)
    queries = rng.uniform(-1, 1, (count, sizes[0])).tolist()
    classes, scores = expected(model, queries)
    got = np.asarray(run(model, queries, n, output="scores").outputs[1])
    assert np.array_equal(got, scores)


def test_an_extreme_query_at_the_range_edge():
    """Weights and inputs at the edges of the declared range: the largest
    pre-activation the server's check allows is computed exactly."""
    model = {"weights": [[[511.0] * 64], [[1.0], [-1.0]]], "biases": [[0.0], [1.0, -1.0]]}
    queries = [[1.0] * 64, [-1.0] * 64, [0.0] * 64]
    classes, scores = expected(model, queries)
    for n in (2, 3):
        assert np.array_equal(np.asarray(run(model, queries, n, output="scores").outputs[1]), scores)


@pytest.mark.parametrize("n", [2, 3])
def test_rounds_do_not_grow_with_the_number_of_queries(n: int):
    rng = np.random.default_rng(11)
    model = random_model(rng, [5, 4, 3])
    rounds = [run(model, rng.uniform(-1, 1, (q, 5)).tolist(), n).stats[1].rounds for q in (1, 40)]
    assert rounds[0] == rounds[1]


@pytest.mark.parametrize("bad, words", [
    ({"weights": [[[1.0, 2.0], [3.0]]], "biases": [[0.0, 0.0]]}, "ragged"),
    ({"weights": [[[1.0, 2.0]], [[1.0, 2.0]]], "biases": [[0.0], [0.0]]}, "takes 2 inputs but layer 0 gives 1"),
    ({"weights": [[[float("nan"), 2.0]]], "biases": [[0.0]]}, "NaN"),
    ({"weights": [[[1e6, 2.0]]], "biases": [[0.0]]}, "magnitude >= 2\\^15"),
])
def test_malformed_models_fail_before_anything_is_sent(bad: dict[str, Any], words: str):
    with pytest.raises(InputError, match=words):
        mpcnet.simulate("mlp-predict", [bad, [[0.5, 0.5]]])


def test_a_model_checked_once_serves_sessions_with_the_same_format_and_is_checked_again_otherwise(monkeypatch):
    from protocols.mlp import protocol as mlp_protocol
    model = random_model(np.random.default_rng(2), [3, 4, 2])
    queries = [[0.5, -0.25, 0.75], [0.1, 0.2, -0.3]]
    ready = mlp_protocol.checked(model)
    calls = []
    real = mlp_protocol.check_model
    monkeypatch.setattr(mlp_protocol, "check_model", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    for n in (2, 3):
        got = mpcnet.simulate("mlp-predict", [ready, queries] + [None] * (n - 2)).outputs[1]
        assert got == expected(model, queries)[0].tolist()
    assert calls == []  # the proof ran once, in checked(), not per session
    # Another format: the raw model is checked again, against that format.
    wide = mlp_protocol.checked({"weights": [[[3.0, 0.0]]], "biases": [[0.0]]})
    calls.clear()
    with pytest.raises(InputError, match="magnitude >= 2\\^1 "):
        mpcnet.simulate("mlp-predict", [wide, [[0.1, 0.2]]], params={"range_bits": 1})
    assert calls == [1]
    with pytest.raises(InputError, match="takes a model or a list of queries"):
        mlp_protocol.checked(None)


def test_queries_of_the_wrong_length_fail_at_the_client_before_its_query_is_sent():
    model = random_model(np.random.default_rng(1), [3, 2])
    with pytest.raises(mpcnet.MPCError, match="each query must have 3 features"):
        simulate_within("mlp-predict", [model, [[0.1, 0.2]]], deadline=30)
    with pytest.raises(InputError, match="outside"):
        mpcnet.simulate("mlp-predict", [model, [[0.1, 0.2, 3.0]]])


def test_roles_are_checked():
    model = random_model(np.random.default_rng(1), [2, 2])
    with pytest.raises(mpcnet.MPCError, match="is the server"):
        simulate_within("mlp-predict", [[[0.1, 0.2]], [[0.1, 0.2]]], deadline=30)
    with pytest.raises(mpcnet.MPCError, match="gives null"):
        simulate_within("mlp-predict", [model, [[0.1, 0.2]], [[0.1, 0.2]]], deadline=30)


# --- views ------------------------------------------------------------------------------

RUNS = 24
ALPHA = 1e-6


@pytest.mark.parametrize("n", [2, 3])
def test_the_server_view_does_not_depend_on_the_query(n: int):
    model = random_model(np.random.default_rng(3), [4, 3, 2])
    secrets = ([[0.0, 0.0, 0.0, 0.0]], [[1.0, -1.0, 0.73, -0.25]])
    views = []
    for i, q in enumerate(secrets):
        seeds = range(i * RUNS, (i + 1) * RUNS)
        views.append(collect_views("mlp-predict", [model, q] + [None] * (n - 2), {}, [0], seeds)[0])
    assert views[0][0] == views[1][0]
    # (at three parties the server deals the comparisons and receives little: the query's shares and three
    # reshares, 13 words here)
    assert views[0][1].shape[1] > (1000 if n == 2 else 800)
    assert different_bits(views[0][1], views[1][1], ALPHA).size == 0


@pytest.mark.parametrize("n", [2, 3])
def test_the_client_view_does_not_depend_on_the_weights_beyond_the_output(n: int):
    """Two models that give the client's query the same class: the client's
    view has the same law under both."""
    first = {"weights": [[[1.0, 0.5], [-0.5, 0.25]], [[1.0, 0.0], [0.0, 1.0]]], "biases": [[0.0, 0.0], [0.0, 0.0]]}
    second = {"weights": [[[0.3, -0.9], [0.1, 0.2]], [[2.0, -1.0], [0.5, 0.5]]], "biases": [[0.5, -0.5], [1, 0]]}
    query = [[0.5, 0.5]]
    assert expected(first, query)[0].tolist() == expected(second, query)[0].tolist()
    views = []
    for i, model in enumerate((first, second)):
        seeds = range(i * RUNS, (i + 1) * RUNS)
        views.append(collect_views("mlp-predict", [model, query] + [None] * (n - 2), {}, [1], seeds)[1])
    assert views[0][0] == views[1][0]
    assert different_bits(views[0][1], views[1][1], ALPHA).size == 0


def test_queries_times_neurons_are_bounded_at_every_party():
    """A wide model against many queries (each within its own bound) is
    refused after the sizes round, before any input is sent: the client
    says so, the server and a helper name the other side."""
    model = random_model(np.random.default_rng(1), [2, 50, 2])
    queries = [[0.1, 0.2]] * 10   # 10 x (2 + 50 + 2) = 540 values
    res = mpcnet.simulate("mlp-predict", [model, queries], params={"max_values": 540})
    assert res.outputs[1] is not None
    for n in (2, 3):
        with pytest.raises(mpcnet.MPCError, match="make 540 values, more than max_values = 539"):
            simulate_within("mlp-predict", [model, queries] + [None] * (n - 2), params={"max_values": 539},
                            deadline=30)


def test_a_format_too_wide_for_the_field_is_refused_before_any_round():
    model = random_model(np.random.default_rng(1), [2, 2])
    with pytest.raises(mpcnet.MPCError, match="must be <= 82 with three or more parties"):
        simulate_within("mlp-predict", [model, [[0.1, 0.2]], None], params={"frac": 21, "range_bits": 40},
                        deadline=30)


@pytest.mark.parametrize("n, engine, words", [(2, "replicated", "three compute parties"),
                                              (2, "shamir", "engine is twoparty"),
                                              (3, "twoparty", "two parties, both computing")])
def test_an_engine_the_group_cannot_run_is_refused_by_the_parameter_check(n: int, engine: str, words: str):
    model = random_model(np.random.default_rng(1), [2, 2])
    with pytest.raises(mpcnet.ConfigError, match=words):
        mpcnet.simulate("mlp-predict", [model, [[0.1, 0.2]]] + [None] * (n - 2), params={"engine": engine})
