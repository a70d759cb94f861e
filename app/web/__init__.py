"""The plain Flask pages around the Dash app: the landing page, and later login and account pages."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from app.web import views  # noqa: E402,F401  (registers the routes on bp)
