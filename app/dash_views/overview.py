"""The overview page: what contextify holds so far, read from the store."""

from __future__ import annotations

from dash import html
from sqlalchemy import func, select

from app.extensions import db
from app.storage.models import Context, Label, Track

PAGE = {"path": "/", "name": "Overview", "title": "contextify · Overview", "order": 0}


def catalog_counts() -> dict[str, int]:
    """Sizes of the shared catalog: tracks, contexts and labels."""
    return {
        "tracks": db.session.scalar(select(func.count()).select_from(Track)) or 0,
        "contexts": db.session.scalar(select(func.count()).select_from(Context)) or 0,
        "labels": db.session.scalar(select(func.count()).select_from(Label)) or 0,
    }


def layout(**_query) -> html.Div:
    counts = catalog_counts()
    return html.Div([
        html.H1("Overview"),
        html.P("The shared catalog contextify has learned from so far."),
        html.Ul([html.Li(f"{value:,} {name}", id=f"count-{name}") for name, value in counts.items()]),
    ])
