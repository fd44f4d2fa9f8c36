"""One wait for many links: a party's reader over all its TCP links at once.

A party used to run one reader task per link, each waiting on its own socket
(registered with trio's epoll on every wait, woken, rescheduled, cancelled at
the end). With many links in one process (3 compute parties and 20 bidders
are 126 link ends) those tasks and registrations cost more than the
messages. A :class:`LinkPoller` keeps a private epoll set of the sockets of
the links it was given; one task waits for that set to become readable
(:meth:`LinkPoller.wait`, a single trio wait on the set's descriptor) and is
told which links have bytes, which it then drains with the links' own
non-blocking :meth:`~mpcnet._net.securelink.SecureLink.poll_message`. Every
frame is still decrypted and checked by the link's
:class:`~mpcnet._net.channel.ChannelConnection`, in order, exactly as its
``receive_message`` would.

Only links that read their socket directly (a
:class:`~mpcnet._net.securelink.SecureLink` over a TCP socket, POSIX, or a
:class:`~mpcnet._net.resumable.ResumableLink` over such links) and only where
``select.epoll`` exists (Linux) can be polled; the owner reads any other link
with a task of its own (:func:`pollable`). A resumable link's socket changes
when it resumes over a new connection: the link tells the poller
(``set_poll_watcher``), which then watches the new socket, and looks at the
link at once (its buffer may already hold messages, or the link may have
ended), woken through an eventfd in its set.
"""

from __future__ import annotations

import functools
import os
import select
from collections.abc import Mapping
from typing import Protocol

import trio

from .resumable import ResumableLink
from .securelink import SecureLink

__all__ = ["LinkPoller", "pollable", "POLL_BURST"]

#: Messages taken from one link per wake-up before the others get their
#: turn (the reader then hands the link to :meth:`LinkPoller.again`, since
#: the rest may already be in the link's own buffer), so a peer that floods
#: its link cannot starve the rest.
POLL_BURST = 16


class PollableLink(Protocol):
    """What a :class:`LinkPoller` needs of a link (SecureLink, ResumableLink)."""

    def poll_fd(self) -> int | None: ...

    def poll_message(self, readable: bool = False) -> bytes | memoryview | None: ...

    def close_now(self, reason: str = "") -> bool: ...


def pollable(links: Mapping[str, object]) -> dict[str, PollableLink]:
    """The links among ``links`` that a :class:`LinkPoller` can watch
    (empty where the platform has no epoll)."""
    if not hasattr(select, "epoll") or not hasattr(os, "eventfd"):
        return {}
    out: dict[str, PollableLink] = {}
    for peer, link in links.items():
        if isinstance(link, (SecureLink, ResumableLink)) and link.poll_fd() is not None:
            out[peer] = link
    return out


