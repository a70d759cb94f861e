"""Deterministic generation of the sandbox's music world: catalogue, hidden truth, public playlists and users."""
# Over 400 lines on purpose: `WorldBuilder` draws one consistent world in order (each step reads the random state the last one left).

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import tempfile
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sandbox import names
from sandbox.contexts import CONTEXTS, DECOYS, FEATURES, FIRST_YEAR, PROFILE_BY_NAME, PROFILES, ContextTables, \
    build_tables, log_likelihoods, true_contexts
from sandbox.model import DEEZER_GENRES, Album, Artist, Character, Playlist, Track, User, World

__all__ = ["CONTEXTS", "GENERATOR_VERSION", "UserSpec", "WorldConfig", "generate_world", "load_world",
           "world_fingerprint", "default_cache_dir"]

# Bump whenever generation changes, so stale disk caches are never served.
GENERATOR_VERSION = 2

# The world's "today": every timestamp lies before it, so worlds do not depend on the wall clock.
NOW_YEAR, NOW_MONTH = 2026, 10
NOW = int(datetime(NOW_YEAR, NOW_MONTH, 1, tzinfo=timezone.utc).timestamp())
DAY = 86_400

GENRE_IDS: list[int] = sorted(DEEZER_GENRES)
VARIOUS_ARTISTS_ID = 5080  # Deezer's real id for "Various Artists"


@dataclass(frozen=True)
class UserSpec:
    """One sandbox Spotify user: identity, library size and taste."""

    id: str
    display_name: str
    n_liked: int
    allow_listed: bool
    favourites: tuple[str, ...]   # preferred contexts, strongest first
    n_playlists: int
    since_year: int               # first year of their Liked Songs


@dataclass(frozen=True)
class WorldConfig:
    """Size knobs of one world scale."""

    scale: str
    n_tracks: int
    n_artists: int
    deezer_playlists: tuple[int, int]    # per context, inclusive range
    spotify_playlists: tuple[int, int]   # public Spotify playlists per context
    playlist_size: tuple[int, int]
    own_playlist_size: tuple[int, int]
    users: tuple[UserSpec, ...]

    @classmethod
    def for_scale(cls, scale: str) -> "WorldConfig":
        """The configuration of `full` (realistic sizes) or `small` (fast tests)."""
        if scale not in _SCALES:
            raise ValueError(f"unknown world scale {scale!r}; expected one of {sorted(_SCALES)}")
        return _SCALES[scale]


def _users(big: int, mid: int, low: int, outsider: int) -> tuple[UserSpec, ...]:
    return (
        UserSpec("mira.s", "Mira", big, True,
                 ("workout", "edm", "running", "party", "hip-hop", "summer", "k-pop", "gaming"), 5, 2014),
        UserSpec("jonas.b", "Jonas", mid, True,
                 ("study", "focus", "jazz", "classical", "lofi", "rainy day", "acoustic", "dinner"), 4, 2017),
        UserSpec("ana.k", "Ana", low, True,
                 ("indie", "rock", "road trip", "sad", "throwback 80s", "country", "chill"), 4, 2019),
        UserSpec("leo.p", "Leo", outsider, False,
                 ("latin", "reggae", "party", "summer", "r&b"), 3, 2020),
    )


_SCALES: dict[str, WorldConfig] = {
    "full": WorldConfig("full", 22_000, 2_400, (8, 12), (2, 4), (15, 300), (25, 120),
                        _users(10_500, 3_200, 1_400, 1_100)),
    "small": WorldConfig("small", 3_000, 320, (3, 4), (1, 2), (15, 60), (15, 50),
                         _users(1_500, 700, 350, 300)),
    # The small world's listeners with as many public playlists per context as the full world: a
    # promise rests on the number of playlists, which the small world (3-4 per context) cannot show.
    "medium": WorldConfig("medium", 8_000, 900, (8, 12), (1, 2), (15, 60), (15, 50),
                          _users(1_500, 700, 350, 300)),
    # The full world as deep as real Deezer's search: a name like "workout" finds dozens of public playlists
    # (real Deezer: hundreds), so a harvest of 40 playlists per context (the default) finds them, and a 0.8
    # promise, which rests on about a dozen effective playlists above the cutoff, can be backed at all.
    "deep": WorldConfig("deep", 22_000, 2_400, (40, 60), (2, 4), (15, 300), (25, 120),
                        _users(10_500, 3_200, 1_400, 1_100)),
}


