"""A leader and a helper as real processes on loopback, for the aggregator tests and the benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from mpcnet.aggregate.service import DapError, Report, init_deployment, load_task, upload
from mpcnet.aggregate.service.faults import ENV
from mpcnet.aggregate.service.task import b64, collector_token
from mpcnet.aggregate.simulation import VdafConfig
from mpcnet.identity import load_key_file

from helpers import REPO, free_ports


class Deployment:
    """Files for one task in ``tmp``; ``start(role)`` runs ``mpcnet aggregator`` for a role."""

    def __init__(self, tmp: Path, vdaf: VdafConfig, **kw: Any) -> None:
        http, m1, m2 = free_ports(3)
        self.paths = init_deployment(tmp, vdaf, leader_url=f"http://127.0.0.1:{http}",
                                     leader_mesh=f"127.0.0.1:{m1}", helper_mesh=f"127.0.0.1:{m2}", **kw)
        self.task = load_task(self.paths["task"])
        self.collector = load_key_file(self.paths["collector"])
        self.url = f"http://127.0.0.1:{http}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.kills: dict[str, int] = {"leader": 0, "helper": 0}  # deaths by SIGKILL seen
        self.tmp = tmp
        self.lock = threading.RLock()

    def start(self, role: str, fault: str | None = None) -> None:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        env.pop(ENV, None)
        if fault:
            env[ENV] = fault
        log = open(self.tmp / f"{role}.log", "ab")  # noqa: SIM115 (the process keeps it)
        self.procs[role] = subprocess.Popen([sys.executable, "-m", "mpcnet", "aggregator", "--config",
                                             str(self.paths[role])], env=env, stdout=log, stderr=log)
        if role == "leader":
            self.wait_http()

    def wait_http(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.procs["leader"].poll() is not None:
                return  # died at a fault point during start-up (claim_job and the like): the caller restarts
            try:
                self.counters()
                return
            except OSError:
                time.sleep(0.05)
        raise TimeoutError("the leader's HTTP server did not come up")

    def counters(self) -> dict[str, int]:
        token = b64(collector_token(self.collector, self.task.task_id))
        request = urllib.request.Request(f"{self.url}/counters", headers={"authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as r:
            return dict(json.loads(r.read()))

    def revive(self) -> bool:
        """Restart (without a fault) every aggregator that died; True if one had."""
        revived = False
        with self.lock:
            for role, proc in list(self.procs.items()):
                if proc.poll() is not None:
                    assert proc.returncode == -signal.SIGKILL, f"the {role} exited with {proc.returncode}, see {role}.log"
                    self.kills[role] += 1
                    self.start(role)
                    revived = True
        return revived

    def kill(self, role: str) -> None:
        """SIGKILL ``role`` and start it again."""
        with self.lock:
            self.procs[role].send_signal(signal.SIGKILL)
            self.procs[role].wait()
        self.revive()

    def upload_all(self, reports: list[Report]) -> None:
        """Upload every report once, surviving a leader killed meanwhile (a report whose upload was cut is
        sent again; 'uploaded before' then means the first attempt was committed)."""
        for report in reports:
            while True:
                try:
                    upload(self.task, report, timeout=10)
                    break
                except DapError as exc:
                    if exc.status == 400 and "uploaded before" in str(exc):
                        break
                    if exc.status != 0:
                        raise
                    time.sleep(0.1)
                    self.revive()

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
