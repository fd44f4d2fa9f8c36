"""Structured events through the standard :mod:`logging` module.

Every event is one log record whose message reads ``event key=value ...``
and whose ``record.mpcnet`` attribute holds the same data as a dict
(``{"event": ..., "party": ..., "session": ..., ...}``), for JSON log
handlers. Events never carry secret values: only names, ids, counts, sizes,
durations and error classes.

Events (logger, level):

* ``connect`` (logger mpcnet.tcp, INFO): a secure channel is up — party, peer, role.
* ``handshake_rejected`` (logger mpcnet.tcp, INFO): an incoming handshake failed — party, claimed, reason.
* ``session_start`` / ``session_end`` (mpcnet.party, INFO): party, session, protocol, parties / rounds,
  bytes_sent, bytes_received, seconds.
* ``round_start`` / ``round_end`` (mpcnet.session, DEBUG): party, session, round, to / from, bytes.
* ``abort`` (mpcnet.party, WARNING): party, session, reason (error class and its secret-free message).
* ``link_lost`` (mpcnet.party, INFO): party, peer, reason.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["emit"]


def emit(logger: logging.Logger, level: int, event: str, **fields: Any) -> None:
    """Log ``event`` with ``fields`` (cheap when the level is disabled)."""
    if not logger.isEnabledFor(level):
        return
    text = " ".join(f"{k}={v}" for k, v in fields.items())
    logger.log(level, "%s %s", event, text, extra={"mpcnet": {"event": event, **fields}})
