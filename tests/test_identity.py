"""Keys, key files and rosters: everything validated, clear errors."""

from __future__ import annotations

import os
import stat

import pytest

from mpcnet.errors import ConfigError
from mpcnet.identity import (
    Roster,
    format_public_key,
    generate_key,
    load_key_file,
    load_roster,
    parse_public_key,
    write_key_file,
)


def test_key_file_is_private_and_round_trips(tmp_path):
    key = generate_key("alice")
    path = write_key_file(key, tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_key_file(path)
    assert loaded.private == key.private and loaded.public == key.public and loaded.name == "alice"
    assert key.private.hex() not in repr(loaded)  # repr never shows the secret


def test_key_file_is_not_overwritten(tmp_path):
    write_key_file(generate_key("alice"), tmp_path)
    with pytest.raises(ConfigError, match="already exists"):
        write_key_file(generate_key("alice"), tmp_path)


def test_group_readable_key_file_is_refused(tmp_path):
    path = write_key_file(generate_key("alice"), tmp_path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key_file(path)


def test_corrupt_key_file(tmp_path):
    path = tmp_path / "x.key"
    path.write_text("not json")
    os.chmod(path, 0o600)
    with pytest.raises(ConfigError, match="not an mpcnet secret key"):
        load_key_file(path)


@pytest.mark.parametrize("name", ["", "-x", "a b", "x" * 65, "é"])
def test_invalid_party_names(name):
    with pytest.raises(ConfigError):
        generate_key(name)


def test_public_key_printed_form():
    key = generate_key("bob")
    assert parse_public_key(format_public_key(key.public)) == key.public
    for bad in ["abc", "x25519:!!!", "x25519:" + "A" * 8, "x25519:" + "A" * 43 + "="]:
        with pytest.raises(ConfigError):
            parse_public_key(bad)


def _roster_text(keys, addresses=None):
    lines = []
    for i, k in enumerate(keys):
        addr = addresses[i] if addresses else f"127.0.0.1:{7000 + i}"
        lines += [f"[parties.{k.name}]", f'address = "{addr}"', f'public_key = "{format_public_key(k.public)}"', ""]
    return "\n".join(lines)


def test_roster_loads_in_order(tmp_path):
    keys = [generate_key(n) for n in ("carol", "alice", "bob")]
    path = tmp_path / "roster.toml"
    path.write_text(_roster_text(keys))
    roster = load_roster(path)
    assert roster.names == ["carol", "alice", "bob"]
    assert roster["bob"].port == 7002 and roster["bob"].index == 2
    assert load_roster(path).digest() == roster.digest()
    path.write_text(roster.to_toml())
    assert load_roster(path) == roster


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "no \\[parties.NAME\\]"),
        ("[parties.a]\naddress='h:1'\n", "lacks 'public_key'"),
        ("[parties.a]\npublic_key='x25519:AAAA'\n", "lacks 'address'"),
        ("[parties.a]\naddress='h:99999'\npublic_key='{k}'\n", "port"),
        ("[parties.a]\naddress='noport'\npublic_key='{k}'\n", "host:port"),
        ("[parties.a]\naddress='h:1'\npublic_key='{k}'\ncolor='red'\n", "unknown key"),
        ("[parties.a]\naddress='h:1'\npublic_key='{k}'\n[parties.b]\naddress='h:2'\npublic_key='{k}'\n", "share a public key"),
        ("[parties.a]\naddress='h:1'\npublic_key='zzz'\n", "must start with"),
        ("[[broken", "not valid TOML"),
        ("[other]\n", "unknown top-level"),
    ],
)
def test_bad_rosters_fail_clearly(tmp_path, text, message):
    path = tmp_path / "roster.toml"
    path.write_text(text.replace("{k}", format_public_key(generate_key("a").public)))
    with pytest.raises(ConfigError, match=message):
        load_roster(path)


def test_missing_roster_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read roster"):
        load_roster(tmp_path / "nope.toml")


def test_roster_digest_binds_keys_and_order():
    a, b = generate_key("a"), generate_key("b")
    r1 = Roster.from_entries([("a", "h:1", a.public), ("b", "h:2", b.public)])
    r2 = Roster.from_entries([("b", "h:2", b.public), ("a", "h:1", a.public)])
    r3 = Roster.from_entries([("a", "h:1", a.public), ("b", "h:2", generate_key("b").public)])
    assert len({r1.digest(), r2.digest(), r3.digest()}) == 3
