"""Progressive work (issue 19): a model and a sort on the songs analysed so far, and what they rest on."""
# A first model need not wait for every preview: it trains on the training songs analysed so far and sorts the
# library songs analysed so far (the most recent likes are matched first). Its promises stay honest because they
# come from the same out-of-fold bounds as any model's, over fewer playlists: fewer playlists give wider bounds, so
# an early model promises less, or offers no playlist, rather than more. Each later round trains on more and
# replaces the sort; the user's keeps and drops carry over by song and playlist.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from app.models.cutoffs import DEFAULT_TARGET_PRECISION
from app.models.service import sort_for_user, train_for_user
from app.models.store_dataset import analysed_catalog
from app.pipeline.library import library_track_ids
from app.pipeline.naming import context_key
from app.runs.progress import Progress
from app.storage.ownership import owned
from app.storage.tables import Context, Label, SortAssignment, SortRun, Track, TrackFeatures, TrainedModel

#: A first sort rests on at least this many library songs (or the whole library, when smaller): the library's
#: mix of contexts is estimated from the songs being sorted, and a few dozen cannot show it.
FIRST_LIBRARY_SONGS = 250
#: A new round when either side's analysed songs grew by half since the last one: rounds grow geometrically,
#: so a library of n songs costs about log(n)/log(1.5) trainings, not one per batch.
GROWTH = 1.5

_NO_PROGRESS = Progress()


@dataclass(frozen=True)
class RestsOn:
    """What a model and its sort rest on: analysed training songs and library songs, of how many, and whether
    more is still coming (`final` is False while the harvest or the library import is still at work)."""

    training_analysed: int
    training_total: int
    library_analysed: int
    library_total: int
    final: bool = False

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict | None) -> RestsOn | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(**{k: data[k] for k in ("training_analysed", "training_total", "library_analysed",
                                                "library_total")}, final=bool(data.get("final")))
        except (KeyError, TypeError):
            return None

    def enough_for_a_first_sort(self) -> bool:
        return self.library_analysed >= min(FIRST_LIBRARY_SONGS, self.library_total) > 0 and self.training_analysed > 0

    def grew_enough_since(self, last: RestsOn) -> bool:
        """Worth a new round: a side's analysed songs grew by GROWTH (or a side that had none has some)."""
        return any(now >= max(then * GROWTH, then + 1) for now, then in (
            (self.training_analysed, last.training_analysed), (self.library_analysed, last.library_analysed)))

    def same_data(self, other: RestsOn | None) -> bool:
        return other is not None and (self.training_analysed, self.training_total, self.library_analysed,
                                      self.library_total) == (other.training_analysed, other.training_total,
                                                              other.library_analysed, other.library_total)


def analysed_ids(session: Session, track_ids: Sequence[int], providers: Sequence[str] | None = None) -> set[int]:
    """Those of `track_ids` with at least one feature row stored ok (their own, or their canonical row's)."""
    ids = list(dict.fromkeys(int(i) for i in track_ids))
    found: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        canonical = dict(session.execute(select(Track.id, Track.canonical_id).where(Track.id.in_(chunk))).all())
        rows = {tid: canonical.get(tid) or tid for tid in chunk}
        query = select(TrackFeatures.track_id).where(TrackFeatures.track_id.in_(sorted(set(rows.values()))),
                                                     TrackFeatures.status == "ok")
        if providers:
            query = query.where(TrackFeatures.provider.in_(list(providers)))
        ok = set(session.scalars(query.distinct()))
        found.update(tid for tid, row in rows.items() if row in ok)
    return found


def training_track_ids(session: Session, contexts: Sequence[str]) -> list[int]:
    """Every track harvested for these contexts (labelled), analysed or not."""
    keys = list(dict.fromkeys(context_key(name) for name in contexts))
    return sorted(set(session.scalars(select(Label.track_id).join(Context, Context.id == Label.context_id)
                                      .where(Context.key.in_(keys)))))


