"""Prio3 verification and aggregation by two aggregators (draft-irtf-cfrg-vdaf-20 §7.2, §5.2).

Each aggregator's input is its shares of every report of a batch (an
:class:`mpcnet.aggregate.simulation.AggregatorInput`). Three rounds, whatever the number of reports:

1. the helper sends the leader its verifier shares (and joint randomness parts) of every report;
2. the leader combines them with its own into the verifier message (an accept bit and the joint
   randomness seed per report) and sends it to the helper; each aggregator then runs
   ``verify_next`` and keeps the output shares of the reports both accept;
3. the aggregators exchange their aggregate shares, and both unshard the aggregate.

Security: Prio3's (draft §9): private against one of the two aggregators if the other is honest;
robust (an invalid measurement is rejected, except with the FLP's soundness error) if both are
honest. The aggregators see which reports were rejected.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mpcnet import Context, InputError, RemoteProtocolViolation, protocol
from mpcnet.aggregate import BatchPrio3
from mpcnet.aggregate.batch import BatchVerifierShare, decode_batch, encode_batch
from mpcnet.aggregate.simulation import CONTEXT, AggregatorInput

ROUNDS = 3


def _validate(value: Any, params: Any, n: int) -> AggregatorInput:
    if not isinstance(value, AggregatorInput):
        raise InputError("input must be an mpcnet.aggregate.simulation.AggregatorInput")
    return value


def _received(value: Any, shape: tuple[int, ...], what: str, peer: str) -> np.ndarray[Any, Any]:
    if not (isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.shape == shape):
        raise RemoteProtocolViolation(f"{what} is not a {shape} uint8 array", peer=peer)
    return value


@protocol(
    "prio3-aggregate",
    min_parties=2,
    max_parties=2,
    security="Prio3 (draft-irtf-cfrg-vdaf-20): private against either aggregator alone; robust if both are honest",
    reveals="the aggregate of the accepted reports and which reports were rejected, to both aggregators",
    input="an AggregatorInput: the task, the verify key, the nonces and this aggregator's shares of every report",
    output="{'aggregate': the unsharded aggregate, 'accepted': one bool per report}",
    validate_input=_validate,
)
async def prio3_aggregate(ctx: Context, value: AggregatorInput) -> Any:
    """Verify and aggregate a batch of Prio3 reports, leader (party 0) and helper (party 1); 3 rounds."""
    if value.agg_id != ctx.index:
        raise InputError(f"party {ctx.index} was given aggregator {value.agg_id}'s input (leader first, then helper)")
    batch = BatchPrio3(value.config.vdaf())
    field, size = batch.field, batch.field.ENCODED_SIZE
    rows, peer = value.nonces.shape[0], ctx.peers[0]
    joint = batch.vdaf.uses_joint_rand
    state, mine = batch.verify_init(value.verify_key, CONTEXT, value.agg_id, value.nonces, value.shares)
    n_ver = mine.verifiers.shape[0]
    if value.agg_id == 1:
        parts = mine.parts if mine.parts is not None else np.zeros((rows, 0), np.uint8)
        await ctx.send(peer, [encode_batch(field, mine.verifiers), parts])
        accept, seeds = await ctx.receive(peer)
        accept = _received(accept, (rows,), "the verifier message", peer).astype(bool)
        seeds = _received(seeds, (rows, 32 if joint else 0), "the joint randomness seeds", peer)
    else:
        raw, parts = await ctx.receive(peer)
        verifiers, bad = decode_batch(field, _received(raw, (rows, n_ver * size), "the verifier shares", peer), n_ver)
        if bad.any():
            raise RemoteProtocolViolation("the verifier shares hold a value outside the field", peer=peer)
        theirs = BatchVerifierShare(verifiers, _received(parts, (rows, 32), "the joint randomness parts", peer)
                                    if joint else None)
        accept, seeds = batch.verifier_shares_to_message(CONTEXT, [mine, theirs])
        seeds = seeds if seeds is not None else np.zeros((rows, 0), np.uint8)
        await ctx.send(peer, [accept.astype(np.uint8), seeds])
    ok = batch.verify_next(state, accept, seeds if joint else None)
    share = np.array(batch.aggregate(state, ok), dtype=object).reshape(-1, 1)
    other = (await ctx.exchange({peer: encode_batch(field, share)}))[peer]
    theirs_agg, bad_agg = decode_batch(field, _received(other, (1, share.shape[0] * size), "the aggregate share", peer),
                                       share.shape[0])
    if bad_agg.any():
        raise RemoteProtocolViolation("the aggregate share holds a value outside the field", peer=peer)
    shares = [[int(x) for x in share[:, 0]], [int(x) for x in theirs_agg[:, 0]]]
    aggregate = batch.vdaf.unshard(shares if value.agg_id == 0 else shares[::-1], int(ok.sum()))
    return {"aggregate": aggregate, "accepted": [bool(x) for x in ok]}
