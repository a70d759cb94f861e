"""The `reccobeats` provider: Spotify-style audio features by Spotify id, 40 ids per call, joined back by href."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.pipeline.clients.base import RateLimited, ServiceError
from app.pipeline.clients.reccobeats import MAX_IDS
from app.pipeline.providers.base import BadValue, FeatureResult, ProviderUnavailable, TrackRef, number
from app.pipeline.providers.run import RunClients, bounded_map

NETWORK_THREADS = 4

# name -> (low, high); tempo 0 and loudness above 0 dB are the absurd values lying answers carry.
RANGES: dict[str, tuple[float, float]] = {
    "acousticness": (0, 1), "danceability": (0, 1), "energy": (0, 1), "instrumentalness": (0, 1),
    "liveness": (0, 1), "speechiness": (0, 1), "valence": (0, 1), "loudness": (-70, 5),
    "tempo": (1, 400), "key": (-1, 11), "mode": (0, 1),
}


class ReccoBeatsProvider:
    """Ids ReccoBeats does not know get an `unavailable` row, so they are not asked again until stale."""

    name = "reccobeats"
    version = "1"

    def __init__(self, clients: RunClients) -> None:
        self.clients = clients

    def can_fetch(self, track: TrackRef) -> bool:
        return track.spotify_id is not None

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        tracks = list(tracks)
        batches = [tracks[start:start + MAX_IDS] for start in range(0, len(tracks), MAX_IDS)]
        with ThreadPoolExecutor(NETWORK_THREADS, thread_name_prefix="reccobeats") as pool:
            for results in bounded_map(pool, self._batch, batches, NETWORK_THREADS):
                yield from results

    def _batch(self, batch: list[TrackRef]) -> list[FeatureResult]:
        try:
            found = self.clients.reccobeats.audio_features([t.spotify_id for t in batch])
        except RateLimited as exc:
            raise ProviderUnavailable(f"ReccoBeats asks to wait {exc.retry_after_s:.0f} s") from exc
        except ServiceError as exc:
            return [FeatureResult.failed(t.id, str(exc)) for t in batch]
        return [self._result(t, found.get(t.spotify_id)) for t in batch]

    @staticmethod
    def _result(track: TrackRef, row: dict[str, Any] | None) -> FeatureResult:
        if row is None:
            return FeatureResult.unavailable(track.id, "ReccoBeats does not know this track")
        try:
            return FeatureResult.ok(track.id, feature_values(row))
        except BadValue as exc:
            return FeatureResult.failed(track.id, f"ReccoBeats answered nonsense: {exc}")


def feature_values(row: dict[str, Any]) -> dict[str, Any]:
    values = {name: number(row.get(name), name, low=low, high=high) for name, (low, high) in RANGES.items()}
    values["key"], values["mode"] = int(values["key"]), int(values["mode"])
    return values
