"""The app factory builds a working app: landing page, Dash mount, sandbox banner, commands."""

from __future__ import annotations

from app import create_app


def test_landing_page_says_sandbox_mode(client):
    response = client.get("/")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Your Liked Songs, sorted" in body
    assert "Sandbox mode" in body  # the test config has no Spotify credentials


def test_landing_page_without_sandbox_has_no_banner(app_config):
    app = create_app({**app_config, "SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b"})
    body = app.test_client().get("/").get_data(as_text=True)
    assert "Sandbox mode" not in body


def test_dash_is_mounted_under_app(client):
    response = client.get("/app/")
    assert response.status_code == 200
    assert "_dash-renderer" in response.get_data(as_text=True) or "dash" in response.get_data(as_text=True)
    layout = client.get("/app/_dash-layout")
    assert layout.status_code == 200
    assert "sandbox-banner" in layout.get_data(as_text=True)


def test_two_apps_in_one_process_both_serve_dash(app_config, tmp_path):
    first = create_app(app_config)
    second = create_app({**app_config, "DATABASE_URL": f"sqlite:///{tmp_path}/other.db"})
    for app in (first, second):
        assert app.test_client().get("/app/_dash-layout").status_code == 200


def test_db_command_is_registered(runner):
    result = runner.invoke(args=["db", "--help"])
    assert result.exit_code == 0
    assert "upgrade" in result.output
