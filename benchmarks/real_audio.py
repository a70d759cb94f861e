"""Area 7: the audio providers on real recordings (emotify_dev): clips/s and peak memory, genre and mood from each."""

from __future__ import annotations

import multiprocessing
import os
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.common import ROOT, Table

EMOTIFY = ROOT.parent / "shared" / "data" / "audio" / "emotify_dev"
# The audio README's coarse mood: the argmax of three factor means of the GEMS vote shares.
MOOD_FACTORS = {"calm": ["amazement", "solemnity", "tenderness", "nostalgia", "calmness"],
                "energetic": ["power", "joyful_activation"], "tense_sad": ["tension", "sadness"]}
# "musicnn tags" alone is a reference row: the provider's whole output (tags + embedding) is what the targets judge.
FEATURE_SETS = {"descriptors (preview)": ("preview_",), "musicnn tags + embedding": ("musicnn_",),
                "musicnn tags": ("musicnn_tag_",), "combined": ("preview_", "musicnn_")}
TARGET_SPEED = 4.0
TARGETS = {"genre_accuracy": 0.70, "mood_auc": 0.74, "genre_gain": 0.15}


def with_mood(frame: pd.DataFrame) -> pd.DataFrame:
    means = pd.DataFrame({mood: frame[cols].mean(axis=1) for mood, cols in MOOD_FACTORS.items()})
    return frame.copy().assign(mood=means.idxmax(axis=1))


def feature_columns(frame: pd.DataFrame, prefixes: tuple[str, ...]) -> list[str]:
    return [c for c in frame.columns if c.startswith(prefixes)]


def evaluate(frame: pd.DataFrame, prefixes: tuple[str, ...], folds: int = 5,
             labels: tuple[str, ...] = ("genre", "mood"), baseline: bool = True) -> dict[str, float]:
    """Artist-grouped genre accuracy and mood macro ROC-AUC through `flask train --from-csv` + `flask sort`
    (argmax of the p_ columns), beside scaler + multinomial logistic regression on the same folds.

    `labels` and `baseline` name what to compute (each fold of a label is a training through the CLI): a caller
    that reads fewer scores asks for fewer, and the result has only those keys.
    """
    frame = with_mood(frame).reset_index(drop=True)
    columns = feature_columns(frame, prefixes)
    splits = list(GroupKFold(n_splits=folds).split(frame, groups=frame["artist"]))
    scores: dict[str, float] = {}
    for label in labels:
        truth, product, plain = [], [], []
        for train_rows, test_rows in splits:
            train, test = frame.iloc[train_rows], frame.iloc[test_rows]
            product.append(_through_the_cli(train, test, columns, label))
            if baseline:
                model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=0.1))
                model.fit(train[columns].to_numpy(), train[label])
                plain.append(pd.DataFrame(model.predict_proba(test[columns].to_numpy()), columns=model.classes_))
            truth.append(test[label].to_numpy())
        score = _accuracy if label == "genre" else _macro_auc
        name = "genre_accuracy" if label == "genre" else f"{label}_auc"
        scores[name] = score(np.concatenate(truth), pd.concat(product, ignore_index=True))
        if baseline:
            scores[f"{name}_lr"] = score(np.concatenate(truth), pd.concat(plain, ignore_index=True))
    return {**scores, "features": len(columns), "clips": len(frame)}


def _through_the_cli(train: pd.DataFrame, test: pd.DataFrame, columns: list[str], label: str) -> pd.DataFrame:
    from app.commands.context_model import sort_command, train_command

    runner = CliRunner()
    with tempfile.TemporaryDirectory() as tmp:
        train[["file", label, "artist", *columns]].to_csv(f"{tmp}/train.csv", index=False)
        test[["file", *columns]].to_csv(f"{tmp}/test.csv", index=False)
        trained = runner.invoke(train_command, [
            "--from-csv", f"{tmp}/train.csv", "--label", label, "--id-col", "file", "--group-col", "artist",
            "--min-tracks", "5", "--folds", "3", "--out", f"{tmp}/model.joblib"], catch_exceptions=False)
        if trained.exit_code:
            raise RuntimeError(f"flask train failed: {trained.output}")
        sorted_ = runner.invoke(sort_command, ["--model", f"{tmp}/model.joblib", "--from-csv", f"{tmp}/test.csv",
                                               "--out", f"{tmp}/sorted.csv"], catch_exceptions=False)
        if sorted_.exit_code:
            raise RuntimeError(f"flask sort failed: {sorted_.output}")
        table = pd.read_csv(f"{tmp}/sorted.csv").set_index("file").loc[test["file"]]
    probabilities = table[[c for c in table.columns if c.startswith("p_")]]
    return probabilities.rename(columns=lambda c: c[2:]).reset_index(drop=True)


def _accuracy(truth: np.ndarray, p: pd.DataFrame) -> float:
    return float(np.mean(p.idxmax(axis=1).to_numpy() == truth))


def _macro_auc(truth: np.ndarray, p: pd.DataFrame) -> float:
    """One-vs-rest ROC-AUC of each class's probability column, averaged over the classes."""
    return float(np.mean([roc_auc_score(truth == c, p[c]) for c in p.columns if 0 < np.sum(truth == c) < len(truth)]))


def _analyse_one(args: tuple[str, str]) -> tuple[int, float]:
    """In a worker: one provider's analysis of one file; (the worker's peak resident KiB, CPU seconds it took)."""
    from app.pipeline.audio_folder import analyse_file

    path, provider = args
    cpu = time.process_time()
    outcome = analyse_file(path, (provider,))[provider]
    if isinstance(outcome, str):
        raise RuntimeError(f"{path}: {outcome}")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.process_time() - cpu


