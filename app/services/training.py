"""The Model page's plain functions: training params, the user's models, and the training report as rows and frames."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from flask import current_app
from sqlalchemy.orm import Session

from app.analysis.cache import TTLCache
from app.storage.tables import TrainedModel
from app.storage.ownership import get_owned, owned

if TYPE_CHECKING:
    from app.models.model import ContextModel

# The model layer (app.models) loads scikit-learn and SciPy, about 1.5 CPU-s: it is imported in the functions that
# use it, so the web app (which imports every page, and so this module) starts without it.

KIND = "train"
TARGET_RANGE = (0.5, 0.99)
CACHE = "contextify.model_cache"


class TrainSettingsError(ValueError):
    """Training settings the page refuses; plain words."""


# The Model page's opt-in checkbox value: playlists also for contexts that cannot keep the target.
BEST_EFFORT = "best-effort"


def train_params(contexts: Sequence[str] | None, target: Any,
                 best_effort: Sequence[str] | None = None) -> dict[str, Any]:
    """The `train` job's params; refuses fewer than two contexts or a target outside 0.5–0.99."""
    chosen = [str(name) for name in contexts or []]
    if len(chosen) < 2:
        raise TrainSettingsError("Choose at least two contexts: a model learns what tells them apart.")
    low, high = TARGET_RANGE
    try:
        value = float(target)
    except (TypeError, ValueError):
        value = -1.0
    if not low <= value <= high:
        raise TrainSettingsError(f"The target precision must be a number from {low} to {high}.")
    return {"contexts": chosen, "target_precision": value, "best_effort": BEST_EFFORT in (best_effort or [])}


def user_models(session: Session, user_id: int) -> list[TrainedModel]:
    """The user's context models, newest first."""
    return list(session.scalars(owned(TrainedModel, user_id).where(TrainedModel.kind == "context")
                                .order_by(TrainedModel.id.desc())))


def model_label(row: TrainedModel) -> str:
    return f"#{row.id} · {row.name} · {row.created_at:%d %b %Y, %H:%M}"


def owned_model(session: Session, user_id: int, model_id: Any) -> TrainedModel | None:
    """The user's model with this id, or None (another user's, a deleted one, or nonsense from the browser)."""
    try:
        row = get_owned(session, TrainedModel, user_id, int(model_id))
    except (TypeError, ValueError):
        return None
    return row if row is not None and row.kind == "context" and row.metrics else None


def default_target() -> float:
    from app.models.cutoffs import DEFAULT_TARGET_PRECISION

    return DEFAULT_TARGET_PRECISION


def grid_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every grid-search candidate with its score, best first."""
    best = metrics["grid"].get("best") or {}
    rows = []
    for candidate in sorted(metrics["grid"].get("candidates") or [], key=lambda c: -(c.get("score") or 0)):
        params = {k: v for k, v in candidate.items() if k not in ("score", "score_std")}
        rows.append({"params": ", ".join(f"{k} = {v}" for k, v in params.items()),
                     "score": f"{candidate['score']:.3f} ± {candidate.get('score_std') or 0:.3f}",
                     "best": "best" if params == best else ""})
    return rows


def _estimated_share(metrics: Mapping[str, Any]) -> str:
    """The estimated share, "± error" where it is a range, or "can't tell" where the tracks' sound leaves it open."""
    from app.models.calibration import SHARE_RANGE_LIMIT, SHARE_SE_LIMIT  # the model layer loads with a model only

    error = metrics.get("share_se")
    if error is None or error <= SHARE_SE_LIMIT:
        return _share(metrics.get("estimated_share"))
    if error <= SHARE_RANGE_LIMIT:
        return f"{_share(metrics.get('estimated_share'))} ± {_share(1.96 * error)}"
    return "can't tell"


