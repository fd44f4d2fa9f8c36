"""mpcnet: secure multiparty computation for Python over authenticated,
encrypted peer channels.

The public API is what this module exports; everything else is internal.
"""

from . import arith, mpc, wire
from .context import Context, KeyedRandomness, OSRandomness, Randomness, SeededRandomness
from .errors import (
    ChannelBroken,
    ConfigError,
    HandshakeError,
    InputError,
    LocalProtocolViolation,
    MPCError,
    PeerTimeout,
    ProtocolViolation,
    RemoteProtocolViolation,
    SessionAborted,
    WireError,
)
from .identity import Roster, SecretKey, generate_key, load_key_file, load_roster
from .party import Party, PartyResult
from .registry import Param, ProtocolSpec, all_protocols, get_protocol, protocol
from .runner import SimulationResult, open_party, run_party, run_party_async, simulate, simulate_async
from .session import SessionStats, derive_session_id, new_session_id

__version__ = "0.1.0"

__all__ = [
    "arith",
    "mpc",
    "wire",
    "Context",
    "Randomness",
    "OSRandomness",
    "KeyedRandomness",
    "SeededRandomness",
    "MPCError",
    "ConfigError",
    "InputError",
    "WireError",
    "HandshakeError",
    "ChannelBroken",
    "PeerTimeout",
    "ProtocolViolation",
    "LocalProtocolViolation",
    "RemoteProtocolViolation",
    "SessionAborted",
    "Roster",
    "SecretKey",
    "generate_key",
    "load_key_file",
    "load_roster",
    "Party",
    "PartyResult",
    "Param",
    "ProtocolSpec",
    "protocol",
    "get_protocol",
    "all_protocols",
    "SimulationResult",
    "simulate",
    "simulate_async",
    "run_party",
    "run_party_async",
    "open_party",
    "derive_session_id",
    "SessionStats",
    "new_session_id",
]
