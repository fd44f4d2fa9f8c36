"""Oblivious transfer between two parties: base OTs and their extension.

* :mod:`.base` — 1-out-of-2 random base OTs (Masny-Rindal 2019, over the
  Ed25519 prime-order group), any number in one round;
* :mod:`.iknp` — IKNP OT extension (semi-honest), vectorised: random OT,
  correlated OT on 64-bit word vectors, chosen-message OT;
* :mod:`.one_of_n` — 1-out-of-N chosen-message OT from log N random OTs
  (Naor-Pinkas), 2 rounds;
* :mod:`.crhash` — the TMMO correlation-robust hash over fixed-key AES
  (Guo et al. 2020);
* :mod:`.bitmatrix` — the bit-matrix transpose.

Rounds (each one :meth:`~mpcnet.Context.exchange` step, independent of the
number of OTs): setup (128 base OTs) 1; ``random`` 1; ``correlated`` and
``chosen`` 2; :class:`OTDuplex` does both directions in the same rounds.
Both parties make the same calls in the same order; a party
outside the pair makes none. Security: semi-honest, one corrupted party
(``docs/security.md``, "Oblivious transfer").

Example (the two ends run in the two parties' protocol coroutines)::

    sender = await OTSender.setup(ctx, "p1")          # at p0
    x0, x1 = await sender.random(10**6)
    receiver = await OTReceiver.setup(ctx, "p0")      # at p1
    xr = await receiver.random(choices)               # choices: 10**6 bits
"""

from .base import BaseOTChooser, BaseOTSender, base_ot_choose, base_ot_send
from .crhash import tmmo
from .iknp import KAPPA, MAX_OTS, OTDuplex, OTReceiver, OTSender
from .one_of_n import receive_one_of_n, send_one_of_n

__all__ = [
    "KAPPA", "MAX_OTS", "BaseOTChooser", "BaseOTSender", "OTDuplex", "OTReceiver", "OTSender", "base_ot_choose",
    "base_ot_send", "receive_one_of_n", "send_one_of_n", "tmmo",
]
