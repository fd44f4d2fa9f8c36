"""The error vocabulary: typed mpcnet errors that are also the builtins a
Python user would catch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import mpcnet
from mpcnet import errors

PACKAGE = Path(mpcnet.__file__).resolve().parent


@pytest.mark.parametrize("cls, builtin", [
    (mpcnet.ConfigError, ValueError),
    (mpcnet.InputError, ValueError),
    (mpcnet.PeerTimeout, TimeoutError),
])
def test_errors_are_also_the_builtin_a_user_catches(cls, builtin):
    with pytest.raises(builtin) as caught:
        raise cls("what went wrong", peer="p1", session="ab12")
    exc = caught.value
    assert isinstance(exc, mpcnet.MPCError)
    assert (exc.message, exc.peer, exc.session) == ("what went wrong", "p1", "ab12")
    assert str(exc) == "what went wrong [peer p1] [session ab12]"


def test_other_errors_are_not_builtins_they_are_not():
    for cls in (mpcnet.WireError, mpcnet.HandshakeError, mpcnet.ChannelBroken, mpcnet.ProtocolViolation,
                mpcnet.SessionAborted):
        assert not issubclass(cls, (ValueError, TimeoutError, OSError))


def test_every_error_is_defined_in_one_module():
    for name in ("MPCError", "ConfigError", "InputError", "WireError", "HandshakeError", "ChannelBroken", "PeerTimeout",
                 "ProtocolViolation", "LocalProtocolViolation", "RemoteProtocolViolation", "SessionAborted"):
        assert getattr(mpcnet, name) is getattr(errors, name)
        assert getattr(mpcnet, name).__module__ == "mpcnet.errors"


def _shadowing_handlers(tree: ast.AST) -> list[int]:
    """Lines of try statements where a handler for a builtin that some
    mpcnet errors now subclass (ValueError, TimeoutError, OSError,
    Exception) comes before a handler for an mpcnet error: that earlier
    handler would now take the mpcnet error."""
    wide = {"ValueError", "TimeoutError", "OSError", "Exception"}
    ours = {"MPCError", "ConfigError", "InputError", "PeerTimeout"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        seen_wide = False
        for handler in node.handlers:
            types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
            names = {t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in types if t is not None}
            if names & ours and seen_wide:
                found.append(node.lineno)
            seen_wide = seen_wide or bool(names & wide)
    return found


def test_no_handler_for_a_builtin_shadows_a_later_mpcnet_handler():
    # resumable.py caught OSError before MPCError around a re-dial: with
    # PeerTimeout an OSError, a stalled handshake would have been reported as
    # "connect failed". Every such order in mpcnet and protocols is flagged.
    offenders = []
    for path in [*PACKAGE.rglob("*.py"), *(PACKAGE.parent / "protocols").rglob("*.py")]:
        offenders += [f"{path.name}:{line}" for line in _shadowing_handlers(ast.parse(path.read_text("utf-8")))]
    assert offenders == []


def test_the_shadowing_check_finds_a_shadowing_order():
    code = "try:\n    pass\nexcept OSError:\n    pass\nexcept MPCError:\n    pass\n"
    assert _shadowing_handlers(ast.parse(code)) == [1]
    assert _shadowing_handlers(ast.parse(code.replace("OSError", "KeyError"))) == []
