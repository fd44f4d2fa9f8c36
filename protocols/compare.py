"""Secure comparison of two parties' private integers (batched).

Parties 0 and 1 each supply an integer or an equal-length list of integers;
the others supply ``null`` and only help compute. Every party learns the
element-wise result of ``x OP y`` and nothing else.

How: on the toolkit (:mod:`mpcnet.mpc`), the two inputs are
:class:`~mpcnet.mpc.SecretBits` among all parties (Shamir over GF(2^8),
honest majority: n >= 3, threshold t = (n-1)//2), compared by its methods:
the input round, the comparison's rounds (stated there), the output round,
whatever the number of elements (8 in all for a 32-bit ``<``, 7 for ``==``).

Security: semi-honest; private against any t < n/2 colluding parties.
Reveals: the comparison results (and the number of elements), to every party.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mpcnet import Context, InputError, Param, RemoteProtocolViolation, mpc, protocol

from ._inputs import check_int_or_list

OPS = ("lt", "le", "gt", "ge", "eq", "ne")


def _validate(value: Any, params: Mapping[str, Any], n: int) -> Any:
    if value is None:
        return None
    return check_int_or_list(value, params["bits"], params["signed"])


@protocol(
    "compare",
    min_parties=3,
    security="semi-honest; honest majority: private against any t < n/2 colluding parties (Shamir over GF(2^8))",
    reveals="the element-wise result of x OP y (and the number of elements), to every party",
    input="party 0: x, party 1: y (an integer or equal-length lists of integers within 'bits'); others: null",
    output="a boolean, or a list of booleans",
    params=(
        Param("bits", int, 32, "bit length k of the values (1..64)",
              check=lambda v, n: None if 1 <= v <= 64 else "must be 1..64"),
        Param("signed", bool, False, "values are signed (two's complement range)"),
        Param("op", str, "lt", "comparison: lt, le, gt, ge, eq, ne", choices=OPS),
    ),
    validate_input=_validate,
)
async def compare(ctx: Context, value: Any, *, bits: int, signed: bool, op: str) -> Any:
    """Compare party 0's private integer(s) with party 1's."""
    first, second = ctx.parties[0], ctx.parties[1]
    if ctx.me in (first, second) and value is None:
        raise InputError(f"party {ctx.me} must supply the {'x' if ctx.me == first else 'y'} operand")
    if ctx.me not in (first, second) and value is not None:
        raise InputError(f"only {first} and {second} supply operands; {ctx.me} must supply null")
    rt = mpc.Runtime(ctx)
    shared = await rt.input_bits({first: None, second: None}, value, bits=bits, signed=signed)
    x, y = shared[first], shared[second]
    if x.shape != y.shape:
        # The operand holders know whose length is the odd one (not theirs);
        # a helper cannot tell, so it names the second and gives both shapes.
        raise RemoteProtocolViolation(f"the two operands differ in length ({first}: {x.shape or 'one value'}, "
                                      f"{second}: {y.shape or 'one value'})",
                                      peer=first if ctx.me == second else second)
    result = await getattr(x, op)(y)
    out = await result.reveal() == 1
    return bool(out) if out.ndim == 0 else out.tolist()