def holdout_rows(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per context: realised versus promised precision on playlists the model never saw, and the context's
    share of those tracks as estimated (as it would be of a library) beside the true share."""
    return [{"context": context, "tracks": f"{m['test_tracks']:,}", "assigned": f"{m['assigned']:,}",
             "share": f"{_estimated_share(m)} ({_share(m.get('true_share'))})",
             "precision": _share(m["precision"]), "promised": _share(m["promised_precision"]),
             "recall": _share(m["recall"]),
             "kept": "yes" if m["precision"] is not None and m["promised_precision"] is not None
             and m["precision"] >= m["promised_precision"] else ("–" if m["precision"] is None else "no")}
            for context, m in (metrics["test"].get("contexts") or {}).items()]


def holdout_sentence(metrics: Mapping[str, Any]) -> str:
    test = metrics["test"]
    if not test.get("tracks"):
        return "No playlists were held out, so there is no test on unseen playlists."
    return (f"{test['tracks']:,} tracks from held-out playlists: {_share(test['coverage'])} of them were placed "
            f"somewhere, and {_share(test['precision'])} of the placements were right.")


def promise_lines(metrics: Mapping[str, Any]) -> list[str]:
    """Per context what training can promise, in words: its cutoff, or "no playlist because ..."."""
    return [section.get("message", "") for section in (metrics.get("contexts") or {}).values()
            if section.get("message")]


def grouping_sentence(metrics: Mapping[str, Any]) -> str:
    data = metrics.get("data") or {}
    words = data.get("grouping") or ""
    background = data.get("background_tracks")
    extra = (f" {background:,} tracks in none of these contexts taught it what the rest of a library sounds "
             "like." if background else " No song in none of these contexts was analysed yet, so it promises no "
             "precision on a library: the harvest adds songs of every kind from Deezer's charts; wait until they are "
             "analysed, or harvest again.")
    return (words[0].upper() + words[1:] + "." if words else "") + extra


def reliability_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    """The out-of-fold reliability curve: mean predicted probability against the observed share, per bin."""
    bins = ((metrics.get("data") or {}).get("reliability") or {}).get("bins") or []
    return pd.DataFrame(bins, columns=["low", "high", "predicted", "observed", "pairs"])


def reliability_sentence(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "This model was trained before probabilities were calibrated; retrain it to see how far they hold."
    big = frame[frame["pairs"] >= 30]
    gap = (big["predicted"] - big["observed"]).abs().max() if len(big) else float("nan")
    return (f"On playlists each fold never saw, a probability read as p came true about p of the time: the largest "
            f"gap between a bin's mean probability and its observed share is {gap:.0%}.")


def co_assignment_frame(metrics: Mapping[str, Any]) -> pd.DataFrame:
    co = metrics.get("co_assignment") or {}
    contexts = co.get("contexts") or []
    return pd.DataFrame(co.get("counts") or [], index=contexts, columns=contexts)


def co_assignment_sentence(frame: pd.DataFrame) -> str:
    if len(frame) < 2:
        return ""
    pairs = [(frame.iloc[i, j], frame.index[i], frame.columns[j])
             for i in range(len(frame)) for j in range(i + 1, len(frame))]
    n, a, b = max(pairs)
    return (f"Out of fold, {a} and {b} share the most tracks ({n:,}); a track may sit in both playlists. "
            "The diagonal is each context's own count.")


def feature_sentences(metrics: Mapping[str, Any]) -> dict[str, tuple[str, str]]:
    """Per context: what speaks for it and what against it, in words ("high deezer bpm, Dance genre")."""
    words = {}
    for context, section in metrics["contexts"].items():
        coefficients = section.get("coefficients") or {}
        words[context] = (", ".join(c["feature"] for c in coefficients.get("for") or []) or "nothing stands out",
                          ", ".join(c["feature"] for c in coefficients.get("against") or []) or "nothing stands out")
    return words


def curve_frame(metrics: Mapping[str, Any], context: str) -> pd.DataFrame:
    return pd.DataFrame(metrics["contexts"].get(context, {}).get("curve") or [],
                        columns=["cutoff", "precision", "recall", "f1", "assigned"])


def retarget(session: Session, user_id: int, model_id: int, context: str, target: float) -> dict[str, Any]:
    """The cutoff `context` gets at another target precision, chosen from the stored out-of-fold scores.

    No retraining: the model keeps them. Raises ReviewError for a model that is not the user's.
    """
    from app.models.service import ReviewError

    model = loaded_model(session, user_id, model_id)
    if context not in model.contexts:
        raise ReviewError(f"'{context}' is not one of this model's contexts")
    return model.retarget(context_targets={context: target}).cutoffs[context].to_dict()


def loaded_model(session: Session, user_id: int, model_id: int) -> ContextModel:
    from app.models.service import load_owned_model

    # Loading an artifact costs a file read and unpickling; a slider moves many times.
    cache: TTLCache[ContextModel] = current_app.extensions.setdefault(CACHE, TTLCache(maxsize=16, ttl_s=300))
    return cache.get(("model", user_id, model_id), lambda: load_owned_model(session, user_id, model_id)[1])


def cutoff_sentence(choice: Mapping[str, Any]) -> str:
    from app.models.cutoffs import NO_BACKGROUND  # the callback has loaded the model layer already

    if choice.get("cutoff") is None and NO_BACKGROUND in (choice.get("message") or ""):
        # No target would fill it: the model has nothing to weigh a library's other songs by.
        return f"No cutoff may promise a precision for {choice['context']} yet: the model {NO_BACKGROUND}."
    if choice.get("cutoff") is None:
        return (f"No cutoff keeps a precision of {choice['target_precision']:.2f} for {choice['context']}: "
                "at this target, the playlist stays empty. Lower the target to fill it.")
    return (f"At a target of {choice['target_precision']:.2f}, {choice['context']} takes tracks with a probability "
            f"of at least {choice['cutoff']:.2f}: out of fold that keeps {_share(choice['recall'])} of its tracks at "
            f"a precision of {_share(choice['expected_precision'])}, promised at least "
            f"{_share(choice['promised_precision'])}.")


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"
