"""Discover end to end against the sandbox: log in, harvest, import, run the job, save the playlist, read it back.

Rate limits are raised on both sides (the sandbox's and the clients'), as in the other end-to-end tests, so the
test measures contextify rather than Deezer's 50-requests-per-5-seconds window.
"""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from app.dash_views import ids
from app.extensions import db
from app.jobs import runner
from app.pipeline import services
from app.services.discover import CHART_REASON, DISCOVER_KEY, name_key
from app.storage.tables import (
    ExportedPlaylist, LibraryItem, ModelRun, Suggestion, Track, TrackFeatures, TrainedModel, User,
)
from tests.auth.helpers import login, sandbox_app
from tests.dash_views.helpers import call, outputs, texts
from tests.jobs.conftest import wait_for

USER = "ana.k"          # 350 liked songs in the small world
FAST = {"deezer_rate_limit": 2000, "deezer_rate_window": 1, "reccobeats_rate_limit": 2000,
        "reccobeats_rate_window": 1, "spotify_rate_limit": 5000, "spotify_rate_window": 1}
PROVIDERS = ["deezer"]  # previews would add audio analysis time, not coverage of the question asked here
GRID = {"n_estimators": [15, 40], "min_samples_leaf": [1, 5], "max_features": ["sqrt", 0.5], "C": [0.1, 1.0]}


@pytest.fixture
def site(app_config, start_sandbox, monkeypatch):
    monkeypatch.setattr(services, "LIMITS", {name: (5000, 1.0) for name in services.LIMITS})
    services._limiter.cache_clear()
    sandbox = start_sandbox(**FAST)
    app = sandbox_app(app_config, sandbox)
    me, other = app.test_client(), app.test_client()
    login(me, USER)
    login(other, "jonas.b")
    yield app, sandbox, me, other
    runner.shutdown(app)
    services._limiter.cache_clear()
    with app.app_context():
        db.engine.dispose()


def run(app, kind: str, params: dict, user_id: int, timeout: float = 240) -> dict:
    with app.app_context():
        job_id = runner.submit(kind, params, user_id)
    return wait_for(app, job_id, user_id, timeout=timeout)


def saved_keys(app, user_id: int) -> tuple[set[int], set[str], set[str], set]:
    """The user's saved recordings, found here on their own: ids (with canonical links), Spotify ids, ISRCs, names."""
    with app.app_context():
        library = set(db.session.scalars(select(LibraryItem.track_id).where(LibraryItem.user_id == user_id)))
        rows = db.session.scalars(select(Track).where(Track.id.in_(library))).all()
        ids_ = library | {r.canonical_id for r in rows if r.canonical_id}
        rows += db.session.scalars(select(Track).where((Track.canonical_id.in_(ids_)) | Track.id.in_(ids_))).all()
        ids_ |= {r.id for r in rows}
        return (ids_, {r.spotify_id for r in rows if r.spotify_id}, {r.isrc.upper() for r in rows if r.isrc},
                {name_key(r.title, r.artist) for r in rows})


def is_saved(track: Track, keys) -> bool:
    ids_, spotify_ids, isrcs, names = keys
    return (track.id in ids_ or track.canonical_id in ids_ or track.spotify_id in spotify_ids
            or (track.isrc or "").upper() in isrcs or name_key(track.title, track.artist) in names)


def duplicate_saved_tracks(app, user_id: int) -> list[int]:
    """Two new catalog rows for saved songs (a Deezer-style row by title and artist, one by ISRC), with features."""
    with app.app_context():
        liked = db.session.execute(
            select(Track, TrackFeatures).join(LibraryItem, LibraryItem.track_id == Track.id)
            .join(TrackFeatures, TrackFeatures.track_id == Track.canonical_id)
            .where(LibraryItem.user_id == user_id, TrackFeatures.status == "ok", TrackFeatures.provider == "deezer")
            .order_by(Track.id).limit(2)).all()
        if len(liked) < 2:  # matched rows that became Deezer rows themselves hold their own features
            liked = db.session.execute(
                select(Track, TrackFeatures).join(LibraryItem, LibraryItem.track_id == Track.id)
                .join(TrackFeatures, TrackFeatures.track_id == Track.id)
                .where(LibraryItem.user_id == user_id, TrackFeatures.status == "ok",
                       TrackFeatures.provider == "deezer").order_by(Track.id).limit(2)).all()
        assert len(liked) == 2
        (first, features_1), (second, features_2) = liked
        by_name = Track(title=f"{first.title} (Remastered)", artist=first.artist.upper(), deezer_id=9_900_000_001)
        by_isrc = Track(title="A different title", artist="Somebody", deezer_id=9_900_000_002,
                        isrc=(second.isrc or "NOISRC").lower())
        db.session.add_all([by_name, by_isrc])
        db.session.flush()
        for row, features in ((by_name, features_1), (by_isrc, features_2)):
            db.session.add(TrackFeatures(track_id=row.id, provider="deezer", provider_version=features.provider_version,
                                         status="ok", values=dict(features.values)))
        db.session.commit()
        assert second.isrc, "a liked song matched by ISRC carries it"
        return [by_name.id, by_isrc.id]


