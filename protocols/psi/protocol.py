"""Private set intersection: ``psi`` and ``psi-cardinality``, 2 or more parties.

Diffie-Hellman (commutative blinding) PSI over Curve25519 (Meadows 1986;
Huberman, Franklin and Hogg 1999), in the shape OpenMined PSI deploys: the
sender's set travels as a compact Elias-Fano set of truncated digests. Curve
work is in :mod:`protocols.psi.curve`, the set encoding in
:mod:`protocols.psi.compact`, the spreading over cores in :mod:`protocols.psi.work`;
the design and the security argument are in docs/psi.md.

Two parties (receiver R with set X, sender S with set Y; 2 rounds, 3 with
``reveal=both``):

1. R draws a clamped key ``a`` whose inverse mod the group order is also a
   clamped scalar, sends ``A = [a H(x) for x in X]`` (in its own order).
2. S, with key ``b``, returns ``b A`` (same order; shuffled for
   ``psi-cardinality``) and the compact set of digests of ``b H(y)``.
   R unblinds ``a^-1 b a H(x) = b H(x)``, digests, and looks each up.
3. (``reveal=both``) R sends S the positions of the matched set elements
   (for cardinality: the count).

n >= 3 parties (a ring, n + 1 rounds, n + 2 with ``reveal=all``): every party
shuffles its set and blinds it with its key; the sets travel n - 1 hops round
the ring, each hop blinding (and, except for the receiver's set, shuffling)
them. The receiver's ring predecessor (the combiner) collects all n fully
blinded sets, finds the positions of the receiver's set present in every
other one and sends those positions to the receiver (or, for cardinality,
the count); with ``reveal=all`` the receiver then sends the intersection to
everyone.

Reveals: set sizes to every party; the output to those who learn it. For
n >= 3 the ring leaks more: the combiner (and some coalitions) learn the sizes
of intersections of subsets of the sets, and coalitions that include the
receiver can learn which of the receiver's items are in such intersections
(docs/psi.md spells out who learns what). Security: semi-honest, DDH on
Curve25519, with items hashed to the group by RFC 9380's
edwards25519_XMD:SHA-512_ELL2_RO_ (modelled as a random oracle).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np

from mpcnet import ConfigError, Context, InputError, Param, RemoteProtocolViolation, protocol

from . import compact, curve, work

__all__ = ["MAX_ITEMS", "psi", "psi_cardinality", "sort_items"]

#: At most this many items per party: a (k, 32) point array must stay under
#: the 256 MiB message cap.
MAX_ITEMS = 8_000_000

Item = str | bytes
Points = np.ndarray[Any, np.dtype[np.uint8]]


def sort_items(items: Sequence[Item]) -> list[Item]:
    """The output order: strings (by code point), then bytes."""
    return sorted(items, key=lambda x: (isinstance(x, bytes), x))


def _validate(value: Any, params: Mapping[str, Any], n: int) -> list[Item]:
    if params["receiver"] >= n:
        raise ConfigError(f"parameter receiver: must be a party index below {n}")
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple, set, frozenset)):
        raise InputError("input must be a list of items (strings or bytes)")
    if not all(isinstance(x, (str, bytes)) for x in value):
        raise InputError("every item must be a string or bytes")
    items = list(dict.fromkeys(value))  # duplicates count once; first occurrence kept
    if len(items) > MAX_ITEMS:
        raise InputError(f"at most {MAX_ITEMS} distinct items per party")
    return items


PARAMS = (
    Param("reveal", str, "receiver", "who learns the output: the receiver only, or every party ('both' and 'all' "
          "are the same)", choices=("receiver", "both", "all")),
    Param("receiver", int, 0, "the index of the party that learns the output",
          check=lambda v, n: None if 0 <= v < n else f"must be a party index 0..{n - 1}"),
    Param("fp_bits", int, 30, "false-positive bound: an item outside the intersection is reported with "
          "probability at most 2^-fp_bits per run (2 parties; 30: below 1e-9)",
          check=lambda v, n: None if 16 <= v <= 32 else "must be 16..32"),
)
SECURITY = ("semi-honest; DDH on Curve25519, items hashed to the group by RFC 9380's edwards25519_XMD:SHA-512_ELL2_RO_ "
            "(a random oracle in the proof). 2 parties: either party learns only the set sizes and the output. "
            "n >= 3: the combiner and coalitions learn sizes of intersections of subsets of the sets, and "
            "coalitions with the receiver which of its items lie in them (docs/psi.md)")
INPUT = "a list of items (strings or bytes; duplicates count once; a str never equals a bytes item)"


@protocol(
    "psi",
    min_parties=2,
    security=SECURITY,
    reveals="the intersection of all sets to the receiver (to every party with reveal=all/both); every set's "
            "size to every party; n >= 3: intersection sizes of subsets of the sets to the receiver's ring "
            "predecessor (the combiner), more to coalitions (docs/psi.md)",
    input=INPUT,
    output="the sorted intersection (strings first, then bytes) for parties that learn it, else null",
    params=PARAMS,
    validate_input=_validate,
)
async def psi(ctx: Context, value: list[Item], *, reveal: str, receiver: int, fp_bits: int) -> list[Item] | None:
    """Private set intersection: the common items of every party's set."""
    result: list[Item] | None
    if ctx.n == 2:
        result = await _two_party(ctx, value, reveal != "receiver", receiver, fp_bits, cardinality=False)
    else:
        result = await _ring(ctx, value, reveal != "receiver", receiver, cardinality=False)
    return result


