"""The sandbox's knobs: one table of SANDBOX_* settings, read from keyword arguments or the environment.

| env var | knob | default | meaning |
|---|---|---|---|
| SANDBOX_SEED | seed | 42 | world seed (also seeds fault draws and new ids) |
| SANDBOX_SCALE | scale | full | world size: full, deep (full with 40-60 playlists per context), medium or small |
| SANDBOX_PROFILE | profile | default | fault profile: default, extended, slow, flaky, hostile, quota, lies |
| SANDBOX_HOST / SANDBOX_PORT | host, port | 127.0.0.1 / 5055 | where `flask sandbox` listens |
| SANDBOX_CSV | csv_path | (none) | optional CSV handed to the world loader |
| SANDBOX_AUDIO_DIR | audio_dir | (none) | folder of real recordings plus metadata.csv: the world is those recordings |
| SANDBOX_LABEL_COLUMNS | label_columns | genre,mood | with audio_dir: metadata columns the playlists and truth come from |
| SANDBOX_CLIENT_ID | client_id | sandbox-client | the one registered Spotify app |
| SANDBOX_CLIENT_SECRET | client_secret | sandbox-secret | its secret |
| SANDBOX_REDIRECT_URIS | redirect_uris | http://127.0.0.1:5000/callback | registered redirect URIs, comma list |
| SANDBOX_TOKEN_TTL | token_ttl | 3600 | access-token lifetime, s |
| SANDBOX_CODE_TTL | code_ttl | 600 | authorization-code lifetime, s |
| SANDBOX_REFRESH_TTL | refresh_ttl | 15552000 | refresh tokens die this long after the original consent (180 days) |
| SANDBOX_REFRESH_ROTATION | refresh_rotation | pkce | new refresh token on refresh: pkce (PKCE grants only), always, never |
| SANDBOX_PREVIEW_TTL | preview_ttl | 900 | lifetime of signed Deezer preview URLs, s |
| SANDBOX_CLIP_SECONDS | clip_seconds | 30 | length of rendered preview clips, s |
| SANDBOX_SPOTIFY_RATE_LIMIT | spotify_rate_limit | 300 | Web API requests per rolling window, whole app |
| SANDBOX_SPOTIFY_RATE_WINDOW | spotify_rate_window | 30 | its window, s |
| SANDBOX_QUOTA_RETRY_AFTER | quota_retry_after | 48925 | Retry-After of the QUOTA_EXCEEDED 429, s |
| SANDBOX_DEEZER_RATE_LIMIT | deezer_rate_limit | 50 | Deezer requests per window per client IP |
| SANDBOX_DEEZER_RATE_WINDOW | deezer_rate_window | 5 | its window, s |
| SANDBOX_RECCOBEATS_RATE_LIMIT | reccobeats_rate_limit | 120 | ReccoBeats requests per window |
| SANDBOX_RECCOBEATS_RATE_WINDOW | reccobeats_rate_window | 60 | its window, s |
| SANDBOX_FAULT_SERVICES | fault_services | spotify,deezer,reccobeats,previews | services the fault profile touches |
| SANDBOX_LATENCY_MS | latency_ms | (profile) | mean added latency, ms |
| SANDBOX_LATENCY_JITTER_MS | latency_jitter_ms | (profile) | its standard deviation, ms |
| SANDBOX_ERROR_RATE | error_rate | (profile) | share of requests answered 5xx |
| SANDBOX_TIMEOUT_RATE | timeout_rate | (profile) | share that hang, then answer 504 |
| SANDBOX_HANG_SECONDS | hang_seconds | (profile) | how long a hung request hangs, s |
| SANDBOX_MALFORMED_RATE | malformed_rate | (profile) | share answered 200 with truncated JSON |
| SANDBOX_STORM_RATE | storm_rate | (profile) | share that start a 429 storm |
| SANDBOX_STORM_SECONDS | storm_seconds | (profile) | how long a storm refuses everything, s |
| SANDBOX_STORM_RETRY_AFTER | storm_retry_after | (profile) | Retry-After sent during a storm, s |
| SANDBOX_SPIKE_RATE | spike_rate | (profile) | share of storm 429s whose Retry-After is a spike |
| SANDBOX_SPIKE_RETRY_AFTER | spike_retry_after | (profile) | the spiked Retry-After, s |
| SANDBOX_LIE_RATE | lie_rate | (profile; 0) | share of track records answered with a lie (tempo 0, duration -1, NaN, …) |

The fault knobs (latency_ms … spike_retry_after) default to the active profile's values (see
`faults.PROFILES`) and, when set, override them for every profile, including ones switched to at runtime.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields

# Fault parameters a knob may override on top of the active profile.
FAULT_KNOBS: dict[str, type] = {
    "latency_ms": float, "latency_jitter_ms": float, "error_rate": float, "timeout_rate": float,
    "hang_seconds": float, "malformed_rate": float, "storm_rate": float, "storm_seconds": float,
    "storm_retry_after": int, "spike_rate": float, "spike_retry_after": int, "lie_rate": float,
}


def _split(value: str | tuple | list) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return tuple(value)


@dataclass
class SandboxConfig:
    """Server-level settings; fault parameters live in `fault_overrides` on top of a profile."""

    seed: int = 42
    scale: str = "full"
    profile: str = "default"
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    redirect_uris: tuple[str, ...] = ("http://127.0.0.1:5000/callback",)
    token_ttl: int = 3600
    code_ttl: int = 600
    refresh_ttl: int = 180 * 24 * 3600
    refresh_rotation: str = "pkce"
    preview_ttl: int = 900
    clip_seconds: float = 30.0
    spotify_rate_limit: int = 300
    spotify_rate_window: float = 30.0
    quota_retry_after: int = 48925
    deezer_rate_limit: int = 50
    deezer_rate_window: float = 5.0
    reccobeats_rate_limit: int = 120
    reccobeats_rate_window: float = 60.0
    fault_services: tuple[str, ...] = ("spotify", "deezer", "reccobeats", "previews")
    fault_overrides: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.redirect_uris = _split(self.redirect_uris)
        self.fault_services = _split(self.fault_services)
        if self.refresh_rotation not in ("pkce", "always", "never"):
            raise ValueError(f"refresh_rotation must be pkce, always or never, not {self.refresh_rotation!r}")


_SERVER_FIELDS = {f.name: f for f in fields(SandboxConfig) if f.name != "fault_overrides"}

# Knobs only the CLI reads (where to listen, which world file to load).
CLI_KNOBS: dict[str, str] = {"host": "SANDBOX_HOST", "port": "SANDBOX_PORT", "csv_path": "SANDBOX_CSV",
                             "audio_dir": "SANDBOX_AUDIO_DIR", "label_columns": "SANDBOX_LABEL_COLUMNS"}

# Every knob with its environment variable, for the README and the CLI.
KNOBS: dict[str, str] = {
    **CLI_KNOBS, **{name: f"SANDBOX_{name.upper()}" for name in [*_SERVER_FIELDS, *FAULT_KNOBS]}}


def _coerce(name: str, value):
    kind = FAULT_KNOBS.get(name) or _SERVER_FIELDS[name].type
    if kind in (int, "int"):
        return int(value)
    if kind in (float, "float"):
        return float(value)
    return value


def build_config(**knobs) -> SandboxConfig:
    """A config from keyword knobs (None values ignored); unknown knob names are an error."""
    server, faults = {}, {}
    for name, value in knobs.items():
        if value is None:
            continue
        if name in FAULT_KNOBS:
            faults[name] = _coerce(name, value)
        elif name in _SERVER_FIELDS:
            server[name] = _coerce(name, value)
        else:
            raise TypeError(f"unknown sandbox knob {name!r}; known: {', '.join(sorted(KNOBS))}")
    return SandboxConfig(**server, fault_overrides=faults)


def knobs_from_env(environ=os.environ) -> dict[str, str]:
    """The SANDBOX_* variables that are set, as knob name -> raw string."""
    return {name: environ[var] for name, var in KNOBS.items() if var in environ}
