"""Matching to Deezer: normalisation, candidate scoring, ISRC-then-search, and merging rows that meet on one Deezer id."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from app.pipeline.matching import Match, Wanted, apply_match, durations_agree, find_match, normalise, score, split_title
from app.storage.base import Base
from app.storage.tables import LibraryItem, Track, TrackFeatures, User


@pytest.mark.parametrize(("title", "base", "versions"), [
    ("Night Drive", "night drive", set()),
    ("Night Drive - Remastered 2011", "night drive", set()),
    ("Night Drive (Remastered 2011)", "night drive", set()),
    ("Night Drive - 2011 Remaster", "night drive", set()),
    ("Night Drive (feat. Kai Ro)", "night drive", set()),
    ("Night Drive [feat. Kai Ro] - Radio Edit", "night drive", set()),
    ("Night Drive feat. Kai Ro", "night drive", set()),
    ("Night Drive - Live", "night drive", {"live"}),
    ("Night Drive (Live at Wembley)", "night drive", {"live"}),
    ("Night Drive - Extended Mix", "night drive", {"extended", "mix"}),
    ("Nuit d'Été!", "nuit d ete", set()),
])
def test_titles_are_split_into_base_and_the_version_words_that_matter(title, base, versions):
    assert split_title(title) == (base, frozenset(versions))


def test_normalise_folds_case_accents_punctuation_and_ampersands():
    assert normalise("Beyoncé & JAY-Z") == "beyonce and jay z"


@pytest.mark.parametrize(("a", "b", "agree"), [
    (100_000, 102_900, True), (100_000, 103_200, False), (600_000, 617_000, True), (600_000, 619_000, False),
    (None, 100_000, True),
])
def test_durations_agree_within_three_seconds_or_three_percent(a, b, agree):
    assert durations_agree(a, b) is agree


WANTED = Wanted(1, "Night Drive - Remastered 2011", "Luma Vale", ("Luma Vale",), None, 214_360)


def candidate(title="Night Drive (Remastered 2011)", artist="Luma Vale", duration=214, **extra):
    return {"id": 7, "title": title, "artist": {"name": artist}, "duration": duration, "rank": 1000, **extra}


@pytest.mark.parametrize(("found", "accepted"), [
    (candidate(), True),
    (candidate(title="Night Drive"), True),
    (candidate(artist="LUMA VALE"), True),
    (candidate(duration=230), False),
    (candidate(title="Night Drive (Live)"), False),
    (candidate(title="Morning Walk"), False),
    (candidate(artist="Someone Else"), False),
    ({"id": 7, "title": None, "artist": "Luma"}, False),
])
def test_search_candidates_need_artist_title_and_duration(found, accepted):
    assert (score(WANTED, found) is not None) is accepted


class FakeDeezer:
    """Deezer as matching sees it: an ISRC table and canned search answers, counting calls."""

    def __init__(self, by_isrc=None, results=None):
        self.by_isrc, self.results, self.searches = by_isrc or {}, results or [], []

    def track_by_isrc(self, isrc):
        return self.by_isrc.get(isrc)

    def search_tracks(self, query, limit=10):
        self.searches.append(query)
        return self.results


class FakeAnswers:
    def __init__(self):
        self.remembered = []

    def remember_track(self, answer):
        self.remembered.append(answer["id"])


class FakeClients:
    def __init__(self, deezer):
        self.deezer, self.answers = deezer, FakeAnswers()


def test_isrc_comes_first_and_its_answer_is_kept_for_enrichment():
    clients = FakeClients(FakeDeezer(by_isrc={"GBXYZ2400123": {"id": 9, "duration": 214, "album": {"id": 3}}}))
    match = find_match(clients, Wanted(1, "Night Drive", "Luma Vale", (), "GBXYZ2400123", 214_360))
    assert match == Match(9, "isrc", 1.0, album_id=3)
    assert clients.answers.remembered == [9] and clients.deezer.searches == []


def test_without_an_isrc_hit_the_best_search_result_wins_and_a_miss_says_why():
    results = [candidate(title="Night Drive (Live)", id=5), candidate(id=6, rank=10), candidate(id=8, rank=99)]
    clients = FakeClients(FakeDeezer(results=results))
    match = find_match(clients, Wanted(1, "Night Drive", "Luma Vale", (), "ZZ0000000000", 214_360))
    assert (match.deezer_id, match.method) == (8, "search") and match.confidence >= 0.75
    assert clients.deezer.searches[0] == 'artist:"Luma Vale" track:"night drive"'

    miss = find_match(FakeClients(FakeDeezer()), Wanted(1, "Night Drive", "Luma Vale", (), "ZZ0000000000", 1))
    assert miss.deezer_id is None and miss.method == "none"
    assert miss.note == ("Not found on Deezer: no Deezer track has ISRC ZZ0000000000, and no search result for "
                         "“Luma Vale – Night Drive” matched artist, title and duration (±3 s).")


@pytest.fixture
def session(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'match.db'}")
    Base.metadata.create_all(engine)
    with sessionmaker(bind=engine)() as session:
        session.add(User(id=1, spotify_id="ana.k"))
        session.commit()
        yield session


def test_a_match_on_a_harvested_deezer_row_merges_the_spotify_identity_into_it(session):
    harvested = Track(deezer_id=77, title="Night Drive", artist="Luma Vale", match_method="source")
    mine = Track(spotify_id="S" * 22, title="Night Drive", artist="Luma Vale", isrc="GBXYZ2400123")
    session.add_all([harvested, mine])
    session.flush()
    session.add_all([LibraryItem(user_id=1, collection="liked", track_id=mine.id),
                     TrackFeatures(track_id=harvested.id, provider="deezer", provider_version="1", status="ok",
                                   values={"bpm": 120})])
    session.flush()
    survivor = apply_match(session, mine, Match(77, "isrc", 1.0))
    session.commit()
    assert survivor.id == harvested.id
    assert session.scalars(select(Track)).all() == [harvested]
    assert (harvested.spotify_id, harvested.isrc, harvested.match_method) == ("S" * 22, "GBXYZ2400123", "isrc")
    assert session.scalar(select(LibraryItem.track_id)) == harvested.id


def test_a_match_on_a_row_with_another_spotify_id_points_at_it_and_shares_its_features(session):
    original = Track(spotify_id="A" * 22, deezer_id=77, title="Night Drive", artist="Luma Vale")
    compilation = Track(spotify_id="B" * 22, title="Night Drive", artist="Luma Vale")
    session.add_all([original, compilation])
    session.flush()
    survivor = apply_match(session, compilation, Match(77, "isrc", 1.0))
    session.commit()
    assert survivor is compilation and compilation.canonical_id == original.id and compilation.deezer_id is None
    assert compilation.match_note == f"Same Deezer track as Spotify track {'A' * 22}; shares its features."


@pytest.mark.parametrize("matched_first", ["older", "newer"])
def test_two_spotify_editions_end_the_same_whichever_is_matched_first(session, matched_first):
    """Answers come back in any order (a slow lookup, a retry, a killed run resumed): either way the older row holds
    the Deezer id, the newer one points at it, and features already fetched through the newer one stay shared."""
    older = Track(spotify_id="A" * 22, title="Night Drive", artist="Luma Vale", isrc="GBXYZ2400123")
    newer = Track(spotify_id="B" * 22, title="Night Drive", artist="Luma Vale", isrc="GBXYZ2400123")
    session.add_all([older, newer])
    session.flush()
    first, second = (older, newer) if matched_first == "older" else (newer, older)
    apply_match(session, first, Match(77, "isrc", 1.0, album_id=5))
    session.flush()
    follower = Track(spotify_id="C" * 22, title="Night Drive", artist="Luma Vale", canonical_id=first.id)
    session.add_all([follower, TrackFeatures(track_id=first.id, provider="deezer", provider_version="1",
                                             status="ok", values={"bpm": 120})])
    session.flush()
    apply_match(session, second, Match(77, "isrc", 1.0, album_id=5))
    session.commit()
    session.expire_all()
    assert (older.deezer_id, older.deezer_album_id, older.canonical_id) == (77, 5, None)
    assert (newer.deezer_id, newer.deezer_album_id, newer.canonical_id) == (None, None, older.id)
    assert newer.match_note == f"Same Deezer track as Spotify track {'A' * 22}; shares its features."
    assert older.match_note is None
    assert follower.canonical_id == older.id
    assert session.scalars(select(TrackFeatures.track_id)).all() == [older.id]


def test_an_unmatched_track_is_kept_with_its_reason(session):
    track = Track(spotify_id="C" * 22, title="Only Here", artist="Nobody")
    session.add(track)
    session.flush()
    apply_match(session, track, Match(None, "none", note="Not found on Deezer: …"))
    assert (track.deezer_id, track.match_method, track.match_note) == (None, "none", "Not found on Deezer: …")
