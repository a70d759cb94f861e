"""The plain Flask pages around the Dash app: landing, login and account pages, their guard, CSRF and error pages."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from app.web import views  # noqa: E402,F401  (registers the routes on bp)
