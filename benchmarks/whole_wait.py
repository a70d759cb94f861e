"""Area 6, the whole wait: from login to the first reviewable playlists and to everything done, as a user lives it.

A new user logs in on an empty store, types new contexts and starts the harvest, the library import and the
progressive sorting (`refine`) at once, as the product allows: the first reviewable playlists are the first sort
the refinement stores with a playlist in it, and everything is done when its last round (on everything analysed)
has ended. The jobs run in this process
on the in-process pool against the sandbox at the real services' limits, exactly as the web app runs them;
the page's polling is imitated by reading each job's progress once a second, so the ETA it showed can be
set against the time each stage really took.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from app.models.cutoffs import DEFAULT_TARGET_PRECISION
from app.models.evaluation import END_TO_END_TOLERANCE, short_of_promise
from app.pipeline.harvest import DEFAULT_PLAYLISTS_PER_CONTEXT, DEFAULT_TRACKS_PER_PLAYLIST
from app.pipeline.clients.spotify import SPOTIFY_MAX_CALLS, SPOTIFY_WINDOW_S
from sandbox.runner import SandboxServer, consent
from benchmarks.common import Table

DEEZER_PER_S = 50 / 5  # Deezer's documented quota: 50 requests per 5 s
SPOTIFY_PER_S = SPOTIFY_MAX_CALLS / SPOTIFY_WINDOW_S
FLOORS = {"deezer": DEEZER_PER_S, "spotify": SPOTIFY_PER_S}
POLL_S = 1.0
#: The full scenario the projection is for (issue 19): 10,500 likes, four new contexts, the default harvest.
FULL = {"likes": 10_500, "contexts": 4, "playlists": DEFAULT_PLAYLISTS_PER_CONTEXT,
        "tracks": DEFAULT_TRACKS_PER_PLAYLIST}
#: How many of the scenario's own previews `analysis_cpu` times per provider before the clock starts.
CLIPS_FOR_RATES = 24


def analysis_cpu(world, user: str, contexts: list[str], previews=None,
                 clips: int = CLIPS_FOR_RATES) -> dict[str, float]:
    """CPU seconds a preview costs each audio provider on this machine, timed on `clips` of the scenario's own
    previews before the clock starts, in a warmed pool of one worker per core as area 7 times the real clips.

    `previews` is the scenario's DiskPreviews where they were rendered for the run; otherwise the sample is rendered
    to a folder of its own. A provider that cannot run here (musicnn without its weights) is left out.
    """
    import os
    from pathlib import Path

    from app.pipeline.musicnn_net import WeightsMissing, weights_prefix
    from benchmarks import cdn, real_audio

    tracks = cdn.scenario_tracks(world, user, contexts)
    sample = tracks[::max(len(tracks) // clips, 1)][:clips]
    store = previews or cdn.DiskPreviews(world, folder=Path(tempfile.mkdtemp(prefix="contextify-clips-")))
    store.fill(sample)
    providers = ["preview"]
    try:
        weights_prefix()
        providers.append("musicnn")
    except WeightsMissing:
        pass
    cores = os.cpu_count() or 1
    return {name: real_audio.speed([store.path(t) for t in sample], name, cores)[1] for name in providers}


def whole_wait(sandbox: SandboxServer, user: str, contexts: list[str], playlists: int, tracks: int,
               providers: list[str] | None, checks: list[list], timeout_s: float = 3 * 3600,
               prerendered: bool = False, best_effort: bool = False,
               clip_cpu: dict[str, float] | None = None) -> list[Table]:
    """Run the scenario once; returns the per-stage table and the ETA table, and adds the targets to `checks`.

    `clip_cpu`: CPU seconds a preview costs each provider on this machine (`analysis_cpu`), for the projection.

    `best_effort`: the user opts in to best-effort playlists for contexts no cutoff can promise (the Model page's
    choice), so a round offers something to review as soon as it has a model; they are marked as such.
    """
    from flask_migrate import upgrade
    from sqlalchemy import select

    from app import create_app
    from app.extensions import db
    from app.jobs import runner
    from app.storage.tables import User

    folder = tempfile.mkdtemp(prefix="contextify-wait-")
    app = create_app({"CONTEXTIFY_INSTANCE_DIR": folder, "DATABASE_URL": f"sqlite:///{folder}/wait.db",
                      "SECRET_KEY": "bench-only-secret", "CONTEXTIFY_SANDBOX_URL": sandbox.url,
                      # The refinement holds a worker while it waits for songs: three, so it runs beside both.
                      "CONTEXTIFY_JOB_WORKERS": "3"})
    with app.app_context():
        upgrade()
    sandbox.reset_counters()
    started, started_at = time.monotonic(), datetime.now(UTC)
    client = app.test_client()
    redirect = consent(client.get("/login").headers["Location"], user)
    parts = urlsplit(redirect)
    client.get(f"{parts.path}?{parts.query}")
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.spotify_id == user))
    extra = {"providers": providers} if providers else {}
    stages: list[dict[str, Any]] = []
    try:
        stages += _run_jobs(app, runner, user_id, [
            ("harvest", {"contexts": contexts, "playlists_per_context": playlists, "tracks_per_playlist": tracks,
                         **extra}),
            ("import-library", dict(extra)),
            ("refine", {"contexts": contexts, "target_precision": DEFAULT_TARGET_PRECISION,
                        "best_effort": best_effort, **extra}),
        ], started, timeout_s)
        served = {service: counts.get("total", 0) for service, counts in sandbox.counters().items()
                  if service in ("deezer", "spotify", "reccobeats", "previews")}
        with app.app_context():
            rounds = _rounds(db.session, user_id, started_at, sandbox.world)
    finally:
        runner.shutdown(app)
        with app.app_context():
            db.engine.dispose()
    tables = _tables(stages, rounds, user, contexts, checks, timeout_s, served, best_effort)
    if prerendered:
        tables[0].note += (" The sandbox served previews rendered to disk before the clock started "
                           "(benchmarks/cdn.py): encoding them is Deezer's CDN's work, not this machine's.")
    return [*tables, ceiling(sandbox.world, contexts, playlists, tracks),
            _projection(stages, rounds, len(contexts) * playlists * tracks, clip_cpu or {})]


def promises_kept(rounds: list[dict[str, Any]]) -> tuple[int, list[str]]:
    """How many promised playlists of all rounds kept their promise on the world's hidden truth, judged as the
    real-audio playlists are (`short_of_promise`), and the broken ones ("round 3 party 0.81 -> 0.27")."""
    held, broken = 0, []
    for number, entry in enumerate(rounds, start=1):
        rows = {}
        for context, promise in entry["promised"].items():
            correct, known = entry["truth_counts"].get(context, (0, 0))
            if promise is not None and known:
                rows[context] = {"promised": promise, "assigned": known, "correct": correct,
                                 "realised": correct / known}
        short = short_of_promise(rows)
        held += len(rows) - len(short)
        broken += [f"round {number} {c} {r['promised']:.2f} -> {r['realised']:.2f}" for c, r in short.items()]
    return held, broken


def _rounds(session, user_id: int, started_at: datetime, world) -> list[dict[str, Any]]:
    """Each sort the refinement stored: when (s after login), what it rests on, its playlists with songs, and
    how many of each playlist's songs the sandbox world knows and truly puts in that context (its hidden truth)."""
    from sqlalchemy import select

    from app.storage.tables import SortAssignment, SortRun, Track, TrainedModel

    rounds = []
    for run in session.scalars(select(SortRun).where(SortRun.user_id == user_id).order_by(SortRun.id)):
        model = session.get(TrainedModel, run.model_id)
        made = run.created_at if run.created_at.tzinfo else run.created_at.replace(tzinfo=UTC)
        cutoffs = run.params["cutoffs"]
        offered = [c for c, choice in cutoffs.items() if choice.get("cutoff") is not None]
        songs: dict[str, list[int | None]] = {c: [] for c in offered}
        if offered:
            for context, deezer_id in session.execute(
                    select(SortAssignment.context, Track.deezer_id).join(Track, Track.id == SortAssignment.track_id)
                    .where(SortAssignment.sort_run_id == run.id, SortAssignment.assigned.is_(True),
                           SortAssignment.context.in_(offered))):
                songs[context].append(deezer_id)
        counts = {c: _truth_counts(world, c, ids) for c, ids in songs.items()}
        rounds.append({"at_s": (made - started_at).total_seconds(), "rests_on": run.params.get("rests_on") or {},
                       "background": ((model.metrics or {}).get("data") or {}).get("background_tracks")
                       if model is not None else None,
                       "playlists": {c: len(ids) for c, ids in songs.items()},
                       "best_effort": {c for c in offered if cutoffs[c].get("best_effort")},
                       "promised": {c: cutoffs[c].get("promised_precision") for c in offered
                                    if not cutoffs[c].get("best_effort")},
                       "truth_counts": counts,
                       "truth": {c: correct / known if known else None for c, (correct, known) in counts.items()}})
    return rounds


