"""Fixtures for the security tests: an app whose every service is a small-world sandbox, and two users."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.jobs import runner
from tests.auth.helpers import sandbox_app


@pytest.fixture
def site(app_config, sandbox):
    """An app pointed at a running sandbox, on a fresh database; its job runner is stopped afterwards."""
    app = sandbox_app(app_config, sandbox)
    yield app
    runner.shutdown(app)
    with app.app_context():
        db.engine.dispose()
