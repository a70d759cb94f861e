"""The Compare page renders for a logged-in user, with its form and results, and only ever its owner's comparison."""

from __future__ import annotations

import json


from app.dash_views import compare, ids
from app.extensions import db
from app.services import compare as data
from app.storage.tables import ModelRun, Suggestion, Track, TrainedModel
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import component_ids

FORM_IDS = {ids.COMPARE_INVITE_CREATE, ids.COMPARE_INVITES, ids.COMPARE_OTHER, ids.COMPARE_LAYERS, ids.COMPARE_UNITS,
            ids.COMPARE_ACTIVATION, ids.COMPARE_SIZE, ids.COMPARE_START, ids.COMPARE_RESULTS, ids.COMPARE_SAVE,
            ids.COMPARE_STATUS, ids.COMPARE_SAVE_STATUS}


def render(app, user_id: int):
    with app.test_request_context("/app/compare"):
        from app.auth.session import log_in  # the id and its server-side session key
        log_in(user_id)
        return compare.layout()


def stored_comparison(app, owner: int, guest: int) -> int:
    """A finished comparison of `owner` with `guest` (through an accepted invite), written directly."""
    with app.app_context():
        invite, token = data.create_invite(db.session, owner)
        data.accept_invite(db.session, token, guest)
        db.session.add_all([Track(id=1, title="Secret Song", artist="Guest Band", spotify_id="a" * 22),
                            Track(id=2, title="Mine", artist="Owner Band", spotify_id="b" * 22)])
        params = {"other": f"invite:{invite.id}", "other_name": "Ana", "layers": 1, "units": 8, "activation": "relu"}
        metrics = {"roc_auc": 0.81, "f1": 0.7, "confusion": [[5, 2], [1, 4]], "n_train": 30, "n_test": 12,
                   "n_shared": 3, "counts": {"owner": 22, "other": 20}}
        model = TrainedModel(user_id=owner, kind="compare", name="you and Ana", params=params, metrics=metrics)
        db.session.add(model)
        db.session.flush()
        db.session.add(ModelRun(user_id=owner, mode="compare", name="multi-layer perceptron", params=params,
                                metrics=metrics, model_id=model.id, seconds=1.0, result={"points": [
                                    {"track_id": 1, "x": 0.0, "y": 1.0, "owner": 0, "name": "Secret Song – Guest Band"},
                                    {"track_id": 2, "x": 1.0, "y": 0.0, "owner": 1, "name": "Mine – Owner Band"}]}))
        db.session.add(Suggestion(user_id=owner, mode="compare", model_id=model.id, target="both", track_id=1,
                                  probability=0.49, rank=1, reasons=["51 % sure", "It is in Ana's library."]))
        db.session.commit()
        return invite.id


def test_the_page_renders_its_form_and_an_empty_state(app):
    me = add_user(app, "jonas.b")
    tree = render(app, me)
    assert FORM_IDS <= component_ids(tree)
    assert "No comparison yet" in json.dumps(tree.to_plotly_json(), default=str)


def test_a_finished_comparison_is_shown_to_its_owner_only(app, client):
    owner, guest, third = (add_user(app, name) for name in ("jonas.b", "ana.k", "mira.s"))
    stored_comparison(app, owner, guest)
    mine = json.dumps(render(app, owner).to_plotly_json(), default=str)
    assert "Secret Song" in mine and "0.81" in mine and "You and Ana" in mine
    for other in (third, guest):
        theirs = json.dumps(render(app, other).to_plotly_json(), default=str)
        assert "Secret Song" not in theirs and "No comparison yet" in theirs
    session_login(client, owner)
    assert client.get("/app/compare").status_code == 200


def test_the_map_has_one_trace_per_owner_with_song_names_on_hover():
    figure = compare.map_figure([{"x": 0, "y": 0, "owner": 1, "name": "A – X"},
                                 {"x": 1, "y": 1, "owner": 0, "name": "B – Y"},
                                 {"x": 2, "y": 2, "owner": "both", "name": "C – Z"}], "Your songs", "Ana's songs")
    assert [(t.name, list(t.text)) for t in figure.data] == [
        ("Your songs", ["A – X"]), ("Ana's songs", ["B – Y"]), ("In both libraries", ["C – Z"])]
    assert all("%{text}" in t.hovertemplate for t in figure.data)


def test_forget_guest_deletes_the_comparisons_holding_the_guests_track_names(app):
    owner, guest, third = (add_user(app, name) for name in ("jonas.b", "ana.k", "mira.s"))
    stored_comparison(app, owner, guest)
    with app.app_context():
        from sqlalchemy import func, select

        from app.storage.ownership import delete_all_user_data

        assert data.forget_guest(db.session, third) == 0
        assert data.forget_guest(db.session, guest) == 1
        delete_all_user_data(db.session, guest)
        db.session.commit()
        for model in (ModelRun, Suggestion, TrainedModel):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_the_guest_deleting_their_account_deletes_the_owners_comparisons_of_their_songs(app, client):
    owner, guest = add_user(app, "jonas.b"), add_user(app, "ana.k")
    stored_comparison(app, owner, guest)
    session_login(client, guest)
    page = client.get("/account").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post("/account/delete", data={"csrf_token": token}).status_code == 200
    with app.app_context():
        from sqlalchemy import func, select

        for model in (ModelRun, Suggestion, TrainedModel):
            assert db.session.scalar(select(func.count()).select_from(model)) == 0, model.__tablename__


def test_the_router_serves_the_page_and_the_navigation_lists_it(app, client):
    from tests.dash_views.helpers import UPDATE, dependencies, payload

    session_login(client, add_user(app, "jonas.b"))
    router = next(dep for dep in dependencies(client) if "_pages_content.children" in dep["output"])
    answer = client.post(UPDATE, json=payload(router, {"_pages_location.pathname": "/app/compare",
                                                       "_pages_location.search": ""},
                                              changed=["_pages_location.pathname"]))
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    served = json.dumps(answer.get_json())
    assert all(f'"{cid}"' in served for cid in FORM_IDS)
    assert '"Compare"' in client.get("/app/_dash-layout").get_data(as_text=True)
