"""Times training (full grid) and sorting on the TidyTuesday tracks: ``python -m app.models.bench``."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from app.models.dataset import build_dataset
from app.models.evaluation import promise_check
from app.models.features import derive_columns, infer_feature_spec
from app.models.training import train_context_model

DEFAULT_CSV = Path("../shared/data/raw/tidytuesday_spotify_songs.csv")


def bench(csv: Path = DEFAULT_CSV, label: str = "playlist_genre", sort_tracks: int = 10_000,
          n_jobs: int = 2) -> dict:
    """Seconds to train with the full grid on every track of ``csv`` and to sort ``sort_tracks``.

    Returns
    -------
    dict
        ``tracks``, ``contexts``, ``train_seconds`` (grid search, out-of-fold cutoffs, held-out
        check and final refit), ``sort_tracks`` and ``sort_seconds`` (probabilities, cutoffs,
        reasons and the shape check).
    """
    frame = derive_columns(pd.read_csv(csv))
    spec, _ = infer_feature_spec(frame, exclude=("track_id", label, "playlist_id"),
                                 group_col="playlist_id")
    dataset = build_dataset(frame, id_col="track_id", label_col=label, spec=spec,
                            group_col="playlist_id")
    started = time.perf_counter()
    model, report = train_context_model(dataset, id_col="track_id", n_jobs=n_jobs)
    train_seconds = time.perf_counter() - started
    library = frame.drop_duplicates("track_id").head(sort_tracks)
    started = time.perf_counter()
    result = model.sort(library)
    sort_seconds = time.perf_counter() - started
    return {"tracks": len(dataset), "contexts": len(dataset.contexts),
            "candidates": len(report.grid["candidates"]), "train_seconds": train_seconds,
            "sort_tracks": len(library), "sort_seconds": sort_seconds,
            "assignments": len(result.assignments)}


def main() -> None:
    """Print the timings (and, with --promise, the promise checks) as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--promise", action="store_true",
                        help="also run the promise check on playlist_genre and the 12 largest "
                             "playlist names")
    args = parser.parse_args()
    print(json.dumps(bench(args.csv)))
    if args.promise:
        frame = pd.read_csv(args.csv)
        for label, top_n in (("playlist_genre", None), ("playlist_name", 12)):
            print(json.dumps(promise_check(frame, label, top_n=top_n), default=str))


if __name__ == "__main__":
    main()
