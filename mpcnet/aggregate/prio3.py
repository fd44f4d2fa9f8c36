"""Prio3, the VDAF of draft-irtf-cfrg-vdaf-20 §7.2, over any validity circuit, and its variants (§7.4).

One client *shards* a measurement (§7.2.1): the encoded measurement and ``PROOFS`` FLP proofs are
split into additive shares; the leader (aggregator 0) receives its shares in full, every helper a
32-byte seed that expands to its shares. Circuits with joint randomness derive it Fiat–Shamir style
from *joint randomness parts*, one per aggregator, each a hash of that aggregator's measurement
share under a blind; the parts travel in the public share.

Each aggregator *verifies* (§7.2.2) in one round: ``verify_init`` queries its shares (recomputing
its own joint randomness part), the verifier shares are combined by ``verifier_shares_to_message``
(which decides each proof and fixes the joint randomness seed), and ``verify_next`` checks that
seed against the one the aggregator used, releasing the output share. Output shares are summed
(``agg_update``/``merge``, §7.2.4) and the collector adds the aggregate shares and decodes
(``unshard``, §7.2.5). §7.2.7 fixes the byte encodings; decoding rejects every malformed message.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from ..errors import InputError, MPCError, WireError
from .circuits import Count, Histogram, MultihotCountVec, Sum, SumVec
from .field import Field64, Field128, FieldDecodeError, NttField
from .flp import Flp, ValidityCircuit
from .xof import XofTurboShake128, format_dst

__all__ = [
    "Prio3", "LeaderShare", "HelperShare", "VerifyState", "VerifierShare",
    "ReportRejected", "VdafDecodeError",
    "prio3_count", "prio3_sum", "prio3_sumvec", "prio3_histogram", "prio3_multihot_countvec",
]

M = TypeVar("M")
R = TypeVar("R")

# Usage values of the domain separation tags (draft §7.2, table "Constants used by Prio3").
USAGE_MEAS_SHARE = 1
USAGE_PROOF_SHARE = 2
USAGE_JOINT_RANDOMNESS = 3
USAGE_PROVE_RANDOMNESS = 4
USAGE_QUERY_RANDOMNESS = 5
USAGE_JOINT_RAND_SEED = 6
USAGE_JOINT_RAND_PART = 7


class ReportRejected(MPCError, ValueError):
    """Verification refused a report: a proof failed, or the joint randomness did not match."""


class VdafDecodeError(WireError, ValueError):
    """A Prio3 message has the wrong length or holds a value that is not a field element."""


@attrs.frozen
class LeaderShare:
    """Aggregator 0's input share: measurement share, proof shares, and blind if joint randomness is used."""

    meas_share: list[int]
    proofs_share: list[int]
    blind: bytes | None


@attrs.frozen
class HelperShare:
    """A helper's input share: the seed its shares expand from, and blind if joint randomness is used."""

    seed: bytes
    blind: bytes | None


InputShare = LeaderShare | HelperShare


@attrs.frozen
class VerifyState:
    """An aggregator's state between ``verify_init`` and ``verify_next``."""

    out_share: list[int]
    corrected_joint_rand_seed: bytes | None


@attrs.frozen
class VerifierShare:
    """What an aggregator broadcasts after ``verify_init``."""

    verifiers_share: list[int]
    joint_rand_part: bytes | None


