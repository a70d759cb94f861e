"""The app factory builds a working app: landing page, Dash mount, sandbox banner, commands."""

from __future__ import annotations

from flask_migrate import upgrade

from app import create_app
from tests.auth.helpers import add_user, session_login


def test_landing_page_says_sandbox_mode(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Your Liked Songs, sorted" in body
    assert "Sandbox mode" in body  # the test config has no Spotify credentials


def test_landing_page_without_sandbox_has_no_banner(app_config):
    app = create_app({**app_config, "SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b",
                      "SECRET_KEY": "q7Vd2kLm9XzR4tBn8WcY1pHs6JfG3aEu"})
    body = app.test_client().get("/").get_data(as_text=True)
    assert "Sandbox mode" not in body


def test_dash_is_mounted_under_app_for_a_logged_in_user(app, client):
    session_login(client, add_user(app, "ana.k"))
    response = client.get("/app/")
    assert response.status_code == 200
    assert "_dash-config" in response.get_data(as_text=True)
    layout = client.get("/app/_dash-layout")
    assert layout.status_code == 200
    assert "sandbox-banner" in layout.get_data(as_text=True)
    assert "Ana.K" in layout.get_data(as_text=True), "the header names who is logged in"


def test_two_apps_in_one_process_both_serve_dash(app_config, tmp_path):
    first = create_app(app_config)
    second = create_app({**app_config, "DATABASE_URL": f"sqlite:///{tmp_path}/other.db"})
    for app in (first, second):
        with app.app_context():
            upgrade()
        client = app.test_client()
        session_login(client, add_user(app, "ana.k"))
        assert client.get("/app/_dash-layout").status_code == 200
        assert client.get("/app/_dash-dependencies").status_code == 200


def test_db_command_is_registered(runner):
    result = runner.invoke(args=["db", "--help"])
    assert result.exit_code == 0
    assert "upgrade" in result.output
