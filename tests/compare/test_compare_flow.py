"""Compare end to end against the sandbox: invite, consent, the job (importing both libraries), scores, map, the
"both" list saved to Spotify and read back; the minimum library size; and nobody else seeing any of it."""

from __future__ import annotations

import json
import re
import time

import pytest
import requests
from sqlalchemy import select

from app.dash_views import ids
from app.extensions import db
from app.jobs import runner
from app.services import compare
from app.storage.tables import ExportedPlaylist, LibraryItem, ModelRun, Suggestion, TasteInvite, Track, User
from tests.auth.helpers import login, sandbox_app, session_login
from tests.dash_views.helpers import call, outputs, texts
from tests.e2e.test_context_model_end_to_end import FAST, fast_clients

JOB = f"{ids.COMPARE_JOB_STORE}.data"
SAVE = f"{ids.COMPARE_SAVE_JOB_STORE}.data"
RESULTS = f"{ids.COMPARE_RESULTS}.children"
FORM = {f"{ids.COMPARE_LAYERS}.value": 2, f"{ids.COMPARE_UNITS}.value": 16,
        f"{ids.COMPARE_ACTIVATION}.value": "relu", f"{ids.COMPARE_SIZE}.value": 10,
        f"{ids.COMPARE_ENRICH}.value": ["enrich"]}


@pytest.fixture
def site(app_config, start_sandbox, monkeypatch):
    """Jonas (the owner) and Mira (a third user) logged in through the sandbox; Ana's browser not yet."""
    sandbox = start_sandbox(**FAST)
    app = sandbox_app(app_config, sandbox)
    # The sandbox's raised limits, and Deezer's features only: preview analysis would add minutes, not signal.
    monkeypatch.setattr("app.jobs.compare_task.run_clients", lambda config: fast_clients(sandbox))
    monkeypatch.setattr("app.jobs.compare_task.providers", lambda params, config: ("deezer",))
    monkeypatch.setattr("app.jobs.compare_task.MAX_MAP_POINTS", 400)  # t-SNE's cost, not its behaviour, grows
    owner, guest, third = app.test_client(), app.test_client(), app.test_client()
    login(owner, "jonas.b")
    login(third, "mira.s")
    yield app, sandbox, owner, guest, third
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def follow(client, status_id: str, store_id: str, job_id: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while True:
        sentence = outputs(call(client, f"{status_id}.children", {f"{store_id}.data": job_id},
                                changed=[f"{store_id}.data"]))[f"{status_id}.children"]
        if any(word in sentence for word in ("finished", "failed", "cancelled", "interrupted")):
            return sentence
        assert time.monotonic() < deadline, sentence
        time.sleep(0.3)


def user_id(app, spotify_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.spotify_id == spotify_id))


def create_invite(client) -> str:
    shown = outputs(call(client, f"{ids.COMPARE_INVITE_LINK}.children",
                         {f"{ids.COMPARE_INVITE_CREATE}.n_clicks": 1},
                         changed=[f"{ids.COMPARE_INVITE_CREATE}.n_clicks"]))
    link = " ".join(texts(shown[f"{ids.COMPARE_INVITE_LINK}.children"]))
    return re.search(r"/invite/([A-Za-z0-9_-]{40,})", link).group(1)


def accept(client, token: str) -> None:
    """The guest's browser: the link, the login it asks for (coming back to the link), the consent form."""
    first = client.get(f"/invite/{token}")
    assert first.status_code == 302 and "/login" in first.headers["Location"]
    back = login(client, "ana.k", next_url=f"/invite/{token}")
    assert back.status_code == 302 and back.headers["Location"] == f"/invite/{token}"
    page = client.get(f"/invite/{token}").get_data(as_text=True)
    assert "Jonas wants to compare your liked songs with theirs" in page
    with client.session_transaction() as session:
        csrf = session["csrf_token"]
    done = client.post(f"/invite/{token}", data={"csrf_token": csrf})
    assert done.status_code == 200, done.get_data(as_text=True)


def start(client, other: str) -> dict:
    return outputs(call(client, JOB, {f"{ids.COMPARE_OTHER}.value": other, **FORM},
                        changed=[f"{ids.COMPARE_START}.n_clicks"]))


def find_figure(tree) -> dict:
    """The map's figure inside the serialised results."""
    found = []

    def walk(node):
        if isinstance(node, dict):
            props = node.get("props", {})
            if props.get("id") == ids.COMPARE_MAP:
                found.append(props["figure"])
            for value in props.values():
                walk(value)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(tree)
    assert len(found) == 1
    return found[0]


