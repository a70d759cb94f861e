"""The one way contextify writes a Spotify playlist: create, replace or append, remove, read back, and verify."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from app.pipeline.clients.base import NotFound
from app.pipeline.clients.spotify import ITEMS_PER_WRITE

SHOWN_IN_DIFFERENCE = 3


@dataclass
class Change:
    """One verified change: what the playlist held before, what was written, what it holds now, and any problem."""

    before: list[str]
    written: list[str]
    after: list[str]
    problem: str | None          # None when the read-back is exactly the playlist as expected


class PlaylistWriter:
    """Playlist writes over a Spotify client (or anything with its `playlist_items`, `add_items`, `create_playlist`,
    `playlist` and `call`), each followed by reading the playlist back when the caller needs the proof."""

    def __init__(self, client: Any) -> None:
        self.client = client

    # ------------------------------------------------------------------------------------ single calls

    def create(self, name: str, *, public: bool = False, description: str = "") -> tuple[str, str | None]:
        """A new playlist of the user's: its id and first snapshot id."""
        created = self.client.create_playlist(name, public=public, description=description)
        return created["id"], created.get("snapshot_id")

    def read(self, playlist_id: str) -> list[str]:
        """The URIs a playlist holds, in order (local files and unavailable items have none and are left out)."""
        uris = []
        for item in self.client.playlist_items(playlist_id):
            track = (item.get("item") or item.get("track")) if isinstance(item, dict) else None
            if isinstance(track, dict) and track.get("uri"):
                uris.append(track["uri"])
        return uris

    def replace(self, playlist_id: str, uris: Sequence[str]) -> str | None:
        """Make the playlist hold exactly `uris`: PUT replaces with the first 100, POST appends the rest by 100.

        Returns the last snapshot id. Idempotent: running it again after a failure half-way gives the same list.
        """
        client = self.client
        snapshot = client.call(client.sp.playlist_replace_items, playlist_id, list(uris[:ITEMS_PER_WRITE]))
        rest = self.append(playlist_id, uris[ITEMS_PER_WRITE:])
        return rest[-1] if rest else (snapshot or {}).get("snapshot_id")

    def append(self, playlist_id: str, uris: Sequence[str]) -> list[str]:
        """Append in batches of 100; the snapshot id after each batch."""
        snapshots: list[str] = []
        for start in range(0, len(uris), ITEMS_PER_WRITE):
            snapshots += self.client.add_items(playlist_id, list(uris[start:start + ITEMS_PER_WRITE]))
        return snapshots

    def remove(self, playlist_id: str, uris: Sequence[str]) -> None:
        """Remove every occurrence of each URI, 100 a call."""
        client = self.client
        for start in range(0, len(uris), ITEMS_PER_WRITE):
            client.call(client.sp.playlist_remove_all_occurrences_of_items, playlist_id,
                        list(uris[start:start + ITEMS_PER_WRITE]))

    def snapshot(self, playlist_id: str) -> str | None:
        return self.client.playlist(playlist_id).get("snapshot_id")

    def verify(self, playlist_id: str, wanted: Sequence[str]) -> str | None:
        """None when the playlist reads back exactly as `wanted`; else the difference in words."""
        actual = self.read(playlist_id)
        return None if actual == list(wanted) else difference(list(wanted), actual)

    # ------------------------------------------------------------------------------ verified changes

    def write_exactly(self, playlist_id: str | None, uris: Sequence[str],
                      make: Callable[[], str]) -> tuple[str, str | None]:
        """Make a playlist hold exactly `uris` and read it back: the playlist id and the difference, if any.

        `make()` creates the playlist (and should record its id at once, so a retry never makes a second); it is
        called when there is none yet, and once more when Spotify no longer has it.
        """
        if playlist_id is None:
            playlist_id = make()
        try:
            self.replace(playlist_id, uris)
        except NotFound:  # deleted on Spotify since: make it again, once
            playlist_id = make()
            self.replace(playlist_id, uris)
        return playlist_id, self.verify(playlist_id, uris)

    def append_new(self, playlist_id: str, uris: Sequence[str]) -> Change:
        """Append the URIs the playlist lacks (each once) and read it back; a problem unless it reads as before plus
        them at its end."""
        before = self.read(playlist_id)
        present = set(before)
        fresh = list(dict.fromkeys(uri for uri in uris if uri not in present))
        self.append(playlist_id, fresh)
        expected = before + fresh
        after = self.read(playlist_id) if fresh else before
        return Change(before, fresh, after, None if after == expected else difference(expected, after))

    def remove_verified(self, playlist_id: str, uris: Sequence[str]) -> Change:
        """Remove the URIs and read back; a problem unless it reads as before without them."""
        before = self.read(playlist_id)
        self.remove(playlist_id, uris)
        after = self.read(playlist_id)
        gone = set(uris)
        expected = [uri for uri in before if uri not in gone]
        return Change(before, list(uris), after, None if after == expected else difference(expected, after))


def difference(wanted: list[str], actual: list[str]) -> str:
    """What reading back found, compared with what was written, in a sentence."""
    actual_set, wanted_set = set(actual), set(wanted)
    missing = [uri for uri in wanted if uri not in actual_set]
    extra = [uri for uri in actual if uri not in wanted_set]
    doubled = sorted({uri for uri in actual if actual.count(uri) > 1})
    parts = []
    if missing:
        parts.append(f"{tracks_in_words(len(missing))} did not land ({_some(missing)})")
    if extra:
        parts.append(f"{tracks_in_words(len(extra))} that contextify did not write are in it ({_some(extra)})")
    if doubled:
        parts.append(f"{tracks_in_words(len(doubled))} appear more than once ({_some(doubled)})")
    if not parts:
        parts.append("the tracks are all there but in a different order")
    return (f"Reading the playlist back found {len(actual)} of {len(wanted)} tracks: " + "; ".join(parts)
            + ". Save again to fix it.")


def tracks_in_words(n: int) -> str:
    """A count of tracks in words: 1 track, 1,200 tracks."""
    return f"{n:,} track{'s' if n != 1 else ''}"


def _some(uris: list[str]) -> str:
    shown = ", ".join(uris[:SHOWN_IN_DIFFERENCE])
    return shown + (f" and {len(uris) - SHOWN_IN_DIFFERENCE} more" if len(uris) > SHOWN_IN_DIFFERENCE else "")