# ---------------------------------------------------------------------------------------------- helpers

_B62 = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_ALNUM = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))


def _base62_ids(rng: np.random.Generator, n: int, taken: set[str], length: int = 22) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        for row in _B62[rng.integers(0, 62, size=(n - len(out), length))]:
            sid = "".join(row)
            if sid not in taken:
                taken.add(sid)
                out.append(sid)
    return out


def _decimal_ids(rng: np.random.Generator, n: int, start: int, mean_gap: int) -> list[int]:
    """Unique, realistic-looking numeric ids, handed out in random order."""
    ids = start + np.cumsum(rng.integers(1, 2 * mean_gap, size=n))
    return [int(i) for i in rng.permutation(ids)]


def _iso(ts: int | float) -> str:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _date_ts(date: str) -> int:
    parts = [int(p) for p in date.split("-")] + [1, 1]
    return int(datetime(parts[0], parts[1], parts[2], tzinfo=timezone.utc).timestamp())


def _gumbel_top(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """Indices of a weighted sample without replacement (Gumbel top-k), best first."""
    k = min(k, int((weights > 0).sum()))
    keys = np.log(np.maximum(weights, 1e-300)) + rng.gumbel(size=len(weights))
    keys[weights <= 0] = -np.inf
    top = np.argpartition(-keys, k - 1)[:k] if k else np.array([], dtype=int)
    return top[np.argsort(-keys[top])]


# ---------------------------------------------------------------------------------------------- generator

@dataclass
class _AlbumDraft:
    artist: int          # index into artists
    context: int
    n_tracks: int
    record_type: str
    year: int


class WorldBuilder:
    """Builds one world step by step; each step draws from its own random stream."""

    def __init__(self, seed: int, cfg: WorldConfig):
        self.seed, self.cfg = seed, cfg
        streams = np.random.SeedSequence(seed).spawn(8)
        (self.rng_names, self.rng_cat, self.rng_char, self.rng_mess, self.rng_pl, self.rng_users,
         self.rng_ids, self.rng_comp) = (np.random.default_rng(s) for s in streams)
        self.tables: ContextTables = build_tables(GENRE_IDS)
        self.spotify_taken: set[str] = set()
        self.isrc_taken: set[str] = set()
        self.isrc_counters: dict[str, int] = {}
        self.namer = names.Namer(self.rng_names)
        self.contexts: list[str] = list(CONTEXTS)

    # -- artists ----------------------------------------------------------------------------------
    def make_artists(self) -> None:
        """Artists, each rooted in one context (their scene), with a popularity and an ISRC registrant."""
        cfg, rng = self.cfg, self.rng_cat
        n = cfg.n_artists
        self.artist_ctx = rng.choice(len(CONTEXTS), size=n, p=self.tables.weights)
        self.artist_pop = rng.lognormal(0.0, 1.0, size=n)
        ids = _decimal_ids(self.rng_ids, n, 1_000, 60_000)
        sids = _base62_ids(self.rng_ids, n, self.spotify_taken)
        self.artists: list[Artist] = [
            Artist(deezer_id=ids[i], spotify_id=sids[i], name=self.namer.artist(CONTEXTS[self.artist_ctx[i]]))
            for i in range(n)]
        self.registrants = [names.isrc_registrant(rng, CONTEXTS[c], _ALNUM) for c in self.artist_ctx]

    # -- albums -----------------------------------------------------------------------------------
    def draft_albums(self) -> list[_AlbumDraft]:
        """Plan releases (artist, context, size, year) until the track target is met."""
        rng, t = self.rng_cat, self.tables
        n_art = len(self.artists)
        pop = self.artist_pop / self.artist_pop.sum()
        order = list(rng.permutation(n_art))  # every artist releases at least once
        drafts: list[_AlbumDraft] = []
        total = 0
        while total < self.cfg.n_tracks:
            a = int(order.pop()) if order else int(rng.choice(n_art, p=pop))
            kind = rng.choice(["single", "ep", "album"], p=[.35, .15, .5])
            size = {"single": int(rng.integers(1, 3)), "ep": int(rng.integers(4, 7)),
                    "album": int(rng.integers(8, 15))}[kind]
            size = min(size, self.cfg.n_tracks - total) or 1
            ctx = int(self.artist_ctx[a]) if rng.random() < .85 else int(rng.choice(len(CONTEXTS), p=t.weights))
            year = int(rng.choice(np.arange(len(t.year_p[ctx])), p=t.year_p[ctx])) + FIRST_YEAR
            drafts.append(_AlbumDraft(a, ctx, size, str(kind), year))
            total += size
        return drafts

    def make_albums(self, drafts: list[_AlbumDraft]) -> None:
        """Albums with Deezer genres drawn from their context, and mixed-precision release dates."""
        rng = self.rng_cat
        ids = _decimal_ids(self.rng_ids, len(drafts), 100_000, 90_000)
        sids = _base62_ids(self.rng_ids, len(drafts), self.spotify_taken)
        self.albums: list[Album] = []
        self.album_genre_idx: list[int] = []
        for i, d in enumerate(drafts):
            prof = PROFILES[d.context]
            gids = sorted(prof.genres)
            gw = np.array([prof.genres[g] for g in gids], dtype=float)
            main = int(rng.choice(gids, p=gw / gw.sum()))
            genres = [main]
            if rng.random() < .03:   # Deezer leaves some albums without any genre
                genres = []
            elif rng.random() < .2 and len(gids) > 1:
                genres.append(int(rng.choice([g for g in gids if g != main])))
            date, precision = names.release_date(rng, d.year, NOW_MONTH - 1 if d.year == NOW_YEAR else 12)
            title = names.album_title(rng, d.record_type) if d.record_type != "single" else ""
            self.albums.append(Album(
                deezer_id=ids[i], spotify_id=sids[i], title=title, artist_id=self.artists[d.artist].deezer_id,
                genre_ids=genres, release_date=date, release_date_precision=precision, record_type=d.record_type,
                label=names.label(rng), upc=names.upc(rng)))
            self.album_genre_idx.append(GENRE_IDS.index(genres[0]) if genres else -1)

    # -- tracks -----------------------------------------------------------------------------------
    def sample_characters(self, drafts: list[_AlbumDraft]) -> None:
        """Draw each track's primary context, hidden character and explicit flag; derive its truth."""
        rng, t = self.rng_char, self.tables
        album_of = np.repeat(np.arange(len(drafts)), [d.n_tracks for d in drafts])
        album_ctx = np.array([d.context for d in drafts])[album_of]
        n = len(album_of)
        stray = rng.random(n) >= .8
        primary = np.where(stray, rng.choice(len(CONTEXTS), size=n, p=t.weights), album_ctx)
        feats = t.means[primary] + t.sds[primary] * rng.standard_normal((n, t.means.shape[1]))
        feats[:, 0] = np.clip(feats[:, 0], 60, 200).round(3)  # the range tempo estimators cover
        loud = FEATURES.index("loudness")
        unit = [i for i in range(1, feats.shape[1]) if i != loud]  # the 0..1 features
        feats[:, unit] = np.clip(feats[:, unit], 0.0, 1.0).round(3)
        feats[:, loud] = np.clip(feats[:, loud], -35.0, -1.0).round(3)
        mode = (rng.random(n) < t.p_major[primary]).astype(int)
        explicit = rng.random(n) < t.p_explicit[primary]
        waltz = np.array([PROFILES[c].p_waltz for c in primary])
        self.time_sig = np.where(rng.random(n) < waltz, 3, 4)
        self.key = rng.integers(0, 12, size=n)
        genre_idx = np.array(self.album_genre_idx)[album_of]
        years = np.array([d.year for d in drafts])[album_of]
        ll = log_likelihoods(t, feats, mode, genre_idx, years, explicit)
        self.truth = true_contexts(ll)
        self.album_of, self.primary, self.feats, self.mode, self.explicit = album_of, primary, feats, mode, explicit

    def make_tracks(self, drafts: list[_AlbumDraft]) -> None:
        """Track records with identifiers, ranks and the catalogue mess of the real services."""
        rng, mess = self.rng_cat, self.rng_mess
        n = len(self.album_of)
        ids = _decimal_ids(self.rng_ids, n, 100_000_000, 120_000)
        sids = _base62_ids(self.rng_ids, n, self.spotify_taken)
        rank = np.clip(self.artist_pop[[drafts[a].artist for a in self.album_of]]
                       * rng.lognormal(11.0, 0.9, size=n), 1_000, 999_999).astype(int)
        length_factor = np.array([{"classical": 1.7, "meditation": 2.0, "sleep": 1.5, "jazz": 1.4}.get(CONTEXTS[p], 1.0)
                                  for p in self.primary])
        duration = (205_000 * length_factor * rng.lognormal(0, 0.22, size=n)).astype(int)
        no_bpm = mess.random(n) < .30
        no_recco = mess.random(n) < .15
        spotify_only = mess.random(n) < .03
        other_isrc = mess.random(n) < .03
        self.tracks: list[Track] = []
        for i in range(n):
            d = drafts[self.album_of[i]]
            artist = self.artists[d.artist]
            f = self.feats[i]
            ctx_name = CONTEXTS[self.primary[i]]
            character = Character(
                tempo=float(f[0]), energy=float(f[1]), loudness=float(f[2]), valence=float(f[3]),
                acousticness=float(f[4]), danceability=float(f[5]), instrumentalness=float(f[6]),
                speechiness=float(f[7]), liveness=float(f[8]), key=int(self.key[i]), mode=int(self.mode[i]),
                time_signature=int(self.time_sig[i]))
            artist_ids = [artist.deezer_id]
            version = names.title_version(mess, ctx_name, character, d.year)
            if not version and mess.random() < .07:
                guest = self._guest(d.artist)
                artist_ids.append(guest.deezer_id)
                version = f"(feat. {guest.name})"
            isrc = self._isrc(self.registrants[d.artist], d.year)
            title = self.namer.track_title(ctx_name, character)
            album = self.albums[self.album_of[i]]
            if not album.title:   # a single is named after its (first) track
                album.title = title
            bpm = 0.0 if no_bpm[i] else round(float(f[0]) * (1 + mess.normal(0, .004)), 1)
            self.tracks.append(Track(
                deezer_id=ids[i], spotify_id=sids[i], isrc=isrc,
                title=title, title_version=version, artist_ids=artist_ids, album_id=album.deezer_id,
                duration_ms=int(duration[i]), explicit=bool(self.explicit[i]), rank=int(rank[i]),
                gain=round(float(np.clip(-(f[2] + 21) * .8 + mess.normal(0, .8), -20, -.5)), 1), bpm=bpm,
                character=character,
                contexts=frozenset(CONTEXTS[c] for c in np.flatnonzero(self.truth[i])),
                reccobeats_id=None if no_recco[i] else str(uuid.UUID(bytes=mess.bytes(16), version=4)),
                on_deezer=not spotify_only[i],
                deezer_isrc=self._reissued_isrc(ctx_name, d.year) if other_isrc[i] else None,
            ))

    def _reissued_isrc(self, ctx: str, year: int) -> str:
        """The different ISRC Deezer sometimes holds for a recording (a distributor's re-registration)."""
        return self._isrc(names.isrc_registrant(self.rng_mess, ctx, _ALNUM), year)

    def _guest(self, artist_idx: int) -> Artist:
        same = np.flatnonzero(self.artist_ctx == self.artist_ctx[artist_idx])
        pick = int(self.rng_mess.choice(same))
        return self.artists[pick if pick != artist_idx else (pick + 1) % len(self.artists)]

    def _isrc(self, registrant: str, year: int) -> str:
        """A fresh ISRC CC-XXX-YY-NNNNN, unique across the world."""
        prefix = f"{registrant}{year % 100:02d}"
        while True:
            nxt = self.isrc_counters.get(prefix, int(self.rng_ids.integers(0, 40_000)))
            self.isrc_counters[prefix] = nxt + 1 + int(self.rng_ids.integers(0, 3))
            code = f"{prefix}{nxt % 100_000:05d}"
            if code not in self.isrc_taken:
                self.isrc_taken.add(code)
                return code

    # -- compilations (same recording, same ISRC, another edition) ---------------------------------
    def make_compilations(self) -> None:
        """Re-release about 1% of recordings on compilations: new ids, same ISRC (duplicate ISRCs)."""
        rng = self.rng_comp
        n_copies = max(20, len(self.tracks) // 100)
        sources = [self.tracks[int(i)] for i in rng.choice(len(self.tracks), size=n_copies, replace=False)
                   if self.tracks[int(i)].on_deezer]
        ids = iter(_decimal_ids(self.rng_ids, len(sources), 3_000_000_000, 50_000))
        sids = iter(_base62_ids(self.rng_ids, 2 * len(sources), self.spotify_taken))
        album_ids = iter(_decimal_ids(self.rng_ids, len(sources), 700_000_000, 40_000))
        self.artists.append(Artist(VARIOUS_ARTISTS_ID, _base62_ids(self.rng_ids, 1, self.spotify_taken)[0],
                                   "Various Artists"))
        album_by_id = {a.deezer_id: a for a in self.albums}
        for start in range(0, len(sources), 18):
            chunk = sources[start:start + 18]
            years = [int(album_by_id[t.album_id].release_date[:4]) for t in chunk]
            year = min(2026, max(years) + int(rng.integers(1, 12)))
            album = Album(deezer_id=next(album_ids), spotify_id=next(sids), title=names.compilation_title(rng, year),
                          artist_id=VARIOUS_ARTISTS_ID, genre_ids=[132], release_date=f"{year}",
                          release_date_precision="year", record_type="compile", label=names.label(rng),
                          upc=names.upc(rng))
            self.albums.append(album)
            for src in chunk:
                version = src.title_version or (f"(Remastered {year})" if rng.random() < .5 else "")
                # The same recording keeps its ISRC, character and truth; only the edition differs.
                self.tracks.append(dataclasses.replace(
                    src, deezer_id=next(ids), spotify_id=next(sids), album_id=album.deezer_id,
                    title_version=version, rank=int(src.rank * rng.uniform(.05, .4)),
                    reccobeats_id=src.reccobeats_id if rng.random() < .5 else None))

    # -- playlists --------------------------------------------------------------------------------
    def index_truth(self) -> None:
        """Per-context membership masks and popularity weights over self.tracks, for sampling."""
        self.track_arr = np.array([t.deezer_id for t in self.tracks])
        self.in_ctx = {c: np.zeros(len(self.tracks), bool) for c in self.contexts}
        for i, t in enumerate(self.tracks):
            for c in t.contexts:
                self.in_ctx[c][i] = True
        self.popularity = np.array([t.rank for t in self.tracks], dtype=float) ** .7
        self.on_deezer = np.array([t.on_deezer for t in self.tracks])

    def make_public_playlists(self) -> None:
        """Public Deezer and Spotify playlists per context, plus near-duplicate copies and misleading titles."""
        rng = self.rng_pl
        self.deezer_playlists: dict[str, Playlist] = {}
        self.spotify_playlists: dict[str, Playlist] = {}
        deezer_ids = iter(_decimal_ids(self.rng_ids, 40 * len(CONTEXTS) * 2, 1_000_000_000, 3_000_000))
        for ctx in CONTEXTS:
            prof = PROFILE_BY_NAME[ctx]
            for _ in range(int(rng.integers(self.cfg.deezer_playlists[0], self.cfg.deezer_playlists[1] + 1))):
                pl = self._context_playlist("deezer", str(next(deezer_ids)), ctx, names.pick(rng, prof.titles))
                self.deezer_playlists[pl.id] = pl
                if rng.random() < .15:
                    copy = self._near_duplicate(pl, str(next(deezer_ids)))
                    self.deezer_playlists[copy.id] = copy
            for title, real in DECOYS.get(ctx, ()):
                pl = self._context_playlist("deezer", str(next(deezer_ids)), real, title)
                self.deezer_playlists[pl.id] = pl
            for _ in range(int(rng.integers(self.cfg.spotify_playlists[0], self.cfg.spotify_playlists[1] + 1))):
                sid = _base62_ids(self.rng_ids, 1, self.spotify_taken)[0]
                pl = self._context_playlist("spotify", sid, ctx, names.pick(rng, prof.titles))
                self.spotify_playlists[pl.id] = pl

    def _context_playlist(self, service: str, pid: str, ctx: str, template: str) -> Playlist:
        rng = self.rng_pl
        lo, hi = self.cfg.playlist_size
        size = int(np.exp(rng.uniform(np.log(lo), np.log(hi + 1))))
        off_rate = 0.0 if rng.random() < .4 else rng.uniform(.02, .25)
        n_off = int(round(size * off_rate))
        available = self.on_deezer if service == "deezer" else np.ones(len(self.tracks), bool)
        on_topic = _gumbel_top(rng, self.popularity * (self.in_ctx[ctx] & available), size - n_off)
        off_topic = _gumbel_top(rng, self.popularity * (~self.in_ctx[ctx] & available), n_off)
        picks = rng.permutation(np.concatenate([on_topic, off_topic]).astype(int))
        created = int(rng.uniform(_date_ts("2012-01-01"), NOW - 30 * DAY))
        year = datetime.fromtimestamp(created, tz=timezone.utc).year
        owner_id, owner_name = names.playlist_owner(rng, service, ctx)
        return Playlist(
            service=service, id=pid, title=template.format(year=year), description=names.description(rng, ctx),
            owner_id=owner_id, owner_name=owner_name, fans=int(rng.lognormal(7.5, 2.0)), public=True,
            collaborative=False, track_ids=[int(self.track_arr[i]) for i in picks],
            added_at=self._added_times(created, len(picks)), context=ctx,
            created=_iso(created)[:10])

    def _near_duplicate(self, pl: Playlist, pid: str) -> Playlist:
        """A re-upload: similar title, mostly the same tracks, another owner, few fans."""
        rng = self.rng_pl
        keep = [t for t in pl.track_ids if rng.random() > .06]
        created = min(NOW - DAY, _date_ts(pl.created) + int(rng.integers(30, 900)) * DAY)
        owner_id, owner_name = names.playlist_owner(rng, pl.service, pl.context or "")
        return dataclasses.replace(
            pl, id=pid, title=names.near_duplicate_title(rng, pl.title), owner_id=owner_id, owner_name=owner_name,
            fans=int(rng.lognormal(3.0, 1.5)), track_ids=keep, added_at=self._added_times(created, len(keep)),
            created=_iso(created)[:10])

    def _added_times(self, created: int, n: int) -> list[str]:
        """Most items arrive when the playlist is made; the rest trickle in until now."""
        rng = self.rng_pl
        burst = created + rng.uniform(0, 3 * DAY, size=n)
        later = created + rng.uniform(0, 1, size=n) ** 2 * (NOW - created)
        times = np.sort(np.where(rng.random(n) < .6, burst, later))
        return [_iso(t) for t in times]

    # -- users ------------------------------------------------------------------------------------
    def make_users(self) -> None:
        """The configured Spotify users with their Liked Songs and own playlists."""
        self.users: dict[str, User] = {}
        album_ts = {a.deezer_id: _date_ts(a.release_date) for a in self.albums}
        self.release_ts = np.array([album_ts[t.album_id] for t in self.tracks])
        for spec in self.cfg.users:
            self.users[spec.id] = self._user(spec)

    def _user(self, spec: UserSpec) -> User:
        rng = self.rng_users
        taste = np.full(len(self.contexts), .06)
        for rank_, ctx in enumerate(spec.favourites):
            taste[self.contexts.index(ctx)] = 1.0 / (1 + .15 * rank_)
        member = np.column_stack([self.in_ctx[c] for c in self.contexts])
        affinity = (member * taste).max(axis=1)
        weights = affinity ** 2 * self.popularity ** .5
        picks = _gumbel_top(rng, weights, spec.n_liked)
        since = _date_ts(f"{spec.since_year}-01-01")
        start = np.minimum(np.maximum(since, self.release_ts[picks]), NOW - 2 * DAY)
        times = start + rng.uniform(0, 1, size=len(picks)) ** .6 * (NOW - DAY - start)
        order = np.argsort(-times)
        liked = [(int(self.track_arr[picks[i]]), _iso(times[i])) for i in order]
        playlist_ids = [self._own_playlist(spec, ctx, picks, times) for ctx in self._own_contexts(spec)]
        return User(id=spec.id, display_name=spec.display_name,
                    account_id="".join(_B62[rng.integers(0, 62, size=10)]), allow_listed=spec.allow_listed,
                    liked=liked, playlist_ids=playlist_ids)

    def _own_contexts(self, spec: UserSpec) -> list[str]:
        favs = list(spec.favourites[:spec.n_playlists + 2])
        chosen = self.rng_users.choice(len(favs), size=spec.n_playlists, replace=False)
        return [favs[i] for i in sorted(chosen)]

    def _own_playlist(self, spec: UserSpec, ctx: str, liked_idx: np.ndarray, liked_times: np.ndarray) -> str:
        """A personal playlist drawn from the user's liked songs of one true context."""
        rng = self.rng_users
        fits = self.in_ctx[ctx][liked_idx]
        lo, hi = self.cfg.own_playlist_size
        size = int(rng.integers(lo, hi + 1))
        on = rng.permutation(np.flatnonzero(fits))[:size]
        n_noise = max(1, len(on) // 20)
        off = rng.permutation(np.flatnonzero(~fits))[:n_noise]
        chosen = rng.permutation(np.concatenate([on, off]))
        created = int(max(liked_times[chosen].min(), _date_ts(f"{spec.since_year}-06-01")))
        pid = _base62_ids(self.rng_ids, 1, self.spotify_taken)[0]
        profile = PROFILE_BY_NAME.get(ctx)
        titles = profile.own_titles if profile else (ctx, ctx.title(), f"my {ctx}")
        self.spotify_playlists[pid] = Playlist(
            service="spotify", id=pid, title=names.pick(rng, titles), description="", owner_id=spec.id,
            owner_name=spec.display_name, fans=int(rng.integers(0, 4)), public=bool(rng.random() < .5),
            collaborative=False, track_ids=[int(self.track_arr[liked_idx[i]]) for i in chosen],
            added_at=self._added_times(created, len(chosen)), context=None, created=_iso(created)[:10])
        return pid

    # -- assembly ---------------------------------------------------------------------------------
    def build(self) -> World:
        """Run every step in order and return the (unindexed) world."""
        self.make_artists()
        drafts = self.draft_albums()
        self.make_albums(drafts)
        self.sample_characters(drafts)
        self.make_tracks(drafts)
        self.make_compilations()
        self.index_truth()
        self.make_public_playlists()
        self.make_users()
        return self.assemble()

    def assemble(self) -> World:
        """Wrap the built parts in a World."""
        return World(
            seed=self.seed, contexts=list(self.contexts),
            artists={a.deezer_id: a for a in self.artists},
            albums={a.deezer_id: a for a in self.albums},
            tracks={t.deezer_id: t for t in self.tracks},
            deezer_playlists=self.deezer_playlists, spotify_playlists=self.spotify_playlists, users=self.users)


# ---------------------------------------------------------------------------------------------- public API

def generate_world(seed: int = 42, scale: str = "full") -> World:
    """Generate the world for a seed and scale (`full` or `small`); same inputs give the same world."""
    return WorldBuilder(seed, WorldConfig.for_scale(scale)).build().index()


def default_cache_dir() -> Path:
    """`.sandbox-cache/` at the repository root (gitignored)."""
    return Path(__file__).resolve().parents[1] / ".sandbox-cache"


def load_world(seed: int = 42, scale: str = "full", csv_path: str | os.PathLike | None = None,
               cache_dir: str | os.PathLike | None = None) -> World:
    """The world for (seed, scale[, CSV]), read from the disk cache when present, else generated and cached."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = f"world-v{GENERATOR_VERSION}-{seed}-{scale}"
    if csv_path is not None:
        stat = Path(csv_path).stat()
        digest = hashlib.sha256(f"{Path(csv_path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
        key += f"-csv{digest[:12]}"
    path = cache / f"{key}.pkl"
    if path.exists():
        try:
            with path.open("rb") as fh:
                return pickle.load(fh).index()
        except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError):
            pass  # a corrupt or outdated cache (or one pickled before the sandbox left the app package) is regenerated below
    if csv_path is not None:
        from sandbox.csv_world import world_from_csv  # pandas is only needed for this path
        world = world_from_csv(csv_path, seed=seed, scale=scale)
    else:
        world = generate_world(seed, scale)
    _write_cache(path, world)
    return world


def _write_cache(path: Path, world: World) -> None:
    """Write atomically, so concurrent processes never read a half-written cache."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stripped = dataclasses.replace(world, by_spotify_id={}, by_isrc={})
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as fh:
        pickle.dump(stripped, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, path)


def _canonical(obj: object) -> object:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def world_fingerprint(world: World) -> str:
    """sha256 over a canonical serialisation of everything that defines the world (not the indexes)."""
    h = hashlib.sha256()
    h.update(json.dumps({"seed": world.seed, "contexts": world.contexts}).encode())
    for part in ("artists", "albums", "tracks", "deezer_playlists", "spotify_playlists", "users"):
        table = getattr(world, part)
        h.update(part.encode())
        for key in sorted(table):
            row = dataclasses.asdict(table[key])
            h.update(json.dumps(row, sort_keys=True, default=_canonical, separators=(",", ":")).encode())
    return h.hexdigest()
