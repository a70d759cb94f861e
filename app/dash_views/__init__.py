"""The Dash app mounted at /app/: one module per page, each with `PAGE` metadata and a `layout()` function."""

from __future__ import annotations

import functools
import threading
from importlib import import_module

import dash
from dash import dcc, html
from flask import Flask

URL_BASE = "/app/"

# Page modules in navigation order. Pages are registered explicitly (not by scanning a folder) and
# callbacks are attached per Dash instance through `register_callbacks(dash_app)`, because Dash's
# global callback list is emptied by the first app that starts: a second create_app() in the same
# process (tests, gunicorn preload) would otherwise come up without callbacks.
PAGE_MODULES = ("app.dash_views.overview", "app.dash_views.contexts", "app.dash_views.explore",
                "app.dash_views.library", "app.dash_views.model_page", "app.dash_views.sort", "app.dash_views.save",
                "app.dash_views.enhance", "app.dash_views.discover", "app.dash_views.catalog_map",
                "app.dash_views.compare")


def init_dash(server: Flask) -> dash.Dash:
    dash_app = dash.Dash(
        __name__,
        server=server,
        url_base_pathname=URL_BASE,
        use_pages=True,
        pages_folder="",
        title="contextify",
        external_stylesheets=["/static/contextify.css"],
        suppress_callback_exceptions=True,
    )
    for name in PAGE_MODULES:
        module = import_module(name)
        dash.register_page(name, layout=module.layout, **module.PAGE)
        if hasattr(module, "register_callbacks"):
            module.register_callbacks(dash_app)
    dash_app.layout = _shell(server)
    _serialise_first_request(server)
    return dash_app


def _serialise_first_request(server: Flask) -> None:
    """Run Dash's first-request setup hooks one thread at a time.

    Dash marks its setup done before doing it, so a second thread arriving meanwhile (gunicorn's threads, the
    first seconds after a deploy) serves from half-built callback maps and answers 500 (seen under load).
    """
    lock = threading.Lock()
    hooks = server.before_request_funcs.setdefault(None, [])
    for index, hook in enumerate(hooks):
        if getattr(hook, "__qualname__", "").startswith("Dash."):
            hooks[index] = _one_at_a_time(hook, lock)


def _one_at_a_time(hook, lock: threading.Lock):
    finished = False

    @functools.wraps(hook)
    def run():
        nonlocal finished
        if finished:  # after the first request the hook returns at once: no lock on the hot path
            return hook()
        with lock:
            result = hook()
            finished = True
            return result

    return run


def _shell(server: Flask):
    def layout():
        banner = None
        if server.config["SANDBOX_MODE"]:
            banner = html.Div(
                f"Sandbox mode: contextify is talking to the local sandbox at {server.config['CONTEXTIFY_SANDBOX_URL']}, "
                "a generated music world, not to real Spotify.",
                className="sandbox-banner", role="status", id="sandbox-banner",
            )
        nav = html.Nav([dcc.Link(page["name"], href=page["relative_path"]) for page in dash.page_registry.values()])
        header = html.Header([html.A("contextify", href="/", className="brand"), nav, _account_menu()],
                             className="site-header")
        return html.Div([banner, header, html.Main(dash.page_container)])

    return layout


def _account_menu() -> html.Div:
    """Who is logged in, with links to the account page and to log out (a confirmation form at /logout)."""
    from app.auth.session import current_user

    user = current_user()
    name = (user.display_name or user.spotify_id) if user else ""
    return html.Div([html.Span(name, id="current-user"), html.A("Words explained", href="/glossary"),
                     html.A("Account", href="/account"),
                     html.A("Log out", href="/logout")], className="account-menu")
