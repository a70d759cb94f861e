"""The harvest job's songs of no context: Deezer's genre charts, and what happens when they cannot be read."""

from __future__ import annotations

from types import SimpleNamespace

from app.jobs.tasks import background_songs
from app.pipeline.clients.base import ServiceError
from app.runs.progress import Progress
from app.runs.summary import RunSummary


class _DeezerDown:
    calls = 0

    def genre_ids(self) -> list[int]:
        self.calls += 1
        raise ServiceError("deezer", "HTTP 503", "down for maintenance")


def test_charts_that_cannot_be_read_are_said_in_plain_words_and_the_harvest_goes_on():
    notes: list[str] = []
    ctx = SimpleNamespace(session_factory=None, progress=Progress(), note=notes.append)
    summary = RunSummary("harvest")
    assert background_songs(ctx, _DeezerDown(), summary) == []
    assert len(notes) == 1 and "Deezer's charts could not be read (HTTP 503)" in notes[0]
    assert "best effort only, with no promised precision" in notes[0]
    assert summary.api_calls["deezer"] == 1, "the failed call is counted"
