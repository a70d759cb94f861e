"""Fixtures for the page tests: a small constructed label store whose numbers are known."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.storage.tables import Context, Label, SourcePlaylist, Track, TrackFeatures

# track -> (contexts, tempo, energy); tracks 3 and 4 are both study and sleep.
STORE = {1: (["workout"], 150, 0.9), 2: (["workout"], 140, 0.8), 3: (["study", "sleep"], 80, 0.2),
         4: (["study", "sleep"], 70, 0.1), 5: (["study"], 90, 0.3), 6: (["sleep"], 60, 0.05)}


@pytest.fixture
def store(app):
    """Three contexts over six tracks, with preview tempo and energy for each track."""
    with app.app_context():
        playlist = SourcePlaylist(service="deezer", external_id="p1", name="mixed")
        contexts = {name: Context(key=name, name=name.title()) for name in ("workout", "study", "sleep")}
        db.session.add_all([playlist, *contexts.values()])
        for track_id, (names, tempo, energy) in STORE.items():
            track = Track(id=track_id, title=f"t{track_id}", artist="a")
            db.session.add(track)
            db.session.add(TrackFeatures(track=track, provider="preview", provider_version="1", status="ok",
                                         values={"tempo": tempo, "energy": energy}))
        db.session.flush()
        for track_id, (names, _, _) in STORE.items():
            for name in names:
                db.session.add(Label(context_id=contexts[name].id, track_id=track_id, source_playlist_id=playlist.id))
        db.session.commit()
    return app