def test_invite_accept_compare_and_save_both_against_the_sandbox(site):
    app, sandbox, owner, guest, third = site
    jonas, mira = user_id(app, "jonas.b"), user_id(app, "mira.s")
    token = create_invite(owner)
    accept(guest, token)
    ana = user_id(app, "ana.k")
    with app.app_context():
        invite_id = db.session.scalar(select(TasteInvite.id).where(TasteInvite.guest_user_id == ana))
        assert db.session.scalar(select(LibraryItem.id).where(LibraryItem.user_id.in_([jonas, ana]))) is None

    # Nobody imported anything: the job imports both libraries, each with its holder's own token.
    started = time.monotonic()
    job_id = start(owner, f"invite:{invite_id}")[JOB]
    assert "finished" in follow(owner, ids.COMPARE_STATUS, ids.COMPARE_JOB_STORE, job_id)
    took = time.monotonic() - started

    with app.app_context():
        run = db.session.scalar(select(ModelRun).where(ModelRun.user_id == jonas, ModelRun.mode == "compare"))
        metrics = run.metrics
        both = compare.both_tracks(db.session, jonas, run.model_id)
        owner_ids = set(compare.owner_track_ids(db.session, jonas))
        ana_ids = set(db.session.scalars(select(LibraryItem.track_id).where(LibraryItem.user_id == ana)))
        names = dict(db.session.execute(select(Track.id, Track.title)).all())
    assert len(owner_ids) >= 50 and len(ana_ids) >= 50
    print(f"compare job: {took:.1f} s, AUC {metrics['roc_auc']:.3f}, F1 {metrics['f1']:.3f}, "
          f"shared {metrics['n_shared']}, owner {len(owner_ids)}, guest {len(ana_ids)}")
    assert metrics["roc_auc"] > 0.7, metrics  # study/jazz/classical against indie/rock/country: far apart
    assert 0 < metrics["f1"] <= 1
    assert sum(map(sum, metrics["confusion"])) == metrics["n_test"]
    assert metrics["n_shared"] == len(owner_ids & ana_ids)

    # The page: scores, the map with both owners and song names on hover, the "both" list.
    shown = outputs(call(owner, RESULTS, {f"{ids.COMPARE_DONE_STORE}.data": {"id": job_id}},
                         changed=[f"{ids.COMPARE_DONE_STORE}.data"]))[RESULTS]
    words = " ".join(texts(shown))
    assert "ROC AUC" in words and f"{metrics['roc_auc']:.2f}" in words and "Confusion matrix" in words
    figure = find_figure(shown)
    traces = {trace["name"]: trace for trace in figure["data"]}
    assert {"Your songs", "Ana's songs"} <= set(traces)
    assert sum(len(trace["x"]) for trace in figure["data"]) == 400
    for name, library in (("Your songs", owner_ids), ("Ana's songs", ana_ids)):
        trace = traces[name]
        assert trace["text"] and all(" – " in text for text in trace["text"])
        titles = {names[p] for p in library}
        assert {text.rsplit(" – ", 1)[0] for text in trace["text"]} <= titles
        assert "%{text}" in trace["hovertemplate"]
    assert len(both) == 10
    assert [t.rank for t in both] == list(range(1, 11))
    distances = [abs(t.probability - 0.5) for t in both]
    assert distances == sorted(distances)
    assert all(t.track_id in (owner_ids ^ ana_ids) for t in both)
    assert both[0].name.split(" – ")[0] in words

    # Save the list to Jonas's Spotify and read it back from the sandbox.
    save_id = outputs(call(owner, SAVE, {}, changed=[f"{ids.COMPARE_SAVE}.n_clicks"]))[SAVE]
    assert "finished" in follow(owner, ids.COMPARE_SAVE_STATUS, ids.COMPARE_SAVE_JOB_STORE, save_id)
    with app.app_context():
        row = db.session.scalar(select(ExportedPlaylist).where(ExportedPlaylist.user_id == jonas))
        wanted = [f"spotify:track:{t.spotify_id}" for t in both]
        assert row.status == "saved" and row.track_uris == wanted
    held = requests.get(f"{sandbox.url}/__sandbox__/playlists/{row.spotify_playlist_id}", timeout=10).json()
    assert [f"spotify:track:{sid}" for sid in held["spotify_ids"]] == wanted
    saved = outputs(call(owner, f"{ids.COMPARE_SAVED}.children", {f"{ids.COMPARE_SAVE_DONE_STORE}.data": {}},
                         changed=[f"{ids.COMPARE_SAVE_DONE_STORE}.data"]))
    assert "read back and checked" in " ".join(texts(saved[f"{ids.COMPARE_SAVED}.children"]))

    # A third user: cannot start a comparison with Jonas's invite or see any of it.
    refused = start(third, f"invite:{invite_id}")
    assert JOB not in refused and "not one of yours" in refused[f"{ids.COMPARE_MESSAGE}.children"]
    mine = outputs(call(third, RESULTS, {f"{ids.COMPARE_DONE_STORE}.data": {"id": job_id}},
                        changed=[f"{ids.COMPARE_DONE_STORE}.data"]))[RESULTS]
    assert "No comparison yet" in " ".join(texts(mine)) and both[0].name not in json.dumps(mine)
    nothing = outputs(call(third, SAVE, {}, changed=[f"{ids.COMPARE_SAVE}.n_clicks"]))
    assert SAVE not in nothing and "no comparison" in nothing[f"{ids.COMPARE_SAVE_MESSAGE}.children"]
    with app.app_context():
        assert runner.job_status(job_id, mira) is None
        assert db.session.scalar(select(Suggestion.id).where(Suggestion.user_id == mira)) is None

    # Once Jonas withdraws the invite, the comparison (with Ana's track names) is no longer shown.
    revoke = outputs(call(owner, f"{ids.COMPARE_INVITES}.children",
                          {f"{ids.COMPARE_REVOKE}.n_clicks": [{"id": {"type": ids.COMPARE_REVOKE, "invite": invite_id},
                                                               "property": "n_clicks", "value": 1}]},
                          changed=[json.dumps({"invite": invite_id, "type": ids.COMPARE_REVOKE},
                                              separators=(",", ":")) + ".n_clicks"]))
    assert "Withdrawn" in " ".join(texts(revoke[f"{ids.COMPARE_INVITES}.children"]))
    gone = outputs(call(owner, RESULTS, {f"{ids.COMPARE_DONE_STORE}.data": {}},
                        changed=[f"{ids.COMPARE_DONE_STORE}.data"]))[RESULTS]
    assert "No comparison yet" in " ".join(texts(gone))


