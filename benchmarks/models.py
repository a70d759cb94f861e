"""Area 4: grid-searched training and sorting at several sizes, and the precision promise on real data."""

from __future__ import annotations

import json
import subprocess
import sys
import numpy as np
import pandas as pd

from benchmarks.common import ROOT, Table, median

SHARED_CSV = ROOT.parent / "shared" / "data" / "raw" / "tidytuesday_spotify_songs.csv"
NUMERIC = ["danceability", "energy", "loudness", "speechiness", "acousticness", "instrumentalness", "liveness",
           "valence", "tempo", "duration_ms"]


def training_data(n_tracks: int, seed: int = 7) -> pd.DataFrame:
    """`n_tracks` labelled tracks: the real shared CSV resampled with jitter when present, else synthetic.

    Resampling keeps the real data's difficulty; jitter and renamed copies of playlists keep the copies from
    being exact duplicates, so the grid search does the work it would do on that many distinct tracks.
    """
    rng = np.random.default_rng(seed)
    if SHARED_CSV.exists():
        base = pd.read_csv(SHARED_CSV)
        base = base[["track_id", "playlist_id", "playlist_genre", "key", "mode", *NUMERIC]]
    else:
        base = _synthetic(30_000, rng)
    rows = base.sample(n=n_tracks, replace=n_tracks > len(base), random_state=seed).reset_index(drop=True)
    copy = np.arange(len(rows)) // max(len(base), 1)
    rows["track_id"] = rows["track_id"].astype(str) + "-" + pd.Series(np.arange(len(rows))).astype(str)
    rows["playlist_id"] = rows["playlist_id"].astype(str) + "-" + pd.Series(copy).astype(str)
    for column in NUMERIC:
        scale = float(rows[column].std()) * 0.02
        rows[column] = rows[column] + rng.normal(0, scale, len(rows))
    return rows


def _synthetic(n: int, rng: np.random.Generator) -> pd.DataFrame:
    genres = np.array(["edm", "latin", "pop", "r&b", "rap", "rock"])
    label = rng.integers(0, len(genres), n)
    frame = pd.DataFrame({"track_id": np.arange(n).astype(str), "playlist_id": (label * 100 + rng.integers(0, 80, n)),
                          "playlist_genre": genres[label], "key": rng.integers(0, 12, n), "mode": rng.integers(0, 2, n)})
    for i, column in enumerate(NUMERIC):
        frame[column] = rng.normal(label * (i % 3 - 1) * 0.3, 1.0, n)
    return frame


def train_and_sort(sizes: list[int], sort_sizes: list[int], runs: int, big_runs: int,
                   checks: list[list], n_jobs: int = 2) -> list[Table]:
    """Each size in a fresh process, so its peak memory is its own; the grid search spreads over `n_jobs`."""
    table = Table(
        "Training (full grid) and sorting",
        "Training = grid search over C, penalty and class weight with playlist-grouped folds, out-of-fold "
        f"cutoffs, the held-out check and the final refit, on {n_jobs} core{'s' if n_jobs != 1 else ''}. Targets: "
        "30,000 tracks in under 60 s; sorting 10,000 tracks (probabilities, cutoffs, reasons, sanity check) in "
        "under 2 s. Each size runs in its own process; peak memory is that process's. Median of the runs.",
        ["tracks", "train s (median)", "train s (all runs)", "peak memory MiB", "sort tracks", "sort s (median)"])
    for size in sizes:
        repeats = runs if size <= 30_000 else big_runs
        results = [_measure(size, sort_sizes, n_jobs) for _ in range(repeats)]
        sort_rows = {n: median([r["sort_seconds"][str(n)] for r in results]) for n in sort_sizes}
        table.rows.append([size, median([r["train_seconds"] for r in results]),
                           ", ".join(f"{r['train_seconds']:.1f}" for r in results),
                           max(r["peak_mib"] for r in results),
                           " / ".join(f"{n:,}" for n in sort_sizes),
                           " / ".join(f"{sort_rows[n]:.3f}" for n in sort_sizes)])
        train_s = median([r["train_seconds"] for r in results])
        if size == 30_000:
            checks.append(["training 30,000 tracks (full grid) < 60 s", f"{train_s:.1f} s", train_s < 60])
        if size == sizes[0] and 10_000 in sort_rows:
            checks.append(["sorting 10,000 tracks < 2 s", f"{sort_rows[10_000]:.3f} s", sort_rows[10_000] < 2])
    return [table]


