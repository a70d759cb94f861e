"""Feature providers behind one protocol (`base.FeatureProvider`), one module each (reccobeats_audio is opt-in)."""

from __future__ import annotations

from typing import Any

from app.pipeline.providers.base import FeatureProvider, FeatureResult, ProviderUnavailable, TrackRef
from app.pipeline.providers.deezer import DeezerProvider
from app.pipeline.providers.preview import PreviewProvider
from app.pipeline.providers.reccobeats import ReccoBeatsProvider
from app.pipeline.providers.reccobeats_audio import ReccoBeatsAudioProvider
from app.pipeline.providers.run import RunClients
from app.pipeline.providers.spotify import SpotifyFeaturesProvider

PROVIDER_CLASSES: dict[str, Any] = {
    cls.name: cls for cls in (DeezerProvider, PreviewProvider, ReccoBeatsProvider, ReccoBeatsAudioProvider,
                              SpotifyFeaturesProvider)}

# Spotify's terms forbid training models on Spotify content, so its audio features are opt-in
# (`--providers ...,spotify`) for deployments that still have access and chose to use them.
DEFAULT_PROVIDERS = ("deezer", "preview", "reccobeats")


def with_opt_ins(names: tuple[str, ...] | list[str], reccobeats_audio: bool) -> tuple[str, ...]:
    """The run's providers: when opted in, uploading previews to ReccoBeats rides along with `preview`."""
    names = tuple(dict.fromkeys(names))
    if reccobeats_audio and "preview" in names and ReccoBeatsAudioProvider.name not in names:
        names += (ReccoBeatsAudioProvider.name,)
    return names


__all__ = ["DEFAULT_PROVIDERS", "PROVIDER_CLASSES", "FeatureProvider", "FeatureResult", "ProviderUnavailable",
           "RunClients", "TrackRef", "with_opt_ins"]
