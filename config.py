"""contextify's settings, read only from the environment (and an optional `.env` file)."""

from __future__ import annotations

import math
import os
import secrets
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from dotenv import load_dotenv

ROOT = Path(__file__).resolve().parent
DEFAULT_INSTANCE_DIR = ROOT / "instance"
DEFAULT_SANDBOX_URL = "http://127.0.0.1:5055"
DEFAULT_REDIRECT_URI = "http://127.0.0.1:5000/callback"
SANDBOX_CLIENT_ID = "sandbox-client"
SANDBOX_CLIENT_SECRET = "sandbox-secret"
# Three: the harvest, the library import and the progressive sorting that waits on them run side by side.
DEFAULT_JOB_WORKERS = 3
DEFAULT_COMPARE_MIN_TRACKS = 50
DEFAULT_LOGIN_RATE_LIMIT = "20 per minute"
DEFAULT_JOB_RATE_LIMIT = "30 per minute"
# A 20 MB library file travels base64-encoded (4/3 larger) inside a Dash callback's JSON: 32 MB leaves room.
DEFAULT_MAX_REQUEST_MB = 32
DEFAULT_SYNC_CHECK_SECONDS = 300
SYNC_SCHEDULERS = ("auto", "on", "off")

# Where each outside service lives, and where it lives inside the sandbox (one port, one prefix each).
REAL_SERVICE_URLS = {
    "SPOTIFY_ACCOUNTS_URL": "https://accounts.spotify.com",
    "SPOTIFY_API_URL": "https://api.spotify.com/v1",
    "DEEZER_API_URL": "https://api.deezer.com",
    "RECCOBEATS_API_URL": "https://api.reccobeats.com/v1",
}
SANDBOX_SERVICE_PATHS = {
    "SPOTIFY_ACCOUNTS_URL": "/accounts",
    "SPOTIFY_API_URL": "/spotify/v1",
    "DEEZER_API_URL": "/deezer",
    "RECCOBEATS_API_URL": "/reccobeats/v1",
}

