"""An asyncio web service that joins a secure sum when a request arrives.

Each of three hospitals runs this service next to its own records. When
someone asks any of them for `GET /sum?label=L&value=V`, that hospital joins
the secure sum labelled L with its private value V; once all three have been
asked with the same label, each answers with the total, and no hospital ever
saw another's value. Plain asyncio (no web framework); mpcnet runs inside the
asyncio loop through trio guest mode (mpcnet.aio).

    python examples/asyncio_service.py            # self-test: 3 services, 3 requests each
"""

from __future__ import annotations

import asyncio
import json
import socket
from urllib.parse import parse_qs, urlparse

import mpcnet
import mpcnet.aio
from mpcnet.identity import Roster, SecretKey, generate_key


async def serve(party: mpcnet.aio.AsyncParty, port: int, ready: asyncio.Event) -> asyncio.Server:
    """An HTTP/1.0 server: one request per connection, JSON answers."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 10)
            while (await reader.readline()).strip():
                pass  # skip headers
            _, target, _ = request.decode("latin-1").split(" ", 2)
            url = urlparse(target)
            query = parse_qs(url.query)
            if url.path != "/sum" or "label" not in query or "value" not in query:
                status, body = "404 Not Found", {"error": "use GET /sum?label=L&value=V"}
            else:
                result = await party.run("secure-sum", int(query["value"][0]), session_id=query["label"][0])
                status, body = "200 OK", {"party": party.me, "total": result.output,
                                          "rounds": result.stats.rounds}
        except mpcnet.MPCError as exc:
            status, body = "502 Bad Gateway", {"error": str(exc)}
        except (TimeoutError, ValueError):
            status, body = "400 Bad Request", {"error": "malformed request"}
        payload = json.dumps(body).encode()
        writer.write(f"HTTP/1.0 {status}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    ready.set()
    return server


async def http_get(port: int, path: str) -> dict:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return json.loads(raw.split(b"\r\n\r\n", 1)[1])


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


async def hospital(roster: Roster, key: SecretKey, http_port: int, ready: asyncio.Event,
                   stop: asyncio.Event) -> None:
    async with mpcnet.aio.open_party(roster, key, connect_timeout=20) as party:
        server = await serve(party, http_port, ready)
        async with server:
            await stop.wait()


async def main() -> None:
    names = ["st-mary", "general", "childrens"]
    keys = [generate_key(n) for n in names]
    mesh_ports, http_ports = free_ports(3), free_ports(3)
    roster = Roster.from_entries([(k.name, f"127.0.0.1:{p}", k.public) for k, p in zip(keys, mesh_ports, strict=True)])
    readies, stop = [asyncio.Event() for _ in names], asyncio.Event()
    async with mpcnet.aio.TrioHost():
        services = [asyncio.ensure_future(hospital(roster, k, p, r, stop))
                    for k, p, r in zip(keys, http_ports, readies, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
        for label, values in (("flu-cases-week-47", [120, 45, 80]), ("icu-beds-free", [3, 0, 7])):
            answers = await asyncio.gather(*(http_get(p, f"/sum?label={label}&value={v}")
                                             for p, v in zip(http_ports, values, strict=True)))
            for a in answers:
                print(f"{label}: {a['party']} got total {a['total']} in {a['rounds']} rounds")
        stop.set()
        await asyncio.gather(*services)


if __name__ == "__main__":
    asyncio.run(main())