def _truth_counts(world, context: str, deezer_ids: list[int | None]) -> tuple[int, int]:
    """Of a playlist's songs: how many truly belong to `context` in the sandbox world, and how many it knows."""
    known = [world.tracks[i] for i in deezer_ids if i in world.tracks]
    return sum(context in track.contexts for track in known), len(known)


def _projection(stages: list[dict[str, Any]], rounds: list[dict[str, Any]], asked: int,
                clip_cpu: dict[str, float]) -> Table:
    """The full scenario at the floor, from this run's calls per training song and per library song, and the
    analysis at the rate this machine's cores allow (`analysis_cpu`)."""
    import os

    cores = os.cpu_count() or 1
    rates = {}
    if "preview" in clip_cpu:
        rates["descriptors only"] = cores / clip_cpu["preview"]
        if "musicnn" in clip_cpu:   # each timed with its own decode: about 0.02 CPU-s a clip counted twice
            rates["with musicnn"] = cores / (clip_cpu["preview"] + clip_cpu["musicnn"])
    timed = ", ".join(f"{name} {cpu:.3f}" for name, cpu in clip_cpu.items()) or "not timed"
    table = Table(
        "The full scenario at the real limits, projected from this run's calls per song",
        f"Calls per song measured above (harvest: per harvested training song; import: per library song), times "
        f"the full scenario's {FULL['likes']:,} likes and {FULL['contexts']} contexts x {FULL['playlists']} "
        f"playlists x {FULL['tracks']} tracks (training songs scaled by this run's harvested share of the slots "
        "asked for). Deezer's 10/s and Spotify's 5/s bind the calls; the previews bind the analysis at the rate "
        f"{cores} cores allow at the CPU seconds a preview cost each provider on this machine, timed on "
        f"{CLIPS_FOR_RATES} of the scenario's previews before the clock started ({timed}; "
        f"{', '.join(f'{k}: {v:.1f}/s' for k, v in rates.items()) or 'no rate'}). The first sort needs the "
        "training songs' metadata and the first 250 likes analysed; everything needs every call and every preview.",
        ["what", "this run", "per song", "full scenario", "floor s", "floor min"])
    by_kind = {r["kind"]: r for r in stages}
    rests = (rounds[-1]["rests_on"] if rounds else {}) or {}
    training, library = rests.get("training_total") or 0, rests.get("library_total") or 0
    if not training or not library or "harvest" not in by_kind or "import-library" not in by_kind:
        table.rows.append(["no finished round to project from", "-", "-", "-", "-", "-"])
        return table
    full_training = round(training / asked * FULL["contexts"] * FULL["playlists"] * FULL["tracks"])
    harvest, imported = _calls(by_kind["harvest"]), _calls(by_kind["import-library"])
    per = {"harvest deezer": harvest.get("deezer", 0) / training, "import deezer": imported.get("deezer", 0) / library,
           "import spotify": imported.get("spotify", 0) / library,
           "previews": (harvest.get("previews", 0) + imported.get("previews", 0)) / (training + library)}
    deezer_all = per["harvest deezer"] * full_training + per["import deezer"] * FULL["likes"]
    deezer_first = per["harvest deezer"] * full_training + per["import deezer"] * min(250, FULL["likes"])
    previews_all = per["previews"] * (full_training + FULL["likes"])
    rows = [
        ("training songs (harvested)", training, "-", full_training, None),
        ("library songs", library, "-", FULL["likes"], None),
        ("deezer calls, harvest", harvest.get("deezer", 0), per["harvest deezer"], per["harvest deezer"] * full_training,
         per["harvest deezer"] * full_training / DEEZER_PER_S),
        ("deezer calls, import", imported.get("deezer", 0), per["import deezer"], per["import deezer"] * FULL["likes"],
         per["import deezer"] * FULL["likes"] / DEEZER_PER_S),
        ("spotify calls, import", imported.get("spotify", 0), per["import spotify"],
         per["import spotify"] * FULL["likes"], per["import spotify"] * FULL["likes"] / SPOTIFY_PER_S),
        ("first sort: deezer calls before it (training metadata + 250 likes)", "-", "-", deezer_first,
         deezer_first / DEEZER_PER_S),
        ("everything: deezer calls", "-", "-", deezer_all, deezer_all / DEEZER_PER_S),
    ]
    rows += [(f"everything: preview analysis, {name}", harvest.get("previews", 0) + imported.get("previews", 0),
              per["previews"], previews_all, previews_all / rate) for name, rate in rates.items()]
    for what, measured, per_song, full, floor_s in rows:
        table.rows.append([what, measured, round(per_song, 3) if isinstance(per_song, float) else per_song,
                           round(full), "-" if floor_s is None else round(floor_s),
                           "-" if floor_s is None else round(floor_s / 60, 1)])
    return table