# Every variable the app reads: name -> (default shown in the README, meaning). The README's
# configuration table is checked against this by a test, so the two cannot drift apart.
VARIABLES: dict[str, tuple[str, str]] = {
    "SECRET_KEY": ("none (required with real Spotify; generated and kept in `instance/` in sandbox or debug mode)",
                   "Signs sessions and derives the key that encrypts stored OAuth tokens. With real Spotify it must be "
                   "at least 32 characters with about 80 bits of estimated entropy (`TESTING=1` does not relax this)."),
    "DATABASE_URL": ("`sqlite:///instance/contextify.db`", "SQLAlchemy URL of the database (SQLite or PostgreSQL)."),
    "SPOTIFY_CLIENT_ID": ("none: sandbox mode", "Client id of your Spotify app. Unset means sandbox mode."),
    "SPOTIFY_CLIENT_SECRET": ("none", "Client secret of your Spotify app."),
    "SPOTIFY_REDIRECT_URI": (f"`{DEFAULT_REDIRECT_URI}`", "Redirect URI registered for your Spotify app."),
    "SPOTIFY_ACCOUNTS_URL": ("`https://accounts.spotify.com`", "Base URL of Spotify Accounts (OAuth)."),
    "SPOTIFY_API_URL": ("`https://api.spotify.com/v1`", "Base URL of the Spotify Web API."),
    "DEEZER_API_URL": ("`https://api.deezer.com`", "Base URL of Deezer's public API."),
    "RECCOBEATS_API_URL": ("`https://api.reccobeats.com/v1`", "Base URL of the ReccoBeats API."),
    "CONTEXTIFY_SANDBOX_URL": (f"none (`{DEFAULT_SANDBOX_URL}` in sandbox mode)",
                               "When set, every service URL above derives from it (`/accounts`, `/spotify/v1`, "
                               "`/deezer`, `/reccobeats/v1`)."),
    "CONTEXTIFY_RECCOBEATS_AUDIO": ("`0`", "Set to `1` to also upload each track's 30-s preview to ReccoBeats' audio "
                                    "analysis whenever previews are analysed (provider `reccobeats_audio`): "
                                    "Spotify-style features for any track with a preview. Off by default because "
                                    "it sends audio to a third party."),
    "CELERY_BROKER_URL": ("none", "Redis URL of a Celery broker. Background jobs run on Celery workers "
                          "(`celery -A app.jobs.celery_app worker`) when it is set, and in the web process otherwise."),
    "RATE_LIMIT_REDIS_URL": ("none (`CELERY_BROKER_URL` when it is a Redis URL)",
                             "Redis URL where every process shares each service's rate-limit window, so several "
                             "web and worker processes together stay inside Deezer's, Spotify's and ReccoBeats' "
                             "limits. Unset and without a Redis broker, each process keeps its own window."),
    "CONTEXTIFY_JOB_WORKERS": (f"`{DEFAULT_JOB_WORKERS}`",
                               "Background jobs run at once by the in-process job runner (ignored with Celery): "
                               "three lets progressive sorting run beside a harvest and a library import."),
    "CONTEXTIFY_COMPARE_MIN_TRACKS": (f"`{DEFAULT_COMPARE_MIN_TRACKS}`",
                                      "Compare refuses a second library with fewer tracks than this."),
    "CONTEXTIFY_LOGIN_RATE_LIMIT": (f"`{DEFAULT_LOGIN_RATE_LIMIT}`",
                                    "Logins (`/login` and `/callback`) one address may start, e.g. `20 per minute` "
                                    "or `100/hour`; over it the visitor gets a 429 page saying when to retry. Kept in "
                                    "Redis when `RATE_LIMIT_REDIS_URL` or a Redis broker is set, else per process."),
    "CONTEXTIFY_JOB_RATE_LIMIT": (f"`{DEFAULT_JOB_RATE_LIMIT}`",
                                  "Background jobs one user may start (harvest, import, train, sort, save, ...), "
                                  "in the same notation; over it the page says to wait."),
    "CONTEXTIFY_MAX_REQUEST_MB": (f"`{DEFAULT_MAX_REQUEST_MB}`",
                                  "Largest request body accepted, in MB (a bigger one gets a plain 413 page); it must "
                                  "hold a 20 MB library file upload, base64-encoded."),
    "CONTEXTIFY_SYNC_SCHEDULER": ("`auto`",
                                  "Who starts the playlist syncs: `auto` runs a scheduler thread in each web process "
                                  "when there is no broker (with `CELERY_BROKER_URL`, the Procfile's `beat` process "
                                  "does), `on` runs it in the web process regardless, `off` never (then run "
                                  "`flask sync-due` from cron). Any number of schedulers run each sync once."),
    "CONTEXTIFY_SYNC_CHECK_SECONDS": (f"`{DEFAULT_SYNC_CHECK_SECONDS}`",
                                      "How often the scheduler looks for users whose daily or weekly sync is due."),
    "CONTEXTIFY_INSTANCE_DIR": ("`instance/`", "Folder for the SQLite database, the generated sandbox key and logs."),
    "CONTEXTIFY_PROVIDERS": ("`deezer,preview,reccobeats,musicnn` (without `musicnn` where its weights are not "
                             "installed)",
                             "Feature providers an enrichment uses when none are named (`flask enrich`, harvests, "
                             "imports, jobs). `musicnn`, the learned audio representation, works offline from the "
                             "shared preview download and costs about half a core-second per preview; leave it out "
                             "(`deezer,preview,reccobeats`) on a deployment short of cores. With "
                             "`CONTEXTIFY_RECCOBEATS_AUDIO=1`, `reccobeats_audio` joins any list that has `preview`."),
    "LOG_LEVEL": ("`INFO`", "Python logging level of the app's log lines."),
    "FLASK_DEBUG": ("`0`", "Flask debug mode; also allows running without SECRET_KEY."),
}


class ConfigError(RuntimeError):
    """The environment does not describe a runnable contextify; the message says how to fix it."""


