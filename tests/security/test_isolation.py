"""Every Flask route and every Dash callback, found by enumeration, refuses an anonymous visitor and shows a
second user nothing of the first user's, even when every id it is sent is one of the first user's.

Nothing is listed by hand except the public Flask routes (with the reason each is public): a page or callback
added later (Enhance, Discover, Map, Compare, ...) is covered as soon as it is registered.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from werkzeug.routing import Rule

from app.extensions import db
from app.jobs import runner
from app.storage.tables import Job
from tests.auth.helpers import session_login
from tests.dash_views.helpers import UPDATE
from tests.security.owned import add_user_with_id, fill, snapshot

OWNER, INTRUDER = 7, 8
PK = 7  # every primary key of the owner's rows, and the owner's user id: any id a callback takes names theirs
MARK = "zqsecretmira"

# Flask routes an anonymous visitor may open, and why. Everything else must refuse them.
PUBLIC = {
    "static": "the stylesheet and images, the same for everyone",
    "web.index": "the landing page, which offers the login",
    "web.favicon": "a redirect to the static icon",
    "auth.login": "starts the login",
    "auth.callback": "where Spotify sends the browser back; refuses anything without this browser's state",
    "auth.logout": "GET shows a log-out button; POST needs the CSRF token",
    "health.healthz": "the load balancer's probe; says only whether database, migrations and broker answer",
}
# Routes that act on the caller's own session only, which the second user's run must not end halfway:
# logging out, and deleting their own account (tests/security/test_delete_all.py proves it spares others).
OWN_SESSION = {("POST", "auth.logout"), ("POST", "auth.delete_account")}
# Dash's own files: the same for everyone (behind the login guard all the same).
DASH_STATIC = re.compile(r"^/app/(_dash-component-suites/|assets/|_favicon\.ico|_reload-hash)")


@pytest.fixture
def app(site):
    return site


@pytest.fixture
def two_users(app):
    with app.app_context():
        add_user_with_id(db.session, OWNER, "mira.s")
        add_user_with_id(db.session, INTRUDER, "ana.k")
        owner_ids = fill(db.session, OWNER, MARK, app.config["SECRET_KEY"], pk=PK)
        fill(db.session, INTRUDER, "zqintruder", app.config["SECRET_KEY"])
    yield owner_ids
    runner.shutdown(app)


# ------------------------------------------------------------------------------------------ Flask routes


def _url(rule: Rule, job_id: str) -> str:
    """The rule with every variable filled with one of the owner's ids (a number, or the job's id for strings)."""

    def fill(match: re.Match) -> str:
        converter, name = match.group(1) or "string", match.group(2)
        if converter in ("int", "float") or name in ("filename", "path", "token"):
            return str(PK)  # an invite link is a capability, not guessed from an id: 7 is no valid token
        return job_id

    return re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", fill, rule.rule)


def _flask_rules(app) -> list[Rule]:
    return list(app.url_map.iter_rules())


def test_every_flask_route_refuses_the_anonymous_and_shows_the_second_user_nothing(app, two_users):
    anonymous, intruder = app.test_client(), app.test_client()
    session_login(intruder, INTRUDER)
    intruder.get("/logout")  # a page that gives the intruder's session a CSRF token, for the POSTs below
    with intruder.session_transaction() as session:
        token = session["csrf_token"]
    with app.app_context():
        before = snapshot(db.session, OWNER)
    checked = []
    for rule in _flask_rules(app):
        url = _url(rule, two_users["job"])
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token} if method != "GET" else None
            if rule.endpoint not in PUBLIC:
                answer = anonymous.open(url, method=method, data=None)
                assert answer.status_code in (302, 400, 401, 403, 404), (method, url, answer.status_code)
                if answer.status_code == 302:
                    assert answer.headers["Location"].startswith("/login"), (method, url)
            if DASH_STATIC.match(url) or (method, rule.endpoint) in OWN_SESSION:
                checked.append((method, rule.rule))
                continue  # Dash's own scripts: refused to the anonymous above, the same files for every user
            answer = intruder.open(url, method=method, data=data)
            assert answer.status_code < 500, (method, url, answer.status_code)
            assert MARK not in answer.get_data(as_text=True), f"{method} {url} shows the owner's data"
            checked.append((method, rule.rule))
    with app.app_context():
        assert snapshot(db.session, OWNER) == before, "a route changed the owner's rows"
    routes = sorted({rule for _, rule in checked})
    print(f"\nFlask routes checked (anonymous and second user): {len(routes)} routes, {len(checked)} method+route "
          f"pairs; public with a reason: {len(PUBLIC)} endpoints: {routes}")


def test_the_public_list_names_only_routes_that_exist(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert set(PUBLIC) <= endpoints


# ------------------------------------------------------------------------------------------ Dash callbacks


# Inputs that take a row's id (by their component id): they get the owner's id; others keep their layout value.
ID_INPUT = re.compile(r"(choice|other|pick|results|run|playlist|invite|suggestion|assignment)(-store)?$")


def _id_value(component: str, prop: str, ids: dict[str, Any], defaults: dict[tuple[str, str], Any]) -> Any:
    """What a browser could send for this input if it had the owner's ids: every id is the owner's."""
    if prop in ("n_clicks", "n_submit", "n_intervals"):
        return 1
    if component.endswith("job-store"):
        return ids["job"]
    if component.endswith("done-store"):
        return {"id": ids["job"], "status": "succeeded",
                "result": {key: PK for key in ("model_id", "sort_run_id", "run_id", "model_run_id", "playlist_id",
                                               "suggestion_id", "invite_id", "dataset_id", "export_id", "user_id")}}
    if prop in ("value", "data") and ID_INPUT.search(component):
        return PK
    return defaults.get((component, prop))


def _layout_values(client, router: dict[str, Any], pages: list[str]) -> dict[tuple[str, str], Any]:
    """(component id, prop) -> the value each page's layout gives it, as served to its owner."""
    found: dict[tuple[str, str], Any] = {}

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, dict):
            if not isinstance(node.get("props"), dict):  # the answer's envelope: {"multi", "response": {id: {prop}}}
                for value in node.values():
                    walk(value)
                return
            props = node["props"]
            if isinstance(props.get("id"), str):
                for name, value in props.items():
                    if not isinstance(value, dict) or "props" not in value:
                        found.setdefault((props["id"], name), value)
            for value in props.values():
                if isinstance(value, (list, dict)):
                    walk(value)

    for page in pages:
        body = {"output": router["output"], "outputs": [
            {"id": part.rpartition(".")[0], "property": part.rpartition(".")[2]}
            for part in router["output"].strip(".").split("...")],
            "inputs": [{"id": "_pages_location", "property": "pathname", "value": page},
                       {"id": "_pages_location", "property": "search", "value": ""}],
            "state": [], "changedPropIds": ["_pages_location.pathname"]}
        walk(client.post(UPDATE, json=body).get_json())
    return found


