"""A sandbox world whose tracks are real recordings from a folder with a `metadata.csv` (the emotify_dev layout)."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from sandbox import names
from sandbox.model import DEEZER_GENRES, Album, Artist, Playlist, Track, World
from sandbox.world import NOW, UserSpec, WorldBuilder, WorldConfig, _ALNUM, _base62_ids, _decimal_ids, \
    _gumbel_top, _iso

# Emotify's nine GEMS vote shares, grouped into the three factors whose argmax is the derived `mood`.
MOOD_FACTORS = {
    "calm": ("amazement", "solemnity", "tenderness", "nostalgia", "calmness"),
    "energetic": ("power", "joyful_activation"),
    "tense_sad": ("tension", "sadness"),
}
# Columns that describe a recording rather than label it; never offered as labels.
_NOT_LABELS = {"file", "track_id", "emotify_id", "artist", "album", "title", "n_annotators"}
AUDIO_SUFFIXES = {".mp3", ".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif"}
PREVIEW_SECONDS = 30.0

# How people name playlists of a label value; `{v}` is the value as written, `{V}` capitalised. A value not
# listed here gets the generic names. Some titles leave the word out, as real ones do (search misses them).
_TITLES = {
    "classical": ("Classical for studying", "chill classical", "Classical essentials", "classical focus",
                  "Piano & strings", "Best of classical", "classical music for reading"),
    "electronic": ("electronic", "Electronic essentials", "electronic chill", "late night electronic",
                   "Beats & synths", "electronic focus"),
    "pop": ("pop hits", "Pop favourites", "feel good pop", "indie pop", "pop mix {year}", "Sing-along"),
    "rock": ("rock workout", "Rock classics", "indie rock", "rock anthems", "rock mix {year}", "Guitar heroes"),
    "calm": ("calm", "Calm evening", "calm & relaxing", "Peaceful piano", "calm focus", "Sunday morning calm"),
    "energetic": ("energetic", "Energetic workout", "upbeat & energetic", "Power hour", "energetic morning"),
    "tense_sad": ("sad and tense", "Tense & sad", "sad songs, tense nights", "Dark moods", "tense sad mix"),
}
_GENERIC = ("{v}", "{V} essentials", "best of {v}", "my {v} playlist", "{v} mix {year}", "pure {v}")
# Two labels in one title, the way people combine a genre with a mood.
_PAIRS = ("{b} {a}", "{a} for {b} days", "{A}, {b}")
_SAY = {"tense_sad": "sad"}  # how a label value reads inside a longer title
# The generated world's listeners over these labels: a favourite order each; absent labels are skipped.
_TASTES = (
    ("mira.s", "Mira", True, ("energetic", "rock", "electronic", "pop", "calm")),
    ("jonas.b", "Jonas", True, ("calm", "classical", "electronic", "tense_sad")),
    ("ana.k", "Ana", True, ("rock", "pop", "tense_sad", "energetic")),
    ("leo.p", "Leo", False, ("pop", "electronic", "energetic")),
)
# Deezer genres a distributor files an album under instead of the obvious one.
_NEIGHBOURS = {98: (173, 129, 466), 106: (113, 132, 85), 152: (85, 464, 132), 132: (85, 113, 165),
               129: (169, 153, 98), 113: (106, 132)}
_LIBRARY_SHARE = {"small": (.45, .35, .3, .25), "full": (.6, .5, .4, .3)}


class AudioWorldError(ValueError):
    """The folder or its metadata cannot make a world; the message says what to fix."""


def read_metadata(audio_dir: str | Path, label_columns: list[str] | tuple[str, ...] | None = None
                  ) -> tuple[pd.DataFrame, list[str]]:
    """The rows of DIR/metadata.csv whose files exist, with a derived `mood` when the GEMS columns are there.

    Returns the frame (an absolute `path` column added) and the label columns used.
    """
    folder = Path(audio_dir)
    if not folder.is_dir():
        raise AudioWorldError(f"{folder} is not a folder of audio files")
    meta_path = folder / "metadata.csv"
    if not meta_path.is_file():
        raise AudioWorldError(f"{folder} has no metadata.csv (one row per recording: a `file` column with the "
                              "path relative to the folder, then label columns such as genre)")
    try:
        frame = pd.read_csv(meta_path, dtype={"file": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise AudioWorldError(f"{meta_path} is not a readable CSV: {exc}") from exc
    if "file" not in frame.columns:
        raise AudioWorldError(f"{meta_path} has no `file` column (columns: {', '.join(map(str, frame.columns))})")
    frame = frame.dropna(subset=["file"]).copy()
    if "mood" not in frame.columns and all(c in frame.columns for cols in MOOD_FACTORS.values() for c in cols):
        frame["mood"] = _mood(frame)
    columns = list(label_columns) if label_columns else [c for c in ("genre", "mood") if c in frame.columns]
    if not columns:
        raise AudioWorldError(f"{meta_path} has neither a `genre` nor a `mood` column: name the label columns "
                              f"with --label-columns (columns: {', '.join(map(str, frame.columns))})")
    missing = [c for c in columns if c not in frame.columns or c in _NOT_LABELS]
    if missing:
        raise AudioWorldError(f"label column(s) {', '.join(missing)} not usable in {meta_path} "
                              f"(columns: {', '.join(map(str, frame.columns))})")
    root = folder.resolve()
    frame["path"] = [str((root / f).resolve()) for f in frame["file"]]
    outside = [f for f, p in zip(frame["file"], frame["path"]) if not p.startswith(str(root) + "/")]
    if outside:
        raise AudioWorldError(f"{meta_path} names files outside the folder: {', '.join(outside[:3])}")
    absent = [f for f, p in zip(frame["file"], frame["path"])
              if not Path(p).is_file() or Path(p).suffix.lower() not in AUDIO_SUFFIXES]
    if absent:
        raise AudioWorldError(f"{len(absent)} file(s) named in {meta_path} are missing or not audio "
                              f"({', '.join(absent[:3])}{', ...' if len(absent) > 3 else ''})")
    for column in columns:
        frame[column] = frame[column].map(_label_value)
    frame = frame.drop_duplicates("path").reset_index(drop=True)
    if frame[columns].isna().all(axis=1).all() or len(frame) < 4:
        raise AudioWorldError(f"{meta_path} needs at least 4 labelled recordings; it has {len(frame)}")
    return frame, columns


def _mood(frame: pd.DataFrame) -> pd.Series:
    """The argmax of the three factor means (the dataset README's coarse mood)."""
    means = pd.DataFrame({name: frame[list(cols)].astype(float).mean(axis=1) for name, cols in MOOD_FACTORS.items()})
    return means.idxmax(axis=1).where(means.notna().all(axis=1))


def _label_value(value) -> str | None:
    if pd.isna(value) or not str(value).strip():
        return None
    return re.sub(r"\s+", " ", str(value).strip().lower())


def world_from_audio(audio_dir: str | Path, label_columns: list[str] | tuple[str, ...] | None = None,
                     seed: int = 42, scale: str = "small") -> World:
    """A world over DIR's recordings: generated identifiers, playlists drawn from the labels, mixed libraries."""
    frame, columns = read_metadata(audio_dir, label_columns)
    return _AudioBuilder(seed, WorldConfig.for_scale(scale), frame, columns).build_from_audio().index()


@functools.lru_cache(maxsize=4)
def cached_audio_world(audio_dir: str, label_columns: tuple[str, ...] | None = None, seed: int = 42,
                       scale: str = "small") -> World:
    """`world_from_audio`, built once per process (it takes well under a second for hundreds of files)."""
    return world_from_audio(audio_dir, label_columns, seed, scale)


class _AudioBuilder(WorldBuilder):
    """The generator's identifiers and users over catalogue rows read from the metadata."""

    def __init__(self, seed: int, cfg: WorldConfig, frame: pd.DataFrame, columns: list[str]):
        super().__init__(seed, cfg)
        self.frame, self.columns = frame, columns
        self.contexts = sorted({v for c in columns for v in frame[c].dropna()})

    def build_from_audio(self) -> World:
        self._catalogue()
        self.index_truth()
        self._public_playlists()
        n = len(self.tracks)
        shares = _LIBRARY_SHARE.get(self.cfg.scale, _LIBRARY_SHARE["small"])
        users = []
        for (uid, display, allowed, taste), share in zip(_TASTES, shares):
            favourites = tuple(c for c in taste if c in self.contexts) or tuple(self.contexts[:3])
            users.append(UserSpec(uid, display, max(4, int(n * share)), allowed, favourites,
                                  min(2, len(favourites)), 2015))
        self.cfg = dataclasses.replace(self.cfg, users=tuple(users), own_playlist_size=(6, 20))
        self.make_users()
        return self.assemble()

    def _catalogue(self) -> None:
        rng, mess = self.rng_cat, self.rng_mess
        rows = self.frame.to_dict("records")
        artist_names = [_text(r.get("artist")) or "Unknown Artist" for r in rows]
        distinct = sorted(set(artist_names))
        ids = _decimal_ids(self.rng_ids, len(distinct), 1_000, 60_000)
        sids = _base62_ids(self.rng_ids, len(distinct), self.spotify_taken)
        self.artists = [Artist(ids[i], sids[i], name) for i, name in enumerate(distinct)]
        artist_by_name = {a.name: a for a in self.artists}
        registrants = {a.name: names.isrc_registrant(mess, "", _ALNUM) for a in self.artists}

        first_row: dict[tuple[str, str], dict] = {}
        for artist, row in zip(artist_names, rows):
            first_row.setdefault((artist, _text(row.get("album")) or _title(row)), row)
        album_ids = _decimal_ids(self.rng_ids, len(first_row), 100_000, 90_000)
        album_sids = _base62_ids(self.rng_ids, len(first_row), self.spotify_taken)
        self.albums, album_by_key = [], {}
        for i, ((artist, title), row) in enumerate(first_row.items()):
            date, precision = names.release_date(rng, int(rng.integers(1998, 2014)))
            album = Album(deezer_id=album_ids[i], spotify_id=album_sids[i], title=title,
                          artist_id=artist_by_name[artist].deezer_id, genre_ids=self._deezer_genre(row),
                          release_date=date, release_date_precision=precision,
                          record_type="album" if _text(row.get("album")) else "single",
                          label=names.label(rng), upc=names.upc(rng))
            self.albums.append(album)
            album_by_key[(artist, title)] = album

        n = len(rows)
        track_ids = _decimal_ids(self.rng_ids, n, 100_000_000, 120_000)
        track_sids = _base62_ids(self.rng_ids, n, self.spotify_taken)
        self.tracks = []
        for i, (artist, row) in enumerate(zip(artist_names, rows)):
            album = album_by_key[(artist, _text(row.get("album")) or _title(row))]
            labels = {c: row[c] for c in self.columns if isinstance(row[c], str)}
            long_form = "classical" in labels.values()
            self.tracks.append(Track(
                deezer_id=track_ids[i], spotify_id=track_sids[i],
                isrc=self._isrc(registrants[artist], int(album.release_date[:4])), title=_title(row),
                title_version="", artist_ids=[artist_by_name[artist].deezer_id], album_id=album.deezer_id,
                # The recording is a 30-s excerpt; the song it comes from is a few minutes long.
                duration_ms=int(rng.lognormal(np.log(400_000 if long_form else 240_000), .3)),
                explicit=bool(mess.random() < .03), rank=int(np.clip(rng.lognormal(11.0, 1.0), 1_000, 999_999)),
                gain=round(float(rng.uniform(-12.0, -3.0)), 1),
                bpm=0.0,            # Deezer's bpm for these recordings is unknown, as it often is
                character=None,     # no Spotify or ReccoBeats features exist for them
                contexts=frozenset(labels.values()), reccobeats_id=None, audio_file=row["path"], labels=labels))

    def _deezer_genre(self, row: dict) -> list[int]:
        """Deezer's album genre from a label naming one, as noisy as a distributor's tagging: 70% that genre,
        25% a neighbouring one, 5% none (Deezer leaves some albums without)."""
        by_name = {name.lower(): gid for gid, name in DEEZER_GENRES.items()} | {"electronic": 106}
        found = [by_name[row[c]] for c in self.columns if isinstance(row[c], str) and row[c] in by_name]
        draw = self.rng_cat.random()
        if not found or draw < .05:
            return []
        if draw < .3:
            others = _NEIGHBOURS.get(found[0]) or tuple(g for g in DEEZER_GENRES if g != found[0])
            return [int(others[int(self.rng_cat.integers(len(others)))])]
        return found[:1]

    def _public_playlists(self) -> None:
        """Per label value several playlists of varied size and purity, plus a few combining two labels."""
        rng = self.rng_pl
        self.deezer_playlists, self.spotify_playlists = {}, {}
        self.uses: dict[str, np.ndarray] = {}
        deezer_ids = iter(_decimal_ids(self.rng_ids, 40 * len(self.contexts) + 400, 1_000_000_000, 3_000_000))
        for value in self.contexts:
            members = self.in_ctx[value]
            if members.sum() < 3:
                continue
            for _ in range(int(rng.integers(4, 8))):
                title = names.pick(rng, _TITLES.get(value, _GENERIC))
                self._add(str(next(deezer_ids)), value, members, title)
            sid = _base62_ids(self.rng_ids, 1, self.spotify_taken)[0]
            self._add(sid, value, members, names.pick(rng, _TITLES.get(value, _GENERIC)), service="spotify")
        if len(self.columns) >= 2:
            first, second = self.columns[:2]
            pairs = self.frame[[first, second]].dropna().value_counts()
            for (a, b), count in pairs.items():
                if count >= 8 and rng.random() < .35:
                    a_, b_ = _SAY.get(a, a), _SAY.get(b, b)
                    title = names.pick(rng, _PAIRS).format(a=a_, b=b_, A=a_.capitalize())
                    self._add(str(next(deezer_ids)), a, self.in_ctx[a] & self.in_ctx[b], title)

    def _add(self, pid: str, value: str, members: np.ndarray, template: str, service: str = "deezer") -> None:
        rng = self.rng_pl
        lo, hi = 6, max(7, min(40, int(members.sum() * .6)))
        size = int(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))
        off_rate = 0.0 if rng.random() < .35 else rng.uniform(.03, .2)
        n_off = int(round(size * off_rate))
        # People pick from the whole catalogue, so two playlists of one label share a few tracks, not most:
        # a track already placed under this label is less likely to be picked again.
        fresh = .2 ** self.uses.setdefault(value, np.zeros(len(self.tracks)))
        on = self._top(self.popularity ** .3 * fresh * members, size - n_off)
        off = self._top(self.popularity ** .3 * ~members, n_off)
        self.uses[value][on] += 1
        picks = rng.permutation(np.concatenate([on, off]).astype(int))
        created = int(rng.uniform(NOW - 8 * 365 * 86_400, NOW - 30 * 86_400))
        year = int(_iso(created)[:4])
        owner_id, owner_name = names.playlist_owner(rng, service, value)
        title = template.format(v=value.replace("_", " "), V=value.replace("_", " ").capitalize(), year=year)
        playlist = Playlist(
            service=service, id=pid, title=title, description="", owner_id=owner_id, owner_name=owner_name,
            fans=int(rng.lognormal(6.0, 2.0)), public=True, collaborative=False,
            track_ids=[int(self.track_arr[i]) for i in picks], added_at=self._added_times(created, len(picks)),
            context=value, created=_iso(created)[:10])
        (self.deezer_playlists if service == "deezer" else self.spotify_playlists)[pid] = playlist

    def _top(self, weights: np.ndarray, k: int) -> np.ndarray:
        return _gumbel_top(self.rng_pl, weights, k)


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value).strip()


