"""Order statistics and the mean of private integers, revealing only what is asked.

Written only on the public toolkit (:mod:`mpcnet.mpc`), as a third party
would. Each input party holds one signed integer; ``which`` picks any of
``min``, ``max``, ``median`` (the lower median: element ``(m-1)//2`` of the
m sorted inputs) and ``mean``, and every party learns exactly those.

How (m inputs, k bits, c compute parties):

1. Input (1 round): each input party deals its value's one-hot blocks, so
   comparisons between inputs need no bit decomposition (only ``mean``
   asked: the value alone).
2. Ranks (``1 + ceil(log2 ceil(k/4))`` rounds, 4 for 32 bits): one batched
   comparison ``[x_i > x_j]`` for every pair i < j. Ties go to the lower
   party index, so the ranks ``r_i = #{j : x_j < x_i, or x_j = x_i and
   j < i}`` are a permutation of 0..m-1: ``r_i`` adds ``[x_i > x_j]`` over
   the pairs where i is first and ``1 - [x_j > x_i]`` where it is second.
3. Selection (``ceil(log2(m-1))`` rounds): ``[r_i == v]`` for every rank v,
   from the powers of r_i (:meth:`mpcnet.mpc.SecretInt.onehot`); the value of
   rank v is ``sum_i [r_i == v] x_i``, a sum of products, kept at degree 2t.
4. Output (1 round): the selected values and the sum of the inputs are
   opened together, the degree-2t ones with masks the toolkit set aside in
   step 2, so the opened points reveal the values and nothing else.

So 7 rounds for 3 parties and 9 for 9 parties with 32-bit values (2 for
``mean`` alone), whatever the values; input-only parties take part in the
input and output rounds only.

Security: semi-honest; honest majority among the compute parties: private
against any t = floor((c-1)/2) colluding compute parties plus any number of
colluding input-only parties. Reveals: the requested statistics, to every
party; not the sorted order, not the ranks, not who holds which statistic
(the ranks and indicators stay shared; only the selected sums are opened).
The statistics themselves can say a lot: with 3 parties, min, max and
median together are all the inputs (though not who holds which).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from mpcnet import ConfigError, Context, InputError, Param, mpc, protocol
from mpcnet.mpc.roles import COMPUTE_PARTIES, check_role, role_links, split_roles

STATISTICS = ("min", "max", "median", "mean")


def _which(text: str) -> list[str]:
    """The requested statistics, in the order given (repeats dropped)."""
    names = [w.strip() for w in text.split(",")]
    unknown = [w for w in names if w not in STATISTICS]
    if not names or unknown:
        raise ConfigError(f"which must be a comma-separated subset of {', '.join(STATISTICS)}")
    return list(dict.fromkeys(names))


def _check_which(value: str, n: int) -> str | None:
    try:
        _which(value)
    except ConfigError as exc:
        return exc.message
    return None


def _validate(value: Any, params: Mapping[str, Any], n: int) -> Any:
    split_roles(n, params["compute_parties"], "stats", min_inputs=2)
    if value is None:
        return None
    lo, hi = mpc.int_bounds(params["bits"], signed=True)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise InputError(f"a stats input is an integer with {lo} <= x <= {hi}")
    return value


@protocol(
    "stats",
    min_parties=3,
    security="semi-honest; honest majority: private against any t = floor((c-1)/2) colluding compute parties "
             "plus any number of colluding input-only parties (Shamir over Z_(2^127-1)); when every party gives "
             "input (compute_parties=0, c = n), against any t parties in all",
    reveals="exactly the statistics named in 'which' (min, max, lower median, mean) of the inputs, to every "
            "party; not the sorted order, not who holds which value",
    input="an integer (signed, within 'bits'); null for a compute-only party",
    output='a JSON object with exactly the requested keys, e.g. {"median": 2982} ("mean" is a float)',
    params=(
        Param("which", str, "median", "comma-separated subset of min, max, median, mean", check=_check_which),
        Param("bits", int, 32, "bit length k of the signed inputs (1..64)",
              check=lambda v, n: None if 1 <= v <= 64 else "must be 1..64"),
        COMPUTE_PARTIES,
    ),
    validate_input=_validate,
    links=role_links,
)
async def stats(ctx: Context, value: Any, *, which: str, bits: int, compute_parties: int) -> dict[str, Any]:
    """The requested statistics of the input parties' integers."""
    wanted = _which(which)
    c, input_idx = split_roles(ctx.n, compute_parties, "stats", min_inputs=2)
    owners = [ctx.parties[i] for i in input_idx]
    check_role(ctx, value, owners, "input party")
    m = len(owners)
    rank_of = {"min": 0, "max": m - 1, "median": (m - 1) // 2}
    order_stats = [w for w in wanted if w in rank_of]
    # with order statistics every result is opened at degree 2t: one mask each
    rt = mpc.Runtime(ctx, compute=ctx.parties[:c], wide_opens=len(wanted) if order_stats else 0)
    shared = await rt.input_int({p: () for p in owners}, value, bits=bits, signed=True, onehot=bool(order_stats))
    x = mpc.stack([shared[p] for p in owners])  # (m,)
    results = []
    if order_stats:
        first, second = np.triu_indices(m, 1)  # every pair i < j
        greater = await x[first].gt(x[second])  # [x_i > x_j]
        # [x_j before x_i in the order] for every j != i: row i of `before`
        both = mpc.concatenate([greater, 1 - greater])
        before = both[_rank_terms(m, first, second)]  # (m, m-1), 0/1 each
        is_rank = await before.sum(axis=1).onehot()  # (m, m): [r_i == v]
        results += [is_rank[:, rank_of[w]].mul_wide(x).sum() for w in order_stats]
    if "mean" in wanted:
        results.append(x.sum())
    opened = await mpc.stack(results).reveal(shape=(len(results),))
    values = dict(zip(order_stats + (["mean"] if "mean" in wanted else []), opened, strict=True))
    return {w: int(values[w]) / m if w == "mean" else int(values[w]) for w in wanted}


def _rank_terms(m: int, first: np.ndarray[Any, Any], second: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Indices into ``[greater, 1 - greater]`` (pairs p: [x_first > x_second])
    of the m - 1 terms of each rank: for i first in pair p, ``greater[p]``;
    for i second, ``1 - greater[p]`` (x_first comes before x_i unless it is
    larger, ties going to the lower index)."""
    pairs = len(first)
    rows = [[p for p in range(pairs) if first[p] == i] + [pairs + p for p in range(pairs) if second[p] == i]
            for i in range(m)]
    return np.array(rows, dtype=np.intp).reshape(m, m - 1)
