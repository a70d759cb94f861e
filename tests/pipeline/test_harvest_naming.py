"""Context-name validation, title relevance, duplicate keys and the choice of playlists, as tables."""

from __future__ import annotations

import pytest

from app.pipeline.harvest import MIN_RELEVANCE, Previous, overlap, plan_context
from app.pipeline.naming import ContextNameError, context_key, relevance, title_key, validate_contexts
from app.pipeline.sources import FoundPlaylist


@pytest.mark.parametrize("names, cleaned", [
    (["workout"], ["workout"]),
    (["  rainy   day "], ["rainy day"]),
    (["💪 gym", "🌧️"], ["💪 gym", "🌧️"]),
    (["رياضة", "שינה"], ["رياضة", "שינה"]),                 # right-to-left scripts are fine
    (["Workout", "study"], ["Workout", "study"]),
    (["x" * 100], ["x" * 100]),
    ([f"c{i}" for i in range(50)], [f"c{i}" for i in range(50)]),
])
def test_valid_context_names_are_kept_with_spacing_collapsed(names, cleaned):
    assert validate_contexts(names) == cleaned


@pytest.mark.parametrize("names, message", [
    ([], "at least one"),
    ([""], "context 1 is empty"),
    (["workout", "   "], "context 2 is empty"),
    (["x" * 101], "101 characters long; the limit is 100"),
    ([f"c{i}" for i in range(51)], "51 contexts given; at most 50"),
    (["Workout", "workout"], "same context"),
    (["rainy day", "RAINY  DAY"], "same context"),
    (["!!!"], "'!!!' has no letters, digits or emoji"),
    (["work\x00out"], "control character"),
])
def test_invalid_context_names_are_refused_in_plain_words(names, message):
    with pytest.raises(ContextNameError, match=message):
        validate_contexts(names)


@pytest.mark.parametrize("name, key", [
    ("Workout", "workout"), ("  Rainy   Day ", "rainy day"), ("STRASSE", "strasse"), ("Straße", "strasse"),
    ("rock;pop", "rock,pop"),  # as app.models normalises labels, so both sides agree
])
def test_context_keys_fold_case_and_spacing(name, key):
    assert context_key(name) == key


@pytest.mark.parametrize("context, better, worse", [
    ("sleep", "Sleep", "Peaceful Sleep Sounds"),           # a title all about the context wins
    ("sleep", "Deep Sleep", "Sleep Token Essentials"),
    ("study", "Music for Studying 2020", "Library Vibes"),  # word variants count; unrelated words don't
    ("running", "Run Faster", "Marathon Training Mix"),
    ("rainy day", "Rainy Day Jazz", "Sunny Day"),          # every word of the context matters
    ("workout", "Workout Mix", "Workout? No thanks. Sofa songs"),  # a negation halves the score
    ("💪", "Gym Motivation 💪", "Gym Motivation"),          # emoji are words of their own
])
def test_relevance_orders_titles_sensibly(context, better, worse):
    assert relevance(context, better) > relevance(context, worse)


@pytest.mark.parametrize("context, title, relevant", [
    ("workout", "Workout Motivation 2019", True),
    ("sleep", "sleepy time", True),
    ("workout", "BEAST MODE gym", False),
    ("workout", "Workout? No thanks. Sofa songs", False),
    ("road trip", "Trip Hop", False),
    ("focus", "", False),
])
def test_relevance_threshold(context, title, relevant):
    assert (relevance(context, title) >= MIN_RELEVANCE) is relevant


@pytest.mark.parametrize("a, b, same", [
    ("Workout Mix", "workout mix", True),
    ("Workout Mix", "WORKOUT MIX ✓", True),
    ("Workout Mix", "Workout Mix (copy)", True),
    ("Workout Mix", "Workout Mix 2", True),
    ("Café Study", "Cafe study!", True),
    ("Running 2019", "Running 2020", False),
    ("Deep Sleep", "Sleep", False),
])
def test_title_keys_ignore_case_accents_and_copy_marks(a, b, same):
    assert (title_key(a) == title_key(b)) is same


@pytest.mark.parametrize("a, b, share", [
    ({1, 2, 3, 4}, {1, 2, 3, 4}, 1.0), ({1, 2, 3, 4}, {1, 2, 3}, 1.0), ({1, 2}, {3, 4}, 0.0),
    ({1, 2, 3, 4}, {1, 2, 5, 6}, 0.5), (set(), {1}, 0.0),
])
def test_overlap_is_the_share_of_the_smaller_playlist(a, b, share):
    assert overlap(a, b) == share


def _found(pid: str, title: str, rank: int, owner: str = "u1", nb: int = 50, checksum: str = "c") -> FoundPlaylist:
    return FoundPlaylist("deezer", pid, title, rank, owner_id=owner, owner_name=owner, nb_tracks=nb,
                         checksum=checksum + pid)


def test_plan_skips_off_topic_tiny_and_reuploaded_playlists_and_keeps_spares():
    playlists = [
        _found("1", "Workout Mix", 0, owner="ana"),
        _found("2", "workout mix (copy)", 1, owner="ana"),      # same creator, same title: a re-upload
        _found("3", "workout mix", 2, owner="bob"),             # same title, other creator: decided on tracks
        _found("4", "BEAST MODE gym", 3),
        _found("5", "Workout", 4, nb=3),
        _found("6", "Workout Motivation", 5),
        _found("7", "HIIT Workout", 6),
    ]
    plan = {d.playlist.external_id: d for d in plan_context("workout", playlists, limit=2)}
    assert plan["2"].status == "skip" and "re-upload" in plan["2"].reason and "playlist 1" in plan["2"].reason
    assert plan["4"].status == "skip" and "not relevant" in plan["4"].reason
    assert plan["5"].status == "skip" and "too few tracks (3 < 5)" in plan["5"].reason
    taken = [d.playlist.external_id for d in plan.values() if d.status == "take"]
    assert taken == ["1", "3"], "the two most relevant, popular ones"
    assert {plan["6"].status, plan["7"].status} == {"spare"}
    assert all(d.reason for d in plan.values())


def test_plan_keeps_earlier_decisions_for_unchanged_content():
    playlists = [_found("1", "Sleep", 0), _found("2", "sleep", 1, owner="x"), _found("3", "Deep Sleep", 2)]
    previous = {
        "1": Previous(chosen=True, harvested=True, checksum="c1", status="taken", reason="taken"),
        "2": Previous(chosen=False, harvested=True, checksum="c2", status="duplicate", reason="duplicate of deezer playlist 1"),
        "3": Previous(chosen=True, harvested=True, checksum="old", status="taken", reason="taken"),
    }
    plan = {d.playlist.external_id: d for d in plan_context("sleep", playlists, 2, previous)}
    assert plan["1"].status == "cached"
    assert plan["2"].status == "duplicate", "a known duplicate keeps its verdict and takes no slot"
    assert plan["3"].status == "take", "changed content (checksum) is fetched again"