def _run_jobs(app, runner, user_id: int, jobs: list[tuple[str, dict]], started: float,
              timeout_s: float) -> list[dict[str, Any]]:
    """Start `jobs` together and poll them as the page does until all end; one record per job."""
    with app.app_context():
        ids = [(kind, runner.submit(kind, params, user_id)) for kind, params in jobs]
    records = {job_id: {"kind": kind, "start_s": time.monotonic() - started, "polls": []} for kind, job_id in ids}
    deadline = time.monotonic() + timeout_s
    stopping = False
    while True:
        now = time.monotonic() - started
        open_jobs = 0
        for _kind, job_id in ids:
            record = records[job_id]
            if "end_s" in record:
                continue
            with app.app_context():
                status = runner.job_status(job_id, user_id)
            record["polls"].append((now, status["progress"]))
            if status["status"] in ("succeeded", "failed", "cancelled"):
                record.update(end_s=now, status=status["status"], result=status["result"], error=status["error"])
            else:
                open_jobs += 1
        if not open_jobs:
            break
        if time.monotonic() > deadline and not stopping:  # stop what is left, then poll until each has ended
            stopping = True
            with app.app_context():
                for _kind, job_id in ids:
                    if "end_s" not in records[job_id]:
                        runner.cancel(job_id, user_id)
        time.sleep(POLL_S)
    return list(records.values())


