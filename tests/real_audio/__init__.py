"""Where the real recordings live for tests (../shared/data/audio/emotify_dev beside the project), and the skip when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

EMOTIFY_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "audio" / "emotify_dev"


def emotify_dir() -> Path:
    """The emotify_dev folder, or a clean skip where it is absent (CI has it)."""
    if not (EMOTIFY_DIR / "metadata.csv").is_file():
        pytest.skip(f"real recordings absent: {EMOTIFY_DIR}")
    return EMOTIFY_DIR
