"""Configuration comes only from the environment, and refuses to run insecurely."""

from __future__ import annotations

import pytest

from app import create_app
from config import ConfigError, load_settings

STRONG_KEY = "q7Vd2kLm9XzR4tBn8WcY1pHs6JfG3aEu"  # 32 characters, 32 different ones


def test_real_spotify_without_secret_key_is_refused_with_instructions(tmp_path):
    env = {"SPOTIFY_CLIENT_ID": "abc", "SPOTIFY_CLIENT_SECRET": "def", "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)}
    with pytest.raises(ConfigError) as excinfo:
        load_settings(env)
    message = str(excinfo.value)
    assert "SECRET_KEY is not set" in message
    assert "secrets.token_urlsafe" in message and "export SECRET_KEY=" in message


def test_factory_refuses_to_build_without_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        create_app({"SPOTIFY_CLIENT_ID": "abc", "SPOTIFY_CLIENT_SECRET": "def",
                    "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})


def test_client_id_without_secret_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="SPOTIFY_CLIENT_ID is set but SPOTIFY_CLIENT_SECRET is not"):
        load_settings({"SPOTIFY_CLIENT_ID": "abc", "SECRET_KEY": "k", "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})


def test_no_credentials_means_sandbox_mode_with_a_kept_secret_key(tmp_path):
    first = load_settings({"CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
    second = load_settings({"CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
    assert first["SANDBOX_MODE"] is True
    assert first["SPOTIFY_CLIENT_ID"] == "sandbox-client"
    assert first["SPOTIFY_API_URL"] == "http://127.0.0.1:5055/spotify/v1"
    assert len(first["SECRET_KEY"]) >= 32
    assert first["SECRET_KEY"] == second["SECRET_KEY"], "the generated key must survive a restart"


def test_debug_mode_allows_running_without_secret_key(tmp_path):
    settings = load_settings({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b", "FLASK_DEBUG": "1",
                              "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
    assert settings["SANDBOX_MODE"] is False and settings["SECRET_KEY"]


def test_real_credentials_use_real_service_urls(tmp_path):
    settings = load_settings({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b", "SECRET_KEY": STRONG_KEY,
                              "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
    assert settings["SANDBOX_MODE"] is False
    assert settings["SPOTIFY_ACCOUNTS_URL"] == "https://accounts.spotify.com"
    assert settings["SPOTIFY_API_URL"] == "https://api.spotify.com/v1"
    assert settings["DEEZER_API_URL"] == "https://api.deezer.com"
    assert settings["RECCOBEATS_API_URL"] == "https://api.reccobeats.com/v1"
    assert settings["SPOTIFY_REDIRECT_URI"] == "http://127.0.0.1:5000/callback"


def test_sandbox_url_derives_every_service_url_even_over_individual_ones(tmp_path):
    settings = load_settings({"CONTEXTIFY_SANDBOX_URL": "http://127.0.0.1:7000/", "SECRET_KEY": "k",
                              "DEEZER_API_URL": "https://api.deezer.com",
                              "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
    assert settings["SPOTIFY_ACCOUNTS_URL"] == "http://127.0.0.1:7000/accounts"
    assert settings["SPOTIFY_API_URL"] == "http://127.0.0.1:7000/spotify/v1"
    assert settings["DEEZER_API_URL"] == "http://127.0.0.1:7000/deezer"
    assert settings["RECCOBEATS_API_URL"] == "http://127.0.0.1:7000/reccobeats/v1"


def test_individual_service_url_overrides_real_default(tmp_path):
    settings = load_settings({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b", "SECRET_KEY": STRONG_KEY,
                              "DEEZER_API_URL": "http://deezer.internal/", "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
    assert settings["DEEZER_API_URL"] == "http://deezer.internal"


@pytest.mark.parametrize(("given", "expected"), [
    (None, "sqlite:///{instance}/contextify.db"),
    ("postgres://u@h/db", "postgresql://u@h/db"),
    ("postgresql://u@h/db", "postgresql://u@h/db"),
])
def test_database_url(tmp_path, given, expected):
    env = {"CONTEXTIFY_INSTANCE_DIR": str(tmp_path), "SECRET_KEY": "k"}
    if given:
        env["DATABASE_URL"] = given
    assert load_settings(env)["SQLALCHEMY_DATABASE_URI"] == expected.format(instance=tmp_path)


def test_readme_documents_every_variable():
    from pathlib import Path

    import config

    readme = (Path(config.ROOT) / "README.md").read_text()
    missing = [name for name in config.VARIABLES if f"`{name}`" not in readme]
    assert not missing, f"README's configuration table lacks {missing}"


@pytest.mark.parametrize(("key", "why"), [
    ("x", "1 characters long"),
    ("test-secret-key", "15 characters long"),
    ("a" * 64, "too few different characters"),
    ("0101010101010101010101010101010101010101", "too few different characters"),
    ("correct horse battery staple correct horse battery staple ", "a shorter text repeated"),
])
def test_production_refuses_a_weak_secret_key_even_with_testing_set(tmp_path, key, why):
    for testing in ("0", "1"):
        with pytest.raises(ConfigError, match=f"SECRET_KEY is too weak.*{why}"):
            load_settings({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b", "SECRET_KEY": key,
                           "TESTING": testing, "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})


def test_testing_does_not_skip_the_key_check_in_production(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY is not set"):
        load_settings({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b", "TESTING": "1",
                       "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})


def test_production_accepts_generated_keys(tmp_path):
    import secrets

    for key in [secrets.token_urlsafe(48) for _ in range(200)] + [secrets.token_hex(16) for _ in range(200)]:
        settings = load_settings({"SPOTIFY_CLIENT_ID": "a", "SPOTIFY_CLIENT_SECRET": "b", "SECRET_KEY": key,
                                  "CONTEXTIFY_INSTANCE_DIR": str(tmp_path)})
        assert settings["SECRET_KEY"] == key
