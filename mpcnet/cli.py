"""The ``mpcnet`` command line.

Commands: ``keygen``, ``demo``, ``protocols``, ``simulate``, ``party``, ``prio3 run``,
``aggregator``, ``aggregator-init``, ``submit``, ``collect``.
Errors print one line to stderr (naming the peer at fault where there is
one) and exit non-zero: 2 for bad configuration or input, 1 for a failed
run, 130 when interrupted. ``--debug`` shows tracebacks and debug logs.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import __version__
from ._net.resumable import DEFAULT_RECONNECT_TIMEOUT
from .context import ProgressCallback
from .errors import ConfigError, InputError, MPCError
from .identity import format_public_key, generate_key, load_key_file, load_roster, write_key_file
from .party import DEFAULT_ROUND_TIMEOUT, HEARTBEAT_INTERVAL, LIVENESS_TIMEOUT
from .progress import ProgressBar
from .registry import all_protocols, get_protocol
from .runner import DEFAULT_CONNECT_TIMEOUT, run_party, simulate

__all__ = ["main", "run", "to_json"]

EXIT_FAILED = 1
EXIT_CONFIG = 2


def to_json(value: Any) -> Any:
    """Convert outputs (numpy arrays and scalars included) to JSON values."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return value


def _parse_params(pairs: Sequence[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--param expects KEY=VALUE, got {pair!r}")
        params[key.strip()] = value
    return params


def _read_json_file(path: str, what: str) -> Any:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{what} {path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None


def _read_input_json(arg: str) -> Any:
    """``--input-json``: ``@PATH`` reads a file, ``@-`` standard input;
    anything else is a JSON literal. The literal form puts the secret in
    argv, which ``ps`` and ``/proc/PID/cmdline`` show to every local user,
    so the documented way is ``@PATH`` (a file only its owner can read) or
    ``@-``."""
    if arg.startswith("@"):
        return _read_json_file(arg[1:], "input file")
    try:
        return json.loads(arg)
    except json.JSONDecodeError as exc:
        raise InputError(f"--input-json is not valid JSON ({exc.msg}); use @PATH to read a file") from None


def _read_input_lines(path: str) -> list[str]:
    """``--input-file``: one item per line (UTF-8; ``\n`` or ``\r\n`` line
    ends; empty lines are skipped), as a list of strings."""
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read input file {path}: {exc.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"input file {path} is not valid UTF-8 (line {line})") from None
    return [line.removesuffix("\r") for line in text.split("\n") if line not in ("", "\r")]


def _emit(obj: Any) -> None:
    # json.dumps (C encoder), not json.dump (pure Python): 10x faster on a
    # 10^6-element output.
    sys.stdout.write(json.dumps(to_json(obj), separators=(",", ":")) + "\n")


def _short(value: Any, limit: int = 8) -> str:
    value = to_json(value)
    if isinstance(value, list) and len(value) > limit:
        return "[" + ", ".join(map(str, value[:limit])) + f", ... ({len(value)} values)]"
    return str(value)


@contextlib.contextmanager
def _progress(args: argparse.Namespace) -> Iterator[ProgressCallback | None]:
    """A progress bar on stderr when asked for (--progress) or when stderr is
    a terminal, unless --no-progress."""
    wanted = args.progress if args.progress is not None else sys.stderr.isatty()
    if not wanted:
        yield None
        return
    bar = ProgressBar()
    try:
        yield bar.update
    finally:
        bar.close()


def cmd_keygen(args: argparse.Namespace) -> int:
    key = generate_key(args.name)
    path = write_key_file(key, args.dir, overwrite=args.force)
    print(format_public_key(key.public))
    print(f"secret key written to {path} (mode 0600); put the public key above in the roster as "
          f"[parties.{key.name}] public_key", file=sys.stderr)
    return 0


def cmd_protocols(args: argparse.Namespace) -> int:
    specs = all_protocols()
    if args.json:
        _emit([s.to_dict() for s in specs])
        return 0
    for s in specs:
        bounds = f"{s.min_parties}+" if s.max_parties is None else f"{s.min_parties}-{s.max_parties}"
        print(f"{s.name}  ({bounds} parties)\n  {s.summary}")
        print(f"  security: {s.security}\n  reveals:  {s.reveals}\n  input:    {s.input}\n  output:   {s.output}")
        for p in s.params:
            print(f"  --param {p.name}=<{p.type.__name__}>  default {p.default!r}: {p.doc}")
        print()
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    inputs = _read_json_file(args.inputs_json, "inputs file")
    if not isinstance(inputs, list):
        raise InputError("the inputs file must hold a JSON list with one input per party")
    names = args.names.split(",") if args.names else None
    with _progress(args) as progress:
        result = simulate(get_protocol(args.protocol), inputs, params=_parse_params(args.param),
                          transport=args.transport, names=names, seed=args.seed, round_timeout=args.timeout,
                          progress=progress)
    if args.json:
        _emit({"protocol": result.protocol, "transport": result.transport, "parties": list(result.parties),
               "outputs": list(result.outputs), "stats": [s.to_dict() for s in result.stats],
               "wall_time": result.wall_time})
        return 0
    for name, output, stats in zip(result.parties, result.outputs, result.stats, strict=True):
        print(f"{name}: {_short(output)}   ({stats.rounds} rounds, {stats.messages_sent} messages, "
              f"{stats.bytes_sent} bytes sent)")
    print(f"wall time {result.wall_time:.3f}s over {result.transport}")
    return 0


def cmd_party(args: argparse.Namespace) -> int:
    roster = load_roster(args.roster)
    key = load_key_file(args.key)
    if key.name != args.id:
        raise ConfigError(f"--id {args.id!r} does not match the key file, which belongs to {key.name!r}")
    value = _read_input_json(args.input_json) if args.input_file is None else _read_input_lines(args.input_file)
    with _progress(args) as progress:
        result = run_party(get_protocol(args.protocol), value, roster=roster, key=key,
                           params=_parse_params(args.param), session_label=args.session,
                           round_timeout=args.timeout, connect_timeout=args.connect_timeout, progress=progress,
                           reconnect_timeout=args.reconnect_timeout or None,
                           liveness_timeout=args.liveness_timeout or None, prepare=args.prepare)
    if args.json:
        _emit({"party": result.party, "output": result.output, "stats": result.stats.to_dict()})
    else:
        print(f"{result.party}: {_short(result.output)}   ({result.stats.rounds} rounds, "
              f"{result.stats.bytes_sent} bytes sent, {result.stats.wall_time:.3f}s)")
    return 0


def cmd_prio3_run(args: argparse.Namespace) -> int:
    from .aggregate.simulation import VdafConfig, parse_measurements, run_prio3

    config = VdafConfig(args.vdaf, length=args.length, bits=args.bits, max_weight=args.max_weight)
    config.vdaf()  # parameters checked before the file is read
    try:
        data = sys.stdin.buffer.read() if args.measurements == "-" else Path(args.measurements).read_bytes()
        text = data.decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read measurements file {args.measurements}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(f"measurements file {args.measurements} line {line}: not valid UTF-8") from None
    measurements = parse_measurements(text.split("\n"), config, f"measurements file {args.measurements}")
    result = run_prio3(config, measurements, args.malicious_clients)
    if args.json:
        _emit(result.to_dict())
        return 0
    stats = result.to_dict()["stats"]
    print(f"aggregate: {_short(result.aggregate)}")
    print(f"accepted {result.accepted} reports, rejected {result.rejected}")
    print(f"{result.rounds} rounds, {result.bytes_per_aggregator[0]} bytes sent by the leader, "
          f"{result.bytes_per_aggregator[1]} by the helper; {result.wall_time:.3f}s, "
          f"{stats['reports_per_second']:.0f} reports/s")
    return 0


def cmd_aggregator(args: argparse.Namespace) -> int:
    import trio

    from .aggregate.service import load_config, run_aggregator

    config = load_config(args.config)
    role = "leader" if config.role == 0 else "helper"

    async def main() -> None:
        # SIGINT and SIGTERM stop the service in order (the store is closed); a SIGKILL loses nothing either.
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:
                binds = await nursery.start(run_aggregator, config)
                where = f"HTTP on {', '.join(binds)}, " if binds else ""
                print(f"mpcnet {role}: {where}mesh on {config.task.roster()[role].address}, database {config.database}",
                      file=sys.stderr, flush=True)
                async for _ in signals:
                    nursery.cancel_scope.cancel()
                    break
        print(f"mpcnet {role}: stopped", file=sys.stderr)

    trio.run(main)
    return 0


def cmd_aggregator_init(args: argparse.Namespace) -> int:
    from .aggregate.service import init_deployment
    from .aggregate.simulation import VdafConfig

    config = VdafConfig(args.vdaf, length=args.length, bits=args.bits, max_weight=args.max_weight)
    paths = init_deployment(args.dir, config, leader_url=args.leader_url, leader_mesh=args.leader_mesh,
                            helper_mesh=args.helper_mesh, time_precision=args.time_precision,
                            min_batch_size=args.min_batch_size, max_epsilon=args.max_epsilon)
    for name in ("task", "leader", "helper", "collector"):
        print(f"{name}: {paths[name]}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from .aggregate.service import load_task, submit
    from .aggregate.service.task import b64
    from .aggregate.simulation import parse_measurements

    task = load_task(args.task)
    (value,) = parse_measurements([args.measurement], task.vdaf, "MEASUREMENT") or [None]
    if value is None:
        raise InputError("MEASUREMENT is empty")
    report_id = submit(task, value, timeout=args.timeout)
    print(f"uploaded report {b64(report_id)}", file=sys.stderr)
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from .aggregate.service import collect, load_task

    task = load_task(args.task)
    key = load_key_file(args.key)
    result = collect(task, key, start=args.start, end=args.end, epsilon=args.epsilon, timeout=args.timeout)
    if args.json:
        _emit({"aggregate": result.aggregate, "count": result.count, "start": result.start, "end": result.end,
               "epsilon": result.epsilon})
    else:
        noise = f", with noise for epsilon = {result.epsilon}" if result.epsilon else " (exact)"
        print(f"aggregate: {_short(result.aggregate)}{noise}")
        print(f"{result.count} reports with time in [{result.start}, {result.end})")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(transport=args.transport, as_json=args.json)


def _progress_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show a progress bar on stderr (default: when stderr is a terminal)")
    p.add_argument("--no-progress", dest="progress", action="store_false")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for docs and tests)."""
    parser = argparse.ArgumentParser(prog="mpcnet", description="Secure multiparty computation over encrypted peer channels.")
    parser.add_argument("--version", action="version", version=f"mpcnet {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections, rounds and aborts to stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("keygen", help="create a party's secret key file and print its public key")
    p.add_argument("name", help="the party id (as in the roster)")
    p.add_argument("--dir", default=".", help="directory for NAME.key (default: .)")
    p.add_argument("--force", action="store_true", help="overwrite an existing key file")
    p.set_defaults(func=cmd_keygen)

    p = sub.add_parser("demo", help="four engineers average their raises over encrypted TCP on loopback")
    p.add_argument("--transport", choices=["tcp", "memory"], default="tcp")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("protocols", help="list the registered protocols and their security metadata")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_protocols)

    p = sub.add_parser("simulate", help="run every party of a protocol in this process")
    p.add_argument("protocol")
    p.add_argument("--inputs-json", required=True, metavar="FILE", help="JSON list, one input per party ('-' for stdin)")
    p.add_argument("--transport", choices=["memory", "tcp"], default="memory")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="protocol parameter (repeatable)")
    p.add_argument("--names", help="comma-separated party names (default p0,p1,...)")
    p.add_argument("--seed", type=int, help="seed the parties' randomness (simulations only: NOT private)")
    p.add_argument("--timeout", type=float, default=DEFAULT_ROUND_TIMEOUT, help="round deadline in seconds")
    p.add_argument("--json", action="store_true")
    _progress_flags(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("party", help="run one party of a protocol against the roster's other parties")
    p.add_argument("protocol")
    p.add_argument("--roster", required=True, help="roster TOML file")
    p.add_argument("--id", required=True, help="this party's id in the roster")
    p.add_argument("--key", required=True, help="this party's secret key file")
    given = p.add_mutually_exclusive_group(required=True)
    given.add_argument("--input-json", metavar="@PATH|@-|JSON",
                       help="this party's input as JSON: @PATH reads it from a file, @- from standard input. Prefer "
                            "these: a literal JSON value is part of the command line, which `ps` shows to every "
                            "user of this machine")
    given.add_argument("--input-file", metavar="PATH", help="this party's input as a list of strings: one UTF-8 item "
                       "per line, empty lines skipped ('-' for stdin); for set protocols such as psi")
    p.add_argument("--param", action="append", default=[], metavar="K=V", help="protocol parameter (repeatable)")
    p.add_argument("--session", default="", help="session label; concurrent runs of one protocol need distinct labels")
    p.add_argument("--prepare", action="append", default=[], metavar="PROTOCOL",
                   help="run this input-free protocol first, once the connection is up (repeatable; every party must "
                        "pass the same), e.g. twoparty-setup: the two-party engine's base OTs as an offline phase")
    p.add_argument("--timeout", type=float, default=DEFAULT_ROUND_TIMEOUT,
                   help="round deadline in seconds: how long a live peer may take to send what a round needs, its "
                        "local work included")
    p.add_argument("--liveness-timeout", type=float, default=LIVENESS_TIMEOUT, metavar="SECONDS",
                   help="a peer from which nothing arrives (parties heartbeat every 0.5 s) for this long during the "
                        "run is named as down or cut off (0: only the round deadline)")
    p.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT,
                   help="seconds to wait for every peer to be connected")
    p.add_argument("--reconnect-timeout", type=float, default=DEFAULT_RECONNECT_TIMEOUT, metavar="SECONDS",
                   help="seconds a broken connection may take to be re-established and resumed before the peer "
                        "is declared lost (0: no reconnection)")
    p.add_argument("--json", action="store_true")
    _progress_flags(p)
    p.set_defaults(func=cmd_party)

    prio3 = sub.add_parser("prio3", help="Prio3 (draft-irtf-cfrg-vdaf-20) verifiable aggregation")
    prio3_sub = prio3.add_subparsers(dest="prio3_command", required=True, metavar="COMMAND")
    p = prio3_sub.add_parser("run", help="shard measurements and run both aggregators in this process")
    p.add_argument("--vdaf", required=True, choices=["count", "sum", "sumvec", "histogram", "multihot"])
    p.add_argument("--length", type=int, default=1, help="entries of sumvec and multihot, buckets of histogram")
    p.add_argument("--bits", type=int, default=8, help="sum and sumvec values lie in [0, 2^bits - 1] (default 8)")
    p.add_argument("--max-weight", type=int, default=None, help="multihot: at most this many ones (default: length)")
    p.add_argument("--measurements", required=True, metavar="FILE",
                   help="one JSON measurement per line ('-' for stdin)")
    p.add_argument("--malicious-clients", type=int, default=0, metavar="K",
                   help="add K clients with invalid measurements and honestly computed proofs (all rejected)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_prio3_run)

    p = sub.add_parser("aggregator", help="run a Prio3 leader or helper aggregator (DAP-style service)")
    p.add_argument("--config", required=True, metavar="FILE", help="the aggregator's TOML configuration")
    p.set_defaults(func=cmd_aggregator)

    p = sub.add_parser("aggregator-init", help="write keys, a task file and leader/helper configurations")
    p.add_argument("dir", help="directory for the files")
    p.add_argument("--vdaf", required=True, choices=["count", "sum", "sumvec", "histogram", "multihot"])
    p.add_argument("--length", type=int, default=1, help="entries of sumvec and multihot, buckets of histogram")
    p.add_argument("--bits", type=int, default=8, help="sum and sumvec values lie in [0, 2^bits - 1] (default 8)")
    p.add_argument("--max-weight", type=int, default=None, help="multihot: at most this many ones (default: length)")
    p.add_argument("--leader-url", default="http://127.0.0.1:8080", help="where clients reach the leader")
    p.add_argument("--leader-mesh", default="127.0.0.1:9701", metavar="HOST:PORT", help="the leader's mesh address")
    p.add_argument("--helper-mesh", default="127.0.0.1:9702", metavar="HOST:PORT", help="the helper's mesh address")
    p.add_argument("--time-precision", type=int, default=60, metavar="SECONDS", help="report time granularity")
    p.add_argument("--min-batch-size", type=int, default=1, help="refuse to collect fewer reports than this")
    p.add_argument("--max-epsilon", default=None, help="require every collection to add noise with epsilon <= this")
    p.set_defaults(func=cmd_aggregator_init)

    p = sub.add_parser("submit", help="shard, encrypt and upload one measurement to a task's leader")
    p.add_argument("--task", required=True, metavar="FILE", help="the task file (JSON)")
    p.add_argument("measurement", help="one JSON value: 0/1 (count), an integer (sum), a bucket (histogram), a list")
    p.add_argument("--timeout", type=float, default=10.0)
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("collect", help="collect the aggregate of a batch of a task's reports")
    p.add_argument("--task", required=True, metavar="FILE", help="the task file (JSON)")
    p.add_argument("--key", required=True, metavar="FILE", help="the collector's secret key file")
    p.add_argument("--epsilon", default=None, help="each aggregator adds discrete Laplace noise for epsilon-DP")
    p.add_argument("--start", type=int, default=None, help="batch start time (default 0)")
    p.add_argument("--end", type=int, default=None, help="batch end time, exclusive (default: end of the current "
                   "time bucket); both aligned to the task's time precision")
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_collect)
    return parser


def _fail(message: str, code: int) -> NoReturn:
    print(f"mpcnet: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mpcnet`` console script."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    # "not x > 0" also refuses NaN, which every comparison calls false.
    if not getattr(args, "timeout", 1.0) > 0 or not getattr(args, "connect_timeout", 1.0) > 0:
        _fail("timeouts must be positive", EXIT_CONFIG)
    if not getattr(args, "reconnect_timeout", 0.0) >= 0:
        _fail("--reconnect-timeout must be >= 0", EXIT_CONFIG)
    liveness = getattr(args, "liveness_timeout", 0.0)
    if not (liveness == 0 or liveness > HEARTBEAT_INTERVAL):
        _fail(f"--liveness-timeout must be 0 or above the {HEARTBEAT_INTERVAL:g} s heartbeat interval", EXIT_CONFIG)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        if args.debug:
            raise
        _fail("interrupted", 130)
    except MPCError as exc:
        if args.debug:
            raise
        _fail(str(exc), EXIT_CONFIG if isinstance(exc, (ConfigError, InputError)) else EXIT_FAILED)
    except BaseExceptionGroup as group:
        mpc = group.subgroup(MPCError)
        if args.debug or mpc is None:
            raise
        leaf: BaseException = mpc
        while isinstance(leaf, BaseExceptionGroup):
            leaf = leaf.exceptions[0]
        _fail(str(leaf), EXIT_FAILED)


def run() -> NoReturn:
    """The ``mpcnet`` command: :func:`main`, then exit at once.

    Once the run is over (every link closed, the result written) nothing is
    left to do, but the interpreter's own teardown (freeing every module and
    object of numpy, trio and ours) took 40-190 ms, more than the protocol.
    So the exit handlers run and the streams are flushed, then the process
    ends without that teardown. (:func:`main` itself returns normally, for
    callers in a Python process.)
    """
    try:
        code: object = main()
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    logging.shutdown()
    atexit._run_exitfuncs()  # e.g. the PSI worker pool's close
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing more can be said
            code = code or 1
    os._exit(code or 0)


if __name__ == "__main__":  # pragma: no cover
    run()
