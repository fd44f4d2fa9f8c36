"""Structured log events: present, with party and session ids, and never a secret."""

from __future__ import annotations

import logging

import msgpack
import numpy as np
import pytest

import mpcnet
from mpcnet.errors import RemoteProtocolViolation

SECRETS = [987_654_321, 123_456_789, 555_444_333]


def _events(records):
    return [r.mpcnet for r in records if hasattr(r, "mpcnet")]


def test_session_and_round_events_carry_ids_and_sizes(caplog):
    caplog.set_level(logging.DEBUG, logger="mpcnet")
    result = mpcnet.simulate("secure-sum", SECRETS, transport="tcp")
    events = _events(caplog.records)
    kinds = {e["event"] for e in events}
    assert {"connect", "session_start", "session_end", "round_start", "round_end"} <= kinds
    ends = [e for e in events if e["event"] == "session_end"]
    assert {e["party"] for e in ends} == {"p0", "p1", "p2"}
    assert all(e["rounds"] == 2 and e["bytes_sent"] == result.stats[0].bytes_sent for e in ends)
    assert len({e["session"] for e in events if "session" in e}) == 1


def _forms(value: int) -> set[str]:
    """The ways a log line could carry a 64-bit integer: decimal (signed and
    unsigned), hex (either case, with or without 0x, zero-padded or not), its
    8 bytes little- and big-endian (as hex and as a bytes repr), msgpack (as
    hex and repr), and numpy's reprs."""
    signed = value - 2**64 if value >= 2**63 else value
    unsigned = value % 2**64
    forms = {str(signed), str(unsigned), repr(np.int64(signed)), repr(np.uint64(unsigned)),
             repr(np.array([signed], dtype=np.int64)), f"{unsigned:x}", f"{unsigned:X}", f"{unsigned:016x}",
             hex(signed)}
    for order in ("little", "big"):
        raw = unsigned.to_bytes(8, order)
        forms |= {raw.hex(), raw.hex().upper(), repr(raw)}
    packed = msgpack.packb(signed)
    forms |= {packed.hex(), repr(packed)}
    return forms


def test_no_secret_reaches_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    result = mpcnet.simulate("secure-sum", SECRETS, record_views=True)
    # every line's text and every structured event's fields
    text = "\n".join([r.getMessage() for r in caplog.records] + [repr(e) for e in _events(caplog.records)])
    assert "session_start" in text  # (the logs were captured)
    values = list(SECRETS)
    # nor any share or partial sum that crossed the wire
    values += [int(v) for res in result.results for rec in res.view for v in np.asarray(rec.value).reshape(-1)]
    assert len(values) == 3 + 3 * 4
    for value in values:
        found = sorted(form for form in _forms(value) if form in text)
        assert not found, f"{value} is in the logs as {found}"


def test_abort_is_logged_with_its_reason(caplog):
    caplog.set_level(logging.INFO, logger="mpcnet")
    with pytest.raises(RemoteProtocolViolation, match="same vector length"):
        mpcnet.simulate("secure-sum", [[1, 2], [1, 2], [1, 2, 3]])
    aborts = [e for e in _events(caplog.records) if e["event"] == "abort"]
    assert aborts and all("RemoteProtocolViolation" in e["reason"] for e in aborts)
