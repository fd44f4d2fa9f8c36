"""Input parties and compute parties: the split every honest-majority
protocol offers with its ``compute_parties`` parameter.

``compute_parties=0``: every party gives input and computes (n >= 3).
``compute_parties=c`` (c >= 3): the first c parties compute only, the other
n - c only give input and receive the result; no channel is needed between
two input-only parties (:func:`role_links`).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, overload

import attrs

from ..context import Context
from ..errors import ConfigError, InputError
from ..registry import Param

__all__ = ["COMPUTE_PARTIES", "role_links", "split_roles", "check_role", "parties_from"]

#: The ``compute_parties`` parameter, for a protocol's ``params``.
COMPUTE_PARTIES = Param(
    "compute_parties", int, 0,
    "0: every party gives input and computes (n >= 3); c >= 3: the first c parties compute only "
    "and the other n - c only give input")


@attrs.frozen
class _RoleLinks:
    """Channels a compute/input split needs (a protocol's ``links=``): none
    between two input-only parties. Call it as a predicate
    ``role_links(params, n, i, j)``; ``role_links.peers(params, n, i)``
    lists party i's peers (every other party for a compute party, the
    compute parties for an input-only one), so that building the links of
    10,000 voters takes 10,000 steps, not 10^8."""

    def __call__(self, params: Mapping[str, Any], n: int, i: int, j: int) -> bool:
        c = params.get("compute_parties", 0) or n
        return i < c or j < c

    def peers(self, params: Mapping[str, Any], n: int, i: int) -> range:
        """Party i's peers, itself included (callers drop it)."""
        c = params.get("compute_parties", 0) or n
        return range(n) if i < c else range(min(c, n))


#: The links rule of a compute/input split (see :class:`_RoleLinks`).
role_links = _RoleLinks()


def split_roles(n: int, compute_parties: int, what: str, min_inputs: int = 1,
                inputs_name: str = "input parties") -> tuple[int, range]:
    """(number of compute parties, indices of input parties); ConfigError if
    the split is impossible (``inputs_name`` names the input parties in it).
    The indices are a range: constant time to make, for each of 10,000 voters."""
    if compute_parties < 0 or compute_parties > n:
        raise ConfigError(f"compute_parties must be between 0 and {n}")
    c, inputs = (n, range(n)) if compute_parties == 0 else (compute_parties, range(compute_parties, n))
    if c < 3:
        raise ConfigError(f"{what} needs at least 3 compute parties (honest-majority Shamir sharing)")
    if len(inputs) < min_inputs:
        raise ConfigError(f"{what} needs at least {min_inputs} {inputs_name}")
    return c, inputs


class _PartiesFrom(Sequence[str]):
    """``ctx.parties[start:]`` without the copy (see :func:`parties_from`)."""

    def __init__(self, ctx: Context, start: int) -> None:
        self._ctx = ctx
        self._start = start

    def __len__(self) -> int:
        return self._ctx.n - self._start

    @overload
    def __getitem__(self, i: int) -> str: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[str]: ...
    def __getitem__(self, i: int | slice) -> str | Sequence[str]:
        if isinstance(i, slice):
            return self._ctx.parties[self._start:][i]
        if not -len(self) <= i < len(self):
            raise IndexError("party index out of range")
        return self._ctx.parties[self._start + i % len(self)]

    def __iter__(self) -> Iterator[str]:
        return itertools.islice(self._ctx.parties, self._start, None)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._ctx.is_party(name) and self._ctx.index_of(name) >= self._start


def parties_from(ctx: Context, start: int) -> Sequence[str]:
    """The parties from position ``start`` on (the input-only parties of a
    split), as a read-only view of ``ctx.parties``: no copy, and membership
    in constant time. With 10,000 voters in one simulation, each voter
    holding its own copy of the voter list while it waits cost 1.5 GB."""
    return _PartiesFrom(ctx, start)


def check_role(ctx: Context, value: object, input_parties: Sequence[str], what: str) -> None:
    """An input party must supply a value; a compute-only party must supply null."""
    if ctx.me in input_parties and value is None:
        raise InputError(f"{ctx.me} is a {what} and must supply an input")
    if ctx.me not in input_parties and value is not None:
        raise InputError(f"{ctx.me} is a compute-only party and must supply null")
