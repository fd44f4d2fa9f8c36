"""mpcnet from asyncio programs.

mpcnet is written for trio. An asyncio program runs it in *trio guest mode*
(``trio.lowlevel.start_guest_run``): trio's scheduler runs inside the running
asyncio loop, on the same thread, with no extra thread and no copying. Only
one guest run may exist per thread, so one :class:`TrioHost` serves every
mpcnet call of a loop; the module functions below use the active host, or
start a temporary one.

::

    import asyncio, mpcnet.aio

    async def main():
        result = await mpcnet.aio.simulate("secure-sum", [1, 2, 3])
        async with mpcnet.aio.open_party(roster, key) as party:
            out = await party.run("secure-sum", 42, session_id="q3")

    asyncio.run(main())

Cancelling the asyncio task that awaits an mpcnet call cancels the trio side
(the session sends ABORT to its peers) and raises ``asyncio.CancelledError``
as usual. Errors arrive as the same typed :class:`~mpcnet.errors.MPCError`.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import outcome
import trio

from .errors import LocalProtocolViolation
from .identity import Roster, SecretKey
from .party import Party, PartyResult
from .registry import ProtocolSpec
from .runner import SimulationResult, run_party_async, simulate_async
from .runner import open_party as _open_party_trio

__all__ = ["TrioHost", "simulate", "run_party", "open_party", "AsyncParty"]

T = TypeVar("T")

_active_host: contextvars.ContextVar[TrioHost | None] = contextvars.ContextVar("mpcnet_trio_host", default=None)


class TrioHost:
    """A trio guest run inside the running asyncio loop, serving trio calls.

    Use ``async with TrioHost() as host: await host.run(trio_fn, *args)``.
    Must be closed (leave the block) before the asyncio loop closes.
    """

    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._done: asyncio.Future[outcome.Outcome[None]] | None = None
        self._ready: asyncio.Event | None = None
        self._stop: trio.Event | None = None
        self._reset: contextvars.Token[TrioHost | None] | None = None

    async def __aenter__(self) -> TrioHost:
        if _active_host.get() is not None:
            raise LocalProtocolViolation("a TrioHost is already running in this context; reuse it")
        loop = asyncio.get_running_loop()
        self._done = loop.create_future()
        self._ready = asyncio.Event()

        async def trio_main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                loop.call_soon_threadsafe(self._ready.set)  # type: ignore[union-attr]
                await self._stop.wait()
                nursery.cancel_scope.cancel()

        def done_callback(result: outcome.Outcome[None]) -> None:
            if not self._done.done():  # type: ignore[union-attr]
                self._done.set_result(result)  # type: ignore[union-attr]

        trio.lowlevel.start_guest_run(
            trio_main,
            run_sync_soon_threadsafe=loop.call_soon_threadsafe,
            done_callback=done_callback,
            host_uses_signal_set_wakeup_fd=True,
        )
        await self._ready.wait()
        self._reset = _active_host.set(self)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._reset is not None:
            _active_host.reset(self._reset)
        assert self._token is not None and self._stop is not None and self._done is not None
        self._token.run_sync_soon(self._stop.set)
        result = await self._done
        result.unwrap()

    async def run(self, async_fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await async_fn(*args)`` in trio; return its result here.

        Cancellation flows both ways: cancelling the awaiting asyncio task
        cancels the trio call; an exception in trio is raised here.
        """
        assert self._token is not None and self._nursery is not None
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        finished: asyncio.Future[None] = loop.create_future()
        scope_box: list[trio.CancelScope] = []
        cancel_requested = [False]

        async def runner() -> None:
            try:
                with trio.CancelScope() as scope:
                    scope_box.append(scope)
                    if cancel_requested[0]:  # cancelled before it even started
                        scope.cancel()
                    try:
                        value = await async_fn(*args)
                    except trio.Cancelled:
                        if not future.done():
                            future.cancel()
                        raise
                    except BaseException as exc:  # handed to asyncio, not swallowed
                        if not future.done():
                            future.set_exception(exc)
                        return
                    if not future.done():
                        future.set_result(value)
                if not future.done():
                    future.cancel()
            finally:
                if not finished.done():
                    finished.set_result(None)

        nursery = self._nursery
        self._token.run_sync_soon(lambda: nursery.start_soon(runner))
        try:
            return await future
        except asyncio.CancelledError:
            # Cancel the trio side and wait until it has cleaned up (a
            # session sends ABORT to its peers on the way out) before the
            # caller moves on, e.g. to closing the party's links.
            cancel_requested[0] = True
            self._token.run_sync_soon(lambda: scope_box[0].cancel() if scope_box else None)
            while not finished.done():
                try:
                    await asyncio.shield(finished)
                except asyncio.CancelledError:
                    continue
            raise


@asynccontextmanager
async def _host() -> AsyncIterator[TrioHost]:
    host = _active_host.get()
    if host is not None:
        yield host
        return
    async with TrioHost() as host:
        yield host


async def simulate(protocol: str | ProtocolSpec, inputs: Sequence[Any], **kwargs: Any) -> SimulationResult:
    """:func:`mpcnet.simulate` for asyncio code."""
    async with _host() as host:
        return await host.run(lambda: simulate_async(protocol, inputs, **kwargs))


async def run_party(protocol: str | ProtocolSpec, value: Any, **kwargs: Any) -> PartyResult:
    """:func:`mpcnet.run_party` for asyncio code."""
    async with _host() as host:
        return await host.run(lambda: run_party_async(protocol, value, **kwargs))


class AsyncParty:
    """A connected party, usable from asyncio (see :func:`open_party`)."""

    def __init__(self, host: TrioHost, party: Party) -> None:
        self._host = host
        self._party = party
        self.me = party.me

    async def run(self, protocol: str | ProtocolSpec, value: Any, *, session_id: bytes | str,
                  params: Mapping[str, Any] | None = None, **kwargs: Any) -> PartyResult:
        """:meth:`mpcnet.Party.run`, awaitable from asyncio."""
        return await self._host.run(lambda: self._party.run(protocol, value, session_id=session_id,
                                                            params=params, **kwargs))


@asynccontextmanager
async def open_party(roster: Roster, key: SecretKey, **kwargs: Any) -> AsyncIterator[AsyncParty]:
    """:func:`mpcnet.open_party` for asyncio code: connect to the roster's
    peers, yield an :class:`AsyncParty`, close every channel on exit."""
    async with _host() as host:
        ready: asyncio.Future[Party] = asyncio.get_running_loop().create_future()
        release = trio.Event()

        async def hold() -> None:
            # The mesh lives in one trio task for the whole block, so its
            # nurseries and cancel scopes nest properly.
            try:
                async with _open_party_trio(roster, key, **kwargs) as party:
                    ready.set_result(party)
                    await release.wait()
            except BaseException as exc:
                if not ready.done():
                    ready.set_exception(exc if not isinstance(exc, trio.Cancelled) else asyncio.CancelledError())
                raise

        holder = asyncio.ensure_future(host.run(hold))
        try:
            party = await ready
        except BaseException:
            holder.cancel()
            raise
        try:
            yield AsyncParty(host, party)
        finally:
            assert host._token is not None
            host._token.run_sync_soon(release.set)
            await holder
