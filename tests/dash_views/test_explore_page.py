"""The Explore page's callbacks on a constructed store: defaults, charts with sentences, empty states, the cache."""

from __future__ import annotations

import pytest

from app.analysis import explore as analysis
from app.dash_views import explore, ids
from app.extensions import db
from app.storage.tables import Job, Label
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import call, dependencies, find, outputs, texts

CONTEXTS = f"{ids.EXPLORE_CONTEXTS}.value"


@pytest.fixture
def me(app, client):
    user_id = add_user(app, "mira.s")
    session_login(client, user_id)
    return user_id


def harvested(app, user_id: int, contexts: list[str]) -> None:
    with app.app_context():
        db.session.add(Job(kind="harvest", user_id=user_id, status="succeeded", params={"contexts": contexts}, log=[]))
        db.session.commit()


def test_the_default_is_the_latest_harvest_in_the_store_spelling(store, me):
    harvested(store, me, ["study", "SLEEP", "jazz"])
    with store.test_request_context("/app/explore"):
        from app.auth.session import log_in  # the id and its server-side session key
        log_in(me)
        dropdown = find(explore.layout(), ids.EXPLORE_CONTEXTS)
    assert dropdown.value == ["Study", "Sleep"], "jazz has no labels, so it is left out"
    assert [option["value"] for option in dropdown.options] == ["Sleep", "Study", "Workout"], \
        "largest first, ties by name"


def test_charts_come_with_sentences_computed_from_the_data(store, client, me):
    deps = dependencies(client)
    shown = outputs(call(client, f"{ids.EXPLORE_SIZES}.figure", {CONTEXTS: ["Workout", "Study", "Sleep"]},
                         changed=[CONTEXTS], deps=deps))
    assert shown[f"{ids.EXPLORE_CHARTS}.hidden"] is False and shown[f"{ids.EXPLORE_EMPTY}.children"] is None
    assert shown[f"{ids.EXPLORE_SIZES}.figure"]["data"][0]["y"] == [3, 3, 2]
    overlap = shown[f"{ids.EXPLORE_OVERLAP_TEXT}.children"]
    assert "Sleep and Study overlap heavily (Jaccard 0.50)" in overlap
    assert "energy (preview) and tempo (preview) are strongly correlated" in \
        shown[f"{ids.EXPLORE_CORRELATION_TEXT}.children"]
    assert {"tempo (preview)", "energy (preview)"} <= set(texts(shown[f"{ids.EXPLORE_VIF}.children"]))
    feature = shown[f"{ids.EXPLORE_FEATURE}.value"]
    assert feature in ("preview_tempo", "preview_energy")

    box = outputs(call(client, f"{ids.EXPLORE_DISTRIBUTION}.figure", {CONTEXTS: ["Workout", "Sleep"],
                                                                       f"{ids.EXPLORE_FEATURE}.value": feature},
                       changed=[f"{ids.EXPLORE_FEATURE}.value"], deps=deps))
    assert [trace["name"] for trace in box[f"{ids.EXPLORE_DISTRIBUTION}.figure"]["data"]] == ["Sleep", "Workout"]
    assert box[f"{ids.EXPLORE_DISTRIBUTION_TEXT}.children"].startswith("Workout has the highest median")

    for tsne in ([], ["tsne"]):
        drawn = outputs(call(client, f"{ids.EXPLORE_MAP}.figure", {CONTEXTS: ["Workout", "Study", "Sleep"],
                                                                    f"{ids.EXPLORE_TSNE}.value": tsne},
                             changed=[f"{ids.EXPLORE_TSNE}.value"], deps=deps))
        traces = drawn[f"{ids.EXPLORE_MAP}.figure"]["data"]
        assert sum(len(trace["x"]) for trace in traces) == 8, "one point per (track, context)"
        assert "sit closest" in drawn[f"{ids.EXPLORE_MAP_TEXT}.children"]


def test_an_empty_store_says_where_to_start(app, client, me):
    shown = outputs(call(client, f"{ids.EXPLORE_SIZES}.figure", {CONTEXTS: []}, changed=[CONTEXTS]))
    assert explore.NO_CONTEXTS in texts(shown[f"{ids.EXPLORE_EMPTY}.children"])
    assert shown[f"{ids.EXPLORE_CHARTS}.hidden"] is True
    assert shown[f"{ids.EXPLORE_SIZES}.figure"]["layout"]["annotations"][0]["text"] == explore.NO_CONTEXTS


def test_no_choice_in_a_full_store_asks_for_one(store, client, me):
    shown = outputs(call(client, f"{ids.EXPLORE_SIZES}.figure", {CONTEXTS: []}, changed=[CONTEXTS]))
    assert explore.NONE_CHOSEN in texts(shown[f"{ids.EXPLORE_EMPTY}.children"])


def test_the_frame_is_assembled_once_until_the_store_changes(store, client, me, monkeypatch):
    built = []
    real = analysis.context_frame
    monkeypatch.setattr(analysis, "context_frame", lambda session, names: built.append(names) or real(session, names))
    with store.test_request_context("/app/explore"):
        first = explore.load_frame(["Study", "Sleep"])
        assert explore.load_frame(["sleep", "study"]) is first, "same contexts, any order or case"
        assert len(built) == 1
        db.session.add(Label(context_id=1, track_id=5, source_playlist_id=1))
        db.session.commit()
        explore.load_frame(["Study", "Sleep"])
    assert len(built) == 2, "a new label makes the cached frame stale"
