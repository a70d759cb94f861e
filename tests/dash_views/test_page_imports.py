"""The page modules import each other without a cycle (shared widgets below the pages that use them), and a page
keeps its drawing in a `<page>_view.py` only when the two would not fit in one module."""

from __future__ import annotations

import ast
from pathlib import Path

from app.dash_views import PAGE_MODULES

PAGES = Path(__file__).resolve().parents[2] / "app" / "dash_views"


def imports_within(folder: Path, package: str) -> dict[str, set[str]]:
    """Module name -> the sibling modules it imports (at the top or inside a function)."""
    names = {path.stem for path in folder.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in folder.glob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == package:
                found |= {alias.name for alias in node.names if alias.name in names}
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package + "."):
                found.add(node.module.split(".")[len(package.split("."))])
            elif isinstance(node, ast.Import):
                found |= {alias.name.split(".")[len(package.split("."))] for alias in node.names
                          if alias.name.startswith(package + ".")}
        graph[path.stem] = (found & names) - {path.stem}
    return graph


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at its end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_page_modules_import_each_other_without_a_cycle():
    assert cycle(imports_within(PAGES, "app.dash_views")) is None


def test_the_cycle_check_finds_one(tmp_path):
    (tmp_path / "components.py").write_text("from pkg.harvests import StageRow\n")
    (tmp_path / "harvests.py").write_text("def start():\n    from pkg.jobs_view import start_job\n")
    (tmp_path / "jobs_view.py").write_text("from pkg import components, harvests\n")
    assert cycle(imports_within(tmp_path, "pkg")) == ["components", "harvests", "jobs_view", "components"]


def test_a_page_draws_in_a_view_module_of_its_own_only_when_one_module_would_pass_400_lines():
    pages = {name.rsplit(".", 1)[1] for name in PAGE_MODULES}
    for view in sorted(PAGES.glob("*_view.py")):
        page = view.name.removesuffix("_view.py")
        if page not in pages:
            continue  # a shared widget (jobs_view.py), not one page's drawing
        together = sum(len(path.read_text().splitlines()) for path in (PAGES / f"{page}.py", view))
        assert together > 400, f"{view.name} fits in {page}.py ({together} lines together): fold it in"
