"""Small synthetic labelled tracks and helpers shared by the model-layer tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.models import pipeline, training

# Each context's audio character: (energy, tempo, acousticness), plus its usual mode.
PROFILES = {
    "workout": ((0.85, 130.0, 0.1), 1),
    "sleep": ((0.15, 70.0, 0.85), 0),
    "study": ((0.35, 95.0, 0.6), 1),
}
TIDYTUESDAY = "../shared/data/raw/tidytuesday_spotify_songs.csv"


def make_rows(playlists_per_context: int = 5, tracks_per_playlist: int = 24,
              shared: int = 3, seed: int = 0) -> pd.DataFrame:
    """One row per (track, playlist); the first ``shared`` tracks of each workout playlist also sit
    in a study playlist, so some tracks carry two contexts."""
    rng = np.random.default_rng(seed)
    rows = []
    for context, ((energy, tempo, acoustic), mode) in PROFILES.items():
        for p in range(playlists_per_context):
            # Playlists of one context differ a little, as real ones do.
            shift = rng.normal(0, 0.04)
            for t in range(tracks_per_playlist):
                rows.append({
                    "track_id": f"{context}-{p}-{t}",
                    "playlist_id": f"{context}-pl{p}",
                    "context": context,
                    "energy": float(np.clip(rng.normal(energy + shift, 0.12), 0, 1)),
                    "tempo": float(rng.normal(tempo, 12)),
                    "acousticness": float(np.clip(rng.normal(acoustic - shift, 0.15), 0, 1)),
                    "key": int(rng.integers(0, 12)),
                    "mode": int(mode if rng.random() < 0.8 else 1 - mode),
                    "release_date": f"{int(rng.integers(1985, 2020))}-01-01",
                })
    frame = pd.DataFrame(rows)
    extra = []
    for p in range(playlists_per_context):
        for t in range(shared):
            row = frame[frame.track_id == f"workout-{p}-{t}"].iloc[0].to_dict()
            extra.append({**row, "playlist_id": f"study-pl{p}", "context": "study"})
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)


@pytest.fixture
def rows() -> pd.DataFrame:
    return make_rows()


#: One grid point, so tests exercise the search without paying for it.
SMALL_GRID = {"classifier__estimator__C": [1.0], "classifier__estimator__l1_ratio": [0.0],
              "classifier__estimator__class_weight": [None]}


@pytest.fixture
def small_grid(monkeypatch):
    """Make the default grid a single point (for the CLI, which always uses the default)."""
    monkeypatch.setattr(pipeline, "DEFAULT_GRID", SMALL_GRID)
    monkeypatch.setattr(training, "DEFAULT_GRID", SMALL_GRID)
    return SMALL_GRID
