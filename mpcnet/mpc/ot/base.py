"""Base OT: k random 1-out-of-2 OTs in one round, Masny-Rindal "endemic" OT
over the prime-order subgroup of Ed25519.

Masny and Rindal, "Endemic Oblivious Transfer", ACM CCS 2019 (ePrint
2019/706), section 5 (OT from a key agreement whose messages are uniform
group elements, with a random oracle H into the group). With G the subgroup
of order L of Ed25519 (libsodium's ``crypto_core_ed25519_*`` and
``crypto_scalarmult_ed25519_*noclamp``; the installed PyNaCl has no
ristretto255) and g its base point, for OT number j:

* the *chooser* (choice c_j) draws sk_j and sets pk_j = g^sk_j; draws a
  uniform r_(1-c) = g^x; sets r_c = pk_j - H(j, c, r_(1-c)); sends (r_0, r_1);
* the *sender* draws one a for the batch and sends A = g^a;
* both: the sender sets pk_(j,b) = r_b + H(j, b, r_(1-b)) for b = 0, 1 and
  its keys K_(j,b) = KDF(j, b, A, r_0, r_1, pk_(j,b)^a); the chooser's key is
  KDF(j, c, A, r_0, r_1, A^sk_j) = K_(j,c).

Neither message depends on the other, so the batch is one round of
:meth:`~mpcnet.Context.exchange` whatever k is. H is the random-oracle
hash to the group of RFC 9380 (section 3, ``hash_to_curve``): two Elligator 2
maps of a 64-byte BLAKE2b digest, added (libsodium's ``from_uniform`` clears
the cofactor of each). The KDF is BLAKE2b, 16-byte keys. The argument (what
each party learns, the assumptions) is in ``docs/security.md``, "Oblivious
transfer"; unlike Chou-Orlandi's "simplest OT" this construction is proven
(UC, random oracle, CDH) as the base of OT extension.

Every point received is checked to be a canonical encoding of an element of
G other than the identity before it is used (a RemoteProtocolViolation
naming the peer otherwise).
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np
from nacl.bindings import (
    crypto_core_ed25519_add,
    crypto_core_ed25519_from_uniform,
    crypto_core_ed25519_is_valid_point,
    crypto_core_ed25519_scalar_reduce,
    crypto_core_ed25519_sub,
    crypto_scalarmult_ed25519_base_noclamp,
    crypto_scalarmult_ed25519_noclamp,
)
from nacl.exceptions import RuntimeError as NaclRuntimeError

from ...context import Context
from ...errors import InputError, LocalProtocolViolation, RemoteProtocolViolation
from ...randomness import Randomness
from ..receive import Expect, exchange

__all__ = ["KEY_BYTES", "BaseOTChooser", "BaseOTSender", "base_ot_choose", "base_ot_send"]

#: Bytes of each base-OT key (AES-128 keys for the extension's PRG).
KEY_BYTES = 16
_POINT = 32
#: More base OTs in one call than this is a mistake (IKNP needs 128).
MAX_BASE_OTS = 4096

Keys = np.ndarray[Any, np.dtype[np.uint8]]
Array = np.ndarray[Any, Any]


def _scalar(random: Randomness) -> bytes:
    """A uniform scalar mod L, never 0 (64 random bytes reduced: bias < 2^-250)."""
    while True:
        s = crypto_core_ed25519_scalar_reduce(random.bytes(64))
        if any(s):
            return s


def _hash_to_group(j: int, b: int, point: bytes) -> bytes:
    """H(j, b, point): RFC 9380's random-oracle construction (two maps, added)."""
    h = hashlib.blake2b(j.to_bytes(4, "little") + bytes([b]) + point, digest_size=64, person=b"mpcnet-mr19-h2g").digest()
    return crypto_core_ed25519_add(crypto_core_ed25519_from_uniform(h[:32]), crypto_core_ed25519_from_uniform(h[32:]))


def _kdf(j: int, b: int, big_a: bytes, r0: bytes, r1: bytes, shared: bytes) -> bytes:
    data = j.to_bytes(4, "little") + bytes([b]) + big_a + r0 + r1 + shared
    return hashlib.blake2b(data, digest_size=KEY_BYTES, person=b"mpcnet-mr19-kdf").digest()


def _check_point(p: bytes, peer: str, what: str) -> None:
    if not crypto_core_ed25519_is_valid_point(p):
        raise RemoteProtocolViolation(f"base OT: {what} is not an element of the Ed25519 prime-order group", peer=peer)


def _check_count(k: int) -> None:
    if not 1 <= k <= MAX_BASE_OTS:
        raise LocalProtocolViolation(f"base OT: between 1 and {MAX_BASE_OTS} OTs per call")