@protocol(
    "psi-cardinality",
    min_parties=2,
    security=SECURITY,
    reveals="the size of the intersection to the receiver (to every party with reveal=all/both); every set's "
            "size to every party; n >= 3: intersection sizes of subsets of the sets to the receiver's ring "
            "predecessor (the combiner), more to coalitions (docs/psi.md)",
    input=INPUT,
    output="the size of the intersection (an int) for parties that learn it, else null",
    params=PARAMS,
    validate_input=_validate,
)
async def psi_cardinality(ctx: Context, value: list[Item], *, reveal: str, receiver: int,
                          fp_bits: int) -> int | None:
    """How many items every party's set has in common, and nothing else."""
    count: int | None
    if ctx.n == 2:
        count = await _two_party(ctx, value, reveal != "receiver", receiver, fp_bits, cardinality=True)
    else:
        count = await _ring(ctx, value, reveal != "receiver", receiver, cardinality=True)
    return count


def _check_points(value: Any, peer: str, what: str, rows: int | None = None) -> Points:
    ok = (isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim == 2 and value.shape[1] == 32
          and value.shape[0] <= MAX_ITEMS and (rows is None or value.shape[0] == rows))
    if not ok:
        size = "" if rows is None else f"{rows} "
        raise RemoteProtocolViolation(f"{what} is not a ({size}x 32) uint8 point array", peer=peer)
    return cast(Points, value)


