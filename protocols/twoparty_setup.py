"""The two-party engine's offline set-up on a link, before any input exists.

``twoparty-setup`` runs the base OTs of the two-party engine
(:mod:`mpcnet.mpc.twoparty`: 256 Ed25519 base OTs each way, then the IKNP
extension's state) and keeps the OT extension on the link
(:meth:`~mpcnet.mpc.twoparty.TwoPartyEngine.keep`), so that the next
two-party session on that link (``compare``, the two-bidder ``auction``)
skips the base OTs: no public-key operation, and its offline OTs ride on
its first round (``compare``: 6 rounds instead of 9). Run it with
:meth:`mpcnet.Party.prepare` or ``mpcnet.open_party(..., prepare=
("twoparty-setup",))`` right after the connection is up. If the link already
holds an extension both ends agree on, it is kept as is (one round, nothing
else); if only one end holds one, it is dropped and fresh base OTs are made.

Security: semi-honest; private against either party (the base OTs and the
extension are those of the engine: ``docs/security.md``, "Two parties").
Reveals: nothing (no input; the random OT messages are independent of any
later input).
"""

from __future__ import annotations

from typing import Any

from mpcnet import Context, InputError, RemoteProtocolViolation, protocol
from mpcnet.mpc import twoparty


def _validate(value: Any, params: Any, n: int) -> Any:
    if value is not None:
        raise InputError("twoparty-setup takes no input (null)")
    return None


@protocol(
    "twoparty-setup",
    min_parties=2,
    max_parties=2,
    security="semi-honest; private against either party (no input is involved)",
    reveals="nothing",
    input="null",
    output="a dict: whether an extension already kept on the link was reused, and the offline figures",
    validate_input=_validate,
)
async def twoparty_setup(ctx: Context, value: Any) -> dict[str, Any]:
    """Offline, no input: the two-party engine's base OTs, kept on the link for its next two-party session."""
    peer = ctx.peers[0]
    eng = twoparty.TwoPartyEngine(ctx)
    tag = eng.offer_kept()
    got = (await ctx.exchange({peer: tag}))[peer]
    if not (isinstance(got, bytes) and len(got) in (0, 16)):
        raise RemoteProtocolViolation("expected an OT-extension tag (0 or 16 bytes) in the first round", peer=peer)
    eng.accept_kept(tag, got)
    reused = bool(tag) and got == tag
    await eng.prepare()  # the OT set-up only (base OTs unless reused)
    eng.keep()
    report = eng.report()
    return {"reused": reused, "offline_seconds": report["offline_seconds"],
            "offline_bytes": report["offline_bytes"], "offline_rounds": report["offline_rounds"]}
