"""Feature providers behind one protocol (`base.FeatureProvider`), one module each: deezer, preview, musicnn, reccobeats, reccobeats_audio (opt-in), spotify."""

from __future__ import annotations

import os
from typing import Any

from app.pipeline.providers.base import FeatureProvider, FeatureResult, ProviderUnavailable, TrackRef
from app.pipeline.providers.deezer import DeezerProvider
from app.pipeline.providers.musicnn import MusicnnProvider
from app.pipeline.providers.preview import PreviewProvider
from app.pipeline.providers.reccobeats import ReccoBeatsProvider
from app.pipeline.providers.reccobeats_audio import ReccoBeatsAudioProvider
from app.pipeline.providers.run import RunClients
from app.pipeline.providers.spotify import SpotifyFeaturesProvider

PROVIDER_CLASSES: dict[str, Any] = {
    cls.name: cls for cls in (DeezerProvider, PreviewProvider, MusicnnProvider, ReccoBeatsProvider,
                              ReccoBeatsAudioProvider, SpotifyFeaturesProvider)}

# Spotify's terms forbid training models on Spotify content, so its audio features are opt-in
# (`--providers ...,spotify`) for deployments that still have access and chose to use them.
# `musicnn` (the learned audio representation) costs about a core-second per preview, so it is added by
# a deployment that has the cores: CONTEXTIFY_PROVIDERS=deezer,preview,reccobeats,musicnn.
BUILTIN_DEFAULT_PROVIDERS = ("deezer", "preview", "reccobeats")
# Providers that need no outside service once the audio is at hand (`flask analyse-audio`).
OFFLINE_PROVIDERS = ("preview", "musicnn")


def _default_providers(value: str | None) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))
    unknown = [name for name in names if name not in PROVIDER_CLASSES]
    if unknown:
        raise ValueError(f"CONTEXTIFY_PROVIDERS names unknown feature provider(s): {', '.join(unknown)}; "
                         f"known: {', '.join(PROVIDER_CLASSES)}")
    return names or BUILTIN_DEFAULT_PROVIDERS


# Read from the environment once, like the rest of config.py's variables (see config.VARIABLES).
DEFAULT_PROVIDERS = _default_providers(os.environ.get("CONTEXTIFY_PROVIDERS"))


def with_opt_ins(names: tuple[str, ...] | list[str], reccobeats_audio: bool) -> tuple[str, ...]:
    """The run's providers: when opted in, uploading previews to ReccoBeats rides along with `preview`."""
    names = tuple(dict.fromkeys(names))
    if reccobeats_audio and "preview" in names and ReccoBeatsAudioProvider.name not in names:
        names += (ReccoBeatsAudioProvider.name,)
    return names


__all__ = ["DEFAULT_PROVIDERS", "OFFLINE_PROVIDERS", "PROVIDER_CLASSES", "FeatureProvider", "FeatureResult",
           "ProviderUnavailable", "RunClients", "TrackRef", "with_opt_ins"]
