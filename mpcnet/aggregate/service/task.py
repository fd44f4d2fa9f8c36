"""Tasks, aggregator configurations, and the bytes clients and aggregators exchange.

A **task file** (JSON, public: clients, aggregators and the collector all read it) names the
VDAF and its parameters, the task id, the aggregators' addresses and public keys, and the batch
rules. An **aggregator configuration** (TOML, secret: mode 0600) names the task file, the role,
the database file, the two key files and the VDAF verify key shared by the two aggregators.

Encryption of input shares: a NaCl sealed box (``crypto_box_seal``: an ephemeral X25519 key,
XSalsa20-Poly1305) to the aggregator's *report key* (a key of its own, not its mesh key). A
sealed box has no associated data, so the plaintext starts with a binding prefix (domain,
aggregator role, task id, report id, time, SHA-256 of the public share) that the aggregator
rebuilds and compares: a share cut from one report and pasted into another, or sent to the other
aggregator, fails like an undecryptable one. Aggregate shares are sealed to the collector the
same way, bound to the task, the collection, the role, the interval and the report count.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import attrs
import msgpack
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey, PublicKey, SealedBox

from ...errors import ConfigError
from ...identity import Roster, SecretKey, format_public_key, load_key_file, parse_public_key
from ..simulation import VdafConfig

__all__ = [
    "Task", "AggregatorEndpoint", "AggregatorConfig", "Report", "load_task", "load_config",
    "encode_report", "decode_report", "ReportDecodeError", "seal", "open_sealed", "share_binding",
    "aggregate_binding", "sensitivity", "b64", "unb64", "LEADER", "HELPER", "collector_token", "parse_epsilon",
]

LEADER, HELPER = 0, 1
ROLES = {"leader": LEADER, "helper": HELPER}
SEAL_OVERHEAD = 48  # crypto_box_SEALBYTES: the ephemeral public key (32) and the tag (16)
_SHARE_DOMAIN = b"mpcnet-dap-input-share/1"
_AGG_DOMAIN = b"mpcnet-dap-aggregate-share/2"  # /2: the binding names the epsilon


def b64(data: bytes) -> str:
    """URL-safe base64 without padding (DAP's encoding of ids in URLs)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str, size: int, what: str) -> bytes:
    """Inverse of :func:`b64`; :class:`ValueError` naming ``what`` unless it decodes to ``size`` bytes."""
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"{what} is not URL-safe base64") from None
    if len(raw) != size:
        raise ValueError(f"{what} must be {size} bytes, got {len(raw)}")
    return raw


@attrs.frozen
class AggregatorEndpoint:
    """What everyone knows about one aggregator: where it is and its public keys."""

    mesh_address: str  # host:port of its mpcnet mesh listener
    mesh_public_key: bytes  # its Noise static key (authenticates the aggregator-to-aggregator channel)
    report_public_key: bytes  # clients seal its input shares to this key
    url: str | None = None  # the leader's HTTP base URL (clients and the collector use it)


@attrs.frozen
class Task:
    """One DAP-style task: the VDAF, the aggregators, the collector and the batch rules."""

    task_id: bytes  # 32 bytes
    vdaf: VdafConfig
    leader: AggregatorEndpoint
    helper: AggregatorEndpoint
    collector_public_key: bytes
    time_precision: int = 60  # seconds; batches are unions of [k*p, (k+1)*p) buckets
    min_batch_size: int = 1  # a collection of fewer reports is refused
    tolerable_clock_skew: int = 60  # a report time this far in the future is still accepted
    report_expiry_age: int = 7 * 86400  # an older report is rejected
    max_epsilon: Fraction | None = None  # if set, every collection must add noise with epsilon <= this
    collector_auth_sha256: bytes = b""  # SHA-256 of the collector's bearer token (see collector_token)

    @property
    def context(self) -> bytes:
        """The Prio3 application context: binds every proof to this task."""
        return b"mpcnet-dap/" + self.task_id

    def bucket(self, time: int) -> int:
        """The start of the time bucket holding ``time``."""
        return time - time % self.time_precision

    def roster(self) -> Roster:
        """The two-party mesh: leader (index 0, dials) and helper."""
        return Roster.from_entries([("leader", self.leader.mesh_address, self.leader.mesh_public_key),
                                    ("helper", self.helper.mesh_address, self.helper.mesh_public_key)])

    def to_json(self) -> dict[str, Any]:
        """The task file's content."""
        def endpoint(e: AggregatorEndpoint) -> dict[str, Any]:
            out = {"mesh_address": e.mesh_address, "mesh_public_key": format_public_key(e.mesh_public_key),
                   "report_public_key": format_public_key(e.report_public_key)}
            if e.url is not None:
                out["url"] = e.url
            return out
        v = self.vdaf
        return {"task_id": b64(self.task_id),
                "vdaf": {"kind": v.kind, "length": v.length, "bits": v.bits, "max_weight": v.max_weight},
                "time_precision": self.time_precision, "min_batch_size": self.min_batch_size,
                "tolerable_clock_skew": self.tolerable_clock_skew, "report_expiry_age": self.report_expiry_age,
                "max_epsilon": None if self.max_epsilon is None else str(self.max_epsilon),
                "leader": endpoint(self.leader), "helper": endpoint(self.helper),
                "collector_public_key": format_public_key(self.collector_public_key),
                "collector_auth_sha256": self.collector_auth_sha256.hex()}


