"""mpcnet's built-in protocols.

Each module registers its protocols with :func:`mpcnet.protocol` when it is
imported, using only mpcnet's public API, exactly as a third-party package
would. :func:`load` imports the module of one protocol, :func:`load_all`
every module (importing this package alone registers nothing, so that a
`mpcnet party` run imports only the protocol it runs).
"""

from __future__ import annotations

import importlib

#: Where each built-in protocol is defined (checked against the registry by
#: the tests).
MODULES = {
    "auction": "auction",
    "compare": "compare",
    "mlp-predict": "mlp.protocol",
    "dp-sum": "vote",
    "dp-vote": "vote",
    "poll": "poll",
    "prio3-aggregate": "prio3",
    "psi": "psi.protocol",
    "psi-cardinality": "psi.protocol",
    "referendum": "vote",
    "secure-average": "secure_sum",
    "secure-sum": "secure_sum",
    "stats": "stats",
    "twoparty-setup": "twoparty_setup",
    "vote": "vote",
}


def load(name: str) -> bool:
    """Import the module that registers built-in protocol ``name``; False if
    there is no such built-in."""
    module = MODULES.get(name)
    if module is None:
        return False
    importlib.import_module(f"{__name__}.{module}")
    return True


def load_all() -> None:
    """Import every built-in protocol module."""
    for module in sorted(set(MODULES.values())):
        importlib.import_module(f"{__name__}.{module}")
