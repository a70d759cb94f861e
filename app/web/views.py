"""Routes of the plain Flask pages."""

from __future__ import annotations

from flask import redirect, render_template, url_for

from app.web import bp


@bp.get("/")
def index() -> str:
    return render_template("index.html")


@bp.get("/glossary")
def glossary() -> str:
    """The words that remain on a listener's pages, and the technical ones under "How this was measured"."""
    return render_template("glossary.html")


@bp.get("/favicon.ico")
def favicon():
    # Browsers ask for /favicon.ico on their own; the icon itself is the SVG the templates link to.
    return redirect(url_for("static", filename="favicon.svg"), code=301)
