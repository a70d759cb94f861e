"""A browser's share of the Dash protocol over HTTP: log in through OAuth, load a page and fire its callbacks, move inputs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import requests

from sandbox.runner import consent

UPDATE = "/app/_dash-update-component"
ROUTER = "_pages_content.children"
# One connection per request, as production's hop from nginx to gunicorn is (nginx opens a new upstream
# connection per request unless told to keep them): reusing a connection gunicorn's gthread worker is about
# to close as idle (after --keep-alive, 2 s) races, and the loser is a reset no user behind nginx sees.
CLOSE = {"Connection": "close"}
# The browser's headers on a callback POST: JSON, and the page's own origin (the CSRF defence checks it).
JSON_HEADERS = {"Content-Type": "application/json", "Accept": "application/json", **CLOSE}


def login(http: requests.Session, base_url: str, user: str, **named: Any) -> None:
    """GET /login, approve on the sandbox consent page, GET /callback: the session cookie is now logged in.

    `named` are passed to the app's requests (locust's `name=`); the consent hop goes to the sandbox with
    a plain requests session, so only the app's requests are counted.
    """
    start = http.get(f"{base_url}/login", allow_redirects=False, headers=CLOSE, **_name(named, "login"))
    if start.status_code != 302:
        raise RuntimeError(f"/login answered {start.status_code}, not a redirect to the consent page")
    back = consent(start.headers["Location"], user)
    parts = urlsplit(back)
    answer = http.get(f"{base_url}{parts.path}?{parts.query}", allow_redirects=False, headers=CLOSE,
                      **_name(named, "callback"))
    if answer.status_code != 302 or "/app" not in answer.headers.get("Location", ""):
        raise RuntimeError(f"/callback answered {answer.status_code}: {answer.text[:300]}")


def page_name(path: str) -> str:
    """"/app/explore" -> "explore"; the Dash mount itself ("/app/") is the home page."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return "home" if name in ("", "app") else name


def _name(named: dict[str, Any], label: str) -> dict[str, Any]:
    return {"name": label} if named.get("name") else {}


def id_key(component_id: Any) -> str:
    """The string Dash uses for an id: itself, or a pattern id's JSON with sorted keys and no spaces."""
    if isinstance(component_id, dict):
        return json.dumps(component_id, sort_keys=True, separators=(",", ":"))
    return str(component_id)


def walk(tree: Any) -> Iterator[dict[str, Any]]:
    """Every component (serialised: type, namespace, props) in a layout tree."""
    if isinstance(tree, list):
        for child in tree:
            yield from walk(child)
    elif isinstance(tree, dict):
        if "props" in tree and "type" in tree:
            yield tree
            for value in tree["props"].values():
                if isinstance(value, (list, dict)):
                    yield from walk(value)


