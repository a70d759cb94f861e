"""One entry per song: which tracks are versions of one song, and which version stands for it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.services.songs import group_songs, song_title

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def row(track_id, title, duration_ms=200_000, isrc=None, artist="Luma Vale", liked_days=0):  # noqa: ANN001,ANN201
    return (track_id, isrc, artist, title, duration_ms, T0 + timedelta(days=liked_days))


def test_edition_words_are_removed_from_titles():
    for title in ("Tonight - Remastered 2011", "Tonight (Remastered 2011)", "Tonight - Single Version",
                  "Tonight (Live)", "Tonight - Live", "Tonight (feat. Nina Rossi)", "Tonight - Radio Edit"):
        assert song_title(title) == "tonight", title


def test_versions_within_3_s_are_one_song_and_the_first_liked_stands():
    songs = group_songs([row(1, "Tonight - Remastered 2011", 201_000, liked_days=5),
                         row(2, "Tonight", 200_000, liked_days=1),
                         row(3, "Tonight (Live)", 202_900, liked_days=9),
                         row(4, "Tonight", 260_000, liked_days=0),           # a different recording: 60 s longer
                         row(5, "Tonight", 200_000, artist="Someone Else")])   # another artist's song
    assert songs.first[1] == songs.first[3] == 2 and songs.stands_for_itself(2)
    assert songs.hidden == {1, 3}
    assert songs.stands_for_itself(4) and songs.stands_for_itself(5)
    assert songs.others(2) == [1, 3]


def test_equal_isrc_is_one_song_whatever_the_titles_and_durations():
    songs = group_songs([row(1, "Song A", 100_000, isrc="GBAYE1100001", liked_days=2),
                         row(2, "Compilation Title", 190_000, isrc="gbaye1100001", liked_days=1)])
    assert songs.hidden == {1}


def test_a_split_track_stands_alone():
    rows = [row(1, "Tonight", 200_000, liked_days=1), row(2, "Tonight - Remastered", 200_500, liked_days=2)]
    assert group_songs(rows).hidden == {2}
    assert group_songs(rows, split={2}).hidden == set()


def test_a_track_without_duration_merges_only_by_isrc():
    songs = group_songs([row(1, "Tonight", None), row(2, "Tonight", 200_000, liked_days=3)])
    assert songs.hidden == set()
