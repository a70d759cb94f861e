"""The opt-in `reccobeats_audio` provider: Deezer previews uploaded to ReccoBeats' audio analysis."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor

from app.pipeline.clients.base import RateLimited, ServiceError
from app.pipeline.clients.reccobeats import ANALYSIS_FEATURES, TooLarge
from app.pipeline.providers.base import BadValue, FeatureResult, ProviderUnavailable, TrackRef, number
from app.pipeline.providers.preview import Broken, PreviewProvider
from app.pipeline.providers.reccobeats import RANGES
from app.pipeline.providers.run import RunClients, bounded_map

# Uploads are half a megabyte each and ReccoBeats publishes no limit: few at a time.
UPLOAD_THREADS = 2
OFF = ("uploading previews to ReccoBeats is off; set CONTEXTIFY_RECCOBEATS_AUDIO=1 to allow sending "
       "preview audio to this third party")


class ReccoBeatsAudioProvider:
    """Works for any track with a Deezer preview, including the ones ReccoBeats does not know by id.

    Off unless the deployment opted in (`RunClients.reccobeats_audio`, from CONTEXTIFY_RECCOBEATS_AUDIO):
    asked for while off, it reports itself unavailable for the run with a plain reason.
    ReccoBeats analyses only the first 30 s; a Deezer preview is 30 s, so the whole clip counts.
    """

    name = "reccobeats_audio"
    version = "1"

    def __init__(self, clients: RunClients) -> None:
        self.clients = clients
        # The preview provider's download (fresh signed links, a retry on 403, cut-short detection), through
        # the run's shared downloads: a preview `preview` or `musicnn` also analyses is fetched once.
        self.previews = PreviewProvider(clients)

    def can_fetch(self, track: TrackRef) -> bool:
        return track.deezer_id is not None

    def reserve(self, tracks: Iterable[TrackRef]) -> None:
        """Announce the previews this run will upload, before any analyser starts (see PreviewAnalysis)."""
        self.previews.reserve(tracks)

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        tracks = list(tracks)
        if not tracks:
            return
        with self.previews.sharing(tracks) as untaken:
            if not self.clients.reccobeats_audio:
                raise ProviderUnavailable(OFF)
            with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="reccobeats-audio") as pool:
                yield from bounded_map(pool, lambda track: self._one(track, untaken), tracks, UPLOAD_THREADS)

    def _one(self, track: TrackRef, untaken: set) -> FeatureResult:
        try:
            audio = self.previews.shared_download(track, untaken)
        except Broken as exc:
            return FeatureResult(track.id, exc.status, None, str(exc))
        try:
            row = self.clients.reccobeats.analyse_audio(audio, filename=f"{track.deezer_id}.mp3")
        except RateLimited as exc:
            raise ProviderUnavailable(f"ReccoBeats asks to wait {exc.retry_after_s:.0f} s") from exc
        except TooLarge as exc:
            return FeatureResult.failed(track.id, f"the preview is too large for ReccoBeats' analysis ({exc.reason})")
        except ServiceError as exc:
            return FeatureResult.failed(track.id, f"ReccoBeats could not analyse the preview: {exc}")
        try:
            return FeatureResult.ok(track.id, analysis_values(row))
        except BadValue as exc:
            return FeatureResult.failed(track.id, f"ReccoBeats answered nonsense: {exc}")


def analysis_values(row: dict) -> dict[str, float]:
    """The nine analysed features as validated floats (same ranges as the lookup by id)."""
    return {name: number(row.get(name), name, low=RANGES[name][0], high=RANGES[name][1])
            for name in ANALYSIS_FEATURES}