class DashSession:
    """One logged-in browser tab: `load(path)` and `set(prop, value)` time every callback request they make.

    Loading a page does what the Dash renderer does: the pages router callback renders the layout, then every
    callback whose inputs are all in the new layout runs (unless it prevents its initial call), in dependency
    order, and a callback's outputs trigger the callbacks that take them as inputs. Each request is timed and
    labelled "<page> · <first output>", so figures from a single session and from locust line up.

    `http` is a requests.Session (or locust's HttpSession, then `named=True` labels its requests).
    `record(label, seconds, status)` receives every timing.
    """

    def __init__(self, http: requests.Session, base_url: str, deps: list[dict[str, Any]] | None = None,
                 record: Callable[[str, float, int], None] | None = None, named: bool = False) -> None:
        self.http, self.base_url, self.named = http, base_url, named
        self.record = record or (lambda *_: None)
        self.headers = {**JSON_HEADERS, "Origin": base_url, "Referer": f"{base_url}/app/"}
        self.deps = deps if deps is not None else self.dependencies()
        self.props: dict[str, dict[str, Any]] = {}
        self.page = ""
        self.statuses: list[int] = []

    def dependencies(self) -> list[dict[str, Any]]:
        answer = self.http.get(f"{self.base_url}/app/_dash-dependencies", headers=CLOSE,
                               **({"name": "dash dependencies"} if self.named else {}))
        answer.raise_for_status()
        return answer.json()

    # ------------------------------------------------------------------------------------------ actions

    def load(self, path: str) -> list[str]:
        """Render the page at `path` (e.g. "/app/explore") and run its initial callbacks; returns their labels."""
        self.page = page_name(path)
        router = next(dep for dep in self.deps if ROUTER in dep["output"])
        self.props = {"_pages_location": {"pathname": path, "search": ""}}
        answer = self._post(router, f"{self.page} · page render", ["_pages_location.pathname"])
        layout = (answer or {}).get("_pages_content", {}).get("children")
        self.props = {}
        for component in walk(layout):
            if "id" in component["props"]:
                self.props.setdefault(id_key(component["props"]["id"]), {}).update(component["props"])
        initial = [dep for dep in self._runnable() if not dep.get("prevent_initial_call")
                   and all(self._present(spec) for spec in dep["inputs"] if not spec["id"].startswith("{"))
                   and any(self._present(o) for o in self._outputs(dep))]
        return self._run(initial, changed={})

    def set(self, prop: str, value: Any) -> list[str]:
        """The user changes `prop` ("id.property", pattern ids as their JSON): the callbacks it triggers run."""
        component, _, name = prop.rpartition(".")
        self.props.setdefault(component, {})[name] = value
        triggered = [dep for dep in self._runnable() if any(self._matches(spec, component, name) for spec in dep["inputs"])]
        cause = json.loads(component)["type"] if component.startswith("{") else component
        return self._run(triggered, changed={id(dep): [prop] for dep in triggered}, cause=f"{cause}.{name}")

    # ------------------------------------------------------------------------------------------ internals

    def _runnable(self) -> list[dict[str, Any]]:
        return [dep for dep in self.deps if not dep.get("clientside_function") and ROUTER not in dep["output"]]

    def _run(self, queue: list[dict[str, Any]], changed: dict[int, list[str]], cause: str = "") -> list[str]:
        """Run callbacks, each after those producing its inputs, and then the ones their outputs trigger."""
        ran: list[str] = []
        done: set[int] = set()
        pending = list(queue)
        while pending:
            waiting = {self._out_key(o) for dep in pending for o in self._outputs(dep)}
            ready = [dep for dep in pending if not any(self._spec_key(s) in waiting for s in dep["inputs"]
                                                         if self._spec_key(s) not in
                                                         {self._out_key(o) for o in self._outputs(dep)})]
            dep = ready[0] if ready else pending[0]
            pending.remove(dep)
            done.add(id(dep))
            label = self._label(dep) + (f" (on {cause})" if cause else "")
            answer = self._post(dep, label, changed.get(id(dep), []))
            ran.append(label)
            for cid, props in (answer or {}).items():
                for name, value in props.items():
                    self.props.setdefault(cid, {})[name] = value
                    for follower in self._runnable():
                        if id(follower) not in done and follower not in pending and any(
                                self._matches(spec, cid, name) for spec in follower["inputs"]):
                            pending.append(follower)
                            changed.setdefault(id(follower), []).append(f"{cid}.{name}")
        return ran

    def _post(self, dep: dict[str, Any], label: str, changed: list[str]) -> dict[str, Any] | None:
        body = self._payload(dep, changed)
        started = time.perf_counter()
        answer = self.http.post(f"{self.base_url}{UPDATE}", data=json.dumps(body), headers=self.headers,
                                **({"name": label} if self.named else {}))
        self.record(label, time.perf_counter() - started, answer.status_code)
        self.statuses.append(answer.status_code)
        if answer.status_code != 200:
            return None
        try:
            return answer.json().get("response", {})
        except ValueError:
            return None

    def _payload(self, dep: dict[str, Any], changed: list[str]) -> dict[str, Any]:
        outputs = [self._output_item(o) for o in self._outputs(dep)]
        return {"output": dep["output"], "outputs": outputs if dep["output"].startswith("..") else outputs[0],
                "inputs": [self._item(spec) for spec in dep["inputs"]],
                "state": [self._item(spec) for spec in dep["state"]], "changedPropIds": changed}

    def _item(self, spec: dict[str, Any]) -> Any:
        if spec["id"].startswith("{"):
            return [{"id": json.loads(cid), "property": spec["property"], "value": props.get(spec["property"])}
                    for cid, props in self._pattern(spec["id"])]
        return {"id": spec["id"], "property": spec["property"],
                "value": self.props.get(spec["id"], {}).get(spec["property"])}

    def _output_item(self, spec: dict[str, str]) -> Any:
        if spec["id"].startswith("{"):
            return [{"id": json.loads(cid), "property": spec["property"]} for cid, _ in self._pattern(spec["id"])]
        return spec

    def _pattern(self, pattern: str) -> list[tuple[str, dict[str, Any]]]:
        wanted = json.loads(pattern)
        found = []
        for cid, props in self.props.items():
            if not cid.startswith("{"):
                continue
            real = json.loads(cid)
            if set(real) == set(wanted) and all(isinstance(v, list) or real[k] == v for k, v in wanted.items()):
                found.append((cid, props))
        return found

    @staticmethod
    def _outputs(dep: dict[str, Any]) -> list[dict[str, str]]:
        parts = dep["output"].strip(".").split("...") if dep["output"].startswith("..") else [dep["output"]]
        return [{"id": p.rpartition(".")[0], "property": p.rpartition(".")[2]} for p in parts]

    @staticmethod
    def _out_key(spec: dict[str, str]) -> str:
        return f"{spec['id']}.{spec['property'].split('@')[0]}"

    @staticmethod
    def _spec_key(spec: dict[str, str]) -> str:
        return f"{spec['id']}.{spec['property']}"

    def _present(self, spec: dict[str, str]) -> bool:
        if spec["id"].startswith("{"):
            return bool(self._pattern(spec["id"]))
        return spec["id"] in self.props

    def _matches(self, spec: dict[str, str], cid: str, name: str) -> bool:
        if spec["property"] != name:
            return False
        if spec["id"].startswith("{") and cid.startswith("{"):
            wanted, real = json.loads(spec["id"]), json.loads(cid)
            return set(real) == set(wanted) and all(isinstance(v, list) or real[k] == v for k, v in wanted.items())
        return spec["id"] == cid

    def _label(self, dep: dict[str, Any]) -> str:
        first = self._out_key(self._outputs(dep)[0])
        if first.startswith("{"):
            first = f"{json.loads(first.rpartition('.')[0])['type']}[*].{first.rpartition('.')[2]}"
        return f"{self.page} · {first}"
