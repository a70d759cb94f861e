"""The `musicnn` provider: the pretrained MSD musicnn network's 50 tag probabilities and 200-d embedding of each preview."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from app.pipeline.providers.base import FeatureResult, ProviderUnavailable, TrackRef
from app.pipeline.providers.preview import PreviewAnalysis


def analyse_musicnn_clip(data: bytes) -> dict[str, float] | str:
    """In a worker process: the network's averaged tags and embedding of an audio file, or why not."""
    from app.pipeline.audio_features import decode_audio
    from app.pipeline.musicnn_net import analyse

    try:
        y, sr = decode_audio(data)
    except Exception as exc:  # noqa: BLE001  (any decoder error means: not audio we can read)
        return f"the preview is not decodable audio ({type(exc).__name__})"
    if len(y) < sr // 2:
        return "the preview is shorter than half a second"
    return analyse(y, sr)


class MusicnnProvider(PreviewAnalysis):
    """Per track `tag_<tag>` (50 MSD tag probabilities) and `emb_000`..`emb_199`, averaged over four inner 3-s patches.

    Shares the preview download with the `preview` provider and runs on the same analysis pool. The
    version names the network and this implementation: a change to either recomputes every track.
    """

    name = "musicnn"
    version = "msd-3"  # 2: every other patch; 3: four inside patches (musicnn_net.patches_used)
    analyser = staticmethod(analyse_musicnn_clip)

    def fetch(self, tracks: Iterable[TrackRef]) -> Iterator[FeatureResult]:
        from app.pipeline.musicnn_net import WeightsMissing, weights_prefix

        try:
            weights_prefix()
        except WeightsMissing as exc:
            raise ProviderUnavailable(str(exc)) from None
        yield from super().fetch(tracks)

    def result(self, track: TrackRef, outcome: Any) -> FeatureResult:
        if isinstance(outcome, str):
            return FeatureResult.failed(track.id, outcome)
        return FeatureResult.ok(track.id, outcome)