def _calls(record: dict[str, Any]) -> dict[str, int]:
    result = record.get("result") or {}
    calls = result.get("api_calls") or {}
    return {k: int(v) for k, v in calls.items() if isinstance(v, (int, float))}


def _floor(calls: dict[str, int]) -> tuple[float, str]:
    floors = {service: calls.get(service, 0) / rate for service, rate in FLOORS.items()}
    service = max(floors, key=floors.get)
    return floors[service], service if floors[service] > 0 else "local work (no outside calls)"


def _tables(stages: list[dict[str, Any]], rounds: list[dict[str, Any]], user: str, contexts: list[str],
            checks: list[list], timeout_s: float, served: dict[str, int] | None = None,
            best_effort: bool = False) -> list[Table]:
    per_stage = Table(
        f"The whole wait: {user}, {len(contexts)} new contexts ({', '.join(contexts)}), empty store",
        "Each row is one job as the user starts it (harvest, library import and the progressive sorting together). "
        "Calls come from each job's own summary; the floor is the calls divided by the binding "
        "service's limit (Deezer 10/s, Spotify 5/s), i.e. the least time the real services allow. Times are "
        f"seconds from login; a job still running after {timeout_s / 60:.0f} minutes is stopped (\"timed out\").",
        ["stage", "status", "started s", "ended s", "wall s", "deezer calls", "spotify calls",
         "reccobeats calls", "preview downloads", "floor s", "binding floor", "new tracks",
         "deezer calls per new track"])
    for record in stages:
        calls = _calls(record)
        floor_s, binding = _floor(calls)
        result = record.get("result") or {}
        new = result.get("new_tracks") or result.get("tracks", {}).get("new") if isinstance(result, dict) else None
        new = new if isinstance(new, int) else None
        per_new = round(calls.get("deezer", 0) / new, 2) if new else "-"
        per_stage.rows.append([record["kind"], record.get("status", "timed out") if not record.get("error")
                               else f"{record.get('status')}: {record['error'][:120]}",
                               round(record["start_s"], 1), round(record.get("end_s", float("nan")), 1),
                               round(record.get("end_s", float("nan")) - record["start_s"], 1),
                               calls.get("deezer", 0), calls.get("spotify", 0), calls.get("reccobeats", 0),
                               calls.get("previews", 0), round(floor_s, 1), binding, new if new else "-", per_new]
                              if record.get("result") else
                              [record["kind"], record.get("status", "timed out"), round(record["start_s"], 1),
                               round(record.get("end_s", float("nan")), 1),
                               round(record.get("end_s", float("nan")) - record["start_s"], 1),
                               "- (no result: see the sandbox's counters)", *["-"] * 7])
    if served:  # what the services answered, whatever the jobs reported: a stopped job reports nothing
        floor_s, binding = _floor(served)
        per_stage.rows.append(["all jobs, by the sandbox's own counters", "-", "-", "-", "-", served.get("deezer", 0),
                               served.get("spotify", 0), served.get("reccobeats", 0), served.get("previews", 0),
                               round(floor_s, 1), binding, "-", "-"])
    eta = Table(
        "The ETA the page showed against the time it took",
        "For each stage of each job: the estimate shown when the stage was first about 10% done (the page's "
        "`eta_s`, a rate extrapolation), and the time the stage then really took to finish.",
        ["job", "stage", "shown at s", "done/total then", "ETA shown s", "really took s", "error"])
    for record in stages:
        for name, (at, entry, finished_at) in _first_estimates(record).items():
            took = finished_at - at if finished_at is not None else float("nan")
            shown = entry.get("eta_s")
            error = f"{(shown - took) / took:+.0%}" if shown and took and took == took else "-"
            eta.rows.append([record["kind"], name, round(at, 1), f"{entry['done']}/{entry['total']}",
                             shown if shown is not None else "-", round(took, 1), error])
    progressive = Table(
        "Progressive sorting: each sort as it was stored",
        "One row per round of the refine job: when its sort was stored (s after login), what it rests on (training "
        "songs analysed of all harvested, library songs analysed of all, songs of no context its model learnt "
        "\"none of these\" from), the playlists it offered (a context "
        "whose promise holds, or a best-effort one where the user opted in, with its songs), what each promises, "
        "and the share of each playlist's songs that truly belong to its context (the sandbox world's hidden "
        "truth, which the product never sees). The first row with a playlist is the first reviewable one.",
        ["round", "stored at s", "training songs analysed", "library songs analysed", "songs of no context",
         "final", "playlists (songs)", "promised precision", "truly that context"])
    for number, entry in enumerate(rounds, 1):
        rests = entry["rests_on"]
        progressive.rows.append([
            number, round(entry["at_s"], 1),
            f"{rests.get('training_analysed', '?'):,} of {rests.get('training_total', '?'):,}" if rests else "-",
            f"{rests.get('library_analysed', '?'):,} of {rests.get('library_total', '?'):,}" if rests else "-",
            entry.get("background") if entry.get("background") is not None else "-",
            "yes" if rests.get("final") else "no",
            ", ".join(f"{c} ({n}{', best effort' if c in entry['best_effort'] else ''})"
                      for c, n in entry["playlists"].items()) or "none offered",
            ", ".join(f"{c} {p:.2f}" for c, p in entry["promised"].items() if p is not None) or "-",
            ", ".join(f"{c} {p:.2f}" for c, p in entry["truth"].items() if p is not None) or "-"])
    # Everything is done only when every job succeeded: a job that failed or was still running at the timeout
    # leaves the user waiting, so the latest end among the others would understate the wait.
    unfinished = [f"{r['kind']} {r.get('status', 'timed out')}" for r in stages if r.get("status") != "succeeded"]
    reviewable = [entry["at_s"] for entry in rounds if any(entry["playlists"].values())]
    everything = max(r["end_s"] for r in stages) if stages and not unfinished else float("nan")
    first = reviewable[0] if reviewable else float("nan")
    scenario = f"whole wait ({user}, {len(contexts)} new contexts)"
    promised = [entry["at_s"] for entry in rounds
                if any(n for c, n in entry["playlists"].items() if c not in entry["best_effort"])]
    first_promised = promised[0] if promised else float("nan")
    checks.append([f"{scenario}: first promised playlists <= 5 minutes after login",
                   f"{first_promised / 60:.1f} min" if promised else "none in any round",
                   first_promised == first_promised and first_promised <= 300])
    held, broken = promises_kept(rounds)
    checks.append([f"{scenario}: every round's promised playlists realise at least their promise - "
                   f"{END_TO_END_TOLERANCE} on the world's truth",
                   f"{held} of {held + len(broken)} held" + (f"; broken: {', '.join(broken)}" if broken else ""),
                   not broken])
    if best_effort:  # the same wait, counting the playlists a user who opted in to best effort gets to review
        checks.append([f"{scenario}: first reviewable playlists, best effort opted in, <= 5 minutes after login",
                       f"{first / 60:.1f} min" if first == first else "not reached", first == first and first <= 300])
    checks.append([f"{scenario}: everything done <= 30 minutes after login",
                   f"{everything / 60:.1f} min" if everything == everything
                   else f"not reached ({', '.join(unfinished) or 'no job ran'})",
                   everything == everything and everything <= 1800])
    return [per_stage, progressive, eta]


