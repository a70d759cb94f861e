"""The one check every Dash callback request passes before any callback runs: shape, types, sizes and counts.

A malformed request (a list where an id belongs, a 19 MB list of context names, a filename of 1,000
characters, an input the callback does not have) gets a 400 with a plain sentence instead of reaching the
callback. It runs as a `before_request` hook on Dash's update route, so a callback added later is covered
without anyone remembering to call it; what each input may hold is decided by its property and, where
that is not enough, by its component id (the tables below).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request

from app.dash_views import URL_BASE, ids
from app.dash_views.sync_section import SYNC_ENABLED
from app.pipeline.files import MAX_BYTES
from app.pipeline.naming import MAX_CONTEXT_CHARS, MAX_CONTEXTS

log = logging.getLogger("contextify.security.callbacks")

UPDATE_PATH = "_dash-update-component"

# Inputs whose `value` is a list (checklists, multi-select dropdowns), by component id or pattern `type`: how
# many entries it may hold and of which type. Every other `value` is one scalar: a list or an object there is
# refused. tests/bad_input/test_callback_fuzz.py checks this table against every page's layout, so a new
# checklist cannot be forgotten.
_NAMES, _OPTIONS, _ROW_IDS = (str,), (str,), (int,)
LIST_VALUES: dict[str, tuple[int, tuple[type, ...]]] = {
    ids.EXPLORE_CONTEXTS: (MAX_CONTEXTS, _NAMES), ids.MODEL_CONTEXTS: (MAX_CONTEXTS, _NAMES),
    ids.EXPLORE_TSNE: (5, _OPTIONS), ids.LIBRARY_FULL: (5, _OPTIONS), ids.HARVEST_REFRESH: (5, _OPTIONS),
    ids.MAP_SAMPLE: (5, _OPTIONS), ids.COMPARE_ENRICH: (5, _OPTIONS), ids.DISCOVER_CHARTS: (5, _OPTIONS),
    ids.DISCOVER_PUBLIC: (5, _OPTIONS), ids.SAVE_PUBLIC: (5, _OPTIONS), ids.MODEL_BEST_EFFORT: (5, _OPTIONS),
    ids.ENHANCE_PICK: (10_000, _ROW_IDS),  # one checkbox per suggested track of a playlist, valued by its id
    SYNC_ENABLED: (5, _OPTIONS),  # the sync's on/off checkbox (Save and Account pages)
}
# Free-text fields (None or text, never a number), with their length: the context box takes up to MAX_CONTEXTS
# names and their commas.
TEXT_CHARS: dict[str, int] = {ids.CONTEXT_INPUT: MAX_CONTEXTS * (MAX_CONTEXT_CHARS + 2), ids.MAP_SEARCH: 200,
                              ids.COMPARE_OTHER: 200}  # "user:7" or "invite:3": whose library to compare with
# Stores holding one row id (a number) or a counter.
NUMBER_STORES = frozenset({ids.SORT_RUN_STORE, ids.MAP_RUN_STORE, ids.HARVEST_NUDGE_STORE})

MAX_TEXT = 1_000            # characters of any other text input or scalar
MAX_FILENAME = 255          # what file systems keep
MAX_CLICKS = 10 ** 9
MAX_NUMBER = 10 ** 12
MAX_JSON_CHARS = 64 * 1024  # a store's or a chart selection's whole value, as JSON
MAX_DEPTH = 8
MAX_PATTERN_ITEMS = 10_000  # components one pattern-matching input may list
# A data URL of the largest file the importers take: base64 (4/3) plus its `data:...;base64,` header.
MAX_UPLOAD_CHARS = MAX_BYTES * 4 // 3 + 1024
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")  # uuid hex in practice; any such word is looked up as owned


class Refused(ValueError):
    """A callback request that is not what the page sends; the message says what, in plain words."""


def install(app: Flask, dash_app: Any, url_base: str) -> None:
    """Check every POST to Dash's update route before Dash (or a callback) sees it."""
    path = url_base + UPDATE_PATH

    @app.before_request
    def _check_callback_request():  # noqa: ANN202  (Flask hook: a response or None)
        if request.path != path or request.method != "POST":
            return None
        try:
            check_request(request.get_json(silent=True), dash_app.callback_map)
        except Refused as exc:
            # Logged so an operator can tell a page's own request refused by mistake from an attacker's.
            log.info("callback request refused: %s (output %.200s)", exc, _output_of(request.get_json(silent=True)))
            return refused(str(exc))
        return None


def _output_of(body: Any) -> str:
    return str(body.get("output")) if isinstance(body, dict) else type(body).__name__


