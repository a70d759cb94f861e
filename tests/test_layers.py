"""The import layers (tests/layers.py) hold: no module imports a layer above its own, and the check can fail."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.layers import ALLOWED, LAYERS, ROOT, layer_of, source_files, violations


def test_no_module_imports_a_layer_above_its_own():
    found = violations(source_files())
    assert not found, "imports of a higher layer (see docs/architecture.md):\n" + "\n".join(map(str, found))


def test_every_product_module_has_a_layer():
    # A new top-level package under app/ must be placed in LAYERS, or the rule would silently skip it.
    unplaced = sorted({m for m in (p.relative_to(ROOT).with_suffix("").as_posix().replace("/", ".")
                                   for p in source_files()) if layer_of(m.removesuffix(".__init__")) is None})
    assert not unplaced, f"place these modules in tests/layers.py's LAYERS: {unplaced}"


def _write(root: Path, module: str, source: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    path.parent.mkdir(parents=True, exist_ok=True)
    for parent in path.relative_to(root).parents:
        if parent != Path("."):
            (root / parent / "__init__.py").touch()
    path.write_text(source)


SMALL_LAYERS = [("top", ("app.web",)), ("middle", ("app.jobs",)), ("bottom", ("app.runs",))]


@pytest.mark.parametrize(("importer", "source", "expected"), [
    ("app.runs.progress", "from app.jobs.runner import submit\n", ["app.runs.progress imports app.jobs.runner"]),
    ("app.runs.progress", "import app.web.views\n", ["app.runs.progress imports app.web.views"]),
    ("app.jobs.runner", "def later():\n    from app.web import views\n", ["app.jobs.runner imports app.web"]),
    ("app.runs.progress", "from . import records\n", []),          # its own layer
    ("app.web.views", "from app.runs import progress\n", []),      # downwards
    ("app.jobs.runner", "from app.runs.progress import Progress\nimport json\n", []),
])
def test_the_checker_finds_a_lower_layer_importing_a_higher_one(tmp_path, importer, source, expected):
    _write(tmp_path, importer, source)
    found = violations(sorted(tmp_path.rglob("*.py")), tmp_path, SMALL_LAYERS, allowed={})
    assert [f"{v.importer} imports {v.imported}" for v in found] == expected


def test_an_allowed_upward_import_must_stay_lazy_when_its_entry_says_so(tmp_path):
    allowed = {("app.runs.progress", "app.web"): ("a reason", True)}
    _write(tmp_path, "app.runs.progress", "def later():\n    from app.web import views\n")
    assert violations(sorted(tmp_path.rglob("*.py")), tmp_path, SMALL_LAYERS, allowed) == []
    _write(tmp_path, "app.runs.progress", "from app.web import views\n")
    assert len(violations(sorted(tmp_path.rglob("*.py")), tmp_path, SMALL_LAYERS, allowed)) == 1


def test_the_real_tree_fails_the_rule_once_a_bottom_module_imports_a_job(tmp_path):
    # A copy of the product with one new upward import: the bookkeeping layer reaching into the job runner.
    shutil.copytree(ROOT / "app", tmp_path / "app", ignore=shutil.ignore_patterns("__pycache__", "static",
                                                                                  "templates"))
    progress = tmp_path / "app" / "runs" / "progress.py"
    progress.write_text(progress.read_text() + "\nfrom app.jobs import runner  # the violation\n")
    found = violations(sorted((tmp_path / "app").rglob("*.py")), tmp_path)
    assert [(v.importer, v.imported, v.importer_layer, v.imported_layer) for v in found] == [
        ("app.runs.progress", "app.jobs", "runs", "jobs")]


def test_the_sandbox_is_the_top_layer_and_the_product_reaches_it_only_through_the_flask_sandbox_command():
    assert LAYERS[0] == ("sandbox", ("sandbox",))
    into_sandbox = {key for key in ALLOWED if key[1].split(".")[0] == "sandbox"}
    assert into_sandbox == {("app.cli", "sandbox.cli")} and ALLOWED[("app.cli", "sandbox.cli")][1] is True
