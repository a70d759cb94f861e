"""The home page: the five steps from context names to playlists, where the user stands, and the catalog so far."""

from __future__ import annotations

from typing import Any

from dash import dcc, html
from sqlalchemy import func, select

from app.auth.session import require_user_id
from app.dash_views import ids, sync_section
from app.dash_views.components import page_header
from app.dash_views.harvests import current_harvest, status_text
from app.extensions import db
from app.storage.tables import Context, Label, Track

PAGE = {"path": "/", "name": "Home", "title": "contextify", "order": 0}

# (title, what it does, page path or None while the page does not exist yet)
STEPS = (
    ("Contexts", "Name the situations you want playlists for and harvest public playlists for each.", "/app/contexts"),
    ("Explore", "See how the contexts differ and overlap before a model learns them.", "/app/explore"),
    ("Library", "Import your Liked Songs and playlists, so the model learns only from features they have.",
     "/app/library"),
    ("Model", "Train a model that recognises each context, with a precision it promises.", "/app/model"),
    ("Sort", "Let the model sort your library; move each playlist's cutoff and keep or drop tracks.", "/app/sort"),
    ("Save", "Review each playlist, then save it to Spotify or export it.", "/app/save"),
)

# The other ways to use what contextify learns (issue 7), each a page of its own.
MORE = (
    ("Enhance", "Suggestions of liked songs for the playlists you made yourself.", "/app/enhance"),
    ("Discover", "Songs you have never saved, ranked by how much your library says you would like them.",
     "/app/discover"),
    ("Map", "The catalog on a map: any two features, clusters, and a genre guess for any track.", "/app/map"),
    ("Compare", "Your taste beside a friend's: what sets them apart, and songs you would both like.",
     "/app/compare"),
)


def catalog_counts() -> dict[str, int]:
    """Sizes of the shared catalog: tracks, contexts and labels."""
    return {
        "tracks": db.session.scalar(select(func.count()).select_from(Track)) or 0,
        "contexts": db.session.scalar(select(func.count()).select_from(Context)) or 0,
        "labels": db.session.scalar(select(func.count()).select_from(Label)) or 0,
    }


def steps() -> html.Ol:
    items = []
    for number, (title, what, href) in enumerate(STEPS, start=1):
        heading = dcc.Link(title, href=href) if href else html.Span(title)
        items.append(html.Li([html.Span(str(number), className="step-number"),
                              html.Div([html.H3(heading), html.P(what),
                                        None if href else html.Small("Coming soon", className="badge")])],
                             className="step" if href else "step later"))
    return html.Ol(items, id=ids.HOME_STEPS, className="steps")


def layout(**_query: Any) -> html.Div:
    harvest = current_harvest(require_user_id())
    counts = catalog_counts()
    return html.Div([
        page_header("Your Liked Songs, sorted by context",
                    "Six steps from a few context names to playlists on your Spotify account."),
        steps(),
        sync_section.digest_section(require_user_id()),
        html.Section([
            html.H2("More ways to use what contextify learns"),
            html.Ul([html.Li([dcc.Link(title, href=href), f": {what}"]) for title, what, href in MORE],
                    id=ids.HOME_MORE, className="more-modes"),
        ], className="card"),
        html.Section([html.H2("Latest harvest"), html.P(status_text(harvest)),
                      dcc.Link("Open Contexts", href="/app/contexts")], className="card"),
        html.Section([
            html.H2("What contextify has learned from so far"),
            html.Ul([html.Li(f"{value:,} {name}", id=f"count-{name}") for name, value in counts.items()],
                    className="counts"),
        ], className="card"),
    ], className="page home-page")
