"""Feature providers behind one protocol (`base.FeatureProvider`), one module each: deezer, preview, musicnn, reccobeats, reccobeats_audio (opt-in), spotify."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from app.pipeline.providers.base import BUILTIN_DEFAULT_PROVIDERS, FeatureProvider, FeatureResult, ProviderUnavailable, TrackRef
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

# Providers that need no outside service once the audio is at hand (`flask analyse-audio`).
OFFLINE_PROVIDERS = ("preview", "musicnn")


def provider_names(value: str | None, known: Iterable[str] = PROVIDER_CLASSES) -> tuple[tuple[str, ...], list[str]]:
    """A comma list of provider names as given (each once, in order), and those of them not in `known`."""
    names = tuple(dict.fromkeys(part.strip() for part in (value or "").split(",") if part.strip()))
    known = set(known)
    return names, [name for name in names if name not in known]


def default_providers(value: str | None, reccobeats_audio: bool = False) -> tuple[str, ...]:
    """The providers a run uses when it names none (config's CONTEXTIFY_PROVIDERS), from the variable's value.

    Unset: deezer, preview, reccobeats, and musicnn wherever its weights are installed (it needs nothing
    else: the preview download is shared). With the ReccoBeats upload opt-in, `reccobeats_audio` rides
    along with `preview`. Unknown names are a ValueError naming them.
    """
    from app.pipeline.musicnn_net import WeightsMissing, weights_prefix

    names, unknown = provider_names(value)
    if unknown:
        raise ValueError(f"CONTEXTIFY_PROVIDERS names unknown feature provider(s): {', '.join(unknown)}; "
                         f"known: {', '.join(PROVIDER_CLASSES)}")
    if not names:
        try:
            weights_prefix()
            names = BUILTIN_DEFAULT_PROVIDERS + (MusicnnProvider.name,)
        except WeightsMissing:
            names = BUILTIN_DEFAULT_PROVIDERS
    return with_opt_ins(names, reccobeats_audio)


def configured_providers(config: Mapping[str, Any]) -> tuple[str, ...]:
    """The run's default providers as config.py resolved them (a bare mapping without them: the built-in set)."""
    return tuple(config.get("CONTEXTIFY_PROVIDERS") or BUILTIN_DEFAULT_PROVIDERS)


def with_opt_ins(names: tuple[str, ...] | list[str], reccobeats_audio: bool) -> tuple[str, ...]:
    """The run's providers: when opted in, uploading previews to ReccoBeats rides along with `preview`."""
    names = tuple(dict.fromkeys(names))
    if reccobeats_audio and "preview" in names and ReccoBeatsAudioProvider.name not in names:
        names += (ReccoBeatsAudioProvider.name,)
    return names


__all__ = ["BUILTIN_DEFAULT_PROVIDERS", "OFFLINE_PROVIDERS", "PROVIDER_CLASSES", "FeatureProvider", "FeatureResult",
           "ProviderUnavailable", "RunClients", "TrackRef", "configured_providers", "default_providers",
           "provider_names", "with_opt_ins"]
