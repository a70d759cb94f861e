"""The tour's steps (a heading, a sentence and a screenshot each), recorded by the journey test and turned into docs/tour.md.

`python -m tests.browser.tour` copies the journey's screenshots from test-artifacts/browser/ to docs/tour/
and rewrites docs/tour.md from the steps the last journey recorded.
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "browser"
STEPS_FILE = ARTIFACTS / "tour.json"
DOCS = ROOT / "docs"
MAX_TOTAL_BYTES = 3 * 1024 * 1024


@dataclass(frozen=True)
class Step:
    file: str      # PNG name under test-artifacts/browser/
    heading: str
    sentence: str


def write_steps(steps: list[Step]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    STEPS_FILE.write_text(json.dumps([asdict(step) for step in steps], indent=1), encoding="utf-8")


def render(steps: list[Step]) -> str:
    lines = ["# A tour of contextify", "",
             "Every picture here is a screenshot taken by the browser test (`tests/browser/test_journey.py`) as a real",
             "Chromium walks the product against the sandbox; `make tour` runs it again and refreshes this page.", ""]
    for number, step in enumerate(steps, start=1):
        lines += [f"## {number}. {step.heading}", "", step.sentence, "",
                  f"![{step.heading}](tour/{step.file})", ""]
    return "\n".join(lines)


def main() -> int:
    if not STEPS_FILE.exists():
        print(f"{STEPS_FILE} is missing: run the journey first (make tour does).", file=sys.stderr)
        return 1
    steps = [Step(**entry) for entry in json.loads(STEPS_FILE.read_text(encoding="utf-8"))]
    target = DOCS / "tour"
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("*.png"):
        old.unlink()
    for step in steps:
        shutil.copyfile(ARTIFACTS / step.file, target / step.file)
    (DOCS / "tour.md").write_text(render(steps), encoding="utf-8")
    total = sum(path.stat().st_size for path in target.glob("*.png"))
    print(f"docs/tour.md: {len(steps)} steps, {total / 1024:.0f} KiB of screenshots in docs/tour/")
    if total > MAX_TOTAL_BYTES:
        print(f"the screenshots exceed {MAX_TOTAL_BYTES // 1024 // 1024} MiB", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
