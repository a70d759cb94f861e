"""Training and sorting from the store: the dataset, the persisted model and sort, review, and the commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.commands.context_model import sort_command, train_command
from app.models.library_reading import LIBRARY_GRID
from app.models.dataset import DatasetError
from app.models.model import ModelInputError
from app.models.service import (
    ReviewError, decide, library_frame, set_cutoff, sort_for_user, sort_summary, train_for_user,
    train_from_store,
)
from app.models.store_dataset import UnharvestedContexts, dataset_from_store
from app.storage.tables import (
    Context, Label, LibraryItem, SourcePlaylist, SortAssignment, Track, TrackFeatures, TrainedModel, User,
)

# context -> (gain, bpm, genre): what its tracks sound like.
PROFILES = {"workout": (-4.0, 130.0, "Dance"), "sleep": (-14.0, 65.0, "Classical"),
            "study": (-10.0, 95.0, "Jazz")}
PLAYLISTS, TRACKS = 8, 10  # 8 playlists: a promise rests on correct tracks of 8 or more


def _features(rng, context: str, library: bool) -> dict:
    gain, bpm, genre = PROFILES[context]
    values = {"gain": float(rng.normal(gain, 1.5)), "bpm": float(rng.normal(bpm, 8)),
              "genre": genre if rng.random() < 0.8 else "Pop", "release_year": 2015}
    if not library:
        values["fans"] = float(rng.integers(1, 100))  # a training-only column: the library lacks it
    return values


#: Songs of no context in the catalog (as the harvest's genre charts bring): a model for a library learns "none of
#: these" from them, and promises nothing without them.
BACKGROUND = 40


def build_store(session, tiny: str | None = "jazz", background: int = BACKGROUND) -> int:
    """Labelled tracks for PROFILES (one workout track also in a study playlist), a context with
    only three tracks (``tiny``), ``background`` unlabelled rock songs, and a user ``me`` whose library holds
    30 tracks. Returns the user id."""
    rng = np.random.default_rng(0)
    tracks = []
    for context in PROFILES:
        row = Context(key=context, name=context)
        session.add(row)
        session.flush()
        for p in range(PLAYLISTS):
            playlist = SourcePlaylist(service="deezer", external_id=f"{context}{p}", name=f"{context} {p}")
            session.add(playlist)
            session.flush()
            for t in range(TRACKS):
                track = Track(title=f"{context}-{p}-{t}", artist="someone", deezer_id=len(tracks) + 1)
                session.add(track)
                session.flush()
                tracks.append(track.id)
                session.add(TrackFeatures(track_id=track.id, provider="deezer", provider_version="1",
                                          status="ok", values=_features(rng, context, False)))
                session.add(Label(context_id=row.id, track_id=track.id, source_playlist_id=playlist.id,
                                  position=t))
    study = session.scalar(select(Context.id).where(Context.key == "study"))
    session.add(Label(context_id=study, track_id=tracks[0], source_playlist_id=session.scalar(
        select(SourcePlaylist.id).where(SourcePlaylist.external_id == "study0")), position=99))
    if tiny:
        small = Context(key=tiny, name=tiny)
        session.add(small)
        session.flush()
        for track_id in tracks[-3:]:
            session.add(Label(context_id=small.id, track_id=track_id, source_playlist_id=1))
    for b in range(background):
        track = Track(title=f"chart {b}", artist=f"band {b % 7}", deezer_id=10_000 + b)
        session.add(track)
        session.flush()
        session.add(TrackFeatures(track_id=track.id, provider="deezer", provider_version="1", status="ok",
                                  values={"gain": float(rng.normal(-7, 3)), "bpm": float(rng.normal(110, 25)),
                                          "genre": "Rock" if rng.random() < 0.7 else "Pop", "release_year": 2015,
                                          "fans": float(rng.integers(1, 100))}))
    user = User(spotify_id="me")
    session.add(user)
    session.flush()
    for i in range(30):
        context = list(PROFILES)[i % 3]
        track = Track(title=f"mine {i}", artist="me", spotify_id=f"sp{i:020d}")
        session.add(track)
        session.flush()
        session.add(TrackFeatures(track_id=track.id, provider="deezer", provider_version="1", status="ok",
                                  values=_features(rng, context, True)))
        for collection in ("liked", "playlist:1") if i < 5 else ("liked",):  # five tracks in two collections
            session.add(LibraryItem(user_id=user.id, collection=collection, track_id=track.id))
    session.commit()
    return user.id


@pytest.fixture
def store(app):
    with app.app_context():
        yield build_store(db.session)


def test_the_dataset_has_one_row_per_track_with_its_contexts_and_playlists(app, store):
    dataset = dataset_from_store(db.session, ["Workout", "sleep ", "study", "jazz"])
    assert dataset.contexts == ["sleep", "study", "workout"]
    assert len(dataset) == len(PROFILES) * PLAYLISTS * TRACKS + BACKGROUND and dataset.features.index.is_unique
    assert dataset.background_tracks == BACKGROUND
    shared = dataset.features.index.get_loc(1)
    assert dataset.labels[shared].tolist() == [False, True, True]
    assert len(dataset.playlists[shared]) == 2
    assert any("'jazz' (3)" in m for m in dataset.messages)
    assert set(dataset.spec.columns) == {"deezer_fans", "deezer_gain", "deezer_bpm",
                                         "deezer_release_year", "genre", "decade"}


def test_a_users_library_restricts_the_features_to_those_it_has(app, store):
    dataset = dataset_from_store(db.session, ["workout", "sleep", "study"], user_id=store)
    assert "deezer_fans" not in dataset.spec.columns and "deezer_gain" in dataset.spec.columns
    assert ("1 feature left out because too little of your library has them yet (0%; the rule needs 80% of "
            "both sides): deezer_fans.") in dataset.messages


def _unanalyse_library(session, keep_every: int) -> None:
    """Leave features on one library song in `keep_every`: the rest still wait for matching and analysis."""
    mine = session.scalars(select(Track.id).where(Track.spotify_id.is_not(None)).order_by(Track.id)).all()
    for n, track_id in enumerate(mine):
        if n % keep_every:
            session.execute(TrackFeatures.__table__.delete().where(TrackFeatures.track_id == track_id))
    session.commit()


def test_training_while_the_library_is_10_percent_analysed_gets_one_sentence_saying_what_it_waits_for(app, store):
    _unanalyse_library(db.session, keep_every=10)
    with pytest.raises(DatasetError) as caught:
        dataset_from_store(db.session, ["workout", "sleep", "study"], user_id=store)
    message = str(caught.value)
    assert message == ("Training waits for your library's matching and analysis (3 of 30 songs done, 10%): it "
                       "starts once 80% are done, so the model rests on what the songs sound like rather than on "
                       "their release decade alone.")


def test_the_train_job_passes_the_wait_on_in_plain_words_and_keeps_no_model(app, store, small_grid):
    from app.storage.tables import TrainedModel

    _unanalyse_library(db.session, keep_every=10)
    with pytest.raises(DatasetError, match="^Training waits for your library"):
        train_for_user(db.session, store, ["workout", "sleep", "study"], instance_dir=app.config["INSTANCE_DIR"])
    assert db.session.scalar(select(TrainedModel.id).where(TrainedModel.user_id == store)) is None


def test_dropped_features_are_a_few_sentences_not_a_line_per_column():
    from app.pipeline.features_table import dropped_sentences

    train = pd.DataFrame({f"preview_f{i}": [1.0] * 10 for i in range(40)} | {"deezer_bpm": [1.0] * 10,
                                                                            "deezer_fans": [1.0] * 2 + [None] * 8})
    library = pd.DataFrame({f"preview_f{i}": [1.0] + [None] * 9 for i in range(40)} | {"deezer_bpm": [1.0] * 10})
    sentences = dropped_sentences(train, library, ["deezer_bpm"])
    assert len(sentences) == 2
    assert sentences[0].startswith("40 features left out because too little of your library has them yet (10%")
    assert sentences[0].endswith("preview_f5 and 34 more.")
    assert sentences[1].startswith("1 feature left out because both the training songs and your library")


@pytest.mark.parametrize("contexts, message", [
    (["workout", "party", "road trip"],
     "no harvested playlists for 'party', 'road trip': run `flask harvest party \"road trip\"` first"),
    (["workout", "jazz"], "fewer than two contexts have at least 30 harvested tracks; kept: workout"),
])
def test_contexts_that_cannot_be_trained_are_named(app, store, contexts, message):
    with pytest.raises(DatasetError) as caught:
        dataset_from_store(db.session, contexts)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, UnharvestedContexts) == ("party" in contexts)


@pytest.fixture
def trained(app, store, small_grid):
    row = train_for_user(db.session, store, ["workout", "sleep", "study"],
                         instance_dir=app.config["INSTANCE_DIR"], target_precision=0.7)
    return store, row


def test_training_for_a_user_keeps_the_model_and_its_report(app, trained):
    user_id, row = trained
    assert row.kind == "context" and row.user_id == user_id and row.target_precision == 0.7
    assert Path(row.artifact_path) == Path(app.config["INSTANCE_DIR"]) / "models" / str(user_id) / f"{row.id}.joblib"
    assert Path(row.artifact_path).is_file()
    assert row.metrics["data"]["contexts"] == ["sleep", "study", "workout"]
    assert row.features == ["deezer_bpm", "deezer_gain", "deezer_release_year", "genre", "decade"]
    assert row.versions["providers"] == {"deezer": "1"} and "scikit-learn" in row.versions["libraries"]


def test_a_round_on_the_same_training_songs_keeps_the_last_model_and_a_changed_one_trains(app, trained):
    """Progressive work's last round after the final likes arrive trains on what the round before did: the same
    data, the same model, so it is kept instead of trained again; any change of the data (a song fewer) trains."""
    user_id, row = trained
    contexts, models = ["workout", "sleep", "study"], db.session.scalar(select(func.count(TrainedModel.id)))
    kept = train_for_user(db.session, user_id, contexts, instance_dir=app.config["INSTANCE_DIR"],
                          target_precision=0.7, reuse=row)
    assert kept.id == row.id and db.session.scalar(select(func.count(TrainedModel.id))) == models
    training = dataset_from_store(db.session, contexts, user_id=user_id).features.index
    everything = set(db.session.scalars(select(Track.id)))
    fewer = train_for_user(db.session, user_id, contexts, instance_dir=app.config["INSTANCE_DIR"],
                           target_precision=0.7, reuse=row, ready=everything - {int(training[0])})
    assert fewer.id != row.id and fewer.params["data_digest"] != row.params["data_digest"]
    other_target = train_for_user(db.session, user_id, contexts, instance_dir=app.config["INSTANCE_DIR"],
                                  target_precision=0.8, reuse=row)
    assert other_target.id != row.id


def test_a_datasets_digest_changes_with_any_value_it_holds(app, store):
    dataset = dataset_from_store(db.session, ["workout", "sleep", "study"])
    again = dataset_from_store(db.session, ["workout", "sleep", "study"])
    assert dataset.digest() == again.digest()
    again.messages.append("the library's share of a feature moved from 71% to 72%")
    assert dataset.digest() == again.digest(), "a message only words the report: the same data, the same model"
    again.features.iloc[3, 0] = again.features.iloc[3, 0] + 1e-9
    assert dataset.digest() != again.digest()


def test_a_sort_stores_assignments_and_near_misses_for_review(app, trained):
    user_id, row = trained
    run = sort_for_user(db.session, user_id, row.id)
    rows = db.session.scalars(select(SortAssignment).where(SortAssignment.sort_run_id == run.id)).all()
    floor = run.params["floor"]
    assert {r.decision for r in rows} == {"pending"} and all(r.probability >= floor for r in rows)
    best, top = {}, {}
    for r in rows:
        if r.probability > best.get(r.track_id, 0.0):
            best[r.track_id], top[r.track_id] = r.probability, r.context
    partners = run.params["partners"]
    for r in rows:
        choice = run.params["cutoffs"][r.context]
        allowed = r.probability == best[r.track_id] or top[r.track_id] in partners.get(r.context, [])
        assert r.assigned == (choice["cutoff"] is not None and r.probability >= choice["cutoff"]
                              and (not choice["top_only"] or allowed))
        assert r.reasons and all(isinstance(reason, str) for reason in r.reasons)
    assert any(r.assigned for r in rows)  # near misses depend on how sharp the calibrated probabilities are
    placed = len({r.track_id for r in rows if r.assigned})
    assert run.coverage == pytest.approx(placed / 30)
    # The library's songs counted at each hundredth of a cutoff, so a cutoff moved by hand reads them as the sort did.
    counts = np.asarray(run.params["library_counts"])
    assert counts.shape == (len(run.params["cutoffs"]), len(LIBRARY_GRID)) and counts[:, 0].max() <= 30
    assert (np.diff(counts, axis=1) <= 0).all() and counts.sum() > 0


def test_moving_a_cutoff_reassigns_and_keeps_decisions(app, trained):
    user_id, row = trained
    run = sort_for_user(db.session, user_id, row.id)
    first = db.session.scalar(select(SortAssignment).where(SortAssignment.sort_run_id == run.id,
                                                           SortAssignment.context == "sleep"))
    assert decide(db.session, user_id, first.id, "reject").decision == "rejected"
    choice = set_cutoff(db.session, user_id, run.id, "sleep", cutoff=0.99)
    assert choice.cutoff == 0.99
    counts = sort_summary(db.session, user_id, run.id)["contexts"]["sleep"]
    probabilities = db.session.scalars(select(SortAssignment.probability).where(
        SortAssignment.sort_run_id == run.id, SortAssignment.context == "sleep")).all()
    assert counts["assigned"] == sum(p >= 0.99 for p in probabilities) and counts["rejected"] == 1
    lowest = set_cutoff(db.session, user_id, run.id, "sleep", cutoff=0.001)
    assert lowest.cutoff == run.params["floor"]
    by_target = set_cutoff(db.session, user_id, run.id, "sleep", target_precision=0.5)
    assert by_target.target_precision == 0.5


def test_an_unreachable_target_empties_the_playlist_and_a_hand_cutoff_keeps_the_rule(app, trained):
    user_id, row = trained
    run = sort_for_user(db.session, user_id, row.id)
    unreachable = set_cutoff(db.session, user_id, run.id, "study", target_precision=0.999)
    assert unreachable.cutoff is None and not unreachable.reached
    assert "no playlist, because" in unreachable.message
    assert sort_summary(db.session, user_id, run.id)["contexts"]["study"]["assigned"] == 0
    by_hand = set_cutoff(db.session, user_id, run.id, "study", cutoff=0.001)
    assert by_hand.top_only and by_hand.cutoff == run.params["floor"]
    assert by_hand.best_effort == (not by_hand.reached)
    rows = db.session.scalars(select(SortAssignment).where(SortAssignment.sort_run_id == run.id)).all()
    best = {}
    for r in rows:
        best[r.track_id] = max(best.get(r.track_id, 0.0), r.probability)
    study = [r for r in rows if r.context == "study"]
    for r in study:
        if not run.params["partners"].get("study"):
            assert r.assigned == (r.probability == best[r.track_id])
    assert sort_summary(db.session, user_id, run.id)["contexts"]["study"]["top_only"]


def test_a_model_for_a_library_that_saw_no_song_of_no_context_promises_nothing(app, small_grid):
    """Without background its calibration has no "none of these" class: it would count every library song as one of
    the contexts', and promise precisions no library keeps. Best effort still sorts, promising nothing."""
    with app.app_context():
        user_id = build_store(db.session, background=0)
        closed = train_from_store(db.session, ["workout", "sleep", "study"], target_precision=0.7).model
        assert closed.unpromisable is None and any(c.reached for c in closed.cutoffs.values())
        row = train_for_user(db.session, user_id, ["workout", "sleep", "study"],
                             instance_dir=app.config["INSTANCE_DIR"], target_precision=0.7)
        run = sort_for_user(db.session, user_id, row.id)
        assert all(c["cutoff"] is None and c["promised_precision"] == 0.0 for c in run.params["cutoffs"].values())
        assert "seen no song that fits none of its contexts" in run.params["cutoffs"]["sleep"]["message"]
        words = run.params["shares"]["sleep"]["words"]
        assert words == "how many of these songs are Sleep cannot be told yet; no playlist, because nothing can be " \
                        "promised yet (see why below)", words
        by_hand = set_cutoff(db.session, user_id, run.id, "sleep", cutoff=0.5)
        assert by_hand.promised_precision == 0.0 and by_hand.best_effort and "nothing is promised" in by_hand.message
        hoped = sort_for_user(db.session, user_id, train_for_user(
            db.session, user_id, ["workout", "sleep", "study"], instance_dir=app.config["INSTANCE_DIR"],
            target_precision=0.7, best_effort=True).id)
        efforts = [c for c in hoped.params["cutoffs"].values() if c["cutoff"] is not None]
        assert efforts and all(c["best_effort"] and c["promised_precision"] == 0.0 for c in efforts)


