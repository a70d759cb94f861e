"""Progressive work (issue 19): a first sort on the songs analysed so far says so, and its playlists keep their promise.

The store is filled as the pipeline fills it, but stopped part-way: the first part of the harvested songs and of
the library (in the pipeline's own order) is analysed, the rest not yet. The refinement's first round then
trains and sorts on what is there; its playlists are checked against the sandbox's hidden truth (the final
labels, which no later analysis changes), with the same rule as the end-to-end promise check. Then the rest is
analysed and the `refine` job runs a last round on everything, keeping the review's keeps and drops.
"""

from __future__ import annotations

import json

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.jobs import runner
from app.models.progressive import refine_round, rests_on
from app.pipeline.catalog import spread_over_playlists
from app.pipeline.clients.spotify import SpotifyClient
from app.pipeline.enrich import enrich_tracks
from app.pipeline.harvest import Clients, HarvestOptions, harvest
from app.pipeline.library import import_spotify_library, library_track_ids_recent_first, match_and_enrich
from app.runs.progress import Progress
from app.runs.summary import RunSummary
from app.services.progressive import rests_on_sentence
from app.models.evaluation import short_of_promise
from app.storage.tables import SortAssignment, SortRun, Track
from tests.auth.helpers import add_user, sandbox_app
from tests.e2e.test_context_model_end_to_end import (
    BACKGROUND, CONTEXTS, FAST, HARVESTED_PLAYLISTS, HARVESTED_TRACKS, PROVIDERS, TARGET, USER, fast_clients,
    true_contexts,
)
from tests.jobs.conftest import dispose, wait_for

#: The share of each side analysed when the first round runs.
EARLY_SHARE = 0.4


def _early_playlists(session, user_id: int, run_id: int) -> dict[str, dict]:
    """Per context of a stored sort: its promise and the Spotify ids it assigns."""
    run = session.get(SortRun, run_id)
    rows = session.execute(select(Track.spotify_id, SortAssignment.context)
                           .join(Track, Track.id == SortAssignment.track_id)
                           .where(SortAssignment.user_id == user_id, SortAssignment.sort_run_id == run_id,
                                  SortAssignment.assigned.is_(True))).all()
    playlists = {c: {"promised": choice["promised_precision"], "ids": []}
                 for c, choice in run.params["cutoffs"].items() if choice["cutoff"] is not None}
    for spotify_id, context in rows:
        if context in playlists:
            playlists[context]["ids"].append(spotify_id)
    return playlists


