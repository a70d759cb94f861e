"""The Library, Model, Sort and Save pages render for their owner and refuse another user's rows."""

from __future__ import annotations

import pytest

from app.dash_views import ids, library, model_page, save, sort
from app.services.review import keep_or_drop, move_cutoff
from app.services.sort_review import review
from app.extensions import db
from app.models.service import ReviewError
from app.storage.tables import LibraryItem, SortAssignment, SortRun, Track, TrainedModel
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import call, component_ids, outputs

PAGES = {"/app/library": (library, {ids.LIBRARY_IMPORT, ids.LIBRARY_UPLOAD, ids.LIBRARY_SUMMARY}),
         "/app/model": (model_page, {ids.MODEL_TRAIN, ids.MODEL_CONTEXTS, ids.MODEL_CHOICE, ids.MODEL_CURVE}),
         "/app/sort": (sort, {ids.SORT_START, ids.SORT_PANELS, ids.SORT_UNSORTED}),
         "/app/save": (save, {ids.SAVE_PREVIEW, ids.SAVE_START, ids.SAVE_DOWNLOAD, ids.SAVE_PLAYLISTS})}


@pytest.fixture
def users(app, client):
    mine, theirs = add_user(app, "mira.s"), add_user(app, "ana.k")
    with app.app_context():
        track = Track(title="=cmd", artist="Band", spotify_id="a" * 22)
        db.session.add(track)
        db.session.flush()
        db.session.add(LibraryItem(user_id=mine, collection="liked", track_id=track.id))
        model = TrainedModel(user_id=mine, kind="context", name="workout", metrics={})
        db.session.add(model)
        db.session.flush()
        run = SortRun(user_id=mine, model_id=model.id, params={"floor": 0.1, "cutoffs": {"workout": {
            "context": "workout", "cutoff": 0.5, "target_precision": 0.7, "promised_precision": 0.7}}})
        db.session.add(run)
        db.session.flush()
        assignment = SortAssignment(user_id=mine, sort_run_id=run.id, track_id=track.id, context="workout",
                                    probability=0.9, assigned=True, reasons=["high energy"])
        db.session.add(assignment)
        db.session.commit()
        ids_ = {"run": run.id, "assignment": assignment.id, "model": model.id}
    session_login(client, mine)
    return mine, theirs, ids_


@pytest.mark.parametrize("path", list(PAGES))
def test_each_new_page_renders_for_its_owner(app, client, users, path):
    module, expected = PAGES[path]
    assert client.get(path).status_code == 200
    with app.test_request_context(path):
        from app.auth.session import log_in  # the id and its server-side session key
        log_in(users[0])
        assert not expected - component_ids(module.layout())


def test_another_user_cannot_see_or_touch_a_sort(app, users):
    mine, theirs, rows = users
    with app.app_context():
        assert review(db.session, theirs, rows["run"]) == []
        with pytest.raises(ReviewError):
            keep_or_drop(db.session, theirs, rows["assignment"], "reject")
        with pytest.raises(ReviewError):
            move_cutoff(db.session, theirs, rows["run"], "workout", 0.8)
        assert db.session.get(SortAssignment, rows["assignment"]).decision == "pending"
        assert keep_or_drop(db.session, mine, rows["assignment"], "reject").message.endswith("left out.")


def test_another_user_gets_no_model_and_no_export(app, client, users):
    _, theirs, rows = users
    other = app.test_client()
    session_login(other, theirs)
    shown = outputs(call(other, f"{ids.MODEL_SUMMARY}.children", {f"{ids.MODEL_CHOICE}.value": rows["model"]},
                         changed=[f"{ids.MODEL_CHOICE}.value"]))
    assert "No model yet" in str(shown[f"{ids.MODEL_SUMMARY}.children"])
    response = call(other, f"{ids.SAVE_DOWNLOAD}.data", {f"{ids.SAVE_EXPORT_CSV}.n_clicks": 1},
                    changed=[f"{ids.SAVE_EXPORT_CSV}.n_clicks"])
    assert response.status_code == 204, "nothing of theirs to export"
    mine = outputs(call(client, f"{ids.SAVE_DOWNLOAD}.data", {f"{ids.SAVE_EXPORT_CSV}.n_clicks": 1},
                        changed=[f"{ids.SAVE_EXPORT_CSV}.n_clicks"]))[f"{ids.SAVE_DOWNLOAD}.data"]
    assert "'=cmd" in mine["content"]
