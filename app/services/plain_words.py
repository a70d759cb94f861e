"""The words a listener's pages keep out of sight: machine-learning jargon, allowed only under "How this was measured"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

MEASURED_CLASS = "how-measured"
MEASURED_TITLE = "How this was measured"

# Each a word a listener should not need: ML metrics, model internals and audio-analysis feature names.
JARGON = ("ROC", "AUC", "F1", "macro-F1", "macro", "relu", "tanh", "MFCC", "timbre", "SD", "standard deviation",
          "logistic", "regression", "coefficient", "centroid", "embedding", "hidden layer", "t-SNE", "UMAP", "PCA",
          "VIF", "recall", "classifier", "hyperparameter", "cross-validation", "out-of-fold", "confusion matrix",
          "chroma", "spectral", "zero-crossing", "musicnn", "softmax", "epoch", "oversample", "grouped CV")
_PATTERN = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(re.escape(word) for word in
                                                       sorted(JARGON, key=len, reverse=True)) + r")(?![A-Za-z0-9])",
                      re.IGNORECASE)
# Short upper-case words are only jargon in capitals ("sd" or "roc" inside a name is not).
_CASED = {"SD", "ROC", "AUC", "PCA", "VIF", "F1"}


def jargon_in(text: str) -> list[str]:
    """The jargon words `text` uses, as written."""
    found = []
    for match in _PATTERN.finditer(text):
        word = match.group(1)
        if word.upper() in _CASED and word != word.upper():
            continue
        found.append(word)
    return found


def visible_text(node: Any) -> Iterator[str]:
    """The text a Dash component tree shows outside "How this was measured" (and outside figures and stores)."""
    if node is None or isinstance(node, bool | int | float):
        return
    if isinstance(node, str):
        yield node
        return
    if isinstance(node, list | tuple):
        for child in node:
            yield from visible_text(child)
        return
    if MEASURED_CLASS in (getattr(node, "className", None) or "").split():
        return
    for prop in ("children", "label", "title", "placeholder"):
        value = getattr(node, prop, None)
        if value is not None and prop != "children" and isinstance(value, str):
            yield value
    for prop in ("options",):
        for option in getattr(node, prop, None) or []:
            if isinstance(option, dict) and isinstance(option.get("label"), str):
                yield option["label"]
    for key in ("data", "columns"):
        rows = getattr(node, key, None) if type(node).__name__ == "DataTable" else None
        for row in rows or []:
            if isinstance(row, dict):
                yield " ".join(str(value) for value in row.values())
    yield from visible_text(getattr(node, "children", None))