def test_with_songs_of_no_context_the_model_learns_their_share_and_promises(app, trained):
    user_id, row = trained
    run = sort_for_user(db.session, user_id, row.id)
    assert row.metrics["data"]["background_tracks"] == BACKGROUND
    assert any(c["reached"] and c["promised_precision"] >= 0.7 for c in run.params["cutoffs"].values())


def test_another_user_cannot_see_or_change_a_sort(app, trained):
    user_id, row = trained
    run = sort_for_user(db.session, user_id, row.id)
    stranger = User(spotify_id="stranger")
    db.session.add(stranger)
    db.session.commit()
    assignment = db.session.scalar(select(SortAssignment.id).limit(1))
    for attempt in (lambda: sort_for_user(db.session, stranger.id, row.id),
                    lambda: set_cutoff(db.session, stranger.id, run.id, "sleep", cutoff=0.5),
                    lambda: decide(db.session, stranger.id, assignment, "accept")):
        with pytest.raises(ReviewError):
            attempt()


def test_a_model_needing_features_the_library_lacks_is_refused_by_name(app, store, small_grid):
    outcome = train_from_store(db.session, ["workout", "sleep", "study"])  # no user: training coverage only
    assert "deezer_fans" in outcome.model.spec.columns
    with pytest.raises(ModelInputError, match=r"lacks feature\(s\) .*: deezer_fans \(0%\)"):
        library_frame(db.session, store, outcome.model)


