"""Enhance refuses in plain words when there is nothing to learn: no import, no own playlist, playlists too small."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy.orm import sessionmaker

from app.dash_views import ids
from app.extensions import db
from app.jobs.registry import JobContext, TaskError
from app.jobs.enhance_task import enhance_task
from app.runs.progress import Progress
from app.services import enhance
from app.storage.tables import LibraryImport, LibraryItem, LibraryPlaylist, Track, TrackFeatures
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import call, outputs

LEARN = f"{ids.ENHANCE_JOB_STORE}.data"
MESSAGE = f"{ids.ENHANCE_MESSAGE}.children"


def build_library(app, user_id: int, playlists: dict[str, int], liked: int, *, owned: bool = True) -> None:
    """A finished import: `liked` liked songs with features, and playlists holding the first n of them."""
    rng = np.random.default_rng(user_id)
    with app.app_context():
        db.session.add(LibraryImport(user_id=user_id, kind="spotify-liked", status="done"))
        tracks = []
        for n in range(liked):
            track = Track(spotify_id=f"u{user_id}t{n}", title=f"Song {n}", artist=f"Artist {n % 7}")
            track.features.append(TrackFeatures(provider="reccobeats", provider_version="1", status="ok",
                                                values={"energy": float(rng.random()),
                                                        "tempo": 80 + 60 * rng.random()}))
            tracks.append(track)
        db.session.add_all(tracks)
        db.session.flush()
        db.session.add_all(LibraryItem(user_id=user_id, collection="liked", track_id=t.id) for t in tracks)
        for k, (name, size) in enumerate(playlists.items()):
            playlist = LibraryPlaylist(user_id=user_id, external_key=f"spotify:p{user_id}{k}",
                                       spotify_id=f"p{user_id}{k}", name=name, owned_by_user=owned, track_count=size)
            db.session.add(playlist)
            db.session.flush()
            db.session.add_all(LibraryItem(user_id=user_id, collection=f"playlist:{playlist.id}", track_id=t.id,
                                           library_playlist_id=playlist.id) for t in tracks[:size])
        db.session.commit()


@pytest.fixture
def me(app, client):
    user_id = add_user(app, "mira.s")
    session_login(client, user_id)
    return user_id


def learn(client) -> dict:
    return outputs(call(client, LEARN, changed=[f"{ids.ENHANCE_START}.n_clicks"]))


def test_a_library_never_imported_is_refused_before_any_job(app, client, me):
    answer = learn(client)
    assert LEARN not in answer and answer[MESSAGE] == enhance.NOT_IMPORTED
    assert "Import it on the Library page first" in answer[MESSAGE]


def test_only_followed_playlists_are_refused_in_plain_words(app, client, me):
    build_library(app, me, {"Someone else's mix": 20}, liked=40, owned=False)
    answer = learn(client)
    assert LEARN not in answer and answer[MESSAGE] == enhance.NO_PLAYLISTS
    assert "playlists of your own" in answer[MESSAGE]


def test_playlists_with_too_few_tracks_are_refused_and_named(app, me):
    build_library(app, me, {"Tiny": 4, "Small": 7}, liked=40)
    with app.app_context(), pytest.raises(enhance.EnhanceError) as refused:
        enhance.load_library(db.session, me)
    message = str(refused.value)
    assert "“Tiny” (4)" in message and "“Small” (7)" in message and "at least 10" in message


def test_the_job_fails_with_the_refusal_and_a_small_playlist_is_left_out_with_a_note(app, me):
    build_library(app, me, {"Big": 30, "Tiny": 3}, liked=80)
    with app.app_context():
        library = enhance.load_library(db.session, me)
        assert library.data.classes[-1] == "none" and len(library.data.classes) == 2
        assert any("“Tiny” is left out" in note for note in library.notes)
    other = add_user(app, "jonas.b")
    with app.app_context(), pytest.raises(TaskError) as failed:
        enhance_task(JobContext(job_id="x", user_id=other, params={}, config=app.config,
                                session_factory=sessionmaker(bind=db.engine), progress=Progress()))
    assert str(failed.value) == enhance.NOT_IMPORTED


def test_the_page_renders_the_refusal_and_keeps_the_button_off_for_an_empty_library(app, client, me):
    from app.dash_views import enhance as page
    from tests.dash_views.helpers import find

    assert client.get("/app/enhance").status_code == 200
    with app.test_request_context("/app/enhance"):

        from app.auth.session import log_in  # the id and its server-side session key
        log_in(me)
        tree = page.layout()
    assert find(tree, ids.ENHANCE_START).disabled is True
    assert enhance.NOT_IMPORTED in str(tree)
