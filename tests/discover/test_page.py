"""The Discover page: it renders, its callbacks refuse anonymous requests, and no user sees another's Discover."""

from __future__ import annotations

from app.dash_views import discover, ids
from app.extensions import db
from app.services.discover import train_discover
from app.storage.tables import Job
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import UPDATE, call, component_ids, dependencies, outputs, payload, texts
from tests.discover.test_service import SMALL_RF

START = f"{ids.DISCOVER_JOB_STORE}.data"
SAVE = f"{ids.DISCOVER_SAVE_JOB_STORE}.data"


def test_the_page_renders_with_its_controls(app, client):
    user_id = add_user(app, "mira.s")
    session_login(client, user_id)
    assert client.get("/app/discover").status_code == 200
    with app.test_request_context("/app/discover"):

        from app.auth.session import log_in  # the id and its server-side session key
        log_in(user_id)
        tree = discover.layout()
    assert {ids.DISCOVER_START, ids.DISCOVER_CHARTS, ids.DISCOVER_RUNS, ids.DISCOVER_LIST, ids.DISCOVER_SAVE,
            ids.DISCOVER_SIZE, ids.DISCOVER_PLAYLIST, ids.DISCOVER_STATUS} <= component_ids(tree)
    assert discover.PAGE["path"] == "/discover" and discover.PAGE["order"] == 8


def test_every_discover_callback_refuses_an_anonymous_request(app, client):
    session_login(client, add_user(app, "mira.s"))
    mine = [dep for dep in dependencies(client) if "discover-" in dep["output"]]
    assert len(mine) == 6
    anonymous = app.test_client()
    for dep in mine:
        assert anonymous.post(UPDATE, json=payload(dep)).status_code == 401, dep["output"]


def test_discover_refuses_a_user_whose_library_is_not_imported(app, client):
    session_login(client, add_user(app, "mira.s"))
    shown = outputs(call(client, START, {f"{ids.DISCOVER_CHARTS}.value": ["charts"]},
                         changed=[f"{ids.DISCOVER_START}.n_clicks"]))
    assert "Your library is not imported yet" in shown[f"{ids.DISCOVER_MESSAGE}.children"]
    assert START not in shown
    shown = outputs(call(client, SAVE, {f"{ids.DISCOVER_SIZE}.value": 10},
                         changed=[f"{ids.DISCOVER_SAVE}.n_clicks"]))
    assert "No suggestions yet" in shown[f"{ids.DISCOVER_SAVE_MESSAGE}.children"]


def test_a_second_user_sees_none_of_the_owners_discover(taste, instance_dir):
    app, owner, stranger = taste
    with app.app_context():
        train_discover(db.session, owner, instance_dir=instance_dir, rf_grid=SMALL_RF, lr_grid={"C": [1.0]},
                       min_catalog=20)
        job = Job(user_id=owner, kind="discover", status="succeeded", params={}, result={})
        db.session.add(job)
        db.session.commit()
        job_id = job.id
    mine, theirs = app.test_client(), app.test_client()
    session_login(mine, owner)
    session_login(theirs, stranger)
    runs = f"{ids.DISCOVER_RUNS}.children"
    listed = f"{ids.DISCOVER_LIST}.children"
    own = outputs(call(mine, runs, {f"{ids.DISCOVER_DONE_STORE}.data": {"id": job_id}},
                       changed=[f"{ids.DISCOVER_DONE_STORE}.data"]))
    assert any("Catalog song" in text for text in texts(own[listed]))
    assert any("random forest" in text for text in texts(own[runs]))
    other = outputs(call(theirs, runs, {f"{ids.DISCOVER_DONE_STORE}.data": {"id": job_id}},
                         changed=[f"{ids.DISCOVER_DONE_STORE}.data"]))
    assert not any("Catalog song" in text or "random forest" in text
                   for text in texts(other[listed]) + texts(other[runs]))
    assert other[f"{ids.DISCOVER_SAVE}.disabled"] is True
    status = f"{ids.DISCOVER_STATUS}.children"
    poll = {f"{ids.DISCOVER_JOB_STORE}.data": job_id}
    assert "finished" in outputs(call(mine, status, poll, changed=[f"{ids.DISCOVER_JOB_STORE}.data"]))[status]
    assert outputs(call(theirs, status, poll, changed=[f"{ids.DISCOVER_JOB_STORE}.data"]))[status] == \
        "Discover has not run yet."
    refused = outputs(call(theirs, SAVE, {f"{ids.DISCOVER_SIZE}.value": 10}, changed=[f"{ids.DISCOVER_SAVE}.n_clicks"]))
    assert "No suggestions yet" in refused[f"{ids.DISCOVER_SAVE_MESSAGE}.children"]
