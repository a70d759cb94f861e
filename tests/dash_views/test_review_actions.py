"""The Sort review's quick actions: a song's answer beside its row, cutoffs typed or slid, undo, and pages."""

from __future__ import annotations

import json

from sqlalchemy import select

from app.dash_views import ids
from app.extensions import db
from app.services.review import UNDO_DEPTH, Answer, keep_or_drop, kept_count, move_cutoff, pushed, undo
from app.storage.tables import SortAssignment, SortRun
from tests.auth.helpers import session_login
from tests.dash_views.helpers import UPDATE, dependencies
from tests.dash_views.test_sort_review import sorted_run  # noqa: F401  (fixture)
from tests.models.conftest import small_grid  # noqa: F401  (fixture)
from tests.models.test_store import store  # noqa: F401  (fixture)

LIST = '"type":"sort-list"'


def _flags(run_id: int, context: str) -> dict[int, bool]:
    return dict(db.session.execute(select(SortAssignment.id, SortAssignment.assigned).where(
        SortAssignment.sort_run_id == run_id, SortAssignment.context == context)).all())


def test_keep_drop_and_undo_put_each_song_back(app, sorted_run):  # noqa: F811
    user_id, run = sorted_run
    row = db.session.scalar(select(SortAssignment).where(SortAssignment.sort_run_id == run.id).limit(1))
    dropped = keep_or_drop(db.session, user_id, row.id, "reject")
    assert dropped.decision == "rejected" and "left out" in dropped.message
    assert dropped.undo == {"kind": "verdict", "assignment": row.id, "before": "pending"}
    kept = keep_or_drop(db.session, user_id, row.id, "accept")
    assert kept.decision == "accepted"
    back = undo(db.session, user_id, run.id, kept.undo)
    assert back.decision == "rejected" and back.message.startswith("Undone")
    undo(db.session, user_id, run.id, dropped.undo)
    assert db.session.get(SortAssignment, row.id).decision == "pending"


def test_a_cutoff_and_its_undo_leave_the_playlist_as_it_was(app, sorted_run):  # noqa: F811
    user_id, run = sorted_run
    context = next(iter(run.params["cutoffs"]))
    before = _flags(run.id, context)
    moved = move_cutoff(db.session, user_id, run.id, context, 0.3)
    assert moved is not None and "cutoff 0.30" in moved.message
    assert move_cutoff(db.session, user_id, run.id, context, 0.301) is None  # only drawn again
    undo(db.session, user_id, run.id, moved.undo)
    db.session.expire_all()
    assert _flags(run.id, context) == before


def test_the_undo_stack_keeps_only_the_last_actions():
    stack: list = []
    for n in range(UNDO_DEPTH + 5):
        stack = pushed(stack, Answer("m", undo={"kind": "verdict", "assignment": n, "before": "pending"}))
    assert len(stack) == UNDO_DEPTH and stack[-1]["assignment"] == UNDO_DEPTH + 4
    assert pushed(["junk", *stack], None) == stack[-UNDO_DEPTH:]


def _page_ids(app, user_id, run_id):
    """The pattern ids the Sort page draws, by type (as the browser would list them)."""
    from app.dash_views import sort
    from app.services.sort_review import review
    from app.services.review import PAGE_SIZE

    with app.test_request_context():
        panels = sort.panels(review(db.session, user_id, run_id, shown=PAGE_SIZE))
    found: dict[str, list] = {}

    def walk(node):
        node_id = getattr(node, "id", None)
        if isinstance(node_id, dict):
            found.setdefault(node_id["type"], []).append(node_id)
        for child in getattr(node, "children", None) or []:
            if not isinstance(child, str):
                walk(child)
        if hasattr(node, "children") and not isinstance(node.children, list | str | type(None)):
            walk(node.children)

    for panel in panels:
        walk(panel)
    return found