class Prio3(Generic[M, R]):
    """Prio3 over a validity circuit, with ``shares`` aggregators and ``proofs`` proofs (draft §7.2)."""

    xof = XofTurboShake128
    NONCE_SIZE = 16
    ROUNDS = 1

    def __init__(self, vdaf_id: int, valid: ValidityCircuit[M, R], shares: int, proofs: int = 1) -> None:
        if not 2 <= shares < 256:
            raise ValueError("Prio3: shares must be in [2, 256)")
        if not 1 <= proofs < 256:
            raise ValueError("Prio3: proofs must be in [1, 256)")
        self.ID = vdaf_id
        self.flp: Flp[M, R] = Flp(valid)
        self.field: NttField = valid.field
        self.SHARES = shares
        self.PROOFS = proofs
        seed = self.xof.SEED_SIZE
        self.VERIFY_KEY_SIZE = seed
        self.uses_joint_rand = self.flp.JOINT_RAND_LEN > 0
        self.RAND_SIZE = seed * shares * (2 if self.uses_joint_rand else 1)

    def domain_separation_tag(self, usage: int, ctx: bytes) -> bytes:
        """``format_dst(0, ID, usage) || ctx`` (draft §5)."""
        return format_dst(0, self.ID, usage) + ctx

    # -- §7.2.1 sharding -------------------------------------------------------
    def shard(self, ctx: bytes, measurement: M, nonce: bytes, rand: bytes) -> tuple[list[bytes] | None, list[InputShare]]:
        """Split ``measurement`` into a public share and one input share per aggregator.

        ``rand`` is ``RAND_SIZE`` uniformly random bytes (from the OS, outside tests).
        """
        try:
            meas = self.flp.valid.encode(measurement)
        except (TypeError, ValueError) as exc:
            raise InputError(f"invalid measurement: {exc}") from exc
        return self.shard_encoded(ctx, meas, nonce, rand)

    def shard_encoded(
        self, ctx: bytes, meas: list[int], nonce: bytes, rand: bytes
    ) -> tuple[list[bytes] | None, list[InputShare]]:
        """Shard an already encoded measurement (no validity check: also what a cheating client does)."""
        if len(nonce) != self.NONCE_SIZE:
            raise InputError("incorrect nonce size")
        if len(rand) != self.RAND_SIZE:
            raise InputError("incorrect size of random bytes argument")
        if len(meas) != self.flp.MEAS_LEN:
            raise InputError("encoded measurement has the wrong length")
        size = self.xof.SEED_SIZE
        seeds = [rand[i : i + size] for i in range(0, self.RAND_SIZE, size)]
        p = self.field.MODULUS
        if self.uses_joint_rand:
            helper_seeds = seeds[0 : 2 * (self.SHARES - 1) : 2]
            helper_blinds: list[bytes | None] = list(seeds[1 : 2 * (self.SHARES - 1) : 2])
            leader_blind, prove_seed = seeds[2 * (self.SHARES - 1)], seeds[2 * (self.SHARES - 1) + 1]
        else:
            helper_seeds = seeds[: self.SHARES - 1]
            helper_blinds = [None] * (self.SHARES - 1)
            leader_blind, prove_seed = None, seeds[self.SHARES - 1]

        leader_meas = list(meas)
        parts: list[bytes] = []
        for j, seed in enumerate(helper_seeds):
            helper_meas = self.helper_meas_share(ctx, j + 1, seed)
            leader_meas = [(a - b) % p for a, b in zip(leader_meas, helper_meas, strict=True)]
            if self.uses_joint_rand:
                blind = helper_blinds[j]
                assert blind is not None
                parts.append(self.joint_rand_part(ctx, j + 1, blind, helper_meas, nonce))
        public_share: list[bytes] | None = None
        joint_rands: list[int] = []
        if self.uses_joint_rand:
            assert leader_blind is not None
            parts.insert(0, self.joint_rand_part(ctx, 0, leader_blind, leader_meas, nonce))
            public_share = parts
            joint_rands = self.joint_rands(ctx, self.joint_rand_seed(ctx, parts))

        prove_rands = self.prove_rands(ctx, prove_seed)
        n_prove, n_joint = self.flp.PROVE_RAND_LEN, self.flp.JOINT_RAND_LEN
        proofs: list[int] = []
        for i in range(self.PROOFS):
            prove_rand = prove_rands[i * n_prove : (i + 1) * n_prove]
            proofs += self.flp.prove(meas, prove_rand, joint_rands[i * n_joint : (i + 1) * n_joint])
        for j, seed in enumerate(helper_seeds):
            proofs = [(a - b) % p for a, b in zip(proofs, self.helper_proofs_share(ctx, j + 1, seed), strict=True)]

        shares: list[InputShare] = [LeaderShare(leader_meas, proofs, leader_blind)]
        shares += [HelperShare(seed, blind) for seed, blind in zip(helper_seeds, helper_blinds, strict=True)]
        return public_share, shares

    # -- §7.2.2 verification ---------------------------------------------------
    def verify_init(self, verify_key: bytes, ctx: bytes, agg_id: int, nonce: bytes, public_share: list[bytes] | None,
                    input_share: InputShare) -> tuple[VerifyState, VerifierShare]:
        """Query this aggregator's shares; returns its state and its verifier share to broadcast."""
        if len(verify_key) != self.VERIFY_KEY_SIZE:
            raise InputError("incorrect verify key size")
        if len(nonce) != self.NONCE_SIZE:
            raise InputError("incorrect nonce size")
        meas_share, proofs_share, blind = self.expand_input_share(ctx, agg_id, input_share)
        out_share = self.flp.valid.truncate(meas_share)
        joint_rands: list[int] = []
        corrected_seed = part = None
        if self.uses_joint_rand:
            if blind is None or public_share is None or len(public_share) != self.SHARES:
                raise VdafDecodeError("joint randomness blind or public share missing")
            part = self.joint_rand_part(ctx, agg_id, blind, meas_share, nonce)
            parts = list(public_share)
            parts[agg_id] = part
            corrected_seed = self.joint_rand_seed(ctx, parts)
            joint_rands = self.joint_rands(ctx, corrected_seed)
        query_rands = self.query_rands(verify_key, ctx, nonce)
        n_proof, n_query, n_joint = self.flp.PROOF_LEN, self.flp.QUERY_RAND_LEN, self.flp.JOINT_RAND_LEN
        verifiers: list[int] = []
        for i in range(self.PROOFS):
            verifiers += self._query(
                meas_share,
                proofs_share[i * n_proof : (i + 1) * n_proof],
                query_rands[i * n_query : (i + 1) * n_query],
                joint_rands[i * n_joint : (i + 1) * n_joint],
                self.SHARES,
            )
        return VerifyState(out_share, corrected_seed), VerifierShare(verifiers, part)

    def _query(self, meas: list[int], proof: list[int], query_rand: list[int], joint_rand: list[int], shares: int) -> list[int]:
        try:
            return self.flp.query(meas, proof, query_rand, joint_rand, shares)
        except ValueError as exc:  # a test point on the wires' roots of unity (draft §7.3.4): refuse the report
            raise ReportRejected(str(exc)) from exc

    def verifier_shares_to_message(self, ctx: bytes, verifier_shares: list[VerifierShare]) -> bytes | None:
        """Combine all verifier shares, decide every proof; the message is the joint randomness seed.

        Raises :class:`ReportRejected` if a proof fails.
        """
        if len(verifier_shares) != self.SHARES:
            raise InputError(f"need {self.SHARES} verifier shares, got {len(verifier_shares)}")
        p = self.field.MODULUS
        length = self.flp.VERIFIER_LEN * self.PROOFS
        verifiers = [0] * length
        for share in verifier_shares:
            if len(share.verifiers_share) != length:
                raise VdafDecodeError("verifier share has the wrong length")
            verifiers = [(a + b) % p for a, b in zip(verifiers, share.verifiers_share, strict=True)]
        n = self.flp.VERIFIER_LEN
        for i in range(self.PROOFS):
            if not self.flp.decide(verifiers[i * n : (i + 1) * n]):
                raise ReportRejected("proof verifier check failed")
        if not self.uses_joint_rand:
            return None
        parts = [s.joint_rand_part for s in verifier_shares]
        if any(part is None for part in parts):
            raise VdafDecodeError("a verifier share lacks its joint randomness part")
        return self.joint_rand_seed(ctx, [part for part in parts if part is not None])

    def verify_next(self, ctx: bytes, state: VerifyState, message: bytes | None) -> list[int]:
        """Check the joint randomness seed and release the output share (raises :class:`ReportRejected`)."""
        if message != state.corrected_joint_rand_seed:
            raise ReportRejected("joint randomness check failed")
        return state.out_share

    # -- §7.2.3–7.2.5 aggregation and unsharding ------------------------------
    def is_valid(self, previous_agg_params: list[None]) -> bool:
        """Prio3 has no aggregation parameter: a report may be aggregated once only (draft §7.2.3)."""
        return len(previous_agg_params) == 0

    def agg_init(self) -> list[int]:
        """An empty aggregate share."""
        return [0] * self.flp.OUTPUT_LEN

    def agg_update(self, agg_share: list[int], out_share: list[int]) -> list[int]:
        """Add one output share."""
        if len(out_share) != len(agg_share):
            raise InputError("output share has the wrong length")
        p = self.field.MODULUS
        return [(a + b) % p for a, b in zip(agg_share, out_share, strict=True)]

    def merge(self, agg_shares: list[list[int]]) -> list[int]:
        """Sum aggregate shares."""
        agg = self.agg_init()
        for share in agg_shares:
            agg = self.agg_update(agg, share)
        return agg

    def unshard(self, agg_shares: list[list[int]], num_measurements: int) -> R:
        """The aggregate result from every aggregator's aggregate share."""
        if len(agg_shares) != self.SHARES:
            raise InputError(f"need {self.SHARES} aggregate shares, got {len(agg_shares)}")
        return self.flp.valid.decode(self.merge(agg_shares), num_measurements)

    # -- §7.2.6 auxiliary functions --------------------------------------------
    def helper_meas_share(self, ctx: bytes, agg_id: int, seed: bytes) -> list[int]:
        """A helper's measurement share, expanded from its seed."""
        dst = self.domain_separation_tag(USAGE_MEAS_SHARE, ctx)
        return self.xof.expand_into_vec(self.field, seed, dst, bytes([agg_id]), self.flp.MEAS_LEN)

    def helper_proofs_share(self, ctx: bytes, agg_id: int, seed: bytes) -> list[int]:
        """A helper's proof shares, expanded from its seed."""
        dst = self.domain_separation_tag(USAGE_PROOF_SHARE, ctx)
        return self.xof.expand_into_vec(self.field, seed, dst, bytes([self.PROOFS, agg_id]), self.flp.PROOF_LEN * self.PROOFS)

    def expand_input_share(self, ctx: bytes, agg_id: int, share: InputShare) -> tuple[list[int], list[int], bytes | None]:
        """(measurement share, proof shares, blind) of aggregator ``agg_id``."""
        if not 0 <= agg_id < self.SHARES:
            raise InputError(f"aggregator id {agg_id} outside [0, {self.SHARES})")
        if agg_id == 0:
            if not isinstance(share, LeaderShare):
                raise InputError("aggregator 0 needs the leader's input share")
            return share.meas_share, share.proofs_share, share.blind
        if not isinstance(share, HelperShare):
            raise InputError("a helper needs a helper's input share")
        return self.helper_meas_share(ctx, agg_id, share.seed), self.helper_proofs_share(ctx, agg_id, share.seed), share.blind

    def prove_rands(self, ctx: bytes, seed: bytes) -> list[int]:
        """The prover randomness of every proof."""
        dst = self.domain_separation_tag(USAGE_PROVE_RANDOMNESS, ctx)
        return self.xof.expand_into_vec(self.field, seed, dst, bytes([self.PROOFS]), self.flp.PROVE_RAND_LEN * self.PROOFS)

    def query_rands(self, verify_key: bytes, ctx: bytes, nonce: bytes) -> list[int]:
        """The query randomness of every proof, from the aggregators' shared verify key and the nonce."""
        dst = self.domain_separation_tag(USAGE_QUERY_RANDOMNESS, ctx)
        length = self.flp.QUERY_RAND_LEN * self.PROOFS
        return self.xof.expand_into_vec(self.field, verify_key, dst, bytes([self.PROOFS]) + nonce, length)

    def joint_rand_part(self, ctx: bytes, agg_id: int, blind: bytes, meas_share: list[int], nonce: bytes) -> bytes:
        """One aggregator's joint randomness part: a hash of its measurement share under its blind."""
        dst = self.domain_separation_tag(USAGE_JOINT_RAND_PART, ctx)
        return self.xof.derive_seed(blind, dst, bytes([agg_id]) + nonce + self.field.encode_vec(meas_share))

    def joint_rand_seed(self, ctx: bytes, parts: list[bytes]) -> bytes:
        """The joint randomness seed from all parts."""
        dst = self.domain_separation_tag(USAGE_JOINT_RAND_SEED, ctx)
        return self.xof.derive_seed(bytes(self.xof.SEED_SIZE), dst, b"".join(parts))

    def joint_rands(self, ctx: bytes, seed: bytes) -> list[int]:
        """The joint randomness of every proof."""
        dst = self.domain_separation_tag(USAGE_JOINT_RANDOMNESS, ctx)
        return self.xof.expand_into_vec(self.field, seed, dst, bytes([self.PROOFS]), self.flp.JOINT_RAND_LEN * self.PROOFS)

    # -- §7.2.7 message serialization -----------------------------------------
    def encode_public_share(self, public_share: list[bytes] | None) -> bytes:
        """Empty without joint randomness, else the concatenated parts."""
        return b"" if public_share is None else b"".join(public_share)

    def decode_public_share(self, encoded: bytes) -> list[bytes] | None:
        """Inverse of :meth:`encode_public_share`; a wrong length raises :class:`VdafDecodeError`."""
        size = self.xof.SEED_SIZE
        expected = size * self.SHARES if self.uses_joint_rand else 0
        if len(encoded) != expected:
            raise VdafDecodeError(f"public share: expected {expected} bytes, got {len(encoded)}")
        if not self.uses_joint_rand:
            return None
        return [encoded[i : i + size] for i in range(0, expected, size)]

    def encode_input_share(self, share: InputShare) -> bytes:
        """Leader: measurement share || proof shares [|| blind]; helper: seed [|| blind]."""
        blind = share.blind or b""
        if isinstance(share, LeaderShare):
            return self.field.encode_vec(share.meas_share) + self.field.encode_vec(share.proofs_share) + blind
        return share.seed + blind

    def decode_input_share(self, agg_id: int, encoded: bytes) -> InputShare:
        """Parse aggregator ``agg_id``'s input share; malformed bytes raise :class:`VdafDecodeError`."""
        size = self.xof.SEED_SIZE
        blind_len = size if self.uses_joint_rand else 0
        if agg_id == 0:
            n_meas, n_proof = self.flp.MEAS_LEN, self.flp.PROOF_LEN * self.PROOFS
            expected = self.field.ENCODED_SIZE * (n_meas + n_proof) + blind_len
            if len(encoded) != expected:
                raise VdafDecodeError(f"leader input share: expected {expected} bytes, got {len(encoded)}")
            cut = self.field.ENCODED_SIZE * n_meas
            end = len(encoded) - blind_len
            try:
                meas = self.field.decode_vec(encoded[:cut], n_meas)
                proofs = self.field.decode_vec(encoded[cut:end], n_proof)
            except FieldDecodeError as exc:
                raise VdafDecodeError(f"leader input share: {exc}") from exc
            return LeaderShare(meas, proofs, encoded[end:] if blind_len else None)
        if not 0 < agg_id < self.SHARES:
            raise InputError(f"aggregator id {agg_id} outside [0, {self.SHARES})")
        if len(encoded) != size + blind_len:
            raise VdafDecodeError(f"helper input share: expected {size + blind_len} bytes, got {len(encoded)}")
        return HelperShare(encoded[:size], encoded[size:] if blind_len else None)

    def encode_verifier_share(self, share: VerifierShare) -> bytes:
        """Verifier shares [|| joint randomness part]."""
        return self.field.encode_vec(share.verifiers_share) + (share.joint_rand_part or b"")

    def decode_verifier_share(self, encoded: bytes) -> VerifierShare:
        """Parse a verifier share; malformed bytes raise :class:`VdafDecodeError`."""
        n = self.flp.VERIFIER_LEN * self.PROOFS
        part_len = self.xof.SEED_SIZE if self.uses_joint_rand else 0
        expected = n * self.field.ENCODED_SIZE + part_len
        if len(encoded) != expected:
            raise VdafDecodeError(f"verifier share: expected {expected} bytes, got {len(encoded)}")
        cut = n * self.field.ENCODED_SIZE
        try:
            verifiers = self.field.decode_vec(encoded[:cut], n)
        except FieldDecodeError as exc:
            raise VdafDecodeError(f"verifier share: {exc}") from exc
        return VerifierShare(verifiers, encoded[cut:] if part_len else None)

    def encode_verifier_message(self, message: bytes | None) -> bytes:
        """Empty, or the joint randomness seed."""
        return message or b""

    def decode_verifier_message(self, encoded: bytes) -> bytes | None:
        """Parse a verifier message; a wrong length raises :class:`VdafDecodeError`."""
        expected = self.xof.SEED_SIZE if self.uses_joint_rand else 0
        if len(encoded) != expected:
            raise VdafDecodeError(f"verifier message: expected {expected} bytes, got {len(encoded)}")
        return encoded if self.uses_joint_rand else None

    def encode_agg_share(self, agg_share: list[int]) -> bytes:
        """An aggregate (or output) share as field elements."""
        return self.field.encode_vec(agg_share)

    def decode_agg_share(self, encoded: bytes) -> list[int]:
        """Parse an aggregate share; malformed bytes raise :class:`VdafDecodeError`."""
        try:
            return self.field.decode_vec(encoded, self.flp.OUTPUT_LEN)
        except FieldDecodeError as exc:
            raise VdafDecodeError(f"aggregate share: {exc}") from exc