def _field(data: Mapping[str, Any], key: str, kind: type, where: str, default: Any = ...) -> Any:
    if key not in data:
        if default is ...:
            raise ConfigError(f"{where}: missing {key!r}")
        return default
    value = data[key]
    if kind is int and (type(value) is not int or value < 0):
        raise ConfigError(f"{where}: {key!r} must be a non-negative integer")
    if kind is not int and not isinstance(value, kind):
        raise ConfigError(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def task_from_json(data: Any, where: str = "task") -> Task:
    """Parse a task file's content; :class:`ConfigError` naming the bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: a task is a JSON object")
    try:
        task_id = unb64(_field(data, "task_id", str, where), 32, "task_id")
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    v = _field(data, "vdaf", dict, where)
    vdaf = VdafConfig(_field(v, "kind", str, where + " vdaf"), length=_field(v, "length", int, where, 1),
                      bits=_field(v, "bits", int, where, 8), max_weight=v.get("max_weight"))
    vdaf.vdaf()  # parameters checked now

    def endpoint(name: str) -> AggregatorEndpoint:
        e = _field(data, name, dict, where)
        return AggregatorEndpoint(_field(e, "mesh_address", str, f"{where} {name}"),
                                  parse_public_key(_field(e, "mesh_public_key", str, f"{where} {name}")),
                                  parse_public_key(_field(e, "report_public_key", str, f"{where} {name}")),
                                  e.get("url"))

    eps = data.get("max_epsilon")
    max_epsilon: Fraction | None = None
    try:
        if isinstance(eps, (int, float)) and not isinstance(eps, bool):
            # a JSON number: its exponent is bounded (a float's), so Fraction is safe; a string is not
            max_epsilon = Fraction(str(eps))
            if not max_epsilon > 0:
                raise ValueError
        elif eps is not None:
            max_epsilon = parse_epsilon(eps if isinstance(eps, str) else "")
    except (ValueError, OverflowError):
        raise ConfigError(f"{where}: max_epsilon must be a positive number such as 0.5 or 1/2") from None
    task = Task(task_id, vdaf, endpoint("leader"), endpoint("helper"),
                parse_public_key(_field(data, "collector_public_key", str, where)),
                _field(data, "time_precision", int, where, 60), _field(data, "min_batch_size", int, where, 1),
                _field(data, "tolerable_clock_skew", int, where, 60), _field(data, "report_expiry_age", int, where, 7 * 86400),
                max_epsilon, _auth_hash(data, where))
    if task.time_precision < 1:
        raise ConfigError(f"{where}: time_precision must be at least 1 second")
    if not task.leader.url:
        raise ConfigError(f"{where}: the leader needs a 'url' (clients upload to it)")
    task.roster()  # addresses checked now
    return task


def _auth_hash(data: Mapping[str, Any], where: str) -> bytes:
    try:
        raw = bytes.fromhex(_field(data, "collector_auth_sha256", str, where))
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"{where}: collector_auth_sha256 must be 64 hex digits")
    return raw


_EPSILON = re.compile(r"([0-9]{1,20})(?:\.([0-9]{1,20}))?|([0-9]{1,40})/([0-9]{1,40})")


def parse_epsilon(text: str) -> Fraction:
    """A privacy budget written as a decimal (``0.5``, up to 20 digits each side of the point) or a
    fraction (``1/2``, up to 40 digits each side of the slash): the exact positive
    :class:`~fractions.Fraction`; :class:`ValueError` for anything else.

    Deliberately narrower than ``Fraction(text)``, which accepts exponents: ``Fraction("1e-99999999")``
    computes a 10**99999999 and would stall the aggregator (a remote string reaches this).
    """
    m = _EPSILON.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        raise ValueError("epsilon must be a positive number such as 0.5 or 1/2")
    # (digits and at most one point or slash: no exponent left to blow up)
    value = Fraction(text) if m[1] is not None else Fraction(int(m[3]), int(m[4])) if int(m[4]) else Fraction(0)
    if value <= 0:
        raise ValueError("epsilon must be a positive number such as 0.5 or 1/2")
    return value


def collector_token(collector_key: SecretKey, task_id: bytes) -> bytes:
    """The collector's bearer token for a task, derived from its secret key (so it needs no file of its
    own); the task file holds only its SHA-256, which the leader checks."""
    return hmac.new(collector_key.private, b"mpcnet-dap-collector-auth/1" + task_id, hashlib.sha256).digest()


def load_task(path: str | os.PathLike[str]) -> Task:
    """Read a task file (JSON)."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read task file {path}: {exc.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"task file {path} is not valid JSON: {exc}") from None
    return task_from_json(data, f"task file {path}")


