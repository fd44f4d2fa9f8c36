"""Voting: tallies, threshold referenda and differentially private tallies.

Ballots are Shamir-shared in Z_(2^127-1) among the compute parties (roles as
in the auction: ``compute_parties=0`` means every voter also computes, n >= 3).
Every ballot is checked inside MPC before it counts:

* ``vote``: a ballot is a vector of K entries that must be one-hot. With a
  fresh secret random vector ``r`` the parties open
  ``c = sum_i r_i (v_i^2 - v_i) + r_K (sum_i v_i - 1)``: zero for a valid
  ballot; for an invalid one a uniform element, zero only with probability
  2^-127. So the check reveals validity and nothing else about the ballot,
  and only to the compute parties. Invalid ballots are excluded; every party
  learns how many there were, the compute parties also which voters cast
  them (a WARNING log line there, and in their output with
  ``details=true``). What an input-only voter sends and receives is
  constant in the number of voters (its shares, then the result).
* ``referendum``: each ballot is a bit (checked the same way); the parties add
  the valid ballots and open only ``[yes >= threshold]`` (default: at least
  half of the valid voters), via an arithmetic comparison (bit decomposition
  with 40-bit statistical masking). The counts are never opened: a unanimous
  result does not show how everyone voted.
* ``dp-vote``: the tally plus discrete Laplace noise of scale 2/epsilon per
  option, generated inside MPC (:mod:`mpcnet.mpc.laplace`): nobody ever sees the
  exact counts or the noise.

Security: semi-honest; private against any t = floor((c-1)/2) colluding
compute parties plus any number of colluding input-only voters (when every
party votes, c = n: any t parties in all).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from mpcnet import ConfigError, Context, InputError, Param, mpc, protocol
from mpcnet.dp import PrivacyBudget
from mpcnet.mpc.fields import P127
from mpcnet.mpc.laplace import MAX_SCALE, noise_delta
from mpcnet.mpc.roles import COMPUTE_PARTIES, check_role, parties_from, role_links, split_roles

log = logging.getLogger("protocols.vote")

Array = np.ndarray[Any, Any]
SECURITY = ("semi-honest; honest majority: private against any t = floor((c-1)/2) colluding compute parties "
            "plus any number of colluding input-only parties (Shamir over Z_(2^127-1)); when every party gives "
            "input (compute_parties=0, c = n), against any t parties in all")
#: The DP guarantee of the noise sampled inside MPC: K samples of scale s are
#: within total variation K (D + 1) 2^-64 of the exact discrete Laplace law,
#: D = digits_for(s) (the statement and its proof: mpcnet.mpc.laplace).
DP_DELTA = ("delta = (1 + e^epsilon) * K * (D + 1) * 2^-64 for K = {k} noise samples of D = "
            "mpcnet.mpc.laplace.digits_for({scale}) binary digits (D <= 120: below (1 + e^epsilon) * K * 2^-57; "
            "{fn} computes it exactly, for a PrivacyAccountant)")


def _positive_options(v: int, n: int) -> str | None:
    return None if 2 <= v <= 1000 else "must be between 2 and 1000"


def _positive_epsilon(v: float, n: int) -> str | None:
    return None if 0 < v <= 100 and math.isfinite(v) else "must be a number in (0, 100]"


def _vote_epsilon(v: float, n: int) -> str | None:
    if (bad := _positive_epsilon(v, n)) is not None:
        return bad
    return None if _vote_scale(v) <= MAX_SCALE else "must be at least 2^-113 (noise scale 2/epsilon at most 2^114)"


def _vote_scale(epsilon: float) -> Fraction:
    # Changing one ballot moves two counts by one each: L1 sensitivity 2.
    return Fraction(2) / Fraction(str(epsilon))


def _sum_scale(epsilon: float, lower: int, upper: int) -> Fraction:
    return Fraction(upper - lower) / Fraction(str(epsilon))


def dp_vote_privacy(epsilon: float, options: int) -> PrivacyBudget:
    """The (epsilon, delta) one ``dp-vote`` run spends, for
    :meth:`mpcnet.dp.PrivacyAccountant.charge`: delta counts all ``options``
    noise samples (:func:`mpcnet.mpc.laplace.noise_delta`)."""
    eps = Fraction(str(epsilon))
    return PrivacyBudget(eps, noise_delta(eps, _vote_scale(epsilon), options))


def dp_sum_privacy(epsilon: float, lower: int, upper: int) -> PrivacyBudget:
    """The (epsilon, delta) one ``dp-sum`` run with these clamping bounds
    spends (one noise sample of scale (upper - lower)/epsilon)."""
    eps = Fraction(str(epsilon))
    return PrivacyBudget(eps, noise_delta(eps, _sum_scale(epsilon, lower, upper), 1))


def _ballot(value: Any, options: int) -> list[int]:
    """An option index becomes a one-hot ballot; an explicit ballot (a list of
    K integers) is passed through so that the MPC check, not the client,
    decides whether it is valid."""
    if isinstance(value, bool) or not isinstance(value, (int, list)):
        raise InputError("a vote is an option index (or an explicit ballot: a list of one integer per option)")
    if isinstance(value, int):
        if not 0 <= value < options:
            raise InputError(f"option index must be between 0 and {options - 1}")
        return [1 if i == value else 0 for i in range(options)]
    if len(value) != options or not all(type(v) is int and 0 <= v < P127.p for v in value):
        raise InputError(f"an explicit ballot must be a list of {options} non-negative integers")
    return list(value)


def _validate_vote(value: Any, params: Mapping[str, Any], n: int) -> Any:
    split_roles(n, params["compute_parties"], "voting")
    return None if value is None else _ballot(value, params["options"])


def _validate_yes_no(value: Any, params: Mapping[str, Any], n: int) -> Any:
    split_roles(n, params["compute_parties"], "a referendum")
    if value is None:
        return None
    if isinstance(value, bool):
        return [int(value)]
    if isinstance(value, int) and value in (0, 1):
        return [value]
    if isinstance(value, list) and len(value) == 1 and type(value[0]) is int and 0 <= value[0] < P127.p:
        return list(value)  # an explicit ballot, checked inside MPC
    raise InputError("a referendum vote is true/false or 0/1")


async def _share_ballots(ctx: Context, value: Any, compute_parties: int, width: int,
                         one_hot: bool) -> tuple[mpc.Runtime, mpc.SecretInt, list[str]]:
    """Input round and the in-MPC validity check. Returns the runtime, the
    valid ballots (0/1 entries; absent outside the compute parties) and the
    voters whose ballot was invalid (known to the compute parties only).

    An input-only voter does a constant amount of work here, whatever the
    number of voters (no per-voter loop outside the compute parties)."""
    c, _ = split_roles(ctx.n, compute_parties, "voting")
    voters = parties_from(ctx, c) if compute_parties else ctx.parties  # (a view: no copy at each voter)
    check_role(ctx, value, voters, "voter")
    rt = mpc.Runtime(ctx, compute=ctx.parties[:c])
    ballots = await rt.input_stacked(voters, (width,), value)  # (m, K)
    if not rt.is_compute:
        return rt, ballots, []
    squares = await ballots.mul(ballots)
    residual = squares - ballots  # zero iff every entry is 0 or 1
    if one_hot:
        residual = mpc.concatenate([residual, (ballots.sum(axis=1) - 1)[:, None]], axis=1)
    r = await rt.random_int(residual.shape or ())
    mixed = (await r.mul(residual)).sum(axis=1)
    check = await mixed.open(to=rt.compute)
    assert check is not None  # (compute parties receive it)
    valid = np.asarray(check, dtype=object) == 0
    invalid = [v for v, ok in zip(voters, valid, strict=True) if not ok]
    if invalid:
        log.warning("session %s: invalid ballot(s) from %s excluded", ctx.session_id[:12], ", ".join(invalid))
    return rt, ballots[valid].with_range(0, 1), invalid


async def _publish(ctx: Context, rt: mpc.Runtime, result: mpc.SecretInt, length: int,
                   invalid: list[str] | None = None) -> tuple[Array, int]:
    """One round: open ``length`` result elements to every party, followed
    (for the ballot protocols, ``invalid`` not None) by one more element:
    the number of invalid ballots. Which voters cast them stays with the
    compute parties (who know it from the check), so what an input-only
    voter receives does not grow with the number of voters."""
    if invalid is not None:
        result = mpc.concatenate([result, rt.public_int(np.array([len(invalid)], dtype=object))])
    extra = 0 if invalid is None else 1
    values = await result.reveal(shape=(length + extra,))
    return values[:length], int(values[length]) if extra else 0


VOTE_PARAMS = (
    Param("options", int, 2, "number of options K", check=_positive_options),
    COMPUTE_PARTIES,
    Param("details", bool, False, 'output {"counts": [...], "rejected": R, "invalid": [voters]} instead of the '
          "counts (invalid: null at an input-only voter, which is told only how many were rejected)"),
)


@protocol(
    "vote",
    min_parties=3,
    security=SECURITY,
    reveals="the number of valid votes per option and the number of invalid ballots, to every party; which "
            "voters cast an invalid ballot, to the compute parties only (input-only voters learn the count, not "
            "who); no single vote",
    input="an option index 0..K-1 (or an explicit ballot, a list of K integers, checked to be one-hot inside MPC); "
          "null for a compute-only party",
    output="the list of K counts (with details=true: {\"counts\": [...], \"rejected\": R, \"invalid\": "
           "[...] or null at an input-only voter})",
    params=VOTE_PARAMS,
    validate_input=_validate_vote,
    links=role_links,
)
async def vote(ctx: Context, value: Any, *, options: int, compute_parties: int, details: bool) -> Any:
    """Tally of votes among K options; invalid ballots are rejected inside MPC."""
    rt, valid, invalid = await _share_ballots(ctx, value, compute_parties, options, one_hot=True)
    opened, rejected = await _publish(ctx, rt, valid.sum(axis=0), options, invalid)
    counts = [int(x) for x in opened]
    if not details:
        return counts
    return {"counts": counts, "rejected": rejected, "invalid": invalid if rt.is_compute else None}


@protocol(
    "referendum",
    min_parties=3,
    security=SECURITY,
    reveals='only the decision ("YES" if the yes-count is at least the threshold) and the number of invalid '
            "ballots, to every party; which voters cast an invalid ballot, to the compute parties only; not the "
            "counts",
    input="true/false or 1/0; null for a compute-only party",
    output='"YES" or "NO"',
    params=(
        Param("threshold", int, -1, "YES when the yes-count is at least this (default -1: at least half of the "
              "valid voters)", check=lambda v, n: None if v >= -1 else "must be -1 (half) or a count >= 0"),
        COMPUTE_PARTIES,
    ),
    validate_input=_validate_yes_no,
    links=role_links,
)
async def referendum(ctx: Context, value: Any, *, threshold: int, compute_parties: int) -> str:
    """Yes/no vote that reveals only whether the threshold was reached."""
    rt, valid, invalid = await _share_ballots(ctx, value, compute_parties, 1, one_hot=False)
    decision = rt.absent_int()
    if rt.is_compute:
        m = (valid.shape or (0,))[0]
        yes = valid.sum(axis=0)  # shape (1,), in [0, m]
        decision = await yes.ge((m + 1) // 2 if threshold < 0 else threshold)
    opened, _ = await _publish(ctx, rt, decision, 1, invalid)
    return "YES" if int(opened[0]) == 1 else "NO"


@protocol(
    "dp-vote",
    min_parties=3,
    security=SECURITY + "; the output is (epsilon, delta)-DP with respect to changing one valid ballot, "
             + DP_DELTA.format(k="options", scale="2/epsilon", fn="protocols.vote.dp_vote_privacy")
             + " (noise generated inside MPC)",
    reveals="noisy counts per option (discrete Laplace noise of scale 2/epsilon, never seen by anyone) and the "
            "exact number of invalid ballots (not noised), to every party; which voters cast an invalid ballot, "
            "to the compute parties only",
    input="an option index 0..K-1 (or an explicit ballot, a list of K integers, checked to be one-hot inside MPC); "
          "null for a compute-only party",
    output="the list of K noisy counts (integers, possibly negative)",
    params=(
        Param("options", int, 2, "number of options K", check=_positive_options),
        Param("epsilon", float, 1.0, "privacy parameter epsilon", check=_vote_epsilon),
        COMPUTE_PARTIES,
    ),
    validate_input=_validate_vote,
    links=role_links,
)
async def dp_vote(ctx: Context, value: Any, *, options: int, epsilon: float, compute_parties: int) -> list[int]:
    """Tally with differentially private noise added inside MPC."""
    rt, valid, invalid = await _share_ballots(ctx, value, compute_parties, options, one_hot=True)
    noise = await rt.discrete_laplace(_vote_scale(epsilon), options)
    opened, _ = await _publish(ctx, rt, valid.sum(axis=0) + noise, options, invalid)
    return [int(x) for x in opened]


def _clamp_check(params: Mapping[str, Any]) -> None:
    if params["lower"] is None or params["upper"] is None:
        raise ConfigError("dp-sum needs --param lower=L and --param upper=U (the clamping bounds)")
    if params["lower"] >= params["upper"]:
        raise ConfigError("dp-sum needs lower < upper")
    if max(abs(params["lower"]), abs(params["upper"])) >= 2**62:
        raise ConfigError("dp-sum bounds must be below 2^62 in absolute value")
    if _sum_scale(params["epsilon"], params["lower"], params["upper"]) > MAX_SCALE:
        raise ConfigError("dp-sum needs (upper - lower)/epsilon at most 2^114, the largest noise scale the in-MPC "
                          "sampler covers: raise epsilon or narrow the bounds")


def _validate_dp_sum(value: Any, params: Mapping[str, Any], n: int) -> Any:
    split_roles(n, params["compute_parties"], "dp-sum")
    _clamp_check(params)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError("a dp-sum input is an integer")
    # Clamping (not rejecting) is what bounds one party's influence: the
    # sensitivity is upper - lower whatever the party holds.
    return min(max(value, params["lower"]), params["upper"])


@protocol(
    "dp-sum",
    min_parties=3,
    security=SECURITY + "; the output is (epsilon, delta)-DP with respect to any one party's input, "
             + DP_DELTA.format(k="1", scale="(upper-lower)/epsilon", fn="protocols.vote.dp_sum_privacy")
             + " (noise generated inside MPC, unknown to every coalition of up to t compute parties)",
    reveals="the sum of the clamped inputs plus discrete Laplace noise of scale (upper-lower)/epsilon, the same "
            "value to every party; nobody sees the exact sum or the noise",
    input="an integer (clamped to [lower, upper]); null for a compute-only party",
    output="the noisy sum (an integer)",
    params=(
        Param("epsilon", float, 1.0, "privacy parameter epsilon", check=_positive_epsilon),
        Param("lower", int, None, "lower clamping bound L (required)"),
        Param("upper", int, None, "upper clamping bound U (required)"),
        COMPUTE_PARTIES,
    ),
    validate_input=_validate_dp_sum,
    links=role_links,
)
async def dp_sum(ctx: Context, value: Any, *, epsilon: float, lower: int, upper: int, compute_parties: int) -> int:
    """Sum with differentially private noise added inside MPC."""
    c, input_idx = split_roles(ctx.n, compute_parties, "dp-sum")
    contributors = [ctx.parties[i] for i in input_idx]
    check_role(ctx, value, contributors, "contributor")
    rt = mpc.Runtime(ctx, compute=ctx.parties[:c])
    shared = await rt.input_int({p: (1,) for p in contributors}, None if value is None else [value],
                                bits=64, signed=True)
    total = mpc.stack([shared[p] for p in contributors]).sum(axis=0)
    noise = await rt.discrete_laplace(_sum_scale(epsilon, lower, upper), 1)
    opened, _ = await _publish(ctx, rt, total + noise, 1)
    return int(opened[0])
