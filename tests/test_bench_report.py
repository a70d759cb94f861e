"""Merging a partial benchmark run into BENCHMARKS.md keeps what the run did not measure."""

from __future__ import annotations

from benchmarks import __main__ as bench
from benchmarks.common import Table

REPORT = """# contextify benchmarks

Written by `make bench` on a day.

Section 6. The whole wait refreshed by `python -m benchmarks --areas 6` on another day.

Sections 5. Web refreshed by `python -m benchmarks --areas 5` on a third day.

Sections 7. Real audio refreshed by `python -m benchmarks --areas 7` on an old day.

## Targets

| target | measured | met |
|---|---|---|
| old speed | 1 | NO |
| other | 2 | yes |

## 6. The whole wait

### Old wait

old figures

## 7. Real audio

Note (typed by hand in an earlier session): why none of the variants is kept.

| variant | score |
|---|---|
| log-odds | 0.6 |

Why: the note goes on in a second paragraph.

### Old speed table

old speed
"""


def test_a_partial_run_replaces_its_own_section_and_keeps_other_headers_and_hand_notes(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(REPORT)
    table = Table("New speed table", "Measured now.", ["provider", "clips/s"])
    table.rows.append(["musicnn", "4.2"])

    bench.merge_report(path, "full", [("7. Real audio", [table])], [["old speed", "4.2", True]], 10.0, ["7"])

    text = path.read_text()
    assert "Section 6. The whole wait refreshed" in text          # other areas' header lines stay
    assert "Sections 5. Web refreshed" in text
    assert "on an old day" not in text                            # this area's old header line goes
    assert "Sections 7. Real audio refreshed by `python -m benchmarks --scale full --areas 7`" in text
    assert "Note (typed by hand in an earlier session)" in text   # the hand-written note stays
    assert text.index("Note (typed by hand") < text.index("### New speed table")
    # every paragraph of the note up to the next generated table stays, its own table too
    assert text.index("| log-odds | 0.6 |") < text.index("Why: the note goes on") < text.index("### New speed table")
    assert "old speed\n" not in text and "| musicnn | 4.2 |" in text
    assert "| old speed | 4.2 | yes |" in text and "| other | 2 | yes |" in text
    assert "### Old wait" in text


def test_a_chunked_stage_is_finished_only_when_no_chunk_is_pending():
    from benchmarks.whole_wait import _first_estimates

    record = {"end_s": 10.0, "polls": [
        (1.0, {"matched": {"done": 25, "total": 250, "eta_s": 100, "pending": 750}}),
        (2.0, {"matched": {"done": 250, "total": 250, "eta_s": 1, "pending": 750}}),   # the first chunk's end
        (9.0, {"matched": {"done": 1000, "total": 1000, "eta_s": None, "pending": 0}}),
    ]}
    shown_at, entry, finished_at = _first_estimates(record)["matched"]
    assert (shown_at, entry["eta_s"], finished_at) == (1.0, 100, 9.0)


def test_a_round_breaks_its_promise_as_the_real_audio_playlists_are_judged():
    from benchmarks.whole_wait import promises_kept

    rounds = [
        # 7 of 26 truly party against 0.81: significantly short although under 30 songs
        {"promised": {"party": 0.81}, "truth_counts": {"party": (7, 26), "edm": (5, 10)}},
        # 76% against 0.80 is within 0.05; 92% is above it
        {"promised": {"edm": 0.80, "running": 0.80}, "truth_counts": {"edm": (76, 100), "running": (92, 100)}},
        # 3 of 5 cannot show a shortfall; 70 of 100 is more than 0.05 under
        {"promised": {"edm": 0.80, "workout": 0.80}, "truth_counts": {"edm": (3, 5), "workout": (70, 100)}},
        {"promised": {}, "truth_counts": {"edm": (2, 10)}},                       # nothing promised
    ]
    assert promises_kept(rounds) == (3, ["round 1 party 0.81 -> 0.27", "round 3 workout 0.80 -> 0.70"])
