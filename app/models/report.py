"""The evaluation report of a training run, as JSON-serialisable data."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from app.models.cutoffs import cutoff_curve
from app.models.dataset import ContextDataset
from app.models.model import ContextModel


@dataclass
class TrainingReport:
    """What a training run learned and how far its promises can be trusted.

    Attributes
    ----------
    data : dict
        Track and context counts, class sizes (tracks and playlists), messages, how splits group.
    grid : dict
        The searched grid, folds, scoring, best parameters and every candidate's score.
    contexts : dict
        Per context: the cutoff choice (cutoff, promised precision, message), the out-of-fold
        precision/recall/F1 curve at cutoffs 0.05 to 0.95, and the strongest coefficients in words.
    test : dict
        Held-out playlists: per context realised versus promised precision, recall, coverage.
    confusion : dict
        Out-of-fold: rows are true contexts, columns assigned contexts and "unsorted".
    co_assignment : dict
        Out-of-fold: how many tracks were assigned to both contexts.
    target_precision : float
    seconds : float
    """

    data: dict
    grid: dict
    contexts: dict
    test: dict
    confusion: dict
    co_assignment: dict
    target_precision: float
    seconds: float

    def to_dict(self) -> dict:
        """JSON-serialisable form (numpy scalars become Python numbers)."""
        return _plain(asdict(self))


def _plain(value):
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def holdout_metrics(model: ContextModel, test: ContextDataset) -> dict:
    """Realised precision and recall of the model's assignments on held-out tracks.

    The model is first adapted to the held-out tracks' own mix (:meth:`ContextModel.decide`), as
    a user's library is, so the promises checked are the ones a user would be shown.

    Returns
    -------
    dict
        ``tracks``, ``coverage`` (share of tracks assigned somewhere), ``precision`` over all
        assignments, and per context ``assigned``, ``correct``, ``precision`` (None when nothing was
        assigned), ``recall``, ``promised_precision``, ``reached`` and ``test_tracks``.
    """
    if not len(test):
        return {"tracks": 0, "coverage": None, "precision": None, "contexts": {}}
    adapted, _, assigned = model.decide(test.features)
    per_context = {}
    for j, context in enumerate(model.contexts):
        made = int(assigned[:, j].sum())
        correct = int((assigned[:, j] & test.labels[:, j]).sum())
        positives = int(test.labels[:, j].sum())
        choice = adapted.cutoffs[context]
        per_context[context] = {
            "test_tracks": positives, "assigned": made, "correct": correct,
            "precision": correct / made if made else None,
            "recall": correct / positives if positives else None,
            "promised_precision": choice.promised_precision, "reached": choice.reached,
            "best_effort": choice.best_effort, "cutoff": choice.cutoff,
            "estimated_share": float(adapted.prior[j]),
            "share_se": None if adapted.library_share_se is None else float(adapted.library_share_se[j]),
            "true_share": positives / len(test),
        }
    total = int(assigned.sum())
    return {
        "tracks": len(test),
        "coverage": float(assigned.any(axis=1).mean()),
        "precision": float((assigned & test.labels).sum() / total) if total else None,
        "contexts": per_context,
        "background_estimated": float(adapted.prior[-1]),
        "background_true": float((~test.labels.any(axis=1)).mean()),
    }


def confusion_tables(model: ContextModel) -> tuple[dict, dict]:
    """Out-of-fold confusion (true context x assigned context or unsorted) and co-assignment."""
    assigned = model.assign(model.oof_proba)
    truth = model.oof_truth
    unsorted = ~assigned.any(axis=1)
    counts = truth.T.astype(int) @ assigned.astype(int)
    confusion = {
        "rows": model.contexts, "columns": [*model.contexts, "unsorted"],
        "counts": np.column_stack([counts, truth[unsorted].sum(axis=0)]).tolist(),
    }
    co = assigned.T.astype(int) @ assigned.astype(int)
    return confusion, {"contexts": model.contexts, "counts": co.tolist()}


def context_sections(model: ContextModel, top: int = 5) -> dict:
    """Per context: cutoff choice, out-of-fold curve and strongest coefficients in words."""
    words = model.strongest_coefficients(top)
    return {
        context: {
            **model.cutoffs[context].to_dict(),
            "curve": cutoff_curve(model.oof_proba[:, j], model.oof_truth[:, j]),
            "coefficients": words[context],
        }
        for j, context in enumerate(model.contexts)
    }
