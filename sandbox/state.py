"""The sandbox's mutable state over a read-only World: playlists and likes changed at runtime, and OAuth grants.

The World may be shared by several servers in one process (tests cache it), so nothing here mutates it:
changed playlists are copies kept in `SandboxState.spotify_playlists`, likes in `SandboxState.liked`.
"""

from __future__ import annotations

import base64
import hashlib
import random
import secrets
import string
import struct
import threading
import time
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from .model import Playlist, Track, User, World

BASE62 = string.digits + string.ascii_letters
FOLLOWED = 2  # public playlists of others each sandbox user follows


def normalize(text: str) -> str:
    """Lower-case, accent-free, punctuation-free text for fuzzy matching."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join("".join(c if c.isalnum() else " " for c in text).split())


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class SandboxState:
    """World indexes plus the runtime overlay (created/changed playlists, likes); one lock for writes."""

    def __init__(self, world: World):
        self.world = world
        self.lock = threading.RLock()
        self._rng = random.Random(f"{world.seed}:ids")
        self.spotify_playlists: dict[str, Playlist] = dict(world.spotify_playlists)
        self._versions: dict[str, int] = {}
        self.liked: dict[str, list[tuple[int, str]]] = {uid: list(u.liked) for uid, u in world.users.items()}
        self.user_playlists: dict[str, list[str]] = {uid: list(u.playlist_ids) for uid, u in world.users.items()}
        self.followed: dict[str, list[str]] = {uid: self._followed(uid) for uid in world.users}
        self._build_indexes()

    def _followed(self, user_id: str) -> list[str]:
        """Public playlists of other users that this user follows: /me/playlists lists them, their items answer 403."""
        others = sorted(pid for pid, p in self.world.spotify_playlists.items()
                        if p.public and p.owner_id != user_id and p.context is not None)
        return random.Random(f"{self.world.seed}:follows:{user_id}").sample(others, min(FOLLOWED, len(others)))

    def _build_indexes(self) -> None:
        w = self.world
        if not w.by_spotify_id:
            w.index()
        self.album_tracks: dict[int, list[Track]] = {}
        for track in sorted(w.tracks.values(), key=lambda t: t.deezer_id):
            self.album_tracks.setdefault(track.album_id, []).append(track)
        self.track_number = {t.deezer_id: n for tracks in self.album_tracks.values()
                             for n, t in enumerate(tracks, start=1)}
        self.spotify_isrc: dict[str, list[Track]] = {}
        for track in w.tracks.values():
            self.spotify_isrc.setdefault(track.isrc.upper(), []).append(track)
        self.by_reccobeats_id = {t.reccobeats_id: t for t in w.tracks.values() if t.reccobeats_id}
        self.artist_by_spotify_id = {a.spotify_id: a for a in w.artists.values()}
        self.album_by_spotify_id = {a.spotify_id: a for a in w.albums.values()}
        self.tracks_by_rank = w.ranked_tracks()
        self.text = {t.deezer_id: _TrackText(
            normalize(t.title), normalize(" ".join(w.artists[a].name for a in t.artist_ids)),
            normalize(w.albums[t.album_id].title)) for t in w.tracks.values()}

    # --- users and likes -------------------------------------------------------------------------

    def user(self, user_id: str) -> User | None:
        return self.world.users.get(user_id)

    def liked_page(self, user_id: str, offset: int, limit: int) -> tuple[list[tuple[int, str]], int]:
        with self.lock:
            liked = self.liked[user_id]
            return liked[offset:offset + limit], len(liked)

    def like(self, user_id: str, track_ids: list[int]) -> None:
        """Add tracks to Liked Songs (newest first); already-liked tracks stay where they are."""
        with self.lock:
            liked = self.liked[user_id]
            present = {tid for tid, _ in liked}
            now = utc_now_iso()
            fresh = [(tid, now) for tid in dict.fromkeys(track_ids) if tid not in present]
            liked[:0] = fresh[::-1]

    def unlike(self, user_id: str, track_ids: list[int]) -> None:
        with self.lock:
            gone = set(track_ids)
            self.liked[user_id] = [(tid, at) for tid, at in self.liked[user_id] if tid not in gone]

    def likes(self, user_id: str, track_ids: list[int]) -> list[bool]:
        with self.lock:
            present = {tid for tid, _ in self.liked[user_id]}
        return [tid in present for tid in track_ids]

    # --- Spotify playlists ---------------------------------------------------------------------------

    def playlist(self, playlist_id: str) -> Playlist | None:
        with self.lock:
            return self.spotify_playlists.get(playlist_id)

    def playlists_of(self, user_id: str) -> list[Playlist]:
        """What /me/playlists lists: the user's own playlists, then the ones they follow."""
        with self.lock:
            own = [self.spotify_playlists[pid] for pid in self.user_playlists[user_id]]
            return own + [self.spotify_playlists[pid] for pid in self.followed.get(user_id, [])
                          if pid in self.spotify_playlists]

    def snapshot_id(self, playlist_id: str) -> str:
        """An opaque, version-bearing snapshot id like Spotify's (base64 of version + hash)."""
        version = self._versions.get(playlist_id, 1)
        digest = hashlib.sha1(f"{playlist_id}:{version}".encode()).digest()[:14]
        return base64.b64encode(struct.pack(">I", version) + digest).decode()

    def new_spotify_id(self) -> str:
        with self.lock:
            while True:
                candidate = "".join(self._rng.choice(BASE62) for _ in range(22))
                if candidate not in self.spotify_playlists and candidate not in self.world.by_spotify_id:
                    return candidate

    def create_playlist(self, user: User, name: str, description: str, public: bool,
                        collaborative: bool) -> Playlist:
        with self.lock:
            playlist = Playlist(
                service="spotify", id=self.new_spotify_id(), title=name, description=description,
                owner_id=user.id, owner_name=user.display_name, fans=0, public=public,
                collaborative=collaborative, track_ids=[], added_at=[], context=None,
                created=utc_now_iso()[:10])
            self.spotify_playlists[playlist.id] = playlist
            self.user_playlists[user.id].insert(0, playlist.id)
            return playlist

    def unfollow(self, user_id: str, playlist_id: str) -> bool:
        """What "delete" does on Spotify: the playlist leaves the user's list; its id still answers GET."""
        with self.lock:
            followed = self.user_playlists[user_id]
            if playlist_id not in followed:
                return False
            followed.remove(playlist_id)
            return True

    def _edit(self, playlist_id: str, track_ids: list[int], added_at: list[str]) -> str:
        """Store a changed copy of a playlist (never the World's object) and bump its version."""
        self.spotify_playlists[playlist_id] = replace(
            self.spotify_playlists[playlist_id], track_ids=track_ids, added_at=added_at)
        self._versions[playlist_id] = self._versions.get(playlist_id, 1) + 1
        return self.snapshot_id(playlist_id)

    def add_items(self, playlist_id: str, track_ids: list[int], position: int | None) -> str:
        with self.lock:
            pl = self.spotify_playlists[playlist_id]
            at = len(pl.track_ids) if position is None else position
            now = utc_now_iso()
            return self._edit(playlist_id, pl.track_ids[:at] + track_ids + pl.track_ids[at:],
                              pl.added_at[:at] + [now] * len(track_ids) + pl.added_at[at:])

    def replace_items(self, playlist_id: str, track_ids: list[int]) -> str:
        with self.lock:
            return self._edit(playlist_id, list(track_ids), [utc_now_iso()] * len(track_ids))

    def reorder_items(self, playlist_id: str, start: int, length: int, before: int) -> str:
        with self.lock:
            pl = self.spotify_playlists[playlist_id]
            rows = list(zip(pl.track_ids, pl.added_at))
            moved = rows[start:start + length]
            rest = rows[:start] + rows[start + length:]
            at = before if before <= start else before - len(moved)
            rows = rest[:at] + moved + rest[at:]
            return self._edit(playlist_id, [r[0] for r in rows], [r[1] for r in rows])

    def remove_items(self, playlist_id: str, removals: list[tuple[int, list[int] | None]]) -> str:
        """Remove (track, positions) pairs; positions None removes every occurrence of the track."""
        with self.lock:
            pl = self.spotify_playlists[playlist_id]
            everywhere = {tid for tid, positions in removals if positions is None}
            at_positions = {(tid, pos) for tid, positions in removals for pos in positions or ()}
            keep = [(tid, at) for pos, (tid, at) in enumerate(zip(pl.track_ids, pl.added_at))
                    if tid not in everywhere and (tid, pos) not in at_positions]
            return self._edit(playlist_id, [k[0] for k in keep], [k[1] for k in keep])


