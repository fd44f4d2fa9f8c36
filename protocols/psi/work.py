"""Running the PSI curve work on chunks of a set, on every core.

libsodium releases the GIL, but the Python around each PyNaCl call (SHA-512,
the batch inversion, BLAKE2b, list handling: about a quarter of the work)
does not, and compute threads would take the GIL from the event loop; worker
processes do neither (docs/psi.md has the measurements). Steps on fewer than
:data:`PARALLEL_MIN` points run inline (a pool would cost more than it
saves); larger ones go, in chunks of at most :data:`CHUNK` points (at least
four per worker, for balance), to a pool of :mod:`protocols.psi.worker` processes (one
pool per process, started on first use and shared by every session, so a
simulation's parties share the cores instead of oversubscribing them). ``MPCNET_PSI_WORKERS`` sets the pool size (default:
the usable cores; 1 keeps everything inline).

While workers compute, the event loop stays free: other parties of a
simulation, network reads and deadlines keep running. Progress goes to
``ctx.report_progress`` chunk by chunk.
"""

from __future__ import annotations

import atexit
import os
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import trio

from mpcnet import Context

from . import curve
from .worker import ANSWER, OP_OF, encode_request, pack_items, read_exact

__all__ = ["CHUNK", "PARALLEL_MIN", "worker_count", "over_items", "over_points"]

CHUNK = 8192
MIN_CHUNK = 512
#: The directory holding the ``protocols`` package: first on a worker's path,
#: so that ``protocols.psi.worker`` is this one (whatever the child's cwd).
PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
#: A worker process: this interpreter, serving stdin (see protocols.psi.worker).
WORKER_COMMAND = [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                  "from protocols.psi.worker import serve; serve(sys.stdin.buffer, sys.stdout.buffer)", PACKAGE_ROOT]
PARALLEL_MIN = 4096


def worker_count() -> int:
    """Worker processes for large steps: ``MPCNET_PSI_WORKERS`` or the usable cores."""
    env = os.environ.get("MPCNET_PSI_WORKERS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


class WorkerFailed(RuntimeError):
    """A worker process died or failed (a local error, not a peer's fault)."""


class _Worker:
    """One ``protocols.psi.worker`` process; one request at a time."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(WORKER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def call(self, op: int, scalar: bytes, offset: int, payload: bytes) -> tuple[int, bytes]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(encode_request(op, scalar, offset, payload))
        self.proc.stdin.flush()
        status, length = ANSWER.unpack(read_exact(self.proc.stdout, ANSWER.size))
        return status, read_exact(self.proc.stdout, length)

    def close(self) -> None:
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=2)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()


class _WorkerPool:
    """Idle workers in a queue; :meth:`call` blocks (run it in a thread)."""

    def __init__(self, size: int) -> None:
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._all = [_Worker() for _ in range(size)]
        for w in self._all:
            self._idle.put(w)

    def call(self, op: int, scalar: bytes, offset: int, payload: bytes) -> bytes:
        worker = self._idle.get()
        try:
            status, data = worker.call(op, scalar, offset, payload)
        except (OSError, EOFError, struct.error):
            worker.proc.kill()
            fresh = _Worker()
            self._all[self._all.index(worker)] = fresh
            worker = fresh
            raise WorkerFailed("a PSI worker process died") from None
        finally:
            self._idle.put(worker)
        if status == 1:
            raise curve.SmallOrderPoint(struct.unpack("<Q", data)[0])
        if status != 0:
            raise WorkerFailed(f"a PSI worker failed ({data.decode(errors='replace')})")
        return data

    def close(self) -> None:
        for w in self._all:
            w.close()


_pool: _WorkerPool | None = None
_pool_lock = threading.Lock()


def _get_pool() -> _WorkerPool:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = _WorkerPool(worker_count())
            atexit.register(_pool.close)
        return _pool


async def _run(ctx: Context, stage: str, func: Callable[..., bytes], calls: Sequence[tuple[Any, ...]],
               sizes: Sequence[int], width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    total = sum(sizes)
    done = 0
    parts: list[bytes] = [b""] * len(calls)
    ctx.report_progress(stage, 0, total)
    if total < PARALLEL_MIN or worker_count() == 1:
        for k, (args, size) in enumerate(zip(calls, sizes, strict=True)):
            parts[k] = func(*args)
            done += size
            ctx.report_progress(stage, done, total)
            await trio.sleep(0)  # let the other parties of a simulation run between chunks
    else:
        pool = await trio.to_thread.run_sync(_get_pool)
        slots = trio.Semaphore(worker_count())
        op = OP_OF[func]

        async def one(k: int, args: tuple[Any, ...], size: int) -> None:
            nonlocal done
            async with slots:
                if isinstance(args[0], bytes):
                    scalar, offset, payload = args[1], args[2], args[0]
                else:
                    scalar, offset, payload = args[1], 0, pack_items(list(args[0]))
                parts[k] = await trio.to_thread.run_sync(pool.call, op, scalar, offset, payload,
                                                         abandon_on_cancel=True)
            done += size
            ctx.report_progress(stage, done, total)

        async with trio.open_nursery() as nursery:
            for k, (args, size) in enumerate(zip(calls, sizes, strict=True)):
                nursery.start_soon(one, k, args, size)
    return np.frombuffer(b"".join(parts), dtype=np.uint8).reshape(-1, width)


def _chunk_size(total: int) -> int:
    """At most CHUNK, and small enough that every worker gets about four chunks."""
    if total < PARALLEL_MIN:
        return CHUNK
    return max(MIN_CHUNK, min(CHUNK, -(-total // (4 * worker_count()))))


async def over_items(ctx: Context, stage: str, func: Callable[[Sequence[bytes], bytes], bytes],
                     items: Sequence[bytes], scalar: bytes, width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``func(chunk, scalar)`` over the encoded items: a (len(items), width) uint8 array."""
    size = _chunk_size(len(items))
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    return await _run(ctx, stage, func, [(c, scalar) for c in chunks], [len(c) for c in chunks], width)


async def over_points(ctx: Context, stage: str, func: Callable[[bytes, bytes, int], bytes],
                      points: np.ndarray[Any, np.dtype[np.uint8]], scalar: bytes,
                      width: int) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``func(chunk_bytes, scalar, offset)`` over the rows of a (k, 32) point
    array: a (k, width) uint8 array."""
    calls, sizes = [], []
    size = _chunk_size(len(points))
    for start in range(0, len(points), size):
        rows = points[start : start + size]
        calls.append((rows.tobytes(), scalar, start))
        sizes.append(len(rows))
    return await _run(ctx, stage, func, calls, sizes, width)
