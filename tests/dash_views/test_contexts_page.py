"""The Contexts page's callbacks, called as the browser calls them, run a real harvest job against a sandbox."""

from __future__ import annotations

import json
import re
import time

import pytest
from sqlalchemy import select, update

from app.dash_views import contexts, ids
from app.extensions import db
from app.jobs import runner
from app.storage.tables import Job, User
from tests.auth.helpers import add_user, sandbox_app, session_login
from tests.dash_views.helpers import call, find, outputs, texts

CHIPS = f"{ids.CONTEXT_CHIPS_STORE}.data"
JOB = f"{ids.HARVEST_JOB_STORE}.data"
STATUS = f"{ids.HARVEST_STATUS}.children"
PROGRESS = f"{ids.HARVEST_PROGRESS}.children"


@pytest.fixture
def site(app_config, sandbox):
    """An app on the sandbox with two logged-in browsers: mira (`me`) and ana (`other`)."""
    app = sandbox_app(app_config, sandbox)
    me, other = app.test_client(), app.test_client()
    session_login(me, add_user(app, "mira.s"))
    session_login(other, add_user(app, "ana.k"))
    yield app, me, other
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def add_chips(client, text: str, chips: list[str]) -> dict:
    return outputs(call(client, CHIPS, {f"{ids.CONTEXT_INPUT}.value": text, CHIPS: chips},
                        changed=[f"{ids.CONTEXT_ADD}.n_clicks"]))


def start(client, chips: list[str], playlists=2, tracks=10, source="deezer") -> dict:
    values = {CHIPS: chips, f"{ids.HARVEST_SOURCE}.value": source, f"{ids.HARVEST_PLAYLISTS}.value": playlists,
              f"{ids.HARVEST_TRACKS}.value": tracks, f"{ids.HARVEST_REFRESH}.value": []}
    return outputs(call(client, JOB, values, changed=[f"{ids.HARVEST_START}.n_clicks"]))


def poll(client, job_id: str | None) -> dict:
    return outputs(call(client, STATUS, {JOB: job_id, f"{ids.HARVEST_INTERVAL}.n_intervals": 1},
                        changed=[f"{ids.HARVEST_INTERVAL}.n_intervals"]))


def act(client, button: str, job_id: str) -> dict:
    return outputs(call(client, f"{ids.HARVEST_NUDGE_STORE}.data", {JOB: job_id, f"{ids.HARVEST_NUDGE_STORE}.data": 0},
                        changed=[f"{button}.n_clicks"]))


def work_done(shown: dict) -> int:
    """Sum of the `done` counts the progress bars show ("12 of 40 · about 3 s left" -> 12)."""
    details = [text for text in texts(shown[PROGRESS]) if re.match(r"^[\d,]+( of [\d,]+)?( ·|$)", text)]
    return sum(int(text.split()[0].replace(",", "")) for text in details)


def follow(client, job_id: str, until: tuple[str, ...], timeout: float = 120) -> list[dict]:
    """Poll like the page's interval until the status sentence says one of `until`; every answer, in order."""
    seen = []
    deadline = time.monotonic() + timeout
    while True:
        shown = poll(client, job_id)
        seen.append(shown)
        if any(word in shown[STATUS] for word in until):
            return seen
        assert time.monotonic() < deadline, shown[STATUS]
        time.sleep(0.2)


def test_chips_are_added_validated_and_removed(site):
    _, me, _ = site
    shown = add_chips(me, "workout, 🌙 sleep", [])
    assert shown[CHIPS] == ["workout", "🌙 sleep"] and shown[f"{ids.CONTEXT_INPUT}.value"] == ""
    refused = add_chips(me, "WORKOUT", ["workout"])
    assert refused[CHIPS] == ["workout"], "the chips stay as they were"
    assert "same context" in refused[f"{ids.CONTEXT_MESSAGE}.children"]
    removed = outputs(call(me, CHIPS, {CHIPS: ["workout", "sleep"], f"{ids.CONTEXT_CHIP_REMOVE}.n_clicks": [
        {"id": {"type": ids.CONTEXT_CHIP_REMOVE, "index": 0}, "property": "n_clicks", "value": 1},
        {"id": {"type": ids.CONTEXT_CHIP_REMOVE, "index": 1}, "property": "n_clicks", "value": 0}]},
        changed=[json.dumps({"index": 0, "type": ids.CONTEXT_CHIP_REMOVE}, separators=(",", ":")) + ".n_clicks"]))
    assert removed[CHIPS] == ["sleep"]


