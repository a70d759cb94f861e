"""The preview descriptors on real recordings: tempo and key agreement between a clip's halves, and genre accuracy."""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

HALF_S = 15.0
TEMPO_TOLERANCE = 0.04   # two tempi "agree" within 4%
FOLDS = 5


def measure_clip(path: str, whole: bool = True) -> dict | None:
    """Descriptors of the whole clip (unless `whole` is false) and tempo/key of each 15-s half (in a worker process)."""
    from app.pipeline.audio_features import analyse_audio, decode_audio

    try:
        y, sr = decode_audio(Path(path).read_bytes())
    except Exception:  # noqa: BLE001  (an unreadable file is left out and counted by the caller)
        return None
    half = int(HALF_S * sr)
    first, second = analyse_audio(y[:half], sr), analyse_audio(y[half:2 * half], sr)
    return {"whole": analyse_audio(y, sr) if whole else None,
            "halves": [{k: f[k] for k in ("tempo", "key", "mode")} for f in (first, second)]}


def _halves_only(path: str) -> dict | None:
    return measure_clip(path, whole=False)


def whole_from_analysis(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    """The whole-clip descriptors per file from `flask analyse-audio`'s output (its `preview_*` columns, `key`,
    `mode`): the preview provider's analysis of the whole file, which is what `measure_clip` computes."""
    columns = {c: c.removeprefix("preview_") for c in frame.columns if c.startswith("preview_")}
    columns.update({c: c for c in ("key", "mode") if c in frame.columns})
    rows = frame.set_index("file")[list(columns)].rename(columns=columns)
    return {name: {k: float(v) for k, v in values.items()} for name, values in rows.iterrows()}


def tempo_relation(a: float, b: float) -> str:
    """'agree' within 4%, 'octave' when one is about twice (or three times) the other, else 'other'."""
    if a <= 0 or b <= 0:
        return "other"
    ratio = max(a, b) / min(a, b)
    if abs(ratio - 1) <= TEMPO_TOLERANCE:
        return "agree"
    if any(abs(ratio / m - 1) <= TEMPO_TOLERANCE for m in (2.0, 3.0, 1.5)):
        return "octave"
    return "other"


def measure(audio_dir: str | Path, workers: int | None = None, features_csv: str | None = None,
            analysed: pd.DataFrame | None = None) -> dict:
    """Half-agreement of tempo and key, and artist-grouped 5-fold genre accuracy (scaler + logistic regression).

    `analysed`: the folder's `flask analyse-audio` output with the preview provider, whose whole-clip descriptors
    are used instead of analysing every whole clip again (the halves are still analysed here).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    audio_dir = Path(audio_dir)
    meta = pd.read_csv(audio_dir / "metadata.csv")
    paths = [str(audio_dir / f) for f in meta["file"]]
    whole = whole_from_analysis(analysed) if analysed is not None else None
    with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
        measured = list(pool.map(measure_clip if whole is None else _halves_only, paths, chunksize=4))
    if whole is not None:
        measured = [None if m is None or name not in whole else {**m, "whole": whole[name]}
                    for name, m in zip(meta["file"], measured)]
    keep = [i for i, m in enumerate(measured) if m is not None]
    meta, measured = meta.iloc[keep].reset_index(drop=True), [measured[i] for i in keep]

    relations = [tempo_relation(m["halves"][0]["tempo"], m["halves"][1]["tempo"]) for m in measured]
    key_same = [m["halves"][0]["key"] == m["halves"][1]["key"] for m in measured]
    key_mode_same = [k and m["halves"][0]["mode"] == m["halves"][1]["mode"] for k, m in zip(key_same, measured)]

    features = pd.DataFrame([m["whole"] for m in measured]).fillna(0.0)
    if features_csv:
        pd.concat([meta[["file", "artist", "genre"]], features], axis=1).to_csv(features_csv, index=False)
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    # Folds hold whole artists: clips of one artist share a sound and would flatter an ungrouped score.
    predicted = cross_val_predict(model, features.to_numpy(), meta["genre"].to_numpy(),
                                  groups=meta["artist"].to_numpy(), cv=GroupKFold(FOLDS))
    return {
        "clips": len(measured),
        "descriptors": features.shape[1],
        "tempo_halves_agree": float(np.mean([r == "agree" for r in relations])),
        "tempo_halves_octave": float(np.mean([r == "octave" for r in relations])),
        "key_halves_agree": float(np.mean(key_same)),
        "key_mode_halves_agree": float(np.mean(key_mode_same)),
        "genre_accuracy": float(np.mean(predicted == meta["genre"].to_numpy())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("audio_dir", nargs="?", default="../shared/data/audio/emotify_dev")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--features-csv", help="also write the whole-clip descriptors here")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.audio_dir, args.workers, args.features_csv), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
