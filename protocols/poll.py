"""The article's coin-flip poll: randomized response, local differential privacy.

Every party is a respondent with a yes/no answer. Before anything leaves it,
the party randomizes its own answer (:func:`mpcnet.dp.randomized_response`):
with probability ``p_truth`` it keeps the true answer, otherwise it reports a
fair coin. The article's scheme ("flip a coin; on tails answer truthfully,
on heads flip again and answer heads=yes") is ``p_truth = 1/2``.

Protocol (one round): every party broadcasts its randomized bit; every party
counts the reported yes, ``N``, and outputs the unbiased estimate
``(N/n - (1-p)/2) / p`` of the true fraction of yes (``2N/n - 1/2`` for the
coin-flip poll) with a confidence interval (:func:`mpcnet.dp.rr_estimate`).

Privacy: local DP. A report is yes with probability (1+p)/2 when the answer
is yes and (1-p)/2 when it is no, so whatever anyone sees, each answer is
``epsilon = ln((1+p)/(1-p))``-DP (``ln 3`` for the coin-flip poll) against
everyone, including all other parties colluding: the guarantee rests on the
respondent's own coins, not on any honest majority or non-collusion. The
true answers never leave their owners; there is no cryptography to break.
Accuracy assumes honest respondents: a dishonest one can report any bit,
moving the estimate by at most ``1/(n p)``, but learns nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from mpcnet import Context, InputError, Param, RemoteProtocolViolation, dp, protocol


def _check_p_truth(raw: str, n: int) -> str | None:
    try:
        p = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        return "must be a fraction or decimal, such as '1/2' or '0.75'"
    if not 0 < p < 1:
        return "must satisfy 0 < p_truth < 1 (1 would report the truth: no privacy)"
    return None


def _check_confidence(value: float, n: int) -> str | None:
    return None if 0 < value < 1 else "must satisfy 0 < confidence < 1"


def _validate_answer(value: Any, params: Mapping[str, Any], n: int) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InputError("a poll answer must be a boolean or 0/1")


POLL_PARAMS = (
    Param("p_truth", str, "1/2", "probability of reporting the true answer (otherwise a fair coin), "
          "an exact fraction or decimal such as '1/2' or '0.75'", check=_check_p_truth),
    Param("confidence", float, 0.95, "confidence level of the reported interval", check=_check_confidence),
)


@protocol(
    "poll",
    min_parties=2,
    security="local differential privacy: each respondent randomizes its own answer before sending it, so each "
             "answer is epsilon-DP with epsilon = ln((1+p_truth)/(1-p_truth)) (ln 3 for p_truth=1/2) against any "
             "coalition, including all other parties; no honest majority or non-collusion assumed. The estimate "
             "is only as accurate as respondents are honest (a liar shifts it by at most 1/(n p_truth))",
    reveals="every respondent's randomized answer, to every party (never a true answer); hence the count of "
            "reported yes and the estimate",
    input="a boolean (or 0/1): this respondent's true answer",
    output='{"estimate": float, "ci": [low, high], "epsilon": float, "n": int, "yes_reported": int}, '
           "the same at every party",
    params=POLL_PARAMS,
    validate_input=_validate_answer,
)
async def poll(ctx: Context, value: bool, *, p_truth: str, confidence: float) -> dict[str, Any]:
    """Randomized-response poll (the article's coin-flip poll); 1 round."""
    p = Fraction(p_truth)
    # Randomize locally, first: only the randomized bit is ever sent.
    reported = dp.randomized_response(value, p, ctx.random)
    received = await ctx.broadcast(reported)
    for peer, bit in received.items():
        if not isinstance(bit, bool):
            raise RemoteProtocolViolation("a poll report must be a boolean", peer=peer)
    yes = int(reported) + sum(int(bit) for bit in received.values())
    estimate, (low, high) = dp.rr_estimate(yes, ctx.n, p, confidence)
    return {"estimate": estimate, "ci": [low, high], "epsilon": dp.rr_epsilon(p), "n": ctx.n, "yes_reported": yes}
