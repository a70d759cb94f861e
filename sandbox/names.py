"""Believable names, titles, dates and codes for the generated world's artists, releases and playlists."""

from __future__ import annotations

import numpy as np

from sandbox.model import Character

FIRST = ("Luma", "Nova", "Milo", "Aria", "Jonah", "Kai", "Elsa", "Remy", "Talia", "Oscar", "Nina", "Felix", "Ivy",
         "Leon", "Maya", "Theo", "Zara", "Jules", "Cleo", "Arlo", "Sage", "Rhea", "Otis", "Lena", "Nico", "Isla",
         "Eli", "Vera", "Hugo", "Mara", "Ezra", "Faye", "Gus", "Hana", "Ines", "Jasper", "Kira", "Lou", "Noor",
         "Paz", "Quentin", "Rosa", "Silas", "Tove", "Uma", "Wren", "Yara", "Zeke", "Amos", "Bea")
LAST = ("Vale", "Hart", "Stone", "Rivers", "Monroe", "Blake", "Reyes", "Lind", "Park", "Sato", "Moreau", "Novak",
        "Quinn", "Ellis", "Brooks", "Kova", "Silva", "Wolfe", "Lane", "Hale", "Cruz", "Berg", "Adler", "Frost",
        "Kim", "Lee", "Ortiz", "Rossi", "Mendes", "Okafor", "Dubois", "Fischer", "Grant", "Holm", "Ibsen",
        "Jensen", "Keller", "Larsen", "Marsh", "Nakamura", "Olsen", "Pike", "Rowe", "Strand", "Thorne", "Voss")
FIRST_ES = ("Mateo", "Lucía", "Santiago", "Valentina", "Diego", "Camila", "Alejandro", "Sofía", "Javi", "Daniela")
LAST_ES = ("Rivera", "Gómez", "Morales", "Castillo", "Vargas", "Herrera", "Mendoza", "Rojas", "Navarro", "Ruiz")
ADJ = ("Golden", "Electric", "Midnight", "Silver", "Broken", "Wild", "Neon", "Quiet", "Endless", "Lonely",
       "Crystal", "Velvet", "Burning", "Hollow", "Sweet", "Fading", "Little", "Blue", "Crimson", "Open", "Paper",
       "Distant", "Lucky", "Secret", "Heavy", "Summer", "Winter", "Dancing", "Falling", "Sacred", "Northern",
       "Easy", "Bitter", "Brave", "Gentle", "Restless", "Shining", "Silent", "Young", "Lost", "Cold", "Pale")
NOUN = ("Heart", "Night", "Sky", "Fire", "River", "Dream", "Road", "Light", "Rain", "Ocean", "City", "Love",
        "Memory", "Garden", "Shadow", "Storm", "Horizon", "Echo", "Mirror", "Moon", "Sun", "Highway", "Window",
        "Kingdom", "Signal", "Wave", "Paradise", "Thunder", "Letter", "Star", "Ghost", "Machine", "Island",
        "Flame", "Street", "Morning", "Angel", "Diamond", "Satellite", "Wolf", "Engine", "Harbor", "Canyon")
PHRASES = ("Never Let Go", "Hold On", "Run Away", "Stay With Me", "Take Me Home", "One More Time",
           "Don't Look Back", "All I Need", "Come Alive", "Fall Apart", "Lose Control", "Breathe Again", "Tonight",
           "Forever Young", "Move Your Body", "Feel It", "Say My Name", "On My Mind", "No Sleep", "Let It Burn",
           "Wake Up", "Slow Down", "Ride Or Die", "Back To You", "Go Crazy", "Keep Running", "Only You",
           "Right Here", "Nothing Else", "Higher", "Gravity", "Over Again", "Better Days", "Last Dance")
SPANISH = ("Corazón", "Fuego", "La Noche", "Bailando", "Mi Amor", "Te Quiero", "Vamos", "Mi Vida", "Contigo",
           "Perreo", "Luna Llena", "Dime", "Otra Vez", "Caliente", "Besos")
MOVEMENTS = ("I. Allegro", "II. Adagio", "III. Presto", "II. Andante", "I. Allegro moderato", "IV. Rondo")
FORMS = ("Nocturne", "Sonata", "Prelude", "Etude", "Suite", "Concerto", "Fantasia", "Impromptu", "Serenade")
PITCH = ("C", "C-sharp", "D", "E-flat", "E", "F", "F-sharp", "G", "A-flat", "A", "B-flat", "B")
CITIES = ("Vienna", "Prague", "Berlin", "London", "Oslo", "Leipzig", "Boston", "Lyon", "Turin", "Dresden")
LABELS = ("Northbound Records", "Blue Harbor Music", "Parlo Tone", "Midnight Mile", "Atlas Audio",
          "Velvet Arc Records", "Independent", "Kingsway Music", "Red Lantern", "Harbor & Pine", "Copperline",
          "Glasshouse Records", "Solstice Sound", "Orbit Sound Ltd", "Lowlands Recordings", "Sunset Strip Music")
