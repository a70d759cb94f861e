"""The import-layer rule: the layers, top to bottom, and a checker that lists every import of a higher layer."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Top to bottom: a module may import its own layer and any layer below it, never one above. A name is a dotted
# prefix (the longest one that matches a module wins); "=name" matches that module only (a package's __init__).
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("sandbox", ("sandbox",)),  # the emulation tests, benchmarks and `make demo` talk to; the product never imports it
    ("entry", ("=app", "wsgi", "app.commands", "app.health")),
    ("web", ("app.web", "app.dash_views")),
    ("jobs", ("app.jobs",)),
    ("services", ("app.services",)),
    ("models", ("app.models",)),
    ("analysis", ("app.analysis",)),
    ("accounts", ("app.auth",)),
    ("pipeline", ("app.pipeline",)),
    ("runs", ("app.runs",)),
    ("storage", ("app.storage", "app.extensions", "app.logs")),
]

# Imports that go up on purpose: (importer, imported module) -> (reason, whether it must stay inside a function).
ALLOWED: dict[tuple[str, str], tuple[str, bool]] = {
    ("app.commands.sandbox", "sandbox.cli"): ("`flask sandbox` loads the sandbox only when that command runs", True),
    ("app.jobs.celery_app", "app"): ("a Celery worker builds the Flask app once, when it starts", True),
    ("app.jobs.service", "app.web.security"): ("the job rate limit counts in the web app's limiter store", True),
}


@dataclass(frozen=True)
class Violation:
    importer: str
    imported: str
    line: int
    importer_layer: str
    imported_layer: str

    def __str__(self) -> str:
        return (f"{self.importer}:{self.line} imports {self.imported} "
                f"({self.importer_layer} may not import {self.imported_layer}, a layer above it)")


def layer_of(module: str, layers=LAYERS) -> tuple[int, str] | None:
    """(rank, name) of the layer a module belongs to, 0 the top; None for modules outside every layer."""
    best: tuple[int, int, str] | None = None
    for rank, (name, prefixes) in enumerate(layers):
        for prefix in prefixes:
            exact = prefix.startswith("=")
            prefix = prefix.lstrip("=")
            if module == prefix or (not exact and module.startswith(prefix + ".")):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), rank, name)
    return None if best is None else (best[1], best[2])


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path, module: str) -> Iterator[tuple[str, int, bool]]:
    """(module, line, lazy) for every import in `path`, at any depth: an import inside a function counts too."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    lazy_nodes = {id(inner) for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                  for inner in ast.walk(node)}
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno, lazy
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            yield source, node.lineno, lazy
            for alias in node.names:  # `from app.jobs import runner` imports the module app.jobs.runner
                yield f"{source}.{alias.name}", node.lineno, lazy


def violations(files: Iterable[Path], root: Path = ROOT, layers=LAYERS,
               allowed: dict[tuple[str, str], tuple[str, bool]] = ALLOWED) -> list[Violation]:
    found: dict[tuple[str, str], Violation] = {}
    for path in files:
        module = module_name(path, root)
        own = layer_of(module, layers)
        if own is None:
            continue
        for imported, line, lazy in imports(path, module):
            other = layer_of(imported, layers)
            if other is None or other[0] >= own[0]:
                continue
            # the module itself, or a name imported from it (`from app import create_app`)
            exception = allowed.get((module, imported)) or allowed.get((module, imported.rpartition(".")[0]))
            if exception is not None and (lazy or not exception[1]):
                continue
            # one report per import statement: `from app.x import y` yields app.x and app.x.y
            found.setdefault((module, line), Violation(module, imported, line, own[1], other[1]))
    return sorted(found.values(), key=lambda v: (v.importer, v.line))


def source_files(root: Path = ROOT) -> list[Path]:
    packages = [root / "app", root / "sandbox"]
    files = [p for package in packages if package.is_dir() for p in package.rglob("*.py")]
    return sorted(files + [p for p in (root / "wsgi.py",) if p.exists()])