def test_anonymous_callers_are_refused(app):
    from tests.auth.helpers import add_user
    from tests.dash_views.helpers import dependencies

    someone = app.test_client()
    session_login(someone, add_user(app, "jonas.b"))
    deps = dependencies(someone)  # the anonymous client may not even read these
    anonymous = app.test_client()
    assert anonymous.get("/app/_dash-dependencies").status_code == 401
    for output in (JOB, RESULTS, f"{ids.COMPARE_INVITE_LINK}.children", SAVE):
        answer = call(anonymous, output, {f"{ids.COMPARE_OTHER}.value": "invite:1", **FORM}, deps=deps)
        assert answer.status_code == 401
    assert anonymous.get("/app/compare").status_code == 302


def test_a_second_library_below_the_minimum_is_refused_naming_both_counts(app, tmp_path):
    """An imported file of 12 songs against the default minimum of 50: the job says both numbers."""
    from tests.auth.helpers import add_user
    from tests.jobs.conftest import wait_for

    from app.runs.progress import Progress
    from app.pipeline.library_file import import_file
    from app.runs.summary import RunSummary
    from sqlalchemy.orm import sessionmaker

    owner = add_user(app, "jonas.b")
    path = tmp_path / "friend.csv"
    path.write_text("title,artist\n" + "".join(f"Song {i},Band {i}\n" for i in range(12)))
    with app.app_context():
        import_id = import_file(sessionmaker(bind=db.engine), owner, path, RunSummary("t"), Progress())
        assert app.config["CONTEXTIFY_COMPARE_MIN_TRACKS"] == 50
        job_id = runner.submit("compare", {"other": f"file:{import_id}", "layers": 1, "units": 8,
                                           "activation": "relu"}, owner)
    try:
        status = wait_for(app, job_id, owner)
    finally:
        runner.shutdown(app)
    assert status["status"] == "failed"
    assert status["error"] == ("The file friend.csv has 12 tracks, fewer than the 50 a comparison needs "
                               "(your Liked Songs have 0). Compare with a bigger library.")