def _first_estimates(record: dict[str, Any]) -> dict[str, tuple[float, dict, float | None]]:
    """Per stage: (poll time, progress entry) of the first poll at >= 10% done with an ETA, and when it finished."""
    found: dict[str, tuple[float, dict, float | None]] = {}
    finished: dict[str, float] = {}
    for at, progress in record["polls"]:
        for name, entry in (progress or {}).items():
            total, done = entry.get("total") or 0, entry.get("done") or 0
            if name not in found and total and done >= 0.1 * total and entry.get("eta_s"):
                found[name] = (at, entry, None)
            # A chunked stage (the import's) reaches its shown total at each chunk's end: it is finished only
            # when no later chunk's work is still announced as pending.
            if total and done >= total and not entry.get("pending") and name not in finished:
                finished[name] = at
    end = record.get("end_s")
    return {name: (at, entry, finished.get(name, end)) for name, (at, entry, _none) in found.items()}


def ceiling(world, contexts: list[str], playlists: int, tracks: int, target: float = DEFAULT_TARGET_PRECISION,
            seed: int = 0) -> Table:
    """What the world's playlists can back at all: the model trained on each track's hidden character.

    The harvest's view of the world (the `playlists` most-followed public playlists whose title matches each
    context, their first `tracks` songs), with the hidden audio character a perfect analyser would recover and
    Deezer's metadata as features, and as many songs of none of the contexts as background; promises held out by
    playlist as `flask train --from-csv` does. A reference for the wait's rounds, which recover the character
    from previews: a context far from its target here is not expected to reach it there.
    """
    import dataclasses
    import random
    import re

    import pandas as pd

    from app.models.dataset import build_dataset
    from app.models.features import derive_columns, infer_feature_spec
    from app.models.training import train_context_model
    from sandbox.model import DEEZER_GENRES
    from sandbox.search import deezer_playlists_matching

    def row(track) -> dict[str, Any]:
        album = world.albums.get(track.album_id)
        genre = DEEZER_GENRES.get(album.genre_ids[0]) if album and album.genre_ids else None
        return {"track_id": track.deezer_id, **dataclasses.asdict(track.character), "genre": genre,
                "release_date": album.release_date if album else None, "explicit": int(track.explicit),
                "duration_s": track.duration_ms / 1000, "rank": track.rank, "gain": track.gain}

    rows, used = [], set()
    for context in contexts:
        for playlist in deezer_playlists_matching(world, context)[:playlists]:
            for deezer_id in playlist.track_ids[:tracks]:
                track = world.tracks.get(deezer_id)
                if track is not None and track.character is not None:
                    rows.append({**row(track), "context": context, "playlist_id": playlist.id})
                    used.add(deezer_id)
    # The background is songs of none of these contexts (by the hidden truth), as a background should be.
    others = [t for t in world.tracks.values()
              if t.deezer_id not in used and t.character is not None and not t.contexts & set(contexts)]
    random.Random(seed).shuffle(others)
    frame = derive_columns(pd.DataFrame(rows))
    background = derive_columns(pd.DataFrame([row(t) for t in others[:len(used)]]))
    table = Table(
        f"What these playlists can back at all: the world's hidden character as features, target {target:g}",
        f"The harvest's view ({playlists} most-followed matching playlists per context, {tracks} songs each) with "
        "each song's hidden audio character (what a perfect analyser would recover), Deezer's metadata (album "
        f"genre and decade, explicit, duration, rank, gain), and {min(len(others), len(used)):,} songs of none of "
        "these contexts as background, trained and held out by playlist as `flask train --from-csv` does. The "
        "rounds of the wait recover the character from previews, with a background drawn from the store; a context "
        "far from its target here is not expected to reach it there.",
        ["context", "songs", "promised", "best lower bound of any cutoff"])
    try:
        spec, _messages = infer_feature_spec(frame, exclude=("track_id", "context", "playlist_id"),
                                             group_col="playlist_id")
        dataset = build_dataset(frame, id_col="track_id", label_col="context", spec=spec, group_col="playlist_id",
                                background=background, grouping="playlist")
        model, _report = train_context_model(dataset, id_col="track_id", target_precision=target,
                                             random_state=seed)
    except Exception as exc:  # noqa: BLE001  (a reference table must not lose the hour of measurements above)
        table.rows.append(["could not be trained", "-", "-", f"{type(exc).__name__}: {exc}"[:200]])
        return table
    counts = frame["context"].value_counts()
    for context in contexts:
        choice = model.cutoffs.get(context)
        bound = re.search(r"best lower bound (\d\.\d+)", choice.message) if choice else None
        table.rows.append([context, int(counts.get(context, 0)),
                           f"{choice.promised_precision:.2f}" if choice and choice.cutoff is not None else "no",
                           bound.group(1) if bound else (f"{choice.promised_precision:.2f}" if choice else "-")])
    return table
