"""Party identities: static X25519 keys, key files and the roster.

A party's identity is a dedicated X25519 static key used only for the Noise
channel handshake. Its public half is printed as ``x25519:`` followed by the
standard base64 of the 32 key bytes. The secret half lives in a key file
(mode 0600) that the party reads at start-up.

A roster is a TOML file listing every party, in order (the order defines the
party index used by protocols and who dials whom)::

    [parties.alice]
    address = "10.0.0.1:7001"
    public_key = "x25519:..."

Everything is validated on load; the first problem found is reported as a
:class:`~mpcnet.errors.ConfigError` naming the file and the party.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import tomllib
from collections.abc import Iterator, Sequence
from pathlib import Path

import attrs
from nacl.bindings import crypto_scalarmult_base
from nacl.utils import random as os_random

from .errors import ConfigError

__all__ = [
    "PUBLIC_KEY_PREFIX",
    "SecretKey",
    "PartyEntry",
    "Roster",
    "valid_party_name",
    "format_public_key",
    "parse_public_key",
    "generate_key",
    "write_key_file",
    "load_key_file",
    "load_roster",
]

PUBLIC_KEY_PREFIX = "x25519:"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KEY_FILE_KIND = "mpcnet-x25519-secret-key"


def valid_party_name(name: str) -> bool:
    """True if ``name`` is a legal party id: 1-64 characters of letters,
    digits, ``_``, ``.`` and ``-``, starting with a letter or digit."""
    return isinstance(name, str) and bool(_NAME_RE.match(name))


def format_public_key(public: bytes) -> str:
    """The printed form of a 32-byte X25519 public key."""
    return PUBLIC_KEY_PREFIX + base64.b64encode(public).decode("ascii")


def parse_public_key(text: str) -> bytes:
    """Parse the printed form back to 32 bytes; :class:`ConfigError` if it is
    malformed. All-zero and other low-order keys are rejected by the handshake
    (libsodium refuses the DH), here we reject only what is plainly wrong."""
    if not isinstance(text, str) or not text.startswith(PUBLIC_KEY_PREFIX):
        raise ConfigError(f"public key must start with {PUBLIC_KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text[len(PUBLIC_KEY_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("public key is not valid base64") from None
    if len(raw) != 32:
        raise ConfigError(f"public key must be 32 bytes, got {len(raw)}")
    if raw == bytes(32):
        raise ConfigError("public key is all zeros")
    return raw


@attrs.frozen(repr=False)
class SecretKey:
    """A party's static X25519 key pair. ``repr`` never shows the secret."""

    name: str
    private: bytes = attrs.field(validator=attrs.validators.instance_of(bytes))
    public: bytes = attrs.field(init=False)

    @public.default
    def _derive_public(self) -> bytes:
        if len(self.private) != 32:
            raise ConfigError("secret key must be 32 bytes")
        return crypto_scalarmult_base(self.private)

    def __repr__(self) -> str:
        return f"SecretKey(name={self.name!r}, public={format_public_key(self.public)!r})"


def generate_key(name: str) -> SecretKey:
    """A fresh key pair from the OS random generator."""
    if not valid_party_name(name):
        raise ConfigError(f"invalid party name {name!r}: use 1-64 letters, digits, '_', '.', '-'")
    return SecretKey(name=name, private=os_random(32))


def write_key_file(key: SecretKey, directory: str | os.PathLike[str] = ".", *, overwrite: bool = False) -> Path:
    """Write ``key`` to ``DIR/NAME.key`` with mode 0600 and return the path.

    The file is created with 0600 from the start (never world-readable, not
    even for a moment) and an existing file is not replaced unless asked.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key.name}.key"
    body = json.dumps(
        {
            "kind": _KEY_FILE_KIND,
            "name": key.name,
            "secret_key": base64.b64encode(key.private).decode("ascii"),
            "public_key": format_public_key(key.public),
        },
        indent=2,
    )
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise ConfigError(f"key file {path} already exists (refusing to overwrite a secret key)") from None
    except OSError as exc:
        raise ConfigError(f"cannot write key file {path}: {exc.strerror}") from None
    if hasattr(os, "fchmod"):
        os.fchmod(fd, 0o600)  # an existing file keeps its mode on O_TRUNC: tighten it before writing
    with os.fdopen(fd, "w") as f:
        f.write(body + "\n")
    return path


def load_key_file(path: str | os.PathLike[str]) -> SecretKey:
    """Read and validate a key file written by :func:`write_key_file`.

    Refuses a file that group or others can read, like ssh does, because a
    leaked channel key lets anyone impersonate the party.
    """
    path = Path(path)
    try:
        st = path.stat()
        text = path.read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read key file {path}: {exc.strerror}") from None
    if os.name == "posix" and st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"key file {path} is accessible by group or others; run: chmod 600 {path}")
    try:
        data = json.loads(text)
        if data.get("kind") != _KEY_FILE_KIND:
            raise ValueError
        name = data["name"]
        private = base64.b64decode(data["secret_key"], validate=True)
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise ConfigError(f"key file {path} is not an mpcnet secret key file") from None
    if not valid_party_name(name) or len(private) != 32:
        raise ConfigError(f"key file {path} is malformed")
    key = SecretKey(name=name, private=private)
    stated = data.get("public_key")
    if stated is not None and stated != format_public_key(key.public):
        raise ConfigError(f"key file {path} is corrupt: its public key does not match its secret key")
    return key


def _parse_address(text: object) -> tuple[str, int]:
    if not isinstance(text, str) or ":" not in text:
        raise ValueError("address must be a string 'host:port'")
    host, _, port_text = text.rpartition(":")
    host = host.strip("[]")  # allow [::1]:7000
    if not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError("address must be 'host:port' with a port from 1 to 65535")
    return host, int(port_text)


@attrs.frozen
class PartyEntry:
    """One party of a roster: its id, index, address and static public key."""

    name: str
    index: int
    host: str
    port: int
    public_key: bytes

    @property
    def address(self) -> str:
        """``host:port`` as written in the roster."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@attrs.frozen
