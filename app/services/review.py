"""The review's quick actions: keep/drop one song, move a cutoff, undo the last of them, each answered in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.services.selection import display_context, kept_clause, owned_run
from app.storage.tables import SortAssignment, SortRun, Track
from app.storage.ownership import get_owned, owned

# The model layer (app.models) loads scikit-learn and SciPy, about 1.5 CPU-s: each action imports what it uses, so the
# web app (whose Sort page imports this module) starts without it.
UNDO_DEPTH = 20
PAGE_SIZE = 25
_DECISION_OF = {"accept": "accepted", "reject": "rejected"}
_VERDICT_OF = {"accepted": "accept", "rejected": "reject", "pending": "pending"}
_WORDS = {"pending": "back to the model's choice", "accepted": "kept", "rejected": "left out"}


@dataclass(frozen=True)
class Answer:
    """What one action did: the sentence shown beside the row (and read out), and what undoing it needs."""

    message: str
    context: str | None = None
    assignment_id: int | None = None
    decision: str | None = None
    undo: dict[str, Any] | None = None
    kept: int | None = None   # after a keep or drop: how many songs its playlist keeps now


def run_of(session: Session, user_id: int, sort_run_id: Any) -> SortRun:
    """The user's sort by id (or the run itself when the caller has read it already: one read per action)."""
    from app.models.service import ReviewError

    if isinstance(sort_run_id, SortRun) and sort_run_id.user_id == user_id:
        return sort_run_id
    try:
        run = owned_run(session, user_id, None if sort_run_id is None else int(sort_run_id))
    except (TypeError, ValueError):
        run = None
    if run is None:
        raise ReviewError("there is no such sort among yours")
    return run


def keep_or_drop(session: Session, user_id: int, assignment_id: Any, verdict: str) -> Answer:
    """Keep or drop one song; giving the same answer again returns it to the model's choice.

    One indexed read and one row written: nothing is re-ranked, so the answer comes back at once.
    """
    from app.models.service import ReviewError, decide

    assignment = get_owned(session, SortAssignment, user_id, _int(assignment_id))
    if assignment is None or verdict not in _DECISION_OF:
        raise ReviewError("there is no such song among your sorts")
    before = assignment.decision
    wanted = "pending" if before == _DECISION_OF[verdict] else verdict
    decided = decide(session, user_id, assignment.id, wanted)
    return Answer(_verdict_words(session, decided), decided.context, decided.id, decided.decision,
                  {"kind": "verdict", "assignment": decided.id, "before": before},
                  kept_count(session, user_id, decided.sort_run_id, decided.context))


def move_cutoff(session: Session, user_id: int, sort_run_id: Any, context: str, value: Any,
                model: Any = None) -> Answer | None:
    """Set a playlist's cutoff; None when the value is where the cutoff already is (a slider only drawn again)."""
    from app.models.service import ReviewError, set_cutoff

    run = run_of(session, user_id, sort_run_id)
    value = _cutoff_value(value)
    current = (run.params["cutoffs"].get(context) or {})
    if context not in run.params["cutoffs"]:
        raise ReviewError("that playlist is not part of this sort")
    before = current.get("cutoff")
    if before is not None and abs(value - before) < 0.005:
        return None
    if before is None and value >= 1.0:
        return None  # a context without a cutoff draws its slider at 1: drawn again, not a hand-set cutoff
    choice = set_cutoff(session, user_id, run.id, context, cutoff=value, model=model)
    return Answer(cutoff_words(context, choice.cutoff, choice.promised_precision), context,
                  undo={"kind": "cutoff", "context": context, "before": before,
                        "target": current.get("target_precision")})


def undo(session: Session, user_id: int, sort_run_id: Any, action: Any, model: Any = None) -> Answer:
    """Put back what one earlier action changed: a song's earlier answer, or a playlist's earlier cutoff."""
    from app.models.service import ReviewError, decide, set_cutoff

    if not isinstance(action, dict):
        raise ReviewError("there is nothing to undo")
    if action.get("kind") == "verdict":
        before = action.get("before")
        if before not in _VERDICT_OF:
            raise ReviewError("there is nothing to undo")
        decided = decide(session, user_id, _int(action.get("assignment")), _VERDICT_OF[before])
        return Answer("Undone: " + _verdict_words(session, decided), decided.context, decided.id, decided.decision,
                      kept=kept_count(session, user_id, decided.sort_run_id, decided.context))
    if action.get("kind") == "cutoff":
        run = run_of(session, user_id, sort_run_id)
        context = action.get("context")
        if context not in run.params["cutoffs"]:
            raise ReviewError("there is nothing to undo")
        before = action.get("before")
        if before is None:
            # The playlist had no cutoff of its own: the model's choice for its promise comes back.
            target = action.get("target") or run.params["cutoffs"][context].get("target_precision")
            choice = set_cutoff(session, user_id, run.id, context, target_precision=_cutoff_value(target), model=model)
        else:
            choice = set_cutoff(session, user_id, run.id, context, cutoff=_cutoff_value(before), model=model)
        return Answer("Undone: " + cutoff_words(context, choice.cutoff, choice.promised_precision), context)
    raise ReviewError("there is nothing to undo")


def pushed(stack: Any, answer: Answer | None) -> list[dict[str, Any]]:
    """The undo stack with this answer's undo on top, the oldest dropped past UNDO_DEPTH."""
    items = [item for item in (stack or []) if isinstance(item, dict)][-UNDO_DEPTH:]
    if answer is not None and answer.undo is not None:
        items = [*items, answer.undo][-UNDO_DEPTH:]
    return items


def kept_count(session: Session, user_id: int, run_id: int, context: str) -> int:
    """How many songs the playlist keeps now (one indexed count, for the line above its songs)."""
    return session.scalar(owned(SortAssignment, user_id).where(
        SortAssignment.sort_run_id == run_id, SortAssignment.context == context, kept_clause())
        .with_only_columns(func.count())) or 0


def cutoff_words(context: str, cutoff: float | None, promised: float | None) -> str:
    name = display_context(context)
    if cutoff is None:
        return f"{name}: no song reaches this cutoff, so the playlist is empty."
    if promised is None:
        return f"{name}: cutoff {cutoff:.2f}."
    return f"{name}: cutoff {cutoff:.2f}; at least {promised:.0%} of its songs should fit."


def _verdict_words(session: Session, decided: SortAssignment) -> str:
    title = session.scalar(select(Track.title).where(Track.id == decided.track_id))
    return f"“{title}” in {display_context(decided.context)}: {_WORDS[decided.decision]}."


def _cutoff_value(value: Any) -> float:
    from app.models.service import ReviewError

    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ReviewError("a cutoff is a number between 0.05 and 1") from None
    if not 0 < number <= 1:
        raise ReviewError("a cutoff is a number between 0.05 and 1")
    return number


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1
