"""End to end on the real-audio sandbox: harvest, import, enrich, train and sort through the CLI, then hold each
sorted playlist against the recordings' own labels (realised precision), beside the plain base rate."""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import requests

from sandbox.runner import SandboxServer
from benchmarks.common import Table, fresh_instance, migrate, run_cli
from benchmarks.pipeline import _access_token
from app.models.evaluation import END_TO_END_TOLERANCE, short_of_promise

EMOTIFY_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "audio" / "emotify_dev"


def truth_labels(sandbox: SandboxServer, spotify_ids: list[str]) -> dict[str, set[str]]:
    """Each Spotify id's real labels, from the sandbox's /__sandbox__/truth."""
    found: dict[str, set[str]] = {}
    for start in range(0, len(spotify_ids), 200):
        answer = requests.get(f"{sandbox.url}/__sandbox__/truth", timeout=30,
                              params={"spotify_ids": ",".join(spotify_ids[start:start + 200])})
        answer.raise_for_status()
        found.update({sid: set((entry or {}).get("labels", {}).values()) if entry else set()
                      for sid, entry in answer.json()["tracks"].items()})
    return found


def harvested_deezer_ids(database: Path) -> set[int]:
    """Deezer ids of every track the harvest labelled (the model's training tracks)."""
    with sqlite3.connect(database) as conn:
        return {row[0] for row in conn.execute(
            "SELECT DISTINCT tracks.deezer_id FROM labels JOIN tracks ON tracks.id = labels.track_id")}


def realised(table: pd.DataFrame, summary: dict, truth: dict[str, set[str]], seen: set[str],
             column: str = "contexts") -> dict[str, dict]:
    """Per context of a sort: its promise (or best-effort label and message), the tracks ``column`` gives it
    (``contexts``: promised; ``best_effort``: the opt-in's), how many truly carry the label and that share, the same
    on tracks the model never saw, and the base rate (the share of the library, or of its unseen tracks, truly
    labelled so: what picking at random realises)."""
    rows = {}
    joined = dict(zip(table["spotify_id"], table[column].fillna("")))
    unseen_all = [sid for sid in joined if sid not in seen]
    for context, entry in summary["contexts"].items():
        ids = [sid for sid, contexts in joined.items() if context in contexts.split(";")]
        unseen = [sid for sid in ids if sid not in seen]
        share = (lambda group: round(sum(context in truth[s] for s in group) / len(group), 3) if group else None)
        rows[context] = {"promised": round(entry["promised_precision"], 3), "reached": entry["reached"],
                         "best_effort": bool(entry.get("best_effort")), "message": entry.get("message", ""),
                         "assigned": len(ids), "correct": sum(context in truth[s] for s in ids),
                         "realised": share(ids), "unseen_assigned": len(unseen), "realised_unseen": share(unseen),
                         "base_rate": share(list(joined)), "base_rate_unseen": share(unseen_all)}
    return rows


# The test's raised limits, in the sandbox and (to match) the app's clients: waiting out the real ones would
# make the test minutes long without testing anything the pipeline tests do not.
FAST_SANDBOX = {"deezer_rate_limit": 1000, "deezer_rate_window": 1, "reccobeats_rate_limit": 1000,
                "reccobeats_rate_window": 1}
FAST_LIMITS = {"deezer": (1000, 1.0), "reccobeats": (1000, 1.0)}


def _subprocess_cli(sandbox: SandboxServer, env: dict[str, str]) -> Callable[[list[str]], dict[str, Any]]:
    migrate(env)
    return lambda args: run_cli(args, env)