def test_early_playlists_say_what_they_rest_on_and_keep_their_promise_on_the_final_labels(
        start_sandbox, full_world, app_config, token_for, record_property):
    sandbox = start_sandbox(world=full_world, **FAST)
    app = sandbox_app(app_config, sandbox)
    try:
        user_id = add_user(app, USER)
        spotify = SpotifyClient(sandbox.spotify_url, access_token=token_for(sandbox, USER), backoff_s=0.01)
        clients = fast_clients(sandbox, spotify)
        summary, progress = RunSummary("progressive"), Progress()
        with app.app_context():
            factory = sessionmaker(bind=db.engine, expire_on_commit=False)
            harvested = harvest(factory, CONTEXTS + BACKGROUND, Clients(clients.deezer),
                                HarvestOptions(playlists_per_context=HARVESTED_PLAYLISTS,
                                               tracks_per_playlist=HARVESTED_TRACKS))
            import_spotify_library(factory, user_id, USER, spotify, summary, progress)
            # The pipeline's own order (the harvest and import jobs'), stopped part-way: a track of every playlist
            # at a time, and the most recent likes first.
            with factory() as session:
                training = spread_over_playlists(session, harvested.track_ids)
                library = library_track_ids_recent_first(session, user_id)
            cut_training, cut_library = int(EARLY_SHARE * len(training)), int(EARLY_SHARE * len(library))
            enrich_tracks(factory, training[:cut_training], app.config, summary, progress, providers=PROVIDERS,
                          clients=clients)
            match_and_enrich(factory, library[:cut_library], app.config, summary, progress, clients,
                             providers=PROVIDERS)

            with factory() as session:
                state, ready = rests_on(session, user_id, CONTEXTS, PROVIDERS)
                assert 0 < state.training_analysed < state.training_total
                assert 0 < state.library_analysed < state.library_total
                assert state.enough_for_a_first_sort()
                model_id, early_run, _ = refine_round(session, user_id, CONTEXTS, state, ready,
                                                      instance_dir=app.config["INSTANCE_DIR"],
                                                      target_precision=TARGET, providers=PROVIDERS)
                run = session.get(SortRun, early_run)
                sentence = rests_on_sentence(run.params["rests_on"], improving=True)
                sorted_ids = {tid for tid, in session.execute(select(SortAssignment.track_id).where(
                    SortAssignment.sort_run_id == early_run))}
                early = _early_playlists(session, user_id, early_run)
                # The reviewer keeps one song and drops another before the refinement arrives.
                kept = session.scalars(select(SortAssignment).where(
                    SortAssignment.sort_run_id == early_run, SortAssignment.assigned.is_(True))
                    .order_by(SortAssignment.probability.desc()).limit(2)).all()
                assert len(kept) == 2, f"the first round kept {len(kept)} songs: {run.params['cutoffs']}"
                first, second = kept
                first.decision, second.decision = "accepted", "rejected"
                decided = {(first.track_id, first.context): "accepted", (second.track_id, second.context): "rejected"}
                session.commit()
        print("\nearly:", sentence)
        assert (f"{state.training_analysed:,} of {state.training_total:,} training songs analysed, "
                f"{state.library_analysed:,} of your {state.library_total:,} songs; improving") in sentence
        assert sorted_ids <= ready, "the first sort takes only library songs analysed so far"
        assert early, "the first round offered no playlist at all: nothing to hold to its promise"

        truth = true_contexts(sandbox, sorted({sid for p in early.values() for sid in p["ids"]}))
        rows = {}
        for context, playlist in early.items():
            correct = sum(context in truth[sid] for sid in playlist["ids"])
            rows[context] = {"promised": round(playlist["promised"], 3), "assigned": len(playlist["ids"]),
                             "correct": correct,
                             "realised": round(correct / len(playlist["ids"]), 3) if playlist["ids"] else None}
        print("early playlists against the final labels:", json.dumps(rows))
        record_property("early_playlists", json.dumps(rows))
        assert not short_of_promise(rows), f"an early playlist broke its promise: {rows}"

        # The rest arrives; the refine job (nothing else running) makes a last round on everything.
        with app.app_context():
            enrich_tracks(factory, training[cut_training:], app.config, summary, progress, providers=PROVIDERS,
                          clients=clients)
            match_and_enrich(factory, library[cut_library:], app.config, summary, progress, clients,
                             providers=PROVIDERS)
            job = runner.submit("refine", {"contexts": CONTEXTS, "target_precision": TARGET,
                                           "providers": list(PROVIDERS)}, user_id)
        done = wait_for(app, job, user_id, timeout=300)
        assert done["status"] == "succeeded", done
        final = done["result"]
        assert final["rounds"] == 1 and final["rests_on"]["final"]
        assert final["rests_on"]["library_analysed"] > state.library_analysed
        assert final["model_id"] != model_id
        with app.app_context():
            carried = {(t, c): d for t, c, d in db.session.execute(
                select(SortAssignment.track_id, SortAssignment.context, SortAssignment.decision)
                .where(SortAssignment.sort_run_id == final["sort_run_id"],
                       SortAssignment.decision != "pending")).all()}
            final_run = db.session.get(SortRun, final["sort_run_id"])
            final_sentence = rests_on_sentence(final_run.params["rests_on"], improving=False)
        keep, drop = list(decided)
        assert carried[keep] == "accepted", "a kept song stays kept in the refined sort"
        assert carried.get(drop, "rejected") == "rejected", "a dropped song stays dropped where it is offered again"
        assert "everything that could be analysed" in final_sentence and "improving" not in final_sentence
    finally:
        runner.shutdown(app)
        dispose(app)