def _post(client, dep, listed, values, changed):
    def spec_value(spec):
        if spec["id"].startswith("{"):
            kind = json.loads(spec["id"])["type"]
            return [{"id": cid, "property": spec["property"], "value": values.get((kind, json.dumps(cid, sort_keys=True),
                                                                                  spec["property"]))}
                    for cid in listed.get(kind, [])]
        return {"id": spec["id"], "property": spec["property"], "value": values.get((spec["id"], spec["property"]))}

    parts = dep["output"].strip(".").split("...")
    outputs = []
    for part in parts:
        cid, _, prop = part.rpartition(".")
        if cid.startswith("{"):
            kind = json.loads(cid)["type"]
            outputs.append([{"id": i, "property": prop} for i in listed.get(kind, [])])
        else:
            outputs.append({"id": cid, "property": prop})
    body = {"output": dep["output"], "outputs": outputs, "inputs": [spec_value(s) for s in dep["inputs"]],
            "state": [spec_value(s) for s in dep["state"]], "changedPropIds": changed}
    return client.post(UPDATE, json=body)


def test_a_drop_answers_beside_its_row_and_redraws_nothing_else(app, client, sorted_run):  # noqa: F811
    user_id, run = sorted_run
    session_login(client, user_id)
    listed = _page_ids(app, user_id, run.id)
    dep = next(d for d in dependencies(client) if LIST in d["output"])
    drop = next(i for i in listed[ids.SORT_DECIDE] if i["verdict"] == "reject")
    key = json.dumps(drop, sort_keys=True, separators=(",", ":"))
    values = {(ids.SORT_DECIDE, json.dumps(drop, sort_keys=True), "n_clicks"): 1,
              (ids.SORT_RUN_STORE, "data"): run.id, (ids.SORT_UNDO_STORE, "data"): []}
    answer = _post(client, dep, listed, values, [f"{key}.n_clicks"])
    assert answer.status_code == 200, answer.get_data(as_text=True)[:400]
    response = answer.get_json()["response"]
    note = json.dumps({"assignment": drop["assignment"], "type": ids.SORT_ROW_NOTE}, separators=(",", ":"))
    assert "left out" in response[note]["children"]
    assert not any(LIST.strip('"') in cid for cid in response)  # no playlist drawn again
    assert response[ids.SORT_UNDO_STORE]["data"][-1]["assignment"] == drop["assignment"]
    assert response[ids.SORT_UNDO]["disabled"] is False
    context = db.session.get(SortAssignment, drop["assignment"]).context
    kept = json.dumps({"context": context, "type": ids.SORT_KEPT}, separators=(",", ":"))
    assert response[kept]["children"] == f"{kept_count(db.session, user_id, run.id, context):,} songs kept"

    # Undo: the song is back to the model's choice, and the stack is empty again.
    values = {(ids.SORT_UNDO, "n_clicks"): 1, (ids.SORT_RUN_STORE, "data"): run.id,
              (ids.SORT_UNDO_STORE, "data"): response[ids.SORT_UNDO_STORE]["data"]}
    undone = _post(client, dep, listed, values, [f"{ids.SORT_UNDO}.n_clicks"]).get_json()["response"]
    assert "Undone" in undone[note]["children"] and undone[ids.SORT_UNDO_STORE]["data"] == []
    db.session.expire_all()
    assert db.session.get(SortAssignment, drop["assignment"]).decision == "pending"


def test_the_page_says_every_kept_song_is_saved_not_only_those_shown(app, client, sorted_run):  # noqa: F811
    from app.dash_views import sort
    from app.services.sort_review import review

    user_id, run = sorted_run
    with app.test_request_context():
        playlists = review(db.session, user_id, run.id, shown=2)
        text = str(sort.track_list(playlists[0]))
    assert "Every kept song is saved and exported, not only the ones on this page" in text
    assert "more below" not in text
    assert isinstance(db.session.get(SortRun, run.id), SortRun)