def _title(row: dict) -> str:
    return _text(row.get("title")) or Path(str(row["file"])).stem


# -- previews ------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def _clip_cache():
    from sandbox.audio import _ClipCache
    return _ClipCache(64 * 1024 * 1024)


def real_preview(track: Track, seconds: float = PREVIEW_SECONDS) -> bytes:
    """The recording as a Deezer preview: an MP3 of at most 30 s (and at most `seconds`).

    A file that already is such an MP3 is served byte for byte; anything longer or in another format is cut
    and encoded once, then kept in a bounded cache.
    """
    path = Path(track.audio_file or "")
    if not path.is_file():
        raise LookupError(f"{path} is gone")
    limit = min(float(seconds), PREVIEW_SECONDS)
    try:
        info = sf.info(str(path))
    except RuntimeError:  # undecodable: the CDN still serves the bytes it holds, and the client finds out
        return path.read_bytes()
    if path.suffix.lower() == ".mp3" and info.duration <= limit + 0.5:
        return path.read_bytes()
    cache = _clip_cache()
    key = (track.deezer_id, limit, 0)
    data = cache.get(key)
    if data is None:
        from sandbox.audio import encode_mp3
        y, sr = sf.read(str(path), frames=int(limit * info.samplerate), dtype="float32", always_2d=True)
        data = encode_mp3(y.mean(axis=1), sr)
        cache.put(key, data)
    return data
