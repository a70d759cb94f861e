"""The one playlist writer: replace, append, remove and create, each proved by reading the playlist back."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.pipeline.clients.base import NotFound
from app.pipeline.playlist_writer import PlaylistWriter, difference


class FakeSpotify:
    """Playlists in memory behind the calls the writer makes; `lose` drops a URI from every later append."""

    def __init__(self) -> None:
        self.playlists: dict[str, list[str]] = {}
        self.calls: list[tuple[str, int]] = []
        self.lose: str | None = None
        self.sp = SimpleNamespace(playlist_replace_items=self._replace,
                                  playlist_remove_all_occurrences_of_items=self._remove)

    def call(self, method, *args):  # noqa: ANN001,ANN201
        return method(*args)

    def _replace(self, playlist_id: str, uris: list[str]) -> dict:
        self._known(playlist_id)
        self.calls.append(("PUT", len(uris)))
        self.playlists[playlist_id] = list(uris)
        return {"snapshot_id": "put"}

    def _remove(self, playlist_id: str, uris: list[str]) -> dict:
        self.calls.append(("DELETE", len(uris)))
        self.playlists[playlist_id] = [u for u in self.playlists[playlist_id] if u not in set(uris)]
        return {"snapshot_id": "delete"}

    def _known(self, playlist_id: str) -> None:
        if playlist_id not in self.playlists:
            raise NotFound("spotify", "no such playlist")

    def add_items(self, playlist_id: str, uris: list[str]) -> list[str]:
        self._known(playlist_id)
        assert len(uris) <= 100, "a write carries at most 100 items"
        self.calls.append(("POST", len(uris)))
        self.playlists[playlist_id] += [u for u in uris if u != self.lose]
        return [f"post{len(self.calls)}"]

    def playlist_items(self, playlist_id: str):  # noqa: ANN201
        self._known(playlist_id)
        return [{"item": {"uri": u}} for u in self.playlists[playlist_id]] + [{"item": None}]  # a local file

    def create_playlist(self, name: str, *, public: bool = False, description: str = "") -> dict:
        self.made = getattr(self, "made", 0) + 1
        playlist_id = f"p{self.made}"
        self.playlists[playlist_id] = []
        return {"id": playlist_id, "snapshot_id": "new"}

    def playlist(self, playlist_id: str) -> dict:
        return {"snapshot_id": f"snap-{len(self.playlists[playlist_id])}"}


def uris(n: int, start: int = 0) -> list[str]:
    return [f"spotify:track:t{i}" for i in range(start, start + n)]


def test_write_exactly_creates_replaces_by_hundreds_and_verifies():
    client = FakeSpotify()
    writer = PlaylistWriter(client)
    made: list[str] = []

    def make() -> str:
        made.append(writer.create("contextify · Test")[0])
        return made[-1]

    playlist_id, problem = writer.write_exactly(None, uris(250), make)
    assert problem is None and made == [playlist_id] and client.playlists[playlist_id] == uris(250)
    assert client.calls == [("PUT", 100), ("POST", 100), ("POST", 50)]
    # Written again with fewer tracks: the same playlist holds exactly them.
    assert writer.write_exactly(playlist_id, uris(3), make) == (playlist_id, None)
    assert client.playlists[playlist_id] == uris(3) and made == [playlist_id]
    # Deleted on Spotify since: made again, once.
    del client.playlists[playlist_id]
    again, problem = writer.write_exactly(playlist_id, uris(2), make)
    assert problem is None and again != playlist_id and made == [playlist_id, again]


def test_append_new_adds_only_what_is_missing_and_says_what_did_not_land():
    client = FakeSpotify()
    writer = PlaylistWriter(client)
    playlist_id, _ = writer.create("mine")
    client.playlists[playlist_id] = uris(3)
    change = writer.append_new(playlist_id, uris(5) + uris(1, start=4))
    assert change.before == uris(3) and change.written == uris(2, start=3) and change.after == uris(5)
    assert change.problem is None
    nothing = writer.append_new(playlist_id, uris(2))
    assert nothing.written == [] and nothing.problem is None and client.calls[-1] == ("POST", 2)
    client.lose = "spotify:track:t9"
    lost = writer.append_new(playlist_id, uris(3, start=8))
    assert lost.problem is not None and "1 track did not land (spotify:track:t9)" in lost.problem


def test_remove_verified_and_the_difference_in_words():
    client = FakeSpotify()
    writer = PlaylistWriter(client)
    playlist_id, _ = writer.create("mine")
    client.playlists[playlist_id] = uris(4) + uris(1)
    change = writer.remove_verified(playlist_id, uris(1))
    assert change.after == uris(3, start=1) and change.problem is None
    assert writer.verify(playlist_id, uris(3, start=1)) is None
    assert "different order" in writer.verify(playlist_id, list(reversed(uris(3, start=1))))
    words = difference(uris(2), ["spotify:track:x", "spotify:track:x"])
    assert words.startswith("Reading the playlist back found 2 of 2 tracks: 2 tracks did not land")
    assert "appear more than once (spotify:track:x)" in words


def test_a_missing_playlist_is_not_found():
    with pytest.raises(NotFound):
        PlaylistWriter(FakeSpotify()).read("gone")
