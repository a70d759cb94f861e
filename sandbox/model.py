"""The sandbox world's data model: artists, albums, tracks, playlists and users, with their hidden truth."""

from __future__ import annotations

from dataclasses import dataclass, field

# Deezer's real top-level genres (id -> name), as `GET /genre` answers.
DEEZER_GENRES: dict[int, str] = {
    132: "Pop", 116: "Rap/Hip Hop", 152: "Rock", 113: "Dance", 165: "R&B", 85: "Alternative",
    106: "Electro", 466: "Folk", 144: "Reggae", 129: "Jazz", 84: "Country", 98: "Classical",
    173: "Films/Games", 464: "Metal", 169: "Soul & Funk", 2: "African Music", 16: "Asian Music",
    153: "Blues", 75: "Brazilian Music", 81: "Indian Music", 95: "Kids", 197: "Latin Music",
}


@dataclass(frozen=True)
class Character:
    """A track's hidden audio character, in Spotify's audio-feature units.

    Exposed only through Spotify audio features (extended profile), ReccoBeats, and the synthesised
    preview audio, exactly like the real world.
    """

    tempo: float            # BPM
    energy: float           # 0..1
    loudness: float         # dB, about -30..0
    valence: float          # 0..1
    acousticness: float     # 0..1
    danceability: float     # 0..1
    instrumentalness: float  # 0..1
    speechiness: float      # 0..1
    liveness: float         # 0..1
    key: int                # 0..11 (pitch class), -1 none
    mode: int               # 1 major, 0 minor
    time_signature: int     # 3..7


@dataclass
class Artist:
    deezer_id: int
    spotify_id: str          # 22-char base62
    name: str


@dataclass
class Album:
    deezer_id: int
    spotify_id: str
    title: str
    artist_id: int           # Artist.deezer_id
    genre_ids: list[int]     # keys of DEEZER_GENRES; may be empty (genre_id -1)
    release_date: str        # "YYYY", "YYYY-MM" or "YYYY-MM-DD"
    release_date_precision: str  # year | month | day
    record_type: str         # album | single | ep | compile
    label: str
    upc: str


@dataclass
class Track:
    deezer_id: int           # the world's primary key for a track
    spotify_id: str          # 22-char base62
    isrc: str
    title: str
    title_version: str       # "" or e.g. "(Remastered 2011)"
    artist_ids: list[int]    # Artist.deezer_id, main artist first
    album_id: int            # Album.deezer_id
    duration_ms: int
    explicit: bool
    rank: int                # Deezer popularity rank
    gain: float              # Deezer replay gain, negative dB
    bpm: float               # Deezer's bpm field; 0.0 = unknown (as the real API does)
    character: Character | None  # hidden truth; None for a real recording (nobody knows its features)
    contexts: frozenset[str]  # hidden truth: the contexts this track truly belongs to
    reccobeats_id: str | None  # ReccoBeats UUID; None = ReccoBeats silently lacks this track
    on_deezer: bool = True   # False: exists on Spotify only (Deezer lookups miss it)
    deezer_isrc: str | None = None  # ISRC Deezer reports when it differs from Spotify's (None = same)
    audio_file: str | None = None   # a real recording served as the preview (absolute path); None = synthesised
    labels: dict[str, str] | None = None  # hidden truth of a real recording: its label per metadata column


@dataclass
class Playlist:
    service: str             # "deezer" | "spotify"
    id: str                  # Deezer: decimal string of an int; Spotify: 22-char base62
    title: str
    description: str
    owner_id: str            # Deezer creator id (decimal) or Spotify user id
    owner_name: str
    fans: int                # Deezer fans / Spotify followers
    public: bool
    collaborative: bool
    track_ids: list[int]     # Track.deezer_id, in playlist order
    added_at: list[str]      # ISO-8601 UTC per item, same length as track_ids
    context: str | None      # hidden truth: the context it was made for (None = a user's own mix)
    created: str             # ISO date


@dataclass
class User:
    id: str                  # Spotify user id
    display_name: str
    account_id: str
    allow_listed: bool       # False: the dev-mode 403 for every API call
    liked: list[tuple[int, str]]  # (Track.deezer_id, added_at ISO-8601), newest first
    playlist_ids: list[str]  # Spotify playlists this user owns (ids in World.spotify_playlists)


@dataclass
class World:
    seed: int
    contexts: list[str]
    artists: dict[int, Artist]
    albums: dict[int, Album]
    tracks: dict[int, Track]
    deezer_playlists: dict[str, Playlist]
    spotify_playlists: dict[str, Playlist]   # public context playlists AND users' own playlists
    users: dict[str, User]
    # Lookups built by index(); not part of identity.
    by_spotify_id: dict[str, Track] = field(default_factory=dict, repr=False)
    by_isrc: dict[str, list[Track]] = field(default_factory=dict, repr=False)

    def ranked_tracks(self) -> list[Track]:
        """Every track, most popular first: the order charts and searches rank them in."""
        return sorted(self.tracks.values(), key=lambda t: -t.rank)

    def index(self) -> "World":
        """Build the lookup tables; returns self."""
        self.by_spotify_id = {t.spotify_id: t for t in self.tracks.values()}
        self.by_isrc = {}
        for t in self.tracks.values():
            if t.on_deezer:
                self.by_isrc.setdefault((t.deezer_isrc or t.isrc).upper(), []).append(t)
        return self