@attrs.frozen(repr=False)
class AggregatorConfig:
    """One aggregator's configuration (secret: it holds the verify key and names the key files)."""

    role: int  # LEADER or HELPER
    task: Task
    database: Path
    mesh_key: SecretKey
    report_key: SecretKey
    verify_key: bytes
    listen: str = "127.0.0.1:8080"  # leader: where the HTTP server binds
    job_size: int = 1000  # reports per aggregation job
    max_body: int = 64 * 1024  # bytes of one upload
    max_pending: int = 1_000_000  # uploaded but not yet aggregated reports; beyond it uploads get 503
    max_inflight: int = 256  # uploads being read at once; beyond it 503
    synchronous: str = "NORMAL"  # SQLite: NORMAL survives a killed process, FULL also a power cut

    def __repr__(self) -> str:
        return f"AggregatorConfig(role={self.role}, database={str(self.database)!r})"


def load_config(path: str | os.PathLike[str]) -> AggregatorConfig:
    """Read an aggregator configuration (TOML); paths in it are relative to its directory."""
    path = Path(path)
    try:
        st = path.stat()
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read configuration {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"configuration {path} is not valid TOML: {exc}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"configuration {path} holds the verify key but is accessible by group or others; "
                          f"run: chmod 600 {path}")
    where = f"configuration {path}"
    known = {"role", "task", "database", "mesh_key", "report_key", "verify_key", "listen", "job_size", "max_body",
             "max_pending", "max_inflight", "synchronous"}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)}")
    role = _field(data, "role", str, where)
    if role not in ROLES:
        raise ConfigError(f"{where}: role must be 'leader' or 'helper'")
    base = path.parent
    task = load_task(base / _field(data, "task", str, where))
    try:
        verify_key = bytes.fromhex(_field(data, "verify_key", str, where))
    except ValueError:
        raise ConfigError(f"{where}: verify_key must be hex") from None
    if len(verify_key) != task.vdaf.vdaf().VERIFY_KEY_SIZE:
        raise ConfigError(f"{where}: verify_key must be {task.vdaf.vdaf().VERIFY_KEY_SIZE} bytes")
    mesh_key = load_key_file(base / _field(data, "mesh_key", str, where))
    report_key = load_key_file(base / _field(data, "report_key", str, where))
    me = task.leader if role == "leader" else task.helper
    if mesh_key.name != role:
        raise ConfigError(f"{where}: the mesh key must belong to {role!r} (its roster name), not {mesh_key.name!r}")
    if mesh_key.public != me.mesh_public_key:
        raise ConfigError(f"{where}: mesh_key does not match the task file's {role} mesh_public_key")
    if report_key.public != me.report_public_key:
        raise ConfigError(f"{where}: report_key does not match the task file's {role} report_public_key")
    sync = _field(data, "synchronous", str, where, "NORMAL").upper()
    if sync not in ("NORMAL", "FULL"):
        raise ConfigError(f"{where}: synchronous must be 'NORMAL' or 'FULL'")
    config = AggregatorConfig(ROLES[role], task, base / _field(data, "database", str, where), mesh_key, report_key,
                              verify_key, _field(data, "listen", str, where, "127.0.0.1:8080"),
                              _field(data, "job_size", int, where, 1000), _field(data, "max_body", int, where, 64 * 1024),
                              _field(data, "max_pending", int, where, 1_000_000),
                              _field(data, "max_inflight", int, where, 256), sync)
    if config.job_size < 1 or config.max_inflight < 1:
        raise ConfigError(f"{where}: job_size and max_inflight must be at least 1")
    return config


