"""Secure comparison of two parties' private integers (batched).

Parties 0 and 1 each supply an integer or an equal-length list of integers;
the others supply ``null`` and only help compute. Every party learns the
element-wise result of ``x OP y`` and nothing else.

How: on the toolkit (:mod:`mpcnet.mpc`), the two inputs are secret bits
among all parties, compared by their methods: the input round, the
comparison's rounds (stated there), the output round, whatever the number of
elements (8 in all for a 32-bit ``<``, 7 for ``==``, on either engine). The
engine is the toolkit's choice (parameter ``engine``, default ``auto``,
:func:`mpcnet.mpc.runtime.choose_engine`): with exactly three parties the
three-party replicated engine (:class:`~mpcnet.mpc.SlicedBits`, Araki et al.:
about 19 bytes per 32-bit comparison per party at large batches, 64
comparisons per machine word), otherwise Shamir over GF(2^8)
(:class:`~mpcnet.mpc.SecretBits`, threshold t = (n-1)//2). The results are
the same. (A batch of a few values costs more bytes on the replicated
engine: every bit plane is at least one 8-byte word.)

With exactly two parties there is no helper: the two-party engine
(:mod:`mpcnet.mpc.twoparty`, OT-made correlations, no dealer) runs the
millionaires protocol of CrypTFlow2 (1-out-of-16 OTs on 4-bit blocks, then a
prefix tree of AND gates on Beaver triples). One round agrees on the
operands' lengths, an offline phase (base OTs, then one round of random OTs
for the leaves and triples) needs no input, and the online phase takes
``2 + ceil(log2 ceil(k/4))`` rounds plus the output round (6 for 32 bits).
The OT extension is kept for the next two-party session on the same link
(:meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.keep`), which then skips the
base OTs and sends its offline OTs and the millionaires protocol's first
message with the lengths in the first round
(:meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.offer_kept_with_ots`,
:meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.millionaires_first`): after the
first, a comparison costs 6 rounds and no public-key operation.
``twoparty-setup`` (``open_party(..., prepare=("twoparty-setup",))``)
makes that first session an input-free set-up when the connection comes up.

Security: semi-honest; private against any t < n/2 colluding parties (three
parties, either engine: against any one); with two parties, against either
one of them (assuming the OT extension's
hash and base OTs are secure: ``docs/security.md``, "Two parties").
Reveals: the comparison results (and the number of elements), to every party.
Every received array's shape follows from the parameters (``bits``,
``max_length``) and the operands' common length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpcnet import Context, InputError, Param, RemoteProtocolViolation, mpc, protocol
from mpcnet.mpc import twoparty
from mpcnet.mpc.bitslice import words_for
from mpcnet.mpc.inputs import check_int_or_list

OPS = ("lt", "le", "gt", "ge", "eq", "ne")
#: Default bound on an operand list's length (the max_length parameter).
MAX_LENGTH = 1 << 20


def _validate(value: Any, params: Mapping[str, Any], n: int) -> Any:
    if value is None:
        return None
    return check_int_or_list(value, params["bits"], params["signed"], max_len=params["max_length"])


def _check_operand(operand: mpc.SecretBits | mpc.SlicedBits, bits: int, max_length: int, peer: str) -> None:
    """An operand must be one value or a list of ``1 <= k <= max_length``:
    checked per sender, before any work."""
    shape = operand.shape
    if shape is not None and not (shape == () or (len(shape) == 1 and 1 <= shape[0] <= max_length)):
        raise RemoteProtocolViolation(f"sent operand shares of element shape {shape} ({bits}-bit values): expected "
                                      f"one value or a list of k <= max_length = {max_length}", peer=peer)


@protocol(
    "compare",
    min_parties=2,
    security="semi-honest; n >= 3: honest majority, private against any t < n/2 colluding parties (Shamir over "
             "GF(2^8); with three parties, by default, replicated sharing: against any one); n = 2: private "
             "against either party, no dealer (OT extension, millionaires protocol)",
    reveals="the element-wise result of x OP y (and the number of elements), to every party",
    input="party 0: x, party 1: y (an integer or equal-length lists of integers within 'bits'); others: null",
    output="a boolean, or a list of booleans",
    params=(
        Param("bits", int, 32, "bit length k of the values (1..64)",
              check=lambda v, n: None if 1 <= v <= 64 else "must be 1..64"),
        Param("signed", bool, False, "values are signed (two's complement range)"),
        Param("op", str, "lt", "comparison: lt, le, gt, ge, eq, ne", choices=OPS),
        Param("max_length", int, MAX_LENGTH, "the most elements an operand list may have: bounds what every "
              "party accepts from the operand holders", check=lambda v, n: None if 1 <= v <= 10_000_000
              else "must be 1..10000000"),
        Param("engine", str, "auto", "auto (the three-party replicated engine when there are exactly three "
              "parties, the two-party engine when there are two, else Shamir), shamir, replicated (exactly three "
              "parties) or twoparty (exactly two)", choices=mpc.ENGINES,
              check=mpc.engine_problem),
    ),
    validate_input=_validate,
)
async def compare(ctx: Context, value: Any, *, bits: int, signed: bool, op: str, max_length: int,
                  engine: str) -> Any:
    """Compare party 0's private integer(s) with party 1's."""
    first, second = ctx.parties[0], ctx.parties[1]
    if ctx.n == 2:
        return await compare_two(ctx, value, bits=bits, signed=signed, op=op, max_length=max_length)
    if ctx.me in (first, second) and value is None:
        raise InputError(f"party {ctx.me} must supply the {'x' if ctx.me == first else 'y'} operand")
    if ctx.me not in (first, second) and value is not None:
        raise InputError(f"only {first} and {second} supply operands; {ctx.me} must supply null")
    rt = mpc.Runtime(ctx, engine=engine)
    # The operands' lengths are the holders' to choose, within max_length: a
    # longer share array is refused before it is converted or multiplied
    # (GF(2^8) products work on 8-byte indices: 8x the bytes received).
    shared = await rt.input_bits({first: None, second: None}, value, bits=bits, signed=signed, max_values=max_length)
    x, y = shared[first], shared[second]
    _check_operand(x, bits, max_length, first)
    _check_operand(y, bits, max_length, second)
    if x.shape != y.shape:
        # The operand holders know whose length is the odd one (not theirs);
        # a helper cannot tell, so it names the second and gives both shapes.
        raise RemoteProtocolViolation(f"the two operands differ in length ({first}: {x.shape or 'one value'}, "
                                      f"{second}: {y.shape or 'one value'})",
                                      peer=first if ctx.me == second else second)
    result = await getattr(x, op)(y)
    out = await result.reveal() == 1
    return bool(out) if out.ndim == 0 else out.tolist()


async def compare_two(ctx: Context, value: Any, *, bits: int, signed: bool, op: str, max_length: int,
                      report: dict[str, Any] | None = None) -> Any:
    """The two-party case of :func:`compare` (the module docstring gives its
    rounds); ``report``, if given, receives the engine's offline/online figures."""
    if value is None:
        raise InputError(f"party {ctx.me} must supply the {'x' if ctx.index == 0 else 'y'} operand")
    peer = ctx.peers[0]
    length = -1 if not isinstance(value, list) else len(value)
    rt = mpc.Runtime(ctx)
    eng = rt.two_party_engine
    shape: tuple[int, ...] = () if length < 0 else (length,)
    count = max(1, length)
    # Offline: the leaf OTs (the left operand is x for lt, ge, eq, ne and y
    # for gt, le, whose '<' swaps the operands) and the triples of the tree
    # (for eq/ne an AND tree over the blocks' equal bits, else the prefix
    # tree: one paired AND per combination).
    left = 0 if op in ("lt", "ge", "eq", "ne") else 1
    send, recv = twoparty.millionaires_ots(bits, count, ctx.index == left)
    blocks, words = twoparty.blocks_for(bits), words_for(count)
    tree = twoparty.tree_pairs(blocks) * words
    sizes = ({"and_words": (blocks - 1) * words} if op in ("eq", "ne") else {"pair_words": tree})
    # No round: each party's operand as an XOR sharing (its own share the value).
    shared = await rt.input_xor({ctx.parties[0]: shape, ctx.parties[1]: shape}, value, bits=bits, signed=signed)
    # Round 1: the operands' lengths, the tag of an OT extension kept on
    # this link by an earlier session (used if both hold the same one) and,
    # with one, the offline OTs for this length on it and the millionaires
    # protocol's first message on their leaf OTs (used then; the peer's are
    # sized for its length, which must equal ours).
    tag, early = eng.offer_kept_with_ots(leaf_send=send, leaf_recv=recv, **sizes)
    first = eng.millionaires_first(ctx.parties[left], shared[ctx.me].plain(), count, bits)
    got = (await ctx.exchange({peer: [length, tag, early, first]}))[peer]
    if not (isinstance(got, list) and len(got) == 4 and isinstance(got[1], bytes) and len(got[1]) in (0, 16)):
        raise RemoteProtocolViolation("expected [length, tag, offline OTs, first leaf message] in the first round",
                                      peer=peer)
    their_length = mpc.Expect.integer(-1, max_length).check(got[0], peer)
    if their_length != length:
        raise RemoteProtocolViolation(f"the two operands differ in length ({ctx.me}: "
                                      f"{'one value' if length < 0 else length}, {peer}: "
                                      f"{'one value' if their_length < 0 else their_length})", peer=peer)
    eng.accept_kept(tag, got[1], got[2], got[3])
    await eng.prepare(leaf_send=send, leaf_recv=recv, **sizes)  # no round if round 1 carried the OTs
    result = await getattr(shared[ctx.parties[0]], op)(shared[ctx.parties[1]])
    out = await result.reveal() == 1
    eng.keep()
    if report is not None:
        report.update(eng.report())
    return bool(out) if out.ndim == 0 else out.tolist()
