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

Security: semi-honest; private against any t < n/2 colluding parties (three
parties, either engine: against any one).
Reveals: the comparison results (and the number of elements), to every party.
Every received array's shape follows from the parameters (``bits``,
``max_length``) and the operands' common length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpcnet import Context, InputError, Param, RemoteProtocolViolation, mpc, protocol
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
    min_parties=3,
    security="semi-honest; honest majority: private against any t < n/2 colluding parties (Shamir over "
             "GF(2^8); with three parties, by default, replicated sharing: against any one)",
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
              "parties, else Shamir), shamir, or replicated (exactly three parties)", choices=mpc.ENGINES,
              check=lambda v, n: None if v != "replicated" or n == 3 else "replicated needs exactly 3 parties"),
    ),
    validate_input=_validate,
)
async def compare(ctx: Context, value: Any, *, bits: int, signed: bool, op: str, max_length: int,
                  engine: str) -> Any:
    """Compare party 0's private integer(s) with party 1's."""
    first, second = ctx.parties[0], ctx.parties[1]
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
