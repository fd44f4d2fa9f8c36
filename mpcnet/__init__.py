"""mpcnet: secure multiparty computation for Python over authenticated,
encrypted peer channels.

The public API is what this module exports; everything else is internal.
"""

import gc as _gc

# Importing mpcnet (numpy, trio, attrs classes, the protocols' tables) makes
# hundreds of thousands of objects and none of them garbage; the collector
# runs over them again and again meanwhile, about an eighth of a `mpcnet
# party` process's CPU time at start-up. It is paused for the import alone
# and resumed as the caller had it.
_gc_was_enabled = _gc.isenabled()
_gc.disable()

try:
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
finally:
    if _gc_was_enabled:
        _gc.enable()

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
