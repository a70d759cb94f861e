"""Calling Dash callbacks as the browser does: the JSON of `/app/_dash-update-component`, built from the app's dependencies."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

UPDATE = "/app/_dash-update-component"


def dependencies(client: FlaskClient) -> list[dict[str, Any]]:
    response = client.get("/app/_dash-dependencies")
    assert response.status_code == 200, response.status_code
    return response.get_json()


def find_callback(deps: list[dict[str, Any]], output: str) -> dict[str, Any]:
    """The callback whose outputs include `output` ("component-id.property")."""
    matches = [dep for dep in deps if output in dep["output"].strip(".").split("...")]
    assert len(matches) == 1, f"{len(matches)} callbacks output {output}"
    return matches[0]


def payload(dep: dict[str, Any], values: dict[str, Any] | None = None,
            changed: list[str] | None = None) -> dict[str, Any]:
    """The request body for `dep`; `values` maps "id.property" to the value sent (missing ones are None).

    A pattern-matching input is keyed by its `type` ("context-chip-remove.n_clicks") and takes the list of
    {id, property, value} the browser would send.
    """
    values = values or {}

    def item(spec: dict[str, Any]) -> Any:
        if spec["id"].startswith("{"):
            return values.get(f"{json.loads(spec['id'])['type']}.{spec['property']}", [])
        return {"id": spec["id"], "property": spec["property"], "value": values.get(f"{spec['id']}.{spec['property']}")}

    outputs = [_split(part) for part in dep["output"].strip(".").split("...")]
    multi = dep["output"].startswith("..")
    return {"output": dep["output"], "outputs": outputs if multi else outputs[0],
            "inputs": [item(spec) for spec in dep["inputs"]], "state": [item(spec) for spec in dep["state"]],
            "changedPropIds": changed or []}


def call(client: FlaskClient, output: str, values: dict[str, Any] | None = None,
         changed: list[str] | None = None, deps: list[dict[str, Any]] | None = None) -> TestResponse:
    dep = find_callback(deps if deps is not None else dependencies(client), output)
    return client.post(UPDATE, json=payload(dep, values, changed))


def outputs(response: TestResponse) -> dict[str, Any]:
    """{"id.property": value} from a callback's answer; {} when it answered 204 (nothing to update)."""
    assert response.status_code in (200, 204), (response.status_code, response.get_data(as_text=True)[:500])
    if response.status_code == 204:
        return {}
    answer = response.get_json()["response"]
    return {f"{cid}.{prop}": value for cid, props in answer.items() for prop, value in props.items()}


def _split(output: str) -> dict[str, str]:
    component, _, prop = output.rpartition(".")
    return {"id": component, "property": prop}


def texts(component: Any) -> list[str]:
    """Every string inside a serialised Dash component tree, in order."""
    if component is None:
        return []
    if isinstance(component, str):
        return [component]
    if isinstance(component, (int, float)):
        return [str(component)]
    if isinstance(component, list):
        return [text for child in component for text in texts(child)]
    if isinstance(component, dict):
        return texts(component.get("props", {}).get("children"))
    return []


def component_ids(component: Any) -> set[str]:
    """Every string id in a Dash component tree (objects or their JSON form)."""
    found: set[str] = set()
    if hasattr(component, "to_plotly_json"):
        component = component.to_plotly_json()
    if isinstance(component, list):
        for child in component:
            found |= component_ids(child)
    elif isinstance(component, dict):
        props = component.get("props", {})
        if isinstance(props.get("id"), str):
            found.add(props["id"])
        for value in props.values():
            if isinstance(value, (list, dict)) or hasattr(value, "to_plotly_json"):
                found |= component_ids(value)
    return found


def find(component: Any, component_id: str) -> Any:
    """The component with `component_id` in a tree of Dash components, or None."""
    if getattr(component, "id", None) == component_id:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = find(child, component_id)
            if found is not None:
                return found
    return None
