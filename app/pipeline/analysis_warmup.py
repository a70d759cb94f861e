"""Imported once by the analysis pools' forkserver: the libraries and caches every worker would load on its first clip."""

from __future__ import annotations

import numpy as np

from app.pipeline import audio_features, musicnn_net


def warm_up() -> None:
    """Analyse three seconds of quiet noise at an MP3's usual rate with both analysers.

    A worker's first clip otherwise pays for librosa's lazily loaded modules, numba's compiled functions and the
    filter banks (about 0.9 CPU-s), and musicnn's weights (about 1.5 CPU-s), every worker of every run; done here,
    the forked workers share them. Where the weights are not installed, only the descriptors are warmed.
    """
    sr = 44_100
    y = (np.random.default_rng(0).standard_normal(3 * sr) * 0.05).astype(np.float32)
    audio_features.analyse_audio(y, sr)
    try:
        musicnn_net.weights_prefix()
    except musicnn_net.WeightsMissing:
        return
    musicnn_net.analyse(y, sr)


try:
    warm_up()
except Exception:  # noqa: BLE001  (an optimisation only: a forkserver that fails here would take every pool down)
    pass
