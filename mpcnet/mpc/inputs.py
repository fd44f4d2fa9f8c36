"""Input checks for protocol authors: integers in a k-bit range, lists of them."""

from __future__ import annotations

from typing import Any

from ..errors import InputError


def int_range(bits: int, signed: bool) -> tuple[int, int]:
    """The inclusive range of k-bit signed or unsigned integers."""
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


def check_int(value: Any, bits: int, signed: bool, what: str = "input") -> int:
    """``value`` must be an int (not a bool) within the k-bit range. The
    message states the rule, never the rejected value."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be an integer")
    lo, hi = int_range(bits, signed)
    if not lo <= value <= hi:
        raise InputError(f"{what} out of range: must satisfy {lo} <= x <= {hi} "
                         f"({'signed' if signed else 'unsigned'} {bits}-bit)")
    return value


def check_int_or_list(value: Any, bits: int, signed: bool, max_len: int = 10_000_000) -> int | list[int]:
    """An int or a non-empty list of ints, each within the k-bit range."""
    if isinstance(value, list):
        if not 1 <= len(value) <= max_len:
            raise InputError(f"input list length must be between 1 and {max_len}")
        if not all(type(v) is int for v in value):
            raise InputError("every element of the input list must be an integer")
        lo, hi = int_range(bits, signed)
        if min(value) < lo or max(value) > hi:
            raise InputError(f"input out of range: every value must satisfy {lo} <= x <= {hi}")
        return value
    return check_int(value, bits, signed)