def _measure(size: int, sort_sizes: list[int], n_jobs: int) -> dict:
    code = ("import json,sys; from benchmarks.models import measure_in_process; "
            f"print(json.dumps(measure_in_process({size}, {sort_sizes!r}, {n_jobs})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_in_process(size: int, sort_sizes: list[int], n_jobs: int = 2) -> dict:
    import resource
    import time

    from app.models.dataset import build_dataset
    from app.models.features import derive_columns, infer_feature_spec
    from app.models.training import train_context_model

    frame = derive_columns(training_data(size))
    spec, _ = infer_feature_spec(frame, exclude=("track_id", "playlist_genre", "playlist_id"), group_col="playlist_id")
    dataset = build_dataset(frame, id_col="track_id", label_col="playlist_genre", spec=spec, group_col="playlist_id")
    started = time.perf_counter()
    model, _report = train_context_model(dataset, id_col="track_id", n_jobs=n_jobs)
    train_seconds = time.perf_counter() - started
    sort_seconds = {}
    for n in sort_sizes:
        library = derive_columns(training_data(n, seed=11)).drop_duplicates("track_id")
        started = time.perf_counter()
        model.sort(library)
        sort_seconds[str(n)] = time.perf_counter() - started
    return {"train_seconds": train_seconds, "sort_seconds": sort_seconds,
            "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


#: Targets the promise is measured at (the issue's two, and 0.7 where playlists are given): a higher one
#: must never realise less.
PROMISE_TARGETS = (0.7, 0.85, 0.95)
#: One grid point, as in tests/models/test_promise_check.py: the promise, not the search, is measured.
PROMISE_GRID = [{"classifier__estimator__C": [0.1], "classifier__estimator__class_weight": [None]}]


def promise(n_jobs: int = 2) -> list[Table]:
    """Realised against promised precision on held-out playlists of the real data, beside plain LR (the trainings
    spread over `n_jobs` processes, which changes no figure)."""
    if not SHARED_CSV.exists():
        return [Table("Precision promise on real data", f"Skipped: {SHARED_CSV} is absent.", ["-"], [])]
    from app.models.evaluation import promise_checks

    frame = pd.read_csv(SHARED_CSV)
    tables = []
    for label, top_n in (("playlist_genre", None), ("playlist_name", 12)):
        results = promise_checks(frame, label, top_n=top_n, targets=PROMISE_TARGETS, grid=PROMISE_GRID,
                                 prior_shifts=True, n_jobs=n_jobs)
        tables.extend(_promise_table(label, top_n, result) for result in results.values())
    tables.append(_budget_table(frame, n_jobs))
    return tables


#: The harvest's old default split of a context's 1,000 tracks and today's (app/pipeline/harvest.py).
BUDGET_SPLITS = ((10, 100), (40, 25))
#: Random draws of the playlists per split (the bench smoke test, which checks the harness, asks for one).
BUDGET_DRAWS = 3


def _budget_table(frame: pd.DataFrame, n_jobs: int) -> Table:
    from app.models.evaluation import budget_split_checks

    table = Table("One harvest budget, few long or many short playlists: playlist_genre",
                  "Per genre about 1,000 training tracks, as the first tracks of N playlists (the harvest's "
                  f"splits {' and '.join(f'{p} x {t}' for p, t in BUDGET_SPLITS)}; only playlists at least that "
                  "long, so the few-long split may get fewer), then the held-out playlists sorted at each target. "
                  f"{BUDGET_DRAWS} random draw{'s' if BUDGET_DRAWS != 1 else ''} of the playlists. Promised: the "
                  "contexts given a playlist and their promise.",
                  ["draw", "split", "tracks trained on", "target", "coverage", "precision", "baseline",
                   "every promise kept", "promised"])
    for row in budget_split_checks(frame, "playlist_genre", BUDGET_SPLITS, seeds=BUDGET_DRAWS, grid=PROMISE_GRID,
                                   n_jobs=n_jobs):
        table.rows.append([row["seed"], f"{row['playlists']} x {row['tracks']}", row["trained_on"], row["target"],
                           row["coverage"], row["precision"] if row["precision"] is not None else "-",
                           row["baseline_precision"] if row["baseline_precision"] is not None else "-",
                           "yes" if row["promises_kept"] else "NO",
                           ", ".join(f"{c} {p:.2f}" for c, p in sorted(row["promised"].items())) or "none"])
    return table


def _promise_table(label: str, top_n: int | None, result: dict) -> Table:
    title = (f"Precision promise on held-out playlists: {label}" + (f" (the {top_n} largest)" if top_n else "")
             + f", target {result['target_precision']}")
    table = Table(title, "Trained on some playlists; the held-out playlists are sorted as a library is (their mix of "
                  "contexts and of 'none of these' estimated first, cutoffs chosen for it). Promised: the promise "
                  "shown for them; realised: the share right. A context that cannot keep the target gets no "
                  "playlist. Baseline: a plain multinomial LogisticRegression (StandardScaler, argmax) given as "
                  "many tracks per context, and overall the same coverage. Shares: estimated (true).",
                  ["context", "promised", "realised", "assigned", "share est. (true)", "baseline at same count"])
    for context, row in sorted(result["contexts"].items()):
        table.rows.append([context, row["promised"] if row["cutoff"] is not None else "no playlist",
                           row["realised"] if row["realised"] is not None else "-", row["assigned"],
                           f"{row['estimated_share']:.3f} ({row['true_share']:.3f})",
                           row["baseline_same_count"] if row["baseline_same_count"] is not None else "-"])
    table.rows.append(["all assignments", "-", result["precision"] if result["precision"] is not None else "-",
                       f"coverage {result['coverage']:.3f}",
                       f"none of these {result['background_estimated']:.3f} ({result['background_true']:.3f})",
                       result["baseline_precision"] if result["baseline_precision"] is not None else "-"])
    for shift in result.get("prior_shift", []):
        for context, row in sorted(shift["contexts"].items()):
            if row["assigned"]:
                table.rows.append([f"library 80% {shift['mostly']}: {context}", row["promised"], row["realised"],
                                   row["assigned"], f"{row['estimated_share']:.3f} ({row['true_share']:.3f})", "-"])
    return table
