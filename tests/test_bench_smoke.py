"""`make bench`'s harness keeps working: the tiny scale runs every area and writes a complete report."""

from __future__ import annotations

import functools
import re

import pytest

from benchmarks import __main__ as bench
from benchmarks.real_audio_e2e import FAST_SANDBOX


@pytest.fixture
def no_rate_limit_waits(monkeypatch, raised_client_limits):
    """Deezer's window (50 calls per 5 s) would hold the tiny whole wait (area 6: about 700 calls) for over a minute
    of sleep. `make bench` measures that window; this test checks the harness, so the sandboxes `main` starts get
    raised limits, as do the runs in this process (the real-audio end-to-end test does the same)."""
    monkeypatch.setattr(bench, "SandboxServer", functools.partial(bench.SandboxServer, **FAST_SANDBOX))


@pytest.fixture
def promise_checks_of_the_run(monkeypatch, promise_checks_once):
    """Area 4b's held-out checks are the promise check's (tests/models/test_promise_check.py, same data and
    arguments): computed once per run, and area 4b writes its tables from them. Its harvest-budget table is made
    from one draw of the playlists instead of three."""
    from app.models import evaluation

    monkeypatch.setattr(evaluation, "promise_checks", promise_checks_once)
    # The harvest-budget table's three draws are three times the same steps: one shows the harness writes it.
    monkeypatch.setattr(bench.models, "BUDGET_DRAWS", 1)


@pytest.mark.slow
def test_tiny_benchmark_writes_every_area_and_the_targets(tmp_path, no_rate_limit_waits, promise_checks_of_the_run):
    out = tmp_path / "BENCHMARKS.md"
    assert bench.main(["--scale", "tiny", "--out", str(out)]) == 0
    report = out.read_text()
    for heading in ("## Targets", "## 1. Harvest + enrich", "## 2. Library import", "## 3. Preview analysis",
                    "## 4. Training and sorting", "## 4b. The precision promise on real data", "## 5. Web",
                    "## 6. The whole wait", "## 7. Real audio (emotify_dev)"):
        assert heading in report
    assert "agrees with sandbox counters" in report
    assert "### One harvest budget, few long or many short playlists" in report, "area 4b's budget table"
    rows = [line for line in report.splitlines() if line.startswith("| contextify |")]
    assert rows and rows[0].rstrip().endswith("| yes |"), "the run's call counts must equal the sandbox's"
    _assert_web_area(report)
    assert re.search(r"^\| import-library \| succeeded \|", report, re.M), "the whole wait imported the library"
    _assert_whole_wait_rows(report)


def _assert_whole_wait_rows(report: str) -> None:
    """Area 6's target rows name the scenario run (its user and contexts), and the verdict of "everything done"
    is the one its measured minutes give (every job of the tiny wait ends: a figure, not "not reached")."""
    tiny = bench.SCALES["tiny"]
    scenario = rf"whole wait \({re.escape(tiny['wait_user'])}, {len(tiny['wait_contexts'])} new contexts\)"
    assert re.search(rf"^\| {scenario}: first promised playlists <= 5 minutes after login \| "
                     r"(\d+\.\d min|none in any round) \| (yes|NO) \|$", report, re.M)
    row = re.search(rf"^\| {scenario}: everything done <= 30 minutes after login \| (\d+\.\d) min \| (yes|NO) \|$",
                    report, re.M)
    assert row, "area 6's 'everything done' row is missing or has no measured minutes"
    assert re.search(r"timed on \d+ of the scenario's previews before the clock started \(preview \d\.\d{3}", report), \
        "the projection's analysis rate is this machine's, timed on the scenario's own previews"
    minutes, met = float(row[1]), row[2]
    if minutes != 30.0:  # 30.0 shown may be either side of 1,800 s
        assert (met == "yes") == (minutes < 30.0), f"'everything done' says {met} for {minutes} min"


def _assert_web_area(report: str) -> None:
    """Area 5 measured the review pages' callbacks, alone and under locust, with no failed request."""
    assert re.search(r"^\| web callbacks p95 < 300 ms at 3 sessions .*\| (yes|NO) \|$", report, re.M)
    rows = {cells[0].lstrip("| "): cells for cells in (line.split(" | ") for line in report.splitlines()
                                                       if " · " in line and line.startswith("| "))
            if len(cells) == 8}
    for label in ("explore · page render", "explore · explore-empty.children", "model · model-summary.children",
                  "sort · sort-list[*].children (on sort-cutoff.value)", "save · save-check-job-store.data "
                  "(on save-check.n_clicks)", "library · page render"):
        assert label in rows, f"{label} missing from area 5"
        assert rows[label][1] != "-", f"{label}: no single-session time"
    assert all(cells[6] == "0" for cells in rows.values()), "a callback request failed under load"
    total = next(line for line in report.splitlines() if line.startswith("| all requests ("))
    assert int(total.split(" | ")[3].replace(",", "")) > 0, "locust made no request"
