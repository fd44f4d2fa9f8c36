"""The layers of mpcnet, and the imports that would break them.

:data:`LAYERS` is the one statement of the layer order, bottom first (drawn
in docs/architecture.md). A module may import its own layer and the layers
below it, never one above. The tests parse every module under ``mpcnet/``
and ``protocols/`` with :mod:`ast` (every import statement, in functions
and ``TYPE_CHECKING`` blocks too) and also fail when

* a module imports a private module (a ``_name`` path component) from
  outside the package that holds it (``protocols`` importing ``mpcnet._net``);
* a module imports another module's private ``_name``;
* the DP package, or anything it imports, imports trio or a socket library.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The layers, bottom first: (name, the modules and packages in it).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("foundation", ("mpcnet.errors", "mpcnet.events", "mpcnet.randomness", "mpcnet.identity", "mpcnet.progress")),
    ("dp", ("mpcnet.dp",)),
    ("network", ("mpcnet._net",)),
    ("runtime", ("mpcnet.session", "mpcnet.context", "mpcnet.registry", "mpcnet.party", "mpcnet.runner")),
    ("toolkit", ("mpcnet.mpc",)),
    ("aggregate", ("mpcnet.aggregate",)),
    ("front", ("mpcnet", "mpcnet.__main__", "mpcnet.aio", "mpcnet.cli", "mpcnet.demo", "mpcnet.testing")),
    ("protocols", ("protocols",)),
)

#: What the DP package must never reach: no event loop, no network.
NOT_IN_DP = {"trio", "socket", "ssl", "asyncio", "msgpack"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for top in ("mpcnet", "protocols") for p in sorted((ROOT / top).rglob("*.py"))}


MODULES = all_modules()


def layer_of(module: str) -> int:
    """The index in LAYERS of the longest package prefix that claims ``module``."""
    best, found = -1, -1
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if (module == member or module.startswith(member + ".")) and len(member) > best:
                best, found = len(member), index
    if found < 0:
        raise KeyError(module)
    return found


def is_package(module: str) -> bool:
    return MODULES[module].name == "__init__.py"


def imports(module: str) -> Iterator[tuple[int, str, str | None]]:
    """(line, imported module, imported name or None) for every import in ``module``,
    relative imports resolved; ``from pkg import sub`` yields the submodule."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    package = module if is_package(module) else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in MODULES:
                    yield node.lineno, sub, None
                else:
                    yield node.lineno, source, alias.name


def ours(module: str) -> bool:
    return module.split(".")[0] in ("mpcnet", "protocols")


def test_every_module_has_a_layer():
    unplaced = []
    for module in MODULES:
        try:
            layer_of(module)
        except KeyError:
            unplaced.append(module)
    assert unplaced == [], "add these modules to LAYERS in tests/test_layers.py (and docs/architecture.md)"


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for module in MODULES:
        mine = layer_of(module)
        for line, target, _ in imports(module):
            if ours(target) and layer_of(target) > mine:
                upward.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {module} ({LAYERS[mine][0]}) imports "
                              f"{target} ({LAYERS[layer_of(target)][0]})")
    assert upward == []


def private_owner(target: str) -> str | None:
    """The package that owns the first private component of ``target``, if any."""
    parts = target.split(".")
    for i, part in enumerate(parts):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:i])
    return None


def test_private_modules_are_imported_only_inside_their_package():
    leaks = []
    for module in MODULES:
        for line, target, _ in imports(module):
            owner = private_owner(target)
            if ours(target) and owner is not None and not (module == owner or module.startswith(owner + ".")):
                leaks.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {module} imports {target}")
    assert leaks == []


def test_no_module_imports_another_modules_private_name():
    leaks = []
    for module in MODULES:
        for line, target, name in imports(module):
            if ours(target) and name is not None and name.startswith("_") and not name.startswith("__"):
                leaks.append(f"{MODULES[module].relative_to(ROOT)}:{line}: {module} imports {target}.{name}")
    assert leaks == []


def test_protocols_use_no_private_mpcnet_module():
    # (implied by the two tests above; stated on its own because it is the
    # promise to third-party authors: the built-ins use the public API only)
    for module in MODULES:
        if module.startswith("protocols"):
            for line, target, _ in imports(module):
                assert private_owner(target) is None or not target.startswith("mpcnet"), f"{module}:{line}: {target}"


def test_dp_reaches_no_event_loop_and_no_network():
    # The closure of what the DP modules import, as files (importing
    # mpcnet.dp as a package also runs mpcnet/__init__, the front).
    seen: set[str] = set()
    todo = [m for m in MODULES if m == "mpcnet.dp" or m.startswith("mpcnet.dp.")]
    forbidden = []
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        for line, target, _ in imports(module):
            if target.split(".")[0] in NOT_IN_DP:
                forbidden.append(f"{module}:{line}: {target}")
            if target in MODULES:
                todo.append(target)
    assert forbidden == []
    assert seen <= {m for m in MODULES if layer_of(m) <= layer_of("mpcnet.dp")}


def test_architecture_doc_draws_the_same_layers():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    drawing = doc[doc.index("<!-- layers -->") : doc.index("<!-- /layers -->")]
    named = re.findall(r"^\s*\[(\w+)\]", drawing, flags=re.MULTILINE)
    assert named == [name for name, _ in reversed(LAYERS)]  # the drawing puts the top first


@pytest.mark.parametrize("module", ["mpcnet._net.wire", "protocols.compare"])
def test_the_checks_see_imports(module):
    # The parser must find imports at all, or every test above passes vacuously.
    assert any(ours(target) for _, target, _ in imports(module))
