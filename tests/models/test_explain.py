"""Features, coefficients and assignments described in plain words."""

import numpy as np
import pytest

from app.models.explain import (
    FeatureRef, assignment_reasons, coefficient_words, feature_words, parse_feature_names,
)
from app.models.features import FeatureSpec


def test_output_names_map_back_to_features():
    spec = FeatureSpec(("energy",), ("time_signature", "key", "genre"))
    refs = parse_feature_names(
        ["num__energy", "num__missingindicator_energy", "cat__time_signature_4",
         "cat__key_infrequent_sklearn", "cat__genre_hip_hop"], spec)
    assert refs == [FeatureRef("numeric", "energy"), FeatureRef("missing", "energy"),
                    FeatureRef("category", "time_signature", "4"),
                    FeatureRef("category", "key", None), FeatureRef("category", "genre", "hip_hop")]


@pytest.mark.parametrize("ref, high, raw, words", [
    (FeatureRef("numeric", "energy"), True, None, "high energy"),
    (FeatureRef("numeric", "acousticness"), False, None, "not acoustic"),
    (FeatureRef("numeric", "tempo"), True, 128.2, "128 BPM"),
    (FeatureRef("numeric", "duration_ms"), True, 372000, "long (6:12)"),
    (FeatureRef("numeric", "bass_boost"), False, None, "low bass boost"),
    (FeatureRef("category", "genre", "dance"), True, None, "Dance genre"),
    (FeatureRef("category", "mode", "0"), True, None, "minor key"),
    (FeatureRef("category", "key", "1"), True, None, "key of C#"),
    (FeatureRef("category", "decade", "1990s"), False, None, "not from the 1990s"),
    (FeatureRef("category", "genre", None), True, None, "uncommon genre"),
    (FeatureRef("missing", "tempo"), True, None, "tempo unknown"),
    # Provider-prefixed columns of the feature table read as the feature, not as its column name.
    (FeatureRef("numeric", "preview_tempo"), True, 121.6, "122 BPM"),
    (FeatureRef("numeric", "deezer_bpm"), False, None, "slow tempo"),
    (FeatureRef("numeric", "deezer_gain"), True, -6.2, "loud (-6 dB)"),
    (FeatureRef("numeric", "deezer_duration_s"), False, 95, "short (1:35)"),
    (FeatureRef("numeric", "deezer_release_year"), True, 2019, "released 2019"),
    (FeatureRef("numeric", "preview_spectral_centroid"), False, None, "dark, warm sound"),
    (FeatureRef("numeric", "preview_onset_strength"), True, None, "strong, punchy beats"),
    (FeatureRef("numeric", "preview_mfcc5_mean"), True, None, "its sound colour"),
    (FeatureRef("numeric", "preview_mfcc7_std"), False, None, "steady sound colour"),
    (FeatureRef("numeric", "spotify_energy"), True, None, "high energy"),
    (FeatureRef("missing", "preview_rms_mean"), True, None, "no preview to analyse"),
    (FeatureRef("missing", "deezer_bpm"), True, None, "bpm unknown"),
])
def test_feature_words(ref, high, raw, words):
    assert feature_words(ref, high=high, raw=raw) == words


def test_strongest_coefficients_read_as_words():
    refs = [FeatureRef("numeric", "energy"), FeatureRef("numeric", "acousticness"),
            FeatureRef("category", "mode", "0"), FeatureRef("category", "genre", "dance")]
    words = coefficient_words(np.array([2.0, -1.5, -1.0, 0.5]), refs, top=2)
    assert words == {
        "for": [{"feature": "high energy", "weight": 2.0},
                {"feature": "not acoustic", "weight": -1.5}],
        "against": [{"feature": "minor key", "weight": -1.0}],
    }


def test_an_assignment_is_explained_by_what_pushed_it():
    refs = [FeatureRef("numeric", "energy"), FeatureRef("numeric", "tempo"),
            FeatureRef("category", "genre", "dance"), FeatureRef("missing", "energy"),
            FeatureRef("category", "mode", "0")]
    scaled = np.array([1.5, 1.0, 1.0, -0.2, 0.0])
    contributions = scaled * np.array([1.0, 0.8, 0.6, -3.0, 2.0])
    reasons = assignment_reasons(contributions, scaled, {"energy": 0.92, "tempo": 128.0}, refs)
    assert reasons == ["high energy", "128 BPM", "Dance genre"]