HANDLES = ("music_lover", "playlist_queen", "dj", "vibes", "beats", "curator", "tunes", "sound", "groove", "mix")

# ISRC registrant countries, leaning on where each kind of music is typically registered.
_COUNTRIES_DEFAULT = ("US", "US", "GB", "GB", "DE", "FR", "SE", "NL", "CA", "AU", "QM", "QZ")
_COUNTRIES = {"k-pop": ("KR",), "latin": ("ES", "MX", "CO", "US", "QM"), "reggae": ("JM", "GB", "US"),
              "country": ("US", "QM"), "hip-hop": ("US", "US", "GB", "FR", "QZ"), "classical": ("DE", "AT", "GB", "FR")}


def pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    """One of `options`, uniformly, as a plain str."""
    return str(options[int(rng.integers(len(options)))])


def _plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") else noun + "es" if noun.endswith(("s", "sh")) else noun + "s"


class Namer:
    """Hands out artist names (unique) and track titles in the style of each context."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.used: set[str] = set()

    def artist(self, ctx: str) -> str:
        """A unique artist name that sounds like the context's scene."""
        for _ in range(20):
            name = self._artist_candidate(ctx)
            if name not in self.used:
                break
        else:
            name = f"{name} {int(self.rng.integers(2, 99))}"
        self.used.add(name)
        return name

    def _artist_candidate(self, ctx: str) -> str:
        r, p = self.rng, lambda opts: pick(self.rng, opts)
        person = f"{p(FIRST)} {p(LAST)}"
        if ctx in ("rock", "metal", "indie", "throwback 80s", "throwback 90s", "road trip") and r.random() < .6:
            return f"The {p(ADJ)} {_plural(p(NOUN))}" if r.random() < .6 else f"{p(NOUN)} {p(NOUN)}"
        if ctx in ("hip-hop", "r&b") and r.random() < .6:
            return pick(r, (f"Lil {p(FIRST)}", f"Young {p(FIRST)}", f"MC {p(FIRST)}", f"{p(FIRST)} Tha {p(NOUN)}"))
        if ctx in ("edm", "gaming", "focus", "lofi", "party") and r.random() < .6:
            return pick(r, (f"DJ {p(FIRST)}", f"{p(FIRST)}{p(NOUN)}".upper(), f"{p(ADJ).lower()} {p(NOUN).lower()}",
                             f"{p(NOUN)}{int(r.integers(1, 99))}"))
        if ctx == "classical" and r.random() < .5:
            return pick(r, (f"{p(CITIES)} Philharmonic", f"{person} Quartet", f"{p(CITIES)} Chamber Orchestra"))
        if ctx == "jazz" and r.random() < .5:
            return f"{person} {pick(r, ('Trio', 'Quartet', 'Quintet'))}"
        if ctx == "latin":
            return f"{p(FIRST_ES)} {p(LAST_ES)}" if r.random() < .7 else p(FIRST_ES)
        if ctx == "k-pop":
            letters = "".join(pick(r, tuple("ABCDEFGHIJKLMNOPRSTVWXYZ")) for _ in range(int(r.integers(3, 6))))
            return letters if r.random() < .5 else f"{p(ADJ).upper()}{int(r.integers(1, 13))}"
        return person if r.random() < .8 else p(FIRST)

    def track_title(self, ctx: str, ch: Character) -> str:
        """A title in the context's idiom; classical titles name the key, as real ones do."""
        r, p = self.rng, lambda opts: pick(self.rng, opts)
        if ctx == "classical":
            key = f"{PITCH[ch.key]} {'Major' if ch.mode else 'Minor'}"
            return f"{p(FORMS)} No. {int(r.integers(1, 24))} in {key}, Op. {int(r.integers(2, 120))}: {p(MOVEMENTS)}"
        if ctx == "latin" and r.random() < .7:
            return p(SPANISH)
        x = r.random()
        if x < .3:
            return f"{p(ADJ)} {p(NOUN)}"
        if x < .6:
            return p(PHRASES)
        if x < .75:
            return f"{p(NOUN)} in the {p(NOUN)}"
        if x < .9:
            return _plural(p(NOUN)) if r.random() < .3 else p(NOUN)
        return f"The {p(ADJ)} {p(NOUN)}"


