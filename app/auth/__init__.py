"""Login with Spotify, the signed session that remembers who is logged in, and the encrypted token store."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from app.auth import local_views, views  # noqa: E402,F401  (registers the routes on bp)
