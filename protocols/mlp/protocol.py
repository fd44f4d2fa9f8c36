"""``mlp-predict``: a client's queries against a server's private ReLU network.

Party 0 is the server: its input is the model (:mod:`protocols.mlp`: the
JSON object ``{"weights": [...], "biases": [...]}``). Party 1 is the client:
its input is a list of queries, each a list of floats. The client learns,
for each query, the index of the largest output (``output=class``) or the
output vector (``output=scores``); the server learns nothing. With more
than two parties the others only compute (their input is ``null``).

How, on the toolkit's fixed-point values (:class:`mpcnet.mpc.SecretFixed`,
``frac`` fractional bits):

1. One round of public sizes: the server announces the layer sizes, the
   client the number of queries (the client refuses queries of the wrong
   length here, before any of their bits is sent).
2. Input: with two parties none (each holds its own values, the engine's
   products take them as they are); with three (engine auto), one round of
   replicated input mod 2^64 (:mod:`mpcnet.mpc.fixedrep`; the field when
   ``2 frac + range_bits + 2 > 64``); with more, one round of Shamir input.
3. Per layer: ``y = h @ W + b``, an exact product at scale 2^(2f) (the
   engine's matrix product: correlated OTs with two parties, one reshare
   at three, one degree reduction with more), then ReLU and the truncation back to 2^f in one
   circuit (:meth:`~mpcnet.mpc.SecretFixed.relu`).
4. Output: the argmax of the last layer (or its truncated scores), opened
   to the client only.

The rounds do not depend on the number of queries. Precision: products and
sums are exact on the encoded values; each truncation is the engine's
(``docs/architecture.md``, "Fixed point"); the server's check
(:func:`protocols.mlp.check_model`) proves that no pre-activation can leave
``2^range_bits`` for any query within ``input_bound``.

Security: semi-honest. Two parties: private against either (no dealer: OT
extension). Three or more: honest majority, private against any t < n/2
colluding parties. Reveals: the layer sizes and the number of queries (to
every party), and the public format (``frac``, ``input_bound``,
``range_bits``); the classes (or scores) to the client only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from mpcnet import Context, InputError, Param, RemoteProtocolViolation, mpc, protocol
from mpcnet.mpc import fixed2p
from mpcnet.mpc.fixed import DEFAULT_FRAC, MAX_FRAC, SecretFixed, integer_bound

from . import check_model, check_queries, layer_sizes

OUTPUTS = ("class", "scores")
#: Defaults of the bounds every party applies to what the others announce.
MAX_WEIGHTS = 1_000_000
MAX_QUERIES = 100_000
MAX_LAYERS = 64
#: Default of max_values: queries times neurons (all layers, the input's too) every party accepts.
MAX_VALUES = 50_000_000
#: The widest format (2 frac + range_bits + 2) the field engine takes at three or more parties.
FIELD_BITS = 82


class Checked:
    """An ``mlp-predict`` input already checked (:func:`checked`, or the
    registry's input check), with the format it was checked against: the
    protocol uses it as it is when its parameters give the same format, and
    checks the raw input again otherwise."""

    def __init__(self, value: Any, fmt: tuple[Any, ...], raw: Any) -> None:
        self.value, self.fmt, self.raw = value, fmt, raw


def checked(value: Any, *, frac: int = DEFAULT_FRAC, input_bound: float = 1.0, range_bits: int = 15,
            max_weights: int = MAX_WEIGHTS, max_queries: int = MAX_QUERIES) -> Checked:
    """A model (the server's input) or a list of queries (the client's),
    checked once for sessions run with these parameters: a server that
    answers many sessions with one model checks it here, at start-up, and
    passes the result as its input (the proof that no pre-activation leaves
    ``2^range_bits``, :func:`protocols.mlp.check_model`, then runs once, not
    per session). InputError as the protocol's own check."""
    params = {"frac": frac, "input_bound": input_bound, "range_bits": range_bits, "max_weights": max_weights,
              "max_queries": max_queries}
    out = _validate(value, params, 2)
    if not isinstance(out, Checked):
        raise InputError("checked() takes a model or a list of queries")
    return out


def _format(params: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(params[k] for k in ("frac", "input_bound", "range_bits", "max_weights", "max_queries"))


def _validate(value: Any, params: Mapping[str, Any], n: int) -> Any:
    """A dict is a model (the server's), a list the queries (the client's):
    both checked in full here, before anything is sent."""
    if value is None:
        return None
    if isinstance(value, Checked):
        return value if value.fmt == _format(params) else _validate(value.raw, params, n)
    if isinstance(value, dict):
        return Checked(check_model(value, frac=params["frac"], input_bound=params["input_bound"],
                                    range_bits=params["range_bits"], max_weights=params["max_weights"]),
                       _format(params), value)
    if isinstance(value, list):
        return Checked(check_queries(value, input_bound=params["input_bound"], max_queries=params["max_queries"]),
                       _format(params), value)
    raise InputError("the server's input is a model object, the client's a list of queries, others' null")


def _check_format(frac: int, range_bits: int, n: int, engine: str = "auto") -> str | None:
    if n == 2 and 2 * frac + range_bits + 2 > 64:
        return "2 * frac + range_bits + 2 must be <= 64 with two parties (the ring has 64 bits)"
    if n == 3 and engine == "replicated" and 2 * frac + range_bits + 2 > 64:
        return "2 * frac + range_bits + 2 must be <= 64 with engine=replicated (the ring has 64 bits): use engine=shamir"
    if n >= 3 and 2 * frac + range_bits + 2 > FIELD_BITS:
        # (the field's masked openings need k + 40 bits below 2^127 - 1: fixedfield's limit at t <= 2)
        return f"2 * frac + range_bits + 2 must be <= {FIELD_BITS} with three or more parties"
    return None


@protocol(
    "mlp-predict",
    min_parties=2,
    security="semi-honest; n = 2: private against either party, no dealer (OT extension); n >= 3: honest "
             "majority, private against any t < n/2 colluding parties",
    reveals="the layer sizes and the number of queries, to every party; the classes (output=class) or the "
            "output scores (output=scores), to the client only; the server learns nothing else",
    input="party 0 (server): a model {\"weights\": [W1, ...], \"biases\": [b1, ...]}, Wi a list of rows (out x "
          "in); party 1 (client): a list of queries (lists of floats); others: null",
    output="the client: a list of classes (or of score lists); the others: null",
    params=(
        Param("output", str, "class", "class (the index of the largest output) or scores (the output vector)",
              choices=OUTPUTS),
        Param("frac", int, DEFAULT_FRAC, f"fractional bits of the fixed-point values (1..{MAX_FRAC})",
              check=lambda v, n: None if 1 <= v <= MAX_FRAC else f"must be 1..{MAX_FRAC}"),
        Param("input_bound", float, 1.0, "every query feature lies in [-input_bound, input_bound]",
              check=lambda v, n: None if math.isfinite(v) and 0 < v < 2 ** 30 else "must be in (0, 2^30)"),
        Param("range_bits", int, 15, "every weight, bias and pre-activation has magnitude < 2^range_bits "
              "(the server proves it for all queries before sending)",
              check=lambda v, n: None if 1 <= v <= 40 else "must be 1..40"),
        Param("max_weights", int, MAX_WEIGHTS, "the most weights and biases the others accept",
              check=lambda v, n: None if 1 <= v <= 100_000_000 else "must be 1..100000000"),
        Param("max_queries", int, MAX_QUERIES, "the most queries the others accept",
              check=lambda v, n: None if 1 <= v <= 10_000_000 else "must be 1..10000000"),
        Param("max_values", int, MAX_VALUES, "the most secret values (queries times the neurons of all layers, "
              "inputs included) the others accept: bounds every party's memory and work",
              check=lambda v, n: None if 1 <= v <= 10**10 else "must be 1..10^10"),
        Param("engine", str, "auto", "auto (two parties: the two-party engine; three: replicated; more: "
              "Shamir), shamir, replicated (exactly three) or twoparty (exactly two)", choices=mpc.ENGINES,
              check=mpc.engine_problem),
    ),
    validate_input=_validate,
)
async def mlp_predict(ctx: Context, value: Any, *, output: str, frac: int, input_bound: float, range_bits: int,
                      max_weights: int, max_queries: int, max_values: int, engine: str) -> Any:
    """Classify the client's queries with the server's private network."""
    return await predict(ctx, value, output=output, frac=frac, input_bound=input_bound, range_bits=range_bits,
                         max_weights=max_weights, max_queries=max_queries, max_values=max_values, engine=engine)


async def predict(ctx: Context, value: Any, *, output: str = "class", frac: int = DEFAULT_FRAC,
                  input_bound: float = 1.0, range_bits: int = 15, max_weights: int = MAX_WEIGHTS,
                  max_queries: int = MAX_QUERIES, max_values: int = MAX_VALUES, engine: str = "auto",
                  report: dict[str, Any] | None = None) -> Any:
    """The body of ``mlp-predict`` (its docstring), callable from another
    protocol; ``report``, if given, receives the two-party engine's
    offline/online figures (two parties only)."""
    server, client = ctx.parties[0], ctx.parties[1]
    problem = _check_format(frac, range_bits, ctx.n, engine)
    if problem:
        raise InputError(problem)
    fmt = (frac, input_bound, range_bits, max_weights, max_queries)
    checked = value.value if isinstance(value, Checked) and value.fmt == fmt else None
    raw = value.raw if isinstance(value, Checked) else value
    if ctx.me == server and not isinstance(checked if checked is not None else raw, (dict, tuple)):
        raise InputError(f"party {server} is the server: its input is the model")
    if ctx.me == client and not isinstance(checked if checked is not None else raw, (list, np.ndarray)):
        raise InputError(f"party {client} is the client: its input is a list of queries")
    if ctx.me not in (server, client) and value is not None:
        raise InputError(f"only {server} (the model) and {client} (the queries) give input; {ctx.me} gives null")
    model = queries = None
    if ctx.me == server:
        model = checked if checked is not None else check_model(
            raw, frac=frac, input_bound=input_bound, range_bits=range_bits, max_weights=max_weights)
    if ctx.me == client:
        queries = checked if checked is not None else check_queries(
            raw, input_bound=input_bound, max_queries=max_queries)

    if engine == "auto" and ctx.n == 3 and 2 * frac + range_bits + 2 > 64:
        engine = "shamir"  # (three parties take the replicated ring mod 2^64: a wider format needs the field)
    rt = mpc.Runtime(ctx, engine=engine)
    # Round 1: the public sizes (with two parties, also the tag of an OT
    # extension kept on this link by an earlier session: used if both hold it).
    mine: Any = layer_sizes(model) if model is not None else len(queries) if queries is not None else None
    if rt.two_party:
        mine = [mine, rt.two_party_engine.offer_kept()]
    outgoing = {p: mine for p in ctx.peers} if mine is not None else {}
    got = await ctx.exchange(outgoing, expect_from=[p for p in (server, client) if p != ctx.me])
    if rt.two_party:
        peer = ctx.peers[0]
        if not (isinstance(got[peer], list) and len(got[peer]) == 2 and isinstance(got[peer][1], bytes)
                and len(got[peer][1]) in (0, 16)):
            raise RemoteProtocolViolation("expected [sizes or count, tag] in the first round", peer=peer)
        rt.two_party_engine.accept_kept(mine[1], got[peer][1])
        got = {peer: got[peer][0]}
    sizes = layer_sizes(model) if model is not None else _sizes(got[server], max_weights, server)
    count = len(queries) if queries is not None else mpc.Expect.integer(1, max_queries).check(got[client], client)
    if queries is not None and queries.shape[1] != sizes[0]:
        raise InputError(f"each query must have {sizes[0]} features (the model's input size); these have "
                         f"{queries.shape[1]}")
    # Each bound alone is not enough: the work is queries x neurons (a one-input model a million wide
    # against a thousand queries is 10^9 values). Checked by every party before any input is sent;
    # the blame goes to the other announcer (a helper, who cannot tell, names the server and gives both).
    if count * sum(sizes) > max_values:
        what = (f"{count} queries through layers of {sum(sizes)} neurons in all make {count * sum(sizes)} values, "
                f"more than max_values = {max_values}")
        if ctx.me == client:
            raise InputError(f"{what}: send fewer queries at a time")
        raise RemoteProtocolViolation(what, peer=client if ctx.me == server else server)

    limit = 2.0 ** range_bits
    if rt.two_party:
        # Offline, before any input is used: the OT setup (unless kept) and every bit triple the
        # non-linear steps need, so the online rounds are those of mpcnet.mpc.fixed2p's table.
        k = integer_bound(limit, frac, 2).bit_length() + 1
        steps = [("relu_trunc", (count, size)) for size in sizes[1:-1]]
        steps.append(("argmax", (count, sizes[-1])) if output == "class" else ("trunc", (count, sizes[-1])))
        need = {"and_words": 0, "pair_words": 0}
        for op, shape in steps:
            for key, words in fixed2p.triples(op, shape, k, 0 if op == "argmax" else frac).items():
                need[key] += words
        await rt.two_party_engine.prepare(**need)
    # The model as one vector (each W transposed: in x out, so that h @ W), then split locally.
    shapes = [(sizes[i], sizes[i + 1]) for i in range(len(sizes) - 1)]
    offsets = np.cumsum([0] + [a * b + b for a, b in shapes])
    flat = None
    if model is not None:
        flat = np.concatenate([np.concatenate([w.T.reshape(-1), b]) for w, b in zip(*model, strict=True)])
    inputs = await rt.input_fixed({server: (int(offsets[-1]),), client: (count, sizes[0])},
                                  flat if model is not None else queries,
                                  bound={server: limit, client: input_bound}, frac=frac)
    params, h = inputs[server], inputs[client]
    y: SecretFixed | None = None
    for i, (a, b) in enumerate(shapes):
        start = int(offsets[i])
        w = params[start:start + a * b].reshape(a, b)
        bias = params[start + a * b:start + a * b + b]
        y = ((await h.matmul(w, bound=limit)) + bias).with_bound(limit)
        if i + 1 < len(shapes):
            h = await y.relu()
    assert y is not None
    result: Any
    if output == "class":
        index = await y.argmax()
        classes = await index.open(to=[client])
        result = None if classes is None else [int(c) for c in np.asarray(classes).reshape(-1)]
    else:
        scores = await (await y.trunc()).open(to=[client])
        result = None if scores is None else np.asarray(scores).reshape(count, sizes[-1]).tolist()
    if rt.two_party:
        rt.two_party_engine.keep()
        if report is not None:
            report.update(rt.two_party_engine.report())
    return result


def _sizes(got: Any, max_weights: int, server: str) -> list[int]:
    """The server's announced layer sizes, within the bounds this party accepts."""
    if not (isinstance(got, list) and 2 <= len(got) <= MAX_LAYERS + 1
            and all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= max_weights for v in got)):
        raise RemoteProtocolViolation("expected the layer sizes: a list of 2 or more positive integers", peer=server)
    total = sum(got[i] * got[i + 1] + got[i + 1] for i in range(len(got) - 1))
    if total > max_weights:
        raise RemoteProtocolViolation(f"announced a model of {total} weights, more than max_weights = "
                                      f"{max_weights}", peer=server)
    return got
