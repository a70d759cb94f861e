"""`make bench`'s harness keeps working: the tiny scale runs every area and writes a complete report."""

from __future__ import annotations

import pytest

from benchmarks.__main__ import main


@pytest.mark.slow
def test_tiny_benchmark_writes_every_area_and_the_targets(tmp_path):
    out = tmp_path / "BENCHMARKS.md"
    assert main(["--scale", "tiny", "--out", str(out)]) == 0
    report = out.read_text()
    for heading in ("## Targets", "## 1. Harvest + enrich", "## 2. Library import", "## 3. Preview analysis",
                    "## 4. Training and sorting"):
        assert heading in report
    assert "agrees with sandbox counters" in report
    rows = [line for line in report.splitlines() if line.startswith("| contextify |")]
    assert rows and rows[0].rstrip().endswith("| yes |"), "the run's call counts must equal the sandbox's"