# -- reports -------------------------------------------------------------------------------------
class ReportDecodeError(ValueError):
    """An upload body that is not a report."""


@attrs.frozen
class Report:
    """One client upload (DAP's Report, msgpack-encoded instead of TLS syntax)."""

    report_id: bytes  # 16 bytes, random; also the Prio3 nonce
    time: int  # seconds since the epoch, rounded down to the task's time precision
    public_share: bytes
    leader_encrypted_share: bytes
    helper_encrypted_share: bytes


_REPORT_KEYS = ("report_id", "time", "public_share", "leader_encrypted_share", "helper_encrypted_share")


def encode_report(report: Report) -> bytes:
    """The upload body (``application/msgpack``)."""
    body: bytes = msgpack.packb({k: getattr(report, k) for k in _REPORT_KEYS}, use_bin_type=True)
    return body


def decode_report(body: bytes) -> Report:
    """Parse an upload body; :class:`ReportDecodeError` for anything but exactly a report."""
    try:
        data = msgpack.unpackb(body, raw=False, strict_map_key=True, max_bin_len=len(body), max_str_len=64,
                               max_array_len=0, max_map_len=len(_REPORT_KEYS), max_ext_len=0)
    except Exception:  # msgpack raises many types for malformed input; none of them may escape
        raise ReportDecodeError("the body is not a msgpack map") from None
    if not isinstance(data, dict) or set(data) != set(_REPORT_KEYS):
        raise ReportDecodeError(f"a report is a map with exactly the keys {', '.join(_REPORT_KEYS)}")
    if type(data["time"]) is not int or not 0 <= data["time"] < 2**63:
        raise ReportDecodeError("time must be a non-negative integer")
    for key in _REPORT_KEYS:
        if key != "time" and not isinstance(data[key], bytes):
            raise ReportDecodeError(f"{key} must be bytes")
    if len(data["report_id"]) != 16:
        raise ReportDecodeError("report_id must be 16 bytes")
    return Report(**data)


def share_binding(role: int, task_id: bytes, report_id: bytes, time: int, public_share: bytes) -> bytes:
    """The prefix of an input share's sealed plaintext: what the sealed box is bound to."""
    return (_SHARE_DOMAIN + bytes([role]) + task_id + report_id + time.to_bytes(8, "big")
            + hashlib.sha256(public_share).digest())


def aggregate_binding(role: int, task_id: bytes, collection_id: bytes, start: int, end: int, count: int,
                      epsilon: str | None) -> bytes:
    """The prefix of a sealed aggregate share. It names the epsilon the aggregator noised for, so a
    leader that asks the helper for less noise (or none) than the collector asked for is caught: the
    collector's own binding then differs and the helper's share does not open."""
    eps = b"" if epsilon is None else epsilon.encode("ascii", "replace")[:64]
    return (_AGG_DOMAIN + bytes([role]) + task_id + collection_id + start.to_bytes(8, "big") + end.to_bytes(8, "big")
            + count.to_bytes(8, "big") + bytes([epsilon is not None, len(eps)]) + eps)


def seal(public_key: bytes, binding: bytes, payload: bytes) -> bytes:
    """``crypto_box_seal(binding || payload)`` to ``public_key`` (fresh ephemeral key from the OS)."""
    return bytes(SealedBox(PublicKey(public_key)).encrypt(binding + payload))


@functools.lru_cache(maxsize=8)
def _unsealer(private: bytes) -> SealedBox[PrivateKey]:
    return SealedBox(PrivateKey(private))  # (deriving the public key costs a scalar multiplication: once per key)


def open_sealed(key: SecretKey, binding: bytes, sealed: bytes) -> bytes | None:
    """The payload, or None if ``sealed`` does not open with ``key`` or is bound to something else."""
    try:
        plain = _unsealer(key.private).decrypt(sealed)
    except (CryptoError, ValueError, TypeError):
        return None
    if plain[: len(binding)] != binding:
        return None
    return plain[len(binding) :]


def sensitivity(vdaf: VdafConfig) -> int:
    """L1 sensitivity of the aggregate to adding or removing one report (for DP noise)."""
    top = (1 << vdaf.bits) - 1
    if vdaf.kind == "count" or vdaf.kind == "histogram":
        return 1
    if vdaf.kind == "sum":
        return top
    if vdaf.kind == "sumvec":
        return vdaf.length * top
    return vdaf.length if vdaf.max_weight is None else vdaf.max_weight
