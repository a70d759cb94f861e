"""The Library & sort review reads only the shown rows and re-scores the library once, with the same answers."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select, update

from app.services import sort_review
from app.services.training import loaded_model
from app.services.sort_review import library_state, review, sanity, unsorted_tracks
from app.extensions import db
from app.models.cutoffs import CutoffChoice
from app.models.service import (
    adapted_model, decide, library_frame, set_cutoff, sort_for_user, sort_summary, train_for_user,
)
from app.storage.tables import LibraryItem, SortAssignment, SortRun, Track, TrackFeatures, User
from tests.models.conftest import small_grid  # noqa: F401  (fixture)
from tests.models.test_store import store  # noqa: F401  (fixture)


@pytest.fixture
def sorted_run(app, store, small_grid):  # noqa: F811
    row = train_for_user(db.session, store, ["workout", "sleep", "study"],
                         instance_dir=app.config["INSTANCE_DIR"], target_precision=0.7)
    return store, sort_for_user(db.session, store, row.id)


def reference(user_id: int, run: SortRun, shown: int, offset: int = 0) -> dict[str, tuple[list[int], int, int]]:
    """What the review showed before it ranked in SQL: every row read, kept first, then most likely first."""
    rows = db.session.scalars(select(SortAssignment).where(SortAssignment.user_id == user_id,
                                                           SortAssignment.sort_run_id == run.id)
                              .order_by(SortAssignment.probability.desc(), SortAssignment.id)).all()
    by_context: dict[str, list[SortAssignment]] = {context: [] for context in run.params["cutoffs"]}
    for row in rows:
        by_context[row.context].append(row)

    def kept(row):
        return row.decision == "accepted" or (row.assigned and row.decision != "rejected")

    answer = {}
    for context, rows_ in by_context.items():
        rows_.sort(key=lambda row: (not kept(row), -row.probability))
        answer[context] = ([row.id for row in rows_[offset:offset + shown]], len(rows_),
                           sum(kept(row) for row in rows_))
    return answer


def test_the_review_shows_the_same_first_rows_and_counts_as_reading_every_row(app, sorted_run):
    user_id, run = sorted_run
    rows = db.session.scalars(select(SortAssignment).where(SortAssignment.sort_run_id == run.id)
                              .order_by(SortAssignment.probability)).all()
    if all(row.assigned for row in rows):  # calibrated probabilities can leave no near miss: make one
        set_cutoff(db.session, user_id, run.id, rows[0].context, cutoff=min(rows[0].probability + 1e-6, 1.0))
        rows = db.session.scalars(select(SortAssignment).where(SortAssignment.sort_run_id == run.id)
                                  .order_by(SortAssignment.probability)).all()
    unlikely = next(row for row in rows if not row.assigned)
    likely = next(row for row in reversed(rows) if row.assigned)
    decide(db.session, user_id, unlikely.id, "accept")   # a near miss the reviewer keeps goes to the top
    decide(db.session, user_id, likely.id, "reject")     # a dropped track sinks below the kept ones
    set_cutoff(db.session, user_id, run.id, "sleep", cutoff=0.6)
    for shown in (3, 1000):
        playlists = review(db.session, user_id, run.id, shown=shown)
        expected = reference(user_id, db.session.get(SortRun, run.id), shown)
        assert [p.context for p in playlists] == list(expected)
        for playlist in playlists:
            ids, total, n_kept = expected[playlist.context]
            assert [row.assignment_id for row in playlist.rows] == ids
            assert (playlist.total, playlist.kept_count) == (total, n_kept)
            assert all(row.reasons and row.title for row in playlist.rows)
    (alone,) = review(db.session, user_id, run.id, shown=3, only="sleep")
    assert alone == next(p for p in review(db.session, user_id, run.id, shown=3) if p.context == "sleep")
    every = {p.context: [row.assignment_id for row in p.rows] for p in review(db.session, user_id, run.id)}
    kept = {p.context: p.kept_count for p in review(db.session, user_id, run.id)}
    assert every[unlikely.context].index(unlikely.id) < kept[unlikely.context], "the kept near miss is among the kept"
    assert every[likely.context].index(likely.id) >= kept[likely.context], "the dropped track comes after them"


def test_every_page_is_the_slice_of_reading_every_row_across_the_kept_and_left_out_boundary(app, sorted_run):
    user_id, run = sorted_run
    query = select(SortAssignment).where(SortAssignment.sort_run_id == run.id, SortAssignment.context == "sleep")
    stored = db.session.scalars(query.order_by(SortAssignment.probability)).all()
    # A cutoff by hand in the middle, so both sides hold rows whether or not sleep kept its promise.
    set_cutoff(db.session, user_id, run.id, "sleep", cutoff=stored[len(stored) // 2].probability)
    rows = db.session.scalars(query.order_by(SortAssignment.probability)).all()
    decide(db.session, user_id, next(r for r in rows if not r.assigned).id, "accept")
    decide(db.session, user_id, next(r for r in reversed(rows) if r.assigned).id, "reject")
    expected_total = len(rows)
    for offset in range(0, expected_total + 3):
        (page,) = review(db.session, user_id, run.id, shown=4, only="sleep", offset=offset)
        ids, total, n_kept = reference(user_id, db.session.get(SortRun, run.id), 4, offset)["sleep"]
        assert [row.assignment_id for row in page.rows] == ids, f"page at {offset}"
        assert (page.total, page.kept_count) == (total, n_kept) and total == expected_total


def test_cutoff_moves_leave_every_flag_as_a_full_sort_would_set_it(app, sorted_run):
    """A move rewrites only the rows between the two cutoffs; after any sequence each flag still follows the rule,
    for a plain context and for one that takes only the tracks it fits best, and coverage is counted again."""
    user_id, run = sorted_run
    set_cutoff(db.session, user_id, run.id, "study", target_precision=0.999)   # a top-only fallback
    for context, cutoff in (("sleep", 0.9), ("sleep", 0.3), ("study", 0.2), ("sleep", 0.55), ("study", 0.8),
                            ("workout", 0.15), ("workout", 0.95), ("study", 0.35)):
        set_cutoff(db.session, user_id, run.id, context, cutoff=cutoff)
        run = db.session.get(SortRun, run.id)
        rows = db.session.scalars(select(SortAssignment).where(SortAssignment.sort_run_id == run.id)).all()
        best: dict[int, float] = {}
        for r in rows:
            best[r.track_id] = max(best.get(r.track_id, 0.0), r.probability)
        for r in rows:
            choice = run.params["cutoffs"][r.context]
            assert r.assigned == (choice["cutoff"] is not None and r.probability >= choice["cutoff"]
                                  and (not choice["top_only"] or r.probability == best[r.track_id])), (context, cutoff)
    placed = len({r.track_id for r in rows if r.assigned})
    library = len(set(db.session.scalars(select(LibraryItem.track_id).where(LibraryItem.user_id == user_id))))
    assert sort_summary(db.session, user_id, run.id)["coverage"] == pytest.approx(placed / library)


def test_the_centroid_check_matches_a_full_sort_at_every_cutoff(app, sorted_run):
    user_id, run = sorted_run
    model = loaded_model(db.session, user_id, run.model_id)
    frame = library_frame(db.session, user_id, model).reset_index()

    def full_sort(cutoffs):
        chosen = {c: CutoffChoice(**choice) for c, choice in cutoffs.items()}
        adapted = adapted_model(model, db.session.get(SortRun, run.id))
        result = dataclasses.replace(adapted, cutoffs={**model.cutoffs, **chosen}).sort(
            frame, id_col="track_id", adapt=False)
        return {c: {"looks_off": s["looks_off"], "distance_ratio": s["distance_ratio"]}
                for c, s in result.contexts.items()}

    assert sanity(db.session, user_id, run) == full_sort(run.params["cutoffs"])
    for cutoff in (0.2, 0.95):
        set_cutoff(db.session, user_id, run.id, "workout", cutoff=cutoff, model=model)
        run = db.session.get(SortRun, run.id)
        assert sanity(db.session, user_id, run) == full_sort(run.params["cutoffs"])


def test_the_library_scores_are_read_again_after_an_import_or_new_features(app, sorted_run, monkeypatch):
    user_id, run = sorted_run
    built = []
    real = sort_review.library_frame
    monkeypatch.setattr(sort_review, "library_frame", lambda *args: built.append(1) or real(*args))
    sanity(db.session, user_id, run)
    sanity(db.session, user_id, run)
    assert len(built) == 1, "a second review re-uses the scores"
    current_app.extensions[sort_review.SCORES]._items.clear()  # another worker process: nothing in its memory
    assert sanity(db.session, user_id, run) and len(built) == 1, "it reads them from the user's model folder"
    folder = Path(app.config["INSTANCE_DIR"]) / "models" / str(user_id) / "scores"
    assert len(list(folder.glob("*.pickle"))) == 1
    state = library_state(db.session, user_id)
    track = Track(title="new", artist="me", spotify_id="n" * 22)
    db.session.add(track)
    db.session.flush()
    db.session.add(LibraryItem(user_id=user_id, collection="liked", track_id=track.id))
    db.session.commit()
    assert library_state(db.session, user_id) != state
    sanity(db.session, user_id, run)
    assert len(built) == 2, "a new import is scored"
    state = library_state(db.session, user_id)
    db.session.execute(update(TrackFeatures).where(TrackFeatures.id == db.session.scalar(
        select(TrackFeatures.id).limit(1))).values(fetched_at=datetime(2100, 1, 1, tzinfo=UTC)))
    db.session.commit()
    assert library_state(db.session, user_id) != state, "a refreshed feature row counts too"
    other = User(spotify_id="other")
    db.session.add(other)
    db.session.commit()
    assert library_state(db.session, other.id) != library_state(db.session, user_id)
    assert sanity(db.session, other.id, run) == {}, "no scores for a library that is not theirs"
    assert current_app.extensions[sort_review.SCORES]


def test_unsorted_counts_every_library_track_no_playlist_keeps(app, sorted_run):
    user_id, run = sorted_run
    for context in run.params["cutoffs"]:
        set_cutoff(db.session, user_id, run.id, context, cutoff=1.0)  # calibrated: many sit above 0.9
    kept = set(db.session.scalars(select(SortAssignment.track_id).where(
        SortAssignment.sort_run_id == run.id, SortAssignment.assigned.is_(True))))
    library = set(db.session.scalars(select(LibraryItem.track_id).where(LibraryItem.user_id == user_id)))
    left = sorted(db.session.execute(select(Track.artist, Track.title).where(Track.id.in_(library - kept))).all())
    count, shown = unsorted_tracks(db.session, user_id, run.id)
    assert count == len(left) > 0 and shown == [tuple(row) for row in left[:sort_review.SHOWN_UNSORTED]]
