"""A library's own songs bound what a cutoff promises: the reading of its mix, and a library whose other songs sound
nearer a context than the harvest's songs of no context did."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from app.models.cutoffs import manual_cutoff
from app.models.library_reading import LIBRARY_GRID, library_counts, library_reading
from app.models.dataset import build_dataset
from app.models.features import derive_columns, infer_feature_spec
from app.models.training import train_context_model

from tests.models.conftest import SMALL_GRID

#: (energy, tempo, acousticness) of each kind of song; "gym-pop" is no context, and sounds nearer workout
#: than the harvest's songs of no context ("charts") do: the charts with less acoustic sound.
SOUNDS = {"workout": (0.85, 130.0, 0.10), "sleep": (0.15, 70.0, 0.85), "study": (0.35, 95.0, 0.60),
          "charts": (0.50, 110.0, 0.45), "gym-pop": (0.55, 110.0, 0.30)}


def _songs(rng, kind: str, n: int, prefix: str) -> list[dict]:
    energy, tempo, acoustic = SOUNDS[kind]
    return [{"track_id": f"{prefix}{i}", "energy": float(np.clip(rng.normal(energy, 0.1), 0, 1)),
             "tempo": float(rng.normal(tempo, 10)), "acousticness": float(np.clip(rng.normal(acoustic, 0.1), 0, 1)),
             "release_date": "2015-01-01", "kind": kind} for i in range(n)]


@pytest.fixture(scope="module")
def library_case():
    """A model trained on 24 playlists per context and 300 chart songs, and a library of 400 workout, 200 sleep
    and 800 gym-pop songs (57% of no context, unlike any song it saw)."""
    rng = np.random.default_rng(7)
    rows = []
    for context in ("workout", "sleep", "study"):
        for p in range(24):
            for song in _songs(rng, context, 8, f"{context}-{p}-"):
                rows.append({**song, "context": context, "playlist_id": f"{context}-pl{p}"})
    frame = derive_columns(pd.DataFrame(rows).drop(columns="kind"))
    background = derive_columns(pd.DataFrame(_songs(rng, "charts", 300, "chart-")).drop(columns="kind"))
    spec, _ = infer_feature_spec(frame, exclude=("track_id", "context", "playlist_id"), group_col="playlist_id")
    dataset = build_dataset(frame, id_col="track_id", label_col="context", spec=spec, group_col="playlist_id",
                            background=background)
    model, _ = train_context_model(dataset, id_col="track_id", grid=SMALL_GRID, n_splits=4, test_size=0,
                                   n_jobs=1)
    model = replace(model, open_world=True)
    library = pd.DataFrame(_songs(rng, "workout", 400, "w") + _songs(rng, "sleep", 200, "s")
                           + _songs(rng, "gym-pop", 800, "g"))
    return model, library


def _realised(model, library) -> dict[str, tuple[float, float, int]]:
    """Per promised context: (promised, realised on the library's truth, songs)."""
    adapted, _, assigned = model.decide(derive_columns(library.drop(columns="kind")))
    out = {}
    for j, context in enumerate(adapted.contexts):
        choice = adapted.cutoffs[context]
        taken = assigned[:, j]
        if choice.cutoff is not None and not choice.best_effort and taken.sum():
            out[context] = (choice.promised_precision, float((library["kind"][taken] == context).mean()),
                            int(taken.sum()))
    return out


def test_a_library_of_other_songs_unlike_the_charts_keeps_its_promises(library_case):
    model, library = library_case
    kept = _realised(model, library)
    assert "workout" in kept  # a playlist is still offered
    for context, (promised, realised, songs) in kept.items():
        assert realised >= promised - 0.05, (context, promised, realised, songs)


def test_without_the_reading_the_mix_alone_would_promise_more_than_such_a_library_holds(library_case):
    """The case the reading is for: the EM takes the gym-pop songs for workout ones and the promise breaks."""
    model, library = library_case
    adapted, _, _ = model.decide(derive_columns(library.drop(columns="kind")))
    mix_alone = replace(adapted, library_counts=None).retarget(
        context_targets={c: choice.target_precision for c, choice in adapted.cutoffs.items()})
    proba = mix_alone.adjusted(mix_alone.posterior(derive_columns(library.drop(columns="kind"))))
    taken = mix_alone.assign(proba)[:, mix_alone.contexts.index("workout")]
    promised = mix_alone.cutoffs["workout"].promised_precision
    assert promised > 0 and (library["kind"][taken] == "workout").mean() < promised - 0.05
    assert adapted.cutoffs["workout"].cutoff > mix_alone.cutoffs["workout"].cutoff
    assert "your library's own songs above it read" in adapted.cutoffs["workout"].message


def _gaps(fits: int) -> list[float]:
    """True precision minus the reading at four cutoffs, for a library of ``fits`` songs of the context scoring as
    its held-out songs do and nine times as many others scoring low."""
    rng = np.random.default_rng(3)
    oof = np.r_[rng.beta(5, 2, 2000), rng.beta(2, 5, 2000)]
    truth = np.r_[np.ones(2000, bool), np.zeros(2000, bool)]
    fitting = rng.beta(5, 2, fits)
    scores = np.r_[fitting, rng.beta(1.5, 6, 9 * fits)]
    counts = library_counts(scores[:, None], np.ones((len(scores), 1), bool))[0]
    reading = library_reading(oof, truth, None, counts)
    return [(fitting >= cutoff).sum() / (scores >= cutoff).sum() - reading(np.array([cutoff]))[0]
            for cutoff in (0.5, 0.6, 0.7, 0.8)]


def test_the_reading_is_a_lower_bound_of_the_precision_and_closer_the_more_songs_it_rests_on():
    small, large = _gaps(300), _gaps(3000)
    assert min(small + large) >= 0.0, (small, large)
    assert np.mean(large) < np.mean(small) and max(large) <= 0.2, (small, large)


def test_too_few_songs_give_no_reading_and_a_hand_set_cutoff_reads_it_too():
    rng = np.random.default_rng(4)
    oof = np.r_[rng.beta(5, 2, 400), rng.beta(2, 5, 400)]
    truth = np.r_[np.ones(400, bool), np.zeros(400, bool)]
    few = library_counts(rng.beta(5, 2, (10, 1)), np.ones((10, 1), bool))[0]
    assert library_reading(oof, truth, None, few) is None
    # A library of 200 songs, a tenth of them the context's: a hand-set cutoff promises no more than they read.
    library = np.r_[rng.beta(5, 2, 20), rng.beta(3, 3, 180)]
    counts = library_counts(library[:, None], np.ones((200, 1), bool))[0]
    assert len(counts) == len(LIBRARY_GRID)
    reading = library_reading(oof, truth, None, counts)
    assert reading is not None
    choice = manual_cutoff(oof, truth, 0.6, library=reading)
    plain = manual_cutoff(oof, truth, 0.6)
    assert choice.promised_precision < plain.promised_precision
    assert choice.promised_precision == pytest.approx(reading(np.array([0.6]))[0])
    assert "your library's own songs above it read a precision of at least" in choice.message



def test_library_counts_are_the_songs_each_context_would_take_at_each_grid_cutoff():
    rng = np.random.default_rng(6)
    proba = np.round(rng.random((500, 3)), 2)  # on the grid too, where >= must count the song
    eligible = rng.random((500, 3)) < 0.6
    counts = library_counts(proba, eligible)
    for j in range(3):
        assert counts[j].tolist() == [int(((proba[:, j] >= g) & eligible[:, j]).sum()) for g in LIBRARY_GRID]
