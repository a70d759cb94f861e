"""Areas 1 and 2: harvest + enrich against the sandbox's real limits, and a 10,000-song library import."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from sandbox.runner import SandboxServer, consent
from benchmarks.common import Table, fresh_instance, median, migrate, run_cli
from benchmarks.naive import naive_enrich

DEEZER_RATE = 50 / 5  # Deezer's documented quota, requests per second
SCOPES = "user-library-read playlist-read-private playlist-modify-private playlist-modify-public"


Cli = Callable[[list[str], dict[str, str]], dict[str, Any]]


def harvest_and_enrich(sandbox: SandboxServer, contexts: list[str], playlists: int, tracks: int, runs: int,
                       naive_sample: int, checks: list[list], cli: Cli = run_cli) -> list[Table]:
    """Harvest + enrich from an empty store `runs` times, then once more on a warm store, then the naive way.

    `cli` runs each command: `run_cli` (a `flask` process, as a user runs it) or `run_cli_in_process`; the
    table says which.
    """
    cold: list[dict[str, Any]] = []
    args = ["harvest", *contexts, "--playlists-per-context", str(playlists), "--tracks-per-playlist", str(tracks),
            "--json"]
    warm_env = None
    for _ in range(runs):
        env = {**fresh_instance(), "CONTEXTIFY_SANDBOX_URL": sandbox.url}
        migrate(env)
        sandbox.reset_counters()
        summary = cli(args, env)
        summary["sandbox_deezer"] = sandbox.counters()["deezer"]["total"]
        cold.append(summary)
        warm_env = env
    sandbox.reset_counters()
    warm = cli(args, warm_env)
    sample = _harvested_names(warm_env, naive_sample)
    sandbox.reset_counters()
    naive = naive_enrich(sandbox.deezer_url, sample)

    typical = sorted(cold, key=lambda s: s["wall_s"])[len(cold) // 2]
    new = max(typical["new_tracks"], 1)
    table = Table(
        f"Harvest + enrich: {len(contexts)} contexts x {playlists} playlists x up to {tracks} tracks",
        "Real limits: the sandbox refuses Deezer beyond 50 requests per 5 s, as Deezer does. The floor is this "
        "run's Deezer calls at 10 per second; a ratio near 1 means the run is as fast as the limit allows (the "
        "first 50 calls of a window are free, so it can dip below 1). Median of the cold runs; the warm run "
        "repeats the same command on the filled store."
        + ("" if cli is run_cli else " Each run is `flask harvest` in the benchmark's process (no process start)."),
        ["run", "new tracks", "deezer calls", "reccobeats calls", "preview downloads", "calls per new track",
         "wall s", "floor s", "wall / floor"])
    for name, summary in (("cold (median of %d)" % runs, typical), ("warm (same store again)", warm)):
        calls = summary["api_calls"]
        table.rows.append([name, summary["new_tracks"], calls["deezer"], calls["reccobeats"], calls["previews"],
                           sum(calls.values()) / new if name.startswith("cold") else "-", summary["wall_s"],
                           calls["deezer"] / DEEZER_RATE, _ratio(summary["wall_s"], calls["deezer"])])
    table.rows.append([f"naive reference, {naive['tracks']} tracks", naive["tracks"], naive["calls"], 0, 0,
                       naive["calls_per_track"], naive["seconds"], naive["calls"] / DEEZER_RATE,
                       _ratio(naive["seconds"], naive["calls"])])
    per_track = Table(
        "Harvest + enrich: per new track, ours against the naive reference",
        "The naive reference (one search by name per track, then the track and its album, sequential, no "
        "cache) enriches a sample of the same tracks with Deezer metadata only; ours also downloads and "
        "analyses the preview and asks ReccoBeats. Cold-run medians.",
        ["approach", "Deezer calls per track", "all calls per track", "seconds per track",
         "cold wall s (all runs)", "agrees with sandbox counters"])
    per_track.rows.append(["contextify", typical["api_calls"]["deezer"] / new, sum(typical["api_calls"].values()) / new,
                           median([s["wall_s"] for s in cold]) / new, ", ".join(f"{s['wall_s']:.1f}" for s in cold),
                           "yes" if all(s["api_calls"]["deezer"] == s["sandbox_deezer"] for s in cold) else "NO"])
    per_track.rows.append(["naive reference", naive["calls_per_track"], naive["calls_per_track"],
                           naive["seconds_per_track"], f"{naive['seconds']:.1f}", "-"])
    ratio = typical["wall_s"] / max(typical["api_calls"]["deezer"] / DEEZER_RATE, 1e-9)
    checks.append(["harvest + enrich wall time <= 1.2 x the rate-limit floor", f"{ratio:.2f} x", ratio <= 1.2])
    return [table, per_track]


def _ratio(wall_s: float, deezer_calls: int) -> float | str:
    return wall_s / (deezer_calls / DEEZER_RATE) if deezer_calls else "- (no calls)"


def _harvested_names(env: dict[str, str], limit: int) -> list[tuple[str, str]]:
    path = env["DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        return conn.execute("SELECT artist, title FROM tracks ORDER BY id LIMIT ?", (limit,)).fetchall()


def library_import(sandbox: SandboxServer, user: str, runs: int, checks: list[list]) -> list[Table]:
    """Import every Liked Song and own playlist of `user`, from an empty store, `runs` times."""
    token = _access_token(sandbox, user)
    results = []
    for _ in range(runs):
        env = {**fresh_instance(), "CONTEXTIFY_SANDBOX_URL": sandbox.url, "SPOTIFY_ACCESS_TOKEN": token}
        migrate(env)
        sandbox.reset_counters()
        summary = run_cli(["import-library", "--user", user, "--no-match", "--json"], env)
        counted = sandbox.counters()["spotify"]
        summary["sandbox_spotify"] = counted["total"]
        summary["sandbox_endpoints"] = counted
        results.append(summary)
    liked = next(u["liked_count"] for u in requests.get(f"{sandbox.url}/__sandbox__/users", timeout=10).json()["users"]
                 if u["id"] == user)
    typical = sorted(results, key=lambda s: s["wall_s"])[len(results) // 2]
    endpoints = typical["sandbox_endpoints"]
    pages = endpoints.get("GET /me/tracks", 0)
    liked_calls = pages + endpoints.get("GET /me", 0) + endpoints.get("GET /me/playlists", 0)
    playlist_items = endpoints.get("GET /playlists/{id}/items", 0)
    table = Table(
        f"Library import: {liked:,} Liked Songs and the user's own playlists",
        "Spotify serves 50 Liked Songs per call, so the floor for the likes is one call per 50, plus /me and the "
        "playlist list; the user's own playlists then cost one call per 50 items. Calls by endpoint come from "
        "the sandbox's counters. Reading only (`--no-match`): matching to Deezer is bound by Deezer's quota "
        "and measured in area 1. Wall time includes the CLI's start and writing everything to SQLite; the "
        "client keeps to 150 Spotify calls per 30 s. Median of the runs.",
        ["liked songs", "Liked Songs pages (floor)", "pages + /me + playlist list", "own playlists' item pages",
         "all spotify calls", "wall s (median)", "wall s (all runs)", "agrees with sandbox counters"])
    calls = typical["api_calls"]["spotify"]
    table.rows.append([liked, f"{pages} ({-(-liked // 50)})", liked_calls, playlist_items, calls, typical["wall_s"],
                       ", ".join(f"{s['wall_s']:.1f}" for s in results),
                       "yes" if all(s["api_calls"]["spotify"] == s["sandbox_spotify"] for s in results) else "NO"])
    per_10k = liked_calls * 10_000 / max(liked, 1)
    checks.append(["library import <= 202 Spotify calls per 10,000 liked songs (pages, /me, playlist list)",
                   f"{per_10k:.0f} per 10,000 ({liked_calls} for {liked:,}; own playlists' items: {playlist_items} "
                   "more)", per_10k <= 202])
    return [table]


def _access_token(sandbox: SandboxServer, user: str) -> str:
    redirect = "http://127.0.0.1:5000/callback"
    url = sandbox.authorize_url + "?" + urlencode({"client_id": "sandbox-client", "response_type": "code",
                                                   "redirect_uri": redirect, "scope": SCOPES, "state": "bench"})
    code = parse_qs(urlsplit(consent(url, user)).query)["code"][0]
    answer = requests.post(sandbox.token_url, auth=("sandbox-client", "sandbox-secret"), timeout=10,
                           data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect})
    answer.raise_for_status()
    return answer.json()["access_token"]
