"""A multi-host test bed: one network namespace per party, a router namespace
running the fault proxy between them.

Topology (all addresses are made here; nothing touches the host's own
network namespace)::

    ns <prefix>h0  10.77.0.10/32 eth0 ──veth── h0 ┐
    ns <prefix>h1  10.77.0.11/32 eth0 ──veth── h1 ├ ns <prefix>net: 10.77.0.1 + fault proxy
    ...                                           ┘

Each host routes 10.77.0.0/24 via 10.77.0.1. The router namespace does not
forward packets at all: traffic arriving from a host for any 10.77.0.0/24
address is delivered locally (policy rule ``iif hN lookup 100``, table 100
holding ``local 10.77.0.0/24``), where the proxy accepts it with
``IP_TRANSPARENT``, so every byte between two parties crosses the proxy and
can be delayed, throttled, stalled, dropped or cut per link. (A bridge would
give the hosts a direct path around the proxy; the issue's kernels have no
``netem`` to put faults on a bridge.) The proxy connects on from 10.77.0.1.

Needs root and iproute2 (``ip``); :func:`unavailable_reason` says why not.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from ..identity import format_public_key, generate_key, write_key_file
from .faultproxy import ProxyControl

__all__ = ["unavailable_reason", "Testbed", "PartyOutcome"]

_counter = itertools.count()


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check, timeout=10)


def unavailable_reason() -> str | None:
    """None if network namespaces can be made here; otherwise why not."""
    if sys.platform != "linux":
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root (run as root, as CI does)"
    if shutil.which("ip") is None:
        return "the 'ip' command (apt package iproute2) is not installed"
    probe = f"mpcprobe{os.getpid()}"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.strip()}"
    try:
        veth = _ip("-n", probe, "link", "add", "name", "a", "type", "veth", "peer", "name", "b", check=False)
        if veth.returncode != 0:
            return f"cannot create a veth pair: {veth.stderr.strip()}"
    finally:
        _ip("netns", "del", probe, check=False)
    return None


@attrs.frozen
class PartyOutcome:
    """How one party process ended."""

    name: str
    returncode: int
    stdout: str
    stderr: str
    elapsed: float  # seconds from start to exit, process start-up included

    @property
    def result(self) -> dict[str, Any] | None:
        """The ``--json`` output (party, output, stats), if it printed one."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                out: dict[str, Any] = json.loads(line)
                return out
        return None