def isrc_registrant(rng: np.random.Generator, ctx: str, alnum: np.ndarray) -> str:
    """Country code plus a three-character registrant code (the CCXXX of CCXXXYYNNNNN)."""
    return pick(rng, _COUNTRIES.get(ctx, _COUNTRIES_DEFAULT)) + "".join(alnum[rng.integers(0, len(alnum), 3)])


def release_date(rng: np.random.Generator, year: int, last_month: int = 12) -> tuple[str, str]:
    """A release date of mixed precision (old catalogues often only know the year), no later than `last_month`."""
    p_year = .6 if year < 1990 else .12
    x = rng.random()
    month, day = int(rng.integers(1, last_month + 1)), int(rng.integers(1, 29))
    if x < p_year:
        return f"{year}", "year"
    if x < p_year + .05:
        return f"{year}-{month:02d}", "month"
    return f"{year}-{month:02d}-{day:02d}", "day"


def album_title(rng: np.random.Generator, record_type: str) -> str:
    """An album or EP title."""
    x = rng.random()
    title = f"{pick(rng, ADJ)} {pick(rng, NOUN)}" if x < .5 else pick(rng, PHRASES) if x < .8 else pick(rng, NOUN)
    return f"{title} EP" if record_type == "ep" and rng.random() < .5 else title


def compilation_title(rng: np.random.Generator, year: int) -> str:
    """A various-artists compilation title."""
    return pick(rng, (f"Now That's Music {int(rng.integers(20, 99))}", f"Greatest Hits {year}",
                       f"Hits of {year}", "Ultimate Collection", f"The Best of {year - year % 10}s",
                       f"Summer Hits {year}", "Timeless Classics"))


def label(rng: np.random.Generator) -> str:
    """A record label name."""
    return pick(rng, LABELS)


def upc(rng: np.random.Generator) -> str:
    """A 12- or 13-digit UPC/EAN barcode."""
    return "".join(str(d) for d in rng.integers(0, 10, size=13 if rng.random() < .7 else 12))


def title_version(rng: np.random.Generator, ctx: str, ch: Character, year: int) -> str:
    """An edition suffix the way Deezer stores it in `title_version`, or ""."""
    if ch.liveness > .7 and rng.random() < .7:
        return "(Live)"
    if year < 2005 and rng.random() < .25:
        return f"(Remastered {int(rng.integers(max(year + 10, 2001), 2025))})"
    if ctx in ("edm", "party", "workout", "running") and rng.random() < .08:
        return pick(rng, ("- Radio Edit", "- Extended Mix", "(Club Mix)"))
    if ch.acousticness > .8 and ctx not in ("classical", "sleep", "meditation") and rng.random() < .04:
        return "(Acoustic Version)"
    if rng.random() < .02:
        return "- Radio Edit"
    return ""


def playlist_owner(rng: np.random.Generator, service: str, ctx: str) -> tuple[str, str]:
    """(id, display name) of a public playlist's creator."""
    if service == "deezer":
        if rng.random() < .25:
            return str(int(rng.integers(1_000_000, 9_000_000))), f"Deezer {ctx.title()} Editor"
        return str(int(rng.integers(10_000_000, 6_000_000_000))), _handle(rng)
    handle = _handle(rng).lower().replace(" ", "").replace(".", "")
    return handle, handle


def _handle(rng: np.random.Generator) -> str:
    x = rng.random()
    if x < .4:
        suffix = int(rng.integers(70, 100)) if rng.random() < .5 else int(rng.integers(1, 999))
        return f"{pick(rng, FIRST).lower()}_{suffix}"
    if x < .7:
        return f"{pick(rng, FIRST)} {pick(rng, LAST)[0]}."
    return f"{pick(rng, HANDLES)}{int(rng.integers(1, 9999))}"


def description(rng: np.random.Generator, ctx: str) -> str:
    """A playlist description, often empty."""
    return pick(rng, ("", "", "", f"The best {ctx} tracks, updated weekly.", f"My favourite {ctx} songs",
                       "follow for more!", f"{ctx} vibes only", "No skips."))


def near_duplicate_title(rng: np.random.Generator, title: str) -> str:
    """The title a re-upload or copy of a playlist typically gets."""
    return pick(rng, (title.lower(), f"{title} (copy)", f"{title} 2", title.upper(), f"{title} ✓", f"{title} "))
