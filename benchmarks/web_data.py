"""Area 5's dataset: one user's store of N tracks with features, labels, library, trained model and sort, bulk-inserted."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import insert, select, text

from app.pipeline.providers.deezer import album_values, track_values
from app.pipeline.providers.reccobeats import feature_values
from sandbox.model import DEEZER_GENRES, World
from app.storage.tables import (
    Context, ContextPlaylist, Job, Label, LibraryImport, LibraryItem, LibraryPlaylist, SourcePlaylist, Track,
    TrackFeatures, User,
)

# Character fields the ReccoBeats rows carry, with the jitter (in their own units) a re-edition gets.
_JITTER = {"acousticness": 0.03, "danceability": 0.03, "energy": 0.03, "instrumentalness": 0.02,
           "liveness": 0.03, "loudness": 0.6, "speechiness": 0.01, "tempo": 1.5, "valence": 0.03}
_CHUNK = 5_000
EDITION_ID_BASE = 9_000_000_000  # above every Deezer id the world hands out


@dataclass
class WebDataset:
    """What was built, for the report."""

    user_id: int
    tracks: int
    feature_rows: int
    labels: int
    contexts: int
    library_tracks: int
    model_contexts: list[str]
    model_id: int
    sort_run_id: int
    assignments: int
    seconds: dict[str, float]


def build(session, world: World, user: str, n_tracks: int, model_contexts: list[str], instance_dir: str,
          n_jobs: int = 2) -> WebDataset:
    """Fill an empty, migrated store; returns what it holds. `session` is the app's `db.session`.

    How it is made (seconds, not the hours a real harvest at Deezer's 50 requests per 5 s would take):

    - The catalogue is the sandbox world (seed 42; 22,000 tracks at full scale), topped up to N tracks with
      re-editions of its tracks: new Deezer ids and ISRCs, the same artist and album, the hidden character
      jittered by a few percent, and no Spotify id (as a harvested Deezer track has none).
    - Features are what the real providers store: the `deezer` values come from the provider's own parsers
      (`track_values`, `album_values`) fed the fields the sandbox's Deezer serves, the `reccobeats` values from
      the provider's parser fed the sandbox's ReccoBeats rows (the ~15 % the sandbox lacks stay missing). The
      `preview` provider (librosa on each 30-s clip, ~0.1 s of a core per track: over an hour here) is left
      out, so Explore's correlation and VIF work on fewer columns than after a real enrichment: its figures
      are on the light side.
    - Labels are the world's public Deezer playlists of every context, each taken for its context as a harvest
      would, plus one copy per re-edition round holding the re-editions of that playlist's tracks.
    - The user's library is their sandbox Liked Songs and own playlists (with real sandbox Spotify ids, so the
      Save page's comparison with Spotify works); a harvest job row names their favourite contexts, so Explore
      and Model default to them.
    - The model is trained and the library sorted by the product's own `train_for_user` and `sort_for_user`.
    """
    from app.models.service import sort_for_user, train_for_user
    from app.storage.tables import SortAssignment

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    rng = np.random.default_rng(5)
    base = sorted(world.tracks.values(), key=lambda t: t.deezer_id)
    rows, origins, recco, editions = _track_rows(world, base, n_tracks, rng)
    _bulk(session, Track, rows)
    ids = dict(session.execute(select(Track.deezer_id, Track.id)).all())
    by_spotify = dict(session.execute(select(Track.spotify_id, Track.id).where(Track.spotify_id.is_not(None))).all())
    features = _feature_rows(world, rows, origins, recco, ids)
    _bulk(session, TrackFeatures, features)
    n_labels, n_contexts = _labels(session, world, ids, editions)
    user_id, n_library = _library(session, world, user, by_spotify, model_contexts)
    session.commit()
    seconds["bulk inserts"] = time.perf_counter() - started

    started = time.perf_counter()
    model = train_for_user(session, user_id, model_contexts, instance_dir=instance_dir, n_jobs=n_jobs)
    seconds["training"] = time.perf_counter() - started
    started = time.perf_counter()
    run = sort_for_user(session, user_id, model.id)
    session.commit()
    seconds["sort"] = time.perf_counter() - started
    assignments = session.query(SortAssignment).filter_by(sort_run_id=run.id).count()
    if session.get_bind().dialect.name == "postgresql":
        # A store that has lived a while has planner statistics (autovacuum analyses a table within about a
        # minute of heavy writes); right after a bulk COPY it has none, and the planner guesses 18 library rows
        # where there are 10,859. Measured pages should see the store as it runs, not as it is a second old.
        session.execute(text("ANALYZE"))
        session.commit()
    return WebDataset(user_id, len(rows), len(features), n_labels, n_contexts, n_library, list(model_contexts),
                      model.id, run.id, assignments, seconds)


def _bulk(session, model, rows: list[dict]) -> None:
    """Insert rows fast: PostgreSQL's COPY (several times quicker than multi-row INSERTs), else batched INSERTs."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        _copy(session, model.__table__, rows)
        return
    for start in range(0, len(rows), _CHUNK):
        session.execute(insert(model), rows[start:start + _CHUNK])


def _copy(session, table, rows: list[dict]) -> None:
    from psycopg.types.json import Json

    columns = list(dict.fromkeys(key for row in rows for key in row))
    # Column defaults (created_at and the like) are Python-side, so COPY must be given them.
    for column in table.columns:
        if column.name not in columns and column.default is not None and not column.primary_key:
            columns.append(column.name)
    defaults = {c.name: c.default.arg for c in table.columns if c.default is not None and c.name in columns}
    driver = session.connection().connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    with driver.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
        for row in rows:
            values = []
            for c in columns:
                value = row[c] if c in row else _default(defaults[c]) if c in defaults else None
                values.append(Json(value) if isinstance(value, (dict, list)) else value)
            copy.write_row(values)


def _default(arg):  # noqa: ANN001, ANN202
    return arg(None) if callable(arg) else arg


def _track_rows(world: World, base: list, n_tracks: int, rng: np.random.Generator):
    """Track rows (world tracks, then re-editions), the world track each copies, ReccoBeats rows, base -> editions."""
    rows, origins, recco = [], [], {}
    editions: dict[int, list[int]] = {}  # base deezer id -> its re-editions' deezer ids
    for track in base:
        rows.append(_track_row(world, track, track.deezer_id, track.spotify_id, track.isrc, track.on_deezer))
        origins.append(track)
        if track.reccobeats_id:
            recco[track.deezer_id] = _recco_row(track)
    extra = max(0, n_tracks - len(base))
    for i in range(extra):
        track = base[i % len(base)]
        edition_id = EDITION_ID_BASE + i
        # Harvested from Deezer, so on Deezer whatever the base track is.
        rows.append(_track_row(world, track, edition_id, None, f"ZZ{edition_id % 10**10:010d}", True))
        origins.append(track)
        editions.setdefault(track.deezer_id, []).append(edition_id)
        if track.reccobeats_id:
            row = _recco_row(track)
            for name, scale in _JITTER.items():
                row[name] = float(row[name]) + float(rng.normal(0, scale))
            for name in ("acousticness", "danceability", "energy", "instrumentalness", "liveness", "speechiness",
                         "valence"):
                row[name] = min(1.0, max(0.0, row[name]))
            row["loudness"] = min(0.0, row["loudness"])
            recco[edition_id] = row
    return rows[:n_tracks], origins[:n_tracks], recco, editions


def _track_row(world: World, track, deezer_id: int, spotify_id: str | None, isrc: str, matched: bool) -> dict:
    album = world.albums[track.album_id]
    artists = [world.artists[a].name for a in track.artist_ids]
    return {"deezer_id": deezer_id if matched else None, "spotify_id": spotify_id, "isrc": isrc,
            "title": track.title, "artist": artists[0], "artists": artists, "album": album.title,
            "deezer_album_id": album.deezer_id, "duration_ms": track.duration_ms, "explicit": track.explicit,
            "release_date": album.release_date, "match_method": "isrc" if matched else "none",
            "match_confidence": 1.0 if matched else None,
            "match_note": None if matched else "Deezer has no track with this ISRC, artist and title",
            "matched_at": datetime.now(UTC)}


def _recco_row(track) -> dict:
    c = track.character
    return {"acousticness": c.acousticness, "danceability": c.danceability, "energy": c.energy,
            "instrumentalness": c.instrumentalness, "key": c.key, "liveness": c.liveness, "loudness": c.loudness,
            "mode": c.mode, "speechiness": c.speechiness, "tempo": c.tempo, "valence": c.valence}


def _feature_rows(world: World, rows: list[dict], origins: list, recco: dict, ids: dict) -> list[dict]:
    """`deezer` and `reccobeats` rows as the providers would store them (their own parsers on sandbox fields)."""
    now = datetime.now(UTC)
    out = []
    for row, track in zip(rows, origins, strict=True):
        if row["deezer_id"] is None:
            continue
        album = world.albums[track.album_id]
        answer = {"duration": track.duration_ms // 1000, "bpm": track.bpm, "gain": track.gain, "rank": track.rank,
                  "explicit_lyrics": track.explicit, "release_date": album.release_date}
        values = track_values(answer)
        values.update(album_values(album.deezer_id, {
            "genres": {"data": [{"name": DEEZER_GENRES[g]} for g in album.genre_ids if g in DEEZER_GENRES]},
            "release_date": album.release_date}))
        track_id = ids[row["deezer_id"]]
        out.append({"track_id": track_id, "provider": "deezer", "provider_version": "1", "status": "ok",
                    "values": values, "fetched_at": now})
        if row["deezer_id"] in recco:
            out.append({"track_id": track_id, "provider": "reccobeats", "provider_version": "1", "status": "ok",
                        "values": feature_values(recco[row["deezer_id"]]), "fetched_at": now})
    return out


def _labels(session, world: World, ids: dict, editions: dict[int, list[int]]) -> tuple[int, int]:
    """Every context's public Deezer playlists, taken as a harvest would, plus their re-edition copies."""
    now = datetime.now(UTC)
    contexts = sorted({pl.context for pl in world.deezer_playlists.values() if pl.context})
    _bulk(session, Context, [{"key": c, "name": c} for c in contexts])
    context_ids = dict(session.execute(select(Context.key, Context.id)).all())
    playlists, members = [], []
    rounds = max((len(v) for v in editions.values()), default=0)
    for pl in sorted(world.deezer_playlists.values(), key=lambda p: p.id):
        if not pl.context:
            continue
        tracks = [tid for tid in pl.track_ids if tid in ids]
        for k in range(rounds + 1):
            chosen = tracks if k == 0 else [editions[t][k - 1] for t in tracks if len(editions.get(t, [])) >= k]
            if not chosen:
                continue
            external = pl.id if k == 0 else f"{pl.id}-e{k}"
            playlists.append({"service": "deezer", "external_id": external,
                              "name": pl.title if k == 0 else f"{pl.title} (more)", "owner_name": pl.owner_name,
                              "fans": pl.fans, "nb_tracks": len(chosen), "checksum": None, "fetched_at": now})
            members.append((external, pl.context, chosen))
    _bulk(session, SourcePlaylist, playlists)
    source_ids = dict(session.execute(select(SourcePlaylist.external_id, SourcePlaylist.id)).all())
    _bulk(session, ContextPlaylist, [{"context_id": context_ids[ctx], "source_playlist_id": source_ids[ext],
                                      "relevance": 1.0, "chosen": True, "status": "taken", "reason": None,
                                      "harvested_at": now} for ext, ctx, _ in members])
    labels, seen = [], set()
    for external, context, chosen in members:
        for position, deezer_id in enumerate(chosen):
            key = (context, deezer_id, external)
            if key in seen:
                continue
            seen.add(key)
            labels.append({"context_id": context_ids[context], "track_id": ids[deezer_id],
                           "source_playlist_id": source_ids[external], "position": position, "created_at": now})
    _bulk(session, Label, labels)
    return len(labels), len(contexts)


def _library(session, world: World, spotify_user: str, by_spotify: dict, contexts: list[str]) -> tuple[int, int]:
    """The user, their Liked Songs and own playlists (sandbox ids), an import record and a harvest job row."""
    person = world.users[spotify_user]
    user = User(spotify_id=person.id, display_name=person.display_name, account_id=person.account_id)
    session.add(user)
    session.flush()
    now = datetime.now(UTC)
    done = LibraryImport(user_id=user.id, kind="spotify-liked", status="done", finished_at=now,
                         counts={"liked": len(person.liked)})
    session.add(done)
    session.flush()
    items = []
    for position, (deezer_id, added_at) in enumerate(person.liked):
        track_id = by_spotify.get(world.tracks[deezer_id].spotify_id)
        if track_id is not None:
            items.append({"user_id": user.id, "collection": "liked", "track_id": track_id, "import_id": done.id,
                          "position": position, "added_at": datetime.fromisoformat(added_at.replace("Z", "+00:00"))})
    for pid in person.playlist_ids:
        pl = world.spotify_playlists[pid]
        row = LibraryPlaylist(user_id=user.id, external_key=f"spotify:{pid}", spotify_id=pid, name=pl.title,
                              owned_by_user=True, track_count=len(pl.track_ids), synced_at=now)
        session.add(row)
        session.flush()
        for position, deezer_id in enumerate(dict.fromkeys(pl.track_ids)):
            track_id = by_spotify.get(world.tracks[deezer_id].spotify_id)
            if track_id is not None:
                items.append({"user_id": user.id, "collection": f"playlist:{row.id}", "track_id": track_id,
                              "library_playlist_id": row.id, "import_id": done.id, "position": position})
    _bulk(session, LibraryItem, items)
    session.add(Job(user_id=user.id, kind="harvest", status="succeeded", params={"contexts": list(contexts)},
                    result={}, started_at=now, finished_at=now))
    return user.id, len({item["track_id"] for item in items})