@contextmanager
def _in_process_cli(sandbox: SandboxServer, env: dict[str, str]) -> Iterator[Callable[[list[str]], dict[str, Any]]]:
    """The same commands through Flask's CLI runner in this process, with the clients' limits raised."""
    from flask_migrate import upgrade

    import app.pipeline.clients.factory as services
    from app import create_app
    from app.extensions import db

    saved = dict(services.LIMITS)
    services.LIMITS.update(FAST_LIMITS)
    services._limiter.cache_clear()
    flask_app = create_app({**env, "CONTEXTIFY_SANDBOX_URL": sandbox.url, "LOG_LEVEL": "WARNING"})
    with flask_app.app_context():
        upgrade()

    def invoke(args: list[str]) -> dict[str, Any]:
        result = flask_app.test_cli_runner().invoke(args=args, env={"SPOTIFY_ACCESS_TOKEN": env["SPOTIFY_ACCESS_TOKEN"]})
        lines = [line for line in result.output.splitlines() if line.startswith("{")]
        if result.exit_code != 0 or not lines:
            raise RuntimeError(f"flask {' '.join(args)} failed ({result.exit_code}):\n{result.output[-2000:]}")
        return json.loads(lines[-1])

    try:
        yield invoke
    finally:
        with flask_app.app_context():
            db.engine.dispose()
        services.LIMITS.clear()
        services.LIMITS.update(saved)
        services._limiter.cache_clear()


def run(audio_dir: Path | str, contexts: list[str], user: str = "mira.s", playlists: int = 8, tracks: int = 60,
        label_columns: tuple[str, ...] | None = None, work: Path | None = None, fast: bool = False,
        providers: str | None = None) -> dict[str, Any]:
    """The whole journey through the CLI against a real-audio sandbox: harvest, import, train, then one sort as a
    user gets it (promised playlists only) and one with the best-effort opt-in.

    By default each command is its own `flask` process under the real services' limits (the benchmark);
    `fast` runs them in this process with the limits raised (the test). ``providers`` sets
    CONTEXTIFY_PROVIDERS (default: the app's own).
    """
    work = Path(work or tempfile.mkdtemp(prefix="contextify-realaudio-"))
    timings: dict[str, float] = {}
    knobs = FAST_SANDBOX if fast else {}
    with SandboxServer(audio_dir=str(audio_dir), label_columns=label_columns, scale="small", **knobs) as sandbox, \
            ExitStack() as stack:
        env = {**fresh_instance(), "SPOTIFY_ACCESS_TOKEN": _access_token(sandbox, user),
               **({"CONTEXTIFY_PROVIDERS": providers} if providers else {})}
        cli = (stack.enter_context(_in_process_cli(sandbox, env)) if fast
               else _subprocess_cli(sandbox, {**env, "CONTEXTIFY_SANDBOX_URL": sandbox.url}))

        def step(name: str, args: list[str]) -> dict[str, Any]:
            started = time.monotonic()
            answer = cli(args)
            timings[name] = round(time.monotonic() - started, 1)
            return answer

        harvest = step("harvest + enrich", ["harvest", *contexts, "--playlists-per-context", str(playlists),
                                            "--tracks-per-playlist", str(tracks), "--json"])
        library = step("import + match + enrich", ["import-library", "--user", user, "--json"])
        model, out, effort_out = work / "model.joblib", work / "sorted.csv", work / "sorted-best-effort.csv"
        trained = step("train", ["train", "--contexts", ",".join(contexts), "--user", user, "--out", str(model),
                                 "--json"])
        summary = step("sort", ["sort", "--model", str(model), "--user", user, "--out", str(out), "--json"])
        effort = step("sort, best effort", ["sort", "--model", str(model), "--user", user, "--best-effort",
                                            "--out", str(effort_out), "--json"])
        table = pd.read_csv(out, dtype={"contexts": str, "best_effort": str})
        effort_table = pd.read_csv(effort_out, dtype={"contexts": str, "best_effort": str})
        world = sandbox.world
        harvested = harvested_deezer_ids(Path(env["DATABASE_URL"].removeprefix("sqlite:///")))
        seen = {sid for sid in table["spotify_id"] if world.by_spotify_id[sid].deezer_id in harvested}
        truth = truth_labels(sandbox, table["spotify_id"].tolist())
    holdout = trained.get("test", {}).get("contexts", {})
    return {"contexts": realised(table, summary, truth, seen),
            "best_effort": realised(effort_table, effort, truth, seen, column="best_effort"),
            "promised_column_with_opt_in": sorted({c for cs in effort_table["contexts"].fillna("") for c in cs.split(";")
                                                   if c}),
            "unpromised_without_opt_in": int(table["best_effort"].fillna("").ne("").sum()),
            "coverage": summary.get("coverage"),
            "library": len(table), "seen": len(seen), "timings": timings, "recordings": len(world.tracks),
            "harvested_tracks": len(harvested), "user": user, "target_precision": trained.get("target_precision"),
            "holdout": {c: {k: v.get(k) for k in ("test_tracks", "assigned", "precision")} for c, v in holdout.items()},
            "numeric_features": trained.get("data", {}).get("features", {}).get("numeric", []),
            "harvest": {k: harvest.get(k) for k in ("api_calls", "wall_s")},
            "import": {k: library.get(k) for k in ("api_calls", "wall_s")}}