@dataclass(frozen=True)
class _TrackText:
    title: str
    artists: str
    album: str

    def all(self) -> str:
        return f"{self.title} {self.artists} {self.album}"


# --- OAuth ---------------------------------------------------------------------------------------------


@dataclass
class Grant:
    """What a user (or, for client credentials, nobody) allowed a client to do."""

    client_id: str
    user_id: str | None
    scope: frozenset[str]
    pkce: bool = False
    consented_at: float = field(default_factory=time.time)


@dataclass
class AuthCode:
    grant: Grant
    redirect_uri: str
    code_challenge: str | None
    expires_at: float
    used: bool = False


@dataclass
class AccessToken:
    grant: Grant
    expires_at: float


@dataclass
class RefreshToken:
    grant: Grant
    revoked: bool = False


class TokenStore:
    """Pending consents, authorization codes, access and refresh tokens; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pending: dict[str, dict] = {}
        self.codes: dict[str, AuthCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    def add_pending(self, params: dict) -> str:
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self.pending[request_id] = params
        return request_id

    def take_pending(self, request_id: str) -> dict | None:
        with self._lock:
            return self.pending.pop(request_id, None)

    def new_code(self, grant: Grant, redirect_uri: str, code_challenge: str | None, ttl: float) -> str:
        code = "AQ" + secrets.token_urlsafe(96)
        with self._lock:
            self.codes[code] = AuthCode(grant, redirect_uri, code_challenge, time.time() + ttl)
        return code

    def redeem_code(self, code: str) -> AuthCode | None:
        """The code's record if it is valid now; either way a known code is spent (single use)."""
        with self._lock:
            record = self.codes.get(code)
            if record is None or record.used:
                return None
            record.used = True
            return record if record.expires_at > time.time() else None

    def issue_access(self, grant: Grant, ttl: float) -> str:
        token = "BQ" + secrets.token_urlsafe(96)
        with self._lock:
            self.access[token] = AccessToken(grant, time.time() + ttl)
        return token

    def issue_refresh(self, grant: Grant) -> str:
        token = "AQ" + secrets.token_urlsafe(96)
        with self._lock:
            self.refresh[token] = RefreshToken(grant)
        return token

    def lookup_access(self, token: str) -> AccessToken | None:
        with self._lock:
            return self.access.get(token)

    def lookup_refresh(self, token: str) -> RefreshToken | None:
        with self._lock:
            return self.refresh.get(token)

    def revoke_refresh(self, token: str) -> None:
        with self._lock:
            self.refresh[token].revoked = True

    def expire_access(self, user_id: str | None = None) -> int:
        """Make live access tokens (of one user, or all) expired now; returns how many."""
        now = time.time()
        with self._lock:
            live = [t for t in self.access.values()
                    if t.expires_at > now and (user_id is None or t.grant.user_id == user_id)]
            for token in live:
                token.expires_at = now - 1
        return len(live)
