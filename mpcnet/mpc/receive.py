"""Typed receive: a round whose incoming messages are checked against what
the protocol declared (shape, dtype, range) before the protocol sees them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from ..context import Context
from ..errors import LocalProtocolViolation, RemoteProtocolViolation

__all__ = ["Expect", "exchange"]

Array = np.ndarray[Any, Any]
_KINDS = ("array", "int", "bytes", "bool")


@attrs.frozen
class Expect:
    """What one message must be. Build with :meth:`array`, :meth:`integer`,
    :meth:`data` (bytes) or :meth:`boolean`; :meth:`check` returns the value or raises
    :class:`~mpcnet.RemoteProtocolViolation` naming the sender and the rule
    (never the value)."""

    kind: str = attrs.field(validator=attrs.validators.in_(_KINDS))
    dtype: np.dtype[Any] | None = None
    shape: tuple[int, ...] | None = None
    lo: int | None = None
    hi: int | None = None
    size: int | None = None

    @classmethod
    def array(cls, dtype: Any, shape: tuple[int, ...], *, lo: int | None = None, hi: int | None = None) -> Expect:
        """A numpy array of exactly this dtype and shape, every element in [lo, hi] where given."""
        return cls("array", np.dtype(dtype), tuple(shape), lo, hi)

    @classmethod
    def integer(cls, lo: int, hi: int) -> Expect:
        """An integer (not a bool) in [lo, hi]."""
        return cls("int", lo=lo, hi=hi)

    @classmethod
    def data(cls, size: int) -> Expect:
        """A bytes string of exactly ``size`` bytes."""
        return cls("bytes", size=size)

    @classmethod
    def boolean(cls) -> Expect:
        """True or False."""
        return cls("bool")

    def check(self, value: Any, peer: str) -> Any:
        """``value`` if it is what this expects; RemoteProtocolViolation otherwise."""
        if self.kind == "array":
            if not (isinstance(value, np.ndarray) and value.dtype == self.dtype and value.shape == self.shape):
                raise RemoteProtocolViolation(f"expected a {self.dtype} array of shape {self.shape}", peer=peer)
            if value.size and ((self.lo is not None and value.min() < self.lo)
                               or (self.hi is not None and value.max() > self.hi)):
                raise RemoteProtocolViolation(f"array elements must lie in [{self.lo}, {self.hi}]", peer=peer)
        elif self.kind == "int":
            assert self.lo is not None and self.hi is not None
            if isinstance(value, bool) or not isinstance(value, int) or not self.lo <= value <= self.hi:
                raise RemoteProtocolViolation(f"expected an integer in [{self.lo}, {self.hi}]", peer=peer)
        elif self.kind == "bytes":
            if not isinstance(value, bytes) or len(value) != self.size:
                raise RemoteProtocolViolation(f"expected {self.size} bytes", peer=peer)
        elif not isinstance(value, bool):
            raise RemoteProtocolViolation("expected true or false", peer=peer)
        return value


async def exchange(ctx: Context, outgoing: Mapping[str, Any], expect: Mapping[str, Expect]) -> dict[str, Any]:
    """One round, like :meth:`mpcnet.Context.exchange`: send ``outgoing``,
    receive one message from each party in ``expect`` and check it against
    its :class:`Expect` before returning ``{sender: value}``."""
    for peer, spec in expect.items():
        if not isinstance(spec, Expect):
            raise LocalProtocolViolation(f"expect[{peer!r}] must be an Expect")
    got = await ctx.exchange(outgoing, expect_from=list(expect))
    return {p: expect[p].check(v, p) for p, v in got.items()}