def _check_size(value: Any, peer: str, what: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_ITEMS:
        raise RemoteProtocolViolation(f"{what} is not a set size", peer=peer)
    return value


async def _blind_points(ctx: Context, stage: str, points: Points, key: bytes, peer: str, width: int = 32) -> Points:
    func = curve.blind if width == 32 else curve.blind_digest
    try:
        return await work.over_points(ctx, stage, func, points, key, width)
    except curve.SmallOrderPoint as exc:
        raise RemoteProtocolViolation(f"sent a point of small order (position {exc.index})", peer=peer) from None


def _permutation(ctx: Context, k: int) -> np.ndarray[Any, np.dtype[np.int64]]:
    """A uniformly random permutation of range(k) from the party's randomness
    (sorting 64-bit random keys; ties have probability below k^2 / 2^65)."""
    return np.argsort(ctx.random.uint64(k), kind="stable") if k else np.zeros(0, dtype=np.int64)


def _key(ctx: Context) -> bytes:
    return curve.clamp(ctx.random.bytes(32)).to_bytes(32, "little")


async def _two_party(ctx: Context, items: list[Item], reveal_all: bool, receiver: int, fp_bits: int, *,
                     cardinality: bool) -> Any:
    r_name, s_name = ctx.parties[receiver], ctx.parties[1 - receiver]
    encoded = [curve.encode_item(x) for x in items]
    if ctx.me == r_name:
        return await _receiver(ctx, s_name, items, encoded, reveal_all, fp_bits, cardinality)
    return await _sender(ctx, r_name, items, encoded, reveal_all, fp_bits, cardinality)


async def _receiver(ctx: Context, sender: str, items: list[Item], encoded: list[bytes], reveal_all: bool,
                    fp_bits: int, cardinality: bool) -> Any:
    key, unkey = curve.scalar_pair(ctx.random.bytes)
    request = await work.over_items(ctx, "hashing and blinding", curve.hash_blind, encoded, key, 32)
    await ctx.send(sender, request)  # round 1
    reply = await ctx.receive(sender)  # round 2
    if not isinstance(reply, dict) or set(reply) != {"n", "blinded", "set"}:
        raise RemoteProtocolViolation("the reply is not {'n', 'blinded', 'set'}", peer=sender)
    layout = compact.SetLayout(len(items), _check_size(reply["n"], sender, "the set size"), fp_bits)
    blinded = _check_points(reply["blinded"], sender, "the blinded request", rows=len(items))
    try:
        set_bucket, set_low = compact.decode(reply["set"], layout)
    except compact.CompactSetError as exc:
        raise RemoteProtocolViolation(str(exc), peer=sender) from None
    # [a^-1][b][a]H(x) = [b]H(x), digested: comparable with the sender's set.
    digests = await _blind_points(ctx, "unblinding", blinded, unkey, sender, width=curve.DIGEST_BYTES)
    try:
        found = compact.lookup(set_bucket, set_low, *compact.values_from_digests(digests, layout))
    except compact.CompactSetError as exc:
        raise RemoteProtocolViolation(str(exc), peer=sender) from None
    matched = found >= 0
    if cardinality:
        count = int(matched.sum())
        if reveal_all:
            await ctx.send(sender, count)  # round 3
        return count
    if reveal_all:  # which of the sender's (sorted) set elements matched
        await ctx.send(sender, np.unique(found[matched]).astype(np.uint64))  # round 3
    return sort_items([items[i] for i in np.flatnonzero(matched)])


async def _sender(ctx: Context, receiver: str, items: list[Item], encoded: list[bytes], reveal_all: bool,
                  fp_bits: int, cardinality: bool) -> Any:
    key = _key(ctx)
    own = await work.over_items(ctx, "hashing and blinding", curve.hash_blind_digest, encoded, key,
                                    curve.DIGEST_BYTES)
    request = _check_points(await ctx.receive(receiver), receiver, "the request")  # round 1
    blinded = await _blind_points(ctx, "blinding the request", request, key, receiver)
    if cardinality:  # positions would tell the receiver which of its items matched
        blinded = blinded[_permutation(ctx, len(blinded))]
    layout = compact.SetLayout(len(request), len(items), fp_bits)
    compact_set, order = compact.encode(*compact.values_from_digests(own, layout), layout)
    await ctx.send(receiver, {"n": len(items), "blinded": blinded, "set": compact_set})  # round 2
    if not reveal_all:
        return None
    got = await ctx.receive(receiver)  # round 3
    if cardinality:
        if type(got) is not int or not 0 <= got <= min(len(items), len(request)):
            raise RemoteProtocolViolation("the reported intersection size is out of range", peer=receiver)
        return got
    ok = (isinstance(got, np.ndarray) and got.dtype == np.uint64 and got.ndim == 1
          and (len(got) == 0 or (int(got.max()) < len(items) and bool(np.all(np.diff(got.astype(np.int64)) > 0)))))
    if not ok:
        raise RemoteProtocolViolation("the matched positions are not distinct positions of the set", peer=receiver)
    return sort_items([items[i] for i in order[got.astype(np.int64)]])


async def _ring(ctx: Context, items: list[Item], reveal_all: bool, receiver: int, *, cardinality: bool) -> Any:
    n, me = ctx.n, ctx.index
    nxt, prv = ctx.parties[(me + 1) % n], ctx.parties[(me - 1) % n]
    receiver_name = ctx.parties[receiver]
    combiner = ctx.parties[(receiver - 1) % n]  # ends the ring holding the receiver's set
    key = _key(ctx)
    perm = _permutation(ctx, len(items))  # positions of every set leak nothing
    encoded = [curve.encode_item(items[i]) for i in perm]
    held = await work.over_items(ctx, "hashing and blinding", curve.hash_blind, encoded, key, 32)
    # Round 1 also tells every other party this set's size (public anyway), so
    # every later set a party receives has a known number of rows: a party
    # cannot make the others blind more points than the sets hold.
    first = {p: len(items) for p in ctx.peers} | {nxt: held}
    got = await ctx.exchange(first)
    sizes = {p: _check_size(v, p, "the declared set size") for p, v in got.items() if p != prv}
    sizes[prv] = len(_check_points(got[prv], prv, "the set of ring hop 1"))
    sizes[ctx.me] = len(items)
    for hop in range(1, n):  # rounds 1 .. n-1: pass along the ring
        if hop > 1:
            got = await ctx.exchange({nxt: held}, expect_from=(prv,))
        origin = ctx.parties[(me - hop) % n]  # whose set this is
        points = _check_points(got[prv], prv, f"the set of ring hop {hop}", rows=sizes[origin])
        held = await _blind_points(ctx, f"blinding (hop {hop} of {n - 1})", points, key, prv)
        if cardinality or (me - hop) % n != receiver:  # the receiver's set keeps its order
            held = held[_permutation(ctx, len(held))]
    # Round n: every fully blinded set to the combiner, who holds the receiver's.
    result: Any = None
    if ctx.me == combiner:
        others = await ctx.exchange({}, expect_from=[p for p in ctx.peers])
        # p holds, after n - 1 hops, the set of its ring successor
        mask = _present_in_all(held, [_check_points(v, p, "a fully blinded set",
                                                    rows=sizes[ctx.parties[(ctx.parties.index(p) + 1) % n]])
                                      for p, v in others.items()])
        if cardinality:
            count = int(mask.sum())
            if reveal_all:
                await ctx.exchange({p: count for p in ctx.peers}, expect_from=())  # round n+1
                result = count
            else:
                await ctx.send(receiver_name, count)  # round n+1
        else:
            await ctx.send(receiver_name, np.flatnonzero(mask).astype(np.uint64))  # round n+1
    else:
        await ctx.send(combiner, held)  # round n
        if ctx.me == receiver_name or (cardinality and reveal_all):
            got = await ctx.receive(combiner)  # round n+1
            if cardinality:
                if type(got) is not int or not 0 <= got <= len(items):
                    raise RemoteProtocolViolation("the reported intersection size is out of range", peer=combiner)
                result = got
            else:
                ok = (isinstance(got, np.ndarray) and got.dtype == np.uint64 and got.ndim == 1
                      and (len(got) == 0 or int(got.max()) < len(items)))
                if not ok:
                    raise RemoteProtocolViolation("the matched positions are not positions of the set", peer=combiner)
                result = sort_items([items[i] for i in perm[np.unique(got).astype(np.int64)]])
        else:
            await ctx.exchange({}, expect_from=())  # round n+1: sit out
    if cardinality or not reveal_all:
        return result
    if ctx.me == receiver_name:  # round n+2: the intersection to everyone
        await ctx.exchange({p: list(result) for p in ctx.peers}, expect_from=())
        return result
    got = await ctx.receive(receiver_name)
    own = set(items)
    if not (isinstance(got, list) and all(isinstance(x, (str, bytes)) and x in own for x in got)):
        raise RemoteProtocolViolation("the announced intersection holds items outside this party's set", peer=receiver_name)
    return sort_items(got)


def _present_in_all(target: Points, others: Sequence[Points]) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which rows of ``target`` occur in every array of ``others``: a 64-bit
    prefix filter (numpy), then exact 32-byte comparison of the candidates."""
    mask = np.ones(len(target), dtype=bool)
    prefix = target[:, :8].copy().view("<u8").ravel() if len(target) else np.zeros(0, dtype=np.uint64)
    for other in others:
        other_prefix = other[:, :8].copy().view("<u8").ravel() if len(other) else np.zeros(0, dtype=np.uint64)
        mask &= np.isin(prefix, other_prefix)
        candidates = np.flatnonzero(mask)
        if len(candidates) == 0:
            break
        near = other[np.isin(other_prefix, prefix[candidates])]
        exact = {row.tobytes() for row in near}
        for i in candidates:
            if target[i].tobytes() not in exact:
                mask[i] = False
    return mask
