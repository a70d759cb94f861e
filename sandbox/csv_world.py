"""A sandbox world built from a CSV of real Spotify tracks (the TidyTuesday spotify_songs format)."""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections import Counter

import numpy as np
import pandas as pd

from sandbox import names
from sandbox.model import Album, Artist, Character, Playlist, Track, World
from sandbox.world import NOW, UserSpec, WorldBuilder, WorldConfig, _ALNUM, _base62_ids, _decimal_ids, _iso

# TidyTuesday playlist genres to Deezer top-level genres; edm splits by subgenre like Deezer's catalogue.
_GENRE_IDS = {"pop": 132, "rap": 116, "rock": 152, "latin": 197, "r&b": 165, "edm": 113}
_EDM_ELECTRO = {"electro house", "progressive electro house"}

# Distinct tastes over the CSV's genres and subgenres (absent names are skipped).
_CSV_TASTES = (
    ("edm", "electro house", "big room", "pop edm", "progressive electro house", "trap", "dance pop"),
    ("rock", "album rock", "classic rock", "permanent wave", "hard rock", "indie poptimism"),
    ("r&b", "neo soul", "new jack swing", "urban contemporary", "hip pop", "electropop"),
    ("latin", "reggaeton", "tropical", "latin pop", "latin hip hop"),
)


def world_from_csv(csv_path: str | os.PathLike, seed: int = 42, scale: str = "full") -> World:
    """Load every row of the CSV as tracks and playlists; `scale` only sizes the users' libraries."""
    frame = pd.read_csv(csv_path).dropna(subset=["track_name", "track_artist"])
    return _CsvBuilder(seed, WorldConfig.for_scale(scale), frame).build_from_csv().index()