def test_a_chip_with_markup_is_shown_as_text(site):
    _, me, _ = site
    shown = outputs(call(me, f"{ids.CONTEXT_CHIPS}.children", {CHIPS: ["<b>loud</b>"]},
                         changed=[CHIPS]))
    assert "<b>loud</b>" in texts(shown[f"{ids.CONTEXT_CHIPS}.children"])  # a text child: React escapes it


def test_bad_settings_are_refused_in_plain_words(site):
    _, me, _ = site
    assert start(me, [])[f"{ids.HARVEST_START_MESSAGE}.children"] == "Add at least one context first."
    refused = start(me, ["workout"], playlists=500)
    assert refused[f"{ids.HARVEST_START_MESSAGE}.children"] == \
        "Playlists per context must be a whole number from 1 to 50."
    assert JOB not in refused


def test_a_harvest_runs_from_the_page_with_advancing_progress_and_stays_private(site):
    app, me, other = site
    job_id = start(me, ["workout", "sleep"])[JOB]
    assert job_id
    again = start(me, ["study"])
    assert "already running" in again[f"{ids.HARVEST_START_MESSAGE}.children"]

    seen = follow(me, job_id, ("finished", "failed"))
    final = seen[-1]
    assert "finished" in final[STATUS], final[STATUS]
    done = [work_done(shown) for shown in seen]
    assert done == sorted(done) and done[-1] > done[0], done
    stages = texts(final[PROGRESS])
    assert "playlists found" in stages and "tracks labelled" in stages
    assert final[f"{ids.HARVEST_INTERVAL}.disabled"] is True, "polling stops once the job is over"
    assert final[f"{ids.HARVEST_CANCEL}.hidden"] is True and final[f"{ids.HARVEST_RESUME}.hidden"] is True
    runs = texts(final[f"{ids.HARVEST_RUNS}.children"])
    assert "workout, sleep" in runs and "Finished" in runs

    # The other user sees nothing of it, and cannot act on it.
    theirs = poll(other, job_id)
    assert theirs[STATUS] == "No harvest yet. Add a few contexts and start one."
    assert "No runs yet." in texts(theirs[f"{ids.HARVEST_RUNS}.children"])
    assert theirs[PROGRESS] is None
    assert "nothing to cancel" in act(other, ids.HARVEST_CANCEL, job_id)[f"{ids.HARVEST_ACTION_MESSAGE}.children"]

    # A reload (a new page) follows the same job.
    with app.test_request_context("/app/contexts"):
        from app.auth.session import log_in  # the id and its server-side session key
        log_in(_user_id(app, "mira.s"))
        assert find(contexts.layout(), ids.HARVEST_JOB_STORE).data == job_id

    # An interrupted run resumes from the page.
    with app.app_context():
        db.session.execute(update(Job).where(Job.id == job_id).values(status="interrupted"))
        db.session.commit()
    interrupted = poll(me, job_id)
    assert interrupted[f"{ids.HARVEST_RESUME}.hidden"] is False and "interrupted" in interrupted[STATUS]
    resumed = act(me, ids.HARVEST_RESUME, job_id)
    assert resumed[f"{ids.HARVEST_ACTION_MESSAGE}.children"] == "Resumed."
    assert "finished" in follow(me, job_id, ("finished", "failed"))[-1][STATUS]


def test_a_harvest_is_cancelled_from_the_page(site):
    _, me, _ = site
    job_id = start(me, ["party", "study"])[JOB]
    assert act(me, ids.HARVEST_CANCEL, job_id)[f"{ids.HARVEST_ACTION_MESSAGE}.children"] == "Cancelling…"
    final = follow(me, job_id, ("cancelled", "finished", "failed"))[-1]
    assert "was cancelled" in final[STATUS]
    assert "Cancelled at your request." in texts(final[f"{ids.HARVEST_LOG}.children"])


def _user_id(app, spotify_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.spotify_id == spotify_id))


def test_the_page_says_that_context_names_are_shared_and_the_library_is_not(app):
    """Context names typed by one user are listed for everyone (issue 17, Info): the page says so plainly."""
    user_id = add_user(app, "mira.s")
    with app.test_request_context("/app/contexts"):
        from app.auth.session import log_in
        log_in(user_id)
        note = " ".join(texts(find(contexts.layout(), ids.CONTEXT_SHARED_NOTE).to_plotly_json()))
    assert "shared" in note and "every contextify user" in note and "stay yours" in note
