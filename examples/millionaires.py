"""Yao's millionaires: Alice and Bob learn who is richer, and nothing else.

Two processes, two secret keys, one roster, no third party and no dealer:
each runs `mpcnet party compare` with its own wealth as input; the two-party
engine (oblivious transfer over Noise-encrypted TCP on 127.0.0.1) compares
them. Each process prints one line.

    python examples/millionaires.py [ALICE_WEALTH BOB_WEALTH]
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import mpcnet
from mpcnet.identity import format_public_key, write_key_file

WEALTH = {"alice": 3_140_000_000, "bob": 2_718_000_000}
if len(sys.argv) == 3:
    WEALTH = {"alice": int(sys.argv[1]), "bob": int(sys.argv[2])}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


with tempfile.TemporaryDirectory(prefix="millionaires-") as tmp:
    # Each party makes its key and publishes the public half; the roster lists both.
    roster = []
    for name in WEALTH:
        key = mpcnet.generate_key(name)
        write_key_file(key, Path(tmp) / name)
        roster += [f"[parties.{name}]", f'address = "127.0.0.1:{free_port()}"',
                   f'public_key = "{format_public_key(key.public)}"', ""]
    (Path(tmp) / "roster.toml").write_text("\n".join(roster))
    procs = {}
    for name, wealth in WEALTH.items():
        (Path(tmp) / name / "wealth.json").write_text(json.dumps(wealth))
        # alice's x against bob's y: is x > y? (64-bit unsigned; ties: neither is richer)
        procs[name] = subprocess.Popen(
            [sys.executable, "-m", "mpcnet", "party", "compare", "--roster", str(Path(tmp) / "roster.toml"),
             "--id", name, "--key", str(Path(tmp) / name / f"{name}.key"),
             "--input-json", f"@{Path(tmp) / name / 'wealth.json'}", "--param", "bits=64",
             "--param", "op=gt", "--session", f"millionaires-{os.getpid()}", "--json", "--no-progress"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        if proc.returncode != 0:
            sys.exit(f"{name}'s process failed: {err.strip()[-500:]}")
        result = json.loads(out.strip().splitlines()[-1])
        other = next(p for p in WEALTH if p != name)
        alice_richer = result["output"]
        richer = "alice" if alice_richer else "bob (or they are equally rich)"
        stats = result["stats"]
        print(f"{name} (process {proc.pid}): the richer one is {richer}; {name} never saw {other}'s wealth "
              f"({stats['rounds']} rounds, {stats['bytes_sent']} bytes sent)")
