"""Deezer's charts into the global catalog: Discover's candidates, and the songs of no context a context model needs."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy.orm import Session

from app.pipeline.catalog import upsert_deezer_tracks
from app.pipeline.clients.deezer import DeezerClient
from app.runs.progress import Progress

DEFAULT_CHART_LIMIT = 100
#: Songs taken from the head of each genre's chart as background: with Deezer's 23 genres, up to about 575
#: songs of every kind for 24 calls (fewer where charts share songs), enough for the "none of these" class of
#: a first model (its calibration and the library's mix) without analysing a thousand previews first.
BACKGROUND_PER_GENRE = 25
STAGE_CHARTS = "chart tracks"
STAGE_BACKGROUND = "background songs"


def add_chart_tracks(session_factory: Callable[[], Session], deezer: DeezerClient, genre_ids: Sequence[int],
                     limit: int = DEFAULT_CHART_LIMIT, progress: Progress | None = None,
                     stage: str = STAGE_CHARTS) -> list[int]:
    """Put the charts' tracks into the global catalog; returns their track ids (chart order, each once)."""
    progress = progress or Progress()
    progress.stage(stage, total=len(genre_ids))
    ids: list[int] = []
    for genre_id in genre_ids:
        items = deezer.chart_tracks(genre_id, limit)
        with session_factory() as session:
            by_deezer = upsert_deezer_tracks(session, items)
            session.commit()
        ids.extend(by_deezer[item["id"]] for item in items if item.get("id") in by_deezer)
        progress.advance(stage)
    return list(dict.fromkeys(ids))


def add_background(session_factory: Callable[[], Session], deezer: DeezerClient,
                   per_genre: int = BACKGROUND_PER_GENRE, progress: Progress | None = None) -> list[int]:
    """The heads of every genre's chart, put into the catalog: songs of every kind, labelled with no context.

    A library holds songs that fit none of its owner's contexts. A model that never saw such a song cannot
    tell how many of them would pass a cutoff, so it cannot promise a precision on a library
    (`app.models.cutoffs.NO_BACKGROUND`); these songs are what it learns "none of these" from
    (`app.models.store_dataset.background_rows`). They are shared by every user, like all of the catalog. The
    charts are read on every harvest (24 calls): a run killed half-way then ends with the same songs as one that was
    not, and only songs new to the charts cost an analysis (enrichment skips the rest).
    """
    return add_chart_tracks(session_factory, deezer, deezer.genre_ids(), per_genre, progress, STAGE_BACKGROUND)
