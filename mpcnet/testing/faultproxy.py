"""A fault-injecting TCP proxy (trio), scriptable per link.

The kernels mpcnet is tested on have no ``netem`` qdisc, so latency, jitter,
stalls and cuts are made here, in user space, between the parties:

* ``delay`` — one-way seconds added in each direction (RTT = 2 x delay);
* ``jitter`` — each chunk's delay varies uniformly by +- jitter seconds
  (bytes are never reordered: TCP cannot reorder, and neither does this);
* ``bandwidth`` — bytes per second in each direction (serialisation delay);
* ``blackhole`` — bytes in both directions are silently dropped, and new
  connections are accepted but go nowhere (the stream is corrupt afterwards:
  a lying network);
* ``paused`` — nothing moves in either direction (TCP back-pressure), as
  when a route goes away and comes back: no byte is lost, delivery resumes
  when the pause ends;
* :meth:`FaultProxy.cut` — reset every open connection of a link now (RST to
  both ends); later connections work again.

A *link* is the path between two parties, named ``"a-b"`` (the dialer first).
Policies are set by *selector*: ``"a-b"`` (either order), ``"host:a"`` (every
link touching ``a``) or ``"*"`` (every link); later settings override earlier
ones field by field, :meth:`FaultProxy.reset` clears them.

Use it in-process (:class:`FaultProxy` with a route function; tests do this
on loopback) or as a process::

    python -m mpcnet.testing.faultproxy --listen 0.0.0.0:7000 --transparent \\
        --hosts p0=10.77.0.10,p1=10.77.0.11 --target-port 7000 --source 10.77.0.1 \\
        --control /tmp/proxy.sock

In that mode (the network-namespace test bed, :mod:`mpcnet.testing.netns`)
the proxy accepts connections to *any* party address (``IP_TRANSPARENT`` plus
a local route for the whole subnet in its namespace), learns the link from the
client's address (the dialer) and the address it dialled (the target), and
connects on to the target from ``--source``. The control socket takes one
JSON request per line (``{"cmd": "set", "link": "*", "delay": 0.025}``,
``{"cmd": "cut", "link": "p0-p1"}``, ``{"cmd": "stats"}``,
``{"cmd": "reset"}``) and answers one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import struct
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import trio

__all__ = ["LinkPolicy", "Route", "FaultProxy", "ProxyControl", "main"]

log = logging.getLogger("mpcnet.faultproxy")

CHUNK = 16384
#: Chunks queued per direction of one connection (CHUNK bytes each at most):
#: enough for the bandwidth-delay product of any test, and a bound.
QUEUE_CHUNKS = 256
IP_TRANSPARENT = 19


@attrs.frozen
class LinkPolicy:
    """What the proxy does to one link's traffic (both directions)."""

    delay: float = 0.0
    jitter: float = 0.0
    bandwidth: float | None = None
    blackhole: bool = False
    paused: bool = False

    def __attrs_post_init__(self) -> None:
        if self.delay < 0 or self.jitter < 0 or (self.bandwidth is not None and self.bandwidth <= 0):
            raise ValueError("delay and jitter must be >= 0 and bandwidth > 0")


_POLICY_FIELDS = {f.name for f in attrs.fields(LinkPolicy)}


@attrs.frozen
class Route:
    """Where an accepted connection goes: its link and the upstream address."""

    link: str
    ends: tuple[str, str]
    host: str
    port: int
    local_host: str | None = None


def _selects(selector: str, route: Route) -> bool:
    if selector == "*":
        return True
    if selector.startswith("host:"):
        return selector[5:] in route.ends
    a, sep, b = selector.partition("-")
    return bool(sep) and {a, b} == set(route.ends)


@attrs.define
class _LinkStats:
    connections: int = 0
    open: int = 0
    bytes_forward: int = 0  # dialer -> target
    bytes_back: int = 0
    dropped: int = 0
    cuts: int = 0