class BaseOTSender:
    """The sender's side of a batch of ``k`` base OTs, without I/O: send
    :attr:`message`, then give the chooser's reply to :meth:`keys`."""

    def __init__(self, random: Randomness, k: int) -> None:
        _check_count(k)
        self.k = k
        self._a = _scalar(random)
        #: A = g^a (32 bytes), for the chooser.
        self.message: bytes = crypto_scalarmult_ed25519_base_noclamp(self._a)

    @property
    def expect(self) -> Expect:
        """The chooser's reply: k pairs of points."""
        return Expect.array(np.uint8, (self.k, 2, _POINT))

    def keys(self, got: Array, peer: str) -> tuple[Keys, Keys]:
        """(keys0, keys1), each (k, 16) uint8, from the chooser's checked reply
        (:attr:`expect`); RemoteProtocolViolation naming ``peer`` for a bad point."""
        keys = np.empty((2, self.k, KEY_BYTES), dtype=np.uint8)
        for j in range(self.k):
            r = (bytes(got[j, 0]), bytes(got[j, 1]))
            for b in (0, 1):
                _check_point(r[b], peer, f"the chooser's message {j}.{b}")
            for b in (0, 1):
                pk = crypto_core_ed25519_add(r[b], _hash_to_group(j, b, r[1 - b]))
                try:
                    shared = crypto_scalarmult_ed25519_noclamp(self._a, pk)
                except NaclRuntimeError:  # pk is the identity: r_b was chosen against H
                    raise RemoteProtocolViolation(f"base OT: the chooser's message {j} gives a degenerate key",
                                                  peer=peer) from None
                keys[b, j] = np.frombuffer(_kdf(j, b, self.message, r[0], r[1], shared), dtype=np.uint8)
        return keys[0], keys[1]


class BaseOTChooser:
    """The chooser's side of a batch of base OTs, without I/O: send
    :attr:`message` (which does not depend on the sender's), then give the
    sender's A to :meth:`keys`."""

    #: The sender's message: the 32 bytes of A.
    expect = Expect.data(_POINT)

    def __init__(self, random: Randomness, choices: Array) -> None:
        c = np.asarray(choices)
        if c.ndim != 1 or not np.isin(c, (0, 1)).all():
            raise InputError("base OT: the choices must be a vector of 0/1 values")
        _check_count(len(c))
        self._c = c.astype(np.uint8)
        self._secrets: list[bytes] = []
        #: (k, 2, 32) uint8: the pairs (r_0, r_1), for the sender.
        self.message = np.empty((len(c), 2, _POINT), dtype=np.uint8)
        for j, cj in enumerate(self._c.tolist()):
            sk = _scalar(random)
            self._secrets.append(sk)
            other = crypto_scalarmult_ed25519_base_noclamp(_scalar(random))  # uniform in G
            mine = crypto_core_ed25519_sub(crypto_scalarmult_ed25519_base_noclamp(sk), _hash_to_group(j, cj, other))
            self.message[j, cj] = np.frombuffer(mine, dtype=np.uint8)
            self.message[j, 1 - cj] = np.frombuffer(other, dtype=np.uint8)

    def keys(self, big_a: bytes, peer: str) -> Keys:
        """The (k, 16) uint8 chosen keys from the sender's checked A."""
        _check_point(big_a, peer, "the sender's message")
        keys = np.empty((len(self._c), KEY_BYTES), dtype=np.uint8)
        for j, sk in enumerate(self._secrets):
            shared = crypto_scalarmult_ed25519_noclamp(sk, big_a)
            r0, r1 = bytes(self.message[j, 0]), bytes(self.message[j, 1])
            keys[j] = np.frombuffer(_kdf(j, int(self._c[j]), big_a, r0, r1, shared), dtype=np.uint8)
        return keys


async def base_ot_send(ctx: Context, peer: str, k: int) -> tuple[Keys, Keys]:
    """Be the sender of ``k`` random OTs with ``peer`` (one round). Returns
    (keys0, keys1), each a (k, 16) uint8 array: the chooser learns row j of
    keys<c_j> and nothing about the other."""
    state = BaseOTSender(ctx.random, k)
    got = (await exchange(ctx, {peer: state.message}, {peer: state.expect}))[peer]
    return state.keys(got, peer)


async def base_ot_choose(ctx: Context, peer: str, choices: Array) -> Keys:
    """Be the chooser of ``len(choices)`` random OTs with ``peer`` (one
    round); ``choices`` are 0/1. Returns the (k, 16) uint8 keys chosen."""
    state = BaseOTChooser(ctx.random, choices)
    got = (await exchange(ctx, {peer: state.message}, {peer: state.expect}))[peer]
    return state.keys(got, peer)
