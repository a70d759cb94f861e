"""A job message Celery delivers again after its worker died is taken over; one still alive elsewhere is left alone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import sessionmaker

from app.extensions import db
from app.jobs import runner
from app.storage.tables import Job, utcnow
from tests.auth.helpers import add_user
from tests.jobs.conftest import echo  # noqa: F401  (registers the test-echo task)


@pytest.mark.parametrize(("status", "beat_ago_s", "runs"), [
    ("queued", 0, True),
    ("interrupted", 0, True),                               # the sweep already gave up on its worker
    ("running", runner.STALE_AFTER_S + 5, True),            # its worker stopped beating: dead
    ("running", 1, False),                                  # alive on another worker: not run twice
    ("succeeded", runner.STALE_AFTER_S + 5, False),
    ("cancelled", runner.STALE_AFTER_S + 5, False),
])
def test_a_redelivered_job_runs_only_when_its_worker_is_gone(app, status, beat_ago_s, runs):
    owner = add_user(app, "mira.s")
    with app.app_context():
        job = Job(kind="test-echo", params={}, user_id=owner, status=status, log=[], attempts=1,
                  heartbeat_at=utcnow() - timedelta(seconds=beat_ago_s))
        db.session.add(job)
        db.session.commit()
        job_id = job.id
        factory = sessionmaker(bind=db.engine, expire_on_commit=False)
        outcome = runner.execute(job_id, app.config, factory, takeover=True)
        plain = runner.execute(job_id, app.config, factory)  # the in-process pool never takes over
        after = runner.job_status(job_id, owner)
    assert outcome == ("succeeded" if runs else None)
    assert plain is None
    assert after["attempts"] == (2 if runs else 1)
    assert after["status"] == ("succeeded" if runs else status)