def test_discover_ranks_unsaved_catalog_and_chart_tracks_and_saves_a_playlist(site):
    app, sandbox, me, other = site
    with app.app_context():
        ana = db.session.scalar(select(User.id).where(User.spotify_id == USER))

    # Before anything is imported, the page refuses in words.
    refused = outputs(call(me, f"{ids.DISCOVER_JOB_STORE}.data", {f"{ids.DISCOVER_CHARTS}.value": ["charts"]},
                           changed=[f"{ids.DISCOVER_START}.n_clicks"]))
    assert "Your library is not imported yet" in refused[f"{ids.DISCOVER_MESSAGE}.children"]

    # Harvest first, so liked songs matched later point at the harvested Deezer rows: real duplicate rows.
    harvested = run(app, "harvest", {"contexts": ["workout", "jazz", "sleep"], "playlists_per_context": 2,
                                     "tracks_per_playlist": 50, "providers": PROVIDERS}, ana)
    assert harvested["status"] == "succeeded", harvested
    imported = run(app, "import-library", {"providers": PROVIDERS}, ana)
    assert imported["status"] == "succeeded", imported
    duplicates = duplicate_saved_tracks(app, ana)

    # Too few catalog tracks: a plain refusal from the job.
    too_few = run(app, "discover", {"charts": False, "providers": PROVIDERS, "min_catalog": 100_000}, ana)
    assert too_few["status"] == "failed" and "Discover needs at least 100,000" in too_few["error"], too_few

    job = run(app, "discover", {"providers": PROVIDERS, "limit": 100_000, **GRID}, ana)
    assert job["status"] == "succeeded", job
    assert {"chart tracks", "dataset", "model comparison", "ranking", "saving"} <= set(job["progress"])
    assert any("Kept the" in line for line in job["log"])

    with app.app_context():
        runs = db.session.scalars(select(ModelRun).where(ModelRun.user_id == ana, ModelRun.mode == "discover")).all()
        assert sorted(r.name for r in runs) == ["logistic regression", "random forest"]
        assert len(next(r for r in runs if r.name == "random forest").result["grid"]) == 8
        model = db.session.scalar(select(TrainedModel).where(TrainedModel.user_id == ana,
                                                             TrainedModel.kind == "discover"))
        assert model is not None and all(r.model_id == model.id for r in runs)
        stored = db.session.execute(select(Suggestion, Track).join(Track, Track.id == Suggestion.track_id)
                                    .where(Suggestion.user_id == ana, Suggestion.mode == "discover")).all()
        canonical_dupes = db.session.scalars(select(Track.id).join(LibraryItem, LibraryItem.track_id == Track.id)
                                             .where(LibraryItem.user_id == ana, Track.canonical_id.is_not(None))).all()
    keys = saved_keys(app, ana)
    assert len(stored) > 50
    saved_suggested = [track.id for _, track in stored if is_saved(track, keys)]
    assert not saved_suggested, f"saved tracks suggested: {saved_suggested[:10]}"
    assert not {track.id for _, track in stored} & set(duplicates)
    assert canonical_dupes, "the harvest-then-import order gives liked songs a second (Deezer) row"

    # Chart tracks are candidates: every unsaved chart track with features is ranked, said to be from the charts.
    chart = requests.get(f"{sandbox.deezer_url}/chart/0/tracks", params={"limit": 100}, timeout=10).json()["data"]
    with app.app_context():
        chart_rows = db.session.scalars(select(Track).where(Track.deezer_id.in_([c["id"] for c in chart]))).all()
    unsaved_chart = {t.id for t in chart_rows if not is_saved(t, keys)}
    suggested = {track.id: suggestion for suggestion, track in stored}
    assert len(chart_rows) == len(chart) and unsaved_chart
    assert len(unsaved_chart & set(suggested)) >= 0.9 * len(unsaved_chart)
    assert all(CHART_REASON in suggested[tid].reasons for tid in unsaved_chart & set(suggested))

    # The page shows the ranking; the other user sees none of it.
    done = {f"{ids.DISCOVER_DONE_STORE}.data": {"id": job["id"]}}
    shown = outputs(call(me, f"{ids.DISCOVER_RUNS}.children", done, changed=[f"{ids.DISCOVER_DONE_STORE}.data"]))
    top_track = min(stored, key=lambda pair: pair[0].rank)[1]
    assert any(top_track.title in text for text in texts(shown[f"{ids.DISCOVER_LIST}.children"]))
    theirs = outputs(call(other, f"{ids.DISCOVER_RUNS}.children", done, changed=[f"{ids.DISCOVER_DONE_STORE}.data"]))
    assert not any(top_track.title in text for text in texts(theirs[f"{ids.DISCOVER_LIST}.children"]))

    # Save the Discover playlist through the page, and read it back from the sandbox.
    started = outputs(call(me, f"{ids.DISCOVER_SAVE_JOB_STORE}.data",
                           {f"{ids.DISCOVER_SIZE}.value": 12, f"{ids.DISCOVER_PUBLIC}.value": []},
                           changed=[f"{ids.DISCOVER_SAVE}.n_clicks"]))
    saved_job = wait_for(app, started[f"{ids.DISCOVER_SAVE_JOB_STORE}.data"], ana, timeout=120)
    assert saved_job["status"] == "succeeded", saved_job
    with app.app_context():
        row = db.session.scalar(select(ExportedPlaylist).where(ExportedPlaylist.user_id == ana,
                                                               ExportedPlaylist.context == DISCOVER_KEY))
    body = requests.get(f"{sandbox.url}/__sandbox__/playlists/{row.spotify_playlist_id}", timeout=10).json()
    on_spotify = [f"spotify:track:{sid}" for sid in body["spotify_ids"]]
    assert row.status == "saved" and on_spotify == row.track_uris and len(on_spotify) == 12
    assert not {uri.rsplit(":", 1)[1] for uri in on_spotify} & keys[1], "a saved song went into the playlist"

    # The first track is saved meanwhile (as another catalog row of the same title and artist): saving again
    # re-checks, leaves it out, and replaces the same playlist's tracks, never making a second playlist.
    first_uri, first_track = saved_job["result"]["uris"][0], saved_job["result"]["track_ids"][0]
    # The second is liked on Spotify itself, after the import: only Spotify can tell.
    second_uri = saved_job["result"]["uris"][1]
    sandbox.app.extensions["sandbox"].state.like(USER, [sandbox.world.by_spotify_id[second_uri.rsplit(":", 1)[1]]
                                                        .deezer_id])
    with app.app_context():
        original = db.session.get(Track, first_track)
        twin = Track(title=original.title, artist=original.artist, spotify_id="Z" * 22)
        db.session.add(twin)
        db.session.flush()
        db.session.add(LibraryItem(user_id=ana, collection="liked", track_id=twin.id))
        db.session.commit()
    again = run(app, "discover-save", {"size": 5}, ana)
    assert again["status"] == "succeeded", again
    body = requests.get(f"{sandbox.url}/__sandbox__/playlists/{row.spotify_playlist_id}", timeout=10).json()
    assert len(body["spotify_ids"]) == 5 and again["result"]["spotify_playlist_id"] == row.spotify_playlist_id
    assert first_uri not in again["result"]["uris"] and first_track not in again["result"]["track_ids"]
    assert second_uri not in again["result"]["uris"]
    assert any("saved on Spotify since your library was imported" in line for line in again["result"]["left_out"])
    assert [f"spotify:track:{sid}" for sid in body["spotify_ids"]] == again["result"]["uris"]