def refused(message: str) -> Response:
    response = jsonify(error="bad request", message=message)
    response.status_code = 400
    return response


def check_request(body: Any, callback_map: dict[str, Any]) -> None:
    """Raise Refused unless `body` is a well-formed request for one of the app's callbacks."""
    if not isinstance(body, dict):
        raise Refused("This request is not one the page sends (not a JSON object). Reload the page.")
    output = body.get("output")
    callback = callback_map.get(output) if isinstance(output, str) else None
    if callback is None:
        raise Refused("This page is out of date or the request names no part of it. Reload the page.")
    _check_outputs(body.get("outputs"), output)
    for key in ("inputs", "state"):
        _check_dependencies(body.get(key, []), callback.get(key, []), key)
    changed = body.get("changedPropIds", [])
    # A redrawn list of pattern-matching buttons can name every new button as changed: as many as the inputs hold.
    if not isinstance(changed, list) or len(changed) > MAX_PATTERN_ITEMS or not all(
            isinstance(item, str) and len(item) <= MAX_TEXT for item in changed):
        raise Refused("This request lists what changed in a form the page never sends. Reload the page.")


def _check_outputs(outputs: Any, output: str) -> None:
    parts = output.strip(".").split("...")
    items = outputs if output.startswith("..") and isinstance(outputs, list) else [outputs]
    if len(items) != len(parts):
        raise Refused("This request does not name the parts of the page it updates. Reload the page.")
    for item, part in zip(items, parts):
        # A pattern-matching output (`{"type": ..., "context": ["ALL"]}.children`) lists every matching component.
        many = item if _is_pattern(part) and isinstance(item, list) else [item]
        if len(many) > MAX_PATTERN_ITEMS or not all(_is_dependency(one) for one in many):
            raise Refused("This request does not name the parts of the page it updates. Reload the page.")


def _is_dependency(item: Any) -> bool:
    return (isinstance(item, dict) and isinstance(item.get("property"), str) and len(item["property"]) <= 100
            and isinstance(item.get("id"), (str, dict)) and _json_chars(item["id"]) <= MAX_TEXT)


def _check_dependencies(given: Any, specs: list[dict[str, Any]], key: str) -> None:
    if not isinstance(given, list) or len(given) != len(specs):
        raise Refused(f"This request has {_count(given)} {key} where the page sends {len(specs)}. Reload the page.")
    for item, spec in zip(given, specs):
        if _is_pattern(spec["id"]):
            pattern = json.loads(spec["id"])
            items = item if isinstance(item, list) else [item]
            if len(items) > MAX_PATTERN_ITEMS:
                raise Refused(f"This request lists more than {MAX_PATTERN_ITEMS:,} parts of the page. Reload the page.")
            for one in items:
                _check_item(one, pattern["type"], spec["property"], pattern)
        else:
            _check_item(item, spec["id"], spec["property"], None)


def _check_item(item: Any, component: str, prop: str, pattern: dict[str, Any] | None) -> None:
    if not _is_dependency(item) or item["property"] != prop:
        raise Refused("This request does not match the page's form. Reload the page.")
    if pattern is None and item["id"] != component:
        raise Refused("This request does not match the page's form. Reload the page.")
    if pattern is not None and not (isinstance(item["id"], dict) and item["id"].get("type") == component
                                    and set(item["id"]) == set(pattern)):
        raise Refused("This request does not match the page's form. Reload the page.")
    _check_value(item.get("value"), component, prop)


def _check_value(value: Any, component: str, prop: str) -> None:
    check = _PROPERTY_CHECKS.get(prop, _check_json)
    check(value, component)


# ------------------------------------------------------------------------------------------ per property


def _check_count(value: Any, _component: str) -> None:
    if value is not None and not (_is_int(value) and 0 <= value <= MAX_CLICKS):
        raise Refused("A click or tick count must be a whole number. Reload the page.")


def _check_value_prop(value: Any, component: str) -> None:
    if component in TEXT_CHARS:
        if value is not None and not isinstance(value, str):
            raise Refused("This field takes text. Reload the page.")
        _check_scalar(value, TEXT_CHARS[component])
        return
    if component not in LIST_VALUES:
        _check_scalar(value, MAX_TEXT)
        return
    limit, kinds = LIST_VALUES[component]
    if value is None:
        return
    if not isinstance(value, list):
        raise Refused("This choice should be a list of options. Reload the page.")
    if len(value) > limit:
        raise Refused(f"At most {limit:,} can be chosen here; {len(value):,} were sent.")
    for element in value:
        if not isinstance(element, kinds) or isinstance(element, bool):
            raise Refused("One of the options chosen is not one the page offers. Reload the page.")
        _check_scalar(element, MAX_CONTEXT_CHARS if limit == MAX_CONTEXTS else MAX_TEXT)


