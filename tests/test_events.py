"""Structured log events: present, with party and session ids, and never a secret."""

from __future__ import annotations

import logging

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


def test_no_secret_reaches_the_logs(caplog):
    caplog.set_level(logging.DEBUG)
    result = mpcnet.simulate("secure-sum", SECRETS, record_views=True)
    text = "\n".join(r.getMessage() for r in caplog.records)
    for secret in SECRETS:
        assert str(secret) not in text
    # nor any share that crossed the wire
    for res in result.results:
        for rec in res.view:
            assert str(int(rec.value[0])) not in text


def test_abort_is_logged_with_its_reason(caplog):
    caplog.set_level(logging.INFO, logger="mpcnet")
    with pytest.raises(RemoteProtocolViolation, match="same vector length"):
        mpcnet.simulate("secure-sum", [[1, 2], [1, 2], [1, 2, 3]])
    aborts = [e for e in _events(caplog.records) if e["event"] == "abort"]
    assert aborts and all("RemoteProtocolViolation" in e["reason"] for e in aborts)
