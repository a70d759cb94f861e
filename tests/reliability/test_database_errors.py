"""Which database errors read as "briefly unavailable" (503) and which stay bugs (500)."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, ProgrammingError

from app.auth.errors import is_database_outage


class DriverError(Exception):
    pass


@pytest.mark.parametrize(("error", "outage"), [
    (OperationalError("SELECT 1", {}, DriverError("connection refused")), True),
    (InterfaceError("SELECT 1", {}, DriverError("connection already closed"), connection_invalidated=True), True),
    (IntegrityError("INSERT", {}, DriverError("duplicate key")), False),
    (ProgrammingError("SELEC", {}, DriverError("syntax error")), False),
    (ValueError("not a database error"), False),
])
def test_only_lost_connections_count_as_an_outage(error, outage):
    assert is_database_outage(error) is outage


@pytest.mark.parametrize(("error", "status"), [
    (OperationalError("SELECT 1", {}, DriverError("server closed the connection unexpectedly")), 503),
    (IntegrityError("INSERT", {}, DriverError("duplicate key")), 500),
])
def test_an_outage_is_a_503_page_and_a_failing_query_stays_a_500(app_config, error, status):
    from app import create_app

    app = create_app({**app_config, "TESTING": ""})  # TESTING would re-raise the 500 instead of answering it

    @app.get("/boom")
    def boom():  # noqa: ANN202
        raise error

    page = app.test_client().get("/boom")
    assert page.status_code == status
    if status == 503:
        assert "briefly unavailable" in page.get_data(as_text=True) and page.headers["Retry-After"]
        answer = app.test_client().get("/boom", headers={"Accept": "application/json"})
        assert answer.status_code == 503 and answer.get_json()["error"] == "database unavailable"
