"""Scale-out enrichment chunks: about the asked size, every track once, and no album split between two chunks."""

from __future__ import annotations

import pytest

from app.jobs.registry import TaskError
from app.jobs.scaleout import album_chunks
from app.pipeline.providers.base import TrackRef


def _ref(track_id: int, album_id: int | None) -> TrackRef:
    return TrackRef(track_id, None, track_id * 10 if album_id else None, None, album_id)


@pytest.mark.parametrize("size", [1, 2, 3, 10])
def test_chunks_hold_every_track_once_and_never_split_an_album(size):
    refs = [_ref(n, album) for n, album in enumerate([7, 7, 7, 3, 3, 9, None, 4, 4, 4, 4, None], start=1)]
    chunks = album_chunks(refs, size)
    assert sorted(r.id for chunk in chunks for r in chunk) == list(range(1, 13))
    homes = {}
    for number, chunk in enumerate(chunks):
        for ref in chunk:
            if ref.deezer_album_id is not None:
                assert homes.setdefault(ref.deezer_album_id, number) == number, "an album was split"
    # A chunk closes at the first album boundary after `size` tracks, so only one album can overflow it.
    assert all(len(chunk) < size + 4 for chunk in chunks)


def test_a_chunk_size_below_one_is_refused():
    with pytest.raises(TaskError):
        album_chunks([_ref(1, 1)], 0)
