"""What every secret value of the toolkit has in common (:class:`SecretInt`,
:class:`SecretBits`, :class:`SecretRing`, :class:`SlicedBits`).

A comparison or a truth value of a secret costs rounds, so the operators that
would hide that (``<``, ``==``, ``bool()``) raise a TypeError naming the
awaited method instead: an overloaded ``<`` returning a coroutine would be
too easy to forget to await. Values are mutable holders of shares, so they
are not hashable, and numpy defers to their operators (``array @ x``).
"""

from __future__ import annotations

import abc
from typing import Any, NoReturn, Self

__all__ = ["SecretValue", "ComparableSecret", "refuse_comparison"]


def refuse_comparison(*_: Any) -> NoReturn:
    """What ``<``, ``==`` and the like do on a secret value: raise TypeError,
    since a comparison costs rounds."""
    raise TypeError("comparing secret values costs rounds: use 'await x.lt(y)' (or le, gt, ge, eq, ne)")


class SecretValue:
    """Base of the toolkit's secret values. ``shares`` is None outside the
    compute parties (an absent value: it takes part in no round's data)."""

    __hash__ = None  # type: ignore[assignment]
    __array_ufunc__ = None  # numpy defers to our operators (array @ x, array * x)
    __lt__ = __le__ = __gt__ = __ge__ = refuse_comparison
    __eq__ = __ne__ = refuse_comparison

    @property
    def absent(self) -> bool:
        """True outside the compute parties (this party holds no shares)."""
        # Each subclass types its own ``shares``; declaring it here would widen them all.
        return getattr(self, "shares", None) is None

    def __bool__(self) -> bool:
        raise TypeError("a secret value has no truth value: open it first")


class ComparableSecret(SecretValue, abc.ABC):
    """A secret value with the six comparisons, each one awaited call of the
    type's own comparison circuit (their rounds: the table in :mod:`mpcnet.mpc`)."""

    @abc.abstractmethod
    async def _compare(self, other: Any, op: str) -> Self:
        """The type's comparison circuit for ``op`` in lt, le, gt, ge, eq, ne."""

    async def lt(self, other: Any) -> Self:
        """``[x < y]`` element-wise, as a secret bit."""
        return await self._compare(other, "lt")

    async def le(self, other: Any) -> Self:
        """``[x <= y]`` element-wise, as a secret bit."""
        return await self._compare(other, "le")

    async def gt(self, other: Any) -> Self:
        """``[x > y]`` element-wise, as a secret bit."""
        return await self._compare(other, "gt")

    async def ge(self, other: Any) -> Self:
        """``[x >= y]`` element-wise, as a secret bit."""
        return await self._compare(other, "ge")

    async def eq(self, other: Any) -> Self:
        """``[x == y]`` element-wise, as a secret bit."""
        return await self._compare(other, "eq")

    async def ne(self, other: Any) -> Self:
        """``[x != y]`` element-wise, as a secret bit."""
        return await self._compare(other, "ne")
