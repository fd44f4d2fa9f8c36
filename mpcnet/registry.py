"""The protocol registry: ``@protocol`` and the specs it records.

A protocol is an ``async def f(ctx, value, **params)`` coroutine registered
with its metadata: who may run it, what it is secure against, what it reveals
and to whom, what its input is and how to validate it, and its parameters.
The runner validates every party's input and the parameters against the spec
*before* any byte is sent.

Protocols are found through the entry-point group ``mpcnet.protocols`` only,
built-in ones included: a package names a module there, imported for its
``@protocol`` side effects::

    [project.entry-points."mpcnet.protocols"]
    my_protocols = "my_package.protocols"

A module that also defines ``load(name) -> bool`` (import the module that
registers protocol ``name``; False if it has none) and ``load_all()`` is
loaded lazily: the registry calls ``load_all()`` when it lists every
protocol. mpcnet's own entry point, ``builtin = "protocols"``, names such a
module; for a built-in name :func:`get_protocol` looks up that one entry
point in mpcnet's own distribution metadata and calls its ``load(name)``, so
a ``mpcnet party`` run imports only the protocol it runs and reads no other
package's metadata. mpcnet itself never imports ``protocols`` by name.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from .errors import ConfigError

__all__ = ["Param", "ProtocolSpec", "protocol", "get_protocol", "all_protocols", "ENTRY_POINT_GROUP"]

log = logging.getLogger("mpcnet.registry")

ENTRY_POINT_GROUP = "mpcnet.protocols"
#: The name of mpcnet's own entry point in that group (the built-ins).
BUILTIN_ENTRY_POINT = "builtin"
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_PARAM_TYPES = (int, float, str, bool)

ProtocolFunc = Callable[..., Awaitable[Any]]
InputValidator = Callable[[Any, Mapping[str, Any], int], Any]
#: ``links(params, n, i, j)``: whether parties i and j need a channel (the
#: same answer for (i, j) and (j, i)). A rule object may also have a method
#: ``peers(params, n, i)`` listing party i's peers directly (see
#: :meth:`ProtocolSpec.peers_of`); a plain predicate costs n calls per party.
LinkRule = Callable[[Mapping[str, Any], int, int, int], bool]


@attrs.frozen
class Param:
    """A protocol parameter: all parties must use the same value.

    ``check`` (optional) receives the converted value and the number of
    parties and returns an error message, or None when the value is fine.
    """

    name: str
    type: type = attrs.field(validator=attrs.validators.in_(_PARAM_TYPES))
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] | None = None
    check: Callable[[Any, int], str | None] | None = None

    def convert(self, raw: Any) -> Any:
        """Convert a raw value (a string from the command line, or JSON) to
        this parameter's type; :class:`ConfigError` if it does not fit."""
        value = raw
        if isinstance(raw, str) and self.type is not str:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(f"parameter {self.name}: {raw!r} is not a valid {self.type.__name__}") from None
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            raise ConfigError(f"parameter {self.name} must be a {self.type.__name__}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"parameter {self.name} must be one of {list(self.choices)}")
        return value

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata."""
        return {"name": self.name, "type": self.type.__name__, "default": self.default,
                "doc": self.doc, "choices": list(self.choices) if self.choices else None}


@attrs.frozen
class ProtocolSpec:
    """Everything the registry knows about one protocol."""

    name: str
    func: ProtocolFunc
    summary: str
    min_parties: int
    max_parties: int | None
    security: str
    reveals: str
    input: str
    output: str
    params: tuple[Param, ...] = ()
    validate_input: InputValidator | None = None
    module: str = ""
    links: LinkRule | None = None

    def peers_of(self, index: int, n: int, params: Mapping[str, Any]) -> list[int]:
        """Indices of the parties that party ``index`` needs a channel to
        (all others unless the protocol declares a ``links`` rule).

        A rule with a ``peers(params, n, i)`` method is asked for the list
        (time linear in its length); a plain predicate is called for every
        other party (n calls)."""
        if self.links is None:
            return [j for j in range(n) if j != index]
        listed = getattr(self.links, "peers", None)
        if callable(listed):
            return sorted(j for j in listed(params, n, index) if j != index)
        return [j for j in range(n) if j != index and self.links(params, n, index, j)]

    def link_pairs(self, n: int, params: Mapping[str, Any]) -> list[tuple[int, int]]:
        """Every channel the protocol needs among ``n`` parties, as index
        pairs ``(i, j)`` with ``i < j``: what :func:`mpcnet.simulate` builds.
        Linear in the number of pairs when the rule lists peers (see
        :meth:`peers_of`); n*n predicate calls for a plain predicate."""
        return [(i, j) for i in range(n) for j in self.peers_of(i, n, params) if j > i]

    def resolve_params(self, raw: Mapping[str, Any] | None, n: int) -> dict[str, Any]:
        """Defaults filled in, types converted, unknown names and bad values
        refused. The result is what every party must agree on."""
        raw = dict(raw or {})
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ConfigError(f"{self.name} has no parameter(s) {unknown}; it takes {sorted(known) or 'none'}")
        out: dict[str, Any] = {}
        for p in self.params:
            value = p.convert(raw[p.name]) if p.name in raw else p.default
            if value is not None and p.check is not None:
                problem = p.check(value, n)
                if problem:
                    raise ConfigError(f"parameter {p.name}: {problem}")
            out[p.name] = value
        return out

    def check_party_count(self, n: int) -> None:
        """:class:`ConfigError` unless ``n`` parties may run this protocol."""
        if n < self.min_parties:
            raise ConfigError(f"{self.name} needs at least {self.min_parties} parties, got {n}")
        if self.max_parties is not None and n > self.max_parties:
            raise ConfigError(f"{self.name} takes at most {self.max_parties} parties, got {n}")

    def prepare_input(self, value: Any, params: Mapping[str, Any], n: int) -> Any:
        """Validate (and normalise) one party's input; :class:`InputError`."""
        if self.validate_input is None:
            return value
        return self.validate_input(value, params, n)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metadata (what ``mpcnet protocols --json`` prints)."""
        return {
            "name": self.name,
            "summary": self.summary,
            "min_parties": self.min_parties,
            "max_parties": self.max_parties,
            "security": self.security,
            "reveals": self.reveals,
            "input": self.input,
            "output": self.output,
            "params": [p.to_dict() for p in self.params],
            "module": self.module,
        }


_REGISTRY: dict[str, ProtocolSpec] = {}
_loaded = False
_builtin_looked_up = False
_builtin_loader: Any = None


def protocol(
    name: str,
    *,
    security: str,
    reveals: str,
    input: str,
    output: str,
    min_parties: int = 2,
    max_parties: int | None = None,
    params: Sequence[Param] = (),
    validate_input: InputValidator | None = None,
    links: LinkRule | None = None,
) -> Callable[[ProtocolFunc], ProtocolFunc]:
    """Register ``async def f(ctx, value, **params)`` as protocol ``name``.

    ``security`` states the adversary model (e.g. "semi-honest; private
    against any n-1 colluding parties"); ``reveals`` says exactly what is
    revealed to whom; ``input`` and ``output`` describe the values;
    ``validate_input(value, params, n)`` returns the normalised input or
    raises :class:`~mpcnet.errors.InputError`, and runs before anything is
    sent. ``links(params, n, i, j)`` (optional) says which pairs of parties
    exchange messages at all; ``run_party`` and ``simulate`` then open only
    those channels (input-only parties need none to each other). For many
    parties give it a method ``peers(params, n, i)`` too, listing party i's
    peers (as :data:`mpcnet.mpc.roles.role_links` does): a plain predicate
    is asked about every pair, n*n calls. The function's docstring's
    first line becomes the summary.
    """
    if not _NAME_RE.match(name):
        raise ConfigError(f"protocol name {name!r} must be lowercase letters, digits and '-'")
    if min_parties < 1 or (max_parties is not None and max_parties < min_parties):
        raise ConfigError(f"protocol {name}: invalid party bounds")
    for text, what in ((security, "security"), (reveals, "reveals")):
        if not text.strip():
            raise ConfigError(f"protocol {name} must state {what}")

    def register(func: ProtocolFunc) -> ProtocolFunc:
        existing = _REGISTRY.get(name)
        if existing is not None and existing.func is not func and existing.module != func.__module__:
            raise ConfigError(f"protocol {name!r} is registered twice ({existing.module} and {func.__module__})")
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ProtocolSpec(
            name=name,
            func=func,
            summary=doc[0] if doc else "",
            min_parties=min_parties,
            max_parties=max_parties,
            security=security,
            reveals=reveals,
            input=input,
            output=output,
            params=tuple(params),
            validate_input=validate_input,
            module=func.__module__,
            links=links,
        )
        return func

    return register


def load_protocols() -> None:
    """Import the built-in protocols and every entry point in the group
    ``mpcnet.protocols`` (once). A broken third-party entry point is logged
    and skipped, not fatal: one bad plug-in must not take the CLI down."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    # Imported here: reading every installed distribution's metadata is a
    # measurable part of a short `mpcnet party` run, and get_protocol skips
    # it for a built-in name.
    from importlib import metadata

    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            target = ep.load()
            if callable(getattr(target, "load_all", None)):
                target.load_all()
        except Exception as exc:  # a plug-in's import error is its own bug
            log.warning("could not load protocol plug-in %s (%s): %s", ep.name, ep.value, exc)


def _builtin() -> Any:
    """What mpcnet's own ``builtin`` entry point names (the lazy loader of
    the built-in protocols), looked up once, in mpcnet's distribution alone;
    None when mpcnet is not installed as a distribution."""
    global _builtin_looked_up, _builtin_loader
    if not _builtin_looked_up:
        _builtin_looked_up = True
        value = _read_builtin_entry_point()
        if value is not None:
            _builtin_loader = _load_object(value)
        else:  # not in a *.dist-info or *.egg-info directory on sys.path: ask importlib
            from importlib import metadata

            try:
                dist = metadata.distribution("mpcnet")
            except metadata.PackageNotFoundError:
                log.warning("mpcnet is not installed as a distribution: no entry points, no built-in protocols "
                            "(install it: pip install -e .)")
                return None
            for ep in dist.entry_points.select(group=ENTRY_POINT_GROUP, name=BUILTIN_ENTRY_POINT):
                _builtin_loader = ep.load()
    return _builtin_loader


def _read_builtin_entry_point() -> str | None:
    """The value of the ``builtin`` entry in the ``mpcnet.protocols`` section
    of the first mpcnet metadata directory on ``sys.path``, the one
    :func:`importlib.metadata.distribution` would find, read directly:
    importing :mod:`importlib.metadata` (email, zipfile, csv) would cost a
    built-in ``mpcnet party`` run some 15 ms of its start-up."""
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")) and name.split("-")[0].split(".")[0].lower() == "mpcnet":
                try:
                    text = Path(entry or ".", name, "entry_points.txt").read_text(encoding="utf-8")
                except OSError:
                    return None
                return _entry_point_value(text, ENTRY_POINT_GROUP, BUILTIN_ENTRY_POINT)
    return None


def _entry_point_value(text: str, group: str, name: str) -> str | None:
    """The value of ``name`` in section ``[group]`` of an entry_points.txt
    (the PyPA entry points file format: INI sections, ``name = value``)."""
    section = None
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section == group and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            if key.strip() == name:
                return value.split("[", 1)[0].strip()  # without any [extras]
    return None


def _load_object(value: str) -> Any:
    """Import ``module`` or ``module:attr.attr`` (an entry point's value)."""
    module, _, attrs_path = value.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in filter(None, attrs_path.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def get_protocol(name: str) -> ProtocolSpec:
    """The spec registered as ``name``; :class:`ConfigError` if none is."""
    if name not in _REGISTRY:
        # A built-in protocol needs only its own module and no plug-in scan:
        # a plug-in cannot take a name that is already registered
        # (registering it again is an error).
        builtin = _builtin()
        if callable(getattr(builtin, "load", None)):
            builtin.load(name)
    if name not in _REGISTRY:
        load_protocols()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def all_protocols() -> list[ProtocolSpec]:
    """Every registered protocol, sorted by name."""
    load_protocols()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]