def test_flask_train_and_sort_from_the_store(app, store, small_grid, tmp_path):
    runner = app.test_cli_runner()
    model = tmp_path / "m.joblib"
    out = tmp_path / "sorted.csv"
    trained = runner.invoke(train_command, ["--contexts", "workout,sleep", "--contexts", "study",
                                            "--user", "me", "--out", str(model), "--json"])
    assert trained.exit_code == 0, trained.output
    assert "deezer_fans" not in json.loads(trained.output.strip().splitlines()[-1])["data"]["features"]["numeric"]
    sorted_ = runner.invoke(sort_command, ["--model", str(model), "--user", "me", "--out", str(out), "--json"])
    assert sorted_.exit_code == 0, sorted_.output
    table = pd.read_csv(out, dtype={"contexts": str})
    assert list(table.columns) == ["spotify_id", "contexts", "best_effort", "p_sleep", "p_study", "p_workout"]
    assert len(table) == 30 and table["spotify_id"].str.startswith("sp").all()
    summary = json.loads(sorted_.output.strip().splitlines()[-1])
    assert summary["tracks"] == 30 and set(summary["contexts"]) == {"sleep", "study", "workout"}
    for context, entry in summary["contexts"].items():
        assert entry["assigned"] == table["contexts"].fillna("").str.split(";").map(
            lambda names, c=context: c in names).sum()


@pytest.mark.parametrize("args, message", [
    (["--contexts", "workout,party"], "Error: no harvested playlists for 'party': run `flask harvest party` first"),
    (["--contexts", "workout,sleep", "--user", "nobody"],
     "Error: no user 'nobody' in the store: run `flask import-library --user nobody` first"),
    (["--contexts", "workout", "--label", "x"], "Error: --label only apply with --from-csv"),
    ([], "Error: give either --contexts (harvested playlists) or --from-csv"),
])
def test_flask_train_from_the_store_refuses_in_plain_words(app, store, tmp_path, args, message):
    result = app.test_cli_runner().invoke(train_command, [*args, "--out", str(tmp_path / "m.joblib")])
    assert result.exit_code != 0 and message in result.output, result.output


def test_a_train_job_names_unharvested_contexts_in_plain_words(app, store):
    from app.jobs import runner
    from tests.jobs.conftest import wait_for

    try:
        with app.app_context():
            job_id = runner.submit("train", {"contexts": ["workout", "party"]}, store)
        job = wait_for(app, job_id, store)
        assert job["status"] == "failed"
        assert job["error"] == "No harvested playlists for 'party': run `flask harvest party` first."
    finally:
        runner.shutdown(app)
