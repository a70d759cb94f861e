"""Progressive work in words: what the current playlists rest on, and the `refine` job's params (issue 19)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.services.selection import latest_sort_run
from app.services.training import train_params

KIND = "refine"


def refine_params(contexts: Sequence[str] | None, target: Any, best_effort: Sequence[str] | None = None) -> dict:
    """The `refine` job's params: the same choices as training (TrainSettingsError when they are not valid)."""
    return train_params(contexts, target, best_effort)


def rests_on_sentence(rests_on: Mapping[str, Any] | None, improving: bool) -> str | None:
    """"These playlists rest on 600 of 1,963 training songs analysed, 1,000 of your 10,500 songs; improving …"."""
    # Here, not at the top: app.models.progressive loads scikit-learn, and the pages import this module at start.
    from app.models.progressive import RestsOn

    state = RestsOn.from_dict(dict(rests_on) if rests_on else None)
    if state is None:
        return None
    counts = (f"These playlists rest on {state.training_analysed:,} of {state.training_total:,} training songs "
              f"analysed, {state.library_analysed:,} of your {state.library_total:,} songs")
    if improving and not state.final:
        return (f"{counts}; improving: as more songs are analysed, a refined sort replaces this one, and your keeps "
                "and drops carry over. Each playlist's promise holds for the songs it has now.")
    if state.final or state.library_analysed >= state.library_total:
        return f"{counts}: everything that could be analysed."
    return (f"{counts}. The refinement stopped before the rest was analysed: start it again on the Model page to "
            "sort the rest.")


def current_sort_state(session: Session, user_id: int, improving: bool) -> tuple[int | None, str | None]:
    """The user's latest sort run id and what it rests on in words (None for a sort that rests on everything)."""
    run = latest_sort_run(session, user_id)
    if run is None:
        return None, None
    return run.id, rests_on_sentence((run.params or {}).get("rests_on"), improving)
