"""Every entity of the schema round-trips through the database, identically on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask_migrate import upgrade
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app import create_app
from app.extensions import db
from app.storage import tables as m


def _populate(session) -> dict[str, int]:
    user = m.User(spotify_id="ana.k", display_name="Ana")
    session.add(user)
    session.flush()
    track = m.Track(spotify_id="3n8XqPzL0aBcDeFgHiJkLm", deezer_id=2219803471, isrc="GBXYZ2400123",
                    title="Night Drive", artist="Luma Vale", artists=["Luma Vale", "Guest"], album="Afterglow",
                    duration_ms=214360, explicit=False, release_date="2024-05-10", match_method="isrc",
                    match_confidence=1.0)
    session.add(track)
    session.flush()
    session.add_all([
        m.TrackFeatures(track_id=track.id, provider="deezer", provider_version="1", status="ok",
                        values={"bpm": 118.4, "genres": ["Dance", "Electro"]}),
        m.TrackFeatures(track_id=track.id, provider="preview", provider_version="1", status="failed",
                        error="preview link expired twice"),
    ])
    context = m.Context(key="road trip", name="Road Trip 🚗")
    playlist = m.SourcePlaylist(service="deezer", external_id="908622995", name="Road Trip Hits", fans=1200,
                                nb_tracks=80, checksum="abc")
    session.add_all([context, playlist])
    session.flush()
    session.add_all([
        m.ContextPlaylist(context_id=context.id, source_playlist_id=playlist.id, relevance=0.9, chosen=True),
        m.Label(context_id=context.id, track_id=track.id, source_playlist_id=playlist.id, position=3),
    ])
    job = m.Job(user_id=user.id, kind="harvest", params={"contexts": ["road trip"]},
                progress={"playlists": {"done": 1, "total": 10}})
    session.add(job)
    session.flush()
    imp = m.LibraryImport(user_id=user.id, kind="spotify-liked", cursor={"newest_added_at": "2026-01-01T00:00:00Z"})
    lp = m.LibraryPlaylist(user_id=user.id, external_key="spotify:5Gh7", spotify_id="5Gh7", name="Gym",
                           snapshot_id="AAAB")
    session.add_all([imp, lp])
    session.flush()
    session.add_all([
        m.LibraryItem(user_id=user.id, collection="liked", track_id=track.id, import_id=imp.id,
                      added_at=datetime(2026, 3, 14, 18, 2, 11, tzinfo=UTC)),
        m.LibraryItem(user_id=user.id, collection=f"playlist:{lp.id}", track_id=track.id,
                      library_playlist_id=lp.id, position=0),
    ])
    dataset = m.Dataset(user_id=user.id, name="my contexts", contexts=["road trip"], job_id=job.id)
    session.add(dataset)
    session.flush()
    model = m.TrainedModel(user_id=user.id, kind="context", name="lr", dataset_id=dataset.id,
                           artifact=b"\x00\x01joblib", metrics={"road trip": {"precision": 0.81}},
                           features=["tempo"], versions={"sklearn": "1.9.1"}, target_precision=0.8)
    session.add(model)
    session.flush()
    run = m.SortRun(user_id=user.id, model_id=model.id, params={"road trip": 0.8}, coverage=0.4)
    session.add(run)
    session.flush()
    session.add_all([
        m.SortAssignment(user_id=user.id, sort_run_id=run.id, track_id=track.id, context="road trip",
                         probability=0.91, assigned=True, decision="accepted", reasons=["high energy"]),
        m.ExportedPlaylist(user_id=user.id, context="road trip", sort_run_id=run.id, name="Road Trip",
                           spotify_playlist_id="7xyz", track_uris=["spotify:track:3n8XqPzL0aBcDeFgHiJkLm"],
                           status="saved"),
        m.OAuthToken(user_id=user.id, access_token=b"cipher", refresh_token=b"cipher2", scope="user-library-read"),
        m.ModelRun(user_id=user.id, mode="enhance", name="random forest", params={"n_estimators": 200},
                   metrics={"macro_f1": 0.61}, seconds=1.5, model_id=model.id, job_id=job.id),
        m.Suggestion(user_id=user.id, mode="enhance", model_id=model.id, target=f"playlist:{lp.id}",
                     track_id=track.id, probability=0.77, rank=1, reasons=["high energy"]),
        m.TasteInvite(user_id=user.id, token_hash="0" * 64),
        m.SyncSetting(user_id=user.id, enabled=True, period="daily", mode="review"),
        m.SongSplit(user_id=user.id, track_id=track.id),
    ])
    sync_run = m.SyncRun(user_id=user.id, run_key=f"{user.id}:daily:2026-03-14", model_id=model.id,
                         sort_run_id=run.id, status="done", counts={"added": 1})
    session.add(sync_run)
    session.flush()
    session.add(m.SyncItem(user_id=user.id, sync_run_id=sync_run.id, context="road trip", track_id=track.id,
                           uri="spotify:track:3n8XqPzL0aBcDeFgHiJkLm", status="added"))
    session.commit()
    return {"user": user.id, "track": track.id, "job": job.id}


def _check_roundtrip(app) -> None:
    with app.app_context():
        upgrade()
        ids = _populate(db.session)
        db.session.expire_all()
        track = db.session.get(m.Track, ids["track"])
        assert track.artists == ["Luma Vale", "Guest"]
        assert track.deezer_id == 2219803471  # larger than a 32-bit int
        assert {f.provider: f.status for f in track.features} == {"deezer": "ok", "preview": "failed"}
        assert track.features[0].values["genres"] == ["Dance", "Electro"] or track.features[1].values is None
        assert db.session.scalar(select(m.Context.name)) == "Road Trip 🚗"
        job = db.session.get(m.Job, ids["job"])
        assert job.status == "queued" and job.progress == {"playlists": {"done": 1, "total": 10}}
        item = db.session.scalar(select(m.LibraryItem).where(m.LibraryItem.collection == "liked"))
        assert item.added_at.replace(tzinfo=UTC) == datetime(2026, 3, 14, 18, 2, 11, tzinfo=UTC)
        assert db.session.scalar(select(m.TrainedModel.artifact)) == b"\x00\x01joblib"
        assert db.session.scalar(select(m.SortAssignment.reasons)) == ["high energy"]
        for model in m.USER_OWNED_MODELS:
            owners = set(db.session.scalars(select(model.user_id)))
            assert owners == {ids["user"]}, f"{model.__tablename__} rows must carry their owner"

        # The same label twice is refused: harvest upserts rely on it.
        label = db.session.scalar(select(m.Label))
        db.session.add(m.Label(context_id=label.context_id, track_id=label.track_id,
                               source_playlist_id=label.source_playlist_id))
        with pytest.raises(IntegrityError):
            db.session.commit()
        db.session.rollback()

        # Deleting a user cascades to everything they own (foreign keys enforced on SQLite too).
        db.session.delete(db.session.get(m.User, ids["user"]))
        db.session.commit()
        for model in m.USER_OWNED_MODELS:
            assert db.session.scalar(select(model)) is None, model.__tablename__
        assert db.session.get(m.Track, ids["track"]) is not None, "the global catalog is nobody's to delete"
        db.engine.dispose()


def test_schema_roundtrip_on_sqlite(app_config):
    _check_roundtrip(create_app(app_config))


@pytest.mark.postgres
def test_schema_roundtrip_on_postgresql(app_config, postgres_url):
    _check_roundtrip(create_app({**app_config, "DATABASE_URL": postgres_url}))