class FaultProxy:
    """The proxy. ``route(client_addr, local_addr)`` maps an accepted
    connection to a :class:`Route` (None: refuse it)."""

    def __init__(self, route: Callable[[Any, Any], Route | None], *, seed: int | None = None) -> None:
        self._route = route
        self._rules: list[tuple[str, dict[str, Any]]] = []
        self._rng = random.Random(seed)
        self._changed = trio.Event()
        self._conns: set[_Relay] = set()
        self.stats: dict[str, _LinkStats] = {}

    # ---- scripting

    def policy(self, route: Route) -> LinkPolicy:
        fields: dict[str, Any] = {}
        for selector, changes in self._rules:
            if _selects(selector, route):
                fields.update(changes)
        return LinkPolicy(**fields)

    def set(self, selector: str = "*", **changes: Any) -> None:
        """Change the policy of the links ``selector`` names (effective at
        once, also for open connections)."""
        unknown = set(changes) - _POLICY_FIELDS
        if unknown:
            raise ValueError(f"unknown policy fields {sorted(unknown)}")
        LinkPolicy(**changes)  # refuse bad values now, not later inside a serving task
        self._rules.append((selector, dict(changes)))
        self._wake()

    def reset(self) -> None:
        """Forget every policy: a perfect network again."""
        self._rules.clear()
        self._wake()

    def cut(self, selector: str = "*") -> int:
        """Reset (RST) every open connection on the selected links now;
        returns how many were cut."""
        hit = [c for c in self._conns if _selects(selector, c.route)]
        for conn in hit:
            conn.cut()
        return len(hit)

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_moving(self, route: Route) -> LinkPolicy:
        """Wait while the link is paused; returns the current policy."""
        while True:
            policy = self.policy(route)
            if not policy.paused:
                return policy
            await self._changed.wait()

    def stats_dict(self) -> dict[str, dict[str, int]]:
        return {link: attrs.asdict(s) for link, s in sorted(self.stats.items())}

    # ---- serving

    async def serve(self, listeners: Iterable[trio.SocketListener]) -> None:
        async with trio.open_nursery() as nursery:
            for listener in listeners:
                nursery.start_soon(self._accept_loop, listener, nursery)

    async def _accept_loop(self, listener: trio.SocketListener, nursery: trio.Nursery) -> None:
        while True:
            try:
                stream = await listener.accept()
            except OSError:
                await trio.sleep(0.05)
                continue
            nursery.start_soon(self._handle, stream)

    async def _handle(self, down: trio.SocketStream) -> None:
        try:
            route = self._route(down.socket.getpeername(), down.socket.getsockname())
        except OSError:
            route = None
        if route is None:
            await _abort(down)
            return
        stats = self.stats.setdefault(route.link, _LinkStats())
        stats.connections += 1
        policy = await self.wait_moving(route)
        if policy.blackhole:
            await self._swallow(down, route, stats)
            return
        try:
            up = await trio.open_tcp_stream(route.host, route.port, local_address=route.local_host)
        except OSError:
            await _abort(down)  # the target is down: the dialer sees a reset, as from the host itself
            return
        relay = _Relay(self, route, stats, down, up)
        self._conns.add(relay)
        stats.open += 1
        try:
            await relay.run()
        finally:
            stats.open -= 1
            self._conns.discard(relay)

    async def _swallow(self, down: trio.SocketStream, route: Route, stats: _LinkStats) -> None:
        """A connection into a black hole: read and drop until the client
        gives up or the hole closes (then reset it: its bytes are lost)."""
        try:
            while self.policy(route).blackhole:
                with trio.move_on_after(0.2):
                    data = await down.receive_some(CHUNK)
                    if not data:
                        break
                    stats.dropped += len(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        await _abort(down)


async def _abort(stream: trio.SocketStream) -> None:
    """Close with RST (SO_LINGER 0), not FIN."""
    try:
        stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    await trio.aclose_forcefully(stream)


class _Relay:
    """One proxied connection: two directions, each a reader and a writer
    joined by a bounded queue of (release time, bytes)."""

    def __init__(self, proxy: FaultProxy, route: Route, stats: _LinkStats, down: trio.SocketStream,
                 up: trio.SocketStream) -> None:
        self.proxy, self.route, self.stats = proxy, route, stats
        self.down, self.up = down, up
        self._scope: trio.CancelScope | None = None
        self._reset = False

    def cut(self) -> None:
        self._reset = True
        self.stats.cuts += 1
        if self._scope is not None:
            self._scope.cancel()

    async def run(self) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                if self._reset:
                    nursery.cancel_scope.cancel()
                for src, dst, forward in ((self.down, self.up, True), (self.up, self.down, False)):
                    send, receive = trio.open_memory_channel[tuple[float, bytes] | None](QUEUE_CHUNKS)
                    nursery.start_soon(self._read, src, send, forward)
                    nursery.start_soon(self._write, dst, receive, forward)
        finally:
            with trio.CancelScope(shield=True):
                if self._reset:
                    await _abort(self.down)
                    await _abort(self.up)
                else:
                    await trio.aclose_forcefully(self.down)
                    await trio.aclose_forcefully(self.up)

    def _broken(self) -> None:
        # One end reset or failed: pass the reset on to the other end.
        self._reset = True
        assert self._scope is not None
        self._scope.cancel()

    async def _read(self, src: trio.SocketStream, send: trio.MemorySendChannel[tuple[float, bytes] | None],
                    forward: bool) -> None:
        proxy, rng = self.proxy, self.proxy._rng
        last_release = tx_free = 0.0
        async with send:
            while True:
                await proxy.wait_moving(self.route)
                try:
                    data = await src.receive_some(CHUNK)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._broken()
                    return
                if not data:
                    await send.send(None)
                    return
                policy = proxy.policy(self.route)
                if policy.blackhole:
                    self.stats.dropped += len(data)
                    continue
                now = trio.current_time()
                if policy.bandwidth:
                    tx_free = max(tx_free, now) + len(data) / policy.bandwidth
                    now = tx_free
                delay = policy.delay + (rng.uniform(-policy.jitter, policy.jitter) if policy.jitter else 0.0)
                last_release = max(last_release, now + max(0.0, delay))  # never reorder
                await send.send((last_release, data))

    async def _write(self, dst: trio.SocketStream, receive: trio.MemoryReceiveChannel[tuple[float, bytes] | None],
                     forward: bool) -> None:
        proxy = self.proxy
        async with receive:
            async for item in receive:
                if item is None:
                    try:
                        await dst.send_eof()
                    except (trio.BrokenResourceError, trio.ClosedResourceError):
                        self._broken()
                    return
                release, data = item
                await trio.sleep_until(release)
                policy = await proxy.wait_moving(self.route)
                if policy.blackhole:
                    self.stats.dropped += len(data)
                    continue
                try:
                    await dst.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    self._broken()
                    return
                if forward:
                    self.stats.bytes_forward += len(data)
                else:
                    self.stats.bytes_back += len(data)


# --------------------------------------------------------------------------- control socket


async def serve_control(proxy: FaultProxy, path: str) -> None:
    """Answer JSON-line requests on a unix socket at ``path``."""
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    await sock.bind(path)
    sock.listen(16)
    listener = trio.SocketListener(sock)
    async with trio.open_nursery() as nursery:
        while True:
            stream = await listener.accept()
            nursery.start_soon(_control_session, proxy, stream)


async def _control_session(proxy: FaultProxy, stream: trio.SocketStream) -> None:
    buf = b""
    async with stream:
        while True:
            try:
                data = await stream.receive_some(65536)
            except trio.BrokenResourceError:
                return
            if not data:
                return
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                try:
                    reply = _control(proxy, json.loads(line))
                except Exception as exc:  # reported to the controller
                    reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
                await stream.send_all(json.dumps(reply).encode() + b"\n")


def _control(proxy: FaultProxy, req: dict[str, Any]) -> dict[str, Any]:
    cmd = req.pop("cmd")
    link = req.pop("link", "*")
    if cmd == "set":
        proxy.set(link, **req)
        return {"ok": True}
    if cmd == "cut":
        return {"ok": True, "cut": proxy.cut(link)}
    if cmd == "reset":
        proxy.reset()
        return {"ok": True}
    if cmd == "stats":
        return {"ok": True, "stats": proxy.stats_dict()}
    raise ValueError(f"unknown command {cmd!r}")


class ProxyControl:
    """Blocking client for the control socket."""

    def __init__(self, path: str, timeout: float = 5.0) -> None:
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        self._sock.connect(path)
        self._file = self._sock.makefile("rb")

    def request(self, cmd: str, link: str = "*", **fields: Any) -> dict[str, Any]:
        self._sock.sendall(json.dumps({"cmd": cmd, "link": link, **fields}).encode() + b"\n")
        reply = json.loads(self._file.readline())
        if not reply.get("ok"):
            raise RuntimeError(f"proxy refused {cmd}: {reply.get('error')}")
        out: dict[str, Any] = reply
        return out

    def set(self, link: str = "*", **fields: Any) -> None:
        self.request("set", link, **fields)

    def cut(self, link: str = "*") -> int:
        return int(self.request("cut", link)["cut"])

    def reset(self) -> None:
        self.request("reset")

    def stats(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = self.request("stats")["stats"]
        return out

    def close(self) -> None:
        self._file.close()
        self._sock.close()


# --------------------------------------------------------------------------- process entry point


def host_router(hosts: list[tuple[str, str]], target_port: int,
                source: str | None) -> Callable[[Any, Any], Route | None]:
    """Routes for the namespace test bed: the client's address names the
    dialer, the dialled address names the target."""
    by_ip = {ip: name for name, ip in hosts}
    order = {name: i for i, (name, _) in enumerate(hosts)}

    def route(client: Any, local: Any) -> Route | None:
        dialer, target = by_ip.get(client[0]), by_ip.get(local[0])
        if dialer is None or target is None or dialer == target:
            return None
        a, b = sorted((dialer, target), key=order.__getitem__)
        return Route(f"{a}-{b}", (a, b), local[0], target_port, source)

    return route


async def _amain(args: argparse.Namespace) -> None:
    hosts = [tuple(h.split("=", 1)) for h in args.hosts.split(",")] if args.hosts else []
    proxy = FaultProxy(host_router(hosts, args.target_port, args.source), seed=args.seed)
    host, _, port = args.listen.rpartition(":")
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.transparent:
        sock.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
    await sock.bind((host, int(port)))
    sock.listen(1024)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(proxy.serve, [trio.SocketListener(sock)])
        if args.control:
            nursery.start_soon(serve_control, proxy, args.control)
        await trio.sleep(0.05)
        print("ready", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="faultproxy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to accept on")
    parser.add_argument("--transparent", action="store_true", help="IP_TRANSPARENT: accept for any local-routed address")
    parser.add_argument("--hosts", default="", help="name=ip,... in roster order")
    parser.add_argument("--target-port", type=int, default=7000)
    parser.add_argument("--source", help="source address for upstream connections")
    parser.add_argument("--control", help="unix socket path for JSON-line control")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        trio.run(_amain, args)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":  # pragma: no cover
    main()
