"""Saving and loading model artifacts: a readable header, then the joblib payload.

The file starts with a magic line and a JSON metadata line, so a foreign or incompatible file is
refused before anything in it is unpickled. Unpickling runs code: load only artifacts you made.
"""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

import joblib

from app.models.model import ContextModel

MAGIC = b"CONTEXTIFY-MODEL\n"
#: Bumped whenever ContextModel or the header changes shape (2: cutoffs carry ``top_only``, so a
#: version-1 model would sort by the old rule; 3: calibrated probabilities, a background class and a
#: library mix).
FORMAT_VERSION = 3
#: Libraries whose pickles are only trusted within one major.minor version.
LIBRARIES = ("scikit-learn", "numpy", "pandas", "joblib")


class ArtifactError(Exception):
    """The file is not a model artifact this code can load; the message says what differs."""


def library_versions() -> dict[str, str]:
    """Versions of Python and of :data:`LIBRARIES` in this environment."""
    return {"python": platform.python_version(), **{name: version(name) for name in LIBRARIES}}


def _major_minor(text: str) -> str:
    return ".".join(text.split(".")[:2])


def save_model(model: ContextModel, path: str | Path, metadata: dict | None = None) -> dict:
    """Write ``model`` with its metadata to ``path``.

    Parameters
    ----------
    model : ContextModel
    path : str or Path
    metadata : dict, optional
        JSON-serialisable extras: metrics, providers (where the features came from), CSV columns.

    Returns
    -------
    dict
        The header written (format version, libraries, contexts, features, cutoffs, extras).
    """
    header = {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "libraries": library_versions(),
        "contexts": model.contexts,
        "features": model.spec.to_dict(),
        "id_col": model.id_col,
        "cutoffs": {c: choice.to_dict() for c, choice in model.cutoffs.items()},
        **(metadata or {}),
    }
    with open(path, "wb") as handle:
        handle.write(MAGIC)
        handle.write(json.dumps(header).encode() + b"\n")
        joblib.dump(model, handle)
    return header


def save_payload(payload: Any, path: str | Path) -> Path:
    """Write another mode's fitted payload (a dict of its pipeline, columns and versions) as a plain joblib file,
    making its folder; a file left half-written by a failure is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        joblib.dump(payload, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def read_header(path: str | Path) -> dict:
    """The metadata of an artifact, without loading the model.

    Raises
    ------
    ArtifactError
        When the file is not a contextify model artifact.
    """
    with open(path, "rb") as handle:
        if handle.read(len(MAGIC)) != MAGIC:
            raise ArtifactError(f"{path} is not a contextify model artifact")
        try:
            return json.loads(handle.readline())
        except ValueError as error:
            raise ArtifactError(f"{path} has a damaged header: {error}") from None


def check_compatible(header: dict) -> None:
    """Refuse an artifact of another format version or another library major.minor version.

    Raises
    ------
    ArtifactError
        Naming every difference, e.g. "scikit-learn 1.8 (artifact) vs 1.9 (here)".
    """
    differences = []
    if header.get("format_version") != FORMAT_VERSION:
        differences.append(
            f"format version {header.get('format_version')} (artifact) vs {FORMAT_VERSION} (here)")
    here = library_versions()
    saved = header.get("libraries", {})
    for name, current in here.items():
        old = saved.get(name)
        if old is None or _major_minor(old) != _major_minor(current):
            differences.append(f"{name} {old and _major_minor(old)} (artifact) vs "
                               f"{_major_minor(current)} (here)")
    if differences:
        raise ArtifactError("incompatible model artifact: " + "; ".join(differences)
                            + ". Retrain it with `flask train`.")


def load_model(path: str | Path) -> tuple[ContextModel, dict]:
    """Load an artifact written by :func:`save_model`, after checking it is compatible.

    Returns
    -------
    model : ContextModel
    header : dict

    Raises
    ------
    ArtifactError
        Not an artifact, or an incompatible one (see :func:`check_compatible`).
    """
    header = read_header(path)
    check_compatible(header)
    with open(path, "rb") as handle:
        handle.read(len(MAGIC))
        handle.readline()
        model = joblib.load(handle)
    if not isinstance(model, ContextModel):
        raise ArtifactError(f"{path} does not hold a context model")
    return model, header
