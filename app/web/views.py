"""Routes of the plain Flask pages."""

from __future__ import annotations

from flask import render_template

from app.web import bp


@bp.get("/")
def index() -> str:
    return render_template("index.html")
