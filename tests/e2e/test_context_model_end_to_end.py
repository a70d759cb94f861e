"""Harvest, import, enrich, train, sort and save against the sandbox, and hold every playlist to its promise.

Other harvested contexts are the model's background ("none of these"), and the model estimates the
library's own mix before choosing its cutoffs. The rule checked on the playlists saved to the
sandbox's Spotify: each realises, against the sandbox's hidden truth, at least the promise shown minus
0.05 (from 30 tracks on; a smaller playlist must not fall significantly short). A context that cannot
keep its target gets no playlist.
"""

from __future__ import annotations

import json

import pandas as pd
import requests
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.models.evaluation import MIN_ASSIGNED_TO_JUDGE, short_of_promise
from app.jobs import runner
from app.runs.progress import Progress
from app.commands.context_model import sort_command, train_command
from app.pipeline.clients.deezer import DeezerClient
from app.pipeline.clients.reccobeats import ReccoBeatsClient
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.enrich import enrich_tracks
from app.pipeline.harvest import Clients, HarvestOptions, harvest
from app.pipeline.library import import_spotify_library, library_track_ids, match_and_enrich
from app.pipeline.providers.run import RunClients
from app.pipeline.ratelimit import SlidingWindowLimiter
from app.runs.summary import RunSummary
from app.pipeline.playlist_writer import PlaylistWriter
from app.services.save import save_playlists
from app.storage.tables import SortAssignment, SortRun, Track
from tests.auth.helpers import add_user, sandbox_app
from tests.jobs.conftest import dispose, wait_for

# Contexts of one listener's taste that overlap as real ones do (indie and rock, sad and chill).
CONTEXTS = ["rock", "indie", "chill", "country", "sad"]
USER = "ana.k"                      # 1,400 liked songs in the full world, most in these contexts
#: Harvested too, but not trained on: what the rest of a library sounds like.
BACKGROUND = ["workout", "jazz", "hip-hop", "party"]
PROVIDERS = ("deezer", "reccobeats")  # 1-s preview clips would add cost, not signal
FAST = {"deezer_rate_limit": 1000, "deezer_rate_window": 1,
        "reccobeats_rate_limit": 1000, "reccobeats_rate_window": 1}
CHECKED_PROMISE = 0.5
#: Every public Deezer playlist the full world has of a context (8-12), up to 200 tracks each (they hold
#: 15-300; about 15 % of Deezer tracks are unreadable): the promise's bound widens with fewer playlists.
HARVESTED_PLAYLISTS = 12
HARVESTED_TRACKS = 200
#: The target asked for: the world's contexts overlap (indie and rock, sad and chill), and a promise rests
#: on the playlists above the cutoff (even all right, a dozen bound the precision near 0.8, and the
#: library's mix and the background widen it). Country's bound sits at 0.60 (cutoff 0.637, precision 0.90
#: out of fold), so a 0.6 target left the test's playlist one rounding away from none; at 0.5 the library's
#: promise is 0.565 and the check still judges it.
TARGET = 0.5


def fast_clients(sandbox, spotify: SpotifyClient | None = None) -> RunClients:
    """Clients whose limiters match the sandbox's raised limits, so waiting does not dominate."""
    deezer = DeezerClient(sandbox.deezer_url, limiter=SlidingWindowLimiter(900, 1.0), backoff_s=0.01)
    reccobeats = ReccoBeatsClient(sandbox.reccobeats_url, limiter=SlidingWindowLimiter(900, 1.0))
    return RunClients(deezer=deezer, reccobeats=reccobeats, spotify=spotify, analysis_workers=1)


def prepare_store(app, sandbox, token: str) -> int:
    """Harvest CONTEXTS, import USER's library and enrich both; returns the user's id."""
    user_id = add_user(app, USER)
    spotify = SpotifyClient(sandbox.spotify_url, access_token=token, backoff_s=0.01)
    clients = fast_clients(sandbox, spotify)
    summary, progress = RunSummary("e2e"), Progress()
    with app.app_context():
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        harvested = harvest(factory, CONTEXTS + BACKGROUND, Clients(clients.deezer),
                            HarvestOptions(playlists_per_context=HARVESTED_PLAYLISTS,
                                           tracks_per_playlist=HARVESTED_TRACKS))
        enrich_tracks(factory, harvested.track_ids, app.config, summary, progress,
                      providers=PROVIDERS, clients=clients)
        import_spotify_library(factory, user_id, USER, spotify, summary, progress)
        with factory() as session:
            track_ids = library_track_ids(session, user_id)
        match_and_enrich(factory, track_ids, app.config, summary, progress, clients, providers=PROVIDERS)
    return user_id


def true_contexts(sandbox, spotify_ids: list[str]) -> dict[str, set[str]]:
    """The sandbox's hidden truth for each Spotify id."""
    truth = {}
    for start in range(0, len(spotify_ids), 200):
        answer = requests.get(f"{sandbox.url}/__sandbox__/truth",
                              params={"spotify_ids": ",".join(spotify_ids[start:start + 200])})
        answer.raise_for_status()
        truth.update({sid: set(entry["contexts"]) if entry else set()
                      for sid, entry in answer.json()["tracks"].items()})
    return truth