class _CsvBuilder(WorldBuilder):
    """Reuses the generator's identifiers, mess and users over catalogue rows read from a CSV."""

    def __init__(self, seed: int, cfg: WorldConfig, frame: pd.DataFrame):
        super().__init__(seed, cfg)
        self.frame = frame
        genres = sorted(frame["playlist_genre"].unique())
        subgenres = sorted(set(frame["playlist_subgenre"].unique()) - set(genres))
        self.contexts = genres + subgenres

    def build_from_csv(self) -> World:
        """Catalogue and playlists from the CSV, then the generator's users over them."""
        self._artists_from_csv()
        self._albums_from_csv()
        self._tracks_from_csv()
        self._playlists_from_csv()
        self.index_truth()
        self.cfg = dataclasses.replace(self.cfg, users=self._csv_users())
        self.make_users()
        return self.assemble()

    def _artists_from_csv(self) -> None:
        artist_names = sorted(self.frame["track_artist"].unique())
        ids = _decimal_ids(self.rng_ids, len(artist_names), 1_000, 60_000)
        sids = _base62_ids(self.rng_ids, len(artist_names), self.spotify_taken)
        self.artists = [Artist(ids[i], sids[i], name) for i, name in enumerate(artist_names)]
        self.artist_by_name = {a.name: a for a in self.artists}

    def _albums_from_csv(self) -> None:
        rng = self.rng_cat
        first = self.frame.drop_duplicates("track_album_id").set_index("track_album_id")
        main_genre = (self.frame.groupby("track_album_id")[["playlist_genre", "playlist_subgenre"]]
                      .agg(lambda s: Counter(s).most_common(1)[0][0]))
        ids = _decimal_ids(self.rng_ids, len(first), 100_000, 90_000)
        self.albums, self.album_by_sid = [], {}
        for i, row in enumerate(first.sort_index().reset_index().to_dict("records")):
            sid = row["track_album_id"]
            genre, subgenre = main_genre.loc[sid]
            genre_id = 106 if subgenre in _EDM_ELECTRO else _GENRE_IDS.get(genre, 132)
            date = str(row["track_album_release_date"])
            precision = {4: "year", 7: "month"}.get(len(date), "day")
            album = Album(deezer_id=ids[i], spotify_id=str(sid), title=str(row["track_album_name"]),
                          artist_id=self.artist_by_name[row["track_artist"]].deezer_id, genre_ids=[genre_id],
                          release_date=date, release_date_precision=precision,
                          record_type="single" if row["track_album_name"] == row["track_name"] else "album",
                          label=names.label(rng), upc=names.upc(rng))
            self.albums.append(album)
            self.album_by_sid[sid] = album

    def _tracks_from_csv(self) -> None:
        mess = self.rng_mess
        labels = self.frame.groupby("track_id")[["playlist_genre", "playlist_subgenre"]].agg(set)
        rows = self.frame.drop_duplicates("track_id").set_index("track_id").sort_index()
        n = len(rows)
        ids = _decimal_ids(self.rng_ids, n, 100_000_000, 120_000)
        registrants: dict[str, str] = {}
        self.tracks = []
        for i, row in enumerate(rows.reset_index().to_dict("records")):
            sid = row["track_id"]
            self.spotify_taken.add(str(sid))
            album = self.album_by_sid[row["track_album_id"]]
            artist = self.artist_by_name[row["track_artist"]]
            registrant = registrants.setdefault(artist.name, names.isrc_registrant(mess, "", _ALNUM))
            year = int(str(album.release_date)[:4])
            title, _, version = str(row["track_name"]).partition(" - ")
            genres, subgenres = labels.loc[sid]
            tempo = float(row["tempo"])
            self.tracks.append(Track(
                deezer_id=ids[i], spotify_id=str(sid), isrc=self._isrc(registrant, year), title=title,
                title_version=f"({version})" if version else "", artist_ids=[artist.deezer_id],
                album_id=album.deezer_id, duration_ms=int(row["duration_ms"]),
                explicit=bool(mess.random() < (.6 if "rap" in genres else .12)),
                rank=int(np.clip(row["track_popularity"] * 9_000 + mess.integers(0, 9_000), 1_000, 999_999)),
                gain=round(float(np.clip(-(row["loudness"] + 21) * .8, -20, -.5)), 1),
                bpm=0.0 if mess.random() < .3 else round(tempo * (1 + mess.normal(0, .004)), 1),
                character=_character(row), contexts=frozenset(genres | subgenres),
                reccobeats_id=None if mess.random() < .15 else str(uuid.UUID(bytes=mess.bytes(16), version=4)),
                on_deezer=bool(mess.random() >= .03),
                deezer_isrc=self._isrc(registrant, year) if mess.random() < .03 else None))
        self.track_by_sid = {t.spotify_id: t for t in self.tracks}

    def _playlists_from_csv(self) -> None:
        """Every CSV playlist becomes a public Deezer playlist made for its subgenre."""
        rng = self.rng_pl
        self.deezer_playlists, self.spotify_playlists = {}, {}
        groups = sorted(self.frame.groupby("playlist_id"), key=lambda g: g[0])
        ids = _decimal_ids(self.rng_ids, len(groups), 1_000_000_000, 3_000_000)
        for pid, (_, rows) in zip(ids, groups):
            tracks = [self.track_by_sid[s] for s in dict.fromkeys(rows["track_id"])]
            tracks = [t for t in tracks if t.on_deezer]
            created = int(rng.uniform(NOW - 10 * 365 * 86_400, NOW - 30 * 86_400))
            owner_id, owner_name = names.playlist_owner(rng, "deezer", str(rows["playlist_genre"].iloc[0]))
            self.deezer_playlists[str(pid)] = Playlist(
                service="deezer", id=str(pid), title=str(rows["playlist_name"].iloc[0]), description="",
                owner_id=owner_id, owner_name=owner_name, fans=int(rng.lognormal(7.5, 2.0)), public=True,
                collaborative=False, track_ids=[t.deezer_id for t in tracks],
                added_at=self._added_times(created, len(tracks)), context=str(rows["playlist_subgenre"].iloc[0]),
                created=_iso(created)[:10])

    def _csv_users(self) -> tuple[UserSpec, ...]:
        """The scale's users, with tastes expressed in this CSV's contexts."""
        specs = []
        for spec, taste in zip(self.cfg.users, _CSV_TASTES):
            favourites = tuple(c for c in taste if c in self.contexts) or tuple(self.contexts[:3])
            specs.append(UserSpec(spec.id, spec.display_name, spec.n_liked, spec.allow_listed, favourites,
                                  min(spec.n_playlists, len(favourites)), spec.since_year))
        return tuple(specs)


def _character(row: dict) -> Character:
    return Character(
        tempo=float(row["tempo"]), energy=float(row["energy"]), loudness=float(row["loudness"]),
        valence=float(row["valence"]), acousticness=float(row["acousticness"]),
        danceability=float(row["danceability"]), instrumentalness=float(row["instrumentalness"]),
        speechiness=float(row["speechiness"]), liveness=float(row["liveness"]), key=int(row["key"]),
        mode=int(row["mode"]), time_signature=4)