def rests_on(session: Session, user_id: int, contexts: Sequence[str], providers: Sequence[str] | None = None,
             final: bool = False) -> tuple[RestsOn, set[int]]:
    """The state now, and the track ids a round may use (analysed training, background and library songs)."""
    training = training_track_ids(session, contexts)
    library = library_track_ids(session, user_id)
    ready = analysed_catalog(session, providers)
    state = RestsOn(training_analysed=sum(1 for i in training if i in ready), training_total=len(training),
                    library_analysed=sum(1 for i in library if i in ready), library_total=len(library), final=final)
    return state, ready


def refine_round(session: Session, user_id: int, contexts: Sequence[str], state: RestsOn, ready: set[int], *,
                 instance_dir: str | Path, target_precision: float = DEFAULT_TARGET_PRECISION,
                 providers: Sequence[str] | None = None, best_effort: bool = False, job_id: str | None = None,
                 progress: Progress = _NO_PROGRESS) -> tuple[int, int, int]:
    """Train on the `ready` songs, sort the library's ready songs, carry the review over; (model, sort, carried).

    Raises DatasetError (too few analysed songs for two contexts, say) like any training.
    """
    previous = session.scalar(owned(SortRun, user_id).order_by(SortRun.id.desc()).limit(1))
    # The last sort's model is kept where this round's training songs are the same (a last round after the final
    # likes arrive, say): training again would give the same model, and it is most of a round's time.
    model = train_for_user(session, user_id, contexts, instance_dir=instance_dir, target_precision=target_precision,
                           providers=providers, job_id=job_id, progress=progress, best_effort=best_effort,
                           ready=ready, rests_on=state.to_dict(),
                           reuse=session.get(TrainedModel, previous.model_id) if previous is not None else None)
    library = [i for i in library_track_ids(session, user_id) if i in ready]
    run = sort_for_user(session, user_id, model.id, job_id=job_id, progress=progress, track_ids=library,
                        rests_on=state.to_dict())
    carried = carry_decisions(session, user_id, previous.id, run.id) if previous is not None else 0
    return model.id, run.id, carried


def carry_decisions(session: Session, user_id: int, from_run_id: int, to_run_id: int) -> int:
    """Copy the user's keeps and drops of one sort onto another, by song and playlist; returns how many.

    A kept song the new sort did not store (now under its review floor) is stored with its earlier row, still
    kept: a refinement never undoes what the user chose. A drop the new sort did not store needs nothing.
    """
    decided = session.execute(owned(SortAssignment, user_id).where(
        SortAssignment.sort_run_id == from_run_id, SortAssignment.decision.in_(("accepted", "rejected")))
        .with_only_columns(SortAssignment.track_id, SortAssignment.context, SortAssignment.decision,
                           SortAssignment.probability, SortAssignment.reasons)).all()
    if not decided:
        return 0
    target = session.get(SortRun, to_run_id)
    contexts = set((target.params or {}).get("cutoffs") or {})
    stored = dict(((t, c), i) for t, c, i in session.execute(owned(SortAssignment, user_id).where(
        SortAssignment.sort_run_id == to_run_id).with_only_columns(
        SortAssignment.track_id, SortAssignment.context, SortAssignment.id)).all())
    carried, missing = 0, []
    for track_id, context, decision, probability, reasons in decided:
        if (track_id, context) in stored:
            session.execute(update(SortAssignment).where(SortAssignment.id == stored[(track_id, context)])
                            .values(decision=decision))
            carried += 1
        elif decision == "accepted" and context in contexts:
            missing.append({"user_id": user_id, "sort_run_id": to_run_id, "track_id": track_id, "context": context,
                            "probability": probability, "assigned": False, "decision": "accepted",
                            "reasons": reasons})
    if missing:
        session.execute(insert(SortAssignment), missing)
        carried += len(missing)
    session.commit()
    return carried