def realised_precision(table: pd.DataFrame, summary: dict, truth: dict[str, set[str]]) -> dict:
    """Per context: promised precision, tracks assigned, and the share of them truly in the context."""
    rows = {}
    for context, entry in summary["contexts"].items():
        ids = [sid for sid, joined in zip(table["spotify_id"], table["contexts"].fillna(""))
               if context in joined.split(";")]
        correct = sum(context in truth[sid] for sid in ids)
        rows[context] = {"promised": round(entry["promised_precision"], 3), "reached": entry["reached"],
                         "assigned": len(ids), "correct": correct, "share": round(entry["share"], 3),
                         "realised": round(correct / len(ids), 3) if ids else None}
    return rows


def judged(rows: dict) -> dict:
    return {c: r for c, r in rows.items()
            if r["promised"] >= CHECKED_PROMISE and r["assigned"] >= MIN_ASSIGNED_TO_JUDGE}


def test_sorted_library_keeps_the_promised_precision_against_the_sandbox_truth(
        start_sandbox, full_world, app_config, token_for, tmp_path, record_property):
    sandbox = start_sandbox(world=full_world, **FAST)
    app = sandbox_app(app_config, sandbox)
    try:
        user_id = prepare_store(app, sandbox, token_for(sandbox, USER))
        cli = app.test_cli_runner()
        model_path, out = tmp_path / "model.joblib", tmp_path / "sorted.csv"
        trained = cli.invoke(train_command, ["--contexts", ",".join(CONTEXTS), "--user", USER,
                                             "--target-precision", str(TARGET),
                                             "--out", str(model_path), "--json"])
        assert trained.exit_code == 0, trained.output
        report = json.loads(trained.output.strip().splitlines()[-1])
        print("\ntraining messages:", *report["data"]["messages"], sep="\n  ")
        assert not {"reccobeats_energy", "deezer_bpm"} & set(report["data"]["features"]["numeric"]), \
            "features under the coverage rule's 80 % must be left out"
        sorted_ = cli.invoke(sort_command, ["--model", str(model_path), "--user", USER, "--out", str(out),
                                            "--json"])
        assert sorted_.exit_code == 0, sorted_.output
        summary = json.loads(sorted_.output.strip().splitlines()[-1])
        table = pd.read_csv(out, dtype={"contexts": str})
        assert list(table.columns) == ["spotify_id", "contexts", "best_effort",
                                       *(f"p_{c}" for c in sorted(CONTEXTS))]
        assert report["data"]["background_tracks"] > 0
        assert table["spotify_id"].is_unique and summary["tracks"] == len(table)

        rows = realised_precision(table, summary, true_contexts(sandbox, table["spotify_id"].tolist()))
        result = {"coverage": summary["coverage"], "contexts": rows, "judged": sorted(judged(rows))}
        print("\nend-to-end promise check:", json.dumps(result))
        record_property("promise_check", json.dumps(result))
        assert any(r["assigned"] for r in rows.values()), f"no playlist at all: {rows}"
        assert not short_of_promise(rows), f"promises broken on the sandbox truth: {rows}"

        # The web app's path: the same training and sorting as jobs, stored for review.
        with app.app_context():
            train_job = runner.submit("train", {"contexts": CONTEXTS, "target_precision": TARGET},
                                      user_id)
        trained_job = wait_for(app, train_job, user_id, timeout=120)
        assert trained_job["status"] == "succeeded", trained_job
        with app.app_context():
            sort_job = runner.submit("sort", {"model_id": trained_job["result"]["model_id"]}, user_id)
        sorted_job = wait_for(app, sort_job, user_id, timeout=60)
        assert sorted_job["status"] == "succeeded", sorted_job
        with app.app_context():
            stored = db.session.execute(
                select(Track.spotify_id, SortAssignment.context)
                .join(Track, Track.id == SortAssignment.track_id)
                .where(SortAssignment.sort_run_id == sorted_job["result"]["sort_run_id"],
                       SortAssignment.assigned.is_(True))).all()
        from_cli = {(sid, c) for sid, joined in zip(table["spotify_id"], table["contexts"].fillna(""))
                    for c in joined.split(";") if c}
        assert set(stored) == from_cli

        # Saved to Spotify: each playlist read back from the sandbox holds to the promise shown.
        spotify = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, USER), backoff_s=0.01)
        with app.app_context():
            run = db.session.get(SortRun, sorted_job["result"]["sort_run_id"])
            outcomes = save_playlists(db.session, user_id, run.id, spotify)
            cutoffs = run.params["cutoffs"]
        saved = {o.context: o for o in outcomes if o.status == "saved"}
        assert saved, outcomes
        assert all(cutoffs[c]["cutoff"] is not None for c in saved)
        playlists = {}
        for context, outcome in saved.items():
            ids = [uri.rsplit(":", 1)[-1] for uri in PlaylistWriter(spotify).read(outcome.spotify_playlist_id)]
            truth = true_contexts(sandbox, ids)
            correct = sum(context in truth[sid] for sid in ids)
            playlists[context] = {"promised": round(cutoffs[context]["promised_precision"], 3),
                                  "assigned": len(ids), "correct": correct,
                                  "realised": round(correct / len(ids), 3) if ids else None}
        print("saved playlists against the truth:", json.dumps(playlists))
        record_property("saved_playlists", json.dumps(playlists))
        assert not short_of_promise(playlists), playlists
    finally:
        runner.shutdown(app)
        dispose(app)