class Testbed:
    """N party hosts and a router with the fault proxy; a context manager
    that removes everything it made (namespaces, processes) on exit.

    ``bed.proxy`` is a :class:`~mpcnet.testing.faultproxy.ProxyControl`
    (links are named ``"p0-p1"``, dialer first); :meth:`host_down` /
    :meth:`host_up` take a host's cable out and put it back (kernel level:
    TCP retransmits across the gap).
    """

    __test__ = False  # not a pytest test class

    def __init__(self, names: Sequence[str], *, subnet: str = "10.77.0", port: int = 7000,
                 workdir: str | os.PathLike[str] | None = None) -> None:
        self.names = list(names)
        self.subnet = subnet
        self.port = port
        self.prefix = f"mpc{os.getpid()}x{next(_counter)}"
        self._tmp = tempfile.mkdtemp(prefix="mpcbed")  # short: unix socket paths are limited
        self.workdir = Path(workdir) if workdir is not None else Path(self._tmp)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.router_ns = f"{self.prefix}net"
        self.router_ip = f"{subnet}.1"
        self._namespaces: list[str] = []
        self._procs: list[subprocess.Popen[str]] = []
        self.proxy_proc: subprocess.Popen[str] | None = None
        self.proxy: ProxyControl | None = None
        self.control_path = ""
        self.roster_path = self.workdir / "roster.toml"
        self.key_paths: dict[str, Path] = {}

    def ns(self, name: str) -> str:
        return f"{self.prefix}h{self.names.index(name)}"

    def ip_of(self, name: str) -> str:
        return f"{self.subnet}.{10 + self.names.index(name)}"

    # ---- set-up and tear-down

    def __enter__(self) -> Testbed:
        try:
            self._make_network()
            self._write_roster()
            self._start_proxy()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _netns(self, name: str) -> None:
        _ip("netns", "add", name)
        self._namespaces.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _make_network(self) -> None:
        r = self.router_ns
        self._netns(r)
        _ip("-n", r, "addr", "add", f"{self.router_ip}/32", "dev", "lo")
        _ip("-n", r, "route", "add", "local", f"{self.subnet}.0/24", "dev", "lo", "table", "100")
        for i, name in enumerate(self.names):
            h, dev, ip = self.ns(name), f"h{i}", self.ip_of(name)
            self._netns(h)
            _ip("-n", r, "link", "add", "name", dev, "type", "veth", "peer", "name", "eth0", "netns", h)
            _ip("-n", h, "addr", "add", f"{ip}/32", "dev", "eth0")
            _ip("-n", h, "link", "set", "eth0", "up")
            _ip("-n", h, "route", "add", f"{self.router_ip}/32", "dev", "eth0")
            _ip("-n", h, "route", "add", f"{self.subnet}.0/24", "via", self.router_ip, "dev", "eth0")
            _ip("-n", r, "link", "set", dev, "up")
            _ip("-n", r, "route", "add", f"{ip}/32", "dev", dev)
            _ip("-n", r, "rule", "add", "iif", dev, "lookup", "100")

    def _write_roster(self) -> None:
        lines = []
        for name in self.names:
            key = generate_key(name)
            self.key_paths[name] = write_key_file(key, self.workdir / "keys", overwrite=True)
            lines += [f"[parties.{name}]", f'address = "{self.ip_of(name)}:{self.port}"',
                      f'public_key = "{format_public_key(key.public)}"', ""]
        self.roster_path.write_text("\n".join(lines))

    def _start_proxy(self) -> None:
        self.control_path = control = os.path.join(self._tmp, "proxy.sock")
        hosts = ",".join(f"{n}={self.ip_of(n)}" for n in self.names)
        self.proxy_proc = subprocess.Popen(
            ["ip", "netns", "exec", self.router_ns, sys.executable, "-m", "mpcnet.testing.faultproxy",
             "--listen", f"0.0.0.0:{self.port}", "--transparent", "--hosts", hosts,
             "--target-port", str(self.port), "--source", self.router_ip, "--control", control],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        assert self.proxy_proc.stdout is not None
        line = self.proxy_proc.stdout.readline()
        if line.strip() != "ready":
            self.proxy_proc.kill()
            raise RuntimeError(f"fault proxy did not start: {self.proxy_proc.stderr.read() if self.proxy_proc.stderr else ''}")
        self.proxy = ProxyControl(control)

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
        self._procs.clear()
        if self.proxy is not None:
            self.proxy.close()
            self.proxy = None
        if self.proxy_proc is not None:
            self.proxy_proc.kill()
            self.proxy_proc.communicate()
            self.proxy_proc = None
        for ns in reversed(self._namespaces):
            _ip("netns", "del", ns, check=False)
        self._namespaces.clear()
        shutil.rmtree(self._tmp, ignore_errors=True)

    # ---- faults at the kernel level

    def host_down(self, name: str) -> None:
        """Unplug ``name``: its router-side interface goes down (packets to and
        from it are lost; TCP retransmits)."""
        _ip("-n", self.router_ns, "link", "set", f"h{self.names.index(name)}", "down")

    def host_up(self, name: str) -> None:
        _ip("-n", self.router_ns, "link", "set", f"h{self.names.index(name)}", "up")
        _ip("-n", self.router_ns, "route", "replace", f"{self.ip_of(name)}/32", "dev", f"h{self.names.index(name)}")

    def shape(self, name: str, rate: str, burst: str = "32kbit", latency: str = "400ms") -> None:
        """Kernel bandwidth limit (tbf) on the traffic towards ``name``."""
        _ip_tc = ["tc", "-n", self.router_ns, "qdisc", "replace", "dev", f"h{self.names.index(name)}", "root",
                  "tbf", "rate", rate, "burst", burst, "latency", latency]
        subprocess.run(_ip_tc, check=True, capture_output=True, timeout=10)

    # ---- parties

    def party_command(self, name: str, protocol: str, input_json: str, *extra: str) -> list[str]:
        return ["ip", "netns", "exec", self.ns(name), sys.executable, "-m", "mpcnet.cli", "party", protocol,
                "--roster", str(self.roster_path), "--id", name, "--key", str(self.key_paths[name]),
                "--input-json", input_json, "--json", "--no-progress", *extra]

    def start_party(self, name: str, protocol: str, input_json: str, *extra: str,
                    env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        if len(input_json) > 1000:  # keep the command line short: pass big inputs as @file
            path = self.workdir / f"input-{name}.json"
            path.write_text(input_json)
            input_json = f"@{path}"
        proc = subprocess.Popen(self.party_command(name, protocol, input_json, *extra), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=env or _env())
        proc.started_at = time.monotonic()  # type: ignore[attr-defined]
        self._procs.append(proc)
        return proc

    def start_all(self, protocol: str, inputs: dict[str, str], *extra: str,
                  env: dict[str, str] | None = None) -> dict[str, subprocess.Popen[str]]:
        return {name: self.start_party(name, protocol, value, *extra, env=env) for name, value in inputs.items()}

    @staticmethod
    def wait(procs: dict[str, subprocess.Popen[str]], timeout: float) -> dict[str, PartyOutcome]:
        """Wait for every process (killing stragglers after ``timeout``)."""
        deadline = time.monotonic() + timeout
        out = {}
        for name, proc in procs.items():
            try:
                stdout, stderr = proc.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, stderr = proc.communicate()
                stderr += "\n[harness: killed after the timeout]"
            end = time.monotonic()
            out[name] = PartyOutcome(name, proc.returncode, stdout, stderr,
                                     end - proc.started_at)  # type: ignore[attr-defined]
        return out


def _env() -> dict[str, str]:
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([repo, env.get("PYTHONPATH", "")])
    return env
