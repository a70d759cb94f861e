"""The Contexts page's plain functions: which typed names become context chips, and which settings start a harvest.

The page's callbacks only read inputs and call these, so what the page decides is tested without Dash.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from app.pipeline.harvest import DEFAULT_PLAYLISTS_PER_CONTEXT, DEFAULT_TRACKS_PER_PLAYLIST, SOURCES
from app.pipeline.naming import ContextNameError, display_name, validate_contexts

PLAYLISTS_RANGE = (1, 50)       # more than 50 playlists per context adds hours, not accuracy
TRACKS_RANGE = (10, 500)        # fewer than 10 tracks per playlist is too little to learn from
SOURCE_HELP = {
    "deezer": "Deezer's public playlists: free, no account needed, and the right choice almost always.",
    "auto": "Spotify's public playlists when this app may read them; Spotify refuses that to new apps "
            "(HTTP 403), and then contextify falls back to Deezer and says so in the log.",
    "spotify": "Only Spotify's public playlists; the harvest fails if Spotify refuses this app access (HTTP 403).",
}
SOURCE_NAMES = {"deezer": "Deezer", "auto": "Automatic", "spotify": "Spotify"}
DEFAULTS = {"source": "deezer", "playlists": DEFAULT_PLAYLISTS_PER_CONTEXT, "tracks": DEFAULT_TRACKS_PER_PLAYLIST}




class SettingsError(ValueError):
    """Harvest settings the page refuses; the message is plain words for the user."""


# ---------------------------------------------------------------------------------------- the chips


def split_names(text: str | None) -> list[str]:
    """What the user typed, as names: commas separate several ("workout, study"), blanks are dropped."""
    return [name for name in (display_name(part) for part in (text or "").split(",")) if name]


def add_contexts(chips: Sequence[str], text: str | None) -> tuple[list[str], str | None]:
    """The chips with the typed names added, or the chips unchanged and why not (plain words)."""
    new = split_names(text)
    if not new:
        return list(chips), "Type a context name first, e.g. workout or rainy day."
    try:
        return validate_contexts([*chips, *new]), None
    except ContextNameError as exc:
        return list(chips), sentence(str(exc))


def remove_context(chips: Sequence[str], index: int) -> list[str]:
    return [name for i, name in enumerate(chips) if i != index]


def sentence(text: str) -> str:
    """A message from the pipeline (written to follow "error:") as a sentence of its own."""
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


# ------------------------------------------------------------------------------------- the settings


def harvest_params(chips: Sequence[str], source: str | None, playlists: Any, tracks: Any,
                   refresh: bool = False) -> dict[str, Any]:
    """The `harvest` job's params (same names as `flask harvest`); SettingsError says what to fix."""
    if not chips:
        raise SettingsError("Add at least one context first.")
    try:
        contexts = validate_contexts(chips)
    except ContextNameError as exc:
        raise SettingsError(sentence(str(exc))) from None
    if source not in SOURCES:
        raise SettingsError("Choose where the playlists come from: Deezer, Automatic or Spotify.")
    return {"contexts": contexts, "source": source,
            "playlists_per_context": _bounded(playlists, PLAYLISTS_RANGE, "Playlists per context"),
            "tracks_per_playlist": _bounded(tracks, TRACKS_RANGE, "Tracks per playlist"),
            "refresh": bool(refresh), "enrich": True}


def _bounded(value: Any, bounds: tuple[int, int], what: str) -> int:
    low, high = bounds
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not (number.is_integer() and low <= number <= high):
        raise SettingsError(f"{what} must be a whole number from {low} to {high}.")
    return int(number)
