"""Context names and playlist titles: validation, normalised keys, tokens, relevance and duplicate-title keys."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

MAX_CONTEXT_CHARS = 100  # contexts.key / contexts.name are String(100)
MAX_CONTEXTS = 50

# Words that say nothing about a context: a title made only of these and the context is a perfect match.
FILLER = frozenset({
    "a", "an", "and", "the", "of", "for", "to", "my", "your", "best", "top", "new", "music", "playlist",
    "playlists", "mix", "songs", "song", "hits", "tracks", "beats", "vibes", "list", "collection",
    "official", "edition", "updated", "weekly", "copy",
})
# A title saying the opposite ("Workout? No thanks") is a decoy however well it matches.
NEGATIONS = frozenset({"no", "not", "never", "anti", "without", "nope", "hate"})
# Trailing marks of a copy or re-upload: "Study Music (copy)", "Study Music 2", "Study Music ✓".
COPY_MARKS = frozenset({"copy", "2", "ii", "v2"})

_YEAR = re.compile(r"^(19|20)\d\d$")
# Bidirectional embeddings, overrides and isolates reorder how the text around them is shown, so a name
# could display as something else than it is ("Trojan Source"); right-to-left letters need none of them.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class ContextNameError(ValueError):
    """A list of context names a user typed cannot be harvested; the message says why in plain words."""


def context_key(name: str) -> str:
    """The normalised key of a context: NFC, whitespace collapsed, case folded (as app.models normalises labels)."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold().replace(";", ",")


def display_name(name: str) -> str:
    """The name as entered, with whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFC", name).split())


def validate_contexts(names: Iterable[str]) -> list[str]:
    """The names to harvest, whitespace collapsed; raises ContextNameError for any name or list we refuse."""
    cleaned = [display_name(name) for name in names]
    if not cleaned:
        raise ContextNameError("give at least one context name")
    if len(cleaned) > MAX_CONTEXTS:
        raise ContextNameError(f"{len(cleaned)} contexts given; at most {MAX_CONTEXTS} can be harvested at once")
    seen: dict[str, str] = {}
    for position, name in enumerate(cleaned, start=1):
        if not name:
            raise ContextNameError(f"context {position} is empty")
        if len(name) > MAX_CONTEXT_CHARS:
            raise ContextNameError(f"context {position} is {len(name)} characters long; the limit is "
                                   f"{MAX_CONTEXT_CHARS}")
        _check_characters(name)
        key = context_key(name)
        if key in seen:
            raise ContextNameError(f"'{name}' and '{seen[key]}' are the same context (names ignore case "
                                   "and spacing); give it once")
        seen[key] = name
    return cleaned


def _check_characters(name: str) -> None:
    """Refuse names that cannot be searched for: control characters, or nothing but punctuation and spaces.

    Emoji, accents and right-to-left scripts are all fine (they are words to the playlist search).
    """
    if any(unicodedata.category(char) == "Cc" for char in name):
        # Not echoed: the character itself would be invisible, or break the message.
        raise ContextNameError("a name contains a control character (an invisible code); type it again without it")
    if BIDI_CONTROLS.intersection(name):
        raise ContextNameError("a name contains an invisible direction override (it makes text display out of "
                               "order); type it again without it")
    if not tokens(name):
        raise ContextNameError(f"'{name}' has no letters, digits or emoji to search playlists for")


def tokens(text: str) -> list[str]:
    """Words of a title, accent-free and case-folded; every emoji or symbol counts as a word of its own."""
    decomposed = unicodedata.normalize("NFKD", text)
    out: list[str] = []
    word: list[str] = []
    for char in decomposed:
        if unicodedata.combining(char):
            continue
        if char.isalnum():
            word.append(char)
            continue
        if word:
            out.append("".join(word).casefold())
            word = []
        if unicodedata.category(char) == "So":
            out.append(char)
    if word:
        out.append("".join(word).casefold())
    return out


def _token_similarity(wanted: str, seen: str) -> float:
    """1 for the same word, less for a variant ("studying" for "study"), 0 for another word."""
    if wanted == seen:
        return 1.0
    if len(wanted) < 3 or len(seen) < 3:
        return 0.0
    shorter = min(len(wanted), len(seen))
    prefix = len(_common_prefix(wanted, seen))
    if prefix == shorter or (prefix >= 4 and prefix >= 0.75 * shorter):
        return 0.85
    ratio = difflib.SequenceMatcher(None, wanted, seen).ratio()
    return ratio * 0.8 if ratio >= 0.85 else 0.0


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def relevance(context: str, title: str) -> float:
    """How well a playlist title names a context, 0..1.

    Coverage (how much of the context the title says, fuzzy per word) weighs most; precision (how much
    of the title is about the context, filler words and years aside) breaks ties, so "Sleep" beats
    "Sleep Token Essentials". A negation in the title halves the score.
    """
    wanted = tokens(context)
    seen = tokens(title)
    if not wanted or not seen:
        return 0.0
    best = [max((_token_similarity(w, s) for s in seen), default=0.0) for w in wanted]
    coverage = sum(best) / len(wanted)
    if coverage == 0:
        return 0.0
    telling = [s for s in seen if s not in FILLER and not _YEAR.match(s)]
    matched = [s for s in telling if max(_token_similarity(w, s) for w in wanted) > 0]
    precision = len(matched) / len(telling) if telling else 1.0
    score = coverage * (0.6 + 0.4 * precision)
    if NEGATIONS.intersection(seen) and not NEGATIONS.intersection(wanted):
        score /= 2
    return round(score, 3)


def title_key(title: str) -> str:
    """Titles that only differ by case, accents, punctuation or a copy mark share this key."""
    words = [w for w in tokens(title) if unicodedata.category(w[0]) != "So"]
    while len(words) > 1 and words[-1] in COPY_MARKS:
        words.pop()
    return " ".join(words) or " ".join(tokens(title))
