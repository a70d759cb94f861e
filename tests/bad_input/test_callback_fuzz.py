"""Malformed requests to every Dash callback: thousands of them, and not one 5xx.

Each callback is first called well-formed (as its owner, with the owner's real ids, like tests/security's
isolation test), then every input and state in turn is replaced by a value the page never sends ("²",
lists and objects where ids belong, 1e999, 2**63, huge text, deep nesting...), and the request's shape is
broken (unknown output, missing or extra inputs, wrong ids). The answer must be below 500: a 400 in plain
words from app/dash_views/edge.py, or the callback's own handling.
"""

from __future__ import annotations

import copy
import json
import time
import traceback
from collections import Counter
from typing import Any

import pytest

from app.dash_views import edge
from app.extensions import db
from app.jobs import runner
from tests.auth.helpers import sandbox_app, session_login
from tests.dash_views.helpers import UPDATE
from tests.security.owned import add_user_with_id, fill
from tests.security.test_isolation import _layout_values, _pages, _payloads

OWNER, PK = 7, 7

BAD_VALUES: list[Any] = [
    "²", "١٢٣", "-1", "7.5", "1e999", "", " ", "../../etc/passwd", "\x00\n\r<script>alert(1)</script>",
    -1, 2 ** 63, 10 ** 30, 1e308, True, [], [PK, "x", None], {"id": PK}, {"$ne": None},
    "x" * 5_000, ["workout"] * 5_000, [[[[[[[[[[[PK]]]]]]]]]]],
]


def _structural(body: dict[str, Any]) -> list[Any]:
    """The same request with its shape broken in the ways a hand-written client (or an attacker) breaks it."""
    variants: list[Any] = [[], "text", None, 7]
    for change in (
            lambda b: b.update(output="nope.children"),
            lambda b: b.update(output=["a", "b"]),
            lambda b: b.update(outputs="x"),
            lambda b: b.update(inputs=b["inputs"] + [{"id": "extra", "property": "value", "value": 1}]),
            lambda b: b.update(inputs=b["inputs"][1:]) if b["inputs"] else b.update(inputs=None),
            lambda b: b.update(inputs={"id": "x"}),
            lambda b: b.update(state="x"),
            lambda b: b.update(changedPropIds={"a": 1}),
            lambda b: b.update(changedPropIds=["x" * 5_000]),
            lambda b: b["inputs"] and isinstance(b["inputs"][0], dict) and b["inputs"][0].update(id=["a"]),
            lambda b: b["inputs"] and isinstance(b["inputs"][0], dict) and b["inputs"][0].update(property=7),
            lambda b: b.pop("inputs"),
    ):
        broken = copy.deepcopy(body)
        change(broken)
        variants.append(broken)
    return variants