def speed(files: list[Path], provider: str, workers: int) -> tuple[float, float, float]:
    """(clips/s over `workers` processes, started and warmed up first; CPU seconds per clip; peak MiB of one worker).

    CPU seconds are what a clip costs whatever else runs on the machine; clips/s (wall clock) is what
    this machine gave at the time, lower when other processes share the cores.
    """
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        list(pool.map(_analyse_one, [(str(files[0]), provider)] * workers))  # start-up and weights, once
        started = time.perf_counter()
        outcomes = list(pool.map(_analyse_one, [(str(f), provider) for f in files]))
        seconds = time.perf_counter() - started
    return len(files) / seconds, sum(cpu for _, cpu in outcomes) / len(files), max(p for p, _ in outcomes) / 1024


def real_audio(checks: list[list], clips_for_speed: int = 24, quality: bool = True,
               workers: int | None = None) -> list[Table]:
    """Speed and memory per audio provider, then (with `quality`) genre / mood per feature set, on emotify_dev.

    `workers`: the speed pools' size, one per core by default; fewer where the figures only show the harness works
    (every worker loads the providers before its first clip counts).
    """
    metadata = EMOTIFY / "metadata.csv"
    if not metadata.is_file():
        return [Table("Real audio: skipped", f"{EMOTIFY} is absent; this area needs the emotify_dev clips.", ["-"])]
    from app.pipeline.audio_folder import analyse_folder
    from app.pipeline.musicnn_net import WeightsMissing, weights_prefix

    try:
        weights_prefix()
    except WeightsMissing as exc:
        return [Table("Real audio: skipped", f"{exc}.", ["-"])]

    cores = workers or os.cpu_count() or 1
    files = sorted(EMOTIFY.rglob("*.mp3"))
    step = max(len(files) // clips_for_speed, 1)
    sample = files[::step][:clips_for_speed]
    speed_table = Table(
        f"Audio providers on real 30-s MP3s: {len(sample)} emotify_dev clips",
        "Each provider's analysis (decode, resample, features) alone in a warmed process pool of "
        + ("one worker per core" if workers is None else f"{cores} worker{'s' if cores != 1 else ''}")
        + f". Target for musicnn: at least {TARGET_SPEED:.0f} clips/s on 2 cores (measured, not asserted "
        "by a test). CPU seconds per clip are summed in the workers (what a clip costs however busy the machine); "
        "\"clips/s the CPU time allows\" is cores / that, the rate of an otherwise idle machine. Peak memory is "
        "the largest resident size of one worker. Load average when it started: "
        + _load_words(),
        ["provider", "cores", "clips/s, all cores (wall)", "CPU seconds per clip", "clips/s the CPU time allows",
         "peak memory per worker MiB"])
    for provider in ("preview", "musicnn"):
        rate, cpu, peak = speed(sample, provider, cores)
        speed_table.rows.append([provider, cores, rate, cpu, cores / cpu, peak])
        if provider == "musicnn":
            checks.append([f"musicnn >= {TARGET_SPEED:.0f} clips/s on {cores} cores (real 30-s clips)",
                           f"{rate:.1f} clips/s", rate >= TARGET_SPEED])
    if not quality:
        return [speed_table]
    started = time.perf_counter()
    frame, problems = analyse_folder(EMOTIFY, ("preview", "musicnn"))
    analysed_s = time.perf_counter() - started
    frame = frame.merge(pd.read_csv(metadata), on="file")
    quality = Table(
        f"Genre and mood from real audio: {len(frame)} emotify_dev clips, artist-grouped 5-fold",
        f"Features from `flask analyse-audio` ({analysed_s:.0f} s for every clip with both providers, "
        f"{len(problems)} problems); each fold through `flask train --from-csv --group-col artist` and `flask sort` "
        "(argmax of the p_ columns), beside scaler + multinomial logistic regression on the same folds. Genre: "
        "4 classes; mood: argmax of the three GEMS factor means (calm, energetic, tense_sad), macro one-vs-rest "
        "ROC-AUC.",
        ["features", "columns", "genre accuracy", "mood macro AUC", "baseline LR genre accuracy",
         "baseline LR mood AUC"])
    scores = {name: evaluate(frame, prefixes) for name, prefixes in FEATURE_SETS.items()}
    for name, s in scores.items():
        quality.rows.append([name, s["features"], s["genre_accuracy"], s["mood_auc"], s["genre_accuracy_lr"],
                             s["mood_auc_lr"]])
    learned, descriptors = scores["musicnn tags + embedding"], scores["descriptors (preview)"]
    checks.append([f"musicnn genre accuracy >= {TARGETS['genre_accuracy']:.2f} (emotify_dev, artist-grouped)",
                   f"{learned['genre_accuracy']:.3f}", learned["genre_accuracy"] >= TARGETS["genre_accuracy"]])
    checks.append([f"musicnn mood macro AUC >= {TARGETS['mood_auc']:.2f}", f"{learned['mood_auc']:.3f}",
                   learned["mood_auc"] >= TARGETS["mood_auc"]])
    gain = learned["genre_accuracy"] - descriptors["genre_accuracy"]
    checks.append(["musicnn genre accuracy >= descriptors + 0.15", f"+{gain:.3f}", gain >= TARGETS["genre_gain"]])
    return [speed_table, quality]


def _load_words() -> str:
    """The load average at the start, and whether other processes shared the cores."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    shared = "above the core count, other processes shared the cores" if load > cores else "the cores were free"
    return f"{load:.1f} ({shared})."
