"""A library is matched most recent likes first, and a harvest is analysed a track of every playlist at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.extensions import db
from app.pipeline.library import library_track_ids_recent_first
from app.storage.tables import LibraryItem, Track, User


def test_the_most_recent_likes_come_first_and_a_song_counts_by_its_latest_add(app):
    with app.app_context():
        user = User(spotify_id="me")
        db.session.add(user)
        db.session.flush()
        tracks = [Track(title=f"t{i}", artist="a") for i in range(4)]
        db.session.add_all(tracks)
        db.session.flush()
        day = datetime(2026, 1, 1, tzinfo=UTC)
        for track, days, collection in ((tracks[0], 1, "liked"), (tracks[1], 3, "liked"), (tracks[2], None, "liked"),
                                        (tracks[3], 2, "liked"), (tracks[0], 5, "playlist:1")):
            db.session.add(LibraryItem(user_id=user.id, collection=collection, track_id=track.id,
                                       added_at=None if days is None else day + timedelta(days=days)))
        db.session.commit()
        order = library_track_ids_recent_first(db.session, user.id)
        assert order == [tracks[0].id, tracks[1].id, tracks[3].id, tracks[2].id]


def test_a_harvest_is_analysed_a_track_of_every_playlist_at_a_time(app):
    from app.pipeline.catalog import spread_over_playlists
    from app.storage.tables import Context, Label, SourcePlaylist

    with app.app_context():
        context = Context(key="calm", name="calm")
        playlists = [SourcePlaylist(service="deezer", external_id=str(n), name=f"p{n}") for n in range(3)]
        tracks = [Track(title=f"t{i}", artist="a") for i in range(7)]
        db.session.add_all([context, *playlists, *tracks])
        db.session.flush()
        # Playlist 0 holds tracks 0-3, playlist 1 tracks 4-5, playlist 2 track 6 (also in playlist 0); 3 is unlabelled.
        for playlist, members in ((0, (0, 1, 2, 6)), (1, (4, 5)), (2, (6,))):
            for position, member in enumerate(members):
                db.session.add(Label(context_id=context.id, track_id=tracks[member].id,
                                     source_playlist_id=playlists[playlist].id, position=position))
        db.session.commit()
        order = spread_over_playlists(db.session, [t.id for t in tracks])
        assert order == [tracks[i].id for i in (0, 4, 6, 1, 5, 2, 3)]
        # Songs of no context go evenly through it, the first among the first, so a first model has some.
        charts = [Track(title=f"c{i}", artist="b") for i in range(3)]
        db.session.add_all(charts)
        db.session.flush()
        background = [c.id for c in charts] + [tracks[3].id]  # a track already in the order keeps its place
        mixed = spread_over_playlists(db.session, [t.id for t in tracks], background)
        assert mixed == [charts[0].id, *(tracks[i].id for i in (0, 4, 6)), charts[1].id,
                         *(tracks[i].id for i in (1, 5)), charts[2].id, *(tracks[i].id for i in (2, 3))]
