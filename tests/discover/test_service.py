"""Discover's service on a constructed store: the strict "never saved" rule, both models recorded, plain refusals."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models.discover import DiscoverModelError
from app.services.discover import (
    CHART_REASON, DISCOVER_KEY, DiscoverError, SavedIndex, suggestions, train_discover,
)
from app.storage.tables import LibraryItem, ModelRun, Suggestion, Track, TrainedModel
from app.storage.ownership import owned
from tests.discover.conftest import add_track

SMALL_RF = {"n_estimators": [10, 30], "min_samples_leaf": [1, 5], "max_features": ["sqrt", 0.5]}


def add_duplicates() -> dict[str, int]:
    """Catalog rows that are saved recordings under another row (with features, so they would rank); by kind."""
    add_track(300, "Saved song 5 (Remastered 2011)", "ARTIST 5", genre="Dance", bpm=128, rank=6e5, deezer_id=900)
    add_track(301, "Another name entirely", "Someone else", genre="Dance", bpm=128, rank=6e5, isrc="saved0000006",
              deezer_id=901)
    add_track(302, "Alias of seven", "Other", genre="Dance", bpm=128, rank=6e5, canonical_id=7, deezer_id=902)
    # Saved row 8 shares its recording with Deezer row 303 (as matching does); 304 points at 303 too.
    add_track(303, "Canonical of eight", "Other", genre="Dance", bpm=128, rank=6e5, deezer_id=903)
    db.session.flush()
    db.session.get(Track, 8).canonical_id = 303
    add_track(304, "Sibling of eight", "Other", genre="Dance", bpm=128, rank=6e5, canonical_id=303, deezer_id=904)
    # A live recording of a saved song is another recording: it may be suggested.
    add_track(305, "Saved song 9 - Live", "Artist 9", genre="Dance", bpm=128, rank=6e5, deezer_id=905)
    db.session.commit()
    return {"title+artist": 300, "isrc": 301, "canonical of a saved row": 302, "a saved row's canonical": 303,
            "shares a saved row's canonical": 304}


def test_the_saved_index_knows_a_saved_track_under_every_identifier(taste):
    app, owner, stranger = taste
    with app.app_context():
        duplicates = add_duplicates()
        index = SavedIndex.for_user(db.session, owner)
        rows = {t.id: t for t in db.session.scalars(select(Track))}
        for kind, track_id in duplicates.items():
            assert index.contains(rows[track_id]), kind
        assert all(index.contains(rows[i]) for i in range(1, 61))
        assert not index.contains(rows[305]), "a live version is another recording"
        assert not any(index.contains(rows[i]) for i in range(100, 250))
        assert len(SavedIndex.for_user(db.session, stranger)) == 0


@pytest.mark.parametrize("store", ["taste", "pg_taste"])
def test_discover_records_both_models_keeps_one_and_never_suggests_a_saved_track(store, request, instance_dir):
    app, owner, stranger = request.getfixturevalue(store)
    with app.app_context():
        duplicates = add_duplicates()
        outcome = train_discover(db.session, owner, instance_dir=instance_dir, rf_grid=SMALL_RF,
                                 lr_grid={"C": [0.1, 1.0]}, chart_track_ids=[101, 105], min_catalog=20, seed=3)
        runs = db.session.scalars(owned(ModelRun, owner).where(ModelRun.mode == "discover")).all()
        assert {r.name for r in runs} == {"random forest", "logistic regression"}
        forest = next(r for r in runs if r.name == "random forest")
        assert set(forest.params["best"]) == {"n_estimators", "min_samples_leaf", "max_features"}
        assert len(forest.result["grid"]) == 8 and forest.seconds > 0
        assert {"cv_roc_auc", "roc_auc", "accuracy", "f1", "average_precision"} <= set(forest.metrics)
        assert sum(bool(r.metrics["chosen"]) for r in runs) == 1
        model = db.session.get(TrainedModel, outcome.model_id)
        assert model.kind == "discover" and outcome.chosen in model.name and all(r.model_id == model.id for r in runs)
        assert outcome.counts["positives"] == outcome.counts["negatives"] == 60

        stored = db.session.scalars(owned(Suggestion, owner).where(Suggestion.mode == "discover")).all()
        ids = {s.track_id for s in stored}
        assert ids and ids.isdisjoint(range(1, 61)) and ids.isdisjoint(duplicates.values())
        assert 305 in ids
        assert all(s.target == "discover" and s.model_id == model.id for s in stored)
        by_track = {s.track_id: s for s in stored}
        assert CHART_REASON in by_track[101].reasons and CHART_REASON not in by_track[102].reasons
        # The taste is fast Dance music: Dance tracks rank above Jazz ones on the whole.
        ranks = {g: [s.rank for s in stored if 100 <= s.track_id < 250 and (s.track_id % 4) == k]
                 for k, g in enumerate(("Dance", "Rock", "Jazz", "Pop"))}
        assert sum(ranks["Dance"]) / len(ranks["Dance"]) < sum(ranks["Jazz"]) / len(ranks["Jazz"])
        words = [w for s in stored for w in s.reasons]
        assert words and not any("_" in w for w in words), words[:10]

        # Saved since the ranking was made (a duplicate row of it): no longer shown.
        top = min(stored, key=lambda s: s.rank)
        title, artist = db.session.get(Track, top.track_id).title, db.session.get(Track, top.track_id).artist
        add_track(400, title, artist, spotify_id="X" * 22)
        db.session.flush()
        db.session.add(LibraryItem(user_id=owner, collection="liked", track_id=400))
        db.session.commit()
        assert top.track_id not in {s.track_id for s in suggestions(db.session, owner)}
        assert suggestions(db.session, stranger) == []


def test_refusals_are_plain_words(taste, instance_dir):
    app, owner, stranger = taste
    with app.app_context():
        with pytest.raises(DiscoverError, match="Your library is not imported yet"):
            train_discover(db.session, stranger, instance_dir=instance_dir)
        with pytest.raises(DiscoverError, match="Only 150 catalog tracks you have not saved .* at least 1,000"):
            train_discover(db.session, owner, instance_dir=instance_dir, min_catalog=1000)
        with pytest.raises(DiscoverModelError, match="Unknown model setting"):
            train_discover(db.session, owner, instance_dir=instance_dir, rf_grid={"max_depth": [3]}, min_catalog=20)
        assert DISCOVER_KEY != "discover"  # never a harvested context's key


def test_flask_discover_runs_the_jobs_code_and_refuses_in_words(taste, monkeypatch):
    from app.jobs import discover_task

    app, owner, stranger = taste
    monkeypatch.setattr(discover_task, "DEFAULT_RF_GRID", SMALL_RF)
    cli = app.test_cli_runner()
    result = cli.invoke(discover_task.discover_command, ["--user", "mira.s", "--no-charts", "--providers", "deezer",
                                                         "--json"])
    assert result.exit_code == 0, result.output
    import json

    summary = json.loads(result.output.strip().splitlines()[-1])
    assert summary["chosen"] in ("random forest", "logistic regression") and summary["suggestions"] > 0
    refused = cli.invoke(discover_task.discover_command, ["--user", "jonas.b", "--no-charts"])
    assert refused.exit_code != 0 and "Your library is not imported yet" in refused.output
    unknown = cli.invoke(discover_task.discover_command, ["--user", "nobody"])
    assert unknown.exit_code != 0 and "no user 'nobody'" in unknown.output
