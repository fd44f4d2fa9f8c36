"""The error vocabulary of mpcnet.

One root, :class:`MPCError`, and a handful of meaningful children. Errors that
concern a remote party carry its name in ``peer``; errors that concern a
protocol run carry its ``session`` id. Messages never contain secret values
(inputs, shares, keys): they describe *what* went wrong and *who* is at fault.

Three of them are also the builtin a Python user would catch (as attrs'
``FrozenError`` is an ``AttributeError``): :class:`ConfigError` and
:class:`InputError` are ``ValueError``s, :class:`PeerTimeout` is a
``TimeoutError`` (and so an ``OSError``: code that catches ``OSError``
around an mpcnet call catches a peer timeout too, so such handlers in mpcnet
catch :class:`MPCError` first).
"""

from __future__ import annotations


class MPCError(Exception):
    """Root of every error mpcnet raises on purpose.

    ``peer`` names the party at fault where there is one; ``session`` is the
    hex id of the protocol run the error ended, where there is one.
    """

    def __init__(self, message: str, *, peer: str | None = None, session: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.peer = peer
        self.session = session

    def __str__(self) -> str:
        parts = [self.message]
        if self.peer is not None:
            parts.append(f"[peer {self.peer}]")
        if self.session is not None:
            parts.append(f"[session {self.session}]")
        return " ".join(parts)


class ConfigError(MPCError, ValueError):
    """A roster, key file, parameter or command line is invalid."""


class InputError(MPCError, ValueError):
    """A party's private input is invalid (type, range or size).

    Raised before any byte is sent when the protocol's ``validate_input``
    finds it; a check inside the protocol (an input that does not fit the
    party's role, say) raises it once the session has started, and the other
    parties then end with :class:`SessionAborted`. The message describes the
    constraint, never the rejected value itself.
    """


class WireError(MPCError):
    """Bytes from the wire could not be decoded (malformed, over a limit, or a
    type that is not allowed)."""


class HandshakeError(MPCError):
    """A secure-channel handshake failed: unknown or wrong key, malformed
    handshake message, version mismatch, or the connection dropped.

    ``authentication_failed`` is True when a handshake message failed its
    cryptographic check: the other end does not hold the key the roster
    lists (or someone tampered with the messages).

    ``rejected`` is True when the peer answered our handshake with its
    REJECT frame: it does not accept our key or roster (or it refused a
    duplicate connection). The frame is not authenticated, so anyone on the
    path can forge it, and a message 2 that fails its check can be forged as
    easily: neither is proof on its own, and the mesh retries both for a
    while (see :data:`mpcnet.tcp.REJECT_GRACE`)."""

    def __init__(self, message: str, *, peer: str | None = None, session: str | None = None,
                 authentication_failed: bool = False, rejected: bool = False) -> None:
        super().__init__(message, peer=peer, session=session)
        self.authentication_failed = authentication_failed
        self.rejected = rejected


class ChannelBroken(MPCError):
    """An established secure channel ended: the peer closed or crashed, the
    connection dropped, or a frame failed authentication or framing checks.
    The channel is never resynchronised after this."""


class PeerTimeout(MPCError, TimeoutError):
    """A peer stayed silent past a deadline (connect, handshake or round)."""


class ProtocolViolation(MPCError):
    """A protocol run saw a message that breaks the protocol's rules."""


class LocalProtocolViolation(ProtocolViolation):
    """This party misused the protocol API (a bug in protocol code)."""


class RemoteProtocolViolation(ProtocolViolation):
    """A peer sent a stray, duplicate, malformed or out-of-place message."""


class SessionAborted(MPCError):
    """A peer aborted the protocol run (it hit an error of its own) and told
    us so. ``reported_by`` is the party that sent the abort; ``peer`` is the
    party it blamed (itself when it blamed nobody else)."""

    def __init__(self, message: str, *, peer: str | None = None, session: str | None = None,
                 reported_by: str | None = None) -> None:
        super().__init__(message, peer=peer, session=session)
        self.reported_by = reported_by