# -- §7.4 the variants -----------------------------------------------------------
def prio3_count(shares: int = 2) -> Prio3[int, int]:
    """Prio3Count (ID 1): Field64, one proof (draft §7.4.1)."""
    return Prio3(0x00000001, Count(Field64), shares)


def prio3_sum(max_measurement: int, shares: int = 2) -> Prio3[int, int]:
    """Prio3Sum (ID 2): integers in ``[0, max_measurement]``, Field64, one proof (draft §7.4.2)."""
    return Prio3(0x00000002, Sum(Field64, max_measurement), shares)


def prio3_sumvec(length: int, max_measurement: int, chunk_length: int, shares: int = 2) -> Prio3[list[int], list[int]]:
    """Prio3SumVec (ID 3): vectors of integers in ``[0, max_measurement]``, Field128 (draft §7.4.3)."""
    return Prio3(0x00000003, SumVec(Field128, length, max_measurement, chunk_length), shares)


def prio3_histogram(length: int, chunk_length: int, shares: int = 2) -> Prio3[int, list[int]]:
    """Prio3Histogram (ID 4): one of ``length`` buckets, Field128 (draft §7.4.4)."""
    return Prio3(0x00000004, Histogram(Field128, length, chunk_length), shares)


def prio3_multihot_countvec(length: int, max_weight: int, chunk_length: int, shares: int = 2) -> Prio3[list[bool], list[int]]:
    """Prio3MultihotCountVec (ID 5): 0/1 vectors of weight at most ``max_weight``, Field128 (draft §7.4.5)."""
    return Prio3(0x00000005, MultihotCountVec(Field128, length, max_weight, chunk_length), shares)