def _pattern_items(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """For a pattern-matching (ALL) input: one component whose wildcard keys name the owner's rows.

    Its value: a click; a cutoff for sliders; else a list of the owner's ids (the checklists of suggestions).
    """
    pattern = json.loads(spec["id"])
    concrete = {key: (value if key == "type" else ("workout" if key == "context" else PK))
                for key, value in pattern.items()}
    kind = pattern["type"]
    value = 1 if spec["property"].startswith("n_") else (0.9 if re.search("cutoff|slider", kind) else [PK])
    return [{"id": concrete, "property": spec["property"], "value": value}]


def _payloads(dep: dict[str, Any], ids: dict[str, Any], pages: list[str],
              defaults: dict[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """Bodies for `dep`: every input set to the owner's ids, and every input in turn as the one that changed."""
    parts = [part for part in dep["output"].strip(".").split("...")]
    outputs = [{"id": part.rpartition(".")[0], "property": part.rpartition(".")[2].split("@")[0]} for part in parts]
    for output in outputs:
        if output["id"].startswith("{"):
            output["id"] = json.loads(output["id"])

    def item(spec: dict[str, Any], page: str | None) -> Any:
        if spec["id"].startswith("{"):
            return _pattern_items(spec)
        value = page if (spec["id"], spec["property"]) == ("_pages_location", "pathname") else \
            _id_value(spec["id"], spec["property"], ids, defaults)
        return {"id": spec["id"], "property": spec["property"], "value": value}

    triggers = [f"{spec['id']}.{spec['property']}" for spec in dep["inputs"]] or [None]
    bodies = []
    for page in pages if any(spec["id"] == "_pages_location" for spec in dep["inputs"]) else [None]:
        for trigger in triggers:
            multi = dep["output"].startswith("..")
            bodies.append({"output": dep["output"], "outputs": outputs if multi else outputs[0],
                           "inputs": [item(spec, page) for spec in dep["inputs"]],
                           "state": [item(spec, page) for spec in dep["state"]],
                           "changedPropIds": [trigger] if trigger else []})
    return bodies


def _pages(app) -> list[str]:
    import dash

    return [page["relative_path"] for page in dash.page_registry.values()]


def _wait_for_jobs(app, user_id: int, timeout: float = 60.0) -> list[Job]:
    deadline = time.monotonic() + timeout
    while True:
        with app.app_context():
            jobs = db.session.query(Job).filter(Job.user_id == user_id).all()
            if all(job.status not in ("queued", "running") for job in jobs) or time.monotonic() > deadline:
                db.session.expunge_all()
                return jobs
        time.sleep(0.2)


def test_every_dash_callback_refuses_the_anonymous_and_gives_the_second_user_nothing_of_the_first(
        site, two_users):
    """Against a sandbox, so the callbacks that ask Spotify something get Spotify's real refusals."""
    app, client = site, site.test_client()
    app.config["CONTEXTIFY_JOB_RATE_LIMIT"] = "1000 per minute"  # this test starts every kind of job at once
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is a 500 to report, not an exception in the test
    session_login(client, OWNER)
    deps = client.get("/app/_dash-dependencies").get_json()
    pages = _pages(app)
    anonymous, intruder = app.test_client(), app.test_client()
    session_login(intruder, INTRUDER)
    router = next(dep for dep in deps if "_pages_content.children" in dep["output"])
    defaults = _layout_values(client, router, pages)
    with app.app_context():
        before = snapshot(db.session, OWNER)

    crashes = 0
    bodies = [(dep, body) for dep in deps if not dep.get("clientside_function")  # clientside: browser only
              for body in _payloads(dep, two_users, pages, defaults)]
    for dep, body in bodies:
        assert anonymous.post(UPDATE, json=body).status_code == 401, dep["output"]
        answer = intruder.post(UPDATE, json=body)
        text = answer.get_data(as_text=True)
        if answer.status_code >= 500:
            crashes += 1
            print(f"\n  500 for the second user: {dep['output'][:100]} changed={body['changedPropIds']}")
        assert answer.status_code in (200, 204, 400, 401, 403, 500), (dep["output"], answer.status_code)
        assert MARK not in text, f"{dep['output']} showed the owner's data to the second user"

    # Jobs the intruder started with the owner's ids (save run 7, compare with user 7, ...) end without
    # touching or revealing the owner's rows.
    for job in _wait_for_jobs(app, INTRUDER):
        assert MARK not in json.dumps([job.params, job.result, job.log, job.error], default=str), job.kind
    with app.app_context():
        assert snapshot(db.session, OWNER) == before, "a callback changed the owner's rows"
    # The owner, sending the same bodies, does see their own rows in some callbacks: the ids are real ones.
    seen_by_owner = {dep["output"] for dep, body in bodies
                     if MARK in client.post(UPDATE, json=body).get_data(as_text=True)}
    callbacks = sum(1 for dep in deps if not dep.get("clientside_function"))
    print(f"\nDash callbacks checked (anonymous and second user): {callbacks} of {len(deps)} "
          f"({len(deps) - callbacks} clientside), {len(bodies)} requests each way, {len(pages)} pages; "
          f"{len(seen_by_owner)} callbacks show the owner their own rows for the same ids; {crashes} answered 500")
    assert seen_by_owner, "the owner's ids must mean something to at least some callbacks"
    assert crashes == 0, "callbacks crashed for a second user (see the lines above)"
