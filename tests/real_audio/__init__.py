"""Where the real recordings live for tests (../shared/data/audio/emotify_dev beside the project), the skip when
absent, and their analysis made once per test run."""

from __future__ import annotations

from pathlib import Path

import pytest

EMOTIFY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "audio" / "emotify_dev"


def emotify_dir() -> Path:
    """The emotify_dev folder, or a clean skip where it is absent (CI has it)."""
    if not (EMOTIFY_DIR / "metadata.csv").is_file():
        pytest.skip(f"real recordings absent: {EMOTIFY_DIR}")
    return EMOTIFY_DIR


def analysed_once(shared: Path):
    """emotify_dev's clips through `flask analyse-audio` with musicnn and the descriptors (metadata joined), as a
    frame; skips where the recordings or musicnn's weights are absent.

    About 160 CPU-seconds, so one process of the run makes it and every other reads its CSV: `shared` is a folder
    all xdist workers see (the parent of their temporary folders), and a file lock keeps a second worker waiting
    for the first one's answer instead of analysing the same clips again.
    """
    import pandas as pd
    from click.testing import CliRunner
    from filelock import FileLock

    from app.commands.audio import analyse_audio_command
    from app.pipeline.musicnn_net import WeightsMissing, weights_prefix

    folder = emotify_dir()
    try:
        weights_prefix()
    except WeightsMissing as exc:
        pytest.skip(str(exc))
    out = shared / "emotify-features.csv"
    with FileLock(str(out) + ".lock"):
        if not out.is_file():
            partial = out.with_suffix(".partial.csv")
            result = CliRunner().invoke(analyse_audio_command, [str(folder), "--out", str(partial),
                                                                "--metadata", str(folder / "metadata.csv")])
            assert result.exit_code == 0, result.output
            partial.replace(out)  # only a finished analysis is ever read by another worker
    return pd.read_csv(out)