def _value_variants(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Every input and state in turn set to each bad value, named as the input that changed."""
    variants = []
    for key in ("inputs", "state"):
        for index, item in enumerate(body[key]):
            if isinstance(item, list):  # a pattern-matching input: the list of matching components
                template = item[0] if item else {"id": {"type": "x"}, "property": "n_clicks"}
                for bad in ([{**template, "value": value} for value in BAD_VALUES[:12]]
                            + [{"items": 1}, [template] * 20_000, [{**template, "id": "not-a-dict"}],
                               [{**template, "id": {**template["id"], "extra": 1}}]]):
                    broken = copy.deepcopy(body)
                    broken[key][index] = bad if isinstance(bad, list) else [bad]
                    broken["changedPropIds"] = [json.dumps(template["id"]) + "." + template["property"]]
                    variants.append(broken)
                continue
            for value in BAD_VALUES:
                broken = copy.deepcopy(body)
                broken[key][index]["value"] = value
                broken["changedPropIds"] = [f"{item['id']}.{item['property']}"]
                variants.append(broken)
    return variants


@pytest.fixture
def site(app_config, sandbox, monkeypatch):
    app = sandbox_app(app_config, sandbox)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # a crash is a 500 to count, not an exception in the test
    app.config["CONTEXTIFY_JOB_RATE_LIMIT"] = "100000 per minute"
    # Jobs a malformed-but-accepted request starts are recorded, not run: this test is about the request edge.
    started: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(runner, "submit", lambda kind, params, user_id=None, **_: started.append((kind, params))
                        or f"{len(started):032x}")
    with app.app_context():
        add_user_with_id(db.session, OWNER, "mira.s")
        ids = fill(db.session, OWNER, "zqfuzz", app.config["SECRET_KEY"], pk=PK)
    yield app, ids
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()


def test_two_thousand_malformed_callback_requests_get_no_5xx(site):
    app, ids = site
    client = app.test_client()
    session_login(client, OWNER)
    deps = client.get("/app/_dash-dependencies").get_json()
    pages = _pages(app)
    router = next(dep for dep in deps if "_pages_content.children" in dep["output"])
    defaults = _layout_values(client, router, pages)
    callbacks = [dep for dep in deps if not dep.get("clientside_function")]

    statuses: Counter[int] = Counter()
    crashed: Counter[str] = Counter()
    requests = 0
    started = time.monotonic()
    for dep in callbacks:
        base = _payloads(dep, ids, pages, defaults)[0]
        for body in _value_variants(base) + _structural(base):
            answer = client.post(UPDATE, json=body)
            requests += 1
            statuses[answer.status_code] += 1
            if answer.status_code >= 500:
                crashed[dep["output"][:80]] += 1
                if crashed[dep["output"][:80]] == 1:
                    why = _why(app, client, body)
                    print(f"\n  5xx: {dep['output'][:80]} changed={body.get('changedPropIds')}: {why}")
            elif answer.status_code == 400:
                message = answer.get_json()["message"]
                assert message and "Traceback" not in message and len(message) < 300, message
    for raw in (b"{", b"[]", b"null", b'{"output": 1e999}', "\u00b2".encode(), b"\xff\xfe"):
        answer = client.post(UPDATE, data=raw, content_type="application/json")
        requests += 1
        statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            crashed["raw body"] += 1
    elapsed = time.monotonic() - started
    print(f"\ncallback fuzz: {requests:,} malformed requests to {len(callbacks)} callbacks in {elapsed:.1f} s; "
          f"answers by status {dict(sorted(statuses.items()))}; 5xx in {len(crashed)} callbacks: {dict(crashed)}")
    assert requests >= 2_000
    assert not crashed, f"5xx answers: {dict(crashed)}"


def _why(app, client, body: Any) -> str:
    """The exception behind a 5xx, sent again with exceptions propagating: for the report, not the verdict."""
    app.config["PROPAGATE_EXCEPTIONS"] = True
    try:
        client.post(UPDATE, json=body)
    except Exception as exc:  # noqa: BLE001  (printed for whoever fixes it)
        frames = traceback.extract_tb(exc.__traceback__)
        where = next((f"{f.filename.rpartition('/app/')[2]}:{f.lineno}" for f in reversed(frames)
                      if "/app/" in f.filename and ".venv" not in f.filename), "?")
        return f"{type(exc).__name__}: {str(exc)[:150]} at {where}"
    finally:
        app.config["PROPAGATE_EXCEPTIONS"] = False
    return "no exception the second time"


def test_a_huge_list_of_context_names_is_refused_at_once(site):
    """The 19 MB list of names that took 47 s and 138 MB in one callback: refused by the edge, with the limit."""
    app, _ids = site
    client = app.test_client()
    session_login(client, OWNER)
    deps = client.get("/app/_dash-dependencies").get_json()
    dep = next(d for d in deps if any(spec["id"] == "context-chips-store" for spec in d["inputs"] + d["state"]))
    body = {"output": dep["output"], "outputs": [
        {"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]} for p in dep["output"].strip(".").split("...")],
        "inputs": [], "state": [], "changedPropIds": []}
    if not dep["output"].startswith(".."):
        body["outputs"] = body["outputs"][0]
    names = ["workout session number %d" % n for n in range(700_000)]  # about 19 MB of JSON
    for key in ("inputs", "state"):
        body[key] = [[] if spec["id"].startswith("{") else
                     {"id": spec["id"], "property": spec["property"],
                      "value": names if spec["id"] == "context-chips-store" else None} for spec in dep[key]]
    raw = json.dumps(body)
    started = time.monotonic()
    answer = client.post(UPDATE, data=raw, content_type="application/json")
    elapsed = time.monotonic() - started
    print(f"\n{len(raw) / 1e6:.1f} MB list of {len(names):,} context names: {answer.status_code} in {elapsed:.2f} s")
    assert answer.status_code == 400
    assert answer.get_json()["message"] == "At most 50 contexts can be chosen at once."


def test_every_list_valued_input_in_the_layouts_is_declared_to_the_edge(site):
    """A checklist or multi-select added to a page must be listed in edge.LIST_VALUES, or its lists are refused."""
    app, _ids = site
    client = app.test_client()
    session_login(client, OWNER)
    deps = client.get("/app/_dash-dependencies").get_json()
    router = next(dep for dep in deps if "_pages_content.children" in dep["output"])
    defaults = _layout_values(client, router, _pages(app))
    listed = {component for (component, prop), value in defaults.items()
              if prop == "value" and isinstance(value, list)}
    print(f"\nlist-valued inputs in the layouts: {sorted(listed)}; of {len(defaults)} component properties")
    assert listed, "the layouts have checklists"
    assert listed <= set(edge.LIST_VALUES), f"not declared in edge.LIST_VALUES: {listed - set(edge.LIST_VALUES)}"


def test_a_pattern_matching_output_is_sent_as_the_browser_sends_it(site):
    """The browser lists every component an ALL output matches; the edge takes that list (and refuses junk in it)."""
    app, _ids = site
    client = app.test_client()
    session_login(client, OWNER)
    deps = client.get("/app/_dash-dependencies").get_json()
    dep = next(d for d in deps if '"type":"sort-list"' in d["output"])
    parts = dep["output"].strip(".").split("...")

    def body(first_output: Any) -> dict[str, Any]:
        outputs = [first_output] + [[] if p.startswith("{") else {"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]}
                                    for p in parts[1:]]
        return {"output": dep["output"], "outputs": outputs,
                "inputs": [[] if spec["id"].startswith("{") else {"id": spec["id"], "property": spec["property"],
                                                                   "value": None} for spec in dep["inputs"]],
                "state": [[] if spec["id"].startswith("{") else {"id": spec["id"], "property": spec["property"],
                                                                  "value": None} for spec in dep["state"]],
                "changedPropIds": []}

    listed = [{"id": {"type": "sort-list", "context": "workout"}, "property": "children"}]
    assert client.post(UPDATE, json=body(listed)).status_code < 400
    assert client.post(UPDATE, json=body([]).copy()).status_code < 400
    assert client.post(UPDATE, json=body(["junk"])).status_code == 400