class LinkPoller:
    """A set of links watched together (see the module docstring). Use as a
    context manager: the private epoll descriptor is closed at exit. Links
    leave the set with :meth:`discard` (before they are closed: a closed
    socket leaves an epoll set by itself, but then nobody would be told).

    What the set reports is what arrives from the peers: their bytes, their
    CLOSE, a reset or EOF. A link closed *here* while it is watched is not
    reported (unlike a trio wait on its socket, which the close would wake);
    :class:`~mpcnet.party.Party` closes its links only after its reader has
    stopped, or after taking the link out of the set."""

    def __init__(self, links: Mapping[str, PollableLink]) -> None:
        self._epoll = select.epoll()
        self._by_fd: dict[int, tuple[str, PollableLink]] = {}
        self._fd_of: dict[str, int] = {}  # peer -> the descriptor registered for it
        self._watched: dict[str, PollableLink] = {}  # the links in the set (with or without a socket now)
        self._again: list[tuple[str, PollableLink]] = []
        self._wake_fd: int | None = None  # an eventfd, once a link can move to another socket
        #: The peers whose links were given (those discarded since included).
        self._peers = frozenset(links)
        try:
            for peer, link in links.items():
                fd = link.poll_fd()
                if fd is None:
                    raise ValueError(f"the link to {peer} cannot be polled")
                self._watched[peer] = link
                self._register(peer, link, fd)
                if isinstance(link, ResumableLink):
                    if self._wake_fd is None:
                        self._wake_fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                        self._epoll.register(self._wake_fd, select.EPOLLIN)
                    link.set_poll_watcher(functools.partial(self._moved, peer))
        except BaseException:
            self.close()
            raise

    def _register(self, peer: str, link: PollableLink, fd: int) -> None:
        # Level-triggered: a link not fully drained (POLL_BURST) is
        # reported again on the next wait.
        self._epoll.register(fd, select.EPOLLIN)
        self._by_fd[fd] = (peer, link)
        self._fd_of[peer] = fd

    def _unregister(self, peer: str) -> None:
        fd = self._fd_of.pop(peer, None)
        if fd is not None:
            self._by_fd.pop(fd, None)
            try:
                self._epoll.unregister(fd)
            except OSError:  # the socket is already closed: it left the set by itself
                pass

    def _moved(self, peer: str) -> None:
        """``peer``'s link changed its socket, lost it, or ended: watch
        what it has now, and have the reader look at it at once."""
        link = self._watched.get(peer)
        if link is None or self._epoll.closed:
            return
        self._unregister(peer)
        fd = link.poll_fd()
        if fd is not None:
            self._register(peer, link, fd)
        self._again.append((peer, link))
        assert self._wake_fd is not None
        os.eventfd_write(self._wake_fd, 1)  # (wakes a wait() under way)

    def __enter__(self) -> LinkPoller:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._watched)

    def __contains__(self, peer: object) -> bool:
        return peer in self._peers


    def close(self) -> None:
        """Close the epoll set (idempotent)."""
        if not self._epoll.closed:
            for link in self._watched.values():
                if isinstance(link, ResumableLink):
                    link.set_poll_watcher(None)
            self._watched.clear()
            self._by_fd.clear()
            self._fd_of.clear()
            self._epoll.close()
            if self._wake_fd is not None:
                os.close(self._wake_fd)
                self._wake_fd = None

    def again(self, peer: str, link: PollableLink) -> None:
        """Have the next :meth:`wait` return ``peer``'s link at once: its
        reader stopped after :data:`POLL_BURST` messages, and what is left
        may already sit in the link's buffer, where the epoll set cannot
        see it."""
        self._again.append((peer, link))

    def discard(self, peer: str) -> None:
        """Stop watching ``peer``'s link (idempotent)."""
        link = self._watched.pop(peer, None)
        if isinstance(link, ResumableLink):
            link.set_poll_watcher(None)
        self._unregister(peer)

    async def wait(self) -> list[tuple[str, PollableLink]]:
        """Wait until at least one watched link has bytes (or its socket
        has news: EOF, an error), or was handed to :meth:`again`; the ready
        links, in no particular order. A checkpoint, cancellable like any
        trio wait."""
        while True:
            again, self._again = self._again, []
            if again:
                await trio.lowlevel.checkpoint()  # (the others' turn first)
            else:
                # The set's own descriptor is readable while any member is.
                await trio.lowlevel.wait_readable(self._epoll.fileno())
            ready = self._epoll.poll(0)
            by_fd = self._by_fd
            links: list[tuple[str, PollableLink]] = []
            for fd, _ in ready:
                entry = by_fd.get(fd)
                if entry is not None:
                    links.append(entry)
                elif fd == self._wake_fd:
                    try:
                        os.eventfd_read(fd)  # (reset: the links it was for are in `again`)
                    except BlockingIOError:
                        pass
            for peer, link in again:
                if (peer, link) not in links and self._watched.get(peer) is link:
                    links.append((peer, link))
            if links:
                return links