def tables(result: dict[str, Any]) -> list[Table]:
    """BENCHMARKS.md tables for one `run`."""
    rows, effort = result["contexts"], result["best_effort"]
    precision = Table(
        f"Realised precision on real recordings: {result['user']}'s {result['library']} Liked Songs, "
        f"{len(rows)} contexts",
        f"The sandbox world is the {result['recordings']} emotify_dev recordings (previews are the real MP3s; no "
        "Spotify or ReccoBeats audio features exist for them, so the model rests on Deezer metadata and preview "
        "analysis). The harvest labelled "
        f"{result['harvested_tracks']} tracks from public playlists drawn from the labels (some off-topic tracks "
        f"included, as in real playlists); {result['seen']} of the library's tracks were among them, so the "
        "*unseen* columns count only tracks the model never trained on. Realised precision is the share of a "
        "sorted playlist whose recording truly carries the label (genre, or mood = argmax of the GEMS factor "
        "means); the base rate is what picking at random would realise. One row per context as the user gets it "
        f"(target {result['target_precision']}: a promised playlist or none), then the same model with the "
        "best-effort opt-in (labelled, not promised).",
        ["context", "sort", "promised", "assigned", "realised", "assigned (unseen)", "realised (unseen)",
         "base rate", "base rate (unseen)"])
    for kind, table in (("promised only", rows), ("best effort opt-in", effort)):
        for context, row in sorted(table.items()):
            promise = (row["promised"] if row["reached"] else "best effort" if row["best_effort"] else "no playlist")
            precision.rows.append([context, kind, promise, row["assigned"], _maybe(row["realised"]),
                                   row["unseen_assigned"], _maybe(row["realised_unseen"]), _maybe(row["base_rate"]),
                                   _maybe(row["base_rate_unseen"])])
    timing = Table("Real-audio end to end: wall time per CLI step",
                   "Each step is a fresh `flask` process against the sandbox with the real services' limits "
                   "(Deezer 50 calls per 5 s); enrich analyses the real 30-s previews.",
                   ["step", "wall s"], [[name, seconds] for name, seconds in result["timings"].items()])
    return [precision, timing]


def _maybe(value: float | None) -> float | str:
    return "-" if value is None else value


def area(contexts: list[str], playlists: int, tracks: int, checks: list[list]) -> list[Table]:
    """The bench area: skipped with a sentence when emotify_dev is absent."""
    if not (EMOTIFY_DIR / "metadata.csv").is_file():
        return [Table("Real-audio end to end", f"Skipped: {EMOTIFY_DIR} is absent.", ["-"])]
    result = run(EMOTIFY_DIR, contexts, playlists=playlists, tracks=tracks)
    promised = {c: r for c, r in result["contexts"].items() if r["reached"] and r["assigned"]}
    checks.append([f"real-audio sandbox: every promised playlist realises at least its promise - {END_TO_END_TOLERANCE}",
                   f"{len(promised) - len(short_of_promise(promised))} of {len(promised)} promised "
                   f"({len(result['contexts']) - len(promised)} of {len(result['contexts'])} contexts with no "
                   "playlist)", not short_of_promise(promised)])
    labelled = {c: r for c, r in result["best_effort"].items() if r["best_effort"] and r["assigned"]}
    beaten = [c for c, r in labelled.items() if r["realised"] > r["base_rate"]]
    checks.append(["real-audio sandbox, best-effort opt-in: every best-effort playlist beats the base rate",
                   f"{len(beaten)} of {len(labelled)}", bool(labelled) and len(beaten) == len(labelled)])
    return tables(result)