class Roster:
    """The ordered list of parties. Index order decides who dials whom (the
    lower index dials) and is the party order protocols see."""

    parties: tuple[PartyEntry, ...]

    def __attrs_post_init__(self) -> None:
        if len(self.parties) < 1:
            raise ConfigError("roster lists no parties")
        names = [p.name for p in self.parties]
        if len(set(names)) != len(names):
            raise ConfigError("roster lists a party twice")
        keys = [p.public_key for p in self.parties]
        if len(set(keys)) != len(keys):
            dup = next(p.name for p in self.parties if keys.count(p.public_key) > 1)
            raise ConfigError("two roster parties share a public key", peer=dup)
        addrs = [(p.host, p.port) for p in self.parties]
        if len(set(addrs)) != len(addrs):
            dup = next(p.name for p in self.parties if addrs.count((p.host, p.port)) > 1)
            raise ConfigError("two roster parties share an address", peer=dup)

    @classmethod
    def from_entries(cls, entries: Sequence[tuple[str, str, bytes]]) -> Roster:
        """Build a roster from ``(name, "host:port", public_key)`` triples."""
        parties = []
        for i, (name, address, key) in enumerate(entries):
            if not valid_party_name(name):
                raise ConfigError(f"invalid party name {name!r}")
            try:
                host, port = _parse_address(address)
            except ValueError as exc:
                raise ConfigError(str(exc), peer=name) from None
            parties.append(PartyEntry(name, i, host, port, bytes(key)))
        return cls(tuple(parties))

    @property
    def names(self) -> list[str]:
        """Party ids in roster order."""
        return [p.name for p in self.parties]

    def __iter__(self) -> Iterator[PartyEntry]:
        return iter(self.parties)

    def __len__(self) -> int:
        return len(self.parties)

    def __getitem__(self, name: str) -> PartyEntry:
        for p in self.parties:
            if p.name == name:
                return p
        raise ConfigError(f"party {name!r} is not in the roster")

    def __contains__(self, name: object) -> bool:
        return any(p.name == name for p in self.parties)

    def public_key_of(self, name: str) -> bytes | None:
        """The static key of ``name``, or None for a stranger."""
        return next((p.public_key for p in self.parties if p.name == name), None)

    def digest(self) -> bytes:
        """A 32-byte hash of the party ids and keys, in order. Both ends of
        every channel bind it into the handshake, so parties holding
        different rosters cannot talk (addresses are left out on purpose:
        the same host may be reached by different addresses)."""
        h = hashlib.blake2b(digest_size=32, person=b"mpcnet-roster")
        for p in self.parties:
            name = p.name.encode()
            h.update(len(name).to_bytes(1, "big") + name + p.public_key)
        return h.digest()

    def to_toml(self) -> str:
        """The roster as TOML text that :func:`load_roster` reads back."""
        lines = []
        for p in self.parties:
            lines += [f"[parties.{p.name!s}]" if re.match(r"^[A-Za-z0-9_-]+$", p.name) else f'[parties."{p.name}"]',
                      f'address = "{p.address}"',
                      f'public_key = "{format_public_key(p.public_key)}"', ""]
        return "\n".join(lines)


def load_roster(path: str | os.PathLike[str]) -> Roster:
    """Read and validate a roster TOML file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read roster {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"roster {path} is not valid TOML: {exc}") from None
    unknown = set(data) - {"parties"}
    if unknown:
        raise ConfigError(f"roster {path}: unknown top-level key(s) {sorted(unknown)}; expected [parties.NAME] tables")
    parties = data.get("parties")
    if not isinstance(parties, dict) or not parties:
        raise ConfigError(f"roster {path} has no [parties.NAME] tables")
    entries = []
    for name, table in parties.items():
        if not valid_party_name(name):
            raise ConfigError(f"roster {path}: invalid party name {name!r}")
        if not isinstance(table, dict):
            raise ConfigError(f"roster {path}: parties.{name} must be a table", peer=name)
        extra = set(table) - {"address", "public_key"}
        if extra:
            raise ConfigError(f"roster {path}: parties.{name} has unknown key(s) {sorted(extra)}", peer=name)
        for field in ("address", "public_key"):
            if field not in table:
                raise ConfigError(f"roster {path}: parties.{name} lacks {field!r}", peer=name)
        try:
            key = parse_public_key(table["public_key"])
        except ConfigError as exc:
            raise ConfigError(f"roster {path}: parties.{name}: {exc.message}", peer=name) from None
        entries.append((name, table["address"], key))
    try:
        return Roster.from_entries(entries)
    except ConfigError as exc:
        raise ConfigError(f"roster {path}: {exc.message}", peer=exc.peer) from None
