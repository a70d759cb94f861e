"""The `spotify` provider: Spotify's own audio features, for apps that kept access (new apps get a 403)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from app.pipeline.clients.base import RateLimited, ServiceError
from app.pipeline.providers.base import BadValue, FeatureResult, ProviderUnavailable, TrackRef
from app.pipeline.providers.reccobeats import feature_values
from app.pipeline.providers.run import RunClients

MAX_IDS = 100  # GET /audio-features takes at most 100 ids


class SpotifyFeaturesProvider:
    """Asks `/audio-features` 100 ids at a time; the first 403 turns the provider off for the run."""

    name = "spotify"
    version = "1"

    def __init__(self, clients: RunClients) -> None:
        self.clients = clients

    def can_fetch(self, track: TrackRef) -> bool:
        return track.spotify_id is not None

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        client = self.clients.spotify
        if client is None:
            raise ProviderUnavailable("no Spotify client in this run (Spotify features need a logged-in user)")
        tracks = list(tracks)
        for start in range(0, len(tracks), MAX_IDS):
            batch = tracks[start:start + MAX_IDS]
            try:
                answer = client.call(client.sp.audio_features, [t.spotify_id for t in batch])
            except RateLimited as exc:
                raise ProviderUnavailable(f"Spotify asks to wait {exc.retry_after_s:.0f} s") from exc
            except ServiceError as exc:
                if "HTTP 403" in exc.reason:
                    # Apps registered after 2024-11-27 get 403 on /audio-features: no point asking again.
                    raise ProviderUnavailable("this Spotify app has no access to audio features (403)") from exc
                yield from (FeatureResult.failed(t.id, str(exc)) for t in batch)
                continue
            rows = answer if isinstance(answer, list) else []
            by_id = {row.get("id"): row for row in rows if isinstance(row, dict)}
            for track in batch:
                yield _result(track, by_id.get(track.spotify_id))


def _result(track: TrackRef, row: dict | None) -> FeatureResult:
    if row is None:
        return FeatureResult.unavailable(track.id, "Spotify has no audio features for this track")
    try:
        return FeatureResult.ok(track.id, feature_values(row))
    except BadValue as exc:
        return FeatureResult.failed(track.id, f"Spotify answered nonsense: {exc}")
