"""Listening contexts of the sandbox world: their audio, genre and era distributions, and how tracks score."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Continuous audio-character dimensions, in the order used by ContextProfile.features.
FEATURES: tuple[str, ...] = (
    "tempo", "energy", "loudness", "valence", "acousticness",
    "danceability", "instrumentalness", "speechiness", "liveness",
)

# Deezer genre ids, named for readability (see model.DEEZER_GENRES).
POP, RAP, ROCK, DANCE, RNB, ALT, ELECTRO, FOLK, REGGAE, JAZZ, COUNTRY, CLASSICAL = (
    132, 116, 152, 113, 165, 85, 106, 466, 144, 129, 84, 98)
FILMS, METAL, SOUL, ASIAN, BLUES, BRAZIL, INDIA, LATIN = 173, 464, 169, 16, 153, 75, 81, 197

FIRST_YEAR, LAST_YEAR = 1955, 2026
RECENT = ((2015, 2026, 0.6), (2005, 2014, 0.3), (1990, 2004, 0.1))
MIXED = ((1965, 1989, 0.25), (1990, 2009, 0.35), (2010, 2026, 0.4))

# Floors keep every context's likelihood finite, so a 1995 track can still score (badly) as "80s".
GENRE_FLOOR, ERA_FLOOR = 0.01, 0.02


@dataclass(frozen=True)
class ContextProfile:
    """What tracks of one context sound like, and how people title playlists for it."""

    name: str
    weight: float                      # prevalence among generated tracks
    features: tuple[tuple[float, float], ...]  # (mean, sd) per FEATURES entry
    p_major: float
    genres: dict[int, float]           # Deezer genre id -> relative weight
    era: tuple[tuple[int, int, float], ...]    # (first year, last year, weight)
    p_explicit: float
    titles: tuple[str, ...]            # public playlist titles; {year} is the creation year
    own_titles: tuple[str, ...]        # how a user names a personal playlist of this context
    p_waltz: float = 0.02              # share of 3/4 tracks


def _f(tempo, energy, loud, valence, acoustic, dance, instr, speech, live) -> tuple:
    return (tempo, energy, loud, valence, acoustic, dance, instr, speech, live)


PROFILES: tuple[ContextProfile, ...] = (
    ContextProfile("workout", 1.2,
                   _f((128, 10), (.86, .07), (-5, 1.5), (.6, .18), (.05, .05),
                      (.72, .09), (.1, .15), (.12, .07), (.18, .1)),
                   .55, {DANCE: 3, RAP: 3, ELECTRO: 2, POP: 2, ROCK: 1}, RECENT, .35,
                   ("Workout Motivation {year}", "BEAST MODE gym", "Gym Hits {year}", "workout", "Workout Mix",
                    "Cardio Workout", "Pump Up - Workout Music", "Gym Motivation 💪", "HIIT Workout", "Workout Beats"),
                   ("Gym", "gym 💪", "Lifting", "pump")),
    ContextProfile("running", .9,
                   _f((168, 8), (.82, .08), (-5.5, 1.5), (.62, .18), (.06, .06),
                      (.62, .1), (.15, .18), (.07, .04), (.15, .08)),
                   .6, {DANCE: 2, ELECTRO: 2, POP: 2, ROCK: 2}, RECENT, .2,
                   ("Running {year}", "Running Motivation", "180 BPM Running", "Run Faster", "Marathon Training Mix",
                    "running playlist", "5K Running Hits", "Jogging"),
                   ("Run", "5k pace", "running")),
    ContextProfile("study", 1.0,
                   _f((84, 12), (.3, .1), (-14, 3), (.4, .15), (.62, .2),
                      (.5, .12), (.78, .15), (.04, .02), (.1, .05)),
                   .5, {ELECTRO: 2, CLASSICAL: 2, FILMS: 2, JAZZ: 1, ALT: 1}, RECENT, .02,
                   ("Study Music", "Music for Studying {year}", "study", "Study Session", "Exam Study Playlist",
                    "Studying Beats", "Library Vibes - Study"),
                   ("Study", "Deep work", "revision")),
    ContextProfile("focus", .8,
                   _f((108, 12), (.45, .1), (-11, 2.5), (.35, .12), (.3, .18),
                      (.55, .1), (.86, .1), (.04, .02), (.1, .05)),
                   .45, {ELECTRO: 3, FILMS: 2, ALT: 1}, RECENT, .02,
                   ("Deep Focus", "deep focus", "Focus Flow", "Intense Focus", "Focus Music for Work", "Coding Focus"),
                   ("Focus", "work mode")),
    ContextProfile("sleep", .8,
                   _f((64, 6), (.1, .06), (-23, 3.5), (.2, .1), (.92, .06),
                      (.22, .08), (.88, .1), (.04, .02), (.09, .04)),
                   .6, {CLASSICAL: 3, FILMS: 1, ELECTRO: 1}, RECENT, 0.0,
                   ("Sleep", "Deep Sleep", "Sleep Music {year}", "sleepy time", "Peaceful Sleep Sounds", "Calm Sleep"),
                   ("sleepy", "Bedtime")),
    ContextProfile("chill", 1.3,
                   _f((96, 12), (.42, .12), (-9.5, 2.5), (.5, .15), (.42, .2),
                      (.66, .09), (.3, .22), (.06, .03), (.12, .06)),
                   .55, {ELECTRO: 2, POP: 2, RNB: 2, ALT: 1, SOUL: 1}, RECENT, .1,
                   ("Chill Vibes", "chill", "Chill Hits {year}", "Chillout Lounge", "Sunday Chill", "chill mix",
                    "Chilled Evening"),
                   ("Sunday morning", "chill vibes", "unwind")),
    ContextProfile("party", 1.3,
                   _f((122, 7), (.83, .07), (-4.8, 1.4), (.76, .11), (.07, .06),
                      (.8, .07), (.04, .06), (.1, .06), (.25, .14)),
                   .6, {POP: 3, DANCE: 3, RAP: 2, LATIN: 1}, RECENT, .4,
                   ("Party Hits {year}", "PARTY", "House Party", "Party Playlist", "Pregame", "Party Anthems",
                    "Friday Night Party"),
                   ("Pregame", "Friday night", "party!!")),
    ContextProfile("road trip", .9,
                   _f((118, 14), (.72, .11), (-6.5, 1.8), (.65, .15), (.15, .12),
                      (.58, .1), (.05, .08), (.05, .03), (.18, .1)),
                   .72, {ROCK: 3, POP: 2, COUNTRY: 1, ALT: 2}, MIXED, .1,
                   ("Road Trip", "Road Trip Songs", "road trip {year}", "Highway Drive", "Driving Songs", "Long Drive"),
                   ("Late night drive", "Road trip!!", "drive")),
    ContextProfile("rainy day", .7,
                   _f((88, 12), (.3, .1), (-11, 2.5), (.25, .1), (.66, .18),
                      (.45, .1), (.25, .2), (.04, .02), (.12, .06)),
                   .35, {ALT: 2, FOLK: 2, JAZZ: 1, POP: 1}, RECENT, .05,
                   ("Rainy Day", "rainy day vibes", "Rainy Days", "Rain & Coffee", "Songs for a Rainy Day"),
                   ("rainy", "grey days")),
    ContextProfile("romance", .8,
                   _f((80, 10), (.4, .11), (-8.5, 2.2), (.48, .15), (.48, .2),
                      (.56, .1), (.05, .07), (.04, .02), (.12, .06)),
                   .68, {RNB: 3, SOUL: 2, POP: 2, JAZZ: 1}, MIXED, .1,
                   ("Romance", "Love Songs", "Romantic Dinner", "Date Night", "Love Songs {year}", "romantic"),
                   ("us ❤", "date night")),
    ContextProfile("edm", 1.1,
                   _f((128, 3.5), (.9, .05), (-4, 1.2), (.48, .17), (.02, .03),
                      (.7, .09), (.55, .22), (.06, .03), (.22, .12)),
                   .45, {DANCE: 3, ELECTRO: 4}, RECENT, .1,
                   ("EDM Hits {year}", "EDM", "Best EDM Bangers", "Electro House", "EDM Festival Anthems", "edm mix",
                    "Dance & EDM"),
                   ("EDM", "bangers")),
    ContextProfile("hip-hop", 1.3,
                   _f((94, 14), (.66, .1), (-6, 1.6), (.5, .18), (.12, .1),
                      (.8, .07), (.02, .04), (.28, .1), (.18, .1)),
                   .45, {RAP: 6, RNB: 1}, ((1990, 2004, .25), (2005, 2026, .75)), .75,
                   ("Hip-Hop Hits", "Rap Caviar-ish", "hip hop", "Hip Hop {year}", "Old School Hip-Hop",
                    "Hip-Hop Bangers", "Rap & Hip Hop"),
                   ("rap", "hip hop")),
    ContextProfile("rock", 1.2,
                   _f((126, 16), (.8, .09), (-6, 1.7), (.5, .18), (.08, .08),
                      (.5, .1), (.08, .1), (.05, .03), (.2, .12)),
                   .7, {ROCK: 6, ALT: 2}, MIXED, .1,
                   ("Rock Classics", "Rock Hits {year}", "rock", "Classic Rock", "Best of Rock", "Rock Anthems"),
                   ("rock", "guitars")),
    ContextProfile("jazz", .8,
                   _f((118, 24), (.36, .13), (-12, 3), (.52, .18), (.76, .14),
                      (.56, .12), (.58, .25), (.06, .03), (.2, .12)),
                   .5, {JAZZ: 6, BLUES: 1, SOUL: 1}, ((1955, 1979, .4), (1980, 2026, .6)), .01,
                   ("Jazz Classics", "jazz", "Smooth Jazz", "Jazz Essentials", "Late Night Jazz", "Jazz Café"),
                   ("jazz", "bebop")),
    ContextProfile("classical", .8,
                   _f((100, 22), (.15, .09), (-20, 4), (.3, .15), (.95, .04),
                      (.3, .1), (.9, .07), (.04, .02), (.12, .06)),
                   .55, {CLASSICAL: 8}, ((1955, 1989, .4), (1990, 2026, .6)), 0.0,
                   ("Classical Essentials", "classical music", "Classical for Reading", "Best of Classical",
                    "Piano Classics", "Classical Masterpieces"),
                   ("classical", "Bach & co"), p_waltz=.25),
    ContextProfile("indie", 1.0,
                   _f((116, 16), (.6, .13), (-7.5, 2), (.5, .17), (.3, .18),
                      (.55, .1), (.15, .15), (.05, .03), (.15, .08)),
                   .6, {ALT: 5, ROCK: 2, POP: 1, FOLK: 1}, ((2000, 2026, 1.0),), .15,
                   ("Indie Hits", "indie", "Indie Rock Favourites", "Indie {year}", "Fresh Indie", "indie vibes"),
                   ("indie", "new finds")),
    ContextProfile("lofi", .9,
                   _f((80, 7), (.3, .09), (-12, 2.5), (.45, .15), (.6, .15),
                      (.71, .07), (.87, .08), (.07, .03), (.1, .05)),
                   .4, {ELECTRO: 2, RAP: 2, JAZZ: 1}, ((2015, 2026, 1.0),), .02,
                   ("lofi beats", "Lofi Hip Hop", "lofi hip hop radio - beats to relax/study to", "Lofi Chill",
                    "Lo-fi {year}", "lofi girl vibes"),
                   ("lofi", "beats")),
    ContextProfile("latin", 1.0,
                   _f((98, 10), (.78, .08), (-5, 1.5), (.75, .12), (.15, .1),
                      (.8, .07), (.02, .04), (.1, .05), (.15, .08)),
                   .55, {LATIN: 8, POP: 1}, ((2010, 2026, .85), (1990, 2009, .15)), .3,
                   ("Latin Hits", "Reggaeton {year}", "Éxitos Latinos", "latin party", "Baila Reggaeton", "Latin Pop"),
                   ("latino", "reggaeton")),
    ContextProfile("metal", .8,
                   _f((140, 22), (.95, .03), (-4, 1.2), (.25, .12), (.01, .02),
                      (.35, .1), (.15, .15), (.09, .04), (.2, .1)),
                   .3, {METAL: 8, ROCK: 2}, ((1980, 2026, 1.0),), .35,
                   ("Metal Essentials", "Heavy Metal", "metal", "Metalcore {year}", "Thrash Metal Classics",
                    "Metal Workout"),
                   ("metal", "heavy")),
    ContextProfile("country", .8,
                   _f((114, 18), (.6, .12), (-7, 1.8), (.6, .16), (.35, .17),
                      (.58, .1), (.01, .02), (.04, .02), (.18, .1)),
                   .85, {COUNTRY: 8}, ((1970, 2026, 1.0),), .05,
                   ("Country Hits", "country", "Hot Country {year}", "Country Classics", "Country Roads"),
                   ("country", "twang")),
    ContextProfile("throwback 80s", .8,
                   _f((120, 14), (.7, .12), (-9, 2), (.65, .17), (.2, .15),
                      (.65, .1), (.05, .07), (.04, .02), (.15, .08)),
                   .7, {POP: 3, ROCK: 3, DANCE: 1, SOUL: 1}, ((1980, 1989, 1.0),), .02,
                   ("80s Hits", "Throwback 80s", "Best of the 80s", "80s Music", "Totally 80s", "80s Party"),
                   ("80s", "retro")),
    ContextProfile("throwback 90s", .7,
                   _f((110, 16), (.7, .12), (-8, 2), (.6, .17), (.15, .12),
                      (.66, .1), (.03, .05), (.08, .05), (.15, .08)),
                   .6, {POP: 2, ROCK: 2, RAP: 2, DANCE: 1, RNB: 1, ALT: 1}, ((1990, 1999, 1.0),), .15,
                   ("90s Hits", "Throwback 90s", "Best of the 90s", "90s Music", "90s Nostalgia"),
                   ("90s", "throwbacks")),
    ContextProfile("summer", 1.0,
                   _f((108, 12), (.76, .08), (-5.5, 1.5), (.8, .09), (.18, .12),
                      (.75, .08), (.03, .05), (.07, .04), (.15, .08)),
                   .72, {POP: 3, LATIN: 2, DANCE: 2, REGGAE: 1}, RECENT, .15,
                   ("Summer Hits {year}", "summer vibes", "Summer", "Beach Party", "Summer Songs", "Sunny Days"),
                   ("summer", "beach")),
    ContextProfile("sad", 1.0,
                   _f((76, 10), (.28, .1), (-10.5, 2.5), (.15, .07), (.6, .2),
                      (.42, .1), (.05, .07), (.04, .02), (.12, .06)),
                   .2, {POP: 2, ALT: 2, FOLK: 1, RNB: 1}, RECENT, .1,
                   ("Sad Songs", "sad", "sad songs for crying", "Heartbreak", "Sad Hours", "Sad Vibes {year}"),
                   ("in my feels", "sad hours")),
    ContextProfile("happy", 1.0,
                   _f((118, 11), (.72, .1), (-6, 1.7), (.86, .07), (.2, .13),
                      (.7, .08), (.02, .04), (.05, .03), (.15, .08)),
                   .92, {POP: 4, DANCE: 1, SOUL: 1}, MIXED, .05,
                   ("Happy Hits", "Happy Songs", "happy", "Good Mood", "Feel Good {year}", "Happy Vibes"),
                   ("good mood", "happy")),
    ContextProfile("acoustic", .8,
                   _f((100, 16), (.3, .1), (-12, 2.5), (.5, .16), (.9, .06),
                      (.5, .1), (.1, .1), (.04, .02), (.15, .08)),
                   .65, {FOLK: 4, POP: 1, COUNTRY: 1, ALT: 1}, RECENT, .02,
                   ("Acoustic Covers", "acoustic", "Acoustic Hits", "Acoustic Chill", "Unplugged", "Acoustic {year}"),
                   ("acoustic", "unplugged")),
    ContextProfile("meditation", .6,
                   _f((60, 5), (.07, .04), (-25, 3.5), (.25, .1), (.85, .1),
                      (.18, .08), (.93, .05), (.03, .01), (.08, .04)),
                   .6, {CLASSICAL: 1, ELECTRO: 2, INDIA: 1, FILMS: 1}, RECENT, 0.0,
                   ("Meditation", "Meditation Music", "Mindfulness", "Yoga & Meditation", "Zen Meditation"),
                   ("meditate", "breathe")),
    ContextProfile("dinner", .6,
                   _f((100, 14), (.35, .1), (-12, 2.5), (.6, .14), (.66, .15),
                      (.56, .1), (.35, .22), (.04, .02), (.18, .1)),
                   .72, {JAZZ: 4, SOUL: 2, CLASSICAL: 1, BRAZIL: 1}, MIXED, 0.0,
                   ("Dinner Party", "Dinner Jazz", "dinner with friends", "Dinner Music", "Cooking & Dinner"),
                   ("dinner", "cooking")),
    ContextProfile("gaming", .7,
                   _f((142, 12), (.86, .07), (-5, 1.5), (.45, .16), (.05, .05),
                      (.6, .1), (.6, .2), (.06, .03), (.15, .08)),
                   .4, {ELECTRO: 4, FILMS: 3, DANCE: 1}, RECENT, .05,
                   ("Gaming Music", "Gaming Playlist {year}", "gaming", "Video Game Soundtracks", "Epic Gaming Mix"),
                   ("gaming", "ranked grind")),
    ContextProfile("k-pop", .8,
                   _f((122, 10), (.8, .08), (-4.5, 1.3), (.65, .15), (.1, .08),
                      (.72, .08), (.01, .02), (.07, .04), (.15, .08)),
                   .6, {ASIAN: 6, POP: 2}, ((2010, 2026, 1.0),), .05,
                   ("K-Pop Hits", "k-pop", "K-Pop {year}", "Kpop Dance", "Best of K-Pop", "K-Pop Daebak"),
                   ("kpop", "k-pop stans")),
    ContextProfile("reggae", .6,
                   _f((76, 5), (.56, .1), (-8, 2), (.75, .12), (.2, .12),
                      (.79, .06), (.1, .1), (.12, .05), (.18, .1)),
                   .65, {REGGAE: 8}, ((1970, 2026, 1.0),), .1,
                   ("Reggae Classics", "reggae", "Roots Reggae", "Reggae Vibes", "Reggae {year}"),
                   ("reggae", "island")),
    ContextProfile("r&b", .9,
                   _f((96, 14), (.55, .11), (-7, 1.8), (.5, .16), (.25, .14),
                      (.7, .08), (.02, .04), (.1, .05), (.15, .08)),
                   .45, {RNB: 6, SOUL: 1}, ((1995, 2026, 1.0),), .4,
                   ("R&B Hits", "r&b", "RnB {year}", "R&B Slow Jams", "Soulful R&B", "90s & 00s R&B"),
                   ("rnb", "slow jams")),
)

CONTEXTS: list[str] = [p.name for p in PROFILES]
PROFILE_BY_NAME: dict[str, ContextProfile] = {p.name: p for p in PROFILES}

# Playlists whose title contains a context word but whose content belongs elsewhere: (title, real context).
DECOYS: dict[str, tuple[tuple[str, str], ...]] = {
    "sleep": (("Sleep Token Essentials", "metal"),),
    "running": (("Running Up That Hill - every version", "throwback 80s"),),
    "party": (("Tea Party Classics", "classical"),),
    "focus": (("Hocus Pocus Focus - 70s prog", "rock"),),
    "chill": (("Chills Down My Spine", "metal"),),
    "summer": (("Donna Summer & Disco Queens", "throwback 80s"),),
    "workout": (("Workout? No thanks. Sofa songs", "sad"),),
    "rock": (("Rock-a-bye Baby Lullabies", "sleep"),),
    "metal": (("Heavy Metal Lullaby - piano", "sleep"),),
    "romance": (("Bad Romance Dance Party", "party"),),
    "dinner": (("Dinner Party Bangers", "party"),),
    "sad": (("Sad But True - Metal", "metal"),),
    "acoustic": (("Acoustic Shredders - Guitar Metal", "metal"),),
    "jazz": (("Jazzercise 80s", "throwback 80s"),),
    "country": (("Country Roads Lofi", "lofi"),),
}

# A track's true contexts are those whose log-likelihood is within this many nats of its best one.
MARGIN = 3.0
_LOG_SQRT_2PI = 0.5 * np.log(2 * np.pi)


def _year_density(era: tuple[tuple[int, int, float], ...]) -> np.ndarray:
    years = np.arange(FIRST_YEAR, LAST_YEAR + 1)
    dens = np.zeros(len(years))
    total = sum(w for _, _, w in era)
    for first, last, w in era:
        span = (years >= first) & (years <= last)
        dens[span] += w / total / span.sum()
    return (1 - ERA_FLOOR) * dens + ERA_FLOOR / len(years)


def _genre_probs(genres: dict[int, float], genre_ids: list[int]) -> np.ndarray:
    raw = np.array([genres.get(g, 0.0) for g in genre_ids])
    raw = raw / raw.sum()
    return (1 - GENRE_FLOOR) * raw + GENRE_FLOOR / len(genre_ids)


@dataclass(frozen=True)
class ContextTables:
    """Array form of PROFILES, for vectorised sampling and scoring."""

    means: np.ndarray        # (C, F)
    sds: np.ndarray          # (C, F)
    p_major: np.ndarray      # (C,)
    p_explicit: np.ndarray   # (C,)
    genre_ids: list[int]
    genre_p: np.ndarray      # (C, G)
    year_p: np.ndarray       # (C, Y) for FIRST_YEAR..LAST_YEAR
    weights: np.ndarray      # (C,) normalised prevalence


def build_tables(genre_ids: list[int]) -> ContextTables:
    """Tabulate all profiles over the given genre id order."""
    means = np.array([[m for m, _ in p.features] for p in PROFILES])
    sds = np.array([[s for _, s in p.features] for p in PROFILES])
    w = np.array([p.weight for p in PROFILES])
    return ContextTables(
        means=means, sds=sds,
        p_major=np.array([p.p_major for p in PROFILES]),
        # Keep explicit probabilities off 0/1 so the log-likelihood stays finite.
        p_explicit=np.clip([p.p_explicit for p in PROFILES], 0.005, 0.995),
        genre_ids=list(genre_ids),
        genre_p=np.array([_genre_probs(p.genres, genre_ids) for p in PROFILES]),
        year_p=np.array([_year_density(p.era) for p in PROFILES]),
        weights=w / w.sum(),
    )


def log_likelihoods(tables: ContextTables, feats: np.ndarray, mode: np.ndarray, genre_idx: np.ndarray,
                    year: np.ndarray, explicit: np.ndarray) -> np.ndarray:
    """Log-likelihood (N, C) of each track's observables under each context.

    The observables are exactly what a model can see: the audio character (as Spotify features,
    ReccoBeats or audio analysis expose it), the album's Deezer genre, its release year and the
    explicit flag.
    """
    z = (feats[:, None, :] - tables.means[None]) / tables.sds[None]
    ll = -(0.5 * z ** 2 + np.log(tables.sds)[None] + _LOG_SQRT_2PI).sum(axis=2)
    ll += np.where(mode[:, None] == 1, np.log(tables.p_major), np.log1p(-tables.p_major))
    # Albums without a genre (index -1) carry no genre evidence: add nothing for them.
    genre_ll = np.log(tables.genre_p[:, np.maximum(genre_idx, 0)].T)
    ll += np.where(genre_idx[:, None] >= 0, genre_ll, 0.0)
    yi = np.clip(year, FIRST_YEAR, LAST_YEAR) - FIRST_YEAR
    ll += np.log(tables.year_p[:, yi].T)
    ll += np.where(explicit[:, None], np.log(tables.p_explicit), np.log1p(-tables.p_explicit))
    return ll


def true_contexts(ll: np.ndarray, margin: float = MARGIN) -> np.ndarray:
    """Boolean (N, C): the contexts scoring within `margin` nats of each track's best."""
    return ll >= ll.max(axis=1, keepdims=True) - margin