def load_settings(environ: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from an environment (default: `os.environ` plus `.env`)."""
    if environ is None:
        load_dotenv(ROOT / ".env", override=False)
        environ = os.environ
    env = {key: value for key, value in environ.items() if value not in (None, "")}

    instance_dir = Path(env.get("CONTEXTIFY_INSTANCE_DIR", DEFAULT_INSTANCE_DIR))
    debug = _flag(env.get("FLASK_DEBUG"))
    has_spotify_app = "SPOTIFY_CLIENT_ID" in env
    sandbox_url = env.get("CONTEXTIFY_SANDBOX_URL") or (None if has_spotify_app else DEFAULT_SANDBOX_URL)
    sandbox_mode = sandbox_url is not None

    settings: dict[str, Any] = {
        "INSTANCE_DIR": str(instance_dir),
        "DEBUG": debug,
        "TESTING": _flag(env.get("TESTING")),
        "SANDBOX_MODE": sandbox_mode,
        "CONTEXTIFY_SANDBOX_URL": sandbox_url,
        "SQLALCHEMY_DATABASE_URI": _database_url(env.get("DATABASE_URL"), instance_dir),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "SPOTIFY_CLIENT_ID": env.get("SPOTIFY_CLIENT_ID", SANDBOX_CLIENT_ID if sandbox_mode else None),
        "SPOTIFY_CLIENT_SECRET": env.get("SPOTIFY_CLIENT_SECRET",
                                         SANDBOX_CLIENT_SECRET if sandbox_mode else None),
        "SPOTIFY_REDIRECT_URI": env.get("SPOTIFY_REDIRECT_URI", DEFAULT_REDIRECT_URI),
        "CELERY_BROKER_URL": env.get("CELERY_BROKER_URL"),
        "RATE_LIMIT_REDIS_URL": env.get("RATE_LIMIT_REDIS_URL"),
        "CONTEXTIFY_RECCOBEATS_AUDIO": _flag(env.get("CONTEXTIFY_RECCOBEATS_AUDIO")),
        "CONTEXTIFY_PROVIDERS": _providers(env),
        "CONTEXTIFY_JOB_WORKERS": _positive_int(env, "CONTEXTIFY_JOB_WORKERS", DEFAULT_JOB_WORKERS),
        "CONTEXTIFY_COMPARE_MIN_TRACKS": _positive_int(env, "CONTEXTIFY_COMPARE_MIN_TRACKS",
                                                       DEFAULT_COMPARE_MIN_TRACKS),
        "LOG_LEVEL": str(env.get("LOG_LEVEL", "INFO")).upper(),
        "CONTEXTIFY_LOGIN_RATE_LIMIT": _rate_limit(env, "CONTEXTIFY_LOGIN_RATE_LIMIT", DEFAULT_LOGIN_RATE_LIMIT),
        "CONTEXTIFY_JOB_RATE_LIMIT": _rate_limit(env, "CONTEXTIFY_JOB_RATE_LIMIT", DEFAULT_JOB_RATE_LIMIT),
        "CONTEXTIFY_SYNC_SCHEDULER": _choice(env, "CONTEXTIFY_SYNC_SCHEDULER", SYNC_SCHEDULERS),
        "CONTEXTIFY_SYNC_CHECK_SECONDS": _positive_int(env, "CONTEXTIFY_SYNC_CHECK_SECONDS",
                                                       DEFAULT_SYNC_CHECK_SECONDS),
        "MAX_CONTENT_LENGTH": _positive_int(env, "CONTEXTIFY_MAX_REQUEST_MB", DEFAULT_MAX_REQUEST_MB) * 1024 * 1024,
    }
    settings.update(_service_urls(env, sandbox_url))
    settings.update(_session_cookie(settings["SPOTIFY_REDIRECT_URI"]))
    if has_spotify_app and not env.get("SPOTIFY_CLIENT_SECRET"):
        raise ConfigError("SPOTIFY_CLIENT_ID is set but SPOTIFY_CLIENT_SECRET is not. Copy both from your app's "
                          "page on developer.spotify.com/dashboard, or unset SPOTIFY_CLIENT_ID to run in sandbox mode.")
    settings["SECRET_KEY"] = _secret_key(env, relaxed=sandbox_mode or debug,
                                         instance_dir=instance_dir)
    return settings


def _providers(env: Mapping[str, Any]) -> tuple[str, ...]:
    from app.pipeline.providers import default_providers

    try:
        return default_providers(env.get("CONTEXTIFY_PROVIDERS"), _flag(env.get("CONTEXTIFY_RECCOBEATS_AUDIO")))
    except ValueError as exc:
        raise ConfigError(f"{exc}.") from None


def _flag(value: Any) -> bool:
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def _choice(env: Mapping[str, Any], name: str, choices: tuple[str, ...]) -> str:
    value = str(env.get(name, choices[0])).strip().lower()
    if value not in choices:
        raise ConfigError(f"{name} is {value!r}; it must be one of {', '.join(choices)}.")
    return value


def _positive_int(env: Mapping[str, Any], name: str, default: int) -> int:
    raw = env.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return value


def _rate_limit(env: Mapping[str, Any], name: str, default: str) -> str:
    from limits import parse_many  # Flask-Limiter's own notation, checked now rather than on the first request

    value = str(env.get(name, default)).strip()
    try:
        parse_many(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as '20 per minute' or '100/hour', not {value!r}.") from None
    return value


def _session_cookie(redirect_uri: str) -> dict[str, Any]:
    # Lax: the cookie still comes along on Spotify's top-level redirect back to /callback, but not on
    # cross-site form posts. Secure whenever the app is served over HTTPS (its redirect URI says so).
    return {"SESSION_COOKIE_SAMESITE": "Lax", "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SECURE": redirect_uri.startswith("https://")}


def _database_url(url: str | None, instance_dir: Path) -> str:
    if not url:
        return f"sqlite:///{instance_dir / 'contextify.db'}"
    # Heroku-style and some Elastic Beanstalk setups still hand out the scheme SQLAlchemy 2 dropped.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url


def _service_urls(env: Mapping[str, Any], sandbox_url: str | None) -> dict[str, str]:
    urls = {}
    for name, real in REAL_SERVICE_URLS.items():
        if sandbox_url and "CONTEXTIFY_SANDBOX_URL" in env:
            # An explicit sandbox URL wins over individual service URLs, so one variable switches the world.
            urls[name] = sandbox_url.rstrip("/") + SANDBOX_SERVICE_PATHS[name]
        elif name in env:
            urls[name] = str(env[name]).rstrip("/")
        elif sandbox_url:
            urls[name] = sandbox_url.rstrip("/") + SANDBOX_SERVICE_PATHS[name]
        else:
            urls[name] = real
    return urls


def _secret_key(env: Mapping[str, Any], *, relaxed: bool, instance_dir: Path) -> str:
    """The key from the environment; with real Spotify (and not debug mode) it must be set and strong.

    `TESTING=1` relaxes nothing here: a test of production settings must pass a production-grade key.
    """
    given = str(env["SECRET_KEY"]) if env.get("SECRET_KEY") else None
    if given is None and relaxed:
        return _persistent_dev_key(instance_dir)
    if given is None:
        raise ConfigError(
            "SECRET_KEY is not set. contextify signs sessions and encrypts stored Spotify tokens with it, so it "
            "refuses to start with real Spotify credentials without one. " + _GENERATE_KEY)
    if not relaxed:
        weakness = secret_weakness(given)
        if weakness:
            raise ConfigError(f"SECRET_KEY is too weak for real Spotify accounts: {weakness}. " + _GENERATE_KEY)
    return given


_GENERATE_KEY = (
    "Generate one with\n"
    "    python -c \"import secrets; print(secrets.token_urlsafe(48))\"\n"
    "and set it in the environment (export SECRET_KEY=...) or in a .env file next to config.py. "
    "Keep it stable: changing it makes stored tokens unreadable and users must log in again.")
MIN_SECRET_CHARS = 32
MIN_SECRET_BITS = 80


def secret_weakness(key: str) -> str | None:
    """Why `key` cannot protect sessions and stored tokens, or None when it can.

    Length alone is not enough (`aaaa...` or a sentence repeated), so the key's entropy is estimated from its
    own character frequencies (Shannon, per character, times its length) and must reach 80 bits (the estimate
    runs low: `secrets.token_hex(16)`, 128 random bits, scored 92 at the least in 100,000 draws;
    `secrets.token_urlsafe(48)` about 350), and a key that is a shorter text repeated is refused.
    """
    if len(key) < MIN_SECRET_CHARS:
        return f"it is {len(key)} characters long; at least {MIN_SECRET_CHARS} are needed"
    counts = Counter(key)
    per_char = -sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    bits = per_char * len(key)
    if bits < MIN_SECRET_BITS or len(counts) < 10:
        return (f"it repeats too few different characters (about {max(0, round(bits))} bits of entropy; at least "
                f"{MIN_SECRET_BITS} are needed)")
    if any(key == (key[:period] * (len(key) // period + 1))[:len(key)] for period in range(1, len(key) // 2 + 1)):
        return "it is a shorter text repeated"
    return None


def _persistent_dev_key(instance_dir: Path) -> str:
    """A random key kept in the instance folder, so sandbox tokens survive a restart of `make demo`."""
    path = instance_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key + "\n")
    path.chmod(0o600)
    return key
