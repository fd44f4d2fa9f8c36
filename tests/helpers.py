"""Helpers for tests that start real parties: keys, rosters, ports, plug-ins."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

from mpcnet.identity import format_public_key, generate_key, write_key_file

REPO = Path(__file__).resolve().parent.parent


def free_ports(count: int) -> list[int]:
    """Ports that were free a moment ago on 127.0.0.1 (bound together, so
    they are distinct)."""
    socks = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def make_deployment(tmp: Path, names: list[str]) -> tuple[Path, dict[str, Path]]:
    """Key files for ``names`` and a loopback roster; returns (roster, keys)."""
    keys = {}
    lines = []
    for name, port in zip(names, free_ports(len(names)), strict=True):
        key = generate_key(name)
        keys[name] = write_key_file(key, tmp / "keys")
        lines += [f"[parties.{name}]", f'address = "127.0.0.1:{port}"', f'public_key = "{format_public_key(key.public)}"', ""]
    roster = tmp / "roster.toml"
    roster.write_text("\n".join(lines))
    return roster, keys


PLUGIN_SOURCE = '''
"""A third-party protocol package, registered through the entry point."""
import os
import trio
from mpcnet import Context, protocol


@protocol("test-stall", security="test only", reveals="the sum", input="int", output="int")
async def stall(ctx: Context, value: int) -> int:
    """Round 1 broadcast; then the party named in $MPCNET_TEST_STALLER stalls."""
    got = await ctx.broadcast(value)
    if ctx.me == os.environ.get("MPCNET_TEST_STALLER"):
        marker = os.environ.get("MPCNET_TEST_MARKER")
        if marker:
            open(marker, "w").close()
        await trio.sleep_forever()
    await ctx.broadcast(value)
    return value + sum(got.values())
'''


def install_plugin(tmp: Path) -> Path:
    """A fake installed distribution whose entry point registers
    ``test-stall``; add the returned directory to PYTHONPATH."""
    site = tmp / "site"
    dist = site / "mpcnet_testplugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mpcnet-testplugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[mpcnet.protocols]\ntestplugin = mpcnet_testplugin\n")
    (site / "mpcnet_testplugin.py").write_text(textwrap.dedent(PLUGIN_SOURCE))
    return site


def mpcnet_cmd(*args: str) -> list[str]:
    """The command line for the ``mpcnet`` CLI of this checkout."""
    return [sys.executable, "-m", "mpcnet.cli", *args]


def env_with(pythonpath: Path | None = None, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    paths = [str(REPO)] + ([str(pythonpath)] if pythonpath else [])
    env["PYTHONPATH"] = os.pathsep.join([*paths, env.get("PYTHONPATH", "")])
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(mpcnet_cmd(*args), capture_output=True, text=True, timeout=timeout,
                          env=kw.pop("env", env_with()), **kw)
