"""The import graph keeps its floors: arrows point down only.

Every module under banter/, chat/, calls/ and presence/ is parsed with `ast` (nothing is
imported), and each of its imports, at module level, inside functions and in
`if TYPE_CHECKING:` blocks alike, is mapped to a *unit* (a top-level package such as `chat`,
or a sub-package of `banter` such as `banter.realtime`) and that unit to a floor:

    0  banter.core                                      errors, state, metrics, Redis clients
    1  banter.accounts, banter.settings                 the user and auth floor, configuration
    2  banter.realtime                                  the Socket.IO protocol floor
    3  chat, calls, presence, banter.notifications,     the apps
       banter.web
    4  banter.ops                                       health, metrics scrape, logs, `serve`
    5  banter.socket_routes, banter.wiring,             the event table and the composition
       banter.asgi, banter.urls                         root (README "Layers")

A module may import its own floor and the floors below it, never one above; and no two units
import each other, also on the same floor. Dynamic loads by name are not imports and are not
seen: `manage.py serve` loads "banter.asgi:application" the way any ASGI server is told to.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("banter", "chat", "calls", "presence")

FLOORS: dict[str, int] = {
    "banter.core": 0,
    "banter.accounts": 1,
    "banter.settings": 1,
    "banter.realtime": 2,
    "chat": 3,
    "calls": 3,
    "presence": 3,
    "banter.notifications": 3,
    "banter.web": 3,
    "banter.ops": 4,
    "banter.socket_routes": 5,
    "banter.wiring": 5,
    "banter.asgi": 5,
    "banter.urls": 5,
}

# Pairs of units allowed to import each other for now, each with the issue that removes it.
KNOWN_CYCLES: set[frozenset[str]] = set()

# Imports allowed to point up, by (importing module, imported module), each with its reason.
# Every entry must still match an import (test_upward_exceptions_are_still_needed).
UPWARD_EXCEPTIONS: dict[tuple[str, str], str] = {
    # A Django system check must be registered by an installed app (banter.ops) and reads the
    # event table only when the check runs, inside the function: nothing below the top floor
    # loads socket_routes at import time.
    ("banter.ops.checks", "banter.socket_routes"): "system check of the event table",
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module, e.g. "banter.realtime.server"
    target: str  # the imported module, e.g. "banter.socket_routes"
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def unit_of(module: str) -> str | None:
    """The unit a module belongs to; None outside the project (django, stdlib, ...)."""
    parts = module.split(".")
    if parts[0] not in SCANNED:
        return None
    if parts[0] != "banter" or len(parts) == 1:
        return parts[0]
    return f"banter.{parts[1]}"


def imports_of(path: Path) -> Iterator[Import]:
    source = module_name(path)
    is_package = path.name == "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    relative_path = str(path.relative_to(ROOT))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(source, alias.name, relative_path, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # Relative: resolve against the importing module's package.
                package = source.split(".")
                if not is_package:
                    package.pop()
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            # `from banter import socket_routes` imports banter.socket_routes.
            for alias in node.names:
                yield Import(source, f"{module}.{alias.name}", relative_path, node.lineno)


def project_imports() -> list[Import]:
    found: list[Import] = []
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            for imported in imports_of(path):
                target = imported.target
                # `from chat import handlers` names chat.handlers; `from chat.x import f`
                # names chat.x.f, whose unit is still chat.x's.
                if unit_of(target) is not None:
                    found.append(imported)
    return found


def floor(unit: str) -> int:
    assert unit in FLOORS, f"{unit} has no floor: add it to FLOORS in tests/test_layers.py"
    return FLOORS[unit]


def crossing(imported: Import) -> tuple[str, str] | None:
    """(importing unit, imported unit) when the import crosses from one unit to another."""
    source_unit, target_unit = unit_of(imported.source), unit_of(imported.target)
    if source_unit is None or target_unit is None or source_unit == target_unit:
        return None
    if target_unit == "banter":  # `import banter` alone: the empty package
        return None
    return source_unit, target_unit


def report(title: str, offending: list[Import]) -> str:
    lines = "\n".join(f"  {imported}" for imported in offending)
    return f"{title} ({len(offending)}):\n{lines}"


def test_every_unit_has_a_floor() -> None:
    units = {unit_of(module_name(path)) for top in SCANNED for path in (ROOT / top).rglob("*.py")}
    missing = sorted(str(unit) for unit in units - set(FLOORS) - {"banter"})
    assert not missing, f"units without a floor (add them to FLOORS): {missing}"


def test_realtime_imports_nothing_above_it() -> None:
    offending = [
        imported
        for imported in project_imports()
        if (pair := crossing(imported)) is not None
        and pair[0] == "banter.realtime"
        and floor(pair[1]) > FLOORS["banter.realtime"]
    ]
    assert not offending, report("banter/realtime imports from above it", offending)


def upward(imported: Import) -> bool:
    pair = crossing(imported)
    return pair is not None and floor(pair[1]) > floor(pair[0])


def excepted(imported: Import) -> bool:
    return any(
        imported.source == source
        and (imported.target == target or imported.target.startswith(f"{target}."))
        for source, target in UPWARD_EXCEPTIONS
    )


def test_arrows_point_down_only() -> None:
    offending = [
        imported for imported in project_imports() if upward(imported) and not excepted(imported)
    ]
    assert not offending, report("imports from a higher floor", offending)


def test_upward_exceptions_are_still_needed() -> None:
    used = {(i.source, i.target) for i in project_imports() if upward(i) and excepted(i)}
    stale = [
        pair
        for pair in UPWARD_EXCEPTIONS
        if not any(s == pair[0] and (t == pair[1] or t.startswith(f"{pair[1]}.")) for s, t in used)
    ]
    assert not stale, f"UPWARD_EXCEPTIONS entries that match no import any more: {stale}"


def test_no_two_units_import_each_other() -> None:
    edges: dict[tuple[str, str], list[Import]] = {}
    for imported in project_imports():
        pair = crossing(imported)
        if pair is not None:
            edges.setdefault(pair, []).append(imported)
    offending: list[Import] = []
    for (source, target), imports in sorted(edges.items()):
        if source < target and (target, source) in edges:
            if frozenset((source, target)) in KNOWN_CYCLES:
                continue
            offending += imports + edges[(target, source)]
    assert not offending, report("units that import each other", offending)
