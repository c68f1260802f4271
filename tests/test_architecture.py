"""The import rules of ``gateway/``, read from the source: no import circle (function-local imports count,
``TYPE_CHECKING``-only ones don't), the core never imports the sandbox, the layers point one way, and
only the store builds SQL."""
from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gateway"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            hidden.update(id(n) for n in ast.walk(node))
    return hidden


def _import_statements(module: str, *, run_time_only: bool = True) -> list[tuple[str, list[str]]]:
    """``(base, names)`` of each import in ``module``, made absolute: ``import a.b`` is ``("a.b", [])``,
    ``from a import b, c`` is ``("a", ["a.b", "a.c"])`` (``run_time_only``: ``TYPE_CHECKING`` ones left out)."""
    path = MODULES[module]
    tree = ast.parse(path.read_text())
    hidden = _type_checking_nodes(tree) if run_time_only else set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            found.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((base, [f"{base}.{a.name}" for a in node.names]))
    return found


def imports_of(module: str) -> set[str]:
    """The modules of ours that ``module`` imports at run time (``from pkg import sub`` is ``pkg.sub``)."""
    found: set[str] = set()
    for base, subs in _import_statements(module):
        if not subs:
            if base in MODULES:
                found.add(base)
            continue
        found.update(s for s in subs if s in MODULES)
        if base in MODULES and any(s not in MODULES for s in subs):
            found.add(base)
    found.discard(module)
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def test_there_is_no_import_circle() -> None:
    try:
        tuple(TopologicalSorter(GRAPH).static_order())
    except CycleError as exc:
        raise AssertionError(f"import circle: {' -> '.join(exc.args[1])}") from None


def test_the_core_never_imports_the_sandbox() -> None:
    allowed = {"gateway.app", "gateway.cli"}  # the composition roots mount it
    offenders = {m: sorted(t for t in targets if t.startswith("gateway.sandbox"))
                 for m, targets in GRAPH.items()
                 if not m.startswith("gateway.sandbox") and m not in allowed}
    assert {m: t for m, t in offenders.items() if t} == {}


def _layer_imports(layer: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    return {m: sorted(t for t in targets if t.startswith(forbidden))
            for m, targets in GRAPH.items() if m.startswith(layer) and any(t.startswith(forbidden) for t in targets)}


def test_domain_imports_nothing_of_ours_but_domain() -> None:
    outside = {m: sorted(t for t in ts if not t.startswith("gateway.domain"))
               for m, ts in GRAPH.items() if m.startswith("gateway.domain")}
    assert {m: t for m, t in outside.items() if t} == {}


def test_store_and_channels_do_not_reach_up() -> None:
    upper = ("gateway.services", "gateway.api", "gateway.checkout", "gateway.callbacks", "gateway.tasks",
             "gateway.app", "gateway.cli")
    assert _layer_imports("gateway.store", (*upper, "gateway.channels")) == {}
    assert _layer_imports("gateway.channels", (*upper, "gateway.store")) == {}


def test_services_never_import_a_channel_package() -> None:
    allowed = ("gateway.channels.base", "gateway.channels.registry", "gateway.channels.pool")
    offenders = {m: sorted(t for t in ts if t.startswith("gateway.channels") and t not in allowed)
                 for m, ts in GRAPH.items()
                 if m.startswith(("gateway.services", "gateway.api", "gateway.checkout", "gateway.callbacks",
                                  "gateway.tasks", "gateway.store", "gateway.web", "gateway.cache"))}
    assert {m: t for m, t in offenders.items() if t} == {}


def test_the_graph_is_read() -> None:
    """Guards the reader itself: a known edge is seen, so an empty answer above means something."""
    assert "gateway.services.settlement" in GRAPH["gateway.services.payments"]


def test_services_do_not_reach_into_the_surfaces_or_tasks() -> None:
    upper = ("gateway.api", "gateway.checkout", "gateway.callbacks", "gateway.tasks", "gateway.admin",
             "gateway.app", "gateway.cli")
    assert _layer_imports("gateway.services", upper) == {}


# -- the store owns the SQL (issue 9) ---------------------------------------------------------------

SQL_OWNERS = ("gateway.store", "gateway.sandbox", "gateway.app")  # and migrations/, outside gateway/
SQLALCHEMY_ALLOWED = ("sqlalchemy.ext.asyncio", "sqlalchemy.exc")  # AsyncConnection for hints, errors to catch


def _is(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def sqlalchemy_imports_of(module: str) -> set[str]:
    """What ``module`` imports of SQLAlchemy, ``TYPE_CHECKING`` ones included (``from sqlalchemy import
    select`` is ``sqlalchemy.select``; ``from sqlalchemy.exc import IntegrityError`` is ``sqlalchemy.exc``)."""
    found: set[str] = set()
    for base, subs in _import_statements(module, run_time_only=False):
        if not _is(base, ("sqlalchemy",)):
            continue
        found.update([base] if not subs or _is(base, SQLALCHEMY_ALLOWED) else subs)
    return found


def _owns_sql(module: str) -> bool:
    return _is(module, SQL_OWNERS)


def test_the_sqlalchemy_reader_is_read() -> None:
    """Guards the reader: the store's own imports are seen, and an allowed one is told apart."""
    assert "sqlalchemy" in sqlalchemy_imports_of("gateway.store.payments")
    assert sqlalchemy_imports_of("gateway.services.payments") <= {"sqlalchemy.exc", "sqlalchemy.ext.asyncio"}
    assert sqlalchemy_imports_of("gateway.services.payments")


def test_only_the_store_builds_queries() -> None:
    """Services, checkout, tasks, API and admin build no SQL: outside the store (and the sandbox, the
    composition root and the migrations) SQLAlchemy is imported only for ``AsyncConnection`` and its
    exceptions, and the tables never."""
    offenders = {m: sorted(t for t in sqlalchemy_imports_of(m) if not _is(t, SQLALCHEMY_ALLOWED))
                 for m in MODULES if not _owns_sql(m)}
    assert {m: t for m, t in offenders.items() if t} == {}
    tables = {m: sorted(t for t in _all_imports_of(m) if t == "gateway.store.tables")
              for m in MODULES if not _owns_sql(m)}
    assert {m: t for m, t in tables.items() if t} == {}


def _all_imports_of(module: str) -> set[str]:
    """Our modules ``module`` imports, ``TYPE_CHECKING`` ones included."""
    found: set[str] = set()
    for base, subs in _import_statements(module, run_time_only=False):
        found.update(s for s in [base, *subs] if s in MODULES)
    return found