def _check_scalar(value: Any, max_chars: int) -> None:
    if value is None or isinstance(value, bool):
        return
    if _is_int(value):
        if abs(value) > MAX_NUMBER:
            raise Refused(f"Numbers here must be between -{MAX_NUMBER:,} and {MAX_NUMBER:,}.")
        return
    if isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise Refused("That number is not one contextify can use.")
        return
    if isinstance(value, str):
        if len(value) > max_chars:
            raise Refused(f"That text is {len(value):,} characters long; at most {max_chars:,} fit here.")
        return
    raise Refused("This field takes one value, not a list or an object. Reload the page.")


def _check_data(value: Any, component: str) -> None:
    """dcc.Store values: a job's id, a run's id, the context chips, a finished job's summary."""
    if component == ids.CONTEXT_CHIPS_STORE:
        if not isinstance(value, list) or len(value) > MAX_CONTEXTS:
            raise Refused(f"At most {MAX_CONTEXTS} contexts can be chosen at once.")
        for name in value:
            if not isinstance(name, str) or len(name) > MAX_CONTEXT_CHARS:
                raise Refused(f"A context name is text of at most {MAX_CONTEXT_CHARS} characters.")
    elif component.endswith("job-store"):
        if value is not None and not (isinstance(value, str) and _JOB_ID.fullmatch(value)):
            raise Refused("That is not a job of yours. Reload the page.")
    elif component.endswith("done-store"):
        _check_finished_job(value)
    elif component in NUMBER_STORES:
        if value is not None and not (_is_int(value) and 0 <= value <= MAX_NUMBER):
            raise Refused("That is not one of your runs. Reload the page.")
    else:
        _check_json(value, component)


def _check_finished_job(value: Any) -> None:
    """What the job poll hands on when a job ends: {"id", "status", "result"} (see jobs_view.register_follow)."""
    if value is None:
        return
    if not (isinstance(value, dict) and set(value) <= {"id", "status", "result"}
            and (value.get("id") is None or (isinstance(value["id"], str) and _JOB_ID.fullmatch(value["id"])))
            and (value.get("status") is None or (isinstance(value["status"], str) and len(value["status"]) <= 32))
            and (value.get("result") is None or isinstance(value["result"], dict))):
        raise Refused("That is not a job of yours. Reload the page.")
    _check_json(value, "")


def _check_text(value: Any, _component: str, limit: int = 2_000) -> None:
    if value is not None and not (isinstance(value, str) and len(value) <= limit):
        raise Refused("This request carries a page address contextify does not use. Reload the page.")


def _check_pathname(value: Any, component: str) -> None:
    _check_text(value, component)
    if isinstance(value, str) and not (value + "/").startswith(URL_BASE):
        raise Refused("This request carries a page address contextify does not use. Reload the page.")


def _check_contents(value: Any, _component: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith("data:"):
        raise Refused("The file did not arrive as a file. Choose it again.")
    if len(value) > MAX_UPLOAD_CHARS:
        raise Refused(f"That file is larger than {MAX_BYTES // 1024 // 1024} MB, the most contextify imports. "
                      "Split it, or export playlists one by one.")


def _check_filename(value: Any, _component: str) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.strip():
        raise Refused("The file has no name. Choose it again.")
    if len(value) > MAX_FILENAME:
        raise Refused(f"That file's name is {len(value):,} characters long; rename it to at most {MAX_FILENAME} "
                      "and upload it again.")


def _check_json(value: Any, _component: str) -> None:
    if _depth(value) > MAX_DEPTH or _json_chars(value) > MAX_JSON_CHARS:
        raise Refused("This request carries more data than the page ever sends. Reload the page.")


_PROPERTY_CHECKS: dict[str, Callable[[Any, str], None]] = {
    "n_clicks": _check_count, "n_intervals": _check_count, "n_submit": _check_count,
    "value": _check_value_prop, "data": _check_data, "contents": _check_contents, "filename": _check_filename,
    "pathname": _check_pathname, "search": _check_text, "href": _check_text, "hash": _check_text,
}


# ------------------------------------------------------------------------------------------ helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_pattern(component_id: str) -> bool:
    return component_id.startswith("{")


def _count(value: Any) -> str:
    return f"{len(value)}" if isinstance(value, list) else "no list of"


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _json_chars(value: Any) -> int:
    return len(json.dumps(value, default=str))
