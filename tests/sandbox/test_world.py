"""The generated sandbox world is deterministic, realistically sized and messy, and its hidden truth is learnable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sandbox.model import DEEZER_GENRES, World
from sandbox.world import CONTEXTS, generate_world, load_world, world_fingerprint

CSV_PATH = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "raw" / "tidytuesday_spotify_songs.csv"
ISRC = re.compile(r"[A-Z]{2}[A-Z0-9]{3}\d{7}")
BASE62_22 = re.compile(r"[0-9A-Za-z]{22}")


def _timed(scale: str, seed: int = 42) -> World:
    start = time.perf_counter()
    world = generate_world(seed, scale)
    print(f"\ngenerate_world(seed={seed}, scale={scale!r}): {time.perf_counter() - start:.2f} s, "
          f"{len(world.tracks)} tracks")
    return world


@pytest.fixture(scope="module")
def small() -> World:
    return _timed("small")


@pytest.fixture(scope="module")
def full() -> World:
    return _timed("full")


def _context_playlists(world: World, service: str = "deezer") -> Counter:
    table = world.deezer_playlists if service == "deezer" else world.spotify_playlists
    return Counter(p.context for p in table.values() if p.context)


# ------------------------------------------------------------------------------------- determinism

def test_same_seed_gives_the_same_world_and_another_seed_a_different_one(small):
    assert world_fingerprint(generate_world(42, "small")) == world_fingerprint(small)
    assert world_fingerprint(generate_world(43, "small")) != world_fingerprint(small)


def test_world_does_not_depend_on_the_process_hash_seed(small):
    """Set iteration order changes with PYTHONHASHSEED; the world must not."""
    code = "from sandbox.world import *; print(world_fingerprint(generate_world(42, 'small')))"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == world_fingerprint(small)


def test_load_world_caches_on_disk_and_returns_the_same_world(tmp_path, small):
    first = load_world(42, "small", cache_dir=tmp_path)
    cached = list(tmp_path.glob("*.pkl"))
    assert len(cached) == 1 and "42" in cached[0].name and "small" in cached[0].name
    again = load_world(42, "small", cache_dir=tmp_path)
    assert world_fingerprint(first) == world_fingerprint(again) == world_fingerprint(small)
    assert again.by_spotify_id and again.by_isrc, "a cached world comes back indexed"


def test_unknown_scale_is_rejected():
    with pytest.raises(ValueError):
        generate_world(1, "huge")


# ------------------------------------------------------------------------------------- scale

def test_full_scale_meets_the_minimum_sizes(full):
    assert len(full.tracks) >= 20_000
    assert len(full.artists) >= 2_000
    assert len(full.contexts) >= 30 and full.contexts == CONTEXTS
    per_context = _context_playlists(full)
    assert all(per_context[c] >= 5 for c in CONTEXTS), per_context
    assert all(_context_playlists(full, "spotify")[c] >= 2 for c in CONTEXTS)
    liked = {u.id: len(u.liked) for u in full.users.values() if u.allow_listed}
    assert sum(1_000 <= n <= 5_000 for n in liked.values()) >= 2, liked
    assert max(liked.values()) >= 10_000
    assert any(not u.allow_listed for u in full.users.values())


def test_small_scale_is_small_but_covers_every_context(small):
    assert 2_500 <= len(small.tracks) <= 3_500 and 250 <= len(small.artists) <= 400
    per_context = _context_playlists(small)
    assert all(per_context[c] >= 3 for c in CONTEXTS), per_context
    sizes = sorted(len(u.liked) for u in small.users.values())
    assert sizes[0] >= 300 and 1_400 <= sizes[-1] <= 1_600


# ------------------------------------------------------------------------------------- realism

def test_albums_carry_deezer_genre_names_and_mixed_date_precision(small):
    genres = {g for a in small.albums.values() for g in a.genre_ids}
    assert genres <= set(DEEZER_GENRES) and len(genres) >= 15
    assert any(not a.genre_ids for a in small.albums.values()), "some albums have no genre, like on Deezer"
    lengths = {"year": 4, "month": 7, "day": 10}
    assert all(len(a.release_date) == lengths[a.release_date_precision] for a in small.albums.values())
    assert set(Counter(a.release_date_precision for a in small.albums.values())) == set(lengths)


def test_identifiers_look_like_the_real_ones(small):
    tracks = list(small.tracks.values())
    assert all(ISRC.fullmatch(t.isrc) for t in tracks)
    assert all(t.deezer_isrc is None or ISRC.fullmatch(t.deezer_isrc) for t in tracks)
    assert all(BASE62_22.fullmatch(t.spotify_id) for t in tracks)
    assert all(BASE62_22.fullmatch(a.spotify_id) for a in small.artists.values())
    assert len({t.spotify_id for t in tracks}) == len(tracks)
    assert all(60_000 < t.duration_ms < 1_200_000 for t in tracks)
    assert 0.05 < np.mean([t.explicit for t in tracks]) < 0.4


def test_catalogue_is_messy_at_realistic_rates(full):
    tracks = list(full.tracks.values())
    rate = lambda pred: np.mean([pred(t) for t in tracks])  # noqa: E731
    assert 0.015 < rate(lambda t: not t.on_deezer) < 0.05
    assert 0.015 < rate(lambda t: t.deezer_isrc is not None) < 0.05
    assert 0.25 < rate(lambda t: t.bpm == 0.0) < 0.35
    assert 0.12 < rate(lambda t: t.reccobeats_id is None) < 0.18
    known = [t for t in tracks if t.bpm]
    assert np.median([abs(t.bpm / t.character.tempo - 1) for t in known]) < 0.01
    isrc_counts = Counter(t.isrc for t in tracks)
    assert 10 <= sum(n > 1 for n in isrc_counts.values()) < 0.05 * len(tracks), "a few remasters on compilations"
    versions = " ".join(t.title_version for t in tracks)
    for marker in ("(Remastered", "- Radio Edit", "(feat. ", "(Live)"):
        assert marker in versions


def test_public_playlists_vary_and_include_copies_and_misleading_titles(full):
    playlists = list(full.deezer_playlists.values())
    sizes = [len(p.track_ids) for p in playlists]
    assert min(sizes) >= 10 and max(sizes) >= 200
    assert all(full.tracks[t].on_deezer for p in playlists for t in p.track_ids)
    assert all(len(p.added_at) == len(p.track_ids) for p in playlists)
    on_topic = [np.mean([p.context in full.tracks[t].contexts for t in p.track_ids]) for p in playlists]
    assert np.median(on_topic) > 0.85 and min(on_topic) < 0.9, "mostly on topic, some with strays"
    fans = [p.fans for p in playlists]
    assert max(fans) > 100 * np.median(fans) > 100
    by_tracks = [(p, set(p.track_ids)) for p in playlists]
    copies = sum(1 for i, (a, sa) in enumerate(by_tracks) for b, sb in by_tracks[i + 1:]
                 if len(sa & sb) > 0.8 * min(len(sa), len(sb)))
    assert copies >= 10
    decoys = [p for p in playlists for c in CONTEXTS
              if c != p.context and re.search(rf"\b{re.escape(c)}\b", p.title, re.I)
              and not re.search(rf"\b{re.escape(p.context)}\b", p.title, re.I)]
    assert len(decoys) >= 5


# ------------------------------------------------------------------------------------- hidden truth

def _observables(world: World) -> tuple[np.ndarray, list]:
    """What a model can see: audio character, album genre, release year and explicit flag."""
    genre_ids = sorted(DEEZER_GENRES)
    rows, tracks = [], list(world.tracks.values())
    for t in tracks:
        c, album = t.character, world.albums[t.album_id]
        year = int(album.release_date[:4])
        genre = [float(bool(album.genre_ids) and album.genre_ids[0] == g) for g in genre_ids]
        rows.append([c.tempo, c.energy, c.loudness, c.valence, c.acousticness, c.danceability,
                     c.instrumentalness, c.speechiness, c.liveness, c.mode, float(t.explicit), year,
                     float(1980 <= year < 1990), float(1990 <= year < 2000), *genre])
    return np.array(rows), tracks


@pytest.mark.parametrize("context", ["workout", "edm", "study", "sleep", "throwback 80s", "jazz", "party"])
def test_ground_truth_is_learnable_from_observable_features(small, context):
    X, tracks = _observables(small)
    y = np.array([context in t.contexts for t in tracks])
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2_000)).fit(X_tr, y_tr)
    auc = roc_auc_score(y_te, model.predict_proba(X_te)[:, 1])
    assert auc > 0.85, f"{context}: AUC {auc:.3f} (chance is 0.5)"


def test_contexts_overlap_like_real_ones(full):
    n_contexts = Counter(len(t.contexts) for t in full.tracks.values())
    assert n_contexts[0] == 0
    multi = sum(v for k, v in n_contexts.items() if k >= 2) / len(full.tracks)
    assert 0.15 < multi < 0.7
    both = sum(1 for t in full.tracks.values() if {"workout", "edm"} <= t.contexts)
    assert both >= 50
    assert all(sum(c in t.contexts for t in full.tracks.values()) >= 200 for c in CONTEXTS)


# ------------------------------------------------------------------------------------- users

def test_liked_songs_are_newest_first_and_unique(full):
    for user in full.users.values():
        stamps = [added for _, added in user.liked]
        assert stamps == sorted(stamps, reverse=True)
        assert len({tid for tid, _ in user.liked}) == len(user.liked)


def test_users_have_distinct_tastes(full):
    def share(user_id: str, context: str) -> float:
        liked = full.users[user_id].liked
        return np.mean([context in full.tracks[tid].contexts for tid, _ in liked])
    assert share("jonas.b", "study") > 3 * share("mira.s", "study")
    assert share("mira.s", "workout") > 3 * share("jonas.b", "workout")


def test_users_own_playlists_follow_a_context_of_their_liked_songs(full):
    for user in full.users.values():
        assert len(user.playlist_ids) >= 3
        liked = {tid for tid, _ in user.liked}
        for pid in user.playlist_ids:
            pl = full.spotify_playlists[pid]
            assert pl.owner_id == user.id and set(pl.track_ids) <= liked
            counts = Counter(c for tid in pl.track_ids for c in full.tracks[tid].contexts)
            top_share = counts.most_common(1)[0][1] / len(pl.track_ids)
            assert top_share >= 0.85, (pl.title, counts.most_common(3))


# ------------------------------------------------------------------------------------- CSV world

@pytest.mark.slow
@pytest.mark.skipif(not CSV_PATH.exists(), reason="shared TidyTuesday CSV not present")
def test_world_loads_from_the_real_tracks_csv(tmp_path):
    world = load_world(42, "small", csv_path=CSV_PATH, cache_dir=tmp_path)
    assert len(world.tracks) > 20_000 and len(world.deezer_playlists) > 400
    assert len(world.contexts) >= 30
    assert {g for a in world.albums.values() for g in a.genre_ids} <= set(DEEZER_GENRES)
    assert all(t.contexts for t in world.tracks.values())
    assert any(u.allow_listed for u in world.users.values()) and any(not u.allow_listed for u in world.users.values())
    assert world_fingerprint(world) == world_fingerprint(load_world(42, "small", csv_path=CSV_PATH, cache_dir=tmp_path))
