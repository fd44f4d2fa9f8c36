"""Write a complete deployment (keys, task file, both configurations) into one directory.

For trying the service on one machine, for tests and benchmarks; on two machines, run it once
and copy the helper's files (``helper.toml``, ``helper.key``, ``helper-report.key``,
``task.json``) to the helper's machine over a secure channel, or generate the helper's keys
there with ``mpcnet keygen`` and put their public keys into ``task.json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import urllib.parse
from pathlib import Path

import attrs

from ...errors import InputError
from ...identity import generate_key, write_key_file
from ..simulation import VdafConfig
from .task import AggregatorEndpoint, Task, collector_token, parse_epsilon

__all__ = ["init_deployment"]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def init_deployment(directory: str | os.PathLike[str], vdaf: VdafConfig, *, leader_url: str = "http://127.0.0.1:8080",
                    leader_mesh: str = "127.0.0.1:9701", helper_mesh: str = "127.0.0.1:9702", time_precision: int = 60,
                    min_batch_size: int = 1, max_epsilon: str | None = None, job_size: int = 1000,
                    max_pending: int = 1_000_000) -> dict[str, Path]:
    """Create keys, ``task.json``, ``leader.toml`` and ``helper.toml`` in ``directory``; their paths by name."""
    vdaf.vdaf()
    try:
        eps = None if max_epsilon is None else parse_epsilon(max_epsilon)
    except ValueError as exc:
        raise InputError(f"max_epsilon: {exc}") from None
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in ("leader", "leader-report", "helper", "helper-report", "collector"):  # mesh keys: named as the roster
        keys[name] = generate_key(name)
        write_key_file(keys[name], out, overwrite=True)
    task = Task(secrets.token_bytes(32), vdaf,
                AggregatorEndpoint(leader_mesh, keys["leader"].public, keys["leader-report"].public, leader_url),
                AggregatorEndpoint(helper_mesh, keys["helper"].public, keys["helper-report"].public),
                keys["collector"].public, time_precision, min_batch_size,
                max_epsilon=eps)
    task = attrs.evolve(task, collector_auth_sha256=hashlib.sha256(collector_token(keys["collector"], task.task_id)).digest())
    (out / "task.json").write_text(json.dumps(task.to_json(), indent=2) + "\n")
    verify_key = secrets.token_hex(vdaf.vdaf().VERIFY_KEY_SIZE)
    listen = urllib.parse.urlsplit(leader_url).netloc
    for role in ("leader", "helper"):
        lines = [f'role = "{role}"', 'task = "task.json"', f'database = "{role}.sqlite"',
                 f'mesh_key = "{role}.key"', f'report_key = "{role}-report.key"',
                 f'verify_key = "{verify_key}"  # secret, the same in both configurations',
                 f"job_size = {job_size}", f"max_pending = {max_pending}"]
        if role == "leader":
            lines.append(f'listen = "{listen}"')
        _write_secret(out / f"{role}.toml", "\n".join(lines) + "\n")
    paths = {name: out / f"{name}.key" for name in keys}
    paths.update(task=out / "task.json", leader=out / "leader.toml", helper=out / "helper.toml")
    return paths
