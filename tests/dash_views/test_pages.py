"""Every page renders for a logged-in user with its component ids, and every callback refuses anonymous requests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.dash_views import (
    PAGE_MODULES, catalog_map, compare, contexts, discover, enhance, explore, ids, library, model_page, overview, save,
    sort,
)
from tests.auth.helpers import add_user, session_login
from tests.dash_views.helpers import UPDATE, component_ids, dependencies, payload

PAGES = {
    "/app/": (overview, {ids.HOME_STEPS, ids.HOME_MORE, "count-tracks"}),
    "/app/contexts": (contexts, {ids.CONTEXT_INPUT, ids.CONTEXT_ADD, ids.CONTEXT_CHIPS, ids.HARVEST_SOURCE,
                                 ids.HARVEST_PLAYLISTS, ids.HARVEST_TRACKS, ids.HARVEST_START, ids.HARVEST_INTERVAL,
                                 ids.HARVEST_PROGRESS, ids.HARVEST_LOG, ids.HARVEST_CANCEL, ids.HARVEST_RESUME,
                                 ids.HARVEST_RUNS, ids.HARVEST_JOB_STORE}),
    "/app/explore": (explore, {ids.EXPLORE_CONTEXTS, ids.EXPLORE_SIZES, ids.EXPLORE_MEANS, ids.EXPLORE_FEATURE,
                               ids.EXPLORE_DISTRIBUTION, ids.EXPLORE_OVERLAP, ids.EXPLORE_CORRELATION,
                               ids.EXPLORE_VIF, ids.EXPLORE_MAP, ids.EXPLORE_TSNE, ids.EXPLORE_EMPTY}),
    "/app/library": (library, {ids.LIBRARY_IMPORT, ids.LIBRARY_UPLOAD, ids.LIBRARY_SUMMARY}),
    "/app/model": (model_page, {ids.MODEL_TRAIN, ids.MODEL_CONTEXTS, ids.MODEL_CHOICE, ids.MODEL_CURVE}),
    "/app/sort": (sort, {ids.SORT_START, ids.SORT_PANELS, ids.SORT_UNSORTED}),
    "/app/save": (save, {ids.SAVE_PREVIEW, ids.SAVE_START, ids.SAVE_DOWNLOAD, ids.SAVE_PLAYLISTS}),
    "/app/enhance": (enhance, {ids.ENHANCE_START, ids.ENHANCE_RESULTS, ids.ENHANCE_ADD, ids.ENHANCE_ANALYSIS,
                               ids.ENHANCE_JOB_STORE}),
    "/app/discover": (discover, {ids.DISCOVER_START, ids.DISCOVER_RUNS, ids.DISCOVER_LIST, ids.DISCOVER_SAVE}),
    # An empty catalog shows only the empty state; the page's controls are checked in tests/catalog_map.
    "/app/map": (catalog_map, {ids.MAP_EMPTY}),
    "/app/compare": (compare, {ids.COMPARE_START, ids.COMPARE_OTHER, ids.COMPARE_RESULTS, ids.COMPARE_INVITE_CREATE}),
}


@pytest.fixture
def me(app, client):
    user_id = add_user(app, "mira.s")
    session_login(client, user_id)
    return user_id


def test_every_page_module_is_registered():
    assert set(PAGE_MODULES) == {module.__name__ for module, _ in PAGES.values()}


@pytest.mark.parametrize("path", list(PAGES))
def test_each_page_renders_for_a_logged_in_user_with_its_ids(app, client, me, path):
    module, expected = PAGES[path]
    assert client.get(path).status_code == 200
    with app.test_request_context(path):
        session_login_in_request(me)
        tree = module.layout()
    missing = expected - component_ids(tree)
    assert not missing, f"{path} lacks {missing}"


def session_login_in_request(user_id: int) -> None:

    from app.auth.session import log_in  # the id and its server-side session key
    log_in(user_id)


def test_the_page_router_serves_each_layout_through_dash(client, me):
    deps = dependencies(client)
    router = next(dep for dep in deps if "_pages_content.children" in dep["output"])
    for path, (_, expected) in PAGES.items():
        body = payload(router, {"_pages_location.pathname": path, "_pages_location.search": ""},
                       changed=["_pages_location.pathname"])
        response = client.post(UPDATE, json=body)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        served = json.dumps(response.get_json())
        assert all(f'"{cid}"' in served for cid in expected), path


def test_navigation_lists_the_pages_in_order(client, me):
    layout = client.get("/app/_dash-layout").get_data(as_text=True)
    assert layout.index('"Home"') < layout.index('"Contexts"') < layout.index('"Explore"')


def test_every_callback_refuses_an_anonymous_request(app, client, me):
    deps = dependencies(client)
    assert len(deps) >= 7
    anonymous = app.test_client()
    for dep in deps:
        response = anonymous.post(UPDATE, json=payload(dep))
        assert response.status_code == 401, dep["output"]


def test_no_page_renders_raw_html():
    source = "".join(Path(module.__file__).read_text() for module, _ in PAGES.values())
    assert "dangerously" not in source.lower() and "DangerouslySetInnerHTML" not in source
