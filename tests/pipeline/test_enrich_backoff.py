"""Failed feature rows are asked again by the next run, each failure in a row waiting longer (issue 17, item 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import sessionmaker

from app.runs.progress import Progress
from app.pipeline import enrich
from app.pipeline.providers.base import FeatureResult
from app.runs.summary import RunSummary
from app.storage.base import Base
from app.storage.tables import Track, TrackFeatures, utcnow


@pytest.fixture
def factory(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'backoff.db'}")
    Base.metadata.create_all(engine)
    yield sessionmaker(bind=engine, expire_on_commit=False)
    engine.dispose()


def _track(factory) -> int:
    with factory() as session:
        track = Track(spotify_id="sp1", deezer_id=1, title="t", artist="a", match_method="isrc")
        session.add(track)
        session.commit()
        return track.id


def _write(factory, result: FeatureResult) -> TrackFeatures:
    writer = enrich._Writer(factory, RunSummary("enrich"), Progress(), {"deezer": "1"})
    writer.add("deezer", result)
    writer.flush()
    with factory() as session:
        return session.scalar(select(TrackFeatures).where(TrackFeatures.track_id == result.track_id))


def _age(factory, track_id: int, age: timedelta) -> TrackFeatures:
    with factory() as session:
        session.execute(update(TrackFeatures).where(TrackFeatures.track_id == track_id)
                        .values(fetched_at=utcnow() - age))
        session.commit()
        return session.scalar(select(TrackFeatures).where(TrackFeatures.track_id == track_id))


def test_each_failure_in_a_row_waits_longer_and_a_success_starts_over(factory):
    track_id = _track(factory)
    waits = []
    for expected_failures in (1, 2, 3, 4):
        row = _write(factory, FeatureResult.failed(track_id, "Deezer answered 502"))
        assert row.failures == expected_failures
        wait = enrich.retry_after(row.failures)
        waits.append(wait)
        # Asked again once its wait is over, not a moment before.
        assert not enrich.is_stale(_age(factory, track_id, wait - timedelta(seconds=5)), "1", utcnow())
        assert enrich.is_stale(_age(factory, track_id, wait + timedelta(seconds=5)), "1", utcnow())
    assert waits[0] == enrich.RETRY_FAILED_AFTER, "the first failure is asked again by the next run a minute on"
    assert all(later > earlier for earlier, later in zip(waits, waits[1:])), waits
    row = _write(factory, FeatureResult.ok(track_id, {"bpm": 120.0}))
    assert row.status == "ok" and row.failures == 0
    again = _write(factory, FeatureResult.failed(track_id, "Deezer answered 502"))
    assert again.failures == 1, "a failure after a success counts from one again"


def test_the_wait_has_a_ceiling_and_old_rows_count_as_one_failure():
    assert enrich.retry_after(0) == enrich.retry_after(1) == enrich.RETRY_FAILED_AFTER
    assert enrich.retry_after(50) == enrich.RETRY_FAILED_AT_MOST
    assert enrich.retry_after(50) <= timedelta(days=1), "a track failing for good is still asked again each day"
